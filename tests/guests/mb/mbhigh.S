/* mbhigh: a higher-half multiboot kernel, as hobby kernels are written:
 * linked at 0xc0100000 and loaded at 1 MiB (AT() in mbhigh.ld), so the ELF
 * entry point is a virtual address that the loader must translate through
 * the program headers.  The entry code runs at the physical address with
 * paging off, maps 0-4 MiB both at 0 and at 0xc0000000 with one 4 MiB page
 * (PSE), turns paging on and jumps up. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003
#define KBASE 0xc0000000
#define PDE_4M 0x83 /* present, writable, 4 MiB page */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	movl $(boot_pd - KBASE), %ecx
	movl $PDE_4M, (%ecx)               /* 0x00000000 -> 0 */
	movl $PDE_4M, (KBASE >> 22) * 4(%ecx) /* 0xc0000000 -> 0 */
	movl %cr4, %edx
	orl $0x10, %edx                    /* CR4.PSE */
	movl %edx, %cr4
	movl %ecx, %cr3
	movl %cr0, %edx
	orl $0x80000000, %edx              /* CR0.PG */
	movl %edx, %cr0
	movl $high, %edx
	jmp *%edx
high:
	movl $stack_top, %esp
	pushl $0
	pushl %ebx
	pushl %eax
	call mb_main
1:	cli
	hlt
	jmp 1b

	.bss
	.balign 4096
boot_pd:
	.skip 4096
	.balign 16
	.skip 4096
stack_top:

	.section .note.GNU-stack, "", @progbits
