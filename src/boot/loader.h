/* What every kernel format loader (bzimage.c, pvh.c) shares: the image as
 * boot.c read it, the entry state a loader produces, and the placement
 * helpers for the initrd, the command line and the boot CPU tables. boot.c
 * picks the loader; the loaders know nothing of boot.c. */
#ifndef EMBER_BOOT_LOADER_H
#define EMBER_BOOT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

enum boot_entry_mode {
    BOOT_ENTRY_LONG64, /* 64-bit mode, paging on, identity mapped; rsi = arg */
    BOOT_ENTRY_PVH32,  /* 32-bit protected mode, paging off; ebx = arg */
};

struct boot_entry {
    enum boot_entry_mode mode;
    uint64_t rip;
    uint64_t arg;
};

/* What a format loader receives: file contents already read and basic checks done. */
struct boot_image {
    const char *path;
    const uint8_t *data;
    size_t size;
    const uint8_t *initrd;
    size_t initrd_size;
    const char *cmdline;
    bool decompress_in_guest;
    uint64_t rsdp;           /* ACPI root pointer, for boot_params / hvm_start_info */
};

/* Places the initrd page-aligned as high as possible in [lowest, limit). */
int boot_place_initrd(const struct guest_memory *mem, const struct boot_image *img, uint64_t lowest,
                      uint64_t limit, uint64_t *gpa_out);
int boot_write_cmdline(const struct guest_memory *mem, const struct boot_image *img, size_t max_with_nul);
/* GDT and identity page tables (0-4 GiB in 2 MiB pages) for the entry state. */
int boot_write_cpu_tables(const struct guest_memory *mem);

/* GDT selectors ember's boot GDT provides (the Linux boot protocol names
 * __BOOT_CS = 0x10 and __BOOT_DS = 0x18). */
#define BOOT_GDT_CODE32 0x08
#define BOOT_GDT_CODE64 0x10
#define BOOT_GDT_DATA   0x18
#define BOOT_GDT_TSS    0x20
#define BOOT_GDT_ENTRIES 6 /* the TSS descriptor takes two */

#endif
