/* The MSRs ttvm answers itself: KVM's user-space MSR exits.
 *
 * KVM answers most guest RDMSR/WRMSR in the kernel, and a few of those
 * answers come from host state that differs between runs (the TSC), or
 * make KVM write host time into guest RAM (kvmclock).  With
 * KVM_CAP_X86_USER_SPACE_MSR (exit on KVM_MSR_EXIT_REASON_FILTER) and a
 * KVM_X86_SET_MSR_FILTER that denies exactly the MSRs of msr_rules(), a
 * guest access to one of them exits to ttvm (KVM_EXIT_X86_RDMSR/WRMSR), an
 * exit the guest caused, counted in vm->guest_exits:
 * - MSR_LOGGED: ttvm models the MSR (IA32_TSC, IA32_TSC_ADJUST, in line
 *   with the values trapped RDTSCs return: core/tsc.h) and every read
 *   passes the msr_read hook (core/hooks.h: logged when recording, the
 *   logged value when replaying);
 * - MSR_REFUSED: the access raises #GP, as on a CPU without the MSR (each
 *   one's feature is hidden in CPUID: core/cpuid.c).
 * Where the host lacks the capability, the filter is off (said once with
 * -v) and KVM answers those MSRs as before: unlogged. */
#ifndef TTVM_CORE_MSR_H
#define TTVM_CORE_MSR_H
#include <stdbool.h>
#include <stdint.h>

struct vm;

enum msr_action { MSR_LOGGED = 1, MSR_REFUSED = 2 };

struct msr_rule {
	uint32_t first, last; /* MSR indexes, inclusive */
	enum msr_action action;
	const char *what;     /* for -v and README: the MSRs and why */
};

#define MSR_IA32_TSC 0x10u
#define MSR_IA32_TSC_ADJUST 0x3bu

/* The rules, sorted by index, non-overlapping; *n set. */
const struct msr_rule *msr_rules(unsigned *n);
/* The rule that covers index, or NULL (KVM answers it). */
const struct msr_rule *msr_rule_of(uint32_t index);

/* Turn the MSR exits on for vm (before its first KVM_RUN): 0 with
 * vm->msr_filter set, or, where the host cannot (no capability, the ioctl
 * refused), 0 with vm->msr_filter false and one line with -v.  want=false
 * leaves the filter off (a replay of a trace recorded without it). */
int msr_setup(struct vm *vm, bool want);
/* Handle the KVM_EXIT_X86_RDMSR/WRMSR exit in vm->run: fill in data or
 * error for KVM.  Reads of logged MSRs pass the msr_read hook; vm->stop
 * may be set by it (a divergence). */
void msr_handle_exit(struct vm *vm);

#endif
