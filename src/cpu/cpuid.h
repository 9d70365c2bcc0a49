/* The CPUID a vCPU sees: KVM's supported set, with the APIC id and topology
 * of that vCPU filled in, the hypervisor bit and KVM's paravirt leaves, and
 * features ember does not offer guests masked out. */
#ifndef EMBER_CPU_CPUID_H
#define EMBER_CPU_CPUID_H

#include <linux/kvm.h>

/* Where the vCPU's local APIC lives, which decides what CPUID may promise. */
enum cpuid_apic {
    CPUID_APIC_KVM,          /* KVM's LAPIC (kernel and split irqchip) */
    CPUID_APIC_USER,         /* ember's LAPIC with APIC MSRs exiting to ember */
    CPUID_APIC_USER_NO_MSRS, /* ember's LAPIC, MMIO only: no x2APIC, no TSC deadline */
};

/* Returns a new table for vCPU `index` of `ncpus` (free() it), or NULL. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, int index, int ncpus, enum cpuid_apic apic);

#endif
