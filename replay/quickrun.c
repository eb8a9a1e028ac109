#include "replay/quickrun.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/quickstep.h"

void quickrun_begin(struct quickrun *qr, struct vm *vm, const struct kvm_sregs *sregs, bool stores,
		    struct quickrun_stats *st)
{
	qr->vm = vm;
	qr->sregs = sregs;
	qr->stores = stores;
	qr->stats = st;
	for (unsigned i = 0; i < QR_TLB; i++)
		qr->tlb[i].vpage = UINT64_MAX;
	qr->ntable_pages = 0;
	qr->ntraps = 0;
	for (unsigned i = 0; i < PTRAP_MAX; i++)
		if (vm->ptraps.t[i].owners)
			qr->traps[qr->ntraps++] = vm->ptraps.t[i].addr;
}

static void tlb_flush(struct quickrun *qr)
{
	for (unsigned i = 0; i < QR_TLB; i++)
		qr->tlb[i].vpage = UINT64_MAX;
	qr->ntable_pages = 0;
}

/* The kept page at gva (looked up now if not kept): its host address with
 * what qualifies there, NULL if nothing does. */
static uint8_t *page_of(struct quickrun *qr, uint64_t gva, unsigned *ok, uint64_t *gpa_page)
{
	uint64_t vpage = gva >> 12;
	unsigned slot = (unsigned)(vpage % QR_TLB);
	if (qr->tlb[slot].vpage != vpage) {
		uint64_t tables[VM_WALK_MAX];
		unsigned nt;
		uint8_t *host = vm_quiet_page(qr->vm, qr->sregs, gva, &qr->tlb[slot].ok, &qr->tlb[slot].gpa_page, tables, &nt);
		/* Note the pages of its tables (all dropped first when full). */
		for (unsigned i = 0; i < nt; i++) {
			uint64_t tp = tables[i] >> 12;
			unsigned j = 0;
			while (j < qr->ntable_pages && qr->table_pages[j] != tp)
				j++;
			if (j < qr->ntable_pages)
				continue;
			if (qr->ntable_pages == QR_TABLE_PAGES) {
				tlb_flush(qr);
				i = UINT32_MAX; /* start over: noted none of them now */
				continue;
			}
			qr->table_pages[qr->ntable_pages++] = tp;
		}
		qr->tlb[slot].vpage = vpage;
		qr->tlb[slot].host = host;
	}
	*ok = qr->tlb[slot].host ? qr->tlb[slot].ok : 0;
	*gpa_page = qr->tlb[slot].gpa_page;
	return qr->tlb[slot].host;
}

static int qr_load(void *ctx, uint64_t gva, unsigned size, uint64_t *val)
{
	struct quickrun *qr = ctx;
	unsigned ok;
	uint64_t gpa_page, v = 0;
	if ((gva & 4095) + size > 4096)
		return -1;
	uint8_t *page = page_of(qr, gva, &ok, &gpa_page);
	if (!(ok & VM_QUIET_LOAD))
		return -1;
	memcpy(&v, page + (gva & 4095), size);
	*val = v; /* little-endian: zero-extended */
	return 0;
}

static int qr_store(void *ctx, uint64_t gva, unsigned size, uint64_t val)
{
	struct quickrun *qr = ctx;
	unsigned ok;
	uint64_t gpa_page;
	if ((gva & 4095) + size > 4096)
		return -1;
	uint8_t *page = page_of(qr, gva, &ok, &gpa_page);
	if (!(ok & VM_QUIET_STORE))
		return -1;
	memcpy(page + (gva & 4095), &val, size);
	vm_mark_pages_written(qr->vm, (uint64_t)(page - qr->vm->ram) / 4096, 1);
	/* A write to a paging structure may change any kept page. */
	for (unsigned j = 0; j < qr->ntable_pages; j++) {
		if (qr->table_pages[j] == gpa_page) {
			tlb_flush(qr);
			break;
		}
	}
	return 0;
}

/* The code at rip, fetched as the CPU would: up to 15 bytes into b
 * (fewer where the rest is not fetchable quietly); returns how many. */
static size_t fetch(struct quickrun *qr, uint64_t rip, uint8_t *b)
{
	unsigned ok;
	uint64_t gpa_page;
	uint8_t *page = page_of(qr, rip, &ok, &gpa_page);
	if (!(ok & VM_QUIET_FETCH))
		return 0;
	size_t off = rip & 4095, n = 4096 - off < 15 ? 4096 - off : 15;
	memcpy(b, page + off, n);
	if (n < 15) {
		page = page_of(qr, rip + n, &ok, &gpa_page);
		if (ok & VM_QUIET_FETCH) {
			memcpy(b + n, page, 15 - n);
			n = 15;
		}
	}
	return n;
}

static void note_refusal(struct quickrun_stats *st, const uint8_t *b, size_t len, uint64_t rip)
{
	size_t i = len && (b[0] & 0xf0) == 0x40 ? 1 : 0;
	if (i >= len) {
		st->unfetched++;
		return;
	}
	unsigned k = b[i] == 0x0f && i + 1 < len ? 256u + b[i + 1] : b[i];
	st->refused[k]++;
	st->refused_at[k] = rip;
}

static const struct quickrun_stats *sort_st;

static int by_count(const void *a, const void *b)
{
	uint64_t x = sort_st->refused[*(const unsigned *)a], y = sort_st->refused[*(const unsigned *)b];
	return x < y ? 1 : x > y ? -1 : 0;
}

void quickrun_report(const struct quickrun_stats *st)
{
	unsigned idx[512];
	for (unsigned k = 0; k < 512; k++)
		idx[k] = k;
	sort_st = st;
	qsort(idx, 512, sizeof(idx[0]), by_count);
	for (unsigned j = 0; j < 10 && st->refused[idx[j]]; j++)
		log_debug("replay: quick runs stopped %" PRIu64 " times at opcode %s%02x (last at %#" PRIx64 ")",
			  st->refused[idx[j]], idx[j] >= 256 ? "0f " : "", idx[j] & 0xff, st->refused_at[idx[j]]);
	if (st->unfetched)
		log_debug("replay: quick runs stopped %" PRIu64 " times at code not fetchable by hand", st->unfetched);
}

enum quickrun_end quickrun(struct quickrun *qr, struct kvm_regs *regs, uint64_t stop_at, uint64_t max, uint64_t *done)
{
	const struct quickstep_mem mem = { qr_load, qr, qr->stores ? qr_store : NULL, qr->sregs->fs.base,
					   qr->sregs->gs.base };
	uint64_t n = 0;

	for (;; n++) {
		uint64_t rip = regs->rip; /* linear: CS's base is 0 in 64-bit code */
		if (n && rip == stop_at) {
			*done = n;
			return QR_AT_STOP;
		}
		if (n == max) {
			*done = n;
			return QR_BUDGET;
		}
		if (n) {
			for (unsigned i = 0; i < qr->ntraps; i++) {
				if (qr->traps[i] == rip) {
					*done = n;
					return QR_AT_TRAP;
				}
			}
		}
		uint8_t b[15];
		struct quickstep q;
		/* The first instruction was fetched by the CPU already (it
		 * stopped there); the others must be fetched quietly. */
		size_t len = n ? fetch(qr, rip, b) : vm_read_virt(qr->vm, qr->sregs, rip, b, sizeof(b));
		if (quickstep_decode(b, len, &q) || quickstep_apply(&q, regs, &mem)) {
			if (qr->stats)
				note_refusal(qr->stats, b, len, rip);
			*done = n;
			return QR_REFUSED;
		}
	}
}
