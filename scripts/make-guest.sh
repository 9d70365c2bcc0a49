#!/usr/bin/env bash
# Makes ember's default Linux guest from Debian's packages alone:
#   OUT/vmlinuz            the kernel: Debian's stock cloud kernel
#                          (linux-image-cloud-amd64), or with `microvm` ember's
#                          microVM kernel built from linux-source-6.12
#                          (scripts/build-kernel.sh, cached per machine)
#   OUT/initramfs.cpio.gz  busybox-static, guest/init, and the modules it loads
# Usage: make-guest.sh [OUT [stock|microvm]]   (default build/guest stock); prints OUT
set -eu
cd "$(dirname "$0")/.."
out=${1:-build/guest}
flavour=${2:-stock}
kernel=$(scripts/fetch-debian-kernel.sh)
root=$(dirname "$(dirname "$kernel")")
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || { echo "make-guest: busybox-static is missing" >&2; exit 1; }
rm -rf "$out/initramfs"
mkdir -p "$out/initramfs/bin" "$out/initramfs/lib/modules"
cp /bin/busybox "$out/initramfs/bin/busybox"
cp guest/init "$out/initramfs/init"
chmod +x "$out/initramfs/init"
cp "$root/lib/modules/$kver/kernel/drivers/misc/pvpanic/"{pvpanic,pvpanic-mmio}.ko "$out/initramfs/lib/modules/"
# Debian's kernel has virtio as modules: the ones ember's devices need, in
# load order (guest/init loads them when the kernel has no virtio built in).
virtio_modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
    drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/virtio/virtio_mmio net/core/failover
    drivers/net/net_failover drivers/net/virtio_net drivers/block/virtio_blk drivers/char/hw_random/virtio-rng
    drivers/char/virtio_console drivers/virtio/virtio_balloon net/vmw_vsock/vsock net/vmw_vsock/vmw_vsock_virtio_transport_common
    net/vmw_vsock/vmw_vsock_virtio_transport"
: >"$out/initramfs/lib/modules/virtio.order"
for m in $virtio_modules; do
    cp "$root/lib/modules/$kver/kernel/$m.ko" "$out/initramfs/lib/modules/"
    basename "$m" >>"$out/initramfs/lib/modules/virtio.order"
done
(cd "$out/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz"
case "$flavour" in
stock) cp "$kernel" "$out/vmlinuz" ;;
microvm) cp "$(scripts/build-kernel.sh)" "$out/vmlinuz" ;;
*) echo "make-guest: unknown kernel '$flavour' (stock or microvm)" >&2; exit 2 ;;
esac
echo "$out"
