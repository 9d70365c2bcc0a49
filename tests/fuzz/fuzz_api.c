/* libFuzzer harness: the API's request bodies and config-file sections. The
 * first input byte picks what the body is sent to (boot-source,
 * machine-config, a drive, a network interface, entropy, the two PATCH
 * checks, an action, a VM state, a CPU template); the rest is the body as a client would
 * send it. Each input gets a fresh configuration that receives two bodies
 * (so updates of an existing drive or interface are reached too), is
 * turned into ember's vm_config and into GET /vm/config's JSON, and is
 * freed: any crash, leak or undefined behaviour is a bug. The logger and
 * metrics bodies are left out, as they open files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_config.h"

static void apply(struct fc_config *c, uint8_t op, const uint8_t *data, size_t size)
{
    char err[FC_ERR_MAX];
    json_t *body = fc_parse_body((const char *)data, size, err);
    if (!body)
        return;
    const char *path;
    int index;
    struct rate_limiter_config a, b;
    enum fc_action action;
    bool pause;
    switch (op % 12) {
    case 0: fc_put_boot_source(c, body, err); break;
    case 1: fc_put_machine_config(c, body, false, err); break;
    case 2: fc_put_machine_config(c, body, true, err); break;
    case 3: fc_put_drive(c, (op & 0x80) ? "rootfs" : NULL, body, err); break;
    case 4: fc_put_network_interface(c, (op & 0x80) ? "eth0" : NULL, body, err); break;
    case 5: fc_put_entropy(c, body, err); break;
    case 6: fc_check_drive_patch(c, "rootfs", body, &index, &path, &a, err); break;
    case 7: fc_check_network_patch(c, "eth0", body, &index, &a, &b, err); break;
    case 8: fc_parse_action(body, &action, err); break;
    case 10: fc_put_cpu_config(c, body, err); break;
    case 11: fc_put_vsock(c, body, err); break;
    case 9: { /* the balloon's bodies share the VM state's slot (the seeds keep their meaning) */
        uint32_t amount;
        uint16_t interval;
        switch ((op >> 5) & 3) {
        case 1: fc_put_balloon(c, body, err); break;
        case 2: fc_check_balloon_patch(c, body, &amount, err); break;
        case 3: fc_check_balloon_stats_patch(c, body, &interval, err); break;
        default: fc_parse_vm_state(body, &pause, err); break;
        }
        break;
    }
    default: fc_parse_vm_state(body, &pause, err); break;
    }
    err[FC_ERR_MAX - 1] = '\0';
    (void)strlen(err); /* the message is a string, whatever happened */
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* Two bodies, split where the second byte says. */
    uint8_t op1 = data[0], op2 = data[1];
    data += 2, size -= 2;
    size_t cut = size ? (size_t)op2 * size / 256 : 0;
    struct fc_config c;
    fc_config_init(&c);
    apply(&c, op1, data, cut);
    apply(&c, op2, data + cut, size - cut);
    struct vm_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[FC_ERR_MAX];
    fc_to_vm_config(&c, &cfg, err);
    json_decref(fc_machine_config_json(&c));
    json_decref(fc_balloon_json(&c));
    json_t *view = fc_full_config_json(&c);
    char *text = json_dumps(view, JSON_COMPACT);
    free(text);
    json_decref(view);
    fc_config_free(&c);
    return 0;
}
