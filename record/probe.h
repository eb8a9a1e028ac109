/* Loop probes (record/probe.c): where interrupts go in while the guest runs
 * without exits, and the probes that make exits in its loops. */
#ifndef TTVM_RECORD_PROBE_H
#define TTVM_RECORD_PROBE_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;

/* Record: probe the host's CPL3 traps and read TTVM_PROBES (off: no
 * probes, for comparisons).  Prints the choice with -v. */
void record_probe_init(struct vm *vm);
/* Record: an interrupt could go in at this kick (guest at linear rip, its
 * special registers s): should it wait for the guest's next exit instead? */
bool record_probe_defer(struct vm *vm, const struct kvm_sregs *s, const struct kvm_regs *regs, uint64_t rip);
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
