/* i8042, CMOS RTC, power block, port 0x80. */
#include "devices/cmos_rtc.h"
#include "devices/debug_port.h"
#include "devices/i8042.h"
#include "devices/power.h"
#include "check.h"

static int resets, poweroffs;
static void on_reset(void *c) { (void)c; resets++; }
static void on_poweroff(void *c) { (void)c; poweroffs++; }

static uint8_t rd8(const struct bus_device_ops *ops, void *o, uint64_t off)
{
    uint8_t v;
    ops->read(o, off, &v, 1);
    return v;
}
static void wr8(const struct bus_device_ops *ops, void *o, uint64_t off, uint8_t v) { ops->write(o, off, &v, 1); }

TEST(i8042_self_test_and_command_byte)
{
    struct i8042 k;
    resets = 0;
    i8042_init(&k, on_reset, NULL, NULL);
    wr8(&i8042_cmd_ops, &k, 0, 0xAA);
    CHECK(rd8(&i8042_cmd_ops, &k, 0) & 0x01);
    CHECK_EQ(rd8(&i8042_data_ops, &k, 0), 0x55);
    CHECK(!(rd8(&i8042_cmd_ops, &k, 0) & 0x01));
    wr8(&i8042_cmd_ops, &k, 0, 0x60);
    wr8(&i8042_data_ops, &k, 0, 0x47);
    wr8(&i8042_cmd_ops, &k, 0, 0x20);
    CHECK_EQ(rd8(&i8042_data_ops, &k, 0), 0x47);
    wr8(&i8042_cmd_ops, &k, 0, 0xAB);
    CHECK_EQ(rd8(&i8042_data_ops, &k, 0), 0x00);
    wr8(&i8042_data_ops, &k, 0, 0xFF); /* keyboard reset */
    CHECK_EQ(rd8(&i8042_data_ops, &k, 0), 0xFA);
    CHECK_EQ(rd8(&i8042_data_ops, &k, 0), 0xAA);
    CHECK_EQ(resets, 0);
    i8042_destroy(&k);
}

static int irq_level, irq_rises;
static void on_irq(void *c, int level)
{
    (void)c;
    irq_rises += level && !irq_level;
    irq_level = level;
}

TEST(i8042_ctrl_alt_del_one_edge_per_byte)
{
    struct i8042 k;
    i8042_init(&k, on_reset, on_irq, NULL);
    irq_level = irq_rises = 0;
    i8042_send_ctrl_alt_del(&k);
    static const uint8_t want[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
    for (size_t i = 0; i < sizeof(want); i++) {
        CHECK(rd8(&i8042_cmd_ops, &k, 0) & 0x01);
        CHECK_EQ(rd8(&i8042_data_ops, &k, 0), want[i]);
    }
    CHECK(!(rd8(&i8042_cmd_ops, &k, 0) & 0x01));
    /* An edge-triggered IRQ 1 sees every byte: the line drops between them. */
    CHECK_EQ(irq_rises, sizeof(want));
    CHECK_EQ(irq_level, 0);
    CHECK_EQ(resets, 0);
    i8042_destroy(&k);
}

TEST(i8042_reset_pulse_and_output_port)
{
    struct i8042 k;
    resets = 0;
    i8042_init(&k, on_reset, NULL, NULL);
    wr8(&i8042_cmd_ops, &k, 0, 0xFE);
    CHECK_EQ(resets, 1);
    wr8(&i8042_cmd_ops, &k, 0, 0xD1);
    wr8(&i8042_data_ops, &k, 0, 0x01); /* reset line stays high */
    CHECK_EQ(resets, 1);
    wr8(&i8042_cmd_ops, &k, 0, 0xD1);
    wr8(&i8042_data_ops, &k, 0, 0x00);
    CHECK_EQ(resets, 2);
    i8042_destroy(&k);
}

static time_t fixed_time(void) { return 1794952000; /* 2026-11-17 21:46:40 UTC */ }

TEST(rtc_reads_time_in_bcd_and_binary)
{
    struct cmos_rtc r;
    cmos_rtc_init(&r, 256ULL << 20, 0);
    r.now = fixed_time;
    wr8(&cmos_rtc_ops, &r, 0, 0x04);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x21);
    wr8(&cmos_rtc_ops, &r, 0, 0x02);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x46);
    wr8(&cmos_rtc_ops, &r, 0, 0x07);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x17);
    wr8(&cmos_rtc_ops, &r, 0, 0x09);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x26);
    wr8(&cmos_rtc_ops, &r, 0, 0x32);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x20);
    wr8(&cmos_rtc_ops, &r, 0, 0x0b);
    wr8(&cmos_rtc_ops, &r, 1, 0x06); /* binary, 24h */
    wr8(&cmos_rtc_ops, &r, 0, 0x02);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 46);
    wr8(&cmos_rtc_ops, &r, 0, 0x0b);
    wr8(&cmos_rtc_ops, &r, 1, 0x00); /* BCD, 12h */
    wr8(&cmos_rtc_ops, &r, 0, 0x04);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x89); /* 9 PM: PM flag in bit 7 */
    wr8(&cmos_rtc_ops, &r, 0, 0x0d);
    CHECK(rd8(&cmos_rtc_ops, &r, 1) & 0x80);
    wr8(&cmos_rtc_ops, &r, 0, 0x0a);
    CHECK(!(rd8(&cmos_rtc_ops, &r, 1) & 0x80)); /* UIP never stuck */
    cmos_rtc_destroy(&r);
}

TEST(rtc_guest_can_set_its_clock)
{
    struct cmos_rtc r;
    cmos_rtc_init(&r, 256ULL << 20, 0);
    r.now = fixed_time;
    wr8(&cmos_rtc_ops, &r, 0, 0x09);
    wr8(&cmos_rtc_ops, &r, 1, 0x30); /* year 2030 */
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x30);
    wr8(&cmos_rtc_ops, &r, 0, 0x02);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x46); /* other fields untouched */
    wr8(&cmos_rtc_ops, &r, 0, 0x80 | 0x40);     /* NMI-mask bit is not part of the index */
    wr8(&cmos_rtc_ops, &r, 1, 0x99);
    wr8(&cmos_rtc_ops, &r, 0, 0x40);
    CHECK_EQ(rd8(&cmos_rtc_ops, &r, 1), 0x99);
    cmos_rtc_destroy(&r);
}

static uint8_t rtc_get(struct cmos_rtc *r, uint8_t reg)
{
    wr8(&cmos_rtc_ops, r, 0, reg);
    return rd8(&cmos_rtc_ops, r, 1);
}
static void rtc_set(struct cmos_rtc *r, uint8_t reg, uint8_t v)
{
    wr8(&cmos_rtc_ops, r, 0, reg);
    wr8(&cmos_rtc_ops, r, 1, v);
}

TEST(rtc_century_zero_reads_back_without_undefined_behaviour)
{
    /* Year 0026: the year register is the year modulo 100 whatever the century. */
    struct cmos_rtc r;
    cmos_rtc_init(&r, 256ULL << 20, 0);
    r.now = fixed_time;
    rtc_set(&r, 0x32, 0x00);
    CHECK_EQ(rtc_get(&r, 0x32), 0x00);
    CHECK_EQ(rtc_get(&r, 0x09), 0x26);
    CHECK_EQ(rtc_get(&r, 0x08), 0x11);
    rtc_set(&r, 0x09, 0x00); /* year 0000: the earliest date a guest can reach */
    CHECK_EQ(rtc_get(&r, 0x09), 0x00);
    CHECK_EQ(rtc_get(&r, 0x32), 0x00);
    cmos_rtc_destroy(&r);
}

TEST(rtc_out_of_range_time_writes_are_ignored)
{
    struct cmos_rtc r;
    cmos_rtc_init(&r, 256ULL << 20, 0);
    r.now = fixed_time; /* 2026-11-17 21:46:40 */
    rtc_set(&r, 0x00, 0x5a); /* a BCD digit above 9 */
    rtc_set(&r, 0x00, 0x60); /* second 60 */
    rtc_set(&r, 0x02, 0x75);
    rtc_set(&r, 0x04, 0x24);
    rtc_set(&r, 0x07, 0x00); /* day 0 */
    rtc_set(&r, 0x07, 0x32);
    rtc_set(&r, 0x08, 0x00); /* month 0 */
    rtc_set(&r, 0x08, 0x13);
    rtc_set(&r, 0x09, 0xa0);
    rtc_set(&r, 0x32, 0x1f);
    CHECK_EQ(rtc_get(&r, 0x00), 0x40);
    CHECK_EQ(rtc_get(&r, 0x02), 0x46);
    CHECK_EQ(rtc_get(&r, 0x04), 0x21);
    CHECK_EQ(rtc_get(&r, 0x07), 0x17);
    CHECK_EQ(rtc_get(&r, 0x08), 0x11);
    CHECK_EQ(rtc_get(&r, 0x09), 0x26);
    CHECK_EQ(rtc_get(&r, 0x32), 0x20);
    /* 12-hour mode: hours are 1-12 with the PM flag; 0 and 13 do not exist. */
    rtc_set(&r, 0x0b, 0x00);
    rtc_set(&r, 0x04, 0x00);
    rtc_set(&r, 0x04, 0x13);
    rtc_set(&r, 0x04, 0x80);
    CHECK_EQ(rtc_get(&r, 0x04), 0x89);
    rtc_set(&r, 0x04, 0x12); /* 12 AM is midnight */
    rtc_set(&r, 0x0b, 0x02);
    CHECK_EQ(rtc_get(&r, 0x04), 0x00);
    /* Binary mode: 255 is no year; repeated, it must not move the clock. */
    rtc_set(&r, 0x0b, 0x06);
    for (int i = 0; i < 1000; i++)
        rtc_set(&r, 0x09, 0xff);
    CHECK_EQ(rtc_get(&r, 0x09), 26);
    CHECK_EQ(rtc_get(&r, 0x32), 20);
    cmos_rtc_destroy(&r);
}

TEST(rtc_every_byte_in_every_field_and_mode_is_harmless)
{
    /* Under UBSan this is the test: no value in any mode may shift a
     * negative number or overflow; the clock must stay readable. */
    static const uint8_t fields[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32};
    static const uint8_t modes[] = {0x00, 0x02, 0x04, 0x06};
    struct cmos_rtc r;
    cmos_rtc_init(&r, 256ULL << 20, 0);
    r.now = fixed_time;
    for (size_t m = 0; m < sizeof(modes); m++)
        for (size_t f = 0; f < sizeof(fields); f++)
            for (unsigned v = 0; v < 256; v++) {
                rtc_set(&r, 0x0b, modes[m]);
                rtc_set(&r, fields[f], (uint8_t)v);
                for (size_t g = 0; g < sizeof(fields); g++)
                    rtc_get(&r, fields[g]);
            }
    rtc_set(&r, 0x0b, 0x06);
    CHECK(rtc_get(&r, 0x32) <= 99);
    cmos_rtc_destroy(&r);
}

TEST(rtc_memory_size_bytes)
{
    struct cmos_rtc r;
    cmos_rtc_init(&r, 64ULL << 20, 1ULL << 30);
    CHECK_EQ(r.ram[0x34] | (r.ram[0x35] << 8), (48ULL << 20) >> 16);
    CHECK_EQ(r.ram[0x5b] | (r.ram[0x5c] << 8) | (r.ram[0x5d] << 16), (1ULL << 30) >> 16);
    cmos_rtc_destroy(&r);
}

TEST(power_s5_powers_off_other_states_do_not)
{
    struct power_device pd;
    poweroffs = resets = 0;
    power_device_init(&pd, on_poweroff, on_reset, NULL);
    uint8_t v[2];
    uint16_t cnt = (uint16_t)((3 << 10) | POWER_SLP_EN); /* S3: not supported, ignored */
    memcpy(v, &cnt, 2);
    power_pm1_ops.write(&pd, 4, v, 2);
    CHECK_EQ(poweroffs, 0);
    cnt = (uint16_t)((POWER_SLP_TYP_S5 << 10)); /* no SLP_EN */
    memcpy(v, &cnt, 2);
    power_pm1_ops.write(&pd, 4, v, 2);
    CHECK_EQ(poweroffs, 0);
    cnt = (uint16_t)((POWER_SLP_TYP_S5 << 10) | POWER_SLP_EN);
    memcpy(v, &cnt, 2);
    power_pm1_ops.write(&pd, 4, v, 2);
    CHECK_EQ(poweroffs, 1);
    power_pm1_ops.read(&pd, 4, v, 2);
    CHECK(!((v[0] | (v[1] << 8)) & POWER_SLP_EN)); /* SLP_EN reads as 0 */
    wr8(&power_reset_ops, &pd, 0, 0x02);
    CHECK_EQ(resets, 0);
    wr8(&power_reset_ops, &pd, 0, 0x06);
    CHECK_EQ(resets, 1);
    power_device_destroy(&pd);
}

TEST(debug_port_keeps_last_code)
{
    struct debug_port d = {0};
    wr8(&debug_port_ops, &d, 0, 0x42);
    wr8(&debug_port_ops, &d, 0, 0x43);
    CHECK_EQ(rd8(&debug_port_ops, &d, 0), 0x43);
    CHECK_EQ(atomic_load(&d.writes), 2);
}

RUN_TESTS(CASE(i8042_self_test_and_command_byte), CASE(i8042_ctrl_alt_del_one_edge_per_byte),
          CASE(i8042_reset_pulse_and_output_port),
          CASE(rtc_reads_time_in_bcd_and_binary), CASE(rtc_guest_can_set_its_clock), CASE(rtc_century_zero_reads_back_without_undefined_behaviour), CASE(rtc_out_of_range_time_writes_are_ignored),
          CASE(rtc_every_byte_in_every_field_and_mode_is_harmless), CASE(rtc_memory_size_bytes),
          CASE(power_s5_powers_off_other_states_do_not), CASE(debug_port_keeps_last_code))
