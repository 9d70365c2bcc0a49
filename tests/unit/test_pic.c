/* The dual 8259A model, driven through its ports the way Linux drives it. */
#include "irq/pic.h"
#include "check.h"

static int out_level, out_changes;
static void output(void *ctx, int level) { (void)ctx; out_level = level; out_changes++; }

static struct pic pic;
static void outb(unsigned port, uint8_t v)
{
    if (port >= 0x4d0)
        pic_elcr_ops.write(&pic, port - 0x4d0, &v, 1);
    else
        (port >= 0xa0 ? &pic_slave_ops : &pic_master_ops)->write(&pic, port & 1, &v, 1);
}
static uint8_t inb(unsigned port)
{
    uint8_t v;
    if (port >= 0x4d0)
        pic_elcr_ops.read(&pic, port - 0x4d0, &v, 1);
    else
        (port >= 0xa0 ? &pic_slave_ops : &pic_master_ops)->read(&pic, port & 1, &v, 1);
    return v;
}

/* Linux's init_8259A: ICW1 edge+ICW4, bases 0x20/0x28, cascade on 2, 8086 mode. */
static void setup(uint8_t icw4)
{
    out_level = out_changes = 0;
    pic_init(&pic, output, NULL);
    outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, icw4);
    outb(0xa0, 0x11); outb(0xa1, 0x28); outb(0xa1, 0x02); outb(0xa1, icw4);
    outb(0x21, 0x00); /* unmask all */
    outb(0xa1, 0x00);
}

TEST(edge_irq_acknowledge_and_nonspecific_eoi)
{
    setup(0x01);
    pic_set_irq(&pic, 1, 1);
    CHECK_EQ(out_level, 1);
    CHECK_EQ(pic_acknowledge(&pic), 0x21);
    CHECK_EQ(out_level, 0);
    outb(0x20, 0x0b); /* OCW3: read ISR */
    CHECK_EQ(inb(0x20), 0x02);
    outb(0x20, 0x0a); /* read IRR */
    CHECK_EQ(inb(0x20), 0x00);
    outb(0x20, 0x20); /* non-specific EOI */
    outb(0x20, 0x0b);
    CHECK_EQ(inb(0x20), 0x00);
    pic_set_irq(&pic, 1, 1); /* still high: no new edge */
    CHECK_EQ(out_level, 0);
    pic_destroy(&pic);
}

TEST(priority_nesting_and_masking)
{
    setup(0x01);
    pic_set_irq(&pic, 5, 1);
    pic_set_irq(&pic, 3, 1);
    CHECK_EQ(pic_acknowledge(&pic), 0x23); /* 3 before 5 */
    CHECK_EQ(out_level, 0);                /* 5 waits behind 3 in service */
    pic_set_irq(&pic, 1, 1);
    CHECK_EQ(out_level, 1);                /* 1 may interrupt 3 */
    CHECK_EQ(pic_acknowledge(&pic), 0x21);
    outb(0x20, 0x20);                      /* EOIs 1 (highest in service) */
    outb(0x20, 0x20);                      /* EOIs 3 */
    CHECK_EQ(out_level, 1);                /* now 5 */
    outb(0x21, 1u << 5);                   /* mask it */
    CHECK_EQ(out_level, 0);
    outb(0x21, 0);
    CHECK_EQ(pic_acknowledge(&pic), 0x25);
    CHECK_EQ(inb(0x21), 0);
    pic_destroy(&pic);
}

TEST(slave_cascades_through_irq2)
{
    setup(0x01);
    pic_set_irq(&pic, 10, 1);
    CHECK_EQ(out_level, 1);
    CHECK_EQ(pic_acknowledge(&pic), 0x2a);
    outb(0x20, 0x0b);
    CHECK_EQ(inb(0x20), 0x04); /* master: cascade in service */
    outb(0xa0, 0x0b);
    CHECK_EQ(inb(0xa0), 0x04); /* slave: IRQ 10 in service */
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
    CHECK_EQ(inb(0xa0), 0x00);
    pic_set_irq(&pic, 2, 1); /* the cascade line is not a device line */
    CHECK_EQ(out_level, 0);
    pic_destroy(&pic);
}

TEST(spurious_irq7_and_irq15)
{
    setup(0x01);
    CHECK_EQ(pic_acknowledge(&pic), 0x27); /* nothing pending */
    outb(0x4d1, 0x04);                     /* IRQ 10 level-triggered */
    pic_set_irq(&pic, 10, 1);
    pic_set_irq(&pic, 10, 0);              /* gone before the CPU acknowledges */
    CHECK_EQ(pic_acknowledge(&pic), 0x2f); /* spurious 15 */
    outb(0xa0, 0x0b);
    CHECK_EQ(inb(0xa0), 0x00);             /* a spurious interrupt is not in service */
    CHECK_EQ(pic.spurious, 2);
    pic_destroy(&pic);
}

TEST(elcr_level_lines_and_auto_eoi)
{
    setup(0x03); /* auto-EOI */
    outb(0x4d0, 0xff);
    CHECK_EQ(inb(0x4d0), 0xf8); /* IRQ 0-2 cannot be level */
    pic_set_irq(&pic, 5, 1);
    CHECK_EQ(pic_acknowledge(&pic), 0x25);
    outb(0x20, 0x0b);
    CHECK_EQ(inb(0x20), 0x00); /* auto-EOI: nothing in service */
    CHECK_EQ(out_level, 1);    /* line still high: requested again */
    pic_set_irq(&pic, 5, 0);
    CHECK_EQ(out_level, 0);
    pic_destroy(&pic);
}

TEST(poll_mode_rotation_and_state)
{
    setup(0x01);
    pic_set_irq(&pic, 6, 1);
    outb(0x20, 0x0c); /* OCW3 poll */
    CHECK_EQ(inb(0x20), 0x86);
    outb(0x20, 0x0c);
    CHECK_EQ(inb(0x20), 0x00); /* 6 is in service, nothing else */
    outb(0x20, 0xe6);          /* specific EOI 6 and rotate: 6 becomes lowest */
    pic_set_irq(&pic, 7, 1);
    pic_set_irq(&pic, 0, 1);
    CHECK_EQ(pic_acknowledge(&pic), 0x27); /* after rotation 7 outranks 0 */
    struct pic_state st;
    pic_get_state(&pic, &st);
    struct pic other;
    pic_init(&other, NULL, NULL);
    pic_set_state(&other, &st);
    struct pic_state back;
    pic_get_state(&other, &back);
    CHECK(!memcmp(&st, &back, sizeof(st)));
    char buf[1024];
    CHECK(pic_dump(&other, buf, sizeof(buf)) > 0 && strstr(buf, "pic master: base 0x20") && strstr(buf, "isr 0x80"));
    pic_destroy(&other);
    pic_destroy(&pic);
}

RUN_TESTS(CASE(edge_irq_acknowledge_and_nonspecific_eoi), CASE(priority_nesting_and_masking),
          CASE(slave_cascades_through_irq2), CASE(spurious_irq7_and_irq15), CASE(elcr_level_lines_and_auto_eoi),
          CASE(poll_mode_rotation_and_state))
