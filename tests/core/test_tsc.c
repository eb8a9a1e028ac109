/* Unit tests for core/tsc.c: the scanner finds RDTSC-family instructions
 * only at instruction boundaries, the patcher keeps the original bytes, and
 * the exit handler emulates a site from a made-up I/O exit. */
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "core/exit.h"
#include "core/vm.h"
#include "devices/bus.h"
#include "record/rr.h"
#include "core/tsc.h"
#include "storage/trace.h"
#include "fake_vm.h"
#include "testlib.h"

#define BASE 0x200000ull
#define RAM (4u << 20)

/* Offsets into CODE of what the scanner must (and must not) find. */
static const uint8_t CODE[] = {
	/* 0 */ 0xb8, 0x0f, 0x31, 0x00, 0x00,                         /* mov $0x310f,%eax: not a site */
	/* 5 */ 0x0f, 0x31,                                           /* rdtsc */
	/* 7 */ 0x48, 0xb8, 0x0f, 0x31, 0x0f, 0x01, 0xf9, 0x0f, 0xc7, 0xf0, /* movabs: bytes inside an imm64 */
	/* 17 */ 0x0f, 0x01, 0xf9,                                    /* rdtscp */
	/* 20 */ 0x48, 0x0f, 0xc7, 0xf1,                              /* rdrand %rcx */
	/* 24 */ 0x41, 0x0f, 0xc7, 0xf8,                              /* rdseed %r8d */
	/* 28 */ 0x66, 0x0f, 0xc7, 0xf2,                              /* rdrand %dx */
	/* 32 */ 0x48, 0x0f, 0x31,                                    /* REX rdtsc: left alone */
	/* 35 */ 0xf3, 0x0f, 0xc7, 0xf8,                              /* rdpid %rax: not ours */
	/* 39 */ 0x0f, 0xc7, 0x0e,                                    /* cmpxchg8b (%rsi): memory form */
	/* 42 */ 0x8b, 0x05, 0x0f, 0x31, 0x00, 0x00,                  /* mov 0x310f(%rip),%eax: in a disp32 */
	/* 48 */ 0xc3,                                                /* ret */
};

static void test_scan(void)
{
	struct tsc_table *t = tsc_table_new();
	CHECK_EQ(tsc_scan(t, CODE, sizeof(CODE), BASE, 0x1000), 0);
	CHECK_EQ(tsc_count(t), 5);
	const struct tsc_site *s;
	CHECK((s = tsc_lookup(t, BASE + 5)) && s->kind == TSC_RDTSC && s->len == 2 && s->gpa == 0x1005);
	CHECK((s = tsc_lookup(t, BASE + 17)) && s->kind == TSC_RDTSCP && s->len == 3);
	CHECK((s = tsc_lookup(t, BASE + 20)) && s->kind == TSC_RDRAND && s->len == 4 && s->reg == 1 && s->opsize == 8);
	CHECK((s = tsc_lookup(t, BASE + 24)) && s->kind == TSC_RDSEED && s->reg == 8 && s->opsize == 4);
	CHECK((s = tsc_lookup(t, BASE + 28)) && s->kind == TSC_RDRAND && s->reg == 2 && s->opsize == 2);
	for (uint64_t off = 0; off < sizeof(CODE); off++)
		if (off != 5 && off != 17 && off != 20 && off != 24 && off != 28)
			CHECK(!tsc_lookup(t, BASE + off));
	/* Scanning the same code again adds nothing. */
	CHECK_EQ(tsc_scan(t, CODE, sizeof(CODE), BASE, 0x1000), 0);
	CHECK_EQ(tsc_count(t), 5);
	tsc_table_free(t);
}

/* RDPMC is a site too (it always raises #GP: core/tsc.h); with REX it is
 * left alone, as RDTSC is. */
static void test_scan_rdpmc(void)
{
	static const uint8_t code[] = { 0x0f, 0x33, 0x48, 0x0f, 0x33, 0xb9, 0x00, 0x00, 0x01, 0x00, 0x0f, 0x33, 0xc3 };
	struct tsc_table *t = tsc_table_new();
	const struct tsc_site *s;

	CHECK_EQ(tsc_scan(t, code, sizeof(code), BASE, 0x1000), 0);
	CHECK_EQ(tsc_count(t), 2);
	CHECK((s = tsc_lookup(t, BASE)) && s->kind == TSC_RDPMC && s->len == 2);
	CHECK((s = tsc_lookup(t, BASE + 10)) && s->kind == TSC_RDPMC && s->len == 2);
	CHECK(!tsc_lookup(t, BASE + 2) && !tsc_lookup(t, BASE + 3));
	tsc_table_free(t);
}

static void test_patch(void)
{
	uint8_t buf[sizeof(CODE)];
	struct tsc_table *t = tsc_table_new();

	memcpy(buf, CODE, sizeof(buf));
	CHECK_EQ(tsc_scan(t, buf, sizeof(buf), BASE, 0x1000), 0);
	tsc_patch(t, buf, sizeof(buf), 0x1000, TSC_TRAP_PIO);
	static const uint8_t want[] = {
		0xb8, 0x0f, 0x31, 0x00, 0x00,
		0xe6, 0xf0,
		0x48, 0xb8, 0x0f, 0x31, 0x0f, 0x01, 0xf9, 0x0f, 0xc7, 0xf0,
		0xe6, 0xf0, 0x90,
		0xe6, 0xf0, 0x90, 0x90,
		0xe6, 0xf0, 0x90, 0x90,
		0xe6, 0xf0, 0x90, 0x90,
		0x48, 0x0f, 0x31,
		0xf3, 0x0f, 0xc7, 0xf8,
		0x0f, 0xc7, 0x0e,
		0x8b, 0x05, 0x0f, 0x31, 0x00, 0x00,
		0xc3,
	};
	CHECK_EQ(sizeof(want), sizeof(buf));
	CHECK(!memcmp(buf, want, sizeof(buf)));
	/* The originals are kept, byte by byte, for a debugger. */
	uint8_t b = 0;
	CHECK(tsc_original_byte(t, BASE + 5, &b) && b == 0x0f);
	CHECK(tsc_original_byte(t, BASE + 6, &b) && b == 0x31);
	CHECK(tsc_original_byte(t, BASE + 19, &b) && b == 0xf9);
	CHECK(tsc_original_byte(t, BASE + 20, &b) && b == 0x48);
	CHECK(tsc_original_byte(t, BASE + 23, &b) && b == 0xf1);
	CHECK(!tsc_original_byte(t, BASE + 4, &b));
	CHECK(!tsc_original_byte(t, BASE + 7, &b));
	CHECK(!tsc_original_byte(t, BASE + 32, &b));
	CHECK(!tsc_original_byte(t, 0, &b));
	const struct tsc_site *s = tsc_lookup(t, BASE + 17);
	CHECK(s && !memcmp(s->orig, "\x0f\x01\xf9", 3));
	/* Sites 20, 24, 28 lie 4 bytes apart: no e6 f0 two bytes away. */
	for (size_t i = 0; (s = tsc_site_at(t, i)); i++)
		CHECK(!s->ambiguous);
	tsc_table_free(t);
}

static void test_ambiguous(void)
{
	/* rdtsc; rdtsc; nop; out %al,$0xf0; rdtsc; nop; nop; rdtsc */
	uint8_t buf[] = { 0x0f, 0x31, 0x0f, 0x31, 0x90, 0xe6, 0xf0, 0x0f, 0x31, 0x90, 0x90, 0x0f, 0x31 };
	struct tsc_table *t = tsc_table_new();

	CHECK_EQ(tsc_scan(t, buf, sizeof(buf), BASE, BASE), 0);
	CHECK_EQ(tsc_count(t), 4);
	tsc_patch(t, buf, sizeof(buf), BASE, TSC_TRAP_PIO);
	CHECK(tsc_lookup(t, BASE)->ambiguous);      /* another site at +2 */
	CHECK(tsc_lookup(t, BASE + 2)->ambiguous);  /* another site at -2 */
	CHECK(tsc_lookup(t, BASE + 7)->ambiguous);  /* the guest's own OUT at -2 */
	CHECK(!tsc_lookup(t, BASE + 11)->ambiguous);
	tsc_table_free(t);
}

static void test_aliases(void)
{
	struct tsc_table *t = tsc_table_new();

	/* Linked at 0xffffffff80000000, loaded at 1 MiB. */
	CHECK_EQ(tsc_scan(t, CODE, sizeof(CODE), 0xffffffff80000000ull, 0x100000), 0);
	CHECK_EQ(tsc_add_phys_aliases(t, 0x100000, sizeof(CODE)), 0);
	CHECK_EQ(tsc_count(t), 5);
	const struct tsc_site *a = tsc_lookup(t, 0xffffffff80000005ull), *p = tsc_lookup(t, 0x100005);
	CHECK(a && p && a->gpa == p->gpa && p->kind == TSC_RDTSC);
	/* Aliases outside the range are not made. */
	CHECK_EQ(tsc_add_phys_aliases(t, 0x200000, 0x1000), 0);
	CHECK(!tsc_lookup(t, 0x200005));
	tsc_table_free(t);
}

static struct vm *fake_vm(void)
{
	return fake_vm_new(RAM, true);
}

static void out_f0(struct vm *vm, uint64_t rip)
{
	struct kvm_run *run = vm->run;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.count = 1;
	run->io.port = TSC_PORT;
	run->io.data_offset = 1024;
	run->kvm_dirty_regs = 0;
	memset(&run->s.regs.regs, 0, sizeof(run->s.regs.regs));
	run->s.regs.regs.rip = rip;
	run->s.regs.regs.rax = 0x1111111122222222ull;
	run->s.regs.regs.rcx = 0x3333333344444444ull;
	run->s.regs.regs.rdx = 0x5555555566666666ull;
	run->s.regs.regs.rflags = 0x2 | 0x40; /* ZF */
}

static void test_handler(void)
{
	struct vm *vm = fake_vm();
	struct kvm_regs *r = &vm->run->s.regs.regs;

	vm->exec[0] = (struct vm_exec_range){ 0x100000, 0x100000, sizeof(CODE) };
	vm->nexec = 1;
	memcpy(vm->ram + 0x100000, CODE, sizeof(CODE));
	CHECK_EQ(tsc_setup(vm), 0);
	CHECK(vm->tsc && tsc_count(vm->tsc) == 5);
	CHECK_EQ(vm->ram[0x100005], 0xe6);

	/* The emulator's exit: RIP after the OUT. */
	out_f0(vm, 0x100007);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(vm->guest_exits, 1);
	CHECK_EQ(r->rip, 0x100007);
	CHECK_EQ(r->rax >> 32, 0);
	CHECK(r->rax != 0x22222222 && r->rdx != 0x55555555);
	CHECK_EQ(r->rcx, 0x3333333344444444ull);
	CHECK(vm->run->kvm_dirty_regs & KVM_SYNC_X86_REGS);
	uint64_t t1 = (r->rdx << 32) | r->rax;

	/* KVM's fast path: RIP at the OUT; RDTSCP also writes ECX; the TSC grows. */
	out_f0(vm, 0x100011);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100014);
	CHECK_EQ(r->rcx, 0);
	CHECK(((r->rdx << 32) | r->rax) >= t1);

	/* RDRAND %rcx: rcx written, CF set, ZF cleared, rax untouched. */
	out_f0(vm, 0x100014);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100018);
	CHECK_EQ(r->rflags, 0x3);
	CHECK_EQ(r->rax, 0x1111111122222222ull);
	/* RDRAND %dx: only the low 16 bits change. */
	out_f0(vm, 0x10001e);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100020);
	CHECK_EQ(r->rdx >> 16, 0x555555556666ull);

	/* The guest's own OUT to 0xf0 elsewhere: not handled here, the bus
	 * ignores it, registers stay. */
	out_f0(vm, 0x100031);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100031);
	CHECK_EQ(vm->run->kvm_dirty_regs, 0);
	CHECK(!vm->stop);
	/* An IN from 0xf0 at a site is no trap either. */
	out_f0(vm, 0x100005);
	vm->run->io.direction = KVM_EXIT_IO_IN;
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100005);
	CHECK_EQ(vm->guest_exits, 6);

	fake_vm_free(vm);
}

/* Replay takes RDRAND/RDSEED results from their own trace kind, CF included
 * (a failed RDRAND clears its destination), and stops at a trace that logged
 * the other instruction. */
static void test_replay_rand(void)
{
	struct vm *vm = fake_vm();
	struct kvm_regs *r = &vm->run->s.regs.regs;
	char path[] = "/tmp/ttvm-test-tsc-XXXXXX", err[256];
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	unlink(path); /* the writer creates it */

	vm->exec[0] = (struct vm_exec_range){ 0x100000, 0x100000, sizeof(CODE) };
	vm->nexec = 1;
	memcpy(vm->ram + 0x100000, CODE, sizeof(CODE));
	CHECK_EQ(tsc_setup(vm), 0);

	/* What the guest will look like at each site: out_f0()'s registers
	 * with RIP at the original instruction (the fingerprint). */
	static const uint64_t at[] = { 0x100014, 0x100018, 0x10001c, 0x100014 };
	static const uint8_t insn[] = { TRACE_RAND_RDRAND, TRACE_RAND_RDSEED, TRACE_RAND_RDRAND, TRACE_RAND_RDRAND };
	static const uint8_t cf[] = { 1, 1, 0, 1 };
	struct trace_writer *w;
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	for (unsigned i = 0; i < 4; i++) {
		struct trace_event ev;
		out_f0(vm, at[i]);
		memset(&ev, 0, sizeof(ev));
		ev.kind = TRACE_EV_RDRAND;
		ev.exit_no = i + 1;
		ev.u.tsc.value = 0xabcdef0123456789ull >> (8 * i);
		ev.u.tsc.rand_insn = insn[i];
		ev.u.tsc.rand_cf = cf[i];
		ev.flags = TRACE_EVF_FP;
		ev.fp.exit_reason = KVM_EXIT_IO;
		ev.fp.rip = at[i];
		ev.fp.regs_hash = rr_regs_hash(r);
		CHECK_EQ(trace_writer_append(w, &ev), 0);
	}
	CHECK_EQ(trace_writer_close(w, NULL), 0);

	struct rr rr;
	memset(&rr, 0, sizeof(rr));
	rr.mode = RR_REPLAY;
	rr.path = path;
	rr.have_next = -1;
	rr.last_good = UINT64_MAX;
	CHECK_EQ(trace_reader_open(path, &rr.r, err, sizeof(err)), 0);
	rr_attach(vm, &rr);

	/* RDRAND %rcx (64-bit): the logged value, CF set, other flags cleared. */
	out_f0(vm, 0x100014);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rcx, 0xabcdef0123456789ull);
	CHECK_EQ(r->rflags, 0x3);
	/* RDSEED %r8d (32-bit, fast-path RIP). */
	out_f0(vm, 0x100018);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->r8, 0x01234567ull);
	CHECK_EQ(r->rip, 0x10001c);
	/* RDRAND %dx logged as failed: DX cleared, CF clear, the rest of RDX kept. */
	out_f0(vm, 0x10001c);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rdx, 0x5555555566660000ull);
	CHECK_EQ(r->rflags, 0x2);
	CHECK(!vm->stop);
	CHECK_EQ(rr.last_good, 2);
	/* The trace logged RDRAND at this point; the guest executes RDSEED:
	 * a divergence, and the register keeps its value. */
	out_f0(vm, 0x100018);
	vm->run->s.regs.regs.rip = 0x100018;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_DIVERGED);
	CHECK(strstr(vm->stop_msg, "RDSEED") != NULL);
	CHECK_EQ(r->r8, 0);

	trace_reader_close(rr.r);
	unlink(path);
	fake_vm_free(vm);
}

static void test_patch_int3(void)
{
	uint8_t buf[sizeof(CODE)];
	struct tsc_table *t = tsc_table_new();

	memcpy(buf, CODE, sizeof(buf));
	CHECK_EQ(tsc_scan(t, buf, sizeof(buf), BASE, 0x1000), 0);
	tsc_patch(t, buf, sizeof(buf), 0x1000, TSC_TRAP_INT3);
	CHECK_EQ(tsc_method_of(t), TSC_TRAP_INT3);
	CHECK(!memcmp(buf + 5, "\xcc\x90", 2));
	CHECK(!memcmp(buf + 17, "\xcc\x90\x90", 3));
	CHECK(!memcmp(buf + 20, "\xcc\x90\x90\x90", 4));
	CHECK(!memcmp(buf + 32, "\x48\x0f\x31", 3)); /* not a site: untouched */
	uint8_t b = 0;
	CHECK(tsc_original_byte(t, BASE + 5, &b) && b == 0x0f);
	tsc_table_free(t);
}

/* Which method a host gets, without a probe where none is needed. */
static void test_choose_method(void)
{
	const char *why = NULL;
	unsetenv("TTVM_TSC_TRAP");
	CHECK_EQ(tsc_choose_method(-1, KVM_FLAVOUR_PVM, &why), TSC_TRAP_PIO);
	CHECK(why && strstr(why, "PVM"));
	/* VMX/SVM: INT3 only when the probe VM shows a #BP exit; none here. */
	CHECK_EQ(tsc_choose_method(-1, KVM_FLAVOUR_SVM, &why), TSC_TRAP_PIO);
	CHECK(why && strstr(why, "probed"));
	setenv("TTVM_TSC_TRAP", "int3", 1);
	CHECK_EQ(tsc_choose_method(-1, KVM_FLAVOUR_PVM, &why), TSC_TRAP_INT3);
	setenv("TTVM_TSC_TRAP", "pio", 1);
	CHECK_EQ(tsc_choose_method(-1, KVM_FLAVOUR_VMX, &why), TSC_TRAP_PIO);
	unsetenv("TTVM_TSC_TRAP");
	CHECK(strstr(tsc_method_name(TSC_TRAP_INT3), "int3"));
}

static void bp_exit(struct vm *vm, uint64_t pc, uint32_t exception)
{
	out_f0(vm, pc); /* the same registers */
	vm->run->exit_reason = KVM_EXIT_DEBUG;
	vm->run->debug.arch.exception = exception;
	vm->run->debug.arch.pc = pc;
}

/* INT3 traps: a #BP exit at a site is emulated and counted as a guest exit;
 * an OUT to 0xf0 is then always the guest's own. */
static void test_handler_int3(void)
{
	struct vm *vm = fake_vm();
	struct kvm_regs *r = &vm->run->s.regs.regs;
	struct tsc_table *t = tsc_table_new();

	memcpy(vm->ram + 0x100000, CODE, sizeof(CODE));
	CHECK_EQ(tsc_scan(t, vm->ram + 0x100000, sizeof(CODE), 0x100000, 0x100000), 0);
	tsc_patch(t, vm->ram + 0x100000, sizeof(CODE), 0x100000, TSC_TRAP_INT3);
	vm->tsc = t;
	CHECK_EQ(vm->ram[0x100005], 0xcc);

	/* RDTSC: RIP at the INT3 (a #BP exit leaves it there). */
	bp_exit(vm, 0x100005, 3);
	CHECK(tsc_is_bp_trap(vm));
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(vm->guest_exits, 1);
	CHECK_EQ(r->rip, 0x100007);
	CHECK_EQ(r->rax >> 32, 0);
	CHECK_EQ(r->rcx, 0x3333333344444444ull);
	CHECK(vm->run->kvm_dirty_regs & KVM_SYNC_X86_REGS);
	/* RDSEED %r8d. */
	bp_exit(vm, 0x100018, 3);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x10001c);
	CHECK_EQ(r->r8 >> 32, 0);
	CHECK_EQ(r->rflags, 0x3);
	CHECK_EQ(vm->guest_exits, 2);
	/* With INT3 traps an OUT to 0xf0, even at a site, is the guest's own. */
	out_f0(vm, 0x100005);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(r->rip, 0x100005);
	CHECK_EQ(vm->run->kvm_dirty_regs, 0);
	CHECK_EQ(vm->guest_exits, 3); /* an I/O exit, counted as ever */
	/* A #DB is not ours to handle here: a clean stop, not a guess. */
	bp_exit(vm, 0x100005, 1);
	CHECK(!tsc_is_bp_trap(vm));
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_INTERNAL);
	CHECK(strstr(vm->stop_msg, "unexpected debug exit"));
	/* The guest's own INT3 elsewhere goes back to the guest (no vCPU here:
	 * the re-injection fails, and says so) and is no guest exit. */
	vm->stop = false;
	bp_exit(vm, 0x100030, 3);
	CHECK(!tsc_is_bp_trap(vm));
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_HOST);
	CHECK(strstr(vm->stop_msg, "its own #BP"));
	CHECK_EQ(vm->guest_exits, 3);

	fake_vm_free(vm);
}

/* Whoever sets guest debugging (replay's breakpoints, a debugger) keeps the
 * INT3 traps' USE_SW_BP; with nothing kept, 0 turns debugging off. */
static void test_guest_debug_control(void)
{
	struct vm *vm = fake_vm();
	const uint32_t sw = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;

	CHECK_EQ(vcpu_guest_debug_control(vm, 0), 0);
	CHECK_EQ(vcpu_guest_debug_control(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP),
		 KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
	vm->guest_debug_keep = sw;
	CHECK_EQ(vcpu_guest_debug_control(vm, 0), sw);
	CHECK_EQ(vcpu_guest_debug_control(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP),
		 sw | KVM_GUESTDBG_USE_HW_BP);
	CHECK_EQ(vcpu_guest_debug_control(vm, KVM_GUESTDBG_SINGLESTEP), sw | KVM_GUESTDBG_SINGLESTEP);
	fake_vm_free(vm);
}

int main(void)
{
	RUN_TEST(test_scan);
	RUN_TEST(test_scan_rdpmc);
	RUN_TEST(test_patch);
	RUN_TEST(test_ambiguous);
	RUN_TEST(test_aliases);
	RUN_TEST(test_handler);
	RUN_TEST(test_replay_rand);
	RUN_TEST(test_patch_int3);
	RUN_TEST(test_choose_method);
	RUN_TEST(test_handler_int3);
	RUN_TEST(test_guest_debug_control);
	return TEST_EXIT();
}
