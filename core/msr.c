/* The MSRs ttvm answers itself (core/msr.h). */
#include "core/msr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "core/hooks.h"
#include "core/log.h"
#include "core/tsc.h"
#include "core/vm.h"

/* Which MSRs, and why.  KVM's other MSRs were read through its code (Linux
 * 6.1 arch/x86/kvm/x86.c, svm/, vmx/, pmu.c, hyperv.c) for answers that
 * come from host state: the rest are stored values (written by the guest
 * or set at vCPU creation: UCODE_REV, PLATFORM_INFO, SMI_COUNT,
 * PERF_STATUS's constant, MISC_ENABLE, ...), the same in every run on one
 * host.  IA32_ARCH_CAPABILITIES and the like describe the host CPU: the
 * same on one host, like CPUID. */
static const struct msr_rule rules[] = {
	{ 0x10, 0x10, MSR_LOGGED, "IA32_TSC: the host's TSC" },
	{ 0x11, 0x12, MSR_REFUSED, "KVM's kvmclock (old numbers): KVM writes host time into guest RAM" },
	{ 0x3b, 0x3b, MSR_LOGGED, "IA32_TSC_ADJUST: follows the guest's writes of IA32_TSC" },
	{ 0xc1, 0xc8, MSR_REFUSED, "IA32_PMC0-7: no PMU (CPUID leaf 0xA hidden)" },
	{ 0xe7, 0xe8, MSR_REFUSED, "IA32_MPERF/APERF: hidden in CPUID, never the same twice" },
	{ 0x186, 0x18d, MSR_REFUSED, "IA32_PERFEVTSEL0-7: no PMU" },
	{ 0x309, 0x30b, MSR_REFUSED, "IA32_FIXED_CTR0-2: no PMU" },
	{ 0x38d, 0x390, MSR_REFUSED, "IA32_FIXED_CTR_CTRL, IA32_PERF_GLOBAL_STATUS/CTRL/OVF_CTRL: no PMU" },
	{ 0x4c1, 0x4c8, MSR_REFUSED, "IA32_A_PMC0-7: no PMU" },
	{ 0x6e0, 0x6e0, MSR_REFUSED, "IA32_TSC_DEADLINE: hidden in CPUID" },
	{ 0x40000000, 0x400000ff, MSR_REFUSED, "Hyper-V MSRs (reference time counter: host time)" },
	{ 0x4b564d00, 0x4b564dff, MSR_REFUSED, "KVM's paravirtual MSRs (kvmclock, steal time, async PF: host time and "
					       "host events written into guest RAM; leaves 0x40000000+ hidden)" },
	{ 0xc0000300, 0xc0000303, MSR_REFUSED, "AMD PerfMonV2 global counter control: no PMU" },
	{ 0xc0010000, 0xc0010007, MSR_REFUSED, "AMD K7 PERF_CTL0-3/PERF_CTR0-3: no PMU (KVM offers them on AMD "
					       "whatever CPUID says)" },
	{ 0xc0010200, 0xc001020b, MSR_REFUSED, "AMD core PERF_CTL/PERF_CTR 0-5: no PMU" },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))
/* KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes: MSRs one filter range covers. */
#define RANGE_MAX_MSRS (KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8u)

const struct msr_rule *msr_rules(unsigned *n)
{
	*n = (unsigned)NRULES;
	return rules;
}

const struct msr_rule *msr_rule_of(uint32_t index)
{
	for (size_t i = 0; i < NRULES; i++)
		if (index >= rules[i].first && index <= rules[i].last)
			return &rules[i];
	return NULL;
}

/* Fill f with ranges that deny (bit 0) the rules' MSRs, allowing the
 * others the ranges span; rules close together share a range.  The
 * bitmaps are malloc'd into bitmaps[] (freed by the caller).  Returns the
 * number of ranges, or -ENOMEM/-E2BIG. */
static int build_filter(struct kvm_msr_filter *f, uint8_t *bitmaps[KVM_MSR_FILTER_MAX_RANGES])
{
	int nr = 0;

	memset(f, 0, sizeof(*f));
	f->flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
	for (size_t i = 0; i < NRULES;) {
		uint32_t base = rules[i].first;
		size_t j = i;
		while (j + 1 < NRULES && rules[j + 1].last - base < RANGE_MAX_MSRS)
			j++;
		if (nr == KVM_MSR_FILTER_MAX_RANGES)
			return -E2BIG;
		uint32_t n = rules[j].last - base + 1;
		uint8_t *bm = malloc((n + 7) / 8);
		if (!bm)
			return -ENOMEM;
		memset(bm, 0xff, (n + 7) / 8);
		for (size_t k = i; k <= j; k++)
			for (uint32_t m = rules[k].first; m <= rules[k].last; m++)
				bm[(m - base) / 8] &= (uint8_t)~(1u << ((m - base) % 8));
		bitmaps[nr] = bm;
		f->ranges[nr].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
		f->ranges[nr].base = base;
		f->ranges[nr].nmsrs = n;
		f->ranges[nr].bitmap = bm;
		nr++;
		i = j + 1;
	}
	return nr;
}

/* KVM's VMware backdoor (a kvm module parameter) answers RDPMC of
 * 0x10000-0x10002 with host time inside the kernel, and lets port 0x5658
 * through at CPL3.  ttvm traps the RDPMCs of the code it loaded (#GP:
 * core/tsc.h) and logs port reads as any other; say what is left. */
static void report_backdoor(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/kvm/parameters/enable_vmware_backdoor", "r");

	if (!f)
		return;
	if (fread(&c, 1, 1, f) == 1 && (c == 'Y' || c == '1'))
		log_info("msr: the host's KVM has the VMware backdoor on (kvm.enable_vmware_backdoor): RDPMC of its "
			 "pseudo-counters in code ttvm did not patch reads host time unlogged");
	fclose(f);
}

int msr_setup(struct vm *vm, bool want)
{
	struct kvm_msr_filter f;
	uint8_t *bitmaps[KVM_MSR_FILTER_MAX_RANGES] = { 0 };
	const char *why = NULL;

	vm->msr_filter = false;
	report_backdoor();
	if (!want)
		return 0;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0) {
		why = "the host's KVM has no user-space MSR exits (KVM_CAP_X86_USER_SPACE_MSR, Linux 5.10)";
		goto off;
	}
	struct kvm_enable_cap cap;
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
	cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		why = "KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) failed";
		goto off;
	}
	int nr = build_filter(&f, bitmaps);
	if (nr < 0) {
		why = "cannot build the MSR filter";
		goto off;
	}
	int r = ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &f);
	int err = errno;
	for (int i = 0; i < nr; i++)
		free(bitmaps[i]);
	if (r < 0) {
		log_info("msr: KVM_X86_SET_MSR_FILTER: %s", strerror(err));
		why = "KVM_X86_SET_MSR_FILTER failed";
		goto off;
	}
	vm->msr_filter = true;
	log_debug("msr: filter on: %d range(s), %zu rule(s)", nr, NRULES);
	return 0;
off:
	log_info("msr: %s: RDMSR of IA32_TSC and IA32_TSC_ADJUST is answered by KVM and not logged; "
		 "kvmclock, PMU and APERF/MPERF MSRs are KVM's", why);
	return 0;
}

/* Report each refused MSR once (-v): a guest that probes MSRs may do it
 * in a loop. */
static void report_refused(struct vm *vm, uint32_t index, bool write, const struct msr_rule *rule)
{
	for (unsigned i = 0; i < vm->msr_seen_n; i++)
		if (vm->msr_seen[i] == index)
			return;
	if (vm->msr_seen_n < sizeof(vm->msr_seen) / sizeof(vm->msr_seen[0]))
		vm->msr_seen[vm->msr_seen_n++] = index;
	else
		return;
	if (ttvm_verbosity >= 1) {
		char insn[256];
		vm_describe_insn(vm, insn, sizeof(insn));
		log_info("msr: guest %s MSR %#" PRIx32 " at %s: #GP (%s)", write ? "wrote" : "read", index, insn,
			 rule ? rule->what : "not an MSR ttvm answers");
	}
}

void msr_handle_exit(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	bool rd = run->exit_reason == KVM_EXIT_X86_RDMSR;
	uint32_t index = run->msr.index;
	const struct msr_rule *rule = msr_rule_of(index);
	uint64_t v = 0;

	run->msr.error = 0;
	if (!rule || rule->action != MSR_LOGGED || run->msr.reason != KVM_MSR_EXIT_REASON_FILTER) {
		report_refused(vm, index, !rd, rule);
		run->msr.error = 1;
		vm->exception_queued = true;
		return;
	}
	/* The guest's TSC as trapped RDTSCs see it (tsc_guest_now): a write
	 * of IA32_TSC moves it and IA32_TSC_ADJUST by the same amount, a
	 * write of IA32_TSC_ADJUST moves the TSC by the change (Intel SDM
	 * vol. 3, 18.17.3). */
	switch (index) {
	case MSR_IA32_TSC:
		if (rd) {
			v = tsc_guest_now(vm);
		} else {
			uint64_t d = run->msr.data - tsc_guest_now(vm);
			vm->tsc_delta += (int64_t)d;
			vm->tsc_adjust += d;
		}
		break;
	case MSR_IA32_TSC_ADJUST:
		if (rd) {
			v = vm->tsc_adjust;
		} else {
			vm->tsc_delta += (int64_t)(run->msr.data - vm->tsc_adjust);
			vm->tsc_adjust = run->msr.data;
		}
		break;
	default:
		run->msr.error = 1;
		vm->exception_queued = true;
		return;
	}
	if (!rd)
		return;
	if (vm->hooks && vm->hooks->msr_read)
		vm->hooks->msr_read(vm, index, &v);
	run->msr.data = v;
}
