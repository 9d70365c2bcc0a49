/* ember-jailer's cgroups: the mount table parsed for the v1 hierarchy of a
 * controller and for the v2 one, the VM's cgroup paths composed, and the
 * whole plan applied to a directory tree that stands in for a cgroup file
 * system (values written, the pid placed, cpuset's cpus and mems copied
 * down, v2 controllers enabled in the parents, only what was made undone). */
#include "jailer/cgroup.h"
#include "jailer/textfile.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct jerr e;
static struct cgroup_plan plan;

/* A hybrid host's table (this project's machines), with a co-mounted
 * cpu,cpuacct and a mount point that holds an escaped space. */
static const char *const mountinfo =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children\n"
    "35 31 0:32 / /sys/fs/cgroup/my\\040memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:4 master:2 - cgroup2 cgroup2 rw,nsdelegate\n"
    "50 22 0:40 / /mnt/cpu rw - tmpfs cpu rw\n";

TEST(the_mount_table_gives_each_controllers_hierarchy)
{
    char m[PATH_MAX];
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "cpu", m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/sys/fs/cgroup/cpu,cpuacct"));
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "cpuacct", m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/sys/fs/cgroup/cpu,cpuacct"));
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "cpuset", m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/sys/fs/cgroup/cpuset"));
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "memory", m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/sys/fs/cgroup/my memory")); /* \040 undone */
    CHECK_EQ(cgroup_mount_find(mountinfo, 2, NULL, m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/sys/fs/cgroup/unified"));
    /* Not a controller: an option that is not one, a tmpfs named "cpu",
     * a prefix of one. */
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "pids", m, sizeof(m)), -1);
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "rw", m, sizeof(m)) == 0 && strcmp(m, "/sys/fs/cgroup/cpu,cpuacct"), 0);
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "cpus", m, sizeof(m)), -1);
    CHECK_EQ(cgroup_mount_find(mountinfo, 1, "systemd", m, sizeof(m)), -1);
    /* A table with no cgroup2, no end-of-line, or garbage. */
    CHECK_EQ(cgroup_mount_find("32 31 0:29 / /c rw - cgroup cgroup rw,cpu", 2, NULL, m, sizeof(m)), -1);
    CHECK_EQ(cgroup_mount_find("32 31 0:29 / /c rw - cgroup cgroup rw,cpu", 1, "cpu", m, sizeof(m)), 0);
    CHECK(!strcmp(m, "/c"));
    CHECK_EQ(cgroup_mount_find("garbage\n\n - - -\n32 31 0:29 / /c rw\n", 1, "cpu", m, sizeof(m)), -1);
    CHECK_EQ(cgroup_mount_find("", 2, NULL, m, sizeof(m)), -1);
    /* Too small an output buffer is "not found", never a cut path. */
    CHECK_EQ(cgroup_mount_find(mountinfo, 2, NULL, m, 8), -1);
}

TEST(the_vms_cgroup_is_mount_parent_id)
{
    char d[64];
    CHECK_EQ(cgroup_dir_compose("/sys/fs/cgroup/cpu", "ember", "vm1", d, sizeof(d), &e), 0);
    CHECK(!strcmp(d, "/sys/fs/cgroup/cpu/ember/vm1"));
    CHECK_EQ(cgroup_dir_compose("/", "a/b", "vm1", d, sizeof(d), &e), 0);
    CHECK(!strcmp(d, "/a/b/vm1"));
    CHECK_EQ(cgroup_dir_compose("/sys/fs/cgroup/cpu/a/mount/point/longer/than/the/buffer/of/sixty-four", "ember", "vm1", d, sizeof(d), &e),
             -1);
    CHECK(strstr(e.msg, "path too long"));
}

static struct jail_args args_with(int version, const char *parent, const char *const *specs, size_t n)
{
    struct jail_args a;
    memset(&a, 0, sizeof(a));
    a.id = "vm1";
    a.cgroup_version = version;
    a.parent_cgroup = parent;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(jail_cgroup_setting_parse(specs[i], &a.cgroups[a.ncgroups++], &e), 0);
    return a;
}

TEST(a_v1_plan_has_one_cgroup_per_hierarchy)
{
    static const char *const specs[] = {"cpu.shares=2", "cpuset.cpus=0", "cpu.cfs_period_us=200000",
                                        "cpuacct.usage=0"};
    struct jail_args a = args_with(1, NULL, specs, 4);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), 0);
    CHECK_EQ(plan.ntargets, 2);
    CHECK(!strcmp(plan.targets[0].dir, "/sys/fs/cgroup/cpu,cpuacct/ember/vm1"));
    CHECK(!strcmp(plan.targets[0].mount, "/sys/fs/cgroup/cpu,cpuacct"));
    CHECK(!strcmp(plan.targets[1].dir, "/sys/fs/cgroup/cpuset/ember/vm1"));
    CHECK_EQ(plan.nsettings, 4);
    CHECK_EQ(plan.setting_target[0], 0);
    CHECK_EQ(plan.setting_target[1], 1);
    CHECK_EQ(plan.setting_target[2], 0);
    CHECK_EQ(plan.setting_target[3], 0);

    a = args_with(1, "custom_cgroup/group2", specs, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), 0);
    CHECK(!strcmp(plan.targets[0].dir, "/sys/fs/cgroup/cpu,cpuacct/custom_cgroup/group2/vm1"));

    static const char *const pids[] = {"pids.max=10"};
    a = args_with(1, NULL, pids, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), -1);
    CHECK(!strcmp(e.msg, "--cgroup pids.max=10: the host has no cgroup v1 controller pids "
                         "(no cgroup hierarchy with it in /proc/self/mountinfo)"));
}

TEST(a_v2_plan_has_one_cgroup)
{
    static const char *const specs[] = {"cpu.weight=2", "memory.max=1G", "cgroup.max.descendants=3"};
    struct jail_args a = args_with(2, NULL, specs, 3);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), 0);
    CHECK_EQ(plan.ntargets, 1);
    CHECK(!strcmp(plan.targets[0].dir, "/sys/fs/cgroup/unified/ember/vm1"));
    CHECK_EQ(plan.nsettings, 3);
    CHECK(!plan.join_only[0]);
    /* No v2 file system: one line that says so. */
    CHECK_EQ(cgroup_plan_build(&a, "ember", "32 31 0:29 / /c rw - cgroup cgroup rw,cpu\n", &plan, &e), -1);
    CHECK(strstr(e.msg, "the host has no cgroup2 file system mounted"));
    /* v2, --parent-cgroup alone: join the parent (Firecracker's rule);
     * v1 or no --parent-cgroup: nothing to do. */
    a = args_with(2, "pool", NULL, 0);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), 0);
    CHECK(!strcmp(plan.join_only, "/sys/fs/cgroup/unified/pool"));
    CHECK_EQ(plan.ntargets, 0);
    a = args_with(1, "pool", NULL, 0);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mountinfo, &plan, &e), 0);
    CHECK(!plan.join_only[0] && plan.ntargets == 0);
    a = args_with(2, NULL, NULL, 0);
    CHECK_EQ(cgroup_plan_build(&a, "ember", "", &plan, &e), 0); /* no cgroup wanted: no mount needed */
}

/* Test-bed helpers: a file with text, and a file's text. */
static void put(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}
static int has(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    char *got = textfile_read(p, &e);
    int same = got && !strcmp(got, text);
    if (!same)
        fprintf(stderr, "  %s: '%s', expected '%s'\n", p, got ? got : e.msg, text);
    free(got);
    return same;
}

/* A stand-in hierarchy: a temp directory and its mount-table line. */
static void fake_hierarchy(char *root, char *mi, size_t mi_size, const char *fstype_and_opts)
{
    CHECK(mkdtemp(root) != NULL);
    snprintf(mi, mi_size, "1 1 0:1 / %s rw - %s\n", root, fstype_and_opts);
}
/* d = root/rel, made. */
static void subdir(char *d, const char *root, const char *rel)
{
    snprintf(d, PATH_MAX, "%s/%s", root, rel);
    CHECK_EQ(mkdir(d, 0755), 0);
}

TEST(applying_a_v1_plan_writes_values_inherits_cpuset_and_places_the_pid)
{
    char root[] = "/tmp/test_jailer_cgroup.XXXXXX", mi[PATH_MAX * 2], d[PATH_MAX];
    fake_hierarchy(root, mi, sizeof(mi), "cgroup cgroup rw,cpuset");
    put(root, "cpuset.cpus", "0-1\n");
    put(root, "cpuset.mems", "0\n");
    /* The parent exists (made by an earlier jail) with its cpus set; the
     * VM's cgroup is "made by the kernel" with empty files. */
    subdir(d, root, "ember");
    put(d, "cpuset.cpus", "1\n");
    put(d, "cpuset.mems", "");
    subdir(d, root, "ember/vm1");
    put(d, "cpuset.cpus", "");
    put(d, "cpuset.mems", "");
    put(d, "cpuset.cpu_exclusive", "0\n");
    put(d, "tasks", "");

    static const char *const specs[] = {"cpuset.cpu_exclusive=1"};
    struct jail_args a = args_with(1, NULL, specs, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mi, &plan, &e), 0);
    CHECK_EQ(cgroup_apply(&plan, 4321, &e), 0);
    CHECK(has(d, "cpuset.cpu_exclusive", "1\n"));
    CHECK(has(d, "cpuset.cpus", "1\n"));  /* the parent's */
    CHECK(has(d, "cpuset.mems", "0\n"));  /* the root's, through the parent */
    snprintf(mi, sizeof(mi), "%s/ember", root);
    CHECK(has(mi, "cpuset.mems", "0\n"));
    CHECK(has(d, "tasks", "4321\n"));
    CHECK_EQ(plan.nmade, 0); /* both existed: nothing to undo */
    cgroup_undo(&plan);
    struct stat st;
    CHECK_EQ(stat(d, &st), 0);

    /* A value the "kernel" refuses (here: no such file) names the setting. */
    static const char *const bad[] = {"cpuset.nope=1"};
    a = args_with(1, NULL, bad, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mi, &plan, &e), -1); /* mi is no mount table now */
    snprintf(mi, sizeof(mi), "1 1 0:1 / %s rw - cgroup cgroup rw,cpuset\n", root);
    a.id = "vm2";
    CHECK_EQ(cgroup_plan_build(&a, "ember", mi, &plan, &e), 0);
    CHECK_EQ(cgroup_apply(&plan, 4321, &e), -1);
    CHECK(strstr(e.msg, "--cgroup cpuset.nope=1: ") && strstr(e.msg, "vm2/cpuset.cpus: No such file"));
    /* vm2 was made by apply: undo removes it and keeps ember/. */
    CHECK_EQ(plan.nmade, 1);
    cgroup_undo(&plan);
    snprintf(d, sizeof(d), "%s/ember/vm2", root);
    CHECK(stat(d, &st) < 0);
    snprintf(d, sizeof(d), "%s/ember", root);
    CHECK_EQ(stat(d, &st), 0);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    CHECK_EQ(system(cmd), 0);
}

TEST(applying_a_v2_plan_enables_controllers_in_every_parent)
{
    char root[] = "/tmp/test_jailer_cgroup.XXXXXX", mi[PATH_MAX * 2], d[PATH_MAX];
    fake_hierarchy(root, mi, sizeof(mi), "cgroup2 cgroup2 rw");
    put(root, "cgroup.controllers", "cpu io memory pids\n");
    put(root, "cgroup.subtree_control", "");
    subdir(d, root, "pool");
    put(d, "cgroup.subtree_control", "");
    subdir(d, root, "pool/a");
    put(d, "cgroup.subtree_control", "");
    subdir(d, root, "pool/a/vm1");
    put(d, "cpu.weight", "100\n");
    put(d, "cgroup.procs", "");

    static const char *const specs[] = {"cpu.weight=2"};
    struct jail_args a = args_with(2, "pool/a", specs, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mi, &plan, &e), 0);
    CHECK_EQ(cgroup_apply(&plan, 99, &e), 0);
    CHECK(has(root, "cgroup.subtree_control", "+cpu"));
    snprintf(mi, sizeof(mi), "%s/pool", root);
    CHECK(has(mi, "cgroup.subtree_control", "+cpu"));
    snprintf(mi, sizeof(mi), "%s/pool/a", root);
    CHECK(has(mi, "cgroup.subtree_control", "+cpu"));
    CHECK(has(d, "cpu.weight", "2\n"));
    CHECK(has(d, "cgroup.procs", "99\n"));
    cgroup_plan_release(&plan);

    /* A controller the hierarchy lacks. */
    snprintf(mi, sizeof(mi), "1 1 0:1 / %s rw - cgroup2 cgroup2 rw\n", root);
    static const char *const hugetlb[] = {"hugetlb.2MB.max=0"};
    a = args_with(2, "pool/a", hugetlb, 1);
    CHECK_EQ(cgroup_plan_build(&a, "ember", mi, &plan, &e), 0);
    CHECK_EQ(cgroup_apply(&plan, 99, &e), -1);
    CHECK(strstr(e.msg, "--cgroup hugetlb.2MB.max=0: the host has no cgroup v2 controller hugetlb (not in "));
    cgroup_undo(&plan);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    CHECK_EQ(system(cmd), 0);
}

RUN_TESTS(CASE(the_mount_table_gives_each_controllers_hierarchy), CASE(the_vms_cgroup_is_mount_parent_id),
          CASE(a_v1_plan_has_one_cgroup_per_hierarchy), CASE(a_v2_plan_has_one_cgroup),
          CASE(applying_a_v1_plan_writes_values_inherits_cpuset_and_places_the_pid),
          CASE(applying_a_v2_plan_enables_controllers_in_every_parent))
