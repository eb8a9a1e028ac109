#include "storage/picture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/checkpoint.h"

/* Intervals across the plot: 4 px each, fine enough to see bursts and
 * coarse enough that a lane with a few events still shows them. */
#define TL_BINS_MAX 245
/* Vectors that get a lane of their own (the busiest); the rest share one. */
#define TL_VEC_LANES 6
#define TL_LANES_MAX 16

/* Geometry in px (found by looking at screenshots at 1200 px wide). */
#define W 1200.0
#define PL 200.0          /* plot left: lane labels go to its left */
#define PR 1180.0         /* plot right */
#define CK_TOP 90.0       /* the checkpoint row */
#define LANE_TOP 128.0
#define LANE_H 30.0
#define EMPTY_H 14.0      /* a lane with no events */
#define LANE_GAP 7.0
#define LABEL_GAP 30.0    /* checkpoint labels closer than this are left out */
/* Up to this many checkpoints also get a line through the lanes; more
 * would hide the bars. */
#define CK_LINES_MAX 40

struct pic_ckpt {
	struct trace_ckpt_info ci;
	int has_ns;
	uint64_t ns;
};

struct pic_lane {
	char name[48];
	const char *kind;       /* trace_kind_name() */
	int vector;             /* irq lanes: the vector, -2 "other vectors"; else -1 */
	const char *color;
	uint64_t count;
	uint32_t peak;
	uint32_t bins[TL_BINS_MAX];
};

/* What one pass over the trace found. */
struct pic_data {
	struct trace_info info;
	uint64_t x0, span;      /* x axis: exits [x0, x0 + span) */
	uint64_t per_bin;       /* exits per interval */
	uint32_t nbins;
	uint64_t counts[TRACE_EV_KIND_MAX + 1];
	uint32_t kbins[TRACE_EV_KIND_MAX + 1][TL_BINS_MAX];
	uint64_t vcount[256];
	uint32_t (*vbins)[TL_BINS_MAX]; /* [256] */
	uint64_t n_read;
	struct trace_event last; /* the last event read (the end record when have_end) */
	int have_end;
	uint64_t first_exit;    /* of the first event (valid when n_read) */
	struct pic_ckpt *ckpts;
	uint64_t n_ckpts;
	char cmdline[256];
	struct pic_lane lanes[TL_LANES_MAX];
	int n_lanes;
};

/* Text into XML: the five special characters as entities; control
 * characters and non-ASCII bytes (a path need not be UTF-8) as '?'.  At
 * most max bytes of s, then "...". */
static void esc(FILE *f, const char *s, size_t max)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++, n++) {
		if (n == max) {
			fputs("...", f);
			return;
		}
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*p < 0x20 || *p >= 0x7f ? '?' : *p, f); break;
		}
	}
}

/* 1234 -> "1234", 12500 -> "12.5k", 3400000 -> "3.4M". */
static const char *fmt_count(uint64_t v, char *buf, size_t len)
{
	if (v < 10000)
		snprintf(buf, len, "%" PRIu64, v);
	else if (v < 1000000)
		snprintf(buf, len, "%.3gk", (double)v / 1e3);
	else if (v < 1000000000)
		snprintf(buf, len, "%.3gM", (double)v / 1e6);
	else
		snprintf(buf, len, "%.3gG", (double)v / 1e9);
	return buf;
}

static const char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.3g \xc2\xb5s", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.3g ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.4g s", (double)ns / 1e9);
	return buf;
}

static double xpos(const struct pic_data *d, uint64_t exit_no)
{
	double f = exit_no < d->x0 ? 0.0 : (double)(exit_no - d->x0) / (double)d->span;
	return PL + (f > 1.0 ? 1.0 : f) * (PR - PL);
}

static uint32_t bin_of(const struct pic_data *d, uint64_t exit_no)
{
	uint64_t b = exit_no < d->x0 ? 0 : (exit_no - d->x0) / d->per_bin;
	return b >= d->nbins ? d->nbins - 1 : (uint32_t)b;
}

/* The x axis and the intervals: exits 0 .. the last exit in the chunk
 * table (the end record's, for a complete trace), so that a recording is
 * drawn from the guest's start. */
static void setup_axis(struct pic_data *d)
{
	d->x0 = 0;
	d->span = d->info.last_exit < UINT64_MAX ? d->info.last_exit + 1 : UINT64_MAX;
	d->nbins = d->span < TL_BINS_MAX ? (uint32_t)d->span : TL_BINS_MAX;
	/* rounded up without overflow: a corrupt trace may claim exit 2^64-2 */
	d->per_bin = d->span / d->nbins + (d->span % d->nbins != 0);
	d->nbins = (uint32_t)(d->span / d->per_bin + (d->span % d->per_bin != 0));
}

static int read_events(struct trace_reader *r, struct pic_data *d)
{
	struct trace_event ev;
	int rc;

	while ((rc = trace_reader_next(r, &ev)) == 1) {
		uint32_t b = bin_of(d, ev.exit_no);
		if (!d->n_read)
			d->first_exit = ev.exit_no;
		d->n_read++;
		d->counts[ev.kind]++;
		d->kbins[ev.kind][b]++;
		if (ev.kind == TRACE_EV_IRQ) {
			d->vcount[ev.u.irq.vector]++;
			d->vbins[ev.u.irq.vector][b]++;
		}
		if (ev.kind == TRACE_EV_END)
			d->have_end = 1;
		d->last = ev;
	}
	return rc;
}

static int read_ckpts(struct trace_reader *r, struct pic_data *d, const struct picture_opts *o)
{
	uint8_t *blob = NULL;
	size_t cap = 0, len;
	int rc = 0;

	if (!d->info.n_checkpoints)
		return 0;
	d->ckpts = calloc(d->info.n_checkpoints, sizeof(*d->ckpts));
	if (!d->ckpts)
		return -ENOMEM;
	for (uint64_t i = 0; i < d->info.n_checkpoints; i++) {
		struct pic_ckpt *c = &d->ckpts[i];
		if ((rc = trace_ckpt_get(r, i, &c->ci)) < 0)
			goto out;
		d->n_ckpts++;
		/* A blob larger than any event's is not a vCPU state: no label. */
		if (!o->ckpt_guest_ns || !c->ci.vcpu_size || c->ci.vcpu_size > TRACE_MAX_BLOB)
			continue;
		if (c->ci.vcpu_size > cap) {
			uint8_t *nb = realloc(blob, c->ci.vcpu_size);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			blob = nb;
			cap = c->ci.vcpu_size;
		}
		if ((rc = trace_ckpt_vcpu(r, c->ci.id, blob, cap, &len)) < 0)
			goto out;
		c->has_ns = o->ckpt_guest_ns(blob, len, &c->ns) == 0;
	}
	rc = 0;
out:
	free(blob);
	return rc;
}

static struct pic_lane *add_lane(struct pic_data *d, const char *name, uint32_t kind, int vector,
				const char *color)
{
	struct pic_lane *l = &d->lanes[d->n_lanes++];
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->kind = trace_kind_name(kind);
	l->vector = vector;
	l->color = color;
	if (vector == -1) {
		l->count = d->counts[kind];
		memcpy(l->bins, d->kbins[kind], sizeof(l->bins));
	}
	return l;
}

/* Lanes, top to bottom: the inputs most recordings are made of always get
 * one (an empty one says "none", which is worth knowing too); loop probes
 * and CPUID only when there are any. */
static void make_lanes(struct pic_data *d)
{
	static const char *const vec_colors[] = { "#d62728", "#ff7f0e", "#e377c2", "#8c564b",
						  "#bc5090", "#ef8a62" };
	int top[TL_VEC_LANES], n_top = 0, n_vec = 0;

	add_lane(d, "port reads", TRACE_EV_PIO_READ, -1, "#1f77b4");
	add_lane(d, "MMIO reads", TRACE_EV_MMIO_READ, -1, "#17becf");
	/* the busiest vectors, shown in vector order */
	for (int v = 0; v < 256; v++) {
		if (!d->vcount[v])
			continue;
		n_vec++;
		if (n_top < TL_VEC_LANES) {
			top[n_top++] = v;
			continue;
		}
		int min = 0;
		for (int i = 1; i < n_top; i++)
			if (d->vcount[top[i]] < d->vcount[top[min]])
				min = i;
		if (d->vcount[v] > d->vcount[top[min]])
			top[min] = v;
	}
	for (int i = 0; i < n_top; i++)
		for (int j = i + 1; j < n_top; j++)
			if (top[j] < top[i]) {
				int t = top[i];
				top[i] = top[j];
				top[j] = t;
			}
	if (!n_top)
		add_lane(d, "interrupts", TRACE_EV_IRQ, -1, vec_colors[0]);
	for (int i = 0; i < n_top; i++) {
		char name[48];
		snprintf(name, sizeof(name), "interrupt vector %d", top[i]);
		struct pic_lane *l = add_lane(d, name, TRACE_EV_IRQ, top[i], vec_colors[i]);
		l->count = d->vcount[top[i]];
		memcpy(l->bins, d->vbins[top[i]], sizeof(l->bins));
	}
	if (n_vec > n_top) {
		struct pic_lane *l = add_lane(d, "other vectors", TRACE_EV_IRQ, -2, "#9c9c9c");
		for (int v = 0; v < 256; v++) {
			int shown = 0;
			for (int i = 0; i < n_top; i++)
				shown |= top[i] == v;
			if (shown || !d->vcount[v])
				continue;
			l->count += d->vcount[v];
			for (uint32_t b = 0; b < d->nbins; b++)
				l->bins[b] += d->vbins[v][b];
		}
	}
	add_lane(d, "RDTSC", TRACE_EV_RDTSC, -1, "#2ca02c");
	add_lane(d, "RDTSCP", TRACE_EV_RDTSCP, -1, "#74c476");
	add_lane(d, "RDRAND / RDSEED", TRACE_EV_RDRAND, -1, "#9467bd");
	add_lane(d, "MSR reads", TRACE_EV_MSR, -1, "#bcbd22");
	add_lane(d, "serial input", TRACE_EV_SERIAL_IN, -1, "#e6550d");
	if (d->counts[TRACE_EV_PROBE])
		add_lane(d, "loop probes", TRACE_EV_PROBE, -1, "#7f7f7f");
	if (d->counts[TRACE_EV_CPUID])
		add_lane(d, "CPUID", TRACE_EV_CPUID, -1, "#a0a0a0");
	for (int i = 0; i < d->n_lanes; i++)
		for (uint32_t b = 0; b < d->nbins; b++)
			if (d->lanes[i].bins[b] > d->lanes[i].peak)
				d->lanes[i].peak = d->lanes[i].bins[b];
}

/* Step between axis ticks: 1, 2 or 5 times a power of ten, about 8 ticks. */
static uint64_t tick_step(uint64_t span)
{
	uint64_t want = span / 8 ? span / 8 : 1, step = 1;

	while (step * 10 <= want)
		step *= 10;
	if (step >= want)
		return step;
	if (step * 2 >= want)
		return step * 2;
	return step * 5 >= want ? step * 5 : step * 10;
}

/* The end record: its words and its colour. */
static void end_label(const struct pic_data *d, const struct picture_opts *o, char *buf, size_t len,
		      const char **color)
{
	char nb[32];
	const struct trace_event *e = &d->last;
	const char *crash = NULL;

	if (!d->have_end) {
		*color = "#777777";
		if (d->n_read)
			snprintf(buf, len, "INCOMPLETE: no end record (last event at exit %s)",
				 fmt_count(e->exit_no, nb, sizeof(nb)));
		else
			snprintf(buf, len, "INCOMPLETE: no events");
		return;
	}
	switch (e->u.end.reason) {
	case TRACE_END_GUEST_EXIT:
		*color = e->u.end.status == 1 ? "#1a7f1a" : "#d98c00";
		snprintf(buf, len, "end: guest exit, value %" PRId32 " (status %" PRId32 ")",
			 e->u.end.status >> 1, e->u.end.status);
		return;
	case TRACE_END_CRASH:
		*color = "#c00000";
		if (o->crash_name)
			crash = o->crash_name(e->u.end.crash_kind);
		snprintf(buf, len, "end: crash%s%s (status %" PRIu32 ") at rip 0x%" PRIx64, crash ? ": " : "",
			 crash ? crash : "", e->u.end.crash_kind, e->u.end.rip);
		return;
	case TRACE_END_RESET:
		*color = "#8e44ad";
		snprintf(buf, len, "end: guest reset at rip 0x%" PRIx64, e->u.end.rip);
		return;
	case TRACE_END_HOST_ERROR:
		*color = "#c00000";
		snprintf(buf, len, "end: host error (status %" PRId32 ")", e->u.end.status);
		return;
	default:
		*color = "#d98c00";
		snprintf(buf, len, "end: %s (status %" PRId32 ")", trace_end_reason_name(e->u.end.reason),
			 e->u.end.status);
		return;
	}
}

static void draw_lane(FILE *f, const struct pic_data *d, const struct pic_lane *l, double y)
{
	char nb[32], pb[32];
	double bw = (PR - PL) * (double)d->per_bin / (double)d->span;

	fprintf(f, "<g class=\"lane\" data-kind=\"%s\"", l->kind);
	if (l->vector >= 0)
		fprintf(f, " data-vector=\"%d\"", l->vector);
	else if (l->vector == -2)
		fprintf(f, " data-vector=\"other\"");
	fprintf(f, " data-count=\"%" PRIu64 "\">\n", l->count);
	if (!l->count) {
		/* an empty lane is one thin line: it says "none" and takes little room */
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f7f7f7\"/>\n"
			"<text x=\"16\" y=\"%.1f\" font-size=\"11\" fill=\"#999\">", PL, y, PR - PL, EMPTY_H, y + 11);
		esc(f, l->name, 40);
		fprintf(f, ": none</text>\n</g>\n");
		return;
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f4f4f4\"/>\n", PL, y,
		PR - PL, LANE_H);
	fprintf(f, "<text x=\"16\" y=\"%.1f\" font-weight=\"bold\">", y + 13);
	esc(f, l->name, 40);
	fprintf(f, "</text>\n<text x=\"16\" y=\"%.1f\" font-size=\"10\" fill=\"#666\">%s events, peak %s per bar</text>\n",
		y + 26, fmt_count(l->count, nb, sizeof(nb)), fmt_count(l->peak, pb, sizeof(pb)));
	for (uint32_t b = 0; b < d->nbins; b++) {
		if (!l->bins[b])
			continue;
		double h = LANE_H * (double)l->bins[b] / (double)l->peak;
		double x = PL + bw * b, w = bw > 2 ? bw * 0.85 : bw;
		if (h < 2)
			h = 2; /* one event stays visible */
		if (x + w > PR)
			w = PR - x;
		fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n", x,
			y + LANE_H - h, w < 0.5 ? 0.5 : w, h, l->color);
	}
	fprintf(f, "</g>\n");
}

/* Checkpoints: a row of ticks (full ones taller) with their ids where
 * there is room, lines through the lanes while there are few of them, and
 * the guest's virtual clock under the axis where the blob tells it. */
static void draw_ckpts(FILE *f, const struct pic_data *d, double ybot)
{
	char nb[32];
	double last_label = -1e9, last_time = -1e9;
	uint64_t n_full = 0;
	int any_time = 0;

	for (uint64_t i = 0; i < d->n_ckpts; i++)
		n_full += !!d->ckpts[i].ci.full;
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f0f4fa\"/>\n"
		"<text x=\"16\" y=\"%.1f\" font-weight=\"bold\" fill=\"%s\">checkpoints</text>\n"
		"<text x=\"16\" y=\"%.1f\" font-size=\"10\" fill=\"#666\">%" PRIu64 " (%" PRIu64 " full)</text>\n",
		PL, CK_TOP + 12, PR - PL, 14.0, CK_TOP + 13, d->n_ckpts ? "#3060b0" : "#999", CK_TOP + 26, d->n_ckpts,
		n_full);
	for (uint64_t i = 0; i < d->n_ckpts; i++) {
		const struct pic_ckpt *c = &d->ckpts[i];
		double x = xpos(d, c->ci.exit_no);
		fprintf(f, "<g class=\"ckpt\" data-id=\"%" PRIu64 "\" data-exit=\"%" PRIu64 "\" data-event=\"%" PRIu64
			"\" data-full=\"%d\"", c->ci.id, c->ci.exit_no, c->ci.event_no, c->ci.full);
		if (c->has_ns)
			fprintf(f, " data-guest-ns=\"%" PRIu64 "\"", c->ns);
		fprintf(f, ">\n<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#3060b0\" stroke-width=\"%s\"/>\n",
			x, CK_TOP + (c->ci.full ? 10 : 14), x, CK_TOP + 26, c->ci.full ? "2" : "1");
		if (d->n_ckpts <= CK_LINES_MAX)
			fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#3060b0\""
				" stroke-dasharray=\"4 3\" stroke-opacity=\"0.5\"/>\n", x, CK_TOP + 26, x, ybot);
		if (x - last_label >= LABEL_GAP) {
			fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"#3060b0\">"
				"C%" PRIu64 "</text>\n", x, CK_TOP + 8, c->ci.id);
			last_label = x;
		}
		if (c->has_ns && x - last_time >= 2.2 * LABEL_GAP) {
			fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#3060b0\"/>"
				"<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#3060b0\">%s</text>\n",
				x, ybot + 48, x, ybot + 53, x, ybot + 65, x > PR - 30 ? "end" : "middle",
				fmt_ns(c->ns, nb, sizeof(nb)));
			last_time = x;
			any_time = 1;
		}
		fprintf(f, "</g>\n");
	}
	fprintf(f, "<text x=\"16\" y=\"%.1f\" font-weight=\"bold\" fill=\"#3060b0\">guest time</text>\n"
		"<text x=\"16\" y=\"%.1f\" font-size=\"10\" fill=\"#666\">virtual clock at checkpoints</text>\n",
		ybot + 60, ybot + 73);
	if (!any_time)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888\">%s</text>\n", PL, ybot + 65,
			d->n_ckpts ? "not known (the checkpoints do not tell the guest clock here)"
				   : "not known (no checkpoints: only they carry the guest's clock)");
}

static void draw(FILE *f, struct pic_data *d, const struct picture_opts *o)
{
	char nb[32], nb2[32], endtxt[160];
	const char *endcol;
	double lane_y[TL_LANES_MAX], ybot = LANE_TOP, h;
	uint64_t start;
	int flight = o->kept_from_exit != 0;

	for (int i = 0; i < d->n_lanes; i++) {
		lane_y[i] = ybot;
		ybot += d->lanes[i].count ? LANE_H + LANE_GAP : EMPTY_H + LANE_GAP;
	}
	ybot -= LANE_GAP;
	h = ybot + 118;

	if (o->html) {
		fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>ttvm timeline: ");
		esc(f, o->title, 200);
		fprintf(f, "</title></head>\n<body style=\"margin:0;background:#fff\">\n");
	} else {
		fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\""
		" data-events=\"%" PRIu64 "\" data-first-exit=\"%" PRIu64 "\" data-last-exit=\"%" PRIu64 "\""
		" data-exits-per-bar=\"%" PRIu64 "\" data-complete=\"%d\">\n",
		W, h, W, h, d->n_read, d->x0, d->x0 + d->span - 1, d->per_bin, d->info.complete);
	fprintf(f, "<title>ttvm trace timeline: ");
	esc(f, o->title, 200);
	fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	fprintf(f, "<g font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\" font-size=\"12\" fill=\"#222\">\n");

	/* title and one line of numbers */
	fprintf(f, "<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">ttvm trace: ");
	esc(f, o->title, 90);
	fprintf(f, "</text>\n<text x=\"16\" y=\"44\" fill=\"#555\">%s events over guest exits %s..%s, %s; command line: ",
		fmt_count(d->n_read, nb, sizeof(nb)), fmt_count(d->x0, nb2, sizeof(nb2)),
		fmt_count(d->x0 + d->span - 1, nb2 + 16, sizeof(nb2) - 16), d->info.complete ? "complete" : "INCOMPLETE");
	esc(f, d->cmdline, 100);
	fprintf(f, "</text>\n");

	/* where the (kept) recording starts; a flight recording greys out the
	 * part it did not keep */
	start = flight ? o->kept_from_exit : d->first_exit;
	if (!flight && d->n_ckpts && d->ckpts[0].ci.exit_no < start)
		start = d->ckpts[0].ci.exit_no;
	if (!flight && !d->n_read && !d->n_ckpts)
		start = d->x0;
	double xs = xpos(d, start);
	for (int i = 0; i < d->n_lanes; i++)
		draw_lane(f, d, &d->lanes[i], lane_y[i]);
	draw_ckpts(f, d, ybot); /* after the lanes: their lines go over the bars */
	if (flight && xs > PL + 1)
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#c8c8c8\" fill-opacity=\"0.6\"/>\n",
			PL, CK_TOP, xs - PL, ybot - CK_TOP);

	/* x axis: exit numbers */
	uint64_t step = tick_step(d->span);
	fprintf(f, "<g class=\"axis\">\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n",
		PL, ybot + 4, PR, ybot + 4);
	for (uint64_t t = (d->x0 + step - 1) / step * step; t < d->x0 + d->span; t += step) {
		double x = xpos(d, t);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			x, ybot + 4, x, ybot + 9, x, ybot + 22, fmt_count(t, nb, sizeof(nb)));
		if (t > UINT64_MAX - step)
			break;
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">guest exit number "
		"(exits the guest caused: what positions every event); one bar = %s exit%s</text>\n</g>\n",
		(PL + PR) / 2, ybot + 40, fmt_count(d->per_bin, nb, sizeof(nb)), d->per_bin == 1 ? "" : "s");

	fprintf(f, "<g class=\"kept-start\" data-exit=\"%" PRIu64 "\" data-flight=\"%d\">\n"
		"<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#1a7f1a\" stroke-width=\"2\"/>\n"
		"<text x=\"%.2f\" y=\"%.1f\" fill=\"#1a7f1a\">%s %s%s</text>\n</g>\n",
		start, flight, xs, 54.0, xs, ybot + 4, xs + 4, 64.0,
		flight ? "kept from exit" : "recording starts at exit", fmt_count(start, nb, sizeof(nb)),
		flight ? " (grey before it: not kept)" : "");

	/* the end record, or where an incomplete trace stops */
	end_label(d, o, endtxt, sizeof(endtxt), &endcol);
	uint64_t end_exit = d->n_read ? d->last.exit_no : d->x0;
	double xe = xpos(d, end_exit);
	fprintf(f, "<g class=\"end\" data-reason=\"%s\" data-exit=\"%" PRIu64 "\"",
		d->have_end ? trace_end_reason_name(d->last.u.end.reason) : "none", end_exit);
	if (d->have_end)
		fprintf(f, " data-status=\"%" PRId32 "\" data-crash-kind=\"%" PRIu32 "\"", d->last.u.end.status,
			d->last.u.end.crash_kind);
	fprintf(f, ">\n<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s/>\n",
		xe, 70.0, xe, ybot + 4, endcol, d->have_end ? "" : " stroke-dasharray=\"6 3\"");
	/* the words on the side of the line with room for them */
	int left = xe > (PL + PR) / 2;
	fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"%s\" font-weight=\"bold\" fill=\"%s\">",
		left ? xe - 6 : xe + 6, 82.0, left ? "end" : "start", endcol);
	esc(f, endtxt, sizeof(endtxt));
	fprintf(f, "</text>\n</g>\n");

	/* legend */
	double yl = ybot + 102;
	fprintf(f, "<g class=\"legend\" font-size=\"11\">\n"
		"<line x1=\"16\" y1=\"%.1f\" x2=\"36\" y2=\"%.1f\" stroke=\"#3060b0\" stroke-width=\"2\"/>"
		"<text x=\"42\" y=\"%.1f\">checkpoint Cn (taller: full)</text>\n"
		"<line x1=\"220\" y1=\"%.1f\" x2=\"240\" y2=\"%.1f\" stroke=\"#1a7f1a\" stroke-width=\"2\"/>"
		"<text x=\"246\" y=\"%.1f\">start of the recording (of its kept part)</text>\n"
		"<line x1=\"490\" y1=\"%.1f\" x2=\"510\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>"
		"<text x=\"516\" y=\"%.1f\">end record (how the run ended)</text>\n"
		"<rect x=\"720\" y=\"%.1f\" width=\"8\" height=\"12\" fill=\"#1f77b4\"/>"
		"<text x=\"734\" y=\"%.1f\">bar: events in %s exit%s; each lane scaled to its own peak</text>\n</g>\n",
		yl - 4, yl - 4, yl, yl - 4, yl - 4, yl, yl - 4, yl - 4, endcol, yl, yl - 12, yl,
		fmt_count(d->per_bin, nb, sizeof(nb)), d->per_bin == 1 ? "" : "s");
	fprintf(f, "</g>\n</svg>\n");
	if (o->html)
		fprintf(f, "</body></html>\n");
}

int picture_write(struct trace_reader *r, FILE *out, const struct picture_opts *o)
{
	struct pic_data *d = calloc(1, sizeof(*d));
	const char *cmd;
	int rc;

	if (!d)
		return -ENOMEM;
	d->vbins = calloc(256, sizeof(*d->vbins));
	if (!d->vbins) {
		rc = -ENOMEM;
		goto out;
	}
	trace_reader_info(r, &d->info);
	setup_axis(d);
	if ((rc = read_events(r, d)) < 0 || (rc = read_ckpts(r, d, o)) < 0)
		goto out;
	cmd = trace_reader_meta(r, "cmdline");
	snprintf(d->cmdline, sizeof(d->cmdline), "%s", cmd ? cmd : "");
	make_lanes(d);
	draw(out, d, o);
	rc = ferror(out) ? -EIO : 0;
out:
	free(d->ckpts);
	free(d->vbins);
	free(d);
	return rc;
}

int picture_path_is_html(const char *path)
{
	size_t n = strlen(path);
	return (n >= 5 && !strcasecmp(path + n - 5, ".html")) || (n >= 4 && !strcasecmp(path + n - 4, ".htm"));
}

int picture_write_file(struct trace_reader *r, const char *path, const struct picture_opts *o,
			char *err, size_t errlen)
{
	struct picture_opts oo = *o;
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	FILE *f = NULL;
	int fd, rc;

	if (!tmp)
		return snprintf(err, errlen, "%s: out of memory", path), -ENOMEM;
	snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	/* mkstemp makes it 0600: a picture is for sharing */
	if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		goto fail;
	}
	oo.html = picture_path_is_html(path);
	rc = picture_write(r, f, &oo);
	if (rc == -EIO || rc == -ENOMEM) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		fclose(f);
		goto fail;
	}
	if (rc < 0) {
		if (trace_reader_errmsg(r)[0])
			snprintf(err, errlen, "%s", trace_reader_errmsg(r));
		else
			snprintf(err, errlen, "trace %s: %s", o->title ? o->title : "?", strerror(-rc));
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	unlink(tmp);
	free(tmp);
	return rc;
}
