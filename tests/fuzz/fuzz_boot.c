/* libFuzzer harness: the kernel and initrd ember is handed are host input,
 * and a user may be handed a hostile image; a loader bug writes ember's own
 * memory. The first input byte picks the target:
 *   0  boot_load with the input as the kernel file, a bzImage's payload
 *      decompressed on the host (an ELF goes to the PVH loader);
 *   1  the same with --decompress guest (the payload copied as it is);
 *   2+ decompress_exact in one format, into a buffer of the size bytes 1-4
 *      announce (at most DECOMPRESS_OUT_MAX), with bytes 5.. as the stream.
 * For 0 and 1, bytes 1-2 say how many of the input's last bytes are the
 * initrd file (0: no --initrd), byte 3 picks the vCPU count, the PCI bus and
 * the command line; the kernel file is what lies between. The files reach
 * boot_load as memfds named /proc/self/fd/N, as ember reads paths. Guest RAM
 * is small, so the loaders' "outside RAM" checks are reachable. After a
 * load that succeeded the harness checks what the guest relies on: the
 * entry point is RAM, the initrd arrived intact, page-aligned, above the
 * boot structures, and the command line is the one given. Any crash, leak,
 * undefined behaviour, abort, timeout or allocation past libFuzzer's limit
 * is a bug. Built with clang: `make fuzz`; seeds from make-seeds-fuzz_boot.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/decompress.h"
#include "memory/layout.h"
#include "util/log.h"

#define RAM (32 * MiB)
#define DECOMPRESS_OUT_MAX (1 * MiB)
#define BOOT_HEADER 4   /* target, initrd length (le16), vCPUs / PCI / command line */
#define DECOMPRESS_HEADER 5 /* target, output size (le32) */

enum { TARGET_BOOT_HOST_DECOMPRESS, TARGET_BOOT_GUEST_DECOMPRESS, TARGET_DECOMPRESS_FIRST };
#define TARGET_COUNT (TARGET_DECOMPRESS_FIRST + COMP_ZSTD)

/* The zero page's ramdisk fields (Documentation/arch/x86/zero-page.rst). */
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
/* hvm_start_info's module count and list; a module entry is paddr, size. */
#define PVH_NR_MODULES 12
#define PVH_MODLIST_PADDR 16

struct memfile {
    int fd;
    char path[32];
};

static struct guest_memory mem;
static struct memfile kernel_file, initrd_file;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_boot: %s\n", what);
        abort();
    }
}

static void memfile_open(struct memfile *f, const char *name)
{
    f->fd = memfd_create(name, MFD_CLOEXEC);
    check(f->fd >= 0, "memfd_create failed");
    snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

/* Makes the file hold exactly data[0, size). */
static void memfile_fill(const struct memfile *f, const uint8_t *data, size_t size)
{
    check(ftruncate(f->fd, 0) == 0, "memfd truncate failed");
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        check(n > 0, "memfd write failed");
        done += (size_t)n;
    }
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Where the loader told the guest its initrd is, from the zero page or the
 * hvm_start_info. */
static void announced_initrd(const struct boot_entry *entry, uint64_t *gpa, uint64_t *size)
{
    *gpa = *size = 0;
    if (entry->mode == BOOT_ENTRY_LONG64) {
        const uint8_t *bp = gpa_to_host(&mem, entry->arg, 4096);
        check(bp != NULL, "boot_params outside RAM");
        *gpa = rd32(bp + BP_RAMDISK_IMAGE) | (uint64_t)rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32;
        *size = rd32(bp + BP_RAMDISK_SIZE) | (uint64_t)rd32(bp + BP_EXT_RAMDISK_SIZE) << 32;
        return;
    }
    const uint8_t *si = gpa_to_host(&mem, entry->arg, 56);
    check(si != NULL, "hvm_start_info outside RAM");
    if (rd32(si + PVH_NR_MODULES) == 0)
        return;
    const uint8_t *mod = gpa_to_host(&mem, rd64(si + PVH_MODLIST_PADDR), 16);
    check(mod != NULL, "PVH module list outside RAM");
    *gpa = rd64(mod);
    *size = rd64(mod + 8);
}

static void fuzz_boot(bool decompress_in_guest, const uint8_t *data, size_t size)
{
    if (size < BOOT_HEADER)
        return;
    size_t initrd_size = (size_t)(data[1] | data[2] << 8);
    uint8_t machine = data[3];
    data += BOOT_HEADER, size -= BOOT_HEADER;
    if (initrd_size > size)
        initrd_size = size;
    size_t kernel_size = size - initrd_size;
    memfile_fill(&kernel_file, data, kernel_size);
    memfile_fill(&initrd_file, data + kernel_size, initrd_size);
    /* A command line longer than a bzImage's cmdline_size and than PVH's
     * 2 KiB reaches both loaders' length checks. */
    static char long_cmdline[3000];
    if (!long_cmdline[0])
        memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
    const char *cmdline = (machine & 0x80) ? long_cmdline : (machine & 0x40) ? "console=ttyS0" : NULL;
    struct boot_config cfg = {
        .kernel_path = kernel_file.path,
        .decompress_in_guest = decompress_in_guest,
        .initrd_path = initrd_size ? initrd_file.path : NULL,
        .cmdline = cmdline,
        .ncpus = 1 + (machine & 0x1f) * 8,
        .pci = machine & 0x20,
    };
    struct boot_entry entry;
    if (boot_load(&mem, &cfg, &entry) < 0)
        return;
    check(gpa_range_is_ram(&mem, entry.rip, 1), "entry point outside RAM");
    const char *given = cmdline ? cmdline : "";
    const char *written = gpa_to_host(&mem, LAYOUT_CMDLINE, strlen(given) + 1);
    check(written && !memcmp(written, given, strlen(given) + 1), "command line not written as given");
    uint64_t initrd_gpa, announced_size;
    announced_initrd(&entry, &initrd_gpa, &announced_size);
    if (!initrd_size)
        return;
    check(announced_size == initrd_size, "initrd size announced wrongly");
    check(initrd_gpa >= LAYOUT_HIGH_RAM_START && initrd_gpa % 4096 == 0, "initrd placed over boot structures");
    const uint8_t *placed = gpa_to_host(&mem, initrd_gpa, initrd_size);
    check(placed && !memcmp(placed, data + kernel_size, initrd_size), "initrd not intact in guest RAM");
}

static void fuzz_decompress(enum kernel_compression comp, const uint8_t *data, size_t size)
{
    if (size < DECOMPRESS_HEADER)
        return;
    size_t out_size = rd32(data + 1) % (DECOMPRESS_OUT_MAX + 1);
    data += DECOMPRESS_HEADER, size -= DECOMPRESS_HEADER;
    /* Exactly out_size bytes, so ASan sees a write one byte past them. */
    uint8_t *out = malloc(out_size ? out_size : 1);
    char err[256];
    if (decompress_exact(comp, data, size, out, out_size, err, sizeof(err)) < 0)
        check(memchr(err, '\0', sizeof(err)) != NULL, "decompress error message not a string");
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!mem.base) {
        /* A refused image logs a line: millions of them are noise, but
         * FUZZ_BOOT_LOG=1 shows why a replayed input was refused. */
        log_set_level(getenv("FUZZ_BOOT_LOG") ? LOG_DEBUG : LOG_OFF);
        check(guest_memory_init(&mem, RAM) == 0, "cannot map guest RAM");
        memfile_open(&kernel_file, "kernel");
        memfile_open(&initrd_file, "initrd");
    }
    if (size < 1)
        return 0;
    unsigned target = data[0] % TARGET_COUNT;
    if (target == TARGET_BOOT_HOST_DECOMPRESS || target == TARGET_BOOT_GUEST_DECOMPRESS)
        fuzz_boot(target == TARGET_BOOT_GUEST_DECOMPRESS, data, size);
    else
        fuzz_decompress((enum kernel_compression)(COMP_GZIP + target - TARGET_DECOMPRESS_FIRST), data, size);
    return 0;
}
