/* 16550A UART (the PC's COM1 at 0x3f8, IRQ 4).
 * Models every register, the 16-byte receive FIFO, THRE and received-data
 * interrupts, line-status errors (overrun), and loopback mode (MCR bit 4),
 * which Linux's 8250 driver uses to probe the port. Transmission is instant:
 * a byte written to THR goes straight to the back-end and THR is empty again. */
#ifndef EMBER_DEVICES_UART_16550_H
#define EMBER_DEVICES_UART_16550_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/io_bus.h"

#define UART_FIFO_SIZE 16
#define UART_COM1_BASE 0x3f8
#define UART_COM1_GSI  4

/* Register offsets (DLAB selects the divisor latch at 0 and 1). */
enum {
    UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
    UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI  0x08
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI  0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI  0x04
#define UART_IIR_RLSI 0x06
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10

struct uart_16550;
/* Back-end hooks: where transmitted bytes go, how the interrupt line is driven,
 * and a wake-up when receive space frees so a blocked input feeder can go on. */
struct uart_backend {
    void (*transmit)(void *ctx, uint8_t byte);
    void (*set_irq)(void *ctx, int level);
    void (*rx_space)(void *ctx);
    void *ctx;
};

struct uart_16550 {
    pthread_mutex_t lock;
    struct uart_backend backend;
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    uint8_t rx_fifo[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    bool thri_pending; /* THR-empty interrupt latched */
    int irq_level;
    uint64_t tx_bytes, rx_bytes, overruns;
};

void uart_16550_init(struct uart_16550 *uart, const struct uart_backend *backend);
void uart_16550_destroy(struct uart_16550 *uart);
/* Feeds bytes from the outside world; returns how many fit in the FIFO. */
size_t uart_16550_receive(struct uart_16550 *uart, const uint8_t *buf, size_t len);
size_t uart_16550_rx_space(struct uart_16550 *uart);
extern const struct bus_device_ops uart_16550_ops;

#endif
