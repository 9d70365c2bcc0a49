#include "devices/pvpanic.h"

#include <string.h>

static void pvpanic_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    (void)opaque;
    (void)off;
    memset(data, 0, size);
    data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

static void pvpanic_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct pvpanic *p = opaque;
    (void)off;
    (void)size;
    if ((data[0] & PVPANIC_PANICKED) && p->panicked)
        p->panicked(p->ctx);
    else if ((data[0] & PVPANIC_CRASH_LOADED) && p->crash_loaded)
        p->crash_loaded(p->ctx);
}

const struct bus_device_ops pvpanic_ops = {.name = "pvpanic", .read = pvpanic_read, .write = pvpanic_write};
