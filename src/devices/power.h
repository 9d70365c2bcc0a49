/* Power and reset control: the ACPI PM1a event/control block at 0x600
 * (writing SLP_EN with sleep type S5 powers the machine off) and the PCI
 * reset-control register at 0xCF9 (RST_CPU resets it). These are the fixed
 * hardware ACPI's FADT points at, so a later ACPI table set only describes
 * them; ember's test guests use them directly. */
#ifndef EMBER_DEVICES_POWER_H
#define EMBER_DEVICES_POWER_H

#include <pthread.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define POWER_PM1A_EVT_PORT 0x600 /* 4 bytes: PM1a_STS, PM1a_EN */
#define POWER_PM1A_CNT_PORT 0x604 /* 2 bytes: PM1a_CNT */
#define POWER_PM1_LEN       6
#define POWER_RESET_PORT    0xcf9
#define POWER_SLP_TYP_S5    5     /* the S5 sleep type ember's ACPI tables will announce */
#define POWER_SLP_EN        (1u << 13)

struct power_device {
    pthread_mutex_t lock;
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint8_t reset_ctl;
    void (*poweroff)(void *ctx);
    void (*reset)(void *ctx);
    void *ctx;
};

void power_device_init(struct power_device *pd, void (*poweroff)(void *), void (*reset)(void *), void *ctx);
void power_device_destroy(struct power_device *pd);
extern const struct bus_device_ops power_pm1_ops;   /* at 0x600, len 6 */
extern const struct bus_device_ops power_reset_ops; /* at 0xcf9, len 1 */

#endif
