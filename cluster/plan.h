/* The move planner: pure functions from a slot map (and a weight per slot) to a list of slot moves
 * that balances the shards. No I/O, no allocation; the CLI feeds it the map from etcd and prints or
 * drives the plan (cluster/move.h).
 *
 *  - hf_plan_spread: `cluster create`: the 4096 slots over all owners in contiguous ranges whose
 *    sizes differ by at most one.
 *  - hf_plan_rebalance: first every slot of a draining owner (`cluster remove`) goes to the least
 *    loaded active owner, heaviest slot first; then, while the most loaded owner is above the mean
 *    and the least loaded below it, the heaviest slot of the former whose move strictly narrows
 *    their gap moves to the latter (`rebalance`, and `cluster add`, whose new shards start empty).
 *    A slot moves at most once per plan. For weights all 1 (--by slots) the result is balanced
 *    within one slot between active owners.
 *
 * Owners are indexes into map->owners; hf_plan_owner_add appends the shards of a new node, and
 * hf_plan_compact drops owners that own no slot once a plan has run. */
#ifndef HF_CLUSTER_PLAN_H
#define HF_CLUSTER_PLAN_H

#include "base/assert.h"
#include "proto/proto.h"

#include <stdint.h>

/* A slot's weight is clamped to this (2^40), so that a load (<= 2^52) times the owners count
 * (<= 2^8) fits 64 bits. */
#define HF_PLAN_WEIGHT_MAX (1ull << 40)
HF_STATIC_ASSERT(HF_SLOTS_COUNT <= (1u << 12), "a load fits 52 bits");
HF_STATIC_ASSERT(HF_SLOT_OWNERS_MAX <= (1u << 8), "load * owners fits 64 bits");

enum hf_plan_by {
	HF_PLAN_BY_SLOTS = 0, /* every slot weighs 1 */
	HF_PLAN_BY_SEATS = 1, /* a slot weighs the seats of its events */
	HF_PLAN_BY_OPS = 2,   /* a slot weighs the operations it served */
};

struct hf_plan_move {
	uint16_t slot;
	uint16_t from; /* owner index */
	uint16_t to;   /* owner index */
};

struct hf_plan {
	struct hf_plan_move moves[HF_SLOTS_COUNT]; /* a slot moves at most once */
	uint32_t moves_count;
	uint64_t load_before[HF_SLOT_OWNERS_MAX]; /* per owner, summed weights */
	uint64_t load_after[HF_SLOT_OWNERS_MAX];
	uint32_t moves_skipped; /* moves the planner wanted past moves_max */
};

/* Parses "slots", "seats" or "ops"; returns 0 or -1. */
int hf_plan_by_parse(const char *name, enum hf_plan_by *out);
const char *hf_plan_by_name(enum hf_plan_by by);

/* Fills map->slot_owner so that owner i of owners_count (1 .. map->owners_count) owns the i-th of
 * owners_count contiguous ranges of sizes 4096 / n or 4096 / n + 1. */
void hf_plan_spread(struct hf_slot_map *map);

/* Appends shards_count owners (host, port + i). Returns 0, -EEXIST when one is already an owner,
 * -ENOSPC past HF_SLOT_OWNERS_MAX, -EINVAL for a bad host or port range. */
int hf_plan_owner_add(struct hf_slot_map *map, const char *host, uint16_t port,
		      uint32_t shards_count);

/* Removes the owners that own no slot, renumbering slot_owner. Returns the number removed. At
 * least one owner stays (the map must own every slot). */
uint32_t hf_plan_compact(struct hf_slot_map *map);

/* Plans moves on map (applied to map->slot_owner in place: the map afterwards is the plan's
 * result; the epoch is not touched). draining[o] != 0 marks owners that must lose every slot;
 * weights (NULL: all 1) has HF_SLOTS_COUNT entries; moves_max 0 means no limit. Draining moves are
 * planned first and do count against moves_max. Returns 0, or -EINVAL when no owner is active. */
int hf_plan_rebalance(struct hf_slot_map *map, const uint8_t *draining, const uint64_t *weights,
		      uint32_t moves_max, struct hf_plan *plan);

#endif
