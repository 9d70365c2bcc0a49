/* Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * learns its CPUs (one processor entry per vCPU, APIC id = vCPU index), the
 * IOAPIC and how the 16 ISA IRQs are wired to it. */
#ifndef EMBER_BOOT_MPTABLE_H
#define EMBER_BOOT_MPTABLE_H

#include <stdint.h>

#include "memory/guest_memory.h"

/* APIC ids are 8 bits in the MP table and 0xff is broadcast; the IOAPIC
 * takes the id after the last CPU. */
#define MPTABLE_MAX_CPUS 254

/* Writes the floating pointer and configuration table at `gpa`.
 * Returns the table size in bytes, or -1 if it does not fit. */
int mptable_write(const struct guest_memory *mem, uint64_t gpa, uint64_t room, int ncpus);

#endif
