#include "devices/uart_16550.h"

#include <string.h>

void uart_16550_init(struct uart_16550 *uart, const struct uart_backend *backend)
{
    memset(uart, 0, sizeof(*uart));
    pthread_mutex_init(&uart->lock, NULL);
    uart->backend = *backend;
    uart->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    uart->msr = 0xb0; /* DCD, DSR, CTS: a cable with the other end present */
    uart->dll = 0x0c; /* 9600 baud after reset, as a BIOS leaves it */
}

void uart_16550_destroy(struct uart_16550 *uart) { pthread_mutex_destroy(&uart->lock); }

/* IIR value for the highest-priority pending interrupt. */
static uint8_t pending_iir(const struct uart_16550 *u)
{
    if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_OE))
        return UART_IIR_RLSI;
    if ((u->ier & UART_IER_RDI) && u->rx_count > 0)
        return UART_IIR_RDI;
    if ((u->ier & UART_IER_THRI) && u->thri_pending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

static void update_irq(struct uart_16550 *u)
{
    int level = pending_iir(u) != UART_IIR_NO_INT;
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->backend.set_irq)
            u->backend.set_irq(u->backend.ctx, level);
    }
}

static bool fifo_push(struct uart_16550 *u, uint8_t byte)
{
    if (u->rx_count == UART_FIFO_SIZE) {
        u->lsr |= UART_LSR_OE;
        u->overruns++;
        return false;
    }
    u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
    u->rx_count++;
    u->lsr |= UART_LSR_DR;
    return true;
}

static uint8_t fifo_pop(struct uart_16550 *u, bool *freed_space)
{
    *freed_space = false;
    if (u->rx_count == 0)
        return 0;
    uint8_t b = u->rx_fifo[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
    *freed_space = u->rx_count == UART_FIFO_SIZE;
    u->rx_count--;
    if (u->rx_count == 0)
        u->lsr &= (uint8_t)~UART_LSR_DR;
    return b;
}

/* Loopback wires MCR outputs to MSR inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t loopback_msr(uint8_t mcr)
{
    return (uint8_t)(((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) | ((mcr & 0x08) << 4));
}

static void uart_write_reg(struct uart_16550 *u, unsigned reg, uint8_t v, bool *tx, bool *space)
{
    bool dlab = u->lcr & UART_LCR_DLAB;
    switch (reg) {
    case UART_RBR_THR:
        if (dlab) {
            u->dll = v;
            break;
        }
        if (u->mcr & UART_MCR_LOOP) {
            fifo_push(u, v);
        } else {
            *tx = true;
            u->tx_bytes++;
        }
        u->thri_pending = true; /* transmission is instant: THR is empty again */
        break;
    case UART_IER:
        if (dlab) {
            u->dlm = v;
            break;
        }
        /* Enabling THRI while THR is empty raises the interrupt at once. */
        if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
            u->thri_pending = true;
        u->ier = v & 0x0f;
        break;
    case UART_IIR_FCR:
        u->fcr = v & 0xc9;
        if (v & 0x02) { /* clear receive FIFO */
            bool was_full = u->rx_count == UART_FIFO_SIZE;
            u->rx_count = 0;
            u->rx_head = 0;
            u->lsr &= (uint8_t)~UART_LSR_DR;
            *space = was_full;
        }
        break;
    case UART_LCR:
        u->lcr = v;
        break;
    case UART_MCR: {
        u->mcr = v & 0x1f;
        uint8_t old = u->msr;
        uint8_t lines = (u->mcr & UART_MCR_LOOP) ? loopback_msr(u->mcr) : 0xb0;
        /* Delta bits accumulate until MSR is read: CTS->0, DSR->1, DCD->3,
         * and bit 2 on the trailing edge of RI. */
        uint8_t changed = (uint8_t)((old ^ lines) & 0xf0);
        uint8_t delta = (uint8_t)(((changed >> 4) & 0x0b) | ((old & 0x40) && !(lines & 0x40) ? 0x04 : 0));
        u->msr = (uint8_t)(lines | (old & 0x0f) | delta);
        break;
    }
    case UART_LSR:
    case UART_MSR:
        break; /* read-only */
    case UART_SCR:
        u->scr = v;
        break;
    }
}

static uint8_t uart_read_reg(struct uart_16550 *u, unsigned reg, bool *space)
{
    bool dlab = u->lcr & UART_LCR_DLAB;
    switch (reg) {
    case UART_RBR_THR:
        if (dlab)
            return u->dll;
        return fifo_pop(u, space);
    case UART_IER:
        return dlab ? u->dlm : u->ier;
    case UART_IIR_FCR: {
        uint8_t iir = pending_iir(u);
        if (iir == UART_IIR_THRI)
            u->thri_pending = false; /* reading IIR acknowledges THRE */
        return (uint8_t)(iir | ((u->fcr & 0x01) ? 0xc0 : 0));
    }
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR: {
        uint8_t v = u->lsr;
        u->lsr &= (uint8_t)~UART_LSR_OE; /* error bits clear on read */
        return v;
    }
    case UART_MSR: {
        uint8_t v = u->msr;
        u->msr &= 0xf0; /* delta bits clear on read */
        return v;
    }
    case UART_SCR:
        return u->scr;
    }
    return 0xff;
}

static void uart_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
    struct uart_16550 *u = opaque;
    bool space = false;
    pthread_mutex_lock(&u->lock);
    data[0] = uart_read_reg(u, (unsigned)offset & 7, &space);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    for (uint32_t i = 1; i < size; i++)
        data[i] = 0xff;
    if (space && u->backend.rx_space)
        u->backend.rx_space(u->backend.ctx);
}

static void uart_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
    struct uart_16550 *u = opaque;
    bool tx = false, space = false;
    (void)size;
    pthread_mutex_lock(&u->lock);
    uart_write_reg(u, (unsigned)offset & 7, data[0], &tx, &space);
    update_irq(u);
    /* Transmit under the lock so bytes from different vCPUs keep their order. */
    if (tx && u->backend.transmit)
        u->backend.transmit(u->backend.ctx, data[0]);
    pthread_mutex_unlock(&u->lock);
    if (space && u->backend.rx_space)
        u->backend.rx_space(u->backend.ctx);
}

size_t uart_16550_receive(struct uart_16550 *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    /* In loopback the receiver is disconnected from the line. */
    if (!(u->mcr & UART_MCR_LOOP)) {
        while (n < len && u->rx_count < UART_FIFO_SIZE)
            fifo_push(u, buf[n++]);
        u->rx_bytes += n;
        update_irq(u);
    }
    pthread_mutex_unlock(&u->lock);
    return n;
}

size_t uart_16550_rx_space(struct uart_16550 *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = (u->mcr & UART_MCR_LOOP) ? 0 : UART_FIFO_SIZE - u->rx_count;
    pthread_mutex_unlock(&u->lock);
    return n;
}

const struct bus_device_ops uart_16550_ops = {
    .name = "uart-16550a",
    .read = uart_read,
    .write = uart_write,
};
