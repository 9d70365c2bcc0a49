#include "virtio/mmio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "util/log.h"

/* Register offsets (virtio 1.x, 4.2.2). */
enum {
    REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008, REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010, REG_DEVICE_FEATURES_SEL = 0x014, REG_DRIVER_FEATURES = 0x020,
    REG_DRIVER_FEATURES_SEL = 0x024, REG_QUEUE_SEL = 0x030, REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044, REG_QUEUE_NOTIFY = 0x050, REG_INTERRUPT_STATUS = 0x060, REG_INTERRUPT_ACK = 0x064,
    REG_STATUS = 0x070, REG_QUEUE_DESC_LOW = 0x080, REG_QUEUE_DESC_HIGH = 0x084, REG_QUEUE_DRIVER_LOW = 0x090,
    REG_QUEUE_DRIVER_HIGH = 0x094, REG_QUEUE_DEVICE_LOW = 0x0a0, REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_CONFIG_GENERATION = 0x0fc, REG_CONFIG = 0x100,
};

#define MAGIC 0x74726976 /* "virt" */
#define VENDOR 0x524d4245 /* "EMBR" */

static void interrupt(struct virtio_device *dev, int q)
{
    struct virtio_mmio *t = dev->transport.ctx;
    __atomic_fetch_or(&t->interrupt_status, q < 0 ? 2u : 1u, __ATOMIC_SEQ_CST);
    irq_event_signal(&t->irq);
}

static struct virtq *selected_queue(struct virtio_mmio *t)
{
    return t->queue_sel < t->dev->num_queues ? &t->dev->vq[t->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
    struct virtio_device *dev = t->dev;
    struct virtq *vq = selected_queue(t);
    switch (off) {
    case REG_MAGIC: return MAGIC;
    case REG_VERSION: return 2;
    case REG_DEVICE_ID: return dev->ops->device_id;
    case REG_VENDOR_ID: return VENDOR;
    case REG_DEVICE_FEATURES: return virtio_get_host_features(dev, t->device_features_sel);
    case REG_QUEUE_NUM_MAX: return vq ? dev->queue_max : 0;
    case REG_QUEUE_READY: return vq ? vq->ready : 0;
    case REG_INTERRUPT_STATUS: return __atomic_load_n(&t->interrupt_status, __ATOMIC_SEQ_CST);
    case REG_STATUS: return virtio_get_status(dev);
    case REG_CONFIG_GENERATION: return dev->config_generation;
    default: return 0; /* write-only or reserved */
    }
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    struct virtio_device *dev = t->dev;
    switch (off) {
    case REG_DEVICE_FEATURES_SEL: t->device_features_sel = v; return;
    case REG_DRIVER_FEATURES_SEL: t->driver_features_sel = v; return;
    case REG_DRIVER_FEATURES: virtio_set_guest_features(dev, t->driver_features_sel, v); return;
    case REG_QUEUE_SEL: t->queue_sel = v; return;
    case REG_QUEUE_NOTIFY: /* reached only without an ioeventfd for that queue */
        virtio_notify_queue(dev, (uint16_t)v);
        return;
    case REG_INTERRUPT_ACK: __atomic_fetch_and(&t->interrupt_status, ~v, __ATOMIC_SEQ_CST); return;
    case REG_STATUS:
        virtio_set_status(dev, (uint8_t)v);
        if (v == 0)
            __atomic_store_n(&t->interrupt_status, 0, __ATOMIC_SEQ_CST);
        return;
    case REG_QUEUE_NUM: virtio_queue_write(dev, (uint16_t)t->queue_sel, VIRTIO_QUEUE_SIZE, false, v); return;
    case REG_QUEUE_READY: virtio_queue_write(dev, (uint16_t)t->queue_sel, VIRTIO_QUEUE_READY, false, v); return;
    case REG_QUEUE_DESC_LOW: case REG_QUEUE_DESC_HIGH:
        virtio_queue_write(dev, (uint16_t)t->queue_sel, VIRTIO_QUEUE_DESC, off == REG_QUEUE_DESC_HIGH, v);
        return;
    case REG_QUEUE_DRIVER_LOW: case REG_QUEUE_DRIVER_HIGH:
        virtio_queue_write(dev, (uint16_t)t->queue_sel, VIRTIO_QUEUE_AVAIL, off == REG_QUEUE_DRIVER_HIGH, v);
        return;
    case REG_QUEUE_DEVICE_LOW: case REG_QUEUE_DEVICE_HIGH:
        virtio_queue_write(dev, (uint16_t)t->queue_sel, VIRTIO_QUEUE_USED, off == REG_QUEUE_DEVICE_HIGH, v);
        return;
    default: return; /* read-only or reserved: ignored */
    }
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct virtio_mmio *t = opaque;
    if (off >= REG_CONFIG) {
        virtio_config_read(t->dev, (uint32_t)(off - REG_CONFIG), data, size);
        return;
    }
    uint32_t v = 0;
    if (size == 4 && !(off & 3)) { /* registers are 32-bit; anything else reads 0 */
        pthread_mutex_lock(&t->lock);
        v = read_reg(t, off);
        pthread_mutex_unlock(&t->lock);
    }
    memset(data, 0, size);
    memcpy(data, &v, size < 4 ? size : 4);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct virtio_mmio *t = opaque;
    if (off >= REG_CONFIG) {
        virtio_config_write(t->dev, (uint32_t)(off - REG_CONFIG), data, size);
        return;
    }
    if (size != 4 || (off & 3))
        return;
    uint32_t v;
    memcpy(&v, data, 4);
    pthread_mutex_lock(&t->lock);
    write_reg(t, off, v);
    pthread_mutex_unlock(&t->lock);
}

static const struct bus_device_ops virtio_mmio_ops = {.name = "virtio-mmio", .read = mmio_read, .write = mmio_write};

int virtio_mmio_attach(struct virtio_mmio *t, struct virtio_device *dev, int vm_fd, struct io_bus *mmio,
                       struct irq_chip *irq, uint64_t base, uint32_t gsi)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->dev = dev;
    t->base = base;
    t->gsi = gsi;
    t->irq.fd = -1;
    if (irq_event_init(&t->irq, irq, gsi) < 0)
        return -1;
    dev->transport = (struct virtio_transport_hooks){.interrupt = interrupt, .ctx = t};
    if (io_bus_register(mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t) < 0)
        return -1;
    /* QueueNotify writes go straight from KVM to the device's I/O thread. */
    for (int q = 0; q < dev->num_queues; q++) {
        struct kvm_ioeventfd io = {.datamatch = (uint64_t)q, .addr = base + REG_QUEUE_NOTIFY, .len = 4,
                                   .fd = dev->kick_fd[q], .flags = KVM_IOEVENTFD_FLAG_DATAMATCH};
        if (vm_fd >= 0 && ioctl(vm_fd, KVM_IOEVENTFD, &io) == 0)
            t->ioeventfds++;
        else if (vm_fd >= 0)
            log_debug("%s: KVM_IOEVENTFD for queue %d failed (%s); notifications exit to ember", dev->name, q,
                      strerror(errno));
    }
    return 0;
}

void virtio_mmio_detach(struct virtio_mmio *t)
{
    irq_event_destroy(&t->irq);
    pthread_mutex_destroy(&t->lock);
}

int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t len)
{
    return snprintf(buf, len, "virtio_mmio.device=%uK@0x%llx:%u", VIRTIO_MMIO_SIZE / 1024,
                    (unsigned long long)t->base, t->gsi);
}
