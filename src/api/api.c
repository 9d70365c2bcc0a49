#include "api/api.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "security/landlock.h"
#include "security/seccomp.h"
#include "util/clock.h"
#include "util/log.h"
#include "version.h"

/* The Firecracker API version whose requests ember answers (GET /version). */
#define PAUSE_TIMEOUT_MS 5000

#define NOT_BEFORE_BOOT "The requested operation is not supported before starting the microVM."
#define NOT_AFTER_BOOT "The requested operation is not supported after starting the microVM."

static const char *state_name(enum api_state s, struct vm *vm)
{
    if (s == API_RUNNING && vm && vm_is_paused(vm))
        return "Paused";
    return s == API_RUNNING ? "Running" : s == API_STOPPED ? "Stopped" : "Not started";
}

/* --- request counters ------------------------------------------------------------ */

static void bump(struct api *api, const char *group, const char *what, bool failed)
{
    json_t *g = json_object_get(api->requests, group);
    char key[64];
    snprintf(key, sizeof(key), "%s_%s", what, failed ? "fails" : "count");
    json_t *v = json_object_get(g, key);
    json_object_set_new(g, key, json_integer(v ? json_integer_value(v) + 1 : 1));
    if (failed) /* a failed request is a request too */
        bump(api, group, what, false);
}

/* --- metrics --------------------------------------------------------------------- */

static json_t *device_metrics(const struct virtio_stats *s, const char *kind)
{
    if (!strcmp(kind, "blk"))
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "read_count", (json_int_t)s->in_count,
                         "read_bytes", (json_int_t)s->in_bytes, "write_count", (json_int_t)s->out_count, "write_bytes",
                         (json_int_t)s->out_bytes, "flush_count", (json_int_t)s->flush_count, "execute_fails",
                         (json_int_t)s->fail_count, "queue_event_count", (json_int_t)s->kicks, "event_fails",
                         (json_int_t)s->broken, "rate_limiter_throttled_events",
                         (json_int_t)(s->in_throttled + s->out_throttled), "host_io_errors",
                         (json_int_t)s->host_errors);
    if (!strcmp(kind, "net"))
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_packets_count",
                         (json_int_t)s->in_count, "rx_bytes_count", (json_int_t)s->in_bytes, "tx_packets_count",
                         (json_int_t)s->out_count, "tx_bytes_count", (json_int_t)s->out_bytes, "rx_fails",
                         (json_int_t)s->in_dropped, "tx_fails", (json_int_t)s->out_dropped, "tx_queue_event_count",
                         (json_int_t)s->kicks, "event_fails", (json_int_t)s->broken, "rx_rate_limiter_throttled",
                         (json_int_t)s->in_throttled, "tx_rate_limiter_throttled", (json_int_t)s->out_throttled);
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "entropy_event_count", (json_int_t)s->kicks, "entropy_bytes",
                     (json_int_t)s->in_bytes, "entropy_event_fails", (json_int_t)s->broken, "host_rng_fails",
                     (json_int_t)0, "entropy_rate_limiter_throttled", (json_int_t)s->in_throttled);
}

/* Firecracker's balloon metrics, and ember's counts of what a guest got wrong. */
static json_t *balloon_metrics(struct virtio_device *d, const struct virtio_stats *s)
{
    struct virtio_balloon_counters c = virtio_balloon_counters(d);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "activate_fails", (json_int_t)0,
                     "inflate_count", (json_int_t)c.inflated_pages, "deflate_count", (json_int_t)c.deflated_pages,
                     "stats_updates_count", (json_int_t)c.stats_updates, "stats_update_fails",
                     (json_int_t)c.stats_unknown, "event_fails", (json_int_t)s->broken, "reported_bytes",
                     (json_int_t)c.reported_bytes, "ignored_pages", (json_int_t)c.ignored_pages, "malformed_requests",
                     (json_int_t)c.malformed, "madvise_fails", (json_int_t)c.madvise_errors);
}

/* Adds b's integers into a (both objects of counters). */
static void add_into(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        json_t *o = json_object_get(a, k);
        json_object_set_new(a, k, json_integer((o ? json_integer_value(o) : 0) + json_integer_value(v)));
    }
}

/* Lock held. Totals since boot; the metrics writer turns them into deltas. */
static json_t *collect(struct api *api)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_deep_copy(api->requests);
    json_object_set_new(o, "utc_timestamp_ms", json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
    json_object_set_new(o, "logger", json_pack("{s:I, s:I, s:I}", "missed_log_count", (json_int_t)log_lines_failed(),
                                               "log_count", (json_int_t)log_lines_written(), "metrics_fails",
                                               (json_int_t)api->metrics.fails));
    json_object_set_new(o, "api_server",
                        json_pack("{s:I, s:I, s:I}", "requests_count", (json_int_t)api->server.requests,
                                  "bad_requests_count", (json_int_t)api->server.bad_requests,
                                  "refused_connections_count", (json_int_t)api->server.refused_connections));
    json_object_set_new(o, "seccomp", json_pack("{s:I}", "num_faults", (json_int_t)seccomp_num_faults()));
    json_t *ember = json_pack("{s:s}", "state", state_name(api->state, api->vm));
    json_object_set_new(o, "ember", ember);
    struct vm *vm = api->vm;
    if (!vm)
        return o;
    json_t *blk = json_object(), *net = json_object(), *vcpu = json_object(), *vcpus = json_array();
    int disk = 0, nic = 0;
    for (int i = 0; i < vm->nvirtio; i++) {
        struct virtio_device *d = vm->virtio[i];
        struct virtio_stats s = virtio_device_stats(d);
        json_t *m = device_metrics(&s, d->ops->kind);
        char key[FC_ID_MAX + 8];
        /* Firecracker names a device's metrics by its drive or interface id;
         * a VM from ember's command line has none, so its device name serves. */
        if (!strcmp(d->ops->kind, "blk")) {
            add_into(blk, m);
            snprintf(key, sizeof(key), "block_%s",
                     disk < api->fc.ndrives ? api->fc.drives[api->fc.disk_order[disk]].id : d->name);
            disk++;
        } else if (!strcmp(d->ops->kind, "net")) {
            add_into(net, m);
            snprintf(key, sizeof(key), "net_%s", nic < api->fc.nnics ? api->fc.nics[nic].id : d->name);
            nic++;
        } else if (!strcmp(d->ops->kind, "rng")) {
            snprintf(key, sizeof(key), "entropy");
        } else if (!strcmp(d->ops->kind, "balloon")) {
            json_decref(m);
            m = balloon_metrics(d, &s);
            snprintf(key, sizeof(key), "balloon");
        } else {
            json_decref(m);
            continue;
        }
        json_object_set_new(o, key, m);
    }
    json_object_set_new(o, "block", blk);
    json_object_set_new(o, "net", net);
    unsigned long in = 0, out = 0, rd = 0, wr = 0;
    for (int i = 0; i < vm->ncpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        in += atomic_load(&v->io_in), out += atomic_load(&v->io_out);
        rd += atomic_load(&v->mmio_read), wr += atomic_load(&v->mmio_write);
        json_t *exits = json_object();
        for (unsigned r = 0; r <= VCPU_EXIT_REASONS; r++) {
            unsigned long c = atomic_load(&v->exits[r]);
            if (c)
                json_object_set_new(exits, r == VCPU_EXIT_REASONS ? "other" : vcpu_exit_reason_name(r),
                                    json_integer((json_int_t)c));
        }
        json_array_append_new(vcpus, json_pack("{s:i, s:s, s:o}", "id", i, "state",
                                               vcpu_state_name(atomic_load(&v->state)), "exits", exits));
    }
    json_object_set_new(vcpu, "exit_io_in", json_integer((json_int_t)in));
    json_object_set_new(vcpu, "exit_io_out", json_integer((json_int_t)out));
    json_object_set_new(vcpu, "exit_mmio_read", json_integer((json_int_t)rd));
    json_object_set_new(vcpu, "exit_mmio_write", json_integer((json_int_t)wr));
    json_object_set_new(o, "vcpu", vcpu);
    json_object_set_new(o, "i8042", json_pack("{s:I}", "reset_count", (json_int_t)vm->kbc.resets));
    json_object_set_new(o, "vmm", json_pack("{s:i}", "panic_count",
                                            atomic_load(&vm->life.stop_reason) == VM_STOP_PANIC ? 1 : 0));
    json_object_set_new(ember, "vcpus", vcpus);
    return o;
}

static int flush_metrics(struct api *api) { return metrics_write(&api->metrics, collect(api)); }

static void tick(void *ctx)
{
    struct api *api = ctx;
    pthread_mutex_lock(&api->lock);
    if (metrics_configured(&api->metrics) &&
        clock_monotonic_ns() - api->metrics.last_flush_ns >= METRICS_PERIOD_S * 1000000000ULL)
        flush_metrics(api);
    pthread_mutex_unlock(&api->lock);
}

/* --- requests ---------------------------------------------------------------------- */

struct route {
    const char *method;
    const char *path;
    const char *id;            /* the {id} segment, or NULL */
    json_t *body;              /* parsed for PUT and PATCH */
    struct http_response *resp;
    char err[FC_ERR_MAX];
};

static void reply(struct route *r, int status, json_t *body)
{
    r->resp->status = status;
    r->resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

static void fault(struct route *r, const char *msg)
{
    r->resp->status = 400;
    r->resp->body = http_fault_body("%s", msg);
}

/* The result of a configuration step: 204, or 400 with r->err. */
static bool done(struct api *api, struct route *r, int rc, const char *group, const char *what)
{
    bump(api, group, what, rc < 0);
    if (rc < 0)
        fault(r, r->err);
    else
        reply(r, 204, NULL);
    return rc == 0;
}

static int pre_boot_only(struct api *api, struct route *r)
{
    if (api->state == API_NOT_STARTED)
        return 0;
    return fc_error(r->err, NOT_AFTER_BOOT);
}

static int post_boot_only(struct api *api, struct route *r)
{
    if (api->state == API_RUNNING)
        return 0;
    return fc_error(r->err, NOT_BEFORE_BOOT);
}

/* The running VM's n-th virtio device of a kind ("blk", "net"), or NULL. */
static struct virtio_device *running_device(struct api *api, const char *kind, int n)
{
    for (int i = 0; i < api->vm->nvirtio; i++)
        if (!strcmp(api->vm->virtio[i]->ops->kind, kind) && n-- == 0)
            return api->vm->virtio[i];
    return NULL;
}

/* PATCH /drives/{id} after boot: a path_on_host moves the running disk to
 * that image (or re-reads its size, for the same one); a rate_limiter
 * changes its limits at once. */
static int patch_drive(struct api *api, struct route *r)
{
    struct fc_config *c = &api->fc;
    const char *path = NULL;
    struct rate_limiter_config limiter;
    int drive = -1;
    if (post_boot_only(api, r) < 0 || fc_check_drive_patch(c, r->id, r->body, &drive, &path, &limiter, r->err) < 0)
        return -1;
    for (int i = 0; path && i < c->ndrives; i++)
        if (i != drive && !strcmp(c->drives[i].path, path))
            return fc_error(r->err, "The drive's path_on_host %s is already drive %s's.", path, c->drives[i].id);
    /* ember's disks are its virtio-blk devices, in disk_order. */
    struct virtio_device *dev = NULL;
    for (int k = 0; k < c->ndrives; k++)
        if (c->disk_order[k] == drive)
            dev = running_device(api, "blk", k);
    if (!dev)
        return fc_error(r->err, "Invalid block device ID: %s: no such drive in the running VM.", r->id);
    if (path) {
        char why[FC_ERR_MAX] = "";
        log_capture(why, sizeof(why));
        int rc = virtio_blk_replace_image(dev, path);
        log_capture(NULL, 0);
        if (rc < 0)
            return fc_error(r->err, "Cannot update the drive %s: %.400s", r->id, why);
        fc_set_drive_path(c, r->id, path);
    }
    virtio_blk_set_rate_limiter(dev, &limiter);
    c->drives[drive].limiter = limiter;
    return 0;
}

/* PATCH /network-interfaces/{id} after boot: new rate limits at once. */
static int patch_network_interface(struct api *api, struct route *r)
{
    struct fc_config *c = &api->fc;
    struct rate_limiter_config rx, tx;
    int nic = -1;
    if (post_boot_only(api, r) < 0 || fc_check_network_patch(c, r->id, r->body, &nic, &rx, &tx, r->err) < 0)
        return -1;
    struct virtio_device *dev = running_device(api, "net", nic);
    if (!dev)
        return fc_error(r->err, "Invalid network interface ID: %s: no such interface in the running VM.", r->id);
    virtio_net_set_rate_limiters(dev, &rx, &tx);
    c->nics[nic].rx_limiter = rx;
    c->nics[nic].tx_limiter = tx;
    return 0;
}

/* Firecracker's balloon messages (its BalloonConfigError). */
#define BALLOON_NOT_FOUND "No balloon device found."
#define BALLOON_INACTIVE "Device is inactive, check if balloon driver is enabled in guest kernel."
#define BALLOON_NO_STATS "Statistics for the balloon device are not enabled"

static struct virtio_device *running_balloon(struct api *api, struct route *r)
{
    if (post_boot_only(api, r) < 0)
        return NULL;
    struct virtio_device *dev = api->fc.balloon ? running_device(api, "balloon", 0) : NULL;
    if (!dev)
        fc_error(r->err, BALLOON_NOT_FOUND);
    return dev;
}

/* PATCH /balloon after boot: the new target, and a config interrupt. */
static int patch_balloon(struct api *api, struct route *r)
{
    uint32_t amount;
    struct virtio_device *dev = running_balloon(api, r);
    if (!dev || fc_check_balloon_patch(&api->fc, r->body, &amount, r->err) < 0)
        return -1;
    if (virtio_balloon_set_target(dev, amount) < 0)
        return fc_error(r->err, BALLOON_INACTIVE);
    api->fc.balloon_cfg.amount_mib = amount;
    return 0;
}

/* PATCH /balloon/statistics after boot: a new polling interval. */
static int patch_balloon_statistics(struct api *api, struct route *r)
{
    uint16_t interval;
    struct virtio_device *dev = running_balloon(api, r);
    if (!dev || fc_check_balloon_stats_patch(&api->fc, r->body, &interval, r->err) < 0)
        return -1;
    if (!virtio_balloon_active(dev))
        return fc_error(r->err, BALLOON_INACTIVE);
    virtio_balloon_set_stats_interval(dev, interval);
    api->fc.balloon_cfg.stats_polling_interval_s = interval;
    return 0;
}

/* GET /balloon/statistics: the target and actual sizes, and the guest's
 * latest statistics under Firecracker's names (those never sent: left out). */
static json_t *balloon_statistics(struct api *api, struct route *r)
{
    struct virtio_device *dev = running_balloon(api, r);
    if (!dev)
        return NULL;
    if (!api->fc.balloon_cfg.stats_polling_interval_s) {
        fc_error(r->err, BALLOON_NO_STATS);
        return NULL;
    }
    static const char *const names[BALLOON_S_NR] = {
        [BALLOON_S_SWAP_IN] = "swap_in",         [BALLOON_S_SWAP_OUT] = "swap_out",
        [BALLOON_S_MAJFLT] = "major_faults",     [BALLOON_S_MINFLT] = "minor_faults",
        [BALLOON_S_MEMFREE] = "free_memory",     [BALLOON_S_MEMTOT] = "total_memory",
        [BALLOON_S_AVAIL] = "available_memory",  [BALLOON_S_CACHES] = "disk_caches",
        [BALLOON_S_HTLB_PGALLOC] = "hugetlb_allocations", [BALLOON_S_HTLB_PGFAIL] = "hugetlb_failures",
    };
    struct virtio_balloon_counters c = virtio_balloon_counters(dev);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)c.target_pages, "actual_pages",
                          (json_int_t)c.actual_pages, "target_mib", (json_int_t)(c.target_pages / BALLOON_PAGES_PER_MIB),
                          "actual_mib", (json_int_t)(c.actual_pages / BALLOON_PAGES_PER_MIB));
    for (int t = 0; t < BALLOON_S_NR; t++)
        if (c.stats_valid[t]) /* a u64: jansson's integers are signed, so a lie above 2^63 shows as such */
            json_object_set_new(o, names[t], json_integer((json_int_t)c.stats[t]));
    return o;
}

/* Lock held on entry and exit; dropped while the main thread starts the VM. */
static int instance_start(struct api *api, struct route *r)
{
    if (pre_boot_only(api, r) < 0 || fc_check_startable(&api->fc, r->err) < 0)
        return -1;
    api->state = API_STARTING;
    uint64_t one = 1;
    ssize_t w = write(api->start_efd, &one, sizeof(one));
    (void)w;
    while (api->state == API_STARTING)
        pthread_cond_wait(&api->cond, &api->lock);
    if (api->start_result < 0)
        return fc_error(r->err, "Cannot start the microVM: %.450s", api->start_error);
    return 0;
}

static int action(struct api *api, struct route *r)
{
    enum fc_action a;
    if (fc_parse_action(r->body, &a, r->err) < 0)
        return -1;
    switch (a) {
    case FC_ACTION_INSTANCE_START:
        return instance_start(api, r);
    case FC_ACTION_SEND_CTRL_ALT_DEL:
        if (post_boot_only(api, r) < 0)
            return -1;
        i8042_send_ctrl_alt_del(&api->vm->kbc);
        return 0;
    case FC_ACTION_FLUSH_METRICS:
        /* As Firecracker: not before boot; after it, nothing to do without metrics. */
        if (post_boot_only(api, r) < 0)
            return -1;
        if (!metrics_configured(&api->metrics))
            return 0;
        if (flush_metrics(api) < 0)
            return fc_error(r->err, "Cannot flush the metrics: writing them failed.");
        return 0;
    }
    return -1;
}

static int patch_vm(struct api *api, struct route *r)
{
    bool pause;
    if (fc_parse_vm_state(r->body, &pause, r->err) < 0 || post_boot_only(api, r) < 0)
        return -1;
    if (!pause) {
        vm_resume(api->vm);
        return 0;
    }
    log_capture(r->err, sizeof(r->err));
    int rc = vm_pause(api->vm, PAUSE_TIMEOUT_MS);
    log_capture(NULL, 0);
    if (rc < 0 && !r->err[0])
        fc_error(r->err, "Cannot pause the microVM: it is stopping.");
    return rc;
}

static json_t *instance_info(struct api *api)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "id", api->id, "state", state_name(api->state, api->vm),
                     "vmm_version", EMBER_VERSION, "app_name", "ember");
}

static json_t *vcpu_states(struct api *api)
{
    json_t *a = json_array();
    for (int i = 0; api->vm && i < api->vm->ncpus; i++)
        json_array_append_new(a, json_pack("{s:i, s:s}", "id", i, "state",
                                           vcpu_state_name(atomic_load(&api->vm->vcpus[i].state))));
    return a;
}

/* Paths of Firecracker's API whose features ember does not have yet. */
static const char *const not_built_paths[] = {"mmds", "snapshot", "serial", "pmem", "hotplug",
                                              NULL};

static bool is(const struct route *r, const char *method, const char *path)
{
    return !strcmp(r->method, method) && !strcmp(r->path, path);
}

static void route(struct api *api, struct route *r)
{
    bool get = !strcmp(r->method, "GET"), put = !strcmp(r->method, "PUT"), patch = !strcmp(r->method, "PATCH");
    if (get && !strcmp(r->path, "/")) {
        bump(api, "get_api_requests", "instance_info", false);
        reply(r, 200, instance_info(api));
    } else if (get && !strcmp(r->path, "/version")) {
        bump(api, "get_api_requests", "vmm_version", false);
        reply(r, 200, json_pack("{s:s, s:s}", "firecracker_version", FC_API_VERSION, "ember_version", EMBER_VERSION));
    } else if (get && !strcmp(r->path, "/machine-config")) {
        bump(api, "get_api_requests", "machine_cfg", false);
        reply(r, 200, fc_machine_config_json(&api->fc));
    } else if (get && !strcmp(r->path, "/vm/config")) {
        bump(api, "get_api_requests", "vm_config", false);
        reply(r, 200, fc_full_config_json(&api->fc));
    } else if (get && !strcmp(r->path, "/vcpus")) { /* ember's own: run states */
        bump(api, "get_api_requests", "vcpus", false);
        reply(r, 200, vcpu_states(api));
    } else if (is(r, "PUT", "/boot-source")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_boot_source(&api->fc, r->body, r->err),
             "put_api_requests", "boot_source");
    } else if ((put || patch) && !strcmp(r->path, "/machine-config")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_machine_config(&api->fc, r->body, patch, r->err),
             patch ? "patch_api_requests" : "put_api_requests", "machine_cfg");
        if (fc_uses_cpu_template_field(r->body)) { /* Firecracker deprecates static templates since 1.5 */
            r->resp->deprecated = true;
            log_warn("%s /machine-config: cpu_template field is deprecated.", r->method);
        }
    } else if (put && !strcmp(r->path, "/vsock")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_vsock(&api->fc, r->body, r->err), "put_api_requests",
             "vsock");
    } else if (put && !strcmp(r->path, "/cpu-config")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_cpu_config(&api->fc, r->body, r->err),
             "put_api_requests", "cpu_cfg");
    } else if (put && r->id && !strncmp(r->path, "/drives/", 8)) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_drive(&api->fc, r->id, r->body, r->err),
             "put_api_requests", "drive");
    } else if (patch && r->id && !strncmp(r->path, "/drives/", 8)) {
        done(api, r, patch_drive(api, r), "patch_api_requests", "drive");
    } else if (put && r->id && !strncmp(r->path, "/network-interfaces/", 20)) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_network_interface(&api->fc, r->id, r->body, r->err),
             "put_api_requests", "network");
    } else if (patch && r->id && !strncmp(r->path, "/network-interfaces/", 20)) {
        done(api, r, patch_network_interface(api, r), "patch_api_requests", "network");
    } else if (is(r, "PUT", "/entropy")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_entropy(&api->fc, r->body, r->err), "put_api_requests",
             "entropy");
    } else if (is(r, "PUT", "/balloon")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_balloon(&api->fc, r->body, r->err), "put_api_requests",
             "balloon");
    } else if (is(r, "PATCH", "/balloon")) {
        done(api, r, patch_balloon(api, r), "patch_api_requests", "balloon");
    } else if (is(r, "PATCH", "/balloon/statistics")) {
        done(api, r, patch_balloon_statistics(api, r), "patch_api_requests", "balloon_stats");
    } else if (is(r, "GET", "/balloon")) {
        bump(api, "get_api_requests", "balloon", !api->fc.balloon);
        if (api->fc.balloon)
            reply(r, 200, fc_balloon_json(&api->fc));
        else
            fault(r, BALLOON_NOT_FOUND);
    } else if (is(r, "GET", "/balloon/statistics")) {
        json_t *stats = balloon_statistics(api, r);
        bump(api, "get_api_requests", "balloon_stats", !stats);
        if (stats)
            reply(r, 200, stats);
        else
            fault(r, r->err);
    } else if (is(r, "PUT", "/logger")) {
        done(api, r, pre_boot_only(api, r) < 0 ? -1 : fc_put_logger(r->body, r->err), "put_api_requests", "logger");
    } else if (is(r, "PUT", "/metrics")) {
        const char *path;
        int rc = pre_boot_only(api, r) < 0 ? -1 : fc_parse_metrics(r->body, &path, r->err);
        if (rc == 0)
            rc = api_set_metrics(api, path, r->err);
        done(api, r, rc, "put_api_requests", "metrics");
    } else if (is(r, "PUT", "/actions")) {
        done(api, r, action(api, r), "put_api_requests", "actions");
    } else if (is(r, "PATCH", "/vm")) {
        done(api, r, patch_vm(api, r), "patch_api_requests", "vm");
    } else {
        for (const char *const *p = not_built_paths; *p; p++) {
            size_t n = strlen(*p);
            if (!strncmp(r->path + 1, *p, n) && (r->path[1 + n] == '\0' || r->path[1 + n] == '/')) {
                snprintf(r->err, sizeof(r->err), "%s %s: this Firecracker feature is not built in ember yet.", r->method,
                         r->path);
                fault(r, r->err);
                return;
            }
        }
        snprintf(r->err, sizeof(r->err), "Invalid request method and/or path: %s %s.", r->method, r->path);
        fault(r, r->err);
    }
}

static void handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
    struct api *api = ctx;
    /* A VM from the command line or a config file: requests wait until it
     * has started (or failed), as Firecracker's wait for its VMM thread. */
    pthread_mutex_lock(&api->lock);
    while (api->state == API_STARTING)
        pthread_cond_wait(&api->cond, &api->lock);
    pthread_mutex_unlock(&api->lock);
    landlock_restrict_api_thread(); /* the VM's file rules, once it is built */
    struct route r = {.method = req->method, .path = req->path, .resp = resp};
    /* /drives/{id} and /network-interfaces/{id}: the id is the last segment. */
    const char *slash = strchr(req->path + 1, '/');
    if (slash && (!strncmp(req->path, "/drives/", 8) || !strncmp(req->path, "/network-interfaces/", 20)) &&
        !strchr(slash + 1, '/') && slash[1])
        r.id = slash + 1;
    bool needs_body = !strcmp(req->method, "PUT") || !strcmp(req->method, "PATCH");
    if (!strcmp(req->method, "GET") && req->body_len) { /* as Firecracker refuses it */
        fault(&r, "GET request cannot have a body.");
        return;
    }
    if (needs_body) {
        r.body = fc_parse_body(req->body, req->body_len, r.err);
        if (!r.body) {
            fault(&r, r.err);
            return;
        }
    }
    pthread_mutex_lock(&api->lock);
    route(api, &r);
    pthread_mutex_unlock(&api->lock);
    json_decref(r.body);
    if (resp->status >= 400)
        log_info("api: %s %s: %d", req->method, req->path, resp->status);
}

/* --- lifecycle ---------------------------------------------------------------------- */

int api_init(struct api *api)
{
    memset(api, 0, sizeof(*api));
    fc_config_init(&api->fc);
    metrics_init(&api->metrics);
    api->id = "anonymous-instance";
    pthread_mutex_init(&api->lock, NULL);
    pthread_cond_init(&api->cond, NULL);
    api->requests = json_pack("{s:{}, s:{}, s:{}}", "get_api_requests", "put_api_requests", "patch_api_requests");
    api->start_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!api->requests || api->start_efd < 0) {
        log_error("api: cannot set up: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int api_serve(struct api *api, const char *path)
{
    int r = http_server_open(&api->server, path, handle, tick, api);
    if (r == 0 && api->max_body)
        api->server.limits.max_body = api->max_body;
    if (r < 0 || http_server_start(&api->server) < 0) {
        http_server_close(&api->server);
        return -1;
    }
    api->serving = true;
    return 0;
}

int api_set_metrics(struct api *api, const char *path, char *err)
{
    if (metrics_configured(&api->metrics))
        return fc_error(err, "Reinitialization of metrics not allowed.");
    if (metrics_open(&api->metrics, path, err, FC_ERR_MAX) < 0)
        return -1;
    seccomp_set_metrics_fd(api->metrics.fd); /* for the SIGSYS handler's last line */
    return 0;
}

void api_starting(struct api *api)
{
    pthread_mutex_lock(&api->lock);
    api->state = API_STARTING;
    pthread_mutex_unlock(&api->lock);
}

int api_wait_for_start(struct api *api, int sigfd)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = api->start_efd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                log_info("stopped by %s before the microVM started", strsignal((int)si.ssi_signo));
            return -1;
        }
        uint64_t v;
        if (read(api->start_efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
            return 0;
    }
}

void api_started(struct api *api, struct vm *vm, const char *error)
{
    pthread_mutex_lock(&api->lock);
    api->vm = vm;
    api->start_result = vm ? 0 : -1;
    snprintf(api->start_error, sizeof(api->start_error), "%s", error ? error : "");
    api->state = vm ? API_RUNNING : API_NOT_STARTED;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
}

void api_stopped(struct api *api)
{
    pthread_mutex_lock(&api->lock);
    api->state = API_STOPPED;
    if (metrics_configured(&api->metrics))
        flush_metrics(api); /* the last line, with the VM's final counters */
    api->vm = NULL;
    pthread_mutex_unlock(&api->lock);
}

void api_close(struct api *api)
{
    if (api->serving)
        http_server_close(&api->server);
    api->serving = false;
    seccomp_set_metrics_fd(-1);
    metrics_close(&api->metrics);
    fc_config_free(&api->fc);
    json_decref(api->requests);
    api->requests = NULL;
    if (api->start_efd >= 0)
        close(api->start_efd);
    api->start_efd = -1;
    pthread_mutex_destroy(&api->lock);
    pthread_cond_destroy(&api->cond);
}
