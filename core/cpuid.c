#include "core/cpuid.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define BIT(n) (1u << (n))

void cpuid_apply_policy(struct kvm_cpuid2 *c, bool apic)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		/* KVM's own leaves: drop them (kvmclock, PV EOI, steal time). */
		if (e->function >= 0x40000000u && e->function <= 0x400000ffu)
			continue;
		switch (e->function) {
		case 0x1:
			e->ecx &= ~(BIT(15) /* PDCM */ | BIT(21) /* x2APIC */ |
				    BIT(24) /* TSC deadline */ | BIT(30) /* RDRAND */);
			/* APIC: only with ttvm's model (`--apic`; KVM
			 * derives this bit from IA32_APIC_BASE anyway, which
			 * vm_create sets to match); TSC: hidden so that
			 * Linux keeps to the PIT and jiffies instead of
			 * reading the TSC on every clock read (its RDTSCs
			 * still run and are trapped: core/tsc.h). */
			e->edx &= ~(BIT(9) /* APIC */ | BIT(4) /* TSC */);
			if (apic)
				e->edx |= BIT(9);
			/* One logical CPU, APIC ID 0. */
			e->ebx &= 0x0000ffffu;
			e->ebx |= 1u << 16;
			break;
		case 0x7:
			if (e->index == 0) {
				e->ebx &= ~(BIT(18) /* RDSEED */ | BIT(1) /* TSC_ADJUST */);
				/* WAITPKG: TPAUSE/UMWAIT delays count TSC cycles */
				e->ecx &= ~BIT(5);
			}
			break;
		case 0x6: /* APERF/MPERF: read every tick, never the same */
			e->ecx &= ~BIT(0);
			break;
		case 0xa: /* architectural PMU */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f: /* x2APIC topology */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0x80000001:
			e->edx &= ~BIT(27); /* RDTSCP */
			e->ecx &= ~(BIT(23) | BIT(24) | BIT(28)); /* AMD perf counter extensions */
			e->ecx &= ~BIT(29); /* MWAITX: its delays count TSC cycles */
			break;
		case 0x80000007:
			e->edx &= ~BIT(8); /* invariant TSC */
			break;
		case 0x80000022: /* AMD PMU v2 */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		default:
			break;
		}
		c->entries[out++] = *e;
	}
	c->nent = out;
}

struct kvm_cpuid2 *cpuid_policy_table(int kvm_fd, bool apic)
{
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			cpuid_apply_policy(c, apic);
			return c;
		}
		int err = errno;
		free(c);
		if (err != E2BIG) {
			errno = err;
			return NULL;
		}
	}
	errno = E2BIG;
	return NULL;
}
