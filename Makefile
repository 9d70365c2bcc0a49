# ember build. `make` builds build/ember; `make SAN=1` builds an ASan+UBSan
# variant in build-san/; `make test` runs every test (see scripts/test.sh).
CC      ?= gcc
SAN     ?= 0
STATIC  ?= 0
ifeq ($(STATIC),1)
# A self-contained ember for the KVM test bed's initramfs (tests/testbed/).
BUILD   ?= build-static
SANFLAGS := -static
OPT     := -O2
else ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2
# ember itself is linked statically (as Firecracker is): ember-jailer copies
# it alone into an empty chroot, where no shared library can be found.
EMBER_LINK := -static
endif
CFLAGS  := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -pthread $(SANFLAGS) -MMD -MP
LDFLAGS := -pthread $(SANFLAGS)
# Kernel payload decompression (src/boot/decompress.c); io_uring for virtio-blk;
# jansson and http-parser for the control API (src/api); libseccomp compiles
# the per-thread system call filters (src/security).
DECOMPRESS_LIBS := -lz -lbz2 -llzma -llzo2 -llz4 -lzstd
LDLIBS  := $(DECOMPRESS_LIBS) -luring -ljansson -lhttp_parser -lseccomp

LIB_SRCS  := $(filter-out src/main.c src/jailer/%,$(shell find src -name '*.c' | sort))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
# ember-jailer (src/jailer) is a binary of its own; its parts but main.c
# make libjailer.a, which its unit tests (test_jailer_*) link.
JAILER_SRCS := $(filter-out src/jailer/main.c,$(sort $(wildcard src/jailer/*.c)))
JAILER_OBJS := $(JAILER_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all ember jailer unit guests tools bench clean
all: ember jailer unit guests tools
ember: $(BUILD)/ember
jailer: $(BUILD)/ember-jailer
unit: $(UNIT_BINS) $(BUILD)/tests/ember-seccomp-probe

$(BUILD)/ember: $(BUILD)/src/main.o $(BUILD)/libember.a
	$(CC) $(LDFLAGS) $(EMBER_LINK) -o $@ $^ $(LDLIBS)

$(BUILD)/libember.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

# Static like ember: it needs nothing but libc.
$(BUILD)/ember-jailer: $(BUILD)/src/jailer/main.o $(BUILD)/libjailer.a
	$(CC) $(LDFLAGS) $(EMBER_LINK) -o $@ $^

$(BUILD)/libjailer.a: $(JAILER_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libember.a $(LDFLAGS) $(LDLIBS)
# The jailer's tests (the shorter stem wins over the rule above).
$(BUILD)/tests/test_jailer_%: tests/unit/test_jailer_%.c tests/unit/check.h $(BUILD)/libjailer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libjailer.a $(LDFLAGS)

# ember with the seccomp probe (tests/security/seccomp_probe.c): a forbidden
# system call on a chosen kind of thread, for tests/e2e/seccomp.sh.
$(BUILD)/tests/ember-seccomp-probe: $(BUILD)/src/main.o tests/security/seccomp_probe.c $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EMBER_LINK) -o $@ $(BUILD)/src/main.o tests/security/seccomp_probe.c $(BUILD)/libember.a $(LDFLAGS) $(LDLIBS)

# Host tools and the freestanding test-guest kit (never sanitized: the guest
# kit is not host code).
tools: build/tools/mkbzimage build/tools/mkpattern build/tools/extract-vmlinux build/tools/dump-acpi
build/tools/%: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<
# These two use ember's own code (payload decompression, ACPI tables).
build/tools/extract-vmlinux build/tools/dump-acpi: build/tools/%: tools/%.c build/libember.a
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -o $@ $< build/libember.a -pthread $(LDLIBS)

guests: tools
	$(MAKE) -C tests/guests

clean:
	rm -rf build build-san
	$(MAKE) -C tests/guests clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Benchmark helper (bench/run.sh).
bench: $(BUILD)/bench/benchtool $(BUILD)/bench/virtio-bench ember guests
$(BUILD)/bench/virtio-bench: bench/virtio_bench.c $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libember.a $(LDFLAGS) $(LDLIBS)
$(BUILD)/bench/benchtool: bench/benchtool.c $(BUILD)/libember.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libember.a $(LDFLAGS) $(LDLIBS)

# libFuzzer harnesses (clang): the virtqueue walker and the blk/net request
# parsers, the API's bodies and its HTTP server, with the sources they
# exercise compiled with coverage and ASan/UBSan.
# Threads confine themselves (src/security), a no-op until seccomp_prepare.
FUZZ_SECURITY_SRCS := src/security/landlock.c src/security/seccomp.c src/security/seccomp_allowlists.c src/security/seccomp_json.c src/util/file.c
FUZZ_SECURITY_LIBS := -lseccomp -ljansson
FUZZ_SRCS := src/memory/guest_memory.c src/virtio/virtqueue.c src/virtio/device.c src/virtio/blk.c \
             src/virtio/net.c src/virtio/vsock.c src/virtio/rate_limiter.c src/util/event_loop.c src/util/log.c $(FUZZ_SECURITY_SRCS)
FUZZ_FLAGS := -std=gnu11 -O1 -g -D_GNU_SOURCE -Isrc -pthread -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined -Wall -Wextra -Werror
.PHONY: fuzz
# Every libFuzzer harness; tests/fuzz/run.sh runs the same list (make print-fuzz-harnesses).
FUZZ_HARNESSES := fuzz_virtqueue fuzz_balloon fuzz_api fuzz_http fuzz_boot fuzz_platform fuzz_virtio_mmio fuzz_virtio_pci
fuzz: $(FUZZ_HARNESSES:%=build/fuzz/%)
.PHONY: print-fuzz-harnesses
print-fuzz-harnesses:
	@echo $(FUZZ_HARNESSES)
build/fuzz/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c $(FUZZ_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_virtqueue.c $(FUZZ_SRCS) -luring $(FUZZ_SECURITY_LIBS)
# A hostile balloon driver: the inflate, deflate, stats and reporting parsers.
build/fuzz/fuzz_balloon: tests/fuzz/fuzz_balloon.c src/virtio/balloon.c $(FUZZ_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_balloon.c src/virtio/balloon.c $(FUZZ_SRCS) -luring $(FUZZ_SECURITY_LIBS)
# The API's request bodies and config sections (fc_config.c with jansson).
build/fuzz/fuzz_api: tests/fuzz/fuzz_api.c src/api/fc_config.c src/cpu/cpu_template.c $(FUZZ_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_api.c src/api/fc_config.c src/cpu/cpu_template.c $(FUZZ_SRCS) -luring $(FUZZ_SECURITY_LIBS)
# The API's HTTP server from raw bytes (http_server.c itself, on socketpairs).
build/fuzz/fuzz_http: tests/fuzz/fuzz_http.c src/api/http_server.c src/util/log.c $(FUZZ_SECURITY_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_http.c src/api/http_server.c src/util/log.c $(FUZZ_SECURITY_SRCS) -lhttp_parser $(FUZZ_SECURITY_LIBS)
# The kernel and initrd loaders and the payload decompressors (src/boot with
# Debian's compression libraries), fed hostile kernel and initrd files.
FUZZ_BOOT_SRCS := $(wildcard src/boot/*.c) src/memory/guest_memory.c src/util/file.c src/util/log.c
build/fuzz/fuzz_boot: tests/fuzz/fuzz_boot.c $(FUZZ_BOOT_SRCS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_boot.c $(FUZZ_BOOT_SRCS) $(DECOMPRESS_LIBS)
# The platform devices and ember's interrupt controllers in --irqchip user,
# with the MSR exit handler (cpu/interrupts.c, with the real vm/lifecycle.c);
# the harness stubs the one vcpu.c function interrupts.c calls. irq.c and interrupts.c put a KVM
# header struct with a flexible array before its entries, a GNU C extension
# gcc's gnu11 takes silently and clang names.
PLATFORM_FUZZ_SRCS := src/devices/uart_16550.c src/devices/i8042.c src/devices/cmos_rtc.c src/devices/power.c \
                      src/devices/pvpanic.c src/devices/debug_port.c src/irq/ioapic.c src/irq/lapic.c src/irq/pic.c \
                      src/irq/pit.c src/irq/irq.c src/cpu/interrupts.c src/vm/lifecycle.c src/kvm/kvm.c src/bus/io_bus.c src/util/log.c \
                      $(FUZZ_SECURITY_SRCS)
build/fuzz/fuzz_platform: tests/fuzz/fuzz_platform.c $(PLATFORM_FUZZ_SRCS) $(wildcard src/*/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -Wno-gnu-variable-sized-type-not-at-end -o $@ tests/fuzz/fuzz_platform.c $(PLATFORM_FUZZ_SRCS) $(FUZZ_SECURITY_LIBS)
# Live devices (blk, rng, console, net) driven through a transport's
# registers, one binary per transport from one source (the real buses, PCI
# bus and user-mode interrupt chip; no KVM: vm_fd is -1). irq.c's KVM
# routing table puts the kernel header's variable-sized struct first, a GNU
# extension gcc accepts and clang warns about.
FUZZ_TRANSPORT_SRCS := $(FUZZ_SRCS) src/virtio/console.c src/virtio/rng.c src/virtio/mmio.c src/virtio/pci.c \
                       src/pci/pci.c src/bus/io_bus.c $(wildcard src/irq/*.c) src/kvm/kvm.c
build/fuzz/fuzz_virtio_mmio: FUZZ_TRANSPORT_DEFS :=
build/fuzz/fuzz_virtio_pci: FUZZ_TRANSPORT_DEFS := -DFUZZ_VIRTIO_PCI
build/fuzz/fuzz_virtio_mmio build/fuzz/fuzz_virtio_pci: tests/fuzz/fuzz_virtio_transport.c $(FUZZ_TRANSPORT_SRCS) $(wildcard src/*/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -Wno-gnu-variable-sized-type-not-at-end $(FUZZ_TRANSPORT_DEFS) -o $@ tests/fuzz/fuzz_virtio_transport.c $(FUZZ_TRANSPORT_SRCS) -luring $(FUZZ_SECURITY_LIBS)
