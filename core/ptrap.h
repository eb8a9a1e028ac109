/* Patch traps: execution traps made by writing HLT (0xf4) over the first
 * byte of an instruction in guest RAM.
 *
 * Without an in-kernel irqchip every HLT the guest executes exits to ttvm
 * (KVM_EXIT_HLT), on VMX, SVM and PVM alike, at any CPL0 instruction: a trap
 * that needs no debug registers and costs one exit per hit.  At CPL3 HLT
 * raises #GP in the guest instead, so a trap is only ever patched into a
 * page the guest's paging makes supervisor-only (or with paging off while
 * the guest runs at CPL0).
 *
 * The bytes are patched only for the duration of a KVM_RUN
 * (ptrap_apply() before it, ptrap_remove() right after it): everything ttvm
 * reads between runs (the memory digest, checkpoints and snapshots, the
 * debugger's memory reads) sees the guest's own bytes.  The guest itself
 * sees 0xf4 if it reads a patched byte while it runs; a guest write over a
 * patched byte wins (the trap is gone for that run, and ttvm keeps what the
 * guest wrote).
 *
 * Two owners share one set: PTRAP_PROBE traps are loop probes, part of the
 * recorded execution (record/probe.c: a hit is a guest exit, in record and
 * replay alike); PTRAP_ENGINE traps are the replay engine's breakpoints
 * (gdb's `break`, the search for a kick point), invisible to the guest's
 * exit count; PTRAP_LAND traps are the recorder's landing places for an
 * interrupt (record/land.c), not guest exits either. */
#ifndef TTVM_CORE_PTRAP_H
#define TTVM_CORE_PTRAP_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;

#define PTRAP_MAX 32
#define PTRAP_HLT 0xf4

enum ptrap_owner { PTRAP_PROBE = 1, PTRAP_ENGINE = 2, PTRAP_LAND = 4 };

struct ptrap {
	uint64_t addr;   /* guest-linear address of the instruction */
	uint8_t owners;  /* enum ptrap_owner bits; 0 = free slot */
	/* While applied (between ptrap_apply and the next ptrap_apply): */
	bool on;
	uint64_t gpa;
	uint8_t orig;
	uint8_t applied_owners;
};

struct ptrap_set {
	struct ptrap t[PTRAP_MAX];
	/* The vCPU stands on a trap it has just hit: the next run must execute
	 * that instruction with its own byte, by one single step (ptrap_apply
	 * says so). */
	bool skip;
	uint64_t skip_addr;
	/* ptrap_hit()'s answer for the last run (it moves RIP: asked twice,
	 * it must not look again). */
	bool hit_known;
	unsigned hit_owners;
	uint64_t hit_addr;
	uint64_t hits;       /* statistics: hits of any trap */
	uint64_t clobbered;  /* statistics: patched bytes the guest overwrote */
};

/* Add owner to the trap at addr (creating it).  0, or -ENOSPC. */
int ptrap_add(struct ptrap_set *s, uint64_t addr, unsigned owner);
/* Drop owner from the trap at addr (the trap goes when no owner is left). */
void ptrap_del(struct ptrap_set *s, uint64_t addr, unsigned owner);
/* Drop owner from every trap. */
void ptrap_clear(struct ptrap_set *s, unsigned owner);
/* Does owner hold a trap at addr? */
bool ptrap_has(const struct ptrap_set *s, uint64_t addr, unsigned owner);
/* How many traps owner holds. */
unsigned ptrap_count(const struct ptrap_set *s, unsigned owner);

/* Could a trap at linear addr be patched in the guest's present state
 * (sregs: its special registers): mapped in RAM, supervisor-only (or paging
 * off at CPL0), not already the guest's own HLT?  *gpa (may be NULL) gets
 * the byte's guest-physical address. */
bool ptrap_can_patch(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr, uint64_t *gpa);
/* ptrap_can_patch, and not code the guest's kernel reads back or rewrites
 * (vm_text_site: Linux's alternatives, return sites, ftrace NOPs...): a
 * trap the guest cannot see, unless it reads code it does not patch.
 * Every trap ttvm sets for itself (loop probes, landings, kick points)
 * asks this; gdb's breakpoints ask ptrap_can_patch (the user's choice;
 * stepping there instead could take hours). */
bool ptrap_patchable(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr, uint64_t *gpa);
/* Is linear addr, mapped now, such a site (vm_text_site)? */
bool ptrap_text_site(struct vm *vm, const struct kvm_sregs *sregs, uint64_t addr);

/* Before KVM_RUN: patch the traps of the owners in mask that are patchable
 * now.  Returns how many were patched.  While s->skip nothing is patched
 * (the caller single-steps over the trap's instruction then). */
unsigned ptrap_apply(struct vm *vm, struct ptrap_set *s, unsigned mask);
/* After KVM_RUN (whatever it returned): put the guest's bytes back where
 * the guest did not overwrite them. */
void ptrap_remove(struct vm *vm, struct ptrap_set *s);
/* After a KVM_EXIT_HLT: if the HLT was one of the traps patched for this
 * run (by guest-physical address, so an alias mapping counts too), move RIP
 * back onto the instruction, set s->skip and return the trap's owners
 * (*addr: its linear address); else 0 (the guest's own HLT).  Asked again
 * before the next run, it gives the same answer. */
unsigned ptrap_hit(struct vm *vm, struct ptrap_set *s, uint64_t *addr);
/* After ptrap_apply, instead of a single step from linear addr lin: if a
 * trap of an owner in mask is patched there, the step would execute its
 * HLT.  That counts as the trap's hit without a run: the traps are removed,
 * RIP stays, s->skip is set and ptrap_hit() answers this hit; the owners
 * are returned.  Else 0, and nothing changes.  (PVM latches a HLT run
 * under a single step and reports it at a later exit, after other
 * instructions: such a HLT must never run.) */
unsigned ptrap_hit_here(struct vm *vm, struct ptrap_set *s, uint64_t lin, unsigned mask);

#endif
