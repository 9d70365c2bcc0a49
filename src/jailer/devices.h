/* The device nodes in the jail's /dev: exactly Firecracker's four, kvm,
 * net/tun, urandom and userfaultfd. Each gets the host node's own
 * major:minor (read from the host's /dev before anything changes, so a
 * host where, say, userfaultfd has a dynamic minor is right), is a
 * character device 0600, and is owned by the jailed uid:gid, which is how
 * an unprivileged ember may open /dev/kvm. A node the host lacks is
 * skipped with a note: ember says so itself if it needs it. */
#ifndef EMBER_JAILER_DEVICES_H
#define EMBER_JAILER_DEVICES_H

#include <stdbool.h>
#include <sys/types.h>

#include "jailer/error.h"

#define JAIL_NDEVICES 4

struct jail_device {
    const char *path; /* on the host, and the same inside the jail */
    bool present;
    dev_t rdev;
};

/* Looks the host's nodes up; fills devs[JAIL_NDEVICES]. A host path that
 * exists but is not a character device is an error. */
int devices_probe(struct jail_device devs[JAIL_NDEVICES], struct jerr *e);
/* Makes the present ones under root_fd (whose dev/ and dev/net/ exist);
 * root_shown is the root's path, for messages. */
int devices_make(const struct jail_device devs[JAIL_NDEVICES], int root_fd, const char *root_shown, uid_t uid,
                 gid_t gid, struct jerr *e);

#endif
