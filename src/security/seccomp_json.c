#include "security/seccomp_json.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

#define FILTER_FILE_MAX (1 << 20)
#define MAX_CONDITIONS 6 /* one per argument */

/* The first key of obj outside allowed (NULL-terminated), or NULL. */
static const char *unknown_key(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(key, *a);
        if (!ok)
            return key;
    }
    return NULL;
}

/* An action: a name, or {"errno": N} / {"trace": N}. */
static int parse_action(json_t *v, uint32_t *out, const char *where, char *err, size_t errsize)
{
    static const struct {
        const char *name;
        uint32_t action;
    } names[] = {
        {"allow", SCMP_ACT_ALLOW},         {"trap", SCMP_ACT_TRAP},
        {"log", SCMP_ACT_LOG},             {"kill_thread", SCMP_ACT_KILL_THREAD},
        {"kill_process", SCMP_ACT_KILL_PROCESS},
    };
    if (json_is_string(v)) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (!strcmp(json_string_value(v), names[i].name)) {
                *out = names[i].action;
                return 0;
            }
    } else if (json_is_object(v) && json_object_size(v) == 1) {
        json_t *n = json_object_get(v, "errno");
        bool is_errno = n != NULL;
        if (!n)
            n = json_object_get(v, "trace");
        if (json_is_integer(n) && json_integer_value(n) >= 0 && json_integer_value(n) <= (is_errno ? 4095 : 65535)) {
            uint16_t data = (uint16_t)json_integer_value(n);
            *out = is_errno ? SCMP_ACT_ERRNO(data) : SCMP_ACT_TRACE(data);
            return 0;
        }
    }
    snprintf(err, errsize,
             "%s: expected \"allow\", \"trap\", \"log\", \"kill_thread\", \"kill_process\", {\"errno\": N} or "
             "{\"trace\": N}",
             where);
    return -1;
}

/* One condition {"index", "type", "op", "val"} of a rule. */
static int parse_condition(json_t *c, struct scmp_arg_cmp *out, const char *where, char *err, size_t errsize)
{
    static const char *const keys[] = {"index", "type", "op", "val", "comment", NULL};
    const char *bad = json_is_object(c) ? unknown_key(c, keys) : NULL;
    if (!json_is_object(c) || bad) {
        snprintf(err, errsize, bad ? "%s: unknown key \"%s\"" : "%s: a condition must be an object", where, bad);
        return -1;
    }
    json_t *index = json_object_get(c, "index"), *type = json_object_get(c, "type"), *op = json_object_get(c, "op"),
           *val = json_object_get(c, "val");
    if (!json_is_integer(index) || json_integer_value(index) < 0 || json_integer_value(index) > 5) {
        snprintf(err, errsize, "%s: \"index\" must be an argument number from 0 to 5", where);
        return -1;
    }
    const char *t = json_string_value(type);
    if (!t || (strcmp(t, "dword") && strcmp(t, "qword"))) {
        snprintf(err, errsize, "%s: \"type\" must be \"dword\" or \"qword\"", where);
        return -1;
    }
    if (!json_is_integer(val) || json_integer_value(val) < 0) {
        snprintf(err, errsize, "%s: \"val\" must be a whole number from 0 to 2^63-1", where);
        return -1;
    }
    bool dword = !strcmp(t, "dword");
    uint64_t v = (uint64_t)json_integer_value(val);
    if (dword && v > UINT32_MAX) {
        snprintf(err, errsize, "%s: \"val\" %llu does not fit a dword", where, (unsigned long long)v);
        return -1;
    }
    static const struct {
        const char *name;
        enum scmp_compare op;
    } ops[] = {{"eq", SCMP_CMP_EQ}, {"ne", SCMP_CMP_NE}, {"lt", SCMP_CMP_LT},
               {"le", SCMP_CMP_LE}, {"gt", SCMP_CMP_GT}, {"ge", SCMP_CMP_GE}};
    *out = (struct scmp_arg_cmp){.arg = (unsigned)json_integer_value(index)};
    if (json_is_string(op)) {
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (!strcmp(json_string_value(op), ops[i].name)) {
                out->op = ops[i].op;
                out->datum_a = v;
            }
        /* A dword is the argument's low 32 bits (as Firecracker compares
         * it): equality is a masked comparison. */
        if (out->op == SCMP_CMP_EQ && dword)
            *out = (struct scmp_arg_cmp){.arg = out->arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = UINT32_MAX, .datum_b = v};
    } else if (json_is_object(op) && json_object_size(op) == 1 && json_is_integer(json_object_get(op, "masked_eq")) &&
               json_integer_value(json_object_get(op, "masked_eq")) >= 0) {
        uint64_t mask = (uint64_t)json_integer_value(json_object_get(op, "masked_eq"));
        *out = (struct scmp_arg_cmp){
            .arg = out->arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = dword ? mask & UINT32_MAX : mask, .datum_b = v};
    }
    if (!out->op) {
        snprintf(err, errsize, "%s: \"op\" must be \"eq\", \"ne\", \"lt\", \"le\", \"gt\", \"ge\" or {\"masked_eq\": MASK}",
                 where);
        return -1;
    }
    return 0;
}

/* One thread kind's object: its default action, its filter action, its rules. */
static scmp_filter_ctx parse_filter(const char *kind, json_t *f, char *err, size_t errsize)
{
    static const char *const keys[] = {"default_action", "filter_action", "filter", "comment", NULL};
    const char *bad = json_is_object(f) ? unknown_key(f, keys) : NULL;
    if (!json_is_object(f) || bad) {
        snprintf(err, errsize, bad ? "\"%s\": unknown key \"%s\"" : "\"%s\": must be an object", kind, bad);
        return NULL;
    }
    char where[96];
    uint32_t default_action, filter_action;
    snprintf(where, sizeof(where), "\"%s\".default_action", kind);
    if (parse_action(json_object_get(f, "default_action"), &default_action, where, err, errsize) < 0)
        return NULL;
    snprintf(where, sizeof(where), "\"%s\".filter_action", kind);
    if (parse_action(json_object_get(f, "filter_action"), &filter_action, where, err, errsize) < 0)
        return NULL;
    if (default_action == filter_action) {
        snprintf(err, errsize, "\"%s\": filter_action and default_action are the same: the rules would mean nothing", kind);
        return NULL;
    }
    json_t *rules = json_object_get(f, "filter");
    if (!json_is_array(rules)) {
        snprintf(err, errsize, "\"%s\".filter: expected an array of rules", kind);
        return NULL;
    }
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx) {
        snprintf(err, errsize, "\"%s\": libseccomp cannot make a filter", kind);
        return NULL;
    }
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        static const char *const rule_keys[] = {"syscall", "args", "comment", NULL};
        snprintf(where, sizeof(where), "\"%s\".filter[%zu]", kind, i);
        bad = json_is_object(rule) ? unknown_key(rule, rule_keys) : NULL;
        const char *name = json_string_value(json_object_get(rule, "syscall"));
        if (!json_is_object(rule) || bad || !name) {
            snprintf(err, errsize, bad ? "%s: unknown key \"%s\"" : "%s: a rule is an object with a \"syscall\" name", where,
                     bad);
            goto fail;
        }
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
        if (nr == __NR_SCMP_ERROR) {
            snprintf(err, errsize, "%s: \"%s\" is not an x86_64 system call", where, name);
            goto fail;
        }
        json_t *args = json_object_get(rule, "args");
        if (args && !json_is_array(args) && !json_is_null(args)) {
            snprintf(err, errsize, "%s: \"args\" must be an array of conditions", where);
            goto fail;
        }
        size_t nargs = args ? json_array_size(args) : 0;
        if (nargs > MAX_CONDITIONS) {
            snprintf(err, errsize, "%s: at most %d conditions in one rule", where, MAX_CONDITIONS);
            goto fail;
        }
        struct scmp_arg_cmp cmp[MAX_CONDITIONS];
        for (size_t a = 0; a < nargs; a++) {
            char cwhere[128];
            snprintf(cwhere, sizeof(cwhere), "%s.args[%zu]", where, a);
            if (parse_condition(json_array_get(args, a), &cmp[a], cwhere, err, errsize) < 0)
                goto fail;
        }
        int r = seccomp_rule_add_exact_array(ctx, filter_action, nr, (unsigned)nargs, cmp);
        if (r < 0) {
            snprintf(err, errsize, "%s (%s): libseccomp refuses the rule: %s%s", where, name, strerror(-r),
                     r == -EINVAL && nargs > 1 ? " (two conditions on one argument?)" : "");
            goto fail;
        }
    }
    return ctx;
fail:
    seccomp_release(ctx);
    return NULL;
}

int seccomp_json_compile(const char *text, size_t len, scmp_filter_ctx out[THREAD_KIND_COUNT], char *err, size_t errsize)
{
    for (int k = 0; k < THREAD_KIND_COUNT; k++)
        out[k] = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errsize, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errsize, "expected an object with one filter per thread kind (\"vmm\", \"api\", \"vcpu\", ...)");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int k = 0;
        while (k < THREAD_KIND_COUNT && strcmp(key, thread_kind_name((enum thread_kind)k)))
            k++;
        if (k == THREAD_KIND_COUNT) {
            snprintf(err, errsize,
                     "unknown thread kind \"%s\" (ember's are vmm, api, vcpu, blk, net, rng, virtio_console, "
                     "console_input, timers)",
                     key);
            goto done;
        }
        if (!(out[k] = parse_filter(key, v, err, errsize)))
            goto done;
    }
    static const enum thread_kind required[] = {THREAD_VMM, THREAD_API, THREAD_VCPU};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!out[required[i]]) {
            snprintf(err, errsize, "no filter for the \"%s\" threads (\"vmm\", \"api\" and \"vcpu\" are required)",
                     thread_kind_name(required[i]));
            goto done;
        }
    /* The kinds a Firecracker file does not name run under its "vmm" filter. */
    json_t *vmm = json_object_get(root, "vmm");
    for (int k = 0; k < THREAD_KIND_COUNT; k++)
        if (!out[k] && !(out[k] = parse_filter("vmm", vmm, err, errsize)))
            goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc < 0)
        for (int k = 0; k < THREAD_KIND_COUNT; k++) {
            if (out[k])
                seccomp_release(out[k]);
            out[k] = NULL;
        }
    return rc;
}

int seccomp_json_compile_file(const char *path, scmp_filter_ctx out[THREAD_KIND_COUNT], char *err, size_t errsize)
{
    size_t len;
    char *text = file_read_text(path, FILTER_FILE_MAX, &len, err, errsize);
    if (!text)
        return -1;
    char why[512];
    int r = seccomp_json_compile(text, len, out, why, sizeof(why));
    free(text);
    if (r < 0)
        snprintf(err, errsize, "%s: %s", path, why);
    return r;
}
