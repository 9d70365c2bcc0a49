#include "boot/mptable.h"

#include <string.h>

#include "boot/checksum.h"
#include "memory/layout.h"

struct __attribute__((packed)) mpf_intel {
    char signature[4]; /* "_MP_" */
    uint32_t physptr;
    uint8_t length;    /* in 16-byte units */
    uint8_t specification;
    uint8_t checksum;
    uint8_t feature[5];
};

struct __attribute__((packed)) mpc_table {
    char signature[4]; /* "PCMP" */
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t oemcount;
    uint32_t lapic;
    uint32_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
    uint8_t type, apicid, apicver, cpuflag;
    uint32_t cpufeature, featureflag, reserved[2];
};

struct __attribute__((packed)) mpc_bus {
    uint8_t type, busid;
    char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
    uint8_t type, apicid, apicver, flags;
    uint32_t apicaddr;
};

struct __attribute__((packed)) mpc_intsrc {
    uint8_t type, irqtype;
    uint16_t irqflag;
    uint8_t srcbus, srcbusirq, dstapic, dstirq;
};

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define CPU_ENABLED 1
#define CPU_BOOTPROCESSOR 2
#define APIC_VERSION 0x14
#define ISA_IRQS 16

int mptable_write(const struct guest_memory *mem, uint64_t gpa, uint64_t room, int ncpus)
{
    if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS)
        return -1;
    size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) + (size_t)ncpus * sizeof(struct mpc_cpu) +
                  sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + (ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
    uint8_t *base = gpa_to_host(mem, gpa, size);
    if (!base || size > room)
        return -1;
    memset(base, 0, size);

    struct mpf_intel *mpf = (struct mpf_intel *)base;
    uint64_t table_gpa = gpa + sizeof(*mpf);
    memcpy(mpf->signature, "_MP_", 4);
    mpf->physptr = (uint32_t)table_gpa;
    mpf->length = 1;
    mpf->specification = 4;
    mpf->checksum = table_checksum(mpf, sizeof(*mpf));

    struct mpc_table *mpc = (struct mpc_table *)(base + sizeof(*mpf));
    uint8_t *p = (uint8_t *)(mpc + 1);
    for (int i = 0; i < ncpus; i++) {
        struct mpc_cpu *cpu = (struct mpc_cpu *)p;
        cpu->type = MP_PROCESSOR;
        cpu->apicid = (uint8_t)i;
        cpu->apicver = APIC_VERSION;
        cpu->cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0);
        cpu->cpufeature = 0x600; /* family 6 */
        cpu->featureflag = (1u << 9) | (1u << 0); /* APIC, FPU */
        p += sizeof(*cpu);
    }
    struct mpc_bus *bus = (struct mpc_bus *)p;
    bus->type = MP_BUS;
    bus->busid = 0;
    memcpy(bus->bustype, "ISA   ", 6);
    p += sizeof(*bus);
    uint8_t ioapic_id = (uint8_t)ncpus;
    struct mpc_ioapic *ioapic = (struct mpc_ioapic *)p;
    ioapic->type = MP_IOAPIC;
    ioapic->apicid = ioapic_id;
    ioapic->apicver = 0x11;
    ioapic->flags = 1;
    ioapic->apicaddr = (uint32_t)LAYOUT_IOAPIC;
    p += sizeof(*ioapic);
    /* ISA IRQ n -> IOAPIC pin n, as KVM's default GSI routing has it. */
    for (int irq = 0; irq < ISA_IRQS; irq++) {
        struct mpc_intsrc *src = (struct mpc_intsrc *)p;
        src->type = MP_INTSRC;
        src->irqtype = MP_INT;
        src->irqflag = 0; /* conforms to the bus: edge, active high */
        src->srcbus = 0;
        src->srcbusirq = (uint8_t)irq;
        src->dstapic = ioapic_id;
        src->dstirq = (uint8_t)irq;
        p += sizeof(*src);
    }
    /* LINT0 carries the PIC (ExtINT), LINT1 NMI, on every local APIC. */
    struct mpc_intsrc *lint = (struct mpc_intsrc *)p;
    lint[0] = (struct mpc_intsrc){MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0xff, 0};
    lint[1] = (struct mpc_intsrc){MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1};
    p += 2 * sizeof(*lint);

    memcpy(mpc->signature, "PCMP", 4);
    mpc->length = (uint16_t)(p - (uint8_t *)mpc);
    mpc->spec = 4;
    memcpy(mpc->oem, "EMBER   ", 8);
    memcpy(mpc->productid, "MICROVM     ", 12);
    mpc->lapic = (uint32_t)LAYOUT_LAPIC;
    mpc->oemcount = (uint16_t)(ncpus + 1 + 1 + ISA_IRQS + 2);
    mpc->checksum = table_checksum(mpc, mpc->length);
    return (int)size;
}
