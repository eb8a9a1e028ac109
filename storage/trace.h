/* The trace store: one SQLite file per recording.
 *
 * The writer appends events to an in-memory buffer, cuts it into chunks of
 * about TRACE_CHUNK_TARGET raw bytes, compresses each chunk with lz4 and
 * inserts it as one row of the `chunks` table, indexed by its first event
 * number and first guest-exit number.  The writer keeps one transaction open
 * and commits it at least once a second from its own append path (and from
 * trace_writer_tick() and trace_writer_close()), so a kill -9 of the
 * recorder loses at most the last second.  The file is marked complete only
 * by trace_writer_close() with an end record.
 *
 * The reader finds event N with one indexed lookup and one decompression.
 * Every check on the file's contents names the trace and the position; a
 * damaged file is an error (-EBADMSG, -EPROTO, -ENOTSUP), never a crash.
 *
 * The schema and the event encoding are documented in storage/README.md.
 * TRACE_FORMAT_VERSION is bumped on any change of either. */
#ifndef TTVM_STORAGE_TRACE_H
#define TTVM_STORAGE_TRACE_H
#include <stddef.h>
#include <stdint.h>

#define TRACE_FORMAT_VERSION 9
/* SQLite application_id of a ttvm trace ("TTVM"), checked before anything else. */
#define TRACE_APPLICATION_ID 0x5454564d
/* Raw bytes after which the writer cuts a chunk (one event may overshoot). */
#define TRACE_CHUNK_TARGET (64 * 1024)
/* Largest blob carried by one event (serial bytes, CPUID/initial state). */
#define TRACE_MAX_BLOB (16u * 1024 * 1024)

/* Event kinds.  Values are part of the file format: never renumber. */
enum trace_kind {
	TRACE_EV_PIO_READ = 1,   /* value a port-I/O read returned */
	TRACE_EV_MMIO_READ = 2,  /* value an MMIO read returned */
	TRACE_EV_IRQ = 3,        /* interrupt injected at an execution point */
	TRACE_EV_RDTSC = 4,      /* RDTSC result */
	TRACE_EV_RDTSCP = 5,     /* RDTSCP result and TSC_AUX */
	TRACE_EV_SERIAL_IN = 6,  /* byte(s) the serial port received */
	TRACE_EV_CPUID = 7,      /* CPUID policy + initial vCPU state (opaque blob) */
	TRACE_EV_CHECKPOINT = 8, /* a checkpoint was taken here (its id) */
	TRACE_EV_END = 9,        /* end of recording */
	TRACE_EV_RDRAND = 10,    /* RDRAND or RDSEED result and its CF (format 3 on) */
	TRACE_EV_PROBE = 11,     /* a loop probe was set or removed at this exit (format 4 on) */
	TRACE_EV_MSR = 12,       /* value an RDMSR returned that ttvm answered (format 5 on) */
	TRACE_EV_KIND_MAX = 12
};

/* What a TRACE_EV_PROBE event does (u.probe.on). */
enum trace_probe_op { TRACE_PROBE_OFF = 0, TRACE_PROBE_ON = 1, TRACE_PROBE_AT_KICK = 2 };

/* Which instruction a TRACE_EV_RDRAND event logs (u.tsc.rand_insn). */
enum trace_rand_insn { TRACE_RAND_RDRAND = 1, TRACE_RAND_RDSEED = 2 };

/* Why a recording ended (TRACE_EV_END, meta end_reason). */
enum trace_end_reason {
	TRACE_END_GUEST_EXIT = 1, /* guest asked to stop (debug-exit port) */
	TRACE_END_RESET = 2,      /* guest reset / triple fault ended the run */
	TRACE_END_CRASH = 3,      /* guest crash: crash_kind says which */
	TRACE_END_USER = 4,       /* user interrupted the recording */
	TRACE_END_LIMIT = 5,      /* a configured limit (time, events) was hit */
	TRACE_END_HOST_ERROR = 6, /* host-side failure (KVM, disk full, ...) */
	TRACE_END_REASON_MAX = 6
};

/* Divergence fingerprint: where the guest was when the event happened.
 * Any event may carry one (TRACE_EVF_FP); replay compares it. */
struct trace_fp {
	uint32_t exit_reason; /* KVM exit reason */
	uint64_t rip;
	uint64_t regs_hash;   /* hash of the general registers */
};

#define TRACE_EVF_FP 0x1u /* ev->fp is valid */
/* Set by the reader (format 6 on): ev->fp.regs_hash is not stored (it
 * reads 0); the hash went into the chain that a later check covers. */
#define TRACE_EVF_FP_CHAINED 0x2u
/* Set by the reader (format 6 on): ev->check holds the chain
 * (trace_fp_chain) of the register hashes of every TRACE_EVF_FP_CHAINED
 * event since the previous check or checkpoint event, this event's own
 * included. */
#define TRACE_EVF_CHECK 0x4u
/* Set by the reader (format 8 on): the event's check and the register
 * hash and memory digest of its kick point (irq, probe op 2) hold only
 * their low 32 bits; compare them with trace_hash_eq().  An event read so
 * may be written again (a copy) with the flag. */
#define TRACE_EVF_SHORT 0x8u

/* Set by the reader (format 9 on), with TRACE_EVF_SHORT: the kick point
 * (irq, probe op 2) holds a filter, the low 8 bits of its register hash,
 * in regs_hash (bit 32 set, so that it is never 0), and in mem_hash the low
 * 32 bits of trace_point_hash(register hash, memory digest).  Compare them
 * with trace_point_regs_eq() and trace_point_mem_eq().  An event read so
 * may be written again (a copy) into format 9 only. */
#define TRACE_EVF_POINT_MIX 0x10u

/* A recorded hash (check, kick-point register hash or memory digest) of an
 * event with these flags against the one replay computed. */
static inline int trace_hash_eq(uint32_t flags, uint64_t recorded, uint64_t actual)
{
	return (flags & TRACE_EVF_SHORT) ? (uint32_t)recorded == (uint32_t)actual : recorded == actual;
}

/* Format 6 stores no register hash in a fingerprint: the writer chains
 * them and stores the chain (a check) on the event at which the oldest
 * hash not yet covered is TRACE_FP_CHECK_EVERY - 1 events old, and on
 * every checkpoint and end event that follows a hash not yet covered.  A
 * register divergence is so found at most TRACE_FP_CHECK_EVERY - 1 events
 * after the first wrong event.  The chain restarts after each check: a
 * replay that starts at a checkpoint starts it there. */
#define TRACE_FP_CHECK_EVERY 16
/* The chain after chain (0 at its start) takes in one register hash. */
uint64_t trace_fp_chain(uint64_t chain, uint64_t regs_hash);
/* Format 8: what a kick point (irq, probe op 2) puts into the chain after
 * the event's own check, if any: its full register hash and memory
 * digest, of which the event keeps only 32 bits each.  Replay adds it
 * where it takes the point, so that a pass of a loop wrongly taken for it
 * is reported at the next check. */
uint64_t trace_point_hash(uint64_t regs_hash, uint64_t mem_hash);

/* A kick point, looked for at each pass of its RIP: first its register
 * hash (cheap; format 9: only 8 bits of it, a filter), then, where that
 * matches, with the memory digest (a loop that keeps its counter in memory
 * repeats its registers; format 9: the point hash of both, 32 bits). */
static inline int trace_point_regs_eq(uint32_t flags, uint64_t recorded, uint64_t regs_hash)
{
	if (flags & TRACE_EVF_POINT_MIX)
		return (uint8_t)recorded == (uint8_t)regs_hash;
	return trace_hash_eq(flags, recorded, regs_hash);
}

static inline int trace_point_mem_eq(uint32_t flags, uint64_t recorded_mem, uint64_t regs_hash, uint64_t mem_digest)
{
	if (flags & TRACE_EVF_POINT_MIX)
		return (uint32_t)recorded_mem == (uint32_t)trace_point_hash(regs_hash, mem_digest);
	return trace_hash_eq(flags, recorded_mem, mem_digest);
}

/* One event.  Fill kind, exit_no, the member of u that belongs to kind and,
 * optionally, fp + TRACE_EVF_FP (an event read from a format 6 trace may
 * also be written again as it was read, with TRACE_EVF_FP_CHAINED and
 * TRACE_EVF_CHECK: a copy).  seq is assigned by the writer and filled
 * by the reader.  Blob pointers returned by the reader stay valid until the
 * next call on that reader. */
struct trace_event {
	uint64_t seq;     /* event number, from 0 */
	uint64_t exit_no; /* guest-exit count when it happened (non-decreasing) */
	uint32_t kind;    /* enum trace_kind */
	uint32_t flags;   /* TRACE_EVF_* */
	struct trace_fp fp;
	uint64_t check;   /* TRACE_EVF_CHECK: the chain of register hashes */
	union {
		struct { uint16_t port; uint8_t size; uint32_t value; } pio;
		struct { uint64_t addr; uint8_t size; uint64_t value; } mmio;
		/* execution point = exit_no + rip (+ regs_hash when nonzero) */
		/* mem_hash: digest of guest RAM at a kick point (with regs_hash) */
		struct { uint8_t vector; uint64_t rip; uint64_t regs_hash; uint64_t mem_hash; } irq;
		/* aux: RDTSCP only.  rand_insn (enum trace_rand_insn) and
		 * rand_cf (the carry flag the guest saw, 0 or 1): RDRAND only;
		 * value is then what the destination register received. */
		struct { uint64_t value; uint32_t aux; uint8_t rand_insn; uint8_t rand_cf; } tsc;
		struct { const uint8_t *data; uint32_t len; } blob; /* SERIAL_IN, CPUID */
		struct { uint64_t id; } ckpt;
		/* A loop probe (record/probe.c) at linear address addr goes
		 * off (on = TRACE_PROBE_OFF) or on (TRACE_PROBE_ON) right after
		 * this exit, or on where the guest stood at addr between this
		 * exit and the next (TRACE_PROBE_AT_KICK: a kick point, with
		 * the register hash and memory digest there, as an irq's). */
		struct { uint64_t addr; uint8_t on; uint64_t regs_hash; uint64_t mem_hash; } probe;
		struct { uint32_t reason; int32_t status; uint32_t crash_kind; uint64_t rip; } end;
		/* An RDMSR of MSR index that ttvm answered (core/msr.h) with value. */
		struct { uint32_t index; uint64_t value; } msr;
	} u;
};

/* Does ev go in at a kick point (an irq with a register hash, a probe op
 * 2), whose hashes name a point between two exits? */
static inline int trace_is_kick_point(const struct trace_event *ev)
{
	return (ev->kind == TRACE_EV_IRQ && ev->u.irq.regs_hash) ||
	       (ev->kind == TRACE_EV_PROBE && ev->u.probe.on == TRACE_PROBE_AT_KICK);
}

/* Description of the recording, written once at open. */
struct trace_meta {
	const char *kvm_flavour; /* e.g. "kvm-intel", "kvm-amd" (NULL: "unknown") */
	const char *cmdline;     /* the ttvm command line (NULL: "") */
	uint64_t mem_size;       /* guest memory in bytes */
	int64_t start_time;      /* Unix seconds (0: now) */
	const void *cpuid_policy; /* CPUID policy blob (may be NULL) */
	size_t cpuid_policy_len;
};

/* Writer options; zero-initialise for defaults. */
struct trace_writer_opts {
	uint32_t chunk_target;   /* raw bytes per chunk (0: TRACE_CHUNK_TARGET) */
	uint32_t commit_ms;      /* commit interval (0: 1000) */
	uint64_t max_bytes;      /* cap on the file size (0: none); hitting it acts as a full disk */
	uint32_t format_version; /* tests: write this older format (2..7; its encoding
				    and version number); 0: TRACE_FORMAT_VERSION */
	/* Flight recording: every checkpoint event starts a new chunk, so that
	 * trace_drop_before() (checkpoint.h) can drop whole chunks, and the
	 * write-ahead log is kept small (it would otherwise grow to 64 MiB). */
	int flight;
};

struct trace_writer;

/* Create the trace at path (must not exist); writes format version first,
 * metadata, state "incomplete", commits.  0 or -errno (message on stderr). */
int trace_writer_open(const char *path, const struct trace_meta *meta,
		      const struct trace_writer_opts *opts, struct trace_writer **out);
/* Record a guest image: name, size, SHA-256 and, when store is set, the bytes
 * themselves (lz4-compressed).  0 or -errno. */
int trace_writer_add_image(struct trace_writer *w, const char *name,
			   const void *data, size_t size, int store);
/* Set a free-form metadata key (text).  0 or -errno. */
int trace_writer_set_meta(struct trace_writer *w, const char *key, const char *value);
/* Append one event; sets ev->seq.  Commits when commit_ms has passed.
 * 0, or -ENOSPC/-EIO after which the writer is stopped (message printed,
 * committed data stays readable), or -EINVAL for a malformed event. */
int trace_writer_append(struct trace_writer *w, struct trace_event *ev);
/* Commit if commit_ms has passed; call while idle.  0 or -errno. */
int trace_writer_tick(struct trace_writer *w);
/* Flush the buffered events into a chunk and commit now.  0 or -errno. */
int trace_writer_flush(struct trace_writer *w);
/* Number of the next event to be appended. */
uint64_t trace_writer_next_seq(const struct trace_writer *w);
/* Finish: with end != NULL append it as TRACE_EV_END and mark the trace
 * complete; with NULL leave it incomplete.  Commits and frees w even on
 * error.  0 or -errno. */
int trace_writer_close(struct trace_writer *w, const struct trace_event *end);

/* Called, when set, before the store prints a message on stderr: the
 * recorder's status line (core/status.h) erases itself there. */
extern void (*trace_msg_hook)(void);

/* Bytes the trace's database holds, the open transaction included (pages
 * times page size; the write-ahead log not counted twice).  0 if unknown. */
uint64_t trace_writer_size(struct trace_writer *w);
/* The same without the database's free pages (what dropping freed, which
 * later writes reuse): what --max-size bounds.  0 if unknown. */
uint64_t trace_writer_used(struct trace_writer *w);

/* Summary of an open trace. */
struct trace_info {
	uint32_t format_version;
	int complete;           /* 1 once closed with an end record */
	uint64_t n_events;      /* events are numbered first_event..n_events-1 */
	uint64_t first_event;   /* 0, or for a flight recording that dropped its
				 * beginning, the event of its oldest kept
				 * (full) checkpoint: the kept part starts there */
	uint64_t n_chunks;
	uint64_t raw_bytes;     /* encoded events before compression */
	uint64_t stored_bytes;  /* compressed chunk bytes */
	uint64_t first_exit, last_exit;
	uint64_t n_checkpoints;
	uint64_t n_images;
};

struct trace_chunk_info {
	uint64_t first_event, n_events;
	uint64_t first_exit, last_exit;
	uint64_t raw_offset;    /* byte range in the concatenated raw event stream */
	uint32_t raw_size, stored_size;
};

struct trace_image_info {
	char name[256];
	uint64_t size;
	uint8_t sha256[32];
	int stored;             /* bytes are in the trace */
};

struct trace_reader;

/* Open a trace read-only and check it (application id, format version,
 * metadata, chunk table).  0 or -errno; on error err holds one line naming
 * the trace and the position. */
int trace_reader_open(const char *path, struct trace_reader **out, char *err, size_t errlen);
/* Same over an in-memory copy of a trace file (fuzzing, tests); name is used
 * in messages. */
int trace_reader_open_mem(const void *buf, size_t len, const char *name,
			  struct trace_reader **out, char *err, size_t errlen);
void trace_reader_close(struct trace_reader *r);
/* The last error, naming the trace and position ("" if none). */
const char *trace_reader_errmsg(const struct trace_reader *r);
/* Fill *info.  Never fails once opened. */
void trace_reader_info(const struct trace_reader *r, struct trace_info *info);
/* Metadata text for key, or NULL; valid until the next call on r. */
const char *trace_reader_meta(struct trace_reader *r, const char *key);
/* Metadata blob for key (e.g. "cpuid_policy"); *len set.  NULL if absent. */
const void *trace_reader_meta_blob(struct trace_reader *r, const char *key, size_t *len);
/* Chunk idx (0..n_chunks-1).  0 or -ERANGE. */
int trace_reader_chunk(const struct trace_reader *r, uint64_t idx, struct trace_chunk_info *ci);
/* Image idx.  0 or -ERANGE/-errno. */
int trace_reader_image(struct trace_reader *r, uint64_t idx, struct trace_image_info *ii);
/* Copy stored image idx into buf (ii.size bytes) and verify its SHA-256.
 * 0, -ENOENT if not stored, -EBADMSG if damaged. */
int trace_reader_image_data(struct trace_reader *r, uint64_t idx, void *buf, size_t size);
/* Position so that the next trace_reader_next() returns event seq.
 * 0, -ERANGE past the end or before first_event (dropped: the message says
 * so), -EBADMSG etc. for a damaged chunk.  A new reader is at first_event. */
int trace_reader_seek(struct trace_reader *r, uint64_t seq);
/* Position at the first event with exit_no >= exit_no.  0 or -ERANGE/-errno. */
int trace_reader_seek_exit(struct trace_reader *r, uint64_t exit_no);
/* Read the next event: 1, 0 at the end, or -errno (see trace_reader_errmsg). */
int trace_reader_next(struct trace_reader *r, struct trace_event *ev);
/* Read event seq (seek + next): 1, 0 if past the end, or -errno. */
int trace_reader_get(struct trace_reader *r, uint64_t seq, struct trace_event *ev);

/* Name of a kind ("pio_read", ...) or NULL; and back (0 if unknown). */
const char *trace_kind_name(uint32_t kind);
uint32_t trace_kind_from_name(const char *name);
/* Name of an end reason ("guest_exit", ...) or "unknown". */
const char *trace_end_reason_name(uint32_t reason);

#endif
