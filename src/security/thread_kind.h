/* The kinds of thread ember runs. Each kind has its own seccomp allowlist
 * (security/seccomp_allowlists.c), and the names are the keys of a
 * --seccomp-filter file ("vmm", "api" and "vcpu" are Firecracker's). */
#ifndef EMBER_SECURITY_THREAD_KIND_H
#define EMBER_SECURITY_THREAD_KIND_H

enum thread_kind {
    THREAD_VMM,            /* the main thread: builds the VM, then waits for its end */
    THREAD_API,            /* the Firecracker API server */
    THREAD_VCPU,           /* one per vCPU: KVM_RUN and its exits */
    THREAD_BLK,            /* a virtio-blk device's I/O thread */
    THREAD_NET,            /* a virtio-net device's I/O thread */
    THREAD_RNG,            /* a virtio-rng device's I/O thread */
    THREAD_VIRTIO_CONSOLE, /* a virtio-console device's I/O thread */
    THREAD_BALLOON,        /* a virtio-balloon device's I/O thread */
    THREAD_CONSOLE_INPUT,  /* reads the terminal or pipe into the guest's console */
    THREAD_TIMERS,         /* ember's PIT (split and user irqchip) and LAPIC timers (user) */
    THREAD_VSOCK,          /* a virtio-vsock device's I/O thread, with its Unix sockets */
    THREAD_KIND_COUNT
};

static inline const char *thread_kind_name(enum thread_kind kind)
{
    static const char *const names[THREAD_KIND_COUNT] = {
        [THREAD_VMM] = "vmm",
        [THREAD_API] = "api",
        [THREAD_VCPU] = "vcpu",
        [THREAD_BLK] = "blk",
        [THREAD_NET] = "net",
        [THREAD_RNG] = "rng",
        [THREAD_VIRTIO_CONSOLE] = "virtio_console",
        [THREAD_BALLOON] = "balloon",
        [THREAD_CONSOLE_INPUT] = "console_input",
        [THREAD_TIMERS] = "timers",
        [THREAD_VSOCK] = "vsock",
    };
    return (unsigned)kind < THREAD_KIND_COUNT ? names[kind] : "unknown";
}

#endif
