/* virtio-rng: entropy for the guest from the host's getrandom(). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "virtio/device.h"

/* limiter: NULL or all zero for none. */
struct virtio_device *virtio_rng_create(const struct guest_memory *mem, const char *name,
                                        const struct rate_limiter_config *limiter);
/* Sets or changes the rate limit (Firecracker's entropy rate_limiter); the
 * device starts unlimited. */
void virtio_rng_set_rate_limiter(struct virtio_device *dev, const struct rate_limiter_config *cfg);

#endif
