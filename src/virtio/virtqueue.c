#include "virtio/virtqueue.h"

#include <string.h>

/* Ring layout (virtio 1.x, 2.7): avail = flags, idx, ring[size], used_event;
 * used = flags, idx, {id, len}[size], avail_event. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2
#define USED_FLAGS 0
#define USED_IDX 1

static uint64_t avail_bytes(uint16_t n) { return 6 + 2ull * n; }
static uint64_t used_bytes(uint16_t n) { return 6 + 8ull * n; }

static uint16_t load16(volatile uint16_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

void virtq_reset(struct virtq *vq, uint16_t max_size)
{
    uint32_t generation = vq->generation;
    memset(vq, 0, sizeof(*vq));
    vq->size = max_size;
    vq->generation = generation + 1;
}

static bool head_in_flight(const struct virtq *vq, uint16_t head)
{
    return vq->in_flight[head / 64] & (1ULL << (head % 64));
}

static void set_in_flight(struct virtq *vq, uint16_t head, bool on)
{
    if (on)
        vq->in_flight[head / 64] |= 1ULL << (head % 64);
    else
        vq->in_flight[head / 64] &= ~(1ULL << (head % 64));
}

int virtq_enable(struct virtq *vq, const struct guest_memory *mem, const char **why)
{
    uint16_t n = vq->size;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1))) {
        *why = "queue size is not a power of two up to the maximum";
        return -1;
    }
    if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
        *why = "a ring is misaligned";
        return -1;
    }
    void *d = gpa_to_host(mem, vq->desc_gpa, 16ull * n);
    void *a = gpa_to_host(mem, vq->avail_gpa, avail_bytes(n));
    void *u = gpa_to_host(mem, vq->used_gpa, used_bytes(n));
    if (!d || !a || !u) {
        *why = "a ring lies outside guest RAM";
        return -1;
    }
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->num = n;
    vq->generation++;
    memset(vq->in_flight, 0, sizeof(vq->in_flight));
    vq->last_avail = vq->used_idx = 0;
    /* Nothing used yet, nothing to signal: the first interrupt comes with
     * the first used buffer. */
    vq->signalled_used = 0;
    vq->signalled_valid = true;
    vq->enabled = true;
    return 0;
}

/* Reads descriptor `i` of `table` (n entries) once: the guest may change it. */
static struct virtq_desc read_desc(volatile struct virtq_desc *table, uint16_t i)
{
    struct virtq_desc d;
    d.addr = table[i].addr;
    d.len = table[i].len;
    d.flags = table[i].flags;
    d.next = table[i].next;
    return d;
}

/* Adds one buffer to the chain. */
static int add_seg(struct virtq_chain *c, const struct guest_memory *mem, const struct virtq_desc *d, const char **why)
{
    if (c->nseg >= VIRTQ_MAX_SIZE) {
        *why = "descriptor chain too long (a loop?)";
        return -1;
    }
    bool w = d->flags & VIRTQ_DESC_F_WRITE;
    if (!w && c->nseg > c->nreadable) {
        *why = "a device-readable buffer follows a device-writable one";
        return -1;
    }
    uint8_t *host = gpa_to_host(mem, d->addr, d->len);
    if (!host) {
        *why = "a buffer lies outside guest RAM";
        return -1;
    }
    c->seg[c->nseg++] = (struct virtq_seg){.host = host, .len = d->len, .writable = w};
    if (w)
        c->writable_len += d->len;
    else {
        c->nreadable++;
        c->readable_len += d->len;
    }
    return 0;
}

/* An indirect table: its own chain of up to len/16 descriptors, no nesting. */
static int walk_indirect(struct virtq_chain *c, const struct guest_memory *mem, const struct virtq_desc *d,
                         const char **why)
{
    if (d->len == 0 || d->len % 16 || d->len / 16 > VIRTQ_MAX_SIZE) {
        *why = "an indirect table has a bad length";
        return -1;
    }
    if (d->addr & 15) {
        *why = "an indirect table is misaligned";
        return -1;
    }
    volatile struct virtq_desc *table = gpa_to_host(mem, d->addr, d->len);
    if (!table) {
        *why = "an indirect table lies outside guest RAM";
        return -1;
    }
    uint16_t n = (uint16_t)(d->len / 16), i = 0;
    for (unsigned steps = 0;; steps++) {
        if (steps >= n) {
            *why = "an indirect chain loops";
            return -1;
        }
        struct virtq_desc e = read_desc(table, i);
        if (e.flags & VIRTQ_DESC_F_INDIRECT) {
            *why = "nested indirect descriptors";
            return -1;
        }
        if (add_seg(c, mem, &e, why) < 0)
            return -1;
        if (!(e.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (e.next >= n) {
            *why = "an indirect descriptor's next is out of the table";
            return -1;
        }
        i = e.next;
    }
}

int virtq_pop(struct virtq *vq, const struct guest_memory *mem, struct virtq_chain *c, const char **why)
{
    if (!vq->enabled)
        return 0;
    uint16_t avail_idx = load16(&vq->avail[AVAIL_IDX]);
    vq->avail_seen = avail_idx;
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->num) {
        *why = "the available index ran more than a queue ahead";
        return -1;
    }
    /* The ring entry is read after the index (acquire above). */
    uint16_t pos = vq->last_avail & (vq->num - 1);
    uint16_t head = vq->avail[AVAIL_RING + pos];
    if (head >= vq->num) {
        *why = "an available head is out of the descriptor table";
        return -1;
    }
    if (head_in_flight(vq, head)) {
        *why = "a head offered again while the device holds it";
        return -1;
    }
    c->head = head;
    c->generation = vq->generation;
    c->nseg = c->nreadable = 0;
    c->readable_len = c->writable_len = 0;
    uint16_t i = head;
    for (unsigned steps = 0;; steps++) {
        if (steps >= vq->num) {
            *why = "descriptor chain loops";
            return -1;
        }
        struct virtq_desc d = read_desc(vq->desc, i);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect || (d.flags & VIRTQ_DESC_F_NEXT)) {
                *why = "an indirect descriptor the driver may not use";
                return -1;
            }
            if (walk_indirect(c, mem, &d, why) < 0)
                return -1;
            break;
        }
        if (add_seg(c, mem, &d, why) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= vq->num) {
            *why = "a descriptor's next is out of the table";
            return -1;
        }
        i = d.next;
    }
    set_in_flight(vq, head, true);
    vq->popped_head[pos] = head;
    vq->last_avail++;
    return 1;
}

bool virtq_add_used(struct virtq *vq, uint16_t head, uint32_t generation, uint32_t written)
{
    /* A chain from before a reset or re-enable, or one not held: its ring
     * may be gone or resized, so nothing is written. */
    if (!vq->enabled || generation != vq->generation || head >= vq->num || !head_in_flight(vq, head))
        return false;
    set_in_flight(vq, head, false);
    volatile uint32_t *elem = (volatile uint32_t *)(vq->used + 2) + 2 * (vq->used_idx & (vq->num - 1));
    elem[0] = head;
    elem[1] = written;
    vq->used_idx++;
    return true;
}

void virtq_publish_used(struct virtq *vq)
{
    /* The elements must be visible before the index that publishes them. */
    __atomic_store_n(&vq->used[USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_push(struct virtq *vq, uint16_t head, uint32_t generation, uint32_t written)
{
    if (!virtq_add_used(vq, head, generation, written))
        return false;
    virtq_publish_used(vq);
    return true;
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
    for (uint16_t k = 0; k < n; k++) {
        vq->last_avail--;
        set_in_flight(vq, vq->popped_head[vq->last_avail & (vq->num - 1)], false);
    }
}

bool virtq_should_interrupt(struct virtq *vq)
{
    if (!vq->enabled)
        return false;
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    if (valid && old == now)
        return false; /* nothing new since the last interrupt */
    vq->signalled_used = now;
    vq->signalled_valid = true;
    /* The used index was published before we read what the driver asked for. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx)
        return !(load16(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t used_event = load16(&vq->avail[AVAIL_RING + vq->num]);
    /* vring_need_event(): did used_idx step past used_event since the last interrupt? */
    return !valid || (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

void virtq_suppress_notify(struct virtq *vq)
{
    if (vq->enabled && !vq->event_idx)
        __atomic_store_n(&vq->used[USED_FLAGS], VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

/* Asks the driver to notify once it publishes past `seen`, then returns
 * true if its avail index is not `seen` any more (then keep working). */
static bool arm_notify_at(struct virtq *vq, uint16_t seen)
{
    if (vq->event_idx) /* avail_event: notify me once you publish past here */
        __atomic_store_n(&vq->used[2 + 4 * vq->num], seen, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&vq->used[USED_FLAGS], 0, __ATOMIC_RELAXED);
    /* Publish the request before looking again, or a buffer added in between
     * would wait for a notification the driver thinks it need not send. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16(&vq->avail[AVAIL_IDX]) != seen;
}

bool virtq_arm_notify(struct virtq *vq)
{
    if (!vq->enabled)
        return false;
    return arm_notify_at(vq, vq->last_avail);
}

bool virtq_arm_notify_more(struct virtq *vq)
{
    if (!vq->enabled)
        return false;
    /* The driver notifies when its new index passes avail_event; asking at
     * last_avail would be answered at once by buffers already counted. */
    return arm_notify_at(vq, vq->avail_seen);
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
    size_t done = 0;
    for (uint16_t i = 0; i < c->nreadable && done < len; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off < len - done ? (size_t)(s->len - off) : len - done;
        memcpy((uint8_t *)dst + done, s->host + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
    size_t done = 0;
    for (uint16_t i = c->nreadable; i < c->nseg && done < len; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off < len - done ? (size_t)(s->len - off) : len - done;
        memcpy(s->host + off, (const uint8_t *)src + done, n);
        done += n;
        off = 0;
    }
    return done;
}
