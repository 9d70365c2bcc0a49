/* CPU templates, as Firecracker's: changes to the CPUID and MSRs a guest
 * sees, so that VMs on different hosts look alike (and a host's features a
 * workload must not depend on stay hidden). A template is a list of CPUID
 * register modifiers and MSR modifiers, each a bitmap of bits to clear (0),
 * set (1) or leave (x), plus KVM capabilities to require. Firecracker's
 * static templates (C3, T2, T2S, T2CL, T2A) are built in as such lists.
 * The CPUID changes are applied to KVM's supported table before ember fills
 * in topology, APIC ids and its own masks (Firecracker's order:
 * normalization after the template). */
#ifndef EMBER_CPU_CPU_TEMPLATE_H
#define EMBER_CPU_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define CPU_TEMPLATE_MAX_CPUID 128 /* register modifiers */
#define CPU_TEMPLATE_MAX_MSRS 64
#define CPU_TEMPLATE_MAX_CAPS 32
#define CPU_TEMPLATE_ERR_MAX 256

enum cpu_vendor { CPU_VENDOR_ANY, CPU_VENDOR_INTEL, CPU_VENDOR_AMD, CPU_VENDOR_OTHER };
enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_modifier {
    uint32_t leaf, subleaf, flags; /* flags: KVM_CPUID_FLAG_*, set on the entry */
    enum cpuid_reg reg;
    uint32_t filter, value;        /* reg = (reg & ~filter) | value */
};

struct msr_modifier {
    uint32_t addr;
    uint64_t filter, value;
};

struct cpu_template {
    char name[8];                  /* a static template's name; "" for a custom one */
    enum cpu_vendor vendor;        /* the host vendor it needs */
    struct cpuid_modifier cpuid[CPU_TEMPLATE_MAX_CPUID];
    int ncpuid;
    struct msr_modifier msrs[CPU_TEMPLATE_MAX_MSRS];
    int nmsrs;
    uint32_t caps_needed[CPU_TEMPLATE_MAX_CAPS]; /* "56": KVM_CHECK_EXTENSION must say yes */
    int ncaps;
};

/* Firecracker's bitmap string: an optional "0b", then up to `bits` of 0, 1
 * and x read from the right ('_' skipped; missing high bits are x). 0, or -1
 * with the reason in err. */
int cpu_template_parse_bitmap(const char *s, unsigned bits, uint64_t *filter, uint64_t *value, char *err);
/* A leaf, subleaf or MSR address: "0x..." or "0b..." (Firecracker takes no
 * decimal). */
int cpu_template_parse_number(const char *s, uint32_t *out, char *err);
/* "eax".."edx". */
int cpu_template_parse_register(const char *s, enum cpuid_reg *out, char *err);
/* A kvm_capabilities entry: "56" (require it) or "!56" (ember checks no
 * default list, so a removal needs nothing). */
int cpu_template_add_capability(struct cpu_template *t, const char *s, char *err);

/* Firecracker's static template by name ("None" is no template: returns 1
 * with *t untouched); 0 when found, -1 for an unknown name. */
int cpu_template_static(const char *name, struct cpu_template *t);
/* The names, for messages: "`C3`, `T2`, ...". */
const char *cpu_template_static_names(void);

/* The host's vendor, from KVM's supported CPUID leaf 0. */
enum cpu_vendor cpu_template_host_vendor(const struct kvm_cpuid2 *supported);

/* A copy of `supported` with the template's CPUID changes (free() it), or
 * NULL with the reason (the vendor differs, a leaf KVM does not offer, a
 * capability missing: checked against kvm_fd). */
struct kvm_cpuid2 *cpu_template_apply(const struct cpu_template *t, const struct kvm_cpuid2 *supported, int kvm_fd,
                                      char *err);

/* On a vCPU, after its other MSRs: each MSR modifier on the value KVM
 * holds. 0, or -1 with the reason (an MSR KVM does not have). */
int cpu_template_apply_msrs(const struct cpu_template *t, int vcpu_fd, char *err);

#endif
