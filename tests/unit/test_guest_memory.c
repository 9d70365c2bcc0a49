#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "boot/e820.h"
#include "check.h"

TEST(small_ram_is_one_region)
{
    struct guest_memory m;
    guest_memory_plan(&m, 256 * MiB);
    CHECK_EQ(m.nregions, 1);
    CHECK_EQ(m.regions[0].gpa, 0);
    CHECK_EQ(m.regions[0].size, 256 * MiB);
}

TEST(ram_reaching_the_hole_continues_above_4g)
{
    struct guest_memory m;
    guest_memory_plan(&m, 4 * GiB);
    CHECK_EQ(m.nregions, 2);
    CHECK_EQ(m.regions[0].size, LAYOUT_MMIO_HOLE_START);
    CHECK_EQ(m.regions[1].gpa, 4 * GiB);
    CHECK_EQ(m.regions[1].size, 4 * GiB - LAYOUT_MMIO_HOLE_START);
    guest_memory_plan(&m, LAYOUT_MMIO_HOLE_START);
    CHECK_EQ(m.nregions, 1);
}

TEST(translation_is_bounds_checked)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 4 * GiB) == 0);
    CHECK(gpa_to_host(&m, 0, 1) == m.base);
    CHECK(gpa_to_host(&m, LAYOUT_MMIO_HOLE_START - 8, 8) != NULL);
    CHECK(gpa_to_host(&m, LAYOUT_MMIO_HOLE_START - 8, 9) == NULL); /* runs into the hole */
    CHECK(gpa_to_host(&m, LAYOUT_MMIO_HOLE_START, 1) == NULL);
    CHECK(gpa_to_host(&m, 4 * GiB, 1) == m.base + LAYOUT_MMIO_HOLE_START);
    CHECK(gpa_to_host(&m, 5 * GiB - 1, 1) != NULL);
    CHECK(gpa_to_host(&m, 5 * GiB, 1) == NULL);
    CHECK(gpa_to_host(&m, UINT64_MAX, 1) == NULL);
    CHECK(gpa_to_host(&m, 4096, UINT64_MAX) == NULL);
    CHECK(gpa_to_host(&m, UINT64_MAX - 4095, 4096) == NULL);
    uint8_t buf[16] = {1, 2, 3};
    CHECK(guest_write(&m, 0x1000, buf, sizeof(buf)) == 0);
    CHECK(guest_write(&m, LAYOUT_MMIO_HOLE_START - 4, buf, sizeof(buf)) < 0);
    uint8_t back[16];
    CHECK(guest_read(&m, 0x1000, back, sizeof(back)) == 0 && back[2] == 3);
    CHECK(guest_read(&m, 5 * GiB - 8, back, 16) < 0);
    guest_memory_free(&m);
}

TEST(e820_matches_the_slots)
{
    uint64_t sizes[] = {2 * MiB, 256 * MiB, 3 * GiB, 3 * GiB + 4096, 8 * GiB};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct guest_memory m;
        guest_memory_plan(&m, sizes[s]);
        struct e820_entry e[E820_MAX_ENTRIES];
        int n = e820_build(&m, e);
        CHECK(n >= 3 && n <= E820_MAX_ENTRIES);
        uint64_t ram = 0, prev_end = 0;
        for (int i = 0; i < n; i++) {
            CHECK(e[i].addr >= prev_end);
            prev_end = e[i].addr + e[i].size;
            if (e[i].type == E820_RAM) {
                ram += e[i].size;
                /* every RAM byte the guest is told about is backed by a slot */
                CHECK(gpa_range_is_ram(&m, e[i].addr, e[i].size));
            }
        }
        /* all of RAM is described, less the legacy hole between the EBDA and 1 MiB */
        CHECK_EQ(ram, sizes[s] - (LAYOUT_HIGH_RAM_START - LAYOUT_EBDA_START));
    }
}

RUN_TESTS(CASE(small_ram_is_one_region), CASE(ram_reaching_the_hole_continues_above_4g),
          CASE(translation_is_bounds_checked), CASE(e820_matches_the_slots))
