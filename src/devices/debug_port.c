#include "devices/debug_port.h"

#include <string.h>

static void debug_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct debug_port *d = opaque;
    (void)off;
    memset(data, 0xff, size);
    data[0] = atomic_load(&d->last);
}

static void debug_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct debug_port *d = opaque;
    (void)off;
    (void)size;
    atomic_store(&d->last, data[0]);
    atomic_fetch_add_explicit(&d->writes, 1, memory_order_relaxed);
}

const struct bus_device_ops debug_port_ops = {.name = "debug-port-0x80", .read = debug_read, .write = debug_write};
