/* Writes the seed corpus for fuzz_reader: small complete and incomplete
 * traces (with an image and checkpoints) and raw encoded chunks of every
 * event kind.  Usage: storage_fuzz_seed DIR */
#include <stdio.h>
#include <string.h>

#include "storage/checkpoint.h"
#include "storage/codec.h"
#include "stest.h"

/* A raw chunk: formats 6-7 (split 0) or format 8 (split 1: header, stream
 * A, stream B). */
static int write_chunk(const char *dir, int n, int split)
{
	uint8_t buf[8192], vbuf[8192], out[16400];
	size_t len = 0, vlen = 0;
	struct codec_state cs;
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 77 + (uint64_t)n;
	char path[600];
	memset(&cs, 0, sizeof(cs));
	cs.split = (uint32_t)split;
	codec_reset(&cs, 0);
	for (int i = 0; i < 40 && len + 200 < sizeof(buf) && vlen + 200 < sizeof(vbuf); i++) {
		stest_event((uint64_t)(i + n), &exit_no, &rng, &ev);
		len += codec_encode(&cs, &ev, buf + len, vbuf + vlen, &vlen);
	}
	if (split) {
		size_t hl = codec_header(len, out);
		memcpy(out + hl, buf, len);
		memcpy(out + hl + len, vbuf, vlen);
		len += hl + vlen;
	} else {
		memcpy(out, buf, len);
	}
	snprintf(path, sizeof(path), "%s/chunk-%d%s", dir, n, split ? "-split" : "");
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(out, 1, len, f) != len)
		return 1;
	return fclose(f) != 0;
}

static int write_trace(const char *dir, const char *name, int n, int end, int ckpt)
{
	char path[600];
	struct trace_writer *w;
	struct trace_event ev;
	struct trace_writer_opts o = { .chunk_target = 256 };
	uint64_t exit_no = 0, rng = 5, id;
	static uint8_t mem[4 * TRACE_CKPT_PAGE];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	if (trace_writer_open(path, NULL, &o, &w))
		return 1;
	trace_writer_add_image(w, "img", "hello image", 11, 1);
	for (int i = 0; i < n; i++) {
		stest_event((uint64_t)i, &exit_no, &rng, &ev);
		if (ev.kind == TRACE_EV_CHECKPOINT)
			continue;
		if (trace_writer_append(w, &ev))
			return 1;
		if (ckpt && i == n / 2) {
			memset(mem, 0x11, TRACE_CKPT_PAGE);
			if (trace_ckpt_store(w, exit_no, "vcpu", 4, mem, sizeof(mem), NULL, 0, 0, &id))
				return 1;
			uint64_t dirty = 2;
			mem[2 * TRACE_CKPT_PAGE] = 9;
			if (trace_ckpt_store(w, exit_no, "vcpu", 4, mem, sizeof(mem), &dirty, 1, id, &id))
				return 1;
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.exit_no = exit_no;
	ev.u.end.reason = TRACE_END_CRASH;
	ev.u.end.status = -1;
	return trace_writer_close(w, end ? &ev : NULL) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	int rc = 0;
	for (int i = 0; i < 8; i++)
		rc |= write_chunk(argv[1], i, 0) | write_chunk(argv[1], i, 1);
	rc |= write_trace(argv[1], "complete.trace", 60, 1, 1);
	rc |= write_trace(argv[1], "incomplete.trace", 30, 0, 0);
	rc |= write_trace(argv[1], "empty.trace", 0, 0, 0);
	return rc;
}
