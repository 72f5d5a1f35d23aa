/* BATCH (0x10): several independent store ops in one frame (proto.h, docs/protocol.md "BATCH").
 *
 * The body is a fixed part (u16 count, u16 reserved, u32 reserved) and `count` entries, each an
 * entry header (u8 opcode, u8 reserved, u16 status in replies / reserved in requests, u32 body
 * size, u64 request id) and then the op's own body, exactly as that op's frame would carry it. The
 * decoders here check the framing only (counts, sizes, reserved fields, nothing left over); each
 * entry's body is decoded later by hf_request_decode / hf_reply_decode through hf_batch_next, so a
 * bad entry gets its own answer and the others go on. */
#include "proto/codec_int.h"
#include "proto/proto.h"

#include "base/assert.h"
#include "base/endian.h"

#include <string.h>

int hf_opcode_is_batchable(uint8_t opcode)
{
	switch (opcode) {
	case HF_OP_CREATE_EVENT:
	case HF_OP_EVENT_INFO:
	case HF_OP_HOLD:
	case HF_OP_EXTEND:
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		return 1;
	default:
		return 0;
	}
}

/* Checks that `count` entries fill p[0 .. size) exactly, with zero reserved fields. Returns HF_OK
 * or HF_ERR_MALFORMED. Bounded by count (<= HF_BATCH_OPS_MAX). */
static enum hf_status entries_check(const uint8_t *p, uint32_t size, uint16_t count, int reply)
{
	uint32_t off = 0;
	for (uint16_t i = 0; i < count; i++) {
		if (size - off < HF_BATCH_ENTRY_HEADER_SIZE)
			return HF_ERR_MALFORMED;
		const uint8_t *e = p + off;
		if (e[1] != 0 || (!reply && hf_get_le16(e + 2) != 0))
			return HF_ERR_MALFORMED;
		uint32_t body_size = hf_get_le32(e + 4);
		off += HF_BATCH_ENTRY_HEADER_SIZE;
		if (body_size > size - off)
			return HF_ERR_MALFORMED;
		off += body_size;
	}
	return off == size ? HF_OK : HF_ERR_MALFORMED;
}

enum hf_status hf_batch_req_check(const struct hf_request *req)
{
	const struct hf_req_batch *b = &req->batch;
	if (b->ops_count > HF_BATCH_OPS_MAX ||
	    b->entries_size > HF_FRAME_BODY_SIZE_MAX - HF_BATCH_FIXED_SIZE)
		return HF_ERR_TOO_LARGE;
	if (b->ops_count == 0 || b->entries == NULL)
		return HF_ERR_INVALID;
	return entries_check(b->entries, b->entries_size, b->ops_count, 0) == HF_OK
		   ? HF_OK
		   : HF_ERR_INVALID;
}

void hf_batch_req_encode(struct hf_wr *w, const struct hf_request *req)
{
	wr_u16(w, req->batch.ops_count);
	wr_u16(w, 0);
	wr_u32(w, 0);
	wr_bytes(w, req->batch.entries, req->batch.entries_size);
}

/* The fixed part and the entries of a request or reply body, into the view fields. */
static enum hf_status batch_body_decode(struct hf_rd *r, int reply, uint16_t *count_out,
					uint32_t *size_out, const uint8_t **entries_out)
{
	uint16_t count = rd_u16(r);
	uint16_t reserved16 = rd_u16(r);
	uint32_t reserved32 = rd_u32(r);
	if (r->bad || reserved16 != 0 || reserved32 != 0)
		return HF_ERR_MALFORMED;
	if (count > HF_BATCH_OPS_MAX)
		return HF_ERR_TOO_LARGE;
	if (count == 0 && !reply)
		return HF_ERR_INVALID;
	uint32_t size = r->left;
	const uint8_t *entries = NULL;
	if (size > 0 && !rd_take(r, size, &entries))
		return HF_ERR_MALFORMED;
	enum hf_status st = entries_check(entries, size, count, reply);
	if (st != HF_OK)
		return st;
	*count_out = count;
	*size_out = size;
	*entries_out = entries;
	return HF_OK;
}

enum hf_status hf_batch_req_decode(struct hf_rd *r, struct hf_request *out)
{
	return batch_body_decode(r, 0, &out->batch.ops_count, &out->batch.entries_size,
				 &out->batch.entries);
}

void hf_batch_rep_encode(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u16(w, rep->batch.ops_count);
	wr_u16(w, 0);
	wr_u32(w, 0);
	wr_bytes(w, rep->batch.entries, rep->batch.entries_size);
}

enum hf_status hf_batch_rep_decode(struct hf_rd *r, struct hf_reply *out)
{
	return batch_body_decode(r, 1, &out->batch.ops_count, &out->batch.entries_size,
				 &out->batch.entries);
}

static void entry_header_put(uint8_t *at, uint8_t opcode, uint16_t status, uint32_t body_size,
			     uint64_t request_id)
{
	at[0] = opcode;
	at[1] = 0;
	hf_put_le16(at + 2, status);
	hf_put_le32(at + 4, body_size);
	hf_put_le64(at + 8, request_id);
}

size_t hf_batch_entry_encode(const struct hf_request *req, uint8_t *buf, size_t cap)
{
	HF_ASSERT(hf_opcode_is_batchable(req->opcode));
	HF_ASSERT(req->request_id != 0);
	/* Encode as a frame, then fold its 24-byte header into the 16-byte entry header. */
	if (cap < HF_FRAME_HEADER_SIZE)
		return 0;
	size_t frame_size = hf_request_encode(req, buf, cap);
	if (frame_size == 0)
		return 0;
	return hf_batch_entry_from_frame(buf, frame_size, buf);
}

size_t hf_batch_entry_from_frame(const uint8_t *frame, size_t frame_size, uint8_t *out)
{
	HF_ASSERT(frame_size >= HF_FRAME_HEADER_SIZE);
	HF_ASSERT(frame_size <= HF_FRAME_SIZE_MAX);
	struct hf_frame_header h;
	enum hf_status st = hf_frame_header_decode(frame, &h);
	HF_ASSERT(st == HF_OK);
	HF_ASSERT(HF_FRAME_HEADER_SIZE + (size_t)h.body_size == frame_size);
	/* memmove: out may be frame itself (the body moves 8 bytes down). */
	memmove(out + HF_BATCH_ENTRY_HEADER_SIZE, frame + HF_FRAME_HEADER_SIZE, h.body_size);
	entry_header_put(out, h.opcode, 0, h.body_size, h.request_id);
	return HF_BATCH_ENTRY_HEADER_SIZE + (size_t)h.body_size;
}

void hf_batch_fixed_encode(uint8_t *buf, uint16_t ops_count)
{
	HF_ASSERT(ops_count >= 1);
	HF_ASSERT(ops_count <= HF_BATCH_OPS_MAX);
	hf_put_le16(buf, ops_count);
	hf_put_le16(buf + 2, 0);
	hf_put_le32(buf + 4, 0);
}

size_t hf_batch_reply_entry_encode(const struct hf_reply *rep, uint8_t *buf, size_t cap)
{
	HF_ASSERT(hf_opcode_is_batchable(rep->opcode) || rep->status != HF_OK);
	size_t frame_size = hf_reply_size(rep);
	if (cap < frame_size)
		return 0;
	size_t written = hf_reply_encode(rep, buf, cap);
	HF_ASSERT(written == frame_size);
	size_t body_size = frame_size - HF_FRAME_HEADER_SIZE;
	memmove(buf + HF_BATCH_ENTRY_HEADER_SIZE, buf + HF_FRAME_HEADER_SIZE, body_size);
	entry_header_put(buf, rep->opcode, rep->status, (uint32_t)body_size, rep->request_id);
	return HF_BATCH_ENTRY_HEADER_SIZE + body_size;
}

int hf_batch_next(const uint8_t *entries, uint32_t entries_size, uint32_t *offset, int reply,
		  struct hf_frame_header *header, const uint8_t **body)
{
	uint32_t off = *offset;
	HF_ASSERT(off <= entries_size);
	if (off == entries_size)
		return 0;
	if (entries_size - off < HF_BATCH_ENTRY_HEADER_SIZE)
		return -1;
	const uint8_t *e = entries + off;
	uint32_t body_size = hf_get_le32(e + 4);
	if (body_size > entries_size - off - HF_BATCH_ENTRY_HEADER_SIZE ||
	    body_size > HF_FRAME_BODY_SIZE_MAX)
		return -1;
	header->magic = HF_FRAME_MAGIC;
	header->version = HF_PROTO_VERSION;
	header->opcode = e[0];
	header->flags = reply ? HF_FLAG_REPLY : 0;
	header->status = reply ? hf_get_le16(e + 2) : 0;
	header->request_id = hf_get_le64(e + 8);
	header->body_size = body_size;
	header->reserved = 0;
	*body = e + HF_BATCH_ENTRY_HEADER_SIZE;
	*offset = off + HF_BATCH_ENTRY_HEADER_SIZE + body_size;
	return 1;
}
