/* Interrupt routing to the vCPU: the 8259A alone (the APIC hidden, today's
 * machine), or the local APIC with the IOAPIC (vm->apic set, `--apic`),
 * where the 8259A's INTR reaches the CPU through LINT0 (or an IOAPIC entry)
 * in ExtINT mode, or directly while IA32_APIC_BASE disables the APIC.
 *
 * The run loop and the recorder ask these, never a device directly, so
 * that every injection goes through the same KVM_INTERRUPT path and hooks.
 * The APIC's TPR is the vCPU's CR8 and its base/enable is IA32_APIC_BASE,
 * which KVM keeps (no in-kernel irqchip: it reports both in kvm_run after
 * every KVM_RUN and loads CR8 from kvm_run->cr8 before each); irq_sync_in/
 * irq_sync_out carry them between kvm_run and the model. */
#ifndef TTVM_CORE_IRQ_H
#define TTVM_CORE_IRQ_H
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* True when an interrupt waits for the vCPU (after irq_sync_in). */
bool irq_pending(struct vm *vm);
/* Interrupt acknowledge: the vector to inject now. */
int irq_ack(struct vm *vm);
/* Replay: the recording injected vector here (the trace's irq event):
 * acknowledge it in the controller it came from (the APIC when it
 * requests it, else the 8259A pair when the vector is one of theirs, else
 * the APIC), so that their in-service state follows the recording's and a
 * live run (replay --go-live) starts from it.  The requests themselves
 * (IRR) are the replay's: device timers do not run in replay. */
void irq_ack_vector(struct vm *vm, uint8_t vector);
/* replay --go-live: the recording had vector requested at this point (its
 * next event injects it here): make the request again, in the 8259A pair
 * when the vector is one of theirs, else in the APIC. */
void irq_request_vector(struct vm *vm, uint8_t vector);
/* True when nothing but the guest can make an interrupt pending: every
 * 8259A line that could reach the CPU masked, and no APIC timer or IOAPIC
 * entry unmasked. */
bool irq_all_masked(struct vm *vm);
/* Take CR8 (as the TPR) and IA32_APIC_BASE (enable bit, base address) from
 * kvm_run into the APIC model after KVM_RUN returned.  No-op without APIC. */
void irq_sync_in(struct vm *vm);
/* Put the model's TPR into kvm_run->cr8 for the next KVM_RUN (after a
 * guest TPR write through MMIO, or a snapshot restore).  No-op without APIC. */
void irq_sync_out(struct vm *vm);

#endif
