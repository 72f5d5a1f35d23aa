/* Goal: a client in event-loop mode (client_loop.c) works from an application's own loop with no
 * thread and no wait of its own: the sockets and events it reports are exactly the ones it needs,
 * a socket is reported gone while it is still open, pipelined requests all complete once through
 * hf_client_on_ready, timeouts fire through the timer alone, the mode works without callbacks
 * (hf_client_fds, hf_client_next_timeout_ms), and the calls that do not belong in the mode say so.
 *
 * Method: against the fake server (tests/client/fake_server.c), drive the client with a small
 * poll(2) loop built only from what the client reported (on_fd / on_timer, or hf_client_fds /
 * hf_client_next_timeout_ms), checking after every call that the reported set equals
 * hf_client_fds. Scripted handlers drop every HOLD (timeouts) or close the connection (broken
 * sockets); a map change makes the client refresh its map through the loop. Every wait is bounded
 * by LOOP_DEADLINE_MS. */
#include "client/holdfast.h"
#include "tests/client/fake_server.h"

#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define WATCH_MAX	 16u
#define LOOP_DEADLINE_MS 10000u
#define REQUESTS_COUNT	 500u

/* What the application's loop watches: filled only from the client's callbacks. */
struct app_loop {
	struct hf_client *client;
	uint32_t watches_count;
	struct hf_client_fd watches[WATCH_MAX];
	int timer_ms;		 /* last on_timer value; -1: no timer */
	uint32_t removed_open;	 /* on_fd(fd, 0) while fd was still open */
	uint32_t removed_closed; /* on_fd(fd, 0) for an fd already closed: a bug */
	uint32_t done[REQUESTS_COUNT];
	int error[REQUESTS_COUNT];
	uint16_t status[REQUESTS_COUNT];
	uint32_t completions;
};

static void app_on_fd(void *arg, int fd, uint32_t events)
{
	struct app_loop *a = arg;
	uint32_t i = 0;
	while (i < a->watches_count && a->watches[i].fd != fd)
		i++;
	if (events == 0) {
		assert_true(i < a->watches_count); /* only what was reported is removed */
		if (fcntl(fd, F_GETFD) >= 0)
			a->removed_open++;
		else
			a->removed_closed++;
		a->watches[i] = a->watches[--a->watches_count];
		return;
	}
	if (i == a->watches_count) {
		assert_true(a->watches_count < WATCH_MAX);
		a->watches_count++;
	}
	a->watches[i] = (struct hf_client_fd){.fd = fd, .events = events};
}

static void app_on_timer(void *arg, int timeout_ms)
{
	struct app_loop *a = arg;
	a->timer_ms = timeout_ms;
}

static void app_on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	struct app_loop *a = arg;
	assert_true(tag < REQUESTS_COUNT);
	a->done[tag]++;
	a->error[tag] = error;
	a->status[tag] = rep != NULL ? rep->status : 0xffff;
	a->completions++;
}

/* The reported set equals what the client says it needs now. */
static void check_reported(const struct app_loop *a)
{
	struct hf_client_fd now[WATCH_MAX];
	uint32_t n = hf_client_fds(a->client, now, WATCH_MAX);
	assert_int_equal(n, a->watches_count);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = 0;
		while (j < a->watches_count && a->watches[j].fd != now[i].fd)
			j++;
		assert_true(j < a->watches_count);
		assert_int_equal(a->watches[j].events, now[i].events);
	}
}

/* One loop iteration from what the client reported (callbacks, or the query calls when
 * use_queries). Returns the completions delivered. */
static int app_turn(struct app_loop *a, int use_queries)
{
	struct hf_client_fd fds[WATCH_MAX];
	uint32_t n = a->watches_count;
	int timeout_ms = a->timer_ms;
	if (use_queries) {
		n = hf_client_fds(a->client, fds, WATCH_MAX);
		timeout_ms = hf_client_next_timeout_ms(a->client);
	} else {
		memcpy(fds, a->watches, sizeof(fds[0]) * n);
	}
	assert_true(n <= WATCH_MAX);
	struct pollfd pfds[WATCH_MAX];
	for (uint32_t i = 0; i < n; i++) {
		short ev = (short)(((fds[i].events & HF_CLIENT_EV_READ) ? POLLIN : 0) |
				   ((fds[i].events & HF_CLIENT_EV_WRITE) ? POLLOUT : 0));
		pfds[i] = (struct pollfd){.fd = fds[i].fd, .events = ev};
	}
	int ready = poll(pfds, n, timeout_ms < 0 ? 1000 : timeout_ms);
	assert_true(ready >= 0);
	int delivered = 0;
	if (ready == 0) {
		int rc = hf_client_on_ready(a->client, -1, 0);
		assert_true(rc >= 0);
		return rc;
	}
	for (uint32_t i = 0; i < n; i++) {
		short r = pfds[i].revents;
		if (r == 0)
			continue;
		uint32_t ev = ((r & POLLIN) ? HF_CLIENT_EV_READ : 0u) |
			      ((r & POLLOUT) ? HF_CLIENT_EV_WRITE : 0u) |
			      ((r & (POLLERR | POLLHUP)) ? HF_CLIENT_EV_ERROR : 0u);
		int rc = hf_client_on_ready(a->client, pfds[i].fd, ev);
		assert_true(rc >= 0);
		delivered += rc;
	}
	return delivered;
}

static void app_run_until(struct app_loop *a, uint32_t completions, int use_queries)
{
	uint64_t deadline = hf_clock_mono_ms() + LOOP_DEADLINE_MS;
	/* Bounded by the deadline. */
	while (a->completions < completions) {
		assert_true(hf_clock_mono_ms() < deadline);
		app_turn(a, use_queries);
		if (!use_queries)
			check_reported(a);
	}
}

static struct hf_client *open_client(struct fake_server *s, uint32_t timeout_ms,
				     uint32_t retries_max)
{
	char addr[64];
	fake_server_addr(s, 0, addr, sizeof(addr));
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = timeout_ms;
	o.retries_max = retries_max;
	struct hf_client *c;
	assert_int_equal(hf_client_open(addr, &o, &c), 0);
	return c;
}

static void attach(struct app_loop *a, struct hf_client *c, int with_callbacks)
{
	memset(a, 0, sizeof(*a));
	a->client = c;
	a->timer_ms = -2;
	struct hf_client_loop l = {.on_complete = app_on_complete, .complete_arg = a};
	if (with_callbacks) {
		l.on_fd = app_on_fd;
		l.fd_arg = a;
		l.on_timer = app_on_timer;
		l.timer_arg = a;
	}
	assert_int_equal(hf_client_loop_attach(c, &l), 0);
	if (with_callbacks)
		assert_int_equal(a->timer_ms, -1); /* the first report names the timer */
}

static void make_hold(struct hf_request *req, uint64_t event_id, uint64_t hold_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_HOLD;
	req->hold.event_id = event_id;
	req->hold.hold_id = hold_id;
	req->hold.user_id = 1;
	req->hold.ttl_ms = 1000;
	req->hold.mode = HF_HOLD_BEST;
	req->hold.seats_count = 1;
}

static void null_on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	(void)arg;
	(void)tag;
	(void)error;
	(void)rep;
}

static void test_loop_pipelined(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client(s, 2000, 3);
	static struct app_loop a;
	attach(&a, c, 1);
	check_reported(&a);
	struct hf_request req;
	for (uint32_t i = 0; i < REQUESTS_COUNT; i++) {
		make_hold(&req, 1 + i % 37, 1000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
		check_reported(&a); /* each submit asks for WRITE (or a connect) at once */
	}
	assert_true(a.watches_count >= 1);
	app_run_until(&a, REQUESTS_COUNT, 0);
	for (uint32_t i = 0; i < REQUESTS_COUNT; i++) {
		assert_int_equal(a.done[i], 1);
		assert_int_equal(a.error[i], 0);
		assert_int_equal(a.status[i], HF_OK);
	}
	/* Idle: every socket only waits for reading, and no timer is needed. */
	for (uint32_t i = 0; i < a.watches_count; i++)
		assert_int_equal(a.watches[i].events, HF_CLIENT_EV_READ);
	assert_int_equal(a.timer_ms, -1);
	assert_int_equal(hf_client_next_timeout_ms(c), -1);

	/* The calls that do not belong in the mode. */
	assert_int_equal(hf_client_poll(c, 0, null_on_complete, NULL), -EBUSY);
	struct hf_client_loop again = {.on_complete = app_on_complete, .complete_arg = &a};
	assert_int_equal(hf_client_loop_attach(c, &again), -EINVAL);
	assert_int_equal(hf_client_loop_attach(c, NULL), -EINVAL);

	/* Detach: every watch is dropped (while still open) and the timer stopped. */
	uint32_t watched = a.watches_count;
	assert_int_equal(hf_client_loop_detach(c), 0);
	assert_int_equal(a.watches_count, 0);
	assert_int_equal(a.removed_open, watched);
	assert_int_equal(a.removed_closed, 0);
	assert_int_equal(hf_client_on_ready(c, -1, 0), -EINVAL);
	assert_int_equal(hf_client_poll(c, 0, null_on_complete, NULL), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static enum fake_action handler_drop_holds(struct fake_server *s, void *arg, uint32_t shard,
					   const struct hf_request *req, uint32_t seen,
					   struct hf_reply *rep)
{
	if (req->opcode == HF_OP_HOLD)
		return FAKE_DROP;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_loop_timeout_by_timer(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(1, handler_drop_holds, NULL);
	struct hf_client *c = open_client(s, 100, 1);
	static struct app_loop a;
	attach(&a, c, 1);
	struct hf_request req;
	make_hold(&req, 5, 77);
	uint64_t t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_submit(c, &req, 0), 0);
	assert_true(a.timer_ms >= 0 && a.timer_ms <= 100);
	uint32_t turns = 0;
	uint64_t deadline = t0 + LOOP_DEADLINE_MS;
	/* Bounded by the deadline; the turns count shows the loop sleeps between deadlines. */
	while (a.completions == 0) {
		assert_true(hf_clock_mono_ms() < deadline);
		app_turn(&a, 0);
		check_reported(&a);
		turns++;
	}
	uint64_t elapsed = hf_clock_mono_ms() - t0;
	assert_int_equal(a.error[0], -ETIMEDOUT);
	assert_true(elapsed >= 195 && elapsed < 2000); /* 2 attempts of 100 ms */
	assert_true(turns < 50);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_HOLD), 2);
	assert_int_equal(hf_client_loop_detach(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

/* Goal: a timer that fires before the client's deadline (an event loop's millisecond rounding)
 * is armed again, so a request in flight never waits for a timer nobody set. Method: a server that
 * drops HOLDs; the timer is "fired" at once, long before the 100 ms deadline, and the client must
 * name a timer again; then the loop runs until the request times out as it should. */
static void test_loop_early_timer(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(1, handler_drop_holds, NULL);
	struct hf_client *c = open_client(s, 100, 0);
	static struct app_loop a;
	attach(&a, c, 1);
	struct hf_request req;
	make_hold(&req, 5, 78);
	assert_int_equal(hf_client_submit(c, &req, 0), 0);
	assert_true(a.timer_ms >= 0 && a.timer_ms <= 100);
	for (int i = 0; i < 3; i++) {
		a.timer_ms = -2; /* the loop's one-shot timer is spent */
		assert_true(hf_client_on_ready(c, -1, 0) >= 0);
		assert_true(a.timer_ms >= 0); /* armed again */
		assert_true(a.timer_ms <= 100);
	}
	uint64_t deadline = hf_clock_mono_ms() + LOOP_DEADLINE_MS;
	while (a.completions == 0) {
		assert_true(hf_clock_mono_ms() < deadline);
		app_turn(&a, 0);
	}
	assert_int_equal(a.error[0], -ETIMEDOUT);
	assert_int_equal(hf_client_loop_detach(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static void test_loop_queries_only(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client(s, 2000, 3);
	static struct app_loop a;
	attach(&a, c, 0);
	struct hf_request req;
	for (uint32_t i = 0; i < 100; i++) {
		make_hold(&req, 100 + i, 5000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	assert_int_equal(hf_client_next_timeout_ms(c) >= 0, 1);
	app_run_until(&a, 100, 1);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(a.status[i], HF_OK);
	assert_int_equal(hf_client_loop_detach(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static void test_loop_moved(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	fake_server_set_map(s, 1, 1); /* everything on shard 0 */
	struct hf_client *c = open_client(s, 2000, 3);
	fake_server_set_map(s, 2, 2); /* half the slots move: MOVED, a refresh, resends */
	static struct app_loop a;
	attach(&a, c, 1);
	struct hf_request req;
	for (uint32_t i = 0; i < 200; i++) {
		make_hold(&req, 1 + i, 3000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	app_run_until(&a, 200, 0);
	for (uint32_t i = 0; i < 200; i++) {
		assert_int_equal(a.done[i], 1);
		assert_int_equal(a.status[i], HF_OK);
	}
	assert_int_equal(hf_client_slot_map(c)->epoch, 2);
	/* One refresh for the new epoch, sent through the loop like any request. */
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 2);
	assert_int_equal(hf_client_loop_detach(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static enum fake_action handler_close_holds(struct fake_server *s, void *arg, uint32_t shard,
					    const struct hf_request *req, uint32_t seen,
					    struct hf_reply *rep)
{
	if (req->opcode == HF_OP_HOLD && seen == 0)
		return FAKE_CLOSE;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_loop_broken_connection(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(1, handler_close_holds, NULL);
	struct hf_client *c = open_client(s, 2000, 3);
	static struct app_loop a;
	attach(&a, c, 1);
	struct hf_request req;
	make_hold(&req, 9, 99);
	uint32_t accepts_before = fake_server_accepts(s);
	assert_int_equal(hf_client_submit(c, &req, 0), 0);
	app_run_until(&a, 1, 0);
	assert_int_equal(a.error[0], 0);
	assert_int_equal(a.status[0], HF_OK);
	/* The broken socket was reported gone while still open, and a new one replaced it. */
	assert_true(a.removed_open >= 1);
	assert_int_equal(a.removed_closed, 0);
	assert_true(fake_server_accepts(s) >= accepts_before + 2);
	assert_int_equal(hf_client_loop_detach(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_pipelined),   cmocka_unit_test(test_loop_timeout_by_timer),
	    cmocka_unit_test(test_loop_early_timer), cmocka_unit_test(test_loop_queries_only),
	    cmocka_unit_test(test_loop_moved),	     cmocka_unit_test(test_loop_broken_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
