/* bzImage and PVH loaders on synthetic images, the MP table, CPUID shaping. */
#include <elf.h>
#include <pthread.h>
#include <stdlib.h>

#include "boot/boot.h"
#include "boot/bzimage.h"
#include "boot/pvh.h"
#include "boot/vmlinux.h"
#include "boot/elf.h"
#include "boot/mptable.h"
#include "cpu/cpuid.h"
#include "memory/layout.h"
#include "check.h"

static void put16(uint8_t *p, size_t o, uint16_t v) { memcpy(p + o, &v, 2); }
static void put32(uint8_t *p, size_t o, uint32_t v) { memcpy(p + o, &v, 4); }
static uint32_t get32(const uint8_t *p, size_t o) { uint32_t v; memcpy(&v, p + o, 4); return v; }
static uint16_t get16(const uint8_t *p, size_t o) { uint16_t v; memcpy(&v, p + o, 2); return v; }

/* A minimal valid bzImage: 1 setup sector, `payload` bytes of payload. */
static uint8_t *make_bzimage(size_t payload, size_t *size)
{
    *size = 1024 + payload;
    uint8_t *b = calloc(1, *size);
    b[0x1f1] = 1;
    put32(b, 0x1f4, (uint32_t)(payload / 16));
    put16(b, 0x1fe, 0xAA55);
    b[0x200] = 0xeb;
    b[0x201] = 0x66;
    memcpy(b + 0x202, "HdrS", 4);
    put16(b, 0x206, 0x020f);
    b[0x211] = 0x01;
    put32(b, 0x22c, 0x7fffffff);
    put16(b, 0x236, 0x0001);
    put32(b, 0x238, 255);
    put32(b, 0x260, (uint32_t)payload + 0x10000);
    for (size_t i = 0; i < payload; i++)
        b[1024 + i] = (uint8_t)i;
    return b;
}

static int load_bz(struct guest_memory *m, uint8_t *b, size_t size, const char *cmdline, const uint8_t *initrd,
                   size_t initrd_size, struct boot_entry *e)
{
    struct boot_image img = {.path = "test", .data = b, .size = size, .cmdline = cmdline, .initrd = initrd,
                             .initrd_size = initrd_size};
    return bzimage_load(m, &img, e);
}

TEST(bzimage_loads_payload_zero_page_cmdline_initrd_e820)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 64 * MiB) == 0);
    size_t size;
    uint8_t *b = make_bzimage(4096, &size);
    uint8_t initrd[5000];
    memset(initrd, 0xab, sizeof(initrd));
    struct boot_entry e;
    CHECK(bzimage_is_bzimage(b, size));
    CHECK(load_bz(&m, b, size, "console=ttyS0", initrd, sizeof(initrd), &e) == 0);
    CHECK_EQ(e.mode, BOOT_ENTRY_LONG64);
    CHECK_EQ(e.rip, LAYOUT_KERNEL_LOAD + 0x200);
    CHECK_EQ(e.arg, LAYOUT_ZERO_PAGE);
    const uint8_t *kern = gpa_to_host(&m, LAYOUT_KERNEL_LOAD, 4096);
    CHECK(kern && kern[100] == 100);
    const uint8_t *bp = gpa_to_host(&m, LAYOUT_ZERO_PAGE, 4096);
    CHECK(!memcmp(bp + 0x202, "HdrS", 4));
    CHECK_EQ(bp[0x210], 0xff);
    CHECK_EQ(get32(bp, 0x228), LAYOUT_CMDLINE);
    CHECK(!strcmp(gpa_to_host(&m, LAYOUT_CMDLINE, 14), "console=ttyS0"));
    uint32_t rd = get32(bp, 0x218);
    CHECK_EQ(get32(bp, 0x21c), sizeof(initrd));
    CHECK_EQ(rd & 0xfff, 0);
    CHECK(rd + sizeof(initrd) <= 64 * MiB);
    CHECK(!memcmp(gpa_to_host(&m, rd, sizeof(initrd)), initrd, sizeof(initrd)));
    CHECK_EQ(bp[0x1e8], 4);
    free(b);
    guest_memory_free(&m);
}

TEST(bzimage_rejects_truncated_old_and_32bit_only)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 64 * MiB) == 0);
    size_t size;
    struct boot_entry e;
    uint8_t *b = make_bzimage(4096, &size);
    CHECK(load_bz(&m, b, size - 16, NULL, NULL, 0, &e) < 0); /* payload cut short */
    CHECK(load_bz(&m, b, 0x240, NULL, NULL, 0, &e) < 0);     /* header cut short */
    put16(b, 0x236, 0);
    CHECK(load_bz(&m, b, size, NULL, NULL, 0, &e) < 0); /* no 64-bit entry */
    put16(b, 0x236, 1);
    put16(b, 0x206, 0x020a);
    CHECK(load_bz(&m, b, size, NULL, NULL, 0, &e) < 0); /* protocol too old */
    put16(b, 0x206, 0x020f);
    put32(b, 0x1f4, 0);
    CHECK(load_bz(&m, b, size, NULL, NULL, 0, &e) < 0); /* empty payload */
    free(b);
    guest_memory_free(&m);
}

TEST(bzimage_cmdline_limit_and_memory_limits)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 4 * MiB) == 0);
    size_t size;
    struct boot_entry e;
    uint8_t *b = make_bzimage(4096, &size);
    char cmd[300];
    memset(cmd, 'a', sizeof(cmd) - 1);
    cmd[sizeof(cmd) - 1] = 0;
    CHECK(load_bz(&m, b, size, cmd, NULL, 0, &e) < 0); /* cmdline_size is 255 */
    cmd[255] = 0;
    CHECK(load_bz(&m, b, size, cmd, NULL, 0, &e) == 0);
    static uint8_t big[3 * 1024 * 1024];
    CHECK(load_bz(&m, b, size, NULL, big, sizeof(big), &e) < 0); /* initrd does not fit */
    put32(b, 0x260, 8 * 1024 * 1024);
    CHECK(load_bz(&m, b, size, NULL, NULL, 0, &e) < 0); /* init_size beyond RAM */
    free(b);
    guest_memory_free(&m);
}

/* A minimal ELF64 vmlinux: one PT_LOAD at 1 MiB, optionally a PVH note. */
static uint8_t *make_elf(bool with_note, uint64_t paddr, size_t *size)
{
    *size = 0x2000;
    uint8_t *b = calloc(1, *size);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 2;
    Elf64_Phdr *ph = (Elf64_Phdr *)(b + eh->e_phoff);
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr, .p_filesz = 0x100, .p_memsz = 0x3000};
    ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20};
    memset(b + 0x1000, 0xcc, 0x100);
    if (with_note) {
        uint32_t note[5] = {4, 4, 18, 0, (uint32_t)paddr + 0x10};
        memcpy(&note[3], "Xen", 4);
        memcpy(b + 0x800, note, sizeof(note));
    }
    return b;
}

static int load_pvh(struct guest_memory *m, uint8_t *b, size_t size, const uint8_t *initrd, size_t isz,
                    struct boot_entry *e)
{
    struct boot_image img = {.path = "test", .data = b, .size = size, .cmdline = "x=1", .initrd = initrd,
                             .initrd_size = isz};
    return pvh_load(m, &img, e);
}

TEST(pvh_loads_segments_and_start_info)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 32 * MiB) == 0);
    size_t size;
    uint8_t *b = make_elf(true, 0x100000, &size);
    uint8_t initrd[100] = {1, 2, 3};
    struct boot_entry e;
    CHECK(elf_is_elf(b, size));
    CHECK(load_pvh(&m, b, size, initrd, sizeof(initrd), &e) == 0);
    CHECK_EQ(e.mode, BOOT_ENTRY_PVH32);
    CHECK_EQ(e.rip, 0x100010);
    const uint8_t *k = gpa_to_host(&m, 0x100000, 0x3000);
    CHECK(k[0] == 0xcc && k[0xff] == 0xcc && k[0x100] == 0 && k[0x2fff] == 0); /* bss zeroed */
    const uint8_t *si = gpa_to_host(&m, e.arg, 56);
    CHECK_EQ(get32(si, 0), 0x336ec578);
    CHECK_EQ(get32(si, 12), 1); /* one module: the initrd */
    uint64_t modlist;
    memcpy(&modlist, si + 16, 8);
    uint64_t mod[2];
    memcpy(mod, gpa_to_host(&m, modlist, 16), 16);
    CHECK_EQ(mod[1], sizeof(initrd));
    CHECK(!memcmp(gpa_to_host(&m, mod[0], sizeof(initrd)), initrd, sizeof(initrd)));
    CHECK_EQ(get32(si, 48), 4); /* memmap entries */
    free(b);
    guest_memory_free(&m);
}

TEST(a_vmlinux_without_pvh_note_gets_a_zero_page_and_its_64bit_entry)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 32 * MiB) == 0);
    size_t size;
    uint8_t *b = make_elf(false, 0x100000, &size);
    ((Elf64_Ehdr *)b)->e_entry = 0x100040;
    uint8_t initrd[100] = {9, 8, 7};
    struct boot_image img = {.path = "test", .data = b, .size = size, .cmdline = "console=ttyS0 x=1",
                             .initrd = initrd, .initrd_size = sizeof(initrd), .rsdp = 0xe0000};
    struct elf_kernel k;
    struct boot_entry e;
    CHECK(elf_load_kernel(&m, "kernel test", b, size, &k) == 0);
    CHECK(!k.has_pvh);
    CHECK(vmlinux_enter(&m, &img, &k, &e) == 0);
    CHECK_EQ(e.mode, BOOT_ENTRY_LONG64);
    CHECK_EQ(e.rip, 0x100040);
    const uint8_t *bp = gpa_to_host(&m, e.arg, 4096);
    CHECK_EQ(get16(bp, 0x1fe), 0xaa55);
    CHECK(!memcmp(bp + 0x202, "HdrS", 4));
    CHECK_EQ(bp[0x210], 0xff);                      /* type_of_loader */
    CHECK_EQ(get32(bp, 0x230), 0x1000000);          /* kernel_alignment */
    CHECK_EQ(get32(bp, 0x238), 2047);               /* cmdline_size */
    uint32_t cmd = get32(bp, 0x228);
    CHECK(!strcmp((const char *)gpa_to_host(&m, cmd, 32), "console=ttyS0 x=1"));
    uint32_t rd = get32(bp, 0x218);
    CHECK_EQ(get32(bp, 0x21c), sizeof(initrd));
    CHECK(rd >= k.end && !memcmp(gpa_to_host(&m, rd, sizeof(initrd)), initrd, sizeof(initrd)));
    CHECK_EQ(bp[0x1e8], 4);                         /* e820 entries */
    uint64_t rsdp;
    memcpy(&rsdp, bp + 0x70, 8);
    CHECK_EQ(rsdp, 0xe0000);
    /* An entry outside RAM is refused. */
    k.entry = 64 * MiB;
    CHECK(vmlinux_enter(&m, &img, &k, &e) < 0);
    free(b);
    guest_memory_free(&m);
}

TEST(pvh_rejects_missing_note_bad_segments_and_foreign_elves)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 32 * MiB) == 0);
    size_t size;
    struct boot_entry e;
    uint8_t *b = make_elf(false, 0x100000, &size);
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0); /* no PVH note */
    free(b);
    b = make_elf(true, 64 * MiB, &size);
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0); /* segment beyond RAM */
    free(b);
    b = make_elf(true, 0x1000, &size);
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0); /* would overwrite boot structures */
    free(b);
    b = make_elf(true, 0x100000, &size);
    ((Elf64_Ehdr *)b)->e_machine = EM_AARCH64;
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0);
    ((Elf64_Ehdr *)b)->e_machine = EM_X86_64;
    ((Elf64_Ehdr *)b)->e_phnum = 500; /* program headers past the end of the file */
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0);
    ((Elf64_Ehdr *)b)->e_phnum = 2;
    ((Elf64_Phdr *)(b + sizeof(Elf64_Ehdr)))[0].p_filesz = 0x100000; /* segment past the file */
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0);
    CHECK(load_pvh(&m, b, 100, NULL, 0, &e) < 0); /* truncated */
    uint32_t hostile_note[3] = {0xfffffff0, 0xfffffff0, 18}; /* sizes that would overflow */
    memcpy(b + 0x800, hostile_note, sizeof(hostile_note));
    ((Elf64_Phdr *)(b + sizeof(Elf64_Ehdr)))[0].p_filesz = 0x100;
    CHECK(load_pvh(&m, b, size, NULL, 0, &e) < 0);
    free(b);
    guest_memory_free(&m);
}

/* The end of what a bzImage needs comes from the file (pref_address +
 * init_size) and is the initrd's lowest address. Near 2^64 the sum used to
 * wrap (the kernel was accepted), and an end there used to wrap to 0 when
 * rounded up to a page (the initrd went to the top of RAM, over a
 * host-decompressed kernel). */
TEST(kernel_end_near_2_64_is_past_ram_for_kernel_and_initrd)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 16 * MiB) == 0);
    uint8_t initrd[100] = {0};
    struct boot_image img = {.path = "test", .initrd = initrd, .initrd_size = sizeof(initrd)};
    uint64_t gpa;
    CHECK(boot_place_initrd(&m, &img, 2 * MiB, 0x37ffffff, &gpa) == 0);
    CHECK(gpa >= 2 * MiB && gpa + sizeof(initrd) <= 16 * MiB);
    CHECK(boot_place_initrd(&m, &img, 16 * MiB, 0x37ffffff, &gpa) < 0);
    CHECK(boot_place_initrd(&m, &img, UINT64_MAX - 0x7ff, 0x37ffffff, &gpa) < 0);
    CHECK_EQ(gpa, 0);
    size_t size;
    uint8_t *b = make_bzimage(4096, &size);
    uint64_t pref = UINT64_MAX - 0x7ff;
    memcpy(b + 0x258, &pref, 8);
    struct boot_entry e;
    CHECK(load_bz(&m, b, size, NULL, NULL, 0, &e) < 0);
    free(b);
    guest_memory_free(&m);
}

/* The program headers used to be copied into a stack array of e_phnum
 * entries: 65535 of them (3.6 MiB, sized by the file) overflowed a small
 * thread stack, or reached past the stack's guard page. Now they are read
 * in place, on a 128 KiB stack here. */
#define HOSTILE_PHNUM 65535
static void *load_many_phdrs(void *mem)
{
    size_t size = sizeof(Elf64_Ehdr) + (size_t)HOSTILE_PHNUM * sizeof(Elf64_Phdr) + 0x1000;
    uint8_t *b = calloc(1, size);
    size_t small;
    uint8_t *proto = make_elf(true, 0x100000, &small);
    memcpy(b, proto, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr));
    memcpy(b + size - 0x1000, proto + 0x800, 20); /* the PVH note, moved past the headers */
    memcpy(b + size - 0x800, proto + 0x1000, 0x100); /* the segment's bytes */
    Elf64_Phdr *ph = (Elf64_Phdr *)(b + sizeof(Elf64_Ehdr));
    ph[0].p_offset = size - 0x800;
    ph[1].p_offset = size - 0x1000;
    ((Elf64_Ehdr *)b)->e_phnum = HOSTILE_PHNUM; /* the rest are PT_NULL */
    struct elf_kernel k;
    int r = elf_load_kernel(mem, "test", b, size, &k);
    free(proto);
    free(b);
    return (void *)(intptr_t)(r == 0 && k.has_pvh && k.pvh_entry == 0x100010 && k.end == 0x103000);
}

TEST(elf_with_65535_program_headers_loads_on_a_small_stack)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 16 * MiB) == 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    pthread_t t;
    void *ok = NULL;
    CHECK(pthread_create(&t, &attr, load_many_phdrs, &m) == 0);
    pthread_join(t, &ok);
    CHECK(ok != NULL);
    pthread_attr_destroy(&attr);
    guest_memory_free(&m);
}

TEST(mptable_lists_every_cpu_with_valid_checksums)
{
    struct guest_memory m;
    CHECK(guest_memory_init(&m, 16 * MiB) == 0);
    for (int n = 1; n <= MPTABLE_MAX_CPUS; n += 31) {
        int size = mptable_write(&m, LAYOUT_MPTABLE, 0x10000, n);
        CHECK(size > 0);
        const uint8_t *mpf = gpa_to_host(&m, LAYOUT_MPTABLE, 16);
        uint8_t sum = 0;
        for (int i = 0; i < 16; i++)
            sum = (uint8_t)(sum + mpf[i]);
        CHECK_EQ(sum, 0);
        CHECK(!memcmp(mpf, "_MP_", 4));
        const uint8_t *mpc = gpa_to_host(&m, get32(mpf, 4), 44);
        CHECK(!memcmp(mpc, "PCMP", 4));
        uint16_t len;
        memcpy(&len, mpc + 4, 2);
        sum = 0;
        for (int i = 0; i < len; i++)
            sum = (uint8_t)(sum + mpc[i]);
        CHECK_EQ(sum, 0);
        int cpus = 0, bsp = 0;
        for (const uint8_t *p = mpc + 44; p < mpc + len; p += p[0] == 0 ? 20 : 8)
            if (p[0] == 0) {
                CHECK_EQ(p[1], cpus);
                bsp += (p[3] & 2) != 0;
                cpus++;
            }
        CHECK_EQ(cpus, n);
        CHECK_EQ(bsp, 1);
    }
    CHECK(mptable_write(&m, LAYOUT_MPTABLE, 0x10000, 0) < 0);
    CHECK(mptable_write(&m, LAYOUT_MPTABLE, 0x10000, MPTABLE_MAX_CPUS + 1) < 0);
    CHECK(mptable_write(&m, LAYOUT_MPTABLE, 64, 4) < 0); /* does not fit the room given */
    guest_memory_free(&m);
}

TEST(cpuid_sets_apic_id_topology_and_masks)
{
    struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 5 * sizeof(sup->entries[0]));
    sup->nent = 5;
    sup->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = (1u << 5) | (1u << 3) | 1, .ebx = 0xff000000};
    sup->entries[1] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 0};
    sup->entries[2] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 1};
    sup->entries[3] = (struct kvm_cpuid_entry2){.function = 0x80000001, .ecx = 1u << 2};
    sup->entries[4] = (struct kvm_cpuid_entry2){.function = 0xa, .eax = 0x12345678};
    struct kvm_cpuid2 *c = cpuid_for_vcpu(sup, 3, 4, 1, CPUID_APIC_KVM, 0);
    CHECK(c != NULL);
    CHECK_EQ(c->entries[0].ebx >> 24, 3);
    CHECK_EQ((c->entries[0].ebx >> 16) & 0xff, 4);
    CHECK(c->entries[0].ecx & (1u << 31)); /* hypervisor */
    CHECK(!(c->entries[0].ecx & (1u << 5)));  /* VMX masked */
    CHECK(!(c->entries[0].ecx & (1u << 3)));  /* MONITOR masked */
    CHECK(c->entries[0].ecx & 1);             /* SSE3 untouched */
    CHECK(c->entries[0].edx & (1u << 28));    /* HTT with >1 cpu */
    CHECK_EQ(c->entries[1].edx, 3);
    CHECK_EQ(c->entries[2].ebx, 4);
    CHECK_EQ(c->entries[2].eax, 2);
    CHECK(!(c->entries[3].ecx & (1u << 2)));  /* SVM masked */
    CHECK_EQ(c->entries[4].eax, 0);           /* no PMU */
    free(c);
    free(sup);
}

/* Firecracker's "smt": vCPUs 2k and 2k+1 are one core's two threads, on
 * Intel's leaves (0xb, 4) and AMD's (0x8000001e, 0x80000008). */
TEST(cpuid_with_smt_pairs_vcpus_as_threads_of_a_core)
{
    struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 6 * sizeof(sup->entries[0]));
    sup->nent = 6;
    sup->entries[0] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 0};
    sup->entries[1] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 1};
    sup->entries[2] = (struct kvm_cpuid_entry2){.function = 4, .index = 0, .eax = (1u << 5) | 1}; /* L1 data */
    sup->entries[3] = (struct kvm_cpuid_entry2){.function = 4, .index = 3, .eax = (3u << 5) | 3}; /* L3 */
    sup->entries[4] = (struct kvm_cpuid_entry2){.function = 0x8000001e, .ebx = 0xabcd0000};
    sup->entries[5] = (struct kvm_cpuid_entry2){.function = 0x80000008, .ecx = 0xffff};
    struct kvm_cpuid2 *c = cpuid_for_vcpu(sup, 3, 4, 2, CPUID_APIC_KVM, 0);
    CHECK(c != NULL);
    CHECK_EQ(c->entries[0].eax, 1); /* one bit of thread id */
    CHECK_EQ(c->entries[0].ebx, 2); /* two threads per core */
    CHECK_EQ(c->entries[1].ebx, 4);
    CHECK_EQ((c->entries[2].eax >> 14) & 0xfff, 1); /* L1 shared by the core's 2 threads */
    CHECK_EQ(c->entries[2].eax >> 26, 1);           /* 2 cores */
    CHECK_EQ((c->entries[3].eax >> 14) & 0xfff, 3); /* L3 by all 4 */
    CHECK_EQ(c->entries[2].eax & 0x3fff, (1u << 5) | 1);
    CHECK_EQ(c->entries[4].eax, 3);
    CHECK_EQ(c->entries[4].ebx, 0xabcd0000u | (1u << 8) | 1); /* 2 threads, core 1 */
    CHECK_EQ(c->entries[5].ecx & 0xff, 3);
    CHECK_EQ((c->entries[5].ecx >> 12) & 0xf, 2);
    free(c);
    /* Without SMT (or with an odd count): one thread per core. */
    c = cpuid_for_vcpu(sup, 3, 4, 1, CPUID_APIC_KVM, 0);
    CHECK_EQ(c->entries[0].ebx, 1);
    CHECK_EQ(c->entries[0].eax, 0);
    CHECK_EQ(c->entries[2].eax >> 26, 3);
    CHECK_EQ((c->entries[4].ebx >> 8) & 0xff, 0);
    free(c);
    free(sup);
}

/* With ember's LAPIC, CPUID must not promise what only KVM's LAPIC does. */
TEST(cpuid_for_user_lapic_hides_kvm_lapic_features)
{
    struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 2 * sizeof(sup->entries[0]));
    sup->nent = 2;
    sup->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = (1u << 21) | (1u << 24)};
    sup->entries[1] = (struct kvm_cpuid_entry2){.function = 0x40000001, .eax = 0xffff};
    struct kvm_cpuid2 *k = cpuid_for_vcpu(sup, 0, 1, 1, CPUID_APIC_KVM, 0);
    struct kvm_cpuid2 *u = cpuid_for_vcpu(sup, 0, 1, 1, CPUID_APIC_USER, 0);
    struct kvm_cpuid2 *m = cpuid_for_vcpu(sup, 0, 1, 1, CPUID_APIC_USER_NO_MSRS, 0);
    CHECK_EQ(k->entries[1].eax, 0xffff);
    CHECK(!(u->entries[1].eax & (1u << 6)));  /* PV EOI */
    CHECK(!(u->entries[1].eax & (1u << 7)));  /* PV unhalt */
    CHECK(!(u->entries[1].eax & (1u << 11))); /* PV send IPI */
    CHECK(u->entries[1].eax & 1);             /* kvmclock stays */
    CHECK(u->entries[0].ecx & (1u << 21));    /* x2APIC, through MSR exits */
    CHECK(u->entries[0].ecx & (1u << 24));    /* TSC deadline, through MSR exits */
    CHECK(!(m->entries[0].ecx & (1u << 21)));
    CHECK(!(m->entries[0].ecx & (1u << 24)));
    free(k);
    free(u);
    free(m);
    free(sup);
}

/* --kvm-pv-off: QEMU's names, "all", and a clear error for anything else. */
TEST(kvm_pv_off_parses_names_and_hides_them)
{
    uint32_t bits;
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eoi", &bits), 0);
    CHECK_EQ(bits, 1u << 6);
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eoi,kvm-asyncpf,kvm-asyncpf-int", &bits), 0);
    CHECK_EQ(bits, (1u << 6) | (1u << 4) | (1u << 14));
    CHECK_EQ(cpuid_kvm_pv_parse("all", &bits), 0);
    CHECK_EQ(bits, 0xffffu & ~(1u << 8)); /* bits 0-15 but 8, which KVM does not define */
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eoi,bogus", &bits), -1);
    CHECK_EQ(cpuid_kvm_pv_parse("", &bits), -1);
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eoi,", &bits), -1);
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eo", &bits), -1);
    struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + sizeof(sup->entries[0]));
    sup->nent = 1;
    sup->entries[0] = (struct kvm_cpuid_entry2){.function = 0x40000001, .eax = 0x1007fff};
    CHECK_EQ(cpuid_kvm_pv_parse("kvm-pv-eoi,kvm-steal-time", &bits), 0);
    struct kvm_cpuid2 *k = cpuid_for_vcpu(sup, 0, 1, 1, CPUID_APIC_KVM, bits);
    CHECK_EQ(k->entries[0].eax, 0x1007fffu & ~((1u << 6) | (1u << 5)));
    free(k);
    free(sup);
}

RUN_TESTS(CASE(bzimage_loads_payload_zero_page_cmdline_initrd_e820), CASE(bzimage_rejects_truncated_old_and_32bit_only),
          CASE(bzimage_cmdline_limit_and_memory_limits), CASE(pvh_loads_segments_and_start_info),
          CASE(a_vmlinux_without_pvh_note_gets_a_zero_page_and_its_64bit_entry),
          CASE(pvh_rejects_missing_note_bad_segments_and_foreign_elves),
          CASE(kernel_end_near_2_64_is_past_ram_for_kernel_and_initrd), CASE(elf_with_65535_program_headers_loads_on_a_small_stack),
          CASE(mptable_lists_every_cpu_with_valid_checksums), CASE(cpuid_sets_apic_id_topology_and_masks),
          CASE(cpuid_with_smt_pairs_vcpus_as_threads_of_a_core), CASE(cpuid_for_user_lapic_hides_kvm_lapic_features), CASE(kvm_pv_off_parses_names_and_hides_them))
