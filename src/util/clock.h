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

/* CLOCK_REALTIME `timeout_ms` from now, for pthread_cond_timedwait (whose
 * condition variables use that clock). */
static inline struct timespec clock_realtime_deadline(int timeout_ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L)
        t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

/* Milliseconds left until a clock_realtime_deadline (0 once it has passed). */
static inline int clock_ms_until(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
    return ms > 0 ? (int)ms : 0;
}

#endif
