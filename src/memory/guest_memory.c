#include "memory/guest_memory.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "memory/layout.h"
#include "util/log.h"

void guest_memory_plan(struct guest_memory *mem, uint64_t ram_size)
{
    memset(mem, 0, sizeof(*mem));
    mem->ram_size = ram_size;
    uint64_t low = ram_size < LAYOUT_MMIO_HOLE_START ? ram_size : LAYOUT_MMIO_HOLE_START;
    mem->regions[0] = (struct guest_region){.gpa = 0, .size = low};
    mem->nregions = 1;
    if (ram_size > low) {
        mem->regions[1] = (struct guest_region){.gpa = LAYOUT_MMIO_HOLE_END, .size = ram_size - low};
        mem->nregions = 2;
    }
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size)
{
    guest_memory_plan(mem, ram_size);
    /* MAP_NORESERVE: guest RAM is committed page by page as the guest touches it,
     * so a large --memory costs nothing until used. */
    void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        log_error("guest memory: cannot map %llu MiB: %s", (unsigned long long)(ram_size / MiB),
                  strerror(errno));
        return -1;
    }
    madvise(p, ram_size, MADV_MERGEABLE);
    mem->base = p;
    uint64_t off = 0;
    for (int i = 0; i < mem->nregions; i++) {
        mem->regions[i].host = mem->base + off;
        off += mem->regions[i].size;
    }
    return 0;
}

int guest_memory_register(const struct guest_memory *mem, int vm_fd)
{
    for (int i = 0; i < mem->nregions; i++) {
        struct kvm_userspace_memory_region r = {
            .slot = (unsigned)i,
            .guest_phys_addr = mem->regions[i].gpa,
            .memory_size = mem->regions[i].size,
            .userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].host,
        };
        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
            log_error("guest memory: KVM_SET_USER_MEMORY_REGION slot %d failed: %s", i, strerror(errno));
            return -1;
        }
    }
    return 0;
}

void guest_memory_free(struct guest_memory *mem)
{
    if (mem->base)
        munmap(mem->base, mem->ram_size);
    mem->base = NULL;
}

void *gpa_to_host(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];
        /* Written to avoid overflow: gpa - r->gpa only after gpa >= r->gpa. */
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r->host ? r->host + (gpa - r->gpa) : NULL;
    }
    return NULL;
}

bool gpa_range_is_ram(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < mem->nregions; i++) {
        const struct guest_region *r = &mem->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return true;
    }
    return false;
}

int guest_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *dst = gpa_to_host(mem, gpa, len);
    if (!dst)
        return -1;
    memcpy(dst, src, len);
    return 0;
}

int guest_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
    const void *src = gpa_to_host(mem, gpa, len);
    if (!src)
        return -1;
    memcpy(dst, src, len);
    return 0;
}

uint64_t guest_memory_low_end(const struct guest_memory *mem)
{
    return mem->regions[0].size;
}
