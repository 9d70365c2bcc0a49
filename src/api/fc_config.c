#include "api/fc_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/landlock.h"
#include "util/file.h"
#include "util/log.h"

/* Firecracker's wording for a body that does not fit the schema. */
#define DESER "An error occurred when deserializing the json body of a request: "

int fc_error(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, FC_ERR_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void replace(char **slot, const char *value)
{
    free(*slot);
    *slot = dup_or_null(value);
}

json_t *fc_parse_body(const char *text, size_t len, char *err)
{
    if (len == 0) {
        fc_error(err, "The body of the request is empty; this request needs a JSON object.");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        fc_error(err, DESER "%s at line %d column %d.", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        fc_error(err, DESER "expected a JSON object.");
        return NULL;
    }
    return o;
}

/* --- typed field access -------------------------------------------------------- */

static int check_fields(json_t *o, const char *const *allowed, char *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(key, *a);
        if (ok)
            continue;
        char list[300] = "";
        size_t n = 0;
        for (const char *const *a = allowed; *a && n < sizeof(list); a++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s`%s`", a == allowed ? "" : ", ", *a);
        return fc_error(err, DESER "unknown field `%s`, expected one of %s.", key, list);
    }
    return 0;
}

/* A field that is absent or null counts as not given (Firecracker's Option). */
static json_t *field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

static int get_string(json_t *o, const char *key, bool required, const char **out, char *err)
{
    json_t *v = field(o, key);
    *out = NULL;
    if (!v)
        return required ? fc_error(err, DESER "missing field `%s`.", key) : 0;
    if (!json_is_string(v))
        return fc_error(err, DESER "invalid type for `%s`: expected a string.", key);
    *out = json_string_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, bool required, bool *out, char *err)
{
    json_t *v = field(o, key);
    if (!v || (!required && json_is_null(v))) /* an optional field may be null (serde's None) */
        return required ? fc_error(err, DESER "missing field `%s`.", key) : 0;
    if (!json_is_boolean(v))
        return fc_error(err, DESER "invalid type for `%s`: expected a boolean.", key);
    *out = json_is_true(v);
    return 0;
}

/* *given tells whether it was there. */
static int get_uint(json_t *o, const char *key, bool required, uint64_t *out, bool *given, char *err)
{
    json_t *v = field(o, key);
    *given = v != NULL;
    if (!v)
        return required ? fc_error(err, DESER "missing field `%s`.", key) : 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fc_error(err, DESER "invalid type for `%s`: expected a non-negative integer.", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A string field that must be one of names (NULL-terminated): *index gets
 * its position, or -1 when it is absent and not required. */
static int get_variant(json_t *o, const char *key, bool required, const char *const *names, int *index, char *err)
{
    const char *v;
    *index = -1;
    if (get_string(o, key, required, &v, err) < 0)
        return -1;
    if (!v)
        return 0;
    char list[200] = "";
    size_t n = 0;
    for (int i = 0; names[i]; i++) {
        if (!strcmp(v, names[i])) {
            *index = i;
            return 0;
        }
        n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s`%s`", i ? ", " : "", names[i]);
    }
    return fc_error(err, DESER "unknown variant `%s`, expected one of %s for `%s`.", v, list, key);
}

/* Firecracker's TokenBucket: {"size", "one_time_burst", "refill_time" (ms)}.
 * Absent or null: *b stays as it is. */
static int get_bucket(json_t *o, const char *key, struct token_bucket_config *b, char *err)
{
    static const char *const fields[] = {"size", "one_time_burst", "refill_time", NULL};
    json_t *v = field(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fc_error(err, DESER "invalid type for `%s`: expected a token bucket object.", key);
    struct token_bucket_config n = {0};
    bool given;
    if (check_fields(v, fields, err) < 0 || get_uint(v, "size", true, &n.size, &given, err) < 0 ||
        get_uint(v, "one_time_burst", false, &n.one_time_burst, &given, err) < 0 ||
        get_uint(v, "refill_time", true, &n.refill_time_ms, &given, err) < 0)
        return -1;
    *b = n;
    return 0;
}

/* Firecracker's RateLimiter: {"bandwidth": bucket, "ops": bucket}. A bucket
 * left out keeps what *rl has: nothing for a new device, the current limit
 * for a PATCH (Firecracker's rule). A size or refill_time of 0 is no limit. */
static int get_rate_limiter(json_t *o, const char *key, struct rate_limiter_config *rl, char *err)
{
    static const char *const fields[] = {"bandwidth", "ops", NULL};
    json_t *v = field(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fc_error(err, DESER "invalid type for `%s`: expected a rate limiter object.", key);
    if (check_fields(v, fields, err) < 0 || get_bucket(v, "bandwidth", &rl->bandwidth, err) < 0 ||
        get_bucket(v, "ops", &rl->ops, err) < 0)
        return -1;
    return 0;
}

static json_t *bucket_json(const struct token_bucket_config *b)
{
    return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst", (json_int_t)b->one_time_burst,
                     "refill_time", (json_int_t)b->refill_time_ms);
}

/* GET /vm/config's view: null when nothing limits. */
static json_t *rate_limiter_json(const struct rate_limiter_config *rl)
{
    bool bw = token_bucket_limits(&rl->bandwidth), ops = token_bucket_limits(&rl->ops);
    if (!bw && !ops)
        return json_null();
    json_t *o = json_object();
    if (bw)
        json_object_set_new(o, "bandwidth", bucket_json(&rl->bandwidth));
    if (ops)
        json_object_set_new(o, "ops", bucket_json(&rl->ops));
    return o;
}

static int not_built(json_t *o, const char *key, const char *what, char *err)
{
    return field(o, key) ? fc_error(err, "%s: not built in ember yet.", what) : 0;
}

/* A path-given id and the body's id must agree (Firecracker's rule). */
static int check_id(const char *path_id, const char *body_id, char *err)
{
    if (path_id && strcmp(path_id, body_id))
        return fc_error(err, "The id from the path [%s] does not match the id from the body [%s]!", path_id, body_id);
    if (!*body_id || strlen(body_id) >= FC_ID_MAX)
        return fc_error(err, "Invalid id [%s]: an id has 1 to %d characters.", body_id, FC_ID_MAX - 1);
    for (const char *p = body_id; *p; p++)
        if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return fc_error(err, "Invalid id [%s]: use letters, digits, '_', '-' and '.'.", body_id);
    return 0;
}

/* --- sections ------------------------------------------------------------------ */

void fc_config_init(struct fc_config *c)
{
    memset(c, 0, sizeof(*c));
    c->vcpus = 1;
    c->mem_mib = FC_DEFAULT_MEM_MIB;
}

void fc_config_free(struct fc_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->boot_args);
    free(c->cmdline);
    free(c->vsock_uds);
    free(c->vsock_id);
    for (int i = 0; i < c->ndrives; i++)
        free(c->drives[i].path), free(c->drives[i].partuuid);
    for (int i = 0; i < c->nnics; i++)
        free(c->nics[i].host_dev);
    fc_config_init(c);
}

int fc_put_boot_source(struct fc_config *c, json_t *body, char *err)
{
    static const char *const fields[] = {"kernel_image_path", "initrd_path", "boot_args", NULL};
    const char *kernel, *initrd, *args;
    if (check_fields(body, fields, err) < 0 || get_string(body, "kernel_image_path", true, &kernel, err) < 0 ||
        get_string(body, "initrd_path", false, &initrd, err) < 0 || get_string(body, "boot_args", false, &args, err) < 0)
        return -1;
    /* Firecracker checks the files when they are given, not at boot. */
    if (file_check_readable(kernel, "kernel_image_path", err, FC_ERR_MAX) < 0 ||
        (initrd && file_check_readable(initrd, "initrd_path", err, FC_ERR_MAX) < 0))
        return -1;
    replace(&c->kernel, kernel);
    replace(&c->initrd, initrd);
    replace(&c->boot_args, args);
    return 0;
}

int fc_put_machine_config(struct fc_config *c, json_t *body, bool partial, char *err)
{
    static const char *const fields[] = {"vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "cpu_template",
                                         "huge_pages", NULL};
    uint64_t vcpus = (uint64_t)c->vcpus, mem = c->mem_mib;
    bool has_vcpus, has_mem, smt = c->smt, dirty = false;
    const char *tmpl, *huge;
    if (check_fields(body, fields, err) < 0 || get_uint(body, "vcpu_count", !partial, &vcpus, &has_vcpus, err) < 0 ||
        get_uint(body, "mem_size_mib", !partial, &mem, &has_mem, err) < 0 ||
        get_bool(body, "smt", false, &smt, err) < 0 || get_bool(body, "track_dirty_pages", false, &dirty, err) < 0 ||
        get_string(body, "cpu_template", false, &tmpl, err) < 0 || get_string(body, "huge_pages", false, &huge, err) < 0)
        return -1;
    if (partial && json_object_size(body) == 0)
        return fc_error(err, "Empty PATCH request.");
    if (vcpus < 1 || vcpus > FC_MAX_VCPUS || (smt && vcpus > 1 && vcpus % 2))
        return fc_error(err, "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is "
                         "enabled (and from 1 to %d).", FC_MAX_VCPUS);
    if (mem < 1 || mem > 1024 * 1024)
        return fc_error(err, "The memory size (MiB) is invalid.");
    if (dirty)
        return fc_error(err, "track_dirty_pages: dirty page tracking (diff snapshots) is not built in ember yet.");
    struct cpu_template t;
    int found = tmpl ? cpu_template_static(tmpl, &t) : 1;
    if (found < 0)
        return fc_error(err, DESER "unknown variant `%s`, expected one of %s for `cpu_template`.", tmpl,
                        cpu_template_static_names());
    if (huge && strcmp(huge, "None"))
        return fc_error(err, "huge_pages %s: huge-page guest memory is not built in ember yet (only \"None\").", huge);
    c->vcpus = (int)vcpus;
    c->mem_mib = mem;
    c->smt = smt;
    /* Firecracker's rule: absent keeps the template (a custom one too);
     * "None" clears it; a name replaces it. */
    if (tmpl) {
        c->has_cpu_template = found == 0;
        if (found == 0)
            c->cpu_template = t;
    }
    return 0;
}

bool fc_uses_cpu_template_field(json_t *body) { return json_is_object(body) && json_object_get(body, "cpu_template"); }

/* --- CPU templates ------------------------------------------------------------------- */

/* An array member's string field, required. */
static const char *required_string(json_t *o, const char *key, const char *what, char *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        fc_error(err, DESER "missing field `%s` in %s.", key, what);
        return NULL;
    }
    if (!json_is_string(v)) {
        fc_error(err, DESER "invalid type for `%s` in %s: expected a string.", key, what);
        return NULL;
    }
    return json_string_value(v);
}

/* A modifier: an object with `key` (a register or an address) and `bitmap`. */
static int modifier_strings(json_t *m, const char *key, const char *what, const char **k, const char **bitmap,
                            char *err)
{
    if (!json_is_object(m))
        return fc_error(err, DESER "invalid type: expected %s (an object).", what);
    return (*k = required_string(m, key, what, err)) && (*bitmap = required_string(m, "bitmap", what, err)) ? 0 : -1;
}

/* An array member that may be left out: 0 with *a NULL then (jansson's
 * array loops take NULL as empty), -1 if it is not an array. */
static int optional_array(json_t *o, const char *key, json_t **a, char *err)
{
    *a = json_object_get(o, key);
    if (*a && !json_is_array(*a))
        return fc_error(err, DESER "invalid type for `%s`: expected a sequence.", key);
    return 0;
}

static int cpuid_modifier_json(json_t *leaf, struct cpu_template *t, char *err)
{
    static const char *const what = "a cpuid_modifiers entry";
    char inner[CPU_TEMPLATE_ERR_MAX];
    uint32_t leaf_n, subleaf_n;
    const char *l, *sl;
    json_t *flags = json_object_get(leaf, "flags"), *mods = json_object_get(leaf, "modifiers");
    if (!json_is_object(leaf))
        return fc_error(err, DESER "invalid type: expected %s (an object).", what);
    if (!(l = required_string(leaf, "leaf", what, err)) || !(sl = required_string(leaf, "subleaf", what, err)))
        return -1;
    if (cpu_template_parse_number(l, &leaf_n, inner) < 0 || cpu_template_parse_number(sl, &subleaf_n, inner) < 0)
        return fc_error(err, DESER "%s", inner);
    if (!flags)
        return fc_error(err, DESER "missing field `flags` in %s.", what);
    if (!json_is_integer(flags) || json_integer_value(flags) < 0 || json_integer_value(flags) > UINT32_MAX)
        return fc_error(err, DESER "invalid type for `flags`: expected a u32.");
    if (!mods)
        return fc_error(err, DESER "missing field `modifiers` in %s.", what);
    if (!json_is_array(mods))
        return fc_error(err, DESER "invalid type for `modifiers`: expected a sequence.");
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m) {
        const char *reg, *bitmap;
        enum cpuid_reg r;
        uint64_t f, v;
        if (modifier_strings(m, "register", "a CPUID register modifier", &reg, &bitmap, err) < 0)
            return -1;
        if (cpu_template_parse_register(reg, &r, inner) < 0 || cpu_template_parse_bitmap(bitmap, 32, &f, &v, inner) < 0)
            return fc_error(err, DESER "%s", inner);
        if (t->ncpuid == CPU_TEMPLATE_MAX_CPUID)
            return fc_error(err, "A CPU template takes at most %d CPUID register modifiers.", CPU_TEMPLATE_MAX_CPUID);
        t->cpuid[t->ncpuid++] = (struct cpuid_modifier){.leaf = leaf_n, .subleaf = subleaf_n,
                                                        .flags = (uint32_t)json_integer_value(flags), .reg = r,
                                                        .filter = (uint32_t)f, .value = (uint32_t)v};
    }
    return 0;
}

static int msr_modifier_json(json_t *m, struct cpu_template *t, char *err)
{
    char inner[CPU_TEMPLATE_ERR_MAX];
    const char *addr, *bitmap;
    uint32_t a;
    uint64_t f, v;
    if (modifier_strings(m, "addr", "a msr_modifiers entry", &addr, &bitmap, err) < 0)
        return -1;
    if (cpu_template_parse_number(addr, &a, inner) < 0 || cpu_template_parse_bitmap(bitmap, 64, &f, &v, inner) < 0)
        return fc_error(err, DESER "%s", inner);
    if (t->nmsrs == CPU_TEMPLATE_MAX_MSRS)
        return fc_error(err, "A CPU template takes at most %d MSR modifiers.", CPU_TEMPLATE_MAX_MSRS);
    t->msrs[t->nmsrs++] = (struct msr_modifier){.addr = a, .filter = f, .value = v};
    return 0;
}

/* Firecracker's x86_64 CustomCpuTemplate. Inside the entries, unknown keys
 * are ignored, as Firecracker's parser does; at the top they are refused. */
static int parse_cpu_template(json_t *body, struct cpu_template *t, char *err)
{
    static const char *const fields[] = {"kvm_capabilities", "cpuid_modifiers", "msr_modifiers", NULL};
    memset(t, 0, sizeof(*t));
    t->vendor = CPU_VENDOR_ANY;
    if (check_fields(body, fields, err) < 0)
        return -1;
    json_t *caps, *cpuid, *msrs, *v;
    if (optional_array(body, "kvm_capabilities", &caps, err) < 0 ||
        optional_array(body, "cpuid_modifiers", &cpuid, err) < 0 || optional_array(body, "msr_modifiers", &msrs, err) < 0)
        return -1;
    size_t i;
    json_array_foreach(caps, i, v) {
        char inner[CPU_TEMPLATE_ERR_MAX];
        if (!json_is_string(v))
            return fc_error(err, DESER "invalid type in `kvm_capabilities`: expected a string.");
        if (cpu_template_add_capability(t, json_string_value(v), inner) < 0)
            return fc_error(err, DESER "%s", inner);
    }
    json_array_foreach(cpuid, i, v)
        if (cpuid_modifier_json(v, t, err) < 0)
            return -1;
    json_array_foreach(msrs, i, v)
        if (msr_modifier_json(v, t, err) < 0)
            return -1;
    return 0;
}

int fc_put_cpu_config(struct fc_config *c, json_t *body, char *err)
{
    struct cpu_template t;
    if (parse_cpu_template(body, &t, err) < 0)
        return -1;
    c->cpu_template = t;
    c->has_cpu_template = true;
    return 0;
}

/* A JSON file of at most 1 MiB: NULL with the reason (naming the file). */
static json_t *load_json_file(const char *path, char *err)
{
    size_t len;
    char *text = file_read_text(path, 1 << 20, &len, err, FC_ERR_MAX);
    if (!text)
        return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root)
        fc_error(err, "%s: not valid JSON: %s at line %d column %d", path, je.text, je.line, je.column);
    return root;
}

int fc_load_cpu_template(const char *path, struct cpu_template *t, char *err)
{
    json_t *root = load_json_file(path, err);
    if (!root)
        return -1;
    char inner[FC_ERR_MAX];
    int r = json_is_object(root) ? parse_cpu_template(root, t, inner) : fc_error(inner, "expected a JSON object");
    json_decref(root);
    return r < 0 ? fc_error(err, "%s: %.400s", path, inner) : 0;
}

static const char *const drive_fields[] = {"drive_id", "path_on_host", "is_root_device", "is_read_only", "partuuid",
                                           "cache_type", "rate_limiter", "io_engine", "socket", NULL};

int fc_put_drive(struct fc_config *c, const char *id, json_t *body, char *err)
{
    static const char *const caches[] = {"Unsafe", "Writeback", NULL}, *const engines[] = {"Sync", "Async", NULL};
    const char *body_id, *path, *partuuid;
    int cache, engine;
    bool root = false, ro = false;
    struct rate_limiter_config limiter = {0};
    if (check_fields(body, drive_fields, err) < 0 || get_string(body, "drive_id", true, &body_id, err) < 0 ||
        check_id(id, body_id, err) < 0 || get_bool(body, "is_root_device", true, &root, err) < 0 ||
        not_built(body, "socket", "socket: vhost-user block devices", err) < 0 ||
        get_rate_limiter(body, "rate_limiter", &limiter, err) < 0 ||
        get_string(body, "path_on_host", true, &path, err) < 0 || get_bool(body, "is_read_only", false, &ro, err) < 0 ||
        get_string(body, "partuuid", false, &partuuid, err) < 0 ||
        get_variant(body, "cache_type", false, caches, &cache, err) < 0 ||
        get_variant(body, "io_engine", false, engines, &engine, err) < 0)
        return -1;
    if (file_check_readable(path, "path_on_host", err, FC_ERR_MAX) < 0)
        return -1;
    int slot = c->ndrives;
    for (int i = 0; i < c->ndrives; i++)
        if (!strcmp(c->drives[i].id, body_id))
            slot = i; /* an update of that drive */
    for (int i = 0; i < c->ndrives; i++) {
        if (i != slot && root && c->drives[i].root)
            return fc_error(err, "A root block device already exists!");
        if (i != slot && !strcmp(c->drives[i].path, path))
            return fc_error(err, "The drive's path_on_host %s is already drive %s's.", path, c->drives[i].id);
    }
    if (slot == VM_MAX_DISKS)
        return fc_error(err, "Too many drives: ember takes at most %d.", VM_MAX_DISKS);
    struct fc_drive *d = &c->drives[slot];
    if (slot == c->ndrives) {
        memset(d, 0, sizeof(*d));
        c->ndrives++;
    }
    snprintf(d->id, sizeof(d->id), "%s", body_id);
    snprintf(d->serial, sizeof(d->serial), "%s", body_id);
    replace(&d->path, path);
    replace(&d->partuuid, partuuid);
    d->root = root;
    d->read_only = ro;
    d->cache_writeback = cache == 1;
    d->io_async = engine == 1;
    d->limiter = limiter;
    return 0;
}

int fc_put_network_interface(struct fc_config *c, const char *id, json_t *body, char *err)
{
    static const char *const fields[] = {"iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter",
                                         "tx_rate_limiter", NULL};
    const char *body_id, *dev, *mac;
    uint8_t m[6];
    struct rate_limiter_config rx = {0}, tx = {0};
    if (check_fields(body, fields, err) < 0 || get_string(body, "iface_id", true, &body_id, err) < 0 ||
        check_id(id, body_id, err) < 0 || get_string(body, "host_dev_name", true, &dev, err) < 0 ||
        get_string(body, "guest_mac", false, &mac, err) < 0 ||
        get_rate_limiter(body, "rx_rate_limiter", &rx, err) < 0 ||
        get_rate_limiter(body, "tx_rate_limiter", &tx, err) < 0 ||
        not_built(body, "mtu", "mtu: advertising an MTU (VIRTIO_NET_F_MTU)", err) < 0)
        return -1;
    if (!*dev || strlen(dev) >= 16)
        return fc_error(err, "host_dev_name [%s]: an interface name has 1 to 15 characters.", dev);
    if (mac && net_parse_mac_bytes(mac, m) < 0) /* any six bytes, as Firecracker */
        return fc_error(err, DESER "invalid guest_mac [%s]: expected six hex bytes like 06:00:AC:10:00:02.", mac);
    int slot = c->nnics;
    for (int i = 0; i < c->nnics; i++)
        if (!strcmp(c->nics[i].id, body_id))
            slot = i;
    for (int i = 0; i < c->nnics; i++) {
        if (i == slot)
            continue;
        if (!strcmp(c->nics[i].host_dev, dev))
            return fc_error(err, "The host device %s is already used by interface %s.", dev, c->nics[i].id);
        if (mac && c->nics[i].mac_set && !memcmp(c->nics[i].mac, m, 6))
            return fc_error(err, "The guest MAC address %s is already in use.", mac);
    }
    if (slot == VM_MAX_NICS)
        return fc_error(err, "Too many network interfaces: ember takes at most %d.", VM_MAX_NICS);
    struct fc_nic *n = &c->nics[slot];
    if (slot == c->nnics) {
        memset(n, 0, sizeof(*n));
        c->nnics++;
    }
    snprintf(n->id, sizeof(n->id), "%s", body_id);
    replace(&n->host_dev, dev);
    n->mac_set = mac != NULL;
    if (mac)
        memcpy(n->mac, m, 6);
    n->rx_limiter = rx;
    n->tx_limiter = tx;
    return 0;
}

int fc_put_vsock(struct fc_config *c, json_t *body, char *err)
{
    static const char *const fields[] = {"guest_cid", "uds_path", "vsock_id", NULL};
    uint64_t cid;
    bool given;
    const char *uds, *id;
    if (check_fields(body, fields, err) < 0 || get_uint(body, "guest_cid", true, &cid, &given, err) < 0 ||
        get_string(body, "uds_path", true, &uds, err) < 0 || get_string(body, "vsock_id", false, &id, err) < 0)
        return -1;
    if (cid < 3 || cid > UINT32_MAX)
        return fc_error(err, "Invalid guest_cid %llu: a guest's CID is from 3 to %u (0 to 2 are reserved).",
                        (unsigned long long)cid, UINT32_MAX);
    if (!*uds || strlen(uds) > 95) /* room in sun_path for "_<port>" */
        return fc_error(err, "Invalid uds_path [%s]: a Unix socket path of 1 to 95 bytes.", uds);
    c->vsock_cid = (uint32_t)cid;
    replace(&c->vsock_uds, uds);
    replace(&c->vsock_id, id);
    return 0;
}

int fc_put_entropy(struct fc_config *c, json_t *body, char *err)
{
    static const char *const fields[] = {"rate_limiter", NULL};
    struct rate_limiter_config limiter = {0};
    if (check_fields(body, fields, err) < 0 || get_rate_limiter(body, "rate_limiter", &limiter, err) < 0)
        return -1;
    c->entropy = true;
    c->entropy_limiter = limiter;
    return 0;
}

/* Firecracker's balloon messages (its BalloonConfigError). */
#define BALLOON_TOO_LARGE "Amount of pages requested is too large."
#define BALLOON_STATS_ONOFF "Cannot enable/disable the statistics after boot."

/* An unsigned field of at most max (a u32 or u16 in Firecracker's structs). */
static int get_bounded(json_t *o, const char *key, bool required, uint64_t max, const char *type, uint64_t *out,
                       char *err)
{
    bool given;
    if (get_uint(o, key, required, out, &given, err) < 0)
        return -1;
    if (given && *out > max)
        return fc_error(err, DESER "invalid value: integer `%llu`, expected %s for `%s`.", (unsigned long long)*out,
                        type, key);
    return 0;
}

int fc_put_balloon(struct fc_config *c, json_t *body, char *err)
{
    static const char *const fields[] = {"amount_mib", "deflate_on_oom", "stats_polling_interval_s",
                                         "free_page_hinting", "free_page_reporting", NULL};
    uint64_t amount = 0, interval = 0;
    bool deflate = false, reporting = false, hinting = false;
    if (check_fields(body, fields, err) < 0 || get_bounded(body, "amount_mib", true, UINT32_MAX, "u32", &amount, err) < 0 ||
        get_bool(body, "deflate_on_oom", true, &deflate, err) < 0 ||
        get_bounded(body, "stats_polling_interval_s", false, UINT16_MAX, "u16", &interval, err) < 0 ||
        get_bool(body, "free_page_reporting", false, &reporting, err) < 0 ||
        get_bool(body, "free_page_hinting", false, &hinting, err) < 0)
        return -1;
    if (hinting)
        return fc_error(err, "free_page_hinting: not built in ember yet.");
    /* The balloon cannot be larger than guest memory (Firecracker's check). */
    if (amount > c->mem_mib)
        return fc_error(err, BALLOON_TOO_LARGE);
    c->balloon = true;
    c->balloon_cfg = (struct virtio_balloon_config){.amount_mib = (uint32_t)amount, .deflate_on_oom = deflate,
                                                    .stats_polling_interval_s = (uint16_t)interval,
                                                    .free_page_reporting = reporting};
    return 0;
}

int fc_check_balloon_patch(const struct fc_config *c, json_t *body, uint32_t *amount_mib, char *err)
{
    static const char *const fields[] = {"amount_mib", NULL};
    uint64_t amount = 0;
    if (check_fields(body, fields, err) < 0 || get_bounded(body, "amount_mib", true, UINT32_MAX, "u32", &amount, err) < 0)
        return -1;
    if (amount > c->mem_mib)
        return fc_error(err, BALLOON_TOO_LARGE);
    *amount_mib = (uint32_t)amount;
    return 0;
}

int fc_check_balloon_stats_patch(const struct fc_config *c, json_t *body, uint16_t *interval_s, char *err)
{
    static const char *const fields[] = {"stats_polling_interval_s", NULL};
    uint64_t interval = 0;
    if (check_fields(body, fields, err) < 0 ||
        get_bounded(body, "stats_polling_interval_s", true, UINT16_MAX, "u16", &interval, err) < 0)
        return -1;
    /* The statistics queue exists or not from boot on: only the interval changes. */
    if ((c->balloon_cfg.stats_polling_interval_s == 0) != (interval == 0))
        return fc_error(err, BALLOON_STATS_ONOFF);
    *interval_s = (uint16_t)interval;
    return 0;
}

json_t *fc_balloon_json(const struct fc_config *c)
{
    const struct virtio_balloon_config *b = &c->balloon_cfg;
    return json_pack("{s:I, s:b, s:i, s:b, s:b}", "amount_mib", (json_int_t)b->amount_mib, "deflate_on_oom",
                     b->deflate_on_oom, "stats_polling_interval_s", (int)b->stats_polling_interval_s,
                     "free_page_hinting", 0, "free_page_reporting", b->free_page_reporting);
}

int fc_check_drive_patch(struct fc_config *c, const char *id, json_t *body, int *index, const char **path,
                         struct rate_limiter_config *limiter, char *err)
{
    static const char *const fields[] = {"drive_id", "path_on_host", "rate_limiter", NULL};
    const char *body_id;
    if (check_fields(body, fields, err) < 0 || get_string(body, "drive_id", true, &body_id, err) < 0 ||
        check_id(id, body_id, err) < 0 || get_string(body, "path_on_host", false, path, err) < 0)
        return -1;
    if (!*path && !json_object_get(body, "rate_limiter")) /* Firecracker: nothing to change is an error */
        return fc_error(err, "Invalid PATCH payload. Only updates on path_on_host or rate_limiter are allowed.");
    for (int i = 0; i < c->ndrives; i++)
        if (!strcmp(c->drives[i].id, body_id)) {
            *index = i;
            *limiter = c->drives[i].limiter;
            if (get_rate_limiter(body, "rate_limiter", limiter, err) < 0)
                return -1;
            if (*path && file_check_readable(*path, "path_on_host", err, FC_ERR_MAX) < 0) {
                size_t n = strlen(err);
                if (errno == EACCES && landlock_active() && n && err[n - 1] == '.')
                    snprintf(err + n - 1, FC_ERR_MAX - (n - 1), "%s.", landlock_hint(EACCES));
                return -1;
            }
            return 0;
        }
    return fc_error(err, "Invalid block device ID: %s: no such drive.", body_id);
}

int fc_set_drive_path(struct fc_config *c, const char *id, const char *path)
{
    for (int i = 0; i < c->ndrives; i++)
        if (!strcmp(c->drives[i].id, id)) {
            replace(&c->drives[i].path, path);
            return i;
        }
    return -1;
}

int fc_check_network_patch(struct fc_config *c, const char *id, json_t *body, int *index,
                           struct rate_limiter_config *rx, struct rate_limiter_config *tx, char *err)
{
    static const char *const fields[] = {"iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL};
    const char *body_id;
    if (check_fields(body, fields, err) < 0 || get_string(body, "iface_id", true, &body_id, err) < 0 ||
        check_id(id, body_id, err) < 0)
        return -1;
    for (int i = 0; i < c->nnics; i++)
        if (!strcmp(c->nics[i].id, body_id)) {
            *index = i;
            *rx = c->nics[i].rx_limiter;
            *tx = c->nics[i].tx_limiter;
            return get_rate_limiter(body, "rx_rate_limiter", rx, err) < 0 ||
                           get_rate_limiter(body, "tx_rate_limiter", tx, err) < 0
                       ? -1
                       : 0;
        }
    return fc_error(err, "Invalid network interface ID: %s: no such interface.", body_id);
}

int fc_parse_action(json_t *body, enum fc_action *action, char *err)
{
    /* In enum fc_action's order. */
    static const char *const fields[] = {"action_type", NULL},
                             *const names[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL};
    int i;
    if (check_fields(body, fields, err) < 0 || get_variant(body, "action_type", true, names, &i, err) < 0)
        return -1;
    *action = (enum fc_action)i;
    return 0;
}

int fc_parse_vm_state(json_t *body, bool *pause, char *err)
{
    static const char *const fields[] = {"state", NULL}, *const names[] = {"Paused", "Resumed", NULL};
    int i;
    if (check_fields(body, fields, err) < 0 || get_variant(body, "state", true, names, &i, err) < 0)
        return -1;
    *pause = i == 0;
    return 0;
}

int fc_open_log_path(const char *path)
{
    /* As Firecracker: the path must exist (a file or a named pipe, never
     * made here), opened read-write and non-blocking, so that a pipe nobody
     * reads yet opens at once, and a full one costs lines, not a stall. */
    return open(path, O_RDWR | O_APPEND | O_NONBLOCK | O_CLOEXEC);
}

int fc_put_logger(json_t *body, char *err)
{
    static const char *const fields[] = {"log_path", "level", "show_level", "show_log_origin", "module", NULL};
    const char *path, *level, *module;
    bool show_level = false, origin = false;
    if (check_fields(body, fields, err) < 0 || get_string(body, "log_path", false, &path, err) < 0 ||
        get_string(body, "level", false, &level, err) < 0 || get_bool(body, "show_level", false, &show_level, err) < 0 ||
        get_bool(body, "show_log_origin", false, &origin, err) < 0 || get_string(body, "module", false, &module, err) < 0)
        return -1;
    enum log_level lvl = LOG_INFO;
    if (level && !log_level_parse(level, &lvl))
        return fc_error(err, DESER "unknown variant `%s`, expected one of `Error`, `Warning`, `Info`, `Debug`, `Trace`, "
                               "`Off` for `level`.", level);
    if (module)
        return fc_error(err, "module: filtering the log by module is not built in ember yet.");
    int fd = -1;
    if (path) {
        fd = fc_open_log_path(path);
        if (fd < 0)
            return fc_error(err, "Cannot open the log file %s: %s.", path, strerror(errno));
    }
    log_set_level(lvl);
    if (fd >= 0)
        log_set_file(fd, show_level);
    return 0;
}

int fc_parse_metrics(json_t *body, const char **path, char *err)
{
    static const char *const fields[] = {"metrics_path", NULL};
    return check_fields(body, fields, err) < 0 || get_string(body, "metrics_path", true, path, err) < 0 ? -1 : 0;
}

/* --- a whole config file ------------------------------------------------------- */

static int each_in_array(json_t *root, const char *key, int (*put)(struct fc_config *, const char *, json_t *, char *),
                         struct fc_config *c, char *err)
{
    json_t *a = field(root, key);
    if (!a)
        return 0;
    if (!json_is_array(a))
        return fc_error(err, "%s: expected an array.", key);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (!json_is_object(v))
            return fc_error(err, "%s[%zu]: expected an object.", key, i);
        char inner[FC_ERR_MAX];
        if (put(c, NULL, v, inner) < 0)
            return fc_error(err, "%s[%zu]: %.400s", key, i, inner);
    }
    return 0;
}

static int section(json_t *root, const char *key, json_t **out, char *err)
{
    *out = field(root, key);
    if (*out && !json_is_object(*out))
        return fc_error(err, "%s: expected an object.", key);
    return 0;
}

int fc_load_file(struct fc_config *c, const char *path, char **metrics_path, char *err)
{
    *metrics_path = NULL;
    json_t *root = load_json_file(path, err);
    if (!root)
        return -1;
    static const char *const fields[] = {"boot-source", "machine-config", "drives", "network-interfaces", "entropy",
                                         "logger", "metrics", "balloon", "vsock", "mmds-config", "cpu-config",
                                         "serial", "pmem", "memory-hotplug", NULL};
    static const char *const missing[] = {"mmds-config", "serial", "pmem", "memory-hotplug", NULL};
    char inner[FC_ERR_MAX] = "";
    int r = -1;
    json_t *boot, *machine, *entropy, *logger, *metrics, *vsock, *balloon;
    if (!json_is_object(root)) {
        snprintf(inner, sizeof(inner), "expected a JSON object");
        goto out;
    }
    if (check_fields(root, fields, inner) < 0)
        goto out;
    for (const char *const *m = missing; *m; m++)
        if (field(root, *m)) {
            snprintf(inner, sizeof(inner), "%s: not built in ember yet", *m);
            goto out;
        }
    if (section(root, "boot-source", &boot, inner) < 0 || section(root, "machine-config", &machine, inner) < 0 ||
        section(root, "entropy", &entropy, inner) < 0 || section(root, "logger", &logger, inner) < 0 ||
        section(root, "metrics", &metrics, inner) < 0 || section(root, "vsock", &vsock, inner) < 0 ||
        section(root, "balloon", &balloon, inner) < 0)
        goto out;
    if (!boot) {
        snprintf(inner, sizeof(inner), "boot-source is required");
        goto out;
    }
    char sub[FC_ERR_MAX];
    const char *mpath = NULL;
#define SECTION(name, call)                                     \
    if ((call) < 0) {                                           \
        snprintf(inner, sizeof(inner), "%s: %.400s", name, sub); \
        goto out;                                               \
    }
    if (logger)
        SECTION("logger", fc_put_logger(logger, sub));
    SECTION("boot-source", fc_put_boot_source(c, boot, sub));
    if (machine)
        SECTION("machine-config", fc_put_machine_config(c, machine, false, sub));
    json_t *cpu = field(root, "cpu-config"); /* the path of a template file, as in Firecracker */
    if (cpu && !json_is_string(cpu)) {
        snprintf(inner, sizeof(inner), "cpu-config: expected the path of a CPU template file");
        goto out;
    }
    if (cpu) {
        SECTION("cpu-config", fc_load_cpu_template(json_string_value(cpu), &c->cpu_template, sub));
        c->has_cpu_template = true;
    }
    if (entropy)
        SECTION("entropy", fc_put_entropy(c, entropy, sub));
    if (vsock)
        SECTION("vsock", fc_put_vsock(c, vsock, sub));
    if (balloon) /* after machine-config: its size bounds the balloon's */
        SECTION("balloon", fc_put_balloon(c, balloon, sub));
    if (metrics)
        SECTION("metrics", fc_parse_metrics(metrics, &mpath, sub));
#undef SECTION
    if (each_in_array(root, "drives", fc_put_drive, c, inner) < 0 ||
        each_in_array(root, "network-interfaces", fc_put_network_interface, c, inner) < 0)
        goto out;
    if (mpath)
        *metrics_path = strdup(mpath);
    r = 0;
out:
    json_decref(root);
    if (r < 0)
        fc_error(err, "--config-file %s: %s", path, inner);
    return r;
}

/* --- to ember's configuration ---------------------------------------------------- */

int fc_check_startable(const struct fc_config *c, char *err)
{
    if (!c->kernel)
        return fc_error(err, "Cannot start the microVM: no boot source (PUT /boot-source with kernel_image_path first).");
    return 0;
}

/* The drives in the guest's order: the root drive first (/dev/vda, as in
 * Firecracker), then the others as they were put. Returns the root drive. */
static const struct fc_drive *drive_order(const struct fc_config *c, int order[VM_MAX_DISKS])
{
    const struct fc_drive *root = NULL;
    for (int i = 0; i < c->ndrives; i++)
        if (c->drives[i].root)
            root = &c->drives[i];
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->ndrives; i++)
            if ((pass == 0) == (&c->drives[i] == root))
                order[n++] = i;
    return root;
}

int fc_to_vm_config(struct fc_config *c, struct vm_config *cfg, char *err)
{
    if (fc_check_startable(c, err) < 0)
        return -1;
    cfg->ncpus = c->vcpus;
    cfg->smt = c->smt;
    cfg->ram_size = c->mem_mib << 20;
    cfg->boot.kernel_path = c->kernel;
    cfg->boot.initrd_path = c->initrd;
    const struct fc_drive *root = drive_order(c, c->disk_order);
    cfg->ndisks = c->ndrives;
    for (int i = 0; i < c->ndrives; i++) {
        const struct fc_drive *d = &c->drives[c->disk_order[i]];
        cfg->disks[i] = (struct virtio_blk_config){.path = d->path, .read_only = d->read_only, .serial = d->serial,
                                                   .limiter = d->limiter,
                                                   .io_engine = d->io_async ? BLK_IO_ASYNC : BLK_IO_SYNC};
    }
    cfg->nnics = c->nnics;
    for (int i = 0; i < c->nnics; i++) {
        struct virtio_net_config *n = &cfg->nics[i];
        *n = (struct virtio_net_config){.tap = c->nics[i].host_dev, .mac_set = c->nics[i].mac_set,
                                        .rx_limiter = c->nics[i].rx_limiter, .tx_limiter = c->nics[i].tx_limiter};
        memcpy(n->mac, c->nics[i].mac, 6);
    }
    cfg->cpu_template = c->has_cpu_template ? &c->cpu_template : cfg->cpu_template;
    if (c->vsock_uds)
        cfg->vsock = (struct virtio_vsock_config){.guest_cid = c->vsock_cid, .uds_path = c->vsock_uds};
    if (c->balloon && c->balloon_cfg.amount_mib > c->mem_mib)
        return fc_error(err, BALLOON_TOO_LARGE); /* machine-config shrank memory since */
    cfg->balloon = cfg->balloon || c->balloon;
    if (c->balloon)
        cfg->balloon_config = c->balloon_cfg;
    cfg->rng = cfg->rng || c->entropy;
    if (c->entropy)
        cfg->rng_limiter = c->entropy_limiter;
    const char *args = c->boot_args ? c->boot_args : FC_DEFAULT_BOOT_ARGS;
    size_t len = strlen(args) + 128;
    free(c->cmdline);
    c->cmdline = malloc(len);
    if (!c->cmdline)
        return fc_error(err, "Out of memory.");
    int n = snprintf(c->cmdline, len, "%s", args);
    if (root && root->partuuid)
        snprintf(c->cmdline + n, len - (size_t)n, " root=PARTUUID=%s %s", root->partuuid, root->read_only ? "ro" : "rw");
    else if (root)
        snprintf(c->cmdline + n, len - (size_t)n, " root=/dev/vda %s", root->read_only ? "ro" : "rw");
    cfg->boot.cmdline = c->cmdline;
    return 0;
}

json_t *fc_machine_config_json(const struct fc_config *c)
{
    json_t *o = json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", c->vcpus, "mem_size_mib", (json_int_t)c->mem_mib,
                          "smt", c->smt, "track_dirty_pages", 0, "huge_pages", "None");
    /* As Firecracker: a static template by name, a custom one as "None",
     * no template as no key. */
    if (c->has_cpu_template)
        json_object_set_new(o, "cpu_template", json_string(c->cpu_template.name[0] ? c->cpu_template.name : "None"));
    return o;
}

/* Firecracker's FullVmConfiguration: always all eleven keys, null for a
 * section that is unset or that ember keeps process-wide (logger, metrics:
 * Firecracker shows neither either). */
json_t *fc_full_config_json(const struct fc_config *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "balloon", c->balloon ? fc_balloon_json(c) : json_null());
    json_t *drives = json_array();
    int order[VM_MAX_DISKS];
    drive_order(c, order);
    for (int k = 0; k < c->ndrives; k++) {
        const struct fc_drive *d = &c->drives[order[k]];
        json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:s, s:s}", "drive_id", d->id, "path_on_host", d->path,
                              "is_root_device", d->root, "is_read_only", d->read_only, "cache_type",
                              d->cache_writeback ? "Writeback" : "Unsafe", "io_engine", d->io_async ? "Async" : "Sync");
        json_object_set_new(j, "partuuid", d->partuuid ? json_string(d->partuuid) : json_null());
        json_object_set_new(j, "rate_limiter", rate_limiter_json(&d->limiter));
        json_object_set_new(j, "socket", json_null());
        json_array_append_new(drives, j);
    }
    json_object_set_new(o, "drives", drives);
    /* An object even before PUT /boot-source, as Firecracker answers. */
    json_object_set_new(o, "boot-source",
                        json_pack("{s:s, s:o, s:o}", "kernel_image_path", c->kernel ? c->kernel : "", "initrd_path",
                                  c->initrd ? json_string(c->initrd) : json_null(), "boot_args",
                                  c->boot_args ? json_string(c->boot_args) : json_null()));
    json_object_set_new(o, "cpu-config", json_null());
    json_object_set_new(o, "logger", json_null());
    json_object_set_new(o, "machine-config", fc_machine_config_json(c));
    json_object_set_new(o, "metrics", json_null());
    json_object_set_new(o, "mmds-config", json_null());
    json_t *nics = json_array();
    for (int i = 0; i < c->nnics; i++) {
        const struct fc_nic *n = &c->nics[i];
        json_t *j = json_pack("{s:s, s:s}", "iface_id", n->id, "host_dev_name", n->host_dev);
        if (n->mac_set) {
            char mac[18];
            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2], n->mac[3],
                     n->mac[4], n->mac[5]);
            json_object_set_new(j, "guest_mac", json_string(mac));
        }
        json_object_set_new(j, "rx_rate_limiter", rate_limiter_json(&n->rx_limiter));
        json_object_set_new(j, "tx_rate_limiter", rate_limiter_json(&n->tx_limiter));
        json_array_append_new(nics, j);
    }
    json_object_set_new(o, "network-interfaces", nics);
    json_t *vsock = json_null();
    if (c->vsock_uds) {
        vsock = json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock_cid, "uds_path", c->vsock_uds);
        if (c->vsock_id)
            json_object_set_new(vsock, "vsock_id", json_string(c->vsock_id));
    }
    json_object_set_new(o, "vsock", vsock);
    json_object_set_new(o, "entropy",
                        c->entropy ? json_pack("{s:o}", "rate_limiter", rate_limiter_json(&c->entropy_limiter))
                                   : json_null());
    return o;
}
