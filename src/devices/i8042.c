#include "devices/i8042.h"

#include <string.h>

#define ST_OBF    0x01 /* output buffer full */
#define ST_SYS    0x04 /* system flag: self-test passed */
#define ST_CMD    0x08 /* last write was to the command port */
#define ST_AUXOBF 0x20 /* output byte is from the aux (mouse) port */

#define CTR_KBDINT 0x01
#define CTR_AUXDIS 0x20

void i8042_init(struct i8042 *k, void (*reset)(void *), void (*set_irq)(void *, int), void *ctx)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->status = ST_SYS;
    k->ctr = CTR_KBDINT | 0x04 | 0x40; /* kbd irq, system flag, translate */
    k->reset = reset;
    k->set_irq = set_irq;
    k->ctx = ctx;
}

void i8042_destroy(struct i8042 *k) { pthread_mutex_destroy(&k->lock); }

static void update_irq(struct i8042 *k)
{
    int level = (k->status & ST_OBF) && !(k->status & ST_AUXOBF) && (k->ctr & CTR_KBDINT);
    if (k->set_irq)
        k->set_irq(k->ctx, level);
}

static void push(struct i8042 *k, uint8_t byte, bool aux)
{
    if (k->out_count < I8042_BUF_SIZE) {
        k->outbuf[(k->out_head + k->out_count) % I8042_BUF_SIZE] = byte;
        k->out_count++;
    }
    k->status |= ST_OBF;
    if (aux)
        k->status |= ST_AUXOBF;
    else
        k->status &= (uint8_t)~ST_AUXOBF;
}

static uint8_t pop(struct i8042 *k)
{
    if (k->out_count == 0)
        return 0;
    uint8_t b = k->outbuf[k->out_head];
    k->out_head = (k->out_head + 1) % I8042_BUF_SIZE;
    k->out_count--;
    if (k->out_count == 0)
        k->status &= (uint8_t)~(ST_OBF | ST_AUXOBF);
    return b;
}

/* Returns true if the write pulsed the reset line. */
static bool controller_command(struct i8042 *k, uint8_t cmd)
{
    switch (cmd) {
    case 0x20: push(k, k->ctr, false); break;               /* read command byte */
    case 0x60: case 0xD1: case 0xD2: case 0xD3: case 0xD4:  /* these take a data byte */
        k->pending_cmd = cmd;
        break;
    case 0xA7: k->ctr |= CTR_AUXDIS; break;                 /* disable aux */
    case 0xA8: k->ctr &= (uint8_t)~CTR_AUXDIS; break;       /* enable aux */
    case 0xA9: push(k, 0x00, false); break;                 /* aux interface test: ok */
    case 0xAA: k->status |= ST_SYS; push(k, 0x55, false); break; /* self-test passed */
    case 0xAB: push(k, 0x00, false); break;                 /* kbd interface test: ok */
    case 0xAD: k->ctr |= 0x10; break;                       /* disable kbd */
    case 0xAE: k->ctr &= (uint8_t)~0x10; break;             /* enable kbd */
    case 0xC0: push(k, 0x00, false); break;                 /* read input port */
    case 0xD0: push(k, 0x01, false); break;                 /* read output port: reset line high */
    case 0xFE: return true;                                 /* pulse reset */
    default: break;                                         /* 0xF0-0xFF pulses, others ignored */
    }
    return false;
}

/* A byte for the keyboard itself: answer as an AT keyboard. */
static void keyboard_command(struct i8042 *k, uint8_t cmd)
{
    push(k, 0xFA, false); /* ACK */
    if (cmd == 0xFF)
        push(k, 0xAA, false); /* reset: basic assurance test passed */
    else if (cmd == 0xF2) {
        push(k, 0xAB, false); /* identify: MF2 keyboard */
        push(k, 0x83, false);
    }
}

static bool data_write(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->pending_cmd;
    k->pending_cmd = 0;
    switch (cmd) {
    case 0x60: k->ctr = v; break;
    case 0xD1: return !(v & 0x01); /* output port bit 0 is the CPU reset line (active low) */
    case 0xD2: push(k, v, false); break;
    case 0xD3: push(k, v, true); break;
    case 0xD4: push(k, 0xFE, true); break; /* no mouse: resend */
    default: keyboard_command(k, v); break;
    }
    return false;
}

void i8042_send_ctrl_alt_del(struct i8042 *k)
{
    static const uint8_t keys[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d}; /* make, then break */
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < sizeof(keys); i++)
        push(k, keys[i], false);
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
}

static void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct i8042 *k = opaque;
    (void)off;
    pthread_mutex_lock(&k->lock);
    data[0] = pop(k);
    /* The next byte reaching the output buffer is a new interrupt: an edge
     * for an edge-triggered IRQ 1, as the real controller's line drops when
     * the buffer is read. */
    if (k->set_irq && k->out_count)
        k->set_irq(k->ctx, 0);
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    memset(data + 1, 0xff, size - 1);
}

static void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
    struct i8042 *k = opaque;
    (void)off;
    pthread_mutex_lock(&k->lock);
    data[0] = k->status;
    pthread_mutex_unlock(&k->lock);
    memset(data + 1, 0xff, size - 1);
}

static void write_common(struct i8042 *k, uint8_t v, bool is_cmd)
{
    pthread_mutex_lock(&k->lock);
    bool reset;
    if (is_cmd) {
        k->status |= ST_CMD;
        reset = controller_command(k, v);
    } else {
        k->status &= (uint8_t)~ST_CMD;
        reset = data_write(k, v);
    }
    if (reset)
        k->resets++;
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    if (reset && k->reset)
        k->reset(k->ctx);
}

static void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    (void)off;
    (void)size;
    write_common(opaque, data[0], false);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
    (void)off;
    (void)size;
    write_common(opaque, data[0], true);
}

const struct bus_device_ops i8042_data_ops = {.name = "i8042-data", .read = i8042_data_read, .write = i8042_data_write};
const struct bus_device_ops i8042_cmd_ops = {.name = "i8042-cmd", .read = i8042_cmd_read, .write = i8042_cmd_write};
