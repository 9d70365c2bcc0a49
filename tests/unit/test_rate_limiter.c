/* The token buckets on a fake clock: a full start, the steady rate, the
 * one-time burst, oversized requests paid as debt, all-or-nothing between
 * the two buckets, waits that are exact, and updates. */
#include "virtio/rate_limiter.h"
#include "check.h"

#define MS 1000000ULL

static struct rate_limiter limiter(uint64_t bw_size, uint64_t bw_burst, uint64_t bw_ms, uint64_t ops_size,
                                   uint64_t ops_burst, uint64_t ops_ms)
{
    struct rate_limiter_config cfg = {.bandwidth = {bw_size, bw_burst, bw_ms}, .ops = {ops_size, ops_burst, ops_ms}};
    struct rate_limiter rl;
    rate_limiter_init(&rl, &cfg, 1000 * MS);
    return rl;
}

TEST(no_configuration_limits_nothing)
{
    struct rate_limiter rl = limiter(0, 0, 0, 0, 0, 0);
    CHECK(!rate_limiter_active(&rl));
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(rate_limiter_consume(&rl, 1, 1 << 20, 1000 * MS), 0);
    /* A size without a refill time (or the reverse) is no limit either. */
    rl = limiter(100, 0, 0, 0, 0, 1000);
    CHECK(!rate_limiter_active(&rl));
    CHECK_EQ(rate_limiter_consume(&rl, 5, 5000, 1000 * MS), 0);
}

TEST(a_bucket_starts_full_then_refills_at_its_rate)
{
    /* 10 operations per second. */
    struct rate_limiter rl = limiter(0, 0, 0, 10, 0, 1000);
    CHECK(rate_limiter_active(&rl));
    uint64_t t = 1000 * MS;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(rate_limiter_consume(&rl, 1, 0, t), 0);
    /* Empty: the 11th waits one token's time, 100 ms. */
    CHECK_EQ(rate_limiter_consume(&rl, 1, 0, t), 100 * MS);
    /* 99 ms later, 1 ms more to wait; at 100 ms it passes. */
    CHECK_EQ(rate_limiter_consume(&rl, 1, 0, t + 99 * MS), 1 * MS);
    CHECK_EQ(rate_limiter_consume(&rl, 1, 0, t + 100 * MS), 0);
    /* Over 10 s at most 10 + 100 operations pass, polled every millisecond. */
    int passed = 0;
    for (uint64_t ms = 101; ms <= 10100; ms++)
        while (rate_limiter_consume(&rl, 1, 0, t + ms * MS) == 0)
            passed++;
    CHECK_EQ(passed, 100);
}

TEST(refill_loses_nothing_to_rounding)
{
    /* 3 tokens per 1000 ms, asked for every millisecond: no token is lost
     * to the division, so 30 pass in 10 s after the first 3. */
    struct rate_limiter rl = limiter(3, 0, 1000, 0, 0, 0);
    uint64_t t = 1000 * MS;
    int passed = 0;
    for (uint64_t ms = 0; ms < 10000; ms++)
        while (rate_limiter_consume(&rl, 0, 1, t + ms * MS) == 0)
            passed++;
    CHECK_EQ(passed, 3 + 29); /* the 30th refill lands at exactly 10000 ms */
    CHECK_EQ(rate_limiter_consume(&rl, 0, 1, t + 10000 * MS), 0);
}

TEST(the_one_time_burst_comes_first_and_only_once)
{
    /* 100 bytes/s with 1000 bytes of burst: 1100 at once, then the rate. */
    struct rate_limiter rl = limiter(100, 1000, 1000, 0, 0, 0);
    uint64_t t = 1000 * MS;
    CHECK_EQ(rate_limiter_consume(&rl, 0, 600, t), 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 450, t), 0); /* 400 of burst, 50 of bucket */
    CHECK_EQ(rate_limiter_consume(&rl, 0, 50, t), 0);
    CHECK(rate_limiter_consume(&rl, 0, 1, t) > 0);
    /* A second later the bucket is full again, but the burst is gone. */
    CHECK_EQ(rate_limiter_consume(&rl, 0, 100, t + 1000 * MS), 0);
    CHECK(rate_limiter_consume(&rl, 0, 1, t + 1000 * MS) > 0);
}

TEST(an_oversized_request_passes_from_a_full_bucket_and_leaves_debt)
{
    /* 1000 bytes per 100 ms; one 3000-byte request. */
    struct rate_limiter rl = limiter(1000, 0, 100, 0, 0, 0);
    uint64_t t = 1000 * MS;
    CHECK_EQ(rate_limiter_consume(&rl, 0, 3000, t), 0);
    /* 2000 bytes of debt: the next byte waits for 2001 tokens, 200.1 ms. */
    CHECK_EQ(rate_limiter_consume(&rl, 0, 1, t), 200100000ULL);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 1, t + 200100000ULL), 0);
    /* Not from a bucket that is not full: it waits until the bucket is. */
    uint64_t wait = rate_limiter_consume(&rl, 0, 5000, t + 200100000ULL);
    CHECK(wait > 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 5000, t + 200100000ULL + wait), 0);
}

TEST(both_buckets_or_neither)
{
    /* 2 operations and 1000 bytes per second. */
    struct rate_limiter rl = limiter(1000, 0, 1000, 2, 0, 1000);
    uint64_t t = 1000 * MS;
    CHECK_EQ(rate_limiter_consume(&rl, 1, 900, t), 0);
    /* Bytes short: the operation is given back. */
    CHECK(rate_limiter_consume(&rl, 1, 200, t) > 0);
    CHECK_EQ(rate_limiter_consume(&rl, 1, 100, t), 0); /* the second op is still there */
    CHECK(rate_limiter_consume(&rl, 1, 0, t) > 0);     /* now the ops bucket is empty */
}

TEST(an_update_restarts_only_what_changed)
{
    struct rate_limiter rl = limiter(1000, 0, 1000, 10, 0, 1000);
    uint64_t t = 1000 * MS;
    CHECK_EQ(rate_limiter_consume(&rl, 10, 1000, t), 0);
    CHECK(rate_limiter_consume(&rl, 1, 0, t) > 0);
    /* The bandwidth bucket changes (full again); ops keeps its empty state. */
    struct rate_limiter_config cfg = {.bandwidth = {5000, 0, 1000}, .ops = {10, 0, 1000}};
    rate_limiter_update(&rl, &cfg, t);
    CHECK(rate_limiter_consume(&rl, 1, 1, t) > 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 5000, t), 0);
    /* Removing the ops limit lets operations through at once. */
    cfg.ops = (struct token_bucket_config){0, 0, 0};
    rate_limiter_update(&rl, &cfg, t);
    CHECK_EQ(rate_limiter_consume(&rl, 100, 0, t), 0);
}

TEST(huge_values_do_not_overflow)
{
    struct rate_limiter rl = limiter(UINT64_MAX, UINT64_MAX, UINT64_MAX, 1, 0, UINT64_MAX);
    uint64_t t = 1000 * MS;
    CHECK_EQ(rate_limiter_consume(&rl, 1, UINT64_MAX, t), 0);
    uint64_t wait = rate_limiter_consume(&rl, 1, 0, t);
    CHECK(wait > 0 && wait <= UINT64_MAX / 2);
    /* A clock that goes backwards refills nothing and breaks nothing. */
    CHECK(rate_limiter_consume(&rl, 1, 0, t - 500 * MS) > 0);
    /* A bucket past any real size acts as a very large one. */
    rl = limiter(UINT64_MAX, 0, 1000, 0, 0, 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 1ULL << 40, t), 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, 1ULL << 40, t), 0);
    /* The largest request from a small full bucket: a capped debt, a finite wait. */
    rl = limiter(10, 0, 1000, 0, 0, 0);
    CHECK_EQ(rate_limiter_consume(&rl, 0, UINT64_MAX, t), 0);
    wait = rate_limiter_consume(&rl, 0, 1, t);
    CHECK(wait > 0 && wait <= UINT64_MAX / 2);
}

RUN_TESTS(CASE(no_configuration_limits_nothing), CASE(a_bucket_starts_full_then_refills_at_its_rate),
          CASE(refill_loses_nothing_to_rounding), CASE(the_one_time_burst_comes_first_and_only_once),
          CASE(an_oversized_request_passes_from_a_full_bucket_and_leaves_debt), CASE(both_buckets_or_neither),
          CASE(an_update_restarts_only_what_changed), CASE(huge_values_do_not_overflow))
