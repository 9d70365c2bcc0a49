/* The bzImage loader (Linux x86 boot protocol 2.12+): the kernel decompressed
 * on the host and entered at vmlinux's 64-bit entry, or in the guest by its
 * own decompressor. */
#ifndef EMBER_BOOT_BZIMAGE_H
#define EMBER_BOOT_BZIMAGE_H

#include "boot/loader.h"

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

int bzimage_is_bzimage(const uint8_t *data, size_t size);
/* Logs one clear line and returns -1 on failure. */
int bzimage_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry);

#endif
