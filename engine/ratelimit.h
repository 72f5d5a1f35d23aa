/* Per-user rate limit of one shard (holdfastd --user-rate OPS_PER_S[:BURST]): a token bucket per
 * (event, user) for HOLD requests. A hold over the rate is answered RATE_LIMITED with the
 * milliseconds until a token is back, before the store is touched, so a flood costs the shard a
 * hash probe per request.
 *
 * The buckets live in a fixed open-addressing table (HF_RATE_BUCKETS_COUNT, probed
 * HF_RATE_PROBE_MAX slots). A new (event, user) takes an empty slot, or else the slot of the probe
 * window that was refilled longest ago: the table never grows, and an evicted bucket comes back
 * full, which only ever errs towards letting a user through. Pure logic: the caller passes the
 * time. One table belongs to one shard thread. */
#ifndef HF_ENGINE_RATELIMIT_H
#define HF_ENGINE_RATELIMIT_H

#include <stdint.h>

#define HF_RATE_BUCKETS_COUNT 65536u /* per shard, power of 2 */
#define HF_RATE_PROBE_MAX     8u
#define HF_RATE_OPS_MAX	      1000000u /* the largest --user-rate */

struct hf_rate_bucket {
	uint64_t event_id; /* 0: empty slot */
	uint64_t user_id;
	uint64_t tokens_milli; /* tokens x 1000, 0 .. burst x 1000 */
	uint64_t last_ms;      /* refilled up to this time */
};

struct hf_rate_limit {
	uint32_t ops_per_s; /* 0: no limit */
	uint32_t burst;	    /* tokens a bucket holds, >= 1 */
	struct hf_rate_bucket *buckets;
	uint64_t evictions;
};

/* Sets the shard's default rate (holdfastd --user-rate; 0: none; burst 0 means ops_per_s) and
 * allocates the table (always: an event may bring a rate of its own, CREATE_EVENT user_rate).
 * Returns 0 or -ENOMEM. */
int hf_rate_limit_init(struct hf_rate_limit *rl, uint32_t ops_per_s, uint32_t burst);
void hf_rate_limit_deinit(struct hf_rate_limit *rl);

/* Takes one token for (event, user) at now_ms under the default rate. Returns 0 when allowed, else
 * the ms to wait until a token is back (>= 1). Always 0 without a limit. */
uint32_t hf_rate_limit_take(struct hf_rate_limit *rl, uint64_t event_id, uint64_t user_id,
			    uint64_t now_ms);
/* Same under an event's own rate: ops_per_s 1 .. HF_RATE_OPS_MAX, burst >= 1. The event's
 * buckets are the same slots: a rate that changes (it cannot: an event's rate is fixed at its
 * creation) would carry the tokens over. */
uint32_t hf_rate_limit_take_at(struct hf_rate_limit *rl, uint64_t event_id, uint64_t user_id,
			       uint64_t now_ms, uint32_t ops_per_s, uint32_t burst);

#endif
