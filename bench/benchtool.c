/* benchtool: helpers for ember's benchmarks (bench/run.sh).
 *   benchtool floor KERNEL CMDLINE
 *       Boots KERNEL exactly as ember does (same loader, memory, irqchip,
 *       vCPU set-up, via libember) but runs the rawest possible exit loop:
 *       KVM_RUN, look at the port, re-enter. Port 0x80 exits do nothing at
 *       all; COM1 output is printed; PM1a (0x604) ends the run. This is the
 *       floor a VMM's port-I/O exit path can approach.
 *   benchtool tsc-mhz
 *       The host TSC rate, to turn the guest's TSC cycle counts into time.
 *   benchtool first-byte CMD [ARGS...]
 *       Runs CMD with stdout on a pipe; prints the microseconds from just
 *       before exec to the first byte of output, then drains it until exit.
 *   benchtool until LINE CMD [ARGS...]
 *       The same, to the first output line containing LINE; prints
 *       milliseconds. The child keeps running until it exits by itself
 *       (at most 60 s more). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "boot/boot.h"
#include "cpu/vcpu.h"
#include "irq/irq.h"
#include "kvm/kvm.h"
#include "memory/layout.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmd_floor(const char *kernel, const char *cmdline)
{
    /* The bare machine a vCPU needs: KVM, its irqchip, guest RAM; no devices. */
    static struct kvm_system kvm;
    static struct irq_chip irq;
    static struct guest_memory mem;
    if (kvm_system_open(&kvm, "/dev/kvm") < 0)
        return 1;
    int vm_fd = ioctl(kvm.fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0 || ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0 ||
        irq_chip_create(&irq, vm_fd, IRQCHIP_KERNEL, 1, NULL, NULL, 1) < 0 || guest_memory_init(&mem, 256 * MiB) < 0 ||
        guest_memory_register(&mem, vm_fd) < 0)
        return 1;
    struct vcpu_machine machine = {.vm_fd = vm_fd, .kvm = &kvm, .ncpus = 1, .irq = &irq, .mem = &mem};
    struct boot_config bc = {.kernel_path = kernel, .cmdline = cmdline, .ncpus = 1};
    struct boot_entry entry;
    struct vcpu vcpu;
    if (boot_load(&mem, &bc, &entry) < 0 || vcpu_create(&vcpu, &machine, 0) < 0 || vcpu_configure(&vcpu, &entry) < 0)
        return 1;
    struct kvm_run *run = vcpu.run;
    for (;;) {
        if (ioctl(vcpu.fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            perror("KVM_RUN");
            return 1;
        }
        if (run->exit_reason == KVM_EXIT_IO) {
            if (run->io.port == 0x80)
                continue; /* the measured exit: no work at all */
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                if (run->io.port == 0x3f8)
                    putchar(data[0]);
                else if (run->io.port == 0x604)
                    break;
            } else {
                memset(data, 0xff, run->io.size * run->io.count);
                if (run->io.port == 0x3fd)
                    data[0] = 0x60; /* LSR: transmitter empty */
            }
        } else if (run->exit_reason == KVM_EXIT_MMIO) {
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        } else {
            fprintf(stderr, "floor: unexpected exit %u\n", run->exit_reason);
            return 1;
        }
    }
    fflush(stdout);
    return 0;
}

static int cmd_tsc_mhz(void)
{
    double t0 = now_us();
    unsigned long long c0 = __rdtsc();
    usleep(200000);
    double t1 = now_us();
    unsigned long long c1 = __rdtsc();
    printf("%.1f\n", (double)(c1 - c0) / (t1 - t0));
    return 0;
}

/* Runs argv with stdout on a pipe and returns the microseconds from just
 * before exec until the output first contains `marker` (NULL: the first
 * byte), or -1. Echoes the child's output when `echo` is set. */
static double time_to_output(char **argv, const char *marker, bool echo)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    double t0 = now_us();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    char buf[4096], window[8192] = "";
    size_t wlen = 0;
    double found = -1;
    for (;;) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        if (poll(&pf, 1, 60000) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        if (echo)
            fwrite(buf, 1, (size_t)n, stderr);
        if (found >= 0)
            continue;
        if (!marker) {
            found = now_us() - t0;
            continue;
        }
        /* Keep a sliding window so a marker split across reads is found. */
        for (ssize_t i = 0; i < n; i++) {
            if (wlen == sizeof(window) - 1) {
                memmove(window, window + sizeof(window) / 2, sizeof(window) / 2 - 1);
                wlen = sizeof(window) / 2 - 1;
            }
            window[wlen++] = buf[i];
        }
        window[wlen] = 0;
        if (strstr(window, marker))
            found = now_us() - t0;
    }
    int st;
    waitpid(pid, &st, 0);
    close(p[0]);
    return found;
}

static int cmd_first_byte(char **argv)
{
    double us = time_to_output(argv, NULL, false);
    if (us < 0) {
        fprintf(stderr, "first-byte: %s printed nothing\n", argv[0]);
        return 1;
    }
    printf("%.0f\n", us);
    return 0;
}

static int cmd_until(const char *marker, char **argv)
{
    double us = time_to_output(argv, marker, true);
    if (us < 0) {
        fprintf(stderr, "until: '%s' never appeared in %s's output\n", marker, argv[0]);
        return 1;
    }
    printf("%.0f\n", us / 1000);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "floor"))
        return cmd_floor(argv[2], argv[3]);
    if (argc >= 2 && !strcmp(argv[1], "tsc-mhz"))
        return cmd_tsc_mhz();
    if (argc >= 3 && !strcmp(argv[1], "first-byte"))
        return cmd_first_byte(argv + 2);
    if (argc >= 4 && !strcmp(argv[1], "until"))
        return cmd_until(argv[2], argv + 3);
    fprintf(stderr, "usage: benchtool floor KERNEL CMDLINE | tsc-mhz | first-byte CMD [ARGS...] | until LINE CMD [ARGS...]\n");
    return 2;
}
