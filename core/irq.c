#include "core/irq.h"

#include <inttypes.h>

#include "core/log.h"
#include "core/vm.h"
#include "devices/apic.h"
#include "devices/ioapic.h"
#include "devices/pic.h"

#define APICBASE_ENABLE (1ull << 11)
#define APICBASE_ADDR_MASK 0xffffff000ull

/* The 8259A's INTR reaches the CPU. */
static bool extint_open(struct vm *vm)
{
	return apic_extint_open(vm->apic) || (vm->ioapic && ioapic_extint_open(vm->ioapic));
}

void irq_sync_in(struct vm *vm)
{
	struct kvm_run *run = vm->run;

	if (!vm->apic)
		return;
	apic_set_hw_enabled(vm->apic, (run->apic_base & APICBASE_ENABLE) != 0);
	/* CR8 holds TPR bits 7:4: a TPR written through the page keeps its
	 * low bits until the guest writes a different CR8. */
	if ((run->cr8 & 0xf) != apic_get_tpr(vm->apic) >> 4)
		apic_set_tpr(vm->apic, (uint8_t)((run->cr8 & 0xf) << 4));
	uint64_t base = run->apic_base & APICBASE_ADDR_MASK;
	if (base != vm->apic_mmio_base && !vm->apic_move_reported) {
		/* The page stays where it was: guests that move it are not
		 * known to ttvm's tests (Linux, kvm-unit-tests keep it). */
		log_info("the guest moved the local APIC to %#" PRIx64 ": not followed, it stays at %#" PRIx64, base,
			 vm->apic_mmio_base);
		vm->apic_move_reported = true;
	}
}

void irq_sync_out(struct vm *vm)
{
	if (vm->apic)
		vm->run->cr8 = apic_get_tpr(vm->apic) >> 4;
}

bool irq_pending(struct vm *vm)
{
	if (!vm->apic)
		return pic_pending(vm->pic);
	irq_sync_in(vm);
	if (apic_has_interrupt(vm->apic))
		return true;
	return extint_open(vm) && pic_pending(vm->pic);
}

int irq_ack(struct vm *vm)
{
	/* The APIC first, as QEMU's interrupt acknowledge does; ExtINT then
	 * takes the vector from the 8259A (an INTA cycle on its bus). */
	if (vm->apic && apic_has_interrupt(vm->apic))
		return apic_ack(vm->apic);
	return pic_ack(vm->pic);
}

void irq_ack_vector(struct vm *vm, uint8_t vector)
{
	if (vm->apic && apic_irr_has(vm->apic, vector))
		apic_ack_vector(vm->apic, vector);
	else if (pic_ack_vector(vm->pic, vector) && vm->apic)
		apic_ack_vector(vm->apic, vector); /* the APIC's own (timer): its request never came in replay */
}

void irq_request_vector(struct vm *vm, uint8_t vector)
{
	if (pic_request_vector(vm->pic, vector) && vm->apic)
		apic_request_vector(vm->apic, vector);
}

bool irq_all_masked(struct vm *vm)
{
	if (!vm->apic)
		return pic_all_masked(vm->pic);
	if (extint_open(vm) && !pic_all_masked(vm->pic))
		return false;
	if (!apic_quiet(vm->apic))
		return false;
	return !vm->ioapic || !apic_hw_enabled(vm->apic) || ioapic_all_masked(vm->ioapic);
}
