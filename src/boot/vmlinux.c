#include "boot/vmlinux.h"

#include "boot/zero_page.h"
#include "memory/layout.h"
#include "util/log.h"

int vmlinux_enter(const struct guest_memory *mem, const struct boot_image *img, const struct elf_kernel *k,
                  struct boot_entry *entry)
{
    /* e_entry of an x86_64 vmlinux is startup_64's physical address. */
    if (!gpa_range_is_ram(mem, k->entry, 1)) {
        log_error("kernel %s: entry point 0x%llx is outside guest RAM", img->path, (unsigned long long)k->entry);
        return -1;
    }
    if (zero_page_write(mem, img, NULL, 0, k->end) < 0)
        return -1;
    entry->mode = BOOT_ENTRY_LONG64;
    entry->rip = k->entry;
    entry->arg = LAYOUT_ZERO_PAGE;
    log_debug("kernel %s: ELF without a PVH note, entered at its 64-bit entry 0x%llx", img->path,
              (unsigned long long)k->entry);
    return 0;
}
