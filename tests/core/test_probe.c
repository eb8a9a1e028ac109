/* Tests for core/probe.c: the probe VM runs its code and reports exits, bad
 * arguments are refused, and the debugging probe agrees with what is known
 * of the host (PVM: single steps and execution breakpoints but no data
 * breakpoints, measured in shared/HOST-NOTES.md; VMX/SVM: execution and
 * data breakpoints come together, both or neither).  Needs /dev/kvm: where
 * the device exists and cannot be opened, the test fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/msr.h"
#include "core/probe.h"
#include "core/ptrap.h"
#include "core/vm.h"
#include "testlib.h"

static int kvm_fd = -1;

static void test_probe_runs_code(void)
{
	/* mov al,0x5a; out 0x80,al; hlt (16-bit) */
	static const uint8_t code[] = { 0xb0, 0x5a, 0xe6, 0x80, 0xf4 };
	struct kvm_probe p;

	CHECK_EQ(kvm_probe_open(&p, kvm_fd, code, sizeof(code)), 0);
	CHECK_EQ(kvm_probe_run(&p, NULL), 0);
	CHECK_EQ(p.run->exit_reason, KVM_EXIT_IO);
	CHECK_EQ(p.run->io.port, 0x80);
	CHECK_EQ(p.run->io.direction, KVM_EXIT_IO_OUT);
	CHECK_EQ(*((uint8_t *)p.run + p.run->io.data_offset), 0x5a);
	CHECK_EQ(kvm_probe_run(&p, NULL), 0);
	CHECK_EQ(p.run->exit_reason, KVM_EXIT_HLT);
	kvm_probe_close(&p);
	kvm_probe_close(&p); /* twice is harmless */
}

static void test_probe_bad_args(void)
{
	static uint8_t big[4096];
	struct kvm_probe p;

	CHECK_EQ(kvm_probe_open(&p, -1, big, 4), -EINVAL);
	CHECK_EQ(kvm_probe_open(&p, kvm_fd, big, sizeof(big)), -EINVAL);
	struct kvm_debug_caps c = { true, true, true, true };
	kvm_probe_debug(-1, &c);
	CHECK(!c.step && !c.exec && !c.data && !c.patch);
}

static void test_probe_debug_matches_host(void)
{
	struct kvm_debug_caps c;
	enum kvm_flavour f = kvm_probe_flavour();

	kvm_probe_debug(kvm_fd, &c);
	printf("host %s: single step %d, execution breakpoints %d, data breakpoints %d\n", kvm_flavour_name(f),
	       c.step, c.exec, c.data);
	CHECK(c.step);
	CHECK(c.patch); /* no in-kernel irqchip: every host hands HLT to ttvm */
	if (f == KVM_FLAVOUR_PVM) {
		CHECK(c.exec);
		CHECK(!c.data);
	} else {
		CHECK_EQ(c.exec, c.data);
	}
}

/* A patch trap put on an RDMSR that exited to user space and is not yet
 * finished: ptrap_apply() has KVM finish it first.  Where KVM has no NRIPS
 * (the SVM test host: QEMU's SVM) it finds the instruction's end by
 * decoding the bytes at RIP at the next KVM_RUN, and read the trap's HLT
 * there: RIP went on one byte into the RDMSR (CI, rr-msr-loop: a loop
 * probe the scout had put on the RDMSR). */
static void test_trap_on_pending_rdmsr(void)
{
	/* mov ecx,0x10; rdmsr; hlt (16-bit) */
	static const uint8_t code[] = { 0x66, 0xb9, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x32, 0xf4 };
	const uint64_t at = PROBE_RIP + 6;
	struct kvm_probe p;

	CHECK_EQ(kvm_probe_open(&p, kvm_fd, code, sizeof(code)), 0);
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = p.vm_fd;
	vm->vcpu_fd = p.vcpu_fd;
	vm->run = p.run;
	vm->run_size = p.run_size;
	vm->ram = p.mem;
	vm->ram_size = vm->low_size = 4096;
	CHECK_EQ(msr_setup(vm, true), 0);
	if (!vm->msr_filter) {
		printf("no user-space MSR exits on this host: nothing to test\n");
		goto out;
	}
	CHECK_EQ(kvm_probe_run(&p, NULL), 0);
	CHECK_EQ(p.run->exit_reason, KVM_EXIT_X86_RDMSR);
	CHECK_EQ(p.run->msr.index, 0x10);
	p.run->msr.data = 0x1122334455667788ull;
	p.run->msr.error = 0;
	CHECK_EQ(ptrap_add(&vm->ptraps, at, PTRAP_PROBE), 0);
	CHECK_EQ(ptrap_apply(vm, &vm->ptraps, PTRAP_PROBE), 1u);
	CHECK_EQ(p.mem[at], PTRAP_HLT);
	CHECK_EQ(kvm_probe_run(&p, NULL), 0);
	ptrap_remove(vm, &vm->ptraps);
	CHECK_EQ(p.mem[at], 0x0f);
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	CHECK_EQ(ioctl(p.vcpu_fd, KVM_GET_REGS, &regs), 0);
	/* The guest's own HLT after the RDMSR, with the value in EDX:EAX. */
	CHECK_EQ(p.run->exit_reason, KVM_EXIT_HLT);
	CHECK_EQ(regs.rip, PROBE_RIP + sizeof(code));
	CHECK_EQ(regs.rax & 0xffffffffu, 0x55667788u);
	CHECK_EQ(regs.rdx & 0xffffffffu, 0x11223344u);
out:
	free(vm);
	kvm_probe_close(&p);
}

int main(void)
{
	if (access(kvm_device_path(), F_OK) != 0) {
		printf("SKIP: no %s\n", kvm_device_path());
		return 77;
	}
	kvm_fd = open(kvm_device_path(), O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stderr, "FAIL: cannot open %s\n", kvm_device_path());
		return 1;
	}
	RUN_TEST(test_probe_runs_code);
	RUN_TEST(test_probe_bad_args);
	RUN_TEST(test_probe_debug_matches_host);
	RUN_TEST(test_trap_on_pending_rdmsr);
	close(kvm_fd);
	return TEST_EXIT();
}
