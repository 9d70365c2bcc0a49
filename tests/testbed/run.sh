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
# TESTBED_ACCEL: QEMU's -accel for L1 (thread=single serializes its vCPUs, for
# telling a TCG race apart from an ember one).
qemu=(qemu-system-x86_64 -accel "${TESTBED_ACCEL:-tcg,thread=multi}" -smp 2 -cpu EPYC,+svm -M q35 -m 2048
      -nographic -no-reboot -nodefaults -serial stdio -kernel "$(cat $out/kernel-path)"
      -initrd "$out/l1.cpio.gz" -append "console=ttyS0 panic=-1 quiet")
if [ "$log" = - ]; then
    # QEMU warns about every AMD feature TCG lacks; keep its stderr apart.
    # A person watches: only L1's own emergencies reach the console
    # (loglevel=1), not its boot noise or KVM's notes about the guest.
    qemu[${#qemu[@]} - 1]="console=ttyS0 panic=-1 quiet loglevel=1"
    "${qemu[@]}" 2>"$out/qemu.stderr"
else
    # A watchdog: L1 prints at least every 20 s, so a console silent for
    # STALL_SECONDS (default 75) means the emulated machine itself stopped
    # (a rare stall of QEMU's TCG with nested SVM, cause unknown). QEMU is
    # then killed at once instead of after the whole time limit; the caller
    # reruns what did not finish.
    # The console reaches LOG line by line (sed -u): through a buffered
    # filter (tr, before) the file grew in 4 KiB steps, so a quiet but
    # healthy run looked silent and was stopped as a stall, with L1's
    # heartbeats still in the filter's buffer.
    rm -f "$out/qemu.pid"
    timeout "$limit" "${qemu[@]}" -pidfile "$out/qemu.pid" </dev/null 2>&1 | sed -u 's/\r//g' >"$log" &
    pipe=$!
    last=-1 quiet=0
    while kill -0 $pipe 2>/dev/null; do
        sleep 5
        size=$(stat -c %s "$log" 2>/dev/null || echo 0)
        if [ "$size" = "$last" ]; then quiet=$((quiet + 5)); else quiet=0 last=$size; fi
        if [ $quiet -ge "${STALL_SECONDS:-75}" ]; then
            [ -s "$out/qemu.pid" ] && kill "$(cat "$out/qemu.pid")" 2>/dev/null
            break
        fi
    done
    wait $pipe 2>/dev/null
    # Said after the pipe ends: sed's last lines would land over it before.
    if [ $quiet -ge "${STALL_SECONDS:-75}" ]; then
        echo "!! test bed: no console output for ${quiet}s; stopped QEMU" >>"$log"
    fi
fi
