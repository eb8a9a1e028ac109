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

/* Fingerprint RIPs a chunk remembers, most recent first (format 6). */
#define CODEC_RIPS 15
/* TSC deltas a chunk remembers to predict the next (format 8). */
#define CODEC_TSC_HIST 4

/* Codec state.  Zero it once; codec_reset() starts each chunk. */
struct codec_state {
	/* Format 2-5 fingerprints (full register hash in every one): set once
	 * by a reader of such a trace (or a writer asked for one); kept by
	 * codec_reset. */
	uint32_t legacy;
	/* Format 8: a chunk is varint(length of stream A), stream A (tags,
	 * fingerprint bytes, small fields), stream B (values: port and MMIO
	 * values, TSC deltas, random bits, kick-point hashes, checks, blob
	 * bytes).  Set once like legacy. */
	uint32_t split;
	/* Format 9: a kick point is an 8-bit filter of its register hash and a
	 * 32-bit point hash (TRACE_EVF_POINT_MIX).  Set once like legacy. */
	uint32_t mix;
	/* Reader, format 8: stream B of the current chunk (codec_begin). */
	const uint8_t *vbuf;
	size_t vlen, vpos;
	/* Delta state, reset at each chunk start. */
	uint64_t exit_no;
	uint64_t tsc;
	uint64_t tsc_d[CODEC_TSC_HIST]; /* format 8: the last TSC deltas, */
	uint32_t tsc_n, tsc_i;          /*   how many, where the next goes */
	uint64_t rip;
	uint64_t rips[CODEC_RIPS];     /* move-to-front table of fingerprint RIPs */
	uint32_t reason[TRACE_EV_KIND_MAX + 1]; /* last fingerprint exit reason per kind */
	/* Writer only, across chunks (format 6): the chain of the register
	 * hashes not yet covered by a check, and its age in events (0: none
	 * pending).  See TRACE_FP_CHECK_EVERY. */
	uint64_t chain;
	uint32_t chain_age;
};

/* Start a chunk whose first event has exit number first_exit. */
void codec_reset(struct codec_state *st, uint64_t first_exit);
/* 0 if ev can be encoded after an event at exit prev_exit; -EINVAL otherwise. */
int codec_check(const struct trace_event *ev, uint64_t prev_exit);
/* Bytes codec_encode() may write for ev (an upper bound). */
size_t codec_bound(const struct trace_event *ev);
/* Encode a codec_check()ed ev at out (codec_bound() bytes free); returns the
 * length.  Format 8 (st->split): its values go to vout instead (codec_bound()
 * bytes free there too), and *vlen grows by their length. */
size_t codec_encode(struct codec_state *st, const struct trace_event *ev, uint8_t *out, uint8_t *vout,
		    size_t *vlen);
/* Writer, format 8: the chunk's header, varint(alen), at out (10 bytes free); its length. */
size_t codec_header(uint64_t alen, uint8_t *out);
/* Reader: start decoding the chunk buf[0..len): *pos and *end bound
 * stream A (for format 8 the header is read and stream B set up; else all
 * of buf).  0, or -EBADMSG with *why set. */
int codec_begin(struct codec_state *st, const uint8_t *buf, size_t len, size_t *pos, size_t *end,
		const char **why);
/* Decode the event at buf[*pos] (buf has len bytes), advance *pos.  0, or
 * -EBADMSG (truncated/malformed) / -EPROTO (unknown kind) with *why set. */
int codec_decode(struct codec_state *st, const uint8_t *buf, size_t len, size_t *pos,
		 struct trace_event *ev, const char **why);

#endif
