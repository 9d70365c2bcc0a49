/* Firecracker's boot timer (--boot-timer): port 0x3f0. A guest that writes
 * the byte 123 there (Firecracker's test init does, once its init runs) makes
 * ember log how long the boot took, in Firecracker's words:
 *   Guest-boot-time =   1234 us 1 ms,    567 CPU us 0 CPU ms
 * measured from ember's start, or from --start-time-us/--start-time-cpu-us
 * when a jailer passes its own start (and --parent-cpu-time-us the CPU time
 * its parent spent before a daemonizing fork). Any other write is ignored;
 * reads return 0xff as from an empty port. */
#ifndef EMBER_DEVICES_BOOT_TIMER_H
#define EMBER_DEVICES_BOOT_TIMER_H

#include <stdint.h>

#include "bus/io_bus.h"

#define BOOT_TIMER_PORT 0x3f0
#define BOOT_TIMER_MAGIC 123

struct boot_timer_start {
    uint64_t time_us;       /* CLOCK_MONOTONIC */
    uint64_t cpu_us;        /* the process's CPU time */
    uint64_t parent_cpu_us; /* added to the CPU time at the signal */
};

struct boot_timer {
    struct boot_timer_start start;
};

/* The process's start as boot_timer_start (monotonic and CPU clocks now). */
void boot_timer_start_now(struct boot_timer_start *s);

extern const struct bus_device_ops boot_timer_ops;

#endif
