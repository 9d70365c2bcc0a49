#include "jailer/cgroup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/textfile.h"

/* Copies the next space-separated field of a mountinfo line into out
 * (undoing \ooo escapes) and advances *p past it. False at the line's end
 * or when the field does not fit. */
static bool next_field(const char **p, char *out, size_t size)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s || *s == '\n')
        return false;
    size_t n = 0;
    bool fits = true;
    while (*s && *s != ' ' && *s != '\n') {
        char c = *s++;
        if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
            c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
            s += 3;
        }
        if (n + 1 < size)
            out[n++] = c;
        else
            fits = false;
    }
    out[n] = 0;
    *p = s;
    return fits;
}

static bool list_has(const char *list, const char *word, char sep)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, word, n))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

int cgroup_mount_find(const char *mountinfo, int version, const char *controller, char *out, size_t size)
{
    for (const char *line = mountinfo; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        /* id parent major:minor root mount-point options [optional...] - fstype source super-options */
        const char *p = line;
        char field[PATH_MAX], mount_point[PATH_MAX], fstype[64], super_opts[1024];
        bool ok = true;
        for (int i = 0; i < 4 && ok; i++)
            ok = next_field(&p, field, sizeof(field));
        if (!ok || !next_field(&p, mount_point, sizeof(mount_point)))
            continue;
        do
            ok = next_field(&p, field, sizeof(field));
        while (ok && strcmp(field, "-"));
        if (!ok || !next_field(&p, fstype, sizeof(fstype)) || !next_field(&p, field, sizeof(field)) ||
            !next_field(&p, super_opts, sizeof(super_opts)))
            continue;
        bool match = version == 2 ? !strcmp(fstype, "cgroup2")
                                  : !strcmp(fstype, "cgroup") && list_has(super_opts, controller, ',');
        if (!match)
            continue;
        if (strlen(mount_point) >= size)
            return -1;
        strcpy(out, mount_point);
        return 0;
    }
    return -1;
}

int cgroup_dir_compose(const char *mount, const char *parent, const char *id, char *out, size_t size,
                       struct jerr *e)
{
    /* A hierarchy mounted at "/" would give "//parent": drop its slash. */
    const char *m = strcmp(mount, "/") ? mount : "";
    int n = snprintf(out, size, "%s/%s/%s", m, parent, id);
    if (n < 0 || (size_t)n >= size)
        return jerr_set(e, "cgroup %s/%s/%s: path too long", m, parent, id);
    return 0;
}

static int plan_target(struct cgroup_plan *p, const char *mount, const char *id, size_t *index, struct jerr *e)
{
    char dir[PATH_MAX];
    if (cgroup_dir_compose(mount, p->parent, id, dir, sizeof(dir), e) < 0)
        return -1;
    for (size_t i = 0; i < p->ntargets; i++)
        if (!strcmp(p->targets[i].dir, dir)) {
            *index = i;
            return 0;
        }
    struct cgroup_target *t = &p->targets[p->ntargets];
    snprintf(t->mount, sizeof(t->mount), "%s", mount);
    snprintf(t->dir, sizeof(t->dir), "%s", dir);
    *index = p->ntargets++;
    return 0;
}

int cgroup_plan_build(const struct jail_args *a, const char *exec_name, const char *mountinfo,
                      struct cgroup_plan *p, struct jerr *e)
{
    memset(p, 0, sizeof(*p));
    p->version = a->cgroup_version;
    const char *parent = a->parent_cgroup ? a->parent_cgroup : exec_name;
    if (snprintf(p->parent, sizeof(p->parent), "%s", parent) >= (int)sizeof(p->parent))
        return jerr_set(e, "--parent-cgroup: too long");
    bool join_parent = p->version == 2 && !a->ncgroups && a->parent_cgroup;
    if (!a->ncgroups && !join_parent)
        return 0;

    char mount[PATH_MAX];
    if (p->version == 2 && cgroup_mount_find(mountinfo, 2, NULL, mount, sizeof(mount)) < 0)
        return jerr_set(e, "--cgroup-version 2: the host has no cgroup2 file system mounted "
                           "(none in /proc/self/mountinfo)");
    if (join_parent) {
        /* Firecracker's rule: with v2 and no values to write, --parent-cgroup
         * means "run in that cgroup" (when it exists). */
        const char *m = strcmp(mount, "/") ? mount : "";
        if (snprintf(p->join_only, sizeof(p->join_only), "%s/%s", m, p->parent) >= (int)sizeof(p->join_only))
            return jerr_set(e, "--parent-cgroup: too long");
        return 0;
    }
    for (size_t i = 0; i < a->ncgroups; i++) {
        const struct jail_cgroup_setting *s = &a->cgroups[i];
        if (p->version == 1 && cgroup_mount_find(mountinfo, 1, s->controller, mount, sizeof(mount)) < 0)
            return jerr_set(e, "--cgroup %s=%s: the host has no cgroup v1 controller %s "
                               "(no cgroup hierarchy with it in /proc/self/mountinfo)",
                            s->file, s->value, s->controller);
        if (plan_target(p, mount, a->id, &p->setting_target[i], e) < 0)
            return -1;
        p->settings[i] = s;
        p->nsettings++;
    }
    return 0;
}

static int remember_made(struct cgroup_plan *p, const char *dir, struct jerr *e)
{
    char **more = realloc(p->made, (p->nmade + 1) * sizeof(*more));
    char *copy = strdup(dir);
    if (!more || !copy) {
        free(copy);
        if (more)
            p->made = more;
        return jerr_set(e, "cgroup %s: out of memory", dir);
    }
    p->made = more;
    p->made[p->nmade++] = copy;
    return 0;
}

/* mkdir -p of t->dir below t->mount (which exists), remembering each
 * directory made. A leftover cgroup of the same id is reused. */
static int make_dirs(struct cgroup_plan *p, const struct cgroup_target *t, struct jerr *e)
{
    char path[PATH_MAX];
    size_t base = strcmp(t->mount, "/") ? strlen(t->mount) : 0;
    for (size_t i = base + 1; i <= strlen(t->dir); i++) {
        if (t->dir[i] != '/' && t->dir[i] != 0)
            continue;
        memcpy(path, t->dir, i);
        path[i] = 0;
        if (mkdir(path, 0755) == 0) {
            if (remember_made(p, path, e) < 0)
                return -1;
            continue;
        }
        struct stat st;
        if (errno != EEXIST)
            return jerr_errno(e, "creating cgroup %s", path);
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            return jerr_set(e, "cgroup %s: exists and is not a directory", path);
    }
    return 0;
}

/* A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems,
 * and no task can join it until both are set: copy them down from the
 * nearest ancestor that has them (Firecracker's inherit_from_parent). */
static int cpuset_inherit(const struct cgroup_target *t, struct jerr *e)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    size_t base = strcmp(t->mount, "/") ? strlen(t->mount) : 0;
    for (size_t f = 0; f < 2; f++) {
        char parent_value[4096] = "";
        char path[PATH_MAX + 32];
        /* From the mount point (the root cgroup, always set) down. */
        snprintf(path, sizeof(path), "%.*s/%s", (int)base, t->dir, files[f]);
        char *v = textfile_read(path, e);
        if (!v)
            return -1;
        snprintf(parent_value, sizeof(parent_value), "%s", v);
        free(v);
        for (size_t i = base + 1; i <= strlen(t->dir); i++) {
            if (t->dir[i] != '/' && t->dir[i] != 0)
                continue;
            snprintf(path, sizeof(path), "%.*s/%s", (int)i, t->dir, files[f]);
            v = textfile_read(path, e);
            if (!v)
                return -1;
            bool empty = strspn(v, " \n") == strlen(v);
            if (!empty)
                snprintf(parent_value, sizeof(parent_value), "%s", v);
            free(v);
            if (empty && textfile_write(path, parent_value, e) < 0)
                return -1;
        }
    }
    return 0;
}

/* v2: the controller must be one the hierarchy has, and be enabled in
 * cgroup.subtree_control of every cgroup above the VM's. */
static int v2_enable(const struct cgroup_target *t, const char *controller, struct jerr *e)
{
    char path[PATH_MAX + 32];
    size_t base = strcmp(t->mount, "/") ? strlen(t->mount) : 0;
    snprintf(path, sizeof(path), "%.*s/cgroup.controllers", (int)base, t->dir);
    char *have = textfile_read(path, e);
    if (!have)
        return -1;
    have[strcspn(have, "\n")] = 0;
    bool present = list_has(have, controller, ' ');
    free(have);
    if (!present)
        return jerr_set(e, "the host has no cgroup v2 controller %s (not in %s)", controller, path);
    char enable[80];
    snprintf(enable, sizeof(enable), "+%s", controller);
    size_t last_slash = strrchr(t->dir, '/') - t->dir; /* the VM's own cgroup is not a parent */
    for (size_t i = base; i <= last_slash; i++) {
        if (i != base && t->dir[i] != '/')
            continue;
        snprintf(path, sizeof(path), "%.*s/cgroup.subtree_control", (int)i, t->dir);
        if (textfile_write(path, enable, e) < 0) {
            if (errno == EBUSY)
                snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg),
                         " (a non-root cgroup that holds processes cannot pass controllers down)");
            return -1;
        }
    }
    return 0;
}

/* Writes the pid to a cgroup's tasks or cgroup.procs. */
static int attach(const char *path, const char *pid_text, struct jerr *e)
{
    if (textfile_write(path, pid_text, e) == 0)
        return 0;
    if (errno == EBUSY)
        snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg),
                 " (cgroup v2 puts no process in a cgroup that passes controllers down to its children)");
    return -1;
}

/* Prefixes e's line with "--cgroup FILE=VALUE: ". */
static int setting_error(const struct jail_cgroup_setting *s, struct jerr *e)
{
    char why[sizeof(e->msg)];
    snprintf(why, sizeof(why), "%s", e->msg);
    return jerr_set(e, "--cgroup %s=%s: %s", s->file, s->value, why);
}

int cgroup_apply(struct cgroup_plan *p, pid_t pid, struct jerr *e)
{
    char path[PATH_MAX + 160], text[560];
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (p->join_only[0]) {
        struct stat st;
        if (stat(p->join_only, &st) < 0 || !S_ISDIR(st.st_mode))
            return 0;
        snprintf(path, sizeof(path), "%s/cgroup.procs", p->join_only);
        return attach(path, text, e);
    }
    for (size_t i = 0; i < p->ntargets; i++)
        if (make_dirs(p, &p->targets[i], e) < 0)
            return -1;
    for (size_t i = 0; i < p->nsettings; i++) {
        const struct jail_cgroup_setting *s = p->settings[i];
        const struct cgroup_target *t = &p->targets[p->setting_target[i]];
        if (p->version == 1 && !strcmp(s->controller, "cpuset") && cpuset_inherit(t, e) < 0)
            return setting_error(s, e);
        /* cgroup.* files are the core's, there is no controller to enable. */
        if (p->version == 2 && strcmp(s->controller, "cgroup") && v2_enable(t, s->controller, e) < 0)
            return setting_error(s, e);
    }
    for (size_t i = 0; i < p->nsettings; i++) {
        const struct jail_cgroup_setting *s = p->settings[i];
        snprintf(path, sizeof(path), "%s/%s", p->targets[p->setting_target[i]].dir, s->file);
        snprintf(text, sizeof(text), "%s\n", s->value);
        if (textfile_write(path, text, e) < 0)
            return setting_error(s, e);
    }
    /* Only once every value is in: some (cpuset's) must be set before a
     * task may join. */
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    for (size_t i = 0; i < p->ntargets; i++) {
        snprintf(path, sizeof(path), "%s/%s", p->targets[i].dir, p->version == 1 ? "tasks" : "cgroup.procs");
        if (attach(path, text, e) < 0)
            return -1;
    }
    return 0;
}

void cgroup_plan_release(struct cgroup_plan *p)
{
    for (size_t i = 0; i < p->nmade; i++)
        free(p->made[i]);
    free(p->made);
    p->made = NULL;
    p->nmade = 0;
}

void cgroup_undo(struct cgroup_plan *p)
{
    for (size_t i = p->nmade; i-- > 0;)
        rmdir(p->made[i]);
    cgroup_plan_release(p);
}
