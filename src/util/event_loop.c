#include "util/event_loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"

/* epoll data of the two control eventfds (an fd's is its entry index). */
#define STOP_EVENT UINT32_MAX
#define HOLD_EVENT (UINT32_MAX - 1)

int event_loop_init(struct event_loop *loop, const char *thread_name)
{
    memset(loop, 0, sizeof(*loop));
    snprintf(loop->name, sizeof(loop->name), "%s", thread_name);
    pthread_mutex_init(&loop->hold_lock, NULL);
    pthread_cond_init(&loop->hold_cond, NULL);
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    loop->hold_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epoll_fd < 0 || loop->stop_fd < 0 || loop->hold_fd < 0) {
        log_error("%s: epoll/eventfd: %s", thread_name, strerror(errno));
        return -1;
    }
    struct epoll_event stop = {.events = EPOLLIN, .data.u32 = STOP_EVENT};
    struct epoll_event hold = {.events = EPOLLIN, .data.u32 = HOLD_EVENT};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->stop_fd, &stop) < 0 ||
                   epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->hold_fd, &hold) < 0
               ? -1
               : 0;
}

/* On the loop's thread: parks while a hold is requested. */
static void hold_here(struct event_loop *loop)
{
    uint64_t v;
    ssize_t r = read(loop->hold_fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&loop->hold_lock);
    if (loop->hold_requested) {
        loop->held = true;
        pthread_cond_broadcast(&loop->hold_cond);
        while (loop->hold_requested)
            pthread_cond_wait(&loop->hold_cond, &loop->hold_lock);
        loop->held = false;
    }
    pthread_mutex_unlock(&loop->hold_lock);
}

int event_loop_hold(struct event_loop *loop, int timeout_ms)
{
    if (!loop->running)
        return 0;
    struct timespec deadline = clock_realtime_deadline(timeout_ms);
    pthread_mutex_lock(&loop->hold_lock);
    loop->hold_requested = true;
    uint64_t one = 1;
    ssize_t w = write(loop->hold_fd, &one, sizeof(one));
    (void)w;
    int r = 0;
    while (!loop->held && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&loop->hold_cond, &loop->hold_lock, &deadline);
    bool ok = loop->held;
    if (!ok) { /* withdrawn: the thread runs on when it gets to the request */
        loop->hold_requested = false;
        pthread_cond_broadcast(&loop->hold_cond);
    }
    pthread_mutex_unlock(&loop->hold_lock);
    return ok ? 0 : -1;
}

void event_loop_release(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->hold_lock);
    loop->hold_requested = false;
    pthread_cond_broadcast(&loop->hold_cond);
    pthread_mutex_unlock(&loop->hold_lock);
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_fn fn, void *ctx)
{
    if (loop->nfds >= EVENT_LOOP_MAX_FDS) {
        log_error("%s: too many file descriptors in one event loop", loop->name);
        return -1;
    }
    int i = loop->nfds;
    loop->entries[i].fd = fd;
    loop->entries[i].fn = fn;
    loop->entries[i].ctx = ctx;
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_error("%s: epoll_ctl: %s", loop->name, strerror(errno));
        return -1;
    }
    __atomic_store_n(&loop->nfds, i + 1, __ATOMIC_RELEASE);
    return 0;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
    for (int i = 0; i < loop->nfds; i++)
        if (loop->entries[i].fd == fd) {
            struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
            return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
        }
    return -1;
}

/* One epoll_wait and the callbacks of what it found. -1 on a stop request
 * or an epoll error; else the callbacks run. `on_thread`: the loop's own
 * thread, which obeys the stop and hold requests. */
static int dispatch(struct event_loop *loop, int timeout_ms, bool on_thread)
{
    struct epoll_event evs[EVENT_LOOP_MAX_FDS + 1];
    int n = epoll_wait(loop->epoll_fd, evs, EVENT_LOOP_MAX_FDS + 1, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        log_error("%s: epoll_wait: %s", loop->name, strerror(errno));
        return -1;
    }
    int ran = 0;
    for (int i = 0; i < n; i++) {
        uint32_t idx = evs[i].data.u32;
        if (idx == STOP_EVENT && on_thread)
            return -1;
        if (idx == HOLD_EVENT && on_thread) {
            hold_here(loop);
            continue;
        }
        if (idx < (uint32_t)__atomic_load_n(&loop->nfds, __ATOMIC_ACQUIRE)) {
            loop->entries[idx].fn(loop->entries[idx].ctx, evs[i].events);
            ran++;
        }
    }
    return ran;
}

static void *loop_thread(void *arg)
{
    struct event_loop *loop = arg;
    pthread_setname_np(pthread_self(), loop->name);
    if (loop->thread_init)
        loop->thread_init(loop->thread_init_ctx);
    while (dispatch(loop, -1, true) >= 0)
        ;
    return NULL;
}

int event_loop_run_once(struct event_loop *loop, int timeout_ms)
{
    return loop->running ? -1 : dispatch(loop, timeout_ms, false);
}

void event_loop_on_thread_start(struct event_loop *loop, void (*fn)(void *ctx), void *ctx)
{
    loop->thread_init = fn;
    loop->thread_init_ctx = ctx;
}

int event_loop_start(struct event_loop *loop)
{
    int r = thread_start_no_signals(&loop->thread, loop_thread, loop);
    if (r != 0) {
        log_error("%s: cannot start its thread: %s", loop->name, strerror(r));
        return -1;
    }
    loop->running = true;
    return 0;
}

void event_loop_stop(struct event_loop *loop)
{
    if (!loop->running)
        return;
    /* A held thread (the VM paused) must get back to its loop to see the
     * stop: a stop while paused would otherwise join a thread that waits
     * for a release that never comes. */
    event_loop_release(loop);
    uint64_t one = 1;
    ssize_t r = write(loop->stop_fd, &one, sizeof(one));
    (void)r;
    pthread_join(loop->thread, NULL);
    loop->running = false;
    /* Consume the stop request, so that the loop can be started again. */
    uint64_t v;
    r = read(loop->stop_fd, &v, sizeof(v));
}

void event_loop_destroy(struct event_loop *loop)
{
    event_loop_stop(loop);
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    if (loop->stop_fd >= 0)
        close(loop->stop_fd);
    if (loop->hold_fd >= 0)
        close(loop->hold_fd);
    loop->epoll_fd = loop->stop_fd = loop->hold_fd = -1;
    pthread_mutex_destroy(&loop->hold_lock);
    pthread_cond_destroy(&loop->hold_cond);
}
