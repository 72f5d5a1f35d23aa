/* Goal: the move driver follows cluster/move.h: a move runs copy, freeze, persisted, the flip (map
 * epoch + 1, one txn) and the source's drop in that order; a move stopped at any step leaves a
 * record that hf_move_fix rolls back (before the flip: the target drops, the source unfreezes, the
 * map is unchanged) or forward (after it: the source drops); a re-run of a done move changes
 * nothing; bad states are refused.
 * Method: a private etcd and a fake engine that records its calls and fails on the step it is told
 * to; then a randomized run (slot, target, failing step) with the map checked after each fix.
 * Prints its seed; `test_cluster_move SEED` replays it; HF_LONG=1 runs 300 random moves. */
#include "base/assert.h"
#include "cluster/move.h"
#include "cluster/state.h"
#include "tests/cluster/etcd_proc.h"

#include <errno.h>
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

#define RANDOM_MOVES	  12u
#define RANDOM_MOVES_LONG 300u /* HF_LONG=1 */
#define CALLS_MAX	  16u

enum step { STEP_COPY, STEP_FREEZE, STEP_PERSISTED, STEP_DROP, STEP_UNFREEZE, STEP_NONE };

struct fake {
	enum step fail_at;
	enum step kill_etcd_at;	   /* the step stops etcd (and succeeds) */
	char calls[CALLS_MAX][96]; /* "copy", "drop 127.0.0.1:7002", ... */
	uint32_t calls_count;
};

static struct etcd_proc ep;
static struct hf_cluster_state *st;
static struct hf_etcd *etcd;
static struct fake fk = {.fail_at = STEP_NONE, .kill_etcd_at = STEP_NONE};
static uint64_t seed;

static int record(enum step s, const char *name, const struct hf_slot_owner *o)
{
	HF_ASSERT(fk.calls_count < CALLS_MAX);
	if (o != NULL)
		snprintf(fk.calls[fk.calls_count++], 96, "%s %s:%u", name, o->host,
			 (unsigned)o->port);
	else
		snprintf(fk.calls[fk.calls_count++], 96, "%s", name);
	if (fk.kill_etcd_at == s)
		etcd_kill(&ep);
	return fk.fail_at == s ? -EIO : 0;
}

static int f_copy(void *a, const struct hf_cluster_move *mv)
{
	(void)a;
	(void)mv;
	return record(STEP_COPY, "copy", NULL);
}
static int f_freeze(void *a, const struct hf_cluster_move *mv)
{
	(void)a;
	(void)mv;
	return record(STEP_FREEZE, "freeze", NULL);
}
static int f_persisted(void *a, const struct hf_cluster_move *mv)
{
	(void)a;
	(void)mv;
	return record(STEP_PERSISTED, "persisted", NULL);
}
static int f_drop(void *a, const struct hf_slot_owner *o, uint16_t slot)
{
	(void)a;
	(void)slot;
	return record(STEP_DROP, "drop", o);
}
static int f_unfreeze(void *a, const struct hf_slot_owner *o, uint16_t slot)
{
	(void)a;
	(void)slot;
	return record(STEP_UNFREEZE, "unfreeze", o);
}

static const struct hf_move_engine engine = {.copy = f_copy,
					     .freeze = f_freeze,
					     .persisted = f_persisted,
					     .drop = f_drop,
					     .unfreeze = f_unfreeze};
static const struct hf_move_engine no_engine = {0};

static void reset(enum step fail_at)
{
	memset(&fk, 0, sizeof(fk));
	fk.fail_at = fail_at;
	fk.kill_etcd_at = STEP_NONE;
}

static void read_state(void)
{
	char err[256];
	assert_int_equal(hf_cluster_state_read(etcd, "m", st, err, sizeof(err)), 0);
}

static uint16_t owner_port(uint16_t slot)
{
	return st->map.owners[st->map.slot_owner[slot]].port;
}

/* Cluster "m": one member 127.0.0.1:7000 with 3 shards; the map uses shards 0 and 1 only. */
static int group_setup(void **state)
{
	(void)state;
	char err[256];
	st = calloc(1, sizeof(*st));
	if (st == NULL || etcd_start(&ep) != 0 ||
	    hf_etcd_create(ep.url, 0, &etcd, err, sizeof(err)) != 0)
		return -1;
	static struct hf_slot_map map;
	map.epoch = 1;
	map.owners_count = 2;
	for (int i = 0; i < 2; i++) {
		strcpy(map.owners[i].host, "127.0.0.1");
		map.owners[i].port = (uint16_t)(7000 + i);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map.slot_owner[s] = (uint16_t)(s % 2);
	struct hf_cluster_member m = {
	    .node_id = "n1", .host = "127.0.0.1", .port = 7000, .shards_count = 3};
	struct hf_cluster_change ch = {.map = &map, .members_put = {&m}, .members_put_count = 1};
	int applied = 0;
	if (hf_cluster_state_read(etcd, "m", st, err, sizeof(err)) != 0 ||
	    hf_cluster_commit(etcd, "m", st, &ch, &applied, err, sizeof(err)) != 0 || !applied)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hf_etcd_destroy(etcd);
	etcd_stop(&ep);
	free(st);
	return 0;
}

static void test_full_move(void **state)
{
	(void)state;
	char err[256];
	struct hf_slot_owner to = {"127.0.0.1", 7002};
	read_state();
	uint64_t epoch = st->map.epoch;
	reset(STEP_NONE);
	assert_int_equal(hf_move_run(etcd, "m", 4, &to, &engine, err, sizeof(err)), 0);
	assert_int_equal(fk.calls_count, 4);
	assert_string_equal(fk.calls[0], "copy");
	assert_string_equal(fk.calls[1], "freeze");
	assert_string_equal(fk.calls[2], "persisted");
	assert_string_equal(fk.calls[3], "drop 127.0.0.1:7000");
	read_state();
	assert_int_equal(st->map.epoch, epoch + 1);
	assert_int_equal(owner_port(4), 7002);
	assert_int_equal(st->moves_count, 0);
	/* Done already: nothing is called, nothing changes. */
	reset(STEP_NONE);
	assert_int_equal(hf_move_run(etcd, "m", 4, &to, &engine, err, sizeof(err)), 0);
	assert_int_equal(fk.calls_count, 0);
	read_state();
	assert_int_equal(st->map.epoch, epoch + 1);
	enum hf_move_fix_action action;
	assert_int_equal(hf_move_fix(etcd, "m", 4, &engine, &action, err, sizeof(err)), -ENOENT);
}

/* Stops a move of slot at fail_at, checks the phase left, fixes it, checks the outcome. */
static void crash_and_fix(uint16_t slot, uint16_t to_port, enum step fail_at,
			  enum hf_move_phase phase_left)
{
	char err[256];
	struct hf_slot_owner to = {"127.0.0.1", to_port};
	read_state();
	uint64_t epoch = st->map.epoch;
	uint16_t from_port = owner_port(slot);
	reset(fail_at);
	assert_int_equal(hf_move_run(etcd, "m", slot, &to, &engine, err, sizeof(err)), -EIO);
	read_state();
	assert_int_equal(st->moves_count, 1);
	assert_int_equal(st->moves[0].phase, phase_left);
	/* A second move of the same slot waits for fix. */
	assert_int_equal(hf_move_run(etcd, "m", slot, &to, &engine, err, sizeof(err)), -EBUSY);
	reset(STEP_NONE);
	enum hf_move_fix_action action;
	assert_int_equal(hf_move_fix(etcd, "m", slot, &engine, &action, err, sizeof(err)), 0);
	read_state();
	assert_int_equal(st->moves_count, 0);
	if (phase_left == HF_MOVE_FLIPPED) {
		assert_int_equal(action, HF_MOVE_FIX_ROLLED_FORWARD);
		assert_int_equal(owner_port(slot), to_port);
		assert_int_equal(st->map.epoch, epoch + 1);
		assert_int_equal(fk.calls_count, 1); /* the source drops */
	} else {
		assert_int_equal(action, HF_MOVE_FIX_ROLLED_BACK);
		assert_int_equal(owner_port(slot), from_port);
		assert_int_equal(st->map.epoch, epoch);
		assert_int_equal(fk.calls_count, 2); /* the target drops, the source unfreezes */
	}
}

static void test_crash_at_each_step(void **state)
{
	(void)state;
	crash_and_fix(10, 7002, STEP_COPY, HF_MOVE_COPYING);
	crash_and_fix(10, 7002, STEP_FREEZE, HF_MOVE_FROZEN); /* written before the freeze */
	crash_and_fix(10, 7002, STEP_PERSISTED, HF_MOVE_FROZEN);
	crash_and_fix(10, 7002, STEP_DROP, HF_MOVE_FLIPPED);
}

static void test_bad_states(void **state)
{
	(void)state;
	char err[256];
	enum hf_move_fix_action action;
	/* An engine that cannot move: the move stops at COPYING, fix cannot roll it back without
	 * the engine, and can with it. */
	struct hf_slot_owner to = {"127.0.0.1", 7001};
	read_state();
	uint16_t slot = st->map.slot_owner[20] == 0 ? 20 : 21;
	assert_int_equal(hf_move_run(etcd, "m", slot, &to, &no_engine, err, sizeof(err)),
			 -EOPNOTSUPP);
	assert_int_equal(hf_move_fix(etcd, "m", slot, &no_engine, &action, err, sizeof(err)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err, "drop"));
	reset(STEP_NONE);
	assert_int_equal(hf_move_fix(etcd, "m", slot, &engine, &action, err, sizeof(err)), 0);
	/* A record whose phase disagrees with the map is left for an operator. */
	read_state();
	struct hf_cluster_move mv = {.slot = 30,
				     .from = {"127.0.0.1", 7001},
				     .to = st->map.owners[st->map.slot_owner[30]],
				     .phase = HF_MOVE_FROZEN,
				     .epoch = st->map.epoch};
	struct hf_cluster_change ch = {.moves_put = {&mv}, .moves_put_count = 1};
	int applied = 0;
	assert_int_equal(hf_cluster_commit(etcd, "m", st, &ch, &applied, err, sizeof(err)), 0);
	assert_true(applied);
	assert_int_equal(hf_move_fix(etcd, "m", 30, &engine, &action, err, sizeof(err)), -EPROTO);
	struct hf_slot_owner other = {"127.0.0.1", 7002};
	assert_int_equal(hf_move_run(etcd, "m", 30, &other, &engine, err, sizeof(err)), -EBUSY);
	read_state();
	struct hf_cluster_change del = {.moves_delete = {30}, .moves_delete_count = 1};
	assert_int_equal(hf_cluster_commit(etcd, "m", st, &del, &applied, err, sizeof(err)), 0);
	assert_true(applied);
}

/* etcd stops while the source is frozen: the move fails cleanly (the record says COPYING, the map
 * is unchanged), and once etcd is back fix rolls it back. */
static void test_etcd_lost_mid_move(void **state)
{
	(void)state;
	char err[256];
	struct hf_slot_owner to = {"127.0.0.1", 7002};
	read_state();
	uint64_t epoch = st->map.epoch;
	uint16_t from_port = owner_port(40);
	reset(STEP_NONE);
	fk.kill_etcd_at = STEP_FREEZE;
	int rc = hf_move_run(etcd, "m", 40, &to, &engine, err, sizeof(err));
	assert_int_equal(rc, -ECONNREFUSED);
	assert_int_equal(etcd_restart(&ep), 0);
	read_state();
	assert_int_equal(st->moves_count, 1);
	assert_int_equal(st->moves[0].phase, HF_MOVE_FROZEN); /* written before the freeze */
	assert_int_equal(st->map.epoch, epoch);
	reset(STEP_NONE);
	enum hf_move_fix_action action;
	assert_int_equal(hf_move_fix(etcd, "m", 40, &engine, &action, err, sizeof(err)), 0);
	assert_int_equal(action, HF_MOVE_FIX_ROLLED_BACK);
	read_state();
	assert_int_equal(st->moves_count, 0);
	assert_int_equal(owner_port(40), from_port);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_random_crashes(void **state)
{
	(void)state;
	static const enum hf_move_phase left[] = {HF_MOVE_COPYING, HF_MOVE_FROZEN, HF_MOVE_FROZEN,
						  HF_MOVE_FLIPPED};
	uint64_t rng = seed;
	const char *lng = getenv("HF_LONG");
	uint32_t rounds = lng != NULL && strcmp(lng, "1") == 0 ? RANDOM_MOVES_LONG : RANDOM_MOVES;
	for (uint32_t i = 0; i < rounds; i++) {
		uint16_t slot = (uint16_t)(splitmix64(&rng) % HF_SLOTS_COUNT);
		read_state();
		uint16_t from = owner_port(slot);
		uint16_t to = (uint16_t)(7000 + (from - 7000 + 1 + splitmix64(&rng) % 2) % 3);
		enum step fail_at = (enum step)(splitmix64(&rng) % 4);
		crash_and_fix(slot, to, fail_at, left[fail_at]);
	}
}

int main(int argc, char **argv)
{
	etcd_require();
	seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	printf("test_cluster_move seed %" PRIu64 "\n", seed);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_move),	   cmocka_unit_test(test_crash_at_each_step),
	    cmocka_unit_test(test_bad_states),	   cmocka_unit_test(test_etcd_lost_mid_move),
	    cmocka_unit_test(test_random_crashes),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
