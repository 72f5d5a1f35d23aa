/* The log-linear histogram of hist.h: index arithmetic after HdrHistogram (unit 1 ns, 256
 * sub-buckets), percentiles by nearest rank over the cumulative counts. */
#include "bench/hist.h"

#include "base/assert.h"

#include <math.h>
#include <string.h>

HF_STATIC_ASSERT(((uint64_t)HF_HIST_SUB_BUCKETS << (HF_HIST_BUCKETS - 1)) > HF_HIST_VALUE_MAX_NS,
		 "the last bucket covers the largest value");
HF_STATIC_ASSERT(((uint64_t)HF_HIST_SUB_BUCKETS << (HF_HIST_BUCKETS - 2)) <= HF_HIST_VALUE_MAX_NS,
		 "no bucket is wasted");

void hf_hist_init(struct hf_hist *hist)
{
	memset(hist, 0, sizeof(*hist));
	hist->value_min_ns = UINT64_MAX;
}

void hf_hist_reset(struct hf_hist *hist)
{
	hf_hist_init(hist);
}

uint32_t hf_hist_index_of(uint64_t value_ns)
{
	HF_ASSERT(value_ns <= HF_HIST_VALUE_MAX_NS);
	/* The bucket is the power of two above the value, counting from the first 256-wide range.
	 */
	uint32_t pow2_ceiling =
	    64u - (uint32_t)__builtin_clzll(value_ns | (HF_HIST_SUB_BUCKETS - 1u));
	uint32_t bucket_index = pow2_ceiling - (HF_HIST_SUB_BUCKETS_HALF_MAGNITUDE + 1u);
	uint32_t sub_bucket_index = (uint32_t)(value_ns >> bucket_index);
	HF_ASSERT(sub_bucket_index < HF_HIST_SUB_BUCKETS);
	uint32_t index = ((bucket_index + 1u) << HF_HIST_SUB_BUCKETS_HALF_MAGNITUDE) +
			 sub_bucket_index - HF_HIST_SUB_BUCKETS_HALF;
	HF_ASSERT(index < HF_HIST_COUNTS_SIZE);
	return index;
}

static void index_split(uint32_t index, uint32_t *bucket_out, uint32_t *sub_bucket_out)
{
	HF_ASSERT(index < HF_HIST_COUNTS_SIZE);
	int32_t bucket = (int32_t)(index >> HF_HIST_SUB_BUCKETS_HALF_MAGNITUDE) - 1;
	uint32_t sub_bucket = (index & (HF_HIST_SUB_BUCKETS_HALF - 1u)) + HF_HIST_SUB_BUCKETS_HALF;
	if (bucket < 0) {
		/* The first 128 indexes are the values 0..127, one per index. */
		sub_bucket -= HF_HIST_SUB_BUCKETS_HALF;
		bucket = 0;
	}
	*bucket_out = (uint32_t)bucket;
	*sub_bucket_out = sub_bucket;
}

uint64_t hf_hist_index_value_low(uint32_t index)
{
	uint32_t bucket, sub_bucket;
	index_split(index, &bucket, &sub_bucket);
	return (uint64_t)sub_bucket << bucket;
}

uint64_t hf_hist_index_value_high(uint32_t index)
{
	uint32_t bucket, sub_bucket;
	index_split(index, &bucket, &sub_bucket);
	return ((uint64_t)sub_bucket << bucket) + ((uint64_t)1 << bucket) - 1u;
}

void hf_hist_record(struct hf_hist *hist, uint64_t value_ns)
{
	if (value_ns == 0)
		value_ns = 1;
	if (value_ns > HF_HIST_VALUE_MAX_NS) {
		hist->saturated_count++;
		value_ns = HF_HIST_VALUE_MAX_NS;
	}
	hist->counts[hf_hist_index_of(value_ns)]++;
	hist->total_count++;
	if (value_ns < hist->value_min_ns)
		hist->value_min_ns = value_ns;
	if (value_ns > hist->value_max_ns)
		hist->value_max_ns = value_ns;
}

void hf_hist_merge(struct hf_hist *dst, const struct hf_hist *src)
{
	HF_ASSERT(dst != src);
	for (uint32_t i = 0; i < HF_HIST_COUNTS_SIZE; i++)
		dst->counts[i] += src->counts[i];
	dst->total_count += src->total_count;
	dst->saturated_count += src->saturated_count;
	if (src->value_min_ns < dst->value_min_ns)
		dst->value_min_ns = src->value_min_ns;
	if (src->value_max_ns > dst->value_max_ns)
		dst->value_max_ns = src->value_max_ns;
}

uint64_t hf_hist_percentile(const struct hf_hist *hist, double p)
{
	HF_ASSERT(p > 0.0 && p <= 100.0);
	if (hist->total_count == 0)
		return 0;
	/* Nearest rank: the smallest sample with at least p% of the samples at or below it. */
	/* The relative slack keeps p = 99.9 of 200000 at rank 199800, not 199801, whatever the
	 * rounding of p / 100. */
	double exact_rank = p / 100.0 * (double)hist->total_count;
	uint64_t rank = (uint64_t)ceil(exact_rank - exact_rank * 1e-12);
	if (rank < 1)
		rank = 1;
	if (rank > hist->total_count)
		rank = hist->total_count;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HF_HIST_COUNTS_SIZE; i++) {
		seen += hist->counts[i];
		if (seen >= rank) {
			uint64_t v = hf_hist_index_value_high(i);
			if (v > hist->value_max_ns)
				v = hist->value_max_ns;
			if (v < hist->value_min_ns)
				v = hist->value_min_ns;
			return v;
		}
	}
	HF_PANIC("histogram counts (%llu) below total_count", (unsigned long long)seen);
}

double hf_hist_mean(const struct hf_hist *hist)
{
	if (hist->total_count == 0)
		return 0.0;
	double sum = 0.0;
	for (uint32_t i = 0; i < HF_HIST_COUNTS_SIZE; i++) {
		if (hist->counts[i] == 0)
			continue;
		double mid =
		    ((double)hf_hist_index_value_low(i) + (double)hf_hist_index_value_high(i)) /
		    2.0;
		sum += mid * (double)hist->counts[i];
	}
	return sum / (double)hist->total_count;
}
