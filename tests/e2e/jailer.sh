#!/usr/bin/env bash
# ember-jailer, as Firecracker's tests/integration_tests/security/test_jail.py
# checks its jailer: the ids, exec files and flag values it refuses; the
# chroot it makes (modes, owners, device nodes); the cgroups (v1 and v2),
# resource limits, pid namespace, daemon and network namespace it puts ember
# in; the privileges ember is left with (none); and the kit guest booted
# end to end through the API socket inside the jail, as an unprivileged
# uid. Every jail is made under a temporary --chroot-base-dir and removed,
# as are the cgroups and the network namespace the suite makes.
# Usage: jailer.sh [EMBER_BINARY] (a statically linked ember: build/ember)
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh
JAILER=$PWD/build/ember-jailer
KIT=$PWD/build/guests/kit.elf
JUID=4242 # no passwd entry needed: ids are numbers
JGID=4243 # not the uid, so a mix-up shows
TAG=ember-jailer-test-$$
BASE=$(mktemp -d /tmp/ember-jailer.XXXXXX)
LIVE_PIDS=()
CGROUP_DIRS=() # removed deepest first at the end
NETNS=""
V2_UNDO="" # "<mount>/cgroup.subtree_control -ctrl" when the suite enabled it there

cleanup() {
    local p d
    for p in "${LIVE_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for p in "${LIVE_PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done; done
    for ((i = ${#CGROUP_DIRS[@]} - 1; i >= 0; i--)); do rmdir "${CGROUP_DIRS[i]}" 2>/dev/null; done
    [ -n "$V2_UNDO" ] && echo "${V2_UNDO#* }" >"${V2_UNDO%% *}" 2>/dev/null
    [ -n "$NETNS" ] && ip netns delete "$NETNS" 2>/dev/null
    rm -rf "$BASE" "$TMP"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
    skip "ember-jailer" "needs root (it mounts, makes device nodes and changes uid)"
    summary
    exit
fi
if [ ! -x "$JAILER" ]; then
    fail "ember-jailer" "$JAILER not built (make all)"
    summary
    exit
fi
if readelf -lW "$EMBER" 2>/dev/null | grep -q INTERP; then
    skip "ember-jailer" "$EMBER is dynamically linked (as the sanitizer build is): only a static ember can be jailed"
    summary
    exit
fi
EMBER=$(realpath "$EMBER")

# jail ARGS...: runs the jailer in the foreground; sets STATUS, $TMP/out and
# $TMP/err like run_ember.
jail() {
    # The braces take bash's own "File size limit exceeded" note (the
    # fsize probe's end) off the suite's output.
    { timeout 60 "$JAILER" "$@" </dev/null >"$TMP/raw" 2>"$TMP/err"; } 2>/dev/null
    STATUS=$?
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
}
# refused NAME WANT_STATUS REGEX [JAIL_DIR]: the last run failed with one
# line "ember-jailer: ...REGEX..." and left no JAIL_DIR behind.
refused() {
    local name=$1 want=$2 re=$3 dir=${4:-} why=""
    [ "$STATUS" -eq "$want" ] || why="exit status $STATUS, expected $want"
    [ -z "$why" ] && [ "$(wc -l <"$TMP/err")" -ne 1 ] && why="stderr is $(wc -l <"$TMP/err") lines, not one"
    [ -z "$why" ] && ! grep -qE -- "^ember-jailer: .*$re" "$TMP/err" && why="stderr lacks /$re/"
    [ -z "$why" ] && [ -n "$dir" ] && [ -e "$dir" ] && why="$dir was left behind"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; dump_last; fi
}
# check NAME WHY_IF_FAILED CONDITION...: passes when the command succeeds.
check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}
# start_jailed ID JAILER_ARGS... [-- EMBER_ARGS]: the jailer in the
# background with ember waiting on its API socket (/run/ember.sock in the
# jail) unless other ember arguments are given; sets JPID (the jailer,
# which becomes ember unless it forks), PID (ember's, from the pid file),
# ROOT and SOCK. Fails when ember is not up within 10 s.
start_jailed() {
    local id=$1
    shift
    local args=("$@")
    [[ " ${args[*]} " == *" -- "* ]] || args+=(-- --api-sock /run/ember.sock)
    ROOT=$BASE/ember/$id/root
    SOCK=$ROOT/run/ember.sock
    rm -f "$TMP/raw" "$TMP/err"
    "$JAILER" --id "$id" --exec-file "$EMBER" --chroot-base-dir "$BASE" "${args[@]}" \
        </dev/null >"$TMP/raw" 2>"$TMP/err" &
    JPID=$!
    LIVE_PIDS+=("$JPID")
    PID=""
    for _ in $(seq 200); do
        if [ -s "$ROOT/ember.pid" ] && [ -S "$SOCK" ]; then
            PID=$(cat "$ROOT/ember.pid")
            LIVE_PIDS+=("$PID")
            return 0
        fi
        sleep 0.05
    done
    return 1
}
# stop_jailed: ends the jailed ember and removes its jail.
stop_jailed() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
    kill -9 "$JPID" 2>/dev/null
    wait "$JPID" 2>/dev/null
    for _ in $(seq 100); do [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    rm -rf "${ROOT%/root}"
}
# status_field PID KEY: the value of KEY in /proc/PID/status, tabs as spaces.
status_field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' ' '; }
limit_of() { grep "^$2 " "/proc/$1/limits" | awk '{ print $(NF-2), $(NF-1) }'; }
# The mount point of a cgroup v1 hierarchy with controller $1, or of v2
# (no argument), from the mount table as the jailer reads it.
cgroup_mount() {
    awk -v c="${1:-}" '{
        for (i = 7; $i != "-"; i++) ;
        fs = $(i + 1); n = split($(i + 3), o, ",")
        if (c == "" && fs == "cgroup2") { print $5; exit }
        if (c != "" && fs == "cgroup") for (j = 1; j <= n; j++) if (o[j] == c) { print $5; exit }
    }' /proc/self/mountinfo
}

# --- The command line: each refusal is one line and exit status 2
jail
refused "no arguments: a usage error" 2 "missing --id"
jail --help
if [ "$STATUS" = 0 ] && grep -q "^usage: ember-jailer --id ID --exec-file PATH" "$TMP/out"; then pass "--help"
else fail "--help" "exit $STATUS"; fi
jail --version
if [ "$STATUS" = 0 ] && grep -qx "ember-jailer [0-9.]*" "$TMP/out"; then pass "--version"; else fail "--version" "exit $STATUS"; fi
REQ=(--exec-file "$EMBER" --uid $JUID --gid $JGID --chroot-base-dir "$BASE")
jail --id "" "${REQ[@]}"
refused "an empty id is refused" 2 "--id '': 0 characters; an id is 1 to 64 letters, digits and hyphens"
long=$(printf 'a%.0s' $(seq 65))
jail --id "$long" "${REQ[@]}"
refused "a 65-character id is refused" 2 "65 characters" "$BASE/ember/$long"
# 64 characters pass the id check: the next check (the exec file) speaks.
jail --id "${long:1}" --exec-file "$TMP/none" --uid $JUID --gid $JGID --chroot-base-dir "$BASE"
refused "a 64-character id is taken" 1 "--exec-file $TMP/none: No such file"
for bad in vm_1 vm.1 ../vm "vm 1"; do
    jail --id "$bad" "${REQ[@]}"
    refused "id '$bad': a bad character is refused" 2 "is not a letter, digit or hyphen"
done
jail --id vm1 --exec-file "$EMBER" --uid nobody --gid $JGID
refused "a non-numeric uid is refused" 2 "--uid 'nobody': not a number"
jail --id vm1 --exec-file "$EMBER" --uid $JUID --gid -1
refused "gid -1 is refused" 2 "--gid '-1': not a number"
jail --id vm1 --exec-file "$EMBER" --uid $JUID --gid=4294967295
refused "gid 4294967295 (-1 to setresgid) is refused" 2 "--gid '4294967295': not a number from 0 to 4294967294"
jail --id vm1 --exec-file "$EMBER" --uid 0 --gid 0 --chroot-base-dir "$BASE"
refused "uid 0 is refused without --allow-root" 2 "--uid 0: ember would run as root inside the jail; give --allow-root" \
    "$BASE/ember/vm1"
jail --id vm1 "${REQ[@]}" --netns
refused "a flag without its value" 2 "--netns needs a value"
jail --id vm1 "${REQ[@]}" --api-sock /x
refused "an unknown flag (ember's flags go after --)" 2 "unknown flag '--api-sock'"
jail --id vm1 "${REQ[@]}" --id vm2
refused "a flag given twice" 2 "--id given twice"
jail --id vm1 "${REQ[@]}" --cgroup cpu.shares
refused "--cgroup without =VALUE" 2 "--cgroup 'cpu.shares': expected FILE=VALUE"
jail --id vm1 "${REQ[@]}" --cgroup ../../tasks=1
refused "--cgroup with a path for a file" 2 "may hold letters, digits"
jail --id vm1 "${REQ[@]}" --cgroup-version 3
refused "--cgroup-version 3" 2 "--cgroup-version '3': 1 or 2"
jail --id vm1 "${REQ[@]}" --parent-cgroup ../up --cgroup cpu.shares=2
refused "--parent-cgroup that climbs" 2 "no empty, '.' or '..' component"
jail --id vm1 "${REQ[@]}" --resource-limit fsize=lots
refused "--resource-limit with a garbage number" 2 "'lots' is not a number"
jail --id vm1 "${REQ[@]}" --resource-limit nofile=5
refused "--resource-limit of an unknown resource" 2 "unknown resource 'nofile' \(fsize or no-file\)"
jail --id vm1 "${REQ[@]}" --netns /no/such/netns
refused "a missing --netns is refused" 1 "--netns /no/such/netns: No such file" "$BASE/ember/vm1"

# --- The exec file: a regular, singly linked, static ELF only
mkdir -p "$TMP/x/dir"
cp "$EMBER" "$TMP/x/ember"
ln -s "$TMP/x/ember" "$TMP/x/symlinked"
cp "$EMBER" "$TMP/x/hard" && ln "$TMP/x/hard" "$TMP/x/hard2"
cp /bin/true "$TMP/x/true"
printf '#!/bin/sh\necho hi\n' >"$TMP/x/script" && chmod +x "$TMP/x/script"
xrun() { jail --id vm1 --exec-file "$1" --uid $JUID --gid $JGID --chroot-base-dir "$BASE"; }
xrun "$TMP/x/missing"
refused "a missing exec file" 1 "--exec-file $TMP/x/missing: No such file or directory" "$BASE/missing"
xrun "$TMP/x/dir"
refused "a directory for an exec file" 1 "--exec-file $TMP/x/dir: is a directory" "$BASE/dir"
xrun "$TMP/x/symlinked"
refused "a symlinked exec file" 1 "symlinked: is a symbolic link; give the file itself" "$BASE/symlinked"
xrun "$TMP/x/hard"
refused "a hard-linked exec file" 1 "hard: has 2 hard links" "$BASE/hard"
xrun "$TMP/x/true"
refused "a dynamically linked exec file" 1 \
    "true: dynamically linked \(it has a PT_INTERP program header\).*use a statically linked ember" "$BASE/true"
xrun "$TMP/x/script"
refused "a script for an exec file" 1 "script: not a 64-bit ELF file" "$BASE/script"

# --- An existing jail for the id is refused and left as it was
mkdir -p "$BASE/ember/taken/root" && echo mine >"$BASE/ember/taken/root/marker"
jail --id taken "${REQ[@]}"
refused "an existing jail for the id is refused" 1 "jail $BASE/ember/taken: already exists"
check "the existing jail is untouched" "$(ls -A "$BASE/ember/taken/root")" \
    [ "$(ls -A "$BASE/ember/taken/root")" = marker ]
rm -rf "$BASE/ember/taken"

# --- The chroot: Firecracker's hierarchy, modes and owners
jail --id tree "${REQ[@]}" -- --version
R=$BASE/ember/tree/root
if [ "$STATUS" = 0 ] && grep -qx "ember [0-9.]*" "$TMP/out"; then
    pass "ember runs in the jail with the arguments after -- (ember --version)"
else fail "ember runs in the jail" "exit $STATUS"; dump_last; fi
perm() { stat -c '%F %a %u:%g' "$1" 2>&1; }
for d in "" /dev /dev/net /run; do
    got=$(perm "$R$d")
    check "jail ${d:-/}: a directory, 0700, owned by uid:gid" "$got" [ "$got" = "directory 700 $JUID:$JGID" ]
done
for d in "$BASE/ember" "$BASE/ember/tree"; do
    got=$(perm "$d")
    check "${d#"$BASE"/}: 0755, root's (as Firecracker's)" "$got" [ "$got" = "directory 755 0:0" ]
done
for dev in kvm net/tun urandom userfaultfd; do
    if [ ! -c "/dev/$dev" ]; then
        if [ ! -e "$R/dev/$dev" ] && grep -q "note: /dev/$dev: not on this host" "$TMP/err"; then
            pass "/dev/$dev: not on this host, none in the jail, and a note says so"
        else fail "/dev/$dev absent on the host" "$(perm "$R/dev/$dev")"; fi
        continue
    fi
    got="$(perm "$R/dev/$dev") $(stat -c '%t:%T' "$R/dev/$dev" 2>&1)"
    want="character special file 600 $JUID:$JGID $(stat -c '%t:%T' "/dev/$dev")"
    check "jail /dev/$dev: the host's major:minor, 0600, owned by uid:gid" "$got" [ "$got" = "$want" ]
done
got=$(perm "$R/ember")
check "jail /ember: the copy is 0755, root's" "$got" [ "$got" = "regular file 755 0:0" ]
check "jail /ember: the same bytes as the exec file" "differs" cmp -s "$R/ember" "$EMBER"
got=$(cd "$R" && find . | sort | tr '\n' ' ')
want=". ./dev ./dev/kvm ./dev/net ./dev/net/tun ./dev/urandom ./dev/userfaultfd ./ember ./ember.pid ./run "
check "jail: nothing else (no old_root left)" "$got" [ "$got" = "$want" ]
rm -rf "$BASE/ember/tree"

# --- The jailed process: ids, capabilities, environment, descriptors
# An inherited descriptor and variable must not reach ember.
exec 9</etc/hostname
if FOO=bar start_jailed proc --uid $JUID --gid $JGID; then
    got="$(status_field "$PID" Uid) / $(status_field "$PID" Gid) / groups: $(status_field "$PID" Groups)"
    check "ember runs as uid:gid with no supplementary groups" "$got" \
        [ "$got" = "$JUID $JUID $JUID $JUID / $JGID $JGID $JGID $JGID / groups: " ]
    got=$(for c in CapInh CapPrm CapEff CapBnd CapAmb; do echo -n "$c=$(status_field "$PID" $c) "; done)
    check "every capability set is empty (CapEff, CapPrm, CapBnd, CapInh, CapAmb)" "$got" \
        [ "$(echo "$got" | grep -o '=0000000000000000' | wc -l)" = 5 ]
    got=$(status_field "$PID" NoNewPrivs)
    check "NoNewPrivs is 1" "$got" [ "$got" = 1 ]
    check "ember's root is the jail's" "$(stat -L -c %i "/proc/$PID/root") vs $(stat -c %i "$ROOT")" \
        [ "$(stat -L -c %d:%i "/proc/$PID/root")" = "$(stat -c %d:%i "$ROOT")" ]
    check "ember's environment is empty" "$(tr '\0' ' ' <"/proc/$PID/environ")" [ ! -s "/proc/$PID/environ" ]
    check "no inherited descriptor reaches ember" "$(ls -l "/proc/$PID/fd" | grep hostname)" \
        sh -c "! ls -l /proc/$PID/fd | grep -q /etc/hostname"
    got=$(limit_of "$PID" "Max open files")
    check "RLIMIT_NOFILE defaults to 2048 (Firecracker's)" "$got" [ "$got" = "2048 2048" ]
    got=$(stat -c '%F %a %u:%g' "$SOCK")
    check "the API socket is in the jail's /run, ember's, 0600" "$got" [ "$got" = "socket 600 $JUID:$JGID" ]
    code=$(curl -s --max-time 5 --unix-socket "$SOCK" http://localhost/ -o /dev/null -w '%{http_code}')
    check "the API answers through the socket in the jail" "HTTP $code" [ "$code" = 200 ]
else fail "a jailed ember waits on its API socket" "not up"; dump_last; fi
stop_jailed
exec 9<&-

# --- uid 0 with --allow-root: root, but with no capability
if start_jailed root --uid 0 --gid 0 --allow-root; then
    got="$(status_field "$PID" Uid) $(status_field "$PID" CapEff) $(status_field "$PID" CapPrm) $(status_field "$PID" CapBnd)"
    check "--allow-root: uid 0, and still no capability" "$got" \
        [ "$got" = "0 0 0 0 0000000000000000 0000000000000000 0000000000000000" ]
else fail "--allow-root" "not up"; dump_last; fi
stop_jailed

# --- Resource limits
if start_jailed limits --uid $JUID --gid $JGID --resource-limit fsize=2097151 --resource-limit no-file=1024; then
    got="$(limit_of "$PID" "Max file size") / $(limit_of "$PID" "Max open files")"
    check "--resource-limit fsize= and no-file= are ember's soft and hard limits" "$got" \
        [ "$got" = "2097151 2097151 / 1024 1024" ]
else fail "--resource-limit" "not up"; dump_last; fi
stop_jailed
# The limits are ember's, not the jailer's: fsize=0 still lets the jailer
# write the pid file, and ember runs (its output to /dev/null: a regular
# file for stdout would be cut off by the limit too).
timeout 60 "$JAILER" --id fsize0 "${REQ[@]}" --resource-limit fsize=0 -- --version </dev/null >/dev/null 2>&1
STATUS=$?
check "fsize=0: the jailer still writes its pid file and ember runs" "exit $STATUS" \
    sh -c "[ $STATUS = 0 ] && grep -qx '[0-9]*' '$BASE/ember/fsize0/root/ember.pid'"
rm -rf "$BASE/ember/fsize0"
# A probe program shows the limits act: a write past fsize ends it with
# SIGXFSZ; no-file caps the descriptors.
if gcc -static -O2 -o "$TMP/probe" tests/e2e/jailer_probe.c 2>"$TMP/gcc.err"; then
    PREQ=(--exec-file "$TMP/probe" --uid $JUID --gid $JGID --chroot-base-dir "$BASE")
    jail --id big "${PREQ[@]}" --resource-limit fsize=1048576 -- write 2097152
    got="exit $STATUS, $(stat -c %s "$BASE/probe/big/root/probe.out" 2>&1) bytes written"
    check "fsize=1048576: a 2 MiB write is stopped by SIGXFSZ at 1 MiB" "$got" \
        [ "$got" = "exit $((128 + 25)), 1048576 bytes written" ]
    jail --id small "${PREQ[@]}" --resource-limit fsize=1048576 -- write 524288
    check "fsize=1048576: a 512 KiB write passes" "exit $STATUS: $(cat "$TMP/out")" grep -qx "wrote 524288" "$TMP/out"
    jail --id fds "${PREQ[@]}" --resource-limit no-file=16 -- fds
    check "no-file=16: 13 descriptors open besides stdin, stdout and stderr" "$(cat "$TMP/out")" \
        grep -qx "opened 13: Too many open files" "$TMP/out"
    rm -rf "$BASE/probe"
else fail "the probe program builds" "$(head -3 "$TMP/gcc.err")"; fi

# --- --new-pid-ns: ember is pid 1 of a pid namespace of its own
if start_jailed pidns --uid $JUID --gid $JGID --new-pid-ns; then
    got=$(status_field "$PID" NStgid)
    check "--new-pid-ns: NStgid has two levels, the inner one 1" "$got" [ "$got" = "$PID 1" ]
    for _ in $(seq 100); do kill -0 "$JPID" 2>/dev/null || break; sleep 0.05; done
    wait "$JPID" 2>/dev/null
    st=$?
    check "--new-pid-ns: the jailer exits 0, ember (its child, in the pid file) lives on" "jailer $st" \
        sh -c "[ $st = 0 ] && [ $PID != $JPID ] && kill -0 $PID"
else fail "--new-pid-ns" "not up"; dump_last; fi
stop_jailed

# --- --daemonize: the jailer returns at once; ember is a session leader's
# child with stdin, stdout and stderr on /dev/null
t0=$(date +%s%N)
jail --id daemon --exec-file "$EMBER" --uid $JUID --gid $JGID --chroot-base-dir "$BASE" --daemonize \
    -- --api-sock /run/ember.sock
ms=$((($(date +%s%N) - t0) / 1000000))
ROOT=$BASE/ember/daemon/root
JPID=""
PID=""
for _ in $(seq 100); do [ -s "$ROOT/ember.pid" ] && [ -S "$ROOT/run/ember.sock" ] && break; sleep 0.05; done
[ -s "$ROOT/ember.pid" ] && PID=$(cat "$ROOT/ember.pid") && LIVE_PIDS+=("$PID")
check "--daemonize: the jailer returns at once with status 0" "exit $STATUS after $ms ms" \
    [ "$STATUS" = 0 -a "$ms" -lt 3000 ]
if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    pass "--daemonize: ember lives on"
    sid=$(sed 's/.*) //' "/proc/$PID/stat" | awk '{ print $4 }')
    pgid=$(sed 's/.*) //' "/proc/$PID/stat" | awk '{ print $3 }')
    check "--daemonize: a session of its own (setsid), not its leader" "sid $sid pgid $pgid pid $PID" \
        [ "$sid" != "$$" -a "$sid" = "$pgid" -a "$sid" != "$PID" ]
    got=$(for fd in 0 1 2; do stat -L -c '%t:%T ' "/proc/$PID/fd/$fd"; done | tr -d '\n')
    check "--daemonize: fds 0-2 are /dev/null" "$got" [ "$got" = "1:3 1:3 1:3 " ]
else fail "--daemonize: ember lives on" "no ember (pid '$PID')"; dump_last; fi
stop_jailed

# --- --netns: ember joins the named network namespace
NS=$TAG
if ip netns add "$NS" 2>"$TMP/ip.err"; then
    NETNS=$NS
    if start_jailed netns --uid $JUID --gid $JGID --netns "/var/run/netns/$NS"; then
        want="net:[$(stat -L -c %i "/var/run/netns/$NS")]"
        got=$(readlink "/proc/$PID/ns/net")
        check "--netns: ember's network namespace is the named one" "$got, expected $want" [ "$got" = "$want" ]
    else fail "--netns" "not up"; dump_last; fi
    stop_jailed
    ip netns delete "$NS" && NETNS=""
else skip "--netns" "ip netns add failed: $(head -1 "$TMP/ip.err")"; fi

# --- cgroup v1: values written, the pid in tasks, under --parent-cgroup or
# the exec file's name
v1_case() { # CONTROLLER FILE VALUE [PARENT]
    local ctrl=$1 file=$2 value=$3 parent=${4:-} mnt dir
    mnt=$(cgroup_mount "$ctrl")
    if [ -z "$mnt" ]; then skip "cgroup v1 $ctrl" "host has no cgroup v1 controller $ctrl"; return; fi
    local pargs=() t="cgroup v1 $file=$value${parent:+ under --parent-cgroup ${parent/#$TAG/TAG}}"
    [ -n "$parent" ] && pargs=(--parent-cgroup "$parent")
    dir=$mnt/${parent:-ember}/v1-$ctrl
    [ -d "$mnt/${parent:-ember}" ] || CGROUP_DIRS+=("$mnt/${parent:-ember}")
    CGROUP_DIRS+=("$dir")
    if start_jailed "v1-$ctrl" --uid $JUID --gid $JGID --cgroup "$file=$value" "${pargs[@]}"; then
        check "$t: the value is written" "$(cat "$dir/$file" 2>&1)" [ "$(cat "$dir/$file" 2>&1)" = "$value" ]
        check "$t: ember's pid is in tasks" "$(tr '\n' ' ' <"$dir/tasks")" grep -qx "$PID" "$dir/tasks"
        check "$t: /proc/<pid>/cgroup names it" "$(grep ":$ctrl[:,]" "/proc/$PID/cgroup")" \
            grep -qE "^[0-9]+:([^:]*,)?$ctrl(,[^:]*)?:/${parent:-ember}/v1-$ctrl\$" "/proc/$PID/cgroup"
    else fail "$t" "not up"; dump_last; fi
    stop_jailed
}
v1_case cpu cpu.shares 123 "$TAG"
v1_case pids pids.max 42 "$TAG/nested"
v1_case cpuset cpuset.cpus 0 "$TAG" # a new cpuset also needs cpuset.mems: inherited
v1_case cpu cpu.cfs_period_us 200000 # default parent: the exec file's name
if [ -n "$(cgroup_mount cpu)" ]; then
    mnt=$(cgroup_mount cpu)
    jail --id v1-bad "${REQ[@]}" --cgroup cpu.shares=lots --parent-cgroup "$TAG"
    refused "cgroup v1: a value the kernel refuses is one line, and nothing is left" 1 \
        "--cgroup cpu.shares=lots: writing 'lots' to $mnt/$TAG/v1-bad/cpu.shares: Invalid argument" \
        "$BASE/ember/v1-bad"
    check "cgroup v1: the refused cgroup is removed" "$mnt/$TAG/v1-bad exists" [ ! -e "$mnt/$TAG/v1-bad" ]
fi
jail --id v1-none "${REQ[@]}" --cgroup nosuch.knob=1
refused "cgroup v1: a controller the host lacks is named" 1 "--cgroup nosuch.knob=1: the host has no cgroup v1 controller nosuch" \
    "$BASE/ember/v1-none"

# --- cgroup v2: one cgroup, controllers enabled in the parents
v2=$(cgroup_mount)
if [ -z "$v2" ]; then
    skip "cgroup v2" "host has no cgroup v2 hierarchy mounted"
else
    CGROUP_DIRS+=("$v2/$TAG")
    dir=$v2/$TAG/v2-core
    CGROUP_DIRS+=("$dir")
    t="cgroup v2 cgroup.max.descendants=5"
    if start_jailed v2-core --uid $JUID --gid $JGID --cgroup-version 2 --parent-cgroup "$TAG" \
        --cgroup cgroup.max.descendants=5; then
        check "$t: the value is written" "$(cat "$dir/cgroup.max.descendants" 2>&1)" \
            [ "$(cat "$dir/cgroup.max.descendants" 2>&1)" = 5 ]
        check "$t: ember's pid is in cgroup.procs" "$(tr '\n' ' ' <"$dir/cgroup.procs")" grep -qx "$PID" "$dir/cgroup.procs"
        check "$t: /proc/<pid>/cgroup names it" "$(grep '^0::' "/proc/$PID/cgroup")" \
            grep -qx "0::/$TAG/v2-core" "/proc/$PID/cgroup"
    else fail "$t" "not up"; dump_last; fi
    stop_jailed
    # A controller: the first the host's v2 hierarchy has, with a file to set.
    ctrl="" file="" value=""
    for c in pids cpu memory hugetlb; do
        grep -qw "$c" "$v2/cgroup.controllers" || continue
        case $c in
        pids) file=pids.max value=42 ;;
        cpu) file=cpu.weight value=50 ;;
        memory) file=memory.max value=1073741824 ;;
        hugetlb) [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] || continue; file=hugetlb.2MB.max value=0 ;;
        esac
        ctrl=$c
        break
    done
    if [ -z "$ctrl" ]; then
        skip "cgroup v2 controller" "host has no cgroup v2 controller among pids, cpu, memory, hugetlb ($v2/cgroup.controllers: $(cat "$v2/cgroup.controllers"))"
    else
        grep -qw "$ctrl" "$v2/cgroup.subtree_control" || V2_UNDO="$v2/cgroup.subtree_control -$ctrl"
        dir=$v2/$TAG/v2-$ctrl
        CGROUP_DIRS+=("$dir")
        t="cgroup v2 $file=$value"
        if start_jailed "v2-$ctrl" --uid $JUID --gid $JGID --cgroup-version 2 --parent-cgroup "$TAG" \
            --cgroup "$file=$value"; then
            check "$t: $ctrl enabled in the root's and the parent's cgroup.subtree_control" \
                "$(cat "$v2/cgroup.subtree_control") / $(cat "$v2/$TAG/cgroup.subtree_control")" \
                sh -c "grep -qw $ctrl '$v2/cgroup.subtree_control' && grep -qw $ctrl '$v2/$TAG/cgroup.subtree_control'"
            check "$t: the value is written" "$(cat "$dir/$file" 2>&1)" [ "$(cat "$dir/$file" 2>&1)" = "$value" ]
            check "$t: ember's pid is in cgroup.procs" "$(tr '\n' ' ' <"$dir/cgroup.procs")" grep -qx "$PID" "$dir/cgroup.procs"
        else fail "$t" "not up"; dump_last; fi
        stop_jailed
    fi
    # Firecracker's rule: v2, --parent-cgroup and no --cgroup: ember runs in
    # the parent, when it exists (a leaf: $TAG passes controllers down now,
    # and v2 puts no process in such a cgroup).
    mkdir "$v2/$TAG-pool" && CGROUP_DIRS+=("$v2/$TAG-pool")
    if start_jailed v2-parent --uid $JUID --gid $JGID --cgroup-version 2 --parent-cgroup "$TAG-pool"; then
        check "cgroup v2: --parent-cgroup alone puts ember in the parent" "$(grep '^0::' "/proc/$PID/cgroup")" \
            grep -qx "0::/$TAG-pool" "/proc/$PID/cgroup"
    else fail "cgroup v2: --parent-cgroup alone" "not up"; dump_last; fi
    stop_jailed
    jail --id v2-bad "${REQ[@]}" --cgroup-version 2 --parent-cgroup "$TAG" --cgroup nosuch.knob=1
    refused "cgroup v2: a controller the host lacks is named" 1 \
        "--cgroup nosuch.knob=1: the host has no cgroup v2 controller nosuch \(not in $v2/cgroup.controllers\)" \
        "$BASE/ember/v2-bad"
    check "cgroup v2: the refused cgroup is removed" "$v2/$TAG/v2-bad exists" [ ! -e "$v2/$TAG/v2-bad" ]
fi

# --- The kit guest booted end to end through the jailer, as uid $JUID, by
# Firecracker's API on the socket inside the jail; the kernel is copied in
# and given to the jailed user, and the API gets its path in the jail.
api() { # METHOD PATH BODY: sets CODE
    CODE=$(curl -s --max-time 30 --unix-socket "$SOCK" -X "$1" "http://localhost$2" \
        -H 'Content-Type: application/json' -d "$3" -o "$TMP/body" -w '%{http_code}')
}
if [ ! -f "$KIT" ]; then
    skip "the kit guest through the jailer" "$KIT not built (make guests)"
elif start_jailed boot --uid $JUID --gid $JGID; then
    cp "$KIT" "$ROOT/kit.elf" && chown $JUID:$JGID "$ROOT/kit.elf"
    CODE=$(curl -s --max-time 30 --unix-socket "$SOCK" http://localhost/ -o "$TMP/body" -w '%{http_code}')
    check "boot: the jailer passes --id, as Firecracker's does (GET / says \"id\":\"boot\")" "HTTP $CODE $(cat "$TMP/body")" \
        grep -q '"id":"boot"' "$TMP/body"
    api PUT /boot-source '{"kernel_image_path":"/kit.elf","boot_args":"console=ttyS0 test=smp cpus=2"}'
    c1=$CODE
    api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":64}'
    c2=$CODE
    api PUT /actions '{"action_type":"InstanceStart"}'
    c3=$CODE
    check "boot: PUT /boot-source (a path in the jail), /machine-config, InstanceStart" "HTTP $c1 $c2 $c3" \
        [ "$c1 $c2 $c3" = "204 204 204" ]
    for _ in $(seq 600); do kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$JPID" 2>/dev/null && kill -9 "$JPID"
    wait "$JPID" 2>/dev/null
    STATUS=$?
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
    if [ "$STATUS" = 0 ] && grep -q "^PASS smp" "$TMP/out" && grep -q "guest powered off" "$TMP/err"; then
        pass "boot: the kit guest ran on both vCPUs and powered off, ember exited 0"
    else fail "boot: the kit guest through the jailer" "exit $STATUS"; dump_last; fi
    stop_jailed
else fail "boot: a jailed ember waits on its API socket" "not up"; dump_last; stop_jailed; fi

summary
