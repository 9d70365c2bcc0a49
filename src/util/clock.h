/* The host's monotonic clock in nanoseconds: the time base of ember's
 * timers (PIT, LAPIC) and of the timerfds that drive them. */
#ifndef EMBER_UTIL_CLOCK_H
#define EMBER_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
