/* A virtio 1.x device as its transport sees it, independent of MMIO or PCI:
 * feature negotiation, the status state machine, queues and configuration
 * space, reset, and the hooks the transport gives for interrupts.
 *
 * Each concrete device (virtio/blk.c, rng.c, ...) is one file with its own
 * virtio_device_ops and config space; it never knows its transport. Its work
 * happens on its own I/O thread (an event loop), woken by one eventfd per
 * queue: KVM signals it directly when the transport registered it as an
 * ioeventfd, and the transport writes it itself otherwise. The device lock
 * serializes the transport's register accesses (vCPU threads) with the I/O
 * thread's queue processing, so a reset never races with a request.
 *
 * A driver that breaks a ring gets DEVICE_NEEDS_RESET and a configuration
 * interrupt; the device touches nothing more until it is reset. */
#ifndef EMBER_VIRTIO_DEVICE_H
#define EMBER_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"
#include "util/event_loop.h"
#include "util/log.h"
#include "virtio/rate_limiter.h"
#include "virtio/virtqueue.h"

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport-independent feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device ids. */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_CONFIG_MAX 256

struct virtio_device;

/* What a device did, for the metrics; kept and read under the device lock.
 * "in" is device to driver (blk reads, net receive, rng bytes), "out" driver
 * to device (blk writes, net transmit). */
struct virtio_stats {
    uint64_t kicks, interrupts;
    uint64_t in_count, in_bytes, out_count, out_bytes;
    uint64_t flush_count;
    uint64_t fail_count;            /* requests answered with an error status */
    uint64_t in_dropped, out_dropped; /* packets lost: no buffer, bad frame, tap error */
    uint64_t broken;                /* times the driver broke a ring */
    uint64_t in_throttled, out_throttled; /* requests a rate limiter held back */
    uint64_t stale_dropped;         /* answers for a queue reset since: not written */
    uint64_t host_errors;           /* host I/O that failed (blk: image reads, writes, flushes) */
};

struct virtio_device_ops {
    const char *kind;        /* "blk", "rng", ... */
    uint32_t device_id;
    /* The driver reached DRIVER_OK: start serving (device lock held). */
    int (*activate)(struct virtio_device *dev);
    /* Reset: stop serving and forget in-flight work (device lock held). */
    void (*reset)(struct virtio_device *dev);
    /* Queue q is reset alone (optional; device lock held): let its requests
     * in flight finish for a bounded time; later answers are dropped as
     * stale (the queue's generation changes right after). */
    void (*queue_reset)(struct virtio_device *dev, int q);
    /* Queue `q` was kicked (I/O thread, device lock held). */
    void (*queue_kick)(struct virtio_device *dev, int q);
    /* The driver wrote the config space (optional; device lock held). */
    void (*config_write)(struct virtio_device *dev, uint32_t offset, const uint8_t *data, uint32_t len);
    /* The VM pauses and the I/O thread has stopped: finish or hold work so
     * that guest memory no longer changes, within timeout_ms (optional;
     * device lock held). -1 if work is still running then. */
    int (*quiesce)(struct virtio_device *dev, int timeout_ms);
    /* Frees the device's own state after its thread stopped. */
    void (*destroy)(struct virtio_device *dev);
};

/* What the transport provides. */
struct virtio_transport_hooks {
    /* Queue q has used buffers (q < 0: the config space changed). Any thread. */
    void (*interrupt)(struct virtio_device *dev, int q);
    void *ctx;
};

/* What the I/O thread's callback for a queue's eventfd needs. */
struct virtio_kick {
    struct virtio_device *dev;
    int q;
};

/* Lock order, for the whole of ember (outermost first; a thread holding one
 * lock takes only locks further down this list):
 *   1. api.lock (api/api.h): the API's state; a pause or PATCH under it takes
 *      the locks below.
 *   2. virtio_mmio.lock (virtio/mmio.h): the selector registers; a register
 *      write under it reaches the device lock.
 *   3. virtio_device.lock (here): a device's whole state, its queues, its
 *      counters and its limiters. Taken by vCPU threads (register accesses),
 *      the device's I/O thread (requests), the API thread (metrics, pause,
 *      PATCH) and the console's input thread. Never held across a wait on the
 *      host without a bound (resets drain for at most 500 ms, a pause for the
 *      time it was given), nor across more than VIRTIO_BATCH requests.
 *   4. virtio_pci.lock (virtio/pci.h): MSI-X table, vectors, ISR; taken inside
 *      the device lock by the interrupt hook.
 *   5. the platform devices' locks (UART, i8042, CMOS, power) and the PCI
 *      bus lock: each device's own registers; a device raises its line
 *      under it.
 *   6. the interrupt controllers: the IOAPIC's and the 8259s' locks, then a
 *      LAPIC's lock (a LAPIC calls its EOI and IPI hooks after releasing its
 *      own), then irq_chip.routes_lock (split mode's route mirror, after the
 *      IOAPIC's lock is released).
 *   7. vcpu.thread_lock (cpu/vcpu.h): signalling a vCPU thread.
 *   8. leaves, which take nothing: vm_lifecycle's stop_lock and pause_lock
 *      (vm/lifecycle.h), event_loop.hold_lock, the log's lock. */
struct virtio_device {
    const struct virtio_device_ops *ops;
    void *impl;                     /* the concrete device */
    char name[32];                  /* "virtio-blk0": thread and log name */
    const struct guest_memory *mem;
    pthread_mutex_t lock;           /* see the lock order above */

    uint64_t host_features;
    uint64_t guest_features;
    uint8_t status;
    uint32_t config_generation;
    uint8_t config[VIRTIO_CONFIG_MAX];
    uint32_t config_len;
    uint16_t num_queues;
    uint16_t queue_max;
    struct virtq vq[VIRTIO_MAX_QUEUES];
    int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfds the I/O thread waits on */
    struct virtio_kick kick[VIRTIO_MAX_QUEUES];
    bool active;                    /* DRIVER_OK reached and the device accepted it */
    bool broken;                    /* the driver broke a ring: waits for reset */
    bool paused;                    /* the VM is paused: host input must wait */
    struct virtio_transport_hooks transport;

    /* Rate limiting: queues a limiter holds back, looked at again when the
     * timer fires (virtio_rate_limit). */
    int throttle_fd;                /* timerfd on the I/O thread */
    uint32_t throttled;             /* bit q: queue q waits for the timer */
    uint64_t throttle_deadline_ns;  /* when the armed timer fires (0: disarmed) */

    struct event_loop loop;         /* the device's I/O thread */
    struct virtio_stats stats;      /* device lock */
    /* Guest-triggered messages, each source rate-limited. */
    struct log_ratelimit log_broken, log_status, log_queue;
};

/* Sets up the generic part; the device then fills host_features (VERSION_1,
 * EVENT_IDX and INDIRECT_DESC are added here), config and its own state. */
int virtio_device_init(struct virtio_device *dev, const struct virtio_device_ops *ops, void *impl, const char *name,
                       const struct guest_memory *mem, uint16_t num_queues, uint16_t queue_max);
/* Starts the I/O thread (after the transport set its hooks and ioeventfds). */
int virtio_device_start(struct virtio_device *dev);
/* Stops the I/O thread (the VM stopped); destroy follows. */
void virtio_device_stop(struct virtio_device *dev);
/* Pause: stops the I/O thread and quiesces the device; kicks and host input
 * wait in their eventfds and file descriptors until virtio_device_resume.
 * -1 if the device could not quiesce within timeout_ms: it is then running
 * again, as if resumed. */
int virtio_device_pause(struct virtio_device *dev, int timeout_ms);
void virtio_device_resume(struct virtio_device *dev);
/* A copy of the device's counters. */
struct virtio_stats virtio_device_stats(struct virtio_device *dev);
/* Stops the I/O thread, resets the device, frees everything (the concrete
 * device too, through ops->destroy). Also undoes a failed init. */
void virtio_device_destroy(struct virtio_device *dev);

/* A queue's driver-written registers, as both transports have them. */
enum virtio_queue_reg {
    VIRTIO_QUEUE_SIZE,
    VIRTIO_QUEUE_READY,
    VIRTIO_QUEUE_DESC,  /* 64-bit addresses, written as 32-bit halves */
    VIRTIO_QUEUE_AVAIL,
    VIRTIO_QUEUE_USED,
};

/* The transport's register accesses (each takes the device lock). */
uint32_t virtio_get_host_features(struct virtio_device *dev, uint32_t select);
void virtio_set_guest_features(struct virtio_device *dev, uint32_t select, uint32_t value);
uint8_t virtio_get_status(struct virtio_device *dev);
void virtio_set_status(struct virtio_device *dev, uint8_t status);
void virtio_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len);
void virtio_config_write(struct virtio_device *dev, uint32_t offset, const uint8_t *data, uint32_t len);
/* A driver's write to queue q's register (the upper half of an address if
 * `high`). The rules (virtio 1.2, 3.1.1 and 4.x): a queue is set up only
 * after FEATURES_OK and before DRIVER_OK, and only while it is not ready;
 * other writes are ignored and read back unchanged. Writing READY = 0 is a
 * queue reset, allowed at any time. */
void virtio_queue_write(struct virtio_device *dev, uint16_t q, enum virtio_queue_reg reg, bool high, uint32_t value);
/* A QueueNotify the transport saw itself (no ioeventfd). */
void virtio_notify_queue(struct virtio_device *dev, uint16_t q);

/* For devices (device lock held): the next chain of queue q (1/0, or -1
 * after marking the device broken); return a chain and interrupt if the
 * driver wants one. */
int virtio_pop(struct virtio_device *dev, int q, struct virtq_chain *c);
/* Answers the chain `head` taken in `generation`; a stale one (its queue
 * was reset since) is dropped and counted. */
void virtio_push(struct virtio_device *dev, int q, uint16_t head, uint32_t generation, uint32_t written);
void virtio_flush_interrupt(struct virtio_device *dev, int q);
/* Lock held: may a request of `bytes` (device to driver if `in`) pass `rl`
 * now? If not, the `popped` chains just taken from queue q go back, the
 * queue is throttled, and the device must stop taking its requests. */
bool virtio_rate_limit(struct virtio_device *dev, int q, struct rate_limiter *rl, uint64_t bytes, bool in,
                       uint16_t popped);
/* Sets or changes one of the device's limiters (takes the device lock). */
void virtio_update_rate_limiter(struct virtio_device *dev, struct rate_limiter *rl,
                                const struct rate_limiter_config *cfg);
/* How many requests a device takes from one queue per wake-up of its I/O
 * thread. The device lock is held meanwhile, so a driver that keeps adding
 * buffers must not keep the thread (and a pause, the metrics, a stop) from
 * everything else: once spent, the queue is kicked again and looked at on
 * the I/O thread's next turn. */
#define VIRTIO_BATCH 64

struct virtio_batch {
    unsigned taken;
    bool spent;
};

/* Lock held, in a device's queue loop, before it takes the next chain:
 * false once the batch is spent (the queue is then kicked again). */
bool virtio_batch_next(struct virtio_device *dev, int q, struct virtio_batch *b);

/* The driver broke the device's rules: DEVICE_NEEDS_RESET and a config interrupt. */
void virtio_mark_broken(struct virtio_device *dev, const char *why);
/* The device changed its config space (generation bump and interrupt). */
void virtio_config_changed(struct virtio_device *dev);

#endif
