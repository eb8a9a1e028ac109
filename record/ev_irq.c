/* Event source irq: interrupt injections.
 *
 * An interrupt goes in either right after a guest exit N, where the guest
 * could take it at once (replay finds the point by counting exits), or
 * where a kick (ttvm's timer signal) or an interrupt window stopped the
 * guest: that point is logged as its linear RIP, register hash and memory
 * digest, and replay finds it again with a breakpoint or by single steps
 * (replay/engine.c decides how; this file says whether it is there). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/log.h"
#include "core/vm.h"
#include "record/probe.h"
#include "core/irq.h"
#include "record/rr.h"

/* Only where replay can find the point again (a trap at the linear RIP plus
 * a register comparison), and only where no exit is near: record/probe.c
 * decides when the interrupt waits for the guest's next exit instead. */
bool record_irq_point(struct vm *vm, struct vm_irq_point *pt)
{
	struct kvm_sregs s;
	struct kvm_regs regs;

	if (vcpu_get_sregs(vm, &s) || vcpu_get_regs(vm, &regs))
		return false;
	if (record_probe_defer(vm, &s, &regs, s.cs.base + regs.rip))
		return false;
	record_probe_kick(vm, &s, s.cs.base + regs.rip);
	pt->rip = s.cs.base + regs.rip;
	pt->regs_hash = rr_regs_hash(&regs);
	pt->mem_digest = rr_mem_digest(vm);
	log_debug("record: kick point %#llx after guest exit %" PRIu64 " (%s)", (unsigned long long)pt->rip,
		  vm->guest_exits, vm->run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN ? "window" : "kick");
	return true;
}

void record_irq(struct vm *vm, uint8_t vector, const struct vm_irq_point *pt)
{
	struct trace_event ev;

	record_probe_injected(vm);
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_IRQ;
	ev.u.irq.vector = vector;
	ev.u.irq.rip = pt->rip;
	ev.u.irq.regs_hash = pt->regs_hash;
	ev.u.irq.mem_hash = pt->mem_digest;
	if (pt->regs_hash) {
		/* Which kind of point: an interrupt window (a few instructions
		 * after the exit: replay single-steps to it) or a kick (anywhere:
		 * replay uses a breakpoint). */
		ev.flags = TRACE_EVF_FP;
		ev.fp.exit_reason = vm->run->exit_reason;
		ev.fp.rip = pt->rip;
		ev.fp.regs_hash = pt->regs_hash;
	}
	rr_append(vm, &ev);
}

int replay_irq_at_exit(struct vm *vm, const struct trace_event *e)
{
	struct kvm_run *run = vm->run;

	if (!run->ready_for_interrupt_injection || !run->if_flag) {
		rr_diverged(vm, "the guest cannot take the interrupt the recording injected here", e);
		return -1;
	}
	vcpu_interrupt(vm, e->u.irq.vector);
	irq_ack_vector(vm, e->u.irq.vector);
	log_debug("replay: inject %#x after guest exit %" PRIu64, e->u.irq.vector, vm->guest_exits);
	rr_consume(vm);
	return 0;
}

int replay_irq_at_kick(struct vm *vm, const struct trace_event *e)
{
	struct kvm_regs regs;
	uint8_t vector = e->u.irq.vector;

	/* Registers first (cheap), then the memory digest: a loop that keeps
	 * its counter in memory repeats its registers. */
	if (vcpu_get_regs(vm, &regs) || regs.rip != e->u.irq.rip)
		return 0;
	uint64_t regs_hash = rr_regs_hash(&regs);
	if (!trace_point_regs_eq(e->flags, e->u.irq.regs_hash, regs_hash))
		return 0;
	uint64_t mem_digest = rr_mem_digest(vm);
	if (!trace_point_mem_eq(e->flags, e->u.irq.mem_hash, regs_hash, mem_digest))
		return 0;
	/* A breakpoint leaves RF (and stepping TF) in RFLAGS; the interrupt
	 * frame would carry them onto the guest's stack, which the recording
	 * never had. */
	if (regs.rflags & RR_RFLAGS_DEBUG_BITS) {
		regs.rflags &= ~RR_RFLAGS_DEBUG_BITS;
		if (vcpu_set_regs(vm, &regs)) {
			vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
			return -1;
		}
	}
	vcpu_interrupt(vm, vector);
	irq_ack_vector(vm, vector);
	log_debug("replay: inject %#x at kick point %#llx after guest exit %" PRIu64, vector,
		  (unsigned long long)e->u.irq.rip, vm->guest_exits);
	rr_fp_point(vm, e, regs_hash, mem_digest);
	rr_consume(vm);
	return 1;
}

int replay_irq_before_hlt(struct vm *vm, const struct trace_event *e)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t insn = 0;

	/* A step over STI (whose shadow holds off the step's trap on the SVM
	 * test host: gdb's stepi there goes from `sti` to past the `hlt` after
	 * it) or over a POPF that sets IF (it loads TF too, so the step runs on
	 * to the next exit) can run into the HLT at which the recording
	 * injected (an interrupt window there).  HLT changes nothing but RIP
	 * (the exit leaves the vCPU runnable: no in-kernel irqchip), so the
	 * recorded point is this state with RIP one byte back. */
	if (!e || e->kind != TRACE_EV_IRQ || !e->u.irq.regs_hash || vcpu_get_regs(vm, &regs) ||
	    vcpu_get_sregs(vm, &sregs) || regs.rip == 0 || sregs.cs.base + regs.rip - 1 != e->u.irq.rip ||
	    vm_read_virt(vm, &sregs, e->u.irq.rip, &insn, 1) != 1 || insn != 0xf4)
		return 0;
	regs.rip--;
	uint64_t regs_hash = rr_regs_hash(&regs);
	if (!trace_point_regs_eq(e->flags, e->u.irq.regs_hash, regs_hash) ||
	    !trace_point_mem_eq(e->flags, e->u.irq.mem_hash, regs_hash, rr_mem_digest(vm)))
		return 0;
	if (vcpu_set_regs(vm, &regs)) {
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	log_debug("replay: the guest ran into the HLT of an interrupt point: back to %#llx", (unsigned long long)regs.rip);
	return replay_irq_at_kick(vm, e);
}
