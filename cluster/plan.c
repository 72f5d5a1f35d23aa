/* The move planner (see plan.h).
 *
 * INVARIANTS (checked at the end of hf_plan_rebalance):
 *  1. Every slot is owned by exactly one owner < owners_count before and after (slot_owner is a
 *     function), and the loads sum to the same total.
 *  2. A slot appears in at most one move, and move.from was its owner before the plan.
 *  3. After a plan, no draining owner owns a slot (when moves_max did not cut the plan short).
 *  4. Every balancing move goes from an owner above the mean to one below it (at that moment).
 *  5. load * owners_count fits 64 bits: weights are clamped to HF_PLAN_WEIGHT_MAX.
 *  6. The loop is bounded: at most HF_SLOTS_COUNT moves, since a slot moves at most once. */
#include "cluster/plan.h"

#include "base/assert.h"

#include <errno.h>
#include <string.h>

static const char *const by_names[] = {"slots", "seats", "ops"};

int hf_plan_by_parse(const char *name, enum hf_plan_by *out)
{
	for (uint32_t i = 0; i < HF_ARRAY_SIZE(by_names); i++) {
		if (strcmp(name, by_names[i]) == 0) {
			*out = (enum hf_plan_by)i;
			return 0;
		}
	}
	return -1;
}

const char *hf_plan_by_name(enum hf_plan_by by)
{
	HF_ASSERT((unsigned)by < HF_ARRAY_SIZE(by_names));
	return by_names[by];
}

void hf_plan_spread(struct hf_slot_map *map)
{
	uint32_t n = map->owners_count;
	HF_ASSERT(n >= 1);
	HF_ASSERT(n <= HF_SLOT_OWNERS_MAX);
	uint32_t s = 0;
	for (uint32_t o = 0; o < n; o++) {
		uint32_t size = HF_SLOTS_COUNT / n + (o < HF_SLOTS_COUNT % n ? 1u : 0u);
		for (uint32_t k = 0; k < size; k++)
			map->slot_owner[s++] = (uint16_t)o;
	}
	HF_ASSERT(s == HF_SLOTS_COUNT);
}

int hf_plan_owner_add(struct hf_slot_map *map, const char *host, uint16_t port,
		      uint32_t shards_count)
{
	size_t len = strnlen(host, HF_HOST_SIZE_MAX + 1);
	if (len == 0 || len > HF_HOST_SIZE_MAX || shards_count == 0 || port == 0 ||
	    (uint32_t)port + shards_count - 1u > UINT16_MAX)
		return -EINVAL;
	if (map->owners_count + shards_count > HF_SLOT_OWNERS_MAX)
		return -ENOSPC;
	for (uint32_t i = 0; i < map->owners_count; i++)
		if (strcmp(map->owners[i].host, host) == 0 && map->owners[i].port >= port &&
		    map->owners[i].port < port + shards_count)
			return -EEXIST;
	for (uint32_t i = 0; i < shards_count; i++) {
		struct hf_slot_owner *o = &map->owners[map->owners_count++];
		memcpy(o->host, host, len + 1);
		o->port = (uint16_t)(port + i);
	}
	return 0;
}

uint32_t hf_plan_compact(struct hf_slot_map *map)
{
	uint32_t slots[HF_SLOT_OWNERS_MAX] = {0};
	uint16_t renumber[HF_SLOT_OWNERS_MAX];
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		HF_ASSERT(map->slot_owner[s] < map->owners_count);
		slots[map->slot_owner[s]]++;
	}
	uint32_t kept = 0;
	for (uint32_t o = 0; o < map->owners_count; o++) {
		if (slots[o] == 0)
			continue;
		renumber[o] = (uint16_t)kept;
		map->owners[kept++] = map->owners[o];
	}
	HF_ASSERT(kept >= 1);
	uint32_t removed = map->owners_count - kept;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map->slot_owner[s] = renumber[map->slot_owner[s]];
	memset(&map->owners[kept], 0, (map->owners_count - kept) * sizeof(map->owners[0]));
	map->owners_count = (uint16_t)kept;
	return removed;
}

/* ---- Rebalancing ---- */

struct planner {
	struct hf_slot_map *map;
	const uint8_t *draining;
	const uint64_t *weights;
	uint32_t moves_max;
	struct hf_plan *plan;
	uint8_t moved[HF_SLOTS_COUNT];
	uint64_t *load; /* plan->load_after, updated as moves are planned */
	uint64_t total;
	uint32_t active_count;
};

/* Clamped so that load * owners never overflows 64 bits. */
static uint64_t weight(const struct planner *p, uint32_t slot)
{
	if (p->weights == NULL)
		return 1u;
	return p->weights[slot] < HF_PLAN_WEIGHT_MAX ? p->weights[slot] : HF_PLAN_WEIGHT_MAX;
}

/* Records one move; returns 0, or -1 when moves_max is reached. */
static int move(struct planner *p, uint32_t slot, uint16_t to)
{
	struct hf_plan *plan = p->plan;
	if (p->moves_max != 0 && plan->moves_count == p->moves_max) {
		plan->moves_skipped++;
		return -1;
	}
	uint16_t from = p->map->slot_owner[slot];
	HF_ASSERT(from != to);
	HF_ASSERT(!p->moved[slot]);
	plan->moves[plan->moves_count++] =
	    (struct hf_plan_move){.slot = (uint16_t)slot, .from = from, .to = to};
	p->moved[slot] = 1;
	p->load[from] -= weight(p, slot);
	p->load[to] += weight(p, slot);
	p->map->slot_owner[slot] = to;
	return 0;
}

/* The active owner with the smallest load (ties: the lowest index). */
static uint16_t lightest_active(const struct planner *p)
{
	int best = -1;
	for (uint32_t o = 0; o < p->map->owners_count; o++)
		if (!p->draining[o] && (best < 0 || p->load[o] < p->load[best]))
			best = (int)o;
	HF_ASSERT(best >= 0);
	return (uint16_t)best;
}

/* The heaviest unmoved slot of owner with weight in [1, below) (below 0: any weight, zero
 * included); -1 when none. */
static int heaviest_slot(const struct planner *p, uint16_t owner, uint64_t below, int any)
{
	int best = -1;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		if (p->map->slot_owner[s] != owner || p->moved[s])
			continue;
		uint64_t w = weight(p, s);
		if (!any && (w == 0 || w >= below))
			continue;
		if (best < 0 || w > weight(p, (uint32_t)best))
			best = (int)s;
	}
	return best;
}

static int drain(struct planner *p)
{
	for (uint32_t o = 0; o < p->map->owners_count; o++) {
		if (!p->draining[o])
			continue;
		/* Bounded: each round moves one of the owner's slots, and a slot moves once. */
		for (uint32_t round = 0; round < HF_SLOTS_COUNT; round++) {
			int s = heaviest_slot(p, (uint16_t)o, 0, 1);
			if (s < 0)
				break;
			if (move(p, (uint32_t)s, lightest_active(p)) != 0)
				return -1;
		}
	}
	return 0;
}

/* The most loaded active owner above the mean that still has a slot that could move (*over_out)
 * and the least loaded below it (*under_out). Returns 0, or -1 when the owners are balanced. The
 * mean is total / active_count, compared exactly as load * active_count against total. */
static int extremes(const struct planner *p, const uint8_t *stuck, uint16_t *over_out,
		    uint16_t *under_out)
{
	int over = -1, under = -1;
	for (uint32_t o = 0; o < p->map->owners_count; o++) {
		if (p->draining[o])
			continue;
		uint64_t scaled = p->load[o] * p->active_count;
		if (scaled > p->total && !stuck[o] && (over < 0 || p->load[o] > p->load[over]))
			over = (int)o;
		if (scaled < p->total && (under < 0 || p->load[o] < p->load[under]))
			under = (int)o;
	}
	if (over < 0 || under < 0)
		return -1;
	*over_out = (uint16_t)over;
	*under_out = (uint16_t)under;
	return 0;
}

static void balance(struct planner *p)
{
	uint8_t stuck[HF_SLOT_OWNERS_MAX] = {0};
	/* Bounded: every iteration moves a slot (at most HF_SLOTS_COUNT) or marks an owner stuck
	 * (at most HF_SLOT_OWNERS_MAX). */
	for (uint32_t round = 0; round < HF_SLOTS_COUNT + HF_SLOT_OWNERS_MAX; round++) {
		uint16_t over, under;
		if (extremes(p, stuck, &over, &under) != 0)
			return;
		HF_ASSERT(p->load[over] > p->load[under]);
		int s = heaviest_slot(p, over, p->load[over] - p->load[under], 0);
		if (s < 0) {
			stuck[over] = 1;
			continue;
		}
		if (move(p, (uint32_t)s, under) != 0)
			return;
	}
}

static void check_plan(const struct planner *p, const uint16_t *before)
{
	uint64_t sum = 0;
	for (uint32_t o = 0; o < p->map->owners_count; o++)
		sum += p->load[o];
	HF_ASSERT(sum == p->total);
	for (uint32_t i = 0; i < p->plan->moves_count; i++) {
		const struct hf_plan_move *mv = &p->plan->moves[i];
		HF_ASSERT(before[mv->slot] == mv->from);
		HF_ASSERT(p->map->slot_owner[mv->slot] == mv->to);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		HF_ASSERT(p->map->slot_owner[s] < p->map->owners_count);
}

int hf_plan_rebalance(struct hf_slot_map *map, const uint8_t *draining, const uint64_t *weights,
		      uint32_t moves_max, struct hf_plan *plan)
{
	HF_ASSERT(map->owners_count >= 1);
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	static _Thread_local struct planner p;
	static _Thread_local uint16_t before[HF_SLOTS_COUNT];
	memset(&p, 0, sizeof(p));
	memset(plan, 0, sizeof(*plan));
	p = (struct planner){.map = map,
			     .draining = draining,
			     .weights = weights,
			     .moves_max = moves_max,
			     .plan = plan,
			     .load = plan->load_after};
	for (uint32_t o = 0; o < map->owners_count; o++)
		p.active_count += draining[o] == 0;
	if (p.active_count == 0)
		return -EINVAL;
	memcpy(before, map->slot_owner, sizeof(before));
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		HF_ASSERT(map->slot_owner[s] < map->owners_count);
		plan->load_before[map->slot_owner[s]] += weight(&p, s);
		p.total += weight(&p, s);
	}
	memcpy(plan->load_after, plan->load_before, sizeof(plan->load_after));
	if (drain(&p) == 0)
		balance(&p);
	check_plan(&p, before);
	return 0;
}
