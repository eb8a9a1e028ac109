/* Quick steps and quick runs against the real CPU (core/quickstep.h,
 * replay/quickrun.h): a program of the instructions they do by hand runs
 * at CPL0 in the hello guest under KVM, on page tables of its own with
 * supervisor pages whose accessed and dirty bits are set.
 * - Step by step: before each KVM single step the instruction is done by
 *   hand on a copy of the registers (stores logged, not written); after
 *   it, KVM's registers (RIP, the general registers, RFLAGS) and the bytes
 *   stored must be the same.  The program's values change every pass of
 *   its loop, so every condition and flag comes out both ways.
 * - Whole: quickrun() runs it from its start to its HLT by hand; the same
 *   start run by KVM must end with the same registers and memory.
 * On PVM, KVM runs CPL0 code through its instruction emulator; in the SVM
 * test host, through QEMU-TCG's CPU: both are what a replay there sees.
 * usage: test_quickrun GUEST_DIR   (exit 77 when the host has no /dev/kvm) */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/quickstep.h"
#include "core/vm.h"
#include "replay/quickrun.h"
#include "kvmtest.h"
#include "testlib.h"

/* The program: rdi = data (256 bytes), rsp = its stack; ends at HLT. */
__asm__(".section .rodata\n"
	".globl qr_prog, qr_prog_end, qr_prog_hlt\n"
	"qr_prog:\n"
	"	mov $0x12345679, %eax\n"
	"	mov $48, %ecx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r11d, %r11d\n"
	"1:	lea 1(%rax,%rax,4), %rax\n"      /* x = 5x + 1 */
	"	lea 0x3f(%rax,%rax,8), %rdx\n"
	"	xor $0x5a5a, %edx\n"
	"	add %rdx, (%rdi)\n"
	"	sub %eax, 8(%rdi)\n"
	"	mov %al, 16(%rdi)\n"
	"	mov %ah, 17(%rdi)\n"
	"	cmpb $0x80, 16(%rdi)\n"
	"	setb %bl\n"
	"	setg %bh\n"
	"	cmp %edx, %eax\n"
	"	setl %sil\n"
	"	setbe %r15b\n"
	"	seto %r8b\n"
	"	setp %r9b\n"
	"	add %bl, 18(%rdi)\n"
	"	add %bh, 19(%rdi)\n"
	"	add %sil, 20(%rdi)\n"
	"	add %r8b, 21(%rdi)\n"
	"	add %r9b, 22(%rdi)\n"
	"	add %r15b, 23(%rdi)\n"
	"	lea 0x100(%rdi), %rdi\n"
	"	sub $0x100, %rdi\n"
	"	cmovs %rdx, %r12\n"
	"	cmovge %edx, %r13d\n"
	"	cmova 8(%rdi), %r14\n"
	"	cmp $0x22, %al\n"
	"	jo 2f\n"
	"	inc %r10\n"
	"2:	jp 3f\n"
	"	inc %r11\n"
	"3:	jl 4f\n"
	"	dec %r10\n"
	"4:	jbe 5f\n"
	"	add $3, %r11\n"
	"5:	test $0x1000, %eax\n"
	"	jne 6f\n"
	"	sub $0x7fff0000, %rax\n"
	"6:	test %dl, %dl\n"
	"	js 7f\n"
	"	or %r10, %r11\n"
	"7:	and $0x7f, %dl\n"
	"	movzbl 16(%rdi), %r12d\n"
	"	movsbq %dl, %r13\n"
	"	movslq %eax, %r14\n"
	"	movzwl %dx, %r15d\n"
	"	movsbl 17(%rdi), %ebp\n"
	"	incb 24(%rdi)\n"
	"	decl 28(%rdi)\n"
	"	addq $-3, 32(%rdi)\n"
	"	xorl %eax, 40(%rdi)\n"
	"	andw $0, %ax\n"
	"	testb $1, 16(%rdi)\n"
	"	cmpq %rax, (%rdi)\n"
	"	movq $-2, 48(%rdi)\n"
	"	mov %rax, %r8\n"
	"	shl $3, %r8\n"
	"	shr %r8\n"
	"	sar $5, %r8d\n"
	"	rol $7, %r8\n"
	"	ror %cl, %r8\n"
	"	rcl $1, %r8\n"
	"	rcr $3, %r8d\n"
	"	shl %cl, %r9\n"
	"	sarb $2, 25(%rdi)\n"
	"	adc %rax, %r8\n"
	"	sbb $5, %r9\n"
	"	adcl $0, 44(%rdi)\n"
	"	neg %r8\n"
	"	notl 52(%rdi)\n"
	"	push %rax\n"
	"	push %rdx\n"
	"	mulq 8(%rdi)\n"
	"	add %rax, %r10\n"
	"	adc %rdx, %r11\n"
	"	mov 8(%rsp), %rax\n"
	"	imul %ecx\n"
	"	xor %eax, %r12d\n"
	"	xor %edx, %r12d\n"
	"	mulb 16(%rdi)\n"
	"	imul %r9, %r13\n"
	"	imul $0x1234567, %r13, %r14\n"
	"	imul $-3, 8(%rdi), %r15d\n"
	"	imul %rax\n"
	"	add %rdx, %r14\n"
	"	cltq\n"
	"	cqto\n"
	"	add %rdx, %r13\n"
	"	cwtl\n"
	"	cltd\n"
	"	add %rdx, %r12\n"
	"	add %rax, %r12\n"
	"	pushf\n"
	"	cli\n"
	"	pop %rsi\n"
	"	mov %ax, %r8w\n"
	"	add $0x3fff, %r8w\n"
	"	adc %dx, 30(%rdi)\n"
	"	cmpw $0x8000, 30(%rdi)\n"
	"	movw $0x1234, 34(%rdi)\n"
	"	shl $3, %r8w\n"
	"	mov 36(%rdi), %dx\n"
	"	mov %r8w, %gs:38\n"
	"	push %rax\n"
	"	push %rdx\n"
	"	mov %r9, %rax\n"
	"	xor %edx, %edx\n"
	"	mov %rcx, %rsi\n"
	"	or $1, %rsi\n"
	"	div %rsi\n"
	"	add %rdx, %r10\n"
	"	cqto\n"
	"	mov 8(%rdi), %rsi\n"
	"	shr $1, %rsi\n"
	"	or $3, %rsi\n"
	"	idiv %rsi\n"
	"	add %rax, %r11\n"
	"	mov %r8, %rax\n"
	"	movzbl %cl, %esi\n"
	"	or $0x80, %esi\n"
	"	movzbl %al, %eax\n"
	"	div %sil\n"
	"	add %eax, %r12d\n"
	"	pop %rdx\n"
	"	pop %rax\n"
	"	pop %rdx\n"
	"	pop %rax\n"
	"	bt %rcx, %rax\n"
	"	setc %bl\n"
	"	bts $5, %r9\n"
	"	btr %rcx, %r8\n"
	"	btcl $3, 12(%rdi)\n"
	"	btq $63, (%rdi)\n"
	"	adc %bl, 26(%rdi)\n"
	"	mov %gs:8, %r9\n"
	"	add %r8, %gs:64\n"
	"	movl $7, 56(%rdi)\n"
	"	movb $9, 60(%rdi)\n"
	"	mov 8(%rdi), %r9\n"
	"	mov (%rdi), %r8b\n"
	"	push %rax\n"
	"	push %rdx\n"
	"	call 8f\n"
	"	pop %rdx\n"
	"	pop %rax\n"
	"	dec %ecx\n"
	"	jnz 1b\n"
	"	jmp 9f\n"
	"8:	push %rbx\n"
	"	mov %rsp, %rbx\n"
	"	add 8(%rbx), %rsi\n"
	"	xchg %rsi, %rsi\n"               /* XCHG: never by hand */
	"	pop %rbx\n"
	"	ret\n"
	"9:\n"
	"qr_prog_hlt:\n"
	"	hlt\n"
	"qr_prog_end:\n"
	".previous\n");
extern const uint8_t qr_prog[], qr_prog_end[], qr_prog_hlt[];

static const char *guest_dir;

/* Free RAM in the guest, far above the hello guest: code, data, stack,
 * and page tables mapping the first 1 GiB with supervisor 2 MiB pages. */
#define CODE 0x3f00000ull
#define DATA 0x3f10000ull
#define STACK_TOP 0x3f20000ull
#define TABLES 0x3e00000ull


/* Stores logged instead of made (the real step makes them). */
struct logged {
	struct vm *vm;
	const struct kvm_sregs *s;
	unsigned n;
	uint64_t gva[2], val[2];
	unsigned size[2];
};

static int log_load(void *ctx, uint64_t gva, unsigned size, uint64_t *val)
{
	struct logged *l = ctx;
	uint64_t v = 0;
	if (vm_load_quiet(l->vm, l->s, gva, &v, size))
		return -1;
	*val = v;
	return 0;
}

static int log_store(void *ctx, uint64_t gva, unsigned size, uint64_t val)
{
	struct logged *l = ctx;
	uint64_t gpa;
	if (l->n == 2 || vm_gva_to_gpa(l->vm, l->s, gva, &gpa))
		return -1;
	l->gva[l->n] = gva;
	l->val[l->n] = val;
	l->size[l->n++] = size;
	return 0;
}

/* The program and its data in place, page tables loaded, registers at
 * its start. */
static void setup(struct vm *vm, struct kvm_regs *regs)
{
	size_t len = (size_t)(qr_prog_end - qr_prog);
	uint8_t *code = vm_gpa_ptr(vm, CODE, len), *data = vm_gpa_ptr(vm, DATA, 256);
	uint64_t *t = vm_gpa_ptr(vm, TABLES, 3 * 4096);
	CHECK(code && data && t);
	if (!code || !data || !t)
		exit(1);
	memcpy(code, qr_prog, len);
	for (unsigned i = 0; i < 256; i++)
		data[i] = (uint8_t)(i * 37 + 11);
	memset(t, 0, 3 * 4096);
	const uint64_t A = 0x20, D = 0x40;
	t[0] = (TABLES + 0x1000) | 3 | A;          /* PML4[0] */
	t[512] = (TABLES + 0x2000) | 3 | A;        /* PDPT[0] */
	for (uint64_t i = 0; i < 512; i++)
		t[1024 + i] = (i << 21) | 0x83 | A | D; /* supervisor, writable, accessed, dirty */
	struct kvm_sregs s;
	CHECK_EQ(vcpu_get_sregs(vm, &s), 0);
	s.cr3 = TABLES;
	s.gs.base = DATA; /* %gs:8 is 8(%rdi) */
	CHECK_EQ(vcpu_set_sregs(vm, &s), 0);
	CHECK_EQ(vcpu_get_regs(vm, regs), 0);
	regs->rip = CODE;
	regs->rdi = DATA;
	regs->rsp = STACK_TOP;
	regs->rflags = 0x202; /* IF on (the program's CLI clears it; nothing injects here), no TF */
	regs->rbx = regs->rsi = regs->r8 = regs->r9 = regs->r12 = regs->r13 = regs->r14 = regs->r15 = 0;
	regs->rbp = 0;
	CHECK_EQ(vcpu_set_regs(vm, regs), 0);
}

static bool regs_same(const struct kvm_regs *a, const struct kvm_regs *b)
{
	struct kvm_regs x = *a, y = *b;
	x.rflags &= ~0x10100ull; /* TF, RF: the step's */
	y.rflags &= ~0x10100ull;
	return !memcmp(&x, &y, sizeof(x));
}

static void dump(const char *what, const struct kvm_regs *r)
{
	fprintf(stderr, "%s: rip %#llx rflags %#llx rax %#llx rcx %#llx rdx %#llx rbx %#llx rsp %#llx rbp %#llx rsi %#llx rdi %#llx\n"
			"  r8 %#llx r9 %#llx r10 %#llx r11 %#llx r12 %#llx r13 %#llx r14 %#llx r15 %#llx\n",
		what, r->rip, r->rflags, r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi, r->r8,
		r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15);
}

static struct vm vm;
static struct run_config cfg;

static void boot(void)
{
	char guest[512];
	snprintf(guest, sizeof(guest), "%s/hello.elf", guest_dir);
	char *argv[] = { "test", "--serial", "/dev/null", "--timeout", "60", guest, NULL };
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	CHECK_EQ(cli_parse_run(6, argv, &cfg), 0);
	CHECK_EQ(cli_boot(&cfg, &vm, NULL, NULL), 0);
	/* To the guest's first exit (a serial write in 64-bit code), done. */
	CHECK_EQ(kvm_test_run(&vm), KVM_EXIT_IO);
	CHECK_EQ(vcpu_settle(&vm, true) >= 0, 1);
}

static void test_steps(void)
{
	struct kvm_regs regs, mine, got;
	struct kvm_sregs s;
	unsigned steps = 0, by_hand = 0, stores = 0, mismatches = 0;
	uint64_t hlt = CODE + (uint64_t)(qr_prog_hlt - qr_prog);

	setup(&vm, &regs);
	CHECK_EQ(vcpu_get_sregs(&vm, &s), 0);
	CHECK_EQ(vcpu_set_guest_debug(&vm, KVM_GUESTDBG_SINGLESTEP, NULL), 0);
	for (;;) {
		CHECK_EQ(vcpu_get_regs(&vm, &regs), 0);
		if (regs.rip == hlt)
			break;
		if (steps > 100000) {
			CHECK(!"the program never reached its HLT");
			break;
		}
		uint8_t b[15];
		size_t n = vm_fetch_quiet(&vm, &s, regs.rip, b, sizeof(b));
		struct quickstep q;
		struct logged l = { &vm, &s, 0, { 0 }, { 0 }, { 0 } };
		const struct quickstep_mem mem = { log_load, &l, log_store, s.fs.base, s.gs.base };
		mine = regs;
		bool done = quickstep_decode(b, n, &q) == 0 && quickstep_apply(&q, &mine, &mem) == 0;
		int reason = kvm_test_run(&vm);
		CHECK_EQ(reason, KVM_EXIT_DEBUG);
		if (reason != KVM_EXIT_DEBUG)
			break;
		steps++;
		if (!done)
			continue;
		by_hand++;
		CHECK_EQ(vcpu_get_regs(&vm, &got), 0);
		bool same = regs_same(&mine, &got);
		for (unsigned i = 0; i < l.n; i++) {
			uint64_t v = 0;
			CHECK_EQ(vm_load_quiet(&vm, &s, l.gva[i], &v, l.size[i]), 0);
			uint64_t mask = l.size[i] == 8 ? ~0ull : (1ull << (8 * l.size[i])) - 1;
			if (q.kind == QS_PUSHF)
				mask &= ~0x10100ull; /* TF, RF: the single step's own (SVM sets TF for it) */
			if ((v & mask) != (l.val[i] & mask))
				same = false;
			stores++;
		}
		if (!same && mismatches++ < 5) {
			fprintf(stderr, "step %u at %#llx (bytes %02x %02x %02x %02x): by hand differs from the CPU\n",
				steps, (unsigned long long)regs.rip, b[0], b[1], b[2], b[3]);
			dump("before ", &regs);
			dump("by hand", &mine);
			dump("CPU    ", &got);
		}
	}
	CHECK_EQ(vcpu_set_guest_debug(&vm, 0, NULL), 0);
	printf("%u steps, %u of them also by hand (%u stores), %u differ\n", steps, by_hand, stores, mismatches);
	CHECK_EQ(mismatches, 0);
	/* Everything but the XCHG (once per pass). */
	CHECK(steps > 48 * 50);
	CHECK_EQ(steps - by_hand, 48u);
}

static void test_whole(void)
{
	struct kvm_regs start, mine, got;
	struct kvm_sregs s;
	uint64_t hlt = CODE + (uint64_t)(qr_prog_hlt - qr_prog), done = 0;
	uint8_t mem_mine[256], mem_cpu[256];

	/* By hand: it stops before each XCHG; that is done
	 * by a real step, as a replay does. */
	setup(&vm, &start);
	CHECK_EQ(vcpu_get_sregs(&vm, &s), 0);
	mine = start;
	unsigned runs = 0, real_steps = 0;
	uint64_t insns = 0;
	struct timespec t0, t1;
	double ns = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct quickrun qr;
		quickrun_begin(&qr, &vm, &s, true, NULL);
		enum quickrun_end end = quickrun(&qr, &mine, hlt, 1000000, &done);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns += (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
		insns += done;
		runs++;
		if (end == QR_AT_STOP || mine.rip == hlt)
			break;
		CHECK_EQ(end, QR_REFUSED);
		if (end != QR_REFUSED || runs > 1000)
			break;
		/* One real step over what it refused. */
		CHECK_EQ(vcpu_set_regs(&vm, &mine), 0);
		CHECK_EQ(vcpu_set_guest_debug(&vm, KVM_GUESTDBG_SINGLESTEP, NULL), 0);
		CHECK_EQ(kvm_test_run(&vm), KVM_EXIT_DEBUG);
		CHECK_EQ(vcpu_set_guest_debug(&vm, 0, NULL), 0);
		CHECK_EQ(vcpu_get_regs(&vm, &mine), 0);
		mine.rflags &= ~0x10100ull;
		real_steps++;
	}
	memcpy(mem_mine, vm_gpa_ptr(&vm, DATA, 256), 256);
	printf("by hand: %" PRIu64 " instructions in %u runs (%.0f ns each), %u real steps\n", insns, runs,
	       ns / (double)insns, real_steps);
	CHECK_EQ(mine.rip, hlt);
	CHECK_EQ(real_steps, 48u);

	/* The CPU, from the same start. */
	setup(&vm, &start);
	CHECK_EQ(kvm_test_run(&vm), KVM_EXIT_HLT);
	CHECK_EQ(vcpu_get_regs(&vm, &got), 0);
	memcpy(mem_cpu, vm_gpa_ptr(&vm, DATA, 256), 256);
	CHECK_EQ(got.rip, hlt + 1); /* after the HLT */
	got.rip = hlt;
	CHECK(regs_same(&mine, &got));
	if (!regs_same(&mine, &got)) {
		dump("by hand", &mine);
		dump("CPU    ", &got);
	}
	CHECK(!memcmp(mem_mine, mem_cpu, 256));
	/* And the program's values depend on every pass: not all zero. */
	CHECK(got.r10 != 0 || got.r11 != 0);
}

int main(int argc, char **argv)
{
	guest_dir = kvm_test_start(argc, argv, "test_quickrun", "GUEST_DIR");
	boot();
	RUN_TEST(test_steps);
	RUN_TEST(test_whole);
	vm_destroy(&vm);
	cli_free_run(&cfg);
	return TEST_EXIT();
}
