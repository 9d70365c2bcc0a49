/* pvpanic (QEMU's ISA pvpanic at port 0x505, ACPI id QEMU0001): a guest kernel
 * writes PANICKED here from its panic notifier, so a panic ends ember with its
 * own status even when panic=-1 makes Linux reboot right after. Reads return
 * the events the device understands. */
#ifndef EMBER_DEVICES_PVPANIC_H
#define EMBER_DEVICES_PVPANIC_H

#include <stdint.h>

#include "bus/io_bus.h"

#define PVPANIC_PORT 0x505
#define PVPANIC_PANICKED 0x1
#define PVPANIC_CRASH_LOADED 0x2

struct pvpanic {
    void (*panicked)(void *ctx);
    void (*crash_loaded)(void *ctx);
    void *ctx;
};

extern const struct bus_device_ops pvpanic_ops; /* register at 0x505, len 1 */

#endif
