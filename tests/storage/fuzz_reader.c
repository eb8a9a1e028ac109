/* libFuzzer target over the trace reader.  An input that starts with the
 * SQLite header is opened as a whole trace file (in memory) and read every
 * way the replayer and `ttvm inspect` read it; any other input is decoded
 * as the raw event bytes of one chunk.  Built with clang only (see
 * CMakeLists.txt); the seed corpus comes from fuzz_seed.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/checkpoint.h"
#include "storage/codec.h"
#include "storage/picture.h"
#include "storage/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_chunk(const uint8_t *data, size_t size)
{
	struct codec_state cs;
	struct trace_event ev;
	const char *why;
	/* Every encoding: formats 6-7, 2-5 and 8 (two streams). */
	for (int mode = 0; mode <= 2; mode++) {
		size_t pos = 0, end = size;
		memset(&cs, 0, sizeof(cs));
		cs.legacy = mode == 1;
		cs.split = mode == 2;
		codec_reset(&cs, 0);
		if (codec_begin(&cs, data, size, &pos, &end, &why))
			continue;
		while (pos < end && codec_decode(&cs, data, end, &pos, &ev, &why) == 0)
			if (ev.kind == TRACE_EV_SERIAL_IN || ev.kind == TRACE_EV_CPUID)
				for (uint32_t i = 0; i < ev.u.blob.len; i++)
					cs.rip += ev.u.blob.data[i]; /* touch every blob byte */
	}
}

/* Stands in for record/'s reading of the guest clock: touches the blob. */
static int fuzz_guest_ns(const void *blob, size_t len, uint64_t *ns)
{
	if (len < 8)
		return -1;
	memcpy(ns, (const uint8_t *)blob + len - 8, 8);
	return 0;
}

static void fuzz_trace(const uint8_t *data, size_t size)
{
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event ev;
	char err[512];
	if (trace_reader_open_mem(data, size, "fuzz", &r, err, sizeof(err)))
		return;
	trace_reader_info(r, &info);
	trace_reader_meta(r, "cmdline");
	size_t len;
	trace_reader_meta_blob(r, "cpuid_policy", &len);
	while (trace_reader_next(r, &ev) == 1)
		;
	if (info.n_events) {
		trace_reader_get(r, info.n_events / 2, &ev);
		trace_reader_get(r, info.n_events - 1, &ev);
		trace_reader_get(r, 0, &ev);
		trace_reader_seek_exit(r, info.last_exit);
		trace_reader_next(r, &ev);
	}
	for (uint64_t i = 0; i < info.n_images && i < 4; i++) {
		struct trace_image_info ii;
		if (trace_reader_image(r, i, &ii) == 0 && ii.stored && ii.size <= (1u << 20)) {
			void *buf = malloc(ii.size ? ii.size : 1);
			if (buf)
				trace_reader_image_data(r, i, buf, ii.size);
			free(buf);
		}
	}
	for (uint64_t i = 0; i < info.n_checkpoints && i < 4; i++) {
		struct trace_ckpt_info ci;
		if (trace_ckpt_get(r, i, &ci) || ci.mem_size > (16u << 20) || ci.vcpu_size > (1u << 20))
			continue;
		uint8_t *mem = malloc(ci.mem_size ? ci.mem_size : 1);
		uint8_t *vcpu = malloc(ci.vcpu_size ? ci.vcpu_size : 1);
		if (mem && vcpu)
			trace_ckpt_load(r, ci.id, vcpu, ci.vcpu_size, mem, ci.mem_size);
		free(mem);
		free(vcpu);
	}
	trace_reader_close(r);
	/* `ttvm inspect --timeline` reads it once more, checkpoint blobs too */
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (devnull && trace_reader_open_mem(data, size, "fuzz", &r, err, sizeof(err)) == 0) {
		struct picture_opts o = { .title = "fuzz", .ckpt_guest_ns = fuzz_guest_ns };
		picture_write(r, devnull, &o);
		trace_reader_close(r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 16 && !memcmp(data, "SQLite format 3", 16))
		fuzz_trace(data, size);
	else
		fuzz_chunk(data, size);
	return 0;
}
