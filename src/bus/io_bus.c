#include "bus/io_bus.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void io_bus_init(struct io_bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
}

void io_bus_destroy(struct io_bus *bus)
{
    free(bus->ranges);
    bus->ranges = NULL;
    bus->count = bus->capacity = 0;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
                    void *opaque)
{
    if (len == 0 || base + len < base) {
        log_error("%s bus: %s: invalid range 0x%llx+0x%llx", bus->name, ops->name,
                  (unsigned long long)base, (unsigned long long)len);
        return -1;
    }
    size_t pos = 0;
    while (pos < bus->count && bus->ranges[pos].base < base)
        pos++;
    const struct bus_range *prev = pos > 0 ? &bus->ranges[pos - 1] : NULL;
    const struct bus_range *next = pos < bus->count ? &bus->ranges[pos] : NULL;
    if ((prev && prev->base + prev->len > base) || (next && base + len > next->base)) {
        const struct bus_range *other = (prev && prev->base + prev->len > base) ? prev : next;
        log_error("%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx", bus->name, ops->name,
                  (unsigned long long)base, (unsigned long long)len, other->ops->name,
                  (unsigned long long)other->base);
        return -1;
    }
    if (bus->count == bus->capacity) {
        size_t cap = bus->capacity ? bus->capacity * 2 : 16;
        struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
        if (!r) {
            log_error("%s bus: out of memory", bus->name);
            return -1;
        }
        bus->ranges = r;
        bus->capacity = cap;
    }
    memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->count - pos) * sizeof(bus->ranges[0]));
    bus->ranges[pos] = (struct bus_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
    bus->count++;
    return 0;
}

int io_bus_unregister(struct io_bus *bus, uint64_t base, struct bus_range *out)
{
    for (size_t i = 0; i < bus->count; i++)
        if (bus->ranges[i].base == base) {
            if (out)
                *out = bus->ranges[i];
            memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->count - i - 1) * sizeof(bus->ranges[0]));
            bus->count--;
            return 0;
        }
    return -1;
}

const struct bus_range *io_bus_find(const struct io_bus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &bus->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static const struct bus_range *claim(const struct io_bus *bus, uint64_t addr, uint32_t size)
{
    if (size == 0 || size > 8)
        return NULL;
    const struct bus_range *r = io_bus_find(bus, addr);
    if (!r || size > r->len - (addr - r->base))
        return NULL;
    return r;
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t size)
{
    const struct bus_range *r = claim(bus, addr, size);
    if (!r || !r->ops->read) {
        memset(data, 0xff, size > 8 ? 8 : size);
        atomic_fetch_add_explicit(&bus->unclaimed_reads, 1, memory_order_relaxed);
        return false;
    }
    r->ops->read(r->opaque, addr - r->base, data, size);
    return true;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, const uint8_t *data, uint32_t size)
{
    const struct bus_range *r = claim(bus, addr, size);
    if (!r || !r->ops->write) {
        atomic_fetch_add_explicit(&bus->unclaimed_writes, 1, memory_order_relaxed);
        return false;
    }
    r->ops->write(r->opaque, addr - r->base, data, size);
    return true;
}
