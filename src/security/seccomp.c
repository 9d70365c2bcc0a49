#include "security/seccomp.h"

#include <errno.h>
#include <jansson.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a SIGSYS from a seccomp filter (linux/seccomp.h names it in siginfo.h) */
#endif

#include "security/seccomp_allowlists.h"
#include "security/seccomp_json.h"
#include "util/log.h"

/* Every kind's program, compiled once before any thread starts, so that a
 * thread confining itself does one seccomp(2) and no allocation. */
static struct sock_fprog programs[THREAD_KIND_COUNT];
static bool prepared;
static _Atomic unsigned long num_faults;
static _Atomic int metrics_fd = -1;

/* For the SIGSYS handler, which may only read what is already there. */
static __thread char thread_label[16];
static __thread int current_kind = -1;
#define SYSCALL_NAMES 512
static const char *syscall_names[SYSCALL_NAMES];

bool seccomp_active(void) { return prepared; }
unsigned long seccomp_num_faults(void) { return atomic_load(&num_faults); }
void seccomp_set_metrics_fd(int fd) { atomic_store(&metrics_fd, fd); }

/* --- the SIGSYS handler: async-signal-safe, no locks, no allocation ------------- */

struct line {
    char buf[320];
    size_t len;
};

static void put_str(struct line *l, const char *s)
{
    while (s && *s && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, unsigned long long v)
{
    char digits[24];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(digits));
    while (n > 0 && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = digits[--n];
}

static void write_all(int fd, const struct line *l)
{
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(fd, l->buf + off, l->len - off);
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
    (void)ucontext;
    if (si->si_code != SYS_SECCOMP) { /* someone sent SIGSYS: what the default would do */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    unsigned long faults = atomic_fetch_add(&num_faults, 1) + 1;
    int nr = si->si_syscall;
    struct line l = {.len = 0};
    put_str(&l, "ember: error: seccomp: thread ");
    put_str(&l, thread_label[0] ? thread_label : "?");
    put_str(&l, " (");
    put_str(&l, current_kind >= 0 ? thread_kind_name((enum thread_kind)current_kind) : "unconfined");
    put_str(&l, " filter) made a forbidden system call ");
    put_num(&l, (unsigned)nr);
    if (si->si_arch != AUDIT_ARCH_X86_64)
        put_str(&l, " of another ABI (not x86_64)");
    else if (nr >= 0 && nr < SYSCALL_NAMES && syscall_names[nr]) {
        put_str(&l, " (");
        put_str(&l, syscall_names[nr]);
        put_str(&l, ")");
    }
    put_str(&l, "; ember stops with status 148\n");
    write_all(STDERR_FILENO, &l);
    int log_fd = log_file_fd();
    if (log_fd >= 0)
        write_all(log_fd, &l);
    int mfd = atomic_load(&metrics_fd);
    if (mfd >= 0) { /* Firecracker's counter, in a line of its own */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct line m = {.len = 0};
        put_str(&m, "{\"utc_timestamp_ms\":");
        put_num(&m, (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000);
        put_str(&m, ",\"seccomp\":{\"num_faults\":");
        put_num(&m, faults);
        put_str(&m, "}}\n");
        write_all(mfd, &m);
    }
    _exit(SECCOMP_EXIT_STATUS);
}

/* --- compiling ---------------------------------------------------------------- */

/* libseccomp builds the BPF; the kernel gets it later from each thread. */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *out)
{
    int fd = memfd_create("ember-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = seccomp_export_bpf(ctx, fd);
    off_t size = r == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (r == 0 && (size <= 0 || size % (off_t)sizeof(struct sock_filter) || size / 8 > BPF_MAXINSNS))
        r = -E2BIG;
    struct sock_filter *insns = r == 0 ? malloc((size_t)size) : NULL;
    if (r == 0 && (!insns || pread(fd, insns, (size_t)size, 0) != size))
        r = insns ? -EIO : -ENOMEM;
    close(fd);
    if (r < 0) {
        free(insns);
        return r;
    }
    *out = (struct sock_fprog){.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter)), .filter = insns};
    return 0;
}

/* The built-in allowlist of a kind, with the given action for the rest. */
static scmp_filter_ctx builtin_filter(enum thread_kind kind, uint32_t default_action, int kick_signal)
{
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx)
        return NULL;
    /* A binary tree over the system call numbers, and the hot call first
     * (a vCPU's KVM_RUN, a device thread's epoll_wait): the filter runs on
     * every system call. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    seccomp_syscall_priority(ctx, kind == THREAD_VCPU ? SCMP_SYS(ioctl) : SCMP_SYS(epoll_wait), 255);
    const struct seccomp_allowlist *list = seccomp_allowlist(kind);
    for (size_t s = 0; s < SECCOMP_MAX_SETS && list->sets[s].rules; s++)
        for (size_t i = 0; i < list->sets[s].count; i++) {
            const struct seccomp_rule *rule = &list->sets[s].rules[i];
            int r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, rule->syscall, rule->nargs, rule->args);
            if (r < 0) {
                log_error("seccomp: the %s allowlist's rule for system call %d is refused by libseccomp: %s",
                          thread_kind_name(kind), rule->syscall, strerror(-r));
                seccomp_release(ctx);
                return NULL;
            }
        }
    /* Signals to ember's own threads only: a vCPU's kick, and abort(). */
    int signals[] = {kick_signal, SIGABRT};
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2, SCMP_A0(SCMP_CMP_EQ, (uint64_t)getpid(), 0),
                             SCMP_A2(SCMP_CMP_EQ, (uint64_t)signals[i], 0)) < 0) {
            seccomp_release(ctx);
            return NULL;
        }
    return ctx;
}

static void name_syscalls(void)
{
    for (int nr = 0; nr < SYSCALL_NAMES; nr++)
        syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr); /* kept for the handler */
}

int seccomp_prepare(const struct seccomp_options *opt, bool *usage_error)
{
    *usage_error = false;
    if (opt->mode == SECCOMP_OFF) {
        log_info("seccomp is off (--no-seccomp): ember's threads can make any system call");
        return 0;
    }
    /* The kernel must take filters at all: else say so, and do not run. */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
        log_error("seccomp: this kernel has no seccomp (%s); run with --no-seccomp to go on without it",
                  strerror(errno));
        return -1;
    }
    scmp_filter_ctx ctxs[THREAD_KIND_COUNT] = {0};
    if (opt->filter_file) {
        char err[512];
        if (seccomp_json_compile_file(opt->filter_file, ctxs, err, sizeof(err)) < 0) {
            log_error("--seccomp-filter: %s", err);
            *usage_error = true;
            return -1;
        }
    } else {
        uint32_t action = opt->mode == SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
        for (int k = 0; k < THREAD_KIND_COUNT; k++)
            if (!(ctxs[k] = builtin_filter((enum thread_kind)k, action, opt->kick_signal))) {
                for (int j = 0; j < k; j++)
                    seccomp_release(ctxs[j]);
                return -1;
            }
    }
    int r = 0;
    for (int k = 0; k < THREAD_KIND_COUNT; k++) {
        /* A call of another ABI (int 0x80, x32) is refused as a violation too. */
        if (r == 0)
            r = seccomp_attr_set(ctxs[k], SCMP_FLTATR_ACT_BADARCH,
                                 opt->mode == SECCOMP_LOG && !opt->filter_file ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
        if (r == 0)
            r = export_program(ctxs[k], &programs[k]);
        seccomp_release(ctxs[k]);
        if (r < 0 && r != -1) {
            log_error("seccomp: cannot compile the %s filter: %s", thread_kind_name((enum thread_kind)k), strerror(-r));
            r = -1;
        }
    }
    if (r < 0)
        return -1;
    name_syscalls();
    /* What the C library and jansson would otherwise do on first use, on
     * whichever thread that is: read /etc/localtime (gmtime_r), seed the
     * JSON hash tables from /dev/urandom. */
    tzset();
    json_object_seed(0);
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    /* No new privileges: required to install a filter without CAP_SYS_ADMIN,
     * and inherited by every thread started from here on. */
    if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        log_error("seccomp: cannot set up: %s", strerror(errno));
        return -1;
    }
    if (opt->mode == SECCOMP_LOG && !opt->filter_file)
        log_info("seccomp: --seccomp-log: a forbidden system call is allowed and logged by the kernel (dmesg, audit "
                 "type 1326 SECCOMP), not stopped");
    prepared = true;
    return 0;
}

void seccomp_confine_thread(enum thread_kind kind)
{
    if (!prepared || (unsigned)kind >= THREAD_KIND_COUNT)
        return;
    pthread_getname_np(pthread_self(), thread_label, sizeof(thread_label));
    current_kind = (int)kind;
    /* A SIGSYS that finds the signal blocked kills without the handler's
     * line: threads that start with every signal blocked take this one. */
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[kind]) != 0) {
        log_error("seccomp: thread %s cannot install the %s filter: %s", thread_label, thread_kind_name(kind),
                  strerror(errno));
        _exit(1);
    }
    if (seccomp_test_probe)
        seccomp_test_probe(kind);
}
