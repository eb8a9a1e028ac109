/* Event sources rdtsc, rdtscp and rdrand: the RDTSC-family instructions
 * that core/tsc.c traps at patched sites.  The fingerprint's exit reason is
 * always KVM_EXIT_IO: it names a trap, whichever way the host trapped. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/vm.h"
#include "record/rr.h"

static const char *const insn_names[] = { "?", "RDTSC", "RDTSCP", "RDRAND", "RDSEED" };

/* The fingerprint of a trap: the registers at the original instruction. */
static void trap_fingerprint(struct trace_event *ev, const struct kvm_regs *at)
{
	ev->flags = TRACE_EVF_FP;
	ev->fp.exit_reason = KVM_EXIT_IO;
	ev->fp.rip = at->rip;
	ev->fp.regs_hash = rr_regs_hash(at);
}

/* Replay: the trace's event for the trapped instruction described by ev (its
 * kind, and for rdrand the instruction), at this exit with ev's fingerprint;
 * else a divergence report and NULL. */
static const struct trace_event *replay_trap(struct vm *vm, const struct trace_event *ev, enum tsc_kind kind,
					     const struct kvm_regs *at)
{
	const struct trace_event *e = rr_peek(vm);

	if (!e && vm->stop)
		return NULL; /* the trace is unreadable: already reported */
	bool ok = e && e->exit_no == vm->guest_exits && e->kind == ev->kind &&
		  (ev->kind != TRACE_EV_RDRAND || e->u.tsc.rand_insn == ev->u.tsc.rand_insn) &&
		  rr_fp_matches(vm, e, &ev->fp);
	if (!ok) {
		char what[96];
		snprintf(what, sizeof(what), "the guest executes %s at %#" PRIx64,
			 insn_names[kind <= TSC_RDSEED ? kind : 0], (uint64_t)at->rip);
		rr_diverged(vm, what, e);
		return NULL;
	}
	return e;
}

static void tsc_event(struct trace_event *ev, enum tsc_kind kind, const struct kvm_regs *at, uint64_t value,
		      uint32_t aux)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind == TSC_RDTSC ? TRACE_EV_RDTSC : TRACE_EV_RDTSCP;
	ev->u.tsc.value = value;
	ev->u.tsc.aux = kind == TSC_RDTSC ? 0 : aux;
	trap_fingerprint(ev, at);
}

void record_rdtsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux)
{
	struct trace_event ev;

	tsc_event(&ev, kind, at, *value, *aux);
	rr_append(vm, &ev);
}

void replay_rdtsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux)
{
	struct trace_event ev;

	tsc_event(&ev, kind, at, *value, *aux);
	const struct trace_event *e = replay_trap(vm, &ev, kind, at);
	if (!e)
		return;
	*value = e->u.tsc.value;
	*aux = e->u.tsc.aux;
	rr_consume(vm);
}

static void rand_event(struct trace_event *ev, enum tsc_kind kind, const struct kvm_regs *at, uint64_t value,
		       bool cf)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = TRACE_EV_RDRAND;
	ev->u.tsc.value = value;
	ev->u.tsc.rand_insn = kind == TSC_RDSEED ? TRACE_RAND_RDSEED : TRACE_RAND_RDRAND;
	ev->u.tsc.rand_cf = cf;
	trap_fingerprint(ev, at);
}

void record_rdrand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf)
{
	struct trace_event ev;

	rand_event(&ev, kind, at, *value, *cf);
	rr_append(vm, &ev);
}

void replay_rdrand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf)
{
	struct trace_event ev;

	rand_event(&ev, kind, at, *value, *cf);
	const struct trace_event *e = replay_trap(vm, &ev, kind, at);
	if (!e)
		return;
	*value = e->u.tsc.value;
	*cf = e->u.tsc.rand_cf;
	rr_consume(vm);
}
