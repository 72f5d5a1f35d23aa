/* Goal: EVENT_DELETE and a slot's export and import (shards/store_move.h) keep every store promise:
 * a delete is refused while holds live unless forced, frees the event's memory for the next event
 * and leaves nothing of it (holds, tombstones, seats); a slot exported in chunks while ops keep
 * changing it, with the captured changes applied before each chunk, arrives equal (every seat's
 * owner and user, every hold's replay answer and deadline, every tombstone); bad streams and
 * conflicting records are refused, never crash. Method: small stores; the move test drives random
 * ops on a source between export chunks (seed printed, HF_SEED replays) and compares source and
 * target seat by seat and id by id; hf_store_check after each test. */
#include "base/endian.h"
#include "shards/store_int.h"
#include "shards/store_move.h"
#include "store_helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define T0 1700000000000ull
#define EV 7u

struct fixture {
	struct hf_store *s;
	struct hf_store *t; /* a target store */
	struct hf_changes ch;
	struct hf_reply rep;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hf_store_config cfg = {4, 1u << 16, 4096, 60000};
	assert_int_equal(hf_store_create(&cfg, &f->s), 0);
	assert_int_equal(hf_store_create(&cfg, &f->t), 0);
	assert_int_equal(hf_changes_init(&f->ch, 1024), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hf_store_check(f->s);
	hf_store_check(f->t);
	hf_store_destroy(f->s);
	hf_store_destroy(f->t);
	hf_changes_deinit(&f->ch);
	free(f);
	return 0;
}

static enum hf_status del_event(struct fixture *f, uint64_t ev, uint32_t flags, uint64_t now)
{
	struct hf_request req = {.opcode = HF_OP_EVENT_DELETE};
	req.event_delete.event_id = ev;
	req.event_delete.flags = flags;
	return th_apply(f->s, &req, now, &f->rep, &f->ch);
}

static void test_event_delete(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(del_event(f, EV, 0, T0), HF_NO_EVENT);
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 0, 0), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 9, 60000, 2, 3u, 4u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 9, 60000, 1, 5u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 2), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 3, 9, 60000, 1, 6u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 3), HF_OK);
	/* Live holds: refused with their count, nothing changes. */
	hf_changes_reset(&f->ch);
	assert_int_equal(del_event(f, EV, 0, T0), HF_EVENT_HAS_HOLDS);
	assert_int_equal(f->rep.detail, 1);
	assert_int_equal(f->ch.count, 0);
	/* Forced: one DEL_RANGE of the event's key prefix. */
	assert_int_equal(del_event(f, EV, HF_EVENT_DELETE_FORCE, T0), HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(f->ch.items[0].kind, HF_CHANGE_DEL_RANGE);
	assert_int_equal(f->ch.items[0].key_size, 8);
	assert_int_equal(hf_get_be64(f->ch.items[0].key), EV);
	assert_int_equal(th_info(f->s, &f->ch, T0, &f->rep, EV), HF_NO_EVENT);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 9, 60000, 2, 3u, 4u),
			 HF_NO_EVENT);
	struct hf_store_counts c;
	hf_store_counts(f->s, &c);
	assert_int_equal(c.events_count, 0);
	assert_int_equal(c.holds_count + c.bookings_count + c.tombstones_count, 0);
	assert_int_equal(c.seats_count, 0);
	/* The id is free again: a new event, every seat free, the old hold ids forgotten. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 50, 0, 0, 0), HF_OK);
	assert_int_equal(th_info(f->s, &f->ch, T0, &f->rep, EV), HF_OK);
	assert_int_equal(f->rep.event_info.free_count, 50);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 8, 60000, 1, 5u), HF_OK);
	/* Expired holds do not block a delete. */
	assert_int_equal(del_event(f, EV, 0, T0 + 61000), HF_OK);
}

/* A deleted event's slot and arena are reused: events_max events can come and go forever. */
static void test_event_delete_reuse(void **state)
{
	struct fixture *f = *state;
	for (uint64_t ev = 1; ev <= 4; ev++)
		assert_int_equal(th_create(f->s, &f->ch, ev, 1000, 0, 0, 0), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, 5, 1000, 0, 0, 0), HF_ERR_CAPACITY);
	struct hf_store_counts before;
	hf_store_counts(f->s, &before);
	for (uint64_t ev = 5; ev < 200; ev++) {
		assert_int_equal(del_event(f, ev - 4, 0, T0), HF_OK);
		assert_int_equal(th_create(f->s, &f->ch, ev, 1000 - (uint32_t)(ev % 7), 0, 0, 0),
				 HF_OK);
		assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, ev, 1, 1, 1000, 1, 999u - 6u),
				 HF_OK);
		assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, ev, 1), HF_OK);
	}
	struct hf_store_counts after;
	hf_store_counts(f->s, &after);
	assert_int_equal(after.events_count, 4);
	assert_true(after.memory_bytes <= before.memory_bytes + 4u * 4096u);
	/* A larger event than any freed one: a fresh arena extent, while there is arena left. */
	assert_int_equal(del_event(f, 199, 0, T0), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, 500, 20000, 0, 0, 0), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, 501, 10, 0, 0, 0), HF_ERR_CAPACITY);
}

/* ---- The move: random ops on the source between chunks ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Two events of one slot and one of another. */
static uint64_t g_events[3];

static void pick_events(void)
{
	uint16_t slot = hf_slot_of(1000);
	uint32_t n = 0;
	for (uint64_t id = 1000; n < 2; id++)
		if (hf_slot_of(id) == slot)
			g_events[n++] = id;
	for (uint64_t id = 1001;; id++)
		if (hf_slot_of(id) != slot) {
			g_events[2] = id;
			break;
		}
}

static void random_op(struct fixture *f, struct rng *r, uint64_t now, struct hf_changes *ch)
{
	uint64_t ev = g_events[rng_next(r) % 3];
	uint64_t id = 1 + rng_next(r) % 64;
	uint32_t kind = (uint32_t)(rng_next(r) % 6);
	struct hf_request req = {.opcode = HF_OP_HOLD};
	if (kind <= 2) {
		req.hold = (struct hf_req_hold){.event_id = ev,
						.hold_id = id,
						.user_id = 1 + id % 5,
						.ttl_ms = 50 + (uint32_t)(rng_next(r) % 400),
						.mode = HF_HOLD_BEST,
						.seats_count = 1 + (uint32_t)(rng_next(r) % 3)};
	} else {
		req.opcode = kind == 3 ? HF_OP_CONFIRM : kind == 4 ? HF_OP_RELEASE : HF_OP_CANCEL;
		req.confirm = (struct hf_req_hold_ref){ev, id};
	}
	(void)th_apply(f->s, &req, now, &f->rep, ch);
}

/* Applies a stream to the target; all records must import. */
static void import_all(struct fixture *f, const uint8_t *buf, size_t size, uint64_t now)
{
	size_t off = 0;
	struct hf_move_record rec;
	int rc;
	while ((rc = hf_move_record_next(buf, size, &off, &rec)) == 1) {
		if (!hf_changes_has_room(&f->ch))
			hf_changes_reset(&f->ch);
		assert_int_equal(hf_store_import(f->t, &rec, now, &f->ch), HF_OK);
	}
	assert_int_equal(rc, 0);
}

static void assert_same_event(struct fixture *f, uint64_t ev, uint64_t now)
{
	struct hf_reply a, b;
	struct hf_request req = {.opcode = HF_OP_SEAT_INFO};
	req.seat_info.event_id = ev;
	req.seat_info.seats_count = 64;
	for (uint32_t i = 0; i < 64; i++)
		req.seat_info.seats[i] = i;
	assert_int_equal(th_apply(f->s, &req, now, &a, &f->ch), HF_OK);
	assert_int_equal(th_apply(f->t, &req, now, &b, &f->ch), HF_OK);
	for (uint32_t i = 0; i < 64; i++) {
		assert_int_equal(a.seat_info.seats[i].state, b.seat_info.seats[i].state);
		assert_int_equal(a.seat_info.seats[i].owner_id, b.seat_info.seats[i].owner_id);
		assert_int_equal(a.seat_info.seats[i].user_id, b.seat_info.seats[i].user_id);
	}
	/* Every id answers a replay (or an EXTEND probe) the same on both: tombstones moved. */
	for (uint64_t id = 1; id <= 64; id++) {
		struct hf_request ref = {.opcode = HF_OP_EXTEND};
		ref.extend = (struct hf_req_extend){ev, id, 1};
		struct hf_request copy = ref;
		(void)th_apply(f->s, &ref, now, &a, &f->ch);
		(void)th_apply(f->t, &copy, now, &b, &f->ch);
		assert_int_equal(a.status, b.status);
		if (a.status == HF_OK)
			assert_int_equal(a.extend.deadline_ms, b.extend.deadline_ms);
	}
}

static void test_move_slot_live(void **state)
{
	struct fixture *f = *state;
	uint64_t seed =
	    getenv("HF_SEED") ? strtoull(getenv("HF_SEED"), NULL, 10) : (uint64_t)time(NULL);
	printf("move_slot_live: seed %llu (replay with HF_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	struct rng r = {seed};
	pick_events();
	uint16_t slot = hf_slot_of(g_events[0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(th_create(f->s, &f->ch, g_events[i], 64, 8, 0, 0), HF_OK);
	uint64_t now = T0;
	for (int i = 0; i < 300; i++)
		random_op(f, &r, now += 3, &f->ch);
	/* Export in small chunks; between chunks ops go on and their changes are captured. */
	static uint8_t log_buf[1u << 20], chunk[2048];
	size_t log_size = 0;
	uint64_t cursor = 0;
	int full = 0;
	while (cursor != HF_STORE_EXPORT_DONE) {
		import_all(f, log_buf, log_size, now);
		log_size = 0;
		size_t size = 0;
		struct hf_store_export ex;
		hf_store_export(f->s, slot, cursor, chunk, sizeof(chunk), &size, &ex);
		cursor = ex.cursor;
		import_all(f, chunk, size, now);
		for (int i = 0; i < 5; i++) {
			hf_changes_reset(&f->ch);
			random_op(f, &r, now += 3, &f->ch);
			hf_store_changes_encode(&f->ch, 0, slot, log_buf, sizeof(log_buf),
						&log_size, &full);
			assert_false(full);
		}
	}
	import_all(f, log_buf, log_size, now);
	hf_store_check(f->t);
	assert_same_event(f, g_events[0], now);
	assert_same_event(f, g_events[1], now);
	assert_int_equal(th_info(f->t, &f->ch, now, &f->rep, g_events[2]), HF_NO_EVENT);
	/* Later, once holds expired on both sides, they still agree. */
	assert_same_event(f, g_events[0], now + 1000);
	/* The source drops its copy: nothing of the slot is left, the other event is intact. */
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_drop_slot(f->s, slot, &f->ch), 0);
	uint32_t events, records;
	uint64_t seats;
	hf_store_slot_counts(f->s, slot, &events, &seats, &records);
	assert_int_equal(events + records + seats, 0);
	assert_int_equal(th_info(f->s, &f->ch, now, &f->rep, g_events[2]), HF_OK);
}

/* Bad bytes and conflicting records are answered, never applied half. */
static void test_import_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[8] = {9, 1, 0, 0, 0, 0, 0, 0};
	size_t off = 0;
	struct hf_move_record rec;
	assert_int_equal(hf_move_record_next(junk, sizeof(junk), &off, &rec), -1);
	uint8_t trunc[6] = {HF_CHANGE_PUT, 9, 5, 0, 0, 0};
	off = 0;
	assert_int_equal(hf_move_record_next(trunc, sizeof(trunc), &off, &rec), -1);
	uint8_t del_with_value[6] = {HF_CHANGE_DEL, 1, 1, 0, 'x', 'y'};
	off = 0;
	assert_int_equal(hf_move_record_next(del_with_value, 6, &off, &rec), -1);
	/* A short key and a garbage value answer MALFORMED. */
	uint8_t key1[1] = {1};
	rec = (struct hf_move_record){.kind = HF_CHANGE_DEL, .key_size = 1, .key = key1};
	assert_int_equal(hf_store_import(f->t, &rec, T0, &f->ch), HF_ERR_MALFORMED);
	uint8_t ekey[9];
	hf_put_be64(ekey, EV);
	ekey[8] = 'E';
	uint8_t bad[3] = {1, 2, 3};
	rec = (struct hf_move_record){
	    .kind = HF_CHANGE_PUT, .key_size = 9, .value_size = 3, .key = ekey, .value = bad};
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_import(f->t, &rec, T0, &f->ch), HF_ERR_MALFORMED);
	assert_int_equal(f->ch.count, 0);
	/* Two records owning one seat: the second is refused. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 10, 0, 0, 0), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 9, 60000, 1, 3u), HF_OK);
	static uint8_t buf[4096];
	size_t size = 0;
	struct hf_store_export ex;
	hf_store_export(f->s, HF_STORE_SLOTS_ALL, 0, buf, sizeof(buf), &size, &ex);
	assert_int_equal(ex.cursor, HF_STORE_EXPORT_DONE);
	assert_int_equal(ex.records_count, 2);
	hf_changes_reset(&f->ch);
	import_all(f, buf, size, T0);
	/* On the source seat 3 changes hands; the target gets only the new holder's record. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 1), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 8, 60000, 1, 3u), HF_OK);
	size = 0;
	hf_store_export(f->s, HF_STORE_SLOTS_ALL, 0, buf, sizeof(buf), &size, &ex);
	off = 0;
	int found = 0;
	while (hf_move_record_next(buf, size, &off, &rec) == 1) {
		if (rec.key_size != 17 || hf_get_be64(rec.key + 9) != 2)
			continue;
		hf_changes_reset(&f->ch);
		assert_int_equal(hf_store_import(f->t, &rec, T0, &f->ch), HF_ERR_MALFORMED);
		assert_int_equal(f->ch.count, 0);
		found = 1;
	}
	assert_true(found);
	/* A change log at its bound says so (the engine then fails the move): the record that did
	 * not fit is not half written. */
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 3, 8, 60000, 1, 4u), HF_OK);
	uint8_t small[40];
	size = 0;
	int full = 0;
	assert_int_equal(hf_store_changes_encode(&f->ch, 0, HF_STORE_SLOTS_ALL, small,
						 sizeof(small), &size, &full),
			 0);
	assert_true(full);
	assert_int_equal(size, 0);
	uint8_t st;
	uint64_t owner;
	assert_int_equal(th_seat(f->t, &f->ch, T0, EV, 3, &st, &owner), HF_OK);
	assert_int_equal(st, HF_SEAT_HELD);
	assert_int_equal(owner, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_event_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_delete_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_slot_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
