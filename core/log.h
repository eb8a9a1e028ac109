/* Leveled, printf-checked logging to stderr; quiet by default. */
#ifndef TTVM_CORE_LOG_H
#define TTVM_CORE_LOG_H
#include <stdio.h>

extern int ttvm_verbosity; /* 0 = errors only, 1 = -v, 2 = -vv */

#define log_error(...) (fprintf(stderr, "ttvm: " __VA_ARGS__), fputc('\n', stderr))
#define log_info(...)                                                        \
	do {                                                                     \
		if (ttvm_verbosity >= 1) {                                           \
			fprintf(stderr, "ttvm: " __VA_ARGS__);                           \
			fputc('\n', stderr);                                             \
		}                                                                    \
	} while (0)
#define log_debug(...)                                                       \
	do {                                                                     \
		if (ttvm_verbosity >= 2) {                                           \
			fprintf(stderr, "ttvm: " __VA_ARGS__);                           \
			fputc('\n', stderr);                                             \
		}                                                                    \
	} while (0)

#endif
