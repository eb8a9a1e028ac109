/* Undoing the TF that a single-stepped interrupt delivery pushes (stepfix.h). */
#include "core/stepfix.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/log.h"
#include "core/vm.h"

#define RFLAGS_TF (1ull << 8)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)

static uint64_t rd(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, unsigned len, bool *ok)
{
	uint64_t v = 0;

	if (vm_read_virt(vm, s, gva, &v, len) != len)
		*ok = false;
	return v;
}

/* DPL of the code segment selector sel names in the GDT, and whether it is
 * conforming (then the CPL does not change).  false for the LDT or a
 * selector outside the GDT. */
static bool code_dpl(struct vm *vm, const struct kvm_sregs *s, uint16_t sel, unsigned *dpl, bool *conforming)
{
	bool ok = true;

	if ((sel & 4) || (uint32_t)(sel & ~7u) + 7 > s->gdt.limit)
		return false;
	uint64_t d = rd(vm, s, s->gdt.base + (sel & ~7u), 8, &ok);
	*dpl = (unsigned)(d >> 45) & 3;
	*conforming = (d >> 40 & 0xc) == 0xc; /* code, conforming */
	return ok;
}

/* A PUSHF at RIP (prefixes 66 and REX): its length and push width. */
static bool pushf_at(struct vm *vm, const struct kvm_regs *r, const struct kvm_sregs *s, unsigned *len,
		     unsigned *width)
{
	uint8_t b[4];
	bool lm = s->cs.l && (s->efer & X86_EFER_LMA), big = lm || s->cs.db, opsize = false;
	unsigned i = 0;

	if (vm_read_virt(vm, s, s->cs.base + r->rip, b, sizeof(b)) != sizeof(b))
		return false;
	for (; i < 3 && (b[i] == 0x66 || (lm && (b[i] & 0xf0) == 0x40)); i++)
		opsize |= b[i] == 0x66;
	if (b[i] != 0x9c)
		return false;
	*len = i + 1;
	*width = lm ? (opsize ? 2 : 8) : (big != opsize ? 4 : 2);
	return true;
}

void stepfix_plan(struct vm *vm, bool delivers, uint8_t vector, struct stepfix *fx)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	bool ok = true;

	memset(fx, 0, sizeof(*fx));
	if (vcpu_get_regs(vm, &r) || vcpu_get_sregs(vm, &s))
		return;
	fx->ip = r.rip;
	fx->flags = r.rflags & ~(RFLAGS_TF | RFLAGS_RF);
	if (!delivers) {
		unsigned len;
		if (pushf_at(vm, &r, &s, &len, &fx->width)) {
			fx->pushf = true;
			fx->next_ip = r.rip + len;
			if (fx->width < 8)
				fx->flags &= fx->width == 4 ? 0xffffffffull : 0xffffull;
			fx->armed = true;
			return;
		}
		/* The stepped instruction may fault (a page fault on a user
		 * or vmalloc'ed address): its frame goes where #PF's gate
		 * says, the faulting RIP and RFLAGS at the same places as an
		 * interrupt's (the error code lies below them).  A recorded
		 * Linux kernel, stepped over a landing's trap, WARNed in
		 * exc_debug when such a frame's TF came back at its IRET. */
		vector = 14;
		if (!(s.cr0 & 1))
			return; /* real mode: no page faults */
	}
	if (!(s.cr0 & 1)) {
		/* Real mode: FLAGS, CS, IP pushed at SS:SP. */
		fx->width = 2;
		fx->flags_gva = s.ss.base + ((r.rsp - 2) & 0xffff);
		fx->ip_gva = s.ss.base + ((r.rsp - 6) & 0xffff);
		fx->ip &= 0xffff;
		fx->armed = true;
		return;
	}
	if (r.rflags & RFLAGS_VM)
		return; /* virtual-8086 mode: not worked out */
	unsigned cpl = s.cs.dpl, dpl;
	bool conforming;
	if (s.efer & X86_EFER_LMA) {
		/* 16-byte gates; the frame is 64-bit, RSP aligned to 16 first,
		 * on the IST stack or, going to an inner ring, on RSPn. */
		if ((uint32_t)vector * 16 + 15 > s.idt.limit)
			return;
		uint64_t lo = rd(vm, &s, s.idt.base + vector * 16ull, 8, &ok);
		uint16_t sel = (uint16_t)(lo >> 16);
		unsigned ist = (unsigned)(lo >> 32) & 7;
		if (!ok || !(lo >> 47 & 1) || !code_dpl(vm, &s, sel, &dpl, &conforming))
			return;
		uint64_t top = r.rsp;
		if (ist)
			top = rd(vm, &s, s.tr.base + 0x24 + 8ull * (ist - 1), 8, &ok);
		else if (!conforming && dpl < cpl)
			top = rd(vm, &s, s.tr.base + 4 + 8ull * dpl, 8, &ok);
		if (!ok)
			return;
		top &= ~15ull;
		fx->width = 8;
		fx->flags_gva = top - 24;
		fx->ip_gva = top - 40;
		fx->armed = true;
		return;
	}
	/* 32-bit protected mode: 32-bit interrupt and trap gates only. */
	if ((uint32_t)vector * 8 + 7 > s.idt.limit)
		return;
	uint64_t g = rd(vm, &s, s.idt.base + vector * 8ull, 8, &ok);
	unsigned type = (unsigned)(g >> 40) & 0x1f;
	uint16_t sel = (uint16_t)(g >> 16);
	if (!ok || !(g >> 47 & 1) || (type != 0xe && type != 0xf) || !code_dpl(vm, &s, sel, &dpl, &conforming))
		return;
	uint64_t top = s.ss.base + (s.ss.db ? (uint32_t)r.rsp : (uint16_t)r.rsp);
	unsigned skip = 0; /* words pushed before EFLAGS */
	if (!conforming && dpl < cpl) {
		/* Inner ring: SSn:ESPn from the 32-bit TSS, then SS and ESP. */
		uint32_t esp = (uint32_t)rd(vm, &s, s.tr.base + 4 + 8ull * dpl, 4, &ok);
		uint16_t ss = (uint16_t)rd(vm, &s, s.tr.base + 8 + 8ull * dpl, 2, &ok);
		if (!ok || (ss & 4) || (uint32_t)(ss & ~7u) + 7 > s.gdt.limit)
			return;
		uint64_t d = rd(vm, &s, s.gdt.base + (ss & ~7u), 8, &ok);
		if (!ok)
			return;
		top = ((d >> 16) & 0xffffff) + ((d >> 56) << 24) + esp;
		skip = 2;
	}
	fx->width = 4;
	fx->flags_gva = (uint32_t)(top - 4 * (skip + 1));
	fx->ip_gva = (uint32_t)(top - 4 * (skip + 3));
	fx->ip &= 0xffffffffull;
	fx->flags &= 0xffffffffull;
	fx->armed = true;
}

int stepfix_apply(struct vm *vm, struct stepfix *fx)
{
	struct kvm_sregs s;
	bool ok = true;
	uint64_t gpa;

	if (!fx->armed)
		return 0;
	fx->armed = false;
	if (vcpu_get_sregs(vm, &s))
		return -EFAULT;
	if (fx->pushf) {
		struct kvm_regs r;
		if (vcpu_get_regs(vm, &r) || r.rip != fx->next_ip)
			return 0; /* not executed (an exit or interrupt came first) */
		fx->flags_gva = s.ss.base + (s.ss.db || (s.efer & X86_EFER_LMA) ? r.rsp : (uint16_t)r.rsp);
		fx->ip_gva = fx->flags_gva;
		fx->ip = rd(vm, &s, fx->ip_gva, fx->width, &ok); /* nothing to compare */
	}
	uint64_t ip = rd(vm, &s, fx->ip_gva, fx->width, &ok);
	uint64_t flags = rd(vm, &s, fx->flags_gva, fx->width, &ok);
	/* Only a frame of this delivery, stepped into: the interrupted RIP
	 * and RFLAGS plus TF (an older frame there has TF clear). */
	if (!ok || ip != fx->ip || !(flags & RFLAGS_TF) || (flags & ~(RFLAGS_TF | RFLAGS_RF)) != fx->flags)
		return 0;
	if ((fx->flags_gva & 4095) + fx->width > 4096 || vm_gva_to_gpa(vm, &s, fx->flags_gva, &gpa))
		return -EFAULT;
	uint8_t *p = vm_gpa_ptr(vm, gpa, fx->width);
	if (!p)
		return -EFAULT;
	flags &= ~RFLAGS_TF;
	memcpy(p, &flags, fx->width);
	vm_mark_pages_written(vm, (uint64_t)(p - vm->ram) / 4096, 1);
	log_debug("step: cleared the TF that a single step pushed %s at %#" PRIx64,
		  fx->pushf ? "by PUSHF" : "with an interrupt or exception frame", fx->flags_gva);
	return 1;
}
