/* The waiting room of one event: a pure queue model tied to the event's inventory.
 *
 * A buyer JOINs and gets a place at the end of a bounded FIFO (one place per user). The room
 * admits from the head while fewer buyers shop than the inventory can serve: at most
 * ceil(free_seats * shoppers_pct / 100) admitted buyers shop at once (an admitted buyer who placed
 * a hold no longer shops; when the hold is confirmed the seat is gone, when it is released or
 * expires the seat comes back and the room admits again). With no free seat it admits nobody; with
 * no free and no held seat (every seat booked) it is sold out. An admission is an HMAC-SHA256
 * token over (event, user, expiry) under the room's key, checked by the shard without a lookup; an
 * admission not used before it expires goes back to the end of the queue or out (the policy).
 *
 * Pure: no clock, no I/O, no allocation after create. The caller passes the time and the event's
 * counts (struct hf_room_inventory) and the room appends its records to a change list (the store's
 * record format, keys starting with the big-endian event id):
 *   be64(event) 'P'            -> the room's parameters and key (room_put_params)
 *   be64(event) 'Q' be64(seq)  -> one place: user, state, admission expiry
 * Thread-safety: a room belongs to its store's thread. */
#ifndef HF_SHARDS_ROOM_H
#define HF_SHARDS_ROOM_H

#include "proto/proto.h"
#include "shards/store.h"

#include <stddef.h>
#include <stdint.h>

struct hf_room;

/* What the room needs to know about the event's seats. */
struct hf_room_inventory {
	uint32_t free_count; /* seats neither held nor booked */
	uint32_t held_count; /* seats in live holds (they may come back) */
};

/* Admissions (and expiries) one pump does at most: a bound on one call's work. */
#define HF_ROOM_PUMP_MAX 256u
/* Admission times kept to measure the admission rate (the estimates' basis). */
#define HF_ROOM_RATE_SAMPLES 256u
/* Changes one JOIN or hf_room_hold_placed appends at most; a requeue appends 2. */
#define HF_ROOM_OP_CHANGES_MAX 1u
#define HF_ROOM_KEY_PARAMS     'P'
#define HF_ROOM_KEY_PLACE      'Q'

/* HF_OK when params are in their domains (policy known, 1 <= shoppers_pct <= 10000, admit ttl
 * within [HF_ROOM_ADMIT_TTL_MS_MIN, MAX], 1 <= queue_max), HF_ERR_TOO_LARGE for queue_max past
 * HF_ROOM_QUEUE_SIZE_MAX, else HF_ERR_INVALID. */
enum hf_status hf_room_params_check(const struct hf_room_params *params);

/* Allocates a room of params->queue_max places (checked params). Returns 0, or -ENOMEM. */
int hf_room_create(uint64_t event_id, const struct hf_room_params *params,
		   const uint8_t key[HF_ROOM_KEY_SIZE], struct hf_room **out);
void hf_room_destroy(struct hf_room *room);
size_t hf_room_memory_bytes(const struct hf_room *room);

const struct hf_room_params *hf_room_params_get(const struct hf_room *room);
/* New parameters (checked) for a room: HF_OK and appends the 'P' record (1 change), or
 * HF_ERR_INVALID when queue_max differs from the room's (its pools are fixed). */
enum hf_status hf_room_set(struct hf_room *room, const struct hf_room_params *params,
			   struct hf_changes *changes);
/* Appends the room's 'P' record (1 change). */
void hf_room_put_params(const struct hf_room *room, struct hf_changes *changes);

/* JOIN: a place for user (or its existing one: idempotent, nothing appended). HF_OK and *out;
 * HF_NO_ROOM (off), HF_SOLD_OUT, HF_ROOM_FULL (detail: the caller's, = queue_max). Appends at most
 * HF_ROOM_OP_CHANGES_MAX changes. */
enum hf_status hf_room_join(struct hf_room *room, uint64_t user_id, uint64_t now_ms,
			    const struct hf_room_inventory *inv, struct hf_rep_room_position *out,
			    struct hf_changes *changes);
/* POSITION: HF_OK and *out, HF_NO_ROOM, HF_SOLD_OUT or HF_NOT_IN_QUEUE. Changes nothing. */
enum hf_status hf_room_position(const struct hf_room *room, uint64_t user_id, uint64_t now_ms,
				const struct hf_room_inventory *inv,
				struct hf_rep_room_position *out);

/* Expires due admissions (policy) and admits from the head up to the inventory's target, appending
 * at most changes_max changes and doing at most HF_ROOM_PUMP_MAX of each. Returns the admissions
 * made. */
uint32_t hf_room_pump(struct hf_room *room, uint64_t now_ms, const struct hf_room_inventory *inv,
		      uint32_t changes_max, struct hf_changes *changes);
/* Only the expiries of hf_room_pump (no admission): returns the changes appended. */
uint32_t hf_room_expire(struct hf_room *room, uint64_t now_ms, uint32_t changes_max,
			struct hf_changes *changes);
/* The earliest admission expiry, or UINT64_MAX. */
uint64_t hf_room_next_expiry_ms(const struct hf_room *room);
/* When the room next wants a pump: 0 when it could admit now, the earliest admission expiry, or
 * UINT64_MAX. */
uint64_t hf_room_next_ms(const struct hf_room *room, const struct hf_room_inventory *inv);

/* HOLD: HF_OK when the room is off or the token is valid for (event, user) and unexpired at now_ms,
 * else HF_NOT_ADMITTED (counted). token NULL: none sent. */
enum hf_status hf_room_token_check(struct hf_room *room, uint64_t user_id,
				   const struct hf_room_token *token, uint64_t now_ms);
void hf_room_token_make(const struct hf_room *room, uint64_t user_id, uint64_t expires_ms,
			struct hf_room_token *out);
/* A HOLD of user succeeded with a token: the buyer stops shopping. Appends 0 or 1 change (only
 * when changes_max >= 1). Returns the changes appended. */
uint32_t hf_room_hold_placed(struct hf_room *room, uint64_t user_id, uint32_t changes_max,
			     struct hf_changes *changes);

void hf_room_info(const struct hf_room *room, uint64_t now_ms, const struct hf_room_inventory *inv,
		  struct hf_rep_room_info *out);

/* Recovery: the 'P' record creates the room (HF_OK, HF_ERR_MALFORMED, HF_ERR_CAPACITY when
 * memory fails); each 'Q' record (ascending seq, as keys sort) restores one place. */
enum hf_status hf_room_load_params(uint64_t event_id, const uint8_t *value, size_t value_size,
				   struct hf_room **out);
enum hf_status hf_room_load_place(struct hf_room *room, uint64_t seq, const uint8_t *value,
				  size_t value_size);

/* O(places) consistency check; panics on the first violation. */
void hf_room_check(const struct hf_room *room);

#endif
