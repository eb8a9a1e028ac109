/* ttvm's fixed CPUID policy (documented in README.md "CPUID policy").
 *
 * Start from KVM_GET_SUPPORTED_CPUID and remove what would make a guest
 * depend on host state that ttvm cannot log or pin: the local APIC and
 * x2APIC (there is none: interrupts come from ttvm's 8259A), RDRAND/RDSEED,
 * RDTSCP, TSC-deadline, PMU leaves, and KVM's paravirtual leaves (kvmclock
 * would read host time behind ttvm's back); the TSC itself, invariant TSC and
 * TSC_ADJUST (Linux then clocks itself by the PIT; the RDTSCs it still runs
 * are trapped), APERF/MPERF, and MWAITX/WAITPKG (delays counted in TSC
 * cycles). */
#ifndef TTVM_CORE_CPUID_H
#define TTVM_CORE_CPUID_H
#include <linux/kvm.h>
#include <stdbool.h>

/* Apply the policy in place to a table from KVM_GET_SUPPORTED_CPUID. */
void cpuid_apply_policy(struct kvm_cpuid2 *c, bool apic);
/* Fetch KVM's supported table with the policy applied; NULL with errno set.
 * apic: the machine has ttvm's local APIC (`--apic`): CPUID.1:EDX.APIC set
 * (x2APIC and TSC-deadline stay hidden). */
struct kvm_cpuid2 *cpuid_policy_table(int kvm_fd, bool apic);

#define MSR_IA32_APICBASE 0x1b
#define APIC_DEFAULT_BASE 0xfee00000ull
#define APICBASE_BSP (1ull << 8)
/* IA32_APIC_BASE with the xAPIC disabled, as vm_create() writes it after
 * KVM_SET_CPUID2: KVM derives CPUID.1:EDX.APIC from its enable bit at run
 * time, so the policy's hidden APIC bit holds only then. */
#define APICBASE_DISABLED (APIC_DEFAULT_BASE | APICBASE_BSP)
/* With ttvm's APIC (`--apic`): the xAPIC enabled at its default base. */
#define APICBASE_ENABLED (APIC_DEFAULT_BASE | APICBASE_BSP | (1ull << 11))

#endif
