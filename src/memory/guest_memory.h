/* Guest RAM: one anonymous host mapping, registered with KVM as one slot below
 * the 32-bit MMIO hole and, when RAM reaches the hole, a second slot at 4 GiB.
 * Every guest-physical access from ember goes through the checked translators
 * here: the guest is hostile, and an address or length it supplies must never
 * make ember touch memory outside the guest's RAM. */
#ifndef EMBER_MEMORY_GUEST_MEMORY_H
#define EMBER_MEMORY_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 2

struct guest_region {
    uint64_t gpa;   /* guest-physical start */
    uint64_t size;
    uint8_t *host;  /* host address of gpa */
};

struct guest_memory {
    uint8_t *base;     /* the whole host mapping */
    uint64_t ram_size; /* bytes of RAM, the sum of region sizes */
    int nregions;
    struct guest_region regions[GUEST_MEMORY_MAX_REGIONS];
};

/* Plans the regions for `ram_size` bytes and maps host memory for them. */
int guest_memory_init(struct guest_memory *mem, uint64_t ram_size);
/* Plans regions without mapping (used by unit tests and the e820 builder). */
void guest_memory_plan(struct guest_memory *mem, uint64_t ram_size);
int guest_memory_register(const struct guest_memory *mem, int vm_fd);
void guest_memory_free(struct guest_memory *mem);

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one RAM
 * region, else NULL. len 0 is valid for any gpa inside RAM. */
void *gpa_to_host(const struct guest_memory *mem, uint64_t gpa, uint64_t len);
bool gpa_range_is_ram(const struct guest_memory *mem, uint64_t gpa, uint64_t len);
int guest_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len);
int guest_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len);
/* End (exclusive) of RAM below 4 GiB. */
uint64_t guest_memory_low_end(const struct guest_memory *mem);

#endif
