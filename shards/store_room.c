/* The seat store's side of the waiting room (shards/room.h): which events have a room, the room
 * opcodes (JOIN, POSITION, ROOM_SET, ROOM_INFO), the admission check on HOLD, and the pumps that
 * admit buyers as the event's inventory allows (after each write on a room event; the timer only
 * expires admissions). Part of the store (layout in shards/store_int.h); the room itself knows
 * nothing of seats but the counts passed to it.
 *
 * INVARIANTS
 *   1. store->rooms[0 .. rooms_count) are exactly the indexes of the events whose `room` is set;
 * rooms are never removed (turned off, a room keeps its places).
 *   2. A room's records share their event's key prefix, so they load, back up and move with it. */
#include "shards/store_int.h"

#include "base/endian.h"
#include "shards/room.h"

#include <string.h>

static struct hf_room_inventory event_inventory(const struct event *ev)
{
	struct hf_room_inventory inv = {.free_count = ev->free_count, .held_count = ev->held_count};
	return inv;
}

/* Changes a pump may append and still leave keep for the ops that follow. */
static uint32_t pump_budget(const struct hf_changes *changes, uint32_t keep)
{
	uint32_t room = changes_room(changes);
	return room > keep ? room - keep : 0u;
}

static enum hf_status room_fail(struct hf_reply *rep, enum hf_status status, uint64_t detail)
{
	rep->status = (uint16_t)status;
	rep->detail = detail;
	return status;
}

static enum hf_status room_set(struct hf_store *store, struct event *ev,
			       const struct hf_req_room_set *r, struct hf_reply *rep,
			       struct hf_changes *changes)
{
	enum hf_status st = hf_room_params_check(&r->params);
	if (st != HF_OK)
		return room_fail(rep, st, 0);
	if (ev->room != NULL) {
		st = hf_room_set(ev->room, &r->params, changes);
		return st == HF_OK ? HF_OK : room_fail(rep, st, 0);
	}
	if (store->rooms_count >= HF_STORE_ROOMS_MAX)
		return room_fail(rep, HF_ERR_CAPACITY, 0);
	struct hf_room *room;
	if (hf_room_create(ev->id, &r->params, r->key, &room) != 0)
		return room_fail(rep, HF_ERR_CAPACITY, 0);
	ev->room = room;
	store->rooms[store->rooms_count++] = (uint32_t)(ev - store->events);
	hf_room_put_params(room, changes);
	return HF_OK;
}

enum hf_status store_room_op(struct hf_store *store, const struct hf_request *req, uint64_t now_ms,
			     struct hf_reply *rep, struct hf_changes *changes)
{
	/* Every room opcode's body starts with the event id. */
	uint32_t e = store_event_find(store, req->room_info.event_id);
	if (e == 0)
		return room_fail(rep, HF_NO_EVENT, 0);
	struct event *ev = &store->events[e - 1];
	struct hf_room_inventory inv = event_inventory(ev);
	enum hf_status st = HF_OK;
	/* Expired admissions first, so that a JOIN or POSITION sees the place as it now is. */
	if (ev->room != NULL && (req->opcode == HF_OP_JOIN || req->opcode == HF_OP_POSITION))
		hf_room_expire(ev->room, now_ms, pump_budget(changes, HF_OP_CHANGES_MAX), changes);
	switch (req->opcode) {
	case HF_OP_ROOM_SET:
		return room_set(store, ev, &req->room_set, rep, changes);
	case HF_OP_ROOM_INFO:
		if (ev->room == NULL)
			return room_fail(rep, HF_NO_ROOM, 0);
		hf_room_info(ev->room, now_ms, &inv, &rep->room_info);
		return HF_OK;
	case HF_OP_JOIN:
		if (ev->room == NULL)
			return room_fail(rep, HF_NO_ROOM, 0);
		st = hf_room_join(ev->room, req->join.user_id, now_ms, &inv, &rep->join, changes);
		break;
	case HF_OP_POSITION:
		if (ev->room == NULL)
			return room_fail(rep, HF_NO_ROOM, 0);
		st =
		    hf_room_position(ev->room, req->position.user_id, now_ms, &inv, &rep->position);
		break;
	default:
		HF_PANIC("not a room opcode: 0x%02x", req->opcode);
	}
	if (st != HF_OK)
		return room_fail(rep, st,
				 st == HF_ROOM_FULL ? hf_room_params_get(ev->room)->queue_max : 0);
	return HF_OK;
}

enum hf_status store_room_hold_check(struct hf_store *store, const struct event *ev,
				     const struct hf_req_hold *r, uint64_t now_ms)
{
	(void)store;
	if (ev->room == NULL)
		return HF_OK;
	const struct hf_room_token *token = (r->flags & HF_HOLD_FLAG_TOKEN) ? &r->token : NULL;
	return hf_room_token_check(ev->room, r->user_id, token, now_ms);
}

/* A HOLD that passed the token check ends its buyer's shopping, whether it got seats or found
 * none: a buyer who found nothing must not keep a shopper's place from those still waiting. Only
 * answers that come after the token check count (else a forged token with a bad argument could
 * end another buyer's admission). */
static int hold_used_admission(const struct hf_request *req, enum hf_status st)
{
	if (!(req->hold.flags & HF_HOLD_FLAG_TOKEN))
		return 0;
	switch (st) {
	case HF_OK:
	case HF_SEAT_TAKEN:
	case HF_NOT_ENOUGH:
	case HF_SEAT_RANGE:
	case HF_DUPLICATE_SEAT:
	case HF_ORPHAN_SEAT:
	case HF_USER_LIMIT:
		return 1;
	default:
		return 0;
	}
}

enum hf_status store_room_after(struct hf_store *store, const struct hf_request *req,
				enum hf_status st, uint64_t now_ms, struct hf_reply *rep,
				struct hf_changes *changes)
{
	/* Most stores have no room: one compare on every write, not a lookup. */
	if (store->rooms_count == 0 || !hf_op_info(req->opcode)->writes)
		return st;
	uint32_t e = store_event_find(store, req->room_info.event_id);
	if (e == 0 || store->events[e - 1].room == NULL)
		return st;
	struct event *ev = &store->events[e - 1];
	if (req->opcode == HF_OP_HOLD && hold_used_admission(req, st) &&
	    hf_room_params_get(ev->room)->enabled)
		hf_room_hold_placed(ev->room, req->hold.user_id,
				    pump_budget(changes, HF_OP_CHANGES_MAX), changes);
	struct hf_room_inventory inv = event_inventory(ev);
	hf_room_pump(ev->room, now_ms, &inv, pump_budget(changes, HF_OP_CHANGES_MAX), changes);
	if ((req->opcode != HF_OP_JOIN && req->opcode != HF_OP_POSITION) || st != HF_OK)
		return st;
	/* The answer is the place as the pump left it: admitted now, or its admission expired
	 * (requeued at the end, or dropped). */
	enum hf_status again =
	    hf_room_position(ev->room, req->join.user_id, now_ms, &inv, &rep->join);
	return again == HF_OK ? HF_OK : room_fail(rep, again, 0);
}

/* The timer expires admissions only. Admitting is left to the writes on the event (JOIN, POSITION,
 * HOLD, ...): the engine then answers a token only after the batch holding its admission is
 * durable, since a write that appended records makes its batch the event's last writer. */
uint32_t store_room_tick(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes)
{
	uint32_t used = 0;
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		struct event *ev = &store->events[store->rooms[i]];
		used += hf_room_expire(ev->room, now_ms, pump_budget(changes, 0), changes);
	}
	return used;
}

uint64_t store_room_next_ms(const struct hf_store *store)
{
	uint64_t best = UINT64_MAX;
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		uint64_t at = hf_room_next_expiry_ms(store->events[store->rooms[i]].room);
		if (at < best)
			best = at;
	}
	return best;
}

enum hf_status store_room_load(struct hf_store *store, const uint8_t *key, size_t key_size,
			       const uint8_t *value, size_t value_size)
{
	uint32_t e = store_event_find(store, hf_get_be64(key));
	if (e == 0)
		return HF_ERR_MALFORMED; /* the event record sorts first: a room without one */
	struct event *ev = &store->events[e - 1];
	if (key_size == 9u && key[8] == HF_ROOM_KEY_PARAMS) {
		if (ev->room != NULL)
			return HF_ERR_MALFORMED;
		if (store->rooms_count >= HF_STORE_ROOMS_MAX)
			return HF_ERR_CAPACITY;
		struct hf_room *room;
		enum hf_status st = hf_room_load_params(ev->id, value, value_size, &room);
		if (st != HF_OK)
			return st;
		ev->room = room;
		store->rooms[store->rooms_count++] = (uint32_t)(ev - store->events);
		return HF_OK;
	}
	if (key_size == 17u && key[8] == HF_ROOM_KEY_PLACE && ev->room != NULL)
		return hf_room_load_place(ev->room, hf_get_be64(key + 9), value, value_size);
	return HF_ERR_MALFORMED;
}

void store_room_stats(const struct hf_store *store, uint64_t now_ms, struct hf_rep_stats *stats)
{
	uint64_t joins = 0, admits = 0, expired = 0, refused = 0, waiting = 0;
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		const struct event *ev = &store->events[store->rooms[i]];
		struct hf_room_inventory inv = event_inventory(ev);
		struct hf_rep_room_info info;
		hf_room_info(ev->room, now_ms, &inv, &info);
		joins += info.joins;
		admits += info.admits;
		expired += info.expired;
		refused += info.refused;
		waiting += info.waiting_count;
	}
	hf_stats_add(stats, "room_joins", joins);
	hf_stats_add(stats, "room_admits", admits);
	hf_stats_add(stats, "room_admissions_expired", expired);
	hf_stats_add(stats, "room_holds_refused", refused);
	hf_stats_add(stats, "room_waiting", waiting);
}

uint64_t store_room_memory_bytes(const struct hf_store *store)
{
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < store->rooms_count; i++)
		bytes += hf_room_memory_bytes(store->events[store->rooms[i]].room);
	return bytes;
}

void store_room_check(const struct hf_store *store)
{
	HF_ASSERT(store->rooms_count <= HF_STORE_ROOMS_MAX);
	uint32_t with_room = 0;
	for (uint32_t ei = 0; ei < store->events_count; ei++)
		with_room += store->events[ei].room != NULL;
	HF_ASSERT(with_room == store->rooms_count);
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		HF_ASSERT(store->rooms[i] < store->events_count);
		HF_ASSERT(store->events[store->rooms[i]].room != NULL);
		hf_room_check(store->events[store->rooms[i]].room);
	}
}

void store_room_event_deleted(struct hf_store *store, uint32_t index)
{
	HF_ASSERT(index < store->events_count);
	struct event *ev = &store->events[index];
	if (ev->room == NULL)
		return;
	hf_room_destroy(ev->room);
	ev->room = NULL;
	/* Bounded by HF_STORE_ROOMS_MAX. */
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		if (store->rooms[i] == index) {
			store->rooms[i] = store->rooms[--store->rooms_count];
			return;
		}
	}
	HF_PANIC("event %u has a room that is not in the store's list", index);
}

void store_room_destroy_all(struct hf_store *store)
{
	for (uint32_t i = 0; i < store->rooms_count; i++) {
		hf_room_destroy(store->events[store->rooms[i]].room);
		store->events[store->rooms[i]].room = NULL;
	}
	store->rooms_count = 0;
}
