/* Host-side decompression of a bzImage's payload (the compressed vmlinux),
 * in every format Linux's x86 build offers, through Debian's libraries:
 * gzip (zlib), bzip2 (libbz2), lzma and xz (liblzma), lzo (liblzo2, lzop
 * container), lz4 (liblz4, legacy frame as the kernel writes it) and zstd
 * (libzstd). Doing it on the host skips the in-guest decompressor. */
#ifndef EMBER_BOOT_DECOMPRESS_H
#define EMBER_BOOT_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum kernel_compression {
    COMP_UNKNOWN, COMP_GZIP, COMP_BZIP2, COMP_LZMA, COMP_XZ, COMP_LZO, COMP_LZ4, COMP_ZSTD,
};

enum kernel_compression compression_detect(const uint8_t *data, size_t len);
const char *compression_name(enum kernel_compression c);

/* Decompresses `in` into `out`, which must end up exactly `out_size` bytes
 * long (the size the kernel's build appends to its payload). Returns 0, or -1
 * with a reason in `err`. Never writes past out + out_size, whatever `in`
 * holds. */
int decompress_exact(enum kernel_compression c, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                     char *err, size_t err_len);
/* The most memory an lzma or xz stream may make liblzma allocate for
 * out_size bytes of output (its dictionary and state): tied to the output,
 * which the loader bounds by guest RAM, not to what the stream announces. */
uint64_t decompress_lzma_memlimit(size_t out_size);

#endif
