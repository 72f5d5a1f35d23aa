/* SHA-256 and HMAC-SHA256 (see sha256.h). Straight from FIPS 180-4 section 6.2; no tables beyond
 * the round constants, no platform code. */
#include "shards/sha256.h"

#include "base/assert.h"

#include <string.h>

static const uint32_t round_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32u - n));
}

static void compress(uint32_t h[8], const uint8_t block[HF_SHA256_BLOCK_SIZE])
{
	uint32_t w[64];
	for (unsigned i = 0; i < 16; i++)
		w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
		       (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
	for (unsigned i = 16; i < 64; i++) {
		uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (unsigned i = 0; i < 64; i++) {
		uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
			      round_k[i] + w[i];
		uint32_t t2 =
		    (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += k;
}

void hf_sha256_init(struct hf_sha256 *ctx)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(ctx->h, iv, sizeof(iv));
	ctx->total_size = 0;
	ctx->block_used = 0;
}

void hf_sha256_update(struct hf_sha256 *ctx, const void *data, size_t size)
{
	HF_ASSERT(ctx->block_used < HF_SHA256_BLOCK_SIZE);
	HF_ASSERT(data != NULL || size == 0);
	const uint8_t *p = data;
	ctx->total_size += size;
	while (size > 0) {
		size_t take = HF_SHA256_BLOCK_SIZE - ctx->block_used;
		if (take > size)
			take = size;
		memcpy(ctx->block + ctx->block_used, p, take);
		ctx->block_used += (uint32_t)take;
		p += take;
		size -= take;
		if (ctx->block_used == HF_SHA256_BLOCK_SIZE) {
			compress(ctx->h, ctx->block);
			ctx->block_used = 0;
		}
	}
}

void hf_sha256_final(struct hf_sha256 *ctx, uint8_t out[HF_SHA256_SIZE])
{
	uint64_t bits = ctx->total_size * 8u;
	static const uint8_t pad[HF_SHA256_BLOCK_SIZE] = {0x80};
	size_t pad_size = ctx->block_used < 56u ? 56u - ctx->block_used : 120u - ctx->block_used;
	hf_sha256_update(ctx, pad, pad_size);
	HF_ASSERT(ctx->block_used == 56u);
	uint8_t len[8];
	for (unsigned i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56u - 8u * i));
	hf_sha256_update(ctx, len, sizeof(len));
	HF_ASSERT(ctx->block_used == 0);
	for (unsigned i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)ctx->h[i];
	}
}

void hf_hmac_sha256(const uint8_t *key, size_t key_size, const void *data, size_t data_size,
		    uint8_t out[HF_SHA256_SIZE])
{
	uint8_t k[HF_SHA256_BLOCK_SIZE] = {0};
	struct hf_sha256 ctx;
	if (key_size > HF_SHA256_BLOCK_SIZE) {
		hf_sha256_init(&ctx);
		hf_sha256_update(&ctx, key, key_size);
		hf_sha256_final(&ctx, k);
	} else if (key_size > 0) {
		memcpy(k, key, key_size);
	}
	uint8_t pad[HF_SHA256_BLOCK_SIZE];
	uint8_t inner[HF_SHA256_SIZE];
	for (unsigned i = 0; i < HF_SHA256_BLOCK_SIZE; i++)
		pad[i] = k[i] ^ 0x36u;
	hf_sha256_init(&ctx);
	hf_sha256_update(&ctx, pad, sizeof(pad));
	hf_sha256_update(&ctx, data, data_size);
	hf_sha256_final(&ctx, inner);
	for (unsigned i = 0; i < HF_SHA256_BLOCK_SIZE; i++)
		pad[i] = k[i] ^ 0x5cu;
	hf_sha256_init(&ctx);
	hf_sha256_update(&ctx, pad, sizeof(pad));
	hf_sha256_update(&ctx, inner, sizeof(inner));
	hf_sha256_final(&ctx, out);
}
