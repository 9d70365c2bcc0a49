/* virtio-blk (virtio 1.x 5.2) on a raw image file or block device: read,
 * write, flush (fdatasync), get-id, discard and write-zeroes, read-only
 * disks, with an io_uring back-end or synchronous I/O on the device's
 * thread (chosen per disk; synchronous where io_uring is unavailable). A writable image is locked with an OFD
 * write lock, a read-only one with a read lock, so two VMs cannot write one
 * image, nor one read an image another writes. */
#ifndef EMBER_VIRTIO_BLK_H
#define EMBER_VIRTIO_BLK_H

#include <stdbool.h>

#include "virtio/device.h"

/* How requests reach the image (Firecracker's drive io_engine). */
enum blk_io_engine {
    BLK_IO_AUTO,  /* io_uring where the host has it, else synchronous (the CLI's default) */
    BLK_IO_SYNC,  /* preadv/pwritev/fdatasync on the device thread (Firecracker's "Sync", its default) */
    BLK_IO_ASYNC, /* io_uring, or the disk is refused (Firecracker's "Async") */
};

struct virtio_blk_config {
    const char *path;
    bool read_only;
    enum blk_io_engine io_engine;
    const char *serial; /* GET_ID: up to 20 bytes, NULL for none */
    struct rate_limiter_config limiter; /* all zero: unlimited */
};

/* Opens and locks the image; one stderr line naming the path on failure. */
struct virtio_device *virtio_blk_create(const struct guest_memory *mem, const char *name,
                                        const struct virtio_blk_config *cfg);

/* Moves a running disk to another image (the API's PATCH /drives after boot),
 * or re-reads the size of the same one. Requests in flight finish first; the
 * guest gets a configuration interrupt for the new capacity. 0, or -1 after
 * one line naming the path (the disk then stays on its old image). */
int virtio_blk_replace_image(struct virtio_device *dev, const char *path);

/* Sets or changes the rate limit (Firecracker's drive rate_limiter); the
 * device starts unlimited. */
void virtio_blk_set_rate_limiter(struct virtio_device *dev, const struct rate_limiter_config *cfg);

/* Request parsing, shared with the fuzz harness and unit tests. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

struct blk_request {
    uint32_t type;
    uint64_t sector;
    uint64_t data_len;   /* bytes of data (not header or status) */
    uint64_t offset;     /* byte offset in the image */
    uint8_t *status;     /* where the status byte goes */
};

/* Checks a chain as a block request against a disk of `capacity` sectors.
 * Returns VIRTIO_BLK_S_OK with *req filled, or the status to answer; -1 if
 * the chain has no room even for a status byte (the device must reset). */
int blk_parse_request(const struct virtq_chain *c, uint64_t capacity, bool read_only, struct blk_request *req);

#endif
