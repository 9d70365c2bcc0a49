/* virtio-balloon (virtio 1.2, 5.5); see balloon.h for the queues and the
 * rules a hostile driver meets. */
#include "virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define BIT(n) (1ULL << (n))
#define STAT_ENTRY_SIZE 10 /* packed: le16 tag, le64 value */
#define CONFIG_NUM_PAGES 0
#define CONFIG_ACTUAL 4
#define CONFIG_LEN 8

enum queue_role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT };

struct virtio_balloon {
    struct virtio_device dev;
    struct virtio_balloon_config cfg;
    enum queue_role role[VIRTIO_MAX_QUEUES]; /* from the negotiated features, at DRIVER_OK */
    int stats_q;                              /* statsq's index, or -1 */

    /* The stats buffer the device holds until the next poll. */
    bool stats_held;
    uint16_t stats_head;
    uint32_t stats_generation;
    uint64_t stats_due_ns;
    int stats_timer_fd;

    struct virtio_balloon_counters c;
    struct log_ratelimit log_guest;
    struct virtq_chain chain;
    uint32_t pfns[BALLOON_MAX_PFNS];
    struct balloon_run runs[BALLOON_MAX_PFNS];
};

/* --- the parsers ------------------------------------------------------------------ */

/* In place, no allocation and no system call (glibc's qsort may ask the
 * kernel for the machine's memory size, which the I/O thread's seccomp
 * filter does not allow): a heapsort, O(n log n) for any input. */
static void sift_down(uint32_t *a, uint32_t root, uint32_t n)
{
    for (uint32_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
    }
}

static void sort_u32(uint32_t *a, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (uint32_t end = n; end-- > 1;) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

uint32_t balloon_coalesce(uint32_t *pfns, uint32_t n, struct balloon_run *runs)
{
    if (n == 0)
        return 0;
    sort_u32(pfns, n);
    uint32_t nruns = 0;
    runs[0] = (struct balloon_run){.pfn = pfns[0], .pages = 1};
    for (uint32_t i = 1; i < n; i++) {
        struct balloon_run *r = &runs[nruns];
        if (pfns[i] == pfns[i - 1])
            continue; /* the same page twice */
        if ((uint64_t)r->pfn + r->pages == pfns[i])
            r->pages++;
        else
            runs[++nruns] = (struct balloon_run){.pfn = pfns[i], .pages = 1};
    }
    return nruns + 1;
}

uint64_t balloon_discard(const struct guest_memory *mem, uint64_t gpa, uint64_t len, uint64_t *ignored,
                         uint64_t *calls, uint64_t *errors)
{
    const uint64_t mask = BALLOON_PAGE_SIZE - 1;
    uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len; /* no wrap-around */
    uint64_t first = gpa > UINT64_MAX - mask ? UINT64_MAX & ~mask : (gpa + mask) & ~mask;
    uint64_t last = end & ~mask;
    if (first >= last) {
        *ignored += len;
        return 0;
    }
    uint64_t inside = 0, done = 0;
    for (int i = 0; i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];
        if (last <= r->gpa || (first >= r->gpa && first - r->gpa >= r->size))
            continue; /* the range is wholly below or above this region */
        uint64_t lo = first > r->gpa ? first : r->gpa;
        uint64_t hi = last - r->gpa < r->size ? last : r->gpa + r->size;
        inside += hi - lo;
        uint8_t *host = r->host ? r->host + (lo - r->gpa) : NULL;
        if (!host || ((uintptr_t)host & mask)) {
            (*errors)++;
            continue;
        }
        (*calls)++;
        if (madvise(host, hi - lo, MADV_DONTNEED) < 0)
            (*errors)++;
        else
            done += hi - lo;
    }
    *ignored += len - inside;
    return done;
}

void balloon_parse_stats(const uint8_t *buf, size_t len, struct virtio_balloon_counters *c)
{
    for (size_t off = 0; len - off >= STAT_ENTRY_SIZE; off += STAT_ENTRY_SIZE) {
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, buf + off, sizeof(tag));
        memcpy(&val, buf + off + 2, sizeof(val));
        tag = le16toh(tag);
        if (tag >= BALLOON_S_NR) {
            c->stats_unknown++; /* a newer driver's tag (Linux 6.12 has OOM kills, stalls, ...) */
            continue;
        }
        c->stats[tag] = le64toh(val);
        c->stats_valid[tag] = true;
    }
}

/* --- the queues (device lock held) ------------------------------------------------- */

static void guest_complains(struct virtio_balloon *b)
{
    b->c.malformed++;
}

/* Saturating: the API refuses a target larger than guest RAM anyway. */
static uint32_t mib_to_pages(uint32_t mib)
{
    return mib > UINT32_MAX / BALLOON_PAGES_PER_MIB ? UINT32_MAX : mib * BALLOON_PAGES_PER_MIB;
}

/* An inflate or deflate buffer: an array of le32 page frame numbers. */
static void serve_pages(struct virtio_balloon *b, bool inflate)
{
    struct virtq_chain *c = &b->chain;
    if (c->readable_len % sizeof(uint32_t) || c->nreadable == 0 || c->nreadable != c->nseg)
        guest_complains(b);
    uint64_t n = c->readable_len / sizeof(uint32_t);
    if (n > BALLOON_MAX_PFNS) {
        b->c.ignored_pages += n - BALLOON_MAX_PFNS;
        log_warn_ratelimited(&b->log_guest, "%s: a buffer of %llu page numbers; only %d are taken", b->dev.name,
                             (unsigned long long)n, BALLOON_MAX_PFNS);
        n = BALLOON_MAX_PFNS;
    }
    n = virtq_chain_read(c, 0, b->pfns, n * sizeof(uint32_t)) / sizeof(uint32_t);
    for (uint64_t i = 0; i < n; i++)
        b->pfns[i] = le32toh(b->pfns[i]);
    uint32_t nruns = balloon_coalesce(b->pfns, (uint32_t)n, b->runs);
    for (uint32_t i = 0; i < nruns; i++) {
        uint64_t gpa = (uint64_t)b->runs[i].pfn << BALLOON_PAGE_SHIFT;
        uint64_t len = (uint64_t)b->runs[i].pages << BALLOON_PAGE_SHIFT;
        if (!inflate) {
            /* Nothing to do: a deflated page faults back in as zeros. */
            uint64_t in_ram = 0;
            for (uint64_t p = 0; p < b->runs[i].pages; p++)
                in_ram += gpa_range_is_ram(b->dev.mem, gpa + (p << BALLOON_PAGE_SHIFT), BALLOON_PAGE_SIZE);
            b->c.deflated_pages += in_ram;
            b->c.ignored_pages += b->runs[i].pages - in_ram;
            continue;
        }
        uint64_t ignored = 0;
        uint64_t done = balloon_discard(b->dev.mem, gpa, len, &ignored, &b->c.madvise_calls, &b->c.madvise_errors);
        b->c.inflated_pages += done >> BALLOON_PAGE_SHIFT;
        b->c.ignored_pages += ignored >> BALLOON_PAGE_SHIFT;
    }
}

/* The guest-physical address of a host pointer into guest RAM. */
static bool host_to_gpa(const struct guest_memory *mem, const uint8_t *host, uint64_t *gpa)
{
    for (int i = 0; i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];
        if (r->host && host >= r->host && (uint64_t)(host - r->host) < r->size) {
            *gpa = r->gpa + (uint64_t)(host - r->host);
            return true;
        }
    }
    return false;
}

/* A free page report: each buffer of the chain is a range of free guest
 * pages (Linux puts them device-writable, a scatterlist of free blocks). */
static void serve_report(struct virtio_balloon *b)
{
    struct virtq_chain *c = &b->chain;
    uint64_t budget = BALLOON_MAX_REPORT_BYTES;
    for (uint16_t i = 0; i < c->nseg; i++) {
        uint64_t len = c->seg[i].len, gpa;
        if (len > budget) {
            b->c.ignored_pages += (len - budget) >> BALLOON_PAGE_SHIFT;
            len = budget;
        }
        if (!host_to_gpa(b->dev.mem, c->seg[i].host, &gpa)) { /* the virtqueue checked it; never trust twice */
            b->c.ignored_pages += len >> BALLOON_PAGE_SHIFT;
            continue;
        }
        uint64_t ignored = 0;
        b->c.reported_bytes +=
            balloon_discard(b->dev.mem, gpa, len, &ignored, &b->c.madvise_calls, &b->c.madvise_errors);
        b->c.ignored_pages += ignored >> BALLOON_PAGE_SHIFT;
        budget -= len;
    }
}

static void arm_stats_timer(struct virtio_balloon *b)
{
    uint64_t interval_ns = (uint64_t)b->cfg.stats_polling_interval_s * 1000000000ULL;
    b->stats_due_ns = clock_monotonic_ns() + interval_ns;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(interval_ns / 1000000000ULL)}};
    if (timerfd_settime(b->stats_timer_fd, 0, &its, NULL) < 0)
        log_warn("%s: cannot arm the statistics timer: %s", b->dev.name, strerror(errno));
}

/* Gives the held stats buffer back: the driver refills it with fresh values. */
static void release_stats(struct virtio_balloon *b)
{
    if (!b->stats_held)
        return;
    b->stats_held = false;
    virtio_push(&b->dev, b->stats_q, b->stats_head, b->stats_generation, 0);
    virtio_flush_interrupt(&b->dev, b->stats_q);
}

/* A stats buffer: read it and hold it until the next poll (it is answered
 * then, not now). */
static void serve_stats(struct virtio_balloon *b)
{
    struct virtq_chain *c = &b->chain;
    uint8_t buf[BALLOON_MAX_STATS * STAT_ENTRY_SIZE];
    uint64_t want = c->readable_len < sizeof(buf) ? c->readable_len : sizeof(buf);
    if (c->readable_len % STAT_ENTRY_SIZE || c->nreadable != c->nseg)
        guest_complains(b);
    size_t got = virtq_chain_read(c, 0, buf, (size_t)want);
    balloon_parse_stats(buf, got, &b->c);
    b->c.stats_updates++;
    if (b->stats_held) { /* one at a time, says the spec: the older goes back */
        guest_complains(b);
        release_stats(b);
    }
    b->stats_held = true;
    b->stats_head = c->head;
    b->stats_generation = c->generation;
    if (b->cfg.stats_polling_interval_s)
        arm_stats_timer(b);
}

static void on_stats_timer(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_balloon *b = ctx;
    uint64_t expirations;
    if (read(b->stats_timer_fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
        return; /* re-armed meanwhile */
    pthread_mutex_lock(&b->dev.lock);
    if (b->dev.active && !b->dev.broken && b->stats_q >= 0 && clock_monotonic_ns() >= b->stats_due_ns)
        release_stats(b);
    pthread_mutex_unlock(&b->dev.lock);
}

static void balloon_kick(struct virtio_device *dev, int q)
{
    struct virtio_balloon *b = dev->impl;
    enum queue_role role = b->role[q];
    if (role == ROLE_NONE)
        return; /* a queue of a feature the driver did not take: its buffers stay */
    struct virtio_batch batch = {0};
    do {
        virtq_suppress_notify(&dev->vq[q]);
        while (virtio_batch_next(dev, q, &batch) && virtio_pop(dev, q, &b->chain) == 1) {
            bool answer = true;
            switch (role) {
            case ROLE_INFLATE: serve_pages(b, true); break;
            case ROLE_DEFLATE: serve_pages(b, false); break;
            case ROLE_REPORT: serve_report(b); break;
            case ROLE_STATS: serve_stats(b); answer = false; break; /* held until the next poll */
            case ROLE_NONE: break;
            }
            if (answer)
                virtio_push(dev, q, b->chain.head, b->chain.generation, 0);
        }
        virtio_flush_interrupt(dev, q);
    } while (!batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[q]));
}

static int balloon_activate(struct virtio_device *dev)
{
    struct virtio_balloon *b = dev->impl;
    memset(b->role, 0, sizeof(b->role));
    b->role[0] = ROLE_INFLATE;
    b->role[1] = ROLE_DEFLATE;
    b->stats_q = -1;
    int next = 2;
    if (dev->guest_features & BIT(VIRTIO_BALLOON_F_STATS_VQ)) {
        b->stats_q = next;
        b->role[next++] = ROLE_STATS;
    }
    if (dev->guest_features & BIT(VIRTIO_BALLOON_F_PAGE_REPORTING))
        b->role[next++] = ROLE_REPORT;
    return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static void balloon_reset(struct virtio_device *dev)
{
    struct virtio_balloon *b = dev->impl;
    memset(b->role, 0, sizeof(b->role));
    b->stats_q = -1;
    b->stats_held = false; /* the timer may still fire: it then finds nothing */
    put_le32(dev->config + CONFIG_ACTUAL, 0);
}

/* Only `actual` is the driver's to write. */
static void balloon_config_write(struct virtio_device *dev, uint32_t offset, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (offset + i >= CONFIG_ACTUAL && offset + i < CONFIG_LEN)
            dev->config[offset + i] = data[i];
}

static void balloon_destroy(struct virtio_device *dev)
{
    struct virtio_balloon *b = dev->impl;
    if (b->stats_timer_fd >= 0)
        close(b->stats_timer_fd);
    free(b);
}

static const struct virtio_device_ops balloon_ops = {
    .kind = "balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .activate = balloon_activate,
    .reset = balloon_reset,
    .queue_kick = balloon_kick,
    .config_write = balloon_config_write,
    .destroy = balloon_destroy,
};

struct virtio_device *virtio_balloon_create(const struct guest_memory *mem, const char *name,
                                            const struct virtio_balloon_config *cfg)
{
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b) {
        log_error("%s: out of memory", name);
        return NULL;
    }
    b->stats_timer_fd = -1;
    b->stats_q = -1;
    b->cfg = *cfg;
    uint16_t nqueues = (uint16_t)(2 + (cfg->stats_polling_interval_s > 0) + cfg->free_page_reporting);
    if (virtio_device_init(&b->dev, &balloon_ops, b, name, mem, nqueues, VIRTQ_MAX_SIZE) < 0)
        goto fail;
    /* As Firecracker: the statistics queue only when statistics are on. */
    if (cfg->stats_polling_interval_s)
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_STATS_VQ);
    if (cfg->deflate_on_oom)
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    if (cfg->free_page_reporting)
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_PAGE_REPORTING);
    b->dev.config_len = CONFIG_LEN;
    put_le32(b->dev.config + CONFIG_NUM_PAGES, mib_to_pages(cfg->amount_mib));
    b->stats_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (b->stats_timer_fd < 0) {
        log_error("%s: timerfd: %s", name, strerror(errno));
        goto fail;
    }
    if (event_loop_add(&b->dev.loop, b->stats_timer_fd, EPOLLIN, on_stats_timer, b) < 0)
        goto fail;
    return &b->dev;
fail:
    virtio_device_destroy(&b->dev); /* frees b */
    return NULL;
}

int virtio_balloon_set_target(struct virtio_device *dev, uint32_t amount_mib)
{
    pthread_mutex_lock(&dev->lock);
    int rc = dev->active ? 0 : -1;
    if (dev->active) {
        put_le32(dev->config + CONFIG_NUM_PAGES, mib_to_pages(amount_mib));
        virtio_config_changed(dev);
    }
    pthread_mutex_unlock(&dev->lock);
    return rc;
}

void virtio_balloon_set_stats_interval(struct virtio_device *dev, uint16_t seconds)
{
    struct virtio_balloon *b = dev->impl;
    pthread_mutex_lock(&dev->lock);
    b->cfg.stats_polling_interval_s = seconds;
    /* The first update at once (Firecracker's rule); the refilled buffer
     * arms the timer with the new interval. */
    if (dev->active && !dev->broken && b->stats_q >= 0)
        release_stats(b);
    pthread_mutex_unlock(&dev->lock);
}

bool virtio_balloon_active(struct virtio_device *dev)
{
    pthread_mutex_lock(&dev->lock);
    bool active = dev->active;
    pthread_mutex_unlock(&dev->lock);
    return active;
}

struct virtio_balloon_counters virtio_balloon_counters(struct virtio_device *dev)
{
    struct virtio_balloon *b = dev->impl;
    pthread_mutex_lock(&dev->lock);
    struct virtio_balloon_counters c = b->c;
    c.target_pages = get_le32(dev->config + CONFIG_NUM_PAGES);
    c.actual_pages = get_le32(dev->config + CONFIG_ACTUAL);
    pthread_mutex_unlock(&dev->lock);
    return c;
}
