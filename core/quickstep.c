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

/* The ALU operation of a two-operand opcode (op r/m,r: 01 09 21 29 31 39
 * 85; op r,r/m: 03 0b 23 2b 33 3b), -1 for any other; not ADC, SBB. */
static int alu_of(uint8_t op)
{
	switch (op) {
	case 0x01: case 0x03: return QA_ADD;
	case 0x09: case 0x0b: return QA_OR;
	case 0x21: case 0x23: return QA_AND;
	case 0x29: case 0x2b: return QA_SUB;
	case 0x31: case 0x33: return QA_XOR;
	case 0x39: case 0x3b: return QA_CMP;
	case 0x85: return QA_TEST;
	default: return -1;
	}
}

/* Group 1's operation /n of 80/81/83 (0 add, 1 or, 4 and, 5 sub, 6 xor, 7
 * cmp), -1 for adc and sbb. */
static int grp1_of(unsigned sub)
{
	static const int8_t grp1[8] = { QA_ADD, QA_OR, -1, -1, QA_AND, QA_SUB, QA_XOR, QA_CMP };
	return grp1[sub & 7];
}

static int64_t read_imm(const uint8_t *p, unsigned len)
{
	if (len == 1)
		return (int8_t)p[0];
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* A memory operand (p at its ModRM byte, mod != 3): its length with SIB
 * and displacement, 0 when p runs out. */
static unsigned decode_ea(const uint8_t *p, size_t n, unsigned rex, struct quickstep_ea *ea)
{
	unsigned len = modrm_len(p, n);
	if (!len || (p[0] >> 6) == 3)
		return 0;
	unsigned mod = p[0] >> 6, rm = p[0] & 7;
	const uint8_t *d = p + 1;
	ea->base = -1;
	ea->index = -1;
	ea->scale = 1;
	ea->riprel = 0;
	if (rm == 4) {
		uint8_t sib = p[1];
		unsigned idx = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0), base = sib & 7;
		d = p + 2;
		if (idx != 4)
			ea->index = (int)idx;
		ea->scale = 1u << (sib >> 6);
		if (!(mod == 0 && base == 5))
			ea->base = (int)(base | ((rex & 1) ? 8 : 0));
	} else if (mod == 0 && rm == 5) {
		ea->riprel = 1;
	} else {
		ea->base = (int)(rm | ((rex & 1) ? 8 : 0));
	}
	unsigned dlen = (unsigned)(p + len - d);
	ea->disp = dlen == 0 ? 0 : read_imm(d, dlen);
	return len;
}

/* The forms with a memory operand (b[at] the opcode, ModRM after it, mod !=
 * 3): loads into a register, LEA, and CMP/TEST of memory; never a store. */
static int decode_mem(const uint8_t *b, size_t n, unsigned at, unsigned rex, struct quickstep *q)
{
	uint8_t op = b[at];
	unsigned m = decode_ea(b + at + 1, n - at - 1, rex, &q->ea);
	if (!m)
		return -1;
	unsigned reg = ((b[at + 1] >> 3) & 7) | ((rex & 4) ? 8 : 0), sub = (b[at + 1] >> 3) & 7;
	unsigned end = at + 1 + m;
	q->mem = 1;
	q->len = end;
	q->dst = reg;
	if (op == 0x8b || op == 0x8d || (op == 0x63 && q->wide)) {
		q->kind = op == 0x8d ? QS_LEA : QS_LOAD;
		q->size = op == 0x8b && q->wide ? 8 : 4;
		q->sext = op == 0x63;
		return 0;
	}
	int alu = alu_of(op);
	if (alu >= 0) {
		int rm_first = op == 0x85 || (op & 2) == 0;
		if (rm_first && alu != QA_CMP && alu != QA_TEST)
			return -1; /* a store */
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)alu;
		q->mem_first = rm_first;
		q->src = reg;
		q->size = q->wide ? 8 : 4;
		return 0;
	}
	/* cmp $imm, mem (83/81/80 /7); test $imm, mem (f7/f6 /0). */
	unsigned ilen = 0, size = q->wide ? 8 : 4;
	if ((op == 0x83 || op == 0x81 || op == 0x80) && sub == 7) {
		ilen = op == 0x81 ? 4 : 1;
		q->alu = QA_CMP;
	} else if ((op == 0xf7 || op == 0xf6) && sub == 0) {
		ilen = op == 0xf7 ? 4 : 1;
		q->alu = QA_TEST;
	} else {
		return -1;
	}
	if (op == 0x80 || op == 0xf6)
		size = 1;
	if (end + ilen > n)
		return -1;
	q->kind = QS_ALU;
	q->mem_first = 1;
	q->has_imm = 1;
	q->imm = read_imm(b + end, ilen);
	q->size = size;
	q->len = end + ilen;
	return 0;
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
	/* A REX prefix, then the opcode. */
	unsigned rex = 0, at = 0;
	if ((b[0] & 0xf0) == 0x40) {
		rex = b[0];
		at = 1;
	}
	if (at >= n)
		return -1;
	uint8_t op = b[at];
	q->wide = (rex & 8) != 0;
	/* No ModRM: POP, RET, MOV of an immediate. */
	if (op >= 0x58 && op <= 0x5f) {
		q->kind = QS_POP;
		q->len = at + 1;
		q->dst = (op & 7u) | ((rex & 1) ? 8u : 0u);
		return 0;
	}
	if (op == 0xc3) {
		q->kind = QS_RET;
		q->len = at + 1;
		return 0;
	}
	if (op >= 0xb8 && op <= 0xbf) {
		unsigned ilen = q->wide ? 8 : 4;
		if (at + 1 + ilen > n)
			return -1;
		q->kind = QS_MOVI;
		q->len = at + 1 + ilen;
		q->dst = (op & 7u) | ((rex & 1) ? 8u : 0u);
		if (q->wide) {
			memcpy(&q->imm, b + at + 1, 8);
		} else {
			uint32_t v;
			memcpy(&v, b + at + 1, 4);
			q->imm = v;
		}
		return 0;
	}
	/* MOVZX, MOVSX from memory: 0f b6/b7/be/bf /r. */
	if (op == 0x0f) {
		if (at + 2 >= n)
			return -1;
		uint8_t op2 = b[at + 1];
		if (op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf)
			return -1;
		unsigned m = decode_ea(b + at + 2, n - at - 2, rex, &q->ea);
		if (!m)
			return -1;
		q->kind = QS_LOAD;
		q->mem = 1;
		q->len = at + 2 + m;
		q->dst = ((b[at + 2] >> 3) & 7u) | ((rex & 4) ? 8u : 0u);
		q->size = (op2 & 1) ? 2 : 1;
		q->sext = op2 >= 0xbe;
		return 0;
	}
	if (at + 1 >= n)
		return -1;
	uint8_t modrm = b[at + 1];
	unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	unsigned rm = (modrm & 7) | ((rex & 1) ? 8 : 0);
	unsigned sub = (modrm >> 3) & 7;
	if ((modrm >> 6) != 3)
		return decode_mem(b, n, at, rex, q);
	if (op == 0xff && sub == 4) {
		q->kind = QS_JMP_REG;
		q->len = at + 2;
		q->src = rm;
		return 0;
	}
	if (op == 0xc7 && sub == 0) { /* mov $imm32, reg (sign-extended to 64 bits with REX.W) */
		int32_t v;
		if (at + 6 > n)
			return -1;
		memcpy(&v, b + at + 2, 4);
		q->kind = QS_MOVI;
		q->len = at + 6;
		q->dst = rm;
		q->imm = q->wide ? (int64_t)v : (int64_t)(uint32_t)v;
		return 0;
	}
	/* ALU between registers: op r/m,r (01 09 21 29 31 39 85) or op
	 * r,r/m (03 0b 23 2b 33 3b). */
	int alu = alu_of(op);
	if (alu >= 0) {
		int rm_first = op == 0x85 || (op & 2) == 0;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)alu;
		q->len = at + 2;
		q->dst = rm_first ? rm : reg;
		q->src = rm_first ? reg : rm;
		q->size = q->wide ? 8 : 4;
		return 0;
	}
	/* Immediates: 83 /n ib, 81 /n id; INC, DEC: ff /0, /1. */
	if ((op == 0x83 || op == 0x81) && grp1_of(sub) >= 0) {
		unsigned ilen = op == 0x83 ? 1 : 4;
		if (at + 2 + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)grp1_of(sub);
		q->len = at + 2 + ilen;
		q->dst = rm;
		q->has_imm = 1;
		q->imm = read_imm(b + at + 2, ilen);
		q->size = q->wide ? 8 : 4;
		return 0;
	}
	if (op == 0xff && sub <= 1) {
		q->kind = QS_ALU;
		q->alu = sub == 0 ? QA_INC : QA_DEC;
		q->len = at + 2;
		q->dst = rm;
		q->size = q->wide ? 8 : 4;
		return 0;
	}
	if (op == 0x89 || op == 0x8b) {
		q->kind = QS_MOV;
		q->len = at + 2;
		q->dst = op == 0x89 ? rm : reg;
		q->src = op == 0x89 ? reg : rm;
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

static uint64_t host_alu(enum quickstep_alu op, unsigned size, uint64_t a, uint64_t b, uint64_t *flags)
{
	uint64_t r = a, f = 0;
	if (size == 8) {
		ALU_OPS("q", uint64_t)
	} else if (size == 4) {
		ALU_OPS("l", uint32_t)
	} else {
		ALU_OPS("b", uint8_t)
	}
	*flags = f;
	return r;
}

static int canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* The address of q's memory operand (the next RIP: next). */
static uint64_t ea_of(const struct quickstep *q, const struct kvm_regs *regs, uint64_t next)
{
	const struct quickstep_ea *e = &q->ea;
	uint64_t a = (uint64_t)e->disp;
	if (e->riprel)
		a += next;
	if (e->base >= 0)
		a += *gpr((struct kvm_regs *)regs, (unsigned)e->base);
	if (e->index >= 0)
		a += *gpr((struct kvm_regs *)regs, (unsigned)e->index) * e->scale;
	return a;
}

/* Read size bytes at gva through mem, zero-extended: 0 or -1. */
static int load(const struct quickstep_mem *mem, uint64_t gva, unsigned size, uint64_t *v)
{
	if (!mem || !canonical(gva) || !canonical(gva + size - 1))
		return -1;
	return mem->load(mem->ctx, gva, size, v) ? -1 : 0;
}

static uint64_t sign_extend(uint64_t v, unsigned size)
{
	unsigned sh = 64 - 8 * size;
	return (uint64_t)((int64_t)(v << sh) >> sh);
}

static void set_reg(struct kvm_regs *regs, unsigned r, uint64_t v, int wide)
{
	*gpr(regs, r) = wide ? v : (uint32_t)v;
}

int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs, const struct quickstep_mem *mem)
{
	uint64_t next = regs->rip + q->len, v;

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
	case QS_MOV:
		set_reg(regs, q->dst, *gpr(regs, q->src), q->wide);
		regs->rip = next;
		return 0;
	case QS_MOVI:
		set_reg(regs, q->dst, (uint64_t)q->imm, q->wide);
		regs->rip = next;
		return 0;
	case QS_LEA:
		set_reg(regs, q->dst, ea_of(q, regs, next), q->wide);
		regs->rip = next;
		return 0;
	case QS_LOAD:
		if (load(mem, ea_of(q, regs, next), q->size, &v))
			return -1;
		set_reg(regs, q->dst, q->sext ? sign_extend(v, q->size) : v, q->wide);
		regs->rip = next;
		return 0;
	case QS_POP:
		if (load(mem, regs->rsp, 8, &v))
			return -1;
		regs->rsp += 8;
		*gpr(regs, q->dst) = v; /* pop %rsp: the value read */
		regs->rip = next;
		return 0;
	case QS_RET:
		if (load(mem, regs->rsp, 8, &v) || !canonical(v))
			return -1;
		regs->rsp += 8;
		regs->rip = v;
		return 0;
	case QS_ALU: {
		uint64_t a = *gpr(regs, q->dst), b = q->has_imm ? (uint64_t)q->imm : *gpr(regs, q->src), f;
		if (q->mem && load(mem, ea_of(q, regs, next), q->size, q->mem_first ? &a : &b))
			return -1;
		uint64_t r = host_alu(q->alu, q->size, a, b, &f);
		/* INC and DEC keep CF. */
		uint64_t mask = q->alu == QA_INC || q->alu == QA_DEC ? ALU_FLAGS & ~1ull : ALU_FLAGS;
		if (q->alu != QA_CMP && q->alu != QA_TEST)
			set_reg(regs, q->dst, r, q->wide);
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
