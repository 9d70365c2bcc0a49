# Shared helpers for ember's end-to-end test scripts. Each script counts its
# own results and ends with "N passed, N failed[, N skipped]".
set -u
PASS=0
FAIL=0
SKIP=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
IS_PVM=no
[ -e /sys/module/kvm_pvm ] && IS_PVM=yes

pass() { PASS=$((PASS + 1)); echo "ok    $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL  $1: $2"; }
skip() { SKIP=$((SKIP + 1)); echo "skip  $1: $2"; }

# Prints the captured output of the last run, for a failure's diagnosis.
dump_last() {
    echo "  --- stdout"; sed 's/^/  | /' "$TMP/out" | tail -15
    echo "  --- stderr"; sed 's/^/  | /' "$TMP/err" | tail -5
}

# run_ember ARGS...: runs `ember run ARGS` with no input; sets STATUS, and
# leaves stdout (CR stripped) in $TMP/out and stderr in $TMP/err.
run_ember() {
    timeout 120 "$EMBER" run "$@" </dev/null >"$TMP/raw" 2>"$TMP/err"
    STATUS=$?
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
}

# expect NAME WANT_STATUS STDERR_REGEX [STDOUT_REGEX...]: checks the last run.
expect() {
    local name=$1 want=$2 err_re=$3
    shift 3
    local why=""
    [ "$STATUS" -eq "$want" ] || why="exit status $STATUS, expected $want"
    [ -z "$why" ] && ! grep -qE -- "$err_re" "$TMP/err" && why="stderr lacks /$err_re/"
    for re in "$@"; do
        [ -z "$why" ] && ! grep -qE -- "$re" "$TMP/out" && why="output lacks /$re/"
    done
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; dump_last; fi
}

summary() {
    echo "$PASS passed, $FAIL failed, $SKIP skipped"
    [ "$FAIL" -eq 0 ]
}
