/* The waiting room of one event (see room.h for the model and the record format).
 *
 * INVARIANTS
 *   1. Every place is in exactly one of two FIFOs of place indexes: `waiting` (state WAITING) or
 *      `admitted` (ADMITTED or USED); waiting_count + admitted_count + used_count = places_count
 *      <= queue_max, and the user table finds each place by its user (one place per user).
 *   2. Seqs grow along both FIFOs; the waiting FIFO's seqs are consecutive, so a waiting place's
 *      position is seq - head seq + 1 (O(1)). Every place's seq is below next_seq.
 *   3. A place is admitted only from the head of `waiting` and only while admitted_count (buyers
 *      shopping) is below the target of the inventory (room_target); nobody is admitted while the
 *      event has no free seat.
 *   4. Every change of a place appends its record (PUT or DEL) in the same call, so the records
 *      always describe the FIFOs.
 *
 * STATES (a place):
 *   (none) --hf_room_join--> WAITING --room_admit--> ADMITTED --hf_room_hold_placed--> USED
 *   ADMITTED --room_expire (expiry)--> WAITING at the end (REQUEUE) | (none) (DROP)
 *   USED --room_expire (expiry)--> (none)
 */
#include "shards/room.h"

#include "base/assert.h"
#include "base/endian.h"
#include "shards/sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum place_state {
	PLACE_FREE = 0,
	PLACE_WAITING = 1,
	PLACE_ADMITTED = 2,
	PLACE_USED = 3,
};

#define ROOM_RECORD_VERSION 1u
#define PARAMS_VALUE_SIZE   (1u + 1u + 1u + 2u + 4u + 4u + HF_ROOM_KEY_SIZE)
#define PLACE_VALUE_SIZE    (1u + 1u + 8u + 8u)
#define PARAMS_KEY_SIZE	    9u
#define PLACE_KEY_SIZE	    17u

struct place {
	uint64_t user_id;
	uint64_t seq;
	uint64_t expires_ms; /* ADMITTED, USED: when the admission ends */
	uint8_t state;	     /* enum place_state */
};

/* A FIFO of place indexes, capacity = queue_max. */
struct fifo {
	uint32_t *items;
	uint32_t head;
	uint32_t count;
};

struct hf_room {
	uint64_t event_id;
	struct hf_room_params params;
	uint8_t key[HF_ROOM_KEY_SIZE];
	struct place *places; /* queue_max */
	uint32_t *free_list;  /* place indexes not in use */
	uint32_t free_count;
	struct fifo waiting;
	struct fifo admitted;
	uint32_t shopping_count; /* ADMITTED places */
	uint32_t used_count;	 /* USED places */
	uint32_t *users;	 /* user table: place index + 1, linear probing; 0 = empty */
	uint32_t users_mask;
	uint64_t next_seq;
	uint64_t rate_ms[HF_ROOM_RATE_SAMPLES]; /* ring of the last admission times */
	uint32_t rate_count;			/* samples in the ring */
	uint32_t rate_next;
	uint64_t joins, admits, expired, refused;
	size_t memory_bytes;
};

/* ---- FIFOs ---- */

static uint32_t fifo_get(const struct hf_room *room, const struct fifo *f, uint32_t i)
{
	HF_ASSERT(i < f->count);
	return f->items[(f->head + i) % room->params.queue_max];
}

static void fifo_push(const struct hf_room *room, struct fifo *f, uint32_t index)
{
	HF_ASSERT(f->count < room->params.queue_max);
	f->items[(f->head + f->count) % room->params.queue_max] = index;
	f->count++;
}

static uint32_t fifo_pop(const struct hf_room *room, struct fifo *f)
{
	HF_ASSERT(f->count > 0);
	uint32_t index = f->items[f->head];
	f->head = (f->head + 1u) % room->params.queue_max;
	f->count--;
	return index;
}

/* ---- The user table ---- */

static uint32_t user_hash(uint64_t user_id)
{
	return (uint32_t)hf_hash64(user_id ^ 0x726f6f6du);
}

/* The place index + 1 of user, or 0. */
static uint32_t user_find(const struct hf_room *room, uint64_t user_id)
{
	uint32_t i = user_hash(user_id) & room->users_mask;
	for (uint32_t probes = 0; probes <= room->users_mask; probes++) {
		uint32_t p = room->users[i];
		if (p == 0)
			return 0;
		if (room->places[p - 1].user_id == user_id)
			return p;
		i = (i + 1u) & room->users_mask;
	}
	HF_PANIC("room user table full");
}

static void user_insert(struct hf_room *room, uint32_t index)
{
	uint32_t i = user_hash(room->places[index].user_id) & room->users_mask;
	for (uint32_t probes = 0; probes <= room->users_mask; probes++) {
		if (room->users[i] == 0) {
			room->users[i] = index + 1u;
			return;
		}
		i = (i + 1u) & room->users_mask;
	}
	HF_PANIC("room user table full");
}

/* Backward-shift deletion keeps every probe sequence unbroken. */
static void user_remove(struct hf_room *room, uint32_t index)
{
	uint32_t i = user_hash(room->places[index].user_id) & room->users_mask;
	uint32_t probes = 0;
	while (room->users[i] != index + 1u) {
		HF_ASSERT(room->users[i] != 0);
		HF_ASSERT(probes++ <= room->users_mask);
		i = (i + 1u) & room->users_mask;
	}
	uint32_t hole = i;
	for (;;) {
		i = (i + 1u) & room->users_mask;
		uint32_t p = room->users[i];
		if (p == 0)
			break;
		uint32_t home = user_hash(room->places[p - 1].user_id) & room->users_mask;
		/* Move p into the hole when its home is not in (hole, i]. */
		if (((i - home) & room->users_mask) >= ((i - hole) & room->users_mask)) {
			room->users[hole] = p;
			hole = i;
		}
	}
	room->users[hole] = 0;
}

/* ---- Records ---- */

static struct hf_change *change_add(struct hf_changes *changes, uint8_t kind, const uint8_t *key,
				    uint8_t key_size)
{
	HF_ASSERT(changes->count < changes->capacity);
	HF_ASSERT(changes->values_size + HF_RECORD_VALUE_SIZE_MAX <= changes->values_capacity);
	struct hf_change *c = &changes->items[changes->count++];
	c->kind = kind;
	c->key_size = key_size;
	c->value_size = 0;
	c->value_offset = changes->values_size;
	memcpy(c->key, key, key_size);
	return c;
}

static void place_key(const struct hf_room *room, uint64_t seq, uint8_t key[PLACE_KEY_SIZE])
{
	hf_put_be64(key, room->event_id);
	key[8] = HF_ROOM_KEY_PLACE;
	hf_put_be64(key + 9, seq);
}

static void place_put(const struct hf_room *room, const struct place *p, struct hf_changes *changes)
{
	uint8_t key[PLACE_KEY_SIZE];
	place_key(room, p->seq, key);
	struct hf_change *c = change_add(changes, HF_CHANGE_PUT, key, sizeof(key));
	uint8_t *v = changes->values + c->value_offset;
	v[0] = ROOM_RECORD_VERSION;
	v[1] = p->state;
	hf_put_le64(v + 2, p->user_id);
	hf_put_le64(v + 10, p->expires_ms);
	c->value_size = PLACE_VALUE_SIZE;
	changes->values_size += PLACE_VALUE_SIZE;
}

static void place_del(const struct hf_room *room, uint64_t seq, struct hf_changes *changes)
{
	uint8_t key[PLACE_KEY_SIZE];
	place_key(room, seq, key);
	change_add(changes, HF_CHANGE_DEL, key, sizeof(key));
}

void hf_room_put_params(const struct hf_room *room, struct hf_changes *changes)
{
	uint8_t key[PARAMS_KEY_SIZE];
	hf_put_be64(key, room->event_id);
	key[8] = HF_ROOM_KEY_PARAMS;
	struct hf_change *c = change_add(changes, HF_CHANGE_PUT, key, sizeof(key));
	uint8_t *v = changes->values + c->value_offset;
	const struct hf_room_params *p = &room->params;
	v[0] = ROOM_RECORD_VERSION;
	v[1] = p->enabled;
	v[2] = p->policy;
	hf_put_le16(v + 3, p->shoppers_pct);
	hf_put_le32(v + 5, p->admit_ttl_ms);
	hf_put_le32(v + 9, p->queue_max);
	memcpy(v + 13, room->key, HF_ROOM_KEY_SIZE);
	c->value_size = PARAMS_VALUE_SIZE;
	changes->values_size += PARAMS_VALUE_SIZE;
}

/* ---- Create, parameters ---- */

enum hf_status hf_room_params_check(const struct hf_room_params *p)
{
	if (p->enabled > 1u || p->policy > HF_ROOM_DROP)
		return HF_ERR_INVALID;
	if (p->shoppers_pct == 0 || p->shoppers_pct > HF_ROOM_SHOPPERS_PCT_MAX)
		return HF_ERR_INVALID;
	if (p->admit_ttl_ms < HF_ROOM_ADMIT_TTL_MS_MIN ||
	    p->admit_ttl_ms > HF_ROOM_ADMIT_TTL_MS_MAX)
		return HF_ERR_INVALID;
	if (p->queue_max > HF_ROOM_QUEUE_SIZE_MAX)
		return HF_ERR_TOO_LARGE;
	return p->queue_max >= 1u ? HF_OK : HF_ERR_INVALID;
}

int hf_room_create(uint64_t event_id, const struct hf_room_params *params,
		   const uint8_t key[HF_ROOM_KEY_SIZE], struct hf_room **out)
{
	HF_ASSERT(hf_room_params_check(params) == HF_OK);
	HF_ASSERT(event_id != 0);
	uint32_t cap = params->queue_max;
	uint32_t table = 2u;
	while (table < 2u * cap)
		table *= 2u;
	struct hf_room *room = calloc(1, sizeof(*room));
	if (room == NULL)
		return -ENOMEM;
	room->places = calloc(cap, sizeof(*room->places));
	room->free_list = calloc(cap, sizeof(uint32_t));
	room->waiting.items = calloc(cap, sizeof(uint32_t));
	room->admitted.items = calloc(cap, sizeof(uint32_t));
	room->users = calloc(table, sizeof(uint32_t));
	if (!room->places || !room->free_list || !room->waiting.items || !room->admitted.items ||
	    !room->users) {
		hf_room_destroy(room);
		return -ENOMEM;
	}
	room->event_id = event_id;
	room->params = *params;
	memcpy(room->key, key, HF_ROOM_KEY_SIZE);
	room->users_mask = table - 1u;
	for (uint32_t i = 0; i < cap; i++)
		room->free_list[i] = cap - 1u - i;
	room->free_count = cap;
	room->next_seq = 1;
	room->memory_bytes = sizeof(*room) + (size_t)cap * (sizeof(struct place) + 12u) +
			     (size_t)table * sizeof(uint32_t);
	*out = room;
	return 0;
}

void hf_room_destroy(struct hf_room *room)
{
	if (room == NULL)
		return;
	free(room->places);
	free(room->free_list);
	free(room->waiting.items);
	free(room->admitted.items);
	free(room->users);
	free(room);
}

size_t hf_room_memory_bytes(const struct hf_room *room)
{
	return room->memory_bytes;
}

const struct hf_room_params *hf_room_params_get(const struct hf_room *room)
{
	return &room->params;
}

enum hf_status hf_room_set(struct hf_room *room, const struct hf_room_params *params,
			   struct hf_changes *changes)
{
	HF_ASSERT(hf_room_params_check(params) == HF_OK);
	if (params->queue_max != room->params.queue_max)
		return HF_ERR_INVALID;
	room->params = *params;
	hf_room_put_params(room, changes);
	return HF_OK;
}

/* ---- Places ---- */

static uint32_t place_acquire(struct hf_room *room, uint64_t user_id)
{
	HF_ASSERT(room->free_count > 0);
	uint32_t index = room->free_list[--room->free_count];
	struct place *p = &room->places[index];
	HF_ASSERT(p->state == PLACE_FREE);
	p->user_id = user_id;
	p->seq = room->next_seq++;
	p->expires_ms = 0;
	p->state = PLACE_WAITING;
	user_insert(room, index);
	return index;
}

static void place_release(struct hf_room *room, uint32_t index)
{
	struct place *p = &room->places[index];
	HF_ASSERT(p->state != PLACE_FREE);
	user_remove(room, index);
	p->state = PLACE_FREE;
	HF_ASSERT(room->free_count < room->params.queue_max);
	room->free_list[room->free_count++] = index;
}

static uint32_t places_count(const struct hf_room *room)
{
	return room->params.queue_max - room->free_count;
}

/* Buyers the inventory can serve at once: ceil(free * pct / 100). */
static uint64_t room_target(const struct hf_room *room, const struct hf_room_inventory *inv)
{
	return ((uint64_t)inv->free_count * room->params.shoppers_pct + 99u) / 100u;
}

static int room_sold_out(const struct hf_room_inventory *inv)
{
	return inv->free_count == 0 && inv->held_count == 0;
}

/* Expected wait of the waiting place at `position` (1-based): position admissions at the measured
 * rate, which counts the time since the oldest sample up to now (a stalled room looks slow). */
static uint32_t room_estimate_ms(const struct hf_room *room, uint32_t position, uint64_t now_ms)
{
	if (room->rate_count == 0)
		return UINT32_MAX;
	uint32_t oldest =
	    (room->rate_next + HF_ROOM_RATE_SAMPLES - room->rate_count) % HF_ROOM_RATE_SAMPLES;
	uint64_t span_ms = now_ms > room->rate_ms[oldest] ? now_ms - room->rate_ms[oldest] : 1u;
	uint64_t est = (uint64_t)position * span_ms / room->rate_count;
	return est >= UINT32_MAX ? UINT32_MAX - 1u : (uint32_t)est;
}

static void fill_position(const struct hf_room *room, const struct place *p, uint64_t now_ms,
			  struct hf_rep_room_position *out)
{
	memset(out, 0, sizeof(*out));
	out->waiting_count = room->waiting.count;
	if (p->state == PLACE_WAITING) {
		const struct place *head = &room->places[fifo_get(room, &room->waiting, 0)];
		HF_ASSERT(p->seq >= head->seq);
		out->state = HF_ROOM_WAITING;
		out->position = (uint32_t)(p->seq - head->seq) + 1u;
		out->estimate_ms = room_estimate_ms(room, out->position, now_ms);
		return;
	}
	HF_ASSERT(p->state == PLACE_ADMITTED || p->state == PLACE_USED);
	out->state = HF_ROOM_ADMITTED;
	hf_room_token_make(room, p->user_id, p->expires_ms, &out->token);
}

enum hf_status hf_room_join(struct hf_room *room, uint64_t user_id, uint64_t now_ms,
			    const struct hf_room_inventory *inv, struct hf_rep_room_position *out,
			    struct hf_changes *changes)
{
	if (!room->params.enabled)
		return HF_NO_ROOM;
	if (room_sold_out(inv))
		return HF_SOLD_OUT;
	uint32_t found = user_find(room, user_id);
	if (found != 0) {
		fill_position(room, &room->places[found - 1], now_ms, out);
		return HF_OK;
	}
	if (room->free_count == 0)
		return HF_ROOM_FULL;
	uint32_t index = place_acquire(room, user_id);
	fifo_push(room, &room->waiting, index);
	place_put(room, &room->places[index], changes);
	room->joins++;
	fill_position(room, &room->places[index], now_ms, out);
	return HF_OK;
}

enum hf_status hf_room_position(const struct hf_room *room, uint64_t user_id, uint64_t now_ms,
				const struct hf_room_inventory *inv,
				struct hf_rep_room_position *out)
{
	if (!room->params.enabled)
		return HF_NO_ROOM;
	if (room_sold_out(inv))
		return HF_SOLD_OUT;
	uint32_t found = user_find(room, user_id);
	if (found == 0)
		return HF_NOT_IN_QUEUE;
	fill_position(room, &room->places[found - 1], now_ms, out);
	return HF_OK;
}

/* The head of `admitted` has expired: its place goes to the end of the queue, or out. */
static void room_expire(struct hf_room *room, struct hf_changes *changes)
{
	uint32_t index = fifo_pop(room, &room->admitted);
	struct place *p = &room->places[index];
	if (p->state == PLACE_USED) {
		room->used_count--;
		place_del(room, p->seq, changes);
		place_release(room, index);
		return;
	}
	HF_ASSERT(p->state == PLACE_ADMITTED);
	room->shopping_count--;
	room->expired++;
	place_del(room, p->seq, changes);
	if (room->params.policy == HF_ROOM_DROP) {
		place_release(room, index);
		return;
	}
	p->seq = room->next_seq++;
	p->state = PLACE_WAITING;
	p->expires_ms = 0;
	fifo_push(room, &room->waiting, index);
	place_put(room, p, changes);
}

static void room_admit(struct hf_room *room, uint64_t now_ms, struct hf_changes *changes)
{
	uint32_t index = fifo_pop(room, &room->waiting);
	struct place *p = &room->places[index];
	HF_ASSERT(p->state == PLACE_WAITING);
	p->state = PLACE_ADMITTED;
	p->expires_ms = now_ms + room->params.admit_ttl_ms;
	fifo_push(room, &room->admitted, index);
	room->shopping_count++;
	room->admits++;
	room->rate_ms[room->rate_next] = now_ms;
	room->rate_next = (room->rate_next + 1u) % HF_ROOM_RATE_SAMPLES;
	if (room->rate_count < HF_ROOM_RATE_SAMPLES)
		room->rate_count++;
	place_put(room, p, changes);
}

/* Expires due admissions; returns the changes appended (at most changes_max), or UINT32_MAX when
 * one more was due but did not fit. */
static uint32_t room_expire_due(struct hf_room *room, uint64_t now_ms, uint32_t changes_max,
				struct hf_changes *changes)
{
	uint32_t used = 0;
	for (uint32_t n = 0; n < HF_ROOM_PUMP_MAX && room->admitted.count > 0; n++) {
		const struct place *head = &room->places[fifo_get(room, &room->admitted, 0)];
		if (head->expires_ms > now_ms)
			break;
		uint32_t need =
		    head->state == PLACE_ADMITTED && room->params.policy == HF_ROOM_REQUEUE ? 2u
											    : 1u;
		if (changes_max - used < need)
			return UINT32_MAX;
		room_expire(room, changes);
		used += need;
	}
	HF_ASSERT(used <= changes_max);
	return used;
}

uint32_t hf_room_expire(struct hf_room *room, uint64_t now_ms, uint32_t changes_max,
			struct hf_changes *changes)
{
	uint32_t used = room_expire_due(room, now_ms, changes_max, changes);
	return used == UINT32_MAX ? 0 : used;
}

uint64_t hf_room_next_expiry_ms(const struct hf_room *room)
{
	if (room->admitted.count == 0)
		return UINT64_MAX;
	return room->places[fifo_get(room, &room->admitted, 0)].expires_ms;
}

uint32_t hf_room_pump(struct hf_room *room, uint64_t now_ms, const struct hf_room_inventory *inv,
		      uint32_t changes_max, struct hf_changes *changes)
{
	uint32_t used = room_expire_due(room, now_ms, changes_max, changes);
	if (used == UINT32_MAX || !room->params.enabled)
		return 0;
	uint32_t admitted = 0;
	uint64_t target = room_target(room, inv);
	while (admitted < HF_ROOM_PUMP_MAX && room->waiting.count > 0 &&
	       room->shopping_count < target && used < changes_max) {
		room_admit(room, now_ms, changes);
		used++;
		admitted++;
	}
	HF_ASSERT(used <= changes_max);
	return admitted;
}

uint64_t hf_room_next_ms(const struct hf_room *room, const struct hf_room_inventory *inv)
{
	if (room->params.enabled && room->waiting.count > 0 &&
	    room->shopping_count < room_target(room, inv))
		return 0;
	if (room->admitted.count == 0)
		return UINT64_MAX;
	return room->places[fifo_get(room, &room->admitted, 0)].expires_ms;
}

/* ---- Tokens ---- */

void hf_room_token_make(const struct hf_room *room, uint64_t user_id, uint64_t expires_ms,
			struct hf_room_token *out)
{
	uint8_t msg[8 + 3 * 8];
	memcpy(msg, "hfroom01", 8);
	hf_put_le64(msg + 8, room->event_id);
	hf_put_le64(msg + 16, user_id);
	hf_put_le64(msg + 24, expires_ms);
	out->expires_ms = expires_ms;
	hf_hmac_sha256(room->key, HF_ROOM_KEY_SIZE, msg, sizeof(msg), out->mac);
}

enum hf_status hf_room_token_check(struct hf_room *room, uint64_t user_id,
				   const struct hf_room_token *token, uint64_t now_ms)
{
	if (!room->params.enabled)
		return HF_OK;
	if (token == NULL || token->expires_ms <= now_ms) {
		room->refused++;
		return HF_NOT_ADMITTED;
	}
	struct hf_room_token want;
	hf_room_token_make(room, user_id, token->expires_ms, &want);
	/* Constant time: the comparison does not tell how much of a forged MAC was right. */
	uint8_t diff = 0;
	for (uint32_t i = 0; i < HF_ROOM_MAC_SIZE; i++)
		diff |= (uint8_t)(want.mac[i] ^ token->mac[i]);
	if (diff != 0) {
		room->refused++;
		return HF_NOT_ADMITTED;
	}
	return HF_OK;
}

uint32_t hf_room_hold_placed(struct hf_room *room, uint64_t user_id, uint32_t changes_max,
			     struct hf_changes *changes)
{
	uint32_t found = user_find(room, user_id);
	if (found == 0 || changes_max == 0)
		return 0;
	struct place *p = &room->places[found - 1];
	if (p->state != PLACE_ADMITTED)
		return 0;
	p->state = PLACE_USED;
	room->shopping_count--;
	room->used_count++;
	place_put(room, p, changes);
	return 1;
}

void hf_room_info(const struct hf_room *room, uint64_t now_ms, const struct hf_room_inventory *inv,
		  struct hf_rep_room_info *out)
{
	memset(out, 0, sizeof(*out));
	out->params = room->params;
	out->waiting_count = room->waiting.count;
	out->admitted_count = room->shopping_count;
	out->holding_count = room->used_count;
	out->free_count = inv->free_count;
	out->sold_out = (uint8_t)room_sold_out(inv);
	out->estimate_ms =
	    room->waiting.count > 0 ? room_estimate_ms(room, room->waiting.count, now_ms) : 0;
	out->rate_per_min = 0;
	if (room->rate_count > 0) {
		uint32_t oldest = (room->rate_next + HF_ROOM_RATE_SAMPLES - room->rate_count) %
				  HF_ROOM_RATE_SAMPLES;
		uint64_t span_ms =
		    now_ms > room->rate_ms[oldest] ? now_ms - room->rate_ms[oldest] : 1u;
		uint64_t rate = (uint64_t)room->rate_count * 60000u / span_ms;
		out->rate_per_min = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	}
	out->joins = room->joins;
	out->admits = room->admits;
	out->expired = room->expired;
	out->refused = room->refused;
}

/* ---- Recovery ---- */

enum hf_status hf_room_load_params(uint64_t event_id, const uint8_t *value, size_t value_size,
				   struct hf_room **out)
{
	if (value_size != PARAMS_VALUE_SIZE || value[0] != ROOM_RECORD_VERSION)
		return HF_ERR_MALFORMED;
	struct hf_room_params p = {
	    .enabled = value[1],
	    .policy = value[2],
	    .shoppers_pct = hf_get_le16(value + 3),
	    .admit_ttl_ms = hf_get_le32(value + 5),
	    .queue_max = hf_get_le32(value + 9),
	};
	if (event_id == 0 || hf_room_params_check(&p) != HF_OK)
		return HF_ERR_MALFORMED;
	return hf_room_create(event_id, &p, value + 13, out) == 0 ? HF_OK : HF_ERR_CAPACITY;
}

enum hf_status hf_room_load_place(struct hf_room *room, uint64_t seq, const uint8_t *value,
				  size_t value_size)
{
	if (value_size != PLACE_VALUE_SIZE || value[0] != ROOM_RECORD_VERSION)
		return HF_ERR_MALFORMED;
	uint8_t state = value[1];
	uint64_t user_id = hf_get_le64(value + 2);
	if (state < PLACE_WAITING || state > PLACE_USED || seq < room->next_seq)
		return HF_ERR_MALFORMED;
	if (room->free_count == 0 || user_find(room, user_id) != 0)
		return HF_ERR_MALFORMED;
	/* Admitted places precede waiting ones (INVARIANT 2). */
	if (state != PLACE_WAITING && room->waiting.count > 0)
		return HF_ERR_MALFORMED;
	/* Waiting places have consecutive seqs. */
	if (state == PLACE_WAITING && room->waiting.count > 0 &&
	    seq != room->places[fifo_get(room, &room->waiting, room->waiting.count - 1u)].seq + 1u)
		return HF_ERR_MALFORMED;
	room->next_seq = seq;
	uint32_t index = place_acquire(room, user_id);
	struct place *p = &room->places[index];
	HF_ASSERT(p->seq == seq);
	p->state = state;
	p->expires_ms = hf_get_le64(value + 10);
	if (state == PLACE_WAITING) {
		fifo_push(room, &room->waiting, index);
	} else {
		fifo_push(room, &room->admitted, index);
		if (state == PLACE_ADMITTED)
			room->shopping_count++;
		else
			room->used_count++;
	}
	return HF_OK;
}

void hf_room_check(const struct hf_room *room)
{
	HF_ASSERT(room->shopping_count + room->used_count == room->admitted.count);
	HF_ASSERT(room->waiting.count + room->admitted.count == places_count(room));
	uint32_t shopping = 0;
	for (uint32_t i = 0; i < room->admitted.count; i++) {
		const struct place *p = &room->places[fifo_get(room, &room->admitted, i)];
		HF_ASSERT(p->state == PLACE_ADMITTED || p->state == PLACE_USED);
		HF_ASSERT(p->seq < room->next_seq);
		shopping += p->state == PLACE_ADMITTED;
		HF_ASSERT(user_find(room, p->user_id) == fifo_get(room, &room->admitted, i) + 1u);
		if (i > 0)
			HF_ASSERT(room->places[fifo_get(room, &room->admitted, i - 1)].seq <
				  p->seq);
	}
	HF_ASSERT(shopping == room->shopping_count);
	for (uint32_t i = 0; i < room->waiting.count; i++) {
		const struct place *p = &room->places[fifo_get(room, &room->waiting, i)];
		const struct place *head = &room->places[fifo_get(room, &room->waiting, 0)];
		HF_ASSERT(p->state == PLACE_WAITING);
		HF_ASSERT(p->seq == head->seq + i);
		HF_ASSERT(p->seq < room->next_seq);
		HF_ASSERT(user_find(room, p->user_id) == fifo_get(room, &room->waiting, i) + 1u);
	}
}
