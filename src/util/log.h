/* Diagnostics for ember: every message is one line on stderr, prefixed "ember: ".
 * Errors name the thing that is wrong (a path, an option, a capability) so a user
 * can act on a single line without reading code.
 *
 * A log file (the API's PUT /logger, Firecracker's logger) can take the lines
 * instead: then each line there carries a timestamp and the thread's name, and
 * stderr keeps only the errors, so a failing ember still says why where its
 * user looks first. */
#ifndef EMBER_UTIL_LOG_H
#define EMBER_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "Error", "Warning", "Info", "Debug", "Trace" (as Debug) or "Off", in any
 * case; false for anything else. */
bool log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);
/* While the console holds the terminal in raw mode, lines need an explicit \r. */
void log_set_raw_terminal(bool raw);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends the lines to fd (opened by the caller, O_APPEND; -1: back to stderr).
 * show_level adds the level's name to each line. The old fd is closed. */
void log_set_file(int fd, bool show_level);
/* The instance id in a log file's lines ("[ID:thread]"; default "ember"). */
void log_set_instance_id(const char *id);
/* The log file's fd, or -1 (async-signal-safe: the SIGSYS handler's line). */
int log_file_fd(void);
/* Counters for the metrics: lines written, lines lost to a failed write. */
unsigned long log_lines_written(void);
unsigned long log_lines_failed(void);

/* The first error this thread logs from now on is also copied into buf (its
 * text alone, no prefix), for callers that report an error elsewhere than
 * stderr (the API's fault_message). log_capture(NULL, 0) stops it. */
void log_capture(char *buf, size_t size);

/* Guest-triggered messages. A guest can make an event happen in a loop (a bad
 * MSI, a rewritten IOAPIC entry, a reset request); a line per event would let
 * it fill the host's disk and slow its own vCPU threads with write(2). Each
 * source of such messages writes at most LOG_RATELIMIT_BURST lines per
 * LOG_RATELIMIT_INTERVAL_NS: a burst shows the pattern, the interval keeps a
 * looping guest to a line every two seconds on average, and the count of
 * what was dropped is kept and reported by the next line that passes. */
#define LOG_RATELIMIT_BURST 5
#define LOG_RATELIMIT_INTERVAL_NS (10ULL * 1000000000ULL)

/* One source of guest-triggered messages (a static or per-device variable, zero-initialized is valid). */
struct log_ratelimit { uint64_t window_start_ns; uint32_t in_window; uint64_t suppressed; };
/* Like log_msg, but at most LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_INTERVAL_NS for this source;
 * the rest are counted, and the next line that passes says how many were suppressed ("(N similar messages suppressed)"). Thread-safe. */
void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_warn_ratelimited(rl, ...) log_msg_ratelimited((rl), LOG_WARN, __VA_ARGS__)
#define log_info_ratelimited(rl, ...) log_msg_ratelimited((rl), LOG_INFO, __VA_ARGS__)
/* The same at an explicit time on the monotonic clock (for tests). */
void log_msg_ratelimited_at(struct log_ratelimit *rl, uint64_t now_ns, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The decision alone: true if a line at now_ns passes; then *suppressed gets
 * the number of lines dropped since the last one that passed (and the count
 * restarts). A false answer counts the line as suppressed. Thread-safe. */
bool log_ratelimit_admit(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
