/* The PC's dual 8259A PIC (master 0x20/0x21, slave 0xA0/0xA1 cascaded on
 * IRQ 2, ELCR at 0x4D0/0x4D1), for the split and user-space irqchip modes
 * (issue 5). Models the ICW1-4 initialisation sequence, OCW1 (mask), OCW2
 * (non-specific, specific and rotating EOI, set priority), OCW3 (IRR/ISR read
 * select, poll mode, special mask mode), auto-EOI, edge and ELCR level
 * lines, and spurious IRQ 7/15 on an acknowledge with nothing pending.
 * The INT output goes to the `output` hook; pic_acknowledge() is the CPU's
 * INTA cycle and returns the vector to inject.
 * Status: a complete, unit-tested model; not yet wired into a VM mode. */
#ifndef EMBER_IRQ_PIC_H
#define EMBER_IRQ_PIC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/io_bus.h"

struct pic_chip_state {
    uint8_t irr, isr, imr, last_level, elcr;
    uint8_t irq_base, priority_add, read_isr, poll, special_mask;
    uint8_t init_state, init4, single, auto_eoi, rotate_on_auto_eoi, special_fully_nested;
};

/* Everything a snapshot needs: read and written as a whole. */
struct pic_state {
    struct pic_chip_state chip[2]; /* 0 master, 1 slave */
    uint8_t output;                /* level of the master's INT line */
};

struct pic {
    pthread_mutex_t lock;
    struct pic_state s;
    uint64_t spurious;
    void (*output)(void *ctx, int level); /* the INT line to the CPU (LAPIC LINT0 / injection) */
    void *ctx;
};

void pic_init(struct pic *pic, void (*output)(void *, int), void *ctx);
void pic_destroy(struct pic *pic);
/* ISA IRQ line 0-15 (2 is the cascade and is not a device line). */
void pic_set_irq(struct pic *pic, unsigned irq, int level);
/* The INTA cycle: returns the vector for the highest-priority request
 * (base+7 of the chip if nothing is pending: a spurious interrupt). */
uint8_t pic_acknowledge(struct pic *pic);
void pic_get_state(struct pic *pic, struct pic_state *out);
void pic_set_state(struct pic *pic, const struct pic_state *in);
size_t pic_dump(struct pic *pic, char *buf, size_t len);

extern const struct bus_device_ops pic_master_ops; /* 0x20, len 2 */
extern const struct bus_device_ops pic_slave_ops;  /* 0xa0, len 2 */
extern const struct bus_device_ops pic_elcr_ops;   /* 0x4d0, len 2 */

#endif
