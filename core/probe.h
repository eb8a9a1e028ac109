/* Asking the host's KVM what it really does, with a throwaway one-page
 * real-mode VM: debugging facilities differ between VMX, SVM, PVM and
 * nested set-ups (QEMU's TCG SVM reports success for debug registers that
 * then never fire), and a flag in a capability list does not say. */
#ifndef TTVM_CORE_PROBE_H
#define TTVM_CORE_PROBE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/* A probe VM: RAM is one page at guest-physical 0, code at PROBE_RIP,
 * real mode with CS base 0. */
#define PROBE_RIP 0x100u

/* DR7 bit 10 reads as 1: set it in every value given to KVM. */
#define DR7_FIXED (1ull << 10)

struct kvm_probe {
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	long run_size;
	uint8_t *mem;
};

/* Create a probe VM over kvm_fd running code (len bytes, at PROBE_RIP).
 * 0 or -errno (everything already created is released). */
int kvm_probe_open(struct kvm_probe *p, int kvm_fd, const void *code, size_t len);
/* Set guest debugging to dbg (NULL: leave it) and run until the next exit.
 * 0 (p->run tells the exit) or -errno. */
int kvm_probe_run(struct kvm_probe *p, const struct kvm_guest_debug *dbg);
void kvm_probe_close(struct kvm_probe *p);

/* What guest debugging really delivers on this host. */
struct kvm_debug_caps {
	bool step; /* KVM_GUESTDBG_SINGLESTEP stops after each instruction */
	bool exec; /* KVM_GUESTDBG_USE_HW_BP execution breakpoints fire */
	bool data; /* ... and data write breakpoints */
	bool patch; /* an HLT patched over an instruction exits to ttvm with RIP past it (core/ptrap.h) */
};
/* Probe them (a few ms).  Any failure to run the probe says "no". */
void kvm_probe_debug(int kvm_fd, struct kvm_debug_caps *caps);

#endif
