/* virtio-bench: ember's virtio device path, driven in-process by a synthetic
 * driver, side by side with the floor in the same run.
 *   virtio-bench blk FILE   4 KiB random reads at queue depth 1 and 32, and
 *                           128 KiB sequential writes, through ember's
 *                           virtio-blk (its I/O thread, its io_uring) and
 *                           then straight through io_uring on the same file.
 *   virtio-bench net TAP    1514-byte frames per second through ember's
 *                           virtio-net transmit queue into a tap, and raw
 *                           write()s of the same frames into the same tap;
 *                           then receive: a thread floods the tap from the
 *                           host side (AF_PACKET), and the frames ember puts
 *                           in the receive queue are counted against raw
 *                           read()s of the tap under the same flood.
 *   virtio-bench vsock      a stream guest -> host and host -> guest through
 *                           ember's virtio-vsock (its I/O thread, its Unix
 *                           socket to the host's reader or writer, credit
 *                           flow control both ways), against the same bytes
 *                           through a plain Unix socket pair.
 * The driver writes descriptors and the available ring in guest memory and
 * kicks the queue's eventfd exactly as KVM's ioeventfd would; it polls the
 * used ring (a guest would take the interrupt). Prints ratios ember/floor. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "memory/guest_memory.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vsock.h"

#define QN 256
#define DESC 0x1000ULL
#define AVAIL 0x2000ULL
#define USED 0x3000ULL
#define HDRS 0x10000ULL
#define STATUS 0x20000ULL
#define DATA 0x100000ULL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct driver {
    struct guest_memory mem;
    struct virtio_device *dev;
    int q;
    volatile struct virtq_desc *desc;
    volatile uint16_t *avail, *used;
    uint16_t avail_idx, last_used;
};

static void no_interrupt(struct virtio_device *dev, int q) { (void)dev, (void)q; }

/* Negotiates VERSION_1 and sets up queue `q` (the others stay off). */
static void driver_start(struct driver *d, int q)
{
    struct virtio_device *dev = d->dev;
    d->q = q;
    dev->transport.interrupt = no_interrupt;
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_guest_features(dev, 1, 1);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_SIZE, false, QN);
    virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_DESC, false, (uint32_t)DESC);
    virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_AVAIL, false, (uint32_t)AVAIL);
    virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_USED, false, (uint32_t)USED);
    virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_READY, false, 1);
    d->desc = gpa_to_host(&d->mem, DESC, 16 * QN);
    d->avail = gpa_to_host(&d->mem, AVAIL, 6 + 2 * QN);
    d->used = gpa_to_host(&d->mem, USED, 6 + 8 * QN);
    virtio_device_start(dev);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                               VIRTIO_STATUS_DRIVER_OK);
}

static void offer(struct driver *d, uint16_t head)
{
    d->avail[2 + (d->avail_idx % QN)] = head;
    d->avail_idx++;
    __atomic_store_n(&d->avail[1], d->avail_idx, __ATOMIC_RELEASE);
}

static void kick(struct driver *d) { virtio_notify_queue(d->dev, (uint16_t)d->q); }

/* Spins until a used entry arrives; returns its id. */
static uint32_t reap(struct driver *d)
{
    while (__atomic_load_n(&d->used[1], __ATOMIC_ACQUIRE) == d->last_used)
        __builtin_ia32_pause();
    volatile uint32_t *e = (volatile uint32_t *)(d->used + 2) + 2 * (d->last_used % QN);
    d->last_used++;
    return e[0];
}

/* --- blk ------------------------------------------------------------------- */

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Request `slot` uses descriptors 3*slot .. 3*slot+2. */
static void blk_submit(struct driver *d, int slot, uint32_t type, uint64_t sector, uint32_t len)
{
    uint64_t hdr = HDRS + 16ULL * (uint64_t)slot, data = DATA + (uint64_t)slot * 131072, st = STATUS + (uint64_t)slot;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } h = {type, 0, sector};
    memcpy(gpa_to_host(&d->mem, hdr, 16), &h, 16);
    int i = 3 * slot;
    d->desc[i] = (struct virtq_desc){hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1)};
    d->desc[i + 1] = (struct virtq_desc){data, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0)),
                                         (uint16_t)(i + 2)};
    d->desc[i + 2] = (struct virtq_desc){st, 1, VIRTQ_DESC_F_WRITE, 0};
    offer(d, (uint16_t)i);
}

static double ember_blk(struct driver *d, int qd, uint32_t type, uint32_t len, int ops, uint64_t sectors)
{
    uint64_t seq = 0;
    double t0 = now_s();
    int done = 0, issued = 0;
    for (; issued < qd && issued < ops; issued++)
        blk_submit(d, issued, type, type == 0 ? rnd() % (sectors - 8) : (seq += len / 512) % (sectors - 256), len);
    kick(d);
    while (done < ops) {
        int slot = (int)(reap(d) / 3);
        done++;
        uint8_t *st = gpa_to_host(&d->mem, STATUS + (uint64_t)slot, 1);
        if (*st != 0) {
            fprintf(stderr, "virtio-bench: request failed with status %u\n", *st);
            exit(1);
        }
        if (issued < ops) {
            blk_submit(d, slot, type, type == 0 ? rnd() % (sectors - 8) : (seq += len / 512) % (sectors - 256), len);
            issued++;
            kick(d);
        }
    }
    return (double)ops / (now_s() - t0);
}

static double floor_blk(int fd, int qd, bool write, uint32_t len, int ops, uint64_t sectors)
{
    struct io_uring ring;
    io_uring_queue_init(256, &ring, 0);
    static struct iovec iov[256];
    static uint8_t *bufs[256];
    for (int i = 0; i < qd; i++) {
        if (!bufs[i])
            bufs[i] = aligned_alloc(4096, 131072);
        iov[i] = (struct iovec){bufs[i], len};
    }
    uint64_t seq = 0;
    double t0 = now_s();
    int done = 0, issued = 0;
    for (; issued < qd && issued < ops; issued++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        uint64_t off = write ? ((seq += len / 512) % (sectors - 256)) * 512 : (rnd() % (sectors - 8)) * 512;
        if (write)
            io_uring_prep_writev(sqe, fd, &iov[issued], 1, off);
        else
            io_uring_prep_readv(sqe, fd, &iov[issued], 1, off);
        io_uring_sqe_set_data64(sqe, (uint64_t)issued);
    }
    io_uring_submit(&ring);
    while (done < ops) {
        /* Spin for the completion, as the synthetic driver spins on the used
         * ring: a floor that sleeps in io_uring_wait_cqe pays a thread wake-up
         * per request that ember's side does not (that made the 128 KiB
         * write ratio 2.2 before). */
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&ring, &cqe) != 0)
            __builtin_ia32_pause();
        int slot = (int)io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&ring, cqe);
        done++;
        if (issued < ops) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            uint64_t off = write ? ((seq += len / 512) % (sectors - 256)) * 512 : (rnd() % (sectors - 8)) * 512;
            if (write)
                io_uring_prep_writev(sqe, fd, &iov[slot], 1, off);
            else
                io_uring_prep_readv(sqe, fd, &iov[slot], 1, off);
            io_uring_sqe_set_data64(sqe, (uint64_t)slot);
            io_uring_submit(&ring);
            issued++;
        }
    }
    double rate = (double)ops / (now_s() - t0);
    io_uring_queue_exit(&ring);
    return rate;
}

static int bench_blk(const char *path)
{
    struct driver d = {0};
    if (guest_memory_init(&d.mem, 64ULL << 20) < 0)
        return 1;
    struct virtio_blk_config cfg = {.path = path};
    d.dev = virtio_blk_create(&d.mem, "bench-blk", &cfg);
    if (!d.dev)
        return 1;
    uint64_t sectors;
    memcpy(&sectors, d.dev->config, 8);
    driver_start(&d, 0);
    int fd = open(path, O_RDWR);
    struct {
        const char *name;
        int qd;
        uint32_t type, len;
        int ops;
        const char *unit;
    } runs[] = {
        {"4 KiB random read, QD 1", 1, 0, 4096, 40000, "IOPS"},
        {"4 KiB random read, QD 32", 32, 0, 4096, 200000, "IOPS"},
        {"128 KiB sequential write", 1, 1, 131072, 4000, "MiB/s"},
    };
    printf("%-28s %14s %14s %8s\n", "virtio-blk (page cache)", "ember", "io_uring", "ratio");
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        /* Warm the page cache and both paths, then alternate three times
         * and keep each side's best: dirty-page writeback and the other
         * side's leftovers then weigh on both alike. */
        ember_blk(&d, runs[i].qd, runs[i].type, runs[i].len, runs[i].ops / 10, sectors);
        floor_blk(fd, runs[i].qd, runs[i].type == 1, runs[i].len, runs[i].ops / 10, sectors);
        double e = 0, f = 0;
        for (int k = 0; k < 3; k++) {
            fdatasync(fd);
            double x = ember_blk(&d, runs[i].qd, runs[i].type, runs[i].len, runs[i].ops, sectors);
            fdatasync(fd);
            double y = floor_blk(fd, runs[i].qd, runs[i].type == 1, runs[i].len, runs[i].ops, sectors);
            e = x > e ? x : e;
            f = y > f ? y : f;
        }
        double scale = runs[i].len == 131072 ? 0.125 : 1; /* 128 KiB ops/s -> MiB/s */
        printf("%-28s %9.0f %-4s %9.0f %-4s %8.2f\n", runs[i].name, e * scale, runs[i].unit, f * scale, runs[i].unit,
               e / f);
    }
    close(fd);
    virtio_device_destroy(d.dev);
    guest_memory_free(&d.mem);
    return 0;
}

/* --- net -------------------------------------------------------------------- */

static int tap_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    if (r == 0)
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return r;
}

static void make_frame(uint8_t *f, size_t len)
{
    memset(f, 0, len);
    memset(f, 0xff, 6);                                  /* broadcast */
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
    f[12] = 0x88, f[13] = 0xb5;                          /* a local experimental ethertype: nobody answers */
}

/* ember's virtio-net on `tap`, its queue q driven by the synthetic driver. */
static int net_driver_open(struct driver *d, const char *tap, int q)
{
    if (guest_memory_init(&d->mem, 64ULL << 20) < 0)
        return -1;
    struct virtio_net_config cfg = {.tap = tap};
    d->dev = virtio_net_create(&d->mem, "bench-net", &cfg);
    if (!d->dev || tap_up(tap) < 0) {
        fprintf(stderr, "virtio-bench: cannot bring up tap %s\n", tap);
        return -1;
    }
    driver_start(d, q);
    return 0;
}

/* The floor's own handle on the same tap, with the same virtio-net header. */
static int raw_tap_open(const char *tap, int flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | flags);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    int hdr = NET_HDR_LEN;
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || tap_up(tap) < 0) {
        fprintf(stderr, "virtio-bench: cannot open tap %s for the floor: %s\n", tap, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int bench_net(const char *tap)
{
    enum { FRAME = 1514, OPS = 200000, INFLIGHT = 128 };
    struct driver d = {0};
    if (net_driver_open(&d, tap, 1) < 0) /* the transmit queue */
        return 1;
    for (int i = 0; i < INFLIGHT; i++) {
        uint8_t *p = gpa_to_host(&d.mem, DATA + (uint64_t)i * 2048, NET_HDR_LEN + FRAME);
        memset(p, 0, NET_HDR_LEN);
        make_frame(p + NET_HDR_LEN, FRAME);
    }
    double t0 = now_s();
    int issued = 0, done = 0;
    for (; issued < INFLIGHT; issued++) {
        d.desc[issued] = (struct virtq_desc){DATA + (uint64_t)issued * 2048, NET_HDR_LEN + FRAME, 0, 0};
        offer(&d, (uint16_t)issued);
    }
    kick(&d);
    while (done < OPS) {
        uint32_t id = reap(&d);
        done++;
        if (issued < OPS) {
            offer(&d, (uint16_t)id);
            issued++;
            if ((issued & 15) == 0)
                kick(&d);
        }
        if (d.used[1] == d.last_used)
            kick(&d);
    }
    double ember = OPS / (now_s() - t0);
    virtio_device_destroy(d.dev);
    guest_memory_free(&d.mem);

    /* The floor: the same frames written straight into a tap of that name. */
    int fd = raw_tap_open(tap, 0);
    if (fd < 0)
        return 1;
    static uint8_t pkt[NET_HDR_LEN + FRAME];
    make_frame(pkt + NET_HDR_LEN, FRAME);
    t0 = now_s();
    for (int i = 0; i < OPS; i++)
        if (write(fd, pkt, sizeof(pkt)) < 0 && errno != EAGAIN)
            break;
    double floor = OPS / (now_s() - t0);
    close(fd);
    printf("%-28s %14s %14s %8s\n", "virtio-net transmit", "ember", "raw tap", "ratio");
    printf("%-28s %9.0f fr/s %9.0f fr/s %8.2f\n", "1514-byte frames", ember, floor, ember / floor);
    return 0;
}

/* The host side of a tap: frames sent out of the tap's interface through an
 * AF_PACKET socket are what its reader (ember, or the floor) receives. */
struct flood {
    const char *tap;
    volatile int stop;
    unsigned long sent;
};

static void *flood_tap(void *arg)
{
    struct flood *f = arg;
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(f->tap), .sll_halen = 6};
    memset(to.sll_addr, 0xff, 6);
    static uint8_t frame[1514];
    make_frame(frame, sizeof(frame));
    while (s >= 0 && !f->stop)
        if (sendto(s, frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
            f->sent++;
    if (s >= 0)
        close(s);
    return NULL;
}

static double cpu_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Received 1514-byte frames per second over `secs` while the tap is flooded:
 * through ember's receive queue (d != NULL) or by read()s of tap_fd.
 * *cpu_us: the CPU time the receiving thread (ember's I/O thread, or this
 * one) spent per frame. */
static double rx_rate(struct driver *d, int tap_fd, const char *tap, double secs, double *cpu_us)
{
    clockid_t clock = CLOCK_THREAD_CPUTIME_ID;
    if (d)
        pthread_getcpuclockid(d->dev->loop.thread, &clock);
    struct flood f = {.tap = tap};
    pthread_t th;
    pthread_create(&th, NULL, flood_tap, &f);
    static uint8_t buf[NET_HDR_LEN + 65536];
    unsigned long got = 0;
    double c0 = cpu_s(clock), t0 = now_s(), end = t0 + secs;
    while (now_s() < end) {
        if (d) {
            if (__atomic_load_n(&d->used[1], __ATOMIC_ACQUIRE) == d->last_used) {
                /* Yield rather than spin: with the flooder, three threads
                 * share this host's CPUs, and a spinning driver would take
                 * ember's I/O thread's. */
                sched_yield();
                continue;
            }
            uint32_t id = reap(d);
            offer(d, (uint16_t)id); /* the buffer goes back at once */
            /* Kick only when the device asks (it sets NO_NOTIFY while it works). */
            if (!(__atomic_load_n(&d->used[0], __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY))
                kick(d);
            got++;
        } else if (read(tap_fd, buf, sizeof(buf)) > 0) {
            got++;
        }
    }
    double rate = (double)got / (now_s() - t0);
    *cpu_us = got ? (cpu_s(clock) - c0) * 1e6 / (double)got : 0;
    f.stop = 1;
    pthread_join(th, NULL);
    return rate;
}

static int bench_net_rx(const char *tap)
{
    enum { INFLIGHT = 256 };
    struct driver d = {0};
    if (net_driver_open(&d, tap, 0) < 0) /* the receive queue */
        return 1;
    /* Without MRG_RXBUF a frame and its header take one 2 KiB buffer. */
    for (int i = 0; i < INFLIGHT; i++) {
        d.desc[i] = (struct virtq_desc){DATA + (uint64_t)i * 2048, 2048, VIRTQ_DESC_F_WRITE, 0};
        offer(&d, (uint16_t)i);
    }
    kick(&d);
    double ember_cpu, floor_cpu;
    double ember = rx_rate(&d, -1, tap, 2.0, &ember_cpu);
    virtio_device_destroy(d.dev);
    guest_memory_free(&d.mem);

    int fd = raw_tap_open(tap, O_NONBLOCK);
    if (fd < 0)
        return 1;
    double floor = rx_rate(NULL, fd, tap, 2.0, &floor_cpu);
    close(fd);
    printf("%-28s %14s %14s %8s\n", "virtio-net receive", "ember", "raw tap", "ratio");
    printf("%-28s %9.0f fr/s %9.0f fr/s %8.2f\n", "1514-byte frames, flooded", ember, floor, ember / floor);
    /* On a small host the flooder, the driver and ember's thread share the
     * CPUs, so the CPU the receiving thread spends per frame is the fairer
     * comparison (ratio: floor / ember, higher is better). */
    printf("%-28s %11.2f us %11.2f us %8.2f\n", "  CPU per frame (receiver)", ember_cpu, floor_cpu,
           ember_cpu > 0 ? floor_cpu / ember_cpu : 0);
    return 0;
}

/* --- vsock ------------------------------------------------------------------- */

#define VS_RING(q) (0x1000ULL + (uint64_t)(q) * 0x4000)
#define VS_RX 0x100000ULL   /* 64 receive buffers of VS_BUF */
#define VS_TX 0x1200000ULL  /* 64 transmit buffers of VS_BUF */
#define VS_BUF (VSOCK_HDR_LEN + VSOCK_MAX_PAYLOAD)
#define VS_BYTES (512ULL << 20)
#define VS_GUEST_BUF (256u * 1024) /* what the synthetic guest grants, as Linux's default */

struct vs_driver {
    struct guest_memory mem;
    struct virtio_device *dev;
    volatile struct virtq_desc *desc[2];
    volatile uint16_t *avail[2], *used[2];
    uint16_t avail_idx[2], last_used[2];
    uint32_t peer_buf_alloc, peer_fwd_cnt; /* ember's credit */
    uint32_t tx_cnt, rx_fwd_cnt, rx_told;
    uint16_t tx_free[64];
    int ntx_free;
};

static void vs_offer(struct vs_driver *d, int q, uint16_t head, uint64_t addr, uint32_t len, bool writable)
{
    d->desc[q][head] = (struct virtq_desc){addr, len, writable ? VIRTQ_DESC_F_WRITE : 0, 0};
    d->avail[q][2 + d->avail_idx[q] % QN] = head;
    d->avail_idx[q]++;
    __atomic_store_n(&d->avail[q][1], d->avail_idx[q], __ATOMIC_RELEASE);
}

static void vs_kick(struct vs_driver *d, int q)
{
    if (!(__atomic_load_n(&d->used[q][0], __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY))
        virtio_notify_queue(d->dev, (uint16_t)q);
}

static bool vs_reap(struct vs_driver *d, int q, uint32_t *id, uint32_t *len)
{
    if (__atomic_load_n(&d->used[q][1], __ATOMIC_ACQUIRE) == d->last_used[q])
        return false;
    volatile uint32_t *e = (volatile uint32_t *)(d->used[q] + 2) + 2 * (d->last_used[q] % QN);
    *id = e[0], *len = e[1];
    d->last_used[q]++;
    return true;
}

static void vs_send(struct vs_driver *d, uint16_t op, uint32_t len)
{
    while (!d->ntx_free) { /* take finished transmit buffers back */
        uint32_t id, l;
        if (vs_reap(d, 1, &id, &l))
            d->tx_free[d->ntx_free++] = (uint16_t)id;
        else
            __builtin_ia32_pause();
    }
    uint16_t head = d->tx_free[--d->ntx_free];
    uint8_t *p = gpa_to_host(&d->mem, VS_TX + (uint64_t)head * VS_BUF, VS_BUF);
    struct vsock_hdr h = {.src_cid = 3, .dst_cid = VSOCK_HOST_CID, .src_port = 5000, .dst_port = 5000, .len = len,
                          .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = VS_GUEST_BUF, .fwd_cnt = d->rx_fwd_cnt};
    vsock_encode_hdr(&h, p);
    d->rx_told = d->rx_fwd_cnt;
    vs_offer(d, 1, head, VS_TX + (uint64_t)head * VS_BUF, VSOCK_HDR_LEN + len, false);
    vs_kick(d, 1);
}

/* One packet from ember: its header; the buffer goes back at once. */
static bool vs_receive(struct vs_driver *d, struct vsock_hdr *h)
{
    uint32_t id, len;
    if (!vs_reap(d, 0, &id, &len))
        return false;
    uint8_t *p = gpa_to_host(&d->mem, VS_RX + (uint64_t)id * VS_BUF, VS_BUF);
    struct virtq_chain c = {.nseg = 1, .nreadable = 1, .readable_len = len, .seg = {{.host = p, .len = len}}};
    if (vsock_parse_packet(&c, h) < 0)
        h->op = 0;
    d->peer_buf_alloc = h->buf_alloc, d->peer_fwd_cnt = h->fwd_cnt;
    vs_offer(d, 0, (uint16_t)id, VS_RX + (uint64_t)id * VS_BUF, VS_BUF, true);
    vs_kick(d, 0);
    return true;
}

struct vs_host {
    int fd;
    uint64_t bytes;
    bool write;
};

static void *vs_host_side(void *arg)
{
    struct vs_host *h = arg;
    static uint8_t buf[65536];
    for (uint64_t done = 0; done < h->bytes;) {
        ssize_t n = h->write ? write(h->fd, buf, sizeof(buf) < h->bytes - done ? sizeof(buf) : h->bytes - done)
                             : read(h->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        done += (uint64_t)n;
    }
    return NULL;
}

/* The floor: the same bytes through a Unix socket pair, a writer and a reader. */
static double vs_floor(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    struct vs_host r = {.fd = sv[1], .bytes = VS_BYTES}, w = {.fd = sv[0], .bytes = VS_BYTES, .write = true};
    pthread_t tr, tw;
    double t0 = now_s();
    pthread_create(&tr, NULL, vs_host_side, &r);
    pthread_create(&tw, NULL, vs_host_side, &w);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    double mib_s = (double)VS_BYTES / (1 << 20) / (now_s() - t0);
    close(sv[0]), close(sv[1]);
    return mib_s;
}

static int bench_vsock(void)
{
    char dir[] = "/tmp/ember-bench-vsock-XXXXXX", uds[64], port[80];
    if (!mkdtemp(dir))
        return 1;
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    snprintf(port, sizeof(port), "%s_5000", uds);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", port);
    static struct vs_driver d;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
        guest_memory_init(&d.mem, 32u << 20) < 0)
        return 1;
    struct virtio_vsock_config cfg = {.guest_cid = 3, .uds_path = uds};
    d.dev = virtio_vsock_create(&d.mem, "virtio-vsock-bench", &cfg);
    if (!d.dev)
        return 1;
    struct virtio_device *dev = d.dev;
    dev->transport.interrupt = no_interrupt;
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_guest_features(dev, 1, 1);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (int q = 0; q < 2; q++) {
        virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_SIZE, false, QN);
        virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_DESC, false, (uint32_t)VS_RING(q));
        virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_AVAIL, false, (uint32_t)(VS_RING(q) + 0x1000));
        virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_USED, false, (uint32_t)(VS_RING(q) + 0x2000));
        virtio_queue_write(dev, (uint16_t)q, VIRTIO_QUEUE_READY, false, 1);
        d.desc[q] = gpa_to_host(&d.mem, VS_RING(q), 16 * QN);
        d.avail[q] = gpa_to_host(&d.mem, VS_RING(q) + 0x1000, 6 + 2 * QN);
        d.used[q] = gpa_to_host(&d.mem, VS_RING(q) + 0x2000, 6 + 8 * QN);
    }
    virtio_device_start(dev);
    virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                               VIRTIO_STATUS_DRIVER_OK);
    for (uint16_t i = 0; i < 64; i++) {
        vs_offer(&d, 0, i, VS_RX + (uint64_t)i * VS_BUF, VS_BUF, true);
        d.tx_free[d.ntx_free++] = i;
    }
    vs_kick(&d, 0);
    vs_send(&d, VSOCK_OP_REQUEST, 0);
    struct vsock_hdr h = {0};
    while (!vs_receive(&d, &h))
        __builtin_ia32_pause();
    int conn = accept(l, NULL, NULL);
    if (h.op != VSOCK_OP_RESPONSE || conn < 0) {
        fprintf(stderr, "virtio-bench: vsock: no connection (op %u)\n", h.op);
        return 1;
    }
    /* Guest -> host: 64 KiB packets as the credit ember grants allows. */
    struct vs_host reader = {.fd = conn, .bytes = VS_BYTES};
    pthread_t th;
    double t0 = now_s();
    pthread_create(&th, NULL, vs_host_side, &reader);
    for (uint64_t sent = 0; sent < VS_BYTES;) {
        while (vs_receive(&d, &h)) /* credit updates */
            ;
        uint32_t in_flight = d.tx_cnt - d.peer_fwd_cnt;
        uint32_t credit = in_flight < d.peer_buf_alloc ? d.peer_buf_alloc - in_flight : 0;
        if (credit == 0) { /* as Linux does: what fits now, else wait */
            sched_yield();
            continue;
        }
        uint32_t n = credit < VSOCK_MAX_PAYLOAD ? credit : VSOCK_MAX_PAYLOAD;
        vs_send(&d, VSOCK_OP_RW, n);
        d.tx_cnt += n;
        sent += n;
    }
    pthread_join(th, NULL);
    double out = (double)VS_BYTES / (1 << 20) / (now_s() - t0);
    /* Host -> guest: the guest takes each packet and tells ember its credit. */
    struct vs_host writer = {.fd = conn, .bytes = VS_BYTES, .write = true};
    t0 = now_s();
    pthread_create(&th, NULL, vs_host_side, &writer);
    uint64_t got = 0;
    while (got < VS_BYTES) {
        if (!vs_receive(&d, &h)) {
            sched_yield();
            continue;
        }
        if (h.op == VSOCK_OP_RW) {
            got += h.len;
            d.rx_fwd_cnt += h.len;
        } else if (h.op == VSOCK_OP_CREDIT_REQUEST) {
            d.rx_told = d.rx_fwd_cnt - VS_GUEST_BUF; /* answer at once */
        }
        if (d.rx_fwd_cnt - d.rx_told >= VS_GUEST_BUF / 4)
            vs_send(&d, VSOCK_OP_CREDIT_UPDATE, 0);
    }
    pthread_join(th, NULL);
    double in = (double)VS_BYTES / (1 << 20) / (now_s() - t0);
    virtio_device_destroy(dev);
    close(conn), close(l);
    unlink(port);
    rmdir(dir);
    double floor = vs_floor();
    printf("%-28s %14s %14s %8s\n", "virtio-vsock stream", "ember", "Unix pair", "ratio");
    printf("%-28s %9.0f MiB/s %8.0f MiB/s %8.2f\n", "guest -> host", out, floor, out / floor);
    printf("%-28s %9.0f MiB/s %8.0f MiB/s %8.2f\n", "host -> guest", in, floor, in / floor);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    if (argc == 3 && !strcmp(argv[1], "blk"))
        return bench_blk(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "net"))
        return bench_net(argv[2]) || bench_net_rx(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "vsock"))
        return bench_vsock();
    fprintf(stderr, "usage: virtio-bench blk FILE | net TAP | vsock\n");
    return 2;
}
