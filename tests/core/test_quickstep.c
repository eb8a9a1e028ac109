/* core/quickstep.c: which instructions replay may do by hand, how long
 * they are, and what they do to the registers and (through fake memory)
 * to memory; everything else (16-bit forms, prefixes it does not know,
 * ADC/SBB, shifts, jumps to non-canonical addresses, accesses the memory
 * refuses) is left to a real step.  tests/core/test_quickrun.c compares
 * them with the CPU. */
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
	{ "mov (%rbx),%rax", { 0x48, 0x8b, 0x03 }, 3, QS_LOAD, 3 },
	{ "movzbl 0x1(%rbx),%eax", { 0x0f, 0xb6, 0x43, 0x01 }, 4, QS_LOAD, 4 },
	{ "movzwl (%rsi),%r8d", { 0x44, 0x0f, 0xb7, 0x06 }, 4, QS_LOAD, 4 },
	{ "movsbq 0x10(%rsp),%rdx", { 0x48, 0x0f, 0xbe, 0x54, 0x24, 0x10 }, 6, QS_LOAD, 6 },
	{ "movslq (%rdi,%rcx,4),%rax", { 0x48, 0x63, 0x04, 0x8f }, 4, QS_LOAD, 4 },
	{ "mov 0x12345678(%rip),%eax", { 0x8b, 0x05, 0x78, 0x56, 0x34, 0x12 }, 6, QS_LOAD, 6 },
	{ "mov 0x1000(,%rax,8),%rdx", { 0x48, 0x8b, 0x14, 0xc5, 0x00, 0x10, 0x00, 0x00 }, 8, QS_LOAD, 8 },
	{ "lea 0x8(%rsp),%rsp", { 0x48, 0x8d, 0x64, 0x24, 0x08 }, 5, QS_LEA, 5 },
	{ "pop %rbx", { 0x5b }, 1, QS_POP, 1 },
	{ "pop %r12", { 0x41, 0x5c }, 2, QS_POP, 2 },
	{ "ret", { 0xc3 }, 1, QS_RET, 1 },
	{ "mov $0x1,%r10d", { 0x41, 0xba, 0x01, 0x00, 0x00, 0x00 }, 6, QS_MOVI, 6 },
	{ "movabs $imm64,%rax", { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 }, 10, QS_MOVI, 10 },
	{ "mov $-1,%rax (c7)", { 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff }, 7, QS_MOVI, 7 },
	{ "cmp $1,(%rax)", { 0x83, 0x38, 0x01 }, 3, QS_ALU, 3 },
	{ "cmpb $0x0,(%rax)", { 0x80, 0x38, 0x00 }, 3, QS_ALU, 3 },
	{ "testb $0x4,0x3(%rdi)", { 0xf6, 0x47, 0x03, 0x04 }, 4, QS_ALU, 4 },
	{ "cmp %rax,0x8(%rbx) (39)", { 0x48, 0x39, 0x43, 0x08 }, 4, QS_ALU, 4 },
	{ "add (%rsi),%ecx (03)", { 0x03, 0x0e }, 2, QS_ALU, 2 },
	{ "mov %rax,0x10(%rsp)", { 0x48, 0x89, 0x44, 0x24, 0x10 }, 5, QS_STORE, 5 },
	{ "add %eax,(%rbx)", { 0x01, 0x03 }, 2, QS_ALU, 2 },
	{ "movl $1,(%rax)", { 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00 }, 6, QS_STORE, 6 },
	{ "movb $1,(%rax)", { 0xc6, 0x00, 0x01 }, 3, QS_STORE, 3 },
	{ "mov %dl,(%rdi)", { 0x88, 0x17 }, 2, QS_STORE, 2 },
	{ "incl (%rax)", { 0xff, 0x00 }, 2, QS_ALU, 2 },
	{ "addl $1,(%rax)", { 0x83, 0x00, 0x01 }, 3, QS_ALU, 3 },
	{ "movzbl %al,%eax", { 0x0f, 0xb6, 0xc0 }, 3, QS_LOAD, 3 },
	{ "movslq %eax,%rdx", { 0x48, 0x63, 0xd0 }, 3, QS_LOAD, 3 },
	{ "mov %dl,%al", { 0x88, 0xd0 }, 2, QS_MOV, 2 },
	{ "mov (%rsi),%al", { 0x8a, 0x06 }, 2, QS_LOAD, 2 },
	{ "mov $0x22,%ah", { 0xb4, 0x22 }, 2, QS_MOVI, 2 },
	{ "call *%rax", { 0xff, 0xd0 }, 2, QS_CALL_REG, 2 },
	{ "call rel32", { 0xe8, 0, 0, 0, 0 }, 5, QS_CALL_REL, 5 },
	{ "push %rbp", { 0x55 }, 1, QS_PUSH, 1 },
	{ "push %r15", { 0x41, 0x57 }, 2, QS_PUSH, 2 },
	{ "je rel8", { 0x74, 0x10 }, 2, QS_JCC, 2 },
	{ "jg rel32", { 0x0f, 0x8f, 0x10, 0, 0, 0 }, 6, QS_JCC, 6 },
	{ "cmp $0x22,%al", { 0x3c, 0x22 }, 2, QS_ALU, 2 },
	{ "sub $imm32,%rax", { 0x48, 0x2d, 0x00, 0x10, 0x00, 0x00 }, 6, QS_ALU, 6 },
	{ "test $imm32,%eax", { 0xa9, 0x00, 0x10, 0x00, 0x00 }, 5, QS_ALU, 5 },
	{ "test %al,%al", { 0x84, 0xc0 }, 2, QS_ALU, 2 },
	{ "cmp %sil,%dil", { 0x40, 0x38, 0xf7 }, 3, QS_ALU, 3 },
	{ "sete %al", { 0x0f, 0x94, 0xc0 }, 3, QS_SETCC, 3 },
	{ "cmovne %rdx,%rax", { 0x48, 0x0f, 0x45, 0xc2 }, 4, QS_CMOV, 4 },
	{ "cmovl 0x8(%rbx),%eax", { 0x0f, 0x4c, 0x43, 0x08 }, 4, QS_CMOV, 4 },
	{ "decb 0x3(%rdi)", { 0xfe, 0x4f, 0x03 }, 3, QS_ALU, 3 },
	{ "mov %gs:0x10,%rax", { 0x65, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0 }, 9, QS_LOAD, 9 },
	{ "adc %edx,%eax", { 0x11, 0xd0 }, 2, QS_ALU, 2 },
	{ "sbb $1,%eax", { 0x83, 0xd8, 0x01 }, 3, QS_ALU, 3 },
	{ "adc %al,(%rbx)", { 0x10, 0x03 }, 2, QS_ALU, 2 },
	{ "mov %eax,%fs:(%rbx)", { 0x64, 0x89, 0x03 }, 3, QS_STORE, 3 },
	{ "shl $1,%eax", { 0xd1, 0xe0 }, 2, QS_ALU, 2 },
	{ "mul %rdx", { 0x48, 0xf7, 0xe2 }, 3, QS_MUL, 3 },
	{ "shr %cl,%rax", { 0x48, 0xd3, 0xe8 }, 3, QS_ALU, 3 },
	{ "cltq", { 0x48, 0x98 }, 2, QS_CDQE, 2 },
	{ "mov %dx,%ax", { 0x66, 0x89, 0xd0 }, 3, QS_MOV, 3 },
	{ "test %ax,%ax", { 0x66, 0x85, 0xc0 }, 3, QS_ALU, 3 },
	{ "cmpw $0x1234,0x2(%rdi)", { 0x66, 0x81, 0x7f, 0x02, 0x34, 0x12 }, 6, QS_ALU, 6 },
	{ "movw $0x1234,(%rax)", { 0x66, 0xc7, 0x00, 0x34, 0x12 }, 5, QS_STORE, 5 },
	{ "mov $0x1234,%ax", { 0x66, 0xb8, 0x34, 0x12 }, 4, QS_MOVI, 4 },
	{ "mov %ax,%gs:(%rbx)", { 0x65, 0x66, 0x89, 0x03 }, 4, QS_STORE, 4 },
	{ "div %rcx", { 0x48, 0xf7, 0xf1 }, 3, QS_DIV, 3 },
	{ "idivl 0x8(%rdi)", { 0xf7, 0x7f, 0x08 }, 3, QS_DIV, 3 },
	{ "cltd", { 0x99 }, 1, QS_CQO, 1 },
	{ "pushf", { 0x9c }, 1, QS_PUSHF, 1 },
	{ "cli", { 0xfa }, 1, QS_CLI, 1 },
	{ "rol $7,%r8", { 0x49, 0xc1, 0xc0, 0x07 }, 4, QS_ALU, 4 },
	{ "neg %r8", { 0x49, 0xf7, 0xd8 }, 3, QS_ALU, 3 },
	{ "notl 0x34(%rdi)", { 0xf7, 0x57, 0x34 }, 3, QS_ALU, 3 },
	{ "imul %r9,%r13", { 0x4d, 0x0f, 0xaf, 0xe9 }, 4, QS_ALU, 4 },
	{ "imul $-3,0x8(%rdi),%r15d", { 0x44, 0x6b, 0x7f, 0x08, 0xfd }, 5, QS_ALU, 5 },
	{ "bt %rcx,%rax", { 0x48, 0x0f, 0xa3, 0xc8 }, 4, QS_ALU, 4 },
	{ "btcl $3,0xc(%rdi)", { 0x0f, 0xba, 0x7f, 0x0c, 0x03 }, 5, QS_ALU, 5 },
	{ "add %r8,%gs:0x40", { 0x65, 0x4c, 0x01, 0x04, 0x25, 0x40, 0, 0, 0 }, 9, QS_ALU, 9 },
};

static const struct one refused[] = {
	{ "mov (%eax),%eax (32-bit address)", { 0x67, 0x8b, 0x00 }, 3, QS_NONE, 0 },
	{ "movslq without REX.W", { 0x63, 0x04, 0x8f }, 3, QS_NONE, 0 },
	{ "pop %ax (16-bit)", { 0x66, 0x58 }, 2, QS_NONE, 0 },
	{ "ret $8", { 0xc2, 0x08, 0x00 }, 3, QS_NONE, 0 },
	{ "mov (%rbx), cut short", { 0x48, 0x8b, 0x43 }, 3, QS_NONE, 0 },
	{ "movabs, cut short", { 0x48, 0xb8, 1, 2, 3, 4 }, 6, QS_NONE, 0 },
	{ "cmp $imm32, cut short", { 0x48, 0x81, 0xf8, 0x10 }, 4, QS_NONE, 0 },
	{ "xchg %eax,%r8d (41 90)", { 0x41, 0x90 }, 2, QS_NONE, 0 },
	{ "notrack jmp *%rax", { 0x3e, 0xff, 0xe0 }, 3, QS_NONE, 0 },
	{ "jmp *(%rax)", { 0xff, 0x20 }, 2, QS_NONE, 0 },
	{ "hlt", { 0xf4 }, 1, QS_NONE, 0 },
	{ "rep movsb", { 0xf3, 0xa4 }, 2, QS_NONE, 0 },
	{ "jmp rel32, cut short", { 0xe9, 0x10, 0x00 }, 3, QS_NONE, 0 },
	{ "long NOP, cut short", { 0x0f, 0x1f, 0x44, 0x00 }, 4, QS_NONE, 0 },
	{ "sete (%rax) (SETcc to memory)", { 0x0f, 0x94, 0x00 }, 3, QS_NONE, 0 },
	{ "lock addl $1,(%rax)", { 0xf0, 0x83, 0x00, 0x01 }, 4, QS_NONE, 0 },
	{ "push (%rax)", { 0xff, 0x30 }, 2, QS_NONE, 0 },
	{ "call *(%rax)", { 0xff, 0x10 }, 2, QS_NONE, 0 },
	{ "rex.w je (REX before a Jcc)", { 0x48, 0x74, 0x10 }, 3, QS_NONE, 0 },
	{ "je rel32, cut short", { 0x0f, 0x84, 0x10, 0 }, 4, QS_NONE, 0 },
	{ "push $imm8", { 0x6a, 0x01 }, 2, QS_NONE, 0 },
	{ "bt %rax,(%rbx) (offset beyond the operand)", { 0x48, 0x0f, 0xa3, 0x03 }, 4, QS_NONE, 0 },
	{ "lea %gs:(%rax),%rax (no memory)", { 0x65, 0x48, 0x8d, 0x00 }, 4, QS_NONE, 0 },
	{ "mov %gs:%fs:(%rax),%eax (two overrides)", { 0x65, 0x64, 0x8b, 0x00 }, 4, QS_NONE, 0 },
	{ "xchg %rsi,%rsi", { 0x48, 0x87, 0xf6 }, 3, QS_NONE, 0 },
	{ "sti (its shadow)", { 0xfb }, 1, QS_NONE, 0 },
	{ "popf", { 0x9d }, 1, QS_NONE, 0 },
	{ "lea (%rax),%ax (16-bit LEA)", { 0x66, 0x8d, 0x00 }, 3, QS_NONE, 0 },
	{ "mul %cx (16-bit)", { 0x66, 0xf7, 0xe1 }, 3, QS_NONE, 0 },
	{ "movzbw %al,%ax (0f at 16 bits)", { 0x66, 0x0f, 0xb6, 0xc0 }, 4, QS_NONE, 0 },
	{ "inc %ax (ff at 16 bits)", { 0x66, 0xff, 0xc0 }, 3, QS_NONE, 0 },
	{ "cmpw $0x1234, cut short", { 0x66, 0x81, 0x7f, 0x02, 0x34 }, 5, QS_NONE, 0 },
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
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	r = regs_at(0xffffffff81360b8bull);
	CHECK_EQ(quickstep_decode(jmp_back, sizeof(jmp_back), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rip, 0xffffffff81360b8bull + 5 - 16);

	r = regs_at(0x1000);
	CHECK_EQ(quickstep_decode(jmp8, sizeof(jmp8), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rip, 0x1000 + 2 + 5);

	r = regs_at(0x1000);
	CHECK_EQ(quickstep_decode(jmp_rax, sizeof(jmp_rax), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rip, 0xffffffff81e01d30ull);

	/* A jump to a non-canonical address faults: left to a real step. */
	r = regs_at(0x1000);
	want = r;
	CHECK_EQ(quickstep_decode(jmp_r11, sizeof(jmp_r11), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	r = regs_at(0x2000);
	want = r;
	want.rsi = want.rbx;
	want.rip += 3;
	CHECK_EQ(quickstep_decode(mov64, sizeof(mov64), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	/* 32-bit moves zero-extend. */
	r = regs_at(0x2000);
	r.rsi = ~0ull;
	CHECK_EQ(quickstep_decode(mov32, sizeof(mov32), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rsi, 0xccccddddull);
	CHECK_EQ(r.rip, 0x2002);
	CHECK_EQ(r.rflags, 0x246);

	r = regs_at(0x2000);
	CHECK_EQ(quickstep_decode(mov_r9, sizeof(mov_r9), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
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
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xffffffff00000000ull); /* TEST writes nothing */
	CHECK_EQ(r.rflags & (CF | PF | ZF | SF | OF), ZF | PF);
	CHECK(r.rflags & 0x200); /* IF kept */
	CHECK_EQ(r.rip, 0x3002);

	r = regs_at(0x3000);
	r.rdi = 5;
	r.rsi = 7;
	CHECK_EQ(quickstep_decode(cmp_rsi_rdi, sizeof(cmp_rsi_rdi), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rdi, 5);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), CF | SF);

	r = regs_at(0x3000);
	r.rax = 0x123456789ull;
	CHECK_EQ(quickstep_decode(xor_eax, sizeof(xor_eax), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rax, 0); /* 32-bit result zero-extended */
	CHECK_EQ(r.rflags & (CF | PF | ZF | SF | OF), ZF | PF);

	r = regs_at(0x3000);
	r.rbx = 0x7ffffffffffffff8ull;
	CHECK_EQ(quickstep_decode(add_rbx_8, sizeof(add_rbx_8), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rbx, 0x8000000000000000ull);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), SF | OF);

	r = regs_at(0x3000);
	r.rax = 0xabcd00000000ull; /* eax 0: 0 - 1 borrows */
	CHECK_EQ(quickstep_decode(sub_eax_1, sizeof(sub_eax_1), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xffffffffull);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), CF | SF);

	/* INC keeps CF, whatever it was. */
	for (uint64_t cf = 0; cf <= 1; cf++) {
		r = regs_at(0x3000);
		r.r12 = ~0ull;
		r.rflags = 0x202 | cf;
		CHECK_EQ(quickstep_decode(inc_r12, sizeof(inc_r12), &q), 0);
		CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
		CHECK_EQ(r.r12, 0);
		CHECK_EQ(r.rflags & (CF | ZF), cf | ZF);
	}

	r = regs_at(0x3000);
	r.rsi = 0x1000;
	CHECK_EQ(quickstep_decode(cmp_rsi_imm, sizeof(cmp_rsi_imm), &q), 0);
	CHECK_EQ(quickstep_apply(&q, &r, NULL), 0);
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), ZF);
	CHECK_EQ(r.rip, 0x3007);
}

/* A guest memory of 64 bytes at 0x10000 for the loads below; a load
 * elsewhere is refused, as vm_load_quiet() refuses a load that would fault. */
static uint8_t fake_mem[64];
static unsigned fake_loads;

static int fake_load(void *ctx, uint64_t gva, unsigned size, uint64_t *val)
{
	(void)ctx;
	if (gva < 0x10000 || gva + size > 0x10000 + sizeof(fake_mem))
		return -1;
	uint64_t v = 0;
	memcpy(&v, fake_mem + (gva - 0x10000), size);
	*val = v;
	fake_loads++;
	return 0;
}

static int run_one(const uint8_t *b, size_t n, struct kvm_regs *r, const struct quickstep_mem *mem)
{
	struct quickstep q;
	if (quickstep_decode(b, n, &q))
		return -2;
	return quickstep_apply(&q, r, mem);
}

#define RUN(bytes, r, mem) run_one(bytes, sizeof(bytes), r, mem)

static void test_loads(void)
{
	const struct quickstep_mem mem = { fake_load, NULL, NULL, 0, 0 };
	struct kvm_regs r, want;
	const uint8_t movzbl[] = { 0x0f, 0xb6, 0x43, 0x01 };                  /* movzbl 0x1(%rbx),%eax */
	const uint8_t movsbq[] = { 0x48, 0x0f, 0xbe, 0x43, 0x01 };            /* movsbq 0x1(%rbx),%rax */
	const uint8_t movswl[] = { 0x0f, 0xbf, 0x43, 0x02 };                  /* movswl 0x2(%rbx),%eax */
	const uint8_t movslq[] = { 0x48, 0x63, 0x04, 0x8f };                  /* movslq (%rdi,%rcx,4),%rax */
	const uint8_t mov64[] = { 0x48, 0x8b, 0x14, 0xc5, 0x08, 0x00, 0x01, 0x00 }; /* mov 0x10008(,%rax,8),%rdx */
	const uint8_t mov32[] = { 0x8b, 0x43, 0x08 };                         /* mov 0x8(%rbx),%eax */
	const uint8_t riprel[] = { 0x48, 0x8b, 0x05, 0xf9, 0xff, 0xff, 0xff }; /* mov -7(%rip),%rax */
	const uint8_t pop_rbx[] = { 0x5b }, pop_rsp[] = { 0x5c }, ret[] = { 0xc3 };
	const uint8_t lea[] = { 0x48, 0x8d, 0x64, 0x24, 0x08 };               /* lea 0x8(%rsp),%rsp */
	const uint8_t lea32[] = { 0x8d, 0x04, 0x49 };                         /* lea (%rcx,%rcx,2),%eax */
	const uint8_t movi[] = { 0x41, 0xba, 0x01, 0x00, 0x00, 0x00 };        /* mov $1,%r10d */
	const uint8_t movi_c7[] = { 0x48, 0xc7, 0xc0, 0xfe, 0xff, 0xff, 0xff }; /* mov $-2,%rax */
	const uint8_t movabs[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint8_t cmpb[] = { 0x80, 0x7b, 0x01, 0x80 };                    /* cmpb $0x80,0x1(%rbx) */
	const uint8_t testb[] = { 0xf6, 0x43, 0x01, 0x01 };                   /* testb $1,0x1(%rbx) */
	const uint8_t cmpq_mem_reg[] = { 0x48, 0x39, 0x43, 0x08 };            /* cmp %rax,0x8(%rbx) */
	const uint8_t add_mem[] = { 0x03, 0x43, 0x08 };                       /* add 0x8(%rbx),%eax */

	for (unsigned i = 0; i < sizeof(fake_mem); i++)
		fake_mem[i] = (uint8_t)(0xf0 + i);

	r = regs_at(0x1000);
	r.rbx = 0x10000;
	r.rax = ~0ull;
	want = r;
	want.rax = 0xf1; /* zero-extended to 64 bits */
	want.rip += 4;
	CHECK_EQ(RUN(movzbl, &r, &mem), 0);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	r = regs_at(0x1000);
	r.rbx = 0x10000;
	CHECK_EQ(RUN(movsbq, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xfffffffffffffff1ull);
	r.rax = ~0ull;
	r.rip = 0x1000;
	CHECK_EQ(RUN(movswl, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xfffff3f2ull); /* sign-extended to 32 bits, then zero-extended */

	r = regs_at(0x1000);
	r.rdi = 0x10000;
	r.rcx = 2;
	CHECK_EQ(RUN(movslq, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xfffffffffbfaf9f8ull);

	r = regs_at(0x1000);
	r.rax = 1;
	CHECK_EQ(RUN(mov64, &r, &mem), 0);
	CHECK_EQ(r.rdx, 0x0706050403020100ull); /* bytes 16-23: 0xf0 + i wrapped */
	r = regs_at(0x1000);
	r.rbx = 0x10000;
	r.rax = ~0ull;
	CHECK_EQ(RUN(mov32, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xfbfaf9f8ull);
	r = regs_at(0x10000); /* next RIP 0x10007, -7: 0x10000 */
	CHECK_EQ(RUN(riprel, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xf7f6f5f4f3f2f1f0ull);
	CHECK_EQ(r.rip, 0x10007);

	/* POP, RET: read at RSP, RSP up by 8. */
	r = regs_at(0x1000);
	r.rsp = 0x10008;
	CHECK_EQ(RUN(pop_rbx, &r, &mem), 0);
	CHECK_EQ(r.rbx, 0xfffefdfcfbfaf9f8ull);
	CHECK_EQ(r.rsp, 0x10010);
	CHECK_EQ(r.rip, 0x1001);
	r = regs_at(0x1000);
	r.rsp = 0x10008;
	CHECK_EQ(RUN(pop_rsp, &r, &mem), 0);
	CHECK_EQ(r.rsp, 0xfffefdfcfbfaf9f8ull); /* the value read, not +8 */
	memcpy(fake_mem + 0x20, "\x30\x1d\xe0\x81\xff\xff\xff\xff", 8);
	r = regs_at(0x1000);
	r.rsp = 0x10020;
	CHECK_EQ(RUN(ret, &r, &mem), 0);
	CHECK_EQ(r.rip, 0xffffffff81e01d30ull);
	CHECK_EQ(r.rsp, 0x10028);
	/* A return to a non-canonical address faults: refused, nothing changed. */
	memcpy(fake_mem + 0x20, "\0\0\0\0\0\x80\0\0", 8);
	r = regs_at(0x1000);
	r.rsp = 0x10020;
	want = r;
	CHECK_EQ(RUN(ret, &r, &mem), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));

	/* LEA and MOV of an immediate read nothing. */
	r = regs_at(0x1000);
	r.rsp = 0x7000;
	CHECK_EQ(RUN(lea, &r, NULL), 0);
	CHECK_EQ(r.rsp, 0x7008);
	r.rcx = 0x100000005ull;
	r.rip = 0x1000;
	CHECK_EQ(RUN(lea32, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x0000000fu); /* 0x30000000f truncated to 32 bits */
	r.r10 = ~0ull;
	CHECK_EQ(RUN(movi, &r, NULL), 0);
	CHECK_EQ(r.r10, 1);
	CHECK_EQ(RUN(movi_c7, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xfffffffffffffffeull);
	CHECK_EQ(RUN(movabs, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x0807060504030201ull);

	/* CMP and TEST of memory: flags only. */
	r = regs_at(0x1000);
	r.rbx = 0x10000;
	want = r;
	CHECK_EQ(RUN(cmpb, &r, &mem), 0); /* 0xf1 - 0x80 = 0x71: no borrow, no overflow (-15 + 128) */
	CHECK_EQ(r.rflags & (CF | ZF | SF | OF), 0);
	CHECK_EQ(RUN(testb, &r, &mem), 0); /* 0xf1 & 1 */
	CHECK_EQ(r.rflags & (ZF | SF), 0);
	r.rax = 0xfffefdfcfbfaf9f8ull;
	CHECK_EQ(RUN(cmpq_mem_reg, &r, &mem), 0);
	CHECK_EQ(r.rflags & ZF, ZF);
	CHECK_EQ(r.rax, 0xfffefdfcfbfaf9f8ull);
	r.rax = 0x100000008ull;
	CHECK_EQ(RUN(add_mem, &r, &mem), 0);
	CHECK_EQ(r.rax, 0xfbfafa00ull); /* 8 + 0xfbfaf9f8, 32-bit */

	/* No memory to read from, or a load it refuses: nothing changed. */
	r = regs_at(0x1000);
	r.rbx = 0x10000;
	want = r;
	CHECK_EQ(RUN(movzbl, &r, NULL), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));
	r.rbx = 0x20000;
	want = r;
	CHECK_EQ(RUN(movzbl, &r, &mem), -1);
	CHECK_EQ(RUN(cmpb, &r, &mem), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));
	/* A non-canonical address is never asked for. */
	unsigned before = fake_loads;
	r.rbx = 0x0000800000000000ull;
	CHECK_EQ(RUN(movzbl, &r, &mem), -1);
	CHECK_EQ(fake_loads, before);
}

static unsigned fake_stores;
static int fake_store_ok = 1;

static int fake_store(void *ctx, uint64_t gva, unsigned size, uint64_t val)
{
	(void)ctx;
	if (!fake_store_ok || gva < 0x10000 || gva + size > 0x10000 + sizeof(fake_mem))
		return -1;
	memcpy(fake_mem + (gva - 0x10000), &val, size);
	fake_stores++;
	return 0;
}

static uint64_t fake64(unsigned off)
{
	uint64_t v;
	memcpy(&v, fake_mem + off, 8);
	return v;
}

/* Stores: MOV to memory, PUSH, CALL, read-modify-write ALU; a refused
 * store leaves registers and memory as they were. */
static void test_stores(void)
{
	const struct quickstep_mem mem = { fake_load, NULL, fake_store, 0, 0 };
	const struct quickstep_mem load_only = { fake_load, NULL, NULL, 0, 0 };
	struct kvm_regs r, want;
	const uint8_t mov_store[] = { 0x48, 0x89, 0x43, 0x08 };       /* mov %rax,0x8(%rbx) */
	const uint8_t movb_ah[] = { 0x88, 0x63, 0x01 };               /* mov %ah,0x1(%rbx) */
	const uint8_t movl_imm[] = { 0xc7, 0x43, 0x10, 0xff, 0xff, 0xff, 0xff }; /* movl $-1,0x10(%rbx) */
	const uint8_t movq_imm[] = { 0x48, 0xc7, 0x43, 0x18, 0xfe, 0xff, 0xff, 0xff }; /* movq $-2,0x18(%rbx) */
	const uint8_t push_rbp[] = { 0x55 }, push_rsp[] = { 0x54 };
	const uint8_t call_rel[] = { 0xe8, 0x10, 0x00, 0x00, 0x00 };
	const uint8_t call_rax[] = { 0xff, 0xd0 };
	const uint8_t addl_1[] = { 0x83, 0x03, 0x01 };                /* addl $1,(%rbx) */
	const uint8_t decb[] = { 0xfe, 0x4b, 0x04 };                  /* decb 0x4(%rbx) */
	const uint8_t sub_mem[] = { 0x48, 0x29, 0x43, 0x08 };         /* sub %rax,0x8(%rbx) */

	memset(fake_mem, 0, sizeof(fake_mem));
	r = regs_at(0x1000);
	r.rbx = 0x10000;
	r.rax = 0x1122334455667788ull;
	CHECK_EQ(RUN(mov_store, &r, &mem), 0);
	CHECK_EQ(fake64(8), 0x1122334455667788ull);
	CHECK_EQ(r.rip, 0x1004);
	CHECK_EQ(RUN(movb_ah, &r, &mem), 0); /* AH: bits 8-15 of RAX */
	CHECK_EQ(fake_mem[1], 0x77);
	CHECK_EQ(RUN(movl_imm, &r, &mem), 0);
	CHECK_EQ(fake64(0x10), 0xffffffffull); /* 4 bytes only */
	CHECK_EQ(RUN(movq_imm, &r, &mem), 0);
	CHECK_EQ(fake64(0x18), 0xfffffffffffffffeull); /* sign-extended */

	/* Read-modify-write: the flags of the operation, the result in memory. */
	memset(fake_mem, 0, sizeof(fake_mem));
	fake_mem[0] = 0xff;
	fake_mem[1] = 0xff;
	fake_mem[2] = 0xff;
	fake_mem[3] = 0xff;
	r = regs_at(0x1000);
	r.rbx = 0x10000;
	CHECK_EQ(RUN(addl_1, &r, &mem), 0);
	CHECK_EQ(fake64(0), 0);
	CHECK_EQ(r.rflags & (CF | ZF), CF | ZF);
	fake_mem[4] = 0x80;
	CHECK_EQ(RUN(decb, &r, &mem), 0);
	CHECK_EQ(fake_mem[4], 0x7f);
	CHECK_EQ(r.rflags & (CF | OF), CF | OF); /* DEC keeps CF from the ADD */
	r.rax = 1;
	CHECK_EQ(RUN(sub_mem, &r, &mem), 0);
	CHECK_EQ(fake64(8), ~0ull);
	CHECK_EQ(r.rflags & (CF | SF), CF | SF);

	/* PUSH, CALL: RSP down by 8, the value at the new RSP. */
	r = regs_at(0x1000);
	r.rsp = 0x10040;
	r.rbp = 0xabcdef;
	CHECK_EQ(RUN(push_rbp, &r, &mem), 0);
	CHECK_EQ(r.rsp, 0x10038);
	CHECK_EQ(fake64(0x38), 0xabcdef);
	CHECK_EQ(RUN(push_rsp, &r, &mem), 0);
	CHECK_EQ(fake64(0x30), 0x10038); /* the value before the push */
	r.rip = 0xffffffff81000000ull;
	CHECK_EQ(RUN(call_rel, &r, &mem), 0);
	CHECK_EQ(r.rip, 0xffffffff81000015ull);
	CHECK_EQ(fake64(0x28), 0xffffffff81000005ull);
	CHECK_EQ(r.rsp, 0x10028);
	r.rax = 0xffffffff81234567ull;
	CHECK_EQ(RUN(call_rax, &r, &mem), 0);
	CHECK_EQ(r.rip, 0xffffffff81234567ull);
	CHECK_EQ(fake64(0x20), 0xffffffff81000017ull);

	/* Refused stores change nothing: no store callback, a store it
	 * refuses, a call to a non-canonical address (before any store). */
	unsigned stores = fake_stores;
	uint8_t before[sizeof(fake_mem)];
	memcpy(before, fake_mem, sizeof(fake_mem));
	r = regs_at(0x1000);
	r.rsp = 0x10040;
	r.rbx = 0x10000;
	want = r;
	CHECK_EQ(RUN(push_rbp, &r, &load_only), -1);
	CHECK_EQ(RUN(addl_1, &r, &load_only), -1);
	fake_store_ok = 0;
	CHECK_EQ(RUN(call_rel, &r, &mem), -1);
	CHECK_EQ(RUN(sub_mem, &r, &mem), -1);
	fake_store_ok = 1;
	r.rax = 0x0000800000000000ull;
	want.rax = r.rax;
	CHECK_EQ(RUN(call_rax, &r, &mem), -1);
	CHECK(!memcmp(&r, &want, sizeof(r)));
	CHECK(!memcmp(before, fake_mem, sizeof(fake_mem)));
	CHECK_EQ(fake_stores, stores);
}

/* Jcc under every condition, SETcc, CMOVcc, byte registers. */
static void test_conditions(void)
{
	struct kvm_regs r;
	const uint64_t flag_sets[] = { 0, CF, ZF, SF, OF, PF, SF | OF, ZF | SF, CF | ZF | SF | OF | PF };
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		uint64_t f = flag_sets[i];
		int cf = !!(f & CF), zf = !!(f & ZF), sf = !!(f & SF), of = !!(f & OF), pf = !!(f & PF);
		int base[8] = { of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of };
		for (unsigned cc = 0; cc < 16; cc++) {
			int want = (cc & 1) ? !base[cc >> 1] : base[cc >> 1];
			uint8_t jcc8[] = { (uint8_t)(0x70 + cc), 0x10 };
			uint8_t jcc32[] = { 0x0f, (uint8_t)(0x80 + cc), 0x00, 0x01, 0x00, 0x00 };
			uint8_t setcc[] = { 0x0f, (uint8_t)(0x90 + cc), 0xc4 };             /* set %ah */
			uint8_t cmov[] = { 0x0f, (uint8_t)(0x40 + cc), 0xc2 };              /* cmov %edx,%eax */
			r = regs_at(0x1000);
			r.rflags = 0x202 | f;
			CHECK_EQ(RUN(jcc8, &r, NULL), 0);
			CHECK_EQ(r.rip, want ? 0x1012u : 0x1002u);
			r.rip = 0x1000;
			CHECK_EQ(RUN(jcc32, &r, NULL), 0);
			CHECK_EQ(r.rip, want ? 0x1106u : 0x1006u);
			r.rax = 0x1111111111111111ull;
			CHECK_EQ(RUN(setcc, &r, NULL), 0);
			CHECK_EQ(r.rax, want ? 0x1111111111110111ull : 0x1111111111110011ull);
			r.rax = 0x1111111111111111ull;
			CHECK_EQ(RUN(cmov, &r, NULL), 0);
			/* 32-bit: zero-extended even when not moved. */
			CHECK_EQ(r.rax, want ? 0xccccddddull : 0x11111111ull);
			CHECK_EQ(r.rflags, 0x202 | f);
		}
	}
	/* Byte registers: AH..BH without REX, SPL..DIL with it. */
	const uint8_t mov_dh_al[] = { 0x88, 0xf0 };        /* mov %dh,%al */
	const uint8_t mov_sil_al[] = { 0x40, 0x88, 0xf0 }; /* mov %sil,%al */
	const uint8_t cmp_al_22[] = { 0x3c, 0x22 };
	const uint8_t sub_rax_imm[] = { 0x48, 0x2d, 0x00, 0x10, 0x00, 0x00 };
	r = regs_at(0x1000);
	r.rdx = 0x5500;
	r.rsi = 0x66;
	r.rax = 0xffffffffffffffffull;
	CHECK_EQ(RUN(mov_dh_al, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xffffffffffffff55ull);
	CHECK_EQ(RUN(mov_sil_al, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xffffffffffffff66ull);
	r.rax = 0xabcd22;
	CHECK_EQ(RUN(cmp_al_22, &r, NULL), 0);
	CHECK_EQ(r.rflags & (ZF | CF), ZF);
	CHECK_EQ(r.rax, 0xabcd22);
	r.rax = 0x800;
	CHECK_EQ(RUN(sub_rax_imm, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xfffffffffffff800ull);
	CHECK_EQ(r.rflags & (CF | SF), CF | SF);

	/* The guest's flags go into the operation: ADC adds CF; a shift by
	 * a count of 0 changes no flag; a rotate only CF and OF; NOT none. */
	const uint8_t adc[] = { 0x48, 0x11, 0xd0 };   /* adc %rdx,%rax */
	const uint8_t shl_cl[] = { 0x48, 0xd3, 0xe0 }; /* shl %cl,%rax */
	const uint8_t rol1[] = { 0x48, 0xd1, 0xc0 };   /* rol %rax */
	const uint8_t not_rax[] = { 0x48, 0xf7, 0xd0 };
	const uint8_t mul_rdx[] = { 0x48, 0xf7, 0xe2 }; /* mul %rdx */
	r = regs_at(0x1000);
	r.rax = 1;
	r.rdx = 2;
	r.rflags = 0x202 | CF;
	CHECK_EQ(RUN(adc, &r, NULL), 0);
	CHECK_EQ(r.rax, 4);
	r.rcx = 0x100; /* CL 0 */
	r.rflags = 0x202 | CF | ZF | OF;
	CHECK_EQ(RUN(shl_cl, &r, NULL), 0);
	CHECK_EQ(r.rax, 4);
	CHECK_EQ(r.rflags, 0x202 | CF | ZF | OF);
	r.rax = 0x8000000000000000ull;
	r.rflags = 0x202 | ZF | SF | PF;
	CHECK_EQ(RUN(rol1, &r, NULL), 0);
	CHECK_EQ(r.rax, 1);
	CHECK_EQ(r.rflags & (CF | ZF | SF | PF), CF | ZF | SF | PF);
	r.rflags = 0x202 | CF | ZF;
	CHECK_EQ(RUN(not_rax, &r, NULL), 0);
	CHECK_EQ(r.rax, ~1ull);
	CHECK_EQ(r.rflags, 0x202 | CF | ZF);
	r.rax = 0x8000000000000000ull;
	r.rdx = 4;
	CHECK_EQ(RUN(mul_rdx, &r, NULL), 0);
	CHECK_EQ(r.rax, 0);
	CHECK_EQ(r.rdx, 2);
	CHECK_EQ(r.rflags & (CF | OF), CF | OF);

	/* DIV: done where it cannot fault, refused (nothing changed) where
	 * the CPU raises #DE. */
	const uint8_t div_rcx[] = { 0x48, 0xf7, 0xf1 };  /* div %rcx */
	const uint8_t idiv_ecx[] = { 0xf7, 0xf9 };       /* idiv %ecx */
	const uint8_t divb_cl[] = { 0xf6, 0xf1 };        /* div %cl */
	struct kvm_regs w;
	r = regs_at(0x1000);
	r.rdx = 1;
	r.rax = 5;
	r.rcx = 2;
	CHECK_EQ(RUN(div_rcx, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x8000000000000002ull);
	CHECK_EQ(r.rdx, 1);
	r = regs_at(0x1000);
	r.rdx = 2;
	r.rcx = 2;
	w = r;
	CHECK_EQ(RUN(div_rcx, &r, NULL), -1); /* quotient too big */
	r.rcx = 0;
	w.rcx = 0;
	CHECK_EQ(RUN(div_rcx, &r, NULL), -1); /* by 0 */
	CHECK(!memcmp(&r, &w, sizeof(r)));
	r = regs_at(0x1000);
	r.rax = 0xfffffff9; /* -7 */
	r.rdx = 0xffffffff;
	r.rcx = 2;
	CHECK_EQ(RUN(idiv_ecx, &r, NULL), 0);
	CHECK_EQ(r.rax, 0xfffffffdull); /* -3, zero-extended */
	CHECK_EQ(r.rdx, 0xffffffffull); /* -1 */
	r = regs_at(0x1000);
	r.rax = 0x80000000;
	r.rdx = 0xffffffff;
	r.rcx = 0xffffffff; /* INT_MIN / -1 */
	CHECK_EQ(RUN(idiv_ecx, &r, NULL), -1);
	r = regs_at(0x1000);
	r.rax = 0x1234567800000107ull; /* AX 0x0107: 263 / 10 */
	r.rcx = 10;
	CHECK_EQ(RUN(divb_cl, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x123456780000031aull); /* AL 26, AH 3 */
	r.rax = 0x0a00; /* AH 10 >= 10: too big */
	CHECK_EQ(RUN(divb_cl, &r, NULL), -1);

	/* 16 bits: the rest of the register stays. */
	const uint8_t add_ax[] = { 0x66, 0x05, 0x01, 0x00 }; /* add $1,%ax */
	const uint8_t mov_dx_ax[] = { 0x66, 0x89, 0xd0 };
	r = regs_at(0x1000);
	r.rax = 0x123456789abcffffull;
	CHECK_EQ(RUN(add_ax, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x123456789abc0000ull);
	CHECK_EQ(r.rflags & (CF | ZF), CF | ZF);
	CHECK_EQ(r.rip, 0x1004);
	r.rdx = 0x4321;
	CHECK_EQ(RUN(mov_dx_ax, &r, NULL), 0);
	CHECK_EQ(r.rax, 0x123456789abc4321ull);
}

int main(void)
{
	RUN_TEST(test_decode);
	RUN_TEST(test_apply);
	RUN_TEST(test_alu);
	RUN_TEST(test_loads);
	RUN_TEST(test_stores);
	RUN_TEST(test_conditions);
	return TEST_EXIT();
}
