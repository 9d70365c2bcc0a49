#include "cpu/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "cpu/cpu_template.h"
#include "cpu/cpuid.h"
#include "cpu/interrupts.h"
#include "memory/layout.h"
#include "util/log.h"

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1ULL
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_EXTINT 0x700
#define APIC_MODE_NMI 0x400

static __thread struct vcpu *current_vcpu;

const char *vcpu_state_name(enum vcpu_state s)
{
    static const char *const names[] = {"created", "running", "paused", "halted", "stopped"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *vcpu_exit_reason_name(unsigned reason)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION", [KVM_EXIT_IO] = "IO",
        [KVM_EXIT_HYPERCALL] = "HYPERCALL", [KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT",
        [KVM_EXIT_MMIO] = "MMIO", [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN", [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR", [KVM_EXIT_SET_TPR] = "SET_TPR",
        [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS", [KVM_EXIT_NMI] = "NMI", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
        [KVM_EXIT_X86_RDMSR] = "X86_RDMSR", [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
        [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL", [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
        [KVM_EXIT_NOTIFY] = "NOTIFY",
    };
    if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
        return names[reason];
    return "other";
}

/* --- kicking --------------------------------------------------------------- */

#define KICK_SIGNAL (SIGRTMIN + 0)

static void kick_handler(int sig)
{
    (void)sig;
    /* Async-signal-safe: a plain store into this thread's kvm_run. KVM checks
     * immediate_exit on entry, so a kick landing just before KVM_RUN still
     * makes that KVM_RUN return at once with EINTR. */
    if (current_vcpu)
        current_vcpu->run->immediate_exit = 1;
}

int vcpu_kick_signal(void) { return KICK_SIGNAL; }

int vcpu_signals_init(void)
{
    struct sigaction sa = {.sa_handler = kick_handler};
    sigemptyset(&sa.sa_mask);
    if (sigaction(KICK_SIGNAL, &sa, NULL) < 0) {
        log_error("vcpu: cannot install the kick signal handler: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The signal goes only to a thread that has not finished: once it has (and
 * perhaps been joined), its pthread_t may name nothing, or another thread.
 * thread_lock orders the check against the thread's own last step. */
static void signal_thread(struct vcpu *vcpu, bool only_if_running)
{
    pthread_mutex_lock(&vcpu->thread_lock);
    if (vcpu->thread_alive && (!only_if_running || atomic_load(&vcpu->state) == VCPU_RUNNING))
        pthread_kill(vcpu->thread, KICK_SIGNAL);
    pthread_mutex_unlock(&vcpu->thread_lock);
}

void vcpu_kick(struct vcpu *vcpu) { signal_thread(vcpu, false); }

void vcpu_wake(struct vcpu *vcpu)
{
    uint64_t one = 1;
    ssize_t r = write(vcpu->wake_fd, &one, sizeof(one));
    (void)r;
    /* A vCPU in ember's HLT wait has the eventfd; only one that may be in
     * KVM_RUN needs the signal, and never the calling thread itself (it
     * checks for interrupts before its next entry anyway). */
    if (vcpu != current_vcpu)
        signal_thread(vcpu, true);
}

/* --- creation and configuration --------------------------------------------- */

int vcpu_create(struct vcpu *vcpu, const struct vcpu_machine *m, int id)
{
    memset(vcpu, 0, sizeof(*vcpu));
    pthread_mutex_init(&vcpu->thread_lock, NULL);
    vcpu->id = id;
    vcpu->m = m;
    vcpu->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vcpu->wake_fd < 0) {
        log_error("vcpu %d: eventfd: %s", id, strerror(errno));
        return -1;
    }
    vcpu->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (vcpu->fd < 0) {
        log_error("vcpu %d: KVM_CREATE_VCPU failed: %s", id, strerror(errno));
        return -1;
    }
    vcpu->run_size = (size_t)m->kvm->vcpu_mmap_size;
    vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
    if (vcpu->run == MAP_FAILED) {
        log_error("vcpu %d: cannot map kvm_run: %s", id, strerror(errno));
        vcpu->run = NULL;
        close(vcpu->fd);
        vcpu->fd = -1;
        return -1;
    }
    atomic_store(&vcpu->state, VCPU_CREATED);
    return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
    if (vcpu->run)
        munmap(vcpu->run, vcpu->run_size);
    if (vcpu->fd >= 0)
        close(vcpu->fd);
    if (vcpu->wake_fd >= 0)
        close(vcpu->wake_fd);
    vcpu->run = NULL;
    vcpu->fd = vcpu->wake_fd = -1;
    pthread_mutex_destroy(&vcpu->thread_lock);
}

static void set_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64, bool db)
{
    *s = (struct kvm_segment){
        .base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
        .dpl = 0, .db = db, .s = 1, .l = code64, .g = 1,
    };
}

static int setup_entry_state(struct vcpu *vcpu, const struct boot_entry *entry)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    bool long_mode = entry->mode == BOOT_ENTRY_LONG64;
    if (long_mode)
        set_segment(&sregs.cs, BOOT_GDT_CODE64, 0xb, true, false);
    else
        set_segment(&sregs.cs, BOOT_GDT_CODE32, 0xb, false, true);
    set_segment(&sregs.ds, BOOT_GDT_DATA, 0x3, false, true);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.tr = (struct kvm_segment){.base = 0, .limit = 0x67, .selector = BOOT_GDT_TSS, .type = 0xb, .present = 1};
    sregs.ldt = (struct kvm_segment){.selector = 0, .type = 0x2, .present = 1, .limit = 0xffff};
    sregs.gdt.base = LAYOUT_GDT;
    sregs.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    if (long_mode) {
        sregs.cr0 = 0x80000033ULL; /* PG | NE | ET | MP | PE */
        sregs.cr3 = LAYOUT_PML4;
        sregs.cr4 = 0x20;          /* PAE */
        sregs.efer = 0x500;        /* LMA | LME */
    } else {
        sregs.cr0 = 0x11;          /* ET | PE, paging off, as PVH requires */
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;
    struct kvm_regs regs = {.rflags = 0x2, .rip = entry->rip, .rsp = LAYOUT_BOOT_STACK};
    if (long_mode)
        regs.rsi = entry->arg;
    else
        regs.rbx = entry->arg;
    return ioctl(vcpu->fd, KVM_SET_REGS, &regs);
}

static int setup_lapic(struct vcpu *vcpu)
{
    struct kvm_lapic_state lapic;
    if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
        return -1;
    /* Virtual-wire mode as a BIOS leaves it: the PIC's output on LINT0, NMI on LINT1. */
    uint32_t lint0, lint1;
    memcpy(&lint0, &lapic.regs[APIC_LVT_LINT0], 4);
    memcpy(&lint1, &lapic.regs[APIC_LVT_LINT1], 4);
    lint0 = (lint0 & ~0x700u) | APIC_MODE_EXTINT;
    lint1 = (lint1 & ~0x700u) | APIC_MODE_NMI;
    memcpy(&lapic.regs[APIC_LVT_LINT0], &lint0, 4);
    memcpy(&lapic.regs[APIC_LVT_LINT1], &lint1, 4);
    return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic);
}

int vcpu_configure(struct vcpu *vcpu, const struct boot_entry *entry)
{
    const struct vcpu_machine *m = vcpu->m;
    enum cpuid_apic apic = m->irq->mode != IRQCHIP_USER ? CPUID_APIC_KVM
                           : m->irq->user_msrs            ? CPUID_APIC_USER
                                                          : CPUID_APIC_USER_NO_MSRS;
    struct kvm_cpuid2 *cpuid = cpuid_for_vcpu(m->cpuid, vcpu->id, m->ncpus, m->threads_per_core, apic,
                                                m->kvm_pv_off);
    if (!cpuid || ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
        log_error("vcpu %d: KVM_SET_CPUID2 failed: %s", vcpu->id, strerror(errno));
        free(cpuid);
        return -1;
    }
    free(cpuid);

    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[1];
    } msrs = {.hdr.nmsrs = 1, .e = {{.index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING}}};
    if (ioctl(vcpu->fd, KVM_SET_MSRS, &msrs) != 1)
        log_debug("vcpu %d: IA32_MISC_ENABLE not accepted", vcpu->id);
    char err[CPU_TEMPLATE_ERR_MAX];
    if (m->cpu_template && cpu_template_apply_msrs(m->cpu_template, vcpu->fd, err) < 0) {
        log_error("vcpu %d: %s", vcpu->id, err);
        return -1;
    }

    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
    if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
        log_error("vcpu %d: KVM_SET_FPU failed: %s", vcpu->id, strerror(errno));
        return -1;
    }
    int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
    vcpu->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    /* In user mode the LAPIC is ember's (irq/lapic.c), set up by its model. */
    if (m->irq->mode != IRQCHIP_USER && setup_lapic(vcpu) < 0) {
        log_error("vcpu %d: cannot set up the local APIC: %s", vcpu->id, strerror(errno));
        return -1;
    }
    /* Only the boot vCPU starts at the kernel entry; the others wait (in
     * KVM, or in ember in user mode) for INIT/SIPI from the guest, as on
     * real hardware. */
    if (vcpu->id == 0 && setup_entry_state(vcpu, entry) < 0) {
        log_error("vcpu 0: cannot set the boot entry state: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* --- the execution loop ----------------------------------------------------- */

static uint64_t current_rip(struct vcpu *vcpu)
{
    struct kvm_regs regs;
    return ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : ~0ULL;
}

/* A triple fault. On AMD, KVM has already reset the vCPU when it reports one
 * (the VMCB is undefined after a shutdown), so a reset-vector RIP says
 * nothing about where the fault was: say so rather than print it as the
 * place. */
static void report_shutdown(struct vcpu *vcpu)
{
    struct kvm_sregs sregs;
    uint64_t rip = current_rip(vcpu);
    bool reset = rip == 0xfff0 && ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0 && sregs.cs.base == 0xffff0000;
    if (reset)
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_REBOOT,
                        "guest rebooted (triple fault on vcpu %d; KVM reset its registers, so the RIP is unknown)",
                        vcpu->id);
    else
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_REBOOT, "guest rebooted (triple fault on vcpu %d at RIP 0x%llx)", vcpu->id,
                        (unsigned long long)rip);
}

/* Instruction bytes at the guest's RIP, for a failure report: from KVM when it
 * provides them, else read through the guest's page tables. */
static int fetch_insn_bytes(struct vcpu *vcpu, uint8_t *out, int max)
{
    struct kvm_run *run = vcpu->run;
    if (run->emulation_failure.ndata >= 3 &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        int n = run->emulation_failure.insn_size;
        if (n > max)
            n = max;
        memcpy(out, run->emulation_failure.insn_bytes, (size_t)n);
        return n;
    }
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
        return 0;
    struct kvm_translation tr = {.linear_address = sregs.cs.base + regs.rip};
    if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
        return 0;
    for (int n = max; n > 0; n--)
        if (guest_read(vcpu->m->mem, tr.physical_address, out, (uint64_t)n) == 0)
            return n;
    return 0;
}

static void fail_internal_error(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint64_t rip = current_rip(vcpu);
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
        uint8_t insn[15];
        int n = fetch_insn_bytes(vcpu, insn, (int)sizeof(insn));
        char hex[15 * 3 + 1] = "";
        for (int i = 0; i < n; i++)
            snprintf(hex + i * 3, 4, "%02x ", insn[i]);
        if (n > 0)
            hex[n * 3 - 1] = '\0';
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR,
                        "vcpu %d: KVM could not emulate an instruction at RIP 0x%llx (bytes: %s)%s", vcpu->id,
                        (unsigned long long)rip, n ? hex : "unavailable",
                        vcpu->m->kvm->is_pvm ? "; this host's KVM is PVM, which emulates guest ring 0" : "");
    } else {
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: KVM internal error, suberror %u, at RIP 0x%llx",
                        vcpu->id, run->internal.suberror, (unsigned long long)rip);
    }
}

static void handle_io(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint32_t size = run->io.size;
    uint64_t total = (uint64_t)run->io.count * size;
    /* KVM fills these, but a bad offset would make us touch memory outside
     * the kvm_run mapping: check it. */
    if (size == 0 || size > 4 || run->io.data_offset > vcpu->run_size || total > vcpu->run_size - run->io.data_offset) {
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: malformed IO exit (size %u count %u)", vcpu->id, size,
                        run->io.count);
        return;
    }
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    atomic_fetch_add_explicit(run->io.direction == KVM_EXIT_IO_OUT ? &vcpu->io_out : &vcpu->io_in, 1,
                              memory_order_relaxed);
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_OUT)
            io_bus_write(vcpu->m->pio, run->io.port, data, size);
        else
            io_bus_read(vcpu->m->pio, run->io.port, data, size);
    }
}

static void handle_mmio(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    if (vcpu_irq_mmio(vcpu))
        return;
    uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;
    atomic_fetch_add_explicit(run->mmio.is_write ? &vcpu->mmio_write : &vcpu->mmio_read, 1, memory_order_relaxed);
    if (run->mmio.is_write)
        io_bus_write(vcpu->m->mmio, run->mmio.phys_addr, run->mmio.data, len);
    else
        io_bus_read(vcpu->m->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void handle_system_event(struct vcpu *vcpu)
{
    switch (vcpu->run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_POWEROFF, "guest powered off");
        break;
    case KVM_SYSTEM_EVENT_RESET:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_REBOOT, "guest rebooted");
        break;
    case KVM_SYSTEM_EVENT_CRASH:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "guest crashed (vcpu %d)", vcpu->id);
        break;
    default:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: unhandled system event %u", vcpu->id,
                        vcpu->run->system_event.type);
    }
}

static void handle_exit(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    unsigned reason = run->exit_reason;
    atomic_fetch_add_explicit(&vcpu->exits[reason < VCPU_EXIT_REASONS ? reason : VCPU_EXIT_REASONS], 1,
                              memory_order_relaxed);
    switch (reason) {
    case KVM_EXIT_IO:
        handle_io(vcpu);
        break;
    case KVM_EXIT_MMIO:
        handle_mmio(vcpu);
        break;
    case KVM_EXIT_INTR:
        break;
    case KVM_EXIT_IOAPIC_EOI: /* split irqchip: a level-triggered IOAPIC vector was EOIed */
        irq_chip_eoi(vcpu->m->irq, run->eoi.vector);
        break;
    case KVM_EXIT_HLT: /* user irqchip: the LAPIC is ember's, so is the wait */
        vcpu_irq_halt(vcpu);
        break;
    case KVM_EXIT_IRQ_WINDOW_OPEN: /* the guest can take the interrupt ember holds: next entry injects */
        break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
        vcpu_irq_msr(vcpu);
        break;
    case KVM_EXIT_SHUTDOWN:
        /* A triple fault: a PC resets. Linux uses it as its last reboot method. */
        report_shutdown(vcpu);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        handle_system_event(vcpu);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: VM entry failed, hardware reason 0x%llx, at RIP 0x%llx",
                        vcpu->id, (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
                        (unsigned long long)current_rip(vcpu));
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        fail_internal_error(vcpu);
        break;
    default:
        vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: unhandled exit %s (%u) at RIP 0x%llx", vcpu->id,
                        vcpu_exit_reason_name(reason), reason, (unsigned long long)current_rip(vcpu));
        break;
    }
}

void vcpu_answer_probe(struct vcpu *vcpu, unsigned probe, int known)
{
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    bool parked = known > 0;
    if (known < 0 && ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) == 0) {
        if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
            parked = true; /* an AP the guest never started */
        else if (mp.mp_state == KVM_MP_STATE_HALTED && ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0)
            parked = !(regs.rflags & 0x200); /* HLT with IF=0: only an NMI could wake it */
    }
    atomic_store(&vcpu->parked, parked);
    if (parked)
        atomic_store(&vcpu->state, VCPU_HALTED);
    atomic_store(&vcpu->probe_answered, probe);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    char name[16];
    snprintf(name, sizeof(name), vcpu->m->firecracker_names ? "fc_vcpu %d" : "ember-vcpu%d", vcpu->id);
    pthread_setname_np(pthread_self(), name);
    current_vcpu = vcpu;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    seccomp_confine_thread(THREAD_VCPU); /* before the first KVM_RUN */

    atomic_store(&vcpu->state, VCPU_RUNNING);
    /* With ember's LAPIC, a vCPU running guest code is never parked: HLT and
     * the wait for SIPI happen in ember, which answers probes there. */
    int known_parked = vcpu->m->irq->mode == IRQCHIP_USER ? 0 : -1;
    while (!vm_lifecycle_stopping(vcpu->m->life)) {
        vm_lifecycle_pause_point(vcpu->m->life, &vcpu->state, VCPU_PAUSED);
        if (vcpu_irq_prepare(vcpu) < 0)
            break;
        if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                vcpu->run->immediate_exit = 0;
                atomic_fetch_add_explicit(&vcpu->exits[KVM_EXIT_INTR], 1, memory_order_relaxed);
                unsigned probe = atomic_load(&vcpu->m->life->stop_probe);
                if (probe != atomic_load(&vcpu->probe_answered))
                    vcpu_answer_probe(vcpu, probe, known_parked);
                continue;
            }
            atomic_store(&vcpu->state, VCPU_RUNNING);
            vm_lifecycle_request_stop(vcpu->m->life, VM_STOP_ERROR, "vcpu %d: KVM_RUN failed: %s", vcpu->id, strerror(errno));
            break;
        }
        handle_exit(vcpu);
    }
    pthread_mutex_lock(&vcpu->thread_lock);
    atomic_store(&vcpu->state, VCPU_STOPPED);
    vcpu->thread_alive = false; /* no signal for this thread from here on */
    pthread_mutex_unlock(&vcpu->thread_lock);
    return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
    /* The kick signal stays blocked until the thread unblocks it itself, once
     * current_vcpu is set. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    atomic_store(&vcpu->state, VCPU_RUNNING);
    pthread_mutex_lock(&vcpu->thread_lock);
    int r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
    vcpu->thread_alive = r == 0;
    pthread_mutex_unlock(&vcpu->thread_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        atomic_store(&vcpu->state, VCPU_CREATED);
        log_error("vcpu %d: cannot start its thread: %s", vcpu->id, strerror(r));
        return -1;
    }
    return 0;
}
