/* hello (hello32 when built with -m32): prints a greeting and what the loader passed in the multiboot
 * info: command line, modules (name, size, first line of the contents) and
 * the memory map.  If the command line holds "mib=N", checks that the map's
 * usable RAM is plausible for an N MiB guest. */
#include "rt/rt.h"

static const char *mmap_type(uint32_t t)
{
	switch (t) {
	case 1: return "available";
	case 2: return "reserved";
	case 3: return "acpi";
	case 4: return "nvs";
	case 5: return "bad";
	default: return "other";
	}
}

#ifndef __x86_64__
static volatile uint32_t softints;

static void on_softint(struct rt_frame *f)
{
	(void)f;
	softints++;
}
#endif

/* Print the first line of a module, at most 60 characters. */
static void print_first_line(const char *p, const char *end)
{
	int n = 0;
	for (; p < end && *p != '\n' && *p && n < 60; p++, n++)
		serial_putc(*p >= ' ' && *p < 127 ? *p : '.');
}

int main(uint32_t magic, struct mb_info *mbi)
{
	const char *cmdline = "";

	rt_printf("Hello from the ttvm test guest!\n");
	rt_printf("multiboot flags: 0x%x\n", mbi->flags);
	if (mbi->flags & MB_INFO_CMDLINE)
		cmdline = (const char *)(uintptr_t)mbi->cmdline;
	rt_printf("cmdline: [%s]\n", cmdline);
	if (mbi->flags & MB_INFO_LOADER_NAME)
		rt_printf("boot loader: %s\n", (const char *)(uintptr_t)mbi->boot_loader_name);
	if (mbi->flags & MB_INFO_MEM)
		rt_printf("mem_lower: %u KiB, mem_upper: %u KiB\n", mbi->mem_lower, mbi->mem_upper);

	uint32_t nmods = (mbi->flags & MB_INFO_MODS) ? mbi->mods_count : 0;
	rt_printf("modules: %u\n", nmods);
	const struct mb_module *mods = (const struct mb_module *)(uintptr_t)mbi->mods_addr;
	for (uint32_t i = 0; i < nmods; i++) {
		const struct mb_module *m = &mods[i];
		const char *name = m->string ? (const char *)(uintptr_t)m->string : "";
		rt_printf("module %u: start 0x%x end 0x%x size %u name [%s]\n", i, m->mod_start,
			  m->mod_end, m->mod_end - m->mod_start, name);
		if (m->mod_start & 0xfff)
			rt_fail("module %u is not page-aligned (header flag 0 asks for it)", i);
		if (m->mod_end < m->mod_start)
			rt_fail("module %u ends before it starts", i);
		rt_printf("module %u data: ", i);
		print_first_line((const char *)(uintptr_t)m->mod_start,
				 (const char *)(uintptr_t)m->mod_end);
		serial_putc('\n');
	}

	uint64_t usable = 0;
	int covers_kernel = 0;
	if (mbi->flags & MB_INFO_MMAP) {
		uintptr_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
		while (p < end) {
			const struct mb_mmap *e = (const struct mb_mmap *)p;
			rt_printf("mmap: base 0x%llx length 0x%llx %s\n", (unsigned long long)e->addr,
				  (unsigned long long)e->len, mmap_type(e->type));
			if (e->type == 1) {
				usable += e->len;
				if (e->addr <= 0x100000 && e->addr + e->len >= 0x200000)
					covers_kernel = 1;
			}
			p += e->size + 4;
			if (e->size < 20)
				rt_fail("mmap entry size %u < 20", e->size);
		}
		rt_printf("mmap usable: %llu KiB\n", (unsigned long long)(usable >> 10));
	} else {
		rt_printf("no memory map\n");
	}

	unsigned long mib = cmdline_num(cmdline, "mib", 0);
	if (mib) {
		/* Usable RAM must fit in the guest size and may lose at most
		 * the legacy hole plus a few MiB to firmware-ish reservations. */
		uint64_t want = (uint64_t)mib << 20;
		if (!(mbi->flags & MB_INFO_MMAP))
			rt_fail("mib=%lu given but no memory map", mib);
		if (usable > want || usable + (8u << 20) < want)
			rt_fail("usable RAM %llu KiB does not fit mib=%lu", (unsigned long long)(usable >> 10), mib);
		if (!covers_kernel)
			rt_fail("no available region covers 1-2 MiB");
		rt_printf("mmap check: ok for %lu MiB\n", mib);
	}
#ifndef __x86_64__
	/* hello32: one software interrupt, returning through a 32-bit IRET
	 * (what PVM's emulator cannot do). */
	rt_set_handler(0x30, on_softint);
	__asm__ volatile("int $0x30" ::: "memory");
	if (softints != 1)
		rt_fail("int $0x30 handler ran %u times", softints);
	rt_printf("hello32: int $0x30 returned through IRET\n");
#endif
	(void)magic;
	rt_printf("hello: done\n");
	return RT_EXIT_OK;
}
