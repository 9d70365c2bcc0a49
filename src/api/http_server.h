/* A small HTTP/1.1 server on a Unix socket, for the control API. It runs on
 * its own thread ("ember-api") with an epoll loop; requests are parsed with
 * http-parser (Node's C parser, Debian's libhttp-parser) and handed whole to
 * one handler on that thread, one at a time.
 *
 * Everything a client sends is bounded: the request line and headers
 * (HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADERS), the body (HTTP_MAX_BODY, as
 * Firecracker's 51200 bytes), the number of connections, and time: a request
 * must arrive whole within HTTP_REQUEST_TIMEOUT_S of its first byte, a
 * connection that has not begun one within HTTP_FIRST_REQUEST_TIMEOUT_S is
 * closed, and so is one idle after a request for HTTP_IDLE_TIMEOUT_S. When
 * all HTTP_MAX_CONNECTIONS are taken, the one idle longest is closed to make
 * room (503 only when none is idle). A request that breaks
 * a rule gets 400 with a fault_message saying which, and its connection is
 * closed, since the byte stream can no longer be trusted. What ember sends
 * is bounded too: a client that does not read its answers is not served
 * more (HTTP_OUTPUT_LIMIT), and is dropped when it takes none for
 * HTTP_STALLED_WRITE_TIMEOUT_S. */
#ifndef EMBER_API_HTTP_SERVER_H
#define EMBER_API_HTTP_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_BODY 51200
/* The most --http-api-max-payload-size may raise it to: each of the
 * connections may hold a body this large. */
#define HTTP_MAX_BODY_LIMIT (16u << 20)
#define HTTP_MAX_HEADER_BYTES 8192
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_URL 1024
#define HTTP_MAX_CONNECTIONS 32
/* The defaults of struct http_limits. */
#define HTTP_REQUEST_TIMEOUT_S 5
/* A client connects to ask something: curl and Firecracker's SDKs send their
 * request at once. One that has not begun within 5 s is holding a slot. */
#define HTTP_FIRST_REQUEST_TIMEOUT_S 5
/* Between requests a client may think (a script, a person at curl). */
#define HTTP_IDLE_TIMEOUT_S 300
/* 64 KiB of answers waiting, on top of what the socket holds (about 200 KiB):
 * hundreds of pipelined answers, far more than a client that reads needs
 * (Firecracker's clients send one request and wait for it). It is checked
 * before each request is parsed, so a connection holds at most this and one
 * answer; 32 connections, about 2 MiB. */
#define HTTP_OUTPUT_LIMIT (64 * 1024)
/* Ten seconds without taking a byte of its answers: a client that reads
 * takes them at once; one that does not only holds a slot and memory. */
#define HTTP_STALLED_WRITE_TIMEOUT_S 10

/* The limits that are not about a request's shape, as fields so tests can
 * shorten them; http_server_init sets the defaults above. */
struct http_limits {
    unsigned max_connections;          /* at most HTTP_MAX_CONNECTIONS */
    unsigned request_timeout_ms;       /* a whole request, from its first byte */
    unsigned first_request_timeout_ms; /* from connecting to the first byte of a request */
    unsigned idle_timeout_ms;          /* between requests */
    /* Answers not yet written: above this, nothing more is read from (or
     * parsed for) the connection until its client reads some. */
    size_t output_limit;
    /* Answers waiting that long with not a byte written: the client is dropped. */
    unsigned stalled_write_timeout_ms;
    size_t max_body; /* a request's body, at most HTTP_MAX_BODY_LIMIT (default HTTP_MAX_BODY) */
};

struct http_request {
    const char *method;      /* "GET", "PUT", ... */
    const char *path;        /* the URL's path, without a query */
    const char *body;        /* NUL-terminated; "" when there is none */
    size_t body_len;
};

struct http_response {
    int status;
    char *body;              /* malloc'd JSON, or NULL for none */
    bool deprecated;         /* adds "Deprecation: true" */
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req, struct http_response *resp);
/* Called on the server thread about once a second (periodic work: metrics). */
typedef void (*http_tick_fn)(void *ctx);

struct http_connection;

struct http_server {
    int listen_fd;
    int epoll_fd;
    int stop_fd;
    int tick_fd;
    char *path;
    pthread_t thread;
    bool running;
    http_handler_fn handler;
    http_tick_fn tick;
    void *ctx;
    struct http_limits limits;
    struct http_connection *conns[HTTP_MAX_CONNECTIONS];
    unsigned long requests, bad_requests, refused_connections;
};

/* Binds the socket at path, mode 0600. A path that exists is refused with one
 * line unless it is a socket nobody listens on (a stale one left by a killed
 * VMM), which is replaced. */
int http_server_open(struct http_server *srv, const char *path, http_handler_fn handler, http_tick_fn tick,
                     void *ctx);
int http_server_start(struct http_server *srv);
/* Stops the thread, closes every connection and removes the socket file. */
void http_server_close(struct http_server *srv);

/* The server without its socket and thread, for the fuzz harness: init sets
 * up the epoll loop (http_server_open does this too), add_connection takes a
 * connected socket as if accepted (0, or -1 when it was refused and closed),
 * run_once waits at most max_wait_ms for events, handles them and the
 * deadlines that passed, and returns false when asked to stop. expire acts
 * as if the time were now_ns; http_server_close frees it all. */
int http_server_init(struct http_server *srv, http_handler_fn handler, http_tick_fn tick, void *ctx);
int http_server_add_connection(struct http_server *srv, int fd);
bool http_server_run_once(struct http_server *srv, int max_wait_ms);
void http_server_expire(struct http_server *srv, uint64_t now_ns);

/* {"fault_message": msg} as a malloc'd string (for handlers). */
char *http_fault_body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *http_status_text(int status);

#endif
