/* Goal: an event created with its own per-user rate (CREATE_EVENT user_rate, user_burst) limits
 * each user's HOLDs on that event and no other, wins over the server's --user-rate, survives a
 * SIGKILL and restart (it is persisted with the event), and takes part in CREATE_EVENT's
 * idempotency (same rate: OK, another rate: EVENT_EXISTS).
 * Method: real holdfastd processes and raw sockets; bursts are counted within one burst window
 * (the refill during a few local round trips stays below one token at 1 op/s). */
#include "tests/engine/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* HOLDs of one user on an event, one seat each from first_seat; returns how many were OK and
 * checks that the others were RATE_LIMITED with a wait. */
static uint32_t holds_ok(int fd, uint64_t event_id, uint64_t user_id, uint64_t hold_base,
			 uint32_t first_seat, uint32_t count, struct hf_reply *rep)
{
	struct hf_request req;
	uint32_t ok = 0;
	for (uint32_t i = 0; i < count; i++) {
		hf_req_hold(&req, 100 + i, event_id, hold_base + i, 60000, first_seat + i, 1);
		req.hold.user_id = user_id;
		uint16_t st = hf_tc_call(fd, &req, rep);
		if (st == HF_OK) {
			ok++;
			continue;
		}
		assert_int_equal(st, HF_RATE_LIMITED);
		assert_true(rep->detail >= 1);
	}
	return ok;
}

static void create_rated(int fd, uint64_t event_id, uint32_t rate, uint32_t burst, uint16_t want,
			 struct hf_reply *rep)
{
	struct hf_request req;
	hf_req_create(&req, 1, event_id, 1000);
	req.create_event.user_rate = rate;
	req.create_event.user_burst = burst;
	assert_int_equal(hf_tc_call(fd, &req, rep), want);
}

static void test_event_rate(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	/* The server's default is loose; event 3 brings a strict rate of its own. */
	struct hf_srv_opts opts = {.extra = {"--user-rate", "1000:1000"}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	create_rated(fd, 3, 1, 3, HF_OK, rep);
	create_rated(fd, 4, 0, 0, HF_OK, rep);
	/* Idempotency includes the rate. */
	create_rated(fd, 3, 1, 3, HF_OK, rep);
	create_rated(fd, 3, 2, 3, HF_EVENT_EXISTS, rep);
	create_rated(fd, 3, 0, 0, HF_EVENT_EXISTS, rep);
	/* A burst without a rate, a rate past its bound. */
	create_rated(fd, 5, 0, 3, HF_ERR_INVALID, rep);

	assert_int_equal(holds_ok(fd, 3, 42, 1000, 0, 6, rep), 3);
	/* Another user has a bucket of its own; another event has the server's rate. */
	assert_int_equal(holds_ok(fd, 3, 43, 2000, 10, 4, rep), 3);
	assert_int_equal(holds_ok(fd, 4, 42, 3000, 0, 20, rep), 20);
	close(fd);

	/* The rate is part of the event: after kill -9 it still applies (fresh buckets). */
	assert_int_equal(hf_srv_stop(&srv, SIGKILL), 128 + SIGKILL);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	assert_int_equal(holds_ok(fd, 3, 44, 4000, 20, 5, rep), 3);
	create_rated(fd, 3, 1, 3, HF_OK, rep);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

/* Without --user-rate an event's own rate still applies (the bucket table is always there). */
static void test_event_rate_without_default(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.durability = "none"};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	create_rated(fd, 7, 1, 0, HF_OK, rep); /* burst 0 = the rate: 1 */
	assert_int_equal(holds_ok(fd, 7, 1, 10, 0, 3, rep), 1);
	create_rated(fd, 8, 0, 0, HF_OK, rep);
	assert_int_equal(holds_ok(fd, 8, 1, 20, 0, 10, rep), 10);
	assert_true(hf_tc_stat_of(srv.port, "replies_rate_limited") >= 2);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_rate),
	    cmocka_unit_test(test_event_rate_without_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
