/* The 8254 PIT (ports 0x40-0x43, channel-2 gate and output on port 0x61),
 * for the split and user-space irqchip modes where KVM's in-kernel PIT
 * (which needs KVM's PIC) is not used (issue 5). Counters are derived from
 * elapsed time on an injectable clock, not ticked: reading a counter costs
 * nothing and the model never drifts. Modes 0 (interrupt on terminal count),
 * 2 (rate generator) and 3 (square wave) are exact; 1, 4 and 5 count like
 * mode 0. Counter latch and read-back (status and count) are modelled.
 * pit_next_irq_ns() tells the irqchip integration when channel 0's output next
 * rises, for a timerfd; a period under 200 us interrupts every 200 us
 * instead (irq/timer_floor.h). Status: a complete, unit-tested model; not yet wired. */
#ifndef EMBER_IRQ_PIT_H
#define EMBER_IRQ_PIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define PIT_HZ 1193182ULL

struct pit_channel_state {
    uint32_t reload;      /* 1..65536 (a written 0 means 65536) */
    uint64_t load_ns;     /* when counting started */
    uint8_t mode, access, bcd, gate, loaded;
    uint8_t write_hi;     /* lo/hi access: next write is the high byte */
    uint8_t read_hi;      /* lo/hi access: next read is the high byte */
    uint8_t latch_count;  /* bytes of a latched count left to read */
    uint16_t latched;
    uint8_t status_latched, status;
    uint8_t pending_lo;   /* low byte waiting for its high byte */
};

/* Everything a snapshot needs: read and written as a whole. */
struct pit_state {
    struct pit_channel_state ch[3];
    uint8_t speaker; /* port 0x61 bits 0-1 */
};

struct pit {
    pthread_mutex_t lock;
    struct pit_state s;
    uint64_t (*now_ns)(void); /* monotonic clock; replaceable in tests */
};

void pit_init(struct pit *pit, uint64_t (*now_ns)(void));
void pit_destroy(struct pit *pit);
/* Current counter value and output level of a channel. */
uint16_t pit_count(struct pit *pit, int ch);
bool pit_output(struct pit *pit, int ch);
/* Absolute time (ns, on the PIT's clock) channel 0's output next rises after
 * `now`, or UINT64_MAX if it will not (not programmed, or one-shot done). */
uint64_t pit_next_irq_ns(struct pit *pit, uint64_t now);
void pit_get_state(struct pit *pit, struct pit_state *out);
void pit_set_state(struct pit *pit, const struct pit_state *in);

extern const struct bus_device_ops pit_ops;     /* 0x40, len 4 */
extern const struct bus_device_ops pit_gate_ops; /* 0x61, len 1 */

#endif
