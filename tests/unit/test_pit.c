/* The 8254 model on a fake clock: counts, outputs and next interrupt per
 * mode, latch and read-back, the channel-2 gate on port 0x61, state. */
#include "irq/pit.h"
#include "check.h"

static uint64_t fake_ns;
static uint64_t clock_ns(void) { return fake_ns; }
/* The first instant at which `k` PIT ticks have elapsed. */
static uint64_t ticks(uint64_t k) { return (k * 1000000000ULL + PIT_HZ - 1) / PIT_HZ; }

static struct pit pit;
static void outb(unsigned port, uint8_t v)
{
    if (port == 0x61)
        pit_gate_ops.write(&pit, 0, &v, 1);
    else
        pit_ops.write(&pit, port - 0x40, &v, 1);
}
static uint8_t inb(unsigned port)
{
    uint8_t v;
    if (port == 0x61)
        pit_gate_ops.read(&pit, 0, &v, 1);
    else
        pit_ops.read(&pit, port - 0x40, &v, 1);
    return v;
}
static void setup(void)
{
    fake_ns = 5000;
    pit_init(&pit, clock_ns);
}
/* A fresh PIT with channel 0 in lo/hi access, `mode`, counting from `count`;
 * returns when it was loaded. */
static uint64_t load_channel0(unsigned mode, uint16_t count)
{
    setup();
    outb(0x43, (uint8_t)(0x30 | mode << 1));
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
    return fake_ns;
}

TEST(mode2_rate_generator_counts_and_schedules)
{
    uint64_t load = load_channel0(2, 1193);
    CHECK_EQ(pit_count(&pit, 0), 1193);
    fake_ns = load + ticks(596);
    CHECK_EQ(pit_count(&pit, 0), 597);
    CHECK(pit_output(&pit, 0));
    fake_ns = load + ticks(1192); /* the last tick of the period: output low */
    CHECK(!pit_output(&pit, 0));
    uint64_t next = pit_next_irq_ns(&pit, load);
    CHECK(next >= load + ticks(1193) - 1 && next <= load + ticks(1193) + 1);
    uint64_t later = pit_next_irq_ns(&pit, load + ticks(2 * 1193 + 5));
    CHECK(later >= load + ticks(3 * 1193) - 1 && later <= load + ticks(3 * 1193) + 1);
    pit_destroy(&pit);
}

TEST(mode2_count_1_interrupts_no_faster_than_every_200us)
{
    /* KVM's min_timer_period_us: a count of 1 would be an interrupt every
     * 838 ns, half a host core in the timer thread. */
    uint64_t load = load_channel0(2, 1);
    CHECK_EQ(pit_next_irq_ns(&pit, load), load + 200000);
    CHECK_EQ(pit_next_irq_ns(&pit, load + 200000), load + 400000);
    CHECK_EQ(pit_next_irq_ns(&pit, load + 250000), load + 400000);
    CHECK_EQ(pit_count(&pit, 0), 1); /* what the guest reads is unchanged */
    outb(0x43, 0x36); /* mode 3 too */
    outb(0x40, 2);
    outb(0x40, 0);
    CHECK_EQ(pit_next_irq_ns(&pit, load), load + 200000);
    pit_destroy(&pit);
}

TEST(counter_latch_freezes_the_value_read)
{
    setup();
    outb(0x43, 0x34);
    outb(0x40, 0x00);
    outb(0x40, 0x10); /* 4096 */
    uint64_t load = fake_ns;
    fake_ns = load + ticks(100);
    outb(0x43, 0x00); /* latch channel 0 */
    fake_ns = load + ticks(1000);
    uint8_t lo = inb(0x40), hi = inb(0x40);
    CHECK_EQ(lo | (hi << 8), 4096 - 100);
    lo = inb(0x40);
    hi = inb(0x40);
    CHECK_EQ(lo | (hi << 8), 4096 - 1000); /* latch consumed: live again */
    pit_destroy(&pit);
}

TEST(read_back_status_then_count)
{
    setup();
    outb(0x43, 0x34);
    outb(0x40, 0x10);
    outb(0x40, 0x00); /* 16 */
    outb(0x43, 0xc2); /* read-back: latch count and status of channel 0 */
    uint8_t status = inb(0x40);
    CHECK_EQ(status & 0x3f, 0x34); /* lo/hi, mode 2, binary */
    CHECK(!(status & 0x40));       /* count loaded */
    CHECK_EQ(inb(0x40), 16);
    CHECK_EQ(inb(0x40), 0);
    CHECK_EQ(inb(0x43), 0xff); /* the control port reads nothing */
    pit_destroy(&pit);
}

TEST(mode0_one_shot_and_mode3_square_wave)
{
    uint64_t load = load_channel0(0, 100);
    CHECK(!pit_output(&pit, 0));
    CHECK(pit_next_irq_ns(&pit, load) >= load + ticks(100) - 1);
    fake_ns = load + ticks(100);
    CHECK(pit_output(&pit, 0));
    CHECK_EQ(pit_next_irq_ns(&pit, fake_ns), UINT64_MAX); /* one shot */
    fake_ns = load + ticks(101);
    CHECK_EQ(pit_count(&pit, 0), 0xffff); /* wraps and keeps counting */

    outb(0x43, 0x76); /* channel 1, lo/hi, mode 3 */
    outb(0x41, 10);
    outb(0x41, 0);
    load = fake_ns;
    CHECK(pit_output(&pit, 1));
    CHECK_EQ(pit_count(&pit, 1), 10);
    fake_ns = load + ticks(2);
    CHECK_EQ(pit_count(&pit, 1), 6); /* two per tick */
    fake_ns = load + ticks(6);
    CHECK(!pit_output(&pit, 1)); /* second half of the period */
    pit_destroy(&pit);
}

TEST(channel2_gate_and_out2_on_port_61)
{
    setup();
    outb(0x61, 0x00); /* gate off */
    outb(0x43, 0xb0); /* channel 2, lo/hi, mode 0 (Linux's TSC calibration) */
    outb(0x42, 0xff);
    outb(0x42, 0xff);
    CHECK(!(inb(0x61) & 0x20));
    fake_ns += ticks(70000);
    outb(0x61, 0x01); /* gate on: counting restarts */
    uint64_t start = fake_ns;
    CHECK(!(inb(0x61) & 0x20));
    fake_ns = start + ticks(0xffff);
    CHECK(inb(0x61) & 0x20); /* OUT2 high at terminal count */
    CHECK_EQ(inb(0x61) & 0x03, 0x01);
    pit_destroy(&pit);
}

TEST(state_round_trip)
{
    setup();
    outb(0x43, 0x34);
    outb(0x40, 0x34);
    outb(0x40, 0x12);
    struct pit_state st;
    pit_get_state(&pit, &st);
    struct pit other;
    pit_init(&other, clock_ns);
    pit_set_state(&other, &st);
    fake_ns += ticks(10);
    CHECK_EQ(pit_count(&other, 0), pit_count(&pit, 0));
    CHECK_EQ(pit_count(&other, 0), 0x1234 - 10);
    pit_destroy(&other);
    pit_destroy(&pit);
}

RUN_TESTS(CASE(mode2_rate_generator_counts_and_schedules), CASE(mode2_count_1_interrupts_no_faster_than_every_200us), CASE(counter_latch_freezes_the_value_read),
          CASE(read_back_status_then_count), CASE(mode0_one_shot_and_mode3_square_wave),
          CASE(channel2_gate_and_out2_on_port_61), CASE(state_round_trip))
