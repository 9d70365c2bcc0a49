/* libFuzzer harness: a hostile driver's whole view of a virtqueue. The input
 * becomes guest memory (descriptor table, available ring, buffers, indirect
 * tables) and the queue's negotiated features; the harness then walks every
 * chain the device would, parses each as a virtio-blk request and as a
 * virtio-net transmit packet, and copies through it. Any out-of-bounds access
 * or undefined behaviour is a bug (ASan/UBSan abort). Built with clang:
 * `make fuzz`; run briefly by the test command. */
#include <stdint.h>
#include <string.h>

#include "memory/guest_memory.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/virtqueue.h"

#define RAM (256 * 1024)
#define QSIZE 16

static struct guest_memory mem;
static struct virtq_chain chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!mem.base && guest_memory_init(&mem, RAM) < 0)
        return 0;
    if (size < 4)
        return 0;
    /* First bytes: features and ring placement; the rest fills guest memory
     * from address 0 (rings at fixed spots inside it). */
    uint8_t flags = data[0];
    uint16_t last_avail = (uint16_t)(data[1] | data[2] << 8);
    uint16_t qsize = (uint16_t)(1u << (data[3] % 9)); /* 1..256 */
    data += 4, size -= 4;
    memset(mem.base, 0, 0x10000);
    memcpy(mem.base, data, size < 0x10000 ? size : 0x10000);

    struct virtq vq;
    virtq_reset(&vq, qsize);
    vq.desc_gpa = 0x0;
    vq.avail_gpa = 0x1000;
    vq.used_gpa = 0x2000;
    vq.indirect = flags & 1;
    vq.event_idx = flags & 2;
    const char *why;
    if (virtq_enable(&vq, &mem, &why) < 0)
        return 0;
    vq.last_avail = last_avail;
    for (int i = 0; i < 64; i++) {
        int r = virtq_pop(&vq, &mem, &chain, &why);
        if (r <= 0)
            break;
        struct blk_request req;
        blk_parse_request(&chain, 1u << 20, flags & 4, &req);
        struct net_tx_packet pkt;
        net_parse_tx(&chain, &pkt);
        uint8_t buf[64];
        virtq_chain_read(&chain, flags, buf, sizeof(buf));
        virtq_chain_write(&chain, flags >> 1, buf, sizeof(buf));
        virtq_push(&vq, chain.head, chain.generation, (uint32_t)chain.writable_len);
        virtq_should_interrupt(&vq);
    }
    virtq_arm_notify(&vq);
    return 0;
}
