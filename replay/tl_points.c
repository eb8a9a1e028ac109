/* Restore points of the timeline: snapshots taken while the session runs
 * the guest (and their chain of written pages), the trace's checkpoints,
 * restoring the latest one before a point, and setting up (timeline.h). */
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

void tl_paging_of(const struct kvm_sregs *sr, struct tl_paging *p)
{
	p->cr0 = sr->cr0 & (X86_CR0_PE | X86_CR0_PG);
	p->cr3 = sr->cr3;
	p->cr4 = sr->cr4 & (X86_CR4_PSE | X86_CR4_PAE | X86_CR4_LA57);
	p->efer = sr->efer & X86_EFER_LMA;
}

bool tl_paging_same(const struct tl_paging *a, const struct tl_paging *b)
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
int tl_u64_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
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
	pl->err = tl_u64_push(&pl->pages, &pl->n, &pl->cap, i);
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
	tl_paging_of(&sregs, &s->ctl);
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
	s->fp_chain = rr_of(vm)->fp_chain;
	s->fp_since = rr_of(vm)->fp_since;
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

int tl_restore(struct timeline *tl, const struct tl_snap *s)
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
	rr_of(vm)->fp_chain = s->fp_chain;
	rr_of(vm)->fp_since = s->fp_since;
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
	/* A flight recording starts at its kept checkpoint, restored by now
	 * (replay_from): nothing before it can be reached. */
	tl->begin_e = info.first_event ? vm->guest_exits : 0;
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
	eng_free(&tl->eng);
	memset(tl, 0, sizeof(*tl));
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
int tl_restore_before(struct timeline *tl, const struct eng_pos *p)
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
	return tl_restore(tl, tl->snaps[b]);
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
