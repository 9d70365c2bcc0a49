#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int file_read_all(const char *what, const char *path, size_t max_size, struct file_blob *out)
{
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("%s %s: cannot open: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        log_error("%s %s: not a regular file", what, path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max_size) {
        log_error("%s %s: too large (%lld bytes, at most %zu)", what, path, (long long)st.st_size,
                  max_size);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        log_error("%s %s: out of memory reading %zu bytes", what, path, size);
        close(fd);
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t r = read(fd, data + done, size - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            log_error("%s %s: read failed: %s", what, path, r < 0 ? strerror(errno) : "short read");
            free(data);
            close(fd);
            return -1;
        }
        done += (size_t)r;
    }
    close(fd);
    out->data = data;
    out->size = size;
    return 0;
}

void file_blob_free(struct file_blob *blob)
{
    free(blob->data);
    blob->data = NULL;
    blob->size = 0;
}

int file_check_readable(const char *path, const char *what, char *err, size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "%s %s: cannot open: %s.", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    int r = fstat(fd, &st);
    close(fd);
    if (r < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(err, errsize, "%s %s: not a regular file or block device.", what, path);
        return -1;
    }
    return 0;
}

char *file_read_text(const char *path, size_t max, size_t *len, char *err, size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (buf && n <= max && (r = read(fd, buf + n, max + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!buf || r < 0) {
        snprintf(err, errsize, "%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        return NULL;
    }
    if (n > max) {
        snprintf(err, errsize, "%s: larger than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
