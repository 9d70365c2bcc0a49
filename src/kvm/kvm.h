/* The /dev/kvm system handle: opening it, checking the API version and the
 * capabilities ember depends on, and facts about the host's KVM. */
#ifndef EMBER_KVM_KVM_H
#define EMBER_KVM_KVM_H

#include <stdbool.h>
#include <linux/kvm.h>

struct kvm_system {
    int fd;
    int vcpu_mmap_size;
    int max_vcpus;        /* KVM_CAP_MAX_VCPUS: the hard limit */
    int recommended_vcpus;/* KVM_CAP_NR_VCPUS */
    bool is_pvm;          /* host KVM is PVM (software, no VMX/SVM): ring 0 is emulated */
    struct kvm_cpuid2 *supported_cpuid;
};

/* Opens `path` (normally /dev/kvm) and verifies everything ember needs.
 * On failure logs one line naming the missing piece and returns -1. */
int kvm_system_open(struct kvm_system *kvm, const char *path);
void kvm_system_close(struct kvm_system *kvm);
int kvm_check_extension(int fd, long cap);

/* ioctl that retries on EINTR. */
int kvm_ioctl(int fd, unsigned long req, void *arg);

#endif
