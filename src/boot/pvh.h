/* The PVH loader: an ELF vmlinux with a PVH entry note, entered in 32-bit
 * protected mode with an hvm_start_info. */
#ifndef EMBER_BOOT_PVH_H
#define EMBER_BOOT_PVH_H

#include "boot/loader.h"

/* Logs one clear line and returns -1 on failure. */
int pvh_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry);

#endif
