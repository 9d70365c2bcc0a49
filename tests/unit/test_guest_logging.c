/* A guest that repeats an event the host logs (a bad MSI, a rewritten
 * nonsense IOAPIC entry, an 8259 programmed for LTIM, an interrupt KVM
 * refuses) must not get a host log line per repetition: each such message is
 * rate-limited (util/log.h), so a loop of thousands costs at most a burst. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "irq/irq.h"
#include "util/log.h"
#include "check.h"

#define REPEATS 1000

static unsigned long lines_before;

/* The lines go to /dev/null: only their count matters. */
static void start_counting(void)
{
    log_set_level(LOG_INFO);
    log_set_file(open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC), false);
    lines_before = log_lines_written();
}

static unsigned long lines_since(void)
{
    unsigned long n = log_lines_written() - lines_before;
    log_set_file(-1, false);
    return n;
}

/* At most one burst of lines; says how many there were otherwise. */
#define CHECK_ONE_BURST()                                                                                              \
    do {                                                                                                               \
        unsigned long n_ = lines_since();                                                                              \
        if (n_ > LOG_RATELIMIT_BURST) {                                                                                \
            fprintf(stderr, "  %s:%d: %lu lines for %d events\n", __FILE__, __LINE__, n_, REPEATS);                    \
            check_case_failed = 1;                                                                                     \
        }                                                                                                              \
    } while (0)

static void ignore_msi(void *ctx, uint64_t address, uint32_t data)
{
    (void)ctx, (void)address, (void)data;
}

static void ioapic_wr(struct ioapic *io, uint32_t reg, uint32_t v)
{
    ioapic_mmio_ops.write(io, 0x00, (const uint8_t *)&reg, 4);
    ioapic_mmio_ops.write(io, 0x10, (const uint8_t *)&v, 4);
}

TEST(rewritten_nonsense_ioapic_entries_log_a_burst_not_a_line_each)
{
    struct ioapic io;
    ioapic_init(&io, 0, ignore_msi, NULL);
    start_counting();
    for (int i = 0; i < REPEATS; i++) {
        /* Rewriting the entry makes it judged afresh: once per programming
         * alone would be a line per loop iteration. */
        ioapic_wr(&io, 0x10 + 2 * 3, 0x05); /* edge, unmasked, vector 5 */
        ioapic_set_line(&io, 3, 1);
        ioapic_set_line(&io, 3, 0);
    }
    CHECK_ONE_BURST();
    ioapic_destroy(&io);
}

TEST(bad_msi_addresses_in_user_mode_log_a_burst)
{
    struct irq_chip chip;
    struct io_bus pio, mmio;
    io_bus_init(&pio, "pio");
    io_bus_init(&mmio, "mmio");
    CHECK_EQ(irq_chip_create(&chip, -1, IRQCHIP_USER, 1, &pio, &mmio, 0), 0);
    start_counting();
    for (int i = 0; i < REPEATS; i++)
        irq_send_msi(&chip, 0x12345000, 0x40);
    CHECK_ONE_BURST();
    irq_chip_destroy(&chip);
    io_bus_destroy(&pio);
    io_bus_destroy(&mmio);
}

TEST(msis_and_lines_kvm_refuses_log_a_burst)
{
    /* vm_fd -1: every KVM ioctl fails, as KVM would refuse a guest's bad MSI. */
    struct irq_chip chip;
    memset(&chip, 0, sizeof(chip));
    chip.vm_fd = -1;
    chip.mode = IRQCHIP_SPLIT;
    start_counting();
    for (int i = 0; i < REPEATS; i++)
        irq_send_msi(&chip, 0xfee00000, 0x40);
    CHECK_ONE_BURST();
    chip.mode = IRQCHIP_KERNEL;
    start_counting();
    for (int i = 0; i < REPEATS; i++)
        irq_line_set(&chip, 4, i & 1);
    CHECK_ONE_BURST();
}

TEST(pic_ltim_programming_logs_a_burst)
{
    struct pic pic;
    pic_init(&pic, NULL, NULL);
    start_counting();
    for (int i = 0; i < REPEATS; i++) {
        uint8_t icw1 = 0x19; /* ICW1 with LTIM and ICW4 */
        pic_master_ops.write(&pic, 0, &icw1, 1);
    }
    CHECK_ONE_BURST();
    pic_destroy(&pic);
}

RUN_TESTS(CASE(rewritten_nonsense_ioapic_entries_log_a_burst_not_a_line_each),
          CASE(bad_msi_addresses_in_user_mode_log_a_burst), CASE(msis_and_lines_kvm_refuses_log_a_burst),
          CASE(pic_ltim_programming_logs_a_burst))
