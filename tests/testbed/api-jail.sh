# Runs inside the test bed's L1 (busybox sh): ember started by ember-jailer as
# uid 1000 in a chroot, then Firecracker's getting-started sequence with curl
# from outside the jail, on Debian's kernel with a root drive; the guest
# reads a file from that drive and powers off. Prints "JAIL: ..." lines that
# tests/e2e/linux_testbed.sh checks.
#
# L1's / is the initramfs, which pivot_root cannot leave: the jailer runs
# chrooted into a tmpfs (a mount point, so its pivot_root works there) that
# holds its own /dev and /proc.
curl() { /curl/lib/ld-linux-x86-64.so.2 --library-path /curl/lib /curl/curl "$@"; }
H=/jhost
mkdir -p $H && mount -t tmpfs jhost $H && mkdir -p $H/dev $H/proc $H/srv
mount --bind /dev $H/dev
mount -t proc proc $H/proc
cp /ember /ember-jailer $H/
JAIL=$H/srv/jailer/ember/vm1/root
S=$JAIL/run/ember.sock
api() {
    echo "JAIL: $1 $2 -> $(curl -s --max-time 30 --unix-socket $S -X "$1" "http://localhost$2" ${3:+-d "$3"} -w ' %{http_code}')"
}
chroot $H /ember-jailer --id vm1 --exec-file /ember --uid 1000 --gid 1000 -- \
    --api-sock /run/ember.sock --virtio-transport pci >/tmp/jail.out 2>&1 &
jailer=$!
for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
# What the VM needs, put into the jail for its uid (Firecracker's users do the same).
cp /vmlinuz /l2.cpio.gz /files/disk-jail.img $JAIL/ && chown 1000:1000 $JAIL/vmlinuz $JAIL/l2.cpio.gz $JAIL/disk-jail.img
pid=$(cat $JAIL/ember.pid 2>/dev/null)
echo "JAIL: ember pid ${pid:-none}: $(grep -E '^(Uid|Gid|CapEff|NoNewPrivs):' /proc/$pid/status 2>/dev/null | tr -s '\t ' ' ' | tr '\n' ' ')"
M="mkdir+/mnt;mount+-t+ext4+/dev/vda+/mnt;cat+/mnt/hello.txt;umount+/mnt"
api PUT /boot-source "{\"kernel_image_path\":\"/vmlinuz\",\"initrd_path\":\"/l2.cpio.gz\",\"boot_args\":\"console=ttyS0 quiet panic=-1 ember.cmd=$M ember.action=wait-cad\"}"
api PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"/disk-jail.img","is_root_device":true,"is_read_only":false}'
api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}'
api PUT /actions '{"action_type":"InstanceStart"}'
for i in $(seq 900); do grep -q "L2: waiting for ctrl-alt-del" /tmp/jail.out && break; sleep 0.1; done
echo "JAIL: threads $(for t in /proc/$pid/task/*; do printf '%s=%s ' "$(cat $t/comm)" "$(awk '/^Seccomp:/ {print $2}' $t/status)"; done)"
api PUT /actions '{"action_type":"SendCtrlAltDel"}'
wait $jailer
echo "JAIL: ember exit $?"
sed 's/^/JAIL out: /' /tmp/jail.out
umount $H/proc $H/dev; umount -l $H
