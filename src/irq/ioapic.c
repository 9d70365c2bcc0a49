#include "irq/ioapic.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

#define REG_ID  0x00
#define REG_VER 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10
#define VERSION 0x11
/* Bits the guest may write in a redirection entry (DELIVS, REMOTE_IRR are ours). */
#define RTE_WRITABLE (~(IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR))

void ioapic_init(struct ioapic *io, uint8_t id, void (*send_msi)(void *, uint64_t, uint32_t), void *ctx)
{
    memset(io, 0, sizeof(*io));
    pthread_mutex_init(&io->lock, NULL);
    io->s.id = id;
    for (int i = 0; i < IOAPIC_PINS; i++)
        io->s.redir[i] = IOAPIC_RTE_MASKED; /* reset: every pin masked */
    io->send_msi = send_msi;
    io->ctx = ctx;
}

void ioapic_destroy(struct ioapic *io) { pthread_mutex_destroy(&io->lock); }

/* Whether an entry can be delivered at all; nonsense is reported once per pin. */
static bool entry_sane(struct ioapic *io, unsigned pin, uint64_t e)
{
    unsigned mode = IOAPIC_RTE_DELMODE(e);
    const char *why = NULL;
    if (mode == 3 || mode == 6)
        why = "reserved delivery mode";
    else if ((mode == 0 || mode == 1) && (e & IOAPIC_RTE_VECTOR) < 16)
        why = "vector below 16";
    if (!why)
        return true;
    if (!(io->warned & (1u << pin))) {
        /* Once per programming; a rewrite is judged afresh, so a guest that
         * rewrites the entry in a loop is held to the rate limit. */
        static struct log_ratelimit nonsense_entry_log;
        io->warned |= 1u << pin;
        log_warn_ratelimited(&nonsense_entry_log, "ioapic: pin %u programmed with a %s (entry 0x%016llx); interrupt ignored", pin, why,
                 (unsigned long long)e);
    }
    return false;
}

void ioapic_rte_to_msi(uint64_t e, uint64_t *address, uint32_t *data)
{
    *address = 0xfee00000ULL | ((uint64_t)IOAPIC_RTE_DEST(e) << 12) | ((e & IOAPIC_RTE_DESTMODE) ? 4 : 0);
    *data = (uint32_t)(e & IOAPIC_RTE_VECTOR) | (IOAPIC_RTE_DELMODE(e) << 8);
    if (e & IOAPIC_RTE_LEVEL)
        *data |= (1u << 15) | (1u << 14); /* level-triggered, asserted */
}

/* Sends pin's interrupt as an MSI: the LAPIC message an IOAPIC puts on the
 * bus, in the format KVM_SIGNAL_MSI and the LAPIC take. Caller holds the lock. */
static void deliver(struct ioapic *io, unsigned pin)
{
    uint64_t e = io->s.redir[pin];
    if (!entry_sane(io, pin, e))
        return;
    uint64_t address;
    uint32_t data;
    ioapic_rte_to_msi(e, &address, &data);
    if (e & IOAPIC_RTE_LEVEL)
        io->s.redir[pin] |= IOAPIC_RTE_REMOTE_IRR;
    io->delivered++;
    if (io->send_msi)
        io->send_msi(io->ctx, address, data);
}

/* A level entry delivers whenever its line is high, unmasked and not
 * awaiting EOI. Caller holds the lock. */
static void service_level(struct ioapic *io, unsigned pin)
{
    uint64_t e = io->s.redir[pin];
    if ((e & IOAPIC_RTE_LEVEL) && (io->s.irr & (1u << pin)) && !(e & IOAPIC_RTE_MASKED) &&
        !(e & IOAPIC_RTE_REMOTE_IRR))
        deliver(io, pin);
}

void ioapic_set_line(struct ioapic *io, unsigned pin, int level)
{
    if (pin >= IOAPIC_PINS)
        return;
    pthread_mutex_lock(&io->lock);
    uint32_t bit = 1u << pin;
    bool was = io->s.irr & bit;
    if (level)
        io->s.irr |= bit;
    else
        io->s.irr &= ~bit;
    uint64_t e = io->s.redir[pin];
    if (e & IOAPIC_RTE_LEVEL)
        service_level(io, pin);
    else if (level && !was && !(e & IOAPIC_RTE_MASKED))
        deliver(io, pin); /* an edge while masked is lost, as on hardware */
    pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
    pthread_mutex_lock(&io->lock);
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t e = io->s.redir[pin];
        if ((e & IOAPIC_RTE_LEVEL) && (e & IOAPIC_RTE_VECTOR) == vector && (e & IOAPIC_RTE_REMOTE_IRR)) {
            io->s.redir[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
            service_level(io, pin);
        }
    }
    pthread_mutex_unlock(&io->lock);
}

static uint32_t read_reg(struct ioapic *io)
{
    uint32_t sel = io->s.ioregsel & 0xff;
    switch (sel) {
    case REG_ID: return (io->s.id & 0xf) << 24;
    case REG_VER: return ((IOAPIC_PINS - 1) << 16) | VERSION;
    case REG_ARB: return (io->s.id & 0xf) << 24;
    default:
        if (sel >= REG_REDIR && sel < REG_REDIR + 2 * IOAPIC_PINS) {
            uint64_t e = io->s.redir[(sel - REG_REDIR) / 2];
            return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        return 0xffffffff;
    }
}

static void write_reg(struct ioapic *io, uint32_t v)
{
    uint32_t sel = io->s.ioregsel & 0xff;
    if (sel == REG_ID) {
        io->s.id = (v >> 24) & 0xf;
        return;
    }
    if (sel < REG_REDIR || sel >= REG_REDIR + 2 * IOAPIC_PINS)
        return; /* VER, ARB and unknown registers are read-only */
    unsigned pin = (sel - REG_REDIR) / 2;
    uint64_t e = io->s.redir[pin], keep = e & ~RTE_WRITABLE;
    if (sel & 1)
        e = (e & 0xffffffffULL) | ((uint64_t)v << 32);
    else
        e = (e & 0xffffffff00000000ULL) | v;
    io->s.redir[pin] = (e & RTE_WRITABLE) | keep;
    if (!(io->s.redir[pin] & IOAPIC_RTE_LEVEL))
        io->s.redir[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
    io->warned &= ~(1u << pin); /* new programming gets judged afresh */
    service_level(io, pin);     /* unmasking a held level line delivers it */
}

static void ioapic_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct ioapic *io = opaque;
    uint32_t v = 0xffffffff;
    pthread_mutex_lock(&io->lock);
    if (off == 0x00)
        v = io->s.ioregsel;
    else if (off == 0x10)
        v = read_reg(io);
    pthread_mutex_unlock(&io->lock);
    memset(data, 0xff, size);
    memcpy(data, &v, size < 4 ? size : 4);
}

static void ioapic_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    struct ioapic *io = opaque;
    uint32_t v = 0;
    memcpy(&v, data, size < 4 ? size : 4);
    if (off == 0x40) { /* EOI register (IOAPIC version 0x20 and later; harmless here) */
        ioapic_eoi(io, (uint8_t)v);
        return;
    }
    pthread_mutex_lock(&io->lock);
    if (off == 0x00)
        io->s.ioregsel = v & 0xff;
    else if (off == 0x10)
        write_reg(io, v);
    pthread_mutex_unlock(&io->lock);
}

void ioapic_get_state(struct ioapic *io, struct ioapic_state *out)
{
    pthread_mutex_lock(&io->lock);
    *out = io->s;
    pthread_mutex_unlock(&io->lock);
}

void ioapic_set_state(struct ioapic *io, const struct ioapic_state *in)
{
    pthread_mutex_lock(&io->lock);
    io->s = *in;
    io->warned = 0;
    pthread_mutex_unlock(&io->lock);
}

size_t ioapic_dump(struct ioapic *io, char *buf, size_t len)
{
    struct ioapic_state s;
    ioapic_get_state(io, &s);
    size_t n = (size_t)snprintf(buf, len, "ioapic id %u ioregsel 0x%02x irr 0x%06x\n", s.id, s.ioregsel, s.irr);
    for (int i = 0; i < IOAPIC_PINS && n < len; i++) {
        uint64_t e = s.redir[i];
        n += (size_t)snprintf(buf + n, len - n, "  pin %2d: vec 0x%02llx mode %llu dest %u%s %s%s%s%s\n", i,
                              (unsigned long long)(e & IOAPIC_RTE_VECTOR), (unsigned long long)IOAPIC_RTE_DELMODE(e),
                              IOAPIC_RTE_DEST(e), (e & IOAPIC_RTE_DESTMODE) ? " logical" : "",
                              (e & IOAPIC_RTE_LEVEL) ? "level" : "edge", (e & IOAPIC_RTE_MASKED) ? " masked" : "",
                              (e & IOAPIC_RTE_REMOTE_IRR) ? " remote-irr" : "", (s.irr & (1u << i)) ? " line-high" : "");
    }
    return n < len ? n : len;
}

const struct bus_device_ops ioapic_mmio_ops = {.name = "ioapic", .read = ioapic_read, .write = ioapic_write};
