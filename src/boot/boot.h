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
#include "boot/loader.h"
#include "memory/guest_memory.h"

struct boot_config {
    const char *kernel_path;
    bool decompress_in_guest; /* bzImage: run the kernel's own decompressor */
    const char *initrd_path; /* may be NULL */
    const char *cmdline;     /* may be NULL */
    int ncpus;
    bool pci;                /* a PCI bus exists: ACPI describes its root bridge */
};

int boot_load(const struct guest_memory *mem, const struct boot_config *cfg, struct boot_entry *entry);

#endif
