/* virtio-balloon on synthetic guest memory with a hole and guard pages: the
 * PFN coalescing, the bounds a hostile driver meets, MADV_DONTNEED really
 * zeroing the fake guest's pages, the statistics queue, the config space and
 * the queue numbering from the negotiated features. The device is driven
 * the way a driver would (status, features, queue registers) and its event
 * loop is turned on this thread, so every step is deterministic. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "memory/guest_memory.h"
#include "virtio/balloon.h"
#include "virtio/device.h"
#include "check.h"

#define PAGE 4096ULL
#define LOW_SIZE (1024 * 1024)        /* region 0: [0, 1 MiB) */
#define HIGH_GPA (4ULL << 30)         /* region 1: [4 GiB, 4 GiB + 64 KiB), after a "hole" */
#define HIGH_SIZE (64 * 1024)
#define QN 8
#define QBASE(q) (0x10000ULL * ((q) + 1)) /* desc; avail +0x1000; used +0x2000 */
#define BUF 0x80000ULL                    /* the driver's buffers */
#define PAGES 0xa0000ULL                  /* pages it inflates */

static struct guest_memory mem;
static struct virtio_device *dev;
static uint16_t avail_idx[4];

/* Two regions, each followed by a PROT_NONE guard page. */
static void map_memory(void)
{
    if (mem.base)
        return;
    size_t len = LOW_SIZE + PAGE + HIGH_SIZE + PAGE;
    uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    CHECK(mprotect(p, LOW_SIZE, PROT_READ | PROT_WRITE) == 0);
    CHECK(mprotect(p + LOW_SIZE + PAGE, HIGH_SIZE, PROT_READ | PROT_WRITE) == 0);
    mem.base = p;
    mem.ram_size = LOW_SIZE + HIGH_SIZE;
    mem.nregions = 2;
    mem.regions[0] = (struct guest_region){.gpa = 0, .size = LOW_SIZE, .host = p};
    mem.regions[1] = (struct guest_region){.gpa = HIGH_GPA, .size = HIGH_SIZE, .host = p + LOW_SIZE + PAGE};
}

/* A device as cfg says, brought up by a driver taking `features` (balloon
 * bits) with `nq` queues. */
static void setup(const struct virtio_balloon_config *cfg, uint64_t features, int nq)
{
    map_memory();
    memset(mem.regions[0].host, 0, LOW_SIZE);
    memset(mem.regions[1].host, 0, HIGH_SIZE);
    memset(avail_idx, 0, sizeof(avail_idx));
    dev = virtio_balloon_create(&mem, "virtio-balloon-test", cfg);
    CHECK(dev != NULL);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_guest_features(dev, 0, (uint32_t)features);
    virtio_set_guest_features(dev, 1, 1); /* VERSION_1 */
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (uint16_t q = 0; q < nq; q++) {
        virtio_queue_write(dev, q, VIRTIO_QUEUE_SIZE, false, QN);
        virtio_queue_write(dev, q, VIRTIO_QUEUE_DESC, false, (uint32_t)QBASE(q));
        virtio_queue_write(dev, q, VIRTIO_QUEUE_AVAIL, false, (uint32_t)(QBASE(q) + 0x1000));
        virtio_queue_write(dev, q, VIRTIO_QUEUE_USED, false, (uint32_t)(QBASE(q) + 0x2000));
        virtio_queue_write(dev, q, VIRTIO_QUEUE_READY, false, 1);
    }
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                               VIRTIO_STATUS_DRIVER_OK);
    CHECK(virtio_balloon_active(dev));
    while (event_loop_run_once(&dev->loop, 0) > 0) /* the activation's first look */
        ;
}

static void teardown(void)
{
    virtio_device_destroy(dev);
    dev = NULL;
}

static struct virtq_desc *desc(int q) { return gpa_to_host(&mem, QBASE(q), 16 * QN); }
static uint16_t used_idx(int q) { return ((uint16_t *)gpa_to_host(&mem, QBASE(q) + 0x2000, 4))[1]; }

/* Offers a chain of the (addr, len, flags) buffers on queue q and kicks it. */
static void offer(int q, int n, const struct virtq_desc *bufs)
{
    struct virtq_desc *d = desc(q);
    uint16_t head = (uint16_t)(avail_idx[q] % QN);
    for (int i = 0; i < n; i++) {
        uint16_t at = (uint16_t)((head + i) % QN);
        d[at] = bufs[i];
        d[at].flags = (uint16_t)(bufs[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        d[at].next = (uint16_t)((at + 1) % QN);
    }
    uint16_t *a = gpa_to_host(&mem, QBASE(q) + 0x1000, 6 + 2 * QN);
    a[2 + a[1] % QN] = head;
    avail_idx[q] = (uint16_t)(avail_idx[q] + n); /* the next chain's descriptors follow this one's */
    __atomic_store_n(&a[1], (uint16_t)(a[1] + 1), __ATOMIC_RELEASE);
    virtio_notify_queue(dev, (uint16_t)q);
    while (event_loop_run_once(&dev->loop, 0) > 0)
        ;
}

static void offer_pfns(int q, const uint32_t *pfns, uint32_t n)
{
    CHECK(guest_write(&mem, BUF, pfns, n * 4ULL) == 0);
    struct virtq_desc b = {BUF, n * 4, 0, 0};
    offer(q, 1, &b);
}

static uint8_t *page(uint64_t gpa) { return gpa_to_host(&mem, gpa, PAGE); }

static bool all(const uint8_t *p, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static const struct virtio_balloon_config plain = {.amount_mib = 0};

TEST(coalesce_sorts_dedupes_and_merges)
{
    uint32_t pfns[] = {11, 5, 3, 4, 4, 10, 1, 0xffffffff};
    struct balloon_run runs[8];
    uint32_t n = balloon_coalesce(pfns, 8, runs);
    CHECK_EQ(n, 4);
    CHECK(runs[0].pfn == 1 && runs[0].pages == 1);
    CHECK(runs[1].pfn == 3 && runs[1].pages == 3);
    CHECK(runs[2].pfn == 10 && runs[2].pages == 2);
    CHECK(runs[3].pfn == 0xffffffff && runs[3].pages == 1); /* no wrap to pfn 0 */
    CHECK_EQ(balloon_coalesce(pfns, 0, runs), 0);
}

TEST(discard_only_touches_ram_and_rounds_inwards)
{
    map_memory();
    uint64_t ignored = 0, calls = 0, errors = 0;
    memset(page(LOW_SIZE - PAGE), 0xaa, PAGE);
    /* The last page of region 0 and three pages of the hole after it. */
    uint64_t done = balloon_discard(&mem, LOW_SIZE - PAGE, 4 * PAGE, &ignored, &calls, &errors);
    CHECK_EQ(done, PAGE);
    CHECK_EQ(ignored, 3 * PAGE);
    CHECK(all(page(LOW_SIZE - PAGE), 0, PAGE));
    /* Wholly in the hole, beyond RAM, and at the top of the address space. */
    ignored = 0;
    CHECK_EQ(balloon_discard(&mem, 2ULL << 30, PAGE, &ignored, &calls, &errors), 0);
    CHECK_EQ(balloon_discard(&mem, HIGH_GPA + HIGH_SIZE, 16 * PAGE, &ignored, &calls, &errors), 0);
    CHECK_EQ(balloon_discard(&mem, UINT64_MAX - PAGE, 2 * PAGE, &ignored, &calls, &errors), 0);
    CHECK_EQ(ignored, PAGE + 16 * PAGE + 2 * PAGE);
    /* Misaligned: only whole pages inside go. */
    memset(page(0x40000), 0xbb, 3 * PAGE);
    ignored = 0;
    CHECK_EQ(balloon_discard(&mem, 0x40000 + 1, 3 * PAGE, &ignored, &calls, &errors), 2 * PAGE);
    CHECK(page(0x40000)[0] == 0xbb && all(page(0x41000), 0, 2 * PAGE));
    /* Spanning both regions and the hole: both ends go. */
    memset(page(HIGH_GPA), 0xcc, PAGE);
    memset(page(LOW_SIZE - PAGE), 0xcc, PAGE);
    ignored = 0;
    done = balloon_discard(&mem, LOW_SIZE - PAGE, HIGH_GPA + PAGE - (LOW_SIZE - PAGE), &ignored, &calls, &errors);
    CHECK_EQ(done, 2 * PAGE);
    CHECK(all(page(HIGH_GPA), 0, PAGE) && all(page(LOW_SIZE - PAGE), 0, PAGE));
    CHECK_EQ(errors, 0);
}

TEST(inflate_zeroes_the_pages_and_ignores_pfns_outside_ram)
{
    setup(&plain, 0, 2);
    for (int i = 0; i < 4; i++)
        memset(page(PAGES + i * PAGE), 0x5a, PAGE);
    memset(page(HIGH_GPA), 0x5a, PAGE);
    uint32_t pfns[] = {
        (uint32_t)(PAGES / PAGE) + 1, (uint32_t)(PAGES / PAGE), /* two contiguous: one madvise */
        (uint32_t)(HIGH_GPA / PAGE),                            /* the high region */
        (uint32_t)((2ULL << 30) / PAGE),                        /* in the hole */
        0xffffffffu,                                            /* far beyond RAM */
        (uint32_t)(LOW_SIZE / PAGE),                            /* the guard page */
    };
    offer_pfns(0, pfns, 6);
    CHECK_EQ(used_idx(0), 1);
    CHECK(all(page(PAGES), 0, 2 * PAGE));
    CHECK(all(page(PAGES + 2 * PAGE), 0x5a, 2 * PAGE)); /* not asked for: kept */
    CHECK(all(page(HIGH_GPA), 0, PAGE));
    struct virtio_balloon_counters c = virtio_balloon_counters(dev);
    CHECK_EQ(c.inflated_pages, 3);
    CHECK_EQ(c.ignored_pages, 3);
    CHECK_EQ(c.madvise_calls, 2);
    /* Deflate: counted, nothing else. */
    offer_pfns(1, pfns, 2);
    CHECK_EQ(used_idx(1), 1);
    CHECK_EQ(virtio_balloon_counters(dev).deflated_pages, 2);
    teardown();
}

TEST(a_huge_inflate_array_is_clamped)
{
    setup(&plain, 0, 2);
    static uint32_t pfns[4 * BALLOON_MAX_PFNS];
    for (uint32_t i = 0; i < 4 * BALLOON_MAX_PFNS; i++)
        pfns[i] = i % 2 ? 0x7fffffffu - i : (uint32_t)(PAGES / PAGE) + (i / 2) % 16; /* half out of RAM */
    offer_pfns(0, pfns, 4 * BALLOON_MAX_PFNS);
    CHECK_EQ(used_idx(0), 1);
    struct virtio_balloon_counters c = virtio_balloon_counters(dev);
    CHECK_EQ(c.inflated_pages, 16);
    CHECK_EQ(c.ignored_pages, 3 * BALLOON_MAX_PFNS + BALLOON_MAX_PFNS / 2);
    /* A length that is not a whole number of PFNs, and a writable buffer. */
    struct virtq_desc odd = {BUF, 7, 0, 0};
    offer(0, 1, &odd);
    struct virtq_desc w = {BUF, 64, VIRTQ_DESC_F_WRITE, 0};
    offer(0, 1, &w);
    CHECK_EQ(used_idx(0), 3);
    CHECK_EQ(virtio_balloon_counters(dev).malformed, 2);
    teardown();
}

TEST(stats_are_parsed_held_and_handed_back)
{
    struct virtio_balloon_config cfg = {.amount_mib = 1, .stats_polling_interval_s = 1};
    setup(&cfg, 1u << VIRTIO_BALLOON_F_STATS_VQ, 3);
    uint8_t buf[5 * 10 + 3];
    struct {
        uint16_t tag;
        uint64_t val;
    } in[5] = {{BALLOON_S_MEMFREE, 123456789}, {BALLOON_S_MEMTOT, 1ULL << 40}, {99, 7}, {BALLOON_S_HTLB_PGFAIL, 3},
               {BALLOON_S_MEMFREE, 42}};
    for (int i = 0; i < 5; i++)
        memcpy(buf + 10 * i, &in[i].tag, 2), memcpy(buf + 10 * i + 2, &in[i].val, 8);
    CHECK(guest_write(&mem, BUF, buf, sizeof(buf)) == 0);
    struct virtq_desc b = {BUF, sizeof(buf), 0, 0};
    offer(2, 1, &b);
    CHECK_EQ(used_idx(2), 0); /* held until the next poll */
    struct virtio_balloon_counters c = virtio_balloon_counters(dev);
    CHECK(c.stats_valid[BALLOON_S_MEMFREE] && c.stats[BALLOON_S_MEMFREE] == 42); /* the last one wins */
    CHECK(c.stats_valid[BALLOON_S_MEMTOT] && c.stats[BALLOON_S_MEMTOT] == 1ULL << 40);
    CHECK(c.stats_valid[BALLOON_S_HTLB_PGFAIL] && c.stats[BALLOON_S_HTLB_PGFAIL] == 3);
    CHECK(!c.stats_valid[BALLOON_S_SWAP_IN]);
    CHECK_EQ(c.stats_unknown, 1);
    CHECK_EQ(c.malformed, 1); /* 3 stray bytes */
    /* The timer hands it back after the interval. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (used_idx(2) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 3)
            break;
        event_loop_run_once(&dev->loop, 100);
    }
    CHECK_EQ(used_idx(2), 1);
    /* Refilled; a new interval hands it back at once. */
    offer(2, 1, &b);
    CHECK_EQ(used_idx(2), 1);
    virtio_balloon_set_stats_interval(dev, 5);
    CHECK_EQ(used_idx(2), 2);
    /* Two buffers at once: the older goes back. */
    offer(2, 1, &b);
    offer(2, 1, &b);
    CHECK_EQ(used_idx(2), 3);
    teardown();
}

TEST(garbage_stats_are_survived)
{
    struct virtio_balloon_counters c = {0};
    uint8_t junk[997];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    balloon_parse_stats(junk, sizeof(junk), &c);
    uint64_t seen = c.stats_unknown;
    for (int t = 0; t < BALLOON_S_NR; t++)
        seen += c.stats_valid[t];
    CHECK(seen >= 1 && c.stats_unknown <= sizeof(junk) / 10);
    balloon_parse_stats(junk, 9, &c); /* shorter than one entry: nothing */
}

TEST(config_space_target_and_actual)
{
    struct virtio_balloon_config cfg = {.amount_mib = 3};
    map_memory();
    dev = virtio_balloon_create(&mem, "virtio-balloon-test", &cfg);
    CHECK(dev != NULL);
    uint32_t v = 0;
    virtio_config_read(dev, 0, (uint8_t *)&v, 4);
    CHECK_EQ(v, 3 * 256);
    CHECK_EQ(virtio_balloon_set_target(dev, 5), -1); /* no driver yet */
    teardown();

    setup(&cfg, 0, 2);
    uint32_t gen = dev->config_generation;
    CHECK_EQ(virtio_balloon_set_target(dev, 5), 0);
    virtio_config_read(dev, 0, (uint8_t *)&v, 4);
    CHECK_EQ(v, 5 * 256);
    CHECK(dev->config_generation != gen);
    /* The driver may write actual, not num_pages. */
    uint32_t actual = 700, bogus = 1;
    virtio_config_write(dev, 4, (const uint8_t *)&actual, 4);
    virtio_config_write(dev, 0, (const uint8_t *)&bogus, 4);
    virtio_config_write(dev, 6, (const uint8_t *)&bogus, 4); /* past the end: refused */
    struct virtio_balloon_counters c = virtio_balloon_counters(dev);
    CHECK_EQ(c.target_pages, 5 * 256);
    CHECK_EQ(c.actual_pages, 700);
    /* Offered features follow the config. */
    CHECK_EQ(virtio_get_host_features(dev, 0) & 0x3f, 0);
    teardown();
    cfg = (struct virtio_balloon_config){.deflate_on_oom = true, .stats_polling_interval_s = 2,
                                         .free_page_reporting = true};
    dev = virtio_balloon_create(&mem, "virtio-balloon-test", &cfg);
    CHECK_EQ(virtio_get_host_features(dev, 0) & 0x3f, (1u << 1) | (1u << 2) | (1u << 5));
    CHECK_EQ(dev->num_queues, 4);
    teardown();
}

static void report_checks(uint64_t features, int report_q)
{
    struct virtio_balloon_config cfg = {.stats_polling_interval_s = 1, .free_page_reporting = true};
    setup(&cfg, features, 4);
    memset(page(PAGES), 0x77, 4 * PAGE);
    memset(page(HIGH_GPA), 0x77, 2 * PAGE);
    struct virtq_desc r[2] = {{PAGES, 2 * PAGE, VIRTQ_DESC_F_WRITE, 0}, {HIGH_GPA, 2 * PAGE, VIRTQ_DESC_F_WRITE, 0}};
    offer(report_q, 2, r);
    CHECK_EQ(used_idx(report_q), 1);
    CHECK(all(page(PAGES), 0, 2 * PAGE) && all(page(PAGES + 2 * PAGE), 0x77, 2 * PAGE));
    CHECK(all(page(HIGH_GPA), 0, 2 * PAGE));
    CHECK_EQ(virtio_balloon_counters(dev).reported_bytes, 4 * PAGE);
    teardown();
}

TEST(reporting_queue_index_follows_negotiated_features)
{
    /* With STATS_VQ: inflate 0, deflate 1, stats 2, reporting 3. */
    report_checks((1u << VIRTIO_BALLOON_F_STATS_VQ) | (1u << VIRTIO_BALLOON_F_PAGE_REPORTING), 3);
    /* Offered but not taken: reporting moves to 2 (Linux's numbering). */
    report_checks(1u << VIRTIO_BALLOON_F_PAGE_REPORTING, 2);
    /* Neither taken: queue 2 and 3 serve nothing. */
    struct virtio_balloon_config cfg = {.stats_polling_interval_s = 1, .free_page_reporting = true};
    setup(&cfg, 0, 4);
    memset(page(PAGES), 0x77, PAGE);
    struct virtq_desc r = {PAGES, PAGE, VIRTQ_DESC_F_WRITE, 0};
    offer(2, 1, &r);
    offer(3, 1, &r);
    CHECK_EQ(used_idx(2), 0);
    CHECK_EQ(used_idx(3), 0);
    CHECK(all(page(PAGES), 0x77, PAGE));
    teardown();
}

TEST(a_reset_forgets_the_held_stats_buffer)
{
    struct virtio_balloon_config cfg = {.stats_polling_interval_s = 1};
    setup(&cfg, 1u << VIRTIO_BALLOON_F_STATS_VQ, 3);
    struct virtq_desc b = {BUF, 10, 0, 0};
    offer(2, 1, &b);
    virtio_set_status(dev, 0);
    virtio_balloon_set_stats_interval(dev, 2); /* inactive: nothing handed back */
    CHECK_EQ(used_idx(2), 0);
    event_loop_run_once(&dev->loop, 1200); /* the timer finds nothing */
    CHECK_EQ(used_idx(2), 0);
    CHECK_EQ(virtio_balloon_counters(dev).actual_pages, 0);
    teardown();
}

RUN_TESTS(CASE(coalesce_sorts_dedupes_and_merges), CASE(discard_only_touches_ram_and_rounds_inwards),
          CASE(inflate_zeroes_the_pages_and_ignores_pfns_outside_ram), CASE(a_huge_inflate_array_is_clamped),
          CASE(stats_are_parsed_held_and_handed_back), CASE(garbage_stats_are_survived),
          CASE(config_space_target_and_actual), CASE(reporting_queue_index_follows_negotiated_features),
          CASE(a_reset_forgets_the_held_stats_buffer))
