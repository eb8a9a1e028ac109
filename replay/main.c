/* ttvm's main(): the command table.
 *
 * Here, at the top of the folders' dependency order (devices, storage <
 * core < record < replay), because it names every command: `ttvm run`
 * (core), `ttvm record` (record/record_cmd.h), `ttvm replay`
 * (replay/replay_cmd.h) and `ttvm inspect` (storage/inspect.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/loader.h"
#include "core/log.h"
#include "core/probe.h"
#include "core/run.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/record_cmd.h"
#include "record/rr.h"
#include "replay/replay_cmd.h"
#include "core/tsc.h"
#include "version.h"
#if __has_include("storage/inspect.h")
#include "storage/inspect.h"
#define HAVE_INSPECT 1
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ttvm run [options] KERNEL     run a guest\n"
		"       ttvm record -o TRACE [--checkpoint-interval SEC] [-q] [options] KERNEL\n"
		"                                     run a guest and record it\n"
		"       ttvm replay [--serial FILE] [--from EVENT] [-q] TRACE\n"
		"                                     re-execute a recording exactly\n"
#ifdef HAVE_INSPECT
		"       ttvm inspect [options] TRACE  summarize or list a recorded trace\n"
#endif
		"       ttvm --version                version and the host's KVM flavour\n"
		"       ttvm --help\n"
		"\n"
		"run options:\n");
	cli_run_usage(f);
	fprintf(f, "\n"
		"exit status: (V<<1)|1 when the guest writes V to the debug-exit port 0xf4;\n"
		"  2 usage or unusable input, 4 host error, 64 triple fault, 66 guest reset,\n"
		"  68 KVM internal/emulation error, 70 halted forever, 72 timeout,\n"
		"  74 --strict stop, 76 replay diverged, 78 unreadable trace, 80 SIGINT/SIGTERM\n");
}

static int print_version(void)
{
	enum kvm_flavour f = kvm_probe_flavour();
	printf("ttvm %s\n", TTVM_VERSION);
	int fd = open(kvm_device_path(), O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("kvm: unavailable (%s: %s)\n", kvm_device_path(), kvm_unusable_reason(errno));
		return 0;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	int sync = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	int umsr = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR);
	int mfilter = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER);
	const char *why;
	enum tsc_method m = tsc_choose_method(fd, f, &why);
	struct kvm_debug_caps dc;
	kvm_probe_debug(fd, &dc);
	close(fd);
	printf("kvm: %s\n", kvm_flavour_name(f));
	printf("kvm api: %d, sync regs: %s, interrupts: injected by ttvm (no in-kernel irqchip)\n",
	       api, sync > 0 ? "yes" : "no");
	printf("rdtsc trap: %s (%s)\n", tsc_method_name(m), why);
	printf("msr exits: %s\n", umsr > 0 && mfilter > 0
					  ? "yes (RDMSR of IA32_TSC/TSC_ADJUST logged, kvmclock/PMU MSRs refused: core/msr.h)"
					  : "no (KVM answers every MSR: RDMSR of the TSC is not logged)");
	printf("guest debugging (probed): single step %s, hardware breakpoints: execution %s, data %s, patch traps "
	       "(HLT at CPL0) %s\n",
	       dc.step ? "yes" : "no", dc.exec ? "yes" : "no", dc.data ? "yes" : "no", dc.patch ? "yes" : "no");
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct run_config cfg;
	struct vm vm;
	int status;

	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	status = cli_parse_run(argc, argv, &cfg);
	if (status == -1) {
		usage(stdout);
		status = 0;
	} else if (status == 0 && (status = cli_boot(&cfg, &vm, NULL, NULL)) == 0) {
		status = vm_run(&vm);
	}
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	cli_free_run(&cfg);
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
	if (!strcmp(cmd, "record"))
		return record_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return replay_main(argc - 1, argv + 1);
#ifdef HAVE_INSPECT
	if (!strcmp(cmd, "inspect")) {
		inspect_set_meanings(&(struct inspect_meanings){ .ckpt_guest_ns = rr_ckpt_guest_ns,
							   .crash_name = record_crash_name });
		return inspect_main(argc - 1, argv + 1);
	}
#endif
	log_error("unknown command '%s' (see ttvm --help)", cmd);
	return ST_USAGE;
}
