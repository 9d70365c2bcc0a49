#include "api/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <ctype.h>
#include <limits.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"

/* epoll data for the server's own descriptors; connections use their slot. */
#define TAG_LISTEN (HTTP_MAX_CONNECTIONS + 1)
#define TAG_STOP (HTTP_MAX_CONNECTIONS + 2)
#define TAG_TICK (HTTP_MAX_CONNECTIONS + 3)

/* One read from a connection: a few pipelined requests, or a part of one.
 * Kept until parsed, so it is also what a connection may hold unparsed. */
#define READ_SIZE 4096

struct http_connection {
    struct http_server *srv;
    int fd;
    int slot;
    http_parser parser;
    char method[16];
    char url[HTTP_MAX_URL + 1];
    size_t url_len;
    char *body;
    size_t body_len;
    unsigned headers;
    bool last_was_value;
    /* The header being read, when it may be Expect (a short name and value). */
    char hname[8], hvalue[16];
    size_t hname_len, hvalue_len;
    bool expect_continue;     /* "Expect: 100-continue": answer 100 before the body */
    bool in_request;          /* bytes of a request have been parsed, not the whole of it */
    bool message_done;
    char error[200];          /* a rule the request broke: answered with 400, then closed */
    uint64_t deadline_ns;     /* when the request in progress (or idleness) times out */
    uint64_t idle_since_ns;   /* accepted, or its last request answered */
    /* Bytes read and not parsed yet: parsing stops while the answers waiting
     * are over the output limit, and nothing more is read until these are
     * parsed, so one read's worth is all a connection holds. */
    char in[READ_SIZE];
    size_t in_len, in_off;
    char *out;                /* bytes of responses not yet written */
    size_t out_len, out_off;
    uint64_t write_progress_ns; /* when output last went out (or began to wait) */
    bool close_after_write;
};

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

char *http_fault_body(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "fault_message", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* --- parser callbacks ------------------------------------------------------ */

static struct http_connection *conn_of(http_parser *p) { return p->data; }

static void fail(struct http_connection *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct http_connection *c, const char *fmt, ...)
{
    if (c->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
}

static int on_message_begin(http_parser *p)
{
    struct http_connection *c = conn_of(p);
    c->url_len = 0;
    c->url[0] = '\0';
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
    c->headers = 0;
    c->last_was_value = true;
    c->expect_continue = false;
    c->message_done = false;
    c->in_request = true;
    c->deadline_ns = clock_monotonic_ns() + c->srv->limits.request_timeout_ms * 1000000ULL;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_connection *c = conn_of(p);
    if (c->url_len + len > HTTP_MAX_URL) {
        fail(c, "The request's URL is longer than the limit of %d bytes.", HTTP_MAX_URL);
        return -1;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static void queue_output(struct http_connection *c, const char *data, size_t len);

/* Appends a piece of a header's name or value, to at most `size` bytes (a
 * longer one is not Expect's: its length marks it so). */
static void header_piece(char *buf, size_t size, size_t *len, const char *at, size_t n)
{
    for (size_t i = 0; i < n; i++, (*len)++)
        if (*len < size)
            buf[*len] = (char)tolower((unsigned char)at[i]);
}

static bool header_is(const char *buf, size_t size, size_t len, const char *want)
{
    return len == strlen(want) && len <= size && !memcmp(buf, want, len);
}

static void header_done(struct http_connection *c)
{
    if (header_is(c->hname, sizeof(c->hname), c->hname_len, "expect") &&
        header_is(c->hvalue, sizeof(c->hvalue), c->hvalue_len, "100-continue"))
        c->expect_continue = true;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_connection *c = conn_of(p);
    if (c->last_was_value) {
        if (c->headers && c->hname_len)
            header_done(c);
        if (++c->headers > HTTP_MAX_HEADERS) {
            fail(c, "The request has more than %d headers.", HTTP_MAX_HEADERS);
            return -1;
        }
        c->hname_len = c->hvalue_len = 0;
    }
    header_piece(c->hname, sizeof(c->hname), &c->hname_len, at, len);
    c->last_was_value = false;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_connection *c = conn_of(p);
    header_piece(c->hvalue, sizeof(c->hvalue), &c->hvalue_len, at, len);
    c->last_was_value = true;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_connection *c = conn_of(p);
    /* ULLONG_MAX: no Content-Length (chunked or none); counted in on_body. */
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->limits.max_body) {
        fail(c, "Request payload with size %llu is larger than the limit of %zu allowed by server.",
             (unsigned long long)p->content_length, c->srv->limits.max_body);
        return -1;
    }
    snprintf(c->method, sizeof(c->method), "%s", http_method_str((enum http_method)p->method));
    if (c->headers && c->hname_len)
        header_done(c);
    /* curl asks before a body over 1 KiB, and waits a second for the answer. */
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    bool body_follows = p->content_length != ULLONG_MAX ? p->content_length > 0 : (p->flags & F_CHUNKED) != 0;
    if (c->expect_continue && body_follows)
        queue_output(c, cont, sizeof(cont) - 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_connection *c = conn_of(p);
    size_t max = c->srv->limits.max_body;
    if (c->body_len + len > max) {
        fail(c, "Request payload with size %zu is larger than the limit of %zu allowed by server.", c->body_len + len,
             max);
        return -1;
    }
    if (!c->body && !(c->body = malloc(max + 1))) {
        fail(c, "Out of memory for the request body.");
        return -1;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_connection *c = conn_of(p);
    c->message_done = true;
    /* One request at a time: the parser stops here, the request is answered,
     * and parsing resumes on the bytes after it (pipelined requests). */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --- connections ----------------------------------------------------------- */

static void conn_close(struct http_connection *c)
{
    struct http_server *srv = c->srv;
    epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    srv->conns[c->slot] = NULL;
    free(c->body);
    free(c->out);
    free(c);
}

static size_t unsent(const struct http_connection *c) { return c->out_len - c->out_off; }

static void queue_output(struct http_connection *c, const char *data, size_t len)
{
    if (!unsent(c))
        c->write_progress_ns = clock_monotonic_ns(); /* the stall clock starts now */
    /* What was written is dropped first, so the buffer holds only what waits. */
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, unsent(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    char *n = realloc(c->out, c->out_len + len);
    if (!n) {
        c->close_after_write = true;
        return;
    }
    c->out = n;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* deprecated: the request used something its API deprecates (Firecracker's
 * "Deprecation: true" header). */
static void queue_response(struct http_connection *c, int status, const char *body, bool close_conn, bool deprecated)
{
    char head[256];
    size_t blen = body ? strlen(body) : 0;
    const char *conn = close_conn ? "Connection: close\r\n" : "", *dep = deprecated ? "Deprecation: true\r\n" : "";
    int n;
    if (status == 204 || !body)
        n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nServer: ember\r\n%s%s\r\n", status,
                     http_status_text(status), conn, dep);
    else
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nServer: ember\r\n%s%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     status, http_status_text(status), conn, dep, blen);
    queue_output(c, head, (size_t)n);
    if (status != 204 && body)
        queue_output(c, body, blen);
    if (close_conn)
        c->close_after_write = true;
}

/* Writes what it can; returns false when the connection is gone. */
static bool flush_output(struct http_connection *c)
{
    while (unsent(c)) {
        /* MSG_NOSIGNAL: a peer gone is EPIPE here, not a SIGPIPE. */
        ssize_t n = send(c->fd, c->out + c->out_off, unsent(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0) {
            conn_close(c);
            return false;
        }
        c->out_off += (size_t)n;
        c->write_progress_ns = clock_monotonic_ns();
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after_write) {
        conn_close(c);
        return false;
    }
    return true;
}

/* Requests are parsed (and so answered) only while the answers waiting fit
 * under the limit: a client that does not read them stops being served. */
static bool may_parse(const struct http_connection *c)
{
    return !c->close_after_write && unsent(c) <= c->srv->limits.output_limit;
}

/* More is read only when all that was read is parsed. */
static bool wants_input(const struct http_connection *c) { return may_parse(c) && c->in_off == c->in_len; }

static void watch(struct http_connection *c)
{
    struct epoll_event ev = {.events = (wants_input(c) ? EPOLLIN : 0) | (unsent(c) ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)c->slot};
    epoll_ctl(c->srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void reject(struct http_connection *c, const char *why)
{
    c->srv->bad_requests++;
    log_debug("api: bad request: %s", why);
    char *body = http_fault_body("%s", why);
    queue_response(c, 400, body, true, false);
    free(body);
    c->in_request = false; /* answered: its timer must not fire again */
}

static void dispatch(struct http_connection *c)
{
    struct http_server *srv = c->srv;
    srv->requests++;
    struct http_parser_url u;
    http_parser_url_init(&u);
    char path[HTTP_MAX_URL + 1];
    if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH))) {
        reject(c, "The request's URL is not a valid path.");
        return;
    }
    snprintf(path, sizeof(path), "%.*s", (int)u.field_data[UF_PATH].len, c->url + u.field_data[UF_PATH].off);
    if (c->body)
        c->body[c->body_len] = '\0';
    struct http_request req = {.method = c->method, .path = path, .body = c->body ? c->body : "", .body_len = c->body_len};
    struct http_response resp = {.status = 500};
    srv->handler(srv->ctx, &req, &resp);
    bool keep = http_should_keep_alive(&c->parser);
    queue_response(c, resp.status, resp.body, !keep, resp.deprecated);
    free(resp.body);
}

/* Parses and answers the requests read, one at a time, until the input is
 * used up, the connection is to close, or the answers waiting pass the
 * output limit (the rest waits in c->in). */
static void parse_input(struct http_connection *c)
{
    while (c->in_off < c->in_len && may_parse(c)) {
        c->in_off += http_parser_execute(&c->parser, &parser_settings, c->in + c->in_off, c->in_len - c->in_off);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (err == HPE_PAUSED && c->message_done) {
            dispatch(c);
            http_parser_pause(&c->parser, 0);
            c->message_done = false;
            c->in_request = false;
            c->idle_since_ns = clock_monotonic_ns();
            c->deadline_ns = c->idle_since_ns + c->srv->limits.idle_timeout_ms * 1000000ULL;
            continue;
        }
        if (err != HPE_OK) {
            if (!c->error[0])
                fail(c, "The request is not valid HTTP/1.1: %s.", http_errno_description(err));
            reject(c, c->error);
        }
    }
}

/* Parses what it may, writes what it can, and again while writing made room
 * for more; then waits for what is next. False when the connection is gone. */
static bool conn_progress(struct http_connection *c)
{
    do {
        parse_input(c);
        if (!flush_output(c))
            return false;
    } while (c->in_off < c->in_len && may_parse(c));
    watch(c);
    return true;
}

static void conn_readable(struct http_connection *c)
{
    ssize_t n = read(c->fd, c->in, sizeof(c->in));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* The peer is gone, or finished sending (a half-close after its
         * request is fine: answer what was asked, then close). */
        if (n == 0 && unsent(c)) {
            c->close_after_write = true;
            watch(c);
            return;
        }
        conn_close(c);
        return;
    }
    c->in_len = (size_t)n;
    c->in_off = 0;
    conn_progress(c);
}

/* Waiting for its client and for nothing else: no request in progress, no
 * answer or unparsed bytes held. */
static bool conn_idle(const struct http_connection *c)
{
    return !c->in_request && !unsent(c) && c->in_off == c->in_len && !c->close_after_write;
}

/* A free slot; when there is none, the one of the connection idle longest,
 * closed: a table full of idle connections must not lock clients out. -1
 * when every connection is busy. */
static int free_slot(struct http_server *srv)
{
    int oldest_idle = -1;
    for (int i = 0; i < (int)srv->limits.max_connections; i++) {
        struct http_connection *c = srv->conns[i];
        if (!c)
            return i;
        if (conn_idle(c) && (oldest_idle < 0 || c->idle_since_ns < srv->conns[oldest_idle]->idle_since_ns))
            oldest_idle = i;
    }
    if (oldest_idle >= 0) {
        log_debug("api: closing the connection idle longest to make room for a new one");
        conn_close(srv->conns[oldest_idle]);
    }
    return oldest_idle;
}

int http_server_add_connection(struct http_server *srv, int fd)
{
    int slot = free_slot(srv);
    struct http_connection *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        /* Full: say so and hang up rather than leave the client waiting. */
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nServer: ember\r\nConnection: close\r\n"
                                   "Content-Type: application/json\r\nContent-Length: 70\r\n\r\n"
                                   "{\"fault_message\":\"Too many connections to the API socket; try again.\"}";
        ssize_t r = write(fd, busy, sizeof(busy) - 1);
        (void)r;
        close(fd);
        srv->refused_connections++;
        return -1;
    }
    c->srv = srv;
    c->fd = fd;
    c->slot = slot;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->idle_since_ns = clock_monotonic_ns();
    c->deadline_ns = c->idle_since_ns + srv->limits.first_request_timeout_ms * 1000000ULL;
    srv->conns[slot] = c;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)slot};
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void accept_connection(struct http_server *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        http_server_add_connection(srv, fd);
}

/* When a connection's time is up: a request in progress must be whole in
 * time, and answers waiting must be taken in time (a connection with
 * answers waiting is not idle). */
static uint64_t conn_deadline(const struct http_connection *c)
{
    if (!unsent(c))
        return c->deadline_ns;
    uint64_t stalled = c->write_progress_ns + c->srv->limits.stalled_write_timeout_ms * 1000000ULL;
    return c->in_request && c->deadline_ns < stalled ? c->deadline_ns : stalled;
}

void http_server_expire(struct http_server *srv, uint64_t now)
{
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        struct http_connection *c = srv->conns[i];
        if (!c || now < conn_deadline(c))
            continue;
        if (c->in_request && now >= c->deadline_ns) {
            /* A client too slow to send its request: tell it, then hang up. */
            reject(c, "The request did not arrive whole in time.");
            conn_progress(c);
        } else {
            /* Idle too long, or answers waiting and not a byte of them
             * taken in that long: a client that asks and never reads would
             * hold a slot and its answers. */
            if (unsent(c))
                log_debug("api: dropping a client that stopped reading its answers");
            conn_close(c);
        }
    }
}

/* How long until the next connection deadline, in ms, at most max_wait_ms
 * (-1: no limit). */
static int ms_to_next_deadline(const struct http_server *srv, int max_wait_ms)
{
    uint64_t now = clock_monotonic_ns();
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        if (!srv->conns[i])
            continue;
        uint64_t d = conn_deadline(srv->conns[i]);
        uint64_t ms = d > now ? (d - now + 999999) / 1000000 : 0;
        if (ms > INT_MAX)
            ms = INT_MAX;
        if (max_wait_ms < 0 || ms < (uint64_t)max_wait_ms)
            max_wait_ms = (int)ms;
    }
    return max_wait_ms;
}

bool http_server_run_once(struct http_server *srv, int max_wait_ms)
{
    struct epoll_event evs[16];
    int n = epoll_wait(srv->epoll_fd, evs, 16, ms_to_next_deadline(srv, max_wait_ms));
    if (n < 0) {
        if (errno == EINTR)
            return true;
        log_error("api: epoll_wait: %s", strerror(errno));
        return false;
    }
    for (int i = 0; i < n; i++) {
        uint32_t tag = evs[i].data.u32;
        if (tag == TAG_STOP)
            return false;
        if (tag == TAG_LISTEN) {
            accept_connection(srv);
        } else if (tag == TAG_TICK) {
            uint64_t v;
            ssize_t r = read(srv->tick_fd, &v, sizeof(v));
            (void)r;
            if (srv->tick)
                srv->tick(srv->ctx);
        } else if (tag < HTTP_MAX_CONNECTIONS && srv->conns[tag]) {
            struct http_connection *c = srv->conns[tag];
            /* A hang-up while only writing is found by the write. */
            if (wants_input(c) && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                conn_readable(c);
            else
                conn_progress(c);
        }
    }
    http_server_expire(srv, clock_monotonic_ns());
    return true;
}

static void *server_thread(void *arg)
{
    struct http_server *srv = arg;
    pthread_setname_np(pthread_self(), "ember-api");
    seccomp_confine_thread(THREAD_API); /* before the first accept */
    while (http_server_run_once(srv, -1))
        ;
    return NULL;
}

/* A path that exists: a live socket (another VMM) is refused, a stale one
 * replaced, anything else left alone and refused. */
static int check_existing(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (log_error("--api-sock %s: %s", path, strerror(errno)), -1);
    if (!S_ISSOCK(st.st_mode)) {
        log_error("--api-sock %s: the path exists and is not a socket; refusing to replace it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int r = fd >= 0 ? connect(fd, (struct sockaddr *)&a, sizeof(a)) : -1;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (r == 0) {
        log_error("--api-sock %s: another process is serving on this socket", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        log_error("--api-sock %s: exists and cannot be checked: %s", path, strerror(err));
        return -1;
    }
    if (unlink(path) < 0) {
        log_error("--api-sock %s: cannot remove the stale socket: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int http_server_init(struct http_server *srv, http_handler_fn handler, http_tick_fn tick, void *ctx)
{
    memset(srv, 0, sizeof(*srv));
    srv->listen_fd = srv->epoll_fd = srv->stop_fd = srv->tick_fd = -1;
    srv->handler = handler;
    srv->tick = tick;
    srv->ctx = ctx;
    srv->limits = (struct http_limits){
        .max_connections = HTTP_MAX_CONNECTIONS,
        .request_timeout_ms = HTTP_REQUEST_TIMEOUT_S * 1000,
        .first_request_timeout_ms = HTTP_FIRST_REQUEST_TIMEOUT_S * 1000,
        .idle_timeout_ms = HTTP_IDLE_TIMEOUT_S * 1000,
        .output_limit = HTTP_OUTPUT_LIMIT,
        .stalled_write_timeout_ms = HTTP_STALLED_WRITE_TIMEOUT_S * 1000,
        .max_body = HTTP_MAX_BODY,
    };
    http_parser_set_max_header_size(HTTP_MAX_HEADER_BYTES);
    srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    srv->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
    if (srv->epoll_fd < 0 || srv->stop_fd < 0 || srv->tick_fd < 0 || timerfd_settime(srv->tick_fd, 0, &its, NULL) < 0) {
        log_error("api: epoll/eventfd/timerfd: %s", strerror(errno));
        return -1;
    }
    struct epoll_event s = {.events = EPOLLIN, .data.u32 = TAG_STOP};
    struct epoll_event t = {.events = EPOLLIN, .data.u32 = TAG_TICK};
    if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->stop_fd, &s) < 0 ||
        epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->tick_fd, &t) < 0) {
        log_error("api: epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int http_server_open(struct http_server *srv, const char *path, http_handler_fn handler, http_tick_fn tick, void *ctx)
{
    if (http_server_init(srv, handler, tick, ctx) < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof(a.sun_path)) {
        log_error("--api-sock %s: a socket path must be 1 to %zu bytes long", path, sizeof(a.sun_path) - 1);
        return -1;
    }
    if (check_existing(path) < 0)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->listen_fd < 0) {
        log_error("--api-sock %s: socket: %s", path, strerror(errno));
        return -1;
    }
    /* 0600 from the start: no window in which others could connect. */
    mode_t old = umask(0177);
    int r = bind(srv->listen_fd, (struct sockaddr *)&a, sizeof(a));
    int err = errno;
    umask(old);
    if (r < 0) {
        log_error("--api-sock %s: bind: %s", path, strerror(err));
        return -1;
    }
    srv->path = strdup(path);
    struct epoll_event l = {.events = EPOLLIN, .data.u32 = TAG_LISTEN};
    if (listen(srv->listen_fd, 16) < 0 || epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->listen_fd, &l) < 0) {
        log_error("--api-sock %s: listen: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int http_server_start(struct http_server *srv)
{
    int r = thread_start_no_signals(&srv->thread, server_thread, srv);
    if (r != 0) {
        log_error("api: cannot start its thread: %s", strerror(r));
        return -1;
    }
    srv->running = true;
    return 0;
}

void http_server_close(struct http_server *srv)
{
    if (srv->running) {
        uint64_t one = 1;
        ssize_t r = write(srv->stop_fd, &one, sizeof(one));
        (void)r;
        pthread_join(srv->thread, NULL);
        srv->running = false;
    }
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
        if (srv->conns[i])
            conn_close(srv->conns[i]);
    int *fds[] = {&srv->listen_fd, &srv->epoll_fd, &srv->stop_fd, &srv->tick_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    if (srv->path) {
        unlink(srv->path);
        free(srv->path);
        srv->path = NULL;
    }
}
