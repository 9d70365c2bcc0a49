/* A small virtio 1.x driver for the kit: virtio-mmio devices found on the
 * command line (virtio_mmio.device=SIZE@ADDR:IRQ, as ember writes it for
 * Linux), one split queue each, completions by interrupt through the IOAPIC.
 * The tests drive virtio-rng and virtio-blk the way a driver should, and
 * then the way a hostile one would. */
#include "kit.h"

#define MAGIC 0x74726976
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_AVAIL_LO 0x090
#define R_AVAIL_HI 0x094
#define R_USED_LO 0x0a0
#define R_USED_HI 0x0a4
#define R_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define F_NEXT 1
#define F_WRITE 2
#define QN 16
#define MAX_DEVS 8

struct desc {
    u64 addr;
    u32 len;
    u16 flags, next;
};

struct vdev {
    u64 base;          /* virtio-mmio: the register window */
    u32 irq, id;
    int index;
    u16 q; /* the queue vq_submit/vq_wait use */
    bool pci;          /* virtio-pci: the regions below, found through its capabilities */
    int slot;
    u64 common, isr, devcfg, notify, msix;
    u32 notify_mult;
    u64 cfg;           /* device configuration space, either transport */
    u64 used_at;       /* where vdev_setup puts the used ring (0: beside the others) */
    volatile struct desc *desc;
    volatile u16 *avail, *used;
    u16 n, avail_idx, last_used;
};

/* Rings: desc table at 0, avail and used rings after it (avail_offset). */
static u8 rings[MAX_DEVS][8192] __attribute__((aligned(4096)));
static u8 rings_q1[8192] __attribute__((aligned(4096))); /* virtio-net's transmit queue */
static volatile int irqs[MAX_DEVS], config_irqs[MAX_DEVS];
static int irq_base[MAX_DEVS]; /* used-buffer interrupts before the current set-up */
static struct vdev *irq_dev[MAX_DEVS];


/* virtio-pci: the common configuration's fields, by virtio-mmio register. */
static u64 pci_field(struct vdev *d, u32 reg, int *size)
{
    *size = 4;
    switch (reg) {
    case R_DEV_FEATURES_SEL: return d->common + 0x00;
    case R_DEV_FEATURES: return d->common + 0x04;
    case R_DRV_FEATURES_SEL: return d->common + 0x08;
    case R_DRV_FEATURES: return d->common + 0x0c;
    case R_STATUS: *size = 1; return d->common + 0x14;
    case R_QUEUE_SEL: *size = 2; return d->common + 0x16;
    case R_QUEUE_NUM: *size = 2; return d->common + 0x18;
    case R_QUEUE_READY: *size = 2; return d->common + 0x1c;
    case R_DESC_LO: return d->common + 0x20;
    case R_DESC_HI: return d->common + 0x24;
    case R_AVAIL_LO: return d->common + 0x28;
    case R_AVAIL_HI: return d->common + 0x2c;
    case R_USED_LO: return d->common + 0x30;
    case R_USED_HI: return d->common + 0x34;
    default: return 0;
    }
}

/* The driver's view of a register, the same on both transports: a
 * virtio-pci device maps the virtio-mmio register names onto its common
 * configuration, its notify registers and its ISR byte. */
static u32 rd(struct vdev *d, u32 reg)
{
    if (!d->pci)
        return mmio_read32(d->base + reg);
    if (reg == R_INT_STATUS)
        return *(volatile u8 *)d->isr; /* reading acknowledges */
    int size;
    u64 a = pci_field(d, reg, &size);
    if (!a)
        return 0;
    return size == 1 ? *(volatile u8 *)a : size == 2 ? *(volatile u16 *)a : *(volatile u32 *)a;
}

static void wr(struct vdev *d, u32 reg, u32 v)
{
    if (!d->pci) {
        mmio_write32(d->base + reg, v);
        return;
    }
    if (reg == R_QUEUE_NOTIFY) {
        *(volatile u16 *)(d->notify + v * d->notify_mult) = (u16)v; /* queue_notify_off = the queue's index */
        return;
    }
    if (reg == R_QUEUE_READY && v) /* each queue's MSI-X vector: entry 1 + its index */
        *(volatile u16 *)(d->common + 0x1a) = (u16)(1 + *(volatile u16 *)(d->common + 0x16));
    int size;
    u64 a = pci_field(d, reg, &size);
    if (!a)
        return; /* R_INT_ACK: the ISR read acknowledged already */
    if (size == 1)
        *(volatile u8 *)a = (u8)v;
    else if (size == 2)
        *(volatile u16 *)a = (u16)v;
    else
        *(volatile u32 *)a = v;
}

/* PCI configuration mechanism #1, bus 0, function 0. */
static u32 pci_cfg_rd(int slot, u32 off)
{
    outl(0xcf8, 0x80000000u | (u32)slot << 11 | (off & 0xfc));
    return inl(0xcfc);
}
static void pci_cfg_wr16(int slot, u32 off, u16 v)
{
    outl(0xcf8, 0x80000000u | (u32)slot << 11 | (off & 0xfc));
    outw((u16)(0xcfc + (off & 2)), v);
}

/* A virtio-pci device: its BAR 0 and the regions its capabilities point at. */
static bool pci_probe(int slot, u32 device_id, struct vdev *d)
{
    u32 id = pci_cfg_rd(slot, 0);
    if ((id & 0xffff) != 0x1af4 || (id >> 16) != 0x1040 + device_id)
        return false;
    u64 bar = (pci_cfg_rd(slot, 0x10) & ~0xfu) | ((u64)pci_cfg_rd(slot, 0x14) << 32);
    pci_cfg_wr16(slot, 0x04, 0x6); /* memory space, bus master */
    *d = (struct vdev){.pci = true, .slot = slot, .index = slot, .id = device_id};
    for (u32 cap = pci_cfg_rd(slot, 0x34) & 0xff; cap; cap = (pci_cfg_rd(slot, cap) >> 8) & 0xff) {
        u32 head = pci_cfg_rd(slot, cap);
        if ((head & 0xff) == 0x11) { /* MSI-X */
            d->msix = bar + (pci_cfg_rd(slot, cap + 4) & ~7u);
            d->irq = cap; /* remembered: where to enable it */
            continue;
        }
        if ((head & 0xff) != 0x09)
            continue;
        u64 at = bar + pci_cfg_rd(slot, cap + 8);
        switch ((head >> 24) & 0xff) {
        case 1: d->common = at; break;
        case 2: d->notify = at; d->notify_mult = pci_cfg_rd(slot, cap + 16); break;
        case 3: d->isr = at; break;
        case 4: d->devcfg = at; break;
        }
    }
    d->cfg = d->devcfg;
    return d->common && d->notify && d->isr && d->msix;
}

static u64 parse_num(const char **p, int base)
{
    u64 v = 0;
    for (;; (*p)++) {
        char c = **p;
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (x < 0 || x >= base)
            return v;
        v = v * (u64)base + (u64)x;
    }
}

/* The nth virtio device with `device_id`: virtio-mmio ones from the command
 * line, else virtio-pci ones on bus 0. */
static bool virtio_find(u32 device_id, int nth, struct vdev *d)
{
    static const char key[] = "virtio_mmio.device=";
    int index = 0;
    for (const char *p = boot.cmdline; p && *p; p++) {
        if (strncmp(p, key, sizeof(key) - 1) || (p != boot.cmdline && p[-1] != ' '))
            continue;
        const char *q = p + sizeof(key) - 1;
        parse_num(&q, 10); /* size, e.g. 4K */
        while (*q && *q != '@')
            q++;
        if (*q++ != '@' || q[0] != '0' || q[1] != 'x')
            continue;
        q += 2;
        u64 base = parse_num(&q, 16);
        if (*q++ != ':')
            continue;
        u32 irq = (u32)parse_num(&q, 10);
        struct vdev probe = {.base = base, .irq = irq, .index = index++};
        if (rd(&probe, R_MAGIC) != MAGIC || rd(&probe, R_VERSION) != 2 || rd(&probe, R_DEVICE_ID) != device_id)
            continue;
        if (nth-- == 0) {
            *d = probe;
            d->id = device_id;
            d->cfg = base + R_CONFIG;
            return true;
        }
    }
    /* No such virtio-mmio device: look on the PCI bus. */
    for (int slot = 1; slot < 32; slot++)
        if (pci_probe(slot, device_id, d) && nth-- == 0)
            return true;
    return false;
}

static void virtio_config_isr(struct isr_frame *f)
{
    int i = (int)f->vector - 0x70;
    if (i >= 0 && i < MAX_DEVS)
        config_irqs[i]++;
}

static void virtio_isr(struct isr_frame *f)
{
    int i = (int)f->vector - 0x60;
    if (i < 0 || i >= MAX_DEVS || !irq_dev[i])
        return;
    u32 st = rd(irq_dev[i], R_INT_STATUS);
    wr(irq_dev[i], R_INT_ACK, st);
    if (st & 1)
        irqs[i]++;
    if (st & 2)
        config_irqs[i]++;
}

/* Where a queue of n entries has its available ring in its page pair (the
 * used ring is 1 KiB further): after the descriptor table. */
static u64 avail_offset(u16 n) { return n > 64 ? 0x1000 : 0x400; }

/* Points queue q's registers at x's rings of n entries and enables it. */
static void queue_enable(struct vdev *d, u16 q, u16 n, const struct vdev *x)
{
    wr(d, R_QUEUE_SEL, q);
    wr(d, R_QUEUE_NUM, n);
    wr(d, R_DESC_LO, (u32)(u64)x->desc);
    wr(d, R_DESC_HI, 0);
    wr(d, R_AVAIL_LO, (u32)(u64)x->avail);
    wr(d, R_AVAIL_HI, 0);
    wr(d, R_USED_LO, (u32)(u64)x->used);
    wr(d, R_USED_HI, 0);
    wr(d, R_QUEUE_READY, 1);
}

/* Resets the device and negotiates VERSION_1 (plus `extra` feature bits);
 * sets up queue 0 with `n` entries. Returns the final status. */
static u32 vdev_setup(struct vdev *d, u64 extra, u16 n)
{
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACK);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    wr(d, R_DEV_FEATURES_SEL, 1);
    u64 offered = (u64)rd(d, R_DEV_FEATURES) << 32;
    wr(d, R_DEV_FEATURES_SEL, 0);
    offered |= rd(d, R_DEV_FEATURES);
    u64 take = offered & ((1ULL << 32) | extra);
    wr(d, R_DRV_FEATURES_SEL, 0);
    wr(d, R_DRV_FEATURES, (u32)take);
    wr(d, R_DRV_FEATURES_SEL, 1);
    wr(d, R_DRV_FEATURES, (u32)(take >> 32));
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(d, R_STATUS) & S_FEATURES_OK))
        return rd(d, R_STATUS);
    u8 *mem = rings[d->index % MAX_DEVS];
    memset(mem, 0, sizeof(rings[0]));
    d->desc = (volatile struct desc *)mem;
    d->avail = (volatile u16 *)(mem + avail_offset(n));
    d->used = (volatile u16 *)(d->used_at ? d->used_at : (u64)mem + avail_offset(n) + 0x400);
    memset((void *)d->used, 0, 6 + 8 * (size_t)n);
    d->n = n;
    d->avail_idx = d->last_used = 0;
    irq_base[d->index % MAX_DEVS] = irqs[d->index % MAX_DEVS];
    queue_enable(d, 0, n, d);
    /* Interrupts: the device's GSI through the IOAPIC to this CPU, or its
     * MSI-X vectors: entry 0 configuration changes, entry 1 + q queue q. */
    int slot = d->index % MAX_DEVS;
    irq_dev[slot] = d;
    set_irq_handler(0x60 + slot, virtio_isr);
    set_irq_handler(0x70 + slot, virtio_config_isr);
    pic_mask_all();
    if (d->pci) {
        for (int e = 0; e < 3; e++) {
            volatile u32 *entry = (volatile u32 *)(d->msix + 16 * (u64)e);
            entry[0] = 0xfee00000u | lapic_id() << 12;
            entry[1] = 0;
            entry[2] = (u32)((e == 0 ? 0x70 : 0x60) + slot);
            entry[3] = 0; /* unmasked */
        }
        *(volatile u16 *)(d->common + 0x10) = 0; /* msix_config: entry 0 */
        pci_cfg_wr16(d->slot, d->irq + 2, (u16)(0x8000 | (pci_cfg_rd(d->slot, d->irq) >> 16))); /* MSI-X on */
    } else {
        ioapic_route((int)d->irq, 0x60 + slot, lapic_id(), false);
    }
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return rd(d, R_STATUS);
}

struct buf {
    void *p;
    u32 len;
    bool device_writes;
};

/* Puts one chain of `n` buffers at descriptors 0..n-1 and notifies. */
static void vq_submit(struct vdev *d, int n, const struct buf *b)
{
    for (int i = 0; i < n; i++) {
        d->desc[i].addr = (u64)b[i].p;
        d->desc[i].len = b[i].len;
        d->desc[i].flags = (u16)((i + 1 < n ? F_NEXT : 0) | (b[i].device_writes ? F_WRITE : 0));
        d->desc[i].next = (u16)(i + 1);
    }
    d->avail[2 + (d->avail_idx % d->n)] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail_idx++;
    d->avail[1] = d->avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wr(d, R_QUEUE_NOTIFY, d->q);
}

/* Waits (interrupts on) for the used ring to advance; returns the length
 * the device reported, or -1 after the hang guard. */
static s64 vq_wait(struct vdev *d)
{
    u64 t0 = rdtsc();
    while (d->used[1] == d->last_used) {
        if (rdtsc() - t0 > 20000000000ULL)
            return -1;
        sti();
        cpu_relax();
        cli();
    }
    /* The driver asked for every interrupt (no suppression): wait for this
     * one's too, so no interrupt is left pending into the next request. */
    int slot = d->index % MAX_DEVS;
    while (irqs[slot] < d->last_used + 1 + irq_base[slot] && rdtsc() - t0 < 20000000000ULL) {
        sti();
        cpu_relax();
        cli();
    }
    volatile u32 *elem = (volatile u32 *)(d->used + 2) + 2 * (d->last_used % d->n);
    d->last_used++;
    return elem[1];
}

/* ---- virtio-rng -------------------------------------------------------------- */
void test_virtio_rng(void)
{
    struct vdev d;
    if (!virtio_find(4, 0, &d)) {
        kprintf("FAIL virtio-rng: no virtio-rng device on the command line\n");
        return;
    }
    u32 st = vdev_setup(&d, 0, QN);
    CHECK(st == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), "status 0x%x after set-up", st);
    static u8 a[64], b[64];
    struct buf ba = {a, sizeof(a), true}, bb = {b, sizeof(b), true};
    vq_submit(&d, 1, &ba);
    s64 la = vq_wait(&d);
    vq_submit(&d, 1, &bb);
    s64 lb = vq_wait(&d);
    CHECK(la == 64 && lb == 64, "lengths %ld %ld", la, lb);
    int zeros = 0;
    for (int i = 0; i < 64; i++)
        zeros += a[i] == 0;
    CHECK(zeros < 16 && memcmp(a, b, 64), "the bytes do not look random");
    CHECK(irqs[d.index % MAX_DEVS] >= 1, "no used-buffer interrupt");
    kprintf("virtio-rng: 2 x %ld bytes, %d interrupts, first bytes %02x %02x %02x %02x\n", la,
            irqs[d.index % MAX_DEVS], a[0], a[1], a[2], a[3]);
    /* rngreqs=N: N more requests back to back (a rate limiter's test). */
    u64 more = cmdline_get_u64("rngreqs", 0);
    for (u64 i = 0; i < more; i++) {
        vq_submit(&d, 1, &ba);
        s64 l = vq_wait(&d);
        if (l != 64) {
            CHECK(false, "request %lu: length %ld", i + 3, l);
            break;
        }
    }
    if (more)
        kprintf("virtio-rng: %lu more requests answered\n", more);
    kit_finish("virtio-rng");
}

/* ---- virtio-balloon ----------------------------------------------------------- *
 * Inflates pages the kit wrote a pattern into and reads them back as zeros
 * (the host really dropped them); then a hostile driver's buffers: page
 * numbers outside RAM and in the MMIO hole, an array far larger than any
 * driver sends, a writable buffer, an odd length. Every one must be
 * answered, and the pages not inflated must keep their pattern.
 * balloon_target=N: then waits for the host's new target (PATCH /balloon)
 * to arrive in the config space with a configuration interrupt. */
#define BALLOON_PAGES 8
static u64 ram_top(void);
static u8 balloon_pages[BALLOON_PAGES][4096] __attribute__((aligned(4096)));
static u32 balloon_pfns[16384]; /* 64 KiB of page numbers: 16 times the most ember takes */

static bool balloon_pattern_at(int i, bool zero)
{
    for (int b = 0; b < 4096; b += 8)
        if (balloon_pages[i][b] != (zero ? 0 : (u8)(0xa5 + i)))
            return false;
    return true;
}

/* Queue q of `d`'s device on its own ring memory (the device must be between
 * FEATURES_OK and DRIVER_OK). */
static u8 balloon_rings[2][8192] __attribute__((aligned(4096)));
static void balloon_queue(struct vdev *d, struct vdev *x, u16 q, u8 *mem)
{
    *x = *d;
    x->q = q;
    memset(mem, 0, 8192);
    x->desc = (volatile struct desc *)mem;
    x->avail = (volatile u16 *)(mem + avail_offset(QN));
    x->used = (volatile u16 *)(mem + avail_offset(QN) + 0x400);
    x->n = QN;
    x->avail_idx = x->last_used = 0;
    queue_enable(d, q, QN, x);
    if (d->pci) { /* its MSI-X entry (1 + q), as vdev_setup programs 0..2 */
        volatile u32 *entry = (volatile u32 *)(d->msix + 16 * (u64)(1 + q));
        entry[0] = 0xfee00000u | lapic_id() << 12;
        entry[1] = 0;
        entry[2] = (u32)(0x60 + d->index % MAX_DEVS);
        entry[3] = 0;
    }
}

/* The device again with `features` (balloon bits) and queue 0, then statsq
 * and the reporting queue where the negotiated features put them: statsq 2
 * with STATS_VQ, the reporting queue next (2 without STATS_VQ). */
static bool balloon_renegotiate(struct vdev *d, u32 features, struct vdev *stats, struct vdev *report)
{
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    wr(d, R_DRV_FEATURES_SEL, 0);
    wr(d, R_DRV_FEATURES, features);
    wr(d, R_DRV_FEATURES_SEL, 1);
    wr(d, R_DRV_FEATURES, 1);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(d, R_STATUS) & S_FEATURES_OK))
        return false;
    struct vdev q0;
    balloon_queue(d, &q0, 0, rings[d->index % MAX_DEVS]);
    *d = q0;
    u16 next = 2;
    if (features & (1u << 1))
        balloon_queue(d, stats, next++, balloon_rings[0]);
    if (features & (1u << 5))
        balloon_queue(d, report, next, balloon_rings[1]);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return rd(d, R_STATUS) == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* Statistics (when offered): a buffer is held, not answered at once, and
 * comes back after the polling interval; then it goes in again with the
 * values ember's API shows (free 12345, total 67890, an unknown tag 77). */
static void balloon_stats(struct vdev *s)
{
    static u8 buf[3 * 10];
    const u16 tags[3] = {4, 5, 77};
    const u64 vals[3] = {12345, 67890, 1};
    for (int i = 0; i < 3; i++) {
        memcpy(buf + 10 * i, &tags[i], 2);
        memcpy(buf + 10 * i + 2, &vals[i], 8);
    }
    struct buf b = {buf, sizeof(buf), false};
    vq_submit(s, 1, &b);
    u64 t0 = rdtsc();
    while (rdtsc() - t0 < 100000000ULL) /* some tens of ms: held meanwhile */
        cpu_relax();
    CHECK(s->used[1] == 0, "the stats buffer came back at once");
    s64 l = vq_wait(s);
    CHECK(l == 0, "stats buffer: used length %ld", l);
    vq_submit(s, 1, &b);
    kprintf("virtio-balloon: statistics buffer held, handed back after the interval, sent again\n");
}

/* Free page reporting: two pages with a pattern reported, read back as zeros. */
static void balloon_report(struct vdev *r, u16 q)
{
    for (int i = 6; i < 8; i++)
        memset(balloon_pages[i], 0xa5 + i, 4096);
    struct buf b = {balloon_pages[6], 2 * 4096, true};
    vq_submit(r, 1, &b);
    s64 l = vq_wait(r);
    CHECK(l == 0 && balloon_pattern_at(6, true) && balloon_pattern_at(7, true),
          "reported pages: used length %ld, not zeroed", l);
    kprintf("virtio-balloon: 2 reported pages (queue %u) read back as zeros\n", q);
}

void test_virtio_balloon(void)
{
    struct vdev d;
    if (!virtio_find(5, 0, &d)) {
        kprintf("FAIL virtio-balloon: no virtio-balloon device\n");
        return;
    }
    u32 st = vdev_setup(&d, 0, QN);
    CHECK(st == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), "status 0x%x after set-up", st);
    u32 target = mmio_read32(d.cfg);
    kprintf("virtio-balloon: target %u pages, %s\n", target, d.pci ? "pci" : "mmio");
    for (int i = 0; i < BALLOON_PAGES; i++)
        memset(balloon_pages[i], 0xa5 + i, 4096);
    /* Pages 0, 1, 2 and 5 (three contiguous), and page numbers a driver has
     * no business sending. */
    u32 first = (u32)((u64)balloon_pages[0] >> 12);
    u32 n = 0;
    balloon_pfns[n++] = first + 1;
    balloon_pfns[n++] = 0xffffffffu;           /* far beyond RAM */
    balloon_pfns[n++] = first;
    balloon_pfns[n++] = 0xd0000000u >> 12;     /* the MMIO hole (virtio-mmio's window) */
    balloon_pfns[n++] = first + 5;
    balloon_pfns[n++] = (u32)(ram_top() >> 12); /* just past RAM below 4 GiB */
    balloon_pfns[n++] = first + 2;
    struct buf b = {balloon_pfns, n * 4, false};
    vq_submit(&d, 1, &b);
    s64 l = vq_wait(&d);
    CHECK(l == 0, "inflate: used length %ld", l);
    int zeroed = 0, kept = 0;
    for (int i = 0; i < BALLOON_PAGES; i++) {
        bool inflated = i <= 2 || i == 5;
        if (inflated && balloon_pattern_at(i, true))
            zeroed++;
        else if (!inflated && balloon_pattern_at(i, false))
            kept++;
    }
    CHECK(zeroed == 4 && kept == BALLOON_PAGES - 4, "after inflating 4 pages: %d read as zeros, %d kept", zeroed,
          kept);
    kprintf("virtio-balloon: %d inflated pages read back as zeros, %d others kept their pattern\n", zeroed, kept);
    mmio_write32(d.cfg + 4, 4); /* actual */
    /* Hostile: a huge array of garbage, a writable buffer, an odd length. */
    for (u32 i = 0; i < 16384; i++)
        balloon_pfns[i] = 0x80000000u + i * 977u;
    balloon_pfns[5000] = first + 3; /* one real page, past ember's limit of 1024: not taken */
    struct buf huge = {balloon_pfns, sizeof(balloon_pfns), false};
    vq_submit(&d, 1, &huge);
    l = vq_wait(&d);
    struct buf wbuf = {balloon_pfns, 64, true}, odd = {balloon_pfns, 7, false};
    vq_submit(&d, 1, &wbuf);
    s64 l2 = vq_wait(&d);
    vq_submit(&d, 1, &odd);
    s64 l3 = vq_wait(&d);
    CHECK(l == 0 && l2 == 0 && l3 == 0, "hostile buffers: used lengths %ld %ld %ld", l, l2, l3);
    CHECK(!(rd(&d, R_STATUS) & S_NEEDS_RESET), "the device asked for a reset");
    CHECK(balloon_pattern_at(3, false) && balloon_pattern_at(4, false), "pages not asked for changed");
    kprintf("virtio-balloon: hostile buffers (16384 page numbers, writable, 7 bytes) answered\n");
    /* Statistics and free page reporting, as offered: the queues where the
     * negotiated features put them. */
    wr(&d, R_DEV_FEATURES_SEL, 0);
    u32 offered = rd(&d, R_DEV_FEATURES) & ((1u << 1) | (1u << 5));
    if (offered) {
        struct vdev sq, rq;
        CHECK(balloon_renegotiate(&d, offered, &sq, &rq), "status 0x%x after re-negotiating", rd(&d, R_STATUS));
        if (offered & (1u << 5))
            balloon_report(&rq, rq.q);
        if (offered & (1u << 1))
            balloon_stats(&sq);
        mmio_write32(d.cfg + 4, 4); /* actual, again after the reset */
    }
    u64 want = cmdline_get_u64("balloon_target", 0);
    if (want) {
        int slot = d.index % MAX_DEVS;
        int cfg0 = config_irqs[slot];
        kprintf("virtio-balloon: waiting for target %lu\n", want);
        u64 t0 = rdtsc();
        while ((mmio_read32(d.cfg) != want || config_irqs[slot] == cfg0) && rdtsc() - t0 < 60000000000ULL) {
            sti();
            cpu_relax();
            cli();
        }
        CHECK(mmio_read32(d.cfg) == want && config_irqs[slot] > cfg0, "target %u, %d config interrupts",
              mmio_read32(d.cfg), config_irqs[slot] - cfg0);
        kprintf("virtio-balloon: target now %u pages, with a configuration interrupt\n", mmio_read32(d.cfg));
    }
    kit_finish("virtio-balloon");
}

/* ---- virtio-blk ---------------------------------------------------------------- */
struct blk_hdr {
    u32 type, reserved;
    u64 sector;
};

static u8 data[8 * 512] __attribute__((aligned(512)));
static u8 check[8 * 512] __attribute__((aligned(512)));
static volatile u8 status;

static u8 blk_req(struct vdev *d, u32 type, u64 sector, void *buf, u32 len, bool device_writes, s64 *used_len)
{
    static struct blk_hdr hdr;
    hdr = (struct blk_hdr){.type = type, .sector = sector};
    status = 0xee;
    struct buf b[3] = {{&hdr, sizeof(hdr), false}, {buf, len, device_writes}, {(void *)&status, 1, true}};
    if (len) {
        vq_submit(d, 3, b);
    } else {
        b[1] = b[2];
        vq_submit(d, 2, b);
    }
    s64 l = vq_wait(d);
    if (used_len)
        *used_len = l;
    return status;
}

/* Sector s holds "ember-virtio-blk sector S" and dots: the host greps it. */
static void fill_sector(u8 *p, u64 s)
{
    static const char prefix[] = "ember-virtio-blk sector ";
    memset(p, '.', 512);
    memcpy(p, prefix, sizeof(prefix) - 1);
    char digits[20];
    int n = 0;
    do
        digits[n++] = (char)('0' + s % 10);
    while ((s /= 10) && n < 20);
    for (int i = 0; i < n; i++)
        p[sizeof(prefix) - 1 + i] = (u8)digits[n - 1 - i];
    p[511] = '\n';
}

void test_virtio_blk(void)
{
    struct vdev d;
    if (!virtio_find(2, 0, &d)) {
        kprintf("FAIL virtio-blk: no virtio-blk device on the command line\n");
        return;
    }
    u32 st = vdev_setup(&d, (1u << 9) | (1u << 5) | (1u << 13) | (1u << 14), QN); /* FLUSH, RO, DISCARD, WRITE_ZEROES */
    CHECK(st & S_DRIVER_OK, "status 0x%x after set-up", st);
    u64 capacity = mmio_read32(d.cfg) | ((u64)mmio_read32(d.cfg + 4) << 32);
    wr(&d, R_DEV_FEATURES_SEL, 0);
    bool ro = rd(&d, R_DEV_FEATURES) & (1u << 5);
    kprintf("virtio-blk: capacity %lu sectors, %s, blk_size %u, seg_max %u\n", capacity, ro ? "read-only" : "writable",
            mmio_read32(d.cfg + 20), mmio_read32(d.cfg + 12));
    CHECK(capacity == cmdline_get_u64("expect_sectors", capacity), "capacity");
    u64 at = cmdline_get_u64("sector", 100);
    s64 used;
    if (!ro) {
        for (int i = 0; i < 8; i++)
            fill_sector(data + i * 512, at + (u64)i);
        CHECK(blk_req(&d, 1, at, data, sizeof(data), false, &used) == 0, "write of 8 sectors");
        CHECK(blk_req(&d, 4, 0, NULL, 0, false, &used) == 0, "flush");
        memset(check, 0, sizeof(check));
        CHECK(blk_req(&d, 0, at, check, sizeof(check), true, &used) == 0, "read back");
        CHECK(used == (s64)sizeof(check) + 1, "used length %ld for a 4 KiB read", used);
        CHECK(!memcmp(data, check, sizeof(data)), "read back differs from what was written");
        /* write-zeroes and discard, then read zeros */
        static struct { u64 sector; u32 num, flags; } seg;
        seg = (typeof(seg)){at + 8, 2, 0};
        CHECK(blk_req(&d, 1, at + 8, data, 1024, false, NULL) == 0, "write before write-zeroes");
        CHECK(blk_req(&d, 13, 0, &seg, sizeof(seg), false, NULL) == 0, "write-zeroes");
        CHECK(blk_req(&d, 0, at + 8, check, 1024, true, NULL) == 0, "read after write-zeroes");
        bool zero = true;
        for (int i = 0; i < 1024; i++)
            zero &= check[i] == 0;
        CHECK(zero, "write-zeroes left data");
        seg = (typeof(seg)){at + 8, 2, 0};
        CHECK(blk_req(&d, 11, 0, &seg, sizeof(seg), false, NULL) == 0, "discard");
        kprintf("virtio-blk: wrote, flushed and read back 8 sectors at %lu; write-zeroes and discard ok\n", at);
    } else {
        fill_sector(data, at);
        CHECK(blk_req(&d, 1, at, data, 512, false, NULL) == 1, "a write to a read-only disk must fail with IOERR");
        CHECK(blk_req(&d, 0, 0, check, 512, true, NULL) == 0, "read of a read-only disk");
        kprintf("virtio-blk: read-only: write refused (IOERR), read ok\n");
    }
    /* Past the end, a length that is not whole sectors, an unknown type. */
    CHECK(blk_req(&d, 0, capacity, check, 512, true, NULL) == 1, "a read past the end must give IOERR");
    CHECK(blk_req(&d, 0, capacity - 1, check, 1024, true, NULL) == 1, "a read across the end must give IOERR");
    CHECK(blk_req(&d, 0, 0, check, 100, true, NULL) == 1, "a partial sector must give IOERR");
    CHECK(blk_req(&d, 99, 0, check, 512, true, NULL) == 2, "an unknown request type must give UNSUPP");
    static char id[21];
    memset(id, 0, sizeof(id));
    CHECK(blk_req(&d, 8, 0, id, 20, true, NULL) == 0, "get-id");
    char want[24];
    if (cmdline_get("expect_serial", want, sizeof(want)))
        CHECK(!strncmp(id, want, 20), "serial '%s', expected '%s'", id, want);
    kprintf("virtio-blk: id '%s', errors answered, %d interrupts\n", id, irqs[d.index % MAX_DEVS]);
    CHECK(irqs[d.index % MAX_DEVS] > 0, "no used-buffer interrupt");
    kit_finish("virtio-blk");
}

/* ---- a hostile driver --------------------------------------------------------------
 * Each case breaks one rule; the device must answer with NEEDS_RESET (or just
 * not act), ember must keep running, and after a reset the device must work. */
static bool rng_works(struct vdev *d)
{
    static u8 b[16];
    struct buf bb = {b, sizeof(b), true};
    if (!(vdev_setup(d, 0, QN) & S_DRIVER_OK))
        return false;
    vq_submit(d, 1, &bb);
    return vq_wait(d) == 16;
}

/* NEEDS_RESET in the status, announced by a configuration interrupt. The
 * interrupt is awaited in a loop without exits: PVM injects a pending
 * interrupt late after STI, and a loop that exits on every pass (an MMIO
 * read) leaves it almost no window. */
static bool needs_reset_after(struct vdev *d)
{
    int slot = d->index % MAX_DEVS, before = config_irqs[slot];
    u64 t0 = rdtsc();
    while (!(rd(d, R_STATUS) & S_NEEDS_RESET) && rdtsc() - t0 < 20000000000ULL)
        cpu_relax();
    while (config_irqs[slot] == before && rdtsc() - t0 < 20000000000ULL) {
        sti();
        cpu_relax();
        cli();
    }
    bool ok = (rd(d, R_STATUS) & S_NEEDS_RESET) && config_irqs[slot] > before;
    if (!ok)
        kprintf("virtio-hostile: status 0x%x, configuration interrupts %d -> %d, interrupt status %u\n",
                rd(d, R_STATUS), before, config_irqs[slot], rd(d, R_INT_STATUS));
    return ok;
}

void test_virtio_hostile(void)
{
    struct vdev d;
    if (!virtio_find(4, 0, &d)) {
        kprintf("FAIL virtio-hostile: needs a virtio-rng device\n");
        return;
    }
    static u8 b[64];
    int slot = d.index % MAX_DEVS;

    /* 1. A descriptor loop. */
    vdev_setup(&d, 0, QN);
    d.desc[0] = (struct desc){(u64)b, 16, F_NEXT | F_WRITE, 0};
    d.avail[2] = 0;
    d.avail[1] = ++d.avail_idx;
    wr(&d, R_QUEUE_NOTIFY, 0);
    CHECK(needs_reset_after(&d), "descriptor loop: no NEEDS_RESET with a configuration interrupt");
    CHECK(rng_works(&d), "descriptor loop: the device does not work after reset");
    kprintf("virtio-hostile: descriptor loop -> NEEDS_RESET, works after reset\n");

    /* 2. A buffer outside guest RAM, 3. a huge length, 4. an avail index far ahead. */
    static const struct { u64 addr; u32 len; u16 idx_jump; const char *what; } cases[] = {
        {0x4000000000ULL, 16, 1, "buffer outside RAM"},
        {0, 0xffffffffu, 1, "length of 4 GiB"},
        {0, 16, 1000, "available index 1000 ahead"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vdev_setup(&d, 0, QN);
        d.desc[0] = (struct desc){cases[i].addr ? cases[i].addr : (u64)b, cases[i].len, F_WRITE, 0};
        d.avail[2] = 0;
        d.avail_idx = (u16)(d.avail_idx + cases[i].idx_jump);
        d.avail[1] = d.avail_idx;
        wr(&d, R_QUEUE_NOTIFY, 0);
        CHECK(needs_reset_after(&d), "%s: no NEEDS_RESET", cases[i].what);
        CHECK(rng_works(&d), "%s: the device does not work after reset", cases[i].what);
        kprintf("virtio-hostile: %s -> NEEDS_RESET, works after reset\n", cases[i].what);
    }

    /* 5. A zero-length buffer: legal, answered with 0 bytes. */
    vdev_setup(&d, 0, QN);
    struct buf z = {b, 0, true};
    vq_submit(&d, 1, &z);
    CHECK(vq_wait(&d) == 0, "zero-length buffer: not returned empty");

    /* 6. A queue size that is not a power of two. */
    wr(&d, R_STATUS, 0);
    wr(&d, R_STATUS, S_ACK | S_DRIVER);
    wr(&d, R_DRV_FEATURES_SEL, 1);
    wr(&d, R_DRV_FEATURES, 1);
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(&d, R_QUEUE_SEL, 0);
    wr(&d, R_QUEUE_NUM, 3);
    wr(&d, R_DESC_LO, (u32)(u64)rings[slot]);
    wr(&d, R_AVAIL_LO, (u32)(u64)rings[slot] + 0x400);
    wr(&d, R_USED_LO, (u32)(u64)rings[slot] + 0x800);
    wr(&d, R_QUEUE_READY, 1);
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    CHECK(rd(&d, R_STATUS) & S_NEEDS_RESET, "queue size 3: no NEEDS_RESET");
    CHECK(rng_works(&d), "queue size 3: the device does not work after reset");
    kprintf("virtio-hostile: queue size 3 -> NEEDS_RESET\n");

    /* 7. A notification before DRIVER_OK does nothing; the buffer is served once it is set. */
    wr(&d, R_STATUS, 0);
    wr(&d, R_STATUS, S_ACK | S_DRIVER);
    wr(&d, R_DRV_FEATURES_SEL, 1);
    wr(&d, R_DRV_FEATURES, 1);
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    memset(rings[slot], 0, sizeof(rings[slot]));
    wr(&d, R_QUEUE_NUM, QN);
    wr(&d, R_DESC_LO, (u32)(u64)d.desc);
    wr(&d, R_AVAIL_LO, (u32)(u64)d.avail);
    wr(&d, R_USED_LO, (u32)(u64)d.used);
    wr(&d, R_QUEUE_READY, 1);
    d.n = QN;
    d.avail_idx = d.last_used = 0;
    d.desc[0] = (struct desc){(u64)b, 16, F_WRITE, 0};
    d.avail[2] = 0;
    d.avail[1] = ++d.avail_idx;
    wr(&d, R_QUEUE_NOTIFY, 0);
    for (int i = 0; i < 100000; i++)
        cpu_relax();
    CHECK(d.used[1] == 0, "a notification before DRIVER_OK was served");
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    CHECK(vq_wait(&d) == 16, "the early buffer is not served after DRIVER_OK");
    kprintf("virtio-hostile: notify before DRIVER_OK ignored, served after\n");

    /* 8. DRIVER_OK without FEATURES_OK, and features without VERSION_1. */
    wr(&d, R_STATUS, 0);
    wr(&d, R_STATUS, S_ACK | S_DRIVER);
    wr(&d, R_DRV_FEATURES_SEL, 1);
    wr(&d, R_DRV_FEATURES, 0);
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    CHECK(!(rd(&d, R_STATUS) & S_FEATURES_OK), "FEATURES_OK accepted without VERSION_1");
    wr(&d, R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
    CHECK(rd(&d, R_STATUS) & S_NEEDS_RESET, "DRIVER_OK without FEATURES_OK: no NEEDS_RESET");
    CHECK(rng_works(&d), "the device does not work after the last reset");
    kprintf("virtio-hostile: every case answered; the device still works\n");
    kit_finish("virtio-hostile");
}


/* A device with a receive (0) and a transmit (1) queue: `rx` comes from
 * virtio_find, `tx` is made from it. Negotiates VERSION_1 plus `features`. */
static void vdev_setup2(struct vdev *rx, struct vdev *tx, u32 features, u16 n)
{
    vdev_setup(rx, 0, n); /* interrupt routing and ring memory for queue 0 */
    wr(rx, R_STATUS, 0);
    wr(rx, R_STATUS, S_ACK | S_DRIVER);
    wr(rx, R_DRV_FEATURES_SEL, 0);
    wr(rx, R_DRV_FEATURES, features);
    wr(rx, R_DRV_FEATURES_SEL, 1);
    wr(rx, R_DRV_FEATURES, 1);
    wr(rx, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    memset(rings[rx->index % MAX_DEVS], 0, sizeof(rings[0]));
    memset(rings_q1, 0, sizeof(rings_q1));
    rx->avail_idx = rx->last_used = 0;
    *tx = *rx;
    tx->q = 1;
    tx->desc = (volatile struct desc *)rings_q1;
    tx->avail = (volatile u16 *)(rings_q1 + avail_offset(n));
    tx->used = (volatile u16 *)(rings_q1 + avail_offset(n) + 0x400);
    struct vdev *qs[2] = {rx, tx};
    for (int q = 0; q < 2; q++) {
        queue_enable(rx, (u16)q, n, qs[q]);
    }
    wr(rx, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* ---- virtio-net: ARP and ping through a tap ------------------------------------
 * The harness puts the tap in a network namespace of its own with 10.77.0.1;
 * the kit is 10.77.0.2. Receive buffers are 256 bytes and mergeable, so the
 * ping reply (about 1 KiB) must arrive spread over several of them. */
#define NET_HDR 12
#define RXBUF 256
#define NRX 16
static u8 rxbufs[NRX][RXBUF] __attribute__((aligned(64)));
static u8 txbuf[2048] __attribute__((aligned(64)));
static u8 frame[4096];

static void rx_post(struct vdev *rx, int i)
{
    rx->desc[i] = (struct desc){(u64)rxbufs[i], RXBUF, F_WRITE, 0};
    rx->avail[2 + (rx->avail_idx % rx->n)] = (u16)i;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    rx->avail[1] = ++rx->avail_idx;
}

/* The next received packet, reassembled from its buffers into `frame`;
 * returns its length (without the header) and the buffer count, or -1. */
static s64 net_recv(struct vdev *rx, int *nbuf)
{
    u64 t0 = rdtsc();
    while (rx->used[1] == rx->last_used) {
        if (rdtsc() - t0 > 20000000000ULL)
            return -1;
        sti();
        cpu_relax();
        cli();
    }
    volatile u32 *elem = (volatile u32 *)(rx->used + 2) + 2 * (rx->last_used % rx->n);
    u32 id = elem[0], len = elem[1];
    u16 n = *(u16 *)(rxbufs[id] + 10);
    *nbuf = n;
    u64 total = len - NET_HDR;
    memcpy(frame, rxbufs[id] + NET_HDR, total);
    rx->last_used++;
    rx_post(rx, (int)id);
    for (int k = 1; k < n; k++) {
        while (rx->used[1] == rx->last_used && rdtsc() - t0 < 20000000000ULL)
            cpu_relax();
        elem = (volatile u32 *)(rx->used + 2) + 2 * (rx->last_used % rx->n);
        id = elem[0], len = elem[1];
        if (total + len <= sizeof(frame))
            memcpy(frame + total, rxbufs[id], len);
        total += len;
        rx->last_used++;
        rx_post(rx, (int)id);
    }
    wr(rx, R_QUEUE_NOTIFY, 0);
    return (s64)total;
}

static void net_send(struct vdev *tx, const u8 *f, u32 len)
{
    memset(txbuf, 0, NET_HDR);
    memcpy(txbuf + NET_HDR, f, len);
    struct buf b = {txbuf, NET_HDR + len, false};
    vq_submit(tx, 1, &b);
    u64 t0 = rdtsc();
    while (tx->used[1] == tx->last_used && rdtsc() - t0 < 20000000000ULL)
        cpu_relax();
    tx->last_used++;
}

static u16 csum(const u8 *p, u32 len)
{
    u32 s = 0;
    for (u32 i = 0; i + 1 < len; i += 2)
        s += (u32)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (u32)(p[len - 1] << 8);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (u16)~s;
}

static void put16(u8 *p, u16 v) { p[0] = (u8)(v >> 8), p[1] = (u8)v; }

/* An ICMP echo request from my_ip to peer_ip with `payload` bytes (i * 7). */
static u32 make_ping(u8 *f, const u8 *dst_mac, const u8 *src_mac, const u8 *src_ip, const u8 *dst_ip, u16 seq,
                     u32 payload)
{
    u32 iplen = 20 + 8 + payload;
    memcpy(f, dst_mac, 6), memcpy(f + 6, src_mac, 6), put16(f + 12, 0x0800);
    u8 *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45, put16(ip + 2, (u16)iplen), put16(ip + 4, (u16)(0x1234 + seq)), ip[8] = 64, ip[9] = 1;
    memcpy(ip + 12, src_ip, 4), memcpy(ip + 16, dst_ip, 4);
    put16(ip + 10, csum(ip, 20));
    u8 *icmp = ip + 20;
    icmp[0] = 8, icmp[1] = 0, put16(icmp + 2, 0), put16(icmp + 4, 0x4242), put16(icmp + 6, seq);
    for (u32 i = 0; i < payload; i++)
        icmp[8 + i] = (u8)(i * 7);
    put16(icmp + 2, csum(icmp, 8 + payload));
    return 14 + iplen;
}

/* Is `frame` (len bytes) the echo reply from peer_ip with sequence `seq` and
 * `payload` intact bytes? */
static bool is_pong(s64 len, const u8 *peer_ip, u16 seq, u32 payload)
{
    const u8 *rip = frame + 14;
    if (len < (s64)(14 + 28 + payload) || frame[12] != 0x08 || frame[13] != 0 || rip[9] != 1 || rip[20] != 0 ||
        memcmp(rip + 12, peer_ip, 4) || (u16)(rip[26] << 8 | rip[27]) != seq)
        return false;
    for (u32 i = 0; i < payload; i++)
        if (rip[28 + i] != (u8)(i * 7))
            return false;
    return true;
}

/* Receives until the echo reply `seq` comes (other frames are passed over),
 * within 10 frames; *bufs: the buffers the last one took. */
static bool await_pong(struct vdev *rx, const u8 *peer_ip, u16 seq, u32 payload, int *bufs)
{
    for (int tries = 0; tries < 10; tries++) {
        s64 len = net_recv(rx, bufs);
        if (len < 0)
            return false;
        if (is_pong(len, peer_ip, seq, payload))
            return true;
    }
    return false;
}

void test_virtio_net(void)
{
    struct vdev rx, tx;
    if (!virtio_find(1, 0, &rx)) {
        kprintf("FAIL virtio-net: no virtio-net device on the command line\n");
        return;
    }
    vdev_setup2(&rx, &tx, (1u << 5) | (1u << 15) | (1u << 16), NRX); /* MAC, MRG_RXBUF, STATUS */
    u8 mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = *(volatile u8 *)(rx.cfg + (u64)i);
    u16 link = *(volatile u16 *)(rx.cfg + 6);
    kprintf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, link %s\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
            link & 1 ? "up" : "down");
    for (int i = 0; i < NRX; i++)
        rx_post(&rx, i);
    wr(&rx, R_QUEUE_NOTIFY, 0);

    static const u8 my_ip[4] = {10, 77, 0, 2}, peer_ip[4] = {10, 77, 0, 1};
    /* ARP: who has 10.77.0.1? */
    u8 f[1100];
    memset(f, 0, 42);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    put16(f + 12, 0x0806);
    put16(f + 14, 1), put16(f + 16, 0x0800), f[18] = 6, f[19] = 4, put16(f + 20, 1);
    memcpy(f + 22, mac, 6), memcpy(f + 28, my_ip, 4), memcpy(f + 38, peer_ip, 4);
    net_send(&tx, f, 42);
    u8 peer_mac[6] = {0};
    bool got_arp = false;
    for (int tries = 0; tries < 10 && !got_arp; tries++) {
        int nb;
        s64 len = net_recv(&rx, &nb);
        if (len < 0)
            break;
        if (len >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 2 && !memcmp(frame + 28, peer_ip, 4)) {
            memcpy(peer_mac, frame + 22, 6);
            got_arp = true;
        }
    }
    CHECK(got_arp, "no ARP reply from 10.77.0.1");
    kprintf("virtio-net: ARP reply: 10.77.0.1 is %02x:%02x:%02x:%02x:%02x:%02x\n", peer_mac[0], peer_mac[1],
            peer_mac[2], peer_mac[3], peer_mac[4], peer_mac[5]);

    /* ping with 1000 bytes of payload: the reply needs several 256-byte buffers */
    u32 payload = 1000;
    net_send(&tx, f, make_ping(f, peer_mac, mac, my_ip, peer_ip, 1, payload));
    int bufs = 0;
    bool got_pong = await_pong(&rx, peer_ip, 1, payload, &bufs);
    CHECK(got_pong, "no intact echo reply from 10.77.0.1");
    CHECK(bufs > 1, "the reply came in %d buffer(s); expected it merged from several", bufs);
    kprintf("virtio-net: ping 10.77.0.1: %u-byte echo reply in %d merged buffers\n", payload, bufs);

    /* Too few buffers: 3 posted, two pings sent at once. The small reply takes
     * one; the large one (5 buffers) must wait for more, and the small one's
     * interrupt must not wait with it (the guest refills on that interrupt).
     * Transmit completions raise no interrupt here, so each one counted is a
     * receive interrupt. */
    vdev_setup2(&rx, &tx, (1u << 5) | (1u << 15) | (1u << 16), NRX);
    for (int i = 0; i < 3; i++)
        rx_post(&rx, i);
    wr(&rx, R_QUEUE_NOTIFY, 0);
    tx.avail[0] = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    int slot = rx.index % MAX_DEVS, before = irqs[slot];
    static u8 f2[1100];
    u32 l1 = make_ping(f, peer_mac, mac, my_ip, peer_ip, 2, 8), l2 = make_ping(f2, peer_mac, mac, my_ip, peer_ip, 3, payload);
    static u8 txbuf2[1200];
    memset(txbuf, 0, NET_HDR), memcpy(txbuf + NET_HDR, f, l1);
    memset(txbuf2, 0, NET_HDR), memcpy(txbuf2 + NET_HDR, f2, l2);
    tx.desc[0] = (struct desc){(u64)txbuf, NET_HDR + l1, 0, 0};
    tx.desc[1] = (struct desc){(u64)txbuf2, NET_HDR + l2, 0, 0};
    tx.avail[2] = 0, tx.avail[3] = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    tx.avail[1] = tx.avail_idx = 2; /* both, then one notification */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wr(&tx, R_QUEUE_NOTIFY, 1);
    u64 t0 = rdtsc();
    while ((rx.used[1] == 0 || irqs[slot] == before) && rdtsc() - t0 < 20000000000ULL) {
        sti();
        cpu_relax();
        cli();
    }
    CHECK(rx.used[1] != 0, "nothing received after two pings");
    CHECK(irqs[slot] > before, "%u packet(s) received, but no interrupt (the device waits on the large reply with it)",
          rx.used[1]);
    bool small = false, large = false;
    for (int tries = 0; tries < 10 && !small && !large; tries++) {
        s64 len = net_recv(&rx, &bufs); /* gives its buffers back */
        if (len < 0)
            break;
        small = is_pong(len, peer_ip, 2, 8);
        large = is_pong(len, peer_ip, 3, payload);
    }
    CHECK(small && !large, "the small reply did not come first (small %d, large %d)", small, large);
    for (int i = 3; i < NRX; i++) /* now enough for the large one */
        rx_post(&rx, i);
    wr(&rx, R_QUEUE_NOTIFY, 0);
    large = await_pong(&rx, peer_ip, 3, payload, &bufs);
    CHECK(large, "the large reply never came after more buffers were posted");
    CHECK(bufs >= 5, "the large reply took %d buffers", bufs);
    kprintf("virtio-net: too few buffers: the small reply and its interrupt first, the large one (%d buffers) "
            "after the refill\n", bufs);
    kit_finish("virtio-net");
}

/* ---- virtio-console: hvc0 output, and input echoed back ------------------------ */
void test_virtio_console(void)
{
    struct vdev rx, tx;
    if (!virtio_find(3, 0, &rx)) {
        kprintf("FAIL virtio-console: no virtio-console device on the command line\n");
        return;
    }
    vdev_setup2(&rx, &tx, 0, NRX);
    CHECK(rd(&rx, R_STATUS) & S_DRIVER_OK, "status 0x%x", rd(&rx, R_STATUS));
    static const char hello[] = "virtio-console: hello through the transmit queue\n";
    memcpy(txbuf, hello, sizeof(hello) - 1);
    struct buf b = {txbuf, sizeof(hello) - 1, false};
    vq_submit(&tx, 1, &b);
    u64 t0 = rdtsc();
    while (tx.used[1] == tx.last_used && rdtsc() - t0 < 20000000000ULL)
        cpu_relax();
    tx.last_used++;
    for (int i = 0; i < NRX; i++) {
        rx.desc[i] = (struct desc){(u64)rxbufs[i], 8, F_WRITE, 0}; /* small: a line spans several */
        rx.avail[2 + (rx.avail_idx % rx.n)] = (u16)i;
        rx.avail[1] = ++rx.avail_idx;
    }
    wr(&rx, R_QUEUE_NOTIFY, 0);
    kprintf("virtio-console: ready for input\n");
    char line[64];
    int n = 0;
    bool done = false;
    while (!done) {
        t0 = rdtsc();
        while (rx.used[1] == rx.last_used) {
            if (rdtsc() - t0 > 60000000000ULL)
                break;
            sti();
            cpu_relax();
            cli();
        }
        if (rx.used[1] == rx.last_used)
            break;
        volatile u32 *elem = (volatile u32 *)(rx.used + 2) + 2 * (rx.last_used % rx.n);
        u32 id = elem[0], len = elem[1];
        for (u32 i = 0; i < len && !done; i++) {
            char c = (char)rxbufs[id][i];
            if (c == '\n' || c == '\r')
                done = n > 0;
            else if (n < 63)
                line[n++] = c;
        }
        rx.last_used++;
        rx.avail[2 + (rx.avail_idx % rx.n)] = (u16)id; /* give the buffer back */
        rx.avail[1] = ++rx.avail_idx;
        wr(&rx, R_QUEUE_NOTIFY, 0);
    }
    line[n] = 0;
    CHECK(done, "no input line arrived");
    static const char prefix[] = "echo(virtio): ";
    memcpy(txbuf, prefix, sizeof(prefix) - 1);
    memcpy(txbuf + sizeof(prefix) - 1, line, (size_t)n);
    txbuf[sizeof(prefix) - 1 + (size_t)n] = '\n';
    b.len = (u32)(sizeof(prefix) + (size_t)n);
    vq_submit(&tx, 1, &b);
    t0 = rdtsc();
    while (tx.used[1] == tx.last_used && rdtsc() - t0 < 20000000000ULL)
        cpu_relax();
    kit_finish("virtio-console");
}

/* ---- hostile-guest attacks (issue 12): test=hostile-NAME ------------------------
 * Each one is a thing a driver may do that ember once did not survive well;
 * the harness (tests/e2e/hostile.sh) watches ember from outside while it runs:
 * its exit, its log, its CPU time, its API socket. The guest checks what a
 * guest can see: registers, rings, and that the device works afterwards. */
#define HQ 256                   /* the largest queue: the most a driver can have in flight */
#define HEADS 64                 /* requests per batch: heads 0..63, descriptors 0..191 */
#define BIG_AT (32 * 1024 * 1024UL) /* scratch RAM for request data, clear of the kit */
#define BIG_LEN (256 * 1024)
#define ALIAS_AT (64 * 1024 * 1024UL)
#define SHORT 1000000000ULL      /* TSC cycles, a third of a second or so: "not answered" */
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define F_BLK_FLUSH (1u << 9)

static struct blk_hdr hdrs[HEADS];
static volatile u8 statuses[HEADS];

/* The end of the highest RAM range below 4 GiB. */
static u64 ram_top(void)
{
    u64 top = 0;
    for (int i = 0; i < boot.n_e820; i++)
        if (boot.e820[i].type == 1 && boot.e820[i].addr + boot.e820[i].size <= (4ULL << 30))
            top = boot.e820[i].addr + boot.e820[i].size;
    return top;
}

static bool hostile_find(u32 device_id, struct vdev *d, const char *name)
{
    if (virtio_find(device_id, 0, d))
        return true;
    CHECK(false, "%s: no virtio device %u", name, device_id);
    return false;
}

/* Offers request `h` (descriptors 3h..3h+2: header, data if any, status)
 * without notifying. */
static void blk_post(struct vdev *d, u16 h, u32 type, u64 sector, u32 len)
{
    volatile struct desc *t = d->desc + 3 * h;
    hdrs[h] = (struct blk_hdr){.type = type, .sector = sector};
    statuses[h] = 0xee;
    t[0] = (struct desc){(u64)&hdrs[h], sizeof(hdrs[h]), F_NEXT, (u16)(3 * h + 1)};
    int last = 1;
    if (len) {
        u16 w = type == T_IN || type == T_GET_ID ? F_WRITE : 0;
        t[1] = (struct desc){BIG_AT, len, (u16)(F_NEXT | w), (u16)(3 * h + 2)};
        last = 2;
    }
    t[last] = (struct desc){(u64)&statuses[h], 1, F_WRITE, 0};
    d->avail[2 + d->avail_idx % d->n] = (u16)(3 * h);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail[1] = ++d->avail_idx;
}

/* Polls (interrupts off) until the device has used all that was offered.
 * The interrupt count then lags the used ring: vdev_setup starts it over. */
static bool vq_drain(struct vdev *d, u64 guard)
{
    u64 t0 = rdtsc();
    while (d->used[1] != d->avail_idx)
        if (rdtsc() - t0 > guard)
            return false;
    d->last_used = d->avail_idx;
    return true;
}

/* `count` requests of one type, HEADS at a time, each waited for. */
static bool blk_batches(struct vdev *d, int count, u32 type, u32 len)
{
    for (int done = 0; done < count;) {
        int n = count - done < HEADS ? count - done : HEADS;
        for (int i = 0; i < n; i++)
            blk_post(d, (u16)i, type, (u64)(done + i) * (len / 512), len);
        wr(d, R_QUEUE_NOTIFY, 0);
        if (!vq_drain(d, 20000000000ULL))
            return false;
        done += n;
    }
    return true;
}

/* Dirties the disk's page cache with 64 MiB, so a FLUSH stays in flight a while. */
static bool blk_dirty(struct vdev *d) { return blk_batches(d, 256, T_OUT, BIG_LEN); }

/* A fresh bring-up, then 8 sectors written, read back and compared, and get-id. */
static bool blk_works(struct vdev *d)
{
    d->used_at = 0;
    if (!(vdev_setup(d, F_BLK_FLUSH, QN) & S_DRIVER_OK))
        return false;
    for (int i = 0; i < 8; i++)
        fill_sector(data + i * 512, 200 + (u64)i);
    memset(check, 0, sizeof(check));
    static char id[21];
    return blk_req(d, T_OUT, 200, data, sizeof(data), false, NULL) == 0 &&
           blk_req(d, T_IN, 200, check, sizeof(check), true, NULL) == 0 && !memcmp(data, check, sizeof(data)) &&
           blk_req(d, T_GET_ID, 0, id, 20, true, NULL) == 0;
}

/* 1. The queue-reconfiguration attack: the used ring ends at the top of RAM,
 * used_idx is past the queue size, a slow FLUSH is in flight, then the queue
 * is switched off and its size set to 0 (virtio-pci: queue_enable and
 * queue_size in the common configuration, the same registers here). The old
 * code answered the flush with the new size's mask: 8 bytes past RAM. */
static void hostile_reconfig(void)
{
    struct vdev d;
    if (!hostile_find(2, &d, "hostile-reconfig"))
        return;
    u64 top = ram_top();
    d.used_at = (top - (6 + 8 * HQ)) & ~3ULL;
    CHECK(vdev_setup(&d, F_BLK_FLUSH, HQ) & S_DRIVER_OK, "set-up with the used ring at the top of RAM");
    CHECK(blk_batches(&d, 300, T_GET_ID, 20), "300 get-id requests");
    CHECK(blk_dirty(&d), "64 MiB of writes");
    kprintf("hostile-reconfig: used ring at 0x%lx, RAM ends at 0x%lx, used_idx %u; attacking\n", d.used_at, top,
            d.used[1]);
    blk_post(&d, 0, T_FLUSH, 0, 0);
    wr(&d, R_QUEUE_NOTIFY, 0);
    wr(&d, R_QUEUE_READY, 0);
    wr(&d, R_QUEUE_NUM, 0);
    CHECK(rd(&d, R_QUEUE_READY) == 0, "the queue is still on after QueueReady = 0");
    for (u64 t0 = rdtsc(); rdtsc() - t0 < SHORT;) /* the flush completes meanwhile */
        cpu_relax();
    kprintf("hostile-reconfig: status 0x%x, used_idx %u, flush status 0x%x after the reset\n", rd(&d, R_STATUS),
            d.used[1], statuses[0]);
    CHECK(blk_works(&d), "the disk does not work after a fresh bring-up");
}

/* 2. One chain of 256 descriptors that all alias the same large part of RAM.
 * The old code did the work 256 times over (rng: getrandom of 256 x the
 * range; console: the range written 256 times to the output). Each request
 * is now bounded (64 KiB) or refused. Returns the used length, -1 if none. */
static s64 alias_request(struct vdev *d, int ndesc, u64 len, u16 flags, s64 *cycles)
{
    for (int i = 0; i < ndesc; i++)
        d->desc[i] = (struct desc){ALIAS_AT, (u32)len, (u16)(flags | (i + 1 < ndesc ? F_NEXT : 0)), (u16)(i + 1)};
    d->avail[2 + d->avail_idx % d->n] = 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    d->avail[1] = ++d->avail_idx;
    u64 t0 = rdtsc();
    wr(d, R_QUEUE_NOTIFY, d->q);
    bool answered = vq_drain(d, 40000000000ULL);
    *cycles = (s64)(rdtsc() - t0);
    return answered ? (s64)((volatile u32 *)(d->used + 2))[1] : -1;
}

static void hostile_alias(void)
{
    struct vdev rng, rx, tx, blk;
    if (!hostile_find(4, &rng, "hostile-alias") || !hostile_find(3, &rx, "hostile-alias") ||
        !hostile_find(2, &blk, "hostile-alias"))
        return;
    u64 len = (ram_top() - ALIAS_AT - (1ULL << 20)) & ~0xfffULL; /* all of RAM above 64 MiB but the top */
    kprintf("hostile-alias: 256 descriptors of %lu MiB each at 0x%lx; attacking\n", len >> 20, ALIAS_AT);
    s64 cy;
    vdev_setup(&rng, 0, HQ);
    s64 got = alias_request(&rng, HQ, len, F_WRITE, &cy);
    kprintf("hostile-alias: rng answered %ld bytes in %lu TSC cycles\n", got, cy);
    CHECK(got >= 0 && got <= 64 * 1024, "rng: %ld bytes for one request", got);
    vdev_setup2(&rx, &tx, 0, HQ);
    got = alias_request(&tx, HQ, len, 0, &cy);
    kprintf("hostile-alias: console transmit answered (%ld) in %lu TSC cycles\n", got, cy);
    CHECK(got >= 0, "console: transmit request not answered");
    /* blk: more data buffers than it takes (126), then as many as it takes,
     * each 128 KiB of the same RAM: a legal read of 15.75 MiB. */
    vdev_setup(&blk, 0, HQ);
    hdrs[0] = (struct blk_hdr){.type = T_IN};
    statuses[0] = 0xee;
    got = alias_request(&blk, HQ, len, F_WRITE, &cy);
    u32 st = rd(&blk, R_STATUS);
    kprintf("hostile-alias: blk, 256 buffers: used %ld, device status 0x%x, in %lu TSC cycles\n", got, st, cy);
    CHECK(got >= 0 || (st & S_NEEDS_RESET), "blk: 256 aliasing buffers neither answered nor refused");
    vdev_setup(&blk, 0, HQ);
    for (int i = 0; i < 128; i++)
        blk.desc[i] = (struct desc){ALIAS_AT, 128 * 1024, F_NEXT | F_WRITE, (u16)(i + 1)};
    blk.desc[0] = (struct desc){(u64)&hdrs[0], sizeof(hdrs[0]), F_NEXT, 1};
    blk.desc[127] = (struct desc){(u64)&statuses[0], 1, F_WRITE, 0};
    blk.avail[2] = 0;
    blk.avail[1] = ++blk.avail_idx;
    wr(&blk, R_QUEUE_NOTIFY, 0);
    CHECK(vq_drain(&blk, 20000000000ULL) && statuses[0] == 0, "blk: 126 aliasing buffers, status 0x%x", statuses[0]);
    CHECK(rng_works(&rng), "rng does not work afterwards");
    CHECK(blk_works(&blk), "blk does not work afterwards");
}

/* The queue registers a driver might rewrite, by their virtio-mmio names. */
static const u32 queue_regs[] = {R_QUEUE_NUM, R_DESC_LO, R_AVAIL_LO, R_USED_LO};

/* Points queue 0's registers at rings_q1 with 16 entries: a second set-up
 * that must be ignored (after DRIVER_OK, the queue's rings are fixed). */
static void queue_regs_rewrite(struct vdev *d)
{
    memset(rings_q1, 0, sizeof(rings_q1));
    wr(d, R_QUEUE_SEL, 0);
    wr(d, R_QUEUE_NUM, 16);
    wr(d, R_DESC_LO, (u32)(u64)rings_q1);
    wr(d, R_AVAIL_LO, (u32)(u64)rings_q1 + 0x400);
    wr(d, R_USED_LO, (u32)(u64)rings_q1 + 0x800);
    wr(d, R_QUEUE_READY, 1);
}

/* A request in rings_q1, notified: it must not be served. */
static bool served_in_q1(struct vdev *d)
{
    static u8 b[16];
    volatile struct desc *t = (volatile struct desc *)rings_q1;
    volatile u16 *avail = (volatile u16 *)(rings_q1 + 0x400), *used = (volatile u16 *)(rings_q1 + 0x800);
    t[0] = (struct desc){(u64)b, sizeof(b), F_WRITE, 0};
    avail[2] = 0;
    avail[1] = 1;
    wr(d, R_QUEUE_NOTIFY, 0);
    for (u64 t0 = rdtsc(); rdtsc() - t0 < SHORT;)
        if (used[1])
            return true;
    return false;
}

/* A request in the device's own rings is answered within about a second. */
static bool answered_in_place(struct vdev *d)
{
    static u8 b[16];
    struct buf bb = {b, sizeof(b), true};
    vq_submit(d, 1, &bb);
    return vq_drain(d, SHORT) && ((volatile u32 *)(d->used + 2))[1] == sizeof(b);
}

/* 3. Queue registers written after DRIVER_OK read back unchanged where the
 * transport lets them be read (virtio-pci: all of them; virtio-mmio only
 * QueueReady), and the device keeps its rings. */
static void hostile_late_queue(void)
{
    struct vdev d;
    if (!hostile_find(4, &d, "hostile-late-queue"))
        return;
    vdev_setup(&d, 0, QN);
    u32 before[4], ready = rd(&d, R_QUEUE_READY);
    for (int i = 0; i < 4; i++)
        before[i] = rd(&d, queue_regs[i]);
    kprintf("hostile-late-queue: attacking\n");
    queue_regs_rewrite(&d);
    CHECK(rd(&d, R_QUEUE_READY) == ready, "QueueReady 0x%x, was 0x%x", rd(&d, R_QUEUE_READY), ready);
    for (int i = 0; d.pci && i < 4; i++)
        CHECK(rd(&d, queue_regs[i]) == before[i], "queue register 0x%x reads 0x%x, was 0x%x", queue_regs[i],
              rd(&d, queue_regs[i]), before[i]);
    CHECK(answered_in_place(&d), "a request in the rings set up before DRIVER_OK is not answered");
    CHECK(!served_in_q1(&d), "the rings written after DRIVER_OK were used");
    CHECK(rng_works(&d), "the device does not work after a reset");
}

/* 4. DRIVER_OK cleared (without a reset) and set again: the status reads
 * back unchanged, and a queue switched off meanwhile cannot be set up again
 * and re-activated; the device keeps working or says NEEDS_RESET. */
static void hostile_reactivate(void)
{
    struct vdev d;
    if (!hostile_find(4, &d, "hostile-reactivate"))
        return;
    u32 st = vdev_setup(&d, 0, QN);
    kprintf("hostile-reactivate: attacking\n");
    wr(&d, R_STATUS, st & ~S_DRIVER_OK);
    CHECK(rd(&d, R_STATUS) == st, "status 0x%x after clearing DRIVER_OK, was 0x%x", rd(&d, R_STATUS), st);
    CHECK(answered_in_place(&d), "the device stopped answering after DRIVER_OK was cleared");
    wr(&d, R_QUEUE_READY, 0); /* a queue reset: allowed at any time */
    queue_regs_rewrite(&d);
    CHECK(rd(&d, R_QUEUE_READY) == 0, "the queue was set up again after DRIVER_OK");
    wr(&d, R_STATUS, st);
    u32 now = rd(&d, R_STATUS);
    CHECK(now == st || (now & S_NEEDS_RESET), "status 0x%x after DRIVER_OK again", now);
    CHECK(!served_in_q1(&d), "the queue set up after DRIVER_OK was re-activated");
    CHECK(rng_works(&d), "the device does not work after a reset");
}

/* 5. A head offered again while it is in flight (a FLUSH after 64 MiB of
 * writes, the same head twice in the available ring): NEEDS_RESET, and at
 * most one answer for it. */
static void hostile_double_head(void)
{
    struct vdev d;
    if (!hostile_find(2, &d, "hostile-double-head"))
        return;
    vdev_setup(&d, F_BLK_FLUSH, HQ);
    CHECK(blk_dirty(&d), "64 MiB of writes");
    u16 used0 = d.used[1];
    kprintf("hostile-double-head: attacking\n");
    blk_post(&d, 0, T_FLUSH, 0, 0);
    blk_post(&d, 0, T_FLUSH, 0, 0);
    wr(&d, R_QUEUE_NOTIFY, 0);
    CHECK(needs_reset_after(&d), "no NEEDS_RESET with a configuration interrupt");
    for (u64 t0 = rdtsc(); rdtsc() - t0 < SHORT;) /* the flush completes meanwhile */
        cpu_relax();
    CHECK((u16)(d.used[1] - used0) <= 1, "%u answers for one head", (u16)(d.used[1] - used0));
    CHECK(blk_works(&d), "the disk does not work after reset");
}

/* 7a. A virtio-pci MSI-X entry whose address is not the APIC's (0xFEExxxxx),
 * and count= requests (3000) each answered with an interrupt to it. Run from
 * ring 3, where the loop costs only its exits. */
static void user_rng_loop(u64 arg)
{
    struct vdev *d = (struct vdev *)arg;
    static u8 b[16];
    struct buf bb = {b, sizeof(b), true};
    u64 n = cmdline_get_u64("count", 3000), done = 0;
    for (; done < n; done++) {
        vq_submit(d, 1, &bb);
        if (!vq_drain(d, SHORT))
            break;
    }
    user_exit(done);
}

static void hostile_msi(void)
{
    struct vdev d;
    if (!hostile_find(4, &d, "hostile-msi"))
        return;
    if (!d.pci) {
        CHECK(false, "hostile-msi needs virtio-pci (--virtio-transport pci)");
        return;
    }
    vdev_setup(&d, 0, QN);
    volatile u32 *entry = (volatile u32 *)(d.msix + 16); /* queue 0's vector */
    entry[0] = 0xdead0000u;
    kprintf("hostile-msi: MSI address 0x%x; attacking\n", entry[0]);
    u64 done = user_call(user_rng_loop, (u64)&d, USER_RFLAGS);
    kprintf("hostile-msi: %lu requests answered with an interrupt to 0x%x\n", done, entry[0]);
    CHECK(done == cmdline_get_u64("count", 3000), "only %lu requests answered", done);
    CHECK(rng_works(&d), "the device does not work with a good address again");
}

void run_hostile_test(const char *name)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"reconfig", hostile_reconfig}, {"alias", hostile_alias}, {"late-queue", hostile_late_queue},
        {"reactivate", hostile_reactivate}, {"double-head", hostile_double_head}, {"msi", hostile_msi},
    };
    /* rounds=N: the attack N times over, so that it lasts while the harness
     * probes ember from outside. */
    u64 rounds = cmdline_get_u64("rounds", 1);
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!strncmp(name, tests[i].name, 32)) {
            for (u64 r = 0; r < rounds && !kit_failures; r++)
                tests[i].fn();
            char full[48] = "hostile-";
            memcpy(full + 8, name, strlen(name) < 39 ? strlen(name) + 1 : 39);
            kit_finish(full);
            return;
        }
    kprintf("FAIL hostile-%s: no such test\n", name);
}
