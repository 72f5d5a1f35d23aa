/* Goal: the onsale virtual users sell an event out through the bench's ledger without false
 * conflicts, whatever order answers come back in, and the ledger ends equal to the server's seat
 * states (what the after-run check relies on); a real double sale is reported as a conflict; the
 * holds workload hands out never-used seats and moves a full event to a fresh id; the ping
 * workload sends only PINGs, spread over every shard, and stops with the run.
 * Method: a tiny in-memory model of one event answers HOLD / CONFIRM / RELEASE / AVAIL at once,
 * but answers are handed to the users in a random order (seeded; HF_TEST_SEED replays), as two
 * load threads would see them. */
#include "bench/workload.h"

#include "proto/proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define USERS_COUNT 64u
#define STEPS_MAX   2000000u
#define SEATS	    3000u

static uint64_t seed;

struct model {
	uint64_t owner[SEATS];	       /* (hold_id << 2) | state, as the ledger */
	uint8_t bitmap[SEATS / 8 + 1]; /* holdfast's AVAIL layout: 1 = free */
	uint32_t free_count;
};

struct pending {
	uint32_t user;
	struct hf_bench_result res;
	uint8_t bitmap[SEATS / 8 + 1];
};

static void model_answer(struct model *m, const struct hf_bench_op *op, struct pending *p)
{
	struct hf_bench_result *r = &p->res;
	memset(r, 0, sizeof(*r));
	switch (op->kind) {
	case HF_BENCH_OP_AVAIL:
		r->event_seats = SEATS;
		r->free_count = m->free_count;
		if (op->count) {
			for (uint32_t i = 0; i < op->count; i++) {
				uint32_t s = op->first + i;
				if (m->owner[s] == 0)
					p->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
				else
					p->bitmap[i / 8] &= (uint8_t) ~(1u << (i % 8));
			}
			r->bitmap = p->bitmap;
			r->bitmap_first = op->first;
			r->bitmap_count = op->count;
		}
		break;
	case HF_BENCH_OP_HOLD: {
		uint32_t seats[HF_BENCH_HOLD_SEATS_MAX], n = op->seats_count;
		if (op->best) {
			/* Lowest n adjacent free seats in one row of 100. */
			uint32_t found = UINT32_MAX;
			for (uint32_t s = 0; s + n <= SEATS && found == UINT32_MAX; s++) {
				int ok = s / 100 == (s + n - 1) / 100;
				for (uint32_t i = 0; ok && i < n; i++)
					ok = m->owner[s + i] == 0;
				if (ok)
					found = s;
			}
			if (found == UINT32_MAX) {
				r->status = HF_NOT_ENOUGH;
				return;
			}
			for (uint32_t i = 0; i < n; i++)
				seats[i] = found + i;
		} else {
			memcpy(seats, op->seats, n * sizeof(seats[0]));
			for (uint32_t i = 0; i < n; i++) {
				if (m->owner[seats[i]] != 0) {
					r->status = HF_SEAT_TAKEN;
					return;
				}
			}
		}
		for (uint32_t i = 0; i < n; i++)
			m->owner[seats[i]] = (op->hold_id << 2) | HF_BENCH_LEDGER_HELD;
		m->free_count -= n;
		r->seats_count = n;
		memcpy(r->seats, seats, n * sizeof(seats[0]));
		break;
	}
	case HF_BENCH_OP_CONFIRM:
	case HF_BENCH_OP_RELEASE:
		for (uint32_t s = 0; s < SEATS; s++) {
			if (m->owner[s] >> 2 != op->hold_id)
				continue;
			if (op->kind == HF_BENCH_OP_CONFIRM) {
				m->owner[s] = (op->hold_id << 2) | HF_BENCH_LEDGER_BOOKED;
			} else {
				m->owner[s] = 0;
				m->free_count++;
			}
		}
		break;
	default:
		fail_msg("unexpected op %u", op->kind);
	}
}

static void run_onsale(int pick_best)
{
	static struct hf_bench_opts opts;
	static struct hf_bench_shared shared;
	static struct model m;
	static struct hf_bench_user users[USERS_COUNT];
	static struct pending pend[USERS_COUNT];
	char err[128];
	char *argv[] = {"holdfast-bench", "--seats", "3000", "--seed", "1", NULL};
	assert_int_equal(hf_bench_opts_parse(&opts, 5, argv, err, sizeof(err)), 0);
	opts.pick_best = (uint8_t)pick_best;
	assert_int_equal(hf_bench_shared_init(&shared, &opts, 1, NULL), 0);
	shared.start_ns = 1;
	memset(&m, 0, sizeof(m));
	m.free_count = SEATS;
	struct hf_bench_gen gen;
	hf_bench_gen_init(&gen, &shared, 0);
	gen.rng.state = seed;
	for (uint32_t u = 0; u < USERS_COUNT; u++)
		hf_bench_user_init(&gen, &users[u]);

	/* Every user sends; answers come back in a random order; repeat until sold out. */
	uint32_t pending_count = 0;
	uint64_t steps = 0;
	for (; steps < STEPS_MAX; steps++) {
		for (uint32_t u = 0; u < USERS_COUNT && pending_count < USERS_COUNT; u++) {
			int busy = 0;
			for (uint32_t i = 0; i < pending_count; i++)
				busy |= pend[i].user == u;
			if (busy || !hf_bench_user_next(&gen, &users[u]))
				continue;
			users[u].resend = 0;
			struct pending *p = &pend[pending_count++];
			p->user = u;
			model_answer(&m, &users[u].op, p);
		}
		if (pending_count == 0)
			break;
		uint32_t pick = (uint32_t)(hf_bench_rng_next(&gen.rng) % pending_count);
		static struct pending done;
		done = pend[pick];
		pend[pick] = pend[--pending_count];
		/* The bitmap must point into the copy handed over, valid during the call. */
		if (done.res.bitmap)
			done.res.bitmap = done.bitmap;
		hf_bench_user_done(&gen, &users[done.user], &done.res, 1000 + steps);
	}
	assert_true(steps < STEPS_MAX);
	assert_int_equal(atomic_load(&shared.seats_booked), SEATS);
	assert_int_equal(atomic_load(&shared.seats_taken), SEATS);
	assert_int_equal(m.free_count, 0);
	for (unsigned i = 0; i < HF_BENCH_SELLOUT_MARKS; i++)
		assert_true(atomic_load(&shared.sellout_ns[i]) != 0);
	assert_true(atomic_load(&shared.sellout_ns[0]) <= atomic_load(&shared.sellout_ns[3]));
	assert_int_equal(atomic_load(&shared.ledger_conflicts), 0);
	for (uint32_t s = 0; s < SEATS; s++) {
		if (atomic_load(&shared.ledger[s]) != m.owner[s])
			fail_msg("seat %u: ledger %#llx, model %#llx", s,
				 (unsigned long long)atomic_load(&shared.ledger[s]),
				 (unsigned long long)m.owner[s]);
	}
	hf_bench_shared_deinit(&shared);
}

static void test_onsale_random(void **state)
{
	(void)state;
	run_onsale(0);
}

static void test_onsale_best(void **state)
{
	(void)state;
	run_onsale(1);
}

static void test_conflict_detected(void **state)
{
	(void)state;
	/* A hold answered OK for a seat the ledger has as booked is a double sale. */
	static struct hf_bench_opts opts;
	static struct hf_bench_shared shared;
	char err[128];
	char *argv[] = {"holdfast-bench", "--seats", "100", "--seed", "2", NULL};
	assert_int_equal(hf_bench_opts_parse(&opts, 5, argv, err, sizeof(err)), 0);
	assert_int_equal(hf_bench_shared_init(&shared, &opts, 1, NULL), 0);
	struct hf_bench_gen gen;
	hf_bench_gen_init(&gen, &shared, 0);
	struct hf_bench_user a, b;
	hf_bench_user_init(&gen, &a);
	hf_bench_user_init(&gen, &b);
	struct hf_bench_result ok = {0};
	ok.seats_count = 1;
	ok.seats[0] = 7;
	/* a holds and books seat 7. */
	a.phase = HF_BENCH_USER_HOLD;
	a.picks_count = 1;
	a.picks[0] = 7;
	a.looks_done = (uint8_t)opts.avail_per_hold;
	assert_int_equal(hf_bench_user_next(&gen, &a), 1);
	assert_int_equal(a.op.kind, HF_BENCH_OP_HOLD);
	hf_bench_user_done(&gen, &a, &ok, 10);
	a.will_confirm = 1;
	assert_int_equal(hf_bench_user_next(&gen, &a), 1);
	assert_int_equal(a.op.kind, HF_BENCH_OP_CONFIRM);
	hf_bench_user_done(&gen, &a, &ok, 11);
	assert_int_equal(atomic_load(&shared.ledger_conflicts), 0);
	/* b is told it holds seat 7 too. */
	b.phase = HF_BENCH_USER_HOLD;
	b.picks_count = 1;
	b.picks[0] = 7;
	b.looks_done = (uint8_t)opts.avail_per_hold;
	assert_int_equal(hf_bench_user_next(&gen, &b), 1);
	hf_bench_user_done(&gen, &b, &ok, 12);
	assert_int_equal(atomic_load(&shared.ledger_conflicts), 1);
	hf_bench_shared_deinit(&shared);
}

static void test_holds_fresh_events(void **state)
{
	(void)state;
	static struct hf_bench_opts opts;
	static struct hf_bench_shared shared;
	char err[128];
	char *argv[] = {"holdfast-bench", "--workload", "holds",  "--seats", "10",
			"--events",	  "2",		"--seed", "3",	     NULL};
	assert_int_equal(hf_bench_opts_parse(&opts, 9, argv, err, sizeof(err)), 0);
	assert_int_equal(hf_bench_shared_init(&shared, &opts, 1, NULL), 0);
	struct hf_bench_gen gen;
	hf_bench_gen_init(&gen, &shared, 0);
	struct hf_bench_user u;
	hf_bench_user_init(&gen, &u);
	uint8_t used[2 * 8][10] = {{0}};
	uint32_t creates = 0, holds = 0;
	struct hf_bench_result ok = {0};
	for (uint32_t i = 0; i < 200 && creates < 4; i++) {
		assert_int_equal(hf_bench_user_next(&gen, &u), 1);
		if (u.op.kind == HF_BENCH_OP_CREATE) {
			creates++;
			assert_true(u.op.event_id ==
				    hf_bench_event_id(&shared, u.create_slot, u.create_gen));
		} else {
			assert_int_equal(u.op.kind, HF_BENCH_OP_HOLD);
			holds++;
			/* Which (slot, generation) is this event? */
			int found = 0;
			for (uint32_t k = 0; k < 2; k++) {
				for (uint32_t g = 0; g < 8; g++) {
					if (hf_bench_event_id(&shared, k, g) != u.op.event_id)
						continue;
					found = 1;
					for (uint32_t j = 0; j < u.op.seats_count; j++) {
						uint32_t s = u.op.seats[j];
						assert_true(s < 10);
						assert_int_equal(used[k * 8 + g][s], 0);
						used[k * 8 + g][s] = 1;
					}
				}
			}
			assert_true(found);
		}
		hf_bench_user_done(&gen, &u, &ok, i);
	}
	assert_true(creates >= 2);
	assert_true(holds >= 6);
	assert_true(hf_bench_event_id(&shared, 0, 0) != hf_bench_event_id(&shared, 0, 1));
	assert_true(hf_bench_event_id(&shared, 0, 0) != hf_bench_event_id(&shared, 1, 0));
	hf_bench_shared_deinit(&shared);
}

static void test_ping_spread(void **state)
{
	(void)state;
	static struct hf_bench_opts opts;
	static struct hf_bench_shared shared;
	static uint16_t slot_owner[HF_SLOTS_COUNT];
	char err[128];
	char *argv[] = {"holdfast-bench", "--workload", "ping", "--seed", "5", NULL};
	assert_int_equal(hf_bench_opts_parse(&opts, 5, argv, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < HF_SLOTS_COUNT; i++)
		slot_owner[i] = (uint16_t)(i % 3u);
	assert_int_equal(hf_bench_shared_init(&shared, &opts, 3, slot_owner), 0);
	struct hf_bench_gen gen;
	hf_bench_gen_init(&gen, &shared, 0);
	struct hf_bench_user u;
	hf_bench_user_init(&gen, &u);
	uint32_t per_owner[3] = {0};
	struct hf_bench_result ok = {0};
	for (uint32_t i = 0; i < 3000; i++) {
		assert_int_equal(hf_bench_user_next(&gen, &u), 1);
		assert_int_equal(u.op.kind, HF_BENCH_OP_PING);
		assert_int_equal(u.op.event_id, 0);
		assert_true(u.op.owner < 3);
		per_owner[u.op.owner]++;
		hf_bench_user_done(&gen, &u, &ok, i);
	}
	/* 64 event slots over 3 shards: 22, 21, 21 slots; each shard gets about a third. */
	for (uint32_t k = 0; k < 3; k++)
		assert_true(per_owner[k] > 700 && per_owner[k] < 1300);
	atomic_store(&shared.stop, 1);
	assert_int_equal(hf_bench_user_next(&gen, &u), 0);
	hf_bench_shared_deinit(&shared);
}

int main(void)
{
	const char *env = getenv("HF_TEST_SEED");
	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
	printf("# seed %llu (HF_TEST_SEED replays)\n", (unsigned long long)seed);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_onsale_random),     cmocka_unit_test(test_onsale_best),
	    cmocka_unit_test(test_conflict_detected), cmocka_unit_test(test_holds_fresh_events),
	    cmocka_unit_test(test_ping_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
