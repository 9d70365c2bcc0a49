#include "vm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "memory/layout.h"
#include "security/seccomp.h"
#include "util/clock.h"
#include "util/log.h"
#include "virtio/console.h"
#include "virtio/rng.h"

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_lifecycle_vrequest_stop(&vm->life, reason, fmt, ap);
    va_end(ap);
}

/* --- pause and resume ----------------------------------------------------------- */

bool vm_is_paused(struct vm *vm)
{
    pthread_mutex_lock(&vm->life.pause_lock);
    bool p = vm->life.paused;
    pthread_mutex_unlock(&vm->life.pause_lock);
    return p;
}

int vm_pause(struct vm *vm, int timeout_ms)
{
    pthread_mutex_lock(&vm->life.pause_lock);
    if (vm->life.paused) {
        pthread_mutex_unlock(&vm->life.pause_lock);
        return 0;
    }
    atomic_store_explicit(&vm->life.pause_requested, true, memory_order_release);
    pthread_mutex_unlock(&vm->life.pause_lock);
    /* Out of KVM_RUN (a kick) or out of ember's own HLT/SIPI wait (the wake
     * eventfd); each vCPU then parks at its next pause point. */
    for (int i = 0; i < vm->started; i++) {
        vcpu_kick(&vm->vcpus[i]);
        vcpu_wake(&vm->vcpus[i]);
    }
    struct timespec deadline = clock_realtime_deadline(timeout_ms);
    pthread_mutex_lock(&vm->life.pause_lock);
    int r = 0;
    while (vm->life.paused_vcpus < vm->started && !vm_stopping(vm) && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&vm->life.pause_cond, &vm->life.pause_lock, &deadline);
    bool ok = vm->life.paused_vcpus == vm->started && !vm_stopping(vm);
    if (!ok) {
        atomic_store(&vm->life.pause_requested, false);
        pthread_cond_broadcast(&vm->life.pause_cond);
        pthread_mutex_unlock(&vm->life.pause_lock);
        if (!vm_stopping(vm))
            log_error("pause: the vCPUs did not stop within %d ms; the VM keeps running", timeout_ms);
        return -1;
    }
    pthread_mutex_unlock(&vm->life.pause_lock);
    /* The vCPUs are parked: no MMIO or PIO can reach the devices now. A
     * device that cannot quiesce in what is left of the timeout (host I/O
     * that does not finish) fails the pause: the others run again, then the
     * vCPUs. */
    for (int i = 0; i < vm->nvirtio; i++) {
        if (virtio_device_pause(vm->virtio[i], clock_ms_until(&deadline)) < 0) {
            while (i-- > 0)
                virtio_device_resume(vm->virtio[i]);
            pthread_mutex_lock(&vm->life.pause_lock);
            atomic_store(&vm->life.pause_requested, false);
            pthread_cond_broadcast(&vm->life.pause_cond);
            pthread_mutex_unlock(&vm->life.pause_lock);
            log_error("pause: a device did not quiesce within %d ms; the VM keeps running", timeout_ms);
            return -1;
        }
    }
    pthread_mutex_lock(&vm->life.pause_lock);
    vm->life.paused = true;
    pthread_mutex_unlock(&vm->life.pause_lock);
    log_info("VM paused");
    return 0;
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->life.pause_lock);
    bool was = vm->life.paused;
    vm->life.paused = false;
    pthread_mutex_unlock(&vm->life.pause_lock);
    if (!was)
        return;
    for (int i = 0; i < vm->nvirtio; i++)
        virtio_device_resume(vm->virtio[i]);
    pthread_mutex_lock(&vm->life.pause_lock);
    atomic_store(&vm->life.pause_requested, false);
    pthread_cond_broadcast(&vm->life.pause_cond);
    pthread_mutex_unlock(&vm->life.pause_lock);
    log_info("VM resumed");
}

/* --- device glue: callbacks from device models into the VM --------------------- */

static void com1_transmit(void *ctx, uint8_t byte) { console_write(&((struct vm *)ctx)->console, &byte, 1); }
static void com1_set_irq(void *ctx, int level) { irq_line_set(&((struct vm *)ctx)->irq, UART_COM1_GSI, level); }
static void com1_rx_space(void *ctx) { console_notify_rx_space(&((struct vm *)ctx)->console); }
static void kbc_set_irq(void *ctx, int level) { irq_line_set(&((struct vm *)ctx)->irq, I8042_KBD_GSI, level); }
static void guest_reset(void *ctx) { vm_request_stop(ctx, VM_STOP_REBOOT, "guest rebooted"); }
static void guest_poweroff(void *ctx) { vm_request_stop(ctx, VM_STOP_POWEROFF, "guest powered off"); }
static void guest_panicked(void *ctx) { vm_request_stop(ctx, VM_STOP_PANIC, "guest kernel panicked"); }
static void guest_crash_loaded(void *ctx)
{
    (void)ctx;
    /* A port write, not a stop: a guest can write CRASH_LOADED in a loop. */
    static struct log_ratelimit crash_loaded_log;
    log_info_ratelimited(&crash_loaded_log, "guest kernel crashed and is starting its crash (kdump) kernel");
}

static size_t console_to_com1(void *ctx, const uint8_t *buf, size_t len)
{
    return uart_16550_receive(&((struct vm *)ctx)->com1, buf, len);
}

static size_t console_to_virtio(void *ctx, const uint8_t *buf, size_t len)
{
    return virtio_console_receive(((struct vm *)ctx)->virtio_console, buf, len);
}

static void virtio_console_output(void *ctx, const uint8_t *buf, size_t len)
{
    console_write(&((struct vm *)ctx)->console, buf, len);
}

static void virtio_console_rx_space(void *ctx) { console_notify_rx_space(&((struct vm *)ctx)->console); }

static void console_quit(void *ctx) { vm_request_stop(ctx, VM_STOP_USER, "quit from the console (Ctrl-A x)"); }

/* An interrupt or IPI for a vCPU whose interrupts ember injects (split and user modes). */
static void wake_vcpu(void *ctx, int cpu) { vcpu_wake(&((struct vm *)ctx)->vcpus[cpu]); }

static int create_devices(struct vm *vm, const struct vm_config *cfg)
{
    struct uart_backend com1 = {.transmit = com1_transmit, .set_irq = com1_set_irq, .rx_space = com1_rx_space, .ctx = vm};
    uart_16550_init(&vm->com1, &com1);
    i8042_init(&vm->kbc, guest_reset, kbc_set_irq, vm);
    uint64_t below = guest_memory_low_end(&vm->mem);
    cmos_rtc_init(&vm->rtc, below, vm->mem.ram_size - below);
    power_device_init(&vm->power, guest_poweroff, guest_reset, vm);
    vm->pvpanic = (struct pvpanic){.panicked = guest_panicked, .crash_loaded = guest_crash_loaded, .ctx = vm};
    if (io_bus_register(&vm->pio, UART_COM1_BASE, 8, &uart_16550_ops, &vm->com1) < 0 ||
        io_bus_register(&vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, &vm->kbc) < 0 ||
        io_bus_register(&vm->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, &vm->kbc) < 0 ||
        io_bus_register(&vm->pio, CMOS_PORT, 2, &cmos_rtc_ops, &vm->rtc) < 0 ||
        io_bus_register(&vm->pio, DEBUG_PORT, 1, &debug_port_ops, &vm->post) < 0 ||
        io_bus_register(&vm->pio, POWER_PM1A_EVT_PORT, POWER_PM1_LEN, &power_pm1_ops, &vm->power) < 0 ||
        io_bus_register(&vm->pio, POWER_RESET_PORT, 1, &power_reset_ops, &vm->power) < 0 ||
        io_bus_register(&vm->pio, PVPANIC_PORT, 1, &pvpanic_ops, &vm->pvpanic) < 0)
        return -1;
    if (cfg->boot_timer) {
        vm->boot_timer.start = cfg->boot_start;
        if (io_bus_register(&vm->pio, BOOT_TIMER_PORT, 1, &boot_timer_ops, &vm->boot_timer) < 0)
            return -1;
    }
    return 0;
}

/* GSIs for virtio-mmio devices: the ISA lines no platform device uses (edge,
 * active high by ISA default, which is what an irqfd pulse gives), then the
 * IOAPIC's PCI-range pins. */
static const uint32_t virtio_gsis[VM_MAX_VIRTIO] = {5, 6, 7, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

static int add_virtio(struct vm *vm, struct virtio_device *dev)
{
    if (!dev)
        return -1;
    int i = vm->nvirtio;
    if (i >= VM_MAX_VIRTIO) {
        log_error("too many virtio devices (at most %d)", VM_MAX_VIRTIO);
        virtio_device_destroy(dev);
        return -1;
    }
    vm->virtio[i] = dev;
    vm->nvirtio++;
    if (vm->transport == VIRTIO_PCI)
        return virtio_pci_attach(&vm->virtio_pci[i], dev, vm->fd, &vm->pci, &vm->irq, virtio_gsis[i]);
    return virtio_mmio_attach(&vm->virtio_mmio[i], dev, vm->fd, &vm->mmio, &vm->irq,
                              LAYOUT_VIRTIO_MMIO + (uint64_t)i * VIRTIO_MMIO_SIZE, virtio_gsis[i]);
}

/* Creates the virtio devices and returns the guest's command line with one
 * virtio_mmio.device= entry per device after the user's own. */
static int create_virtio_devices(struct vm *vm, const struct vm_config *cfg)
{
    vm->transport = cfg->transport;
    if (cfg->transport == VIRTIO_PCI) {
        if (pci_bus_init(&vm->pci, &vm->pio, &vm->mmio, LAYOUT_PCI_WINDOW, LAYOUT_PCI_WINDOW_SIZE) < 0)
            return -1;
        vm->has_pci = true;
    }
    for (int i = 0; i < cfg->ndisks; i++) {
        char name[24];
        snprintf(name, sizeof(name), "virtio-blk%d", i);
        if (add_virtio(vm, virtio_blk_create(&vm->mem, name, &cfg->disks[i])) < 0)
            return -1;
    }
    for (int i = 0; i < cfg->nnics; i++) {
        char name[24];
        snprintf(name, sizeof(name), "virtio-net%d", i);
        if (add_virtio(vm, virtio_net_create(&vm->mem, name, &cfg->nics[i])) < 0)
            return -1;
    }
    if (cfg->rng && add_virtio(vm, virtio_rng_create(&vm->mem, "virtio-rng", &cfg->rng_limiter)) < 0)
        return -1;
    if (cfg->vsock.uds_path && add_virtio(vm, virtio_vsock_create(&vm->mem, "virtio-vsock", &cfg->vsock)) < 0)
        return -1;
    if (cfg->balloon && add_virtio(vm, virtio_balloon_create(&vm->mem, "virtio-balloon", &cfg->balloon_config)) < 0)
        return -1;
    if (cfg->virtio_console) {
        struct virtio_console_backend be = {.write = virtio_console_output, .rx_space = virtio_console_rx_space, .ctx = vm};
        vm->virtio_console = virtio_console_create(&vm->mem, "virtio-console", &be);
        if (add_virtio(vm, vm->virtio_console) < 0)
            return -1;
    }
    const char *user = cfg->boot.cmdline ? cfg->boot.cmdline : "";
    size_t len = strlen(user) + 1 + (size_t)vm->nvirtio * 64;
    vm->cmdline = malloc(len);
    if (!vm->cmdline) {
        log_error("vm: out of memory for the command line");
        return -1;
    }
    size_t n = (size_t)snprintf(vm->cmdline, len, "%s", user);
    for (int i = 0; vm->transport == VIRTIO_MMIO && i < vm->nvirtio; i++)
        n += (size_t)snprintf(vm->cmdline + n, len - n, "%s", n ? " " : ""),
            n += (size_t)virtio_mmio_cmdline(&vm->virtio_mmio[i], vm->cmdline + n, len - n);
    return 0;
}

int vm_create(struct vm *vm, struct kvm_system *kvm, const struct vm_config *cfg)
{
    memset(vm, 0, sizeof(*vm));
    vm->kvm = kvm;
    vm->fd = -1;
    vm->signal_fd = -1;
    vm->irq.timer_fd = vm->irq.wake_fd = -1; /* irq_chip_destroy() is safe before irq_chip_create() */
    vm->ncpus = cfg->ncpus;
    vm->kvm_pv_off = cfg->kvm_pv_off;
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");
    if (vm_lifecycle_init(&vm->life) < 0)
        return -1;
    if (console_open(&vm->console, &cfg->console) < 0)
        return -1;
    vm->fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        log_error("vm: KVM_CREATE_VM failed: %s", strerror(errno));
        return -1;
    }
    if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0) {
        log_error("vm: KVM_SET_TSS_ADDR failed: %s", strerror(errno));
        return -1;
    }
    /* The IOAPIC's id follows the CPUs' APIC ids, as the MP table and MADT say. */
    if (irq_chip_create(&vm->irq, vm->fd, cfg->irqchip, cfg->ncpus, &vm->pio, &vm->mmio,
                        (uint8_t)(cfg->ncpus & 0xf)) < 0)
        return -1;
    if (guest_memory_init(&vm->mem, cfg->ram_size) < 0 || guest_memory_register(&vm->mem, vm->fd) < 0)
        return -1;
    /* Platform devices first: the PCI bus takes over 0xCF9 from the reset device. */
    if (create_devices(vm, cfg) < 0 || create_virtio_devices(vm, cfg) < 0)
        return -1;
    struct boot_config boot = cfg->boot;
    boot.ncpus = cfg->ncpus;
    boot.cmdline = vm->cmdline;
    boot.pci = vm->has_pci;
    if (boot_load(&vm->mem, &boot, &vm->entry) < 0)
        return -1;
    vm->vcpus = calloc((size_t)cfg->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        log_error("vm: out of memory for %d vCPUs", cfg->ncpus);
        return -1;
    }
    for (int i = 0; i < cfg->ncpus; i++)
        vm->vcpus[i].fd = vm->vcpus[i].wake_fd = -1;
    /* A CPU template changes the CPUID every vCPU starts from. */
    if (cfg->cpu_template) {
        char err[CPU_TEMPLATE_ERR_MAX];
        vm->template_cpuid = cpu_template_apply(cfg->cpu_template, kvm->supported_cpuid, kvm->fd, err);
        if (!vm->template_cpuid) {
            log_error("%s", err);
            return -1;
        }
    }
    vm->machine = (struct vcpu_machine){.vm_fd = vm->fd, .kvm = kvm, .ncpus = vm->ncpus,
                                        .cpuid = vm->template_cpuid ? vm->template_cpuid : kvm->supported_cpuid,
                                        .cpu_template = cfg->cpu_template,
                                        .threads_per_core = cfg->smt ? 2 : 1, .kvm_pv_off = vm->kvm_pv_off,
                                        .firecracker_names = cfg->firecracker_names,
                                        .irq = &vm->irq, .pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
                                        .life = &vm->life};
    for (int i = 0; i < cfg->ncpus; i++) {
        if (vcpu_create(&vm->vcpus[i], &vm->machine, i) < 0 || vcpu_configure(&vm->vcpus[i], &vm->entry) < 0)
            return -1;
    }
    vm->irq.wake_ctx = vm;
    vm->irq.wake_cpu = wake_vcpu;
    return 0;
}

static int exit_status_for(enum vm_stop_reason reason)
{
    switch (reason) {
    case VM_STOP_ERROR: return 1;
    case VM_STOP_PANIC: return 3;
    default: return 0;
    }
}

/* Logs a multi-line text (a chip dump) one debug line at a time. */
static void log_debug_lines(char *text)
{
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        log_debug("%s", line);
}

/* With --verbose: what each vCPU exited for, and what the guest touched that
 * no device claims. */
static void vm_log_exit_counters(struct vm *vm)
{
    if (!log_enabled(LOG_DEBUG))
        return;
    for (int i = 0; i < vm->ncpus; i++) {
        char line[768];
        struct kvm_regs regs;
        unsigned long long rip = ioctl(vm->vcpus[i].fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
        int n = snprintf(line, sizeof(line), "vcpu %d (%s, rip 0x%llx) exits:", i,
                         vcpu_state_name(atomic_load(&vm->vcpus[i].state)), rip);
        for (unsigned r = 0; r <= VCPU_EXIT_REASONS && n < (int)sizeof(line) - 40; r++) {
            unsigned long c = atomic_load(&vm->vcpus[i].exits[r]);
            if (c)
                n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%lu",
                              r == VCPU_EXIT_REASONS ? "other" : vcpu_exit_reason_name(r), c);
        }
        log_debug("%s", line);
    }
    if (vm->irq.mode != IRQCHIP_KERNEL) {
        char dump[4096];
        for (int i = 0; vm->irq.lapics && i < vm->ncpus; i++) {
            lapic_dump(&vm->irq.lapics[i], dump, sizeof(dump));
            log_debug_lines(dump);
        }
        ioapic_dump(&vm->irq.ioapic, dump, sizeof(dump));
        log_debug_lines(dump);
        pic_dump(&vm->irq.pic, dump, sizeof(dump));
        log_debug_lines(dump);
    }
    log_debug("unclaimed accesses: pio reads %lu writes %lu, mmio reads %lu writes %lu",
              atomic_load(&vm->pio.unclaimed_reads), atomic_load(&vm->pio.unclaimed_writes),
              atomic_load(&vm->mmio.unclaimed_reads), atomic_load(&vm->mmio.unclaimed_writes));
}

/* A kernel that cannot power the machine off (no ACPI) halts instead: every
 * CPU ends in HLT with interrupts disabled, which with KVM's in-kernel LAPIC
 * never exits to ember. Once a second the main thread asks each vCPU (a kick;
 * the vCPU thread answers after KVM_RUN returns) whether it is parked like
 * that or was never started; when all are, and at least one is halted, the
 * machine has stopped for good and ember ends it as a power-off. Idle Linux
 * halts with interrupts enabled, so a merely idle guest is never mistaken. */
#define STOP_PROBE_INTERVAL_MS 1000

static bool all_vcpus_parked(struct vm *vm, unsigned probe)
{
    bool any_halted = false;
    for (int i = 0; i < vm->ncpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        if (atomic_load(&v->probe_answered) != probe || !atomic_load(&v->parked))
            return false;
        any_halted |= atomic_load(&v->state) == VCPU_HALTED;
    }
    return any_halted;
}

static void stop_probe_tick(struct vm *vm, int started)
{
    unsigned probe = atomic_load(&vm->life.stop_probe);
    if (probe && started == vm->ncpus && all_vcpus_parked(vm, probe)) {
        vm_request_stop(vm, VM_STOP_POWEROFF,
                        "guest halted every vCPU with interrupts off (a kernel without ACPI powering off); "
                        "ending it as a power-off");
        return;
    }
    atomic_store(&vm->life.stop_probe, probe + 1);
    for (int i = 0; i < started; i++)
        vcpu_kick(&vm->vcpus[i]);
}

void vm_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int vm_start(struct vm *vm)
{
    /* SIGINT/SIGTERM/SIGHUP are taken synchronously by this thread through a
     * signalfd; every other thread inherits them blocked. */
    sigset_t stop_signals;
    vm_stop_signals(&stop_signals);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A failure below has logged its own line; the stop message stays empty. */
    vm->signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    if (vm->signal_fd < 0) {
        log_error("vm: signalfd: %s", strerror(errno));
        vm_request_stop(vm, VM_STOP_ERROR, "%s", "");
        return -1;
    }
    struct console_input_sink sink = {.receive = vm->virtio_console ? console_to_virtio : console_to_com1,
                                      .quit = console_quit, .ctx = vm};
    if (vcpu_signals_init() < 0 || console_start_input(&vm->console, &sink) < 0 || irq_chip_start(&vm->irq) < 0) {
        vm_request_stop(vm, VM_STOP_ERROR, "%s", "");
        return -1;
    }
    for (int i = 0; i < vm->nvirtio; i++)
        if (virtio_device_start(vm->virtio[i]) < 0) {
            vm_request_stop(vm, VM_STOP_ERROR, "could not start %s", vm->virtio[i]->name);
            return -1;
        }
    for (; vm->started < vm->ncpus && !vm_stopping(vm); vm->started++)
        if (vcpu_start(&vm->vcpus[vm->started]) < 0) {
            vm_request_stop(vm, VM_STOP_ERROR, "could not start vcpu %d", vm->started);
            return -1;
        }
    if (vm_stopping(vm))
        return -1;
    /* Every other thread runs, confined by itself: the main thread is left
     * to wait for the end and tear down, and confines itself last (a filter
     * is inherited by the threads started after it). */
    seccomp_confine_thread(THREAD_VMM);
    return 0;
}

int vm_wait(struct vm *vm)
{
    while (!vm_stopping(vm)) {
        struct pollfd p[2] = {{.fd = vm->signal_fd, .events = POLLIN}, {.fd = vm->life.stop_efd, .events = POLLIN}};
        int n = poll(p, 2, STOP_PROBE_INTERVAL_MS);
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0) {
            stop_probe_tick(vm, vm->started);
            continue;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(vm->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                vm_request_stop(vm, VM_STOP_SIGNAL, "stopped by %s", strsignal((int)si.ssi_signo));
        }
    }
    int started = vm->started;
    for (int i = 0; i < started; i++)
        vcpu_kick(&vm->vcpus[i]);
    for (int i = 0; i < started; i++)
        pthread_join(vm->vcpus[i].thread, NULL);
    for (int i = 0; i < vm->nvirtio; i++)
        virtio_device_stop(vm->virtio[i]);
    irq_chip_stop(&vm->irq);
    console_close(&vm->console);
    if (vm->signal_fd >= 0)
        close(vm->signal_fd);
    vm->signal_fd = -1;

    vm_log_exit_counters(vm);
    enum vm_stop_reason reason = atomic_load(&vm->life.stop_reason);
    /* An empty message: the failure has said why already. */
    if (vm->life.stop_message[0] && (reason == VM_STOP_ERROR || reason == VM_STOP_PANIC))
        log_error("%s", vm->life.stop_message);
    else if (vm->life.stop_message[0])
        log_info("%s", vm->life.stop_message);
    return exit_status_for(reason);
}

int vm_run(struct vm *vm)
{
    vm_start(vm);
    return vm_wait(vm);
}

void vm_destroy(struct vm *vm)
{
    if (vm->vcpus) {
        for (int i = 0; i < vm->ncpus; i++)
            vcpu_destroy(&vm->vcpus[i]);
        free(vm->vcpus);
        vm->vcpus = NULL;
    }
    console_close(&vm->console);
    for (int i = 0; i < vm->nvirtio; i++) {
        /* The transport first: it unhooks the device's eventfds from KVM. */
        if (vm->transport == VIRTIO_PCI)
            virtio_pci_detach(&vm->virtio_pci[i]);
        else
            virtio_mmio_detach(&vm->virtio_mmio[i]);
        virtio_device_destroy(vm->virtio[i]);
    }
    vm->nvirtio = 0;
    if (vm->has_pci)
        pci_bus_destroy(&vm->pci);
    vm->has_pci = false;
    free(vm->cmdline);
    free(vm->template_cpuid);
    vm->cmdline = NULL;
    irq_chip_destroy(&vm->irq);
    guest_memory_free(&vm->mem);
    io_bus_destroy(&vm->pio);
    io_bus_destroy(&vm->mmio);
    if (vm->fd >= 0)
        close(vm->fd);
    vm->fd = -1;
    vm_lifecycle_destroy(&vm->life);
}
