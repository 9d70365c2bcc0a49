#!/usr/bin/env bash
# The main job: build ember and its default Linux guest (Debian's stock cloud
# kernel + a busybox initramfs, scripts/make-guest.sh) and boot it.
#  - On a terminal you get a shell in the guest; 'poweroff' ends it.
#  - Without a terminal (CI, a pipe) the guest runs a few commands and powers off.
# Where the host's KVM has hardware virtualization (VT-x/AMD-V), ember runs
# the guest directly. On a PVM host (software KVM that emulates guest ring 0,
# like this project's machines) an unmodified kernel cannot run at speed, so
# the guest runs under ember on the KVM test bed: QEMU emulates AMD-V, Debian's
# kernel in that VM provides a real KVM, and ember drives it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s -j"$(nproc)" ember tools >/dev/null
scripts/make-guest.sh build/guest >/dev/null

# What the guest gets besides its CPUs and memory: a virtio-blk disk (an
# ext4 image made here, with a file on it) and virtio-rng, over virtio-pci
# (Debian's stock kernel finds virtio devices on PCI).
mkdir -p build/demo/files build/demo/rootfs
echo "This file is on a virtio-blk disk: an ext4 image on the host ($(hostname)), made by scripts/demo.sh." \
    >build/demo/rootfs/hello.txt
mkfs.ext4 -q -F -d build/demo/rootfs build/demo/files/disk.img 16M
show="mkdir+-p+/mnt;mount+-t+ext4+/dev/vda+/mnt;echo+The+disk+is+mounted+at+/mnt:;ls+-l+/mnt;cat+/mnt/hello.txt;echo+Entropy+comes+from:;cat+/sys/class/misc/hw_random/rng_current"
if [ -t 0 ]; then
    action="ember.cmd=$show ember.action=shell"
else
    action="ember.cmd=$show;uname+-a;free+-m ember.action=poweroff"
fi
cmdline="console=ttyS0 quiet panic=-1 $action"
devices="--virtio-transport pci --disk DISK,serial=demo --rng"
cat <<MSG
== ember starts Debian's stock kernel with 2 vCPUs, 512 MiB, a virtio-blk disk (an ext4 image
   with a file on it, mounted at /mnt in the guest) and virtio-rng, over virtio-pci.
MSG

if [ ! -e /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    echo "== ember: booting Debian Linux (2 vCPUs, 512 MiB) on this host's KVM"
    exec build/ember run --kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz \
        --cpus 2 --memory 512 ${devices/DISK/build/demo/files/disk.img} --cmdline "$cmdline"
fi

cat <<MSG
== This host's KVM is PVM: a software KVM without VT-x/AMD-V that emulates guest
   ring 0 instruction by instruction. An unmodified Linux kernel cannot run at
   speed on it (it gets ~25 s into boot, then stops at an instruction PVM cannot
   emulate; tests/e2e/linux_host.sh shows that).
== So ember runs the same Linux guest on the KVM test bed instead: QEMU (TCG)
   emulates AMD-V, Debian's kernel in that VM loads kvm-amd, and ember drives
   that real KVM. Boot takes ~20 s under emulation; timings mean nothing there.
MSG
name=demo
[ -t 0 ] && name="shell!"
printf '%s --kernel /vmlinuz --initrd /l2.cpio.gz --cpus 2 --memory 512 %s --cmdline "%s"\n' "$name" \
    "${devices/DISK//files/disk.img}" "$cmdline" >build/demo.plan
export TESTBED_FILES=build/demo/files
if [ -t 0 ]; then
    tests/testbed/run.sh build/demo.plan -
else
    tests/testbed/run.sh build/demo.plan build/demo.log 600
    sed -n '/^=== BEGIN/,/^=== END/p' build/demo.log
    grep -q "=== END demo status=0" build/demo.log
fi
