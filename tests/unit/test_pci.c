/* The PCI bus: configuration mechanism #1, the host bridge, BAR sizing and
 * moves (with the device told where its BAR decodes), the command register,
 * capabilities, and accesses through the BAR window. */
#include "pci/pci.h"
#include "check.h"

static struct {
    int moves;
    uint64_t at;
    uint64_t last_off;
    uint32_t last_val;
} seen;

static void bar_read(struct pci_device *d, int bar, uint64_t off, uint8_t *data, uint32_t size)
{
    (void)d, (void)bar;
    uint32_t v = 0xab000000u | (uint32_t)off;
    memcpy(data, &v, size);
}
static void bar_write(struct pci_device *d, int bar, uint64_t off, const uint8_t *data, uint32_t size)
{
    (void)d, (void)bar;
    seen.last_off = off;
    seen.last_val = 0;
    memcpy(&seen.last_val, data, size);
}
static void bar_moved(struct pci_device *d, int bar, uint64_t at)
{
    (void)d, (void)bar;
    seen.moves++;
    seen.at = at;
}
static const struct pci_device_ops ops = {.bar_read = bar_read, .bar_write = bar_write, .bar_moved = bar_moved};

static struct io_bus pio, mmio;
static struct pci_bus bus;
static struct pci_device dev;

static void setup(void)
{
    memset(&seen, 0, sizeof(seen));
    io_bus_init(&pio, "pio");
    io_bus_init(&mmio, "mmio");
    CHECK(pci_bus_init(&bus, &pio, &mmio, 0xc0000000, 0x10000000) == 0);
    pci_device_init(&dev, 0x1af4, 0x1042, 0x010000, 0x1af4, 0x40, 1, &ops, NULL);
    pci_device_add_bar64(&dev, 0, 0x4000);
    uint8_t cap[4] = {0x09, 0, 4, 0x77};
    pci_device_add_cap(&dev, cap, 4);
    CHECK_EQ(pci_bus_add(&bus, &dev), 1);
}
static void teardown(void)
{
    pci_bus_destroy(&bus);
    io_bus_destroy(&pio);
    io_bus_destroy(&mmio);
}

/* Through the ports, as a guest does. */
static uint32_t cfg_read(int slot, uint8_t reg, uint32_t size)
{
    uint32_t addr = 0x80000000u | (uint32_t)slot << 11 | (reg & 0xfc), v = 0;
    io_bus_write(&pio, 0xcf8, (uint8_t *)&addr, 4);
    io_bus_read(&pio, 0xcfc + (reg & 3), (uint8_t *)&v, size);
    return v;
}
static void cfg_write(int slot, uint8_t reg, uint32_t v, uint32_t size)
{
    uint32_t addr = 0x80000000u | (uint32_t)slot << 11 | (reg & 0xfc);
    io_bus_write(&pio, 0xcf8, (uint8_t *)&addr, 4);
    io_bus_write(&pio, 0xcfc + (reg & 3), (uint8_t *)&v, size);
}

TEST(enumeration_and_identity)
{
    setup();
    CHECK_EQ(cfg_read(0, 0x0a, 2), 0x0600); /* 00:00.0 is a host bridge */
    CHECK_EQ(cfg_read(1, 0x00, 4), 0x10421af4);
    CHECK_EQ(cfg_read(1, 0x08, 4) >> 8, 0x010000); /* class */
    CHECK_EQ(cfg_read(1, 0x2e, 2), 0x40);
    CHECK_EQ(cfg_read(5, 0x00, 4), 0xffffffff); /* an empty slot */
    CHECK_EQ(cfg_read(5, 0x00, 2), 0xffff);
    /* function 1 and other buses do not exist */
    uint32_t addr = 0x80000000u | 1u << 11 | 1u << 8, v = 0;
    io_bus_write(&pio, 0xcf8, (uint8_t *)&addr, 4);
    io_bus_read(&pio, 0xcfc, (uint8_t *)&v, 4);
    CHECK_EQ(v, 0xffffffff);
    addr = 0x80000000u | 1u << 16;
    io_bus_write(&pio, 0xcf8, (uint8_t *)&addr, 4);
    io_bus_read(&pio, 0xcfc, (uint8_t *)&v, 4);
    CHECK_EQ(v, 0xffffffff);
    /* capabilities: the status bit and the list */
    CHECK(cfg_read(1, 0x06, 2) & PCI_STATUS_CAP_LIST);
    uint8_t cap = (uint8_t)cfg_read(1, 0x34, 1);
    CHECK_EQ(cap, 0x40);
    CHECK_EQ(cfg_read(1, cap, 1), 0x09);
    CHECK_EQ(cfg_read(1, (uint8_t)(cap + 3), 1), 0x77);
    /* read-only identity */
    cfg_write(1, 0x00, 0x12345678, 4);
    CHECK_EQ(cfg_read(1, 0x00, 4), 0x10421af4);
    teardown();
}

TEST(bar_sizing_and_moving)
{
    setup();
    CHECK_EQ(seen.moves, 1); /* assigned at add time, memory decoding on */
    CHECK_EQ(seen.at, 0xc0000000);
    CHECK_EQ(cfg_read(1, 0x10, 4), 0xc0000004); /* memory, 64-bit */
    CHECK_EQ(cfg_read(1, 0x14, 4), 0);
    /* sizing: all-ones reads back the mask; the BAR stops decoding meanwhile */
    cfg_write(1, 0x10, 0xffffffff, 4);
    CHECK_EQ(cfg_read(1, 0x10, 4), 0xffffc004);
    CHECK_EQ(seen.at, 0);
    cfg_write(1, 0x14, 0xffffffff, 4);
    CHECK_EQ(cfg_read(1, 0x14, 4), 0xffffffff);
    /* a new address */
    cfg_write(1, 0x10, 0xc8001234, 4);
    cfg_write(1, 0x14, 0, 4);
    CHECK_EQ(cfg_read(1, 0x10, 4), 0xc8000004); /* aligned to the size */
    CHECK_EQ(seen.at, 0xc8000000);
    /* the window dispatches to the BAR's new place */
    uint32_t v = 0;
    CHECK(io_bus_read(&mmio, 0xc8000010, (uint8_t *)&v, 4));
    CHECK_EQ(v, 0xab000010);
    v = 0x55;
    io_bus_write(&mmio, 0xc8003000, (uint8_t *)&v, 2);
    CHECK_EQ(seen.last_off, 0x3000);
    CHECK_EQ(seen.last_val, 0x55);
    CHECK(io_bus_read(&mmio, 0xc0000010, (uint8_t *)&v, 4)); /* the old place: nothing */
    CHECK_EQ(v, 0xffffffff);
    /* memory decoding off: the BAR goes away; on: it comes back */
    cfg_write(1, 0x04, 0, 2);
    CHECK_EQ(seen.at, 0);
    cfg_write(1, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    CHECK_EQ(seen.at, 0xc8000000);
    CHECK_EQ(cfg_read(1, 0x04, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    cfg_write(1, 0x3c, 11, 1);
    CHECK_EQ(cfg_read(1, 0x3c, 1), 11);
    teardown();
}

static int resets;
static void reset_write(void *o, uint64_t off, const uint8_t *d, uint32_t size)
{
    (void)o, (void)off, (void)size;
    if (d[0] == 0x06)
        resets++;
}
static void reset_read(void *o, uint64_t off, uint8_t *d, uint32_t size)
{
    (void)o, (void)off, (void)size;
    d[0] = 0x42;
}
static const struct bus_device_ops reset_ops = {.name = "reset", .read = reset_read, .write = reset_write};

TEST(the_reset_port_inside_cf8_keeps_working)
{
    io_bus_init(&pio, "pio");
    io_bus_init(&mmio, "mmio");
    CHECK(io_bus_register(&pio, 0xcf9, 1, &reset_ops, NULL) == 0);
    CHECK(pci_bus_init(&bus, &pio, &mmio, 0xc0000000, 0x10000000) == 0);
    uint8_t b = 0x06;
    io_bus_write(&pio, 0xcf9, &b, 1);
    CHECK_EQ(resets, 1);
    io_bus_read(&pio, 0xcf9, &b, 1);
    CHECK_EQ(b, 0x42);
    CHECK_EQ(cfg_read(0, 0x0a, 2), 0x0600); /* and config access still works */
    teardown();
}

/* A guest may put a BAR anywhere: over RAM, the IOAPIC or LAPIC window, or
 * another device's BAR. There it decodes nothing (and its device is told
 * so, which unhooks its ioeventfds) until it is moved to a free place. */
TEST(a_bar_over_another_or_outside_the_window_decodes_nothing)
{
    setup();
    static struct pci_device other;
    pci_device_init(&other, 0x1af4, 0x1041, 0x020000, 0x1af4, 0x40, 1, &ops, NULL);
    pci_device_add_bar64(&other, 0, 0x4000);
    CHECK_EQ(pci_bus_add(&bus, &other), 2);
    uint64_t mine = dev.bar_decoded[0], theirs = other.bar_decoded[0];
    CHECK(mine && theirs && mine != theirs);
    /* Onto the first device's BAR: the moved one decodes nothing, the first keeps its place. */
    pci_config_write(&bus, 2, 0x10, (uint32_t)mine, 4);
    CHECK_EQ(other.bar_decoded[0], 0);
    CHECK_EQ(dev.bar_decoded[0], mine);
    /* Half over it (straddling) is still over it. */
    pci_config_write(&bus, 2, 0x10, (uint32_t)(mine + 0x2000) & ~0x3fffu, 4);
    CHECK_EQ(other.bar_decoded[0], 0);
    /* Over the LAPIC (outside the bus's window), over RAM: nothing. */
    pci_config_write(&bus, 2, 0x10, 0xfee00000u, 4);
    CHECK_EQ(other.bar_decoded[0], 0);
    pci_config_write(&bus, 2, 0x10, 0x00100000u, 4);
    CHECK_EQ(other.bar_decoded[0], 0);
    /* A 64-bit BAR far above the window: nothing. */
    pci_config_write(&bus, 2, 0x10, (uint32_t)theirs, 4);
    pci_config_write(&bus, 2, 0x14, 1, 4);
    CHECK_EQ(other.bar_decoded[0], 0);
    /* Back to a free place in the window: it decodes again. */
    pci_config_write(&bus, 2, 0x14, 0, 4);
    CHECK_EQ(other.bar_decoded[0], theirs);
    /* A window access at the first BAR still reaches the first device. */
    seen.last_val = 0;
    uint32_t v = 0x1234;
    CHECK(io_bus_write(&mmio, mine + 8, (const uint8_t *)&v, 4));
    CHECK_EQ(seen.last_off, 8);
    teardown();
}

RUN_TESTS(CASE(enumeration_and_identity), CASE(bar_sizing_and_moving), CASE(the_reset_port_inside_cf8_keeps_working),
          CASE(a_bar_over_another_or_outside_the_window_decodes_nothing))
