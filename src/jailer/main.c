/* ember-jailer: Firecracker's jailer for ember. It makes a chroot with
 * ember's binary and the device nodes it needs, puts the process in its
 * cgroups, namespaces and resource limits, drops every privilege and execs
 * ember there. The steps, in order (each failure is one line
 * "ember-jailer: <what failed>: <why>" and a non-zero exit; 2 for a usage
 * error):
 *
 *   1. close every descriptor above 2, clear the environment
 *   2. parse and check the command line (args.c); look at the host without
 *      changing it: the exec file (exec_file.c), the mount table for the
 *      cgroup hierarchies (cgroup.c), the device nodes (devices.c), the
 *      highest capability number (privileges.c)
 *   3. make <base>/<exec name>/<id>/root, its /dev, /dev/net and /run, the
 *      device nodes, and copy the exec file in (jail_fs.c, devices.c)
 *   4. join --netns (setns)
 *   5. make the cgroups, write the values, move in (cgroup.c)
 *   6. new mount namespace, pivot_root into the jail (jail_fs.c)
 *   7. --daemonize; --new-pid-ns (process.c); write <exec name>.pid
 *   8. set the resource limits (rlimits.c)
 *   9. drop to uid:gid with no groups and no capabilities (privileges.c)
 *  10. exec /<exec name> with the arguments after "--"
 *
 * Up to step 6 a failure removes what was made (the jail's directory, the
 * cgroups while empty). Two steps sit elsewhere than in Firecracker's
 * jailer, to the same effect for ember: the device nodes are made in step
 * 3 through the root's descriptor (Firecracker: after its chroot), so that
 * they go too if a later step fails; and the resource limits are set last
 * (Firecracker: before its cgroups), so that the jailer's own writes and
 * descriptors after that point (the pid file, --daemonize's dup2) cannot
 * be cut off by an fsize or no-file limit meant for ember. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "jailer/args.h"
#include "jailer/cgroup.h"
#include "jailer/devices.h"
#include "jailer/exec_file.h"
#include "jailer/jail_fs.h"
#include "jailer/privileges.h"
#include "jailer/process.h"
#include "jailer/textfile.h"

/* What has been made so far, for undoing it on a failure. */
static struct jail_tree tree = {.root_fd = -1};
static struct cgroup_plan cgroups; /* large: static */
static bool pivoted;

static void fail(const struct jerr *e, int status)
{
    if (!pivoted) {
        cgroup_undo(&cgroups);
        jail_tree_remove(&tree);
    }
    fprintf(stderr, "ember-jailer: %s\n", e->msg);
    exit(status);
}

static void note(const char *fmt, const char *arg)
{
    fprintf(stderr, "ember-jailer: note: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

/* The monotonic clock and this process's CPU time, in microseconds. */
struct jail_clock {
    uint64_t time_us, cpu_us;
};

static struct jail_clock jail_clock_now(void)
{
    struct timespec m, c;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    return (struct jail_clock){.time_us = (uint64_t)m.tv_sec * 1000000 + (uint64_t)m.tv_nsec / 1000,
                               .cpu_us = (uint64_t)c.tv_sec * 1000000 + (uint64_t)c.tv_nsec / 1000};
}

int main(int argc, char **argv)
{
    struct jerr e = {""};
    struct jail_clock start = jail_clock_now(); /* for ember's --boot-timer */
    if (process_scrub(&e) < 0)
        fail(&e, 1);

    struct jail_args a;
    if (jail_args_parse(argc, argv, &a, &e) < 0)
        fail(&e, 2);
    if (a.help) {
        fputs(jail_usage(), stdout);
        return 0;
    }
    if (a.version) {
        printf("ember-jailer %s\n", EMBER_JAILER_VERSION);
        return 0;
    }
    if (geteuid() != 0) {
        jerr_set(&e, "must run as root (it makes device nodes, mounts and cgroups, and changes uid)");
        fail(&e, 1);
    }

    /* Step 2: everything read from the host before anything changes. */
    struct exec_file exe;
    if (exec_file_open(a.exec_file, &exe, &e) < 0)
        fail(&e, 1);
    int last_cap;
    if (privileges_last_cap(&last_cap, &e) < 0)
        fail(&e, 1);
    struct jail_device devs[JAIL_NDEVICES];
    if (devices_probe(devs, &e) < 0)
        fail(&e, 1);
    char *mountinfo = textfile_read("/proc/self/mountinfo", &e);
    if (!mountinfo)
        fail(&e, 1);
    int plan = cgroup_plan_build(&a, exe.name, mountinfo, &cgroups, &e);
    free(mountinfo);
    if (plan < 0)
        fail(&e, 1);
    int netns_fd = -1;
    if (a.netns && (netns_fd = open(a.netns, O_RDONLY | O_CLOEXEC)) < 0) {
        jerr_errno(&e, "--netns %s", a.netns);
        fail(&e, 1);
    }
    int dev_null = -1;
    if (a.daemonize && (dev_null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        jerr_errno(&e, "--daemonize: /dev/null");
        fail(&e, 1);
    }

    /* Step 3: the jail. */
    if (jail_tree_create(a.chroot_base, exe.name, a.id, a.uid, a.gid, &tree, &e) < 0)
        fail(&e, 1);
    char shown[PATH_MAX + NAME_MAX + 2];
    snprintf(shown, sizeof(shown), "%s/%s", tree.paths.root, exe.name);
    if (exec_file_copy(&exe, tree.root_fd, shown, &e) < 0)
        fail(&e, 1);
    exec_file_close(&exe);
    if (devices_make(devs, tree.root_fd, tree.paths.root, a.uid, a.gid, &e) < 0)
        fail(&e, 1);
    for (int i = 0; i < JAIL_NDEVICES; i++)
        if (!devs[i].present)
            note("%s: not on this host, so the jail has none", devs[i].path);

    /* Steps 4-5. */
    if (netns_fd >= 0) {
        if (setns(netns_fd, CLONE_NEWNET) < 0) {
            jerr_errno(&e, "--netns %s: setns", a.netns);
            fail(&e, 1);
        }
        close(netns_fd);
    }
    if (cgroup_apply(&cgroups, getpid(), &e) < 0)
        fail(&e, 1);

    /* Step 6: from here on the host's file system is out of reach. */
    close(tree.root_fd);
    tree.root_fd = -1;
    if (jail_pivot_root(tree.paths.root, &e) < 0)
        fail(&e, 1);
    pivoted = true;
    cgroup_plan_release(&cgroups);

    /* Step 7. */
    uint64_t pre_fork_cpu_us = jail_clock_now().cpu_us;
    if (a.daemonize && process_daemonize(dev_null, &e) < 0)
        fail(&e, 1);
    if (process_enter_pid_ns(a.new_pid_ns, exe.name, &e) < 0)
        fail(&e, 1);

    /* Steps 8-10. As Firecracker's jailer does, ember gets --id and the
     * jailer's start (for --boot-timer) ahead of the arguments after "--";
     * after a fork (daemonize, pid namespace) the CPU time this process had
     * used is the parent's, which the child's clock no longer counts. */
    bool forked = a.daemonize || a.new_pid_ns;
    if (jail_rlimits_apply(&a.rlimits, &e) < 0)
        fail(&e, 1);
    if (privileges_drop(a.uid, a.gid, last_cap, &e) < 0)
        fail(&e, 1);
    char path[NAME_MAX + 2];
    snprintf(path, sizeof(path), "/%s", exe.name);
    char start_us[24], start_cpu_us[24], parent_cpu_us[24];
    snprintf(start_us, sizeof(start_us), "%llu", (unsigned long long)start.time_us);
    snprintf(start_cpu_us, sizeof(start_cpu_us), "%llu", (unsigned long long)start.cpu_us);
    snprintf(parent_cpu_us, sizeof(parent_cpu_us), "%llu", (unsigned long long)(forked ? pre_fork_cpu_us : 0));
    char **args = calloc((size_t)a.exec_argc + 10, sizeof(*args));
    if (!args) {
        jerr_set(&e, "out of memory");
        fail(&e, 1);
    }
    int n = 0;
    args[n++] = path;
    int first = 0;
    if (a.exec_argc > 0 && !strcmp(a.exec_argv[0], "run")) /* ember's subcommand comes first */
        args[n++] = a.exec_argv[first++];
    char *fc_flags[] = {"--id", (char *)a.id, "--start-time-us", start_us, "--start-time-cpu-us", start_cpu_us,
                        "--parent-cpu-time-us", parent_cpu_us};
    for (size_t i = 0; i < sizeof(fc_flags) / sizeof(fc_flags[0]); i++)
        args[n++] = fc_flags[i];
    for (int i = first; i < a.exec_argc; i++)
        args[n++] = a.exec_argv[i];
    char *no_env[] = {NULL};
    execve(path, args, no_env);
    jerr_errno(&e, "exec %s (in the jail)", path);
    fail(&e, 1);
}
