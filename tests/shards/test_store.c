/* Goal: every seat store op answers as shards/store.h says, for the valid case, each error status,
 * and the valid case that becomes invalid (an expired hold, a reused id with another body, a
 * cancelled booking), including best-available edge cases, expiry by tick and on touch, the extend
 * cap, the user limit and the capacity limits. Method: one small store per test, ops through the
 * helpers in store_helpers.h, assertions on status, detail, reply bodies, SEAT_STATUS, EVENT_INFO
 * and the change list; hf_store_check after each test. */
#include "base/endian.h"
#include "shards/store_int.h"
#include "store_helpers.h"

#include <errno.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define T0 1700000000000ull /* a wall-clock ms value */
#define EV 7u

struct fixture {
	struct hf_store *s;
	struct hf_changes ch;
	struct hf_reply rep;
};

static int setup_cfg(void **state, uint32_t events_max, uint64_t seats_max, uint32_t records_max)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hf_store_config cfg = {events_max, seats_max, records_max, 60000};
	assert_int_equal(hf_store_create(&cfg, &f->s), 0);
	assert_int_equal(hf_changes_init(&f->ch, 1024), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_cfg(state, 8, 1u << 20, 4096);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hf_store_check(f->s);
	hf_store_destroy(f->s);
	hf_changes_deinit(&f->ch);
	free(f);
	return 0;
}

static void assert_seat(struct fixture *f, uint64_t now, uint32_t seat, uint8_t state,
			uint64_t owner)
{
	uint8_t st;
	uint64_t own;
	assert_int_equal(th_seat(f->s, &f->ch, now, EV, seat, &st, &own), HF_OK);
	assert_int_equal(st, state);
	assert_int_equal(own, owner);
}

static void test_create_event(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(th_create(f->s, &f->ch, 0, 10, 0, 0, 0), HF_ERR_INVALID);
	assert_int_equal(th_create(f->s, &f->ch, EV, 0, 0, 0, 0), HF_ERR_INVALID);
	assert_int_equal(th_create(f->s, &f->ch, EV, HF_EVENT_SEATS_MAX + 1, 0, 0, 0),
			 HF_ERR_INVALID);
	assert_int_equal(th_create(f->s, &f->ch, EV, 10, 0, 0, HF_HOLD_LIFETIME_MAX_S + 1),
			 HF_ERR_INVALID);
	assert_int_equal(th_create(f->s, &f->ch, EV, 10, 11, 0, 0), HF_ERR_INVALID);
	assert_int_equal(f->ch.count, 0);
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 4, 0), HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(f->ch.items[0].kind, HF_CHANGE_PUT);
	/* Same parameters (0 = the default lifetime): OK, nothing appended. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 4, HF_HOLD_LIFETIME_DEFAULT_S),
			 HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 5, 0), HF_EVENT_EXISTS);
	assert_int_equal(th_info(f->s, &f->ch, T0, &f->rep, EV), HF_OK);
	assert_int_equal(f->rep.event_info.seats_count, 100);
	assert_int_equal(f->rep.event_info.row_width, 10);
	assert_int_equal(f->rep.event_info.user_limit, 4);
	assert_int_equal(f->rep.event_info.hold_lifetime_max_s, HF_HOLD_LIFETIME_DEFAULT_S);
	assert_int_equal(f->rep.event_info.free_count, 100);
	assert_int_equal(th_info(f->s, &f->ch, T0, &f->rep, 8), HF_NO_EVENT);
	assert_int_equal(th_info(f->s, &f->ch, T0, &f->rep, 0), HF_ERR_INVALID);
}

static void test_missing_event(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, 99, 1, 1, 1000, 1, 0u), HF_NO_EVENT);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, 99, 1, 1, 1000, 1), HF_NO_EVENT);
	assert_int_equal(th_extend(f->s, &f->ch, T0, r, 99, 1, 10), HF_NO_EVENT);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, 99, 1), HF_NO_EVENT);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, 99, 1), HF_NO_EVENT);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, 99, 1), HF_NO_EVENT);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, 99, 0, 0), HF_NO_EVENT);
	uint8_t st;
	uint64_t own;
	assert_int_equal(th_seat(f->s, &f->ch, T0, 99, 0, &st, &own), HF_NO_EVENT);
	assert_int_equal(f->ch.count, 0);
}

static void test_hold_explicit(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	hf_changes_reset(&f->ch);
	/* Invalid arguments. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 0, 1, 1000, 1, 0u), HF_ERR_INVALID);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 0, 1, 0u), HF_ERR_INVALID);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 0), HF_ERR_INVALID);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, HF_HOLD_SEATS_MAX + 1),
			 HF_ERR_INVALID);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 3, 5u, 100u, 200u),
			 HF_SEAT_RANGE);
	assert_int_equal(r->detail, 100);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 4, 5u, 6u, 7u, 6u),
			 HF_DUPLICATE_SEAT);
	assert_int_equal(r->detail, 6);
	assert_int_equal(f->ch.count, 0);
	/* Valid: deadline = now + ttl, seats in request order. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 3, 9u, 3u, 4u), HF_OK);
	assert_int_equal(r->hold.hold_id, 1);
	assert_int_equal(r->hold.deadline_ms, T0 + 1000);
	assert_int_equal(r->hold.seats_count, 3);
	assert_int_equal(r->hold.seats[0], 9);
	assert_int_equal(r->hold.seats[1], 3);
	assert_int_equal(f->ch.count, 1);
	assert_seat(f, T0, 3, HF_SEAT_HELD, 1);
	assert_seat(f, T0, 5, HF_SEAT_FREE, 0);
	/* Taken: detail is the first taken seat in request order; nothing changes. */
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 2, 1000, 3, 50u, 4u, 9u),
			 HF_SEAT_TAKEN);
	assert_int_equal(r->detail, 4);
	assert_int_equal(f->ch.count, 0);
	assert_seat(f, T0, 50, HF_SEAT_FREE, 0);
	/* The ttl is clamped to the event's lifetime (60 s). */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 3, 2, 999999, 1, 60u), HF_OK);
	assert_int_equal(r->hold.deadline_ms, T0 + 60000);
	assert_int_equal(th_info(f->s, &f->ch, T0, r, EV), HF_OK);
	assert_int_equal(r->event_info.held_count, 4);
	assert_int_equal(r->event_info.holds_count, 2);
	assert_int_equal(r->event_info.free_count, 96);
}

static void test_idempotency(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 1u, 2u), HF_OK);
	hf_changes_reset(&f->ch);
	/* Same body later: same reply, nothing appended. */
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 10, r, EV, 1, 1, 5000, 2, 1u, 2u), HF_OK);
	assert_int_equal(r->hold.deadline_ms, T0 + 1000);
	assert_int_equal(f->ch.count, 0);
	/* Other user, other seats, other order, other mode: conflict. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 2, 1000, 2, 1u, 2u), HF_ID_CONFLICT);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 2u, 1u), HF_ID_CONFLICT);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 1, 1u), HF_ID_CONFLICT);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2), HF_ID_CONFLICT);
	/* Confirmed: the replay still answers the hold's reply. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 1u, 2u), HF_OK);
	assert_int_equal(r->hold.seats[1], 2);
	/* Cancelled booking, released hold, expired hold. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 1u, 2u),
			 HF_BOOKING_CANCELLED);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 5u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 2), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 5u), HF_HOLD_RELEASED);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 6u), HF_ID_CONFLICT);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 3, 1, 100, 1, 7u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 100, r, EV, 3, 1, 100, 1, 7u), HF_HOLD_EXPIRED);
	/* After the tombstone ttl (60 s) the id is forgotten and may be used again. */
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 100 + 60000, r, EV, 3, 9, 100, 1, 8u), HF_OK);
	assert_seat(f, T0 + 100 + 60000, 8, HF_SEAT_HELD, 3);
}

static void test_best_available(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	/* One row of 300 seats: runs must cross word boundaries. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 300, 0, 0, 60), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 0), HF_ERR_INVALID);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 65), HF_ERR_INVALID);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 60), HF_OK);
	assert_int_equal(r->hold.seats[0], 0);
	assert_int_equal(r->hold.seats[59], 59);
	/* Seats 60..63 free, 64 taken, 65.. free: a run of 10 starts at 65. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 64u), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 3, 1, 1000, 10), HF_OK);
	assert_int_equal(r->hold.seats[0], 65);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 4, 1, 1000, 4), HF_OK);
	assert_int_equal(r->hold.seats[0], 60);
	/* 75..299 free: 64 seats from 75 cross two word boundaries. */
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 5, 1, 1000, 64), HF_OK);
	assert_int_equal(r->hold.seats[0], 75);
	assert_int_equal(r->hold.seats[63], 138);
	/* 139..299 = 161 free: two more 64s fit, then 33 are left. */
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 6, 1, 1000, 64), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 7, 1, 1000, 64), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 8, 1, 1000, 34), HF_NOT_ENOUGH);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 8, 1, 1000, 33), HF_OK);
	assert_int_equal(r->hold.seats[0], 267);
	assert_int_equal(r->hold.seats[32], 299);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 9, 1, 1000, 1), HF_NOT_ENOUGH);
}

static void test_best_rows(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	/* Rows of 10; 45 seats: the last row (40..44) is partial. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 45, 10, 0, 60), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 11), HF_ERR_INVALID);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 7), HF_OK);
	assert_int_equal(r->hold.seats[0], 0);
	/* 7..9 free in row 0: a 4 goes to row 1, a 3 fits row 0. */
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 4), HF_OK);
	assert_int_equal(r->hold.seats[0], 10);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 3, 1, 1000, 3), HF_OK);
	assert_int_equal(r->hold.seats[0], 7);
	/* N = row width: a whole free row. */
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 4, 1, 1000, 10), HF_OK);
	assert_int_equal(r->hold.seats[0], 20);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 5, 1, 1000, 10), HF_OK);
	assert_int_equal(r->hold.seats[0], 30);
	/* Only the 5-seat last row and 14..19 are left; no full row. */
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 6, 1, 1000, 10), HF_NOT_ENOUGH);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 6, 1, 1000, 6), HF_OK);
	assert_int_equal(r->hold.seats[0], 14);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 7, 1, 1000, 6), HF_NOT_ENOUGH);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 7, 1, 1000, 5), HF_OK);
	assert_int_equal(r->hold.seats[0], 40);
	/* Freed seats come back to best-available. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 4), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 8, 1, 1000, 10), HF_OK);
	assert_int_equal(r->hold.seats[0], 20);
}

static void test_best_large_event(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	/* Fill whole blocks so the block skip is exercised: 3 blocks of 4096 seats. */
	assert_int_equal(th_create(f->s, &f->ch, EV, 3 * 4096, 0, 0, 600), HF_OK);
	uint64_t id = 1;
	for (uint32_t i = 0; i < 2 * 4096 / 64; i++) {
		assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, id++, 1, 100000, 64), HF_OK);
		assert_int_equal(r->hold.seats[0], i * 64);
	}
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 3), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, id++, 1, 100000, 2), HF_OK);
	assert_int_equal(r->hold.seats[0], 128);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, id++, 1, 100000, 63), HF_OK);
	assert_int_equal(r->hold.seats[0], 8192);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 0, 0), HF_OK);
	assert_int_equal(r->avail.free_count, 3 * 4096 - 8192 + 64 - 2 - 63);
}

static void test_expiry(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 1, 1u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 2000, 1, 2u), HF_OK);
	assert_int_equal(hf_store_next_deadline_ms(f->s) <= T0 + 1000, 1);
	/* By tick: nothing before the deadline, then exactly hold 1. */
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_tick(f->s, T0 + 999, 100, &f->ch), 0);
	assert_int_equal(f->ch.count, 0);
	assert_int_equal(hf_store_tick(f->s, T0 + 1000, 100, &f->ch), 1);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(f->ch.items[0].kind, HF_CHANGE_PUT);
	assert_seat(f, T0 + 1000, 1, HF_SEAT_FREE, 0);
	assert_seat(f, T0 + 1000, 2, HF_SEAT_HELD, 2);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0 + 1000, r, EV, 1), HF_HOLD_EXPIRED);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0 + 1000, r, EV, 1), HF_HOLD_EXPIRED);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 1000, r, EV, 1, 10), HF_HOLD_EXPIRED);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0 + 1000, r, EV, 1), HF_NO_BOOKING);
	/* Lazily, without a tick: a confirm at the deadline finds it expired. */
	hf_changes_reset(&f->ch);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0 + 2000, r, EV, 2), HF_HOLD_EXPIRED);
	assert_int_equal(f->ch.count, 1); /* the expiry record */
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 2000, r, EV, 3, 2, 1000, 2, 1u, 2u), HF_OK);
	struct hf_store_counts c;
	hf_store_counts(f->s, &c);
	assert_int_equal(c.holds_expired_total, 2);
	assert_int_equal(c.tombstones_count, 2);
	/* Tombstones are forgotten by tick after their ttl, with a DEL each. */
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_tick(f->s, T0 + 2000 + 60000, 100, &f->ch), 1); /* hold 3 */
	hf_store_counts(f->s, &c);
	assert_int_equal(c.tombstones_count, 1); /* hold 3's, 2 forgotten */
	uint32_t dels = 0;
	for (uint32_t i = 0; i < f->ch.count; i++)
		dels += f->ch.items[i].kind == HF_CHANGE_DEL;
	assert_int_equal(dels, 2);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0 + 62000, r, EV, 1), HF_NO_HOLD);
}

static void test_tick_limit(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, i + 1, 1, 500, 1, i), HF_OK);
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_tick(f->s, T0 + 100000, 4, &f->ch), 4);
	assert_int_equal(hf_store_tick(f->s, T0 + 100000, 4, &f->ch), 4);
	assert_int_equal(hf_store_tick(f->s, T0 + 100000, 4, &f->ch), 2);
	/* A full change list stops the tick without losing work. */
	struct hf_changes small;
	assert_int_equal(hf_changes_init(&small, 1), 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(th_hold(f->s, &f->ch, T0 + 200000, r, EV, 100 + i, 1, 500, 1, i),
				 HF_OK);
	assert_int_equal(hf_store_tick(f->s, T0 + 300000, 100, &small), 1);
	hf_changes_reset(&small);
	assert_int_equal(hf_store_tick(f->s, T0 + 300000, 100, &small), 1);
	hf_changes_deinit(&small);
}

static void test_extend(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 10), HF_OK); /* 10 s lifetime */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 1, 1u), HF_OK);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 500, r, EV, 1, 0), HF_ERR_INVALID);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 500, r, EV, 9, 10), HF_NO_HOLD);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 500, r, EV, 1, 3000), HF_OK);
	assert_int_equal(r->extend.deadline_ms, T0 + 3500);
	/* Past the old deadline but before the new one: still live. */
	assert_int_equal(hf_store_tick(f->s, T0 + 1500, 10, &f->ch), 0);
	assert_seat(f, T0 + 1500, 1, HF_SEAT_HELD, 1);
	/* Capped at created + lifetime. */
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 3000, r, EV, 1, 60000), HF_OK);
	assert_int_equal(r->extend.deadline_ms, T0 + 10000);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 3000, r, EV, 1, 1, 1000, 1, 1u), HF_OK);
	assert_int_equal(r->hold.deadline_ms, T0 + 10000);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 10000, r, EV, 1, 100), HF_HOLD_EXPIRED);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 10000, r, EV, 2, 1, 1000, 1, 2u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0 + 10000, r, EV, 2), HF_OK);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 10000, r, EV, 2, 100), HF_HOLD_RELEASED);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 10000, r, EV, 3, 1, 1000, 1, 3u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0 + 10000, r, EV, 3), HF_OK);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 10000, r, EV, 3, 100), HF_HOLD_CONFIRMED);
}

/* Seat lists longer than a record keeps inline live in the seat-list pool: answers, replays,
 * SEAT_STATUS owners and the persisted value carry every seat, and a list forgotten with its record
 * is reused (the pool's high water mark stays at the lists live at once). */
static void test_long_seat_lists(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 10000, 0, 0, 60), HF_OK);
	static const uint32_t counts[] = {HF_STORE_RECORD_SEATS_INLINE,
					  HF_STORE_RECORD_SEATS_INLINE + 1u, HF_HOLD_SEATS_MAX};
	uint64_t now = T0;
	for (uint32_t round = 0; round < 3; round++) {
		for (uint32_t k = 0; k < HF_ARRAY_SIZE(counts); k++) {
			uint64_t id = 1 + round * 10 + k;
			uint32_t n = counts[k];
			hf_changes_reset(&f->ch);
			assert_int_equal(th_best(f->s, &f->ch, now, r, EV, id, 5, 1000, n), HF_OK);
			assert_int_equal(r->hold.seats_count, n);
			uint32_t seats[HF_HOLD_SEATS_MAX];
			memcpy(seats, r->hold.seats, sizeof(uint32_t) * n);
			/* The persisted value lists every seat. */
			assert_int_equal(f->ch.count, 1);
			assert_int_equal(f->ch.items[0].value_size, 44u + 4u * n);
			const uint8_t *v = f->ch.values + f->ch.items[0].value_offset;
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(hf_get_le32(v + 44 + 4 * i), seats[i]);
			assert_seat(f, now, seats[n - 1], HF_SEAT_HELD, id);
			/* A replay answers the same seats, from the list. */
			assert_int_equal(th_best(f->s, &f->ch, now, r, EV, id, 5, 1000, n), HF_OK);
			assert_int_equal(r->hold.seats_count, n);
			assert_memory_equal(r->hold.seats, seats, sizeof(uint32_t) * n);
			assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, now, r, EV, id),
					 HF_OK);
			assert_seat(f, now, seats[n - 1], HF_SEAT_FREE, 0);
		}
		/* Past the tombstones' life: the records and their lists are forgotten. */
		now += 60000 + 1000;
		assert_int_equal(hf_store_tick(f->s, now, 100, &f->ch), 0);
		hf_store_check(f->s);
		assert_int_equal(f->s->seat_lists_used, 0);
	}
	assert_int_equal(f->s->seat_lists_high, 2);
}

/* A prefaulted store (its pools resident from the start) behaves as any other. */
static void test_prefault(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	hf_store_prefault(f->s);
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 4u, 3u), HF_OK);
	assert_seat(f, T0, 4, HF_SEAT_HELD, 1);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_OK);
	assert_seat(f, T0, 3, HF_SEAT_BOOKED, 1);
}

/* A change list in count-only mode (durability none) counts each record change with its value size,
 * as a written one would, and the store behaves the same. */
static void test_changes_count_only(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	hf_changes_reset(&f->ch);
	f->ch.count_only = 1;
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 4u, 3u), HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(f->ch.values_size, 44u + 2u * 4u);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 1), HF_OK);
	assert_int_equal(f->ch.count, 2);
	assert_seat(f, T0, 3, HF_SEAT_FREE, 0);
	/* Forgetting the tombstone counts its DEL, which has no value. */
	assert_int_equal(hf_store_tick(f->s, T0 + 61000, 10, &f->ch), 0);
	assert_int_equal(f->ch.count, 3);
	assert_int_equal(f->ch.values_size, 2u * (44u + 2u * 4u));
	assert_int_equal(hf_changes_has_room(&f->ch), 1);
	f->ch.count_only = 0;
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 62000, r, EV, 2, 1, 1000, 1, 5u), HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_int_equal(f->ch.items[0].value_size, 44u + 4u);
}

static void test_confirm_release_cancel(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 0), HF_ERR_INVALID);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_NO_HOLD);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 1), HF_NO_HOLD);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_NO_BOOKING);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 4u, 3u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_NO_BOOKING);
	hf_changes_reset(&f->ch);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_OK);
	assert_int_equal(r->confirm.hold_id, 1);
	assert_int_equal(r->confirm.deadline_ms, 0);
	assert_int_equal(r->confirm.seats_count, 2);
	assert_int_equal(r->confirm.seats[0], 4);
	assert_int_equal(f->ch.count, 1);
	assert_seat(f, T0, 3, HF_SEAT_BOOKED, 1);
	/* A booking never expires. */
	assert_int_equal(hf_store_tick(f->s, T0 + 100000, 10, &f->ch), 0);
	assert_seat(f, T0 + 100000, 3, HF_SEAT_BOOKED, 1);
	hf_changes_reset(&f->ch);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_OK);
	assert_int_equal(f->ch.count, 0);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 1), HF_HOLD_CONFIRMED);
	assert_int_equal(th_info(f->s, &f->ch, T0, r, EV), HF_OK);
	assert_int_equal(r->event_info.booked_count, 2);
	assert_int_equal(r->event_info.bookings_count, 1);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_OK);
	assert_seat(f, T0, 3, HF_SEAT_FREE, 0);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_BOOKING_CANCELLED);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 1), HF_BOOKING_CANCELLED);
	/* Release, then its replays. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 4u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 2), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 2), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 2), HF_HOLD_RELEASED);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 2), HF_NO_BOOKING);
	assert_int_equal(th_info(f->s, &f->ch, T0, r, EV), HF_OK);
	assert_int_equal(r->event_info.free_count, 100);
	assert_int_equal(r->event_info.holds_count, 0);
	assert_int_equal(r->event_info.bookings_count, 0);
}

static void test_user_limit(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 4, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 1u, 2u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 1), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 3, 1, 1000, 2, 10u, 11u), HF_USER_LIMIT);
	assert_int_equal(r->detail, 3);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 3, 1, 1000, 2), HF_USER_LIMIT);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 3, 2, 1000, 4, 10u, 11u, 12u, 13u),
			 HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 4, 1, 1000, 1, 20u), HF_OK);
	/* Releasing, cancelling and expiring give the user's seats back. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, r, EV, 1), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 5, 1, 1000, 2, 21u, 22u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 6, 1, 1000, 1, 23u), HF_USER_LIMIT);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 1000, r, EV, 6, 1, 1000, 4, 1u, 2u, 3u, 4u),
			 HF_OK);
}

static void test_avail(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 200, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 3, 0u, 65u, 130u), HF_OK);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 0, 0), HF_OK);
	assert_int_equal(r->avail.seats_count, 200);
	assert_int_equal(r->avail.free_count, 197);
	assert_null(r->avail.bitmap);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 190, 11), HF_SEAT_RANGE);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 0, HF_AVAIL_RANGE_MAX + 1),
			 HF_ERR_TOO_LARGE);
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 0, 200), HF_OK);
	for (uint32_t i = 0; i < 200; i++)
		assert_int_equal(hf_avail_bit(r->avail.bitmap, i),
				 !(i == 0 || i == 65 || i == 130));
	/* An unaligned range crossing words. */
	assert_int_equal(th_avail(f->s, &f->ch, T0, r, EV, 61, 71), HF_OK);
	assert_int_equal(r->avail.first, 61);
	for (uint32_t i = 0; i < 71; i++)
		assert_int_equal(hf_avail_bit(r->avail.bitmap, i),
				 !(61 + i == 65 || 61 + i == 130));
	assert_int_equal(r->avail.bitmap[8] >> 7, 0); /* bits past count are zero */
}

static void test_seat_status(void **state)
{
	struct fixture *f = *state;
	struct hf_request req = {.opcode = HF_OP_SEAT_STATUS};
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 1, 1000, 1, 5u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 1, 1000, 1, 6u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 2), HF_OK);
	req.seat_status.event_id = EV;
	req.seat_status.seats_count = 3;
	req.seat_status.seats[0] = 6;
	req.seat_status.seats[1] = 5;
	req.seat_status.seats[2] = 4;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	assert_int_equal(f->rep.seat_status.seats_count, 3);
	assert_int_equal(f->rep.seat_status.seats[0].state, HF_SEAT_BOOKED);
	assert_int_equal(f->rep.seat_status.seats[0].owner_id, 2);
	assert_int_equal(f->rep.seat_status.seats[1].state, HF_SEAT_HELD);
	assert_int_equal(f->rep.seat_status.seats[2].state, HF_SEAT_FREE);
	req.seat_status.seats[2] = 100;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_SEAT_RANGE);
	assert_int_equal(f->rep.detail, 100);
	req.seat_status.seats_count = 0;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_ERR_INVALID);
}

/* With only HF_OP_CHANGES_MAX of room the wheel cannot run first: ops expire what they touch. */
static void test_lazy_expiry(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	struct hf_changes tight;
	assert_int_equal(hf_changes_init(&tight, HF_OP_CHANGES_MAX), 0);
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 1, 1u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 2u), HF_OK);
	assert_int_equal(
	    hf_store_apply(f->s, &(struct hf_request){.opcode = HF_OP_CONFIRM, .confirm = {EV, 1}},
			   T0 + 1000, r, &tight),
	    HF_HOLD_EXPIRED);
	assert_int_equal(tight.count, 1);
	assert_int_equal(tight.items[0].kind, HF_CHANGE_PUT);
	/* SEAT_STATUS reads a due hold's seat as free without changing anything. */
	hf_changes_reset(&tight);
	uint8_t st;
	uint64_t own;
	assert_int_equal(th_seat(f->s, &tight, T0 + 1000, EV, 2, &st, &own), HF_OK);
	assert_int_equal(st, HF_SEAT_FREE);
	assert_int_equal(tight.count, 0);
	/* An explicit hold on a due hold's seat needs room for that expiry beyond its own. */
	assert_int_equal(th_hold(f->s, &tight, T0 + 1000, r, EV, 3, 1, 1000, 1, 2u), HF_BUSY);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 1000, r, EV, 3, 1, 1000, 1, 2u), HF_OK);
	hf_changes_deinit(&tight);
}

/* Collects a change list's records in order, applying DEL, into a tiny ordered map. */
struct mini_kv {
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
	uint8_t key_size;
	uint16_t value_size;
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
};

static struct mini_kv mini[64];
static uint32_t mini_count;

static void mini_apply(const struct hf_changes *ch)
{
	for (uint32_t i = 0; i < ch->count; i++) {
		const struct hf_change *c = &ch->items[i];
		uint32_t k = 0;
		while (k < mini_count && !(mini[k].key_size == c->key_size &&
					   !memcmp(mini[k].key, c->key, c->key_size)))
			k++;
		if (c->kind == HF_CHANGE_DEL) {
			if (k < mini_count)
				mini[k] = mini[--mini_count];
			continue;
		}
		if (k == mini_count) {
			assert_true(mini_count < HF_ARRAY_SIZE(mini));
			mini_count++;
		}
		memcpy(mini[k].key, c->key, c->key_size);
		mini[k].key_size = c->key_size;
		memcpy(mini[k].value, hf_change_value(ch, c), c->value_size);
		mini[k].value_size = c->value_size;
	}
}

static int mini_cmp(const void *a, const void *b)
{
	const struct mini_kv *x = a, *y = b;
	uint8_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (int)x->key_size - (int)y->key_size;
}

static enum hf_status mini_load(struct hf_store *s, uint64_t now, struct hf_changes *ch)
{
	qsort(mini, mini_count, sizeof(mini[0]), mini_cmp);
	for (uint32_t i = 0; i < mini_count; i++) {
		enum hf_status st = hf_store_load(s, mini[i].key, mini[i].key_size, mini[i].value,
						  mini[i].value_size, now, ch);
		if (st != HF_OK)
			return st;
	}
	return HF_OK;
}

static void test_load_round_trip(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	mini_count = 0;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 5, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 2, 1u, 2u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 50000, 1, 3u), HF_OK);
	assert_int_equal(th_best(f->s, &f->ch, T0, r, EV, 3, 2, 50000, 4), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, r, EV, 3), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 4, 2, 50000, 1, 9u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 4), HF_OK);
	assert_int_equal(th_extend(f->s, &f->ch, T0 + 10, r, EV, 2, 40000), HF_OK);
	mini_apply(&f->ch);
	hf_changes_reset(&f->ch);

	/* Load at T0 + 5000: hold 1 is past its deadline and comes back expired, with its record.
	 */
	struct hf_store *fresh;
	struct hf_store_config cfg = {8, 1u << 20, 4096, 60000};
	assert_int_equal(hf_store_create(&cfg, &fresh), 0);
	struct hf_changes lch;
	assert_int_equal(hf_changes_init(&lch, 16), 0);
	assert_int_equal(mini_load(fresh, T0 + 5000, &lch), HF_OK);
	assert_int_equal(lch.count, 1);
	assert_int_equal(lch.items[0].kind, HF_CHANGE_PUT);
	hf_store_check(fresh);
	struct hf_store_counts c;
	hf_store_counts(fresh, &c);
	assert_int_equal(c.held_count, 1);
	assert_int_equal(c.booked_count, 4);
	assert_int_equal(c.holds_count, 1);
	assert_int_equal(c.bookings_count, 1);
	assert_int_equal(c.tombstones_count, 2);
	/* Replays answer as before; the extended deadline survived. */
	struct hf_store *orig = f->s;
	f->s = fresh;
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 5000, r, EV, 2, 1, 1, 1, 3u), HF_OK);
	assert_int_equal(r->hold.deadline_ms, T0 + 40010);
	assert_int_equal(th_best(f->s, &f->ch, T0 + 5000, r, EV, 3, 2, 1, 4), HF_OK);
	assert_int_equal(r->hold.seats[0], 4); /* 1, 2 and 3 were held when it was placed */
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 5000, r, EV, 1, 1, 1, 2, 1u, 2u),
			 HF_HOLD_EXPIRED);
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 5000, r, EV, 4, 2, 1, 1, 9u), HF_HOLD_RELEASED);
	assert_seat(f, T0 + 5000, 3, HF_SEAT_HELD, 2);
	assert_seat(f, T0 + 5000, 4, HF_SEAT_BOOKED, 3);
	assert_seat(f, T0 + 5000, 1, HF_SEAT_FREE, 0);
	/* The user limit was rebuilt: user 2 has 4 booked seats of 5. */
	assert_int_equal(th_hold(f->s, &f->ch, T0 + 5000, r, EV, 5, 2, 1000, 2, 50u, 51u),
			 HF_USER_LIMIT);
	assert_int_equal(r->detail, 4);
	f->s = orig;
	hf_store_destroy(fresh);
	hf_changes_deinit(&lch);
}

static void test_load_malformed(void **state)
{
	struct fixture *f = *state;
	uint8_t ekey[9], rkey[17], ev[17], rec[64];
	hf_put_be64(ekey, EV);
	ekey[8] = 'E';
	hf_put_be64(rkey, EV);
	rkey[8] = 'R';
	hf_put_be64(rkey + 9, 5);
	ev[0] = 1;
	hf_put_le32(ev + 1, 100);
	hf_put_le32(ev + 5, 0);
	hf_put_le32(ev + 9, 0);
	hf_put_le32(ev + 13, 60);
	memset(rec, 0, sizeof(rec));
	rec[0] = 1;
	rec[1] = 1; /* HELD */
	rec[3] = 1; /* one seat */
	hf_put_le64(rec + 12, T0);
	hf_put_le64(rec + 20, T0 + 1000);
	hf_put_le32(rec + 44, 7);
	/* A record before its event, a bad tag, a bad version, a short value. */
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	uint8_t bad_key[9];
	memcpy(bad_key, ekey, 9);
	bad_key[8] = 'X';
	assert_int_equal(hf_store_load(f->s, bad_key, 9, ev, 17, T0, &f->ch), HF_ERR_MALFORMED);
	ev[0] = 2;
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 17, T0, &f->ch), HF_ERR_MALFORMED);
	ev[0] = 1;
	assert_int_equal(hf_store_load(f->s, ekey, 8, ev, 17, T0, &f->ch), HF_ERR_MALFORMED);
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 16, T0, &f->ch), HF_ERR_MALFORMED);
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 17, T0, &f->ch), HF_OK);
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 17, T0, &f->ch), HF_ERR_MALFORMED);
	/* Records: bad state, count/size mismatch, seat out of range, deadline past the lifetime.
	 */
	rec[1] = 9;
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	rec[1] = 1;
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 52, T0, &f->ch), HF_ERR_MALFORMED);
	hf_put_le32(rec + 44, 100);
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	hf_put_le32(rec + 44, 7);
	hf_put_le64(rec + 20, T0 + 61000);
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	hf_put_le64(rec + 20, T0 + 1000);
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_OK);
	/* The same id twice, and another live record on the same seat. */
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	hf_put_be64(rkey + 9, 6);
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_ERR_MALFORMED);
	/* ... unless it is past its deadline: then it loads as expired and claims nothing. */
	hf_put_le64(rec + 20, T0 - 1);
	hf_put_le64(rec + 12, T0 - 2);
	hf_changes_reset(&f->ch);
	assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch), HF_OK);
	assert_int_equal(f->ch.count, 1);
	assert_seat(f, T0, 7, HF_SEAT_HELD, 5);
}

static void test_load_capacity(void **state)
{
	struct fixture *f = *state; /* 2 events, 150 seats, 3 records */
	uint8_t ekey[9], ev[17];
	ev[0] = 1;
	hf_put_le32(ev + 1, 100);
	hf_put_le32(ev + 5, 0);
	hf_put_le32(ev + 9, 0);
	hf_put_le32(ev + 13, 60);
	ekey[8] = 'E';
	hf_put_be64(ekey, 1);
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 17, T0, &f->ch), HF_OK);
	hf_put_be64(ekey, 2);
	assert_int_equal(hf_store_load(f->s, ekey, 9, ev, 17, T0, &f->ch), HF_ERR_CAPACITY);
	uint8_t rkey[17], rec[48];
	memset(rec, 0, sizeof(rec));
	rec[0] = 1;
	rec[1] = 2; /* BOOKED */
	rec[3] = 1;
	hf_put_be64(rkey, 1);
	rkey[8] = 'R';
	for (uint32_t i = 0; i < 4; i++) {
		hf_put_be64(rkey + 9, i + 1);
		hf_put_le32(rec + 44, i);
		assert_int_equal(hf_store_load(f->s, rkey, 17, rec, 48, T0, &f->ch),
				 i < 3 ? HF_OK : HF_ERR_CAPACITY);
	}
}

static int setup_small(void **state)
{
	return setup_cfg(state, 2, 150, 3);
}

static void test_capacity(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *r = &f->rep;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, 8, 51, 0, 0, 60), HF_ERR_CAPACITY);
	assert_int_equal(th_create(f->s, &f->ch, 8, 50, 0, 0, 60), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, 9, 1, 0, 0, 60), HF_ERR_CAPACITY);
	/* Three records: a fourth live hold does not fit. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 1, 1, 1000, 1, 1u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 2, 1, 1000, 1, 2u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 3, 1, 1000, 1, 3u), HF_OK);
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 4, 1, 1000, 1, 4u), HF_ERR_CAPACITY);
	assert_int_equal(f->ch.count, 0);
	/* With a tombstone, the oldest tombstone is evicted (DEL) to make room. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 2), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 3), HF_OK);
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, T0, r, EV, 4, 1, 1000, 1, 4u), HF_OK);
	assert_int_equal(f->ch.count, 2);
	assert_int_equal(f->ch.items[0].kind, HF_CHANGE_DEL);
	assert_int_equal(f->ch.items[1].kind, HF_CHANGE_PUT);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 2), HF_NO_HOLD);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, r, EV, 3), HF_OK);
}

static void collect_slot(uint64_t event_id, void *arg)
{
	uint64_t *sum = arg;
	*sum += event_id;
}

static void test_stats_and_slots(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 1, 1000, 2, 1u, 2u), HF_OK);
	struct hf_rep_stats stats = {0};
	hf_store_stats(f->s, &stats);
	assert_int_equal(stats.stats_count, 15); /* 10 store_ and 5 room_ */
	assert_string_equal(stats.stats[0].name, "store_events");
	assert_int_equal(stats.stats[0].value, 1);
	assert_string_equal(stats.stats[3].name, "store_held");
	assert_int_equal(stats.stats[3].value, 2);
	assert_string_equal(stats.stats[9].name, "store_memory_bytes");
	assert_true(stats.stats[9].value > 0);
	uint64_t sum = 0;
	hf_store_for_each_event_in_slot(f->s, hf_slot_of(EV), collect_slot, &sum);
	assert_int_equal(sum, EV);
	sum = 0;
	hf_store_for_each_event_in_slot(f->s, (uint16_t)((hf_slot_of(EV) + 1) % HF_SLOTS_COUNT),
					collect_slot, &sum);
	assert_int_equal(sum, 0);
}

static void test_create_config(void **state)
{
	(void)state;
	struct hf_store *s;
	struct hf_store_config cfg;
	hf_store_config_default(&cfg);
	assert_int_equal(hf_store_create(&cfg, &s), 0);
	hf_store_check(s);
	hf_store_destroy(s);
	cfg.records_max = 0;
	assert_int_equal(hf_store_create(&cfg, &s), -EINVAL);
	assert_null(s);
}

/* SEAT_INFO answers SEAT_STATUS's states and owners plus each owner's user id. */
static void test_seat_info(void **state)
{
	struct fixture *f = *state;
	struct hf_request req = {.opcode = HF_OP_SEAT_INFO};
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 41, 1000, 1, 5u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 42, 1000, 1, 6u), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 2), HF_OK);
	req.seat_info.event_id = EV;
	req.seat_info.seats_count = 3;
	req.seat_info.seats[0] = 6;
	req.seat_info.seats[1] = 5;
	req.seat_info.seats[2] = 4;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	const struct hf_rep_seat_status *si = &f->rep.seat_info;
	assert_int_equal(si->seats_count, 3);
	assert_int_equal(si->seats[0].state, HF_SEAT_BOOKED);
	assert_int_equal(si->seats[0].owner_id, 2);
	assert_int_equal(si->seats[0].user_id, 42);
	assert_int_equal(si->seats[1].state, HF_SEAT_HELD);
	assert_int_equal(si->seats[1].user_id, 41);
	assert_int_equal(si->seats[2].state, HF_SEAT_FREE);
	assert_int_equal(si->seats[2].user_id, 0);
	/* A hold past its deadline reads as free, user id included. */
	assert_int_equal(th_apply(f->s, &req, T0 + 1000, &f->rep, &f->ch), HF_OK);
	assert_int_equal(f->rep.seat_info.seats[1].state, HF_SEAT_FREE);
	assert_int_equal(f->rep.seat_info.seats[1].user_id, 0);
	req.seat_info.seats[2] = 100;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_SEAT_RANGE);
	assert_int_equal(f->rep.detail, 100);
}

/* Collects every record of a user's list by pages of `limit`, checking the cursor protocol; returns
 * how many records were listed into ids_out. */
static uint32_t user_list_all(struct fixture *f, uint8_t opcode, uint64_t now, uint64_t user,
			      uint32_t limit, uint64_t *ids_out, uint32_t cap)
{
	uint64_t seq = 0, id = 0;
	uint32_t n = 0;
	for (uint32_t page = 0; page < 1000; page++) {
		assert_int_equal(
		    th_user_page(f->s, &f->ch, opcode, now, &f->rep, EV, user, seq, id, limit),
		    HF_OK);
		const struct hf_rep_user_records *u = &f->rep.user_holds;
		assert_true(u->records_count <= limit);
		for (uint32_t i = 0; i < u->records_count; i++) {
			assert_true(n < cap);
			ids_out[n++] = u->records[i].id;
		}
		if (u->next_seq == 0 && u->next_id == 0)
			return n;
		assert_int_equal(u->records_count, limit);
		seq = u->next_seq;
		id = u->next_id;
	}
	fail_msg("paging did not end");
	return n;
}

/* USER_HOLDS and USER_BOOKINGS: a user's live records of an event in the order they joined the
 * list, paged by cursor; confirm moves a hold to the bookings; ended records leave; other users and
 * events are not listed; a cursor whose record ended between pages still resumes in place. */
static void test_user_records(void **state)
{
	struct fixture *f = *state;
	uint64_t ids[64];
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 0, 60), HF_OK);
	assert_int_equal(th_create(f->s, &f->ch, EV + 1, 100, 0, 0, 60), HF_OK);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 100 + i, 7, 30000, 1, i),
				 HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 200, 8, 30000, 1, 50u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV + 1, 300, 7, 30000, 1, 0u), HF_OK);
	assert_int_equal(user_list_all(f, HF_OP_USER_HOLDS, T0, 7, 3, ids, 64), 10);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(ids[i], 100 + i);
	assert_int_equal(user_list_all(f, HF_OP_USER_BOOKINGS, T0, 7, 3, ids, 64), 0);
	assert_int_equal(user_list_all(f, HF_OP_USER_HOLDS, T0, 9, 3, ids, 64), 0);

	/* One page's fields. */
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, EV, 8, 0, 0, 5),
			 HF_OK);
	const struct hf_rep_user_records *u = &f->rep.user_holds;
	assert_int_equal(u->records_count, 1);
	assert_int_equal(u->records[0].id, 200);
	assert_int_equal(u->records[0].created_ms, T0);
	assert_int_equal(u->records[0].deadline_ms, T0 + 30000);
	assert_int_equal(u->records[0].seats_count, 1);
	assert_int_equal(u->records[0].seats[0], 50);
	assert_int_equal(u->next_seq, 0);
	assert_int_equal(u->next_id, 0);

	/* Confirm 103 and 105, release 101: holds 100 102 104 106..109, bookings 103 105. */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 105), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 103), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 101), HF_OK);
	assert_int_equal(user_list_all(f, HF_OP_USER_HOLDS, T0, 7, 64, ids, 64), 7);
	assert_int_equal(ids[0], 100);
	assert_int_equal(ids[1], 102);
	assert_int_equal(ids[2], 104);
	assert_int_equal(user_list_all(f, HF_OP_USER_BOOKINGS, T0, 7, 1, ids, 64), 2);
	assert_int_equal(ids[0], 105); /* confirmed first */
	assert_int_equal(ids[1], 103);
	assert_int_equal(
	    th_user_page(f->s, &f->ch, HF_OP_USER_BOOKINGS, T0, &f->rep, EV, 7, 0, 0, 1), HF_OK);
	assert_int_equal(f->rep.user_bookings.records[0].deadline_ms, 0);

	/* The cursor's record ends between pages: the next page starts at the record after it. */
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, EV, 7, 0, 0, 2),
			 HF_OK);
	uint64_t seq = f->rep.user_holds.next_seq, id = f->rep.user_holds.next_id;
	assert_int_equal(id, 104);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 104), HF_OK);
	assert_int_equal(
	    th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, EV, 7, seq, id, 2), HF_OK);
	assert_int_equal(f->rep.user_holds.records_count, 2);
	assert_int_equal(f->rep.user_holds.records[0].id, 106);
	assert_int_equal(f->rep.user_holds.records[1].id, 107);

	/* Holds past their deadline are not listed, bookings stay. */
	assert_int_equal(user_list_all(f, HF_OP_USER_HOLDS, T0 + 30000, 7, 4, ids, 64), 0);
	assert_int_equal(user_list_all(f, HF_OP_USER_BOOKINGS, T0 + 30000, 7, 4, ids, 64), 2);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0 + 30000, &f->rep, EV, 103), HF_OK);
	assert_int_equal(user_list_all(f, HF_OP_USER_BOOKINGS, T0 + 30000, 7, 4, ids, 64), 1);

	/* Arguments. */
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, EV, 7, 0, 0, 0),
			 HF_ERR_INVALID);
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, EV, 7, 0, 0,
				      HF_USER_RECORDS_PAGE_MAX + 1),
			 HF_ERR_TOO_LARGE);
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, 99, 7, 0, 0, 1),
			 HF_NO_EVENT);
	assert_int_equal(th_user_page(f->s, &f->ch, HF_OP_USER_HOLDS, T0, &f->rep, 0, 7, 0, 0, 1),
			 HF_ERR_INVALID);
}

/* An event with sections: seats 0-19 "floor" (rows of 5 of its own, tier 1), 20-29 a gap, 30-45
 * "balcony" (the event's rows of 8, tier 2), 46-49 "box" (one row of 4, tier 2), 50-63 a gap. */
static enum hf_status create_sectioned(struct fixture *f, uint64_t ev, int variant)
{
	struct hf_request req = {.opcode = HF_OP_CREATE_EVENT};
	struct hf_req_create_event *c = &req.create_event;
	*c = (struct hf_req_create_event){
	    .event_id = ev, .seats_count = 64, .row_width = 8, .sections_count = 3};
	c->sections[0] = (struct hf_section){"floor", 0, 20, 5, 1, HF_SECTION_SEATED};
	c->sections[1] = (struct hf_section){"balcony", 30, 16, 0, 2, HF_SECTION_SEATED};
	c->sections[2] = (struct hf_section){"box", 46, 4, 4, 2, HF_SECTION_SEATED};
	if (variant == 1)
		c->sections[2].tier = 3;
	return th_apply(f->s, &req, 0, &f->rep, &f->ch);
}

static enum hf_status hold_in(struct fixture *f, uint64_t now, uint64_t hold, uint8_t mode,
			      uint8_t flags, uint16_t scope, uint32_t n)
{
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold = (struct hf_req_hold){.event_id = EV,
					.hold_id = hold,
					.user_id = 1,
					.ttl_ms = 60000,
					.mode = mode,
					.flags = flags,
					.scope = scope,
					.seats_count = n};
	return th_apply(f->s, &req, now, &f->rep, &f->ch);
}

static void assert_held(struct fixture *f, uint32_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	assert_int_equal(f->rep.hold.seats_count, n);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(f->rep.hold.seats[i], va_arg(ap, uint32_t));
	va_end(ap);
}

/* Sections at CREATE_EVENT: checked (each bad section answers INVALID with its index + 1),
 * idempotent with the same list, EVENT_EXISTS with another; EVENT_SECTIONS counts per section and
 * tier. */
static void test_sections_create(void **state)
{
	struct fixture *f = *state;
	struct hf_request req = {.opcode = HF_OP_CREATE_EVENT};
	struct hf_req_create_event *c = &req.create_event;
	*c = (struct hf_req_create_event){.event_id = EV, .seats_count = 64, .sections_count = 2};
	c->sections[0] = (struct hf_section){"a", 0, 10, 0, 1, HF_SECTION_SEATED};
	c->sections[1] = (struct hf_section){"b", 9, 10, 0, 1, HF_SECTION_SEATED}; /* overlaps a */
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	assert_int_equal(f->rep.detail, 2);
	c->sections[1] =
	    (struct hf_section){"a", 10, 10, 0, 1, HF_SECTION_SEATED}; /* a second "a" */
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	c->sections[1] =
	    (struct hf_section){"b", 60, 5, 0, 1, HF_SECTION_SEATED}; /* past the event */
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	c->sections[1] = (struct hf_section){
	    "b", 10, 5, 6, 1, HF_SECTION_SEATED}; /* row wider than the section */
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	c->sections[1] = (struct hf_section){"b", 10, 0, 0, 1, HF_SECTION_SEATED}; /* empty */
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	assert_int_equal(th_info(f->s, &f->ch, 0, &f->rep, EV), HF_NO_EVENT);

	assert_int_equal(create_sectioned(f, EV, 0), HF_OK);
	assert_int_equal(create_sectioned(f, EV, 0), HF_OK);
	assert_int_equal(create_sectioned(f, EV, 1), HF_EVENT_EXISTS);
	assert_int_equal(th_create(f->s, &f->ch, EV, 64, 8, 0, 0), HF_EVENT_EXISTS);

	assert_int_equal(hold_in(f, T0, 1, HF_HOLD_BEST, 0, 2, 3), HF_OK); /* balcony 30-32 */
	req.opcode = HF_OP_EVENT_SECTIONS;
	req.event_sections.event_id = EV;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	const struct hf_rep_event_sections *e = &f->rep.event_sections;
	assert_int_equal(e->sections_count, 3);
	assert_string_equal(e->sections[1].section.name, "balcony");
	assert_int_equal(e->sections[0].free_count, 20);
	assert_int_equal(e->sections[1].free_count, 13);
	assert_int_equal(e->sections[2].free_count, 4);
	assert_int_equal(e->tiers_count, 2);
	assert_int_equal(e->tiers[0].tier, 1);
	assert_int_equal(e->tiers[0].seats_count, 20);
	assert_int_equal(e->tiers[1].tier, 2);
	assert_int_equal(e->tiers[1].seats_count, 20);
	assert_int_equal(e->tiers[1].free_count, 17);
	/* An event without sections answers an empty list. */
	assert_int_equal(th_create(f->s, &f->ch, EV + 1, 10, 0, 0, 0), HF_OK);
	req.event_sections.event_id = EV + 1;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	assert_int_equal(f->rep.event_sections.sections_count, 0);
	req.event_sections.event_id = 99;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_NO_EVENT);
}

/* BEST and ANY in a section, a tier and the event; rows of a section's own width; scopes that
 * name nothing; the no-orphan rule for BEST (looks further), EXPLICIT and ANY (refused). */
static void test_sections_picks(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(create_sectioned(f, EV, 0), HF_OK);
	/* floor rows are 0-4, 5-9, ...: 5 fits a row, 6 does not. */
	assert_int_equal(hold_in(f, T0, 1, HF_HOLD_BEST, 0, 1, 5), HF_OK);
	assert_held(f, 5, 0u, 1u, 2u, 3u, 4u);
	assert_int_equal(hold_in(f, T0, 2, HF_HOLD_BEST, 0, 1, 6), HF_NOT_ENOUGH);
	/* Tier 2 is balcony (rows 30-31, 32-39, 40-45 of the event's 8) then box. */
	assert_int_equal(hold_in(f, T0, 3, HF_HOLD_BEST, HF_HOLD_FLAG_TIER, 2, 7), HF_OK);
	assert_held(f, 7, 32u, 33u, 34u, 35u, 36u, 37u, 38u);
	assert_int_equal(hold_in(f, T0, 4, HF_HOLD_BEST, HF_HOLD_FLAG_TIER, 2, 4), HF_OK);
	assert_held(f, 4, 40u, 41u, 42u, 43u);
	/* No orphan: one seat from 30-31 would leave the other alone; 39 is a stretch of one. */
	assert_int_equal(
	    hold_in(f, T0, 5, HF_HOLD_BEST, HF_HOLD_FLAG_TIER | HF_HOLD_FLAG_NO_ORPHAN, 2, 1),
	    HF_OK);
	assert_held(f, 1, 39u);
	assert_int_equal(hold_in(f, T0, 6, HF_HOLD_BEST, HF_HOLD_FLAG_TIER, 2, 1), HF_OK);
	assert_held(f, 1, 30u);
	/* Event-wide best on a sectioned event: rows are cut at the sections (floor's are 5 wide;
	 * the gap 20-29 is rows 20-23 and 24-29 of the event's 8). */
	assert_int_equal(hold_in(f, T0, 7, HF_HOLD_BEST, 0, 0, 6), HF_OK);
	assert_held(f, 6, 24u, 25u, 26u, 27u, 28u, 29u);
	/* Scopes that name nothing. */
	assert_int_equal(hold_in(f, T0, 8, HF_HOLD_BEST, 0, 4, 1), HF_ERR_INVALID);
	assert_int_equal(hold_in(f, T0, 8, HF_HOLD_ANY, HF_HOLD_FLAG_TIER, 9, 1), HF_ERR_INVALID);
	/* EXPLICIT with no orphan: 12 and 13 of row 10-14 leave 14 alone (11 is free). */
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 7), HF_OK);
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold = (struct hf_req_hold){.event_id = EV,
					.hold_id = 9,
					.user_id = 1,
					.ttl_ms = 60000,
					.flags = HF_HOLD_FLAG_NO_ORPHAN,
					.seats_count = 2,
					.seats = {12, 13}};
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_ORPHAN_SEAT);
	assert_int_equal(f->rep.detail, 14);
	req.hold.seats[1] = 14; /* 12 and 14 leave 13 alone */
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_ORPHAN_SEAT);
	assert_int_equal(f->rep.detail, 13);
	req.hold.flags = 0;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
}

/* ANY: N free seats in as few rows as possible, the fullest rows first. */
static void test_sections_any(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(create_sectioned(f, EV, 0), HF_OK);
	/* floor rows: leave 2, 3, 1 and 4 free seats in rows 0-4, 5-9, 10-14, 15-19. */
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold = (struct hf_req_hold){.event_id = EV,
					.hold_id = 1,
					.user_id = 1,
					.ttl_ms = 60000,
					.seats_count = 10,
					.seats = {0, 2, 4, 5, 7, 10, 11, 12, 13, 15}};
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	/* 4 fit row 15-19; 6 take that row and the lowest 2 of the next fullest (5-9: 6, 8). */
	assert_int_equal(hold_in(f, T0, 2, HF_HOLD_ANY, 0, 1, 4), HF_OK);
	assert_held(f, 4, 16u, 17u, 18u, 19u);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 2), HF_OK);
	assert_int_equal(hold_in(f, T0, 3, HF_HOLD_ANY, 0, 1, 6), HF_OK);
	assert_held(f, 6, 6u, 8u, 16u, 17u, 18u, 19u);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 3), HF_OK);
	/* With no orphan, 3 of row 15-19's 4 would leave 19 alone: refused. */
	assert_int_equal(hold_in(f, T0, 4, HF_HOLD_ANY, HF_HOLD_FLAG_NO_ORPHAN, 1, 3),
			 HF_ORPHAN_SEAT);
	assert_int_equal(f->rep.detail, 19);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, 0, 1, 11), HF_NOT_ENOUGH);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, 0, 1, 10), HF_OK);
	/* ANY replays answer the same seats; another scope is another request. */
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, 0, 1, 10), HF_OK);
	assert_int_equal(f->rep.hold.seats_count, 10);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, 0, 2, 10), HF_ID_CONFLICT);
}

/* Persistence: a sectioned event is an event value of version 2 and a hold of mode ANY a record
 * of version 2; both load back; a version 1 event (as written before sections) still loads, and
 * damaged version 2 values do not. */
static void test_sections_load(void **state)
{
	struct fixture *f = *state;
	mini_count = 0;
	assert_int_equal(create_sectioned(f, EV, 0), HF_OK);
	assert_int_equal(f->ch.items[f->ch.count - 1].key[8], 'E');
	assert_int_equal(hf_change_value(&f->ch, &f->ch.items[f->ch.count - 1])[0], 2);
	assert_int_equal(hold_in(f, T0, 1, HF_HOLD_ANY, 0, 3, 2), HF_OK);
	assert_int_equal(hf_change_value(&f->ch, &f->ch.items[f->ch.count - 1])[0], 2);
	assert_int_equal(hold_in(f, T0, 2, HF_HOLD_BEST, 0, 1, 2), HF_OK);
	assert_int_equal(hf_change_value(&f->ch, &f->ch.items[f->ch.count - 1])[0], 1);
	mini_apply(&f->ch);
	hf_changes_reset(&f->ch);
	struct hf_store *fresh;
	struct hf_store_config cfg = {8, 1u << 20, 4096, 60000};
	assert_int_equal(hf_store_create(&cfg, &fresh), 0);
	struct hf_changes lch;
	assert_int_equal(hf_changes_init(&lch, 16), 0);
	assert_int_equal(mini_load(fresh, T0, &lch), HF_OK);
	hf_store_check(fresh);
	struct hf_store *orig = f->s;
	f->s = fresh;
	assert_int_equal(create_sectioned(f, EV, 0), HF_OK); /* the same sections came back */
	assert_int_equal(hold_in(f, T0, 1, HF_HOLD_ANY, 0, 3, 2), HF_OK);
	assert_held(f, 2, 46u, 47u);
	f->s = orig;
	hf_store_destroy(fresh);

	/* Hand-made values: version 1 event; version 2 with a bad section or trailing bytes. */
	assert_int_equal(hf_store_create(&cfg, &fresh), 0);
	uint8_t key[9], v[64];
	hf_put_be64(key, 42);
	key[8] = 'E';
	memset(v, 0, sizeof(v));
	v[0] = 1;
	hf_put_le32(v + 1, 100);
	hf_put_le32(v + 13, 60);
	assert_int_equal(hf_store_load(fresh, key, 9, v, 17, T0, &lch), HF_OK);
	hf_put_be64(key, 43);
	v[0] = 2;
	v[17] = 1;
	hf_put_le32(v + 18, 90); /* first */
	hf_put_le32(v + 22, 10); /* count */
	v[18 + 14] = 1;		 /* name size */
	v[18 + 15] = 'x';
	assert_int_equal(hf_store_load(fresh, key, 9, v, 34, T0, &lch), HF_OK);
	hf_put_be64(key, 44);
	assert_int_equal(hf_store_load(fresh, key, 9, v, 35, T0, &lch), HF_ERR_MALFORMED);
	hf_put_le32(v + 22, 11); /* past the event */
	assert_int_equal(hf_store_load(fresh, key, 9, v, 34, T0, &lch), HF_ERR_MALFORMED);
	v[0] = 1; /* version 1 with a section list */
	assert_int_equal(hf_store_load(fresh, key, 9, v, 34, T0, &lch), HF_ERR_MALFORMED);
	hf_store_check(fresh);
	hf_store_destroy(fresh);
	hf_changes_deinit(&lch);
}

/* General admission: a section of counted places held by quantity (BEST or ANY naming it), with
 * the whole lifecycle of seat holds; never by named seats; outside event-wide and tier picks. */
static void test_general_admission(void **state)
{
	struct fixture *f = *state;
	struct hf_request req = {.opcode = HF_OP_CREATE_EVENT};
	struct hf_req_create_event *c = &req.create_event;
	*c = (struct hf_req_create_event){
	    .event_id = EV, .seats_count = 110, .user_limit = 8, .sections_count = 2};
	c->sections[0] = (struct hf_section){"stalls", 0, 10, 5, 1, HF_SECTION_SEATED};
	c->sections[1] = (struct hf_section){"standing", 10, 100, 0, 1, HF_SECTION_GA};
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_OK);
	c->sections[1].row_width = 10; /* GA has no rows */
	c->event_id = EV + 1;
	assert_int_equal(th_apply(f->s, &req, 0, &f->rep, &f->ch), HF_ERR_INVALID);
	assert_int_equal(f->rep.detail, 2);

	/* Quantities: 6 then 2 places (ANY and BEST alike), the user limit counts them. */
	assert_int_equal(hold_in(f, T0, 1, HF_HOLD_ANY, HF_HOLD_FLAG_NO_ORPHAN, 2, 6), HF_OK);
	assert_held(f, 6, 10u, 11u, 12u, 13u, 14u, 15u);
	assert_int_equal(hold_in(f, T0, 2, HF_HOLD_BEST, 0, 2, 2), HF_OK);
	assert_held(f, 2, 16u, 17u);
	assert_int_equal(hold_in(f, T0, 3, HF_HOLD_ANY, 0, 2, 1), HF_USER_LIMIT);
	assert_int_equal(f->rep.detail, 8);
	/* Replays answer the same places; the lifecycle is a hold's. */
	assert_int_equal(hold_in(f, T0 + 5, 1, HF_HOLD_ANY, HF_HOLD_FLAG_NO_ORPHAN, 2, 6), HF_OK);
	assert_held(f, 6, 10u, 11u, 12u, 13u, 14u, 15u);
	assert_int_equal(th_extend(f->s, &f->ch, T0, &f->rep, EV, 1, 50000), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 1), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, T0, &f->rep, EV, 2), HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, T0, &f->rep, EV, 1), HF_OK);
	/* Named places are refused; event-wide and tier picks stay in the seated section. */
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 4, 1, 1000, 1, 50u),
			 HF_ERR_INVALID);
	assert_int_equal(f->rep.detail, 50);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, 0, 0, 11), HF_NOT_ENOUGH);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, HF_HOLD_FLAG_TIER, 1, 11), HF_NOT_ENOUGH);
	assert_int_equal(hold_in(f, T0, 5, HF_HOLD_ANY, HF_HOLD_FLAG_TIER, 1, 7), HF_OK);
	assert_held(f, 7, 0u, 1u, 2u, 3u, 4u, 5u, 6u);
	/* Sold out: 100 places, 95 held by other users, 6 more is NOT_ENOUGH; expiry gives back. */
	for (uint32_t i = 0; i < 12; i++) {
		struct hf_request h = {.opcode = HF_OP_HOLD};
		h.hold = (struct hf_req_hold){.event_id = EV,
					      .hold_id = 100 + i,
					      .user_id = 50 + i,
					      .ttl_ms = 1000,
					      .mode = HF_HOLD_ANY,
					      .scope = 2,
					      .seats_count = i < 11 ? 8 : 7};
		assert_int_equal(th_apply(f->s, &h, T0, &f->rep, &f->ch), HF_OK);
	}
	req.opcode = HF_OP_EVENT_SECTIONS;
	req.event_sections.event_id = EV;
	assert_int_equal(th_apply(f->s, &req, T0, &f->rep, &f->ch), HF_OK);
	assert_int_equal(f->rep.event_sections.sections[1].section.kind, HF_SECTION_GA);
	assert_int_equal(f->rep.event_sections.sections[1].free_count, 5);
	struct hf_request h = {.opcode = HF_OP_HOLD};
	h.hold = (struct hf_req_hold){.event_id = EV,
				      .hold_id = 200,
				      .user_id = 99,
				      .ttl_ms = 1000,
				      .mode = HF_HOLD_ANY,
				      .scope = 2,
				      .seats_count = 6};
	assert_int_equal(th_apply(f->s, &h, T0, &f->rep, &f->ch), HF_NOT_ENOUGH);
	assert_int_equal(th_apply(f->s, &h, T0 + 1000, &f->rep, &f->ch), HF_OK);
}

/* Runs hf_store_check in a child process on the store as it is and reports whether it panicked
 * (the checker aborts on the first broken invariant). */
static int check_panics(struct hf_store *s)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hf_store_check(s);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	return 1;
}

/* The checker verifies each user's total, not only their sum: seats moved from one user's total to
 * another's (the sum unchanged) are caught, and so is a single total off by one. */
static void test_check_user_totals(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 0, 10, 0), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 1, 501, 60000, 2, 0u, 1u), HF_OK);
	assert_int_equal(th_hold(f->s, &f->ch, T0, &f->rep, EV, 2, 502, 60000, 3, 5u, 6u, 7u),
			 HF_OK);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, T0, &f->rep, EV, 2), HF_OK);
	assert_int_equal(check_panics(f->s), 0);
	uint32_t a = store_user_slot(f->s, 0, 501);
	uint32_t b = store_user_slot(f->s, 0, 502);
	assert_int_not_equal(a, UINT32_MAX);
	assert_int_not_equal(b, UINT32_MAX);
	assert_int_equal(f->s->users[a].seats_count, 2);
	assert_int_equal(f->s->users[b].seats_count, 3);
	f->s->users[a].seats_count++;
	f->s->users[b].seats_count--;
	assert_int_equal(check_panics(f->s), 1);
	f->s->users[b].seats_count++;
	assert_int_equal(check_panics(f->s), 1);
	f->s->users[a].seats_count--;
	assert_int_equal(check_panics(f->s), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_event),
	    T(test_missing_event),
	    T(test_hold_explicit),
	    T(test_idempotency),
	    T(test_best_available),
	    T(test_best_rows),
	    T(test_best_large_event),
	    T(test_expiry),
	    T(test_tick_limit),
	    T(test_lazy_expiry),
	    T(test_extend),
	    T(test_confirm_release_cancel),
	    T(test_user_limit),
	    T(test_avail),
	    T(test_seat_status),
	    cmocka_unit_test_setup_teardown(test_capacity, setup_small, teardown),
	    T(test_load_round_trip),
	    T(test_load_malformed),
	    cmocka_unit_test_setup_teardown(test_load_capacity, setup_small, teardown),
	    T(test_stats_and_slots),
	    T(test_check_user_totals),
	    T(test_seat_info),
	    T(test_user_records),
	    T(test_sections_create),
	    T(test_sections_picks),
	    T(test_sections_any),
	    T(test_sections_load),
	    T(test_general_admission),
	    cmocka_unit_test(test_create_config),
	    cmocka_unit_test_setup_teardown(test_long_seat_lists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_count_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefault, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
