/* vsock-test: both ends of ember's virtio-vsock for the KVM test bed, one
 * static binary. In the guest it speaks AF_VSOCK; on the guest's host (the
 * test bed's outer VM) it speaks Firecracker's Unix-socket protocol.
 *
 * Every stream is the same deterministic bytes (an xorshift sequence), and
 * the receiving side answers "sum <fnv1a-64> <bytes>\n" for what it got,
 * so each side checks the whole stream end to end.
 *
 *   guest:  listen PORT COUNT          serve COUNT connections: read to EOF,
 *                                      answer the sum, close
 *           send CID PORT BYTES        connect, send, half-close, check the answer
 *           many CID PORT N            N connections one after another, 1 KiB each
 *           abort CID PORT BYTES       connect, send BYTES, close without a word
 *   host:   hclient UDS PORT BYTES     CONNECT PORT through UDS (retried until
 *                                      the guest listens), send, check the answer
 *           hserve PATH COUNT          listen on PATH (UDS_<port>), serve COUNT
 *                                      connections as `listen` does
 *           habort UDS PORT BYTES      CONNECT, send BYTES, vanish
 * Prints one line per result; exits 0 when every check held. */
#include <errno.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

struct stream {
    uint64_t x;     /* the byte generator's state */
    uint64_t sum;   /* FNV-1a over the bytes */
    uint64_t count;
};

static void stream_init(struct stream *s) { *s = (struct stream){.x = 0x9e3779b97f4a7c15ULL, .sum = 0xcbf29ce484222325ULL}; }

static void stream_fill(struct stream *s, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s->x ^= s->x << 13, s->x ^= s->x >> 7, s->x ^= s->x << 17;
        buf[i] = (uint8_t)s->x;
    }
}

static void stream_sum(struct stream *s, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s->sum = (s->sum ^ buf[i]) * 0x100000001b3ULL;
    s->count += n;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Sends `bytes` of the stream; its sum into *sent. */
static int send_stream(int fd, uint64_t bytes, struct stream *sent)
{
    static uint8_t buf[CHUNK];
    stream_init(sent);
    while (sent->count < bytes) {
        size_t n = bytes - sent->count < CHUNK ? (size_t)(bytes - sent->count) : CHUNK;
        stream_fill(sent, buf, n);
        stream_sum(sent, buf, n);
        if (write_all(fd, buf, n) < 0)
            return -1;
    }
    return 0;
}

/* Reads to EOF and answers the sum. */
static int serve_one(int fd, const char *who)
{
    static uint8_t buf[CHUNK];
    struct stream got;
    stream_init(&got);
    double t0 = now();
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            printf("%s: read failed after %" PRIu64 " bytes: %s\n", who, got.count, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        stream_sum(&got, buf, (size_t)n);
    }
    char line[64];
    int l = snprintf(line, sizeof(line), "sum %016" PRIx64 " %" PRIu64 "\n", got.sum, got.count);
    int r = write_all(fd, (uint8_t *)line, (size_t)l);
    if (got.count >= (1u << 20))
        printf("%s: received %" PRIu64 " bytes in %.2f s\n", who, got.count, now() - t0);
    close(fd);
    return r;
}

/* Half-closes and checks the peer's answer against what was sent. */
static int check_answer(int fd, const struct stream *sent, const char *who, double t0)
{
    shutdown(fd, SHUT_WR);
    char line[64] = {0};
    size_t have = 0;
    while (have < sizeof(line) - 1) {
        ssize_t n = read(fd, line + have, sizeof(line) - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        if (memchr(line, '\n', have))
            break;
    }
    close(fd);
    char want[64];
    snprintf(want, sizeof(want), "sum %016" PRIx64 " %" PRIu64 "\n", sent->sum, sent->count);
    if (strcmp(line, want)) {
        printf("%s: %" PRIu64 " bytes sent, the peer answered '%.40s' instead of '%.40s'\n", who, sent->count, line,
               want);
        return -1;
    }
    if (sent->count >= (1u << 20))
        printf("%s: %" PRIu64 " bytes sent and checked (sum %016" PRIx64 ") in %.2f s\n", who, sent->count, sent->sum,
               now() - t0);
    return 0;
}

static int vsock_connect(unsigned cid, unsigned port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Firecracker's host side: CONNECT <port>, then "OK <host port>". */
static int uds_connect(const char *uds, unsigned port)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        goto fail;
    char line[32];
    int l = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    if (write_all(fd, (uint8_t *)line, (size_t)l) < 0)
        goto fail;
    size_t have = 0;
    while (have < sizeof(line) - 1) { /* byte by byte: what follows the line is the guest's */
        ssize_t n = read(fd, line + have, 1);
        if (n <= 0)
            goto fail;
        if (line[have++] == '\n')
            break;
    }
    line[have] = 0;
    if (strncmp(line, "OK ", 3))
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

static int listen_on(int family, const char *path, unsigned port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int r;
    if (family == AF_VSOCK) {
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        unlink(path);
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (r < 0 || listen(fd, 64) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int serve(int family, const char *path, unsigned port, long count, const char *who)
{
    int l = listen_on(family, path, port);
    if (l < 0) {
        printf("%s: cannot listen: %s\n", who, strerror(errno));
        return 1;
    }
    printf("%s: listening\n", who);
    fflush(stdout);
    int bad = 0;
    for (long i = 0; i < count; i++) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            printf("%s: accept: %s\n", who, strerror(errno));
            return 1;
        }
        bad += serve_one(fd, who) < 0;
    }
    printf("%s: served %ld connections, %d failed\n", who, count, bad);
    return bad != 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-stream is a result, not our end */
    if (argc < 2)
        goto usage;
    const char *m = argv[1];
    if (!strcmp(m, "listen") && argc == 4)
        return serve(AF_VSOCK, NULL, (unsigned)atoi(argv[2]), atol(argv[3]), "guest listen");
    if (!strcmp(m, "hserve") && argc == 4)
        return serve(AF_UNIX, argv[2], 0, atol(argv[3]), "host serve");
    if ((!strcmp(m, "send") || !strcmp(m, "abort")) && argc == 5) {
        double t0 = now();
        int fd = vsock_connect((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
        if (fd < 0) {
            printf("guest %s: connect to %s:%s: %s\n", m, argv[2], argv[3], strerror(errno));
            return 1;
        }
        struct stream sent;
        int r = send_stream(fd, strtoull(argv[4], NULL, 10), &sent);
        if (!strcmp(m, "abort")) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            printf("guest abort: sent %" PRIu64 " bytes and closed at once\n", sent.count);
            return 0;
        }
        return r < 0 || check_answer(fd, &sent, "guest send", t0) < 0;
    }
    if (!strcmp(m, "many") && argc == 5) {
        long n = atol(argv[4]), ok = 0;
        for (long i = 0; i < n; i++) {
            int fd = vsock_connect((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
            struct stream sent;
            if (fd >= 0 && send_stream(fd, 1024, &sent) == 0 && check_answer(fd, &sent, "guest many", 0) == 0)
                ok++;
            else if (fd >= 0)
                close(fd);
        }
        printf("guest many: %ld of %ld connections opened, checked and closed\n", ok, n);
        return ok != n;
    }
    if ((!strcmp(m, "hclient") || !strcmp(m, "habort")) && argc == 5) {
        int fd = -1;
        for (int i = 0; i < 600 && fd < 0; i++) { /* the guest may not listen yet */
            fd = uds_connect(argv[2], (unsigned)atoi(argv[3]));
            if (fd < 0)
                usleep(100000);
        }
        if (fd < 0) {
            printf("host %s: no CONNECT %s through %s\n", m, argv[3], argv[2]);
            return 1;
        }
        double t0 = now();
        struct stream sent;
        int r = send_stream(fd, strtoull(argv[4], NULL, 10), &sent);
        if (!strcmp(m, "habort")) {
            close(fd);
            printf("host abort: sent %" PRIu64 " bytes and vanished\n", sent.count);
            return 0;
        }
        return r < 0 || check_answer(fd, &sent, "host client", t0) < 0;
    }
usage:
    fprintf(stderr, "usage: vsock-test listen PORT COUNT | send CID PORT BYTES | many CID PORT N | abort CID PORT BYTES\n"
                    "       | hclient UDS PORT BYTES | hserve PATH COUNT | habort UDS PORT BYTES\n");
    return 2;
}
