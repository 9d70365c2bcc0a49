/* ember: a virtual machine monitor for Linux KVM. Command-line front end. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/api.h"
#include "api/fc_config.h"
#include "api/http_server.h"
#include "boot/mptable.h"
#include "cpu/cpuid.h"
#include "cpu/vcpu.h"
#include "devices/boot_timer.h"
#include "kvm/kvm.h"
#include "memory/layout.h"
#include "security/landlock.h"
#include "security/seccomp.h"
#include "util/log.h"
#include "version.h"
#include "vm/vm.h"

#define DEFAULT_MEMORY_MIB 256
#define MAX_MEMORY_MIB (1024ULL * 1024) /* 1 TiB */

static void usage(FILE *out)
{
    fprintf(out,
            "ember " EMBER_VERSION " - a small virtual machine monitor for Linux KVM\n"
            "\n"
            "Usage:\n"
            "  ember run --kernel PATH [options]   boot a guest kernel\n"
            "  ember --api-sock PATH [options]     wait for Firecracker API requests\n"
            "  ember --config-file FILE [--no-api] boot from a Firecracker config file\n"
            "  ember --help | --version\n"
            "\n"
            "Options for 'run':\n"
            "  -k, --kernel PATH     kernel to boot: a bzImage (boot protocol 2.12+) or an\n"
            "                        ELF vmlinux (through its PVH note, else its 64-bit entry)\n"
            "  -i, --initrd PATH     initial ramdisk, loaded below the kernel's limit\n"
            "  -p, --cmdline STR     kernel command line (e.g. \"console=ttyS0\")\n"
            "  -m, --memory MiB      guest RAM in MiB; a G or M suffix is accepted (default %d)\n"
            "  -c, --cpus N          number of vCPUs (default 1)\n"
            "      --console KIND    where the guest's serial port goes:\n"
            "                          stdio      this terminal or pipe (default)\n"
            "                          none       nowhere\n"
            "                          file:PATH  appended to PATH\n"
            "      --decompress WHERE  for a bzImage: 'host' (default) decompresses the\n"
            "                        kernel in ember and enters vmlinux directly; 'guest'\n"
            "                        runs the kernel's own decompressor\n"
            "      --irqchip MODE    kernel (default): IOAPIC, PIC, PIT and LAPIC in KVM;\n"
            "                        split: LAPIC in KVM, ember's own IOAPIC, PIC and PIT;\n"
            "                        user: every interrupt controller in ember, LAPIC too\n"
            "      --kvm-pv-off LIST  hide these KVM paravirtual features from the guest,\n"
            "                        by QEMU's names (kvm-pv-eoi, kvm-pv-unhalt, kvm-pv-ipi,\n"
            "                        kvm-asyncpf, kvm-steal-time, ..., or all), comma-separated\n"
            "      --cpu-template NAME|FILE  Firecracker's CPU templates: C3, T2, T2S, T2CL (Intel),\n"
            "                        T2A (AMD), None, or a custom template's JSON file\n"
            "      --disk PATH[,ro][,serial=ID][,io_engine=sync|async][,iops=N][,bps=N]\n"
            "                        a virtio-blk disk on a raw image (repeatable);\n"
            "                        io_engine: sync I/O on the disk's thread, or io_uring\n"
            "                        (default: io_uring where the host has it);\n"
            "                        iops/bps: at most N requests/bytes per second\n"
            "      --net tap=NAME[,mac=MAC][,rx-bps=N][,tx-bps=N][,rx-pps=N][,tx-pps=N]\n"
            "                        a virtio-net interface on a tap (opened, or created\n"
            "                        when permitted; repeatable); rates per second, each way\n"
            "      --rng             a virtio-rng entropy device\n"
            "      --vsock cid=N,uds=PATH\n"
            "                        a virtio-vsock device with guest CID N, its host side\n"
            "                        on Unix sockets (Firecracker's): host clients connect\n"
            "                        to PATH and write CONNECT <port>; the guest's\n"
            "                        connections to port P reach PATH_P\n"
            "      --balloon amount_mib=N[,deflate_on_oom][,stats_interval=S][,free_page_reporting]\n"
            "                        a virtio-balloon: N MiB asked back at boot (PATCH /balloon\n"
            "                        changes it); guest statistics every S seconds; pages the\n"
            "                        guest frees reported back to the host\n"
            "      --virtio-console  console input goes to a virtio-console port (Linux:\n"
            "                        console=hvc0); output of it and COM1 to the console\n"
            "      --virtio-transport mmio|pci\n"
            "                        how the guest finds virtio devices: virtio-mmio on\n"
            "                        the command line (default) or a PCI bus with MSI-X\n"
            "      --api-sock PATH   serve Firecracker's REST API on a Unix socket at PATH\n"
            "                        (mode 0600); without --kernel or --config-file the VM\n"
            "                        starts on the API's InstanceStart\n"
            "      --config-file FILE  the VM from a Firecracker JSON config file; it boots\n"
            "                        at once (with --api-sock, the API serves it too)\n"
            "      --no-api          with --config-file: no API socket\n"
            "      --no-seccomp      no seccomp filters (by default every thread is held to\n"
            "                        the system calls its work needs; another ends ember, 148)\n"
            "      --seccomp-filter FILE  the filters from FILE, in Firecracker's JSON format\n"
            "                        (one per thread kind: vmm, api, vcpu; blk, net, rng,\n"
            "                        virtio_console, console_input and timers default to vmm's)\n"
            "      --seccomp-log     a forbidden system call is logged by the kernel, not stopped\n"
            "      --landlock        require Landlock (by default it is used where the kernel\n"
            "                        has it): once the VM is built, ember may open only the\n"
            "                        kernel, initrd and disks it was given, and --landlock-rule's\n"
            "      --landlock-rule path=PATH,access=ro|rw\n"
            "                        a file or directory ember may open later (PATCH /drives)\n"
            "      --no-landlock     no Landlock rules\n"
            "  -v, --verbose         more messages on stderr\n"
            "\n"
            "Firecracker's flags (its SDKs, firectl and its jailer pass them):\n"
            "      --id ID           the instance's id (GET /, log lines): 1 to 64 letters,\n"
            "                        digits and hyphens (default anonymous-instance)\n"
            "      --log-path PATH   log lines go to PATH (a file or a named pipe that must\n"
            "                        exist), as PUT /logger; --level LEVEL, --show-level and\n"
            "                        --show-log-origin as its fields\n"
            "      --metrics-path PATH  metrics to PATH, as PUT /metrics\n"
            "      --http-api-max-payload-size N  the API's largest request body (default 51200)\n"
            "      --boot-timer      log the boot time when the guest writes 123 to port 0x3f0\n"
            "      --start-time-us N, --start-time-cpu-us N, --parent-cpu-time-us N\n"
            "                        the jailer's start, for --boot-timer\n"
            "\n"
            "The guest's first serial port (COM1, ttyS0) is the console. On a terminal,\n"
            "type Ctrl-A x to quit ember, Ctrl-A Ctrl-A to send Ctrl-A to the guest.\n"
            "\n"
            "ember exits 0 when the guest powers off or reboots (it says which), or when it\n"
            "is stopped by SIGINT/SIGTERM or Ctrl-A x; it exits 1 when the VM fails, 2 on bad\n"
            "usage, 3 when the guest kernel panics (pvpanic) and 148 when a thread makes a\n"
            "system call its seccomp filter forbids, with one line on stderr naming the\n"
            "problem.\n"
            "\n"
            "Environment: EMBER_KVM_DEVICE=PATH uses PATH instead of /dev/kvm;\n"
            "EMBER_KVM_HIDE_CAPS=N[,N...] treats those KVM_CAP_* numbers as absent (testing).\n",
            DEFAULT_MEMORY_MIB);
}

static int parse_memory(const char *s, uint64_t *bytes)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -1;
    unsigned long long mult = 1;
    if (*end == 'G' || *end == 'g')
        mult = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        end++;
    if (*end == 'i' && end[-1] != s[0])
        end++; /* "GiB"/"MiB" */
    if (*end == 'B')
        end++;
    if (*end || v == 0 || v > MAX_MEMORY_MIB / mult)
        return -1;
    *bytes = v * mult * MiB;
    return 0;
}

static int parse_cpus(const char *s, int *out)
{
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* A rate option "NAME=N", N per second (N >= 1): a token bucket of N that
 * refills every second, so bursts of up to a second's worth pass at once.
 * 1 if opt is that option, 0 if it is another, -1 (after one message naming
 * it) if its value is bad. */
static int rate_option(const char *what, const char *opt, const char *name, struct token_bucket_config *b)
{
    size_t n = strlen(name);
    if (strncmp(opt, name, n) || opt[n] != '=')
        return 0;
    const char *num = opt + n + 1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(num, &end, 10);
    if (errno || end == num || *end || *num == '-' || v == 0) {
        log_error("%s: %s: expected a whole number per second, at least 1", what, opt);
        return -1;
    }
    *b = (struct token_bucket_config){.size = v, .refill_time_ms = 1000};
    return 1;
}

/* --disk PATH[,ro][,serial=ID][,io_engine=sync|async][,iops=N][,bps=N]: edits the option text in place. */
static int parse_disk(char *arg, struct vm_config *cfg)
{
    if (cfg->ndisks >= VM_MAX_DISKS) {
        log_error("--disk %s: at most %d disks", arg, VM_MAX_DISKS);
        return -1;
    }
    struct virtio_blk_config *d = &cfg->disks[cfg->ndisks];
    *d = (struct virtio_blk_config){.path = arg};
    char *opt = strchr(arg, ',');
    if (opt)
        *opt++ = '\0';
    while (opt) {
        char *next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        int r;
        if (!strcmp(opt, "ro")) {
            d->read_only = true;
        } else if (!strncmp(opt, "serial=", 7) && opt[7] && strlen(opt + 7) <= 20) {
            d->serial = opt + 7;
        } else if (!strcmp(opt, "io_engine=sync") || !strcmp(opt, "io_engine=async")) {
            d->io_engine = opt[10] == 's' ? BLK_IO_SYNC : BLK_IO_ASYNC;
        } else if ((r = rate_option("--disk", opt, "iops", &d->limiter.ops)) != 0 ||
                   (r = rate_option("--disk", opt, "bps", &d->limiter.bandwidth)) != 0) {
            if (r < 0)
                return -1;
        } else {
            log_error("--disk %s: bad option '%s' (expected ro, serial=ID of up to 20 bytes, "
                      "io_engine=sync|async, iops=N or bps=N)", arg,
                      opt);
            return -1;
        }
        opt = next;
    }
    if (!*arg) {
        log_error("--disk: the image path is missing");
        return -1;
    }
    for (int i = 0; i < cfg->ndisks; i++) {
        if (!strcmp(cfg->disks[i].path, d->path)) {
            log_error("--disk %s: given twice", d->path);
            return -1;
        }
        if (d->serial && cfg->disks[i].serial && !strcmp(cfg->disks[i].serial, d->serial)) {
            log_error("--disk %s: serial=%s is already another disk's id", d->path, d->serial);
            return -1;
        }
    }
    cfg->ndisks++;
    return 0;
}

/* --net tap=NAME[,mac=MAC][,rx-bps=N][,tx-bps=N][,rx-pps=N][,tx-pps=N]:
 * edits the option text in place. */
static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > max) {
        log_error("%s %s: expected a whole number up to %llu", opt, s, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

/* --vsock cid=N,uds=PATH: edits the option text in place. */
static int parse_vsock(char *arg, struct vm_config *cfg)
{
    const char *cid = NULL, *uds = NULL;
    for (char *opt = arg, *next; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        if (!strncmp(opt, "cid=", 4))
            cid = opt + 4;
        else if (!strncmp(opt, "uds=", 4) && opt[4])
            uds = opt + 4;
        else {
            log_error("--vsock: bad option '%s' (expected cid=N,uds=PATH)", opt);
            return -1;
        }
    }
    uint64_t n;
    if (!cid || !uds || parse_u64("--vsock cid", cid, UINT32_MAX, &n) < 0 || n < 3) {
        log_error("--vsock: expected cid=N (3 or more) and uds=PATH");
        return -1;
    }
    cfg->vsock = (struct virtio_vsock_config){.guest_cid = (uint32_t)n, .uds_path = uds};
    return 0;
}

static int parse_net(char *arg, struct vm_config *cfg)
{
    if (cfg->nnics >= VM_MAX_NICS) {
        log_error("--net %s: at most %d network interfaces", arg, VM_MAX_NICS);
        return -1;
    }
    struct virtio_net_config *n = &cfg->nics[cfg->nnics];
    *n = (struct virtio_net_config){0};
    for (char *opt = arg, *next; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        int r;
        if ((r = rate_option("--net", opt, "rx-bps", &n->rx_limiter.bandwidth)) != 0 ||
            (r = rate_option("--net", opt, "tx-bps", &n->tx_limiter.bandwidth)) != 0 ||
            (r = rate_option("--net", opt, "rx-pps", &n->rx_limiter.ops)) != 0 ||
            (r = rate_option("--net", opt, "tx-pps", &n->tx_limiter.ops)) != 0) {
            if (r < 0)
                return -1;
        } else if (!strncmp(opt, "tap=", 4) && opt[4]) {
            n->tap = opt + 4;
        } else if (!strncmp(opt, "mac=", 4)) {
            if (net_parse_mac(opt + 4, n->mac) < 0) {
                log_error("--net: mac=%s is not a unicast MAC address (expected six hex bytes like 02:00:00:00:00:01)",
                          opt + 4);
                return -1;
            }
            n->mac_set = true;
        } else {
            log_error("--net: bad option '%s' (expected tap=NAME, and optionally mac=MAC, rx-bps=N, tx-bps=N, "
                      "rx-pps=N or tx-pps=N)",
                      opt);
            return -1;
        }
    }
    if (!n->tap) {
        log_error("--net: tap=NAME is required");
        return -1;
    }
    for (int i = 0; i < cfg->nnics; i++) {
        if (!strcmp(cfg->nics[i].tap, n->tap)) {
            log_error("--net tap=%s: given twice", n->tap);
            return -1;
        }
        if (n->mac_set && cfg->nics[i].mac_set && !memcmp(cfg->nics[i].mac, n->mac, 6)) {
            log_error("--net tap=%s: its MAC address is already another interface's", n->tap);
            return -1;
        }
    }
    cfg->nnics++;
    return 0;
}

/* --balloon amount_mib=N[,deflate_on_oom][,stats_interval=S][,free_page_reporting]: edits the text in place. */
static int parse_balloon(char *arg, struct vm_config *cfg)
{
    struct virtio_balloon_config *b = &cfg->balloon_config;
    bool amount = false;
    for (char *opt = strtok(arg, ","); opt; opt = strtok(NULL, ",")) {
        const char *num = strchr(opt, '=') ? strchr(opt, '=') + 1 : NULL;
        char *end = NULL;
        unsigned long long v = num && *num != '-' ? (errno = 0, strtoull(num, &end, 10)) : 0;
        bool good = num && end && end != num && !*end && !errno;
        if (!strcmp(opt, "deflate_on_oom")) {
            b->deflate_on_oom = true;
        } else if (!strcmp(opt, "free_page_reporting")) {
            b->free_page_reporting = true;
        } else if (!strncmp(opt, "amount_mib=", 11) && good && v <= UINT32_MAX) {
            b->amount_mib = (uint32_t)v;
            amount = true;
        } else if (!strncmp(opt, "stats_interval=", 15) && good && v <= UINT16_MAX) {
            b->stats_polling_interval_s = (uint16_t)v;
        } else {
            log_error("--balloon: bad option '%s' (expected amount_mib=MiB, and optionally deflate_on_oom, "
                      "stats_interval=SECONDS of at most 65535, free_page_reporting)", opt);
            return -1;
        }
    }
    if (!amount) {
        log_error("--balloon: amount_mib=MiB is required (0 for an empty balloon)");
        return -1;
    }
    cfg->balloon = true;
    return 0;
}

static void note_pvm(const struct kvm_system *kvm)
{
    /* Said once, and only for a VM that is about to run, so an error stays
     * the single line on stderr. */
    if (kvm->is_pvm)
        log_info("note: this host's KVM is PVM (no VMX/SVM): guest ring-0 code is emulated, so an "
                 "unmodified kernel runs slowly and may stop at an instruction PVM cannot emulate");
}

struct run_with_api {
    const char *api_sock, *config_file;
    struct vm_config *cfg;   /* the command line's settings */
    bool memory_given, cpus_given;
    struct landlock_config *files;
    const char *instance_id, *metrics_path; /* --id, --metrics-path */
    size_t max_payload;                     /* --http-api-max-payload-size, 0: the default */
};

/* Landlock, once the VM is built (its files open) and before its threads
 * start: from here on ember may open only what the VM was given, what
 * --landlock-rule adds, and remove the API socket. */
/* The directory a path is in, into dir (PATH_MAX bytes). */
static const char *directory_of(const char *path, char *dir)
{
    snprintf(dir, PATH_MAX, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, PATH_MAX, ".");
    return dir;
}

static int restrict_files(struct landlock_config *files, const struct vm_config *cfg, const char *api_sock)
{
    static char sock_dir[PATH_MAX], vsock_dir[PATH_MAX], disk_dirs[VM_MAX_DISKS][PATH_MAX];
    struct landlock_config all = *files;
    int r = landlock_add_path(&all, cfg->boot.kernel_path, LANDLOCK_READ);
    if (r == 0)
        r = landlock_add_path(&all, cfg->boot.initrd_path, LANDLOCK_READ);
    /* A disk's image; with the API, the directory it is in, for PATCH
     * /drives: Firecracker's clients swap an image behind the same path
     * (kata bind-mounts the real one over an empty placeholder), and a rule
     * on the old file would not cover the new one. */
    for (int i = 0; i < cfg->ndisks && r == 0; i++)
        r = landlock_add_path(&all, api_sock ? directory_of(cfg->disks[i].path, disk_dirs[i]) : cfg->disks[i].path,
                              cfg->disks[i].read_only ? LANDLOCK_READ
                              : api_sock              ? LANDLOCK_WRITE_FILES
                                                      : LANDLOCK_WRITE);
    if (r == 0 && api_sock)
        r = landlock_add_path(&all, directory_of(api_sock, sock_dir), LANDLOCK_REMOVE);
    if (r == 0 && cfg->vsock.uds_path) /* its socket is removed at exit */
        r = landlock_add_path(&all, directory_of(cfg->vsock.uds_path, vsock_dir), LANDLOCK_REMOVE);
    return r < 0 ? -1 : landlock_restrict_process(&all);
}

/* ember with the Firecracker API and/or a config file: configure (from the
 * file, the command line or API requests), boot on InstanceStart (at once
 * with a file or --kernel), serve the API while the VM runs, and end with it. */
static int run_with_api(struct kvm_system *kvm, const struct run_with_api *run)
{
    struct api api;
    if (api_init(&api) < 0)
        return 1;
    struct vm_config *cfg = run->cfg;
    if (run->memory_given)
        api.fc.mem_mib = cfg->ram_size >> 20;
    if (run->cpus_given)
        api.fc.vcpus = cfg->ncpus;
    if (cfg->balloon) { /* the API's PATCH /balloon reaches it */
        api.fc.balloon = true;
        api.fc.balloon_cfg = cfg->balloon_config;
    }
    if (run->instance_id)
        api.id = run->instance_id;
    api.max_body = run->max_payload;
    char err[FC_ERR_MAX];
    if (run->metrics_path && api_set_metrics(&api, run->metrics_path, err) < 0) {
        log_error("--metrics-path: %s", err);
        api_close(&api);
        return 2;
    }
    bool from_fc = !cfg->boot.kernel_path; /* else the command line describes the VM */
    if (run->config_file) {
        char *metrics = NULL;
        int rc = fc_load_file(&api.fc, run->config_file, &metrics, err);
        if (rc == 0 && metrics)
            rc = api_set_metrics(&api, metrics, err);
        free(metrics);
        if (rc < 0) {
            log_error("%s", err);
            api_close(&api);
            return 2;
        }
    }
    sigset_t stop_signals;
    vm_stop_signals(&stop_signals);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    int sigfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    bool start_now = run->config_file || !from_fc;
    if (start_now)
        api_starting(&api);
    if (sigfd < 0 || (run->api_sock && api_serve(&api, run->api_sock) < 0)) {
        if (sigfd >= 0)
            close(sigfd);
        api_close(&api);
        return 1;
    }
    int status = 0;
    for (;;) {
        if (!start_now && api_wait_for_start(&api, sigfd) < 0)
            break;
        err[0] = '\0';
        struct vm vm;
        log_capture(err, sizeof(err));
        int rc = from_fc ? fc_to_vm_config(&api.fc, cfg, err) : 0;
        bool created = rc == 0; /* vm_create is called: vm_destroy undoes even a failed one */
        if (rc < 0)
            log_error("%s", err);
        else if ((rc = vm_create(&vm, kvm, cfg)) == 0 && (rc = restrict_files(run->files, cfg, run->api_sock)) == 0 &&
                 (rc = vm_start(&vm)) < 0)
            vm_wait(&vm); /* joins whatever had started */
        log_capture(NULL, 0);
        if (rc < 0) {
            if (created)
                vm_destroy(&vm);
            api_started(&api, NULL, err[0] ? err : "the VM could not be created");
            if (start_now) { /* nobody to tell but the user */
                status = 1;
                break;
            }
            continue; /* the API answered 400; the user may fix and retry */
        }
        note_pvm(kvm);
        api_started(&api, &vm, NULL);
        status = vm_wait(&vm);
        api_stopped(&api);
        vm_destroy(&vm);
        break;
    }
    close(sigfd);
    api_close(&api);
    return status;
}

/* Firecracker's long-only flags. */
enum {
    OPT_ID = 1000,
    OPT_LOG_PATH,
    OPT_LEVEL,
    OPT_SHOW_LEVEL,
    OPT_SHOW_ORIGIN,
    OPT_MODULE,
    OPT_METRICS_PATH,
    OPT_MAX_PAYLOAD,
    OPT_BOOT_TIMER,
    OPT_START_US,
    OPT_START_CPU_US,
    OPT_PARENT_CPU_US,
    OPT_CPU_TEMPLATE,
    OPT_VSOCK,
    OPT_BALLOON,
};

/* Firecracker's rule for an instance id. */
static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-')
            return false;
    return true;
}

/* The logger the command line asks for, through PUT /logger's own code. */
struct cli_logger {
    const char *path, *level, *module;
    bool show_level, show_origin;
};

static int apply_logger(const struct cli_logger *l)
{
    if (!l->path && !l->level && !l->module && !l->show_level && !l->show_origin)
        return 0;
    json_t *body = json_object();
    if (l->path)
        json_object_set_new(body, "log_path", json_string(l->path));
    if (l->level)
        json_object_set_new(body, "level", json_string(l->level));
    if (l->module)
        json_object_set_new(body, "module", json_string(l->module));
    json_object_set_new(body, "show_level", json_boolean(l->show_level));
    json_object_set_new(body, "show_log_origin", json_boolean(l->show_origin));
    char err[FC_ERR_MAX];
    int r = fc_put_logger(body, err);
    json_decref(body);
    if (r < 0)
        log_error("--log-path/--level: %s", err);
    return r;
}

/* Installed under Firecracker's name (a link named `firecracker`), ember
 * answers as the Firecracker whose API it follows where clients look: the
 * version line (kata's runtime requires Firecracker 0.21.1 or later) and the
 * vCPU threads' names. */
static bool as_firecracker;

static void print_version(void)
{
    if (as_firecracker)
        printf("Firecracker v%s (ember %s, which follows Firecracker %s's API and command line)\n", FC_API_VERSION,
               EMBER_VERSION, FC_API_VERSION);
    else
        printf("ember %s\n", EMBER_VERSION); /* the one line scripts (the jailer's tests) read */
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kernel", required_argument, 0, 'k'}, {"initrd", required_argument, 0, 'i'},
        {"cmdline", required_argument, 0, 'p'}, {"memory", required_argument, 0, 'm'},
        {"cpus", required_argument, 0, 'c'},   {"console", required_argument, 0, 'C'},
        {"verbose", no_argument, 0, 'v'},      {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'E'},
        {"decompress", required_argument, 0, 'D'},
        {"irqchip", required_argument, 0, 'I'},
        {"kvm-pv-off", required_argument, 0, 'K'},
        {"cpu-template", required_argument, 0, OPT_CPU_TEMPLATE},
        {"vsock", required_argument, 0, OPT_VSOCK},
        {"disk", required_argument, 0, 'd'},
        {"rng", no_argument, 0, 'R'},
        {"balloon", required_argument, 0, OPT_BALLOON},
        {"net", required_argument, 0, 'N'},
        {"virtio-console", no_argument, 0, 'V'},
        {"virtio-transport", required_argument, 0, 'T'},
        {"api-sock", required_argument, 0, 'A'},
        {"config-file", required_argument, 0, 'F'},
        {"no-api", no_argument, 0, 'n'},
        {"no-seccomp", no_argument, 0, 'S'},
        {"seccomp-filter", required_argument, 0, 'f'},
        {"seccomp-log", no_argument, 0, 'L'},
        {"landlock", no_argument, 0, 'l'},
        {"no-landlock", no_argument, 0, 'o'},
        {"landlock-rule", required_argument, 0, 'r'},
        {"id", required_argument, 0, OPT_ID},
        {"log-path", required_argument, 0, OPT_LOG_PATH},
        {"level", required_argument, 0, OPT_LEVEL},
        {"show-level", no_argument, 0, OPT_SHOW_LEVEL},
        {"show-log-origin", no_argument, 0, OPT_SHOW_ORIGIN},
        {"module", required_argument, 0, OPT_MODULE},
        {"metrics-path", required_argument, 0, OPT_METRICS_PATH},
        {"http-api-max-payload-size", required_argument, 0, OPT_MAX_PAYLOAD},
        {"boot-timer", no_argument, 0, OPT_BOOT_TIMER},
        {"start-time-us", required_argument, 0, OPT_START_US},
        {"start-time-cpu-us", required_argument, 0, OPT_START_CPU_US},
        {"parent-cpu-time-us", required_argument, 0, OPT_PARENT_CPU_US},
        {0, 0, 0, 0},
    };
    struct vm_config cfg = {.ram_size = DEFAULT_MEMORY_MIB * MiB, .ncpus = 1, .console = {.kind = CONSOLE_STDIO},
                            .firecracker_names = as_firecracker};
    const char *api_sock = NULL, *config_file = NULL;
    bool no_api = false, memory_given = false, cpus_given = false;
    struct seccomp_options seccomp = {.mode = SECCOMP_ENFORCE, .kick_signal = vcpu_kick_signal()};
    bool no_seccomp = false, seccomp_log = false, landlock = false, no_landlock = false;
    static struct landlock_config files; /* --landlock-rule's, then the VM's paths */
    const char *instance_id = NULL, *metrics_path = NULL;
    struct cli_logger logger = {0};
    uint64_t max_payload = 0, v;
    boot_timer_start_now(&cfg.boot_start); /* ember's start, unless a jailer says its own */
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":k:i:p:m:c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'k': cfg.boot.kernel_path = optarg; break;
        case 'i': cfg.boot.initrd_path = optarg; break;
        case 'p': cfg.boot.cmdline = optarg; break;
        case 'A': api_sock = optarg; break;
        case 'F': config_file = optarg; break;
        case 'n': no_api = true; break;
        case 'S': no_seccomp = true; break;
        case 'f': seccomp.filter_file = optarg; break;
        case 'L': seccomp_log = true; break;
        case 'l': landlock = true; break;
        case 'o': no_landlock = true; break;
        case 'r':
            if (landlock_parse_rule(optarg, &files) < 0)
                return 2;
            break;
        case OPT_ID:
            if (!valid_id(optarg)) {
                log_error("--id %s: expected 1 to 64 letters, digits and hyphens", optarg);
                return 2;
            }
            instance_id = optarg;
            break;
        case OPT_LOG_PATH: logger.path = optarg; break;
        case OPT_LEVEL: logger.level = optarg; break;
        case OPT_SHOW_LEVEL: logger.show_level = true; break;
        case OPT_SHOW_ORIGIN: logger.show_origin = true; break;
        case OPT_MODULE: logger.module = optarg; break;
        case OPT_METRICS_PATH: metrics_path = optarg; break;
        case OPT_MAX_PAYLOAD:
            if (parse_u64("--http-api-max-payload-size", optarg, HTTP_MAX_BODY_LIMIT, &max_payload) < 0)
                return 2;
            if (max_payload == 0) {
                log_error("--http-api-max-payload-size 0: a body limit must be at least 1 byte");
                return 2;
            }
            break;
        case OPT_BOOT_TIMER: cfg.boot_timer = true; break;
        case OPT_START_US:
            if (parse_u64("--start-time-us", optarg, UINT64_MAX, &v) < 0)
                return 2;
            cfg.boot_start.time_us = v;
            break;
        case OPT_START_CPU_US:
            if (parse_u64("--start-time-cpu-us", optarg, UINT64_MAX, &v) < 0)
                return 2;
            cfg.boot_start.cpu_us = v;
            break;
        case OPT_PARENT_CPU_US:
            if (parse_u64("--parent-cpu-time-us", optarg, UINT64_MAX, &v) < 0)
                return 2;
            cfg.boot_start.parent_cpu_us = v;
            break;
        case 'm':
            memory_given = true;
            if (parse_memory(optarg, &cfg.ram_size) < 0) {
                log_error("--memory %s: expected a size in MiB from 1 to %llu (e.g. 512, 2G)", optarg,
                          (unsigned long long)MAX_MEMORY_MIB);
                return 2;
            }
            break;
        case 'c':
            cpus_given = true;
            if (parse_cpus(optarg, &cfg.ncpus) < 0) {
                log_error("--cpus %s: expected a number of vCPUs, at least 1", optarg);
                return 2;
            }
            break;
        case 'C':
            if (console_parse(optarg, &cfg.console) < 0) {
                log_error("--console %s: expected stdio, none or file:PATH", optarg);
                return 2;
            }
            break;
        case 'D':
            if (strcmp(optarg, "host") && strcmp(optarg, "guest")) {
                log_error("--decompress %s: expected host or guest", optarg);
                return 2;
            }
            cfg.boot.decompress_in_guest = !strcmp(optarg, "guest");
            break;
        case 'I':
            if (irqchip_mode_parse(optarg, &cfg.irqchip) < 0) {
                log_error("--irqchip %s: expected kernel, split or user", optarg);
                return 2;
            }
            break;
        case 'K':
            if (cpuid_kvm_pv_parse(optarg, &cfg.kvm_pv_off) < 0)
                return 2;
            break;
        case OPT_CPU_TEMPLATE: {
            static struct cpu_template cli_template;
            char err[FC_ERR_MAX];
            int r = cpu_template_static(optarg, &cli_template);
            if (r < 0 && (strchr(optarg, '/') || strchr(optarg, '.')))
                r = fc_load_cpu_template(optarg, &cli_template, err) < 0 ? -2 : 0;
            else if (r < 0)
                snprintf(err, sizeof(err), "--cpu-template %s: expected one of %s, or a template file", optarg,
                         cpu_template_static_names());
            if (r < 0) {
                log_error("%s%s", r == -2 ? "--cpu-template " : "", err);
                return 2;
            }
            cfg.cpu_template = r == 1 ? NULL : &cli_template;
            break;
        }
        case 'd':
            if (parse_disk(optarg, &cfg) < 0)
                return 2;
            break;
        case 'R': cfg.rng = true; break;
        case OPT_VSOCK:
            if (parse_vsock(optarg, &cfg) < 0)
                return 2;
            break;
        case OPT_BALLOON:
            if (parse_balloon(optarg, &cfg) < 0)
                return 2;
            break;
        case 'V': cfg.virtio_console = true; break;
        case 'T':
            if (!strcmp(optarg, "mmio"))
                cfg.transport = VIRTIO_MMIO;
            else if (!strcmp(optarg, "pci"))
                cfg.transport = VIRTIO_PCI;
            else {
                log_error("--virtio-transport %s: expected mmio or pci", optarg);
                return 2;
            }
            break;
        case 'N':
            if (parse_net(optarg, &cfg) < 0)
                return 2;
            break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        case 'E': print_version(); return 0;
        case ':': log_error("option %s needs a value (see ember --help)", argv[optind - 1]); return 2;
        default: log_error("unknown option %s (see ember --help)", argv[optind - 1]); return 2;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s' (see ember --help)", argv[optind]);
        return 2;
    }
    if (no_api && (api_sock || !config_file)) {
        log_error(api_sock ? "--no-api and --api-sock: choose one" : "--no-api needs --config-file FILE");
        return 2;
    }
    if (config_file && cfg.boot.kernel_path) {
        log_error("--kernel and --config-file: choose one (the config file's boot-source names the kernel)");
        return 2;
    }
    if (!cfg.boot.kernel_path && !api_sock && !config_file) {
        log_error("--kernel PATH is required (see ember --help)");
        return 2;
    }
    if (cfg.balloon && cfg.boot.kernel_path && ((uint64_t)cfg.balloon_config.amount_mib << 20) > cfg.ram_size) {
        log_error("--balloon amount_mib=%u: more than the guest's %llu MiB of memory", cfg.balloon_config.amount_mib,
                  (unsigned long long)(cfg.ram_size >> 20));
        return 2;
    }
    if (cfg.ncpus > MPTABLE_MAX_CPUS) {
        log_error("--cpus %d: ember supports at most %d vCPUs (8-bit APIC ids)", cfg.ncpus, MPTABLE_MAX_CPUS);
        return 2;
    }

    if (no_seccomp + seccomp_log + !!seccomp.filter_file > 1) {
        log_error("--no-seccomp, --seccomp-filter and --seccomp-log: choose one");
        return 2;
    }
    if (no_seccomp)
        seccomp.mode = SECCOMP_OFF;
    else if (seccomp_log)
        seccomp.mode = SECCOMP_LOG;
    if (metrics_path && !api_sock && !config_file) {
        log_error("--metrics-path needs --api-sock or --config-file (metrics are the API's)");
        return 2;
    }
    if (instance_id)
        log_set_instance_id(instance_id);
    if (apply_logger(&logger) < 0)
        return 2;
    if (landlock && no_landlock) {
        log_error("--landlock and --no-landlock: choose one");
        return 2;
    }
    files.mode = landlock ? LANDLOCK_REQUIRED : no_landlock ? LANDLOCK_OFF : LANDLOCK_IF_AVAILABLE;
    /* Before any other thread starts: each confines itself from the filters
     * compiled here. */
    bool usage_error;
    if (seccomp_prepare(&seccomp, &usage_error) < 0)
        return usage_error ? 2 : 1;
    if (landlock_prepare(files.mode) < 0)
        return 1;

    /* EMBER_KVM_DEVICE points ember at another KVM device node (a container
     * that bind-mounts it elsewhere; the tests use it for the error paths). */
    const char *kvm_path = getenv("EMBER_KVM_DEVICE");
    struct kvm_system kvm;
    if (kvm_system_open(&kvm, kvm_path && *kvm_path ? kvm_path : "/dev/kvm") < 0)
        return 1;
    if (cfg.ncpus > kvm.max_vcpus) {
        log_error("--cpus %d: this host's KVM supports at most %d vCPUs", cfg.ncpus, kvm.max_vcpus);
        kvm_system_close(&kvm);
        return 2;
    }
    if (api_sock || config_file) {
        struct run_with_api run = {.api_sock = api_sock, .config_file = config_file, .cfg = &cfg,
                                   .memory_given = memory_given, .cpus_given = cpus_given, .files = &files,
                                   .instance_id = instance_id, .metrics_path = metrics_path,
                                   .max_payload = (size_t)max_payload};
        int status = run_with_api(&kvm, &run);
        kvm_system_close(&kvm);
        return status;
    }
    struct vm vm;
    int status = 1;
    if (vm_create(&vm, &kvm, &cfg) == 0 && restrict_files(&files, &cfg, NULL) == 0) {
        note_pvm(&kvm);
        status = vm_run(&vm);
    }
    vm_destroy(&vm);
    kvm_system_close(&kvm);
    return status;
}

int main(int argc, char **argv)
{
    /* Each vsock connection is a descriptor: up to the hard limit. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max < 65536 ? nofile.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    const char *name = strrchr(argv[0], '/');
    as_firecracker = !strcmp(name ? name + 1 : argv[0], "firecracker");
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        print_version();
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    /* Firecracker's habit: `ember --api-sock PATH`, `ember --config-file F`,
     * and its other flags first (the jailer's `--id ID ...`). */
    if (!strncmp(cmd, "--", 2))
        return cmd_run(argc, argv);
    log_error("unknown command '%s' (try: ember run --kernel PATH; see ember --help)", cmd);
    return 2;
}
