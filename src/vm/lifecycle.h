/* The VM's lifecycle as every thread sees it: whether it is stopping (and
 * why), and whether the vCPUs are asked to pause. vCPU threads, device
 * callbacks, the API and the main thread all share it, and it depends on
 * none of them, so the vCPU code needs no view of the whole VM.
 *
 * Locks: stop_lock guards the stop reason and message while they are set
 * (reads are atomic); pause_lock guards paused_vcpus and paused, and
 * pause_cond is signalled on every change of them and on a stop. Neither is
 * held while taking the other. */
#ifndef EMBER_VM_LIFECYCLE_H
#define EMBER_VM_LIFECYCLE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

enum vm_stop_reason {
    VM_STOP_NONE,
    VM_STOP_POWEROFF, /* guest powered off: exit 0 */
    VM_STOP_REBOOT,   /* guest rebooted (ember does not restart it): exit 0 */
    VM_STOP_SIGNAL,   /* SIGINT/SIGTERM/SIGHUP: clean stop, exit 0 */
    VM_STOP_USER,     /* console escape sequence: exit 0 */
    VM_STOP_ERROR,    /* fatal VM error: exit 1 */
    VM_STOP_PANIC,    /* the guest kernel panicked (pvpanic): exit 3 */
};

struct vm_lifecycle {
    pthread_mutex_t stop_lock;
    _Atomic int stop_reason; /* enum vm_stop_reason; the first request wins */
    char stop_message[512];
    /* Signalled once a stop is requested and never read, so it stays
     * readable: a thread that sleeps in poll() includes it and cannot miss a
     * stop that lands just before it sleeps. */
    int stop_efd;
    atomic_uint stop_probe;  /* bumped by the main thread to ask every vCPU if it is parked */

    /* Pause (the API's PATCH /vm): vCPUs park at their next pause point. */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    atomic_bool pause_requested;
    int paused_vcpus;        /* vCPU threads parked */
    bool paused;             /* the whole VM is paused */
};

int vm_lifecycle_init(struct vm_lifecycle *lc);
void vm_lifecycle_destroy(struct vm_lifecycle *lc);

void vm_lifecycle_vrequest_stop(struct vm_lifecycle *lc, enum vm_stop_reason reason, const char *fmt, va_list ap);
void vm_lifecycle_request_stop(struct vm_lifecycle *lc, enum vm_stop_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline bool vm_lifecycle_stopping(struct vm_lifecycle *lc)
{
    return atomic_load_explicit(&lc->stop_reason, memory_order_acquire) != VM_STOP_NONE;
}

/* For vCPU threads: parks while a pause is requested (and the VM is not
 * stopping), with *state reading `paused_state` meanwhile. */
void vm_lifecycle_pause_point(struct vm_lifecycle *lc, _Atomic int *state, int paused_state);

#endif
