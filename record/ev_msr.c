/* Event source msr: an RDMSR that ttvm answers (core/msr.h: IA32_TSC and
 * IA32_TSC_ADJUST, whose values come from the host's TSC).  The
 * fingerprint's exit reason is KVM_EXIT_X86_RDMSR. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/vm.h"
#include "record/rr.h"

void record_msr_read(struct vm *vm, uint32_t index, uint64_t *value)
{
	struct trace_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_MSR;
	ev.u.msr.index = index;
	ev.u.msr.value = *value;
	ev.flags = TRACE_EVF_FP;
	rr_fingerprint(vm, &ev.fp);
	rr_append(vm, &ev);
}

void replay_msr_read(struct vm *vm, uint32_t index, uint64_t *value)
{
	const struct trace_event *e = rr_peek(vm);
	struct trace_fp fp;

	if (!e && vm->stop)
		return; /* the trace is unreadable: already reported */
	rr_fingerprint(vm, &fp);
	if (!e || e->exit_no != vm->guest_exits || e->kind != TRACE_EV_MSR || e->u.msr.index != index ||
	    !rr_fp_matches(vm, e, &fp)) {
		char what[96];
		snprintf(what, sizeof(what), "the guest reads MSR %#" PRIx32 " (RDMSR)", index);
		rr_diverged(vm, what, e);
		return;
	}
	*value = e->u.msr.value;
	rr_consume(vm);
}
