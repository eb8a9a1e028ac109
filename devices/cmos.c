/* MC146818 model.  No register holds the time: every read converts
 * cmos_time() to calendar fields, so nothing has to tick. */
#include "devices/cmos.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_UF 0x10
#define D_VRT 0x80

/* The update cycle takes 1984 us and UIP rises 244 us before it starts;
 * we show UIP for the last 244 + 1984 us of each second. */
#define UIP_NS 2228000ull

struct rtc_fields {
	int64_t year; /* full year */
	int mon, mday, hour, min, sec, wday; /* mon 1-12, wday 1-7 (Sunday 1) */
};

struct cmos {
	struct ttvm_clock *clk;
	uint8_t ram[128];
	uint8_t index;
	int64_t offset_s;       /* guest time minus virtual time */
	struct rtc_fields set;  /* fields being written while B.SET is on */
	uint64_t last_c_ns;     /* virtual time of the last register C read */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct rtc_fields *f)
{
	int64_t era, doe, yoe, doy, mp, y;

	f->wday = (int)(((z % 7) + 7 + 4) % 7) + 1; /* 1970-01-01 was a Thursday */
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	f->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	f->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	f->year = y + (f->mon <= 2);
}

static void fields_from_time(int64_t t, struct rtc_fields *f)
{
	int64_t days = t / 86400, secs = t % 86400;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, f);
	f->hour = (int)(secs / 3600);
	f->min = (int)(secs / 60 % 60);
	f->sec = (int)(secs % 60);
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Guest-written fields may be anything; clamp so the date is well formed. */
static int64_t time_from_fields(const struct rtc_fields *f)
{
	int64_t y = f->year < 0 ? 0 : f->year > 9999 ? 9999 : f->year;
	int64_t days = days_from_civil(y, clampi(f->mon, 1, 12), clampi(f->mday, 1, 31));

	return days * 86400 + clampi(f->hour, 0, 23) * 3600 + clampi(f->min, 0, 59) * 60 +
	       clampi(f->sec, 0, 59);
}

int64_t cmos_time(struct cmos *c)
{
	return clock_epoch_s(c->clk) + (int64_t)(clock_now_ns(c->clk) / NS_PER_S) + c->offset_s;
}

static bool binary_mode(const struct cmos *c)
{
	return c->ram[REG_B] & B_DM_BINARY;
}

static uint8_t encode(const struct cmos *c, int v)
{
	if (v < 0) /* only before year 0, which the clamps keep us from */
		v = 0;
	if (binary_mode(c))
		return (uint8_t)v;
	return (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

static int decode(const struct cmos *c, uint8_t v)
{
	if (binary_mode(c))
		return v;
	return (v >> 4) * 10 + (v & 15);
}

static uint8_t encode_hour(const struct cmos *c, int h)
{
	int pm;

	if (c->ram[REG_B] & B_24H)
		return encode(c, h);
	pm = h >= 12;
	h %= 12;
	return (uint8_t)(encode(c, h ? h : 12) | (pm ? 0x80 : 0));
}

static int decode_hour(const struct cmos *c, uint8_t v)
{
	int h;

	if (c->ram[REG_B] & B_24H)
		return decode(c, v);
	h = decode(c, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

static void current_fields(struct cmos *c, struct rtc_fields *f)
{
	if (c->ram[REG_B] & B_SET)
		*f = c->set; /* updates are inhibited while SET is on */
	else
		fields_from_time(cmos_time(c), f);
}

static uint8_t read_time_reg(struct cmos *c, uint8_t idx)
{
	struct rtc_fields f;

	current_fields(c, &f);
	switch (idx) {
	case REG_SEC:
		return encode(c, f.sec);
	case REG_MIN:
		return encode(c, f.min);
	case REG_HOUR:
		return encode_hour(c, f.hour);
	case REG_WDAY:
		return encode(c, f.wday);
	case REG_MDAY:
		return encode(c, f.mday);
	case REG_MON:
		return encode(c, f.mon);
	case REG_YEAR:
		return encode(c, (int)(f.year % 100));
	default: /* REG_CENTURY */
		return encode(c, (int)(f.year / 100 % 100));
	}
}

static void commit_time(struct cmos *c)
{
	int64_t now = cmos_time(c) - c->offset_s;

	c->offset_s = time_from_fields(&c->set) - now;
}

static void write_time_reg(struct cmos *c, uint8_t idx, uint8_t v)
{
	bool setting = c->ram[REG_B] & B_SET;

	if (!setting)
		fields_from_time(cmos_time(c), &c->set);
	switch (idx) {
	case REG_SEC:
		c->set.sec = decode(c, v);
		break;
	case REG_MIN:
		c->set.min = decode(c, v);
		break;
	case REG_HOUR:
		c->set.hour = decode_hour(c, v);
		break;
	case REG_WDAY:
		break; /* derived from the date */
	case REG_MDAY:
		c->set.mday = decode(c, v);
		break;
	case REG_MON:
		c->set.mon = decode(c, v);
		break;
	case REG_YEAR:
		c->set.year = c->set.year / 100 * 100 + decode(c, v) % 100;
		break;
	default: /* REG_CENTURY */
		c->set.year = (int64_t)decode(c, v) * 100 + c->set.year % 100;
		break;
	}
	/* Without SET the change applies at once (a careful guest sets SET). */
	if (!setting)
		commit_time(c);
}

static uint8_t read_reg_c(struct cmos *c)
{
	uint64_t now = clock_now_ns(c->clk);
	uint8_t rs = c->ram[REG_A] & 15, v = 0;

	/* Flags are set by the events since the last read, which clears them.
	 * Periodic rate: 32768 >> (rs - 1) Hz for rs >= 3 (1, 2 alias 8, 9). */
	if (now / NS_PER_S != c->last_c_ns / NS_PER_S)
		v |= C_UF;
	if (rs) {
		unsigned shift = rs < 3 ? rs + 7 : rs;
		uint64_t period = (NS_PER_S << (shift - 1)) / 32768;
		if (now / period != c->last_c_ns / period)
			v |= C_PF;
	}
	if ((v & C_UF && c->ram[REG_B] & B_UIE) || (v & C_PF && c->ram[REG_B] & B_PIE))
		v |= C_IRQF;
	c->last_c_ns = now;
	return v;
}

static uint8_t read_data(struct cmos *c)
{
	uint8_t idx = c->index;

	switch (idx) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case REG_CENTURY:
		return read_time_reg(c, idx);
	case REG_A: {
		uint64_t in_sec = clock_now_ns(c->clk) % NS_PER_S;
		bool uip = !(c->ram[REG_B] & B_SET) && in_sec >= NS_PER_S - UIP_NS;
		return (uint8_t)((c->ram[REG_A] & 0x7f) | (uip ? A_UIP : 0));
	}
	case REG_C:
		return read_reg_c(c);
	case REG_D:
		return D_VRT;
	default:
		return c->ram[idx];
	}
}

static void write_data(struct cmos *c, uint8_t v)
{
	uint8_t idx = c->index;

	switch (idx) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case REG_CENTURY:
		write_time_reg(c, idx, v);
		break;
	case REG_A:
		c->ram[REG_A] = v & 0x7f; /* UIP is read-only */
		break;
	case REG_B:
		if ((v & B_SET) && !(c->ram[REG_B] & B_SET)) {
			fields_from_time(cmos_time(c), &c->set);
			v &= (uint8_t)~B_UIE; /* setting SET clears UIE */
		}
		if (!(v & B_SET) && (c->ram[REG_B] & B_SET)) {
			c->ram[REG_B] = v;
			commit_time(c);
		}
		c->ram[REG_B] = v;
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		c->ram[idx] = v;
		break;
	}
}

static int cmos_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct cmos *c = opaque;

	/* Wider accesses are split into bytes: index port, then data port. */
	for (uint32_t i = 0; i < len; i++) {
		bool data_port = (off + i) & 1;
		if (is_write && !data_port)
			c->index = data[i] & 0x7f; /* bit 7 masks NMI: no NMI here */
		else if (is_write)
			write_data(c, data[i]);
		else if (!data_port)
			data[i] = 0xff; /* the index register is write-only */
		else
			data[i] = read_data(c);
	}
	return 0;
}

static void set_word(struct cmos *c, uint8_t idx, uint64_t v, uint64_t cap)
{
	if (v > cap)
		v = cap;
	c->ram[idx] = (uint8_t)v;
	c->ram[idx + 1] = (uint8_t)(v >> 8);
}

struct cmos *cmos_new(struct ttvm_clock *clk, uint64_t ram_bytes)
{
	struct cmos *c = calloc(1, sizeof(*c));
	uint64_t low, high, ext;

	if (!c)
		return NULL;
	c->clk = clk;
	c->last_c_ns = clock_now_ns(clk);
	c->ram[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	c->ram[REG_B] = B_24H;
	low = ram_bytes < CMOS_LOWMEM_MAX ? ram_bytes : CMOS_LOWMEM_MAX;
	high = ram_bytes - low;
	set_word(c, 0x15, 640, 640); /* base memory, KiB */
	ext = low > (1u << 20) ? (low - (1u << 20)) >> 10 : 0;
	set_word(c, 0x17, ext, 0xffff);
	set_word(c, 0x30, ext, 0xffff);
	set_word(c, 0x34, low > (16u << 20) ? (low - (16u << 20)) >> 16 : 0, 0xffff);
	high >>= 16;
	if (high > 0xffffff)
		high = 0xffffff;
	c->ram[0x5b] = (uint8_t)high;
	c->ram[0x5c] = (uint8_t)(high >> 8);
	c->ram[0x5d] = (uint8_t)(high >> 16);
	return c;
}

void cmos_free(struct cmos *c)
{
	free(c);
}

void cmos_save(const struct cmos *c, struct cmos_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->ram, c->ram, sizeof(s->ram));
	s->offset_s = c->offset_s;
	s->last_c_ns = c->last_c_ns;
	s->set_year = c->set.year;
	s->set_mon = c->set.mon;
	s->set_mday = c->set.mday;
	s->set_hour = c->set.hour;
	s->set_min = c->set.min;
	s->set_sec = c->set.sec;
	s->set_wday = c->set.wday;
	s->index = c->index;
}

/* Bounds that keep the time arithmetic far from overflow; the model itself
 * stays inside years 0-9999 plus what a guest can write into one field. */
#define STATE_MAX_OFFSET_S (1ll << 42)
#define STATE_MAX_YEAR 1000000000ll
#define STATE_MAX_FIELD 1000000

int cmos_load(struct cmos *c, const struct cmos_state *s)
{
	const int32_t f[6] = { s->set_mon, s->set_mday, s->set_hour, s->set_min, s->set_sec, s->set_wday };

	if (s->index > 0x7f || s->offset_s > STATE_MAX_OFFSET_S || s->offset_s < -STATE_MAX_OFFSET_S ||
	    s->set_year > STATE_MAX_YEAR || s->set_year < -STATE_MAX_YEAR)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		if (f[i] > STATE_MAX_FIELD || f[i] < -STATE_MAX_FIELD)
			return -EINVAL;
	memcpy(c->ram, s->ram, sizeof(c->ram));
	c->offset_s = s->offset_s;
	c->last_c_ns = s->last_c_ns;
	c->set.year = s->set_year;
	c->set.mon = s->set_mon;
	c->set.mday = s->set_mday;
	c->set.hour = s->set_hour;
	c->set.min = s->set_min;
	c->set.sec = s->set_sec;
	c->set.wday = s->set_wday;
	c->index = s->index;
	return 0;
}

int cmos_attach(struct cmos *c, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, 0x70, 2, cmos_handler, c, "cmos");
}
