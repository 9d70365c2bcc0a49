#!/usr/bin/env bash
# Interrupt latency per irqchip mode, side by side in one run: the kit's
# irqlat test (device raises its line during an exit -> guest handler entry,
# measured by the guest with the TSC, 201 interrupts) under --irqchip kernel,
# split and user, and vCPU exits per delivered interrupt from ember's own
# counters. Usage: bench/irqlat.sh [REPEATS]
set -u
cd "$(dirname "$0")/.."
R=${1:-5}
make -s ember guests bench >/dev/null || exit 1
MHZ=$(build/bench/benchtool tsc-mhz)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
[ -e /sys/module/kvm_pvm ] && echo "note: this host's KVM is PVM; its interrupt injection after STI dominates these latencies, so they are host-limited; the exits per interrupt are not"
echo "interrupt latency (UART THRE raise -> guest handler), median of $R runs x 201 interrupts, TSC ${MHZ} MHz"
for mode in kernel split user; do
    : >"/tmp/irqlat.$mode"
    exits=0
    for i in $(seq "$R"); do
        out=$(build/ember run -v --irqchip $mode --kernel build/guests/kit.elf --cmdline test=irqlat 2>&1 | tr -d '\r')
        echo "$out" | sed -n 's/^irqlat: .* median \([0-9]*\) min.*/\1/p' >>"/tmp/irqlat.$mode"
        e=$(echo "$out" | sed -n 's/.*vcpu 0 (.*) exits: \(.*\)/\1/p' | tr ' ' '\n' | awk -F= '{s += $2} END {print s + 0}')
        exits=$((exits + e))
    done
    m=$(median <"/tmp/irqlat.$mode")
    printf "  %-7s median %9s cycles = %8.1f us   exits per interrupt %.2f\n" "$mode" "$m" \
        "$(awk -v c="$m" -v f="$MHZ" 'BEGIN {print c / f}')" "$(awk -v e="$exits" -v r="$R" 'BEGIN {print e / (r * 201)}')"
    eval "lat_$mode=$m"
done
awk -v s="$lat_split" -v u="$lat_user" -v k="$lat_kernel" \
    'BEGIN {printf "  split/kernel latency = %.2f   user/kernel latency = %.2f\n", s / k, u / k}'
rm -f /tmp/irqlat.kernel /tmp/irqlat.split /tmp/irqlat.user
