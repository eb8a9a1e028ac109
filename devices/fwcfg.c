/* fw_cfg model.  Every item is a byte string; the directory is rebuilt
 * whenever a file is added, in the big-endian layout of QEMU's spec:
 * be32 count, then per file be32 size, be16 select, be16 reserved,
 * char name[56]. */
#include "devices/fwcfg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FWCFG_WRITE_FLAG 0x4000 /* write bit of a selector; writes are not supported */
#define DIR_ENTRY_SIZE 64

struct fwcfg_file {
	char name[FWCFG_NAME_MAX];
	uint8_t *data;
	uint32_t len;
};

struct fwcfg {
	uint16_t selector;
	uint32_t offset; /* next byte of the selected item */
	uint8_t id[4], ram[8], ncpus[2], maxcpus[2];
	uint8_t *dir;
	uint32_t dir_len;
	struct fwcfg_file files[FWCFG_MAX_FILES];
	unsigned nfiles;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static int build_dir(struct fwcfg *f)
{
	uint32_t len = 4 + f->nfiles * DIR_ENTRY_SIZE;
	uint8_t *d = calloc(1, len);

	if (!d)
		return -ENOMEM;
	put_be(d, f->nfiles, 4);
	for (unsigned i = 0; i < f->nfiles; i++) {
		uint8_t *e = d + 4 + i * DIR_ENTRY_SIZE;
		put_be(e, f->files[i].len, 4);
		put_be(e + 4, FWCFG_FILE_FIRST + i, 2);
		memcpy(e + 8, f->files[i].name, FWCFG_NAME_MAX);
	}
	free(f->dir);
	f->dir = d;
	f->dir_len = len;
	return 0;
}

/* The bytes of item sel, or NULL (len 0) for an unknown one. */
static const uint8_t *item(const struct fwcfg *f, uint16_t sel, uint32_t *len)
{
	static const uint8_t signature[4] = { 'Q', 'E', 'M', 'U' };

	switch (sel) {
	case FWCFG_SIGNATURE:
		*len = sizeof(signature);
		return signature;
	case FWCFG_ID:
		*len = sizeof(f->id);
		return f->id;
	case FWCFG_RAM_SIZE:
		*len = sizeof(f->ram);
		return f->ram;
	case FWCFG_NB_CPUS:
		*len = sizeof(f->ncpus);
		return f->ncpus;
	case FWCFG_MAX_CPUS:
		*len = sizeof(f->maxcpus);
		return f->maxcpus;
	case FWCFG_FILE_DIR:
		*len = f->dir_len;
		return f->dir;
	default:
		if (sel >= FWCFG_FILE_FIRST && sel < FWCFG_FILE_FIRST + f->nfiles) {
			*len = f->files[sel - FWCFG_FILE_FIRST].len;
			return f->files[sel - FWCFG_FILE_FIRST].data;
		}
		*len = 0;
		return NULL;
	}
}

static uint8_t read_byte(struct fwcfg *f)
{
	uint32_t len;
	const uint8_t *p = item(f, f->selector & (uint16_t)~FWCFG_WRITE_FLAG, &len);

	/* Past the end (or an unknown item) reads 0 and stays put. */
	if (!p || f->offset >= len)
		return 0;
	return p[f->offset++];
}

static int fwcfg_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct fwcfg *f = opaque;

	if (off == 0) {
		/* Selector: a 16-bit write; an 8-bit one sets the low byte with a
		 * zero high byte.  It reads back as zero, like QEMU's. */
		if (is_write) {
			f->selector = (uint16_t)(data[0] | (len > 1 ? data[1] << 8 : 0));
			f->offset = 0;
		} else {
			memset(data, 0, len);
		}
		return 0;
	}
	/* Data port: each byte of a wider read steps through the item. */
	for (uint32_t i = 0; i < len && !is_write; i++)
		data[i] = read_byte(f);
	return 0;
}

struct fwcfg *fwcfg_new(uint64_t ram_bytes)
{
	struct fwcfg *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	put_le(f->id, 1, 4); /* traditional interface, no DMA */
	put_le(f->ram, ram_bytes, 8);
	put_le(f->ncpus, 1, 2);
	put_le(f->maxcpus, 1, 2);
	if (build_dir(f)) {
		free(f);
		return NULL;
	}
	return f;
}

void fwcfg_free(struct fwcfg *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->nfiles; i++)
		free(f->files[i].data);
	free(f->dir);
	free(f);
}

int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t len)
{
	struct fwcfg_file *file;
	size_t nlen = name ? strnlen(name, FWCFG_NAME_MAX) : 0;
	int r;

	if (nlen == 0 || nlen >= FWCFG_NAME_MAX || (len && !data))
		return -EINVAL;
	for (unsigned i = 0; i < f->nfiles; i++)
		if (!strcmp(f->files[i].name, name))
			return -EEXIST;
	if (f->nfiles == FWCFG_MAX_FILES)
		return -ENOSPC;
	file = &f->files[f->nfiles];
	memset(file->name, 0, sizeof(file->name));
	memcpy(file->name, name, nlen);
	file->data = malloc(len ? len : 1);
	if (!file->data)
		return -ENOMEM;
	if (len)
		memcpy(file->data, data, len);
	file->len = len;
	f->nfiles++;
	if ((r = build_dir(f))) {
		f->nfiles--;
		free(file->data);
		file->data = NULL;
		return r;
	}
	return 0;
}

void fwcfg_save(const struct fwcfg *f, struct fwcfg_state *s)
{
	memset(s, 0, sizeof(*s));
	s->offset = f->offset;
	s->selector = f->selector;
}

int fwcfg_load(struct fwcfg *f, const struct fwcfg_state *s)
{
	f->offset = s->offset;
	f->selector = s->selector;
	return 0;
}

int fwcfg_attach(struct fwcfg *f, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, 0x510, 2, fwcfg_handler, f, "fw_cfg");
}
