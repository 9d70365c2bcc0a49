/* virtio-rng: entropy for the guest from the host's getrandom(). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "virtio/device.h"

struct virtio_device *virtio_rng_create(const struct guest_memory *mem, const char *name);

#endif
