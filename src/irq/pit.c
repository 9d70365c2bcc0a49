#include "irq/pit.h"
#include "irq/timer_floor.h"
#include "util/clock.h"

#include <string.h>
#include <time.h>

void pit_init(struct pit *pit, uint64_t (*now_ns)(void))
{
    memset(pit, 0, sizeof(*pit));
    pthread_mutex_init(&pit->lock, NULL);
    pit->now_ns = now_ns ? now_ns : clock_monotonic_ns;
    for (int i = 0; i < 3; i++) {
        pit->s.ch[i].gate = i != 2; /* channels 0 and 1 are always gated on; 2 via port 0x61 */
        pit->s.ch[i].reload = 65536;
    }
}

void pit_destroy(struct pit *pit) { pthread_mutex_destroy(&pit->lock); }

static uint64_t ticks_since(const struct pit_channel_state *c, uint64_t now)
{
    if (!c->loaded || now < c->load_ns)
        return 0;
    uint64_t ns = now - c->load_ns;
    /* ns * PIT_HZ / 1e9 without overflow for any realistic uptime */
    return (ns / 1000000000ULL) * PIT_HZ + (ns % 1000000000ULL) * PIT_HZ / 1000000000ULL;
}

static uint16_t count_at(const struct pit_channel_state *c, uint64_t now)
{
    uint64_t e = ticks_since(c, now), r = c->reload;
    switch (c->mode) {
    case 2: return (uint16_t)(r - e % r);
    case 3: return (uint16_t)((r - (2 * e) % r) & 0xfffe); /* counts down by 2 per tick */
    default: return (uint16_t)((r - e) & 0xffff);          /* 0, 1, 4, 5: wraps after 0 */
    }
}

static bool output_at(const struct pit_channel_state *c, uint64_t now)
{
    if (!c->loaded)
        return c->mode != 0; /* mode 0 output starts low once programmed */
    uint64_t e = ticks_since(c, now), r = c->reload;
    switch (c->mode) {
    case 0: return e >= r;
    case 2: return e % r != r - 1; /* low for the last tick of each period */
    case 3: return e % r < (r + 1) / 2;
    default: return e >= r;
    }
}

uint16_t pit_count(struct pit *pit, int ch)
{
    pthread_mutex_lock(&pit->lock);
    uint16_t v = count_at(&pit->s.ch[ch], pit->now_ns());
    pthread_mutex_unlock(&pit->lock);
    return v;
}

bool pit_output(struct pit *pit, int ch)
{
    pthread_mutex_lock(&pit->lock);
    bool v = output_at(&pit->s.ch[ch], pit->now_ns());
    pthread_mutex_unlock(&pit->lock);
    return v;
}

/* Time of tick number `t` after loading. */
static uint64_t tick_time(const struct pit_channel_state *c, uint64_t t)
{
    return c->load_ns + (t / PIT_HZ) * 1000000000ULL + (t % PIT_HZ) * 1000000000ULL / PIT_HZ + 1;
}

uint64_t pit_next_irq_ns(struct pit *pit, uint64_t now)
{
    pthread_mutex_lock(&pit->lock);
    const struct pit_channel_state *c = &pit->s.ch[0];
    uint64_t when = UINT64_MAX;
    if (c->loaded) {
        uint64_t e = ticks_since(c, now), r = c->reload;
        uint64_t period_ns = r * 1000000000ULL / PIT_HZ;
        if ((c->mode == 2 || c->mode == 3) && period_ns < IRQ_TIMER_MIN_PERIOD_NS) {
            /* KVM's floor (irq/timer_floor.h): IRQ 0 every 200 us from the
             * load; the count the guest reads keeps its own period. */
            uint64_t since = now < c->load_ns ? 0 : now - c->load_ns;
            when = c->load_ns + (since / IRQ_TIMER_MIN_PERIOD_NS + 1) * IRQ_TIMER_MIN_PERIOD_NS;
        } else if (c->mode == 2 || c->mode == 3)
            when = tick_time(c, (e / r + 1) * r); /* the start of the next period */
        else if (e < r)
            when = tick_time(c, r); /* terminal count, once */
    }
    pthread_mutex_unlock(&pit->lock);
    return when;
}

static uint8_t status_of(const struct pit_channel_state *c, uint64_t now)
{
    return (uint8_t)((output_at(c, now) ? 0x80 : 0) | (c->loaded ? 0 : 0x40) | (c->access << 4) | (c->mode << 1) |
                     c->bcd);
}

static void control_word(struct pit *pit, uint8_t v, uint64_t now)
{
    unsigned sel = v >> 6;
    if (sel == 3) { /* read-back: bit 5 clear latches counts, bit 4 clear latches status */
        for (int i = 0; i < 3; i++) {
            if (!(v & (2u << i)))
                continue;
            struct pit_channel_state *c = &pit->s.ch[i];
            if (!(v & 0x20) && !c->latch_count) {
                c->latched = count_at(c, now);
                c->latch_count = c->access == 3 ? 2 : 1;
            }
            if (!(v & 0x10) && !c->status_latched) {
                c->status = status_of(c, now);
                c->status_latched = 1;
            }
        }
        return;
    }
    struct pit_channel_state *c = &pit->s.ch[sel];
    unsigned access = (v >> 4) & 3;
    if (access == 0) { /* counter latch command */
        if (!c->latch_count) {
            c->latched = count_at(c, now);
            c->latch_count = c->access == 3 ? 2 : 1;
        }
        return;
    }
    c->access = (uint8_t)access;
    c->mode = (v >> 1) & 7;
    if (c->mode > 5)
        c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
    c->bcd = v & 1;
    c->loaded = 0;
    c->write_hi = c->read_hi = 0;
}

static void load(struct pit_channel_state *c, uint16_t value, uint64_t now)
{
    c->reload = value ? value : 65536;
    c->load_ns = now;
    c->loaded = 1;
}

static void data_write(struct pit_channel_state *c, uint8_t v, uint64_t now)
{
    switch (c->access) {
    case 1: load(c, v, now); break;
    case 2: load(c, (uint16_t)(v << 8), now); break;
    case 3:
        if (!c->write_hi) {
            c->pending_lo = v;
            c->write_hi = 1;
        } else {
            load(c, (uint16_t)(c->pending_lo | (v << 8)), now);
            c->write_hi = 0;
        }
        break;
    }
}

static uint8_t data_read(struct pit_channel_state *c, uint64_t now)
{
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    uint16_t v;
    if (c->latch_count) {
        v = c->latched;
        bool hi = c->access == 2 || (c->access == 3 && c->latch_count == 1);
        c->latch_count--;
        return hi ? (uint8_t)(v >> 8) : (uint8_t)v;
    }
    v = count_at(c, now);
    switch (c->access) {
    case 1: return (uint8_t)v;
    case 2: return (uint8_t)(v >> 8);
    default:
        c->read_hi ^= 1;
        return c->read_hi ? (uint8_t)v : (uint8_t)(v >> 8);
    }
}

static void pit_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct pit *pit = o;
    memset(d, 0xff, size);
    if (off == 3)
        return; /* the control word is write-only */
    pthread_mutex_lock(&pit->lock);
    d[0] = data_read(&pit->s.ch[off], pit->now_ns());
    pthread_mutex_unlock(&pit->lock);
}

static void pit_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct pit *pit = o;
    (void)size;
    pthread_mutex_lock(&pit->lock);
    uint64_t now = pit->now_ns();
    if (off == 3)
        control_word(pit, d[0], now);
    else
        data_write(&pit->s.ch[off], d[0], now);
    pthread_mutex_unlock(&pit->lock);
}

/* Port 0x61: bit 0 gates channel 2, bit 1 enables the speaker; bit 5 reads
 * channel 2's output (what Linux polls to calibrate the TSC), bit 4 the
 * refresh toggle some code waits on. */
static void gate_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    struct pit *pit = o;
    (void)off;
    memset(d, 0xff, size);
    pthread_mutex_lock(&pit->lock);
    uint64_t now = pit->now_ns();
    bool out2 = pit->s.ch[2].gate && output_at(&pit->s.ch[2], now);
    d[0] = (uint8_t)(pit->s.speaker | (out2 ? 0x20 : 0) | (((now / 15000) & 1) ? 0x10 : 0));
    pthread_mutex_unlock(&pit->lock);
}

static void gate_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    struct pit *pit = o;
    (void)off;
    (void)size;
    pthread_mutex_lock(&pit->lock);
    struct pit_channel_state *c = &pit->s.ch[2];
    uint8_t gate = d[0] & 1;
    if (gate && !c->gate && c->loaded)
        c->load_ns = pit->now_ns(); /* a rising gate restarts the count */
    c->gate = gate;
    pit->s.speaker = d[0] & 3;
    pthread_mutex_unlock(&pit->lock);
}

void pit_get_state(struct pit *pit, struct pit_state *out)
{
    pthread_mutex_lock(&pit->lock);
    *out = pit->s;
    pthread_mutex_unlock(&pit->lock);
}

void pit_set_state(struct pit *pit, const struct pit_state *in)
{
    pthread_mutex_lock(&pit->lock);
    pit->s = *in;
    pthread_mutex_unlock(&pit->lock);
}

const struct bus_device_ops pit_ops = {.name = "pit-8254", .read = pit_read, .write = pit_write};
const struct bus_device_ops pit_gate_ops = {.name = "pit-gate-0x61", .read = gate_read, .write = gate_write};
