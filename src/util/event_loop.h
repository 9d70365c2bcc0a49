/* A small epoll loop on its own thread, for device I/O threads: file
 * descriptors with callbacks, and a stop eventfd. Callbacks run on the loop's
 * thread only. */
#ifndef EMBER_UTIL_EVENT_LOOP_H
#define EMBER_UTIL_EVENT_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define EVENT_LOOP_MAX_FDS 16

typedef void (*event_fn)(void *ctx, uint32_t events);

struct event_loop {
    int epoll_fd;
    int stop_fd;
    int hold_fd;            /* asks the thread to hold (event_loop_hold) */
    pthread_t thread;
    bool running;
    /* Hold: the thread parks between callbacks, alive (hold_lock). */
    pthread_mutex_t hold_lock;
    pthread_cond_t hold_cond;
    bool hold_requested, held;
    char name[16];
    /* Run on the thread before its first callback (its confinement). */
    void (*thread_init)(void *ctx);
    void *thread_init_ctx;
    int nfds;
    struct {
        int fd;
        event_fn fn;
        void *ctx;
    } entries[EVENT_LOOP_MAX_FDS];
};

int event_loop_init(struct event_loop *loop, const char *thread_name);
/* Adds fd, watched for `events` (EPOLLIN usually; 0 for none yet). */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_fn fn, void *ctx);
/* Changes the events an added fd is watched for (0: none for now). */
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);
int event_loop_start(struct event_loop *loop);
/* fn(ctx) runs on the loop's thread when it starts, before any callback. */
void event_loop_on_thread_start(struct event_loop *loop, void (*fn)(void *ctx), void *ctx);
/* One turn of the loop on the calling thread, for tests and fuzz harnesses
 * that drive a device deterministically: waits up to timeout_ms (0: not at
 * all) for ready file descriptors and runs their callbacks. Returns how many
 * ran; -1 if the loop's own thread is running (the two would race). */
int event_loop_run_once(struct event_loop *loop, int timeout_ms);
/* Stops and joins the thread; safe to call when never started. */
void event_loop_stop(struct event_loop *loop);
/* Parks the running thread between two callbacks, without ending it (a
 * thread that ends waits in the kernel for the io_uring requests it
 * submitted, however long the host's storage holds them). 0 once it is
 * parked; -1 if it did not get there within timeout_ms (it then runs on). */
int event_loop_hold(struct event_loop *loop, int timeout_ms);
/* Lets a held thread run again. */
void event_loop_release(struct event_loop *loop);
void event_loop_destroy(struct event_loop *loop);

#endif
