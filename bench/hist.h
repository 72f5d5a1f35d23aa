/* A log-linear latency histogram (HdrHistogram's layout), fixed size, mergeable.
 *
 * holdfast-bench records every request's latency here, one histogram per operation per worker
 * thread, and merges them at the end. Values are nanoseconds from 1 to HF_HIST_VALUE_MAX_NS (60 s);
 * larger values are clamped to the maximum and counted in `saturated_count`. Buckets double in
 * width; each bucket has HF_HIST_SUB_BUCKETS_HALF linear sub-buckets, so a reported value is within
 * 1/128 (< 1%) of the true one: two significant decimal digits or better.
 *
 * INVARIANTS
 * 1. total_count == sum(counts[]).
 * 2. When total_count > 0: value_min_ns <= every recorded value <= value_max_ns.
 * 3. A percentile is the highest value equivalent (same sub-bucket) to the nearest-rank sample,
 *    clamped to value_max_ns: never below the true sample, at most 1/128 above it.
 *
 * Memory: struct hf_hist is about 30 KiB, no allocation. Thread-safety: none; one owner at a time.
 */
#ifndef HF_BENCH_HIST_H
#define HF_BENCH_HIST_H

#include <stdint.h>

#define HF_HIST_VALUE_MAX_NS		   60000000000ull /* 60 s */
#define HF_HIST_SUB_BUCKETS_HALF_MAGNITUDE 7u
#define HF_HIST_SUB_BUCKETS_HALF	   (1u << HF_HIST_SUB_BUCKETS_HALF_MAGNITUDE) /* 128 */
#define HF_HIST_SUB_BUCKETS		   (2u * HF_HIST_SUB_BUCKETS_HALF)	      /* 256 */
/* Buckets needed so that 256 << (buckets - 1) > 60e9: 2^36 > 6e10, so 29 buckets. */
#define HF_HIST_BUCKETS	    29u
#define HF_HIST_COUNTS_SIZE ((HF_HIST_BUCKETS + 1u) * HF_HIST_SUB_BUCKETS_HALF)

struct hf_hist {
	uint64_t total_count;
	uint64_t saturated_count; /* values above HF_HIST_VALUE_MAX_NS, recorded as the max */
	uint64_t value_min_ns;	  /* UINT64_MAX when empty */
	uint64_t value_max_ns;	  /* 0 when empty */
	uint64_t counts[HF_HIST_COUNTS_SIZE];
};

void hf_hist_init(struct hf_hist *hist);
void hf_hist_reset(struct hf_hist *hist);
/* Records one value (0 counts as 1 ns). */
void hf_hist_record(struct hf_hist *hist, uint64_t value_ns);
/* Adds every count of src into dst. */
void hf_hist_merge(struct hf_hist *dst, const struct hf_hist *src);
/* The value at percentile p (0 < p <= 100) by nearest rank, see INVARIANT 3; 0 when empty. */
uint64_t hf_hist_percentile(const struct hf_hist *hist, double p);
/* Mean of the recorded values (by sub-bucket midpoints); 0 when empty. */
double hf_hist_mean(const struct hf_hist *hist);

/* Exposed for tests: the counts index of a value and the lowest and highest value of an index. */
uint32_t hf_hist_index_of(uint64_t value_ns);
uint64_t hf_hist_index_value_low(uint32_t index);
uint64_t hf_hist_index_value_high(uint32_t index);

#endif
