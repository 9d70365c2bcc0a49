/* Loading an x86_64 ELF kernel (vmlinux) by physical address, with every
 * header, segment and note checked against the file and guest RAM. Used by
 * the PVH path and by the bzImage path after host-side decompression. */
#ifndef EMBER_BOOT_ELF_H
#define EMBER_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

struct elf_kernel {
    uint64_t entry;     /* e_entry: the 64-bit entry of a vmlinux */
    uint64_t end;       /* end of the highest loaded segment (bss included) */
    bool has_pvh;
    uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
};

bool elf_is_elf(const uint8_t *data, size_t size);
/* `what` names the file in messages ("kernel vmlinuz"). */
int elf_load_kernel(const struct guest_memory *mem, const char *what, const uint8_t *data, size_t size,
                    struct elf_kernel *out);

#endif
