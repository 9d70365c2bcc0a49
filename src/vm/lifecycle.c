#include "vm/lifecycle.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

int vm_lifecycle_init(struct vm_lifecycle *lc)
{
    memset(lc, 0, sizeof(*lc));
    pthread_mutex_init(&lc->stop_lock, NULL);
    pthread_mutex_init(&lc->pause_lock, NULL);
    pthread_cond_init(&lc->pause_cond, NULL);
    atomic_store(&lc->stop_reason, VM_STOP_NONE);
    lc->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (lc->stop_efd < 0) {
        log_error("vm: eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void vm_lifecycle_destroy(struct vm_lifecycle *lc)
{
    if (lc->stop_efd >= 0)
        close(lc->stop_efd);
    lc->stop_efd = -1;
    pthread_mutex_destroy(&lc->stop_lock);
    pthread_mutex_destroy(&lc->pause_lock);
    pthread_cond_destroy(&lc->pause_cond);
}

void vm_lifecycle_vrequest_stop(struct vm_lifecycle *lc, enum vm_stop_reason reason, const char *fmt, va_list ap)
{
    bool first = false;
    pthread_mutex_lock(&lc->stop_lock);
    if (atomic_load(&lc->stop_reason) == VM_STOP_NONE) {
        vsnprintf(lc->stop_message, sizeof(lc->stop_message), fmt, ap);
        atomic_store_explicit(&lc->stop_reason, reason, memory_order_release);
        uint64_t one = 1;
        ssize_t r = write(lc->stop_efd, &one, sizeof(one));
        (void)r;
        first = true;
    }
    pthread_mutex_unlock(&lc->stop_lock);
    if (first) { /* a paused vCPU leaves its park to stop */
        pthread_mutex_lock(&lc->pause_lock);
        pthread_cond_broadcast(&lc->pause_cond);
        pthread_mutex_unlock(&lc->pause_lock);
    }
}

void vm_lifecycle_request_stop(struct vm_lifecycle *lc, enum vm_stop_reason reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_lifecycle_vrequest_stop(lc, reason, fmt, ap);
    va_end(ap);
}

void vm_lifecycle_pause_point(struct vm_lifecycle *lc, _Atomic int *state, int paused_state)
{
    if (!atomic_load_explicit(&lc->pause_requested, memory_order_acquire))
        return;
    pthread_mutex_lock(&lc->pause_lock);
    int before = atomic_load(state);
    atomic_store(state, paused_state);
    lc->paused_vcpus++;
    pthread_cond_broadcast(&lc->pause_cond);
    while (atomic_load(&lc->pause_requested) && !vm_lifecycle_stopping(lc))
        pthread_cond_wait(&lc->pause_cond, &lc->pause_lock);
    lc->paused_vcpus--;
    atomic_store(state, before);
    pthread_mutex_unlock(&lc->pause_lock);
}
