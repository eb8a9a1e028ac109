#include "core/exit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/bzimage_kernel.h"
#include "core/hooks.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/msr.h"
#include "core/ptrap.h"
#include "core/tsc.h"
#include "core/vm.h"

const char *exit_reason_name(unsigned reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HYPERCALL: return "HYPERCALL";
	case KVM_EXIT_DEBUG: return "DEBUG";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_IRQ_WINDOW_OPEN: return "IRQ_WINDOW_OPEN";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
	case KVM_EXIT_SET_TPR: return "SET_TPR";
	case KVM_EXIT_X86_RDMSR: return "RDMSR";
	case KVM_EXIT_X86_WRMSR: return "WRMSR";
	default: return "?";
	}
}

static bool mmio_seen(struct vm *vm, uint64_t addr)
{
	for (unsigned i = 0; i < vm->mmio_seen_n; i++)
		if (vm->mmio_seen[i] == addr)
			return true;
	/* Once the table is full, stop reporting rather than flood stderr. */
	if (vm->mmio_seen_n == sizeof(vm->mmio_seen) / sizeof(vm->mmio_seen[0]))
		return true;
	vm->mmio_seen[vm->mmio_seen_n++] = addr;
	return false;
}

/* An access no device claims: all-ones on read, ignored on write; reported
 * once per address with -v; a clean stop with --strict. */
static void unknown_access(struct vm *vm, enum bus_space space, uint64_t addr,
			   uint8_t *data, uint32_t len, bool is_write)
{
	const char *what = space == BUS_PIO ? "I/O port" : "MMIO address";
	bool first;

	if (!is_write)
		memset(data, 0xff, len);
	if (space == BUS_PIO) {
		uint16_t p = (uint16_t)addr;
		first = !(vm->pio_seen[p >> 3] & (1u << (p & 7)));
		vm->pio_seen[p >> 3] |= (uint8_t)(1u << (p & 7));
	} else {
		first = !mmio_seen(vm, addr);
	}
	if (vm->opt.strict) {
		char insn[256];
		vm_describe_insn(vm, insn, sizeof(insn));
		vm_request_stop(vm, ST_STRICT, "--strict: guest %s unknown %s %#" PRIx64 " (%u byte%s) at %s",
				is_write ? "wrote" : "read", what, addr, len, len == 1 ? "" : "s", insn);
		return;
	}
	if (first && ttvm_verbosity >= 1) {
		char insn[256];
		vm_describe_insn(vm, insn, sizeof(insn));
		log_info("unknown %s %#" PRIx64 " %s (%u byte%s) at %s; %s", what, addr,
			 is_write ? "written" : "read", len, len == 1 ? "" : "s", insn,
			 is_write ? "ignored" : "read as all-ones");
	}
}

static void do_access(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data,
		      uint32_t len, bool is_write)
{
	int r = bus_access(vm->bus, space, addr, data, len, is_write);
	if (r)
		unknown_access(vm, space, addr, data, len, is_write);
	/* Every value the guest reads from a device is an input: logged when
	 * recording, taken from the trace when replaying. */
	if (vm->hooks && vm->hooks->io_read && !is_write && !vm->stop)
		vm->hooks->io_read(vm, space, addr, data, len);
}

static enum exit_action handle_io(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint32_t size = run->io.size, count = run->io.count;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* The data area lies inside the kvm_run mapping; KVM fills in the
	 * offset, but check it anyway: the dispatcher also runs on made-up
	 * exits. */
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset >= vm->run_size ||
	    (uint64_t)size * count > vm->run_size - run->io.data_offset) {
		vm_request_stop(vm, ST_INTERNAL, "malformed I/O exit (port %#x, size %u, count %u)",
				run->io.port, size, count);
		return EXIT_STOP;
	}
	/* The bzImage decompressor's patched jump to the kernel
	 * (core/bzimage_kernel.h), then a patched RDTSC-family site
	 * (core/tsc.h), before the bus. */
	if (vm->bzk && run->io.port == BZK_PORT && bzk_handle_io(vm))
		return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
	if (vm->bzk && !vm->tsc && run->io.port == TSC_PORT)
		bzk_recover(vm);
	if (vm->tsc && run->io.port == TSC_PORT && tsc_handle_io(vm))
		return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < count && !vm->stop; i++)
		do_access(vm, BUS_PIO, run->io.port, data + (size_t)i * size, size, is_write);
	return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
}

static enum exit_action handle_mmio(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		vm_request_stop(vm, ST_INTERNAL, "malformed MMIO exit (address %#llx, length %u)",
				(unsigned long long)run->mmio.phys_addr, len);
		return EXIT_STOP;
	}
	do_access(vm, BUS_MMIO, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
	/* A TPR written through the APIC's page is the CR8 of the next run. */
	if (run->mmio.is_write)
		irq_sync_out(vm);
	return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
}

static enum exit_action stop_with_insn(struct vm *vm, int status, const char *what)
{
	char insn[256];
	vm_describe_insn(vm, insn, sizeof(insn));
	vm_request_stop(vm, status, "%s at %s", what, insn);
	return EXIT_STOP;
}

/* A shutdown.  On VMX the vCPU still shows the faulting instruction; on
 * SVM KVM has already reset it (RIP 0xfff0, CS 0xf000): say so, and name
 * the guest's last exit, after which the fault came (`ttvm replay` finds
 * the instruction itself by single steps from there: replay_cmd.c). */
static enum exit_action triple_fault(struct vm *vm)
{
	char where[96] = "";

	if (!vcpu_in_reset_state(vm))
		return stop_with_insn(vm, ST_TRIPLE, "triple fault (guest shut down)");
	if (vm->last_exit_known && vm->last_exit_no == vm->guest_exits)
		snprintf(where, sizeof(where), " after guest exit %" PRIu64 " at RIP %#" PRIx64, vm->guest_exits,
			 vm->last_exit_rip);
	else if (vm->guest_exits == 0)
		snprintf(where, sizeof(where), " before the guest's first exit");
	vm_request_stop(vm, ST_TRIPLE,
			"triple fault (guest shut down)%s; the host reset the vCPU before ttvm saw it: RIP 0xfff0 "
			"(cs 0xf000) is the reset state, not the faulting instruction (ttvm replay of a "
			"recording names it)",
			where);
	return EXIT_STOP;
}

/* #BP exits come only while USE_SW_BP is on (core/tsc.h's INT3 traps, or a
 * debugger's software breakpoints, handled before this dispatcher). */
static enum exit_action handle_debug(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	char what[160];

	if (run->debug.arch.exception != 3) {
		snprintf(what, sizeof(what), "unexpected debug exit (exception %u, pc %#llx)",
			 run->debug.arch.exception, (unsigned long long)run->debug.arch.pc);
		return stop_with_insn(vm, ST_INTERNAL, what);
	}
	/* A bzImage kernel's sites, after a restore past its hand-over. */
	if (vm->bzk && !vm->tsc)
		bzk_recover(vm);
	/* A patched RDTSC-family site: an exit the guest caused, like the
	 * I/O exit of the other trap method. */
	if (tsc_is_bp_trap(vm)) {
		vm->guest_exits++;
		tsc_handle_bp(vm);
		return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
	}
	/* The guest's own INT3: not counted, since whether it exits at all
	 * depends on the host's trap method, not on the guest. */
	int r = vcpu_reinject_bp(vm);
	if (r) {
		vm_request_stop(vm, ST_HOST, "cannot hand the guest its own #BP (KVM_SET_VCPU_EVENTS): %s",
				strerror(-r));
		return EXIT_STOP;
	}
	return EXIT_CONTINUE;
}

enum exit_action exit_dispatch(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	char what[160];

	irq_sync_in(vm);
	switch (run->exit_reason) {
	case KVM_EXIT_SET_TPR:
		/* The guest lowered CR8 (KVM exits so that a user-space
		 * interrupt controller can deliver what it unblocked): a point
		 * the guest caused, where an interrupt may go in. */
		vm->guest_exits++;
		return EXIT_CONTINUE;
	case KVM_EXIT_IO:
		vm->guest_exits++;
		return handle_io(vm);
	case KVM_EXIT_MMIO:
		vm->guest_exits++;
		return handle_mmio(vm);
	case KVM_EXIT_HLT: {
		uint64_t at;
		unsigned owners = ptrap_hit(vm, &vm->ptraps, &at);
		/* A loop probe (record/probe.c): an exit of the recorded
		 * execution, at the same point in replay. */
		if (owners & PTRAP_PROBE) {
			vm->guest_exits++;
			return EXIT_CONTINUE;
		}
		if (owners)
			return EXIT_CONTINUE; /* the replay engine's breakpoint or a landing trap: not the guest's */
		vm->guest_exits++;
		return EXIT_HALT;
	}
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		/* Only the MSRs core/msr.h filters exit: the guest's own access. */
		vm->guest_exits++;
		msr_handle_exit(vm);
		return vm->stop ? EXIT_STOP : EXIT_CONTINUE;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_INTR:
		return EXIT_CONTINUE;
	case KVM_EXIT_DEBUG:
		return handle_debug(vm);
	case KVM_EXIT_SHUTDOWN:
		return triple_fault(vm);
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_request_stop(vm, ST_RESET, "guest requested a system reset");
			return EXIT_STOP;
		}
		return stop_with_insn(vm, ST_TRIPLE, "guest shut down (system event)");
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error (suberror %u%s)", run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": instruction emulation failed" : "");
		return stop_with_insn(vm, ST_INTERNAL, what);
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed (hardware reason %#llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return stop_with_insn(vm, ST_INTERNAL, what);
	default:
		snprintf(what, sizeof(what), "unexpected KVM exit %u (%s)", run->exit_reason,
			 exit_reason_name(run->exit_reason));
		return stop_with_insn(vm, ST_INTERNAL, what);
	}
}
