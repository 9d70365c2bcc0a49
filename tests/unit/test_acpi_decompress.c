/* ACPI tables and host-side kernel decompression. */
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/acpi.h"
#include "boot/decompress.h"
#include "memory/layout.h"
#include "check.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *table(const struct guest_memory *m, uint64_t gpa, const char *sig)
{
    const uint8_t *t = gpa_to_host(m, gpa, 36);
    if (!t || memcmp(t, sig, 4))
        return NULL;
    uint32_t len;
    memcpy(&len, t + 4, 4);
    return gpa_to_host(m, gpa, len) && sum(t, len) == 0 ? t : NULL;
}

TEST(acpi_tables_are_linked_and_checksummed)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 16 * MiB) == 0);
    uint64_t rsdp_gpa = acpi_write_tables(&m, 3, false);
    CHECK(rsdp_gpa >= LAYOUT_ACPI_START && rsdp_gpa < LAYOUT_ACPI_END && rsdp_gpa % 16 == 0);
    const uint8_t *rsdp = gpa_to_host(&m, rsdp_gpa, 36);
    CHECK(!memcmp(rsdp, "RSD PTR ", 8));
    CHECK_EQ(sum(rsdp, 20), 0);
    CHECK_EQ(sum(rsdp, 36), 0);
    uint64_t xsdt_gpa;
    memcpy(&xsdt_gpa, rsdp + 24, 8);
    const uint8_t *xsdt = table(&m, xsdt_gpa, "XSDT");
    CHECK(xsdt != NULL);
    if (!xsdt)
        return;
    uint64_t fadt_gpa, madt_gpa;
    memcpy(&fadt_gpa, xsdt + 36, 8);
    memcpy(&madt_gpa, xsdt + 44, 8);
    const uint8_t *fadt = table(&m, fadt_gpa, "FACP"), *madt = table(&m, madt_gpa, "APIC");
    CHECK(fadt && madt);
    if (!fadt || !madt)
        return;
    uint32_t pm1a_cnt, dsdt32;
    memcpy(&pm1a_cnt, fadt + 64, 4);
    CHECK_EQ(pm1a_cnt, 0x604);
    memcpy(&dsdt32, fadt + 40, 4);
    const uint8_t *dsdt = table(&m, dsdt32, "DSDT");
    CHECK(dsdt && !memcmp(dsdt + 36, "\x08_S5_", 5));
    uint64_t reset_addr;
    memcpy(&reset_addr, fadt + 116 + 4, 8);
    CHECK_EQ(reset_addr, 0xcf9);
    CHECK_EQ(fadt[128], 0x06);
    /* MADT: one enabled local APIC per vCPU with APIC id = index, and the IOAPIC. */
    uint32_t len;
    memcpy(&len, madt + 4, 4);
    int lapics = 0, ioapics = 0;
    for (const uint8_t *p = madt + 44; p < madt + len; p += p[1]) {
        CHECK(p[1] >= 2);
        if (p[1] < 2)
            break;
        if (p[0] == 0) {
            CHECK_EQ(p[3], lapics);
            CHECK(p[4] & 1);
            lapics++;
        } else if (p[0] == 1) {
            uint32_t addr;
            memcpy(&addr, p + 4, 4);
            CHECK_EQ(addr, LAYOUT_IOAPIC);
            ioapics++;
        }
    }
    CHECK_EQ(lapics, 3);
    CHECK_EQ(ioapics, 1);
    CHECK_EQ(acpi_write_tables(&m, 0, false), 0);
    guest_memory_free(&m);
}

/* --- decompression: each format from its library's own encoder ---------- */
#define PLAIN_SIZE (3u << 20)
static uint8_t *plain;

static void make_plain(void)
{
    if (plain)
        return;
    plain = malloc(PLAIN_SIZE);
    uint32_t x = 12345;
    for (size_t i = 0; i < PLAIN_SIZE; i++) { /* compressible but not trivial */
        x = x * 1103515245 + 12345;
        plain[i] = (uint8_t)((i % 251) ^ ((x >> 24) & 3));
    }
}

static size_t enc_gzip(uint8_t *out, size_t cap)
{
    z_stream zs = {0};
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = plain;
    zs.avail_in = PLAIN_SIZE;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    return zs.total_out;
}

static size_t enc_xz(uint8_t *out, size_t cap, bool alone)
{
    size_t pos = 0;
    if (!alone) {
        lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, plain, PLAIN_SIZE, out, &pos, cap);
        return pos;
    }
    lzma_options_lzma opt;
    lzma_lzma_preset(&opt, 1);
    lzma_stream ls = LZMA_STREAM_INIT;
    if (lzma_alone_encoder(&ls, &opt) != LZMA_OK)
        return 0;
    ls.next_in = plain;
    ls.avail_in = PLAIN_SIZE;
    ls.next_out = out;
    ls.avail_out = cap;
    if (lzma_code(&ls, LZMA_FINISH) != LZMA_STREAM_END)
        ls.avail_out = cap;
    pos = cap - ls.avail_out;
    lzma_end(&ls);
    return pos;
}

static size_t enc_bzip2(uint8_t *out, size_t cap)
{
    unsigned n = (unsigned)cap;
    BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)plain, PLAIN_SIZE, 1, 0, 0);
    return n;
}

static size_t enc_zstd(uint8_t *out, size_t cap) { return ZSTD_compress(out, cap, plain, PLAIN_SIZE, 3); }

/* The kernel's LZ4 legacy frame: magic, then (le32 size, chunk) per 8 MiB. */
static size_t enc_lz4(uint8_t *out, size_t cap)
{
    memcpy(out, "\x02\x21\x4c\x18", 4);
    int n = LZ4_compress_default((const char *)plain, (char *)out + 8, PLAIN_SIZE, (int)cap - 8);
    uint32_t n32 = (uint32_t)n;
    memcpy(out + 4, &n32, 4);
    return 8 + (size_t)n;
}

static void roundtrip(enum kernel_compression want, size_t n, uint8_t *buf)
{
    char err[256];
    CHECK_EQ(compression_detect(buf, n), want);
    uint8_t *out = malloc(PLAIN_SIZE);
    CHECK(decompress_exact(want, buf, n, out, PLAIN_SIZE, err, sizeof(err)) == 0);
    CHECK(memcmp(out, plain, PLAIN_SIZE) == 0);
    /* Hostile variants: truncated input, a smaller announced size, garbage. */
    CHECK(decompress_exact(want, buf, n / 2, out, PLAIN_SIZE, err, sizeof(err)) < 0);
    CHECK(decompress_exact(want, buf, n, out, PLAIN_SIZE - 4096, err, sizeof(err)) < 0);
    uint8_t *junk = malloc(n);
    memcpy(junk, buf, n);
    for (size_t i = 16; i < n; i += 97)
        junk[i] ^= 0x5a;
    (void)decompress_exact(want, junk, n, out, PLAIN_SIZE, err, sizeof(err)); /* must not crash (ASan) */
    free(junk);
    free(out);
}

TEST(decompress_every_format_and_refuse_bad_streams)
{
    make_plain();
    size_t cap = PLAIN_SIZE + (1u << 20);
    uint8_t *buf = malloc(cap);
    roundtrip(COMP_GZIP, enc_gzip(buf, cap), buf);
    roundtrip(COMP_XZ, enc_xz(buf, cap, false), buf);
    roundtrip(COMP_LZMA, enc_xz(buf, cap, true), buf);
    roundtrip(COMP_BZIP2, enc_bzip2(buf, cap), buf);
    roundtrip(COMP_ZSTD, enc_zstd(buf, cap), buf);
    roundtrip(COMP_LZ4, enc_lz4(buf, cap), buf);
    char err[256];
    CHECK_EQ(compression_detect((const uint8_t *)"ELF!", 4), COMP_UNKNOWN);
    CHECK(decompress_exact(COMP_LZO, (const uint8_t *)"\x89LZO\0\r\n\x1a\n\x10", 10, buf, 16, err, sizeof(err)) < 0);
    free(buf);
}

/* Sets the dictionary an .xz stream's first block announces: the LZMA2
 * filter's one property byte (dictionary (2 | b & 1) << (b / 2 + 11)), in a
 * block header that follows the 12-byte stream header and ends in a CRC32. */
static void xz_set_dictionary(uint8_t *xz, uint8_t dict_byte)
{
    uint8_t *block = xz + 12;
    size_t header_size = ((size_t)block[0] + 1) * 4, p = 2;
    uint8_t flags = block[1];
    for (int size_field = 0; size_field < 2; size_field++)
        if (flags & (0x40 << size_field))
            while (block[p++] & 0x80) /* a multibyte integer */
                ;
    CHECK(block[p] == 0x21 && block[p + 1] == 1); /* LZMA2, one property byte */
    block[p + 2] = dict_byte;
    uint32_t crc = lzma_crc32(block, header_size - 4, 0);
    memcpy(block + header_size - 4, &crc, 4);
}

/* A .lzma or .xz header announces the dictionary liblzma allocates: the
 * old code let a stream of a few bytes announce 1-4 GiB and allocated it,
 * whatever the output size (found by fuzz_boot: malloc of 2.4 GB for a
 * 20-byte .lzma). The kernel build's 64 MiB dictionary still decodes. */
TEST(lzma_and_xz_dictionaries_are_bounded_by_the_output)
{
    make_plain();
    size_t cap = PLAIN_SIZE + (1u << 20);
    uint8_t *buf = malloc(cap), *out = malloc(PLAIN_SIZE);
    char err[256];
    CHECK(decompress_lzma_memlimit(PLAIN_SIZE) < 128 * MiB);
    CHECK(decompress_lzma_memlimit(512 * MiB) < 514 * MiB);
    size_t n = enc_xz(buf, cap, true);
    uint32_t dict = 64 << 20; /* .lzma header: properties, le32 dictionary, le64 size */
    memcpy(buf + 1, &dict, 4);
    CHECK(decompress_exact(COMP_LZMA, buf, n, out, PLAIN_SIZE, err, sizeof(err)) == 0);
    CHECK(memcmp(out, plain, PLAIN_SIZE) == 0);
    dict = 1u << 30;
    memcpy(buf + 1, &dict, 4);
    CHECK(decompress_exact(COMP_LZMA, buf, n, out, PLAIN_SIZE, err, sizeof(err)) < 0);
    CHECK(strstr(err, "dictionary") != NULL);
    n = enc_xz(buf, cap, false);
    xz_set_dictionary(buf, 26); /* 32 MiB, as the kernel build writes */
    CHECK(decompress_exact(COMP_XZ, buf, n, out, PLAIN_SIZE, err, sizeof(err)) == 0);
    xz_set_dictionary(buf, 36); /* 1 GiB */
    CHECK(decompress_exact(COMP_XZ, buf, n, out, PLAIN_SIZE, err, sizeof(err)) < 0);
    CHECK(strstr(err, "dictionary") != NULL);
    free(out);
    free(buf);
}

/* Every format on inputs of 0-12 bytes, its magic and then zeros, that end
 * where an inaccessible page starts: a decoder reading past its input faults
 * here even without ASan. The old LZ4 reader took a chunk size from the 4
 * bytes after an input shorter than its 4-byte magic (in_len - 4 wrapped;
 * found by fuzz_boot). */
TEST(decompress_reads_nothing_past_a_short_input)
{
    static const char *const magics[] = {
        [COMP_GZIP] = "\x1f\x8b", [COMP_BZIP2] = "BZh", [COMP_LZMA] = "\x5d", [COMP_XZ] = "\xfd" "7zXZ",
        [COMP_LZO] = "\x89LZO", [COMP_LZ4] = "\x02\x21\x4c\x18", [COMP_ZSTD] = "\x28\xb5\x2f\xfd",
    };
    const size_t page = 4096;
    uint8_t *map = mmap(NULL, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED && mprotect(map, page, PROT_READ | PROT_WRITE) == 0);
    uint8_t out[64];
    char err[256];
    for (int c = COMP_GZIP; c <= COMP_ZSTD; c++)
        for (size_t len = 0; len <= 12; len++) {
            uint8_t *in = map + page - len;
            memset(in, 0, len);
            memcpy(in, magics[c], strlen(magics[c]) < len ? strlen(magics[c]) : len);
            CHECK(decompress_exact((enum kernel_compression)c, in, len, out, sizeof(out), err, sizeof(err)) < 0);
        }
    munmap(map, 2 * page);
}

RUN_TESTS(CASE(acpi_tables_are_linked_and_checksummed), CASE(decompress_every_format_and_refuse_bad_streams),
          CASE(lzma_and_xz_dictionaries_are_bounded_by_the_output), CASE(decompress_reads_nothing_past_a_short_input))
