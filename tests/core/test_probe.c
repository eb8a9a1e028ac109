/* Tests for core/probe.c: the probe VM runs its code and reports exits, bad
 * arguments are refused, and the debugging probe agrees with what is known
 * of the host (PVM: single steps and execution breakpoints but no data
 * breakpoints, measured in shared/HOST-NOTES.md; VMX/SVM: execution and
 * data breakpoints come together, both or neither).  Needs /dev/kvm: where
 * the device exists and cannot be opened, the test fails. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/probe.h"
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
	close(kvm_fd);
	return TEST_EXIT();
}
