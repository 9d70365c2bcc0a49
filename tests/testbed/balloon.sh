# Runs inside the test bed's L1 (busybox sh): virtio-balloon through
# Firecracker's API, on the kernel and transport given (balloon.sh KERNEL
# pci|mmio). The guest (256 MiB) fills 150 MiB and frees it (ember's RSS
# keeps those pages); PATCH /balloon inflates by 150 MiB and ember's RSS,
# read from /proc, must drop by about that much; statistics arrive at their
# interval; deflating to 0 gives the pages back to the guest. Then the same
# fill and free with free page reporting and no target: the guest reports the
# freed pages itself and the RSS drops. Last, deflate_on_oom: with 180 MiB
# ballooned, the guest asks for 150 MiB, and the balloon gives pages back
# instead of the kernel killing the program.
# Prints "BALLOON: ..." lines that tests/e2e/linux_testbed.sh checks.
K=$1
T=$2
S=/tmp/bl.sock
curl() { /curl/lib/ld-linux-x86-64.so.2 --library-path /curl/lib /curl/curl "$@"; }
api() { curl -s --max-time 30 --unix-socket $S -X "$1" "http://localhost$2" ${3:+-d "$3"} -w ' %{http_code}'; }
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' /proc/$pid/status; }
wait_out() { for i in $(seq 1200); do grep -q "$1" /tmp/bl.out && return 0; sleep 0.1; done; return 1; }
# dd's one 150 MiB buffer: touched (ember's RSS grows), freed when dd ends.
FILL="dd+if=/dev/zero+of=/dev/null+bs=150M+count=1+2>/dev/null&&echo+L2:+filled+and+freed+150+MiB"
# boot REPORTING DEFLATE_ON_OOM GUEST_CMD: one VM, a balloon of 0 MiB with statistics every second.
boot() {
    rm -f $S /tmp/bl.out
    timeout -s TERM 200 /ember --api-sock $S --virtio-transport $T >/tmp/bl.out 2>&1 &
    pid=$!
    for i in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
    api PUT /boot-source "{\"kernel_image_path\":\"$K\",\"initrd_path\":\"/l2.cpio.gz\",\"boot_args\":\"console=ttyS0 quiet panic=-1 ember.cmd=$3 ember.action=wait-cad\"}" >/dev/null
    api PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}' >/dev/null
    echo "BALLOON: PUT /balloon -> $(api PUT /balloon "{\"amount_mib\":0,\"deflate_on_oom\":$2,\"stats_polling_interval_s\":1,\"free_page_reporting\":$1}")"
    echo "BALLOON: InstanceStart -> $(api PUT /actions '{"action_type":"InstanceStart"}')"
}
# actual_mib TEST ARG: waits until the balloon's size passes the test (its statistics say).
actual_mib() {
    for i in $(seq 60); do
        api GET /balloon/statistics >/tmp/bl.stats
        n=$(sed -n 's/.*"actual_mib":\([0-9]*\).*/\1/p' /tmp/bl.stats)
        [ -n "$n" ] && [ "$n" "$1" "$2" ] && return 0
        sleep 1
    done
    return 1
}
stop() { api PUT /actions '{"action_type":"SendCtrlAltDel"}' >/dev/null; wait $pid; echo "BALLOON: ember exit $?"; }

boot false false "$FILL"
wait_out "L2: filled and freed" || echo "BALLOON: the guest did not fill its memory"
sleep 2
before=$(rss)
echo "BALLOON: PATCH /balloon 150 MiB -> $(api PATCH /balloon '{"amount_mib":150}')"
actual_mib -eq 150 && echo "BALLOON: the guest gave 150 MiB" || echo "BALLOON: statistics: $(cat /tmp/bl.stats)"
after=$(rss)
echo "BALLOON: ember's RSS $before MiB, after inflating 150 MiB $after MiB (down $((before - after)) MiB)"
[ $((before - after)) -ge 100 ] && echo "BALLOON: RSS dropped by at least 100 MiB"
grep -q '"free_memory":[1-9]' /tmp/bl.stats && echo "BALLOON: statistics have free_memory, total_memory: $(grep -o '"total_memory":[0-9]*' /tmp/bl.stats)"
echo "BALLOON: PATCH /balloon 0 MiB -> $(api PATCH /balloon '{"amount_mib":0}')"
actual_mib -eq 0 && echo "BALLOON: deflated to 0"
stop

boot true false "$FILL"
wait_out "L2: filled and freed" || echo "BALLOON: the guest did not fill its memory"
# Linux reports free 2 MiB blocks about 2 s after they are freed.
for i in $(seq 30); do reported=$(rss); [ $((before - reported)) -ge 64 ] && break; sleep 1; done
echo "BALLOON: with free page reporting, ember's RSS after the guest freed 150 MiB: $reported MiB (without: $before MiB)"
[ $((before - reported)) -ge 64 ] && echo "BALLOON: free page reporting gave back at least 64 MiB"
stop

# The guest waits 30 s (the balloon inflates meanwhile), then asks for 150 MiB.
boot false true "sleep+30;$FILL"
wait_out "L2: running" && sleep 2
echo "BALLOON: PATCH /balloon 180 MiB -> $(api PATCH /balloon '{"amount_mib":180}')"
actual_mib -eq 180 && echo "BALLOON: the guest gave 180 MiB"
wait_out "L2: filled and freed" && echo "BALLOON: deflate_on_oom: the guest's 150 MiB allocation succeeded"
actual_mib -lt 180 && echo "BALLOON: deflate_on_oom: the balloon gave pages back ($(sed -n 's/.*"actual_mib":\([0-9]*\).*/\1/p' /tmp/bl.stats) MiB left)"
stop
sed 's/^/BALLOON out: /' /tmp/bl.out | grep -v "debug" | tail -12
