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
#define VM_STATE_VERSION 1

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

#endif
