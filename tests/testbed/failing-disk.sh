# Runs inside the test bed's L1 (busybox sh): disks whose host side fails,
# for the plan's fail-* entries (tests/e2e/linux_testbed.sh).
#   failing-disk.sh setup NAME LOOP1 LOOP2
#     /dev/mapper/NAME, 16 MiB: 8 MiB linear over LOOP1 (a sparse file in
#     /tmp), 1 MiB of dm's `error` target at 8 MiB, 7 MiB linear again; and
#     /full/NAME, a 2 MiB tmpfs holding two sparse 16 MiB files: file.img, a
#     disk itself, and loop.img, behind LOOP2
#   failing-disk.sh done NAME LOOP1 LOOP2
#     what ember logged (its stderr, in /tmp/NAME.err), what L1's kernel said
#     about the disks, what the guest wrote where dm's disk works; tears down
# L1's kernel logs each failed write-back on the console, and ember each
# failed request; there their lines could land inside the guest's. So set-up
# sends the kernel's to dmesg only, the plan entry sends ember's stderr to
# /tmp/NAME.err, and `done` prints both after the VM.
set -u
name=$2 loop1=$3 loop2=$4
dmsetup() { /dmsetup/lib/ld-linux-x86-64.so.2 --library-path /dmsetup/lib /dmsetup/dmsetup "$@"; }
case $1 in
setup)
    cut -f1 /proc/sys/kernel/printk >/tmp/$name.printk
    dmesg -n 1
    truncate -s 16M /tmp/$name.img
    losetup $loop1 /tmp/$name.img || exit 1
    # No udev in L1: dmsetup waits for none and makes /dev/mapper/NAME itself.
    printf '0 16384 linear %s 0\n16384 2048 error\n18432 14336 linear %s 18432\n' $loop1 $loop1 |
        dmsetup create --noudevsync $name || exit 1
    dmsetup mknodes $name
    [ -b /dev/mapper/$name ] && echo "L1: /dev/mapper/$name: $(dmsetup table $name | tr '\n' ';')"
    mkdir -p /full/$name
    mount -t tmpfs -o size=2m $name /full/$name || exit 1
    truncate -s 16M /full/$name/file.img /full/$name/loop.img
    losetup $loop2 /full/$name/loop.img && echo "L1: /full/$name/file.img and $loop2 on a 2 MiB tmpfs"
    ;;
done)
    cat /tmp/$name.err
    # The kernel's names for the disks: dm-N, and loopN for the one on the tmpfs.
    for dev in dm-$(dmsetup info -c --noheadings -o minor $name) $(basename $loop2); do
        dmesg | grep -E " (dev )?$dev[,: ]" | grep -i error | sed 's/^\[[ 0-9.]*\] //; s/^/L1 kernel: /' | head -3
    done
    dmesg -n "$(cat /tmp/$name.printk)"
    echo "L1: the guest's marker in dm's image: $(grep -c marker-before-the-failure /tmp/$name.img)"
    dmsetup remove $name
    losetup -d $loop1
    losetup -d $loop2
    umount /full/$name
    rm -f /tmp/$name.img /tmp/$name.err /tmp/$name.printk
    ;;
esac
