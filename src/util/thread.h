/* Starting helper threads (device I/O, the API): they must never take the
 * signals the main thread (SIGINT/SIGTERM/SIGHUP, through a signalfd) and the
 * vCPU threads (the kick) handle, so they start with every signal blocked. */
#ifndef EMBER_UTIL_THREAD_H
#define EMBER_UTIL_THREAD_H

#include <pthread.h>
#include <signal.h>

/* pthread_create with all signals blocked in the new thread; 0 or an errno. */
static inline int thread_start_no_signals(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

#endif
