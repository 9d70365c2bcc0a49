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

#endif
