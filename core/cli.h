/* The options shared by `ttvm run`, `ttvm record` and `ttvm replay`: parsing
 * them and booting a VM from them. */
#ifndef TTVM_CORE_CLI_H
#define TTVM_CORE_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loader.h"
#include "core/vm.h"

struct run_config {
	struct vm_options vo;
	const char *kernel;
	const char *append;
	const char **modules;
	size_t nmodules;
	bool flat;
	uint64_t flat_addr;
};

/* Parse run options (argv[0] is the command's name).  0 when cfg is ready,
 * -1 when --help was printed, or ST_USAGE after a one-line error. */
int cli_parse_run(int argc, char **argv, struct run_config *cfg);
void cli_free_run(struct run_config *cfg);
/* Read the kernel (through read, or the file when read is NULL), create the
 * VM and load the guest.  0, or the exit status to end with (message printed). */
int cli_boot(const struct run_config *cfg, struct vm *vm, image_read_fn read, void *ctx);
/* Print the options part of --help. */
void cli_run_usage(FILE *f);

#endif
