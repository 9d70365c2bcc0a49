#include "boot/decompress.h"

#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum kernel_compression compression_detect(const uint8_t *d, size_t n)
{
    static const struct {
        enum kernel_compression c;
        size_t len;
        const char *magic;
    } magics[] = {
        {COMP_GZIP, 2, "\x1f\x8b"},
        {COMP_BZIP2, 3, "BZh"},
        {COMP_LZMA, 3, "\x5d\x00\x00"},
        {COMP_XZ, 6, "\xfd" "7zXZ\x00"},
        {COMP_LZO, 9, "\x89LZO\x00\x0d\x0a\x1a\x0a"},
        {COMP_LZ4, 4, "\x02\x21\x4c\x18"},
        {COMP_ZSTD, 4, "\x28\xb5\x2f\xfd"},
    };
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
        if (n >= magics[i].len && memcmp(d, magics[i].magic, magics[i].len) == 0)
            return magics[i].c;
    return COMP_UNKNOWN;
}

const char *compression_name(enum kernel_compression c)
{
    static const char *const names[] = {"unknown", "gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "zstd"};
    return names[c];
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int inflate_gzip(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err,
                        size_t el)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return fail(err, el, "zlib init failed");
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = (uInt)out_size;
    int r = inflate(&zs, Z_FINISH);
    *got = zs.total_out;
    inflateEnd(&zs);
    return r == Z_STREAM_END ? 0 : fail(err, el, "gzip: %s", zs.msg ? zs.msg : "stream truncated or too large");
}

static int unbzip2(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err, size_t el)
{
    bz_stream bs = {0};
    if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
        return fail(err, el, "bzip2 init failed");
    bs.next_in = (char *)in;
    bs.avail_in = (unsigned)in_len;
    bs.next_out = (char *)out;
    bs.avail_out = (unsigned)out_size;
    int r = BZ2_bzDecompress(&bs);
    *got = out_size - bs.avail_out;
    BZ2_bzDecompressEnd(&bs);
    return r == BZ_STREAM_END ? 0 : fail(err, el, "bzip2: error %d", r);
}

/* liblzma allocates the dictionary the stream's header announces (up to
 * 4 GiB for .lzma, 1.5 GiB for .xz), whatever the output size: a 20-byte
 * payload could make ember allocate gigabytes. A dictionary larger than
 * the output is never needed (no match reaches back before the output's
 * start), but the kernel build writes 64 MiB (lzma -9) and 32 MiB (xz)
 * dictionaries whatever the kernel's size, so those stay allowed; the
 * decoder's own state needs well under the extra 1 MiB. */
#define LZMA_DICT_ALLOWANCE (64u << 20)
#define LZMA_STATE_ALLOWANCE (1u << 20)

uint64_t decompress_lzma_memlimit(size_t out_size)
{
    return (out_size > LZMA_DICT_ALLOWANCE ? out_size : LZMA_DICT_ALLOWANCE) + (uint64_t)LZMA_STATE_ALLOWANCE;
}

static int unlzma(bool xz, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err,
                  size_t el)
{
    lzma_stream ls = LZMA_STREAM_INIT;
    uint64_t memlimit = decompress_lzma_memlimit(out_size);
    lzma_ret r = xz ? lzma_stream_decoder(&ls, memlimit, 0) : lzma_alone_decoder(&ls, memlimit);
    if (r != LZMA_OK)
        return fail(err, el, "liblzma init failed");
    ls.next_in = in;
    ls.avail_in = in_len;
    ls.next_out = out;
    ls.avail_out = out_size;
    r = lzma_code(&ls, LZMA_FINISH);
    *got = out_size - ls.avail_out;
    lzma_end(&ls);
    if (r == LZMA_MEMLIMIT_ERROR)
        return fail(err, el, "%s: the stream's dictionary needs more than %llu MiB for %zu bytes of output",
                    xz ? "xz" : "lzma", (unsigned long long)(memlimit >> 20), out_size);
    return r == LZMA_STREAM_END ? 0 : fail(err, el, "%s: liblzma error %d", xz ? "xz" : "lzma", (int)r);
}

static int unzstd(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err, size_t el)
{
    size_t frame = ZSTD_findFrameCompressedSize(in, in_len);
    if (ZSTD_isError(frame))
        return fail(err, el, "zstd: %s", ZSTD_getErrorName(frame));
    size_t r = ZSTD_decompress(out, out_size, in, frame);
    if (ZSTD_isError(r))
        return fail(err, el, "zstd: %s", ZSTD_getErrorName(r));
    *got = r;
    return 0;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24; }

/* LZ4 legacy frame: magic, then (le32 size, compressed chunk)*, each chunk
 * decompressing to at most 8 MiB; a repeated magic starts a new archive. */
static int unlz4(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err, size_t el)
{
    const uint32_t magic = 0x184C2102;
    const size_t chunk_max = 8u << 20;
    size_t pos = 4, done = 0;
    if (in_len < pos) /* else in_len - pos below wraps and the loop reads past the input */
        return fail(err, el, "lz4: truncated before the end of its magic");
    while (in_len - pos >= 4) {
        uint32_t csize = le32(in + pos);
        pos += 4;
        if (csize == magic)
            continue;
        if (csize > in_len - pos || csize > (size_t)LZ4_compressBound((int)chunk_max))
            return fail(err, el, "lz4: chunk of %u bytes runs past the payload", csize);
        size_t room = out_size - done < chunk_max ? out_size - done : chunk_max;
        int n = LZ4_decompress_safe((const char *)in + pos, (char *)out + done, (int)csize, (int)room);
        if (n < 0)
            return fail(err, el, "lz4: corrupt chunk at offset %zu", pos);
        done += (size_t)n;
        pos += csize;
    }
    *got = done;
    return 0;
}

/* lzop container around LZO1X blocks (lib/decompress_unlzo.c reads the same). */
static int unlzo(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size, size_t *got, char *err, size_t el)
{
    enum { F_ADLER32_D = 0x1, F_ADLER32_C = 0x2, F_H_FILTER = 0x800, F_CRC32_D = 0x100, F_CRC32_C = 0x200 };
    if (lzo_init() != LZO_E_OK)
        return fail(err, el, "lzo init failed");
    size_t p = 9;
#define NEED(n)                                                                                                        \
    do {                                                                                                               \
        if (p > in_len || in_len - p < (size_t)(n))                                                                    \
            return fail(err, el, "lzo: truncated at offset %zu", p);                                                   \
    } while (0)
    NEED(7);
    unsigned version = (unsigned)in[p] << 8 | in[p + 1];
    p += 4; /* version, library version */
    if (version >= 0x0940)
        p += 2; /* version needed to extract */
    NEED(2);
    p += 1; /* method */
    if (version >= 0x0940)
        p += 1; /* level */
    NEED(4);
    uint32_t flags = be32(in + p);
    p += 4;
    if (flags & F_H_FILTER)
        p += 4;
    p += 8; /* mode, mtime low */
    if (version >= 0x0940)
        p += 4; /* mtime high */
    NEED(1);
    p += 1 + in[p] + 4; /* file name, header checksum */
    size_t done = 0;
    for (;;) {
        NEED(4);
        uint32_t dst_len = be32(in + p);
        p += 4;
        if (dst_len == 0)
            break;
        NEED(4);
        uint32_t src_len = be32(in + p);
        p += 4;
        p += ((flags & F_ADLER32_D) ? 4 : 0) + ((flags & F_CRC32_D) ? 4 : 0);
        if (src_len < dst_len)
            p += ((flags & F_ADLER32_C) ? 4 : 0) + ((flags & F_CRC32_C) ? 4 : 0);
        NEED(src_len);
        if (dst_len > out_size - done)
            return fail(err, el, "lzo: output larger than announced");
        if (src_len == dst_len) {
            memcpy(out + done, in + p, src_len); /* stored block */
        } else {
            lzo_uint n = dst_len;
            if (lzo1x_decompress_safe(in + p, src_len, out + done, &n, NULL) != LZO_E_OK || n != dst_len)
                return fail(err, el, "lzo: corrupt block at offset %zu", p);
        }
        done += dst_len;
        p += src_len;
    }
#undef NEED
    *got = done;
    return 0;
}

int decompress_exact(enum kernel_compression c, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                     char *err, size_t err_len)
{
    size_t got = 0;
    int r;
    switch (c) {
    case COMP_GZIP: r = inflate_gzip(in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_BZIP2: r = unbzip2(in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_LZMA: r = unlzma(false, in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_XZ: r = unlzma(true, in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_LZO: r = unlzo(in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_LZ4: r = unlz4(in, in_len, out, out_size, &got, err, err_len); break;
    case COMP_ZSTD: r = unzstd(in, in_len, out, out_size, &got, err, err_len); break;
    default: return fail(err, err_len, "unknown compression");
    }
    if (r == 0 && got != out_size)
        return fail(err, err_len, "%s: decompressed to %zu bytes, the kernel announced %zu", compression_name(c), got,
                    out_size);
    return r;
}
