/* The CPUID a vCPU sees: KVM's supported set, with the APIC id and topology
 * of that vCPU filled in, the hypervisor bit and KVM's paravirt leaves, and
 * features ember does not offer guests masked out. */
#ifndef EMBER_CPU_CPUID_H
#define EMBER_CPU_CPUID_H

#include <stdint.h>
#include <linux/kvm.h>

/* Where the vCPU's local APIC lives, which decides what CPUID may promise. */
enum cpuid_apic {
    CPUID_APIC_KVM,          /* KVM's LAPIC (kernel and split irqchip) */
    CPUID_APIC_USER,         /* ember's LAPIC with APIC MSRs exiting to ember */
    CPUID_APIC_USER_NO_MSRS, /* ember's LAPIC, MMIO only: no x2APIC, no TSC deadline */
};

/* Returns a new table for vCPU `index` of `ncpus` (free() it), or NULL.
 * `threads_per_core`: 1, or 2 with SMT (Firecracker's machine-config "smt"):
 * the topology leaves then pair vCPUs 2k and 2k+1 as one core's threads.
 * `kvm_pv_off`: KVM paravirt feature bits (leaf 0x40000001 EAX) to hide. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, int index, int ncpus, int threads_per_core,
                                  enum cpuid_apic apic, uint32_t kvm_pv_off);

/* Parses a comma-separated list of KVM paravirt feature names, QEMU's
 * (kvm-pv-eoi, kvm-pv-unhalt, kvm-asyncpf, ...), or "all", into feature
 * bits. Returns -1 after naming the unknown one. */
int cpuid_kvm_pv_parse(const char *list, uint32_t *bits);

#endif
