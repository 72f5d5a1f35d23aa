/* Latency histograms of a shard: per opcode, the time from a request's frame being parsed to its
 * reply being ready to send (for a write: after its batch is durable); per shard, the time a batch
 * waits from seal to durable, and the time the persist thread spent writing and syncing it.
 *
 * Fixed buckets in the 1-2.5-5 pattern, 10 µs to 10 s, plus +Inf: the same bounds every shard and
 * every scrape uses, so they can be summed across shards. Each histogram has one writer (its shard
 * thread), which updates it with relaxed atomic stores; any thread may read it at any time with
 * relaxed loads (the metrics thread does, through hf_latency_registry). A reader may see a bucket
 * and the count from slightly different instants; each value on its own only grows.
 *
 * Percentiles (for STATS) are estimated by linear interpolation inside the bucket that holds the
 * rank: at most one bucket width off. */
#ifndef HF_ENGINE_LATENCY_H
#define HF_ENGINE_LATENCY_H

#include "base/assert.h"

#include <stdatomic.h>
#include <stdint.h>

#define HF_LAT_BUCKETS_COUNT 19u /* finite upper bounds; +Inf is buckets[HF_LAT_BUCKETS_COUNT] */
#define HF_LAT_SHARDS_MAX    256u

/* Upper bound of bucket i in µs (i < HF_LAT_BUCKETS_COUNT). */
uint64_t hf_lat_bound_us(uint32_t i);

struct hf_lat_hist {
	_Atomic uint64_t buckets[HF_LAT_BUCKETS_COUNT + 1u]; /* not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

/* Records one observation. Only the histogram's one writer thread may call it. */
void hf_lat_record(struct hf_lat_hist *h, uint64_t us);
/* Records `n` observations of the same value (a batch's wait, once per op in it). */
void hf_lat_record_n(struct hf_lat_hist *h, uint64_t us, uint64_t n);
/* The estimated q-quantile (0 < q <= 1) in µs; 0 when empty. Any thread. */
uint64_t hf_lat_quantile_us(const struct hf_lat_hist *h, double q);

/* The histograms of one shard. */
struct hf_lat_shard {
	struct hf_lat_hist op[256]; /* by opcode: parsed -> reply ready */
	struct hf_lat_hist durable; /* per op of a batch: seal -> durable */
	struct hf_lat_hist sync;    /* per batch: the persist thread's write + sync */
};

/* Every shard of the process publishes its histograms here at start (index = shard index) and
 * withdraws them (NULL) before freeing them. Readers load the pointer with acquire. */
extern _Atomic(struct hf_lat_shard *) hf_latency_registry[HF_LAT_SHARDS_MAX];

#endif
