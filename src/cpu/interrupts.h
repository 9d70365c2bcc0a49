/* How a vCPU takes interrupts that KVM does not deliver by itself.
 *   kernel: nothing to do here; KVM's irqchip injects everything.
 *   split:  the 8259's ExtINT output is injected into vCPU 0 with
 *           KVM_INTERRUPT (KVM's LAPIC takes it through LINT0).
 *   user:   every interrupt. ember's LAPIC (irq/lapic.c) holds IRR and ISR;
 *           before each KVM_RUN the vCPU thread takes NMI/INIT/SIPI events
 *           and injects the highest deliverable vector with KVM_INTERRUPT
 *           when KVM reports the guest can take one, or asks for an
 *           interrupt-window exit when it cannot. HLT exits to ember, which
 *           sleeps on the vCPU's wake eventfd; so does an AP waiting for its
 *           start-up IPI. LAPIC MMIO and the APIC MSRs are handled here.
 * All of it runs on the vCPU's own thread. */
#ifndef EMBER_CPU_INTERRUPTS_H
#define EMBER_CPU_INTERRUPTS_H

#include <stdbool.h>

struct vcpu;

/* Before KVM_RUN. Returns -1 when the VM is stopping (the vCPU must leave). */
int vcpu_irq_prepare(struct vcpu *vcpu);
/* KVM_EXIT_HLT (user mode): sleeps until something can wake the CPU. */
void vcpu_irq_halt(struct vcpu *vcpu);
/* A KVM_EXIT_MMIO inside this vCPU's LAPIC page (user mode): handled, true. */
bool vcpu_irq_mmio(struct vcpu *vcpu);
/* KVM_EXIT_X86_RDMSR/WRMSR: the APIC base, TSC-deadline and x2APIC MSRs;
 * anything else faults in the guest (#GP), as KVM itself would. */
void vcpu_irq_msr(struct vcpu *vcpu);

#endif
