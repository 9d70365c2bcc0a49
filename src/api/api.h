/* ember's control API: Firecracker's REST API on a Unix socket, and the
 * lifecycle around it. One ember process holds one VM:
 *
 *   not started --InstanceStart--> running <--PATCH /vm--> paused
 *
 * The API thread (http_server.c) answers requests; configuration before boot
 * goes into a Firecracker-shaped description (fc_config.c). InstanceStart
 * hands that to the main thread, which builds and starts the VM and reports
 * back, so the request answers 204 only once the vCPUs run, or 400 with the
 * reason. While the VM runs, the API pauses and resumes it, presses
 * Ctrl-Alt-Del, and writes metrics; nothing it does waits on a vCPU thread
 * except a pause, which waits (bounded) for the vCPUs to park. */
#ifndef EMBER_API_API_H
#define EMBER_API_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "api/fc_config.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "vm/vm.h"

enum api_state { API_NOT_STARTED, API_STARTING, API_RUNNING, API_STOPPED };

struct api {
    bool serving;                /* an API socket exists */
    const char *id;              /* GET /'s "id" (--id; "anonymous-instance") */
    size_t max_body;             /* --http-api-max-payload-size; 0: HTTP_MAX_BODY */
    struct http_server server;
    struct fc_config fc;
    struct metrics metrics;
    json_t *requests;            /* {get,put,patch}_api_requests counters */

    pthread_mutex_t lock;        /* everything below; the outermost lock (see virtio/device.h) */
    pthread_cond_t cond;
    enum api_state state;
    int start_efd;               /* InstanceStart: wakes the main thread */
    int start_result;            /* 0 or -1, for the waiting request */
    char start_error[FC_ERR_MAX];
    struct vm *vm;               /* while running */
};

int api_init(struct api *api);
/* Serves on path (from now on, until api_close). */
int api_serve(struct api *api, const char *path);
void api_close(struct api *api);

/* Main thread: waits for InstanceStart (or a stop signal: returns -1).
 * sigfd: a signalfd for SIGINT/SIGTERM/SIGHUP. */
int api_wait_for_start(struct api *api, int sigfd);
/* Main thread, before api_serve: the VM starts without InstanceStart (a
 * command line or config file); requests wait until api_started. */
void api_starting(struct api *api);
/* Main thread: the VM started (vm) or failed (NULL, error: the reason). */
void api_started(struct api *api, struct vm *vm, const char *error);
/* Main thread: the VM stopped; writes the last metrics line. */
void api_stopped(struct api *api);
/* Configures metrics from a config file's section. */
int api_set_metrics(struct api *api, const char *path, char *err);

#endif
