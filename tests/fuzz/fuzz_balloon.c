/* libFuzzer harness: a hostile balloon driver. The input becomes guest
 * memory (four queues' rings, their descriptors and buffers: inflate and
 * deflate PFN arrays, stats entries, reported ranges) on two RAM regions
 * around a hole, plus the features the driver takes and the order it kicks
 * the queues in; the device runs every queue's parser on it, on this thread.
 * Any out-of-bounds access, undefined behaviour or touch outside guest RAM
 * (each region is followed by a PROT_NONE page) is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memory/guest_memory.h"
#include "virtio/balloon.h"
#include "virtio/device.h"

#define PAGE 4096ULL
#define LOW (192 * 1024)
#define HIGH_GPA (4ULL << 30)
#define HIGH (64 * 1024)
#define QN 16

static struct guest_memory mem;
static struct virtio_device *dev;

static int setup_once(void)
{
    if (dev)
        return 0;
    uint8_t *p = mmap(NULL, LOW + PAGE + HIGH + PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, LOW, PROT_READ | PROT_WRITE) < 0 ||
        mprotect(p + LOW + PAGE, HIGH, PROT_READ | PROT_WRITE) < 0)
        return -1;
    mem.base = p;
    mem.ram_size = LOW + HIGH;
    mem.nregions = 2;
    mem.regions[0] = (struct guest_region){.gpa = 0, .size = LOW, .host = p};
    mem.regions[1] = (struct guest_region){.gpa = HIGH_GPA, .size = HIGH, .host = p + LOW + PAGE};
    struct virtio_balloon_config cfg = {.amount_mib = 1, .deflate_on_oom = true, .stats_polling_interval_s = 1,
                                        .free_page_reporting = true};
    dev = virtio_balloon_create(&mem, "virtio-balloon-fuzz", &cfg);
    return dev ? 0 : -1;
}

static void turn(void)
{
    for (int i = 0; i < 16 && event_loop_run_once(&dev->loop, 0) > 0; i++)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (setup_once() < 0 || size < 12)
        return 0;
    /* Header: features, queue sizes (log2), then eight kicks. */
    uint8_t features = data[0];
    uint8_t sizes = data[1];
    const uint8_t *kicks = data + 2;
    uint16_t misc = (uint16_t)(data[10] | data[11] << 8);
    data += 12, size -= 12;
    memset(mem.regions[0].host, 0, LOW);
    memset(mem.regions[1].host, 0, HIGH);
    size_t low = size < LOW ? size : LOW;
    memcpy(mem.regions[0].host, data, low);
    if (size > low)
        memcpy(mem.regions[1].host, data + low, size - low < HIGH ? size - low : HIGH);

    virtio_set_status(dev, 0);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_guest_features(dev, 0, features);
    virtio_set_guest_features(dev, 1, 1);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (uint16_t q = 0; q < dev->num_queues; q++) {
        uint64_t base = 0x1000ULL * q;
        virtio_queue_write(dev, q, VIRTIO_QUEUE_SIZE, false, 1u << ((sizes >> (2 * q)) & 3) << 2); /* 4..32 */
        virtio_queue_write(dev, q, VIRTIO_QUEUE_DESC, false, (uint32_t)base);
        virtio_queue_write(dev, q, VIRTIO_QUEUE_AVAIL, false, (uint32_t)(base + 0x600));
        virtio_queue_write(dev, q, VIRTIO_QUEUE_USED, false, (uint32_t)(base + 0x800));
        virtio_queue_write(dev, q, VIRTIO_QUEUE_READY, false, 1);
    }
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                               VIRTIO_STATUS_DRIVER_OK);
    turn();
    for (int k = 0; k < 8; k++) {
        uint8_t step = kicks[k];
        switch (step >> 6) {
        case 0:
        case 1: virtio_notify_queue(dev, step % dev->num_queues); break;
        case 2: virtio_balloon_set_stats_interval(dev, (uint16_t)(1 + (step & 7))); break;
        case 3: {
            uint8_t v[4];
            memcpy(v, &misc, 2), memcpy(v + 2, &misc, 2);
            virtio_config_write(dev, step & 7, v, 1 + (step >> 3 & 3));
            virtio_balloon_set_target(dev, misc);
            break;
        }
        }
        turn();
    }
    struct virtio_balloon_counters got = virtio_balloon_counters(dev);
    if (getenv("FUZZ_BALLOON_DEBUG"))
        fprintf(stderr, "active %d broken %d inflated %llu ignored %llu stats %llu reported %llu\n", dev->active, dev->broken, (unsigned long long)got.inflated_pages, (unsigned long long)got.ignored_pages, (unsigned long long)got.stats_updates, (unsigned long long)got.reported_bytes);
    /* The parsers alone, on the raw input. */
    struct virtio_balloon_counters c = {0};
    balloon_parse_stats(data, size, &c);
    static uint32_t pfns[BALLOON_MAX_PFNS];
    static struct balloon_run runs[BALLOON_MAX_PFNS];
    size_t n = size / 4 < BALLOON_MAX_PFNS ? size / 4 : BALLOON_MAX_PFNS;
    memcpy(pfns, data, n * 4);
    uint32_t nruns = balloon_coalesce(pfns, (uint32_t)n, runs);
    uint64_t pages = 0;
    for (uint32_t i = 0; i < nruns; i++)
        pages += runs[i].pages;
    if (pages > n)
        __builtin_trap();
    return 0;
}
