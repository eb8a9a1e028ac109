/* The replay engine: re-executes a recording under control, one goal at a
 * time (run to the end, one instruction, to an exit boundary plus N steps,
 * to the next trap), for `ttvm replay` and the gdb stub.
 *
 * Execution points.  The only reproducible clock without a PMU is the count
 * of exits the guest caused (vm->guest_exits).  A point is named by that
 * count e ("the boundary": right after exit e was handled) plus k, the
 * number of single steps from the boundary.  When the engine runs at full
 * speed (hardware breakpoints, no stepping) and stops at a trap between two
 * exits, k is not known yet: the point is then named by the last point where
 * k was known (e, kbase) plus "the m-th fire of trap T after it", which is
 * just as exact; the timeline turns it into (e, k) by single-stepping from
 * (e, kbase) when it needs to (reverse-stepi).  README.md, "Time travel",
 * states these rules for users. */
#ifndef TTVM_REPLAY_ENGINE_H
#define TTVM_REPLAY_ENGINE_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <linux/kvm.h>

struct vm;

#define ENG_K_UNKNOWN UINT64_MAX
#define ENG_MAX_TRAPS 64

enum eng_trap_type { ENG_EXEC = 0, ENG_WRITE = 1, ENG_READ = 2, ENG_ACCESS = 3 };

struct eng_trap {
	int type;       /* enum eng_trap_type */
	uint64_t addr;  /* guest-linear */
	uint64_t len;   /* 1, 2, 4 or 8 for data traps */
};

/* An execution point (see the file comment).  k != ENG_K_UNKNOWN: canonical. */
struct eng_pos {
	uint64_t e;
	uint64_t k;
	uint64_t kbase;        /* k of the base point when k is unknown */
	struct eng_trap trap;  /* ... and the trap whose m-th fire after it, */
	uint64_t m;
	uint64_t after;        /* ... then this many single steps, is the point */
};

enum eng_stop {
	ENG_STOP_STEP = 1,  /* goal.step: one instruction done */
	ENG_STOP_TRAP,      /* a trap fired (eng->hit) */
	ENG_STOP_TARGET,    /* reached goal.to_e/to_k or goal.pending */
	ENG_STOP_INTERRUPT, /* goal.poll asked to stop (at the next exit boundary or step) */
	ENG_STOP_END,       /* the replay ended: vm->stop, vm->status, vm->stop_msg */
};

struct eng_goal {
	bool step;           /* stop after one instruction */
	bool single;         /* run by single steps only (the point stays canonical) */
	uint64_t to_e;       /* stop at point (to_e, to_k); UINT64_MAX = none */
	uint64_t to_k;
	const struct eng_pos *pending; /* stop at this non-canonical point (its base must be reached first) */
	bool traps;          /* stop when a trap in eng->traps fires */
	/* Called at every exit and every step, and at least every 20 ms while
	 * the guest runs: nonzero = stop as soon as the point is exact. */
	int (*poll)(void *ctx);
	void *poll_ctx;
	/* Called for every trap fire while goal.traps is false (reverse-continue
	 * collects them); fire is the point just after the fire. */
	void (*on_fire)(void *ctx, const struct eng_pos *fire, int trap_index);
	void *fire_ctx;
	/* Write traps checked by value (no data breakpoint for them) are
	 * neither single-stepped for nor compared in this run: the caller
	 * watches their pages through the dirty log instead (on_boundary). */
	bool watch_by_pages;
	/* Called at every exit boundary the run reaches, after the exit was
	 * handled: the stretch since the previous boundary is complete.
	 * Nonzero: stop at this boundary (ENG_STOP_TARGET, once the boundary's
	 * own checks are done). */
	int (*on_boundary)(void *ctx);
	void *boundary_ctx;
};

struct quickrun_stats;

struct engine {
	struct vm *vm;
	/* The replay's own search for a positioned interrupt point. */
	int bp;              /* ENG_BP_* in engine.c */
	uint64_t bp_addr;
	bool bp_patch;       /* ENG_BP_ARMED with a patch trap, not a debug register */
	bool injected;
	uint8_t injected_vector;
	/* Where the guest is: boundary vm->guest_exits plus k steps, or (k
	 * unknown) base kbase plus trap fire counts. */
	uint64_t k, kbase;
	uint64_t fires[ENG_MAX_TRAPS];
	/* k unknown: the fire that names the point, and steps since. */
	bool anchored;
	struct eng_trap anchor;
	uint64_t anchor_m, after;
	/* User traps (gdb breakpoints and watchpoints). */
	struct eng_trap traps[ENG_MAX_TRAPS];
	bool trap_used[ENG_MAX_TRAPS];
	uint64_t watch_val[ENG_MAX_TRAPS]; /* last seen value of software-checked data traps */
	bool hw_exec;        /* the host's execution breakpoints fire (probed) */
	bool hw_data;        /* ... and its data breakpoints (not on PVM) */
	bool patch_exec;     /* patch traps (core/ptrap.h) for execution traps the registers cannot take */
	uint64_t patch_hits; /* statistics: patch trap hits */
	uint64_t dr_hits;    /* statistics: debug-register hits (not steps) */
	/* Statistics of the kick-point searches: traps hit plus single steps
	 * taken from the exit before each point to the point. */
	uint64_t kick_start;
	/* Every search for a kick or window point is bounded (eng_search_limits):
	 * at most search_hits_max trap hits and search_steps_max single steps
	 * from search_hits0/search_steps0, else it is a divergence. */
	uint64_t search_hits_max, search_steps_max;
	uint64_t search_hits0, search_steps0;
	/* ... and at most search_idle_ns of host time without a trap hit or a
	 * step (a guest that runs on between exits and never passes the
	 * point): a timer interrupts such a run every half bound while a
	 * search is on.  idle_work/idle_ns: the search's work when it last moved (0:
	 * a search just started, not looked at yet). */
	uint64_t search_idle_ns, idle_work, idle_ns;
	timer_t idle_timer;
	bool idle_timer_ok, idle_timer_on;
	uint64_t *kick_cost;
	size_t nkick, kick_cap;
	/* The last ENG_STOP_TRAP: which trap, at which data address. */
	int hit;
	uint64_t hit_addr;
	/* Serial output only the first time an exit is executed: re-executions
	 * after a restore write to quiet (NULL loud = always vm->serial_out). */
	FILE *loud, *quiet;
	uint64_t frontier;
	uint64_t fired_rip;  /* an execution trap fired here and the guest has not moved since */
	/* KVM_SET_GUEST_DEBUG as last applied (skipped when unchanged). */
	bool dbg_valid;
	uint32_t dbg_control, dbg_keep;
	struct kvm_guest_debug_arch dbg_arch;
	bool end_at_boundary; /* the replay ended at a guest exit (k = 0 there) */
	uint64_t steps;      /* single steps taken (statistics) */
	/* Of those, steps over a kick-point search's trap done by hand
	 * (core/quickstep.h); quick: allowed (TTVM_QUICKSTEP=off: not). */
	uint64_t quick_steps;
	bool quick;
	/* Quick runs (replay/quickrun.h): passes of the searched point met
	 * by hand, the other instructions done by hand; stores by hand. */
	uint64_t quick_passes, quick_insns;
	uint64_t quick_len; /* instructions by hand from one pass to the next, at most */
	uint64_t quick_far; /* runs that met no pass within quick_len */
	uint64_t quick_skip, quick_backoff; /* hits left without a run; the next such wait */
	bool quick_stores;
	struct quickrun_stats *quick_stats; /* what stopped them (NULL: not kept) */
};

/* The bound of a point search for a recording whose longest stretch
 * between two guest exits lasted stretch_ns (UINT64_MAX: unknown, a trace
 * without it): a pass of a loop takes at least one cycle and no x86 runs at
 * 8 GHz, so a RIP cannot be passed more than 8 times per ns; an instruction
 * takes at least 1/8 cycle.  TTVM_SEARCH_LIMIT=N (tests) sets both to N. */
void eng_search_limits(uint64_t stretch_ns, uint64_t *hits_max, uint64_t *steps_max);
/* How long a search may go without a trap hit or a step: a recording's
 * stretch, replayed at full speed, passes the point's address within its
 * own length of host time; the bound allows 100 times that (a loaded host)
 * and at least 20 s (10 s with TTVM_SEARCH_LIMIT), at most 10 minutes. */
uint64_t eng_search_idle_ns(uint64_t stretch_ns);
/* Set up an engine for vm (after rr_mem_digest_init). */
void eng_init(struct engine *eng, struct vm *vm);
/* Run towards goal; returns enum eng_stop.  ENG_STOP_END leaves the VM
 * stopped (status in vm->status). */
int eng_run(struct engine *eng, const struct eng_goal *goal);
/* Release what eng_init allocated. */
void eng_free(struct engine *eng);
/* With -v: the kick points met and what finding them cost. */
void eng_report(struct engine *eng);
/* The current point. */
void eng_where(const struct engine *eng, struct eng_pos *pos);
/* Add or remove a trap.  Add: index >= 0, or -ENOSPC / -EINVAL / -ENOTSUP
 * (read/access watch on a host without data breakpoints). */
int eng_trap_add(struct engine *eng, const struct eng_trap *t);
int eng_trap_del(struct engine *eng, const struct eng_trap *t);
/* Index of the trap equal to t, or -1. */
int eng_trap_find(const struct engine *eng, const struct eng_trap *t);
/* The VM was put back to a point k steps after its boundary (a snapshot or
 * checkpoint was loaded): forget what the engine knew of the point it left,
 * and take up the interrupt-point search state bp/bp_addr of the restored one. */
void eng_restart(struct engine *eng, uint64_t k, int bp, uint64_t bp_addr);
/* Order two points of the same timeline: <0, 0, >0; both must be canonical
 * or share their base. */
int eng_pos_cmp(const struct eng_pos *a, const struct eng_pos *b);
/* "exit E + K steps" or "exit E + K steps, fire M of TRAP@ADDR". */
void eng_pos_format(const struct eng_pos *p, char *buf, unsigned len);
/* The vCPU finished a PIO/MMIO access (KVM_RUN with immediate_exit), so that
 * registers and state are those after the instruction.  0 or -errno. */
int eng_settle(struct engine *eng);

#endif
