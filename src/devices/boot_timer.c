#include "devices/boot_timer.h"

#include <string.h>
#include <time.h>

#include "util/log.h"

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void boot_timer_start_now(struct boot_timer_start *s)
{
    s->time_us = clock_us(CLOCK_MONOTONIC);
    s->cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    s->parent_cpu_us = 0;
}

static void boot_timer_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    (void)opaque, (void)off;
    memset(data, 0xff, size);
}

static void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct boot_timer *t = opaque;
    /* A byte at offset 0, as Firecracker's device takes it. */
    if (size != 1 || off != 0 || data[0] != BOOT_TIMER_MAGIC)
        return;
    uint64_t now = clock_us(CLOCK_MONOTONIC), cpu = clock_us(CLOCK_PROCESS_CPUTIME_ID) + t->start.parent_cpu_us;
    uint64_t us = now > t->start.time_us ? now - t->start.time_us : 0;
    uint64_t cpu_us = cpu > t->start.cpu_us ? cpu - t->start.cpu_us : 0;
    /* A guest may write it in a loop: rate-limited like every guest-made line. */
    static struct log_ratelimit rl;
    log_info_ratelimited(&rl, "Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms", (unsigned long long)us,
                         (unsigned long long)us / 1000, (unsigned long long)cpu_us, (unsigned long long)cpu_us / 1000);
}

const struct bus_device_ops boot_timer_ops = {.name = "boot-timer-0x3f0", .read = boot_timer_read, .write = boot_timer_write};
