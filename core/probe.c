/* Probing the host's KVM with a throwaway VM (see probe.h). */
#include "core/probe.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"

#define PAGE 4096u
#define DR6_B(slot) (1ull << (slot))
#define DB_VECTOR 1

int kvm_probe_open(struct kvm_probe *p, int kvm_fd, const void *code, size_t len)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	p->vm_fd = p->vcpu_fd = -1;
	p->run = MAP_FAILED;
	p->run_size = -1;
	p->mem = MAP_FAILED;
	if (kvm_fd < 0 || len > PAGE - PROBE_RIP)
		return -EINVAL;
	p->mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED)
		return -errno;
	memcpy(p->mem + PROBE_RIP, code, len);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = PAGE, .userspace_addr = (uintptr_t)p->mem,
	};
	if ((p->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0)) < 0 ||
	    ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
	    (p->vcpu_fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, 0)) < 0 ||
	    (p->run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		goto fail;
	p->run = mmap(NULL, (size_t)p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu_fd, 0);
	if (p->run == MAP_FAILED || ioctl(p->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = PROBE_RIP;
	regs.rflags = 0x2;
	if (ioctl(p->vcpu_fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(p->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	r = errno ? -errno : -EIO;
	kvm_probe_close(p);
	return r;
}

int kvm_probe_run(struct kvm_probe *p, const struct kvm_guest_debug *dbg)
{
	if (dbg && ioctl(p->vcpu_fd, KVM_SET_GUEST_DEBUG, dbg) < 0)
		return -errno;
	if (ioctl(p->vcpu_fd, KVM_RUN, 0) < 0)
		return -errno;
	return 0;
}

void kvm_probe_close(struct kvm_probe *p)
{
	if (p->run != MAP_FAILED)
		munmap(p->run, (size_t)p->run_size);
	if (p->vcpu_fd >= 0)
		close(p->vcpu_fd);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
	if (p->mem != MAP_FAILED)
		munmap(p->mem, PAGE);
	p->run = MAP_FAILED;
	p->mem = MAP_FAILED;
	p->vcpu_fd = p->vm_fd = -1;
}

/* Run the probe code with debug register 0 set to (addr, DR7 type bits rw
 * and length bits ln): true when the first exit is a #DB debug exit that
 * names DR0 in DR6 (and, for an execution breakpoint, the address as pc). */
static bool dr0_fires(int kvm_fd, const uint8_t *code, size_t len, uint64_t addr, unsigned rw, unsigned ln)
{
	struct kvm_probe p;
	struct kvm_guest_debug dbg;
	bool ok = false;

	if (kvm_probe_open(&p, kvm_fd, code, len))
		return false;
	memset(&dbg, 0, sizeof(dbg));
	dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
	dbg.arch.debugreg[0] = addr;
	dbg.arch.debugreg[7] = DR7_FIXED | 1u | (uint64_t)rw << 16 | (uint64_t)ln << 18;
	if (kvm_probe_run(&p, &dbg) == 0) {
		struct kvm_run *run = p.run;
		ok = run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == DB_VECTOR &&
		     (run->debug.arch.dr6 & DR6_B(0)) && (rw != 0 || run->debug.arch.pc == addr);
		log_debug("probe: DR0 %#llx type %u: exit %u, exception %u, dr6 %#llx, pc %#llx",
			  (unsigned long long)addr, rw, run->exit_reason, run->debug.arch.exception,
			  (unsigned long long)run->debug.arch.dr6, (unsigned long long)run->debug.arch.pc);
	}
	kvm_probe_close(&p);
	return ok;
}

/* Two single steps over the probe code: true when each stops after one
 * instruction. */
static bool steps_work(int kvm_fd, const uint8_t *code, size_t len)
{
	struct kvm_probe p;
	struct kvm_guest_debug dbg;
	bool ok = true;

	if (kvm_probe_open(&p, kvm_fd, code, len))
		return false;
	memset(&dbg, 0, sizeof(dbg));
	dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	for (uint64_t want = PROBE_RIP + 1; want <= PROBE_RIP + 2 && ok; want++) {
		ok = kvm_probe_run(&p, &dbg) == 0;
		if (!ok)
			break;
		struct kvm_run *run = p.run;
		ok = run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == DB_VECTOR &&
		     run->debug.arch.pc == want;
		log_debug("probe: single step: exit %u, exception %u, dr6 %#llx, pc %#llx (want %#llx)",
			  run->exit_reason, run->debug.arch.exception, (unsigned long long)run->debug.arch.dr6,
			  (unsigned long long)run->debug.arch.pc, (unsigned long long)want);
	}
	kvm_probe_close(&p);
	return ok;
}

/* Patch traps: the probe code with its second nop replaced by HLT runs to
 * a HLT exit with RIP just past the patched byte. */
static bool patch_exits(int kvm_fd, const uint8_t *code, size_t len)
{
	struct kvm_probe p;
	uint8_t patched[16];

	if (len > sizeof(patched))
		return false;
	memcpy(patched, code, len);
	patched[1] = 0xf4;
	if (kvm_probe_open(&p, kvm_fd, patched, len))
		return false;
	bool ok = kvm_probe_run(&p, NULL) == 0 && p.run->exit_reason == KVM_EXIT_HLT;
	struct kvm_regs regs;
	ok = ok && ioctl(p.vcpu_fd, KVM_GET_REGS, &regs) == 0 && regs.rip == PROBE_RIP + 2;
	log_debug("probe: patched HLT: exit %u, %s", p.run->exit_reason, ok ? "RIP past it" : "not as expected");
	kvm_probe_close(&p);
	return ok;
}

void kvm_probe_debug(int kvm_fd, struct kvm_debug_caps *caps)
{
	/* nop; nop; mov [0x800],al; hlt (16-bit code) */
	static const uint8_t code[] = { 0x90, 0x90, 0xa2, 0x00, 0x08, 0xf4 };

	caps->step = steps_work(kvm_fd, code, sizeof(code));
	caps->exec = dr0_fires(kvm_fd, code, sizeof(code), PROBE_RIP + 1, 0, 0);
	caps->data = dr0_fires(kvm_fd, code, sizeof(code), 0x800, 1, 0);
	caps->patch = patch_exits(kvm_fd, code, sizeof(code));
}
