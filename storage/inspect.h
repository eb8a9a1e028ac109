/* `ttvm inspect TRACE [--events [FROM[:TO]]] [--kind K[,K...]] [--json]`:
 * print a trace's summary (metadata, counts per event kind, chunks,
 * checkpoints, bytes per event, compression ratio, end) or list its events;
 * `ttvm inspect --timeline FILE TRACE` draws it (storage/picture.h). */
#ifndef TTVM_STORAGE_INSPECT_H
#define TTVM_STORAGE_INSPECT_H
#include <stddef.h>
#include <stdint.h>

/* What inspect cannot know from storage alone: the meaning of a
 * checkpoint's vCPU blob and of an end record's crash kind.  NULL members:
 * the picture goes without (no guest-time labels, crash kinds as numbers). */
struct inspect_meanings {
	int (*ckpt_guest_ns)(const void *blob, size_t len, uint64_t *ns);
	const char *(*crash_name)(uint32_t crash_kind);
};

/* Use h (copied) in every later inspect_main(). */
void inspect_set_meanings(const struct inspect_meanings *h);

/* Run the inspect command; argv[0] is "inspect".  Output on stdout, errors on
 * stderr.  Returns the exit status: 0, 1 for a bad or damaged trace, 2 for a
 * usage error. */
int inspect_main(int argc, char **argv);

#endif
