/* The WATCH_CHANGE frame codec (proto/watch.h has the layout). */
#include "proto/watch.h"

#include "base/assert.h"
#include "base/endian.h"

#include <string.h>

HF_STATIC_ASSERT(HF_WATCH_CHANGE_FRAME_SIZE_MAX <= HF_FRAME_SIZE_MAX, "a push is a frame");

const char *hf_watch_kind_name(uint8_t kind)
{
	static const char *const names[] = {
	    [HF_WATCH_HELD] = "held",	    [HF_WATCH_EXTENDED] = "extended",
	    [HF_WATCH_BOOKED] = "booked",   [HF_WATCH_RELEASED] = "released",
	    [HF_WATCH_EXPIRED] = "expired", [HF_WATCH_CANCELLED] = "cancelled",
	    [HF_WATCH_GAP] = "gap",
	};
	if (kind >= HF_ARRAY_SIZE(names) || names[kind] == NULL)
		return "unknown";
	return names[kind];
}

static int change_valid(const struct hf_watch_change *c)
{
	if (c->kind < HF_WATCH_HELD || c->kind > HF_WATCH_GAP || c->state > HF_SEAT_BOOKED)
		return 0;
	if (c->kind == HF_WATCH_GAP)
		return c->seats_count == 0 && c->state == HF_SEAT_FREE && c->hold_id == 0;
	return c->seats_count >= 1 && c->seats_count <= HF_HOLD_SEATS_MAX;
}

size_t hf_watch_change_encode(const struct hf_watch_change *change, uint64_t request_id,
			      uint8_t *buf, size_t cap)
{
	HF_ASSERT(change_valid(change));
	uint32_t body = HF_WATCH_CHANGE_FIXED_SIZE + 4u * change->seats_count;
	size_t size = HF_FRAME_HEADER_SIZE + body;
	if (cap < size)
		return 0;
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = HF_OP_WATCH_CHANGE,
				    .flags = HF_FLAG_REPLY,
				    .status = HF_OK,
				    .request_id = request_id,
				    .body_size = body};
	hf_frame_header_encode(buf, &h);
	uint8_t *b = buf + HF_FRAME_HEADER_SIZE;
	hf_put_le64(b + 0, change->event_id);
	hf_put_le64(b + 8, change->seq);
	b[16] = change->kind;
	b[17] = change->state;
	hf_put_le16(b + 18, 0);
	hf_put_le32(b + 20, change->seats_count);
	hf_put_le64(b + 24, change->hold_id);
	hf_put_le64(b + 32, change->user_id);
	hf_put_le64(b + 40, change->deadline_ms);
	for (uint32_t i = 0; i < change->seats_count; i++)
		hf_put_le32(b + HF_WATCH_CHANGE_FIXED_SIZE + 4u * i, change->seats[i]);
	return size;
}

enum hf_status hf_watch_change_decode(const struct hf_frame_header *header, const uint8_t *body,
				      struct hf_watch_change *out)
{
	HF_ASSERT(header->opcode == HF_OP_WATCH_CHANGE);
	if (header->body_size < HF_WATCH_CHANGE_FIXED_SIZE || header->status != HF_OK)
		return HF_ERR_MALFORMED;
	memset(out, 0, sizeof(*out));
	out->event_id = hf_get_le64(body + 0);
	out->seq = hf_get_le64(body + 8);
	out->kind = body[16];
	out->state = body[17];
	uint32_t n = hf_get_le32(body + 20);
	if (n > HF_HOLD_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	if (hf_get_le16(body + 18) != 0 || header->body_size != HF_WATCH_CHANGE_FIXED_SIZE + 4u * n)
		return HF_ERR_MALFORMED;
	out->seats_count = n;
	out->hold_id = hf_get_le64(body + 24);
	out->user_id = hf_get_le64(body + 32);
	out->deadline_ms = hf_get_le64(body + 40);
	for (uint32_t i = 0; i < n; i++)
		out->seats[i] = hf_get_le32(body + HF_WATCH_CHANGE_FIXED_SIZE + 4u * i);
	return change_valid(out) ? HF_OK : HF_ERR_MALFORMED;
}
