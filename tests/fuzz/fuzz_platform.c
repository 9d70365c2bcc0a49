/* libFuzzer harness: a hostile guest's whole view of the platform devices in
 * --irqchip user, where every chip is ember's. Each input is a fresh machine
 * (the real irq/irq.c user mode with 2 LAPICs, the IOAPIC, 8259 pair and PIT
 * it creates, and the UART, i8042, CMOS RTC, PM1/0xCF9, pvpanic and port 0x80
 * on the same port bus as in vm.c) and a sequence of operations on it:
 *   - port and IOAPIC MMIO reads and writes of 1-8 bytes, through the buses;
 *   - LAPIC page reads and writes (lapic_mmio_*, what vcpu_irq_mmio calls);
 *   - MSR reads and writes through the real exit handler, vcpu_irq_msr
 *     (APIC base, TSC deadline, x2APIC range, anything else);
 *   - what the host does: bytes received on the UART, Ctrl-Alt-Del on the
 *     i8042, device lines (irq_line_set) and MSIs (irq_send_msi, whose
 *     address and data a guest programs in virtio's MSI-X table), time
 *     passing (the PIT's IRQ 0 and LAPIC timer expiry), the vCPU taking
 *     interrupts (acknowledge, ExtINT, EOI) and its NMI/INIT/SIPI events.
 * Any out-of-bounds access, leak or undefined behaviour is a bug (ASan/UBSan
 * abort); so is a timer the floor (irq/timer_floor.h) does not hold.
 *
 * Not driven: vcpu.c's handle_io/handle_mmio (static, and the rest of vcpu.c
 * needs a real vCPU fd; their bounds checks are on kvm_run fields KVM fills),
 * and vcpu_irq_prepare/vcpu_irq_halt, which sleep on the vCPU's eventfd.
 * Stub: vcpu.c's vcpu_answer_probe, which interrupts.c calls (the stop and
 * pause points are the real vm/lifecycle.c); nothing else is a copy. Every
 * KVM ioctl gets fd -1 and fails, as a KVM without the capability would. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/interrupts.h"
#include "irq/timer_floor.h"
#include "memory/layout.h"
#include "util/clock.h"
#include "util/log.h"
#include "vm/vm.h"
#include "fuzz_input.h"

#define CPUS 2
/* Operations per input: enough for a guest's whole set-up of every chip and
 * then some; longer inputs only repeat and slow the search. */
#define MAX_OPS 1024

/* --- the stub for what interrupts.c calls in vcpu.c ---------------------------- */

void vcpu_answer_probe(struct vcpu *vcpu, unsigned probe, int known) { (void)vcpu, (void)probe, (void)known; }

/* --- the machine -------------------------------------------------------------- */

static struct vm vm; /* a container for the chips and devices, as vm.c has them */
static struct vcpu_machine machine;
static struct vcpu vcpus[CPUS];
static struct kvm_run runs[CPUS];
static bool dumped;       /* this input has had its dumps */
static uint64_t fake_now; /* the PIT's clock and the LAPICs' now, advanced by the input */
static time_t fake_wall = 1794952000;

static uint64_t fake_clock(void) { return fake_now; }
static time_t fake_time(void) { return fake_wall; }
static void ignore_byte(void *ctx, uint8_t b) { (void)ctx, (void)b; }
static void ignore_event(void *ctx) { (void)ctx; }
static void com1_irq(void *ctx, int level) { irq_line_set(ctx, UART_COM1_GSI, level); }
static void kbd_irq(void *ctx, int level) { irq_line_set(ctx, I8042_KBD_GSI, level); }

static int machine_create(void)
{
    memset(&vm, 0, sizeof(vm));
    if (vm_lifecycle_init(&vm.life) < 0)
        return -1;
    io_bus_init(&vm.pio, "pio");
    io_bus_init(&vm.mmio, "mmio");
    if (irq_chip_create(&vm.irq, -1, IRQCHIP_USER, CPUS, &vm.pio, &vm.mmio, 0) < 0)
        return -1;
    vm.irq.pit.now_ns = fake_clock;
    struct uart_backend com1 = {.transmit = ignore_byte, .set_irq = com1_irq, .rx_space = ignore_event,
                                .ctx = &vm.irq};
    uart_16550_init(&vm.com1, &com1);
    i8042_init(&vm.kbc, ignore_event, kbd_irq, &vm.irq);
    cmos_rtc_init(&vm.rtc, 256ULL << 20, 0);
    vm.rtc.now = fake_time;
    power_device_init(&vm.power, ignore_event, ignore_event, NULL);
    vm.pvpanic = (struct pvpanic){.panicked = ignore_event, .crash_loaded = ignore_event};
    if (io_bus_register(&vm.pio, UART_COM1_BASE, 8, &uart_16550_ops, &vm.com1) < 0 ||
        io_bus_register(&vm.pio, I8042_DATA_PORT, 1, &i8042_data_ops, &vm.kbc) < 0 ||
        io_bus_register(&vm.pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, &vm.kbc) < 0 ||
        io_bus_register(&vm.pio, CMOS_PORT, 2, &cmos_rtc_ops, &vm.rtc) < 0 ||
        io_bus_register(&vm.pio, DEBUG_PORT, 1, &debug_port_ops, &vm.post) < 0 ||
        io_bus_register(&vm.pio, POWER_PM1A_EVT_PORT, POWER_PM1_LEN, &power_pm1_ops, &vm.power) < 0 ||
        io_bus_register(&vm.pio, POWER_RESET_PORT, 1, &power_reset_ops, &vm.power) < 0 ||
        io_bus_register(&vm.pio, PVPANIC_PORT, 1, &pvpanic_ops, &vm.pvpanic) < 0)
        return -1;
    machine = (struct vcpu_machine){.vm_fd = -1, .ncpus = CPUS, .irq = &vm.irq, .pio = &vm.pio, .mmio = &vm.mmio,
                                    .life = &vm.life};
    for (int i = 0; i < CPUS; i++) {
        memset(&runs[i], 0, sizeof(runs[i]));
        vcpus[i] = (struct vcpu){.id = i, .m = &machine, .fd = -1, .run = &runs[i], .wake_fd = -1};
    }
    return 0;
}

static void machine_destroy(void)
{
    uart_16550_destroy(&vm.com1);
    i8042_destroy(&vm.kbc);
    cmos_rtc_destroy(&vm.rtc);
    power_device_destroy(&vm.power);
    irq_chip_destroy(&vm.irq);
    io_bus_destroy(&vm.pio);
    io_bus_destroy(&vm.mmio);
    vm_lifecycle_destroy(&vm.life);
}

/* --- the input ------------------------------------------------------------------ */


/* The ports a device answers; an offset byte reaches every register and a
 * little past the end (unclaimed). */
static const uint16_t port_bases[] = {UART_COM1_BASE, I8042_DATA_PORT, I8042_CMD_PORT, CMOS_PORT, DEBUG_PORT,
                                      POWER_PM1A_EVT_PORT, POWER_RESET_PORT, PVPANIC_PORT, 0x20, 0xa0, 0x4d0,
                                      0x40, 0x61};

static uint16_t take_port(struct input *in)
{
    uint8_t b = (uint8_t)take(in, 1);
    return (uint16_t)(port_bases[(b & 0x0f) % (sizeof(port_bases) / sizeof(port_bases[0]))] + (b >> 4) % 10);
}

/* 1, 2 or 4 bytes as an IN/OUT has; 8 for MMIO. */
static uint32_t take_size(struct input *in, bool mmio)
{
    static const uint32_t sizes[] = {1, 2, 4, 8};
    return sizes[take(in, 1) % (mmio ? 4 : 3)];
}

static uint32_t take_msr(struct input *in)
{
    uint8_t kind = (uint8_t)take(in, 1);
    switch (kind % 4) {
    case 0: return MSR_IA32_APICBASE;
    case 1: return MSR_IA32_TSC_DEADLINE;
    case 2: return MSR_X2APIC_FIRST + (uint32_t)take(in, 1);
    default: return (uint32_t)take(in, 4);
    }
}

/* The LAPIC page: mostly register offsets (16-byte aligned), sometimes anything. */
static uint64_t take_lapic_offset(struct input *in)
{
    uint16_t v = (uint16_t)take(in, 2);
    return (v & 0x8000) ? v & 0xfff : (uint64_t)(v & 0xff) << 4;
}

/* The floor's promise: no LAPIC timer is armed sooner than 200 us after
 * the last interrupt it delivered. */
static void check_timer_floor(void)
{
    for (int i = 0; i < CPUS; i++) {
        struct lapic *l = &vm.irq.lapics[i];
        if (l->s.timer_deadline_ns && l->last_timer_irq_ns &&
            l->s.timer_deadline_ns < l->last_timer_irq_ns + IRQ_TIMER_MIN_PERIOD_NS)
            abort();
    }
    uint64_t next = pit_next_irq_ns(&vm.irq.pit, fake_now);
    if (next != UINT64_MAX && vm.irq.pit.s.ch[0].loaded && (vm.irq.pit.s.ch[0].mode == 2 || vm.irq.pit.s.ch[0].mode == 3)) {
        uint64_t after = pit_next_irq_ns(&vm.irq.pit, next);
        if (after != UINT64_MAX && after - next + 1 < IRQ_TIMER_MIN_PERIOD_NS)
            abort();
    }
}

static void one_op(struct input *in)
{
    uint8_t op = (uint8_t)take(in, 1);
    int cpu = (op >> 7) & 1;
    struct lapic *lapic = &vm.irq.lapics[cpu];
    uint8_t buf[8];
    switch (op & 0x0f) {
    case 0: { /* OUT */
        uint16_t port = take_port(in);
        uint32_t size = take_size(in, false);
        uint64_t v = take(in, size);
        memcpy(buf, &v, 8);
        io_bus_write(&vm.pio, port, buf, size);
        break;
    }
    case 1: { /* IN */
        uint16_t port = take_port(in);
        io_bus_read(&vm.pio, port, buf, take_size(in, false));
        break;
    }
    case 2: { /* IOAPIC MMIO write: IOREGSEL, IOWIN, EOI and the rest of the window */
        uint64_t off = take(in, 1);
        uint32_t size = take_size(in, true);
        uint64_t v = take(in, size);
        memcpy(buf, &v, 8);
        io_bus_write(&vm.mmio, LAYOUT_IOAPIC + off, buf, size);
        break;
    }
    case 3: {
        uint64_t off = take(in, 1);
        io_bus_read(&vm.mmio, LAYOUT_IOAPIC + off, buf, take_size(in, true));
        break;
    }
    case 4: {
        uint64_t off = take_lapic_offset(in);
        lapic_mmio_write(lapic, off, (uint32_t)take(in, 4), fake_now);
        break;
    }
    case 5:
        lapic_mmio_read(lapic, take_lapic_offset(in), fake_now);
        break;
    case 6: /* WRMSR / RDMSR exits */
    case 7: {
        struct kvm_run *run = vcpus[cpu].run;
        run->exit_reason = (op & 0x0f) == 6 ? KVM_EXIT_X86_WRMSR : KVM_EXIT_X86_RDMSR;
        run->msr.index = take_msr(in);
        run->msr.data = (op & 0x0f) == 6 ? take(in, 8) : 0;
        vcpu_irq_msr(&vcpus[cpu]);
        break;
    }
    case 8: { /* the console's input reaching COM1 */
        uint8_t n = (uint8_t)(take(in, 1) % 24), bytes[24];
        for (uint8_t i = 0; i < n; i++)
            bytes[i] = (uint8_t)take(in, 1);
        uart_16550_receive(&vm.com1, bytes, n);
        break;
    }
    case 9:
        i8042_send_ctrl_alt_del(&vm.kbc);
        break;
    case 10: { /* time passes: the PIT's IRQ 0 and the LAPIC timers fire when due */
        fake_now += take(in, 3) * 64;
        if (pit_next_irq_ns(&vm.irq.pit, fake_now - 1) <= fake_now)
            irq_line_pulse(&vm.irq, 0);
        for (int i = 0; i < CPUS; i++)
            lapic_timer_expired(&vm.irq.lapics[i], fake_now);
        break;
    }
    case 11: { /* the vCPU takes an interrupt, as vcpu_irq_prepare would, maybe EOIs it */
        if (irq_extint_pending(&vm.irq) && lapic_accepts_extint(lapic))
            irq_extint_acknowledge(&vm.irq);
        else
            lapic_acknowledge(lapic);
        if (op & 0x10)
            lapic_mmio_write(lapic, LAPIC_EOI, 0, fake_now);
        break;
    }
    case 12: { /* a device moves its line */
        uint8_t b = (uint8_t)take(in, 1);
        irq_line_set(&vm.irq, b % (IOAPIC_PINS + 2), b >> 7);
        break;
    }
    case 13: { /* an MSI as the guest programmed it */
        uint64_t address = (op & 0x10) ? 0xfee00000ULL | (take(in, 2) & 0xffff) << 2 : take(in, 8);
        irq_send_msi(&vm.irq, address, (uint32_t)take(in, 4));
        break;
    }
    case 14: {
        uint8_t sipi;
        lapic_take_events(lapic, &sipi);
        break;
    }
    default: { /* the state a snapshot would carry, read and written back whole */
        struct lapic_state ls;
        lapic_get_state(lapic, &ls);
        lapic_set_state(lapic, &ls);
        /* The dumps (--verbose's exit report) of that state, at most once
         * per input: one costs more than a hundred other operations. */
        if ((op & 0x70) == 0x70 && !dumped) {
            dumped = true;
            char dump[4096];
            lapic_dump(lapic, dump, sizeof(dump));
            ioapic_dump(&vm.irq.ioapic, dump, sizeof(dump));
            pic_dump(&vm.irq.pic, dump, sizeof(dump));
        }
        break;
    }
    }
    check_timer_floor();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        /* Warnings still format and pass the rate limit, but go nowhere. */
        log_set_level(LOG_DEBUG);
        log_set_file(open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC), false);
        quiet = true;
    }
    /* The fake clock starts at the real one: the MSR handler reads the real
     * clock for TSC deadlines and x2APIC timer counts. */
    fake_now = clock_monotonic_ns();
    dumped = false;
    if (machine_create() < 0)
        abort();
    /* The LAPICs as the guest finds them once its BIOS step is done: enabled. */
    for (int i = 0; i < CPUS; i++)
        lapic_mmio_write(&vm.irq.lapics[i], LAPIC_SVR, 0x1ff, fake_now);
    struct input in = {data, size};
    for (int ops = 0; in.left && ops < MAX_OPS; ops++)
        one_op(&in);
    machine_destroy();
    return 0;
}
