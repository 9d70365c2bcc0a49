#include "boot/elf.h"

#include <elf.h>
#include <string.h>

#include "memory/layout.h"
#include "util/log.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool elf_is_elf(const uint8_t *data, size_t size) { return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0; }

/* Program header i, read in place (the caller checked that every one lies
 * inside the file): e_phnum comes from the file, so a copy of them all on
 * the stack would be as big as it says, up to 3.6 MiB. */
static Elf64_Phdr program_header(const uint8_t *d, const Elf64_Ehdr *eh, int i)
{
    Elf64_Phdr ph;
    memcpy(&ph, d + eh->e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
    return ph;
}

/* Finds the PVH entry in the PT_NOTE segments. */
static bool find_pvh_entry(const uint8_t *d, size_t size, const Elf64_Ehdr *eh, uint64_t *entry)
{
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = program_header(d, eh, i);
        if (ph.p_type != PT_NOTE || ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            continue;
        const uint8_t *p = d + ph.p_offset, *end = p + ph.p_filesz;
        while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
            Elf64_Nhdr nh;
            memcpy(&nh, p, sizeof(nh));
            size_t name_sz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
            size_t desc_sz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
            p += sizeof(nh);
            if (name_sz > (size_t)(end - p) || desc_sz > (size_t)(end - p) - name_sz)
                break;
            if (nh.n_namesz == 4 && memcmp(p, "Xen", 4) == 0 && nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
                (nh.n_descsz == 4 || nh.n_descsz == 8)) {
                uint64_t v = 0;
                memcpy(&v, p + name_sz, nh.n_descsz);
                *entry = v;
                return true;
            }
            p += name_sz + desc_sz;
        }
    }
    return false;
}

int elf_load_kernel(const struct guest_memory *mem, const char *what, const uint8_t *d, size_t size,
                    struct elf_kernel *out)
{
    memset(out, 0, sizeof(*out));
    Elf64_Ehdr eh;
    if (size < sizeof(eh)) {
        log_error("%s: truncated ELF header", what);
        return -1;
    }
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
        log_error("%s: not an x86_64 ELF (class %u, machine %u)", what, eh.e_ident[EI_CLASS], eh.e_machine);
        return -1;
    }
    if (eh.e_type != ET_EXEC) {
        log_error("%s: ELF is not an executable (e_type %u); a vmlinux is ET_EXEC", what, eh.e_type);
        return -1;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > size ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff) {
        log_error("%s: ELF program headers are missing or truncated", what);
        return -1;
    }
    out->has_pvh = find_pvh_entry(d, size, &eh, &out->pvh_entry);
    int loaded = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = program_header(d, &eh, i);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
            log_error("%s: ELF segment %d lies outside the file (truncated ELF?)", what, i);
            return -1;
        }
        uint8_t *dst = gpa_to_host(mem, ph.p_paddr, ph.p_memsz);
        if (!dst || ph.p_paddr < LAYOUT_HIGH_RAM_START) {
            log_error("%s: ELF segment at 0x%llx (+%llu bytes) does not fit in guest RAM (%llu MiB); raise --memory",
                      what, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
                      (unsigned long long)(mem->ram_size / MiB));
            return -1;
        }
        memcpy(dst, d + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr + ph.p_memsz > out->end)
            out->end = ph.p_paddr + ph.p_memsz;
        loaded++;
    }
    if (!loaded) {
        log_error("%s: ELF has no loadable segments", what);
        return -1;
    }
    out->entry = eh.e_entry;
    return 0;
}
