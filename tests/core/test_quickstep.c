/* core/quickstep.c: which instructions replay may step over by hand, how
 * long they are, and what they do to the registers; everything else
 * (memory operands, flags, 16-bit and byte forms, prefixes it does not
 * know, jumps to non-canonical addresses) is left to a real step. */
#include <string.h>

#include "core/quickstep.h"
#include "testlib.h"

struct one {
	const char *name;
	uint8_t b[15];
	unsigned n;
	enum quickstep_kind kind;
	unsigned len;
};

static const struct one known[] = {
	{ "nop", { 0x90 }, 1, QS_NOP, 1 },
	{ "xchg %ax,%ax", { 0x66, 0x90 }, 2, QS_NOP, 2 },
	{ "pause", { 0xf3, 0x90 }, 2, QS_NOP, 2 },
	{ "endbr64", { 0xf3, 0x0f, 0x1e, 0xfa }, 4, QS_NOP, 4 },
	{ "lfence", { 0x0f, 0xae, 0xe8 }, 3, QS_NOP, 3 },
	{ "nopl (%rax)", { 0x0f, 0x1f, 0x00 }, 3, QS_NOP, 3 },
	{ "nopl 0(%rax)", { 0x0f, 0x1f, 0x40, 0x00 }, 4, QS_NOP, 4 },
	{ "nopl 0(%rax,%rax,1) (ftrace's NOP)", { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5, QS_NOP, 5 },
	{ "nopw 0(%rax,%rax,1)", { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 6, QS_NOP, 6 },
	{ "nopl 0L(%rax)", { 0x0f, 0x1f, 0x80, 0, 0, 0, 0 }, 7, QS_NOP, 7 },
	{ "nopw %cs:0L(%rax,%rax,1)", { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 }, 10, QS_NOP, 10 },
	{ "nopl 0(%rip)", { 0x0f, 0x1f, 0x05, 1, 2, 3, 4 }, 7, QS_NOP, 7 },
	{ "jmp rel8", { 0xeb, 0xfe }, 2, QS_JMP_REL, 2 },
	{ "jmp rel32 (jmp __x86_return_thunk)", { 0xe9, 0x10, 0x00, 0x00, 0x00 }, 5, QS_JMP_REL, 5 },
	{ "jmp *%rax", { 0xff, 0xe0 }, 2, QS_JMP_REG, 2 },
	{ "jmp *%r11", { 0x41, 0xff, 0xe3 }, 3, QS_JMP_REG, 3 },
	{ "mov %rbx,%rsi", { 0x48, 0x89, 0xde }, 3, QS_MOV, 3 },
	{ "mov %r9,%rax (8b)", { 0x49, 0x8b, 0xc1 }, 3, QS_MOV, 3 },
	{ "mov %edx,%esi", { 0x89, 0xd6 }, 2, QS_MOV, 2 },
	{ "test %eax,%eax", { 0x85, 0xc0 }, 2, QS_ALU, 2 },
	{ "cmp %rsi,%rdi (39)", { 0x48, 0x39, 0xf7 }, 3, QS_ALU, 3 },
	{ "cmp %r8,%rax (3b)", { 0x49, 0x3b, 0xc0 }, 3, QS_ALU, 3 },
	{ "xor %eax,%eax", { 0x31, 0xc0 }, 2, QS_ALU, 2 },
	{ "add $0x8,%rbx", { 0x48, 0x83, 0xc3, 0x08 }, 4, QS_ALU, 4 },
	{ "cmp $0x1000,%rsi", { 0x48, 0x81, 0xfe, 0x00, 0x10, 0x00, 0x00 }, 7, QS_ALU, 7 },
	{ "inc %r12", { 0x49, 0xff, 0xc4 }, 3, QS_ALU, 3 },
	{ "dec %ecx", { 0xff, 0xc9 }, 2, QS_ALU, 2 },
};

static const struct one refused[] = {
	{ "mov (%rbx),%rax", { 0x48, 0x8b, 0x03 }, 3, QS_NONE, 0 },
	{ "mov %rax,0x10(%rsp)", { 0x48, 0x89, 0x44, 0x24, 0x10 }, 5, QS_NONE, 0 },
	{ "mov %dl,%al (byte)", { 0x88, 0xd0 }, 2, QS_NONE, 0 },
	{ "mov %dx,%ax (16-bit)", { 0x66, 0x89, 0xd0 }, 3, QS_NONE, 0 },
	{ "adc %edx,%eax (carry in)", { 0x11, 0xd0 }, 2, QS_NONE, 0 },
	{ "sbb $1,%eax", { 0x83, 0xd8, 0x01 }, 3, QS_NONE, 0 },
	{ "cmp $1,(%rax)", { 0x83, 0x38, 0x01 }, 3, QS_NONE, 0 },
	{ "test %ax,%ax (16-bit)", { 0x66, 0x85, 0xc0 }, 3, QS_NONE, 0 },
	{ "cmp $imm32, cut short", { 0x48, 0x81, 0xf8, 0x10 }, 4, QS_NONE, 0 },
	{ "xchg %eax,%r8d (41 90)", { 0x41, 0x90 }, 2, QS_NONE, 0 },
	{ "notrack jmp *%rax", { 0x3e, 0xff, 0xe0 }, 3, QS_NONE, 0 },
	{ "jmp *(%rax)", { 0xff, 0x20 }, 2, QS_NONE, 0 },
	{ "call *%rax", { 0xff, 0xd0 }, 2, QS_NONE, 0 },
	{ "call rel32", { 0xe8, 0, 0, 0, 0 }, 5, QS_NONE, 0 },
	{ "ret", { 0xc3 }, 1, QS_NONE, 0 },
	{ "hlt", { 0xf4 }, 1, QS_NONE, 0 },
	{ "rep movsb", { 0xf3, 0xa4 }, 2, QS_NONE, 0 },
	{ "jmp rel32, cut short", { 0xe9, 0x10, 0x00 }, 3, QS_NONE, 0 },
	{ "long NOP, cut short", { 0x0f, 0x1f, 0x44, 0x00 }, 4, QS_NONE, 0 },
	{ "nothing", { 0 }, 0, QS_NONE, 0 },
};

static void test_decode(void)
{
	struct quickstep q;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		int ok = quickstep_decode(known[i].b, known[i].n, &q) == 0 && q.kind == known[i].kind &&
			 q.len == known[i].len;
		if (!ok)
			fprintf(stderr, "not decoded as it should be: %s\n", known[i].name);
		CHECK(ok);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int ok = quickstep_decode(refused[i].b, refused[i].n, &q) == -1;
		if (!ok)
			fprintf(stderr, "decoded, but must not be: %s\n", refused[i].name);
		CHECK(ok);
	}
}

static struct kvm_regs regs_at(uint64_t rip)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rax = 0xffffffff81e01d30ull;
	r.rbx = 0x1122334455667788ull;
	r.rdx = 0xaaaabbbbccccddddull;
	r.r9 = 0x99;
	r.r11 = 0x0000800000000000ull; /* not canonical */
	r.rflags = 0x246;
	return r;
}

static void test_apply(void)
{
	struct quickstep q;
	struct kvm_regs r, want;
	const uint8_t nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	const uint8_t jmp_back[] = { 0xe9, 0xf0, 0xff, 0xff, 0xff };
	const uint8_t jmp8[] = { 0xeb, 0x05 };
	const uint8_t jmp_rax[] = { 0xff, 0xe0 };
	const uint8_t jmp_r11[] = { 0x41, 0xff, 0xe3 };
	const uint8_t mov64[] = { 0x48, 0x89, 0xde };  /* mov %rbx,%rsi */
	const uint8_t mov32[] = { 0x89, 0xd6 };        /* mov %edx,%esi */
	const uint8_t mov_r9[] = { 0x49, 0x8b, 0xc1 }; /* mov %r9,%rax */

	r = regs_at(0xffffffff81091390ull);
	want = r;
	want.rip += 5;
	CHECK_EQ(quickstep_decode(nop5, sizeof(nop5), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	r = regs_at(0xffffffff81360b8bull);
	CHECK_EQ(quickstep_decode(jmp_back, sizeof(jmp_back), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rip, 0xffffffff81360b8bull + 5 - 16);

	r = regs_at(0x1000);
	CHECK_EQ(quickstep_decode(jmp8, sizeof(jmp8), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rip, 0x1000 + 2 + 5);

	r = regs_at(0x1000);
	CHECK_EQ(quickstep_decode(jmp_rax, sizeof(jmp_rax), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rip, 0xffffffff81e01d30ull);

	/* A jump to a non-canonical address faults: left to a real step. */
	r = regs_at(0x1000);
	want = r;
	CHECK_EQ(quickstep_decode(jmp_r11, sizeof(jmp_r11), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	r = regs_at(0x2000);
	want = r;
	want.rsi = want.rbx;
	want.rip += 3;
	CHECK_EQ(quickstep_decode(mov64, sizeof(mov64), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	/* 32-bit moves zero-extend. */
	r = regs_at(0x2000);
	r.rsi = ~0ull;
	CHECK_EQ(quickstep_decode(mov32, sizeof(mov32), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rsi, 0xccccddddull);
	CHECK_EQ(r.rip, 0x2002);
	CHECK_EQ(r.rflags, 0x246);

	r = regs_at(0x2000);
	CHECK_EQ(quickstep_decode(mov_r9, sizeof(mov_r9), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rax, 0x99);
	CHECK_EQ(r.r9, 0x99);
}

#define CF 0x1ull
#define PF 0x4ull
#define ZF 0x40ull
#define SF 0x80ull
#define OF 0x800ull

/* ALU operations: result and the flags the manuals define. */
static void test_alu(void)
{
	struct quickstep q;
	struct kvm_regs r;
	const uint8_t test_eax[] = { 0x85, 0xc0 };
	const uint8_t cmp_rsi_rdi[] = { 0x48, 0x39, 0xf7 };   /* cmp %rsi,%rdi: rdi - rsi */
	const uint8_t xor_eax[] = { 0x31, 0xc0 };
	const uint8_t add_rbx_8[] = { 0x48, 0x83, 0xc3, 0x08 };
	const uint8_t sub_eax_1[] = { 0x83, 0xe8, 0x01 };    /* sub $1,%eax */
	const uint8_t inc_r12[] = { 0x49, 0xff, 0xc4 };
	const uint8_t cmp_rsi_imm[] = { 0x48, 0x81, 0xfe, 0x00, 0x10, 0x00, 0x00 };

	r = regs_at(0x3000);
	r.rax = 0xffffffff00000000ull; /* eax 0 */
	r.rflags = 0x202 | CF | SF | OF;
	CHECK_EQ(quickstep_decode(test_eax, sizeof(test_eax), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rax, 0xffffffff00000000ull); /* TEST writes nothing */
	CHECK_EQ(r.rflags & (CF | PF | ZF | SF | OF), ZF | PF);
	CHECK(r.rflags & 0x200); /* IF kept */
	CHECK_EQ(r.rip, 0x3002);

	r = regs_at(0x3000);
	r.rdi = 5;
	r.rsi = 7;
	CHECK_EQ(quickstep_decode(cmp_rsi_rdi, sizeof(cmp_rsi_rdi), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rdi, 5);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), CF | SF);

	r = regs_at(0x3000);
	r.rax = 0x123456789ull;
	CHECK_EQ(quickstep_decode(xor_eax, sizeof(xor_eax), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rax, 0); /* 32-bit result zero-extended */
	CHECK_EQ(r.rflags & (CF | PF | ZF | SF | OF), ZF | PF);

	r = regs_at(0x3000);
	r.rbx = 0x7ffffffffffffff8ull;
	CHECK_EQ(quickstep_decode(add_rbx_8, sizeof(add_rbx_8), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rbx, 0x8000000000000000ull);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), SF | OF);

	r = regs_at(0x3000);
	r.rax = 0xabcd00000000ull; /* eax 0: 0 - 1 borrows */
	CHECK_EQ(quickstep_decode(sub_eax_1, sizeof(sub_eax_1), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rax, 0xffffffffull);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), CF | SF);

	/* INC keeps CF, whatever it was. */
	for (uint64_t cf = 0; cf <= 1; cf++) {
		r = regs_at(0x3000);
		r.r12 = ~0ull;
		r.rflags = 0x202 | cf;
		CHECK_EQ(quickstep_decode(inc_r12, sizeof(inc_r12), &q), 0);
		CHECK_EQ(quickstep_apply(&q, &r), 0);
		CHECK_EQ(r.r12, 0);
		CHECK_EQ(r.rflags & (CF | ZF), cf | ZF);
	}

	r = regs_at(0x3000);
	r.rsi = 0x1000;
	CHECK_EQ(quickstep_decode(cmp_rsi_imm, sizeof(cmp_rsi_imm), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r), 0);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), ZF);
	CHECK_EQ(r.rip, 0x3007);
}

int main(void)
{
	RUN_TEST(test_decode);
	RUN_TEST(test_apply);
	RUN_TEST(test_alu);
	return TEST_EXIT();
}
