/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), small and dependency-free, for the waiting
 * room's admission tokens (shards/room.c). Pure functions, any thread; tests/shards/test_room.c
 * checks them against the FIPS and RFC 4231 test vectors. */
#ifndef HF_SHARDS_SHA256_H
#define HF_SHARDS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define HF_SHA256_SIZE	     32u /* bytes of a digest */
#define HF_SHA256_BLOCK_SIZE 64u /* bytes of a compression block */

struct hf_sha256 {
	uint32_t h[8];
	uint64_t total_size; /* bytes fed so far */
	uint8_t block[HF_SHA256_BLOCK_SIZE];
	uint32_t block_used; /* 0 .. HF_SHA256_BLOCK_SIZE - 1 */
};

void hf_sha256_init(struct hf_sha256 *ctx);
void hf_sha256_update(struct hf_sha256 *ctx, const void *data, size_t size);
void hf_sha256_final(struct hf_sha256 *ctx, uint8_t out[HF_SHA256_SIZE]);

/* HMAC-SHA256 of data under key (any size; keys longer than a block are hashed first). */
void hf_hmac_sha256(const uint8_t *key, size_t key_size, const void *data, size_t data_size,
		    uint8_t out[HF_SHA256_SIZE]);

#endif
