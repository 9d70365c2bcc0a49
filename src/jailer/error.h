/* How ember-jailer reports a failure: every step fills a struct jerr with
 * one line, "<what failed>: <why>", and returns -1; main() prints it as
 * "ember-jailer: <line>" after undoing what it can. Keeping the text in a
 * buffer (rather than printing where it happens) lets the unit tests check
 * the pure parts' messages, and lets main() clean up before it speaks. */
#ifndef EMBER_JAILER_ERROR_H
#define EMBER_JAILER_ERROR_H

#include <stddef.h>

struct jerr {
    char msg[768];
};

/* Sets e's line (printf format) and returns -1, so a step can end with
 * `return jerr_set(e, ...)`. */
int jerr_set(struct jerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with ": <strerror(errno)>" appended (errno as it was on entry). */
int jerr_errno(struct jerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
