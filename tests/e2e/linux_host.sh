#!/usr/bin/env bash
# Debian's unmodified cloud kernel booted by ember directly on this host's KVM
# (bzImage, host-side LZ4 decompression, 2 vCPUs, ACPI). Asserts what ember's
# boot path gave Linux as Linux reports it. On a PVM host (software KVM that
# emulates guest ring 0) Linux stops at an instruction PVM cannot emulate;
# there the test asserts the early boot and ember's clear report of that
# failure, and says which checks the host limited.
# Usage: linux_host.sh [EMBER_BINARY]
cd "$(dirname "$0")/../.."
EMBER=${1:-build/ember}
. tests/e2e/lib.sh

# boot KERNEL MEMORY CMDLINE: ember with 2 vCPUs; sets STATUS, $TMP/out, $TMP/err.
boot() {
    echo "kernel: $1"
    timeout 180 "$EMBER" run -v --kernel "$1" --cpus 2 --memory "$2" --cmdline "$3" </dev/null >"$TMP/raw" 2>"$TMP/err"
    STATUS=$?
    tr -d '\r' <"$TMP/raw" >"$TMP/out"
}

KERNEL=$(scripts/fetch-debian-kernel.sh) || { fail "fetch Debian's cloud kernel" "see above"; summary; exit 1; }
boot "$KERNEL" 512 "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 ember_marker=42"

check() { # NAME REGEX FILE
    if grep -qE -- "$2" "$3"; then pass "$1"; else fail "$1" "no /$2/ in $(basename "$3")"; fi
}
check "lz4 payload decompressed on the host, vmlinux entered directly" "lz4 payload decompressed on the host" "$TMP/err"
check "banner" "Linux version 6\\.[0-9]+" "$TMP/out"
check "command line as given" "Command line: console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 ember_marker=42" "$TMP/out"
check "e820: low RAM as ember gave it" "BIOS-e820: \\[mem 0x0000000000000000-0x000000000009fbff\\] usable" "$TMP/out"
check "e820: BIOS area reserved" "BIOS-e820: \\[mem 0x00000000000e0000-0x00000000000fffff\\] reserved" "$TMP/out"
check "e820: 512 MiB of RAM" "BIOS-e820: \\[mem 0x0000000000100000-0x000000001fffffff\\] usable" "$TMP/out"
check "ACPI: RSDP found where ember put it" "ACPI: RSDP 0x00000000000E0000" "$TMP/out"
check "ACPI: FADT, DSDT and MADT accepted" "ACPI: APIC 0x" "$TMP/out"
check "CPU count from the MADT: 2" "smpboot: Allowing 2 CPUs" "$TMP/out"
check "IOAPIC from the MADT" "IOAPIC\\[0\\]: apic_id 2, version 17, address 0xfec00000, GSI 0-23" "$TMP/out"
check "KVM paravirt detected" "Hypervisor detected: KVM" "$TMP/out"
if [ "$IS_PVM" = yes ]; then
    if [ "$STATUS" -eq 1 ] && grep -qE "error: vcpu [0-9]: KVM could not emulate an instruction at RIP 0x[0-9a-f]+ \\(bytes: [0-9a-f ]+\\); this host's KVM is PVM" "$TMP/err"; then
        pass "PVM's emulation failure is reported with RIP and instruction bytes, exit 1"
    else
        fail "PVM's emulation failure report" "status $STATUS: $(tail -1 "$TMP/err")"
    fi
    skip "Debian kernel: SMP bring-up, /init" "host limited: PVM cannot emulate Debian's kernel past $(grep -oE 'bytes: [0-9a-f ]{5}' "$TMP/err" | head -1)... (the microVM kernel below reaches the timer check; the KVM test bed covers the rest)"
else
    check "IOAPIC timer check" "TIMER: vector=0x30 apic1=0 pin1=" "$TMP/out"
    check "both CPUs brought up" "smp: Brought up 1 node, 2 CPUs" "$TMP/out"
fi

# ember's microVM kernel (6.12, built from Debian's linux-source with
# guest/microvm.config; gzip payload, MP table and ACPI) on this host.
MVM=$(scripts/build-kernel.sh) || { fail "build ember's microVM kernel" "see above"; summary; exit 1; }
boot "$MVM" 256 "console=ttyS0 panic=-1"
check "microVM kernel: gzip payload decompressed on the host" "gzip payload decompressed on the host" "$TMP/err"
check "microVM kernel: banner" "Linux version 6\.12\." "$TMP/out"
check "microVM kernel: IOAPIC timer check passed (PIT via IOAPIC pin 0)" "\.\.TIMER: vector=0x30 apic1=0 pin1=0" "$TMP/out"
if [ "$IS_PVM" = yes ]; then
    if [ "$STATUS" -eq 1 ] && grep -q "KVM could not emulate an instruction" "$TMP/err"; then
        pass "microVM kernel: PVM's emulation failure reported, exit 1"
    else
        fail "microVM kernel: PVM's emulation failure report" "status $STATUS: $(tail -1 "$TMP/err")"
    fi
    skip "microVM kernel: SMP bring-up and /init" "host limited: PVM cannot emulate $(grep -oE 'bytes: [0-9a-f ]{11}' "$TMP/err" | head -1)... (XRSTOR); the KVM test bed covers these"
fi
summary
