/* VM lifecycle: /dev/kvm, guest RAM, the vCPU, CPUID policy and devices. */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/clock.h"
#include "core/bzimage_kernel.h"
#include "core/cpuid.h"
#include "core/log.h"
#include "core/msr.h"
#include "core/outstream.h"
#include "devices/cmos.h"
#include "devices/debugexit.h"
#include "devices/fwcfg.h"
#include "devices/i8042.h"
#include "devices/misc.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/apic.h"
#include "devices/ioapic.h"
#include "devices/pit.h"
#include "devices/uart.h"
#include "core/tsc.h"

/* Where KVM on VMX wants its real-mode TSS and identity page table: the top
 * of the 32-bit space, below the BIOS area, as other monitors place them. */
#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDMAP_ADDR 0xfffbc000ull

static void dev_stop_cb(void *opaque, enum dev_stop_reason why, int status)
{
	struct vm *vm = opaque;

	if (why == DEV_STOP_DEBUG_EXIT)
		vm_request_stop(vm, status, "guest wrote %d to the debug-exit port: exit status %d",
				(status - 1) / 2, status & 0xff);
	else
		vm_request_stop(vm, ST_RESET, "guest requested a system reset");
}

/* Linux ends a panic with this line, then spins with interrupts off (or
 * reboots after panic= seconds): the run ends at the line instead, so that a
 * recording of a crash stops at the crash. */
#define LINUX_PANIC_END "---[ end Kernel panic - not syncing: "

static void watch_line(struct vm *vm, uint8_t byte)
{
	if (byte != '\n') {
		if (vm->line_len < sizeof(vm->line) - 1)
			vm->line[vm->line_len++] = (char)byte;
		return;
	}
	vm->line[vm->line_len] = 0;
	vm->line_len = 0;
	const char *p = strstr(vm->line, LINUX_PANIC_END);
	if (!p)
		return;
	p += strlen(LINUX_PANIC_END);
	size_t n = strcspn(p, "\r");
	if (n >= 5 && strncmp(p + n - 5, " ]---", 5) == 0)
		n -= 5;
	vm_request_stop(vm, ST_PANIC, "guest kernel panic: %.*s", (int)n, p);
}

static void uart_tx_cb(void *opaque, uint8_t byte)
{
	struct vm *vm = opaque;

	status_hide_for(vm->serial_out); /* the guest's output and ttvm's status line may share a terminal */
	fputc(byte, vm->serial_out);
	if (byte == '\n')
		fflush(vm->serial_out);
	watch_line(vm, byte);
}

/* An ISA interrupt line as a PC wires it: to the 8259A's input irq and,
 * with the APIC, to the IOAPIC's pin irq, except IRQ0 (the PIT), which is
 * pin 2 (pin 0 carries the 8259A's INTR), as the MP table says. */
static void isa_irq_fn(void *opaque, unsigned irq, int level)
{
	struct vm *vm = opaque;

	pic_set_irq(vm->pic, irq, level);
	if (vm->ioapic)
		ioapic_set_irq(vm->ioapic, irq == 0 ? 2 : irq, level);
}

static bool ioapic_send_cb(void *opaque, uint8_t vector, bool level, uint8_t dest, bool logical)
{
	return apic_deliver(opaque, vector, level, dest, logical);
}

static void apic_eoi_cb(void *opaque, uint8_t vector)
{
	ioapic_eoi(opaque, vector);
}

static int create_apic(struct vm *vm)
{
	int r;

	vm->apic = apic_new(vm->clock);
	if (!vm->apic)
		return -ENOMEM;
	vm->ioapic = ioapic_new(ioapic_send_cb, vm->apic);
	if (!vm->ioapic)
		return -ENOMEM;
	apic_set_eoi_sink(vm->apic, apic_eoi_cb, vm->ioapic);
	vm->apic_mmio_base = APIC_DEFAULT_ADDR;
	if ((r = apic_attach(vm->apic, vm->bus, APIC_DEFAULT_ADDR)) ||
	    (r = ioapic_attach(vm->ioapic, vm->bus, IOAPIC_DEFAULT_ADDR)))
		return r;
	return 0;
}

static int create_devices(struct vm *vm)
{
	struct dev_stop stop = { dev_stop_cb, vm };
	int r;

	vm->bus = bus_new();
	vm->clock = clock_new_host();
	vm->pic = pic_new();
	if (!vm->bus || !vm->clock || !vm->pic)
		return -ENOMEM;
	if (vm->opt.apic && (r = create_apic(vm)))
		return r;
	struct irq_line irq0 = { isa_irq_fn, vm, 0 };
	struct irq_line irq4 = { isa_irq_fn, vm, 4 };
	vm->pit = pit_new(vm->clock, irq0);
	vm->uart = uart_new(irq4, uart_tx_cb, vm);
	vm->cmos = cmos_new(vm->clock, vm->ram_size);
	vm->dbgexit = debugexit_new(stop);
	vm->kbd = i8042_new(stop);
	vm->pci = pci_new(stop);
	vm->fwcfg = fwcfg_new(vm->ram_size);
	if (!vm->pit || !vm->uart || !vm->cmos || !vm->dbgexit || !vm->kbd || !vm->pci || !vm->fwcfg)
		return -ENOMEM;
	if ((r = pic_attach(vm->pic, vm->bus)) || (r = pit_attach(vm->pit, vm->bus)) ||
	    (r = uart_attach(vm->uart, vm->bus, 0x3f8)) || (r = cmos_attach(vm->cmos, vm->bus)) ||
	    (r = debugexit_attach(vm->dbgexit, vm->bus, 0xf4, 4)) ||
	    (r = i8042_attach(vm->kbd, vm->bus)) || (r = pci_attach(vm->pci, vm->bus)) ||
	    (r = port80_attach(vm->bus)) || (r = fwcfg_attach(vm->fwcfg, vm->bus)))
		return r;
	return 0;
}

static int open_serial(struct vm *vm)
{
	struct stat st;

	if (vm->opt.serial_out) {
		/* A regular file is never interrupted (and gdb's tests seek
		 * in it); a FIFO, terminal or device may block. */
		if (stat(vm->opt.serial_out, &st) == 0 && !S_ISREG(st.st_mode))
			vm->serial_out = out_open(vm->opt.serial_out);
		else
			vm->serial_out = fopen(vm->opt.serial_out, "w");
		if (!vm->serial_out) {
			log_error("cannot open serial output %s: %s", vm->opt.serial_out, strerror(errno));
			return -errno;
		}
	} else {
		vm->serial_out = out_stdout();
	}
	vm->serial_in_fd = -1;
	if (vm->opt.serial_in) {
		vm->serial_in_fd = open(vm->opt.serial_in, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (vm->serial_in_fd < 0) {
			log_error("cannot open serial input %s: %s", vm->opt.serial_in, strerror(errno));
			return -errno;
		}
	} else if (!vm->opt.no_serial_in && !isatty(STDIN_FILENO)) {
		vm->serial_in_fd = dup(STDIN_FILENO);
		if (vm->serial_in_fd >= 0)
			fcntl(vm->serial_in_fd, F_SETFL, fcntl(vm->serial_in_fd, F_GETFL) | O_NONBLOCK);
	}
	return 0;
}

static int set_mem_region(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = vm->dirty_logging ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_options *opt)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->opt = *opt;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	vm->serial_in_fd = -1;
	vm->flavour = kvm_probe_flavour();

	vm->kvm_fd = open(kvm_device_path(), O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = -errno;
		log_error("cannot use %s: %s; %s", kvm_device_path(), kvm_unusable_reason(errno),
			  KVM_MISSING_HINT);
		return r;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		log_error("%s speaks an unexpected KVM API version", kvm_device_path());
		return -ENOTSUP;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		r = -errno;
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		return r;
	}
	/* Needed for real mode on VMX without unrestricted guest; harmless elsewhere. */
	if (vm->flavour == KVM_FLAVOUR_VMX) {
		uint64_t idmap = KVM_IDMAP_ADDR;
		if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
			log_info("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
			log_info("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
	}

	vm->ram_size = opt->mem_bytes;
	vm->low_size = vm->ram_size < VM_PCI_HOLE_START ? vm->ram_size : VM_PCI_HOLE_START;
	vm->high_size = vm->ram_size - vm->low_size;
	/* MAP_NORESERVE: pages are only touched when the guest uses them, so
	 * start-up cost does not grow with -m. */
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		log_error("cannot allocate %llu MiB of guest RAM: %s",
			  (unsigned long long)(vm->ram_size >> 20), strerror(errno));
		return -ENOMEM;
	}
	madvise(vm->ram, vm->ram_size, MADV_MERGEABLE);
	if ((r = set_mem_region(vm, 0, 0, vm->low_size, vm->ram)))
		return r;
	if (vm->high_size && (r = set_mem_region(vm, 1, VM_HIGH_START, vm->high_size, vm->ram + vm->low_size)))
		return r;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		r = -errno;
		log_error("KVM_CREATE_VCPU: %s", strerror(errno));
		return r;
	}
	int mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EIO;
	}
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		log_error("mmap of kvm_run: %s", strerror(errno));
		return -EIO;
	}

	struct kvm_cpuid2 *cpuid = vm->cpuid = cpuid_policy_table(vm->kvm_fd, opt->apic);
	if (!cpuid) {
		log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return -EIO;
	}
	r = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid);
	if (r < 0) {
		log_error("KVM_SET_CPUID2: %s", strerror(errno));
		return -EIO;
	}
	uint64_t apicbase = opt->apic ? APICBASE_ENABLED : APICBASE_DISABLED;
	if (vcpu_set_msr(vm, MSR_IA32_APICBASE, apicbase)) {
		log_error("KVM_SET_MSRS (IA32_APIC_BASE %#llx): %s", (unsigned long long)apicbase, strerror(errno));
		return -EIO;
	}
	/* KVM reports both after each KVM_RUN; until the first, as set here
	 * (core/irq.h reads them). */
	vm->run->apic_base = apicbase;
	vm->run->cr8 = 0;
	if ((r = msr_setup(vm, !opt->no_msr_filter)))
		return r;

	/* Registers through kvm_run: an exit that needs RIP (reports, and the
	 * record/replay fingerprints) then costs no extra ioctl. */
	int sync = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (sync > 0 && (sync & KVM_SYNC_X86_REGS)) {
		vm->sync_regs = true;
		vm->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
		if (sync & KVM_SYNC_X86_SREGS) {
			vm->sync_sregs = true;
			vm->run->kvm_valid_regs |= KVM_SYNC_X86_SREGS;
		}
	}
	log_info("host KVM: %s, sync regs %s", kvm_flavour_name(vm->flavour), vm->sync_regs ? "on" : "off");

	if ((r = open_serial(vm)))
		return r;
	if ((r = create_devices(vm))) {
		log_error("cannot create devices: %s", strerror(-r));
		return r;
	}
	return 0;
}

int vm_dirty_log_enable(struct vm *vm)
{
	uint64_t pages = vm->ram_size / 4096, groups = (pages + 63) / 64;
	int r;

	if (vm->dirty_logging)
		return 0;
	vm->dirty_bitmap = calloc(groups + 1, sizeof(uint64_t));
	vm->page_gen = calloc(pages + 1, sizeof(uint64_t));
	vm->group_gen = calloc(groups + 1, sizeof(uint64_t));
	if (!vm->dirty_bitmap || !vm->page_gen || !vm->group_gen)
		return -ENOMEM;
	vm->dirty_gen = 0;
	vm->dirty_logging = true;
	if ((r = set_mem_region(vm, 0, 0, vm->low_size, vm->ram)))
		return r;
	if (vm->high_size && (r = set_mem_region(vm, 1, VM_HIGH_START, vm->high_size, vm->ram + vm->low_size)))
		return r;
	return 0;
}

int vm_dirty_sync(struct vm *vm)
{
	uint64_t sizes[2] = { vm->low_size, vm->high_size }, base = 0;
	uint64_t gen = vm->dirty_gen + 1;

	if (!vm->dirty_logging || !vm->page_gen)
		return -EINVAL;
	/* One stamp per sync, taken even when nothing was dirty: a consumer
	 * that remembers it has then seen everything up to now. */
	vm->dirty_gen = gen;
	for (uint32_t slot = 0; slot < 2; slot++) {
		if (!sizes[slot])
			continue;
		uint64_t pages = sizes[slot] / 4096;
		struct kvm_dirty_log d = { .slot = slot, .dirty_bitmap = vm->dirty_bitmap };
		memset(vm->dirty_bitmap, 0, (size_t)((pages + 63) / 64) * 8);
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
			return -errno;
		for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
			uint64_t bits = vm->dirty_bitmap[w];
			while (bits) {
				uint64_t i = base + w * 64 + (unsigned)__builtin_ctzll(bits);
				bits &= bits - 1;
				vm->page_gen[i] = gen;
				vm->group_gen[i / 64] = gen;
			}
		}
		base += pages;
	}
	return 0;
}

void vm_mark_pages_written(struct vm *vm, uint64_t first_page, uint64_t n)
{
	uint64_t pages = vm->ram_size / 4096;

	if (!vm->page_gen || first_page >= pages)
		return;
	if (n > pages - first_page)
		n = pages - first_page;
	uint64_t gen = ++vm->dirty_gen;
	for (uint64_t i = first_page; i < first_page + n; i++) {
		vm->page_gen[i] = gen;
		vm->group_gen[i / 64] = gen;
	}
}

uint64_t vm_pages_changed_since(struct vm *vm, uint64_t gen,
				void (*fn)(void *ctx, uint64_t page_index), void *ctx)
{
	uint64_t pages = vm->ram_size / 4096, n = 0;

	if (!vm->page_gen)
		return 0;
	for (uint64_t g = 0; g < (pages + 63) / 64; g++) {
		if (vm->group_gen[g] <= gen)
			continue;
		uint64_t end = g * 64 + 64 < pages ? g * 64 + 64 : pages;
		for (uint64_t i = g * 64; i < end; i++) {
			if (vm->page_gen[i] > gen) {
				n++;
				if (fn)
					fn(ctx, i);
			}
		}
	}
	return n;
}

void vm_destroy(struct vm *vm)
{
	free(vm->cpuid);
	free(vm->copies);
	vm->copies = NULL;
	vm->ncopies = 0;
	free(vm->text_sites);
	vm->text_sites = NULL;
	vm->ntext_sites = 0;
	free(vm->dirty_bitmap);
	free(vm->page_gen);
	free(vm->group_gen);
	if (vm->serial_out && vm->serial_out != out_stdout())
		fclose(vm->serial_out);
	else if (vm->serial_out)
		fflush(vm->serial_out);
	if (vm->serial_in_fd >= 0)
		close(vm->serial_in_fd);
	tsc_table_free(vm->tsc);
	bzk_free(vm->bzk);
	fwcfg_free(vm->fwcfg);
	pci_free(vm->pci);
	i8042_free(vm->kbd);
	debugexit_free(vm->dbgexit);
	cmos_free(vm->cmos);
	uart_free(vm->uart);
	pit_free(vm->pit);
	pic_free(vm->pic);
	apic_free(vm->apic);
	ioapic_free(vm->ioapic);
	bus_free(vm->bus);
	if (vm->clock)
		clock_free(vm->clock);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->serial_in_fd = -1;
}

