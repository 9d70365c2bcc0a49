/* The jail's directory tree and the switch into it.
 *
 * <base>/<exec name>/<id>/root is the jail's root (Firecracker's layout).
 * <base> and <base>/<exec name> are made when missing (0755, root's);
 * <base>/<exec name>/<id> must not exist yet: an id is used once, and a
 * jail left from an earlier run is refused rather than reused. Inside the
 * root, as Firecracker makes them: the root itself, /dev, /dev/net and
 * /run, each 0700 and owned by uid:gid (ember creates its API socket in
 * /run), the device nodes (devices.h) and the copied binary (0755, root's).
 *
 * Everything in the root is made before pivot_root, relative to a
 * descriptor of the root, so a failure up to the pivot can remove the
 * whole jail; after it, the outer directories are out of reach. */
#ifndef EMBER_JAILER_JAIL_FS_H
#define EMBER_JAILER_JAIL_FS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "jailer/error.h"

struct jail_paths {
    char base[PATH_MAX];     /* --chroot-base-dir, resolved */
    char exec_dir[PATH_MAX]; /* <base>/<exec name> */
    char jail_dir[PATH_MAX]; /* <base>/<exec name>/<id> */
    char root[PATH_MAX];     /* <base>/<exec name>/<id>/root */
};

/* Composes the paths from a resolved base; -1 with e set when too long. */
int jail_paths_compose(const char *base, const char *exec_name, const char *id, struct jail_paths *p,
                       struct jerr *e);

struct jail_tree {
    struct jail_paths paths;
    int root_fd;    /* the root, O_DIRECTORY */
    bool made_jail; /* jail_dir is ours to remove on failure */
};

/* Resolves (making if missing) the base, makes the jail's directories and
 * the ones inside its root, and opens the root. */
int jail_tree_create(const char *base, const char *exec_name, const char *id, uid_t uid, gid_t gid,
                     struct jail_tree *t, struct jerr *e);
/* Removes <base>/<exec name>/<id> and all below it (a failure before the
 * pivot); <base>/<exec name> stays, other jails may be in it. */
void jail_tree_remove(struct jail_tree *t);

/* A new mount namespace whose root is the jail's: / made a slave
 * recursively (no mount event of ours reaches the host), the root bound
 * onto itself (pivot_root wants a mount point), pivot_root, and the old
 * root detached and its directory removed. The cwd is then /. */
int jail_pivot_root(const char *root, struct jerr *e);

#endif
