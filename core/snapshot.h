/* Whole-machine state except guest RAM: the vCPU as KVM holds it, every
 * device model, and the monitor's run state that record/replay depend on.
 *
 * The blob is versioned and self-describing: a header (magic "TTVMSTAT",
 * format version), then records (u32 tag, u32 length, payload), closed by an
 * END record that carries a hash of everything before it.  Blobs come from
 * trace files, so vm_state_load() checks every record before it changes
 * anything: a malformed, truncated or foreign blob is refused with a
 * one-line message and -EINVAL / -EBADMSG, never a crash.
 *
 * RAM is the caller's: copy vm->ram (or keep the dirty generations, core/vm.h)
 * next to the blob.  A state saved from one VM loads into another made by
 * vm_create() with the same options on the same host (CPUID policy, RAM
 * size), or back into the same VM. */
#ifndef TTVM_CORE_SNAPSHOT_H
#define TTVM_CORE_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

struct vm;

#define VM_STATE_MAGIC "TTVMSTAT"
#define VM_STATE_VERSION 4
/* The oldest version still read: version 2 lacks the probes record;
 * versions 2 and 3 lack the apic and ioapic records (machines without the
 * APIC, which is what a VM made without --apic is). */
#define VM_STATE_VERSION_MIN 2

/* Record tags.  Part of the format: never renumber. */
enum vm_state_tag {
	VM_STATE_CPUID = 1,      /* struct kvm_cpuid2 header + entries */
	VM_STATE_REGS = 2,       /* struct kvm_regs */
	VM_STATE_SREGS = 3,      /* struct kvm_sregs (hosts without KVM_CAP_SREGS2) */
	VM_STATE_SREGS2 = 4,     /* struct kvm_sregs2 (with the PAE PDPTRs) */
	VM_STATE_XCRS = 5,       /* struct kvm_xcrs */
	VM_STATE_XSAVE = 6,      /* KVM_GET_XSAVE(2) area, as long as the host's */
	VM_STATE_FPU = 7,        /* struct kvm_fpu (hosts without XSAVE) */
	VM_STATE_MSRS = 8,       /* struct kvm_msr_entry[n] */
	VM_STATE_EVENTS = 9,     /* struct kvm_vcpu_events */
	VM_STATE_DEBUGREGS = 10, /* struct kvm_debugregs */
	VM_STATE_MPSTATE = 11,   /* struct kvm_mp_state */
	VM_STATE_RUN = 12,       /* struct vm_state_run */
	VM_STATE_PIC = 13,       /* struct pic_state (devices/pic.h), and so on */
	VM_STATE_PIT = 14,
	VM_STATE_UART = 15,
	VM_STATE_CMOS = 16,
	VM_STATE_I8042 = 17,
	VM_STATE_PCI = 18,
	VM_STATE_FWCFG = 19,
	VM_STATE_PROBES = 20,    /* struct vm_state_probes (version 3 on; absent: none) */
	VM_STATE_APIC = 21,      /* struct apic_state (version 4 on; present iff the machine has --apic) */
	VM_STATE_IOAPIC = 22,    /* struct ioapic_state (with the apic record) */
	VM_STATE_TAG_MAX = 22,
	VM_STATE_END = 0xffff,   /* last: u64 hash64 of every byte before its tag */
};

/* The monitor's run state that replay depends on: the exit counters that
 * position events, the virtual clock, and what the run loop reads from
 * kvm_run to decide on injections (as it saw them at the save). */
struct vm_state_run {
	uint64_t guest_exits, exits;
	uint64_t clock_ns;
	int64_t epoch_s;
	uint32_t exit_reason;
	uint8_t if_flag, ready_for_injection, irq_in_flight, pad;
};

/* The recording's loop probes (core/ptrap.h PTRAP_PROBE traps), part of the
 * execution since their hits are guest exits. */
#define VM_STATE_MAX_PROBES 16
struct vm_state_probes {
	uint32_t n;
	uint8_t skip, pad[3];      /* the vCPU stands on a probe it has just hit */
	uint64_t skip_addr;
	uint64_t addr[VM_STATE_MAX_PROBES];
};

/* Save the state of vm into a new malloc'd blob (*blob, *len; free() it).
 * The vCPU must be stopped between exits; a PIO/MMIO exit still waiting
 * for completion is completed first (KVM_RUN with immediate_exit), so the
 * registers and RAM may change by that access.  0 or -errno (message
 * printed). */
int vm_state_save(struct vm *vm, void **blob, size_t *len);
/* Replace vm's vCPU, device and run state with the blob's (RAM untouched).
 * The blob is checked completely first; on -EINVAL/-EBADMSG nothing
 * changed.  A KVM refusal while applying gives -errno with the VM in a
 * mixed state: do not run it.  0 or -errno (message printed). */
int vm_state_load(struct vm *vm, const void *blob, size_t len);
/* Check a blob without a VM: every record's framing, size and the device
 * states' consistency (what vm_state_load checks before applying).
 * 0, -EINVAL (not a state blob of this version) or -EBADMSG; err (may be
 * NULL) gets the one-line reason. */
int vm_state_check(const void *blob, size_t len, char *err, size_t errlen);
/* The vCPU's special registers a blob holds (from its sregs or sregs2
 * record; sregs2's PDPTRs and flags are left out, interrupt_bitmap is
 * zero), without a VM: e.g. a checkpoint's paging controls.  Framing and
 * checksum are checked as in vm_state_check.  0, -EINVAL or -EBADMSG (err,
 * may be NULL, gets the reason). */
struct kvm_sregs;
int vm_state_sregs(const void *blob, size_t len, struct kvm_sregs *sregs, char *err, size_t errlen);
/* The virtual clock (ns since VM start, devices/clock.h) a blob holds,
 * without a VM: e.g. a checkpoint's guest time.  Framing and checksum are
 * checked as in vm_state_check.  0, -EINVAL or -EBADMSG (err, may be NULL). */
int vm_state_clock_ns(const void *blob, size_t len, uint64_t *ns, char *err, size_t errlen);

#endif
