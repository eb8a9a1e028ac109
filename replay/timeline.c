/* Moving through a recording: going to a point, forward continue and
 * stepi, reverse-stepi (timeline.h; the restore points are tl_points.c). */
#include "replay/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "devices/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "replay/seek.h"
#include "replay/tl_internal.h"
#include "storage/checkpoint.h"

bool tl_canonical(const struct eng_pos *p)
{
	return p->k != ENG_K_UNKNOWN;
}

static void record_end(struct timeline *tl)
{
	/* The end is the point after the last instruction. */
	if (tl->eng.k != ENG_K_UNKNOWN && !tl->eng.end_at_boundary)
		tl->eng.k++;
	tl->at_end = true;
	tl->end_status = tl->vm->status;
	snprintf(tl->end_msg, sizeof(tl->end_msg), "%s", tl->vm->stop_msg);
}

static bool failed(struct timeline *tl)
{
	int st = tl->vm->status;
	if (st == ST_DIVERGED || st == ST_BADTRACE || st == ST_HOST || st == ST_SIGNAL) {
		snprintf(tl->msg, sizeof(tl->msg), "%s", tl->vm->stop_msg);
		return true;
	}
	return false;
}

int tl_poll_cb(void *ctx)
{
	struct timeline *tl = ctx;
	return tl->poll ? tl->poll(tl->poll_ctx) : 0;
}

/* Run one engine goal; map its stop to a tl_result. */
int tl_run_goal(struct timeline *tl, struct eng_goal *g)
{
	int st = eng_run(&tl->eng, g);
	switch (st) {
	case ENG_STOP_END:
		if (failed(tl))
			return TL_ERROR;
		record_end(tl);
		return TL_END;
	case ENG_STOP_TRAP:
		return TL_TRAP;
	case ENG_STOP_INTERRUPT:
		return TL_INTERRUPTED;
	default:
		return TL_OK;
	}
}

void tl_where(struct timeline *tl, struct eng_pos *pos)
{
	eng_where(&tl->eng, pos);
}

/* Run forward to the canonical point p, snapshotting along the way. */
static int forward_to(struct timeline *tl, const struct eng_pos *p)
{
	struct engine *eng = &tl->eng;
	struct vm *vm = tl->vm;

	while (!(vm->guest_exits == p->e && eng->k == p->k)) {
		struct eng_goal g = { .to_e = UINT64_MAX };
		if (vm->guest_exits < p->e) {
			/* Boundary by boundary when snapshots are due, else at once. */
			g.to_e = p->e;
			g.to_k = 0;
			if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS) {
				tl_snapshot(tl);
			}
			/* Stop at intermediate boundaries to snapshot now and then. */
			uint64_t span = p->e - vm->guest_exits;
			if (span > 256)
				g.to_e = vm->guest_exits + 256;
		} else if (vm->guest_exits == p->e && eng->k != ENG_K_UNKNOWN && eng->k < p->k) {
			g.to_e = p->e;
			g.to_k = eng->k + TL_SNAP_STEPS < p->k ? eng->k + TL_SNAP_STEPS : p->k;
		} else {
			snprintf(tl->msg, sizeof(tl->msg), "cannot reach %" PRIu64 "+%" PRIu64 " from exit %" PRIu64,
				 p->e, p->k, vm->guest_exits);
			return TL_ERROR;
		}
		int r = tl_run_goal(tl, &g);
		if (r != TL_OK)
			return r;
		if (eng->k != ENG_K_UNKNOWN && eng->k > 0 && eng->k % TL_SNAP_STEPS == 0)
			tl_snapshot(tl);
		else if (eng->k == 0 && host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	return TL_OK;
}

int tl_goto_canonical(struct timeline *tl, const struct eng_pos *p)
{
	struct eng_pos cur;
	eng_where(&tl->eng, &cur);
	if (tl->at_end || !tl_canonical(&cur) || eng_pos_cmp(&cur, p) > 0 || tl->vm->stop) {
		int r = tl_restore_before(tl, p);
		if (r) {
			snprintf(tl->msg, sizeof(tl->msg), "cannot restore a point before %" PRIu64 ": %s", p->e,
				 strerror(-r));
			return TL_ERROR;
		}
	}
	return forward_to(tl, p);
}

/* From a pending point's base (where the guest is), run to the m-th fire
 * of its trap, armed for the count even if gdb removed it since; single:
 * by single steps, so that the point becomes canonical. */
static int run_to_fire(struct timeline *tl, const struct eng_pos *p, bool single)
{
	int added = eng_trap_find(&tl->eng, &p->trap) < 0 ? eng_trap_add(&tl->eng, &p->trap) : -1;
	struct eng_goal g = { .to_e = UINT64_MAX, .pending = p, .single = single };
	int r = tl_run_goal(tl, &g);

	if (added >= 0)
		eng_trap_del(&tl->eng, &p->trap);
	return r == TL_TRAP ? TL_OK : r;
}

int tl_goto(struct timeline *tl, const struct eng_pos *p)
{
	if (tl_canonical(p))
		return tl_goto_canonical(tl, p);
	struct eng_pos base = { .e = p->e, .k = p->kbase };
	int r = tl_goto_canonical(tl, &base);
	if (r != TL_OK)
		return r;
	r = run_to_fire(tl, p, false);
	for (uint64_t i = 0; i < p->after && r == TL_OK; i++) {
		struct eng_goal st = { .to_e = UINT64_MAX, .step = true };
		r = tl_run_goal(tl, &st);
	}
	return r;
}

/* Make the current point canonical (k known) by re-running it by single
 * steps from its base. */
int tl_canonicalize(struct timeline *tl)
{
	struct eng_pos p;
	eng_where(&tl->eng, &p);
	if (tl_canonical(&p))
		return TL_OK;
	if (tl->at_end) {
		/* The end of the recording after a run at full speed: step from
		 * the last boundary to it. */
		struct eng_pos base = { .e = p.e, .k = p.kbase };
		int r = tl_goto_canonical(tl, &base);
		if (r != TL_OK)
			return r;
		struct eng_goal g = { .to_e = UINT64_MAX, .single = true };
		r = tl_run_goal(tl, &g);
		return r == TL_END ? TL_OK : r;
	}
	if (p.m == 0) {
		snprintf(tl->msg, sizeof(tl->msg), "the current point has no name");
		return TL_ERROR;
	}
	struct eng_pos base = { .e = p.e, .k = p.kbase };
	int r = tl_goto_canonical(tl, &base);
	if (r != TL_OK)
		return r;
	r = run_to_fire(tl, &p, true);
	if (r == TL_OK && p.after) {
		/* k is known now: the extra steps are a plain target. */
		struct eng_pos q = { .e = tl->vm->guest_exits, .k = tl->eng.k + p.after };
		r = forward_to(tl, &q);
	}
	return r;
}

int tl_stepi(struct timeline *tl)
{
	if (tl->at_end)
		return TL_END;
	struct eng_goal g = { .to_e = UINT64_MAX, .step = true, .traps = true };
	int r = tl_run_goal(tl, &g);
	if (r == TL_TRAP)
		r = TL_OK; /* a step that lands on a breakpoint is still a step */
	return r;
}

/* Steps in stretch e (from its boundary to the instruction that causes
 * exit e+1). */
static int stretch_len(struct timeline *tl, uint64_t e, uint64_t *len)
{
	struct eng_pos base = { .e = e, .k = 0 };
	int r = tl_goto_canonical(tl, &base);
	if (r != TL_OK)
		return r;
	uint64_t last = 0;
	while (tl->vm->guest_exits == e && !tl->vm->stop) {
		last = tl->eng.k;
		struct eng_goal g = { .to_e = UINT64_MAX, .step = true };
		r = tl_run_goal(tl, &g);
		if (r == TL_END)
			break;
		if (r != TL_OK)
			return r;
		if (tl->eng.k != ENG_K_UNKNOWN && tl->eng.k % TL_SNAP_STEPS == 0)
			tl_snapshot(tl);
	}
	*len = last;
	return TL_OK;
}

int tl_reverse_stepi(struct timeline *tl)
{
	int r = tl_canonicalize(tl);
	if (r != TL_OK)
		return r;
	struct eng_pos p;
	eng_where(&tl->eng, &p);
	if (p.k > 0) {
		p.k--;
	} else {
		if (p.e <= tl->begin_e)
			return TL_BEGIN;
		uint64_t len;
		if ((r = stretch_len(tl, p.e - 1, &len)) != TL_OK)
			return r;
		p.e--;
		p.k = len;
	}
	return tl_goto_canonical(tl, &p);
}

int tl_goto_exit(struct timeline *tl, uint64_t e)
{
	if (e == UINT64_MAX) {
		if (tl->at_end)
			return TL_END;
		struct eng_goal g = { .to_e = UINT64_MAX, .poll = tl_poll_cb, .poll_ctx = tl };
		return tl_run_goal(tl, &g);
	}
	struct eng_pos p = { .e = e, .k = 0 };
	return tl_goto_canonical(tl, &p);
}

int tl_goto_event(struct timeline *tl, uint64_t ev_no)
{
	struct trace_event ev;
	struct trace_info ti;

	trace_reader_info(rr_of(tl->vm)->r, &ti);
	if (ev_no < ti.first_event) {
		snprintf(tl->msg, sizeof(tl->msg), "event %" PRIu64 " was dropped: this flight recording keeps "
			 "events %" PRIu64 " to %" PRIu64 " (from guest exit %" PRIu64 ")", ev_no, ti.first_event,
			 ti.n_events - 1, tl->begin_e);
		return -ESRCH;
	}
	if (trace_reader_get(rr_of(tl->vm)->r, ev_no, &ev) != 1)
		return -ENOENT;
	/* The lookup moved the trace reader: a restore re-seeks it. */
	tl->at_end = true;
	return tl_goto_exit(tl, ev.exit_no);
}

int tl_settle(struct timeline *tl)
{
	return eng_settle(&tl->eng);
}

int tl_trap_add(struct timeline *tl, const struct eng_trap *t)
{
	return eng_trap_add(&tl->eng, t);
}

int tl_trap_del(struct timeline *tl, const struct eng_trap *t)
{
	return eng_trap_del(&tl->eng, t);
}

int tl_hit(const struct timeline *tl, struct eng_trap *t, uint64_t *addr)
{
	int i = tl->eng.hit;

	if (i >= 0) {
		*t = tl->eng.traps[i];
		*addr = tl->eng.hit_addr;
	}
	return i;
}

uint64_t tl_next_event(const struct timeline *tl)
{
	const struct rr *rr = rr_of(tl->vm);

	return rr->have_next == 1 ? rr->next.seq : rr->last_good + 1;
}

bool tl_at_end(const struct timeline *tl)
{
	return tl->at_end;
}

const char *tl_msg(const struct timeline *tl)
{
	return tl->msg;
}

const char *tl_end_msg(const struct timeline *tl)
{
	return tl->end_msg;
}

void tl_clear_msg(struct timeline *tl)
{
	tl->msg[0] = 0;
}

void tl_info(struct timeline *tl, char *buf, size_t len)
{
	struct rr *rr = rr_of(tl->vm);
	struct trace_info ti;

	trace_reader_info(rr->r, &ti);
	const char *end = trace_reader_meta(rr->r, "end_reason");
	snprintf(buf, len,
		 "trace %s: format %u, %s, %" PRIu64 " events, guest exits %" PRIu64 "..%" PRIu64
		 ", %" PRIu64 " checkpoints, end: %s\n"
		 "session: %" PRIu64 " snapshots taken, %" PRIu64 " restores, %" PRIu64 " single steps, %" PRIu64
		 " patch trap hits\n"
		 "breakpoints: %s, watchpoints: %s\n",
		 rr->path, ti.format_version, ti.complete ? "complete" : "incomplete", ti.n_events, ti.first_exit,
		 ti.last_exit, ti.n_checkpoints, end ? end : "?", tl->snaps_taken, tl->restores, tl->eng.steps,
		 tl->eng.patch_hits,
		 tl->eng.hw_exec ? "debug registers"
		 : tl->eng.patch_exec ? "patch traps (HLT over the instruction) at CPL0, single-stepping elsewhere"
				      : "single-stepping (the host's debug registers do not fire)",
		 tl->eng.hw_data ? "debug registers" : "write only, by value: single-stepping forward, dirty pages backward");
	if (ti.first_event) {
		size_t used = strlen(buf);
		snprintf(buf + used, len > used ? len - used : 0,
			 "flight recording: the kept part begins at event %" PRIu64 " (guest exit %" PRIu64
			 "); events 0..%" PRIu64 " were dropped\n", ti.first_event, tl->begin_e, ti.first_event - 1);
	}
}
