/* Landing: where an interrupt due in a long exit-free stretch goes in
 * (record/land.c).  Used by the "defer" interrupt policy (record/probe.c). */
#ifndef TTVM_RECORD_LAND_H
#define TTVM_RECORD_LAND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;

/* What record_land_kick decided. */
enum land_verdict {
	LAND_INJECT, /* put the interrupt in here, at the guest's RIP */
	LAND_WAIT,   /* traps are set: let the guest run on */
	LAND_GIVE_UP, /* no landing (any more) at this exit: decide as without */
};

/* A kick (or a landing trap's hit) while an interrupt waits between exits
 * (guest at linear rip; s, regs: its registers).  Starts a landing (once
 * per guest exit), moves it on at a hit, or ends it: LAND_INJECT only
 * where the guest stands at the start or at a trap's hit. */
enum land_verdict record_land_kick(struct vm *vm, const struct kvm_sregs *s, const struct kvm_regs *regs,
				   uint64_t rip);
/* Is a landing under way (traps set)? */
bool record_land_active(struct vm *vm);
/* The guest made an exit (the interrupt goes in there): drop the traps. */
void record_land_cancel(struct vm *vm);
/* With -v: what the landings did. */
void record_land_report(struct vm *vm);

/* The static part, exposed for tests: from the instruction at rip (code
 * read through the guest's paging), find where the guest leaves the loop
 * that holds rip (traps[]: the loop's exits) or, in straight-line code,
 * the end of the function (*fend: a RET or a tail jump, where the return
 * address is at the stack pointer).  Returns 1 (loop: *n exits), 2
 * (function end), 0 (neither found: indirect jumps, too long, not code). */
int land_scan(struct vm *vm, const struct kvm_sregs *s, uint64_t rip, uint64_t *traps, unsigned max,
	      unsigned *n, uint64_t *fend);
/* The same over a code buffer at linear address base (tests). */
int land_scan_buf(const uint8_t *code, size_t len, uint64_t base, int mode64, uint64_t rip, uint64_t *traps,
		  unsigned max, unsigned *n, uint64_t *fend);
/* Where the tail jump at addr goes if that is a return thunk (its first
 * instruction a RET, or a CALL at most RECORD_THUNK_SPAN bytes away), else
 * 0; over a code buffer at base (tests).  A landing waits there, not on
 * the jump: Linux reads its return sites back at boot. */
uint64_t land_return_thunk_buf(const uint8_t *code, size_t len, uint64_t base, uint64_t addr);

#endif
