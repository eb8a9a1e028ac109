/* flat.bin: a raw real-mode binary for `ttvm run --flat 0x7c00 flat.bin`
 * (loaded at 0:0x7c00, started with CS:IP = 0:0x7c00).  Prints "flat ok"
 * on COM1 and leaves through debug-exit with 0 (status 1).  It is padded
 * to 512 bytes with the 0x55aa signature, so a PC BIOS also boots it from
 * a raw disk image (that is how it is checked under QEMU). */
	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7c00, %sp
	movw $msg, %si
1:	lodsb
	testb %al, %al
	jz 3f
	movb %al, %bl
	movw $0x3fd, %dx /* LSR: wait for THRE, bounded */
	movw $0xffff, %cx
2:	inb %dx, %al
	testb $0x20, %al
	loopz 2b
	movb %bl, %al
	movw $0x3f8, %dx
	outb %al, %dx
	jmp 1b
3:	movw $0xf4, %dx
	xorl %eax, %eax
	outl %eax, %dx
4:	cli
	hlt
	jmp 4b

msg:	.asciz "flat ok\n"

	.org 510
	.byte 0x55, 0xaa

	.section .note.GNU-stack, "", @progbits
