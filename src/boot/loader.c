#include "boot/loader.h"

#include <string.h>

#include "memory/layout.h"
#include "util/log.h"

int boot_place_initrd(const struct guest_memory *mem, const struct boot_image *img, uint64_t lowest,
                      uint64_t limit, uint64_t *gpa_out)
{
    *gpa_out = 0;
    if (!img->initrd)
        return 0;
    uint64_t low_end = guest_memory_low_end(mem);
    if (limit > low_end)
        limit = low_end;
    /* lowest can come from the kernel's header (pref_address + init_size)
     * and be near 2^64, where rounding it up to a page would wrap to 0;
     * below limit (under 4 GiB) it cannot. */
    bool fits = lowest <= limit && img->initrd_size <= limit;
    lowest = (lowest + 0xfff) & ~0xfffULL;
    if (!fits || ((limit - img->initrd_size) & ~0xfffULL) < lowest) {
        log_error("initrd: %zu bytes do not fit in guest memory above the kernel (%llu MiB RAM); "
                  "raise --memory", img->initrd_size, (unsigned long long)(mem->ram_size / MiB));
        return -1;
    }
    uint64_t gpa = (limit - img->initrd_size) & ~0xfffULL;
    if (guest_write(mem, gpa, img->initrd, img->initrd_size) < 0) {
        log_error("initrd: cannot place %zu bytes at 0x%llx", img->initrd_size, (unsigned long long)gpa);
        return -1;
    }
    *gpa_out = gpa;
    return 0;
}

int boot_write_cmdline(const struct guest_memory *mem, const struct boot_image *img, size_t max_with_nul)
{
    const char *cmdline = img->cmdline ? img->cmdline : "";
    size_t len = strlen(cmdline);
    if (max_with_nul > LAYOUT_CMDLINE_MAX)
        max_with_nul = LAYOUT_CMDLINE_MAX;
    if (len + 1 > max_with_nul) {
        log_error("--cmdline: %zu bytes, the kernel accepts at most %zu", len, max_with_nul - 1);
        return -1;
    }
    return guest_write(mem, LAYOUT_CMDLINE, cmdline, len + 1);
}

int boot_write_cpu_tables(const struct guest_memory *mem)
{
    /* Flat 4 GiB segments; a 64-bit TSS descriptor so the vCPU's TR is valid. */
    uint64_t gdt[BOOT_GDT_ENTRIES] = {
        0,
        0x00cf9b000000ffffULL, /* 0x08: 32-bit code */
        0x00af9b000000ffffULL, /* 0x10: 64-bit code */
        0x00cf93000000ffffULL, /* 0x18: data */
        0x00008b0000000067ULL, /* 0x20: TSS (busy), base 0, limit 0x67 */
        0,
    };
    if (guest_write(mem, LAYOUT_GDT, gdt, sizeof(gdt)) < 0)
        return -1;
    uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[4 * 512];
    pml4[0] = LAYOUT_PDPT | 0x03; /* present, writable */
    for (int i = 0; i < 4; i++)
        pdpt[i] = (LAYOUT_PD + (uint64_t)i * 0x1000) | 0x03;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83; /* 2 MiB page, present, writable */
    if (guest_write(mem, LAYOUT_PML4, pml4, sizeof(pml4)) < 0 || guest_write(mem, LAYOUT_PDPT, pdpt, sizeof(pdpt)) < 0 ||
        guest_write(mem, LAYOUT_PD, pd, sizeof(pd)) < 0)
        return -1;
    return 0;
}

