/* How devices signal interrupts. A device owns a line (a GSI) and raises or
 * lowers it; it never knows which interrupt controller model routes the line.
 * Today the only mode is KVM's in-kernel irqchip (IOAPIC + PIC + LAPIC in KVM);
 * the split and user-space modes plug in behind the same two calls. */
#ifndef EMBER_IRQ_IRQ_H
#define EMBER_IRQ_IRQ_H

#include <stdint.h>

enum irqchip_mode { IRQCHIP_KERNEL };

/* Number of IOAPIC pins KVM's in-kernel IOAPIC has. */
#define IRQ_IOAPIC_PINS 24

struct irq_chip {
    enum irqchip_mode mode;
    int vm_fd;
};

/* Creates the interrupt controllers for `mode` on the VM. */
int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode);
/* Level-style line: level 1 asserts, 0 deasserts. */
int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level);
/* Edge-style: one rising edge then back to idle. */
int irq_line_pulse(struct irq_chip *chip, uint32_t gsi);

#endif
