/* Flight recording: `ttvm record --keep DURATION` and/or `--max-size SIZE`
 * keep only the last part of a recording.
 *
 * After each checkpoint (record/ckpt.c) the recorder picks the oldest
 * checkpoint to keep: with --keep, the newest one that is at least
 * DURATION of guest time (the virtual clock, devices/clock.h) older than
 * the one just taken, so that the kept part always covers DURATION; with
 * --max-size, further ones while the trace's live data (its database pages
 * minus the free ones, which later writes reuse) exceeds SIZE, down to the
 * newest.  trace_drop_before() (storage/checkpoint.h) then makes it full
 * and drops everything before it in one transaction.  The trace then starts
 * at that checkpoint: replay restores it (replay/seek.h). */
#ifndef TTVM_RECORD_FLIGHT_H
#define TTVM_RECORD_FLIGHT_H
#include <stdint.h>

struct vm;

/* "10m", "90s", "1.5h", "500ms", "2d"; a bare number is seconds.  0 and
 * *ns > 0, or -EINVAL (zero, negative, garbage, over a year). */
int flight_parse_duration(const char *s, uint64_t *ns);
/* "100M", "2G", "512K", "4096" (bytes); K/M/G/T are powers of 1024, an
 * optional trailing "B" or "iB" is accepted.  0 and *bytes > 0, or -EINVAL
 * (zero, garbage, under 64 KiB, over 2^60). */
int flight_parse_size(const char *s, uint64_t *bytes);
/* Record, right after checkpoint id was stored: drop what the bounds no
 * longer keep.  A failed drop stops the recording (the writer stopped, as
 * on a full disk). */
void record_flight_after_ckpt(struct vm *vm, uint64_t id);
/* Record, at the end: one -v line on what was kept and dropped. */
void record_flight_report(struct vm *vm);

#endif
