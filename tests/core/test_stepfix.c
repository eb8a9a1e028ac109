/* core/stepfix.h through real KVM: a single step over an instruction that
 * page-faults.  KVM steps with TF in the guest's RFLAGS, so the fault's
 * frame holds RFLAGS with TF; the delivery clears TF and the step's run
 * goes on into the handler until its first exit.  stepfix_plan() must arm
 * for that frame and stepfix_apply() take TF out of it, or the handler's
 * IRET sets TF again and the guest takes a #DB of its own (a recorded
 * Linux kernel WARNed in exc_debug that way).
 *
 * The pfstep guest prints its load's address and counts single-step #DBs;
 * this test steps it to the load, steps over
 * the load as record and replay do (plan, KVM_RUN with SINGLESTEP, apply),
 * then lets it run to its end: status 1 and "0 single-step trap(s)".
 * usage: test_stepfix GUEST_DIR   (exit 77 when the host has no /dev/kvm) */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/exit.h"
#include "core/run.h"
#include "core/stepfix.h"
#include "core/vm.h"
#include "kvmtest.h"
#include "testlib.h"

static const char *guest_dir;
static char tmpdir[] = "/tmp/ttvm-stepfix-XXXXXX";

/* One KVM_RUN (EINTR retried) and, unless it was a debug exit, the exit's
 * dispatch as vm_run does it.  The exit reason, or -1. */
static int run_once(struct vm *vm)
{
	while (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
	}
	int reason = (int)vm->run->exit_reason;
	vm->exits++;
	if (reason != KVM_EXIT_DEBUG)
		exit_dispatch(vm);
	return reason;
}

/* The load's address, from the guest's "pfstep: load at 0x..." line. */
static uint64_t load_address(const char *serial)
{
	char line[256];
	uint64_t at = 0;
	FILE *f = fopen(serial, "r");

	while (f && fgets(line, sizeof(line), f))
		if (strchr(line, '\n') && sscanf(line, "pfstep: load at 0x%" SCNx64, &at) == 1)
			break; /* a whole line only */
	if (f)
		fclose(f);
	return at;
}

static void test_faulting_step(void)
{
	char guest[512], serial[512];
	struct run_config cfg;
	struct vm vm;

	snprintf(guest, sizeof(guest), "%s/pfstep.elf", guest_dir);
	snprintf(serial, sizeof(serial), "%s/serial", tmpdir);
	char *argv[] = { "test", "--serial", serial, "--timeout", "30", guest, NULL };
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	CHECK_EQ(cli_parse_run(6, argv, &cfg), 0);
	CHECK_EQ(cli_boot(&cfg, &vm, NULL, NULL), 0);

	/* Up to the line that names the load (the guest has not run it yet:
	 * the line's last byte is an exit). */
	uint64_t at = 0;
	for (int i = 0; i < 100000 && !vm.stop && !at; i++) {
		if (run_once(&vm) < 0)
			break;
		fflush(vm.serial_out);
		at = load_address(serial);
	}
	CHECK(at != 0);
	printf("load at %#" PRIx64 "\n", at);

	/* On to the load by single steps (the SVM test host has no debug
	 * registers that fire): the end of rt_printf and main's next lines. */
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	CHECK_EQ(vcpu_set_guest_debug(&vm, KVM_GUESTDBG_SINGLESTEP, NULL), 0);
	for (int i = 0; i < 100000 && !vm.stop && regs.rip != at; i++)
		if (run_once(&vm) < 0 || vcpu_get_regs(&vm, &regs))
			break;
	CHECK_EQ(vcpu_set_guest_debug(&vm, 0, NULL), 0);
	CHECK_EQ(vcpu_get_regs(&vm, &regs), 0);
	CHECK_EQ(regs.rip, at);

	/* The step over the load, as record and replay make it. */
	struct stepfix fx;
	stepfix_plan(&vm, false, 0, &fx);
	CHECK(fx.armed);
	CHECK_EQ(vcpu_set_guest_debug(&vm, KVM_GUESTDBG_SINGLESTEP, NULL), 0);
	int reason = run_once(&vm);
	CHECK_EQ(vcpu_get_regs(&vm, &regs), 0);
	printf("step ended with exit %d at %#llx\n", reason, (unsigned long long)regs.rip);
	/* Not at the next instruction: the fault's delivery cleared TF.  VMX
	 * and SVM run the handler on to its first exit (a serial write);
	 * PVM reports a step at the handler's first instruction.  Either
	 * way the fault's frame is on the stack, with TF in its RFLAGS. */
	CHECK(reason == KVM_EXIT_IO || reason == KVM_EXIT_DEBUG);
	CHECK(regs.rip != at);
	int fixed = stepfix_apply(&vm, &fx);
	printf("stepfix_apply: %d\n", fixed);
	CHECK_EQ(fixed, 1);
	CHECK_EQ(vcpu_set_guest_debug(&vm, 0, NULL), 0);

	int st = vm_run(&vm);
	fflush(vm.serial_out);
	char line[256];
	bool clean = false;
	FILE *f = fopen(serial, "r");
	while (f && fgets(line, sizeof(line), f)) {
		fputs(line, stdout);
		clean |= strstr(line, "pfstep: 1 page fault(s), 0 single-step trap(s)") != NULL;
	}
	if (f)
		fclose(f);
	CHECK(clean);
	CHECK_EQ(st, 1);
	vm_destroy(&vm);
	cli_free_run(&cfg);
	unlink(serial);
}

int main(int argc, char **argv)
{
	guest_dir = kvm_test_start(argc, argv, "test_stepfix", "GUEST_DIR");
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN_TEST(test_faulting_step);
	rmdir(tmpdir);
	return TEST_EXIT();
}
