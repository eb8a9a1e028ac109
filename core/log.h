/* Leveled, printf-checked logging to stderr; quiet by default.  Each
 * message erases the status line first (core/status.h), so that the two
 * never share a row of the terminal. */
#ifndef TTVM_CORE_LOG_H
#define TTVM_CORE_LOG_H
#include <stdio.h>

#include "core/status.h"

/* One -v per level: 0 = errors only; 1 = -v: log_info; 2 = -vv: log_debug;
 * 3 = -vvv: also check the record/replay memory digest against every page
 * at each look (slow: finds writes the dirty log missed); 4 = -vvvv: also
 * every page digest change and every exit and debug exit the replay engine
 * sees. */
extern int ttvm_verbosity;

#define log_error(...) (status_hide(), fprintf(stderr, "ttvm: " __VA_ARGS__), fputc('\n', stderr))
#define log_info(...)                                                        \
	do {                                                                     \
		if (ttvm_verbosity >= 1) {                                           \
			status_hide();                                                   \
			fprintf(stderr, "ttvm: " __VA_ARGS__);                           \
			fputc('\n', stderr);                                             \
		}                                                                    \
	} while (0)
#define log_debug(...)                                                       \
	do {                                                                     \
		if (ttvm_verbosity >= 2) {                                           \
			status_hide();                                                   \
			fprintf(stderr, "ttvm: " __VA_ARGS__);                           \
			fputc('\n', stderr);                                             \
		}                                                                    \
	} while (0)

#endif
