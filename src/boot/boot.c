#include "boot/boot.h"

#include <stdio.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/bzimage.h"
#include "boot/decompress.h"
#include "boot/elf.h"
#include "boot/mptable.h"
#include "boot/pvh.h"
#include "boot/vmlinux.h"
#include "memory/layout.h"
#include "util/file.h"
#include "util/log.h"

#define KERNEL_MAX_SIZE (512 * MiB)

/* What Linux can take as an initrd: an initramfs (a cpio archive, maybe
 * compressed in a format the kernel unpacks) or a legacy ramdisk image
 * (ext2/3/4, squashfs, cramfs, romfs). Returns a description, or NULL. */
static const char *initrd_kind(const uint8_t *d, size_t n)
{
    if (n >= 6 && (!memcmp(d, "070701", 6) || !memcmp(d, "070702", 6) || !memcmp(d, "070707", 6)))
        return "cpio archive";
    if (compression_detect(d, n) != COMP_UNKNOWN)
        return "compressed initramfs";
    if (n >= 0x43a && d[0x438] == 0x53 && d[0x439] == 0xef)
        return "ext2/3/4 ramdisk";
    if (n >= 4 && (!memcmp(d, "hsqs", 4) || !memcmp(d, "\x45\x3d\xcd\x28", 4)))
        return "squashfs/cramfs ramdisk";
    if (n >= 8 && !memcmp(d, "-rom1fs-", 8))
        return "romfs ramdisk";
    return NULL;
}

int boot_load(const struct guest_memory *mem, const struct boot_config *cfg, struct boot_entry *entry)
{
    struct file_blob kernel = {0}, initrd = {0};
    int ret = -1;
    if (mem->ram_size < 2 * MiB) {
        log_error("--memory: %llu KiB is too small to boot anything (at least 2 MiB)",
                  (unsigned long long)(mem->ram_size / KiB));
        return -1;
    }
    if (file_read_all("kernel", cfg->kernel_path, KERNEL_MAX_SIZE, &kernel) < 0)
        goto out;
    if (cfg->initrd_path) {
        if (file_read_all("initrd", cfg->initrd_path, mem->ram_size, &initrd) < 0)
            goto out;
        if (!initrd_kind(initrd.data, initrd.size)) {
            log_error("initrd %s: not a cpio archive (plain or compressed) nor a ramdisk image Linux can use",
                      cfg->initrd_path);
            goto out;
        }
    }
    /* Tables first: the loaders pass the RSDP's address on to the kernel. */
    uint64_t rsdp = acpi_write_tables(mem, cfg->ncpus, cfg->pci);
    if (!rsdp) {
        log_error("boot: cannot write the ACPI tables for %d vCPUs", cfg->ncpus);
        goto out;
    }
    struct boot_image img = {
        .rsdp = rsdp,
        .path = cfg->kernel_path,
        .data = kernel.data,
        .size = kernel.size,
        .initrd = cfg->initrd_path ? initrd.data : NULL,
        .initrd_size = initrd.size,
        .cmdline = cfg->cmdline,
        .decompress_in_guest = cfg->decompress_in_guest,
    };
    if (bzimage_is_bzimage(kernel.data, kernel.size))
        ret = bzimage_load(mem, &img, entry);
    else if (elf_is_elf(kernel.data, kernel.size)) {
        /* An ELF vmlinux: through its PVH note where it has one, else at its
         * 64-bit entry with a zero page (as Firecracker boots one). */
        char what[512];
        snprintf(what, sizeof(what), "kernel %s", cfg->kernel_path);
        struct elf_kernel k;
        if (elf_load_kernel(mem, what, kernel.data, kernel.size, &k) == 0)
            ret = k.has_pvh ? pvh_enter(mem, &img, &k, entry) : vmlinux_enter(mem, &img, &k, entry);
    }
    else
        log_error("kernel %s: not a bzImage or an ELF vmlinux (unrecognised format, %zu bytes)", cfg->kernel_path,
                  kernel.size);
    if (ret < 0)
        goto out;
    ret = -1;
    if (mptable_write(mem, LAYOUT_MPTABLE, LAYOUT_HIGH_RAM_START - LAYOUT_MPTABLE, cfg->ncpus) < 0) {
        log_error("boot: cannot write the MP table for %d vCPUs", cfg->ncpus);
        goto out;
    }
    if (boot_write_cpu_tables(mem) < 0) {
        log_error("boot: cannot write the boot GDT and page tables");
        goto out;
    }
    ret = 0;
out:
    file_blob_free(&kernel);
    file_blob_free(&initrd);
    return ret;
}
