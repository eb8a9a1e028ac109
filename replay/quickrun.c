#include "replay/quickrun.h"

#include "core/ptrap.h"
#include "core/quickstep.h"

/* Guest memory for quick steps: only what the quiet accesses allow. */
struct qr_mem {
	struct vm *vm;
	const struct kvm_sregs *sregs;
};

static int qr_load(void *ctx, uint64_t gva, unsigned size, uint64_t *val)
{
	const struct qr_mem *m = ctx;
	uint64_t v = 0;
	if (vm_load_quiet(m->vm, m->sregs, gva, &v, size))
		return -1;
	*val = v; /* little-endian: zero-extended */
	return 0;
}

static int qr_store(void *ctx, uint64_t gva, unsigned size, uint64_t val)
{
	const struct qr_mem *m = ctx;
	return vm_store_quiet(m->vm, m->sregs, gva, &val, size) ? -1 : 0;
}

enum quickrun_end quickrun(struct vm *vm, const struct kvm_sregs *sregs, struct kvm_regs *regs, uint64_t stop_at,
			   uint64_t max, bool stores, uint64_t *done)
{
	struct qr_mem m = { vm, sregs };
	const struct quickstep_mem mem = { qr_load, &m, stores ? qr_store : NULL };
	const unsigned any = PTRAP_PROBE | PTRAP_ENGINE | PTRAP_LAND;
	uint64_t n = 0;

	for (;; n++) {
		uint64_t rip = regs->rip; /* linear: CS's base is 0 in 64-bit code */
		if (n && rip == stop_at) {
			*done = n;
			return QR_AT_STOP;
		}
		if (n == max) {
			*done = n;
			return QR_BUDGET;
		}
		if (n && ptrap_has(&vm->ptraps, rip, any)) {
			*done = n;
			return QR_AT_TRAP;
		}
		uint8_t b[15];
		struct quickstep q;
		/* The first instruction was fetched by the CPU already (it
		 * stopped there); the others must be fetched quietly. */
		size_t len = n ? vm_fetch_quiet(vm, sregs, rip, b, sizeof(b)) : vm_read_virt(vm, sregs, rip, b, sizeof(b));
		if (quickstep_decode(b, len, &q) || quickstep_apply(&q, regs, &mem)) {
			*done = n;
			return QR_REFUSED;
		}
	}
}
