/* `ttvm inspect`: summary, --json, --events, --kind, incomplete and bad traces. */
#include <fcntl.h>
#include <unistd.h>

#include "storage/inspect.h"
#include "stest.h"
#include "testlib.h"

static char out[1 << 20];

/* Run inspect with argv (NULL-terminated), capture stdout into out. */
static int run(const char *const *args)
{
	return stest_inspect(args, out, sizeof(out));
}

#define HAS(s) CHECK(strstr(out, s) != NULL)

static void test_summary(void)
{
	const char *p = stest_path("a.trace");
	CHECK_EQ(stest_write(p, 1000, 0, 1), 0);
	CHECK_EQ(run((const char *[]){ p, NULL }), 0);
	HAS("state          complete");
	HAS("events         1001");
	HAS("pio_read");
	HAS("bytes/event");
	HAS("compression ratio");
	HAS("end            guest_exit, status 3");
	CHECK_EQ(run((const char *[]){ p, "--json", NULL }), 0);
	HAS("\"complete\": true");
	HAS("\"events\": 1001");
	HAS("\"cmdline\": \"ttvm record test\"");
	HAS("\"end\": {\"reason\": \"guest_exit\"");
}

static void test_events(void)
{
	const char *p = stest_path("b.trace");
	CHECK_EQ(stest_write(p, 1000, 0, 1), 0);
	CHECK_EQ(run((const char *[]){ p, "--events", "10:12", NULL }), 0);
	HAS("        10  exit");
	HAS("        11  exit");
	CHECK(strstr(out, "        12  exit") == NULL);
	CHECK_EQ(run((const char *[]){ p, "--events", "990:", "--kind", "end", "--json", NULL }), 0);
	HAS("\"kind\": \"end\"");
	CHECK(strstr(out, "rdtsc") == NULL);
	CHECK_EQ(run((const char *[]){ p, "--kind", "rdtsc,irq", NULL }), 0);
	HAS(" rdtsc ");
	HAS(" irq ");
	CHECK(strstr(out, "pio_read") == NULL);
	/* RDRAND and RDSEED: their own kind, the instruction, value and CF. */
	CHECK_EQ(run((const char *[]){ p, "--kind", "rdrand", NULL }), 0);
	HAS(" rdrand     insn=rdrand value=0x");
	HAS(" rdrand     insn=rdseed value=0x");
	HAS(" cf=1");
	CHECK(strstr(out, " rdtsc ") == NULL);
	CHECK_EQ(run((const char *[]){ p, "--kind", "rdrand", "--json", NULL }), 0);
	HAS("\"kind\": \"rdrand\", \"insn\": \"rdseed\", \"value\": ");
	HAS("\"cf\": 0");
	CHECK_EQ(run((const char *[]){ p, "--events", NULL }), 0);
	HAS("      1000  exit");
	CHECK_EQ(run((const char *[]){ p, "--events", "5000", NULL }), 0);
}

static void test_incomplete(void)
{
	const char *p = stest_path("c.trace");
	CHECK_EQ(stest_write(p, 777, 0, 0), 0);
	CHECK_EQ(run((const char *[]){ p, NULL }), 0);
	HAS("INCOMPLETE: ends after event 776");
	HAS("end            none recorded");
	CHECK_EQ(run((const char *[]){ p, "--json", NULL }), 0);
	HAS("\"complete\": false");
	HAS("\"last_event\": 776");
}

static void test_errors(void)
{
	const char *p = stest_path("d.trace");
	FILE *f = fopen(p, "w");
	fputs("garbage", f);
	fclose(f);
	CHECK_EQ(run((const char *[]){ p, NULL }), 1);
	CHECK_EQ(run((const char *[]){ stest_path("missing"), NULL }), 1);
	CHECK_EQ(run((const char *[]){ NULL }), 2);
	CHECK_EQ(run((const char *[]){ p, "--kind", "bogus", NULL }), 2);
	CHECK_EQ(run((const char *[]){ p, "--events", "9:x", NULL }), 2);
	CHECK_EQ(run((const char *[]){ p, "--frobnicate", NULL }), 2);
	CHECK_EQ(run((const char *[]){ p, "--events", "9:3", NULL }), 2);
}

int main(void)
{
	RUN_TEST(test_summary);
	RUN_TEST(test_events);
	RUN_TEST(test_incomplete);
	RUN_TEST(test_errors);
	stest_cleanup();
	return TEST_EXIT();
}
