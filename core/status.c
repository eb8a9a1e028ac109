#include "core/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

bool ttvm_status_shown;
bool ttvm_status_stdout_tty;
uint64_t ttvm_status_due = UINT64_MAX;

static status_fn line_fn;
static void *line_ctx;
static uint64_t line_start;

/* The width used when the terminal does not say (TIOCGWINSZ gives 0 columns). */
#define STATUS_DEFAULT_COLS 80
#define CLEAR_EOL "\033[K"

/* All of buf to stderr; a signal (the record loop's SIGALRM has no
 * SA_RESTART) or a full terminal does not garble the next message. */
static void put(const char *buf, size_t len)
{
	for (int tries = 0; len && tries < 16; tries++) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
			return;
		}
	}
}

bool status_wanted(bool quiet)
{
	const char *term = getenv("TERM");

	if (quiet || !isatty(STDERR_FILENO))
		return false;
	return !term || strcmp(term, "dumb") != 0;
}

void status_begin(status_fn fn, void *ctx, uint64_t now_ns)
{
	line_fn = fn;
	line_ctx = ctx;
	line_start = now_ns;
	ttvm_status_stdout_tty = isatty(STDOUT_FILENO);
	ttvm_status_due = now_ns + STATUS_DELAY_NS;
}

void status_end(void)
{
	status_hide();
	ttvm_status_due = UINT64_MAX;
	line_fn = NULL;
}

void status_draw(uint64_t now_ns)
{
	char line[512], out[sizeof(line) + 8];
	struct winsize ws;
	size_t cols = STATUS_DEFAULT_COLS, n;

	if (!line_fn) {
		ttvm_status_due = UINT64_MAX;
		return;
	}
	ttvm_status_due = now_ns + STATUS_PERIOD_NS;
	line[0] = 0;
	line_fn(line_ctx, now_ns, line_start, line, sizeof(line));
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	/* One column short of the width: a full row would wrap on some
	 * terminals, and \r then returns to the start of the second row. */
	n = strlen(line);
	if (n > cols - 1)
		n = cols - 1;
	out[0] = '\r';
	memcpy(out + 1, line, n);
	memcpy(out + 1 + n, CLEAR_EOL, sizeof(CLEAR_EOL) - 1);
	put(out, 1 + n + sizeof(CLEAR_EOL) - 1);
	ttvm_status_shown = true;
}

void status_erase(void)
{
	static const char clear[] = "\r" CLEAR_EOL;

	if (!ttvm_status_shown)
		return;
	ttvm_status_shown = false;
	/* Messages that went through stdio's stderr are written at once
	 * (unbuffered); stdout's complete lines were flushed by whoever
	 * wrote them (core/vm.c flushes the guest's at each newline). */
	put(clear, sizeof(clear) - 1);
}

void status_count(char *buf, size_t len, double n)
{
	if (n < 1e4)
		snprintf(buf, len, "%.0f", n);
	else if (n < 1e6)
		snprintf(buf, len, "%.1fk", n / 1e3);
	else if (n < 1e9)
		snprintf(buf, len, "%.2fM", n / 1e6);
	else
		snprintf(buf, len, "%.2fG", n / 1e9);
}

void status_bytes(char *buf, size_t len, uint64_t n)
{
	if (n < 10 * 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < 10ull * 1024 * 1024)
		snprintf(buf, len, "%.0f kB", n / 1024.0);
	else if (n < 10ull * 1024 * 1024 * 1024)
		snprintf(buf, len, "%.1f MB", n / (1024.0 * 1024));
	else
		snprintf(buf, len, "%.2f GB", n / (1024.0 * 1024 * 1024));
}
