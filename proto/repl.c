/* The replication frames (see repl.h and docs/protocol.md, "Replication"): encoders and checking
 * decoders. No I/O, no allocation; a decoder never reads past the body it was given. */
#include "proto/repl.h"

#include "base/assert.h"
#include "base/endian.h"

#include <string.h>

static void header_put(uint8_t *buf, uint8_t opcode, uint16_t flags, uint16_t status,
		       uint64_t request_id, uint32_t body_size)
{
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = opcode,
				    .flags = flags,
				    .status = status,
				    .request_id = request_id,
				    .body_size = body_size};
	hf_frame_header_encode(buf, &h);
}

size_t hf_repl_subscribe_encode(uint8_t *buf, size_t cap, uint64_t request_id,
				const struct hf_repl_subscribe *sub)
{
	HF_ASSERT(sub->replica_id != 0);
	HF_ASSERT(cap >= HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_BODY_SIZE);
	header_put(buf, HF_OP_REPL_SUBSCRIBE, 0, 0, request_id, HF_REPL_SUBSCRIBE_BODY_SIZE);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE, sub->replica_id);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE + 8, sub->epoch);
	return HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_BODY_SIZE;
}

size_t hf_repl_ack_encode(uint8_t *buf, size_t cap, uint64_t request_id,
			  const struct hf_repl_ack *ack)
{
	HF_ASSERT(ack->replica_id != 0);
	HF_ASSERT(cap >= HF_FRAME_HEADER_SIZE + HF_REPL_ACK_BODY_SIZE);
	header_put(buf, HF_OP_REPL_ACK, 0, 0, request_id, HF_REPL_ACK_BODY_SIZE);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE, ack->replica_id);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE + 8, ack->epoch);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE + 16, ack->seq);
	return HF_FRAME_HEADER_SIZE + HF_REPL_ACK_BODY_SIZE;
}

enum hf_status hf_repl_subscribe_decode(const uint8_t *body, uint32_t size,
					struct hf_repl_subscribe *out)
{
	if (size != HF_REPL_SUBSCRIBE_BODY_SIZE)
		return HF_ERR_MALFORMED;
	out->replica_id = hf_get_le64(body);
	out->epoch = hf_get_le64(body + 8);
	return out->replica_id == 0 ? HF_ERR_INVALID : HF_OK;
}

enum hf_status hf_repl_ack_decode(const uint8_t *body, uint32_t size, struct hf_repl_ack *out)
{
	if (size != HF_REPL_ACK_BODY_SIZE)
		return HF_ERR_MALFORMED;
	out->replica_id = hf_get_le64(body);
	out->epoch = hf_get_le64(body + 8);
	out->seq = hf_get_le64(body + 16);
	return out->replica_id == 0 ? HF_ERR_INVALID : HF_OK;
}

size_t hf_repl_subscribed_encode(uint8_t *buf, size_t cap, uint64_t request_id,
				 const struct hf_repl_subscribed *rep)
{
	HF_ASSERT(cap >= HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE);
	header_put(buf, HF_OP_REPL_SUBSCRIBE, HF_FLAG_REPLY, HF_OK, request_id,
		   HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE, rep->epoch);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE + 8, rep->stream_id);
	hf_put_le64(buf + HF_FRAME_HEADER_SIZE + 16, rep->seq);
	return HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE;
}

enum hf_status hf_repl_subscribed_decode(const uint8_t *body, uint32_t size,
					 struct hf_repl_subscribed *out)
{
	if (size != HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE)
		return HF_ERR_MALFORMED;
	out->epoch = hf_get_le64(body);
	out->stream_id = hf_get_le64(body + 8);
	out->seq = hf_get_le64(body + 16);
	return HF_OK;
}

size_t hf_repl_status_encode(uint8_t *buf, size_t cap, uint8_t opcode, uint64_t request_id,
			     uint16_t status, uint64_t detail)
{
	uint32_t body = status == HF_OK ? 0u : HF_ERROR_BODY_SIZE;
	HF_ASSERT(cap >= HF_FRAME_HEADER_SIZE + body);
	header_put(buf, opcode, HF_FLAG_REPLY, status, request_id, body);
	if (body > 0)
		hf_put_le64(buf + HF_FRAME_HEADER_SIZE, detail);
	return HF_FRAME_HEADER_SIZE + body;
}

size_t hf_repl_batch_begin(uint8_t *frame, size_t cap, uint64_t request_id,
			   const struct hf_repl_batch *b)
{
	HF_ASSERT(cap >= HF_FRAME_HEADER_SIZE + HF_REPL_BATCH_FIXED_SIZE);
	HF_ASSERT((b->flags & ~HF_REPL_FLAGS_KNOWN) == 0);
	header_put(frame, HF_OP_REPL_BATCH, HF_FLAG_REPLY, HF_OK, request_id,
		   HF_REPL_BATCH_FIXED_SIZE);
	uint8_t *body = frame + HF_FRAME_HEADER_SIZE;
	hf_put_le64(body, b->epoch);
	hf_put_le64(body + 8, b->seq);
	hf_put_le32(body + 16, b->flags);
	hf_put_le32(body + 20, 0);
	return HF_FRAME_HEADER_SIZE + HF_REPL_BATCH_FIXED_SIZE;
}

static int record_ok(const struct hf_repl_record *rec)
{
	if (rec->key_size < 1 || rec->key_size > HF_REPL_KEY_SIZE_MAX)
		return 0;
	if (rec->kind == HF_REPL_PUT)
		return rec->value_size >= 1 && rec->value_size <= HF_REPL_VALUE_SIZE_MAX;
	if (rec->kind == HF_REPL_DEL)
		return rec->value_size == 0;
	if (rec->kind == HF_REPL_DEL_RANGE)
		return rec->value_size >= 1 && rec->value_size <= HF_REPL_KEY_SIZE_MAX;
	return 0;
}

int hf_repl_batch_add(uint8_t *frame, size_t cap, size_t *size, const struct hf_repl_record *rec)
{
	HF_ASSERT(record_ok(rec));
	HF_ASSERT(*size >= HF_FRAME_HEADER_SIZE + HF_REPL_BATCH_FIXED_SIZE);
	uint8_t *body = frame + HF_FRAME_HEADER_SIZE;
	uint32_t count = hf_get_le32(body + 20);
	size_t need = HF_REPL_RECORD_FIXED_SIZE + rec->key_size + rec->value_size;
	if (count >= HF_REPL_FRAME_RECORDS_MAX || *size + need > cap ||
	    *size + need - HF_FRAME_HEADER_SIZE > HF_FRAME_BODY_SIZE_MAX)
		return -1;
	uint8_t *at = frame + *size;
	at[0] = rec->kind;
	at[1] = rec->key_size;
	hf_put_le16(at + 2, rec->value_size);
	memcpy(at + HF_REPL_RECORD_FIXED_SIZE, rec->key, rec->key_size);
	if (rec->value_size > 0)
		memcpy(at + HF_REPL_RECORD_FIXED_SIZE + rec->key_size, rec->value, rec->value_size);
	*size += need;
	hf_put_le32(body + 20, count + 1u);
	hf_put_le32(frame + 16, (uint32_t)(*size - HF_FRAME_HEADER_SIZE));
	return 0;
}

void hf_repl_batch_set_flags(uint8_t *frame, uint32_t flags)
{
	HF_ASSERT((flags & ~HF_REPL_FLAGS_KNOWN) == 0);
	hf_put_le32(frame + HF_FRAME_HEADER_SIZE + 16, flags);
}

static void record_read(const uint8_t *at, struct hf_repl_record *out)
{
	out->kind = at[0];
	out->key_size = at[1];
	out->value_size = hf_get_le16(at + 2);
	out->key = at + HF_REPL_RECORD_FIXED_SIZE;
	out->value = out->value_size > 0 ? out->key + out->key_size : NULL;
}

enum hf_status hf_repl_batch_decode(const uint8_t *body, uint32_t size, struct hf_repl_batch *out)
{
	if (size < HF_REPL_BATCH_FIXED_SIZE)
		return HF_ERR_MALFORMED;
	out->epoch = hf_get_le64(body);
	out->seq = hf_get_le64(body + 8);
	out->flags = hf_get_le32(body + 16);
	out->count = hf_get_le32(body + 20);
	if ((out->flags & ~HF_REPL_FLAGS_KNOWN) != 0)
		return HF_ERR_MALFORMED;
	if (out->count > HF_REPL_FRAME_RECORDS_MAX)
		return HF_ERR_TOO_LARGE;
	uint32_t off = HF_REPL_BATCH_FIXED_SIZE;
	/* Bounded by count <= HF_REPL_FRAME_RECORDS_MAX. */
	for (uint32_t i = 0; i < out->count; i++) {
		if (size - off < HF_REPL_RECORD_FIXED_SIZE)
			return HF_ERR_MALFORMED;
		struct hf_repl_record rec;
		record_read(body + off, &rec);
		uint32_t need = HF_REPL_RECORD_FIXED_SIZE + rec.key_size + rec.value_size;
		if (!record_ok(&rec) || size - off < need)
			return HF_ERR_MALFORMED;
		off += need;
	}
	return off == size ? HF_OK : HF_ERR_MALFORMED;
}

void hf_repl_batch_record(const uint8_t *body, uint32_t *offset, struct hf_repl_record *out)
{
	HF_ASSERT(*offset >= HF_REPL_BATCH_FIXED_SIZE);
	record_read(body + *offset, out);
	HF_ASSERT(record_ok(out));
	*offset += HF_REPL_RECORD_FIXED_SIZE + out->key_size + out->value_size;
}
