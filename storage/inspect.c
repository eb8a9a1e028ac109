#include "storage/inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/checkpoint.h"
#include "storage/picture.h"
#include "storage/trace.h"

/* Checkpoints listed one by one in the text summary (the count is always shown). */
#define LIST_CKPTS_MAX 20

struct inspect_opts {
	const char *path;
	int json;
	const char *picture;   /* --timeline FILE */
	int list;              /* --events given */
	uint64_t from, to;     /* [from, to) */
	uint32_t kinds;        /* bit k set: show kind k (0: all) */
};

static struct inspect_meanings given;

void inspect_set_meanings(const struct inspect_meanings *h)
{
	given = *h;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ttvm inspect TRACE [--events [FROM[:TO]]] [--kind K[,K...]] [--json]\n"
		"       ttvm inspect --timeline FILE.svg|FILE.html TRACE\n"
		"  without options: summary of the trace\n"
		"  --events FROM:TO  list events FROM up to, not including, TO (default: all)\n"
		"  --kind K          only events of these kinds (implies --events):\n"
		"                    pio_read mmio_read irq rdtsc rdtscp rdrand serial_in cpuid checkpoint end\n"
		"  --json            machine-readable output\n"
		"  --timeline FILE   draw the recording over guest exits into FILE (SVG, or\n"
		"                    HTML when FILE ends in .html): events per interval by\n"
		"                    kind, checkpoints, start and end\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_range(const char *s, struct inspect_opts *o)
{
	char buf[64];
	const char *colon = strchr(s, ':');
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	if (!colon)
		return parse_u64(s, &o->from);
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = 0;
	if (buf[0] && parse_u64(buf, &o->from))
		return -EINVAL;
	if (colon[1] && parse_u64(colon + 1, &o->to))
		return -EINVAL;
	return 0;
}

static int parse_kinds(const char *s, uint32_t *mask)
{
	char buf[256], *save = NULL;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint32_t k = trace_kind_from_name(t);
		if (!k)
			return -EINVAL;
		*mask |= 1u << k;
	}
	return *mask ? 0 : -EINVAL;
}

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_blob(const uint8_t *d, uint32_t len, int json)
{
	uint32_t n = len < 32 ? len : 32;
	if (json)
		putchar('"');
	for (uint32_t i = 0; i < n; i++)
		printf("%02x", d[i]);
	if (n < len)
		printf("...");
	if (json)
		putchar('"');
}

static void print_event(const struct trace_event *ev, int json)
{
	const char *sep = json ? ", " : " ";
	if (json)
		printf("{\"seq\": %" PRIu64 ", \"exit\": %" PRIu64 ", \"kind\": \"%s\"", ev->seq,
		       ev->exit_no, trace_kind_name(ev->kind));
	else
		printf("%10" PRIu64 "  exit %-10" PRIu64 " %-10s", ev->seq, ev->exit_no,
		       trace_kind_name(ev->kind));
/* JSON gets decimal numbers; text gets hex for addresses, values and hashes */
#define F(name, fmt, ...) printf(json ? "%s\"" name "\": " fmt : "%s" name "=" fmt, sep, __VA_ARGS__)
#define X(name, v) (json ? printf("%s\"" name "\": %" PRIu64, sep, (uint64_t)(v)) \
			 : printf("%s" name "=0x%" PRIx64, sep, (uint64_t)(v)))
	switch (ev->kind) {
	case TRACE_EV_PIO_READ:
		X("port", ev->u.pio.port);
		F("size", "%u", ev->u.pio.size);
		X("value", ev->u.pio.value);
		break;
	case TRACE_EV_MMIO_READ:
		X("addr", ev->u.mmio.addr);
		F("size", "%u", ev->u.mmio.size);
		X("value", ev->u.mmio.value);
		break;
	case TRACE_EV_IRQ:
		F("vector", "%u", ev->u.irq.vector);
		X("rip", ev->u.irq.rip);
		if (ev->u.irq.regs_hash && (ev->flags & TRACE_EVF_POINT_MIX)) {
			X("regs_filter", ev->u.irq.regs_hash & 0xff);
			X("point_hash", ev->u.irq.mem_hash);
		} else if (ev->u.irq.regs_hash) {
			X("regs_hash", ev->u.irq.regs_hash);
			X("mem_hash", ev->u.irq.mem_hash);
		}
		break;
	case TRACE_EV_RDTSC:
		F("tsc", "%" PRIu64, ev->u.tsc.value);
		break;
	case TRACE_EV_RDTSCP:
		F("tsc", "%" PRIu64, ev->u.tsc.value);
		F("aux", "%" PRIu32, ev->u.tsc.aux);
		break;
	case TRACE_EV_RDRAND:
		printf(json ? "%s\"insn\": \"%s\"" : "%sinsn=%s", sep,
		       ev->u.tsc.rand_insn == TRACE_RAND_RDSEED ? "rdseed" : "rdrand");
		X("value", ev->u.tsc.value);
		F("cf", "%u", ev->u.tsc.rand_cf);
		break;
	case TRACE_EV_SERIAL_IN:
	case TRACE_EV_CPUID:
		F("len", "%" PRIu32, ev->u.blob.len);
		printf(json ? "%s\"bytes\": " : "%sbytes=", sep);
		print_blob(ev->u.blob.data, ev->u.blob.len, json);
		break;
	case TRACE_EV_CHECKPOINT:
		F("checkpoint", "%" PRIu64, ev->u.ckpt.id);
		break;
	case TRACE_EV_PROBE:
		X("addr", ev->u.probe.addr);
		F("on", "%u", ev->u.probe.on);
		if (ev->u.probe.on == TRACE_PROBE_AT_KICK && (ev->flags & TRACE_EVF_POINT_MIX)) {
			X("regs_filter", ev->u.probe.regs_hash & 0xff);
			X("point_hash", ev->u.probe.mem_hash);
		} else if (ev->u.probe.on == TRACE_PROBE_AT_KICK) {
			X("regs_hash", ev->u.probe.regs_hash);
			X("mem_hash", ev->u.probe.mem_hash);
		}
		break;
	case TRACE_EV_MSR:
		X("index", ev->u.msr.index);
		X("value", ev->u.msr.value);
		break;
	case TRACE_EV_END:
		printf(json ? "%s\"reason\": \"%s\"" : "%sreason=%s", sep,
		       trace_end_reason_name(ev->u.end.reason));
		F("status", "%" PRId32, ev->u.end.status);
		F("crash_kind", "%" PRIu32, ev->u.end.crash_kind);
		X("rip", ev->u.end.rip);
		break;
	}
	if (ev->flags & TRACE_EVF_FP) {
		F("fp_exit_reason", "%" PRIu32, ev->fp.exit_reason);
		X("fp_rip", ev->fp.rip);
		if (ev->flags & TRACE_EVF_FP_CHAINED)
			printf(json ? "%s\"fp_regs_hash\": null" : "%sfp_regs_hash=chained", sep);
		else if (ev->flags & TRACE_EVF_POINT_MIX)
			X("fp_regs_filter", ev->fp.regs_hash & 0xff); /* the point's own */
		else
			X("fp_regs_hash", ev->fp.regs_hash);
	}
	if (ev->flags & TRACE_EVF_CHECK)
		X("check", ev->check);
#undef F
#undef X
	printf(json ? "}" : "\n");
}

static int list_events(struct trace_reader *r, const struct inspect_opts *o)
{
	struct trace_info info;
	struct trace_event ev;
	uint64_t to, from = o->from;
	int rc = 0, first = 1;

	trace_reader_info(r, &info);
	to = o->to && o->to < info.n_events ? o->to : info.n_events;
	if (from < info.first_event) {
		/* A flight recording dropped them: say so once, list the rest. */
		if (!o->json)
			printf("# events %" PRIu64 "..%" PRIu64 " were dropped (flight recording)\n", from,
			       (to < info.first_event ? to : info.first_event) - 1);
		from = info.first_event;
	}
	if (o->json)
		printf("{\"trace\": "), json_str(o->path), printf(", \"events\": [\n");
	if (from < to && (rc = trace_reader_seek(r, from)) < 0)
		goto out;
	for (uint64_t i = from; i < to; i++) {
		rc = trace_reader_next(r, &ev);
		if (rc <= 0)
			goto out;
		if (o->kinds && !(o->kinds & (1u << ev.kind)))
			continue;
		if (o->json && !first)
			printf(",\n");
		first = 0;
		print_event(&ev, o->json);
	}
	rc = 0;
out:
	if (o->json)
		printf("\n]}\n");
	if (rc < 0) {
		fprintf(stderr, "ttvm inspect: %s\n", trace_reader_errmsg(r));
		return 1;
	}
	return 0;
}

static const char *fmt_time(const char *unix_s, char *buf, size_t len)
{
	time_t t = unix_s ? (time_t)strtoll(unix_s, NULL, 10) : 0;
	struct tm tm;
	if (!unix_s || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "?");
	return buf;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* metadata shown by summary(), and the names of their keys */
static const char *const summary_keys[] = { "ttvm_version", "kvm_flavour", "cmdline", "mem_size",
					    "start_time", "end_reason", "state", "tsc_sites", "final_state",
					    "msr_filter", "max_exitless_ns", "flight_keep", "flight_max_size",
					    "kept_from_exit", "kept_from_checkpoint", "kept_from_guest_ns",
					    "dropped_checkpoints", "drops", "live_from" };
enum { K_VER, K_KVM, K_CMD, K_MEM, K_START, K_END, K_STATE, K_TSC, K_FINAL, K_MSR, K_STRETCH, K_KEEP, K_MAXSIZE,
       K_KEXIT, K_KCKPT, K_KNS, K_DCKPT, K_DROPS, K_LIVE, K_N };

/* What the summary shows, read once. */
struct summary_data {
	struct trace_info info;
	struct trace_event last;
	uint64_t counts[TRACE_EV_KIND_MAX + 1], n_fp, n_read, n_full;
	int have_end;
	const char *err;
	char *meta[K_N]; /* copies: trace_reader_meta() reuses one buffer */
};

static void summary_json(struct trace_reader *r, const struct inspect_opts *o, const struct summary_data *d)
{
	printf("{\"trace\": ");
	json_str(o->path);
	printf(", \"format_version\": %u, \"complete\": %s", d->info.format_version,
	       d->info.complete ? "true" : "false");
	printf(", \"metadata\": {");
	for (int k = 0; k < K_N; k++) {
		printf("%s\"%s\": ", k ? ", " : "", summary_keys[k]);
		if (d->meta[k])
			json_str(d->meta[k]);
		else
			printf("null");
	}
	printf("}, \"images\": [");
	for (uint64_t i = 0; i < d->info.n_images; i++) {
		struct trace_image_info ii;
		if (trace_reader_image(r, i, &ii))
			break;
		printf("%s{\"name\": ", i ? ", " : "");
		json_str(ii.name);
		printf(", \"size\": %" PRIu64 ", \"stored\": %s, \"sha256\": \"", ii.size,
		       ii.stored ? "true" : "false");
		for (int b = 0; b < 32; b++)
			printf("%02x", ii.sha256[b]);
		printf("\"}");
	}
	printf("], \"events\": %" PRIu64 ", \"first_event\": %" PRIu64 ", \"events_readable\": %" PRIu64
	       ", \"counts\": {", d->info.n_events - d->info.first_event, d->info.first_event, d->n_read);
	for (uint32_t k = 1; k <= TRACE_EV_KIND_MAX; k++)
		printf("%s\"%s\": %" PRIu64, k > 1 ? ", " : "", trace_kind_name(k), d->counts[k]);
	printf("}, \"fingerprints\": %" PRIu64 ", \"first_exit\": %" PRIu64 ", \"last_exit\": %" PRIu64,
	       d->n_fp, d->info.first_exit, d->info.last_exit);
	printf(", \"chunks\": %" PRIu64 ", \"raw_bytes\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
	       ", \"bytes_per_event\": %.3f, \"compression_ratio\": %.3f",
	       d->info.n_chunks, d->info.raw_bytes, d->info.stored_bytes,
	       ratio(d->info.stored_bytes, d->info.n_events - d->info.first_event),
	       ratio(d->info.raw_bytes, d->info.stored_bytes));
	printf(", \"checkpoints\": %" PRIu64 ", \"full_checkpoints\": %" PRIu64, d->info.n_checkpoints, d->n_full);
	if (d->have_end) {
		printf(", \"end\": {\"reason\": \"%s\", \"status\": %" PRId32 ", \"crash_kind\": %" PRIu32
		       ", \"rip\": %" PRIu64 ", \"event\": %" PRIu64 "}",
		       trace_end_reason_name(d->last.u.end.reason), d->last.u.end.status,
		       d->last.u.end.crash_kind, d->last.u.end.rip, d->last.seq);
	} else {
		printf(", \"end\": null");
	}
	if (d->n_read)
		printf(", \"last_event\": %" PRIu64 ", \"last_event_exit\": %" PRIu64, d->last.seq, d->last.exit_no);
	printf(", \"error\": ");
	if (d->err)
		json_str(d->err);
	else
		printf("null");
	printf("}\n");
}

static void summary_text(struct trace_reader *r, const struct inspect_opts *o, const struct summary_data *d)
{
	char tbuf[64];


	printf("trace          %s\n", o->path);
	if (d->info.complete)
		printf("state          complete\n");
	else if (d->n_read)
		printf("state          INCOMPLETE: ends after event %" PRIu64 " (exit %" PRIu64
		       "), no end record\n", d->last.seq, d->last.exit_no);
	else
		printf("state          INCOMPLETE: no events\n");
	printf("format         version %u, written by ttvm %s\n", d->info.format_version,
	       d->meta[K_VER] ? d->meta[K_VER] : "?");
	printf("host           %s\n", d->meta[K_KVM] ? d->meta[K_KVM] : "?");
	printf("command line   %s\n", d->meta[K_CMD] ? d->meta[K_CMD] : "");
	printf("guest memory   %s bytes\n", d->meta[K_MEM] ? d->meta[K_MEM] : "?");
	printf("started        %s\n", fmt_time(d->meta[K_START], tbuf, sizeof(tbuf)));
	if (d->meta[K_TSC])
		printf("patched sites  %s\n", d->meta[K_TSC]);
	if (d->meta[K_FINAL])
		printf("final state    %s\n", d->meta[K_FINAL]);
	if (d->meta[K_MSR])
		printf("MSR exits      %s (core/msr.h)\n", d->meta[K_MSR]);
	if (d->meta[K_STRETCH])
		printf("longest run    %s ns without a guest exit (bounds replay's point searches)\n", d->meta[K_STRETCH]);
	for (uint64_t i = 0; i < d->info.n_images; i++) {
		struct trace_image_info ii;
		if (trace_reader_image(r, i, &ii))
			break;
		printf("image          %s, %" PRIu64 " bytes, sha256 ", ii.name, ii.size);
		for (int b = 0; b < 32; b++)
			printf("%02x", ii.sha256[b]);
		printf(ii.stored ? ", stored\n" : ", not stored\n");
	}
	uint64_t kept = d->info.n_events - d->info.first_event;
	if (d->meta[K_LIVE])
		printf("live from      %s (ttvm replay --go-live: starts with a checkpoint of that state)\n",
		       d->meta[K_LIVE]);
	if (d->meta[K_KEEP] || d->meta[K_MAXSIZE])
		printf("flight         keeps the last %s%s%s%s of the recording\n",
		       d->meta[K_KEEP] ? d->meta[K_KEEP] : "", d->meta[K_KEEP] ? " of guest time" : "",
		       d->meta[K_KEEP] && d->meta[K_MAXSIZE] ? ", at most " : d->meta[K_MAXSIZE] ? "at most " : "",
		       d->meta[K_MAXSIZE] ? d->meta[K_MAXSIZE] : "");
	if (d->info.first_event)
		printf("kept part      begins at event %" PRIu64 " (checkpoint %s, guest exit %s, guest time %.3f s)\n"
		       "dropped        events 0..%" PRIu64 ", %s checkpoint(s), in %s drop(s)\n",
		       d->info.first_event, d->meta[K_KCKPT] ? d->meta[K_KCKPT] : "?",
		       d->meta[K_KEXIT] ? d->meta[K_KEXIT] : "?",
		       d->meta[K_KNS] ? strtod(d->meta[K_KNS], NULL) / 1e9 : 0.0, d->info.first_event - 1,
		       d->meta[K_DCKPT] ? d->meta[K_DCKPT] : "?", d->meta[K_DROPS] ? d->meta[K_DROPS] : "?");
	else if (d->meta[K_KEEP] || d->meta[K_MAXSIZE])
		printf("kept part      all of it: nothing dropped yet\n");
	if (d->info.first_event)
		printf("events         %" PRIu64 " kept: %" PRIu64 "..%" PRIu64 " (guest exits %" PRIu64 "..%" PRIu64
		       "), %" PRIu64 " with a fingerprint\n", kept, d->info.first_event, d->info.n_events - 1,
		       d->info.first_exit, d->info.last_exit, d->n_fp);
	else
		printf("events         %" PRIu64 " (guest exits %" PRIu64 "..%" PRIu64 "), %" PRIu64
		       " with a fingerprint\n", d->info.n_events, d->info.first_exit, d->info.last_exit, d->n_fp);
	for (uint32_t k = 1; k <= TRACE_EV_KIND_MAX; k++)
		if (d->counts[k])
			printf("  %-12s %12" PRIu64 "  %5.1f%%\n", trace_kind_name(k), d->counts[k],
			       100.0 * ratio(d->counts[k], d->n_read));
	printf("chunks         %" PRIu64 " (%.0f events/chunk)\n", d->info.n_chunks,
	       ratio(kept, d->info.n_chunks));
	printf("bytes          %" PRIu64 " encoded, %" PRIu64 " stored: %.2f bytes/event, "
	       "compression ratio %.2f\n", d->info.raw_bytes, d->info.stored_bytes,
	       ratio(d->info.stored_bytes, kept), ratio(d->info.raw_bytes, d->info.stored_bytes));
	printf("checkpoints    %" PRIu64 " (%" PRIu64 " full, %" PRIu64 " incremental)\n",
	       d->info.n_checkpoints, d->n_full, d->info.n_checkpoints - d->n_full);
	for (uint64_t i = 0; i < d->info.n_checkpoints && i < LIST_CKPTS_MAX; i++) {
		struct trace_ckpt_info ci;
		if (trace_ckpt_get(r, i, &ci))
			break;
		printf("  #%-4" PRIu64 " event %-12" PRIu64 " exit %-12" PRIu64 " %s, %" PRIu64 " pages\n",
		       ci.id, ci.event_no, ci.exit_no, ci.full ? "full" : "incremental", ci.n_pages);
	}
	if (d->have_end)
		printf("end            %s, status %" PRId32 ", crash kind %" PRIu32 ", rip 0x%" PRIx64
		       " (event %" PRIu64 ")\n", trace_end_reason_name(d->last.u.end.reason),
		       d->last.u.end.status, d->last.u.end.crash_kind, d->last.u.end.rip, d->last.seq);
	else
		printf("end            none recorded\n");
}

static int summary(struct trace_reader *r, const struct inspect_opts *o)
{
	struct summary_data d;
	struct trace_event ev;
	int rc;

	memset(&d, 0, sizeof(d));
	trace_reader_info(r, &d.info);
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		d.counts[ev.kind]++;
		d.n_fp += !!(ev.flags & TRACE_EVF_FP);
		d.n_read++;
		d.last = ev;
		if (ev.kind == TRACE_EV_END)
			d.have_end = 1;
	}
	if (rc < 0)
		d.err = trace_reader_errmsg(r);
	for (uint64_t i = 0; i < d.info.n_checkpoints; i++) {
		struct trace_ckpt_info ci;
		if (trace_ckpt_get(r, i, &ci) == 0)
			d.n_full += ci.full;
	}
	for (int k = 0; k < K_N; k++) {
		const char *v = trace_reader_meta(r, summary_keys[k]);
		d.meta[k] = v ? strdup(v) : NULL;
	}
	if (o->json)
		summary_json(r, o, &d);
	else
		summary_text(r, o, &d);
	for (int k = 0; k < K_N; k++)
		free(d.meta[k]);
	if (d.err) {
		fprintf(stderr, "ttvm inspect: %s\n", d.err);
		return 1;
	}
	return 0;
}

static int draw_picture(struct trace_reader *r, const struct inspect_opts *o)
{
	struct picture_opts to = { .title = o->path, .ckpt_guest_ns = given.ckpt_guest_ns,
				    .crash_name = given.crash_name };
	struct trace_info info;
	const char *kx = trace_reader_meta(r, "kept_from_exit");

	/* A flight recording that dropped its beginning: where the kept part
	 * begins (a drop at exit 0 changes nothing to draw). */
	trace_reader_info(r, &info);
	if (info.first_event && kx)
		to.kept_from_exit = strtoull(kx, NULL, 10);
	char err[600];

	if (picture_write_file(r, o->picture, &to, err, sizeof(err))) {
		fprintf(stderr, "ttvm inspect: %s\n", err);
		return 1;
	}
	return 0;
}

int inspect_main(int argc, char **argv)
{
	struct inspect_opts o;
	struct trace_reader *r;
	char err[512];
	int rc;

	memset(&o, 0, sizeof(o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "--timeline")) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				fprintf(stderr, "ttvm inspect: --timeline needs an output file\n");
				usage(stderr);
				return 2;
			}
			o.picture = argv[++i];
		} else if (!strcmp(a, "--events")) {
			o.list = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-' &&
			    (strchr(argv[i + 1], ':') || (argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9'))) {
				if (parse_range(argv[++i], &o)) {
					fprintf(stderr, "ttvm inspect: bad event range '%s'\n", argv[i]);
					return 2;
				}
			}
		} else if (!strcmp(a, "--kind")) {
			if (i + 1 >= argc || parse_kinds(argv[++i], &o.kinds)) {
				fprintf(stderr, "ttvm inspect: --kind needs kind names\n");
				usage(stderr);
				return 2;
			}
			o.list = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' || o.path) {
			fprintf(stderr, "ttvm inspect: unexpected argument '%s'\n", a);
			usage(stderr);
			return 2;
		} else {
			o.path = a;
		}
	}
	if (!o.path) {
		usage(stderr);
		return 2;
	}
	if (o.picture && (o.list || o.json)) {
		fprintf(stderr, "ttvm inspect: --timeline goes without --events, --kind and --json\n");
		return 2;
	}
	if (o.to && o.to < o.from) {
		fprintf(stderr, "ttvm inspect: empty event range %" PRIu64 ":%" PRIu64 "\n", o.from, o.to);
		return 2;
	}
	rc = trace_reader_open(o.path, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ttvm inspect: %s\n", err);
		return 1;
	}
	if (o.picture)
		rc = draw_picture(r, &o);
	else
		rc = o.list ? list_events(r, &o) : summary(r, &o);
	trace_reader_close(r);
	return rc;
}
