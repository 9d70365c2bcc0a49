/* A bare ELF vmlinux without a PVH note, Firecracker's usual guest kernel:
 * its segments where they run, entered at e_entry in 64-bit mode with the
 * zero page in rsi, as ember enters a bzImage it decompressed on the host. */
#ifndef EMBER_BOOT_VMLINUX_H
#define EMBER_BOOT_VMLINUX_H

#include "boot/elf.h"
#include "boot/loader.h"

/* For an ELF already loaded. Logs one clear line and returns -1 on failure. */
int vmlinux_enter(const struct guest_memory *mem, const struct boot_image *img, const struct elf_kernel *k,
                  struct boot_entry *entry);

#endif
