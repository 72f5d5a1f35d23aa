/* The seat store's hashed timer wheel: HELD records fire at their deadline (expiry), tombstones at
 * ended + tombstone_ttl_ms (forgetting). O(1) to arm and cancel; a run fires due entries within a
 * budget. Part of the store (shards/store.c; layout in shards/store_int.h). */
#include "shards/store_int.h"

#include "base/assert.h"

#include <stdint.h>

static uint32_t wheel_slot_of(const struct hf_store *store, uint64_t at_ms)
{
	uint64_t tick = at_ms / HF_STORE_WHEEL_TICK_MS;
	/* A time behind the cursor (the clock stepped back) goes to the cursor's slot: it is then
	 * examined at the next run instead of a whole rotation later. */
	if (tick < store->wheel_cursor_tick)
		tick = store->wheel_cursor_tick;
	return (uint32_t)(tick % HF_STORE_WHEEL_SLOTS);
}

void store_wheel_arm(struct hf_store *store, struct record *rec, uint64_t at_ms)
{
	HF_ASSERT(!rec->in_wheel);
	uint32_t slot = wheel_slot_of(store, at_ms);
	uint32_t self = record_index(store, rec) + 1;
	rec->wheel_ms = at_ms;
	rec->wheel_slot = slot;
	rec->wheel_prev = RECORD_NONE;
	rec->wheel_next = store->wheel_head[slot];
	if (rec->wheel_next != RECORD_NONE)
		record_at(store, rec->wheel_next)->wheel_prev = self;
	else
		store->wheel_min_ms[slot] = UINT64_MAX;
	store->wheel_head[slot] = self;
	if (at_ms < store->wheel_min_ms[slot])
		store->wheel_min_ms[slot] = at_ms;
	store->wheel_nonempty[slot / 64] |= 1ull << (slot % 64);
	rec->in_wheel = 1;
	store->wheel_count++;
}

void store_wheel_cancel(struct hf_store *store, struct record *rec)
{
	HF_ASSERT(rec->in_wheel);
	uint32_t slot = rec->wheel_slot;
	HF_ASSERT(slot < HF_STORE_WHEEL_SLOTS);
	if (rec->wheel_prev != RECORD_NONE) {
		record_at(store, rec->wheel_prev)->wheel_next = rec->wheel_next;
	} else {
		HF_ASSERT(store->wheel_head[slot] == record_index(store, rec) + 1);
		store->wheel_head[slot] = rec->wheel_next;
		if (rec->wheel_next == RECORD_NONE)
			store->wheel_nonempty[slot / 64] &= ~(1ull << (slot % 64));
	}
	if (rec->wheel_next != RECORD_NONE)
		record_at(store, rec->wheel_next)->wheel_prev = rec->wheel_prev;
	rec->wheel_prev = rec->wheel_next = RECORD_NONE;
	rec->in_wheel = 0;
	HF_ASSERT(store->wheel_count > 0);
	store->wheel_count--;
}

/* Fires one due entry when the budget allows. Returns 1 when fired. */
static int wheel_fire(struct hf_store *store, struct record *rec, struct wheel_budget *b,
		      struct hf_changes *changes)
{
	if (changes_room(changes) <= b->room_keep)
		return 0;
	if (rec->state == RECORD_HELD) {
		if (b->holds_left == 0)
			return 0;
		b->holds_left--;
		b->holds_fired++;
		store_hold_expire(store, rec, changes);
		return 1;
	}
	if (b->tombs_left == 0)
		return 0;
	b->tombs_left--;
	store_record_forget(store, rec, changes);
	return 1;
}

/* Fires the entries of one slot that are due at now_ms. Returns 1 when none due is left. Stops at
 * the first due entry the budget cannot fire, so a call costs the entries it fires plus the ones
 * not due before that point, even when a whole burst of holds shares one slot. */
static int wheel_run_slot(struct hf_store *store, uint32_t slot, uint64_t now_ms,
			  struct wheel_budget *b, struct hf_changes *changes)
{
	if (store->wheel_min_ms[slot] > now_ms || store->wheel_head[slot] == RECORD_NONE)
		return 1;
	uint32_t bound = store->cfg.records_max; /* a slot holds at most every record */
	for (uint32_t r = store->wheel_head[slot], n = 0; r != RECORD_NONE; n++) {
		HF_ASSERT(n < bound);
		struct record *rec = record_at(store, r);
		/* Firing may re-arm rec (a hold becoming a tombstone) at the head of this very
		 * slot, behind the walk: it is then left for the next run. */
		r = rec->wheel_next;
		if (rec->wheel_ms <= now_ms && !wheel_fire(store, rec, b, changes)) {
			/* Out of budget: the slot's bound stays a valid lower bound (entries were
			 * only removed, and arms lower it themselves). */
			return 0;
		}
	}
	/* Recompute the slot's bound exactly over what is left (including entries armed above). */
	uint64_t min_ms = UINT64_MAX;
	for (uint32_t r = store->wheel_head[slot], n = 0; r != RECORD_NONE; n++) {
		HF_ASSERT(n < bound);
		const struct record *rec = record_at(store, r);
		if (rec->wheel_ms < min_ms)
			min_ms = rec->wheel_ms;
		r = rec->wheel_next;
	}
	store->wheel_min_ms[slot] = min_ms;
	return 1;
}

/* Expires due holds and forgets due tombstones up to now_ms within the budget. Returns 1 when
 * nothing due is left. At most HF_STORE_WHEEL_SLOTS slots are examined per call. */
int store_wheel_run(struct hf_store *store, uint64_t now_ms, struct wheel_budget *b,
		    struct hf_changes *changes)
{
	uint64_t now_tick = now_ms / HF_STORE_WHEEL_TICK_MS;
	if (store->wheel_count == 0) {
		if (now_tick > store->wheel_cursor_tick)
			store->wheel_cursor_tick = now_tick;
		return 1;
	}
	if (now_tick < store->wheel_cursor_tick) {
		/* The clock stepped back: only the cursor's slot can hold due entries. */
		return wheel_run_slot(store,
				      (uint32_t)(store->wheel_cursor_tick % HF_STORE_WHEEL_SLOTS),
				      now_ms, b, changes);
	}
	uint64_t steps = now_tick - store->wheel_cursor_tick + 1;
	if (steps > HF_STORE_WHEEL_SLOTS)
		steps = HF_STORE_WHEEL_SLOTS;
	for (uint64_t i = 0; i < steps; i++) {
		uint32_t slot = (uint32_t)((store->wheel_cursor_tick + i) % HF_STORE_WHEEL_SLOTS);
		if (!(store->wheel_nonempty[slot / 64] >> (slot % 64) & 1u))
			continue;
		if (!wheel_run_slot(store, slot, now_ms, b, changes)) {
			/* Every slot before this one is done. */
			store->wheel_cursor_tick += i;
			return 0;
		}
	}
	store->wheel_cursor_tick = now_tick;
	return 1;
}

uint32_t hf_store_tick(struct hf_store *store, uint64_t now_ms, uint32_t limit,
		       struct hf_changes *changes)
{
	struct wheel_budget b = {.holds_left = limit, .tombs_left = limit, .room_keep = 0};
	store_wheel_run(store, now_ms, &b, changes);
	/* Expired holds gave seats back, admissions expire: the rooms admit. */
	store_room_tick(store, now_ms, changes);
#ifdef HF_STORE_CHECKS
	if (b.holds_fired > 0 || changes->count > 0)
		store_check_after_mutation(store);
#endif
	return b.holds_fired;
}

uint64_t hf_store_next_deadline_ms(const struct hf_store *store)
{
	uint64_t best = store_room_next_ms(store);
	if (store->wheel_count == 0)
		return best;
	for (uint32_t w = 0; w < HF_STORE_WHEEL_SLOTS / 64; w++) {
		for (uint64_t bits = store->wheel_nonempty[w]; bits != 0; bits &= bits - 1) {
			uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);
			if (store->wheel_min_ms[slot] < best)
				best = store->wheel_min_ms[slot];
		}
	}
	HF_ASSERT(best != UINT64_MAX);
	return best;
}
