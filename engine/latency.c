/* Latency histograms (see latency.h).
 *
 * INVARIANTS
 *  1. bounds strictly increase; bucket i holds observations in (bound(i-1), bound(i)], the last
 *     one everything above the largest bound.
 *  2. count == sum of buckets, sum_us == sum of observations, as seen by the writer. */
#include "engine/latency.h"

#include <stddef.h>

static const uint64_t bounds_us[HF_LAT_BUCKETS_COUNT] = {
    10,	   25,	  50,	  100,	  250,	  500,	   1000,    2500,    5000,     10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

_Atomic(struct hf_lat_shard *) hf_latency_registry[HF_LAT_SHARDS_MAX];

uint64_t hf_lat_bound_us(uint32_t i)
{
	HF_ASSERT(i < HF_LAT_BUCKETS_COUNT);
	return bounds_us[i];
}

static uint32_t bucket_of(uint64_t us)
{
	uint32_t i = 0;
	/* Bounded: HF_LAT_BUCKETS_COUNT compares. */
	while (i < HF_LAT_BUCKETS_COUNT && us > bounds_us[i])
		i++;
	return i;
}

/* Single writer: a relaxed load and store, no read-modify-write instruction needed. */
static void add(_Atomic uint64_t *x, uint64_t n)
{
	atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void hf_lat_record_n(struct hf_lat_hist *h, uint64_t us, uint64_t n)
{
	if (n == 0)
		return;
	add(&h->buckets[bucket_of(us)], n);
	add(&h->count, n);
	add(&h->sum_us, us * n);
}

void hf_lat_record(struct hf_lat_hist *h, uint64_t us)
{
	hf_lat_record_n(h, us, 1);
}

uint64_t hf_lat_quantile_us(const struct hf_lat_hist *h, double q)
{
	HF_ASSERT(q > 0.0);
	HF_ASSERT(q <= 1.0);
	uint64_t counts[HF_LAT_BUCKETS_COUNT + 1u];
	uint64_t total = 0;
	for (uint32_t i = 0; i <= HF_LAT_BUCKETS_COUNT; i++) {
		counts[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		total += counts[i];
	}
	if (total == 0)
		return 0;
	double rank = q * (double)total;
	uint64_t below = 0;
	for (uint32_t i = 0; i <= HF_LAT_BUCKETS_COUNT; i++) {
		if ((double)(below + counts[i]) < rank) {
			below += counts[i];
			continue;
		}
		if (i == HF_LAT_BUCKETS_COUNT)
			return bounds_us[HF_LAT_BUCKETS_COUNT - 1u];
		uint64_t lo = i == 0 ? 0 : bounds_us[i - 1u];
		double within = counts[i] > 0 ? (rank - (double)below) / (double)counts[i] : 1.0;
		return lo + (uint64_t)(within * (double)(bounds_us[i] - lo));
	}
	HF_PANIC("quantile rank %f past %llu observations", rank, (unsigned long long)total);
}
