/* Goal: --plot's pure parts hold their bounds: the timeline keeps at most
 * HF_BENCH_TIMELINE_SAMPLES_MAX samples at no less than the minimum interval, in time order, and
 * drops the rest; a plot path must end in .svg or .png and carry nothing gnuplot's script cannot.
 * Method: feed a timeline a sample every millisecond for short and long runs and check count,
 * spacing and order; check paths: good ones, wrong suffix, quotes, newline, empty, too long. */
#include "bench/plot.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void feed(struct hf_bench_timeline *tl, double duration_s)
{
	hf_bench_timeline_init(tl, duration_s);
	uint64_t end_ns = (uint64_t)(duration_s * 1e9) * 2; /* runs past its duration */
	for (uint64_t t = 1000000; t <= end_ns; t += 1000000) {
		struct hf_bench_sample s = {.t_ns = t, .done = t / 1000, .holds_ok = t / 2000};
		hf_bench_timeline_add(tl, &s);
	}
}

static void test_timeline_bounds(void **state)
{
	(void)state;
	struct hf_bench_timeline *tl = malloc(sizeof(*tl));
	/* Short: one sample per minimum interval. */
	feed(tl, 1.0);
	assert_int_equal(tl->interval_ns, HF_BENCH_TIMELINE_INTERVAL_NS_MIN);
	assert_in_range(tl->count, 190, 201);
	for (uint32_t i = 1; i < tl->count; i++)
		assert_true(tl->samples[i].t_ns - tl->samples[i - 1].t_ns >=
			    HF_BENCH_TIMELINE_INTERVAL_NS_MIN);
	/* Long: the interval grows so that the run fits; past the end the samples stop. */
	feed(tl, 3600.0);
	assert_true(tl->interval_ns > HF_BENCH_TIMELINE_INTERVAL_NS_MIN);
	assert_int_equal(tl->count, HF_BENCH_TIMELINE_SAMPLES_MAX);
	for (uint32_t i = 1; i < tl->count; i++)
		assert_true(tl->samples[i].t_ns > tl->samples[i - 1].t_ns);
	free(tl);
}

static void test_plot_path(void **state)
{
	(void)state;
	assert_int_equal(hf_bench_plot_path_check("run.svg"), 0);
	assert_int_equal(hf_bench_plot_path_check("/tmp/a b/run.png"), 0);
	assert_int_equal(hf_bench_plot_path_check("run.jpg"), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check("svg"), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check(".svg"), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check(""), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check("it's.svg"), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check("a\"b.png"), -EINVAL);
	assert_int_equal(hf_bench_plot_path_check("a\nb.png"), -EINVAL);
	char *long_path = malloc(HF_BENCH_PLOT_PATH_SIZE_MAX + 8);
	memset(long_path, 'a', HF_BENCH_PLOT_PATH_SIZE_MAX + 4);
	strcpy(long_path + HF_BENCH_PLOT_PATH_SIZE_MAX - 4, ".svg");
	assert_int_equal(hf_bench_plot_path_check(long_path), 0); /* exactly the maximum */
	memset(long_path, 'a', HF_BENCH_PLOT_PATH_SIZE_MAX + 4);
	strcpy(long_path + HF_BENCH_PLOT_PATH_SIZE_MAX - 3, ".svg");
	assert_int_equal(hf_bench_plot_path_check(long_path), -EINVAL);
	free(long_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timeline_bounds),
	    cmocka_unit_test(test_plot_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
