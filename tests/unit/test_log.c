/* util/log.c: rate-limited messages for guest-triggered events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "check.h"

#define SEC 1000000000ULL

/* Sends the log lines to a fresh temporary file; returns its fd for reading back. */
static int capture_to_file(void)
{
    char path[] = "/tmp/ember-test-log-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    log_set_level(LOG_INFO);
    log_set_file(dup(fd), false);
    return fd;
}

/* Everything written so far (NUL-terminated, at most len - 1 bytes). */
static void read_back(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

TEST(ratelimit_admits_a_burst_per_interval_then_counts)
{
    struct log_ratelimit rl = {0};
    uint64_t suppressed = 99;
    uint64_t t0 = 5 * SEC;
    for (int i = 0; i < LOG_RATELIMIT_BURST; i++) {
        CHECK(log_ratelimit_admit(&rl, t0 + (uint64_t)i, &suppressed));
        CHECK_EQ(suppressed, 0);
    }
    for (int i = 0; i < 1000; i++)
        CHECK(!log_ratelimit_admit(&rl, t0 + LOG_RATELIMIT_INTERVAL_NS - 1, &suppressed));
    CHECK_EQ(rl.suppressed, 1000);
    /* The window opened by the first line is over: the next line passes and
     * carries the count; after it the count starts again. */
    CHECK(log_ratelimit_admit(&rl, t0 + LOG_RATELIMIT_INTERVAL_NS, &suppressed));
    CHECK_EQ(suppressed, 1000);
    CHECK(log_ratelimit_admit(&rl, t0 + LOG_RATELIMIT_INTERVAL_NS + 1, &suppressed));
    CHECK_EQ(suppressed, 0);
}

TEST(ratelimit_a_clock_going_back_opens_a_new_window)
{
    /* A zero-initialized source with a real clock value far above 0, then an
     * injected earlier time: neither may wedge the source shut. */
    struct log_ratelimit rl = {0};
    uint64_t s;
    for (int i = 0; i < LOG_RATELIMIT_BURST; i++)
        CHECK(log_ratelimit_admit(&rl, 1000 * SEC, &s));
    CHECK(!log_ratelimit_admit(&rl, 1000 * SEC, &s));
    CHECK(log_ratelimit_admit(&rl, 10 * SEC, &s));
    CHECK_EQ(s, 1);
}

TEST(ratelimited_messages_say_how_many_were_suppressed)
{
    int fd = capture_to_file();
    struct log_ratelimit rl = {0};
    uint64_t t0 = 7 * SEC;
    for (int i = 0; i < 100; i++)
        log_msg_ratelimited_at(&rl, t0, LOG_WARN, "bad thing %d", i);
    log_msg_ratelimited_at(&rl, t0 + LOG_RATELIMIT_INTERVAL_NS, LOG_WARN, "bad thing again");
    char text[8192];
    read_back(fd, text, sizeof(text));
    CHECK_EQ(count_lines(text, "bad thing"), LOG_RATELIMIT_BURST + 1);
    CHECK(strstr(text, "bad thing 4") && !strstr(text, "bad thing 5"));
    char want[80];
    snprintf(want, sizeof(want), "bad thing again (%d similar messages suppressed)", 100 - LOG_RATELIMIT_BURST);
    CHECK(strstr(text, want));
    log_set_file(-1, false);
    close(fd);
}

TEST(ratelimited_on_the_real_clock_a_loop_writes_one_burst)
{
    int fd = capture_to_file();
    static struct log_ratelimit rl; /* a static source, as devices declare them */
    unsigned long before = log_lines_written();
    for (int i = 0; i < 100000; i++)
        log_warn_ratelimited(&rl, "guest loop %d", i);
    CHECK_EQ(log_lines_written() - before, LOG_RATELIMIT_BURST);
    CHECK_EQ(rl.suppressed, 100000 - LOG_RATELIMIT_BURST);
    log_set_file(-1, false);
    close(fd);
}

TEST(ratelimited_below_the_log_level_writes_nothing)
{
    int fd = capture_to_file();
    log_set_level(LOG_ERROR);
    struct log_ratelimit rl = {0};
    unsigned long before = log_lines_written();
    log_msg_ratelimited_at(&rl, SEC, LOG_WARN, "hidden");
    CHECK_EQ(log_lines_written() - before, 0);
    log_set_level(LOG_INFO);
    log_set_file(-1, false);
    close(fd);
}

RUN_TESTS(CASE(ratelimit_admits_a_burst_per_interval_then_counts),
          CASE(ratelimit_a_clock_going_back_opens_a_new_window),
          CASE(ratelimited_messages_say_how_many_were_suppressed),
          CASE(ratelimited_on_the_real_clock_a_loop_writes_one_burst),
          CASE(ratelimited_below_the_log_level_writes_nothing))
