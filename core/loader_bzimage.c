/* Linux bzImage through the x86 boot protocol's 64-bit entry. */
#include <errno.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/log.h"

#define HDRS_OFF 0x202

int bzimage_probe(const uint8_t *img, size_t size)
{
	return size >= HDRS_OFF + 4 && memcmp(img + HDRS_OFF, "HdrS", 4) == 0;
}

int bzimage_load(struct vm *vm, const uint8_t *img, size_t size, const struct boot_args *a,
		 struct boot_state *st)
{
	(void)vm, (void)img, (void)size, (void)st;
	log_error("%s: a bzImage: not loaded yet (boot it through its vmlinux's PVH entry)", a->kernel_path);
	return -ENOEXEC;
}
