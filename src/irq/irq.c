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

#include "security/seccomp.h"
#include "kvm/kvm.h"
#include "memory/layout.h"
#include "util/log.h"
#include "util/clock.h"

int irqchip_mode_parse(const char *s, enum irqchip_mode *out)
{
    if (!strcmp(s, "kernel"))
        *out = IRQCHIP_KERNEL;
    else if (!strcmp(s, "split"))
        *out = IRQCHIP_SPLIT;
    else if (!strcmp(s, "user"))
        *out = IRQCHIP_USER;
    else
        return -1;
    return 0;
}

const char *irqchip_mode_name(enum irqchip_mode mode)
{
    return mode == IRQCHIP_SPLIT ? "split" : mode == IRQCHIP_USER ? "user" : "kernel";
}

static void wake_cpu(struct irq_chip *chip, int cpu)
{
    if (chip->wake_cpu)
        chip->wake_cpu(chip->wake_ctx, cpu);
}

/* --- user mode: the APIC bus between the IOAPIC and the LAPICs ----------------- */

/* One message to the LAPICs: destination shorthand (0 none, 1 self, 2 all,
 * 3 all but self), destination and mode, delivery mode, vector, trigger. A
 * lowest-priority message goes to one of the LAPICs it selects: the one with
 * the lowest processor priority (TPR, or the class in service), ties taken in
 * turn, as the APIC bus's arbitration spreads them. */
static void apic_bus_send(struct irq_chip *chip, struct lapic *from, unsigned shorthand, uint32_t dest, bool logical,
                          unsigned mode, uint8_t vector, bool level)
{
    bool delivered = false;
    int lowest = -1;
    uint32_t lowest_prio = 0;
    unsigned start = mode == APIC_DM_LOWEST ? __atomic_fetch_add(&chip->arbitration_turn, 1, __ATOMIC_RELAXED) : 0;
    for (int k = 0; k < chip->ncpus; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)chip->ncpus);
        struct lapic *l = &chip->lapics[i];
        bool hit;
        switch (shorthand) {
        case 1: hit = l == from; break;
        case 2: hit = true; break;
        case 3: hit = l != from; break;
        default: hit = lapic_matches(l, dest, logical); break;
        }
        if (!hit)
            continue;
        if (mode == APIC_DM_LOWEST) {
            uint32_t prio = lapic_arbitration_priority(l);
            if (lowest < 0 || prio < lowest_prio)
                lowest = i, lowest_prio = prio;
            continue;
        }
        lapic_deliver(l, mode, vector, level);
        delivered = true;
    }
    if (lowest >= 0) {
        lapic_deliver(&chip->lapics[lowest], mode, vector, level);
        delivered = true;
    }
    /* A message to an APIC id that does not exist is lost, as on hardware;
     * a guest doing it is confused, so say so once. */
    if (!delivered && !__atomic_exchange_n(&chip->warned_no_destination, true, __ATOMIC_RELAXED))
        log_warn("irqchip: interrupt vector 0x%02x to %s APIC destination 0x%x reaches no CPU; dropped (reported once)",
                 vector, logical ? "logical" : "physical", dest);
}

static void user_send_msi(void *ctx, uint64_t address, uint32_t data)
{
    struct irq_chip *chip = ctx;
    if ((address & 0xfff00000ULL) != LAPIC_DEFAULT_BASE) {
        static struct log_ratelimit bad_msi_log; /* the guest programs MSI addresses */
        log_warn_ratelimited(&bad_msi_log, "irqchip: MSI to 0x%llx is not an APIC message; dropped", (unsigned long long)address);
        return;
    }
    apic_bus_send(chip, NULL, 0, (uint32_t)(address >> 12) & 0xff, address & 4, (data >> 8) & 7,
                  (uint8_t)data, data & (1u << 15));
}

static void lapic_send_ipi(void *ctx, struct lapic *from, uint32_t icr_lo, uint32_t dest)
{
    struct irq_lapic_slot *slot = ctx;
    apic_bus_send(slot->chip, from, (icr_lo >> 18) & 3, dest, icr_lo & (1u << 11), (icr_lo >> 8) & 7,
                  (uint8_t)icr_lo, icr_lo & LAPIC_LVT_LEVEL);
}

static void lapic_eoi_hook(void *ctx, uint8_t vector) { ioapic_eoi(&((struct irq_lapic_slot *)ctx)->chip->ioapic, vector); }

static void lapic_arm_timer(void *ctx, uint64_t deadline_ns)
{
    struct irq_lapic_slot *slot = ctx;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
                                          .tv_nsec = (long)(deadline_ns % 1000000000ULL)}};
    timerfd_settime(slot->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void lapic_notify(void *ctx)
{
    struct irq_lapic_slot *slot = ctx;
    wake_cpu(slot->chip, slot->cpu);
}

/* --- split mode: the IOAPIC's messages and KVM's routes -------------------- */

static void split_send_msi(void *ctx, uint64_t address, uint32_t data)
{
    struct irq_chip *chip = ctx;
    struct kvm_msi msi = {.address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32), .data = data};
    /* The guest chose the message (an MSI-X entry, an IOAPIC entry): a
     * refusal repeats as often as the guest's device fires. */
    static struct log_ratelimit signal_msi_log;
    if (ioctl(chip->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
        log_warn_ratelimited(&signal_msi_log, "irqchip: KVM_SIGNAL_MSI failed: %s", strerror(errno));
}

/* Mirrors the redirection table as MSI routes for GSIs 0-23: KVM scans them
 * to know which vectors are level-triggered IOAPIC interrupts whose EOI it
 * must report to ember. Only rewritten when the table changed. */
static void sync_routes(struct irq_chip *chip)
{
    pthread_mutex_lock(&chip->routes_lock);
    struct ioapic_state st;
    ioapic_get_state(&chip->ioapic, &st); /* under routes_lock: the newest table is the last one set */
    uint64_t mask = IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR;
    bool changed = false;
    for (int i = 0; i < IOAPIC_PINS; i++)
        if ((st.redir[i] & ~mask) != chip->routes[i]) {
            chip->routes[i] = st.redir[i] & ~mask;
            changed = true;
        }
    if (!changed) {
        pthread_mutex_unlock(&chip->routes_lock);
        return;
    }
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
    static struct log_ratelimit set_routing_log; /* once per guest IOAPIC write */
    if (ioctl(chip->vm_fd, KVM_SET_GSI_ROUTING, &r) < 0)
        log_warn_ratelimited(&set_routing_log, "irqchip: KVM_SET_GSI_ROUTING failed: %s", strerror(errno));
    pthread_mutex_unlock(&chip->routes_lock);
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

/* The 8259's INT output. In user mode every CPU whose LAPIC takes ExtINT is
 * told; in split mode KVM's LAPICs decide, and the PC wiring (virtual-wire
 * mode, LINT0 of the boot CPU) makes that vCPU 0. */
static void pic_output(void *ctx, int level)
{
    struct irq_chip *chip = ctx;
    atomic_store_explicit(&chip->extint_level, level, memory_order_release);
    if (!level)
        return;
    if (chip->mode == IRQCHIP_SPLIT)
        wake_cpu(chip, 0);
    else
        for (int i = 0; i < chip->ncpus; i++)
            if (lapic_accepts_extint(&chip->lapics[i]))
                wake_cpu(chip, i);
}

/* The timer thread: channel 0 of the PIT drives IRQ 0 (sleep until its
 * output next rises), and in user mode each LAPIC's timerfd fires its timer. */
static void *timer_thread(void *arg)
{
    struct irq_chip *chip = arg;
    pthread_setname_np(pthread_self(), "ember-timers");
    seccomp_confine_thread(THREAD_TIMERS);
    int nlapic = chip->mode == IRQCHIP_USER ? chip->ncpus : 0;
    struct pollfd *p = calloc((size_t)(2 + nlapic), sizeof(*p));
    if (!p) {
        log_error("irqchip: out of memory for the timer thread");
        return NULL;
    }
    p[0] = (struct pollfd){.fd = chip->timer_fd, .events = POLLIN};
    p[1] = (struct pollfd){.fd = chip->wake_fd, .events = POLLIN};
    for (int i = 0; i < nlapic; i++)
        p[2 + i] = (struct pollfd){.fd = chip->slots[i].timer_fd, .events = POLLIN};
    while (__atomic_load_n(&chip->timer_running, __ATOMIC_ACQUIRE)) {
        uint64_t next = pit_next_irq_ns(&chip->pit, clock_monotonic_ns());
        struct itimerspec its = {0};
        if (next != UINT64_MAX) {
            its.it_value.tv_sec = (time_t)(next / 1000000000ULL);
            its.it_value.tv_nsec = (long)(next % 1000000000ULL);
        }
        timerfd_settime(chip->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
        if (poll(p, (nfds_t)(2 + nlapic), -1) < 0 && errno != EINTR)
            break;
        uint64_t v;
        if (p[1].revents & POLLIN) {
            ssize_t r = read(chip->wake_fd, &v, sizeof(v));
            (void)r;
        }
        if ((p[0].revents & POLLIN) && read(chip->timer_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
            irq_line_pulse(chip, 0);
        for (int i = 0; i < nlapic; i++)
            if ((p[2 + i].revents & POLLIN) && read(p[2 + i].fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                lapic_timer_expired(&chip->lapics[i], clock_monotonic_ns());
    }
    free(p);
    return NULL;
}

/* --- creation ---------------------------------------------------------------- */

/* User mode: the APIC base and TSC-deadline MSRs (through a filter) and the
 * x2APIC MSRs (which KVM rejects without its LAPIC) exit to ember. */
static bool enable_user_msrs(int vm_fd)
{
    if (kvm_check_extension(vm_fd, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
        kvm_check_extension(vm_fd, KVM_CAP_X86_MSR_FILTER) <= 0)
        return false;
    struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
                                 .args = {KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_INVAL}};
    if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0)
        return false;
    static uint8_t deny = 0; /* a clear bit: the access exits to user space */
    struct kvm_msr_filter filter = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
    filter.ranges[0] = (struct kvm_msr_filter_range){
        .flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, .nmsrs = 1, .base = MSR_IA32_APICBASE, .bitmap = &deny};
    filter.ranges[1] = (struct kvm_msr_filter_range){
        .flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, .nmsrs = 1, .base = MSR_IA32_TSC_DEADLINE, .bitmap = &deny};
    return ioctl(vm_fd, KVM_X86_SET_MSR_FILTER, &filter) == 0;
}

static int create_lapics(struct irq_chip *chip)
{
    chip->lapics = calloc((size_t)chip->ncpus, sizeof(*chip->lapics));
    chip->slots = calloc((size_t)chip->ncpus, sizeof(*chip->slots));
    if (!chip->lapics || !chip->slots) {
        log_error("irqchip: out of memory for %d LAPICs", chip->ncpus);
        return -1;
    }
    for (int i = 0; i < chip->ncpus; i++)
        chip->slots[i] = (struct irq_lapic_slot){.chip = chip, .cpu = i, .timer_fd = -1};
    for (int i = 0; i < chip->ncpus; i++) {
        struct irq_lapic_slot *slot = &chip->slots[i];
        slot->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (slot->timer_fd < 0) {
            log_error("irqchip: timerfd for LAPIC %d: %s", i, strerror(errno));
            return -1;
        }
        struct lapic_hooks hooks = {.send_ipi = lapic_send_ipi, .eoi = lapic_eoi_hook, .arm_timer = lapic_arm_timer,
                                    .notify = lapic_notify, .ctx = slot};
        lapic_init(&chip->lapics[i], (uint32_t)i, i == 0, &hooks);
    }
    chip->user_msrs = enable_user_msrs(chip->vm_fd);
    if (!chip->user_msrs)
        log_info("--irqchip user: the host's KVM cannot send MSR accesses to ember "
                 "(KVM_CAP_X86_USER_SPACE_MSR/KVM_CAP_X86_MSR_FILTER); x2APIC and the TSC-deadline timer are not offered");
    return 0;
}

int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode, int ncpus, struct io_bus *pio,
                    struct io_bus *mmio, uint8_t ioapic_id)
{
    memset(chip, 0, sizeof(*chip));
    pthread_mutex_init(&chip->routes_lock, NULL);
    chip->mode = mode;
    chip->vm_fd = vm_fd;
    chip->ncpus = ncpus;
    chip->timer_fd = chip->wake_fd = -1;
    if (mode == IRQCHIP_KERNEL) {
        static const struct { long cap; const char *name; } caps[] = {
            {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"}, {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
            {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"}};
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
            if (kvm_check_extension(vm_fd, caps[i].cap) <= 0) {
                log_error("--irqchip kernel: the host's KVM lacks %s (try --irqchip user)", caps[i].name);
                return -1;
            }
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
    if (mode == IRQCHIP_SPLIT) {
        if (kvm_check_extension(vm_fd, KVM_CAP_SPLIT_IRQCHIP) <= 0) {
            log_error("--irqchip split: the host's KVM lacks KVM_CAP_SPLIT_IRQCHIP (try --irqchip user)");
            return -1;
        }
        if (kvm_check_extension(vm_fd, KVM_CAP_IRQ_ROUTING) <= 0) {
            log_error("--irqchip split: the host's KVM lacks KVM_CAP_IRQ_ROUTING (try --irqchip user)");
            return -1;
        }
        struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {IOAPIC_PINS}};
        if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
            log_error("--irqchip split: enabling KVM_CAP_SPLIT_IRQCHIP failed: %s", strerror(errno));
            return -1;
        }
    }
    chip->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    chip->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (chip->timer_fd < 0 || chip->wake_fd < 0) {
        log_error("irqchip: timerfd/eventfd: %s", strerror(errno));
        return -1;
    }
    if (mode == IRQCHIP_USER && create_lapics(chip) < 0)
        return -1;
    ioapic_init(&chip->ioapic, ioapic_id, mode == IRQCHIP_USER ? user_send_msi : split_send_msi, chip);
    pic_init(&chip->pic, pic_output, chip);
    pit_init(&chip->pit, NULL);
    for (int i = 0; i < IOAPIC_PINS; i++)
        chip->routes[i] = IOAPIC_RTE_MASKED;
    const struct bus_device_ops *ioapic_ops = mode == IRQCHIP_USER ? &ioapic_mmio_ops : &split_ioapic_ops;
    void *ioapic_ctx = mode == IRQCHIP_USER ? (void *)&chip->ioapic : chip;
    if (io_bus_register(mmio, LAYOUT_IOAPIC, IOAPIC_MMIO_SIZE, ioapic_ops, ioapic_ctx) < 0 ||
        io_bus_register(pio, 0x20, 2, &pic_master_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0xa0, 2, &pic_slave_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0x4d0, 2, &pic_elcr_ops, &chip->pic) < 0 ||
        io_bus_register(pio, 0x40, 4, &split_pit_ops, chip) < 0 ||
        io_bus_register(pio, 0x61, 1, &pit_gate_ops, &chip->pit) < 0)
        return -1;
    return 0;
}

void irq_chip_destroy(struct irq_chip *chip)
{
    pthread_mutex_destroy(&chip->routes_lock);
    if (chip->lapics) {
        for (int i = 0; i < chip->ncpus; i++)
            lapic_destroy(&chip->lapics[i]);
        free(chip->lapics);
    }
    if (chip->slots) {
        for (int i = 0; i < chip->ncpus; i++)
            if (chip->slots[i].timer_fd >= 0)
                close(chip->slots[i].timer_fd);
        free(chip->slots);
    }
    chip->lapics = NULL;
    chip->slots = NULL;
    if (chip->timer_fd >= 0)
        close(chip->timer_fd);
    if (chip->wake_fd >= 0)
        close(chip->wake_fd);
    chip->timer_fd = chip->wake_fd = -1;
}

int irq_chip_start(struct irq_chip *chip)
{
    if (chip->mode == IRQCHIP_KERNEL)
        return 0;
    __atomic_store_n(&chip->timer_running, 1, __ATOMIC_RELEASE);
    int r = pthread_create(&chip->timer_thread, NULL, timer_thread, chip);
    if (r != 0) {
        chip->timer_running = 0;
        log_error("irqchip: cannot start the PIT timer thread: %s", strerror(r));
        return -1;
    }
    return 0;
}

void irq_chip_stop(struct irq_chip *chip)
{
    if (chip->mode == IRQCHIP_KERNEL || !chip->timer_running)
        return;
    __atomic_store_n(&chip->timer_running, 0, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t r = write(chip->wake_fd, &one, sizeof(one));
    (void)r;
    pthread_join(chip->timer_thread, NULL);
}

int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level)
{
    if (chip->mode != IRQCHIP_KERNEL) {
        ioapic_set_line(&chip->ioapic, gsi, level);
        if (gsi < 16)
            pic_set_irq(&chip->pic, gsi, level);
        return 0;
    }
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
    if (ioctl(chip->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        static struct log_ratelimit irq_line_log; /* devices move lines as often as the guest drives them */
        log_warn_ratelimited(&irq_line_log, "irqchip: KVM_IRQ_LINE gsi %u failed: %s", gsi, strerror(errno));
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

int irq_event_init(struct irq_event *ev, struct irq_chip *chip, uint32_t gsi)
{
    *ev = (struct irq_event){.chip = chip, .gsi = gsi, .fd = -1};
    if (chip->mode != IRQCHIP_KERNEL)
        return 0;
    ev->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev->fd < 0) {
        log_error("irqchip: eventfd for GSI %u: %s", gsi, strerror(errno));
        return -1;
    }
    struct kvm_irqfd irqfd = {.fd = (uint32_t)ev->fd, .gsi = gsi};
    if (ioctl(chip->vm_fd, KVM_IRQFD, &irqfd) < 0) {
        /* Not fatal: the slower KVM_IRQ_LINE path works everywhere. */
        log_debug("irqchip: KVM_IRQFD for GSI %u failed (%s); using KVM_IRQ_LINE", gsi, strerror(errno));
        close(ev->fd);
        ev->fd = -1;
    }
    return 0;
}

void irq_event_signal(struct irq_event *ev)
{
    if (ev->fd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(ev->fd, &one, sizeof(one));
        (void)r;
        return;
    }
    irq_line_pulse(ev->chip, ev->gsi);
}

void irq_event_destroy(struct irq_event *ev)
{
    if (ev->fd >= 0) {
        struct kvm_irqfd irqfd = {.fd = (uint32_t)ev->fd, .gsi = ev->gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
        ioctl(ev->chip->vm_fd, KVM_IRQFD, &irqfd);
        close(ev->fd);
    }
    ev->fd = -1;
}

int irq_send_msi(struct irq_chip *chip, uint64_t address, uint32_t data)
{
    if (chip->mode == IRQCHIP_USER)
        user_send_msi(chip, address, data);
    else
        split_send_msi(chip, address, data);
    return 0;
}

void irq_chip_eoi(struct irq_chip *chip, uint8_t vector)
{
    if (chip->mode == IRQCHIP_SPLIT)
        ioapic_eoi(&chip->ioapic, vector);
}
