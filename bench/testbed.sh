#!/usr/bin/env bash
# Linux boot time on the KVM test bed: exec -> the guest's /init ("L2: init
# reached") for ember and for QEMU microvm, same Debian kernel and initramfs,
# 2 vCPUs, 256 MiB, inside the same outer VM, runs interleaved. Prints medians
# and the ember/QEMU ratio. The test bed emulates AMD-V in software, so the
# absolute times say nothing about real hardware; the ratio compares the two
# VMMs under identical conditions. Usage: bench/testbed.sh [REPEATS]
set -u
cd "$(dirname "$0")/.."
R=${1:-3}
scripts/install-deps.sh >/dev/null || exit 1
make -s ember >/dev/null || exit 1
plan=$(mktemp)
log=build/bench-testbed.log
C="console=ttyS0 quiet panic=-1"
QEMU="/qemu/lib/ld-linux-x86-64.so.2 --library-path /qemu/lib /qemu/qemu-system-x86_64 -L /qemu/share"
for i in $(seq "$R"); do
    cat >>"$plan" <<PLAN
cmd:ember-bz echo "BENCH ember-bzImage \$(/benchtool until 'L2: init reached' /ember run --kernel /vmlinuz --initrd /l2.cpio.gz --cpus 2 --memory 256 --cmdline '$C')"
cmd:ember-pvh echo "BENCH ember-pvh \$(/benchtool until 'L2: init reached' /ember run --kernel /vmlinux --initrd /l2.cpio.gz --cpus 2 --memory 256 --cmdline '$C')"
cmd:qemu-pvh echo "BENCH qemu-microvm-pvh \$(/benchtool until 'L2: init reached' $QEMU -M microvm -accel kvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config -display none -serial stdio -kernel /vmlinux -initrd /l2.cpio.gz -append '$C')"
PLAN
done
TESTBED_WITH_QEMU=1 tests/testbed/run.sh "$plan" "$log" 1200 || { echo "test bed run failed; see $log"; exit 1; }
rm -f "$plan"
median() { grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
echo "exec -> guest /init on the KVM test bed (QEMU TCG + kvm-amd), median of $R, ms:"
for v in ember-bzImage ember-pvh qemu-microvm-pvh; do
    vals=$(sed -n "s/^BENCH $v \([0-9][0-9]*\)$/\1/p" "$log")
    printf "  %-18s %8s   (runs: %s)\n" "$v" "$(echo "$vals" | median)" "$(echo $vals)"
done
e=$(sed -n 's/^BENCH ember-pvh \([0-9][0-9]*\)$/\1/p' "$log" | median)
b=$(sed -n 's/^BENCH ember-bzImage \([0-9][0-9]*\)$/\1/p' "$log" | median)
q=$(sed -n 's/^BENCH qemu-microvm-pvh \([0-9][0-9]*\)$/\1/p' "$log" | median)
awk -v e="$e" -v b="$b" -v q="$q" 'BEGIN {
    if (q + 0 > 0 && e + 0 > 0) printf "  ember-pvh/QEMU = %.2f   ember-bzImage/QEMU = %.2f\n", e / q, b / q;
    else print "  ratio: n/a (a run failed; see the log)" }'
