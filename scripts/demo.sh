#!/usr/bin/env bash
# The main job: build ember and boot a guest on this machine's KVM.
# Today the guest is ember's own test-guest kit (the Linux guest comes with
# the Linux issue): it boots as a bzImage with 2 vCPUs, brings up the second
# vCPU, runs code in ring 3 on both, reads the RTC and powers off.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s -j"$(nproc)" ember guests >/dev/null
echo "== ember run --kernel build/guests/kit.bzImage --cpus 2 --cmdline 'test=hello'"
build/ember run --kernel build/guests/kit.bzImage --cpus 2 --memory 128 --cmdline "test=hello"
echo "== ember run --kernel build/guests/kit.elf --cpus 2 --cmdline 'test=smp cpus=2'   (PVH boot)"
build/ember run --kernel build/guests/kit.elf --cpus 2 --memory 128 --cmdline "test=smp cpus=2"
