#include "console/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "util/log.h"

/* The terminal must be restored however ember exits, including exit() from a
 * fatal path: remember the one console that changed it. */
static struct console *raw_console;

static void restore_terminal(void)
{
    if (raw_console && raw_console->raw_mode) {
        tcsetattr(raw_console->in_fd, TCSAFLUSH, &raw_console->saved_termios);
        raw_console->raw_mode = false;
        log_set_raw_terminal(false);
    }
}

int console_parse(const char *spec, struct console_config *cfg)
{
    if (strcmp(spec, "stdio") == 0) {
        *cfg = (struct console_config){.kind = CONSOLE_STDIO};
        return 0;
    }
    if (strcmp(spec, "none") == 0) {
        *cfg = (struct console_config){.kind = CONSOLE_NONE};
        return 0;
    }
    if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        *cfg = (struct console_config){.kind = CONSOLE_FILE, .path = spec + 5};
        return 0;
    }
    return -1;
}

int console_open(struct console *con, const struct console_config *cfg)
{
    memset(con, 0, sizeof(*con));
    con->kind = cfg->kind;
    con->in_fd = -1;
    con->out_fd = -1;
    con->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (con->wake_efd < 0) {
        log_error("console: eventfd: %s", strerror(errno));
        return -1;
    }
    switch (cfg->kind) {
    case CONSOLE_STDIO:
        con->out_fd = STDOUT_FILENO;
        con->in_fd = STDIN_FILENO;
        con->in_is_tty = isatty(STDIN_FILENO);
        break;
    case CONSOLE_FILE:
        con->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (con->out_fd < 0) {
            log_error("--console file:%s: cannot open: %s", cfg->path, strerror(errno));
            close(con->wake_efd);
            return -1;
        }
        break;
    case CONSOLE_NONE:
        break;
    }
    con->opened = true;
    return 0;
}

void console_write(struct console *con, const uint8_t *buf, size_t len)
{
    if (con->out_fd < 0 || con->output_broken)
        return;
    while (len > 0) {
        ssize_t w = write(con->out_fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = con->out_fd, .events = POLLOUT};
            poll(&p, 1, 100);
            continue;
        }
        if (w <= 0) {
            /* The reader went away (EPIPE): the guest keeps running, its output is dropped. */
            con->output_broken = true;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

size_t console_filter_escape(bool *escape_pending, const uint8_t *in, size_t len, uint8_t *out, bool *quit)
{
    size_t n = 0;
    *quit = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (*escape_pending) {
            *escape_pending = false;
            if (c == 'x' || c == 'X') {
                *quit = true;
                return n;
            }
            if (c == CONSOLE_ESCAPE_CHAR) {
                out[n++] = c;
                continue;
            }
            /* Not an escape after all: pass both bytes on. */
            out[n++] = CONSOLE_ESCAPE_CHAR;
            out[n++] = c;
            continue;
        }
        if (c == CONSOLE_ESCAPE_CHAR) {
            *escape_pending = true;
            continue;
        }
        out[n++] = c;
    }
    return n;
}

static void *input_thread(void *arg)
{
    struct console *con = arg;
    pthread_setname_np(pthread_self(), "ember-console");
    seccomp_confine_thread(THREAD_CONSOLE_INPUT);
    uint8_t raw[256], buf[2 * sizeof(raw)];
    size_t pending = 0, off = 0;
    bool eof = false;
    while (!atomic_load(&con->stopping)) {
        /* Feed what we hold before reading more. */
        while (off < pending) {
            size_t n = con->sink.receive(con->sink.ctx, buf + off, pending - off);
            if (n == 0)
                break;
            off += n;
        }
        if (off == pending)
            off = pending = 0;
        struct pollfd p[2] = {{.fd = con->wake_efd, .events = POLLIN}, {.fd = -1}};
        int nfds = 1;
        if (pending == 0 && !eof) {
            p[1] = (struct pollfd){.fd = con->in_fd, .events = POLLIN};
            nfds = 2;
        }
        /* The timeout covers a guest that leaves its UART in loopback. */
        int r = poll(p, (nfds_t)nfds, pending ? 50 : -1);
        if (r < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rr = read(con->wake_efd, &v, sizeof(v));
            (void)rr;
        }
        if (nfds == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(con->in_fd, raw, sizeof(raw));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                eof = true; /* stdin closed: the guest keeps running without input */
                continue;
            }
            if (con->in_is_tty) {
                bool quit;
                pending = console_filter_escape(&con->escape_pending, raw, (size_t)n, buf, &quit);
                if (quit) {
                    con->sink.quit(con->sink.ctx);
                    break;
                }
            } else {
                memcpy(buf, raw, (size_t)n);
                pending = (size_t)n;
            }
            off = 0;
        }
    }
    return NULL;
}

int console_start_input(struct console *con, const struct console_input_sink *sink)
{
    if (con->in_fd < 0)
        return 0;
    con->sink = *sink;
    if (con->in_is_tty && tcgetattr(con->in_fd, &con->saved_termios) == 0) {
        struct termios raw = con->saved_termios;
        cfmakeraw(&raw);
        if (tcsetattr(con->in_fd, TCSAFLUSH, &raw) == 0) {
            con->raw_mode = true;
            log_set_raw_terminal(true);
            raw_console = con;
            atexit(restore_terminal);
        }
    }
    int r = pthread_create(&con->thread, NULL, input_thread, con);
    if (r != 0) {
        log_error("console: cannot start the input thread: %s", strerror(r));
        restore_terminal();
        return -1;
    }
    con->thread_started = true;
    return 0;
}

void console_notify_rx_space(struct console *con)
{
    uint64_t one = 1;
    ssize_t r = write(con->wake_efd, &one, sizeof(one));
    (void)r;
}

void console_close(struct console *con)
{
    if (!con->opened)
        return;
    con->opened = false;
    atomic_store(&con->stopping, true);
    if (con->thread_started) {
        console_notify_rx_space(con);
        pthread_join(con->thread, NULL);
        con->thread_started = false;
    }
    restore_terminal();
    if (con->kind == CONSOLE_FILE && con->out_fd >= 0)
        close(con->out_fd);
    con->out_fd = -1;
    if (con->wake_efd >= 0)
        close(con->wake_efd);
    con->wake_efd = -1;
}
