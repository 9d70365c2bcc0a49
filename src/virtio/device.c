#include "virtio/device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "security/seccomp.h"
#include "util/log.h"

#define BIT(n) (1ULL << (n))

static void on_kick(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_kick *k = ctx;
    struct virtio_device *dev = k->dev;
    uint64_t v;
    if (read(dev->kick_fd[k->q], &v, sizeof(v)) != (ssize_t)sizeof(v))
        return;
    pthread_mutex_lock(&dev->lock);
    dev->stats.kicks++;
    if (dev->active && !dev->broken && dev->vq[k->q].enabled)
        dev->ops->queue_kick(dev, k->q);
    pthread_mutex_unlock(&dev->lock);
}

/* The throttle timer: every queue a limiter held back gets its turn again. */
static void on_throttle_timer(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_device *dev = ctx;
    uint64_t expirations;
    if (read(dev->throttle_fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
        return;
    pthread_mutex_lock(&dev->lock);
    uint32_t queues = dev->throttled;
    dev->throttled = 0;
    dev->throttle_deadline_ns = 0;
    for (int q = 0; q < dev->num_queues; q++)
        if ((queues & (1u << q)) && dev->active && !dev->broken && dev->vq[q].enabled)
            dev->ops->queue_kick(dev, q);
    pthread_mutex_unlock(&dev->lock);
}

static void arm_throttle_timer(struct virtio_device *dev, uint64_t deadline_ns)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
                                          .tv_nsec = (long)(deadline_ns % 1000000000ULL)}};
    if (timerfd_settime(dev->throttle_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        log_warn("%s: cannot arm the rate limiter's timer: %s", dev->name, strerror(errno));
    dev->throttle_deadline_ns = deadline_ns;
}

/* A rate limiter holds queue q back for `wait_ns` (lock held): its
 * queue_kick runs again once the wait is over. Kicks meanwhile are absorbed
 * by the device checking its limiter first. */
static void throttle(struct virtio_device *dev, int q, uint64_t wait_ns)
{
    uint64_t deadline = clock_monotonic_ns() + (wait_ns ? wait_ns : 1);
    dev->throttled |= 1u << q;
    /* One timer for the device: the earliest deadline wins; a queue whose
     * wait is longer simply checks its limiter again and re-arms. */
    if (!dev->throttle_deadline_ns || deadline < dev->throttle_deadline_ns)
        arm_throttle_timer(dev, deadline);
}

bool virtio_rate_limit(struct virtio_device *dev, int q, struct rate_limiter *rl, uint64_t bytes, bool in,
                       uint16_t popped)
{
    if (!rate_limiter_active(rl))
        return true;
    uint64_t wait = rate_limiter_consume(rl, 1, bytes, clock_monotonic_ns());
    if (!wait)
        return true;
    if (popped)
        virtq_unpop(&dev->vq[q], popped);
    if (in)
        dev->stats.in_throttled++;
    else
        dev->stats.out_throttled++;
    throttle(dev, q, wait);
    return false;
}

void virtio_update_rate_limiter(struct virtio_device *dev, struct rate_limiter *rl,
                                const struct rate_limiter_config *cfg)
{
    pthread_mutex_lock(&dev->lock);
    rate_limiter_update(rl, cfg, clock_monotonic_ns());
    pthread_mutex_unlock(&dev->lock);
    /* A looser limit may let waiting requests go now. */
    for (int q = 0; q < dev->num_queues; q++)
        virtio_notify_queue(dev, (uint16_t)q);
}

int virtio_device_init(struct virtio_device *dev, const struct virtio_device_ops *ops, void *impl, const char *name,
                       const struct guest_memory *mem, uint16_t num_queues, uint16_t queue_max)
{
    memset(dev, 0, sizeof(*dev));
    for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
        dev->kick_fd[q] = -1;
    dev->loop.epoll_fd = dev->loop.stop_fd = dev->loop.hold_fd = -1;
    dev->throttle_fd = -1;
    /* From here on virtio_device_destroy() undoes whatever was done, and
     * frees the concrete device through ops->destroy. */
    dev->ops = ops;
    dev->impl = impl;
    dev->mem = mem;
    snprintf(dev->name, sizeof(dev->name), "%s", name);
    pthread_mutex_init(&dev->lock, NULL);
    if (num_queues == 0 || num_queues > VIRTIO_MAX_QUEUES) {
        log_error("%s: unsupported queue count %u", name, num_queues);
        return -1;
    }
    dev->num_queues = num_queues;
    dev->queue_max = queue_max;
    dev->host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC);
    for (int q = 0; q < num_queues; q++)
        virtq_reset(&dev->vq[q], queue_max);
    if (event_loop_init(&dev->loop, name) < 0)
        return -1;
    dev->throttle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (dev->throttle_fd < 0) {
        log_error("%s: timerfd: %s", name, strerror(errno));
        return -1;
    }
    if (event_loop_add(&dev->loop, dev->throttle_fd, EPOLLIN, on_throttle_timer, dev) < 0)
        return -1;
    for (int q = 0; q < num_queues; q++) {
        dev->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (dev->kick_fd[q] < 0) {
            log_error("%s: eventfd: %s", name, strerror(errno));
            return -1;
        }
        dev->kick[q] = (struct virtio_kick){.dev = dev, .q = q};
        if (event_loop_add(&dev->loop, dev->kick_fd[q], EPOLLIN, on_kick, &dev->kick[q]) < 0)
            return -1;
    }
    return 0;
}

/* The device's I/O thread confines itself before its first kick: the
 * allowlist of its kind (a blk thread submits io_uring work, a net thread
 * reads and writes its tap, ...). */
static void confine_io_thread(void *ctx)
{
    const struct virtio_device *dev = ctx;
    enum thread_kind kind;
    switch (dev->ops->device_id) {
    case VIRTIO_ID_BLOCK: kind = THREAD_BLK; break;
    case VIRTIO_ID_NET: kind = THREAD_NET; break;
    case VIRTIO_ID_RNG: kind = THREAD_RNG; break;
    case VIRTIO_ID_CONSOLE: kind = THREAD_VIRTIO_CONSOLE; break;
    case VIRTIO_ID_VSOCK: kind = THREAD_VSOCK; break;
    case VIRTIO_ID_BALLOON: kind = THREAD_BALLOON; break;
    default: kind = THREAD_VMM; break; /* a device without its own list yet: the broadest */
    }
    seccomp_confine_thread(kind);
}

int virtio_device_start(struct virtio_device *dev)
{
    event_loop_on_thread_start(&dev->loop, confine_io_thread, dev);
    return event_loop_start(&dev->loop);
}

void virtio_device_stop(struct virtio_device *dev) { event_loop_stop(&dev->loop); }

int virtio_device_pause(struct virtio_device *dev, int timeout_ms)
{
    /* The I/O thread is held, not ended: a thread that ends waits in the
     * kernel for its io_uring requests, which would make the pause wait on
     * the host's storage without bound. */
    uint64_t start = clock_monotonic_ns();
    if (event_loop_hold(&dev->loop, timeout_ms) < 0) {
        log_error("%s: its I/O thread did not stop within %d ms; cannot pause", dev->name, timeout_ms);
        return -1;
    }
    int left_ms = timeout_ms - (int)((clock_monotonic_ns() - start) / 1000000ULL);
    pthread_mutex_lock(&dev->lock);
    dev->paused = true;
    int r = dev->ops->quiesce && dev->active ? dev->ops->quiesce(dev, left_ms > 0 ? left_ms : 0) : 0;
    pthread_mutex_unlock(&dev->lock);
    if (r < 0)
        virtio_device_resume(dev);
    return r;
}

void virtio_device_resume(struct virtio_device *dev)
{
    pthread_mutex_lock(&dev->lock);
    dev->paused = false;
    pthread_mutex_unlock(&dev->lock);
    event_loop_release(&dev->loop);
    /* Look at every queue once: work offered during the pause, and host
     * input that was held back, go on from there. */
    for (int q = 0; q < dev->num_queues; q++)
        virtio_notify_queue(dev, (uint16_t)q);
}

struct virtio_stats virtio_device_stats(struct virtio_device *dev)
{
    pthread_mutex_lock(&dev->lock);
    struct virtio_stats s = dev->stats;
    pthread_mutex_unlock(&dev->lock);
    return s;
}

/* Lock held. Back to the state after power-on. */
static void reset_locked(struct virtio_device *dev)
{
    if (dev->ops->reset)
        dev->ops->reset(dev);
    dev->status = 0;
    dev->guest_features = 0;
    dev->active = dev->broken = false;
    dev->throttled = 0; /* the timer may still fire; it then finds nothing to do */
    for (int q = 0; q < dev->num_queues; q++)
        virtq_reset(&dev->vq[q], dev->queue_max);
}

void virtio_device_destroy(struct virtio_device *dev)
{
    if (!dev->ops)
        return;
    event_loop_stop(&dev->loop);
    pthread_mutex_lock(&dev->lock);
    reset_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    event_loop_destroy(&dev->loop);
    for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (dev->kick_fd[q] >= 0)
            close(dev->kick_fd[q]);
    if (dev->throttle_fd >= 0)
        close(dev->throttle_fd);
    pthread_mutex_destroy(&dev->lock);
    /* Last: the concrete device usually embeds `dev` and frees it. */
    const struct virtio_device_ops *ops = dev->ops;
    dev->ops = NULL;
    if (ops->destroy)
        ops->destroy(dev);
}

uint32_t virtio_get_host_features(struct virtio_device *dev, uint32_t select)
{
    return select < 2 ? (uint32_t)(dev->host_features >> (32 * select)) : 0;
}

void virtio_set_guest_features(struct virtio_device *dev, uint32_t select, uint32_t value)
{
    if (select >= 2)
        return;
    pthread_mutex_lock(&dev->lock);
    /* Features may only be written before FEATURES_OK. */
    if (!(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t mask = 0xffffffffULL << (32 * select);
        dev->guest_features = (dev->guest_features & ~mask) | ((uint64_t)value << (32 * select));
    }
    pthread_mutex_unlock(&dev->lock);
}

uint8_t virtio_get_status(struct virtio_device *dev)
{
    pthread_mutex_lock(&dev->lock);
    uint8_t s = dev->status;
    pthread_mutex_unlock(&dev->lock);
    return s;
}

/* Lock held: the driver asked for DRIVER_OK. */
static void activate_locked(struct virtio_device *dev)
{
    bool event_idx = dev->guest_features & BIT(VIRTIO_F_EVENT_IDX);
    bool indirect = dev->guest_features & BIT(VIRTIO_F_INDIRECT_DESC);
    for (int q = 0; q < dev->num_queues; q++) {
        struct virtq *vq = &dev->vq[q];
        vq->event_idx = event_idx;
        vq->indirect = indirect;
        const char *why;
        if (vq->ready && !vq->enabled && virtq_enable(vq, dev->mem, &why) < 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "queue %d: %s", q, why);
            virtio_mark_broken(dev, msg);
            return;
        }
    }
    if (dev->ops->activate && dev->ops->activate(dev) < 0) {
        virtio_mark_broken(dev, "the device could not start");
        return;
    }
    dev->active = true;
    /* Buffers may already be waiting: look once without a kick. */
    for (int q = 0; q < dev->num_queues; q++)
        if (dev->vq[q].enabled) {
            uint64_t one = 1;
            ssize_t r = write(dev->kick_fd[q], &one, sizeof(one));
            (void)r;
        }
}

void virtio_set_status(struct virtio_device *dev, uint8_t status)
{
    pthread_mutex_lock(&dev->lock);
    if (status == 0) {
        reset_locked(dev);
        pthread_mutex_unlock(&dev->lock);
        return;
    }
    uint8_t old = dev->status;
    /* The driver only ever adds bits (3.1.1); NEEDS_RESET is the device's.
     * A write that clears one is ignored: clearing DRIVER_OK and setting it
     * again must not re-activate the device over queues changed meanwhile. */
    uint8_t drivers = (uint8_t)(old & ~VIRTIO_STATUS_NEEDS_RESET);
    if ((status & drivers) != drivers) {
        log_warn_ratelimited(&dev->log_status, "%s: the driver cleared status bits (0x%02x -> 0x%02x) without a reset; ignored",
                             dev->name, old, status);
        pthread_mutex_unlock(&dev->lock);
        return;
    }
    if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        /* Accepted only if the driver took a subset of what was offered,
         * with VERSION_1 (ember offers no legacy interface), and before
         * DRIVER_OK. */
        uint64_t f = dev->guest_features;
        if ((f & ~dev->host_features) || !(f & BIT(VIRTIO_F_VERSION_1)) || (old & VIRTIO_STATUS_DRIVER_OK))
            status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    }
    dev->status = (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
    if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && !dev->broken) {
        if (!(dev->status & VIRTIO_STATUS_FEATURES_OK))
            virtio_mark_broken(dev, "DRIVER_OK without FEATURES_OK");
        else
            activate_locked(dev);
    }
    pthread_mutex_unlock(&dev->lock);
}

/* Lock held: queue q forgets its rings; chains still held become stale. */
static void queue_reset_locked(struct virtio_device *dev, int q)
{
    if (dev->ops->queue_reset && dev->vq[q].enabled)
        dev->ops->queue_reset(dev, q);
    virtq_reset(&dev->vq[q], dev->queue_max);
}

void virtio_queue_write(struct virtio_device *dev, uint16_t q, enum virtio_queue_reg reg, bool high, uint32_t value)
{
    if (q >= dev->num_queues)
        return;
    pthread_mutex_lock(&dev->lock);
    struct virtq *vq = &dev->vq[q];
    if (reg == VIRTIO_QUEUE_READY && !(value & 1)) {
        if (vq->ready)
            queue_reset_locked(dev, q);
        pthread_mutex_unlock(&dev->lock);
        return;
    }
    /* Set-up time: features agreed, the device not yet live, the queue off. */
    bool setup = (dev->status & VIRTIO_STATUS_FEATURES_OK) && !(dev->status & VIRTIO_STATUS_DRIVER_OK) &&
                 !dev->broken && !vq->ready;
    if (!setup) {
        static const char *const names[] = {"size", "ready", "descriptor address", "driver area address",
                                            "device area address"};
        log_warn_ratelimited(&dev->log_queue, "%s: queue %u's %s written outside set-up (status 0x%02x%s); ignored",
                             dev->name, q, names[reg], dev->status, vq->ready ? ", queue ready" : "");
        pthread_mutex_unlock(&dev->lock);
        return;
    }
    uint64_t *addr = NULL;
    switch (reg) {
    case VIRTIO_QUEUE_SIZE: vq->size = (uint16_t)(value > 0xffff ? 0 : value); break;
    case VIRTIO_QUEUE_READY: vq->ready = true; break;
    case VIRTIO_QUEUE_DESC: addr = &vq->desc_gpa; break;
    case VIRTIO_QUEUE_AVAIL: addr = &vq->avail_gpa; break;
    case VIRTIO_QUEUE_USED: addr = &vq->used_gpa; break;
    }
    if (addr) {
        unsigned shift = high ? 32 : 0;
        *addr = (*addr & ~(0xffffffffULL << shift)) | ((uint64_t)value << shift);
    }
    pthread_mutex_unlock(&dev->lock);
}

void virtio_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    pthread_mutex_lock(&dev->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset + i < dev->config_len ? dev->config[offset + i] : 0;
    pthread_mutex_unlock(&dev->lock);
}

void virtio_config_write(struct virtio_device *dev, uint32_t offset, const uint8_t *data, uint32_t len)
{
    pthread_mutex_lock(&dev->lock);
    if (dev->ops->config_write && offset < dev->config_len && len <= dev->config_len - offset)
        dev->ops->config_write(dev, offset, data, len);
    pthread_mutex_unlock(&dev->lock);
}

void virtio_notify_queue(struct virtio_device *dev, uint16_t q)
{
    if (q >= dev->num_queues)
        return;
    uint64_t one = 1;
    ssize_t r = write(dev->kick_fd[q], &one, sizeof(one));
    (void)r;
}

bool virtio_batch_next(struct virtio_device *dev, int q, struct virtio_batch *b)
{
    if (b->taken < VIRTIO_BATCH) {
        b->taken++;
        return true;
    }
    if (!b->spent) {
        b->spent = true;
        virtio_notify_queue(dev, (uint16_t)q);
    }
    return false;
}

void virtio_mark_broken(struct virtio_device *dev, const char *why)
{
    if (dev->broken)
        return;
    dev->broken = true;
    dev->stats.broken++;
    dev->status |= VIRTIO_STATUS_NEEDS_RESET;
    log_warn_ratelimited(&dev->log_broken, "%s: the driver broke the device's rules (%s); it needs a reset", dev->name,
                         why);
    if (dev->status & VIRTIO_STATUS_DRIVER_OK)
        virtio_config_changed(dev);
}

void virtio_config_changed(struct virtio_device *dev)
{
    dev->config_generation++;
    if (dev->transport.interrupt)
        dev->transport.interrupt(dev, -1);
}

int virtio_pop(struct virtio_device *dev, int q, struct virtq_chain *c)
{
    if (dev->broken)
        return -1;
    const char *why = "";
    int r = virtq_pop(&dev->vq[q], dev->mem, c, &why);
    if (r < 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "queue %d: %s", q, why);
        virtio_mark_broken(dev, msg);
    }
    return r;
}

void virtio_push(struct virtio_device *dev, int q, uint16_t head, uint32_t generation, uint32_t written)
{
    if (!virtq_push(&dev->vq[q], head, generation, written))
        dev->stats.stale_dropped++;
}

void virtio_flush_interrupt(struct virtio_device *dev, int q)
{
    if (virtq_should_interrupt(&dev->vq[q]) && dev->transport.interrupt) {
        dev->stats.interrupts++;
        dev->transport.interrupt(dev, q);
    }
}
