/* Runs inspect_main() as `ttvm inspect` would, until core/main.c exists;
 * with "--make-demo PATH" writes a small trace to inspect instead. */
#include <stdio.h>
#include <string.h>

#include "storage/checkpoint.h"
#include "storage/inspect.h"
#include "stest.h"

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--make-demo")) {
		uint64_t n = strtoull(argv[3], NULL, 0);
		return stest_write(argv[2], n, 0, 1) ? 1 : 0;
	}
	argv[0] = "inspect";
	return inspect_main(argc, argv);
}
