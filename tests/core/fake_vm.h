/* A struct vm without KVM behind it: RAM, a bus and a kvm_run area, so that
 * loaders, the page walker and the exit dispatcher can be driven by tests. */
#ifndef TTVM_TESTS_FAKE_VM_H
#define TTVM_TESTS_FAKE_VM_H
#include <stdlib.h>

#include "core/vm.h"
#include "devices/bus.h"
#include "core/tsc.h"

/* ram bytes of RAM; sync: registers live in run->s, as with KVM_CAP_SYNC_REGS. */
static inline struct vm *fake_vm_new(uint64_t ram, bool sync)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->ram_size = vm->low_size = ram;
	vm->ram = calloc(1, ram);
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->serial_in_fd = -1;
	vm->run_size = 4096;
	vm->run = calloc(1, vm->run_size);
	vm->bus = bus_new();
	if (sync) {
		vm->sync_regs = true;
		vm->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	}
	return vm;
}

static inline void fake_vm_free(struct vm *vm)
{
	tsc_table_free(vm->tsc);
	bus_free(vm->bus);
	free(vm->run);
	free(vm->ram);
	free(vm);
}

#endif
