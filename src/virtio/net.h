/* virtio-net (virtio 1.x 5.1) on a Linux tap device: one receive and one
 * transmit queue, the MAC and link status in config space, mergeable receive
 * buffers, and checksum/TSO offloads passed through the tap's virtio-net
 * header (IFF_VNET_HDR) when the guest negotiates them. ember opens an
 * existing tap by name, or creates it when it may (CAP_NET_ADMIN). */
#ifndef EMBER_VIRTIO_NET_H
#define EMBER_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/device.h"

struct virtio_net_config {
    const char *tap;       /* interface name */
    uint8_t mac[6];
    bool mac_set;          /* else a locally administered one is made up */
    struct rate_limiter_config rx_limiter, tx_limiter; /* all zero: unlimited */
};

/* Parses "aa:bb:cc:dd:ee:ff"; -1 for anything else or a multicast address. */
int net_parse_mac(const char *s, uint8_t mac[6]);
/* The same, any six bytes (the API's guest_mac, as Firecracker takes it). */
int net_parse_mac_bytes(const char *s, uint8_t mac[6]);

/* Sets or changes the receive and transmit rate limits (Firecracker's
 * rx_rate_limiter and tx_rate_limiter; NULL leaves one as it is). The
 * device starts unlimited. */
void virtio_net_set_rate_limiters(struct virtio_device *dev, const struct rate_limiter_config *rx,
                                  const struct rate_limiter_config *tx);

/* Opens the tap; one stderr line naming it on failure. */
struct virtio_device *virtio_net_create(const struct guest_memory *mem, const char *name,
                                        const struct virtio_net_config *cfg);
/* The same on an open file descriptor that behaves as a tap with a vnet
 * header (one read or write per packet, non-blocking: one end of a
 * SOCK_DGRAM socketpair), which the device takes over; cfg->tap is unused.
 * For tests and fuzz harnesses, where no tap can be made. */
struct virtio_device *virtio_net_create_on_fd(const struct guest_memory *mem, const char *name,
                                              const struct virtio_net_config *cfg, int fd);

/* The 12-byte header in front of every packet (virtio_net_hdr_v1). */
#define NET_HDR_LEN 12
#define NET_MAX_PACKET (65535 + 14 + 4) /* the largest GSO frame plus Ethernet and VLAN headers */

/* A transmit chain checked and turned into iovecs for the tap (header
 * included). Shared with the fuzz harness. */
#define NET_TX_MAX_IOV 64
struct net_tx_packet {
    int niov;
    uint64_t len; /* header + frame */
    struct iovec iov[NET_TX_MAX_IOV];
};
/* 0 with *pkt filled; -1 if the chain is not a packet ember sends (too
 * short, too long, too fragmented): the device drops it. */
int net_parse_tx(const struct virtq_chain *c, struct net_tx_packet *pkt);

#endif
