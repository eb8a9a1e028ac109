/* Event encoding inside a chunk: a tag byte (kind, fingerprint flag, small
 * exit-number delta) followed by LEB128 varints, zigzag deltas against the
 * previous event of the same chunk, and raw bytes for blobs.  The state is
 * reset at each chunk start so that a chunk decodes on its own.  The exact
 * layout is in storage/README.md. */
#ifndef TTVM_STORAGE_CODEC_H
#define TTVM_STORAGE_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "storage/trace.h"

/* Upper bound of an encoded event without its blob bytes. */
#define CODEC_MAX_FIXED 96

/* IA32_TSC: an msr event of this index shares the RDTSC events' delta. */
#define CODEC_MSR_TSC 0x10u

/* Delta state, reset (codec_reset) at each chunk start. */
struct codec_state {
	uint64_t exit_no;
	uint64_t tsc;
	uint64_t rip;
};

/* Start a chunk whose first event has exit number first_exit. */
void codec_reset(struct codec_state *st, uint64_t first_exit);
/* 0 if ev can be encoded after an event at exit prev_exit; -EINVAL otherwise. */
int codec_check(const struct trace_event *ev, uint64_t prev_exit);
/* Bytes codec_encode() may write for ev (an upper bound). */
size_t codec_bound(const struct trace_event *ev);
/* Encode a codec_check()ed ev at out (codec_bound() bytes free); returns the length. */
size_t codec_encode(struct codec_state *st, const struct trace_event *ev, uint8_t *out);
/* Decode the event at buf[*pos] (buf has len bytes), advance *pos.  0, or
 * -EBADMSG (truncated/malformed) / -EPROTO (unknown kind) with *why set. */
int codec_decode(struct codec_state *st, const uint8_t *buf, size_t len, size_t *pos,
		 struct trace_event *ev, const char **why);

#endif
