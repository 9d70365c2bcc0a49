#!/usr/bin/env bash
# virtio device paths against their floor, side by side in one run (see
# bench/virtio_bench.c): virtio-blk vs io_uring on the same 256 MiB image
# file, virtio-vsock streams vs a Unix socket pair, and virtio-net transmit and receive vs raw writes and reads of the same tap (inside a
# network namespace of its own, so the host's network is untouched).
# Usage: bench/virtio.sh
set -u
cd "$(dirname "$0")/.."
make -s build/bench/virtio-bench || exit 1
img=build/bench-disk.img
if [ ! -s "$img" ]; then
    dd if=/dev/urandom of="$img" bs=1M count=256 status=none
fi
echo "host: $(nproc) CPUs; ember's synthetic in-process driver polls the used ring"
build/bench/virtio-bench blk "$img"
echo
build/bench/virtio-bench vsock
echo
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    unshare --net sh -c 'ip link set lo up; build/bench/virtio-bench net benchtap0'
else
    echo "virtio-net: skipped (needs root and unshare for a tap in its own network namespace)"
fi
