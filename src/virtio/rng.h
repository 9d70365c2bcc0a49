/* virtio-rng: entropy for the guest from the host's getrandom(). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "virtio/device.h"

/* limiter: NULL or all zero for none (Firecracker's entropy rate_limiter,
 * which no PATCH changes). */
struct virtio_device *virtio_rng_create(const struct guest_memory *mem, const char *name,
                                        const struct rate_limiter_config *limiter);

#endif
