/* vCPU state through kvm_run (core/vm_base.c), on real KVM: registers set
 * with vcpu_set_regs() wait in the sync area for the next KVM_RUN, and the
 * segment registers come from the copy KVM stores there at each exit.
 * - A single step from registers just set must start at the new RIP: KVM
 *   notes the step's RIP when single stepping is switched on and keeps TF
 *   only there, so registers left in the sync area until KVM_RUN would
 *   make the guest run free (vcpu_set_guest_debug() hands them over
 *   first).  Without that, the SVM test host ran the step on to the HLT
 *   (KVM_EXIT_HLT at +3); PVM, whose step does not depend on that RIP,
 *   passes either way.
 * - vcpu_get_sregs() after a KVM_RUN, and after vcpu_set_sregs(), gives
 *   what KVM_GET_SREGS gives.
 * - vcpu_flush_regs() hands KVM the registers before an ioctl reads them.
 * The hello guest is booted and run to its first exit; a few instructions
 * written to free guest RAM are then run from there.
 * usage: test_vcpu_state GUEST_DIR   (exit 77 when the host has no /dev/kvm) */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/vm.h"
#include "kvmtest.h"
#include "testlib.h"

static const char *guest_dir;

/* Free RAM in the guest's identity map, far above the hello guest. */
#define SCRATCH 0x3f00000ull


static bool sregs_agree(struct vm *vm)
{
	struct kvm_sregs a, b;
	if (vcpu_get_sregs(vm, &a) || ioctl(vm->vcpu_fd, KVM_GET_SREGS, &b) < 0)
		return false;
	return !memcmp(&a, &b, sizeof(a));
}

static void test_state(void)
{
	char guest[512];
	struct run_config cfg;
	struct vm vm;
	struct kvm_regs regs, got;

	snprintf(guest, sizeof(guest), "%s/hello.elf", guest_dir);
	char *argv[] = { "test", "--serial", "/dev/null", "--timeout", "30", guest, NULL };
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	CHECK_EQ(cli_parse_run(6, argv, &cfg), 0);
	CHECK_EQ(cli_boot(&cfg, &vm, NULL, NULL), 0);
	printf("sync regs %s, sync sregs %s\n", vm.sync_regs ? "on" : "off", vm.sync_sregs ? "on" : "off");

	/* To the guest's first exit (a serial write in 64-bit code). */
	CHECK_EQ(kvm_test_run(&vm), KVM_EXIT_IO);
	CHECK(sregs_agree(&vm));
	struct kvm_sregs s;
	CHECK_EQ(vcpu_get_sregs(&vm, &s), 0);
	CHECK(vm_code64(&s));

	/* nop; nop; hlt at SCRATCH, RIP there, then one single step. */
	uint8_t *code = vm_gpa_ptr(&vm, SCRATCH, 3);
	CHECK(code != NULL);
	if (!code)
		return;
	memcpy(code, "\x90\x90\xf4", 3);
	CHECK_EQ(vcpu_settle(&vm, true) >= 0, 1); /* the serial write done */
	CHECK_EQ(vcpu_get_regs(&vm, &regs), 0);
	regs.rip = SCRATCH;
	regs.rflags &= ~0x200ull; /* no interrupt in between */
	CHECK_EQ(vcpu_set_regs(&vm, &regs), 0);
	CHECK_EQ(vcpu_get_regs(&vm, &got), 0);
	CHECK_EQ(got.rip, SCRATCH);
	CHECK_EQ(vcpu_set_guest_debug(&vm, KVM_GUESTDBG_SINGLESTEP, NULL), 0);
	int reason = kvm_test_run(&vm);
	CHECK_EQ(vcpu_get_regs(&vm, &got), 0);
	printf("step from %#llx: exit %d at %#llx\n", (unsigned long long)SCRATCH, reason,
	       (unsigned long long)got.rip);
	CHECK_EQ(reason, KVM_EXIT_DEBUG);
	CHECK_EQ(got.rip, SCRATCH + 1);
	if (reason != KVM_EXIT_DEBUG || got.rip != SCRATCH + 1) {
		/* Ran free past the HLT (the SVM test host without the flush
		 * in vcpu_set_guest_debug): nothing below would end. */
		vm_destroy(&vm);
		cli_free_run(&cfg);
		return;
	}
	CHECK(sregs_agree(&vm));
	CHECK_EQ(vcpu_set_guest_debug(&vm, 0, NULL), 0);

	/* Registers set, then read back by an ioctl after the flush. */
	CHECK_EQ(vcpu_get_regs(&vm, &regs), 0);
	regs.rbx = 0x1122334455667788ull;
	CHECK_EQ(vcpu_set_regs(&vm, &regs), 0);
	CHECK_EQ(vcpu_flush_regs(&vm), 0);
	CHECK_EQ(ioctl(vm.vcpu_fd, KVM_GET_REGS, &got), 0);
	CHECK_EQ(got.rbx, 0x1122334455667788ull);
	CHECK_EQ(got.rip, SCRATCH + 1);

	/* Segment registers set: the copy follows. */
	CHECK_EQ(vcpu_get_sregs(&vm, &s), 0);
	s.cr4 ^= 1ull << 16; /* FSGSBASE */
	CHECK_EQ(vcpu_set_sregs(&vm, &s), 0);
	CHECK(sregs_agree(&vm));
	struct kvm_sregs t;
	CHECK_EQ(vcpu_get_sregs(&vm, &t), 0);
	CHECK_EQ(t.cr4, s.cr4);

	/* The rest runs free to the HLT. */
	CHECK_EQ(kvm_test_run(&vm), KVM_EXIT_HLT);
	CHECK_EQ(vcpu_get_regs(&vm, &got), 0);
	CHECK_EQ(got.rip, SCRATCH + 3);
	CHECK_EQ(got.rbx, 0x1122334455667788ull);
	CHECK(sregs_agree(&vm));
	vm_destroy(&vm);
	cli_free_run(&cfg);
}

int main(int argc, char **argv)
{
	guest_dir = kvm_test_start(argc, argv, "test_vcpu_state", "GUEST_DIR");
	RUN_TEST(test_state);
	return TEST_EXIT();
}
