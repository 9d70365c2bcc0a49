#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static volatile bool raw_terminal;

void log_set_raw_terminal(bool raw) { raw_terminal = raw; }

void log_set_level(enum log_level level) { current_level = level; }

bool log_enabled(enum log_level level) { return level <= current_level; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const prefix[] = {
        [LOG_ERROR] = "error: ", [LOG_WARN] = "warning: ", [LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
    };
    if (!log_enabled(level))
        return;
    /* Format into one buffer and write it with a single write(2) so lines from
     * vCPU threads never interleave mid-line. */
    char line[1024];
    int n = snprintf(line, sizeof(line), "ember: %s", prefix[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 3, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 3)
        len = sizeof(line) - 3;
    if (raw_terminal && isatty(STDERR_FILENO))
        line[len++] = '\r';
    line[len++] = '\n';
    ssize_t r = write(STDERR_FILENO, line, len);
    (void)r;
}
