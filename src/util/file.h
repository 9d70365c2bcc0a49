#ifndef EMBER_UTIL_FILE_H
#define EMBER_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* A whole file read into memory. `what` names the file's role ("kernel",
 * "initrd") in error messages. Returns 0, or -1 after logging one clear line. */
struct file_blob {
    uint8_t *data;
    size_t size;
};

int file_read_all(const char *what, const char *path, size_t max_size, struct file_blob *out);
void file_blob_free(struct file_blob *blob);

/* For callers that report errors elsewhere than stderr (the API): the reason
 * goes to err (errsize bytes) instead of the log. */
/* 0 when path is a regular file or block device that can be opened for reading. */
int file_check_readable(const char *path, const char *what, char *err, size_t errsize);
/* A text file of at most max bytes, NUL-terminated; NULL on failure. */
char *file_read_text(const char *path, size_t max, size_t *len, char *err, size_t errsize);

#endif
