#include "jailer/textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *textfile_read(const char *path, struct jerr *e)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        jerr_errno(e, "%s", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *more = realloc(buf, cap * 2);
            if (!more)
                break;
            buf = more;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            jerr_errno(e, "%s: read", path);
            free(buf);
            close(fd);
            return NULL;
        }
        if (n == 0) {
            buf[len] = 0;
            close(fd);
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    close(fd);
    jerr_set(e, "%s: out of memory", path);
    return NULL;
}

int textfile_write(const char *path, const char *text, struct jerr *e)
{
    /* O_TRUNC as a shell redirection does: cgroup files ignore it. */
    int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return jerr_errno(e, "%s", path);
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (n < 0 || (size_t)n != len) {
        if (n >= 0)
            errno = EIO;
        jerr_errno(e, "writing '%.*s' to %s", (int)strcspn(text, "\n"), text, path);
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return jerr_errno(e, "writing '%.*s' to %s", (int)strcspn(text, "\n"), text, path);
    return 0;
}
