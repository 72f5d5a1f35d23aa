/* Goal: the bench histogram reports percentiles within its stated precision (never below the true
 * nearest-rank sample, at most 1/128 above it), keeps min/max/count exact, merges like one
 * histogram fed with both inputs, clamps values past 60 s, and empties on reset. Method: feed
 * random latency-like samples (seeded; HF_TEST_SEED replays), sort a copy, and compare each
 * percentile with the exact nearest-rank value; check the index arithmetic at every bucket boundary
 * against its inverse. */
#include "bench/hist.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define SAMPLES_COUNT 200000u

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	/* Nearest rank, computed in integers: p is given with at most 2 decimals. */
	uint64_t p100 = (uint64_t)(p * 100.0 + 0.5);
	size_t rank = (size_t)((p100 * n + 9999u) / 10000u);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static void check_against_exact(const struct hf_hist *h, const uint64_t *sorted, size_t n)
{
	static const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99, 100};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t exact = exact_percentile(sorted, n, ps[i]);
		uint64_t got = hf_hist_percentile(h, ps[i]);
		if (got < exact || (double)got > (double)exact * (1.0 + 1.0 / 128.0) + 1.0)
			fail_msg("p%g: histogram %llu, exact %llu", ps[i], (unsigned long long)got,
				 (unsigned long long)exact);
	}
	assert_int_equal(hf_hist_percentile(h, 100), sorted[n - 1]);
}

static void test_index_roundtrip(void **state)
{
	(void)state;
	/* Every index maps back to a range that maps to itself; ranges tile the value axis. */
	uint64_t expect_low = 0;
	for (uint32_t i = 0; i < HF_HIST_COUNTS_SIZE; i++) {
		uint64_t lo = hf_hist_index_value_low(i), hi = hf_hist_index_value_high(i);
		assert_int_equal(lo, expect_low);
		assert_true(hi >= lo);
		if (hi <= HF_HIST_VALUE_MAX_NS)
			assert_int_equal(hf_hist_index_of(hi), i);
		if (lo <= HF_HIST_VALUE_MAX_NS)
			assert_int_equal(hf_hist_index_of(lo), i);
		/* Relative width at most 1/128 past the first linear range. */
		if (lo >= HF_HIST_SUB_BUCKETS_HALF)
			assert_true((double)(hi - lo + 1) / (double)lo <= 1.0 / 128.0 + 1e-12);
		expect_low = hi + 1;
	}
	assert_true(expect_low > HF_HIST_VALUE_MAX_NS);
}

static void test_empty_and_single(void **state)
{
	(void)state;
	struct hf_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	hf_hist_init(h);
	assert_int_equal(hf_hist_percentile(h, 50), 0);
	assert_true(hf_hist_mean(h) == 0.0);
	hf_hist_record(h, 123456);
	assert_int_equal(h->total_count, 1);
	assert_int_equal(hf_hist_percentile(h, 0.1), 123456);
	assert_int_equal(hf_hist_percentile(h, 100), 123456);
	hf_hist_record(h, 0); /* counts as 1 ns */
	assert_int_equal(h->value_min_ns, 1);
	assert_int_equal(hf_hist_percentile(h, 50), 1);
	hf_hist_reset(h);
	assert_int_equal(h->total_count, 0);
	assert_int_equal(hf_hist_percentile(h, 99), 0);
	free(h);
}

static void test_random_vs_sorted(void **state)
{
	(void)state;
	struct hf_hist *h = malloc(sizeof(*h));
	uint64_t *samples = malloc(SAMPLES_COUNT * sizeof(*samples));
	assert_non_null(h);
	assert_non_null(samples);
	hf_hist_init(h);
	/* Mostly 20-200 us, a tail to tens of ms, a few sub-128 ns values. */
	for (uint32_t i = 0; i < SAMPLES_COUNT; i++) {
		uint64_t r = rng_next();
		uint64_t v;
		if (r % 1000 == 0)
			v = 1 + rng_next() % 100000000ull;
		else if (r % 1000 == 1)
			v = rng_next() % 128;
		else
			v = 20000 + rng_next() % 180000;
		samples[i] = v == 0 ? 1 : v;
		hf_hist_record(h, v);
	}
	qsort(samples, SAMPLES_COUNT, sizeof(*samples), cmp_u64);
	assert_int_equal(h->total_count, SAMPLES_COUNT);
	assert_int_equal(h->value_min_ns, samples[0]);
	assert_int_equal(h->value_max_ns, samples[SAMPLES_COUNT - 1]);
	check_against_exact(h, samples, SAMPLES_COUNT);
	free(samples);
	free(h);
}

static void test_merge_equals_union(void **state)
{
	(void)state;
	struct hf_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)),
		       *all = malloc(sizeof(*all));
	uint64_t *samples = malloc(SAMPLES_COUNT * sizeof(*samples));
	assert_true(a && b && all && samples);
	hf_hist_init(a);
	hf_hist_init(b);
	hf_hist_init(all);
	for (uint32_t i = 0; i < SAMPLES_COUNT; i++) {
		/* Two different distributions, one per "thread". */
		uint64_t v = (i & 1) ? 1000 + rng_next() % 5000 : 100000 + rng_next() % 9000000;
		samples[i] = v;
		hf_hist_record((i & 1) ? a : b, v);
		hf_hist_record(all, v);
	}
	hf_hist_merge(a, b);
	assert_int_equal(a->total_count, all->total_count);
	assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
	assert_int_equal(a->value_min_ns, all->value_min_ns);
	assert_int_equal(a->value_max_ns, all->value_max_ns);
	qsort(samples, SAMPLES_COUNT, sizeof(*samples), cmp_u64);
	check_against_exact(a, samples, SAMPLES_COUNT);
	free(samples);
	free(all);
	free(b);
	free(a);
}

static void test_saturation(void **state)
{
	(void)state;
	struct hf_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	hf_hist_init(h);
	hf_hist_record(h, HF_HIST_VALUE_MAX_NS);
	assert_int_equal(h->saturated_count, 0);
	hf_hist_record(h, HF_HIST_VALUE_MAX_NS + 1);
	hf_hist_record(h, UINT64_MAX);
	assert_int_equal(h->saturated_count, 2);
	assert_int_equal(h->total_count, 3);
	assert_int_equal(hf_hist_percentile(h, 100), HF_HIST_VALUE_MAX_NS);
	free(h);
}

int main(void)
{
	const char *seed_env = getenv("HF_TEST_SEED");
	rng_state = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eedull ^ (uint64_t)time(NULL);
	printf("# seed %llu (HF_TEST_SEED=%llu replays)\n", (unsigned long long)rng_state,
	       (unsigned long long)rng_state);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index_roundtrip),  cmocka_unit_test(test_empty_and_single),
	    cmocka_unit_test(test_random_vs_sorted), cmocka_unit_test(test_merge_equals_union),
	    cmocka_unit_test(test_saturation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
