/* --resource-limit: RLIMIT_FSIZE and RLIMIT_NOFILE for the jailed ember,
 * soft and hard alike (so ember cannot raise them back), as Firecracker's
 * jailer sets them. They are set just before the privileges are dropped
 * (so the jailer's own last writes are not cut off) and outlast the exec. */
#ifndef EMBER_JAILER_RLIMITS_H
#define EMBER_JAILER_RLIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "jailer/error.h"

/* Firecracker's jailer sets this RLIMIT_NOFILE when no-file=N is not
 * given; so does ember-jailer. */
#define JAIL_DEFAULT_NOFILE 2048

struct jail_rlimits {
    bool fsize_set;  /* RLIMIT_FSIZE is left as it is unless asked for */
    uint64_t fsize;  /* bytes */
    uint64_t nofile; /* JAIL_DEFAULT_NOFILE unless given */
};

/* A decimal number without sign, spaces or "0x", up to max. */
bool jail_decimal_parse(const char *s, uint64_t max, uint64_t *out);
/* "fsize=N" or "no-file=N" into r. */
int jail_rlimit_parse(const char *spec, struct jail_rlimits *r, struct jerr *e);
int jail_rlimits_apply(const struct jail_rlimits *r, struct jerr *e);

#endif
