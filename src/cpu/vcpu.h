/* A virtual CPU: its descriptor and the guest execution loop that runs on the
 * vCPU's own host thread ("ember-vcpuN"): KVM_RUN, handle the exit by reason,
 * re-enter. Another thread stops or pauses it by setting a request and
 * kicking it with a signal; the signal handler sets kvm_run.immediate_exit so
 * a kick that races with entry is never lost. */
#ifndef EMBER_CPU_VCPU_H
#define EMBER_CPU_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "boot/boot.h"
#include "bus/io_bus.h"
#include "irq/irq.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"
#include "vm/lifecycle.h"

/* What a vCPU needs of the machine it belongs to, and no more: the vCPU code
 * has no view of the whole VM (vm/vm.c builds this and owns what it points
 * to, for as long as the vCPUs live). */
struct cpu_template;

struct vcpu_machine {
    int vm_fd;
    const struct kvm_system *kvm;
    int ncpus;
    int threads_per_core;           /* 2 with SMT, else 1 */
    uint32_t kvm_pv_off;            /* KVM paravirt features hidden from the guest */
    bool firecracker_names;         /* threads named "fc_vcpu N", not "ember-vcpuN" */
    const struct kvm_cpuid2 *cpuid; /* what each vCPU's CPUID starts from: KVM's, or a template's */
    const struct cpu_template *cpu_template; /* its MSR changes, or NULL */
    struct irq_chip *irq;
    struct io_bus *pio, *mmio;
    const struct guest_memory *mem;
    struct vm_lifecycle *life;      /* stop requests, pause points */
};

enum vcpu_state {
    VCPU_CREATED,
    VCPU_RUNNING,
    VCPU_PAUSED,
    VCPU_HALTED,
    VCPU_STOPPED,
};

/* Exit reasons KVM defines today fit below this; larger ones count as "other". */
#define VCPU_EXIT_REASONS 64

struct vcpu {
    int id;                 /* vCPU index, also its APIC id */
    const struct vcpu_machine *m;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    /* thread_alive: `thread` may be signalled (started, not yet finished).
     * thread_lock guards it; the kick and wake paths take it, nothing is
     * taken inside it. */
    pthread_mutex_t thread_lock;
    bool thread_alive;
    _Atomic int state;      /* enum vcpu_state */
    atomic_ulong exits[VCPU_EXIT_REASONS + 1];
    /* The I/O exits by direction (Firecracker's metrics count them so). */
    atomic_ulong io_in, io_out, mmio_read, mmio_write;
    /* Stop probe (see vm.c): the last probe this vCPU answered and whether it
     * was then parked for good: halted with interrupts off, or never started. */
    atomic_uint probe_answered;
    atomic_bool parked;
    /* Split/user irqchip (cpu/interrupts.c): signalled when an interrupt or
     * event arrives for this vCPU while it sleeps in ember (HLT, or waiting
     * for a start-up IPI). */
    int wake_fd;
    uint32_t tsc_khz;       /* the guest TSC rate, for the TSC-deadline timer */
};

/* Answers a pending stop probe from the vCPU's own thread (called after a
 * kick). parked: 1 or 0 when the caller knows, -1 to ask KVM's MP state. */
void vcpu_answer_probe(struct vcpu *vcpu, unsigned probe, int parked);

const char *vcpu_state_name(enum vcpu_state s);
const char *vcpu_exit_reason_name(unsigned reason);

int vcpu_create(struct vcpu *vcpu, const struct vcpu_machine *m, int id);
void vcpu_destroy(struct vcpu *vcpu);
/* CPUID, MSRs, FPU and LAPIC defaults; the boot vCPU also gets the entry state. */
int vcpu_configure(struct vcpu *vcpu, const struct boot_entry *entry);
int vcpu_start(struct vcpu *vcpu);
/* Interrupts KVM_RUN (or the next entry) on that vCPU's thread. */
void vcpu_kick(struct vcpu *vcpu);
/* An interrupt or event is pending for the vCPU: wake it if it sleeps in
 * ember, kick it out of KVM_RUN if it runs guest code. */
void vcpu_wake(struct vcpu *vcpu);
/* Installs the kick signal handler; call once before starting vCPUs. */
int vcpu_signals_init(void);
int vcpu_kick_signal(void);

#endif
