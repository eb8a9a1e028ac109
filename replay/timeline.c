/* Moving through a recording in both directions (timeline.h). */
#include "replay/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/rr.h"
#include "replay/seek.h"
#include "storage/checkpoint.h"

#define PAGE 4096u
/* Snapshots are dropped (oldest first, never the start) above this. */
#define TL_SNAP_BUDGET (768ull << 20)

struct tl_snap {
	struct eng_pos pos;     /* canonical */
	void *state;
	size_t state_len;
	uint64_t npages;
	uint64_t *pages;        /* sorted page indexes that differ from the base */
	uint8_t *data;          /* their contents */
	/* plain-data replay state */
	struct trace_event next;
	int have_next;
	uint64_t last_good;
	int bp;
	uint64_t bp_addr;
	uint64_t bytes;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void snap_free(struct tl_snap *s)
{
	if (!s)
		return;
	free(s->state);
	free(s->pages);
	free(s->data);
	free(s);
}

static bool canonical(const struct eng_pos *p)
{
	return p->k != ENG_K_UNKNOWN;
}

struct page_list {
	struct timeline *tl;
	uint64_t *pages;
	uint64_t n, cap;
	int err;
};

static void collect_page(void *ctx, uint64_t i)
{
	struct page_list *pl = ctx;
	struct timeline *tl = pl->tl;

	if (pl->err || !memcmp(tl->vm->ram + i * PAGE, tl->base + i * PAGE, PAGE))
		return;
	if (pl->n == pl->cap) {
		uint64_t nc = pl->cap ? pl->cap * 2 : 256;
		uint64_t *np = realloc(pl->pages, nc * sizeof(*np));
		if (!np) {
			pl->err = -ENOMEM;
			return;
		}
		pl->pages = np;
		pl->cap = nc;
	}
	pl->pages[pl->n++] = i;
}

static void drop_old_snaps(struct timeline *tl)
{
	while (tl->snap_bytes > TL_SNAP_BUDGET && tl->nsnaps > 2) {
		/* Keep the start (index 0); drop the one after it. */
		struct tl_snap *s = tl->snaps[1];
		tl->snap_bytes -= s->bytes;
		snap_free(s);
		memmove(&tl->snaps[1], &tl->snaps[2], (tl->nsnaps - 2) * sizeof(*tl->snaps));
		tl->nsnaps--;
	}
}

int tl_snapshot(struct timeline *tl)
{
	struct vm *vm = tl->vm;
	struct engine *eng = &tl->eng;
	struct tl_snap *s;
	struct page_list pl = { .tl = tl };
	size_t at;
	int r;

	if (vm->stop || eng->k == ENG_K_UNKNOWN || eng->injected)
		return 0;
	struct eng_pos pos;
	eng_where(eng, &pos);
	/* One snapshot per point; the list is kept in point order. */
	for (at = 0; at < tl->nsnaps; at++) {
		int c = eng_pos_cmp(&tl->snaps[at]->pos, &pos);
		if (c == 0)
			return 0;
		if (c > 0)
			break;
	}
	rr_peek(vm); /* the next event is part of the state */
	if (vm->stop)
		return -EIO;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pos = pos;
	if ((r = vm_state_save(vm, &s->state, &s->state_len)))
		goto fail;
	if ((r = vm_dirty_sync(vm)))
		goto fail;
	vm_pages_changed_since(vm, tl->base_gen, collect_page, &pl);
	if ((r = pl.err))
		goto fail;
	s->pages = pl.pages;
	s->npages = pl.n;
	pl.pages = NULL;
	s->data = malloc(s->npages * PAGE + 1);
	if (!s->data) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint64_t j = 0; j < s->npages; j++)
		memcpy(s->data + j * PAGE, vm->ram + s->pages[j] * PAGE, PAGE);
	s->next = vm->rr->next;
	s->have_next = vm->rr->have_next;
	s->last_good = vm->rr->last_good;
	s->bp = eng->bp;
	s->bp_addr = eng->bp_addr;
	s->bytes = s->state_len + s->npages * (PAGE + 8) + sizeof(*s);
	if (tl->nsnaps == tl->cap) {
		size_t nc = tl->cap ? tl->cap * 2 : 64;
		struct tl_snap **ns = realloc(tl->snaps, nc * sizeof(*ns));
		if (!ns) {
			r = -ENOMEM;
			goto fail;
		}
		tl->snaps = ns;
		tl->cap = nc;
	}
	memmove(&tl->snaps[at + 1], &tl->snaps[at], (tl->nsnaps - at) * sizeof(*tl->snaps));
	tl->snaps[at] = s;
	tl->nsnaps++;
	tl->snap_bytes += s->bytes;
	tl->snaps_taken++;
	tl->last_snap_ms = now_ms();
	drop_old_snaps(tl);
	return 0;
fail:
	free(pl.pages);
	snap_free(s);
	return r;
}

struct restore_ctx {
	struct timeline *tl;
	const struct tl_snap *s;
	uint64_t j; /* cursor in s->pages (both lists are in index order) */
};

static void restore_page(void *ctx, uint64_t i)
{
	struct restore_ctx *rc = ctx;
	const struct tl_snap *s = rc->s;
	const uint8_t *src;

	while (rc->j < s->npages && s->pages[rc->j] < i)
		rc->j++;
	if (rc->j < s->npages && s->pages[rc->j] == i)
		src = s->data + rc->j * PAGE;
	else
		src = rc->tl->base + i * PAGE;
	uint8_t *dst = rc->tl->vm->ram + i * PAGE;
	if (memcmp(dst, src, PAGE))
		memcpy(dst, src, PAGE);
}

static void mark_page(void *ctx, uint64_t i)
{
	struct timeline *tl = ctx;
	vm_mark_pages_written(tl->vm, i, 1);
}

static int restore(struct timeline *tl, const struct tl_snap *s)
{
	struct vm *vm = tl->vm;
	struct engine *eng = &tl->eng;
	struct restore_ctx rc = { .tl = tl, .s = s };
	int r;

	if ((r = vm_dirty_sync(vm)))
		return r;
	/* Every page written since the base gets the snapshot's or the base's
	 * contents; those are all stamped as written again, so that the memory
	 * digest and later snapshots see them. */
	vm_pages_changed_since(vm, tl->base_gen, restore_page, &rc);
	vm_pages_changed_since(vm, tl->base_gen, mark_page, tl);
	if ((r = vm_state_load(vm, s->state, s->state_len)))
		return r;
	vm->stop = false;
	vm->status = 0;
	vm->stop_msg[0] = 0;
	vm->rr->next = s->next;
	vm->rr->have_next = s->have_next;
	vm->rr->last_good = s->last_good;
	vm->rr->ended_early = false;
	if (s->have_next == 1 && trace_reader_seek(vm->rr->r, s->next.seq + 1)) {
		/* The reader goes on after the kept event. */
		if (trace_reader_seek(vm->rr->r, s->next.seq))
			return -EIO;
		vm->rr->have_next = -1;
	}
	eng_restart(eng, s->pos.k, s->bp, s->bp_addr);
	vm->serial_out = eng->quiet;
	tl->at_end = false;
	tl->restores++;
	return 0;
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

static int poll_cb(void *ctx)
{
	struct timeline *tl = ctx;
	return tl->poll ? tl->poll(tl->poll_ctx) : 0;
}

/* Run one engine goal; map its stop to a tl_result. */
static int run_goal(struct timeline *tl, struct eng_goal *g)
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

int tl_init(struct timeline *tl, struct vm *vm, FILE *serial)
{
	struct trace_info info;
	int r;

	memset(tl, 0, sizeof(*tl));
	tl->vm = vm;
	eng_init(&tl->eng, vm);
	tl->eng.loud = serial;
	tl->eng.quiet = fopen("/dev/null", "w");
	if (!tl->eng.quiet)
		return -errno;
	vm->serial_out = serial;
	tl->base = malloc(vm->ram_size);
	if (!tl->base)
		return -ENOMEM;
	if ((r = vm_dirty_sync(vm)))
		return r;
	/* Untouched RAM reads as zero pages; only pages with data are copied,
	 * so the base costs what the guest image costs. */
	for (uint64_t i = 0; i < vm->ram_size / PAGE; i++) {
		const uint64_t *p = (const uint64_t *)(vm->ram + i * PAGE);
		bool zero = true;
		for (unsigned w = 0; w < PAGE / 8 && zero; w++)
			zero = p[w] == 0;
		if (!zero)
			memcpy(tl->base + i * PAGE, vm->ram + i * PAGE, PAGE);
		else
			memset(tl->base + i * PAGE, 0, PAGE);
	}
	tl->base_gen = vm->dirty_gen;
	trace_reader_info(vm->rr->r, &info);
	if (info.n_checkpoints) {
		tl->ckpt_exit = calloc(info.n_checkpoints, sizeof(uint64_t));
		tl->ckpt_id = calloc(info.n_checkpoints, sizeof(uint64_t));
		if (!tl->ckpt_exit || !tl->ckpt_id)
			return -ENOMEM;
		for (uint64_t i = 0; i < info.n_checkpoints; i++) {
			struct trace_ckpt_info ci;
			if (trace_ckpt_get(vm->rr->r, i, &ci))
				break;
			tl->ckpt_exit[tl->nckpt] = ci.exit_no;
			tl->ckpt_id[tl->nckpt++] = ci.id;
		}
	}
	return tl_snapshot(tl);
}

void tl_free(struct timeline *tl)
{
	for (size_t i = 0; i < tl->nsnaps; i++)
		snap_free(tl->snaps[i]);
	free(tl->snaps);
	free(tl->base);
	free(tl->ckpt_exit);
	free(tl->ckpt_id);
	if (tl->vm && tl->vm->serial_out == tl->eng.quiet)
		tl->vm->serial_out = tl->eng.loud;
	if (tl->eng.quiet)
		fclose(tl->eng.quiet);
	memset(tl, 0, sizeof(*tl));
}

void tl_where(struct timeline *tl, struct eng_pos *pos)
{
	eng_where(&tl->eng, pos);
}

/* The latest snapshot at or before p (canonical); index or -1. */
static long best_snap(struct timeline *tl, const struct eng_pos *p)
{
	long best = -1;
	for (size_t i = 0; i < tl->nsnaps; i++)
		if (eng_pos_cmp(&tl->snaps[i]->pos, p) <= 0)
			best = (long)i;
	return best;
}

/* Restore the best point at or before p (a trace checkpoint when it is
 * nearer than every snapshot).  0 or -errno. */
static int restore_before(struct timeline *tl, const struct eng_pos *p)
{
	long b = best_snap(tl, p);
	uint64_t snap_e = b >= 0 ? tl->snaps[b]->pos.e : 0;
	long ck = -1;

	/* A checkpoint at exit c is the point (c, 0): at or before p when c <= p->e. */
	for (size_t i = 0; i < tl->nckpt; i++)
		if (tl->ckpt_exit[i] <= p->e && (b < 0 || tl->ckpt_exit[i] > snap_e))
			ck = (long)i;
	if (ck >= 0) {
		struct trace_ckpt_info ci;
		int r;
		for (uint64_t i = 0;; i++) {
			if ((r = trace_ckpt_get(tl->vm->rr->r, i, &ci)))
				return r;
			if (ci.id == tl->ckpt_id[ck])
				break;
		}
		tl->vm->stop = false;
		tl->vm->status = 0;
		rr_mem_digest(tl->vm); /* the restore zeroes the pages the digest knows as non-zero */
		if ((r = replay_restore_checkpoint(tl->vm, &ci)))
			return r;
		struct engine *eng = &tl->eng;
		eng_restart(eng, 0, 0, 0); /* checkpoints are taken at quiet boundaries */
		tl->vm->serial_out = eng->quiet;
		tl->at_end = false;
		tl->restores++;
		return tl_snapshot(tl);
	}
	if (b < 0)
		return -ENOENT;
	return restore(tl, tl->snaps[b]);
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
			if (now_ms() - tl->last_snap_ms >= TL_SNAP_MS) {
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
		int r = run_goal(tl, &g);
		if (r != TL_OK)
			return r;
		if (eng->k != ENG_K_UNKNOWN && eng->k > 0 && eng->k % TL_SNAP_STEPS == 0)
			tl_snapshot(tl);
		else if (eng->k == 0 && now_ms() - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	return TL_OK;
}

static int goto_canonical(struct timeline *tl, const struct eng_pos *p)
{
	struct eng_pos cur;
	eng_where(&tl->eng, &cur);
	if (tl->at_end || !canonical(&cur) || eng_pos_cmp(&cur, p) > 0 || tl->vm->stop) {
		int r = restore_before(tl, p);
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
	int r = run_goal(tl, &g);

	if (added >= 0)
		eng_trap_del(&tl->eng, &p->trap);
	return r == TL_TRAP ? TL_OK : r;
}

int tl_goto(struct timeline *tl, const struct eng_pos *p)
{
	if (canonical(p))
		return goto_canonical(tl, p);
	struct eng_pos base = { .e = p->e, .k = p->kbase };
	int r = goto_canonical(tl, &base);
	if (r != TL_OK)
		return r;
	r = run_to_fire(tl, p, false);
	for (uint64_t i = 0; i < p->after && r == TL_OK; i++) {
		struct eng_goal st = { .to_e = UINT64_MAX, .step = true };
		r = run_goal(tl, &st);
	}
	return r;
}

/* Make the current point canonical (k known) by re-running it by single
 * steps from its base. */
static int canonicalize(struct timeline *tl)
{
	struct eng_pos p;
	eng_where(&tl->eng, &p);
	if (canonical(&p))
		return TL_OK;
	if (tl->at_end) {
		/* The end of the recording after a run at full speed: step from
		 * the last boundary to it. */
		struct eng_pos base = { .e = p.e, .k = p.kbase };
		int r = goto_canonical(tl, &base);
		if (r != TL_OK)
			return r;
		struct eng_goal g = { .to_e = UINT64_MAX, .single = true };
		r = run_goal(tl, &g);
		return r == TL_END ? TL_OK : r;
	}
	if (p.m == 0) {
		snprintf(tl->msg, sizeof(tl->msg), "the current point has no name");
		return TL_ERROR;
	}
	struct eng_pos base = { .e = p.e, .k = p.kbase };
	int r = goto_canonical(tl, &base);
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

int tl_continue(struct timeline *tl)
{
	if (tl->at_end)
		return TL_END;
	struct eng_goal g = { .to_e = UINT64_MAX, .traps = true, .poll = poll_cb, .poll_ctx = tl };
	int r;
	for (;;) {
		/* Full speed, with a snapshot at a boundary now and then. */
		g.to_e = tl->eng.k != ENG_K_UNKNOWN ? tl->vm->guest_exits + 512 : UINT64_MAX;
		g.to_k = 0;
		r = run_goal(tl, &g);
		if (r != TL_OK)
			break;
		if (now_ms() - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	if (r == TL_OK || r == TL_TRAP || r == TL_INTERRUPTED)
		tl_snapshot(tl);
	return r;
}

int tl_stepi(struct timeline *tl)
{
	if (tl->at_end)
		return TL_END;
	struct eng_goal g = { .to_e = UINT64_MAX, .step = true, .traps = true };
	int r = run_goal(tl, &g);
	if (r == TL_TRAP)
		r = TL_OK; /* a step that lands on a breakpoint is still a step */
	return r;
}

/* Steps in stretch e (from its boundary to the instruction that causes
 * exit e+1). */
static int stretch_len(struct timeline *tl, uint64_t e, uint64_t *len)
{
	struct eng_pos base = { .e = e, .k = 0 };
	int r = goto_canonical(tl, &base);
	if (r != TL_OK)
		return r;
	uint64_t last = 0;
	while (tl->vm->guest_exits == e && !tl->vm->stop) {
		last = tl->eng.k;
		struct eng_goal g = { .to_e = UINT64_MAX, .step = true };
		r = run_goal(tl, &g);
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
	int r = canonicalize(tl);
	if (r != TL_OK)
		return r;
	struct eng_pos p;
	eng_where(&tl->eng, &p);
	if (p.k > 0) {
		p.k--;
	} else {
		if (p.e == 0)
			return TL_BEGIN;
		uint64_t len;
		if ((r = stretch_len(tl, p.e - 1, &len)) != TL_OK)
			return r;
		p.e--;
		p.k = len;
	}
	return goto_canonical(tl, &p);
}

struct fires {
	struct eng_pos *pos;
	int *trap;
	uint64_t *exitno;
	size_t n, cap;
	struct vm *vm;
};

static void on_fire(void *ctx, const struct eng_pos *p, int trap)
{
	struct fires *f = ctx;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 64;
		struct eng_pos *np = realloc(f->pos, nc * sizeof(*np));
		int *nt = realloc(f->trap, nc * sizeof(*nt));
		uint64_t *nx = realloc(f->exitno, nc * sizeof(*nx));
		if (np)
			f->pos = np;
		if (nt)
			f->trap = nt;
		if (nx)
			f->exitno = nx;
		if (!np || !nt || !nx)
			return;
		f->cap = nc;
	}
	f->pos[f->n] = *p;
	f->trap[f->n] = trap;
	f->exitno[f->n] = f->vm->exits;
	f->n++;
}

int tl_reverse_continue(struct timeline *tl)
{
	struct eng_pos cur;
	int r;

	eng_where(&tl->eng, &cur);
	if (tl->at_end) {
		if ((r = canonicalize(tl)) != TL_OK)
			return r;
		eng_where(&tl->eng, &cur);
	}
	struct fires f = { .vm = tl->vm };
	struct eng_pos upto = cur;
	bool upto_is_end = tl->at_end; /* running to upto ends the replay there */
	for (;;) {
		/* The restore point before upto, then forward to upto collecting fires. */
		struct eng_pos before = upto;
		if (canonical(&before)) {
			if (before.k > 0)
				before.k--;
			else if (before.e > 0) {
				before.e--;
				before.k = UINT64_MAX - 1;
			} else {
				r = goto_canonical(tl, &(struct eng_pos){ 0 });
				free(f.pos), free(f.trap), free(f.exitno);
				return r == TL_OK ? TL_BEGIN : r;
			}
		} else {
			before.k = before.kbase;
		}
		if ((r = restore_before(tl, &before))) {
			snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
			r = TL_ERROR;
			break;
		}
		struct eng_pos start;
		eng_where(&tl->eng, &start);
		f.n = 0;
		struct eng_goal g = { .to_e = UINT64_MAX, .on_fire = on_fire, .fire_ctx = &f };
		if (canonical(&upto)) {
			/* Full speed to upto's boundary, then steps. */
			if (tl->vm->guest_exits < upto.e) {
				g.to_e = upto.e;
				g.to_k = 0;
				r = run_goal(tl, &g);
				if (r == TL_END && upto_is_end)
					r = TL_OK;
				if (r != TL_OK)
					break;
			}
			if (upto.k > 0 && !tl->at_end) {
				g.to_e = upto.e;
				g.to_k = upto.k;
				r = run_goal(tl, &g);
				if (r == TL_END && upto_is_end)
					r = TL_OK;
				if (r != TL_OK)
					break;
			}
		} else {
			struct eng_pos base = { .e = upto.e, .k = upto.kbase };
			if (eng_pos_cmp(&start, &base) < 0) {
				g.to_e = base.e;
				g.to_k = base.k;
				r = run_goal(tl, &g);
				if (r != TL_OK)
					break;
			}
			struct eng_goal g2 = { .to_e = UINT64_MAX, .pending = &upto, .on_fire = on_fire, .fire_ctx = &f };
			r = run_goal(tl, &g2);
			if (r != TL_OK)
				break;
		}
		/* Fires at the last stop happened at upto itself: an execution
		 * trap there is where we are (not before it), a data trap there
		 * was the instruction just before it (still to be shown). */
		size_t keep = 0;
		for (size_t i = 0; i < f.n; i++)
			if (f.exitno[i] != tl->vm->exits || tl->eng.traps[f.trap[i]].type != ENG_EXEC) {
				f.pos[keep] = f.pos[i];
				f.trap[keep] = f.trap[i];
				f.exitno[keep] = f.exitno[i];
				keep++;
			}
		f.n = keep;
		if (f.n) {
			struct eng_pos hit = f.pos[f.n - 1];
			int trap = f.trap[f.n - 1];
			free(f.pos), free(f.trap), free(f.exitno);
			r = tl_goto(tl, &hit);
			/* A data trap fires after the access: going backwards, stop
			 * before the instruction that made it, as gdb expects. */
			if (r == TL_OK && tl->eng.traps[trap].type != ENG_EXEC)
				r = tl_reverse_stepi(tl);
			if (r != TL_OK)
				return r;
			tl->eng.hit = trap;
			tl->eng.hit_addr = tl->eng.traps[trap].addr;
			return TL_TRAP;
		}
		upto_is_end = false;
		if (start.e == 0 && start.k == 0) {
			r = goto_canonical(tl, &start);
			free(f.pos), free(f.trap), free(f.exitno);
			return r == TL_OK ? TL_BEGIN : r;
		}
		upto = start;
	}
	free(f.pos), free(f.trap), free(f.exitno);
	return r;
}

int tl_goto_exit(struct timeline *tl, uint64_t e)
{
	if (e == UINT64_MAX) {
		if (tl->at_end)
			return TL_END;
		struct eng_goal g = { .to_e = UINT64_MAX, .poll = poll_cb, .poll_ctx = tl };
		return run_goal(tl, &g);
	}
	struct eng_pos p = { .e = e, .k = 0 };
	return goto_canonical(tl, &p);
}

void tl_list_points(struct timeline *tl, FILE *f)
{
	char buf[128];
	fprintf(f, "%zu checkpoints in the trace, %zu snapshots in this session (%" PRIu64 " KiB)\n", tl->nckpt,
		tl->nsnaps, tl->snap_bytes >> 10);
	for (size_t i = 0; i < tl->nckpt; i++)
		fprintf(f, "  checkpoint %" PRIu64 " at exit %" PRIu64 "\n", tl->ckpt_id[i], tl->ckpt_exit[i]);
	for (size_t i = 0; i < tl->nsnaps; i++) {
		eng_pos_format(&tl->snaps[i]->pos, buf, sizeof(buf));
		fprintf(f, "  snapshot at %s (%" PRIu64 " pages)\n", buf, tl->snaps[i]->npages);
	}
}
