/* The body codec's cursors, private to proto/ (proto.c and the codecs of its own files, such as
 * batch.c): a reading cursor that refuses every read past the end of the body, and a writing cursor
 * that refuses every write past the end of the buffer or, in measuring mode, only counts.
 * Nothing here is installed or used outside proto/. */
#ifndef HF_PROTO_CODEC_INT_H
#define HF_PROTO_CODEC_INT_H

#include "base/endian.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct hf_rd {
	const uint8_t *p;
	uint32_t left;
	int bad; /* a read went past the end */
};

static inline int rd_take(struct hf_rd *r, uint32_t n, const uint8_t **at)
{
	if (r->bad || r->left < n) {
		r->bad = 1;
		return 0;
	}
	*at = r->p;
	r->p += n;
	r->left -= n;
	return 1;
}

static inline uint8_t rd_u8(struct hf_rd *r)
{
	const uint8_t *at;
	return rd_take(r, 1, &at) ? at[0] : 0;
}

static inline uint16_t rd_u16(struct hf_rd *r)
{
	const uint8_t *at;
	return rd_take(r, 2, &at) ? hf_get_le16(at) : 0;
}

static inline uint32_t rd_u32(struct hf_rd *r)
{
	const uint8_t *at;
	return rd_take(r, 4, &at) ? hf_get_le32(at) : 0;
}

static inline uint64_t rd_u64(struct hf_rd *r)
{
	const uint8_t *at;
	return rd_take(r, 8, &at) ? hf_get_le64(at) : 0;
}

/* The body decoded cleanly and exactly. */
static inline int rd_done(const struct hf_rd *r)
{
	return !r->bad && r->left == 0;
}

/* A writing cursor. With measure set it writes nothing and only counts (hf_reply_size). */
struct hf_wr {
	uint8_t *p;
	size_t left;
	size_t size; /* bytes taken so far, header included */
	int measure;
	int bad; /* the buffer was too small */
};

static inline uint8_t *wr_take(struct hf_wr *w, size_t n)
{
	if (w->measure) {
		w->size += n;
		return NULL;
	}
	if (w->bad || w->left < n) {
		w->bad = 1;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	w->left -= n;
	w->size += n;
	return at;
}

static inline void wr_u8(struct hf_wr *w, uint8_t v)
{
	uint8_t *at = wr_take(w, 1);
	if (at)
		at[0] = v;
}

static inline void wr_u16(struct hf_wr *w, uint16_t v)
{
	uint8_t *at = wr_take(w, 2);
	if (at)
		hf_put_le16(at, v);
}

static inline void wr_u32(struct hf_wr *w, uint32_t v)
{
	uint8_t *at = wr_take(w, 4);
	if (at)
		hf_put_le32(at, v);
}

static inline void wr_u64(struct hf_wr *w, uint64_t v)
{
	uint8_t *at = wr_take(w, 8);
	if (at)
		hf_put_le64(at, v);
}

static inline void wr_bytes(struct hf_wr *w, const void *src, size_t n)
{
	uint8_t *at = wr_take(w, n);
	if (at && n > 0)
		memcpy(at, src, n);
}

/* BATCH's body codecs (batch.c), for its row of the opcode table in proto.c. */
enum hf_status hf_batch_req_check(const struct hf_request *req);
void hf_batch_req_encode(struct hf_wr *w, const struct hf_request *req);
enum hf_status hf_batch_req_decode(struct hf_rd *r, struct hf_request *out);
void hf_batch_rep_encode(struct hf_wr *w, const struct hf_reply *rep);
enum hf_status hf_batch_rep_decode(struct hf_rd *r, struct hf_reply *out);

#endif
