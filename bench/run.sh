#!/usr/bin/env bash
# ember's core benchmarks, each side by side with its reference in one run:
#  (a) port-I/O exit round trip from a guest ring-3 `out` loop: ember vs the
#      raw KVM_RUN floor (benchtool floor) vs QEMU (microvm, same guest image)
#  (b) time from exec to the guest's first serial byte: ember vs QEMU microvm
#  (c) VMM resident memory beyond the guest's own pages: ember vs QEMU
# Prints medians and ratios. Usage: bench/run.sh [PIO_EXITS] [REPEATS]
set -u
cd "$(dirname "$0")/.."
N=${1:-100000}
R=${2:-5}
scripts/install-deps.sh >/dev/null || { echo "cannot install QEMU for the peer runs"; exit 1; }
make -s bench >/dev/null || exit 1
BT=build/bench/benchtool
EMBER=build/ember
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; kill $(jobs -p) 2>/dev/null' EXIT
# QEMU: -cpu EPYC, not host/max: on a PVM host those make QEMU set an MSR the host refuses.
QEMU=(qemu-system-x86_64 -M microvm,acpi=off -accel kvm -cpu EPYC -m 256 -nodefaults -no-user-config
      -display none -serial stdio -device isa-debug-exit,iobase=0x604,iosize=2)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
cycles_of() { tr -d '\r' | sed -n 's/.*exits, \([0-9]*\) TSC cycles each.*/\1/p'; }

MHZ=$($BT tsc-mhz)
us() { awk -v c="$1" -v m="$MHZ" 'BEGIN {printf "%.2f", c / m}'; }
QNAME="QEMU $(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9.]*\).*/\1/p') microvm"
echo "host: $(nproc) CPUs, TSC ${MHZ} MHz, KVM: $([ -e /sys/module/kvm_pvm ] && echo 'PVM (software, ring 0 emulated)' || echo hardware)"
echo

echo "(a) PIO exit round trip, guest ring 3 'out' to port 0x80, $N exits, median of $R runs"
for i in $(seq "$R"); do
    $BT floor build/guests/kit.bzImage "test=pio count=$N" | cycles_of >>"$TMP/floor"
    $EMBER run --kernel build/guests/kit.bzImage --cmdline "test=pio count=$N" 2>/dev/null | cycles_of >>"$TMP/ember"
    timeout 120 "${QEMU[@]}" -kernel build/guests/kit.elf -append "test=pio count=$N" 2>/dev/null </dev/null | cycles_of >>"$TMP/qemu"
done
f=$(median <"$TMP/floor"); e=$(median <"$TMP/ember"); q=$(median <"$TMP/qemu")
printf "  %-22s %8s cycles  %8s us\n" "raw KVM_RUN floor" "$f" "$(us "$f")" "ember" "$e" "$(us "$e")" "$QNAME" "${q:-n/a}" "$([ -n "$q" ] && us "$q")"
echo "  ember/floor = $(ratio "$e" "$f")   ember/QEMU = $([ -n "$q" ] && ratio "$e" "$q" || echo n/a)"
echo

echo "(b) exec to the guest's first serial byte (kit, PVH ELF), median of $R runs"
for i in $(seq "$R"); do
    $BT first-byte $EMBER run --kernel build/guests/kit.elf --memory 256 --cmdline "test=hello" >>"$TMP/e_fb"
    $BT first-byte "${QEMU[@]}" -kernel build/guests/kit.elf -append "test=hello" >>"$TMP/q_fb"
done
e=$(median <"$TMP/e_fb"); q=$(median <"$TMP/q_fb")
printf "  %-22s %8s us\n  %-22s %8s us\n" "ember" "$e" "$QNAME" "$q"
echo "  ember/QEMU = $(ratio "$e" "$q")"
echo

# RSS of a VMM process less the resident part of its largest mapping (guest RAM).
overhead_kib() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / {cur = 0} /^Size:/ {size = $2} /^Rss:/ {rss += $2; if (size > maxsize) {maxsize = size; guest = $2}}
         END {print rss - guest}' "/proc/$1/smaps"
}
wait_ready() { for _ in $(seq 300); do grep -q "ready for input" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
echo "(c) resident memory beyond guest RAM (256 MiB guest waiting at its serial prompt)"
sleep 1000 | $EMBER run --kernel build/guests/kit.elf --memory 256 --cmdline "test=serial" >"$TMP/e_out" 2>/dev/null &
wait_ready "$TMP/e_out"
epid=$(pgrep -n -f "$EMBER run --kernel build/guests/kit.elf --memory 256 --cmdline test=serial")
e=$(overhead_kib "$epid")
kill "$epid"
sleep 1000 | "${QEMU[@]}" -kernel build/guests/kit.elf -append "test=serial" >"$TMP/q_out" 2>/dev/null &
wait_ready "$TMP/q_out"
qpid=$(pgrep -n -f "qemu-system-x86_64 -M microvm")
q=$(overhead_kib "$qpid")
kill "$qpid"
printf "  %-22s %8s KiB\n  %-22s %8s KiB\n" "ember" "$e" "$QNAME" "$q"
echo "  ember/QEMU = $(ratio "$e" "$q")"
