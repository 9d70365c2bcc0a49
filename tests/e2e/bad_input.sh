#!/usr/bin/env bash
# Messy host input: each case must end ember with a non-zero status (not a
# crash), exactly one line on stderr, and that line must name the problem.
# Usage: bad_input.sh [EMBER_BINARY]   (run it on the ASan build as well)
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh
K=build/guests/kit.elf

# bad NAME STDERR_REGEX ARGS...
bad() {
    local name=$1 re=$2
    shift 2
    timeout 60 ${EMBER_PREFIX:-} "$EMBER" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local st=$? lines
    lines=$(wc -l <"$TMP/err")
    if [ $st -eq 0 ] || [ $st -ge 124 ]; then
        fail "$name" "exit status $st (want a plain non-zero exit, no crash or hang)"
    elif [ "$lines" -ne 1 ]; then
        fail "$name" "$lines lines on stderr, want 1"
        sed 's/^/  | /' "$TMP/err" | head -20
    elif ! grep -qE -- "$re" "$TMP/err"; then
        fail "$name" "stderr '$(cat "$TMP/err")' lacks /$re/"
    else
        pass "$name: $(cat "$TMP/err")"
    fi
}

printf 'just some text\n' >"$TMP/text"
head -c 4000 build/guests/kit.bzImage >"$TMP/truncated.bzImage"
head -c 600 build/guests/kit.bzImage >"$TMP/header-only.bzImage"
truncate -s 300M "$TMP/huge.initrd"
build/tools/mkpattern 3500000 1 >"$TMP/3.5M.initrd"
mkdir -p "$TMP/adir"

# A bzImage whose compressed payload is corrupt: refused with the reason, not booted.
cp build/guests/kit-gzip.bzImage "$TMP/corrupt-payload.bzImage"
poff=$(od -An -tu4 -j $((0x248)) -N4 "$TMP/corrupt-payload.bzImage" | tr -d ' ')
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$TMP/corrupt-payload.bzImage" bs=1 seek=$((1024 + poff + 40)) conv=notrunc status=none
bad "bzImage with a corrupt compressed payload" "cannot decompress its payload: gzip" run --kernel "$TMP/corrupt-payload.bzImage"
bad "bad --decompress" "--decompress sideways" run --kernel $K --decompress sideways
bad "unknown --irqchip mode" "--irqchip magic: expected kernel, split or user" run --kernel $K --irqchip magic
bad "unknown --kvm-pv-off feature" "--kvm-pv-off: unknown feature 'kvm-pv-magic'" run --kernel $K --kvm-pv-off kvm-pv-eoi,kvm-pv-magic
# A host KVM without a mode's capability (EMBER_KVM_HIDE_CAPS hides these
# KVM_CAP_* numbers, as an older or different host would lack them).
EMBER_KVM_HIDE_CAPS=121 bad "--irqchip split on a KVM without KVM_CAP_SPLIT_IRQCHIP" \
    "--irqchip split: the host's KVM lacks KVM_CAP_SPLIT_IRQCHIP" run --kernel $K --irqchip split
EMBER_KVM_HIDE_CAPS=33 bad "--irqchip kernel on a KVM without KVM_CAP_PIT2" \
    "--irqchip kernel: the host's KVM lacks KVM_CAP_PIT2" run --kernel $K
bad "initrd that is not cpio nor a ramdisk image" "initrd .*: not a cpio archive" run --kernel $K --initrd "$TMP/text"
# The kit ELF claiming to be for another machine (e_machine = AArch64).
cp $K "$TMP/aarch64.elf"
printf '\xb7\x00' | dd of="$TMP/aarch64.elf" bs=1 seek=18 conv=notrunc status=none
bad "a kernel that is not x86_64" "not an x86_64 ELF \(class 2, machine 183\)" run --kernel "$TMP/aarch64.elf"

# Disk images: one line naming the image, and nothing written to it.
truncate -s 1M "$TMP/disk.img"
: >"$TMP/empty.img"
bad "missing disk image" "--disk $TMP/nope.img: cannot open: No such file" run --kernel $K --disk "$TMP/nope.img"
bad "a directory as a disk" "--disk $TMP/adir: cannot open: Is a directory" run --kernel $K --disk "$TMP/adir"
bad "the same image twice" "--disk $TMP/disk.img: given twice" run --kernel $K --disk "$TMP/disk.img" --disk "$TMP/disk.img"
bad "two disks with one serial" "serial=a is already another disk's id" \
    run --kernel $K --disk "$TMP/disk.img,serial=a" --disk "$TMP/empty.img,serial=a"
bad "an unknown disk option" "--disk $TMP/disk.img: bad option 'rw'" run --kernel $K --disk "$TMP/disk.img,rw"
bad "a disk rate of 0" "--disk: iops=0: expected a whole number per second, at least 1" \
    run --kernel $K --disk "$TMP/disk.img,iops=0"
bad "a disk rate that is not a number" "--disk: bps=1M: expected a whole number per second" \
    run --kernel $K --disk "$TMP/disk.img,bps=1M"
bad "a negative network rate" "--net: tx-pps=-5: expected a whole number per second" \
    run --kernel $K --net tap=emb9,tx-pps=-5
bad "a serial over 20 bytes" "bad option 'serial=123456789012345678901'" \
    run --kernel $K --disk "$TMP/disk.img,serial=123456789012345678901"
# Unwritable: root ignores file modes, so drop the capabilities that let it.
cp "$TMP/disk.img" "$TMP/readonly.img"
chmod 444 "$TMP/readonly.img"
if [ "$(id -u)" -ne 0 ]; then
    bad "an unwritable disk image" "cannot open for writing: Permission denied \(add ,ro" run --kernel $K --disk "$TMP/readonly.img"
elif command -v setpriv >/dev/null; then
    EMBER_PREFIX="setpriv --bounding-set=-dac_override,-dac_read_search,-fowner --" \
        bad "an unwritable disk image" "cannot open for writing: Permission denied \(add ,ro" run --kernel $K --disk "$TMP/readonly.img"
else
    skip "an unwritable disk image" "running as root without setpriv to drop CAP_DAC_OVERRIDE"
fi
# An image another VM has open for writing (its OFD lock).
timeout 60 "$EMBER" run --kernel $K --disk "$TMP/disk.img" --cmdline "test=serial" </dev/null >"$TMP/holder.out" 2>&1 &
holder=$!
for _ in $(seq 300); do grep -q "ready for input" "$TMP/holder.out" 2>/dev/null && break; sleep 0.1; done
bad "a disk image another VM is writing" "--disk $TMP/disk.img: in use: another process has opened it" \
    run --kernel $K --disk "$TMP/disk.img"
bad "a disk image another VM is writing, opened read-only" "in use: another process is writing it" \
    run --kernel $K --disk "$TMP/disk.img,ro"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
if cmp -s "$TMP/disk.img" <(head -c 1048576 /dev/zero); then pass "the refused VMs wrote nothing to the image"; else fail "the refused VMs wrote nothing to the image" "image changed"; fi

bad "an unknown virtio transport" "--virtio-transport usb: expected mmio or pci" run --kernel $K --virtio-transport usb
# Network interfaces.
bad "a malformed MAC" "--net: mac=02:00:00:00:00 is not a unicast MAC address" run --kernel $K --net tap=t0,mac=02:00:00:00:00
bad "a multicast MAC" "mac=03:00:00:00:00:01 is not a unicast MAC address" run --kernel $K --net tap=t0,mac=03:00:00:00:00:01
bad "--net without tap=" "--net: tap=NAME is required" run --kernel $K --net mac=02:00:00:00:00:01
bad "an unknown --net option" "--net: bad option 'vhost=on'" run --kernel $K --net tap=t0,vhost=on
bad "the same tap twice" "--net tap=t0: given twice" run --kernel $K --net tap=t0 --net tap=t0
bad "a tap name too long" "--net tap=abcdefghijklmnop: an interface name has 1 to 15 characters" run --kernel $K --net tap=abcdefghijklmnop
bad "an interface that is not a tap" "--net tap=lo: exists but is not a tap device" run --kernel $K --net tap=lo
if command -v setpriv >/dev/null; then
    EMBER_PREFIX="setpriv --bounding-set=-net_admin --" bad "a tap that does not exist, without CAP_NET_ADMIN" \
        "--net tap=embernotap0: no such tap, and creating one needs CAP_NET_ADMIN" run --kernel $K --net tap=embernotap0
else
    skip "a tap that does not exist, without CAP_NET_ADMIN" "setpriv is not installed"
fi
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    # A tap another VM holds: both runs inside one namespace.
    unshare --net sh -c 'ip tuntap add dev busy0 mode tap &&
        ( timeout 30 "$1" run --kernel "$2" --net tap=busy0 --cmdline test=serial </dev/null >"$3/holder" 2>&1 & ) &&
        for i in $(seq 300); do grep -q "ready for input" "$3/holder" 2>/dev/null && break; sleep 0.1; done &&
        "$1" run --kernel "$2" --net tap=busy0 </dev/null >"$3/out" 2>"$3/err"; echo $? >"$3/status"; pkill -f "tap=busy0" || true' \
        sh "$EMBER" "$K" "$TMP"
    if [ "$(cat "$TMP/status")" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "tap=busy0: busy: another process has it open" "$TMP/err"; then
        pass "a tap another VM has open: $(cat "$TMP/err")"
    else
        fail "a tap another VM has open" "status $(cat "$TMP/status"): $(cat "$TMP/err")"
    fi
else
    skip "a tap another VM has open" "needs root and unshare to make a network namespace"
fi

bad "no --kernel" "--kernel PATH is required" run
bad "missing kernel" "kernel /nonexistent/vmlinuz: cannot open" run --kernel /nonexistent/vmlinuz
bad "kernel is a directory" "not a regular file" run --kernel "$TMP/adir"
bad "text file as kernel" "not a bzImage or an ELF vmlinux" run --kernel "$TMP/text"
bad "truncated bzImage" "truncated bzImage" run --kernel "$TMP/truncated.bzImage"
bad "bzImage cut inside its header" "truncated bzImage" run --kernel "$TMP/header-only.bzImage"
bad "host program (PIE) as kernel" "ELF is not an executable" run --kernel /bin/true
bad "missing initrd" "initrd /nonexistent: cannot open" run --kernel $K --initrd /nonexistent
bad "initrd is a directory" "initrd .*: not a regular file" run --kernel $K --initrd "$TMP/adir"
if [ "$(id -u)" -ne 0 ]; then
    cp "$TMP/text" "$TMP/unreadable"
    chmod 000 "$TMP/unreadable"
    bad "unreadable initrd" "initrd .*: cannot open: Permission denied" run --kernel $K --initrd "$TMP/unreadable"
else
    skip "unreadable initrd" "running as root, which can read any file (the directory case above covers the path)"
fi
bad "initrd too large for RAM" "initrd .*(too large|do not fit)" run --kernel $K --memory 256 --initrd "$TMP/huge.initrd"
bad "initrd that fits the file limit but not above the kernel" "initrd: .* do not fit" run --kernel $K --memory 4 --initrd "$TMP/3.5M.initrd"
bad "--memory 0" "--memory 0" run --kernel $K --memory 0
bad "--memory garbage" "--memory 12abc" run --kernel $K --memory 12abc
bad "--memory 1 (too small to boot)" "too small" run --kernel $K --memory 1
bad "--cpus 0" "--cpus 0" run --kernel $K --cpus 0
bad "--cpus -3" "--cpus -3" run --kernel $K --cpus -3
bad "--cpus above the limit" "--cpus 5000: .*at most" run --kernel $K --cpus 5000
bad "--cpus 255" "--cpus 255: .*at most" run --kernel $K --cpus 255
bad "unknown option" "unknown option --frobnicate" run --kernel $K --frobnicate
bad "option without its value" "needs a value" run --kernel
bad "unknown command" "unknown command 'start'" start
bad "bad --console" "--console tty" run --kernel $K --console tty
bad "cmdline longer than the kernel accepts" "--cmdline: 3000 bytes" run --kernel build/guests/kit.bzImage --cmdline "$(head -c 3000 /dev/zero | tr '\0' a)"
bad "--console file in a missing directory" "--console file:/nonexistent/x.log" run --kernel $K --console file:/nonexistent/x.log

summary
