#include "irq/lapic.h"

#include <stdio.h>
#include <string.h>

#include "irq/timer_floor.h"
#include "util/log.h"

#define VERSION 0x14 /* an integrated APIC, as KVM's */
/* Version register: the highest LVT index in bits 16-23. */
#define VERSION_REG (VERSION | ((LAPIC_LVT_COUNT - 1u) << 16))

/* ESR bits. */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER    (1u << 7)

/* Writable bits of each LVT entry (delivery status and remote IRR are read-only). */
static const uint32_t lvt_writable[LAPIC_LVT_COUNT] = {
    [LVT_TIMER] = 0xff | LAPIC_LVT_MASKED | LAPIC_TIMER_MODE_MASK,
    [LVT_THERMAL] = 0x7ff | LAPIC_LVT_MASKED,
    [LVT_PERF] = 0x7ff | LAPIC_LVT_MASKED,
    [LVT_LINT0] = 0x7ff | (1u << 13) | LAPIC_LVT_LEVEL | LAPIC_LVT_MASKED,
    [LVT_LINT1] = 0x7ff | (1u << 13) | LAPIC_LVT_LEVEL | LAPIC_LVT_MASKED,
    [LVT_ERROR] = 0xff | LAPIC_LVT_MASKED,
};

enum warn_kind { WARN_VECTOR = 1, WARN_REGISTER = 2, WARN_DELIVERY = 4, WARN_BASE = 8 };

static void warn_once(struct lapic *l, enum warn_kind kind, const char *fmt, uint32_t a, uint32_t b)
{
    if (l->warned & kind)
        return;
    l->warned |= kind;
    char msg[160];
    snprintf(msg, sizeof(msg), fmt, a, b);
    log_warn("lapic %u: %s (ignored; reported once)", l->s.id, msg);
}

/* --- vector bitmaps ----------------------------------------------------------- */

static void bit_set(uint32_t *map, unsigned v) { map[v >> 5] |= 1u << (v & 31); }
static void bit_clear(uint32_t *map, unsigned v) { map[v >> 5] &= ~(1u << (v & 31)); }
static bool bit_test(const uint32_t *map, unsigned v) { return map[v >> 5] & (1u << (v & 31)); }

static int highest(const uint32_t *map)
{
    for (int w = 7; w >= 0; w--)
        if (map[w])
            return w * 32 + 31 - __builtin_clz(map[w]);
    return -1;
}

static uint32_t ppr_of(const struct lapic_state *s)
{
    int isrv = highest(s->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (s->tpr & 0xf0) >= isr_class ? s->tpr & 0xff : isr_class;
}

static bool sw_enabled(const struct lapic_state *s) { return s->svr & LAPIC_SVR_ENABLE; }
static bool hw_enabled(const struct lapic_state *s) { return s->apic_base & LAPIC_BASE_ENABLE; }
static bool x2apic_mode(const struct lapic_state *s) { return s->apic_base & LAPIC_BASE_X2APIC; }

/* --- reset --------------------------------------------------------------------- */

/* The state after power-up or INIT: everything cleared, every LVT masked, the
 * APIC software-disabled. Id and base survive. */
static void reset_registers(struct lapic_state *s)
{
    uint32_t id = s->id;
    uint64_t base = s->apic_base;
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->apic_base = base;
    s->dfr = 0xffffffff;
    s->svr = 0xff;
    for (int i = 0; i < LAPIC_LVT_COUNT; i++)
        s->lvt[i] = LAPIC_LVT_MASKED;
    if (x2apic_mode(s))
        s->ldr = ((id >> 4) << 16) | (1u << (id & 0xf));
}

static void disarm_timer(struct lapic *l)
{
    if (l->s.timer_deadline_ns && l->hooks.arm_timer)
        l->hooks.arm_timer(l->hooks.ctx, 0);
    l->s.timer_deadline_ns = 0;
    l->s.tsc_deadline = 0;
}

void lapic_init(struct lapic *l, uint32_t id, bool bsp, const struct lapic_hooks *hooks)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    if (hooks)
        l->hooks = *hooks;
    l->s.id = id;
    l->s.apic_base = LAPIC_DEFAULT_BASE | LAPIC_BASE_ENABLE | (bsp ? LAPIC_BASE_BSP : 0);
    reset_registers(&l->s);
    /* Virtual-wire mode as a BIOS leaves it: the 8259's output on LINT0,
     * NMI on LINT1 (the same set-up the in-kernel LAPIC gets in vcpu.c). */
    l->s.lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
    l->s.lvt[LVT_LINT1] = APIC_DM_NMI << 8;
    /* Application processors wait for INIT/SIPI, as on hardware. */
    l->s.wait_for_sipi = !bsp;
}

void lapic_destroy(struct lapic *l) { pthread_mutex_destroy(&l->lock); }

/* --- accepting interrupts ---------------------------------------------------------- */

/* Lock held. Returns true when the vCPU must be told. */
static bool accept_locked(struct lapic *l, unsigned mode, uint8_t vector, bool level)
{
    struct lapic_state *s = &l->s;
    if (!hw_enabled(s))
        return false; /* a disabled APIC takes no messages; the PIC is wired to the CPU */
    switch (mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        if (!sw_enabled(s))
            return false;
        if (vector < 16) {
            s->esr_pending |= ESR_RECV_ILLEGAL_VECTOR;
            warn_once(l, WARN_VECTOR, "received illegal vector %u (mode %u)", vector, mode);
            return false;
        }
        bit_set(s->irr, vector);
        if (level)
            bit_set(s->tmr, vector);
        else
            bit_clear(s->tmr, vector);
        return true;
    case APIC_DM_NMI:
        s->events |= LAPIC_EVENT_NMI;
        return true;
    case APIC_DM_INIT:
        s->events |= LAPIC_EVENT_INIT;
        s->events &= ~LAPIC_EVENT_SIPI;
        return true;
    case APIC_DM_STARTUP:
        /* Only a CPU waiting after INIT starts; later SIPIs are ignored. */
        if (!s->wait_for_sipi && !(s->events & LAPIC_EVENT_INIT))
            return false;
        s->events |= LAPIC_EVENT_SIPI;
        s->sipi_vector = vector;
        return true;
    default:
        warn_once(l, WARN_DELIVERY, "unsupported delivery mode %u (vector %u)", mode, vector);
        return false;
    }
}

void lapic_deliver(struct lapic *l, unsigned delivery_mode, uint8_t vector, bool level_triggered)
{
    pthread_mutex_lock(&l->lock);
    if (accept_locked(l, delivery_mode, vector, level_triggered) && l->hooks.notify)
        l->hooks.notify(l->hooks.ctx);
    pthread_mutex_unlock(&l->lock);
}

bool lapic_matches(struct lapic *l, uint32_t dest, bool logical)
{
    pthread_mutex_lock(&l->lock);
    const struct lapic_state *s = &l->s;
    bool x2 = x2apic_mode(s), hit;
    uint32_t broadcast = x2 ? 0xffffffffu : 0xffu;
    if (dest == broadcast)
        hit = true;
    else if (!logical)
        hit = x2 ? dest == s->id : dest == (s->id & 0xff);
    else if (x2) /* x2APIC logical: cluster in bits 31-16, a bitmap of 16 in 15-0 */
        hit = (dest >> 16) == (s->ldr >> 16) && (dest & s->ldr & 0xffff);
    else if ((s->dfr >> 28) == 0xf) /* flat model: a bitmap of 8 */
        hit = (dest & (s->ldr >> 24)) != 0;
    else /* cluster model: cluster in bits 7-4, a bitmap of 4 in 3-0 */
        hit = (dest >> 4) == (s->ldr >> 28) && (dest & (s->ldr >> 24) & 0xf);
    pthread_mutex_unlock(&l->lock);
    return hit;
}

uint32_t lapic_arbitration_priority(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    uint32_t p = sw_enabled(&l->s) ? ppr_of(&l->s) & 0xf0 : 0x100;
    pthread_mutex_unlock(&l->lock);
    return p;
}

/* --- the timer ------------------------------------------------------------------------- */

static uint64_t timer_divisor(const struct lapic_state *s)
{
    uint32_t v = (s->timer_divide & 3) | ((s->timer_divide & 8) >> 1);
    return v == 7 ? 1 : 2ull << v;
}

static uint32_t timer_mode(const struct lapic_state *s) { return s->lvt[LVT_TIMER] & LAPIC_TIMER_MODE_MASK; }

/* Every deadline the guest sets goes through here: one less than
 * IRQ_TIMER_MIN_PERIOD_NS after the last timer interrupt moves to that floor,
 * so a one-shot or TSC-deadline timer re-armed back to back from its own
 * handler fires no faster than a periodic one may. A deadline after a longer
 * pause is exact. */
static void arm(struct lapic *l, uint64_t deadline_ns)
{
    if (l->last_timer_irq_ns && deadline_ns < l->last_timer_irq_ns + IRQ_TIMER_MIN_PERIOD_NS)
        deadline_ns = l->last_timer_irq_ns + IRQ_TIMER_MIN_PERIOD_NS;
    l->s.timer_deadline_ns = deadline_ns;
    if (l->hooks.arm_timer)
        l->hooks.arm_timer(l->hooks.ctx, deadline_ns);
}

/* Lock held: a new initial count starts a one-shot or periodic count down. */
static void start_count(struct lapic *l, uint64_t now_ns)
{
    struct lapic_state *s = &l->s;
    if (timer_mode(s) == LAPIC_TIMER_TSC_DEADLINE)
        return; /* the initial count is ignored in TSC-deadline mode */
    if (s->timer_initial == 0) {
        disarm_timer(l);
        return;
    }
    /* A 1 GHz bus: one count is `divisor` nanoseconds. A periodic timer's
     * period has KVM's floor (irq/timer_floor.h), as in KVM; the current
     * count the guest reads still counts down from its own initial count. A
     * one-shot's deadline is exact unless arm() finds it back to back. */
    s->timer_period_ns = (uint64_t)s->timer_initial * timer_divisor(s);
    if (timer_mode(s) == LAPIC_TIMER_PERIODIC && s->timer_period_ns < IRQ_TIMER_MIN_PERIOD_NS)
        s->timer_period_ns = IRQ_TIMER_MIN_PERIOD_NS;
    arm(l, now_ns + s->timer_period_ns);
}

static uint32_t current_count(const struct lapic_state *s, uint64_t now_ns)
{
    if (!s->timer_deadline_ns || timer_mode(s) == LAPIC_TIMER_TSC_DEADLINE || now_ns >= s->timer_deadline_ns)
        return 0;
    uint64_t left = (s->timer_deadline_ns - now_ns) / timer_divisor(s);
    return left > s->timer_initial ? s->timer_initial : (uint32_t)left;
}

void lapic_timer_expired(struct lapic *l, uint64_t now_ns)
{
    pthread_mutex_lock(&l->lock);
    struct lapic_state *s = &l->s;
    if (s->timer_deadline_ns && now_ns >= s->timer_deadline_ns) {
        /* The floor counts from when the interrupt was due, so a late wake-up
         * of the timer thread does not delay the next one further. */
        l->last_timer_irq_ns = s->timer_deadline_ns;
        uint32_t lvt = s->lvt[LVT_TIMER];
        bool told = !(lvt & LAPIC_LVT_MASKED) && accept_locked(l, APIC_DM_FIXED, lvt & 0xff, false);
        if (timer_mode(s) == LAPIC_TIMER_PERIODIC && s->timer_period_ns) {
            uint64_t next = s->timer_deadline_ns + s->timer_period_ns;
            if (next <= now_ns) /* ticks missed while the host was busy coalesce into one */
                next = now_ns + s->timer_period_ns;
            arm(l, next);
        } else {
            s->timer_deadline_ns = 0;
            s->tsc_deadline = 0;
        }
        if (told && l->hooks.notify)
            l->hooks.notify(l->hooks.ctx);
    } else if (s->timer_deadline_ns && l->hooks.arm_timer) {
        l->hooks.arm_timer(l->hooks.ctx, s->timer_deadline_ns); /* early wake-up: wait again */
    }
    pthread_mutex_unlock(&l->lock);
}

uint64_t lapic_get_tsc_deadline(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t v = timer_mode(&l->s) == LAPIC_TIMER_TSC_DEADLINE ? l->s.tsc_deadline : 0;
    pthread_mutex_unlock(&l->lock);
    return v;
}

void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t deadline_ns)
{
    pthread_mutex_lock(&l->lock);
    if (timer_mode(&l->s) == LAPIC_TIMER_TSC_DEADLINE) { /* ignored in the other modes */
        disarm_timer(l);
        if (tsc) {
            l->s.tsc_deadline = tsc;
            arm(l, deadline_ns ? deadline_ns : 1); /* already due: fire at once */
        }
    }
    pthread_mutex_unlock(&l->lock);
}

/* --- priority, acknowledge, EOI ------------------------------------------------------ */

static int pending_locked(const struct lapic_state *s)
{
    if (!hw_enabled(s) || !sw_enabled(s))
        return -1;
    int irrv = highest(s->irr);
    if (irrv < 0 || ((uint32_t)irrv & 0xf0) <= (ppr_of(s) & 0xf0))
        return -1;
    return irrv;
}

int lapic_pending_vector(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    int v = pending_locked(&l->s);
    pthread_mutex_unlock(&l->lock);
    return v;
}

int lapic_acknowledge(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    int v = pending_locked(&l->s);
    if (v >= 0) {
        bit_clear(l->s.irr, (unsigned)v);
        bit_set(l->s.isr, (unsigned)v);
        l->delivered++;
    }
    pthread_mutex_unlock(&l->lock);
    return v;
}

/* Lock held. Returns the vector whose EOI the IOAPIC must see, or -1. */
static int eoi_locked(struct lapic *l)
{
    int v = highest(l->s.isr);
    if (v < 0)
        return -1;
    bit_clear(l->s.isr, (unsigned)v);
    return bit_test(l->s.tmr, (unsigned)v) ? v : -1;
}

bool lapic_accepts_extint(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    const struct lapic_state *s = &l->s;
    uint32_t lint0 = s->lvt[LVT_LINT0];
    bool yes = !hw_enabled(s) ||
               (sw_enabled(s) && !(lint0 & LAPIC_LVT_MASKED) && ((lint0 >> 8) & 7) == APIC_DM_EXTINT);
    pthread_mutex_unlock(&l->lock);
    return yes;
}

uint32_t lapic_take_events(struct lapic *l, uint8_t *sipi_vector)
{
    pthread_mutex_lock(&l->lock);
    struct lapic_state *s = &l->s;
    uint32_t ev = s->events;
    uint8_t vector = s->sipi_vector; /* an INIT's reset must not lose a SIPI that followed it */
    s->events = 0;
    if (ev & LAPIC_EVENT_INIT) {
        disarm_timer(l);
        reset_registers(s);
        s->wait_for_sipi = 1;
    }
    if (ev & LAPIC_EVENT_SIPI) {
        s->wait_for_sipi = 0;
        *sipi_vector = vector;
    }
    pthread_mutex_unlock(&l->lock);
    return ev;
}

bool lapic_waiting_for_sipi(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    bool w = l->s.wait_for_sipi;
    pthread_mutex_unlock(&l->lock);
    return w;
}

/* --- register access ---------------------------------------------------------------- */

static uint32_t read_locked(struct lapic *l, uint32_t off, uint64_t now_ns)
{
    const struct lapic_state *s = &l->s;
    if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
        return s->isr[(off - LAPIC_ISR) >> 4];
    if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80)
        return s->tmr[(off - LAPIC_TMR) >> 4];
    if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
        return s->irr[(off - LAPIC_IRR) >> 4];
    if (off >= LAPIC_LVT_TIMER_REG && off <= LAPIC_LVT_ERROR_REG)
        return s->lvt[(off - LAPIC_LVT_TIMER_REG) >> 4];
    switch (off) {
    case LAPIC_ID: return x2apic_mode(s) ? s->id : s->id << 24;
    case LAPIC_VERSION: return VERSION_REG;
    case LAPIC_TPR: return s->tpr;
    case LAPIC_PPR: return ppr_of(s);
    case LAPIC_LDR: return s->ldr;
    case LAPIC_DFR: return s->dfr;
    case LAPIC_SVR: return s->svr;
    case LAPIC_ESR: return s->esr;
    case LAPIC_ICR_LO: return s->icr_lo; /* delivery status always idle: IPIs are sent at once */
    case LAPIC_ICR_HI: return s->icr_hi;
    case LAPIC_TIMER_INITIAL: return s->timer_initial;
    case LAPIC_TIMER_CURRENT: return current_count(s, now_ns);
    case LAPIC_TIMER_DIVIDE: return s->timer_divide;
    default: return 0; /* APR, RRD, reserved */
    }
}

/* What a write asks the hooks to do once the lock is dropped. */
struct after_write {
    int eoi_vector;
    bool ipi;
    uint32_t icr_lo, dest;
};

static void write_lvt(struct lapic *l, unsigned index, uint32_t value)
{
    struct lapic_state *s = &l->s;
    uint32_t old_mode = timer_mode(s);
    value &= lvt_writable[index];
    if (!sw_enabled(s))
        value |= LAPIC_LVT_MASKED; /* a software-disabled APIC keeps its LVT masked */
    if (index == LVT_TIMER && ((value & LAPIC_TIMER_MODE_MASK) == LAPIC_TIMER_MODE_MASK))
        value &= ~LAPIC_TIMER_MODE_MASK; /* mode 3 is reserved */
    s->lvt[index] = (s->lvt[index] & ~lvt_writable[index]) | value;
    if (index == LVT_TIMER && timer_mode(s) != old_mode)
        disarm_timer(l); /* a mode change stops the count */
}

static void write_locked(struct lapic *l, uint32_t off, uint32_t value, uint64_t now_ns, struct after_write *aw)
{
    struct lapic_state *s = &l->s;
    if (off >= LAPIC_LVT_TIMER_REG && off <= LAPIC_LVT_ERROR_REG) {
        write_lvt(l, (off - LAPIC_LVT_TIMER_REG) >> 4, value);
        return;
    }
    switch (off) {
    case LAPIC_ID:
        if (!x2apic_mode(s))
            s->id = value >> 24;
        return;
    case LAPIC_TPR: s->tpr = value & 0xff; return;
    case LAPIC_EOI: aw->eoi_vector = eoi_locked(l); return;
    case LAPIC_LDR:
        if (!x2apic_mode(s))
            s->ldr = value & 0xff000000u;
        return;
    case LAPIC_DFR:
        if (!x2apic_mode(s))
            s->dfr = value | 0x0fffffffu;
        return;
    case LAPIC_SVR:
        s->svr = value & 0x3ff;
        if (!sw_enabled(s))
            for (int i = 0; i < LAPIC_LVT_COUNT; i++)
                s->lvt[i] |= LAPIC_LVT_MASKED;
        return;
    case LAPIC_ESR: /* a write latches the errors seen since the last one */
        s->esr = s->esr_pending;
        s->esr_pending = 0;
        return;
    case LAPIC_ICR_HI: s->icr_hi = value & 0xff000000u; return;
    case LAPIC_ICR_LO:
        s->icr_lo = value & ~(1u << 12);
        aw->ipi = true;
        aw->icr_lo = s->icr_lo;
        aw->dest = s->icr_hi >> 24;
        return;
    case LAPIC_TIMER_INITIAL:
        s->timer_initial = value;
        start_count(l, now_ns);
        return;
    case LAPIC_TIMER_DIVIDE: s->timer_divide = value & 0xb; return;
    default:
        s->esr_pending |= ESR_ILLEGAL_REGISTER;
        warn_once(l, WARN_REGISTER, "write 0x%x to read-only or reserved register 0x%x", value, off);
        return;
    }
}

/* An IPI whose vector is illegal is not sent; the sender's ESR says so. */
static bool ipi_sane(struct lapic *l, uint32_t icr_lo)
{
    unsigned mode = (icr_lo >> 8) & 7;
    if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST) && (icr_lo & 0xff) < 16) {
        pthread_mutex_lock(&l->lock);
        l->s.esr_pending |= ESR_SEND_ILLEGAL_VECTOR;
        warn_once(l, WARN_VECTOR, "sent an IPI with illegal vector %u (mode %u)", icr_lo & 0xff, mode);
        pthread_mutex_unlock(&l->lock);
        return false;
    }
    /* INIT level de-assert: a no-op on every APIC since the Pentium 4. */
    if (mode == APIC_DM_INIT && (icr_lo & LAPIC_LVT_LEVEL) && !(icr_lo & (1u << 14)))
        return false;
    return true;
}

static void finish_write(struct lapic *l, const struct after_write *aw)
{
    if (aw->eoi_vector >= 0 && l->hooks.eoi)
        l->hooks.eoi(l->hooks.ctx, (uint8_t)aw->eoi_vector);
    if (aw->ipi && ipi_sane(l, aw->icr_lo) && l->hooks.send_ipi)
        l->hooks.send_ipi(l->hooks.ctx, l, aw->icr_lo, aw->dest);
}

uint32_t lapic_mmio_read(struct lapic *l, uint64_t offset, uint64_t now_ns)
{
    if (offset & 0xf || offset >= LAPIC_MMIO_SIZE)
        return 0;
    pthread_mutex_lock(&l->lock);
    uint32_t v = x2apic_mode(&l->s) ? 0 : read_locked(l, (uint32_t)offset, now_ns);
    pthread_mutex_unlock(&l->lock);
    return v;
}

void lapic_mmio_write(struct lapic *l, uint64_t offset, uint32_t value, uint64_t now_ns)
{
    if (offset & 0xf || offset >= LAPIC_MMIO_SIZE)
        return;
    struct after_write aw = {.eoi_vector = -1};
    pthread_mutex_lock(&l->lock);
    if (!x2apic_mode(&l->s)) /* in x2APIC mode the page is gone */
        write_locked(l, (uint32_t)offset, value, now_ns, &aw);
    pthread_mutex_unlock(&l->lock);
    finish_write(l, &aw);
}

int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *value, uint64_t now_ns)
{
    if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
        return -1;
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    pthread_mutex_lock(&l->lock);
    int r = 0;
    if (!x2apic_mode(&l->s) || off == LAPIC_DFR || off == LAPIC_EOI || off == LAPIC_SELF_IPI || off == LAPIC_APR ||
        off == LAPIC_RRD || off == LAPIC_ICR_HI)
        r = -1; /* not readable in x2APIC mode */
    else if (off == LAPIC_ICR_LO)
        *value = ((uint64_t)l->s.icr_hi << 32) | l->s.icr_lo;
    else
        *value = read_locked(l, off, now_ns);
    pthread_mutex_unlock(&l->lock);
    return r;
}

int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t value, uint64_t now_ns)
{
    if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
        return -1;
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    struct after_write aw = {.eoi_vector = -1};
    int r = 0;
    pthread_mutex_lock(&l->lock);
    struct lapic_state *s = &l->s;
    if (!x2apic_mode(s)) {
        r = -1;
    } else if (off == LAPIC_ICR_LO) { /* one 64-bit register: destination in 63-32 */
        s->icr_hi = (uint32_t)(value >> 32);
        s->icr_lo = (uint32_t)value & ~(1u << 12);
        aw.ipi = true;
        aw.icr_lo = s->icr_lo;
        aw.dest = s->icr_hi;
    } else if (off == LAPIC_SELF_IPI) {
        aw.ipi = true;
        aw.icr_lo = (uint32_t)(value & 0xff) | (1u << 18); /* fixed, shorthand "self" */
    } else if (value >> 32 || off == LAPIC_ID || off == LAPIC_LDR || off == LAPIC_DFR || off == LAPIC_ICR_HI ||
               off == LAPIC_PPR || off == LAPIC_VERSION || off == LAPIC_TIMER_CURRENT ||
               (off >= LAPIC_ISR && off < LAPIC_IRR + 0x80) || (off == LAPIC_EOI && value != 0)) {
        r = -1; /* read-only, reserved bits or a non-zero EOI write: #GP in x2APIC mode */
    } else {
        write_locked(l, off, (uint32_t)value, now_ns, &aw);
    }
    pthread_mutex_unlock(&l->lock);
    finish_write(l, &aw);
    return r;
}

uint64_t lapic_get_base(struct lapic *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t v = l->s.apic_base;
    pthread_mutex_unlock(&l->lock);
    return v;
}

int lapic_set_base(struct lapic *l, uint64_t value)
{
    pthread_mutex_lock(&l->lock);
    struct lapic_state *s = &l->s;
    uint64_t old = s->apic_base;
    value = (value & (LAPIC_BASE_ADDR | LAPIC_BASE_X2APIC | LAPIC_BASE_ENABLE)) | (old & LAPIC_BASE_BSP);
    bool en = value & LAPIC_BASE_ENABLE, x2 = value & LAPIC_BASE_X2APIC;
    bool was_en = old & LAPIC_BASE_ENABLE, was_x2 = old & LAPIC_BASE_X2APIC;
    int r = 0;
    /* The SDM's state machine: x2APIC needs the enable bit, is entered from
     * xAPIC only, and is left only by disabling the APIC. */
    if ((x2 && !en) || (x2 && !was_en) || (was_x2 && en && !x2)) {
        warn_once(l, WARN_BASE, "invalid APIC base transition to 0x%x (from mode %u)", (uint32_t)value,
                  (uint32_t)((old >> 10) & 3));
        r = -1;
    } else {
        s->apic_base = value;
        if (!en && was_en) { /* disabling resets the APIC */
            disarm_timer(l);
            reset_registers(s);
        } else if (x2 && !was_x2) {
            s->ldr = ((s->id >> 4) << 16) | (1u << (s->id & 0xf));
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

bool lapic_in_mmio_page(struct lapic *l, uint64_t gpa)
{
    pthread_mutex_lock(&l->lock);
    uint64_t base = l->s.apic_base;
    pthread_mutex_unlock(&l->lock);
    return (base & LAPIC_BASE_ENABLE) && !(base & LAPIC_BASE_X2APIC) && gpa >= (base & LAPIC_BASE_ADDR) &&
           gpa < (base & LAPIC_BASE_ADDR) + LAPIC_MMIO_SIZE;
}

/* --- state ------------------------------------------------------------------------------- */

void lapic_get_state(struct lapic *l, struct lapic_state *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->s;
    pthread_mutex_unlock(&l->lock);
}

void lapic_set_state(struct lapic *l, const struct lapic_state *in)
{
    pthread_mutex_lock(&l->lock);
    l->s = *in;
    if (l->hooks.arm_timer)
        l->hooks.arm_timer(l->hooks.ctx, l->s.timer_deadline_ns);
    pthread_mutex_unlock(&l->lock);
}

static size_t dump_map(char *buf, size_t len, const char *name, const uint32_t *map)
{
    size_t n = (size_t)snprintf(buf, len, "  %s:", name);
    bool any = false;
    for (unsigned v = 0; v < 256 && n < len; v++)
        if (bit_test(map, v)) {
            n += (size_t)snprintf(buf + n, len - n, " 0x%02x", v);
            any = true;
        }
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s\n", any ? "" : " -");
    return n < len ? n : len;
}

size_t lapic_dump(struct lapic *l, char *buf, size_t len)
{
    static const char *const lvt_names[LAPIC_LVT_COUNT] = {"timer", "thermal", "perf", "lint0", "lint1", "error"};
    static const char *const modes[] = {"one-shot", "periodic", "tsc-deadline", "reserved"};
    struct lapic_state s;
    lapic_get_state(l, &s);
    size_t n = (size_t)snprintf(buf, len,
                                "lapic %u: base 0x%llx (%s%s) svr 0x%x (%s) tpr 0x%02x ppr 0x%02x ldr 0x%08x dfr 0x%08x "
                                "esr 0x%x%s, %llu delivered\n",
                                s.id, (unsigned long long)(s.apic_base & LAPIC_BASE_ADDR),
                                (s.apic_base & LAPIC_BASE_ENABLE) ? "enabled" : "disabled",
                                (s.apic_base & LAPIC_BASE_X2APIC) ? ", x2apic" : "", s.svr,
                                (s.svr & LAPIC_SVR_ENABLE) ? "on" : "off", s.tpr, ppr_of(&s), s.ldr, s.dfr, s.esr,
                                s.wait_for_sipi ? ", waiting for SIPI" : "", (unsigned long long)l->delivered);
    const char *maps[] = {"irr", "isr", "tmr"};
    const uint32_t *ptrs[] = {s.irr, s.isr, s.tmr};
    for (int i = 0; i < 3 && n < len; i++)
        n += dump_map(buf + n, len - n, maps[i], ptrs[i]);
    for (int i = 0; i < LAPIC_LVT_COUNT && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "  lvt %-7s 0x%05x: vector 0x%02x mode %u%s\n", lvt_names[i], s.lvt[i],
                              s.lvt[i] & 0xff, (s.lvt[i] >> 8) & 7, (s.lvt[i] & LAPIC_LVT_MASKED) ? " masked" : "");
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "  timer: %s, initial %u, divide 0x%x, %s\n",
                              modes[(s.lvt[LVT_TIMER] >> 17) & 3], s.timer_initial, s.timer_divide,
                              s.timer_deadline_ns ? "armed" : "idle");
    return n < len ? n : len;
}
