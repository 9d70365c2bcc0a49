/* virtio-vsock (virtio 1.2, 5.10) with Firecracker's host side: the device's
 * stream connections are Unix-socket connections on the host.
 *   - A host program connects to `uds_path` and writes "CONNECT <port>\n";
 *     ember opens a connection to that port in the guest and answers
 *     "OK <host_port>\n" once the guest accepts (or closes the Unix
 *     connection if nothing listens there).
 *   - A guest connection to the host's port P becomes a connection from
 *     ember to the Unix socket `<uds_path>_<P>` (refused when nothing
 *     listens there).
 * Then bytes flow both ways, with virtio-vsock's credit-based flow control:
 * ember holds at most VSOCK_CONN_BUF bytes of a connection's guest data that
 * its host peer has not read yet (the credit it grants), and reads from the
 * host peer only what the guest has room for. (Firecracker's docs/vsock.md.) */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/device.h"

struct virtio_vsock_config {
    uint32_t guest_cid;   /* 3 or more */
    const char *uds_path; /* the host side's listening socket */
};

/* Binds uds_path (a stale socket there is replaced; anything else there
 * is refused); one line naming the path on failure. */
struct virtio_device *virtio_vsock_create(const struct guest_memory *mem, const char *name,
                                          const struct virtio_vsock_config *cfg);

/* The packet header (struct virtio_vsock_hdr, little-endian, 44 bytes). */
#define VSOCK_HDR_LEN 44
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
enum vsock_op {
    VSOCK_OP_INVALID,
    VSOCK_OP_REQUEST,
    VSOCK_OP_RESPONSE,
    VSOCK_OP_RST,
    VSOCK_OP_SHUTDOWN,
    VSOCK_OP_RW,
    VSOCK_OP_CREDIT_UPDATE,
    VSOCK_OP_CREDIT_REQUEST,
};
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

/* Limits. A guest may keep VSOCK_MAX_CONNS connections at once; each holds
 * at most VSOCK_CONN_BUF bytes its host peer has not taken yet (allocated
 * only when the peer is slower than the guest: at worst 256 MiB, for a
 * guest whose every connection reaches a host program that never reads;
 * Firecracker's bound is the same). */
#define VSOCK_MAX_CONNS 1024
#define VSOCK_CONN_BUF (256 * 1024)
#define VSOCK_MAX_PAYLOAD (64 * 1024) /* one packet's data, as Linux sends at most */

struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

/* A transmit chain's header, checked: 0 with *h filled, or -1 if the chain
 * is not a packet (too short for the header, or `len` more than the chain
 * holds after it or more than VSOCK_MAX_PAYLOAD). Shared with the fuzz
 * harness. */
int vsock_parse_packet(const struct virtq_chain *c, struct vsock_hdr *h);
void vsock_encode_hdr(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN]);

#endif
