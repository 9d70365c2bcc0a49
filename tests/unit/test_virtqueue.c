/* The virtqueue walker and the virtio-blk request parser on synthetic guest
 * memory: well-formed chains, every malformed one a hostile driver can build,
 * the used ring, and notification suppression. */
#include <stdlib.h>

#include "memory/guest_memory.h"
#include "virtio/blk.h"
#include "virtio/virtqueue.h"
#include "check.h"

#define N 8
#define DESC 0x1000ULL
#define AVAIL 0x2000ULL
#define USED 0x3000ULL
#define BUF 0x10000ULL

static struct guest_memory mem;
static struct virtq vq;
static struct virtq_chain chain;

static struct virtq_desc *desc(void) { return gpa_to_host(&mem, DESC, 16 * N); }
static uint16_t *avail(void) { return gpa_to_host(&mem, AVAIL, 6 + 2 * N); }
static uint16_t *used(void) { return gpa_to_host(&mem, USED, 6 + 8 * N); }

static void setup(void)
{
    if (!mem.base)
        guest_memory_init(&mem, 2 * 1024 * 1024);
    memset(mem.base, 0, 0x20000);
    virtq_reset(&vq, N);
    vq.desc_gpa = DESC;
    vq.avail_gpa = AVAIL;
    vq.used_gpa = USED;
    const char *why;
    CHECK(virtq_enable(&vq, &mem, &why) == 0);
}

static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    desc()[i] = (struct virtq_desc){addr, len, flags, next};
}

static void offer(uint16_t head)
{
    uint16_t *a = avail();
    a[2 + (a[1] % N)] = head;
    a[1]++;
}

static int pop(const char **why)
{
    *why = "";
    return virtq_pop(&vq, &mem, &chain, why);
}

TEST(enable_checks_size_alignment_and_ram)
{
    setup();
    const char *why;
    struct virtq q;
    virtq_reset(&q, N);
    q.desc_gpa = DESC, q.avail_gpa = AVAIL, q.used_gpa = USED;
    q.size = 6;
    CHECK(virtq_enable(&q, &mem, &why) < 0 && strstr(why, "power of two"));
    q.size = 512;
    CHECK(virtq_enable(&q, &mem, &why) < 0);
    q.size = N;
    q.desc_gpa = DESC + 8;
    CHECK(virtq_enable(&q, &mem, &why) < 0 && strstr(why, "misaligned"));
    q.desc_gpa = DESC;
    q.used_gpa = 2 * 1024 * 1024 - 16; /* runs past the end of RAM */
    CHECK(virtq_enable(&q, &mem, &why) < 0 && strstr(why, "outside guest RAM"));
    q.used_gpa = USED;
    CHECK(virtq_enable(&q, &mem, &why) == 0);
}

TEST(a_chain_with_readable_then_writable_buffers)
{
    setup();
    const char *why;
    CHECK_EQ(pop(&why), 0); /* nothing offered */
    memcpy(gpa_to_host(&mem, BUF, 8), "headerAB", 8);
    set_desc(0, BUF, 6, VIRTQ_DESC_F_NEXT, 3);
    set_desc(3, BUF + 6, 2, VIRTQ_DESC_F_NEXT, 5);
    set_desc(5, BUF + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(chain.head, 0);
    CHECK_EQ(chain.nseg, 3);
    CHECK_EQ(chain.nreadable, 2);
    CHECK_EQ(chain.readable_len, 8);
    CHECK_EQ(chain.writable_len, 16);
    char buf[9] = {0};
    CHECK_EQ(virtq_chain_read(&chain, 4, buf, 8), 4); /* across two buffers, short at the end */
    CHECK(!memcmp(buf, "erAB", 4));
    CHECK_EQ(virtq_chain_write(&chain, 10, "0123456789", 10), 6);
    CHECK(!memcmp(gpa_to_host(&mem, BUF + 0x10a, 6), "012345", 6));
    virtq_push(&vq, chain.head, chain.generation, 16);
    CHECK_EQ(used()[1], 1);
    uint32_t *elem = (uint32_t *)(used() + 2);
    CHECK_EQ(elem[0], 0);
    CHECK_EQ(elem[1], 16);
    CHECK_EQ(pop(&why), 0);
}

TEST(malformed_chains_are_refused)
{
    const char *why;
    setup(); /* a loop */
    set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(1, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
    offer(0);
    CHECK(pop(&why) < 0 && (strstr(why, "loop") || strstr(why, "too long")));
    setup(); /* next out of the table */
    set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT, N);
    offer(0);
    CHECK(pop(&why) < 0 && strstr(why, "next is out"));
    setup(); /* head out of the table */
    offer(N + 3);
    CHECK(pop(&why) < 0 && strstr(why, "head is out"));
    setup(); /* a buffer outside RAM, and one whose length runs past it */
    set_desc(0, 1ULL << 40, 4, 0, 0);
    offer(0);
    CHECK(pop(&why) < 0 && strstr(why, "outside guest RAM"));
    setup();
    set_desc(0, BUF, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    CHECK(pop(&why) < 0 && strstr(why, "outside guest RAM"));
    setup(); /* readable after writable */
    set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(1, BUF, 4, 0, 0);
    offer(0);
    CHECK(pop(&why) < 0 && strstr(why, "follows"));
    setup(); /* the available index far ahead */
    avail()[1] = N + 1;
    CHECK(pop(&why) < 0 && strstr(why, "ahead"));
    setup(); /* a zero-length buffer is legal */
    set_desc(0, BUF, 0, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(chain.writable_len, 0);
    /* A refused chain is not consumed: the same failure until reset. */
    setup();
    set_desc(0, 1ULL << 40, 4, 0, 0);
    offer(0);
    CHECK(pop(&why) < 0);
    CHECK(pop(&why) < 0);
}

TEST(indirect_tables)
{
    const char *why;
    setup();
    vq.indirect = true;
    struct virtq_desc *t = gpa_to_host(&mem, BUF + 0x1000, 3 * 16);
    t[0] = (struct virtq_desc){BUF, 16, VIRTQ_DESC_F_NEXT, 2};
    t[2] = (struct virtq_desc){BUF + 0x100, 1, VIRTQ_DESC_F_WRITE, 0};
    set_desc(4, BUF + 0x1000, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(chain.head, 4);
    CHECK_EQ(chain.nseg, 2);
    CHECK_EQ(chain.readable_len, 16);
    CHECK_EQ(chain.writable_len, 1);
    virtq_push(&vq, chain.head, chain.generation, 0); /* given back: it may be offered again */
    /* nested */
    t[2] = (struct virtq_desc){BUF + 0x1000, 48, VIRTQ_DESC_F_INDIRECT, 0};
    offer(4);
    CHECK(pop(&why) < 0 && strstr(why, "nested"));
    /* a loop inside the table */
    setup();
    vq.indirect = true;
    t[0] = (struct virtq_desc){BUF, 16, VIRTQ_DESC_F_NEXT, 1};
    t[1] = (struct virtq_desc){BUF, 16, VIRTQ_DESC_F_NEXT, 0};
    set_desc(4, BUF + 0x1000, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    CHECK(pop(&why) < 0 && strstr(why, "loop"));
    /* a bad table length, and indirect not negotiated */
    setup();
    vq.indirect = true;
    set_desc(4, BUF + 0x1000, 20, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    CHECK(pop(&why) < 0 && strstr(why, "bad length"));
    setup();
    set_desc(4, BUF + 0x1000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    CHECK(pop(&why) < 0 && strstr(why, "may not use"));
}

TEST(notification_suppression)
{
    const char *why;
    setup(); /* flags: NO_INTERRUPT is honoured, and nothing new means no interrupt */
    set_desc(0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    CHECK_EQ(pop(&why), 1);
    CHECK(!virtq_should_interrupt(&vq)); /* nothing used yet */
    virtq_push(&vq, 0, chain.generation, 4);
    CHECK(virtq_should_interrupt(&vq));
    CHECK(!virtq_should_interrupt(&vq)); /* already told */
    avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
    offer(0);
    CHECK_EQ(pop(&why), 1);
    virtq_push(&vq, 0, chain.generation, 4);
    CHECK(!virtq_should_interrupt(&vq));
    /* the device side: NO_NOTIFY while working, cleared when it sleeps */
    virtq_suppress_notify(&vq);
    CHECK_EQ(used()[0], VIRTQ_USED_F_NO_NOTIFY);
    CHECK(!virtq_arm_notify(&vq));
    CHECK_EQ(used()[0], 0);
    offer(0);
    CHECK(virtq_arm_notify(&vq)); /* arrived meanwhile: keep working */

    setup(); /* EVENT_IDX: interrupt only when used passes used_event */
    vq.event_idx = true;
    for (int i = 0; i < 3; i++) {
        set_desc(i, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
        offer((uint16_t)i);
    }
    avail()[2 + N] = 1; /* used_event: interrupt once used_idx passes 1 */
    CHECK_EQ(pop(&why), 1);
    virtq_push(&vq, chain.head, chain.generation, 4); /* used_idx 1: not past 1 yet */
    CHECK(!virtq_should_interrupt(&vq));
    CHECK_EQ(pop(&why), 1);
    virtq_push(&vq, chain.head, chain.generation, 4); /* used_idx 2 */
    CHECK(virtq_should_interrupt(&vq));
    CHECK(virtq_arm_notify(&vq)); /* one more is waiting */
    CHECK_EQ(used()[2 + 4 * N], 2); /* avail_event = the next one the device will take */

    /* Too few: two buffers taken and given back (a packet needs three). The
     * device must ask for the next buffer added, not for these two again. */
    setup();
    vq.event_idx = true;
    for (int i = 0; i < 2; i++) {
        set_desc(i, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
        offer((uint16_t)i);
    }
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(pop(&why), 0); /* the third is missing */
    virtq_unpop(&vq, 2);
    CHECK(virtq_arm_notify(&vq)); /* the plain arm sees the two again: a retry loop */
    CHECK(!virtq_arm_notify_more(&vq));
    CHECK_EQ(used()[2 + 4 * N], 2); /* avail_event: notify once the index passes 2 */
    set_desc(2, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(2);
    CHECK(virtq_arm_notify_more(&vq)); /* one came after the failed pop: try again */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pop(&why), 1);
    setup(); /* without EVENT_IDX: notifications on (NO_NOTIFY cleared) */
    virtq_suppress_notify(&vq);
    CHECK(!virtq_arm_notify_more(&vq));
    CHECK_EQ(used()[0], 0);
}

/* A block request chain: header, optional data, status. */
static void blk_chain(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable, bool with_status)
{
    setup();
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {type, 0, sector};
    memcpy(gpa_to_host(&mem, BUF, sizeof(hdr)), &hdr, sizeof(hdr));
    int i = 0;
    set_desc(i, BUF, sizeof(hdr), VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    i++;
    if (data_len) {
        set_desc(i, BUF + 0x1000, data_len, (uint16_t)(VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0)),
                 (uint16_t)(i + 1));
        i++;
    }
    if (with_status)
        set_desc(i, BUF + 0x100, 1, VIRTQ_DESC_F_WRITE, 0);
    else
        desc()[i - 1].flags &= (uint16_t)~VIRTQ_DESC_F_NEXT;
    offer(0);
    const char *why;
    CHECK_EQ(pop(&why), 1);
}

TEST(blk_requests)
{
    struct blk_request r;
    blk_chain(VIRTIO_BLK_T_IN, 10, 4096, true, true);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_OK);
    CHECK_EQ(r.data_len, 4096);
    CHECK_EQ(r.offset, 5120);
    CHECK(r.status == gpa_to_host(&mem, BUF + 0x100, 1));
    blk_chain(VIRTIO_BLK_T_OUT, 99, 512, false, true);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_OK);
    CHECK_EQ(blk_parse_request(&chain, 100, true, &r), VIRTIO_BLK_S_IOERR); /* read-only disk */
    blk_chain(VIRTIO_BLK_T_OUT, 100, 512, false, true); /* past the end */
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_IOERR);
    blk_chain(VIRTIO_BLK_T_IN, UINT64_MAX - 1, 1024, true, true); /* sector + length overflows */
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_IOERR);
    blk_chain(VIRTIO_BLK_T_IN, 0, 100, true, true); /* not whole sectors */
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_IOERR);
    blk_chain(VIRTIO_BLK_T_FLUSH, 0, 0, false, true);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_OK);
    blk_chain(VIRTIO_BLK_T_GET_ID, 0, 20, true, true);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_OK);
    CHECK_EQ(r.data_len, 20);
    blk_chain(77, 0, 512, true, true);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_UNSUPP);
    blk_chain(VIRTIO_BLK_T_IN, 0, 512, false, false); /* no status byte anywhere */
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), -1);
    /* a header shorter than 16 bytes */
    blk_chain(VIRTIO_BLK_T_IN, 0, 0, false, true);
    virtq_push(&vq, chain.head, chain.generation, 0);
    desc()[0].len = 8;
    offer(0);
    const char *why;
    CHECK_EQ(pop(&why), 1);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_IOERR);
    /* discard / write-zeroes: one segment, in range, flags checked */
    struct {
        uint64_t sector;
        uint32_t num, flags;
    } seg = {50, 10, 0};
    blk_chain(VIRTIO_BLK_T_DISCARD, 0, 16, false, true);
    memcpy(gpa_to_host(&mem, BUF + 0x1000, 16), &seg, 16);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_OK);
    CHECK_EQ(r.offset, 50 * 512);
    CHECK_EQ(r.data_len, 10 * 512);
    seg.num = 51;
    memcpy(gpa_to_host(&mem, BUF + 0x1000, 16), &seg, 16);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_IOERR);
    seg = (typeof(seg)){0, 1, 2};
    blk_chain(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, true);
    memcpy(gpa_to_host(&mem, BUF + 0x1000, 16), &seg, 16);
    CHECK_EQ(blk_parse_request(&chain, 100, false, &r), VIRTIO_BLK_S_UNSUPP); /* unknown flag */
    guest_memory_free(&mem);
}

/* The rules that keep a reset or reconfigured queue safe from answers still
 * on their way: a head is held once, a stale chain is never written, and the
 * ring is indexed with the size it was validated for. */
TEST(in_flight_heads_and_stale_answers)
{
    const char *why;
    setup();
    set_desc(0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    offer(0); /* the same head again, while the device holds it */
    CHECK_EQ(pop(&why), 1);
    CHECK(pop(&why) < 0 && strstr(why, "while the device holds it"));
    uint32_t gen = chain.generation;
    /* Answered once; a second answer for the same head is refused. */
    CHECK(virtq_push(&vq, 0, gen, 4));
    CHECK(!virtq_push(&vq, 0, gen, 4));
    CHECK_EQ(used()[1], 1);
    CHECK_EQ(pop(&why), 1); /* now it may be taken again */
    virtq_unpop(&vq, 1);    /* put back: no longer held ... */
    CHECK(!virtq_push(&vq, 0, gen, 4));
    CHECK_EQ(pop(&why), 1); /* ... and can be taken once more */

    /* Reset with the chain held: its answer is stale and writes nothing, even
     * after the queue is set up again with another size. */
    uint16_t used_before = used()[1];
    virtq_reset(&vq, N);
    vq.size = 2;
    vq.desc_gpa = DESC, vq.avail_gpa = AVAIL, vq.used_gpa = USED;
    CHECK_EQ(virtq_enable(&vq, &mem, &why), 0);
    CHECK(vq.generation != gen);
    CHECK(!virtq_push(&vq, 0, gen, 4));
    CHECK_EQ(used()[1], used_before);
    /* A disabled queue takes no answers at all. */
    virtq_reset(&vq, N);
    CHECK(!virtq_push(&vq, 0, vq.generation, 4));
}

TEST(the_ring_keeps_the_size_it_was_enabled_with)
{
    const char *why;
    setup();
    for (int i = 0; i < N; i++)
        set_desc(i, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    /* used_idx well past the size, then the size register rewritten: the
     * next used entry still lands inside the N-entry ring. */
    for (int round = 0; round < 3 * N; round++) {
        offer((uint16_t)(round % N));
        CHECK_EQ(pop(&why), 1);
        CHECK(virtq_push(&vq, chain.head, chain.generation, 4));
    }
    memset(gpa_to_host(&mem, USED + 6 + 8 * N, 64), 0xee, 64);
    vq.size = 0; /* what a transport that let it through would store */
    offer(0);
    CHECK_EQ(pop(&why), 1);
    CHECK(virtq_push(&vq, chain.head, chain.generation, 4));
    uint8_t *after = gpa_to_host(&mem, USED + 6 + 8 * N, 64);
    bool untouched = true;
    for (int i = 0; i < 64; i++)
        untouched &= after[i] == 0xee;
    CHECK(untouched);
}

RUN_TESTS(CASE(enable_checks_size_alignment_and_ram), CASE(a_chain_with_readable_then_writable_buffers),
          CASE(malformed_chains_are_refused), CASE(indirect_tables), CASE(notification_suppression), CASE(blk_requests),
          CASE(in_flight_heads_and_stale_answers), CASE(the_ring_keeps_the_size_it_was_enabled_with))
