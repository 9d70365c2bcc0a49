/* The last step before exec: ember keeps no privilege at all.
 *
 * Firecracker's jailer only switches uid and gid. ember-jailer also empties
 * the capability bounding set (every capability up to
 * /proc/sys/kernel/cap_last_cap, read while /proc is still reachable), the
 * ambient set, and then the permitted, effective and inheritable sets, and
 * sets PR_SET_NO_NEW_PRIVS: nothing ember execs, setuid or with file
 * capabilities, can gain a privilege, and an --allow-root ember (uid 0)
 * holds no capability either. Supplementary groups are dropped
 * (setgroups(0)), then setresgid and setresuid make real, effective and
 * saved ids all the jailed ones. */
#ifndef EMBER_JAILER_PRIVILEGES_H
#define EMBER_JAILER_PRIVILEGES_H

#include <sys/types.h>

#include "jailer/error.h"

/* The highest capability number this kernel knows. */
int privileges_last_cap(int *last_cap, struct jerr *e);
/* Drops everything (see above) and checks it is gone. */
int privileges_drop(uid_t uid, gid_t gid, int last_cap, struct jerr *e);

#endif
