/* The record/replay engine's entry points.
 *
 * One call per source of nondeterminism, serving both modes (as QEMU's
 * replay/ does): when recording it logs the live value, when replaying it
 * checks that the guest asks for the same thing at the same place and
 * returns the logged value.  Events are positioned by vm->guest_exits, the
 * count of exits the guest itself caused, and carry a fingerprint (exit
 * reason, RIP, hash of the general registers) that replay compares. */
#ifndef TTVM_RECORD_RR_H
#define TTVM_RECORD_RR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "devices/bus.h"
#include "record/tsc.h"
#include "storage/trace.h"

struct vm;
struct run_config;

enum rr_mode { RR_RECORD = 1, RR_REPLAY = 2 };

/* Separates the run options stored in the trace's "run_args" metadata. */
#define RR_ARG_SEP "\x1f"
/* RFLAGS bits that belong to the debugger, not the guest: TF while ttvm
 * single-steps, RF as hardware leaves it after a breakpoint (SVM reports it;
 * a kick never does).  Left out of fingerprints, cleared before injecting. */
#define RR_RFLAGS_DEBUG_BITS ((1ull << 8) | (1ull << 16))

struct rr {
	enum rr_mode mode;
	struct trace_writer *w; /* record */
	struct trace_reader *r; /* replay */
	const char *path;
	/* replay: the next event that the guest has to meet */
	struct trace_event next;
	int have_next;  /* 1 = next is valid, 0 = end of trace, -1 = not read yet */
	uint64_t last_good; /* last event replay matched */
	bool failed;        /* record: the writer stopped (disk full ...) */
	bool ended_early;   /* replay: the recording was cut at a point that is not reproducible
			       (timeout, signal): its final state cannot be compared */
	uint64_t kicks_skipped; /* record: kicks where the host could not position an injection */
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
	void *ckpt_buf;         /* replay: scratch for a checkpoint's vCPU blob */
	size_t ckpt_buf_cap;
	/* replay --from EVENT: the serial output goes to /dev/null until the
	 * replay has met event from_event; held_out is the real one meanwhile. */
	FILE *held_out;
	uint64_t from_event;
};

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

/* A device read has just produced data[0..len): log it, or (replay) check the
 * request against the trace and replace data with the logged value.  A
 * mismatch stops the VM with ST_DIVERGED. */
void rr_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len);
/* A trapped RDTSC or RDTSCP (record/tsc.c) is about to return *value (and
 * *aux, RDTSCP's TSC_AUX): log them, or (replay) check the kind and the
 * point against the trace and replace them with the logged values.
 * at: the registers with RIP at the original instruction (the fingerprint). */
void rr_tsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux);
/* The same for a trapped RDRAND or RDSEED (kind): *value is what the
 * destination register gets, *cf the carry flag (success). */
void rr_rand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf);
/* Record: an interrupt was injected at the current point.  kick_rip/hash
 * are 0 when the point is "after exit vm->guest_exits" (at the first
 * interrupt window after it); else the linear RIP, register hash and memory
 * digest where a kick stopped the guest: the registers alone are ambiguous
 * in a loop that keeps its state in memory. */
void rr_irq(struct vm *vm, uint8_t vector, uint64_t kick_rip, uint64_t kick_hash, uint64_t kick_mem);
/* Record: bytes went into the UART's receive FIFO (informational: the guest
 * only sees them through logged port reads). */
void rr_serial_in(struct vm *vm, const uint8_t *buf, size_t n);

/* `ttvm record -o TRACE [run options] KERNEL`. */
int record_main(int argc, char **argv);
/* `ttvm replay [options] TRACE`. */
int replay_main(int argc, char **argv);

/* Shared by record and replay (record/rr.c). */
/* Replay: the next event that positions the guest (skipping informational
 * kinds), or NULL at the end of the trace / on a read error (VM stopped). */
const struct trace_event *rr_peek(struct vm *vm);
/* Replay: the event returned by rr_peek() was met. */
void rr_consume(struct vm *vm);
/* Replay: stop with a divergence report. */
void rr_diverged(struct vm *vm, const char *what, const struct trace_event *expected);
/* "regs=HASH sregs=HASH mem=HASH": digest of the vCPU registers and all of
 * guest RAM, compared between a recording and its replay. */
void rr_state_digest(struct vm *vm, char *buf, size_t len);
/* Map a run's status to the trace's end record. */
void rr_end_event(const struct vm *vm, struct trace_event *ev);

#endif
