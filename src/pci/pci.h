/* A PCI bus for ember's devices: bus 0 behind a host bridge (00:00.0),
 * configuration space through the classic mechanism #1 ports (0xCF8 address,
 * 0xCFC data), and memory BARs inside one MMIO window the bus owns and
 * dispatches itself, so the guest may move a BAR while vCPUs run. Each
 * device is one function with a type-0 header, a capability list the device
 * fills, and up to six memory BARs. Only what a guest may change is
 * writable: the command register, the interrupt line, BAR addresses (sized
 * the usual way: write all-ones, read back the size mask), and capability
 * bytes the device accepts. */
#ifndef EMBER_PCI_PCI_H
#define EMBER_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define PCI_MAX_DEVICES 32
#define PCI_CFG_SIZE 256

/* Config space offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_STATUS_INTERRUPT 0x08

struct pci_device;

struct pci_device_ops {
    /* An access inside memory BAR `bar` (offset from its start). */
    void (*bar_read)(struct pci_device *dev, int bar, uint64_t offset, uint8_t *data, uint32_t size);
    void (*bar_write)(struct pci_device *dev, int bar, uint64_t offset, const uint8_t *data, uint32_t size);
    /* The BAR now decodes at `addr` (0: not decoded: memory disabled). */
    void (*bar_moved)(struct pci_device *dev, int bar, uint64_t addr);
    /* A config write at or past 0x40 (capabilities): the device applies it. */
    void (*cap_write)(struct pci_device *dev, uint32_t offset, const uint8_t *data, uint32_t size);
};

struct pci_device {
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t cap_next;            /* where the next capability goes */
    uint64_t bar_size[6];        /* 0: no BAR; a 64-bit BAR uses two slots */
    bool bar_64[6];
    uint64_t bar_addr[6];        /* what the guest programmed */
    bool sizing[6][2];           /* all-ones written to the low / high dword */
    uint64_t bar_decoded[6];     /* where it decodes now (0: nowhere) */
    const struct pci_device_ops *ops;
    void *opaque;
    int slot;
};

struct pci_bus {
    pthread_mutex_t lock;
    uint32_t config_address;
    struct pci_device *devices[PCI_MAX_DEVICES];
    struct pci_device host_bridge;
    uint64_t window_base, window_size, window_next;
    struct bus_range port_cf9;   /* the PC's reset control byte inside 0xCF8-0xCFB */
};

/* Sets up bus 0 with its host bridge; registers 0xCF8/0xCFC and the MMIO
 * window [base, base+size) on the buses. */
int pci_bus_init(struct pci_bus *bus, struct io_bus *pio, struct io_bus *mmio, uint64_t base, uint64_t size);
void pci_bus_destroy(struct pci_bus *bus);

/* A device's identity; then BARs and capabilities; then pci_bus_add. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision,
                     const struct pci_device_ops *ops, void *opaque);
/* A 64-bit prefetchable-free memory BAR of `size` bytes (a power of two). */
void pci_device_add_bar64(struct pci_device *dev, int bar, uint64_t size);
/* Appends a capability of `len` bytes (id and next pointer are filled in);
 * returns its offset in config space. */
uint8_t pci_device_add_cap(struct pci_device *dev, const uint8_t *body, uint8_t len);
/* Puts the device in the first free slot and assigns its BARs inside the
 * window (the guest may move them). Returns the slot, or -1. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev);

/* The raw configuration access, as the 0xCFC port does it (for tests). */
uint32_t pci_config_read(struct pci_bus *bus, uint8_t slot, uint8_t offset, uint32_t size);
void pci_config_write(struct pci_bus *bus, uint8_t slot, uint8_t offset, uint32_t value, uint32_t size);

#endif
