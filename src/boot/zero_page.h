/* The Linux x86 boot protocol's zero page (struct boot_params,
 * Documentation/arch/x86/boot.rst and zero-page.rst), which a kernel entered
 * at its 64-bit entry finds in rsi: the setup header, the command line, the
 * initrd, the e820 map and the ACPI root. Written for a bzImage (its own
 * setup header copied in) and for a bare ELF vmlinux (the fields a boot
 * loader must fill, as Firecracker does). */
#ifndef EMBER_BOOT_ZERO_PAGE_H
#define EMBER_BOOT_ZERO_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "boot/loader.h"

/* Offsets in the file's first sectors and, identically, in boot_params. */
#define HDR_SETUP_SECTS   0x1f1
#define HDR_SYSSIZE       0x1f4
#define HDR_VID_MODE      0x1fa
#define HDR_BOOT_FLAG     0x1fe
#define HDR_JUMP          0x200
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS     0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE  0x21c
#define HDR_HEAP_END_PTR  0x224
#define HDR_CMD_LINE_PTR  0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS    0x236
#define HDR_CMDLINE_SIZE  0x238
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_PREF_ADDRESS  0x258
#define HDR_INIT_SIZE     0x260
#define HDR_MIN_SIZE      0x268 /* through init_size and handover_offset */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_E820_ENTRIES   0x1e8
#define BP_E820_TABLE     0x2d0
#define BP_E820_MAX       128
#define BOOT_PARAMS_SIZE  4096

#define CAN_USE_HEAP      0x80
#define BARE_CMDLINE_MAX  2048       /* Linux's x86 COMMAND_LINE_SIZE, for a vmlinux without a header */
#define BARE_INITRD_MAX   0x37ffffff /* the protocol's default initrd_addr_max */

/* Writes boot_params at LAYOUT_ZERO_PAGE, the command line and the initrd
 * (above kernel_end). hdr: the bzImage's first hdr_size bytes, whose setup
 * header is copied; NULL for a bare vmlinux. 0, or -1 after one line. */
int zero_page_write(const struct guest_memory *mem, const struct boot_image *img, const uint8_t *hdr, size_t hdr_size,
                    uint64_t kernel_end);

#endif
