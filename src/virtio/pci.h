/* The virtio-pci transport, modern interface only (virtio 1.x 4.1): a PCI
 * function (vendor 0x1af4, device 0x1040 + the virtio id) whose one 64-bit
 * memory BAR holds the common configuration, the ISR byte, the device
 * configuration, the queue notification registers and the MSI-X table, each
 * announced by a vendor-specific capability. Interrupts are MSI-X messages
 * (one vector per queue plus one for configuration changes) sent as MSIs
 * through the irqchip mode's route; with MSI-X off, a level-triggered INTx
 * line that a read of the ISR byte lowers. Queue notifications are
 * ioeventfds on the notify registers, moved with the BAR. */
#ifndef EMBER_VIRTIO_PCI_H
#define EMBER_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "irq/irq.h"
#include "pci/pci.h"
#include "virtio/device.h"

#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

struct virtio_pci {
    struct pci_device pci;
    struct virtio_device *dev;
    struct irq_chip *irq;
    int vm_fd;
    uint32_t gsi;                     /* INTx */
    pthread_mutex_t lock;             /* transport registers and MSI-X state; inside the device lock (virtio/device.h) */
    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
    uint16_t msix_config;
    uint16_t queue_vector[VIRTIO_MAX_QUEUES];
    uint8_t isr;
    uint8_t msix_cap;                 /* config-space offset of the MSI-X capability */
    uint8_t table[VIRTIO_PCI_MAX_VECTORS][16];
    uint64_t pending;                 /* PBA: vectors raised while masked */
    bool intx_high;
    uint64_t notify_base;             /* where the ioeventfds are (0: none) */
    bool ioeventfd_any_length;
};

int virtio_pci_attach(struct virtio_pci *t, struct virtio_device *dev, int vm_fd, struct pci_bus *bus,
                      struct irq_chip *irq, uint32_t gsi);
void virtio_pci_detach(struct virtio_pci *t);

#endif
