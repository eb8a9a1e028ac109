/* Multiboot v1 entry for the 64-bit guests.
 *
 * The loader starts us in 32-bit protected mode (EAX = 0x2BADB002, EBX =
 * multiboot info, paging off, GDT unknown).  On PVM every 32-bit instruction
 * goes through KVM's emulator, so this path is straight-line: static page
 * tables identity-map the first 4 GiB with 2 MiB pages, then PAE, EFER.LME,
 * paging, and a far jump to 64-bit code.  The first 2 MiB (the kernel's
 * code and data) are supervisor-only, as a real kernel's text is, so that
 * ttvm may patch its loops (core/ptrap.h); the rest is user-accessible.
 * The usermode guest opens the first 2 MiB to CPL3 itself (rt_pd). */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-align modules, want memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	movl %eax, %edi /* multiboot magic, first argument of rt_start */
	movl %ebx, %esi /* multiboot info, second argument */
	lgdt gdt_desc
	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx /* EFER */
	rdmsr
	orl $0x100, %eax /* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax /* PG | PE */
	movl %eax, %cr0
	ljmp $0x08, $start64

	.code64
start64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq $rt_stack_top, %rsp
	movl %edi, %edi /* upper halves are undefined after the mode switch */
	movl %esi, %esi
	call rt_start
1:	cli
	hlt
	jmp 1b

/* 256 interrupt stubs, 16 bytes each, so rt.c finds vector v at
 * rt_isr_stubs + 16 * v.  Each pushes a dummy error code where the CPU
 * pushes none, then the vector number. */
	.balign 16
	.globl rt_isr_stubs
rt_isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

/* The CPU aligned RSP to 16 before pushing its 5-word frame; with error
 * code, vector and 15 registers the C call below is 16-byte aligned. */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call rt_isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp /* vector, error code */
	iretq

	.data
/* GDT: 0x08 kernel code64, 0x10 kernel data, 0x18 user data (DPL3),
 * 0x20 user code64 (DPL3), 0x28 TSS (16 bytes, filled in by rt_set_tss). */
	.balign 16
	.globl rt_gdt
rt_gdt:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
	.quad 0x00cff2000000ffff
	.quad 0x00affa000000ffff
	.quad 0, 0
rt_gdt_end:
	.balign 4
	.word 0
gdt_desc:
	.word rt_gdt_end - rt_gdt - 1
	.long rt_gdt

/* Identity map of 0-4 GiB: PML4[0] -> PDPT, PDPT[0..3] -> 4 PDs of 2 MiB
 * pages.  Bits: present, writable, user (| PS = 0x80 for large pages);
 * the first 2 MiB page without user. */
	.balign 4096
pml4:
	.quad pdpt + 0x7
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x7
	.quad pd + 0x1000 + 0x7
	.quad pd + 0x2000 + 0x7
	.quad pd + 0x3000 + 0x7
	.fill 508, 8, 0
	.globl rt_pd
rt_pd:
pd:
	.quad 0x83
	.set pg, 1
	.rept 2047
	.quad (pg << 21) | 0x87
	.set pg, pg + 1
	.endr

	.bss
	.balign 16
	.globl rt_stack
rt_stack:
	.skip 16384
	.globl rt_stack_top
rt_stack_top:

	.section .note.GNU-stack, "", @progbits
