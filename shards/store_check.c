/* The seat store's O(n) checker: hf_store_check walks every structure and panics on the first
 * broken invariant of shards/store.c's INVARIANTS block. Part of the store; layout in
 * shards/store_int.h. */
#include "shards/store_int.h"

#include "base/assert.h"

#include <stdlib.h>

/* Checks after mutations (builds with HF_STORE_CHECKS)
 *
 * hf_store_check is O(capacity): it walks the user table (2 x records_max slots), every record
 * handed out and every seat. For the small stores of the unit and model tests that is cheap after
 * every mutation. A server built with checks and default limits (4M records) would spend tens of ms
 * per op in it, so there it runs once every check_every mutations, which keeps its amortized cost
 * near one op's. check_every is 1 for stores of up to 16K records. */
#ifdef HF_STORE_CHECKS
void store_check_after_mutation(struct hf_store *store)
{
	uint64_t capacity = (uint64_t)store->users_mask + 1u + store->cfg.records_max;
	uint64_t check_every = 1u + capacity / (64u * 1024u);
	if (++store->mutations_unchecked < check_every)
		return;
	store->mutations_unchecked = 0;
	hf_store_check(store);
}
#endif

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (HF_UNLIKELY(!(cond)))                                                          \
			HF_PANIC("store check failed: %s", #cond);                                 \
	} while (0)

static void check_event(const struct hf_store *store, uint32_t ei, uint64_t *owned_out)
{
	const struct event *ev = &store->events[ei];
	CHECK(store_event_find(store, ev->id) == ei + 1);
	uint32_t bad;
	CHECK(store_sections_check(ev->seats_count, ev->sections, ev->sections_count, &bad) ==
	      HF_OK);
	/* A reused slot keeps its sections memory with no section in it. */
	CHECK(ev->sections_count == 0 || ev->sections != NULL);
	uint64_t free_count = 0;
	for (uint32_t b = 0; b < ev->blocks_count; b++) {
		uint64_t block = 0;
		for (uint32_t w = b * BLOCK_WORDS; w < ev->words_count && w < (b + 1) * BLOCK_WORDS;
		     w++)
			block += (uint64_t)__builtin_popcountll(ev->free_bits[w]);
		CHECK(block == ev->block_free[b]);
		free_count += block;
	}
	CHECK(free_count == ev->free_count);
	if (ev->seats_count % WORD_BITS != 0)
		CHECK((ev->free_bits[ev->words_count - 1] >> (ev->seats_count % WORD_BITS)) == 0);
	uint64_t held = 0, booked = 0;
	for (uint32_t c = 0; c < ev->chunks_count; c++) {
		uint32_t used = 0;
		uint32_t end = (c + 1) * HF_STORE_CHUNK_SEATS;
		if (end > ev->seats_count)
			end = ev->seats_count;
		for (uint32_t s = c * HF_STORE_CHUNK_SEATS; s < end; s++) {
			uint32_t owner = seat_owner(store, ev, s);
			CHECK((owner == RECORD_NONE) == seat_is_free(ev, s));
			if (owner == RECORD_NONE)
				continue;
			used++;
			CHECK(owner <= store->cfg.records_max);
			const struct record *rec = &store->records[owner - 1];
			CHECK(rec->event_index == ei);
			CHECK(rec->state == RECORD_HELD || rec->state == RECORD_BOOKED);
			int listed = 0;
			const uint32_t *seats = record_seats(store, rec);
			for (uint32_t i = 0; i < rec->seats_count; i++)
				listed += seats[i] == s;
			CHECK(listed == 1);
			if (rec->state == RECORD_HELD)
				held++;
			else
				booked++;
		}
		CHECK(used == ev->chunk_used[c]);
		CHECK((ev->chunk_index[c] != 0) == (used != 0));
	}
	CHECK(held == ev->held_count && booked == ev->booked_count);
	CHECK(held + booked + free_count == ev->seats_count);
	*owned_out = held + booked;
}

/* Walks one list of a user entry: every record is live in the list's state, of the entry's event
 * and user, linked both ways, in increasing list_seq. Returns the seats listed; *records_out counts
 * the records. */
static uint64_t check_user_list(const struct hf_store *store, const struct user_entry *u,
				uint32_t list, uint32_t *records_out)
{
	uint8_t state = list == USER_LIST_HOLDS ? RECORD_HELD : RECORD_BOOKED;
	uint64_t seats = 0, seq = 0;
	uint32_t prev = RECORD_NONE, n = 0;
	for (uint32_t r = u->head[list]; r != RECORD_NONE; r = store->records[r - 1].user_next) {
		CHECK(n++ < store->cfg.records_max);
		CHECK(r <= store->records_high);
		const struct record *rec = &store->records[r - 1];
		CHECK(rec->state == state);
		CHECK(rec->event_index + 1 == u->event_index_1);
		CHECK(rec->user_id == u->user_id);
		CHECK(rec->user_prev == prev);
		CHECK(rec->list_seq > seq);
		CHECK(rec->list_seq <= store->list_seq_last);
		seq = rec->list_seq;
		seats += rec->seats_count;
		prev = r;
	}
	CHECK(prev == u->tail[list]);
	*records_out = n;
	return seats;
}

/* INVARIANT 7: each (event, user) entry lists exactly that user's live records of the event, and
 * its seat total is exactly their seats. Every live record is in one list: the lists together
 * hold as many records as there are live holds and bookings, and no record is in two lists (its
 * state picks the one list it can pass the walk in). A sum over all users would miss seats counted
 * against the wrong user; this checks each entry. */
static void check_users(const struct hf_store *store)
{
	uint32_t users = 0;
	uint64_t listed = 0;
	for (uint32_t i = 0; i <= store->users_mask; i++) {
		const struct user_entry *u = &store->users[i];
		if (u->event_index_1 == 0)
			continue;
		users++;
		CHECK(u->seats_count > 0);
		CHECK(u->event_index_1 <= store->events_count);
		CHECK(store_user_slot(store, u->event_index_1 - 1, u->user_id) == i);
		uint32_t holds, bookings;
		uint64_t seats = check_user_list(store, u, USER_LIST_HOLDS, &holds);
		seats += check_user_list(store, u, USER_LIST_BOOKINGS, &bookings);
		CHECK(seats == u->seats_count);
		CHECK(holds + bookings > 0);
		listed += holds + bookings;
	}
	CHECK(users == store->users_count);
	CHECK(listed == (uint64_t)store->holds_total + store->bookings_total);
}

void hf_store_check(const struct hf_store *store)
{
	store_room_check(store);
	uint64_t seats = 0, free_count = 0, held = 0, booked = 0, owned = 0;
	for (uint32_t ei = 0; ei < store->events_count; ei++) {
		uint64_t ev_owned;
		if (event_is_deleted(&store->events[ei]))
			continue;
		check_event(store, ei, &ev_owned);
		const struct event *ev = &store->events[ei];
		seats += ev->seats_count;
		free_count += ev->free_count;
		held += ev->held_count;
		booked += ev->booked_count;
		owned += ev_owned;
	}
	CHECK(seats == store->seats_total && free_count == store->free_total);
	CHECK(held == store->held_total && booked == store->booked_total);
	CHECK(store->chunks_used <= store->chunks_high && store->chunks_high <= store->chunks_max);
	CHECK(store->records_used <= store->records_high &&
	      store->records_high <= store->cfg.records_max);

	uint32_t used = 0, holds = 0, bookings = 0, tombs = 0, in_wheel = 0, listed_seats = 0;
	uint32_t seat_lists = 0;
	uint32_t *ev_holds = calloc(store->events_count + 1u, sizeof(uint32_t));
	uint32_t *ev_bookings = calloc(store->events_count + 1u, sizeof(uint32_t));
	HF_ASSERT(ev_holds && ev_bookings);
	for (uint32_t i = 0; i < store->records_high; i++) {
		const struct record *rec = &store->records[i];
		if (rec->state == RECORD_FREE) {
			CHECK(!rec->in_wheel);
			continue;
		}
		used++;
		CHECK(rec->state <= RECORD_CANCELLED);
		CHECK(rec->id != 0 && rec->event_index < store->events_count);
		CHECK(store_record_find(store, rec->event_index, rec->id) == i + 1);
		CHECK(rec->seats_count >= 1 && rec->seats_count <= HF_HOLD_SEATS_MAX);
		if (rec->seats_count > HF_STORE_RECORD_SEATS_INLINE) {
			seat_lists++;
			CHECK(rec->seats_inline[0] >= 1);
			CHECK(rec->seats_inline[0] <= store->seat_lists_high);
		}
		const struct event *ev = &store->events[rec->event_index];
		CHECK(!event_is_deleted(ev));
		if (rec->state == RECORD_HELD || rec->state == RECORD_BOOKED) {
			const uint32_t *seats = record_seats(store, rec);
			for (uint32_t k = 0; k < rec->seats_count; k++) {
				CHECK(seats[k] < ev->seats_count);
				CHECK(seat_owner(store, ev, seats[k]) == i + 1);
			}
			listed_seats += rec->seats_count;
		}
		if (rec->state == RECORD_HELD) {
			holds++;
			ev_holds[rec->event_index]++;
			CHECK(rec->in_wheel && rec->wheel_ms == rec->deadline_ms);
			CHECK(rec->deadline_ms <= rec->created_ms + lifetime_ms(ev));
		} else if (rec->state == RECORD_BOOKED) {
			bookings++;
			ev_bookings[rec->event_index]++;
			CHECK(!rec->in_wheel);
		} else {
			tombs++;
			CHECK(rec->in_wheel &&
			      rec->wheel_ms == rec->ended_ms + store->cfg.tombstone_ttl_ms);
		}
		in_wheel += rec->in_wheel;
	}
	for (uint32_t ei = 0; ei < store->events_count; ei++) {
		CHECK(ev_holds[ei] == store->events[ei].holds_count);
		CHECK(ev_bookings[ei] == store->events[ei].bookings_count);
	}
	free(ev_holds);
	free(ev_bookings);
	CHECK(listed_seats == owned);
	CHECK(used == store->records_used);
	CHECK(holds == store->holds_total && bookings == store->bookings_total);
	CHECK(tombs == store->tombstones_total);
	CHECK(in_wheel == store->wheel_count);
	CHECK(seat_lists == store->seat_lists_used);
	CHECK(store->seat_lists_used <= store->seat_lists_high);
	CHECK(store->seat_lists_high <= store->cfg.records_max);

	/* The tombstone FIFO has exactly the tombstones, linked both ways. */
	uint32_t fifo = 0, prev = RECORD_NONE;
	for (uint32_t r = store->tomb_head; r != RECORD_NONE; r = store->records[r - 1].tomb_next) {
		CHECK(fifo++ < store->cfg.records_max);
		CHECK(record_is_tombstone(&store->records[r - 1]));
		CHECK(store->records[r - 1].tomb_prev == prev);
		prev = r;
	}
	CHECK(prev == store->tomb_tail && fifo == tombs);

	/* Every wheel entry is in a non-empty slot whose bound is not above it. */
	uint32_t wheel_seen = 0;
	for (uint32_t slot = 0; slot < HF_STORE_WHEEL_SLOTS; slot++) {
		int nonempty = (int)(store->wheel_nonempty[slot / 64] >> (slot % 64) & 1u);
		CHECK(nonempty == (store->wheel_head[slot] != RECORD_NONE));
		uint32_t prev_w = RECORD_NONE;
		for (uint32_t r = store->wheel_head[slot]; r != RECORD_NONE;
		     r = store->records[r - 1].wheel_next) {
			const struct record *rec = &store->records[r - 1];
			CHECK(wheel_seen++ < store->cfg.records_max);
			CHECK(rec->in_wheel && rec->wheel_prev == prev_w);
			CHECK(store->wheel_min_ms[slot] <= rec->wheel_ms);
			prev_w = r;
		}
	}
	CHECK(wheel_seen == store->wheel_count);

	check_users(store);
}
