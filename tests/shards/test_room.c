/* Goal: the waiting room admits fairly and by inventory: no buyer admitted twice, first come first
 * served, nobody admitted after sell-out unless a seat came back, and a seat that comes back
 * admits exactly enough buyers; tokens verify without a lookup and refuse every forgery; records
 * rebuild the same room. SHA-256 and HMAC-SHA256 match their published test vectors.
 * Method: unit tests for each rule and limit; then a model-based randomized run against a
 * deliberately simple reference (an array in arrival order with linear scans) driving joins,
 * holds by admitted buyers (seats taken), confirms, releases (seats back), time steps past
 * admission expiries under both policies, pumps with random change budgets, and reloads from the
 * records (PUT/DEL applied to a map). HF_SEED=<n> replays a run (the seed is printed);
 * HF_ROOM_OPS=<n> sets the op count (default 200,000). */
#include "shards/room.h"
#include "shards/store_int.h"
#include "shards/sha256.h"

#include "base/endian.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define EVENT 77u

static const uint8_t test_key[HF_ROOM_KEY_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	uint8_t d[HF_SHA256_SIZE];
	char h[2 * HF_SHA256_SIZE + 1];
	struct hf_sha256 c;
	hf_sha256_init(&c);
	hf_sha256_final(&c, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hf_sha256_init(&c);
	hf_sha256_update(&c, "abc", 3);
	hf_sha256_final(&c, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Two blocks, fed one byte at a time. */
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hf_sha256_init(&c);
	for (size_t i = 0; i < strlen(m); i++)
		hf_sha256_update(&c, m + i, 1);
	hf_sha256_final(&c, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* RFC 4231 test cases 1, 2 and 6 (a key longer than a block). */
	uint8_t k1[20];
	memset(k1, 0x0b, sizeof(k1));
	hf_hmac_sha256(k1, sizeof(k1), "Hi There", 8, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	hf_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	uint8_t k6[131];
	memset(k6, 0xaa, sizeof(k6));
	const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	hf_hmac_sha256(k6, sizeof(k6), m6, strlen(m6), d);
	hex(d, sizeof(d), h);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static struct hf_room_params params(uint32_t queue_max, uint8_t policy)
{
	struct hf_room_params p = {.enabled = 1,
				   .policy = policy,
				   .shoppers_pct = 100,
				   .admit_ttl_ms = 10000,
				   .queue_max = queue_max};
	return p;
}

static struct hf_changes ch;

static void test_params_limits(void **state)
{
	(void)state;
	struct hf_room_params p = params(10, HF_ROOM_REQUEUE);
	assert_int_equal(hf_room_params_check(&p), HF_OK);
	p.queue_max = HF_ROOM_QUEUE_SIZE_MAX;
	assert_int_equal(hf_room_params_check(&p), HF_OK);
	p.queue_max = HF_ROOM_QUEUE_SIZE_MAX + 1u;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_TOO_LARGE);
	p.queue_max = 0;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p = params(10, 2);
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p = params(10, 0);
	p.shoppers_pct = 0;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p.shoppers_pct = HF_ROOM_SHOPPERS_PCT_MAX + 1u;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p = params(10, 0);
	p.admit_ttl_ms = HF_ROOM_ADMIT_TTL_MS_MIN - 1u;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p.admit_ttl_ms = HF_ROOM_ADMIT_TTL_MS_MAX + 1u;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
	p.admit_ttl_ms = HF_ROOM_ADMIT_TTL_MS_MAX;
	p.enabled = 2;
	assert_int_equal(hf_room_params_check(&p), HF_ERR_INVALID);
}

/* Tokens: the admitted user's verifies; a forged, another user's, an expired one do not (5
 * refusals counted). */
static void check_tokens(struct hf_room *room)
{
	struct hf_room_token t;
	hf_room_token_make(room, 1, 11000, &t);
	assert_int_equal(hf_room_token_check(room, 1, &t, 5000), HF_OK);
	assert_int_equal(hf_room_token_check(room, 2, &t, 5000), HF_NOT_ADMITTED);
	assert_int_equal(hf_room_token_check(room, 1, &t, 11000), HF_NOT_ADMITTED);
	assert_int_equal(hf_room_token_check(room, 1, NULL, 5000), HF_NOT_ADMITTED);
	t.mac[31] ^= 1;
	assert_int_equal(hf_room_token_check(room, 1, &t, 5000), HF_NOT_ADMITTED);
	t.mac[31] ^= 1;
	t.expires_ms++;
	assert_int_equal(hf_room_token_check(room, 1, &t, 5000), HF_NOT_ADMITTED);
}

/* Joins, positions, the bound, one place per user, admission by free seats, tokens. */
static void test_join_admit_token(void **state)
{
	(void)state;
	struct hf_room *room;
	struct hf_room_params p = params(3, HF_ROOM_REQUEUE);
	assert_int_equal(hf_room_create(EVENT, &p, test_key, &room), 0);
	struct hf_room_inventory inv = {.free_count = 0, .held_count = 1};
	struct hf_rep_room_position pos;
	hf_changes_reset(&ch);
	for (uint64_t u = 1; u <= 3; u++) {
		assert_int_equal(hf_room_join(room, u, 1000, &inv, &pos, &ch), HF_OK);
		assert_int_equal(pos.state, HF_ROOM_WAITING);
		assert_int_equal(pos.position, u);
		assert_int_equal(pos.estimate_ms, UINT32_MAX);
	}
	assert_int_equal(ch.count, 3);
	/* The same user again: the same place, nothing appended. */
	assert_int_equal(hf_room_join(room, 2, 1000, &inv, &pos, &ch), HF_OK);
	assert_int_equal(pos.position, 2);
	assert_int_equal(ch.count, 3);
	assert_int_equal(hf_room_join(room, 4, 1000, &inv, &pos, &ch), HF_ROOM_FULL);
	assert_int_equal(hf_room_position(room, 4, 1000, &inv, &pos), HF_NOT_IN_QUEUE);
	/* No free seat: nobody admitted, but seats may come back. */
	assert_int_equal(hf_room_pump(room, 1000, &inv, 64, &ch), 0);
	assert_int_equal(hf_room_next_ms(room, &inv), UINT64_MAX);
	/* One seat comes back: exactly one buyer, the first. */
	inv.free_count = 1;
	assert_int_equal(hf_room_next_ms(room, &inv), 0);
	assert_int_equal(hf_room_pump(room, 1000, &inv, 64, &ch), 1);
	assert_int_equal(hf_room_pump(room, 1000, &inv, 64, &ch), 0);
	assert_int_equal(hf_room_position(room, 1, 1001, &inv, &pos), HF_OK);
	assert_int_equal(pos.state, HF_ROOM_ADMITTED);
	assert_int_equal(pos.token.expires_ms, 11000);
	assert_int_equal(hf_room_position(room, 2, 1001, &inv, &pos), HF_OK);
	assert_int_equal(pos.position, 1);
	assert_int_not_equal(pos.estimate_ms, UINT32_MAX);
	check_tokens(room);
	struct hf_rep_room_info info;
	hf_room_info(room, 5000, &inv, &info);
	assert_int_equal(info.refused, 5);
	assert_int_equal(info.waiting_count, 2);
	assert_int_equal(info.admitted_count, 1);
	/* The buyer holds the seat: it stops shopping; the seat is no longer free. */
	assert_int_equal(hf_room_hold_placed(room, 1, 1, &ch), 1);
	assert_int_equal(hf_room_hold_placed(room, 1, 1, &ch), 0);
	inv.free_count = 0;
	inv.held_count = 1;
	assert_int_equal(hf_room_pump(room, 2000, &inv, 64, &ch), 0);
	/* Sold out: every seat booked. */
	inv.held_count = 0;
	assert_int_equal(hf_room_join(room, 9, 2000, &inv, &pos, &ch), HF_SOLD_OUT);
	assert_int_equal(hf_room_position(room, 2, 2000, &inv, &pos), HF_SOLD_OUT);
	/* Off: no token needed, JOIN refused. */
	p.enabled = 0;
	assert_int_equal(hf_room_set(room, &p, &ch), HF_OK);
	assert_int_equal(hf_room_token_check(room, 5, NULL, 2000), HF_OK);
	assert_int_equal(hf_room_join(room, 9, 2000, &inv, &pos, &ch), HF_NO_ROOM);
	p.queue_max = 4;
	assert_int_equal(hf_room_set(room, &p, &ch), HF_ERR_INVALID);
	hf_room_check(room);
	hf_room_destroy(room);
}

/* An admission not used in time: REQUEUE sends it to the end, DROP out. */
static void test_expiry_policies(void **state)
{
	(void)state;
	for (uint8_t policy = HF_ROOM_REQUEUE; policy <= HF_ROOM_DROP; policy++) {
		struct hf_room *room;
		struct hf_room_params p = params(4, policy);
		assert_int_equal(hf_room_create(EVENT, &p, test_key, &room), 0);
		struct hf_room_inventory inv = {.free_count = 1, .held_count = 0};
		struct hf_rep_room_position pos;
		hf_changes_reset(&ch);
		for (uint64_t u = 1; u <= 3; u++)
			assert_int_equal(hf_room_join(room, u, 0, &inv, &pos, &ch), HF_OK);
		assert_int_equal(hf_room_pump(room, 0, &inv, 64, &ch), 1);
		assert_int_equal(hf_room_next_ms(room, &inv), 10000);
		/* A pump with no room for the requeue's two records does nothing. */
		assert_int_equal(hf_room_pump(room, 10000, &inv, 1, &ch), 0);
		assert_int_equal(hf_room_pump(room, 10000, &inv, 64, &ch), 1);
		struct hf_rep_room_info info;
		hf_room_info(room, 10000, &inv, &info);
		assert_int_equal(info.expired, 1);
		if (policy == HF_ROOM_REQUEUE) {
			assert_int_equal(hf_room_position(room, 1, 10000, &inv, &pos), HF_OK);
			assert_int_equal(pos.state, HF_ROOM_WAITING);
			assert_int_equal(pos.position, 2);
		} else {
			assert_int_equal(hf_room_position(room, 1, 10000, &inv, &pos),
					 HF_NOT_IN_QUEUE);
		}
		assert_int_equal(hf_room_position(room, 2, 10000, &inv, &pos), HF_OK);
		assert_int_equal(pos.state, HF_ROOM_ADMITTED);
		hf_room_check(room);
		hf_room_destroy(room);
	}
}

/* ---- Records: an ordered map of the PUT/DEL stream, loaded back ---- */

#define MAP_MAX 4096u
struct kv {
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
	uint8_t key_size;
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
	uint16_t value_size;
};
static struct kv map[MAP_MAX];
static uint32_t map_count;

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	size_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
	int c = memcmp(x->key, y->key, n);
	return c != 0 ? c : (int)x->key_size - (int)y->key_size;
}

static void map_apply(const struct hf_changes *changes)
{
	for (uint32_t i = 0; i < changes->count; i++) {
		const struct hf_change *c = &changes->items[i];
		uint32_t at = map_count;
		for (uint32_t j = 0; j < map_count; j++) {
			if (map[j].key_size == c->key_size &&
			    !memcmp(map[j].key, c->key, c->key_size))
				at = j;
		}
		if (c->kind == HF_CHANGE_DEL) {
			assert_true(at < map_count);
			map[at] = map[--map_count];
			continue;
		}
		if (at == map_count) {
			assert_true(map_count < MAP_MAX);
			map_count++;
		}
		map[at].key_size = c->key_size;
		memcpy(map[at].key, c->key, c->key_size);
		map[at].value_size = c->value_size;
		memcpy(map[at].value, hf_change_value(changes, c), c->value_size);
	}
}

static struct hf_room *map_load(void)
{
	qsort(map, map_count, sizeof(map[0]), kv_cmp);
	struct hf_room *room = NULL;
	for (uint32_t i = 0; i < map_count; i++) {
		assert_int_equal(hf_get_be64(map[i].key), EVENT);
		if (map[i].key[8] == HF_ROOM_KEY_PARAMS) {
			assert_null(room);
			assert_int_equal(
			    hf_room_load_params(EVENT, map[i].value, map[i].value_size, &room),
			    HF_OK);
		} else {
			assert_int_equal(map[i].key[8], HF_ROOM_KEY_PLACE);
			assert_non_null(room);
			assert_int_equal(hf_room_load_place(room, hf_get_be64(map[i].key + 9),
							    map[i].value, map[i].value_size),
					 HF_OK);
		}
	}
	assert_non_null(room);
	hf_room_check(room);
	return room;
}

static void test_records_reload_and_corrupt(void **state)
{
	(void)state;
	struct hf_room *room;
	struct hf_room_params p = params(8, HF_ROOM_REQUEUE);
	assert_int_equal(hf_room_create(EVENT, &p, test_key, &room), 0);
	struct hf_room_inventory inv = {.free_count = 2, .held_count = 0};
	struct hf_rep_room_position pos, again;
	map_count = 0;
	hf_changes_reset(&ch);
	hf_room_put_params(room, &ch);
	for (uint64_t u = 10; u < 15; u++)
		assert_int_equal(hf_room_join(room, u, 0, &inv, &pos, &ch), HF_OK);
	assert_int_equal(hf_room_pump(room, 0, &inv, 64, &ch), 2);
	map_apply(&ch);
	struct hf_room *back = map_load();
	for (uint64_t u = 10; u < 15; u++) {
		assert_int_equal(hf_room_position(room, u, 5, &inv, &pos), HF_OK);
		assert_int_equal(hf_room_position(back, u, 5, &inv, &again), HF_OK);
		assert_int_equal(pos.state, again.state);
		assert_int_equal(pos.position, again.position);
		assert_memory_equal(&pos.token, &again.token, sizeof(pos.token));
	}
	hf_room_destroy(back);
	/* Damaged records are refused, never trusted. */
	struct hf_room *r2 = NULL;
	uint8_t bad[64] = {0};
	assert_int_equal(hf_room_load_params(EVENT, bad, 10, &r2), HF_ERR_MALFORMED);
	assert_int_equal(hf_room_load_params(EVENT, bad, 45, &r2), HF_ERR_MALFORMED);
	bad[0] = 1;
	bad[1] = 9; /* enabled out of its domain */
	assert_int_equal(hf_room_load_params(EVENT, bad, 45, &r2), HF_ERR_MALFORMED);
	uint8_t place[18] = {1, 7};
	assert_int_equal(hf_room_load_place(room, 100, place, sizeof(place)), HF_ERR_MALFORMED);
	place[1] = 1;
	assert_int_equal(hf_room_load_place(room, 1, place, sizeof(place)), HF_ERR_MALFORMED);
	assert_int_equal(hf_room_load_place(room, 100, place, 17), HF_ERR_MALFORMED);
	hf_room_destroy(room);
}

/* ---- The room inside the store ---- */

static struct hf_request sreq;
static struct hf_reply srep;

static enum hf_status store_call(struct hf_store *st, uint64_t now_ms)
{
	sreq.request_id++;
	if (!hf_changes_has_room(&ch)) {
		map_apply(&ch);
		hf_changes_reset(&ch);
	}
	return hf_store_apply(st, &sreq, now_ms, &srep, &ch);
}

static void store_room_set(struct hf_store *st, uint64_t event_id, uint32_t queue_max)
{
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_CREATE_EVENT;
	sreq.create_event = (struct hf_req_create_event){
	    .event_id = event_id, .seats_count = 1, .hold_lifetime_max_s = 60};
	assert_int_equal(store_call(st, 1000), HF_OK);
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_ROOM_SET;
	sreq.room_set.event_id = event_id;
	sreq.room_set.params = params(queue_max, HF_ROOM_REQUEUE);
	memcpy(sreq.room_set.key, test_key, sizeof(test_key));
}

/* A store with HF_STORE_ROOMS_MAX events with a room of 4 places; one more is CAPACITY. */
static struct hf_store *store_with_rooms(const struct hf_store_config *cfg)
{
	struct hf_store *st;
	assert_int_equal(hf_store_create(cfg, &st), 0);
	map_count = 0;
	hf_changes_reset(&ch);
	for (uint64_t e = 1; e <= HF_STORE_ROOMS_MAX; e++) {
		store_room_set(st, e, 4);
		assert_int_equal(store_call(st, 1000), HF_OK);
	}
	store_room_set(st, HF_STORE_ROOMS_MAX + 1u, 4);
	assert_int_equal(store_call(st, 1000), HF_ERR_CAPACITY);
	return st;
}

/* A fresh store loaded from the records written so far. */
static struct hf_store *store_reload(const struct hf_store_config *cfg)
{
	map_apply(&ch);
	hf_changes_reset(&ch);
	qsort(map, map_count, sizeof(map[0]), kv_cmp);
	struct hf_store *back;
	assert_int_equal(hf_store_create(cfg, &back), 0);
	for (uint32_t i = 0; i < map_count; i++)
		assert_int_equal(hf_store_load(back, map[i].key, map[i].key_size, map[i].value,
					       map[i].value_size, 1002, &ch),
				 HF_OK);
	hf_store_check(back);
	return back;
}

/* Rooms through hf_store_apply: at most HF_STORE_ROOMS_MAX per store (CAPACITY past it), a HOLD
 * needs a token, a refused HOLD ends the buyer's shopping, and the store's records (events, rooms,
 * places, holds) load back into a store that answers the same. */
static void test_store_rooms(void **state)
{
	(void)state;
	struct hf_store_config cfg;
	hf_store_config_default(&cfg);
	cfg.events_max = 128;
	cfg.seats_max = 1024;
	cfg.records_max = 256;
	struct hf_store *st = store_with_rooms(&cfg);
	/* Event 1: one seat, buyers 7 and 8. */
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_JOIN;
	sreq.join.event_id = 1;
	sreq.join.user_id = 7;
	assert_int_equal(store_call(st, 1000), HF_OK);
	assert_int_equal(srep.join.state, HF_ROOM_ADMITTED);
	struct hf_room_token t7 = srep.join.token;
	sreq.join.user_id = 8;
	assert_int_equal(store_call(st, 1000), HF_OK);
	assert_int_equal(srep.join.state, HF_ROOM_WAITING);
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_HOLD;
	sreq.hold = (struct hf_req_hold){.event_id = 1,
					 .hold_id = 70,
					 .user_id = 7,
					 .ttl_ms = 5000,
					 .mode = HF_HOLD_BEST,
					 .seats_count = 2};
	assert_int_equal(store_call(st, 1000), HF_NOT_ADMITTED);
	sreq.hold.flags = HF_HOLD_FLAG_TOKEN;
	sreq.hold.token = t7;
	/* Two seats of one: NOT_ENOUGH, and buyer 7 stops shopping: buyer 8 is admitted. */
	assert_int_equal(store_call(st, 1000), HF_NOT_ENOUGH);
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_POSITION;
	sreq.position.event_id = 1;
	sreq.position.user_id = 8;
	assert_int_equal(store_call(st, 1001), HF_OK);
	assert_int_equal(srep.position.state, HF_ROOM_ADMITTED);
	struct hf_room_token t8 = srep.position.token;
	/* Reload from the records: same places, same key (old tokens verify). */
	struct hf_store *back = store_reload(&cfg);
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_HOLD;
	sreq.hold = (struct hf_req_hold){.event_id = 1,
					 .hold_id = 80,
					 .user_id = 8,
					 .ttl_ms = 5000,
					 .mode = HF_HOLD_BEST,
					 .flags = HF_HOLD_FLAG_TOKEN,
					 .seats_count = 1,
					 .token = t8};
	assert_int_equal(store_call(back, 1003), HF_OK);
	memset(&sreq, 0, sizeof(sreq));
	sreq.opcode = HF_OP_ROOM_INFO;
	sreq.room_info.event_id = 1;
	assert_int_equal(store_call(back, 1003), HF_OK);
	assert_int_equal(srep.room_info.holding_count, 2);
	assert_int_equal(srep.room_info.free_count, 0);
	sreq.room_info.event_id = HF_STORE_ROOMS_MAX + 1u;
	assert_int_equal(store_call(back, 1003), HF_NO_ROOM);
	hf_store_destroy(back);
	hf_store_destroy(st);
}

/* A buyer asks for its place after its admission expired but before any tick: the answer is what
 * the expiry made of it (DROP: out of the room; REQUEUE: waiting at the end), never a stale
 * admission. */
static void test_store_expired_admission(void **state)
{
	(void)state;
	for (uint8_t policy = HF_ROOM_REQUEUE; policy <= HF_ROOM_DROP; policy++) {
		struct hf_store_config cfg;
		hf_store_config_default(&cfg);
		cfg.events_max = 4;
		cfg.seats_max = 64;
		cfg.records_max = 64;
		struct hf_store *st;
		assert_int_equal(hf_store_create(&cfg, &st), 0);
		map_count = 0;
		hf_changes_reset(&ch);
		store_room_set(st, 5, 4);
		sreq.room_set.params.policy = policy;
		assert_int_equal(store_call(st, 1000), HF_OK);
		memset(&sreq, 0, sizeof(sreq));
		sreq.opcode = HF_OP_JOIN;
		sreq.join = (struct hf_req_join){5, 1};
		assert_int_equal(store_call(st, 1000), HF_OK);
		assert_int_equal(srep.join.state, HF_ROOM_ADMITTED);
		sreq.join.user_id = 2;
		assert_int_equal(store_call(st, 1000), HF_OK);
		assert_int_equal(srep.join.state, HF_ROOM_WAITING);
		/* 10 s later, user 1's admission has expired; user 2 is admitted in its place. */
		sreq.opcode = HF_OP_POSITION;
		sreq.position.user_id = 1;
		enum hf_status want = policy == HF_ROOM_DROP ? HF_NOT_IN_QUEUE : HF_OK;
		assert_int_equal(store_call(st, 11000), want);
		if (policy == HF_ROOM_REQUEUE) {
			assert_int_equal(srep.position.state, HF_ROOM_WAITING);
			assert_int_equal(srep.position.position, 1);
		}
		sreq.position.user_id = 2;
		assert_int_equal(store_call(st, 11000), HF_OK);
		assert_int_equal(srep.position.state, HF_ROOM_ADMITTED);
		/* JOIN again: dropped, user 1 takes a new place at the end; requeued, it keeps its.
		 */
		sreq.opcode = HF_OP_JOIN;
		sreq.join.user_id = 1;
		assert_int_equal(store_call(st, 11001), HF_OK);
		assert_int_equal(srep.join.state, HF_ROOM_WAITING);
		assert_int_equal(srep.join.position, 1);
		hf_store_check(st);
		hf_store_destroy(st);
	}
}

/* ---- The model-based run ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

#define M_USERS	 64u
#define M_SEATS	 12u
#define M_PLACES 40u

/* The reference: each user's state and a global arrival counter; order by arrival. */
struct m_user {
	int state;	  /* 0 none, 1 waiting, 2 admitted, 3 used */
	uint64_t arrival; /* when it (re)joined the end of the queue */
	uint64_t expires_ms;
	uint32_t admitted_times; /* admissions of this user since it last joined */
	uint64_t admit_order;	 /* when it was admitted (admissions expire in this order) */
	int held_seat;		 /* -1 none; else the seat it holds */
};
static struct m_user mu[M_USERS + 1];
static uint64_t m_arrivals;
static uint64_t m_admissions;
static int seat_state[M_SEATS]; /* 0 free, 1 held, 2 booked */

static struct hf_room_inventory m_inv(void)
{
	struct hf_room_inventory inv = {0, 0};
	for (uint32_t s = 0; s < M_SEATS; s++) {
		inv.free_count += seat_state[s] == 0;
		inv.held_count += seat_state[s] == 1;
	}
	return inv;
}

static uint32_t m_count(int state)
{
	uint32_t n = 0;
	for (uint32_t u = 1; u <= M_USERS; u++)
		n += mu[u].state == state;
	return n;
}

/* The waiting user with the lowest arrival, or 0. */
static uint32_t m_head(void)
{
	uint32_t best = 0;
	for (uint32_t u = 1; u <= M_USERS; u++) {
		if (mu[u].state == 1 && (best == 0 || mu[u].arrival < mu[best].arrival))
			best = u;
	}
	return best;
}

static uint32_t m_position(uint32_t user)
{
	uint32_t pos = 1;
	for (uint32_t u = 1; u <= M_USERS; u++)
		pos += mu[u].state == 1 && mu[u].arrival < mu[user].arrival;
	return pos;
}

/* What the room must do in a pump with enough budget: expire, then admit up to the target. */
static void m_pump(uint64_t now, uint8_t policy, uint32_t pct, uint32_t *admitted_out)
{
	/* Expire in admission order (the ttl is fixed, so in expiry order). */
	for (;;) {
		uint32_t u = 0;
		for (uint32_t v = 1; v <= M_USERS; v++) {
			if ((mu[v].state == 2 || mu[v].state == 3) && mu[v].expires_ms <= now &&
			    (u == 0 || mu[v].admit_order < mu[u].admit_order))
				u = v;
		}
		if (u == 0)
			break;
		{
			if (mu[u].state == 2 && policy == HF_ROOM_REQUEUE) {
				mu[u].state = 1;
				mu[u].arrival = ++m_arrivals;
				mu[u].admitted_times = 0;
			} else {
				mu[u].state = 0;
			}
		}
	}
	struct hf_room_inventory inv = m_inv();
	uint64_t target = ((uint64_t)inv.free_count * pct + 99u) / 100u;
	uint32_t admitted = 0;
	while (m_count(2) < target && m_head() != 0) {
		uint32_t h = m_head();
		mu[h].state = 2;
		mu[h].expires_ms = now + 10000u;
		mu[h].admitted_times++;
		mu[h].admit_order = ++m_admissions;
		assert_int_equal(mu[h].admitted_times, 1); /* never admitted twice */
		admitted++;
	}
	*admitted_out = admitted;
}

static void m_compare(const struct hf_room *room, uint64_t now)
{
	struct hf_room_inventory inv = m_inv();
	for (uint32_t u = 1; u <= M_USERS; u++) {
		struct hf_rep_room_position pos;
		enum hf_status st = hf_room_position(room, u, now, &inv, &pos);
		if (inv.free_count == 0 && inv.held_count == 0) {
			assert_int_equal(st, HF_SOLD_OUT);
			continue;
		}
		if (mu[u].state == 0) {
			assert_int_equal(st, HF_NOT_IN_QUEUE);
			continue;
		}
		assert_int_equal(st, HF_OK);
		if (mu[u].state == 1) {
			assert_int_equal(pos.state, HF_ROOM_WAITING);
			assert_int_equal(pos.position, m_position(u));
		} else {
			assert_int_equal(pos.state, HF_ROOM_ADMITTED);
			assert_int_equal(pos.token.expires_ms, mu[u].expires_ms);
		}
	}
	struct hf_rep_room_info info;
	hf_room_info(room, now, &inv, &info);
	assert_int_equal(info.waiting_count, m_count(1));
	assert_int_equal(info.admitted_count, m_count(2));
	assert_int_equal(info.holding_count, m_count(3));
}

/* One random step; returns the (maybe reloaded) room. */
static struct hf_room *m_step(struct hf_room *room, uint64_t *now, uint8_t policy)
{
	struct hf_room_inventory inv = m_inv();
	uint32_t u = 1 + below(M_USERS);
	uint32_t r = below(100);
	if (r < 30) {
		struct hf_rep_room_position pos;
		enum hf_status st = hf_room_join(room, u, *now, &inv, &pos, &ch);
		int sold = inv.free_count == 0 && inv.held_count == 0;
		uint32_t places = m_count(1) + m_count(2) + m_count(3);
		if (sold)
			assert_int_equal(st, HF_SOLD_OUT);
		else if (mu[u].state == 0 && places >= M_PLACES)
			assert_int_equal(st, HF_ROOM_FULL);
		else
			assert_int_equal(st, HF_OK);
		if (st == HF_OK && mu[u].state == 0) {
			mu[u].state = 1;
			mu[u].arrival = ++m_arrivals;
			mu[u].admitted_times = 0;
		}
	} else if (r < 50) {
		/* An admitted buyer takes a free seat with its token. */
		if (mu[u].state != 2 || inv.free_count == 0)
			return room;
		struct hf_room_token t;
		hf_room_token_make(room, u, mu[u].expires_ms, &t);
		if (mu[u].expires_ms <= *now) {
			/* Expired, even before a pump has noticed. */
			assert_int_equal(hf_room_token_check(room, u, &t, *now), HF_NOT_ADMITTED);
			return room;
		}
		assert_int_equal(hf_room_token_check(room, u, &t, *now), HF_OK);
		uint32_t s = 0;
		while (seat_state[s] != 0)
			s++;
		seat_state[s] = 1;
		mu[u].held_seat = (int)s;
		assert_int_equal(hf_room_hold_placed(room, u, 1, &ch), 1);
		mu[u].state = 3;
	} else if (r < 62) {
		/* A hold ends: confirmed (the seat is gone) or released (it comes back). */
		uint32_t s = below(M_SEATS);
		if (seat_state[s] == 1)
			seat_state[s] = below(2) ? 2 : 0;
		else if (seat_state[s] == 2 && below(8) == 0)
			seat_state[s] = 0; /* a cancelled booking: the seat comes back */
	} else if (r < 80) {
		*now += below(4000);
	} else if (r < 97) {
		/* A pump with enough budget does exactly what the model does. */
		uint32_t want = 0;
		m_pump(*now, policy, 100, &want);
		uint32_t got = hf_room_pump(room, *now, &inv, 4u * HF_ROOM_PUMP_MAX, &ch);
		assert_int_equal(got, want);
		/* A seat that comes back admitted exactly enough: no more, no fewer. */
		inv = m_inv();
		if (m_head() != 0)
			assert_int_equal(m_count(2), inv.free_count);
		if (inv.free_count == 0)
			assert_int_equal(want, 0);
	} else {
		map_apply(&ch);
		hf_changes_reset(&ch);
		hf_room_destroy(room);
		return map_load();
	}
	return room;
}

static void test_model(void **state)
{
	(void)state;
	const char *seed_env = getenv("HF_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
	const char *ops_env = getenv("HF_ROOM_OPS");
	uint32_t ops = ops_env ? (uint32_t)strtoul(ops_env, NULL, 0) : 200000u;
	printf("room model: HF_SEED=%" PRIu64 " HF_ROOM_OPS=%u\n", seed, ops);
	rng_state = seed;
	for (uint8_t policy = HF_ROOM_REQUEUE; policy <= HF_ROOM_DROP; policy++) {
		memset(mu, 0, sizeof(mu));
		memset(seat_state, 0, sizeof(seat_state));
		m_arrivals = 0;
		m_admissions = 0;
		map_count = 0;
		struct hf_room *room;
		struct hf_room_params p = params(M_PLACES, policy);
		assert_int_equal(hf_room_create(EVENT, &p, test_key, &room), 0);
		hf_changes_reset(&ch);
		hf_room_put_params(room, &ch);
		uint64_t now = 1000;
		for (uint32_t i = 0; i < ops / 2u; i++) {
			/* Keep the change list from filling: flush it into the map. */
			if (ch.count + 2u * HF_ROOM_PUMP_MAX + 8u >= ch.capacity) {
				map_apply(&ch);
				hf_changes_reset(&ch);
			}
			room = m_step(room, &now, policy);
			if (i % 64u == 0) {
				m_compare(room, now);
				hf_room_check(room);
			}
		}
		hf_room_destroy(room);
	}
}

int main(void)
{
	if (hf_changes_init(&ch, 8u * HF_ROOM_PUMP_MAX) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_vectors),
	    cmocka_unit_test(test_params_limits),
	    cmocka_unit_test(test_join_admit_token),
	    cmocka_unit_test(test_expiry_policies),
	    cmocka_unit_test(test_records_reload_and_corrupt),
	    cmocka_unit_test(test_store_rooms),
	    cmocka_unit_test(test_store_expired_admission),
	    cmocka_unit_test(test_model),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	hf_changes_deinit(&ch);
	return failed;
}
