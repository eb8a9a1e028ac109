/* Quick steps: a single step over one instruction done by hand, for the
 * few instructions that change only general registers, RIP and the
 * arithmetic flags: NOPs (0x90, the long NOPs 0f 1f /0 with
 * their 66/2e/3e prefixes, PAUSE, ENDBR64, LFENCE), JMP rel8 / rel32 /
 * *reg, MOV between 32- or 64-bit general registers or of an immediate,
 * LEA, and ADD, OR, AND,
 * SUB, XOR, CMP, TEST between such registers or with an immediate, INC
 * and DEC of one.  Their arithmetic flags come from running the same
 * operation on the host CPU (as KVM's own instruction emulator does): the
 * guest's CPU, or the same emulation of it under QEMU-TCG, so even the
 * flags the manuals leave undefined (AF after a logical operation) are
 * the guest's.
 *
 * Loads too, where the caller gives a way to read guest memory as the CPU
 * would without a fault (struct quickstep_mem): MOV, MOVZX, MOVSX and
 * MOVSXD from memory, POP, RET, CMP and TEST of memory (byte forms with
 * an immediate too), and ALU r, mem.  No store: a
 * write by hand would escape KVM's dirty log, which the memory digests of
 * kick points are kept from.
 *
 * Replay's search for a kick point stops the guest at every pass of the
 * point's RIP (a patch trap) and, where the pass is not the point, steps
 * over the instruction there before putting the trap back: two guest
 * entries per pass.  The hottest kick points of a Linux boot sit on such
 * instructions (a `jmp __x86_return_thunk` at a function's end, an ftrace
 * NOP at a function's entry, a `mov %rbx,%rsi` after a loop, a `pop %rbx`
 * or a `movzbl 0x1(%rbx),%eax` after one, a RET): done here,
 * a pass costs one entry.  Only in 64-bit mode. */
#ifndef TTVM_CORE_QUICKSTEP_H
#define TTVM_CORE_QUICKSTEP_H
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

enum quickstep_kind {
	QS_NONE,
	QS_NOP,
	QS_JMP_REL,
	QS_JMP_REG,
	QS_MOV,  /* register to register */
	QS_ALU,
	QS_LOAD, /* MOV/MOVZX/MOVSX/MOVSXD from memory */
	QS_LEA,
	QS_MOVI, /* MOV of an immediate to a register */
	QS_POP,
	QS_RET,
};
enum quickstep_alu { QA_ADD, QA_OR, QA_AND, QA_SUB, QA_XOR, QA_CMP, QA_TEST, QA_INC, QA_DEC };

/* A memory operand's address: base + index * scale + disp (base, index:
 * register numbers, -1 for none), or RIP-relative (the next RIP + disp). */
struct quickstep_ea {
	int base, index;
	unsigned scale;
	int64_t disp;
	int riprel;
};

struct quickstep {
	enum quickstep_kind kind;
	unsigned len;     /* instruction length */
	int64_t disp;     /* QS_JMP_REL */
	unsigned dst, src; /* register numbers 0-15 (rax, rcx, ..., r15): QS_MOV, QS_ALU, QS_LOAD, QS_LEA, QS_MOVI, QS_POP: dst; QS_JMP_REG: src */
	int wide;         /* the destination register is 64-bit (else 32-bit, zero-extended) */
	unsigned size;    /* QS_ALU: operand bytes (1, 4 or 8); QS_LOAD: bytes read */
	int sext;         /* QS_LOAD: sign-extend what is read */
	enum quickstep_alu alu;
	int has_imm;      /* QS_ALU: the second operand is imm, not src; QS_MOVI: the value */
	int64_t imm;
	int mem;          /* QS_ALU: an operand is memory (ea); QS_LOAD, QS_LEA: always */
	int mem_first;    /* QS_ALU: the memory operand is the first (CMP/TEST only), else the second */
	struct quickstep_ea ea;
};

/* Guest memory for loads: read size (1, 2, 4 or 8) bytes at linear address
 * gva into *val (zero-extended), as the guest's CPU would read them and
 * with no effect on the guest: 0, or -1 where the caller cannot promise
 * that (a fault, a page walk that would set an accessed bit, MMIO). */
struct quickstep_mem {
	int (*load)(void *ctx, uint64_t gva, unsigned size, uint64_t *val);
	void *ctx;
};

/* Decode the instruction at b (n bytes available, 64-bit mode): 0 with *q
 * filled when it is one of the above, -1 otherwise. */
int quickstep_decode(const uint8_t *b, size_t n, struct quickstep *q);
/* Execute q on regs (RIP at the instruction), reading memory through mem
 * (NULL: no instruction that reads memory is done): 0, or -1 with regs
 * unchanged where the CPU would fault instead (a jump to or an access at a
 * non-canonical address) or mem refused the load. */
int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs, const struct quickstep_mem *mem);

#endif
