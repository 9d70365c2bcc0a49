#!/usr/bin/env bash
# Fetches Debian's stock cloud kernel (the package linux-image-cloud-amd64
# depends on) into ember's cache and prints the vmlinuz path. Cached per machine:
# ${EMBER_CACHE:-$HOME/.cache/ember}/debian-kernel/.
set -eu
cache=${EMBER_CACHE:-$HOME/.cache/ember}/debian-kernel
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(resolve)
if [ -z "$pkg" ]; then # no package lists yet (a new machine): fetch them once
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >/dev/null 2>&1
    pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "fetch-debian-kernel: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
dir=$cache/$pkg
if [ ! -e "$dir/done" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb root && rm -f ./*.deb) ||
        { echo "fetch-debian-kernel: cannot download $pkg" >&2; exit 1; }
    touch "$dir/done"
fi
ls "$dir"/root/boot/vmlinuz-*
