/* Quick steps: one instruction done by hand, for the instructions that
 * change only general registers, RIP, the arithmetic flags and (through the
 * caller's memory callbacks) plain memory: NOPs (0x90, the long NOPs 0f 1f
 * /0 with their 66/2e/3e prefixes, PAUSE, ENDBR64, LFENCE), JMP rel8 /
 * rel32 / *reg, Jcc, CALL rel32 / *reg, MOV, MOVZX, MOVSX, MOVSXD, LEA,
 * CMOVcc, SETcc, PUSH, PUSHF, POP, RET, CWDE/CDQE, CDQ/CQO, CLI, ADD, OR, ADC, SBB, AND, SUB, XOR, CMP,
 * TEST, INC, DEC, NEG, NOT, the shifts and rotates, BT/BTS/BTR/BTC and
 * MUL/IMUL/DIV/IDIV at 8, 32 and 64 bits (the plain MOV and ALU forms and
 * the shifts at 16 bits too) between registers, memory and immediates
 * (the accumulator forms too; FS/GS overrides).  Their arithmetic flags come from running
 * the same operation on the host CPU (as KVM's own instruction emulator
 * does): the guest's CPU, or the same emulation of it under QEMU-TCG, so
 * even the flags the manuals leave undefined (AF after a logical
 * operation) are the guest's.  No 32-bit address (0x67), no BT* of
 * memory with a register offset; a DIV that would fault (by 0, a quotient
 * too big) is refused.
 *
 * Memory goes through the caller (struct quickstep_mem): a load or store
 * it cannot do as the CPU would, without a fault and with no effect
 * besides the bytes (an accessed or dirty bit the CPU would set, MMIO),
 * refuses the whole instruction, and the registers stay as they were.  A
 * store is always an instruction's last effect.
 *
 * Replay's search for a kick point stops the guest at every pass of the
 * point's RIP (a patch trap) and, where the pass is not the point, must
 * step over the instruction there; with these, the engine steps over it
 * by hand and goes on by hand to the next pass where it can (replay/
 * quickrun.c): a pass costs no guest entry.  Only in 64-bit mode. */
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
	QS_LOAD, /* MOV/MOVZX/MOVSX/MOVSXD to a register, from memory (mem) or a register (src) */
	QS_LEA,
	QS_MOVI, /* MOV of an immediate to a register */
	QS_POP,
	QS_RET,
	QS_JCC,
	QS_CALL_REL,
	QS_CALL_REG,
	QS_PUSH,
	QS_STORE, /* MOV of a register (src) or an immediate to memory */
	QS_SETCC,
	QS_CMOV,
	QS_MUL, /* MUL, IMUL of the accumulator (alu QA_IMUL: signed) by src or memory: RDX:RAX (AX for bytes) */
	QS_CDQE,  /* CWDE / CDQE (98) */
	QS_CQO,   /* CDQ / CQO (99) */
	QS_PUSHF, /* PUSHFQ (9c) */
	QS_DIV,   /* DIV, IDIV (alu QA_IMUL: signed) of RDX:RAX (AX for bytes) by src or memory */
	QS_CLI,   /* CLI at CPL0 (replay injects interrupts itself; STI, with its shadow, is refused) */
};
enum quickstep_alu {
	QA_ADD, QA_OR, QA_AND, QA_SUB, QA_XOR, QA_CMP, QA_TEST, QA_INC, QA_DEC,
	QA_ADC, QA_SBB, QA_NEG, QA_NOT,
	QA_ROL, QA_ROR, QA_RCL, QA_RCR, QA_SHL, QA_SHR, QA_SAR, /* the count: imm, or CL (count_cl) */
	QA_BT, QA_BTS, QA_BTR, QA_BTC,
	QA_IMUL, /* two-operand IMUL (three-operand: imul3) */
};

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
	int64_t disp;     /* QS_JMP_REL, QS_JCC, QS_CALL_REL: to the next RIP */
	unsigned cc;      /* QS_JCC, QS_SETCC, QS_CMOV: the condition (0 O ... 15 G) */
	unsigned dst, src; /* register numbers 0-15 (rax, rcx, ..., r15); with size 1 and no REX, 4-7 are AH CH DH BH */
	int wide;         /* the destination register is 64-bit (else 32-bit, zero-extended) */
	int rex;          /* a REX prefix came first (byte registers 4-7 are SPL BPL SIL DIL) */
	int o16;          /* a 0x66 prefix: 16-bit operands (where no REX.W) */
	unsigned size;    /* QS_ALU, QS_MOV, QS_MOVI, QS_STORE, QS_CMOV: operand bytes (1, 4 or 8); QS_LOAD: bytes read */
	int sext;         /* QS_LOAD: sign-extend what is read */
	int merge;        /* QS_LOAD of a byte into a byte register (the rest stays) */
	enum quickstep_alu alu;
	int has_imm;      /* QS_ALU, QS_STORE: the source is imm, not src; QS_MOVI: the value */
	int64_t imm;
	int mem;          /* an operand is memory (ea) */
	int mem_first;    /* QS_ALU: the memory operand is the first (written back unless CMP/TEST/BT), else the second */
	int count_cl;     /* QS_ALU shifts and rotates: the count is CL */
	int imul3;        /* QS_ALU QA_IMUL: dst = (src or memory) * imm */
	int seg;          /* a segment override: 0 none, 1 FS, 2 GS (their bases: struct quickstep_mem) */
	struct quickstep_ea ea;
};

/* Guest memory for loads: read size (1, 2, 4 or 8) bytes at linear address
 * gva into *val (zero-extended), as the guest's CPU would read them and
 * with no effect on the guest: 0, or -1 where the caller cannot promise
 * that (a fault, a page walk that would set an accessed bit, MMIO). */
struct quickstep_mem {
	int (*load)(void *ctx, uint64_t gva, unsigned size, uint64_t *val);
	void *ctx;
	/* Write the low size bytes of val at gva, likewise: 0, or -1 with
	 * nothing written.  NULL: no instruction that writes memory is done. */
	int (*store)(void *ctx, uint64_t gva, unsigned size, uint64_t val);
	/* The FS and GS bases, for an operand with their prefix (64/65). */
	uint64_t fs_base, gs_base;
};

/* Decode the instruction at b (n bytes available, 64-bit mode): 0 with *q
 * filled when it is one of the above, -1 otherwise. */
int quickstep_decode(const uint8_t *b, size_t n, struct quickstep *q);
/* Execute q on regs (RIP at the instruction), with memory through mem
 * (NULL: no instruction that reads or writes memory is done): 0, or -1
 * with regs and memory unchanged where the CPU would fault instead (a jump
 * to or an access at a non-canonical address) or mem refused the access. */
int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs, const struct quickstep_mem *mem);

#endif
