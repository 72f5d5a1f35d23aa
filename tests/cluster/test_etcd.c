/* Goal: the etcd client does what etcd.h says against a real etcd: range (one key and a prefix),
 * put, delete, txn with each compare target (then and else branches), leases (grant, keepalive,
 * revoke, expiry of what they hold), watch (events, resume, timeout, cancel), and clear errors for
 * bad input, oversized values and an unreachable endpoint.
 * Method: one private etcd on free loopback ports for the whole program (etcd_proc.c), a fresh key
 * prefix per test; base64 is also checked on its own against RFC 4648's vectors and bad input. */
#include "cluster/etcd.h"
#include "tests/cluster/etcd_proc.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static struct etcd_proc ep;

static struct hf_etcd *client(uint32_t timeout_ms)
{
	char err[256];
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, timeout_ms, &e, err, sizeof(err)), 0);
	return e;
}

static int group_setup(void **state)
{
	(void)state;
	return etcd_start(&ep) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_stop(&ep);
	return 0;
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",		"Zg==",	    "Zm8=",    "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		uint8_t back[16];
		size_t n = hf_etcd_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out,
						 sizeof(out));
		assert_string_equal(out, coded[i]);
		assert_int_equal(n, strlen(coded[i]));
		long m = hf_etcd_base64_decode(out, n, back, sizeof(back));
		assert_int_equal(m, (long)strlen(plain[i]));
		assert_memory_equal(back, plain[i], (size_t)m);
	}
	uint8_t b[8];
	assert_int_equal(hf_etcd_base64_decode("Zg=", 3, b, sizeof(b)), -1);
	assert_int_equal(hf_etcd_base64_decode("Z===", 4, b, sizeof(b)), -1);
	assert_int_equal(hf_etcd_base64_decode("Zg==Zg==", 8, b, sizeof(b)), -1);
	assert_int_equal(hf_etcd_base64_decode("Zm9*", 4, b, sizeof(b)), -1);
	assert_int_equal(hf_etcd_base64_decode("Zm9vYmFy", 8, b, 5), -1);
	char small[4];
	assert_int_equal(hf_etcd_base64_encode((const uint8_t *)"foo", 3, small, sizeof(small)), 0);
}

static void test_create_bad_urls(void **state)
{
	(void)state;
	static const char *const bad[] = {"",
					  "127.0.0.1:2379",
					  "http://",
					  "https://x:1",
					  "http://a:1,",
					  "http://a:1,,http://b:2"};
	for (size_t i = 0; i < 6; i++) {
		char err[256] = "";
		struct hf_etcd *e = NULL;
		assert_int_equal(hf_etcd_create(bad[i], 0, &e, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	char many[2048] = "";
	for (int i = 0; i < 9; i++)
		strcat(many, i == 0 ? "http://a:1" : ",http://a:1");
	char err[256];
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(many, 0, &e, err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    hf_etcd_create("http://a:1", HF_ETCD_TIMEOUT_MS_MAX + 1, &e, err, sizeof(err)),
	    -EINVAL);
}

static void test_put_get_range_delete(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	int64_t rev1 = 0, rev2 = 0;
	assert_int_equal(hf_etcd_put(e, "/t1/a", (const uint8_t *)"one", 3, 0, &rev1), 0);
	assert_int_equal(hf_etcd_put(e, "/t1/b", (const uint8_t *)"\0\xff", 2, 0, &rev2), 0);
	assert_int_equal(hf_etcd_put(e, "/t10", (const uint8_t *)"x", 1, 0, NULL), 0);
	assert_true(rev2 > rev1);

	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_get(e, "/t1/a", &kvs), 0);
	assert_int_equal(kvs.count, 1);
	assert_string_equal(kvs.kvs[0].key, "/t1/a");
	assert_int_equal(kvs.kvs[0].value_size, 3);
	assert_memory_equal(kvs.kvs[0].value, "one", 3);
	assert_int_equal(kvs.kvs[0].mod_revision, rev1);
	assert_int_equal(kvs.kvs[0].version, 1);
	hf_etcd_kvs_free(&kvs);

	/* The prefix "/t1/" must not catch "/t10". */
	assert_int_equal(hf_etcd_range(e, "/t1/", 1, &kvs), 0);
	assert_int_equal(kvs.count, 2);
	assert_string_equal(kvs.kvs[1].key, "/t1/b");
	assert_int_equal(kvs.kvs[1].value_size, 2);
	assert_memory_equal(kvs.kvs[1].value, "\0\xff", 2);
	assert_true(kvs.revision >= rev2);
	hf_etcd_kvs_free(&kvs);

	assert_int_equal(hf_etcd_get(e, "/t1/missing", &kvs), -ENOENT);
	assert_true(strstr(hf_etcd_error(e), "/t1/missing") != NULL);
	hf_etcd_kvs_free(&kvs);

	uint64_t deleted = 0;
	assert_int_equal(hf_etcd_delete(e, "/t1/", 1, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(hf_etcd_get(e, "/t10", &kvs), 0);
	hf_etcd_kvs_free(&kvs);
	assert_int_equal(hf_etcd_delete(e, "/t10", 0, &deleted), 0);
	assert_int_equal(deleted, 1);
	hf_etcd_destroy(e);
}

static void test_bounds(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	uint8_t *big = calloc(1, HF_ETCD_VALUE_SIZE_MAX + 1);
	assert_non_null(big);
	assert_int_equal(hf_etcd_put(e, "/t2/big", big, HF_ETCD_VALUE_SIZE_MAX + 1, 0, NULL),
			 -EMSGSIZE);
	/* The largest value goes through and comes back whole. */
	big[HF_ETCD_VALUE_SIZE_MAX - 1] = 7;
	assert_int_equal(hf_etcd_put(e, "/t2/big", big, HF_ETCD_VALUE_SIZE_MAX, 0, NULL), 0);
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_get(e, "/t2/big", &kvs), 0);
	assert_int_equal(kvs.kvs[0].value_size, HF_ETCD_VALUE_SIZE_MAX);
	assert_int_equal(kvs.kvs[0].value[HF_ETCD_VALUE_SIZE_MAX - 1], 7);
	hf_etcd_kvs_free(&kvs);
	free(big);

	char key[HF_ETCD_KEY_SIZE_MAX + 2];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(hf_etcd_put(e, key, (const uint8_t *)"v", 1, 0, NULL), -EINVAL);
	assert_int_equal(hf_etcd_range(e, "", 0, &kvs), -EINVAL);
	hf_etcd_destroy(e);
}

static void test_txn(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	struct hf_etcd_txn txn;
	int ok = -1;
	int64_t rev = 0;

	/* Create only if absent: the first succeeds, the second takes the else branch. */
	memset(&txn, 0, sizeof(txn));
	txn.cmps[0] = (struct hf_etcd_cmp){
	    .key = "/t3/k", .target = HF_ETCD_CMP_CREATE, .result = HF_ETCD_EQUAL, .number = 0};
	txn.cmps_count = 1;
	txn.then[0] = (struct hf_etcd_op){.kind = HF_ETCD_OP_PUT,
					  .key = "/t3/k",
					  .value = (const uint8_t *)"v1",
					  .value_size = 2};
	txn.then_count = 1;
	txn.otherwise[0] = (struct hf_etcd_op){.kind = HF_ETCD_OP_PUT,
					       .key = "/t3/lost",
					       .value = (const uint8_t *)"x",
					       .value_size = 1};
	txn.otherwise_count = 1;
	assert_int_equal(hf_etcd_txn(e, &txn, &ok, &rev), 0);
	assert_int_equal(ok, 1);
	assert_int_equal(hf_etcd_txn(e, &txn, &ok, NULL), 0);
	assert_int_equal(ok, 0);
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_get(e, "/t3/lost", &kvs), 0);
	hf_etcd_kvs_free(&kvs);

	/* Compare-and-swap on mod_revision, then on value and version. */
	memset(&txn, 0, sizeof(txn));
	txn.cmps[0] = (struct hf_etcd_cmp){
	    .key = "/t3/k", .target = HF_ETCD_CMP_MOD, .result = HF_ETCD_EQUAL, .number = rev};
	txn.cmps[1] = (struct hf_etcd_cmp){.key = "/t3/k",
					   .target = HF_ETCD_CMP_VALUE,
					   .result = HF_ETCD_EQUAL,
					   .value = (const uint8_t *)"v1",
					   .value_size = 2};
	txn.cmps[2] = (struct hf_etcd_cmp){
	    .key = "/t3/k", .target = HF_ETCD_CMP_VERSION, .result = HF_ETCD_LESS, .number = 2};
	txn.cmps_count = 3;
	txn.then[0] = (struct hf_etcd_op){.kind = HF_ETCD_OP_PUT,
					  .key = "/t3/k",
					  .value = (const uint8_t *)"v2",
					  .value_size = 2};
	txn.then[1] = (struct hf_etcd_op){.kind = HF_ETCD_OP_DELETE, .key = "/t3/lost"};
	txn.then_count = 2;
	assert_int_equal(hf_etcd_txn(e, &txn, &ok, NULL), 0);
	assert_int_equal(ok, 1);
	assert_int_equal(hf_etcd_get(e, "/t3/lost", &kvs), -ENOENT);
	hf_etcd_kvs_free(&kvs);
	/* The same swap again: the revision moved on, nothing changes. */
	assert_int_equal(hf_etcd_txn(e, &txn, &ok, NULL), 0);
	assert_int_equal(ok, 0);
	assert_int_equal(hf_etcd_get(e, "/t3/k", &kvs), 0);
	assert_memory_equal(kvs.kvs[0].value, "v2", 2);
	hf_etcd_kvs_free(&kvs);

	txn.cmps_count = HF_ETCD_TXN_COMPARES_MAX + 1;
	assert_int_equal(hf_etcd_txn(e, &txn, &ok, NULL), -EINVAL);
	hf_etcd_destroy(e);
}

static void test_lease(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	int64_t lease = 0;
	assert_int_equal(hf_etcd_lease_grant(e, 30, &lease), 0);
	assert_true(lease != 0);
	assert_int_equal(hf_etcd_put(e, "/t4/alive", (const uint8_t *)"1", 1, lease, NULL), 0);
	uint32_t ttl = 0;
	assert_int_equal(hf_etcd_lease_keepalive(e, lease, &ttl), 0);
	assert_int_equal(ttl, 30);
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_get(e, "/t4/alive", &kvs), 0);
	assert_int_equal(kvs.kvs[0].lease, lease);
	hf_etcd_kvs_free(&kvs);

	assert_int_equal(hf_etcd_lease_revoke(e, lease), 0);
	assert_int_equal(hf_etcd_get(e, "/t4/alive", &kvs), -ENOENT);
	hf_etcd_kvs_free(&kvs);
	assert_int_equal(hf_etcd_lease_keepalive(e, lease, &ttl), -ENOENT);
	assert_int_equal(hf_etcd_lease_revoke(e, lease), 0);
	assert_int_equal(hf_etcd_lease_grant(e, 0, &lease), -EINVAL);
	assert_int_equal(hf_etcd_lease_grant(e, HF_ETCD_LEASE_TTL_S_MAX + 1, &lease), -EINVAL);

	/* A lease nobody renews expires and takes its key with it (bounded wait). */
	assert_int_equal(hf_etcd_lease_grant(e, 1, &lease), 0);
	assert_int_equal(hf_etcd_put(e, "/t4/short", (const uint8_t *)"1", 1, lease, NULL), 0);
	uint64_t deadline = etcd_mono_ms() + 10000;
	int gone = 0;
	while (!gone && etcd_mono_ms() < deadline) {
		gone = hf_etcd_get(e, "/t4/short", &kvs) == -ENOENT;
		hf_etcd_kvs_free(&kvs);
		if (!gone) {
			struct hf_etcd_events ev;
			/* A short watch doubles as a bounded pause. */
			assert_int_equal(hf_etcd_watch(e, "/t4/none", 0, 1, 200, &ev), 0);
			hf_etcd_events_free(&ev);
		}
	}
	assert_true(gone);
	hf_etcd_destroy(e);
}

static void test_watch(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	int64_t rev = 0;
	assert_int_equal(hf_etcd_put(e, "/t5/a", (const uint8_t *)"1", 1, 0, &rev), 0);
	assert_int_equal(hf_etcd_put(e, "/t5/b", (const uint8_t *)"2", 1, 0, NULL), 0);
	assert_int_equal(hf_etcd_delete(e, "/t5/a", 0, NULL), 0);

	/* History from rev: the two puts and the delete, in order. */
	struct hf_etcd_events ev;
	int64_t next = rev;
	uint32_t seen = 0;
	enum hf_etcd_event_type types[3];
	for (int round = 0; round < 3 && seen < 3; round++) {
		assert_int_equal(hf_etcd_watch(e, "/t5/", 1, next, 2000, &ev), 0);
		for (uint32_t i = 0; i < ev.count && seen < 3; i++)
			types[seen++] = ev.events[i].type;
		assert_true(ev.next_revision > next);
		next = ev.next_revision;
		hf_etcd_events_free(&ev);
	}
	assert_int_equal(seen, 3);
	assert_int_equal(types[0], HF_ETCD_EVENT_PUT);
	assert_int_equal(types[2], HF_ETCD_EVENT_DELETE);

	/* Nothing new: a timeout with no events, and the resume point stays. */
	uint64_t t0 = etcd_mono_ms();
	assert_int_equal(hf_etcd_watch(e, "/t5/", 1, next, 300, &ev), 0);
	assert_int_equal(ev.count, 0);
	assert_int_equal(ev.next_revision, next);
	assert_true(etcd_mono_ms() - t0 >= 250);
	hf_etcd_events_free(&ev);
	assert_int_equal(hf_etcd_watch(e, "/t5/", 1, 0, 300, &ev), -EINVAL);
	hf_etcd_destroy(e);
}

static atomic_int cancel_flag;

static void *raise_cancel(void *arg)
{
	(void)arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
	nanosleep(&ts, NULL);
	atomic_store(&cancel_flag, 1);
	return NULL;
}

static void test_watch_cancel(void **state)
{
	(void)state;
	struct hf_etcd *e = client(0);
	hf_etcd_set_cancel(e, &cancel_flag);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, raise_cancel, NULL), 0);
	uint64_t t0 = etcd_mono_ms();
	struct hf_etcd_events ev;
	assert_int_equal(hf_etcd_watch(e, "/t6/", 1, 1000000, 20000, &ev), -ECANCELED);
	assert_true(etcd_mono_ms() - t0 < 5000);
	pthread_join(t, NULL);
	hf_etcd_destroy(e);
}

static void test_unreachable(void **state)
{
	(void)state;
	char err[256];
	char urls[160];
	uint16_t dead = etcd_free_port();
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u", (unsigned)dead);
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(urls, 500, &e, err, sizeof(err)), 0);
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_range(e, "/x", 0, &kvs), -ECONNREFUSED);
	assert_true(strstr(hf_etcd_error(e), "127.0.0.1") != NULL);
	struct hf_etcd_events ev;
	assert_int_equal(hf_etcd_watch(e, "/x", 0, 1, 300, &ev), -ECONNREFUSED);
	hf_etcd_destroy(e);

	/* A dead endpoint first, the live one second: the call goes through. */
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u,%s", (unsigned)dead, ep.url);
	assert_int_equal(hf_etcd_create(urls, 500, &e, err, sizeof(err)), 0);
	assert_int_equal(hf_etcd_put(e, "/t7/k", (const uint8_t *)"v", 1, 0, NULL), 0);
	assert_string_equal(hf_etcd_url(e), ep.url);
	hf_etcd_destroy(e);
}

int main(void)
{
	etcd_require();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_create_bad_urls),
	    cmocka_unit_test(test_put_get_range_delete),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_txn),
	    cmocka_unit_test(test_lease),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_watch_cancel),
	    cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
