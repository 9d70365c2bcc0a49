#include "jailer/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *jail_usage(void)
{
    return "ember-jailer " EMBER_JAILER_VERSION " - runs ember alone in a chroot, as an unprivileged user\n"
           "\n"
           "usage: ember-jailer --id ID --exec-file PATH --uid UID --gid GID [options] [-- EMBER_ARGS...]\n"
           "       ember-jailer --help | --version\n"
           "\n"
           "  --id ID                 the VM's id: 1 to 64 letters, digits and hyphens\n"
           "  --exec-file PATH        the ember binary (statically linked); copied into the jail\n"
           "  --uid UID, --gid GID    who ember runs as (numbers; no supplementary groups)\n"
           "  --chroot-base-dir DIR   where jails are made (default " JAIL_DEFAULT_CHROOT_BASE "); the jail's\n"
           "                          root is DIR/<exec file's name>/ID/root\n"
           "  --netns PATH            join this network namespace (e.g. /var/run/netns/NAME)\n"
           "  --daemonize             detach: new session, stdin/stdout/stderr to /dev/null\n"
           "  --new-pid-ns            run ember as pid 1 of a new pid namespace\n"
           "  --cgroup FILE=VALUE     write VALUE to FILE (e.g. cpu.shares=512) in the VM's cgroup\n"
           "                          (repeatable); the controller is FILE's prefix\n"
           "  --cgroup-version 1|2    which cgroup hierarchy (default 1)\n"
           "  --parent-cgroup PATH    the VM's cgroup is PATH/ID (default: <exec file's name>/ID)\n"
           "  --resource-limit fsize=N|no-file=N\n"
           "                          RLIMIT_FSIZE (bytes) or RLIMIT_NOFILE (default no-file=2048)\n"
           "  --allow-root            allow --uid 0 (ember as root inside the jail)\n"
           "  -- EMBER_ARGS...        ember's own arguments, e.g. -- --api-sock /run/ember.sock\n"
           "\n"
           "Paths in EMBER_ARGS and in API requests are inside the jail. ember-jailer makes /dev/kvm,\n"
           "/dev/net/tun, /dev/urandom, /dev/userfaultfd (those the host has) and /run there.\n";
}

int jail_id_check(const char *id, struct jerr *e)
{
    size_t n = strlen(id);
    if (n == 0 || n > JAIL_ID_MAX)
        return jerr_set(e, "--id '%s': %zu characters; an id is 1 to %d letters, digits and hyphens", id, n,
                        JAIL_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok)
            return jerr_set(e, "--id '%s': character %zu is not a letter, digit or hyphen", id, i + 1);
    }
    return 0;
}

int jail_id_number_parse(const char *flag, const char *s, uint32_t *out, struct jerr *e)
{
    uint64_t v;
    if (!jail_decimal_parse(s, UINT32_MAX - 1, &v))
        return jerr_set(e, "%s '%s': not a number from 0 to %u", flag, s, UINT32_MAX - 1);
    *out = (uint32_t)v;
    return 0;
}

int jail_cgroup_setting_parse(const char *spec, struct jail_cgroup_setting *s, struct jerr *e)
{
    /* Split at the first '=': unlike Firecracker, a value may hold '='
     * (cgroup v2's io.max takes "8:0 rbps=1000"). */
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return jerr_set(e, "--cgroup '%s': expected FILE=VALUE, e.g. cpu.shares=512", spec);
    size_t file_len = (size_t)(eq - spec);
    if (file_len >= sizeof(s->file))
        return jerr_set(e, "--cgroup '%s': the file name is longer than %zu bytes", spec, sizeof(s->file) - 1);
    /* The file name is joined to the cgroup's directory: letters, digits,
     * '_' and '.' only, so it can never climb out ("..", "/"). */
    for (size_t i = 0; i < file_len; i++) {
        char c = spec[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return jerr_set(e, "--cgroup '%s': the file name may hold letters, digits, '_' and '.' only", spec);
    }
    const char *dot = memchr(spec, '.', file_len);
    if (!dot || dot == spec || dot == eq - 1)
        return jerr_set(e, "--cgroup '%s': the file must be <controller>.<property>, e.g. cpu.shares", spec);
    size_t ctrl_len = (size_t)(dot - spec);
    if (ctrl_len >= sizeof(s->controller))
        return jerr_set(e, "--cgroup '%s': the controller's name is too long", spec);
    size_t value_len = strlen(eq + 1);
    if (value_len >= sizeof(s->value))
        return jerr_set(e, "--cgroup '%s': the value is longer than %zu bytes", spec, sizeof(s->value) - 1);
    if (strchr(eq + 1, '\n'))
        return jerr_set(e, "--cgroup '%s': the value holds a newline", spec);
    memcpy(s->file, spec, file_len);
    s->file[file_len] = 0;
    memcpy(s->controller, spec, ctrl_len);
    s->controller[ctrl_len] = 0;
    memcpy(s->value, eq + 1, value_len + 1);
    return 0;
}

int jail_parent_cgroup_check(const char *path, struct jerr *e)
{
    if (!*path)
        return jerr_set(e, "--parent-cgroup: empty");
    if (*path == '/')
        return jerr_set(e, "--parent-cgroup '%s': must be relative to the cgroup hierarchy's root", path);
    for (const char *p = path; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return jerr_set(e, "--parent-cgroup '%s': no empty, '.' or '..' component allowed", path);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return jerr_set(e, "--parent-cgroup '%s': holds a control character", path);
        p += n;
        if (*p == '/' && !*++p)
            return jerr_set(e, "--parent-cgroup '%s': ends with '/'", path);
    }
    return 0;
}

enum opt_id {
    OPT_ID, OPT_EXEC_FILE, OPT_UID, OPT_GID, OPT_CHROOT_BASE, OPT_NETNS, OPT_DAEMONIZE, OPT_NEW_PID_NS,
    OPT_CGROUP, OPT_CGROUP_VERSION, OPT_PARENT_CGROUP, OPT_RESOURCE_LIMIT, OPT_ALLOW_ROOT, OPT_HELP,
    OPT_VERSION, OPT_COUNT
};

static const struct {
    const char *name;
    bool takes_value, repeatable;
} opts[OPT_COUNT] = {
    [OPT_ID] = {"id", true, false},
    [OPT_EXEC_FILE] = {"exec-file", true, false},
    [OPT_UID] = {"uid", true, false},
    [OPT_GID] = {"gid", true, false},
    [OPT_CHROOT_BASE] = {"chroot-base-dir", true, false},
    [OPT_NETNS] = {"netns", true, false},
    [OPT_DAEMONIZE] = {"daemonize", false, false},
    [OPT_NEW_PID_NS] = {"new-pid-ns", false, false},
    [OPT_CGROUP] = {"cgroup", true, true},
    [OPT_CGROUP_VERSION] = {"cgroup-version", true, false},
    [OPT_PARENT_CGROUP] = {"parent-cgroup", true, false},
    [OPT_RESOURCE_LIMIT] = {"resource-limit", true, true},
    [OPT_ALLOW_ROOT] = {"allow-root", false, false},
    [OPT_HELP] = {"help", false, false},
    [OPT_VERSION] = {"version", false, false},
};

/* Applies one flag's value (already known to be present when needed). */
static int apply_opt(struct jail_args *a, enum opt_id id, const char *v, struct jerr *e)
{
    switch (id) {
    case OPT_ID: a->id = v; return jail_id_check(v, e);
    case OPT_EXEC_FILE:
        if (!*v)
            return jerr_set(e, "--exec-file: empty");
        a->exec_file = v;
        return 0;
    case OPT_UID: return jail_id_number_parse("--uid", v, &a->uid, e);
    case OPT_GID: return jail_id_number_parse("--gid", v, &a->gid, e);
    case OPT_CHROOT_BASE:
        if (!*v)
            return jerr_set(e, "--chroot-base-dir: empty");
        a->chroot_base = v;
        return 0;
    case OPT_NETNS:
        if (!*v)
            return jerr_set(e, "--netns: empty");
        a->netns = v;
        return 0;
    case OPT_DAEMONIZE: a->daemonize = true; return 0;
    case OPT_NEW_PID_NS: a->new_pid_ns = true; return 0;
    case OPT_CGROUP:
        if (a->ncgroups == JAIL_MAX_CGROUP_SETTINGS)
            return jerr_set(e, "--cgroup: more than %d given", JAIL_MAX_CGROUP_SETTINGS);
        return jail_cgroup_setting_parse(v, &a->cgroups[a->ncgroups++], e);
    case OPT_CGROUP_VERSION:
        if (strcmp(v, "1") && strcmp(v, "2"))
            return jerr_set(e, "--cgroup-version '%s': 1 or 2", v);
        a->cgroup_version = v[0] - '0';
        return 0;
    case OPT_PARENT_CGROUP: a->parent_cgroup = v; return jail_parent_cgroup_check(v, e);
    case OPT_RESOURCE_LIMIT: return jail_rlimit_parse(v, &a->rlimits, e);
    case OPT_ALLOW_ROOT: a->allow_root = true; return 0;
    case OPT_HELP: a->help = true; return 0;
    case OPT_VERSION: a->version = true; return 0;
    case OPT_COUNT: break;
    }
    return jerr_set(e, "internal: unhandled flag");
}

int jail_args_parse(int argc, char **argv, struct jail_args *a, struct jerr *e)
{
    memset(a, 0, sizeof(*a));
    a->chroot_base = JAIL_DEFAULT_CHROOT_BASE;
    a->cgroup_version = 1;
    a->rlimits.nofile = JAIL_DEFAULT_NOFILE;
    a->exec_argv = argv + argc; /* argv[argc] is NULL: no ember arguments */

    int seen[OPT_COUNT] = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            a->exec_argv = argv + i + 1;
            a->exec_argc = argc - i - 1;
            break;
        }
        if (!strcmp(arg, "-h"))
            arg = "--help";
        if (strncmp(arg, "--", 2))
            return jerr_set(e, "unexpected argument '%s': ember's own arguments go after --", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int o = 0; o < OPT_COUNT; o++)
            if (strlen(opts[o].name) == name_len && !strncmp(opts[o].name, name, name_len))
                id = o;
        if (id < 0)
            return jerr_set(e, "unknown flag '%.*s' (ember-jailer --help lists them)", (int)(name_len + 2), arg);
        if (seen[id]++ && !opts[id].repeatable)
            return jerr_set(e, "--%s given twice", opts[id].name);
        const char *value = NULL;
        if (opts[id].takes_value) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                value = argv[++i];
            } else {
                /* A following flag is never taken as the value: "--id --uid"
                 * would otherwise make a valid id of "--uid". */
                return jerr_set(e, "--%s needs a value", opts[id].name);
            }
        } else if (eq) {
            return jerr_set(e, "--%s takes no value", opts[id].name);
        }
        if (apply_opt(a, (enum opt_id)id, value, e) < 0)
            return -1;
    }
    if (a->help || a->version)
        return 0;

    static const enum opt_id required[] = {OPT_ID, OPT_EXEC_FILE, OPT_UID, OPT_GID};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!seen[required[i]])
            return jerr_set(e, "missing --%s (ember-jailer --help)", opts[required[i]].name);
    if (a->uid == 0 && !a->allow_root)
        return jerr_set(e, "--uid 0: ember would run as root inside the jail; give --allow-root to mean it");
    return 0;
}
