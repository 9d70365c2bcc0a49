/* The APIC bus of --irqchip user (irq/irq.c): MSIs from devices and the
 * IOAPIC reach ember's LAPICs by destination and delivery mode; lowest
 * priority goes to the least busy selected LAPIC, ties in turn. */
#include "irq/irq.h"
#include "check.h"

#define CPUS 3
static struct irq_chip chip;
static struct io_bus pio, mmio;

static void setup(void)
{
    io_bus_init(&pio, "pio");
    io_bus_init(&mmio, "mmio");
    CHECK_EQ(irq_chip_create(&chip, -1, IRQCHIP_USER, CPUS, &pio, &mmio, 0), 0);
    for (int i = 0; i < CPUS; i++)
        lapic_mmio_write(&chip.lapics[i], LAPIC_SVR, 0x1ff, 0);
}
static void teardown(void)
{
    irq_chip_destroy(&chip);
    io_bus_destroy(&pio);
    io_bus_destroy(&mmio);
}
static void tpr(int cpu, uint32_t v) { lapic_mmio_write(&chip.lapics[cpu], LAPIC_TPR, v, 0); }

/* An MSI: physical (or logical) destination, delivery mode, vector. */
static void msi(uint32_t dest, bool logical, unsigned mode, uint8_t vector)
{
    irq_send_msi(&chip, 0xfee00000ULL | dest << 12 | (logical ? 4 : 0), mode << 8 | vector);
}

/* Which CPU has `vector` pending (-1 none, -2 several); takes it (acknowledge, EOI). */
static int taken_by(uint8_t vector)
{
    int who = -1;
    for (int i = 0; i < CPUS; i++)
        if (lapic_pending_vector(&chip.lapics[i]) == vector) {
            who = who == -1 ? i : -2;
            lapic_acknowledge(&chip.lapics[i]);
            lapic_mmio_write(&chip.lapics[i], LAPIC_EOI, 0, 0);
        }
    return who;
}

TEST(lowest_priority_picks_the_lowest_tpr)
{
    setup();
    tpr(0, 0x20), tpr(1, 0x00), tpr(2, 0x10);
    msi(0xff, false, APIC_DM_LOWEST, 0x50);
    CHECK_EQ(taken_by(0x50), 1);
    tpr(1, 0x30);
    msi(0xff, false, APIC_DM_LOWEST, 0x50);
    CHECK_EQ(taken_by(0x50), 2);
    /* Only those the destination selects compete: logical flat, CPUs 0 and 1. */
    for (int i = 0; i < CPUS; i++) {
        lapic_mmio_write(&chip.lapics[i], LAPIC_DFR, 0xffffffff, 0);
        lapic_mmio_write(&chip.lapics[i], LAPIC_LDR, (1u << i) << 24, 0);
    }
    msi(0x3, true, APIC_DM_LOWEST, 0x50);
    CHECK_EQ(taken_by(0x50), 0); /* 0x20 beats 0x30; CPU 2 (0x10) is not selected */
    teardown();
}

TEST(lowest_priority_counts_the_class_in_service)
{
    setup();
    tpr(1, 0x40), tpr(2, 0x40);
    msi(0, false, APIC_DM_FIXED, 0x80);
    CHECK_EQ(lapic_acknowledge(&chip.lapics[0]), 0x80); /* CPU 0 now serves class 0x80 */
    msi(0xff, false, APIC_DM_LOWEST, 0x90);
    int who = taken_by(0x90);
    CHECK(who == 1 || who == 2);
    lapic_mmio_write(&chip.lapics[0], LAPIC_EOI, 0, 0);
    msi(0xff, false, APIC_DM_LOWEST, 0x90);
    CHECK_EQ(taken_by(0x90), 0); /* idle again: TPR 0 */
    teardown();
}

TEST(lowest_priority_ties_take_turns)
{
    setup();
    int count[CPUS] = {0};
    for (int n = 0; n < 3 * CPUS; n++) {
        msi(0xff, false, APIC_DM_LOWEST, 0x60);
        int who = taken_by(0x60);
        CHECK(who >= 0);
        if (who >= 0)
            count[who]++;
    }
    for (int i = 0; i < CPUS; i++)
        CHECK_EQ(count[i], 3);
    teardown();
}

TEST(lowest_priority_skips_a_disabled_lapic)
{
    setup();
    lapic_mmio_write(&chip.lapics[1], LAPIC_SVR, 0xff, 0); /* software-disabled */
    tpr(0, 0x30), tpr(2, 0x30);
    for (int n = 0; n < 4; n++) {
        msi(0xff, false, APIC_DM_LOWEST, 0x70);
        int who = taken_by(0x70);
        CHECK(who == 0 || who == 2);
    }
    teardown();
}

TEST(fixed_broadcast_and_physical)
{
    setup();
    msi(0xff, false, APIC_DM_FIXED, 0x41);
    int n = 0;
    for (int i = 0; i < CPUS; i++)
        n += lapic_pending_vector(&chip.lapics[i]) == 0x41;
    CHECK_EQ(n, CPUS);
    CHECK_EQ(taken_by(0x41), -2);
    msi(2, false, APIC_DM_FIXED, 0x42);
    CHECK_EQ(taken_by(0x42), 2);
    msi(7, false, APIC_DM_FIXED, 0x43); /* no such APIC id: dropped, logged once */
    CHECK_EQ(taken_by(0x43), -1);
    teardown();
}

RUN_TESTS(CASE(lowest_priority_picks_the_lowest_tpr), CASE(lowest_priority_counts_the_class_in_service),
          CASE(lowest_priority_ties_take_turns), CASE(lowest_priority_skips_a_disabled_lapic),
          CASE(fixed_broadcast_and_physical))
