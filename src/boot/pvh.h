/* The PVH loader: an ELF vmlinux with a PVH entry note, entered in 32-bit
 * protected mode with an hvm_start_info. */
#ifndef EMBER_BOOT_PVH_H
#define EMBER_BOOT_PVH_H

#include "boot/loader.h"

#include "boot/elf.h"

/* Loads the ELF and enters it through its PVH note (an error without one).
 * Logs one clear line and returns -1 on failure. */
int pvh_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry);
/* The entry state for an ELF already loaded, which has the note. */
int pvh_enter(const struct guest_memory *mem, const struct boot_image *img, const struct elf_kernel *k,
              struct boot_entry *entry);

#endif
