#include "irq/irq.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "util/log.h"

int irq_chip_create(struct irq_chip *chip, int vm_fd, enum irqchip_mode mode)
{
    chip->mode = mode;
    chip->vm_fd = vm_fd;
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        log_error("irqchip: KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
        return -1;
    }
    /* The in-kernel PIT needs the in-kernel PIC; port 0x61 (speaker) is a
     * dummy handled in KVM so the guest's PIT calibration works. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        log_error("irqchip: KVM_CREATE_PIT2 failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int irq_line_set(struct irq_chip *chip, uint32_t gsi, int level)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
    if (ioctl(chip->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        log_warn("irqchip: KVM_IRQ_LINE gsi %u failed: %s", gsi, strerror(errno));
        return -1;
    }
    return 0;
}

int irq_line_pulse(struct irq_chip *chip, uint32_t gsi)
{
    if (irq_line_set(chip, gsi, 1) < 0)
        return -1;
    return irq_line_set(chip, gsi, 0);
}
