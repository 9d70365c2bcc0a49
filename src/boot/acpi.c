#include "boot/acpi.h"

#include <string.h>

#include "devices/power.h"
#include "devices/pvpanic.h"
#include "boot/checksum.h"
#include "memory/layout.h"

struct __attribute__((packed)) acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;
    uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_gas {
    uint8_t space_id, bit_width, bit_offset, access_size;
    uint64_t address;
};

struct __attribute__((packed)) acpi_fadt {
    struct acpi_header h;
    uint32_t firmware_ctrl, dsdt;
    uint8_t reserved0, preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl, x_dsdt;
    struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk, x_pm2_cnt_blk, x_pm_tmr_blk,
        x_gpe0_blk, x_gpe1_blk, sleep_control_reg, sleep_status_reg;
    uint64_t hypervisor_vendor_id;
};

struct __attribute__((packed)) acpi_facs {
    char signature[4];
    uint32_t length, hardware_signature, firmware_waking_vector, global_lock, flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version, reserved[3];
    uint32_t ospm_flags;
    uint8_t reserved2[24];
};

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");

#define GAS_SYSTEM_IO 1
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4)   /* no fixed power button */
#define FADT_SLP_BUTTON (1u << 5)   /* no fixed sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042 (1u << 1)
#define BOOT_ARCH_NO_VGA (1u << 2)
#define SCI_IRQ 9

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(h->signature, sig, 4);
    h->length = len;
    h->revision = rev;
    memcpy(h->oem_id, "EMBER ", 6);
    memcpy(h->oem_table_id, "EMBERVM ", 8);
    h->oem_revision = 1;
    memcpy(h->creator_id, "EMBR", 4);
    h->creator_revision = 1;
}

/* A bump allocator over the ACPI area. */
struct area {
    uint8_t *host;
    uint64_t gpa, used, size;
};

static void *take(struct area *a, uint64_t len, uint64_t align, uint64_t *gpa)
{
    uint64_t off = (a->used + align - 1) & ~(align - 1);
    if (off > a->size || len > a->size - off)
        return NULL;
    a->used = off + len;
    *gpa = a->gpa + off;
    memset(a->host + off, 0, len);
    return a->host + off;
}

static void finish(void *table)
{
    struct acpi_header *h = table;
    h->checksum = 0;
    h->checksum = table_checksum(h, h->length);
}

/* DSDT AML, hand-assembled (it is small and fixed):
 *   Name (_S5, Package (4) { 5, 5, 0, 0 })     sleep type for PM1a/b_CNT.SLP_TYP
 *   Scope (\_SB) {
 *     Device (PEVT) {                           the pvpanic device
 *       Name (_HID, "QEMU0001")
 *       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x505, 0x505, 1, 1) })
 *     }
 *     Device (PCI0) { ... }                     with a PCI bus only: see pci_root_aml
 *   } */
static const uint8_t s5_aml[] = {
    0x08, '_', 'S', '5', '_',                    /* NameOp "_S5_" */
    0x12, 0x08, 0x04,                            /* PackageOp, PkgLength 8, 4 elements */
    0x0a, POWER_SLP_TYP_S5, 0x0a, POWER_SLP_TYP_S5, 0x00, 0x00,
};
static const uint8_t pvpanic_aml[] = {
    0x5b, 0x82, 0x27, 'P', 'E', 'V', 'T',        /* DeviceOp, PkgLength 39, PEVT */
    0x08, '_', 'H', 'I', 'D', 0x0d, 'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00,
    0x08, '_', 'C', 'R', 'S', 0x11, 0x0d, 0x0a, 0x0a, /* BufferOp, PkgLength 13, 10 bytes */
    0x47, 0x01, PVPANIC_PORT & 0xff, PVPANIC_PORT >> 8, PVPANIC_PORT & 0xff, PVPANIC_PORT >> 8, 0x01, 0x01,
    0x79, 0x00,                                  /* end tag */
};
/* The PCI root bridge, so an ACPI kernel scans bus 0 (it does not probe
 * for buses ACPI does not list):
 *   Device (PCI0) {
 *     Name (_HID, EisaId ("PNP0A03"))
 *     Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () {
 *       WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
 *       IO (Decode16, 0xCF8, 0xCF8, 1, 8)
 *       WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0, 0xCF7, 0, 0xCF8)
 *       WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0xD00, 0xFFFF, 0, 0xF300)
 *       DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
 *                    0, 0xC0000000, 0xCFFFFFFF, 0, 0x10000000)   the BAR window
 *     })
 *   }
 * MSI-X carries the devices' interrupts, so there is no _PRT. */
#define WIN_LO (uint8_t)(LAYOUT_PCI_WINDOW >> 24)
#define WIN_HI (uint8_t)((LAYOUT_PCI_WINDOW + LAYOUT_PCI_WINDOW_SIZE - 1) >> 24)
#define WIN_LEN (uint8_t)(LAYOUT_PCI_WINDOW_SIZE >> 24)
static const uint8_t pci_root_aml[] = {
    0x5b, 0x82, 0x44, 0x07, 'P', 'C', 'I', '0',  /* DeviceOp, PkgLength 116, PCI0 */
    0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03, /* EisaId PNP0A03 */
    0x08, '_', 'U', 'I', 'D', 0x00,
    0x08, '_', 'C', 'R', 'S', 0x11, 0x48, 0x05, 0x0a, 0x54, /* BufferOp, PkgLength 88, 84 bytes */
    0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
    0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x00, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c,
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3,
    0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, WIN_LO, 0xff, 0xff, 0xff, WIN_HI, 0, 0, 0, 0,
    0, 0, 0, WIN_LEN,
    0x79, 0x00,
};

/* Builds the DSDT body into `out` (at least DSDT_MAX bytes); returns its length. */
#define DSDT_MAX 512
static size_t build_dsdt(uint8_t *out, bool pci)
{
    size_t n = 0;
    memcpy(out, s5_aml, sizeof(s5_aml));
    n += sizeof(s5_aml);
    /* Scope (\_SB): PkgLength covers itself, the name and the devices. */
    size_t body = 5 + sizeof(pvpanic_aml) + (pci ? sizeof(pci_root_aml) : 0);
    out[n++] = 0x10;
    if (body + 1 <= 63) {
        out[n++] = (uint8_t)(body + 1);
    } else {
        size_t len = body + 2;
        out[n++] = (uint8_t)(0x40 | (len & 0xf));
        out[n++] = (uint8_t)(len >> 4);
    }
    memcpy(out + n, "\\_SB_", 5);
    n += 5;
    memcpy(out + n, pvpanic_aml, sizeof(pvpanic_aml));
    n += sizeof(pvpanic_aml);
    if (pci) {
        memcpy(out + n, pci_root_aml, sizeof(pci_root_aml));
        n += sizeof(pci_root_aml);
    }
    return n;
}

static uint64_t write_madt(struct area *a, int ncpus)
{
    uint64_t len = sizeof(struct acpi_header) + 8 + (uint64_t)ncpus * 8 + 12 + 10 + 6, gpa;
    uint8_t *t = take(a, len, 16, &gpa);
    if (!t)
        return 0;
    header((struct acpi_header *)t, "APIC", (uint32_t)len, 4);
    uint8_t *p = t + sizeof(struct acpi_header);
    uint32_t lapic = (uint32_t)LAYOUT_LAPIC, flags = 1; /* PCAT_COMPAT: 8259s present */
    memcpy(p, &lapic, 4);
    memcpy(p + 4, &flags, 4);
    p += 8;
    for (int i = 0; i < ncpus; i++, p += 8) {
        uint32_t enabled = 1;
        p[0] = 0; /* processor local APIC */
        p[1] = 8;
        p[2] = (uint8_t)i; /* ACPI processor UID */
        p[3] = (uint8_t)i; /* APIC id */
        memcpy(p + 4, &enabled, 4);
    }
    uint32_t ioapic_addr = (uint32_t)LAYOUT_IOAPIC, gsi_base = 0;
    p[0] = 1; /* IOAPIC */
    p[1] = 12;
    p[2] = (uint8_t)ncpus; /* IOAPIC id, after the CPUs (as in the MP table) */
    memcpy(p + 4, &ioapic_addr, 4);
    memcpy(p + 8, &gsi_base, 4);
    p += 12;
    /* SCI: ISA IRQ 9, level-triggered, active high (ISA IRQs are otherwise
     * identity-mapped to IOAPIC pins, as KVM's default routing has them). */
    uint32_t gsi = SCI_IRQ;
    uint16_t iso_flags = 0x0d;
    p[0] = 2;
    p[1] = 10;
    p[2] = 0;
    p[3] = SCI_IRQ;
    memcpy(p + 4, &gsi, 4);
    memcpy(p + 8, &iso_flags, 2);
    p += 10;
    uint16_t nmi_flags = 0;
    p[0] = 4; /* local APIC NMI on LINT1 of every CPU */
    p[1] = 6;
    p[2] = 0xff;
    memcpy(p + 3, &nmi_flags, 2);
    p[5] = 1;
    finish(t);
    return gpa;
}

uint64_t acpi_write_tables(const struct guest_memory *mem, int ncpus, bool pci)
{
    uint8_t dsdt_aml[DSDT_MAX];
    size_t dsdt_len = build_dsdt(dsdt_aml, pci);
    struct area a = {.gpa = LAYOUT_ACPI_START, .size = LAYOUT_ACPI_END - LAYOUT_ACPI_START};
    a.host = gpa_to_host(mem, a.gpa, a.size);
    if (!a.host || ncpus < 1 || ncpus > 255)
        return 0;
    uint64_t rsdp_gpa, facs_gpa, dsdt_gpa, fadt_gpa, xsdt_gpa, rsdt_gpa;
    struct acpi_rsdp *rsdp = take(&a, sizeof(*rsdp), 16, &rsdp_gpa);
    struct acpi_facs *facs = take(&a, sizeof(*facs), 64, &facs_gpa);
    uint8_t *dsdt = take(&a, sizeof(struct acpi_header) + dsdt_len, 16, &dsdt_gpa);
    struct acpi_fadt *fadt = take(&a, sizeof(*fadt), 16, &fadt_gpa);
    if (!rsdp || !facs || !dsdt || !fadt)
        return 0;

    memcpy(facs->signature, "FACS", 4);
    facs->length = sizeof(*facs);
    facs->version = 2;

    header((struct acpi_header *)dsdt, "DSDT", (uint32_t)(sizeof(struct acpi_header) + dsdt_len), 2);
    memcpy(dsdt + sizeof(struct acpi_header), dsdt_aml, dsdt_len);
    finish(dsdt);

    header(&fadt->h, "FACP", sizeof(*fadt), 6);
    fadt->dsdt = (uint32_t)dsdt_gpa; /* FIRMWARE_CTRL stays 0: X_FIRMWARE_CTRL is set */
    fadt->x_firmware_ctrl = facs_gpa;
    fadt->x_dsdt = dsdt_gpa;
    fadt->sci_int = SCI_IRQ;
    fadt->smi_cmd = 0; /* no SMM: the machine starts in ACPI mode (SCI_EN set) */
    fadt->pm1a_evt_blk = POWER_PM1A_EVT_PORT;
    fadt->pm1a_cnt_blk = POWER_PM1A_CNT_PORT;
    fadt->pm1_evt_len = 4;
    fadt->pm1_cnt_len = 2;
    fadt->x_pm1a_evt_blk = (struct acpi_gas){GAS_SYSTEM_IO, 32, 0, 2, POWER_PM1A_EVT_PORT};
    fadt->x_pm1a_cnt_blk = (struct acpi_gas){GAS_SYSTEM_IO, 16, 0, 2, POWER_PM1A_CNT_PORT};
    fadt->p_lvl2_lat = 101;  /* > 100: C2 not supported */
    fadt->p_lvl3_lat = 1001; /* > 1000: C3 not supported */
    fadt->century = 0x32;    /* CMOS century register */
    fadt->iapc_boot_arch = BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 | BOOT_ARCH_NO_VGA;
    fadt->flags = FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP;
    fadt->reset_reg = (struct acpi_gas){GAS_SYSTEM_IO, 8, 0, 1, POWER_RESET_PORT};
    fadt->reset_value = 0x06; /* RST_CPU | SYS_RST */
    memcpy(&fadt->hypervisor_vendor_id, "EMBER\0\0\0", 8);
    finish(fadt);

    uint64_t madt_gpa = write_madt(&a, ncpus);
    uint64_t *xsdt = take(&a, sizeof(struct acpi_header) + 2 * 8, 16, &xsdt_gpa);
    uint32_t *rsdt = take(&a, sizeof(struct acpi_header) + 2 * 4, 16, &rsdt_gpa);
    if (!madt_gpa || !xsdt || !rsdt)
        return 0;
    header((struct acpi_header *)xsdt, "XSDT", sizeof(struct acpi_header) + 16, 1);
    uint64_t entries64[2] = {fadt_gpa, madt_gpa};
    memcpy((uint8_t *)xsdt + sizeof(struct acpi_header), entries64, sizeof(entries64));
    finish(xsdt);
    header((struct acpi_header *)rsdt, "RSDT", sizeof(struct acpi_header) + 8, 1);
    uint32_t entries32[2] = {(uint32_t)fadt_gpa, (uint32_t)madt_gpa};
    memcpy((uint8_t *)rsdt + sizeof(struct acpi_header), entries32, sizeof(entries32));
    finish(rsdt);

    memcpy(rsdp->signature, "RSD PTR ", 8);
    memcpy(rsdp->oem_id, "EMBER ", 6);
    rsdp->revision = 2;
    rsdp->rsdt_address = (uint32_t)rsdt_gpa;
    rsdp->length = sizeof(*rsdp);
    rsdp->xsdt_address = xsdt_gpa;
    rsdp->checksum = table_checksum(rsdp, 20);
    rsdp->extended_checksum = table_checksum(rsdp, sizeof(*rsdp));
    return rsdp_gpa;
}
