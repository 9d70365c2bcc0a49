/* How devices signal interrupts. A device owns a line (a GSI) and raises or
 * lowers it; it never knows which interrupt controller model routes the line.
 *   kernel: KVM's in-kernel IOAPIC, PIC, LAPIC and PIT.
 *   split:  LAPICs stay in KVM (KVM_CAP_SPLIT_IRQCHIP); ember's own IOAPIC,
 *           PIC and PIT models (irq/ioapic.c, pic.c, pit.c) take the lines and
 *           the IOAPIC reaches the LAPICs with MSIs (KVM_SIGNAL_MSI). Its
 *           redirection table is mirrored as MSI GSI routes 0-23 so KVM reports
 *           EOIs of level-triggered vectors (KVM_EXIT_IOAPIC_EOI). A timerfd
 *           thread turns the PIT's channel 0 into IRQ 0 edges. The PIC's INT
 *           output (ExtINT) is not delivered yet in this mode.
 * The fully user-space mode (LAPIC in ember) is not built. */
#ifndef EMBER_IRQ_IRQ_H
#define EMBER_IRQ_IRQ_H

#include <pthread.h>
#include <stdint.h>

#include "bus/io_bus.h"
#include "irq/ioapic.h"
#include "irq/pic.h"
#include "irq/pit.h"

enum irqchip_mode { IRQCHIP_KERNEL, IRQCHIP_SPLIT };

/* Number of IOAPIC pins KVM's in-kernel IOAPIC has. */
#define IRQ_IOAPIC_PINS 24

struct irq_chip {
    enum irqchip_mode mode;
    int vm_fd;
    /* split mode */
    struct ioapic ioapic;
    struct pic pic;
    struct pit pit;
    uint64_t routes[IOAPIC_PINS]; /* redirection entries last mirrored into KVM */
    pthread_t timer_thread;
    int timer_fd, wake_fd;
    int timer_running;
};

/* Parses "kernel" or "split"; -1 for anything else. */
int irqchip_mode_parse(const char *s, enum irqchip_mode *out);
const char *irqchip_mode_name(enum irqchip_mode mode);
/* Creates the interrupt controllers for `mode` on the VM (before any vCPU)
 * and, in split mode, puts ember's chip models on the buses; `ioapic_id` is
 * the id the MP table and MADT announce for the IOAPIC. */
int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode, struct io_bus *pio, struct io_bus *mmio,
                    uint8_t ioapic_id);
/* Starts/stops the split mode's PIT timer thread (no-ops in kernel mode). */
int irq_chip_start(struct irq_chip *chip);
void irq_chip_stop(struct irq_chip *chip);
/* Level-style line: level 1 asserts, 0 deasserts. */
int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level);
/* Edge-style: one rising edge then back to idle. */
int irq_line_pulse(struct irq_chip *chip, uint32_t gsi);
/* KVM_EXIT_IOAPIC_EOI (split mode). */
void irq_chip_eoi(struct irq_chip *chip, uint8_t vector);

#endif
