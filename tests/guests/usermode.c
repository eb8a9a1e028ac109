/* usermode: sets up a TSS (RSP0), drops to CPL3 with IRETQ and runs a long
 * native loop there with the PIT interrupting it at 1000 Hz; the user code
 * also executes a privileged instruction (cli: #GP, skipped by the kernel)
 * and calls the kernel to print a string and finally to hand back its
 * result, which the kernel prints.  Calls use int $0x80 through a DPL3
 * gate; under PVM INT n at CPL3 raises #UD instead, so the #UD handler
 * recognises the instruction (cd 80) and makes the same call.  With
 * "syscall=1" on the command line they use SYSCALL/SYSRETQ (which never
 * reaches LSTAR under PVM: VMX/SVM hosts only).
 * The user code executes an INT3 of its own, which must reach the guest's
 * #BP handler (DPL3 gate) whatever ttvm does with INT3s.  With
 * "cpl3-rdtsc=1" it also reads the TSC at CPL3, which ttvm traps with INT3
 * on VMX/SVM; the I/O-exit trap used on PVM raises #GP there (IOPL 0, no
 * I/O bitmap), so PVM hosts cannot run that case.
 * On PVM, CPL3 code runs natively: this is the guest's fast path. */
#include "rt/rt.h"

#define USER_ITERS 50000000u
#define USER_CS 0x23
#define USER_DS 0x1b
#define TSS_SEL 0x28

#define SYS_PUTS 1
#define SYS_DONE 2
#define SYS_TSC 3

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iopb;
} __attribute__((packed));

extern uint64_t rt_gdt[];
static struct tss64 tss;
static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint8_t ustack[16384] __attribute__((aligned(16)));

static volatile uint32_t ticks, user_ticks, user_gps, user_bps, tsc_checked;
static volatile int use_syscall, use_rdtsc; /* read by the CPL3 code too */
/* "cpl3-ticks=0": do not insist on a tick landing at CPL3.  ttvm's recorder
 * on PVM hosts defers interrupts that arrive at CPL3 to the next exit (PVM
 * gives no debug exits there to find the point again in replay). */
static int want_cpl3_ticks = 1;
static volatile uint32_t int80_as_ud;

static void on_tick(struct rt_frame *f)
{
	ticks++;
	if ((f->cs & 3) == 3)
		user_ticks++;
}

static void on_gp(struct rt_frame *f)
{
	const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
	if ((f->cs & 3) != 3)
		rt_fail("#GP at CPL0, ip 0x%lx error 0x%lx", (unsigned long)f->rip, (unsigned long)f->error);
	if (ip[0] != 0xfa)
		rt_fail("#GP at CPL3 at ip 0x%lx, bytes %02x %02x (e6 f0: an RDTSC trapped by an OUT)",
			(unsigned long)f->rip, ip[0], ip[1]);
	user_gps++;
	f->rip += 1; /* the user's one-byte cli */
}

/* The user's INT3: a trap, so RIP is already past the cc byte. */
static void on_bp(struct rt_frame *f)
{
	const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
	if ((f->cs & 3) != 3 || ip[-1] != 0xcc)
		rt_fail("#BP at ip 0x%lx cs 0x%lx", (unsigned long)f->rip, (unsigned long)f->cs);
	user_bps++;
}

/* Both entry paths end here, on the kernel stack (kstack), with
 * interrupts off; returning goes back to CPL3. */
void do_syscall(uint64_t nr, uint64_t arg);
void do_syscall(uint64_t nr, uint64_t arg)
{
	uint64_t rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	if (rsp < (uintptr_t)kstack || rsp >= (uintptr_t)kstack + sizeof(kstack))
		rt_fail("syscall not on the kernel stack (rsp 0x%lx)", (unsigned long)rsp);
	switch (nr) {
	case SYS_PUTS:
		serial_puts((const char *)(uintptr_t)arg);
		return;
	case SYS_TSC:
		/* arg: how far the TSC moved over the user's loop. */
		if (arg == 0)
			rt_fail("rdtsc at CPL3 did not advance");
		tsc_checked = 1;
		return;
	case SYS_DONE:
		cli();
		pic_mask(0);
		pit_stop();
		rt_printf("usermode: result %016lx\n", (unsigned long)arg);
		rt_printf("usermode: %u ticks, %u while at CPL3\n", ticks, user_ticks);
		if (user_gps != 1)
			rt_fail("expected one #GP from the user's cli, got %u", user_gps);
		rt_printf("usermode: cli at CPL3 raised #GP\n");
		if (use_rdtsc && !tsc_checked)
			rt_fail("the user code's TSC reads did not arrive");
		if (use_rdtsc)
			rt_printf("usermode: rdtsc at CPL3 advanced\n");
		if (user_bps != 1)
			rt_fail("expected one #BP from the user's int3, got %u", user_bps);
		rt_printf("usermode: int3 at CPL3 reached the guest\n");
		if (!user_ticks && want_cpl3_ticks)
			rt_fail("no timer interrupt arrived while at CPL3");
		rt_printf("usermode: done\n");
		rt_exit(RT_EXIT_OK);
	default:
		rt_fail("unknown syscall %lu", (unsigned long)nr);
	}
}

static void on_int80(struct rt_frame *f)
{
	if ((f->cs & 3) != 3)
		rt_fail("int $0x80 from CPL%lu", (unsigned long)(f->cs & 3));
	do_syscall(f->rax, f->rdi); /* then IRETQ back to CPL3 */
}

static void on_ud(struct rt_frame *f)
{
	const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
	if ((f->cs & 3) != 3 || ip[0] != 0xcd || ip[1] != 0x80)
		rt_fail("#UD at ip 0x%lx cs 0x%lx", (unsigned long)f->rip, (unsigned long)f->cs);
	if (!int80_as_ud++)
		rt_printf("usermode: int $0x80 raised #UD (PVM), made the call from the #UD handler\n");
	f->rip += 2;
	do_syscall(f->rax, f->rdi);
}

/* SYSCALL entry: no stack switch in hardware, and IF is masked by FMASK,
 * so a single CPU can park the user RSP in a global. */
uint64_t syscall_user_rsp, syscall_kernel_rsp;
void syscall_entry(void);
__asm__(".text\n"
	"syscall_entry:\n\t"
	"movq %rsp, syscall_user_rsp(%rip)\n\t"
	"movq syscall_kernel_rsp(%rip), %rsp\n\t"
	"pushq %rcx\n\t" /* user RIP */
	"pushq %r11\n\t" /* user RFLAGS */
	"movq %rdi, %rsi\n\t"
	"movq %rax, %rdi\n\t"
	"cld\n\t"
	"call do_syscall\n\t"
	"popq %r11\n\t"
	"popq %rcx\n\t"
	"movq syscall_user_rsp(%rip), %rsp\n\t"
	"sysretq\n");

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void syscall_install(void)
{
	syscall_kernel_rsp = (uintptr_t)kstack + sizeof(kstack);
	wrmsr(0xc0000080, rdmsr(0xc0000080) | 1); /* EFER.SCE */
	/* STAR: SYSCALL CS = 0x08 (SS 0x10); SYSRETQ CS = 0x10 + 16 | 3 = 0x23,
	 * SS = 0x10 + 8 | 3 = 0x1b, matching the GDT in entry64.S. */
	wrmsr(0xc0000081, (0x10ull << 48) | (0x08ull << 32));
	wrmsr(0xc0000082, (uintptr_t)syscall_entry); /* LSTAR */
	wrmsr(0xc0000084, 0x700); /* FMASK: IF, TF, DF */
}

/* ---- CPL3 code: calls nothing outside this section ---- */

static inline void user_syscall(uint64_t nr, uint64_t arg)
{
	if (use_syscall)
		__asm__ volatile("syscall" : "+a"(nr), "+D"(arg) : : "rcx", "r11", "memory");
	else
		__asm__ volatile("int $0x80" : "+a"(nr), "+D"(arg) : : "memory");
}

static const char user_hello[] = "usermode: hello from CPL3\n";

static void __attribute__((noreturn, used)) user_main(void)
{
	user_syscall(SYS_PUTS, (uintptr_t)user_hello);
	__asm__ volatile("cli"); /* privileged at IOPL 0: #GP, skipped */
	__asm__ volatile("int3"); /* the guest's own breakpoint */
	uint32_t lo = 0, hi = 0;
	if (use_rdtsc)
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t t0 = (uint64_t)hi << 32 | lo;
	uint64_t x = 1;
	for (uint32_t i = 0; i < USER_ITERS; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	if (use_rdtsc) {
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		user_syscall(SYS_TSC, ((uint64_t)hi << 32 | lo) - t0);
	}
	user_syscall(SYS_DONE, x);
	for (;;)
		;
}

/* ---- CPL0 set-up ---- */

/* rt/entry64.S's page directory for 0-2 MiB: supervisor-only until this
 * guest opens it to its CPL3 code, which runs in place. */
extern uint64_t rt_pd[];

static void open_low_pages_to_cpl3(void)
{
	uint64_t cr3;
	rt_pd[0] |= 4; /* U/S */
	__asm__ volatile("movq %%cr3, %0\n\tmovq %0, %%cr3" : "=r"(cr3) : : "memory");
}

static void tss_install(void)
{
	uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;
	tss.rsp[0] = (uintptr_t)kstack + sizeof(kstack);
	tss.iopb = sizeof(tss); /* no I/O bitmap: IN/OUT at CPL3 fault */
	rt_gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		    ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	rt_gdt[6] = base >> 32;
	__asm__ volatile("ltr %w0" ::"r"(TSS_SEL));
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	use_syscall = cmdline_num(cmdline, "syscall", 0) != 0;
	want_cpl3_ticks = cmdline_num(cmdline, "cpl3-ticks", 1) != 0;
	use_rdtsc = cmdline_num(cmdline, "cpl3-rdtsc", 0) != 0;
	rt_printf("usermode: %u iterations at CPL3 with the PIT at 1000 Hz\n", USER_ITERS);
	rt_printf("usermode: kernel calls through %s\n", use_syscall ? "syscall" : "int $0x80");
	open_low_pages_to_cpl3();
	tss_install();
	syscall_install();
	rt_set_handler(6, on_ud);
	rt_set_handler(13, on_gp);
	rt_set_handler(3, on_bp);
	rt_set_gate_user(3);
	rt_set_handler(0x80, on_int80);
	rt_set_gate_user(0x80);
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	/* IRETQ to CPL3 with IF set: SS, RSP, RFLAGS, CS, RIP. */
	__asm__ volatile("pushq %0\n\t"
			 "pushq %1\n\t"
			 "pushq $0x202\n\t"
			 "pushq %2\n\t"
			 "pushq %3\n\t"
			 "iretq"
			 :
			 : "i"(USER_DS), "r"((uint64_t)(uintptr_t)ustack + sizeof(ustack)),
			   "i"(USER_CS), "r"((uint64_t)(uintptr_t)user_main)
			 : "memory");
	__builtin_unreachable();
}
