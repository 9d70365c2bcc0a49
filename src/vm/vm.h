/* One virtual machine: the KVM VM file descriptor, guest memory, the two I/O
 * buses with the platform devices on them, the interrupt controller, and the
 * vCPUs. It also owns the VM's lifecycle: whoever decides the VM must end
 * (guest poweroff/reboot, a fatal exit, a signal, the console escape) calls
 * vm_request_stop(); the first reason wins and the main thread tears down. */
#ifndef EMBER_VM_VM_H
#define EMBER_VM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot/boot.h"
#include "bus/io_bus.h"
#include "console/console.h"
#include "cpu/cpu_template.h"
#include "cpu/vcpu.h"
#include "devices/boot_timer.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_port.h"
#include "devices/i8042.h"
#include "devices/power.h"
#include "devices/pvpanic.h"
#include "devices/uart_16550.h"
#include "irq/irq.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/vsock.h"
#include "vm/lifecycle.h"
#include "pci/pci.h"

/* virtio-mmio devices: as many as there are GSIs set aside for them. */
#define VM_MAX_VIRTIO 15
#define VM_MAX_DISKS 12 /* kata puts 9: its root image and 8 placeholders for hot-plug */
#define VM_MAX_NICS 4

enum virtio_transport { VIRTIO_MMIO, VIRTIO_PCI };

struct vm_config {
    uint64_t ram_size;
    int ncpus;
    enum irqchip_mode irqchip;
    uint32_t kvm_pv_off;     /* KVM paravirt features hidden from the guest (CPUID 0x40000001) */
    struct boot_config boot;
    struct console_config console;
    struct virtio_blk_config disks[VM_MAX_DISKS];
    int ndisks;
    struct virtio_net_config nics[VM_MAX_NICS];
    int nnics;
    bool rng;
    struct rate_limiter_config rng_limiter; /* all zero: unlimited */
    bool virtio_console;     /* console input to a virtio-console port, not COM1 */
    struct virtio_vsock_config vsock; /* uds_path NULL: no vsock device */
    bool balloon;            /* a virtio-balloon device, as balloon_config says */
    struct virtio_balloon_config balloon_config;
    enum virtio_transport transport;
    bool smt;                /* two threads per core in the guest's CPU topology */
    /* --boot-timer: Firecracker's boot timer at port 0x3f0, from this start. */
    bool boot_timer;
    struct boot_timer_start boot_start;
    /* Installed as `firecracker`: vCPU threads named as Firecracker's
     * ("fc_vcpu N"), which kata's runtime looks for to place them. */
    bool firecracker_names;
    const struct cpu_template *cpu_template; /* NULL: the host's CPUID as KVM offers it */
};

struct vm {
    struct kvm_system *kvm;
    int fd;
    int ncpus;
    uint32_t kvm_pv_off;
    struct kvm_cpuid2 *template_cpuid; /* KVM's supported CPUID with the CPU template applied */
    struct guest_memory mem;
    struct io_bus pio;
    struct io_bus mmio;
    struct irq_chip irq;
    struct boot_entry entry;
    struct vcpu *vcpus;
    struct console console;

    struct uart_16550 com1;
    struct i8042 kbc;
    struct cmos_rtc rtc;
    struct debug_port post;
    struct boot_timer boot_timer;
    struct power_device power;
    struct pvpanic pvpanic;

    /* virtio devices, each on its MMIO transport */
    int nvirtio;
    struct virtio_device *virtio[VM_MAX_VIRTIO];
    enum virtio_transport transport;
    struct virtio_mmio virtio_mmio[VM_MAX_VIRTIO];
    struct virtio_pci virtio_pci[VM_MAX_VIRTIO];
    struct pci_bus pci;
    bool has_pci;
    char *cmdline;           /* the user's command line plus the virtio_mmio.device= entries */
    struct virtio_device *virtio_console; /* when the console's input goes there */

    /* Stop and pause, shared with every thread (vm/lifecycle.h). A pause
     * parks the vCPUs at their next pause point and holds the device I/O
     * threads; resume undoes both. */
    struct vm_lifecycle life;
    struct vcpu_machine machine; /* what the vCPUs see of this VM */

    int signal_fd;           /* SIGINT/SIGTERM/SIGHUP, from vm_start to the end of vm_wait */
    int started;             /* vCPU threads started */
};

int vm_create(struct vm *vm, struct kvm_system *kvm, const struct vm_config *cfg);
/* Runs the VM until it stops; returns ember's exit status. Same as vm_start,
 * then vm_wait. */
int vm_run(struct vm *vm);
/* Starts the console, chips, device threads and vCPUs (call on the thread
 * that will call vm_wait: it takes the stop signals). 0, or -1 with the VM
 * already stopping. */
int vm_start(struct vm *vm);
/* The signals that stop ember: SIGINT, SIGTERM, SIGHUP. */
void vm_stop_signals(sigset_t *set);
/* Waits until the VM stops, tears its threads down; returns the exit status. */
int vm_wait(struct vm *vm);

/* Pause and resume, from any thread but a vCPU's. vm_pause returns once every
 * vCPU is parked and every device thread has stopped (0), or -1 when that did
 * not happen within timeout_ms (the VM is then resumed) or the VM stops. */
int vm_pause(struct vm *vm, int timeout_ms);
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
void vm_destroy(struct vm *vm);

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline bool vm_stopping(struct vm *vm) { return vm_lifecycle_stopping(&vm->life); }

#endif
