#!/usr/bin/env bash
# Assembles the KVM test bed's outer initramfs: static ember and ember-jailer, busybox, Debian's
# kvm/kvm-amd/irqbypass modules, tun (for virtio-net's tap), loop and dm-mod
# (the failing disks), dmsetup, curl, the guest kernel (bzImage and its extracted
# vmlinux for PVH), the default guest's initramfs (scripts/make-guest.sh), the
# plan of ember runs, and the files the plan uses (TESTBED_FILES, in /files).
# Usage: build.sh PLAN OUT_DIR   (prints nothing on success)
set -eu
cd "$(dirname "$0")/../.."
plan=$1
out=$2
kernel=$(scripts/fetch-debian-kernel.sh)
root=$(dirname "$(dirname "$kernel")")
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
make -s STATIC=1 ember jailer >/dev/null
make -s tools >/dev/null
mkdir -p "$out"
rm -rf "$out/l1"
mkdir -p "$out/l1/bin" "$out/l1/lib/modules"
# The guest (L2): ember's default Linux guest.
scripts/make-guest.sh "$out/guest" >/dev/null
cp "$out/guest/initramfs.cpio.gz" "$out/l2.cpio.gz"
# The outer VM (L1).
cp /bin/busybox "$out/l1/bin/busybox"
cp tests/testbed/l1-init "$out/l1/init"
chmod +x "$out/l1/init"
cp build-static/ember "$out/l1/ember"
cp build-static/ember-jailer "$out/l1/ember-jailer"
for m in kernel/virt/lib/irqbypass.ko kernel/arch/x86/kvm/kvm.ko kernel/arch/x86/kvm/kvm-amd.ko kernel/drivers/net/tun.ko \
    kernel/drivers/block/loop.ko kernel/drivers/md/dm-mod.ko; do
    cp "$root/lib/modules/$kver/$m" "$out/l1/lib/modules/"
done
cp "$kernel" "$out/l1/vmlinuz"
[ -e "$out/vmlinux" ] || build/tools/extract-vmlinux "$kernel" "$out/vmlinux"
cp "$out/vmlinux" "$out/l1/vmlinux"
# The same without its notes (so without the PVH entry note): a bare vmlinux,
# as Firecracker's guests have, entered at its 64-bit entry with a zero page.
objcopy --remove-section .notes "$out/vmlinux" "$out/l1/vmlinux-nopvh"
cp "$out/l2.cpio.gz" "$out/l1/l2.cpio.gz"
cp "$plan" "$out/l1/plan"
# Files the plan uses (disk images), when the caller has some (TESTBED_FILES=dir).
if [ -n "${TESTBED_FILES:-}" ]; then
    mkdir -p "$out/l1/files"
    cp -r "$TESTBED_FILES"/. "$out/l1/files/"
fi
# bundle BINARY DIR: BINARY and the libraries it links into L1's /DIR, where
# it runs through the dynamic loader (L1 is busybox and has no /lib).
bundle() {
    mkdir -p "$out/l1/$2/lib"
    cp "$1" "$out/l1/$2/"
    ldd "$1" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
        cp -L "$lib" "$out/l1/$2/lib/"
    done
}
# curl, to drive ember's API as a client would; dmsetup, for a disk with a
# range that fails (tests/testbed/failing-disk.sh).
bundle /usr/bin/curl curl
bundle /usr/sbin/dmsetup dmsetup
# ember's microVM kernel too, when the caller built it (MICROVM_KERNEL=path).
if [ -n "${MICROVM_KERNEL:-}" ]; then
    cp "$MICROVM_KERNEL" "$out/l1/microvm.bzImage"
    cp "$(dirname "$MICROVM_KERNEL")/vmlinux" "$out/l1/microvm.vmlinux"
fi
# For benchmarks (TESTBED_WITH_QEMU=1): the static benchtool, and QEMU with its
# libraries and firmware, run through the dynamic loader from /qemu.
if [ "${TESTBED_WITH_QEMU:-0}" = 1 ]; then
    make -s STATIC=1 build-static/bench/benchtool >/dev/null
    cp build-static/bench/benchtool "$out/l1/benchtool"
    bundle /usr/bin/qemu-system-x86_64 qemu
    mkdir -p "$out/l1/qemu/share"
    cp -L /usr/share/qemu/bios-microvm.bin /usr/share/qemu/pvh.bin /usr/share/qemu/linuxboot_dma.bin "$out/l1/qemu/share/"
fi
(cd "$out/l1" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/l1.cpio.gz"
echo "$kernel" >"$out/kernel-path"
