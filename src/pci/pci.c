#include "pci/pci.h"

#include <string.h>

#include "util/log.h"

#define CONFIG_ENABLE 0x80000000u

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision,
                     const struct pci_device_ops *ops, void *opaque)
{
    memset(dev, 0, sizeof(*dev));
    put16(dev->cfg + PCI_VENDOR_ID, vendor);
    put16(dev->cfg + PCI_DEVICE_ID, device);
    dev->cfg[PCI_REVISION] = revision;
    dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    dev->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
    dev->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
    put16(dev->cfg + PCI_SUBSYSTEM_VENDOR, subsys_vendor);
    put16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
    dev->cap_next = 0x40;
    dev->ops = ops;
    dev->opaque = opaque;
    dev->slot = -1;
}

void pci_device_add_bar64(struct pci_device *dev, int bar, uint64_t size)
{
    dev->bar_size[bar] = size;
    dev->bar_64[bar] = true;
}

uint8_t pci_device_add_cap(struct pci_device *dev, const uint8_t *body, uint8_t len)
{
    uint8_t off = dev->cap_next;
    memcpy(dev->cfg + off, body, len);
    dev->cfg[off + 1] = dev->cfg[PCI_CAP_PTR]; /* push on the front of the list */
    dev->cfg[PCI_CAP_PTR] = off;
    put16(dev->cfg + PCI_STATUS, get16(dev->cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
    dev->cap_next = (uint8_t)((off + len + 3) & ~3);
    return off;
}

/* Where BAR b of dev asks to decode: memory space on, not being sized, an
 * address set and the whole BAR inside the bus's window (the window is
 * where the PCI hole has nothing else: not RAM, not the IOAPIC or LAPIC
 * pages). 0: nowhere. */
static uint64_t wanted_at(const struct pci_bus *bus, const struct pci_device *dev, int b)
{
    bool mem = get16(dev->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY;
    uint64_t at = dev->bar_addr[b], size = dev->bar_size[b];
    if (!mem || dev->sizing[b][0] || dev->sizing[b][1] || !at)
        return 0;
    if (at < bus->window_base || at - bus->window_base > bus->window_size ||
        size > bus->window_base + bus->window_size - at)
        return 0;
    return at;
}

/* Bus lock held: recompute where every BAR decodes and tell the devices
 * whose BARs changed. A BAR the guest moved over another one decodes nothing
 * until it is moved to a free place; the one already there keeps decoding.
 * So a guest cannot make one device's registers (or its ioeventfds) shadow
 * another's. */
static void update_decoding(struct pci_bus *bus)
{
    uint64_t next[PCI_MAX_DEVICES][6] = {{0}};
    /* Pass 1: BARs that stay where they decode keep their place (they did
     * not overlap before, so they do not now). */
    for (int s = 0; s < PCI_MAX_DEVICES; s++)
        for (int b = 0; bus->devices[s] && b < 6; b++) {
            struct pci_device *dev = bus->devices[s];
            uint64_t at = dev->bar_size[b] ? wanted_at(bus, dev, b) : 0;
            if (at && at == dev->bar_decoded[b])
                next[s][b] = at;
        }
    /* Pass 2: the others take their new place if it is free. */
    for (int s = 0; s < PCI_MAX_DEVICES; s++)
        for (int b = 0; bus->devices[s] && b < 6; b++) {
            struct pci_device *dev = bus->devices[s];
            uint64_t at = dev->bar_size[b] ? wanted_at(bus, dev, b) : 0;
            if (!at || next[s][b])
                continue;
            bool free = true;
            for (int t = 0; t < PCI_MAX_DEVICES && free; t++)
                for (int c = 0; bus->devices[t] && c < 6 && free; c++) {
                    uint64_t o = next[t][c];
                    free = !o || at + dev->bar_size[b] <= o || o + bus->devices[t]->bar_size[c] <= at;
                }
            if (free)
                next[s][b] = at;
        }
    for (int s = 0; s < PCI_MAX_DEVICES; s++)
        for (int b = 0; bus->devices[s] && b < 6; b++) {
            struct pci_device *dev = bus->devices[s];
            if (!dev->bar_size[b] || next[s][b] == dev->bar_decoded[b])
                continue;
            dev->bar_decoded[b] = next[s][b];
            if (dev->ops && dev->ops->bar_moved)
                dev->ops->bar_moved(dev, b, next[s][b]);
        }
}

/* Which BAR (and which half) a config dword at `off` belongs to; -1 if none. */
static int bar_of(const struct pci_device *dev, uint8_t off, int *half)
{
    if (off < PCI_BAR0 || off >= PCI_BAR0 + 24)
        return -1;
    int b = (off - PCI_BAR0) / 4;
    *half = 0;
    if (!dev->bar_size[b] && b > 0 && dev->bar_64[b - 1]) {
        b--;
        *half = 1;
    }
    return dev->bar_size[b] ? b : -1;
}

static uint32_t bar_dword(const struct pci_device *dev, int b, int half)
{
    uint64_t v = dev->sizing[b][half] ? ~(dev->bar_size[b] - 1) : dev->bar_addr[b];
    return half ? (uint32_t)(v >> 32) : ((uint32_t)v & ~0xfu) | 0x4; /* memory, 64-bit */
}

uint32_t pci_config_read(struct pci_bus *bus, uint8_t slot, uint8_t offset, uint32_t size)
{
    struct pci_device *dev = slot < PCI_MAX_DEVICES ? bus->devices[slot] : NULL;
    if (!dev)
        return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1; /* no device: all-ones */
    if (!size || size > 4 || (uint32_t)offset + size > PCI_CFG_SIZE)
        return 0;
    uint8_t dw[4];
    uint8_t base = offset & ~3u;
    memcpy(dw, dev->cfg + base, 4);
    int half, b = bar_of(dev, base, &half);
    if (b >= 0)
        put32(dw, bar_dword(dev, b, half));
    else if (base >= PCI_BAR0 && base < PCI_BAR0 + 24)
        memset(dw, 0, 4); /* no BAR here */
    uint32_t v = 0;
    memcpy(&v, dw + (offset & 3u), size);
    return v;
}

void pci_config_write(struct pci_bus *bus, uint8_t slot, uint8_t offset, uint32_t value, uint32_t size)
{
    struct pci_device *dev = slot < PCI_MAX_DEVICES ? bus->devices[slot] : NULL;
    if (!dev || !size || size > 4 || (uint32_t)offset + size > PCI_CFG_SIZE)
        return;
    if (offset >= 0x40) {
        if (dev->ops && dev->ops->cap_write) {
            uint8_t data[4];
            memcpy(data, &value, 4);
            dev->ops->cap_write(dev, offset, data, size);
        }
        return;
    }
    uint8_t base = offset & ~3u;
    int half, b = bar_of(dev, base, &half);
    if (b >= 0) {
        if (size != 4 || offset != base)
            return; /* BARs are written as dwords */
        dev->sizing[b][half] = value == 0xffffffffu;
        if (!dev->sizing[b][half]) {
            if (half)
                dev->bar_addr[b] = (dev->bar_addr[b] & 0xffffffffULL) | ((uint64_t)value << 32);
            else
                dev->bar_addr[b] = (dev->bar_addr[b] & ~0xffffffffULL) | (value & ~0xfu);
            dev->bar_addr[b] &= ~(dev->bar_size[b] - 1);
        }
        update_decoding(bus);
        return;
    }
    uint32_t shift = (offset & 3u) * 8;
    if (base == PCI_COMMAND && offset < PCI_STATUS) { /* the status half is read-only here */
        uint16_t keep = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
        uint16_t mask = (uint16_t)(((size >= 2 ? 0xffffu : 0xffu) << shift) & keep);
        uint16_t cmd = (uint16_t)((get16(dev->cfg + PCI_COMMAND) & ~mask) | ((value << shift) & mask));
        put16(dev->cfg + PCI_COMMAND, cmd);
        update_decoding(bus);
    } else if (offset == PCI_INTERRUPT_LINE) {
        dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)value;
    }
}

/* --- the ports and the window ----------------------------------------------- */

/* 0xCF8 is a dword port; 0xCF9 alone is the reset control register, which
 * keeps working: byte accesses there go to its own device. */
static bool to_cf9(struct pci_bus *bus, uint64_t off, uint32_t size)
{
    return off == 1 && size == 1 && bus->port_cf9.ops;
}

static void addr_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct pci_bus *bus = o;
    if (to_cf9(bus, off, size)) {
        bus->port_cf9.ops->read(bus->port_cf9.opaque, 0, d, 1);
        return;
    }
    pthread_mutex_lock(&bus->lock);
    uint32_t v = bus->config_address;
    pthread_mutex_unlock(&bus->lock);
    memset(d, 0xff, size);
    if (off == 0 && size == 4)
        memcpy(d, &v, 4);
}

static void addr_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct pci_bus *bus = o;
    if (to_cf9(bus, off, size)) {
        bus->port_cf9.ops->write(bus->port_cf9.opaque, 0, d, 1);
        return;
    }
    if (off != 0 || size != 4)
        return; /* other byte writes to 0xCF8-0xCFB: nothing there */
    pthread_mutex_lock(&bus->lock);
    memcpy(&bus->config_address, d, 4);
    bus->config_address &= 0x80fffffcu;
    pthread_mutex_unlock(&bus->lock);
}

/* The address register selects bus 0 only; function 0 only. */
static bool selected(struct pci_bus *bus, uint8_t *slot, uint8_t *reg)
{
    uint32_t a = bus->config_address;
    if (!(a & CONFIG_ENABLE) || ((a >> 16) & 0xff) != 0 || ((a >> 8) & 7) != 0)
        return false;
    *slot = (uint8_t)((a >> 11) & 0x1f);
    *reg = (uint8_t)(a & 0xfc);
    return true;
}

static void data_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct pci_bus *bus = o;
    uint8_t slot, reg;
    uint32_t v = 0xffffffffu;
    pthread_mutex_lock(&bus->lock);
    if (selected(bus, &slot, &reg) && off + size <= 4)
        v = pci_config_read(bus, slot, (uint8_t)(reg + off), size);
    pthread_mutex_unlock(&bus->lock);
    memcpy(d, &v, size > 4 ? 4 : size);
}

static void data_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct pci_bus *bus = o;
    uint8_t slot, reg;
    uint32_t v = 0;
    memcpy(&v, d, size > 4 ? 4 : size);
    pthread_mutex_lock(&bus->lock);
    if (selected(bus, &slot, &reg) && off + size <= 4)
        pci_config_write(bus, slot, (uint8_t)(reg + off), v, size);
    pthread_mutex_unlock(&bus->lock);
}

static const struct bus_device_ops addr_ops = {.name = "pci-config-address", .read = addr_read, .write = addr_write};
static const struct bus_device_ops data_ops = {.name = "pci-config-data", .read = data_read, .write = data_write};

/* Which device's BAR holds `gpa`? (lock held) */
static struct pci_device *find_bar(struct pci_bus *bus, uint64_t gpa, int *bar, uint64_t *off)
{
    for (int s = 0; s < PCI_MAX_DEVICES; s++) {
        struct pci_device *dev = bus->devices[s];
        if (!dev)
            continue;
        for (int b = 0; b < 6; b++)
            if (dev->bar_decoded[b] && gpa >= dev->bar_decoded[b] && gpa - dev->bar_decoded[b] < dev->bar_size[b]) {
                *bar = b;
                *off = gpa - dev->bar_decoded[b];
                return dev;
            }
    }
    return NULL;
}

/* The device and BAR an access at window offset `off` of `size` bytes lands
 * in, or NULL. Devices live as long as the VM, so the caller may use the
 * result after the bus lock is dropped. */
static struct pci_device *window_target(struct pci_bus *bus, uint64_t off, uint32_t size, int *bar, uint64_t *boff)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_device *dev = find_bar(bus, bus->window_base + off, bar, boff);
    pthread_mutex_unlock(&bus->lock);
    return dev && *boff + size <= dev->bar_size[*bar] ? dev : NULL;
}

static void window_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    int bar;
    uint64_t boff;
    struct pci_device *dev = window_target(o, off, size, &bar, &boff);
    if (dev && dev->ops->bar_read)
        dev->ops->bar_read(dev, bar, boff, d, size);
    else
        memset(d, 0xff, size);
}

static void window_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    int bar;
    uint64_t boff;
    struct pci_device *dev = window_target(o, off, size, &bar, &boff);
    if (dev && dev->ops->bar_write)
        dev->ops->bar_write(dev, bar, boff, d, size);
}

static const struct bus_device_ops window_ops = {.name = "pci-window", .read = window_read, .write = window_write};

int pci_bus_init(struct pci_bus *bus, struct io_bus *pio, struct io_bus *mmio, uint64_t base, uint64_t size)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->window_base = bus->window_next = base;
    bus->window_size = size;
    /* 00:00.0: a host bridge, so a guest's sanity check finds the bus. */
    pci_device_init(&bus->host_bridge, 0x1b36, 0x0008, 0x060000, 0x1af4, 0x1100, 0, NULL, NULL);
    bus->devices[0] = &bus->host_bridge;
    bus->host_bridge.slot = 0;
    if (io_bus_unregister(pio, 0xcf9, &bus->port_cf9) < 0)
        bus->port_cf9 = (struct bus_range){0};
    if (io_bus_register(pio, 0xcf8, 4, &addr_ops, bus) < 0 || io_bus_register(pio, 0xcfc, 4, &data_ops, bus) < 0 ||
        io_bus_register(mmio, base, size, &window_ops, bus) < 0)
        return -1;
    return 0;
}

void pci_bus_destroy(struct pci_bus *bus) { pthread_mutex_destroy(&bus->lock); }

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev)
{
    pthread_mutex_lock(&bus->lock);
    int slot = -1;
    for (int s = 1; s < PCI_MAX_DEVICES && slot < 0; s++)
        if (!bus->devices[s])
            slot = s;
    if (slot < 0) {
        pthread_mutex_unlock(&bus->lock);
        log_error("pci: no free slot on bus 0");
        return -1;
    }
    /* Firmware-style assignment: each BAR naturally aligned in the window. */
    for (int b = 0; b < 6; b++) {
        uint64_t sz = dev->bar_size[b];
        if (!sz)
            continue;
        uint64_t at = (bus->window_next + sz - 1) & ~(sz - 1);
        if (at + sz > bus->window_base + bus->window_size) {
            pthread_mutex_unlock(&bus->lock);
            log_error("pci: the MMIO window is full");
            return -1;
        }
        dev->bar_addr[b] = at;
        bus->window_next = at + sz;
    }
    put16(dev->cfg + PCI_COMMAND, PCI_COMMAND_MEMORY);
    dev->slot = slot;
    bus->devices[slot] = dev;
    update_decoding(bus);
    pthread_mutex_unlock(&bus->lock);
    return slot;
}
