#include "devices/power.h"

#include <string.h>

void power_device_init(struct power_device *pd, void (*poweroff)(void *), void (*reset)(void *), void *ctx)
{
    memset(pd, 0, sizeof(*pd));
    pthread_mutex_init(&pd->lock, NULL);
    pd->pm1_cnt = 1; /* SCI_EN: the machine is in ACPI mode from the start */
    pd->poweroff = poweroff;
    pd->reset = reset;
    pd->ctx = ctx;
}

void power_device_destroy(struct power_device *pd) { pthread_mutex_destroy(&pd->lock); }

/* The PM1 block as a little-endian byte array: STS(2) EN(2) CNT(2). */
static void pm1_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct power_device *pd = opaque;
    pthread_mutex_lock(&pd->lock);
    uint16_t regs[3] = {pd->pm1_sts, pd->pm1_en, pd->pm1_cnt};
    pthread_mutex_unlock(&pd->lock);
    uint8_t bytes[POWER_PM1_LEN];
    memcpy(bytes, regs, sizeof(bytes));
    for (uint32_t i = 0; i < size; i++)
        data[i] = off + i < POWER_PM1_LEN ? bytes[off + i] : 0xff;
}

static void pm1_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct power_device *pd = opaque;
    bool off_now = false;
    pthread_mutex_lock(&pd->lock);
    uint16_t regs[3] = {pd->pm1_sts, pd->pm1_en, pd->pm1_cnt};
    uint8_t bytes[POWER_PM1_LEN];
    memcpy(bytes, regs, sizeof(bytes));
    uint16_t old_sts = pd->pm1_sts;
    for (uint32_t i = 0; i < size && off + i < POWER_PM1_LEN; i++)
        bytes[off + i] = data[i];
    memcpy(regs, bytes, sizeof(bytes));
    pd->pm1_sts = old_sts & (uint16_t)~regs[0]; /* status bits are write-1-to-clear */
    pd->pm1_en = regs[1];
    pd->pm1_cnt = regs[2] & (uint16_t)~POWER_SLP_EN; /* SLP_EN always reads 0 */
    if ((regs[2] & POWER_SLP_EN) && ((regs[2] >> 10) & 7) == POWER_SLP_TYP_S5)
        off_now = true;
    pthread_mutex_unlock(&pd->lock);
    if (off_now && pd->poweroff)
        pd->poweroff(pd->ctx);
}

static void reset_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct power_device *pd = opaque;
    (void)off;
    memset(data, 0xff, size);
    pthread_mutex_lock(&pd->lock);
    data[0] = pd->reset_ctl;
    pthread_mutex_unlock(&pd->lock);
}

static void reset_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct power_device *pd = opaque;
    (void)off;
    (void)size;
    pthread_mutex_lock(&pd->lock);
    pd->reset_ctl = data[0] & 0x0e;
    bool reset = data[0] & 0x04; /* RST_CPU */
    pthread_mutex_unlock(&pd->lock);
    if (reset && pd->reset)
        pd->reset(pd->ctx);
}

const struct bus_device_ops power_pm1_ops = {.name = "acpi-pm1", .read = pm1_read, .write = pm1_write};
const struct bus_device_ops power_reset_ops = {.name = "reset-cf9", .read = reset_read, .write = reset_write};
