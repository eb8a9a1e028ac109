/* The status line (core/status.h) with stderr on a pipe: when it is drawn,
 * what a draw and an erase write, that a log line erases it first, that it
 * is cut to the width, and the number formats. */
#include <fcntl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"
#include "testlib.h"

static int saved_err = -1, pipe_rd = -1;
static char got[4096];

/* stderr to a fresh pipe until end_capture(). */
static void capture(void)
{
	int p[2];

	fflush(stderr);
	if (pipe(p))
		return;
	saved_err = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	pipe_rd = p[0];
	fcntl(pipe_rd, F_SETFL, O_NONBLOCK);
}

/* Back to the real stderr; what was written is in got. */
static const char *end_capture(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	n = read(pipe_rd, got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = 0;
	close(pipe_rd);
	return got;
}

static int calls;
static const char *text = "rec: 1 thing";

static void line(void *ctx, uint64_t now_ns, uint64_t start_ns, char *buf, size_t len)
{
	(void)ctx;
	calls++;
	snprintf(buf, len, "%s", text);
	CHECK_EQ(start_ns, 1000);
	CHECK(now_ns >= start_ns + STATUS_DELAY_NS);
}

static void test_timing(void)
{
	calls = 0;
	capture();
	status_begin(line, NULL, 1000);
	status_poll(1000 + STATUS_DELAY_NS - 1); /* short runs: nothing */
	const char *s = end_capture();
	CHECK_EQ(strlen(s), 0);
	CHECK_EQ(calls, 0);

	capture();
	status_poll(1000 + STATUS_DELAY_NS);
	status_poll(1000 + STATUS_DELAY_NS + STATUS_PERIOD_NS - 1); /* not again within a period */
	s = end_capture();
	CHECK(!strcmp(s, "\rrec: 1 thing\033[K"));
	CHECK_EQ(calls, 1);
	CHECK(ttvm_status_shown);

	capture();
	status_poll(1000 + STATUS_DELAY_NS + STATUS_PERIOD_NS);
	status_end();
	s = end_capture();
	CHECK(!strcmp(s, "\rrec: 1 thing\033[K\r\033[K"));
	CHECK_EQ(calls, 2);
}

static void test_log_erases(void)
{
	capture();
	status_begin(line, NULL, 1000);
	status_poll(1000 + STATUS_DELAY_NS);
	log_error("first %d", 1);
	log_error("second");
	const char *s = end_capture();
	CHECK(!strcmp(s, "\rrec: 1 thing\033[K\r\033[Kttvm: first 1\nttvm: second\n"));
	CHECK(!ttvm_status_shown);

	/* status_end erases a shown line, and nothing is drawn after it. */
	capture();
	status_poll(1000 + STATUS_DELAY_NS + STATUS_PERIOD_NS);
	status_end();
	status_poll(UINT64_MAX - 1);
	status_end();
	s = end_capture();
	CHECK(!strcmp(s, "\rrec: 1 thing\033[K\r\033[K"));
	CHECK_EQ(ttvm_status_due, UINT64_MAX);
}

static void test_width(void)
{
	static char longer[300];

	memset(longer, 'x', sizeof(longer) - 1);
	text = longer;
	capture();
	status_begin(line, NULL, 1000);
	status_poll(1000 + STATUS_DELAY_NS);
	status_end();
	const char *s = end_capture();
	/* A pipe has no width: 80 columns, the line cut to 79. */
	CHECK_EQ(strlen(s), 1 + 79 + 3 + 4);
	CHECK(s[0] == '\r' && s[79] == 'x' && s[80] == '\033');
	text = "rec: 1 thing";
}

static void test_wanted(void)
{
	CHECK(!status_wanted(true));
	capture(); /* stderr a pipe: not a terminal */
	bool w = status_wanted(false);
	end_capture();
	CHECK(!w);
}

static void test_formats(void)
{
	char b[32];

	status_count(b, sizeof(b), 9999);
	CHECK(!strcmp(b, "9999"));
	status_count(b, sizeof(b), 12345);
	CHECK(!strcmp(b, "12.3k"));
	status_count(b, sizeof(b), 4560000);
	CHECK(!strcmp(b, "4.56M"));
	status_bytes(b, sizeof(b), 512);
	CHECK(!strcmp(b, "512 B"));
	status_bytes(b, sizeof(b), 300 * 1024);
	CHECK(!strcmp(b, "300 kB"));
	status_bytes(b, sizeof(b), 12u * 1024 * 1024 + 300 * 1024);
	CHECK(!strcmp(b, "12.3 MB"));
}

int main(void)
{
	RUN_TEST(test_timing);
	RUN_TEST(test_log_erases);
	RUN_TEST(test_width);
	RUN_TEST(test_wanted);
	RUN_TEST(test_formats);
	return TEST_EXIT();
}
