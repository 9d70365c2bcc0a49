#!/usr/bin/env bash
# Installs the Debian 12 packages ember's build, tests and benchmarks need.
# Idempotent: does nothing when they are already there.
#   gcc, make, libc6-dev, binutils  build ember, its unit tests, the guest kit
#   procps                          ps/pgrep used by tests and benchmarks
#   bsdutils                        `script`: gives ember a real terminal in the console test
#   zlib1g-dev libbz2-dev liblzma-dev liblzo2-dev liblz4-dev libzstd-dev
#                                   decompressing a bzImage's kernel on the host
#   gzip bzip2 xz-utils lzop lz4 zstd  the kernel build's compressors, to make test bzImages
#   qemu-system-x86                 the KVM test bed (QEMU TCG emulating AMD-V) and the benchmarks' peer VMM;
#                                   from bookworm-backports (QEMU 10): QEMU 7.2's emulated SVM hung or
#                                   triple-faulted nested guests in about 1 test-bed run of 5
#   busybox-static, cpio            the default Linux guest's initramfs and the test bed's outer one
#   acpica-tools                    iasl, to disassemble ember's DSDT in a test
#   liburing-dev                    virtio-blk's io_uring back-end
#   e2fsprogs                       mkfs.ext4: the disk images of the virtio-blk tests
#   clang, libclang-rt-14-dev       the libFuzzer harnesses (tests/fuzz)
#   iproute2, util-linux            ip and unshare/setpriv: the virtio-net tests' tap in a network namespace
#   libjansson-dev, libhttp-parser-dev  the control API: JSON (jansson) and HTTP/1.1 parsing (http-parser)
#   libseccomp-dev                  the per-thread seccomp filters (src/security)
#   curl                            the API tests talk to ember through its Unix socket
#   dmsetup                         the test bed's disk with dm's error target (copied into its outer VM)
set -eu
pkgs="gcc make libc6-dev binutils procps bsdutils zlib1g-dev libbz2-dev liblzma-dev liblzo2-dev liblz4-dev libzstd-dev gzip bzip2 xz-utils lzop lz4 zstd busybox-static cpio acpica-tools liburing-dev e2fsprogs clang libclang-rt-14-dev iproute2 util-linux libjansson-dev libhttp-parser-dev libseccomp-dev curl dmsetup"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# QEMU at least 10 (bookworm-backports); Debian 12's own 7.2 is not enough.
qemu_major=$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p')
new_qemu=""
[ "${qemu_major:-0}" -lt 10 ] && new_qemu=" qemu-system-x86(bookworm-backports)"
[ -z "$missing$new_qemu" ] && exit 0
echo "installing:$missing$new_qemu"
# The archive this machine already uses for bookworm (one-line or deb822
# sources), so that backports come from the same mirror.
bookworm_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        # deb [options] URI SUITE COMPONENTS...: skip the bracketed options
        [ -f "$f" ] && awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                                          if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
    done | head -n 1 | grep . && return
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && awk 'BEGIN { RS = ""; FS = "\n" }
            /(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ { for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, u, " "); print u[2]; exit } }' "$f"
    done | head -n 1
}
if [ -n "$new_qemu" ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(bookworm_mirror)
    [ -n "$mirror" ] || { echo "install-deps: no bookworm entry in /etc/apt/sources.list*: cannot add bookworm-backports for QEMU 10"; exit 1; }
    echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
[ -n "$missing" ] && $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if [ -n "$new_qemu" ]; then
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi
