/* Goal: a coverage-guided search for a frame that crashes a decoder, reads outside its body, or
 * decodes to something that does not re-encode to the same bytes (requests and replies).
 * Method: the first 24 bytes are a header; when it decodes, the body is copied into an allocation
 * of exactly body_size bytes (so AddressSanitizer sees any overrun), then the request and the reply
 * decoders both run on it. A header refused for its version or size must still name the opcode and
 * request id (the server answers it). Whatever decodes HF_OK is re-encoded and compared byte for
 * byte, and a refused request must still carry its opcode and request id (the server answers with
 * them).
 *
 * Built with libFuzzer by scripts/fuzz.sh (build-fuzz/tests/fuzz/fuzz_frame); replayed over
 * tests/fuzz/corpus/frame by the default suite (fuzz_frame_replay). tests/proto/test_proto.c
 * (test_random_decode) runs similar checks on a million seeded random and mutated frames. */
#include "tests/fuzz/fuzz.h"

#include "base/endian.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Large (a slot map or stats reply is kilobytes): static, one harness call at a time. */
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

static void check_request(const struct hf_frame_header *h, const uint8_t *frame, size_t frame_size,
			  const uint8_t *body)
{
	enum hf_status st = hf_request_decode(h, body, &req);
	HF_ASSERT(hf_status_name(st) != NULL);
	/* Answerable either way: the reply echoes these two. */
	HF_ASSERT(req.opcode == h->opcode);
	HF_ASSERT(req.request_id == h->request_id);
	if (st != HF_OK)
		return;
	(void)hf_request_event_id(&req);
	check_same(frame, frame_size, hf_request_encode(&req, again, sizeof(again)), "request");
}

static void check_reply(const struct hf_frame_header *h, const uint8_t *frame, size_t frame_size,
			const uint8_t *body)
{
	if (hf_reply_decode(h, body, &rep) != HF_OK)
		return;
	HF_ASSERT(rep.opcode == h->opcode);
	HF_ASSERT(rep.status == h->status);
	if (hf_reply_size(&rep) != frame_size) {
		fprintf(stderr, "reply decoded HF_OK but hf_reply_size says %zu (frame %zu)\n",
			hf_reply_size(&rep), frame_size);
		abort();
	}
	check_same(frame, frame_size, hf_reply_encode(&rep, again, sizeof(again)), "reply");
}

/* A header refused for its version or body size is still answered: opcode and request id must be
 * the bytes at offsets 3 and 8. */
static void check_answerable_header(const uint8_t *data, const struct hf_frame_header *h)
{
	HF_ASSERT(h->opcode == data[3]);
	HF_ASSERT(h->request_id == hf_get_le64(data + 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_frame_header h;
	if (size < HF_FRAME_HEADER_SIZE)
		return 0;
	enum hf_status st = hf_frame_header_decode(data, &h);
	if (st == HF_ERR_VERSION || st == HF_ERR_TOO_LARGE)
		check_answerable_header(data, &h);
	if (st != HF_OK)
		return 0;
	HF_ASSERT(h.body_size <= HF_FRAME_BODY_SIZE_MAX);
	if (h.body_size > size - HF_FRAME_HEADER_SIZE)
		return 0;
	size_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
	/* Exactly body_size bytes, also for an empty body: glibc and ASan return a distinct
	 * pointer for malloc(0), and ASan reports any read of it. */
	uint8_t *body = malloc(h.body_size);
	HF_ASSERT(body != NULL);
	memcpy(body, data + HF_FRAME_HEADER_SIZE, h.body_size);
	check_request(&h, data, frame_size, body);
	check_reply(&h, data, frame_size, body);
	free(body);
	return 0;
}
