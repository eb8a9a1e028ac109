/* The base of struct vm (core/vm.h) that needs no devices and no KVM objects
 * of its own: host probe, checked guest-physical access, stop requests,
 * register access.  Kept apart from vm.c so unit tests can use it on a bare
 * struct vm.  (The machine state as a blob, vm_state_*, is core/snapshot.c.) */
#include "core/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

int ttvm_verbosity;

const char *kvm_device_path(void)
{
	const char *p = getenv("TTVM_KVM_DEVICE");
	return p && *p ? p : "/dev/kvm";
}

static bool param_on(const char *path)
{
	char v[8] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool on = fgets(v, sizeof(v), f) && (v[0] == 'Y' || v[0] == 'y' || v[0] == '1');
	fclose(f);
	return on;
}

bool kvm_host_tdp(void)
{
	static int tdp = -1;
	if (tdp < 0)
		tdp = param_on("/sys/module/kvm_intel/parameters/ept") || param_on("/sys/module/kvm_amd/parameters/npt");
	return tdp == 1;
}

const char *kvm_unusable_reason(int err)
{
	static char buf[160];
	const char *custom = getenv("TTVM_KVM_DEVICE");

	switch (err) {
	case ENOENT:
		if (custom && *custom)
			return "no such device node (TTVM_KVM_DEVICE)";
		/* /sys/module/kvm is there whenever KVM is built in or loaded;
		 * /sys/class/misc/kvm only when it registered its device, which
		 * it does not without VT-x/AMD-V (or PVM). */
		if (access("/sys/module/kvm", F_OK) != 0)
			return "the KVM module is not loaded (modprobe kvm_intel or kvm_amd; needs VT-x or AMD-V)";
		if (access("/sys/class/misc/kvm", F_OK) != 0)
			return "KVM is in the kernel but offers no device (no usable VT-x or AMD-V on this host)";
		return "the KVM device has no node in /dev (mknod /dev/kvm c 10 232, or start udev)";
	case EACCES:
	case EPERM:
		return "no permission (run as root or join the group that owns it, usually kvm)";
	default:
		snprintf(buf, sizeof(buf), "cannot open it: %s", strerror(err));
		return buf;
	}
}

enum kvm_flavour kvm_probe_flavour(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return KVM_FLAVOUR_PVM;
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return KVM_FLAVOUR_VMX;
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return KVM_FLAVOUR_SVM;
	if (access("/sys/module/kvm", F_OK) == 0)
		return KVM_FLAVOUR_OTHER;
	return KVM_FLAVOUR_NONE;
}

const char *kvm_flavour_name(enum kvm_flavour f)
{
	switch (f) {
	case KVM_FLAVOUR_VMX: return "VMX";
	case KVM_FLAVOUR_SVM: return "SVM";
	case KVM_FLAVOUR_PVM: return "PVM";
	case KVM_FLAVOUR_OTHER: return "unknown";
	default: return "none";
	}
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	if (vm->stop)
		return; /* the first reason wins */
	vm->stop = true;
	vm->status = status;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
}

void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	if (end <= vm->low_size)
		return vm->ram + gpa;
	if (gpa >= VM_HIGH_START && end - VM_HIGH_START <= vm->high_size)
		return vm->ram + vm->low_size + (gpa - VM_HIGH_START);
	return NULL;
}

bool vm_text_site(struct vm *vm, uint64_t gpa)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	size_t lo = 0, hi = vm->ntext_sites;

	while (lo < hi) { /* the first site that ends after gpa */
		size_t mid = lo + (hi - lo) / 2;
		if (vm->text_sites[mid].gpa + vm->text_sites[mid].len <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < vm->ntext_sites && vm->text_sites[lo].gpa <= gpa)
		return true;
	const uint8_t *p = vm->linux_guest ? vm_gpa_ptr(vm, gpa, sizeof(nop5)) : NULL;
	return p && memcmp(p, nop5, sizeof(nop5)) == 0;
}

int vcpu_get_regs(struct vm *vm, struct kvm_regs *regs)
{
	if (vm->sync_regs && vm->run && (vm->run->kvm_valid_regs & KVM_SYNC_X86_REGS)) {
		*regs = vm->run->s.regs.regs;
		return 0;
	}
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, regs) < 0)
		return -errno;
	return 0;
}

int vcpu_set_regs(struct vm *vm, const struct kvm_regs *regs)
{
	/* With sync regs, KVM takes them at the next KVM_RUN (no ioctl: a
	 * replay search sets registers at most guest entries). */
	if (vm->sync_regs && vm->run) {
		vm->run->s.regs.regs = *regs;
		vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return 0;
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	return 0;
}

int vcpu_flush_regs(struct vm *vm)
{
	if (!vm->run || !(vm->run->kvm_dirty_regs & KVM_SYNC_X86_REGS))
		return 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &vm->run->s.regs.regs) < 0)
		return -errno;
	vm->run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_REGS;
	return 0;
}

static volatile sig_atomic_t signals_seen;

void vm_signal_seen(void)
{
	signals_seen++;
}

int vcpu_settle(struct vm *vm, bool always)
{
	struct kvm_run *run = vm->run;
	uint32_t reason = run->exit_reason;

	if (!always && reason != KVM_EXIT_IO && reason != KVM_EXIT_MMIO && reason != KVM_EXIT_X86_RDMSR &&
	    reason != KVM_EXIT_X86_WRMSR)
		return 0;
	uint8_t if_flag = run->if_flag, ready = run->ready_for_interrupt_injection;
	uint8_t kick = run->immediate_exit;
	sig_atomic_t signals = signals_seen;
	run->immediate_exit = 1;
	int r = vcpu_run(vm);
	int e = errno;
	run->immediate_exit = kick || signals_seen != signals;
	run->exit_reason = reason;
	run->if_flag = if_flag;
	run->ready_for_interrupt_injection = ready;
	/* 0: a debug exit (single step on) from the completion's own skip. */
	if (r < 0 && e != EINTR && e != EAGAIN) {
		log_error("KVM_RUN to finish a pending access (exit %u): %s", (unsigned)reason, strerror(e));
		return -e;
	}
	run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_REGS;
	return 1;
}

int vcpu_get_sregs(struct vm *vm, struct kvm_sregs *sregs)
{
	if (vm->sregs_cached) {
		*sregs = vm->sregs_cache;
		return 0;
	}
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, sregs) < 0)
		return -errno;
	vm->sregs_cache = *sregs;
	vm->sregs_cached = true;
	return 0;
}

void vcpu_state_changed(struct vm *vm)
{
	vm->sregs_cached = false;
}

int vcpu_run(struct vm *vm)
{
	vcpu_state_changed(vm);
	int r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	int e = errno;
	/* KVM stores the sync area on every way out of KVM_RUN. */
	if (vm->sync_sregs) {
		vm->sregs_cache = vm->run->s.regs.sregs;
		vm->sregs_cached = true;
	}
	errno = e;
	return r;
}

int vcpu_interrupt(struct vm *vm, uint8_t vector)
{
	struct kvm_interrupt irq = { .irq = vector };

	vcpu_state_changed(vm); /* sregs' interrupt bitmap */
	if (vcpu_flush_regs(vm) < 0 || ioctl(vm->vcpu_fd, KVM_INTERRUPT, &irq) < 0) {
		int r = -errno;
		vm_request_stop(vm, ST_HOST, "KVM_INTERRUPT: %s", strerror(errno));
		return r;
	}
	vm->run->request_interrupt_window = 0;
	/* On a patch trap just hit: the interrupt goes in before its
	 * instruction, so no step over it; back from the handler, the guest
	 * meets the trap again (a new hit, in record and replay alike).
	 * Stepping while an interrupt is delivered would also leave TF in
	 * the interrupt frame. */
	vm->ptraps.skip = false;
	return 0;
}

int vcpu_set_sregs(struct vm *vm, const struct kvm_sregs *sregs)
{
	vcpu_state_changed(vm);
	if (vcpu_flush_regs(vm) < 0 || ioctl(vm->vcpu_fd, KVM_SET_SREGS, sregs) < 0)
		return -errno;
	return 0;
}

uint32_t vcpu_guest_debug_control(const struct vm *vm, uint32_t extra_control)
{
	uint32_t c = vm->guest_debug_keep | extra_control;
	return c ? c | KVM_GUESTDBG_ENABLE : 0;
}

int vcpu_set_guest_debug(struct vm *vm, uint32_t extra_control, const struct kvm_guest_debug_arch *hw)
{
	struct kvm_guest_debug dbg;

	memset(&dbg, 0, sizeof(dbg));
	dbg.control = vcpu_guest_debug_control(vm, extra_control);
	if (hw)
		dbg.arch = *hw;
	/* KVM notes the RIP a single step starts from here (singlestep_rip:
	 * TF is kept set only there): registers first. */
	if (vcpu_flush_regs(vm) < 0 || ioctl(vm->vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		return -errno;
	return 0;
}

/* One MSR through KVM_GET_MSRS / KVM_SET_MSRS (which return how many they
 * did): a struct kvm_msrs with room for one entry. */
#define ONE_MSR_SIZE (sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry))

int vcpu_get_msr(struct vm *vm, uint32_t index, uint64_t *data)
{
	_Alignas(struct kvm_msrs) uint8_t buf[ONE_MSR_SIZE] = { 0 };
	struct kvm_msrs *m = (struct kvm_msrs *)buf;

	m->nmsrs = 1;
	m->entries[0].index = index;
	if (ioctl(vm->vcpu_fd, KVM_GET_MSRS, m) != 1)
		return -EIO;
	*data = m->entries[0].data;
	return 0;
}

int vcpu_set_msr(struct vm *vm, uint32_t index, uint64_t data)
{
	_Alignas(struct kvm_msrs) uint8_t buf[ONE_MSR_SIZE] = { 0 };
	struct kvm_msrs *m = (struct kvm_msrs *)buf;

	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = data;
	vcpu_state_changed(vm); /* EFER, APIC base */
	if (vcpu_flush_regs(vm) < 0)
		return -EIO;
	return ioctl(vm->vcpu_fd, KVM_SET_MSRS, m) == 1 ? 0 : -EIO;
}

int vcpu_inject_exception(struct vm *vm, uint8_t nr, bool has_error_code, uint32_t error_code)
{
	struct kvm_vcpu_events ev;

	if (vcpu_flush_regs(vm) < 0 || ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.pending = 0;
	ev.exception.nr = nr;
	ev.exception.has_error_code = has_error_code;
	ev.exception.error_code = error_code;
	vcpu_state_changed(vm);
	if (ioctl(vm->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

int vcpu_reinject_bp(struct vm *vm)
{
	/* RIP stays at the INT3: #BP is a soft exception, for which VMX (the
	 * instruction length it saved at the exit) and SVM (NextRIP, by
	 * decoding the instruction) push the address after it, as the guest's
	 * handler expects.  The flags KVM returned are given back unchanged. */
	return vcpu_inject_exception(vm, 3, false, 0);
}
