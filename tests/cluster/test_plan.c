/* Goal: the planner's plans are correct and balanced: create spreads 4096 slots in near-equal
 * contiguous ranges; add moves slots only onto the new shards; remove empties the drained node;
 * rebalance --by slots ends within one slot; weights, --max-moves and bad input behave as plan.h
 * says.
 * Method: fixed scenarios, then a randomized property test over random maps (owner counts, skewed
 * assignments, drained owners, weights all-one or random with zeros, move limits): every slot owned
 * exactly once, a slot moves at most once and from its owner, loads conserved, drained owners
 * empty, each balancing move from an owner above the mean to one below it at that moment, and for
 * --by slots max - min <= 1. Prints its seed; `test_cluster_plan SEED` replays one; HF_LONG=1
 * runs 25x more maps. */
#include "base/assert.h"
#include "cluster/plan.h"

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

#define RANDOM_MAPS	 40u
#define RANDOM_MAPS_LONG 1000u

static uint64_t seed;
static struct hf_slot_map map;
static struct hf_plan plan;
static uint8_t draining[HF_SLOT_OWNERS_MAX];
static uint64_t weights[HF_SLOTS_COUNT];

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void map_with_owners(uint32_t n)
{
	memset(&map, 0, sizeof(map));
	map.epoch = 1;
	for (uint32_t i = 0; i < n; i++) {
		snprintf(map.owners[i].host, sizeof(map.owners[i].host), "10.0.%u.%u", i / 200,
			 i % 200 + 1);
		map.owners[i].port = 7000;
	}
	map.owners_count = (uint16_t)n;
}

static void loads(uint32_t *out)
{
	memset(out, 0, HF_SLOT_OWNERS_MAX * sizeof(*out));
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		assert_true(map.slot_owner[s] < map.owners_count);
		out[map.slot_owner[s]]++;
	}
}

static void test_spread(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 2, 3, 7, 100, 256};
	for (size_t k = 0; k < HF_ARRAY_SIZE(counts); k++) {
		map_with_owners(counts[k]);
		hf_plan_spread(&map);
		uint32_t l[HF_SLOT_OWNERS_MAX];
		loads(l);
		for (uint32_t o = 0; o < counts[k]; o++) {
			assert_true(l[o] >= HF_SLOTS_COUNT / counts[k]);
			assert_true(l[o] <= HF_SLOTS_COUNT / counts[k] + 1);
		}
		for (uint32_t s = 1; s < HF_SLOTS_COUNT; s++) /* contiguous ranges */
			assert_true(map.slot_owner[s] == map.slot_owner[s - 1] ||
				    map.slot_owner[s] == map.slot_owner[s - 1] + 1);
	}
}

static void test_owner_add_and_compact(void **state)
{
	(void)state;
	map_with_owners(2);
	hf_plan_spread(&map);
	assert_int_equal(hf_plan_owner_add(&map, "10.0.9.9", 8000, 3), 0);
	assert_int_equal(map.owners_count, 5);
	assert_int_equal(map.owners[4].port, 8002);
	assert_int_equal(hf_plan_owner_add(&map, "10.0.9.9", 7999, 2), -EEXIST);
	assert_int_equal(hf_plan_owner_add(&map, "", 8000, 1), -EINVAL);
	assert_int_equal(hf_plan_owner_add(&map, "h", 65535, 2), -EINVAL);
	assert_int_equal(hf_plan_owner_add(&map, "h", 1, 0), -EINVAL);
	assert_int_equal(hf_plan_owner_add(&map, "h", 1, HF_SLOT_OWNERS_MAX), -ENOSPC);
	/* The three new owners own nothing yet: compact drops them. */
	assert_int_equal(hf_plan_compact(&map), 3);
	assert_int_equal(map.owners_count, 2);
	/* Owner 0 empties: owner 1 becomes owner 0. */
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map.slot_owner[s] = 1;
	assert_int_equal(hf_plan_compact(&map), 1);
	assert_int_equal(map.owners_count, 1);
	assert_int_equal(map.slot_owner[0], 0);
	assert_string_equal(map.owners[0].host, "10.0.0.2");
}

static void test_add_node(void **state)
{
	(void)state;
	map_with_owners(3);
	hf_plan_spread(&map);
	assert_int_equal(hf_plan_owner_add(&map, "10.9.9.9", 7000, 1), 0);
	memset(draining, 0, sizeof(draining));
	assert_int_equal(hf_plan_rebalance(&map, draining, NULL, 0, &plan), 0);
	assert_int_equal(plan.moves_count, 1024);
	for (uint32_t i = 0; i < plan.moves_count; i++)
		assert_int_equal(plan.moves[i].to, 3);
	uint32_t l[HF_SLOT_OWNERS_MAX];
	loads(l);
	for (uint32_t o = 0; o < 4; o++)
		assert_int_equal(l[o], 1024);
	/* Balanced already: a second plan moves nothing. */
	assert_int_equal(hf_plan_rebalance(&map, draining, NULL, 0, &plan), 0);
	assert_int_equal(plan.moves_count, 0);
}

static void test_remove_node(void **state)
{
	(void)state;
	map_with_owners(4);
	hf_plan_spread(&map);
	memset(draining, 0, sizeof(draining));
	draining[1] = 1;
	assert_int_equal(hf_plan_rebalance(&map, draining, NULL, 0, &plan), 0);
	assert_int_equal(plan.moves_count, 1024);
	uint32_t l[HF_SLOT_OWNERS_MAX];
	loads(l);
	assert_int_equal(l[1], 0);
	for (uint32_t o = 0; o < 4; o++)
		if (o != 1)
			assert_true(l[o] == 1365 || l[o] == 1366);
	assert_int_equal(hf_plan_compact(&map), 1);
	memset(draining, 1, 4);
	assert_int_equal(hf_plan_rebalance(&map, draining, NULL, 0, &plan), -EINVAL);
}

static void test_max_moves_and_weights(void **state)
{
	(void)state;
	map_with_owners(2);
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map.slot_owner[s] = 0;
	memset(draining, 0, sizeof(draining));
	assert_int_equal(hf_plan_rebalance(&map, draining, NULL, 10, &plan), 0);
	assert_int_equal(plan.moves_count, 10);
	assert_true(plan.moves_skipped > 0);
	assert_int_equal(plan.load_after[1], 10);

	/* By weight: one slot of owner 0 holds almost everything; moving it would not narrow the
	 * gap, so the plan moves light slots instead, and never the heavy one. */
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		map.slot_owner[s] = (uint16_t)(s % 2);
		weights[s] = 1;
	}
	weights[0] = 100000;
	assert_int_equal(hf_plan_rebalance(&map, draining, weights, 0, &plan), 0);
	for (uint32_t i = 0; i < plan.moves_count; i++) {
		assert_int_not_equal(plan.moves[i].slot, 0);
		assert_int_equal(plan.moves[i].from, 0);
	}
	assert_int_equal(plan.load_after[0], 100000);
	/* Weights past HF_PLAN_WEIGHT_MAX are clamped: loads never overflow. */
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		map.slot_owner[s] = 0;
		weights[s] = UINT64_MAX;
	}
	assert_int_equal(hf_plan_rebalance(&map, draining, weights, 0, &plan), 0);
	assert_int_equal(plan.moves_count, HF_SLOTS_COUNT / 2);
	assert_int_equal(plan.load_after[1], (HF_SLOTS_COUNT / 2) * HF_PLAN_WEIGHT_MAX);
	/* Zero-weight slots never move for balance. */
	memset(weights, 0, sizeof(weights));
	weights[2] = 50;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map.slot_owner[s] = 0;
	assert_int_equal(hf_plan_rebalance(&map, draining, weights, 0, &plan), 0);
	assert_int_equal(plan.moves_count, 0);
}

/* Replays the plan from the loads before it and checks every property in the file header. */
static void check_random_plan(const uint16_t *before, int unit, uint32_t moves_max)
{
	static uint8_t moved[HF_SLOTS_COUNT];
	uint64_t load[HF_SLOT_OWNERS_MAX], total = 0;
	uint32_t active = 0;
	memset(moved, 0, sizeof(moved));
	memcpy(load, plan.load_before, sizeof(load));
	for (uint32_t o = 0; o < map.owners_count; o++) {
		total += load[o];
		active += draining[o] == 0;
	}
	for (uint32_t i = 0; i < plan.moves_count; i++) {
		const struct hf_plan_move *mv = &plan.moves[i];
		assert_false(moved[mv->slot]);
		moved[mv->slot] = 1;
		assert_int_equal(before[mv->slot], mv->from);
		assert_false(draining[mv->to]);
		uint64_t w = unit ? 1 : weights[mv->slot];
		if (!draining[mv->from]) {
			assert_true(load[mv->from] * active > total);
			assert_true(load[mv->to] * active < total);
		}
		load[mv->from] -= w;
		load[mv->to] += w;
	}
	assert_memory_equal(load, plan.load_after, map.owners_count * sizeof(load[0]));
	uint32_t l[HF_SLOT_OWNERS_MAX];
	loads(l);
	if (moves_max != 0 && plan.moves_skipped > 0)
		return;
	uint32_t lo = UINT32_MAX, hi = 0;
	for (uint32_t o = 0; o < map.owners_count; o++) {
		if (draining[o]) {
			assert_int_equal(l[o], 0);
			continue;
		}
		lo = l[o] < lo ? l[o] : lo;
		hi = l[o] > hi ? l[o] : hi;
	}
	if (unit)
		assert_true(hi - lo <= 1);
}

static void random_map(uint64_t *rng, int *unit_out, uint32_t *moves_max_out)
{
	uint32_t n = 1 + (uint32_t)(splitmix64(rng) % 40);
	map_with_owners(n);
	uint32_t hot = (uint32_t)(splitmix64(rng) % n);
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) /* skewed: half the slots on one owner */
		map.slot_owner[s] = (uint16_t)(splitmix64(rng) % 2 ? hot : splitmix64(rng) % n);
	memset(draining, 0, sizeof(draining));
	for (uint32_t o = 0; o + 1 < n; o++)
		draining[o] = splitmix64(rng) % 5 == 0;
	*unit_out = splitmix64(rng) % 2 == 0;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		weights[s] = splitmix64(rng) % 3 == 0 ? 0 : splitmix64(rng) % 1000;
	*moves_max_out = splitmix64(rng) % 4 == 0 ? (uint32_t)(splitmix64(rng) % 200) : 0;
}

static void test_random_plans(void **state)
{
	(void)state;
	static uint16_t before[HF_SLOTS_COUNT];
	const char *lng = getenv("HF_LONG");
	uint32_t rounds = lng != NULL && strcmp(lng, "1") == 0 ? RANDOM_MAPS_LONG : RANDOM_MAPS;
	uint64_t rng = seed;
	for (uint32_t r = 0; r < rounds; r++) {
		int unit;
		uint32_t moves_max;
		random_map(&rng, &unit, &moves_max);
		memcpy(before, map.slot_owner, sizeof(before));
		assert_int_equal(
		    hf_plan_rebalance(&map, draining, unit ? NULL : weights, moves_max, &plan), 0);
		check_random_plan(before, unit, moves_max);
		if (moves_max != 0)
			assert_true(plan.moves_count <= moves_max);
	}
}

static void test_by_names(void **state)
{
	(void)state;
	enum hf_plan_by by;
	assert_int_equal(hf_plan_by_parse("seats", &by), 0);
	assert_int_equal(by, HF_PLAN_BY_SEATS);
	assert_string_equal(hf_plan_by_name(HF_PLAN_BY_OPS), "ops");
	assert_int_equal(hf_plan_by_parse("bytes", &by), -1);
}

int main(int argc, char **argv)
{
	seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	printf("test_cluster_plan seed %" PRIu64 " (replay: test_cluster_plan %" PRIu64 ")\n", seed,
	       seed);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spread),
	    cmocka_unit_test(test_owner_add_and_compact),
	    cmocka_unit_test(test_add_node),
	    cmocka_unit_test(test_remove_node),
	    cmocka_unit_test(test_max_moves_and_weights),
	    cmocka_unit_test(test_random_plans),
	    cmocka_unit_test(test_by_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
