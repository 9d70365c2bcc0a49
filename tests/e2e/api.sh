#!/usr/bin/env bash
# ember's Firecracker-compatible API, driven with curl over its Unix socket:
# Firecracker's getting-started sequence (configure, InstanceStart), pause
# and resume, FlushMetrics, SendCtrlAltDel; the same VM from a config file;
# and the bad requests a client can send. The guest is the kit's "ticker",
# which prints a tick each RTC second and powers off on Ctrl-Alt-Del.
# Usage: api.sh [EMBER_BINARY]
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh
# "yes" where this kernel enforces Landlock (ember --landlock says when not).
LANDLOCK=yes
"$EMBER" run --landlock --kernel /nonexistent </dev/null 2>&1 | grep -q "Landlock is" && LANDLOCK=""

KIT=$PWD/build/guests/kit.elf
SOCK=$TMP/api.sock

# api METHOD PATH [BODY]: one request; sets CODE and leaves the body in $TMP/body.
api() {
    local data=()
    [ $# -ge 3 ] && data=(-H 'Content-Type: application/json' -d "$3")
    CODE=$(curl -s --max-time 30 --unix-socket "$SOCK" -X "$1" "http://localhost$2" "${data[@]}" \
        -o "$TMP/body" -w '%{http_code}')
}
# check NAME WANT_CODE [BODY_REGEX]: the last request's answer.
check() {
    local why=""
    [ "$CODE" = "$2" ] || why="HTTP $CODE, expected $2"
    [ -z "$why" ] && [ $# -ge 3 ] && ! grep -qE -- "$3" "$TMP/body" && why="body lacks /$3/: $(head -c 300 "$TMP/body")"
    if [ -z "$why" ]; then pass "$1"; else fail "$1" "$why"; fi
}
# start_ember ARGS...: ember in the background, its socket ready.
start_ember() {
    rm -f "$TMP/raw" "$TMP/err"
    "$EMBER" "$@" </dev/null >"$TMP/raw" 2>"$TMP/err" &
    EMBER_PID=$!
    # Ready when it answers (a stale socket file may be there before).
    for _ in $(seq 100); do
        curl -s --max-time 2 --unix-socket "$SOCK" http://localhost/ -o /dev/null 2>/dev/null && return 0
        kill -0 "$EMBER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# finish: waits for ember to end; sets STATUS and $TMP/out.
finish() {
    local i
    for i in $(seq 600); do kill -0 "$EMBER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$EMBER_PID" 2>/dev/null && kill -9 "$EMBER_PID"
    wait "$EMBER_PID"
    STATUS=$?
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
    # A sanitizer report from a background ember reaches the suite's log.
    grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/err" && cat "$TMP/err"
}
ticks() { tr -d '\r' <"$TMP/raw" | grep -c '^tick '; }
wait_ticks() { for _ in $(seq 200); do [ "$(ticks)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }

# --- Firecracker's getting-started sequence, pause, resume, metrics, Ctrl-Alt-Del
for mode in kernel user; do
    t="api ($mode irqchip)"
    rm -f "$TMP/metrics" "$TMP/log"
    : >"$TMP/metrics"; : >"$TMP/log" # Firecracker's rule: the paths must exist
    mkdir -p "$TMP/vm" "$TMP/granted" "$TMP/elsewhere"
    truncate -s 16M "$TMP/vm/root.img"
    truncate -s 32M "$TMP/granted/other.img" "$TMP/elsewhere/outside.img"
    # Landlock (on where the kernel has it): PATCH /drives may later open
    # only what the configuration or --landlock-rule names.
    if ! start_ember --api-sock "$SOCK" --irqchip "$mode" --landlock-rule "path=$TMP/granted/other.img,access=rw"; then
        fail "$t: socket" "ember did not create it"; continue; fi
    perm=$(stat -c %a "$SOCK")
    if [ "$perm" = 600 ]; then pass "$t: the socket is mode 0600"; else fail "$t: the socket is mode 0600" "$perm"; fi
    api GET /; check "$t: GET / before boot" 200 '"state":"Not started"'
    api PUT /logger "{\"log_path\":\"$TMP/log\",\"level\":\"Info\",\"show_level\":true}"; check "$t: PUT /logger" 204
    api PUT /metrics "{\"metrics_path\":\"$TMP/metrics\"}"; check "$t: PUT /metrics" 204
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=ticker max=60\"}"
    check "$t: PUT /boot-source" 204
    api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":64}'; check "$t: PUT /machine-config" 204
    api GET /machine-config; check "$t: GET /machine-config" 200 '"vcpu_count":2,"mem_size_mib":64'
    api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$TMP/vm/root.img\",\"is_root_device\":true,\"is_read_only\":false}"
    check "$t: PUT /drives/rootfs" 204
    api PUT /entropy '{}'; check "$t: PUT /entropy" 204
    api GET /vm/config; check "$t: GET /vm/config" 200 '"drive_id":"rootfs".*"is_root_device":true'
    api PATCH /vm '{"state":"Paused"}'; check "$t: PATCH /vm before boot is refused" 400 'not supported before starting'
    api PUT /actions '{"action_type":"InstanceStart"}'; check "$t: InstanceStart" 204
    api GET /; check "$t: GET / after boot" 200 '"state":"Running"'
    api PUT /actions '{"action_type":"InstanceStart"}'; check "$t: a second InstanceStart is refused" 400 'not supported after starting'
    api PUT /machine-config '{"vcpu_count":1,"mem_size_mib":64}'; check "$t: machine-config after boot is refused" 400 'not supported after starting'
    api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$TMP/vm/root.img\",\"is_root_device\":true,\"is_read_only\":true}"
    check "$t: PUT /drives after boot is refused" 400 'not supported after starting'
    if wait_ticks 2; then pass "$t: the guest runs (ticks)"; else fail "$t: the guest runs" "no ticks"; fi
    api PATCH /vm '{"state":"Paused"}'; check "$t: PATCH /vm Paused" 204
    api GET /; check "$t: GET / while paused" 200 '"state":"Paused"'
    api GET /vcpus; check "$t: every vCPU is paused" 200 '^\[\{"id":0,"state":"paused"\},\{"id":1,"state":"paused"\}\]$'
    before=$(ticks); sleep 2.5; after=$(ticks)
    if [ "$after" -le $((before + 1)) ]; then pass "$t: no ticks while paused"; else
        fail "$t: no ticks while paused" "$before then $after"; fi
    api PATCH /vm '{"state":"Resumed"}'; check "$t: PATCH /vm Resumed" 204
    api GET /; check "$t: GET / after resume" 200 '"state":"Running"'
    if wait_ticks $((after + 2)); then pass "$t: ticks again after resume"; else fail "$t: ticks after resume" "none"; fi
    if [ -n "$LANDLOCK" ]; then
        api PATCH /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$TMP/elsewhere/outside.img\"}"
        check "$t: Landlock: PATCH /drives to an image outside the rules is refused, saying why" 400 \
            'outside.img: cannot open: Permission denied \(outside the paths ember.s Landlock rules allow: grant it with --landlock-rule'
    else
        skip "$t: Landlock: PATCH /drives outside the rules" "this kernel has no Landlock"
    fi
    api PATCH /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$TMP/granted/other.img\"}"
    check "$t: PATCH /drives moves the running disk to another image (one --landlock-rule grants)" 204
    api GET /vm/config; check "$t: GET /vm/config shows the new image" 200 'other.img'
    api PATCH /drives/rootfs '{"drive_id":"rootfs","path_on_host":"/no/such.img"}'
    check "$t: PATCH /drives to a missing image is refused" 400 'no/such.img: cannot open'
    api PATCH /drives/nodrive "{\"drive_id\":\"nodrive\",\"path_on_host\":\"$TMP/granted/other.img\"}"
    check "$t: PATCH of an unknown drive" 400 'no such drive'
    api PATCH /drives/rootfs '{"drive_id":"rootfs"}'
    check "$t: PATCH /drives with only drive_id is refused" 400 'Only updates on path_on_host or rate_limiter'
    api PATCH /drives/rootfs '{"drive_id":"rootfs","rate_limiter":{"bandwidth":{"size":1048576,"refill_time":1000}}}'
    check "$t: PATCH /drives sets a rate limiter on the running disk" 204
    api PATCH /drives/rootfs '{"drive_id":"rootfs","rate_limiter":{"ops":{"size":100,"one_time_burst":10,"refill_time":1000}}}'
    check "$t: PATCH /drives adds an ops bucket" 204
    api GET /vm/config
    check "$t: GET /vm/config: the ops bucket added, the bandwidth bucket kept (Firecracker's PATCH rule)" 200 \
        '"rate_limiter":\{"bandwidth":\{"size":1048576,"one_time_burst":0,"refill_time":1000\},"ops":\{"size":100,"one_time_burst":10,"refill_time":1000\}\}'
    api PATCH /drives/rootfs '{"drive_id":"rootfs","rate_limiter":{"bandwidth":{"size":0,"refill_time":0},"ops":{"size":0,"refill_time":0}}}'
    check "$t: PATCH /drives removes the limits (size 0)" 204
    api GET /vm/config; check "$t: GET /vm/config: no rate limiter left" 200 '"rate_limiter":null'
    api PUT /actions '{"action_type":"FlushMetrics"}'; check "$t: FlushMetrics" 204
    if grep -q '"put_api_requests":{.*"actions_count"' "$TMP/metrics" && grep -q '"exit_io_out":[1-9]' "$TMP/metrics" &&
        grep -q '"block_rootfs":{' "$TMP/metrics" && grep -q '"entropy":{' "$TMP/metrics"; then
        pass "$t: the metrics line has request, vCPU and device counters"
    else fail "$t: metrics" "$(head -c 400 "$TMP/metrics")"; fi
    api PUT /actions '{"action_type":"SendCtrlAltDel"}'; check "$t: SendCtrlAltDel" 204
    finish
    # With a log file, ember's lines go there and stderr keeps the errors only.
    if [ "$STATUS" = 0 ] && grep -q "ctrl-alt-del received" "$TMP/out" && grep -q "^PASS ticker" "$TMP/out"; then
        pass "$t: the guest saw Ctrl-Alt-Del and powered off"
    else fail "$t: the guest saw Ctrl-Alt-Del" "exit $STATUS"; dump_last; fi
    if grep -q "guest powered off" "$TMP/log" && [ ! -s "$TMP/err" ]; then pass "$t: the log file, not stderr, has the end"
    else fail "$t: the log file has the end" "log: $(tail -1 "$TMP/log"); stderr: $(head -1 "$TMP/err")"; fi
    if [ ! -e "$SOCK" ]; then pass "$t: the socket is removed at exit"; else fail "$t: the socket is removed" "still there"; fi
    if grep -q "Info virtio-blk0: now on $TMP/granted/other.img (65536 sectors)" "$TMP/log"; then
        pass "$t: the disk reports its new image and capacity"; else fail "$t: the disk's new image" "not in the log"; fi
    if grep -q "Info VM paused" "$TMP/log"; then pass "$t: the log file has leveled lines"; else
        fail "$t: the log file" "$(head -3 "$TMP/log")"; fi
    n=$(wc -l <"$TMP/metrics")
    if [ "$n" -ge 2 ]; then pass "$t: a last metrics line at exit"; else fail "$t: a last metrics line at exit" "$n lines"; fi
done

# --- the same kind of VM from a config file, with and without the API
truncate -s 16M "$TMP/root.img" "$TMP/other.img"
cat >"$TMP/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$KIT", "boot_args": "console=ttyS0 test=virtio-blk expect_serial=rootfs expect_sectors=32768 sector=7"},
  "drives": [{"drive_id": "rootfs", "path_on_host": "$TMP/root.img", "is_root_device": true, "is_read_only": false}],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 64},
  "entropy": {}
}
JSON
timeout 120 "$EMBER" --no-api --config-file "$TMP/vm.json" </dev/null >"$TMP/raw" 2>"$TMP/err"
STATUS=$?
tr -d '\r' <"$TMP/raw" >"$TMP/out"
expect "config file, --no-api: boots and drives the disk (serial = drive id)" 0 "guest powered off" "^PASS virtio-blk"
start_ember --api-sock "$SOCK" --config-file "$TMP/vm.json" >/dev/null
api GET /vm/config; check "config file with --api-sock: GET /vm/config" 200 '"drive_id":"rootfs"'
finish
expect "config file with --api-sock: the VM ran" 0 "guest powered off" "^PASS virtio-blk"

# A stop while paused: the held device threads and parked vCPUs all end (a
# held I/O thread used to wait for a release that never came: ember hung).
sed 's/test=virtio-blk expect_serial=rootfs expect_sectors=32768 sector=7/test=ticker/' "$TMP/vm.json" >"$TMP/ticker.json"
start_ember --api-sock "$SOCK" --config-file "$TMP/ticker.json" >/dev/null
# As in Firecracker, the first answer comes once the config file's VM runs
# (ember used to answer "Not started" and refuse the PATCH below).
api GET /; check "config file: the API's first answer comes with the VM running" 200 '"state":"Running"'
api PATCH /vm '{"state":"Paused"}'; check "config file, paused: PATCH /vm Paused" 204
t0=$(date +%s%N)
kill -TERM "$EMBER_PID"
finish
ms=$((($(date +%s%N) - t0) / 1000000))
expect "config file, paused: SIGTERM ends ember" 0 "stopped by"
if [ $ms -le 2000 ]; then pass "config file, paused: SIGTERM ends ember within 2 s ($ms ms)"; else
    fail "config file, paused: SIGTERM ends ember within 2 s" "$ms ms"; fi

# --- rate limiters: requests the token buckets hold back still complete, and
# they take at least the time the buckets allow (a lower bound: a slow host
# only adds to it). The throttled requests show in the metrics.
# rl_run NAME CONFIG_JSON MIN_MS PASS_REGEX METRICS_REGEX (ember runs under $RL_WRAP)
RL_WRAP=
rl_run() {
    : >"$TMP/metrics"
    printf '%s\n' "$2" >"$TMP/rl.json"
    local t0 ms
    t0=$(date +%s%N)
    timeout 120 $RL_WRAP "$EMBER" --no-api --config-file "$TMP/rl.json" </dev/null >"$TMP/raw" 2>"$TMP/err"
    STATUS=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
    expect "$1: every request completes" 0 "guest powered off" "$4"
    if [ "$ms" -ge "$3" ]; then pass "$1: held to the limit (${ms} ms, at least $3)"; else
        fail "$1: held to the limit" "${ms} ms, expected at least $3"; fi
    if grep -qE "$5" "$TMP/metrics" 2>/dev/null; then pass "$1: the metrics count throttled requests"; else
        fail "$1: the metrics count throttled requests" "$(head -c 300 "$TMP/metrics" 2>/dev/null)"; fi
}
# The kit's disk test makes 8 requests that pass the checks. The bucket holds
# 2 and refills 2 per second: after the first 2, 6 at 500 ms each, 3 s or more.
rl_run "rate limiter, drive ops (2 per second)" "{
  \"boot-source\": {\"kernel_image_path\": \"$KIT\", \"boot_args\": \"console=ttyS0 test=virtio-blk expect_serial=rootfs sector=9\"},
  \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"$TMP/root.img\", \"is_root_device\": true, \"is_read_only\": false,
               \"rate_limiter\": {\"ops\": {\"size\": 2, \"refill_time\": 1000}}}],
  \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64},
  \"metrics\": {\"metrics_path\": \"$TMP/metrics\"}}" 3000 "^PASS virtio-blk" '"block_rootfs":\{[^}]*"rate_limiter_throttled_events":[1-9]'
# 8 requests of 64 bytes at 64 bytes per 250 ms after the first: 1.75 s or more.
rl_run "rate limiter, entropy bandwidth (64 bytes per 250 ms)" "{
  \"boot-source\": {\"kernel_image_path\": \"$KIT\", \"boot_args\": \"console=ttyS0 test=virtio-rng rngreqs=6\"},
  \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64},
  \"entropy\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 64, \"refill_time\": 250}}},
  \"metrics\": {\"metrics_path\": \"$TMP/metrics\"}}" 1750 "^virtio-rng: 6 more requests answered" '"entropy_rate_limiter_throttled":[1-9]'

# The network, each way, in a network namespace of its own with tap emb0
# (IPv6 off, so the host sends the guest nothing but replies). The kit sends
# an ARP request and then a ping. Transmit: 1 frame per 2 s, so the ping
# waits 2 s. Receive: 1 frame per 4 s, so the echo reply (the ping went out
# 2 s after the ARP reply came in) waits about 2 s more: 4 s or more in all.
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    printf '%s\n' '#!/bin/sh' 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' \
        'ip link set lo up && ip tuntap add dev emb0 mode tap && ip addr add 10.77.0.1/24 dev emb0 &&' \
        'ip link set emb0 up && exec "$@"' >"$TMP/in-netns"
    chmod +x "$TMP/in-netns"
    RL_WRAP="unshare --net $TMP/in-netns"
    rl_run "rate limiter, network (tx 1 frame per 2 s, rx 1 frame per 4 s)" "{
  \"boot-source\": {\"kernel_image_path\": \"$KIT\", \"boot_args\": \"console=ttyS0 test=virtio-net\"},
  \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"emb0\", \"guest_mac\": \"02:00:00:00:00:07\",
      \"tx_rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 2000}},
      \"rx_rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 4000}}}],
  \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64},
  \"metrics\": {\"metrics_path\": \"$TMP/metrics\"}}" 4000 "^PASS virtio-net" \
        '"net_eth0":\{[^}]*"rx_rate_limiter_throttled":[1-9][0-9]*,"tx_rate_limiter_throttled":[1-9]'
    RL_WRAP=
else
    skip "rate limiter, network" "needs root and unshare to make a network namespace with a tap"
fi

# --- Firecracker's command line: what its SDK, firectl and jailer pass
# firecracker-go-sdk's default launch line, with Firecracker's logger flags.
rm -f "$SOCK" "$TMP/fclog"
: >"$TMP/fclog"
if start_ember --api-sock "$SOCK" --id my-vm-1 --no-seccomp --log-path "$TMP/fclog" --level Debug --show-level \
    --show-log-origin --http-api-max-payload-size 200 --boot-timer --start-time-us 1 --start-time-cpu-us 0 \
    --parent-cpu-time-us 5; then
    api GET /; check "command line: --id shows in GET /" 200 '"id":"my-vm-1"'
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"test=boot-timer $(printf 'x%.0s' $(seq 150))\"}"
    check "command line: --http-api-max-payload-size 200 refuses a 250-byte body" 400 'larger than the limit of 200'
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"test=boot-timer\"}"
    check "command line: a body under the limit is taken" 204
    api PUT /actions '{"action_type":"InstanceStart"}'; check "command line: InstanceStart" 204
    finish
    if [ "$STATUS" -eq 0 ] && grep -q "PASS boot-timer" "$TMP/out" &&
        grep -qE '\[my-vm-1:[^]]*\] Info Guest-boot-time = +[0-9]+ us [0-9]+ ms, +[0-9]+ CPU us [0-9]+ CPU ms' "$TMP/fclog" &&
        [ "$(grep -c Guest-boot-time "$TMP/fclog")" -eq 1 ]; then
        pass "command line: --boot-timer logs Firecracker's Guest-boot-time line once (the guest wrote 123 to 0x3f0), in --log-path's file with --id and --show-level"
    else
        fail "command line: --boot-timer, --log-path, --level, --show-level" "status $STATUS; log: $(grep -i "boot\|my-vm" "$TMP/fclog" | head -3)"
    fi
    # --start-time-us 1: the boot time counts from the monotonic clock's start (about the host's uptime).
    us=$(grep -o 'Guest-boot-time = *[0-9]*' "$TMP/fclog" | grep -o '[0-9]*$')
    up=$(cut -d. -f1 /proc/uptime)
    if [ -n "$us" ] && [ "$us" -ge $(( (up - 5) * 1000000 )) ]; then pass "command line: --start-time-us is where the boot time counts from ($us us)"
    else fail "command line: --start-time-us" "boot time ${us:-none} us, host up ${up} s"; fi
else
    fail "command line: firecracker-go-sdk's launch line (--id, --no-seccomp) and Firecracker's logger flags" "$(head -3 "$TMP/err")"
fi
for bad in "--id bad_id" "--id $(printf 'a%.0s' $(seq 65))" "--http-api-max-payload-size 0" "--level Loud" "--start-time-us -1"; do
    "$EMBER" --api-sock "$SOCK" $bad </dev/null >/dev/null 2>"$TMP/err"
    st=$?
    if [ "$st" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then pass "command line: $(cut -c1-40 <<<"$bad") refused: $(cat "$TMP/err")"
    else fail "command line: $bad refused" "status $st: $(head -2 "$TMP/err")"; fi
done
printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "test=hello"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}\n' "$KIT" >"$TMP/vm2.json"
: >"$TMP/fcmetrics"
"$EMBER" --config-file "$TMP/vm2.json" --no-api --metrics-path "$TMP/fcmetrics" </dev/null >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" -eq 0 ] && grep -q '"utc_timestamp_ms"' "$TMP/fcmetrics" && grep -q '"seccomp":{"num_faults":0}' "$TMP/fcmetrics"; then
    pass "command line: --metrics-path gets the metrics lines (with seccomp.num_faults)"
else
    fail "command line: --metrics-path" "status $st; $(head -c 200 "$TMP/fcmetrics") $(head -2 "$TMP/err")"
fi

# --- firecracker-go-sdk's default sequence, then firectl's: its launch line,
# FIFOs for the logger and metrics that nobody reads yet, its requests in its
# order with its bodies (machine.go's handlers), InstanceStart, GET
# /machine-config; firectl's smt:true and a multicast-bit guest_mac from
# Firecracker's test_api.py; Expect: 100-continue on a body over 1 KiB.
rm -f "$SOCK" "$TMP/sdk.log" "$TMP/sdk.metrics"
mkfifo "$TMP/sdk.log" "$TMP/sdk.metrics"
truncate -s 16M "$TMP/sdk.img"
if start_ember --api-sock "$SOCK" --id sdk-vm --no-seccomp; then
    api PUT /logger "{\"log_path\":\"$TMP/sdk.log\",\"level\":\"Debug\",\"show_level\":true,\"show_log_origin\":false}"
    check "go-sdk: PUT /logger on a FIFO nobody reads yet" 204
    api PUT /metrics "{\"metrics_path\":\"$TMP/sdk.metrics\"}"; check "go-sdk: PUT /metrics on a FIFO" 204
    (cat "$TMP/sdk.log" >"$TMP/sdk.log.out" &) # the SDK's reader, started later
    api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":64,"smt":true,"track_dirty_pages":false}'
    check "go-sdk/firectl: PUT /machine-config with smt:true" 204
    big=$(head -c 1500 /dev/zero | tr '\0' x)
    t0=$(date +%s%N)
    curl -sv --max-time 30 --unix-socket "$SOCK" -X PUT http://localhost/boot-source -H 'Content-Type: application/json' -H 'Expect: 100-continue' \
        -d "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=hello pad=$big\"}" \
        -o "$TMP/body" -w '%{http_code}' >"$TMP/code" 2>"$TMP/curl.v"
    ms=$((($(date +%s%N) - t0) / 1000000)); CODE=$(cat "$TMP/code")
    check "go-sdk: PUT /boot-source (a 1.5 KiB body)" 204
    if grep -q "HTTP/1.1 100 Continue" "$TMP/curl.v" && [ "$ms" -lt 800 ]; then
        pass "Expect: 100-continue is answered: curl does not wait its second (${ms} ms)"
    else fail "Expect: 100-continue" "${ms} ms; $(grep -c '100 Continue' "$TMP/curl.v") 100 lines"; fi
    api PUT /drives/1 "{\"drive_id\":\"1\",\"is_root_device\":true,\"path_on_host\":\"$TMP/sdk.img\"}"
    check "go-sdk: PUT /drives/1 without is_read_only (default false)" 204
    api PUT /drives/2 "{\"drive_id\":\"2\",\"is_root_device\":false,\"is_read_only\":null,\"path_on_host\":\"$TMP/other.img\"}"
    check "PUT /drives with is_read_only null" 204
    api PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"embsdk0","guest_mac":"07:00:00:00:00:01"}'
    check "test_api.py's guest_mac 07:00:00:00:00:01 is accepted" 204
    api PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"embsdk0","guest_mac":"07:00:00:00:00"}'
    check "a five-byte guest_mac is refused" 400 'invalid guest_mac'
    api GET /vm/config; check "GET /vm/config: smt and the drives" 200 '"smt":true'
    # No tap for the VM here: the interface goes again by a fresh ember below.
    kill "$EMBER_PID" 2>/dev/null; wait "$EMBER_PID" 2>/dev/null
    if grep -q "\[sdk-vm:" "$TMP/sdk.log.out"; then pass "go-sdk: its FIFO reader gets the log lines ([sdk-vm:...])"
    else fail "go-sdk: the FIFO log" "$(head -c 200 "$TMP/sdk.log.out")"; fi
else
    fail "go-sdk: the launch line" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
if start_ember --api-sock "$SOCK" --id sdk-vm2 --no-seccomp; then
    api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":64,"smt":true}'
    # The idle guest keeps the VM up for the requests after InstanceStart.
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=idle\"}"
    api PUT /actions '{"action_type":"InstanceStart"}'; check "go-sdk: InstanceStart" 204
    api GET /machine-config; check "go-sdk: GET /machine-config after start" 200 '"vcpu_count":2,"mem_size_mib":64,"smt":true'
    api PUT /actions '{"action_type":"FlushMetrics"}'; check "FlushMetrics after boot without metrics: a no-op" 204
    kill -TERM "$EMBER_PID"
    finish
    expect "go-sdk: the guest (2 vCPUs, smt) ran until SIGTERM" 0 "stopped by" "idle: sti; hlt"
else
    fail "go-sdk: the second launch" "$(head -3 "$TMP/err")"
fi

# --- GET /vm/config in Firecracker's shape (all eleven keys, null when unset;
# boot-source an object before it is set; the root drive first), and
# io_engine meaning what it says: Sync drives do synchronous I/O on their
# thread, Async ones io_uring (seen as the io_uring descriptors ember holds).
rm -f "$SOCK"
# uring_fds: once the idle guest runs (its devices are made by then).
uring_fds() {
    for _ in $(seq 100); do grep -q "idle: sti" "$TMP/raw" && break; sleep 0.05; done
    find "/proc/$EMBER_PID/fd" -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l
}
if start_ember --api-sock "$SOCK"; then
    api GET /vm/config
    keys=$(jq -c 'keys' "$TMP/body" 2>/dev/null)
    want='["balloon","boot-source","cpu-config","drives","entropy","logger","machine-config","metrics","mmds-config","network-interfaces","vsock"]'
    if [ "$keys" = "$want" ]; then pass "GET /vm/config before any PUT: all eleven keys"; else
        fail "GET /vm/config: all eleven keys" "$keys"; fi
    if jq -e '."boot-source" == {"kernel_image_path":"","initrd_path":null,"boot_args":null} and .balloon == null
              and .vsock == null and ."cpu-config" == null and .drives == [] and .entropy == null' "$TMP/body" >/dev/null
    then pass "GET /vm/config before any PUT: boot-source an object, the rest null or empty"; else
        fail "GET /vm/config: boot-source an object" "$(head -c 300 "$TMP/body")"; fi
    truncate -s 16M "$TMP/eng-root.img" "$TMP/eng-data.img" "$TMP/eng-data2.img"
    api PUT /drives/data "{\"drive_id\":\"data\",\"path_on_host\":\"$TMP/eng-data.img\",\"is_root_device\":false}"
    check "PUT /drives/data without io_engine" 204
    api PUT /drives/data2 "{\"drive_id\":\"data2\",\"path_on_host\":\"$TMP/eng-data2.img\",\"is_root_device\":false,\"io_engine\":\"Sync\"}"
    check "PUT /drives/data2 io_engine Sync" 204
    api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$TMP/eng-root.img\",\"is_root_device\":true,\"io_engine\":\"Async\"}"
    check "PUT /drives/rootfs io_engine Async" 204
    api PUT /drives/bad "{\"drive_id\":\"bad\",\"path_on_host\":\"$TMP/eng-data.img\",\"is_root_device\":false,\"io_engine\":\"Posix\"}"
    check "io_engine Posix is refused" 400 'unknown variant `Posix`'
    api GET /vm/config
    got=$(jq -c '[.drives[] | [.drive_id, .io_engine, .socket]]' "$TMP/body" 2>/dev/null)
    if [ "$got" = '[["rootfs","Async",null],["data","Sync",null],["data2","Sync",null]]' ]; then
        pass "GET /vm/config: the root drive first; io_engine as put, Sync by default"
    else fail "GET /vm/config: drives" "$got"; fi
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=idle\"}"
    api GET /vm/config
    if jq -e '."boot-source" == {"kernel_image_path":"'"$KIT"'","initrd_path":null,"boot_args":"console=ttyS0 test=idle"}' \
        "$TMP/body" >/dev/null; then pass "GET /vm/config: boot-source as put"; else
        fail "GET /vm/config: boot-source as put" "$(jq -c '."boot-source"' "$TMP/body")"; fi
    api PUT /actions '{"action_type":"InstanceStart"}'; check "io_engine: InstanceStart" 204
    n=$(uring_fds)
    if [ "$n" = 1 ]; then pass "io_engine: one io_uring, the Async drive's; the two Sync drives have none"; else
        fail "io_engine: io_uring descriptors" "$n, expected 1"; fi
    kill -TERM "$EMBER_PID"; finish
else
    fail "GET /vm/config: the launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
# The command line's default is io_uring where the host has it; io_engine=sync turns it off.
for eng in "" ",io_engine=sync" ",io_engine=async"; do
    if start_ember --api-sock "$SOCK" --kernel "$KIT" --cmdline "console=ttyS0 test=idle" --disk "$TMP/eng-data.img$eng"; then
        n=$(uring_fds); want=1; [ "$eng" = ",io_engine=sync" ] && want=0
        if [ "$n" = "$want" ]; then pass "--disk ...${eng:-(default)}: $n io_uring"; else
            fail "--disk ...${eng:-(default)}: io_uring descriptors" "$n, expected $want"; fi
        kill -TERM "$EMBER_PID"; finish
    else fail "--disk ...$eng: the launch" "$(head -3 "$TMP/err")"; fi
    rm -f "$SOCK"
done

# --- CPU templates: PUT /cpu-config (a custom template in Firecracker's JSON),
# machine-config's static cpu_template (deprecated: Deprecation: true), one
# slot for both, checked against the host at InstanceStart (a failed start
# leaves ember serving), refused after boot; a config file's "cpu-config" is
# a template file's path.
vendor=$(grep -m1 vendor_id /proc/cpuinfo | awk '{print $3}')
mine=T2; other=T2A; [ "$vendor" = AuthenticAMD ] && mine=T2A other=T2
rm -f "$SOCK"
if start_ember --api-sock "$SOCK"; then
    api PUT /cpu-config '{"foo": false}'; check "PUT /cpu-config with an unknown field (test_api.py's) is refused" 400 'foo'
    api PUT /cpu-config '{"cpuid_modifiers":[{"leaf":"69","subleaf":"0x0","flags":0,"modifiers":[]}]}'
    check "PUT /cpu-config with a decimal leaf is refused as Firecracker does" 400 'No supported number system prefix found in value \[69\]'
    api PUT /cpu-config '{"kvm_capabilities":["!56"],"cpuid_modifiers":[{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b0101"}]}],"msr_modifiers":[{"addr":"0x10a","bitmap":"0bxxxx"}]}'
    check "PUT /cpu-config with a custom template" 204
    api GET /machine-config; check "GET /machine-config: a custom template shows as cpu_template None" 200 '"cpu_template":"None"'
    api GET /vm/config; check "GET /vm/config: cpu-config null, as Firecracker answers" 200 '"cpu-config":null'
    CODE=$(curl -s -D "$TMP/headers" --max-time 30 --unix-socket "$SOCK" -X PATCH http://localhost/machine-config \
        -H 'Content-Type: application/json' -d "{\"cpu_template\":\"$other\"}" -o "$TMP/body" -w '%{http_code}')
    check "PATCH /machine-config cpu_template $other (the last one wins)" 204
    if grep -qi '^Deprecation: true' "$TMP/headers"; then pass "cpu_template: the answer carries Deprecation: true"
    else fail "cpu_template: Deprecation header" "$(tr -d '\r' <"$TMP/headers" | tr '\n' '|')"; fi
    api PATCH /machine-config '{"cpu_template":"random_string"}'
    check "an unknown cpu_template is refused" 400 'unknown variant `random_string`'
    api GET /machine-config; check "GET /machine-config shows $other" 200 "\"cpu_template\":\"$other\""
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=idle\"}"
    api PUT /actions '{"action_type":"InstanceStart"}'
    check "InstanceStart with $other on a $vendor host: refused, saying why" 400 \
        'Cannot start the microVM: .*CPU vendor mismatched between actual CPU and CPU template'
    api PATCH /machine-config "{\"cpu_template\":\"$mine\"}"; check "then cpu_template $mine" 204
    api PUT /actions '{"action_type":"InstanceStart"}'; check "InstanceStart with $mine" 204
    api PUT /cpu-config '{}'; check "PUT /cpu-config after boot is refused" 400 'not supported after starting'
    kill -TERM "$EMBER_PID"; finish
    expect "the guest ran with $mine until SIGTERM" 0 "stopped by" "idle: sti; hlt"
else
    fail "cpu-config: the launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
echo '{"cpuid_modifiers":[{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b0101"}]}]}' >"$TMP/tmpl.json"
sed "s|\"boot-source\"|\"cpu-config\": \"$TMP/tmpl.json\", \"boot-source\"|; s/test=virtio-blk expect_serial=rootfs expect_sectors=32768 sector=7/test=cpuid/" \
    "$TMP/vm.json" >"$TMP/cpu.json"
"$EMBER" --config-file "$TMP/cpu.json" --no-api </dev/null >"$TMP/raw" 2>"$TMP/err"; STATUS=$?
tr -d '\r' <"$TMP/raw" >"$TMP/out"
expect "config file with \"cpu-config\": a template file's path" 0 "guest powered off" "^PASS cpuid"
sed -i "s|$TMP/tmpl.json|$TMP/no-such-template.json|" "$TMP/cpu.json"
"$EMBER" --config-file "$TMP/cpu.json" --no-api </dev/null >"$TMP/out" 2>"$TMP/err"; STATUS=$?
expect "config file with a missing cpu-config file: refused, naming it" 2 "cpu-config: .*no-such-template.json"

# --- kata-containers' Firecracker drivers. The Go runtime (virtcontainers/
# fc.go): checks `firecracker --version` (0.21.1 or later), launches
# `firecracker --api-sock S --config-file fcConfig.json` with the logger and
# metrics on FIFOs it reads, its root image read-only and not a root device,
# eight empty placeholder drives drive_0..drive_7 for hot-plug; polls GET /
# until Running; hot-plugs by putting an image where a placeholder was and
# sending PATCH /drives/drive_N with the same path, unplugs the same way; finds
# the vCPU threads by their names ("fc_vcpu N"); stops with SIGTERM. The Rust
# runtime (runtime-rs): the API only, drive1..drive5, PATCH with a real path
# and a rate limiter, SIGKILL. Its network interface needs a tap: left out.
# Its vsock is there (the agent's channel; connections: test_vsock and the
# test bed).
KATA=$TMP/kata; rm -rf "$KATA"; mkdir -p "$KATA/root/run"
ln -sf "$(cd "$(dirname "$EMBER")" && pwd)/$(basename "$EMBER")" "$KATA/firecracker"
ver=$("$KATA/firecracker" --version | head -1 | awk '{print $2}'); ver=${ver#v}
if [ "$(printf '%s\n' 0.21.1 "$ver" | sort -V | head -1)" = 0.21.1 ]; then
    pass "kata: \`firecracker --version\` (ember under Firecracker's name) says $ver, at least kata's 0.21.1"
else fail "kata: firecracker --version" "'$ver' from: $("$KATA/firecracker" --version | head -1)"; fi
mkfifo "$KATA/root/logs.fifo" "$KATA/root/metrics.fifo"
truncate -s 16M "$KATA/root/rootfs"
for i in 0 1 2 3 4 5 6 7; do : >"$KATA/root/drive_$i"; done
# holds_file PATH: ember has this very file open (the same inode).
holds_file() {
    local want fd; want=$(stat -c %d:%i "$1")
    for fd in /proc/"$EMBER_PID"/fd/*; do [ "$(stat -L -c %d:%i "$fd" 2>/dev/null)" = "$want" ] && return 0; done
    return 1
}
kata_config() { # $1: the vsock section's line ("" for none)
    {
        printf '{\n\t"boot-source": {\n\t\t"kernel_image_path": "%s",\n' "$KIT"
        printf '\t\t"boot_args": "console=ttyS0 test=idle root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 pci=off reboot=k panic=1 iommu=off net.ifnames=0 random.trust_cpu=on acpi=off"\n\t},\n'
        printf '\t"machine-config": {\n\t\t"smt": false,\n\t\t"mem_size_mib": 64,\n\t\t"vcpu_count": 2\n\t},\n'
        printf '%s' "$1"
        printf '\t"logger": {\n\t\t"level": "Error",\n\t\t"log_path": "%s"\n\t},\n' "$KATA/root/logs.fifo"
        printf '\t"metrics": {\n\t\t"metrics_path": "%s"\n\t},\n' "$KATA/root/metrics.fifo"
        printf '\t"drives": [\n\t\t{\n\t\t\t"drive_id": "rootfs",\n\t\t\t"is_read_only": true,\n\t\t\t"is_root_device": false,\n\t\t\t"path_on_host": "%s"\n\t\t}' "$KATA/root/rootfs"
        for i in 0 1 2 3 4 5 6 7; do
            printf ',\n\t\t{\n\t\t\t"drive_id": "drive_%s",\n\t\t\t"is_read_only": false,\n\t\t\t"is_root_device": false,\n\t\t\t"path_on_host": "%s"\n\t\t}' "$i" "$KATA/root/drive_$i"
        done
        printf '\n\t]\n}\n'
    } >"$KATA/root/fcConfig.json"
}
kata_config "$(printf '\t"vsock": {\n\t\t"guest_cid": 3,\n\t\t"uds_path": "%s",\n\t\t"vsock_id": "root"\n\t},\n' "$KATA/root/kata.hvsock")"
(cat "$KATA/root/logs.fifo" >"$KATA/logs" &); (cat "$KATA/root/metrics.fifo" >"$KATA/metrics" &)
SOCK_SAVED=$SOCK; SOCK=$KATA/root/run/firecracker.socket
EMBER_SAVED=$EMBER; EMBER=$KATA/firecracker
if start_ember --api-sock "$SOCK" --config-file "$KATA/root/fcConfig.json"; then
    state=""
    for _ in $(seq 1100); do # kata: GET / every 10 ms, for up to 11 s
        api GET /; state=$(jq -r .state "$TMP/body" 2>/dev/null); [ "$state" = Running ] && break; sleep 0.01
    done
    if [ "$state" = Running ]; then pass "kata: GET / says Running"; else fail "kata: GET / says Running" "$state"; fi
    uring_fds >/dev/null # the guest runs
    names=$(cat /proc/"$EMBER_PID"/task/*/comm | grep '^fc_vcpu' | sort | tr '\n' ,)
    if [ "$names" = "fc_vcpu 0,fc_vcpu 1," ]; then pass "kata: the vCPU threads are named fc_vcpu 0 and fc_vcpu 1"
    else fail "kata: vCPU thread names" "$names"; fi
    api GET /vm/config
    got=$(jq -c '[.drives[] | .drive_id] | [length, .[0], .[8]]' "$TMP/body")
    if [ "$got" = '[9,"rootfs","drive_7"]' ]; then pass "kata: nine drives, its read-only image first"; else
        fail "kata: the drives" "$got"; fi
    # Hot-plug: another image where drive_3's placeholder was (kata bind-mounts it), same path.
    truncate -s 8M "$KATA/image3"; mv "$KATA/image3" "$KATA/root/drive_3"
    api PATCH /drives/drive_3 "{\"drive_id\":\"drive_3\",\"path_on_host\":\"$KATA/root/drive_3\"}"
    check "kata: hot-plug, PATCH /drives/drive_3 with the placeholder's path" 204
    if holds_file "$KATA/root/drive_3"; then pass "kata: ember now holds the new image open"
    else fail "kata: hot-plug" "ember holds no descriptor of the new drive_3"; fi
    : >"$KATA/empty"; mv "$KATA/empty" "$KATA/root/drive_3"
    api PATCH /drives/drive_3 "{\"drive_id\":\"drive_3\",\"path_on_host\":\"$KATA/root/drive_3\"}"
    check "kata: unplug, the same PATCH on an empty placeholder again" 204
    if holds_file "$KATA/root/drive_3"; then pass "kata: ... and the empty placeholder again after the unplug"
    else fail "kata: unplug" "ember holds no descriptor of the placeholder"; fi
    t0=$(date +%s)
    kill -TERM "$EMBER_PID"; finish
    s=$(($(date +%s) - t0))
    if [ "$STATUS" = 0 ] && [ "$s" -lt 15 ]; then pass "kata: SIGTERM stops it (status 0), well inside kata's 15 s ($s s)"
    else fail "kata: SIGTERM" "status $STATUS after $s s"; fi
    if [ -s "$KATA/metrics" ] && head -1 "$KATA/metrics" | jq -e .utc_timestamp_ms >/dev/null 2>&1; then
        pass "kata: its metrics FIFO gets JSON lines"; else fail "kata: metrics FIFO" "$(head -c 200 "$KATA/metrics")"; fi
else
    fail "kata: the Go runtime's launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
# runtime-rs: the API only, then SIGKILL.
if start_ember --api-sock "$SOCK"; then
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=idle pci=off iommu=off\"}"
    check "kata-rs: PUT /boot-source" 204
    api PUT /machine-config '{"mem_size_mib":64,"vcpu_count":1}'; check "kata-rs: PUT /machine-config (no smt)" 204
    api PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$KATA/root/rootfs\",\"is_root_device\":false,\"is_read_only\":true}"
    check "kata-rs: PUT /drives/rootfs" 204
    for i in 1 2 3 4 5; do
        : >"$KATA/root/drive$i"
        api PUT /drives/drive$i "{\"drive_id\":\"drive$i\",\"path_on_host\":\"$KATA/root/drive$i\",\"is_root_device\":false,\"is_read_only\":false}"
        [ "$CODE" = 204 ] || break
    done
    check "kata-rs: PUT /drives/drive1..drive5 (empty placeholders)" 204
    api PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$KATA/kata.hvsock\",\"vsock_id\":\"root\"}"
    check "kata-rs: PUT /vsock" 204
    api PUT /actions '{"action_type":"InstanceStart"}'; check "kata-rs: InstanceStart" 204
    # With Landlock, ember opens images in its drives' directories (or what
    # --landlock-rule grants); elsewhere, the answer says so.
    truncate -s 4M "$KATA/root/real2.img" "$KATA/elsewhere.img"
    if [ -n "$LANDLOCK" ]; then
        api PATCH /drives/drive2 "{\"drive_id\":\"drive2\",\"path_on_host\":\"$KATA/elsewhere.img\"}"
        check "kata-rs: PATCH to an image outside the drives' directories: refused by Landlock, saying how to grant it" \
            400 'Landlock rules allow: grant it with --landlock-rule'
    else skip "kata-rs: Landlock and PATCH /drives" "this kernel has no Landlock"; fi
    api PATCH /drives/drive2 "{\"drive_id\":\"drive2\",\"path_on_host\":\"$KATA/root/real2.img\",\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,\"refill_time\":1000},\"ops\":{\"size\":1000,\"refill_time\":1000}}}"
    check "kata-rs: hot-plug, PATCH /drives/drive2 with a real path and a rate limiter" 204
    api GET /vm/config
    got=$(jq -c '.drives[] | select(.drive_id=="drive2") | [.path_on_host, .rate_limiter.ops.size]' "$TMP/body")
    if [ "$got" = "[\"$KATA/root/real2.img\",1000]" ]; then pass "kata-rs: GET /vm/config shows drive2's image and limit"; else
        fail "kata-rs: drive2 after PATCH" "$got"; fi
    kill -9 "$EMBER_PID"; wait "$EMBER_PID" 2>/dev/null
else
    fail "kata-rs: the launch" "$(head -3 "$TMP/err")"
fi
EMBER=$EMBER_SAVED; SOCK=$SOCK_SAVED; rm -f "$SOCK"

# --- vsock (Firecracker's host side on Unix sockets): PUT /vsock before boot
# (vsock_id taken as in v1.7), GET /vm/config shows it, the socket exists
# once the VM is built and is removed at exit; a stale socket is replaced,
# anything else at the path is refused; --vsock and a config file's section.
# (Connections themselves: tests/unit/test_vsock.c and the test bed.)
rm -f "$SOCK"
VS=$TMP/vs; rm -rf "$VS"; mkdir -p "$VS"
if start_ember --api-sock "$SOCK"; then
    api PUT /vsock '{"guest_cid":2,"uds_path":"'"$VS"'/v.sock"}'; check "PUT /vsock with guest_cid 2 is refused" 400 'guest_cid 2'
    api PUT /vsock '{"guest_cid":3}'; check "PUT /vsock without uds_path is refused" 400 'uds_path'
    api PUT /vsock '{"guest_cid":3,"uds_path":"'"$VS"'/v.sock","vsock_id":"root"}'; check "PUT /vsock (kata's body)" 204
    api GET /vm/config
    got=$(jq -c .vsock "$TMP/body")
    if [ "$got" = "{\"guest_cid\":3,\"uds_path\":\"$VS/v.sock\",\"vsock_id\":\"root\"}" ]; then pass "GET /vm/config shows the vsock"
    else fail "GET /vm/config: vsock" "$got"; fi
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=idle\"}"
    api PUT /actions '{"action_type":"InstanceStart"}'; check "vsock: InstanceStart" 204
    if [ -S "$VS/v.sock" ]; then pass "vsock: the listening socket exists once the VM runs"; else fail "vsock: the socket" "missing"; fi
    api PUT /vsock '{"guest_cid":4,"uds_path":"'"$VS"'/w.sock"}'; check "PUT /vsock after boot is refused" 400 'not supported after starting'
    kill -TERM "$EMBER_PID"; finish
    if [ ! -e "$VS/v.sock" ]; then pass "vsock: the socket is removed at exit"; else fail "vsock: the socket at exit" "still there"; fi
else
    fail "vsock: the launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
# A stale socket (its VMM was killed) is replaced; a live one or a file is refused.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$VS/v.sock"
run_ember --kernel "$KIT" --cmdline "test=rtc" --vsock "cid=3,uds=$VS/v.sock"
expect "--vsock on a stale socket: replaced, the guest runs" 0 "guest powered off" "^PASS rtc"
: >"$VS/file"
run_ember --kernel "$KIT" --cmdline "test=rtc" --vsock "cid=3,uds=$VS/file"
expect "--vsock on a path that is a file: refused, naming it" 1 "vsock uds_path $VS/file: the path exists and is not a socket"
if [ -f "$VS/file" ]; then pass "... and the file is kept"; else fail "--vsock on a file" "the file was removed"; fi
run_ember --kernel "$KIT" --cmdline "test=rtc" --vsock "cid=2,uds=$VS/x.sock"
expect "--vsock cid=2: refused" 2 "--vsock: expected cid=N \(3 or more\)"
cat >"$TMP/vsock.json" <<JSON
{"boot-source": {"kernel_image_path": "$KIT", "boot_args": "console=ttyS0 test=rtc"},
 "vsock": {"guest_cid": 5, "uds_path": "$VS/c.sock"}}
JSON
"$EMBER" --config-file "$TMP/vsock.json" --no-api </dev/null >"$TMP/raw" 2>"$TMP/err"; STATUS=$?
tr -d '\r' <"$TMP/raw" >"$TMP/out"
expect "config file with a vsock section" 0 "guest powered off" "^PASS rtc"
# --- the balloon, as Firecracker's: PUT /balloon before boot (its rules and
# messages), GET /balloon and /vm/config, then after boot PATCH /balloon (the
# kit sees the new target arrive with a configuration interrupt), PATCH and
# GET /balloon/statistics; the same from the command line and a config file.
# The kit inflates pages and checks they read back as zeros meanwhile.
rm -f "$SOCK"
wait_raw() { for _ in $(seq 600); do grep -q "$1" "$TMP/raw" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
t="balloon"
if start_ember --api-sock "$SOCK"; then
    api GET /balloon; check "$t: GET /balloon without one" 400 'No balloon device found.'
    api PUT /balloon '{"amount_mib":16}'; check "$t: deflate_on_oom is required" 400 'missing field `deflate_on_oom`'
    api PUT /machine-config '{"vcpu_count":1,"mem_size_mib":64}'
    api PUT /balloon '{"amount_mib":65,"deflate_on_oom":false}'
    check "$t: a balloon larger than guest memory" 400 'Amount of pages requested is too large.'
    api PUT /balloon '{"amount_mib":4,"deflate_on_oom":true,"free_page_hinting":true}'
    check "$t: free page hinting is not built" 400 'free_page_hinting: not built'
    api PUT /balloon '{"amount_mib":4,"deflate_on_oom":true,"stats_polling_interval_s":1,"free_page_reporting":true}'
    check "$t: PUT /balloon" 204
    api GET /balloon
    check "$t: GET /balloon" 200 '"amount_mib":4,"deflate_on_oom":true,"stats_polling_interval_s":1,.*"free_page_reporting":true'
    api GET /vm/config
    if jq -e '.balloon.amount_mib == 4 and .balloon.deflate_on_oom == true' "$TMP/body" >/dev/null; then
        pass "$t: GET /vm/config shows it"; else fail "$t: GET /vm/config shows it" "$(jq -c .balloon "$TMP/body")"; fi
    api PATCH /balloon '{"amount_mib":2}'; check "$t: PATCH /balloon before boot" 400 'not supported before starting'
    api GET /balloon/statistics; check "$t: GET /balloon/statistics before boot" 400 'not supported before starting'
    api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=virtio-balloon balloon_target=512\"}"
    api PUT /actions '{"action_type":"InstanceStart"}'; check "$t: InstanceStart" 204
    api PUT /balloon '{"amount_mib":4,"deflate_on_oom":true}'; check "$t: PUT /balloon after boot" 400 'not supported after starting'
    if wait_raw "waiting for target"; then
        # The kit ends once it sees 512 pages: the PATCH to 2 MiB comes last.
        api PATCH /balloon/statistics '{"stats_polling_interval_s":0}'
        check "$t: statistics cannot be turned off after boot" 400 'Cannot enable/disable the statistics after boot.'
        api PATCH /balloon/statistics '{"stats_polling_interval_s":5}'; check "$t: PATCH /balloon/statistics" 204
        api GET /balloon; check "$t: GET /balloon shows the new interval" 200 '"stats_polling_interval_s":5'
        api PATCH /balloon '{"amount_mib":65}'; check "$t: PATCH /balloon larger than memory" 400 'Amount of pages requested is too large.'
        api PATCH /balloon '{"amount_mib":3}'; check "$t: PATCH /balloon" 204
        api GET /balloon; check "$t: GET /balloon shows the new target" 200 '"amount_mib":3,'
        api GET /balloon/statistics
        check "$t: GET /balloon/statistics: the target, the driver's actual, the kit's statistics (an unknown tag skipped)" 200 \
            '^\{"target_pages":768,"actual_pages":4,"target_mib":3,"actual_mib":0,"free_memory":12345,"total_memory":67890\}$'
        api PATCH /balloon '{"amount_mib":2}'; check "$t: PATCH /balloon again (the kit waits for this one)" 204
    else
        fail "$t: the kit drives the balloon" "$(tail -3 "$TMP/raw")"
    fi
    finish
    expect "$t: the kit saw its inflated pages zeroed and the PATCHed target with a config interrupt" 0 "guest powered off" \
        "4 inflated pages read back as zeros" "2 reported pages \\(queue 3\\) read back as zeros" \
        "statistics buffer held, handed back" "target now 512 pages, with a configuration interrupt" "^PASS virtio-balloon"
else
    fail "$t: the launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
# From the command line, without statistics: PATCH reaches it; statistics stay off.
if start_ember --api-sock "$SOCK" --memory 64 --kernel "$KIT" --cmdline "console=ttyS0 test=virtio-balloon balloon_target=256" \
    --balloon amount_mib=4,deflate_on_oom; then
    api GET /balloon; check "$t (--balloon): GET /balloon" 200 '"amount_mib":4,"deflate_on_oom":true,"stats_polling_interval_s":0'
    api GET /balloon/statistics; check "$t (--balloon): no statistics" 400 'Statistics for the balloon device are not enabled'
    api PATCH /balloon/statistics '{"stats_polling_interval_s":1}'
    check "$t (--balloon): statistics cannot be turned on after boot" 400 'Cannot enable/disable the statistics after boot.'
    if wait_raw "waiting for target"; then
        api PATCH /balloon '{"amount_mib":1}'; check "$t (--balloon): PATCH /balloon" 204
    else fail "$t (--balloon): the kit drives the balloon" "$(tail -3 "$TMP/raw")"; fi
    finish
    expect "$t (--balloon): the kit saw the target" 0 "guest powered off" "target now 256 pages" "^PASS virtio-balloon"
else
    fail "$t (--balloon): the launch" "$(head -3 "$TMP/err")"
fi
rm -f "$SOCK"
timeout 10 "$EMBER" run --balloon amount_mib=999 --memory 64 --kernel "$KIT" </dev/null >/dev/null 2>"$TMP/err"; STATUS=$?
: >"$TMP/out"; expect "$t: --balloon larger than memory" 2 "more than the guest's 64 MiB"
timeout 10 "$EMBER" run --balloon deflate_on_oom --kernel "$KIT" </dev/null >/dev/null 2>"$TMP/err"; STATUS=$?
: >"$TMP/out"; expect "$t: --balloon without amount_mib" 2 "amount_mib=MiB is required"
# A config file's balloon section.
cat >"$TMP/balloon.json" <<JSON
{"boot-source": {"kernel_image_path": "$KIT", "boot_args": "console=ttyS0 test=virtio-balloon"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
 "balloon": {"amount_mib": 8, "deflate_on_oom": false, "stats_polling_interval_s": 2}}
JSON
timeout 120 "$EMBER" --no-api --config-file "$TMP/balloon.json" </dev/null >"$TMP/raw" 2>"$TMP/err"; STATUS=$?
tr -d '\r' <"$TMP/raw" >"$TMP/out"
expect "$t: a config file's balloon section" 0 "guest powered off" "target 2048 pages" "^PASS virtio-balloon"

# --- bad requests, answered as Firecracker does (400 and a fault_message)
start_ember --api-sock "$SOCK"
api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": '; check "bad: invalid JSON" 400 '"fault_message":"An error occurred when deserializing'
api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":64,"cpus":3}'; check "bad: an unknown field" 400 'unknown field `cpus`'
api PUT /machine-config '{"vcpu_count":"2","mem_size_mib":64}'; check "bad: a wrong type" 400 'invalid type for `vcpu_count`'
api PUT /machine-config '{"vcpu_count":2}'; check "bad: a missing field" 400 'missing field `mem_size_mib`'
api PUT /machine-config '{"vcpu_count":0,"mem_size_mib":64}'; check "bad: zero vCPUs" 400 'vCPU number is invalid'
api PUT /machine-config '[1,2]'; check "bad: not an object" 400 'expected a JSON object'
api PUT /machine-config ''; check "bad: an empty body" 400 'body of the request is empty'
big=$(head -c 60000 /dev/zero | tr '\0' ' ')
api PUT /machine-config "{\"vcpu_count\":2,\"mem_size_mib\":64}$big"; check "bad: an oversized body" 400 'larger than the limit of 51200'
api DELETE /machine-config; check "bad: a wrong method" 400 'Invalid request method and/or path: DELETE /machine-config'
api GET /no-such-thing; check "bad: an unknown path" 400 'Invalid request method and/or path'
api PUT /mmds '{"latest":{}}'; check "bad: a feature not built yet" 400 'not built in ember yet'
api PUT /drives/a '{"drive_id":"b","path_on_host":"/dev/null","is_root_device":false,"is_read_only":true}'
check "bad: path and body ids differ" 400 'does not match the id from the body'
api PUT /drives/a '{"drive_id":"a","path_on_host":"/no/such.img","is_root_device":false,"is_read_only":true}'
check "bad: a drive image that does not exist" 400 '/no/such.img: cannot open'
api PUT /boot-source '{"kernel_image_path":"/no/such/kernel"}'; check "bad: a missing kernel" 400 '/no/such/kernel: cannot open'
api PUT /drives/r '{"drive_id":"r","path_on_host":"/dev/null","is_root_device":false,"is_read_only":true,"rate_limiter":{"ops":{"size":1}}}'
check "bad: a token bucket without refill_time" 400 'missing field `refill_time`'
api PUT /drives/r '{"drive_id":"r","path_on_host":"/dev/null","is_root_device":false,"is_read_only":true,"rate_limiter":{"ops":{"size":1,"refill_time":1,"burst":2}}}'
check "bad: an unknown token bucket field" 400 'unknown field `burst`'
api PUT /drives/r '{"drive_id":"r","path_on_host":"/dev/null","is_root_device":false,"is_read_only":true,"rate_limiter":{"ops":{"size":-1,"refill_time":1}}}'
check "bad: a negative bucket size" 400 'invalid type for `size`'
api PUT /entropy '{"rate_limiter":{"iops":{}}}'; check "bad: an unknown rate limiter field" 400 'unknown field `iops`'
api PUT /network-interfaces/n '{"iface_id":"n","host_dev_name":"tap0","rx_rate_limiter":[]}'
check "bad: a rate limiter that is not an object" 400 'invalid type for `rx_rate_limiter`'
api PUT /actions '{"action_type":"InstanceStart"}'; check "bad: InstanceStart without a boot source" 400 'no boot source'
api PUT /actions '{"action_type":"Reboot"}'; check "bad: an unknown action" 400 'unknown variant `Reboot`'
api PUT /actions '{"action_type":"SendCtrlAltDel"}'; check "bad: SendCtrlAltDel before boot" 400 'not supported before starting'
api PUT /actions '{"action_type":"FlushMetrics"}'; check "bad: FlushMetrics before boot" 400 'not supported before starting'
api PATCH /machine-config '{}'; check "bad: PATCH /machine-config {}" 400 'Empty PATCH request'
CODE=$(curl -s --unix-socket "$SOCK" -X GET http://localhost/machine-config -d '{"a":1}' -o "$TMP/body" -w '%{http_code}')
check "bad: a GET with a body" 400 'GET request cannot have a body'
api PUT /logger "{\"log_path\":\"$TMP/no-such-log\"}"; check "bad: a logger path that does not exist (never created)" 400 'no-such-log'
[ ! -e "$TMP/no-such-log" ] && pass "bad: ... and the path was not created" || fail "bad: the missing logger path" "was created"
api PUT /machine-config '{"vcpu_count":3,"mem_size_mib":64,"smt":true}'; check "bad: smt with an odd vCPU count" 400 'only be 1 or an even number when SMT'
api PATCH /drives/a '{"drive_id":"a"}'; check "bad: PATCH /drives before boot" 400 'not supported before starting'
curl -s --unix-socket "$SOCK" http://localhost/ $(for i in $(seq 80); do printf -- '-H X-%d:1 ' "$i"; done) \
    -o "$TMP/body" -w '%{http_code}' >"$TMP/code"; CODE=$(cat "$TMP/code")
check "bad: too many headers" 400 'more than 64 headers'
# A kernel that is not one: InstanceStart fails with the reason, ember stays,
# and a good kernel then boots.
head -c 4096 /dev/urandom >"$TMP/garbage"
api PUT /boot-source "{\"kernel_image_path\":\"$TMP/garbage\"}"; check "bad kernel: accepted as a path" 204
api PUT /actions '{"action_type":"InstanceStart"}'; check "bad kernel: InstanceStart answers why" 400 'Cannot start the microVM: .*garbage'
api GET /; check "bad kernel: ember still serves, not started" 200 '"state":"Not started"'
api PUT /boot-source "{\"kernel_image_path\":\"$KIT\",\"boot_args\":\"console=ttyS0 test=boot\"}"
api PUT /actions '{"action_type":"InstanceStart"}'; check "bad kernel: then a good one starts" 204
finish
expect "bad kernel: then a good one runs" 0 "guest powered off" "^PASS boot"

# --- the socket path, and bad config files
start_ember --api-sock "$SOCK" && "$EMBER" --api-sock "$SOCK" </dev/null >"$TMP/out" 2>"$TMP/err2"
rc=$?
if [ $rc -ne 0 ] && grep -q "another process is serving" "$TMP/err2" && [ "$(wc -l <"$TMP/err2")" = 1 ]; then
    pass "a live socket is refused"; else fail "a live socket is refused" "exit $rc: $(cat "$TMP/err2")"; fi
kill -9 "$EMBER_PID"; wait "$EMBER_PID" 2>/dev/null
if start_ember --api-sock "$SOCK"; then pass "a stale socket (killed VMM) is replaced"; else fail "a stale socket is replaced" "no socket"; fi
kill "$EMBER_PID"; finish
expect "SIGTERM before boot ends ember cleanly" 0 "stopped by"
echo "keep me" >"$TMP/file"
timeout 10 "$EMBER" --api-sock "$TMP/file" </dev/null >/dev/null 2>"$TMP/err"; STATUS=$?
if [ $STATUS -ne 0 ] && grep -q "not a socket" "$TMP/err" && [ "$(cat "$TMP/file")" = "keep me" ]; then
    pass "a socket path that is a file is refused and kept"; else fail "a socket path that is a file" "exit $STATUS"; fi
bad_config() {
    local name=$1 re=$2
    timeout 10 "$EMBER" --no-api --config-file "$TMP/bad.json" </dev/null >/dev/null 2>"$TMP/err"; STATUS=$?
    : >"$TMP/out"
    expect "bad config file: $name" 2 "$re"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "bad config file: $name: one line" "$(wc -l <"$TMP/err") lines"
}
rm -f "$TMP/bad.json"; bad_config "missing" "bad.json: cannot open"
echo '{"boot-source": {' >"$TMP/bad.json"; bad_config "invalid JSON" "not valid JSON"
echo "{\"boot-source\":{\"kernel_image_path\":\"$KIT\"},\"cpus\":2}" >"$TMP/bad.json"; bad_config "unknown section" 'unknown field `cpus`'
echo "{\"boot-source\":{\"kernel_image_path\":\"$KIT\"},\"mmds-config\":{\"network_interfaces\":[\"eth0\"]}}" >"$TMP/bad.json"
bad_config "a section not built yet" "mmds-config: not built"
echo "{\"boot-source\":{\"kernel_image_path\":\"$KIT\"},\"drives\":[{\"drive_id\":\"x\"}]}" >"$TMP/bad.json"
bad_config "a drive without its fields" 'drives\[0\]: .*missing field'
echo '{"drives":[]}' >"$TMP/bad.json"; bad_config "no boot-source" "boot-source is required"
timeout 10 "$EMBER" --no-api </dev/null >/dev/null 2>"$TMP/err"; STATUS=$?; : >"$TMP/out"
expect "--no-api without a config file" 2 "needs --config-file"
summary
