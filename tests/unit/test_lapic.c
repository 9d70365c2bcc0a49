/* The LAPIC model (irq/lapic.c): priorities and EOI, the timer in all three
 * modes on a test-driven clock, IPIs and destinations, INIT/SIPI, x2APIC and
 * the APIC base state machine, nonsense from the guest, state and dump. */
#include <stdlib.h>

#include "irq/lapic.h"
#include "check.h"

static struct {
    int ipis, eois, arms, notifies;
    uint32_t ipi_lo, ipi_dest;
    uint8_t eoi_vector;
    uint64_t armed;
} seen;

static void hook_ipi(void *ctx, struct lapic *from, uint32_t icr_lo, uint32_t dest)
{
    (void)ctx, (void)from;
    seen.ipis++;
    seen.ipi_lo = icr_lo;
    seen.ipi_dest = dest;
}
static void hook_eoi(void *ctx, uint8_t vector) { (void)ctx, seen.eois++, seen.eoi_vector = vector; }
static void hook_arm(void *ctx, uint64_t deadline) { (void)ctx, seen.arms++, seen.armed = deadline; }
static void hook_notify(void *ctx) { (void)ctx, seen.notifies++; }

static struct lapic l;
static void setup(uint32_t id, bool bsp)
{
    memset(&seen, 0, sizeof(seen));
    struct lapic_hooks h = {.send_ipi = hook_ipi, .eoi = hook_eoi, .arm_timer = hook_arm, .notify = hook_notify};
    lapic_init(&l, id, bsp, &h);
}
static void wr(uint32_t reg, uint32_t v) { lapic_mmio_write(&l, reg, v, 0); }
static uint32_t rd(uint32_t reg) { return lapic_mmio_read(&l, reg, 0); }
static void enable(void) { wr(LAPIC_SVR, 0x1ff); }

TEST(reset_state_and_registers)
{
    setup(3, false);
    CHECK_EQ(rd(LAPIC_ID), 3u << 24);
    CHECK_EQ(rd(LAPIC_VERSION), 0x50014);
    CHECK_EQ(rd(LAPIC_DFR), 0xffffffff);
    CHECK(!(rd(LAPIC_SVR) & LAPIC_SVR_ENABLE));
    CHECK(!(lapic_get_base(&l) & LAPIC_BASE_BSP));
    CHECK(lapic_waiting_for_sipi(&l)); /* an AP waits for INIT/SIPI */
    CHECK(lapic_in_mmio_page(&l, 0xfee00030));
    CHECK(!lapic_in_mmio_page(&l, 0xfee01000));
    wr(LAPIC_TPR, 0x1234);
    CHECK_EQ(rd(LAPIC_TPR), 0x34);
    wr(LAPIC_LDR, 0x12345678);
    CHECK_EQ(rd(LAPIC_LDR), 0x12000000);
    wr(LAPIC_DFR, 0);
    CHECK_EQ(rd(LAPIC_DFR), 0x0fffffff);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_ID + 4, 0), 0); /* not a register boundary */
    lapic_destroy(&l);
    setup(0, true);
    CHECK(lapic_get_base(&l) & LAPIC_BASE_BSP);
    CHECK(!lapic_waiting_for_sipi(&l));
    lapic_destroy(&l);
}

TEST(priority_acknowledge_and_eoi)
{
    setup(0, true);
    enable();
    lapic_deliver(&l, APIC_DM_FIXED, 0x45, false);
    lapic_deliver(&l, APIC_DM_FIXED, 0x81, false);
    CHECK_EQ(seen.notifies, 2);
    CHECK(rd(LAPIC_IRR + 0x20) & (1u << 5)); /* 0x45 */
    CHECK_EQ(lapic_pending_vector(&l), 0x81);
    CHECK_EQ(lapic_acknowledge(&l), 0x81);
    CHECK_EQ(rd(LAPIC_PPR), 0x80);
    CHECK(rd(LAPIC_ISR + 0x40) & (1u << 1));
    CHECK_EQ(lapic_pending_vector(&l), -1); /* 0x45's class is below the one in service */
    wr(LAPIC_EOI, 0);
    CHECK_EQ(seen.eois, 0);               /* an edge vector: no EOI to the IOAPIC */
    CHECK_EQ(lapic_pending_vector(&l), 0x45);
    wr(LAPIC_TPR, 0x50);
    CHECK_EQ(lapic_pending_vector(&l), -1);
    CHECK_EQ(rd(LAPIC_PPR), 0x50);
    wr(LAPIC_TPR, 0x40);
    CHECK_EQ(lapic_pending_vector(&l), -1); /* same class as TPR: held */
    wr(LAPIC_TPR, 0);
    CHECK_EQ(lapic_acknowledge(&l), 0x45);
    wr(LAPIC_EOI, 0);
    CHECK_EQ(lapic_acknowledge(&l), -1);
    /* A level vector's EOI is broadcast. */
    lapic_deliver(&l, APIC_DM_FIXED, 0x61, true);
    CHECK(rd(LAPIC_TMR + 0x30) & (1u << 1));
    CHECK_EQ(lapic_acknowledge(&l), 0x61);
    wr(LAPIC_EOI, 0);
    CHECK_EQ(seen.eois, 1);
    CHECK_EQ(seen.eoi_vector, 0x61);
    wr(LAPIC_EOI, 0); /* nothing in service: harmless */
    CHECK_EQ(seen.eois, 1);
    lapic_destroy(&l);
}

TEST(disabled_apic_and_nonsense_are_ignored)
{
    setup(0, true);
    lapic_deliver(&l, APIC_DM_FIXED, 0x50, false); /* software-disabled: dropped */
    CHECK_EQ(lapic_pending_vector(&l), -1);
    wr(LAPIC_LVT_TIMER_REG, 0x40);
    CHECK(rd(LAPIC_LVT_TIMER_REG) & LAPIC_LVT_MASKED); /* stays masked while disabled */
    enable();
    lapic_deliver(&l, APIC_DM_FIXED, 5, false); /* vectors 0-15 are illegal */
    CHECK_EQ(lapic_pending_vector(&l), -1);
    wr(LAPIC_ESR, 0);
    CHECK(rd(LAPIC_ESR) & (1u << 6));
    wr(LAPIC_ICR_LO, 3); /* an IPI with an illegal vector is not sent */
    CHECK_EQ(seen.ipis, 0);
    wr(LAPIC_ESR, 0);
    CHECK(rd(LAPIC_ESR) & (1u << 5));
    wr(LAPIC_PPR, 1); /* read-only */
    wr(LAPIC_ESR, 0);
    CHECK(rd(LAPIC_ESR) & (1u << 7));
    lapic_deliver(&l, 3, 0x50, false); /* reserved delivery mode */
    CHECK_EQ(lapic_pending_vector(&l), -1);
    /* Clearing the software enable masks every LVT entry. */
    wr(LAPIC_LVT_TIMER_REG, 0x40);
    CHECK(!(rd(LAPIC_LVT_TIMER_REG) & LAPIC_LVT_MASKED));
    wr(LAPIC_SVR, 0xff);
    CHECK(rd(LAPIC_LVT_TIMER_REG) & LAPIC_LVT_MASKED);
    lapic_destroy(&l);
}

TEST(timer_one_shot_and_periodic)
{
    /* Counts of a millisecond: above the 200 us floor, so every time is exact. */
    setup(0, true);
    enable();
    wr(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1: a count is 1 ns */
    wr(LAPIC_LVT_TIMER_REG, 0x40);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000000, 100000);
    CHECK_EQ(seen.armed, 1100000);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_TIMER_CURRENT, 600000), 500000);
    lapic_timer_expired(&l, 1000000); /* early: nothing, re-armed */
    CHECK_EQ(lapic_pending_vector(&l), -1);
    lapic_timer_expired(&l, 1100000);
    CHECK_EQ(lapic_pending_vector(&l), 0x40);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_TIMER_CURRENT, 1200000), 0);
    lapic_acknowledge(&l);
    wr(LAPIC_EOI, 0);
    lapic_timer_expired(&l, 5000000); /* one-shot: no second interrupt */
    CHECK_EQ(lapic_pending_vector(&l), -1);
    /* divide by 2: a count is 2 ns */
    wr(LAPIC_TIMER_DIVIDE, 0);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000000, 6000000);
    CHECK_EQ(seen.armed, 8000000);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_TIMER_CURRENT, 7000000), 500000);
    /* periodic: re-armed a period later; missed periods coalesce */
    wr(LAPIC_TIMER_DIVIDE, 0xb);
    wr(LAPIC_LVT_TIMER_REG, 0x40 | LAPIC_TIMER_PERIODIC);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000000, 10000000);
    lapic_timer_expired(&l, 11000000);
    CHECK_EQ(seen.armed, 12000000);
    lapic_timer_expired(&l, 15500000);
    CHECK_EQ(seen.armed, 16500000);
    CHECK_EQ(lapic_pending_vector(&l), 0x40);
    /* a zero count stops it; so does a mode change */
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 0, 16000000);
    CHECK_EQ(seen.armed, 0);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000000, 17000000);
    CHECK_EQ(seen.armed, 18000000);
    wr(LAPIC_LVT_TIMER_REG, 0x40);
    CHECK_EQ(seen.armed, 0);
    /* masked: counts, delivers nothing */
    lapic_acknowledge(&l);
    wr(LAPIC_EOI, 0);
    wr(LAPIC_LVT_TIMER_REG, 0x40 | LAPIC_LVT_MASKED);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 10000, 20000000);
    CHECK_EQ(seen.armed, 20010000);
    lapic_timer_expired(&l, 20010000);
    CHECK_EQ(lapic_pending_vector(&l), -1);
    lapic_destroy(&l);
}

TEST(timer_tsc_deadline)
{
    setup(0, true);
    enable();
    lapic_set_tsc_deadline(&l, 5555, 700); /* one-shot mode: ignored */
    CHECK_EQ(lapic_get_tsc_deadline(&l), 0);
    CHECK_EQ(seen.arms, 0);
    wr(LAPIC_LVT_TIMER_REG, 0x40 | LAPIC_TIMER_TSC_DEADLINE);
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000, 0); /* ignored in this mode */
    CHECK_EQ(seen.arms, 0);
    lapic_set_tsc_deadline(&l, 5555, 700);
    CHECK_EQ(lapic_get_tsc_deadline(&l), 5555);
    CHECK_EQ(seen.armed, 700);
    lapic_timer_expired(&l, 700);
    CHECK_EQ(lapic_pending_vector(&l), 0x40);
    CHECK_EQ(lapic_get_tsc_deadline(&l), 0); /* cleared once it fired */
    lapic_set_tsc_deadline(&l, 9999, 900);
    lapic_set_tsc_deadline(&l, 0, 0); /* writing 0 disarms */
    CHECK_EQ(seen.armed, 0);
    CHECK_EQ(lapic_get_tsc_deadline(&l), 0);
    lapic_destroy(&l);
}

/* KVM's min_timer_period_us: no LAPIC timer interrupt within 200 us of the last. */
#define FLOOR_NS 200000ULL

TEST(timer_periodic_period_has_a_200us_floor)
{
    setup(0, true);
    enable();
    wr(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1: a count is 1 ns */
    wr(LAPIC_LVT_TIMER_REG, 0x40 | LAPIC_TIMER_PERIODIC);
    uint64_t t0 = 1000000;
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1, t0); /* the smallest period a guest can program */
    CHECK_EQ(seen.armed, t0 + FLOOR_NS);
    lapic_timer_expired(&l, t0 + FLOOR_NS);
    CHECK_EQ(seen.armed, t0 + 2 * FLOOR_NS);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_TIMER_CURRENT, t0 + FLOOR_NS + 10), 1); /* the count is still the guest's */
    /* A legitimate period (1 ms) is the guest's own. */
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1000000, t0);
    CHECK_EQ(seen.armed, t0 + 1000000);
    lapic_timer_expired(&l, t0 + 1000000);
    CHECK_EQ(seen.armed, t0 + 2000000);
    lapic_destroy(&l);
}

TEST(timer_one_shot_and_tsc_deadline_rearmed_back_to_back_have_the_floor)
{
    setup(0, true);
    enable();
    wr(LAPIC_TIMER_DIVIDE, 0xb);
    wr(LAPIC_LVT_TIMER_REG, 0x40);
    uint64_t t = 1000000;
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1, t); /* the first one-shot is not delayed */
    CHECK_EQ(seen.armed, t + 1);
    lapic_timer_expired(&l, t + 1);
    CHECK_EQ(lapic_pending_vector(&l), 0x40);
    /* The guest's handler re-arms at once with count 1: an interrupt storm
     * the timer thread would serve back to back. */
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 1, t + 2);
    CHECK_EQ(seen.armed, t + 1 + FLOOR_NS);
    lapic_timer_expired(&l, t + 1 + FLOOR_NS);
    /* After a longer pause a short one-shot is exact again. */
    lapic_mmio_write(&l, LAPIC_TIMER_INITIAL, 50, t + 5000000);
    CHECK_EQ(seen.armed, t + 5000050);
    lapic_timer_expired(&l, t + 5000050);
    wr(LAPIC_LVT_TIMER_REG, 0x40 | LAPIC_TIMER_TSC_DEADLINE);
    lapic_set_tsc_deadline(&l, 1234, t + 5000060); /* 10 ns after the last interrupt */
    CHECK_EQ(seen.armed, t + 5000050 + FLOOR_NS);
    lapic_timer_expired(&l, t + 5000050 + FLOOR_NS);
    lapic_set_tsc_deadline(&l, 5678, 0); /* already due */
    CHECK_EQ(seen.armed, t + 5000050 + 2 * FLOOR_NS);
    lapic_set_tsc_deadline(&l, 9999, t + 9000000); /* a legitimate deadline: exact */
    CHECK_EQ(seen.armed, t + 9000000);
    lapic_destroy(&l);
}

TEST(icr_ipis_and_destinations)
{
    setup(2, false);
    enable();
    wr(LAPIC_ICR_HI, 0x05123456);
    CHECK_EQ(rd(LAPIC_ICR_HI), 0x05000000);
    wr(LAPIC_ICR_LO, 0x4050 | (1u << 12));
    CHECK_EQ(seen.ipis, 1);
    CHECK_EQ(seen.ipi_dest, 5);
    CHECK_EQ(seen.ipi_lo, 0x4050);
    CHECK(!(rd(LAPIC_ICR_LO) & (1u << 12))); /* delivery status idle */
    wr(LAPIC_ICR_LO, 0x8500);                /* INIT level de-assert: not sent */
    CHECK_EQ(seen.ipis, 1);
    /* physical, broadcast, logical flat and cluster */
    CHECK(lapic_matches(&l, 2, false));
    CHECK(!lapic_matches(&l, 3, false));
    CHECK(lapic_matches(&l, 0xff, false));
    wr(LAPIC_LDR, 0x04000000);
    CHECK(lapic_matches(&l, 0x06, true));
    CHECK(!lapic_matches(&l, 0x01, true));
    wr(LAPIC_DFR, 0x0fffffff);        /* cluster model */
    wr(LAPIC_LDR, 0x32000000);        /* cluster 3, member bit 1 */
    CHECK(lapic_matches(&l, 0x32, true));
    CHECK(lapic_matches(&l, 0x33, true));
    CHECK(!lapic_matches(&l, 0x22, true));
    CHECK(!lapic_matches(&l, 0x31, true));
    lapic_destroy(&l);
}

TEST(init_and_startup)
{
    setup(1, false);
    uint8_t vec = 0;
    CHECK_EQ(lapic_take_events(&l, &vec), 0);
    lapic_deliver(&l, APIC_DM_INIT, 0, false);
    lapic_deliver(&l, APIC_DM_STARTUP, 0x08, false);
    CHECK_EQ(lapic_take_events(&l, &vec), LAPIC_EVENT_INIT | LAPIC_EVENT_SIPI);
    CHECK_EQ(vec, 0x08);
    CHECK(!lapic_waiting_for_sipi(&l));
    lapic_deliver(&l, APIC_DM_STARTUP, 0x09, false); /* a second SIPI is ignored */
    CHECK_EQ(lapic_take_events(&l, &vec), 0);
    /* INIT of a running CPU resets its APIC and parks it until a SIPI. */
    enable();
    wr(LAPIC_TPR, 0x20);
    lapic_deliver(&l, APIC_DM_INIT, 0, false);
    CHECK_EQ(lapic_take_events(&l, &vec), LAPIC_EVENT_INIT);
    CHECK(lapic_waiting_for_sipi(&l));
    CHECK_EQ(rd(LAPIC_TPR), 0);
    CHECK(!(rd(LAPIC_SVR) & LAPIC_SVR_ENABLE));
    CHECK_EQ(rd(LAPIC_ID), 1u << 24);
    lapic_deliver(&l, APIC_DM_NMI, 0, false);
    CHECK_EQ(lapic_take_events(&l, &vec), LAPIC_EVENT_NMI);
    lapic_destroy(&l);
}

TEST(extint_acceptance)
{
    setup(0, true);
    CHECK(!lapic_accepts_extint(&l)); /* software-disabled */
    enable();
    CHECK(lapic_accepts_extint(&l)); /* virtual wire: LINT0 ExtINT */
    wr(LAPIC_LVT_TIMER_REG + 0x30, 0x700 | LAPIC_LVT_MASKED);
    CHECK(!lapic_accepts_extint(&l));
    CHECK_EQ(lapic_set_base(&l, LAPIC_DEFAULT_BASE), 0); /* APIC off: the PIC goes straight to the CPU */
    CHECK(lapic_accepts_extint(&l));
    lapic_destroy(&l);
}

TEST(x2apic_mode_and_base_transitions)
{
    setup(0x21, false);
    uint64_t base = lapic_get_base(&l);
    CHECK_EQ(lapic_set_base(&l, (base & ~LAPIC_BASE_ENABLE) | LAPIC_BASE_X2APIC), -1); /* x2APIC without enable */
    uint64_t v;
    CHECK_EQ(lapic_msr_read(&l, 0x802, &v, 0), -1); /* not in x2APIC mode yet */
    CHECK_EQ(lapic_set_base(&l, base | LAPIC_BASE_X2APIC), 0);
    CHECK(!lapic_in_mmio_page(&l, 0xfee00020)); /* the page is gone */
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_ID, 0), 0);
    CHECK_EQ(lapic_msr_read(&l, 0x802, &v, 0), 0);
    CHECK_EQ(v, 0x21);
    CHECK_EQ(lapic_msr_read(&l, 0x80d, &v, 0), 0);
    CHECK_EQ(v, (2u << 16) | (1u << 1)); /* cluster 2, bit 1 */
    CHECK_EQ(lapic_msr_read(&l, 0x80e, &v, 0), -1); /* no DFR */
    CHECK_EQ(lapic_msr_write(&l, 0x80f, 0x1ff, 0), 0);
    CHECK_EQ(lapic_msr_write(&l, 0x830, (0x1234ULL << 32) | 0x4060, 0), 0);
    CHECK_EQ(seen.ipi_dest, 0x1234);
    CHECK_EQ(seen.ipi_lo, 0x4060);
    CHECK_EQ(lapic_msr_read(&l, 0x830, &v, 0), 0);
    CHECK_EQ(v, (0x1234ULL << 32) | 0x4060);
    CHECK_EQ(lapic_msr_write(&l, 0x83f, 0x77, 0), 0); /* SELF IPI */
    CHECK_EQ(seen.ipi_lo, 0x77u | (1u << 18));
    CHECK_EQ(lapic_msr_write(&l, 0x80b, 1, 0), -1); /* non-zero EOI */
    CHECK_EQ(lapic_msr_write(&l, 0x802, 5, 0), -1); /* id is read-only */
    CHECK_EQ(lapic_msr_write(&l, 0x808, 1ULL << 40, 0), -1); /* reserved bits */
    CHECK(lapic_matches(&l, 0x21, false));
    CHECK(lapic_matches(&l, (2u << 16) | 2u, true));
    CHECK(!lapic_matches(&l, (1u << 16) | 2u, true));
    CHECK(lapic_matches(&l, 0xffffffff, false));
    CHECK_EQ(lapic_set_base(&l, base), -1);                        /* x2APIC -> xAPIC directly */
    CHECK_EQ(lapic_set_base(&l, base & ~LAPIC_BASE_ENABLE), 0);    /* through disabled */
    CHECK_EQ(lapic_set_base(&l, base), 0);
    CHECK_EQ(lapic_mmio_read(&l, LAPIC_ID, 0), 0x21u << 24);
    lapic_destroy(&l);
}

TEST(state_round_trip_and_dump)
{
    setup(0, true);
    enable();
    wr(LAPIC_TPR, 0x10);
    lapic_deliver(&l, APIC_DM_FIXED, 0x45, true);
    struct lapic_state st;
    lapic_get_state(&l, &st);
    lapic_destroy(&l);
    setup(0, true);
    lapic_set_state(&l, &st);
    CHECK_EQ(rd(LAPIC_TPR), 0x10);
    CHECK_EQ(lapic_pending_vector(&l), 0x45);
    char buf[2048];
    size_t n = lapic_dump(&l, buf, sizeof(buf));
    CHECK(n > 0 && n < sizeof(buf));
    CHECK(strstr(buf, "irr: 0x45") != NULL);
    CHECK(strstr(buf, "tmr: 0x45") != NULL);
    CHECK(strstr(buf, "lvt lint0") != NULL);
    CHECK(lapic_dump(&l, buf, 16) <= 16); /* a short buffer is never overrun */
    lapic_destroy(&l);
}

RUN_TESTS(CASE(reset_state_and_registers), CASE(priority_acknowledge_and_eoi),
          CASE(disabled_apic_and_nonsense_are_ignored), CASE(timer_one_shot_and_periodic), CASE(timer_tsc_deadline), CASE(timer_periodic_period_has_a_200us_floor),
          CASE(timer_one_shot_and_tsc_deadline_rearmed_back_to_back_have_the_floor),
          CASE(icr_ipis_and_destinations), CASE(init_and_startup), CASE(extint_acceptance),
          CASE(x2apic_mode_and_base_transitions), CASE(state_round_trip_and_dump))
