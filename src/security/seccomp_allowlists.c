/* The allowlists. Each entry says which of ember's calls needs it; a call
 * not listed ends ember (status 148). seccomp.c adds one rule to every list:
 * tgkill of a thread of this process with the vCPU kick signal or SIGABRT
 * (their numbers are known only at run time), which any thread that raises
 * an interrupt for a vCPU in ember's own LAPIC uses.
 *
 * Arguments are narrowed where the call is dangerous in general and ember
 * uses a known few values: ioctl by request number (per kind: the vCPU gets
 * KVM_RUN and register access, not KVM_CREATE_VM), mmap/mprotect without
 * PROT_EXEC, madvise only to free, fcntl only for the image lock. A file
 * descriptor cannot be checked by seccomp; Landlock and the jail limit what
 * a path can reach. */
#include "security/seccomp_allowlists.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define SYS(name) {.syscall = __NR_##name}
#define ARG_EQ(name, index, value)                                                                                      \
    {.syscall = __NR_##name, .nargs = 1, .args = {{.arg = (index), .op = SCMP_CMP_EQ, .datum_a = (value)}}}
/* The request is compared whole: a request with junk in its high bits (the
 * kernel would see only the low 32) is refused. */
#define IOCTL(request) ARG_EQ(ioctl, 1, request)
#define NO_EXEC(name)                                                                                                   \
    {.syscall = __NR_##name,                                                                                            \
     .nargs = 1,                                                                                                        \
     .args = {{.arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0}}}
#define SET(a) {(a), sizeof(a) / sizeof((a)[0])}

/* What the C library and the thread itself need on any thread: memory for
 * malloc (never executable), futexes for locks, signal masks, the thread's
 * end, the log line (write; isatty's TCGETS), eventfd reads and writes. */
static const struct seccomp_rule every_thread[] = {
    SYS(futex),
    SYS(read),
    SYS(write),
    SYS(exit),
    SYS(exit_group),
    SYS(rt_sigreturn),
    SYS(rt_sigprocmask),
    SYS(restart_syscall),
    SYS(sched_yield),
    SYS(getpid),
    SYS(gettid),
    SYS(clock_gettime),
    SYS(brk),
    SYS(munmap),
    SYS(mremap),
    NO_EXEC(mmap),
    NO_EXEC(mprotect),
    ARG_EQ(madvise, 2, MADV_DONTNEED), /* a thread's stack given back as it ends; free() */
    IOCTL(TCGETS),                     /* isatty() on the log's descriptor */
    ARG_EQ(prctl, 0, PR_GET_NAME),     /* the thread's name in a log file's lines */
};

/* A device model that raises an interrupt line or sends an MSI, with KVM's
 * irqchip (split: MSIs; kernel: lines too). */
static const struct seccomp_rule raise_interrupts[] = {
    IOCTL(KVM_IRQ_LINE),
    IOCTL(KVM_SIGNAL_MSI),
};

/* A device I/O thread's event loop. */
static const struct seccomp_rule event_loop[] = {
    SYS(epoll_wait),
    SYS(epoll_pwait),
    SYS(epoll_ctl),       /* net: watching its tap only while it has buffers */
    SYS(timerfd_settime), /* a rate limiter's wait for its tokens */
};

static const struct seccomp_rule vcpu[] = {
    IOCTL(KVM_RUN),
    /* Exits that read or change the vCPU (ember's LAPIC: INIT/SIPI, the
     * TSC deadline; the dumps of a failing vCPU). */
    IOCTL(KVM_GET_REGS),
    IOCTL(KVM_SET_REGS),
    IOCTL(KVM_GET_SREGS),
    IOCTL(KVM_SET_SREGS),
    IOCTL(KVM_GET_MSRS),
    IOCTL(KVM_GET_MP_STATE),
    IOCTL(KVM_TRANSLATE),
    IOCTL(KVM_INTERRUPT),
    IOCTL(KVM_NMI),
    /* The guest programs its devices from here: MSI-X routes, ioeventfds
     * at DRIVER_OK and BAR moves, irqfds, a NIC's offloads. */
    IOCTL(KVM_SET_GSI_ROUTING),
    IOCTL(KVM_IOEVENTFD),
    IOCTL(KVM_IRQFD),
    IOCTL(TUNSETOFFLOAD),
    SYS(epoll_ctl),       /* a device's watched descriptors, at activation */
    SYS(io_uring_enter),  /* a blk queue reset waits for its requests in flight */
    SYS(poll),            /* HLT and the wait for SIPI in ember's LAPIC */
    SYS(ppoll),
    SYS(timerfd_settime), /* ember's LAPIC timer */
    SYS(close),
};

static const struct seccomp_rule blk[] = {
    SYS(io_uring_enter),
    SYS(fallocate),       /* discard and write-zeroes on a file */
    IOCTL(BLKDISCARD),    /* ... and on a block device */
    IOCTL(BLKZEROOUT),
    SYS(preadv),          /* the synchronous path when io_uring is busy */
    SYS(pwritev),
    SYS(fdatasync),
};

/* vsock's host side: Unix stream sockets only (connect to <uds_path>_<port>,
 * accept on uds_path), non-blocking, and their own epoll set. */
static const struct seccomp_rule vsock[] = {
    ARG_EQ(socket, 0, AF_UNIX),
    SYS(connect),
    SYS(accept4),
    SYS(sendto),
    SYS(sendmsg),
    SYS(recvfrom),
    SYS(readv),
    SYS(shutdown),
    SYS(close),
};

static const struct seccomp_rule net[] = {
    SYS(readv),
    SYS(writev),
};

static const struct seccomp_rule rng[] = {
    SYS(getrandom),
};

/* The balloon gives guest pages back with madvise(MADV_DONTNEED), which
 * every thread may call, and polls statistics with a timerfd, which the
 * event loop's set arms: nothing of its own. */

static const struct seccomp_rule console_input[] = {
    SYS(poll),
    SYS(ppoll),
};

static const struct seccomp_rule timers[] = {
    SYS(poll),
    SYS(ppoll),
    SYS(timerfd_settime),
};

/* The API server: its socket, and what requests change on a running VM
 * (PATCH /drives opens and locks an image; PUT /logger and /metrics open
 * their files; pause and resume hold the device threads). */
static const struct seccomp_rule api[] = {
    SYS(epoll_wait),
    SYS(epoll_pwait),
    SYS(epoll_ctl),
    ARG_EQ(accept4, 3, SOCK_NONBLOCK | SOCK_CLOEXEC),
    SYS(sendto),
    SYS(recvfrom),
    SYS(close),
    SYS(openat),
    SYS(newfstatat),
    SYS(fstat),
    SYS(lseek),
    ARG_EQ(fcntl, 1, F_OFD_SETLK), /* a disk image's lock */
    IOCTL(BLKGETSIZE64),
    SYS(getrandom),                 /* jansson's hash seed, a MAC address */
    SYS(landlock_restrict_self),    /* the VM's file rules, on the first request after boot */
};

/* The main thread once the VM runs: it waits for the end (signalfd, the stop
 * eventfd, the stop probe's kicks), then tears everything down: joins the
 * threads, logs the exit counters and a failing vCPU's registers, deassigns
 * irqfds and ioeventfds, unmaps guest memory, restores the terminal, flushes
 * metrics and removes the API socket. */
static const struct seccomp_rule vmm[] = {
    SYS(poll),
    SYS(ppoll),
    SYS(close),
    SYS(epoll_ctl),
    SYS(io_uring_enter),
    IOCTL(KVM_GET_REGS),
    IOCTL(KVM_GET_MP_STATE),
    IOCTL(KVM_IOEVENTFD),
    IOCTL(KVM_IRQFD),
    IOCTL(TCSETS), /* the terminal back as it was (tcsetattr) */
    IOCTL(TCSETSW),
    IOCTL(TCSETSF),
    SYS(unlink), /* the API socket */
    SYS(unlinkat),
};

#ifdef __SANITIZE_ADDRESS__
/* The ASan+UBSan test build only: the sanitizer runtime's own calls. Every
 * thread sets up an alternate signal stack and advises on its shadow memory;
 * at exit, LeakSanitizer's check on the main thread clones a tracer that
 * ptraces the other threads and reads /proc/self. A release build has none
 * of these. */
static const struct seccomp_rule sanitizer_every_thread[] = {
    SYS(sigaltstack),
    SYS(madvise),
};
static const struct seccomp_rule sanitizer_leak_check[] = {
    SYS(clone),  SYS(ptrace), SYS(wait4),      SYS(getppid), SYS(rt_sigaction), SYS(prctl),
    SYS(open),   SYS(openat), SYS(getdents64), SYS(getdents), SYS(lseek),       SYS(close),
    SYS(sched_getaffinity),
};
#define SANITIZER SET(sanitizer_every_thread),
#define SANITIZER_MAIN SET(sanitizer_every_thread), SET(sanitizer_leak_check),
#else
#define SANITIZER
#define SANITIZER_MAIN
#endif

static const struct seccomp_allowlist lists[THREAD_KIND_COUNT] = {
    [THREAD_VMM] = {{SANITIZER_MAIN SET(every_thread), SET(raise_interrupts), SET(vmm)}},
    [THREAD_API] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(api)}},
    [THREAD_VCPU] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(vcpu)}},
    [THREAD_BLK] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop), SET(blk)}},
    [THREAD_NET] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop), SET(net)}},
    [THREAD_RNG] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop), SET(rng)}},
    [THREAD_VIRTIO_CONSOLE] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop)}},
    [THREAD_BALLOON] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop)}},
    [THREAD_CONSOLE_INPUT] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(console_input)}},
    [THREAD_TIMERS] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(timers)}},
    [THREAD_VSOCK] = {{SANITIZER SET(every_thread), SET(raise_interrupts), SET(event_loop), SET(vsock)}},
};

const struct seccomp_allowlist *seccomp_allowlist(enum thread_kind kind) { return &lists[kind]; }

size_t seccomp_allowlist_size(enum thread_kind kind)
{
    size_t n = 0;
    for (size_t s = 0; s < SECCOMP_MAX_SETS && lists[kind].sets[s].rules; s++)
        n += lists[kind].sets[s].count;
    return n + 2; /* the two tgkill rules seccomp.c adds */
}
