/* Per-user token buckets (see ratelimit.h).
 *
 * INVARIANTS
 *  1. A slot is empty (event_id 0) or holds one (event, user) pair; a pair is in at most one slot
 *     of its probe window.
 *  2. tokens_milli <= burst * 1000 after every refill. */
#include "engine/ratelimit.h"

#include "base/assert.h"
#include "proto/proto.h"

#include <errno.h>
#include <stdlib.h>

HF_STATIC_ASSERT((HF_RATE_BUCKETS_COUNT & (HF_RATE_BUCKETS_COUNT - 1u)) == 0,
		 "the table is indexed with a mask");

int hf_rate_limit_init(struct hf_rate_limit *rl, uint32_t ops_per_s, uint32_t burst)
{
	HF_ASSERT(ops_per_s <= HF_RATE_OPS_MAX);
	rl->ops_per_s = ops_per_s;
	rl->burst = burst != 0 ? burst : (ops_per_s != 0 ? ops_per_s : 1u);
	rl->buckets = NULL;
	rl->evictions = 0;
	rl->buckets = calloc(HF_RATE_BUCKETS_COUNT, sizeof(*rl->buckets));
	return rl->buckets != NULL ? 0 : -ENOMEM;
}

void hf_rate_limit_deinit(struct hf_rate_limit *rl)
{
	free(rl->buckets);
	rl->buckets = NULL;
}

static struct hf_rate_bucket *find(struct hf_rate_limit *rl, uint64_t event_id, uint64_t user_id,
				   uint64_t now_ms, uint32_t burst)
{
	uint64_t h = hf_hash64(event_id ^ hf_hash64(user_id));
	struct hf_rate_bucket *empty = NULL;
	struct hf_rate_bucket *oldest = NULL;
	for (uint32_t i = 0; i < HF_RATE_PROBE_MAX; i++) {
		struct hf_rate_bucket *b = &rl->buckets[(h + i) & (HF_RATE_BUCKETS_COUNT - 1u)];
		if (b->event_id == event_id && b->user_id == user_id)
			return b;
		if (b->event_id == 0 && empty == NULL)
			empty = b;
		if (oldest == NULL || b->last_ms < oldest->last_ms)
			oldest = b;
	}
	struct hf_rate_bucket *b = empty;
	if (b == NULL) {
		b = oldest;
		rl->evictions++;
	}
	HF_ASSERT(b != NULL);
	b->event_id = event_id;
	b->user_id = user_id;
	b->tokens_milli = (uint64_t)burst * 1000u;
	b->last_ms = now_ms;
	return b;
}

uint32_t hf_rate_limit_take(struct hf_rate_limit *rl, uint64_t event_id, uint64_t user_id,
			    uint64_t now_ms)
{
	if (rl->ops_per_s == 0)
		return 0;
	return hf_rate_limit_take_at(rl, event_id, user_id, now_ms, rl->ops_per_s, rl->burst);
}

uint32_t hf_rate_limit_take_at(struct hf_rate_limit *rl, uint64_t event_id, uint64_t user_id,
			       uint64_t now_ms, uint32_t ops_per_s, uint32_t burst)
{
	HF_ASSERT(event_id != 0);
	HF_ASSERT(ops_per_s >= 1);
	HF_ASSERT(ops_per_s <= HF_RATE_OPS_MAX);
	HF_ASSERT(burst >= 1);
	HF_ASSERT(rl->buckets != NULL);
	struct hf_rate_bucket *b = find(rl, event_id, user_id, now_ms, burst);
	uint64_t cap_milli = (uint64_t)burst * 1000u;
	if (now_ms > b->last_ms) {
		/* ops_per_s tokens per 1000 ms = ops_per_s milli-tokens per ms. */
		uint64_t refill = (now_ms - b->last_ms) * ops_per_s;
		b->tokens_milli =
		    b->tokens_milli + refill > cap_milli ? cap_milli : b->tokens_milli + refill;
		b->last_ms = now_ms;
	}
	if (b->tokens_milli > cap_milli)
		b->tokens_milli = cap_milli;
	if (b->tokens_milli >= 1000u) {
		b->tokens_milli -= 1000u;
		return 0;
	}
	uint64_t missing = 1000u - b->tokens_milli;
	uint64_t wait_ms = (missing + ops_per_s - 1u) / ops_per_s;
	return wait_ms > 0 ? (uint32_t)wait_ms : 1u;
}
