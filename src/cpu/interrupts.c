#include "cpu/interrupts.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cpu/vcpu.h"
#include "util/log.h"
#include "util/clock.h"

#define MSR_IA32_TSC 0x10

static void inject(struct vcpu *vcpu, int vector)
{
    struct kvm_interrupt irq = {.irq = (uint32_t)vector};
    static struct log_ratelimit inject_log; /* once per interrupt the guest's devices raise */
    if (ioctl(vcpu->fd, KVM_INTERRUPT, &irq) < 0)
        log_warn_ratelimited(&inject_log, "vcpu %d: KVM_INTERRUPT vector 0x%x failed: %s", vcpu->id, vector, strerror(errno));
}

/* Sleeps on the wake eventfd until something is signalled for this vCPU, or
 * the VM stops (its stop eventfd stays readable once signalled, so a stop
 * that lands between the caller's vm_lifecycle_stopping() check and the poll is not
 * lost, as a kick signal alone would be). A kick (the stop probe) interrupts
 * the sleep; the probe is answered here, since this thread is not in
 * KVM_RUN. */
static void sleep_until_woken(struct vcpu *vcpu, bool parked)
{
    struct pollfd p[2] = {{.fd = vcpu->wake_fd, .events = POLLIN}, {.fd = vcpu->m->life->stop_efd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
        vcpu->run->immediate_exit = 0; /* set by the kick handler */
        unsigned probe = atomic_load(&vcpu->m->life->stop_probe);
        if (probe != atomic_load(&vcpu->probe_answered))
            vcpu_answer_probe(vcpu, probe, parked);
        return;
    }
    if (!(p[0].revents & POLLIN))
        return; /* the stop: the caller sees it */
    uint64_t v;
    ssize_t r = read(vcpu->wake_fd, &v, sizeof(v));
    (void)r;
}

/* A start-up IPI: real mode at vector << 12, every other register as after
 * INIT (the SDM's table of the INIT state). */
static int enter_startup_vector(struct vcpu *vcpu, uint8_t vector)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    struct kvm_segment data = {.base = 0, .limit = 0xffff, .selector = 0, .type = 3, .present = 1, .s = 1};
    sregs.cs = data;
    sregs.cs.selector = (uint16_t)(vector << 8);
    sregs.cs.base = (uint64_t)vector << 12;
    sregs.cs.type = 0xb;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = (struct kvm_segment){.limit = 0xffff, .type = 0xb, .present = 1};
    sregs.ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
    sregs.gdt.base = sregs.idt.base = 0;
    sregs.gdt.limit = sregs.idt.limit = 0xffff;
    sregs.cr0 = 0x60000010; /* CD | NW | ET */
    sregs.cr2 = sregs.cr3 = sregs.cr4 = 0;
    sregs.efer = 0;
    memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;
    struct kvm_regs regs = {.rflags = 0x2, .rip = 0};
    return ioctl(vcpu->fd, KVM_SET_REGS, &regs);
}

/* NMI, INIT and SIPI for this CPU; after INIT it sleeps until its SIPI.
 * Returns -1 when the VM stops meanwhile. */
static int take_events(struct vcpu *vcpu, struct lapic *lapic)
{
    for (;;) {
        uint8_t sipi = 0;
        uint32_t ev = lapic_take_events(lapic, &sipi);
        if ((ev & LAPIC_EVENT_SIPI) && enter_startup_vector(vcpu, sipi) < 0) {
            vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: cannot enter start-up vector 0x%x: %s", vcpu->id,
                            sipi, strerror(errno));
            return -1;
        }
        bool waiting = lapic_waiting_for_sipi(lapic);
        static struct log_ratelimit nmi_log; /* the guest sends NMI IPIs at will */
        if ((ev & LAPIC_EVENT_NMI) && !waiting && ioctl(vcpu->fd, KVM_NMI) < 0)
            log_warn_ratelimited(&nmi_log, "vcpu %d: KVM_NMI failed: %s", vcpu->id, strerror(errno));
        if (!waiting)
            return 0;
        if (vm_lifecycle_stopping(vcpu->m->life))
            return -1;
        atomic_store(&vcpu->state, VCPU_HALTED);
        sleep_until_woken(vcpu, true);
        vm_lifecycle_pause_point(vcpu->m->life, &vcpu->state, VCPU_PAUSED);
        atomic_store(&vcpu->state, VCPU_RUNNING);
    }
}

static bool extint_for(struct vcpu *vcpu, struct lapic *lapic)
{
    return irq_extint_pending(vcpu->m->irq) && lapic_accepts_extint(lapic);
}

int vcpu_irq_prepare(struct vcpu *vcpu)
{
    struct irq_chip *chip = vcpu->m->irq;
    struct kvm_run *run = vcpu->run;
    if (chip->mode == IRQCHIP_KERNEL)
        return 0;
    if (chip->mode == IRQCHIP_SPLIT) {
        /* KVM's ready_for_interrupt_injection already accounts for its
         * LAPIC's LINT0 mask and the guest's IF. */
        if (vcpu->id == 0 && irq_extint_pending(chip) && run->ready_for_interrupt_injection)
            inject(vcpu, irq_extint_acknowledge(chip));
        run->request_interrupt_window = vcpu->id == 0 && irq_extint_pending(chip);
        return 0;
    }
    struct lapic *lapic = irq_lapic(chip, vcpu->id);
    if (take_events(vcpu, lapic) < 0)
        return -1;
    bool pending = extint_for(vcpu, lapic) || lapic_pending_vector(lapic) >= 0;
    if (pending && run->ready_for_interrupt_injection && run->if_flag) {
        /* ExtINT is not subject to the LAPIC's priorities: the 8259 decides. */
        int vector = extint_for(vcpu, lapic) ? irq_extint_acknowledge(chip) : lapic_acknowledge(lapic);
        if (vector >= 0)
            inject(vcpu, vector);
        pending = extint_for(vcpu, lapic) || lapic_pending_vector(lapic) >= 0;
    }
    run->request_interrupt_window = pending;
    return 0;
}

void vcpu_irq_halt(struct vcpu *vcpu)
{
    struct lapic *lapic = irq_lapic(vcpu->m->irq, vcpu->id);
    if (!lapic) { /* cannot happen: KVM's LAPIC handles HLT itself */
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: halted with no interrupt controller to wake it", vcpu->id);
        return;
    }
    /* HLT with IF=0 waits for NMI, INIT or SIPI only: a CPU parked for good. */
    bool if_on = vcpu->run->if_flag;
    atomic_store(&vcpu->state, VCPU_HALTED);
    while (!vm_lifecycle_stopping(vcpu->m->life)) {
        struct lapic_state s;
        lapic_get_state(lapic, &s);
        if (s.events || (if_on && (lapic_pending_vector(lapic) >= 0 || extint_for(vcpu, lapic))))
            break;
        sleep_until_woken(vcpu, !if_on);
        vm_lifecycle_pause_point(vcpu->m->life, &vcpu->state, VCPU_PAUSED); /* a pause parks it here, still halted */
    }
    atomic_store(&vcpu->state, VCPU_RUNNING);
}

bool vcpu_irq_mmio(struct vcpu *vcpu)
{
    struct lapic *lapic = irq_lapic(vcpu->m->irq, vcpu->id);
    struct kvm_run *run = vcpu->run;
    if (!lapic || !lapic_in_mmio_page(lapic, run->mmio.phys_addr))
        return false;
    uint64_t offset = run->mmio.phys_addr & (LAPIC_MMIO_SIZE - 1);
    /* Registers are 32-bit and 16-byte aligned; anything else reads 0 and
     * writes nothing, as on hardware ("undefined" made harmless). */
    bool proper = run->mmio.len == 4 && !(offset & 3);
    uint32_t value = 0;
    if (run->mmio.is_write) {
        memcpy(&value, run->mmio.data, 4);
        if (proper)
            lapic_mmio_write(lapic, offset, value, clock_monotonic_ns());
    } else {
        if (proper)
            value = lapic_mmio_read(lapic, offset, clock_monotonic_ns());
        memset(run->mmio.data, 0, sizeof(run->mmio.data));
        memcpy(run->mmio.data, &value, 4);
    }
    return true;
}

/* The host time at which the guest's TSC reaches `tsc`. */
static uint64_t tsc_deadline_to_ns(struct vcpu *vcpu, uint64_t tsc)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = {.hdr.nmsrs = 1, .e.index = MSR_IA32_TSC};
    uint64_t now = clock_monotonic_ns();
    if (!vcpu->tsc_khz || ioctl(vcpu->fd, KVM_GET_MSRS, &m) != 1 || tsc <= m.e.data)
        return now;
    unsigned __int128 ns = (unsigned __int128)(tsc - m.e.data) * 1000000u / vcpu->tsc_khz;
    uint64_t cap = 100ULL * 365 * 24 * 3600 * 1000000000ULL; /* a century: far enough */
    return now + (ns > cap ? cap : (uint64_t)ns);
}

void vcpu_irq_msr(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    struct lapic *lapic = irq_lapic(vcpu->m->irq, vcpu->id);
    uint32_t msr = run->msr.index;
    bool write = run->exit_reason == KVM_EXIT_X86_WRMSR;
    int r = -1;
    if (lapic && msr == MSR_IA32_APICBASE) {
        if (write)
            r = lapic_set_base(lapic, run->msr.data);
        else
            run->msr.data = lapic_get_base(lapic), r = 0;
    } else if (lapic && msr == MSR_IA32_TSC_DEADLINE) {
        if (write)
            lapic_set_tsc_deadline(lapic, run->msr.data, run->msr.data ? tsc_deadline_to_ns(vcpu, run->msr.data) : 0);
        else
            run->msr.data = lapic_get_tsc_deadline(lapic);
        r = 0;
    } else if (lapic && msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST) {
        uint64_t value;
        r = write ? lapic_msr_write(lapic, msr, run->msr.data, clock_monotonic_ns())
                  : lapic_msr_read(lapic, msr, &value, clock_monotonic_ns());
        if (!write && r == 0)
            run->msr.data = value;
    }
    run->msr.error = r < 0; /* KVM injects #GP */
}
