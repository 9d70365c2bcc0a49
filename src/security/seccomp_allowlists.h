/* The built-in seccomp allowlists, one per thread kind: the system calls (and,
 * where it narrows them, the arguments) that kind of thread makes, derived from
 * ember's own calls and checked by running every test with the filters on. */
#ifndef EMBER_SECURITY_SECCOMP_ALLOWLISTS_H
#define EMBER_SECURITY_SECCOMP_ALLOWLISTS_H

#include <seccomp.h>
#include <stddef.h>

#include "security/thread_kind.h"

/* Allow syscall when every one of args holds (none: always). */
struct seccomp_rule {
    int syscall;
    unsigned nargs;
    struct scmp_arg_cmp args[2];
};

struct seccomp_rule_set {
    const struct seccomp_rule *rules;
    size_t count;
};

/* A kind's list is the union of a few shared sets and its own. */
#define SECCOMP_MAX_SETS 6
struct seccomp_allowlist {
    struct seccomp_rule_set sets[SECCOMP_MAX_SETS]; /* ends at the first without rules */
};

const struct seccomp_allowlist *seccomp_allowlist(enum thread_kind kind);
/* How many rules the kind's list has (for the docs and the tests). */
size_t seccomp_allowlist_size(enum thread_kind kind);

#endif
