/* Goal: the shard's buffer pool hands out buffers that fit, never the same one twice, falls back to
 * a larger class when a class is empty, fails cleanly (NULL, counted) when nothing fits, and takes
 * every buffer back.
 * Method: a small pool (2 connections) exercised directly, and a randomized get/put sequence
 * against a simple reference (a list of handed-out buffers checked for overlap). */
#include "engine/pool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_classes_and_exhaustion(void **state)
{
	(void)state;
	struct hf_pool pool;
	assert_int_equal(hf_pool_init(&pool, 2, 1024u * 1024u), 0);
	/* 16K x6, 64K x4 (the minimum), 256K x4, 1M x4. */
	assert_int_equal(pool.classes_count, 4);
	assert_int_equal(pool.classes[0].count, 6);
	assert_int_equal(pool.classes[3].size, 1024u * 1024u);
	uint8_t *small[6];
	uint32_t cap;
	for (int i = 0; i < 6; i++) {
		small[i] = hf_pool_get(&pool, 100, &cap);
		assert_non_null(small[i]);
		assert_int_equal(cap, HF_POOL_BUF_SIZE_MIN);
		memset(small[i], 0xab, cap); /* writable, whole */
	}
	/* The small class is empty: the next one comes from 64K. */
	uint8_t *fallback = hf_pool_get(&pool, 100, &cap);
	assert_non_null(fallback);
	assert_int_equal(cap, 64u * 1024u);
	/* Past the largest class: refused and counted. */
	assert_null(hf_pool_get(&pool, 2u * 1024u * 1024u, &cap));
	assert_int_equal(pool.exhausted, 1);
	assert_int_equal(hf_pool_fit(&pool, 2u * 1024u * 1024u), 0);
	assert_int_equal(hf_pool_fit(&pool, 300u * 1024u), 1024u * 1024u);
	hf_pool_put(&pool, fallback, 64u * 1024u);
	for (int i = 0; i < 6; i++)
		hf_pool_put(&pool, small[i], HF_POOL_BUF_SIZE_MIN);
	assert_int_equal(pool.bytes_in_use, 0);
	hf_pool_deinit(&pool);
}

static void test_every_large_buffer_taken(void **state)
{
	(void)state;
	struct hf_pool pool;
	assert_int_equal(hf_pool_init(&pool, 1, 256u * 1024u), 0);
	uint8_t *bufs[16];
	uint32_t caps[16];
	int n = 0;
	/* Bounded: 16 tries, the pool has fewer large buffers than that. */
	while (n < 16 && (bufs[n] = hf_pool_get(&pool, 200u * 1024u, &caps[n])) != NULL)
		n++;
	assert_int_equal(n, (int)pool.classes[pool.classes_count - 1].count);
	assert_int_equal(pool.exhausted, 1);
	for (int i = 0; i < n; i++)
		hf_pool_put(&pool, bufs[i], caps[i]);
	/* After a put the class serves again. */
	assert_non_null(bufs[0] = hf_pool_get(&pool, 200u * 1024u, &caps[0]));
	hf_pool_put(&pool, bufs[0], caps[0]);
	hf_pool_deinit(&pool);
}

static void test_random_against_reference(void **state)
{
	(void)state;
	const char *env = getenv("HF_SEED");
	unsigned seed = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 12345u;
	printf("# seed %u (replay with HF_SEED=%u)\n", seed, seed);
	srand(seed);
	struct hf_pool pool;
	assert_int_equal(hf_pool_init(&pool, 4, 4u * 1024u * 1024u), 0);
	enum { LIVE_MAX = 64 };
	uint8_t *live[LIVE_MAX];
	uint32_t caps[LIVE_MAX];
	int live_count = 0;
	for (int step = 0; step < 20000; step++) {
		if (live_count < LIVE_MAX && (rand() % 2 == 0 || live_count == 0)) {
			uint64_t size = 1u + (uint64_t)rand() % (3u * 1024u * 1024u);
			uint32_t cap;
			uint8_t *p = hf_pool_get(&pool, size, &cap);
			if (p == NULL) {
				assert_int_equal(hf_pool_fit(&pool, size), 0);
				continue;
			}
			assert_true(cap >= size);
			for (int i = 0; i < live_count; i++) /* no two live buffers overlap */
				assert_true(p + cap <= live[i] || live[i] + caps[i] <= p);
			p[0] = 1;
			p[cap - 1] = 1;
			live[live_count] = p;
			caps[live_count++] = cap;
		} else {
			int i = rand() % live_count;
			hf_pool_put(&pool, live[i], caps[i]);
			live[i] = live[--live_count];
			caps[i] = caps[live_count];
		}
	}
	while (live_count > 0) {
		live_count--;
		hf_pool_put(&pool, live[live_count], caps[live_count]);
	}
	assert_int_equal(pool.bytes_in_use, 0);
	hf_pool_deinit(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classes_and_exhaustion),
	    cmocka_unit_test(test_every_large_buffer_taken),
	    cmocka_unit_test(test_random_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
