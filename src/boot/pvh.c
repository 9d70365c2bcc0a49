/* ELF vmlinux loader with the PVH boot ABI (Xen's "HVM direct boot", used by
 * Linux's CONFIG_PVH): the entry point comes from the XEN_ELFNOTE_PHYS32_ENTRY
 * note; the kernel starts in 32-bit protected mode, paging off, with ebx
 * pointing at an hvm_start_info that carries the memory map, the command line
 * and the initrd as module 0. */
#include <elf.h>
#include <string.h>

#include "boot/boot.h"
#include "memory/layout.h"
#include "util/log.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define PVH_CMDLINE_MAX 2048 /* Linux's x86 COMMAND_LINE_SIZE */

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_table_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

#define START_INFO_GPA LAYOUT_PVH_START_INFO
#define MODLIST_GPA    (LAYOUT_PVH_START_INFO + 0x40)
#define MEMMAP_GPA     (LAYOUT_PVH_START_INFO + 0x80)

int pvh_is_elf(const uint8_t *data, size_t size)
{
    return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* Finds the PVH entry in the PT_NOTE segments. Returns 0 and sets *entry, or -1. */
static int find_pvh_entry(const uint8_t *d, size_t size, const Elf64_Phdr *ph, int phnum, uint64_t *entry)
{
    for (int i = 0; i < phnum; i++) {
        if (ph[i].p_type != PT_NOTE)
            continue;
        if (ph[i].p_offset > size || ph[i].p_filesz > size - ph[i].p_offset)
            continue;
        const uint8_t *p = d + ph[i].p_offset, *end = p + ph[i].p_filesz;
        while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
            Elf64_Nhdr nh;
            memcpy(&nh, p, sizeof(nh));
            size_t name_sz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
            size_t desc_sz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
            p += sizeof(nh);
            if (name_sz > (size_t)(end - p) || desc_sz > (size_t)(end - p) - name_sz)
                break;
            if (nh.n_namesz == 4 && memcmp(p, "Xen", 4) == 0 && nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
                const uint8_t *desc = p + name_sz;
                if (nh.n_descsz == 4) {
                    uint32_t v;
                    memcpy(&v, desc, 4);
                    *entry = v;
                    return 0;
                }
                if (nh.n_descsz == 8) {
                    memcpy(entry, desc, 8);
                    return 0;
                }
            }
            p += name_sz + desc_sz;
        }
    }
    return -1;
}

int pvh_load(const struct guest_memory *mem, const struct boot_image *img, struct boot_entry *entry)
{
    const uint8_t *d = img->data;
    Elf64_Ehdr eh;
    if (img->size < sizeof(eh)) {
        log_error("kernel %s: truncated ELF header", img->path);
        return -1;
    }
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
        log_error("kernel %s: not an x86_64 ELF (class %u, machine %u)", img->path, eh.e_ident[EI_CLASS], eh.e_machine);
        return -1;
    }
    if (eh.e_type != ET_EXEC) {
        log_error("kernel %s: ELF is not an executable (e_type %u); a vmlinux is ET_EXEC", img->path, eh.e_type);
        return -1;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > img->size ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > img->size - eh.e_phoff) {
        log_error("kernel %s: ELF program headers are missing or truncated", img->path);
        return -1;
    }
    Elf64_Phdr ph[eh.e_phnum];
    memcpy(ph, d + eh.e_phoff, sizeof(ph));
    uint64_t pvh_entry;
    if (find_pvh_entry(d, img->size, ph, eh.e_phnum, &pvh_entry) < 0) {
        log_error("kernel %s: ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y "
                  "or boot the bzImage", img->path);
        return -1;
    }
    uint64_t kernel_end = 0;
    int loaded = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > img->size ||
            ph[i].p_filesz > img->size - ph[i].p_offset) {
            log_error("kernel %s: ELF segment %d lies outside the file (truncated ELF?)", img->path, i);
            return -1;
        }
        uint8_t *dst = gpa_to_host(mem, ph[i].p_paddr, ph[i].p_memsz);
        if (!dst || ph[i].p_paddr < LAYOUT_HIGH_RAM_START) {
            log_error("kernel %s: ELF segment at 0x%llx (+%llu bytes) does not fit in guest RAM (%llu MiB)",
                      img->path, (unsigned long long)ph[i].p_paddr, (unsigned long long)ph[i].p_memsz,
                      (unsigned long long)(mem->ram_size / MiB));
            return -1;
        }
        memcpy(dst, d + ph[i].p_offset, ph[i].p_filesz);
        memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
        if (ph[i].p_paddr + ph[i].p_memsz > kernel_end)
            kernel_end = ph[i].p_paddr + ph[i].p_memsz;
        loaded++;
    }
    if (!loaded) {
        log_error("kernel %s: ELF has no loadable segments", img->path);
        return -1;
    }
    if (!gpa_range_is_ram(mem, pvh_entry, 1)) {
        log_error("kernel %s: PVH entry point 0x%llx is outside guest RAM", img->path, (unsigned long long)pvh_entry);
        return -1;
    }
    if (boot_write_cmdline(mem, img, PVH_CMDLINE_MAX) < 0)
        return -1;
    uint64_t initrd_gpa;
    if (boot_place_initrd(mem, img, kernel_end, LAYOUT_MMIO_HOLE_START, &initrd_gpa) < 0)
        return -1;

    struct e820_entry e820[E820_MAX_ENTRIES];
    int n = e820_build(mem, e820);
    struct hvm_memmap_table_entry map[E820_MAX_ENTRIES];
    for (int i = 0; i < n; i++)
        map[i] = (struct hvm_memmap_table_entry){e820[i].addr, e820[i].size, e820[i].type, 0};
    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .cmdline_paddr = LAYOUT_CMDLINE,
        .memmap_paddr = MEMMAP_GPA,
        .memmap_entries = (uint32_t)n,
    };
    if (img->initrd) {
        struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = img->initrd_size};
        if (guest_write(mem, MODLIST_GPA, &mod, sizeof(mod)) < 0)
            return -1;
        si.nr_modules = 1;
        si.modlist_paddr = MODLIST_GPA;
    }
    if (guest_write(mem, MEMMAP_GPA, map, (uint64_t)n * sizeof(map[0])) < 0 ||
        guest_write(mem, START_INFO_GPA, &si, sizeof(si)) < 0)
        return -1;
    entry->mode = BOOT_ENTRY_PVH32;
    entry->rip = pvh_entry;
    entry->arg = START_INFO_GPA;
    return 0;
}
