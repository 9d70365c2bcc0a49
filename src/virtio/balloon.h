/* virtio-balloon (virtio 1.2, 5.5): the host asks the guest for memory back.
 *
 * Queues, by index as the driver numbers them: inflateq 0, deflateq 1, then
 * statsq if VIRTIO_BALLOON_F_STATS_VQ is negotiated, then the reporting
 * queue if VIRTIO_BALLOON_F_PAGE_REPORTING is negotiated. A queue whose
 * feature is not negotiated takes no index (Linux numbers its queues so:
 * without STATS_VQ the reporting queue is 2), so the roles are fixed at
 * DRIVER_OK from the negotiated features. Free page hinting is not built.
 *
 * Inflated pages (4 KiB page frame numbers) and reported ranges go back to
 * the host with madvise(MADV_DONTNEED) on ember's private anonymous mapping
 * of guest RAM, so the guest's next touch reads zeros. The guest is hostile:
 * every page is checked against guest RAM (outside it: ignored and counted),
 * a request's work is bounded (BALLOON_MAX_PFNS per inflate or deflate
 * buffer, BALLOON_MAX_REPORT_BYTES per report) and nothing it sends is
 * logged without a rate limit. */
#ifndef EMBER_VIRTIO_BALLOON_H
#define EMBER_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/device.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5

#define BALLOON_PAGE_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PAGE_SHIFT)
#define BALLOON_PAGES_PER_MIB 256u
/* Page frame numbers taken from one inflate or deflate buffer (Linux sends
 * at most 256); the rest of a larger one is ignored and counted. */
#define BALLOON_MAX_PFNS 1024
/* Bytes of guest RAM one report request may give back (Linux reports at
 * most 32 ranges of 2 or 4 MiB); the rest is ignored and counted. */
#define BALLOON_MAX_REPORT_BYTES (256ull << 20)
/* Statistics entries read from one stats buffer. */
#define BALLOON_MAX_STATS 64

/* Statistics tags (virtio 1.2, 5.5.6.3). */
enum {
    BALLOON_S_SWAP_IN,
    BALLOON_S_SWAP_OUT,
    BALLOON_S_MAJFLT,
    BALLOON_S_MINFLT,
    BALLOON_S_MEMFREE,
    BALLOON_S_MEMTOT,
    BALLOON_S_AVAIL,
    BALLOON_S_CACHES,
    BALLOON_S_HTLB_PGALLOC,
    BALLOON_S_HTLB_PGFAIL,
    BALLOON_S_NR
};

struct virtio_balloon_config {
    uint32_t amount_mib;               /* the target at boot */
    bool deflate_on_oom;
    uint16_t stats_polling_interval_s; /* 0: no statistics queue */
    bool free_page_reporting;
};

/* What the device did, and the guest's latest statistics. */
struct virtio_balloon_counters {
    uint32_t target_pages, actual_pages;
    uint64_t inflated_pages, deflated_pages; /* PFNs in RAM the driver sent */
    uint64_t reported_bytes;                 /* given back by free page reporting */
    uint64_t ignored_pages;   /* PFNs (or reported pages) outside RAM, in a hole, or over a limit */
    uint64_t malformed;       /* buffers of a wrong shape (length, direction) */
    uint64_t madvise_calls, madvise_errors;
    uint64_t stats_updates;   /* stats buffers read */
    uint64_t stats_unknown;   /* entries with a tag ember does not know */
    bool stats_valid[BALLOON_S_NR];
    uint64_t stats[BALLOON_S_NR];
};

struct virtio_device *virtio_balloon_create(const struct guest_memory *mem, const char *name,
                                            const struct virtio_balloon_config *cfg);
/* The host's new target (PATCH /balloon): num_pages and a config interrupt.
 * -1 if the driver has not started the device. */
int virtio_balloon_set_target(struct virtio_device *dev, uint32_t amount_mib);
/* A new statistics polling interval (PATCH /balloon/statistics); the held
 * stats buffer goes back to the driver at once for a fresh update. */
void virtio_balloon_set_stats_interval(struct virtio_device *dev, uint16_t seconds);
bool virtio_balloon_active(struct virtio_device *dev);
struct virtio_balloon_counters virtio_balloon_counters(struct virtio_device *dev);

/* The parsers, for the unit tests and the fuzzer. */
/* Sorts pfns[0..n) and merges them into runs: runs[i] = {first pfn, pages};
 * returns the number of runs (duplicates count once). */
struct balloon_run {
    uint32_t pfn;
    uint32_t pages;
};
uint32_t balloon_coalesce(uint32_t *pfns, uint32_t n, struct balloon_run *runs);
/* Gives [gpa, gpa + len) back to the host, the parts inside guest RAM only
 * (page-aligned inwards). Returns the bytes given back; *ignored gets the
 * bytes outside RAM. */
uint64_t balloon_discard(const struct guest_memory *mem, uint64_t gpa, uint64_t len, uint64_t *ignored,
                         uint64_t *calls, uint64_t *errors);
/* Reads packed (le16 tag, le64 value) entries from buf into c's stats. */
void balloon_parse_stats(const uint8_t *buf, size_t len, struct virtio_balloon_counters *c);

#endif
