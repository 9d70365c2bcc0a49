#!/usr/bin/env bash
# Writes tests/fuzz/seeds-fuzz_boot/: small well-formed inputs for fuzz_boot
# to mutate from (its input layout is described in fuzz_boot.c). A tiny ELF
# kernel (a hlt loop at 1 MiB + 0x200 with a PVH entry note) is wrapped by
# tools/mkbzimage as a plain bzImage and as bzImages whose payload is the ELF
# compressed by the system's gzip and xz, as the kernel build does; the
# initrds are a newc cpio (plain and gzipped) and a romfs header; the
# decompressor seeds are the ELF in each of the seven formats. Needs
# `make tools` first. The seeds are committed; rerun after changing
# fuzz_boot's input layout.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/seeds-fuzz_boot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/tiny.S" <<'EOF'
    .code64
    .text
    .org 0x200                  /* mkbzimage's 64-bit entry: load address + 0x200 */
    .globl _start
_start:
    hlt
    jmp _start
    .section .note.Xen, "a"     /* XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry */
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long _start
EOF
gcc -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-N -Wl,-Ttext=0x100000 \
    -Wl,--section-start=.note.Xen=0x100210 -Wl,--no-warn-rwx-segments \
    -o "$tmp/tiny.elf" "$tmp/tiny.S"
strip "$tmp/tiny.elf"

# The fuzz_boot headers: boot (target, initrd length le16, machine byte) and
# decompress (target, output size le32).
le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $(($1 >> 16)); }
boot_seed() { # NAME TARGET MACHINE KERNEL [INITRD]
    local initrd=${5:-/dev/null}
    { printf "\\x$(printf %02x "$2")"; le16 "$(stat -L -c %s "$initrd")"; printf "\\x$(printf %02x "$3")"
      cat "$4" "$initrd"; } >"$out/$1"
}

(cd "$tmp" && mkdir root && echo "echo hello" >root/init && cd root && echo init | cpio -o -H newc --quiet >../initrd.cpio)
gzip -n -9 -c "$tmp/initrd.cpio" >"$tmp/initrd.cpio.gz"
{ printf -- "-rom1fs-"; head -c 56 /dev/zero; } >"$tmp/initrd.romfs"

build/tools/mkbzimage "$tmp/tiny.elf" "$tmp/plain.bzImage"
declare -A compress=([gzip]="gzip -n -9 -c" [bzip2]="bzip2 -9 -c" [lzma]="lzma -9 -c"
                     [xz]="xz --check=crc32 --lzma2=dict=64KiB -c" [lzo]="lzop -9 -c" [lz4]="lz4 -l -9 -c"
                     [zstd]="zstd -19 -q -c")
for fmt in "${!compress[@]}"; do
    ${compress[$fmt]} "$tmp/tiny.elf" >"$tmp/tiny.elf.$fmt"
done
build/tools/mkbzimage "$tmp/tiny.elf" "$tmp/gzip.bzImage" "$tmp/tiny.elf.gzip"
build/tools/mkbzimage "$tmp/tiny.elf" "$tmp/xz.bzImage" "$tmp/tiny.elf.xz"

rm -rf "$out"
mkdir -p "$out"
boot_seed bzimage-guest-decompress 1 0x40 "$tmp/plain.bzImage"
boot_seed bzimage-gzip-cpio 0 0x41 "$tmp/gzip.bzImage" "$tmp/initrd.cpio"
boot_seed bzimage-xz-cpio-gz 0 0x62 "$tmp/xz.bzImage" "$tmp/initrd.cpio.gz"
boot_seed bzimage-romfs 1 0x40 "$tmp/plain.bzImage" "$tmp/initrd.romfs"
boot_seed pvh-elf-cpio 0 0x40 "$tmp/tiny.elf" "$tmp/initrd.cpio"
# Decompressor targets follow enum kernel_compression: 2 + (format - gzip).
target=2
size=$(stat -c %s "$tmp/tiny.elf")
for fmt in gzip bzip2 lzma xz lzo lz4 zstd; do
    { printf "\\x$(printf %02x $target)"; le32 "$size"; cat "$tmp/tiny.elf.$fmt"; } >"$out/decompress-$fmt"
    target=$((target + 1))
done
ls -l "$out"
