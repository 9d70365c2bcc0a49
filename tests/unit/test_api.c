/* The control API's pieces on their own: the HTTP server's limits and
 * framing (raw bytes over its Unix socket, answered by a test handler), the
 * Firecracker-shaped configuration parser, and the metrics' differences. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "check.h"
#include "util/clock.h"

static char sock_path[108];
static struct http_server srv;
static int handled;

/* Echoes "METHOD PATH BODYLEN" in a fault body, 200 for GET, 204 otherwise. */
static void echo_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
    (void)ctx;
    handled++;
    resp->status = !strcmp(req->method, "GET") ? 200 : 204;
    resp->body = http_fault_body("%s %s %zu", req->method, req->path, req->body_len);
}

/* Opens the server without starting its thread, so a test can shorten its
 * limits first. */
static void open_server(void)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/ember-test-api-%d.sock", getpid());
    unlink(sock_path);
    handled = 0;
    CHECK(http_server_open(&srv, sock_path, echo_handler, NULL, NULL) == 0);
}

static void start(void)
{
    open_server();
    CHECK(http_server_start(&srv) == 0);
}

static int client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends req, reads until the server closes or `answers` responses came. */
static size_t exchange(int fd, const char *req, size_t len, char *out, size_t cap, int answers)
{
    if (len && write(fd, req, len) != (ssize_t)len)
        return 0;
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        int seen = 0;
        for (const char *p = out; (p = strstr(p, "HTTP/1.1 ")); p++)
            seen++;
        /* each answer here has a body ending in "}" */
        if (answers && seen >= answers && out[n - 1] == '}')
            break;
    }
    out[n] = '\0';
    return n;
}

static unsigned ms_since(uint64_t t0) { return (unsigned)((clock_monotonic_ns() - t0) / 1000000); }

/* The bytes malloc'd and not yet freed in this process, the server's
 * included (it runs here): ASan's count in build-san, glibc's otherwise. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));
static size_t heap_in_use(void)
{
    if (__sanitizer_get_current_allocated_bytes)
        return __sanitizer_get_current_allocated_bytes();
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* Pipelines "GET /" on fd and never reads an answer, until the server stops
 * taking requests (no room to send for 300 ms) or max_ms pass. Returns the
 * bytes sent. */
static size_t pipeline_without_reading(int fd, unsigned max_ms)
{
    static const char get[] = "GET / HTTP/1.1\r\n\r\n";
    static char reqs[(sizeof(get) - 1) * 900];
    for (size_t i = 0; i < sizeof(reqs); i += sizeof(get) - 1)
        memcpy(reqs + i, get, sizeof(get) - 1);
    size_t sent = 0, off = 0; /* off: where in reqs the stream is, across partial sends */
    uint64_t t0 = clock_monotonic_ns();
    while (ms_since(t0) < max_ms) {
        ssize_t n = send(fd, reqs + off, sizeof(reqs) - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            off = (off + (size_t)n) % sizeof(reqs);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (n < 0 && errno == EAGAIN && poll(&p, 1, 300) == 0)
            break; /* the server stopped reading */
        if (n < 0 && errno != EAGAIN)
            break;
    }
    return sent;
}

/* A new client's GET /, answered: how long it took, or -1 without a 200. */
static int ms_to_serve_a_new_client(void)
{
    uint64_t t0 = clock_monotonic_ns();
    int fd = client();
    char out[4096] = "";
    if (fd >= 0)
        exchange(fd, "GET / HTTP/1.1\r\n\r\n", 18, out, sizeof(out), 1);
    if (fd >= 0)
        close(fd);
    return strstr(out, "HTTP/1.1 200 OK") ? (int)ms_since(t0) : -1;
}

TEST(a_request_is_answered_and_the_socket_is_private)
{
    start();
    struct stat st;
    CHECK(stat(sock_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    int fd = client();
    char out[4096];
    const char req[] = "PUT /machine-config?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
    exchange(fd, req, sizeof(req) - 1, out, sizeof(out), 0); /* until the server closes */
    CHECK(strstr(out, "HTTP/1.1 204 No Content\r\n") != NULL);
    CHECK(strstr(out, "Connection: close") != NULL);
    CHECK(strstr(out, "Content-Length") == NULL); /* 204 has no body */
    close(fd);
    http_server_close(&srv);
    CHECK(access(sock_path, F_OK) < 0); /* removed */
}

TEST(pipelined_and_kept_alive_requests_each_get_an_answer)
{
    start();
    int fd = client();
    char out[8192];
    const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(fd, req, sizeof(req) - 1, out, sizeof(out), 2);
    const char *a = strstr(out, "GET /a 0"), *b = strstr(out, "GET /b 0");
    CHECK(a && b && a < b);
    exchange(fd, "GET /c HTTP/1.1\r\n\r\n", 19, out, sizeof(out), 1); /* same connection */
    CHECK(strstr(out, "GET /c 0") != NULL);
    close(fd);
    http_server_close(&srv);
}

TEST(an_oversized_body_is_refused_before_it_is_read)
{
    start();
    int fd = client();
    char out[4096];
    const char req[] = "PUT /x HTTP/1.1\r\nContent-Length: 51201\r\n\r\n";
    exchange(fd, req, sizeof(req) - 1, out, sizeof(out), 0);
    CHECK(strstr(out, "HTTP/1.1 400 ") != NULL);
    CHECK(strstr(out, "larger than the limit of 51200") != NULL);
    CHECK(strstr(out, "Connection: close") != NULL);
    CHECK_EQ(handled, 0);
    close(fd);
    http_server_close(&srv);
}

TEST(a_chunked_body_is_counted_as_it_comes)
{
    start();
    int fd = client();
    char out[4096];
    const char head[] = "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(write(fd, head, sizeof(head) - 1) == (ssize_t)sizeof(head) - 1);
    char chunk[40000 + 32];
    int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 40000);
    memset(chunk + n, 'a', 40000);
    memcpy(chunk + n + 40000, "\r\n", 2);
    CHECK(write(fd, chunk, (size_t)n + 40002) == (ssize_t)n + 40002);
    exchange(fd, chunk, (size_t)n + 40002, out, sizeof(out), 0); /* 80000 bytes in all */
    CHECK(strstr(out, "larger than the limit") != NULL);
    CHECK_EQ(handled, 0);
    close(fd);
    http_server_close(&srv);
}

TEST(garbage_and_too_many_headers_get_400)
{
    start();
    char out[4096];
    int fd = client();
    exchange(fd, "\x01\x02 nonsense\r\n\r\n", 15, out, sizeof(out), 0);
    CHECK(strstr(out, "HTTP/1.1 400 ") && strstr(out, "not valid HTTP/1.1"));
    close(fd);
    fd = client();
    char req[8192];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "X-%d: 1\r\n", i);
    n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    exchange(fd, req, (size_t)n, out, sizeof(out), 0);
    CHECK(strstr(out, "more than 64 headers") != NULL);
    close(fd);
    fd = client(); /* one header line longer than the header limit */
    memset(req, 'a', sizeof(req));
    memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
    exchange(fd, req, sizeof(req), out, sizeof(out), 0);
    CHECK(strstr(out, "HTTP/1.1 400 ") != NULL);
    close(fd);
    CHECK_EQ(handled, 0);
    http_server_close(&srv);
}

TEST(a_slow_client_is_told_and_dropped)
{
    start();
    int fd = client();
    char out[4096];
    /* Half a request, then nothing: after the request timeout, 400 and close. */
    exchange(fd, "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 42, out, sizeof(out), 0);
    CHECK(strstr(out, "did not arrive whole in time") != NULL);
    CHECK_EQ(handled, 0);
    close(fd);
    http_server_close(&srv);
}

TEST(a_client_that_never_reads_its_answers_is_held_to_a_bounded_buffer)
{
    start();
    size_t before = heap_in_use();
    int fd = client();
    size_t sent = pipeline_without_reading(fd, 1500);
    size_t grown = heap_in_use() - before; /* the server's buffers for it, and little else */
    int ms = ms_to_serve_a_new_client();
    if (grown >= 256 * 1024 || ms < 0 || ms > 1000)
        fprintf(stderr, "  sent %zu bytes of requests, the heap grew by %zu bytes, a new client served in %d ms\n", sent,
                grown, ms);
    /* HTTP_OUTPUT_LIMIT, one answer past it, the read buffer and the connection */
    CHECK(grown < 256 * 1024);
    CHECK(ms >= 0 && ms < 1000);
    close(fd);
    http_server_close(&srv);
}

TEST(a_client_that_stops_reading_is_dropped)
{
    open_server();
    srv.limits.stalled_write_timeout_ms = 300;
    CHECK(http_server_start(&srv) == 0);
    int fd = client();
    pipeline_without_reading(fd, 1500);
    usleep(800 * 1000); /* more than the limit without reading a byte */
    /* What ember had sent is still there to read, then nothing: dropped. */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[65536];
    ssize_t r;
    size_t drained = 0;
    uint64_t t0 = clock_monotonic_ns();
    while ((r = read(fd, buf, sizeof(buf))) > 0 && ms_since(t0) < 3000)
        drained += (size_t)r;
    bool dropped = r == 0 || (r < 0 && errno == ECONNRESET); /* reset: the requests it never read */
    if (!dropped)
        fprintf(stderr, "  not dropped: %zu bytes read in %u ms, and more coming\n", drained, ms_since(t0));
    CHECK(dropped);
    close(fd);
    CHECK_EQ(ms_to_serve_a_new_client() >= 0, 1);
    http_server_close(&srv);
}

/* Whether the server closed fd within ms (reads nothing more, then EOF). */
static bool closed_within(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b;
    return read(fd, &b, 1) == 0;
}

TEST(idle_connections_do_not_lock_other_clients_out)
{
    start();
    int idle[HTTP_MAX_CONNECTIONS];
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        idle[i] = client();
        usleep(2000); /* accepted in this order: idle[0] has been idle longest */
    }
    usleep(100 * 1000);
    int ms = ms_to_serve_a_new_client(); /* the table is full of them */
    if (ms < 0 || ms > 1000)
        fprintf(stderr, "  with %d idle connections, a new client %s\n", HTTP_MAX_CONNECTIONS,
                ms < 0 ? "was refused" : "was served late");
    CHECK(ms >= 0 && ms < 1000);
    CHECK(closed_within(idle[0], 500)); /* made room */
    CHECK(!closed_within(idle[1], 100));
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
        close(idle[i]);
    http_server_close(&srv);
}

TEST(a_connection_that_never_asks_is_closed_sooner_than_one_that_did)
{
    open_server();
    srv.limits.first_request_timeout_ms = 300;
    CHECK(http_server_start(&srv) == 0);
    int quiet = client(), served = client();
    char out[4096];
    exchange(served, "GET / HTTP/1.1\r\n\r\n", 18, out, sizeof(out), 1);
    uint64_t t0 = clock_monotonic_ns();
    bool closed = closed_within(quiet, 2000);
    if (!closed)
        fprintf(stderr, "  a connection that never sent a byte is still open after %u ms\n", ms_since(t0));
    CHECK(closed);
    CHECK(!closed_within(served, 100)); /* the idle limit after a request is the long one */
    exchange(served, "GET / HTTP/1.1\r\n\r\n", 18, out, sizeof(out), 1);
    CHECK(strstr(out, "HTTP/1.1 200 OK") != NULL);
    close(quiet);
    close(served);
    http_server_close(&srv);
}

TEST(connections_with_a_request_in_progress_are_not_closed_to_make_room)
{
    start();
    int busy[HTTP_MAX_CONNECTIONS];
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        busy[i] = client();
        CHECK(write(busy[i], "GET / HTTP/1.1\r\n", 16) == 16); /* the rest to follow */
    }
    usleep(100 * 1000);
    CHECK_EQ(ms_to_serve_a_new_client(), -1); /* 503: none of them is idle */
    char out[4096];
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        out[0] = '\0';
        exchange(busy[i], "\r\n", 2, out, sizeof(out), 1);
        CHECK(strstr(out, "HTTP/1.1 200 OK") != NULL);
        close(busy[i]);
    }
    http_server_close(&srv);
}

TEST(a_path_that_is_a_file_is_kept_and_refused)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/ember-test-api-file-%d", getpid());
    FILE *f = fopen(sock_path, "w");
    fputs("data", f);
    fclose(f);
    CHECK(http_server_open(&srv, sock_path, echo_handler, NULL, NULL) < 0);
    http_server_close(&srv);
    struct stat st;
    CHECK(stat(sock_path, &st) == 0 && st.st_size == 4);
    unlink(sock_path);
}

/* --- configuration -------------------------------------------------------------- */

static json_t *j(const char *text)
{
    char err[FC_ERR_MAX];
    json_t *o = fc_parse_body(text, strlen(text), err);
    CHECK(o != NULL);
    return o;
}

TEST(machine_config_rules)
{
    struct fc_config c;
    fc_config_init(&c);
    char err[FC_ERR_MAX];
    json_t *o;
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":4,\"mem_size_mib\":512}"), false, err) == 0);
    json_decref(o);
    CHECK(c.vcpus == 4 && c.mem_mib == 512);
    CHECK(fc_put_machine_config(&c, o = j("{\"mem_size_mib\":256}"), true, err) == 0); /* PATCH: partial */
    json_decref(o);
    CHECK(c.vcpus == 4 && c.mem_mib == 256);
    CHECK(fc_put_machine_config(&c, o = j("{\"mem_size_mib\":256}"), false, err) < 0); /* PUT: both needed */
    json_decref(o);
    CHECK(strstr(err, "missing field `vcpu_count`") != NULL);
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":33,\"mem_size_mib\":256}"), false, err) < 0);
    json_decref(o);
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":3,\"mem_size_mib\":256,\"smt\":true}"), false, err) < 0);
    json_decref(o); /* SMT: 1 or an even number of vCPUs, as in Firecracker */
    CHECK(strstr(err, "only be 1 or an even number when SMT") != NULL);
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":2,\"mem_size_mib\":256,\"smt\":true}"), false, err) == 0);
    json_decref(o);
    CHECK(c.smt && c.vcpus == 2);
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":4,\"mem_size_mib\":256}"), false, err) == 0);
    json_decref(o);
    CHECK(c.smt); /* kept when not given (firectl sends it; a partial update need not) */
    CHECK(fc_put_machine_config(&c, o = j("{\"vcpu_count\":-1,\"mem_size_mib\":256}"), false, err) < 0);
    json_decref(o);
    CHECK(c.vcpus == 4); /* a failed update changes nothing */
    char *e2 = err;
    CHECK(fc_parse_body("{\"a\":1,\"a\":2}", 13, e2) == NULL); /* duplicate keys */
    fc_config_free(&c);
}

/* Firecracker's balloon bodies: required fields, ranges, the size bound, and
 * the after-boot rules for PATCH. */
TEST(balloon_bodies)
{
    struct fc_config c;
    fc_config_init(&c); /* 128 MiB */
    char err[FC_ERR_MAX];
    json_t *o;
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":16}"), err) < 0);
    json_decref(o);
    CHECK(strstr(err, "missing field `deflate_on_oom`") != NULL);
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":129,\"deflate_on_oom\":false}"), err) < 0);
    json_decref(o);
    CHECK(!strcmp(err, "Amount of pages requested is too large."));
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":1,\"deflate_on_oom\":true,\"stats_polling_interval_s\":65536}"),
                         err) < 0);
    json_decref(o);
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":1,\"deflate_on_oom\":true,\"free_page_hinting\":true}"), err) < 0);
    json_decref(o);
    CHECK(strstr(err, "free_page_hinting: not built") != NULL);
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":1,\"deflate_on_oom\":true,\"bogus\":1}"), err) < 0);
    json_decref(o);
    CHECK(!c.balloon);
    CHECK(fc_put_balloon(&c, o = j("{\"amount_mib\":16,\"deflate_on_oom\":true,\"stats_polling_interval_s\":2,"
                                   "\"free_page_reporting\":true}"),
                         err) == 0);
    json_decref(o);
    CHECK(c.balloon && c.balloon_cfg.amount_mib == 16 && c.balloon_cfg.deflate_on_oom &&
          c.balloon_cfg.stats_polling_interval_s == 2 && c.balloon_cfg.free_page_reporting);
    json_t *g = fc_full_config_json(&c);
    json_t *b = json_object_get(g, "balloon");
    CHECK(json_integer_value(json_object_get(b, "amount_mib")) == 16);
    CHECK(json_integer_value(json_object_get(b, "stats_polling_interval_s")) == 2);
    CHECK(json_is_true(json_object_get(b, "deflate_on_oom")));
    json_decref(g);
    uint32_t amount = 0;
    uint16_t interval = 0;
    CHECK(fc_check_balloon_patch(&c, o = j("{\"amount_mib\":64}"), &amount, err) == 0 && amount == 64);
    json_decref(o);
    CHECK(fc_check_balloon_patch(&c, o = j("{\"amount_mib\":4096}"), &amount, err) < 0);
    json_decref(o);
    CHECK(fc_check_balloon_stats_patch(&c, o = j("{\"stats_polling_interval_s\":0}"), &interval, err) < 0);
    json_decref(o);
    CHECK(!strcmp(err, "Cannot enable/disable the statistics after boot."));
    CHECK(fc_check_balloon_stats_patch(&c, o = j("{\"stats_polling_interval_s\":9}"), &interval, err) == 0 &&
          interval == 9);
    json_decref(o);
    c.balloon_cfg.stats_polling_interval_s = 0; /* booted without statistics: none can be turned on */
    CHECK(fc_check_balloon_stats_patch(&c, o = j("{\"stats_polling_interval_s\":1}"), &interval, err) < 0);
    json_decref(o);
    fc_config_free(&c);
}

TEST(drives_root_first_and_command_line)
{
    struct fc_config c;
    fc_config_init(&c);
    char err[FC_ERR_MAX];
    json_t *o;
    CHECK(fc_put_boot_source(&c, o = j("{\"kernel_image_path\":\"/dev/null\"}"), err) < 0); /* not a file */
    json_decref(o);
    char k[64];
    snprintf(k, sizeof(k), "/tmp/ember-test-kernel-%d", getpid());
    FILE *f = fopen(k, "w");
    fputs("k", f);
    fclose(f);
    char body[256];
    snprintf(body, sizeof(body), "{\"kernel_image_path\":\"%s\",\"boot_args\":\"console=ttyS0\"}", k);
    CHECK(fc_put_boot_source(&c, o = j(body), err) == 0);
    json_decref(o);
    snprintf(body, sizeof(body), "{\"drive_id\":\"data\",\"path_on_host\":\"%s\",\"is_root_device\":false,\"is_read_only\":true}", k);
    CHECK(fc_put_drive(&c, "data", o = j(body), err) == 0);
    json_decref(o);
    snprintf(body, sizeof(body), "{\"drive_id\":\"root\",\"path_on_host\":\"%s\",\"is_root_device\":true,\"is_read_only\":true}", k);
    CHECK(fc_put_drive(&c, "root", o = j(body), err) < 0); /* same image twice */
    json_decref(o);
    CHECK(strstr(err, "already drive data") != NULL);
    snprintf(body, sizeof(body), "{\"drive_id\":\"root\",\"path_on_host\":\"/proc/self/exe\",\"is_root_device\":true,\"is_read_only\":false,\"partuuid\":\"abcd-01\"}");
    CHECK(fc_put_drive(&c, "root", o = j(body), err) == 0);
    json_decref(o);
    struct vm_config cfg = {0};
    CHECK(fc_to_vm_config(&c, &cfg, err) == 0);
    CHECK(cfg.ndisks == 2 && !strcmp(cfg.disks[0].serial, "root") && !strcmp(cfg.disks[1].serial, "data"));
    CHECK(cfg.disks[1].read_only && !cfg.disks[0].read_only);
    CHECK(!strcmp(cfg.boot.cmdline, "console=ttyS0 root=PARTUUID=abcd-01 rw"));
    CHECK(cfg.ncpus == 1 && cfg.ram_size == 128ULL << 20); /* Firecracker's defaults */
    unlink(k);
    fc_config_free(&c);
}

TEST(network_interfaces)
{
    struct fc_config c;
    fc_config_init(&c);
    char err[FC_ERR_MAX];
    json_t *o;
    CHECK(fc_put_network_interface(&c, "eth0", o = j("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"06:00:AC:10:00:02\"}"), err) == 0);
    json_decref(o);
    CHECK(fc_put_network_interface(&c, "eth1", o = j("{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap0\"}"), err) < 0);
    json_decref(o);
    CHECK(strstr(err, "already used by interface eth0") != NULL);
    CHECK(fc_put_network_interface(&c, "eth1", o = j("{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"mtu\":1400}"), err) < 0);
    json_decref(o);
    CHECK(fc_put_network_interface(&c, "e/1", o = j("{\"iface_id\":\"e/1\",\"host_dev_name\":\"tap1\"}"), err) < 0);
    json_decref(o);
    CHECK(c.nnics == 1 && c.nics[0].mac[0] == 0x06 && c.nics[0].mac[5] == 0x02);
    fc_config_free(&c);
}

/* --- metrics --------------------------------------------------------------------- */

TEST(metrics_lines_count_what_happened_since_the_last_one)
{
    json_t *last = json_pack("{s:{s:i, s:i}, s:I, s:{s:s, s:i}}", "block", "read_count", 5, "write_count", 1,
                             "utc_timestamp_ms", (json_int_t)1000, "ember", "state", "Running", "total", 7);
    json_t *now = json_pack("{s:{s:i, s:i, s:i}, s:I, s:{s:s, s:i}}", "block", "read_count", 8, "write_count", 1,
                            "flush_count", 2, "utc_timestamp_ms", (json_int_t)2000, "ember", "state", "Paused", "total", 9);
    json_t *d = metrics_delta(now, last);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "block"), "read_count")), 3);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "block"), "write_count")), 0);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "block"), "flush_count")), 2); /* new */
    CHECK_EQ(json_integer_value(json_object_get(d, "utc_timestamp_ms")), 2000);                  /* a reading */
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(d, "ember"), "total")), 9);      /* totals */
    json_decref(d);
    json_decref(now);
    json_decref(last);
}

RUN_TESTS(CASE(a_request_is_answered_and_the_socket_is_private), CASE(pipelined_and_kept_alive_requests_each_get_an_answer),
          CASE(an_oversized_body_is_refused_before_it_is_read), CASE(a_chunked_body_is_counted_as_it_comes),
          CASE(garbage_and_too_many_headers_get_400), CASE(a_slow_client_is_told_and_dropped),
          CASE(a_client_that_never_reads_its_answers_is_held_to_a_bounded_buffer),
          CASE(a_client_that_stops_reading_is_dropped), CASE(idle_connections_do_not_lock_other_clients_out),
          CASE(a_connection_that_never_asks_is_closed_sooner_than_one_that_did),
          CASE(connections_with_a_request_in_progress_are_not_closed_to_make_room),
          CASE(a_path_that_is_a_file_is_kept_and_refused), CASE(machine_config_rules), CASE(balloon_bodies),
          CASE(drives_root_first_and_command_line), CASE(network_interfaces),
          CASE(metrics_lines_count_what_happened_since_the_last_one))
