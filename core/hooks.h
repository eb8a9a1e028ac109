/* The run loop's hooks: where every nondeterministic input passes.
 *
 * The KVM core knows nothing of recording.  At each point where the guest
 * receives something ttvm cannot reproduce by itself (a device read, a
 * trapped RDTSC-family instruction, serial input, an interrupt) the core
 * calls the hook of vm->hooks, if there is one; a plain run leaves
 * vm->hooks NULL and every hook is optional.  `ttvm record` fills in all
 * of them (record/rr.h: record_hooks) to log each input; `ttvm replay`
 * fills in the ones exit_dispatch() calls (replay_hooks) to check the
 * request and hand back the logged value, and drives the rest from its own
 * loop (replay/engine.c), not from vm_run().  vm->hook_ctx is the hook
 * owner's state; the core never looks into it.
 *
 * | hook       | called from                      | record              | replay           |
 * | io_read    | exit_dispatch: port/MMIO read    | logs the value      | checks, replaces |
 * | rdtsc      | core/tsc.c: trapped RDTSC(P)     | logs the value      | checks, replaces |
 * | rdrand     | core/tsc.c: trapped RDRAND/SEED  | logs value and CF   | checks, replaces |
 * | msr_read   | core/msr.c: RDMSR ttvm answers   | logs the value      | checks, replaces |
 * | serial_in  | vm_run: bytes into the UART FIFO | logs them (info)    | (not called)     |
 * | irq_point  | vm_run: may an interrupt go in   | positions it, or    | (not called)     |
 * |            |   where the guest did not exit?  |   defers it         |                  |
 * | irq        | vm_run: an interrupt went in     | logs it             | (not called)     |
 * | kicked     | vm_run: a signal stopped the     | may set a loop      | (not called)     |
 * |            |   guest between exits            |   probe there       |                  |
 * | after_exit | vm_run: the quiet point after a  | takes checkpoints   | (not called: the |
 * |            |   guest exit, before injection   |                     |  engine checks)  |
 */
#ifndef TTVM_CORE_HOOKS_H
#define TTVM_CORE_HOOKS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/tsc.h"
#include "devices/bus.h"

struct vm;

/* Where an interrupt was injected: all zero "right after guest exit
 * vm->guest_exits" (at the first interrupt window after it), else the point
 * a kick or an interrupt window stopped the guest at: its linear RIP,
 * register hash and memory digest (registers alone repeat in a loop that
 * counts in memory). */
struct vm_irq_point {
	uint64_t rip, regs_hash, mem_digest;
};

struct vm_hooks {
	/* A device read has just produced data[0..len) (the VM is not stopped). */
	void (*io_read)(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len);
	/* A trapped RDTSC or RDTSCP is about to return *value (and *aux); at: the
	 * registers with RIP at the original instruction. */
	void (*rdtsc)(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value,
		      uint32_t *aux);
	/* A trapped RDRAND or RDSEED is about to return *value with carry *cf. */
	void (*rdrand)(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf);
	/* An RDMSR of index (one core/msr.h answers) is about to return *value
	 * (an exit the guest caused: vm->guest_exits counts it). */
	void (*msr_read)(struct vm *vm, uint32_t index, uint64_t *value);
	/* n >= 0 bytes went into the UART's receive FIFO. */
	void (*serial_in)(struct vm *vm, const uint8_t *buf, size_t n);
	/* An interrupt is pending and the guest could take it, at a point it did
	 * not cause (a kick, an interrupt window): true with *pt filled = inject
	 * here; false = wait for the guest's next exit.  NULL: inject anywhere. */
	bool (*irq_point)(struct vm *vm, struct vm_irq_point *pt);
	/* Interrupt vector was injected at pt. */
	void (*irq)(struct vm *vm, uint8_t vector, const struct vm_irq_point *pt);
	/* A signal (ttvm's timer, or the recorder's scout) ended KVM_RUN
	 * between two guest exits; called before any injection there. */
	void (*kicked)(struct vm *vm);
	/* Right after a guest exit was handled, before any injection (the VM is
	 * not stopped): a point that replay passes too. */
	void (*after_exit)(struct vm *vm);
};

#endif
