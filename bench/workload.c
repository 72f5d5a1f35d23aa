/* The virtual users of holdfast-bench (see workload.h for the states and invariants). */
#include "bench/workload.h"

#include "base/assert.h"
#include "proto/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t sellout_pct[HF_BENCH_SELLOUT_MARKS] = {50, 90, 99, 100};

int hf_bench_shared_init(struct hf_bench_shared *shared, const struct hf_bench_opts *opts,
			 uint16_t owners_count, const uint16_t *slot_owner)
{
	HF_ASSERT(owners_count >= 1);
	memset(shared, 0, sizeof(*shared));
	shared->opts = opts;
	shared->owners_count = owners_count;
	shared->hold_id_nonce = (uint16_t)(hf_hash64(opts->seed ^ 0x686f6c64ull) & 0xffffu);
	if (slot_owner != NULL && owners_count > 1) {
		uint16_t *copy = malloc(HF_SLOTS_COUNT * sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, slot_owner, HF_SLOTS_COUNT * sizeof(*copy));
		shared->slot_owner = copy;
	} else {
		shared->owners_count = 1;
	}
	if (opts->workload == HF_BENCH_WORKLOAD_ONSALE) {
		shared->ledger = calloc(opts->seats, sizeof(*shared->ledger));
		if (shared->ledger == NULL)
			goto err_free_owner;
	}
	shared->slots = calloc(opts->events, sizeof(*shared->slots));
	if (shared->slots == NULL)
		goto err_free_ledger;
	return 0;

err_free_ledger:
	free(shared->ledger);
err_free_owner:
	free((void *)shared->slot_owner);
	return -ENOMEM;
}

void hf_bench_shared_deinit(struct hf_bench_shared *shared)
{
	free(shared->slots);
	free(shared->ledger);
	free((void *)shared->slot_owner);
	memset(shared, 0, sizeof(*shared));
}

uint64_t hf_bench_event_id(const struct hf_bench_shared *shared, uint32_t k, uint32_t gen)
{
	const struct hf_bench_opts *o = shared->opts;
	HF_ASSERT(k < o->events);
	if (o->workload == HF_BENCH_WORKLOAD_ONSALE)
		return o->event_base;
	uint64_t first = o->event_base + (((uint64_t)gen * o->events + k) << 8);
	if (shared->owners_count <= 1)
		return first;
	uint16_t want = (uint16_t)(k % shared->owners_count);
	for (uint64_t i = 0; i < HF_BENCH_EVENT_ID_TRIES; i++) {
		if (shared->slot_owner[hf_slot_of(first + i)] == want)
			return first + i;
	}
	return first;
}

void hf_bench_gen_init(struct hf_bench_gen *gen, struct hf_bench_shared *shared,
		       uint32_t thread_index)
{
	memset(gen, 0, sizeof(*gen));
	gen->shared = shared;
	gen->thread_index = thread_index;
	gen->rng.state = hf_hash64(shared->opts->seed + 0x1000u * (thread_index + 1u));
	gen->free_known = shared->opts->seats;
	for (unsigned i = 0; i < 5; i++)
		gen->mix_total += shared->opts->mix[i];
	HF_ASSERT(thread_index < HF_BENCH_THREADS_MAX);
}

static uint64_t new_hold_id(struct hf_bench_gen *gen)
{
	/* nonce (16 bits) | thread (6 bits) | counter (40 bits): unique per run, below 2^62. */
	uint64_t counter = ++gen->hold_id_next;
	HF_ASSERT(counter < (1ull << 40));
	uint64_t id = (uint64_t)gen->shared->hold_id_nonce << 46 |
		      (uint64_t)gen->thread_index << 40 | counter;
	HF_ASSERT(id != 0 && id < (1ull << HF_BENCH_HOLD_ID_BITS));
	return id;
}

static uint8_t random_want(struct hf_bench_gen *gen)
{
	return (uint8_t)(1u + hf_bench_rng_below(&gen->rng, 4));
}

void hf_bench_user_init(struct hf_bench_gen *gen, struct hf_bench_user *user)
{
	memset(user, 0, sizeof(*user));
	user->user_id = 1u + hf_bench_rng_below(&gen->rng, gen->shared->opts->users);
	user->want_seats = random_want(gen);
	user->phase = gen->shared->opts->workload == HF_BENCH_WORKLOAD_ONSALE ? HF_BENCH_USER_LOOK
									      : HF_BENCH_USER_IDLE;
}

static void op_reset(struct hf_bench_op *op, uint8_t kind, uint64_t event_id)
{
	memset(op, 0, offsetof(struct hf_bench_op, seats));
	op->kind = kind;
	op->event_id = event_id;
	op->first = 0;
	op->count = 0;
	op->owner = 0;
}

/* ---- onsale ---- */

static uint32_t window_size(const struct hf_bench_gen *gen)
{
	/* Large enough to hold about 8 free seats by the last count we saw. */
	uint32_t seats = gen->shared->opts->seats;
	uint32_t free_count = gen->free_known ? gen->free_known : 1;
	uint64_t w = (8ull * seats + free_count - 1) / free_count;
	if (w < 256)
		w = 256;
	if (w > HF_BENCH_AVAIL_WINDOW_MAX)
		w = HF_BENCH_AVAIL_WINDOW_MAX;
	if (w > seats)
		w = seats;
	return (uint32_t)w;
}

static void onsale_next(struct hf_bench_gen *gen, struct hf_bench_user *u)
{
	const struct hf_bench_opts *o = gen->shared->opts;
	struct hf_bench_op *op = &u->op;
	if (u->phase == HF_BENCH_USER_LOOK && u->looks_done >= o->avail_per_hold)
		u->phase = HF_BENCH_USER_HOLD;
	switch (u->phase) {
	case HF_BENCH_USER_LOOK:
		op_reset(op, HF_BENCH_OP_AVAIL, o->event_base);
		if (!o->pick_best && u->looks_done + 1u == o->avail_per_hold) {
			uint32_t w = window_size(gen);
			/* Byte-aligned windows keep the Redis bitmap slice simple. */
			uint32_t span = o->seats - w;
			op->first = span ? hf_bench_rng_below(&gen->rng, span + 1u) & ~7u : 0;
			op->count = w;
		}
		break;
	case HF_BENCH_USER_HOLD:
		op_reset(op, HF_BENCH_OP_HOLD, o->event_base);
		op->hold_id = new_hold_id(gen);
		op->user_id = u->user_id;
		op->ttl_ms = o->ttl_s * 1000u;
		if (o->pick_best) {
			op->best = 1;
			op->seats_count = u->want_seats;
		} else if (u->picks_count > 0) {
			op->seats_count = u->picks_count;
			memcpy(op->seats, u->picks, u->picks_count * sizeof(u->picks[0]));
		} else {
			/* No range seen (avail_per_hold 0): distinct random seats, blind. */
			uint32_t n = u->want_seats < o->seats ? u->want_seats : o->seats;
			op->seats_count = 0;
			for (uint32_t tries = 0; op->seats_count < n && tries < 64u; tries++) {
				uint32_t s = hf_bench_rng_below(&gen->rng, o->seats);
				int dup = 0;
				for (uint32_t i = 0; i < op->seats_count; i++)
					dup |= op->seats[i] == s;
				if (!dup)
					op->seats[op->seats_count++] = s;
			}
		}
		HF_ASSERT(op->seats_count >= 1 && op->seats_count <= HF_BENCH_HOLD_SEATS_MAX);
		break;
	case HF_BENCH_USER_DECIDE:
		op_reset(op, u->will_confirm ? HF_BENCH_OP_CONFIRM : HF_BENCH_OP_RELEASE,
			 o->event_base);
		op->hold_id = u->hold.hold_id;
		break;
	default:
		HF_PANIC("onsale user in phase %u", u->phase);
	}
}

static void pick_from_window(struct hf_bench_gen *gen, struct hf_bench_user *u,
			     const struct hf_bench_result *res)
{
	uint32_t first = res->bitmap_first, count = res->bitmap_count;
	u->picks_count = 0;
	if (count == 0 || res->bitmap == NULL)
		return;
	/* The first want_seats free seats after a random point of the window, wrapping once. */
	uint32_t start = hf_bench_rng_below(&gen->rng, count);
	for (uint32_t i = 0; i < count && u->picks_count < u->want_seats; i++) {
		uint32_t off = start + i;
		if (off >= count)
			off -= count;
		if (hf_bench_result_seat_free(res, first + off))
			u->picks[u->picks_count++] = first + off;
	}
}

static void sellout_note(struct hf_bench_shared *shared, uint64_t booked, uint64_t now_ns)
{
	uint64_t seats = shared->opts->seats;
	uint64_t t = now_ns > shared->start_ns ? now_ns - shared->start_ns : 1;
	for (unsigned i = 0; i < HF_BENCH_SELLOUT_MARKS; i++) {
		if (booked * 100u >= sellout_pct[i] * seats) {
			uint64_t zero = 0;
			atomic_compare_exchange_strong(&shared->sellout_ns[i], &zero, t);
		}
	}
}

/* Ledger transitions. Answers for one seat can reach different threads in another order than the
 * server gave them (a RELEASE answer to thread A may be handled after the next HOLD answer of the
 * same seat to thread B), so only contradictions that no reordering explains count as conflicts:
 * a hold of a seat the ledger has as booked, or a confirm of a hold whose seat another hold has
 * since taken (the confirm proves the first hold still owned it). */
static void ledger_conflict(struct hf_bench_shared *shared)
{
	atomic_fetch_add(&shared->ledger_conflicts, 1);
}

static void ledger_hold(struct hf_bench_shared *shared, const struct hf_bench_user_hold *h)
{
	uint64_t to = (h->hold_id << 2) | HF_BENCH_LEDGER_HELD;
	for (uint32_t i = 0; i < h->seats_count; i++) {
		uint32_t s = h->seats[i];
		if (s >= shared->opts->seats) {
			ledger_conflict(shared);
			continue;
		}
		uint64_t old = atomic_exchange(&shared->ledger[s], to);
		if ((old & 3u) == HF_BENCH_LEDGER_BOOKED)
			ledger_conflict(shared);
	}
}

static void ledger_confirm(struct hf_bench_shared *shared, const struct hf_bench_user_hold *h)
{
	uint64_t from = (h->hold_id << 2) | HF_BENCH_LEDGER_HELD;
	uint64_t to = (h->hold_id << 2) | HF_BENCH_LEDGER_BOOKED;
	for (uint32_t i = 0; i < h->seats_count; i++) {
		uint32_t s = h->seats[i];
		if (s >= shared->opts->seats)
			continue;
		uint64_t expect = from;
		if (!atomic_compare_exchange_strong(&shared->ledger[s], &expect, to) &&
		    expect != to)
			ledger_conflict(shared);
	}
}

static void ledger_free(struct hf_bench_shared *shared, const struct hf_bench_user_hold *h)
{
	uint64_t from = (h->hold_id << 2) | HF_BENCH_LEDGER_HELD;
	for (uint32_t i = 0; i < h->seats_count; i++) {
		uint32_t s = h->seats[i];
		if (s >= shared->opts->seats)
			continue;
		/* Fails when another hold already took the seat: that hold's answer came first. */
		uint64_t expect = from;
		atomic_compare_exchange_strong(&shared->ledger[s], &expect, 0);
	}
}

static void onsale_done(struct hf_bench_gen *gen, struct hf_bench_user *u,
			const struct hf_bench_result *res, uint64_t now_ns)
{
	struct hf_bench_shared *shared = gen->shared;
	const struct hf_bench_opts *o = shared->opts;
	const struct hf_bench_op *op = &u->op;
	enum hf_bench_outcome outcome = hf_bench_outcome_of(res);
	switch (op->kind) {
	case HF_BENCH_OP_AVAIL:
		if (outcome == HF_BENCH_OUTCOME_OK) {
			gen->free_known = res->free_count;
			if (op->count > 0)
				pick_from_window(gen, u, res);
		}
		u->looks_done++;
		break;
	case HF_BENCH_OP_HOLD:
		u->looks_done = 0;
		u->phase = HF_BENCH_USER_LOOK;
		if (outcome == HF_BENCH_OUTCOME_OK) {
			struct hf_bench_user_hold *h = &u->hold;
			h->event_id = op->event_id;
			h->hold_id = op->hold_id;
			h->seats_count = res->seats_count <= HF_BENCH_HOLD_SEATS_MAX
					     ? res->seats_count
					     : HF_BENCH_HOLD_SEATS_MAX;
			memcpy(h->seats, res->seats, h->seats_count * sizeof(h->seats[0]));
			ledger_hold(shared, h);
			uint64_t taken =
			    atomic_fetch_add(&shared->seats_taken, h->seats_count) + h->seats_count;
			if (taken >= o->seats) {
				uint64_t zero = 0;
				uint64_t t =
				    now_ns > shared->start_ns ? now_ns - shared->start_ns : 1;
				atomic_compare_exchange_strong(&shared->soldout_ns, &zero, t);
			}
			u->will_confirm = (double)(hf_bench_rng_next(&gen->rng) >> 11) * 0x1.0p-53 <
					  o->confirm_ratio;
			u->phase = HF_BENCH_USER_DECIDE;
		} else if (res->status == HF_NOT_ENOUGH && u->want_seats > 1) {
			/* Best-available fragments: ask for fewer adjacent seats next time. */
			u->want_seats--;
		}
		u->picks_count = 0;
		break;
	case HF_BENCH_OP_CONFIRM:
	case HF_BENCH_OP_RELEASE: {
		struct hf_bench_user_hold *h = &u->hold;
		if (outcome == HF_BENCH_OUTCOME_OK && op->kind == HF_BENCH_OP_CONFIRM) {
			ledger_confirm(shared, h);
			uint64_t booked = atomic_fetch_add(&shared->seats_booked, h->seats_count) +
					  h->seats_count;
			sellout_note(shared, booked, now_ns);
		} else {
			/* Released, or the hold ended (expired) before the confirm: the seats are
			 * free again either way. */
			ledger_free(shared, h);
			atomic_fetch_sub(&shared->seats_taken, h->seats_count);
		}
		memset(h, 0, sizeof(*h));
		u->phase = HF_BENCH_USER_LOOK;
		u->looks_done = 0;
		u->want_seats = random_want(gen);
		break;
	}
	default:
		HF_PANIC("onsale op %u", op->kind);
	}
}

/* ---- holds, avail, mixed ---- */

/* Reserves n never-used seats of a ready event. Returns 1 with the hold in op; 2 when this user
 * must create the slot's next event (op is the CREATE); 0 when no event is ready. */
static int reserve_seats(struct hf_bench_gen *gen, struct hf_bench_user *u, uint32_t n)
{
	struct hf_bench_shared *shared = gen->shared;
	const struct hf_bench_opts *o = shared->opts;
	uint32_t k0 = hf_bench_rng_below(&gen->rng, o->events);
	for (uint32_t t = 0; t < o->events; t++) {
		uint32_t k = k0 + t < o->events ? k0 + t : k0 + t - o->events;
		struct hf_bench_event_slot *slot = &shared->slots[k];
		for (;;) {
			uint64_t s = atomic_load(&slot->cursor_gen);
			uint32_t gen_index = (uint32_t)(s >> 32), cursor = (uint32_t)s;
			if (atomic_load(&slot->ready_gen) != gen_index)
				break; /* being created: try another slot */
			if ((uint64_t)cursor + n <= o->seats) {
				if (!atomic_compare_exchange_weak(&slot->cursor_gen, &s, s + n))
					continue;
				op_reset(&u->op, HF_BENCH_OP_HOLD,
					 hf_bench_event_id(shared, k, gen_index));
				u->op.hold_id = new_hold_id(gen);
				u->op.user_id = u->user_id;
				u->op.ttl_ms = o->ttl_s * 1000u;
				u->op.seats_count = n;
				for (uint32_t i = 0; i < n; i++)
					u->op.seats[i] = cursor + i;
				return 1;
			}
			uint64_t next = (uint64_t)(gen_index + 1u) << 32;
			if (!atomic_compare_exchange_weak(&slot->cursor_gen, &s, next))
				continue;
			/* This user won the switch: it creates the fresh event. */
			op_reset(&u->op, HF_BENCH_OP_CREATE,
				 hf_bench_event_id(shared, k, gen_index + 1u));
			u->op.event_seats = o->seats;
			u->op.event_row_width = o->row_width;
			u->create_slot = k;
			u->create_gen = gen_index + 1u;
			return 2;
		}
	}
	return 0;
}

static uint64_t ready_event(struct hf_bench_gen *gen, uint32_t *k_out)
{
	struct hf_bench_shared *shared = gen->shared;
	uint32_t k = hf_bench_rng_below(&gen->rng, shared->opts->events);
	*k_out = k;
	return hf_bench_event_id(shared, k, atomic_load(&shared->slots[k].ready_gen));
}

static void avail_op(struct hf_bench_gen *gen, struct hf_bench_user *u)
{
	const struct hf_bench_opts *o = gen->shared->opts;
	uint32_t k;
	op_reset(&u->op, HF_BENCH_OP_AVAIL, ready_event(gen, &k));
	if (o->avail_range > 0 && (hf_bench_rng_next(&gen->rng) & 1u)) {
		uint32_t count = o->avail_range < o->seats ? o->avail_range : o->seats;
		uint32_t span = o->seats - count;
		u->op.first = span ? hf_bench_rng_below(&gen->rng, span + 1u) & ~7u : 0;
		u->op.count = count;
	}
}

static int mixed_next(struct hf_bench_gen *gen, struct hf_bench_user *u)
{
	const struct hf_bench_opts *o = gen->shared->opts;
	uint32_t r = hf_bench_rng_below(&gen->rng, gen->mix_total);
	unsigned kind = 0;
	while (r >= o->mix[kind]) {
		r -= o->mix[kind];
		kind++;
		HF_ASSERT(kind < 5);
	}
	if ((kind == HF_BENCH_OP_CONFIRM || kind == HF_BENCH_OP_RELEASE) && u->live_count == 0)
		kind = HF_BENCH_OP_HOLD;
	if (kind == HF_BENCH_OP_HOLD && u->live_count == HF_BENCH_USER_HOLDS_MAX)
		kind = HF_BENCH_OP_CONFIRM;
	switch (kind) {
	case HF_BENCH_OP_HOLD:
		return reserve_seats(gen, u, random_want(gen)) != 0;
	case HF_BENCH_OP_CONFIRM:
	case HF_BENCH_OP_RELEASE:
		/* The oldest live hold; it leaves the list now, whatever the answer. */
		op_reset(&u->op, (uint8_t)kind, u->live[0].event_id);
		u->op.hold_id = u->live[0].hold_id;
		u->live_count--;
		memmove(&u->live[0], &u->live[1], u->live_count * sizeof(u->live[0]));
		return 1;
	case HF_BENCH_OP_AVAIL:
		avail_op(gen, u);
		return 1;
	case HF_BENCH_OP_INFO: {
		uint32_t k;
		op_reset(&u->op, HF_BENCH_OP_INFO, ready_event(gen, &k));
		return 1;
	}
	default:
		HF_PANIC("mixed kind %u", kind);
	}
}

/* A PING to the shard of a random event slot: events spread evenly over the shards
 * (hf_bench_event_id), so the pings land where the holds workload's holds would. */
static void ping_op(struct hf_bench_gen *gen, struct hf_bench_user *u)
{
	const struct hf_bench_shared *shared = gen->shared;
	uint32_t k = hf_bench_rng_below(&gen->rng, shared->opts->events);
	op_reset(&u->op, HF_BENCH_OP_PING, 0);
	u->op.owner = (uint16_t)(k % shared->owners_count);
	HF_ASSERT(u->op.owner < shared->owners_count);
}

int hf_bench_user_next(struct hf_bench_gen *gen, struct hf_bench_user *u)
{
	struct hf_bench_shared *shared = gen->shared;
	const struct hf_bench_opts *o = shared->opts;
	if (atomic_load_explicit(&shared->stop, memory_order_relaxed))
		return 0;
	if (u->resend)
		return 1;
	switch (o->workload) {
	case HF_BENCH_WORKLOAD_ONSALE:
		if (atomic_load_explicit(&shared->seats_booked, memory_order_relaxed) >= o->seats)
			return 0;
		onsale_next(gen, u);
		return 1;
	case HF_BENCH_WORKLOAD_HOLDS:
		return reserve_seats(gen, u, random_want(gen)) != 0;
	case HF_BENCH_WORKLOAD_AVAIL:
		avail_op(gen, u);
		return 1;
	case HF_BENCH_WORKLOAD_MIXED:
		return mixed_next(gen, u);
	case HF_BENCH_WORKLOAD_PING:
		ping_op(gen, u);
		return 1;
	default:
		return 0;
	}
}

void hf_bench_user_done(struct hf_bench_gen *gen, struct hf_bench_user *u,
			const struct hf_bench_result *res, uint64_t now_ns)
{
	struct hf_bench_shared *shared = gen->shared;
	if (res->error != 0 || (res->status != HF_OK && res->status < HF_NO_EVENT)) {
		/* No usable answer: the outcome is unknown; resend the same ids a few times. */
		if (u->retries < HF_BENCH_RETRIES_MAX) {
			u->retries++;
			u->resend = 1;
			return;
		}
		/* Given up: the server may or may not have applied it, so the ledger may be wrong
		 * for its seats; the check reports this count next to any mismatch. */
		atomic_fetch_add(&shared->outcomes_unknown, 1);
	}
	u->resend = 0;
	u->retries = 0;
	if (u->op.kind == HF_BENCH_OP_CREATE) {
		/* EVENT_EXISTS would mean other parameters: the slot is unusable either way, but
		 * holds there will be refused and counted, never mistaken for success. */
		atomic_store(&shared->slots[u->create_slot].ready_gen, u->create_gen);
		return;
	}
	switch (shared->opts->workload) {
	case HF_BENCH_WORKLOAD_ONSALE:
		onsale_done(gen, u, res, now_ns);
		break;
	case HF_BENCH_WORKLOAD_MIXED:
		if (u->op.kind == HF_BENCH_OP_HOLD &&
		    hf_bench_outcome_of(res) == HF_BENCH_OUTCOME_OK &&
		    u->live_count < HF_BENCH_USER_HOLDS_MAX) {
			struct hf_bench_user_hold *h = &u->live[u->live_count++];
			h->event_id = u->op.event_id;
			h->hold_id = u->op.hold_id;
			h->seats_count = u->op.seats_count;
			memcpy(h->seats, u->op.seats, u->op.seats_count * sizeof(h->seats[0]));
		}
		break;
	default:
		break;
	}
}
