#include "jailer/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int devices_probe(struct jail_device devs[JAIL_NDEVICES], struct jerr *e)
{
    static const char *const paths[JAIL_NDEVICES] = {"/dev/kvm", "/dev/net/tun", "/dev/urandom",
                                                     "/dev/userfaultfd"};
    for (int i = 0; i < JAIL_NDEVICES; i++) {
        struct stat st;
        devs[i] = (struct jail_device){.path = paths[i]};
        if (stat(paths[i], &st) < 0) {
            if (errno == ENOENT)
                continue;
            return jerr_errno(e, "host device %s", paths[i]);
        }
        if (!S_ISCHR(st.st_mode))
            return jerr_set(e, "host device %s: not a character device", paths[i]);
        devs[i].present = true;
        devs[i].rdev = st.st_rdev;
    }
    return 0;
}

int devices_make(const struct jail_device devs[JAIL_NDEVICES], int root_fd, const char *root_shown, uid_t uid,
                 gid_t gid, struct jerr *e)
{
    for (int i = 0; i < JAIL_NDEVICES; i++) {
        if (!devs[i].present)
            continue;
        const char *rel = devs[i].path + 1; /* "dev/kvm" under the root */
        if (mknodat(root_fd, rel, S_IFCHR | 0600, devs[i].rdev) < 0)
            return jerr_errno(e, "mknod %s%s (%u:%u)", root_shown, devs[i].path, major(devs[i].rdev),
                              minor(devs[i].rdev));
        /* mknod's mode is cut by the umask; set it exactly. */
        if (fchmodat(root_fd, rel, 0600, 0) < 0)
            return jerr_errno(e, "chmod %s%s", root_shown, devs[i].path);
        if (fchownat(root_fd, rel, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return jerr_errno(e, "chown %s%s", root_shown, devs[i].path);
    }
    return 0;
}
