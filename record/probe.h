/* Loop probes (record/probe.c): where interrupts go in while the guest runs
 * without exits, and the probes that make exits in its loops. */
#ifndef TTVM_RECORD_PROBE_H
#define TTVM_RECORD_PROBE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;

/* Record: probe the host's CPL3 traps and read TTVM_PROBES (off: no
 * probes, for comparisons).  Prints the choice with -v. */
void record_probe_init(struct vm *vm);
/* Record: an interrupt could go in at this kick (guest at linear rip, its
 * special registers s): should it wait for the guest's next exit instead? */
bool record_probe_defer(struct vm *vm, const struct kvm_sregs *s, const struct kvm_regs *regs, uint64_t rip);
/* Is the instruction b[0..n) one no interrupt should go in before
 * (the kick then waits 20 us and looks again)?
 * - A REP/REPNE string instruction: a kick can stop one between two
 *   iterations, with RIP still on it; replay's traps fire only before its
 *   first iteration, so such a point cannot be found.
 * - A RET: a kernel's shared return thunk (Linux: `ret; int3`, every
 *   function returns through it) is the hottest RIP there is, and replay
 *   pays one trap per pass of the RIP since the last exit.
 * - In 64-bit code, a CALL to at most RECORD_THUNK_SPAN bytes away: the
 *   entry of a return or retpoline thunk (Linux's srso_return_thunk: `call
 *   srso_safe_ret` 32 bytes back; __x86_indirect_thunk_*: `call` 12 bytes
 *   ahead), as hot as a RET: one such kick point in a Linux boot cost
 *   4.38 million trap hits and steps to find (2026-12-07). */
#define RECORD_THUNK_SPAN 64
bool record_bad_point_insn(const uint8_t *b, size_t n, bool long_mode);
/* Record: it goes in at a kick point at rip: maybe a loop to probe from
 * the next exit on. */
void record_probe_kick(struct vm *vm, const struct kvm_sregs *s, uint64_t rip);
/* Record: an interrupt went in (anywhere). */
void record_probe_injected(struct vm *vm);
/* Record: at the quiet point after a guest exit: set the probe learnt at
 * the last kick point, drop idle ones; each change is logged. */
void record_probe_after_exit(struct vm *vm);
/* Record (hooks->kicked): a signal stopped the guest between exits; when
 * the scout did (the guest ran long without exits), the place may become
 * a probe, at this kick point. */
void record_probe_scout(struct vm *vm);
/* Record: stop the scout thread (before the VM goes). */
void record_probe_stop(struct vm *vm);
/* Replay: is the guest at e's kick point (a TRACE_PROBE_AT_KICK probe)?
 * Then set the probe and consume e: 1; 0: not there; -1: VM stopped. */
struct trace_event;
int replay_probe_at_kick(struct vm *vm, const struct trace_event *e);
/* Record: the statistics line(s), with -v. */
void record_probe_report(struct vm *vm);
/* Replay: set or remove the probes the trace changes at this exit. */
void replay_probe_events(struct vm *vm);

#endif
