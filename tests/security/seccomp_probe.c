/* The test build's probe (build/tests/ember-seccomp-probe is ember with this
 * linked in): EMBER_SECCOMP_PROBE=KIND[:NR[:ARG1]] makes system call NR
 * (default: personality, which no list allows) on the first thread of that
 * kind, right after it confined itself, with ARG1 as its second argument
 * (an ioctl's request). The kit guest and the API tests then show each kind
 * of thread ending ember with status 148 and the line naming it. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "security/seccomp.h"

void seccomp_test_probe(enum thread_kind kind)
{
    static atomic_bool done;
    const char *spec = getenv("EMBER_SECCOMP_PROBE");
    const char *name = thread_kind_name(kind);
    size_t n = strlen(name);
    if (!spec || strncmp(spec, name, n) || (spec[n] && spec[n] != ':') || atomic_exchange(&done, true))
        return;
    long nr = SYS_personality, arg1 = 0;
    if (spec[n] == ':') {
        char *end;
        nr = strtol(spec + n + 1, &end, 0);
        if (*end == ':')
            arg1 = strtol(end + 1, NULL, 0);
    }
    /* fd -1: an allowed call fails harmlessly with EBADF. */
    syscall(nr, nr == SYS_personality ? 0xffffffffL : -1L, arg1, 0L, 0L);
}
