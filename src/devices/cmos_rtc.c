#include "devices/cmos_rtc.h"

#include <stdbool.h>
#include <string.h>

enum {
    RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_WDAY = 0x06, RTC_MDAY = 0x07,
    RTC_MON = 0x08, RTC_YEAR = 0x09, RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c,
    RTC_REG_D = 0x0d, RTC_CENTURY = 0x32,
};
#define REG_B_24H 0x02
#define REG_B_BIN 0x04
#define REG_B_SET 0x80

static time_t host_now(void) { return time(NULL); }

void cmos_rtc_init(struct cmos_rtc *rtc, uint64_t below_4g, uint64_t above_4g)
{
    memset(rtc, 0, sizeof(*rtc));
    pthread_mutex_init(&rtc->lock, NULL);
    rtc->now = host_now;
    rtc->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
    rtc->ram[RTC_REG_B] = REG_B_24H;
    rtc->ram[RTC_REG_D] = 0x80; /* valid RAM and time */
    /* Memory size bytes in the layout SeaBIOS and kvmtool use. */
    rtc->ram[0x15] = 0x80; /* 640 KiB base memory */
    rtc->ram[0x16] = 0x02;
    uint64_t ext_kib = below_4g > 1024 * 1024 ? (below_4g - 1024 * 1024) / 1024 : 0;
    if (ext_kib > 0xffff)
        ext_kib = 0xffff;
    rtc->ram[0x17] = rtc->ram[0x30] = (uint8_t)ext_kib;
    rtc->ram[0x18] = rtc->ram[0x31] = (uint8_t)(ext_kib >> 8);
    uint64_t above_16m = below_4g > 16 * 1024 * 1024 ? (below_4g - 16 * 1024 * 1024) >> 16 : 0;
    if (above_16m > 0xffff)
        above_16m = 0xffff;
    rtc->ram[0x34] = (uint8_t)above_16m;
    rtc->ram[0x35] = (uint8_t)(above_16m >> 8);
    uint64_t high = above_4g >> 16;
    rtc->ram[0x5b] = (uint8_t)high;
    rtc->ram[0x5c] = (uint8_t)(high >> 8);
    rtc->ram[0x5d] = (uint8_t)(high >> 16);
}

void cmos_rtc_destroy(struct cmos_rtc *rtc) { pthread_mutex_destroy(&rtc->lock); }

/* Values reach the encoders already in 0..99 (the year is taken modulo 100
 * and the century is at most 99, see guest_tm), so the shifts below never
 * see a negative or wide number; the modulo is the guard if one ever did. */
static uint8_t to_bcd(unsigned v)
{
    v %= 100;
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t encode(const struct cmos_rtc *rtc, unsigned v)
{
    return (rtc->ram[RTC_REG_B] & REG_B_BIN) ? (uint8_t)v : to_bcd(v);
}

/* A byte the guest wrote to a time field, as a number: false when it is not
 * one (a BCD digit above 9) or lies outside min..max, the field's range. */
static bool decode(const struct cmos_rtc *rtc, uint8_t raw, unsigned min, unsigned max, unsigned *out)
{
    unsigned v = raw;
    if (!(rtc->ram[RTC_REG_B] & REG_B_BIN)) {
        if ((raw >> 4) > 9 || (raw & 0x0f) > 9)
            return false;
        v = (raw >> 4) * 10u + (raw & 0x0fu);
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static uint8_t encode_hour(const struct cmos_rtc *rtc, unsigned hour)
{
    if (rtc->ram[RTC_REG_B] & REG_B_24H)
        return encode(rtc, hour);
    unsigned h12 = hour % 12 == 0 ? 12 : hour % 12;
    return (uint8_t)(encode(rtc, h12) | (hour >= 12 ? 0x80 : 0));
}

/* The guest's date and time. Every date a guest can set lies in years
 * 0000-9999 (set_time_field accepts no other), but the host's clock may be
 * set back past the guest's offset, or forward by millennia; clamping to
 * that range keeps every field the encoders see within 0..99. */
#define GUEST_YEAR_MIN 0
#define GUEST_YEAR_MAX 9999
static void guest_tm(const struct cmos_rtc *rtc, struct tm *tm)
{
    /* 0000-01-01 (proleptic Gregorian) was a Saturday. */
    static const struct tm earliest = {.tm_year = GUEST_YEAR_MIN - 1900, .tm_mday = 1, .tm_wday = 6};
    static const struct tm latest = {.tm_year = GUEST_YEAR_MAX - 1900, .tm_mon = 11, .tm_mday = 31,
                                     .tm_hour = 23, .tm_min = 59, .tm_sec = 59, .tm_wday = 5, .tm_yday = 364};
    time_t t = rtc->now() + (time_t)rtc->offset_sec;
    if (!gmtime_r(&t, tm) || tm->tm_year > GUEST_YEAR_MAX - 1900)
        *tm = latest; /* 9999-12-31 was a Friday */
    else if (tm->tm_year < GUEST_YEAR_MIN - 1900)
        *tm = earliest;
}

static uint8_t read_reg(struct cmos_rtc *rtc, uint8_t reg)
{
    struct tm tm;
    switch (reg) {
    case RTC_SEC: guest_tm(rtc, &tm); return encode(rtc, tm.tm_sec > 59 ? 59 : (unsigned)tm.tm_sec);
    case RTC_MIN: guest_tm(rtc, &tm); return encode(rtc, (unsigned)tm.tm_min);
    case RTC_HOUR: guest_tm(rtc, &tm); return encode_hour(rtc, (unsigned)tm.tm_hour);
    case RTC_WDAY: guest_tm(rtc, &tm); return encode(rtc, (unsigned)tm.tm_wday + 1);
    case RTC_MDAY: guest_tm(rtc, &tm); return encode(rtc, (unsigned)tm.tm_mday);
    case RTC_MON: guest_tm(rtc, &tm); return encode(rtc, (unsigned)tm.tm_mon + 1);
    case RTC_YEAR: guest_tm(rtc, &tm); return encode(rtc, (unsigned)(tm.tm_year + 1900) % 100);
    case RTC_CENTURY: guest_tm(rtc, &tm); return encode(rtc, (unsigned)(tm.tm_year + 1900) / 100);
    case RTC_REG_A: return rtc->ram[RTC_REG_A] & 0x7f; /* update-in-progress never seen */
    case RTC_REG_C: {
        uint8_t v = rtc->ram[RTC_REG_C];
        rtc->ram[RTC_REG_C] = 0; /* interrupt flags clear on read */
        return v;
    }
    default: return rtc->ram[reg & 0x7f];
    }
}

/* The numbers a time field holds: false for a register that is no time field. */
static bool field_range(const struct cmos_rtc *rtc, uint8_t reg, unsigned *min, unsigned *max)
{
    bool hour12 = !(rtc->ram[RTC_REG_B] & REG_B_24H);
    *min = 0;
    switch (reg) {
    case RTC_SEC: case RTC_MIN: *max = 59; return true;
    case RTC_HOUR: /* 12-hour mode: 1-12, with PM in bit 7 */
        *min = hour12 ? 1 : 0;
        *max = hour12 ? 12 : 23;
        return true;
    case RTC_MDAY: *min = 1, *max = 31; return true; /* a day the month lacks carries into the next */
    case RTC_MON: *min = 1, *max = 12; return true;
    case RTC_YEAR: *max = 99; return true;
    case RTC_CENTURY: *min = GUEST_YEAR_MIN / 100, *max = GUEST_YEAR_MAX / 100; return true;
    default: return false;
    }
}

/* A guest write to a time field moves the guest's clock: recompute the offset
 * so that field reads back as written. A value that is no valid number for
 * the field (bad BCD digits, second 60, month 13, hour 0 in 12-hour mode) is
 * ignored. A real MC146818 would store it and count on from nonsense; taken
 * into the guest's time here, timegm would carry it into the next field, and
 * repeated year writes would walk the clock out of any range (and int). */
static void set_time_field(struct cmos_rtc *rtc, uint8_t reg, uint8_t raw)
{
    bool hour12 = !(rtc->ram[RTC_REG_B] & REG_B_24H);
    unsigned min, max, v;
    if (!field_range(rtc, reg, &min, &max) ||
        !decode(rtc, reg == RTC_HOUR && hour12 ? raw & 0x7f : raw, min, max, &v))
        return;
    struct tm tm;
    guest_tm(rtc, &tm);
    int year = tm.tm_year + 1900;
    switch (reg) {
    case RTC_SEC: tm.tm_sec = (int)v; break;
    case RTC_MIN: tm.tm_min = (int)v; break;
    case RTC_HOUR: tm.tm_hour = hour12 ? (int)(v % 12 + ((raw & 0x80) ? 12 : 0)) : (int)v; break; /* 12 AM is 0 */
    case RTC_MDAY: tm.tm_mday = (int)v; break;
    case RTC_MON: tm.tm_mon = (int)v - 1; break;
    case RTC_YEAR: tm.tm_year = year / 100 * 100 + (int)v - 1900; break;
    case RTC_CENTURY: tm.tm_year = (int)v * 100 + year % 100 - 1900; break;
    }
    /* Every field is in range now, so the date is in years 0000-9999 (a day
     * 31 carries at most into the next month, and December has 31). */
    time_t t = timegm(&tm);
    if (t != (time_t)-1)
        rtc->offset_sec = (int64_t)t - (int64_t)rtc->now();
}

static void write_reg(struct cmos_rtc *rtc, uint8_t reg, uint8_t v)
{
    switch (reg) {
    case RTC_SEC: case RTC_MIN: case RTC_HOUR: case RTC_MDAY: case RTC_MON: case RTC_YEAR: case RTC_CENTURY:
        set_time_field(rtc, reg, v);
        break;
    case RTC_WDAY: break; /* derived from the date */
    case RTC_REG_A: rtc->ram[RTC_REG_A] = v & 0x7f; break;
    case RTC_REG_B: rtc->ram[RTC_REG_B] = v & (uint8_t)~REG_B_SET; break; /* clock never stops */
    case RTC_REG_C: case RTC_REG_D: break; /* read-only */
    default: rtc->ram[reg & 0x7f] = v; break;
    }
}

static void cmos_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct cmos_rtc *rtc = opaque;
    pthread_mutex_lock(&rtc->lock);
    data[0] = off == 0 ? 0xff : read_reg(rtc, rtc->index);
    pthread_mutex_unlock(&rtc->lock);
    memset(data + 1, 0xff, size - 1);
}

static void cmos_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct cmos_rtc *rtc = opaque;
    (void)size;
    pthread_mutex_lock(&rtc->lock);
    if (off == 0)
        rtc->index = data[0] & 0x7f; /* bit 7 is the NMI mask */
    else
        write_reg(rtc, rtc->index, data[0]);
    pthread_mutex_unlock(&rtc->lock);
}

const struct bus_device_ops cmos_rtc_ops = {.name = "cmos-rtc", .read = cmos_read, .write = cmos_write};
