#include "cpu/cpuid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/kvm_para.h>

#include "util/log.h"

/* Features hidden from guests, with why. */
static const struct {
    unsigned function, reg; /* reg: 0 eax, 1 ebx, 2 ecx, 3 edx */
    unsigned bits;
} masked_features[] = {
    {0x1, 2, 1u << 5},       /* VMX: no nested virtualization */
    {0x1, 2, 1u << 3},       /* MONITOR/MWAIT: would park a vCPU in the guest */
    {0x80000001, 2, 1u << 2},/* SVM: no nested virtualization */
    {0x7, 2, 1u << 16},      /* LA57: ember's page tables and e820 assume 4 levels */
};

static unsigned *reg_of(struct kvm_cpuid_entry2 *e, unsigned reg)
{
    switch (reg) {
    case 0: return &e->eax;
    case 1: return &e->ebx;
    case 2: return &e->ecx;
    default: return &e->edx;
    }
}

/* Bits needed to number `n` things (the x2APIC id shift width). */
static unsigned order_of(int n)
{
    unsigned s = 0;
    while ((1 << s) < n)
        s++;
    return s;
}

/* KVM paravirt features that need KVM's own LAPIC: PV EOI and PV IPIs write
 * into it, PV unhalt kicks through it, async page faults and extended MSI
 * destination ids are delivered or decoded by it. */
static const unsigned pv_features_needing_kvm_lapic =
    (1u << KVM_FEATURE_PV_EOI) | (1u << KVM_FEATURE_PV_UNHALT) | (1u << KVM_FEATURE_PV_SEND_IPI) |
    (1u << KVM_FEATURE_ASYNC_PF_INT) | (1u << KVM_FEATURE_ASYNC_PF) | (1u << KVM_FEATURE_MSI_EXT_DEST_ID);

#define CPUID1_ECX_X2APIC       (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

/* KVM's paravirt features by QEMU's property names (-cpu ...,kvm-pv-eoi=off),
 * so a QEMU user finds the same words. */
static const struct {
    const char *name;
    unsigned bit;
} kvm_pv_features[] = {
    {"kvmclock", KVM_FEATURE_CLOCKSOURCE},        {"kvm-nopiodelay", KVM_FEATURE_NOP_IO_DELAY},
    {"kvm-mmu", KVM_FEATURE_MMU_OP},              {"kvmclock2", KVM_FEATURE_CLOCKSOURCE2},
    {"kvm-asyncpf", KVM_FEATURE_ASYNC_PF},        {"kvm-steal-time", KVM_FEATURE_STEAL_TIME},
    {"kvm-pv-eoi", KVM_FEATURE_PV_EOI},           {"kvm-pv-unhalt", KVM_FEATURE_PV_UNHALT},
    {"kvm-pv-tlb-flush", KVM_FEATURE_PV_TLB_FLUSH}, {"kvm-asyncpf-vmexit", KVM_FEATURE_ASYNC_PF_VMEXIT},
    {"kvm-pv-ipi", KVM_FEATURE_PV_SEND_IPI},      {"kvm-poll-control", KVM_FEATURE_POLL_CONTROL},
    {"kvm-pv-sched-yield", KVM_FEATURE_PV_SCHED_YIELD}, {"kvm-asyncpf-int", KVM_FEATURE_ASYNC_PF_INT},
    {"kvm-msi-ext-dest-id", KVM_FEATURE_MSI_EXT_DEST_ID},
};
#define N_KVM_PV_FEATURES (sizeof(kvm_pv_features) / sizeof(kvm_pv_features[0]))

int cpuid_kvm_pv_parse(const char *list, uint32_t *bits)
{
    *bits = 0;
    const char *p = list;
    do {
        size_t n = strcspn(p, ",");
        bool found = false;
        if (n == 3 && !strncmp(p, "all", 3)) {
            for (size_t i = 0; i < N_KVM_PV_FEATURES; i++)
                *bits |= 1u << kvm_pv_features[i].bit;
            found = true;
        }
        for (size_t i = 0; !found && i < N_KVM_PV_FEATURES; i++)
            if (strlen(kvm_pv_features[i].name) == n && !strncmp(p, kvm_pv_features[i].name, n)) {
                *bits |= 1u << kvm_pv_features[i].bit;
                found = true;
            }
        if (!found) {
            char known[512] = "";
            for (size_t i = 0; i < N_KVM_PV_FEATURES; i++)
                snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s, ", kvm_pv_features[i].name);
            log_error("--kvm-pv-off: unknown feature '%.*s' (known: %sall)", (int)n, p, known);
            return -1;
        }
        p += n;
    } while (*p++ == ',');
    return 0;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *sup, int index, int ncpus, int threads_per_core,
                                  enum cpuid_apic apic, uint32_t kvm_pv_off)
{
    unsigned tpc = threads_per_core == 2 && ncpus % 2 == 0 ? 2 : 1, cores = (unsigned)ncpus / tpc;
    size_t bytes = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
    struct kvm_cpuid2 *c = malloc(bytes);
    if (!c)
        return NULL;
    memcpy(c, sup, bytes);
    unsigned apic_id = (unsigned)index;
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 0x1:
            e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((unsigned)ncpus << 16);
            e->ebx = (e->ebx & 0xffff00ffu) | (8u << 8); /* CLFLUSH line: 64 bytes */
            e->ecx |= 1u << 31;                        /* running under a hypervisor */
            if (ncpus > 1)
                e->edx |= 1u << 28; /* HTT: the logical-count field is valid */
            if (apic == CPUID_APIC_USER_NO_MSRS)
                e->ecx &= ~(CPUID1_ECX_X2APIC | CPUID1_ECX_TSC_DEADLINE);
            break;
        case KVM_CPUID_FEATURES:
            if (apic != CPUID_APIC_KVM)
                e->eax &= ~pv_features_needing_kvm_lapic;
            e->eax &= ~kvm_pv_off;
            break;
        case 0x4: { /* deterministic cache parameters: cores per package, threads per cache */
            unsigned level = (e->eax >> 5) & 7, sharing = level >= 3 ? (unsigned)ncpus : tpc;
            e->eax = (e->eax & 0x00003fffu) | ((sharing - 1) << 14) | ((cores - 1) << 26);
            break;
        }
        case 0x80000008: /* AMD: the package's thread count and APIC id width */
            e->ecx = (e->ecx & ~0xf0ffu) | ((unsigned)ncpus - 1) | (order_of(ncpus) << 12);
            break;
        case 0x8000001e: /* AMD topology extensions: core id and threads per core */
            e->eax = apic_id;
            e->ebx = (e->ebx & ~0xffffu) | ((tpc - 1) << 8) | (apic_id / tpc);
            e->ecx = 0; /* node 0, one node */
            break;
        case 0x6: /* thermal/power: nothing to manage in a VM */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0xa: /* architectural PMU: not offered */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0xb:
        case 0x1f: /* extended topology: tpc threads per core, ncpus threads in all */
            e->edx = apic_id;
            if (e->index == 0) {
                e->eax = tpc == 2 ? 1 : 0;
                e->ebx = tpc;
                e->ecx = 0 | (1u << 8); /* level 0: SMT */
            } else if (e->index == 1) {
                e->eax = order_of(ncpus);
                e->ebx = (unsigned)ncpus;
                e->ecx = 1 | (2u << 8); /* level 1: core */
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index; /* invalid level ends the enumeration */
            }
            break;
        default:
            break;
        }
        for (size_t m = 0; m < sizeof(masked_features) / sizeof(masked_features[0]); m++)
            if (masked_features[m].function == e->function)
                *reg_of(e, masked_features[m].reg) &= ~masked_features[m].bits;
    }
    return c;
}
