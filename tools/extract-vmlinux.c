/* extract-vmlinux BZIMAGE OUT: writes the ELF vmlinux inside a bzImage,
 * decompressed with ember's own payload decompression (src/boot/decompress.c).
 * The test bed boots it through PVH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/bzimage.h"
#include "boot/decompress.h"
#include "util/file.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: extract-vmlinux BZIMAGE OUT\n");
        return 2;
    }
    struct file_blob b;
    if (file_read_all("bzImage", argv[1], 1u << 30, &b) < 0)
        return 1;
    struct bzimage_payload pl;
    if (bzimage_find_payload(b.data, b.size, &pl) < 0) {
        fprintf(stderr, "%s: not a bzImage with a compressed payload\n", argv[1]);
        return 1;
    }
    size_t out_size = pl.decompressed_size;
    uint8_t *out = malloc(out_size ? out_size : 1);
    char err[256];
    if (!out || decompress_exact(pl.compression, pl.stream, pl.stream_len, out, out_size, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], out ? err : "out of memory");
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, out_size, f) != out_size || fclose(f) != 0) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
