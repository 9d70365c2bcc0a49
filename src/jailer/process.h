/* The jailer's own process: descriptors and environment at start, and
 * the shape of the process that execs ember (daemon, pid namespace). */
#ifndef EMBER_JAILER_PROCESS_H
#define EMBER_JAILER_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "jailer/error.h"

/* Closes every descriptor above 2 (nothing the caller had open leaks into
 * the jail), puts /dev/null on any of 0-2 that is closed, and empties the
 * environment (ember starts with none). */
int process_scrub(struct jerr *e);
/* Detaches: fork (the parent, the jailer the caller started, exits 0 at
 * once), setsid, fork again (so the daemon, not a session leader, can
 * never get a controlling terminal), and stdin/stdout/stderr to
 * dev_null_fd, opened before the pivot (the jail has no /dev/null). */
int process_daemonize(int dev_null_fd, struct jerr *e);
/* Writes pid to /<exec name>.pid (in the jail, after the pivot), as
 * Firecracker does: the host's view of the pid that becomes ember. */
int process_write_pid_file(const char *exec_name, pid_t pid, struct jerr *e);
/* With --new-pid-ns: a new pid namespace whose pid 1 goes on to exec
 * ember; this (the parent) side writes the pid file and exits 0. Without
 * it, the pid file gets our own pid. Returns in the process that execs. */
int process_enter_pid_ns(bool new_pid_ns, const char *exec_name, struct jerr *e);

#endif
