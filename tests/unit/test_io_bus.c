#include "bus/io_bus.h"
#include "check.h"

struct fake_dev {
    uint64_t last_off;
    uint8_t last_val;
    int reads, writes;
};

static void fake_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct fake_dev *f = o;
    f->reads++;
    f->last_off = off;
    memset(d, 0x42, size);
}

static void fake_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct fake_dev *f = o;
    (void)size;
    f->writes++;
    f->last_off = off;
    f->last_val = d[0];
}

static const struct bus_device_ops fake_ops = {.name = "fake", .read = fake_read, .write = fake_write};

TEST(dispatches_by_address_with_relative_offset)
{
    struct io_bus bus;
    struct fake_dev a = {0}, b = {0};
    io_bus_init(&bus, "pio");
    CHECK(io_bus_register(&bus, 0x3f8, 8, &fake_ops, &a) == 0);
    CHECK(io_bus_register(&bus, 0x60, 1, &fake_ops, &b) == 0);
    uint8_t v = 7;
    CHECK(io_bus_write(&bus, 0x3fb, &v, 1));
    CHECK_EQ(a.writes, 1);
    CHECK_EQ(a.last_off, 3);
    CHECK_EQ(a.last_val, 7);
    uint8_t r[4];
    CHECK(io_bus_read(&bus, 0x60, r, 1));
    CHECK_EQ(b.reads, 1);
    CHECK_EQ(r[0], 0x42);
    io_bus_destroy(&bus);
}

TEST(rejects_overlapping_and_empty_ranges)
{
    struct io_bus bus;
    struct fake_dev a = {0};
    io_bus_init(&bus, "mmio");
    CHECK(io_bus_register(&bus, 0x1000, 0x100, &fake_ops, &a) == 0);
    CHECK(io_bus_register(&bus, 0x10ff, 1, &fake_ops, &a) < 0);
    CHECK(io_bus_register(&bus, 0x0f00, 0x101, &fake_ops, &a) < 0);
    CHECK(io_bus_register(&bus, 0x2000, 0, &fake_ops, &a) < 0);
    CHECK(io_bus_register(&bus, UINT64_MAX - 1, 4, &fake_ops, &a) < 0);
    CHECK(io_bus_register(&bus, 0x1100, 0x100, &fake_ops, &a) == 0); /* adjacent is fine */
    CHECK(io_bus_register(&bus, 0x0f00, 0x100, &fake_ops, &a) == 0);
    CHECK_EQ(bus.count, 3);
    CHECK(bus.ranges[0].base < bus.ranges[1].base && bus.ranges[1].base < bus.ranges[2].base);
    io_bus_destroy(&bus);
}

TEST(unclaimed_reads_are_all_ones_and_counted)
{
    struct io_bus bus;
    struct fake_dev a = {0};
    io_bus_init(&bus, "pio");
    CHECK(io_bus_register(&bus, 0x70, 2, &fake_ops, &a) == 0);
    uint8_t r[8] = {0};
    CHECK(!io_bus_read(&bus, 0x2f8, r, 4));
    CHECK_EQ(r[0] & r[1] & r[2] & r[3], 0xff);
    /* An access straddling the end of a device range is not the device's. */
    CHECK(!io_bus_read(&bus, 0x71, r, 2));
    CHECK_EQ(a.reads, 0);
    uint8_t v = 1;
    CHECK(!io_bus_write(&bus, 0x500, &v, 1));
    CHECK_EQ(atomic_load(&bus.unclaimed_reads), 2);
    CHECK_EQ(atomic_load(&bus.unclaimed_writes), 1);
    /* Sizes a vCPU exit can never carry are refused, not dispatched. */
    CHECK(!io_bus_read(&bus, 0x70, r, 0));
    CHECK(!io_bus_read(&bus, 0x70, r, 9));
    io_bus_destroy(&bus);
}

TEST(lookup_many_ranges)
{
    struct io_bus bus;
    static struct fake_dev devs[64];
    io_bus_init(&bus, "mmio");
    for (int i = 63; i >= 0; i--)
        CHECK(io_bus_register(&bus, 0x10000 + (uint64_t)i * 0x1000, 0x200, &fake_ops, &devs[i]) == 0);
    for (int i = 0; i < 64; i++) {
        const struct bus_range *r = io_bus_find(&bus, 0x10000 + (uint64_t)i * 0x1000 + 0x1ff);
        CHECK(r && r->opaque == &devs[i]);
        CHECK(io_bus_find(&bus, 0x10000 + (uint64_t)i * 0x1000 + 0x200) == NULL);
    }
    io_bus_destroy(&bus);
}

RUN_TESTS(CASE(dispatches_by_address_with_relative_offset), CASE(rejects_overlapping_and_empty_ranges),
          CASE(unclaimed_reads_are_all_ones_and_counted), CASE(lookup_many_ranges))
