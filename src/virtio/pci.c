#include "virtio/pci.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "kvm/kvm.h"
#include "util/log.h"

/* The BAR's regions. */
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x40
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define DEVICE_LEN 0x1000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4
#define TABLE_OFF 0x3800
#define PBA_OFF 0x3c00

/* virtio_pci_cap cfg_type values. */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };

#define NO_VECTOR 0xffff
#define MSIX_ENABLE 0x8000
#define MSIX_MASKALL 0x4000

static uint16_t nvectors(const struct virtio_pci *t) { return (uint16_t)(t->dev->num_queues + 1); }

static uint16_t msix_control(const struct virtio_pci *t)
{
    uint16_t c;
    memcpy(&c, t->pci.cfg + t->msix_cap + 2, 2);
    return c;
}

/* --- interrupts ------------------------------------------------------------- */

/* t->lock held: send vector v now, or mark it pending while masked. */
static void fire_vector(struct virtio_pci *t, uint16_t v)
{
    if (v >= nvectors(t))
        return;
    uint32_t ctrl;
    memcpy(&ctrl, t->table[v] + 12, 4);
    if ((msix_control(t) & MSIX_MASKALL) || (ctrl & 1)) {
        t->pending |= 1ULL << v;
        return;
    }
    uint64_t addr;
    uint32_t data;
    memcpy(&addr, t->table[v], 8);
    memcpy(&data, t->table[v] + 8, 4);
    irq_send_msi(t->irq, addr, data);
}

static void set_intx(struct virtio_pci *t, bool high)
{
    if (t->intx_high == high)
        return;
    t->intx_high = high;
    irq_line_set(t->irq, t->gsi, high);
}

static void interrupt(struct virtio_device *dev, int q)
{
    struct virtio_pci *t = dev->transport.ctx;
    pthread_mutex_lock(&t->lock);
    t->isr |= q < 0 ? 2 : 1;
    if (msix_control(t) & MSIX_ENABLE) {
        fire_vector(t, q < 0 ? t->msix_config : t->queue_vector[q]);
    } else {
        uint16_t cmd;
        memcpy(&cmd, t->pci.cfg + PCI_COMMAND, 2);
        if (!(cmd & PCI_COMMAND_INTX_DISABLE))
            set_intx(t, true);
    }
    pthread_mutex_unlock(&t->lock);
}

/* t->lock held: vectors unmasked since they were raised go out now. */
static void flush_pending(struct virtio_pci *t)
{
    uint64_t p = t->pending;
    t->pending = 0;
    for (uint16_t v = 0; v < nvectors(t); v++)
        if (p & (1ULL << v))
            fire_vector(t, v);
}

/* --- the common configuration ---------------------------------------------------- */

static uint64_t common_read(struct virtio_pci *t, uint32_t off)
{
    struct virtio_device *dev = t->dev;
    uint16_t q = t->queue_sel;
    struct virtq *vq = q < dev->num_queues ? &dev->vq[q] : NULL;
    switch (off) {
    case 0x00: return t->dfselect;
    case 0x04: return virtio_get_host_features(dev, t->dfselect);
    case 0x08: return t->gfselect;
    case 0x0c: return t->gfselect < 2 ? (uint32_t)(dev->guest_features >> (32 * t->gfselect)) : 0;
    case 0x10: return t->msix_config;
    case 0x12: return dev->num_queues;
    case 0x14: return virtio_get_status(dev);
    case 0x15: return (uint8_t)dev->config_generation;
    case 0x16: return q;
    case 0x18: return vq ? vq->size : 0;
    case 0x1a: return vq ? t->queue_vector[q] : NO_VECTOR;
    case 0x1c: return vq ? vq->ready : 0;
    case 0x1e: return q; /* queue_notify_off: queue q notifies at NOTIFY_OFF + q * NOTIFY_MULT */
    case 0x20: return vq ? vq->desc_gpa : 0;
    case 0x28: return vq ? vq->avail_gpa : 0;
    case 0x30: return vq ? vq->used_gpa : 0;
    default: return 0;
    }
}

/* Size of the field at `off` (0: no field starts there). */
static uint32_t field_size(uint32_t off)
{
    switch (off) {
    case 0x00: case 0x04: case 0x08: case 0x0c: return 4;
    case 0x10: case 0x12: case 0x16: case 0x18: case 0x1a: case 0x1c: case 0x1e: return 2;
    case 0x14: case 0x15: return 1;
    case 0x20: case 0x28: case 0x30: return 8;
    default: return 0;
    }
}

static void common_write(struct virtio_pci *t, uint32_t off, uint32_t size, uint64_t v)
{
    struct virtio_device *dev = t->dev;
    /* 64-bit ring addresses arrive as two 32-bit halves. */
    uint32_t field = off, shift = 0;
    if (off >= 0x20 && off < 0x38) {
        field = off & ~7u;
        shift = (off & 4) * 8;
        size = 8;
    }
    if (field_size(field) != size && !(field >= 0x20 && field < 0x38))
        return;
    uint16_t q = t->queue_sel;
    struct virtq *vq = q < dev->num_queues ? &dev->vq[q] : NULL;
    switch (field) {
    case 0x00: t->dfselect = (uint32_t)v; return;
    case 0x08: t->gfselect = (uint32_t)v; return;
    case 0x0c: virtio_set_guest_features(dev, t->gfselect, (uint32_t)v); return;
    case 0x10:
        pthread_mutex_lock(&t->lock);
        t->msix_config = v < nvectors(t) ? (uint16_t)v : NO_VECTOR;
        pthread_mutex_unlock(&t->lock);
        return;
    case 0x14:
        virtio_set_status(dev, (uint8_t)v);
        if (v == 0) { /* reset: vectors and the ISR too */
            pthread_mutex_lock(&t->lock);
            t->isr = 0;
            t->msix_config = NO_VECTOR;
            for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
                t->queue_vector[i] = NO_VECTOR;
            set_intx(t, false);
            pthread_mutex_unlock(&t->lock);
        }
        return;
    case 0x16: t->queue_sel = (uint16_t)v; return;
    case 0x1a:
        if (vq) {
            pthread_mutex_lock(&t->lock);
            t->queue_vector[q] = v < nvectors(t) ? (uint16_t)v : NO_VECTOR;
            pthread_mutex_unlock(&t->lock);
        }
        return;
    default: break;
    }
    if (!vq)
        return;
    switch (field) {
    case 0x18: virtio_queue_write(dev, q, VIRTIO_QUEUE_SIZE, false, (uint32_t)v); break;
    case 0x1c: virtio_queue_write(dev, q, VIRTIO_QUEUE_READY, false, (uint32_t)v); break;
    case 0x20: virtio_queue_write(dev, q, VIRTIO_QUEUE_DESC, shift != 0, (uint32_t)v); break;
    case 0x28: virtio_queue_write(dev, q, VIRTIO_QUEUE_AVAIL, shift != 0, (uint32_t)v); break;
    case 0x30: virtio_queue_write(dev, q, VIRTIO_QUEUE_USED, shift != 0, (uint32_t)v); break;
    }
}

/* --- the BAR ------------------------------------------------------------------------ */

static void bar_read(struct pci_device *pci, int bar, uint64_t off, uint8_t *data, uint32_t size)
{
    struct virtio_pci *t = pci->opaque;
    uint64_t v = 0;
    memset(data, 0, size);
    if (bar != 0)
        return;
    if (off < COMMON_LEN) {
        uint32_t field = off >= 0x20 && off < 0x38 ? (uint32_t)off & ~7u : (uint32_t)off;
        v = common_read(t, field);
        if (field != off)
            v >>= 32; /* the upper half of a 64-bit field */
        memcpy(data, &v, size > 8 ? 8 : size);
    } else if (off == ISR_OFF) {
        pthread_mutex_lock(&t->lock);
        data[0] = t->isr; /* reading acknowledges, and lowers INTx */
        t->isr = 0;
        set_intx(t, false);
        pthread_mutex_unlock(&t->lock);
    } else if (off >= DEVICE_OFF && off < DEVICE_OFF + DEVICE_LEN) {
        virtio_config_read(t->dev, (uint32_t)(off - DEVICE_OFF), data, size);
    } else if (off >= TABLE_OFF && off + size <= TABLE_OFF + 16u * nvectors(t)) {
        pthread_mutex_lock(&t->lock);
        memcpy(data, &t->table[0][0] + (off - TABLE_OFF), size);
        pthread_mutex_unlock(&t->lock);
    } else if (off >= PBA_OFF && off + size <= PBA_OFF + 8) {
        pthread_mutex_lock(&t->lock);
        memcpy(data, (uint8_t *)&t->pending + (off - PBA_OFF), size);
        pthread_mutex_unlock(&t->lock);
    }
}

static void bar_write(struct pci_device *pci, int bar, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct virtio_pci *t = pci->opaque;
    if (bar != 0)
        return;
    uint64_t v = 0;
    memcpy(&v, data, size > 8 ? 8 : size);
    if (off < COMMON_LEN) {
        if (size == 8) { /* one 64-bit write: two halves */
            common_write(t, (uint32_t)off, 4, (uint32_t)v);
            common_write(t, (uint32_t)off + 4, 4, v >> 32);
        } else {
            common_write(t, (uint32_t)off, size, v);
        }
    } else if (off >= DEVICE_OFF && off < DEVICE_OFF + DEVICE_LEN) {
        virtio_config_write(t->dev, (uint32_t)(off - DEVICE_OFF), data, size);
    } else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + (uint64_t)NOTIFY_MULT * t->dev->num_queues) {
        virtio_notify_queue(t->dev, (uint16_t)((off - NOTIFY_OFF) / NOTIFY_MULT)); /* no ioeventfd for it */
    } else if (off >= TABLE_OFF && off + size <= TABLE_OFF + 16u * nvectors(t)) {
        pthread_mutex_lock(&t->lock);
        memcpy(&t->table[0][0] + (off - TABLE_OFF), data, size);
        flush_pending(t); /* an entry may just have been unmasked */
        pthread_mutex_unlock(&t->lock);
    }
}

/* Queue notifications: one ioeventfd per queue register, following the BAR. */
static void set_ioeventfds(struct virtio_pci *t, uint64_t base, bool assign)
{
    for (int q = 0; q < t->dev->num_queues; q++) {
        struct kvm_ioeventfd io = {.addr = base + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT,
                                   .len = t->ioeventfd_any_length ? 0 : 2,
                                   .fd = t->dev->kick_fd[q],
                                   .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN};
        if (t->vm_fd >= 0 && ioctl(t->vm_fd, KVM_IOEVENTFD, &io) < 0 && assign)
            log_debug("%s: KVM_IOEVENTFD at 0x%llx failed (%s); notifications exit to ember", t->dev->name,
                      (unsigned long long)io.addr, strerror(errno));
    }
}

static void bar_moved(struct pci_device *pci, int bar, uint64_t addr)
{
    struct virtio_pci *t = pci->opaque;
    if (bar != 0)
        return;
    if (t->notify_base)
        set_ioeventfds(t, t->notify_base, false);
    t->notify_base = addr;
    if (addr)
        set_ioeventfds(t, addr, true);
}

/* Config writes at the capabilities: only the MSI-X control bits change. */
static void cap_write(struct pci_device *pci, uint32_t off, const uint8_t *data, uint32_t size)
{
    struct virtio_pci *t = pci->opaque;
    uint32_t ctrl = t->msix_cap + 2u;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < size; i++)
        if (off + i == ctrl + 1) /* the high byte holds enable (bit 15) and mask-all (bit 14) */
            t->pci.cfg[ctrl + 1] = (uint8_t)((t->pci.cfg[ctrl + 1] & 0x3f) | (data[i] & 0xc0));
    if (msix_control(t) & MSIX_ENABLE)
        set_intx(t, false);
    flush_pending(t);
    pthread_mutex_unlock(&t->lock);
}

static const struct pci_device_ops virtio_pci_ops = {
    .bar_read = bar_read, .bar_write = bar_write, .bar_moved = bar_moved, .cap_write = cap_write,
};

static void add_virtio_cap(struct pci_device *pci, uint8_t type, uint32_t offset, uint32_t length, bool notify)
{
    uint8_t cap[20] = {0x09, 0, notify ? 20 : 16, type, 0 /* bar */};
    memcpy(cap + 8, &offset, 4);
    memcpy(cap + 12, &length, 4);
    if (notify) {
        uint32_t mult = NOTIFY_MULT;
        memcpy(cap + 16, &mult, 4);
    }
    pci_device_add_cap(pci, cap, notify ? 20 : 16);
}

static uint32_t class_of(uint32_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_NET: return 0x020000;     /* network controller, Ethernet */
    case VIRTIO_ID_BLOCK: return 0x010000;   /* mass storage, SCSI (as QEMU's) */
    case VIRTIO_ID_CONSOLE: return 0x078000; /* simple communications, other */
    default: return 0x00ff00;
    }
}

int virtio_pci_attach(struct virtio_pci *t, struct virtio_device *dev, int vm_fd, struct pci_bus *bus,
                      struct irq_chip *irq, uint32_t gsi)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->dev = dev;
    t->irq = irq;
    t->vm_fd = vm_fd;
    t->gsi = gsi;
    t->msix_config = NO_VECTOR;
    for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
        t->queue_vector[i] = NO_VECTOR;
    for (int v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
        t->table[v][12] = 1; /* every vector starts masked */
    t->ioeventfd_any_length = vm_fd >= 0 && kvm_check_extension(vm_fd, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
    struct pci_device *pci = &t->pci;
    pci_device_init(pci, 0x1af4, (uint16_t)(0x1040 + dev->ops->device_id), class_of(dev->ops->device_id), 0x1af4,
                    0x0040, 1, &virtio_pci_ops, t);
    pci->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
    pci->cfg[PCI_INTERRUPT_LINE] = (uint8_t)gsi;
    pci_device_add_bar64(pci, 0, VIRTIO_PCI_BAR_SIZE);
    add_virtio_cap(pci, CAP_COMMON, COMMON_OFF, COMMON_LEN, false);
    add_virtio_cap(pci, CAP_ISR, ISR_OFF, 1, false);
    add_virtio_cap(pci, CAP_DEVICE, DEVICE_OFF, DEVICE_LEN, false);
    add_virtio_cap(pci, CAP_NOTIFY, NOTIFY_OFF, (uint32_t)NOTIFY_MULT * dev->num_queues, true);
    uint8_t msix[12] = {0x11, 0};
    uint16_t ctrl = (uint16_t)(nvectors(t) - 1); /* table size - 1 */
    uint32_t table = TABLE_OFF | 0 /* BAR 0 */, pba = PBA_OFF;
    memcpy(msix + 2, &ctrl, 2);
    memcpy(msix + 4, &table, 4);
    memcpy(msix + 8, &pba, 4);
    t->msix_cap = pci_device_add_cap(pci, msix, 12);
    dev->transport = (struct virtio_transport_hooks){.interrupt = interrupt, .ctx = t};
    return pci_bus_add(bus, pci) < 0 ? -1 : 0;
}

void virtio_pci_detach(struct virtio_pci *t)
{
    if (t->notify_base)
        set_ioeventfds(t, t->notify_base, false);
    t->notify_base = 0;
    pthread_mutex_destroy(&t->lock);
}
