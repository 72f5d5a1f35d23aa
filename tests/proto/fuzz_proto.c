/* Goal: a coverage-guided search for a frame that crashes a decoder, reads outside its body, or
 * decodes to something that does not re-encode to the same bytes.
 * Method: libFuzzer feeds arbitrary bytes; the first 24 are a header, the body is copied into an
 * allocation of exactly body_size bytes (so AddressSanitizer sees any overrun), then the request
 * and the reply decoders run and whatever decodes HF_OK is re-encoded and compared byte for byte.
 *
 * Not built by meson (it needs clang's -fsanitize=fuzzer). Build and run from the project root:
 *
 *   clang -g -O1 -std=c17 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       tests/proto/fuzz_proto.c proto/proto.c base/base.c -o /tmp/fuzz_proto
 *   mkdir -p /tmp/fuzz_proto_corpus && /tmp/fuzz_proto -max_total_time=300 /tmp/fuzz_proto_corpus
 *
 * tests/proto/test_proto.c (test_random_decode) runs the same checks on a million seeded random and
 * mutated frames in every ordinary test build. */
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t again[HF_FRAME_SIZE_MAX];
static struct hf_request req;
static struct hf_reply rep;

static void check_same(const uint8_t *frame, size_t frame_size, size_t n, const char *what)
{
	if (n != frame_size || memcmp(again, frame, frame_size) != 0) {
		fprintf(stderr, "%s decoded HF_OK but re-encodes to %zu different bytes (of %zu)\n",
			what, n, frame_size);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_frame_header h;
	if (size < HF_FRAME_HEADER_SIZE || hf_frame_header_decode(data, &h) != HF_OK)
		return 0;
	if (h.body_size > size - HF_FRAME_HEADER_SIZE)
		return 0;
	size_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
	uint8_t *body = malloc(h.body_size);
	if (body == NULL)
		return 0;
	memcpy(body, data + HF_FRAME_HEADER_SIZE, h.body_size);
	if (hf_request_decode(&h, body, &req) == HF_OK)
		check_same(data, frame_size, hf_request_encode(&req, again, sizeof(again)),
			   "request");
	if (hf_reply_decode(&h, body, &rep) == HF_OK) {
		if (hf_reply_size(&rep) != frame_size)
			abort();
		check_same(data, frame_size, hf_reply_encode(&rep, again, sizeof(again)), "reply");
	}
	free(body);
	return 0;
}
