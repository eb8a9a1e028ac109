/* Hashes used by the trace store: SHA-256 for guest images (their identity
 * in metadata) and a fast 64-bit hash for chunk checksums and page dedup
 * (dedup also compares the bytes, so a collision costs time, not data). */
#ifndef TTVM_STORAGE_HASH_H
#define TTVM_STORAGE_HASH_H
#include <stddef.h>
#include <stdint.h>

struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};

/* Start a SHA-256 computation. */
void sha256_init(struct sha256_ctx *c);
/* Feed len bytes. */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Finish and write the 32-byte digest. */
void sha256_final(struct sha256_ctx *c, uint8_t out[32]);
/* One-shot SHA-256 of data. */
void sha256(const void *data, size_t len, uint8_t out[32]);
/* Fast non-cryptographic 64-bit hash of data (not stable across format versions). */
uint64_t hash64(const void *data, size_t len);

#endif
