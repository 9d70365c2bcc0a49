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
/* Counters for the metrics: lines written, lines lost to a failed write. */
unsigned long log_lines_written(void);
unsigned long log_lines_failed(void);

/* The first error this thread logs from now on is also copied into buf (its
 * text alone, no prefix), for callers that report an error elsewhere than
 * stderr (the API's fault_message). log_capture(NULL, 0) stops it. */
void log_capture(char *buf, size_t size);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
