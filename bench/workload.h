/* The workloads of holdfast-bench: virtual users and what they ask for next.
 *
 * A virtual user has at most one operation in flight. The load loop (bench.c) asks
 * hf_bench_user_next for a user's next operation, sends it to a target, and hands the answer to
 * hf_bench_user_done, which moves the user along its workload's states:
 *
 *   onsale:  LOOK (AVAIL x avail_per_hold; the last one a range the user picks seats from)
 *              -> HOLD (random picks, or best-available) -- refused --> LOOK
 *              -> DECIDE: CONFIRM (confirm_ratio) or RELEASE -> LOOK
 *   holds:   HOLD of 1-4 never-used seats of one of `events` events; a full event is replaced by a
 *            fresh event id (CREATE, then holds go on there).
 *   avail:   AVAIL counts or a small range of a random event.
 *   mixed:   weighted HOLD / CONFIRM / RELEASE / AVAIL / INFO over the user's own holds.
 *   ping:    PING of the shard of a random one of `events` event slots (no event is created).
 *
 * A transport error (no answer) makes the user resend the same operation with the same ids: the
 * operations are idempotent, so the resend cannot hold twice.
 *
 * INVARIANTS (onsale; the bench is the only writer of its event)
 * 1. ledger[seat] is 0 (free), (hold_id << 2) | 1 (held) or (hold_id << 2) | 2 (booked), set only
 *    from acknowledged answers. Answers that no reordering between threads explains (a hold of a
 *    booked seat, a confirm of a hold that lost a seat) are double sales, counted in
 *    ledger_conflicts. After the load has drained, the ledger is exactly what the server must
 *    hold.
 * 2. seats_taken == held + booked seats in the ledger; seats_booked == booked seats in the ledger.
 *
 * Thread-safety: struct hf_bench_shared is shared by every load thread (atomics); a struct
 * hf_bench_gen and its users belong to one thread. */
#ifndef HF_BENCH_WORKLOAD_H
#define HF_BENCH_WORKLOAD_H

#include "bench/bench.h"

#include <stdatomic.h>
#include <stdint.h>

#define HF_BENCH_LEDGER_FREE	0u
#define HF_BENCH_LEDGER_HELD	1u
#define HF_BENCH_LEDGER_BOOKED	2u
#define HF_BENCH_HOLD_ID_BITS	62u
#define HF_BENCH_USER_HOLDS_MAX 4u   /* mixed: live holds one user keeps */
#define HF_BENCH_RETRIES_MAX	3u   /* resends of one operation after transport errors */
#define HF_BENCH_SELLOUT_MARKS	4u   /* 50, 90, 99, 100 % booked */
#define HF_BENCH_EVENT_ID_TRIES 256u /* candidates tried to land an event on a chosen shard */

struct hf_bench_rng {
	uint64_t state;
};

static inline uint64_t hf_bench_rng_next(struct hf_bench_rng *r)
{
	/* splitmix64: fast, good enough for choosing seats. */
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static inline uint32_t hf_bench_rng_below(struct hf_bench_rng *r, uint32_t n)
{
	return (uint32_t)(((hf_bench_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

struct hf_bench_event_slot {
	_Atomic uint64_t cursor_gen; /* generation << 32 | next never-used seat */
	_Atomic uint32_t ready_gen;  /* the generation whose event exists */
};

struct hf_bench_shared {
	const struct hf_bench_opts *opts;
	uint64_t start_ns;	    /* monotonic, when the load started */
	uint16_t owners_count;	    /* shards to spread events over (1 for Redis) */
	const uint16_t *slot_owner; /* slot -> owner index; NULL when owners_count == 1 */
	uint16_t hold_id_nonce;	    /* from the seed: hold ids differ between runs */
	_Atomic int stop;	    /* issue nothing new */
	_Atomic uint64_t ops_sent;  /* for --ops */
	/* onsale */
	_Atomic uint64_t seats_taken; /* held + booked, by acknowledged answers */
	_Atomic uint64_t seats_booked;
	_Atomic uint64_t sellout_ns[HF_BENCH_SELLOUT_MARKS]; /* since start_ns; 0 = not reached */
	_Atomic uint64_t soldout_ns; /* first time every seat was held or booked */
	_Atomic uint64_t *ledger;    /* opts->seats entries, onsale only */
	_Atomic uint64_t ledger_conflicts;
	_Atomic uint64_t outcomes_unknown; /* operations given up without an answer */
	/* holds, avail, mixed */
	struct hf_bench_event_slot *slots; /* opts->events */
};

/* Allocates what the workload needs (ledger, event slots). slot_owner (HF_SLOTS_COUNT entries,
 * copied) may be NULL. Returns 0 or -ENOMEM. */
int hf_bench_shared_init(struct hf_bench_shared *shared, const struct hf_bench_opts *opts,
			 uint16_t owners_count, const uint16_t *slot_owner);
void hf_bench_shared_deinit(struct hf_bench_shared *shared);

/* The event id of event slot k in generation gen: onsale uses event_base; the others pick, from
 * ids derived from the base, one whose shard is k % owners_count, so events spread evenly. */
uint64_t hf_bench_event_id(const struct hf_bench_shared *shared, uint32_t k, uint32_t gen);

struct hf_bench_gen {
	struct hf_bench_shared *shared;
	struct hf_bench_rng rng;
	uint32_t thread_index;
	uint64_t hold_id_next; /* counter part of the hold ids this thread makes */
	uint32_t free_known;   /* onsale: the last free count an answer told */
	uint32_t mix_total;
};

void hf_bench_gen_init(struct hf_bench_gen *gen, struct hf_bench_shared *shared,
		       uint32_t thread_index);

enum hf_bench_user_phase {
	HF_BENCH_USER_LOOK = 0,
	HF_BENCH_USER_HOLD = 1,
	HF_BENCH_USER_DECIDE = 2,
	HF_BENCH_USER_IDLE = 3, /* holds/avail/mixed: nothing pending */
};

struct hf_bench_user_hold {
	uint64_t event_id;
	uint64_t hold_id;
	uint32_t seats_count;
	uint32_t seats[HF_BENCH_HOLD_SEATS_MAX];
};

struct hf_bench_user {
	uint64_t user_id;
	uint8_t phase;	    /* enum hf_bench_user_phase */
	uint8_t looks_done; /* onsale: AVAIL queries done for this hold attempt */
	uint8_t want_seats; /* seats the next hold asks for */
	uint8_t will_confirm;
	uint8_t resend; /* the last operation got no answer: send it again */
	uint8_t retries;
	uint8_t picks_count; /* onsale: seats picked from the last range */
	uint32_t picks[HF_BENCH_HOLD_SEATS_MAX];
	uint32_t create_slot; /* holds/mixed: the event slot this user's CREATE is for */
	uint32_t create_gen;
	struct hf_bench_user_hold hold; /* onsale: the current hold */
	struct hf_bench_user_hold
	    live[HF_BENCH_USER_HOLDS_MAX]; /* mixed: live holds, oldest first */
	uint8_t live_count;
	struct hf_bench_op op; /* the operation in flight or to resend */
};

void hf_bench_user_init(struct hf_bench_gen *gen, struct hf_bench_user *user);

/* Fills user->op with the user's next operation. Returns 1, or 0 when the user has nothing to do
 * now (stopped, sold out, no event ready). */
int hf_bench_user_next(struct hf_bench_gen *gen, struct hf_bench_user *user);

/* Moves the user on after the answer res to user->op arrived (or failed) at now_ns. */
void hf_bench_user_done(struct hf_bench_gen *gen, struct hf_bench_user *user,
			const struct hf_bench_result *res, uint64_t now_ns);

#endif
