/* Multiboot v1 entry for the 32-bit guests (hello32, timer32).
 *
 * These stay in 32-bit protected mode without paging and return from
 * interrupts with IRET: exactly what PVM's emulator cannot do, so they are
 * for hosts with VMX or SVM only. */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-align modules, want memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	movl $rt_stack_top, %esp
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movl $0x10, %ecx
	movl %ecx, %ds
	movl %ecx, %es
	movl %ecx, %ss
	movl %ecx, %fs
	movl %ecx, %gs
	pushl %ebx /* multiboot info */
	pushl %eax /* magic */
	call rt_start
2:	cli
	hlt
	jmp 2b

/* 256 interrupt stubs, 16 bytes apart (see entry64.S). */
	.balign 16
	.globl rt_isr_stubs
rt_isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushal
	pushl %esp /* struct rt_frame * */
	cld
	call rt_isr_dispatch
	addl $4, %esp
	popal
	addl $8, %esp /* vector, error code */
	iret

	.data
/* GDT: 0x08 flat 32-bit code, 0x10 flat data. */
	.balign 16
	.globl rt_gdt
rt_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
rt_gdt_end:
	.balign 4
	.word 0
gdt_desc:
	.word rt_gdt_end - rt_gdt - 1
	.long rt_gdt

	.bss
	.balign 16
rt_stack:
	.skip 16384
	.globl rt_stack_top
rt_stack_top:

	.section .note.GNU-stack, "", @progbits
