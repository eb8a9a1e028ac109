/* Landing: where an interrupt due in a long exit-free stretch goes in.
 *
 * Replay finds an interrupt that went in between two exits (a "kick
 * point") by a trap on its RIP, one trap hit per pass of that RIP since the
 * guest's last exit.  A kick stops the guest wherever it is; in a long
 * exit-free stretch that is most likely inside a hot loop (Linux: a delay
 * loop, clearing or initialising page structures), whose RIP the guest
 * passed hundreds of thousands of times since its last exit: on the SVM
 * test host, where a trap hit costs ~100 us, minutes per kick point.
 *
 * So under the "defer" policy (record/probe.c) the recorder does not put
 * the interrupt in where the kick stopped the guest.  It reads the code
 * there and lets the guest run on to a place it passes rarely:
 * - in a loop (a backward branch ahead whose target is at or before RIP):
 *   to the loop's exits (the backward branch's fall-through, branches out
 *   of the loop body, RETs and jumps inside it), with a patch trap on each;
 * - in straight-line code: to the end of the function (a RET or a tail
 *   jump such as Linux's `jmp __x86_return_thunk`), and from there to the
 *   return address on the stack, whose code is read the same way (at most
 *   LAND_LEVELS functions up);
 * - first, once, back to RIP itself: a loop whose every pass looks the
 *   same (registers and memory: a wait for the interrupt itself, such as
 *   `while (jiffies == j)`) takes the interrupt at the next pass, which
 *   replay finds at its first trap hit.
 * The interrupt goes in at the first trap hit (a kick point there, logged
 * as any other); at the guest's next exit if that comes first; or where the
 * guest is when TTVM_LAND_MS (50) ms of guest time have passed (a loop that only
 * ends with the interrupt).  None of this is in the trace: replay just
 * looks for the logged kick point, now one the guest passed a few times.
 * Landing traps are patch traps (core/ptrap.h, owner PTRAP_LAND): hits are
 * not guest exits, and only CPL0 code in supervisor pages can hold one. */
#include "record/land.h"

#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/ptrap.h"
#include "core/vm.h"
#include "devices/clock.h"
#include "record/probe.h"
#include "record/rr.h"

#define LAND_SCAN_INSNS 160   /* instructions read ahead from RIP */
#define LAND_LOOP_SPAN 4096u  /* a loop's backward branch goes at most this far back */
#define LAND_FOLLOW_SPAN 4096u /* forward jumps followed while reading ahead */
#define LAND_LEVELS 8         /* functions climbed */
#define LAND_RETPOLINE_SPAN 32u /* a call this close ahead is a retpoline's */
#define LAND_ATTEMPTS 8       /* landings per exit-free stretch */
#define LAND_AGAIN_NS 100000ull /* where nothing could be read: look again */
#define LAND_BUDGET_MS 50 /* default; TTVM_LAND_MS */

typedef size_t (*read_fn)(void *ctx, uint64_t addr, uint8_t *buf, size_t len);

struct scanner {
	csh cs;
	cs_insn *insn;
	read_fn read;
	void *ctx;
};

/* One instruction at addr: 0 or -1 (not decodable). */
static int decode(struct scanner *sc, uint64_t addr)
{
	uint8_t b[16];
	size_t n = sc->read(sc->ctx, addr, b, sizeof(b));
	const uint8_t *p = b;
	uint64_t a = addr;

	if (!n || !cs_disasm_iter(sc->cs, &p, &n, &a, sc->insn))
		return -1;
	return 0;
}

enum kind { K_OTHER, K_JCC, K_JMP, K_JMP_IND, K_RET, K_STOP };

/* What the decoded instruction does to the flow; *target for direct jumps. */
static enum kind classify(struct scanner *sc, uint64_t *target)
{
	cs_insn *i = sc->insn;

	if (cs_insn_group(sc->cs, i, CS_GRP_RET))
		return K_RET;
	if (cs_insn_group(sc->cs, i, CS_GRP_IRET) || cs_insn_group(sc->cs, i, CS_GRP_INT) || i->id == X86_INS_HLT ||
	    i->id == X86_INS_SYSRET || i->id == X86_INS_SYSEXIT || i->id == X86_INS_UD2 || i->id == X86_INS_LJMP)
		return K_STOP;
	if (!cs_insn_group(sc->cs, i, CS_GRP_JUMP))
		return K_OTHER;
	const cs_x86 *x = &i->detail->x86;
	if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return i->id == X86_INS_JMP ? K_JMP_IND : K_STOP;
	*target = (uint64_t)x->operands[0].imm;
	return i->id == X86_INS_JMP ? K_JMP : K_JCC;
}

static bool add_trap(uint64_t *traps, unsigned max, unsigned *n, uint64_t a)
{
	for (unsigned i = 0; i < *n; i++)
		if (traps[i] == a)
			return true;
	if (*n >= max)
		return false;
	traps[(*n)++] = a;
	return true;
}

/* The exits of the loop [top, back] (back: its backward branch, len bytes,
 * conditional or not).  0 or -1 (unreadable, too many exits). */
static int loop_exits(struct scanner *sc, uint64_t top, uint64_t back, unsigned len, bool cond, uint64_t *traps,
		      unsigned max, unsigned *n)
{
	uint64_t pos = top;

	*n = 0;
	while (pos <= back) {
		uint64_t t = 0;
		if (decode(sc, pos))
			return -1;
		switch (classify(sc, &t)) {
		case K_JCC:
			if ((t < top || t > back) && !add_trap(traps, max, n, t))
				return -1;
			break;
		case K_JMP:
			if ((t < top || t > back) && !add_trap(traps, max, n, pos))
				return -1;
			break;
		case K_JMP_IND:
		case K_RET:
		case K_STOP:
			if (!add_trap(traps, max, n, pos))
				return -1;
			break;
		case K_OTHER:
			break;
		}
		pos += sc->insn->size;
	}
	if (pos != back + len)
		return -1; /* the bytes did not decode into the branch found before */
	if (cond && !add_trap(traps, max, n, back + len))
		return -1;
	return *n ? 0 : -1;
}

static int scan(struct scanner *sc, uint64_t rip, uint64_t *traps, unsigned max, unsigned *n, uint64_t *fend)
{
	uint64_t pos = rip;

	for (unsigned k = 0; k < LAND_SCAN_INSNS; k++) {
		uint64_t t = 0;
		if (decode(sc, pos))
			return 0;
		unsigned size = sc->insn->size;
		switch (classify(sc, &t)) {
		case K_RET:
			*fend = pos;
			return 2;
		case K_STOP:
		case K_JMP_IND:
			return 0;
		case K_JCC:
		case K_JMP:
			if (t <= rip && rip - t <= LAND_LOOP_SPAN) {
				bool jmp = sc->insn->id == X86_INS_JMP;
				if (!loop_exits(sc, t, pos, size, !jmp, traps, max, n))
					return 1;
				/* A conditional branch back to code whose exits
				 * cannot be read (too many: gcc's error path of
				 * a whole function, put before its body, as in
				 * Linux's walk_pte_range after the PTE
				 * callback's return) is not this loop's: read
				 * on, the loop's own branch back comes next.
				 * Landing there went in at the callback's
				 * return, passed once per PTE. */
				if (jmp)
					return 0;
				*n = 0;
				break;
			}
			if (sc->insn->id == X86_INS_JMP) {
				if (t > pos && t - pos <= LAND_FOLLOW_SPAN) {
					pos = t;
					continue;
				}
				/* Back to code between rip and here: a loop ahead
				 * that rip is not in yet (tested at its top), whose
				 * exits are where the guest leaves it; or a
				 * retpoline's speculation trap (`pause; lfence;
				 * jmp` back), which never runs and has none.  Not
				 * the function's end. */
				if (t > rip && t < pos)
					return loop_exits(sc, t, pos, size, false, traps, max, n) ? 0 : 1;
				/* A tail jump (Linux returns through a shared
				 * thunk): the return address is at the stack
				 * pointer here as at a RET. */
				*fend = pos;
				return 2;
			}
			break;
		case K_OTHER:
			/* A call a few bytes ahead is a retpoline (Linux's
			 * __x86_indirect_thunk_*: `call 1f; <speculation
			 * trap>; 1: mov %reg,(%rsp); ret`): the guest goes on
			 * at its target, and the "return" there jumps to the
			 * thunk's target function, whose code the climb then
			 * reads as a caller's. */
			if (cs_insn_group(sc->cs, sc->insn, CS_GRP_CALL) && sc->insn->detail->x86.op_count == 1 &&
			    sc->insn->detail->x86.operands[0].type == X86_OP_IMM) {
				t = (uint64_t)sc->insn->detail->x86.operands[0].imm;
				if (t > pos && t - pos <= LAND_RETPOLINE_SPAN) {
					pos = t;
					continue;
				}
			}
			break;
		}
		pos += size;
	}
	return 0;
}

static int with_scanner(int mode64, read_fn read, void *ctx, uint64_t rip, uint64_t *traps, unsigned max,
			unsigned *n, uint64_t *fend)
{
	struct scanner sc = { .read = read, .ctx = ctx };
	int r = 0;

	*n = 0;
	if (cs_open(CS_ARCH_X86, mode64 ? CS_MODE_64 : CS_MODE_32, &sc.cs) != CS_ERR_OK)
		return 0;
	cs_option(sc.cs, CS_OPT_DETAIL, CS_OPT_ON);
	sc.insn = cs_malloc(sc.cs);
	if (sc.insn)
		r = scan(&sc, rip, traps, max, n, fend);
	if (sc.insn)
		cs_free(sc.insn, 1);
	cs_close(&sc.cs);
	return r;
}

struct guest_code {
	struct vm *vm;
	const struct kvm_sregs *s;
};

static size_t read_guest(void *ctx, uint64_t addr, uint8_t *buf, size_t len)
{
	struct guest_code *g = ctx;
	return vm_read_virt(g->vm, g->s, addr, buf, len);
}

struct buf_code {
	const uint8_t *code;
	size_t len;
	uint64_t base;
};

static size_t read_buf(void *ctx, uint64_t addr, uint8_t *buf, size_t len)
{
	struct buf_code *b = ctx;
	if (addr < b->base || addr - b->base >= b->len)
		return 0;
	size_t off = (size_t)(addr - b->base), n = b->len - off < len ? b->len - off : len;
	memcpy(buf, b->code + off, n);
	return n;
}

int land_scan(struct vm *vm, const struct kvm_sregs *s, uint64_t rip, uint64_t *traps, unsigned max, unsigned *n,
	      uint64_t *fend)
{
	struct guest_code g = { vm, s };

	/* 16-bit code: not worth it (no guest runs long exit-free there). */
	if (!vm_code64(s) && !s->cs.db) {
		*n = 0;
		return 0;
	}
	return with_scanner(vm_code64(s), read_guest, &g, rip, traps, max, n, fend);
}

int land_scan_buf(const uint8_t *code, size_t len, uint64_t base, int mode64, uint64_t rip, uint64_t *traps,
		  unsigned max, unsigned *n, uint64_t *fend)
{
	struct buf_code b = { code, len, base };
	return with_scanner(mode64, read_buf, &b, rip, traps, max, n, fend);
}

/* ---- the landing, record side ---- */

static void clear_traps(struct vm *vm)
{
	struct land_state *l = &rr_of(vm)->land;

	ptrap_clear(&vm->ptraps, PTRAP_LAND);
	l->n = 0;
	l->ident = false;
	l->active = false;
}

bool record_land_active(struct vm *vm)
{
	return rr_of(vm)->land.active;
}

void record_land_cancel(struct vm *vm)
{
	struct land_state *l = &rr_of(vm)->land;

	if (!l->active)
		return;
	l->at_exit++;
	clear_traps(vm);
}

/* Patch traps on every landing address that can hold one; false if none. */
static bool set_traps(struct vm *vm, const struct kvm_sregs *s)
{
	struct land_state *l = &rr_of(vm)->land;
	unsigned set = 0;

	for (unsigned i = 0; i < l->n; i++)
		if (ptrap_patchable(vm, s, l->addr[i], NULL) && ptrap_add(&vm->ptraps, l->addr[i], PTRAP_LAND) == 0)
			set++;
	return set > 0;
}

/* One trap, at addr, where the interrupt goes at the next hit (not a
 * function's end to climb from).  false if it cannot be set. */
static bool wait_at(struct vm *vm, const struct kvm_sregs *s, uint64_t addr)
{
	struct land_state *l = &rr_of(vm)->land;

	l->addr[0] = addr;
	l->n = 1;
	l->fend = false;
	return set_traps(vm, s);
}

/* The return thunk that the tail jump at addr goes to, or 0: a JMP whose
 * target starts with a RET (Linux's __x86_return_thunk) or with a CALL a
 * few bytes away (srso_return_thunk's `call srso_safe_ret`). */
static uint64_t thunk_target(read_fn read, void *ctx, uint64_t addr)
{
	uint8_t b[5];
	int32_t rel;
	uint64_t t;

	if (read(ctx, addr, b, 5) != 5)
		return 0;
	if (b[0] == 0xe9) {
		memcpy(&rel, b + 1, 4);
		t = addr + 5 + (uint64_t)(int64_t)rel;
	} else if (b[0] == 0xeb) {
		t = addr + 2 + (uint64_t)(int64_t)(int8_t)b[1];
	} else {
		return 0;
	}
	if (read(ctx, t, b, 1) != 1)
		return 0;
	if (b[0] == 0xc3)
		return t;
	if (b[0] == 0xe8 && read(ctx, t, b, 5) == 5) {
		memcpy(&rel, b + 1, 4);
		int64_t d = 5 + (int64_t)rel;
		if (d >= -RECORD_THUNK_SPAN && d <= RECORD_THUNK_SPAN)
			return t;
	}
	return 0;
}

uint64_t land_return_thunk_buf(const uint8_t *code, size_t len, uint64_t base, uint64_t addr)
{
	struct buf_code b = { code, len, base };
	return thunk_target(read_buf, &b, addr);
}

static uint64_t return_thunk_of(struct vm *vm, const struct kvm_sregs *s, uint64_t addr)
{
	struct guest_code g = { vm, s };
	return vm_code64(s) ? thunk_target(read_guest, &g, addr) : 0;
}

/* From rip on (the guest's stack pointer there: rsp): traps at the loop's
 * exits or the function's end.  false: nothing to wait for (inject where
 * the guest is).
 * A function end that jumps to a return thunk (Linux: `jmp
 * __x86_return_thunk`) is a return site, which Linux reads back and
 * rewrites at boot (apply_returns): a trap there made the recording's
 * boot warn "missing return thunk" and leave the site unpatched, where the
 * replay (no trap there) did not: a divergence.  The trap goes on the
 * thunk's entry instead, which every return passes: the first hit with
 * the stack pointer at or above rsp is this function's return (a deeper
 * one is a callee's). */
static bool plan(struct vm *vm, const struct kvm_sregs *s, uint64_t rip, uint64_t rsp)
{
	struct land_state *l = &rr_of(vm)->land;
	uint64_t fend = 0;

	l->thunk = false;
	int r = land_scan(vm, s, rip, l->addr, LAND_MAX, &l->n, &fend);
	if (r == 2) {
		uint64_t t = return_thunk_of(vm, s, fend);
		l->addr[0] = t ? t : fend;
		l->n = 1;
		l->fend = true;
		l->thunk = t != 0;
		l->fend_rsp = rsp;
	} else if (r == 1) {
		l->fend = false;
	} else {
		l->n = 0;
		return false;
	}
	return set_traps(vm, s);
}

enum land_verdict record_land_kick(struct vm *vm, const struct kvm_sregs *s, const struct kvm_regs *regs,
				   uint64_t rip)
{
	struct rr *rr = rr_of(vm);
	struct land_state *l = &rr->land;
	uint64_t now = clock_now_ns(vm->clock);
	bool hit = vm->run->exit_reason == KVM_EXIT_HLT && vm->ptraps.hit_known &&
		   (vm->ptraps.hit_owners & PTRAP_LAND) && vm->ptraps.hit_addr == rip;

	/* At the return thunk for a deeper function's return: not ours yet
	 * (the trap stays; the guest steps over it). */
	if (hit && l->active && l->fend && l->thunk && rip == l->addr[0] && regs->rsp < l->fend_rsp) {
		l->thunk_skips++;
		hit = false;
	}

	if (!l->active) {
		/* A new landing, from where the kick stopped the guest: only at
		 * CPL0 in a page that can hold a trap, LAND_ATTEMPTS times per
		 * exit-free stretch (per interrupt instead: the Linux boot's
		 * record took 66 s instead of 46, its replay no less time).
		 * The first may climb LAND_LEVELS functions, the later ones
		 * (after a budget ran out, or where nothing could be read) half
		 * as far. */
		if (l->stretch_exit != vm->guest_exits + 1) {
			l->stretch_exit = vm->guest_exits + 1;
			l->attempts = 0;
		}
		if (l->attempts >= LAND_ATTEMPTS || !ptrap_patchable(vm, s, rip, NULL))
			return LAND_GIVE_UP;
		l->attempts++;
		if (!l->budget_ns) {
			const char *ms = getenv("TTVM_LAND_MS");
			l->budget_ns = (ms && atoi(ms) > 0 ? (uint64_t)atoi(ms) : LAND_BUDGET_MS) * 1000000ull;
		}
		l->active = true;
		l->fallback = false;
		l->back_addr = 0;
		/* Later attempts climb less far: they have a fifth of the
		 * budget.  (Starting them at the last level made them go in
		 * at the first return address: in Linux's ptdump walk, that of
		 * a per-PTE callback.) */
		l->levels = l->attempts > 1 ? LAND_LEVELS / 2 : 0;
		l->started++;
		if (!plan(vm, s, rip, regs->rsp)) {
			clear_traps(vm);
			l->no_plan++;
			if (l->attempts >= LAND_ATTEMPTS)
				return LAND_INJECT;
			/* Look again a little later, somewhere else. */
			vm->kick_retry_ns = LAND_AGAIN_NS;
			return LAND_WAIT;
		}
		/* Once back at rip: a wait loop's next pass is as good.  The
		 * guest stands on rip: the next run steps over it first. */
		l->ident = ptrap_add(&vm->ptraps, rip, PTRAP_LAND) == 0;
		vm->ptraps.skip = true;
		vm->ptraps.skip_addr = rip;
		l->ident_addr = rip;
		l->ident_regs = rr_regs_hash(regs);
		l->ident_mem = rr_mem_digest(vm);
		vm->kick_retry_ns = l->attempts > 1 ? l->budget_ns / 5 : l->budget_ns;
		l->budget_end = now + vm->kick_retry_ns;
		log_debug("record: landing from %#" PRIx64 " after guest exit %" PRIu64 ": %u %s", rip, vm->guest_exits,
			  l->n, l->fend ? "function end" : "loop exit(s)");
		return LAND_WAIT;
	}
	if (!hit) {
		if (now < l->budget_end) {
			vm->kick_retry_ns = l->budget_end - now;
			return LAND_WAIT;
		}
		/* Out of time after a climb: the guest is still in the code of
		 * the last return address, most likely a loop that calls the
		 * function it returned from again.  That address is where the
		 * interrupt goes (its next pass), no worse than not climbing
		 * that level; not where the guest happens to be, deeper down. */
		if (l->back_addr && !l->fallback && ptrap_patchable(vm, s, l->back_addr, NULL)) {
			ptrap_clear(&vm->ptraps, PTRAP_LAND);
			l->ident = false;
			l->fallback = true;
			if (wait_at(vm, s, l->back_addr)) {
				vm->kick_retry_ns = l->budget_ns / 5;
				l->budget_end = now + vm->kick_retry_ns;
				return LAND_WAIT;
			}
		}
		l->budget++;
		clear_traps(vm);
		return LAND_GIVE_UP;
	}
	if (l->ident && rip == l->ident_addr) {
		if (rr_regs_hash(regs) == l->ident_regs && rr_mem_digest(vm) == l->ident_mem) {
			l->same_pass++;
			clear_traps(vm);
			return LAND_INJECT;
		}
		l->ident = false;
		bool still = false;
		for (unsigned i = 0; i < l->n; i++)
			still |= l->addr[i] == rip;
		if (!still)
			ptrap_del(&vm->ptraps, rip, PTRAP_LAND);
		if (!still)
			return LAND_WAIT;
	}
	if (l->fend) {
		/* At the end of a function: on to its caller, from the return
		 * address on the stack, whose code is read as the kick's was
		 * (its loop's exits, or its own end).  Past the last level, at
		 * that address itself, not at the function's end (only where
		 * the caller's code cannot be read does it go in here): Linux's
		 * ends (`jmp __x86_return_thunk`) are the return sites its boot
		 * reads back (apply_returns), and replay's trap, there from the
		 * last exit on, made the boot warn "missing return thunk" (a
		 * divergence at guest exit 21,673).  With LAND_LEVELS 4, landings
		 * in Linux's ptdump walk went in at the return address of its PTE
		 * loop's callback, passed 400,000 times between two exits; one
		 * level more, that loop's exit, once a page table. */
		uint64_t ret = 0;
		size_t w = vm_code64(s) ? 8 : 4;
		bool last = l->levels >= LAND_LEVELS;
		ptrap_clear(&vm->ptraps, PTRAP_LAND);
		l->ident = false;
		l->levels++;
		if (vm_read_virt(vm, s, s->ss.base + regs->rsp, &ret, w) != w) {
			ret = 0;
		} else if (last) {
			if (ret != rip && wait_at(vm, s, ret))
				return LAND_WAIT;
		} else if (plan(vm, s, ret, regs->rsp + w)) {
			l->back_addr = ret;
			log_debug("record: landing climbs from %#" PRIx64 " to %#" PRIx64 ": %u %s", rip, ret, l->n,
				  l->fend ? "function end" : "loop exit(s)");
			return LAND_WAIT;
		}
		l->no_plan++;
		clear_traps(vm);
		return LAND_INJECT;
	}
	if (l->fallback) {
		l->fell_back++;
		log_debug("record: landed at %#" PRIx64 " (the last return address, out of time, %u function(s) up)", rip,
			  l->levels);
		clear_traps(vm);
		return LAND_INJECT;
	}
	l->landed++;
	l->levels_sum += l->levels;
	log_debug("record: landed at %#" PRIx64 " (%s, %u function(s) up)", rip, l->fend ? "function end" : "loop exit",
		  l->levels);
	clear_traps(vm);
	return LAND_INJECT;
}

void record_land_report(struct vm *vm)
{
	struct land_state *l = &rr_of(vm)->land;

	if (l->started)
		log_info("record: landings: %" PRIu64 " started: %" PRIu64 " at a loop exit or function end (%" PRIu64
			 " function(s) climbed), %" PRIu64 " at a same-looking pass, %" PRIu64
			 " at the guest's next exit, %" PRIu64 " after %llu ms (%" PRIu64
			 " of them at the last return address), %" PRIu64 " with nothing to wait for; %" PRIu64
			 " deeper return(s) passed at a return thunk",
			 l->started, l->landed, l->levels_sum, l->same_pass, l->at_exit, l->budget + l->fell_back,
			 (unsigned long long)(l->budget_ns / 1000000ull), l->fell_back, l->no_plan, l->thunk_skips);
}
