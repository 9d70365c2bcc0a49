/* Port 0x80: the POST-code port. Linux writes it as an I/O delay; firmware and
 * test guests write progress codes. Writes are accepted and the last value kept;
 * reads return it. */
#ifndef EMBER_DEVICES_DEBUG_PORT_H
#define EMBER_DEVICES_DEBUG_PORT_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define DEBUG_PORT 0x80

struct debug_port {
    atomic_uchar last;
    atomic_ulong writes;
};

extern const struct bus_device_ops debug_port_ops;

#endif
