#include "devices/uart_16550.h"
#include "check.h"

static uint8_t txbuf[256];
static int txlen, irq_level, irq_changes, space_signals;

static void tx(void *c, uint8_t b) { (void)c; txbuf[txlen++ % 256] = b; }
static void set_irq(void *c, int level) { (void)c; irq_level = level; irq_changes++; }
static void rx_space(void *c) { (void)c; space_signals++; }

static struct uart_16550 u;

static void reset(void)
{
    txlen = irq_level = irq_changes = space_signals = 0;
    struct uart_backend be = {.transmit = tx, .set_irq = set_irq, .rx_space = rx_space};
    uart_16550_init(&u, &be);
}

static uint8_t rd(unsigned reg)
{
    uint8_t v;
    uart_16550_ops.read(&u, reg, &v, 1);
    return v;
}

static void wr(unsigned reg, uint8_t v) { uart_16550_ops.write(&u, reg, &v, 1); }

TEST(transmit_goes_to_backend_and_thr_stays_empty)
{
    reset();
    wr(UART_RBR_THR, 'A');
    wr(UART_RBR_THR, 'B');
    CHECK_EQ(txlen, 2);
    CHECK(txbuf[0] == 'A' && txbuf[1] == 'B');
    CHECK_EQ(rd(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT), UART_LSR_THRE | UART_LSR_TEMT);
}

TEST(divisor_latch_and_scratch)
{
    reset();
    wr(UART_LCR, UART_LCR_DLAB | 3);
    wr(0, 0x01);
    wr(1, 0x02);
    CHECK_EQ(rd(0), 0x01);
    CHECK_EQ(rd(1), 0x02);
    wr(UART_LCR, 3);
    CHECK_EQ(rd(UART_IER), 0);
    CHECK_EQ(txlen, 0); /* DLL writes are not data */
    wr(UART_SCR, 0x5a);
    CHECK_EQ(rd(UART_SCR), 0x5a);
}

TEST(loopback_returns_data_and_mirrors_modem_lines)
{
    reset();
    wr(UART_MCR, UART_MCR_LOOP | 0x0a); /* RTS + OUT2 */
    CHECK_EQ(rd(UART_MSR) & 0xf0, 0x90);  /* CTS + DCD */
    wr(UART_RBR_THR, 0x77);
    CHECK_EQ(txlen, 0);
    CHECK(rd(UART_LSR) & UART_LSR_DR);
    CHECK_EQ(rd(UART_RBR_THR), 0x77);
    CHECK(!(rd(UART_LSR) & UART_LSR_DR));
    /* External input is disconnected in loopback. */
    CHECK_EQ(uart_16550_receive(&u, (const uint8_t *)"x", 1), 0);
    wr(UART_MCR, 0x0b);
    CHECK_EQ(rd(UART_MSR) & 0xf0, 0xb0);
}

TEST(thre_interrupt_raised_by_ier_and_acked_by_iir_read)
{
    reset();
    wr(UART_IER, UART_IER_THRI);
    CHECK_EQ(irq_level, 1);
    CHECK_EQ(rd(UART_IIR_FCR) & 0x0f, UART_IIR_THRI);
    CHECK_EQ(irq_level, 0);
    CHECK_EQ(rd(UART_IIR_FCR) & 0x0f, UART_IIR_NO_INT);
    wr(UART_RBR_THR, 'x'); /* THR empties again at once: interrupt again */
    CHECK_EQ(irq_level, 1);
}

TEST(receive_raises_rx_interrupt_until_fifo_drained)
{
    reset();
    wr(UART_IER, UART_IER_RDI);
    CHECK_EQ(irq_level, 0);
    CHECK_EQ(uart_16550_receive(&u, (const uint8_t *)"hi", 2), 2);
    CHECK_EQ(irq_level, 1);
    CHECK_EQ(rd(UART_IIR_FCR) & 0x0f, UART_IIR_RDI);
    CHECK_EQ(rd(UART_RBR_THR), 'h');
    CHECK_EQ(irq_level, 1);
    CHECK_EQ(rd(UART_RBR_THR), 'i');
    CHECK_EQ(irq_level, 0);
    CHECK(!(rd(UART_LSR) & UART_LSR_DR));
}

TEST(fifo_holds_16_and_signals_space)
{
    reset();
    uint8_t data[20];
    for (int i = 0; i < 20; i++)
        data[i] = (uint8_t)i;
    CHECK_EQ(uart_16550_receive(&u, data, 20), UART_FIFO_SIZE);
    CHECK_EQ(uart_16550_rx_space(&u), 0);
    CHECK_EQ(rd(UART_RBR_THR), 0);
    CHECK_EQ(space_signals, 1); /* full -> not full wakes the feeder */
    CHECK_EQ(uart_16550_receive(&u, data + 16, 4), 1);
    for (int i = 1; i <= 16; i++)
        CHECK_EQ(rd(UART_RBR_THR), i);
}

TEST(overrun_in_loopback_sets_oe_and_line_status_interrupt)
{
    reset();
    wr(UART_MCR, UART_MCR_LOOP);
    wr(UART_IER, UART_IER_RLSI);
    for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
        wr(UART_RBR_THR, (uint8_t)i);
    CHECK_EQ(irq_level, 1);
    CHECK_EQ(rd(UART_IIR_FCR) & 0x0f, UART_IIR_RLSI);
    CHECK(rd(UART_LSR) & UART_LSR_OE);
    CHECK(!(rd(UART_LSR) & UART_LSR_OE)); /* cleared by the read */
    CHECK_EQ(irq_level, 0);
}

TEST(fcr_clears_fifo_and_reports_fifo_enabled)
{
    reset();
    uart_16550_receive(&u, (const uint8_t *)"abc", 3);
    wr(UART_IIR_FCR, 0x07);
    CHECK(!(rd(UART_LSR) & UART_LSR_DR));
    CHECK_EQ(rd(UART_IIR_FCR) & 0xc0, 0xc0);
}

TEST(wide_and_odd_accesses_are_safe)
{
    reset();
    uint8_t v[4] = {0, 0, 0, 0};
    uart_16550_ops.read(&u, UART_LSR, v, 4);
    CHECK(v[0] & UART_LSR_THRE);
    CHECK_EQ(v[1] & v[2] & v[3], 0xff);
}

RUN_TESTS(CASE(transmit_goes_to_backend_and_thr_stays_empty), CASE(divisor_latch_and_scratch),
          CASE(loopback_returns_data_and_mirrors_modem_lines), CASE(thre_interrupt_raised_by_ier_and_acked_by_iir_read),
          CASE(receive_raises_rx_interrupt_until_fifo_drained), CASE(fifo_holds_16_and_signals_space),
          CASE(overrun_in_loopback_sets_oe_and_line_status_interrupt), CASE(fcr_clears_fifo_and_reports_fifo_enabled),
          CASE(wide_and_odd_accesses_are_safe))
