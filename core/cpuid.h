/* ttvm's fixed CPUID policy (documented in README.md "CPUID policy").
 *
 * Start from KVM_GET_SUPPORTED_CPUID and remove what would make a guest
 * depend on host state that ttvm cannot log or pin: the local APIC and
 * x2APIC (there is none: interrupts come from ttvm's 8259A), RDRAND/RDSEED,
 * RDTSCP, TSC-deadline, PMU leaves, and KVM's paravirtual leaves (kvmclock
 * would read host time behind ttvm's back). */
#ifndef TTVM_CORE_CPUID_H
#define TTVM_CORE_CPUID_H
#include <linux/kvm.h>

/* Apply the policy in place to a table from KVM_GET_SUPPORTED_CPUID. */
void cpuid_apply_policy(struct kvm_cpuid2 *c);
/* Fetch KVM's supported table with the policy applied; NULL with errno set. */
struct kvm_cpuid2 *cpuid_policy_table(int kvm_fd);

#endif
