#include "cpu/cpu_template.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CPU_TEMPLATE_ERR_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

/* --- the template language ------------------------------------------------------ */

int cpu_template_parse_bitmap(const char *s, unsigned bits, uint64_t *filter, uint64_t *value, char *err)
{
    const char *p = strncmp(s, "0b", 2) ? s : s + 2;
    uint64_t f = 0, v = 0;
    unsigned i = 0;
    for (size_t k = strlen(p); k-- > 0;) { /* from the right: bit 0 first */
        char c = p[k];
        if (i == bits) /* Firecracker's check, before '_': nothing may follow the last bit */
            return fail(err, "Failed to parse string [%.80s] as a bitmap - string is too long", s);
        if (c == '_')
            continue;
        if (c == '0' || c == '1') {
            f |= 1ULL << i;
            if (c == '1')
                v |= 1ULL << i;
        } else if (c != 'x') {
            return fail(err, "Failed to parse string [%.80s] as a bitmap - unknown character: %u", s, (unsigned char)c);
        }
        i++;
    }
    *filter = f;
    *value = v;
    return 0;
}

int cpu_template_parse_number(const char *s, uint32_t *out, char *err)
{
    int base = !strncmp(s, "0x", 2) ? 16 : !strncmp(s, "0b", 2) ? 2 : 0;
    if (!base)
        return fail(err,
                    "No supported number system prefix found in value [%.80s]. Make sure to prefix the number with "
                    "'0x' for hexadecimal numbers or '0b' for binary numbers.",
                    s);
    const char *digits = s + 2;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(digits, &end, base);
    /* strtoull would take a sign, spaces or a second prefix: digits only. */
    bool clean = *digits && digits[0] != '+' && digits[0] != '-' && digits[0] != ' ' && !*end;
    if (!clean || errno || n > UINT32_MAX || (base == 16 && !strncmp(digits, "0x", 2)))
        return fail(err, "Failed to parse string [%.80s] as a number for CPU template", s);
    *out = (uint32_t)n;
    return 0;
}

int cpu_template_parse_register(const char *s, enum cpuid_reg *out, char *err)
{
    static const char *const names[] = {"eax", "ebx", "ecx", "edx"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum cpuid_reg)i;
            return 0;
        }
    return fail(err, "Invalid CPUID register. Must be one of [eax, ebx, ecx, edx]");
}

int cpu_template_add_capability(struct cpu_template *t, const char *s, char *err)
{
    bool remove = s[0] == '!';
    const char *d = s + remove;
    char *end;
    errno = 0;
    unsigned long n = strtoul(d, &end, 10);
    if (!*d || *d < '0' || *d > '9' || *end || errno || n > UINT32_MAX)
        return fail(err, "Failed to parse string [%.80s] as a kvm capability - can not convert to numeric", s);
    if (remove)
        return 0;
    if (t->ncaps == CPU_TEMPLATE_MAX_CAPS)
        return fail(err, "kvm_capabilities: at most %d", CPU_TEMPLATE_MAX_CAPS);
    t->caps_needed[t->ncaps++] = (uint32_t)n;
    return 0;
}

/* --- Firecracker's static templates ------------------------------------------------- */

/* Each is written in the template language, as Firecracker's documentation
 * and its tests' JSON copies give them. Leaf 0x7 and 0xd entries are indexed
 * (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
struct static_cpuid {
    uint32_t leaf, subleaf, flags;
    enum cpuid_reg reg;
    const char *bitmap;
};

/* T2: an AWS T2 instance's Intel features (no AVX-512, MPX, SGX, PKU, ...). */
#define T2_LEAF_1_7_D                                                   \
    {0x1, 0, 0, CPUID_EAX, "0bxxxx000000000011xx00011011110010"},       \
    {0x1, 0, 0, CPUID_ECX, "0bxxxxxxxxxxxxx0xx00xx00x0000000xx"},       \
    {0x1, 0, 0, CPUID_EDX, "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},       \
    {0x7, 0, 1, CPUID_EBX, "0b00000000000x000000x00x1xxxx0x0xx"},       \
    {0x7, 0, 1, CPUID_ECX, "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x"},       \
    {0x7, 0, 1, CPUID_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx"},       \
    {0xd, 0, 1, CPUID_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},       \
    {0xd, 1, 1, CPUID_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"}

static const struct static_cpuid t2[] = {
    T2_LEAF_1_7_D,
    {0x80000001, 0, 0, CPUID_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx0xxxxxxxx"},
    {0x80000001, 0, 0, CPUID_EDX, "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0, 0, CPUID_EBX, "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx"},
    {0},
};
static const struct static_cpuid t2cl[] = {
    T2_LEAF_1_7_D,
    {0x80000001, 0, 0, CPUID_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx000xxxxxx"},
    {0x80000001, 0, 0, CPUID_EDX, "0bxxxxx00000xxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0, 0, CPUID_EBX, "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx"},
    {0},
};
static const struct static_cpuid t2a[] = {
    T2_LEAF_1_7_D,
    {0x80000001, 0, 0, CPUID_ECX, "0bxx0xxxxxxxxxxxxxxxxxxxx000xxx0xx"},
    {0x80000001, 0, 0, CPUID_EDX, "0bxxxxx00xx0xxxxxxxxxxxxxxxxxxxxxx"},
    {0x80000008, 0, 0, CPUID_EBX, "0bxxxxxxxxxxx111xxxxxxxx0xxxxxx1x0"},
    {0},
};
/* C3: an AWS C3 instance's (Ivy Bridge: no AVX2, BMI, FMA, MOVBE, ...). */
static const struct static_cpuid c3[] = {
    {0x1, 0, 0, CPUID_EAX, "0bxxxx000000000011xx00011011100100"},
    {0x1, 0, 0, CPUID_ECX, "0bxxxxxxxxx0xxxxxx00x000x0xx0000xx"},
    {0x1, 0, 0, CPUID_EDX, "0b0x0x0xxxx00xx0xxxxx1xxxx1xxxxxxx"},
    {0x7, 0, 1, CPUID_EBX, "0b000000000x0x000000x000x0xx0000xx"},
    {0x7, 0, 1, CPUID_ECX, "0bx0xxxxxxx0xxxxx0x0xx0xxxxxx0000x"},
    {0x7, 0, 1, CPUID_EDX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx00xx"},
    {0xd, 0, 1, CPUID_EAX, "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx"},
    {0xd, 1, 1, CPUID_EAX, "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x"},
    {0x80000001, 0, 0, CPUID_ECX, "0bxxxxxxxxxxxxxxxxxxxxxxx0xx0xxxxx"},
    {0x80000001, 0, 0, CPUID_EDX, "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx"},
    {0},
};

#define IA32_ARCH_CAPABILITIES 0x10a

static const struct {
    const char *name;
    enum cpu_vendor vendor;
    const struct static_cpuid *cpuid;
    const char *arch_capabilities; /* MSR 0x10a's bitmap, or NULL */
} statics[] = {
    {"C3", CPU_VENDOR_INTEL, c3, NULL},
    {"T2", CPU_VENDOR_INTEL, t2, NULL},
    /* T2S: T2's CPUID and a fixed ARCH_CAPABILITIES, so a VM can move
     * between Skylake and Cascade Lake hosts. */
    {"T2S", CPU_VENDOR_INTEL, t2, "0b0000000000000000000000000000000000001100000010100000110001001100"},
    /* T2CL: the mitigation bits of ARCH_CAPABILITIES pass, the rest cleared. */
    {"T2CL", CPU_VENDOR_INTEL, t2cl, "0b00000000000000000000000000000000000xxx0x0000x0x0xxx0000xxxxxxxxx"},
    {"T2A", CPU_VENDOR_AMD, t2a, NULL},
};

const char *cpu_template_static_names(void) { return "`C3`, `T2`, `T2S`, `None`, `T2CL`, `T2A`"; }

int cpu_template_static(const char *name, struct cpu_template *t)
{
    if (!strcmp(name, "None"))
        return 1;
    for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
        if (strcmp(name, statics[i].name))
            continue;
        memset(t, 0, sizeof(*t));
        snprintf(t->name, sizeof(t->name), "%s", name);
        t->vendor = statics[i].vendor;
        char err[CPU_TEMPLATE_ERR_MAX];
        for (const struct static_cpuid *s = statics[i].cpuid; s->leaf; s++) {
            uint64_t f, v;
            if (cpu_template_parse_bitmap(s->bitmap, 32, &f, &v, err) < 0)
                abort(); /* a typo in the table above: the unit test catches it */
            t->cpuid[t->ncpuid++] = (struct cpuid_modifier){.leaf = s->leaf, .subleaf = s->subleaf,
                                                            .flags = s->flags, .reg = s->reg,
                                                            .filter = (uint32_t)f, .value = (uint32_t)v};
        }
        if (statics[i].arch_capabilities) {
            struct msr_modifier *m = &t->msrs[t->nmsrs++];
            m->addr = IA32_ARCH_CAPABILITIES;
            if (cpu_template_parse_bitmap(statics[i].arch_capabilities, 64, &m->filter, &m->value, err) < 0)
                abort();
        }
        return 0;
    }
    return -1;
}

/* --- applying one --------------------------------------------------------------------- */

enum cpu_vendor cpu_template_host_vendor(const struct kvm_cpuid2 *sup)
{
    for (unsigned i = 0; i < sup->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &sup->entries[i];
        if (e->function != 0)
            continue;
        char v[13];
        memcpy(v, &e->ebx, 4), memcpy(v + 4, &e->edx, 4), memcpy(v + 8, &e->ecx, 4);
        v[12] = '\0';
        return !strcmp(v, "GenuineIntel")                                       ? CPU_VENDOR_INTEL
               : !strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine") ? CPU_VENDOR_AMD
                                                                            : CPU_VENDOR_OTHER;
    }
    return CPU_VENDOR_OTHER;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
    return r == CPUID_EAX ? &e->eax : r == CPUID_EBX ? &e->ebx : r == CPUID_ECX ? &e->ecx : &e->edx;
}

struct kvm_cpuid2 *cpu_template_apply(const struct cpu_template *t, const struct kvm_cpuid2 *sup, int kvm_fd,
                                      char *err)
{
    if (t->vendor != CPU_VENDOR_ANY && t->vendor != cpu_template_host_vendor(sup)) {
        fail(err, "Failed to get CPU template: CPU vendor mismatched between actual CPU and CPU template "
                  "(%s needs an %s host).", t->name, t->vendor == CPU_VENDOR_INTEL ? "Intel" : "AMD");
        return NULL;
    }
    for (int i = 0; i < t->ncaps; i++)
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, (unsigned long)t->caps_needed[i]) <= 0) {
            fail(err, "Missing KVM capability: %u (the CPU template's kvm_capabilities).", t->caps_needed[i]);
            return NULL;
        }
    size_t bytes = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
    struct kvm_cpuid2 *c = malloc(bytes);
    if (!c) {
        fail(err, "Out of memory.");
        return NULL;
    }
    memcpy(c, sup, bytes);
    for (int i = 0; i < t->ncpuid; i++) {
        const struct cpuid_modifier *m = &t->cpuid[i];
        struct kvm_cpuid_entry2 *e = NULL;
        for (unsigned k = 0; k < c->nent && !e; k++) {
            struct kvm_cpuid_entry2 *x = &c->entries[k];
            bool indexed = x->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
            if (x->function == m->leaf && (!indexed || x->index == m->subleaf))
                e = x;
        }
        if (!e) {
            fail(err, "Template changes a CPUID entry not supported by KVM: Leaf: %#x, Subleaf: %#x", m->leaf,
                 m->subleaf);
            free(c);
            return NULL;
        }
        e->flags = m->flags;
        uint32_t *r = reg_of(e, m->reg);
        *r = (*r & ~m->filter) | m->value;
    }
    return c;
}

int cpu_template_apply_msrs(const struct cpu_template *t, int vcpu_fd, char *err)
{
    struct kvm_msrs *msr = calloc(1, sizeof(*msr) + sizeof(msr->entries[0]));
    if (!msr)
        return fail(err, "Out of memory.");
    int r = 0;
    for (int i = 0; i < t->nmsrs && r == 0; i++) {
        const struct msr_modifier *m = &t->msrs[i];
        msr->nmsrs = 1;
        msr->entries[0] = (struct kvm_msr_entry){.index = m->addr};
        if (ioctl(vcpu_fd, KVM_GET_MSRS, msr) != 1) {
            r = fail(err, "Template changes an MSR entry not supported by KVM: Register Address: %#x", m->addr);
            break;
        }
        msr->entries[0].data = (msr->entries[0].data & ~m->filter) | m->value;
        if (ioctl(vcpu_fd, KVM_SET_MSRS, msr) != 1)
            r = fail(err, "KVM refused the CPU template's value %#llx for MSR %#x",
                     (unsigned long long)msr->entries[0].data, m->addr);
    }
    free(msr);
    return r;
}
