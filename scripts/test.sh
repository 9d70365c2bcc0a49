#!/usr/bin/env bash
# Runs every test ember has, on this machine:
#   1. unit tests of every model (plain build and ASan+UBSan build)
#   2. the test-guest kit booted through ember's real boot paths (both builds)
#   3. bad host input, the Firecracker-compatible API driven with curl, and the
#      kit's hostile-guest attacks watched from outside, and the seccomp filters
#      (every thread filtered; a forbidden call on each kind ends ember) (both builds);
#      ember-jailer (plain build: only a static ember can be jailed)
#   4. Debian's unmodified kernel booted directly on this host's KVM (plain build)
#   5. Linux end to end on the KVM test bed (QEMU-emulated AMD-V, real kvm-amd)
#   6. the libFuzzer harnesses, briefly (make print-fuzz-harnesses: the virtqueue
#      walker, the API's bodies and HTTP framing, the loaders, the platform
#      devices, and the virtio transports with live devices)
# and ends with the total "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
scripts/install-deps.sh || { echo "dependency install failed"; exit 1; }
echo "== build"
make -s -j"$(nproc)" all >/dev/null || { echo "build failed"; exit 1; }
make -s -j"$(nproc)" SAN=1 ember unit >/dev/null || { echo "sanitizer build failed"; exit 1; }

total_pass=0
total_fail=0
total_skip=0
# Sums a suite's closing "N passed, N failed[, N skipped]" line into the totals.
tally() {
    local name=$1 log=$2 line p f s
    line=$(grep -E '^[^ ]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "!! $name printed no result line"
        total_fail=$((total_fail + 1))
        return
    fi
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+')
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + ${s:-0}))
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for build in build build-san; do
    echo "== unit tests ($build)"
    for t in $(find $build/tests -maxdepth 1 -type f -executable -name 'test_*' | sort); do
        "$t" >"$t.log" 2>&1
        rc=$?
        cat "$t.log" | grep -vE '^ember: (error|warning):' | tail -20
        tally "$t" "$t.log"
        [ $rc -ne 0 ] && ! grep -q " [1-9][0-9]* failed" "$t.log" && { echo "!! $t exited $rc"; total_fail=$((total_fail + 1)); }
    done
    suites="guest_tests bad_input api hostile seccomp"
    # ember-jailer runs only a static ember (the sanitizer build is dynamic).
    [ "$build" = build ] && suites="$suites jailer"
    for suite in $suites; do
        echo "== $suite ($build/ember)"
        log=$build/$suite.log
        bash tests/e2e/$suite.sh "$build/ember" >"$log" 2>&1
        cat "$log"
        tally "$suite" "$log"
        if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
            echo "!! sanitizer report in $suite"
            total_fail=$((total_fail + 1))
        fi
    done
done

echo "== linux_host (build/ember)"
bash tests/e2e/linux_host.sh build/ember >build/linux_host.log 2>&1
cat build/linux_host.log
tally linux_host build/linux_host.log

echo "== linux_testbed (static ember on the KVM test bed)"
bash tests/e2e/linux_testbed.sh >build/linux_testbed.log 2>&1
cat build/linux_testbed.log
tally linux_testbed build/linux_testbed.log

echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-30} s per harness)"
bash tests/fuzz/run.sh >build/fuzz.log 2>&1
cat build/fuzz.log
tally fuzz build/fuzz.log

[ -e /sys/module/kvm_pvm ] && echo "note: this host's KVM is PVM; checks it limits are reported as 'skip ... host limited'"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
