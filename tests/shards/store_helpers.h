/* Request builders shared by the seat store tests: each runs one op through hf_store_apply with a
 * fresh change list entry area and returns the status, so a test reads as a list of ops. */
#ifndef HF_TESTS_SHARDS_STORE_HELPERS_H
#define HF_TESTS_SHARDS_STORE_HELPERS_H

#include "shards/store.h"

#include <stdarg.h>
#include <string.h>

static inline enum hf_status th_apply(struct hf_store *s, struct hf_request *req, uint64_t now_ms,
				      struct hf_reply *rep, struct hf_changes *ch)
{
	if (!hf_changes_has_room(ch))
		hf_changes_reset(ch);
	return hf_store_apply(s, req, now_ms, rep, ch);
}

static inline enum hf_status th_create(struct hf_store *s, struct hf_changes *ch, uint64_t ev,
				       uint32_t seats, uint32_t row_width, uint32_t user_limit,
				       uint32_t lifetime_s)
{
	struct hf_request req = {.opcode = HF_OP_CREATE_EVENT};
	req.create_event = (struct hf_req_create_event){.event_id = ev,
							.seats_count = seats,
							.row_width = row_width,
							.user_limit = user_limit,
							.hold_lifetime_max_s = lifetime_s};
	struct hf_reply rep;
	return th_apply(s, &req, 0, &rep, ch);
}

/* Explicit hold of n seats given as varargs (uint32_t). */
static inline enum hf_status th_hold(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				     struct hf_reply *rep, uint64_t ev, uint64_t hold,
				     uint64_t user, uint32_t ttl_ms, uint32_t n, ...)
{
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold.event_id = ev;
	req.hold.hold_id = hold;
	req.hold.user_id = user;
	req.hold.ttl_ms = ttl_ms;
	req.hold.mode = HF_HOLD_EXPLICIT;
	req.hold.seats_count = n;
	va_list ap;
	va_start(ap, n);
	for (uint32_t i = 0; i < n && i < HF_HOLD_SEATS_MAX; i++)
		req.hold.seats[i] = va_arg(ap, uint32_t);
	va_end(ap);
	return th_apply(s, &req, now_ms, rep, ch);
}

static inline enum hf_status th_best(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				     struct hf_reply *rep, uint64_t ev, uint64_t hold,
				     uint64_t user, uint32_t ttl_ms, uint32_t n)
{
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold.event_id = ev;
	req.hold.hold_id = hold;
	req.hold.user_id = user;
	req.hold.ttl_ms = ttl_ms;
	req.hold.mode = HF_HOLD_BEST;
	req.hold.seats_count = n;
	return th_apply(s, &req, now_ms, rep, ch);
}

static inline enum hf_status th_ref(struct hf_store *s, struct hf_changes *ch, uint8_t opcode,
				    uint64_t now_ms, struct hf_reply *rep, uint64_t ev, uint64_t id)
{
	struct hf_request req = {.opcode = opcode};
	req.confirm = (struct hf_req_hold_ref){ev, id};
	return th_apply(s, &req, now_ms, rep, ch);
}

static inline enum hf_status th_extend(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				       struct hf_reply *rep, uint64_t ev, uint64_t id,
				       uint32_t ttl_ms)
{
	struct hf_request req = {.opcode = HF_OP_EXTEND};
	req.extend = (struct hf_req_extend){ev, id, ttl_ms};
	return th_apply(s, &req, now_ms, rep, ch);
}

static inline enum hf_status th_info(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				     struct hf_reply *rep, uint64_t ev)
{
	struct hf_request req = {.opcode = HF_OP_EVENT_INFO};
	req.event_info.event_id = ev;
	return th_apply(s, &req, now_ms, rep, ch);
}

static inline enum hf_status th_avail(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				      struct hf_reply *rep, uint64_t ev, uint32_t first,
				      uint32_t count)
{
	struct hf_request req = {.opcode = HF_OP_AVAIL};
	req.avail = (struct hf_req_avail){ev, first, count};
	return th_apply(s, &req, now_ms, rep, ch);
}

/* State and owner of one seat through SEAT_STATUS. */
static inline enum hf_status th_seat(struct hf_store *s, struct hf_changes *ch, uint64_t now_ms,
				     uint64_t ev, uint32_t seat, uint8_t *state_out,
				     uint64_t *owner_out)
{
	static struct hf_request req;
	static struct hf_reply rep;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SEAT_STATUS;
	req.seat_status.event_id = ev;
	req.seat_status.seats_count = 1;
	req.seat_status.seats[0] = seat;
	enum hf_status st = th_apply(s, &req, now_ms, &rep, ch);
	if (st == HF_OK) {
		*state_out = rep.seat_status.seats[0].state;
		*owner_out = rep.seat_status.seats[0].owner_id;
	}
	return st;
}

/* One page of a user's holds (HF_OP_USER_HOLDS) or bookings (HF_OP_USER_BOOKINGS). */
static inline enum hf_status th_user_page(struct hf_store *s, struct hf_changes *ch, uint8_t opcode,
					  uint64_t now_ms, struct hf_reply *rep, uint64_t ev,
					  uint64_t user, uint64_t cursor_seq, uint64_t cursor_id,
					  uint32_t limit)
{
	struct hf_request req = {.opcode = opcode};
	req.user_holds = (struct hf_req_user_records){ev, user, cursor_seq, cursor_id, limit};
	return th_apply(s, &req, now_ms, rep, ch);
}

#endif
