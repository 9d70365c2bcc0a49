/* A local APIC model for the fully user-space irqchip mode (--irqchip user),
 * where KVM has no LAPIC and ember injects every interrupt itself with
 * KVM_INTERRUPT. One per vCPU. It models:
 *   - IRR/ISR/TMR, TPR and PPR, EOI (level vectors broadcast to the IOAPIC);
 *   - the LVT, the timer in one-shot, periodic and TSC-deadline mode (the
 *     owner arms a host timer at the absolute CLOCK_MONOTONIC deadline the
 *     model asks for; the bus clock is 1 GHz, as KVM's); no timer interrupt
 *     comes sooner than 200 us after the last (irq/timer_floor.h);
 *   - the ICR: fixed, lowest-priority, NMI, INIT and start-up IPIs with
 *     destination shorthands, physical and logical (flat/cluster) modes;
 *   - the xAPIC MMIO page, the x2APIC MSRs and the APIC base MSR;
 *   - INIT/SIPI: a CPU taken by INIT waits for a start-up IPI, whose vector
 *     the vCPU thread turns into a real-mode entry.
 * Messages between APICs go through the owner's hooks (irq/irq.c routes
 * them); the model never calls a hook with its lock held, so the IOAPIC may
 * call into a LAPIC while holding its own lock. Times are passed in (now_ns)
 * so unit tests drive the clock. Nonsense from the guest (vectors 0-15,
 * reserved delivery modes, bad registers) sets ESR bits, is logged once and
 * ignored. */
#ifndef EMBER_IRQ_LAPIC_H
#define EMBER_IRQ_LAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAPIC_DEFAULT_BASE 0xfee00000ULL
#define LAPIC_MMIO_SIZE    0x1000

/* IA32_APIC_BASE (MSR 0x1b) bits. */
#define LAPIC_BASE_BSP    (1ULL << 8)
#define LAPIC_BASE_X2APIC (1ULL << 10)
#define LAPIC_BASE_ENABLE (1ULL << 11)
#define LAPIC_BASE_ADDR   0x000ffffffffff000ULL

#define MSR_IA32_APICBASE     0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST      0x800
#define MSR_X2APIC_LAST       0x8ff

/* Register offsets in the xAPIC page (x2APIC MSR = 0x800 + offset / 16). */
enum {
    LAPIC_ID = 0x20, LAPIC_VERSION = 0x30, LAPIC_TPR = 0x80, LAPIC_APR = 0x90, LAPIC_PPR = 0xa0,
    LAPIC_EOI = 0xb0, LAPIC_RRD = 0xc0, LAPIC_LDR = 0xd0, LAPIC_DFR = 0xe0, LAPIC_SVR = 0xf0,
    LAPIC_ISR = 0x100, LAPIC_TMR = 0x180, LAPIC_IRR = 0x200, LAPIC_ESR = 0x280,
    LAPIC_ICR_LO = 0x300, LAPIC_ICR_HI = 0x310, LAPIC_LVT_TIMER_REG = 0x320, LAPIC_LVT_ERROR_REG = 0x370,
    LAPIC_TIMER_INITIAL = 0x380, LAPIC_TIMER_CURRENT = 0x390, LAPIC_TIMER_DIVIDE = 0x3e0,
    LAPIC_SELF_IPI = 0x3f0, /* x2APIC only */
};

/* The LVT entries, in register order from 0x320. */
enum lapic_lvt { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LAPIC_LVT_COUNT };

#define LAPIC_LVT_MASKED      (1u << 16)
#define LAPIC_LVT_LEVEL       (1u << 15)
#define LAPIC_TIMER_PERIODIC  (1u << 17)
#define LAPIC_TIMER_TSC_DEADLINE (2u << 17)
#define LAPIC_TIMER_MODE_MASK (3u << 17)
#define LAPIC_SVR_ENABLE      (1u << 8)

/* Delivery modes (ICR, LVT, MSI data bits 8-10). */
enum { APIC_DM_FIXED = 0, APIC_DM_LOWEST = 1, APIC_DM_SMI = 2, APIC_DM_NMI = 4, APIC_DM_INIT = 5,
       APIC_DM_STARTUP = 6, APIC_DM_EXTINT = 7 };

/* Events the vCPU thread takes with lapic_take_events(). */
#define LAPIC_EVENT_NMI  1u
#define LAPIC_EVENT_INIT 2u
#define LAPIC_EVENT_SIPI 4u

/* Everything a snapshot needs: read and written as a whole. Timer deadlines
 * are host CLOCK_MONOTONIC nanoseconds (0: not armed). */
struct lapic_state {
    uint32_t id;
    uint64_t apic_base;
    uint32_t tpr, ldr, dfr, svr, esr, esr_pending;
    uint32_t icr_lo, icr_hi;
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t lvt[LAPIC_LVT_COUNT];
    uint32_t timer_initial, timer_divide;
    uint64_t timer_deadline_ns, timer_period_ns;
    uint64_t tsc_deadline;   /* the guest's IA32_TSC_DEADLINE (0: none) */
    uint32_t events;         /* LAPIC_EVENT_* not yet taken by the vCPU */
    uint8_t sipi_vector;
    uint8_t wait_for_sipi;   /* INIT taken; only a start-up IPI runs the CPU */
};

struct lapic;

struct lapic_hooks {
    /* An IPI from `from`'s ICR: the router finds the destinations. `dest` is
     * the 8-bit xAPIC or 32-bit x2APIC destination field. */
    void (*send_ipi)(void *ctx, struct lapic *from, uint32_t icr_lo, uint32_t dest);
    void (*eoi)(void *ctx, uint8_t vector);           /* EOI of a level-triggered vector */
    void (*arm_timer)(void *ctx, uint64_t deadline_ns); /* absolute; 0 disarms */
    void (*notify)(void *ctx);                        /* something for the vCPU: wake it */
    void *ctx;
};

struct lapic {
    pthread_mutex_t lock;
    struct lapic_state s;
    struct lapic_hooks hooks;
    uint32_t warned;         /* kinds of nonsense already logged */
    uint64_t delivered;      /* interrupts acknowledged (IRR -> ISR) */
    uint64_t last_timer_irq_ns; /* when the last timer interrupt was due (0: none); for the floor */
};

void lapic_init(struct lapic *l, uint32_t id, bool bsp, const struct lapic_hooks *hooks);
void lapic_destroy(struct lapic *l);

/* The APIC base MSR: where the xAPIC page is, and the mode. */
uint64_t lapic_get_base(struct lapic *l);
/* Returns -1 for a transition the SDM forbids (the guest gets #GP). */
int lapic_set_base(struct lapic *l, uint64_t value);
bool lapic_in_mmio_page(struct lapic *l, uint64_t gpa);

/* xAPIC MMIO: `offset` inside the page, 4-byte aligned 32-bit accesses (others read 0 / are ignored). */
uint32_t lapic_mmio_read(struct lapic *l, uint64_t offset, uint64_t now_ns);
void lapic_mmio_write(struct lapic *l, uint64_t offset, uint32_t value, uint64_t now_ns);
/* x2APIC MSRs 0x800-0x8ff. -1: the access faults (#GP), as hardware would. */
int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *value, uint64_t now_ns);
int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t value, uint64_t now_ns);
/* IA32_TSC_DEADLINE: the guest's TSC value and the host time it corresponds to. */
uint64_t lapic_get_tsc_deadline(struct lapic *l);
void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t deadline_ns);

/* A message on the APIC bus for this LAPIC (an IPI or an MSI). */
void lapic_deliver(struct lapic *l, unsigned delivery_mode, uint8_t vector, bool level_triggered);
/* Does `dest` (mode physical or logical) select this LAPIC? */
bool lapic_matches(struct lapic *l, uint32_t dest, bool logical);
/* For lowest-priority arbitration: the processor priority class (0x00-0xf0),
 * or 0x100 when the LAPIC is software-disabled and takes no interrupts. */
uint32_t lapic_arbitration_priority(struct lapic *l);
/* The host timer fired: deliver the timer interrupt if it is due. */
void lapic_timer_expired(struct lapic *l, uint64_t now_ns);

/* For the vCPU: the highest deliverable vector (-1 if none), and the
 * acknowledge that moves it from IRR to ISR. */
int lapic_pending_vector(struct lapic *l);
int lapic_acknowledge(struct lapic *l);
/* Does this CPU take the 8259's INT output (LINT0 in ExtINT mode, or the APIC
 * disabled so the PIC is wired straight to the CPU)? */
bool lapic_accepts_extint(struct lapic *l);
/* Takes the pending NMI/INIT/SIPI events; *sipi_vector is set with SIPI. An
 * INIT resets the APIC (keeping its id and base) and parks the CPU until a
 * start-up IPI. */
uint32_t lapic_take_events(struct lapic *l, uint8_t *sipi_vector);
bool lapic_waiting_for_sipi(struct lapic *l);

void lapic_get_state(struct lapic *l, struct lapic_state *out);
void lapic_set_state(struct lapic *l, const struct lapic_state *in);
size_t lapic_dump(struct lapic *l, char *buf, size_t len);

#endif
