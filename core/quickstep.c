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
	default:
		return -1;
	}
	if (!canonical(next))
		return -1;
	regs->rip = next;
	return 0;
}
