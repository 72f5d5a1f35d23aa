/* Encoders and decoders of the holdfast wire protocol (see proto.h and docs/protocol.md).
 *
 * Decoding is written as a cursor over the body that refuses every read past the end: a short body
 * sets the cursor's error flag, and the decoder then answers HF_ERR_MALFORMED. A body with bytes left
 * over after its fields is malformed too: each opcode's body size is exact. */
#include "proto/proto.h"

#include "base/assert.h"
#include "base/endian.h"

#include <string.h>

/* ---- Names ---- */

const char *hf_status_name(uint16_t status)
{
	switch (status) {
	case HF_OK: return "OK";
	case HF_ERR_MALFORMED: return "MALFORMED";
	case HF_ERR_VERSION: return "VERSION";
	case HF_ERR_OPCODE: return "OPCODE";
	case HF_ERR_TOO_LARGE: return "TOO_LARGE";
	case HF_MOVED: return "MOVED";
	case HF_BUSY: return "BUSY";
	case HF_TRY_AGAIN: return "TRY_AGAIN";
	case HF_ERR_INTERNAL: return "INTERNAL";
	case HF_ERR_IO: return "IO";
	case HF_ERR_INVALID: return "INVALID";
	case HF_ERR_CAPACITY: return "CAPACITY";
	case HF_NO_EVENT: return "NO_EVENT";
	case HF_EVENT_EXISTS: return "EVENT_EXISTS";
	case HF_SEAT_RANGE: return "SEAT_RANGE";
	case HF_SEAT_TAKEN: return "SEAT_TAKEN";
	case HF_NOT_ENOUGH: return "NOT_ENOUGH";
	case HF_USER_LIMIT: return "USER_LIMIT";
	case HF_NO_HOLD: return "NO_HOLD";
	case HF_HOLD_EXPIRED: return "HOLD_EXPIRED";
	case HF_HOLD_RELEASED: return "HOLD_RELEASED";
	case HF_ID_CONFLICT: return "ID_CONFLICT";
	case HF_NO_BOOKING: return "NO_BOOKING";
	case HF_BOOKING_CANCELLED: return "BOOKING_CANCELLED";
	case HF_HOLD_CONFIRMED: return "HOLD_CONFIRMED";
	case HF_DUPLICATE_SEAT: return "DUPLICATE_SEAT";
	default: return "UNKNOWN";
	}
}

const char *hf_status_message(uint16_t status)
{
	switch (status) {
	case HF_OK: return "ok";
	case HF_ERR_MALFORMED: return "malformed request";
	case HF_ERR_VERSION: return "unsupported protocol version";
	case HF_ERR_OPCODE: return "unknown opcode";
	case HF_ERR_TOO_LARGE: return "request too large";
	case HF_MOVED: return "event is served by another shard";
	case HF_BUSY: return "server busy, retry later";
	case HF_TRY_AGAIN: return "event is moving between shards, retry shortly";
	case HF_ERR_INTERNAL: return "internal server error";
	case HF_ERR_IO: return "could not persist the change; nothing changed";
	case HF_ERR_INVALID: return "invalid argument";
	case HF_ERR_CAPACITY: return "shard is full";
	case HF_NO_EVENT: return "no such event";
	case HF_EVENT_EXISTS: return "event exists with different parameters";
	case HF_SEAT_RANGE: return "seat out of range";
	case HF_SEAT_TAKEN: return "seat already held or booked";
	case HF_NOT_ENOUGH: return "not enough adjacent free seats";
	case HF_USER_LIMIT: return "per-user seat limit reached";
	case HF_NO_HOLD: return "no such hold";
	case HF_HOLD_EXPIRED: return "hold expired";
	case HF_HOLD_RELEASED: return "hold was released";
	case HF_ID_CONFLICT: return "id already used for a different request";
	case HF_NO_BOOKING: return "no such booking";
	case HF_BOOKING_CANCELLED: return "booking was cancelled";
	case HF_HOLD_CONFIRMED: return "hold is already confirmed";
	case HF_DUPLICATE_SEAT: return "seat listed twice";
	default: return "unknown status";
	}
}

int hf_status_is_retryable(uint16_t status)
{
	return status == HF_BUSY || status == HF_TRY_AGAIN || status == HF_MOVED ||
	       status == HF_ERR_IO;
}

const char *hf_opcode_name(uint8_t opcode)
{
	switch (opcode) {
	case HF_OP_PING: return "PING";
	case HF_OP_CREATE_EVENT: return "CREATE_EVENT";
	case HF_OP_EVENT_INFO: return "EVENT_INFO";
	case HF_OP_HOLD: return "HOLD";
	case HF_OP_EXTEND: return "EXTEND";
	case HF_OP_CONFIRM: return "CONFIRM";
	case HF_OP_RELEASE: return "RELEASE";
	case HF_OP_CANCEL: return "CANCEL";
	case HF_OP_AVAIL: return "AVAIL";
	case HF_OP_SEAT_STATUS: return "SEAT_STATUS";
	case HF_OP_SLOT_MAP: return "SLOT_MAP";
	case HF_OP_STATS: return "STATS";
	case HF_OP_BACKUP: return "BACKUP";
	default: return "UNKNOWN";
	}
}

int hf_opcode_is_write(uint8_t opcode)
{
	switch (opcode) {
	case HF_OP_CREATE_EVENT:
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

/* ---- Cursors ---- */

struct rd {
	const uint8_t *p;
	uint32_t left;
	int bad; /* a read went past the end */
};

static int rd_take(struct rd *r, uint32_t n, const uint8_t **at)
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

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *at;
	return rd_take(r, 1, &at) ? at[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *at;
	return rd_take(r, 2, &at) ? hf_get_le16(at) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *at;
	return rd_take(r, 4, &at) ? hf_get_le32(at) : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *at;
	return rd_take(r, 8, &at) ? hf_get_le64(at) : 0;
}

/* The body decoded cleanly and exactly. */
static int rd_done(const struct rd *r)
{
	return !r->bad && r->left == 0;
}

struct wr {
	uint8_t *p;
	size_t left;
	int bad; /* the buffer was too small */
};

static uint8_t *wr_take(struct wr *w, size_t n)
{
	if (w->bad || w->left < n) {
		w->bad = 1;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	w->left -= n;
	return at;
}

static void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *at = wr_take(w, 1);
	if (at)
		at[0] = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t *at = wr_take(w, 2);
	if (at)
		hf_put_le16(at, v);
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t *at = wr_take(w, 4);
	if (at)
		hf_put_le32(at, v);
}

static void wr_u64(struct wr *w, uint64_t v)
{
	uint8_t *at = wr_take(w, 8);
	if (at)
		hf_put_le64(at, v);
}

static void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *at = wr_take(w, n);
	if (at && n > 0)
		memcpy(at, src, n);
}

/* Writes the header once the body is written, and checks the body size against the limit. */
static size_t wr_finish(struct wr *w, uint8_t *buf, uint8_t opcode, uint16_t flags, uint16_t status,
			uint64_t request_id)
{
	if (w->bad)
		return 0;
	size_t frame_size = (size_t)(w->p - buf);
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

/* ---- Requests ---- */

uint64_t hf_request_event_id(const struct hf_request *req)
{
	switch (req->opcode) {
	case HF_OP_CREATE_EVENT: return req->create_event.event_id;
	case HF_OP_EVENT_INFO: return req->event_info.event_id;
	case HF_OP_HOLD: return req->hold.event_id;
	case HF_OP_EXTEND: return req->extend.event_id;
	case HF_OP_CONFIRM: return req->confirm.event_id;
	case HF_OP_RELEASE: return req->release.event_id;
	case HF_OP_CANCEL: return req->cancel.event_id;
	case HF_OP_AVAIL: return req->avail.event_id;
	case HF_OP_SEAT_STATUS: return req->seat_status.event_id;
	default: return 0;
	}
}

size_t hf_request_encode(const struct hf_request *req, uint8_t *buf, size_t cap)
{
	struct wr w = {.p = buf, .left = cap, .bad = 0};
	if (!wr_take(&w, HF_FRAME_HEADER_SIZE))
		return 0;
	switch (req->opcode) {
	case HF_OP_PING:
	case HF_OP_SLOT_MAP:
	case HF_OP_STATS:
		break;
	case HF_OP_CREATE_EVENT:
		wr_u64(&w, req->create_event.event_id);
		wr_u32(&w, req->create_event.seats_count);
		wr_u32(&w, req->create_event.row_width);
		wr_u32(&w, req->create_event.user_limit);
		wr_u32(&w, req->create_event.hold_lifetime_max_s);
		break;
	case HF_OP_EVENT_INFO:
		wr_u64(&w, req->event_info.event_id);
		break;
	case HF_OP_HOLD: {
		const struct hf_req_hold *h = &req->hold;
		HF_ASSERT(h->seats_count <= HF_HOLD_SEATS_MAX);
		HF_ASSERT(h->mode == HF_HOLD_EXPLICIT || h->mode == HF_HOLD_BEST);
		wr_u64(&w, h->event_id);
		wr_u64(&w, h->hold_id);
		wr_u64(&w, h->user_id);
		wr_u32(&w, h->ttl_ms);
		wr_u8(&w, h->mode);
		wr_u8(&w, 0);
		wr_u8(&w, 0);
		wr_u8(&w, 0);
		wr_u32(&w, h->seats_count);
		if (h->mode == HF_HOLD_EXPLICIT) {
			for (uint32_t i = 0; i < h->seats_count; i++)
				wr_u32(&w, h->seats[i]);
		}
		break;
	}
	case HF_OP_EXTEND:
		wr_u64(&w, req->extend.event_id);
		wr_u64(&w, req->extend.hold_id);
		wr_u32(&w, req->extend.ttl_ms);
		break;
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		/* The three share struct hf_req_hold_ref at the same place in the union. */
		wr_u64(&w, req->confirm.event_id);
		wr_u64(&w, req->confirm.hold_id);
		break;
	case HF_OP_AVAIL:
		wr_u64(&w, req->avail.event_id);
		wr_u32(&w, req->avail.first);
		wr_u32(&w, req->avail.count);
		break;
	case HF_OP_SEAT_STATUS:
		HF_ASSERT(req->seat_status.seats_count <= HF_SEAT_STATUS_SEATS_MAX);
		wr_u64(&w, req->seat_status.event_id);
		wr_u32(&w, req->seat_status.seats_count);
		for (uint32_t i = 0; i < req->seat_status.seats_count; i++)
			wr_u32(&w, req->seat_status.seats[i]);
		break;
	case HF_OP_BACKUP: {
		size_t len = strnlen(req->backup.path, HF_PATH_SIZE_MAX + 1);
		HF_ASSERT(len >= 1 && len <= HF_PATH_SIZE_MAX);
		wr_u16(&w, (uint16_t)len);
		wr_bytes(&w, req->backup.path, len);
		break;
	}
	default:
		HF_PANIC("encoding unknown opcode 0x%02x", req->opcode);
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

	struct rd r = {.p = body, .left = header->body_size, .bad = 0};
	switch (header->opcode) {
	case HF_OP_PING:
	case HF_OP_SLOT_MAP:
	case HF_OP_STATS:
		break;
	case HF_OP_CREATE_EVENT: {
		struct hf_req_create_event *c = &out->create_event;
		c->event_id = rd_u64(&r);
		c->seats_count = rd_u32(&r);
		c->row_width = rd_u32(&r);
		c->user_limit = rd_u32(&r);
		c->hold_lifetime_max_s = rd_u32(&r);
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (c->seats_count > HF_EVENT_SEATS_MAX)
			return HF_ERR_TOO_LARGE;
		if (c->event_id == 0 || c->seats_count == 0 ||
		    c->hold_lifetime_max_s > HF_HOLD_LIFETIME_MAX_S)
			return HF_ERR_INVALID;
		return HF_OK;
	}
	case HF_OP_EVENT_INFO:
		out->event_info.event_id = rd_u64(&r);
		break;
	case HF_OP_HOLD: {
		struct hf_req_hold *h = &out->hold;
		h->event_id = rd_u64(&r);
		h->hold_id = rd_u64(&r);
		h->user_id = rd_u64(&r);
		h->ttl_ms = rd_u32(&r);
		h->mode = rd_u8(&r);
		uint8_t reserved = (uint8_t)(rd_u8(&r) | rd_u8(&r) | rd_u8(&r));
		h->seats_count = rd_u32(&r);
		if (r.bad || reserved != 0)
			return HF_ERR_MALFORMED;
		if (h->mode != HF_HOLD_EXPLICIT && h->mode != HF_HOLD_BEST)
			return HF_ERR_MALFORMED;
		if (h->seats_count > HF_HOLD_SEATS_MAX)
			return HF_ERR_TOO_LARGE;
		if (h->mode == HF_HOLD_EXPLICIT) {
			/* The listed seats must be exactly what is left of the body. */
			if (r.left != (uint64_t)h->seats_count * 4u)
				return HF_ERR_MALFORMED;
			for (uint32_t i = 0; i < h->seats_count; i++)
				h->seats[i] = rd_u32(&r);
		}
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (h->seats_count == 0 || h->event_id == 0 || h->hold_id == 0 || h->ttl_ms == 0)
			return HF_ERR_INVALID;
		return HF_OK;
	}
	case HF_OP_EXTEND:
		out->extend.event_id = rd_u64(&r);
		out->extend.hold_id = rd_u64(&r);
		out->extend.ttl_ms = rd_u32(&r);
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (out->extend.event_id == 0 || out->extend.hold_id == 0 || out->extend.ttl_ms == 0)
			return HF_ERR_INVALID;
		return HF_OK;
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		out->confirm.event_id = rd_u64(&r);
		out->confirm.hold_id = rd_u64(&r);
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (out->confirm.event_id == 0 || out->confirm.hold_id == 0)
			return HF_ERR_INVALID;
		return HF_OK;
	case HF_OP_AVAIL:
		out->avail.event_id = rd_u64(&r);
		out->avail.first = rd_u32(&r);
		out->avail.count = rd_u32(&r);
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (out->avail.count > HF_AVAIL_RANGE_MAX)
			return HF_ERR_TOO_LARGE;
		break;
	case HF_OP_SEAT_STATUS: {
		struct hf_req_seat_status *s = &out->seat_status;
		s->event_id = rd_u64(&r);
		s->seats_count = rd_u32(&r);
		if (r.bad)
			return HF_ERR_MALFORMED;
		if (s->seats_count > HF_SEAT_STATUS_SEATS_MAX)
			return HF_ERR_TOO_LARGE;
		if (r.left != (uint64_t)s->seats_count * 4u)
			return HF_ERR_MALFORMED;
		for (uint32_t i = 0; i < s->seats_count; i++)
			s->seats[i] = rd_u32(&r);
		if (!rd_done(&r))
			return HF_ERR_MALFORMED;
		if (s->seats_count == 0)
			return HF_ERR_INVALID;
		break;
	}
	case HF_OP_BACKUP: {
		uint16_t len = rd_u16(&r);
		const uint8_t *path;
		if (r.bad)
			return HF_ERR_MALFORMED;
		if (len > HF_PATH_SIZE_MAX)
			return HF_ERR_TOO_LARGE;
		if (len == 0 || r.left != len || !rd_take(&r, len, &path))
			return HF_ERR_MALFORMED;
		if (memchr(path, '\0', len) != NULL)
			return HF_ERR_MALFORMED;
		memcpy(out->backup.path, path, len);
		out->backup.path[len] = '\0';
		if (path[0] != '/')
			return HF_ERR_INVALID;
		return HF_OK;
	}
	default:
		return HF_ERR_OPCODE;
	}
	if (!rd_done(&r))
		return HF_ERR_MALFORMED;
	if (hf_request_event_id(out) == 0 && header->opcode != HF_OP_PING &&
	    header->opcode != HF_OP_SLOT_MAP && header->opcode != HF_OP_STATS)
		return HF_ERR_INVALID;
	return HF_OK;
}

/* ---- Replies ---- */

static size_t avail_bitmap_size(uint32_t count)
{
	return ((size_t)count + 7u) / 8u;
}

size_t hf_reply_size(const struct hf_reply *rep)
{
	size_t body = 0;
	if (rep->status != HF_OK)
		return HF_FRAME_HEADER_SIZE + HF_ERROR_BODY_SIZE;
	switch (rep->opcode) {
	case HF_OP_PING: body = 8; break;
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL: body = 0; break;
	case HF_OP_EVENT_INFO: body = 48; break;
	case HF_OP_HOLD: body = 20 + 4u * (size_t)rep->hold.seats_count; break;
	case HF_OP_CONFIRM: body = 12 + 4u * (size_t)rep->confirm.seats_count; break;
	case HF_OP_EXTEND:
	case HF_OP_BACKUP: body = 8; break;
	case HF_OP_AVAIL: body = 16 + avail_bitmap_size(rep->avail.count); break;
	case HF_OP_SEAT_STATUS: body = 4 + 16u * (size_t)rep->seat_status.seats_count; break;
	case HF_OP_SLOT_MAP:
		body = 12 + 2u * HF_SLOTS_COUNT;
		for (uint32_t i = 0; i < rep->slot_map.owners_count; i++)
			body += 3 + strnlen(rep->slot_map.owners[i].host, HF_HOST_SIZE_MAX + 1);
		break;
	case HF_OP_STATS:
		body = 2;
		for (uint32_t i = 0; i < rep->stats.stats_count; i++)
			body += 1 + strnlen(rep->stats.stats[i].name, HF_STAT_NAME_SIZE_MAX + 1) + 8;
		break;
	default:
		HF_PANIC("reply size of unknown opcode 0x%02x", rep->opcode);
	}
	return HF_FRAME_HEADER_SIZE + body;
}

size_t hf_reply_encode(const struct hf_reply *rep, uint8_t *buf, size_t cap)
{
	struct wr w = {.p = buf, .left = cap, .bad = 0};
	if (!wr_take(&w, HF_FRAME_HEADER_SIZE))
		return 0;
	if (rep->status != HF_OK) {
		wr_u64(&w, rep->detail);
		return wr_finish(&w, buf, rep->opcode, HF_FLAG_REPLY, rep->status, rep->request_id);
	}
	switch (rep->opcode) {
	case HF_OP_PING:
		wr_u64(&w, rep->ping.epoch);
		break;
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		break;
	case HF_OP_EVENT_INFO: {
		const struct hf_rep_event_info *e = &rep->event_info;
		wr_u64(&w, e->event_id);
		wr_u32(&w, e->seats_count);
		wr_u32(&w, e->row_width);
		wr_u32(&w, e->user_limit);
		wr_u32(&w, e->hold_lifetime_max_s);
		wr_u32(&w, e->free_count);
		wr_u32(&w, e->held_count);
		wr_u32(&w, e->booked_count);
		wr_u32(&w, e->holds_count);
		wr_u32(&w, e->bookings_count);
		wr_u32(&w, 0);
		break;
	}
	case HF_OP_HOLD:
	case HF_OP_CONFIRM: {
		const struct hf_rep_hold *h = rep->opcode == HF_OP_HOLD ? &rep->hold : &rep->confirm;
		HF_ASSERT(h->seats_count >= 1 && h->seats_count <= HF_HOLD_SEATS_MAX);
		wr_u64(&w, h->hold_id);
		if (rep->opcode == HF_OP_HOLD)
			wr_u64(&w, h->deadline_ms);
		wr_u32(&w, h->seats_count);
		for (uint32_t i = 0; i < h->seats_count; i++)
			wr_u32(&w, h->seats[i]);
		break;
	}
	case HF_OP_EXTEND:
		wr_u64(&w, rep->extend.deadline_ms);
		break;
	case HF_OP_BACKUP:
		wr_u64(&w, rep->backup.sequence);
		break;
	case HF_OP_AVAIL: {
		const struct hf_rep_avail *a = &rep->avail;
		HF_ASSERT(a->count <= HF_AVAIL_RANGE_MAX);
		HF_ASSERT(a->count == 0 || a->bitmap != NULL);
		wr_u32(&w, a->seats_count);
		wr_u32(&w, a->free_count);
		wr_u32(&w, a->first);
		wr_u32(&w, a->count);
		size_t n = avail_bitmap_size(a->count);
		uint8_t *at = wr_take(&w, n);
		if (at && n > 0) {
			memcpy(at, a->bitmap, n);
			/* Bits past count in the last byte are zero on the wire. */
			if (a->count % 8 != 0)
				at[n - 1] &= (uint8_t)((1u << (a->count % 8)) - 1u);
		}
		break;
	}
	case HF_OP_SEAT_STATUS: {
		const struct hf_rep_seat_status *s = &rep->seat_status;
		HF_ASSERT(s->seats_count <= HF_SEAT_STATUS_SEATS_MAX);
		wr_u32(&w, s->seats_count);
		for (uint32_t i = 0; i < s->seats_count; i++) {
			HF_ASSERT(s->seats[i].state <= HF_SEAT_BOOKED);
			wr_u32(&w, s->seats[i].seat);
			wr_u8(&w, s->seats[i].state);
			wr_u8(&w, 0);
			wr_u8(&w, 0);
			wr_u8(&w, 0);
			wr_u64(&w, s->seats[i].owner_id);
		}
		break;
	}
	case HF_OP_SLOT_MAP: {
		const struct hf_slot_map *m = &rep->slot_map;
		HF_ASSERT(m->owners_count >= 1 && m->owners_count <= HF_SLOT_OWNERS_MAX);
		wr_u64(&w, m->epoch);
		wr_u16(&w, m->owners_count);
		wr_u16(&w, (uint16_t)HF_SLOTS_COUNT);
		for (uint32_t i = 0; i < m->owners_count; i++) {
			size_t len = strnlen(m->owners[i].host, HF_HOST_SIZE_MAX + 1);
			HF_ASSERT(len >= 1 && len <= HF_HOST_SIZE_MAX);
			wr_u16(&w, m->owners[i].port);
			wr_u8(&w, (uint8_t)len);
			wr_bytes(&w, m->owners[i].host, len);
		}
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
			HF_ASSERT(m->slot_owner[s] < m->owners_count);
			wr_u16(&w, m->slot_owner[s]);
		}
		break;
	}
	case HF_OP_STATS: {
		const struct hf_rep_stats *st = &rep->stats;
		HF_ASSERT(st->stats_count <= HF_STATS_MAX);
		wr_u16(&w, st->stats_count);
		for (uint32_t i = 0; i < st->stats_count; i++) {
			size_t len = strnlen(st->stats[i].name, HF_STAT_NAME_SIZE_MAX + 1);
			HF_ASSERT(len >= 1 && len <= HF_STAT_NAME_SIZE_MAX);
			wr_u8(&w, (uint8_t)len);
			wr_bytes(&w, st->stats[i].name, len);
			wr_u64(&w, st->stats[i].value);
		}
		break;
	}
	default:
		HF_PANIC("encoding reply of unknown opcode 0x%02x", rep->opcode);
	}
	return wr_finish(&w, buf, rep->opcode, HF_FLAG_REPLY, HF_OK, rep->request_id);
}

/* Decodes a hold-shaped body (HOLD with a deadline, CONFIRM without). */
static enum hf_status rd_hold(struct rd *r, struct hf_rep_hold *h, int with_deadline)
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

enum hf_status hf_reply_decode(const struct hf_frame_header *header, const uint8_t *body,
			       struct hf_reply *out)
{
	HF_ASSERT(header->body_size <= HF_FRAME_BODY_SIZE_MAX);
	out->opcode = header->opcode;
	out->status = header->status;
	out->request_id = header->request_id;
	if (!(header->flags & HF_FLAG_REPLY))
		return HF_ERR_MALFORMED;

	struct rd r = {.p = body, .left = header->body_size, .bad = 0};
	if (header->status != HF_OK) {
		out->detail = rd_u64(&r);
		return rd_done(&r) ? HF_OK : HF_ERR_MALFORMED;
	}
	switch (header->opcode) {
	case HF_OP_PING:
		out->ping.epoch = rd_u64(&r);
		break;
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		break;
	case HF_OP_EVENT_INFO: {
		struct hf_rep_event_info *e = &out->event_info;
		e->event_id = rd_u64(&r);
		e->seats_count = rd_u32(&r);
		e->row_width = rd_u32(&r);
		e->user_limit = rd_u32(&r);
		e->hold_lifetime_max_s = rd_u32(&r);
		e->free_count = rd_u32(&r);
		e->held_count = rd_u32(&r);
		e->booked_count = rd_u32(&r);
		e->holds_count = rd_u32(&r);
		e->bookings_count = rd_u32(&r);
		if (rd_u32(&r) != 0)
			return HF_ERR_MALFORMED;
		break;
	}
	case HF_OP_HOLD:
	case HF_OP_CONFIRM: {
		int is_hold = header->opcode == HF_OP_HOLD;
		enum hf_status st = rd_hold(&r, is_hold ? &out->hold : &out->confirm, is_hold);
		if (st != HF_OK)
			return st;
		break;
	}
	case HF_OP_EXTEND:
		out->extend.deadline_ms = rd_u64(&r);
		break;
	case HF_OP_BACKUP:
		out->backup.sequence = rd_u64(&r);
		break;
	case HF_OP_AVAIL: {
		struct hf_rep_avail *a = &out->avail;
		a->seats_count = rd_u32(&r);
		a->free_count = rd_u32(&r);
		a->first = rd_u32(&r);
		a->count = rd_u32(&r);
		a->bitmap = NULL;
		if (r.bad)
			return HF_ERR_MALFORMED;
		if (a->count > HF_AVAIL_RANGE_MAX)
			return HF_ERR_TOO_LARGE;
		size_t n = avail_bitmap_size(a->count);
		if (r.left != n)
			return HF_ERR_MALFORMED;
		if (n > 0 && !rd_take(&r, (uint32_t)n, &a->bitmap))
			return HF_ERR_MALFORMED;
		/* Bits past count in the last byte are zero on the wire (the encoder clears them), so
		 * that a decoded reply re-encodes to the same bytes. */
		if (a->count % 8 != 0 && (a->bitmap[n - 1] >> (a->count % 8)) != 0)
			return HF_ERR_MALFORMED;
		break;
	}
	case HF_OP_SEAT_STATUS: {
		struct hf_rep_seat_status *s = &out->seat_status;
		s->seats_count = rd_u32(&r);
		if (r.bad)
			return HF_ERR_MALFORMED;
		if (s->seats_count > HF_SEAT_STATUS_SEATS_MAX)
			return HF_ERR_TOO_LARGE;
		if (r.left != (uint64_t)s->seats_count * 16u)
			return HF_ERR_MALFORMED;
		for (uint32_t i = 0; i < s->seats_count; i++) {
			s->seats[i].seat = rd_u32(&r);
			s->seats[i].state = rd_u8(&r);
			uint8_t reserved = (uint8_t)(rd_u8(&r) | rd_u8(&r) | rd_u8(&r));
			s->seats[i].owner_id = rd_u64(&r);
			if (s->seats[i].state > HF_SEAT_BOOKED || reserved != 0)
				return HF_ERR_MALFORMED;
		}
		break;
	}
	case HF_OP_SLOT_MAP: {
		struct hf_slot_map *m = &out->slot_map;
		m->epoch = rd_u64(&r);
		m->owners_count = rd_u16(&r);
		uint16_t slots_count = rd_u16(&r);
		if (r.bad || slots_count != HF_SLOTS_COUNT || m->owners_count == 0)
			return HF_ERR_MALFORMED;
		if (m->owners_count > HF_SLOT_OWNERS_MAX)
			return HF_ERR_TOO_LARGE;
		for (uint32_t i = 0; i < m->owners_count; i++) {
			m->owners[i].port = rd_u16(&r);
			uint8_t len = rd_u8(&r);
			const uint8_t *host;
			if (len > HF_HOST_SIZE_MAX)
				return HF_ERR_TOO_LARGE;
			if (len == 0 || !rd_take(&r, len, &host))
				return HF_ERR_MALFORMED;
			memcpy(m->owners[i].host, host, len);
			m->owners[i].host[len] = '\0';
			if (memchr(host, '\0', len) != NULL)
				return HF_ERR_MALFORMED;
		}
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
			m->slot_owner[s] = rd_u16(&r);
			if (!r.bad && m->slot_owner[s] >= m->owners_count)
				return HF_ERR_MALFORMED;
		}
		break;
	}
	case HF_OP_STATS: {
		struct hf_rep_stats *st = &out->stats;
		st->stats_count = rd_u16(&r);
		if (r.bad)
			return HF_ERR_MALFORMED;
		if (st->stats_count > HF_STATS_MAX)
			return HF_ERR_TOO_LARGE;
		for (uint32_t i = 0; i < st->stats_count; i++) {
			uint8_t len = rd_u8(&r);
			const uint8_t *name;
			if (len > HF_STAT_NAME_SIZE_MAX)
				return HF_ERR_TOO_LARGE;
			if (len == 0 || !rd_take(&r, len, &name))
				return HF_ERR_MALFORMED;
			if (memchr(name, '\0', len) != NULL)
				return HF_ERR_MALFORMED;
			memcpy(st->stats[i].name, name, len);
			st->stats[i].name[len] = '\0';
			st->stats[i].value = rd_u64(&r);
		}
		break;
	}
	default:
		return HF_ERR_OPCODE;
	}
	return rd_done(&r) ? HF_OK : HF_ERR_MALFORMED;
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
