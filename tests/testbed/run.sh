#!/usr/bin/env bash
# Runs a plan of ember runs on the KVM test bed: QEMU (TCG, emulated AMD-V)
# boots Debian's cloud kernel with kvm-amd; ember runs on that real KVM.
# Usage: run.sh PLAN LOG [TIMEOUT_SECONDS]   (QEMU's whole console goes to LOG)
#        run.sh PLAN -                       (console on this terminal, no time limit)
set -u -o pipefail
cd "$(dirname "$0")/../.."
plan=$1
log=$2
limit=${3:-600}
out=build/testbed
tests/testbed/build.sh "$plan" "$out" || exit 1
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -cpu EPYC,+svm -M q35 -m 2048
      -nographic -no-reboot -nodefaults -serial stdio -kernel "$(cat $out/kernel-path)"
      -initrd "$out/l1.cpio.gz" -append "console=ttyS0 panic=-1 quiet")
if [ "$log" = - ]; then
    # QEMU warns about every AMD feature TCG lacks; keep its stderr apart.
    "${qemu[@]}" 2>"$out/qemu.stderr"
else
    timeout "$limit" "${qemu[@]}" </dev/null 2>&1 | tr -d '\r' >"$log"
fi
