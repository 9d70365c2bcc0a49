#include "security/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

/* The kernel's ABI (linux/landlock.h of Linux 6.x), beyond Debian 12's headers. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#define CREATE_RULESET_VERSION (1U << 0)
#define RULE_PATH_BENEATH 1
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_REG (1ULL << 8)
#define FS_ABI1_ALL ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define FS_REFER (1ULL << 13)          /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14)       /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15)      /* ABI 5 */
#define NET_BIND_TCP (1ULL << 0)       /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1)

struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
};

struct path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static int abi;              /* 0: none (or off) */
static enum landlock_mode mode = LANDLOCK_OFF;
static int ruleset_fd = -1;  /* kept for the API thread */
static atomic_bool restricted;
static __thread bool this_thread_restricted;

bool landlock_active(void) { return atomic_load(&restricted); }

const char *landlock_hint(int err)
{
    return err == EACCES && landlock_active()
               ? " (outside the paths ember's Landlock rules allow: grant it with --landlock-rule path=PATH,access=rw, "
                 "or run with --no-landlock)"
               : "";
}

int landlock_add_path(struct landlock_config *cfg, const char *path, enum landlock_access access)
{
    if (!path || !*path)
        return 0;
    if (cfg->nrules >= LANDLOCK_MAX_RULES) {
        log_error("landlock: more than %d paths", LANDLOCK_MAX_RULES);
        return -1;
    }
    cfg->rules[cfg->nrules++] = (struct landlock_path_rule){.path = path, .access = access};
    return 0;
}

int landlock_parse_rule(char *arg, struct landlock_config *cfg)
{
    const char *path = NULL, *access = NULL;
    char *text = arg;
    for (char *opt = text, *next; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        if (!strncmp(opt, "path=", 5) && opt[5])
            path = opt + 5;
        else if (!strncmp(opt, "access=", 7))
            access = opt + 7;
        else {
            log_error("--landlock-rule: bad option '%s' (expected path=PATH,access=ro|rw)", opt);
            return -1;
        }
    }
    if (!path || !access || (strcmp(access, "ro") && strcmp(access, "rw"))) {
        log_error("--landlock-rule: expected path=PATH,access=ro|rw");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        log_error("--landlock-rule path=%s: %s", path, strerror(errno));
        return -1;
    }
    return landlock_add_path(cfg, path, strcmp(access, "rw") ? LANDLOCK_READ : LANDLOCK_WRITE);
}

int landlock_prepare(enum landlock_mode m)
{
    mode = m;
    if (m == LANDLOCK_OFF)
        return 0;
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
    if (v <= 0) {
        const char *why = errno == EOPNOTSUPP ? "built into this kernel but not enabled (lsm=)" : "not in this kernel";
        if (m == LANDLOCK_REQUIRED) {
            log_error("--landlock: Landlock is %s", why);
            return -1;
        }
        log_info("note: Landlock is %s: ember's file access is not restricted beyond seccomp", why);
        abi = 0;
        return 0;
    }
    abi = (int)v;
    /* Required to restrict without CAP_SYS_ADMIN; inherited by the threads. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        log_error("landlock: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t handled_fs(void)
{
    uint64_t fs = FS_ABI1_ALL;
    if (abi >= 2)
        fs |= FS_REFER;
    if (abi >= 3)
        fs |= FS_TRUNCATE;
    if (abi >= 5)
        fs |= FS_IOCTL_DEV;
    return fs;
}

static uint64_t allowed_for(enum landlock_access access, bool is_dir)
{
    uint64_t a;
    if (access == LANDLOCK_REMOVE)
        return FS_REMOVE_FILE; /* a directory's */
    a = FS_READ_FILE | FS_IOCTL_DEV; /* a block device's size */
    if (access == LANDLOCK_WRITE || access == LANDLOCK_WRITE_FILES)
        a |= FS_WRITE_FILE | FS_TRUNCATE;
    if (is_dir)
        a |= FS_READ_DIR | (access == LANDLOCK_WRITE ? FS_REMOVE_FILE | FS_MAKE_REG : 0);
    return a & handled_fs();
}

static int add_rule(int fd, const struct landlock_path_rule *r)
{
    int dir = open(r->path, O_PATH | O_CLOEXEC);
    struct stat st;
    if (dir < 0 || fstat(dir, &st) < 0) {
        log_error("landlock: %s: %s", r->path, strerror(errno));
        if (dir >= 0)
            close(dir);
        return -1;
    }
    struct path_beneath_attr pb = {.allowed_access = allowed_for(r->access, S_ISDIR(st.st_mode)), .parent_fd = dir};
    long rc = syscall(__NR_landlock_add_rule, fd, RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(dir);
    if (rc < 0) {
        log_error("landlock: cannot add a rule for %s: %s", r->path, strerror(e));
        return -1;
    }
    return 0;
}

int landlock_restrict_process(const struct landlock_config *cfg)
{
    if (mode == LANDLOCK_OFF || abi == 0)
        return 0;
    struct ruleset_attr attr = {.handled_access_fs = handled_fs()};
    size_t size = sizeof(attr.handled_access_fs);
    if (abi >= 4) { /* and no TCP at all: ember has no use for it */
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
        size = sizeof(attr);
    }
    int fd = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0) {
        log_error("landlock: cannot create a ruleset: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < cfg->nrules; i++)
        if (add_rule(fd, &cfg->rules[i]) < 0) {
            close(fd);
            return -1;
        }
#ifdef __SANITIZE_ADDRESS__
    /* The ASan build only: LeakSanitizer reads /proc/self at exit. */
    struct landlock_path_rule proc = {.path = "/proc", .access = LANDLOCK_READ};
    if (add_rule(fd, &proc) < 0) {
        close(fd);
        return -1;
    }
#endif
    if (syscall(__NR_landlock_restrict_self, fd, 0) < 0) {
        log_error("landlock: cannot restrict ember: %s", strerror(errno));
        close(fd);
        return -1;
    }
    ruleset_fd = fd;
    this_thread_restricted = true;
    atomic_store(&restricted, true);
    log_debug("landlock: ABI %d, %d path rules; file access outside them is refused", abi, cfg->nrules);
    return 0;
}

void landlock_restrict_api_thread(void)
{
    if (this_thread_restricted || !atomic_load(&restricted))
        return;
    this_thread_restricted = true;
    if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0) {
        /* Cannot happen once the main thread could: the same rules, the
         * same kernel. Refuse to serve unrestricted. */
        log_error("landlock: the API thread cannot restrict itself: %s; ember stops", strerror(errno));
        _exit(1);
    }
}
