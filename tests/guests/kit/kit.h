/* ember's test-guest kit: a freestanding x86_64 guest (no libc) that ember
 * boots through its real boot paths and that reports on COM1. */
#ifndef KIT_H
#define KIT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define KIT_MAX_CPUS 16
#define LAPIC_BASE 0xFEE00000ULL
#define IOAPIC_BASE 0xFEC00000ULL
#define USER_RFLAGS 0x3002ULL /* IOPL 3, interrupts off */
#define RFLAGS_IF 0x200ULL

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
static inline void cpu_relax(void) { __asm__ volatile("pause"); }
static inline u64 rdmsr(u32 msr)
{
    u32 lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v) { __asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* libc-like helpers */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* console */
void serial_putc(char c);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool serial_getc_poll(u8 *c);

/* command line: the value of key=..., copied into buf; false if absent */
bool cmdline_get(const char *key, char *buf, size_t len);
u64 cmdline_get_u64(const char *key, u64 dflt);

/* boot information normalised from boot_params or hvm_start_info */
struct e820 { u64 addr, size; u32 type; };
struct bootinfo {
    int kind; /* 1 bzImage, 2 PVH */
    const char *cmdline;
    u64 initrd, initrd_size;
    int n_e820;
    struct e820 e820[32];
};
extern struct bootinfo boot;

/* CPU, interrupts */
struct isr_frame {
    u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, rbx, vector, error, rip, cs, rflags, rsp, ss;
};
typedef void (*irq_handler_t)(struct isr_frame *f);
void set_irq_handler(int vector, irq_handler_t h);
void cpu_init(int index); /* GDT/TSS/IDT/LAPIC for this CPU */
u32 lapic_id(void);
void lapic_eoi(void);
void lapic_write(u32 reg, u32 v);
u32 lapic_read(u32 reg);
/* After this, the LAPIC helpers use the x2APIC MSRs instead of the MMIO page. */
void lapic_use_x2apic(void);
/* Sends an IPI: ICR low word and destination APIC id (8 or 32 bits). */
void lapic_send_ipi(u32 dest, u32 icr_low);
void ioapic_route(int pin, int vector, u32 dest_apic, bool level);
void pic_mask_all(void);
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }

/* ring 3: runs fn(arg) in user mode on this CPU, returns user_exit's value */
u64 user_call(void (*fn)(u64), u64 arg, u64 rflags);
__attribute__((noreturn)) void user_exit(u64 value);

/* ending the VM */
__attribute__((noreturn)) void poweroff(void);
__attribute__((noreturn)) void reboot_i8042(void);
__attribute__((noreturn)) void reboot_cf9(void);
__attribute__((noreturn)) void triple_fault(void);

/* spinlock */
typedef struct { volatile u32 v; } spinlock_t;
void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);

/* tests: CHECK records a failed expectation; kit_finish prints PASS/FAIL */
extern int kit_failures;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            kprintf("check failed: " __VA_ARGS__);                                                                     \
            kprintf("\n");                                                                                             \
            kit_failures++;                                                                                            \
        }                                                                                                              \
    } while (0)
void kit_finish(const char *name);
void run_test(const char *name);
void test_virtio_rng(void);
void test_virtio_blk(void);
void test_virtio_hostile(void);
void test_virtio_net(void);
void test_virtio_console(void);
void test_virtio_balloon(void);
/* test=hostile-NAME: the virtio attacks of issue 12 (virtio.c) */
void run_hostile_test(const char *name);
void ap_test_main(int index);
/* What each application processor runs once online (set before starting them). */
extern void (*ap_work)(int index);

#endif
