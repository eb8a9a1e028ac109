/* mbstack: a multiboot kernel that relies on the loader's stack, as kernels
 * written against GRUB and QEMU -kernel often do: it pushes and calls
 * before ever setting ESP. */
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
	movl %esp, %ecx
	pushl %ecx /* the ESP the loader left */
	pushl %ebx
	pushl %eax
	call mb_main
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
