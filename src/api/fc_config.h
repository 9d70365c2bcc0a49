/* The VM's configuration in Firecracker's shape: what the API's PUT requests
 * and a --config-file describe (boot-source, machine-config, drives,
 * network-interfaces, entropy, balloon, cpu-config), parsed from JSON with
 * Firecracker's rules: unknown fields, wrong types and missing required
 * fields are refused, and features ember does not have (vhost-user, dirty
 * tracking, huge pages) are refused by name rather than silently ignored. The strings are owned here, and the whole description
 * turns into ember's struct vm_config at InstanceStart. */
#ifndef EMBER_API_FC_CONFIG_H
#define EMBER_API_FC_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu_template.h"
#include "virtio/rate_limiter.h"
#include "vm/vm.h"

#define FC_ID_MAX 64
#define FC_MAX_VCPUS 32              /* Firecracker's machine-config range */
#define FC_DEFAULT_MEM_MIB 128
#define FC_DEFAULT_BOOT_ARGS \
    "reboot=k panic=1 pci=off nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
#define FC_ERR_MAX 512

struct fc_drive {
    char id[FC_ID_MAX];
    char *path;
    char *partuuid;
    bool read_only;
    bool root;
    bool cache_writeback;            /* "Writeback"; ember honours flushes either way */
    bool io_async;                   /* io_engine "Async" (io_uring); "Sync" is the default */
    char serial[21];                 /* the drive id, as the guest's GET_ID sees it */
    struct rate_limiter_config limiter;
};

struct fc_nic {
    char id[FC_ID_MAX];
    char *host_dev;
    uint8_t mac[6];
    bool mac_set;
    struct rate_limiter_config rx_limiter, tx_limiter;
};

struct fc_config {
    char *kernel;
    char *initrd;
    char *boot_args;                 /* NULL: Firecracker's default */
    int vcpus;
    bool smt;              /* two threads per core (vcpus 1 or even) */
    uint64_t mem_mib;
    struct fc_drive drives[VM_MAX_DISKS];
    int ndrives;
    struct fc_nic nics[VM_MAX_NICS];
    int nnics;
    bool entropy;
    struct rate_limiter_config entropy_limiter;
    bool balloon;                    /* PUT /balloon; amount_mib follows PATCH /balloon */
    struct virtio_balloon_config balloon_cfg;
    /* PUT /cpu-config or machine-config's cpu_template, whichever came last
     * (one slot, as in Firecracker). */
    bool has_cpu_template;
    struct cpu_template cpu_template;
    /* PUT /vsock (uds NULL: none). */
    uint32_t vsock_cid;
    char *vsock_uds, *vsock_id;
    /* Built at start: the guest command line (the boot args plus root=), and
     * the drive behind each of ember's disks (the root drive comes first). */
    char *cmdline;
    int disk_order[VM_MAX_DISKS];
};

void fc_config_init(struct fc_config *c);
void fc_config_free(struct fc_config *c);

/* Each takes a request body already parsed as JSON; 0, or -1 with a
 * Firecracker-style reason in err. id: the {id} of the URL (NULL in a config
 * file, where the body's own id counts). */
int fc_put_boot_source(struct fc_config *c, json_t *body, char *err);
int fc_put_machine_config(struct fc_config *c, json_t *body, bool partial, char *err);
/* Did that body name cpu_template (deprecated in Firecracker since 1.5)? */
bool fc_uses_cpu_template_field(json_t *body);
int fc_put_drive(struct fc_config *c, const char *id, json_t *body, char *err);
int fc_put_network_interface(struct fc_config *c, const char *id, json_t *body, char *err);
int fc_put_entropy(struct fc_config *c, json_t *body, char *err);
int fc_put_vsock(struct fc_config *c, json_t *body, char *err);
/* PUT /balloon (Firecracker's fields; free_page_hinting is not built). */
int fc_put_balloon(struct fc_config *c, json_t *body, char *err);
/* PATCH /balloon and PATCH /balloon/statistics bodies after boot, checked
 * against c (the change is the caller's once the device took it). */
int fc_check_balloon_patch(const struct fc_config *c, json_t *body, uint32_t *amount_mib, char *err);
int fc_check_balloon_stats_patch(const struct fc_config *c, json_t *body, uint16_t *interval_s, char *err);
/* GET /balloon's body (also /vm/config's "balloon"). */
json_t *fc_balloon_json(const struct fc_config *c);
/* PUT /cpu-config: a custom CPU template in Firecracker's JSON (replaces any
 * template). */
int fc_put_cpu_config(struct fc_config *c, json_t *body, char *err);
/* The same from a file (a config file's "cpu-config", --cpu-template FILE). */
int fc_load_cpu_template(const char *path, struct cpu_template *t, char *err);
/* PATCH bodies after boot: checks them. *index: the drive's or interface's
 * place in c; *path: a new path_on_host or NULL; the limiters: the current
 * ones with the PATCH's buckets applied (a bucket left out stays). */
int fc_check_drive_patch(struct fc_config *c, const char *id, json_t *body, int *index, const char **path,
                         struct rate_limiter_config *limiter, char *err);
int fc_check_network_patch(struct fc_config *c, const char *id, json_t *body, int *index,
                           struct rate_limiter_config *rx, struct rate_limiter_config *tx, char *err);
/* After a successful PATCH: the drive's image is now path; returns the
 * drive's index, or -1 when there is no such drive. */
int fc_set_drive_path(struct fc_config *c, const char *id, const char *path);
/* PUT /actions and PATCH /vm bodies. */
enum fc_action { FC_ACTION_FLUSH_METRICS, FC_ACTION_INSTANCE_START, FC_ACTION_SEND_CTRL_ALT_DEL };
int fc_parse_action(json_t *body, enum fc_action *action, char *err);
int fc_parse_vm_state(json_t *body, bool *pause, char *err); /* Paused: true; Resumed: false */
/* The process-wide parts: logger and metrics (metrics path to *path). */
int fc_put_logger(json_t *body, char *err);
/* Opens a logger or metrics path as Firecracker does (it must exist; a
 * named pipe without a reader is fine): an fd, or -1 with errno. */
int fc_open_log_path(const char *path);
int fc_parse_metrics(json_t *body, const char **path, char *err);

/* A whole Firecracker config file. metrics_path: its metrics section (or NULL). */
int fc_load_file(struct fc_config *c, const char *path, char **metrics_path, char *err);

/* Ready to boot? (a kernel is set). 0, or -1 with the reason. */
int fc_check_startable(const struct fc_config *c, char *err);
/* Fills ember's config from this one (pointers into c, which must outlive
 * the VM); keeps cfg's other settings (irqchip, console, transport). */
int fc_to_vm_config(struct fc_config *c, struct vm_config *cfg, char *err);
/* GET /machine-config and GET /vm/config bodies. */
json_t *fc_machine_config_json(const struct fc_config *c);
json_t *fc_full_config_json(const struct fc_config *c);

/* The reason into err (FC_ERR_MAX bytes); returns -1. */
int fc_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The JSON helpers, shared with the API. */
/* Parses text as one JSON object: NULL with the reason in err otherwise. */
json_t *fc_parse_body(const char *text, size_t len, char *err);

#endif
