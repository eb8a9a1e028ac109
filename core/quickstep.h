/* Quick steps: a single step over one instruction done by hand, for the
 * few instructions that change only registers other than RFLAGS (no
 * memory, no exception possible): NOPs (0x90, the long NOPs 0f 1f /0 with
 * their 66/2e/3e prefixes, PAUSE, ENDBR64, LFENCE), JMP rel8 / rel32 /
 * *reg, MOV between 32- or 64-bit general registers, and ADD, OR, AND,
 * SUB, XOR, CMP, TEST between such registers or with an immediate, INC
 * and DEC of one.  Their arithmetic flags come from running the same
 * operation on the host CPU (as KVM's own instruction emulator does): the
 * guest's CPU, or the same emulation of it under QEMU-TCG, so even the
 * flags the manuals leave undefined (AF after a logical operation) are
 * the guest's.
 *
 * Replay's search for a kick point stops the guest at every pass of the
 * point's RIP (a patch trap) and, where the pass is not the point, steps
 * over the instruction there before putting the trap back: two guest
 * entries per pass.  The hottest kick points of a Linux boot sit on such
 * instructions (a `jmp __x86_return_thunk` at a function's end, an ftrace
 * NOP at a function's entry, a `mov %rbx,%rsi` after a loop): done here,
 * a pass costs one entry.  Only in 64-bit mode. */
#ifndef TTVM_CORE_QUICKSTEP_H
#define TTVM_CORE_QUICKSTEP_H
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

enum quickstep_kind { QS_NONE, QS_NOP, QS_JMP_REL, QS_JMP_REG, QS_MOV, QS_ALU };
enum quickstep_alu { QA_ADD, QA_OR, QA_AND, QA_SUB, QA_XOR, QA_CMP, QA_TEST, QA_INC, QA_DEC };

struct quickstep {
	enum quickstep_kind kind;
	unsigned len;     /* instruction length */
	int64_t disp;     /* QS_JMP_REL */
	unsigned dst, src; /* QS_MOV, QS_ALU: register numbers 0-15 (rax, rcx, ..., r15); QS_JMP_REG: src */
	int wide;         /* QS_MOV, QS_ALU: 64-bit (else 32-bit, zero-extended) */
	enum quickstep_alu alu;
	int has_imm;      /* QS_ALU: the second operand is imm, not src */
	int64_t imm;
};

/* Decode the instruction at b (n bytes available, 64-bit mode): 0 with *q
 * filled when it is one of the above, -1 otherwise. */
int quickstep_decode(const uint8_t *b, size_t n, struct quickstep *q);
/* Execute q on regs (RIP at the instruction): 0, or -1 where the CPU would
 * fault instead (a jump to a non-canonical address). */
int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs);

#endif
