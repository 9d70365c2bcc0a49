#include "virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

enum { RXQ = 0, TXQ = 1 };

/* Feature bits (5.1.3). */
#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_HOST_TSO4 11
#define F_HOST_TSO6 12
#define F_MRG_RXBUF 15
#define F_STATUS 16
#define BIT(n) (1ULL << (n))

#define STATUS_LINK_UP 1

struct virtio_net {
    struct virtio_device dev;
    int tap_fd;
    char ifname[IFNAMSIZ];
    bool rx_polling;                 /* the tap fd is watched for input */
    bool mrg;                        /* VIRTIO_NET_F_MRG_RXBUF negotiated */
    uint8_t *rx_buf;                 /* one packet from the tap: header + frame */
    size_t rx_pending;               /* bytes of it not yet given to the guest */
    struct virtq_chain first, chain; /* receive: the packet's first chain, the others */
    struct net_tx_packet tx;
    struct rate_limiter rx_limiter, tx_limiter; /* frames and their bytes, each way */
    bool rx_charged;                 /* the pending packet has passed rx_limiter */
};

int net_parse_mac_bytes(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

int net_parse_mac(const char *s, uint8_t mac[6])
{
    if (net_parse_mac_bytes(s, mac) < 0)
        return -1;
    return (mac[0] & 1) ? -1 : 0; /* a multicast address cannot be a NIC's */
}

int net_parse_tx(const struct virtq_chain *c, struct net_tx_packet *pkt)
{
    pkt->niov = 0;
    pkt->len = c->readable_len;
    if (c->readable_len < NET_HDR_LEN || c->readable_len > NET_HDR_LEN + NET_MAX_PACKET)
        return -1;
    for (uint16_t i = 0; i < c->nreadable; i++) {
        if (c->seg[i].len == 0)
            continue;
        if (pkt->niov == NET_TX_MAX_IOV)
            return -1;
        pkt->iov[pkt->niov++] = (struct iovec){.iov_base = c->seg[i].host, .iov_len = c->seg[i].len};
    }
    return 0;
}

/* --- receive: tap -> guest --------------------------------------------------- */

static void set_rx_polling(struct virtio_net *net, bool on)
{
    if (net->rx_polling == on)
        return;
    net->rx_polling = on;
    event_loop_modify(&net->dev.loop, net->tap_fd, on ? EPOLLIN : 0);
}

enum rx_result {
    RX_DELIVERED, /* or dropped for good */
    RX_NO_BUFFERS,
    RX_TOO_FEW_BUFFERS, /* mergeable: some, but not enough for this packet */
};

/* Copies the pending packet into receive chains. */
static enum rx_result deliver(struct virtio_net *net)
{
    struct virtio_device *dev = &net->dev;
    struct virtq *vq = &dev->vq[RXQ];
    size_t len = net->rx_pending, off = 0;
    uint16_t popped = 0;
    while (off < len) {
        struct virtq_chain *c = popped == 0 ? &net->first : &net->chain;
        int r = virtio_pop(dev, RXQ, c);
        if (r < 0)
            return RX_DELIVERED; /* the device is broken; the packet is gone */
        if (r == 0) {
            virtq_unpop(vq, popped); /* wait for more buffers; nothing was published */
            vq->used_idx = (uint16_t)(vq->used_idx - popped);
            if (popped >= vq->num) {
                /* The whole ring is too small for it: it can never fit. */
                dev->stats.in_dropped++;
                return RX_DELIVERED;
            }
            return popped ? RX_TOO_FEW_BUFFERS : RX_NO_BUFFERS;
        }
        popped++;
        size_t room = c->writable_len;
        if (popped == 1 && (room < NET_HDR_LEN || (!net->mrg && room < len))) {
            /* Without mergeable buffers one chain must take the whole packet. */
            virtq_add_used(vq, c->head, c->generation, 0);
            virtq_publish_used(vq);
            dev->stats.in_dropped++;
            return RX_DELIVERED;
        }
        size_t n = room < len - off ? room : len - off;
        virtq_chain_write(c, 0, net->rx_buf + off, n);
        virtq_add_used(vq, c->head, c->generation, (uint32_t)n);
        off += n;
    }
    uint16_t nbuf = popped; /* num_buffers: the chains the packet took */
    virtq_chain_write(&net->first, 10, &nbuf, sizeof(nbuf));
    virtq_publish_used(vq);
    dev->stats.in_count++;
    dev->stats.in_bytes += len - NET_HDR_LEN;
    return RX_DELIVERED;
}

/* Lock held: moves packets from the tap to the guest while it has buffers. */
static void receive(struct virtio_net *net)
{
    struct virtio_device *dev = &net->dev;
    if (!dev->active || dev->broken || !dev->vq[RXQ].enabled)
        return;
    /* A batch of packets per call: the tap is level-triggered, so the I/O
     * thread comes back for the rest after its other work. */
    for (unsigned packets = 0; packets < VIRTIO_BATCH; packets++) {
        if (!net->rx_pending) {
            ssize_t n = read(net->tap_fd, net->rx_buf, NET_HDR_LEN + NET_MAX_PACKET);
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    log_warn("%s: reading tap %s: %s", dev->name, net->ifname, strerror(errno));
                break;
            }
            if (n < NET_HDR_LEN)
                continue;
            net->rx_pending = (size_t)n;
            net->rx_charged = false;
        }
        if (!net->rx_charged) {
            /* Throttled: the packet waits here, and the tap is not read
             * (the kernel queues, then drops, as a full NIC would). */
            if (!virtio_rate_limit(dev, RXQ, &net->rx_limiter, net->rx_pending - NET_HDR_LEN, true, 0)) {
                set_rx_polling(net, false);
                break;
            }
            net->rx_charged = true;
        }
        enum rx_result r = deliver(net);
        if (r == RX_DELIVERED) {
            net->rx_pending = 0;
            continue;
        }
        /* Not enough buffers: stop watching the tap until the guest posts
         * more. Too few is not none: the notification must be for buffers
         * beyond those there, or the device would retry the same ones in a
         * loop (holding the lock, and the interrupt for the packets already
         * delivered, that would make the guest refill). */
        set_rx_polling(net, false);
        if (!(r == RX_NO_BUFFERS ? virtq_arm_notify(&dev->vq[RXQ]) : virtq_arm_notify_more(&dev->vq[RXQ])))
            break;
    }
    virtio_flush_interrupt(dev, RXQ);
}

static void on_tap(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_net *net = ctx;
    pthread_mutex_lock(&net->dev.lock);
    receive(net);
    pthread_mutex_unlock(&net->dev.lock);
}

/* --- transmit: guest -> tap ----------------------------------------------------- */

static void transmit(struct virtio_net *net)
{
    struct virtio_device *dev = &net->dev;
    bool throttled = false;
    struct virtio_batch batch = {0};
    do {
        virtq_suppress_notify(&dev->vq[TXQ]);
        while (!dev->broken && virtio_batch_next(dev, TXQ, &batch) && virtio_pop(dev, TXQ, &net->chain) == 1) {
            if (net_parse_tx(&net->chain, &net->tx) < 0) {
                dev->stats.out_dropped++;
            } else if (!virtio_rate_limit(dev, TXQ, &net->tx_limiter, net->tx.len - NET_HDR_LEN, false, 1)) {
                throttled = true; /* the frame went back to the ring; the timer resumes */
                break;
            } else {
                ssize_t n;
                do
                    n = writev(net->tap_fd, net->tx.iov, net->tx.niov);
                while (n < 0 && errno == EINTR);
                if (n < 0) {
                    dev->stats.out_dropped++; /* the tap is down or its queue full: a lost packet, as on a wire */
                } else {
                    dev->stats.out_count++;
                    dev->stats.out_bytes += net->tx.len - NET_HDR_LEN;
                }
            }
            virtio_push(dev, TXQ, net->chain.head, net->chain.generation, 0);
        }
        virtio_flush_interrupt(dev, TXQ);
    } while (!throttled && !batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[TXQ]));
}

static void net_kick(struct virtio_device *dev, int q)
{
    struct virtio_net *net = dev->impl;
    if (q == TXQ) {
        transmit(net);
    } else if (q == RXQ) { /* new receive buffers */
        set_rx_polling(net, true);
        receive(net);
    }
}

static int net_activate(struct virtio_device *dev)
{
    struct virtio_net *net = dev->impl;
    uint64_t f = dev->guest_features;
    net->mrg = f & BIT(F_MRG_RXBUF);
    /* What the tap may hand us is what the guest said it can take. */
    unsigned off = 0;
    if (f & BIT(F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (f & BIT(F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (f & BIT(F_GUEST_TSO6))
            off |= TUN_F_TSO6;
    }
    if (ioctl(net->tap_fd, TUNSETOFFLOAD, off) < 0)
        log_debug("%s: TUNSETOFFLOAD 0x%x failed: %s", dev->name, off, strerror(errno));
    set_rx_polling(net, true);
    return 0;
}

static void net_reset(struct virtio_device *dev)
{
    struct virtio_net *net = dev->impl;
    net->rx_pending = 0;
    if (net->tap_fd >= 0)
        set_rx_polling(net, false);
}

static void net_destroy(struct virtio_device *dev)
{
    struct virtio_net *net = dev->impl;
    if (net->tap_fd >= 0)
        close(net->tap_fd);
    free(net->rx_buf);
    free(net);
}

void virtio_net_set_rate_limiters(struct virtio_device *dev, const struct rate_limiter_config *rx,
                                  const struct rate_limiter_config *tx)
{
    struct virtio_net *net = dev->impl;
    if (rx)
        virtio_update_rate_limiter(dev, &net->rx_limiter, rx);
    if (tx)
        virtio_update_rate_limiter(dev, &net->tx_limiter, tx);
}

static const struct virtio_device_ops net_ops = {
    .kind = "net", .device_id = VIRTIO_ID_NET, .activate = net_activate, .reset = net_reset,
    .queue_kick = net_kick, .destroy = net_destroy,
};

/* --- creation ----------------------------------------------------------------------- */

static int open_tap(struct virtio_net *net, const char *name)
{
    if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ) {
        log_error("--net tap=%s: an interface name has 1 to %d characters", name, IFNAMSIZ - 1);
        return -1;
    }
    bool existed = if_nametoindex(name) != 0;
    net->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (net->tap_fd < 0) {
        log_error("--net tap=%s: cannot open /dev/net/tun: %s", name, strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, strlen(name));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(net->tap_fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        if (e == EBUSY)
            log_error("--net tap=%s: busy: another process has it open", name);
        else if (e == EPERM && existed)
            log_error("--net tap=%s: permission denied: the tap belongs to another user (or it is not a tap)", name);
        else if (e == EPERM)
            log_error("--net tap=%s: no such tap, and creating one needs CAP_NET_ADMIN", name);
        else if (e == EINVAL)
            log_error("--net tap=%s: exists but is not a tap device", name);
        else
            log_error("--net tap=%s: TUNSETIFF failed: %s", name, strerror(e));
        return -1;
    }
    int hdr = NET_HDR_LEN;
    if (ioctl(net->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        log_error("--net tap=%s: cannot set the virtio-net header size: %s", name, strerror(errno));
        return -1;
    }
    snprintf(net->ifname, sizeof(net->ifname), "%s", name);
    if (!existed)
        log_info("--net tap=%s: created the tap; it goes away when ember exits", name);
    return 0;
}

/* The device on cfg->tap, or on `tap_fd` if that is not -1 (taken over). */
static struct virtio_device *create(const struct guest_memory *mem, const char *name,
                                    const struct virtio_net_config *cfg, int tap_fd)
{
    struct virtio_net *net = calloc(1, sizeof(*net));
    if (!net) {
        log_error("%s: out of memory", name);
        if (tap_fd >= 0)
            close(tap_fd);
        return NULL;
    }
    net->tap_fd = tap_fd;
    if (virtio_device_init(&net->dev, &net_ops, net, name, mem, 2, VIRTQ_MAX_SIZE) < 0)
        goto fail;
    rate_limiter_init(&net->rx_limiter, &cfg->rx_limiter, clock_monotonic_ns());
    rate_limiter_init(&net->tx_limiter, &cfg->tx_limiter, clock_monotonic_ns());
    net->rx_buf = malloc(NET_HDR_LEN + NET_MAX_PACKET);
    if (!net->rx_buf) {
        log_error("%s: out of memory", name);
        goto fail;
    }
    if (tap_fd >= 0)
        snprintf(net->ifname, sizeof(net->ifname), "fd %d", tap_fd);
    else if (open_tap(net, cfg->tap) < 0)
        goto fail;
    /* The tap is watched only while the guest has receive buffers. */
    if (event_loop_add(&net->dev.loop, net->tap_fd, 0, on_tap, net) < 0)
        goto fail;
    struct virtio_device *dev = &net->dev;
    dev->host_features |= BIT(F_CSUM) | BIT(F_GUEST_CSUM) | BIT(F_MAC) | BIT(F_GUEST_TSO4) | BIT(F_GUEST_TSO6) |
                          BIT(F_HOST_TSO4) | BIT(F_HOST_TSO6) | BIT(F_MRG_RXBUF) | BIT(F_STATUS);
    uint8_t mac[6];
    if (cfg->mac_set) {
        memcpy(mac, cfg->mac, 6);
    } else { /* locally administered, unicast */
        if (getrandom(mac, sizeof(mac), 0) != sizeof(mac))
            memset(mac, 0x5a, sizeof(mac));
        mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
    }
    memcpy(dev->config, mac, 6);
    uint16_t status = STATUS_LINK_UP;
    memcpy(dev->config + 6, &status, 2);
    dev->config_len = 8;
    return dev;
fail:
    virtio_device_destroy(&net->dev); /* frees net */
    return NULL;
}

struct virtio_device *virtio_net_create(const struct guest_memory *mem, const char *name,
                                        const struct virtio_net_config *cfg)
{
    return create(mem, name, cfg, -1);
}

struct virtio_device *virtio_net_create_on_fd(const struct guest_memory *mem, const char *name,
                                              const struct virtio_net_config *cfg, int fd)
{
    return create(mem, name, cfg, fd);
}
