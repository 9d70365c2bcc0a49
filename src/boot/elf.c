#include "boot/elf.h"

#include <elf.h>
#include <string.h>

#include "memory/layout.h"
#include "util/log.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool elf_is_elf(const uint8_t *data, size_t size) { return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0; }

/* Finds the PVH entry in the PT_NOTE segments. */
static bool find_pvh_entry(const uint8_t *d, size_t size, const Elf64_Phdr *ph, int phnum, uint64_t *entry)
{
    for (int i = 0; i < phnum; i++) {
        if (ph[i].p_type != PT_NOTE || ph[i].p_offset > size || ph[i].p_filesz > size - ph[i].p_offset)
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
    Elf64_Phdr ph[eh.e_phnum];
    memcpy(ph, d + eh.e_phoff, sizeof(ph));
    out->has_pvh = find_pvh_entry(d, size, ph, eh.e_phnum, &out->pvh_entry);
    int loaded = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > size || ph[i].p_filesz > size - ph[i].p_offset) {
            log_error("%s: ELF segment %d lies outside the file (truncated ELF?)", what, i);
            return -1;
        }
        uint8_t *dst = gpa_to_host(mem, ph[i].p_paddr, ph[i].p_memsz);
        if (!dst || ph[i].p_paddr < LAYOUT_HIGH_RAM_START) {
            log_error("%s: ELF segment at 0x%llx (+%llu bytes) does not fit in guest RAM (%llu MiB); raise --memory",
                      what, (unsigned long long)ph[i].p_paddr, (unsigned long long)ph[i].p_memsz,
                      (unsigned long long)(mem->ram_size / MiB));
            return -1;
        }
        memcpy(dst, d + ph[i].p_offset, ph[i].p_filesz);
        memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
        if (ph[i].p_paddr + ph[i].p_memsz > out->end)
            out->end = ph[i].p_paddr + ph[i].p_memsz;
        loaded++;
    }
    if (!loaded) {
        log_error("%s: ELF has no loadable segments", what);
        return -1;
    }
    out->entry = eh.e_entry;
    return 0;
}
