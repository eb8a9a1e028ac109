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

/* The ALU operation of a two-operand opcode (op r/m,r: 01 09 11 19 21 29
 * 31 39 85; op r,r/m: 03 0b 13 1b 23 2b 33 3b), -1 for any other. */
static int alu_of(uint8_t op)
{
	switch (op) {
	case 0x01: case 0x03: return QA_ADD;
	case 0x09: case 0x0b: return QA_OR;
	case 0x11: case 0x13: return QA_ADC;
	case 0x19: case 0x1b: return QA_SBB;
	case 0x21: case 0x23: return QA_AND;
	case 0x29: case 0x2b: return QA_SUB;
	case 0x31: case 0x33: return QA_XOR;
	case 0x39: case 0x3b: return QA_CMP;
	case 0x85: return QA_TEST;
	default: return -1;
	}
}

/* Group 1's operation /n of 80/81/83 (0 add, 1 or, 2 adc, 3 sbb, 4 and, 5
 * sub, 6 xor, 7 cmp). */
static int grp1_of(unsigned sub)
{
	static const int8_t grp1[8] = { QA_ADD, QA_OR, QA_ADC, QA_SBB, QA_AND, QA_SUB, QA_XOR, QA_CMP };
	return grp1[sub & 7];
}

/* Group 2's operation /n of c0 c1 d0-d3 (/6 is SHL's alias). */
static const int8_t grp2[8] = { QA_ROL, QA_ROR, QA_RCL, QA_RCR, QA_SHL, QA_SHR, QA_SHL, QA_SAR };

static int64_t read_imm(const uint8_t *p, unsigned len)
{
	if (len == 1)
		return (int8_t)p[0];
	if (len == 2) {
		int16_t h;
		memcpy(&h, p, 2);
		return h;
	}
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

/* The r/m operand at b + at (the ModRM byte): a register (*rm, 0-15) or
 * memory (q->ea, q->mem set).  Returns the bytes after the ModRM operand's
 * end's offset, 0 when b runs out. */
static unsigned decode_rm(const uint8_t *b, size_t n, unsigned at, unsigned rex, struct quickstep *q, unsigned *rm)
{
	if (at >= n)
		return 0;
	uint8_t modrm = b[at];
	if ((modrm >> 6) == 3) {
		*rm = (modrm & 7u) | ((rex & 1) ? 8u : 0u);
		return at + 1;
	}
	unsigned m = decode_ea(b + at, n - at, rex, &q->ea);
	if (!m)
		return 0;
	q->mem = 1;
	return at + m;
}

/* The two-operand forms with a ModRM byte (b[at] the opcode, the ModRM
 * byte after it): MOV, ALU, LEA, loads, stores, group 1 with immediates,
 * INC/DEC, MOVSXD, MOV of an immediate, JMP/CALL through a register. */
static int decode_modrm(const uint8_t *b, size_t n, unsigned at, unsigned rex, struct quickstep *q)
{
	uint8_t op = b[at];
	if (at + 1 >= n)
		return -1;
	unsigned reg = ((b[at + 1] >> 3) & 7) | ((rex & 4) ? 8 : 0), sub = (b[at + 1] >> 3) & 7, rm = 0;
	unsigned end = decode_rm(b, n, at + 1, rex, q, &rm);
	unsigned opsize = q->wide ? 8 : q->o16 ? 2 : 4, ilen_v = opsize == 2 ? 2 : 4;
	if (!end)
		return -1;
	/* 16-bit: MOV, ALU, group 1 and 2, TEST, NOT/NEG, INC/DEC, MOV imm. */
	if (opsize == 2 && (op == 0x8d || op == 0x63 || op == 0x69 || op == 0x6b || op == 0xff ||
			    ((op == 0xf7) && ((b[at + 1] >> 3) & 7) >= 4)))
		return -1;
	q->len = end;

	/* ALU between r/m and a register: 00-3b (not ADC, SBB), 84, 85. */
	int alu = op < 0x40 && (op & 7) < 4 ? alu_of(op | 1) : (op == 0x84 || op == 0x85) ? QA_TEST : -1;
	if (alu >= 0) {
		int rm_first = (op & 2) == 0 || op == 0x84 || op == 0x85;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)alu;
		q->size = (op & 1) ? opsize : 1;
		q->mem_first = q->mem && rm_first;
		if (q->mem) {
			q->dst = reg;
			q->src = reg;
		} else {
			q->dst = rm_first ? rm : reg;
			q->src = rm_first ? reg : rm;
		}
		return 0;
	}
	switch (op) {
	case 0x88: case 0x89: case 0x8a: case 0x8b: /* MOV */
		q->size = (op & 1) ? opsize : 1;
		if (!q->mem) {
			q->kind = QS_MOV;
			q->dst = (op & 2) ? reg : rm;
			q->src = (op & 2) ? rm : reg;
		} else if (op & 2) {
			q->kind = QS_LOAD;
			q->dst = reg;
			q->merge = q->size < 4;
		} else {
			q->kind = QS_STORE;
			q->src = reg;
		}
		return 0;
	case 0x8d: /* LEA */
		if (!q->mem)
			return -1;
		q->kind = QS_LEA;
		q->dst = reg;
		return 0;
	case 0x63: /* MOVSXD (with REX.W only) */
		if (!q->wide)
			return -1;
		q->kind = QS_LOAD;
		q->dst = reg;
		q->src = rm;
		q->size = 4;
		q->sext = 1;
		return 0;
	case 0x80: case 0x81: case 0x83: { /* group 1 with an immediate */
		unsigned ilen = op == 0x81 ? ilen_v : 1;
		if (grp1_of(sub) < 0 || end + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)grp1_of(sub);
		q->size = op == 0x80 ? 1 : opsize;
		q->dst = rm;
		q->mem_first = q->mem;
		q->has_imm = 1;
		q->imm = read_imm(b + end, ilen);
		q->len = end + ilen;
		return 0;
	}
	case 0xf6: case 0xf7: { /* TEST with an immediate (/0), NOT, NEG, MUL, IMUL */
		unsigned ilen = op == 0xf7 ? ilen_v : 1;
		if (sub == 2 || sub == 3) {
			q->kind = QS_ALU;
			q->alu = sub == 2 ? QA_NOT : QA_NEG;
			q->size = op == 0xf6 ? 1 : opsize;
			q->dst = rm;
			q->mem_first = q->mem;
			return 0;
		}
		if (sub >= 4) {
			q->kind = sub <= 5 ? QS_MUL : QS_DIV;
			q->alu = (sub & 1) ? QA_IMUL : QA_ADD; /* QA_ADD: unsigned */
			q->size = op == 0xf6 ? 1 : opsize;
			q->src = rm;
			return 0;
		}
		if (sub != 0 || end + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = QA_TEST;
		q->size = op == 0xf6 ? 1 : opsize;
		q->dst = rm;
		q->mem_first = q->mem;
		q->has_imm = 1;
		q->imm = read_imm(b + end, ilen);
		q->len = end + ilen;
		return 0;
	}
	case 0xc6: case 0xc7: { /* MOV of an immediate (/0) */
		unsigned ilen = op == 0xc7 ? ilen_v : 1;
		if (sub != 0 || end + ilen > n)
			return -1;
		q->size = op == 0xc6 ? 1 : opsize;
		q->imm = read_imm(b + end, ilen); /* sign-extended to 64 bits */
		q->len = end + ilen;
		if (q->mem) {
			q->kind = QS_STORE;
			q->has_imm = 1;
		} else {
			q->kind = QS_MOVI;
			q->dst = rm;
			if (q->size == 4)
				q->imm = (int64_t)(uint32_t)q->imm;
		}
		return 0;
	}
	case 0xfe: case 0xff:
		if (sub <= 1) { /* INC, DEC */
			q->kind = QS_ALU;
			q->alu = sub == 0 ? QA_INC : QA_DEC;
			q->size = op == 0xfe ? 1 : opsize;
			q->dst = rm;
			q->mem_first = q->mem;
			return 0;
		}
		if (op == 0xff && !q->mem && (sub == 2 || sub == 4)) { /* CALL, JMP *reg */
			q->kind = sub == 2 ? QS_CALL_REG : QS_JMP_REG;
			q->src = rm;
			return 0;
		}
		return -1;
	case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: /* shifts, rotates */
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)grp2[sub];
		q->size = (op & 1) ? opsize : 1;
		q->dst = rm;
		q->mem_first = q->mem;
		q->has_imm = 1;
		q->imm = 1;
		if (op <= 0xc1) {
			if (end + 1 > n)
				return -1;
			q->imm = b[end];
			q->len = end + 1;
		} else if (op >= 0xd2) {
			q->has_imm = 0;
			q->count_cl = 1;
		}
		return 0;
	case 0x69: case 0x6b: { /* IMUL r, r/m, imm */
		unsigned ilen = op == 0x69 ? 4 : 1;
		if (end + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = QA_IMUL;
		q->imul3 = 1;
		q->size = opsize;
		q->dst = reg;
		q->src = rm;
		q->has_imm = 1;
		q->imm = read_imm(b + end, ilen);
		q->len = end + ilen;
		return 0;
	}
	default:
		return -1;
	}
}

/* Two-byte opcodes 0f xx: Jcc rel32, SETcc, CMOVcc, MOVZX, MOVSX. */
static int decode_0f(const uint8_t *b, size_t n, unsigned at, unsigned rex, struct quickstep *q)
{
	if (at + 1 >= n || (q->o16 && !q->wide))
		return -1;
	uint8_t op2 = b[at + 1];
	if (op2 >= 0x80 && op2 <= 0x8f) {
		if (at + 6 > n)
			return -1;
		q->kind = QS_JCC;
		q->cc = op2 & 15u;
		q->disp = read_imm(b + at + 2, 4);
		q->len = at + 6;
		return 0;
	}
	unsigned reg = at + 2 < n ? ((b[at + 2] >> 3) & 7u) | ((rex & 4) ? 8u : 0u) : 0, rm = 0;
	unsigned end = decode_rm(b, n, at + 2, rex, q, &rm);
	if (!end)
		return -1;
	q->len = end;
	if (op2 >= 0x90 && op2 <= 0x9f) {
		if (q->mem)
			return -1; /* SETcc to memory: a store of its own */
		q->kind = QS_SETCC;
		q->cc = op2 & 15u;
		q->dst = rm;
		q->size = 1;
		return 0;
	}
	if (op2 >= 0x40 && op2 <= 0x4f) {
		q->kind = QS_CMOV;
		q->cc = op2 & 15u;
		q->dst = reg;
		q->src = rm;
		q->size = q->wide ? 8 : 4;
		return 0;
	}
	if (op2 == 0xaf) { /* IMUL r, r/m */
		q->kind = QS_ALU;
		q->alu = QA_IMUL;
		q->size = q->wide ? 8 : 4;
		q->dst = reg;
		q->src = rm;
		return 0;
	}
	/* BT, BTS, BTR, BTC: r/m, r (0f a3 ab b3 bb; a register's offset
	 * reaches beyond a memory operand: registers only) or r/m, imm8
	 * (0f ba /4-/7). */
	int bt = op2 == 0xa3 ? QA_BT : op2 == 0xab ? QA_BTS : op2 == 0xb3 ? QA_BTR : op2 == 0xbb ? QA_BTC : -1;
	unsigned sub = at + 2 < n ? (b[at + 2] >> 3) & 7u : 0;
	if (bt >= 0 || (op2 == 0xba && sub >= 4)) {
		q->kind = QS_ALU;
		q->size = q->wide ? 8 : 4;
		q->dst = rm;
		q->mem_first = q->mem;
		if (bt >= 0) {
			if (q->mem)
				return -1;
			q->alu = (enum quickstep_alu)bt;
			q->src = reg;
		} else {
			static const int8_t grp8[4] = { QA_BT, QA_BTS, QA_BTR, QA_BTC };
			if (end + 1 > n)
				return -1;
			q->alu = (enum quickstep_alu)grp8[sub - 4];
			q->has_imm = 1;
			q->imm = b[end] & (q->size * 8 - 1);
			q->len = end + 1;
		}
		return 0;
	}
	if (op2 == 0xb6 || op2 == 0xb7 || op2 == 0xbe || op2 == 0xbf) {
		q->kind = QS_LOAD;
		q->dst = reg;
		q->src = rm;
		q->size = (op2 & 1) ? 2 : 1;
		q->sext = op2 >= 0xbe;
		return 0;
	}
	return -1;
}

static int decode(const uint8_t *b, size_t n, struct quickstep *q, int o16);

/* The instruction after a 0x66 prefix. */
static int quickstep_decode_o16(const uint8_t *b, size_t n, struct quickstep *q)
{
	if (n && (b[0] == 0x2e || b[0] == 0x3e || b[0] == 0x0f))
		return -1; /* no 0f xx at 16 bits */
	return decode(b, n, q, 1);
}

int quickstep_decode(const uint8_t *b, size_t n, struct quickstep *q)
{
	return decode(b, n, q, 0);
}

static int decode(const uint8_t *b, size_t n, struct quickstep *q, int o16)
{
	memset(q, 0, sizeof(*q));
	q->o16 = o16;
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
	if (b[0] == 0x66 && n > 1 && b[1] != 0x66) {
		/* 16-bit operands: decoded as the rest with the flag on. */
		if (quickstep_decode_o16(b + 1, n - 1, q))
			return -1;
		q->len++;
		return 0;
	}
	if (i)
		return -1; /* any other prefixed form */
	/* An FS or GS override, a REX prefix, then the opcode. */
	unsigned rex = 0, at = 0;
	if (b[0] == 0x64 || b[0] == 0x65) {
		int seg = b[0] == 0x64 ? 1 : 2;
		if (decode(b + 1, n - 1, q, o16) || !q->mem || q->kind == QS_LEA || q->seg)
			return -1; /* only on a memory operand (LEA has none), only one */
		q->seg = seg;
		q->len++;
		return 0;
	}
	if ((b[0] & 0xf0) == 0x40) {
		rex = b[0];
		at = 1;
		q->rex = 1;
	}
	if (at >= n)
		return -1;
	uint8_t op = b[at];
	q->wide = (rex & 8) != 0;
	if (o16 && !q->wide && ((op >= 0x50 && op <= 0x5f) || (op >= 0x70 && op <= 0x7f) || op == 0xc3 || op == 0x98 ||
				op == 0x99 || op == 0x9c || op == 0xe8 || op == 0xe9 || op == 0xeb))
		return -1; /* 16-bit stack operations and branches, CWD/CBW */
	/* Relative jumps and calls (REX, meaningless there, refused). */
	if (!rex && (op == 0xeb || (op >= 0x70 && op <= 0x7f))) {
		if (n < 2)
			return -1;
		q->kind = op == 0xeb ? QS_JMP_REL : QS_JCC;
		q->cc = op & 15u;
		q->len = 2;
		q->disp = (int8_t)b[1];
		return 0;
	}
	if (!rex && (op == 0xe9 || op == 0xe8)) {
		if (n < 5)
			return -1;
		q->kind = op == 0xe9 ? QS_JMP_REL : QS_CALL_REL;
		q->len = 5;
		q->disp = read_imm(b + 1, 4);
		return 0;
	}
	/* No ModRM: PUSH, POP, RET, MOV of an immediate, the accumulator. */
	if (op >= 0x50 && op <= 0x5f) {
		q->kind = op >= 0x58 ? QS_POP : QS_PUSH;
		q->len = at + 1;
		q->dst = q->src = (op & 7u) | ((rex & 1) ? 8u : 0u);
		return 0;
	}
	if (op == 0xc3 || op == 0x98 || op == 0x99 || op == 0x9c || (op == 0xfa && !rex)) {
		q->kind = op == 0xc3 ? QS_RET : op == 0x98 ? QS_CDQE : op == 0x99 ? QS_CQO : op == 0x9c ? QS_PUSHF : QS_CLI;
		q->len = at + 1;
		return 0;
	}
	if (op >= 0xb0 && op <= 0xbf) {
		unsigned ilen = op < 0xb8 ? 1 : q->wide ? 8 : o16 ? 2 : 4;
		if (at + 1 + ilen > n)
			return -1;
		q->kind = QS_MOVI;
		q->len = at + 1 + ilen;
		q->dst = (op & 7u) | ((rex & 1) ? 8u : 0u);
		q->size = op < 0xb8 ? 1 : q->wide ? 8 : o16 ? 2 : 4;
		uint64_t v = 0;
		memcpy(&v, b + at + 1, ilen);
		q->imm = (int64_t)v;
		return 0;
	}
	/* The accumulator with an immediate: 04 0c 24 2c 34 3c a8 (AL, imm8),
	 * 05 0d 25 2d 35 3d a9 (EAX/RAX, imm32); not ADC, SBB. */
	int acc = op == 0xa8 || op == 0xa9 ? QA_TEST : (op < 0x40 && (op & 6) == 4) ? grp1_of(op >> 3) : -1;
	if (acc >= 0) {
		unsigned byte = !(op & 1), ilen = byte ? 1 : (o16 && !q->wide) ? 2 : 4;
		if (at + 1 + ilen > n)
			return -1;
		q->kind = QS_ALU;
		q->alu = (enum quickstep_alu)acc;
		q->len = at + 1 + ilen;
		q->dst = 0;
		q->has_imm = 1;
		q->imm = read_imm(b + at + 1, ilen);
		q->size = byte ? 1 : q->wide ? 8 : o16 ? 2 : 4;
		return 0;
	}
	if (op == 0x0f)
		return decode_0f(b, n, at, rex, q);
	return decode_modrm(b, n, at, rex, q);
}

static __u64 *gpr(struct kvm_regs *r, unsigned i)
{
	__u64 *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
				    &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[i & 15];
}

/* The arithmetic flags: CF PF AF ZF SF OF. */
#define ALU_FLAGS 0x8d5ull

/* One operation run on the host, with the guest's arithmetic flags loaded
 * first (ADC, SBB and the rotates through carry read CF; NOT, a shift by
 * 0 and the rotates leave some or all of them as they were): the result
 * (which the caller does not write back for CMP, TEST and BT) and the
 * host's RFLAGS after it.  The red zone below RSP is stepped over before
 * the pushes. */
#define HOST_IN "lea -128(%%rsp), %%rsp\n\tpushq %[fi]\n\tpopfq\n\t"
#define HOST_OUT "\n\tpushfq\n\tpopq %[fo]\n\tlea 128(%%rsp), %%rsp"
#define ALU2(insn, sfx, T)                                                                              \
	do {                                                                                            \
		T x = (T)a, y = (T)b;                                                                  \
		__asm__ volatile(HOST_IN insn sfx " %[y], %[x]" HOST_OUT                               \
				 : [x] "+r"(x), [fo] "=&r"(f)                                          \
				 : [y] "r"(y), [fi] "r"(fin)                                           \
				 : "cc");                                                              \
		r = x;                                                                                  \
	} while (0)
#define ALU1(insn, sfx, T)                                                                              \
	do {                                                                                            \
		T x = (T)a;                                                                             \
		__asm__ volatile(HOST_IN insn sfx " %[x]" HOST_OUT : [x] "+r"(x), [fo] "=&r"(f) : [fi] "r"(fin) : "cc"); \
		r = x;                                                                                  \
	} while (0)
#define SHIFT(insn, sfx, T)                                                                             \
	do {                                                                                            \
		T x = (T)a;                                                                             \
		uint8_t c = (uint8_t)b;                                                                 \
		__asm__ volatile(HOST_IN insn sfx " %%cl, %[x]" HOST_OUT                               \
				 : [x] "+r"(x), [fo] "=&r"(f)                                          \
				 : "c"(c), [fi] "r"(fin)                                               \
				 : "cc");                                                              \
		r = x;                                                                                  \
	} while (0)

/* Every operation at one width: operand suffix sfx, operand type T. */
#define ALU_COMMON(sfx, T)                                          \
	case QA_ADD: ALU2("add", sfx, T); break;                    \
	case QA_OR: ALU2("or", sfx, T); break;                      \
	case QA_ADC: ALU2("adc", sfx, T); break;                    \
	case QA_SBB: ALU2("sbb", sfx, T); break;                    \
	case QA_AND: ALU2("and", sfx, T); break;                    \
	case QA_SUB: ALU2("sub", sfx, T); break;                    \
	case QA_XOR: ALU2("xor", sfx, T); break;                    \
	case QA_CMP: ALU2("cmp", sfx, T); break;                    \
	case QA_TEST: ALU2("test", sfx, T); break;                  \
	case QA_INC: ALU1("inc", sfx, T); break;                    \
	case QA_DEC: ALU1("dec", sfx, T); break;                    \
	case QA_NEG: ALU1("neg", sfx, T); break;                    \
	case QA_NOT: ALU1("not", sfx, T); break;                    \
	case QA_ROL: SHIFT("rol", sfx, T); break;                   \
	case QA_ROR: SHIFT("ror", sfx, T); break;                   \
	case QA_RCL: SHIFT("rcl", sfx, T); break;                   \
	case QA_RCR: SHIFT("rcr", sfx, T); break;                   \
	case QA_SHL: SHIFT("shl", sfx, T); break;                   \
	case QA_SHR: SHIFT("shr", sfx, T); break;                   \
	case QA_SAR: SHIFT("sar", sfx, T); break;
/* BT* and two-operand IMUL have no byte form. */
#define ALU_WIDE(sfx, T)                                            \
	case QA_BT: ALU2("bt", sfx, T); break;                      \
	case QA_BTS: ALU2("bts", sfx, T); break;                    \
	case QA_BTR: ALU2("btr", sfx, T); break;                    \
	case QA_BTC: ALU2("btc", sfx, T); break;                    \
	case QA_IMUL: ALU2("imul", sfx, T); break;

/* 0, or -1 for an operation at a width it has not. */
static int host_alu(enum quickstep_alu op, unsigned size, uint64_t a, uint64_t b, uint64_t fin, uint64_t *res,
		    uint64_t *flags)
{
	uint64_t r = a, f = fin;
	if (size == 8) {
		switch (op) { ALU_COMMON("q", uint64_t) ALU_WIDE("q", uint64_t) }
	} else if (size == 4) {
		switch (op) { ALU_COMMON("l", uint32_t) ALU_WIDE("l", uint32_t) }
	} else if (size == 2) {
		switch (op) { ALU_COMMON("w", uint16_t) ALU_WIDE("w", uint16_t) }
	} else {
		switch (op) {
		ALU_COMMON("b", uint8_t)
		default:
			return -1;
		}
	}
	*res = r;
	*flags = f;
	return 0;
}

/* One-operand MUL, IMUL, DIV or IDIV (op: enum muldiv) on the host, of
 * hi:lo (RDX and RAX; for bytes, lo is AX) by b; a division only where
 * the caller made sure it cannot fault.  *lo, *hi: RAX and RDX after it
 * (for bytes, *lo is AX). */
enum muldiv { MD_MUL, MD_IMUL, MD_DIV, MD_IDIV };
#define MD(insn, T)                                                                                     \
	do {                                                                                            \
		T x = (T)lo_in, d = (T)hi_in, y = (T)b;                                                \
		__asm__ volatile(HOST_IN insn " %[y]" HOST_OUT                                         \
				 : "+a"(x), "+d"(d), [fo] "=&r"(f)                                     \
				 : [y] "r"(y), [fi] "r"(fin)                                           \
				 : "cc");                                                              \
		*lo = x;                                                                                \
		*hi = d;                                                                                \
	} while (0)
#define MD8(insn, T)                                                                                    \
	do {                                                                                            \
		uint16_t x = (uint16_t)lo_in;                                                           \
		T y = (T)b;                                                                             \
		__asm__ volatile(HOST_IN insn " %[y]" HOST_OUT : "+a"(x), [fo] "=&r"(f) : [y] "q"(y), [fi] "r"(fin) : "cc"); \
		*lo = x;                                                                                \
		*hi = 0;                                                                                \
	} while (0)
#define MD_OPS(M, sfx, T)                                              \
	switch (op) {                                                  \
	case MD_MUL: M("mul" sfx, T); break;                           \
	case MD_IMUL: M("imul" sfx, T); break;                         \
	case MD_DIV: M("div" sfx, T); break;                           \
	default: M("idiv" sfx, T); break;                              \
	}

static void host_muldiv(enum muldiv op, unsigned size, uint64_t lo_in, uint64_t hi_in, uint64_t b, uint64_t fin,
			uint64_t *lo, uint64_t *hi, uint64_t *flags)
{
	uint64_t f = fin;
	if (size == 8) {
		MD_OPS(MD, "q", uint64_t)
	} else if (size == 4) {
		MD_OPS(MD, "l", uint32_t)
	} else {
		MD_OPS(MD8, "b", uint8_t)
	}
	*flags = f;
}

/* Would DIV/IDIV of the dividend (hi:lo at size bytes; for bytes, lo is
 * AX) by d raise #DE: by 0, or a quotient its register cannot hold? */
static int div_faults(int sign, unsigned size, uint64_t lo, uint64_t hi, uint64_t d)
{
	if (size == 8) {
		if (!d)
			return 1;
		if (!sign)
			return hi >= d;
		__int128 n = (__int128)(((unsigned __int128)hi << 64) | lo);
		int64_t sd = (int64_t)d;
		if (sd == -1)
			return 1; /* refused outright: the only case where n / sd can overflow here */
		__int128 qt = n / sd;
		return qt > INT64_MAX || qt < INT64_MIN;
	}
	if (size == 4) {
		uint32_t d32 = (uint32_t)d;
		uint64_t n = ((uint64_t)(uint32_t)hi << 32) | (uint32_t)lo;
		if (!d32)
			return 1;
		if (!sign)
			return (uint32_t)hi >= d32;
		if ((int32_t)d32 == -1)
			return 1;
		int64_t qt = (int64_t)n / (int32_t)d32;
		return qt > INT32_MAX || qt < INT32_MIN;
	}
	uint8_t d8 = (uint8_t)d;
	uint16_t ax = (uint16_t)lo;
	if (!d8)
		return 1;
	if (!sign)
		return (ax >> 8) >= d8;
	if ((int8_t)d8 == -1)
		return 1;
	int qt = (int16_t)ax / (int8_t)d8;
	return qt > 127 || qt < -128;
}

static int canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* The address of q's memory operand (the next RIP: next; mem: the FS/GS
 * bases). */
static uint64_t ea_of(const struct quickstep *q, const struct kvm_regs *regs, uint64_t next,
		      const struct quickstep_mem *mem)
{
	const struct quickstep_ea *e = &q->ea;
	uint64_t a = (uint64_t)e->disp;
	if (q->seg && mem)
		a += q->seg == 1 ? mem->fs_base : mem->gs_base;
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

/* Write size bytes at gva through mem: 0 or -1 (nothing written). */
static int store(const struct quickstep_mem *mem, uint64_t gva, unsigned size, uint64_t v)
{
	if (!mem || !mem->store || !canonical(gva) || !canonical(gva + size - 1))
		return -1;
	return mem->store(mem->ctx, gva, size, v) ? -1 : 0;
}

/* Register r read at size bytes (1: AH..BH for 4-7 without REX). */
static uint64_t get_reg(const struct quickstep *q, struct kvm_regs *regs, unsigned r, unsigned size)
{
	if (size == 1 && !q->rex && r >= 4 && r < 8)
		return (*gpr(regs, r - 4) >> 8) & 0xff;
	uint64_t v = *gpr(regs, r);
	return size == 8 ? v : size == 4 ? (uint32_t)v : size == 2 ? (uint16_t)v : (uint8_t)v;
}

/* Register r written at size bytes: 8 whole, 4 zero-extended, 1 only its
 * byte (AH..BH for 4-7 without REX). */
static void put_reg(const struct quickstep *q, struct kvm_regs *regs, unsigned r, unsigned size, uint64_t v)
{
	if (size == 1) {
		unsigned sh = 0;
		if (!q->rex && r >= 4 && r < 8) {
			r -= 4;
			sh = 8;
		}
		__u64 *p = gpr(regs, r);
		*p = (*p & ~(0xffull << sh)) | ((v & 0xff) << sh);
		return;
	}
	if (size == 2) {
		__u64 *p = gpr(regs, r);
		*p = (*p & ~0xffffull) | (v & 0xffff);
		return;
	}
	*gpr(regs, r) = size == 8 ? v : (uint32_t)v;
}

static void set_reg(struct kvm_regs *regs, unsigned r, uint64_t v, int wide)
{
	*gpr(regs, r) = wide ? v : (uint32_t)v;
}

/* q's r/m source at q->size bytes: memory (q->mem) or register src.  0,
 * or -1 where mem refused the load. */
static int read_rm(const struct quickstep *q, struct kvm_regs *regs, uint64_t next, const struct quickstep_mem *mem,
		   uint64_t *v)
{
	if (q->mem)
		return load(mem, ea_of(q, regs, next, mem), q->size, v);
	*v = get_reg(q, regs, q->src, q->size);
	return 0;
}

#define FL_CF 0x1ull
#define FL_PF 0x4ull
#define FL_ZF 0x40ull
#define FL_SF 0x80ull
#define FL_OF 0x800ull

/* Condition cc (the low nibble of Jcc, SETcc, CMOVcc) under rflags. */
static int cond(unsigned cc, uint64_t f)
{
	int cf = !!(f & FL_CF), zf = !!(f & FL_ZF), sf = !!(f & FL_SF), of = !!(f & FL_OF), pf = !!(f & FL_PF);
	int r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return (cc & 1) ? !r : r;
}

int quickstep_apply(const struct quickstep *q, struct kvm_regs *regs, const struct quickstep_mem *mem)
{
	uint64_t next = regs->rip + q->len, v;

	if (q->seg && !mem)
		return -1;
	switch (q->kind) {
	case QS_NOP:
		regs->rip = next;
		return 0;
	case QS_JMP_REL:
		next += (uint64_t)q->disp;
		break;
	case QS_JCC:
		if (cond(q->cc, regs->rflags))
			next += (uint64_t)q->disp;
		break;
	case QS_JMP_REG:
		next = *gpr(regs, q->src);
		break;
	case QS_CALL_REL:
	case QS_CALL_REG: {
		uint64_t to = q->kind == QS_CALL_REL ? next + (uint64_t)q->disp : *gpr(regs, q->src);
		if (!canonical(to) || store(mem, regs->rsp - 8, 8, next))
			return -1;
		regs->rsp -= 8;
		regs->rip = to;
		return 0;
	}
	case QS_MOV:
		put_reg(q, regs, q->dst, q->size, get_reg(q, regs, q->src, q->size));
		regs->rip = next;
		return 0;
	case QS_MOVI:
		put_reg(q, regs, q->dst, q->size ? q->size : q->wide ? 8 : 4, (uint64_t)q->imm);
		regs->rip = next;
		return 0;
	case QS_LEA:
		set_reg(regs, q->dst, ea_of(q, regs, next, mem), q->wide);
		regs->rip = next;
		return 0;
	case QS_LOAD:
		if (read_rm(q, regs, next, mem, &v))
			return -1;
		if (q->merge)
			put_reg(q, regs, q->dst, q->size, v);
		else
			set_reg(regs, q->dst, q->sext ? sign_extend(v, q->size) : v, q->wide);
		regs->rip = next;
		return 0;
	case QS_STORE:
		v = q->has_imm ? (uint64_t)q->imm : get_reg(q, regs, q->src, q->size);
		if (store(mem, ea_of(q, regs, next, mem), q->size, v))
			return -1;
		regs->rip = next;
		return 0;
	case QS_PUSH:
		if (store(mem, regs->rsp - 8, 8, *gpr(regs, q->src))) /* push %rsp: the value before */
			return -1;
		regs->rsp -= 8;
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
	case QS_CLI: /* the callers run CPL0 code only (IOPL does not matter there) */
		regs->rflags &= ~0x200ull;
		regs->rip = next;
		return 0;
	case QS_CDQE:
		regs->rax = q->wide ? sign_extend(regs->rax, 4) : (uint32_t)sign_extend(regs->rax, 2);
		regs->rip = next;
		return 0;
	case QS_CQO:
		if (q->wide)
			regs->rdx = (int64_t)regs->rax < 0 ? ~0ull : 0;
		else
			regs->rdx = (int32_t)regs->rax < 0 ? 0xffffffffull : 0;
		regs->rip = next;
		return 0;
	case QS_PUSHF: /* RF and VM are pushed clear */
		if (store(mem, regs->rsp - 8, 8, regs->rflags & ~0x30000ull))
			return -1;
		regs->rsp -= 8;
		regs->rip = next;
		return 0;
	case QS_SETCC:
		put_reg(q, regs, q->dst, 1, (uint64_t)cond(q->cc, regs->rflags));
		regs->rip = next;
		return 0;
	case QS_CMOV:
		/* The source is read whatever the condition; a 32-bit
		 * destination is zero-extended even when not moved. */
		if (read_rm(q, regs, next, mem, &v))
			return -1;
		set_reg(regs, q->dst, cond(q->cc, regs->rflags) ? v : *gpr(regs, q->dst), q->wide);
		regs->rip = next;
		return 0;
	case QS_ALU: {
		uint64_t a, b, f, r, at = q->mem ? ea_of(q, regs, next, mem) : 0;
		if (q->imul3) { /* dst = (src or memory) * imm */
			if (read_rm(q, regs, next, mem, &a))
				return -1;
		} else if (q->mem_first) {
			if (load(mem, at, q->size, &a))
				return -1;
		} else {
			a = get_reg(q, regs, q->dst, q->size);
		}
		if (q->has_imm)
			b = (uint64_t)q->imm;
		else if (q->count_cl)
			b = regs->rcx & 0xff;
		else if (q->mem && !q->mem_first && !q->imul3) {
			if (load(mem, at, q->size, &b))
				return -1;
		} else {
			b = get_reg(q, regs, q->src, q->size);
		}
		if (host_alu(q->alu, q->size, a, b, regs->rflags & ALU_FLAGS, &r, &f))
			return -1;
		if (q->alu != QA_CMP && q->alu != QA_TEST && q->alu != QA_BT) {
			if (q->mem_first && !q->imul3) {
				if (store(mem, at, q->size, r))
					return -1;
			} else {
				put_reg(q, regs, q->dst, q->size, r);
			}
		}
		regs->rflags = (regs->rflags & ~ALU_FLAGS) | (f & ALU_FLAGS);
		regs->rip = next;
		return 0;
	}
	case QS_MUL:
	case QS_DIV: {
		uint64_t b, lo, hi, f;
		if (read_rm(q, regs, next, mem, &b))
			return -1;
		int sign = q->alu == QA_IMUL;
		if (q->kind == QS_DIV && div_faults(sign, q->size, regs->rax, regs->rdx, b))
			return -1; /* #DE: the CPU's to raise */
		enum muldiv op = q->kind == QS_MUL ? (sign ? MD_IMUL : MD_MUL) : (sign ? MD_IDIV : MD_DIV);
		host_muldiv(op, q->size, regs->rax, regs->rdx, b, regs->rflags & ALU_FLAGS, &lo, &hi, &f);
		if (q->size == 1) {
			regs->rax = (regs->rax & ~0xffffull) | (lo & 0xffff);
		} else {
			put_reg(q, regs, 0, q->size, lo);
			put_reg(q, regs, 2, q->size, hi);
		}
		regs->rflags = (regs->rflags & ~ALU_FLAGS) | (f & ALU_FLAGS);
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
