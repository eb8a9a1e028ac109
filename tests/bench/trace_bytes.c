/* trace_bytes TRACE: where a trace's event bytes go.  Every event is
 * encoded again with the trace's own format (storage/codec.c), chunk
 * state reset every CHUNK events as the writer's chunks do about, and its
 * bytes before compression (stream A and B) are added up by kind, with the
 * checks and kick points apart; for RDTSC-family values also how many
 * bytes their delta took.  The trace's stored (lz4) bytes are printed
 * beside it: what compression took off is not split by kind.
 * usage: trace_bytes TRACE [CHUNK] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"
#include "storage/trace.h"

int main(int argc, char **argv)
{
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event ev;
	char err[512];

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: trace_bytes TRACE [CHUNK]\n");
		return 2;
	}
	uint64_t chunk = argc == 3 ? strtoull(argv[2], NULL, 0) : 4096;
	if (trace_reader_open(argv[1], &r, err, sizeof(err))) {
		fprintf(stderr, "trace_bytes: %s\n", err);
		return 1;
	}
	trace_reader_info(r, &info);
	if (info.format_version < 8) {
		fprintf(stderr, "trace_bytes: format %u: only formats 8 and later\n", info.format_version);
		return 1;
	}
	struct codec_state st;
	memset(&st, 0, sizeof(st));
	st.split = 1;
	st.mix = info.format_version >= 9;
	uint64_t n[TRACE_EV_KIND_MAX + 1] = { 0 }, a[TRACE_EV_KIND_MAX + 1] = { 0 }, b[TRACE_EV_KIND_MAX + 1] = { 0 };
	uint64_t checks = 0, points = 0, point_bytes = 0, fps = 0, total = 0, i = 0;
	uint64_t tsc_len[11] = { 0 };
	static uint8_t out[CODEC_MAX_FIXED + TRACE_MAX_BLOB], vout[CODEC_MAX_FIXED + TRACE_MAX_BLOB];
	int rc;
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		if (i++ % chunk == 0)
			codec_reset(&st, ev.exit_no);
		size_t vlen = 0;
		size_t alen = codec_encode(&st, &ev, out, vout, &vlen);
		n[ev.kind]++;
		a[ev.kind] += alen;
		b[ev.kind] += vlen;
		total += alen + vlen;
		checks += !!(ev.flags & TRACE_EVF_CHECK);
		fps += !!(ev.flags & TRACE_EVF_FP);
		if (trace_is_kick_point(&ev)) {
			points++;
			point_bytes += alen + vlen;
		}
		if (ev.kind == TRACE_EV_RDTSC || ev.kind == TRACE_EV_RDTSCP ||
		    (ev.kind == TRACE_EV_MSR && ev.u.msr.index == CODEC_MSR_TSC)) {
			/* B holds [exit delta] value [check]: the value's varint is
			 * what is left of vlen. */
			size_t v = vlen - ((ev.flags & TRACE_EVF_CHECK) ? 4 : 0);
			tsc_len[v < 10 ? v : 10]++;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "trace_bytes: %s\n", trace_reader_errmsg(r));
		return 1;
	}
	printf("trace %s: format %u, %" PRIu64 " events, %" PRIu64 " bytes stored (%.2f per event), %" PRIu64
	       " encoded again (%.2f per event; chunks of %" PRIu64 " events)\n",
	       argv[1], info.format_version, i, info.stored_bytes, i ? (double)info.stored_bytes / (double)i : 0.0,
	       total, i ? (double)total / (double)i : 0.0, chunk);
	for (unsigned k = 1; k <= TRACE_EV_KIND_MAX; k++)
		if (n[k])
			printf("  %-10s %8" PRIu64 " events %9" PRIu64 " bytes (A %8" PRIu64 ", B %8" PRIu64
			       ") %5.2f per event, %4.1f%% of all\n",
			       trace_kind_name(k), n[k], a[k] + b[k], a[k], b[k], (double)(a[k] + b[k]) / (double)n[k],
			       total ? 100.0 * (double)(a[k] + b[k]) / (double)total : 0.0);
	printf("  of which: %" PRIu64 " fingerprints, %" PRIu64 " checks (%" PRIu64 " bytes), %" PRIu64
	       " kick points (%" PRIu64 " bytes in all)\n",
	       fps, checks, checks * 4, points, point_bytes);
	printf("  TSC values by the bytes their delta took:");
	for (unsigned l = 0; l <= 10; l++)
		if (tsc_len[l])
			printf(" %u:%" PRIu64, l, tsc_len[l]);
	printf("\n");
	trace_reader_close(r);
	return 0;
}
