/* The virtio-mmio transport, version 2 (virtio 1.x, 4.2): one 4 KiB register
 * window per device on the MMIO bus, a GSI for its interrupt, and the queue
 * notification register wired to the device's eventfds with KVM_IOEVENTFD.
 * Linux finds such devices on its command line (virtio_mmio.device=), which
 * ember writes for it. */
#ifndef EMBER_VIRTIO_MMIO_H
#define EMBER_VIRTIO_MMIO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/io_bus.h"
#include "irq/irq.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_SIZE 0x1000

struct virtio_mmio {
    struct virtio_device *dev;
    uint64_t base;
    uint32_t gsi;
    pthread_mutex_t lock;               /* the selector registers; outside the device lock (virtio/device.h) */
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t interrupt_status;          /* bit 0 used buffer, bit 1 config change */
    struct irq_event irq;
    int ioeventfds;                     /* queues whose notifications bypass ember */
};

int virtio_mmio_attach(struct virtio_mmio *t, struct virtio_device *dev, int vm_fd, struct io_bus *mmio,
                       struct irq_chip *irq, uint64_t base, uint32_t gsi);
void virtio_mmio_detach(struct virtio_mmio *t);
/* "virtio_mmio.device=4K@0xd0000000:5" for the guest's command line. */
int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t len);

#endif
