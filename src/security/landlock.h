/* Landlock, the third layer (after KVM and seccomp): once the VM is built,
 * ember's threads may reach only the files its configuration names: the
 * kernel and initrd (read), each disk (read, or read and write), the API
 * socket's directory (to remove the socket at exit), and what
 * --landlock-rule adds. TCP bind and connect are refused where the kernel
 * can (ABI 4). A later PATCH /drives to a path outside the rules fails with
 * EACCES, and the error says why.
 *
 * Landlock domains are per thread and inherited: the main thread restricts
 * itself before it starts the VM's threads, which inherit it; the API
 * thread, running since before the configuration was known, restricts
 * itself with the same rules before it handles its next request.
 *
 * Debian 12's headers know Landlock ABI 1-2; the running kernel may know
 * more (7 here), so the ABI's structures and rights are defined here and
 * the calls go through syscall(). */
#ifndef EMBER_SECURITY_LANDLOCK_H
#define EMBER_SECURITY_LANDLOCK_H

#include <stdbool.h>

enum landlock_mode {
    LANDLOCK_IF_AVAILABLE, /* the default: on where the kernel has it, else said once */
    LANDLOCK_REQUIRED,     /* --landlock: no Landlock, no VM */
    LANDLOCK_OFF,          /* --no-landlock */
};

#define LANDLOCK_MAX_RULES 64

enum landlock_access {
    LANDLOCK_READ,   /* read a file, or the files under a directory */
    LANDLOCK_WRITE,  /* read and write them (and, in a directory, make and remove files) */
    LANDLOCK_WRITE_FILES, /* read and write the files under a directory, nothing more */
    LANDLOCK_REMOVE, /* remove entries of a directory (the API socket's) */
};

/* A path and what may be done with it. */
struct landlock_path_rule {
    const char *path;
    enum landlock_access access;
};

struct landlock_config {
    enum landlock_mode mode;
    struct landlock_path_rule rules[LANDLOCK_MAX_RULES];
    int nrules;
};

/* --landlock-rule path=PATH,access=ro|rw: appended to cfg (the text is kept,
 * not copied). 0, or -1 after one line naming the problem. */
int landlock_parse_rule(char *arg, struct landlock_config *cfg);

/* Adds a path the configuration names (a kernel, a disk). 0, or -1 when the
 * table is full (after one line). */
int landlock_add_path(struct landlock_config *cfg, const char *path, enum landlock_access access);

/* On the main thread, before any thread starts: finds the kernel's Landlock
 * ABI. 0, or -1 (after one line) when --landlock demands what is absent. */
int landlock_prepare(enum landlock_mode mode);

/* On the main thread, once every file the VM opens at creation is open and
 * before its threads start: builds the rules and restricts this thread (and
 * so every thread it starts). 0 (also when Landlock is off or absent), or -1
 * after one line naming the path or call that failed. */
int landlock_restrict_process(const struct landlock_config *cfg);

/* On the API thread: restricts it with the same rules, once, if the VM's
 * restriction has been made. Cheap to call before every request. */
void landlock_restrict_api_thread(void);

/* Whether the rules are in force; and a hint for an error a rule could
 * explain ("" unless err is EACCES under Landlock). */
bool landlock_active(void);
const char *landlock_hint(int err);

#endif
