/* Token-bucket rate limiting for a device's I/O, with Firecracker's rules
 * (its API configures these: PUT/PATCH /drives, /network-interfaces and
 * /entropy take a "rate_limiter"):
 *   - two buckets, one for bytes ("bandwidth") and one for operations
 *     ("ops"); a request must fit in both;
 *   - a bucket holds `size` tokens and refills at size per refill_time ms,
 *     continuously; it starts full;
 *   - `one_time_burst` tokens more are available once, before the bucket
 *     itself is used, and never come back;
 *   - a request larger than the bucket passes when the bucket is full and
 *     leaves it in debt, so the time it costs is still paid before the next;
 *   - a size or refill_time of 0 means no limit for that bucket.
 * The limiter only does the arithmetic on times the caller passes in; the
 * device decides what to do while throttled (virtio_rate_limit). Not
 * thread-safe: the device lock covers it. */
#ifndef EMBER_VIRTIO_RATE_LIMITER_H
#define EMBER_VIRTIO_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket_config {
    uint64_t size;           /* tokens; 0: unlimited */
    uint64_t one_time_burst; /* extra tokens, once */
    uint64_t refill_time_ms; /* time to refill `size` tokens; 0: unlimited */
};

/* Does this bucket limit anything (size and refill_time both non-zero)? */
bool token_bucket_limits(const struct token_bucket_config *b);

struct rate_limiter_config {
    struct token_bucket_config bandwidth; /* bytes */
    struct token_bucket_config ops;       /* requests */
};

struct token_bucket {
    struct token_bucket_config cfg;
    uint64_t burst_left;     /* what is left of one_time_burst */
    int64_t budget;          /* tokens now; negative: debt from an oversized request */
    uint64_t last_ns;        /* when budget was last brought up to date */
    unsigned __int128 frac;  /* refill carried over: elapsed ns * size not yet a whole token */
};

struct rate_limiter {
    struct token_bucket bandwidth, ops;
};

/* Sets both buckets from `cfg`, full. */
void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);
/* True when either bucket limits anything. */
bool rate_limiter_active(const struct rate_limiter *rl);
/* Takes `ops` operations and `bytes` bytes. Returns 0 when taken, or else
 * takes nothing and returns the nanoseconds to wait before asking again. */
uint64_t rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, uint64_t now_ns);
/* Replaces the configuration (an API PATCH). A bucket whose configuration
 * changes starts again full, as in Firecracker; an unchanged one keeps its
 * state. */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);

#endif
