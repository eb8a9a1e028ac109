/* Moving through a recording in both directions (timeline.h). */
#include "replay/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/ckpt.h"
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
	struct tl_paging ctl;   /* at pos */
	/* A link of the chain (timeline.h): the snapshot before it, that one's
	 * paging controls, and the RAM pages written in between (sorted). */
	bool has_prev;
	struct eng_pos prev;
	struct tl_paging prev_ctl;
	uint64_t *written;
	uint64_t nwritten;
};

static void snap_free(struct tl_snap *s)
{
	if (!s)
		return;
	free(s->state);
	free(s->pages);
	free(s->data);
	free(s->written);
	free(s);
}

static bool canonical(const struct eng_pos *p)
{
	return p->k != ENG_K_UNKNOWN;
}

static void paging_of(const struct kvm_sregs *sr, struct tl_paging *p)
{
	p->cr0 = sr->cr0 & (X86_CR0_PE | X86_CR0_PG);
	p->cr3 = sr->cr3;
	p->cr4 = sr->cr4 & (X86_CR4_PSE | X86_CR4_PAE | X86_CR4_LA57);
	p->efer = sr->efer & X86_EFER_LMA;
}

static bool paging_same(const struct tl_paging *a, const struct tl_paging *b)
{
	return a->cr0 == b->cr0 && a->cr3 == b->cr3 && a->cr4 == b->cr4 && a->efer == b->efer;
}

/* The chain of snapshots goes on from a point the guest is at. */
static void chain_link(struct timeline *tl, const struct eng_pos *pos, const struct tl_paging *ctl)
{
	tl->chain = true;
	tl->chain_pos = *pos;
	/* Every guest write from here on gets a newer generation, also one
	 * made before but not synced yet: a later list can only be larger. */
	tl->chain_gen = tl->vm->dirty_gen;
	tl->chain_ctl = *ctl;
}

struct page_list {
	struct timeline *tl;
	uint64_t *pages;
	uint64_t n, cap;
	int err;
	bool all; /* every page named, not only those that differ from the base */
};

/* Append x to the growable array *v (*n used, *cap allocated).  0 or -ENOMEM. */
static int u64_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint64_t nc = *cap ? *cap * 2 : 256;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static void collect_page(void *ctx, uint64_t i)
{
	struct page_list *pl = ctx;
	struct timeline *tl = pl->tl;

	if (pl->err || (!pl->all && !memcmp(tl->vm->ram + i * PAGE, tl->base + i * PAGE, PAGE)))
		return;
	pl->err = u64_push(&pl->pages, &pl->n, &pl->cap, i);
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
		if (c == 0) {
			chain_link(tl, &pos, &tl->snaps[at]->ctl);
			return 0;
		}
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
	struct kvm_sregs sregs;
	if ((r = vcpu_get_sregs(vm, &sregs)))
		goto fail;
	paging_of(&sregs, &s->ctl);
	if (tl->chain) {
		struct page_list wl = { .tl = tl, .all = true };
		vm_pages_changed_since(vm, tl->chain_gen, collect_page, &wl);
		if ((r = wl.err)) {
			free(wl.pages);
			goto fail;
		}
		s->has_prev = true;
		s->prev = tl->chain_pos;
		s->prev_ctl = tl->chain_ctl;
		s->written = wl.pages;
		s->nwritten = wl.n;
	}
	s->data = malloc(s->npages * PAGE + 1);
	if (!s->data) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint64_t j = 0; j < s->npages; j++)
		memcpy(s->data + j * PAGE, vm->ram + s->pages[j] * PAGE, PAGE);
	s->next = rr_of(vm)->next;
	s->have_next = rr_of(vm)->have_next;
	s->last_good = rr_of(vm)->last_good;
	s->bp = eng->bp;
	s->bp_addr = eng->bp_addr;
	s->bytes = s->state_len + s->npages * (PAGE + 8) + s->nwritten * 8 + sizeof(*s);
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
	tl->last_snap_ms = host_mono_ns() / 1000000;
	chain_link(tl, &pos, &s->ctl);
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

	tl->chain = false;
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
	rr_of(vm)->next = s->next;
	rr_of(vm)->have_next = s->have_next;
	rr_of(vm)->last_good = s->last_good;
	rr_of(vm)->ended_early = false;
	if (s->have_next == 1 && trace_reader_seek(rr_of(vm)->r, s->next.seq + 1)) {
		/* The reader goes on after the kept event. */
		if (trace_reader_seek(rr_of(vm)->r, s->next.seq))
			return -EIO;
		rr_of(vm)->have_next = -1;
	}
	eng_restart(eng, s->pos.k, s->bp, s->bp_addr);
	vm->serial_out = eng->quiet;
	tl->at_end = false;
	tl->restores++;
	/* The pages just rewritten carry generations up to dirty_gen: the
	 * chain starts afresh here. */
	chain_link(tl, &s->pos, &s->ctl);
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
	trace_reader_info(rr_of(vm)->r, &info);
	if (info.n_checkpoints) {
		tl->ckpt_exit = calloc(info.n_checkpoints, sizeof(uint64_t));
		tl->ckpt_id = calloc(info.n_checkpoints, sizeof(uint64_t));
		tl->ckpt_parent = calloc(info.n_checkpoints, sizeof(uint64_t));
		if (!tl->ckpt_exit || !tl->ckpt_id || !tl->ckpt_parent)
			return -ENOMEM;
		for (uint64_t i = 0; i < info.n_checkpoints; i++) {
			struct trace_ckpt_info ci;
			if (trace_ckpt_get(rr_of(vm)->r, i, &ci))
				break;
			tl->ckpt_exit[tl->nckpt] = ci.exit_no;
			tl->ckpt_parent[tl->nckpt] = ci.full ? 0 : ci.parent;
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
	free(tl->ckpt_parent);
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
			if ((r = trace_ckpt_get(rr_of(tl->vm)->r, i, &ci)))
				return r;
			if (ci.id == tl->ckpt_id[ck])
				break;
		}
		tl->vm->stop = false;
		tl->vm->status = 0;
		tl->chain = false; /* the snapshot taken below starts a new one */
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
		int r = run_goal(tl, &g);
		if (r != TL_OK)
			return r;
		if (eng->k != ENG_K_UNKNOWN && eng->k > 0 && eng->k % TL_SNAP_STEPS == 0)
			tl_snapshot(tl);
		else if (eng->k == 0 && host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
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

/* Forward until a trap fires, every trap checked as the host allows
 * (software write watches by single steps). */
static int continue_plain(struct timeline *tl)
{
	struct eng_goal g = { .to_e = UINT64_MAX, .traps = true, .poll = poll_cb, .poll_ctx = tl };
	int r;
	for (;;) {
		/* Full speed, with a snapshot at a boundary now and then. */
		g.to_e = tl->eng.k != ENG_K_UNKNOWN ? tl->vm->guest_exits + 512 : UINT64_MAX;
		g.to_k = 0;
		r = run_goal(tl, &g);
		if (r != TL_OK)
			break;
		if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
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
	bool nomem;
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
		if (!np || !nt || !nx) {
			f->nomem = true;
			return;
		}
		f->cap = nc;
	}
	f->pos[f->n] = *p;
	f->trap[f->n] = trap;
	f->exitno[f->n] = f->vm->exits;
	f->n++;
}

static void fires_free(struct fires *f)
{
	free(f->pos);
	free(f->trap);
	free(f->exitno);
}

/* Fires at the last stop happened at upto itself: an execution trap there
 * is where we are (not before it), a data trap there was the instruction
 * just before it (still to be shown).  *mark (may be NULL) counts the
 * fires before an index and follows the removals. */
static void drop_fires_at_stop(struct timeline *tl, struct fires *f, size_t *mark)
{
	size_t keep = 0, below = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (f->exitno[i] != tl->vm->exits || tl->eng.traps[f->trap[i]].type != ENG_EXEC) {
			f->pos[keep] = f->pos[i];
			f->trap[keep] = f->trap[i];
			f->exitno[keep] = f->exitno[i];
			keep++;
			if (mark && i < *mark)
				below++;
		}
	}
	f->n = keep;
	if (mark)
		*mark = below;
}

/* The stretch (between two exit boundaries) a fire happened in: a fire
 * at a boundary itself came on arrival there, from the stretch before. */
static uint64_t fire_stretch(const struct eng_pos *p)
{
	return p->k == 0 && p->e > 0 ? p->e - 1 : p->e;
}

/* ---- write watches by pages (hosts without data breakpoints) ---- */

#define TL_WS_DATA (2 * ENG_MAX_TRAPS)
#define TL_WS_TABLES (2 * ENG_MAX_TRAPS * VM_WALK_MAX)

/* What the write watches depend on at one point: the RAM pages (indexes as
 * in vm->ram) holding the watched bytes (first and last byte of each), the
 * pages of the paging-structure entries translating them, and the paging
 * controls.  Sorted, without repeats. */
struct tl_watchset {
	struct tl_paging ctl;
	unsigned ndata, ntab;
	uint64_t data[TL_WS_DATA];
	uint64_t tab[TL_WS_TABLES];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static unsigned sort_unique(uint64_t *v, unsigned n)
{
	unsigned k = 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (unsigned i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* Index of the first element above x in sorted v (n when none). */
static uint64_t first_above(const uint64_t *v, uint64_t n, uint64_t x)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (v[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool sorted_has(const uint64_t *v, uint64_t n, uint64_t x)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (v[mid] == x)
			return true;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* RAM page index of guest-physical gpa, or -ERANGE (not RAM). */
static int ram_page(struct vm *vm, uint64_t gpa, uint64_t *idx)
{
	const uint8_t *p = vm_gpa_ptr(vm, gpa & ~(uint64_t)(PAGE - 1), PAGE);
	if (!p)
		return -ERANGE;
	*idx = (uint64_t)(p - vm->ram) / PAGE;
	return 0;
}

/* The watch set of the active write traps where the guest is.  0, -ENOENT
 * (no write trap), -EFAULT (an address is unmapped), -ERANGE (not RAM) or
 * the ioctl's -errno. */
static int watchset_here(struct timeline *tl, struct tl_watchset *ws)
{
	struct engine *eng = &tl->eng;
	struct kvm_sregs sregs;
	int r;

	ws->ndata = ws->ntab = 0;
	if ((r = vcpu_get_sregs(tl->vm, &sregs)))
		return r;
	paging_of(&sregs, &ws->ctl);
	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i] || eng->traps[i].type != ENG_WRITE)
			continue;
		/* Both ends: a watch may cross a page (not one gdb can set
		 * today, its watches are aligned, but the check costs nothing). */
		uint64_t ends[2] = { eng->traps[i].addr, eng->traps[i].addr + eng->traps[i].len - 1 };
		for (int j = 0; j < 2; j++) {
			uint64_t gpa, tab[VM_WALK_MAX], idx;
			unsigned nt;
			if ((r = vm_gva_walk(tl->vm, &sregs, ends[j], &gpa, tab, &nt)))
				return r;
			if ((r = ram_page(tl->vm, gpa, &idx)))
				return r;
			ws->data[ws->ndata++] = idx;
			for (unsigned t = 0; t < nt; t++) {
				if ((r = ram_page(tl->vm, tab[t], &idx)))
					return r;
				ws->tab[ws->ntab++] = idx;
			}
		}
	}
	ws->ndata = sort_unique(ws->data, ws->ndata);
	ws->ntab = sort_unique(ws->tab, ws->ntab);
	return ws->ndata ? 0 : -ENOENT;
}

static bool watchset_same(const struct tl_watchset *a, const struct tl_watchset *b)
{
	return paging_same(&a->ctl, &b->ctl) && a->ndata == b->ndata && a->ntab == b->ntab &&
	       !memcmp(a->data, b->data, a->ndata * sizeof(a->data[0])) &&
	       !memcmp(a->tab, b->tab, a->ntab * sizeof(a->tab[0]));
}

/* Does a sorted page list name any page of ws? */
static bool list_touches(const uint64_t *v, uint64_t n, const struct tl_watchset *ws)
{
	for (unsigned i = 0; i < ws->ndata; i++)
		if (sorted_has(v, n, ws->data[i]))
			return true;
	for (unsigned i = 0; i < ws->ntab; i++)
		if (sorted_has(v, n, ws->tab[i]))
			return true;
	return false;
}

/* Paging controls at trace checkpoint id (from its vCPU blob).  0 or -errno. */
static int ckpt_paging(struct timeline *tl, uint64_t id, struct tl_paging *p)
{
	const void *blob, *state;
	size_t len, slen;
	struct rr_ckpt_header h;
	struct kvm_sregs sregs;
	char err[256];
	int r;

	if ((r = rr_ckpt_read(tl->vm, id, &blob, &len, err, sizeof(err))))
		return r;
	if (rr_ckpt_parse(blob, len, &h, &state, &slen) || vm_state_sregs(state, slen, &sregs, err, sizeof(err)))
		return -EBADMSG;
	paging_of(&sregs, p);
	return 0;
}

/* upto (canonical, where ws holds) is a restore point whose interval back
 * to the one before has a known list of written pages (a snapshot chain
 * link, or an incremental trace checkpoint and its parent): when the list
 * names no page of ws and the paging controls at the interval's start are
 * ws's, no write changed a watched value in that interval (and the
 * translation there is ws's too).  Then move upto back to that start: 1;
 * else 0.  A checkpoint that cannot be read is not skipped. */
static int skip_clean(struct timeline *tl, struct eng_pos *upto, const struct tl_watchset *ws)
{
	for (size_t i = 0; i < tl->nsnaps; i++) {
		const struct tl_snap *s = tl->snaps[i];
		if (eng_pos_cmp(&s->pos, upto) || !s->has_prev || eng_pos_cmp(&s->prev, upto) >= 0)
			continue;
		if (paging_same(&s->prev_ctl, &ws->ctl) && !list_touches(s->written, s->nwritten, ws)) {
			*upto = s->prev;
			return 1;
		}
	}
	if (upto->k != 0)
		return 0;
	for (size_t i = 0; i < tl->nckpt; i++) {
		if (tl->ckpt_exit[i] != upto->e || !tl->ckpt_parent[i])
			continue;
		size_t p = 0;
		while (p < tl->nckpt && tl->ckpt_id[p] != tl->ckpt_parent[i])
			p++;
		if (p == tl->nckpt || tl->ckpt_exit[p] >= upto->e)
			continue;
		struct tl_paging ctl;
		int r = ckpt_paging(tl, tl->ckpt_id[p], &ctl);
		if (r) {
			log_debug("reverse-continue: checkpoint %" PRIu64 " unreadable (%s): not skipped", tl->ckpt_id[p],
				  strerror(-r));
			continue;
		}
		if (!paging_same(&ctl, &ws->ctl))
			continue;
		bool hit = false;
		for (unsigned j = 0; j < ws->ndata + ws->ntab && !hit; j++) {
			uint64_t page = j < ws->ndata ? ws->data[j] : ws->tab[j - ws->ndata];
			r = trace_ckpt_has_page(rr_of(tl->vm)->r, tl->ckpt_id[i], page);
			hit = r != 0; /* an error counts as written */
		}
		if (!hit) {
			*upto = (struct eng_pos){ .e = tl->ckpt_exit[p], .k = 0 };
			return 1;
		}
	}
	return 0;
}

/* A replay pass noting which stretches wrote a watched page. */
struct dirty_pass {
	struct timeline *tl;
	const struct tl_watchset *ws;
	uint64_t gen;         /* dirty generation of the last look */
	bool tables_written;  /* a page of the translation was written */
	uint64_t *cand;       /* stretches (exit numbers) that wrote a watched page, ascending */
	uint64_t n, cap;
	int err;
};

static void cand_add(struct dirty_pass *dp, uint64_t stretch)
{
	if (dp->n && dp->cand[dp->n - 1] == stretch)
		return;
	if (!dp->err)
		dp->err = u64_push(&dp->cand, &dp->n, &dp->cap, stretch);
}

/* The stretch that just ended: did it write a watched page? */
static void dp_look(struct dirty_pass *dp, uint64_t stretch)
{
	struct vm *vm = dp->tl->vm;
	int r;

	if (dp->err)
		return;
	if ((r = vm_dirty_sync(vm))) {
		dp->err = r;
		return;
	}
	for (unsigned i = 0; i < dp->ws->ndata; i++)
		if (vm->page_gen[dp->ws->data[i]] > dp->gen) {
			cand_add(dp, stretch);
			break;
		}
	for (unsigned i = 0; i < dp->ws->ntab; i++)
		if (vm->page_gen[dp->ws->tab[i]] > dp->gen)
			dp->tables_written = true;
	dp->gen = vm->dirty_gen;
}

static int dp_boundary(void *ctx)
{
	struct dirty_pass *dp = ctx;
	dp_look(dp, dp->tl->vm->guest_exits - 1);
	return 0;
}

/* From where the guest is to boundary (to_e, 0) at full speed, write
 * watches by pages, other traps' fires into f, snapshots on the way (they
 * make the later stepping of a stretch start near it).  may_end: the
 * replay may end there. */
static int dirty_pass(struct timeline *tl, struct dirty_pass *dp, struct fires *f, uint64_t to_e, bool may_end)
{
	struct vm *vm = tl->vm;
	int r;

	if ((r = vm_dirty_sync(vm))) {
		snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-r));
		return TL_ERROR;
	}
	dp->gen = vm->dirty_gen;
	while (vm->guest_exits < to_e) {
		struct eng_goal g = { .to_e = to_e - vm->guest_exits > 256 ? vm->guest_exits + 256 : to_e,
				      .on_fire = on_fire, .fire_ctx = f, .watch_by_pages = true,
				      .on_boundary = dp_boundary, .boundary_ctx = dp };
		r = run_goal(tl, &g);
		if (r == TL_END && may_end) {
			dp_look(dp, vm->guest_exits - 1); /* the guest's last exit is no boundary the run reached */
			break;
		}
		if (r != TL_OK)
			return r;
		if (dp->err)
			break;
		if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	if (dp->err) {
		snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-dp->err));
		return TL_ERROR;
	}
	return TL_OK;
}

/* From the restore point just restored, forward to upto, collecting every
 * fire into f.  dp: at full speed up to upto's boundary with write watches
 * by pages (*mark = the fires of that part), then single steps as without.
 * A boundary's translation that differs from dp's watch set stops the run
 * with *invalid. */
static int rc_forward(struct timeline *tl, const struct eng_pos *upto, bool upto_is_end, bool upto_is_cur,
		      struct fires *f, struct dirty_pass *dp, size_t *mark, bool *invalid)
{
	struct vm *vm = tl->vm;
	struct eng_goal g = { .to_e = UINT64_MAX, .on_fire = on_fire, .fire_ctx = f };
	uint64_t to_e = upto->e; /* the boundary at or before upto (and its base) */
	int r;

	f->n = 0;
	*invalid = false;
	if (dp && vm->guest_exits < to_e) {
		r = dirty_pass(tl, dp, f, to_e, upto_is_end && canonical(upto) && upto->k == 0);
		if (r != TL_OK)
			return r;
		struct tl_watchset here;
		if (dp->tables_written || watchset_here(tl, &here) || !watchset_same(&here, dp->ws)) {
			*invalid = true;
			return TL_OK;
		}
	}
	*mark = f->n;
	if (canonical(upto)) {
		/* Full speed to upto's boundary, then steps. */
		if (vm->guest_exits < upto->e) {
			g.to_e = upto->e;
			g.to_k = 0;
			r = run_goal(tl, &g);
			if (r == TL_END && upto_is_end)
				r = TL_OK;
			if (r != TL_OK)
				return r;
		}
		if (upto->k > 0 && !tl->at_end) {
			g.to_e = upto->e;
			g.to_k = upto->k;
			r = run_goal(tl, &g);
			if (r == TL_END && upto_is_end)
				r = TL_OK;
			if (r != TL_OK)
				return r;
		}
	} else {
		struct eng_pos base = { .e = upto->e, .k = upto->kbase }, here;
		eng_where(&tl->eng, &here);
		if (eng_pos_cmp(&here, &base) < 0) {
			g.to_e = base.e;
			g.to_k = base.k;
			r = run_goal(tl, &g);
			if (r != TL_OK)
				return r;
		}
		/* upto is named by a fire of its trap: count them even if gdb
		 * removed that trap since (as run_to_fire does), but then its
		 * fires are no hits. */
		int added = eng_trap_find(&tl->eng, &upto->trap) < 0 ? eng_trap_add(&tl->eng, &upto->trap) : -1;
		size_t first = f->n;
		struct eng_goal g2 = { .to_e = UINT64_MAX, .pending = upto, .on_fire = on_fire, .fire_ctx = f };
		r = run_goal(tl, &g2);
		if (added >= 0) {
			eng_trap_del(&tl->eng, &upto->trap);
			size_t keep = first;
			for (size_t i = first; i < f->n; i++)
				if (f->trap[i] != added) {
					f->pos[keep] = f->pos[i];
					f->trap[keep] = f->trap[i];
					f->exitno[keep] = f->exitno[i];
					keep++;
				}
			f->n = keep;
		}
		if (r != TL_OK)
			return r;
	}
	if (f->nomem) {
		snprintf(tl->msg, sizeof(tl->msg), "out of memory for trap fires");
		return TL_ERROR;
	}
	if (upto_is_cur)
		drop_fires_at_stop(tl, f, mark);
	return TL_OK;
}

/* The last fire before upto when the fast pass found none after its end:
 * only the candidate stretches (ascending) can hold one (a watched page
 * written, or another trap fired there).  Latest first: restore the point
 * before a candidate, replay to the end of it stepping the candidates on
 * the way (the others at full speed), take the last fire; else go on
 * before that restore point.  f empty: none. */
static int rc_candidates(struct timeline *tl, const struct eng_pos *upto, bool upto_is_end, bool upto_is_cur,
			 const uint64_t *cand, size_t n, struct fires *f)
{
	struct vm *vm = tl->vm;
	size_t left = n; /* candidates [0, left) still to look at */

	while (left) {
		uint64_t last = cand[left - 1];
		int r = restore_before(tl, &(struct eng_pos){ .e = last, .k = 0 });
		if (r) {
			snprintf(tl->msg, sizeof(tl->msg), "no restore point before exit %" PRIu64 ": %s", last, strerror(-r));
			return TL_ERROR;
		}
		struct eng_pos from;
		eng_where(&tl->eng, &from);
		/* Ends at upto itself when the last candidate is the stretch just before it. */
		bool at_upto = canonical(upto) && upto->k == 0 && last + 1 == upto->e;
		f->n = 0;
		while (vm->guest_exits <= last) {
			uint64_t s = vm->guest_exits;
			struct eng_goal g = { .to_e = s + 1, .on_fire = on_fire, .fire_ctx = f };
			if (sorted_has(cand, n, s)) {
				g.single = true;
				tl->rc_stepped++;
			} else {
				/* last > s is a candidate: there is one above s */
				g.to_e = cand[first_above(cand, n, s)];
				g.watch_by_pages = true;
			}
			r = run_goal(tl, &g);
			if (r == TL_END && upto_is_end && at_upto)
				break;
			if (r != TL_OK)
				return r;
		}
		if (f->nomem) {
			snprintf(tl->msg, sizeof(tl->msg), "out of memory for trap fires");
			return TL_ERROR;
		}
		if (at_upto && upto_is_cur)
			drop_fires_at_stop(tl, f, NULL);
		/* Fires in other stretches are before the interval (from a
		 * restore point before it) or were seen by the pass already. */
		size_t keep = 0;
		for (size_t i = 0; i < f->n; i++)
			if (sorted_has(cand, n, fire_stretch(&f->pos[i]))) {
				f->pos[keep] = f->pos[i];
				f->trap[keep] = f->trap[i];
				f->exitno[keep] = f->exitno[i];
				keep++;
			}
		f->n = keep;
		if (f->n)
			return TL_OK;
		/* Nothing from `from` on: the candidates before it remain (and
		 * the one `from` lies inside, from its start). */
		while (left && cand[left - 1] > from.e)
			left--;
		if (left && cand[left - 1] == from.e && from.k == 0)
			left--;
	}
	f->n = 0;
	return TL_OK;
}

/* Which traps are set: write traps checked by value can be watched by
 * pages when no other trap needs single steps; with no trap but them,
 * whole restore-point intervals can be skipped. */
static void watch_mode(struct timeline *tl, bool *by_pages, bool *skip)
{
	const struct engine *eng = &tl->eng;
	unsigned n_exec = 0, n_write = 0, n_other = 0;

	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i])
			continue;
		if (eng->traps[i].type == ENG_EXEC)
			n_exec++;
		else if (eng->traps[i].type == ENG_WRITE)
			n_write++;
		else
			n_other++;
	}
	/* Three execution traps always fit the debug registers next to the
	 * kick-point breakpoint; more may need steps anyway. */
	*by_pages = !eng->hw_data && n_write && !n_other && (!n_exec || (eng->hw_exec && n_exec <= 3));
	*skip = *by_pages && !n_exec;
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
	/* An execution trap that fires at upto is where gdb stands when upto
	 * is the current point, and a hit before it when upto is where a later
	 * interval began (a restore point at a breakpoint: a pass from there
	 * by single steps does not see the arrival it starts at). */
	bool upto_is_cur = true;
	bool by_pages, skip;
	watch_mode(tl, &by_pages, &skip);
	/* ws[0]: the watch set at upto; ws[1] at the interval's start. */
	struct tl_watchset *ws = by_pages ? malloc(2 * sizeof(*ws)) : NULL;
	bool ws_known = ws && canonical(&cur) && watchset_here(tl, &ws[0]) == 0;
	for (;;) {
		if (skip && ws_known && canonical(&upto)) {
			while (skip_clean(tl, &upto, &ws[0]) == 1) {
				upto_is_end = false;
				upto_is_cur = false;
				tl->rc_skipped++;
			}
		}
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
				fires_free(&f);
				free(ws);
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
		bool start_known = ws && watchset_here(tl, &ws[1]) == 0;
		struct dirty_pass dp = { .tl = tl, .ws = ws ? &ws[1] : NULL };
		size_t mark = 0;
		bool invalid = false;
		r = rc_forward(tl, &upto, upto_is_end, upto_is_cur, &f, start_known ? &dp : NULL, &mark, &invalid);
		bool paged = start_known && !invalid;
		if (r == TL_OK && invalid) {
			/* The translation moved: this interval the old way, from
			 * its start (the pass took snapshots after it; if the
			 * start's own was dropped meanwhile, from before it). */
			log_debug("reverse-continue: the watched translation changed before exit %" PRIu64
				  ": single steps", upto.e);
			if ((r = restore_before(tl, &start))) {
				snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
				r = TL_ERROR;
				break;
			}
			eng_where(&tl->eng, &start);
			start_known = ws && watchset_here(tl, &ws[1]) == 0;
			r = rc_forward(tl, &upto, upto_is_end, upto_is_cur, &f, NULL, &mark, &invalid);
		} else if (r == TL_OK && paged) {
			tl->rc_paged++;
		}
		if (r != TL_OK) {
			free(dp.cand);
			break;
		}
		if (paged && f.n == mark && (dp.n || mark)) {
			/* Nothing in the stepped part: the stretches that wrote a
			 * watched page, and those where another trap fired. */
			for (size_t i = 0; i < mark && !dp.err; i++)
				cand_add(&dp, fire_stretch(&f.pos[i]));
			if (dp.err) {
				snprintf(tl->msg, sizeof(tl->msg), "out of memory for candidate stretches");
				free(dp.cand);
				r = TL_ERROR;
				break;
			}
			dp.n = sort_unique(dp.cand, (unsigned)dp.n);
			r = rc_candidates(tl, &upto, upto_is_end, upto_is_cur, dp.cand, dp.n, &f);
			if (r != TL_OK) {
				free(dp.cand);
				break;
			}
		}
		free(dp.cand);
		if (f.n) {
			struct eng_pos hit = f.pos[f.n - 1];
			int trap = f.trap[f.n - 1];
			fires_free(&f);
			free(ws);
			log_debug("reverse-continue: %" PRIu64 " intervals skipped, %" PRIu64 " replayed by pages, %" PRIu64
				  " stretches stepped", tl->rc_skipped, tl->rc_paged, tl->rc_stepped);
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
		upto_is_cur = false;
		if (start.e == 0 && start.k == 0) {
			r = goto_canonical(tl, &start);
			fires_free(&f);
			free(ws);
			return r == TL_OK ? TL_BEGIN : r;
		}
		upto = start;
		if (start_known)
			ws[0] = ws[1];
		ws_known = start_known;
	}
	fires_free(&f);
	free(ws);
	return r;
}

/* Forward `continue` with write watches on a host without data
 * breakpoints, without single-stepping everything: full speed, the dirty
 * log looked at every boundary; a stretch that wrote a watched page (or a
 * page of its translation) is gone through again from its start by single
 * steps, which compare the watched bytes.  Where that keeps happening
 * without a fire (the guest writes the watched page all the time), plain
 * single steps are cheaper (a stretch again costs a restore and up to
 * TL_SNAP_MS of replay): after FW_MAX_MISSES such stretches, if they were
 * more than one in FW_MISS_RATIO, the rest of this continue goes that way. */
#define FW_MAX_MISSES 16
#define FW_MISS_RATIO 32 /* ... when more than one stretch in this many is such */
#define FW_CHUNK 512 /* boundaries between looks at the snapshot clock and the translation */

struct fw_pass {
	struct dirty_pass dp;
	unsigned boundaries;
	uint64_t total;   /* boundaries passed at full speed in this continue */
	uint64_t stretch; /* the stretch looked at last */
};

/* Did stretch s write a watched page or a page of its translation? */
static bool fw_look(struct fw_pass *fw, uint64_t s)
{
	uint64_t before = fw->dp.n;

	fw->stretch = s;
	dp_look(&fw->dp, s);
	return fw->dp.err || fw->dp.n != before || fw->dp.tables_written;
}

static int fw_boundary(void *ctx)
{
	struct fw_pass *fw = ctx;

	fw->total++;
	return fw_look(fw, fw->dp.tl->vm->guest_exits - 1) || ++fw->boundaries >= FW_CHUNK;
}

/* Single steps from `from` (or the start of stretch s, whichever is later)
 * to boundary s + 1 (to_end: until a fire or the end).  TL_OK: no fire. */
static int fw_redo(struct timeline *tl, const struct eng_pos *from, uint64_t s, bool to_end)
{
	struct eng_pos a = { .e = s, .k = 0 };
	int r;

	if (from->e >= s)
		a = *from;
	if ((r = tl_goto(tl, &a)) != TL_OK)
		return r;
	tl->fw_stepped++;
	struct eng_goal g = { .to_e = to_end ? UINT64_MAX : s + 1, .to_k = 0, .traps = true, .poll = poll_cb,
			      .poll_ctx = tl };
	return run_goal(tl, &g);
}

static int continue_by_pages(struct timeline *tl)
{
	struct vm *vm = tl->vm;
	struct tl_watchset *ws = malloc(2 * sizeof(*ws)); /* [0] in use, [1] scratch */
	struct fw_pass fw = { .dp = { .tl = tl } };
	unsigned misses = 0;
	int r;

	if (!ws || watchset_here(tl, &ws[0])) {
		free(ws);
		return continue_plain(tl); /* no translation for a watch: the watch by steps sees it */
	}
	fw.dp.ws = &ws[0];
	for (;;) {
		struct eng_pos from;
		eng_where(&tl->eng, &from);
		if ((r = vm_dirty_sync(vm))) {
			snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-r));
			r = TL_ERROR;
			break;
		}
		fw.dp.gen = vm->dirty_gen;
		fw.dp.n = 0;
		fw.dp.tables_written = false;
		fw.boundaries = 0;
		struct eng_goal g = { .to_e = UINT64_MAX, .traps = true, .poll = poll_cb, .poll_ctx = tl,
				      .watch_by_pages = true, .on_boundary = fw_boundary, .boundary_ctx = &fw };
		r = run_goal(tl, &g);
		if (r == TL_TRAP || r == TL_END)
			fw_look(&fw, tl->eng.end_at_boundary ? vm->guest_exits - 1 : vm->guest_exits);
		if (fw.dp.err) {
			snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-fw.dp.err));
			r = TL_ERROR;
			break;
		}
		bool dirty = fw.dp.n || fw.dp.tables_written;
		if (r != TL_OK && r != TL_TRAP && r != TL_END)
			break; /* interrupted (at a boundary, whose stretch was looked at) or an error */
		if (!dirty && r != TL_OK)
			break; /* a breakpoint or the end, no watched write before it */
		if (!dirty) {
			/* A chunk without writes to the watched pages: unless the
			 * translation moved meanwhile (other paging controls, no
			 * page-table write seen), then the chunk again by steps. */
			if (watchset_here(tl, &ws[1]) == 0 && watchset_same(&ws[0], &ws[1])) {
				if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
					tl_snapshot(tl);
				continue;
			}
			log_debug("continue: the watched translation changed before exit %" PRIu64 ": single steps",
				  vm->guest_exits);
			uint64_t here = vm->guest_exits;
			if ((r = tl_goto(tl, &from)) != TL_OK)
				break;
			struct eng_goal gs = { .to_e = here, .to_k = 0, .traps = true, .poll = poll_cb, .poll_ctx = tl };
			if ((r = run_goal(tl, &gs)) != TL_OK)
				break;
		} else {
			/* The stretch with the write once more, by steps: to its
			 * end, or (a breakpoint fired in it, or it is the last)
			 * to the first fire, which comes no later than that. */
			if ((r = fw_redo(tl, &from, fw.stretch, r != TL_OK)) != TL_OK)
				break;
			if (++misses >= FW_MAX_MISSES && misses * FW_MISS_RATIO > fw.total) {
				log_debug("continue: %u stretches wrote a watched page without a change: single steps", misses);
				r = continue_plain(tl);
				free(fw.dp.cand);
				free(ws);
				return r;
			}
		}
		if (watchset_here(tl, &ws[1]) == 0)
			ws[0] = ws[1];
	}
	free(fw.dp.cand);
	free(ws);
	if (r == TL_OK || r == TL_TRAP || r == TL_INTERRUPTED)
		tl_snapshot(tl);
	return r;
}

int tl_continue(struct timeline *tl)
{
	bool by_pages, skip;

	if (tl->at_end)
		return TL_END;
	watch_mode(tl, &by_pages, &skip);
	return by_pages ? continue_by_pages(tl) : continue_plain(tl);
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
	fprintf(f, "reverse-continue to write watches by pages: %" PRIu64 " intervals skipped by their page lists, %"
		PRIu64 " replayed at full speed, %" PRIu64 " stretches single-stepped\n", tl->rc_skipped, tl->rc_paged,
		tl->rc_stepped);
	fprintf(f, "continue to write watches by pages: %" PRIu64 " stretches single-stepped\n", tl->fw_stepped);
}
