#include "virtio/rate_limiter.h"

#include <string.h>

#define NS_PER_MS 1000000ULL

bool token_bucket_limits(const struct token_bucket_config *b) { return b->size && b->refill_time_ms; }

/* Sizes beyond this are no different in practice, and keep the signed
 * budget arithmetic (debt included) far from overflow. */
#define MAX_SIZE ((uint64_t)INT64_MAX / 4)

static void bucket_init(struct token_bucket *b, const struct token_bucket_config *cfg, uint64_t now_ns)
{
    memset(b, 0, sizeof(*b));
    b->cfg = *cfg;
    if (b->cfg.size > MAX_SIZE)
        b->cfg.size = MAX_SIZE;
    b->burst_left = cfg->one_time_burst;
    b->budget = (int64_t)b->cfg.size;
    b->last_ns = now_ns;
}

/* Adds what refilled since last_ns. The remainder of the division stays in
 * `frac`, so frequent calls lose no tokens to rounding. */
static void refill(struct token_bucket *b, uint64_t now_ns)
{
    int64_t size = (int64_t)b->cfg.size;
    if (now_ns <= b->last_ns) {
        return;
    }
    if (b->budget >= size) {
        b->last_ns = now_ns;
        b->frac = 0;
        return;
    }
    unsigned __int128 period = (unsigned __int128)b->cfg.refill_time_ms * NS_PER_MS;
    unsigned __int128 acc = b->frac + (unsigned __int128)(now_ns - b->last_ns) * b->cfg.size;
    unsigned __int128 added = acc / period;
    b->last_ns = now_ns;
    if (added >= (unsigned __int128)(size - b->budget)) {
        b->budget = size;
        b->frac = 0;
    } else {
        b->budget += (int64_t)added;
        b->frac = acc % period;
    }
}

/* The nanoseconds until the bucket holds `need` tokens (need <= size). */
static uint64_t time_until(const struct token_bucket *b, uint64_t need)
{
    unsigned __int128 missing = (unsigned __int128)((int64_t)need - b->budget);
    unsigned __int128 period = (unsigned __int128)b->cfg.refill_time_ms * NS_PER_MS;
    unsigned __int128 num = missing * period;
    num = num > b->frac ? num - b->frac : 0;
    unsigned __int128 ns = (num + b->cfg.size - 1) / b->cfg.size;
    return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : ns == 0 ? 1 : (uint64_t)ns;
}

/* Takes `tokens` or returns the wait; the bucket is unchanged on a wait. */
static uint64_t bucket_take(struct token_bucket *b, uint64_t tokens, uint64_t now_ns)
{
    if (!token_bucket_limits(&b->cfg) || tokens == 0)
        return 0;
    if (b->burst_left >= tokens) {
        b->burst_left -= tokens;
        return 0;
    }
    uint64_t rest = tokens - b->burst_left;
    refill(b, now_ns);
    int64_t size = (int64_t)b->cfg.size;
    if (rest <= b->cfg.size) {
        if (b->budget >= (int64_t)rest) {
            b->budget -= (int64_t)rest;
            b->burst_left = 0;
            return 0;
        }
        return time_until(b, rest);
    }
    /* Larger than the bucket: only from a full bucket, which goes into debt. */
    if (b->budget >= size) {
        uint64_t debt = rest - b->cfg.size;
        b->budget = debt > MAX_SIZE ? -(int64_t)MAX_SIZE : -(int64_t)debt;
        b->burst_left = 0;
        return 0;
    }
    return time_until(b, b->cfg.size);
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
    memset(rl, 0, sizeof(*rl));
    bucket_init(&rl->bandwidth, &cfg->bandwidth, now_ns);
    bucket_init(&rl->ops, &cfg->ops, now_ns);
}

bool rate_limiter_active(const struct rate_limiter *rl)
{
    return token_bucket_limits(&rl->bandwidth.cfg) || token_bucket_limits(&rl->ops.cfg);
}

uint64_t rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, uint64_t now_ns)
{
    struct token_bucket saved = rl->ops;
    uint64_t wait = bucket_take(&rl->ops, ops, now_ns);
    if (wait == 0) {
        wait = bucket_take(&rl->bandwidth, bytes, now_ns);
        if (wait != 0)
            rl->ops = saved; /* all or nothing: give the operation back */
    }
    return wait;
}

/* Does the bucket already run with this configuration (as clamped)? */
static bool same_config(const struct token_bucket *b, const struct token_bucket_config *c)
{
    return b->cfg.size == (c->size > MAX_SIZE ? MAX_SIZE : c->size) && b->cfg.one_time_burst == c->one_time_burst &&
           b->cfg.refill_time_ms == c->refill_time_ms;
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
    if (!same_config(&rl->bandwidth, &cfg->bandwidth))
        bucket_init(&rl->bandwidth, &cfg->bandwidth, now_ns);
    if (!same_config(&rl->ops, &cfg->ops))
        bucket_init(&rl->ops, &cfg->ops, now_ns);
}
