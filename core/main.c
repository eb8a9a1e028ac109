/* ttvm command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/loader.h"
#include "core/log.h"
#include "core/run.h"
#include "core/vm.h"
#include "version.h"
#if __has_include("storage/inspect.h")
#include "storage/inspect.h"
#define HAVE_INSPECT 1
#endif



#define MIN_MEM_MIB 2
#define MAX_MEM_MIB (1024 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ttvm run [options] KERNEL     run a guest\n"
#ifdef HAVE_INSPECT
		"       ttvm inspect [options] TRACE  summarize or list a recorded trace\n"
#endif
		"       ttvm --version                version and the host's KVM flavour\n"
		"       ttvm --help\n"
		"\n"
		"run options:\n"
		"  -m, --memory MIB      guest RAM in MiB (default 256)\n"
		"      --append STR      multiboot command line\n"
		"      --initrd FILE     multiboot module (repeatable)\n"
		"      --flat ADDR       KERNEL is a raw binary: load it at ADDR, start in real mode\n"
		"      --serial FILE     guest serial output to FILE (default stdout)\n"
		"      --serial-in FILE  guest serial input from FILE (default stdin unless a terminal)\n"
		"      --timeout SEC     stop the guest after SEC seconds (status 72)\n"
		"      --strict          stop at the first access to an unknown port or MMIO address\n"
		"  -v, --verbose         report unknown ports, devices and KVM details (-vv: more)\n"
		"\n"
		"exit status: (V<<1)|1 when the guest writes V to the debug-exit port 0xf4;\n"
		"  2 usage or unusable input, 4 host error, 64 triple fault, 66 guest reset,\n"
		"  68 KVM internal/emulation error, 70 halted forever, 72 timeout,\n"
		"  74 --strict stop, 80 SIGINT/SIGTERM\n");
}

static int print_version(void)
{
	enum kvm_flavour f = kvm_probe_flavour();
	printf("ttvm %s\n", TTVM_VERSION);
	int fd = open(kvm_device_path(), O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("kvm: unavailable (cannot open %s: %s)\n", kvm_device_path(), strerror(errno));
		return 0;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	int sync = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	close(fd);
	printf("kvm: %s\n", kvm_flavour_name(f));
	printf("kvm api: %d, sync regs: %s, interrupts: injected by ttvm (no in-kernel irqchip)\n",
	       api, sync > 0 ? "yes" : "no");
	return 0;
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

static int cmd_run(int argc, char **argv)
{
	enum { OPT_APPEND = 256, OPT_INITRD, OPT_FLAT, OPT_SERIAL, OPT_SERIAL_IN, OPT_TIMEOUT, OPT_STRICT };
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "flat", required_argument, NULL, OPT_FLAT },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "serial-in", required_argument, NULL, OPT_SERIAL_IN },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vm_options vo = { .mem_bytes = 256ull << 20 };
	struct multiboot_args mb = { 0 };
	const char **mods = calloc((size_t)argc, sizeof(*mods));
	uint64_t flat_addr = 0, mib;
	bool flat = false;
	int c, status = ST_USAGE;
	uint8_t *img = NULL;
	size_t img_size;
	struct vm vm;
	struct boot_state st;
	char *endp;

	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	if (!mods)
		return ST_HOST;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_u64(optarg, &mib) || mib < MIN_MEM_MIB || mib > MAX_MEM_MIB) {
				log_error("-m %s: guest memory must be %d to %d MiB", optarg, MIN_MEM_MIB, MAX_MEM_MIB);
				goto out;
			}
			vo.mem_bytes = mib << 20;
			break;
		case OPT_APPEND: mb.cmdline = optarg; break;
		case OPT_INITRD: mods[mb.nmodules++] = optarg; break;
		case OPT_FLAT:
			if (parse_u64(optarg, &flat_addr)) {
				log_error("--flat %s: not an address", optarg);
				goto out;
			}
			flat = true;
			break;
		case OPT_SERIAL: vo.serial_out = optarg; break;
		case OPT_SERIAL_IN: vo.serial_in = optarg; break;
		case OPT_TIMEOUT:
			vo.timeout_s = strtod(optarg, &endp);
			if (*endp || endp == optarg || !(vo.timeout_s > 0)) {
				log_error("--timeout %s: not a positive number of seconds", optarg);
				goto out;
			}
			break;
		case OPT_STRICT: vo.strict = true; break;
		case 'v': ttvm_verbosity++; break;
		case 'h': usage(stdout); status = 0; goto out;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc - 1) {
		log_error("run: expected exactly one KERNEL (see ttvm --help)");
		goto out;
	}
	mb.kernel_path = argv[optind];
	mb.modules = mods;
	if (flat && mb.nmodules) {
		log_error("--initrd needs a multiboot kernel, not --flat");
		goto out;
	}
	if (loader_read_file(mb.kernel_path, &img, &img_size))
		goto out;
	if (!flat && !multiboot_probe(img, img_size)) {
		log_error("%s: not a multiboot kernel (no multiboot v1 header in its first 8 KiB); "
			  "use --flat ADDR for a raw binary", mb.kernel_path);
		goto out;
	}
	if (access(kvm_device_path(), F_OK) != 0) {
		log_error("no %s: this host does not offer KVM", kvm_device_path());
		status = ST_HOST;
		goto out;
	}
	if (vm_create(&vm, &vo)) {
		status = ST_HOST;
		goto out;
	}
	if (flat ? flat_load(&vm, img, img_size, flat_addr, &st)
		 : multiboot_load(&vm, img, img_size, &mb, &st))
		goto out;
	if (loader_apply_state(&vm, &st)) {
		log_error("cannot set the initial vCPU state: %s", strerror(errno));
		status = ST_HOST;
		goto out;
	}
	free(img);
	img = NULL;
	status = vm_run(&vm);
out:
	free(img);
	free(mods);
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return ST_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version"))
		return print_version();
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
#ifdef HAVE_INSPECT
	if (!strcmp(cmd, "inspect"))
		return inspect_main(argc - 1, argv + 1);
#endif
	log_error("unknown command '%s' (see ttvm --help)", cmd);
	return ST_USAGE;
}
