/* Loop probes: interrupts for guests that run long without exits.
 *
 * An interrupt that becomes due while the guest runs without exits has to
 * go in somewhere replay can find again.  Right after a guest exit is free
 * to find (replay counts exits); anywhere else (a "kick point") replay must
 * search from the last exit for the recorded RIP, registers and memory, at
 * one trap per pass of that RIP: in a hot loop, a pass per iteration since
 * the exit, with no way to skip passes (no instruction counter without a
 * PMU).
 *
 * So the recorder makes exits where the guest loops: the first interrupt
 * that lands in a loop goes in at a kick point, as before, and the loop's
 * address becomes a *probe*: from the next exit on, an HLT is patched over
 * that instruction for every run (core/ptrap.h), so each pass through it is
 * a guest exit, in the recording and in its replay alike (the probe is
 * logged: TRACE_EV_PROBE, and checkpoints carry the set).  Later interrupts
 * due while the guest runs are deferred to its next exit, which in the
 * loop is at most one pass away: found by replay for free.  The price is
 * paid equally by record and replay: one exit (and one single step over
 * the instruction) per pass of a probe, so a probed loop runs slower in
 * guest terms (its iterations per tick drop) while wall time does not.
 *
 * Rules (README "Interrupts between exits"):
 * - a probe is made from a kick point only at CPL0 in a supervisor page
 *   (HLT raises #GP at CPL3); at most PROBE_MAX probes, the oldest goes;
 * - a kick with probes set defers the interrupt once per exit, and looks
 *   again PROBE_RETRY_NS later: if the guest made no exit meanwhile (it
 *   left the probed loop), the interrupt goes in at a kick point there;
 * - probes are all removed after PROBE_IDLE_HITS hits in a row without an
 *   interrupt going in anywhere (the loop runs, but nothing is due);
 * - a kick right on a patched probe (the guest is about to hit it) always
 *   waits for that hit;
 * - where the host has no execution traps at CPL3 (PVM, and the SVM test
 *   host whose debug registers never fire), an interrupt due at CPL3 waits
 *   for the guest's next exit, as it always did on PVM.
 * Every decision is logged, so replay needs none of these rules. */
#include "record/probe.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/probe.h"
#include "core/ptrap.h"
#include "core/vm.h"
#include "devices/clock.h"
#include "core/irq.h"
#include "record/land.h"
#include "record/rr.h"

#define PROBE_MAX 8
#define PROBE_RETRY_NS 1000000ull
#define PROBE_IDLE_HITS 20000u
#define DELAY_SAMPLES 65536u
#define SCOUT_NS 200000L
#define DEFER_NS 2000000ull
#define REP_RETRY_NS 20000ull

static void log_probe(struct vm *vm, uint64_t addr, bool on)
{
	struct trace_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_PROBE;
	ev.u.probe.addr = addr;
	ev.u.probe.on = on ? TRACE_PROBE_ON : TRACE_PROBE_OFF;
	rr_append(vm, &ev);
	log_debug("record: probe %#" PRIx64 " %s after guest exit %" PRIu64, addr, on ? "on" : "off",
		  vm->guest_exits);
}

/* The scout: a thread that stops the vCPU (SIGALRM, as the run loop's own
 * timer does) once the guest has run SCOUT_NS without an exit, at most
 * once per exit, so that a loop gets its probe within SCOUT_NS of guest
 * time: the kick point that places it is then found by replay within the
 * passes of that time, however long the guest goes on without exits. */
static void *scout_main(void *arg)
{
	struct vm *vm = arg;
	struct rr *rr = rr_of(vm);
	uint64_t seen = UINT64_MAX;
	struct timespec ts = { 0, SCOUT_NS };

	while (!__atomic_load_n(&rr->scout_stop, __ATOMIC_ACQUIRE)) {
		nanosleep(&ts, NULL);
		uint64_t e = __atomic_load_n(&vm->guest_exits, __ATOMIC_RELAXED);
		bool running = __atomic_load_n(&vm->in_kvm_run, __ATOMIC_ACQUIRE);
		if (running && e == seen && e != __atomic_load_n(&vm->scout_exit, __ATOMIC_RELAXED)) {
			__atomic_store_n(&vm->scout_exit, e, __ATOMIC_RELAXED);
			pthread_kill(rr->vcpu_thread, SIGALRM);
		}
		seen = e;
	}
	return NULL;
}

void record_probe_scout(struct vm *vm)
{
	struct rr *rr = rr_of(vm);
	struct kvm_sregs s;
	struct kvm_regs regs;

	/* Only the scout's kicks: the run loop's own timer kicks go through
	 * record_irq_point when an interrupt is due. */
	/* Not while an injected interrupt may still be undelivered (the
	 * signal can end KVM_RUN before the guest ran): replay injects it
	 * right at the exit and looks for points only after. */
	if (!rr->probes_on || rr->failed || vm->ptraps.skip || vm->irq_in_flight ||
	    __atomic_load_n(&vm->scout_exit, __ATOMIC_RELAXED) != vm->guest_exits || vcpu_get_sregs(vm, &s) ||
	    vcpu_get_regs(vm, &regs))
		return;
	/* Only where an interrupt could come: IF set, a line open. */
	if (!(regs.rflags & (1u << 9)) || irq_all_masked(vm))
		return;
	uint64_t rip = s.cs.base + regs.rip;
	if (ptrap_has(&vm->ptraps, rip, PTRAP_PROBE) || !ptrap_patchable(vm, &s, rip, NULL))
		return;
	if (rr->nprobe >= PROBE_MAX) {
		rr->want_room = true; /* the set changes only at exits */
		return;
	}
	struct trace_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_PROBE;
	ev.u.probe.addr = rip;
	ev.u.probe.on = TRACE_PROBE_AT_KICK;
	ev.u.probe.regs_hash = rr_regs_hash(&regs);
	ev.u.probe.mem_hash = rr_mem_digest(vm);
	if (ptrap_add(&vm->ptraps, rip, PTRAP_PROBE))
		return;
	rr->probe_addr[rr->nprobe++] = rip;
	rr->probes_made++;
	rr->scouted++;
	rr->hits_at_irq = vm->ptraps.hits;
	rr_append(vm, &ev);
	log_debug("record: probe %#" PRIx64 " on at a kick point after guest exit %" PRIu64, rip, vm->guest_exits);
}

int replay_probe_at_kick(struct vm *vm, const struct trace_event *e)
{
	struct kvm_regs regs;

	if (vcpu_get_regs(vm, &regs) || regs.rip != e->u.probe.addr)
		return 0;
	uint64_t regs_hash = rr_regs_hash(&regs);
	if (!trace_point_regs_eq(e->flags, e->u.probe.regs_hash, regs_hash))
		return 0;
	uint64_t mem_digest = rr_mem_digest(vm);
	if (!trace_point_mem_eq(e->flags, e->u.probe.mem_hash, regs_hash, mem_digest))
		return 0;
	if (ptrap_add(&vm->ptraps, e->u.probe.addr, PTRAP_PROBE)) {
		rr_diverged(vm, "more loop probes than ttvm can set", e);
		return -1;
	}
	/* Found by the engine's own patch trap at this address: the guest
	 * must not step over it now but hit the probe, as it did when
	 * recorded. */
	vm->ptraps.skip = false;
	log_debug("replay: probe %#" PRIx64 " on at a kick point after guest exit %" PRIu64, e->u.probe.addr,
		  vm->guest_exits);
	rr_fp_point(vm, e, regs_hash, mem_digest);
	rr_consume(vm);
	return 1;
}

void record_probe_init(struct vm *vm)
{
	struct rr *rr = rr_of(vm);
	struct kvm_debug_caps caps;
	const char *scout = getenv("TTVM_SCOUT");

	/* CPL3 execution traps: debug registers, where they fire (not PVM:
	 * no debug exits at CPL3 there). */
	kvm_probe_debug(vm->kvm_fd, &caps);
	rr->cpl3_traps = caps.exec && vm->flavour != KVM_FLAVOUR_PVM;
	/* TTVM_INTERRUPTS=probes|defer|kick (TTVM_PROBES=off: kick); the
	 * default is probes, defer for Linux (README "Interrupts between
	 * exits"). */
	const char *pol = getenv("TTVM_INTERRUPTS");
	if (!pol)
		pol = getenv("TTVM_PROBES") && !strcmp(getenv("TTVM_PROBES"), "off") ? "kick"
		      : vm->linux_guest ? "defer" : "probes";
	rr->probes_on = caps.patch && !strcmp(pol, "probes");
	rr->defer_only = !strcmp(pol, "defer");
	const char *us = getenv("TTVM_DEFER_US"); /* tests: make the wait short */
	rr->defer_ns = us && atoi(us) > 0 ? (uint64_t)atoi(us) * 1000u : DEFER_NS;
	/* Landing (record/land.c), for "defer": TTVM_LAND=off for comparisons. */
	rr->land_on = caps.patch && !(getenv("TTVM_LAND") && !strcmp(getenv("TTVM_LAND"), "off"));
	rr->deferred_exit = UINT64_MAX;
	vm->scout_exit = UINT64_MAX;
	rr->vcpu_thread = pthread_self();
	/* With a CPU to spare, a thread watches the exit count at no cost to
	 * the vCPU; on one CPU (the SVM test host) it would rarely get to
	 * run: vm_run's own timer then (one extra stop per SCOUT_NS). */
	bool timer = scout && !strcmp(scout, "timer");
	if (rr->probes_on && !(scout && !strcmp(scout, "off")) && (timer || sysconf(_SC_NPROCESSORS_ONLN) < 2)) {
		vm->scout_ns = SCOUT_NS;
	} else if (rr->probes_on && !(scout && !strcmp(scout, "off"))) {
		rr->scout_on = pthread_create(&rr->scout, NULL, scout_main, vm) == 0;
		/* It must get the CPU while the vCPU thread runs the guest, also
		 * on a single CPU: real-time priority where allowed (it sleeps
		 * nearly all the time). */
		struct sched_param sp = { .sched_priority = 1 };
		if (rr->scout_on && pthread_setschedparam(rr->scout, SCHED_FIFO, &sp) == 0)
			log_debug("record: scout thread at SCHED_FIFO");
	}
	log_info("record: interrupts between exits: %s; at CPL3 %s",
		 rr->probes_on ? "loop probes" : rr->defer_only ? "at the next exit, or a kick point 2 ms later"
								: "kick points only",
		 rr->cpl3_traps ? "at kick points" : "at the next exit");
}

/* An interrupt waits from now on (the first wait since it became due). */
static void wait_starts(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (!rr->wait_since_ns)
		rr->wait_since_ns = clock_now_ns(vm->clock) | 1;
}

bool record_bad_point_insn(const uint8_t *b, size_t n, bool long_mode)
{
	bool rep = false;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];
		if (c == 0xf2 || c == 0xf3) {
			rep = true;
		} else if (c == 0x66 || c == 0x67 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x26 ||
			   c == 0x64 || c == 0x65 || (long_mode && (c & 0xf0) == 0x40)) {
			;
		} else if (c == 0xe8 && n - i >= 5 && long_mode) {
			/* A call to a few bytes away: a thunk's own call. */
			int32_t rel = (int32_t)((uint32_t)b[i + 1] | (uint32_t)b[i + 2] << 8 | (uint32_t)b[i + 3] << 16 |
						(uint32_t)b[i + 4] << 24);
			int64_t d = (int64_t)i + 5 + rel; /* target - rip */
			return d >= -RECORD_THUNK_SPAN && d <= RECORD_THUNK_SPAN;
		} else {
			return c == 0xc3 || c == 0xc2 ||
			       (rep && ((c >= 0xa4 && c <= 0xa7) || (c >= 0xaa && c <= 0xaf) || (c >= 0x6c && c <= 0x6f)));
		}
	}
	return false;
}

/* Also code the kernel reads back (ptrap_text_site): replay would look
 * for the point with a patch trap there, where debug registers do not
 * fire; the kernel reading it meanwhile would see the trap. */
static bool at_bad_point(struct vm *vm, const struct kvm_sregs *s, uint64_t rip)
{
	uint8_t b[15];
	size_t n = vm_read_virt(vm, s, rip, b, sizeof(b));

	return record_bad_point_insn(b, n, vm_code64(s)) || ptrap_text_site(vm, s, rip);
}

bool record_probe_defer(struct vm *vm, const struct kvm_sregs *s, const struct kvm_regs *regs, uint64_t rip)
{
	struct rr *rr = rr_of(vm);
	bool cpl3 = (s->cr0 & 1) && (s->cs.selector & 3) == 3;

	/* A landing under way (record/land.c): its trap was hit, or a kick
	 * came meanwhile. */
	if (record_land_active(vm)) {
		enum land_verdict v = record_land_kick(vm, s, regs, rip);
		if (v != LAND_GIVE_UP)
			return v == LAND_WAIT;
	}

	if (vm->run->exit_reason != KVM_EXIT_IRQ_WINDOW_OPEN && at_bad_point(vm, s, rip)) {
		rr->rep_waits++;
		vm->kick_retry_ns = REP_RETRY_NS;
		wait_starts(vm);
		return true;
	}

	if (cpl3 && !rr->cpl3_traps) {
		rr->kicks_skipped++;
		wait_starts(vm);
		return true;
	}
	/* On a probe (a kick, a window that opened right there, or the step
	 * over another probe's instruction landed there): the next run patches
	 * it and the guest hits it at once; replay, which patches it too,
	 * could not stop before. */
	if (ptrap_has(&vm->ptraps, rip, PTRAP_PROBE) && ptrap_patchable(vm, s, rip, NULL)) {
		rr->deferrals++;
		wait_starts(vm);
		return true;
	}
	/* "defer": also where the guest just enabled interrupts.  Replay finds
	 * such a point by single steps from the last exit: cheap for small
	 * guests, but Linux runs long with interrupts off between exits. */
	if (rr->defer_only && rr->deferred_exit != vm->guest_exits) {
		rr->deferred_exit = vm->guest_exits;
		rr->deferrals++;
		vm->kick_retry_ns = rr->defer_ns;
		wait_starts(vm);
		return true;
	}
	if (vm->run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN)
		return false; /* a few instructions after an exit: cheap to find */
	/* "defer", no exit within DEFER_NS: not here (a hot loop, most
	 * likely) but where the guest leaves it. */
	if (rr->defer_only && rr->land_on && record_land_kick(vm, s, regs, rip) == LAND_WAIT) {
		wait_starts(vm);
		return true;
	}
	if (ptrap_count(&vm->ptraps, PTRAP_PROBE) && rr->deferred_exit != vm->guest_exits) {
		rr->deferred_exit = vm->guest_exits;
		rr->deferrals++;
		vm->kick_retry_ns = PROBE_RETRY_NS;
		wait_starts(vm);
		return true;
	}
	return false;
}

void record_probe_kick(struct vm *vm, const struct kvm_sregs *s, uint64_t rip)
{
	struct rr *rr = rr_of(vm);

	rr->kick_points++;
	if (!rr->probes_on || vm->run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN ||
	    ptrap_has(&vm->ptraps, rip, PTRAP_PROBE) || !ptrap_patchable(vm, s, rip, NULL))
		return;
	rr->learn = true;
	rr->learn_addr = rip;
}

void record_probe_injected(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	rr->hits_at_irq = vm->ptraps.hits;
	if (rr->wait_since_ns) {
		uint64_t d = clock_now_ns(vm->clock) - (rr->wait_since_ns & ~1ull);
		if (!rr->delays)
			rr->delays = calloc(DELAY_SAMPLES, sizeof(uint64_t));
		if (rr->delays && rr->ndelays < DELAY_SAMPLES)
			rr->delays[rr->ndelays++] = d;
		if (d > rr->delay_max)
			rr->delay_max = d;
		rr->wait_since_ns = 0;
	}
}

void record_probe_after_exit(struct vm *vm)
{
	struct rr *rr = rr_of(vm);
	struct ptrap_set *s = &vm->ptraps;

	record_land_cancel(vm); /* the interrupt goes in at this exit */
	if (rr->learn || rr->want_room) {
		bool add = rr->learn && !ptrap_has(s, rr->learn_addr, PTRAP_PROBE);
		rr->learn = rr->want_room = false;
		if (rr->nprobe >= PROBE_MAX) {
			/* The oldest goes: probes are added in order, the set
			 * keeps them in slot order only roughly, so track age. */
			uint64_t oldest = rr->probe_addr[0];
			memmove(rr->probe_addr, rr->probe_addr + 1, (PROBE_MAX - 1) * sizeof(uint64_t));
			rr->nprobe--;
			ptrap_del(s, oldest, PTRAP_PROBE);
			log_probe(vm, oldest, false);
		}
		if (add && ptrap_add(s, rr->learn_addr, PTRAP_PROBE) == 0) {
			rr->probe_addr[rr->nprobe++] = rr->learn_addr;
			rr->probes_made++;
			rr->hits_at_irq = s->hits;
			log_probe(vm, rr->learn_addr, true);
		}
	}
	if (rr->nprobe && s->hits - rr->hits_at_irq > PROBE_IDLE_HITS) {
		for (unsigned i = 0; i < rr->nprobe; i++) {
			ptrap_del(s, rr->probe_addr[i], PTRAP_PROBE);
			log_probe(vm, rr->probe_addr[i], false);
		}
		rr->nprobe = 0;
		rr->probes_idle++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void record_probe_stop(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (rr->scout_on) {
		__atomic_store_n(&rr->scout_stop, 1, __ATOMIC_RELEASE);
		pthread_join(rr->scout, NULL);
		rr->scout_on = false;
	}
}

void record_probe_report(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (rr->kick_points || rr->probes_made || rr->deferrals || rr->kicks_skipped)
		log_info("record: between exits: %" PRIu64 " interrupt(s) at kick points, %" PRIu64
			 " deferred to a probe or the next exit (%" PRIu64 " at CPL3); %" PRIu64
			 " probe(s) made (%" PRIu64 " by the scout), %" PRIu64 " probe hits, %" PRIu64 " idle removal(s)",
			 rr->kick_points, rr->deferrals + rr->kicks_skipped, rr->kicks_skipped, rr->probes_made,
			 rr->scouted, vm->ptraps.hits, rr->probes_idle);
	if (rr->rep_waits)
		log_info("record: %" PRIu64 " kick(s) landed on a REP string instruction or a RET and waited 20 us",
			 rr->rep_waits);
	record_land_report(vm);
	if (rr->ndelays) {
		qsort(rr->delays, rr->ndelays, sizeof(uint64_t), cmp_u64);
		log_info("record: deferred interrupts went in %.1f us (median), %.1f us (worst) after they were due "
			 "(guest time, %" PRIu64 " deferrals)",
			 rr->delays[rr->ndelays / 2] / 1e3, rr->delay_max / 1e3, rr->ndelays);
	}
	free(rr->delays);
	rr->delays = NULL;
}

void replay_probe_events(struct vm *vm)
{
	const struct trace_event *e;

	/* TRACE_PROBE_AT_KICK events wait for the engine to find their point. */
	while (!vm->stop && (e = rr_peek(vm)) && e->kind == TRACE_EV_PROBE && e->exit_no == vm->guest_exits &&
	       e->u.probe.on != TRACE_PROBE_AT_KICK) {
		if (e->u.probe.on) {
			if (ptrap_add(&vm->ptraps, e->u.probe.addr, PTRAP_PROBE)) {
				rr_diverged(vm, "more loop probes than ttvm can set", e);
				return;
			}
		} else {
			ptrap_del(&vm->ptraps, e->u.probe.addr, PTRAP_PROBE);
		}
		log_debug("replay: probe %#" PRIx64 " %s after guest exit %" PRIu64, e->u.probe.addr,
			  e->u.probe.on ? "on" : "off", vm->guest_exits);
		rr_consume(vm);
	}
}
