/* Tests for record/land.c's reading of code: where the guest leaves the
 * loop that holds an address, or where its function ends.  The code shapes
 * are those Linux runs exit-free for long (objdump of Debian's 6.1 kernel):
 * the delay loop, a straight-line function returning through a tail jump,
 * a loop with a break, a loop that calls out. */
#include <string.h>

#include "record/land.h"
#include "record/probe.h"
#include "testlib.h"

#define BASE 0xffffffff81000000ull

static int scan(const uint8_t *code, size_t len, uint64_t rip, uint64_t *traps, unsigned *n, uint64_t *fend)
{
	return land_scan_buf(code, len, BASE, 1, BASE + rip, traps, 8, n, fend);
}

static void test_delay_loop(void)
{
	/* 0: test %rax,%rax; 3: je 0x10; 5: jmp 8; 7: nop;
	 * 8: dec %rax; b: jnz 8; d: nop; e: nop; f: nop; 10: dec %rax; 13: ret */
	static const uint8_t code[] = { 0x48, 0x85, 0xc0, 0x74, 0x0b, 0xeb, 0x01, 0x90, 0x48, 0xff, 0xc8, 0x75,
					0xfb, 0x90, 0x90, 0x90, 0x48, 0xff, 0xc8, 0xc3 };
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	/* At the dec or at the jnz: the one exit is the jnz's fall-through. */
	CHECK_EQ(scan(code, sizeof(code), 0x8, t, &n, &fend), 1);
	CHECK_EQ(n, 1u);
	CHECK_EQ(t[0], BASE + 0xd);
	CHECK_EQ(scan(code, sizeof(code), 0xb, t, &n, &fend), 1);
	CHECK_EQ(n, 1u);
	CHECK_EQ(t[0], BASE + 0xd);
	/* After the loop: straight on to the RET. */
	CHECK_EQ(scan(code, sizeof(code), 0xd, t, &n, &fend), 2);
	CHECK_EQ(fend, BASE + 0x13);
}

static void test_tail_jump(void)
{
	/* 0: movl $1,0x34(%rdi); 7: mov %rax,0x38(%rdi); b: jmp far (return thunk) */
	uint8_t code[16] = { 0xc7, 0x47, 0x34, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0x47, 0x38, 0xe9 };
	int32_t rel = 0x00e00000;
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	memcpy(code + 12, &rel, 4);
	CHECK_EQ(scan(code, sizeof(code), 0x0, t, &n, &fend), 2);
	CHECK_EQ(fend, BASE + 0xb);
	CHECK_EQ(n, 0u);
}

static void test_loop_with_break_and_call(void)
{
	/* 0: mov (%rdi),%eax; 2: test %eax,%eax; 4: je 0x13 (break);
	 * 6: call +0 (to 0xb, a callee); b: add $8,%rdi; f: dec %ecx; 11: jnz 0;
	 * 13: ret */
	static const uint8_t code[] = { 0x8b, 0x07, 0x85, 0xc0, 0x74, 0x0d, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x48,
					0x83, 0xc7, 0x08, 0xff, 0xc9, 0x75, 0xed, 0xc3 };
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	/* From the middle of the body: the break's target and the
	 * fall-through of the backward branch are the same place here. */
	CHECK_EQ(scan(code, sizeof(code), 0xb, t, &n, &fend), 1);
	CHECK_EQ(n, 1u);
	CHECK_EQ(t[0], BASE + 0x13);
}

static void test_loop_leaving_by_ret(void)
{
	/* 0: cmpb $0,(%rdi); 3: jne 6; 5: ret; 6: inc %rdi; 9: jmp 0 */
	static const uint8_t code[] = { 0x80, 0x3f, 0x00, 0x75, 0x01, 0xc3, 0x48, 0xff, 0xc7, 0xeb, 0xf5 };
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	/* From 6: the jmp back is unconditional; the exit is the RET inside. */
	CHECK_EQ(scan(code, sizeof(code), 0x6, t, &n, &fend), 1);
	CHECK_EQ(n, 1u);
	CHECK_EQ(t[0], BASE + 0x5);
}

static void test_nothing_to_find(void)
{
	/* jmp *%rax; and code that is not code. */
	static const uint8_t ind[] = { 0xff, 0xe0 };
	static const uint8_t junk[] = { 0x0f, 0x0b }; /* ud2 */
	uint64_t t[8], fend = 0;
	unsigned n = 7;

	CHECK_EQ(scan(ind, sizeof(ind), 0, t, &n, &fend), 0);
	CHECK_EQ(scan(junk, sizeof(junk), 0, t, &n, &fend), 0);
	/* Running off the end of readable code. */
	static const uint8_t nops[] = { 0x90, 0x90, 0x90 };
	CHECK_EQ(scan(nops, sizeof(nops), 0, t, &n, &fend), 0);
	CHECK_EQ(n, 0u);
}

static void test_retpoline(void)
{
	/* Linux 6.1's __x86_indirect_thunk_rax: 0: call 0xc; 5: pause;
	 * 7: lfence; a: jmp 5; c: mov %rax,(%rsp); 10: jmp far (return thunk) */
	uint8_t code[24] = { 0xe8, 0x07, 0x00, 0x00, 0x00, 0xf3, 0x90, 0x0f, 0xae, 0xe8, 0xeb, 0xf9,
			     0x48, 0x89, 0x04, 0x24, 0xe9 };
	int32_t rel = 0x00e00000;
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	memcpy(code + 17, &rel, 4);
	/* From the thunk's entry: its end is the jump after the call's
	 * target, not the speculation trap's jmp, which never runs. */
	CHECK_EQ(scan(code, sizeof(code), 0x0, t, &n, &fend), 2);
	CHECK_EQ(fend, BASE + 0x10);
	/* Inside the trap itself (never, architecturally): a loop without
	 * exits, nothing to wait for. */
	CHECK_EQ(scan(code, sizeof(code), 0x5, t, &n, &fend), 0);
}

static void test_loop_ahead(void)
{
	/* 0: nop; 1: test %ecx,%ecx; 3: je 9; 5: dec %ecx; 7: jmp 1; 9: ret:
	 * a loop tested at its top, which rip 0 is not in yet. */
	static const uint8_t code[] = { 0x90, 0x85, 0xc9, 0x74, 0x04, 0xff, 0xc9, 0xeb, 0xf8, 0xc3 };
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	/* The jmp back goes to 1, after rip: not the function's end (a
	 * tail jump), but the loop ahead, left at its je's target. */
	CHECK_EQ(scan(code, sizeof(code), 0x0, t, &n, &fend), 1);
	CHECK_EQ(n, 1u);
	CHECK_EQ(t[0], BASE + 0x9);
}

static void test_error_path_before_loop(void)
{
	/* Linux's walk_pte_range (6.1), after its PTE callback returns:
	 * 0-8: ret x9, the function's error path (gcc puts it before the body;
	 *      more exits than the landing can hold);
	 * 9: add $8,%r12; d: mov %r14,%r15; 10: call far (the callback's thunk);
	 * 15: test %eax,%eax; 17: jne 0 (error); 1d: cmp %rbx,%r15; 20: jb 9;
	 * 22: ret */
	uint8_t code[] = { 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0x49, 0x83, 0xc4, 0x08,
			   0x4d, 0x89, 0xf7, 0xe8, 0x00, 0x00, 0xe0, 0x00, 0x85, 0xc0, 0x0f, 0x85, 0xe3,
			   0xff, 0xff, 0xff, 0x49, 0x39, 0xdf, 0x72, 0xe7, 0xc3 };
	uint64_t t[8], fend = 0;
	unsigned n = 0;

	/* From the return address: the jne back is no loop (its "loop" has
	 * nine exits); the jb back is, left at the error path or after it. */
	CHECK_EQ(scan(code, sizeof(code), 0x15, t, &n, &fend), 1);
	CHECK_EQ(n, 2u);
	CHECK_EQ(t[0], BASE + 0x0);
	CHECK_EQ(t[1], BASE + 0x22);
}

static void test_return_thunk(void)
{
	/* 0: jmp 0x20 (rel32); 5: jmp 0x30 (rel8 won't reach: rel32);
	 * a: jmp 0x40; f: nop; 10: jmp 0x20 (rel8);
	 * 20: ret; int3 (__x86_return_thunk);
	 * 30: call 0x3b; ud2; ... (srso_return_thunk: a call 6 bytes on);
	 * 40: push %rbp (an ordinary function) */
	uint8_t code[0x48];
	memset(code, 0x90, sizeof(code));
	static const uint8_t j0[] = { 0xe9, 0x1b, 0x00, 0x00, 0x00 }, j5[] = { 0xe9, 0x26, 0x00, 0x00, 0x00 },
			     ja[] = { 0xe9, 0x31, 0x00, 0x00, 0x00 }, j10[] = { 0xeb, 0x0e },
			     ret[] = { 0xc3, 0xcc }, call[] = { 0xe8, 0x06, 0x00, 0x00, 0x00, 0x0f, 0x0b };
	memcpy(code + 0x00, j0, sizeof(j0));
	memcpy(code + 0x05, j5, sizeof(j5));
	memcpy(code + 0x0a, ja, sizeof(ja));
	memcpy(code + 0x10, j10, sizeof(j10));
	memcpy(code + 0x20, ret, sizeof(ret));
	memcpy(code + 0x30, call, sizeof(call));
	code[0x40] = 0x55;

	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x00), BASE + 0x20);
	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x05), BASE + 0x30);
	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x10), BASE + 0x20);
	/* A tail call to an ordinary function, a non-jump, unreadable code. */
	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x0a), 0u);
	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x0f), 0u);
	CHECK_EQ(land_return_thunk_buf(code, sizeof(code), BASE, BASE + 0x1000), 0u);
}

/* Where a kick must not put an interrupt in (record/probe.h): REP string
 * instructions, RETs, and the entries of thunks (a CALL a few bytes away),
 * every one of them passed by every function return or indirect call. */
static void test_bad_points(void)
{
	static const struct {
		const char *name;
		uint8_t b[8];
		size_t n;
		bool bad;
	} cases[] = {
		{ "ret", { 0xc3 }, 1, true },
		{ "ret $8", { 0xc2, 8, 0 }, 3, true },
		{ "rep movsb", { 0xf3, 0xa4 }, 2, true },
		{ "rep stosq", { 0xf3, 0x48, 0xab }, 3, true },
		{ "srso_return_thunk: call 32 bytes back", { 0xe8, 0xdb, 0xff, 0xff, 0xff }, 5, true },
		{ "retpoline: call 12 bytes ahead", { 0xe8, 0x07, 0x00, 0x00, 0x00 }, 5, true },
		{ "call to far away", { 0xe8, 0x00, 0x10, 0x00, 0x00 }, 5, false },
		{ "call far back", { 0xe8, 0x00, 0xf0, 0xff, 0xff }, 5, false },
		{ "mov %rbx,%rsi", { 0x48, 0x89, 0xde }, 3, false },
		{ "movsb without rep", { 0xa4 }, 1, false },
		{ "call, cut short", { 0xe8, 0x07, 0x00 }, 3, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = record_bad_point_insn(cases[i].b, cases[i].n, true);
		if (got != cases[i].bad)
			fprintf(stderr, "%s: %s\n", cases[i].name, got ? "bad, should not be" : "not bad, should be");
		CHECK_EQ(got, cases[i].bad);
	}
	/* Outside 64-bit code a CALL is left alone (e8 is the same; the thunks
	 * are 64-bit kernels'). */
	static const uint8_t call_near[] = { 0xe8, 0x07, 0x00, 0x00, 0x00 };
	CHECK(!record_bad_point_insn(call_near, sizeof(call_near), false));
}

int main(void)
{
	RUN_TEST(test_bad_points);
	RUN_TEST(test_delay_loop);
	RUN_TEST(test_retpoline);
	RUN_TEST(test_loop_ahead);
	RUN_TEST(test_return_thunk);
	RUN_TEST(test_error_path_before_loop);
	RUN_TEST(test_tail_jump);
	RUN_TEST(test_loop_with_break_and_call);
	RUN_TEST(test_loop_leaving_by_ret);
	RUN_TEST(test_nothing_to_find);
	return TEST_EXIT();
}
