/* The seccomp allowlists and the Firecracker-format filter files, each filter
 * loaded for real in a forked child: what a list allows works (and fails only
 * as the call itself would, with fd -1), what it narrows by argument is
 * refused with a perturbed argument (Firecracker's test_seccomp_validate
 * idea), and what no thread needs is refused on every kind. A refusal ends the
 * child with ember's status 148 through the SIGSYS handler. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "security/seccomp.h"
#include "security/seccomp_allowlists.h"
#include "security/seccomp_json.h"

#define KILLED 148

static void prepare_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct seccomp_options opt = {.mode = SECCOMP_ENFORCE, .kick_signal = SIGRTMIN};
    bool usage;
    CHECK(seccomp_prepare(&opt, &usage) == 0);
}

/* The exit status of a child that confines itself as kind and makes the call
 * (0 when the call returned, whatever it returned; 148 when refused). */
static int call_confined(enum thread_kind kind, long nr, const long args[6])
{
    prepare_once();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO); /* the handler's line, expected */
        seccomp_confine_thread(kind);
        syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        _exit(0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Whether the kind's list has a rule for nr whose one condition holds for
 * value at that argument. */
static bool list_allows(enum thread_kind kind, int nr, unsigned arg, uint64_t value)
{
    const struct seccomp_allowlist *l = seccomp_allowlist(kind);
    for (size_t s = 0; s < SECCOMP_MAX_SETS && l->sets[s].rules; s++)
        for (size_t i = 0; i < l->sets[s].count; i++) {
            const struct seccomp_rule *r = &l->sets[s].rules[i];
            if (r->syscall != nr)
                continue;
            if (r->nargs == 0)
                return true;
            const struct scmp_arg_cmp *c = &r->args[0];
            if (c->arg == arg && ((c->op == SCMP_CMP_EQ && value == c->datum_a) ||
                                  (c->op == SCMP_CMP_MASKED_EQ && (value & c->datum_a) == c->datum_b)))
                return true;
        }
    return false;
}

TEST(every_rule_with_an_argument_allows_its_value_and_refuses_a_perturbed_one)
{
    int checked = 0;
    for (int k = 0; k < THREAD_KIND_COUNT; k++) {
        const struct seccomp_allowlist *l = seccomp_allowlist((enum thread_kind)k);
        for (size_t s = 0; s < SECCOMP_MAX_SETS && l->sets[s].rules; s++)
            for (size_t i = 0; i < l->sets[s].count; i++) {
                const struct seccomp_rule *r = &l->sets[s].rules[i];
                if (r->nargs != 1)
                    continue;
                const struct scmp_arg_cmp *c = &r->args[0];
                long args[6] = {-1, -1, -1, -1, -1, -1};
                args[c->arg] = (long)(c->op == SCMP_CMP_MASKED_EQ ? c->datum_b : c->datum_a);
                int allowed = call_confined((enum thread_kind)k, r->syscall, args);
                if (allowed != 0)
                    fprintf(stderr, "  %s: syscall %d with arg%u = 0x%llx: status %d\n",
                            thread_kind_name((enum thread_kind)k), r->syscall, c->arg,
                            (unsigned long long)args[c->arg], allowed);
                CHECK_EQ(allowed, 0);
                if (list_allows((enum thread_kind)k, r->syscall, 7, 0)) /* allowed whatever its arguments */
                    continue;
                /* One bit away from the allowed value, and not another rule's value. */
                uint64_t bad = c->op == SCMP_CMP_MASKED_EQ ? (c->datum_b | c->datum_a) : c->datum_a ^ 1;
                for (int bit = 1; bit < 32 && list_allows((enum thread_kind)k, r->syscall, c->arg, bad); bit++)
                    bad = c->datum_a ^ (1ULL << bit);
                args[c->arg] = (long)bad;
                int refused = call_confined((enum thread_kind)k, r->syscall, args);
                if (refused != KILLED)
                    fprintf(stderr, "  %s: syscall %d with arg%u = 0x%llx: status %d, expected 148\n",
                            thread_kind_name((enum thread_kind)k), r->syscall, c->arg, (unsigned long long)bad,
                            refused);
                CHECK_EQ(refused, KILLED);
                if (r->syscall == SYS_ioctl) { /* junk in the high bits the kernel would drop */
                    args[1] = (long)(c->datum_a | (1ULL << 40));
                    CHECK_EQ(call_confined((enum thread_kind)k, SYS_ioctl, args), KILLED);
                }
                checked++;
            }
    }
    CHECK(checked > 40);
}

TEST(what_no_thread_needs_is_refused_on_every_kind)
{
    static const struct {
        long nr;
        long args[6];
    } calls[] = {
        {SYS_execve, {0, 0, 0}},
        {SYS_execveat, {-1, 0, 0, 0, 0}},
        {SYS_socket, {AF_INET, SOCK_STREAM, 0}},
        {SYS_socket, {AF_UNIX, SOCK_STREAM, 0}},
        {SYS_connect, {-1, 0, 0}},
        {SYS_ptrace, {PTRACE_TRACEME, 0, 0, 0}},
        {SYS_fork, {0}},
        {SYS_clone, {0, 0, 0, 0, 0}},
        {SYS_setuid, {0}},
        {SYS_mount, {0, 0, 0, 0, 0}},
        {SYS_personality, {0xffffffff}},
        {SYS_ioctl, {-1, KVM_CREATE_VM, 0}},
        {SYS_ioctl, {-1, KVM_SET_USER_MEMORY_REGION, 0}},
        {SYS_ioctl, {-1, KVM_CREATE_VCPU, 0}},
        {SYS_mmap, {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0}},
        {SYS_mprotect, {0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC}},
        {SYS_pkey_mprotect, {0, 4096, PROT_READ, -1}},
        {SYS_madvise, {0, 4096, MADV_REMOVE}},
        {SYS_kill, {1, 0}},
        {SYS_tgkill, {1, 1, SIGKILL}},
    };
#ifdef __SANITIZE_ADDRESS__
    printf("  sanitizer build: ptrace, clone and any madvise are allowed for its runtime; not checked\n");
    const bool sanitizer = true;
#else
    const bool sanitizer = false;
#endif
    for (int k = 0; k < THREAD_KIND_COUNT; k++)
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
            /* allowed in the ASan build (seccomp_allowlists.c) */
            if (sanitizer && (calls[i].nr == SYS_ptrace || calls[i].nr == SYS_clone || calls[i].nr == SYS_madvise))
                continue;
            /* vsock's host side: Unix sockets, and connects to <uds_path>_<port>
             * (an AF_INET socket stays refused to it too). */
            if (k == THREAD_VSOCK && ((calls[i].nr == SYS_socket && calls[i].args[0] == AF_UNIX) ||
                                      calls[i].nr == SYS_connect))
                continue;
            int r = call_confined((enum thread_kind)k, calls[i].nr, calls[i].args);
            if (r != KILLED)
                fprintf(stderr, "  %s: syscall %ld: status %d, expected 148\n", thread_kind_name((enum thread_kind)k),
                        calls[i].nr, r);
            CHECK_EQ(r, KILLED);
        }
}

TEST(the_kick_signal_may_go_to_ember_s_own_threads_only)
{
    for (int k = 0; k < THREAD_KIND_COUNT; k++) {
        long other_process[6] = {1, 1, SIGRTMIN};
        CHECK_EQ(call_confined((enum thread_kind)k, SYS_tgkill, other_process), KILLED);
    }
    /* In the child's own process (a child that prepares for itself). */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        struct seccomp_options opt = {.mode = SECCOMP_ENFORCE, .kick_signal = SIGRTMIN};
        bool usage;
        if (seccomp_prepare(&opt, &usage) < 0)
            _exit(10);
        seccomp_confine_thread(THREAD_TIMERS);
        if (syscall(SYS_tgkill, getpid(), -1, SIGRTMIN) != -1 || errno != EINVAL)
            _exit(11);
        syscall(SYS_tgkill, getpid(), -1, SIGTERM);
        _exit(12);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == KILLED);
}

TEST(the_vcpu_list_has_kvm_run_and_no_vm_creation)
{
    CHECK(list_allows(THREAD_VCPU, SYS_ioctl, 1, KVM_RUN));
    CHECK(list_allows(THREAD_VCPU, SYS_ioctl, 1, KVM_GET_REGS));
    CHECK(!list_allows(THREAD_VCPU, SYS_ioctl, 1, KVM_CREATE_VM));
    CHECK(!list_allows(THREAD_VCPU, SYS_openat, 0, 0));
    CHECK(!list_allows(THREAD_API, SYS_ioctl, 1, KVM_RUN));
    CHECK(!list_allows(THREAD_BLK, SYS_ioctl, 1, KVM_RUN));
    long args[6] = {-1, KVM_RUN, 0};
    CHECK_EQ(call_confined(THREAD_VCPU, SYS_ioctl, args), 0);
    CHECK_EQ(call_confined(THREAD_API, SYS_ioctl, args), KILLED);
    for (int k = 0; k < THREAD_KIND_COUNT; k++)
        printf("  allowlist %-15s %zu rules\n", thread_kind_name((enum thread_kind)k),
               seccomp_allowlist_size((enum thread_kind)k));
}

/* --- Firecracker's filter file format ------------------------------------------- */

static int compile(const char *json, char *err, size_t errsize)
{
    scmp_filter_ctx ctxs[THREAD_KIND_COUNT];
    int r = seccomp_json_compile(json, strlen(json), ctxs, err, errsize);
    if (r == 0)
        for (int k = 0; k < THREAD_KIND_COUNT; k++)
            seccomp_release(ctxs[k]);
    return r;
}

#define ALLOW_ALL "{\"default_action\": \"allow\", \"filter_action\": \"trap\", \"filter\": []}"

TEST(malformed_filter_files_are_refused_with_the_reason)
{
    static const struct {
        const char *json, *reason;
    } bad[] = {
        {"{", "not valid JSON"},
        {"[]", "expected an object"},
        {"{\"vmm\": " ALLOW_ALL ", \"api\": " ALLOW_ALL "}", "no filter for the \"vcpu\" threads"},
        {"{\"vmm\": " ALLOW_ALL ", \"api\": " ALLOW_ALL ", \"vcpu\": " ALLOW_ALL ", \"gpu\": " ALLOW_ALL "}",
         "unknown thread kind \"gpu\""},
        {"{\"vmm\": {\"default_action\": \"explode\", \"filter_action\": \"allow\", \"filter\": []}}",
         "\"vmm\".default_action: expected"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"trap\", \"filter\": []}}", "are the same"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\"}}", "\"vmm\".filter: expected an array"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"nosuch\"}]}}",
         "\"vmm\".filter[0]: \"nosuch\" is not an x86_64 system call"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"sys\": \"read\"}]}}",
         "unknown key \"sys\""},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"ioctl\", "
         "\"args\": [{\"index\": 6, \"type\": \"dword\", \"op\": \"eq\", \"val\": 1}]}]}}",
         "\"index\" must be an argument number from 0 to 5"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"ioctl\", "
         "\"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": \"eq\", \"val\": 4294967296}]}]}}",
         "does not fit a dword"},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"ioctl\", "
         "\"args\": [{\"index\": 1, \"type\": \"word\", \"op\": \"eq\", \"val\": 1}]}]}}",
         "\"type\" must be \"dword\" or \"qword\""},
        {"{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"ioctl\", "
         "\"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": \"approx\", \"val\": 1}]}]}}",
         "\"op\" must be"},
        {"{\"vmm\": {\"default_action\": {\"errno\": 99999}, \"filter_action\": \"allow\", \"filter\": []}}",
         "default_action: expected"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        int r = compile(bad[i].json, err, sizeof(err));
        if (r == 0 || !strstr(err, bad[i].reason))
            fprintf(stderr, "  case %zu: got \"%s\", expected \"%s\"\n", i, err, bad[i].reason);
        CHECK(r < 0);
        CHECK(strstr(err, bad[i].reason) != NULL);
    }
}

/* A file's filter, loaded in a child (as the vcpu kind), and one call. */
static int call_with_file(const char *json, enum thread_kind kind, long nr, const long args[6], long *ret, int *err_no)
{
    fflush(NULL);
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        char path[] = "/tmp/ember-seccomp-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json))
            _exit(20);
        close(fd);
        struct seccomp_options opt = {.mode = SECCOMP_ENFORCE, .filter_file = path, .kick_signal = SIGRTMIN};
        bool usage;
        int pr = seccomp_prepare(&opt, &usage);
        unlink(path);
        if (pr < 0)
            _exit(21);
        seccomp_confine_thread(kind);
        long out[2];
        out[0] = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        out[1] = errno;
        if (write(pipefd[1], out, sizeof(out)) != sizeof(out))
            _exit(22);
        _exit(0);
    }
    close(pipefd[1]);
    long out[2] = {0, 0};
    ssize_t got = read(pipefd[0], out, sizeof(out));
    close(pipefd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    if (got == sizeof(out)) {
        *ret = out[0];
        *err_no = (int)out[1];
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(a_filter_file_is_what_the_threads_run_under)
{
    /* The vcpu threads may not getppid (trap), get EPERM for personality, and
     * may ioctl only with request 0xae80 compared as a dword; vmm's filter
     * (allow all) also covers the kinds the file does not name. */
    const char *json =
        "{\"vmm\": " ALLOW_ALL ", \"api\": " ALLOW_ALL ","
        " \"vcpu\": {\"default_action\": \"allow\", \"filter_action\": \"trap\", \"filter\": [{\"syscall\": \"getppid\"}]},"
        " \"blk\": {\"default_action\": \"allow\", \"filter_action\": {\"errno\": 1}, \"comment\": \"x\","
        "          \"filter\": [{\"syscall\": \"personality\", \"comment\": \"y\"}]},"
        " \"net\": {\"default_action\": \"allow\", \"filter_action\": \"trap\", \"filter\": ["
        "          {\"syscall\": \"ioctl\", \"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": \"eq\", \"val\": 44673}]},"
        "          {\"syscall\": \"personality\","
        "           \"args\": [{\"index\": 0, \"type\": \"dword\", \"op\": {\"masked_eq\": 65280}, \"val\": 4608}]}]}}";
    char err[512] = "";
    CHECK(compile(json, err, sizeof(err)) == 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    long ret = 0, none[6] = {0};
    int e = 0;
    CHECK_EQ(call_with_file(json, THREAD_VCPU, SYS_getppid, none, &ret, &e), KILLED);
    CHECK_EQ(call_with_file(json, THREAD_VCPU, SYS_getpid, none, &ret, &e), 0);
    long pers[6] = {0xffffffff};
    CHECK_EQ(call_with_file(json, THREAD_BLK, SYS_personality, pers, &ret, &e), 0);
    CHECK(ret == -1 && e == EPERM);
    CHECK_EQ(call_with_file(json, THREAD_RNG, SYS_getppid, none, &ret, &e), 0); /* vmm's: allow all */
    /* net traps ioctl 0xae81 compared as a dword (its low 32 bits), and
     * personality(x) when (x & 0xff00) == 0x1200. */
    long run[6] = {-1, 0xae80, 0};
    CHECK_EQ(call_with_file(json, THREAD_NET, SYS_ioctl, run, &ret, &e), 0);
    CHECK(ret == -1 && e == EBADF);
    long trapped[6] = {-1, 0xae81, 0}, high[6] = {-1, 0xae81 | (1L << 40), 0};
    CHECK_EQ(call_with_file(json, THREAD_NET, SYS_ioctl, trapped, &ret, &e), KILLED);
    CHECK_EQ(call_with_file(json, THREAD_NET, SYS_ioctl, high, &ret, &e), KILLED);
    long query[6] = {0xffffffff}, masked[6] = {0x1234};
    CHECK_EQ(call_with_file(json, THREAD_NET, SYS_personality, query, &ret, &e), 0);
    CHECK_EQ(call_with_file(json, THREAD_NET, SYS_personality, masked, &ret, &e), KILLED);
}

RUN_TESTS(CASE(every_rule_with_an_argument_allows_its_value_and_refuses_a_perturbed_one),
          CASE(what_no_thread_needs_is_refused_on_every_kind), CASE(the_kick_signal_may_go_to_ember_s_own_threads_only),
          CASE(the_vcpu_list_has_kvm_run_and_no_vm_creation), CASE(malformed_filter_files_are_refused_with_the_reason),
          CASE(a_filter_file_is_what_the_threads_run_under))
