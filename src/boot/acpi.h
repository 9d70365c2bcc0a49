/* ACPI tables: how a modern kernel (Debian's builds have no MP-table parser)
 * learns its CPUs, the IOAPIC, and how to power off and reset. ember writes
 * RSDP, XSDT, RSDT, FADT, FACS, a DSDT (\_S5 and the pvpanic device QEMU0001
 * at port 0x505), and a MADT.
 * The FADT points at the fixed hardware in devices/power.c: PM1a event and
 * control blocks at 0x600/0x604 (S5 = SLP_TYP 5) and the reset register 0xCF9. */
#ifndef EMBER_BOOT_ACPI_H
#define EMBER_BOOT_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* Writes the tables into [LAYOUT_ACPI_START, LAYOUT_ACPI_END); returns the
 * RSDP's guest-physical address, or 0 if they do not fit. With `pci`, the
 * DSDT also describes the PCI root bridge (bus 0, 0xCF8, the BAR window). */
uint64_t acpi_write_tables(const struct guest_memory *mem, int ncpus, bool pci);

#endif
