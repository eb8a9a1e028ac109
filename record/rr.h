/* The record/replay engine: its state and one place per event source.
 *
 * Every nondeterministic input reaches this layer through the run loop's
 * hooks (core/hooks.h): rr_attach() installs record_hooks or replay_hooks.
 * Each source of nondeterminism has one file here with a pair of
 * functions: record_X() logs the live value, replay_X() checks that the
 * guest asks for the same thing at the same place and hands back the
 * logged value (or stops the VM with ST_DIVERGED and a report).  Events are
 * positioned by vm->guest_exits, the count of exits the guest itself caused,
 * and most carry a fingerprint (exit reason, RIP, hash of the general
 * registers) that replay compares.  The trace format is storage/trace.h.
 *
 * | kind       | recorded by (hook)                | fed back by                        | replay checks                   |
 * |------------|-----------------------------------|------------------------------------|---------------------------------|
 * | pio_read   | record_io_read (io_read), ev_io.c | replay_io_read (io_read), ev_io.c  | exit no., port, size, fingerprint |
 * | mmio_read  | record_io_read (io_read), ev_io.c | replay_io_read (io_read), ev_io.c  | exit no., address, size, fingerprint |
 * | rdtsc      | record_rdtsc (rdtsc), ev_insn.c   | replay_rdtsc (rdtsc), ev_insn.c    | exit no., kind, fingerprint     |
 * | rdtscp     | record_rdtsc (rdtsc), ev_insn.c   | replay_rdtsc (rdtsc), ev_insn.c    | exit no., kind, fingerprint     |
 * | rdrand     | record_rdrand (rdrand), ev_insn.c | replay_rdrand (rdrand), ev_insn.c  | exit no., RDRAND/RDSEED, fingerprint |
 * | msr        | record_msr_read (msr_read),       | replay_msr_read (msr_read),        | exit no., MSR index, fingerprint |
 * |            |   ev_msr.c                        |   ev_msr.c                         |                                 |
 * | irq        | record_irq (irq), ev_irq.c; the   | replay_irq_at_exit /               | at an exit: exit no., the guest |
 * |            |   point: record_irq_point         |   replay_irq_at_kick, ev_irq.c     |   can take it; at a kick: linear |
 * |            |   (irq_point)                     |   (called by replay/engine.c)      |   RIP, register hash, memory digest |
 * | serial_in  | record_serial_in (serial_in),     | not fed back: informational (the  | nothing (rr_peek skips it)      |
 * |            |   ev_io.c                         |   guest sees the bytes through     |                                 |
 * |            |                                   |   logged port reads)               |                                 |
 * | checkpoint | record_after_exit (after_exit),   | replay_after_exit, ckpt.c (called  | exit no., memory digest and     |
 * |            |   ckpt.c                          |   by the engine at every boundary) |   register hash after the exit  |
 * | end        | record_end_event, ev_end.c (by    | replay_check_end / replay_end_cut, | exit no. and status of the end  |
 * |            |   record_main when it closes)     |   ev_end.c (called by the engine)  |                                 |
 * | cpuid      | reserved: no writer (the CPUID policy is the trace's cpuid_policy metadata); storage reads it,    |
 * |            |   inspect shows it, rr_peek skips it                                                             |
 */
#ifndef TTVM_RECORD_RR_H
#define TTVM_RECORD_RR_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "core/hooks.h"
#include "core/tsc.h"
#include "core/vm.h"
#include "devices/bus.h"
#include "storage/trace.h"

enum rr_mode { RR_RECORD = 1, RR_REPLAY = 2 };

/* Separates the run options stored in the trace's "run_args" metadata. */
#define RR_ARG_SEP "\x1f"
/* RFLAGS bits that belong to the debugger, not the guest: TF while ttvm
 * single-steps, RF as hardware leaves it after a breakpoint (SVM reports it;
 * a kick never does).  Left out of fingerprints, cleared before injecting. */
#define RR_RFLAGS_DEBUG_BITS ((1ull << 8) | (1ull << 16))

#define LAND_MAX 8 /* landing traps at once (record/land.c) */

struct rr {
	enum rr_mode mode;
	struct trace_writer *w; /* record */
	struct trace_reader *r; /* replay */
	const char *path;
	/* replay: the next event that the guest has to meet */
	struct trace_event next;
	int have_next;  /* 1 = next is valid, 0 = end of trace, -1 = not read yet */
	uint64_t last_good; /* last event replay matched */
	/* Replay, format 6: the chain (trace_fp_chain) of the register hashes
	 * met since the last check, and the first event after that check. */
	uint64_t fp_chain, fp_since;
	char fp_note[192];  /* why the last fingerprint did not match, for the report ("" if not the chain) */
	bool failed;        /* record: the writer stopped (disk full ...) */
	bool ended_early;   /* replay: the recording was cut at a point that is not reproducible
			       (timeout, signal): its final state cannot be compared */
	uint64_t kicks_skipped; /* record: kicks where the host could not position an injection */
	/* Loop probes (record/probe.c), record side. */
	bool probes_on, cpl3_traps;
	bool defer_only; /* policy "defer": no probes; wait DEFER_NS for an exit, then a kick point */
	bool land_on;    /* "defer" lands interrupts at loop exits (record/land.c) */
	uint64_t defer_ns; /* "defer": how long an interrupt waits for an exit (TTVM_DEFER_US) */
	bool learn;             /* a kick point to turn into a probe at the next exit */
	bool want_room;         /* the scout found the set full: the oldest goes at the next exit */
	uint64_t learn_addr;
	uint64_t probe_addr[8]; /* the probes set, oldest first */
	unsigned nprobe;
	uint64_t rep_waits; /* kicks that landed on a REP string instruction or a RET and waited */
	uint64_t deferred_exit; /* guest exit at which a kick last deferred an interrupt */
	uint64_t hits_at_irq;   /* vm->ptraps.hits when an interrupt last went in */
	uint64_t wait_since_ns; /* guest time a deferred interrupt has waited since (|1), 0 = none */
	uint64_t *delays, ndelays, delay_max;
	uint64_t kick_points, deferrals, probes_made, probes_idle, scouted;
	pthread_t scout, vcpu_thread; /* the scout thread (record/probe.c) */
	struct land_state {     /* record/land.c */
		bool active, fend, ident;
		bool thunk;            /* fend: the trap is on the return thunk's entry */
		uint64_t fend_rsp;     /* ... and the function returns at RSP >= this */
		uint64_t thunk_skips;  /* deeper returns passed there */
		bool fallback;         /* the budget ran out: waiting at back_addr */
		unsigned n, levels;
		uint64_t back_addr;    /* the last return address climbed to (0: none) */
		uint64_t addr[LAND_MAX];
		uint64_t ident_addr, ident_regs, ident_mem;
		uint64_t stretch_exit; /* guest exit + 1 of the stretch the attempts count */
		unsigned attempts;
		uint64_t budget_end;   /* guest time the landing under way gives up */
		uint64_t budget_ns;  /* guest time a landing may wait */
		uint64_t started, landed, levels_sum, same_pass, at_exit, budget, no_plan, fell_back;
	} land;
	bool scout_on;
	int scout_stop;

	/* Digest of guest RAM, kept up to date from KVM's dirty log: the sum
	 * over pages of a hash of (page index, contents). */
	uint64_t *page_hash;
	uint64_t mem_digest;
	uint64_t digest_gen; /* vm->dirty_gen when the digest was last brought up to date */
	/* Checkpoints (record/ckpt.h). */
	double ckpt_interval;   /* record: seconds of recording wall time between two, 0 = none */
	uint64_t ckpt_due_ns;   /* record: CLOCK_MONOTONIC_COARSE time the next one is due */
	uint64_t ckpt_last;     /* record: id of the last one stored (0 = none yet: the next is full) */
	uint64_t ckpt_gen;      /* record: vm->dirty_gen at which its RAM was stored */
	uint64_t ckpt_count;    /* record: stored; replay: checked */
	uint64_t ckpt_ns;       /* record: time spent taking them */
	struct rr_ckpt_wait {   /* replay: checkpoint events read ahead, not yet checked */
		uint64_t seq, exit_no, id;
	} ckpt_wait[16];
	unsigned ckpt_nwait;
	/* Record: flight recording (record/flight.h). */
	struct rr_flight {
		uint64_t keep_ns;    /* --keep: guest ns the kept part covers (0: no bound) */
		uint64_t max_bytes;  /* --max-size: bound on the trace's live data (0: none) */
		struct { uint64_t id, guest_ns; } *ck; /* the kept checkpoints, oldest first */
		size_t n, cap;
		uint64_t drops, dropped_ckpts, drop_us, drop_us_max;
		bool warned;
	} flight;
	void *ckpt_buf;         /* replay: scratch for a checkpoint's vCPU blob */
	size_t ckpt_buf_cap;
	/* replay --from EVENT: the serial output goes to /dev/null until the
	 * replay has met event from_event; held_out is the real one meanwhile. */
	FILE *held_out;
	uint64_t from_event;
};

/* The hooks of each mode (rr_hooks.c; the table in core/hooks.h says which
 * are set). */
extern const struct vm_hooks record_hooks, replay_hooks;
/* Make rr the engine of vm: vm->hook_ctx = rr, and the hooks of rr->mode
 * (none for another mode: the memory digest alone, for tests). */
void rr_attach(struct vm *vm, struct rr *rr);
/* The engine rr_attach() gave vm, or NULL (a plain run). */
static inline struct rr *rr_of(const struct vm *vm)
{
	return (struct rr *)vm->hook_ctx;
}

/* ---- shared by record and replay (rr.c) ---- */

/* Start tracking the memory digest (dirty logging on, every page hashed). 0 or -errno. */
int rr_mem_digest_init(struct vm *vm);
/* Bring the memory digest up to date and return it. */
uint64_t rr_mem_digest(struct vm *vm);
/* After rr_mem_digest(): the RAM pages that may hold non-zero bytes (the
 * others' digest share is a zero page's), in index order, into list (room
 * for every page).  Returns how many. */
uint64_t rr_mem_nonzero_pages(struct vm *vm, uint64_t *list);
/* Hash of the general registers, RIP and RFLAGS (the divergence fingerprint). */
uint64_t rr_regs_hash(const struct kvm_regs *regs);
/* The fingerprint of the current exit: exit reason, RIP, register hash. */
void rr_fingerprint(struct vm *vm, struct trace_fp *fp);
/* Replay: does e's fingerprint (when it has one) match fp, the guest's at
 * e?  A chained register hash (format 6) goes into rr->fp_chain, checked
 * against e's check when it has one.  Call once per event met. */
bool rr_fp_matches(struct vm *vm, const struct trace_event *e, const struct trace_fp *fp);
/* Replay took kick point e (irq, probe op 2) with these hashes: format 8
 * (TRACE_EVF_SHORT, 32 bits of each stored) puts them into rr->fp_chain,
 * as the writer did, so that a wrong pass taken for the point (both 32-bit
 * parts colliding) is reported at the next check. */
void rr_fp_point(struct vm *vm, const struct trace_event *e, uint64_t regs_hash, uint64_t mem_digest);
/* Record: append ev at exit vm->guest_exits; a write error stops the VM. */
void rr_append(struct vm *vm, struct trace_event *ev);
/* Replay: the next event that positions the guest (skipping informational
 * kinds), or NULL at the end of the trace / on a read error (VM stopped). */
const struct trace_event *rr_peek(struct vm *vm);
/* Replay: the event returned by rr_peek() was met. */
void rr_consume(struct vm *vm);
/* Replay: stop with a divergence report (expected NULL: the end of the trace). */
void rr_diverged(struct vm *vm, const char *what, const struct trace_event *expected);
/* "regs=HASH sregs=HASH mem=HASH": digest of the vCPU registers and all of
 * guest RAM, compared between a recording and its replay. */
void rr_state_digest(struct vm *vm, char *buf, size_t len);
/* argv[0..argc) joined with sep, malloc'd (NULL when out of memory). */
char *rr_join_args(int argc, char **argv, char sep);
/* A new trace's metadata from vm (KVM flavour, RAM size, the CPUID table
 * the vCPU got) and cmdline, which *meta points to. */
void rr_trace_meta(const struct vm *vm, const char *cmdline, struct trace_meta *meta);

/* ---- one pair per event source ---- */

/* pio_read, mmio_read (ev_io.c): a device read has just produced data[0..len). */
void record_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len);
/* Replay: check the read against the trace and replace data with the logged value. */
void replay_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len);
/* serial_in (ev_io.c): bytes went into the UART's receive FIFO. */
void record_serial_in(struct vm *vm, const uint8_t *buf, size_t n);

/* rdtsc, rdtscp (ev_insn.c): a trapped RDTSC/RDTSCP (core/tsc.c) is about to
 * return *value (and *aux); at: the registers with RIP at the instruction. */
void record_rdtsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux);
/* Replay: check kind and point, replace *value and *aux with the logged ones. */
void replay_rdtsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux);
/* rdrand (ev_insn.c): a trapped RDRAND or RDSEED returns *value with carry *cf. */
void record_rdrand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf);
/* Replay: check the instruction and point, replace *value and *cf. */
void replay_rdrand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf);

/* msr (ev_msr.c): an RDMSR that core/msr.h answers returns *value. */
void record_msr_read(struct vm *vm, uint32_t index, uint64_t *value);
/* Replay: check the MSR and point, replace *value with the logged one. */
void replay_msr_read(struct vm *vm, uint32_t index, uint64_t *value);

/* irq (ev_irq.c).  Record: may the pending interrupt go in where a kick or
 * window stopped the guest?  Only where replay can find the point again;
 * true with *pt (linear RIP, register hash, memory digest). */
bool record_irq_point(struct vm *vm, struct vm_irq_point *pt);
/* Record: vector was injected at pt (all zero: right after the exit). */
void record_irq(struct vm *vm, uint8_t vector, const struct vm_irq_point *pt);
/* Replay: e is an irq event recorded right at this exit: inject it.  0, or
 * -1 after a divergence report (the guest cannot take it). */
int replay_irq_at_exit(struct vm *vm, const struct trace_event *e);
/* Replay: is the guest at e's kick point (RIP, registers, memory)?  Then
 * inject (debugger RFLAGS bits cleared) and consume e: 1; 0: not the point;
 * -1: host error (VM stopped). */
int replay_irq_at_kick(struct vm *vm, const struct trace_event *e);
/* Replay: the guest exited with HLT one byte past e's point while replay
 * looked for it by single steps, and e's point is that HLT, not executed
 * yet: when registers (RIP put back) and memory match, put RIP back on the
 * HLT and inject as replay_irq_at_kick does: 1; 0: not the point (nothing
 * changed); -1: host error. */
int replay_irq_before_hlt(struct vm *vm, const struct trace_event *e);

/* end (ev_end.c).  Record: the trace's end record for the run's status. */
void record_end_event(const struct vm *vm, struct trace_event *ev);
/* What an end record's crash_kind (the run's status) means, e.g. "kernel
 * panic"; NULL for a status that is not a crash. */
const char *record_crash_name(uint32_t crash_kind);
/* Replay: the guest stopped by itself: the trace must end here the same way
 * (else a divergence); the VM stays stopped with the recorded status. */
void replay_check_end(struct vm *vm);
/* Replay: e is the next event at this exit.  When it is the end of a
 * recording that was cut here (timeout, signal, host error, halted for
 * good), consume it, stop the VM with its status and return true. */
bool replay_end_cut(struct vm *vm, const struct trace_event *e);

#endif
