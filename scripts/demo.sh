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
t0=$(date +%s)
step() { echo "== [$(($(date +%s) - t0))s] $*"; }
step "1/4 packages ember needs (apt-get; only what is missing)"
scripts/install-deps.sh
step "2/4 building ember"
make -s -j"$(nproc)" ember tools >/dev/null
step "3/4 the guest: Debian's cloud kernel (downloaded once, ~50 MB) and a busybox initramfs"
scripts/make-guest.sh build/guest >/dev/null

# What the guest gets besides its CPUs and memory: a virtio-blk disk (an
# ext4 image made here, with a file on it) and virtio-rng, over virtio-pci
# (Debian's stock kernel finds virtio devices on PCI).
mkdir -p build/demo/files build/demo/rootfs
echo "This file is on a virtio-blk disk: an ext4 image on the host ($(hostname)), made by scripts/demo.sh." \
    >build/demo/rootfs/hello.txt
mkfs.ext4 -q -F -d build/demo/rootfs build/demo/files/disk.img 16M >/dev/null
show="mkdir+-p+/mnt;mount+-t+ext4+/dev/vda+/mnt;echo+The+disk+is+mounted+at+/mnt:;ls+-l+/mnt;cat+/mnt/hello.txt;echo+Entropy+comes+from:;cat+/sys/class/misc/hw_random/rng_current"
# virtio-net on a tap: the guest is 10.0.2.2, the host of its VM 10.0.2.1.
net="echo+The+network:+eth0+is+10.0.2.2,+its+host+10.0.2.1:;ip+addr+add+10.0.2.2/24+dev+eth0;ip+link+set+eth0+up;ping+-c+2+-W+3+10.0.2.1"
# The host's side, once ember has opened the tap (a shell line: the test bed's
# L1 runs it too).
tap_setup='(for i in $(seq 300); do ip link show TAP >/dev/null 2>&1 && break; sleep 0.1; done; ip addr add 10.0.2.1/24 dev TAP && ip link set TAP up) >/dev/null 2>&1 &'
guest() { # TAP or "": the guest's command line
    local cmds=$show
    [ -n "$1" ] && cmds="$cmds;$net"
    if [ -t 0 ]; then
        echo "console=ttyS0 quiet panic=-1 ember.cmd=$cmds ember.action=shell"
    else
        echo "console=ttyS0 quiet panic=-1 ember.cmd=$cmds;uname+-a;free+-m ember.action=poweroff"
    fi
}
devices="--virtio-transport pci --disk DISK,serial=demo --rng"
say_devices() {
    cat <<MSG
== 4/4 ember starts Debian's stock kernel with 2 vCPUs and 512 MiB, and over virtio-pci:
   virtio-blk  an ext4 image with a file on it, mounted at /mnt in the guest
   virtio-rng  the guest's /dev/hwrng, from the host's getrandom()
MSG
    if [ -n "$1" ]; then echo "   virtio-net  eth0 on the tap $1: the guest 10.0.2.2 pings its host, 10.0.2.1"
    else echo "   (no virtio-net: making a tap needs root; run as root to get one)"; fi
}

if [ ! -e /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    tap=""
    [ "$(id -u)" = 0 ] && tap=ember-demo0
    say_devices "$tap"
    echo "== [$(($(date +%s) - t0))s] booting Debian Linux on this host's KVM"
    netopt=()
    if [ -n "$tap" ]; then
        eval "${tap_setup//TAP/$tap}"
        netopt=(--net "tap=$tap")
    fi
    exec build/ember run --kernel build/guest/vmlinuz --initrd build/guest/initramfs.cpio.gz \
        --cpus 2 --memory 512 ${devices/DISK/build/demo/files/disk.img} "${netopt[@]}" --cmdline "$(guest "$tap")"
fi

say_devices tap0
cat <<MSG
== This host's KVM is PVM: a software KVM without VT-x/AMD-V that emulates guest
   ring 0 instruction by instruction. An unmodified Linux kernel cannot run at
   speed on it (it gets ~25 s into boot, then stops at an instruction PVM cannot
   emulate; tests/e2e/linux_host.sh shows that).
== So ember runs the same Linux guest on the KVM test bed instead: QEMU (TCG)
   emulates AMD-V, Debian's kernel in that VM ("L1", the guest's host, with the
   tap) loads kvm-amd, and ember drives that real KVM. Boot takes 20-60 s under
   emulation; timings mean nothing there.
MSG
name=demo
[ -t 0 ] && name="shell!"
{
    echo "cmd:net-setup ${tap_setup//TAP/tap0}"
    printf '%s --kernel /vmlinuz --initrd /l2.cpio.gz --cpus 2 --memory 512 %s --net tap=tap0 --cmdline "%s"\n' "$name" \
        "${devices/DISK//files/disk.img}" "$(guest tap0)"
} >build/demo.plan
export TESTBED_FILES=build/demo/files
echo "== [$(($(date +%s) - t0))s] building the test bed (static ember, its outer VM) and starting QEMU"
if [ -t 0 ]; then
    tests/testbed/run.sh build/demo.plan -
else
    tests/testbed/run.sh build/demo.plan build/demo.log 600
    sed -n '/^=== BEGIN demo/,/^=== END/p' build/demo.log
    grep -q "=== END demo status=0" build/demo.log && grep -q "2 packets transmitted, 2 packets received" build/demo.log
fi
