#!/usr/bin/env bash
# Builds ember's microVM guest kernel from Debian's linux-source-6.12 with
# guest/microvm.config on top of tinyconfig. Cached per machine: rebuilt only
# when the config or the source package changes. Prints the bzImage path;
# progress goes to stderr (a first build takes minutes: ~1 a minute on 2 CPUs).
#   ${EMBER_CACHE:-$HOME/.cache/ember}/microvm-kernel/<key>/{bzImage,vmlinux,config}
set -eu
cd "$(dirname "$0")/.."
deps="linux-source-6.12 bc bison flex libelf-dev libssl-dev make gcc xz-utils"
missing=""
for p in $deps; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
    echo "build-kernel: installing what the build needs:$missing" >&2
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
        echo "build-kernel: unpacking linux-source $src_version (once per machine)" >&2
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
    # make's "  CC  file" lines, counted: a line on stderr every 30 s or 500
    # files, so a first build shows it is moving.
    echo "build-kernel: building ember's microVM kernel (Linux $src_version; once per machine)" >&2
    start=$(date +%s)
    set -o pipefail
    make -j"$(nproc)" bzImage 2>"$cache/build.err" | awk -v start="$start" '
        /^  [A-Z]/ { n++ }
        { now = systime(); if (n - shown >= 500 || now - said >= 30) { shown = n; said = now
              printf "build-kernel: %d files built (%ds)\n", n, now - start > "/dev/stderr" } }
        END { printf "build-kernel: done, %d files (%ds)\n", n, systime() - start > "/dev/stderr" }' ||
        { tail -20 "$cache/build.err" >&2; echo "build-kernel: the kernel build failed (above)" >&2; exit 1; }
    mkdir -p "$out"
    cp arch/x86/boot/bzImage "$out/bzImage"
    cp vmlinux "$out/vmlinux"
    cp .config "$out/config"
    cd "$OLDPWD"
fi
echo "$out/bzImage"
