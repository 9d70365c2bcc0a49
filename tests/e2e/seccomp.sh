#!/usr/bin/env bash
# ember's seccomp filters seen from outside: every thread of a running ember
# is filtered (Seccomp: 2 in /proc), and none with --no-seccomp; a forbidden
# system call on each kind of thread (the test build's probe) ends ember with
# status 148 and one line naming the thread and the call; --seccomp-log lets
# it through; --seccomp-filter takes Firecracker's JSON format, refuses a
# malformed file with one line and exit 2, and boots with an allow-all one.
# Every other suite runs with the filters on, which is what proves the
# allowlists complete. Usage: seccomp.sh [EMBER_BINARY]
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh
K=build/guests/kit.elf
PROBE=$(dirname "$EMBER")/tests/ember-seccomp-probe
[ -x "$PROBE" ] || { echo "no $PROBE (make unit builds it)"; exit 1; }
truncate -s 1M "$TMP/disk.img"

# ember with one thread of every kind: vCPUs, devices, the API, the timers
# (user irqchip), console input (a pipe that stays open).
all_kinds=(--irqchip user --cpus 2 --disk "$TMP/disk.img" --rng --virtio-console --balloon amount_mib=0,stats_interval=1
           --api-sock "$TMP/api.sock")
NET_ARGS=()
if [ "$(id -u)" -eq 0 ] && ip tuntap add dev embsc0 mode tap 2>/dev/null; then
    NET_ARGS=(--net tap=embsc0)
    trap 'ip link del embsc0 2>/dev/null; rm -rf "$TMP"' EXIT
fi

# start_idle BINARY ARGS...: the kit's idle guest in the background (PID),
# its console input held open on fd 7.
start_idle() {
    local bin=$1
    shift
    rm -f "$TMP/api.sock"
    mkfifo "$TMP/in.$$" 2>/dev/null
    "$bin" run "$@" --kernel "$K" --cmdline test=idle <"$TMP/in.$$" >"$TMP/out" 2>"$TMP/err" &
    PID=$!
    exec 7>"$TMP/in.$$"
    for _ in $(seq 50); do [ -S "$TMP/api.sock" ] && break; sleep 0.1; done
    sleep 0.5
}
stop_idle() {
    kill -TERM "$PID" 2>/dev/null
    exec 7>&-
    wait "$PID"
    STATUS=$?
    rm -f "$TMP/in.$$"
}

# "name=Seccomp" for every thread of PID.
thread_modes() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "$(cat "$t/comm")=$(awk '/^Seccomp:/ {print $2}' "$t/status")"
    done
}

start_idle "$EMBER" "${all_kinds[@]}" "${NET_ARGS[@]}"
modes=$(thread_modes "$PID" | tr '\n' ' ')
stop_idle
want="ember ember-api ember-vcpu0 ember-vcpu1 ember-timers ember-console virtio-blk0 virtio-rng virtio-console virtio-balloon"
[ ${#NET_ARGS[@]} -gt 0 ] && want="$want virtio-net0"
missing=""
for w in $want; do grep -qw -- "$w=2" <<<"$modes" || missing="$missing $w"; done
unfiltered=$(tr ' ' '\n' <<<"$modes" | grep -E '^ember|^virtio' | grep -v '=2$' | tr '\n' ' ')
if [ -z "$missing" ] && [ -z "$unfiltered" ]; then
    pass "every thread is filtered (Seccomp: 2): $modes"
else
    fail "every thread is filtered" "missing or unfiltered:$missing $unfiltered (threads: $modes)"
fi
[ ${#NET_ARGS[@]} -eq 0 ] && skip "the virtio-net thread is filtered" "needs root to make a tap"

start_idle "$EMBER" "${all_kinds[@]}" --no-seccomp
modes=$(thread_modes "$PID" | tr '\n' ' ')
stop_idle
filtered=$(tr ' ' '\n' <<<"$modes" | grep -E '^ember|^virtio' | grep -v '=0$' | tr '\n' ' ')
if [ -z "$filtered" ] && grep -q "seccomp is off (--no-seccomp)" "$TMP/err" &&
    [ "$(grep -c seccomp "$TMP/err")" -eq 1 ]; then
    pass "--no-seccomp: no thread is filtered (Seccomp: 0), and ember says so once"
else
    fail "--no-seccomp" "filtered: $filtered; stderr: $(head -3 "$TMP/err")"
fi

# A forbidden call on each kind of thread: status 148, one line naming both.
probe_kind() {
    local kind=$1 comm_re=$2 spec=${3:-$1} extra=${4:-}
    rm -f "$TMP/api.sock"
    EMBER_SECCOMP_PROBE=$spec timeout 60 "$PROBE" run "${all_kinds[@]}" "${NET_ARGS[@]}" --kernel "$K" \
        --cmdline test=idle <"$TMP/disk.img" >"$TMP/out" 2>"$TMP/err"
    STATUS=$?
    local line
    line=$(grep "seccomp:" "$TMP/err")
    if [ "$STATUS" -eq 148 ] && [ "$(grep -c "seccomp:" "$TMP/err")" -eq 1 ] &&
        grep -qE "thread $comm_re \($kind filter\) made a forbidden system call $extra" <<<"$line"; then
        pass "a forbidden call on a $kind thread ends ember with 148: $line"
    else
        fail "a forbidden call on a $kind thread" "status $STATUS; stderr: $(tail -2 "$TMP/err")"
    fi
}
probe_kind vmm "ember[^ ]*" vmm "135 \(personality\)"
probe_kind api "ember-api" api "135 \(personality\)"
probe_kind vcpu "ember-vcpu[01]" vcpu "135 \(personality\)"
probe_kind blk "virtio-blk0" blk "135 \(personality\)"
probe_kind rng "virtio-rng" rng "135 \(personality\)"
probe_kind virtio_console "virtio-console" virtio_console "135 \(personality\)"
probe_kind balloon "virtio-balloon" balloon "135 \(personality\)"
probe_kind console_input "ember-console" console_input "135 \(personality\)"
probe_kind timers "ember-timers" timers "135 \(personality\)"
if [ ${#NET_ARGS[@]} -gt 0 ]; then
    probe_kind net "virtio-net0" net "135 \(personality\)"
else
    skip "a forbidden call on a net thread" "needs root to make a tap"
fi
# The vCPU may not make a VM (ioctl 16, KVM_CREATE_VM = 0xae01), nor socket (41).
probe_kind vcpu "ember-vcpu[01]" vcpu:16:0xae01 "16 \(ioctl\)"
probe_kind api "ember-api" api:41:2 "41 \(socket\)"
probe_kind blk "virtio-blk0" blk:59 "59 \(execve\)"

# --seccomp-log: the same call is let through (the kernel logs it).
rm -f "$TMP/api.sock"
EMBER_SECCOMP_PROBE=vcpu timeout 60 "$PROBE" run --seccomp-log --kernel "$K" --cmdline test=hello </dev/null \
    >"$TMP/out" 2>"$TMP/err"
STATUS=$?
if [ "$STATUS" -eq 0 ] && grep -q "PASS" "$TMP/out" && grep -q -- "--seccomp-log" "$TMP/err"; then
    pass "--seccomp-log: a forbidden call is logged by the kernel, not stopped; the guest runs to its end"
else
    fail "--seccomp-log" "status $STATUS; $(tail -2 "$TMP/err")"
fi

# The metrics get Firecracker's seccomp.num_faults in the handler's last line.
cat >"$TMP/vm.json" <<EOF
{"boot-source": {"kernel_image_path": "$K", "boot_args": "test=idle"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
 "metrics": {"metrics_path": "$TMP/metrics"}}
EOF
: >"$TMP/metrics"
EMBER_SECCOMP_PROBE=vcpu timeout 60 "$PROBE" --config-file "$TMP/vm.json" --no-api </dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
if [ "$STATUS" -eq 148 ] && tail -1 "$TMP/metrics" | grep -q '"seccomp":{"num_faults":1}'; then
    pass "the metrics' last line counts the fault (seccomp.num_faults 1)"
else
    fail "the metrics count the fault" "status $STATUS; metrics: $(tail -c 300 "$TMP/metrics")"
fi

# --seccomp-filter: malformed files, one line each and exit 2.
bad_filter() {
    local name=$1 text=$2 want=$3
    printf '%s' "$text" >"$TMP/filter.json"
    timeout 30 "$EMBER" run --seccomp-filter "$TMP/filter.json" --kernel "$K" --cmdline test=hello </dev/null \
        >"$TMP/out" 2>"$TMP/err"
    STATUS=$?
    if [ "$STATUS" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q -- "--seccomp-filter: $TMP/filter.json: $want" "$TMP/err"; then
        pass "--seccomp-filter, $name: exit 2, one line: $(cat "$TMP/err")"
    else
        fail "--seccomp-filter, $name" "status $STATUS; stderr: $(head -3 "$TMP/err")"
    fi
}
ALLOW_ALL='{"default_action": "allow", "filter_action": "trap", "filter": []}'
bad_filter "not JSON" '{"vmm": ' "not valid JSON"
bad_filter "no vcpu filter" "{\"vmm\": $ALLOW_ALL, \"api\": $ALLOW_ALL}" 'no filter for the "vcpu" threads'
bad_filter "an unknown system call" \
    "{\"vmm\": $ALLOW_ALL, \"api\": $ALLOW_ALL, \"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"frobnicate\"}]}}" \
    '"vcpu".filter\[0\]: "frobnicate" is not an x86_64 system call'
timeout 30 "$EMBER" run --seccomp-filter "$TMP/none.json" --kernel "$K" --cmdline test=hello </dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
if [ "$STATUS" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "none.json" "$TMP/err"; then
    pass "--seccomp-filter with a missing file: exit 2, one line: $(cat "$TMP/err")"
else
    fail "--seccomp-filter with a missing file" "status $STATUS; $(head -2 "$TMP/err")"
fi
timeout 30 "$EMBER" run --seccomp-filter "$TMP/x" --no-seccomp --kernel "$K" </dev/null >"$TMP/out" 2>"$TMP/err"
STATUS=$?
if [ "$STATUS" -eq 2 ] && grep -q "choose one" "$TMP/err"; then pass "--seccomp-filter with --no-seccomp: refused"
else fail "--seccomp-filter with --no-seccomp" "status $STATUS; $(head -2 "$TMP/err")"; fi

# An allow-all file boots; a file that traps KVM_RUN (ioctl 0xae80, as a
# dword) on the vCPU threads is applied (148).
echo "{\"vmm\": $ALLOW_ALL, \"api\": $ALLOW_ALL, \"vcpu\": $ALLOW_ALL}" >"$TMP/filter.json"
run_ember --seccomp-filter "$TMP/filter.json" --kernel "$K" --cmdline test=hello --rng
expect "--seccomp-filter: an allow-all filter file boots the guest" 0 "guest powered off" "PASS"
cat >"$TMP/filter.json" <<EOF
{"vmm": $ALLOW_ALL, "api": $ALLOW_ALL,
 "vcpu": {"default_action": "allow", "filter_action": "trap",
          "filter": [{"syscall": "ioctl", "args": [{"index": 1, "type": "dword", "op": "eq", "val": 44672,
                                                    "comment": "KVM_RUN"}]}]}}
EOF
run_ember --seccomp-filter "$TMP/filter.json" --kernel "$K" --cmdline test=hello
expect "--seccomp-filter: the file's vcpu filter is the vCPU's (KVM_RUN trapped: 148)" 148 \
    "thread ember-vcpu0 \(vcpu filter\) made a forbidden system call 16 \(ioctl\)"

summary
