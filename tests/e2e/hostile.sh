#!/usr/bin/env bash
# The kit's hostile-guest tests (test=hostile-NAME, issue 12) watched from
# outside: while the guest attacks, ember's API socket must answer within
# 1 s, and afterwards ember must have ended as the guest asked (exit 0, the
# guest's PASS), with a log under LOG_MAX bytes, no sanitizer report, and its
# own threads' CPU time bounded. SIGTERM during an attack must end ember
# within 2 s. Usage: hostile.sh [EMBER_BINARY]
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh
K=build/guests/kit.elf
SOCK=$TMP/api.sock
# A run logs the PVM note, the power-off line and, rate-limited, at most 5
# lines per source: well under 4 KiB. One line per guest event would be
# hundreds of KiB (the bad-MSI loop made 225 KB before it was rate-limited).
LOG_MAX=4096
# What the guest may print: its own lines plus the 64 KiB a console transmit
# request may carry. The cap also keeps a regression from filling the disk.
OUT_MAX=$((1024 * 1024))
# Disks live on a real file system, so that a FLUSH after 64 MiB of writes
# takes a while (on tmpfs it would be instant and the attack would not land).
DISK=$(mktemp /var/tmp/ember-hostile-XXXXXX)
trap 'rm -rf "$TMP" "$DISK"' EXIT
truncate -s 72M "$DISK"

# CPU time (clock ticks) of ember's own threads: all but the vCPUs, whose
# time is the guest's own (on PVM the guest's ring 0 is emulated there).
own_ticks() {
    local t sum=0
    for t in /proc/$1/task/*; do
        case "$(cat "$t/comm" 2>/dev/null)" in ember-vcpu*) continue ;; esac
        set -- "$1" $(sed 's/^.*) //' "$t/stat" 2>/dev/null)
        [ $# -ge 14 ] && sum=$((sum + ${13} + ${14}))
    done
    echo $sum
}

# Still running: not ended, and not a zombie (a VM that powered off during a
# probe has closed its socket, which is no failure of the API).
alive() { [ -r /proc/$1/stat ] && [ "$(sed 's/^.*) //' /proc/$1/stat | cut -d' ' -f1)" != Z ]; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_attack NAME ARGS...: starts `ember run ARGS --api-sock` on test=hostile-NAME
# (extra kit options in $KIT_ARGS); sets PID. The output goes straight to a
# file (so "attacking" is seen at once) whose size the shell caps.
start_attack() {
    local name=$1
    shift
    rm -f "$SOCK"
    (ulimit -f $((OUT_MAX / 1024)); exec "$EMBER" run --kernel "$K" "$@" --api-sock "$SOCK" \
        --cmdline "test=hostile-$name ${KIT_ARGS:-}" </dev/null >"$TMP/raw" 2>"$TMP/err") &
    PID=$!
}

# attack NAME LABEL ARGS...: one attack to its end, polled every 0.05 s once
# the guest says it is attacking: the API (an answer within 1 s while ember
# lives) and the CPU time of ember's own threads.
attack() {
    local name=$1 what=$2
    shift 2
    start_attack "$name" "$@"
    local t0 t1 t tstart api_n=0 api_bad=0 api_max=0 ticks=0 ticks0=-1 attack_ms=0 tattack=0
    tstart=$(now_ms)
    while kill -0 $PID 2>/dev/null && [ $(($(now_ms) - tstart)) -lt 90000 ]; do
        if [ $tattack -eq 0 ]; then
            grep -aq "attacking" "$TMP/raw" 2>/dev/null || { sleep 0.05; continue; }
            tattack=$(now_ms)
            ticks0=$(own_ticks $PID)
        fi
        t0=$(now_ms)
        # A probe that fails once the guest has given its verdict is not
        # counted: the guest is powering off, and ember closes its API while
        # it ends (under ASan the leak check keeps the process alive a while).
        if ! curl -s --max-time 1 --unix-socket "$SOCK" http://localhost/ -o /dev/null && alive $PID &&
            ! grep -aqE "^(PASS|FAIL) hostile-" "$TMP/raw"; then
            api_bad=$((api_bad + 1))
        fi
        t1=$(($(now_ms) - t0))
        api_n=$((api_n + 1))
        [ $t1 -gt $api_max ] && api_max=$t1
        t=$(own_ticks $PID)
        kill -0 $PID 2>/dev/null && ticks=$t && attack_ms=$(($(now_ms) - tattack))
        sleep 0.05
    done
    kill -0 $PID 2>/dev/null && kill -KILL $PID
    wait $PID
    STATUS=$?
    tr -d '\r' <"$TMP/raw" | tr -c '[:print:]\n' '.' >"$TMP/out"
    expect "$what: the guest's checks" 0 "guest powered off" "^PASS hostile-$name"
    report_san "$what"
    local log out
    log=$(wc -c <"$TMP/err")
    out=$(wc -c <"$TMP/raw")
    if [ "$log" -le $LOG_MAX ]; then pass "$what: log $log bytes (at most $LOG_MAX)"; else
        fail "$what: log $log bytes, more than $LOG_MAX" "$(sort "$TMP/err" | uniq -c | sort -rn | head -2 | tr '\n' '|')"; fi
    [ "$out" -lt $OUT_MAX ] || fail "$what: output" "$out bytes, the cap"
    if [ $api_n -gt 0 ] && [ $api_bad -eq 0 ] && [ $api_max -le 1000 ]; then
        pass "$what: the API answered $api_n requests during the attack, slowest $api_max ms"
    else
        fail "$what: the API during the attack" "$api_n requests, $api_bad unanswered within 1 s, slowest $api_max ms"
    fi
    CPU_PCT=0
    [ $ticks0 -ge 0 ] && [ $attack_ms -gt 0 ] && CPU_PCT=$(((ticks - ticks0) * 100000 / $(getconf CLK_TCK) / attack_ms))
    echo "      ($what: ember's own threads ${CPU_PCT}% of a CPU over $attack_ms ms)"
}

# report_san WHAT: a sanitizer report in ember's stderr fails the run, and is
# printed, so the suite runner's grep sees it too.
report_san() {
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/err"; then
        fail "$1: sanitizer report" "see below"
        grep -E -A8 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/err" | head -20
    fi
}

# sigterm NAME WHAT ARGS...: SIGTERM once the guest is attacking; ember must end within 2 s.
sigterm() {
    local name=$1 what=$2
    shift 2
    start_attack "$name" "$@"
    for _ in $(seq 300); do grep -aq "attacking" "$TMP/raw" 2>/dev/null && break; sleep 0.05; done
    sleep 0.1
    local t0=$(now_ms)
    kill -TERM $PID
    for _ in $(seq 50); do kill -0 $PID 2>/dev/null || break; sleep 0.05; done
    local ms=$(($(now_ms) - t0))
    kill -0 $PID 2>/dev/null && kill -KILL $PID
    wait $PID
    STATUS=$?
    tr -d '\r' <"$TMP/raw" | tr -c '[:print:]\n' '.' >"$TMP/out"
    if [ $ms -le 2000 ] && [ $STATUS -eq 0 ] && grep -q "stopped by" "$TMP/err"; then
        pass "$what: SIGTERM during the attack ends ember in $ms ms"
    else
        fail "$what: SIGTERM during the attack" "$ms ms, exit status $STATUS"
        dump_last
    fi
    report_san "$what"
}

# The virtio attacks, over both transports; the short ones a few rounds, so
# that they last while the API is probed.
for tr in mmio pci; do
    v="--virtio-transport $tr"
    attack reconfig "$tr reconfig: FLUSH in flight, then QueueReady 0 and QueueNum 0, used_idx past the size, used ring at the top of RAM" \
        $v --disk "$DISK"
    attack alias "$tr alias: 256 descriptors aliasing 191 MiB of RAM on rng, console transmit and blk" \
        $v --rng --virtio-console --disk "$DISK"
    KIT_ARGS=rounds=3 attack late-queue "$tr late-queue: queue registers written after DRIVER_OK read back unchanged, the rings stay" \
        $v --rng
    KIT_ARGS=rounds=3 attack reactivate "$tr reactivate: DRIVER_OK cleared and set again, status unchanged, no re-activation" \
        $v --rng
    attack double-head "$tr double-head: a head offered again while its FLUSH is in flight, NEEDS_RESET, one answer" \
        $v --disk "$DISK"
done
sigterm reconfig "mmio reconfig" --virtio-transport mmio --disk "$DISK"

# Interrupt floods in every irqchip mode. A timer thread that followed a 1 ns
# LAPIC period or an 838 ns PIT period would run flat out, 100% of a CPU;
# ember's own threads (not the vCPUs) must stay under half of one. In split
# and user mode ember's PIT and LAPIC models hold a period to KVM's 200 us
# floor (irq/timer_floor.h); before they did, the timer thread took 35-80% of
# a CPU here. At the floor, two timers make 10 000 events a second, each a
# timer-thread wake-up and a vCPU kick: 6% (split) and about 21% (user) of a
# CPU measured here, so the bound leaves room for a loaded machine.
TIMER_CPU_MAX=50
for mode in kernel split user; do
    KIT_ARGS="secs=2" attack timers "$mode timers: a 1 ns periodic LAPIC timer and a PIT count of 1" --irqchip $mode
    name="$mode timers: ember's own threads ${CPU_PCT}% of a CPU (at most $TIMER_CPU_MAX%)"
    if [ $CPU_PCT -le $TIMER_CPU_MAX ]; then pass "$name"; else fail "$name" "more than $TIMER_CPU_MAX%"; fi
    attack msi "$mode msi: 3000 interrupts to a virtio-pci MSI-X address outside 0xFEExxxxx" --irqchip $mode \
        --virtio-transport pci --rng
done
KIT_ARGS="secs=30" sigterm timers "user timers" --irqchip user
attack uart "user uart: 5000 UART breaks, 1250 i8042 keyboard resets and self-tests" --irqchip user
summary
