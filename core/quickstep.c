#include "core/quickstep.h"

#include <string.h>

/* Bytes of a ModRM operand, the ModRM byte included, in 64-bit mode (32-bit
 * addressing size: no 0x67 prefix is accepted); 0 when p runs out. */
static unsigned modrm_len(const uint8_t *p, size_t n)
{
	if (n < 1)
		return 0;
	unsigned mod = p[0] >> 6, rm = p[0] & 7, len = 1;
	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (n < 2)
			return 0;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4; /* SIB without base: disp32 */
	} else if (mod == 0 && rm == 5) {
		len += 4; /* RIP-relative */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return len <= n ? len : 0;
}

int quickstep_decode(const uint8_t *b, size_t n, struct quickstep *q)
{
	memset(q, 0, sizeof(*q));
	if (n < 1)
		return -1;
	/* Fixed NOP-like forms. */
	if (b[0] == 0x90) {
		q->kind = QS_NOP;
		q->len = 1;
		return 0;
	}
	if (n >= 2 && (b[0] == 0xf3 || b[0] == 0x66) && b[1] == 0x90) { /* PAUSE, xchg %ax,%ax */
		q->kind = QS_NOP;
		q->len = 2;
		return 0;
	}
	if (n >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) { /* ENDBR64 */
		q->kind = QS_NOP;
		q->len = 4;
		return 0;
	}
	if (n >= 3 && b[0] == 0x0f && b[1] == 0xae && b[2] == 0xe8) { /* LFENCE */
		q->kind = QS_NOP;
		q->len = 3;
		return 0;
	}
	/* Long NOPs: [66|2e|3e]* 0f 1f /0 (the operand is not accessed). */
	unsigned i = 0;
	while (i < n && i < 6 && (b[i] == 0x66 || b[i] == 0x2e || b[i] == 0x3e))
		i++;
	if (i + 2 < n && b[i] == 0x0f && b[i + 1] == 0x1f && ((b[i + 2] >> 3) & 7) == 0) {
		unsigned m = modrm_len(b + i + 2, n - i - 2);
		if (!m)
			return -1;
		q->kind = QS_NOP;
		q->len = i + 2 + m;
		return 0;
	}
	if (i)
		return -1; /* any other prefixed form */
	if (b[0] == 0xeb && n >= 2) {
		q->kind = QS_JMP_REL;
		q->len = 2;
		q->disp = (int8_t)b[1];
		return 0;
	}
	if (b[0] == 0xe9 && n >= 5) {
		int32_t d;
		memcpy(&d, b + 1, 4);
		q->kind = QS_JMP_REL;
		q->len = 5;
		q->disp = d;
		return 0;
	}
	/* A REX prefix, then jmp *%reg (ff /4, mod 3) or mov between
	 * registers (89 /r, 8b /r, mod 3). */
	unsigned rex = 0, at = 0;
	if ((b[0] & 0xf0) == 0x40) {
		rex = b[0];
		at = 1;
	}
	if (at + 1 >= n)
		return -1;
	uint8_t op = b[at], modrm = b[at + 1];
	unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	unsigned rm = (modrm & 7) | ((rex & 1) ? 8 : 0);
	if ((modrm >> 6) != 3)
		return -1;
	if (op == 0xff && ((modrm >> 3) & 7) == 4) {
		q->kind = QS_JMP_REG;
		q->len = at + 2;
		q->src = rm;
		return 0;
	}
	/* ALU between registers: op r/m,r (01 09 21 29 31 39 85) or op
	 * r,r/m (03 0b 23 2b 33 3b). */
	static const int8_t alu_of[0x40] = {
		[0x01] = QA_ADD + 1, [0x03] = QA_ADD + 1, [0x09] = QA_OR + 1, [0x0b] = QA_OR + 1,
		[0x21] = QA_AND + 1, [0x23] = QA_AND + 1, [0x29] = QA_SUB + 1, [0x2b] = QA_SUB + 1,
		[0x31] = QA_XOR + 1, [0x33] = QA_XOR + 1, [0x39] = QA_CMP + 1, [0x3b] = QA_CMP + 1,
	};
	if ((op < 0x40 && alu_of[op]) || op == 0x85) {
		int rm_first = op == 0x85 || (op & 2) == 0;
		q->kind = QS_ALU;
		q->alu = op == 0x85 ? QA_TEST : (enum quickstep_alu)(alu_of[op] - 1);
		q->len = at + 2;
		q->dst = rm_first ? rm : reg;
		q->src = rm_first ? reg : rm;
		q->wide = (rex & 8) != 0;
		return 0;
	}
	/* Immediates: 83 /n ib, 81 /n id (n: 0 add, 1 or, 4 and, 5 sub, 6
	 * xor, 7 cmp; not adc, sbb); INC, DEC: ff /0, /1. */
	static const int8_t grp1[8] = { QA_ADD + 1, QA_OR + 1, 0, 0, QA_AND + 1, QA_SUB + 1, QA_XOR + 1, QA_CMP + 1 };
	unsigned sub = (modrm >> 3) & 7;
	if ((op == 0x83 || op == 0x81) && grp1[sub]) {
		unsigned ilen = op == 0x83 ? 1 : 4;
		if (at + 2 + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)(grp1[sub] - 1);
		q->len = at + 2 + ilen;
		q->dst = rm;
		q->has_imm = 1;
		if (op == 0x83) {
			q->imm = (int8_t)b[at + 2];
		} else {
			int32_t v;
			memcpy(&v, b + at + 2, 4);
			q->imm = v;
		}
		q->wide = (rex & 8) != 0;
		return 0;
	}
	if (op == 0xff && sub <= 1) {
		q->kind = QS_ALU;
		q->alu = sub == 0 ? QA_INC : QA_DEC;
		q->len = at + 2;
		q->dst = rm;
		q->wide = (rex & 8) != 0;
		return 0;
	}
	if (op == 0x89 || op == 0x8b) {
		q->kind = QS_MOV;
		q->len = at + 2;
		q->dst = op == 0x89 ? rm : reg;
		q->src = op == 0x89 ? reg : rm;
		q->wide = (rex & 8) != 0;
		return 0;
	}
	return -1;
}

static __u64 *gpr(struct kvm_regs *r, unsigned i)
{
	__u64 *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
				    &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[i & 15];
}

/* The arithmetic flags: CF PF AF ZF SF OF. */
#define ALU_FLAGS 0x8d5ull

/* One ALU operation run on the host: the result (which the caller does
 * not write back for CMP and TEST) and the host's RFLAGS after it. */
#define ALU2(insn, sfx, T)                                                                \
	do {                                                                              \
		T x = (T)a, y = (T)b;                                                    \
		__asm__ volatile(insn sfx " %2, %0\n\tpushfq\n\tpopq %1"                 \
				 : "+r"(x), "=r"(f)                                      \
				 : "r"(y)                                                \
				 : "cc");                                                \
		r = x;                                                                    \
	} while (0)
#define ALU1(insn, sfx, T)                                                                \
	do {                                                                              \
		T x = (T)a;                                                               \
		__asm__ volatile(insn sfx " %0\n\tpushfq\n\tpopq %1" : "+r"(x), "=r"(f) : : "cc"); \
		r = x;                                                                    \
	} while (0)

/* Every operation at one width: operand suffix sfx, operand type T. */
#define ALU_OPS(sfx, T)                                             \
	switch (op) {                                               \
	case QA_ADD: ALU2("add", sfx, T); break;                    \
	case QA_OR: ALU2("or", sfx, T); break;                      \
	case QA_AND: ALU2("and", sfx, T); break;                    \
	case QA_SUB: ALU2("sub", sfx, T); break;                    \
	case QA_XOR: ALU2("xor", sfx, T); break;                    \
	case QA_CMP: ALU2("cmp", sfx, T); break;                    \
	case QA_TEST: ALU2("test", sfx, T); break;                  \
	case QA_INC: ALU1("inc", sfx, T); break;                    \
	case QA_DEC: ALU1("dec", sfx, T); break;                    \
	}

static uint64_t host_alu(enum quickstep_alu op, int wide, uint64_t a, uint64_t b, uint64_t *flags)
{
	uint64_t r = a, f = 0;
	if (wide) {
		ALU_OPS("q", uint64_t)
	} else {
		ALU_OPS("l", uint32_t)
	}
	*flags = f;
	return r;
}

static int canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs)
{
	uint64_t next = regs->rip + q->len;

	switch (q->kind) {
	case QS_NOP:
		regs->rip = next;
		return 0;
	case QS_JMP_REL:
		next += (uint64_t)q->disp;
		break;
	case QS_JMP_REG:
		next = *gpr(regs, q->src);
		break;
	case QS_MOV: {
		uint64_t v = *gpr(regs, q->src);
		*gpr(regs, q->dst) = q->wide ? v : (uint32_t)v;
		regs->rip = next;
		return 0;
	}
	case QS_ALU: {
		uint64_t a = *gpr(regs, q->dst), b = q->has_imm ? (uint64_t)q->imm : *gpr(regs, q->src), f;
		uint64_t r = host_alu(q->alu, q->wide, a, b, &f);
		/* INC and DEC keep CF. */
		uint64_t mask = q->alu == QA_INC || q->alu == QA_DEC ? ALU_FLAGS & ~1ull : ALU_FLAGS;
		if (q->alu != QA_CMP && q->alu != QA_TEST)
			*gpr(regs, q->dst) = q->wide ? r : (uint32_t)r;
		regs->rflags = (regs->rflags & ~mask) | (f & mask);
		regs->rip = next;
		return 0;
	}
	default:
		return -1;
	}
	if (!canonical(next))
		return -1;
	regs->rip = next;
	return 0;
}
