/* virtio-rng (entropy device, virtio 1.x 5.4): one queue; every buffer the
 * driver offers is filled from the host's getrandom(). */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util/clock.h"
#include "util/log.h"

struct virtio_rng {
    struct virtio_device dev;
    struct virtq_chain chain;
    struct rate_limiter limiter; /* bytes and requests handed to the guest */
};

/* The most one request gets, as in Firecracker: a chain of 256 buffers that
 * each alias all of guest RAM must not cost the host 256 x RAM of work. */
#define RNG_MAX_PER_REQUEST (64 * 1024)

/* Fills the writable part of a chain, up to RNG_MAX_PER_REQUEST; returns the
 * bytes written. */
static uint32_t fill(struct virtq_chain *c)
{
    uint64_t done = 0;
    for (uint16_t i = c->nreadable; i < c->nseg && done < RNG_MAX_PER_REQUEST; i++) {
        uint8_t *p = c->seg[i].host;
        size_t left = c->seg[i].len < RNG_MAX_PER_REQUEST - done ? c->seg[i].len : RNG_MAX_PER_REQUEST - done;
        while (left > 0) {
            ssize_t n = getrandom(p, left, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return (uint32_t)done; /* give what we have */
            }
            p += n;
            left -= (size_t)n;
            done += (uint64_t)n;
        }
    }
    return (uint32_t)done;
}

static void rng_kick(struct virtio_device *dev, int q)
{
    struct virtio_rng *rng = dev->impl;
    struct virtio_batch batch = {0};
    do {
        virtq_suppress_notify(&dev->vq[q]);
        while (virtio_batch_next(dev, q, &batch) && virtio_pop(dev, q, &rng->chain) == 1) {
            uint64_t want = rng->chain.writable_len < RNG_MAX_PER_REQUEST ? rng->chain.writable_len : RNG_MAX_PER_REQUEST;
            if (!virtio_rate_limit(dev, q, &rng->limiter, want, true, 1)) {
                virtio_flush_interrupt(dev, q);
                return; /* the throttle timer calls again */
            }
            uint32_t n = fill(&rng->chain);
            dev->stats.in_count++;
            dev->stats.in_bytes += n;
            virtio_push(dev, q, rng->chain.head, rng->chain.generation, n);
        }
        virtio_flush_interrupt(dev, q);
    } while (!batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[q]));
}

static void rng_destroy(struct virtio_device *dev) { free(dev->impl); }

static const struct virtio_device_ops rng_ops = {
    .kind = "rng", .device_id = VIRTIO_ID_RNG, .queue_kick = rng_kick, .destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(const struct guest_memory *mem, const char *name,
                                        const struct rate_limiter_config *limiter)
{
    struct virtio_rng *rng = calloc(1, sizeof(*rng));
    if (!rng) {
        log_error("%s: out of memory", name);
        return NULL;
    }
    if (virtio_device_init(&rng->dev, &rng_ops, rng, name, mem, 1, VIRTQ_MAX_SIZE) < 0) {
        virtio_device_destroy(&rng->dev); /* frees rng */
        return NULL;
    }
    if (limiter)
        rate_limiter_init(&rng->limiter, limiter, clock_monotonic_ns());
    return &rng->dev;
}
