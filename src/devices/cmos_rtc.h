/* MC146818 CMOS RTC (ports 0x70 index / 0x71 data): the host's wall-clock time
 * in BCD or binary and 12/24-hour form as the guest selects in status
 * register B, plus the 128-byte CMOS RAM with the memory-size bytes a PC BIOS
 * leaves there. A guest that sets the clock keeps its own offset from the host.
 * Not modelled: alarm, periodic and update-ended interrupts (IRQ 8). */
#ifndef EMBER_DEVICES_CMOS_RTC_H
#define EMBER_DEVICES_CMOS_RTC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "bus/io_bus.h"

#define CMOS_PORT 0x70

struct cmos_rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t ram[128];
    int64_t offset_sec;         /* guest time minus host time */
    time_t (*now)(void);        /* clock source; replaceable in tests */
};

void cmos_rtc_init(struct cmos_rtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g);
void cmos_rtc_destroy(struct cmos_rtc *rtc);
extern const struct bus_device_ops cmos_rtc_ops; /* register at 0x70, len 2 */

#endif
