/* What Linux's two boot paths (PVH, bzImage) share: command line and initrd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/log.h"
#include "core/vm.h"

int linux_put_cmdline(struct vm *vm, const struct boot_args *a, uint32_t max)
{
	const char *cl = a->cmdline ? a->cmdline : "";
	size_t len = strlen(cl) + 1;

	if (len > max) {
		log_error("%s: the command line has %zu bytes; this kernel takes at most %u", a->kernel_path,
			  len - 1, max - 1);
		return -E2BIG;
	}
	return loader_put(vm, LINUX_CMDLINE, cl, len, len, "Linux command line");
}

int linux_put_initrd(struct vm *vm, const struct boot_args *a, uint64_t floor, uint64_t limit,
		     uint64_t *addr, uint64_t *size)
{
	uint8_t *all = NULL;
	size_t total = 0;
	int r = 0;

	*addr = *size = 0;
	for (size_t i = 0; i < a->nmodules; i++) {
		uint8_t *m;
		size_t msz;
		if ((r = loader_read_image(a, a->modules[i], &m, &msz)))
			goto out;
		size_t at = (total + 3) & ~(size_t)3;
		uint8_t *n = realloc(all, at + msz ? at + msz : 1);
		if (!n) {
			free(m);
			r = -ENOMEM;
			goto out;
		}
		all = n;
		memset(all + total, 0, at - total);
		memcpy(all + at, m, msz);
		total = at + msz;
		free(m);
	}
	if (!a->nmodules)
		return 0;
	if (limit > vm->low_size)
		limit = vm->low_size;
	uint64_t start = limit >= total ? (limit - total) & ~0xfffull : 0;
	if (total == 0 || limit < total || start < floor) {
		uint64_t need_mib = (floor + total + (1u << 20) - 1) >> 20;
		if (total == 0)
			log_error("%s: the initrd is empty", a->modules[0]);
		else
			log_error("%s: an initrd of %zu bytes does not fit between the kernel's end (%#llx) and "
				  "%#llx: give -m %llu or more", a->modules[0], total, (unsigned long long)floor,
				  (unsigned long long)limit, (unsigned long long)need_mib + 1);
		r = total == 0 ? -EINVAL : -ENOMEM;
		goto out;
	}
	if ((r = loader_put(vm, start, all, total, total, "initrd")))
		goto out;
	*addr = start;
	*size = total;
out:
	free(all);
	return r;
}
