/* Encoders and decoders of the holdfast wire protocol (see proto.h and docs/protocol.md).
 *
 * Every per-opcode fact is one row of op_table below: name, whether it writes, whether it is routed
 * by event id, whether it is admin-only, its body size bounds and its four body codecs. The public
 * functions (hf_opcode_name, hf_request_encode, hf_reply_size, ...) look the row up and never
 * switch on the opcode themselves.
 *
 * Decoding is written as a cursor over the body that refuses every read past the end: a short body
 * sets the cursor's error flag, and the decoder then answers HF_ERR_MALFORMED. A body with bytes
 * left over after its fields is malformed too: each opcode's body size is exact. Encoding runs the
 * same body encoders either into a buffer or, for hf_reply_size, in a measuring mode that only
 * counts. */
#include "proto/proto.h"

#include "base/assert.h"
#include "base/endian.h"
#include "proto/codec_int.h"

#include <stddef.h>
#include <string.h>

/* ---- Names ---- */

const char *hf_status_name(uint16_t status)
{
	switch (status) {
	case HF_OK:
		return "OK";
	case HF_ERR_MALFORMED:
		return "MALFORMED";
	case HF_ERR_VERSION:
		return "VERSION";
	case HF_ERR_OPCODE:
		return "OPCODE";
	case HF_ERR_TOO_LARGE:
		return "TOO_LARGE";
	case HF_MOVED:
		return "MOVED";
	case HF_BUSY:
		return "BUSY";
	case HF_TRY_AGAIN:
		return "TRY_AGAIN";
	case HF_ERR_INTERNAL:
		return "INTERNAL";
	case HF_ERR_IO:
		return "IO";
	case HF_ERR_INVALID:
		return "INVALID";
	case HF_ERR_CAPACITY:
		return "CAPACITY";
	case HF_NO_EVENT:
		return "NO_EVENT";
	case HF_EVENT_EXISTS:
		return "EVENT_EXISTS";
	case HF_SEAT_RANGE:
		return "SEAT_RANGE";
	case HF_SEAT_TAKEN:
		return "SEAT_TAKEN";
	case HF_NOT_ENOUGH:
		return "NOT_ENOUGH";
	case HF_USER_LIMIT:
		return "USER_LIMIT";
	case HF_NO_HOLD:
		return "NO_HOLD";
	case HF_HOLD_EXPIRED:
		return "HOLD_EXPIRED";
	case HF_HOLD_RELEASED:
		return "HOLD_RELEASED";
	case HF_ID_CONFLICT:
		return "ID_CONFLICT";
	case HF_NO_BOOKING:
		return "NO_BOOKING";
	case HF_BOOKING_CANCELLED:
		return "BOOKING_CANCELLED";
	case HF_HOLD_CONFIRMED:
		return "HOLD_CONFIRMED";
	case HF_DUPLICATE_SEAT:
		return "DUPLICATE_SEAT";
	case HF_ORPHAN_SEAT:
		return "ORPHAN_SEAT";
	case HF_WATCHING:
		return "WATCHING";
	case HF_UNAUTHORIZED:
		return "UNAUTHORIZED";
	case HF_FORBIDDEN:
		return "FORBIDDEN";
	case HF_RATE_LIMITED:
		return "RATE_LIMITED";
	/* Waiting room. */
	case HF_NOT_ADMITTED:
		return "NOT_ADMITTED";
	case HF_NOT_IN_QUEUE:
		return "NOT_IN_QUEUE";
	case HF_ROOM_FULL:
		return "ROOM_FULL";
	case HF_NO_ROOM:
		return "NO_ROOM";
	case HF_SOLD_OUT:
		return "SOLD_OUT";
	case HF_EVENT_HAS_HOLDS: /* moves: 35..37 */
		return "EVENT_HAS_HOLDS";
	case HF_MOVE_STATE:
		return "MOVE_STATE";
	case HF_MOVE_FAILED:
		return "MOVE_FAILED";
	case HF_REPL_FENCED: /* replication */
		return "REPL_FENCED";
	case HF_NOT_PRIMARY:
		return "NOT_PRIMARY";
	case HF_REPL_BEHIND:
		return "REPL_BEHIND";
	default:
		return "UNKNOWN";
	}
}

const char *hf_status_message(uint16_t status)
{
	switch (status) {
	case HF_OK:
		return "ok";
	case HF_ERR_MALFORMED:
		return "malformed request";
	case HF_ERR_VERSION:
		return "unsupported protocol version";
	case HF_ERR_OPCODE:
		return "unknown opcode";
	case HF_ERR_TOO_LARGE:
		return "request too large";
	case HF_MOVED:
		return "event is served by another shard";
	case HF_BUSY:
		return "server busy, retry later";
	case HF_TRY_AGAIN:
		return "event is moving between shards, retry shortly";
	case HF_ERR_INTERNAL:
		return "internal server error";
	case HF_ERR_IO:
		return "could not persist the change; nothing changed";
	case HF_ERR_INVALID:
		return "invalid argument";
	case HF_ERR_CAPACITY:
		return "shard is full";
	case HF_NO_EVENT:
		return "no such event";
	case HF_EVENT_EXISTS:
		return "event exists with different parameters";
	case HF_SEAT_RANGE:
		return "seat out of range";
	case HF_SEAT_TAKEN:
		return "seat already held or booked";
	case HF_NOT_ENOUGH:
		return "not enough adjacent free seats";
	case HF_USER_LIMIT:
		return "per-user seat limit reached";
	case HF_NO_HOLD:
		return "no such hold";
	case HF_HOLD_EXPIRED:
		return "hold expired";
	case HF_HOLD_RELEASED:
		return "hold was released";
	case HF_ID_CONFLICT:
		return "id already used for a different request";
	case HF_NO_BOOKING:
		return "no such booking";
	case HF_BOOKING_CANCELLED:
		return "booking was cancelled";
	case HF_HOLD_CONFIRMED:
		return "hold is already confirmed";
	case HF_DUPLICATE_SEAT:
		return "seat listed twice";
	case HF_ORPHAN_SEAT:
		return "would leave a single free seat alone in its row";
	case HF_WATCHING:
		return "the connection watches an event: it takes no writes and watches one event";
	case HF_UNAUTHORIZED:
		return "no valid token presented (AUTH)";
	case HF_FORBIDDEN:
		return "not allowed for this token's role, or outside the backup root";
	case HF_RATE_LIMITED:
		return "too many requests from this user; retry after the given ms";
	/* Waiting room. */
	case HF_NOT_ADMITTED:
		return "the event has a waiting room: join it and hold with the admission token";
	case HF_NOT_IN_QUEUE:
		return "the user has no place in the waiting room";
	case HF_ROOM_FULL:
		return "the waiting room is full";
	case HF_NO_ROOM:
		return "the event has no waiting room";
	case HF_SOLD_OUT:
		return "sold out: every seat is booked";
	case HF_EVENT_HAS_HOLDS: /* moves: 35..37 */
		return "the event has live holds (use --force to delete it anyway)";
	case HF_MOVE_STATE:
		return "the shard is not in the state this move step needs";
	case HF_MOVE_FAILED:
		return "copying the slot failed; roll the move back (cluster fix)";
	case HF_REPL_FENCED: /* replication */
		return "fenced: a newer epoch exists, the sender is no longer the primary";
	case HF_NOT_PRIMARY:
		return "this shard is a replica; writes go to its primary";
	case HF_REPL_BEHIND:
		return "this replica has not caught up; promoting it would lose data";
	default:
		return "unknown status";
	}
}

int hf_status_is_retryable(uint16_t status)
{
	return status == HF_BUSY || status == HF_TRY_AGAIN || status == HF_MOVED ||
	       status == HF_ERR_IO || status == HF_RATE_LIMITED;
}

/* ---- Header ---- */

void hf_frame_header_encode(uint8_t *buf, const struct hf_frame_header *header)
{
	hf_put_le16(buf + 0, header->magic);
	buf[2] = header->version;
	buf[3] = header->opcode;
	hf_put_le16(buf + 4, header->flags);
	hf_put_le16(buf + 6, header->status);
	hf_put_le64(buf + 8, header->request_id);
	hf_put_le32(buf + 16, header->body_size);
	hf_put_le32(buf + 20, header->reserved);
}

enum hf_status hf_frame_header_decode(const uint8_t *buf, struct hf_frame_header *out)
{
	out->magic = hf_get_le16(buf + 0);
	if (out->magic != HF_FRAME_MAGIC)
		return HF_ERR_MALFORMED;
	out->version = buf[2];
	out->opcode = buf[3];
	out->flags = hf_get_le16(buf + 4);
	out->status = hf_get_le16(buf + 6);
	out->request_id = hf_get_le64(buf + 8);
	out->body_size = hf_get_le32(buf + 16);
	out->reserved = hf_get_le32(buf + 20);
	if (out->version != HF_PROTO_VERSION)
		return HF_ERR_VERSION;
	if ((out->flags & ~HF_FLAGS_KNOWN) != 0 || out->reserved != 0)
		return HF_ERR_MALFORMED;
	if (out->body_size > HF_FRAME_BODY_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return HF_OK;
}

/* Writes the header once the body is written, and checks the body size against the limit. */
static size_t wr_finish(struct hf_wr *w, uint8_t *buf, uint8_t opcode, uint16_t flags,
			uint16_t status, uint64_t request_id)
{
	HF_ASSERT(!w->measure);
	if (w->bad)
		return 0;
	size_t frame_size = w->size;
	HF_ASSERT(frame_size == (size_t)(w->p - buf));
	HF_ASSERT(frame_size >= HF_FRAME_HEADER_SIZE);
	size_t body_size = frame_size - HF_FRAME_HEADER_SIZE;
	HF_ASSERT(body_size <= HF_FRAME_BODY_SIZE_MAX);
	struct hf_frame_header h = {
	    .magic = HF_FRAME_MAGIC,
	    .version = HF_PROTO_VERSION,
	    .opcode = opcode,
	    .flags = flags,
	    .status = status,
	    .request_id = request_id,
	    .body_size = (uint32_t)body_size,
	    .reserved = 0,
	};
	hf_frame_header_encode(buf, &h);
	return frame_size;
}

/* ------------------------------------------------------------------------------------------------
 * Request bodies: per opcode a check (the encoder's contract), an encoder and a decoder. A decoder
 * reads its fields and answers the first problem in the order docs/protocol.md section 9 gives:
 * MALFORMED (layout), TOO_LARGE (a count past its limit), INVALID (a zero id or count). The caller
 * then refuses bytes left over and, for routed opcodes, a zero event id. */

static enum hf_status req_check_none(const struct hf_request *req)
{
	(void)req;
	return HF_OK;
}

static void req_encode_empty(struct hf_wr *w, const struct hf_request *req)
{
	(void)w;
	(void)req;
}

static enum hf_status req_decode_empty(struct hf_rd *r, struct hf_request *out)
{
	(void)r;
	(void)out;
	return HF_OK;
}

/* A section's name: 1 .. HF_SECTION_NAME_SIZE_MAX bytes before the NUL. */
static enum hf_status section_name_check(const struct hf_section *sec)
{
	size_t len = strnlen(sec->name, HF_SECTION_NAME_SIZE_MAX + 1);
	if (len > HF_SECTION_NAME_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return len >= 1 ? HF_OK : HF_ERR_INVALID;
}

static enum hf_status req_check_create_event(const struct hf_request *req)
{
	const struct hf_req_create_event *c = &req->create_event;
	if (c->sections_count > HF_EVENT_SECTIONS_MAX || c->user_rate > HF_USER_RATE_MAX ||
	    c->user_burst > HF_USER_RATE_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < c->sections_count; i++) {
		enum hf_status st = section_name_check(&c->sections[i]);
		if (st != HF_OK)
			return st;
	}
	return HF_OK;
}

/* A section on the wire: first, count, row_width, tier, kind, name size, name (CREATE_EVENT and
 * EVENT_SECTIONS). */
static void wr_section(struct hf_wr *w, const struct hf_section *sec)
{
	size_t len = strnlen(sec->name, HF_SECTION_NAME_SIZE_MAX + 1);
	HF_ASSERT(len >= 1);
	HF_ASSERT(len <= HF_SECTION_NAME_SIZE_MAX);
	wr_u32(w, sec->first);
	wr_u32(w, sec->count);
	wr_u32(w, sec->row_width);
	wr_u8(w, sec->tier);
	wr_u8(w, sec->kind);
	wr_u8(w, (uint8_t)len);
	wr_bytes(w, sec->name, len);
}

static enum hf_status rd_section(struct hf_rd *r, struct hf_section *sec)
{
	sec->first = rd_u32(r);
	sec->count = rd_u32(r);
	sec->row_width = rd_u32(r);
	sec->tier = rd_u8(r);
	sec->kind = rd_u8(r);
	uint8_t len = rd_u8(r);
	const uint8_t *name;
	if (r->bad || sec->kind > HF_SECTION_GA)
		return HF_ERR_MALFORMED;
	if (len > HF_SECTION_NAME_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (len == 0 || !rd_take(r, len, &name) || memchr(name, '\0', len) != NULL)
		return HF_ERR_MALFORMED;
	memcpy(sec->name, name, len);
	sec->name[len] = '\0';
	return HF_OK;
}

/* The 24-byte body, then (sections_count > 0 only) a u8 count and the sections. */
static void req_encode_create_event(struct hf_wr *w, const struct hf_request *req)
{
	const struct hf_req_create_event *c = &req->create_event;
	wr_u64(w, c->event_id);
	wr_u32(w, c->seats_count);
	wr_u32(w, c->row_width);
	wr_u32(w, c->user_limit);
	wr_u32(w, c->hold_lifetime_max_s);
	int rate = c->user_rate != 0 || c->user_burst != 0;
	if (c->sections_count == 0 && !rate)
		return;
	wr_u8(w, (uint8_t)c->sections_count);
	for (uint32_t i = 0; i < c->sections_count; i++)
		wr_section(w, &c->sections[i]);
	if (!rate)
		return;
	wr_u32(w, c->user_rate);
	wr_u32(w, c->user_burst);
}

static enum hf_status rd_sections(struct hf_rd *r, struct hf_req_create_event *c)
{
	c->sections_count = rd_u8(r);
	/* No sections: only as the prefix of the rate limit (exactly its 8 bytes follow). */
	if (!r->bad && c->sections_count == 0)
		return r->left == 8u ? HF_OK : HF_ERR_MALFORMED;
	/* Too few bytes for the count is a damaged body before it is a count past the limit. */
	if (r->bad || r->left < (uint64_t)c->sections_count * (HF_SECTION_FIXED_SIZE + 1u))
		return HF_ERR_MALFORMED;
	if (c->sections_count > HF_EVENT_SECTIONS_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < c->sections_count; i++) {
		enum hf_status st = rd_section(r, &c->sections[i]);
		if (st != HF_OK)
			return st;
	}
	return HF_OK;
}

static enum hf_status req_decode_create_event(struct hf_rd *r, struct hf_request *out)
{
	struct hf_req_create_event *c = &out->create_event;
	c->event_id = rd_u64(r);
	c->seats_count = rd_u32(r);
	c->row_width = rd_u32(r);
	c->user_limit = rd_u32(r);
	c->hold_lifetime_max_s = rd_u32(r);
	c->sections_count = 0;
	c->user_rate = 0;
	c->user_burst = 0;
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (r->left > 0) {
		enum hf_status st = rd_sections(r, c);
		if (st != HF_OK)
			return st;
	}
	if (r->left == 8u) {
		/* Version 3: the per-user rate limit after the (maybe empty) section list. An
		 * encoder writes it only for a rate or a burst: both 0 would not re-encode to these
		 * bytes. */
		c->user_rate = rd_u32(r);
		c->user_burst = rd_u32(r);
		if (c->user_rate == 0 && c->user_burst == 0)
			return HF_ERR_MALFORMED;
	}
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (c->seats_count > HF_EVENT_SEATS_MAX || c->user_rate > HF_USER_RATE_MAX ||
	    c->user_burst > HF_USER_RATE_MAX)
		return HF_ERR_TOO_LARGE;
	if (c->user_burst != 0 && c->user_rate == 0)
		return HF_ERR_INVALID;
	if (c->event_id == 0 || c->seats_count == 0 ||
	    c->hold_lifetime_max_s > HF_HOLD_LIFETIME_MAX_S)
		return HF_ERR_INVALID;
	return HF_OK;
}

/* EVENT_INFO's body is the event id alone. */
static void req_encode_event(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->event_info.event_id);
}

static enum hf_status req_decode_event(struct hf_rd *r, struct hf_request *out)
{
	out->event_info.event_id = rd_u64(r);
	return HF_OK;
}

/* The mode, flags and scope of a HOLD fit together: a known mode, known flags, and for EXPLICIT no
 * scope (its seats say where). */
static int hold_mode_valid(uint8_t mode, uint8_t flags, uint16_t scope)
{
	if (mode > HF_HOLD_ANY || (flags & ~HF_HOLD_FLAGS_KNOWN) != 0)
		return 0;
	if (mode == HF_HOLD_EXPLICIT && (scope != 0 || (flags & HF_HOLD_FLAG_TIER) != 0))
		return 0;
	return 1;
}

static enum hf_status req_check_hold(const struct hf_request *req)
{
	if (!hold_mode_valid(req->hold.mode, req->hold.flags, req->hold.scope))
		return HF_ERR_INVALID;
	if (req->hold.seats_count > HF_HOLD_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	return HF_OK;
}

static void req_encode_hold(struct hf_wr *w, const struct hf_request *req)
{
	const struct hf_req_hold *h = &req->hold;
	wr_u64(w, h->event_id);
	wr_u64(w, h->hold_id);
	wr_u64(w, h->user_id);
	wr_u32(w, h->ttl_ms);
	wr_u8(w, h->mode);
	wr_u8(w, h->flags);
	wr_u16(w, h->scope);
	wr_u32(w, h->seats_count);
	if (h->mode == HF_HOLD_EXPLICIT) {
		for (uint32_t i = 0; i < h->seats_count; i++)
			wr_u32(w, h->seats[i]);
	}
	if (h->flags & HF_HOLD_FLAG_TOKEN) {
		wr_u64(w, h->token.expires_ms);
		wr_bytes(w, h->token.mac, HF_ROOM_MAC_SIZE);
	}
}

static enum hf_status req_decode_hold(struct hf_rd *r, struct hf_request *out)
{
	struct hf_req_hold *h = &out->hold;
	h->event_id = rd_u64(r);
	h->hold_id = rd_u64(r);
	h->user_id = rd_u64(r);
	h->ttl_ms = rd_u32(r);
	h->mode = rd_u8(r);
	h->flags = rd_u8(r);
	h->scope = rd_u16(r);
	h->seats_count = rd_u32(r);
	if (r->bad || !hold_mode_valid(h->mode, h->flags, h->scope))
		return HF_ERR_MALFORMED;
	if (h->seats_count > HF_HOLD_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	uint32_t token_size = (h->flags & HF_HOLD_FLAG_TOKEN) ? HF_ROOM_TOKEN_SIZE : 0u;
	if (h->mode == HF_HOLD_EXPLICIT) {
		/* The listed seats (and the token) must be exactly what is left of the body. */
		if (r->left != (uint64_t)h->seats_count * 4u + token_size)
			return HF_ERR_MALFORMED;
		for (uint32_t i = 0; i < h->seats_count; i++)
			h->seats[i] = rd_u32(r);
	}
	if (token_size > 0) {
		const uint8_t *mac;
		h->token.expires_ms = rd_u64(r);
		if (!rd_take(r, HF_ROOM_MAC_SIZE, &mac))
			return HF_ERR_MALFORMED;
		memcpy(h->token.mac, mac, HF_ROOM_MAC_SIZE);
	}
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (h->seats_count == 0 || h->event_id == 0 || h->hold_id == 0 || h->ttl_ms == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

static void req_encode_extend(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->extend.event_id);
	wr_u64(w, req->extend.hold_id);
	wr_u32(w, req->extend.ttl_ms);
}

static enum hf_status req_decode_extend(struct hf_rd *r, struct hf_request *out)
{
	struct hf_req_extend *e = &out->extend;
	e->event_id = rd_u64(r);
	e->hold_id = rd_u64(r);
	e->ttl_ms = rd_u32(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (e->event_id == 0 || e->hold_id == 0 || e->ttl_ms == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

/* CONFIRM, RELEASE and CANCEL share struct hf_req_hold_ref at the same place in the union. */
static void req_encode_hold_ref(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->confirm.event_id);
	wr_u64(w, req->confirm.hold_id);
}

static enum hf_status req_decode_hold_ref(struct hf_rd *r, struct hf_request *out)
{
	out->confirm.event_id = rd_u64(r);
	out->confirm.hold_id = rd_u64(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (out->confirm.event_id == 0 || out->confirm.hold_id == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

static void req_encode_avail(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->avail.event_id);
	wr_u32(w, req->avail.first);
	wr_u32(w, req->avail.count);
}

static enum hf_status req_decode_avail(struct hf_rd *r, struct hf_request *out)
{
	out->avail.event_id = rd_u64(r);
	out->avail.first = rd_u32(r);
	out->avail.count = rd_u32(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (out->avail.count > HF_AVAIL_RANGE_MAX)
		return HF_ERR_TOO_LARGE;
	return HF_OK;
}

static enum hf_status req_check_seat_status(const struct hf_request *req)
{
	return req->seat_status.seats_count <= HF_SEAT_STATUS_SEATS_MAX ? HF_OK : HF_ERR_TOO_LARGE;
}

static void req_encode_seat_status(struct hf_wr *w, const struct hf_request *req)
{
	const struct hf_req_seat_status *s = &req->seat_status;
	wr_u64(w, s->event_id);
	wr_u32(w, s->seats_count);
	for (uint32_t i = 0; i < s->seats_count; i++)
		wr_u32(w, s->seats[i]);
}

static enum hf_status req_decode_seat_status(struct hf_rd *r, struct hf_request *out)
{
	struct hf_req_seat_status *s = &out->seat_status;
	s->event_id = rd_u64(r);
	s->seats_count = rd_u32(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (s->seats_count > HF_SEAT_STATUS_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	if (r->left != (uint64_t)s->seats_count * 4u)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < s->seats_count; i++)
		s->seats[i] = rd_u32(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (s->seats_count == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

static enum hf_status req_check_backup(const struct hf_request *req)
{
	size_t len = strnlen(req->backup.path, HF_PATH_SIZE_MAX + 1);
	if (len > HF_PATH_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return len >= 1 ? HF_OK : HF_ERR_INVALID;
}

static void req_encode_backup(struct hf_wr *w, const struct hf_request *req)
{
	size_t len = strnlen(req->backup.path, HF_PATH_SIZE_MAX + 1);
	wr_u16(w, (uint16_t)len);
	wr_bytes(w, req->backup.path, len);
}

static enum hf_status req_decode_backup(struct hf_rd *r, struct hf_request *out)
{
	uint16_t len = rd_u16(r);
	const uint8_t *path;
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (len > HF_PATH_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (len == 0 || r->left != len || !rd_take(r, len, &path))
		return HF_ERR_MALFORMED;
	if (memchr(path, '\0', len) != NULL)
		return HF_ERR_MALFORMED;
	memcpy(out->backup.path, path, len);
	out->backup.path[len] = '\0';
	if (path[0] != '/')
		return HF_ERR_INVALID;
	return HF_OK;
}

static enum hf_status req_check_user_records(const struct hf_request *req)
{
	return req->user_holds.limit <= HF_USER_RECORDS_PAGE_MAX ? HF_OK : HF_ERR_TOO_LARGE;
}

/* USER_HOLDS and USER_BOOKINGS share struct hf_req_user_records at the same place in the union. */
static void req_encode_user_records(struct hf_wr *w, const struct hf_request *req)
{
	const struct hf_req_user_records *u = &req->user_holds;
	wr_u64(w, u->event_id);
	wr_u64(w, u->user_id);
	wr_u64(w, u->cursor_seq);
	wr_u64(w, u->cursor_id);
	wr_u32(w, u->limit);
}

static enum hf_status req_decode_user_records(struct hf_rd *r, struct hf_request *out)
{
	struct hf_req_user_records *u = &out->user_holds;
	u->event_id = rd_u64(r);
	u->user_id = rd_u64(r);
	u->cursor_seq = rd_u64(r);
	u->cursor_id = rd_u64(r);
	u->limit = rd_u32(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	if (u->limit > HF_USER_RECORDS_PAGE_MAX)
		return HF_ERR_TOO_LARGE;
	if (u->limit == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Reply bodies (HF_OK replies; every other status carries the 8-byte detail). */

static size_t avail_bitmap_size(uint32_t count)
{
	return ((size_t)count + 7u) / 8u;
}

static void rep_encode_empty(struct hf_wr *w, const struct hf_reply *rep)
{
	(void)w;
	(void)rep;
}

static enum hf_status rep_decode_empty(struct hf_rd *r, struct hf_reply *out)
{
	(void)r;
	(void)out;
	return HF_OK;
}

static void rep_encode_ping(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u64(w, rep->ping.epoch);
}

static enum hf_status rep_decode_ping(struct hf_rd *r, struct hf_reply *out)
{
	out->ping.epoch = rd_u64(r);
	return HF_OK;
}

static void rep_encode_event_info(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_event_info *e = &rep->event_info;
	wr_u64(w, e->event_id);
	wr_u32(w, e->seats_count);
	wr_u32(w, e->row_width);
	wr_u32(w, e->user_limit);
	wr_u32(w, e->hold_lifetime_max_s);
	wr_u32(w, e->free_count);
	wr_u32(w, e->held_count);
	wr_u32(w, e->booked_count);
	wr_u32(w, e->holds_count);
	wr_u32(w, e->bookings_count);
	wr_u32(w, 0);
}

static enum hf_status rep_decode_event_info(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_event_info *e = &out->event_info;
	e->event_id = rd_u64(r);
	e->seats_count = rd_u32(r);
	e->row_width = rd_u32(r);
	e->user_limit = rd_u32(r);
	e->hold_lifetime_max_s = rd_u32(r);
	e->free_count = rd_u32(r);
	e->held_count = rd_u32(r);
	e->booked_count = rd_u32(r);
	e->holds_count = rd_u32(r);
	e->bookings_count = rd_u32(r);
	if (rd_u32(r) != 0)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

/* A hold-shaped body: HOLD with a deadline, CONFIRM without. */
static void wr_hold(struct hf_wr *w, const struct hf_rep_hold *h, int with_deadline)
{
	HF_ASSERT(h->seats_count >= 1);
	HF_ASSERT(h->seats_count <= HF_HOLD_SEATS_MAX);
	wr_u64(w, h->hold_id);
	if (with_deadline)
		wr_u64(w, h->deadline_ms);
	wr_u32(w, h->seats_count);
	for (uint32_t i = 0; i < h->seats_count; i++)
		wr_u32(w, h->seats[i]);
}

static enum hf_status rd_hold(struct hf_rd *r, struct hf_rep_hold *h, int with_deadline)
{
	h->hold_id = rd_u64(r);
	h->deadline_ms = with_deadline ? rd_u64(r) : 0;
	h->seats_count = rd_u32(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (h->seats_count > HF_HOLD_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	if (h->seats_count == 0 || r->left != (uint64_t)h->seats_count * 4u)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < h->seats_count; i++)
		h->seats[i] = rd_u32(r);
	return HF_OK;
}

static void rep_encode_hold(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_hold(w, &rep->hold, 1);
}

static enum hf_status rep_decode_hold(struct hf_rd *r, struct hf_reply *out)
{
	return rd_hold(r, &out->hold, 1);
}

static void rep_encode_confirm(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_hold(w, &rep->confirm, 0);
}

static enum hf_status rep_decode_confirm(struct hf_rd *r, struct hf_reply *out)
{
	return rd_hold(r, &out->confirm, 0);
}

static void rep_encode_extend(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u64(w, rep->extend.deadline_ms);
}

static enum hf_status rep_decode_extend(struct hf_rd *r, struct hf_reply *out)
{
	out->extend.deadline_ms = rd_u64(r);
	return HF_OK;
}

static void rep_encode_watch(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u64(w, rep->watch.seq);
}

static enum hf_status rep_decode_watch(struct hf_rd *r, struct hf_reply *out)
{
	out->watch.seq = rd_u64(r);
	return HF_OK;
}

static void rep_encode_backup(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u64(w, rep->backup.sequence);
}

static enum hf_status rep_decode_backup(struct hf_rd *r, struct hf_reply *out)
{
	out->backup.sequence = rd_u64(r);
	return HF_OK;
}

static void rep_encode_avail(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_avail *a = &rep->avail;
	HF_ASSERT(a->count <= HF_AVAIL_RANGE_MAX);
	HF_ASSERT(a->count == 0 || a->bitmap != NULL);
	wr_u32(w, a->seats_count);
	wr_u32(w, a->free_count);
	wr_u32(w, a->first);
	wr_u32(w, a->count);
	size_t n = avail_bitmap_size(a->count);
	uint8_t *at = wr_take(w, n);
	if (at && n > 0) {
		memcpy(at, a->bitmap, n);
		/* Bits past count in the last byte are zero on the wire. */
		if (a->count % 8 != 0)
			at[n - 1] &= (uint8_t)((1u << (a->count % 8)) - 1u);
	}
}

static enum hf_status rep_decode_avail(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_avail *a = &out->avail;
	a->seats_count = rd_u32(r);
	a->free_count = rd_u32(r);
	a->first = rd_u32(r);
	a->count = rd_u32(r);
	a->bitmap = NULL;
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (a->count > HF_AVAIL_RANGE_MAX)
		return HF_ERR_TOO_LARGE;
	size_t n = avail_bitmap_size(a->count);
	if (r->left != n)
		return HF_ERR_MALFORMED;
	if (n > 0 && !rd_take(r, (uint32_t)n, &a->bitmap))
		return HF_ERR_MALFORMED;
	/* Bits past count in the last byte are zero on the wire (the encoder clears them), so that
	 * a decoded reply re-encodes to the same bytes. */
	if (a->count % 8 != 0 && (a->bitmap[n - 1] >> (a->count % 8)) != 0)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

/* SEAT_STATUS entries, and SEAT_INFO's with the owner's user id after them. */
static void wr_seats(struct hf_wr *w, const struct hf_rep_seat_status *s, int with_user)
{
	HF_ASSERT(s->seats_count <= HF_SEAT_STATUS_SEATS_MAX);
	wr_u32(w, s->seats_count);
	for (uint32_t i = 0; i < s->seats_count; i++) {
		HF_ASSERT(s->seats[i].state <= HF_SEAT_BOOKED);
		wr_u32(w, s->seats[i].seat);
		wr_u8(w, s->seats[i].state);
		wr_u8(w, 0);
		wr_u8(w, 0);
		wr_u8(w, 0);
		wr_u64(w, s->seats[i].owner_id);
		if (with_user)
			wr_u64(w, s->seats[i].user_id);
	}
}

static enum hf_status rd_seats(struct hf_rd *r, struct hf_rep_seat_status *s, int with_user)
{
	uint32_t entry_size = with_user ? HF_REP_SEAT_INFO_ENTRY_SIZE : HF_REP_SEAT_ENTRY_SIZE;
	s->seats_count = rd_u32(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (s->seats_count > HF_SEAT_STATUS_SEATS_MAX)
		return HF_ERR_TOO_LARGE;
	if (r->left != (uint64_t)s->seats_count * entry_size)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < s->seats_count; i++) {
		s->seats[i].seat = rd_u32(r);
		s->seats[i].state = rd_u8(r);
		uint8_t reserved = (uint8_t)(rd_u8(r) | rd_u8(r) | rd_u8(r));
		s->seats[i].owner_id = rd_u64(r);
		s->seats[i].user_id = with_user ? rd_u64(r) : 0;
		if (s->seats[i].state > HF_SEAT_BOOKED || reserved != 0)
			return HF_ERR_MALFORMED;
	}
	return HF_OK;
}

static void rep_encode_seat_status(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_seats(w, &rep->seat_status, 0);
}

static enum hf_status rep_decode_seat_status(struct hf_rd *r, struct hf_reply *out)
{
	return rd_seats(r, &out->seat_status, 0);
}

static void rep_encode_seat_info(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_seats(w, &rep->seat_info, 1);
}

static enum hf_status rep_decode_seat_info(struct hf_rd *r, struct hf_reply *out)
{
	return rd_seats(r, &out->seat_info, 1);
}

/* USER_HOLDS and USER_BOOKINGS share struct hf_rep_user_records at the same place in the union. */
static void rep_encode_user_records(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_user_records *u = &rep->user_holds;
	HF_ASSERT(u->records_count <= HF_USER_RECORDS_PAGE_MAX);
	wr_u64(w, u->next_seq);
	wr_u64(w, u->next_id);
	wr_u32(w, u->records_count);
	for (uint32_t i = 0; i < u->records_count; i++) {
		const struct hf_user_record *rec = &u->records[i];
		HF_ASSERT(rec->seats_count >= 1);
		HF_ASSERT(rec->seats_count <= HF_HOLD_SEATS_MAX);
		wr_u64(w, rec->id);
		wr_u64(w, rec->created_ms);
		wr_u64(w, rec->deadline_ms);
		wr_u32(w, rec->seats_count);
		for (uint32_t k = 0; k < rec->seats_count; k++)
			wr_u32(w, rec->seats[k]);
	}
}

static enum hf_status rep_decode_user_records(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_user_records *u = &out->user_holds;
	u->next_seq = rd_u64(r);
	u->next_id = rd_u64(r);
	u->records_count = rd_u32(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (u->records_count > HF_USER_RECORDS_PAGE_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < u->records_count; i++) {
		struct hf_user_record *rec = &u->records[i];
		rec->id = rd_u64(r);
		rec->created_ms = rd_u64(r);
		rec->deadline_ms = rd_u64(r);
		rec->seats_count = rd_u32(r);
		if (r->bad)
			return HF_ERR_MALFORMED;
		if (rec->seats_count > HF_HOLD_SEATS_MAX)
			return HF_ERR_TOO_LARGE;
		if (rec->seats_count == 0 || r->left < (uint64_t)rec->seats_count * 4u)
			return HF_ERR_MALFORMED;
		for (uint32_t k = 0; k < rec->seats_count; k++)
			rec->seats[k] = rd_u32(r);
	}
	return HF_OK;
}

static void rep_encode_event_sections(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_event_sections *e = &rep->event_sections;
	HF_ASSERT(e->sections_count <= HF_EVENT_SECTIONS_MAX);
	HF_ASSERT(e->tiers_count <= e->sections_count);
	wr_u16(w, e->sections_count);
	wr_u16(w, e->tiers_count);
	for (uint32_t i = 0; i < e->sections_count; i++) {
		wr_section(w, &e->sections[i].section);
		wr_u32(w, e->sections[i].free_count);
	}
	for (uint32_t i = 0; i < e->tiers_count; i++) {
		wr_u16(w, e->tiers[i].tier);
		wr_u16(w, 0);
		wr_u32(w, e->tiers[i].seats_count);
		wr_u32(w, e->tiers[i].free_count);
	}
}

static enum hf_status rep_decode_event_sections(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_event_sections *e = &out->event_sections;
	e->sections_count = rd_u16(r);
	e->tiers_count = rd_u16(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (e->sections_count > HF_EVENT_SECTIONS_MAX)
		return HF_ERR_TOO_LARGE;
	if (e->tiers_count > e->sections_count)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < e->sections_count; i++) {
		enum hf_status st = rd_section(r, &e->sections[i].section);
		if (st != HF_OK)
			return st;
		e->sections[i].free_count = rd_u32(r);
	}
	for (uint32_t i = 0; i < e->tiers_count; i++) {
		e->tiers[i].tier = rd_u16(r);
		uint16_t reserved = rd_u16(r);
		e->tiers[i].seats_count = rd_u32(r);
		e->tiers[i].free_count = rd_u32(r);
		if (reserved != 0)
			return HF_ERR_MALFORMED;
	}
	return r->bad ? HF_ERR_MALFORMED : HF_OK;
}

static void rep_encode_slot_map(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_slot_map *m = &rep->slot_map;
	HF_ASSERT(m->owners_count >= 1);
	HF_ASSERT(m->owners_count <= HF_SLOT_OWNERS_MAX);
	wr_u64(w, m->epoch);
	wr_u16(w, m->owners_count);
	wr_u16(w, (uint16_t)HF_SLOTS_COUNT);
	for (uint32_t i = 0; i < m->owners_count; i++) {
		size_t len = strnlen(m->owners[i].host, HF_HOST_SIZE_MAX + 1);
		HF_ASSERT(len >= 1);
		HF_ASSERT(len <= HF_HOST_SIZE_MAX);
		wr_u16(w, m->owners[i].port);
		wr_u8(w, (uint8_t)len);
		wr_bytes(w, m->owners[i].host, len);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		HF_ASSERT(m->slot_owner[s] < m->owners_count);
		wr_u16(w, m->slot_owner[s]);
	}
}

static enum hf_status rep_decode_slot_map(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_slot_map *m = &out->slot_map;
	m->epoch = rd_u64(r);
	m->owners_count = rd_u16(r);
	uint16_t slots_count = rd_u16(r);
	if (r->bad || slots_count != HF_SLOTS_COUNT || m->owners_count == 0)
		return HF_ERR_MALFORMED;
	if (m->owners_count > HF_SLOT_OWNERS_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < m->owners_count; i++) {
		m->owners[i].port = rd_u16(r);
		uint8_t len = rd_u8(r);
		const uint8_t *host;
		if (len > HF_HOST_SIZE_MAX)
			return HF_ERR_TOO_LARGE;
		if (len == 0 || !rd_take(r, len, &host))
			return HF_ERR_MALFORMED;
		memcpy(m->owners[i].host, host, len);
		m->owners[i].host[len] = '\0';
		if (memchr(host, '\0', len) != NULL)
			return HF_ERR_MALFORMED;
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		m->slot_owner[s] = rd_u16(r);
		if (!r->bad && m->slot_owner[s] >= m->owners_count)
			return HF_ERR_MALFORMED;
	}
	return HF_OK;
}

static void rep_encode_stats(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_stats *st = &rep->stats;
	HF_ASSERT(st->stats_count <= HF_STATS_MAX);
	wr_u16(w, st->stats_count);
	for (uint32_t i = 0; i < st->stats_count; i++) {
		size_t len = strnlen(st->stats[i].name, HF_STAT_NAME_SIZE_MAX + 1);
		HF_ASSERT(len >= 1);
		HF_ASSERT(len <= HF_STAT_NAME_SIZE_MAX);
		wr_u8(w, (uint8_t)len);
		wr_bytes(w, st->stats[i].name, len);
		wr_u64(w, st->stats[i].value);
	}
}

static enum hf_status rep_decode_stats(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_stats *st = &out->stats;
	st->stats_count = rd_u16(r);
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (st->stats_count > HF_STATS_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < st->stats_count; i++) {
		uint8_t len = rd_u8(r);
		const uint8_t *name;
		if (len > HF_STAT_NAME_SIZE_MAX)
			return HF_ERR_TOO_LARGE;
		if (len == 0 || !rd_take(r, len, &name))
			return HF_ERR_MALFORMED;
		if (memchr(name, '\0', len) != NULL)
			return HF_ERR_MALFORMED;
		memcpy(st->stats[i].name, name, len);
		st->stats[i].name[len] = '\0';
		st->stats[i].value = rd_u64(r);
	}
	return HF_OK;
}

/* ------------------------------------------------------------------------------------------------
 * The table. One row per opcode, indexed by opcode; a row without a name is an unknown opcode. */

#define HOLD_SEATS_BYTES_MAX (4u * HF_HOLD_SEATS_MAX)
#define SLOT_OWNER_SIZE_MAX  (HF_REP_SLOT_OWNER_FIXED_SIZE + HF_HOST_SIZE_MAX)
#define STAT_SIZE_MAX	     (HF_REP_STAT_FIXED_SIZE + HF_STAT_NAME_SIZE_MAX)

#define SECTION_SIZE_MAX       (HF_SECTION_FIXED_SIZE + HF_SECTION_NAME_SIZE_MAX)
#define SECTION_AVAIL_SIZE_MAX (HF_REP_SECTION_AVAIL_FIXED_SIZE + HF_SECTION_NAME_SIZE_MAX)
#define USER_RECORD_SIZE_MAX   (HF_REP_USER_RECORD_FIXED_SIZE + HOLD_SEATS_BYTES_MAX)

/* Routed opcodes' bodies open with the event id, so hf_request_event_id reads it through any of
 * them (the union's common initial sequence). */
HF_STATIC_ASSERT(offsetof(struct hf_req_create_event, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_event, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_hold, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_extend, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_hold_ref, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_avail, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_seat_status, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_user_records, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_join, event_id) == 0, "event id first");
HF_STATIC_ASSERT(offsetof(struct hf_req_room_set, event_id) == 0, "event id first");

/* A shard-level opcode with an empty request body. */
#define OP_SHARD_EMPTY                                                                             \
	.request_check = req_check_none, .request_encode = req_encode_empty,                       \
	.request_decode = req_decode_empty

static enum hf_status req_check_auth(const struct hf_request *req)
{
	if (req->auth.token_size > HF_AUTH_TOKEN_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return req->auth.token_size >= 1 ? HF_OK : HF_ERR_INVALID;
}

static void req_encode_auth(struct hf_wr *w, const struct hf_request *req)
{
	wr_u16(w, req->auth.token_size);
	wr_bytes(w, req->auth.token, req->auth.token_size);
}

static enum hf_status req_decode_auth(struct hf_rd *r, struct hf_request *out)
{
	uint16_t len = rd_u16(r);
	const uint8_t *token;
	if (r->bad)
		return HF_ERR_MALFORMED;
	if (len > HF_AUTH_TOKEN_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (len == 0 || r->left != len || !rd_take(r, len, &token))
		return HF_ERR_MALFORMED;
	out->auth.token_size = len;
	memcpy(out->auth.token, token, len);
	return HF_OK;
}

static void rep_encode_auth(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u8(w, rep->auth.role);
	for (int i = 0; i < 7; i++)
		wr_u8(w, 0);
}

static enum hf_status rep_decode_auth(struct hf_rd *r, struct hf_reply *out)
{
	out->auth.role = rd_u8(r);
	uint8_t reserved = 0;
	for (int i = 0; i < 7; i++)
		reserved |= rd_u8(r);
	if (reserved != 0)
		return HF_ERR_MALFORMED;
	if (out->auth.role != HF_ROLE_CLIENT && out->auth.role != HF_ROLE_ADMIN)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

/* ---- Waiting room: JOIN, POSITION, ROOM_SET, ROOM_INFO ---- */

static void req_encode_join(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->join.event_id);
	wr_u64(w, req->join.user_id);
}

static enum hf_status req_decode_join(struct hf_rd *r, struct hf_request *out)
{
	out->join.event_id = rd_u64(r);
	out->join.user_id = rd_u64(r);
	return HF_OK;
}

static enum hf_status req_check_room_set(const struct hf_request *req)
{
	const struct hf_room_params *p = &req->room_set.params;
	if (p->queue_max > HF_ROOM_QUEUE_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return p->enabled <= 1u && p->policy <= HF_ROOM_DROP ? HF_OK : HF_ERR_INVALID;
}

static void req_encode_room_set(struct hf_wr *w, const struct hf_request *req)
{
	const struct hf_room_params *p = &req->room_set.params;
	wr_u64(w, req->room_set.event_id);
	wr_u8(w, p->enabled);
	wr_u8(w, p->policy);
	wr_u16(w, p->shoppers_pct);
	wr_u32(w, p->admit_ttl_ms);
	wr_u32(w, p->queue_max);
}

static enum hf_status req_decode_room_set(struct hf_rd *r, struct hf_request *out)
{
	struct hf_room_params *p = &out->room_set.params;
	out->room_set.event_id = rd_u64(r);
	p->enabled = rd_u8(r);
	p->policy = rd_u8(r);
	p->shoppers_pct = rd_u16(r);
	p->admit_ttl_ms = rd_u32(r);
	p->queue_max = rd_u32(r);
	memset(out->room_set.key, 0, sizeof(out->room_set.key));
	if (r->bad || p->enabled > 1u || p->policy > HF_ROOM_DROP)
		return HF_ERR_MALFORMED;
	if (p->queue_max > HF_ROOM_QUEUE_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (p->queue_max == 0 || p->shoppers_pct == 0 ||
	    p->shoppers_pct > HF_ROOM_SHOPPERS_PCT_MAX ||
	    p->admit_ttl_ms < HF_ROOM_ADMIT_TTL_MS_MIN ||
	    p->admit_ttl_ms > HF_ROOM_ADMIT_TTL_MS_MAX)
		return HF_ERR_INVALID;
	return HF_OK;
}

/* ---- Slot moves and event delete ---- */

static enum hf_status req_check_event_delete(const struct hf_request *req)
{
	return (req->event_delete.flags & ~HF_EVENT_DELETE_FLAGS_KNOWN) == 0 ? HF_OK
									     : HF_ERR_INVALID;
}

static void req_encode_event_delete(struct hf_wr *w, const struct hf_request *req)
{
	wr_u64(w, req->event_delete.event_id);
	wr_u32(w, req->event_delete.flags);
	wr_u32(w, 0);
}

static enum hf_status req_decode_event_delete(struct hf_rd *r, struct hf_request *out)
{
	out->event_delete.event_id = rd_u64(r);
	out->event_delete.flags = rd_u32(r);
	uint32_t reserved = rd_u32(r);
	if (!rd_done(r) || reserved != 0)
		return HF_ERR_MALFORMED;
	if ((out->event_delete.flags & ~HF_EVENT_DELETE_FLAGS_KNOWN) != 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

static enum hf_status req_check_move_slot(const struct hf_request *req)
{
	return req->move.slot < HF_SLOTS_COUNT ? HF_OK : HF_ERR_INVALID;
}

static void req_encode_move_slot(struct hf_wr *w, const struct hf_request *req)
{
	wr_u16(w, req->move.slot);
	wr_u16(w, 0);
	wr_u32(w, 0);
}

/* The slot and 6 reserved zero bytes (every MOVE_* body starts so). */
static enum hf_status rd_move_slot(struct hf_rd *r, struct hf_request *out)
{
	memset(&out->move, 0, sizeof(out->move));
	out->move.slot = rd_u16(r);
	uint16_t reserved16 = rd_u16(r);
	uint32_t reserved32 = rd_u32(r);
	if (r->bad || reserved16 != 0 || reserved32 != 0)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

static enum hf_status req_decode_move_slot(struct hf_rd *r, struct hf_request *out)
{
	enum hf_status st = rd_move_slot(r, out);
	if (st != HF_OK || !rd_done(r))
		return HF_ERR_MALFORMED;
	return out->move.slot < HF_SLOTS_COUNT ? HF_OK : HF_ERR_INVALID;
}

static enum hf_status req_check_move_copy(const struct hf_request *req)
{
	size_t len = strnlen(req->move.host, HF_HOST_SIZE_MAX + 1);
	if (len > HF_HOST_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (len == 0 || req->move.port == 0 || req->move.slot >= HF_SLOTS_COUNT)
		return HF_ERR_INVALID;
	return HF_OK;
}

static void rep_encode_room_position(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_room_position *p = &rep->join;
	wr_u8(w, p->state);
	for (int i = 0; i < 3; i++)
		wr_u8(w, 0);
	wr_u32(w, p->position);
	wr_u32(w, p->waiting_count);
	wr_u32(w, p->estimate_ms);
	wr_u64(w, p->token.expires_ms);
	wr_bytes(w, p->token.mac, HF_ROOM_MAC_SIZE);
}

static enum hf_status rep_decode_room_position(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_room_position *p = &out->join;
	p->state = rd_u8(r);
	uint8_t reserved = 0;
	for (int i = 0; i < 3; i++)
		reserved |= rd_u8(r);
	p->position = rd_u32(r);
	p->waiting_count = rd_u32(r);
	p->estimate_ms = rd_u32(r);
	p->token.expires_ms = rd_u64(r);
	const uint8_t *mac;
	if (!rd_take(r, HF_ROOM_MAC_SIZE, &mac) || reserved != 0)
		return HF_ERR_MALFORMED;
	memcpy(p->token.mac, mac, HF_ROOM_MAC_SIZE);
	if (p->state != HF_ROOM_WAITING && p->state != HF_ROOM_ADMITTED)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

static void rep_encode_room_info(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_room_info *i = &rep->room_info;
	wr_u8(w, i->params.enabled);
	wr_u8(w, i->params.policy);
	wr_u16(w, i->params.shoppers_pct);
	wr_u32(w, i->params.admit_ttl_ms);
	wr_u32(w, i->params.queue_max);
	wr_u32(w, i->waiting_count);
	wr_u32(w, i->admitted_count);
	wr_u32(w, i->holding_count);
	wr_u32(w, i->free_count);
	wr_u8(w, i->sold_out);
	for (int k = 0; k < 3; k++)
		wr_u8(w, 0);
	wr_u32(w, i->rate_per_min);
	wr_u32(w, i->estimate_ms);
	wr_u64(w, i->joins);
	wr_u64(w, i->admits);
	wr_u64(w, i->expired);
	wr_u64(w, i->refused);
}

static enum hf_status rep_decode_room_info(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_room_info *i = &out->room_info;
	i->params.enabled = rd_u8(r);
	i->params.policy = rd_u8(r);
	i->params.shoppers_pct = rd_u16(r);
	i->params.admit_ttl_ms = rd_u32(r);
	i->params.queue_max = rd_u32(r);
	i->waiting_count = rd_u32(r);
	i->admitted_count = rd_u32(r);
	i->holding_count = rd_u32(r);
	i->free_count = rd_u32(r);
	i->sold_out = rd_u8(r);
	uint8_t reserved = 0;
	for (int k = 0; k < 3; k++)
		reserved |= rd_u8(r);
	i->rate_per_min = rd_u32(r);
	i->estimate_ms = rd_u32(r);
	i->joins = rd_u64(r);
	i->admits = rd_u64(r);
	i->expired = rd_u64(r);
	i->refused = rd_u64(r);
	if (reserved != 0 || i->sold_out > 1u)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

static void req_encode_move_copy(struct hf_wr *w, const struct hf_request *req)
{
	size_t len = strnlen(req->move.host, HF_HOST_SIZE_MAX + 1);
	wr_u16(w, req->move.slot);
	wr_u16(w, req->move.port);
	wr_u8(w, (uint8_t)len);
	wr_u8(w, 0);
	wr_u16(w, 0);
	wr_bytes(w, req->move.host, len);
}

static enum hf_status req_decode_move_copy(struct hf_rd *r, struct hf_request *out)
{
	memset(&out->move, 0, sizeof(out->move));
	out->move.slot = rd_u16(r);
	out->move.port = rd_u16(r);
	uint8_t len = rd_u8(r);
	uint8_t reserved8 = rd_u8(r);
	uint16_t reserved16 = rd_u16(r);
	const uint8_t *host;
	if (r->bad || reserved8 != 0 || reserved16 != 0)
		return HF_ERR_MALFORMED;
	if (len > HF_HOST_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (len == 0 || r->left != len || !rd_take(r, len, &host) ||
	    memchr(host, '\0', len) != NULL)
		return HF_ERR_MALFORMED;
	memcpy(out->move.host, host, len);
	out->move.host[len] = '\0';
	if (out->move.slot >= HF_SLOTS_COUNT || out->move.port == 0)
		return HF_ERR_INVALID;
	return HF_OK;
}

static void req_encode_move_export(struct hf_wr *w, const struct hf_request *req)
{
	req_encode_move_slot(w, req);
	wr_u64(w, req->move.cursor);
	wr_u64(w, req->move.log_offset);
}

static enum hf_status req_decode_move_export(struct hf_rd *r, struct hf_request *out)
{
	if (rd_move_slot(r, out) != HF_OK)
		return HF_ERR_MALFORMED;
	out->move.cursor = rd_u64(r);
	out->move.log_offset = rd_u64(r);
	if (!rd_done(r))
		return HF_ERR_MALFORMED;
	return out->move.slot < HF_SLOTS_COUNT ? HF_OK : HF_ERR_INVALID;
}

static void rep_encode_move(struct hf_wr *w, const struct hf_reply *rep)
{
	wr_u8(w, rep->move.state);
	for (int i = 0; i < 7; i++)
		wr_u8(w, 0);
	wr_u64(w, rep->move.records);
	wr_u64(w, rep->move.bytes);
	wr_u64(w, rep->move.seats);
}

static enum hf_status rep_decode_move(struct hf_rd *r, struct hf_reply *out)
{
	out->move.state = rd_u8(r);
	uint8_t reserved = 0;
	for (int i = 0; i < 7; i++)
		reserved |= rd_u8(r);
	out->move.records = rd_u64(r);
	out->move.bytes = rd_u64(r);
	out->move.seats = rd_u64(r);
	if (r->bad || reserved != 0 || out->move.state > HF_MOVE_STATE_FROZEN)
		return HF_ERR_MALFORMED;
	return HF_OK;
}

static void rep_encode_move_export(struct hf_wr *w, const struct hf_reply *rep)
{
	const struct hf_rep_move_export *e = &rep->move_export;
	HF_ASSERT(e->data_size <= HF_MOVE_CHUNK_SIZE_MAX);
	HF_ASSERT(e->data_size == 0 || e->data != NULL);
	wr_u64(w, e->cursor);
	wr_u64(w, e->log_offset);
	wr_u32(w, e->flags);
	wr_u32(w, e->records_count);
	wr_u32(w, e->data_size);
	wr_u32(w, 0);
	wr_bytes(w, e->data, e->data_size);
}

static enum hf_status rep_decode_move_export(struct hf_rd *r, struct hf_reply *out)
{
	struct hf_rep_move_export *e = &out->move_export;
	e->cursor = rd_u64(r);
	e->log_offset = rd_u64(r);
	e->flags = rd_u32(r);
	e->records_count = rd_u32(r);
	e->data_size = rd_u32(r);
	uint32_t reserved = rd_u32(r);
	e->data = NULL;
	if (r->bad || reserved != 0 || (e->flags & ~HF_MOVE_EXPORT_FLAGS_KNOWN) != 0)
		return HF_ERR_MALFORMED;
	if (e->data_size > HF_MOVE_CHUNK_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	if (r->left != e->data_size)
		return HF_ERR_MALFORMED;
	if (e->data_size > 0 && !rd_take(r, e->data_size, &e->data))
		return HF_ERR_MALFORMED;
	return HF_OK;
}

/* A MOVE_* row whose request is the slot alone and whose reply is struct hf_rep_move. */
#define OP_MOVE_SLOT(op, text)                                                                     \
	[op] = {.opcode = op,                                                                      \
		.name = text,                                                                      \
		.admin = 1,                                                                        \
		.request_body_size_min = HF_REQ_MOVE_SLOT_BODY_SIZE,                               \
		.request_body_size_max = HF_REQ_MOVE_SLOT_BODY_SIZE,                               \
		.reply_body_size_min = HF_REP_MOVE_BODY_SIZE,                                      \
		.reply_body_size_max = HF_REP_MOVE_BODY_SIZE,                                      \
		.request_check = req_check_move_slot,                                              \
		.request_encode = req_encode_move_slot,                                            \
		.request_decode = req_decode_move_slot,                                            \
		.reply_encode = rep_encode_move,                                                   \
		.reply_decode = rep_decode_move}

static const struct hf_op_info op_table[256] = {
    [HF_OP_PING] = {.opcode = HF_OP_PING,
		    .name = "PING",
		    OP_SHARD_EMPTY,
		    .reply_body_size_min = HF_REP_PING_BODY_SIZE,
		    .reply_body_size_max = HF_REP_PING_BODY_SIZE,
		    .reply_encode = rep_encode_ping,
		    .reply_decode = rep_decode_ping},
    [HF_OP_EVENT_SECTIONS] = {.opcode = HF_OP_EVENT_SECTIONS,
			      .name = "EVENT_SECTIONS",
			      .routed = 1,
			      .request_body_size_min = HF_REQ_EVENT_BODY_SIZE,
			      .request_body_size_max = HF_REQ_EVENT_BODY_SIZE,
			      .reply_body_size_min = HF_REP_EVENT_SECTIONS_FIXED_SIZE,
			      .reply_body_size_max =
				  HF_REP_EVENT_SECTIONS_FIXED_SIZE +
				  SECTION_AVAIL_SIZE_MAX * HF_EVENT_SECTIONS_MAX +
				  HF_REP_TIER_AVAIL_SIZE * HF_EVENT_SECTIONS_MAX,
			      .request_check = req_check_none,
			      .request_encode = req_encode_event,
			      .request_decode = req_decode_event,
			      .reply_encode = rep_encode_event_sections,
			      .reply_decode = rep_decode_event_sections},
    [HF_OP_CREATE_EVENT] = {.opcode = HF_OP_CREATE_EVENT,
			    .name = "CREATE_EVENT",
			    .writes = 1,
			    .routed = 1,
			    .request_body_size_min = HF_REQ_CREATE_EVENT_BODY_SIZE,
			    .request_body_size_max = HF_REQ_CREATE_EVENT_BODY_SIZE + 1u +
						     SECTION_SIZE_MAX * HF_EVENT_SECTIONS_MAX +
						     8u, /* the rate limit */
			    .request_check = req_check_create_event,
			    .request_encode = req_encode_create_event,
			    .request_decode = req_decode_create_event,
			    .reply_encode = rep_encode_empty,
			    .reply_decode = rep_decode_empty},
    [HF_OP_EVENT_INFO] = {.opcode = HF_OP_EVENT_INFO,
			  .name = "EVENT_INFO",
			  .routed = 1,
			  .request_body_size_min = HF_REQ_EVENT_BODY_SIZE,
			  .request_body_size_max = HF_REQ_EVENT_BODY_SIZE,
			  .reply_body_size_min = HF_REP_EVENT_INFO_BODY_SIZE,
			  .reply_body_size_max = HF_REP_EVENT_INFO_BODY_SIZE,
			  .request_check = req_check_none,
			  .request_encode = req_encode_event,
			  .request_decode = req_decode_event,
			  .reply_encode = rep_encode_event_info,
			  .reply_decode = rep_decode_event_info},
    [HF_OP_HOLD] = {.opcode = HF_OP_HOLD,
		    .name = "HOLD",
		    .writes = 1,
		    .routed = 1,
		    .request_body_size_min = HF_REQ_HOLD_FIXED_SIZE,
		    .request_body_size_max =
			HF_REQ_HOLD_FIXED_SIZE + HOLD_SEATS_BYTES_MAX + HF_ROOM_TOKEN_SIZE,
		    .reply_body_size_min = HF_REP_HOLD_FIXED_SIZE + 4u,
		    .reply_body_size_max = HF_REP_HOLD_FIXED_SIZE + HOLD_SEATS_BYTES_MAX,
		    .request_check = req_check_hold,
		    .request_encode = req_encode_hold,
		    .request_decode = req_decode_hold,
		    .reply_encode = rep_encode_hold,
		    .reply_decode = rep_decode_hold},
    [HF_OP_EXTEND] = {.opcode = HF_OP_EXTEND,
		      .name = "EXTEND",
		      .writes = 1,
		      .routed = 1,
		      .request_body_size_min = HF_REQ_EXTEND_BODY_SIZE,
		      .request_body_size_max = HF_REQ_EXTEND_BODY_SIZE,
		      .reply_body_size_min = HF_REP_EXTEND_BODY_SIZE,
		      .reply_body_size_max = HF_REP_EXTEND_BODY_SIZE,
		      .request_check = req_check_none,
		      .request_encode = req_encode_extend,
		      .request_decode = req_decode_extend,
		      .reply_encode = rep_encode_extend,
		      .reply_decode = rep_decode_extend},
    [HF_OP_CONFIRM] = {.opcode = HF_OP_CONFIRM,
		       .name = "CONFIRM",
		       .writes = 1,
		       .routed = 1,
		       .request_body_size_min = HF_REQ_HOLD_REF_BODY_SIZE,
		       .request_body_size_max = HF_REQ_HOLD_REF_BODY_SIZE,
		       .reply_body_size_min = HF_REP_CONFIRM_FIXED_SIZE + 4u,
		       .reply_body_size_max = HF_REP_CONFIRM_FIXED_SIZE + HOLD_SEATS_BYTES_MAX,
		       .request_check = req_check_none,
		       .request_encode = req_encode_hold_ref,
		       .request_decode = req_decode_hold_ref,
		       .reply_encode = rep_encode_confirm,
		       .reply_decode = rep_decode_confirm},
    [HF_OP_RELEASE] = {.opcode = HF_OP_RELEASE,
		       .name = "RELEASE",
		       .writes = 1,
		       .routed = 1,
		       .request_body_size_min = HF_REQ_HOLD_REF_BODY_SIZE,
		       .request_body_size_max = HF_REQ_HOLD_REF_BODY_SIZE,
		       .request_check = req_check_none,
		       .request_encode = req_encode_hold_ref,
		       .request_decode = req_decode_hold_ref,
		       .reply_encode = rep_encode_empty,
		       .reply_decode = rep_decode_empty},
    [HF_OP_CANCEL] = {.opcode = HF_OP_CANCEL,
		      .name = "CANCEL",
		      .writes = 1,
		      .routed = 1,
		      .request_body_size_min = HF_REQ_HOLD_REF_BODY_SIZE,
		      .request_body_size_max = HF_REQ_HOLD_REF_BODY_SIZE,
		      .request_check = req_check_none,
		      .request_encode = req_encode_hold_ref,
		      .request_decode = req_decode_hold_ref,
		      .reply_encode = rep_encode_empty,
		      .reply_decode = rep_decode_empty},
    [HF_OP_AVAIL] = {.opcode = HF_OP_AVAIL,
		     .name = "AVAIL",
		     .routed = 1,
		     .request_body_size_min = HF_REQ_AVAIL_BODY_SIZE,
		     .request_body_size_max = HF_REQ_AVAIL_BODY_SIZE,
		     .reply_body_size_min = HF_REP_AVAIL_FIXED_SIZE,
		     .reply_body_size_max = HF_REP_AVAIL_FIXED_SIZE + HF_AVAIL_RANGE_MAX / 8u,
		     .request_check = req_check_none,
		     .request_encode = req_encode_avail,
		     .request_decode = req_decode_avail,
		     .reply_encode = rep_encode_avail,
		     .reply_decode = rep_decode_avail},
    [HF_OP_SEAT_STATUS] = {.opcode = HF_OP_SEAT_STATUS,
			   .name = "SEAT_STATUS",
			   .routed = 1,
			   .request_body_size_min = HF_REQ_SEAT_STATUS_FIXED_SIZE,
			   .request_body_size_max =
			       HF_REQ_SEAT_STATUS_FIXED_SIZE + 4u * HF_SEAT_STATUS_SEATS_MAX,
			   .reply_body_size_min = HF_REP_SEAT_STATUS_FIXED_SIZE,
			   .reply_body_size_max = HF_REP_SEAT_STATUS_FIXED_SIZE +
						  HF_REP_SEAT_ENTRY_SIZE * HF_SEAT_STATUS_SEATS_MAX,
			   .request_check = req_check_seat_status,
			   .request_encode = req_encode_seat_status,
			   .request_decode = req_decode_seat_status,
			   .reply_encode = rep_encode_seat_status,
			   .reply_decode = rep_decode_seat_status},
    [HF_OP_SEAT_INFO] = {.opcode = HF_OP_SEAT_INFO,
			 .name = "SEAT_INFO",
			 .routed = 1,
			 .request_body_size_min = HF_REQ_SEAT_STATUS_FIXED_SIZE,
			 .request_body_size_max =
			     HF_REQ_SEAT_STATUS_FIXED_SIZE + 4u * HF_SEAT_STATUS_SEATS_MAX,
			 .reply_body_size_min = HF_REP_SEAT_STATUS_FIXED_SIZE,
			 .reply_body_size_max =
			     HF_REP_SEAT_STATUS_FIXED_SIZE +
			     HF_REP_SEAT_INFO_ENTRY_SIZE * HF_SEAT_STATUS_SEATS_MAX,
			 .request_check = req_check_seat_status,
			 .request_encode = req_encode_seat_status,
			 .request_decode = req_decode_seat_status,
			 .reply_encode = rep_encode_seat_info,
			 .reply_decode = rep_decode_seat_info},
    [HF_OP_USER_HOLDS] = {.opcode = HF_OP_USER_HOLDS,
			  .name = "USER_HOLDS",
			  .routed = 1,
			  .request_body_size_min = HF_REQ_USER_RECORDS_BODY_SIZE,
			  .request_body_size_max = HF_REQ_USER_RECORDS_BODY_SIZE,
			  .reply_body_size_min = HF_REP_USER_RECORDS_FIXED_SIZE,
			  .reply_body_size_max = HF_REP_USER_RECORDS_FIXED_SIZE +
						 USER_RECORD_SIZE_MAX * HF_USER_RECORDS_PAGE_MAX,
			  .request_check = req_check_user_records,
			  .request_encode = req_encode_user_records,
			  .request_decode = req_decode_user_records,
			  .reply_encode = rep_encode_user_records,
			  .reply_decode = rep_decode_user_records},
    [HF_OP_USER_BOOKINGS] = {.opcode = HF_OP_USER_BOOKINGS,
			     .name = "USER_BOOKINGS",
			     .routed = 1,
			     .request_body_size_min = HF_REQ_USER_RECORDS_BODY_SIZE,
			     .request_body_size_max = HF_REQ_USER_RECORDS_BODY_SIZE,
			     .reply_body_size_min = HF_REP_USER_RECORDS_FIXED_SIZE,
			     .reply_body_size_max = HF_REP_USER_RECORDS_FIXED_SIZE +
						    USER_RECORD_SIZE_MAX * HF_USER_RECORDS_PAGE_MAX,
			     .request_check = req_check_user_records,
			     .request_encode = req_encode_user_records,
			     .request_decode = req_decode_user_records,
			     .reply_encode = rep_encode_user_records,
			     .reply_decode = rep_decode_user_records},
    [HF_OP_WATCH] = {.opcode = HF_OP_WATCH,
		     .name = "WATCH",
		     .routed = 1,
		     .request_body_size_min = HF_REQ_EVENT_BODY_SIZE,
		     .request_body_size_max = HF_REQ_EVENT_BODY_SIZE,
		     .reply_body_size_min = HF_REP_WATCH_BODY_SIZE,
		     .reply_body_size_max = HF_REP_WATCH_BODY_SIZE,
		     .request_check = req_check_none,
		     .request_encode = req_encode_event,
		     .request_decode = req_decode_event,
		     .reply_encode = rep_encode_watch,
		     .reply_decode = rep_decode_watch},
    [HF_OP_UNWATCH] = {.opcode = HF_OP_UNWATCH,
		       .name = "UNWATCH",
		       .routed = 1,
		       .request_body_size_min = HF_REQ_EVENT_BODY_SIZE,
		       .request_body_size_max = HF_REQ_EVENT_BODY_SIZE,
		       .request_check = req_check_none,
		       .request_encode = req_encode_event,
		       .request_decode = req_decode_event,
		       .reply_encode = rep_encode_empty,
		       .reply_decode = rep_decode_empty},
    [HF_OP_SLOT_MAP] = {.opcode = HF_OP_SLOT_MAP,
			.name = "SLOT_MAP",
			OP_SHARD_EMPTY,
			.reply_body_size_min =
			    HF_REP_SLOT_MAP_FIXED_SIZE + HF_REP_SLOT_OWNER_FIXED_SIZE + 1u,
			.reply_body_size_max =
			    HF_REP_SLOT_MAP_FIXED_SIZE + SLOT_OWNER_SIZE_MAX * HF_SLOT_OWNERS_MAX,
			.reply_encode = rep_encode_slot_map,
			.reply_decode = rep_decode_slot_map},
    [HF_OP_STATS] = {.opcode = HF_OP_STATS,
		     .name = "STATS",
		     OP_SHARD_EMPTY,
		     .reply_body_size_min = HF_REP_STATS_FIXED_SIZE,
		     .reply_body_size_max = HF_REP_STATS_FIXED_SIZE + STAT_SIZE_MAX * HF_STATS_MAX,
		     .reply_encode = rep_encode_stats,
		     .reply_decode = rep_decode_stats},
    [HF_OP_BACKUP] = {.opcode = HF_OP_BACKUP,
		      .name = "BACKUP",
		      .admin = 1,
		      .request_body_size_min = HF_REQ_BACKUP_FIXED_SIZE + 1u,
		      .request_body_size_max = HF_REQ_BACKUP_FIXED_SIZE + HF_PATH_SIZE_MAX,
		      .reply_body_size_min = HF_REP_BACKUP_BODY_SIZE,
		      .reply_body_size_max = HF_REP_BACKUP_BODY_SIZE,
		      .request_check = req_check_backup,
		      .request_encode = req_encode_backup,
		      .request_decode = req_decode_backup,
		      .reply_encode = rep_encode_backup,
		      .reply_decode = rep_decode_backup},
    [HF_OP_AUTH] = {.opcode = HF_OP_AUTH,
		    .name = "AUTH",
		    .request_body_size_min = HF_REQ_AUTH_FIXED_SIZE + 1u,
		    .request_body_size_max = HF_REQ_AUTH_FIXED_SIZE + HF_AUTH_TOKEN_SIZE_MAX,
		    .reply_body_size_min = HF_REP_AUTH_BODY_SIZE,
		    .reply_body_size_max = HF_REP_AUTH_BODY_SIZE,
		    .request_check = req_check_auth,
		    .request_encode = req_encode_auth,
		    .request_decode = req_decode_auth,
		    .reply_encode = rep_encode_auth,
		    .reply_decode = rep_decode_auth},
    [HF_OP_BATCH] = {.opcode = HF_OP_BATCH,
		     .name = "BATCH", /* not a write itself: its entries are */
		     .request_body_size_min = HF_BATCH_FIXED_SIZE + HF_BATCH_ENTRY_HEADER_SIZE,
		     .request_body_size_max = HF_FRAME_BODY_SIZE_MAX,
		     .reply_body_size_min = HF_BATCH_FIXED_SIZE,
		     .reply_body_size_max = HF_BATCH_REPLY_BODY_MAX,
		     .request_check = hf_batch_req_check,
		     .request_encode = hf_batch_req_encode,
		     .request_decode = hf_batch_req_decode,
		     .reply_encode = hf_batch_rep_encode,
		     .reply_decode = hf_batch_rep_decode},
    /* Waiting room (0x48-0x4f). POSITION writes: it may admit, and admissions are persisted
     * before a token is answered. */
    [HF_OP_JOIN] = {.opcode = HF_OP_JOIN,
		    .name = "JOIN",
		    .writes = 1,
		    .routed = 1,
		    .request_body_size_min = HF_REQ_JOIN_BODY_SIZE,
		    .request_body_size_max = HF_REQ_JOIN_BODY_SIZE,
		    .reply_body_size_min = HF_REP_ROOM_POSITION_BODY_SIZE,
		    .reply_body_size_max = HF_REP_ROOM_POSITION_BODY_SIZE,
		    .request_check = req_check_none,
		    .request_encode = req_encode_join,
		    .request_decode = req_decode_join,
		    .reply_encode = rep_encode_room_position,
		    .reply_decode = rep_decode_room_position},
    [HF_OP_POSITION] = {.opcode = HF_OP_POSITION,
			.name = "POSITION",
			.writes = 1,
			.routed = 1,
			.request_body_size_min = HF_REQ_JOIN_BODY_SIZE,
			.request_body_size_max = HF_REQ_JOIN_BODY_SIZE,
			.reply_body_size_min = HF_REP_ROOM_POSITION_BODY_SIZE,
			.reply_body_size_max = HF_REP_ROOM_POSITION_BODY_SIZE,
			.request_check = req_check_none,
			.request_encode = req_encode_join,
			.request_decode = req_decode_join,
			.reply_encode = rep_encode_room_position,
			.reply_decode = rep_decode_room_position},
    [HF_OP_ROOM_SET] = {.opcode = HF_OP_ROOM_SET,
			.name = "ROOM_SET",
			.writes = 1,
			.routed = 1,
			.request_body_size_min = HF_REQ_ROOM_SET_BODY_SIZE,
			.request_body_size_max = HF_REQ_ROOM_SET_BODY_SIZE,
			.request_check = req_check_room_set,
			.request_encode = req_encode_room_set,
			.request_decode = req_decode_room_set,
			.reply_encode = rep_encode_empty,
			.reply_decode = rep_decode_empty},
    [HF_OP_ROOM_INFO] = {.opcode = HF_OP_ROOM_INFO,
			 .name = "ROOM_INFO",
			 .routed = 1,
			 .request_body_size_min = HF_REQ_EVENT_BODY_SIZE,
			 .request_body_size_max = HF_REQ_EVENT_BODY_SIZE,
			 .reply_body_size_min = HF_REP_ROOM_INFO_BODY_SIZE,
			 .reply_body_size_max = HF_REP_ROOM_INFO_BODY_SIZE,
			 .request_check = req_check_none,
			 .request_encode = req_encode_event,
			 .request_decode = req_decode_event,
			 .reply_encode = rep_encode_room_info,
			 .reply_decode = rep_decode_room_info},
    /* Slot moves and event delete (0x21-0x27). */
    [HF_OP_EVENT_DELETE] = {.opcode = HF_OP_EVENT_DELETE,
			    .name = "EVENT_DELETE",
			    .writes = 1,
			    .routed = 1,
			    .admin = 1,
			    .request_body_size_min = HF_REQ_EVENT_DELETE_BODY_SIZE,
			    .request_body_size_max = HF_REQ_EVENT_DELETE_BODY_SIZE,
			    .request_check = req_check_event_delete,
			    .request_encode = req_encode_event_delete,
			    .request_decode = req_decode_event_delete,
			    .reply_encode = rep_encode_empty,
			    .reply_decode = rep_decode_empty},
    [HF_OP_MOVE_COPY] = {.opcode = HF_OP_MOVE_COPY,
			 .name = "MOVE_COPY",
			 .admin = 1,
			 .request_body_size_min = HF_REQ_MOVE_COPY_FIXED_SIZE + 1u,
			 .request_body_size_max = HF_REQ_MOVE_COPY_FIXED_SIZE + HF_HOST_SIZE_MAX,
			 .reply_body_size_min = HF_REP_MOVE_BODY_SIZE,
			 .reply_body_size_max = HF_REP_MOVE_BODY_SIZE,
			 .request_check = req_check_move_copy,
			 .request_encode = req_encode_move_copy,
			 .request_decode = req_decode_move_copy,
			 .reply_encode = rep_encode_move,
			 .reply_decode = rep_decode_move},
    [HF_OP_MOVE_EXPORT] = {.opcode = HF_OP_MOVE_EXPORT,
			   .name = "MOVE_EXPORT",
			   .admin = 1,
			   .request_body_size_min = HF_REQ_MOVE_EXPORT_BODY_SIZE,
			   .request_body_size_max = HF_REQ_MOVE_EXPORT_BODY_SIZE,
			   .reply_body_size_min = HF_REP_MOVE_EXPORT_FIXED_SIZE,
			   .reply_body_size_max =
			       HF_REP_MOVE_EXPORT_FIXED_SIZE + HF_MOVE_CHUNK_SIZE_MAX,
			   .request_check = req_check_move_slot,
			   .request_encode = req_encode_move_export,
			   .request_decode = req_decode_move_export,
			   .reply_encode = rep_encode_move_export,
			   .reply_decode = rep_decode_move_export},
    OP_MOVE_SLOT(HF_OP_MOVE_FREEZE, "MOVE_FREEZE"),
    OP_MOVE_SLOT(HF_OP_MOVE_PERSISTED, "MOVE_PERSISTED"),
    OP_MOVE_SLOT(HF_OP_MOVE_DROP, "MOVE_DROP"),
    OP_MOVE_SLOT(HF_OP_MOVE_UNFREEZE, "MOVE_UNFREEZE"),
};

HF_STATIC_ASSERT(HF_BATCH_REPLY_BODY_MAX <= HF_FRAME_BODY_SIZE_MAX,
		 "the largest BATCH reply fits a frame");

HF_STATIC_ASSERT(HF_REP_MOVE_EXPORT_FIXED_SIZE + HF_MOVE_CHUNK_SIZE_MAX <= HF_FRAME_BODY_SIZE_MAX,
		 "the largest MOVE_EXPORT reply fits a frame");
HF_STATIC_ASSERT(offsetof(struct hf_req_event_delete, event_id) == 0, "event id first");

HF_STATIC_ASSERT(HF_REP_AVAIL_FIXED_SIZE + HF_AVAIL_RANGE_MAX / 8u <= HF_FRAME_BODY_SIZE_MAX,
		 "the largest AVAIL reply fits a frame");
HF_STATIC_ASSERT(HF_REP_USER_RECORDS_FIXED_SIZE + USER_RECORD_SIZE_MAX * HF_USER_RECORDS_PAGE_MAX <=
		     HF_FRAME_BODY_SIZE_MAX,
		 "the largest USER_HOLDS reply fits a frame");
HF_STATIC_ASSERT(HF_REQ_SEAT_STATUS_FIXED_SIZE + 4u * HF_SEAT_STATUS_SEATS_MAX <=
		     HF_FRAME_BODY_SIZE_MAX,
		 "the largest SEAT_STATUS request fits a frame");

const struct hf_op_info *hf_op_info(uint8_t opcode)
{
	const struct hf_op_info *info = &op_table[opcode];
	if (info->name == NULL)
		return NULL;
	HF_ASSERT(info->opcode == opcode);
	HF_ASSERT(info->admin == (opcode >= HF_OP_ADMIN_FIRST && opcode <= HF_OP_ADMIN_LAST));
	return info;
}

const char *hf_opcode_name(uint8_t opcode)
{
	const struct hf_op_info *info = hf_op_info(opcode);
	return info ? info->name : "UNKNOWN";
}

size_t hf_opcode_name_lower(uint8_t opcode, char *out, size_t size)
{
	HF_ASSERT(size >= 1);
	const char *name = hf_opcode_name(opcode);
	size_t n = 0;
	/* Bounded by size and by the name's NUL. */
	for (; name[n] != '\0' && n + 1u < size; n++)
		out[n] = (char)(name[n] >= 'A' && name[n] <= 'Z' ? name[n] - 'A' + 'a' : name[n]);
	out[n] = '\0';
	return n;
}

int hf_opcode_is_write(uint8_t opcode)
{
	const struct hf_op_info *info = hf_op_info(opcode);
	return info ? info->writes : 0;
}

/* ---- Requests ---- */

uint64_t hf_request_event_id(const struct hf_request *req)
{
	const struct hf_op_info *info = hf_op_info(req->opcode);
	if (info == NULL || !info->routed)
		return 0;
	return req->event_info.event_id;
}

enum hf_status hf_request_validate(const struct hf_request *req)
{
	const struct hf_op_info *info = hf_op_info(req->opcode);
	if (info == NULL)
		return HF_ERR_OPCODE;
	return info->request_check(req);
}

size_t hf_request_encode(const struct hf_request *req, uint8_t *buf, size_t cap)
{
	const struct hf_op_info *info = hf_op_info(req->opcode);
	if (info == NULL)
		HF_PANIC("encoding unknown opcode 0x%02x", req->opcode);
	HF_ASSERT(info->request_check(req) == HF_OK);
	struct hf_wr w = {.p = buf, .left = cap};
	if (!wr_take(&w, HF_FRAME_HEADER_SIZE))
		return 0;
	info->request_encode(&w, req);
	if (!w.bad) {
		HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE >= info->request_body_size_min);
		HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE <= info->request_body_size_max);
	}
	return wr_finish(&w, buf, req->opcode, 0, 0, req->request_id);
}

enum hf_status hf_request_decode(const struct hf_frame_header *header, const uint8_t *body,
				 struct hf_request *out)
{
	HF_ASSERT(header->body_size <= HF_FRAME_BODY_SIZE_MAX);
	out->opcode = header->opcode;
	out->request_id = header->request_id;
	if (header->flags & HF_FLAG_REPLY)
		return HF_ERR_MALFORMED;
	if (header->status != 0)
		return HF_ERR_MALFORMED;
	const struct hf_op_info *info = hf_op_info(header->opcode);
	if (info == NULL)
		return HF_ERR_OPCODE;

	struct hf_rd r = {.p = body, .left = header->body_size, .bad = 0};
	enum hf_status st = info->request_decode(&r, out);
	if (st != HF_OK)
		return st;
	if (!rd_done(&r))
		return HF_ERR_MALFORMED;
	if (info->routed && hf_request_event_id(out) == 0)
		return HF_ERR_INVALID;
	/* What decodes is what an encoder could have written. */
	HF_ASSERT(header->body_size >= info->request_body_size_min);
	HF_ASSERT(header->body_size <= info->request_body_size_max);
	return HF_OK;
}

/* ---- Replies ---- */

size_t hf_reply_size(const struct hf_reply *rep)
{
	struct hf_wr w = {.measure = 1};
	(void)wr_take(&w, HF_FRAME_HEADER_SIZE);
	if (rep->status != HF_OK) {
		wr_u64(&w, rep->detail);
		HF_ASSERT(w.size == HF_FRAME_HEADER_SIZE + HF_ERROR_BODY_SIZE);
		return w.size;
	}
	const struct hf_op_info *info = hf_op_info(rep->opcode);
	if (info == NULL)
		HF_PANIC("reply size of unknown opcode 0x%02x", rep->opcode);
	info->reply_encode(&w, rep);
	HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE >= info->reply_body_size_min);
	HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE <= info->reply_body_size_max);
	return w.size;
}

size_t hf_reply_encode(const struct hf_reply *rep, uint8_t *buf, size_t cap)
{
	struct hf_wr w = {.p = buf, .left = cap};
	if (!wr_take(&w, HF_FRAME_HEADER_SIZE))
		return 0;
	if (rep->status != HF_OK) {
		wr_u64(&w, rep->detail);
		return wr_finish(&w, buf, rep->opcode, HF_FLAG_REPLY, rep->status, rep->request_id);
	}
	const struct hf_op_info *info = hf_op_info(rep->opcode);
	if (info == NULL)
		HF_PANIC("encoding reply of unknown opcode 0x%02x", rep->opcode);
	info->reply_encode(&w, rep);
	if (!w.bad) {
		HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE >= info->reply_body_size_min);
		HF_ASSERT(w.size - HF_FRAME_HEADER_SIZE <= info->reply_body_size_max);
	}
	return wr_finish(&w, buf, rep->opcode, HF_FLAG_REPLY, HF_OK, rep->request_id);
}

enum hf_status hf_reply_decode(const struct hf_frame_header *header, const uint8_t *body,
			       struct hf_reply *out)
{
	HF_ASSERT(header->body_size <= HF_FRAME_BODY_SIZE_MAX);
	out->opcode = header->opcode;
	out->status = header->status;
	out->request_id = header->request_id;
	if (!(header->flags & HF_FLAG_REPLY))
		return HF_ERR_MALFORMED;

	struct hf_rd r = {.p = body, .left = header->body_size, .bad = 0};
	if (header->status != HF_OK) {
		out->detail = rd_u64(&r);
		return rd_done(&r) ? HF_OK : HF_ERR_MALFORMED;
	}
	const struct hf_op_info *info = hf_op_info(header->opcode);
	if (info == NULL)
		return HF_ERR_OPCODE;
	enum hf_status st = info->reply_decode(&r, out);
	if (st != HF_OK)
		return st;
	if (!rd_done(&r))
		return HF_ERR_MALFORMED;
	HF_ASSERT(header->body_size >= info->reply_body_size_min);
	HF_ASSERT(header->body_size <= info->reply_body_size_max);
	return HF_OK;
}

int hf_stats_add(struct hf_rep_stats *stats, const char *name, uint64_t value)
{
	size_t len = strlen(name);
	if (stats->stats_count >= HF_STATS_MAX || len == 0 || len > HF_STAT_NAME_SIZE_MAX)
		return -1;
	struct hf_stat *s = &stats->stats[stats->stats_count++];
	memcpy(s->name, name, len + 1);
	s->value = value;
	return 0;
}
