#!/usr/bin/env bash
# Builds ember's microVM guest kernel from Debian's linux-source-6.12 with
# guest/microvm.config on top of tinyconfig. Cached per machine: rebuilt only
# when the config or the source package changes. Prints the bzImage path.
#   ${EMBER_CACHE:-$HOME/.cache/ember}/microvm-kernel/<key>/{bzImage,vmlinux,config}
set -eu
cd "$(dirname "$0")/.."
deps="linux-source-6.12 bc bison flex libelf-dev libssl-dev make gcc xz-utils"
missing=""
for p in $deps; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$( (echo "$src_version"; cat guest/microvm.config) | sha256sum | cut -c1-16)
cache=${EMBER_CACHE:-$HOME/.cache/ember}/microvm-kernel
out=$cache/$key
if [ ! -e "$out/bzImage" ]; then
    work=$cache/src-$src_version
    if [ ! -d "$work/linux-source-6.12" ]; then
        mkdir -p "$work"
        tar -xaf /usr/src/linux-source-6.12.tar.xz -C "$work"
    fi
    cd "$work/linux-source-6.12"
    make -s tinyconfig >/dev/null
    scripts/kconfig/merge_config.sh -m .config "$OLDPWD/guest/microvm.config" >/dev/null
    make -s olddefconfig >/dev/null
    # Every option the config asks for must have survived dependency resolution.
    lost=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$OLDPWD/guest/microvm.config" | while IFS= read -r line; do
        grep -qx "$line" .config || echo "$line"
    done)
    [ -z "$lost" ] || { echo "build-kernel: these options did not take: $(echo $lost)" >&2; exit 1; }
    make -s -j"$(nproc)" bzImage >/dev/null
    mkdir -p "$out"
    cp arch/x86/boot/bzImage "$out/bzImage"
    cp vmlinux "$out/vmlinux"
    cp .config "$out/config"
    cd "$OLDPWD"
fi
echo "$out/bzImage"
