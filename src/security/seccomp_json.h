/* Firecracker's seccomp filter file (the JSON its seccompiler compiles), for
 * --seccomp-filter: one object per thread kind,
 *   { "vmm": { "default_action": "trap", "filter_action": "allow",
 *              "filter": [ { "syscall": "ioctl",
 *                            "args": [ { "index": 1, "type": "dword", "op": "eq", "val": 44672 } ] } ] },
 *     "api": {...}, "vcpu": {...} }
 * Actions: "allow", "trap", "log", "kill_thread", "kill_process", {"errno": N},
 * {"trace": N}. Comparisons: "eq", "ne", "lt", "le", "gt", "ge",
 * {"masked_eq": MASK}. Rules for one system call are alternatives; the
 * conditions of one rule must all hold. "comment" is allowed everywhere.
 *
 * "vmm", "api" and "vcpu" are required, as in Firecracker. ember runs its
 * devices, console input and timers on threads of their own; in a Firecracker
 * file, which has no such keys, those run under the "vmm" filter (Firecracker
 * emulates its devices on the VMM thread). */
#ifndef EMBER_SECURITY_SECCOMP_JSON_H
#define EMBER_SECURITY_SECCOMP_JSON_H

#include <seccomp.h>
#include <stddef.h>

#include "security/thread_kind.h"

/* Parses the text and builds one libseccomp filter per kind into out (the
 * caller releases them). 0, or -1 with the reason in err. */
int seccomp_json_compile(const char *text, size_t len, scmp_filter_ctx out[THREAD_KIND_COUNT], char *err,
                         size_t errsize);
/* The same from a file (at most 1 MiB); err starts with the path. */
int seccomp_json_compile_file(const char *path, scmp_filter_ctx out[THREAD_KIND_COUNT], char *err, size_t errsize);

#endif
