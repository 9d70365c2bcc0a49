#include "devices/cmos_rtc.h"

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

static uint8_t to_bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

static uint8_t encode(const struct cmos_rtc *rtc, int v)
{
    return (rtc->ram[RTC_REG_B] & REG_B_BIN) ? (uint8_t)v : to_bcd(v);
}

static int decode(const struct cmos_rtc *rtc, uint8_t v)
{
    return (rtc->ram[RTC_REG_B] & REG_B_BIN) ? v : from_bcd(v);
}

static uint8_t encode_hour(const struct cmos_rtc *rtc, int hour)
{
    if (rtc->ram[RTC_REG_B] & REG_B_24H)
        return encode(rtc, hour);
    int h12 = hour % 12 == 0 ? 12 : hour % 12;
    return (uint8_t)(encode(rtc, h12) | (hour >= 12 ? 0x80 : 0));
}

static void guest_tm(const struct cmos_rtc *rtc, struct tm *tm)
{
    time_t t = rtc->now() + (time_t)rtc->offset_sec;
    gmtime_r(&t, tm);
}

static uint8_t read_reg(struct cmos_rtc *rtc, uint8_t reg)
{
    struct tm tm;
    switch (reg) {
    case RTC_SEC: guest_tm(rtc, &tm); return encode(rtc, tm.tm_sec > 59 ? 59 : tm.tm_sec);
    case RTC_MIN: guest_tm(rtc, &tm); return encode(rtc, tm.tm_min);
    case RTC_HOUR: guest_tm(rtc, &tm); return encode_hour(rtc, tm.tm_hour);
    case RTC_WDAY: guest_tm(rtc, &tm); return encode(rtc, tm.tm_wday + 1);
    case RTC_MDAY: guest_tm(rtc, &tm); return encode(rtc, tm.tm_mday);
    case RTC_MON: guest_tm(rtc, &tm); return encode(rtc, tm.tm_mon + 1);
    case RTC_YEAR: guest_tm(rtc, &tm); return encode(rtc, tm.tm_year % 100);
    case RTC_CENTURY: guest_tm(rtc, &tm); return encode(rtc, (tm.tm_year + 1900) / 100);
    case RTC_REG_A: return rtc->ram[RTC_REG_A] & 0x7f; /* update-in-progress never seen */
    case RTC_REG_C: {
        uint8_t v = rtc->ram[RTC_REG_C];
        rtc->ram[RTC_REG_C] = 0; /* interrupt flags clear on read */
        return v;
    }
    default: return rtc->ram[reg & 0x7f];
    }
}

/* A guest write to a time field moves the guest's clock: recompute the offset
 * so that field reads back as written. */
static void set_time_field(struct cmos_rtc *rtc, uint8_t reg, uint8_t raw)
{
    struct tm tm;
    guest_tm(rtc, &tm);
    int v = decode(rtc, raw & (reg == RTC_HOUR ? 0x7f : 0xff));
    switch (reg) {
    case RTC_SEC: tm.tm_sec = v; break;
    case RTC_MIN: tm.tm_min = v; break;
    case RTC_HOUR:
        if (!(rtc->ram[RTC_REG_B] & REG_B_24H))
            v = (v % 12) + ((raw & 0x80) ? 12 : 0);
        tm.tm_hour = v;
        break;
    case RTC_MDAY: tm.tm_mday = v; break;
    case RTC_MON: tm.tm_mon = v - 1; break;
    case RTC_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + v; break;
    case RTC_CENTURY: tm.tm_year = (v * 100 - 1900) + tm.tm_year % 100; break;
    default: return;
    }
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
