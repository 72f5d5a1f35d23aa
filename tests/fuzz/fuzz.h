/* Shared by the fuzz harnesses under tests/fuzz/: the libFuzzer entry point every harness defines,
 * the bound on one input, and a cursor that reads fixed-size fields from the fuzzer's bytes.
 *
 * Each harness (fuzz_frame.c, fuzz_store.c, fuzz_load.c) is linked twice: with libFuzzer in the
 * clang build that scripts/fuzz.sh makes (build-fuzz), and with replay.c, a plain main() that feeds
 * every file of the checked-in corpora to LLVMFuzzerTestOneInput, in the ordinary gcc test build.
 * So every seed and every regression input runs in the default suite.
 *
 * The cursor never fails: past the end of the input every field reads as zero, which libFuzzer
 * handles well (short inputs are cheap) and keeps each harness free of length checks. */
#ifndef HF_TESTS_FUZZ_FUZZ_H
#define HF_TESTS_FUZZ_FUZZ_H

#include "base/assert.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

/* The largest input any harness looks at (a whole frame plus slack for the cursor-driven ones);
 * scripts/fuzz.sh passes it as -max_len and replay.c refuses longer files. */
#define HF_FUZZ_INPUT_SIZE_MAX (HF_FRAME_SIZE_MAX + 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_cursor {
	const uint8_t *at;
	size_t left; /* bytes not read yet */
};

static inline void fz_init(struct fz_cursor *c, const uint8_t *data, size_t size)
{
	HF_ASSERT(data != NULL || size == 0);
	c->at = data;
	c->left = size;
}

static inline int fz_empty(const struct fz_cursor *c)
{
	return c->left == 0;
}

static inline uint8_t fz_u8(struct fz_cursor *c)
{
	if (c->left == 0)
		return 0;
	c->left--;
	return *c->at++;
}

static inline uint16_t fz_u16(struct fz_cursor *c)
{
	uint16_t lo = fz_u8(c);
	return (uint16_t)(lo | (uint16_t)fz_u8(c) << 8);
}

static inline uint32_t fz_u32(struct fz_cursor *c)
{
	uint32_t lo = fz_u16(c);
	return lo | (uint32_t)fz_u16(c) << 16;
}

/* Copies up to size bytes into out (zero-filled past the end of the input); returns how many
 * bytes came from the input. */
static inline size_t fz_bytes(struct fz_cursor *c, uint8_t *out, size_t size)
{
	size_t n = size < c->left ? size : c->left;
	for (size_t i = 0; i < size; i++)
		out[i] = i < n ? c->at[i] : 0;
	c->at += n;
	c->left -= n;
	return n;
}

#endif
