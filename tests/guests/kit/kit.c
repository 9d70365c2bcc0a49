/* The kit's runtime: boot information, console, CPU set-up, interrupts,
 * ring-3 calls and the ways to end the VM. */
#include "kit.h"

struct bootinfo boot;

/* ---- libc-like ---------------------------------------------------------- */
void *memset(void *d, int c, size_t n) { u8 *p = d; while (n--) *p++ = (u8)c; return d; }
void *memcpy(void *d, const void *s, size_t n) { u8 *p = d; const u8 *q = s; while (n--) *p++ = *q++; return d; }
int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}
size_t strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (u8)*a - (u8)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

/* ---- spinlock ------------------------------------------------------------- */
void spin_lock(spinlock_t *l)
{
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        while (l->v)
            cpu_relax();
}
void spin_unlock(spinlock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }

/* ---- serial console (COM1) ---------------------------------------------- */
#define COM1 0x3f8
void serial_putc(char c)
{
    if (c == '\n')
        serial_putc('\r');
    while (!(inb(COM1 + 5) & 0x20))
        cpu_relax();
    outb(COM1, (u8)c);
}

bool serial_getc_poll(u8 *c)
{
    if (!(inb(COM1 + 5) & 0x01))
        return false;
    *c = inb(COM1);
    return true;
}

static spinlock_t print_lock;

static void put_num(char **out, char *end, u64 v, int base, int width, char pad, bool neg)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % (u64)base];
        v /= (u64)base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    while (width-- > n && *out < end)
        *(*out)++ = pad;
    while (n && *out < end)
        *(*out)++ = tmp[--n];
}

static int kvsnprintf(char *buf, size_t size, const char *fmt, __builtin_va_list ap)
{
    char *o = buf, *end = buf + size - 1;
    for (; *fmt && o < end; fmt++) {
        if (*fmt != '%') {
            *o++ = *fmt;
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l')
            lng++, fmt++;
        switch (*fmt) {
        case 's': {
            const char *s = __builtin_va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            while (width-- > len && o < end)
                *o++ = ' ';
            while (*s && o < end)
                *o++ = *s++;
            break;
        }
        case 'c': *o++ = (char)__builtin_va_arg(ap, int); break;
        case 'd': {
            s64 v = lng ? __builtin_va_arg(ap, s64) : __builtin_va_arg(ap, int);
            put_num(&o, end, v < 0 ? (u64)-v : (u64)v, 10, width, pad, v < 0);
            break;
        }
        case 'u': case 'x': {
            u64 v = lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, unsigned);
            put_num(&o, end, v, *fmt == 'u' ? 10 : 16, width, pad, false);
            break;
        }
        case 'p': put_num(&o, end, (u64)__builtin_va_arg(ap, void *), 16, width, pad, false); break;
        case '%': *o++ = '%'; break;
        default: *o++ = '?'; break;
        }
    }
    *o = 0;
    return (int)(o - buf);
}

void kprintf(const char *fmt, ...)
{
    char buf[256];
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kvsnprintf(buf, sizeof(buf), fmt, ap);
    __builtin_va_end(ap);
    spin_lock(&print_lock);
    for (char *p = buf; *p; p++)
        serial_putc(*p);
    spin_unlock(&print_lock);
}

/* ---- command line ------------------------------------------------------- */
bool cmdline_get(const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    const char *p = boot.cmdline;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && !strncmp(tok, key, klen) && tok[klen] == '=') {
            size_t n = (size_t)(p - tok) - klen - 1;
            if (n >= len)
                n = len - 1;
            memcpy(buf, tok + klen + 1, n);
            buf[n] = 0;
            return true;
        }
    }
    return false;
}

u64 cmdline_get_u64(const char *key, u64 dflt)
{
    char b[32];
    if (!cmdline_get(key, b, sizeof(b)))
        return dflt;
    u64 v = 0;
    const char *s = b;
    int base = 10;
    if (s[0] == '0' && s[1] == 'x')
        base = 16, s += 2;
    for (; *s; s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
        if (d < 0 || d >= base)
            return dflt;
        v = v * (u64)base + (u64)d;
    }
    return v;
}

/* ---- boot information ------------------------------------------------------ */
static void parse_boot_params(const u8 *bp)
{
    boot.cmdline = (const char *)(u64)*(const u32 *)(bp + 0x228);
    boot.initrd = *(const u32 *)(bp + 0x218) | ((u64) * (const u32 *)(bp + 0x0c0) << 32);
    boot.initrd_size = *(const u32 *)(bp + 0x21c) | ((u64) * (const u32 *)(bp + 0x0c4) << 32);
    int n = bp[0x1e8];
    if (n > 32)
        n = 32;
    for (int i = 0; i < n; i++) {
        const u8 *e = bp + 0x2d0 + i * 20;
        memcpy(&boot.e820[i].addr, e, 8);
        memcpy(&boot.e820[i].size, e + 8, 8);
        memcpy(&boot.e820[i].type, e + 16, 4);
    }
    boot.n_e820 = n;
}

struct hvm_start_info {
    u32 magic, version, flags, nr_modules;
    u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    u32 memmap_entries, reserved;
};

static bool parse_start_info(const struct hvm_start_info *si)
{
    if (si->magic != 0x336ec578)
        return false;
    boot.cmdline = (const char *)si->cmdline_paddr;
    if (si->nr_modules > 0) {
        const u64 *mod = (const u64 *)si->modlist_paddr;
        boot.initrd = mod[0];
        boot.initrd_size = mod[1];
    }
    int n = (int)si->memmap_entries;
    if (n > 32)
        n = 32;
    const u8 *m = (const u8 *)si->memmap_paddr;
    for (int i = 0; i < n; i++) {
        memcpy(&boot.e820[i].addr, m + i * 24, 8);
        memcpy(&boot.e820[i].size, m + i * 24 + 8, 8);
        memcpy(&boot.e820[i].type, m + i * 24 + 16, 4);
    }
    boot.n_e820 = n;
    return true;
}

/* ---- CPU: GDT/TSS/IDT, LAPIC, IOAPIC ------------------------------------- */
extern u64 kit_gdt[];
extern u8 isr_stubs[];
extern void resume_kernel(u64 saved_rsp, u64 value) __attribute__((noreturn));
extern u8 user_exit_trap[];
extern u64 run_user(void (*fn)(u64), u64 arg, u64 user_rsp, u64 *saved_rsp, u64 rflags);

struct __attribute__((packed)) tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3, iomap_base;
    u8 iomap[8192 + 1]; /* all ports allowed, then the 0xff terminator */
};

struct percpu {
    u64 saved_rsp; /* kernel stack of the run_user call in progress */
    u64 index;
};

struct cpu_area {
    u8 irq_stack[8192];
    struct percpu pc;
} __attribute__((aligned(16)));

static struct cpu_area cpu_areas[KIT_MAX_CPUS];
static struct tss64 tss[KIT_MAX_CPUS];
static u8 user_stacks[KIT_MAX_CPUS][16384] __attribute__((aligned(16)));
static u64 idt[512] __attribute__((aligned(16)));
static irq_handler_t handlers[256];
static volatile bool idt_ready;

void set_irq_handler(int vector, irq_handler_t h) { handlers[vector] = h; }

static void idt_set(int v, u64 addr, u8 type_attr)
{
    idt[v * 2] = (addr & 0xffff) | (0x10ULL << 16) | ((u64)type_attr << 40) | ((addr >> 16 & 0xffff) << 48);
    idt[v * 2 + 1] = addr >> 32;
}

static void idt_build(void)
{
    for (int v = 0; v < 256; v++)
        idt_set(v, (u64)isr_stubs + (u64)v * 16, 0x8e);
    idt_ready = true;
}

static volatile bool x2apic_on;
void lapic_use_x2apic(void) { x2apic_on = true; }
u32 lapic_read(u32 reg) { return x2apic_on ? (u32)rdmsr(0x800 + (reg >> 4)) : mmio_read32(LAPIC_BASE + reg); }
void lapic_write(u32 reg, u32 v)
{
    if (x2apic_on)
        wrmsr(0x800 + (reg >> 4), v);
    else
        mmio_write32(LAPIC_BASE + reg, v);
}
u32 lapic_id(void) { return x2apic_on ? lapic_read(0x20) : lapic_read(0x20) >> 24; }
void lapic_eoi(void) { lapic_write(0xb0, 0); }

void lapic_send_ipi(u32 dest, u32 icr_low)
{
    if (x2apic_on) {
        wrmsr(0x830, ((u64)dest << 32) | icr_low); /* one 64-bit ICR */
        return;
    }
    lapic_write(0x310, dest << 24);
    lapic_write(0x300, icr_low);
    for (int i = 0; i < 100000 && (lapic_read(0x300) & (1u << 12)); i++)
        cpu_relax();
}

void cpu_init(int index)
{
    if (index == 0)
        idt_build();
    struct tss64 *t = &tss[index]; /* in .bss: already zero, and a byte loop here
                                    * would cost ms where ring 0 is emulated */
    t->rsp[0] = (u64)&cpu_areas[index].pc;
    t->iomap_base = __builtin_offsetof(struct tss64, iomap);
    t->iomap[8192] = 0xff;
    cpu_areas[index].pc.index = (u64)index;
    u64 base = (u64)t, limit = sizeof(*t) - 1;
    kit_gdt[6 + index * 2] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                             ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
    kit_gdt[7 + index * 2] = base >> 32;
    u16 sel = (u16)(0x30 + index * 16);
    __asm__ volatile("ltr %0" ::"r"(sel));
    struct __attribute__((packed)) { u16 limit; u64 base; } idtr = {sizeof(idt) - 1, (u64)idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
    lapic_write(0xf0, 0x1ff); /* software-enable, spurious vector 0xff */
    lapic_write(0x80, 0);     /* TPR: accept everything */
}

void ioapic_route(int pin, int vector, u32 dest_apic, bool level)
{
    u32 lo = (u32)vector | (level ? (1u << 15) : 0); /* fixed, physical, active high */
    mmio_write32(IOAPIC_BASE, 0x10 + pin * 2 + 1);
    mmio_write32(IOAPIC_BASE + 0x10, dest_apic << 24);
    mmio_write32(IOAPIC_BASE, 0x10 + pin * 2);
    mmio_write32(IOAPIC_BASE + 0x10, lo);
}

void pic_mask_all(void)
{
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

void isr_dispatch(struct isr_frame *f)
{
    if (f->vector == 6 && (f->cs & 3) == 3 && f->rip == (u64)user_exit_trap)
        resume_kernel(cpu_areas[lapic_id()].pc.saved_rsp, f->rdi);
    if (f->vector < 32 && handlers[f->vector]) { /* an expected exception or NMI */
        handlers[f->vector](f);
        return;
    }
    if (f->vector < 32) {
        kprintf("FAIL exception %u error 0x%lx at rip 0x%lx cs 0x%lx\n", (unsigned)f->vector, f->error, f->rip, f->cs);
        poweroff();
    }
    if (handlers[f->vector])
        handlers[f->vector](f);
    if (f->vector != 0xff)
        lapic_eoi();
}

u64 user_call(void (*fn)(u64), u64 arg, u64 rflags)
{
    int cpu = (int)lapic_id();
    return run_user(fn, arg, (u64)&user_stacks[cpu][sizeof(user_stacks[0])], &cpu_areas[cpu].pc.saved_rsp, rflags);
}


/* ---- test results ------------------------------------------------------------ */
int kit_failures;

void kit_finish(const char *name)
{
    if (kit_failures)
        kprintf("FAIL %s: %d check(s) failed\n", name, kit_failures);
    else
        kprintf("PASS %s\n", name);
}

/* ---- ending the VM ------------------------------------------------------- */
void poweroff(void)
{
    outw(0x604, (5 << 10) | (1 << 13)); /* ACPI PM1a_CNT: SLP_TYP=S5, SLP_EN */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void reboot_i8042(void)
{
    outb(0x64, 0xfe);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void reboot_cf9(void)
{
    outb(0xcf9, 0x06);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void triple_fault(void)
{
    struct __attribute__((packed)) { u16 limit; u64 base; } idtr = {0, 0};
    __asm__ volatile("lidt %0; ud2" ::"m"(idtr));
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---- entry ----------------------------------------------------------------- */
void kit_main(int kind, u64 info)
{
    boot.kind = kind;
    bool ok = true;
    if (kind == 1)
        parse_boot_params((const u8 *)info);
    else
        ok = parse_start_info((const struct hvm_start_info *)info);
    if (!ok) {
        kprintf("FAIL boot: bad hvm_start_info magic\n");
        poweroff();
    }
    char name[32];
    if (!cmdline_get("test", name, sizeof(name))) {
        kprintf("ember test-guest kit: no test= on the command line '%s'\n", boot.cmdline);
        poweroff();
    }
    /* First output before any other set-up: the bench times exec -> this line. */
    kprintf("kit: boot=%s test=%s\n", kind == 1 ? "bzimage" : "pvh", name);
    cpu_init(0);
    run_test(name);
    poweroff();
}

void ap_main(u32 apic_id)
{
    cpu_init((int)apic_id);
    ap_test_main((int)apic_id);
    for (;;)
        __asm__ volatile("cli; hlt");
}
