/* The virtual machine: KVM handles, guest RAM, devices and run state.
 *
 * struct vm is the hub that core's files share; device models never see it.
 * Guest-physical addresses and lengths from the guest or from files are only
 * ever turned into host pointers by vm_gpa_ptr(), which checks bounds and
 * overflow once. */
#ifndef TTVM_CORE_VM_H
#define TTVM_CORE_VM_H
#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ptrap.h"
#include "devices/bus.h"

/* Exit statuses of `ttvm run`; all even so that they never collide with the
 * odd statuses a debug-exit write produces ((V << 1) | 1). */
enum ttvm_status {
	ST_OK = 0,
	ST_USAGE = 2,        /* command line or input file unusable */
	ST_HOST = 4,         /* host error: KVM unavailable or failed */
	ST_TRIPLE = 64,      /* triple fault / shutdown */
	ST_RESET = 66,       /* guest asked for a reset */
	ST_INTERNAL = 68,    /* KVM internal error or emulation failure */
	ST_HALTED = 70,      /* halted with no way to wake up */
	ST_TIMEOUT = 72,     /* --timeout reached */
	ST_STRICT = 74,      /* --strict: unknown port or MMIO address */
	ST_DIVERGED = 76,    /* replay: the guest did not do what the trace says */
	ST_BADTRACE = 78,    /* replay/inspect: the trace is unreadable or damaged */
	ST_SIGNAL = 80,      /* SIGINT or SIGTERM */
	ST_PANIC = 82,       /* the guest's kernel panicked (Linux's end-of-panic line on the serial port) */
};

enum kvm_flavour { KVM_FLAVOUR_NONE, KVM_FLAVOUR_VMX, KVM_FLAVOUR_SVM, KVM_FLAVOUR_PVM, KVM_FLAVOUR_OTHER };

/* Where guest RAM lies: [0, low_size) and, above the 32-bit PCI hole,
 * [4 GiB, 4 GiB + high_size). */
#define VM_PCI_HOLE_START 0xc0000000ull
#define VM_HIGH_START 0x100000000ull

struct vm_options {
	uint64_t mem_bytes;
	bool strict;
	const char *serial_out; /* NULL = stdout */
	const char *serial_in;  /* NULL = stdin when it is not a terminal */
	bool no_serial_in;      /* replay: the guest's input comes from the trace */
	double timeout_s;       /* 0 = none */
	bool apic;              /* local APIC + IOAPIC + MP table (`--apic`); false: the APIC hidden */
	bool no_msr_filter;     /* leave KVM's MSR answers alone (core/msr.h): replay of a trace recorded so */
};

struct uart;
struct pic;
struct apic;
struct ioapic;
struct pit;
struct cmos;
struct debugexit;
struct i8042;
struct pci;
struct fwcfg;
struct ttvm_clock;
struct tsc_table;
struct vm_hooks;

/* An executable part of the loaded image: [gpa, gpa+size) in RAM, run at
 * linear address vaddr.  Reported by the loader for core/tsc.c. */
struct vm_exec_range {
	uint64_t gpa, vaddr, size;
};
#define VM_MAX_EXEC 16

/* Code the guest may copy over other code at run time (Linux's
 * alternatives): len bytes from linear src to linear dst, which lies at
 * guest-physical dst_gpa.  Reported by the loader for core/tsc.c. */
struct vm_code_copy {
	uint64_t dst, dst_gpa, src;
	uint32_t len;
};

/* A range of guest-physical memory. */
struct vm_range {
	uint64_t gpa, len;
};

struct vm {
	struct vm_options opt;
	enum kvm_flavour flavour;
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	bool sync_regs; /* KVM_CAP_SYNC_REGS in use: registers arrive in run->s */
	/* vcpu_get_sregs()'s copy, good until the vCPU runs or anything sets
	 * its state (vcpu_state_changed()): replay's searches read the
	 * segment and control registers several times per guest entry, each an
	 * ioctl (costly in the nested SVM test host). */
	bool sregs_cached;
	bool sync_sregs; /* KVM_SYNC_X86_SREGS: each KVM_RUN fills the copy */
	struct kvm_sregs sregs_cache;
	struct kvm_cpuid2 *cpuid; /* the CPUID table the vCPU was given (core/cpuid.h policy) */

	uint8_t *ram; /* low RAM, then high RAM: page index i is at ram + 4096 * i */
	uint64_t ram_size, low_size, high_size;
	bool dirty_logging;
	uint64_t *dirty_bitmap; /* scratch for KVM_GET_DIRTY_LOG */
	/* Shared dirty-page tracking (see vm_dirty_sync): page_gen[i] is the
	 * generation at which RAM page i was last seen written, dirty_gen the
	 * newest generation handed out.  Each consumer (memory digest,
	 * checkpoints, the debugger's snapshots) keeps the generation of its
	 * last look, so none of them steals KVM's dirty bits from the others.
	 * NULL / 0 until vm_dirty_log_enable(). */
	uint64_t *page_gen;
	uint64_t *group_gen; /* newest page_gen of each run of 64 pages: walks skip clean runs */
	uint64_t dirty_gen;

	struct bus *bus;
	struct ttvm_clock *clock;
	struct pic *pic;
	/* With vm->opt.apic: the local APIC and IOAPIC (core/irq.h routes
	 * interrupts through them); NULL otherwise. */
	struct apic *apic;
	struct ioapic *ioapic;
	uint64_t apic_mmio_base;   /* where the APIC's page is registered */
	bool apic_move_reported;   /* the guest moved IA32_APIC_BASE (reported once) */
	struct pit *pit;
	struct uart *uart;
	struct cmos *cmos;
	struct debugexit *dbgexit;
	struct i8042 *kbd;
	struct pci *pci;
	struct fwcfg *fwcfg;

	FILE *serial_out;
	int serial_in_fd; /* -1 = none */
	bool serial_in_eof;
	char line[256]; /* the serial output's current line (its start), for the panic watch */
	size_t line_len;
	uint8_t in_buf[4096];
	size_t in_len, in_pos;

	/* Run state, set by devices and the dispatcher. */
	bool stop;
	int status;
	char stop_msg[512];
	uint64_t exits;       /* every return from KVM_RUN that was an exit */
	uint64_t guest_exits; /* exits the guest caused (I/O, MMIO, HLT): the
				 reproducible clock that record/replay positions events by */
	/* Where nondeterministic inputs go (core/hooks.h): NULL in a plain run;
	 * hook_ctx belongs to whoever set the hooks (record, replay). */
	const struct vm_hooks *hooks;
	void *hook_ctx;
	bool irq_in_flight;   /* injected, and KVM_RUN has not returned an exit since */
	int irq_in_flight_vector; /* its vector; -1: unknown (restored from a checkpoint) */
	/* This exit's handler made the next KVM_RUN raise an exception in the
	 * guest (a refused MSR, a trapped RDPMC: #GP).  No interrupt may go in
	 * before the guest took it: KVM got the interrupt with the exception
	 * still pending, and the interrupt was seen lost (Linux's PMU probe
	 * stopped the PIT's ticks).  It waits for the guest's next exit, or a
	 * kick after the guest ran (core/run.c). */
	bool exception_queued;
	/* The guest's last exit queued such an exception: until its next
	 * exit, RFLAGS.RF may be the guest's own (core/run.c). */
	bool fault_stretch;
	struct vm_exec_range exec[VM_MAX_EXEC]; /* code the loader placed */
	unsigned nexec;
	bool linux_guest; /* booted as Linux (PVH or bzImage): record's interrupt policy defaults to "defer" */
	struct vm_code_copy *copies; /* malloc'd, NULL = none */
	size_t ncopies;
	/* Code the guest's kernel reads back or rewrites while it runs
	 * (Linux: its alternatives, return, retpoline, paravirt and
	 * lock-prefix sites, core/loader_linux.c), sorted and disjoint: no
	 * patch trap goes there (core/ptrap.h).  malloc'd, NULL = none. */
	struct vm_range *text_sites;
	size_t ntext_sites;
	struct tsc_table *tsc; /* patched RDTSC-family sites (core/tsc.h), NULL = none */
	/* A bzImage's kernel, for the decompressor's hand-over to it
	 * (core/bzimage_kernel.h); NULL = not a bzImage. */
	struct bzimage_kernel *bzk;
	/* KVM_SET_GUEST_DEBUG control bits that must stay on whoever else sets
	 * guest debugging (replay's breakpoints, the debugger): ENABLE|USE_SW_BP
	 * while RDTSC sites trap with INT3 (core/tsc.h).  0 = none. */
	uint32_t guest_debug_keep;
	/* Patch traps (core/ptrap.h): the recording's loop probes, whose hits
	 * are guest exits, and the replay engine's breakpoints. */
	struct ptrap_set ptraps;
	/* Set by the irq_point hook when it defers an interrupt in the hope of
	 * a guest exit soon (a loop probe ahead): kick the guest again after
	 * this many ns if none came.  0 = no such wait. */
	uint64_t kick_retry_ns;
	/* Nonzero while vm_run is inside KVM_RUN (read by other threads:
	 * record/probe.c's scout). */
	volatile int in_kvm_run;
	/* The scout (record/probe.c): stop the guest once it has run this
	 * long without a guest exit, by vm_run's own timer (0: not by the
	 * timer; the recorder may use a thread instead).  scout_exit: the
	 * guest exit after which the last such stop came (UINT64_MAX: none). */
	uint64_t scout_ns;
	uint64_t scout_exit;
	/* The longest the guest ran from a guest exit to a kick or another
	 * exit it did not cause (ns of the virtual clock): where an interrupt
	 * can go in between exits.  Kept by vm_run; the recorder stores it
	 * for replay's bound on point searches (replay/engine.h). */
	uint64_t max_exitless_ns;
	/* Where the guest's last exit was (guest exit last_exit_no at linear
	 * RIP last_exit_rip; valid when last_exit_no == guest_exits): named
	 * when a triple fault arrives with the vCPU already reset (SVM). */
	uint64_t last_exit_rip, last_exit_no;
	bool last_exit_known;

	/* Unknown ports/MMIO already reported (-v reports each once). */
	uint8_t pio_seen[65536 / 8];
	uint64_t mmio_seen[64];
	unsigned mmio_seen_n;
	uint32_t msr_seen[32]; /* refused MSRs already reported (core/msr.c) */
	unsigned msr_seen_n;

	/* The guest's TSC (core/tsc.h: tsc_guest_now) and the MSRs ttvm
	 * answers (core/msr.h). */
	bool msr_filter;      /* KVM's user-space MSR exits are on */
	bool tsc_offset_known;
	int64_t tsc_offset;   /* guest TSC - host TSC as KVM runs it, read once */
	int64_t tsc_delta;    /* moved by the guest's writes of IA32_TSC / IA32_TSC_ADJUST */
	uint64_t tsc_adjust;  /* IA32_TSC_ADJUST as the guest sees it */
};

/* Path of the KVM device: /dev/kvm, or $TTVM_KVM_DEVICE (for tests that need
 * a host without a usable KVM). */
const char *kvm_device_path(void);
/* Why kvm_device_path() cannot be used, given open()'s errno ERR: what is
 * missing (no KVM module, a module but no device, no node, no permission),
 * as one phrase for an error line; never fails. */
const char *kvm_unusable_reason(int err);
/* The hint that ends every "no KVM" error line: where to try ttvm anyway. */
#define KVM_MISSING_HINT \
	"to try ttvm on this machine, run it in the SVM test host: tests/svm-host/run --exec 'ttvm run GUEST'"
/* Which KVM the host offers, probed from /sys/module; never fails. */
enum kvm_flavour kvm_probe_flavour(void);
/* Printable name of a flavour ("VMX", "SVM", "PVM", ...). */
const char *kvm_flavour_name(enum kvm_flavour f);

/* Create the VM, RAM, vCPU, CPUID policy and devices.  0 or -errno with a
 * message already printed. */
int vm_create(struct vm *vm, const struct vm_options *opt);
/* Release everything vm_create made (safe on a partly created vm). */
void vm_destroy(struct vm *vm);

/* Host pointer for guest-physical [gpa, gpa+len) if it lies wholly in RAM,
 * else NULL (also on overflow). */
void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

/* Does the guest's kernel read back or rewrite the code byte at gpa (so
 * that a patch trap there would change what it does)?  One of
 * vm->text_sites, or, in a Linux guest, the first byte of the 5-byte NOP
 * that Linux's ftrace call sites and jump labels are while off (their
 * tables are not found in a vmlinux without symbols). */
bool vm_text_site(struct vm *vm, uint64_t gpa);

/* End the run with status and a one-line reason (printed by the caller). */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Current general registers (from the sync area when valid). 0 or -errno. */
int vcpu_get_regs(struct vm *vm, struct kvm_regs *regs);
/* Set them (with sync regs: in the sync area, for the next KVM_RUN). */
int vcpu_set_regs(struct vm *vm, const struct kvm_regs *regs);
/* Hand KVM registers vcpu_set_regs() left in the sync area now: before an
 * ioctl that reads them from KVM (KVM_GET_REGS, a snapshot). */
int vcpu_flush_regs(struct vm *vm);
int vcpu_get_sregs(struct vm *vm, struct kvm_sregs *sregs);
/* Forget vcpu_get_sregs()'s copy: called before KVM_RUN and by every
 * ioctl that sets vCPU state other than the general registers. */
void vcpu_state_changed(struct vm *vm);
/* KVM_RUN (-1 with errno, as the ioctl), keeping vcpu_get_sregs()'s copy. */
int vcpu_run(struct vm *vm);
/* KVM finishes an instruction that exited to user space (a port or MMIO
 * access, RDMSR/WRMSR) only at the next KVM_RUN.  When the last exit was
 * one of those (or always), finish it now without entering the guest
 * (KVM_RUN with immediate_exit; registers left dirty in the sync area go
 * in too), so that RIP and the registers read next are past it.  The kvm_run fields
 * the run loops decide on (exit reason, IF, window) are put back; a kick
 * (vm_signal_seen) that lands meanwhile stays pending.  1 when it ran
 * KVM_RUN, 0 when nothing was pending, or -errno (printed). */
int vcpu_settle(struct vm *vm, bool always);
/* Called by the run loop's signal handler (async-signal-safe). */
void vm_signal_seen(void);
/* Queue interrupt vector for delivery at the next KVM_RUN and drop any
 * interrupt-window request (and a pending step over a patch trap: the
 * interrupt comes first).  0, or -errno with the VM stopped (ST_HOST). */
int vcpu_interrupt(struct vm *vm, uint8_t vector);
int vcpu_set_sregs(struct vm *vm, const struct kvm_sregs *sregs);
/* KVM_SET_GUEST_DEBUG with extra_control ORed onto vm->guest_debug_keep
 * (ENABLE added when anything is on) and hw's debug registers (NULL: none).
 * Every user of guest debugging goes through here, so that no one drops
 * another's bits.  0 or -errno. */
int vcpu_set_guest_debug(struct vm *vm, uint32_t extra_control, const struct kvm_guest_debug_arch *hw);
/* The control word vcpu_set_guest_debug() gives KVM for extra_control. */
uint32_t vcpu_guest_debug_control(const struct vm *vm, uint32_t extra_control);
/* The guest's own INT3 (not a ttvm trap) caused a #BP debug exit while
 * USE_SW_BP is on: deliver the #BP to the guest as if ttvm were not there.
 * VMX/SVM only (the INT3 must still be at RIP).  0 or -errno. */
int vcpu_reinject_bp(struct vm *vm);
/* Queue exception nr (with its error code) for delivery at the next
 * KVM_RUN, keeping the rest of the vCPU's event state.  0 or -errno. */
int vcpu_inject_exception(struct vm *vm, uint8_t nr, bool has_error_code, uint32_t error_code);
/* Read or write one MSR of the vCPU.  0 or -EIO (KVM refused it). */
int vcpu_get_msr(struct vm *vm, uint32_t index, uint64_t *data);
int vcpu_set_msr(struct vm *vm, uint32_t index, uint64_t data);

/* Turn KVM's dirty-page logging on for all of RAM and start the page
 * generations (every page at generation 0; writes made before this call are
 * not tracked: a consumer starts with a full pass).  Idempotent.  0 or -errno. */
int vm_dirty_log_enable(struct vm *vm);
/* Fetch (and clear) KVM's dirty log and stamp every page written since the
 * last sync with a new generation, vm->dirty_gen.  0, -EINVAL when logging
 * is off, or the ioctl's -errno. */
int vm_dirty_sync(struct vm *vm);
/* Pages [first_page, first_page + n) of vm->ram were written by ttvm itself
 * through host pointers (loaders, snapshot restore, the debugger), which
 * KVM's log never sees: stamp them with a new generation.  No-op while
 * logging is off; clipped to RAM. */
void vm_mark_pages_written(struct vm *vm, uint64_t first_page, uint64_t n);
/* Call fn for every RAM page (index as in vm->ram) whose generation is newer
 * than gen, in index order; returns how many.  Call vm_dirty_sync() first to
 * see the guest's latest writes, then remember vm->dirty_gen for next time. */
uint64_t vm_pages_changed_since(struct vm *vm, uint64_t gen,
				void (*fn)(void *ctx, uint64_t page_index), void *ctx);

/* Translate a guest-virtual address with the current paging mode. 0 or -EFAULT. */
int vm_gva_to_gpa(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, uint64_t *gpa);
/* The same, also giving the guest-physical addresses of the paging-structure
 * entries the walk read, in walk order (at most VM_WALK_MAX: PDPTE + 5
 * levels; none with paging off): what the translation depends on besides
 * CR0/CR3/CR4/EFER.  0 or -EFAULT. */
#define VM_WALK_MAX 6
/* The control-register bits a walk depends on (besides CR3). */
#define X86_CR0_PE 1ull
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PSE (1ull << 4)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_LA57 (1ull << 12)
#define X86_EFER_LMA (1ull << 10)
/* The vCPU runs 64-bit code (long mode, a 64-bit code segment). */
static inline bool vm_code64(const struct kvm_sregs *s)
{
	return (s->efer & X86_EFER_LMA) && s->cs.l;
}
int vm_gva_walk(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, uint64_t *gpa,
		uint64_t tables[VM_WALK_MAX], unsigned *ntables);
/* Copy guest-virtual memory out; returns bytes copied (stops at the first unmapped page). */
size_t vm_read_virt(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, void *buf, size_t len);
/* Read len (1-8) bytes at gva as a load at CPL0 would, where that is sure
 * to fault on nothing and change nothing: 64-bit paging, one page, every
 * paging-structure entry of the walk present with its accessed bit set, a
 * supervisor page, in RAM.  0, or -1 (nothing read) anywhere else. */
int vm_load_quiet(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, void *buf, size_t len);
/* Write len (1-8) bytes at gva as a store at CPL0 would, where that is
 * sure to fault on nothing and to change nothing but those bytes: as
 * vm_load_quiet, and every entry writable, the leaf's dirty bit already
 * set.  The page is marked written (vm_mark_pages_written).  0, or -1
 * (nothing written). */
int vm_store_quiet(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, const void *buf, size_t len);
/* Fetch up to len bytes of code at gva as the CPU's instruction fetch at
 * CPL0 would, where that faults on nothing and changes nothing (as
 * vm_load_quiet, and no XD bit): the bytes fetched, up to the first page
 * that does not qualify (0: none). */
size_t vm_fetch_quiet(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, void *buf, size_t len);
/* The 4 KiB page at gva as the three above see it, for a caller that
 * keeps pages (replay/quickrun.c): its host address (NULL: no quiet access
 * at all), *ok the VM_QUIET_ kinds of access that qualify there, *gpa_page
 * its guest-physical page number, tables[*ntables] the guest-physical
 * addresses of the paging-structure entries the answer depends on (a
 * write to one of their pages may change it). */
#define VM_QUIET_LOAD 1u
#define VM_QUIET_STORE 2u
#define VM_QUIET_FETCH 4u
uint8_t *vm_quiet_page(struct vm *vm, const struct kvm_sregs *sregs, uint64_t gva, unsigned *ok, uint64_t *gpa_page,
			uint64_t tables[VM_WALK_MAX], unsigned *ntables);
/* Does the host's KVM give its guests two-dimensional paging (EPT, NPT)?
 * Without it (shadow paging, PVM) KVM write-protects the guest's page
 * tables to follow them, and a write made through ttvm's mapping of RAM
 * could leave a stale shadow entry behind: no store by hand there. */
bool kvm_host_tdp(void);
/* Does the vCPU show the state of a reset (CS 0xf000 based at 0xffff0000,
 * RIP 0xfff0)?  On SVM, KVM resets the vCPU at a shutdown (triple fault)
 * before it reports KVM_EXIT_SHUTDOWN. */
bool vcpu_in_reset_state(struct vm *vm);
/* Format "RIP: disassembly" for the current instruction into buf. */
void vm_describe_insn(struct vm *vm, char *buf, size_t len);

#endif
