/* stihlt.bin: the pattern of kvm-unit-tests' x86/realmode test after
 * "int 1" (test_sti_inhibit): with interrupts off, pulse IRQ 11 through
 * QEMU's pc-testdev IRQ-line port (0x2000 + line), then sti; hlt and expect
 * an interrupt to end the HLT.  Raw real-mode code for --flat 0x7c00. */
	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $0x7c00, %sp
	movw $0x1000, 0x73 * 4 /* IRQ 11 (slave base 0x70): an IRET at 0:0x1000 */
	movw $0, 0x73 * 4 + 2
	movb $0xcf, 0x1000
	movw $msg1, %si
	call puts
	movw $0x200b, %dx
	movl $1, %eax
	outl %eax, %dx
	movl $0, %eax
	outl %eax, %dx
	sti
	hlt
	cli
	movw $msg2, %si
	call puts
	movw $0xf4, %dx
	xorl %eax, %eax
	outl %eax, %dx
1:	cli
	hlt
	jmp 1b

puts:
	lodsb
	testb %al, %al
	jz 3f
	movw $0x3f8, %dx
	outb %al, %dx
	jmp puts
3:	ret

msg1:	.asciz "stihlt: sti; hlt\n"
msg2:	.asciz "stihlt: woke up\n"

	.section .note.GNU-stack, "", @progbits
