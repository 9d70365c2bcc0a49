/* The binary the jail runs. It is opened once, without following a
 * symlink, and everything after works on that descriptor: the checks and
 * the copy into the jail read the same file, so it cannot be swapped in
 * between. Refused: a symlink (give the file itself), a directory or
 * anything not a regular file, a file with other hard links (it could be
 * the same inode as something else that changes under us: Firecracker's
 * rule), anything but an ELF executable, and a dynamically linked one (the
 * jail holds no ld.so nor shared libraries). */
#ifndef EMBER_JAILER_EXEC_FILE_H
#define EMBER_JAILER_EXEC_FILE_H

#include <limits.h>
#include <sys/types.h>

#include "jailer/error.h"

struct exec_file {
    int fd;
    char name[NAME_MAX + 1]; /* the last component: "ember" for build/ember */
    off_t size;
};

int exec_file_open(const char *path, struct exec_file *x, struct jerr *e);
/* The ELF checks alone, on an open file: 0 for a static ELF executable. */
int exec_file_check_elf(int fd, const char *path, struct jerr *e);
/* Copies the file to name in the directory dirfd, mode 0755, owned by the
 * jailer (root), as Firecracker does; the name must not exist yet. */
int exec_file_copy(const struct exec_file *x, int dirfd, const char *shown_path, struct jerr *e);
void exec_file_close(struct exec_file *x);

#endif
