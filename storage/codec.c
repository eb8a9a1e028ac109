#include "storage/codec.h"

#include <errno.h>
#include <string.h>

#include "storage/trace.h"

#define TAG_KIND_MASK 0x0fu
#define TAG_FP 0x10u
#define TAG_EXIT_SHIFT 5
#define TAG_EXIT_BIG 7u /* delta >= 7: varint(delta - 7) follows the tag */

/* Format 6: the byte that follows the payload when TAG_FP is set. */
#define FPB_RIP_MASK 0x0fu  /* index into st->rips, or: */
#define FPB_RIP_NEW 0x0fu   /*   zz(rip - prev_rip) follows */
#define FPB_REASON 0x10u    /* varint(exit reason) follows (else: the last of this kind) */
#define FPB_POINT 0x20u     /* irq: the fingerprint is the kick point (its RIP and hash) */
#define FPB_CHECK 0x40u     /* u64 chain of register hashes follows, last */
#define FPB_NOFP 0x80u      /* no fingerprint, only the check (exactly FPB_NOFP | FPB_CHECK) */

static int fp_is_point(const struct trace_event *ev);

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t zigzag(uint64_t delta)
{
	return (delta << 1) ^ (0 - (delta >> 63));
}

static inline uint64_t unzigzag(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

static inline uint8_t *put_u32le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static inline uint8_t *put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static int size_code(unsigned size)
{
	switch (size) {
	case 1: return 0;
	case 2: return 1;
	case 4: return 2;
	case 8: return 3;
	default: return -1;
	}
}

/* Format 8: the next TSC delta predicted as the smallest of the last
 * CODEC_TSC_HIST (the time between two reads in a loop is at least the
 * loop's; 0 before format 8 and at a chunk start).  Measured on the rdtsc
 * and msr guests (2026-12-06, PVM): deltas of 145,000 to 1.4 million
 * cycles; a zigzag varint of the delta took 3.06 and 3.01 bytes on
 * average, of its distance to the last delta 2.85 and 2.69, to the
 * smallest of the last 2, 4, 8: 2.61, 2.57, 2.57 and 2.49, 2.44, 2.43. */
static uint64_t tsc_predict(const struct codec_state *st)
{
	if (!st->split || !st->tsc_n)
		return 0;
	uint64_t m = st->tsc_d[0];
	for (unsigned i = 1; i < st->tsc_n; i++)
		if ((int64_t)st->tsc_d[i] < (int64_t)m)
			m = st->tsc_d[i];
	return m;
}

/* The TSC is now tsc: remember the delta (format 8). */
static void tsc_step(struct codec_state *st, uint64_t tsc)
{
	if (st->split) {
		st->tsc_d[st->tsc_i] = tsc - st->tsc;
		st->tsc_i = (st->tsc_i + 1) % CODEC_TSC_HIST;
		if (st->tsc_n < CODEC_TSC_HIST)
			st->tsc_n++;
	}
	st->tsc = tsc;
}

void codec_reset(struct codec_state *st, uint64_t first_exit)
{
	st->exit_no = first_exit;
	st->tsc = 0;
	st->tsc_n = st->tsc_i = 0;
	st->rip = 0;
	memset(st->rips, 0, sizeof(st->rips));
	memset(st->reason, 0, sizeof(st->reason));
}

uint64_t trace_fp_chain(uint64_t chain, uint64_t regs_hash)
{
	/* splitmix64's finalizer over the two: order matters, and one changed
	 * hash changes every later link. */
	uint64_t x = (chain ^ regs_hash) + 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t trace_point_hash(uint64_t regs_hash, uint64_t mem_hash)
{
	return trace_fp_chain(regs_hash, mem_hash);
}

/* Format 6: is ev's fingerprint its own kick point (nothing more to store)? */
static int fp_is_point(const struct trace_event *ev)
{
	return ev->kind == TRACE_EV_IRQ && ev->u.irq.regs_hash && ev->fp.rip == ev->u.irq.rip &&
	       ev->fp.regs_hash == ev->u.irq.regs_hash;
}

/* Move-to-front lookup of rip in st->rips: its index, or FPB_RIP_NEW (then
 * it goes in front).  Encoder and decoder update the table alike. */
static unsigned rip_mtf(struct codec_state *st, uint64_t rip)
{
	unsigned i;
	for (i = 0; i < CODEC_RIPS && st->rips[i] != rip; i++)
		;
	unsigned found = i < CODEC_RIPS ? i : FPB_RIP_NEW;
	if (i == CODEC_RIPS)
		i--;
	memmove(st->rips + 1, st->rips, i * sizeof(st->rips[0]));
	st->rips[0] = rip;
	return found;
}

int codec_check(const struct trace_event *ev, uint64_t prev_exit)
{
	if (ev->flags & ~(TRACE_EVF_FP | TRACE_EVF_FP_CHAINED | TRACE_EVF_CHECK | TRACE_EVF_SHORT | TRACE_EVF_POINT_MIX))
		return -EINVAL;
	if ((ev->flags & TRACE_EVF_POINT_MIX) && !(ev->flags & TRACE_EVF_SHORT))
		return -EINVAL;
	/* A chained hash is a fingerprint's (an event read from a trace of
	 * format 6, being copied). */
	if ((ev->flags & TRACE_EVF_FP_CHAINED) && (!(ev->flags & TRACE_EVF_FP) || fp_is_point(ev)))
		return -EINVAL;
	if (ev->exit_no < prev_exit)
		return -EINVAL;
	switch (ev->kind) {
	case TRACE_EV_PIO_READ:
		return ev->u.pio.size == 1 || ev->u.pio.size == 2 || ev->u.pio.size == 4 ? 0 : -EINVAL;
	case TRACE_EV_MMIO_READ:
		if (size_code(ev->u.mmio.size) < 0 || ev->u.mmio.addr >> 62)
			return -EINVAL;
		return 0;
	case TRACE_EV_SERIAL_IN:
		if (ev->u.blob.len == 0)
			return -EINVAL;
		/* fall through */
	case TRACE_EV_CPUID:
		if (ev->u.blob.len > TRACE_MAX_BLOB || (ev->u.blob.len && !ev->u.blob.data))
			return -EINVAL;
		return 0;
	case TRACE_EV_END:
		return ev->u.end.reason >= 1 && ev->u.end.reason <= TRACE_END_REASON_MAX ? 0 : -EINVAL;
	case TRACE_EV_RDRAND:
		if (ev->u.tsc.rand_insn != TRACE_RAND_RDRAND && ev->u.tsc.rand_insn != TRACE_RAND_RDSEED)
			return -EINVAL;
		return ev->u.tsc.rand_cf <= 1 ? 0 : -EINVAL;
	case TRACE_EV_PROBE:
		if (ev->u.probe.on == TRACE_PROBE_AT_KICK)
			return ev->u.probe.regs_hash ? 0 : -EINVAL;
		return ev->u.probe.on <= TRACE_PROBE_ON ? 0 : -EINVAL;
	case TRACE_EV_IRQ:
	case TRACE_EV_RDTSC:
	case TRACE_EV_RDTSCP:
	case TRACE_EV_CHECKPOINT:
	case TRACE_EV_MSR:
		return 0;
	default:
		return -EINVAL;
	}
}

size_t codec_bound(const struct trace_event *ev)
{
	size_t n = CODEC_MAX_FIXED;
	if (ev->kind == TRACE_EV_SERIAL_IN || ev->kind == TRACE_EV_CPUID)
		n += ev->u.blob.len;
	return n;
}

size_t codec_header(uint64_t alen, uint8_t *out)
{
	return (size_t)(put_varint(out, alen) - out);
}

/* A kick point: its register hash and memory digest (format 8: low 32 bits
 * each); format 9: the register hash's low 8 bits (a filter replay tries
 * at every pass) and the low 32 bits of the point hash of both (tried
 * where the filter matches).  Measured on the compute guest without loop
 * probes (2026-12-07, PVM, 30 kick points in 141 events): 3.57 bytes per
 * event in format 8, 2.9 in format 9.  A pass wrongly taken for the point
 * needs 40 matching bits where the registers differ (format 8: 32; and 32
 * in both where only memory differs), and is caught at the next check as
 * before (the chain takes the full point hash). */
static uint8_t *put_point(const struct codec_state *st, uint8_t *q, uint32_t flags, uint64_t regs_hash,
			  uint64_t mem_hash)
{
	if (!st->split)
		return put_u64le(put_u64le(q, regs_hash), mem_hash);
	if (!st->mix)
		return put_u32le(put_u32le(q, regs_hash), mem_hash);
	*q++ = (uint8_t)regs_hash;
	return put_u32le(q, (flags & TRACE_EVF_POINT_MIX) ? mem_hash : trace_point_hash(regs_hash, mem_hash));
}

/* Bytes needed for v (0 for 0). */
static unsigned byte_len(uint64_t v)
{
	unsigned n = 0;
	while (v) {
		n++;
		v >>= 8;
	}
	return n;
}

size_t codec_encode(struct codec_state *st, const struct trace_event *ev, uint8_t *out, uint8_t *vout,
		    size_t *vlen)
{
	uint8_t *p = out + 1;
	/* Values go to stream B in format 8, else after the rest. */
	uint8_t *q = st->split ? vout : NULL;
	uint8_t **vp = st->split ? &q : &p;
	uint64_t d = ev->exit_no - st->exit_no;
	uint8_t tag = (uint8_t)ev->kind;

	st->exit_no = ev->exit_no;
	if (d < TAG_EXIT_BIG) {
		tag |= (uint8_t)(d << TAG_EXIT_SHIFT);
	} else {
		tag |= TAG_EXIT_BIG << TAG_EXIT_SHIFT;
		*vp = put_varint(*vp, d - TAG_EXIT_BIG);
	}
	/* Format 6: the register hash goes into the chain; a check is due
	 * when the oldest hash it holds is TRACE_FP_CHECK_EVERY - 1 events
	 * old, and at checkpoints and the end. */
	int fp = (ev->flags & TRACE_EVF_FP) != 0, check = 0;
	if (!st->legacy && (ev->flags & (TRACE_EVF_FP_CHAINED | TRACE_EVF_CHECK))) {
		/* A copy of an event read from a format 6 trace: its chained
		 * hash and its check as they were. */
		check = (ev->flags & TRACE_EVF_CHECK) != 0;
	} else if (!st->legacy) {
		if (st->chain_age)
			st->chain_age++;
		if (fp && !fp_is_point(ev)) {
			st->chain = trace_fp_chain(st->chain, ev->fp.regs_hash);
			if (!st->chain_age)
				st->chain_age = 1;
		}
		check = st->chain_age && (st->chain_age >= TRACE_FP_CHECK_EVERY ||
					  ev->kind == TRACE_EV_CHECKPOINT || ev->kind == TRACE_EV_END);
	}
	if (fp || check)
		tag |= TAG_FP;
	out[0] = tag;

	switch (ev->kind) {
	case TRACE_EV_PIO_READ:
		p = put_varint(p, (uint64_t)ev->u.pio.port << 2 | (unsigned)size_code(ev->u.pio.size));
		*vp = put_varint(*vp, ev->u.pio.value);
		break;
	case TRACE_EV_MMIO_READ:
		p = put_varint(p, ev->u.mmio.addr << 2 | (unsigned)size_code(ev->u.mmio.size));
		*vp = put_varint(*vp, ev->u.mmio.value);
		break;
	case TRACE_EV_IRQ:
		if (st->split) {
			/* Format 8: bit 1 says a RIP follows (an interrupt at an
			 * exit has none: 0). */
			int has_rip = ev->u.irq.rip || ev->u.irq.regs_hash;
			p = put_varint(p, (uint64_t)ev->u.irq.vector << 2 | (uint64_t)has_rip << 1 |
					      (ev->u.irq.regs_hash != 0));
			if (!has_rip)
				break;
		} else {
			p = put_varint(p, (uint64_t)ev->u.irq.vector << 1 | (ev->u.irq.regs_hash != 0));
		}
		*vp = put_varint(*vp, zigzag(ev->u.irq.rip - st->rip));
		st->rip = ev->u.irq.rip;
		if (ev->u.irq.regs_hash)
			*vp = put_point(st, *vp, ev->flags, ev->u.irq.regs_hash, ev->u.irq.mem_hash);
		break;
	case TRACE_EV_RDTSC:
	case TRACE_EV_RDTSCP:
		*vp = put_varint(*vp, zigzag(ev->u.tsc.value - st->tsc - tsc_predict(st)));
		tsc_step(st, ev->u.tsc.value);
		if (ev->kind == TRACE_EV_RDTSCP)
			p = put_varint(p, ev->u.tsc.aux);
		break;
	case TRACE_EV_RDRAND:
		/* Random bits do not delta-compress: the value itself (a 16- or
		 * 32-bit operand stays short as a varint). */
		if (st->split) {
			/* Format 8: its bytes, their number in stream A (a
			 * varint of 64 random bits takes 10). */
			unsigned n = byte_len(ev->u.tsc.value);
			p = put_varint(p, (uint64_t)n << 3 | (uint64_t)ev->u.tsc.rand_insn << 1 | ev->u.tsc.rand_cf);
			for (unsigned i = 0; i < n; i++)
				*q++ = (uint8_t)(ev->u.tsc.value >> (8 * i));
			break;
		}
		p = put_varint(p, (uint64_t)ev->u.tsc.rand_insn << 1 | ev->u.tsc.rand_cf);
		p = put_varint(p, ev->u.tsc.value);
		break;
	case TRACE_EV_SERIAL_IN:
	case TRACE_EV_CPUID:
		p = put_varint(p, ev->u.blob.len);
		if (ev->u.blob.len)
			memcpy(*vp, ev->u.blob.data, ev->u.blob.len);
		*vp += ev->u.blob.len;
		break;
	case TRACE_EV_CHECKPOINT:
		p = put_varint(p, ev->u.ckpt.id);
		break;
	case TRACE_EV_PROBE:
		p = put_varint(p, ev->u.probe.on);
		p = put_varint(p, ev->u.probe.addr);
		if (ev->u.probe.on == TRACE_PROBE_AT_KICK)
			*vp = put_point(st, *vp, ev->flags, ev->u.probe.regs_hash, ev->u.probe.mem_hash);
		break;
	case TRACE_EV_MSR:
		/* The TSC read through RDMSR shares the RDTSC delta. */
		p = put_varint(p, ev->u.msr.index);
		if (ev->u.msr.index == CODEC_MSR_TSC) {
			*vp = put_varint(*vp, zigzag(ev->u.msr.value - st->tsc - tsc_predict(st)));
			tsc_step(st, ev->u.msr.value);
		} else {
			*vp = put_varint(*vp, zigzag(ev->u.msr.value - st->tsc));
		}
		break;
	case TRACE_EV_END:
		p = put_varint(p, ev->u.end.reason);
		p = put_varint(p, zigzag((uint64_t)(int64_t)ev->u.end.status));
		p = put_varint(p, ev->u.end.crash_kind);
		p = put_varint(p, ev->u.end.rip);
		break;
	}
	if (st->legacy) {
		if (fp) {
			p = put_varint(p, ev->fp.exit_reason);
			p = put_varint(p, zigzag(ev->fp.rip - st->rip));
			st->rip = ev->fp.rip;
			p = put_u64le(p, ev->fp.regs_hash);
		}
		return (size_t)(p - out);
	}
	if (fp) {
		uint8_t *fb = p++;
		uint8_t b = 0;
		if (fp_is_point(ev) && !(ev->flags & TRACE_EVF_FP_CHAINED)) {
			b |= FPB_POINT;
		} else {
			unsigned idx = rip_mtf(st, ev->fp.rip);
			b |= (uint8_t)idx;
			if (idx == FPB_RIP_NEW)
				p = put_varint(p, zigzag(ev->fp.rip - st->rip));
			st->rip = ev->fp.rip;
		}
		if (ev->fp.exit_reason != st->reason[ev->kind]) {
			b |= FPB_REASON;
			p = put_varint(p, ev->fp.exit_reason);
			st->reason[ev->kind] = ev->fp.exit_reason;
		}
		*fb = (uint8_t)(b | (check ? FPB_CHECK : 0));
	} else if (check) {
		*p++ = FPB_NOFP | FPB_CHECK;
	}
	if (check) {
		uint64_t c = (ev->flags & TRACE_EVF_CHECK) ? ev->check : st->chain;
		*vp = st->split ? put_u32le(*vp, c) : put_u64le(*vp, c);
		if (!(ev->flags & TRACE_EVF_CHECK)) {
			st->chain = 0;
			st->chain_age = 0;
		}
	}
	/* Format 8: a kick point's full hashes go into the chain after the
	 * check (replay checks a check on an event without a chained
	 * fingerprint before the event, and adds the point when it takes it).
	 * A copy keeps its checks as they are. */
	if (st->split && !(ev->flags & (TRACE_EVF_SHORT | TRACE_EVF_FP_CHAINED | TRACE_EVF_CHECK))) {
		if (trace_is_kick_point(ev)) {
			int irq = ev->kind == TRACE_EV_IRQ;
			st->chain = trace_fp_chain(st->chain, irq ? trace_point_hash(ev->u.irq.regs_hash, ev->u.irq.mem_hash)
							: trace_point_hash(ev->u.probe.regs_hash, ev->u.probe.mem_hash));
			if (!st->chain_age)
				st->chain_age = 1;
		}
	}
	if (st->split)
		*vlen += (size_t)(q - vout);
	return (size_t)(p - out);
}

/* Reader side: every length and value comes from a file, so every step is
 * bounds-checked and range-checked. */
struct cursor {
	const uint8_t *buf;
	size_t len, pos;
	const char *why;
};

static int get_varint(struct cursor *c, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->pos >= c->len) {
			c->why = "event truncated";
			return -EBADMSG;
		}
		uint8_t b = c->buf[c->pos++];
		if (shift == 63 && b > 1) {
			c->why = "varint overflows 64 bits";
			return -EBADMSG;
		}
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	c->why = "varint longer than 10 bytes";
	return -EBADMSG;
}

static int get_varint_max(struct cursor *c, uint64_t *v, uint64_t max, const char *what)
{
	int rc = get_varint(c, v);
	if (rc)
		return rc;
	if (*v > max) {
		c->why = what;
		return -EBADMSG;
	}
	return 0;
}

static int get_u64le(struct cursor *c, uint64_t *v);

static int get_u32le(struct cursor *c, uint64_t *v)
{
	if (c->len - c->pos < 4) {
		c->why = "event truncated";
		return -EBADMSG;
	}
	uint64_t r = 0;
	for (int i = 0; i < 4; i++)
		r |= (uint64_t)c->buf[c->pos + i] << (8 * i);
	c->pos += 4;
	*v = r;
	return 0;
}

/* A kick point's register hash and memory digest (format 8: low 32 bits
 * each, TRACE_EVF_SHORT; a register part of 0 reads as 1 << 32, since a
 * zero hash means "no kick point"; format 9: put_point()). */
static int get_point(struct codec_state *st, struct cursor *v, struct trace_event *ev, uint64_t *regs_hash,
		     uint64_t *mem_hash)
{
	int rc;
	if (!st->split)
		return (rc = get_u64le(v, regs_hash)) ? rc : get_u64le(v, mem_hash);
	if (st->mix) {
		if (v->pos >= v->len) {
			v->why = "event truncated";
			return -EBADMSG;
		}
		*regs_hash = 1ull << 32 | v->buf[v->pos++];
		ev->flags |= TRACE_EVF_SHORT | TRACE_EVF_POINT_MIX;
		return get_u32le(v, mem_hash);
	}
	if ((rc = get_u32le(v, regs_hash)) || (rc = get_u32le(v, mem_hash)))
		return rc;
	if (!*regs_hash)
		*regs_hash = 1ull << 32;
	ev->flags |= TRACE_EVF_SHORT;
	return 0;
}

static int get_u64le(struct cursor *c, uint64_t *v)
{
	if (c->len - c->pos < 8) {
		c->why = "event truncated";
		return -EBADMSG;
	}
	uint64_t r = 0;
	for (int i = 0; i < 8; i++)
		r |= (uint64_t)c->buf[c->pos + i] << (8 * i);
	c->pos += 8;
	*v = r;
	return 0;
}

/* The payload of event kind ev->kind at c, its values at vc (c itself
 * before format 8; the delta state in st).  0, or -EBADMSG with c->why or
 * vc->why set. */
static int decode_payload(struct codec_state *st, struct cursor *c, struct cursor *vc, struct trace_event *ev)
{
	uint64_t v, w;
	int rc;

	switch (ev->kind) {
	case TRACE_EV_PIO_READ:
		if ((rc = get_varint_max(c, &v, (0xffffull << 2) | 2, "bad port or size")))
			return rc;
		ev->u.pio.port = (uint16_t)(v >> 2);
		ev->u.pio.size = (uint8_t)(1u << (v & 3));
		if ((rc = get_varint_max(vc, &v, UINT32_MAX, "port value exceeds 32 bits")))
			return rc;
		ev->u.pio.value = (uint32_t)v;
		break;
	case TRACE_EV_MMIO_READ:
		if ((rc = get_varint(c, &v)))
			return rc;
		ev->u.mmio.addr = v >> 2;
		ev->u.mmio.size = (uint8_t)(1u << (v & 3));
		if ((rc = get_varint(vc, &ev->u.mmio.value)))
			return rc;
		break;
	case TRACE_EV_IRQ:
		if ((rc = get_varint_max(c, &v, st->split ? 0x3ff : 0x1ff, "interrupt vector exceeds 255")))
			return rc;
		if (st->split) {
			/* Format 8: bit 1, a RIP follows (always at a kick point). */
			if ((v & 1) && !(v & 2)) {
				c->why = "kick point without a RIP";
				return -EBADMSG;
			}
			ev->u.irq.vector = (uint8_t)(v >> 2);
			if (!(v & 2))
				break;
		} else {
			ev->u.irq.vector = (uint8_t)(v >> 1);
		}
		if ((rc = get_varint(vc, &w)))
			return rc;
		st->rip += unzigzag(w);
		ev->u.irq.rip = st->rip;
		if (v & 1) {
			if ((rc = get_point(st, vc, ev, &ev->u.irq.regs_hash, &ev->u.irq.mem_hash)))
				return rc;
			if (!ev->u.irq.regs_hash) {
				c->why = "zero register hash flagged present";
				return -EBADMSG;
			}
		}
		break;
	case TRACE_EV_RDTSC:
	case TRACE_EV_RDTSCP:
		if ((rc = get_varint(vc, &v)))
			return rc;
		tsc_step(st, st->tsc + tsc_predict(st) + unzigzag(v));
		ev->u.tsc.value = st->tsc;
		if (ev->kind == TRACE_EV_RDTSCP) {
			if ((rc = get_varint_max(c, &v, UINT32_MAX, "TSC_AUX exceeds 32 bits")))
				return rc;
			ev->u.tsc.aux = (uint32_t)v;
		}
		break;
	case TRACE_EV_RDRAND:
		/* Format 8: bits 3-6 hold the value's length in bytes. */
		if ((rc = get_varint_max(c, &v, st->split ? 8u << 3 | TRACE_RAND_RDSEED << 1 | 1
					 : TRACE_RAND_RDSEED << 1 | 1, "unknown RDRAND-family instruction")))
			return rc;
		w = v >> 3;
		v &= 7;
		if (v >> 1 != TRACE_RAND_RDRAND && v >> 1 != TRACE_RAND_RDSEED) {
			c->why = "unknown RDRAND-family instruction";
			return -EBADMSG;
		}
		ev->u.tsc.rand_insn = (uint8_t)(v >> 1);
		ev->u.tsc.rand_cf = (uint8_t)(v & 1);
		if (!st->split) {
			if ((rc = get_varint(c, &ev->u.tsc.value)))
				return rc;
			break;
		}
		if (vc->len - vc->pos < w) {
			vc->why = "event truncated";
			return -EBADMSG;
		}
		for (unsigned i = 0; i < w; i++)
			ev->u.tsc.value |= (uint64_t)vc->buf[vc->pos++] << (8 * i);
		break;
	case TRACE_EV_SERIAL_IN:
	case TRACE_EV_CPUID:
		if ((rc = get_varint_max(c, &v, TRACE_MAX_BLOB, "blob length too large")))
			return rc;
		if (v > vc->len - vc->pos) {
			c->why = "blob runs past the chunk end";
			return -EBADMSG;
		}
		if (ev->kind == TRACE_EV_SERIAL_IN && v == 0) {
			c->why = "empty serial input";
			return -EBADMSG;
		}
		ev->u.blob.len = (uint32_t)v;
		ev->u.blob.data = v ? vc->buf + vc->pos : NULL;
		vc->pos += v;
		break;
	case TRACE_EV_CHECKPOINT:
		if ((rc = get_varint(c, &ev->u.ckpt.id)))
			return rc;
		break;
	case TRACE_EV_PROBE:
		if ((rc = get_varint_max(c, &v, TRACE_PROBE_AT_KICK, "unknown probe operation")))
			return rc;
		ev->u.probe.on = (uint8_t)v;
		if ((rc = get_varint(c, &ev->u.probe.addr)))
			return rc;
		if (v == TRACE_PROBE_AT_KICK) {
			if ((rc = get_point(st, vc, ev, &ev->u.probe.regs_hash, &ev->u.probe.mem_hash)))
				return rc;
			if (!ev->u.probe.regs_hash) {
				c->why = "zero register hash in a probe's kick point";
				return -EBADMSG;
			}
		}
		break;
	case TRACE_EV_MSR:
		if ((rc = get_varint_max(c, &v, UINT32_MAX, "MSR index exceeds 32 bits")))
			return rc;
		ev->u.msr.index = (uint32_t)v;
		if ((rc = get_varint(vc, &v)))
			return rc;
		if (ev->u.msr.index == CODEC_MSR_TSC) {
			tsc_step(st, st->tsc + tsc_predict(st) + unzigzag(v));
			ev->u.msr.value = st->tsc;
		} else {
			ev->u.msr.value = st->tsc + unzigzag(v);
		}
		break;
	case TRACE_EV_END:
		if ((rc = get_varint_max(c, &v, TRACE_END_REASON_MAX, "unknown end reason")))
			return rc;
		if (v == 0) {
			c->why = "unknown end reason";
			return -EBADMSG;
		}
		ev->u.end.reason = (uint32_t)v;
		if ((rc = get_varint(c, &v)))
			return rc;
		v = unzigzag(v);
		if ((int64_t)v < INT32_MIN || (int64_t)v > INT32_MAX) {
			c->why = "exit status exceeds 32 bits";
			return -EBADMSG;
		}
		ev->u.end.status = (int32_t)(int64_t)v;
		if ((rc = get_varint_max(c, &v, UINT32_MAX, "crash kind exceeds 32 bits")))
			return rc;
		ev->u.end.crash_kind = (uint32_t)v;
		if ((rc = get_varint(c, &ev->u.end.rip)))
			return rc;
		break;
	}
	return 0;
}

/* Format 6: the fingerprint byte and what it says follows. */
static int decode_fp(struct codec_state *st, struct cursor *c, struct cursor *vc, struct trace_event *ev)
{
	uint64_t v;
	int rc;

	if (c->pos >= c->len) {
		c->why = "event truncated";
		return -EBADMSG;
	}
	uint8_t b = c->buf[c->pos++];
	if (b & FPB_NOFP) {
		if (b != (FPB_NOFP | FPB_CHECK)) {
			c->why = "bad fingerprint byte";
			return -EBADMSG;
		}
	} else if (b & FPB_POINT) {
		if ((b & FPB_RIP_MASK) || ev->kind != TRACE_EV_IRQ || !ev->u.irq.regs_hash) {
			c->why = "bad fingerprint byte";
			return -EBADMSG;
		}
		ev->flags |= TRACE_EVF_FP;
		ev->fp.rip = ev->u.irq.rip;
		ev->fp.regs_hash = ev->u.irq.regs_hash;
	} else {
		ev->flags |= TRACE_EVF_FP | TRACE_EVF_FP_CHAINED;
		unsigned idx = b & FPB_RIP_MASK;
		uint64_t rip = st->rips[idx < CODEC_RIPS ? idx : 0];
		if (idx == FPB_RIP_NEW) {
			if ((rc = get_varint(c, &v)))
				return rc;
			rip = st->rip + unzigzag(v);
		}
		rip_mtf(st, rip);
		st->rip = rip;
		ev->fp.rip = rip;
	}
	if (ev->flags & TRACE_EVF_FP) {
		if (b & FPB_REASON) {
			if ((rc = get_varint_max(c, &v, UINT32_MAX, "exit reason exceeds 32 bits")))
				return rc;
			st->reason[ev->kind] = (uint32_t)v;
		}
		ev->fp.exit_reason = st->reason[ev->kind];
	}
	if (b & FPB_CHECK) {
		if ((rc = st->split ? get_u32le(vc, &ev->check) : get_u64le(vc, &ev->check)))
			return rc;
		ev->flags |= TRACE_EVF_CHECK | (st->split ? TRACE_EVF_SHORT : 0);
	}
	return 0;
}

int codec_decode(struct codec_state *st, const uint8_t *buf, size_t len, size_t *pos,
		 struct trace_event *ev, const char **why)
{
	struct cursor c = { buf, len, *pos, NULL };
	struct cursor vcur = { st->vbuf, st->vlen, st->vpos, NULL };
	struct cursor *vc = st->split ? &vcur : &c;
	uint64_t v, w;
	int rc;

	if (c.pos >= c.len) {
		*why = "event truncated";
		return -EBADMSG;
	}
	uint8_t tag = buf[c.pos++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = tag & TAG_KIND_MASK;
	if (ev->kind == 0 || ev->kind > TRACE_EV_KIND_MAX) {
		*why = "unknown event kind";
		return -EPROTO;
	}
	v = tag >> TAG_EXIT_SHIFT;
	if (v == TAG_EXIT_BIG) {
		if ((rc = get_varint(vc, &w)))
			goto bad;
		v = w + TAG_EXIT_BIG;
		if (v < w) {
			c.why = "exit number overflows";
			goto bad_msg;
		}
	}
	if (st->exit_no + v < st->exit_no) {
		c.why = "exit number overflows";
		goto bad_msg;
	}
	st->exit_no += v;
	ev->exit_no = st->exit_no;

	if ((rc = decode_payload(st, &c, vc, ev)))
		goto bad;
	if ((tag & TAG_FP) && st->legacy) {
		ev->flags |= TRACE_EVF_FP;
		if ((rc = get_varint_max(&c, &v, UINT32_MAX, "exit reason exceeds 32 bits")))
			goto bad;
		ev->fp.exit_reason = (uint32_t)v;
		if ((rc = get_varint(&c, &v)))
			goto bad;
		st->rip += unzigzag(v);
		ev->fp.rip = st->rip;
		if ((rc = get_u64le(&c, &ev->fp.regs_hash)))
			goto bad;
	} else if ((tag & TAG_FP) && (rc = decode_fp(st, &c, vc, ev))) {
		goto bad;
	}
	*pos = c.pos;
	st->vpos = vcur.pos;
	return 0;
bad_msg:
	rc = -EBADMSG;
bad:
	*why = c.why ? c.why : vcur.why;
	return rc;
}

int codec_begin(struct codec_state *st, const uint8_t *buf, size_t len, size_t *pos, size_t *end,
		const char **why)
{
	struct cursor c = { buf, len, 0, NULL };
	uint64_t alen;

	*pos = 0;
	*end = len;
	st->vbuf = NULL;
	st->vlen = st->vpos = 0;
	if (!st->split)
		return 0;
	if (get_varint(&c, &alen)) {
		*why = "chunk header truncated";
		return -EBADMSG;
	}
	if (alen > len - c.pos) {
		*why = "chunk header: stream A runs past the chunk end";
		return -EBADMSG;
	}
	*pos = c.pos;
	*end = c.pos + (size_t)alen;
	st->vbuf = buf + *end;
	st->vlen = len - *end;
	return 0;
}

/* ---- names of the kinds and end reasons (trace.h) ---- */

static const char *const kind_names[] = {
	[TRACE_EV_PIO_READ] = "pio_read",
	[TRACE_EV_MMIO_READ] = "mmio_read",
	[TRACE_EV_IRQ] = "irq",
	[TRACE_EV_RDTSC] = "rdtsc",
	[TRACE_EV_RDTSCP] = "rdtscp",
	[TRACE_EV_SERIAL_IN] = "serial_in",
	[TRACE_EV_CPUID] = "cpuid",
	[TRACE_EV_CHECKPOINT] = "checkpoint",
	[TRACE_EV_END] = "end",
	[TRACE_EV_RDRAND] = "rdrand",
	[TRACE_EV_PROBE] = "probe",
	[TRACE_EV_MSR] = "msr",
};

const char *trace_kind_name(uint32_t kind)
{
	return kind >= 1 && kind <= TRACE_EV_KIND_MAX ? kind_names[kind] : NULL;
}

uint32_t trace_kind_from_name(const char *name)
{
	for (uint32_t k = 1; k <= TRACE_EV_KIND_MAX; k++)
		if (!strcmp(name, kind_names[k]))
			return k;
	return 0;
}

const char *trace_end_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		[TRACE_END_GUEST_EXIT] = "guest_exit",
		[TRACE_END_RESET] = "reset",
		[TRACE_END_CRASH] = "crash",
		[TRACE_END_USER] = "user",
		[TRACE_END_LIMIT] = "limit",
		[TRACE_END_HOST_ERROR] = "host_error",
	};
	return reason >= 1 && reason <= TRACE_END_REASON_MAX ? names[reason] : "unknown";
}
