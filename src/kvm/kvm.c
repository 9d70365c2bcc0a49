#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* EMBER_KVM_HIDE_CAPS=N[,N...] makes ember treat those KVM_CAP_* numbers as
 * absent: how the tests check what ember does on a host whose KVM lacks a
 * capability this one has. */
static bool cap_hidden(long cap)
{
    const char *list = getenv("EMBER_KVM_HIDE_CAPS");
    while (list && *list) {
        char *end;
        long n = strtol(list, &end, 10);
        if (end != list && n == cap)
            return true;
        list = strchr(end, ',');
        if (list)
            list++;
    }
    return false;
}

int kvm_check_extension(int fd, long cap)
{
    if (cap_hidden(cap))
        return 0;
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

/* Capabilities without which ember cannot run a VM at all (each irqchip mode
 * checks its own in irq/irq.c). */
static const struct {
    long cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static struct kvm_cpuid2 *get_supported_cpuid(int fd)
{
    for (int nent = 128; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)nent * sizeof(c->entries[0]));
        if (!c)
            return NULL;
        c->nent = (unsigned)nent;
        if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG)
            return NULL;
    }
    return NULL;
}

int kvm_system_open(struct kvm_system *kvm, const char *path)
{
    memset(kvm, 0, sizeof(*kvm));
    kvm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            log_error("%s: does not exist; this host has no KVM (load kvm-intel or kvm-amd, or enable "
                      "virtualization in the firmware)", path);
        else if (e == EACCES || e == EPERM)
            log_error("%s: permission denied; add your user to the 'kvm' group or run as root", path);
        else
            log_error("%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    int version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (version < 0) {
        log_error("%s: not a KVM device (KVM_GET_API_VERSION: %s)", path, strerror(errno));
        goto fail;
    }
    if (version != KVM_API_VERSION) {
        log_error("%s: KVM API version %d, ember needs %d", path, version, KVM_API_VERSION);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (!kvm_check_extension(kvm->fd, required_caps[i].cap)) {
            log_error("%s: host KVM lacks required capability %s", path, required_caps[i].name);
            goto fail;
        }
    }
    kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        log_error("%s: KVM_GET_VCPU_MMAP_SIZE returned %d", path, kvm->vcpu_mmap_size);
        goto fail;
    }
    kvm->recommended_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_NR_VCPUS);
    kvm->max_vcpus = kvm_check_extension(kvm->fd, KVM_CAP_MAX_VCPUS);
    if (kvm->recommended_vcpus <= 0)
        kvm->recommended_vcpus = 4;
    if (kvm->max_vcpus <= 0)
        kvm->max_vcpus = kvm->recommended_vcpus;
    kvm->supported_cpuid = get_supported_cpuid(kvm->fd);
    if (!kvm->supported_cpuid) {
        log_error("%s: KVM_GET_SUPPORTED_CPUID failed: %s", path, strerror(errno));
        goto fail;
    }
    kvm->is_pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
    return 0;
fail:
    kvm_system_close(kvm);
    return -1;
}

void kvm_system_close(struct kvm_system *kvm)
{
    if (kvm->fd >= 0)
        close(kvm->fd);
    kvm->fd = -1;
    free(kvm->supported_cpuid);
    kvm->supported_cpuid = NULL;
}
