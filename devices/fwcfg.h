/* Minimal QEMU fw_cfg, traditional interface only (no DMA): a 16-bit
 * selector at port 0x510 and an 8-bit data port at 0x511 that steps through
 * the selected item.  Items: signature, ID, RAM size, CPU counts, and a file
 * directory of whatever fwcfg_add_file() was given. */
#ifndef TTVM_DEVICES_FWCFG_H
#define TTVM_DEVICES_FWCFG_H
#include <stdint.h>

#include "devices/bus.h"

#define FWCFG_SIGNATURE 0x0000
#define FWCFG_ID 0x0001
#define FWCFG_RAM_SIZE 0x0003
#define FWCFG_NB_CPUS 0x0005
#define FWCFG_MAX_CPUS 0x000f
#define FWCFG_FILE_DIR 0x0019
#define FWCFG_FILE_FIRST 0x0020
#define FWCFG_MAX_FILES 64
#define FWCFG_NAME_MAX 56 /* including the terminating NUL */

struct fwcfg;

/* New fw_cfg describing a guest of ram_bytes with one CPU, or NULL on ENOMEM. */
struct fwcfg *fwcfg_new(uint64_t ram_bytes);
/* Free it and its files; NULL is ignored. */
void fwcfg_free(struct fwcfg *f);
/* Claim ports 0x510-0x511; 0 or -errno. */
int fwcfg_attach(struct fwcfg *f, struct bus *bus);
/* Add a file (data copied) at the next selector from 0x0020; 0, -EINVAL for
 * an empty or too long name, -EEXIST for a duplicate, -ENOSPC, -ENOMEM. */
int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t len);

/* Snapshot state: where the guest is reading (raw bytes in core/snapshot.c:
 * a change of layout is a change of the snapshot format).  The items
 * themselves are configuration, made again by whoever creates the VM. */
struct fwcfg_state {
	uint32_t offset;
	uint16_t selector;
	uint8_t pad[2];
};
/* Copy the selector and read offset out. */
void fwcfg_save(const struct fwcfg *f, struct fwcfg_state *s);
/* Take over s; any value is safe (reads check the offset).  Always 0. */
int fwcfg_load(struct fwcfg *f, const struct fwcfg_state *s);

#endif
