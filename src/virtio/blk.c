#include "virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "security/landlock.h"
#include "util/clock.h"
#include "util/log.h"

#define SECTOR 512ULL
#define SEG_MAX 126 /* data buffers per request: what Linux's queue limits get */
#define SERIAL_LEN 20
/* Requests the device may hold on the host at once: a full queue, plus as
 * many again orphaned by resets while the host still works on them (their
 * answers are dropped when they come). With every slot taken the device
 * takes no more requests until one finishes. */
#define SLOTS (2 * VIRTQ_MAX_SIZE)
/* How long a reset waits for requests in flight before orphaning them: a
 * reset is a register write on a vCPU thread, which must not wait on the
 * host's storage without bound. */
#define RESET_DRAIN_MS 500
/* How long PATCH /drives waits for the old image's requests in flight. */
#define REPLACE_DRAIN_MS 5000

/* Feature bits (5.2.3). */
#define F_SEG_MAX 2
#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define F_DISCARD 13
#define F_WRITE_ZEROES 14

struct inflight {
    bool busy;
    uint32_t type;           /* VIRTIO_BLK_T_IN, _OUT or _FLUSH */
    uint16_t head;
    uint32_t generation;     /* the queue's, when the chain was taken */
    uint8_t *status;
    uint32_t used_len;       /* bytes the device wrote into the chain */
    int64_t expect;          /* the result that means success */
    struct iovec iov[SEG_MAX];
};

struct virtio_blk {
    struct virtio_device dev;
    int fd;
    bool read_only, is_block_device;
    uint64_t capacity;       /* in 512-byte sectors */
    char serial[SERIAL_LEN];
    char path[256];
    bool uring;
    struct io_uring ring;
    int ring_efd;
    struct inflight *slots;  /* SLOTS of them; io_uring's user data is the index */
    uint16_t free_slot[SLOTS]; /* a stack of the free ones */
    unsigned nfree;
    unsigned inflight;
    bool starved;            /* a kick found no free slot: kick again when one frees */
    struct virtq_chain chain;
    struct rate_limiter limiter; /* every request, and the bytes read or written */
    struct log_ratelimit log_orphans, log_host_errors;
    /* A flush of the image failed: data the guest was told is in the disk's
     * cache may never reach the image, and the host reports a failed
     * write-back only once (the "fsyncgate" class of data loss). So every
     * later FLUSH fails too, until the guest resets the disk or the API moves
     * it to an image (PATCH /drives), as a disk whose cache lost data would. */
    bool lost_writes;
};

/* --- request parsing (pure: the fuzz harness drives it) -------------------- */

static uint8_t *status_byte(const struct virtq_chain *c)
{
    for (int i = c->nseg - 1; i >= c->nreadable; i--)
        if (c->seg[i].len > 0)
            return c->seg[i].host + c->seg[i].len - 1;
    return NULL;
}

/* Is [sector, sector + bytes/512) inside the disk? (no overflow) */
static bool in_range(uint64_t sector, uint64_t bytes, uint64_t capacity)
{
    uint64_t n = bytes / SECTOR;
    return sector <= capacity && n <= capacity - sector;
}

int blk_parse_request(const struct virtq_chain *c, uint64_t capacity, bool read_only, struct blk_request *req)
{
    memset(req, 0, sizeof(*req));
    req->status = status_byte(c);
    if (!req->status)
        return -1;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr;
    if (c->readable_len < sizeof(hdr) || virtq_chain_read(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
        return VIRTIO_BLK_S_IOERR;
    req->type = hdr.type;
    req->sector = hdr.sector;
    switch (hdr.type) {
    case VIRTIO_BLK_T_IN:
        req->data_len = c->writable_len - 1;
        break;
    case VIRTIO_BLK_T_OUT:
        if (read_only)
            return VIRTIO_BLK_S_IOERR;
        req->data_len = c->readable_len - sizeof(hdr);
        break;
    case VIRTIO_BLK_T_FLUSH:
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_GET_ID:
        req->data_len = c->writable_len - 1;
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        if (read_only)
            return VIRTIO_BLK_S_IOERR;
        struct {
            uint64_t sector;
            uint32_t num_sectors, flags;
        } seg;
        /* Exactly one segment: max_discard_seg and max_write_zeroes_seg say 1. */
        if (c->readable_len - sizeof(hdr) != sizeof(seg) ||
            virtq_chain_read(c, sizeof(hdr), &seg, sizeof(seg)) != sizeof(seg))
            return VIRTIO_BLK_S_IOERR;
        if ((seg.flags & ~1u) || (hdr.type == VIRTIO_BLK_T_DISCARD && seg.flags))
            return VIRTIO_BLK_S_UNSUPP;
        req->sector = seg.sector;
        req->data_len = (uint64_t)seg.num_sectors * SECTOR;
        break;
    }
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (req->data_len % SECTOR || !in_range(req->sector, req->data_len, capacity))
        return VIRTIO_BLK_S_IOERR;
    req->offset = req->sector * SECTOR;
    return VIRTIO_BLK_S_OK;
}

/* The iovecs for `len` bytes of the chain's data: after the header in the
 * readable part (writes), or before the status byte in the writable part
 * (reads). Returns the count, or -1 if more than SEG_MAX buffers. */
static int data_iov(const struct virtq_chain *c, bool writable, uint64_t skip, uint64_t len, struct iovec *iov)
{
    int n = 0;
    uint16_t first = writable ? c->nreadable : 0, end = writable ? c->nseg : c->nreadable;
    for (uint16_t i = first; i < end && len > 0; i++) {
        uint64_t l = c->seg[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t take = l - skip < len ? l - skip : len;
        if (n == SEG_MAX)
            return -1;
        iov[n++] = (struct iovec){.iov_base = c->seg[i].host + skip, .iov_len = take};
        len -= take;
        skip = 0;
    }
    return n;
}

/* --- doing requests ------------------------------------------------------------- */

/* Answers a request. A stale one (its queue reset since it was taken) is
 * dropped whole: its status byte too, as the driver owns that buffer again. */
static void complete(struct virtio_blk *blk, uint16_t head, uint32_t generation, uint8_t *status, uint8_t value,
                     uint32_t used_len)
{
    if (generation != blk->dev.vq[0].generation) {
        blk->dev.stats.stale_dropped++;
        return;
    }
    *status = value;
    if (value != VIRTIO_BLK_S_OK)
        blk->dev.stats.fail_count++;
    virtio_push(&blk->dev, 0, head, generation, used_len);
}

/* Discard and write-zeroes, synchronously: they are rare and metadata-only. */
static int zero_or_discard(struct virtio_blk *blk, const struct blk_request *r)
{
    uint64_t off = r->offset, len = r->data_len;
    if (len == 0)
        return 0;
    if (blk->is_block_device) {
        uint64_t range[2] = {off, len};
        return ioctl(blk->fd, r->type == VIRTIO_BLK_T_DISCARD ? BLKDISCARD : BLKZEROOUT, range);
    }
    int mode = r->type == VIRTIO_BLK_T_DISCARD ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE;
    if (fallocate(blk->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (r->type == VIRTIO_BLK_T_DISCARD)
        return 0; /* a discard is a hint: a file system without holes may ignore it */
    return fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

/* Without io_uring: the same operation, synchronously. Returns the result
 * an io_uring completion would have. */
static int64_t do_sync(struct virtio_blk *blk, uint32_t type, struct iovec *iov, int n, uint64_t off)
{
    ssize_t r;
    if (type == VIRTIO_BLK_T_FLUSH)
        return fdatasync(blk->fd) < 0 ? -errno : 0;
    int64_t total = 0;
    while (n > 0) {
        r = type == VIRTIO_BLK_T_IN ? preadv(blk->fd, iov, n, (off_t)off) : pwritev(blk->fd, iov, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : total;
        total += r;
        off += (uint64_t)r;
        while (n > 0 && (size_t)r >= iov->iov_len) { /* advance past what was done */
            r -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return total;
}

/* The status for a finished IN/OUT/FLUSH: `res` is what the host returned
 * (bytes, or -errno). A host error is logged and counted. A failed flush
 * makes every later flush fail (lost_writes): the write-back that failed is
 * reported once, and a later fdatasync would succeed over the lost data. A
 * write that fails at once is answered with the error itself. */
static uint8_t host_result(struct virtio_blk *blk, uint32_t type, int64_t res, int64_t expect)
{
    bool ok = res == expect;
    if (ok && !(type == VIRTIO_BLK_T_FLUSH && blk->lost_writes))
        return VIRTIO_BLK_S_OK;
    if (!ok) {
        blk->dev.stats.host_errors++;
        static const char *const what[] = {[VIRTIO_BLK_T_IN] = "read", [VIRTIO_BLK_T_OUT] = "write",
                                           [VIRTIO_BLK_T_FLUSH] = "flush"};
        char why[64];
        if (res < 0)
            snprintf(why, sizeof(why), "%s", strerror((int)-res));
        else
            snprintf(why, sizeof(why), "%lld of %lld bytes", (long long)res, (long long)expect);
        log_warn_ratelimited(&blk->log_host_errors, "%s: %s of %s failed: %s%s", blk->dev.name, what[type], blk->path,
                             why, type == VIRTIO_BLK_T_FLUSH ? "; written data may be lost, every later flush fails" : "");
        if (type == VIRTIO_BLK_T_FLUSH)
            blk->lost_writes = true;
    }
    return VIRTIO_BLK_S_IOERR;
}

/* Starts one parsed IN/OUT/FLUSH request in a free slot (the caller made
 * sure there is one); false if it completed at once. */
static bool submit(struct virtio_blk *blk, const struct virtq_chain *c, const struct blk_request *r)
{
    unsigned slot = blk->free_slot[blk->nfree - 1];
    struct inflight *s = &blk->slots[slot];
    s->type = r->type;
    s->head = c->head;
    s->generation = c->generation;
    s->status = r->status;
    int n = 0;
    if (r->type != VIRTIO_BLK_T_FLUSH) {
        n = data_iov(c, r->type == VIRTIO_BLK_T_IN, r->type == VIRTIO_BLK_T_OUT ? 16 : 0, r->data_len, s->iov);
        if (n < 0) {
            complete(blk, c->head, c->generation, r->status, VIRTIO_BLK_S_IOERR, 1);
            return false;
        }
    }
    s->expect = (int64_t)r->data_len;
    s->used_len = (uint32_t)(r->type == VIRTIO_BLK_T_IN ? r->data_len + 1 : 1);
    struct virtio_stats *st = &blk->dev.stats;
    if (r->type == VIRTIO_BLK_T_IN)
        st->in_count++, st->in_bytes += r->data_len;
    else if (r->type == VIRTIO_BLK_T_OUT)
        st->out_count++, st->out_bytes += r->data_len;
    else
        st->flush_count++;
    struct io_uring_sqe *sqe = blk->uring ? io_uring_get_sqe(&blk->ring) : NULL;
    if (!sqe) {
        int64_t res = do_sync(blk, r->type, s->iov, n, r->offset);
        complete(blk, c->head, c->generation, r->status, host_result(blk, r->type, res, s->expect), s->used_len);
        return false;
    }
    if (r->type == VIRTIO_BLK_T_IN)
        io_uring_prep_readv(sqe, blk->fd, s->iov, (unsigned)n, r->offset);
    else if (r->type == VIRTIO_BLK_T_OUT)
        io_uring_prep_writev(sqe, blk->fd, s->iov, (unsigned)n, r->offset);
    else
        io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, slot);
    s->busy = true;
    blk->nfree--;
    blk->inflight++;
    return true;
}

/* Returns false when the rate limiter put the request back (stop taking more). */
static bool handle(struct virtio_blk *blk, const struct virtq_chain *c, bool *queued)
{
    struct blk_request r;
    int st = blk_parse_request(c, blk->capacity, blk->read_only, &r);
    if (st < 0) {
        virtio_mark_broken(&blk->dev, "a request without room for its status byte");
        return true;
    }
    if (st != VIRTIO_BLK_S_OK) {
        complete(blk, c->head, c->generation, r.status, (uint8_t)st, 1);
        return true;
    }
    /* As in Firecracker: one operation per request, and the data of reads
     * and writes as bandwidth. Nothing has happened yet, so it can wait. */
    bool data = r.type == VIRTIO_BLK_T_IN || r.type == VIRTIO_BLK_T_OUT;
    if (!virtio_rate_limit(&blk->dev, 0, &blk->limiter, data ? r.data_len : 0, r.type == VIRTIO_BLK_T_IN, 1))
        return false;
    switch (r.type) {
    case VIRTIO_BLK_T_GET_ID: {
        size_t n = r.data_len < SERIAL_LEN ? (size_t)r.data_len : SERIAL_LEN;
        virtq_chain_write(c, 0, blk->serial, n);
        complete(blk, c->head, c->generation, r.status, VIRTIO_BLK_S_OK, (uint32_t)n + 1);
        return true;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        complete(blk, c->head, c->generation, r.status,
                 zero_or_discard(blk, &r) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, 1);
        return true;
    default:
        *queued |= submit(blk, c, &r);
        return true;
    }
}

static void reap(struct virtio_blk *blk, int wait_ms);

static void blk_kick(struct virtio_device *dev, int q)
{
    struct virtio_blk *blk = dev->impl;
    bool throttled = false;
    struct virtio_batch batch = {0};
    do {
        bool queued = false;
        virtq_suppress_notify(&dev->vq[q]);
        while (!throttled && !dev->broken) {
            if (blk->nfree == 0) { /* every slot in flight: a completion kicks again */
                blk->starved = true;
                break;
            }
            if (!virtio_batch_next(dev, q, &batch) || virtio_pop(dev, q, &blk->chain) != 1)
                break;
            throttled = !handle(blk, &blk->chain, &queued);
        }
        if (queued) {
            io_uring_submit(&blk->ring); /* one system call for the whole batch */
            /* Page-cache hits often complete inside the submit: return them
             * now rather than after another trip through the event loop. */
            reap(blk, 0);
        }
        virtio_flush_interrupt(dev, q);
    } while (!throttled && !blk->starved && !batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[q]));
}

void virtio_blk_set_rate_limiter(struct virtio_device *dev, const struct rate_limiter_config *cfg)
{
    struct virtio_blk *blk = dev->impl;
    virtio_update_rate_limiter(dev, &blk->limiter, cfg);
}

/* Lock held: takes finished io_uring requests back to the used ring (those
 * of a queue reset since are dropped by complete()). wait_ms: 0 takes what
 * has finished; > 0 waits up to that long for all of them (never longer:
 * the host's storage may hold a request for ever). */
static void reap(struct virtio_blk *blk, int wait_ms)
{
    struct io_uring_cqe *cqe;
    uint64_t deadline = clock_monotonic_ns() + (wait_ms > 0 ? (uint64_t)wait_ms * 1000000ULL : 0);
    while (blk->inflight > 0) {
        int r;
        if (wait_ms > 0) {
            uint64_t now = clock_monotonic_ns();
            if (now >= deadline)
                break;
            struct __kernel_timespec ts = {.tv_sec = (long long)((deadline - now) / 1000000000ULL),
                                           .tv_nsec = (long long)((deadline - now) % 1000000000ULL)};
            r = io_uring_wait_cqe_timeout(&blk->ring, &cqe, &ts);
        } else {
            r = io_uring_peek_cqe(&blk->ring, &cqe);
        }
        if (r == -EINTR)
            continue;
        if (r < 0)
            break;
        uint64_t slot = io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&blk->ring, cqe);
        if (slot >= SLOTS || !blk->slots[slot].busy)
            continue; /* not one of ours: cannot happen, but never index with it */
        struct inflight *s = &blk->slots[slot];
        complete(blk, s->head, s->generation, s->status,
                 host_result(blk, s->type, cqe->res, s->expect), s->used_len);
        s->busy = false;
        blk->free_slot[blk->nfree++] = (uint16_t)slot;
        blk->inflight--;
    }
    if (blk->starved && blk->nfree > 0) {
        blk->starved = false;
        virtio_notify_queue(&blk->dev, 0);
    }
}

static void on_completion(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_blk *blk = ctx;
    uint64_t v;
    if (read(blk->ring_efd, &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&blk->dev.lock);
    reap(blk, 0); /* orphans of a reset are reaped (and dropped) even while inactive */
    if (blk->dev.active)
        virtio_flush_interrupt(&blk->dev, 0);
    pthread_mutex_unlock(&blk->dev.lock);
}

/* A reset: requests in flight still write into guest memory, so give them a
 * bounded time to finish; the ones that do not are orphaned (their answers
 * dropped). The caller bumps the queue's generation after this. */
static void blk_queue_reset(struct virtio_device *dev, int q)
{
    (void)q;
    struct virtio_blk *blk = dev->impl;
    if (!blk->uring || !blk->inflight)
        return;
    reap(blk, RESET_DRAIN_MS);
    if (blk->inflight)
        log_warn_ratelimited(&blk->log_orphans,
                             "%s: reset with %u request(s) still in flight on the host after %d ms; their answers will "
                             "be dropped", dev->name, blk->inflight, RESET_DRAIN_MS);
}

static void blk_reset(struct virtio_device *dev)
{
    blk_queue_reset(dev, 0);
    ((struct virtio_blk *)dev->impl)->lost_writes = false; /* the guest starts over with this disk */
}

/* Pause: requests in flight still write guest memory; finish and answer
 * them, or fail the pause if the host's storage holds them longer. */
static int blk_quiesce(struct virtio_device *dev, int timeout_ms)
{
    struct virtio_blk *blk = dev->impl;
    if (!blk->uring || !blk->inflight)
        return 0;
    reap(blk, timeout_ms > 0 ? timeout_ms : 1);
    virtio_flush_interrupt(dev, 0);
    if (!blk->inflight)
        return 0;
    log_error("%s: %u request(s) still in flight on %s after %d ms; cannot pause", dev->name, blk->inflight, blk->path,
              timeout_ms);
    return -1;
}

static void blk_destroy(struct virtio_device *dev)
{
    struct virtio_blk *blk = dev->impl;
    if (blk->uring)
        io_uring_queue_exit(&blk->ring);
    if (blk->ring_efd >= 0)
        close(blk->ring_efd);
    if (blk->fd >= 0)
        close(blk->fd);
    free(blk->slots);
    free(blk);
}

static const struct virtio_device_ops blk_ops = {
    .kind = "blk", .device_id = VIRTIO_ID_BLOCK, .queue_kick = blk_kick, .reset = blk_reset,
    .queue_reset = blk_queue_reset, .quiesce = blk_quiesce, .destroy = blk_destroy,
};

/* --- creation ----------------------------------------------------------------------- */

/* An image's size in bytes: a block device's from the kernel, a file's from stat. */
static int image_bytes(int fd, const struct stat *st, uint64_t *bytes)
{
    if (S_ISBLK(st->st_mode))
        return ioctl(fd, BLKGETSIZE64, bytes);
    *bytes = (uint64_t)st->st_size;
    return 0;
}

static int open_image(struct virtio_blk *blk, const struct virtio_blk_config *cfg)
{
    const char *path = cfg->path;
    blk->fd = open(path, (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (blk->fd < 0) {
        int e = errno;
        if (!cfg->read_only && (e == EACCES || e == EROFS || e == EPERM))
            log_error("--disk %s: cannot open for writing: %s%s", path, strerror(e),
                      landlock_active() ? landlock_hint(e) : " (add ,ro for a read-only disk)");
        else
            log_error("--disk %s: cannot open: %s%s", path, strerror(e), landlock_hint(e));
        return -1;
    }
    struct stat st;
    if (fstat(blk->fd, &st) < 0) {
        log_error("--disk %s: cannot stat: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
        log_error("--disk %s: not a regular file or block device", path);
        return -1;
    }
    blk->is_block_device = S_ISBLK(st.st_mode);
    uint64_t bytes;
    if (image_bytes(blk->fd, &st, &bytes) < 0) {
        log_error("--disk %s: cannot read the block device's size: %s", path, strerror(errno));
        return -1;
    }
    /* Another VM writing this image (or reading it while we write) would
     * corrupt it: an OFD lock, released when ember exits however it exits. */
    struct flock fl = {.l_type = cfg->read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(blk->fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            log_error("--disk %s: in use: another process %s it (another VM?)", path,
                      cfg->read_only ? "is writing" : "has opened");
        else
            log_error("--disk %s: cannot lock: %s", path, strerror(errno));
        return -1;
    }
    blk->capacity = bytes / SECTOR;
    /* An empty image is a disk of no sectors, as in Firecracker: kata keeps
     * empty placeholders to hot-plug into later (PATCH /drives). */
    if (bytes % SECTOR)
        log_warn("--disk %s: the last %llu bytes (less than a sector) are not visible to the guest", path,
                 (unsigned long long)(bytes % SECTOR));
    return 0;
}


static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* The capacity and the discard/write-zeroes limits that follow from it. */
static void set_capacity_config(struct virtio_blk *blk)
{
    uint8_t *c = blk->dev.config;
    memcpy(c + 0, &blk->capacity, 8);
    uint32_t max_sectors = blk->capacity > UINT32_MAX ? UINT32_MAX : (uint32_t)blk->capacity;
    put32(c + 36, max_sectors); /* max_discard_sectors */
    put32(c + 48, max_sectors); /* max_write_zeroes_sectors */
}

int virtio_blk_replace_image(struct virtio_device *dev, const char *path)
{
    struct virtio_blk *blk = dev->impl;
    struct stat now, old;
    bool same = stat(path, &now) == 0 && fstat(blk->fd, &old) == 0 && now.st_dev == old.st_dev &&
                now.st_ino == old.st_ino;
    struct virtio_blk fresh = {.fd = -1};
    if (same) {
        /* The same image, perhaps resized: keep the descriptor and its lock. */
        uint64_t bytes;
        if (image_bytes(blk->fd, &now, &bytes) < 0) {
            log_error("%s: cannot read the block device's size: %s", path, strerror(errno));
            return -1;
        }
        fresh = (struct virtio_blk){.fd = blk->fd, .is_block_device = blk->is_block_device, .capacity = bytes / SECTOR};
    } else {
        struct virtio_blk_config cfg = {.path = path, .read_only = blk->read_only};
        if (open_image(&fresh, &cfg) < 0) {
            if (fresh.fd >= 0)
                close(fresh.fd);
            return -1;
        }
    }
    pthread_mutex_lock(&dev->lock);
    /* Requests in flight finish on the old image first, within a bound: the
     * API thread must not wait on the host's storage for ever. */
    if (blk->uring && blk->inflight) {
        reap(blk, REPLACE_DRAIN_MS);
        virtio_flush_interrupt(dev, 0);
        if (blk->inflight) {
            unsigned n = blk->inflight;
            pthread_mutex_unlock(&dev->lock);
            if (!same)
                close(fresh.fd);
            log_error("%s: %u request(s) still in flight on %s after %d ms; the disk stays on it", path, n, blk->path,
                      REPLACE_DRAIN_MS);
            return -1;
        }
    }
    if (!same)
        close(blk->fd); /* and with it, its lock */
    blk->fd = fresh.fd;
    blk->lost_writes = false; /* reopened: what failed is the old image's (or the guest's to redo) */
    blk->is_block_device = fresh.is_block_device;
    blk->capacity = fresh.capacity;
    snprintf(blk->path, sizeof(blk->path), "%s", path);
    set_capacity_config(blk);
    if (dev->status & VIRTIO_STATUS_DRIVER_OK)
        virtio_config_changed(dev); /* the guest re-reads the capacity */
    pthread_mutex_unlock(&dev->lock);
    log_info("%s: now on %s (%llu sectors)", dev->name, path, (unsigned long long)blk->capacity);
    return 0;
}

struct virtio_device *virtio_blk_create(const struct guest_memory *mem, const char *name,
                                        const struct virtio_blk_config *cfg)
{
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (!blk) {
        log_error("%s: out of memory", name);
        return NULL;
    }
    blk->fd = blk->ring_efd = -1;
    if (virtio_device_init(&blk->dev, &blk_ops, blk, name, mem, 1, VIRTQ_MAX_SIZE) < 0)
        goto fail;
    snprintf(blk->path, sizeof(blk->path), "%s", cfg->path);
    blk->read_only = cfg->read_only;
    rate_limiter_init(&blk->limiter, &cfg->limiter, clock_monotonic_ns());
    if (cfg->serial) /* not NUL-terminated at 20 bytes, as the spec says */
        memcpy(blk->serial, cfg->serial, strnlen(cfg->serial, SERIAL_LEN));
    if (open_image(blk, cfg) < 0)
        goto fail;
    blk->slots = calloc(SLOTS, sizeof(*blk->slots));
    if (!blk->slots) {
        log_error("%s: out of memory", name);
        goto fail;
    }
    for (unsigned i = 0; i < SLOTS; i++)
        blk->free_slot[i] = (uint16_t)(SLOTS - 1 - i);
    blk->nfree = SLOTS;
    /* io_uring when asked for or, by default, when the host has it; else
     * synchronous I/O on this device's thread. uring_err: 0 once set up,
     * -1 when not asked for, else the errno io_uring failed with. */
    int uring_err = cfg->io_engine == BLK_IO_SYNC ? -1 : -io_uring_queue_init(VIRTQ_MAX_SIZE, &blk->ring, 0);
    if (cfg->io_engine == BLK_IO_ASYNC && uring_err) {
        log_error("%s: io_engine Async needs io_uring, which this host refuses: %s", cfg->path, strerror(uring_err));
        goto fail;
    }
    if (uring_err == 0) {
        blk->uring = true;
        blk->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (blk->ring_efd < 0 || io_uring_register_eventfd(&blk->ring, blk->ring_efd) < 0 ||
            event_loop_add(&blk->dev.loop, blk->ring_efd, EPOLLIN, on_completion, blk) < 0) {
            log_error("%s: cannot wire io_uring completions: %s", name, strerror(errno));
            goto fail;
        }
    } else if (cfg->io_engine == BLK_IO_AUTO) {
        log_info("%s: io_uring unavailable; synchronous I/O on the device thread", name);
    }

    struct virtio_device *dev = &blk->dev;
    dev->host_features |= (1ULL << F_SEG_MAX) | (1ULL << F_BLK_SIZE) | (1ULL << F_FLUSH) | (1ULL << F_DISCARD) |
                          (1ULL << F_WRITE_ZEROES) | (blk->read_only ? 1ULL << F_RO : 0);
    uint8_t *c = dev->config;
    set_capacity_config(blk);
    put32(c + 12, SEG_MAX);
    put32(c + 20, SECTOR);
    put32(c + 40, 1);           /* max_discard_seg */
    put32(c + 44, 8);           /* discard_sector_alignment: 4 KiB */
    put32(c + 52, 1);           /* max_write_zeroes_seg */
    c[56] = 1;                  /* write_zeroes_may_unmap */
    dev->config_len = 60;
    return dev;
fail:
    virtio_device_destroy(&blk->dev); /* frees blk */
    return NULL;
}
