/* `ttvm inspect --timeline FILE.svg|FILE.html TRACE`: a picture of a
 * recording.  The x axis is the guest-exit number (what positions every
 * event); one lane per kind of input (interrupts one lane per vector) shows
 * events per interval of exits; checkpoints, the start of the kept part and
 * the end record are marked at their exits, and where a checkpoint's vCPU
 * blob tells the guest's virtual clock, the guest time is written under it.
 *
 * The SVG is written by hand; every mark carries its numbers in data-*
 * attributes (class "lane", "ckpt", "kept-start", "end") for tests and
 * scripts.  Storage gives the checkpoint blob no meaning: the caller passes
 * a function that reads the clock out of it. */
#ifndef TTVM_STORAGE_PICTURE_H
#define TTVM_STORAGE_PICTURE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/trace.h"

struct picture_opts {
	const char *title;      /* shown at the top (the trace's path); escaped */
	int html;               /* wrap the SVG in a minimal HTML page */
	/* Guest ns of the virtual clock in a checkpoint's vCPU blob: 0 or
	 * -errno.  NULL: no guest-time labels. */
	int (*ckpt_guest_ns)(const void *blob, size_t len, uint64_t *ns);
	/* Name of an end record's crash_kind ("kernel panic"), or NULL. */
	const char *(*crash_name)(uint32_t crash_kind);
	/* A flight recording keeps only its tail: the exit where the kept part
	 * begins.  0: the trace's first event or checkpoint is the start. */
	uint64_t kept_from_exit;
};

/* Read every event and checkpoint of r (opened, not yet read) and write the
 * picture to out.  0, -EBADMSG/-EPROTO/... for a damaged trace (see
 * trace_reader_errmsg), -ENOMEM, or -EIO when out failed. */
int picture_write(struct trace_reader *r, FILE *out, const struct picture_opts *o);
/* picture_write into path (HTML when it ends in ".html" or ".htm"),
 * through a temporary file renamed at the end, so that a failure leaves no
 * half-written picture.  0 or -errno with one line (naming path or the
 * trace position) in err. */
int picture_write_file(struct trace_reader *r, const char *path, const struct picture_opts *o,
			char *err, size_t errlen);
/* Is path one that picture_write_file writes as HTML? */
int picture_path_is_html(const char *path);

#endif
