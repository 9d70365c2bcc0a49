/* extract-vmlinux BZIMAGE OUT: writes the ELF vmlinux inside a bzImage,
 * decompressed with ember's own payload decompression (src/boot/decompress.c).
 * The test bed boots it through PVH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (b.size < 0x250) {
        fprintf(stderr, "%s: too small for a bzImage\n", argv[1]);
        return 1;
    }
    size_t setup = ((size_t)(b.data[0x1f1] ? b.data[0x1f1] : 4) + 1) * 512;
    uint32_t off, len;
    memcpy(&off, b.data + 0x248, 4);
    memcpy(&len, b.data + 0x24c, 4);
    if (len < 8 || setup > b.size || off > b.size - setup || len > b.size - setup - off) {
        fprintf(stderr, "%s: no payload\n", argv[1]);
        return 1;
    }
    const uint8_t *p = b.data + setup + off;
    uint32_t out_size;
    memcpy(&out_size, p + len - 4, 4);
    uint8_t *out = malloc(out_size);
    char err[256];
    enum kernel_compression c = compression_detect(p, len);
    size_t stream_len = c == COMP_GZIP ? len : len - 4; /* gzip's ISIZE is the size trailer */
    if (!out || decompress_exact(c, p, stream_len, out, out_size, err, sizeof(err)) < 0) {
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
