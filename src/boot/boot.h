/* Loading a kernel into guest memory and describing the machine to it.
 * Formats: a bzImage (Linux x86 boot protocol 2.12+, entered at its 64-bit
 * entry point) and an ELF vmlinux with a PVH entry note (entered in 32-bit
 * protected mode with an hvm_start_info). Anything else is refused. */
#ifndef EMBER_BOOT_BOOT_H
#define EMBER_BOOT_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/e820.h"
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

struct boot_config {
    const char *kernel_path;
    bool decompress_in_guest; /* bzImage: run the kernel's own decompressor */
    const char *initrd_path; /* may be NULL */
    const char *cmdline;     /* may be NULL */
    int ncpus;
    bool pci;                /* a PCI bus exists: ACPI describes its root bridge */
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

int boot_load(const struct guest_memory *mem, const struct boot_config *cfg, struct boot_entry *entry);

/* The compressed vmlinux inside a bzImage (boot protocol 2.08+). */
struct bzimage_payload {
    const uint8_t *stream;      /* the compressed stream */
    size_t stream_len;
    uint64_t decompressed_size; /* from the payload's 4-byte size trailer */
    int compression;            /* enum kernel_compression */
};
/* Returns 0 and fills *p when the bzImage announces a payload inside the
 * file, -1 otherwise (nothing is logged). */
int bzimage_find_payload(const uint8_t *data, size_t size, struct bzimage_payload *p);

/* Format loaders; each logs one clear line and returns -1 on failure. */
int bzimage_is_bzimage(const uint8_t *data, size_t size);
int bzimage_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry);
int pvh_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry);

/* Shared helpers. */
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
