#include "boot/e820.h"

#include "memory/layout.h"

int e820_build(const struct guest_memory *mem, struct e820_entry *out)
{
    int n = 0;
    uint64_t low_end = guest_memory_low_end(mem);
    /* Conventional memory up to the EBDA, then the legacy hole a BIOS leaves:
     * the EBDA and the system BIOS area (where the MP table lives) reserved. */
    out[n++] = (struct e820_entry){0, LAYOUT_EBDA_START, E820_RAM};
    out[n++] = (struct e820_entry){LAYOUT_EBDA_START, LAYOUT_LOW_RAM_END - LAYOUT_EBDA_START, E820_RESERVED};
    out[n++] = (struct e820_entry){LAYOUT_BIOS_START, LAYOUT_HIGH_RAM_START - LAYOUT_BIOS_START, E820_RESERVED};
    if (low_end > LAYOUT_HIGH_RAM_START)
        out[n++] = (struct e820_entry){LAYOUT_HIGH_RAM_START, low_end - LAYOUT_HIGH_RAM_START, E820_RAM};
    for (int i = 1; i < mem->nregions; i++)
        out[n++] = (struct e820_entry){mem->regions[i].gpa, mem->regions[i].size, E820_RAM};
    return n;
}
