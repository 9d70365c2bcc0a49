/* The e820 memory map ember gives the guest, derived from the RAM slots so
 * the two can never disagree. */
#ifndef EMBER_BOOT_E820_H
#define EMBER_BOOT_E820_H

#include <stdint.h>

#include "memory/guest_memory.h"

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX_ENTRIES 8

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

/* Fills `out` (room for E820_MAX_ENTRIES) and returns the entry count. */
int e820_build(const struct guest_memory *mem, struct e820_entry *out);

#endif
