/* virtio-vsock over host Unix sockets, as Firecracker's (see vsock.h).
 *
 * Everything runs on the device's I/O thread, under the device lock: the
 * transmit queue (the guest's packets), the receive queue (packets for the
 * guest), the event queue (TRANSPORT_RESET at start), and one epoll set of
 * its own (the "muxer") holding the listening socket and every connection's
 * Unix socket, itself watched by the device's event loop. Each socket is
 * armed one-shot and re-armed only when ember can act on it, so a peer that
 * floods or hangs up cannot make the thread spin, and nothing waits: every
 * socket is non-blocking.
 *
 * What a hostile guest can make ember hold is bounded: VSOCK_MAX_CONNS
 * connections, each with at most VSOCK_CONN_BUF bytes of its data buffered
 * (the credit ember grants; a guest that sends past it loses the
 * connection), a bounded queue of resets for packets to no connection
 * (dropped when full), and at most VIRTIO_BATCH packets per queue per
 * wake-up. */
#include "virtio/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

enum { RXQ, TXQ, EVQ, NUM_QUEUES };

#define HASH_SIZE (2 * VSOCK_MAX_CONNS) /* a power of two */
#define ORPHAN_RSTS 64                  /* resets owed for packets to no connection */
#define LINE_MAX_LEN 32                 /* "CONNECT 4294967295\n" fits */
#define HOST_PORT_FIRST (1u << 30)      /* ports of host-initiated connections, as Firecracker's */
#define CONNECT_TIMEOUT_NS (2000ULL * 1000 * 1000) /* for the CONNECT line, and for the guest's answer */
#define DRAIN_TIMEOUT_NS (5000ULL * 1000 * 1000)   /* for a closing connection's last bytes */
#define TICK_MS 250
#define MUX_EVENTS 64

enum conn_state {
    CONN_FREE,
    CONN_HOST_LINE,    /* a host client connected; its "CONNECT <port>\n" is coming */
    CONN_HOST_REQUEST, /* REQUEST sent to the guest; its RESPONSE or RST is awaited */
    CONN_OPEN,
    CONN_DOOMED,       /* a reset goes to the guest, then the connection is freed */
};

/* Control packets a connection owes the guest, sent in this order. */
enum { P_REQUEST = 1, P_RESPONSE = 2, P_SHUTDOWN = 4, P_CREDIT_UPDATE = 8, P_CREDIT_REQUEST = 16 };

struct vsock_conn {
    enum conn_state state;
    int fd;                        /* the Unix socket; -1 once closed */
    uint32_t local_port, peer_port;/* the host's port and the guest's */
    bool keyed;                    /* in the hash table */
    bool in_rx;                    /* in the receive list (a freed slot stays there until it is passed) */
    bool want_read;                /* its socket had data, EOF or an error for the guest */
    uint32_t armed;                /* the events its socket is armed for (0: disarmed) */
    uint8_t pending;
    uint32_t shutdown_flags;       /* the flags of the SHUTDOWN owed */
    /* Flow control. fwd_cnt: guest bytes handed to the socket; tx_cnt: bytes
     * sent to the guest; the guest's buffer and its count of bytes taken. */
    uint32_t fwd_cnt, fwd_cnt_told, tx_cnt;
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    bool credit_requested;
    bool peer_shut_send, peer_shut_rcv, host_eof, shut_wr_done;
    uint8_t *buf;                  /* guest bytes the socket did not take yet (VSOCK_CONN_BUF) */
    uint32_t buf_off, buf_len;
    char line[LINE_MAX_LEN];
    uint32_t line_len;
    uint64_t deadline_ns;          /* 0: none */
};

struct virtio_vsock {
    struct virtio_device dev;
    uint64_t guest_cid;
    char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd, mux_fd, timer_fd;
    bool listening;                /* the listener is armed (the driver is up) */
    struct vsock_conn *conns;      /* VSOCK_MAX_CONNS */
    int nconns;                    /* in use (not CONN_FREE) */
    int32_t hash[HASH_SIZE];       /* conn index, -1 empty */
    uint16_t rx_list[VSOCK_MAX_CONNS];
    uint32_t rx_head, rx_count;
    struct { uint32_t src_port, dst_port; } orphans[ORPHAN_RSTS];
    uint32_t orphan_head, orphan_count;
    uint32_t next_host_port;
    bool event_pending;            /* TRANSPORT_RESET owed */
    bool ticking;
    struct virtq_chain chain;
    struct log_ratelimit log_guest;
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* --- packets ------------------------------------------------------------------------ */

int vsock_parse_packet(const struct virtq_chain *c, struct vsock_hdr *h)
{
    uint8_t b[VSOCK_HDR_LEN];
    if (c->readable_len < VSOCK_HDR_LEN || virtq_chain_read(c, 0, b, sizeof(b)) != sizeof(b))
        return -1;
    *h = (struct vsock_hdr){.src_cid = get64(b), .dst_cid = get64(b + 8), .src_port = get32(b + 16),
                            .dst_port = get32(b + 20), .len = get32(b + 24), .type = get16(b + 28),
                            .op = get16(b + 30), .flags = get32(b + 32), .buf_alloc = get32(b + 36),
                            .fwd_cnt = get32(b + 40)};
    if (h->len > VSOCK_MAX_PAYLOAD || h->len > c->readable_len - VSOCK_HDR_LEN)
        return -1;
    return 0;
}

void vsock_encode_hdr(const struct vsock_hdr *h, uint8_t b[VSOCK_HDR_LEN])
{
    put64(b, h->src_cid), put64(b + 8, h->dst_cid), put32(b + 16, h->src_port), put32(b + 20, h->dst_port);
    put32(b + 24, h->len), put16(b + 28, h->type), put16(b + 30, h->op), put32(b + 32, h->flags);
    put32(b + 36, h->buf_alloc), put32(b + 40, h->fwd_cnt);
}

/* --- the connection table ------------------------------------------------------------- */

static uint32_t hash_of(uint32_t local, uint32_t peer)
{
    uint64_t k = ((uint64_t)local << 32 | peer) * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(k >> 40) & (HASH_SIZE - 1);
}

static struct vsock_conn *find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
    for (uint32_t i = hash_of(local, peer), n = 0; n < HASH_SIZE; i = (i + 1) & (HASH_SIZE - 1), n++) {
        int32_t k = v->hash[i];
        if (k < 0)
            return NULL;
        struct vsock_conn *c = &v->conns[k];
        if (c->local_port == local && c->peer_port == peer)
            return c;
    }
    return NULL;
}

static void key(struct virtio_vsock *v, struct vsock_conn *c)
{
    uint32_t i = hash_of(c->local_port, c->peer_port);
    while (v->hash[i] >= 0)
        i = (i + 1) & (HASH_SIZE - 1); /* there is room: at most half the slots are used */
    v->hash[i] = (int32_t)(c - v->conns);
    c->keyed = true;
}

/* Linear probing's deletion: the entries after the hole that hash at or
 * before it move up, so that no lookup stops at the hole too early. */
static void unkey(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (!c->keyed)
        return;
    c->keyed = false;
    uint32_t i = hash_of(c->local_port, c->peer_port);
    while (v->hash[i] != (int32_t)(c - v->conns))
        i = (i + 1) & (HASH_SIZE - 1);
    v->hash[i] = -1;
    for (uint32_t j = (i + 1) & (HASH_SIZE - 1); v->hash[j] >= 0; j = (j + 1) & (HASH_SIZE - 1)) {
        struct vsock_conn *o = &v->conns[v->hash[j]];
        uint32_t home = hash_of(o->local_port, o->peer_port);
        /* Does home lie cyclically in (i, j]? Then it stays. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            v->hash[i] = v->hash[j];
            v->hash[j] = -1;
            i = j;
        }
    }
}

static struct vsock_conn *conn_new(struct virtio_vsock *v, int fd)
{
    if (v->nconns >= VSOCK_MAX_CONNS)
        return NULL;
    for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vsock_conn *c = &v->conns[i];
        if (c->state != CONN_FREE || c->in_rx)
            continue;
        uint8_t *buf = c->buf; /* kept for reuse */
        *c = (struct vsock_conn){.fd = fd, .buf = buf};
        v->nconns++;
        return c;
    }
    return NULL;
}

/* Arms the connection's socket for what ember can act on now. */
static void conn_interest(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->fd < 0)
        return;
    uint32_t want = 0;
    if (c->state == CONN_HOST_LINE)
        want = EPOLLIN;
    else if (c->state == CONN_OPEN) {
        uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
        bool credit = in_flight < c->peer_buf_alloc;
        if (!c->want_read && !c->host_eof && !c->peer_shut_rcv && credit)
            want |= EPOLLIN;
        if (c->buf_len)
            want |= EPOLLOUT;
    }
    if (want == c->armed)
        return;
    struct epoll_event ev = {.events = want | EPOLLONESHOT, .data.u64 = (uint64_t)(c - v->conns) + 1};
    /* Disarmed sockets get a last one-shot of nothing: HUP alone then fires once. */
    if (epoll_ctl(v->mux_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->armed = want;
}

static void rx_enqueue(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->in_rx)
        return;
    c->in_rx = true;
    v->rx_list[(v->rx_head + v->rx_count) % VSOCK_MAX_CONNS] = (uint16_t)(c - v->conns);
    v->rx_count++; /* each slot is in the list at most once: it never overflows */
}

static void conn_close_fd(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(v->mux_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->armed = 0;
}

static void conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
    conn_close_fd(v, c);
    unkey(v, c);
    c->state = CONN_FREE;
    c->pending = 0;
    c->buf_len = c->buf_off = 0;
    v->nconns--;
}

/* The connection ends: the guest gets a reset (if it knows the connection)
 * and the host side is closed now. */
static void conn_reset(struct virtio_vsock *v, struct vsock_conn *c)
{
    conn_close_fd(v, c);
    if (c->state == CONN_HOST_LINE) { /* the guest never heard of it */
        conn_free(v, c);
        return;
    }
    c->state = CONN_DOOMED;
    c->pending = 0;
    c->buf_len = 0;
    rx_enqueue(v, c);
}

static void orphan_rst(struct virtio_vsock *v, const struct vsock_hdr *h)
{
    if (h->op == VSOCK_OP_RST)
        return; /* never answer a reset with one */
    if (v->orphan_count == ORPHAN_RSTS) {
        v->dev.stats.out_dropped++;
        return;
    }
    v->orphans[(v->orphan_head + v->orphan_count++) % ORPHAN_RSTS].src_port = h->dst_port;
    v->orphans[(v->orphan_head + v->orphan_count - 1) % ORPHAN_RSTS].dst_port = h->src_port;
}

static void set_deadline(struct virtio_vsock *v, struct vsock_conn *c, uint64_t ns)
{
    c->deadline_ns = ns ? clock_monotonic_ns() + ns : 0;
    if (ns && !v->ticking) {
        struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L}, .it_value = {0, TICK_MS * 1000000L}};
        v->ticking = timerfd_settime(v->timer_fd, 0, &its, NULL) == 0;
    }
}

/* --- guest data to the host ------------------------------------------------------------ */

/* iovecs over segments [first, end) of a chain, from `skip` bytes in, for
 * at most `want` bytes and 64 pieces: how many. */
static int chain_iov(const struct virtq_chain *ch, uint16_t first, uint16_t end, uint64_t skip, uint64_t want,
                     struct iovec iov[64])
{
    int n = 0;
    for (uint16_t i = first; i < end && n < 64 && want; i++) {
        if (skip >= ch->seg[i].len) {
            skip -= ch->seg[i].len;
            continue;
        }
        size_t l = ch->seg[i].len - skip < want ? ch->seg[i].len - skip : want;
        iov[n++] = (struct iovec){.iov_base = (uint8_t *)ch->seg[i].host + skip, .iov_len = l};
        want -= l;
        skip = 0;
    }
    return n;
}

/* Is a connection finished both ways? Then it ends with a reset (virtio's
 * clean close: SHUTDOWN, then RST from the peer). */
static void conn_check_done(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->state != CONN_OPEN || c->buf_len)
        return;
    if (c->peer_shut_send && !c->shut_wr_done) {
        shutdown(c->fd, SHUT_WR); /* the host peer reads EOF */
        c->shut_wr_done = true;
    }
    if (c->peer_shut_send && (c->peer_shut_rcv || c->host_eof))
        conn_reset(v, c);
}

static void credit_told(struct virtio_vsock *v, struct vsock_conn *c)
{
    /* Tell the guest about freed room before it runs out: once the room it
     * believes it has (what ember granted, less what it sent since ember's
     * last word) is less than one packet. A guest that waits for room for a
     * whole packet then never waits for ever. */
    uint32_t unacked = c->fwd_cnt - c->fwd_cnt_told + c->buf_len;
    if (c->fwd_cnt != c->fwd_cnt_told && unacked > VSOCK_CONN_BUF - VSOCK_MAX_PAYLOAD) {
        c->pending |= P_CREDIT_UPDATE;
        rx_enqueue(v, c);
    }
}

/* Writes what the socket takes; -1 if the host peer is gone. */
static int flush_buf(struct virtio_vsock *v, struct vsock_conn *c)
{
    int r = 0;
    while (c->buf_len) {
        ssize_t n = send(c->fd, c->buf + c->buf_off, c->buf_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            r = errno == EAGAIN || errno == EINTR ? 0 : -1;
            break;
        }
        c->buf_off += (uint32_t)n;
        c->buf_len -= (uint32_t)n;
        c->fwd_cnt += (uint32_t)n;
        v->dev.stats.out_bytes += (uint64_t)n;
    }
    if (!c->buf_len)
        c->buf_off = 0;
    if (r == 0)
        credit_told(v, c);
    return r;
}

/* An RW packet's payload: straight into the socket if nothing waits before
 * it, the rest into the connection's buffer. */
static void guest_data(struct virtio_vsock *v, struct vsock_conn *c, const struct virtq_chain *ch, uint32_t len)
{
    if (c->peer_shut_send || len > VSOCK_CONN_BUF - c->buf_len) {
        /* Data after its own SHUTDOWN, or past the credit ember granted. */
        log_warn_ratelimited(&v->log_guest, "%s: the guest sent %u bytes past its credit (or after shutdown) on "
                             "port %u: connection reset", v->dev.name, len, c->local_port);
        conn_reset(v, c);
        return;
    }
    if (!c->buf) {
        c->buf = malloc(VSOCK_CONN_BUF);
        if (!c->buf) {
            conn_reset(v, c);
            return;
        }
    }
    uint32_t off = VSOCK_HDR_LEN, done = 0;
    if (!c->buf_len) {
        struct iovec iov[64];
        int n = chain_iov(ch, 0, ch->nreadable, off, len, iov);
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_reset(v, c);
            return;
        }
        if (w > 0) {
            done = (uint32_t)w;
            c->fwd_cnt += done;
            v->dev.stats.out_bytes += done;
        }
    }
    if (done < len) { /* the rest waits in the buffer (it fits: checked above) */
        if (c->buf_off + c->buf_len + (len - done) > VSOCK_CONN_BUF) {
            memmove(c->buf, c->buf + c->buf_off, c->buf_len);
            c->buf_off = 0;
        }
        virtq_chain_read(ch, off + done, c->buf + c->buf_off + c->buf_len, len - done);
        c->buf_len += len - done;
    }
    credit_told(v, c);
}

/* --- connections the guest opens ---------------------------------------------------------- */

static int connect_host_port(struct virtio_vsock *v, uint32_t port)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", v->uds_path, port) >= sizeof(a.sun_path))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A Unix connect is done at once: refused, or a full backlog (EAGAIN),
     * count as nobody listening. */
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int mux_add(struct virtio_vsock *v, struct vsock_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.u64 = (uint64_t)(c - v->conns) + 1};
    if (epoll_ctl(v->mux_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -1;
    c->armed = events;
    return 0;
}

static void guest_request(struct virtio_vsock *v, const struct vsock_hdr *h)
{
    int fd = connect_host_port(v, h->dst_port);
    struct vsock_conn *c = fd >= 0 ? conn_new(v, fd) : NULL;
    if (!c) {
        if (fd >= 0)
            close(fd);
        orphan_rst(v, h);
        return;
    }
    c->state = CONN_OPEN;
    c->local_port = h->dst_port;
    c->peer_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    if (mux_add(v, c, 0) < 0) {
        conn_free(v, c);
        orphan_rst(v, h);
        return;
    }
    key(v, c);
    c->pending |= P_RESPONSE;
    rx_enqueue(v, c);
    conn_interest(v, c);
}

/* --- the transmit queue: the guest's packets ------------------------------------------------ */

static void guest_packet(struct virtio_vsock *v, const struct virtq_chain *ch, const struct vsock_hdr *h)
{
    if (h->src_cid != v->guest_cid || h->dst_cid != VSOCK_HOST_CID || h->type != VSOCK_TYPE_STREAM) {
        v->dev.stats.out_dropped++; /* not from this guest, not for the host, or not a stream: dropped */
        if (h->type != VSOCK_TYPE_STREAM && h->src_cid == v->guest_cid && h->dst_cid == VSOCK_HOST_CID)
            orphan_rst(v, h); /* seqpacket: not offered, refused */
        return;
    }
    struct vsock_conn *c = find(v, h->dst_port, h->src_port);
    if (!c) {
        if (h->op == VSOCK_OP_REQUEST)
            guest_request(v, h);
        else
            orphan_rst(v, h);
        return;
    }
    if (c->state == CONN_DOOMED)
        return; /* its reset is on the way */
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VSOCK_OP_RESPONSE:
        if (c->state != CONN_HOST_REQUEST) {
            conn_reset(v, c);
            break;
        }
        char ok[24];
        int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
        if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
            conn_reset(v, c); /* the host client is gone (or will not read a line) */
            break;
        }
        c->state = CONN_OPEN;
        set_deadline(v, c, 0);
        break;
    case VSOCK_OP_RST:
        conn_free(v, c);
        return;
    case VSOCK_OP_SHUTDOWN:
        c->peer_shut_rcv |= (h->flags & VSOCK_SHUTDOWN_RCV) != 0;
        c->peer_shut_send |= (h->flags & VSOCK_SHUTDOWN_SEND) != 0;
        if (c->state == CONN_HOST_REQUEST)
            conn_reset(v, c);
        else if (c->buf_len)
            set_deadline(v, c, DRAIN_TIMEOUT_NS); /* the last bytes get a while to leave */
        break;
    case VSOCK_OP_RW:
        if (c->state != CONN_OPEN) {
            conn_reset(v, c);
            break;
        }
        v->dev.stats.out_count++;
        guest_data(v, c, ch, h->len);
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        c->credit_requested = false;
        break;
    case VSOCK_OP_CREDIT_REQUEST:
        c->pending |= P_CREDIT_UPDATE;
        rx_enqueue(v, c);
        break;
    default: /* REQUEST for a connection that exists, or an unknown op */
        conn_reset(v, c);
        break;
    }
    if (c->state == CONN_OPEN) {
        conn_check_done(v, c);
        conn_interest(v, c);
    }
}

static void process_rx(struct virtio_vsock *v);

static void process_tx(struct virtio_vsock *v)
{
    struct virtio_device *dev = &v->dev;
    struct virtio_batch batch = {0};
    do {
        virtq_suppress_notify(&dev->vq[TXQ]);
        while (!dev->broken && virtio_batch_next(dev, TXQ, &batch) && virtio_pop(dev, TXQ, &v->chain) == 1) {
            struct vsock_hdr h;
            if (vsock_parse_packet(&v->chain, &h) < 0) {
                dev->stats.out_dropped++;
                log_warn_ratelimited(&v->log_guest, "%s: a transmit buffer that is not a vsock packet: dropped",
                                     dev->name);
            } else {
                guest_packet(v, &v->chain, &h);
            }
            virtio_push(dev, TXQ, v->chain.head, v->chain.generation, 0);
        }
        virtio_flush_interrupt(dev, TXQ);
    } while (!batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[TXQ]));
}

/* --- the receive queue: packets for the guest ------------------------------------------------ */

static void base_hdr(struct virtio_vsock *v, struct vsock_conn *c, uint16_t op, struct vsock_hdr *h)
{
    *h = (struct vsock_hdr){.src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid, .src_port = c->local_port,
                            .dst_port = c->peer_port, .type = VSOCK_TYPE_STREAM, .op = op,
                            .buf_alloc = VSOCK_CONN_BUF, .fwd_cnt = c->fwd_cnt};
    c->fwd_cnt_told = c->fwd_cnt;
}

/* Data from the connection's socket into the chain after the header: the
 * payload's length, 0 for none now, or -1 at EOF or an error. */
static ssize_t read_data(struct vsock_conn *c, const struct virtq_chain *ch, uint32_t credit)
{
    struct iovec iov[64];
    int n = chain_iov(ch, ch->nreadable, ch->nseg, VSOCK_HDR_LEN, credit < VSOCK_MAX_PAYLOAD ? credit : VSOCK_MAX_PAYLOAD,
                      iov);
    if (!n)
        return 0;
    ssize_t r;
    do
        r = readv(c->fd, iov, n);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN ? 0 : -1;
    return r == 0 ? -1 : r;
}

/* Fills one receive chain with the next packet a connection owes: its
 * length, or 0 for nothing after all. */
static uint32_t fill_rx(struct virtio_vsock *v, const struct virtq_chain *ch)
{
    uint8_t b[VSOCK_HDR_LEN];
    struct vsock_hdr h = {0};
    if (v->orphan_count) {
        h = (struct vsock_hdr){.src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid,
                               .src_port = v->orphans[v->orphan_head].src_port,
                               .dst_port = v->orphans[v->orphan_head].dst_port, .type = VSOCK_TYPE_STREAM,
                               .op = VSOCK_OP_RST, .buf_alloc = VSOCK_CONN_BUF};
        v->orphan_head = (v->orphan_head + 1) % ORPHAN_RSTS;
        v->orphan_count--;
        vsock_encode_hdr(&h, b);
        virtq_chain_write(ch, 0, b, sizeof(b));
        return VSOCK_HDR_LEN;
    }
    while (v->rx_count) {
        struct vsock_conn *c = &v->conns[v->rx_list[v->rx_head]];
        bool more = false;
        uint32_t len = 0;
        if (c->state == CONN_FREE) {
            /* freed while listed: passed over */
        } else if (c->state == CONN_DOOMED) {
            base_hdr(v, c, VSOCK_OP_RST, &h);
            len = VSOCK_HDR_LEN;
        } else if (c->pending & P_REQUEST) {
            base_hdr(v, c, VSOCK_OP_REQUEST, &h);
            c->pending &= (uint8_t)~P_REQUEST;
            len = VSOCK_HDR_LEN;
        } else if (c->pending & P_RESPONSE) {
            base_hdr(v, c, VSOCK_OP_RESPONSE, &h);
            c->pending &= (uint8_t)~P_RESPONSE;
            len = VSOCK_HDR_LEN;
        } else if (c->want_read && c->state == CONN_OPEN && !c->host_eof && !c->peer_shut_rcv) {
            uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
            uint32_t credit = in_flight < c->peer_buf_alloc ? c->peer_buf_alloc - in_flight : 0;
            if (credit == 0) {
                c->want_read = false; /* the guest's CREDIT_UPDATE re-arms the socket */
                if (!c->credit_requested) {
                    c->credit_requested = true;
                    c->pending |= P_CREDIT_REQUEST;
                }
            } else {
                ssize_t r = read_data(c, ch, credit);
                if (r > 0) {
                    base_hdr(v, c, VSOCK_OP_RW, &h);
                    h.len = (uint32_t)r;
                    c->tx_cnt += (uint32_t)r;
                    v->dev.stats.in_count++;
                    v->dev.stats.in_bytes += (uint64_t)r;
                    len = VSOCK_HDR_LEN + (uint32_t)r;
                    more = true; /* there may be more: read again next time */
                } else if (r == 0) {
                    c->want_read = false;
                } else { /* EOF or an error: the host sends no more */
                    c->want_read = false;
                    c->host_eof = true;
                    c->pending |= P_SHUTDOWN;
                    c->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
                }
            }
        } else {
            c->want_read = false;
        }
        if (!len && (c->pending & P_SHUTDOWN)) {
            base_hdr(v, c, VSOCK_OP_SHUTDOWN, &h);
            h.flags = c->shutdown_flags;
            c->pending &= (uint8_t)~P_SHUTDOWN;
            len = VSOCK_HDR_LEN;
        } else if (!len && (c->pending & (P_CREDIT_UPDATE | P_CREDIT_REQUEST))) {
            bool request = c->pending & P_CREDIT_REQUEST;
            base_hdr(v, c, request ? VSOCK_OP_CREDIT_REQUEST : VSOCK_OP_CREDIT_UPDATE, &h);
            c->pending &= (uint8_t)~(request ? P_CREDIT_REQUEST : P_CREDIT_UPDATE);
            len = VSOCK_HDR_LEN;
        }
        /* Next turn: this connection again (at the back) if it owes more. */
        v->rx_head = (v->rx_head + 1) % VSOCK_MAX_CONNS;
        v->rx_count--;
        c->in_rx = false;
        if (c->state == CONN_DOOMED && len) {
            conn_free(v, c);
        } else if (c->state != CONN_FREE) {
            if (c->pending || (more && c->want_read))
                rx_enqueue(v, c);
            if (c->state == CONN_OPEN) {
                conn_check_done(v, c);
                conn_interest(v, c);
            }
        }
        if (len) {
            vsock_encode_hdr(&h, b);
            virtq_chain_write(ch, 0, b, sizeof(b));
            return len;
        }
    }
    return 0;
}

static void process_rx(struct virtio_vsock *v)
{
    struct virtio_device *dev = &v->dev;
    if (!dev->active || dev->broken || !dev->vq[RXQ].enabled)
        return;
    struct virtio_batch batch = {0};
    while ((v->orphan_count || v->rx_count) && virtio_batch_next(dev, RXQ, &batch)) {
        int r = virtio_pop(dev, RXQ, &v->chain);
        if (r < 0)
            break;
        if (r == 0) {
            if (virtq_arm_notify(&dev->vq[RXQ]))
                continue; /* buffers came meanwhile */
            break;        /* the guest's next buffers kick the queue */
        }
        if (v->chain.writable_len < VSOCK_HDR_LEN || v->chain.nreadable) {
            /* Not a receive buffer: given back empty, the device is not stuck on it. */
            log_warn_ratelimited(&v->log_guest, "%s: a receive buffer too small for a header: returned empty",
                                 dev->name);
            virtio_push(dev, RXQ, v->chain.head, v->chain.generation, 0);
            continue;
        }
        uint32_t len = fill_rx(v, &v->chain);
        if (!len) {
            virtq_unpop(&dev->vq[RXQ], 1);
            break;
        }
        virtio_push(dev, RXQ, v->chain.head, v->chain.generation, len);
    }
    virtio_flush_interrupt(dev, RXQ);
}

/* --- the event queue ------------------------------------------------------------------------ */

static void process_event(struct virtio_vsock *v)
{
    struct virtio_device *dev = &v->dev;
    if (!v->event_pending || !dev->active || !dev->vq[EVQ].enabled)
        return;
    if (virtio_pop(dev, EVQ, &v->chain) != 1)
        return;
    uint8_t id[4] = {0}; /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
    uint32_t n = (uint32_t)virtq_chain_write(&v->chain, 0, id, sizeof(id));
    virtio_push(dev, EVQ, v->chain.head, v->chain.generation, n);
    virtio_flush_interrupt(dev, EVQ);
    v->event_pending = false;
}

/* --- host clients: the listening socket and their CONNECT line -------------------------------- */

static void accept_clients(struct virtio_vsock *v)
{
    for (int i = 0; i < 16; i++) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        struct vsock_conn *c = conn_new(v, fd);
        if (!c) {
            close(fd); /* full: the client sees its connection closed */
            continue;
        }
        c->state = CONN_HOST_LINE;
        if (mux_add(v, c, EPOLLIN) < 0) {
            conn_free(v, c);
            continue;
        }
        set_deadline(v, c, CONNECT_TIMEOUT_NS);
    }
}

/* "CONNECT <port>\n", read a byte at a time so that what the client sends
 * after it stays in the socket for the guest. */
static void read_line(struct virtio_vsock *v, struct vsock_conn *c)
{
    while (c->line_len < LINE_MAX_LEN) {
        char ch;
        ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            c->armed = 0;
            conn_interest(v, c);
            return;
        }
        if (n <= 0)
            break;
        if (ch != '\n') {
            c->line[c->line_len++] = ch;
            continue;
        }
        c->line[c->line_len] = '\0';
        char *end;
        unsigned long port = 0;
        bool ok = !strncmp(c->line, "CONNECT ", 8) && c->line[8] >= '0' && c->line[8] <= '9';
        if (ok) {
            errno = 0;
            port = strtoul(c->line + 8, &end, 10);
            ok = !errno && !*end && port <= UINT32_MAX;
        }
        if (!ok)
            break;
        /* A host port no connection of that guest port uses. */
        uint32_t p = v->next_host_port;
        for (int tries = 0; find(v, p, (uint32_t)port) && tries < VSOCK_MAX_CONNS; tries++)
            p = p + 1 < HOST_PORT_FIRST ? HOST_PORT_FIRST : p + 1;
        v->next_host_port = p + 1 < HOST_PORT_FIRST ? HOST_PORT_FIRST : p + 1;
        c->local_port = p;
        c->peer_port = (uint32_t)port;
        c->state = CONN_HOST_REQUEST;
        c->peer_buf_alloc = 0; /* until the guest's RESPONSE says */
        key(v, c);
        c->pending |= P_REQUEST;
        rx_enqueue(v, c);
        set_deadline(v, c, CONNECT_TIMEOUT_NS);
        conn_interest(v, c);
        return;
    }
    conn_free(v, c); /* a bad or too long line, or the client left */
}

/* --- the I/O thread's callbacks -------------------------------------------------------------- */

static void on_mux(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_vsock *v = ctx;
    struct epoll_event ev[MUX_EVENTS];
    pthread_mutex_lock(&v->dev.lock);
    /* Always drained (one-shot: what is taken is disarmed), so that the
     * loop does not spin on it while the driver is down. */
    int n = epoll_wait(v->mux_fd, ev, MUX_EVENTS, 0);
    if (!v->dev.active)
        n = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == 0) {
            accept_clients(v);
            struct epoll_event again = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0};
            epoll_ctl(v->mux_fd, EPOLL_CTL_MOD, v->listen_fd, &again);
            continue;
        }
        uint64_t k = ev[i].data.u64 - 1;
        if (k >= VSOCK_MAX_CONNS)
            continue;
        struct vsock_conn *c = &v->conns[k];
        if (c->fd < 0 || c->state == CONN_FREE)
            continue;
        c->armed = 0; /* one-shot: disarmed now */
        if (c->state == CONN_HOST_LINE) {
            read_line(v, c);
            continue;
        }
        if (c->state != CONN_OPEN)
            continue;
        if ((ev[i].events & EPOLLOUT) && flush_buf(v, c) < 0) {
            conn_reset(v, c);
            continue;
        }
        if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            c->want_read = true;
            rx_enqueue(v, c);
        }
        conn_check_done(v, c);
        conn_interest(v, c);
    }
    process_rx(v);
    pthread_mutex_unlock(&v->dev.lock);
}

static void on_tick(void *ctx, uint32_t events)
{
    (void)events;
    struct virtio_vsock *v = ctx;
    uint64_t expirations;
    if (read(v->timer_fd, &expirations, sizeof(expirations)) < 0)
        return;
    pthread_mutex_lock(&v->dev.lock);
    uint64_t now = clock_monotonic_ns();
    bool any = false;
    for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vsock_conn *c = &v->conns[i];
        if (c->state == CONN_FREE || c->state == CONN_DOOMED || !c->deadline_ns)
            continue;
        bool late = now >= c->deadline_ns;
        if (late && c->state == CONN_OPEN && !c->buf_len)
            c->deadline_ns = 0; /* drained in time */
        else if (late)
            conn_reset(v, c); /* no CONNECT line, no answer from the guest, or a peer that never reads */
        else
            any = true;
    }
    if (!any) {
        struct itimerspec off = {0};
        timerfd_settime(v->timer_fd, 0, &off, NULL);
        v->ticking = false;
    }
    process_rx(v);
    pthread_mutex_unlock(&v->dev.lock);
}

static void vsock_kick(struct virtio_device *dev, int q)
{
    struct virtio_vsock *v = dev->impl;
    if (q == TXQ)
        process_tx(v);
    else if (q == EVQ)
        process_event(v);
    process_rx(v); /* new buffers, or packets the guest's caused */
}

/* --- lifecycle ---------------------------------------------------------------------------------- */

static int vsock_activate(struct virtio_device *dev)
{
    struct virtio_vsock *v = dev->impl;
    v->event_pending = true; /* the driver learns the transport (re)started */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0};
    if (!v->listening && epoll_ctl(v->mux_fd, EPOLL_CTL_MOD, v->listen_fd, &ev) == 0)
        v->listening = true;
    return 0;
}

static void vsock_reset(struct virtio_device *dev)
{
    struct virtio_vsock *v = dev->impl;
    for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vsock_conn *c = &v->conns[i];
        c->in_rx = false;
        if (c->state != CONN_FREE)
            conn_free(v, c);
    }
    v->rx_head = v->rx_count = v->orphan_head = v->orphan_count = 0;
    v->event_pending = false;
    struct epoll_event ev = {.events = EPOLLONESHOT, .data.u64 = 0};
    if (v->listening && epoll_ctl(v->mux_fd, EPOLL_CTL_MOD, v->listen_fd, &ev) == 0)
        v->listening = false;
}

static void vsock_destroy(struct virtio_device *dev)
{
    struct virtio_vsock *v = dev->impl;
    if (v->conns) {
        for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
            if (v->conns[i].fd >= 0)
                close(v->conns[i].fd);
            free(v->conns[i].buf);
        }
        free(v->conns);
    }
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
        unlink(v->uds_path);
    }
    if (v->mux_fd >= 0)
        close(v->mux_fd);
    if (v->timer_fd >= 0)
        close(v->timer_fd);
    free(v);
}

static const struct virtio_device_ops vsock_ops = {
    .kind = "vsock", .device_id = VIRTIO_ID_VSOCK, .activate = vsock_activate, .reset = vsock_reset,
    .queue_kick = vsock_kick, .destroy = vsock_destroy,
};

/* Binds the listening socket, replacing a stale one (nobody accepts there). */
static int bind_listener(struct virtio_vsock *v, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path) - 12) { /* room for "_<port>" */
        log_error("vsock uds_path %s: too long for a Unix socket (at most %zu bytes)", path, sizeof(a.sun_path) - 13);
        return -1;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    snprintf(v->uds_path, sizeof(v->uds_path), "%s", path);
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->listen_fd < 0) {
        log_error("vsock uds_path %s: socket: %s", path, strerror(errno));
        return -1;
    }
    int r = bind(v->listen_fd, (struct sockaddr *)&a, sizeof(a));
    if (r < 0 && errno == EADDRINUSE) {
        struct stat st = {0};
        bool sock = lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
        int probe = sock ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
        bool stale = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == ECONNREFUSED;
        if (probe >= 0)
            close(probe);
        if (!stale) {
            log_error("vsock uds_path %s: %s", path,
                      sock ? "another process serves there" : "the path exists and is not a socket");
            close(v->listen_fd);
            v->listen_fd = -1;
            return -1;
        }
        unlink(path); /* its VMM was killed: replaced */
        r = bind(v->listen_fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (r < 0 || listen(v->listen_fd, 128) < 0) {
        log_error("vsock uds_path %s: %s", path, strerror(errno));
        close(v->listen_fd);
        v->listen_fd = -1;
        return -1;
    }
    return 0;
}

struct virtio_device *virtio_vsock_create(const struct guest_memory *mem, const char *name,
                                          const struct virtio_vsock_config *cfg)
{
    if (cfg->guest_cid < 3) {
        log_error("vsock: guest_cid %u: a guest's CID is 3 or more (0-2 are reserved)", cfg->guest_cid);
        return NULL;
    }
    struct virtio_vsock *v = calloc(1, sizeof(*v));
    if (!v) {
        log_error("%s: out of memory", name);
        return NULL;
    }
    int init = virtio_device_init(&v->dev, &vsock_ops, v, name, mem, NUM_QUEUES, VIRTQ_MAX_SIZE);
    /* vsock_destroy may run from here on: what it closes is marked unset. */
    v->listen_fd = v->mux_fd = v->timer_fd = -1;
    if (init < 0)
        goto fail;
    v->guest_cid = cfg->guest_cid;
    v->next_host_port = HOST_PORT_FIRST;
    memset(v->hash, 0xff, sizeof(v->hash));
    v->conns = calloc(VSOCK_MAX_CONNS, sizeof(*v->conns));
    if (!v->conns) {
        log_error("%s: out of memory", name);
        goto fail;
    }
    for (int i = 0; i < VSOCK_MAX_CONNS; i++)
        v->conns[i].fd = -1;
    if (bind_listener(v, cfg->uds_path) < 0)
        goto fail;
    v->mux_fd = epoll_create1(EPOLL_CLOEXEC);
    v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLONESHOT, .data.u64 = 0}; /* armed when the driver is up */
    if (v->mux_fd < 0 || v->timer_fd < 0 || epoll_ctl(v->mux_fd, EPOLL_CTL_ADD, v->listen_fd, &ev) < 0 ||
        event_loop_add(&v->dev.loop, v->mux_fd, EPOLLIN, on_mux, v) < 0 ||
        event_loop_add(&v->dev.loop, v->timer_fd, EPOLLIN, on_tick, v) < 0) {
        log_error("%s: cannot set up: %s", name, strerror(errno));
        goto fail;
    }
    put64(v->dev.config, v->guest_cid);
    v->dev.config_len = 8;
    return &v->dev;
fail:
    virtio_device_destroy(&v->dev); /* frees v through vsock_destroy */
    return NULL;
}
