#!/usr/bin/env bash
# Assembles the KVM test bed's outer initramfs: static ember, busybox, Debian's
# kvm/kvm-amd/irqbypass modules, the guest kernel (bzImage and its extracted
# vmlinux for PVH), the default guest's initramfs (scripts/make-guest.sh), and
# the plan of ember runs.
# Usage: build.sh PLAN OUT_DIR   (prints nothing on success)
set -eu
cd "$(dirname "$0")/../.."
plan=$1
out=$2
kernel=$(scripts/fetch-debian-kernel.sh)
root=$(dirname "$(dirname "$kernel")")
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
make -s STATIC=1 ember >/dev/null
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
for m in kernel/virt/lib/irqbypass.ko kernel/arch/x86/kvm/kvm.ko kernel/arch/x86/kvm/kvm-amd.ko; do
    cp "$root/lib/modules/$kver/$m" "$out/l1/lib/modules/"
done
cp "$kernel" "$out/l1/vmlinuz"
[ -e "$out/vmlinux" ] || build/tools/extract-vmlinux "$kernel" "$out/vmlinux"
cp "$out/vmlinux" "$out/l1/vmlinux"
cp "$out/l2.cpio.gz" "$out/l1/l2.cpio.gz"
cp "$plan" "$out/l1/plan"
(cd "$out/l1" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/l1.cpio.gz"
echo "$kernel" >"$out/kernel-path"
