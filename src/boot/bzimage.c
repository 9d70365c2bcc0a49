/* bzImage loader, Linux x86 boot protocol 2.12+ (Documentation/arch/x86/boot.rst).
 * By default the compressed vmlinux inside the bzImage (payload_offset/length)
 * is decompressed on the host and its ELF segments loaded where they run, and
 * the vCPU enters vmlinux's own 64-bit entry (e_entry) with boot_params in
 * rsi: the in-guest decompressor never runs. When the payload cannot be
 * found or its compression is unknown, or with --decompress guest, the
 * protected-mode code is loaded at 1 MiB and entered at its 64-bit entry
 * (load address + 0x200), which decompresses the kernel in the guest. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/bzimage.h"
#include "boot/e820.h"
#include "boot/decompress.h"
#include "boot/elf.h"
#include "boot/zero_page.h"
#include "memory/layout.h"
#include "util/log.h"

#define LOADED_HIGH   0x01
#define XLF_KERNEL_64 0x01
#define DECOMPRESSED_MAX (1024ULL * MiB)

static uint16_t rd16(const uint8_t *p, size_t off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static uint32_t rd32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t rd64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

int bzimage_is_bzimage(const uint8_t *data, size_t size)
{
    return size >= HDR_MAGIC + 4 && rd16(data, HDR_BOOT_FLAG) == 0xAA55 && memcmp(data + HDR_MAGIC, "HdrS", 4) == 0;
}

/* Bytes before the protected-mode code: the boot sector and setup_sects
 * sectors (0 means 4, as old loaders assumed). */
static size_t setup_bytes(const uint8_t *d) { return ((size_t)(d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4) + 1) * 512; }

int bzimage_find_payload(const uint8_t *d, size_t size, struct bzimage_payload *p)
{
    if (!bzimage_is_bzimage(d, size) || size < HDR_MIN_SIZE || rd16(d, HDR_VERSION) < 0x0208)
        return -1;
    size_t setup_size = setup_bytes(d);
    uint64_t off = rd32(d, HDR_PAYLOAD_OFFSET), len = rd32(d, HDR_PAYLOAD_LENGTH);
    if (len < 8 || setup_size > size || off > size - setup_size || len > size - setup_size - off)
        return -1;
    const uint8_t *payload = d + setup_size + off;
    p->stream = payload;
    p->compression = compression_detect(payload, len);
    /* The payload's last 4 bytes are the decompressed size. The kernel build
     * appends them to every format but gzip, whose own trailer (ISIZE) ends
     * the stream with exactly that value, so there they belong to the stream. */
    p->decompressed_size = rd32(payload, len - 4);
    p->stream_len = p->compression == COMP_GZIP ? len : len - 4;
    return 0;
}

/* Host-side decompression. Returns 1 when the decompressed vmlinux is loaded
 * (*rip = its entry, *kernel_end raised to cover it), 0 when the bzImage has
 * no payload ember can decompress (the caller boots it the ordinary way), and
 * -1 on an error already reported. */
static int load_decompressed(const struct guest_memory *mem, const struct boot_image *img, uint64_t *kernel_end,
                             uint64_t *rip)
{
    struct bzimage_payload pl;
    if (bzimage_find_payload(img->data, img->size, &pl) < 0)
        return 0;
    enum kernel_compression comp = pl.compression;
    if (comp == COMP_UNKNOWN) {
        log_info("kernel %s: payload compression not recognised; the kernel decompresses itself", img->path);
        return 0;
    }
    uint64_t out_size = pl.decompressed_size;
    if (out_size < 64 || out_size > DECOMPRESSED_MAX || out_size > mem->ram_size) {
        log_error("kernel %s: %s payload announces %llu decompressed bytes; refusing", img->path,
                  compression_name(comp), (unsigned long long)out_size);
        return -1;
    }
    uint8_t *out = malloc(out_size);
    if (!out) {
        log_error("kernel %s: out of memory decompressing %llu bytes", img->path, (unsigned long long)out_size);
        return -1;
    }
    char err[256], what[512];
    int ret = -1;
    if (decompress_exact(comp, pl.stream, pl.stream_len, out, out_size, err, sizeof(err)) < 0) {
        log_error("kernel %s: cannot decompress its payload: %s", img->path, err);
        goto out;
    }
    snprintf(what, sizeof(what), "kernel %s (decompressed payload)", img->path);
    if (!elf_is_elf(out, out_size)) {
        log_error("%s: not an ELF vmlinux", what);
        goto out;
    }
    struct elf_kernel k;
    if (elf_load_kernel(mem, what, out, out_size, &k) < 0)
        goto out;
    if (!gpa_range_is_ram(mem, k.entry, 1)) {
        log_error("%s: entry point 0x%llx is outside guest RAM", what, (unsigned long long)k.entry);
        goto out;
    }
    if (k.end > *kernel_end)
        *kernel_end = k.end;
    *rip = k.entry;
    log_debug("kernel %s: %s payload decompressed on the host, %llu -> %llu bytes, entry 0x%llx", img->path,
              compression_name(comp), (unsigned long long)pl.stream_len, (unsigned long long)out_size,
              (unsigned long long)k.entry);
    ret = 1;
out:
    free(out);
    return ret;
}

int bzimage_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry)
{
    const uint8_t *d = img->data;
    if (img->size < HDR_MIN_SIZE) {
        log_error("kernel %s: truncated bzImage (%zu bytes, smaller than its setup header)", img->path, img->size);
        return -1;
    }
    uint16_t version = rd16(d, HDR_VERSION);
    if (version < 0x020c) {
        log_error("kernel %s: boot protocol %u.%02u is too old; ember needs 2.12+ (a 64-bit entry point)",
                  img->path, version >> 8, version & 0xff);
        return -1;
    }
    if (!(rd16(d, HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        log_error("kernel %s: bzImage has no 64-bit entry point (not an x86_64 kernel?)", img->path);
        return -1;
    }
    if (!(d[HDR_LOADFLAGS] & LOADED_HIGH)) {
        log_error("kernel %s: zImage loaded low is not supported", img->path);
        return -1;
    }
    size_t setup_size = setup_bytes(d);
    uint64_t payload_declared = (uint64_t)rd32(d, HDR_SYSSIZE) * 16;
    if (img->size < setup_size || img->size - setup_size < payload_declared || payload_declared == 0) {
        log_error("kernel %s: truncated bzImage (%zu bytes; its header says %zu setup + %llu payload bytes)",
                  img->path, img->size, setup_size, (unsigned long long)payload_declared);
        return -1;
    }
    size_t payload = img->size - setup_size;
    uint64_t init_size = rd32(d, HDR_INIT_SIZE);
    if (init_size < payload)
        init_size = payload;
    /* The kernel decompresses/relocates itself within init_size of where it
     * runs; a non-relocatable kernel moves to pref_address first. */
    uint64_t pref = rd64(d, HDR_PREF_ADDRESS);
    uint64_t kernel_end = LAYOUT_KERNEL_LOAD + init_size;
    /* pref_address near 2^64 (the file says so) would wrap: such a kernel
     * needs more than any RAM. */
    uint64_t pref_end = pref > UINT64_MAX - init_size ? UINT64_MAX : pref + init_size;
    if (pref > LAYOUT_KERNEL_LOAD && pref_end > kernel_end)
        kernel_end = pref_end;
    int host = img->decompress_in_guest ? 0 : load_decompressed(mem, img, &kernel_end, &entry->rip);
    if (host < 0)
        return -1;
    if (host == 0) {
        if (kernel_end > guest_memory_low_end(mem)) {
            log_error("kernel %s: needs %llu MiB of RAM below 4 GiB to unpack, the guest has %llu MiB; raise --memory",
                      img->path, (unsigned long long)(kernel_end / MiB + (kernel_end % MiB != 0)),
                      (unsigned long long)(mem->ram_size / MiB));
            return -1;
        }
        if (guest_write(mem, LAYOUT_KERNEL_LOAD, d + setup_size, payload) < 0)
            return -1;
        entry->rip = LAYOUT_KERNEL_LOAD + 0x200;
    }

    if (zero_page_write(mem, img, d, img->size, kernel_end) < 0)
        return -1;
    entry->mode = BOOT_ENTRY_LONG64;
    entry->arg = LAYOUT_ZERO_PAGE;
    return 0;
}
