/* seccomp: every ember thread confines itself to the system calls its kind of
 * work needs, before it first touches anything a guest controls. A compromised
 * thread (a bug a hostile guest found) then holds only its own allowlist: a
 * vCPU can run KVM_RUN and read its registers, not create a VM, open a file or
 * exec a program.
 *
 * Sequence: the main thread calls seccomp_prepare() once, before it starts
 * any other thread (it compiles every kind's filter to BPF, installs the
 * SIGSYS handler and sets PR_SET_NO_NEW_PRIVS, which the threads inherit);
 * then each thread calls seccomp_confine_thread(kind) on itself. Filters are
 * per thread and inherited at creation, so the main thread confines itself
 * last, once every other thread is running.
 *
 * A violation (the default action of the built-in filters) raises SIGSYS; the
 * handler writes one line naming the thread and the system call, appends a
 * metrics line if metrics are configured, and ends ember with status 148, as
 * Firecracker does. */
#ifndef EMBER_SECURITY_SECCOMP_H
#define EMBER_SECURITY_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include "security/thread_kind.h"

/* What ember exits with after a forbidden system call (Firecracker's). */
#define SECCOMP_EXIT_STATUS 148

enum seccomp_mode {
    SECCOMP_ENFORCE, /* the default: a forbidden call ends ember (148) */
    SECCOMP_LOG,     /* --seccomp-log: a forbidden call is allowed and logged by the kernel */
    SECCOMP_OFF,     /* --no-seccomp */
};

struct seccomp_options {
    enum seccomp_mode mode;
    const char *filter_file; /* --seccomp-filter: Firecracker's JSON filter format */
    int kick_signal;         /* the signal that takes a vCPU out of KVM_RUN */
};

/* On the main thread, before any other thread starts. 0, or -1 after one
 * line naming the problem; *usage_error is set when the cause is the user's
 * input (a malformed filter file: exit 2) rather than the host. */
int seccomp_prepare(const struct seccomp_options *opt, bool *usage_error);

/* On the calling thread: installs its kind's filter (nothing when seccomp is
 * off or was never prepared, as in unit tests). A failure here ends ember
 * with status 1: a thread must not run unconfined when confinement was asked
 * for, and seccomp_prepare() has already proved the kernel supports it. */
void seccomp_confine_thread(enum thread_kind kind);

/* Whether filters are being installed (seccomp_prepare ran, not --no-seccomp). */
bool seccomp_active(void);

/* Forbidden calls caught so far (Firecracker's metrics "seccomp.num_faults"). */
unsigned long seccomp_num_faults(void);

/* The metrics file or pipe, for the handler's last line (-1: none). */
void seccomp_set_metrics_fd(int fd);

/* A test build defines this (tests/seccomp_probe.c): called on each thread
 * right after its filter is installed, so a test can make a forbidden call
 * on a chosen kind of thread. ember itself has no definition. */
void seccomp_test_probe(enum thread_kind kind) __attribute__((weak));

#endif
