/* mkbzimage: wrap a freestanding x86_64 ELF linked at 1 MiB (with its 64-bit
 * entry at +0x200) as a bzImage: a boot sector carrying the Linux setup header
 * (boot protocol 2.15, LOADED_HIGH, XLF_KERNEL_64), one setup sector, then
 * the flat protected-mode payload. Used to boot ember's test guests through
 * the same bzImage path as Linux.
 *   usage: mkbzimage IN.elf OUT.bzImage [COMPRESSED]
 * With COMPRESSED (IN.elf compressed by gzip, xz, lz4 -l, ... as the kernel
 * build does), it is appended, with IN.elf's size as a 4-byte trailer for
 * every format but gzip (whose ISIZE is that trailer), and announced through payload_offset/payload_length, like a real bzImage's
 * compressed vmlinux, so ember's host-side decompression boots IN.elf. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_ADDR 0x100000
#define SETUP_SECTS 1

static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: mkbzimage IN.elf OUT.bzImage [COMPRESSED]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *elf = malloc((size_t)size);
    if (!elf || fread(elf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: read failed\n", argv[1]);
        return 1;
    }
    fclose(f);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
    if ((size_t)size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_machine != EM_X86_64) {
        fprintf(stderr, "%s: not an x86_64 ELF\n", argv[1]);
        return 1;
    }
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf + eh->e_phoff);
    uint64_t file_end = LOAD_ADDR, mem_end = LOAD_ADDR;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (ph[i].p_paddr < LOAD_ADDR) {
            fprintf(stderr, "%s: segment below 1 MiB\n", argv[1]);
            return 1;
        }
        if (ph[i].p_paddr + ph[i].p_filesz > file_end)
            file_end = ph[i].p_paddr + ph[i].p_filesz;
        if (ph[i].p_paddr + ph[i].p_memsz > mem_end)
            mem_end = ph[i].p_paddr + ph[i].p_memsz;
    }
    size_t flat = (size_t)(file_end - LOAD_ADDR);
    flat = (flat + 15) & ~(size_t)15;
    uint8_t *comp = NULL;
    size_t comp_size = 0;
    if (argc == 4) {
        FILE *c = fopen(argv[3], "rb");
        if (!c) {
            perror(argv[3]);
            return 1;
        }
        fseek(c, 0, SEEK_END);
        comp_size = (size_t)ftell(c);
        fseek(c, 0, SEEK_SET);
        comp = malloc(comp_size + 4);
        if (!comp || fread(comp, 1, comp_size, c) != comp_size) {
            fprintf(stderr, "%s: read failed\n", argv[3]);
            return 1;
        }
        fclose(c);
        /* Like the kernel build: a decompressed-size trailer for every format
         * but gzip, whose own ISIZE trailer already is that size. */
        if (!(comp_size >= 2 && comp[0] == 0x1f && comp[1] == 0x8b)) {
            uint32_t elf_size = (uint32_t)size;
            memcpy(comp + comp_size, &elf_size, 4);
            comp_size += 4;
        }
    }
    size_t payload = (flat + comp_size + 15) & ~(size_t)15;
    size_t setup = (SETUP_SECTS + 1) * 512;
    uint8_t *out = calloc(1, setup + payload);
    if (comp) {
        memcpy(out + setup + flat, comp, comp_size);
        put32(out, 0x248, (uint32_t)flat);      /* payload_offset */
        put32(out, 0x24c, (uint32_t)comp_size); /* payload_length */
        free(comp);
    }
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            memcpy(out + setup + (ph[i].p_paddr - LOAD_ADDR), elf + ph[i].p_offset, ph[i].p_filesz);

    out[0x1f1] = SETUP_SECTS;
    put32(out, 0x1f4, (uint32_t)(payload / 16)); /* syssize */
    put16(out, 0x1fa, 0xffff);                   /* vid_mode */
    put16(out, 0x1fe, 0xAA55);                   /* boot_flag */
    out[0x200] = 0xeb;                           /* jump over the header */
    out[0x201] = 0x6a;                           /* header ends at 0x26c */
    memcpy(out + 0x202, "HdrS", 4);
    put16(out, 0x206, 0x020f);                   /* protocol 2.15 */
    out[0x211] = 0x01;                           /* LOADED_HIGH */
    put32(out, 0x214, LOAD_ADDR);                /* code32_start */
    put32(out, 0x22c, 0x7fffffff);               /* initrd_addr_max */
    put32(out, 0x230, 0x200000);                 /* kernel_alignment */
    out[0x234] = 0;                              /* not relocatable */
    put16(out, 0x236, 0x0001);                   /* XLF_KERNEL_64 */
    put32(out, 0x238, 2047);                     /* cmdline_size */
    put64(out, 0x258, LOAD_ADDR);                /* pref_address */
    put32(out, 0x260, (uint32_t)(mem_end - LOAD_ADDR)); /* init_size */

    FILE *o = fopen(argv[2], "wb");
    if (!o || fwrite(out, 1, setup + payload, o) != setup + payload || fclose(o) != 0) {
        perror(argv[2]);
        return 1;
    }
    free(out);
    free(elf);
    return 0;
}
