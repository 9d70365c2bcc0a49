#include "api/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/fc_config.h"
#include "util/clock.h"

void metrics_init(struct metrics *m) { memset(m, 0, sizeof(*m)), m->fd = -1; }

bool metrics_configured(const struct metrics *m) { return m->fd >= 0; }

int metrics_open(struct metrics *m, const char *path, char *err, size_t errsize)
{
    int fd = fc_open_log_path(path);
    if (fd < 0) {
        snprintf(err, errsize, "Cannot open the metrics file %s: %s.", path, strerror(errno));
        return -1;
    }
    m->fd = fd;
    m->last_flush_ns = clock_monotonic_ns();
    return 0;
}

/* Keys whose values are readings, not counters. */
static bool is_absolute(const char *key) { return !strcmp(key, "utc_timestamp_ms") || !strcmp(key, "ember"); }

json_t *metrics_delta(json_t *now, json_t *last)
{
    if (json_is_integer(now) && json_is_integer(last))
        return json_integer(json_integer_value(now) - json_integer_value(last));
    if (!json_is_object(now))
        return json_deep_copy(now);
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(now, key, v) {
        json_t *prev = json_is_object(last) && !is_absolute(key) ? json_object_get(last, key) : NULL;
        json_object_set_new(out, key, prev ? metrics_delta(v, prev) : json_deep_copy(v));
    }
    return out;
}

int metrics_write(struct metrics *m, json_t *totals)
{
    if (m->fd < 0) {
        json_decref(totals);
        return -1;
    }
    json_t *line = metrics_delta(totals, m->last);
    json_decref(m->last);
    m->last = totals;
    m->last_flush_ns = clock_monotonic_ns();
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return -1;
    size_t len = strlen(text);
    text[len] = '\n'; /* over the NUL: one line per flush */
    ssize_t n = write(m->fd, text, len + 1);
    free(text);
    if (n != (ssize_t)(len + 1)) {
        m->fails++;
        return -1;
    }
    m->lines++;
    return 0;
}

void metrics_close(struct metrics *m)
{
    if (m->fd >= 0)
        close(m->fd);
    json_decref(m->last);
    metrics_init(m);
}
