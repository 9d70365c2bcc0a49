#include "irq/pic.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

#define MASTER 0
#define SLAVE 1
#define CASCADE_IRQ 2
/* ELCR bits that may be set: IRQ 0, 1, 2 (master) and 8, 13 (slave) are edge-only. */
static const uint8_t elcr_mask[2] = {0xf8, 0xde};

/* Priority (0 highest) of the highest set bit of `mask`, given the rotation; 8 if none. */
static int priority_of(const struct pic_chip_state *c, uint8_t mask)
{
    if (!mask)
        return 8;
    int p = 0;
    while (!(mask & (1u << ((p + c->priority_add) & 7))))
        p++;
    return p;
}

/* The IRQ (0-7) this chip would raise now, or -1. */
static int chip_pending(const struct pic_chip_state *c, bool is_master)
{
    int p = priority_of(c, (uint8_t)(c->irr & ~c->imr));
    if (p == 8)
        return -1;
    uint8_t in_service = c->isr;
    if (c->special_mask)
        in_service &= (uint8_t)~c->imr;
    if (is_master && c->special_fully_nested)
        in_service &= (uint8_t)~(1u << CASCADE_IRQ);
    return p < priority_of(c, in_service) ? (p + c->priority_add) & 7 : -1;
}

static void chip_set_line(struct pic_chip_state *c, unsigned irq, int level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (c->elcr & bit) { /* level-triggered: IRR follows the line */
        if (level)
            c->irr |= bit;
        else
            c->irr &= (uint8_t)~bit;
    } else if (level && !(c->last_level & bit)) {
        c->irr |= bit; /* rising edge */
    }
    if (level)
        c->last_level |= bit;
    else
        c->last_level &= (uint8_t)~bit;
}

/* Recomputes the cascade line and the INT output. Caller holds the lock. */
static void update(struct pic *pic)
{
    chip_set_line(&pic->s.chip[MASTER], CASCADE_IRQ, chip_pending(&pic->s.chip[SLAVE], false) >= 0);
    uint8_t out = chip_pending(&pic->s.chip[MASTER], true) >= 0;
    if (out != pic->s.output) {
        pic->s.output = out;
        if (pic->output)
            pic->output(pic->ctx, out);
    }
}

static void chip_ack(struct pic_chip_state *c, int irq)
{
    if (c->auto_eoi) {
        if (c->rotate_on_auto_eoi)
            c->priority_add = (uint8_t)((irq + 1) & 7);
    } else {
        c->isr |= (uint8_t)(1u << irq);
    }
    if (!(c->elcr & (1u << irq)))
        c->irr &= (uint8_t)~(1u << irq); /* an edge request is consumed */
}

/* INTA for the pair, lock held. */
static uint8_t acknowledge_locked(struct pic *pic)
{
    struct pic_chip_state *m = &pic->s.chip[MASTER], *sl = &pic->s.chip[SLAVE];
    int irq = chip_pending(m, true);
    uint8_t vector;
    if (irq < 0) {
        pic->spurious++;
        vector = (uint8_t)(m->irq_base + 7); /* spurious IRQ 7 */
    } else if (irq == CASCADE_IRQ) {
        int irq2 = chip_pending(sl, false);
        if (irq2 >= 0) {
            chip_ack(sl, irq2);
        } else {
            pic->spurious++;
            irq2 = 7; /* spurious IRQ 15 */
        }
        vector = (uint8_t)(sl->irq_base + irq2);
        chip_ack(m, irq);
    } else {
        vector = (uint8_t)(m->irq_base + irq);
        chip_ack(m, irq);
    }
    update(pic);
    return vector;
}

void pic_init(struct pic *pic, void (*output)(void *, int), void *ctx)
{
    memset(pic, 0, sizeof(*pic));
    pthread_mutex_init(&pic->lock, NULL);
    pic->output = output;
    pic->ctx = ctx;
}

void pic_destroy(struct pic *pic) { pthread_mutex_destroy(&pic->lock); }

void pic_set_irq(struct pic *pic, unsigned irq, int level)
{
    if (irq >= 16 || irq == CASCADE_IRQ)
        return;
    pthread_mutex_lock(&pic->lock);
    chip_set_line(&pic->s.chip[irq >> 3], irq & 7, level);
    update(pic);
    pthread_mutex_unlock(&pic->lock);
}

uint8_t pic_acknowledge(struct pic *pic)
{
    pthread_mutex_lock(&pic->lock);
    uint8_t v = acknowledge_locked(pic);
    pthread_mutex_unlock(&pic->lock);
    return v;
}

static void chip_write(struct pic *pic, int which, unsigned port, uint8_t v)
{
    struct pic_chip_state *c = &pic->s.chip[which];
    if (port == 0) {
        if (v & 0x10) { /* ICW1: start initialisation; ELCR survives */
            uint8_t elcr = c->elcr;
            memset(c, 0, sizeof(*c));
            c->elcr = elcr;
            c->init_state = 1;
            c->init4 = v & 1;
            c->single = (v >> 1) & 1;
            /* ICW1 is a plain port write: a guest can repeat it at will. */
            static struct log_ratelimit ltim_log;
            if (v & 0x08)
                log_warn_ratelimited(&ltim_log, "pic: level-triggered mode via ICW1 (LTIM) is not supported; use the ELCR");
        } else if (v & 0x08) { /* OCW3 */
            if (v & 0x04)
                c->poll = 1;
            if (v & 0x02)
                c->read_isr = v & 1;
            if (v & 0x40)
                c->special_mask = (v >> 5) & 1;
        } else { /* OCW2 */
            unsigned cmd = v >> 5, irq = v & 7;
            int p;
            switch (cmd) {
            case 0: case 4: c->rotate_on_auto_eoi = (uint8_t)(cmd >> 2); break;
            case 1: case 5: /* non-specific EOI (5: and rotate) */
                p = priority_of(c, c->isr);
                if (p != 8) {
                    irq = (unsigned)(p + c->priority_add) & 7;
                    c->isr &= (uint8_t)~(1u << irq);
                    if (cmd == 5)
                        c->priority_add = (uint8_t)((irq + 1) & 7);
                }
                break;
            case 3: c->isr &= (uint8_t)~(1u << irq); break; /* specific EOI */
            case 6: c->priority_add = (uint8_t)((irq + 1) & 7); break; /* set priority */
            case 7: /* specific EOI and rotate */
                c->isr &= (uint8_t)~(1u << irq);
                c->priority_add = (uint8_t)((irq + 1) & 7);
                break;
            default: break; /* 2: no operation */
            }
        }
    } else {
        switch (c->init_state) {
        case 0: c->imr = v; break; /* OCW1 */
        case 1: /* ICW2: vector base */
            c->irq_base = v & 0xf8;
            c->init_state = c->single ? (c->init4 ? 3 : 0) : 2;
            break;
        case 2: c->init_state = c->init4 ? 3 : 0; break; /* ICW3: cascade wiring is fixed */
        case 3: /* ICW4 */
            c->special_fully_nested = (v >> 4) & 1;
            c->auto_eoi = (v >> 1) & 1;
            c->init_state = 0;
            break;
        }
    }
    update(pic);
}

static uint8_t chip_read(struct pic *pic, int which, unsigned port)
{
    struct pic_chip_state *c = &pic->s.chip[which];
    if (c->poll) { /* poll mode: the read is the acknowledge */
        c->poll = 0;
        int irq = chip_pending(c, which == MASTER);
        if (irq < 0)
            return 0;
        chip_ack(c, irq);
        update(pic);
        return (uint8_t)(0x80 | irq);
    }
    if (port == 0)
        return c->read_isr ? c->isr : c->irr;
    return c->imr;
}

static void pic_io_read(struct pic *pic, int which, uint64_t off, uint8_t *data, uint32_t size)
{
    pthread_mutex_lock(&pic->lock);
    data[0] = chip_read(pic, which, (unsigned)off);
    pthread_mutex_unlock(&pic->lock);
    memset(data + 1, 0xff, size - 1);
}

static void pic_io_write(struct pic *pic, int which, uint64_t off, const uint8_t *data)
{
    pthread_mutex_lock(&pic->lock);
    chip_write(pic, which, (unsigned)off, data[0]);
    pthread_mutex_unlock(&pic->lock);
}

static void master_read(void *o, uint64_t off, uint8_t *d, uint32_t size) { pic_io_read(o, MASTER, off, d, size); }
static void slave_read(void *o, uint64_t off, uint8_t *d, uint32_t size) { pic_io_read(o, SLAVE, off, d, size); }
static void master_write(void *o, uint64_t off, const uint8_t *d, uint32_t size) { (void)size; pic_io_write(o, MASTER, off, d); }
static void slave_write(void *o, uint64_t off, const uint8_t *d, uint32_t size) { (void)size; pic_io_write(o, SLAVE, off, d); }

static void elcr_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct pic *pic = o;
    pthread_mutex_lock(&pic->lock);
    d[0] = pic->s.chip[off & 1].elcr;
    pthread_mutex_unlock(&pic->lock);
    memset(d + 1, 0xff, size - 1);
}

static void elcr_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct pic *pic = o;
    (void)size;
    pthread_mutex_lock(&pic->lock);
    pic->s.chip[off & 1].elcr = d[0] & elcr_mask[off & 1];
    update(pic);
    pthread_mutex_unlock(&pic->lock);
}

void pic_get_state(struct pic *pic, struct pic_state *out)
{
    pthread_mutex_lock(&pic->lock);
    *out = pic->s;
    pthread_mutex_unlock(&pic->lock);
}

void pic_set_state(struct pic *pic, const struct pic_state *in)
{
    pthread_mutex_lock(&pic->lock);
    pic->s = *in;
    pthread_mutex_unlock(&pic->lock);
}

size_t pic_dump(struct pic *pic, char *buf, size_t len)
{
    struct pic_state s;
    pic_get_state(pic, &s);
    size_t n = 0;
    for (int i = 0; i < 2 && n < len; i++) {
        const struct pic_chip_state *c = &s.chip[i];
        n += (size_t)snprintf(buf + n, len - n,
                              "pic %s: base 0x%02x irr 0x%02x isr 0x%02x imr 0x%02x elcr 0x%02x prio+%u%s%s%s\n",
                              i ? "slave " : "master", c->irq_base, c->irr, c->isr, c->imr, c->elcr, c->priority_add,
                              c->auto_eoi ? " auto-eoi" : "", c->special_mask ? " special-mask" : "",
                              c->init_state ? " initialising" : "");
    }
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "pic output: %s\n", s.output ? "high" : "low");
    return n < len ? n : len;
}

const struct bus_device_ops pic_master_ops = {.name = "pic-master", .read = master_read, .write = master_write};
const struct bus_device_ops pic_slave_ops = {.name = "pic-slave", .read = slave_read, .write = slave_write};
const struct bus_device_ops pic_elcr_ops = {.name = "pic-elcr", .read = elcr_read, .write = elcr_write};
