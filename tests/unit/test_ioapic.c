/* The IOAPIC model: edge vs level, masking, remote IRR and EOI, register
 * access rules, nonsense programming, state round trip and dump. */
#include "irq/ioapic.h"
#include "check.h"

static struct { uint64_t addr; uint32_t data; } msgs[64];
static int nmsg;
static void send_msi(void *ctx, uint64_t addr, uint32_t data)
{
    (void)ctx;
    if (nmsg < 64)
        msgs[nmsg] = (typeof(msgs[0])){addr, data};
    nmsg++;
}

static struct ioapic io;
static void setup(void)
{
    nmsg = 0;
    ioapic_init(&io, 2, send_msi, NULL);
}
static void wr(uint32_t reg, uint32_t v)
{
    ioapic_mmio_ops.write(&io, 0x00, (const uint8_t *)&reg, 4);
    ioapic_mmio_ops.write(&io, 0x10, (const uint8_t *)&v, 4);
}
static uint32_t rd(uint32_t reg)
{
    uint32_t v;
    ioapic_mmio_ops.write(&io, 0x00, (const uint8_t *)&reg, 4);
    ioapic_mmio_ops.read(&io, 0x10, (uint8_t *)&v, 4);
    return v;
}
/* Programs pin: vector, level or edge, unmasked, physical destination apic. */
static void route(unsigned pin, uint8_t vector, bool level, uint8_t apic)
{
    wr(0x10 + 2 * pin + 1, (uint32_t)apic << 24);
    wr(0x10 + 2 * pin, vector | (level ? (1u << 15) : 0));
}

TEST(id_version_and_reset_state)
{
    setup();
    CHECK_EQ(rd(0x00) >> 24, 2);
    CHECK_EQ(rd(0x01), 0x00170011); /* 24 pins, version 0x11 */
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
        CHECK(rd(0x10 + 2 * pin) & (1u << 16)); /* masked after reset */
    wr(0x01, 0);
    CHECK_EQ(rd(0x01), 0x00170011); /* read-only */
    wr(0x00, 5u << 24);
    CHECK_EQ(rd(0x00) >> 24, 5);
    ioapic_destroy(&io);
}

TEST(edge_delivers_once_per_rising_edge_as_an_msi)
{
    setup();
    route(4, 0x34, false, 1);
    ioapic_set_line(&io, 4, 1);
    ioapic_set_line(&io, 4, 1); /* still high: no new edge */
    CHECK_EQ(nmsg, 1);
    CHECK_EQ(msgs[0].addr, 0xfee01000ULL);
    CHECK_EQ(msgs[0].data, 0x34);
    ioapic_set_line(&io, 4, 0);
    ioapic_set_line(&io, 4, 1);
    CHECK_EQ(nmsg, 2);
    ioapic_destroy(&io);
}

TEST(masked_edge_is_lost_masked_level_is_kept)
{
    setup();
    wr(0x10 + 2 * 3, 0x33 | (1u << 16));             /* edge, masked */
    wr(0x10 + 2 * 9, 0x39 | (1u << 15) | (1u << 16)); /* level, masked */
    ioapic_set_line(&io, 3, 1);
    ioapic_set_line(&io, 9, 1);
    CHECK_EQ(nmsg, 0);
    wr(0x10 + 2 * 3, 0x33); /* unmask the edge pin: that edge is gone */
    CHECK_EQ(nmsg, 0);
    wr(0x10 + 2 * 9, 0x39 | (1u << 15)); /* unmask the level pin: delivered now */
    CHECK_EQ(nmsg, 1);
    CHECK_EQ(msgs[0].data, 0x39 | (1u << 15) | (1u << 14));
    ioapic_destroy(&io);
}

TEST(level_waits_for_eoi_and_redelivers_while_held)
{
    setup();
    route(10, 0x4a, true, 0);
    ioapic_set_line(&io, 10, 1);
    CHECK_EQ(nmsg, 1);
    CHECK(rd(0x10 + 2 * 10) & (1u << 14)); /* remote IRR set */
    ioapic_set_line(&io, 10, 0);
    ioapic_set_line(&io, 10, 1);
    CHECK_EQ(nmsg, 1); /* blocked until EOI */
    ioapic_eoi(&io, 0x4b);
    CHECK_EQ(nmsg, 1); /* another vector's EOI changes nothing */
    ioapic_eoi(&io, 0x4a);
    CHECK_EQ(nmsg, 2); /* line still high: delivered again */
    ioapic_set_line(&io, 10, 0);
    ioapic_eoi(&io, 0x4a);
    CHECK_EQ(nmsg, 2);
    CHECK(!(rd(0x10 + 2 * 10) & (1u << 14)));
    ioapic_destroy(&io);
}

TEST(guest_cannot_write_read_only_bits)
{
    setup();
    route(1, 0x31, true, 0);
    ioapic_set_line(&io, 1, 1);
    wr(0x10 + 2 * 1, 0x31 | (1u << 15)); /* rewriting the entry leaves remote IRR as is */
    CHECK(rd(0x10 + 2 * 1) & (1u << 14));
    ioapic_set_line(&io, 1, 0);
    ioapic_eoi(&io, 0x31); /* line low: remote IRR clears, nothing redelivered */
    wr(0x10 + 2 * 1, 0x31 | (1u << 15) | (1u << 14) | (1u << 12)); /* trying to set them */
    CHECK(!(rd(0x10 + 2 * 1) & ((1u << 14) | (1u << 12))));
    CHECK_EQ(rd(0x80), 0xffffffff); /* beyond the table */
    ioapic_destroy(&io);
}

TEST(nonsense_programming_is_ignored_and_harmless)
{
    setup();
    route(2, 0x05, false, 0); /* vector below 16 */
    ioapic_set_line(&io, 2, 1);
    wr(0x10 + 2 * 5, 0x40 | (3u << 8)); /* reserved delivery mode */
    ioapic_set_line(&io, 5, 1);
    CHECK_EQ(nmsg, 0);
    ioapic_set_line(&io, 200, 1); /* no such pin */
    CHECK_EQ(nmsg, 0);
    uint32_t big = 0x1234;
    ioapic_mmio_ops.write(&io, 0x00, (const uint8_t *)&big, 4); /* select a register that does not exist */
    ioapic_mmio_ops.write(&io, 0x10, (const uint8_t *)&big, 4);
    route(6, 0x46, false, 3);
    ioapic_set_line(&io, 6, 1);
    CHECK_EQ(nmsg, 1); /* the sane pin still works */
    ioapic_destroy(&io);
}

TEST(state_round_trip_and_dump)
{
    setup();
    route(7, 0x47, true, 1);
    ioapic_set_line(&io, 7, 1);
    struct ioapic_state st;
    ioapic_get_state(&io, &st);
    struct ioapic other;
    nmsg = 0;
    ioapic_init(&other, 0, send_msi, NULL);
    ioapic_set_state(&other, &st);
    struct ioapic_state back;
    ioapic_get_state(&other, &back);
    CHECK(!memcmp(&st, &back, sizeof(st)));
    ioapic_eoi(&other, 0x47); /* the restored remote IRR and held line carry on */
    CHECK_EQ(nmsg, 1);
    char buf[4096];
    size_t n = ioapic_dump(&other, buf, sizeof(buf));
    CHECK(n > 0 && strstr(buf, "pin  7: vec 0x47") && strstr(buf, "level") && strstr(buf, "line-high"));
    ioapic_destroy(&other);
    ioapic_destroy(&io);
}

RUN_TESTS(CASE(id_version_and_reset_state), CASE(edge_delivers_once_per_rising_edge_as_an_msi),
          CASE(masked_edge_is_lost_masked_level_is_kept), CASE(level_waits_for_eoi_and_redelivers_while_held),
          CASE(guest_cannot_write_read_only_bits), CASE(nonsense_programming_is_ignored_and_harmless),
          CASE(state_round_trip_and_dump))
