#include "jailer/jail_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int jail_paths_compose(const char *base, const char *exec_name, const char *id, struct jail_paths *p,
                       struct jerr *e)
{
    const char *b = strcmp(base, "/") ? base : "";
    if (snprintf(p->base, sizeof(p->base), "%s", base) >= (int)sizeof(p->base) ||
        snprintf(p->exec_dir, sizeof(p->exec_dir), "%s/%s", b, exec_name) >= (int)sizeof(p->exec_dir) ||
        snprintf(p->jail_dir, sizeof(p->jail_dir), "%s/%s", p->exec_dir, id) >= (int)sizeof(p->jail_dir) ||
        snprintf(p->root, sizeof(p->root), "%s/root", p->jail_dir) >= (int)sizeof(p->root))
        return jerr_set(e, "--chroot-base-dir %.200s%s: the jail's path would be longer than %d bytes", base,
                        strlen(base) > 200 ? "..." : "", PATH_MAX - 1);
    return 0;
}

/* mkdir -p, 0755: the directories above the jails. */
static int make_parents(const char *path, struct jerr *e)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return jerr_errno(e, "creating %s", buf);
        *p = c;
        if (!c)
            return 0;
    }
}

/* A directory in the root, 0700 and uid:gid's whatever the umask. */
static int make_owned_dir(int root_fd, const char *rel, const char *shown, uid_t uid, gid_t gid, struct jerr *e)
{
    if (strcmp(rel, ".") && mkdirat(root_fd, rel, 0700) < 0)
        return jerr_errno(e, "creating %s", shown);
    if (fchmodat(root_fd, rel, 0700, 0) < 0)
        return jerr_errno(e, "chmod %s", shown);
    if (fchownat(root_fd, rel, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return jerr_errno(e, "chown %s", shown);
    return 0;
}

int jail_tree_create(const char *base, const char *exec_name, const char *id, uid_t uid, gid_t gid,
                     struct jail_tree *t, struct jerr *e)
{
    memset(t, 0, sizeof(*t));
    t->root_fd = -1;
    if (make_parents(base, e) < 0)
        return -1;
    char resolved[PATH_MAX];
    if (!realpath(base, resolved))
        return jerr_errno(e, "--chroot-base-dir %s", base);
    struct stat st;
    if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode))
        return jerr_set(e, "--chroot-base-dir %s: not a directory", base);
    struct jail_paths *p = &t->paths;
    if (jail_paths_compose(resolved, exec_name, id, p, e) < 0)
        return -1;
    if (mkdir(p->exec_dir, 0755) < 0 && errno != EEXIST)
        return jerr_errno(e, "creating %s", p->exec_dir);
    if (lstat(p->exec_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return jerr_set(e, "%s: exists and is not a directory", p->exec_dir);
    if (mkdir(p->jail_dir, 0755) < 0) {
        if (errno == EEXIST)
            return jerr_set(e, "jail %s: already exists (a jail is made once per id: remove the old one, or "
                               "choose another --id)",
                            p->jail_dir);
        return jerr_errno(e, "creating %s", p->jail_dir);
    }
    t->made_jail = true;
    if (mkdir(p->root, 0700) < 0)
        return jerr_errno(e, "creating %s", p->root);
    t->root_fd = open(p->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->root_fd < 0)
        return jerr_errno(e, "opening %s", p->root);
    static const char *const dirs[] = {".", "dev", "dev/net", "run"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char shown[PATH_MAX + 16];
        snprintf(shown, sizeof(shown), "%s/%s", p->root, dirs[i]);
        if (make_owned_dir(t->root_fd, dirs[i], shown, uid, gid, e) < 0)
            return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void jail_tree_remove(struct jail_tree *t)
{
    if (t->root_fd >= 0)
        close(t->root_fd);
    t->root_fd = -1;
    /* FTW_PHYS: never follow a symlink out; FTW_MOUNT: never cross into a
     * mount (there is none in a jail that failed before its pivot). */
    if (t->made_jail)
        nftw(t->paths.jail_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    t->made_jail = false;
}

int jail_pivot_root(const char *root, struct jerr *e)
{
    if (unshare(CLONE_NEWNS) < 0)
        return jerr_errno(e, "unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return jerr_errno(e, "making / a slave mount");
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        return jerr_errno(e, "bind-mounting %s onto itself", root);
    if (chdir(root) < 0)
        return jerr_errno(e, "chdir %s", root);
    if (mkdir("old_root", 0600) < 0)
        return jerr_errno(e, "creating %s/old_root", root);
    if (syscall(SYS_pivot_root, ".", "old_root") < 0) {
        jerr_errno(e, "pivot_root to %s", root);
        rmdir("old_root");
        return -1;
    }
    if (chdir("/") < 0)
        return jerr_errno(e, "chdir / in the jail");
    if (umount2("old_root", MNT_DETACH) < 0)
        return jerr_errno(e, "detaching the old root");
    if (rmdir("old_root") < 0)
        return jerr_errno(e, "removing /old_root in the jail");
    return 0;
}
