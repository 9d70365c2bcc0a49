/* An address-range bus. ember has two: port I/O and MMIO. Devices register
 * [base, base+len) with their read/write operations; a vCPU exit is dispatched
 * by address. Registration happens before vCPUs start, so lookups take no lock;
 * each device serializes its own state. Unclaimed accesses are harmless (reads
 * return all-ones, like a floating bus) and counted. */
#ifndef EMBER_BUS_IO_BUS_H
#define EMBER_BUS_IO_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus_device_ops {
    const char *name;
    /* offset is relative to the registered base; size is 1, 2, 4 or 8. */
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t size);
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size);
};

struct bus_range {
    uint64_t base;
    uint64_t len;
    const struct bus_device_ops *ops;
    void *opaque;
};

struct io_bus {
    const char *name;
    struct bus_range *ranges; /* sorted by base, non-overlapping */
    size_t count;
    size_t capacity;
    atomic_ulong unclaimed_reads;
    atomic_ulong unclaimed_writes;
};

void io_bus_init(struct io_bus *bus, const char *name);
void io_bus_destroy(struct io_bus *bus);
/* Returns -1 (after logging) if the range is empty, wraps, or overlaps another. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
                    void *opaque);
/* Removes the range starting at `base` (before vCPUs run only), giving it
 * back in *out. -1 if there is none. */
int io_bus_unregister(struct io_bus *bus, uint64_t base, struct bus_range *out);
const struct bus_range *io_bus_find(const struct io_bus *bus, uint64_t addr);
/* Dispatch an access; returns true if a device claimed it. An access that
 * straddles the end of a device's range is treated as unclaimed. */
bool io_bus_read(struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t size);
bool io_bus_write(struct io_bus *bus, uint64_t addr, const uint8_t *data, uint32_t size);

#endif
