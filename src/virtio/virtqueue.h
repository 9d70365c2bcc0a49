/* The device side of a virtio 1.x split virtqueue. The rings live in guest
 * memory the driver controls, so everything read from them is untrusted:
 *   - the three ring areas are checked against guest RAM (and their
 *     alignment) once, when the queue is enabled;
 *   - every descriptor is copied out of guest memory once, then validated:
 *     index in range, buffer inside RAM, no loop (a chain may not be longer
 *     than the queue), indirect tables well-formed and not nested, and
 *     device-readable buffers before device-writable ones;
 *   - the available index may not run more than a queue ahead.
 * A violation makes virtq_pop() fail with a reason; the device then asks for
 * a reset (DEVICE_NEEDS_RESET) instead of guessing.
 *
 * The driver may reset or reconfigure a queue while the device still holds
 * chains of it (a request in flight on the host). So everything that touches
 * a ring uses the geometry validated when the queue was enabled (`num`, never
 * the register `size`), every enable and reset starts a new `generation`, and
 * a chain is answered only if it belongs to the current generation and is
 * still in flight; anything else is dropped, never written. A head offered
 * again while the device holds it is a broken ring. Used-ring updates and
 * notification suppression (VIRTIO_F_EVENT_IDX or the flags) follow the
 * memory ordering the spec requires. The queue never knows its device or
 * transport. */
#ifndef EMBER_VIRTIO_VIRTQUEUE_H
#define EMBER_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* The largest queue ember offers; also the longest chain it accepts. */
#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* One buffer of a chain, already translated to a host pointer. */
struct virtq_seg {
    uint8_t *host;
    uint32_t len;
    bool writable;
};

/* A validated descriptor chain: its readable segments, then its writable ones. */
struct virtq_chain {
    uint16_t head;
    uint16_t nseg;
    uint16_t nreadable;
    uint32_t generation;        /* the queue's generation when it was taken */
    uint64_t readable_len, writable_len;
    struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

struct virtq {
    /* Set by the driver through the transport (virtio_queue_write checks when). */
    uint16_t size;
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* Negotiated features that change the ring's behaviour. */
    bool event_idx, indirect;
    /* Counts enables and resets: a chain of an older generation is stale. It
     * survives virtq_reset (it is what tells the old chains from the new). */
    uint32_t generation;
    /* The ring size validated by virtq_enable; the only one the rings are
     * indexed with while enabled. */
    uint16_t num;
    /* Host views of the rings, valid while enabled. */
    volatile struct virtq_desc *desc;
    volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
    volatile uint16_t *used;    /* flags, idx, then {u32 id, u32 len}[size], avail_event */
    bool enabled;
    uint16_t last_avail;        /* the next available entry the device takes */
    uint16_t used_idx;          /* the device's copy of used->idx */
    uint16_t avail_seen;        /* the driver's avail->idx as virtq_pop last read it */
    uint16_t signalled_used;    /* used_idx at the last interrupt (EVENT_IDX) */
    bool signalled_valid;
    /* Heads the device holds: popped, not yet used (nor put back). */
    uint64_t in_flight[VIRTQ_MAX_SIZE / 64];
    /* The head popped at each available-ring position, for virtq_unpop: the
     * driver may have rewritten the ring entry since. */
    uint16_t popped_head[VIRTQ_MAX_SIZE];
};

/* Back to the state after device reset (size defaults to `max_size`); a new
 * generation, so chains taken before are stale. */
void virtq_reset(struct virtq *vq, uint16_t max_size);
/* Checks the driver's size and ring addresses against guest RAM and maps
 * them. -1 with *why set if the queue cannot be used. */
int virtq_enable(struct virtq *vq, const struct guest_memory *mem, const char **why);
/* Takes the next available chain: 1 with *c filled, 0 if none, -1 if the
 * driver broke the ring (*why says how; the chain is not consumed). */
int virtq_pop(struct virtq *vq, const struct guest_memory *mem, struct virtq_chain *c, const char **why);
/* Gives back the chain at `head`, taken in `generation`, with `written`
 * bytes written into it. False (and nothing written) if the chain is stale:
 * the queue was reset or re-enabled since, or the head is not in flight. */
bool virtq_push(struct virtq *vq, uint16_t head, uint32_t generation, uint32_t written);
/* The same in two steps, for a packet spread over several chains: fill the
 * used entries, then publish them all at once. */
bool virtq_add_used(struct virtq *vq, uint16_t head, uint32_t generation, uint32_t written);
void virtq_publish_used(struct virtq *vq);
/* Puts back the last `n` chains popped (not enough buffers after all). */
void virtq_unpop(struct virtq *vq, uint16_t n);
/* After pushes: does the driver want an interrupt now? */
bool virtq_should_interrupt(struct virtq *vq);
/* Before the device sleeps: asks the driver to notify on new buffers and
 * returns true if some arrived meanwhile (then keep working). */
bool virtq_arm_notify(struct virtq *vq);
/* The same when the buffers there are too few (a packet larger than all of
 * them, given back with virtq_unpop): asks for a notification on the next
 * buffer past those virtq_pop saw, and returns true if one came meanwhile. */
bool virtq_arm_notify_more(struct virtq *vq);
/* While the device works through the queue: notifications not needed. */
void virtq_suppress_notify(struct virtq *vq);

/* Copies out of the chain's readable part / into its writable part,
 * starting `off` bytes in. Return the bytes copied (short at the end). */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

#endif
