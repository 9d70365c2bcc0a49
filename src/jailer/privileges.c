#include "jailer/privileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer/rlimits.h"
#include "jailer/textfile.h"

int privileges_last_cap(int *last_cap, struct jerr *e)
{
    const char *path = "/proc/sys/kernel/cap_last_cap";
    char *text = textfile_read(path, e);
    if (!text)
        return -1;
    uint64_t v;
    text[strcspn(text, "\n")] = 0;
    bool ok = jail_decimal_parse(text, 63, &v);
    free(text);
    if (!ok)
        return jerr_set(e, "%s: not a capability number", path);
    *last_cap = (int)v;
    return 0;
}

/* Reads (set == 0) or writes the three capability sets. */
static int caps(int set, struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(set ? SYS_capset : SYS_capget, &hdr, data);
}

int privileges_drop(uid_t uid, gid_t gid, int last_cap, struct jerr *e)
{
    /* The bounding set needs CAP_SETPCAP to shrink: empty it while root. */
    for (int cap = 0; cap <= last_cap; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return jerr_errno(e, "dropping capability %d from the bounding set", cap);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return jerr_errno(e, "clearing the ambient capabilities");
    if (setgroups(0, NULL) < 0)
        return jerr_errno(e, "setgroups(0)");
    if (setresgid(gid, gid, gid) < 0)
        return jerr_errno(e, "setresgid(%u)", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        return jerr_errno(e, "setresuid(%u)", (unsigned)uid);
    /* Leaving uid 0 cleared the permitted and effective sets already; for
     * --allow-root (and the inheritable set) clear them here. */
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (caps(1, data) < 0)
        return jerr_errno(e, "capset (dropping every capability)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return jerr_errno(e, "prctl(PR_SET_NO_NEW_PRIVS)");

    /* Trust, then verify: a kernel that took a call and kept a privilege
     * must not start ember. */
    uid_t r, ef, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &ef, &s) < 0 || r != uid || ef != uid || s != uid || getresgid(&rg, &eg, &sg) < 0 ||
        rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
        return jerr_set(e, "dropping privileges: the ids did not change as asked");
    if (caps(0, data) < 0)
        return jerr_errno(e, "capget");
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return jerr_set(e, "dropping privileges: capabilities remain");
    for (int cap = 0; cap <= last_cap; cap++)
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
            return jerr_set(e, "dropping privileges: capability %d remains in the bounding set", cap);
    return 0;
}
