/* The replay engine: one loop for plain replay and for the gdb stub.
 *
 * Device reads take the logged values (replay_io_read), interrupts are injected
 * where the trace says: right after guest exit N (at the first interrupt
 * window after it), or at a kick point found again with a hardware
 * breakpoint on its linear RIP (or, while single-stepping, by looking at
 * every step) and a comparison of the register hash and memory digest.  At
 * the first mismatch replay stops with a divergence report.
 *
 * On top of that the loop stops where a goal asks (engine.h).  Debug
 * registers are shared: the interrupt-point search takes one, gdb's
 * breakpoints and (where the host reports them) watchpoints the others;
 * traps that do not fit, and data traps on hosts without data breakpoints
 * (PVM), are checked by single-stepping. */
#include "replay/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/clock.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/probe.h"
#include "core/run.h"
#include "core/vm.h"
#include "core/ptrap.h"
#include "replay/quickrun.h"
#include "record/ckpt.h"
#include "record/probe.h"
#include "record/rr.h"
#include "core/stepfix.h"

enum { ENG_BP_NONE, ENG_BP_ARMED, ENG_BP_STEP, ENG_BP_SEARCH_STEP };

#define DR6_BS (1ull << 14)

/* Instructions a quick run may do by hand before it gives the guest back
 * to KVM (a stop request, the search's bounds and its idle clock are
 * looked at between runs). */
#define QUICK_BUDGET 200000u
/* ... and from one pass of the point to the next: a longer way is left to
 * KVM, which runs it far faster than by hand.  Measured in the SVM test
 * host (2026-12-07): by hand ~0.7 us per instruction (test_quickrun), a
 * guest entry and exit ~110 us; with no limit, a Linux replay did 323
 * million instructions by hand and took 231 s; one recording (51 s)
 * replayed in 110 s with 256 and in 103 s with 48 (589,000 and 667,000
 * trap hits; 23 and 9 million instructions by hand).  TTVM_QUICKRUN_LEN=N
 * sets it (0: only the step over the point's own instruction by hand). */
#define QUICK_PASS_LEN 48u

/* Which hardware breakpoints the host delivers (probed once per process):
 * eng->hw_exec / hw_data. */
static void probe_host(struct engine *eng)
{
	/* Asked of the host, not assumed from its flavour: PVM's emulator
	 * reports no data breakpoints (a DR7 write watch on a variable a CPL0
	 * loop writes never fires, stepping or not), and under QEMU's TCG SVM
	 * (our second test host) KVM accepts debug registers that never fire
	 * at all.  TTVM_HW_BP=off pretends the host has none (for tests). */
	const char *force = getenv("TTVM_HW_BP");
	static bool probed;
	static struct kvm_debug_caps caps;

	if (!probed) {
		kvm_probe_debug(eng->vm->kvm_fd, &caps);
		probed = true;
		log_info("replay: guest debugging (probed): single step %s, breakpoints: execution %s, data %s, patch "
			 "traps %s",
			 caps.step ? "yes" : "no", caps.exec ? "yes" : "no", caps.data ? "yes" : "no",
			 caps.patch ? "yes" : "no");
	}
	bool off = force && !strcmp(force, "off");
	eng->hw_exec = caps.exec && !off;
	eng->hw_data = caps.data && !off;
	/* HLT exits to ttvm on every host (no in-kernel irqchip); TTVM_PATCH=off
	 * leaves single steps as the only fallback (for comparisons). */
	const char *patch = getenv("TTVM_PATCH");
	eng->patch_exec = caps.patch && !(patch && !strcmp(patch, "off"));
	const char *quick = getenv("TTVM_QUICKSTEP");
	eng->quick = !(quick && !strcmp(quick, "off"));
	/* Stores by hand only under two-dimensional paging (kvm_host_tdp);
	 * TTVM_QUICKSTEP=nostore: never. */
	eng->quick_stores = eng->quick && kvm_host_tdp() && !(quick && !strcmp(quick, "nostore"));
	const char *len = getenv("TTVM_QUICKRUN_LEN");
	eng->quick_len = len && *len ? strtoull(len, NULL, 0) : QUICK_PASS_LEN;
	if (eng->quick && ttvm_verbosity >= 2)
		eng->quick_stats = calloc(1, sizeof(*eng->quick_stats)); /* NULL: not kept */
}

/* Below the 8-per-ns bounds, what a search may always take: a recording's
 * stretch is measured in microseconds of host time at best. */
#define SEARCH_MIN_WORK 100000ull
/* A trace without max_exitless_ns (format 4 and older, or cut by a kill):
 * about 10 s of the longest stretch allowed. */
#define SEARCH_DEFAULT_NS 10000000000ull

void eng_search_limits(uint64_t stretch_ns, uint64_t *hits_max, uint64_t *steps_max)
{
	const char *force = getenv("TTVM_SEARCH_LIMIT");

	if (force && *force) {
		char *end;
		unsigned long long n = strtoull(force, &end, 0);
		if (!*end && n > 0) {
			*hits_max = *steps_max = n;
			return;
		}
	}
	if (stretch_ns == UINT64_MAX || stretch_ns > SEARCH_DEFAULT_NS)
		stretch_ns = SEARCH_DEFAULT_NS;
	*hits_max = SEARCH_MIN_WORK + 8 * stretch_ns;
	*steps_max = SEARCH_MIN_WORK + 64 * stretch_ns;
}

#define NS_PER_S UINT64_C(1000000000)
#define SEARCH_IDLE_MIN_NS (20 * NS_PER_S)
#define SEARCH_IDLE_MAX_NS (600 * NS_PER_S)

uint64_t eng_search_idle_ns(uint64_t stretch_ns)
{
	const char *force = getenv("TTVM_SEARCH_LIMIT");
	uint64_t min = force && *force ? SEARCH_IDLE_MIN_NS / 2 : SEARCH_IDLE_MIN_NS;

	if (stretch_ns == UINT64_MAX || stretch_ns > SEARCH_IDLE_MAX_NS / 100)
		return SEARCH_IDLE_MAX_NS;
	return min + 100 * stretch_ns;
}

/* The idle bound's timer: SIGALRM to this thread (core/run.c's handler
 * makes KVM_RUN return) every half bound while a search is on, so that an
 * idle search is reported within 1.5 bounds and a short search never sees
 * it.  (The period was 1 s; it was blamed for a replay one byte into an
 * RDMSR in the SVM test host, whose cause was a patch trap on the RDMSR
 * before KVM finished it: core/ptrap_patch.c.) */
static void idle_timer_init(struct engine *eng)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev._sigev_un._tid = gettid();
	eng->idle_timer_ok = timer_create(CLOCK_MONOTONIC, &sev, &eng->idle_timer) == 0;
	if (!eng->idle_timer_ok)
		log_info("replay: no timer for the search bound (%s): a guest that runs on without exits is not stopped",
			 strerror(errno));
}

static void idle_timer_set(struct engine *eng, bool on)
{
	struct itimerspec its;

	if (!eng->idle_timer_ok || eng->idle_timer_on == on)
		return;
	memset(&its, 0, sizeof(its));
	if (on) {
		uint64_t half = eng->search_idle_ns / 2;
		its.it_value.tv_sec = (time_t)(half / NS_PER_S);
		its.it_value.tv_nsec = (long)(half % NS_PER_S);
		its.it_interval = its.it_value;
	}
	timer_settime(eng->idle_timer, 0, &its, NULL);
	eng->idle_timer_on = on;
}

void eng_init(struct engine *eng, struct vm *vm)
{
	memset(eng, 0, sizeof(*eng));
	eng->vm = vm;
	eng->hit = -1;
	eng->fired_rip = UINT64_MAX;
	probe_host(eng);
	/* The recording's own measure of its longest exit-free stretch
	 * (record_cmd.c), which bounds how far a point can be. */
	struct rr *rr = rr_of(vm);
	const char *s = rr && rr->r ? trace_reader_meta(rr->r, "max_exitless_ns") : NULL;
	uint64_t stretch = s ? strtoull(s, NULL, 10) : UINT64_MAX;
	eng_search_limits(stretch, &eng->search_hits_max, &eng->search_steps_max);
	eng->search_idle_ns = eng_search_idle_ns(stretch);
	idle_timer_init(eng);
}

/* A point search past its bound: the guest left the recorded path (a
 * value the recording did not log, a damaged trace) and would never meet
 * it.  true with a divergence report. */
static uint64_t search_work(const struct engine *eng);

static bool search_exhausted(struct engine *eng, bool first)
{
	uint64_t hits = eng->patch_hits + eng->dr_hits + eng->quick_passes - eng->search_hits0;
	uint64_t steps = eng->steps - eng->search_steps0;
	char what[240];

	if (hits <= eng->search_hits_max && steps <= eng->search_steps_max) {
		/* Idle: the same work as at the last look, for too long (a run
		 * started by gdb after a stop starts the clock afresh). */
		uint64_t now = host_mono_ns(), work = search_work(eng);
		if (first || !eng->idle_ns || work != eng->idle_work) {
			eng->idle_work = work;
			eng->idle_ns = now;
			return false;
		}
		if (now - eng->idle_ns <= eng->search_idle_ns)
			return false;
		snprintf(what, sizeof(what),
			 "the guest did not reach the point at %#" PRIx64 " after guest exit %" PRIu64
			 ": it ran %" PRIu64 " s without passing its address (bound: %" PRIu64 " s; %" PRIu64
			 " trap hits and %" PRIu64 " single steps before)",
			 eng->bp_addr, eng->vm->guest_exits, (now - eng->idle_ns) / NS_PER_S,
			 eng->search_idle_ns / NS_PER_S, hits, steps);
		rr_diverged(eng->vm, what, rr_peek(eng->vm));
		return true;
	}
	snprintf(what, sizeof(what),
		 "the guest did not reach the point at %#" PRIx64 " within %" PRIu64 " trap hits and %" PRIu64
		 " single steps after guest exit %" PRIu64 " (bound: %" PRIu64 " / %" PRIu64 ")",
		 eng->bp_addr, hits, steps, eng->vm->guest_exits, eng->search_hits_max, eng->search_steps_max);
	rr_diverged(eng->vm, what, rr_peek(eng->vm));
	return true;
}

void eng_free(struct engine *eng)
{
	if (eng->idle_timer_ok) {
		timer_delete(eng->idle_timer);
		eng->idle_timer_ok = eng->idle_timer_on = false;
	}
	free(eng->kick_cost);
	eng->kick_cost = NULL;
	free(eng->quick_stats);
	eng->quick_stats = NULL;
	eng->nkick = eng->kick_cap = 0;
}

static uint64_t search_work(const struct engine *eng)
{
	return eng->steps + eng->patch_hits + eng->dr_hits + eng->quick_passes;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void eng_report(struct engine *eng)
{
	if (!eng->nkick)
		return;
	qsort(eng->kick_cost, eng->nkick, sizeof(uint64_t), cmp_u64);
	log_info("replay: %zu kick point(s): traps hit + single steps to find each: median %" PRIu64 ", worst %" PRIu64
		 " (%" PRIu64 " patch trap hits, %" PRIu64 " debug-register hits, %" PRIu64
		 " single steps in all, %" PRIu64 " of them done by hand; %" PRIu64 " passes and %" PRIu64
		 " more instructions run by hand%s, %" PRIu64 " runs that met no pass)",
		 eng->nkick, eng->kick_cost[eng->nkick / 2], eng->kick_cost[eng->nkick - 1], eng->patch_hits,
		 eng->dr_hits, eng->steps, eng->quick_steps, eng->quick_passes, eng->quick_insns,
		 eng->quick_stores ? ", stores too" : "", eng->quick_far);
	if (eng->quick_stats)
		quickrun_report(eng->quick_stats);
}

static bool k_known(const struct engine *eng)
{
	return eng->k != ENG_K_UNKNOWN;
}

void eng_where(const struct engine *eng, struct eng_pos *pos)
{
	memset(pos, 0, sizeof(*pos));
	pos->e = eng->vm->guest_exits;
	pos->k = eng->k;
	pos->kbase = eng->kbase;
	if (!k_known(eng) && eng->anchored) {
		pos->trap = eng->anchor;
		pos->m = eng->anchor_m;
		pos->after = eng->after;
	}
}

int eng_pos_cmp(const struct eng_pos *a, const struct eng_pos *b)
{
	if (a->e != b->e)
		return a->e < b->e ? -1 : 1;
	if (a->k != ENG_K_UNKNOWN && b->k != ENG_K_UNKNOWN)
		return a->k < b->k ? -1 : a->k > b->k;
	uint64_t ka = a->k != ENG_K_UNKNOWN ? a->k : a->kbase;
	uint64_t kb = b->k != ENG_K_UNKNOWN ? b->k : b->kbase;
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (a->k != ENG_K_UNKNOWN)
		return -1; /* the base comes before any fire after it */
	if (b->k != ENG_K_UNKNOWN)
		return 1;
	if (a->m != b->m)
		return a->m < b->m ? -1 : 1;
	if (a->after != b->after)
		return a->after < b->after ? -1 : 1;
	return 0;
}

void eng_pos_format(const struct eng_pos *p, char *buf, unsigned len)
{
	static const char *const names[] = { "break", "watch", "rwatch", "awatch" };

	if (p->k != ENG_K_UNKNOWN)
		snprintf(buf, len, "exit %" PRIu64 " + %" PRIu64 " steps", p->e, p->k);
	else
		snprintf(buf, len, "exit %" PRIu64 " + %" PRIu64 " steps, %s %#" PRIx64 " hit %" PRIu64 " + %" PRIu64 " steps",
			 p->e, p->kbase, names[p->trap.type & 3], p->trap.addr, p->m, p->after);
}

static bool trap_same(const struct eng_trap *a, const struct eng_trap *b)
{
	return a->type == b->type && a->addr == b->addr && a->len == b->len;
}

int eng_trap_add(struct engine *eng, const struct eng_trap *t)
{
	int free_slot = -1;

	if (t->type < ENG_EXEC || t->type > ENG_ACCESS)
		return -EINVAL;
	if (t->type != ENG_EXEC && !(t->len == 1 || t->len == 2 || t->len == 4 || t->len == 8))
		return -EINVAL;
	if (t->type != ENG_EXEC && (t->addr & (t->len - 1)))
		return -EINVAL;
	if ((t->type == ENG_READ || t->type == ENG_ACCESS) && !eng->hw_data)
		return -ENOTSUP;
	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (eng->trap_used[i] && trap_same(&eng->traps[i], t))
			return i;
		if (!eng->trap_used[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -ENOSPC;
	eng->traps[free_slot] = *t;
	if (t->type == ENG_EXEC)
		eng->traps[free_slot].len = 1;
	eng->trap_used[free_slot] = true;
	eng->fires[free_slot] = 0;
	return free_slot;
}

int eng_trap_find(const struct engine *eng, const struct eng_trap *t)
{
	struct eng_trap x = *t;

	if (x.type == ENG_EXEC)
		x.len = 1;
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (eng->trap_used[i] && trap_same(&eng->traps[i], &x))
			return i;
	return -1;
}

int eng_trap_del(struct engine *eng, const struct eng_trap *t)
{
	int i = eng_trap_find(eng, t);

	if (i < 0)
		return -ENOENT;
	eng->trap_used[i] = false;
	return 0;
}

void eng_restart(struct engine *eng, uint64_t k, int bp, uint64_t bp_addr)
{
	eng->dbg_valid = false; /* the loaded state may carry other debug registers */
	eng->bp = bp;
	eng->bp_addr = bp_addr;
	/* A search restored in the middle starts its budget afresh. */
	eng->search_hits0 = eng->patch_hits + eng->dr_hits + eng->quick_passes;
	eng->search_steps0 = eng->steps;
	eng->idle_ns = 0; /* its idle clock starts at its first look */
	eng->bp_patch = !eng->hw_exec && eng->patch_exec;
	eng->injected = false;
	eng->k = k;
	eng->kbase = 0;
	eng->anchored = false;
	eng->fired_rip = UINT64_MAX;
	memset(eng->fires, 0, sizeof(eng->fires));
}

/* Read a data trap's current value (0 when unmapped). */
static uint64_t watch_value(struct engine *eng, const struct eng_trap *t)
{
	struct kvm_sregs sregs;
	uint64_t v = 0;

	if (vcpu_get_sregs(eng->vm, &sregs) == 0)
		vm_read_virt(eng->vm, &sregs, t->addr, &v, t->len);
	return v;
}

/* Which user traps go into debug registers, and which execution traps
 * into patch traps (*patch_mask; sregs: the guest's present paging); the
 * rest are checked by stepping.  Returns a bit mask of trap indexes;
 * *need_step when some active trap cannot be had either way. */
static uint64_t hw_traps(struct engine *eng, unsigned free_drs, const struct kvm_sregs *sregs, uint64_t *patch_mask,
			 bool *need_step)
{
	uint64_t mask = 0;
	unsigned used = 0;

	*need_step = false;
	*patch_mask = 0;
	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i])
			continue;
		bool hw_ok = eng->traps[i].type == ENG_EXEC ? eng->hw_exec : eng->hw_data;
		if (hw_ok && used < free_drs) {
			mask |= 1ull << i;
			used++;
		} else if (eng->traps[i].type == ENG_EXEC && eng->patch_exec && sregs &&
			   ptrap_can_patch(eng->vm, sregs, eng->traps[i].addr, NULL)) {
			*patch_mask |= 1ull << i;
		} else {
			*need_step = true;
		}
	}
	return mask;
}

static uint64_t dr7_bits(unsigned slot, const struct eng_trap *t)
{
	uint64_t rw = 0, ln = 0;

	if (t->type != ENG_EXEC) {
		rw = t->type == ENG_WRITE ? 1 : 3; /* x86 has no read-only data breakpoint */
		ln = t->len == 1 ? 0 : t->len == 2 ? 1 : t->len == 8 ? 2 : 3;
	}
	return (1ull << (slot * 2)) | (rw << (16 + slot * 4)) | (ln << (18 + slot * 4));
}

/* goal.watch_by_pages: do the traps left out of the debug registers (mask)
 * still need single steps, apart from write traps checked by value? */
static bool steps_beyond_pages(const struct engine *eng, uint64_t mask)
{
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (eng->trap_used[i] && !(mask & (1ull << i)) && eng->traps[i].type != ENG_WRITE)
			return true;
	return false;
}

/* Linear address of the handler the guest's IDT names for vector (long
 * mode and flat protected mode), or of its real-mode vector.  0 or -EFAULT. */
static int idt_handler(struct vm *vm, uint8_t vector, uint64_t *addr)
{
	struct kvm_sregs sregs;
	uint8_t g[16];

	if (vcpu_get_sregs(vm, &sregs))
		return -EFAULT;
	if (!(sregs.cr0 & 1)) {
		uint16_t ivt[2];
		if (vm_read_virt(vm, &sregs, sregs.idt.base + vector * 4u, ivt, 4) != 4)
			return -EFAULT;
		*addr = (uint64_t)ivt[1] * 16 + ivt[0];
		return 0;
	}
	bool lm = (sregs.efer & (1u << 10)) != 0;
	unsigned sz = lm ? 16 : 8;
	if ((uint32_t)vector * sz + sz - 1 > sregs.idt.limit ||
	    vm_read_virt(vm, &sregs, sregs.idt.base + (uint64_t)vector * sz, g, sz) != sz)
		return -EFAULT;
	uint64_t off = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 | (uint64_t)g[7] << 24;
	if (lm)
		off |= (uint64_t)g[8] << 32 | (uint64_t)g[9] << 40 | (uint64_t)g[10] << 48 | (uint64_t)g[11] << 56;
	if (!(g[5] & 0x80))
		return -EFAULT; /* not present: the guest faults, stepping shows it */
	*addr = off;
	return 0;
}

/* The linear address an IRET at the vCPU's RIP returns to, in 64-bit mode
 * (IRETQ, or IRET with a 32-bit frame) and to CPL0: 0, or -1 (no such
 * IRET, or the frame is unreadable). */
static int iret_target(struct vm *vm, const struct kvm_regs *regs, const struct kvm_sregs *sregs, uint64_t *to)
{
	uint8_t insn[2];
	uint8_t frame[16];

	if (!sregs->cs.l || vm_read_virt(vm, sregs, sregs->cs.base + regs->rip, insn, 2) != 2 ||
	    vm_read_virt(vm, sregs, regs->rsp, frame, sizeof(frame)) != sizeof(frame))
		return -1;
	uint64_t rip;
	uint16_t cs;
	if (insn[0] == 0x48 && insn[1] == 0xcf) {
		memcpy(&rip, frame, 8);
		memcpy(&cs, frame + 8, 2);
	} else if (insn[0] == 0xcf) {
		uint32_t eip;
		memcpy(&eip, frame, 4);
		memcpy(&cs, frame + 4, 2);
		rip = eip;
	} else {
		return -1;
	}
	if (cs & 3)
		return -1; /* to CPL3: no breakpoint fires there on PVM, and no step either */
	*to = rip;
	return 0;
}

struct dbg_setup {
	uint64_t entry_bp;  /* nonzero: stop at this handler entry instead of stepping */
	uint64_t entry_patch; /* the same with a patch trap */
	bool step;
	bool kick_bp;       /* DR0 = eng->bp_addr */
	bool search_bp;     /* DR0 = eng->bp_addr too, while the search steps */
	bool kick_patch;    /* a patch trap at eng->bp_addr */
	uint64_t user_mask; /* user traps in the other registers */
	uint64_t patch_mask; /* user execution traps as patch traps */
	uint64_t step_from; /* linear RIP where a step starts */
	uint64_t skip_addr; /* exec trap left out for one step (resume over it) */
	struct stepfix fix; /* where this step may push TF (stepfix.h) */
};

/* Instead of the single step ds plans: run to addr, where a breakpoint (or
 * a patch trap, where addr is patchable now) stops the guest, counted as
 * the step (on_debug_exit, on_patch_trap).  Nothing changes where neither
 * can be set. */
static void step_by_trap(const struct engine *eng, struct dbg_setup *ds, const struct kvm_sregs *sregs, uint64_t addr)
{
	if (!eng->hw_exec && !(eng->patch_exec && ptrap_patchable(eng->vm, sregs, addr, NULL)))
		return;
	ds->step = false;
	ds->kick_bp = false;
	ds->kick_patch = false;
	ds->user_mask = 0;
	ds->patch_mask = 0;
	if (eng->hw_exec)
		ds->entry_bp = addr;
	else
		ds->entry_patch = addr;
}

static int apply_debug(struct engine *eng, const struct dbg_setup *s, int slot_of[ENG_MAX_TRAPS])
{
	struct kvm_guest_debug dbg;
	unsigned slot = 0;

	memset(&dbg, 0, sizeof(dbg));
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		slot_of[i] = -1;
	if (s->entry_bp) {
		dbg.arch.debugreg[0] = s->entry_bp;
		dbg.arch.debugreg[7] |= dr7_bits(0, &(struct eng_trap){ .type = ENG_EXEC });
		slot = 1;
	} else if (s->kick_bp || s->search_bp) {
		dbg.arch.debugreg[0] = eng->bp_addr;
		dbg.arch.debugreg[7] |= dr7_bits(0, &(struct eng_trap){ .type = ENG_EXEC });
		slot = 1;
	}
	for (int i = 0; i < ENG_MAX_TRAPS && slot < 4; i++) {
		if (!(s->user_mask & (1ull << i)))
			continue;
		if (eng->traps[i].type == ENG_EXEC && eng->traps[i].addr == s->skip_addr && s->step)
			continue;
		dbg.arch.debugreg[slot] = eng->traps[i].addr;
		dbg.arch.debugreg[7] |= dr7_bits(slot, &eng->traps[i]);
		slot_of[i] = (int)slot;
		slot++;
	}
	if (slot)
		dbg.arch.debugreg[7] |= DR7_FIXED;
	uint32_t control = (s->step ? KVM_GUESTDBG_SINGLESTEP : 0) | (slot ? KVM_GUESTDBG_USE_HW_BP : 0);
	/* One ioctl per change, not per exit: it costs as much as an exit.
	 * Except for a step on VMX/SVM: KVM steps by setting TF in the guest's
	 * RFLAGS once, when guest debugging is set, and an IRET or POPF that
	 * loads RFLAGS clears it, so that the next "step" would run on to the
	 * next exit (seen on the SVM test host, stepping into CPL3).  PVM's
	 * emulator steps without TF. */
	bool rearm = s->step && eng->vm->flavour != KVM_FLAVOUR_PVM;
	if (eng->dbg_valid && !rearm && eng->dbg_control == control && eng->dbg_keep == eng->vm->guest_debug_keep &&
	    !memcmp(&eng->dbg_arch, &dbg.arch, sizeof(dbg.arch)))
		return 0;
	/* Through vcpu_set_guest_debug(): it keeps the bits others need on
	 * (USE_SW_BP while RDTSC sites trap with INT3). */
	int r = vcpu_set_guest_debug(eng->vm, control, &dbg.arch);
	eng->dbg_valid = r == 0;
	eng->dbg_control = control;
	eng->dbg_keep = eng->vm->guest_debug_keep;
	eng->dbg_arch = dbg.arch;
	if (r)
		vm_request_stop(eng->vm, ST_HOST, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
	return r;
}

int eng_settle(struct engine *eng)
{
	int r = vcpu_settle(eng->vm, false);
	/* The access is complete: another settle must not run KVM_RUN again. */
	if (r > 0)
		eng->vm->run->exit_reason = KVM_EXIT_INTR;
	return r < 0 ? r : 0;
}


/* Inject at a kick point once registers and memory match the recording
 * (record/ev_irq.c).  Returns 1 when injected, 0 when this is not the point,
 * -1 on error. */
static int try_kick_point(struct engine *eng, const struct trace_event *e)
{
	bool probe = e->kind == TRACE_EV_PROBE;
	uint8_t vector = probe ? 0 : e->u.irq.vector;
	int r = probe ? replay_probe_at_kick(eng->vm, e) : replay_irq_at_kick(eng->vm, e);

	if (r > 0) {
		if (!probe) {
			eng->injected_vector = vector;
			eng->injected = true;
		}
		eng->bp = ENG_BP_NONE;
		if (eng->nkick == eng->kick_cap) {
			size_t cap = eng->kick_cap ? 2 * eng->kick_cap : 64;
			uint64_t *p = realloc(eng->kick_cost, cap * sizeof(*p));
			if (p) {
				eng->kick_cost = p;
				eng->kick_cap = cap;
			}
		}
		uint64_t cost = search_work(eng) - eng->kick_start;
		if (eng->nkick < eng->kick_cap)
			eng->kick_cost[eng->nkick++] = cost;
		log_debug("replay: kick point %#llx found after %" PRIu64 " trap hit(s) + step(s)",
			  (unsigned long long)eng->bp_addr, cost);
	}
	return r;
}

static void fire(struct engine *eng, int i, const struct eng_goal *goal, int *stop, uint64_t addr)
{
	eng->fires[i]++;
	if (goal->traps) {
		if (*stop != ENG_STOP_TRAP) {
			eng->hit = i;
			eng->hit_addr = addr;
			*stop = ENG_STOP_TRAP;
		}
	} else if (goal->on_fire) {
		struct eng_pos p;
		eng_where(eng, &p);
		if (!k_known(eng)) {
			p.trap = eng->traps[i];
			p.m = eng->fires[i];
			p.after = 0;
		}
		goal->on_fire(goal->fire_ctx, &p, i);
	}
}

/* After a debug exit: which traps fired.  Execution traps fire on arrival
 * at their address: by a step (RIP compare) or in hardware (DR6).  Data
 * traps fire after the access: in hardware (DR6, also during a step), or
 * (PVM, write only) when a step changed the watched bytes. */
static void check_traps(struct engine *eng, const struct eng_goal *goal, uint64_t rip, uint64_t dr6,
			const int slot_of[ENG_MAX_TRAPS], bool stepped, int *stop)
{
	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i])
			continue;
		struct eng_trap *t = &eng->traps[i];
		if (t->type == ENG_EXEC) {
			if (stepped ? rip == t->addr : slot_of[i] >= 0 && (dr6 & (1ull << slot_of[i]))) {
				eng->fired_rip = rip;
				fire(eng, i, goal, stop, t->addr);
			}
		} else if (slot_of[i] >= 0) {
			if (dr6 & (1ull << slot_of[i]))
				fire(eng, i, goal, stop, t->addr);
		} else if (stepped && t->type == ENG_WRITE && !goal->watch_by_pages) {
			uint64_t v = watch_value(eng, t);
			if (v != eng->watch_val[i]) {
				eng->watch_val[i] = v;
				fire(eng, i, goal, stop, t->addr);
			}
		}
	}
}

/* Arrival at an exit boundary: execution traps at the new RIP fire. */
static void check_arrival(struct engine *eng, const struct eng_goal *goal, int *stop)
{
	struct kvm_regs regs;
	bool any = false;

	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		any |= eng->trap_used[i] && eng->traps[i].type == ENG_EXEC;
	if (!any || eng_settle(eng) || vcpu_get_regs(eng->vm, &regs))
		return;
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (eng->trap_used[i] && eng->traps[i].type == ENG_EXEC && eng->traps[i].addr == regs.rip) {
			eng->fired_rip = regs.rip;
			fire(eng, i, goal, stop, regs.rip);
		}
}

/* Is the guest at the pending (non-canonical) point p? */
static bool pending_reached(const struct engine *eng, const struct eng_pos *p)
{
	if (eng->vm->guest_exits != p->e)
		return false;
	if (k_known(eng) ? eng->k <= p->kbase : eng->kbase != p->kbase)
		return false;
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (eng->trap_used[i] && trap_same(&eng->traps[i], &p->trap))
			return eng->fires[i] == p->m;
	return false;
}

static void anchor(struct engine *eng, const struct eng_trap *t, uint64_t m)
{
	if (k_known(eng))
		return;
	eng->anchored = true;
	eng->anchor = *t;
	eng->anchor_m = m;
	eng->after = 0;
}

static void enter_boundary(struct engine *eng)
{
	eng->anchored = false;
	eng->k = 0;
	eng->kbase = 0;
	memset(eng->fires, 0, sizeof(eng->fires));
}

/* One eng_run() call's state between its phases. */
struct run_state {
	const struct eng_goal *goal;
	int slot_of[ENG_MAX_TRAPS];
	int stop;            /* ENG_STOP_TRAP once a trap fired */
	bool want_int;       /* goal.poll asked to stop */
	bool first;          /* before the first KVM_RUN */
	bool use_traps;      /* the goal looks at user traps */
	uint64_t last_poll;  /* ms */
	struct dbg_setup ds; /* how this KVM_RUN goes */
};

/* A trap fired (rs->stop) or the pending point was reached: name the point
 * by its fire and return the stop; else 0. */
static int trap_stop(struct engine *eng, struct run_state *rs)
{
	const struct eng_goal *goal = rs->goal;

	if (rs->stop == ENG_STOP_TRAP) {
		anchor(eng, &eng->traps[eng->hit], eng->fires[eng->hit]);
		return ENG_STOP_TRAP;
	}
	if (goal->pending && pending_reached(eng, goal->pending)) {
		anchor(eng, &goal->pending->trap, goal->pending->m);
		return ENG_STOP_TARGET;
	}
	return 0;
}

/* One instruction was executed by a step (or counts as one). */
static void count_step(struct engine *eng)
{
	eng->steps++;
	if (k_known(eng))
		eng->k++;
	else
		eng->after++;
}

/* Phase result: go on with the loop's next phase, start the loop over, or
 * leave it (ENG_STOP_END: the VM is stopped). */
enum { PH_GO = 0, PH_AGAIN = -1, PH_END = -2 };

/* Before a run: a signal, the goal's target or a poll may end eng_run here.
 * Returns PH_GO, PH_END or an enum eng_stop. */
static int check_goal(struct engine *eng, struct run_state *rs)
{
	struct vm *vm = eng->vm;
	const struct eng_goal *goal = rs->goal;
	int sig = run_signal_stop();

	if (sig) {
		/* Say what the replay was doing: a search that never ends is
		 * the usual reason it was stopped from outside. */
		char doing[160] = "";
		if (eng->bp != ENG_BP_NONE)
			snprintf(doing, sizeof(doing),
				 ", looking for the point at %#" PRIx64 " for %" PRIu64 " trap hits and %" PRIu64
				 " single steps",
				 eng->bp_addr, eng->patch_hits + eng->dr_hits + eng->quick_passes - eng->search_hits0,
				 eng->steps - eng->search_steps0);
		vm_request_stop(vm, ST_SIGNAL, "replay stopped by %s after guest exit %" PRIu64 "%s",
				sig == SIGINT ? "SIGINT" : "SIGTERM", vm->guest_exits, doing);
		return PH_END;
	}
	if (goal->to_e == vm->guest_exits && k_known(eng) && eng->k == goal->to_k && !eng->injected)
		return ENG_STOP_TARGET;
	if (goal->pending && k_known(eng) && vm->guest_exits == goal->pending->e && eng->k == goal->pending->kbase)
		memset(eng->fires, 0, sizeof(eng->fires)); /* count from the pending point's base */
	if (goal->poll && (rs->first || host_mono_ns() / 1000000 - rs->last_poll >= 20)) {
		rs->last_poll = host_mono_ns() / 1000000;
		if (goal->poll(goal->poll_ctx))
			rs->want_int = true;
	}
	if (rs->want_int && k_known(eng) && !eng->injected)
		return ENG_STOP_INTERRUPT;
	return PH_GO;
}

/* A loop probe set where the guest stood between two exits: found as an
 * interrupt's kick point is. */
static bool is_probe_at_kick(const struct trace_event *e)
{
	return e->kind == TRACE_EV_PROBE && e->u.probe.on == TRACE_PROBE_AT_KICK;
}

/* The trace's next event where the guest is: the end of a cut recording,
 * an interrupt to inject at this exit, or a kick point to look for.
 * PH_GO or PH_END. */
static int meet_event(struct engine *eng)
{
	struct vm *vm = eng->vm;
	const struct trace_event *e = rr_peek(vm);

	if (vm->stop)
		return PH_END;
	/* Loop probes the recording set at this exit (normally done by
	 * on_guest_exit; here for a replay that starts at this exit). */
	replay_probe_events(vm);
	e = rr_peek(vm);
	if (vm->stop)
		return PH_END;
	if (!e) {
		vm_request_stop(vm, ST_OK, "replay reached the end of an incomplete trace after guest exit %" PRIu64,
				vm->guest_exits);
		return PH_END;
	}
	if (e->exit_no < vm->guest_exits) {
		rr_diverged(vm, "the guest went past the point of the next event", e);
		return PH_END;
	}
	vm->run->request_interrupt_window = 0;
	if (ttvm_verbosity >= 4)
		log_debug("engine: exit %" PRIu64 " k %" PRIu64 " next event %" PRIu64 " (kind %u at exit %" PRIu64 ")%s",
			  vm->guest_exits, eng->k, e->seq, e->kind, e->exit_no, eng->injected ? " injected" : "");
	if (e->exit_no != vm->guest_exits || eng->injected)
		return PH_GO;
	if (replay_end_cut(vm, e))
		return PH_END;
	if (e->kind == TRACE_EV_IRQ && e->u.irq.regs_hash == 0) {
		/* Recorded right at this exit, where the guest could take it. */
		uint8_t vector = e->u.irq.vector;
		if (replay_irq_at_exit(vm, e))
			return PH_END;
		eng->injected_vector = vector;
		eng->injected = true;
	} else if (eng->bp == ENG_BP_NONE && (e->kind == TRACE_EV_IRQ || is_probe_at_kick(e))) {
		/* A window point is a few instructions away: steps.  A kick
		 * point: a debug register, else a patch trap (plan_run steps
		 * while the address cannot be patched), else steps. */
		bool window = (e->flags & TRACE_EVF_FP) && e->fp.exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN;
		eng->bp_addr = e->kind == TRACE_EV_IRQ ? e->u.irq.rip : e->u.probe.addr;
		eng->bp_patch = !eng->hw_exec && eng->patch_exec;
		eng->kick_start = search_work(eng);
		eng->quick_skip = eng->quick_backoff = 0;
		eng->search_hits0 = eng->patch_hits + eng->dr_hits + eng->quick_passes;
		eng->search_steps0 = eng->steps;
		eng->idle_ns = 0; /* its idle clock starts at its first look */
		eng->bp = window || (!eng->hw_exec && !eng->bp_patch) ? ENG_BP_SEARCH_STEP : ENG_BP_ARMED;
	}
	return PH_GO;
}

/* A window point right after an STI: a single step over STI on the SVM
 * test host runs the next instruction too (the STI shadow holds off the
 * step's trap), past the point (rr-msr: `sti; mov ticks,%eax`, 1 round in
 * about 20).  STI changes only IF: set it, move RIP past it, and look for
 * the point there (the registers hash and memory digest decide; undone
 * when they do not match).  1 injected, 0 not here, -1 error. */
static int step_over_sti(struct engine *eng, struct kvm_regs *regs, const struct kvm_sregs *sregs)
{
	struct vm *vm = eng->vm;
	const struct trace_event *e = rr_peek(vm);
	uint8_t insn = 0;
	uint64_t lin = sregs->cs.base + regs->rip;

	if (!e || e->kind != TRACE_EV_IRQ || !e->u.irq.regs_hash || e->u.irq.rip != lin + 1 ||
	    vm_read_virt(vm, sregs, lin, &insn, 1) != 1 || insn != 0xfb)
		return 0;
	struct kvm_regs after = *regs;
	after.rip++;
	after.rflags |= 1u << 9;
	if (vcpu_set_regs(vm, &after)) {
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	int r = try_kick_point(eng, e);
	if (r == 0 && vcpu_set_regs(vm, regs)) {
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	if (r > 0)
		log_debug("replay: stepped over STI at %#" PRIx64 " by hand to its window point", lin);
	return r;
}

/* How to run this time: single steps or full speed, which breakpoints.
 * While stepping, a kick point is looked for at every stop (PH_AGAIN once
 * injected).  Applies the debug registers.  PH_GO, PH_AGAIN or PH_END. */
static int plan_run(struct engine *eng, struct run_state *rs)
{
	struct vm *vm = eng->vm;
	const struct eng_goal *goal = rs->goal;
	struct dbg_setup *ds = &rs->ds;
	struct kvm_regs regs;
	bool trap_step = false;
	bool to_target = goal->to_e == vm->guest_exits && k_known(eng) && eng->k < goal->to_k;

	struct kvm_sregs sregs;
	memset(ds, 0, sizeof(*ds));
	bool searching = eng->bp != ENG_BP_NONE && !eng->injected;
	if (searching && search_exhausted(eng, rs->first))
		return PH_END;
	idle_timer_set(eng, searching);
	if (vcpu_get_regs(vm, &regs) || vcpu_get_sregs(vm, &sregs)) {
		vm_request_stop(vm, ST_HOST, "KVM_GET_REGS: %s", strerror(errno));
		return PH_END;
	}
	bool kick_dr = eng->bp == ENG_BP_ARMED && !eng->bp_patch;
	if (rs->use_traps)
		ds->user_mask = hw_traps(eng, kick_dr ? 3 : 4, &sregs, &ds->patch_mask, &trap_step);
	if (trap_step && goal->watch_by_pages)
		trap_step = steps_beyond_pages(eng, ds->user_mask | ds->patch_mask);
	/* A kick point by patch trap needs the address patchable now. */
	bool kick_unpatchable = eng->bp == ENG_BP_ARMED && eng->bp_patch && !eng->injected &&
				!ptrap_patchable(vm, &sregs, eng->bp_addr, NULL);
	ds->step = goal->step || goal->single || trap_step || to_target || rs->want_int || eng->bp == ENG_BP_STEP ||
		   eng->bp == ENG_BP_SEARCH_STEP || kick_unpatchable || vm->ptraps.skip;
	ds->step_from = sregs.cs.base + regs.rip;
	if (!ds->step && eng->fired_rip == regs.rip)
		ds->step = true; /* resume over an execution trap that fired here (PVM ignores RF) */
	if (ds->step && !eng->injected && (eng->bp == ENG_BP_ARMED || eng->bp == ENG_BP_SEARCH_STEP) &&
	    regs.rip == eng->bp_addr) {
		/* Stepping: the kick point is looked for at every stop. */
		int r = try_kick_point(eng, rr_peek(vm));
		if (r < 0)
			return PH_END;
		if (r > 0)
			return PH_AGAIN;
	}
	if (ds->step && !eng->injected && eng->bp == ENG_BP_SEARCH_STEP) {
		int r = step_over_sti(eng, &regs, &sregs);
		if (r < 0)
			return PH_END;
		if (r > 0)
			return PH_AGAIN;
	}
	if (ds->step) {
		/* Execution traps are compared at every step instead. */
		for (int i = 0; i < ENG_MAX_TRAPS; i++)
			if (eng->trap_used[i] && eng->traps[i].type == ENG_EXEC)
				ds->user_mask &= ~(1ull << i);
		ds->patch_mask = 0;
	}
	ds->kick_bp = kick_dr && !ds->step;
	/* A search by steps also holds a debug register on its point: PVM's
	 * single step over an ENDBR64 ran the LFENCE and JMP after it too,
	 * past a window point recorded on that LFENCE, and the search
	 * stepped on for ever (rr-quickstep under load). */
	ds->search_bp = ds->step && eng->bp == ENG_BP_SEARCH_STEP && !eng->injected && eng->hw_exec &&
			!rs->use_traps && regs.rip != eng->bp_addr;
	ds->kick_patch = eng->bp == ENG_BP_ARMED && eng->bp_patch && !ds->step && !eng->injected;
	if (ds->step && eng->injected && (eng->hw_exec || eng->patch_exec)) {
		/* A single step that delivers an injected interrupt pushes
		 * RFLAGS with TF onto the guest's stack (seen on PVM and on
		 * the SVM test host), so that the memory differs from the
		 * recording's and its IRET would trap into the guest: run to
		 * the handler's entry with a breakpoint, or a patch trap,
		 * instead. */
		uint64_t h;
		if (idt_handler(vm, eng->injected_vector, &h) == 0)
			step_by_trap(eng, ds, &sregs, h);
	}
	/* PVM runs one more instruction in a step over an IRET (the return
	 * address's, so that a loop probe there is passed without its hit):
	 * run to the return address instead. */
	uint64_t iret_to;
	if (ds->step && !eng->injected && !vm->ptraps.skip && (eng->hw_exec || eng->patch_exec) &&
	    iret_target(vm, &regs, &sregs, &iret_to) == 0)
		step_by_trap(eng, ds, &sregs, iret_to);
	if (ds->step && eng_settle(eng)) /* else the step's KVM_RUN only completes a pending PIO/MMIO and reports a step */
		return PH_END;
	if (ds->step)
		stepfix_plan(vm, eng->injected, eng->injected_vector, &ds->fix); /* TF pushed to memory: stepfix.h */
	if (apply_debug(eng, ds, rs->slot_of))
		return PH_END;
	return PH_GO;
}


/* The search's trap stopped the guest at its point's RIP in another state:
 * step over the instruction there by hand where core/quickstep.c can (a
 * guest entry saved per pass), and go on by hand (replay/quickrun.h) to
 * the point's next pass, which is compared here as at a trap hit, and so
 * on.  Not with the guest's own TF (its #DB), nor outside 64-bit code.
 * true when the guest moved (each step over the point counted as the
 * step), or the point was taken (or the VM stopped); false with the guest
 * standing on the point as at the hit: a real step is due. */
static bool quick_step(struct engine *eng)
{
	struct vm *vm = eng->vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (!eng->quick || vcpu_get_regs(vm, &regs) || (regs.rflags & RR_RFLAGS_DEBUG_BITS) ||
	    vcpu_get_sregs(vm, &sregs) || !vm_code64(&sregs) || regs.rip != eng->bp_addr)
		return false;
	uint64_t budget = QUICK_BUDGET, done;
	/* A point whose passes lie far apart: after a run that found none
	 * within pass_len, the next 1, 2, 4, ... hits step over the point's
	 * instruction alone (a failed run costs more than it saves). */
	uint64_t pass_len = eng->quick_len;
	if (eng->quick_skip) {
		eng->quick_skip--;
		pass_len = 0;
	}
	bool moved = false;
	enum quickrun_end end;
	struct quickrun qr;
	quickrun_begin(&qr, vm, &sregs, eng->quick_stores, eng->quick_stats);
	for (;;) {
		/* The point's own instruction, then at most pass_len more. */
		end = quickrun(&qr, &regs, eng->bp_addr, budget < pass_len + 1 ? budget : pass_len + 1, &done);
		if (!done)
			break; /* refused on the point itself */
		moved = true;
		budget -= done;
		count_step(eng); /* the step over the point's instruction */
		eng->quick_steps++;
		eng->quick_insns += done - 1;
		if (end != QR_AT_STOP) {
			if (end == QR_BUDGET && pass_len) {
				eng->quick_far++;
				eng->quick_backoff = eng->quick_backoff ? (eng->quick_backoff < 1024 ? 2 * eng->quick_backoff : 1024) : 1;
				eng->quick_skip = eng->quick_backoff;
			}
			break;
		}
		/* At the point again: a pass without a guest entry. */
		eng->quick_passes++;
		eng->quick_backoff = 0;
		if (vcpu_set_regs(vm, &regs)) {
			vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
			return true;
		}
		const struct trace_event *e = rr_peek(vm);
		int r = e ? try_kick_point(eng, e) : -1;
		if (r != 0 || vm->stop)
			return true; /* taken (on the point, as after a trap's hit), or stopped */
		if (!budget)
			break;
	}
	if (!moved)
		return false;
	if (vcpu_set_regs(vm, &regs)) {
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
		return true;
	}
	if (regs.rip == eng->bp_addr)
		return false; /* on the point, its pass compared: a real step over it */
	/* Elsewhere: no step over the patch trap's instruction is due (that
	 * step is what these replace). */
	if (vm->ptraps.skip && vm->ptraps.skip_addr == eng->bp_addr)
		vm->ptraps.skip = false;
	return true;
}

/* The trap on the searched kick point fired (a debug register or a patch
 * trap; what: the divergence report if no point is searched): inject
 * there, or step over it when the state differs (by hand, quick_step(),
 * where quick allows).  0, or -1 with the VM stopped. */
static int kick_trap_hit(struct engine *eng, const char *what, bool quick)
{
	struct vm *vm = eng->vm;
	const struct trace_event *e = rr_peek(vm);

	if (vm->stop || !e || (e->kind != TRACE_EV_IRQ && !is_probe_at_kick(e))) {
		rr_diverged(vm, what, e);
		return -1;
	}
	int r = try_kick_point(eng, e);
	if (r < 0)
		return -1;
	/* Same RIP, other state: step over it (by hand where it can be). */
	if (r == 0 && !(quick && quick_step(eng)))
		eng->bp = ENG_BP_STEP;
	return vm->stop ? -1 : 0;
}

/* A debug exit (not #BP: exit_dispatch() handles those, RDTSC sites' INT3
 * and the guest's own): count the step, look for the kick point at a
 * breakpoint on it, check the user traps.  PH_AGAIN, PH_END or an enum
 * eng_stop. */
static int on_debug_exit(struct engine *eng, struct run_state *rs)
{
	struct vm *vm = eng->vm;
	const struct eng_goal *goal = rs->goal;
	const struct dbg_setup *ds = &rs->ds;
	uint64_t pc = vm->run->debug.arch.pc;
	uint64_t dr6 = vm->run->debug.arch.dr6;
	bool stepped = ds->step || (ds->entry_bp && pc == ds->entry_bp);

	if (ttvm_verbosity >= 4)
		log_debug("engine: debug exit at %#llx, dr6 %#llx%s", (unsigned long long)pc, (unsigned long long)dr6,
			  stepped ? " (step)" : "");
	if (stepped) {
		count_step(eng);
	} else {
		eng->anchored = false;
		eng->dr_hits++;
	}
	if (eng->bp == ENG_BP_STEP) {
		eng->bp = ENG_BP_ARMED;
	} else if (ds->kick_bp && (dr6 & 1) && pc == eng->bp_addr) {
		if (kick_trap_hit(eng, "unexpected debug exit", !rs->use_traps))
			return PH_END;
	} else if (ds->entry_bp) {
		/* at the handler's entry: counted as the step */
	} else if (!stepped && !(dr6 & 0xf)) {
		rr_diverged(vm, "unexpected debug exit", rr_peek(vm));
		return PH_END;
	}
	if (rs->use_traps)
		check_traps(eng, goal, pc, dr6, rs->slot_of, stepped, &rs->stop);
	int stop = trap_stop(eng, rs);
	if (stop)
		return stop;
	if (goal->step && stepped)
		return ENG_STOP_STEP;
	if (rs->want_int && k_known(eng))
		return ENG_STOP_INTERRUPT;
	return PH_AGAIN;
}

/* An exit the dispatcher handles: the guest's own exits (the next
 * boundary, where checkpoints are checked and execution traps at the new
 * RIP fire) and the end of the replay.  PH_AGAIN, PH_END or an enum
 * eng_stop. */
static int on_guest_exit(struct engine *eng, struct run_state *rs)
{
	struct vm *vm = eng->vm;
	const struct eng_goal *goal = rs->goal;

	if (vm->run->exit_reason == KVM_EXIT_HLT && eng->bp != ENG_BP_NONE &&
	    !(vm->ptraps.hit_known && vm->ptraps.hit_owners)) { /* not a patch trap's HLT */
		/* The search ran into the HLT that its point is right before
		 * (a step over STI or POPF, record/ev_irq.c): the HLT is undone,
		 * not an exit, and the interrupt goes in there as recorded. */
		const struct trace_event *e = rr_peek(vm);
		uint8_t vector = e ? e->u.irq.vector : 0;
		int r = e && e->exit_no == vm->guest_exits ? replay_irq_before_hlt(vm, e) : 0;
		if (r < 0)
			return PH_END;
		if (r > 0) {
			eng->injected_vector = vector;
			eng->injected = true;
			eng->bp = ENG_BP_NONE;
			if (rs->ds.step) { /* the step's own instruction was done */
				eng->steps++;
				if (k_known(eng))
					eng->k++;
				else
					eng->after++;
			}
			return PH_AGAIN;
		}
	}
	if (eng->loud)
		vm->serial_out = vm->guest_exits >= eng->frontier ? eng->loud : eng->quiet;
	uint64_t exits_before = vm->guest_exits;
	enum exit_action act = exit_dispatch(vm);
	if (ttvm_verbosity >= 4 && vm->guest_exits != exits_before)
		log_debug("engine: guest exit %" PRIu64 " (%s) at %#llx%s", vm->guest_exits,
			  exit_reason_name(vm->run->exit_reason), (unsigned long long)vm->run->s.regs.regs.rip,
			  rs->ds.step ? " (stepping)" : "");
	if (vm->guest_exits > eng->frontier)
		eng->frontier = vm->guest_exits;
	eng->end_at_boundary = false;
	if (act == EXIT_STOP && vm->guest_exits != exits_before) {
		/* The guest's own last exit (debug-exit port, HLT for good):
		 * the end is its boundary. */
		enter_boundary(eng);
		eng->end_at_boundary = true;
	}
	if (act == EXIT_STOP) {
		if (vm->status != ST_DIVERGED && vm->status != ST_BADTRACE)
			replay_check_end(vm);
		return PH_END;
	}
	enter_boundary(eng);
	/* The recording's probe changes at this exit, before its checkpoints. */
	replay_probe_events(vm);
	bool boundary_stop = goal->on_boundary && goal->on_boundary(goal->boundary_ctx);
	const struct trace_event *e = rr_peek(vm);
	if (vm->stop)
		return PH_END;
	/* Where the recorder took its checkpoints: compare digests. */
	replay_after_exit(vm);
	if (vm->stop)
		return PH_END;
	if (eng->bp != ENG_BP_NONE && e && e->exit_no < vm->guest_exits) {
		rr_diverged(vm, "the kick point of an interrupt was not met before the guest's next exit", e);
		return PH_END;
	}
	if (act == EXIT_HALT && (!e || e->exit_no != vm->guest_exits)) {
		rr_diverged(vm, "the guest halted where the recording has no interrupt", e);
		return PH_END;
	}
	if (rs->use_traps)
		check_arrival(eng, goal, &rs->stop);
	if (rs->stop == ENG_STOP_TRAP)
		return ENG_STOP_TRAP;
	if (goal->step)
		return ENG_STOP_STEP; /* the instruction exited to ttvm: done */
	if (boundary_stop)
		return ENG_STOP_TARGET;
	return PH_AGAIN;
}

/* The engine's patch traps for this run: the kick point and the user
 * execution traps plan_run gave to patches. */
static void set_engine_patches(struct engine *eng, const struct dbg_setup *ds)
{
	struct ptrap_set *s = &eng->vm->ptraps;

	ptrap_clear(s, PTRAP_ENGINE);
	if (ds->kick_patch)
		ptrap_add(s, eng->bp_addr, PTRAP_ENGINE);
	if (ds->entry_patch)
		ptrap_add(s, ds->entry_patch, PTRAP_ENGINE);
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (ds->patch_mask & (1ull << i))
			ptrap_add(s, eng->traps[i].addr, PTRAP_ENGINE);
}

/* KVM_RUN once, with the loop probes patched in (and the engine's patch
 * traps unless stepping).  PH_GO after an exit, PH_AGAIN after a signal,
 * PH_END on a host error. */
static int run_vcpu(struct engine *eng, const struct dbg_setup *ds)
{
	struct vm *vm = eng->vm;

	set_engine_patches(eng, ds);
	ptrap_apply(vm, &vm->ptraps, PTRAP_PROBE | (ds->step ? 0u : (unsigned)PTRAP_ENGINE));
	if (ds->step) {
		/* Nothing stays patched under a single step: hosts differ on a
		 * HLT there.  A step from a patched probe reports the step, or
		 * the HLT; a step that lands on one may run it too and report
		 * its HLT at a later exit (PVM, after an IRET to the probe).
		 * The probe's hit is the vCPU standing on it at a step's start
		 * (unless the step is to deliver an injected interrupt). */
		if (!vm->ptraps.skip && !eng->injected &&
		    ptrap_hit_here(vm, &vm->ptraps, ds->step_from, PTRAP_PROBE)) {
			vm->run->exit_reason = KVM_EXIT_HLT;
			eng->injected = false;
			eng->fired_rip = UINT64_MAX;
			return PH_GO;
		}
		ptrap_remove(vm, &vm->ptraps);
		ptrap_apply(vm, &vm->ptraps, 0);
	}
	int rc = vcpu_run(vm);
	int err = errno;
	ptrap_remove(vm, &vm->ptraps);
	if (rc < 0) {
		if (err == EINTR || err == EAGAIN) {
			vm->run->immediate_exit = 0;
			return PH_AGAIN;
		}
		vm_request_stop(vm, ST_HOST, "KVM_RUN failed: %s", strerror(err));
		return PH_END;
	}
	vm->exits++;
	if (ttvm_verbosity >= 4)
		log_debug("engine: run from %#llx (%s): exit %s", (unsigned long long)ds->step_from,
			  ds->step ? "step" : "no step", exit_reason_name(vm->run->exit_reason));
	eng->injected = false;
	eng->fired_rip = UINT64_MAX;
	/* The run after a probe's hit has executed (or stepped over) its
	 * instruction; a new hit sets skip again. */
	vm->ptraps.skip = false;
	return PH_GO;
}

/* A patch trap of the engine's own was hit at linear addr (RIP is back on
 * it): the kick point search, or a user execution trap.  PH_AGAIN, PH_END
 * or an enum eng_stop. */
static int on_patch_trap(struct engine *eng, struct run_state *rs, uint64_t addr)
{
	const struct eng_goal *goal = rs->goal;
	const struct dbg_setup *ds = &rs->ds;

	eng->patch_hits++;
	if (ttvm_verbosity >= 4)
		log_debug("engine: patch trap at %#llx", (unsigned long long)addr);
	if (ds->entry_patch && addr == ds->entry_patch) {
		/* At the handler's entry: counted as the step that delivered
		 * the interrupt (the handler's first instruction not run). */
		count_step(eng);
		if (goal->step)
			return ENG_STOP_STEP;
		if (rs->want_int && k_known(eng))
			return ENG_STOP_INTERRUPT;
		return PH_AGAIN;
	}
	eng->anchored = false;
	/* With the user's traps on, a step may have more to check: stepped. */
	if (ds->kick_patch && addr == eng->bp_addr && kick_trap_hit(eng, "unexpected patch trap", !rs->use_traps))
		return PH_END;
	if (rs->use_traps) {
		for (int i = 0; i < ENG_MAX_TRAPS; i++) {
			if ((ds->patch_mask & (1ull << i)) && eng->traps[i].addr == addr) {
				eng->fired_rip = addr;
				fire(eng, i, goal, &rs->stop, addr);
			}
		}
	}
	int stop = trap_stop(eng, rs);
	if (stop)
		return stop;
	return PH_AGAIN;
}

static int run_loop(struct engine *eng, const struct eng_goal *goal);

int eng_run(struct engine *eng, const struct eng_goal *goal)
{
	int r = run_loop(eng, goal);

	idle_timer_set(eng, false); /* no SIGALRM while gdb waits */
	return r;
}

static int run_loop(struct engine *eng, const struct eng_goal *goal)
{
	struct vm *vm = eng->vm;
	struct run_state rs;
	int r;

	memset(&rs, 0, sizeof(rs));
	rs.goal = goal;
	rs.first = true;
	rs.use_traps = goal->traps || goal->on_fire || goal->pending;
	rs.last_poll = host_mono_ns() / 1000000;
	eng->hit = -1;
	for (int i = 0; i < ENG_MAX_TRAPS; i++)
		if (eng->trap_used[i] && eng->traps[i].type == ENG_WRITE)
			eng->watch_val[i] = watch_value(eng, &eng->traps[i]);
	while (!vm->stop) {
		if ((r = check_goal(eng, &rs)) != PH_GO || (r = meet_event(eng)) != PH_GO ||
		    (r = plan_run(eng, &rs)) != PH_GO) {
			if (r == PH_AGAIN)
				continue;
			if (r == PH_END)
				break;
			return r;
		}
		rs.first = false;
		if (!rs.ds.step && !rs.ds.entry_bp && !rs.ds.entry_patch && k_known(eng)) {
			/* At full speed the instructions are not counted: from here
			 * on the point is "base + trap fires" until the next exit. */
			eng->kbase = eng->k;
			eng->k = ENG_K_UNKNOWN;
			memset(eng->fires, 0, sizeof(eng->fires));
			eng->anchored = false;
		}
		if ((r = run_vcpu(eng, &rs.ds)) == PH_GO) {
			(void)stepfix_apply(vm, &rs.ds.fix);
			uint64_t at;
			unsigned owners = vm->run->exit_reason == KVM_EXIT_HLT ? ptrap_hit(vm, &vm->ptraps, &at) : 0;
			if (owners && !(owners & PTRAP_PROBE))
				r = on_patch_trap(eng, &rs, at);
			else if (vm->run->exit_reason == KVM_EXIT_DEBUG && vm->run->debug.arch.exception != 3)
				r = on_debug_exit(eng, &rs);
			else
				r = on_guest_exit(eng, &rs);
		}
		if (r == PH_END)
			break;
		if (r != PH_AGAIN)
			return r;
	}
	return ENG_STOP_END;
}
