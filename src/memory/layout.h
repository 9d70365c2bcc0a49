/* ember's guest-physical address map for x86_64. One place for every fixed
 * address, so loaders, tables and devices agree. */
#ifndef EMBER_MEMORY_LAYOUT_H
#define EMBER_MEMORY_LAYOUT_H

#include <stdint.h>

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* Low memory: boot structures ember writes for the guest. */
#define LAYOUT_GDT            0x500ULL
#define LAYOUT_PVH_START_INFO 0x6000ULL  /* hvm_start_info + module list + memmap */
#define LAYOUT_ZERO_PAGE      0x7000ULL  /* Linux boot_params */
#define LAYOUT_PML4           0x9000ULL  /* identity page tables for the 64-bit entry */
#define LAYOUT_PDPT           0xA000ULL
#define LAYOUT_PD             0xB000ULL  /* four page directories: 0-4 GiB in 2 MiB pages */
#define LAYOUT_BOOT_STACK     0x8ff0ULL
#define LAYOUT_CMDLINE        0x20000ULL
#define LAYOUT_CMDLINE_MAX    0x10000ULL
#define LAYOUT_EBDA_START     0x9fc00ULL /* top of conventional RAM, reserved like a BIOS would */
#define LAYOUT_LOW_RAM_END    0xa0000ULL
#define LAYOUT_BIOS_START     0xe0000ULL /* BIOS area, reserved: ACPI tables and the MP table */
#define LAYOUT_ACPI_START     0xe0000ULL /* where an OS scans for the RSDP */
#define LAYOUT_ACPI_END       0xf0000ULL
#define LAYOUT_MPTABLE        0xf0000ULL /* where an OS scans for the MP floating pointer */
#define LAYOUT_HIGH_RAM_START 0x100000ULL
#define LAYOUT_KERNEL_LOAD    0x100000ULL

/* The 32-bit MMIO hole: RAM that would reach it continues above 4 GiB. */
#define LAYOUT_MMIO_HOLE_START 0xC0000000ULL
#define LAYOUT_MMIO_HOLE_END   0x100000000ULL
#define LAYOUT_PCI_WINDOW      0xC0000000ULL /* PCI memory BARs: 256 MiB */
#define LAYOUT_PCI_WINDOW_SIZE 0x10000000ULL
#define LAYOUT_VIRTIO_MMIO     0xD0000000ULL /* virtio-mmio windows, 4 KiB apart */
#define LAYOUT_IOAPIC          0xFEC00000ULL
#define LAYOUT_LAPIC           0xFEE00000ULL
#define LAYOUT_TSS_ADDR        0xFFFBD000ULL /* KVM_SET_TSS_ADDR: 3 pages KVM uses on Intel */

#endif
