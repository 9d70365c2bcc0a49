#include "jailer/rlimits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

bool jail_decimal_parse(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

int jail_rlimit_parse(const char *spec, struct jail_rlimits *r, struct jerr *e)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return jerr_set(e, "--resource-limit '%s': expected fsize=N or no-file=N", spec);
    size_t name_len = (size_t)(eq - spec);
    uint64_t v;
    /* RLIM_INFINITY is ~0: a number that large is "unlimited", which is
     * not a limit anyone means to set here. */
    if (!jail_decimal_parse(eq + 1, UINT64_MAX - 1, &v))
        return jerr_set(e, "--resource-limit '%s': '%s' is not a number", spec, eq + 1);
    if (name_len == 5 && !strncmp(spec, "fsize", 5)) {
        r->fsize_set = true;
        r->fsize = v;
    } else if (name_len == 7 && !strncmp(spec, "no-file", 7)) {
        r->nofile = v;
    } else {
        return jerr_set(e, "--resource-limit '%s': unknown resource '%.*s' (fsize or no-file)", spec, (int)name_len,
                        spec);
    }
    return 0;
}

static int set_limit(int resource, const char *name, uint64_t v, struct jerr *e)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
    if (setrlimit(resource, &rl) < 0) {
        if (errno == EPERM && resource == RLIMIT_NOFILE)
            return jerr_errno(e, "--resource-limit %s=%llu: setrlimit (above /proc/sys/fs/nr_open?)", name,
                              (unsigned long long)v);
        return jerr_errno(e, "--resource-limit %s=%llu: setrlimit", name, (unsigned long long)v);
    }
    return 0;
}

int jail_rlimits_apply(const struct jail_rlimits *r, struct jerr *e)
{
    if (r->fsize_set && set_limit(RLIMIT_FSIZE, "fsize", r->fsize, e) < 0)
        return -1;
    return set_limit(RLIMIT_NOFILE, "no-file", r->nofile, e);
}
