/* The status line: while a `ttvm record` or `ttvm replay` runs longer than
 * STATUS_DELAY_NS, one line on stderr, redrawn in place (\r, the text,
 * clear to end of line) at most every STATUS_PERIOD_NS, when stderr is a
 * terminal and the user did not ask for --quiet.
 *
 * Every other message to the terminal erases it first: the log macros
 * (core/log.h), the guest's serial output to a terminal stdout (core/vm.c)
 * and the trace store's messages (storage/trace.h's trace_msg_hook, which
 * the recorder points at status_erase).  It is drawn again at the next
 * period.
 *
 * Cost to the run loop: status_poll() is one comparison with a time the
 * caller already has (the record loop's virtual clock, replay's coarse
 * clock read once per guest exit); the line is composed and written at
 * most 4 times a second.  Single-threaded: the vCPU thread draws and logs. */
#ifndef TTVM_CORE_STATUS_H
#define TTVM_CORE_STATUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/outstream.h"

/* The first line appears after this long (short runs show none) ... */
#define STATUS_DELAY_NS 1000000000ull
/* ... and is redrawn at most this often. */
#define STATUS_PERIOD_NS 250000000ull

/* Compose the line into buf (len bytes, NUL-terminated; it is cut to the
 * terminal's width).  now_ns and start_ns are on the caller's clock. */
typedef void (*status_fn)(void *ctx, uint64_t now_ns, uint64_t start_ns, char *buf, size_t len);

/* The line is on the terminal now (read by status_hide()). */
extern bool ttvm_status_shown;
/* The time of the next draw on the caller's clock; UINT64_MAX while off. */
extern uint64_t ttvm_status_due;

/* May a status line be shown: stderr is a terminal (and TERM is not
 * "dumb", which has no clear to end of line) and quiet is false? */
bool status_wanted(bool quiet);
/* Start the line: fn composes it; now_ns on a monotonic clock of the
 * caller's choice, the one every later status_poll() uses. */
void status_begin(status_fn fn, void *ctx, uint64_t now_ns);
/* Stop drawing and erase the line; harmless when not begun. */
void status_end(void);
/* Draw the line now (status_poll() calls it when due). */
void status_draw(uint64_t now_ns);
/* Erase the line from the terminal (it comes back at the next draw). */
void status_erase(void);

/* At the run loop's pace: draws when due. */
static inline void status_poll(uint64_t now_ns)
{
	if (now_ns >= ttvm_status_due)
		status_draw(now_ns);
}

/* Before other output to stderr. */
static inline void status_hide(void)
{
	if (ttvm_status_shown)
		status_erase();
}

/* stdout is a terminal (known from status_begin() on). */
extern bool ttvm_status_stdout_tty;

/* Before output to f (per byte of guest output: one load when off):
 * erases the line when f is stdout on a terminal. */
static inline void status_hide_for(FILE *f)
{
	if (ttvm_status_shown && (f == stdout || f == out_stdout()) && ttvm_status_stdout_tty)
		status_erase();
}

/* "12.3k", "4.56M": n with a metric suffix, into buf. */
void status_count(char *buf, size_t len, double n);
/* "12.3 MB": a byte count, into buf. */
void status_bytes(char *buf, size_t len, uint64_t n);

#endif
