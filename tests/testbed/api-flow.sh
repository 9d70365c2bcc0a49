# Runs inside the test bed's L1 (busybox sh): Firecracker's getting-started
# request sequence against ember with curl, on Debian's kernel with a root
# drive, then pause, resume, FlushMetrics and SendCtrlAltDel (the guest
# reboots, which ends ember, as in Firecracker). Prints
# "API: ..." lines that tests/e2e/linux_testbed.sh checks.
S=/tmp/fc.sock
curl() { /curl/lib/ld-linux-x86-64.so.2 --library-path /curl/lib /curl/curl "$@"; }
api() {
    echo "API: $1 $2 -> $(curl -s --max-time 30 --unix-socket $S -X "$1" "http://localhost$2" ${3:+-d "$3"} -w ' %{http_code}')"
}
rm -f $S /tmp/fc.out /tmp/fc.metrics
: >/tmp/fc.metrics # Firecracker's rule: a metrics path must exist
# Debian's kernel finds virtio over PCI only (no virtio-mmio command-line devices).
timeout -s TERM 150 /ember --api-sock $S --virtio-transport pci >/tmp/fc.out 2>&1 &
pid=$!
for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
M="mkdir+/mnt;mount+-t+ext4+/dev/vda+/mnt;cat+/mnt/hello.txt;umount+/mnt"
api PUT /boot-source "{\"kernel_image_path\":\"/vmlinuz\",\"initrd_path\":\"/l2.cpio.gz\",\"boot_args\":\"console=ttyS0 quiet panic=-1 ember.cmd=$M ember.action=wait-cad\"}"
api PUT /drives/rootfs '{"drive_id":"rootfs","path_on_host":"/files/disk-api.img","is_root_device":true,"is_read_only":false}'
api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}'
api PUT /metrics '{"metrics_path":"/tmp/fc.metrics"}'
api PUT /actions '{"action_type":"InstanceStart"}'
for i in $(seq 900); do grep -q "L2: waiting for ctrl-alt-del" /tmp/fc.out && break; sleep 0.1; done
api PATCH /vm '{"state":"Paused"}'
api GET /
api GET /vcpus
sleep 2
api PATCH /vm '{"state":"Resumed"}'
api GET /
api PUT /actions '{"action_type":"FlushMetrics"}'
api PUT /actions '{"action_type":"SendCtrlAltDel"}'
wait $pid
echo "API: ember exit $?"
sed 's/^/API out: /' /tmp/fc.out
echo "API: metrics $(grep -o '"block_rootfs":{[^}]*}' /tmp/fc.metrics | head -1)"
