/* libFuzzer harness: the API's HTTP server (src/api/http_server.c itself)
 * from raw bytes, the way clients reach it. Each input gets a fresh server
 * without its socket and thread (http_server_init), three connection slots
 * (so a fourth client makes it close the one idle longest, or refuse), a
 * small output limit (so a client that does not read hits it at once), and
 * a trivial handler. The input is a list of steps, each a byte and what
 * follows it: connect a client (a socketpair whose server end is added as
 * if accepted), send it the next N bytes (chunks where the input says, so
 * requests arrive in pieces or pipelined), read some of its answers, or not,
 * half-close, close, or let time pass (every deadline: requests too slow,
 * idle connections, clients that do not read). After each step the server
 * runs its loop without waiting. The server is then closed: any crash,
 * leak, out-of-bounds access or undefined behaviour is a bug. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http_server.h"
#include "util/clock.h"
#include "util/log.h"

#define CLIENTS 4 /* one more than the server's slots */

/* 200 with a body naming the request for GET, 204 otherwise: answers of
 * both shapes, and bodies read whole. */
static void handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)ctx;
    size_t sum = 0;
    for (size_t i = 0; i < req->body_len; i++)
        sum += (unsigned char)req->body[i];
    resp->status = !strcmp(req->method, "GET") ? 200 : 204;
    resp->body = http_fault_body("%s %s %zu %zu", req->method, req->path, req->body_len, sum);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Debug lines too (their formats are code), into nowhere. */
    log_set_level(LOG_DEBUG);
    log_set_file(open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC), false);
    return 0;
}

static void connect_client(struct http_server *srv, int *client)
{
    if (*client >= 0)
        return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    int small = 1; /* the kernel's minimum: its socket fills after a few answers */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    if (http_server_add_connection(srv, sv[0]) < 0) {
        close(sv[1]); /* refused: the server closed its end */
        return;
    }
    *client = sv[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_server srv;
    if (http_server_init(&srv, handler, NULL, NULL) < 0)
        abort();
    srv.limits.max_connections = CLIENTS - 1;
    srv.limits.output_limit = 512;
    int clients[CLIENTS] = {-1, -1, -1, -1};
    uint64_t later = clock_monotonic_ns();
    size_t i = 0;
    while (i < size) {
        uint8_t step = data[i++];
        int *c = &clients[(step >> 3) % CLIENTS];
        size_t n = i < size ? data[i] : 0; /* the step's argument, when it has one */
        switch (step & 7) {
        case 0: connect_client(&srv, c); break;
        case 1:
        case 2:
        case 3: { /* send the next n bytes (what fits in the socket) */
            i++;
            n = n < size - i ? n : size - i;
            if (*c >= 0 && n) {
                ssize_t r = send(*c, data + i, n, MSG_NOSIGNAL);
                (void)r;
            }
            i += n;
            break;
        }
        case 4: { /* read up to n * 64 bytes of answers */
            i++;
            static char sink[256 * 64];
            if (*c >= 0) {
                ssize_t r = read(*c, sink, n * 64);
                (void)r;
            }
            break;
        }
        case 5:
            if (*c >= 0)
                shutdown(*c, SHUT_WR);
            break;
        case 6:
            if (*c >= 0)
                close(*c);
            *c = -1;
            break;
        default: /* n seconds pass, as far as the deadlines are concerned */
            i++;
            later += (uint64_t)n * 1000000000ULL;
            http_server_expire(&srv, later);
            break;
        }
        http_server_run_once(&srv, 0);
    }
    for (int k = 0; k < CLIENTS; k++)
        if (clients[k] >= 0)
            close(clients[k]);
    http_server_run_once(&srv, 0); /* the hang-ups */
    http_server_close(&srv);
    return 0;
}
