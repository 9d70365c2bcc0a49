#include "jailer/exec_file.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int exec_file_open(const char *path, struct exec_file *x, struct jerr *e)
{
    x->fd = -1;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return jerr_set(e, "--exec-file %s: names a directory; give the ember binary itself", path);
    if (strlen(name) >= sizeof(x->name))
        return jerr_set(e, "--exec-file %s: the file's name is too long", path);
    /* O_NONBLOCK: a FIFO planted at the path must not hang the open. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return jerr_set(e, "--exec-file %s: is a symbolic link; give the file itself", path);
        return jerr_errno(e, "--exec-file %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        jerr_errno(e, "--exec-file %s: stat", path);
        close(fd);
        return -1;
    }
    const char *why = S_ISDIR(st.st_mode) ? "is a directory; give the ember binary itself"
                      : !S_ISREG(st.st_mode) ? "is not a regular file"
                                             : NULL;
    if (why) {
        close(fd);
        return jerr_set(e, "--exec-file %s: %s", path, why);
    }
    if (st.st_nlink > 1) {
        close(fd);
        return jerr_set(e, "--exec-file %s: has %lu hard links; give a file with a single link (a copy)", path,
                        (unsigned long)st.st_nlink);
    }
    if (exec_file_check_elf(fd, path, e) < 0) {
        close(fd);
        return -1;
    }
    x->fd = fd;
    x->size = st.st_size;
    strcpy(x->name, name);
    return 0;
}

int exec_file_check_elf(int fd, const char *path, struct jerr *e)
{
    Elf64_Ehdr eh;
    ssize_t n = pread(fd, &eh, sizeof(eh), 0);
    if (n < 0)
        return jerr_errno(e, "--exec-file %s: read", path);
    if ((size_t)n < sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return jerr_set(e, "--exec-file %s: not a 64-bit ELF file; give the ember binary", path);
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        return jerr_set(e, "--exec-file %s: an ELF file but not an executable", path);
    if (eh.e_machine != EM_X86_64)
        return jerr_set(e, "--exec-file %s: an ELF executable for another machine (e_machine %u)", path,
                        eh.e_machine);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM)
        return jerr_set(e, "--exec-file %s: its ELF program headers are malformed", path);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        off_t at = (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph));
        if (eh.e_phoff > (uint64_t)INT64_MAX / 2 || pread(fd, &ph, sizeof(ph), at) != (ssize_t)sizeof(ph))
            return jerr_set(e, "--exec-file %s: its ELF program headers are cut short", path);
        if (ph.p_type == PT_INTERP)
            return jerr_set(e, "--exec-file %s: dynamically linked (it has a PT_INTERP program header) and the "
                               "jail holds no shared libraries; use a statically linked ember (make builds "
                               "build/ember static)",
                            path);
    }
    return 0;
}

int exec_file_copy(const struct exec_file *x, int dirfd, const char *shown_path, struct jerr *e)
{
    int out = openat(dirfd, x->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
    if (out < 0)
        return jerr_errno(e, "copying the exec file to %s", shown_path);
    off_t in_off = 0;
    int rc = 0;
    while (in_off < x->size) {
        ssize_t n = copy_file_range(x->fd, &in_off, out, NULL, (size_t)(x->size - in_off), 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
            /* Another file system, or one that cannot: plain reads. */
            char buf[65536];
            n = pread(x->fd, buf, sizeof(buf), in_off);
            if (n > 0 && write(out, buf, (size_t)n) != n)
                n = -1;
            if (n > 0)
                in_off += n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank while we copied it */
            rc = jerr_errno(e, "copying the exec file to %s", shown_path);
            break;
        }
    }
    /* 0755 whatever the umask: the jailed uid must be able to run it. */
    if (rc == 0 && fchmod(out, 0755) < 0)
        rc = jerr_errno(e, "chmod %s", shown_path);
    if (close(out) < 0 && rc == 0)
        rc = jerr_errno(e, "copying the exec file to %s", shown_path);
    return rc;
}

void exec_file_close(struct exec_file *x)
{
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}
