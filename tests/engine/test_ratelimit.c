/* Goal: the per-user token bucket lets a burst through, then one op per 1/rate, says how long to
 * wait, refills with time, keeps users and events apart, and stays within its table.
 * Method: the pure engine/ratelimit.c driven with a hand-made clock. */
#include "engine/ratelimit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct hf_rate_limit rl;
	assert_int_equal(hf_rate_limit_init(&rl, 10, 3), 0); /* 10/s, bursts of 3 */
	uint64_t t = 1000000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(hf_rate_limit_take(&rl, 1, 7, t), 0);
	uint32_t wait = hf_rate_limit_take(&rl, 1, 7, t);
	assert_int_equal(wait, 100); /* one token per 100 ms */
	assert_true(hf_rate_limit_take(&rl, 1, 7, t + 50) > 0);
	assert_int_equal(hf_rate_limit_take(&rl, 1, 7, t + 100), 0);
	/* Others are not affected: another user, the same user on another event. */
	assert_int_equal(hf_rate_limit_take(&rl, 1, 8, t), 0);
	assert_int_equal(hf_rate_limit_take(&rl, 2, 7, t), 0);
	/* A long pause refills to the burst, not beyond. */
	t += 60000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(hf_rate_limit_take(&rl, 1, 7, t), 0);
	assert_true(hf_rate_limit_take(&rl, 1, 7, t) > 0);
	hf_rate_limit_deinit(&rl);
}

static void test_no_limit(void **state)
{
	(void)state;
	struct hf_rate_limit rl;
	assert_int_equal(hf_rate_limit_init(&rl, 0, 0), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(hf_rate_limit_take(&rl, 1, 1, 5), 0);
	hf_rate_limit_deinit(&rl);
}

/* More users than buckets: the table evicts (bounded), and an evicted user comes back with a full
 * bucket, never a wrong refusal. */
static void test_table_bounded(void **state)
{
	(void)state;
	struct hf_rate_limit rl;
	assert_int_equal(hf_rate_limit_init(&rl, 1, 1), 0);
	uint64_t users = 2u * HF_RATE_BUCKETS_COUNT;
	for (uint64_t u = 1; u <= users; u++)
		assert_int_equal(hf_rate_limit_take(&rl, 9, u, 1000 + u), 0);
	assert_true(rl.evictions >= users - HF_RATE_BUCKETS_COUNT);
	/* The latest user is still there: a second op in the same ms is refused. */
	assert_true(hf_rate_limit_take(&rl, 9, users, 1000 + users) > 0);
	hf_rate_limit_deinit(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_rate),
	    cmocka_unit_test(test_no_limit),
	    cmocka_unit_test(test_table_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
