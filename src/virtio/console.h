/* virtio-console: a single port wired to ember's console back-end, as an
 * alternative to COM1 (Linux: console=hvc0). */
#ifndef EMBER_VIRTIO_CONSOLE_H
#define EMBER_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/device.h"

struct virtio_console_backend {
    void (*write)(void *ctx, const uint8_t *buf, size_t len); /* guest output */
    void (*rx_space)(void *ctx);                              /* the guest can take input again */
    void *ctx;
};

struct virtio_device *virtio_console_create(const struct guest_memory *mem, const char *name,
                                            const struct virtio_console_backend *be);
/* Input for the guest: returns how many bytes its receive buffers took. */
size_t virtio_console_receive(struct virtio_device *dev, const uint8_t *buf, size_t len);

#endif
