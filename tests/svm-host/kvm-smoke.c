/* kvm-smoke: the first check inside the SVM test host that /dev/kvm runs a
 * guest at all, before any ttvm test is blamed.  It runs a few real-mode
 * instructions (two port writes and a HLT) and checks every exit.
 * Built statically so that it needs nothing from the initramfs.
 * Exit status: 0 pass, 1 fail, 77 skip (no /dev/kvm). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_BASE 0x1000u
#define PORT 0x10

static int fail(const char *what)
{
	printf("kvm-smoke: FAIL: %s: %s\n", what, strerror(errno));
	return 1;
}

static const char *vendor(void)
{
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return "kvm_amd";
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return "kvm_intel";
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return "kvm_pvm";
	return "unknown";
}

int main(void)
{
	/* mov $0x42,%al; out %al,$0x10; inc %al; out %al,$0x10; hlt */
	static const uint8_t code[] = { 0xb0, 0x42, 0xe6, PORT, 0xfe, 0xc0,
					0xe6, PORT, 0xf4 };
	const uint8_t want[] = { 0x42, 0x43 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("SKIP: no /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		return fail("KVM_GET_API_VERSION");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memcpy(mem, code, sizeof code);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = GUEST_BASE, .memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = GUEST_BASE, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	unsigned seen = 0;
	for (int i = 0; i < 16; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO) {
			uint8_t v = *((uint8_t *)run + run->io.data_offset);
			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != PORT ||
			    seen >= sizeof want || v != want[seen]) {
				printf("kvm-smoke: FAIL: unexpected out 0x%x to port 0x%x\n",
				       v, run->io.port);
				return 1;
			}
			seen++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT) {
			if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
				return fail("KVM_GET_REGS");
			if (seen != sizeof want || regs.rip != GUEST_BASE + sizeof code) {
				printf("kvm-smoke: FAIL: hlt after %u writes at rip 0x%llx\n",
				       seen, (unsigned long long)regs.rip);
				return 1;
			}
			printf("kvm-smoke: ok (%s, api %d)\n", vendor(), api);
			return 0;
		}
		printf("kvm-smoke: FAIL: exit reason %u\n", run->exit_reason);
		return 1;
	}
	printf("kvm-smoke: FAIL: no HLT after 16 exits\n");
	return 1;
}
