/* How devices signal interrupts. A device owns a line (a GSI) and raises or
 * lowers it; it never knows which interrupt controller model routes the line.
 *   kernel: KVM's in-kernel IOAPIC, PIC, LAPIC and PIT.
 *   split:  LAPICs stay in KVM (KVM_CAP_SPLIT_IRQCHIP); ember's own IOAPIC,
 *           PIC and PIT models (irq/ioapic.c, pic.c, pit.c) take the lines and
 *           the IOAPIC reaches the LAPICs with MSIs (KVM_SIGNAL_MSI). Its
 *           redirection table is mirrored as MSI GSI routes 0-23 so KVM reports
 *           EOIs of level-triggered vectors (KVM_EXIT_IOAPIC_EOI). A timerfd
 *           thread turns the PIT's channel 0 into IRQ 0 edges. The PIC's INT
 *           output (ExtINT) reaches vCPU 0 through KVM_INTERRUPT, which KVM
 *           hands to its LAPIC's LINT0.
 *   user:   no irqchip in KVM at all. ember also models one LAPIC per vCPU
 *           (irq/lapic.c); the IOAPIC's messages and the LAPICs' IPIs travel
 *           on an APIC bus in this file; the vCPU thread injects with
 *           KVM_INTERRUPT (cpu/interrupts.c). LAPIC timers are timerfds on
 *           the same timer thread as the PIT. The APIC base, TSC-deadline and
 *           x2APIC MSRs come to ember as user-space MSR exits when the host's
 *           KVM has them (KVM_CAP_X86_USER_SPACE_MSR + MSR filters); without
 *           them, x2APIC and the TSC-deadline timer are not advertised. */
#ifndef EMBER_IRQ_IRQ_H
#define EMBER_IRQ_IRQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/io_bus.h"
#include "irq/ioapic.h"
#include "irq/lapic.h"
#include "irq/pic.h"
#include "irq/pit.h"

enum irqchip_mode { IRQCHIP_KERNEL, IRQCHIP_SPLIT, IRQCHIP_USER };

/* Number of IOAPIC pins KVM's in-kernel IOAPIC has. */
#define IRQ_IOAPIC_PINS 24

struct irq_lapic_slot {
    struct irq_chip *chip;
    int cpu;
    int timer_fd;
};

struct irq_chip {
    enum irqchip_mode mode;
    int vm_fd;
    int ncpus;
    /* split and user modes */
    struct ioapic ioapic;
    struct pic pic;
    struct pit pit;
    /* Split mode: the redirection entries last mirrored into KVM. Several
     * vCPUs write the IOAPIC at once; routes_lock makes each compare-and-
     * KVM_SET_GSI_ROUTING one step, so an older table can never be set after
     * a newer one. Taken after the IOAPIC's own lock is released; nothing is
     * taken inside it. */
    pthread_mutex_t routes_lock;
    uint64_t routes[IOAPIC_PINS];
    pthread_t timer_thread;
    int timer_fd, wake_fd;
    int timer_running;
    _Atomic int extint_level;    /* the 8259's INT output */
    /* user mode */
    struct lapic *lapics;        /* one per vCPU, index = APIC id */
    struct irq_lapic_slot *slots;
    bool user_msrs;              /* APIC base, TSC deadline and x2APIC MSRs exit to ember */
    bool warned_no_destination;
    unsigned arbitration_turn;   /* lowest-priority ties: where the next search starts */
    /* Wakes vCPU `cpu` for an interrupt or event (set by the VM once its vCPUs exist). */
    void (*wake_cpu)(void *ctx, int cpu);
    void *wake_ctx;
};

/* Parses "kernel", "split" or "user"; -1 for anything else. */
int irqchip_mode_parse(const char *s, enum irqchip_mode *out);
const char *irqchip_mode_name(enum irqchip_mode mode);
/* Creates the interrupt controllers for `mode` on the VM (before any vCPU)
 * and, in split and user modes, puts ember's chip models on the buses;
 * `ioapic_id` is the id the MP table and MADT announce for the IOAPIC. */
int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode, int ncpus, struct io_bus *pio,
                    struct io_bus *mmio, uint8_t ioapic_id);
void irq_chip_destroy(struct irq_chip *chip);
/* Starts/stops the timer thread of the PIT and LAPICs (no-ops in kernel mode). */
int irq_chip_start(struct irq_chip *chip);
void irq_chip_stop(struct irq_chip *chip);
/* Level-style line: level 1 asserts, 0 deasserts. */
int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level);
/* Edge-style: one rising edge then back to idle. */
int irq_line_pulse(struct irq_chip *chip, uint32_t gsi);
/* An edge a device thread raises often (a virtio used-buffer interrupt): in
 * kernel mode an irqfd, so KVM pulses the GSI without a trip through ember;
 * in split and user modes a pulse on ember's own IOAPIC and PIC. */
struct irq_event {
    struct irq_chip *chip;
    uint32_t gsi;
    int fd; /* the irqfd (kernel mode), else -1 */
};
int irq_event_init(struct irq_event *ev, struct irq_chip *chip, uint32_t gsi);
void irq_event_signal(struct irq_event *ev);
void irq_event_destroy(struct irq_event *ev);

/* A message-signalled interrupt (address/data as a PCI device writes them). */
int irq_send_msi(struct irq_chip *chip, uint64_t address, uint32_t data);
/* KVM_EXIT_IOAPIC_EOI (split mode). */
void irq_chip_eoi(struct irq_chip *chip, uint8_t vector);
/* vCPU `cpu`'s LAPIC in user mode; NULL in the other modes. */
static inline struct lapic *irq_lapic(struct irq_chip *chip, int cpu)
{
    return chip->lapics ? &chip->lapics[cpu] : NULL;
}
/* The 8259's INT output and its INTA cycle, for ExtINT injection. */
static inline bool irq_extint_pending(struct irq_chip *chip)
{
    return chip->mode != IRQCHIP_KERNEL && atomic_load_explicit(&chip->extint_level, memory_order_acquire);
}
static inline uint8_t irq_extint_acknowledge(struct irq_chip *chip) { return pic_acknowledge(&chip->pic); }

#endif
