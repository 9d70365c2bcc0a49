/* libFuzzer harness: a hostile driver against live virtio devices through
 * their transport, built twice: fuzz_virtio_mmio (virtio-mmio windows) and
 * fuzz_virtio_pci (-DFUZZ_VIRTIO_PCI: functions on a PCI bus, reached through
 * the 0xCF8/0xCFC ports and the BARs in the bus's window). The devices are
 * the real virtio-blk (on a memfd image, with io_uring), virtio-rng,
 * virtio-console (a back-end that counts bytes), virtio-net (on one end of
 * a SOCK_DGRAM socketpair instead of a tap) and virtio-vsock (its Unix
 * socket in a temporary directory, with a listener on host port 52 that
 * takes the guest's connections); the interrupt chip is the real
 * user-mode one. Guest RAM is followed by a PROT_NONE page, so a device write
 * past RAM faults.
 *
 * The input is a sequence of operations (see enum op): raw register and
 * guest-memory accesses, plus a few that do what a plausible driver does
 * (bring a device up, offer well-formed chains) so the fuzzer gets past the
 * status machine into the devices' request paths. The devices' I/O threads
 * are never started: a "kick" runs the device's queue processing on this
 * thread, as the I/O thread's on_kick does, and an "I/O turn" runs one round
 * of the device's own event loop (kick eventfds, io_uring completions, tap
 * input), so a run is deterministic. Any crash, out-of-bounds access, UB or
 * leak is a bug. Nothing of KVM is used: vm_fd is -1 throughout, so the
 * ioeventfd and irqfd ioctls are skipped or fail as on a host without them.
 *
 * Each input starts from power-on: every device reset, RAM zeroed, fresh
 * buses, interrupt chip and transports. The devices themselves live across
 * inputs (an io_uring per input would be most of the cost). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "irq/irq.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#ifdef FUZZ_VIRTIO_PCI
#include "pci/pci.h"
#include "virtio/pci.h"
#else
#include "virtio/mmio.h"
#endif
#include "fuzz_input.h"

#define NDEV 5
#define RAM (NDEV * (512u << 10))
/* Each device's driver keeps its rings and buffers in its own slice of RAM
 * (the fuzzer's raw writes may of course put anything anywhere). */
#define SLICE (RAM / NDEV)
#define RINGS_PER_QUEUE 0x4000u /* desc 4 KiB, avail at +4 KiB, used at +8 KiB */
#define DATA_OFF 0x10000u
#define IMAGE_BYTES (1u << 20)

static struct guest_memory mem;
static struct virtio_device *devs[NDEV];
static int vsock_listener = -1; /* host port 52: the guest's connections land here */
static int net_peer = -1; /* the host's end of the net device's "tap" */
static uint64_t console_out;
static struct io_bus pio, mmio;
static struct irq_chip chip;

/* What the harness's plausible driver remembers of each device. */
struct driver {
    uint16_t num[VIRTIO_MAX_QUEUES];
    uint64_t desc[VIRTIO_MAX_QUEUES], avail[VIRTIO_MAX_QUEUES];
    uint16_t next_desc[VIRTIO_MAX_QUEUES];
    uint32_t data_next; /* bump allocator in the slice's data area */
};
static struct driver drv[NDEV];
static unsigned waiting_turns; /* OP_IO_TURNs of this input that waited */

/* --- the input ---------------------------------------------------------------- */


static uint8_t take8(struct input *in) { return (uint8_t)take(in, 1); }
static uint16_t take16(struct input *in) { return (uint16_t)take(in, 2); }
static uint32_t take32(struct input *in) { return (uint32_t)take(in, 4); }
static uint32_t take_size(struct input *in) { return 1u << (take8(in) & 3); } /* 1, 2, 4 or 8 */

/* --- the transport ---------------------------------------------------------- */

/* An access to device d's registers (its MMIO window or BAR 0). */
static void reg_write(int d, uint64_t off, uint32_t size, uint64_t v);
static uint64_t reg_read(int d, uint64_t off, uint32_t size);

#ifdef FUZZ_VIRTIO_PCI
#define WINDOW_SIZE 0x100000ull
static struct pci_bus pci;
static struct virtio_pci transports[NDEV];

/* Where the guest last put device d's BAR (it decodes there only if free). */
static uint64_t regs_base(int d) { return transports[d].pci.bar_addr[0]; }
#define REGS_SIZE VIRTIO_PCI_BAR_SIZE

static void attach_all(void)
{
    if (pci_bus_init(&pci, &pio, &mmio, LAYOUT_PCI_WINDOW, WINDOW_SIZE) < 0)
        abort();
    for (int d = 0; d < NDEV; d++)
        if (virtio_pci_attach(&transports[d], devs[d], -1, &pci, &chip, 5 + d) < 0)
            abort();
}

static void detach_all(void)
{
    for (int d = 0; d < NDEV; d++)
        virtio_pci_detach(&transports[d]);
    pci_bus_destroy(&pci);
}

/* The common configuration's fields (virtio 1.2, 4.1.4.3); the ones both
 * transports have share their names (the code after the #endif uses them). */
enum { DEVICE_FEATURES_SEL = 0x00, DEVICE_FEATURES = 0x04, DRIVER_FEATURES_SEL = 0x08, DRIVER_FEATURES = 0x0c,
       C_MSIX_CONFIG = 0x10, STATUS_REG = 0x14,
       C_QUEUE_SEL = 0x16, C_QUEUE_SIZE = 0x18, C_QUEUE_VECTOR = 0x1a, C_QUEUE_ENABLE = 0x1c, C_QUEUE_DESC = 0x20,
       C_QUEUE_DRIVER = 0x28, C_QUEUE_DEVICE = 0x30 };
#define NOTIFY 0x3000
#define MSIX_TABLE 0x3800


static void cfg_write(uint8_t slot, uint8_t off, uint32_t size, uint32_t v)
{
    uint32_t addr = 0x80000000u | (uint32_t)slot << 11 | (off & 0xfcu);
    io_bus_write(&pio, 0xcf8, (const uint8_t *)&addr, 4);
    io_bus_write(&pio, 0xcfc + (off & 3u), (const uint8_t *)&v, size);
}

static uint32_t cfg_read(uint8_t slot, uint8_t off, uint32_t size)
{
    uint32_t addr = 0x80000000u | (uint32_t)slot << 11 | (off & 0xfcu), v = 0;
    io_bus_write(&pio, 0xcf8, (const uint8_t *)&addr, 4);
    io_bus_read(&pio, 0xcfc + (off & 3u), (uint8_t *)&v, size);
    return v;
}

#define STATUS_SIZE 1 /* device_status is a byte here, a 32-bit register over MMIO */
static void queue_setup(int d, uint16_t q, uint16_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    reg_write(d, C_QUEUE_SEL, 2, q);
    reg_write(d, C_QUEUE_SIZE, 2, num);
    reg_write(d, C_QUEUE_DESC, 8, desc);
    reg_write(d, C_QUEUE_DRIVER, 8, avail);
    reg_write(d, C_QUEUE_DEVICE, 8, used);
    reg_write(d, C_QUEUE_VECTOR, 2, q);
}
static void queue_ready(int d, uint16_t q, bool ready)
{
    reg_write(d, C_QUEUE_SEL, 2, q);
    reg_write(d, C_QUEUE_ENABLE, 2, ready);
}
static void notify(int d, uint16_t q) { reg_write(d, NOTIFY + 4u * q, 2, q); }

/* MSI-X on (or off), every vector aimed at the LAPIC and unmasked. */
static void msix_setup(int d, bool on)
{
    struct virtio_pci *t = &transports[d];
    for (unsigned v = 0; v <= devs[d]->num_queues; v++) {
        reg_write(d, MSIX_TABLE + 16 * v, 8, LAYOUT_LAPIC);
        reg_write(d, MSIX_TABLE + 16 * v + 8, 4, 0x30 + v);
        reg_write(d, MSIX_TABLE + 16 * v + 12, 4, 0);
    }
    reg_write(d, C_MSIX_CONFIG, 2, devs[d]->num_queues);
    cfg_write((uint8_t)t->pci.slot, (uint8_t)(t->msix_cap + 3), 1, on ? 0x80 : 0);
}
#else
#define REGS_SIZE VIRTIO_MMIO_SIZE
static struct virtio_mmio transports[NDEV];
static uint64_t regs_base(int d) { return LAYOUT_VIRTIO_MMIO + (uint64_t)d * VIRTIO_MMIO_SIZE; }

static void attach_all(void)
{
    for (int d = 0; d < NDEV; d++)
        if (virtio_mmio_attach(&transports[d], devs[d], -1, &mmio, &chip, regs_base(d), 5 + d) < 0)
            abort();
}

static void detach_all(void)
{
    for (int d = 0; d < NDEV; d++)
        virtio_mmio_detach(&transports[d]);
}

/* Register offsets (virtio 1.2, 4.2.2). */
enum { DEVICE_FEATURES = 0x010, DEVICE_FEATURES_SEL = 0x014, DRIVER_FEATURES = 0x020,
       DRIVER_FEATURES_SEL = 0x024, R_QUEUE_SEL = 0x030, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
       R_QUEUE_NOTIFY = 0x050, STATUS_REG = 0x070, R_DESC_LOW = 0x080, R_DESC_HIGH = 0x084, R_DRIVER_LOW = 0x090,
       R_DRIVER_HIGH = 0x094, R_DEVICE_LOW = 0x0a0, R_DEVICE_HIGH = 0x0a4 };

#define STATUS_SIZE 4
static void queue_setup(int d, uint16_t q, uint16_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    reg_write(d, R_QUEUE_SEL, 4, q);
    reg_write(d, R_QUEUE_NUM, 4, num);
    reg_write(d, R_DESC_LOW, 4, (uint32_t)desc);
    reg_write(d, R_DESC_HIGH, 4, desc >> 32);
    reg_write(d, R_DRIVER_LOW, 4, (uint32_t)avail);
    reg_write(d, R_DRIVER_HIGH, 4, avail >> 32);
    reg_write(d, R_DEVICE_LOW, 4, (uint32_t)used);
    reg_write(d, R_DEVICE_HIGH, 4, used >> 32);
}
static void queue_ready(int d, uint16_t q, bool ready)
{
    reg_write(d, R_QUEUE_SEL, 4, q);
    reg_write(d, R_QUEUE_READY, 4, ready);
}
static void notify(int d, uint16_t q) { reg_write(d, R_QUEUE_NOTIFY, 4, q); }
#endif

static void reg_write(int d, uint64_t off, uint32_t size, uint64_t v)
{
    io_bus_write(&mmio, regs_base(d) + off, (const uint8_t *)&v, size);
}

static uint64_t reg_read(int d, uint64_t off, uint32_t size)
{
    uint64_t v = 0;
    io_bus_read(&mmio, regs_base(d) + off, (uint8_t *)&v, size);
    return v;
}

static void set_status(int d, uint8_t s) { reg_write(d, STATUS_REG, STATUS_SIZE, s); }

static uint32_t device_features(int d, uint32_t sel)
{
    reg_write(d, DEVICE_FEATURES_SEL, 4, sel);
    return (uint32_t)reg_read(d, DEVICE_FEATURES, 4);
}

static void driver_features(int d, uint32_t sel, uint32_t v)
{
    reg_write(d, DRIVER_FEATURES_SEL, 4, sel);
    reg_write(d, DRIVER_FEATURES, 4, v);
}

/* --- the devices ---------------------------------------------------------------- */

static void count_output(void *ctx, const uint8_t *buf, size_t len) { (void)ctx, (void)buf, console_out += len; }

/* Guest RAM followed by a PROT_NONE page: a device write past RAM faults. */
static void map_guarded_ram(void)
{
    guest_memory_plan(&mem, RAM);
    uint8_t *p = mmap(NULL, RAM + 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p, RAM, PROT_READ | PROT_WRITE) < 0)
        abort();
    mem.base = mem.regions[0].host = p;
}

static void create_devices(void)
{
    log_set_level(LOG_OFF); /* guest-triggered warnings would be most of the run time */
    map_guarded_ram();
    int image = memfd_create("fuzz-virtio-blk", 0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", image);
    if (image < 0 || ftruncate(image, IMAGE_BYTES) < 0)
        abort();
    struct virtio_blk_config blk = {.path = path, .serial = "fuzz"};
    devs[0] = virtio_blk_create(&mem, "virtio-blk-fuzz", &blk);
    close(image); /* the device opened its own */
    devs[1] = virtio_rng_create(&mem, "virtio-rng-fuzz", NULL);
    struct virtio_console_backend be = {.write = count_output};
    devs[2] = virtio_console_create(&mem, "virtio-console-fuzz", &be);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    net_peer = sv[1];
    struct virtio_net_config net = {.mac_set = true, .mac = {0x02, 0, 0, 0, 0, 1}};
    devs[3] = virtio_net_create_on_fd(&mem, "virtio-net-fuzz", &net, sv[0]);
    static char dir[] = "/tmp/ember-fuzz-vsock-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char uds[96];
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    struct virtio_vsock_config vs = {.guest_cid = 3, .uds_path = uds};
    devs[4] = virtio_vsock_create(&mem, "virtio-vsock-fuzz", &vs);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s_52", uds);
    vsock_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (vsock_listener < 0 || bind(vsock_listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(vsock_listener, 64) < 0)
        abort();
    for (int d = 0; d < NDEV; d++)
        if (!devs[d])
            abort();
}

static void drain_socket(int fd)
{
    uint8_t buf[256];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

/* Back to power-on: devices reset with nothing left over from the last
 * input, zero RAM, a fresh machine around them. */
static void power_on(void)
{
    for (int d = 0; d < NDEV; d++) {
        virtio_set_status(devs[d], 0);
        while (event_loop_run_once(&devs[d]->loop, 0) > 0) /* stale kicks and completions */
            ;
    }
    drain_socket(net_peer);
    for (int fd; (fd = accept4(vsock_listener, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
        close(fd); /* connections of the last input (ember closed its ends at reset) */
    madvise(mem.base, RAM, MADV_DONTNEED);
    memset(drv, 0, sizeof(drv));
    waiting_turns = 0;
    io_bus_init(&pio, "pio");
    io_bus_init(&mmio, "mmio");
    if (irq_chip_create(&chip, -1, IRQCHIP_USER, 1, &pio, &mmio, 0) < 0)
        abort();
    attach_all();
}

static void power_off(void)
{
    detach_all();
    irq_chip_destroy(&chip);
    io_bus_destroy(&pio);
    io_bus_destroy(&mmio);
}

/* --- the plausible driver ------------------------------------------------------------- */

static uint64_t slice(int d) { return (uint64_t)d * SLICE; }

/* The ordinary bring-up with the features the input picks (of those
 * offered), queue sizes 1..256, rings in the device's slice (or the used
 * ring of queue 0 right at the end of RAM). */
static void bring_up(int d, struct input *in)
{
    uint32_t want_lo = take32(in), want_hi = take32(in);
    uint8_t flags = take8(in);
    set_status(d, 0);
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    driver_features(d, 0, device_features(d, 0) & want_lo);
    driver_features(d, 1, (device_features(d, 1) & want_hi) | 1); /* VERSION_1 */
    uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    set_status(d, s);
    for (uint16_t q = 0; q < devs[d]->num_queues; q++) {
        uint16_t num = (uint16_t)(1u << (take8(in) % 9));
        uint64_t rings = slice(d) + q * RINGS_PER_QUEUE;
        uint64_t used = rings + 0x2000;
        if (q == 0 && (flags & 1))
            used = (RAM - (6 + 8u * num)) & ~3ull;
        /* Fresh rings, as a driver allocates after a reset. */
        static const uint8_t zero_rings[6 + 8 * VIRTQ_MAX_SIZE];
        guest_write(&mem, rings + 0x1000, zero_rings, 6 + 2u * num);
        guest_write(&mem, used, zero_rings, 6 + 8u * num);
        queue_setup(d, q, num, rings, rings + 0x1000, used);
        queue_ready(d, q, true);
        drv[d].num[q] = num;
        drv[d].desc[q] = rings;
        drv[d].avail[q] = rings + 0x1000;
        drv[d].next_desc[q] = 0;
    }
#ifdef FUZZ_VIRTIO_PCI
    if (flags & 2)
        msix_setup(d, true);
#endif
    set_status(d, s | VIRTIO_STATUS_DRIVER_OK);
}

/* `len` bytes of the slice's data area (wrapping round). */
static uint64_t data_alloc(int d, uint32_t len)
{
    const uint32_t area = SLICE - DATA_OFF;
    if (len > area)
        len = area;
    if (drv[d].data_next + len > area)
        drv[d].data_next = 0;
    uint64_t gpa = slice(d) + DATA_OFF + drv[d].data_next;
    drv[d].data_next += (len + 15) & ~15u;
    return gpa;
}

static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    struct virtq_desc desc = {addr, len, flags, next};
    guest_write(&mem, table + 16ull * i, &desc, sizeof(desc));
}

enum chain_kind { CHAIN_ANY, CHAIN_BLK, CHAIN_NET_TX, CHAIN_WRITABLE, CHAIN_VSOCK_TX, CHAIN_KINDS };

/* Offers one well-formed chain on queue q: a block request (header, data,
 * status), a packet for the tap (vnet header and frame), writable buffers
 * (rng, receive queues), or any mix the input spells, directly in the ring
 * or through an indirect table. The first readable buffer's bytes come from
 * the input (a request header, a vnet header). */
static void offer_chain(int d, uint16_t q, struct input *in)
{
    uint8_t kind = take8(in), flags = take8(in);
    uint16_t num = drv[d].num[q];
    if (q >= devs[d]->num_queues || !num)
        return;
    uint32_t len[8];
    bool writable[8];
    unsigned n = 0;
    uint8_t head_bytes[VSOCK_HDR_LEN] = {0}; /* the first buffer's start: a request, vnet or vsock header */
    size_t head_len = 16;
    bool has_head = true;
    switch (kind % CHAIN_KINDS) {
    case CHAIN_BLK: {
        static const uint32_t types[] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
                                         VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
        uint32_t type = types[take8(in) % 6];
        uint32_t sectors = take8(in) % 9;
        len[n] = 16, writable[n++] = false;
        if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES)
            len[n] = 16, writable[n++] = false;
        else if (sectors)
            len[n] = sectors * 512, writable[n++] = type != VIRTIO_BLK_T_OUT;
        len[n] = 1, writable[n++] = true;
        struct { uint32_t type, reserved; uint64_t sector; } rq = {type, 0, take16(in) % (IMAGE_BYTES / 512 + 8)};
        memcpy(head_bytes, &rq, sizeof(rq));
        break;
    }
    case CHAIN_NET_TX:
        len[n] = NET_HDR_LEN, writable[n++] = false;
        len[n] = 14 + take16(in) % 1600, writable[n++] = false;
        break;
    case CHAIN_VSOCK_TX: { /* a packet from this guest to the host, mostly to port 52 (where one listens) */
        uint32_t payload = take16(in) % 2048;
        uint8_t how = take8(in);
        struct vsock_hdr h = {.src_cid = how & 0x80 ? take8(in) : 3, .dst_cid = how & 0x40 ? take8(in) : 2,
                              .src_port = take16(in), .dst_port = how & 1 ? take16(in) : 52,
                              .len = how & 2 ? take16(in) : payload, .type = how & 4 ? take8(in) : 1,
                              .op = take8(in) % 9, .flags = take8(in), .buf_alloc = (uint32_t)take(in, 4),
                              .fwd_cnt = (uint32_t)take(in, 4)};
        vsock_encode_hdr(&h, head_bytes);
        head_len = VSOCK_HDR_LEN;
        len[n] = VSOCK_HDR_LEN + payload, writable[n++] = false;
        break;
    }
    case CHAIN_WRITABLE:
        has_head = false;
        for (unsigned i = 0, count = 1 + take8(in) % 4; i < count; i++)
            len[n] = 1 + take16(in) % 4096, writable[n++] = true;
        break;
    default:
        for (unsigned i = 0, count = 1 + take8(in) % 8; i < count; i++) {
            uint16_t l = take16(in);
            len[n] = l & 0x7fff, writable[n++] = l >> 15;
        }
        break;
    }
    if (has_head && kind % CHAIN_KINDS != CHAIN_BLK && kind % CHAIN_KINDS != CHAIN_VSOCK_TX)
        for (unsigned j = 0; j < head_len; j++)
            head_bytes[j] = take8(in);
    bool indirect = flags & 1;
    if (!indirect && n > num)
        n = num;
    uint64_t table = drv[d].desc[q];
    uint16_t first = indirect ? 0 : drv[d].next_desc[q];
    if (indirect)
        table = data_alloc(d, 16 * n);
    uint16_t size = indirect ? (uint16_t)n : num;
    for (unsigned i = 0; i < n; i++) {
        uint16_t at = (uint16_t)((first + i) % size), next = (uint16_t)((first + i + 1) % size);
        uint64_t buf = data_alloc(d, len[i]);
        if (i == 0 && has_head)
            guest_write(&mem, buf, head_bytes, len[0] < head_len ? len[0] : head_len);
        uint16_t f = (uint16_t)((writable[i] ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        put_desc(table, at, buf, len[i], f, next);
    }
    uint16_t head = first;
    if (indirect) {
        head = drv[d].next_desc[q];
        put_desc(drv[d].desc[q], head, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
        n = 1;
    }
    drv[d].next_desc[q] = (uint16_t)((drv[d].next_desc[q] + n) % num);
    /* The available ring: the index as the guest's memory has it now. */
    uint64_t avail = drv[d].avail[q];
    uint16_t idx = 0;
    guest_read(&mem, avail + 2, &idx, 2);
    guest_write(&mem, avail + 4 + 2ull * (idx % num), &head, 2);
    idx++;
    guest_write(&mem, avail + 2, &idx, 2);
    if (flags & 2)
        notify(d, q);
}

/* --- the operations ----------------------------------------------------------------- */

enum op {
    OP_REG_WRITE,    /* any offset, size and value in a device's registers */
    OP_REG_READ,
    OP_MEM_WRITE,    /* bytes anywhere in RAM */
    OP_BRING_UP,
    OP_OFFER_CHAIN,
    OP_KICK,         /* the device's queue processing, as its I/O thread's on_kick */
    OP_IO_TURN,      /* one round of the device's event loop: kicks, completions, tap input */
    OP_RESET,        /* Status = 0 */
    OP_QUEUE_RESET,  /* QueueReady = 0, I/O perhaps in flight */
    OP_NET_INPUT,    /* a packet from the host for the guest */
    OP_CONSOLE_INPUT,
    OP_WINDOW_WRITE, /* anywhere on the MMIO bus near the devices */
    OP_WINDOW_READ,
    OP_CFG_WRITE,    /* PCI config space (virtio-pci only) */
    OP_CFG_READ,
    OP_BAR_MOVE,
    OP_MSIX,
    OP_COUNT
};

static void run_op(struct input *in)
{
    uint8_t op = take8(in) % OP_COUNT;
    int d = take8(in) % NDEV;
    struct virtio_device *dev = devs[d];
    switch (op) {
    case OP_REG_WRITE: {
        uint64_t off = take16(in) % REGS_SIZE;
        uint32_t size = take_size(in);
        reg_write(d, off, size, take(in, 8));
        break;
    }
    case OP_REG_READ: {
        uint64_t off = take16(in) % REGS_SIZE;
        reg_read(d, off, take_size(in));
        break;
    }
    case OP_MEM_WRITE: {
        uint32_t gpa = take32(in) % RAM, len = take8(in);
        uint8_t buf[256];
        unsigned n = 0;
        for (; n < len && in->left; n++)
            buf[n] = take8(in);
        if (n > RAM - gpa)
            n = RAM - gpa;
        guest_write(&mem, gpa, buf, n);
        break;
    }
    case OP_BRING_UP: bring_up(d, in); break;
    case OP_OFFER_CHAIN: {
        uint16_t q = take8(in) % dev->num_queues;
        offer_chain(d, q, in);
        break;
    }
    case OP_KICK: {
        uint16_t q = take8(in) % dev->num_queues;
        pthread_mutex_lock(&dev->lock);
        if (dev->active && !dev->broken && dev->vq[q].enabled)
            dev->ops->queue_kick(dev, q);
        pthread_mutex_unlock(&dev->lock);
        break;
    }
    case OP_IO_TURN: { /* waits up to 1 ms for io_uring a few times an input: no more, or inputs get slow */
        bool wait = (take8(in) & 1) && waiting_turns < 8;
        waiting_turns += wait;
        event_loop_run_once(&dev->loop, wait);
        break;
    }
    case OP_RESET: set_status(d, 0); break;
    case OP_QUEUE_RESET: queue_ready(d, take8(in) % dev->num_queues, false); break;
    case OP_NET_INPUT: {
        uint8_t pkt[2048] = {0};
        uint32_t len = take16(in) % sizeof(pkt);
        for (uint32_t i = 0; i < len && i < 64 && in->left; i++)
            pkt[i] = take8(in);
        ssize_t r = send(net_peer, pkt, len, MSG_DONTWAIT);
        (void)r;
        break;
    }
    case OP_CONSOLE_INPUT: {
        uint8_t text[64];
        uint32_t len = take8(in) % sizeof(text);
        for (uint32_t i = 0; i < len; i++)
            text[i] = take8(in);
        virtio_console_receive(devs[2], text, len);
        break;
    }
#ifdef FUZZ_VIRTIO_PCI
    case OP_WINDOW_WRITE: {
        uint64_t at = LAYOUT_PCI_WINDOW + take32(in) % (WINDOW_SIZE + 0x1000);
        uint32_t size = take_size(in);
        uint64_t v = take(in, 8);
        io_bus_write(&mmio, at, (const uint8_t *)&v, size);
        break;
    }
    case OP_WINDOW_READ: {
        uint64_t at = LAYOUT_PCI_WINDOW + take32(in) % (WINDOW_SIZE + 0x1000), v;
        io_bus_read(&mmio, at, (uint8_t *)&v, take_size(in));
        break;
    }
    case OP_CFG_WRITE: {
        uint8_t slot = take8(in) % 8, off = take8(in);
        uint32_t size = take_size(in);
        cfg_write(slot, off, size > 4 ? 4 : size, take32(in));
        break;
    }
    case OP_CFG_READ: {
        uint8_t slot = take8(in) % 8, off = take8(in);
        uint32_t size = take_size(in);
        cfg_read(slot, off, size > 4 ? 4 : size);
        break;
    }
    case OP_BAR_MOVE: { /* sizing, then a new address in (or near) the window */
        uint8_t slot = (uint8_t)transports[d].pci.slot;
        uint8_t how = take8(in);
        uint64_t to = LAYOUT_PCI_WINDOW + (uint64_t)(take16(in) % 0x48) * VIRTIO_PCI_BAR_SIZE;
        if (how & 1) {
            cfg_write(slot, PCI_BAR0, 4, 0xffffffffu);
            cfg_read(slot, PCI_BAR0, 4);
        }
        if (how & 2)
            cfg_write(slot, PCI_COMMAND, 2, 0);
        cfg_write(slot, PCI_BAR0, 4, (uint32_t)to);
        cfg_write(slot, PCI_BAR0 + 4, 4, (uint32_t)(to >> 32));
        if (how & 2)
            cfg_write(slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
        break;
    }
    case OP_MSIX: msix_setup(d, take8(in) & 1); break;
#else
    case OP_WINDOW_WRITE: {
        uint64_t at = LAYOUT_VIRTIO_MMIO + take16(in) % ((NDEV + 1) * VIRTIO_MMIO_SIZE);
        uint32_t size = take_size(in);
        uint64_t v = take(in, 8);
        io_bus_write(&mmio, at, (const uint8_t *)&v, size);
        break;
    }
    case OP_WINDOW_READ: {
        uint64_t at = LAYOUT_VIRTIO_MMIO + take16(in) % ((NDEV + 1) * VIRTIO_MMIO_SIZE), v;
        io_bus_read(&mmio, at, (uint8_t *)&v, take_size(in));
        break;
    }
    default: break;
#endif
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devs[0])
        create_devices();
    power_on();
    struct input in = {data, size};
    for (int ops = 0; in.left && ops < 256; ops++)
        run_op(&in);
    if (getenv("FUZZ_VIRTIO_VERBOSE")) /* to check that seeds reach the devices' request paths */
        for (int d = 0; d < NDEV; d++) {
            struct virtio_stats st = virtio_device_stats(devs[d]);
            fprintf(stderr, "%s: status 0x%02x kicks %llu in %llu/%lluB out %llu/%lluB flush %llu fail %llu "
                    "dropped %llu/%llu broken %llu stale %llu\n", devs[d]->name, devs[d]->status,
                    (unsigned long long)st.kicks, (unsigned long long)st.in_count, (unsigned long long)st.in_bytes,
                    (unsigned long long)st.out_count, (unsigned long long)st.out_bytes,
                    (unsigned long long)st.flush_count, (unsigned long long)st.fail_count,
                    (unsigned long long)st.in_dropped, (unsigned long long)st.out_dropped,
                    (unsigned long long)st.broken, (unsigned long long)st.stale_dropped);
        }
    power_off();
    return 0;
}
