/* Event source end: the trace's last event, how the run ended. */
#include <stdio.h>
#include <string.h>

#include "core/vm.h"
#include "record/rr.h"

void record_end_event(const struct vm *vm, struct trace_event *ev)
{
	struct kvm_regs regs;

	memset(ev, 0, sizeof(*ev));
	ev->kind = TRACE_EV_END;
	ev->exit_no = vm->guest_exits;
	ev->u.end.status = vm->status;
	if (vm->status & 1) {
		ev->u.end.reason = TRACE_END_GUEST_EXIT;
	} else {
		switch (vm->status) {
		case ST_RESET: ev->u.end.reason = TRACE_END_RESET; break;
		case ST_TIMEOUT: ev->u.end.reason = TRACE_END_LIMIT; break;
		case ST_SIGNAL: ev->u.end.reason = TRACE_END_USER; break;
		case ST_HOST: ev->u.end.reason = TRACE_END_HOST_ERROR; break;
		default:
			ev->u.end.reason = TRACE_END_CRASH;
			ev->u.end.crash_kind = (uint32_t)vm->status;
			break;
		}
	}
	if (vcpu_get_regs((struct vm *)vm, &regs) == 0)
		ev->u.end.rip = regs.rip;
}

const char *record_crash_name(uint32_t crash_kind)
{
	switch (crash_kind) {
	case ST_TRIPLE: return "triple fault";
	case ST_INTERNAL: return "KVM internal error";
	case ST_HALTED: return "halted for good";
	case ST_STRICT: return "unknown port or MMIO (--strict)";
	case ST_PANIC: return "kernel panic";
	default: return NULL;
	}
}

void replay_check_end(struct vm *vm)
{
	int status = vm->status;
	char msg[sizeof(vm->stop_msg)];
	const struct trace_event *e;

	memcpy(msg, vm->stop_msg, sizeof(msg));
	vm->stop = false;
	e = rr_peek(vm);
	if (vm->stop)
		return;
	if (!e || e->kind != TRACE_EV_END || e->exit_no != vm->guest_exits || e->u.end.status != status) {
		char what[sizeof(msg) + 64];
		snprintf(what, sizeof(what), "the guest ended (%s)", msg);
		rr_diverged(vm, what, e);
		return;
	}
	rr_consume(vm);
	vm_request_stop(vm, status, "%s", msg);
}

/* The recorder stopped the guest at a point the guest did not choose: the
 * replay cannot go further than that exit. */
bool replay_end_cut(struct vm *vm, const struct trace_event *e)
{
	if (e->kind != TRACE_EV_END ||
	    !(e->u.end.reason == TRACE_END_LIMIT || e->u.end.reason == TRACE_END_USER ||
	      e->u.end.reason == TRACE_END_HOST_ERROR || e->u.end.status == ST_HALTED))
		return false;
	int st = e->u.end.status;
	uint32_t reason = e->u.end.reason;
	rr_consume(vm);
	/* A guest halted for good ends at this exit in replay as well, so its
	 * final state can still be compared; the others cannot. */
	rr_of(vm)->ended_early = st != ST_HALTED;
	vm_request_stop(vm, st, "replay reached the end of the recording (it ended with status %d: %s)", st,
			trace_end_reason_name(reason));
	return true;
}
