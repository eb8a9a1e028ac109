/* Patch traps (core/ptrap.h): patching them into guest RAM for a run, and
 * recognising their hits. */
#include "core/ptrap.h"

#include <string.h>

#include "core/vm.h"

#define PTE_US (1ull << 2)

/* Is the page of gva user-accessible under the walk that vm_gva_walk()
 * recorded?  Accessible to CPL3 only when every level allows it. */
static bool user_page(struct vm *vm, const struct kvm_sregs *sregs, const uint64_t *tables, unsigned n)
{
	bool pae = (sregs->cr4 & X86_CR4_PAE) != 0;
	bool legacy_pae = pae && !(sregs->efer & X86_EFER_LMA);

	for (unsigned i = 0; i < n; i++) {
		if (legacy_pae && i == 0)
			continue; /* a PAE PDPTE has no U/S bit */
		uint64_t e = 0;
		const void *p = vm_gpa_ptr(vm, tables[i], pae ? 8 : 4);
		if (!p)
			return true; /* unreadable: do not risk it */
		memcpy(&e, p, pae ? 8 : 4);
		if (!(e & PTE_US))
			return false;
	}
	return true;
}

bool ptrap_patchable(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr, uint64_t *gpa_out)
{
	uint64_t gpa;

	if (!ptrap_can_patch(vm, sregs, addr, &gpa) || vm_text_site(vm, gpa))
		return false;
	if (gpa_out)
		*gpa_out = gpa;
	return true;
}

bool ptrap_text_site(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr)
{
	uint64_t tables[VM_WALK_MAX], gpa;
	unsigned n = 0;

	return vm_gva_walk(vm, sregs, addr, &gpa, tables, &n) == 0 && vm_text_site(vm, gpa);
}

bool ptrap_can_patch(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr, uint64_t *gpa_out)
{
	uint64_t tables[VM_WALK_MAX], gpa;
	unsigned n = 0;

	if (vm_gva_walk(vm, sregs, addr, &gpa, tables, &n))
		return false;
	if (sregs->cr0 & X86_CR0_PG) {
		if (user_page(vm, sregs, tables, n < VM_WALK_MAX ? n : VM_WALK_MAX))
			return false;
	} else if ((sregs->cr0 & X86_CR0_PE) && (sregs->cs.selector & 3)) {
		return false; /* no paging, and the guest runs at CPL > 0 */
	}
	const uint8_t *p = vm_gpa_ptr(vm, gpa, 1);
	if (!p || *p == PTRAP_HLT)
		return false;
	if (gpa_out)
		*gpa_out = gpa;
	return true;
}

unsigned ptrap_apply(struct vm *vm, struct ptrap_set *s, unsigned mask)
{
	struct kvm_sregs sregs;
	bool have_sregs = false;
	unsigned n = 0;

	for (unsigned i = 0; i < PTRAP_MAX; i++) {
		struct ptrap *t = &s->t[i];
		t->on = false;
		if (!(t->owners & mask) || s->skip)
			continue;
		if (!have_sregs) {
			/* A user-space RDMSR/WRMSR exit is finished at the next
			 * KVM_RUN, and without NRIPS (nested SVM, QEMU's SVM)
			 * KVM finds the instruction's end by decoding the bytes
			 * at RIP then: a trap patched there reads as a 1-byte
			 * HLT and RIP lands one byte into the instruction.
			 * Finish it before anything is patched. */
			if (vm->run && (vm->run->exit_reason == KVM_EXIT_X86_RDMSR ||
					vm->run->exit_reason == KVM_EXIT_X86_WRMSR) &&
			    vcpu_settle(vm, false) < 0)
				return n;
			if (vcpu_get_sregs(vm, &sregs))
				return n;
			have_sregs = true;
		}
		uint64_t gpa;
		if (!ptrap_can_patch(vm, &sregs, t->addr, &gpa))
			continue;
		/* Two traps on one byte (aliases): patch it once. */
		bool dup = false;
		for (unsigned j = 0; j < i; j++)
			dup |= s->t[j].on && s->t[j].gpa == gpa;
		if (dup)
			continue;
		uint8_t *p = vm_gpa_ptr(vm, gpa, 1);
		t->gpa = gpa;
		t->orig = *p;
		t->applied_owners = (uint8_t)(t->owners & mask);
		*p = PTRAP_HLT;
		t->on = true;
		n++;
	}
	return n;
}

void ptrap_remove(struct vm *vm, struct ptrap_set *s)
{
	s->hit_known = false;
	for (unsigned i = 0; i < PTRAP_MAX; i++) {
		struct ptrap *t = &s->t[i];
		if (!t->on)
			continue;
		uint8_t *p = vm_gpa_ptr(vm, t->gpa, 1);
		if (p && *p == PTRAP_HLT)
			*p = t->orig;
		else
			s->clobbered++; /* the guest wrote over it: its byte stays */
		/* t->on stays set until the next apply: ptrap_hit() looks at
		 * what this run had patched. */
	}
}

/* Trap i, patched at linear lin for the last run, was hit: the vCPU stands
 * on it and must step over it next.  Its owners as patched (nonzero) and
 * those of other traps on the same byte (aliases, left unpatched). */
static unsigned note_hit(struct ptrap_set *s, unsigned i, uint64_t lin)
{
	unsigned owners = s->t[i].applied_owners;

	for (unsigned j = 0; j < PTRAP_MAX; j++)
		if (j != i && s->t[j].owners && s->t[j].addr == lin)
			owners |= s->t[j].owners;
	s->skip = true;
	s->skip_addr = lin;
	s->hits++;
	s->hit_owners = owners;
	s->hit_addr = lin;
	return owners;
}

unsigned ptrap_hit(struct vm *vm, struct ptrap_set *s, uint64_t *addr)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t gpa;

	if (s->hit_known) {
		*addr = s->hit_addr;
		return s->hit_owners;
	}
	s->hit_known = true;
	s->hit_owners = 0;
	if (vcpu_get_regs(vm, &regs) || vcpu_get_sregs(vm, &sregs))
		return 0;
	/* HLT is one byte and the exit reports RIP past it. */
	uint64_t lin = sregs.cs.base + regs.rip - 1;
	if (vm_gva_to_gpa(vm, &sregs, lin, &gpa))
		return 0;
	for (unsigned i = 0; i < PTRAP_MAX; i++) {
		struct ptrap *t = &s->t[i];
		if (!t->on || t->gpa != gpa)
			continue;
		regs.rip--;
		if (vcpu_set_regs(vm, &regs))
			return 0;
		*addr = lin;
		return note_hit(s, i, lin);
	}
	return 0;
}

unsigned ptrap_hit_here(struct vm *vm, struct ptrap_set *s, uint64_t lin, unsigned mask)
{
	for (unsigned i = 0; i < PTRAP_MAX; i++) {
		const struct ptrap *t = &s->t[i];
		if (!t->on || t->addr != lin || !(t->applied_owners & mask))
			continue;
		ptrap_remove(vm, s);
		s->hit_known = true;
		return note_hit(s, i, lin);
	}
	return 0;
}
