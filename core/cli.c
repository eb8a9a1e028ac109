#include "core/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bzimage_kernel.h"
#include "core/log.h"
#include "core/mptable.h"
#include "core/tsc.h"

#define MIN_MEM_MIB 2
#define MAX_MEM_MIB (1024 * 1024)

void cli_run_usage(FILE *f)
{
	fprintf(f,
		"  -m, --memory MIB      guest RAM in MiB (default 256)\n"
		"      --append STR      kernel command line (multiboot, Linux)\n"
		"      --initrd FILE     multiboot module, or Linux initrd (repeatable: concatenated)\n"
		"      --flat ADDR       KERNEL is a raw binary: load it at ADDR, start in real mode\n"
		"      --serial FILE     guest serial output to FILE (default stdout)\n"
		"      --serial-in FILE  guest serial input from FILE (default stdin unless a terminal)\n"
		"      --timeout SEC     stop the guest after SEC seconds (status 72)\n"
		"      --strict          stop at the first access to an unknown port or MMIO address\n"
		"      --apic            give the guest a local APIC, an IOAPIC and an MP table\n"
		"      --no-apic         the APIC hidden, interrupts from the 8259A only (default)\n"
		"  -v, --verbose         report unknown ports, devices and KVM details (-vv: more)\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_run(int argc, char **argv, struct run_config *cfg)
{
	enum { OPT_APPEND = 256, OPT_INITRD, OPT_FLAT, OPT_SERIAL, OPT_SERIAL_IN, OPT_TIMEOUT, OPT_STRICT, OPT_APIC, OPT_NO_APIC };
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "flat", required_argument, NULL, OPT_FLAT },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "serial-in", required_argument, NULL, OPT_SERIAL_IN },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "apic", no_argument, NULL, OPT_APIC },
		{ "no-apic", no_argument, NULL, OPT_NO_APIC },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mib;
	char *endp;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->vo.mem_bytes = 256ull << 20;
	cfg->modules = calloc((size_t)argc + 1, sizeof(*cfg->modules));
	if (!cfg->modules)
		return ST_HOST;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_u64(optarg, &mib) || mib < MIN_MEM_MIB || mib > MAX_MEM_MIB) {
				log_error("-m %s: guest memory must be %d to %d MiB", optarg, MIN_MEM_MIB, MAX_MEM_MIB);
				return ST_USAGE;
			}
			cfg->vo.mem_bytes = mib << 20;
			break;
		case OPT_APPEND: cfg->append = optarg; break;
		case OPT_INITRD: cfg->modules[cfg->nmodules++] = optarg; break;
		case OPT_FLAT:
			if (parse_u64(optarg, &cfg->flat_addr)) {
				log_error("--flat %s: not an address", optarg);
				return ST_USAGE;
			}
			cfg->flat = true;
			break;
		case OPT_SERIAL: cfg->vo.serial_out = optarg; break;
		case OPT_SERIAL_IN: cfg->vo.serial_in = optarg; break;
		case OPT_TIMEOUT:
			cfg->vo.timeout_s = strtod(optarg, &endp);
			if (*endp || endp == optarg || !(cfg->vo.timeout_s > 0)) {
				log_error("--timeout %s: not a positive number of seconds", optarg);
				return ST_USAGE;
			}
			break;
		case OPT_STRICT: cfg->vo.strict = true; break;
		case OPT_APIC: cfg->vo.apic = true; break;
		case OPT_NO_APIC: cfg->vo.apic = false; break;
		case 'v': ttvm_verbosity++; break;
		case 'h': return -1;
		default:
			log_error("%s: bad option (see ttvm --help)", argv[0]);
			return ST_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("%s: expected exactly one KERNEL (see ttvm --help)", argv[0]);
		return ST_USAGE;
	}
	cfg->kernel = argv[optind];
	if (cfg->flat && cfg->nmodules) {
		log_error("--initrd needs a multiboot or Linux kernel, not --flat");
		return ST_USAGE;
	}
	return 0;
}

void cli_free_run(struct run_config *cfg)
{
	free(cfg->modules);
	cfg->modules = NULL;
}

int cli_boot(const struct run_config *cfg, struct vm *vm, image_read_fn read, void *ctx)
{
	struct boot_args mb = {
		.read = read, .read_ctx = ctx, .kernel_path = cfg->kernel, .cmdline = cfg->append,
		.modules = cfg->modules, .nmodules = cfg->nmodules,
	};
	struct boot_state st;
	uint8_t *img = NULL;
	size_t size;
	int status = ST_USAGE;

	if (read ? read(ctx, cfg->kernel, &img, &size) : loader_read_file(cfg->kernel, &img, &size))
		return ST_USAGE;
	enum { K_FLAT, K_MULTIBOOT, K_PVH, K_BZIMAGE } kind;
	if (cfg->flat)
		kind = K_FLAT;
	else if (multiboot_probe(img, size))
		kind = K_MULTIBOOT;
	else if (pvh_probe(img, size))
		kind = K_PVH;
	else if (bzimage_probe(img, size)) {
		/* Its header is checked before KVM is needed: a bad one is
		 * status 2 on every host. */
		struct bzimage_hdr h;
		kind = K_BZIMAGE;
		if (bzimage_parse(img, size, cfg->kernel, &h))
			goto out;
	}
	else {
		log_error("%s: not a kernel ttvm can boot (no multiboot v1 header in its first 8 KiB, "
			  "not an ELF with a PVH note, no bzImage setup header); use --flat ADDR for a raw binary",
			  cfg->kernel);
		goto out;
	}
	if (access(kvm_device_path(), F_OK) != 0) {
		log_error("no %s: this host does not offer KVM: %s; %s", kvm_device_path(),
			  kvm_unusable_reason(errno), KVM_MISSING_HINT);
		status = ST_HOST;
		goto out;
	}
	if (vm_create(vm, &cfg->vo)) {
		status = ST_HOST;
		goto out;
	}
	/* Before the image: a flat binary loaded over the BIOS area wins. */
	if (vm->apic && mptable_put(vm)) {
		status = ST_HOST;
		goto out;
	}
	if (kind == K_FLAT      ? flat_load(vm, img, size, cfg->flat_addr, &st)
	    : kind == K_PVH     ? pvh_load(vm, img, size, &mb, &st)
	    : kind == K_BZIMAGE ? bzimage_load(vm, img, size, &mb, &st)
				: multiboot_load(vm, img, size, &mb, &st))
		goto out;
	vm->linux_guest = kind == K_PVH || kind == K_BZIMAGE;

	if (loader_apply_state(vm, &st)) {
		log_error("cannot set the initial vCPU state: %s", strerror(errno));
		status = ST_HOST;
		goto out;
	}
	/* Here, so that run, record and replay execute the same patched code. */
	if (tsc_setup(vm)) {
		status = ST_HOST;
		goto out;
	}
	status = 0;
out:
	free(img);
	return status;
}
