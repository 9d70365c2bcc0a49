/* i8042 keyboard controller (ports 0x60 data, 0x64 status/command).
 * Enough of it for Linux's probe (self-test, interface test, command byte,
 * keyboard reset/identify answered as an AT keyboard with no keys pressed) and
 * the classic reset: command 0xFE, or writing the output port with bit 0
 * clear, pulses the CPU reset line, which ends the VM as a reboot. */
#ifndef EMBER_DEVICES_I8042_H
#define EMBER_DEVICES_I8042_H

#include <pthread.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64
#define I8042_KBD_GSI   1
#define I8042_BUF_SIZE  16

struct i8042 {
    pthread_mutex_t lock;
    uint8_t status;
    uint8_t ctr;        /* controller command byte */
    uint8_t pending_cmd;/* command waiting for its data byte at 0x60, or 0 */
    uint8_t outbuf[I8042_BUF_SIZE];
    unsigned out_head, out_count;
    void (*reset)(void *ctx);          /* CPU reset line */
    void (*set_irq)(void *ctx, int level);
    void *ctx;
    uint64_t resets;
};

void i8042_init(struct i8042 *kbc, void (*reset)(void *), void (*set_irq)(void *, int), void *ctx);
void i8042_destroy(struct i8042 *kbc);
/* Ctrl-Alt-Del pressed and released on the keyboard (the API's
 * SendCtrlAltDel): scan codes as the guest reads them through the
 * controller's translation (set 1). */
void i8042_send_ctrl_alt_del(struct i8042 *kbc);
extern const struct bus_device_ops i8042_data_ops; /* register at 0x60, len 1 */
extern const struct bus_device_ops i8042_cmd_ops;  /* register at 0x64, len 1 */

#endif
