/* Goal: the bench's RESP codec writes commands Redis reads, and parses every reply shape our Lua
 * scripts produce, telling "incomplete" from "malformed", refusing nested arrays and lengths past
 * their bounds, and never reading past the bytes it was given.
 * Method: encode a known command and compare bytes; parse each reply whole, then every strict
 * prefix of it (must answer "need more"), then corrupted variants (must answer an error). */
#include "bench/resp.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_encode(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct hf_resp_writer w;
	hf_resp_writer_init(&w, buf, sizeof(buf));
	hf_resp_write_array(&w, 3);
	hf_resp_write_str(&w, "SET");
	hf_resp_write_str(&w, "k");
	hf_resp_write_u64(&w, 18446744073709551615ull);
	const char *want = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n18446744073709551615\r\n";
	assert_false(w.overflow);
	assert_int_equal(w.size, strlen(want));
	assert_memory_equal(buf, want, w.size);

	/* Too small: overflow is sticky and nothing past cap is written. */
	uint8_t small[8];
	hf_resp_writer_init(&w, small, sizeof(small));
	hf_resp_write_array(&w, 1);
	hf_resp_write_str(&w, "PINGPONG");
	assert_true(w.overflow);
	assert_true(w.size <= sizeof(small));
}

static void parse_all_prefixes(const char *text, int want_rc)
{
	size_t n = strlen(text);
	struct hf_resp_value v, items[16];
	size_t used = 0;
	/* Copy into an exactly sized heap buffer so ASan sees any read past it. */
	for (size_t len = 0; len < n; len++) {
		uint8_t *b = malloc(len ? len : 1);
		memcpy(b, text, len);
		int rc = hf_resp_parse(b, len, &v, items, 16, &used);
		free(b);
		if (want_rc == 1)
			assert_int_equal(rc, 0);
		else
			assert_true(rc == 0 || rc == want_rc);
	}
	uint8_t *b = malloc(n);
	memcpy(b, text, n);
	int rc = hf_resp_parse(b, n, &v, items, 16, &used);
	free(b);
	assert_int_equal(rc, want_rc);
	if (rc == 1)
		assert_int_equal(used, n);
}

static void test_scalars(void **state)
{
	(void)state;
	parse_all_prefixes("+OK\r\n", 1);
	parse_all_prefixes("-NOSCRIPT No matching script\r\n", 1);
	parse_all_prefixes(":-42\r\n", 1);
	parse_all_prefixes("$5\r\nhello\r\n", 1);
	parse_all_prefixes("$0\r\n\r\n", 1);
	parse_all_prefixes("$-1\r\n", 1);

	struct hf_resp_value v;
	size_t used;
	const char *s = ":123\r\n+next\r\n";
	assert_int_equal(hf_resp_parse((const uint8_t *)s, strlen(s), &v, NULL, 0, &used), 1);
	assert_int_equal(v.type, HF_RESP_INT);
	assert_int_equal(v.integer, 123);
	assert_int_equal(used, 6);
}

static void test_arrays(void **state)
{
	(void)state;
	/* A hold answer, an avail answer with bitmap bytes (binary, with CR LF inside), nil. */
	parse_all_prefixes("*4\r\n:0\r\n:1700000000000\r\n:17\r\n:18\r\n", 1);
	parse_all_prefixes("*4\r\n:0\r\n:100\r\n:99\r\n$3\r\n\r\n\xff\r\n", 1);
	parse_all_prefixes("*-1\r\n", 1);
	parse_all_prefixes("*0\r\n", 1);

	const char *s = "*3\r\n:0\r\n$20\r\n12345678901234567890\r\n$-1\r\n";
	struct hf_resp_value v, items[4];
	size_t used;
	assert_int_equal(hf_resp_parse((const uint8_t *)s, strlen(s), &v, items, 4, &used), 1);
	assert_int_equal(v.type, HF_RESP_ARRAY);
	assert_int_equal(v.items_count, 3);
	uint64_t x;
	assert_int_equal(hf_resp_to_u64(&items[1], &x), 0);
	assert_true(x == 12345678901234567890ull);
	assert_int_equal(items[2].type, HF_RESP_NIL);
	assert_int_equal(hf_resp_to_u64(&items[2], &x), -1);
	/* More items than the caller has room for. */
	assert_int_equal(hf_resp_parse((const uint8_t *)s, strlen(s), &v, items, 2, &used), -E2BIG);
}

static void test_malformed(void **state)
{
	(void)state;
	struct hf_resp_value v, items[4];
	size_t used;
	static const char *const bad[] = {
	    "?x\r\n",			 /* unknown type */
	    ":12a\r\n",			 /* not a number */
	    "$-2\r\n",			 /* negative length */
	    "$3\r\nabcd\r\n",		 /* body longer than said */
	    "*2\r\n*1\r\n:1\r\n:2\r\n",	 /* nested array */
	    ":\r\n",			 /* empty number */
	    ":99999999999999999999\r\n", /* overflow */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc =
		    hf_resp_parse((const uint8_t *)bad[i], strlen(bad[i]), &v, items, 4, &used);
		if (rc != -EPROTO)
			fail_msg("case %zu: rc %d", i, rc);
	}
	/* Lengths past the bounds. */
	const char *big = "$999999999\r\n";
	assert_int_equal(hf_resp_parse((const uint8_t *)big, strlen(big), &v, items, 4, &used),
			 -E2BIG);
	char line[HF_RESP_LINE_SIZE_MAX + 16];
	memset(line, '1', sizeof(line));
	line[0] = ':';
	assert_int_equal(hf_resp_parse((const uint8_t *)line, sizeof(line), &v, items, 4, &used),
			 -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_arrays),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
