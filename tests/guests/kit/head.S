/* Entry paths of ember's test-guest kit.
 *   startup_64  bzImage 64-bit entry (load address + 0x200), rsi = boot_params
 *   pvh_entry   PVH entry, 32-bit protected mode, paging off, ebx = hvm_start_info
 *   ap tramp    real-mode trampoline copied to 0x8000 for INIT/SIPI'd APs
 * All paths load the kit's own GDT and page tables (0-8 GiB identity, 2 MiB
 * pages, user-accessible so ring-3 code can do port and MMIO I/O). */

#define KERNEL_CS 0x10
#define KERNEL_DS 0x18
#define TRAMP_BASE 0x8000
#define TRAMP(x) ((x) - ap_trampoline_start + TRAMP_BASE)
#define STACK_SIZE 16384

/* From 32-bit protected mode: PAE, the kit's page tables, EFER.LME, paging.
 * The far jump that follows lands in 64-bit code. */
    .macro enable_long_mode
    mov %cr4, %eax
    or $0x20, %eax          /* PAE */
    mov %eax, %cr4
    mov $kit_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx   /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax    /* PG */
    mov %eax, %cr0
    .endm

    .section .head, "ax"
    .code64
    .globl _head
_head:
    .org 0x200
    .globl startup_64
startup_64:
    cli
    mov $1, %edi            /* boot kind 1: bzImage, rsi = boot_params */
    jmp common64

    .text
    .code32
    .globl pvh_entry
pvh_entry:
    cli
    mov %ebx, %esi
    lgdt kit_gdtr
    ljmp $0x08, $1f
1:  mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    enable_long_mode
    ljmp $KERNEL_CS, $pvh64
    .code64
pvh64:
    mov $2, %edi            /* boot kind 2: PVH, rsi = hvm_start_info */
    mov %esi, %esi
    jmp common64

common64:
    lgdt kit_gdtr
    mov $kit_pml4, %rax
    mov %rax, %cr3
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    lea bsp_stack_top(%rip), %rsp
    pushq $KERNEL_CS
    lea 2f(%rip), %rax
    pushq %rax
    lretq
2:  call kit_main
3:  cli
    hlt
    jmp 3b

/* APs arrive here in 64-bit mode from the trampoline. */
    .globl ap_entry64
ap_entry64:
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0xFEE00020, %ebx   /* LAPIC ID register (zero-extended) */
    mov (%rbx), %edi
    shr $24, %edi
    mov %edi, %eax
    inc %eax
    imul $STACK_SIZE, %rax
    lea ap_stacks(%rip), %rsp
    add %rax, %rsp
    call ap_main
4:  cli
    hlt
    jmp 4b

/* uint64_t run_user(void (*fn)(uint64_t), uint64_t arg, uint64_t user_rsp,
 *                   uint64_t *saved_rsp_slot, uint64_t rflags)
 * Enters ring 3 at fn(arg). User code returns with user_exit(value): a trap
 * whose handler calls resume_kernel() with the saved kernel stack. */
    .globl run_user
run_user:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rcx)
    pushq $0x23             /* user SS */
    pushq %rdx              /* user RSP */
    pushq %r8               /* RFLAGS (IOPL 3) */
    pushq $0x2b             /* user CS */
    pushq %rdi              /* RIP */
    mov %rsi, %rdi
    iretq

/* void resume_kernel(uint64_t saved_rsp, uint64_t value): makes the run_user
 * call that saved `saved_rsp` return `value`. Called from the trap handler
 * when ring-3 code executes the user_exit trap. */
    .globl resume_kernel
resume_kernel:
    mov %rdi, %rsp
    mov %rsi, %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

/* Ring 3 leaves through a ud2 at this known address rather than INT n:
 * PVM delivers INT n from guest ring 3 as #UD anyway, and an exception
 * reaches ring 0 the same way on every x86. */
    .globl user_exit, user_exit_trap
user_exit:
user_exit_trap:
    ud2

/* Interrupt stubs: every vector pushes (error code or 0) and its number. */
    .macro isr_stub vec
    .align 16
isr_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
    .endm

    .align 16
    .globl isr_stubs
isr_stubs:
    .altmacro
    .set v, 0
    .rept 256
    isr_stub %v
    .set v, v+1
    .endr

isr_common:
    push %rbx
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    mov %rsp, %rdi          /* struct isr_frame * */
    mov %rsp, %rbx
    and $-16, %rsp
    call isr_dispatch
    mov %rbx, %rsp
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    pop %rbx
    add $16, %rsp
    iretq

/* The AP trampoline, assembled here and copied to TRAMP_BASE by the BSP. */
    .section .rodata
    .globl ap_trampoline_start, ap_trampoline_end
    .code16
ap_trampoline_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl TRAMP(tramp_gdtr)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $TRAMP(tramp32)
    .code32
tramp32:
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    enable_long_mode
    ljmp $KERNEL_CS, $TRAMP(tramp64)
    .code64
tramp64:
    movabs $ap_entry64, %rax
    jmp *%rax
    .align 8
tramp_gdtr:
    .word kit_gdt_end - kit_gdt - 1
    .long kit_gdt
ap_trampoline_end:

/* GDT: 0x08 code32, 0x10 code64, 0x18 data, 0x20 user data, 0x28 user code64,
 * 0x30.. one 16-byte TSS descriptor per CPU (filled at run time). */
    .data
    .align 16
    .globl kit_gdt, kit_gdt_end
kit_gdt:
    .quad 0
    .quad 0x00cf9b000000ffff
    .quad 0x00af9b000000ffff
    .quad 0x00cf93000000ffff
    .quad 0x00cff3000000ffff
    .quad 0x00affb000000ffff
    .fill 16 * 2, 8, 0       /* TSS descriptors for up to 16 CPUs */
kit_gdt_end:
    .align 16
    .globl kit_gdtr
kit_gdtr:
    .word kit_gdt_end - kit_gdt - 1
    .quad kit_gdt

    .align 4096
    .globl kit_pml4
kit_pml4:
    .quad kit_pdpt + 0x7
    .fill 511, 8, 0
kit_pdpt:
    .set i, 0
    .rept 8
    .quad kit_pd + i * 4096 + 0x7
    .set i, i + 1
    .endr
    .fill 504, 8, 0
kit_pd:
    .set i, 0
    .rept 8 * 512
    .quad (i << 21) + 0x87
    .set i, i + 1
    .endr

/* The PVH ELF note: where a PVH loader enters this image. */
    .section .note.Xen, "a"
    .align 4
    .long 4
    .long 4
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .align 4
    .long pvh_entry

    .bss
    .align 4096
    .space STACK_SIZE
bsp_stack_top:
    .globl ap_stacks
ap_stacks:
    .space STACK_SIZE * 17
    .section .note.GNU-stack, "", @progbits
