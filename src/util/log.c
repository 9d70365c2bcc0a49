#include "util/log.h"
#include "util/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;
static volatile bool raw_terminal;
static _Atomic int log_fd = -1;          /* the log file, or -1 for stderr */
static atomic_bool log_show_level;
static atomic_ulong lines_written, lines_failed;
static __thread char *capture_buf;
static __thread size_t capture_size;

void log_set_raw_terminal(bool raw) { raw_terminal = raw; }
void log_set_level(enum log_level level) { atomic_store(&current_level, level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }
bool log_enabled(enum log_level level) { return level != LOG_OFF && (int)level <= atomic_load(&current_level); }
static const char *instance_id = "ember";
void log_set_instance_id(const char *id) { instance_id = id; }
int log_file_fd(void) { return atomic_load(&log_fd); }
unsigned long log_lines_written(void) { return atomic_load(&lines_written); }
unsigned long log_lines_failed(void) { return atomic_load(&lines_failed); }

static const char *const level_names[] = {[LOG_ERROR] = "Error", [LOG_WARN] = "Warning", [LOG_INFO] = "Info",
                                          [LOG_DEBUG] = "Debug"};

const char *log_level_name(enum log_level level)
{
    return level == LOG_OFF ? "Off" : level_names[level];
}

bool log_level_parse(const char *name, enum log_level *out)
{
    for (int l = LOG_ERROR; l <= LOG_DEBUG; l++)
        if (!strcasecmp(name, level_names[l])) {
            *out = (enum log_level)l;
            return true;
        }
    if (!strcasecmp(name, "Trace")) /* ember has no finer level than Debug */
        *out = LOG_DEBUG;
    else if (!strcasecmp(name, "Warn")) /* Firecracker takes it too */
        *out = LOG_WARN;
    else if (!strcasecmp(name, "Off"))
        *out = LOG_OFF;
    else
        return false;
    return true;
}

void log_set_file(int fd, bool show_level)
{
    atomic_store(&log_show_level, show_level);
    int old = atomic_exchange(&log_fd, fd);
    if (old >= 0 && old != fd)
        close(old);
}

void log_capture(char *buf, size_t size)
{
    capture_buf = size ? buf : NULL;
    capture_size = size;
    if (capture_buf)
        capture_buf[0] = '\0';
}

static void write_line(int fd, char *line, size_t len)
{
    if (raw_terminal && fd == STDERR_FILENO && isatty(fd))
        line[len++] = '\r';
    line[len++] = '\n';
    /* One write(2) per line, so lines from vCPU threads never interleave. */
    if (write(fd, line, len) == (ssize_t)len)
        atomic_fetch_add(&lines_written, 1);
    else
        atomic_fetch_add(&lines_failed, 1);
}

/* Writes one message whose text is formatted already. */
static void log_text(enum log_level level, const char *text)
{
    static const char *const prefix[] = {
        [LOG_ERROR] = "error: ", [LOG_WARN] = "warning: ", [LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
    };
    if (level == LOG_ERROR && capture_buf && !capture_buf[0])
        snprintf(capture_buf, capture_size, "%s", text);
    if (!log_enabled(level))
        return;
    char line[1100];
    size_t max = sizeof(line) - 3; /* room for \r\n */
    int fd = atomic_load(&log_fd);
    if (fd >= 0) {
        /* Firecracker's shape: time, [instance:thread], optional level, text. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char thread[16] = "?";
        pthread_getname_np(pthread_self(), thread, sizeof(thread));
        int n = snprintf(line, max, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ [%s:%s] %s%s%s", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, instance_id, thread,
                         atomic_load(&log_show_level) ? log_level_name(level) : "",
                         atomic_load(&log_show_level) ? " " : "", text);
        write_line(fd, line, n < 0 ? 0 : (size_t)n > max ? max : (size_t)n);
        if (level != LOG_ERROR)
            return;
    }
    int n = snprintf(line, max, "ember: %s%s", prefix[level], text);
    write_line(STDERR_FILENO, line, n < 0 ? 0 : (size_t)n > max ? max : (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char text[1000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_text(level, text);
}

/* One lock for every source: the sources are small structs in the devices,
 * and a message that gets this far is rare by construction. */
static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_admit(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
    pthread_mutex_lock(&ratelimit_lock);
    /* A source's first line opens its window (so a zero-initialized source
     * works whatever the clock reads), as does the end of the last window
     * or a clock that reads earlier than its start (an injected one). */
    if (rl->in_window == 0 || now_ns < rl->window_start_ns || now_ns - rl->window_start_ns >= LOG_RATELIMIT_INTERVAL_NS) {
        rl->window_start_ns = now_ns;
        rl->in_window = 0;
    }
    bool pass = rl->in_window < LOG_RATELIMIT_BURST;
    if (pass) {
        rl->in_window++;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    pthread_mutex_unlock(&ratelimit_lock);
    return pass;
}

static void log_vmsg_ratelimited(struct log_ratelimit *rl, uint64_t now_ns, enum log_level level, const char *fmt,
                                 va_list ap)
{
    /* A message nobody would see neither takes a place in the burst nor counts as suppressed. */
    if (!log_enabled(level))
        return;
    uint64_t suppressed;
    if (!log_ratelimit_admit(rl, now_ns, &suppressed))
        return;
    char text[1000];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (suppressed && n >= 0 && (size_t)n < sizeof(text))
        snprintf(text + n, sizeof(text) - (size_t)n, " (%llu similar messages suppressed)",
                 (unsigned long long)suppressed);
    log_text(level, text);
}

void log_msg_ratelimited_at(struct log_ratelimit *rl, uint64_t now_ns, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg_ratelimited(rl, now_ns, level, fmt, ap);
    va_end(ap);
}

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg_ratelimited(rl, clock_monotonic_ns(), level, fmt, ap);
    va_end(ap);
}
