/* virtio-console (virtio 1.x 5.3), one port: the guest's hvc0. What the
 * guest transmits goes to ember's console back-end; what the user types is
 * offered to the guest's receive buffers, only as fast as the guest posts
 * them (the back-end's input thread waits for room, so nothing is lost). */
#include "virtio/console.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

enum { RXQ = 0, TXQ = 1 };

/* The most of one transmit buffer that goes to the console: Linux's ports
 * write at most 32 KiB a buffer, and a chain aliasing all of guest RAM 256
 * times must not cost the host 256 x RAM of output. The rest is dropped. */
#define CONSOLE_MAX_PER_REQUEST (64 * 1024)

struct virtio_console {
    struct virtio_device dev;
    struct virtio_console_backend be;
    struct virtq_chain chain;
    uint8_t out[4096];
    uint64_t rx_bytes, tx_bytes;
};

static void console_kick(struct virtio_device *dev, int q)
{
    struct virtio_console *con = dev->impl;
    if (q == RXQ) { /* the guest posted receive buffers: more input fits */
        if (con->be.rx_space)
            con->be.rx_space(con->be.ctx);
        return;
    }
    struct virtio_batch batch = {0};
    do {
        virtq_suppress_notify(&dev->vq[TXQ]);
        while (!dev->broken && virtio_batch_next(dev, TXQ, &batch) && virtio_pop(dev, TXQ, &con->chain) == 1) {
            uint64_t len = con->chain.readable_len < CONSOLE_MAX_PER_REQUEST ? con->chain.readable_len
                                                                              : CONSOLE_MAX_PER_REQUEST;
            for (uint64_t off = 0; off < len;) {
                size_t want = len - off < sizeof(con->out) ? (size_t)(len - off) : sizeof(con->out);
                size_t n = virtq_chain_read(&con->chain, off, con->out, want);
                if (n == 0)
                    break;
                con->be.write(con->be.ctx, con->out, n);
                off += n;
            }
            con->tx_bytes += len;
            if (len < con->chain.readable_len)
                dev->stats.out_dropped++;
            virtio_push(dev, TXQ, con->chain.head, con->chain.generation, 0);
        }
        virtio_flush_interrupt(dev, TXQ);
    } while (!batch.spent && !dev->broken && virtq_arm_notify(&dev->vq[TXQ]));
}

size_t virtio_console_receive(struct virtio_device *dev, const uint8_t *buf, size_t len)
{
    struct virtio_console *con = dev->impl;
    size_t done = 0;
    pthread_mutex_lock(&dev->lock);
    if (dev->active && !dev->broken && !dev->paused && dev->vq[RXQ].enabled) {
        /* At most a batch of chains per call, with the lock held: a guest
         * that keeps posting empty buffers must not keep this thread here.
         * A spent batch kicks the receive queue, whose kick tells the input
         * thread (rx_space) to come back for the rest. */
        struct virtio_batch batch = {0};
        do {
            while (done < len && virtio_batch_next(dev, RXQ, &batch) && virtio_pop(dev, RXQ, &con->chain) == 1) {
                size_t n = virtq_chain_write(&con->chain, 0, buf + done, len - done);
                virtio_push(dev, RXQ, con->chain.head, con->chain.generation, (uint32_t)n);
                done += n;
            }
            /* Ask for a kick when the guest posts more; buffers that came
             * in meanwhile are taken now. */
        } while (!batch.spent && virtq_arm_notify(&dev->vq[RXQ]) && done < len && !dev->broken);
        con->rx_bytes += done;
        virtio_flush_interrupt(dev, RXQ);
    }
    pthread_mutex_unlock(&dev->lock);
    return done;
}

static void console_destroy(struct virtio_device *dev) { free(dev->impl); }

static const struct virtio_device_ops console_ops = {
    .kind = "console", .device_id = VIRTIO_ID_CONSOLE, .queue_kick = console_kick, .destroy = console_destroy,
};

struct virtio_device *virtio_console_create(const struct guest_memory *mem, const char *name,
                                            const struct virtio_console_backend *be)
{
    struct virtio_console *con = calloc(1, sizeof(*con));
    if (!con) {
        log_error("%s: out of memory", name);
        return NULL;
    }
    con->be = *be;
    if (virtio_device_init(&con->dev, &console_ops, con, name, mem, 2, VIRTQ_MAX_SIZE) < 0) {
        virtio_device_destroy(&con->dev); /* frees con */
        return NULL;
    }
    /* config: cols, rows, max_nr_ports, emerg_wr; no feature needs them. */
    con->dev.config_len = 12;
    return &con->dev;
}
