/* ELF vmlinux loader with the PVH boot ABI (Xen's "HVM direct boot", used by
 * Linux's CONFIG_PVH): the entry point comes from the XEN_ELFNOTE_PHYS32_ENTRY
 * note; the kernel starts in 32-bit protected mode, paging off, with ebx
 * pointing at an hvm_start_info that carries the memory map, the command line
 * and the initrd as module 0. */
#include <stdio.h>
#include <string.h>

#include "boot/pvh.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "memory/layout.h"
#include "util/log.h"

#define HVM_START_MAGIC 0x336ec578
#define PVH_CMDLINE_MAX 2048 /* Linux's x86 COMMAND_LINE_SIZE */

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_table_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

#define START_INFO_GPA LAYOUT_PVH_START_INFO
#define MODLIST_GPA    (LAYOUT_PVH_START_INFO + 0x40)
#define MEMMAP_GPA     (LAYOUT_PVH_START_INFO + 0x80)

int pvh_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry)
{
    char what[512];
    snprintf(what, sizeof(what), "kernel %s", img->path);
    struct elf_kernel k;
    if (elf_load_kernel(mem, what, img->data, img->size, &k) < 0)
        return -1;
    if (!k.has_pvh) {
        log_error("%s: ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", what);
        return -1;
    }
    return pvh_enter(mem, img, &k, entry);
}

int pvh_enter(const struct guest_memory *mem, const struct boot_image *img, const struct elf_kernel *k,
              struct boot_entry *entry)
{
    uint64_t pvh_entry = k->pvh_entry, kernel_end = k->end;
    if (!gpa_range_is_ram(mem, pvh_entry, 1)) {
        log_error("kernel %s: PVH entry point 0x%llx is outside guest RAM", img->path, (unsigned long long)pvh_entry);
        return -1;
    }
    if (boot_write_cmdline(mem, img, PVH_CMDLINE_MAX) < 0)
        return -1;
    uint64_t initrd_gpa;
    if (boot_place_initrd(mem, img, kernel_end, LAYOUT_MMIO_HOLE_START, &initrd_gpa) < 0)
        return -1;

    struct e820_entry e820[E820_MAX_ENTRIES];
    int n = e820_build(mem, e820);
    struct hvm_memmap_table_entry map[E820_MAX_ENTRIES];
    for (int i = 0; i < n; i++)
        map[i] = (struct hvm_memmap_table_entry){e820[i].addr, e820[i].size, e820[i].type, 0};
    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .cmdline_paddr = LAYOUT_CMDLINE,
        .rsdp_paddr = img->rsdp,
        .memmap_paddr = MEMMAP_GPA,
        .memmap_entries = (uint32_t)n,
    };
    if (img->initrd) {
        struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = img->initrd_size};
        if (guest_write(mem, MODLIST_GPA, &mod, sizeof(mod)) < 0)
            return -1;
        si.nr_modules = 1;
        si.modlist_paddr = MODLIST_GPA;
    }
    if (guest_write(mem, MEMMAP_GPA, map, (uint64_t)n * sizeof(map[0])) < 0 ||
        guest_write(mem, START_INFO_GPA, &si, sizeof(si)) < 0)
        return -1;
    entry->mode = BOOT_ENTRY_PVH32;
    entry->rip = pvh_entry;
    entry->arg = START_INFO_GPA;
    return 0;
}
