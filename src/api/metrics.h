/* Firecracker-style metrics: one JSON object per line, written to the
 * metrics path (a file or a named pipe) on FlushMetrics, every
 * METRICS_PERIOD_S seconds, and when ember exits. As in Firecracker, the
 * counters in a line count what happened since the line before; the
 * "utc_timestamp_ms" field and the "ember" section (vCPU run states and
 * totals since boot) are not differences. */
#ifndef EMBER_API_METRICS_H
#define EMBER_API_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_PERIOD_S 60

struct metrics {
    int fd;                  /* -1: not configured */
    json_t *last;            /* the totals of the last line written */
    uint64_t last_flush_ns;
    unsigned long lines, fails;
};

void metrics_init(struct metrics *m);
/* Opens path for appending, without blocking on a pipe nobody reads yet. */
int metrics_open(struct metrics *m, const char *path, char *err, size_t errsize);
bool metrics_configured(const struct metrics *m);
/* Writes one line from totals (the counters since boot; taken over). */
int metrics_write(struct metrics *m, json_t *totals);
void metrics_close(struct metrics *m);

/* now - last for every integer inside the objects (exported for tests). */
json_t *metrics_delta(json_t *now, json_t *last);

#endif
