/* Goal: the seat store answers exactly like a deliberately simple reference model over millions of
 * random ops, never holds or books a seat twice, and its change records rebuild an identical store.
 * Method: a few small events (so seats collide; the last one has sections with their own row widths
 * and tiers), many users, random HOLD (explicit, best and any; in the event, a section or a tier;
 * with and without the no-orphan flag; scopes that do not exist),
 * replays of old ids with the same and with a different body, EXTEND, CONFIRM, RELEASE, CANCEL,
 * AVAIL, SEAT_STATUS, SEAT_INFO, EVENT_INFO, USER_HOLDS, USER_BOOKINGS and ticks, with the clock
 * advancing in small steps and occasional jumps past deadlines and tombstone lifetimes. The model
 * is arrays and linear scans. After every op the status, detail and reply are compared; every 2,000
 * ops every seat's state, owner and owner's user, all counts, and every user's holds and bookings
 * (paged with random page sizes) are compared; every 1,000 ops hf_store_check runs. All change
 * records go into an in-memory ordered map (PUT/DEL applied); every 100,000 ops and at the end the
 * map is loaded into a fresh store through hf_store_load, compared in full, and the run continues
 * on the reloaded store. HF_SEED=<n> replays a run (the seed is printed); HF_MODEL_OPS=<n> sets the
 * op count (default 1,000,000, or argv[1]). Built twice: against the store without per-mutation
 * checks (the 1M-op run, hf_store_check sampled every 1,000 ops), and against hf_shards_lib as
 * configured (with -Dstore_checks=true, hf_store_check after every mutation) for a shorter run. */
#include "shards/store_int.h"

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

#define TOMB_TTL_MS   3000u
#define USERS_COUNT   9u
#define COMPARE_EVERY 2000u
#define CHECK_EVERY   1000u
#define RELOAD_EVERY  100000u

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ---- The reference model ---- */

struct m_event {
	uint64_t id;
	uint32_t seats, rw, limit, lifetime_s;
	uint64_t *owner; /* hold id owning each seat, 0 = free */
};

struct m_rec {
	uint32_t ev;
	uint64_t id, user;
	uint8_t mode;
	uint8_t flags;
	uint16_t scope;
	uint32_t n;
	uint32_t req_seats[HF_HOLD_SEATS_MAX];
	uint32_t seats[HF_HOLD_SEATS_MAX];
	uint64_t created, deadline, ended;
	uint8_t state; /* enum record_state */
};

static struct m_event mev[] = {
    {101, 40, 8, 0, 3, NULL},	{102, 130, 0, 0, 60, NULL}, {103, 70, 10, 6, 10, NULL},
    {104, 200, 0, 12, 5, NULL}, {105, 170, 20, 0, 8, NULL}, /* sections: see msec */
};
#define MEV_COUNT (sizeof(mev) / sizeof(mev[0]))

static struct m_rec *mrec;
static uint64_t m_expired_total;
static uint32_t mrec_count, mrec_cap;

static struct m_rec *m_find(uint32_t ev, uint64_t id)
{
	for (uint32_t i = 0; i < mrec_count; i++) {
		if (mrec[i].ev == ev && mrec[i].id == id)
			return &mrec[i];
	}
	return NULL;
}

static int m_find_event(uint64_t id)
{
	for (uint32_t i = 0; i < MEV_COUNT; i++) {
		if (mev[i].id == id)
			return (int)i;
	}
	return -1;
}

static void m_free_seats(struct m_rec *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		assert_int_equal(mev[r->ev].owner[r->seats[i]], r->id);
		mev[r->ev].owner[r->seats[i]] = 0;
	}
}

/* Time passes: holds at or past their deadline expire, tombstones past their ttl are forgotten. */
static void m_advance(uint64_t now)
{
	for (uint32_t i = 0; i < mrec_count; i++) {
		struct m_rec *r = &mrec[i];
		if (r->state == RECORD_HELD && r->deadline <= now) {
			m_free_seats(r);
			r->state = RECORD_EXPIRED;
			r->ended = r->deadline;
			m_expired_total++;
		}
	}
	for (uint32_t i = 0; i < mrec_count;) {
		struct m_rec *r = &mrec[i];
		if (r->state >= RECORD_EXPIRED && r->ended + TOMB_TTL_MS <= now)
			mrec[i] = mrec[--mrec_count];
		else
			i++;
	}
}

static uint32_t m_user_seats(uint32_t ev, uint64_t user)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < mrec_count; i++) {
		const struct m_rec *r = &mrec[i];
		if (r->ev == ev && r->user == user &&
		    (r->state == RECORD_HELD || r->state == RECORD_BOOKED))
			n += r->n;
	}
	return n;
}

static uint16_t m_fail(struct hf_reply *rep, uint16_t st, uint64_t detail)
{
	rep->status = st;
	rep->detail = detail;
	return st;
}

/* ---- Sections, rows and picks in the model: seat by seat, straight from the definitions ---- */

/* Sections of each model event (only the last event has any). */
static const struct hf_section msec[][5] = {
    [4] = {{.name = "floor", .first = 0, .count = 40, .row_width = 10, .tier = 1},
	   {.name = "left", .first = 50, .count = 30, .row_width = 0, .tier = 2},
	   {.name = "right", .first = 90, .count = 36, .row_width = 6, .tier = 2},
	   {.name = "box", .first = 130, .count = 8, .row_width = 4, .tier = 3},
	   {.name = "pit", .first = 140, .count = 30, .tier = 1, .kind = HF_SECTION_GA}},
};
static const uint32_t msec_count[] = {0, 0, 0, 0, 5};

/* The section of seat s, or -1. */
static int m_sec_of(uint32_t e, uint32_t s)
{
	for (uint32_t k = 0; k < msec_count[e]; k++) {
		if (s >= msec[e][k].first && s < msec[e][k].first + msec[e][k].count)
			return (int)k;
	}
	return -1;
}

/* Seats a and b (adjacent indexes) are in one row: same section (or none), same row number. */
static int m_same_row(uint32_t e, uint32_t a, uint32_t b)
{
	int ka = m_sec_of(e, a), kb = m_sec_of(e, b);
	if (ka != kb)
		return 0;
	uint32_t rw = mev[e].rw, base = 0;
	if (ka >= 0 && msec[e][ka].row_width != 0) {
		rw = msec[e][ka].row_width;
		base = msec[e][ka].first;
	}
	return rw == 0 || (a - base) / rw == (b - base) / rw;
}

/* General admission seats are in scope only when their section is the scope. */
static int m_in_scope(uint32_t e, uint32_t s, const struct hf_req_hold *q)
{
	int k = m_sec_of(e, s);
	int ga = k >= 0 && msec[e][k].kind == HF_SECTION_GA;
	if (q->flags & HF_HOLD_FLAG_TIER)
		return k >= 0 && msec[e][k].tier == q->scope && !ga;
	return q->scope == 0 ? !ga : k == (int)q->scope - 1;
}

/* The scope is one general admission section. */
static int m_scope_ga(uint32_t e, const struct hf_req_hold *q)
{
	return !(q->flags & HF_HOLD_FLAG_TIER) && q->scope != 0 &&
	       msec[e][q->scope - 1].kind == HF_SECTION_GA;
}

/* A quantity of general admission places: the lowest free ones of the section. */
static uint16_t m_ga(uint32_t e, const struct hf_req_hold *q, uint32_t *seats)
{
	const struct hf_section *sec = &msec[e][q->scope - 1];
	uint32_t taken = 0;
	for (uint32_t s = sec->first; s < sec->first + sec->count && taken < q->seats_count; s++) {
		if (mev[e].owner[s] == 0)
			seats[taken++] = s;
	}
	return taken == q->seats_count ? HF_OK : HF_NOT_ENOUGH;
}

static int m_scope_valid(uint32_t e, const struct hf_req_hold *q)
{
	if (!(q->flags & HF_HOLD_FLAG_TIER))
		return q->scope <= msec_count[e];
	for (uint32_t k = 0; k < msec_count[e]; k++) {
		if (msec[e][k].tier == q->scope)
			return 1;
	}
	return 0;
}

static int m_picked(const uint32_t *seats, uint32_t n, uint64_t s)
{
	for (uint32_t i = 0; i < n; i++) {
		if (seats[i] == s)
			return 1;
	}
	return 0;
}

/* x (a neighbour of seat s) is a free seat of s's row that the pick leaves free. */
static int m_stays_free(uint32_t e, const uint32_t *seats, uint32_t n, uint32_t s, int64_t x)
{
	return x >= 0 && x < mev[e].seats && m_same_row(e, s, (uint32_t)x) &&
	       mev[e].owner[x] == 0 && !m_picked(seats, n, (uint64_t)x);
}

/* The lowest free seat next to a picked one that keeps no free row neighbour, or UINT32_MAX. */
static uint32_t m_orphan(uint32_t e, const uint32_t *seats, uint32_t n)
{
	uint32_t orphan = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		for (int d = -1; d <= 1; d += 2) {
			int64_t x = (int64_t)seats[i] + d;
			if (!m_stays_free(e, seats, n, seats[i], x))
				continue;
			if (m_stays_free(e, seats, n, (uint32_t)x, x - 1) ||
			    m_stays_free(e, seats, n, (uint32_t)x, x + 1))
				continue;
			if ((uint32_t)x < orphan)
				orphan = (uint32_t)x;
		}
	}
	return orphan;
}

static uint16_t m_best(uint32_t e, const struct hf_req_hold *q, uint32_t *seats)
{
	uint32_t n = q->seats_count;
	for (uint32_t c = 0; c + n <= mev[e].seats; c++) {
		int ok = 1;
		for (uint32_t k = 0; k < n && ok; k++) {
			ok = m_in_scope(e, c + k, q) && mev[e].owner[c + k] == 0 &&
			     (k == 0 || m_same_row(e, c + k - 1, c + k));
			seats[k] = c + k;
		}
		if (ok &&
		    (!(q->flags & HF_HOLD_FLAG_NO_ORPHAN) || m_orphan(e, seats, n) == UINT32_MAX))
			return HF_OK;
	}
	return HF_NOT_ENOUGH;
}

struct m_row {
	uint32_t lo, hi, free_count;
};

static uint16_t m_any(uint32_t e, const struct hf_req_hold *q, uint32_t *seats, uint64_t *detail)
{
	static struct m_row rows[512];
	uint32_t rows_count = 0, n = q->seats_count, total = 0;
	for (uint32_t s = 0; s < mev[e].seats;) {
		uint32_t end = s + 1;
		while (end < mev[e].seats && m_same_row(e, end - 1, end))
			end++;
		if (m_in_scope(e, s, q)) {
			struct m_row *row = &rows[rows_count++];
			*row = (struct m_row){s, end, 0};
			for (uint32_t t = s; t < end; t++)
				row->free_count += mev[e].owner[t] == 0;
			total += row->free_count;
		}
		s = end;
	}
	if (total < n)
		return HF_NOT_ENOUGH;
	/* Rows by free seats, most first; a stable sort keeps the earlier row first on a tie. */
	for (uint32_t i = 1; i < rows_count; i++) {
		struct m_row v = rows[i];
		uint32_t j = i;
		while (j > 0 && rows[j - 1].free_count < v.free_count) {
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = v;
	}
	uint32_t taken = 0;
	for (uint32_t i = 0; i < rows_count && taken < n; i++) {
		for (uint32_t t = rows[i].lo; t < rows[i].hi && taken < n; t++) {
			if (mev[e].owner[t] == 0)
				seats[taken++] = t;
		}
	}
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = seats[i], j = i;
		while (j > 0 && seats[j - 1] > v) {
			seats[j] = seats[j - 1];
			j--;
		}
		seats[j] = v;
	}
	if (q->flags & HF_HOLD_FLAG_NO_ORPHAN) {
		uint32_t orphan = m_orphan(e, seats, n);
		if (orphan != UINT32_MAX) {
			*detail = orphan;
			return HF_ORPHAN_SEAT;
		}
	}
	return HF_OK;
}

static void m_hold_reply(const struct m_rec *r, struct hf_rep_hold *h, uint64_t deadline)
{
	h->hold_id = r->id;
	h->deadline_ms = deadline;
	h->seats_count = r->n;
	memcpy(h->seats, r->seats, 4u * r->n);
}

static uint16_t m_hold(const struct hf_req_hold *q, uint64_t now, struct hf_reply *rep)
{
	if (q->event_id == 0 || q->hold_id == 0 || q->ttl_ms == 0 || q->seats_count == 0 ||
	    q->seats_count > HF_HOLD_SEATS_MAX || q->mode > HF_HOLD_ANY ||
	    (q->flags & ~HF_HOLD_FLAGS_KNOWN) != 0 ||
	    (q->mode == HF_HOLD_EXPLICIT && (q->scope != 0 || (q->flags & HF_HOLD_FLAG_TIER))))
		return m_fail(rep, HF_ERR_INVALID, 0);
	int e = m_find_event(q->event_id);
	if (e < 0)
		return m_fail(rep, HF_NO_EVENT, 0);
	struct m_event *ev = &mev[e];
	uint32_t n = q->seats_count;
	if (q->mode == HF_HOLD_BEST && q->scope == 0 && !(q->flags & HF_HOLD_FLAG_TIER) &&
	    ev->rw != 0 && n > ev->rw)
		return m_fail(rep, HF_ERR_INVALID, 0);
	struct m_rec *old = m_find((uint32_t)e, q->hold_id);
	if (old) {
		int same =
		    old->user == q->user_id && old->mode == q->mode && old->n == n &&
		    old->flags == q->flags && old->scope == q->scope &&
		    (q->mode == HF_HOLD_BEST || memcmp(old->req_seats, q->seats, 4u * n) == 0);
		if (!same)
			return m_fail(rep, HF_ID_CONFLICT, 0);
		switch (old->state) {
		case RECORD_HELD:
		case RECORD_BOOKED:
			m_hold_reply(old, &rep->hold, old->deadline);
			return HF_OK;
		case RECORD_EXPIRED:
			return m_fail(rep, HF_HOLD_EXPIRED, 0);
		case RECORD_RELEASED:
			return m_fail(rep, HF_HOLD_RELEASED, 0);
		default:
			return m_fail(rep, HF_BOOKING_CANCELLED, 0);
		}
	}
	uint32_t seats[HF_HOLD_SEATS_MAX];
	if (q->mode == HF_HOLD_EXPLICIT) {
		for (uint32_t i = 0; i < n; i++) {
			if (q->seats[i] >= ev->seats)
				return m_fail(rep, HF_SEAT_RANGE, q->seats[i]);
		}
		for (uint32_t i = 0; i < n; i++) {
			for (uint32_t j = 0; j < i; j++) {
				if (q->seats[i] == q->seats[j])
					return m_fail(rep, HF_DUPLICATE_SEAT, q->seats[i]);
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			int k = m_sec_of((uint32_t)e, q->seats[i]);
			if (k >= 0 && msec[e][k].kind == HF_SECTION_GA)
				return m_fail(rep, HF_ERR_INVALID, q->seats[i]);
		}
		for (uint32_t i = 0; i < n; i++) {
			if (ev->owner[q->seats[i]] != 0)
				return m_fail(rep, HF_SEAT_TAKEN, q->seats[i]);
		}
		if (q->flags & HF_HOLD_FLAG_NO_ORPHAN) {
			uint32_t orphan = m_orphan((uint32_t)e, q->seats, n);
			if (orphan != UINT32_MAX)
				return m_fail(rep, HF_ORPHAN_SEAT, orphan);
		}
		memcpy(seats, q->seats, 4u * n);
	} else {
		if (!m_scope_valid((uint32_t)e, q))
			return m_fail(rep, HF_ERR_INVALID, 0);
		uint64_t detail = 0;
		uint16_t st = m_scope_ga((uint32_t)e, q) ? m_ga((uint32_t)e, q, seats)
			      : q->mode == HF_HOLD_BEST	 ? m_best((uint32_t)e, q, seats)
							 : m_any((uint32_t)e, q, seats, &detail);
		if (st != HF_OK)
			return m_fail(rep, st, detail);
	}
	if (ev->limit != 0) {
		uint32_t have = m_user_seats((uint32_t)e, q->user_id);
		if (have + n > ev->limit)
			return m_fail(rep, HF_USER_LIMIT, have);
	}
	if (mrec_count == mrec_cap) {
		mrec_cap = mrec_cap ? mrec_cap * 2 : 256;
		mrec = realloc(mrec, mrec_cap * sizeof(*mrec));
		assert_non_null(mrec);
	}
	struct m_rec *r = &mrec[mrec_count++];
	memset(r, 0, sizeof(*r));
	r->ev = (uint32_t)e;
	r->id = q->hold_id;
	r->user = q->user_id;
	r->mode = q->mode;
	r->flags = q->flags;
	r->scope = q->scope;
	r->n = n;
	if (q->mode == HF_HOLD_EXPLICIT)
		memcpy(r->req_seats, q->seats, 4u * n);
	memcpy(r->seats, seats, 4u * n);
	uint64_t life = (uint64_t)ev->lifetime_s * 1000u;
	r->created = now;
	r->deadline = now + (q->ttl_ms < life ? q->ttl_ms : life);
	r->state = RECORD_HELD;
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(ev->owner[seats[i]], 0); /* never held twice */
		ev->owner[seats[i]] = r->id;
	}
	m_hold_reply(r, &rep->hold, r->deadline);
	return HF_OK;
}

/* Shared lookup of EXTEND/CONFIRM/RELEASE/CANCEL: INVALID, NO_EVENT or the record (maybe NULL). */
static uint16_t m_named(uint64_t ev_id, uint64_t id, struct hf_reply *rep, struct m_rec **out)
{
	*out = NULL;
	if (ev_id == 0 || id == 0)
		return m_fail(rep, HF_ERR_INVALID, 0);
	int e = m_find_event(ev_id);
	if (e < 0)
		return m_fail(rep, HF_NO_EVENT, 0);
	*out = m_find((uint32_t)e, id);
	return HF_OK;
}

static uint16_t m_extend(const struct hf_req_extend *q, uint64_t now, struct hf_reply *rep)
{
	if (q->ttl_ms == 0)
		return m_fail(rep, HF_ERR_INVALID, 0);
	struct m_rec *r;
	uint16_t st = m_named(q->event_id, q->hold_id, rep, &r);
	if (st != HF_OK)
		return st;
	if (!r)
		return m_fail(rep, HF_NO_HOLD, 0);
	if (r->state == RECORD_BOOKED || r->state == RECORD_CANCELLED)
		return m_fail(rep, HF_HOLD_CONFIRMED, 0);
	if (r->state == RECORD_EXPIRED)
		return m_fail(rep, HF_HOLD_EXPIRED, 0);
	if (r->state == RECORD_RELEASED)
		return m_fail(rep, HF_HOLD_RELEASED, 0);
	uint64_t cap = r->created + (uint64_t)mev[r->ev].lifetime_s * 1000u;
	r->deadline = now + q->ttl_ms < cap ? now + q->ttl_ms : cap;
	rep->extend.deadline_ms = r->deadline;
	return HF_OK;
}

static uint16_t m_confirm(const struct hf_req_hold_ref *q, struct hf_reply *rep)
{
	struct m_rec *r;
	uint16_t st = m_named(q->event_id, q->hold_id, rep, &r);
	if (st != HF_OK)
		return st;
	if (!r)
		return m_fail(rep, HF_NO_HOLD, 0);
	switch (r->state) {
	case RECORD_HELD:
		r->state = RECORD_BOOKED;
		/* fall through */
	case RECORD_BOOKED:
		m_hold_reply(r, &rep->confirm, 0);
		return HF_OK;
	case RECORD_EXPIRED:
		return m_fail(rep, HF_HOLD_EXPIRED, 0);
	case RECORD_RELEASED:
		return m_fail(rep, HF_HOLD_RELEASED, 0);
	default:
		return m_fail(rep, HF_BOOKING_CANCELLED, 0);
	}
}

static uint16_t m_release(const struct hf_req_hold_ref *q, uint64_t now, struct hf_reply *rep)
{
	struct m_rec *r;
	uint16_t st = m_named(q->event_id, q->hold_id, rep, &r);
	if (st != HF_OK)
		return st;
	if (!r)
		return m_fail(rep, HF_NO_HOLD, 0);
	switch (r->state) {
	case RECORD_HELD:
		m_free_seats(r);
		r->state = RECORD_RELEASED;
		r->ended = now;
		return HF_OK;
	case RECORD_RELEASED:
		return HF_OK;
	case RECORD_BOOKED:
		return m_fail(rep, HF_HOLD_CONFIRMED, 0);
	case RECORD_CANCELLED:
		return m_fail(rep, HF_BOOKING_CANCELLED, 0);
	default:
		return m_fail(rep, HF_HOLD_EXPIRED, 0);
	}
}

static uint16_t m_cancel(const struct hf_req_hold_ref *q, uint64_t now, struct hf_reply *rep)
{
	struct m_rec *r;
	uint16_t st = m_named(q->event_id, q->hold_id, rep, &r);
	if (st != HF_OK)
		return st;
	if (!r)
		return m_fail(rep, HF_NO_BOOKING, 0);
	if (r->state == RECORD_CANCELLED)
		return HF_OK;
	if (r->state != RECORD_BOOKED)
		return m_fail(rep, HF_NO_BOOKING, 0);
	m_free_seats(r);
	r->state = RECORD_CANCELLED;
	r->ended = now;
	return HF_OK;
}

static void m_counts(uint32_t e, struct hf_rep_event_info *info)
{
	memset(info, 0, sizeof(*info));
	struct m_event *ev = &mev[e];
	info->event_id = ev->id;
	info->seats_count = ev->seats;
	info->row_width = ev->rw;
	info->user_limit = ev->limit;
	info->hold_lifetime_max_s = ev->lifetime_s;
	for (uint32_t s = 0; s < ev->seats; s++)
		info->free_count += ev->owner[s] == 0;
	for (uint32_t i = 0; i < mrec_count; i++) {
		if (mrec[i].ev != e)
			continue;
		if (mrec[i].state == RECORD_HELD) {
			info->holds_count++;
			info->held_count += mrec[i].n;
		} else if (mrec[i].state == RECORD_BOOKED) {
			info->bookings_count++;
			info->booked_count += mrec[i].n;
		}
	}
}

static uint8_t m_seat_state(uint32_t e, uint32_t seat)
{
	uint64_t id = mev[e].owner[seat];
	if (id == 0)
		return HF_SEAT_FREE;
	const struct m_rec *r = m_find(e, id);
	assert_non_null(r);
	assert_true(r->state == RECORD_HELD || r->state == RECORD_BOOKED);
	return r->state == RECORD_HELD ? HF_SEAT_HELD : HF_SEAT_BOOKED;
}

/* ---- The record map: key -> value, the state a persistence layer would hold ---- */

struct kv {
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
	uint8_t key_size;
	uint16_t value_size;
	uint8_t *value; /* NULL = deleted */
};

static struct kv *kvs;
static uint32_t kv_mask, kv_used;

static uint32_t kv_hash(const uint8_t *key, uint8_t size)
{
	uint64_t h = size;
	for (uint8_t i = 0; i < size; i++)
		h = hf_hash64(h ^ key[i]);
	return (uint32_t)h;
}

static void kv_insert_raw(struct kv *item);

static void kv_grow(void)
{
	struct kv *old = kvs;
	uint32_t old_size = kvs ? kv_mask + 1 : 0;
	uint32_t size = old_size ? old_size * 2 : 4096;
	kvs = calloc(size, sizeof(*kvs));
	assert_non_null(kvs);
	kv_mask = size - 1;
	kv_used = 0;
	for (uint32_t i = 0; i < old_size; i++) {
		if (old[i].value) /* deleted keys are dropped */
			kv_insert_raw(&old[i]);
	}
	free(old);
}

static struct kv *kv_slot(const uint8_t *key, uint8_t size)
{
	for (uint32_t i = kv_hash(key, size) & kv_mask;; i = (i + 1) & kv_mask) {
		struct kv *k = &kvs[i];
		if (k->key_size == 0 || (k->key_size == size && memcmp(k->key, key, size) == 0))
			return k;
	}
}

static void kv_insert_raw(struct kv *item)
{
	struct kv *k = kv_slot(item->key, item->key_size);
	assert_int_equal(k->key_size, 0);
	*k = *item;
	kv_used++;
}

static void kv_apply(const struct hf_changes *ch)
{
	for (uint32_t i = 0; i < ch->count; i++) {
		const struct hf_change *c = &ch->items[i];
		if (!kvs || kv_used * 2 > kv_mask)
			kv_grow();
		struct kv *k = kv_slot(c->key, c->key_size);
		if (k->key_size == 0) {
			memcpy(k->key, c->key, c->key_size);
			k->key_size = c->key_size;
			kv_used++;
		}
		free(k->value);
		k->value = NULL;
		k->value_size = 0;
		if (c->kind == HF_CHANGE_PUT) {
			assert_true(c->value_size >= 1 &&
				    c->value_size <= HF_RECORD_VALUE_SIZE_MAX);
			k->value = malloc(c->value_size);
			memcpy(k->value, hf_change_value(ch, c), c->value_size);
			k->value_size = c->value_size;
		} else {
			assert_int_equal(c->kind, HF_CHANGE_DEL);
		}
	}
}

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = *(const struct kv *const *)a, *y = *(const struct kv *const *)b;
	uint8_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (int)x->key_size - (int)y->key_size;
}

static void kv_free(void)
{
	for (uint32_t i = 0; kvs && i <= kv_mask; i++)
		free(kvs[i].value);
	free(kvs);
	kvs = NULL;
}

/* ---- The run ---- */

static struct hf_store_config cfg = {8, 4096, 8192, TOMB_TTL_MS};
static struct hf_store *store;
static struct hf_changes ch;
static uint64_t now_ms = 1700000000000ull;
static uint64_t next_id = 1;
static uint64_t ops_done;

/* How often each (opcode, status) was answered, printed at the end to show what the run covered. */
static uint64_t seen[16][32];

static void fail_at(const char *what, uint16_t got, uint16_t want)
{
	fail_msg("op %" PRIu64 ": %s: store %s (%u), model %s (%u)", ops_done, what,
		 hf_status_name(got), got, hf_status_name(want), want);
}

static void apply_both(struct hf_request *q)
{
	static struct hf_reply rs, rm;
	memset(&rm, 0, sizeof(rm));
	m_advance(now_ms);
	hf_changes_reset(&ch);
	uint16_t got = hf_store_apply(store, q, now_ms, &rs, &ch);
	kv_apply(&ch);
	uint16_t want;
	switch (q->opcode) {
	case HF_OP_HOLD:
		want = m_hold(&q->hold, now_ms, &rm);
		break;
	case HF_OP_EXTEND:
		want = m_extend(&q->extend, now_ms, &rm);
		break;
	case HF_OP_CONFIRM:
		want = m_confirm(&q->confirm, &rm);
		break;
	case HF_OP_RELEASE:
		want = m_release(&q->release, now_ms, &rm);
		break;
	case HF_OP_CANCEL:
		want = m_cancel(&q->cancel, now_ms, &rm);
		break;
	default:
		fail_msg("unexpected opcode %u", q->opcode);
		return;
	}
	if (got != want)
		fail_at(hf_opcode_name(q->opcode), got, want);
	seen[q->opcode & 15][got & 31]++;
	if (got != HF_OK) {
		if (rs.detail != rm.detail)
			fail_msg("op %" PRIu64 ": %s %s: detail %" PRIu64 " != %" PRIu64, ops_done,
				 hf_opcode_name(q->opcode), hf_status_name(got), rs.detail,
				 rm.detail);
		return;
	}
	if (q->opcode == HF_OP_HOLD || q->opcode == HF_OP_CONFIRM) {
		assert_int_equal(rs.hold.hold_id, rm.hold.hold_id);
		assert_int_equal(rs.hold.deadline_ms, rm.hold.deadline_ms);
		assert_int_equal(rs.hold.seats_count, rm.hold.seats_count);
		assert_memory_equal(rs.hold.seats, rm.hold.seats, 4u * rm.hold.seats_count);
	} else if (q->opcode == HF_OP_EXTEND) {
		assert_int_equal(rs.extend.deadline_ms, rm.extend.deadline_ms);
	}
}

/* EVENT_SECTIONS against the model: each section's free seats, and the tiers' sums. */
static void compare_sections(uint32_t e)
{
	static struct hf_request q;
	static struct hf_reply rs;
	memset(&q, 0, sizeof(q));
	q.opcode = HF_OP_EVENT_SECTIONS;
	q.event_sections.event_id = mev[e].id;
	hf_changes_reset(&ch);
	assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
	kv_apply(&ch);
	const struct hf_rep_event_sections *got = &rs.event_sections;
	assert_int_equal(got->sections_count, msec_count[e]);
	uint32_t tier_free[8] = {0}, tier_seats[8] = {0};
	for (uint32_t k = 0; k < msec_count[e]; k++) {
		const struct hf_section *want = &msec[e][k];
		uint32_t free_count = 0;
		for (uint32_t s = want->first; s < want->first + want->count; s++)
			free_count += mev[e].owner[s] == 0;
		assert_string_equal(got->sections[k].section.name, want->name);
		assert_int_equal(got->sections[k].section.first, want->first);
		assert_int_equal(got->sections[k].section.count, want->count);
		assert_int_equal(got->sections[k].section.row_width, want->row_width);
		assert_int_equal(got->sections[k].section.tier, want->tier);
		assert_int_equal(got->sections[k].free_count, free_count);
		assert_true(want->tier < 8);
		tier_free[want->tier] += free_count;
		tier_seats[want->tier] += want->count;
	}
	uint32_t t = 0;
	for (uint16_t tier = 0; tier < 8; tier++) {
		if (tier_seats[tier] == 0)
			continue;
		assert_true(t < got->tiers_count);
		assert_int_equal(got->tiers[t].tier, tier);
		assert_int_equal(got->tiers[t].seats_count, tier_seats[tier]);
		assert_int_equal(got->tiers[t].free_count, tier_free[tier]);
		t++;
	}
	assert_int_equal(got->tiers_count, t);
}

static void compare_event(uint32_t e)
{
	static struct hf_request q;
	static struct hf_reply rs;
	struct hf_rep_event_info want;
	m_advance(now_ms);
	m_counts(e, &want);
	hf_changes_reset(&ch);
	memset(&q, 0, sizeof(q));
	q.opcode = HF_OP_EVENT_INFO;
	q.event_info.event_id = mev[e].id;
	assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
	kv_apply(&ch);
	const struct hf_rep_event_info *got = &rs.event_info;
	assert_int_equal(got->event_id, want.event_id);
	assert_int_equal(got->seats_count, want.seats_count);
	assert_int_equal(got->row_width, want.row_width);
	assert_int_equal(got->user_limit, want.user_limit);
	assert_int_equal(got->hold_lifetime_max_s, want.hold_lifetime_max_s);
	assert_int_equal(got->free_count, want.free_count);
	assert_int_equal(got->held_count, want.held_count);
	assert_int_equal(got->booked_count, want.booked_count);
	assert_int_equal(got->holds_count, want.holds_count);
	assert_int_equal(got->bookings_count, want.bookings_count);

	q.opcode = HF_OP_SEAT_STATUS;
	q.seat_status.event_id = mev[e].id;
	q.seat_status.seats_count = mev[e].seats;
	for (uint32_t s = 0; s < mev[e].seats; s++)
		q.seat_status.seats[s] = s;
	hf_changes_reset(&ch);
	assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
	kv_apply(&ch);
	for (uint32_t s = 0; s < mev[e].seats; s++) {
		if (rs.seat_status.seats[s].state != m_seat_state(e, s) ||
		    rs.seat_status.seats[s].owner_id != mev[e].owner[s])
			fail_msg("op %" PRIu64 ": event %u seat %u: store %u/%" PRIu64
				 ", model %u/%" PRIu64,
				 ops_done, e, s, rs.seat_status.seats[s].state,
				 rs.seat_status.seats[s].owner_id, m_seat_state(e, s),
				 mev[e].owner[s]);
	}

	compare_sections(e);

	q.opcode = HF_OP_SEAT_INFO;
	hf_changes_reset(&ch);
	assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
	kv_apply(&ch);
	for (uint32_t s = 0; s < mev[e].seats; s++) {
		const struct m_rec *r = mev[e].owner[s] ? m_find(e, mev[e].owner[s]) : NULL;
		assert_int_equal(rs.seat_info.seats[s].owner_id, mev[e].owner[s]);
		assert_int_equal(rs.seat_info.seats[s].user_id, r ? r->user : 0);
	}

	q.opcode = HF_OP_AVAIL;
	q.avail = (struct hf_req_avail){mev[e].id, 0, mev[e].seats};
	hf_changes_reset(&ch);
	assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
	kv_apply(&ch);
	assert_int_equal(rs.avail.free_count, want.free_count);
	for (uint32_t s = 0; s < mev[e].seats; s++)
		assert_int_equal(hf_avail_bit(rs.avail.bitmap, s), mev[e].owner[s] == 0);
}

static int user_record_cmp(const void *a, const void *b)
{
	const struct hf_user_record *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* One user's live holds or bookings of event e, paged with a random page size, against the
 * model's records of that user in that state (as sets: the store lists them in the order they
 * joined the list, which a reload resets to key order). */
static void compare_user_list(uint32_t e, uint64_t user, uint8_t opcode)
{
	static struct hf_request q;
	static struct hf_reply rs;
	static struct hf_user_record got[512], want[512];
	uint32_t got_n = 0, want_n = 0;
	uint8_t state = opcode == HF_OP_USER_HOLDS ? RECORD_HELD : RECORD_BOOKED;
	for (uint32_t i = 0; i < mrec_count; i++) {
		const struct m_rec *r = &mrec[i];
		if (r->ev != e || r->user != user || r->state != state)
			continue;
		assert_true(want_n < HF_ARRAY_SIZE(want));
		struct hf_user_record *w = &want[want_n++];
		memset(w, 0, sizeof(*w));
		w->id = r->id;
		w->created_ms = r->created;
		w->deadline_ms = state == RECORD_HELD ? r->deadline : 0;
		w->seats_count = r->n;
		memcpy(w->seats, r->seats, 4u * r->n);
	}
	uint32_t limit = below(4) == 0 ? HF_USER_RECORDS_PAGE_MAX : 1 + below(5);
	memset(&q, 0, sizeof(q));
	q.opcode = opcode;
	q.user_holds = (struct hf_req_user_records){mev[e].id, user, 0, 0, limit};
	for (uint32_t page = 0;; page++) {
		assert_true(page <= mrec_count + 1);
		hf_changes_reset(&ch);
		assert_int_equal(hf_store_apply(store, &q, now_ms, &rs, &ch), HF_OK);
		kv_apply(&ch);
		for (uint32_t i = 0; i < rs.user_holds.records_count; i++) {
			assert_true(got_n < HF_ARRAY_SIZE(got));
			got[got_n] = rs.user_holds.records[i];
			memset(got[got_n].seats + got[got_n].seats_count, 0,
			       4u * (HF_HOLD_SEATS_MAX - got[got_n].seats_count));
			got_n++;
		}
		if (rs.user_holds.next_seq == 0 && rs.user_holds.next_id == 0)
			break;
		q.user_holds.cursor_seq = rs.user_holds.next_seq;
		q.user_holds.cursor_id = rs.user_holds.next_id;
	}
	if (got_n != want_n)
		fail_msg("op %" PRIu64 ": event %u user %" PRIu64 " %s: store %u, model %u",
			 ops_done, e, user, hf_opcode_name(opcode), got_n, want_n);
	qsort(got, got_n, sizeof(got[0]), user_record_cmp);
	qsort(want, want_n, sizeof(want[0]), user_record_cmp);
	for (uint32_t i = 0; i < got_n; i++) {
		assert_int_equal(got[i].id, want[i].id);
		assert_int_equal(got[i].created_ms, want[i].created_ms);
		assert_int_equal(got[i].deadline_ms, want[i].deadline_ms);
		assert_int_equal(got[i].seats_count, want[i].seats_count);
		assert_memory_equal(got[i].seats, want[i].seats, 4u * want[i].seats_count);
	}
}

static void compare_users(uint32_t e)
{
	m_advance(now_ms);
	for (uint64_t user = 1; user <= USERS_COUNT; user++) {
		compare_user_list(e, user, HF_OP_USER_HOLDS);
		compare_user_list(e, user, HF_OP_USER_BOOKINGS);
	}
}

static void compare_all(void)
{
	struct hf_store_counts c;
	uint64_t seats = 0, free_count = 0, held = 0, booked = 0, holds = 0, bookings = 0;
	for (uint32_t e = 0; e < MEV_COUNT; e++) {
		compare_event(e);
		compare_users(e);
		struct hf_rep_event_info info;
		m_counts(e, &info);
		seats += info.seats_count;
		free_count += info.free_count;
		held += info.held_count;
		booked += info.booked_count;
		holds += info.holds_count;
		bookings += info.bookings_count;
	}
	hf_store_counts(store, &c);
	assert_int_equal(c.events_count, MEV_COUNT);
	assert_int_equal(c.seats_count, seats);
	assert_int_equal(c.free_count, free_count);
	assert_int_equal(c.held_count, held);
	assert_int_equal(c.booked_count, booked);
	assert_int_equal(c.holds_count, holds);
	assert_int_equal(c.bookings_count, bookings);
}

/* Every model record's id answers a replay of its own HOLD as the model says (replays change
 * nothing, so this runs on the store and the model alike). */
static void compare_replays(void)
{
	static struct hf_request q;
	for (uint32_t i = 0; i < mrec_count; i++) {
		const struct m_rec *r = &mrec[i];
		memset(&q, 0, sizeof(q));
		q.opcode = HF_OP_HOLD;
		q.hold = (struct hf_req_hold){.event_id = mev[r->ev].id,
					      .hold_id = r->id,
					      .user_id = r->user,
					      .ttl_ms = 1000,
					      .mode = r->mode,
					      .flags = r->flags,
					      .scope = r->scope,
					      .seats_count = r->n};
		memcpy(q.hold.seats, r->req_seats, 4u * r->n);
		apply_both(&q);
	}
}

/* Loads the record map into a fresh store, compares it in full, and continues on it. */
static void reload(void)
{
	struct kv **items = malloc(sizeof(*items) * (kv_mask + 1));
	uint32_t n = 0;
	for (uint32_t i = 0; i <= kv_mask; i++) {
		if (kvs[i].value)
			items[n++] = &kvs[i];
	}
	qsort(items, n, sizeof(*items), kv_cmp);
	struct hf_store *fresh;
	assert_int_equal(hf_store_create(&cfg, &fresh), 0);
	struct hf_changes load_ch;
	assert_int_equal(hf_changes_init(&load_ch, n + 1), 0);
	for (uint32_t i = 0; i < n; i++) {
		enum hf_status st =
		    hf_store_load(fresh, items[i]->key, items[i]->key_size, items[i]->value,
				  items[i]->value_size, now_ms, &load_ch);
		assert_int_equal(st, HF_OK);
	}
	free(items);
	kv_apply(&load_ch);
	hf_changes_deinit(&load_ch);
	hf_store_check(fresh);
	hf_store_destroy(store);
	store = fresh;
	compare_all();
	compare_replays();
	hf_store_check(store);
}

static uint64_t pick_user(void)
{
	return 1 + below(USERS_COUNT);
}

static void random_seats(struct hf_req_hold *h, uint32_t seats)
{
	for (uint32_t i = 0; i < h->seats_count; i++) {
		h->seats[i] = below(seats);
		if (below(200) == 0)
			h->seats[i] = seats + below(3); /* out of range */
	}
	if (h->seats_count > 1 && below(40) == 0)
		h->seats[h->seats_count - 1] = h->seats[0]; /* duplicate */
}

/* A BEST / ANY scope: mostly the event on events without sections; on the sectioned one the event,
 * a section or a tier; now and then one that does not exist. Flags: NO_ORPHAN a third of the time.
 */
static void random_scope(uint32_t e, struct hf_req_hold *h)
{
	h->flags = below(3) == 0 ? HF_HOLD_FLAG_NO_ORPHAN : 0;
	h->scope = 0;
	uint32_t dice = below(10);
	if (msec_count[e] == 0) {
		if (dice == 0)
			h->scope = 1;
		else if (dice == 1)
			h->flags |= HF_HOLD_FLAG_TIER;
		return;
	}
	if (dice < 3) {
		h->scope = (uint16_t)(1 + below(msec_count[e] + 1));
	} else if (dice < 6) {
		h->flags |= HF_HOLD_FLAG_TIER;
		h->scope = (uint16_t)(below(5));
	}
}

static const struct m_rec *pick_rec(int state)
{
	if (mrec_count == 0)
		return NULL;
	uint32_t start = below(mrec_count);
	for (uint32_t k = 0; k < mrec_count; k++) {
		const struct m_rec *r = &mrec[(start + k) % mrec_count];
		if (state < 0 || r->state == state)
			return r;
	}
	return NULL;
}

static void random_op(void)
{
	static struct hf_request q;
	memset(&q, 0, sizeof(q));
	uint32_t e = below(MEV_COUNT);
	uint32_t dice = below(1000);
	const struct m_rec *r;
	if (dice < 300) { /* explicit hold */
		q.opcode = HF_OP_HOLD;
		q.hold.event_id = mev[e].id;
		q.hold.hold_id = next_id++;
		q.hold.user_id = pick_user();
		q.hold.ttl_ms = below(20) == 0 ? 1000000u : 50 + below(4000);
		q.hold.mode = HF_HOLD_EXPLICIT;
		q.hold.flags = below(4) == 0 ? HF_HOLD_FLAG_NO_ORPHAN : 0;
		q.hold.seats_count = below(30) == 0 ? 5 + below(20) : 1 + below(4);
		random_seats(&q.hold, mev[e].seats);
	} else if (dice < 420) { /* best-available */
		q.opcode = HF_OP_HOLD;
		q.hold.event_id = mev[e].id;
		q.hold.hold_id = next_id++;
		q.hold.user_id = pick_user();
		q.hold.ttl_ms = 50 + below(4000);
		q.hold.mode = below(3) == 0 ? HF_HOLD_ANY : HF_HOLD_BEST;
		random_scope(e, &q.hold);
		uint32_t width = mev[e].rw ? mev[e].rw : 70;
		q.hold.seats_count = 1 + below(below(10) == 0 ? width + 1 : 5);
	} else if (dice < 520 && (r = pick_rec(-1))) { /* replay, same or different body */
		q.opcode = HF_OP_HOLD;
		q.hold = (struct hf_req_hold){.event_id = mev[r->ev].id,
					      .hold_id = r->id,
					      .user_id = r->user,
					      .ttl_ms = 1 + below(5000),
					      .mode = r->mode,
					      .flags = r->flags,
					      .scope = r->scope,
					      .seats_count = r->n};
		memcpy(q.hold.seats, r->req_seats, 4u * r->n);
		switch (below(8)) {
		case 0:
			q.hold.user_id++;
			break;
		case 1:
			q.hold.mode ^= 1;
			break;
		case 2:
			if (r->mode == HF_HOLD_EXPLICIT)
				q.hold.seats[below(r->n)] ^= 1;
			break;
		case 3:
			q.hold.seats_count = r->n % HF_HOLD_SEATS_MAX + 1;
			break;
		case 4:
			q.hold.flags ^= HF_HOLD_FLAG_NO_ORPHAN;
			break;
		default:
			break;
		}
	} else if (dice < 600) { /* extend */
		r = pick_rec(below(4) ? RECORD_HELD : -1);
		q.opcode = HF_OP_EXTEND;
		q.extend = (struct hf_req_extend){r ? mev[r->ev].id : mev[e].id,
						  r ? r->id : 1 + below((uint32_t)next_id),
						  below(100) == 0 ? 0 : 1 + below(6000)};
	} else if (dice < 730) { /* confirm */
		r = pick_rec(below(5) ? RECORD_HELD : -1);
		q.opcode = HF_OP_CONFIRM;
		q.confirm = (struct hf_req_hold_ref){r ? mev[r->ev].id : mev[e].id,
						     r ? r->id : 1 + below((uint32_t)next_id)};
	} else if (dice < 820) { /* release */
		r = pick_rec(below(3) ? RECORD_HELD : -1);
		q.opcode = HF_OP_RELEASE;
		q.release = (struct hf_req_hold_ref){r ? mev[r->ev].id : mev[e].id,
						     r ? r->id : 1 + below((uint32_t)next_id)};
	} else if (dice < 920) { /* cancel */
		r = pick_rec(below(4) ? RECORD_BOOKED : -1);
		q.opcode = HF_OP_CANCEL;
		q.cancel = (struct hf_req_hold_ref){r ? mev[r->ev].id : mev[e].id,
						    r ? r->id : 1 + below((uint32_t)next_id)};
	} else if (dice < 940) { /* ids and events that are wrong */
		q.opcode = (uint8_t)(HF_OP_EXTEND + below(4));
		q.extend = (struct hf_req_extend){below(2) ? 0 : 999, below(2) ? 0 : next_id, 10};
		if (q.opcode == HF_OP_EXTEND && below(2))
			q.extend.ttl_ms = 0;
	} else if (dice < 960) { /* a random AVAIL range */
		static struct hf_reply rs;
		uint32_t first = below(mev[e].seats + 2);
		uint32_t count = below(mev[e].seats + 2);
		q.opcode = HF_OP_AVAIL;
		q.avail = (struct hf_req_avail){mev[e].id, first, count};
		m_advance(now_ms);
		hf_changes_reset(&ch);
		uint16_t st = hf_store_apply(store, &q, now_ms, &rs, &ch);
		kv_apply(&ch);
		if (count != 0 && (uint64_t)first + count > mev[e].seats) {
			assert_int_equal(st, HF_SEAT_RANGE);
			assert_int_equal(rs.detail, first >= mev[e].seats ? first : mev[e].seats);
			return;
		}
		assert_int_equal(st, HF_OK);
		for (uint32_t i = 0; i < count; i++)
			assert_int_equal(hf_avail_bit(rs.avail.bitmap, i),
					 mev[e].owner[first + i] == 0);
		return;
	} else if (dice < 975) {
		compare_event(e);
		return;
	} else if (dice < 990) { /* tick with a small limit */
		hf_changes_reset(&ch);
		hf_store_tick(store, now_ms, 1 + below(4), &ch);
		kv_apply(&ch);
		return;
	} else {
		/* Time jumps past deadlines and tombstone lifetimes. */
		now_ms += 1000 + below(8000);
		return;
	}
	apply_both(&q);
}

static uint64_t ops_default = 1000000;

static void test_model(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	const char *env = getenv("HF_SEED");
	if (env)
		seed = strtoull(env, NULL, 0);
	uint64_t ops = ops_default;
	env = getenv("HF_MODEL_OPS");
	if (env)
		ops = strtoull(env, NULL, 0);
	printf("store model: HF_SEED=%" PRIu64 " HF_MODEL_OPS=%" PRIu64 "\n", seed, ops);
	fflush(stdout);
	rng_state = seed;

	assert_int_equal(hf_store_create(&cfg, &store), 0);
	assert_int_equal(hf_changes_init(&ch, 4096), 0);
	for (uint32_t e = 0; e < MEV_COUNT; e++) {
		mev[e].owner = calloc(mev[e].seats, sizeof(uint64_t));
		struct hf_request q = {.opcode = HF_OP_CREATE_EVENT};
		q.create_event =
		    (struct hf_req_create_event){.event_id = mev[e].id,
						 .seats_count = mev[e].seats,
						 .row_width = mev[e].rw,
						 .user_limit = mev[e].limit,
						 .hold_lifetime_max_s = mev[e].lifetime_s,
						 .sections_count = msec_count[e]};
		memcpy(q.create_event.sections, msec[e], sizeof(msec[e][0]) * msec_count[e]);
		struct hf_reply rep;
		hf_changes_reset(&ch);
		assert_int_equal(hf_store_apply(store, &q, now_ms, &rep, &ch), HF_OK);
		kv_apply(&ch);
	}
	for (ops_done = 1; ops_done <= ops; ops_done++) {
		now_ms += below(40);
		random_op();
		if (ops_done % COMPARE_EVERY == 0)
			compare_all();
		if (ops_done % CHECK_EVERY == 0)
			hf_store_check(store);
		if (ops_done % RELOAD_EVERY == 0)
			reload();
	}
	compare_all();
	reload();
	struct hf_store_counts c;
	hf_store_counts(store, &c);
	printf("store model: %" PRIu64 " ops, %" PRIu64 " hold ids, %" PRIu64
	       " expiries; final %" PRIu64 " held / %" PRIu64 " booked seats\n",
	       ops, next_id - 1, m_expired_total, c.held_count, c.booked_count);
	for (uint32_t op = 0; op < 16; op++) {
		for (uint32_t st = 0; st < 32; st++) {
			if (seen[op][st])
				printf("  %-8s %-18s %" PRIu64 "\n", hf_opcode_name((uint8_t)op),
				       hf_status_name((uint16_t)st), seen[op][st]);
		}
	}
	hf_store_destroy(store);
	hf_changes_deinit(&ch);
	kv_free();
	for (uint32_t e = 0; e < MEV_COUNT; e++)
		free(mev[e].owner);
	free(mrec);
}

/* argv[1], when given, replaces the default op count (HF_MODEL_OPS still wins). */
int main(int argc, char **argv)
{
	if (argc > 1)
		ops_default = strtoull(argv[1], NULL, 0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
