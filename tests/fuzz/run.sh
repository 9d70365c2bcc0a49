#!/usr/bin/env bash
# Runs the libFuzzer harnesses for a short time (FUZZ_SECONDS each, default
# 30) and reports "N passed, N failed": a harness passes when libFuzzer found
# no crash, leak, out-of-bounds access or undefined behaviour. The corpus
# grows across local runs in build/fuzz/corpus-*; a crashing input is kept in
# build/fuzz/ for replay (build/fuzz/HARNESS INPUT).
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
pass=0 fail=0
make -s fuzz || { echo "fuzz build failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
for h in $(make -s print-fuzz-harnesses); do
    corpus=build/fuzz/corpus-$h
    mkdir -p "$corpus"
    # Seeds (well-formed inputs to mutate from), when the harness has some.
    seeds=tests/fuzz/seeds-$h
    [ -d "$seeds" ] || seeds=
    if build/fuzz/$h -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=build/fuzz/ "$corpus" $seeds \
        >build/fuzz/$h.log 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$h.log)
        echo "ok    $h: $runs inputs in ${secs}s, no crash (corpus $(ls "$corpus" | wc -l) inputs)"
        pass=$((pass + 1))
    else
        echo "FAIL  $h: see build/fuzz/$h.log"
        grep -E "ERROR|SUMMARY|runtime error" build/fuzz/$h.log | head -5
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
