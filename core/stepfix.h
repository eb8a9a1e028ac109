/* Undoing what single-stepping leaves in an interrupt frame.
 *
 * KVM single-steps VMX/SVM guests (and PVM's emulator steps) with TF in the
 * guest's RFLAGS.  When the step is the one that delivers an injected
 * interrupt, the CPU pushes that RFLAGS, TF included, into the interrupt
 * frame on the guest's stack, where the recording (which never stepped)
 * had TF clear.  The handler's IRET pops it, but the bytes stay in memory
 * below the stack pointer, so the memory digest of every later kick point
 * differs from the recording's and replay never finds it (issue 13: seen
 * on the SVM test host, where no debug registers fire, as soon as a gdb
 * breakpoint made the replay step).  Hosts whose debug registers fire do
 * not step that delivery (replay/engine.c runs to the handler's entry with
 * a breakpoint instead).  PUSHF stepped the same way pushes TF (popfhlt:
 * pushf; or IF; popf; hlt, with the digest of a window point at the HLT
 * differing in that stack word). */
#ifndef TTVM_CORE_STEPFIX_H
#define TTVM_CORE_STEPFIX_H
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* Where the delivery of one interrupt, or one PUSHF, puts RFLAGS. */
struct stepfix {
	bool armed;
	bool pushf;         /* a PUSHF: RFLAGS at the stack pointer after it */
	uint64_t next_ip;   /* ... where the guest is when it was executed */
	uint64_t flags_gva; /* guest-linear address of the pushed RFLAGS */
	uint64_t ip_gva;    /* ... and of the pushed RIP */
	unsigned width;     /* 8 (long mode), 4 (32-bit gate) or 2 (real mode) */
	uint64_t ip;        /* the interrupted RIP */
	uint64_t flags;     /* the interrupted RFLAGS (without TF and RF) */
};

/* Before a single step: when it delivers vector (delivers), work out where
 * the CPU will push the frame (long mode with IST and stack switch, 32-bit
 * protected mode, real mode); else, when the instruction is a PUSHF, how
 * wide its push is; else where a page fault of the stepped instruction
 * would push its frame (#PF's gate: a faulting step pushes TF too).
 * fx->armed stays false where it cannot tell (then nothing is undone). */
void stepfix_plan(struct vm *vm, bool delivers, uint8_t vector, struct stepfix *fx);

/* After that KVM_RUN (whatever it ended with): where the frame holds the
 * interrupted RIP and RFLAGS with TF added (or the PUSHF was executed and
 * pushed RFLAGS with TF added), clear TF there, as the recording had it.  Returns 1 when it did, 0 when there was nothing to do
 * (no delivery, or not stepped in), -errno when the frame was unreachable. */
int stepfix_apply(struct vm *vm, struct stepfix *fx);

#endif
