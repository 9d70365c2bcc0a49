/* An 82093AA-style IOAPIC model (24 pins, version 0x11), for the split and
 * user-space irqchip modes where ember, not KVM, owns it (issue 5). Devices
 * raise and lower pins; the model turns an unmasked edge, or a level held
 * with remote IRR clear, into an MSI-format message to the LAPICs, through
 * the send_msi hook the irqchip mode provides. Level interrupts stay blocked
 * (remote IRR) until the LAPIC's EOI comes back through ioapic_eoi().
 * A guest that programs nonsense (reserved delivery modes, vectors 0-15) is
 * logged once per programming of a pin (rate-limited) and ignored.
 * Status: a complete, unit-tested model; not yet wired into a VM mode. */
#ifndef EMBER_IRQ_IOAPIC_H
#define EMBER_IRQ_IOAPIC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define IOAPIC_PINS 24
#define IOAPIC_MMIO_SIZE 0x100

/* Redirection entry bits. */
#define IOAPIC_RTE_VECTOR     0xffULL
#define IOAPIC_RTE_DELMODE(e) (((e) >> 8) & 7)
#define IOAPIC_RTE_DESTMODE   (1ULL << 11)
#define IOAPIC_RTE_DELIVS     (1ULL << 12) /* read-only */
#define IOAPIC_RTE_POLARITY   (1ULL << 13)
#define IOAPIC_RTE_REMOTE_IRR (1ULL << 14) /* read-only */
#define IOAPIC_RTE_LEVEL      (1ULL << 15)
#define IOAPIC_RTE_MASKED     (1ULL << 16)
#define IOAPIC_RTE_DEST(e)    ((uint32_t)((e) >> 56))

/* Everything a snapshot needs: read and written as a whole. */
struct ioapic_state {
    uint32_t id;
    uint32_t ioregsel;
    uint32_t irr;        /* pins whose line is asserted */
    uint64_t redir[IOAPIC_PINS];
};

struct ioapic {
    pthread_mutex_t lock;
    struct ioapic_state s;
    uint32_t warned;     /* pins already reported for nonsense programming */
    uint64_t delivered;  /* messages sent */
    void (*send_msi)(void *ctx, uint64_t address, uint32_t data);
    void *ctx;
};

void ioapic_init(struct ioapic *io, uint8_t id, void (*send_msi)(void *, uint64_t, uint32_t), void *ctx);
void ioapic_destroy(struct ioapic *io);
/* A device's line: level 1 asserted, 0 deasserted. Pins out of range are ignored. */
void ioapic_set_line(struct ioapic *io, unsigned pin, int level);
/* The LAPIC signalled EOI for `vector`: clears remote IRR of level entries
 * with that vector and redelivers any whose line is still asserted. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);
/* The MSI address/data an entry sends (what KVM's GSI routes mirror in split mode). */
void ioapic_rte_to_msi(uint64_t rte, uint64_t *address, uint32_t *data);
void ioapic_get_state(struct ioapic *io, struct ioapic_state *out);
void ioapic_set_state(struct ioapic *io, const struct ioapic_state *in);
/* A readable dump of the whole state, for debugging. Returns bytes written. */
size_t ioapic_dump(struct ioapic *io, char *buf, size_t len);
extern const struct bus_device_ops ioapic_mmio_ops; /* at 0xfec00000, IOAPIC_MMIO_SIZE */

#endif
