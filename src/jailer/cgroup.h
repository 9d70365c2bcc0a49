/* The VM's cgroup, as Firecracker's jailer makes it.
 *
 * v1: each --cgroup FILE=VALUE names its controller by FILE's prefix
 * (cpu.shares -> cpu); the hierarchy with that controller is found in
 * /proc/self/mountinfo (never assumed to be at /sys/fs/cgroup/<name>), and
 * the VM's cgroup is <mount>/<parent>/<id> in it, <parent> being
 * --parent-cgroup or the exec file's name. The values are written, then
 * the jailer's pid goes into each cgroup's `tasks`.
 *
 * v2: one cgroup, <v2 mount>/<parent>/<id>; each controller named is
 * enabled in cgroup.subtree_control from the root down to <parent> (a
 * controller must be enabled in a parent for its files to appear in the
 * child), then the values are written and the pid goes to cgroup.procs.
 * With no --cgroup at all, v2 and --parent-cgroup, the jailer joins
 * <parent> if it exists (Firecracker's rule).
 *
 * All of it happens before pivot_root, after which no cgroup file system
 * is reachable; the process's children stay in the cgroup. */
#ifndef EMBER_JAILER_CGROUP_H
#define EMBER_JAILER_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "jailer/args.h"
#include "jailer/error.h"

/* The mount point of the cgroup v1 hierarchy that has controller (version
 * 1), or of the cgroup2 hierarchy (version 2; controller unused), from
 * the text of a /proc/<pid>/mountinfo. The mount point's octal escapes
 * (\040 for a space) are undone. 0 when found; -1 when there is none or
 * it does not fit in size. */
int cgroup_mount_find(const char *mountinfo, int version, const char *controller, char *out, size_t size);

/* "<mount>/<parent>/<id>" into out; -1 with e set when it does not fit. */
int cgroup_dir_compose(const char *mount, const char *parent, const char *id, char *out, size_t size,
                       struct jerr *e);

struct cgroup_target {
    char mount[PATH_MAX];  /* the hierarchy's mount point */
    char dir[PATH_MAX];    /* <mount>/<parent>/<id> */
};

struct cgroup_plan {
    int version;
    char parent[PATH_MAX]; /* relative: --parent-cgroup or the exec file's name */
    size_t ntargets;       /* one per hierarchy (v1), at most one (v2) */
    struct cgroup_target targets[JAIL_MAX_CGROUP_SETTINGS];
    size_t nsettings;
    const struct jail_cgroup_setting *settings[JAIL_MAX_CGROUP_SETTINGS];
    size_t setting_target[JAIL_MAX_CGROUP_SETTINGS]; /* index into targets */
    /* v2, no settings, --parent-cgroup given: join <mount>/<parent>. */
    char join_only[PATH_MAX];
    /* Directories cgroup_apply made, in order, for cgroup_undo. */
    char **made;
    size_t nmade;
};

/* Works out every cgroup directory from the arguments and the mountinfo
 * text, touching nothing. A controller no mounted hierarchy has is an
 * error naming it. */
int cgroup_plan_build(const struct jail_args *a, const char *exec_name, const char *mountinfo,
                      struct cgroup_plan *p, struct jerr *e);
/* Makes the directories, writes the values and moves pid into them. */
int cgroup_apply(struct cgroup_plan *p, pid_t pid, struct jerr *e);
/* Removes the directories cgroup_apply made (best effort: a cgroup that
 * already holds a process cannot be removed), and frees the list. */
void cgroup_undo(struct cgroup_plan *p);
/* Frees the list without removing anything (the jail stands). */
void cgroup_plan_release(struct cgroup_plan *p);

#endif
