#include "boot/zero_page.h"

#include <string.h>

#include "boot/e820.h"
#include "memory/layout.h"

static uint32_t rd32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static void wr16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void wr32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }

int zero_page_write(const struct guest_memory *mem, const struct boot_image *img, const uint8_t *d, size_t d_size,
                    uint64_t kernel_end)
{
    uint8_t *bp = gpa_to_host(mem, LAYOUT_ZERO_PAGE, BOOT_PARAMS_SIZE);
    if (!bp)
        return -1;
    memset(bp, 0, BOOT_PARAMS_SIZE);
    uint32_t cmdline_size = BARE_CMDLINE_MAX - 1;
    uint64_t initrd_max = BARE_INITRD_MAX;
    if (d) {
        /* The setup header ends at 0x202 + the byte at 0x201 (the jump offset). */
        size_t hdr_end = 0x202 + d[HDR_JUMP + 1];
        if (hdr_end > d_size || hdr_end > BP_E820_TABLE)
            hdr_end = HDR_MIN_SIZE;
        memcpy(bp + HDR_SETUP_SECTS, d + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
        cmdline_size = rd32(d, HDR_CMDLINE_SIZE);
        if (rd32(d, HDR_INITRD_ADDR_MAX))
            initrd_max = rd32(d, HDR_INITRD_ADDR_MAX);
    } else {
        /* A bare vmlinux has no header: what a boot loader must say. */
        wr16(bp, HDR_BOOT_FLAG, 0xaa55);
        memcpy(bp + HDR_MAGIC, "HdrS", 4);
        wr32(bp, HDR_KERNEL_ALIGNMENT, 0x1000000);
        wr32(bp, HDR_CMDLINE_SIZE, cmdline_size);
    }
    bp[HDR_TYPE_OF_LOADER] = 0xff; /* undefined boot loader */
    bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
    wr16(bp, HDR_HEAP_END_PTR, 0xfe00);
    wr16(bp, HDR_VID_MODE, 0xffff); /* "normal" */
    memcpy(bp + BP_ACPI_RSDP_ADDR, &img->rsdp, 8);

    if (boot_write_cmdline(mem, img, (size_t)cmdline_size + 1) < 0)
        return -1;
    wr32(bp, HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
    wr32(bp, BP_EXT_CMD_LINE_PTR, 0);

    uint64_t initrd_gpa;
    if (boot_place_initrd(mem, img, kernel_end, initrd_max + 1, &initrd_gpa) < 0)
        return -1;
    if (img->initrd) {
        wr32(bp, HDR_RAMDISK_IMAGE, (uint32_t)initrd_gpa);
        wr32(bp, HDR_RAMDISK_SIZE, (uint32_t)img->initrd_size);
        wr32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_gpa >> 32));
        wr32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)img->initrd_size >> 32));
    }

    struct e820_entry e820[E820_MAX_ENTRIES];
    int n = e820_build(mem, e820);
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    for (int i = 0; i < n && i < BP_E820_MAX; i++) {
        uint8_t *e = bp + BP_E820_TABLE + (size_t)i * 20;
        memcpy(e, &e820[i].addr, 8);
        memcpy(e + 8, &e820[i].size, 8);
        memcpy(e + 16, &e820[i].type, 4);
    }
    return 0;
}
