/* ember-jailer's command line: Firecracker's jailer's flags, parsed and
 * checked without touching the host (pure, so the unit tests drive it).
 * Everything the command line itself gets wrong is a usage error (exit 2):
 * an unknown flag, a flag without its value or given twice, an id that is
 * not 1-64 alphanumerics and hyphens, a uid that is not a number, a
 * malformed --cgroup or --resource-limit. What is wrong with the host (a
 * missing exec file, a cgroup controller the host lacks) is found later. */
#ifndef EMBER_JAILER_ARGS_H
#define EMBER_JAILER_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jailer/error.h"
#include "jailer/rlimits.h"

#define EMBER_JAILER_VERSION "0.1.0" /* ember's own version (src/main.c) */
#define JAIL_ID_MAX 64
#define JAIL_DEFAULT_CHROOT_BASE "/srv/jailer"
#define JAIL_MAX_CGROUP_SETTINGS 32
/* One --cgroup FILE=VALUE: the file (e.g. "cpu.shares"), its controller
 * (the part before the first '.', "cpu") and the value to write. */
struct jail_cgroup_setting {
    char file[128];
    char controller[64];
    char value[512];
};

struct jail_args {
    bool help, version;
    const char *id;
    const char *exec_file;
    const char *chroot_base;   /* JAIL_DEFAULT_CHROOT_BASE unless given */
    const char *netns;         /* NULL: stay in the jailer's network namespace */
    const char *parent_cgroup; /* NULL: the exec file's name */
    uint32_t uid, gid;
    bool daemonize, new_pid_ns, allow_root;
    int cgroup_version;        /* 1 (Firecracker's default) or 2 */
    struct jail_cgroup_setting cgroups[JAIL_MAX_CGROUP_SETTINGS];
    size_t ncgroups;
    struct jail_rlimits rlimits;
    /* ember's own arguments: what follows "--" (argv's strings, not copies). */
    char **exec_argv;
    int exec_argc;
};

/* Parses argv[1..argc-1] into a. 0 on success (a->help or a->version may
 * then be all that was asked); -1 with e set on a usage error. */
int jail_args_parse(int argc, char **argv, struct jail_args *a, struct jerr *e);
/* The --help text. */
const char *jail_usage(void);

/* The checks jail_args_parse applies, one value at a time. */
int jail_id_check(const char *id, struct jerr *e);
/* A uid or gid: a decimal number from 0 to 4294967294 (4294967295 is -1,
 * which setresuid() takes as "leave unchanged"). */
int jail_id_number_parse(const char *flag, const char *s, uint32_t *out, struct jerr *e);
/* "FILE=VALUE" where FILE is "<controller>.<property>". */
int jail_cgroup_setting_parse(const char *spec, struct jail_cgroup_setting *s, struct jerr *e);
/* A relative cgroup path: no leading '/', no empty, "." or ".." component. */
int jail_parent_cgroup_check(const char *path, struct jerr *e);

#endif
