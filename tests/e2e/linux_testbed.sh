#!/usr/bin/env bash
# Linux end to end on the KVM test bed: QEMU's TCG emulates AMD-V, Debian's
# cloud kernel in that VM loads kvm-amd, and ember runs unmodified Debian Linux
# on that real KVM (tests/testbed/). One QEMU run executes the whole plan.
# Usage: linux_testbed.sh
#   TESTBED_ONLY=REGEX: only the plan's groups (an entry with its
#   cmd:NAME-setup and cmd:NAME-host steps) whose NAME matches REGEX, e.g.
#   'net-.*|vda-.*'; the others' assertions are skipped. For working on a few.
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
LOG=build/testbed.log
C="console=ttyS0 quiet panic=-1"
# virtio: an ext4 image per irqchip mode, with a file the guest reads; the
# guest writes one back, and L1 (ember's host) looks for it in the image.
mkdir -p "$TMP/files" "$TMP/rootfs"
echo "hello from the host's ext4 image" >"$TMP/rootfs/hello.txt"
for img in kernel split user pci-kernel pci-split pci-user deb-pci api fcfile jail; do
    mkfs.ext4 -q -F -d "$TMP/rootfs" "$TMP/files/disk-$img.img" 16M || { fail "mkfs.ext4 for the disk test" "mkfs failed"; summary; exit 1; }
done
export TESTBED_FILES="$TMP/files"
# ember's test-guest kit, for the IPI round-trip flood between two vCPUs.
make -s guests >/dev/null || { fail "build the test-guest kit" "make guests failed"; summary; exit 1; }
cp build/guests/kit.elf "$TMP/files/"
# vsock: tests/guests/vsock/vsock-test, the guest's end (AF_VSOCK, from an
# ext4 image the guest mounts) and its host's (Firecracker's Unix sockets, in L1).
mkdir -p "$TMP/vsock-root"
cp build/guests/vsock-test "$TMP/vsock-root/" && cp build/guests/vsock-test "$TMP/files/"
mkfs.ext4 -q -F -d "$TMP/vsock-root" "$TMP/files/disk-vsock.img" 8M >/dev/null ||
    { fail "mkfs.ext4 for the vsock test" "mkfs failed"; summary; exit 1; }
# The Firecracker API: the getting-started sequence with curl in L1, and the
# same kind of VM from a config file.
cp tests/testbed/api-flow.sh tests/testbed/api-jail.sh tests/testbed/failing-disk.sh tests/testbed/balloon.sh "$TMP/files/"
cat >"$TMP/files/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "/microvm.bzImage", "initrd_path": "/l2.cpio.gz",
   "boot_args": "$C ember.cmd=mkdir+/mnt;mount+-t+ext4+/dev/vda+/mnt;cat+/mnt/hello.txt;umount+/mnt ember.action=poweroff"},
 "drives": [{"drive_id": "rootfs", "path_on_host": "/files/disk-fcfile.img", "is_root_device": true, "is_read_only": false}],
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}}
JSON
# Firecracker's machine-config "smt" (firectl sends it): vCPUs 0 and 1 are one
# core's two threads, so each lists both as its thread siblings.
cat >"$TMP/files/vm-smt.json" <<JSON
{"boot-source": {"kernel_image_path": "/microvm.bzImage", "initrd_path": "/l2.cpio.gz",
   "boot_args": "$C ember.cmd=cat+/sys/devices/system/cpu/cpu0/topology/thread_siblings_list+/sys/devices/system/cpu/cpu1/topology/thread_siblings_list ember.action=poweroff"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": true}}
JSON
# CPU templates (Firecracker's): the guest's /proc/cpuinfo with none, with
# T2A (the test bed's CPU is an AMD EPYC: family 6 model 63 stepping 2, SSE4A,
# MisAlignSse and 1 GiB pages hidden), with T2 (Intel's:
# refused), and with a custom one (stepping 5, POPCNT hidden).
cat >"$TMP/files/tmpl.json" <<JSON
{"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [
   {"register": "eax", "bitmap": "0b0101"}, {"register": "ecx", "bitmap": "0b0xxx_xxxx_xxxx_xxxx_xxxx_xxxx"}]}]}
JSON
# vsock, both ways through ember's Unix sockets (L1 is the guest's host): L1
# serves host ports 5000 (one 64 MiB stream), 5001 (1000 connections) and
# 5002 (a guest that vanishes mid-stream), and connects to guest port 1234
# twice (64 MiB checked, then a client that vanishes mid-stream); the guest
# listens on 1234, sends, opens and closes its 1000, aborts one.
VB=67108864
# vsock_host DIR / vsock_guest DIR: the L1 side and the guest's command line
# of one such run, its sockets in DIR.
vsock_host() {
    echo "mkdir -p $1; for p in 5000:1 5001:1000 5002:1; do /files/vsock-test hserve $1/v.sock_\${p%:*} \${p#*:} >$1/serve\${p%:*} 2>&1 & done;" \
        "(/files/vsock-test hclient $1/v.sock 1234 $VB >$1/client 2>&1; /files/vsock-test habort $1/v.sock 1234 1048576 >>$1/client 2>&1) &"
}
VG=$(echo "ember.cmd=mkdir -p /mnt; mount -t ext4 -o ro /dev/vda /mnt; (/mnt/vsock-test listen 1234 2 >/tmp/listen 2>&1 &); sleep 1;" \
    "/mnt/vsock-test send 2 5000 $VB; /mnt/vsock-test many 2 5001 1000; /mnt/vsock-test abort 2 5002 4194304;" \
    "for i in \$(seq 120); do grep -q served /tmp/listen && break; sleep 1; done; cat /tmp/listen" | tr ' ' + | sed 's/\$/\\$/g')
CI="ember.cmd=grep+-m5+-e+family+-e+model+-e+stepping+-e+flags+/proc/cpuinfo ember.action=poweroff"
D="ember.cmd=mkdir+/mnt;mount+-t+ext4+/dev/vda+/mnt;cat+/mnt/hello.txt;echo+written-by-the-guest>/mnt/guest.txt;sync;umount+/mnt;cat+/sys/block/vda/serial;echo;cat+/sys/class/misc/hw_random/rng_current;head+-c+16+/dev/hwrng|od+-An+-tx1;grep+virtio+/proc/interrupts"
# virtio-net: L1 (ember's host) holds the tap. It serves 4 MiB over HTTP and
# listens for 4 MiB more; the guest pings it, fetches, and sends.
N="ember.cmd=ip+addr+add+10.0.2.2/24+dev+eth0;ip+link+set+eth0+up;ping+-c+3+10.0.2.1;wget+-q+-O+/tmp/in+http://10.0.2.1:8000/blob;md5sum+/tmp/in;dd+if=/dev/urandom+of=/tmp/out+bs=64k+count=64+2>/dev/null;nc+10.0.2.1+5000+</tmp/out;sleep+2;echo+sent"
T='(for i in $(seq 300); do ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done; ip addr add 10.0.2.1/24 dev tap0; ip link set tap0 up) & mkdir -p /tmp/www; dd if=/dev/urandom of=/tmp/www/blob bs=64k count=64 2>/dev/null; echo L1: serving md5 $(md5sum </tmp/www/blob); httpd -p 8000 -h /tmp/www; rm -f /tmp/recv; (tail -f /dev/null | nc -l -p 5000 >/tmp/recv &)'
R='sleep 1; echo L1: received $(wc -c </tmp/recv) bytes; killall httpd nc tail'
# Disks whose host side fails (tests/testbed/failing-disk.sh; issue 12: host
# I/O errors are never hidden from the guest): vda is dm's, 8 MiB that work,
# the error target at 8 MiB (sector 16384), more that work; vdb an image file
# on a full 2 MiB tmpfs (writes fail at once); vdc a loop device over a file
# there (writes land in L1's cache, and its write-back fails). Each flush is a
# dd of nothing with conv=fsync: Linux's fsync of a block device sends a FLUSH
# even with nothing dirty, so "a later flush" asks the disk only whether what
# it took before is safe. The host's own fdatasync would say yes by then (it
# reports a failed write-back once): ember must keep saying no. The guest's
# kernel messages go to dmesg only (loglevel=1), printed at the end, so that
# they cannot land inside a line the test looks for. L1 evals each plan line,
# so a $ meant for the guest's shell goes there as \$.
flush="dd if=/dev/null conv=notrunc,fsync of"
FD=$(echo "ember.cmd=echo vda=\$(cat /sys/block/vda/serial) vdb=\$(cat /sys/block/vdb/serial) vdc=\$(cat /sys/block/vdc/serial);" \
    "echo marker-before-the-failure | dd of=/dev/vda conv=notrunc,fsync; echo dm: good range written, flushed: status \$?;" \
    "dd if=/dev/vda of=/dev/null bs=4k skip=2048 count=1; echo dm: error range read: status \$?;" \
    "dd if=/dev/zero of=/dev/vda bs=64k seek=128 count=4 conv=notrunc,fsync; echo dm: error range written, flushed: status \$?;" \
    "$flush=/dev/vda; echo dm: a later flush: status \$?;" \
    "dd if=/dev/zero of=/dev/vdb bs=64k count=64 conv=notrunc,fsync; echo file: 4 MiB written, flushed: status \$?;" \
    "dd if=/dev/zero of=/dev/vdc bs=64k count=64 conv=notrunc,fsync; echo loop: 4 MiB written, flushed: status \$?;" \
    "$flush=/dev/vdc; echo loop: a later flush: status \$?;" \
    "$flush=/dev/vdb; echo file: a later flush: status \$?;" \
    "dmesg | grep I/O.error,.dev.vd | head -12" | tr ' ' + | sed 's/\$/\\$/g')
fd_disks() { echo "--disk /dev/mapper/$1,serial=fail-dm --disk /full/$1/file.img,serial=full-file --disk $2,serial=full-loop"; }
cat >"$TMP/plan" <<PLAN
bz1 --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C ember.action=poweroff"
bz2 --kernel /vmlinuz --initrd /l2.cpio.gz --memory 512 --cpus 2 --cmdline "$C ember.cmd=uname+-sr ember.action=poweroff"
reboot --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=reboot"
guestdecomp --decompress guest --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=poweroff"
pvh --kernel /vmlinux --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=poweroff"
vmlinux64 --kernel /vmlinux-nopvh --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=poweroff"
panic --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C ember.action=panic"
mvm --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=panic"
mvmpvh --kernel /microvm.vmlinux --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=poweroff"
split --irqchip split --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.cmd=cat+/proc/interrupts ember.action=poweroff"
mvmsplit --irqchip split --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.action=panic"
user --irqchip user --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.cmd=cat+/proc/interrupts ember.action=poweroff"
mvmuser --irqchip user --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C ember.cmd=cat+/proc/interrupts;sleep+1 ember.action=panic"
vda-kernel --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-kernel.img,serial=ember-kernel --rng --cmdline "$C $D ember.action=poweroff"
cmd:vda-kernel-host grep -c written-by-the-guest /files/disk-kernel.img
vda-split --irqchip split --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-split.img,serial=ember-split --rng --cmdline "$C $D ember.action=poweroff"
cmd:vda-split-host grep -c written-by-the-guest /files/disk-split.img
vda-user --irqchip user --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-user.img,serial=ember-user --rng --cmdline "$C $D ember.action=poweroff"
cmd:vda-user-host grep -c written-by-the-guest /files/disk-user.img
pci-kernel --virtio-transport pci --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-pci-kernel.img,serial=ember-pci-kernel --rng --cmdline "$C $D ember.action=poweroff"
cmd:pci-kernel-host grep -c written-by-the-guest /files/disk-pci-kernel.img
pci-split --irqchip split --virtio-transport pci --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-pci-split.img,serial=ember-pci-split --rng --cmdline "$C $D ember.action=poweroff"
cmd:pci-split-host grep -c written-by-the-guest /files/disk-pci-split.img
pci-user --irqchip user --virtio-transport pci --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-pci-user.img,serial=ember-pci-user --rng --cmdline "$C $D ember.action=poweroff"
cmd:pci-user-host grep -c written-by-the-guest /files/disk-pci-user.img
deb-pci --virtio-transport pci --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-deb-pci.img,serial=ember-deb-pci --rng --cmdline "$C $D ember.action=poweroff"
cmd:deb-pci-host grep -c written-by-the-guest /files/disk-deb-pci.img
cmd:net-deb-setup $T
net-deb --virtio-transport pci --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --net tap=tap0 --cmdline "$C $N ember.action=poweroff"
cmd:net-deb-host $R
cmd:net-pci-setup $T
net-pci --virtio-transport pci --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --net tap=tap0 --cmdline "$C $N ember.action=poweroff"
cmd:net-pci-host $R
cmd:net-kernel-setup $T
net-kernel --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --net tap=tap0 --cmdline "$C $N ember.action=poweroff"
cmd:net-kernel-host $R
cmd:net-split-setup $T
net-split --irqchip split --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --net tap=tap0 --cmdline "$C $N ember.action=poweroff"
cmd:net-split-host $R
cmd:net-user-setup $T
net-user --irqchip user --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --net tap=tap0 --cmdline "$C $N ember.action=poweroff"
cmd:net-user-host $R
ipi-user --irqchip user --kernel /files/kit.elf --memory 64 --cpus 2 --cmdline "test=ipi-flood count=15000"
cmd:api-linux sh /files/api-flow.sh
cmd:api-jail sh /files/api-jail.sh
cmd:balloon-deb sh /files/balloon.sh /vmlinuz pci
cmd:balloon-mvm sh /files/balloon.sh /microvm.bzImage mmio
fcfile --no-api --config-file /files/vm.json
smt --no-api --config-file /files/vm-smt.json
cmd:vsock-deb-setup $(vsock_host /tmp/vs-deb)
vsock-deb --virtio-transport pci --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-vsock.img,ro --vsock cid=3,uds=/tmp/vs-deb/v.sock --cmdline "$C $VG ember.action=poweroff"
cmd:vsock-deb-host sleep 2; cat /tmp/vs-deb/serve5000 /tmp/vs-deb/serve5001 /tmp/vs-deb/serve5002 /tmp/vs-deb/client
cmd:vsock-mvm-setup $(vsock_host /tmp/vs-mvm)
vsock-mvm --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --disk /files/disk-vsock.img,ro --vsock cid=3,uds=/tmp/vs-mvm/v.sock --cmdline "$C $VG ember.action=poweroff"
cmd:vsock-mvm-host sleep 2; cat /tmp/vs-mvm/serve5000 /tmp/vs-mvm/serve5001 /tmp/vs-mvm/serve5002 /tmp/vs-mvm/client
tmpl-none --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C $CI"
tmpl-t2a --cpu-template T2A --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C $CI"
tmpl-t2 --cpu-template T2 --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C $CI"
tmpl-custom --cpu-template /files/tmpl.json --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 1 --cmdline "$C $CI"
noacpi --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C acpi=off ember.action=poweroff"
noacpireboot --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 --cmdline "$C acpi=off ember.action=reboot"
cmd:fail-mmio-setup sh /files/failing-disk.sh setup fail-mmio /dev/loop0 /dev/loop1
fail-mmio --kernel /microvm.bzImage --initrd /l2.cpio.gz --memory 256 --cpus 2 $(fd_disks fail-mmio /dev/loop1) --cmdline "$C loglevel=1 $FD ember.action=poweroff" 2>/tmp/fail-mmio.err
cmd:fail-mmio-host sh /files/failing-disk.sh done fail-mmio /dev/loop0 /dev/loop1
cmd:fail-pci-setup sh /files/failing-disk.sh setup fail-pci /dev/loop2 /dev/loop3
fail-pci --virtio-transport pci --kernel /vmlinuz --initrd /l2.cpio.gz --memory 256 --cpus 2 $(fd_disks fail-pci /dev/loop3) --cmdline "$C loglevel=1 $FD ember.action=poweroff" 2>/tmp/fail-pci.err
cmd:fail-pci-host sh /files/failing-disk.sh done fail-pci /dev/loop2 /dev/loop3
PLAN
group() { local n=${1#cmd:}; n=${n%-setup}; echo "${n%-host}"; }
if [ -n "${TESTBED_ONLY:-}" ]; then
    while read -r name rest; do
        group "$name" | grep -qE "^($TESTBED_ONLY)\$" && echo "$name $rest"
    done <"$TMP/plan" >"$TMP/plan-only"
    mv "$TMP/plan-only" "$TMP/plan"
fi
MICROVM_KERNEL=$(scripts/build-kernel.sh) || { fail "build ember's microVM kernel" "see above"; summary; exit 1; }
export MICROVM_KERNEL
# The emulated test bed itself occasionally stalls: about 3 boots in 100 here,
# with the whole outer VM silent, not just ember (its per-run timeout inside
# L1 does not fire either). run.sh notices a silent console within 75 s and
# stops QEMU; the entries that did not finish then run again in a fresh QEMU,
# and the output says so loudly. Assertions are never retried: only entries
# that never finished are, and a fourth stall fails.
#
# --irqchip user runs on single-threaded TCG. On multi-threaded TCG, QEMU's
# emulated SVM breaks event injection into L2 under user mode's exit load
# (measured with the kit's IPI flood, 20000 round trips: 1 of 4 runs passed;
# two triple-faulted while delivering an injected interrupt, with its vector
# in service in ember's LAPIC and the kit's IDT and stack intact, and one lost
# an interrupt-window exit; earlier, L1's own kernel oopsed in ember's vCPU
# thread). The same runs on single-threaded TCG passed 8 of 8. QEMU 10 (from
# bookworm-backports, see scripts/install-deps.sh) still triple-faults that
# flood on multi-threaded TCG (1 run of 1), while the rest passed there.
# Single-threaded TCG is not used for everything: on QEMU 7.2, with KVM's PV
# EOI offered, it crawled (the microVM kernel in kernel mode did not reach
# /init within 60 to 250 s in 4 runs of 5; with PV EOI hidden, 3 to 4 s), and
# kernel-mode guests there hung in about 1 boot of 10 even with it hidden.
user_groups=" $(grep -- "--irqchip user" "$TMP/plan" | while read -r name rest; do group "$name"; done | tr '\n' ' ')"
: >"$TMP/plan-mttcg"
: >"$TMP/plan-stcg"
while read -r name rest; do
    case "$user_groups" in
    *" $(group "$name") "*) echo "$name $rest" >>"$TMP/plan-stcg" ;;
    *) echo "$name $rest" >>"$TMP/plan-mttcg" ;;
    esac
done <"$TMP/plan"
# run_plan PLAN ACCEL TAG: runs PLAN, rerunning what a stall left unfinished.
run_plan() {
    local plan=$1 accel=$2 tag=$3 attempt
    [ -s "$plan" ] || return # TESTBED_ONLY left nothing for this kind of TCG
    for attempt in 1 2 3 4; do
        TESTBED_ACCEL=$accel tests/testbed/run.sh "$plan" "$LOG.$tag$attempt" "${TESTBED_LIMIT:-420}"
        cat "$LOG.$tag$attempt" >>"$LOG"
        # Entries whose END line never came, with the rest of their group: a
        # guest run and its cmd:NAME-setup / cmd:NAME-host steps go together, as
        # a fresh QEMU has none of the set-up the first one did.
        : >"$TMP/left"
        unfinished=" "
        while read -r name rest; do
            grep -q "^=== END $name " "$LOG" || unfinished="$unfinished$(group "$name") "
        done <"$plan"
        while read -r name rest; do
            case "$unfinished" in *" $(group "$name") "*) echo "$name $rest" >>"$TMP/left" ;; esac
        done <"$plan"
        [ -s "$TMP/left" ] || return
        echo "!! test bed ($accel) stalled (attempt $attempt) before finishing: $(cut -d' ' -f1 "$TMP/left" | tr '\n' ' ')"
        grep -E "^L1: (heartbeat|  )" "$LOG.$tag$attempt" | tail -6
        if [ "$attempt" = 4 ]; then
            fail "test bed ($accel) ran every entry" "stalled four times (see $LOG)"
        else
            echo "!! rerunning only those entries in a fresh QEMU"
            cp "$TMP/left" "$TMP/plan-$tag-rerun"
            plan="$TMP/plan-$tag-rerun"
        fi
    done
}
start=$(date +%s)
: >"$LOG"
run_plan "$TMP/plan-mttcg" tcg,thread=multi m
echo "test bed: the --irqchip user entries on single-threaded TCG:$user_groups"
run_plan "$TMP/plan-stcg" tcg,thread=single s
echo "test bed: QEMU run(s) took $(($(date +%s) - start)) s (log: $LOG)"
if ! grep -q "L1: /dev/kvm ready" "$LOG"; then
    fail "L1: kvm-amd loaded on QEMU's emulated AMD-V" "$(tail -5 "$LOG" | tr '\n' '|')"
    summary
    exit 1
fi
pass "L1: kvm-amd loaded on QEMU's emulated AMD-V"

# section NAME: the lines of that plan entry's last run (a rerun replaces it).
# ember passes the guest's console on as it comes, so L1's heartbeat can land
# inside a line the guest was printing (seen once in 40, in a long one): such
# a line is joined up again.
section() {
    awk -v b="=== BEGIN $1" -v e="=== END $1 " '{ line = held $0; held = "" }
        line ~ /.L1: alive [0-9.]+s$/ { sub(/L1: alive [0-9.]+s$/, "", line); held = line; next }
        line == b { buf = ""; on = 1 }
        on { buf = buf line "\n" } on && index(line, e) == 1 { on = 0; last = buf } END { printf "%s", last != "" ? last : buf }' \
        "$LOG" >"$TMP/sec"
}
# has NAME DESCRIPTION REGEX...
has() {
    local name=$1 desc=$2
    shift 2
    if ! awk -v n="$name" '$1 == n { f = 1 } END { exit !f }' "$TMP/plan"; then
        skip "$name: $desc" "not in TESTBED_ONLY"
        return
    fi
    section "$name"
    for re in "$@"; do
        if ! grep -qE -- "$re" "$TMP/sec"; then
            fail "$name: $desc" "no /$re/"
            sed 's/^/  | /' "$TMP/sec" | tail -12
            return
        fi
    done
    pass "$name: $desc"
}
has bz1 "bzImage (host-decompressed), 1 vCPU: /init, poweroff ends ember with 0" \
    "L2: init reached" "L2: cpus online: 0$" "ember: guest powered off" "=== END bz1 status=0"
has bz2 "bzImage, 2 vCPUs, 512 MiB: both CPUs online, memory, a command's output" \
    "L2: init reached" "L2: cpus online: 0-1" "L2: MemTotal: +4[0-9]{5} kB" \
    "L2: cmdline: .*ember.cmd=uname\\+-sr" "^Linux 6\\." "L2: command status 0" "=== END bz2 status=0"
has reboot "reboot -f ends ember as a reboot with 0" "L2: rebooting" "ember: guest rebooted" "=== END reboot status=0"
has guestdecomp "--decompress guest: the kernel's own decompressor, then /init" \
    "L2: init reached" "L2: cpus online: 0-1" "=== END guestdecomp status=0"
has pvh "ELF vmlinux through PVH, 2 vCPUs" "L2: init reached" "L2: cpus online: 0-1" "=== END pvh status=0"
has smt "machine-config smt: true: the guest sees vCPUs 0 and 1 as one core's two threads" \
    "L2: cpus online: 0-1" "^0-1.?$" "=== END smt status=0"
has vmlinux64 "ELF vmlinux without its PVH note (Firecracker's kind): entered at its 64-bit entry with a zero page, 2 vCPUs" \
    "ELF without a PVH note, entered at its 64-bit entry 0x1000000" "L2: init reached" "L2: cpus online: 0-1" "=== END vmlinux64 status=0"
has panic "panic=-1: a kernel panic ends ember with 3 (pvpanic)" \
    "Kernel panic - not syncing" "ember: error: guest kernel panicked" "=== END panic status=3"
has mvm "ember's microVM kernel (6.12, gzip, built in): /init, 2 vCPUs, built-in pvpanic ends a panic with 3" \
    "L2: init reached" "L2: cpus online: 0-1" "ember: error: guest kernel panicked" "=== END mvm status=3"
has mvmpvh "ember's microVM kernel as ELF through PVH: /init, poweroff" \
    "L2: init reached" "L2: cpus online: 0-1" "=== END mvmpvh status=0"
has split "--irqchip split (ember's IOAPIC/PIC/PIT, KVM's LAPICs): Debian Linux reaches /init with 2 vCPUs, IO-APIC interrupts" \
    "L2: init reached" "L2: cpus online: 0-1" "IO-APIC" "=== END split status=0"
has mvmsplit "--irqchip split, microVM kernel: /init with 2 vCPUs, panic ends ember with 3" \
    "L2: init reached" "L2: cpus online: 0-1" "ember: error: guest kernel panicked" "=== END mvmsplit status=3"
has user "--irqchip user (every interrupt controller in ember, LAPICs too): Debian Linux reaches /init with 2 vCPUs; timer, IPIs and IO-APIC interrupts counted" \
    "L2: init reached" "L2: cpus online: 0-1" "0: +[1-9][0-9]* +[0-9]+ +IO-APIC +0-edge +timer" "LOC: +[1-9][0-9]* +[1-9]" \
    "CAL: +[0-9]+ +[0-9]+ +Function call" "=== END user status=0"
has mvmuser "--irqchip user, microVM kernel: /init with 2 vCPUs, local timers on both, panic ends ember with 3" \
    "L2: init reached" "L2: cpus online: 0-1" "LOC: +[1-9][0-9]* +[1-9]" "ember: error: guest kernel panicked" "=== END mvmuser status=3"
for mode in kernel split user; do
    has vda-$mode "virtio-mmio, --irqchip $mode, microVM kernel: ext4 on virtio-blk mounted, host's file read, a file written; serial; virtio-rng feeds /dev/hwrng" \
        "L2: init reached" "hello from the host's ext4 image" "^ember-$mode\$" "^virtio_rng" \
        "^ [0-9a-f]{2}( [0-9a-f]{2}){15}" "virtio[0-9]" "L2: command status 0" "=== END vda-$mode status=0"
    has cmd:vda-$mode-host "virtio-blk, --irqchip $mode: after the VM, ember's host finds the guest's file in the image" \
        "^[1-9]" "=== END cmd:vda-$mode-host status=0"
done
for mode in kernel split user; do
    has pci-$mode "virtio-pci (MSI-X), --irqchip $mode, microVM kernel: ext4 on virtio-blk, serial, virtio-rng" \
        "L2: init reached" "hello from the host's ext4 image" "^ember-pci-$mode\$" "^virtio_rng" \
        "PCI-MSIX-0000:00:0[12].0 +1-edge +virtio[01]-req.0" "L2: command status 0" "=== END pci-$mode status=0"
    has cmd:pci-$mode-host "virtio-pci blk, --irqchip $mode: the guest's file is in the image afterwards" \
        "^[1-9]" "=== END cmd:pci-$mode-host status=0"
done
has deb-pci "Debian's stock kernel (virtio as modules) over virtio-pci: ext4 on virtio-blk, serial, virtio-rng, MSI" \
    "L2: init reached" "hello from the host's ext4 image" "^ember-deb-pci\$" "^virtio_rng" \
    "PCI-MSI +[0-9]+-edge +virtio[01]-req.0" "L2: command status 0" "=== END deb-pci status=0"
has cmd:deb-pci-host "Debian's kernel over virtio-pci: the guest's file is in the image afterwards" \
    "^[1-9]" "=== END cmd:deb-pci-host status=0"
for mode in kernel split user pci deb; do
    section cmd:net-$mode-setup
    sum=$(sed -n 's/^L1: serving md5 \([0-9a-f]*\).*/\1/p' "$TMP/sec")
    has net-$mode "virtio-net on a tap, $mode: ping, 4 MiB fetched over HTTP intact (md5 ${sum:-?})" \
        "L2: init reached" "3 packets transmitted, 3 packets received" "^${sum:-nomd5}  /tmp/in" "^sent" \
        "=== END net-$mode status=0"
    has cmd:net-$mode-host "virtio-net, $mode: the host received the guest's 4 MiB" "L1: received 4194304 bytes"
done
# 15000 round trips: on 2026-12-03 the flood of 20000 ran into L1's 90 s limit
# on a quiet machine (19 912 done; slow, not hung: both vCPUs running), where it
# had passed earlier that day; the emulated test bed's speed varies by the day.
has ipi-user "--irqchip user, 2 vCPUs: 15000 IPI round trips between ember's LAPICs (kit ipi-flood)" \
    "PASS ipi-flood" "=== END ipi-user status=0"
has cmd:api-linux "Firecracker API with curl: configure, InstanceStart, Debian Linux mounts the root drive, pause, resume, FlushMetrics, SendCtrlAltDel reboots it and ember ends" \
    "API: PUT /boot-source -> +204" "API: PUT /drives/rootfs -> +204" "API: PUT /machine-config -> +204" \
    "API: PUT /actions -> +204" "API out: L2: init reached" "API out: hello from the host's ext4 image" \
    "API: PATCH /vm -> +204" '"state":"Paused"' '"id":1,"state":"paused"' '"state":"Running"' \
    "API out: L2: waiting for ctrl-alt-del" "API out: .*reboot: Restarting system" "API out: ember: guest rebooted" "API: ember exit 0" \
    'API: metrics "block_rootfs":\{"read_count":[1-9]'
has cmd:api-jail "ember-jailer: ember as uid 1000 with no capabilities in a chroot, every thread filtered; the API from outside the jail boots Debian Linux, which mounts its root drive" \
    "JAIL: ember pid [0-9]+: Uid: 1000 1000 1000 1000 Gid: 1000 1000 1000 1000 CapEff: 0000000000000000 NoNewPrivs: 1" \
    "JAIL: PUT /boot-source -> +204" "JAIL: PUT /drives/rootfs -> +204" "JAIL: PUT /actions -> +204" \
    "JAIL out: hello from the host's ext4 image" "JAIL: threads ember=2 .*ember-api=2 " "JAIL: threads .* ember-vcpu1=2 " "JAIL: threads .* virtio-blk0=2 " \
    "JAIL out: ember: guest rebooted" "JAIL: ember exit 0"
for k in deb mvm; do
    kd="Debian's kernel over virtio-pci"; [ $k = mvm ] && kd="the microVM kernel over virtio-mmio"
    has vsock-$k "vsock, $kd: 64 MiB guest->host and host->guest checked, 1000 connections, both ends vanishing mid-stream" \
        "guest send: $VB bytes sent and checked" "guest many: 1000 of 1000 connections opened, checked and closed" \
        "guest abort: sent 4194304 bytes and closed at once" "guest listen: received $VB bytes" \
        "guest listen: served 2 connections" "=== END vsock-$k status=0"
    has cmd:vsock-$k-host "vsock, $kd, on the host side: what ember's Unix sockets carried" \
        "host serve: received $VB bytes" "host serve: served 1000 connections, 0 failed" \
        "host client: $VB bytes sent and checked" "host abort: sent 1048576 bytes and vanished"
done
# lacks NAME DESCRIPTION REGEX: the entry ran (status 0) and its flags line has no match.
lacks() {
    if ! awk -v n="$1" '$1 == n { f = 1 } END { exit !f }' "$TMP/plan"; then skip "$1: $2" "not in TESTBED_ONLY"; return; fi
    section "$1"
    if ! grep -q "=== END $1 status=0" "$TMP/sec" || ! grep -q "^flags" "$TMP/sec"; then
        fail "$1: $2" "no flags line or a failed run"; sed 's/^/  | /' "$TMP/sec" | tail -8
    elif grep "^flags" "$TMP/sec" | grep -qwE -- "$3"; then
        fail "$1: $2" "flags has /$3/: $(grep "^flags" "$TMP/sec" | grep -owE -- "$3" | tr '\n' ' ')"
    else pass "$1: $2"; fi
}
has tmpl-none "no CPU template: the guest sees the test bed's CPU (POPCNT, SSE4A, MMXExt, 1 GiB pages, SHA)" \
    "^flags.* popcnt" "^flags.* sse4a" "^flags.* mmxext" "^flags.* pdpe1gb" "^flags.* sha_ni" "=== END tmpl-none status=0"
has tmpl-t2a "cpu_template T2A: family 6, model 63, stepping 2 in /proc/cpuinfo, and ERMS set" \
    "^cpu family\s*: 6$" "^model\s*: 63$" "^stepping\s*: 2$" "^flags.* erms" "=== END tmpl-t2a status=0"
# (3dnowprefetch stays listed: T2A clears its CPUID bit, but Linux's init_amd
# sets the flag itself on any 64-bit AMD CPU, "LM implies PREFETCHW".)
lacks tmpl-t2a "cpu_template T2A: SSE4A, MMXExt, 1 GiB pages, RDSEED, ADX, SHA, CLFLUSHOPT, AVX-512, MPX hidden" \
    "sse4a|mmxext|misalignsse|pdpe1gb|rdseed|adx|sha_ni|clflushopt|avx512f|mpx"
has tmpl-t2 "cpu_template T2 on the test bed's AMD CPU: refused, naming the vendor mismatch" \
    "CPU vendor mismatched between actual CPU and CPU template" "=== END tmpl-t2 status=1"
has tmpl-custom "a custom CPU template file: stepping 5" "^stepping\s*: 5$" "=== END tmpl-custom status=0"
lacks tmpl-custom "a custom CPU template file: POPCNT hidden" "popcnt"
for k in deb mvm; do
    kd="Debian's kernel over virtio-pci"; [ $k = mvm ] && kd="the microVM kernel over virtio-mmio"
    has cmd:balloon-$k "virtio-balloon, $kd, through the API: inflating 150 MiB after the guest freed that much drops ember's RSS; statistics every second; deflate; free page reporting gives freed memory back by itself; deflate_on_oom gives pages back to a guest that needs them" \
        "BALLOON: PUT /balloon -> +204" "BALLOON: PATCH /balloon 150 MiB -> +204" "BALLOON: the guest gave 150 MiB" \
        "BALLOON: RSS dropped by at least 100 MiB" "BALLOON: statistics have free_memory" "BALLOON: deflated to 0" \
        "BALLOON: free page reporting gave back at least 64 MiB" "BALLOON: the guest gave 180 MiB" \
        "BALLOON: deflate_on_oom: the guest's 150 MiB allocation succeeded" "BALLOON: deflate_on_oom: the balloon gave pages back" \
        "BALLOON: ember exit 0"
done
has fcfile "--config-file --no-api: the microVM kernel boots with the file's root drive (virtio-mmio) and powers off" \
    "L2: init reached" "L2: cpus online: 0-1" "hello from the host's ext4 image" "=== END fcfile status=0"
has noacpi "acpi=off (MP table, 2 vCPUs): poweroff halts every CPU, ember ends it as a power-off with 0" \
    "L2: init reached" "L2: cpus online: 0-1" "ember: guest halted every vCPU with interrupts off" "=== END noacpi status=0"
has noacpireboot "acpi=off: reboot (i8042 or triple fault) ends ember as a reboot with 0" \
    "L2: rebooting" "ember: guest rebooted" "=== END noacpireboot status=0"
# The failing disks: the guest must see each host failure as an I/O error,
# a flush after a failed one must fail too, and ember must carry on.
for t in mmio pci; do
    k="microVM kernel"
    [ $t = pci ] && k="Debian's kernel"
    has cmd:fail-$t-setup "L1: a dm disk with a linear and an error range over a loop device; a full 2 MiB tmpfs" \
        "L1: /dev/mapper/fail-$t: 0 16384 linear [0-9]+:[0-9]+ 0;16384 2048 error ?;18432 14336 linear" \
        "L1: /full/fail-$t/file.img and /dev/loop[0-9] on a 2 MiB tmpfs"
    has fail-$t "virtio-$t, $k, failing disks: dm's error range fails a read, and a write's flush; an image file on a full tmpfs fails its writes, and later flushes succeed (nothing lost); a loop device there fails its flush; after a failed flush a later one fails too" \
        "L2: init reached" "vda=fail-dm vdb=full-file vdc=full-loop" \
        "dm: good range written, flushed: status 0" "dm: error range read: status [1-9]" \
        "I/O error, dev vda, sector 16384 op 0x0:\(READ\)" \
        "dm: error range written, flushed: status [1-9]" "dm: a later flush: status [1-9]" \
        "file: 4 MiB written, flushed: status [1-9]" "I/O error, dev vdb, sector [0-9]+ op 0x1:\(WRITE\)" \
        "loop: 4 MiB written, flushed: status [1-9]" "loop: a later flush: status [1-9]" "file: a later flush: status 0" \
        "=== END fail-$t status=0"
    has cmd:fail-$t-host "after the VM: ember logged each failure and powered off; L1's kernel saw the write-backs fail; dm's good range holds the guest's data" \
        "virtio-blk0: read of /dev/mapper/fail-$t failed: Input/output error" \
        "virtio-blk0: flush of /dev/mapper/fail-$t failed: Input/output error; written data may be lost, every later flush fails" \
        "virtio-blk1: write of /full/fail-$t/file.img failed: " \
        "virtio-blk2: flush of /dev/loop[0-9] failed: Input/output error; written data may be lost, every later flush fails" \
        "ember: guest powered off" "L1 kernel: Buffer I/O error on dev dm-[0-9]+, .*lost async page write" \
        "L1 kernel: I/O error, dev loop[0-9]+, sector [0-9]+ op 0x1:\(WRITE\)" "L1: the guest's marker in dm's image: [1-9]"
done
summary
