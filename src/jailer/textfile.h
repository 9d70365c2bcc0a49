/* Whole small files in and out: /proc/self/mountinfo, cgroup files,
 * /proc/sys/kernel/cap_last_cap. Paths are opened with O_NOFOLLOW so a
 * planted symlink in a cgroup directory is not followed. */
#ifndef EMBER_JAILER_TEXTFILE_H
#define EMBER_JAILER_TEXTFILE_H

#include <stddef.h>

#include "jailer/error.h"

/* The whole file, NUL-terminated, in a malloc'd buffer; NULL with e set. */
char *textfile_read(const char *path, struct jerr *e);
/* Writes text to path in one write(2), as cgroup files want it. */
int textfile_write(const char *path, const char *text, struct jerr *e);

#endif
