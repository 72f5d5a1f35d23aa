/* Goal: libholdfast's watch API works as client/holdfast.h says: hf_client_watch_open answers the
 * server's status (NO_EVENT leaves no watch), the watch starts at the event's current seq, a
 * timeout of 0 never waits (event-loop use: poll hf_client_watch_fd, then read), changes come in
 * order with consecutive seqs and their seats, -1 waits, and a server that goes away ends the
 * watch with an error rather than a hang.
 *
 * Method: a real holdfastd with 2 shards (tests/client/server_proc), events on both shards; a
 * second client makes the changes. Every wait is bounded (poll timeouts, the server's stop). */
#include "client/holdfast.h"
#include "tests/client/server_proc.h"

#include "base/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *holdfastd_path;
static struct server_proc server;
static struct hf_client *client;

static void create(uint64_t event_id, uint32_t seats)
{
	struct hf_client_reply rep;
	struct hf_req_create_event ce = {.event_id = event_id, .seats_count = seats};
	assert_int_equal(hf_client_create_event(client, &ce, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
}

static void hold(uint64_t event_id, uint64_t hold_id, uint32_t seat)
{
	struct hf_client_reply rep;
	assert_int_equal(hf_client_hold_seats(client, event_id, hold_id, 7, 60000, &seat, 1, &rep),
			 0);
	assert_int_equal(rep.status, HF_OK);
}

static void test_open_refused(void **state)
{
	(void)state;
	struct hf_client_watch *w = (struct hf_client_watch *)&w;
	struct hf_client_reply rep;
	assert_int_equal(hf_client_watch_open(client, 987654, 2000, &w, &rep), 0);
	assert_int_equal(rep.status, HF_NO_EVENT);
	assert_null(w);
	assert_int_equal(hf_client_watch_open(client, 0, 2000, &w, &rep), -EINVAL);
	hf_client_watch_close(NULL);
}

static void test_changes_in_order(void **state)
{
	(void)state;
	/* Events on both shards: the watch goes to the owner, whichever it is. */
	for (uint64_t event_id = 601; event_id <= 602; event_id++) {
		create(event_id, 50);
		hold(event_id, 1, 0);
		struct hf_client_watch *w;
		struct hf_client_reply rep;
		assert_int_equal(hf_client_watch_open(client, event_id, 2000, &w, &rep), 0);
		assert_int_equal(rep.status, HF_OK);
		assert_non_null(w);
		uint64_t seq0 = rep.watch.seq;
		struct hf_watch_change c;
		uint64_t t0 = hf_clock_mono_ms();
		assert_int_equal(hf_client_watch_next(w, 0, &c), 0);
		assert_true(hf_clock_mono_ms() - t0 < 500);
		for (uint32_t i = 1; i <= 5; i++)
			hold(event_id, 100u + i, i);
		struct pollfd pfd = {.fd = hf_client_watch_fd(w), .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		for (uint32_t i = 1; i <= 5; i++) {
			int rc = hf_client_watch_next(w, i == 1 ? 0 : -1, &c);
			assert_int_equal(rc, 1);
			assert_int_equal(c.seq, seq0 + i);
			assert_int_equal(c.kind, HF_WATCH_HELD);
			assert_int_equal(c.hold_id, 100u + i);
			assert_int_equal(c.seats_count, 1);
			assert_int_equal(c.seats[0], i);
			assert_int_equal(c.user_id, 7);
		}
		assert_int_equal(hf_client_watch_next(w, 50, &c), 0);
		hf_client_watch_close(w);
	}
}

static void test_server_goes_away(void **state)
{
	(void)state;
	create(603, 10);
	struct hf_client_watch *w;
	struct hf_client_reply rep;
	assert_int_equal(hf_client_watch_open(client, 603, 2000, &w, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	server_stop(&server);
	struct hf_watch_change c;
	int rc = 0;
	/* Bounded: the stopped server closed the socket; a few reads see it. */
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = hf_client_watch_next(w, 100, &c);
	assert_true(rc < 0);
	hf_client_watch_close(w);
	assert_int_equal(server_start(&server, holdfastd_path, 2, "none"), 0);
}

static int group_setup(void **state)
{
	(void)state;
	if (server_start(&server, holdfastd_path, 2, "none") != 0)
		return -1;
	return hf_client_open(server.addr, NULL, &client) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	hf_client_close(client);
	server_stop(&server);
	return 0;
}

int main(int argc, char **argv)
{
	holdfastd_path = argc > 1 ? argv[1] : NULL;
	server_require(holdfastd_path);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_refused),
	    cmocka_unit_test(test_changes_in_order),
	    cmocka_unit_test(test_server_goes_away),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
