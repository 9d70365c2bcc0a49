#include "irq/irq.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm/kvm.h"
#include "memory/layout.h"
#include "util/log.h"

int irqchip_mode_parse(const char *s, enum irqchip_mode *out)
{
    if (!strcmp(s, "kernel"))
        *out = IRQCHIP_KERNEL;
    else if (!strcmp(s, "split"))
        *out = IRQCHIP_SPLIT;
    else
        return -1;
    return 0;
}

const char *irqchip_mode_name(enum irqchip_mode mode) { return mode == IRQCHIP_SPLIT ? "split" : "kernel"; }

/* --- split mode: the IOAPIC's messages and KVM's routes -------------------- */

static void split_send_msi(void *ctx, uint64_t address, uint32_t data)
{
    struct irq_chip *chip = ctx;
    struct kvm_msi msi = {.address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32), .data = data};
    if (ioctl(chip->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        log_warn("irqchip: KVM_SIGNAL_MSI failed: %s", strerror(errno));
}

/* Mirrors the redirection table as MSI routes for GSIs 0-23: KVM scans them
 * to know which vectors are level-triggered IOAPIC interrupts whose EOI it
 * must report to ember. Only rewritten when the table changed. */
static void sync_routes(struct irq_chip *chip)
{
    struct ioapic_state st;
    ioapic_get_state(&chip->ioapic, &st);
    uint64_t mask = IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR;
    bool changed = false;
    for (int i = 0; i < IOAPIC_PINS; i++)
        if ((st.redir[i] & ~mask) != chip->routes[i]) {
            chip->routes[i] = st.redir[i] & ~mask;
            changed = true;
        }
    if (!changed)
        return;
    struct {
        struct kvm_irq_routing hdr;
        struct kvm_irq_routing_entry e[IOAPIC_PINS];
    } r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < IOAPIC_PINS; i++) {
        uint64_t address;
        uint32_t data;
        if (chip->routes[i] & IOAPIC_RTE_MASKED)
            continue;
        ioapic_rte_to_msi(chip->routes[i], &address, &data);
        struct kvm_irq_routing_entry *e = &r.e[r.hdr.nr++];
        e->gsi = (uint32_t)i;
        e->type = KVM_IRQ_ROUTING_MSI;
        e->u.msi.address_lo = (uint32_t)address;
        e->u.msi.address_hi = (uint32_t)(address >> 32);
        e->u.msi.data = data;
    }
    if (ioctl(chip->vm_fd, KVM_SET_GSI_ROUTING, &r) < 0)
        log_warn("irqchip: KVM_SET_GSI_ROUTING failed: %s", strerror(errno));
}

/* The IOAPIC's MMIO window, with the route mirror after each guest write. */
static void split_ioapic_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    ioapic_mmio_ops.read(&((struct irq_chip *)o)->ioapic, off, d, size);
}

static void split_ioapic_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct irq_chip *chip = o;
    ioapic_mmio_ops.write(&chip->ioapic, off, d, size);
    sync_routes(chip);
}

static const struct bus_device_ops split_ioapic_ops = {.name = "ioapic", .read = split_ioapic_read,
                                                        .write = split_ioapic_write};

/* The PIT's ports, waking the timer thread after each write (a new count). */
static void split_pit_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    pit_ops.read(&((struct irq_chip *)o)->pit, off, d, size);
}

static void split_pit_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct irq_chip *chip = o;
    pit_ops.write(&chip->pit, off, d, size);
    uint64_t one = 1;
    ssize_t r = write(chip->wake_fd, &one, sizeof(one));
    (void)r;
}

static const struct bus_device_ops split_pit_ops = {.name = "pit-8254", .read = split_pit_read, .write = split_pit_write};

static void pic_output(void *ctx, int level)
{
    static bool warned;
    (void)ctx;
    if (level && !warned) {
        warned = true;
        log_warn("irqchip: the guest unmasked an 8259 interrupt; split mode does not deliver ExtINT yet");
    }
}

/* Channel 0 of the PIT drives IRQ 0: sleep until its output next rises. */
static void *pit_timer_thread(void *arg)
{
    struct irq_chip *chip = arg;
    pthread_setname_np(pthread_self(), "ember-pit");
    while (__atomic_load_n(&chip->timer_running, __ATOMIC_ACQUIRE)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        uint64_t next = pit_next_irq_ns(&chip->pit, now);
        struct itimerspec its = {0};
        if (next != UINT64_MAX) {
            its.it_value.tv_sec = (time_t)(next / 1000000000ULL);
            its.it_value.tv_nsec = (long)(next % 1000000000ULL);
        }
        timerfd_settime(chip->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
        struct pollfd p[2] = {{.fd = chip->timer_fd, .events = POLLIN}, {.fd = chip->wake_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        uint64_t v;
        if (p[1].revents & POLLIN) {
            ssize_t r = read(chip->wake_fd, &v, sizeof(v));
            (void)r;
        }
        if ((p[0].revents & POLLIN) && read(chip->timer_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
            irq_line_pulse(chip, 0);
    }
    return NULL;
}

/* --- creation ---------------------------------------------------------------- */

int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode, struct io_bus *pio, struct io_bus *mmio,
                    uint8_t ioapic_id)
{
    memset(chip, 0, sizeof(*chip));
    chip->mode = mode;
    chip->vm_fd = vm_fd;
    chip->timer_fd = chip->wake_fd = -1;
    if (mode == IRQCHIP_KERNEL) {
        if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
            log_error("irqchip: KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
            return -1;
        }
        /* The in-kernel PIT needs the in-kernel PIC; port 0x61 (speaker) is a
         * dummy handled in KVM so the guest's PIT calibration works. */
        struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
            log_error("irqchip: KVM_CREATE_PIT2 failed: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    if (kvm_check_extension(vm_fd, KVM_CAP_SPLIT_IRQCHIP) <= 0) {
        log_error("--irqchip split: the host's KVM lacks KVM_CAP_SPLIT_IRQCHIP");
        return -1;
    }
    struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {IOAPIC_PINS}};
    if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
        log_error("--irqchip split: enabling KVM_CAP_SPLIT_IRQCHIP failed: %s", strerror(errno));
        return -1;
    }
    chip->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    chip->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (chip->timer_fd < 0 || chip->wake_fd < 0) {
        log_error("irqchip: timerfd/eventfd: %s", strerror(errno));
        return -1;
    }
    ioapic_init(&chip->ioapic, ioapic_id, split_send_msi, chip);
    pic_init(&chip->pic, pic_output, chip);
    pit_init(&chip->pit, NULL);
    for (int i = 0; i < IOAPIC_PINS; i++)
        chip->routes[i] = IOAPIC_RTE_MASKED;
    if (io_bus_register(mmio, LAYOUT_IOAPIC, IOAPIC_MMIO_SIZE, &split_ioapic_ops, chip) < 0 ||
        io_bus_register(pio, 0x20, 2, &pic_master_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0xa0, 2, &pic_slave_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0x4d0, 2, &pic_elcr_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0x40, 4, &split_pit_ops, chip) < 0 ||
        io_bus_register(pio, 0x61, 1, &pit_gate_ops, &chip->pit) < 0)
        return -1;
    return 0;
}

int irq_chip_start(struct irq_chip *chip)
{
    if (chip->mode != IRQCHIP_SPLIT)
        return 0;
    __atomic_store_n(&chip->timer_running, 1, __ATOMIC_RELEASE);
    int r = pthread_create(&chip->timer_thread, NULL, pit_timer_thread, chip);
    if (r != 0) {
        chip->timer_running = 0;
        log_error("irqchip: cannot start the PIT timer thread: %s", strerror(r));
        return -1;
    }
    return 0;
}

void irq_chip_stop(struct irq_chip *chip)
{
    if (chip->mode != IRQCHIP_SPLIT || !chip->timer_running)
        return;
    __atomic_store_n(&chip->timer_running, 0, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t r = write(chip->wake_fd, &one, sizeof(one));
    (void)r;
    pthread_join(chip->timer_thread, NULL);
    close(chip->timer_fd);
    close(chip->wake_fd);
    chip->timer_fd = chip->wake_fd = -1;
}

int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level)
{
    if (chip->mode == IRQCHIP_SPLIT) {
        ioapic_set_line(&chip->ioapic, gsi, level);
        if (gsi < 16)
            pic_set_irq(&chip->pic, gsi, level);
        return 0;
    }
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
    if (ioctl(chip->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        log_warn("irqchip: KVM_IRQ_LINE gsi %u failed: %s", gsi, strerror(errno));
        return -1;
    }
    return 0;
}

int irq_line_pulse(struct irq_chip *chip, uint32_t gsi)
{
    if (irq_line_set(chip, gsi, 1) < 0)
        return -1;
    return irq_line_set(chip, gsi, 0);
}

void irq_chip_eoi(struct irq_chip *chip, uint8_t vector)
{
    if (chip->mode == IRQCHIP_SPLIT)
        ioapic_eoi(&chip->ioapic, vector);
}
