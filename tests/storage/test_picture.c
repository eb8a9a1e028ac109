/* `ttvm inspect --timeline`: the picture is well-formed XML (checked by a
 * small parser here: no XML package needed), and its marks (checkpoints,
 * end reason, events per kind) match `ttvm inspect --json` of the same
 * trace; HTML, incomplete traces, escaping and bad input. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/checkpoint.h"
#include "storage/inspect.h"
#include "storage/picture.h"
#include "stest.h"
#include "testlib.h"

static char out[1 << 20];
static char json[1 << 20]; /* out of the last `inspect --json` */
static char pic[4 << 20];

/* stest_path() reuses 8 buffers, and run() takes one each time: a copy. */
#define PATH(var, name)            \
	char var[512];             \
	snprintf(var, sizeof(var), "%s", stest_path(name))

/* `inspect --json TRACE` into json. */
static int run_json(const char *trace);

/* Run inspect with args (NULL-terminated), stdout into out. */
static int run(const char *const *args)
{
	return stest_inspect(args, out, sizeof(out));
}

static int run_json(const char *trace)
{
	int rc = run((const char *[]){ trace, "--json", NULL });
	memcpy(json, out, sizeof(json));
	return rc;
}

static int load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(pic, 1, sizeof(pic) - 1, f);
	pic[n] = 0;
	fclose(f);
	return 0;
}

/* ---- a small XML well-formedness check ---- */

static int is_name(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

/* An entity reference at p ('&'): its length, 0 when not a valid one. */
static size_t entity(const char *p)
{
	static const char *const named[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	for (size_t i = 0; i < 5; i++)
		if (!strncmp(p, named[i], strlen(named[i])))
			return strlen(named[i]);
	if (p[1] == '#') {
		size_t n = 2;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		return n > 2 && p[n] == ';' ? n + 1 : 0;
	}
	return 0;
}

/* Characters: valid UTF-8, no control characters but tab and newline. */
static int chars_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		if (*p < 0x80) {
			if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
				return 0;
			p++;
			continue;
		}
		int n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0)
			return 0;
		for (int i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n + 1;
	}
	return 1;
}

/* 1 when s is one well-formed XML document (prolog and an HTML doctype
 * allowed): tags nest, attributes are quoted and unique, '&' and '<' only
 * where they belong.  Prints the first problem. */
static int xml_ok(const char *s)
{
	char stack[64][32], attrs[32][32];
	int depth = 0, roots = 0;
	const char *p = s;

	if (!chars_ok(s)) {
		fprintf(stderr, "xml: bad characters\n");
		return 0;
	}
#define BAD(why)                                                                 \
	do {                                                                     \
		fprintf(stderr, "xml: %s at byte %zu\n", why, (size_t)(p - s)); \
		return 0;                                                        \
	} while (0)
	while (*p) {
		if (*p != '<') {
			if (*p == '&') {
				size_t n = entity(p);
				if (!n)
					BAD("bare &");
				p += n;
				continue;
			}
			if (!depth && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
				BAD("text outside the root");
			if (*p == '>')
				BAD("bare >");
			p++;
			continue;
		}
		if (!strncmp(p, "<?", 2)) {
			if (p != s || !(p = strstr(p, "?>")))
				BAD("misplaced or open <?");
			p += 2;
			continue;
		}
		if (!strncmp(p, "<!--", 4)) {
			if (!(p = strstr(p + 4, "-->")))
				BAD("open comment");
			p += 3;
			continue;
		}
		if (!strncmp(p, "<!DOCTYPE", 9)) {
			if (roots || depth || !(p = strchr(p, '>')))
				BAD("misplaced doctype");
			p++;
			continue;
		}
		int closing = p[1] == '/';
		p += closing ? 2 : 1;
		char name[32];
		size_t n = 0;
		if (!is_name(*p, 1))
			BAD("bad tag name");
		while (is_name(*p, 0) && n < sizeof(name) - 1)
			name[n++] = *p++;
		name[n] = 0;
		if (closing) {
			while (*p == ' ' || *p == '\n')
				p++;
			if (*p != '>' || !depth || strcmp(stack[depth - 1], name))
				BAD("mismatched end tag");
			depth--;
			p++;
			continue;
		}
		int n_attrs = 0;
		for (;;) {
			int space = 0;
			while (*p == ' ' || *p == '\n' || *p == '\t')
				p++, space = 1;
			if (*p == '>' || !strncmp(p, "/>", 2))
				break;
			if (!space || !is_name(*p, 1))
				BAD("bad attribute");
			char an[32];
			size_t m = 0;
			while (is_name(*p, 0) && m < sizeof(an) - 1)
				an[m++] = *p++;
			an[m] = 0;
			for (int i = 0; i < n_attrs; i++)
				if (!strcmp(attrs[i], an))
					BAD("duplicate attribute");
			if (n_attrs < 32)
				strcpy(attrs[n_attrs++], an);
			if (*p++ != '=' || (*p != '"' && *p != '\''))
				BAD("unquoted attribute");
			char q = *p++;
			while (*p && *p != q) {
				if (*p == '<')
					BAD("< in attribute");
				if (*p == '&') {
					size_t e = entity(p);
					if (!e)
						BAD("bare & in attribute");
					p += e;
				} else {
					p++;
				}
			}
			if (!*p++)
				BAD("open attribute");
		}
		if (!depth && roots++)
			BAD("second root element");
		if (*p == '/') {
			p += 2;
			continue;
		}
		p++;
		if (depth == 64)
			BAD("too deep");
		strcpy(stack[depth++], name);
	}
	if (depth || roots != 1) {
		fprintf(stderr, "xml: %d open elements, %d roots\n", depth, roots);
		return 0;
	}
#undef BAD
	return 1;
}

/* ---- the marks ---- */

/* The number after "key": in s (the first occurrence), or ~0. */
static uint64_t json_u64(const char *s, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\": ", key);
	const char *p = strstr(s, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : ~0ull;
}

static int count_of(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Sum of data-count over the lanes of kind in pic. */
static uint64_t lane_sum(const char *kind, int *lanes)
{
	char k[64];
	uint64_t sum = 0;
	snprintf(k, sizeof(k), "class=\"lane\" data-kind=\"%s\"", kind);
	*lanes = 0;
	for (const char *p = pic; (p = strstr(p, k)); p++) {
		const char *c = strstr(p, "data-count=\"");
		sum += strtoull(c + 12, NULL, 10);
		(*lanes)++;
	}
	return sum;
}

/* A fake machine state: the hooks that ttvm's main sets read the clock out
 * of the real one (record/ckpt.h); here the blob is "GNS" + the ns. */
static int fake_guest_ns(const void *blob, size_t len, uint64_t *ns)
{
	if (len != 11 || memcmp(blob, "GNS", 3))
		return -EBADMSG;
	memcpy(ns, (const uint8_t *)blob + 3, 8);
	return 0;
}

static const char *fake_crash_name(uint32_t kind)
{
	return kind == 82 ? "kernel panic" : NULL;
}

/* Every lane kind, checkpoints in the table every 400 events, interrupts on
 * nine vectors (more than get a lane), and an end record (a crash) when end. */
static int write_trace(const char *path, uint64_t n, int end)
{
	static const uint8_t vectors[] = { 32, 32, 32, 33, 32, 36, 40, 32, 44, 33, 48, 14, 0xef };
	static uint8_t mem[4 * TRACE_CKPT_PAGE];
	struct trace_writer *w;
	struct trace_meta m = { .kvm_flavour = "test", .cmdline = "ttvm record <test> & \"more\"",
				.mem_size = sizeof(mem) };
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 0x99, id;
	int rc = trace_writer_open(path, &m, NULL, &w);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < n && !rc; i++) {
		stest_event(i, &exit_no, &rng, &ev);
		if (ev.kind == TRACE_EV_IRQ)
			ev.u.irq.vector = vectors[(i / 11) % sizeof(vectors)];
		/* checkpoint events: only real ones, with a table row */
		if (ev.kind != TRACE_EV_CHECKPOINT)
			rc = trace_writer_append(w, &ev);
		if (!rc && i % 400 == 399) {
			uint8_t blob[11] = "GNS";
			uint64_t ns = exit_no * 1000;
			memcpy(blob + 3, &ns, 8);
			mem[i % sizeof(mem)]++;
			rc = trace_ckpt_store(w, exit_no, blob, sizeof(blob), mem, sizeof(mem), NULL, 0, 0, &id);
		}
	}
	if (rc) {
		trace_writer_close(w, NULL);
		return rc;
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_END;
	ev.exit_no = exit_no + 1;
	ev.u.end.reason = TRACE_END_CRASH;
	ev.u.end.status = 82;
	ev.u.end.crash_kind = 82;
	ev.u.end.rip = 0xffffffff81001234ull;
	return trace_writer_close(w, end ? &ev : NULL);
}

/* The picture's marks against `inspect --json` of the same trace. */
static void check_marks(void)
{
	static const char *const kinds[] = { "pio_read", "mmio_read", "irq", "rdtsc", "rdtscp", "rdrand",
					     "msr", "serial_in", "probe", "cpuid" };
	const char *counts = strstr(json, "\"counts\": {");
	int lanes;

	CHECK(counts != NULL);
	if (!counts)
		return;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		uint64_t want = json_u64(counts, kinds[i]);
		uint64_t got = lane_sum(kinds[i], &lanes);
		if (want != got)
			fprintf(stderr, "kind %s: json %" PRIu64 ", picture %" PRIu64 "\n", kinds[i], want, got);
		CHECK_EQ(got, want);
		/* the kinds the picture is about always have a lane */
		if (strcmp(kinds[i], "probe") && strcmp(kinds[i], "cpuid"))
			CHECK(lanes >= 1);
	}
	CHECK_EQ(count_of(pic, "class=\"ckpt\""), json_u64(json, "checkpoints"));
	const char *e = strstr(pic, "data-events=\"");
	CHECK(e && strtoull(e + 13, NULL, 10) == json_u64(json, "events_readable"));
}

static void test_marks(void)
{
	PATH(p, "a.trace");
	PATH(svg, "a.svg");
	CHECK_EQ(write_trace(p, 3000, 1), 0);
	CHECK_EQ(run_json(p), 0);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p, NULL }), 0);
	CHECK_EQ(load(svg), 0);
	CHECK(!strncmp(pic, "<?xml", 5));
	CHECK(xml_ok(pic));
	check_marks();
	CHECK(json_u64(json, "checkpoints") >= 5);
	/* nine vectors: six lanes of their own, the rest as "other vectors" */
	int lanes;
	lane_sum("irq", &lanes);
	CHECK_EQ(lanes, 7);
	CHECK(strstr(pic, "data-vector=\"other\"") != NULL);
	CHECK(strstr(pic, "class=\"end\" data-reason=\"crash\"") != NULL);
	CHECK(strstr(pic, "data-status=\"82\" data-crash-kind=\"82\"") != NULL);
	CHECK(strstr(pic, "class=\"kept-start\"") != NULL);
	/* escaped: the command line has < & " in it */
	CHECK(strstr(pic, "ttvm record &lt;test&gt; &amp; &quot;more&quot;") != NULL);
	/* without hooks: no guest time, the crash kind as a number */
	CHECK_EQ(count_of(pic, "data-guest-ns="), 0);
	CHECK(strstr(pic, "end: crash (status 82) at rip 0xffffffff81001234") != NULL);

	/* with them (as ttvm's main sets them): guest time at every checkpoint */
	inspect_set_meanings(&(struct inspect_meanings){ .ckpt_guest_ns = fake_guest_ns,
						   .crash_name = fake_crash_name });
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p, NULL }), 0);
	CHECK_EQ(load(svg), 0);
	CHECK(xml_ok(pic));
	check_marks();
	CHECK_EQ(count_of(pic, "data-guest-ns="), json_u64(json, "checkpoints"));
	CHECK(strstr(pic, "crash: kernel panic (status 82)") != NULL);
	inspect_set_meanings(&(struct inspect_meanings){ NULL, NULL });
}

static void test_html(void)
{
	PATH(p, "h.trace");
	PATH(html, "h.html");
	CHECK_EQ(write_trace(p, 500, 1), 0);
	CHECK_EQ(run_json(p), 0);
	CHECK_EQ(run((const char *[]){ "--timeline", html, p, NULL }), 0);
	CHECK_EQ(load(html), 0);
	CHECK(!strncmp(pic, "<!DOCTYPE html>", 15));
	CHECK(strstr(pic, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
	CHECK(xml_ok(pic));
	check_marks();
}

static void test_other_traces(void)
{
	/* incomplete: no end record, marked as such where it stops */
	PATH(p, "c.trace");
	PATH(svg, "c.svg");
	PATH(p2, "x&y<z>'.trace");
	PATH(p3, "e.trace");
	CHECK_EQ(write_trace(p, 777, 0), 0);
	CHECK_EQ(run_json(p), 0);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p, NULL }), 0);
	CHECK_EQ(load(svg), 0);
	CHECK(xml_ok(pic));
	check_marks();
	CHECK(strstr(pic, "class=\"end\" data-reason=\"none\"") != NULL);
	CHECK(strstr(pic, "INCOMPLETE: no end record") != NULL);

	/* the storage tests' usual trace (checkpoint events without table
	 * rows, 200+ vectors), and a path that needs escaping */
	CHECK_EQ(stest_write(p2, 2000, 0, 1), 0);
	CHECK_EQ(run_json(p2), 0);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p2, NULL }), 0);
	CHECK_EQ(load(svg), 0);
	CHECK(xml_ok(pic));
	check_marks();
	CHECK(strstr(pic, "x&amp;y&lt;z&gt;&#39;.trace") != NULL);
	CHECK(strstr(pic, "class=\"end\" data-reason=\"guest_exit\"") != NULL);

	/* no events at all */
	struct trace_writer *w;
	struct trace_meta m = { .mem_size = 4096 };
	CHECK_EQ(trace_writer_open(p3, &m, NULL, &w), 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p3, NULL }), 0);
	CHECK_EQ(load(svg), 0);
	CHECK(xml_ok(pic));
	CHECK(strstr(pic, "INCOMPLETE: no events") != NULL);
}

/* The hook for flight recordings (none exist yet): a later start greys out
 * what was not kept and is marked where it was asked for. */
static void test_kept_from(void)
{
	PATH(p, "k.trace");
	PATH(svg, "k.svg");
	struct trace_reader *r;
	char err[256];
	CHECK_EQ(write_trace(p, 1000, 1), 0);
	CHECK_EQ(trace_reader_open(p, &r, err, sizeof(err)), 0);
	if (!r)
		return;
	struct picture_opts o = { .title = "k", .kept_from_exit = 777 };
	CHECK_EQ(picture_write_file(r, svg, &o, err, sizeof(err)), 0);
	trace_reader_close(r);
	CHECK_EQ(load(svg), 0);
	CHECK(xml_ok(pic));
	CHECK(strstr(pic, "class=\"kept-start\" data-exit=\"777\" data-flight=\"1\"") != NULL);
	CHECK(strstr(pic, "kept from exit 777 (grey before it: not kept)") != NULL);
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_errors(void)
{
	PATH(p, "f.trace");
	PATH(svg, "f.svg");
	PATH(missing, "missing.trace");
	PATH(garbage, "g.trace");
	PATH(huge, "big-exit.trace");
	PATH(nodir, "no-such-dir/x.svg");
	PATH(dir, "");
	struct stat st;

	CHECK_EQ(write_trace(p, 3000, 1), 0);
	/* no output file, no argument after --timeline, mixed with --json */
	CHECK_EQ(run((const char *[]){ p, "--timeline", NULL }), 2);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, "--json", p, NULL }), 2);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, NULL }), 2);
	/* missing trace, garbage, unwritable output: 1, and no picture */
	CHECK_EQ(run((const char *[]){ "--timeline", svg, missing, NULL }), 1);
	CHECK(stat(svg, &st) != 0);
	FILE *f = fopen(garbage, "w");
	fputs("garbage", f);
	fclose(f);
	CHECK_EQ(run((const char *[]){ "--timeline", svg, garbage, NULL }), 1);
	CHECK(stat(svg, &st) != 0);
	CHECK_EQ(run((const char *[]){ "--timeline", nodir, p, NULL }), 1);
	/* a damaged chunk that only reading finds: 1, no half picture left */
	sql(p, "UPDATE chunks SET checksum=checksum+1 WHERE first_event=(SELECT max(first_event) FROM chunks)");
	CHECK_EQ(run((const char *[]){ "--timeline", svg, p, NULL }), 1);
	CHECK(stat(svg, &st) != 0);
	/* a chunk table that claims exit 2^64-30548 as its last (the fuzz
	 * target's find, 2026-12-07): the bins' rounding overflowed and the
	 * picture wrote at bin 2^32-1; now reading finds the lie: 1 */
	CHECK_EQ(write_trace(huge, 3000, 1), 0);
	sql(huge, "UPDATE chunks SET last_exit=-30548 WHERE first_event=(SELECT max(first_event) FROM chunks)");
	CHECK_EQ(run((const char *[]){ "--timeline", svg, huge, NULL }), 1);
	CHECK(stat(svg, &st) != 0);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q tmp-", dir);
	CHECK(system(cmd) != 0); /* no temporary left behind */
}

/* The checker itself refuses what it should. */
static void test_xml_checker(void)
{
	CHECK(xml_ok("<?xml version=\"1.0\"?>\n<a x=\"1\" y='&amp;'><b/>t&#39;&lt;</a>\n"));
	CHECK(!xml_ok("<a><b></a></b>"));
	CHECK(!xml_ok("<a>&</a>"));
	CHECK(!xml_ok("<a>x<y</a>"));
	CHECK(!xml_ok("<a x=1/>"));
	CHECK(!xml_ok("<a x=\"1\" x=\"2\"/>"));
	CHECK(!xml_ok("<a x=\"<\"/>"));
	CHECK(!xml_ok("<a/><b/>"));
	CHECK(!xml_ok("<a>"));
	CHECK(!xml_ok("<a>\x01</a>"));
	CHECK(!xml_ok("<a>\xff</a>"));
}

int main(void)
{
	RUN_TEST(test_xml_checker);
	RUN_TEST(test_marks);
	RUN_TEST(test_html);
	RUN_TEST(test_other_traces);
	RUN_TEST(test_kept_from);
	RUN_TEST(test_errors);
	stest_cleanup();
	return TEST_EXIT();
}
