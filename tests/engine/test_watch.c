/* Goal: WATCH pushes every change of a watched event's seats, once durable, in order, with
 * consecutive sequence numbers, and nothing else; a watcher that never reads gets a GAP frame (its
 * queue dropped, the resume seq named) while buyers' holds keep succeeding; --watchers-max is an
 * explicit limit (BUSY past it, room again once a watcher's connection closes); a watching
 * connection refuses writes; watchers that close in the middle of a burst of pushes cost nothing
 * but themselves; a failed batch gives watchers a GAP.
 *
 * Method: real holdfastd processes (tests/engine/harness), raw sockets. The watcher's frames are
 * read with proto/watch.h's decoder. "Nothing else" is checked without sleeping: a PING sent on
 * the watch connection after the buyer's last reply must be the next frame after the pushes, since
 * a batch's pushes are queued before its replies leave. The random operation mix prints its seed
 * (HF_SEED replays it). */
#include "tests/engine/harness.h"

#include "base/assert.h"
#include "proto/watch.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define EVENT		 77u
#define SEATS		 400u
#define OPS_COUNT	 300u
#define EXPECTED_MAX	 (OPS_COUNT + 16u)
#define READ_TIMEOUT_MS	 10000
#define SLOW_WINDOW	 64u
#define SLOW_WINDOWS_MAX 400u
#define SLOW_SEATS	 (SLOW_WINDOW * SLOW_WINDOWS_MAX * HF_HOLD_SEATS_MAX)
#define BURST_WATCHERS	 8u
#define BURST_HOLDS	 200u

static struct hf_reply *rep;
static uint8_t *buf;

/* ---- Frames on a watch connection ---- */

static int read_full_timed(int fd, uint8_t *p, size_t size, int timeout_ms)
{
	size_t done = 0;
	uint64_t deadline = hf_mono_ms() + (uint64_t)timeout_ms;
	while (done < size) {
		uint64_t now = hf_mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = recv(fd, p + done, size - done, 0);
		if (n <= 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

/* One frame: 1 a change into *c, 0 a reply into rep; fails the test on a timeout. */
static int next_frame(int fd, struct hf_watch_change *c)
{
	assert_int_equal(read_full_timed(fd, buf, HF_FRAME_HEADER_SIZE, READ_TIMEOUT_MS), 0);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(buf, &h), HF_OK);
	assert_true(h.flags & HF_FLAG_REPLY);
	assert_int_equal(
	    read_full_timed(fd, buf + HF_FRAME_HEADER_SIZE, h.body_size, READ_TIMEOUT_MS), 0);
	if (h.opcode == HF_OP_WATCH_CHANGE) {
		assert_int_equal(hf_watch_change_decode(&h, buf + HF_FRAME_HEADER_SIZE, c), HF_OK);
		return 1;
	}
	assert_int_equal(hf_reply_decode(&h, buf + HF_FRAME_HEADER_SIZE, rep), HF_OK);
	return 0;
}

static void req_event(struct hf_request *req, uint8_t opcode, uint64_t id, uint64_t event_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = opcode;
	req->request_id = id;
	req->event_info.event_id = event_id;
}

static void req_ref(struct hf_request *req, uint8_t opcode, uint64_t id, uint64_t hold_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = opcode;
	req->request_id = id;
	req->confirm.event_id = EVENT;
	req->confirm.hold_id = hold_id;
}

/* WATCH on fd; returns the seq it starts from. */
static uint64_t watch(int fd, uint64_t event_id)
{
	struct hf_request req;
	req_event(&req, HF_OP_WATCH, 900, event_id);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	return rep->watch.seq;
}

static void create_event(int fd, uint64_t event_id, uint32_t seats)
{
	struct hf_request req;
	hf_req_create(&req, 1, event_id, seats);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
}

/* ---- Exactly the changes, in order ---- */

struct expected {
	uint8_t kind;
	uint64_t hold_id;
	uint32_t first_seat;
	uint32_t seats_count;
};

struct model_hold {
	uint64_t id;
	uint32_t first;
	uint32_t count;
	uint8_t state; /* 0 none, 1 held, 2 booked */
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One random op on the buyer's connection; appends the change it makes (if it succeeds). */
static void random_op(int fd, uint64_t *rng, struct model_hold *holds, uint32_t i,
		      struct expected *exp, uint32_t *exp_count)
{
	struct hf_request req;
	uint32_t slot = (uint32_t)(rng_next(rng) % (SEATS / 4u));
	struct model_hold *h = &holds[slot];
	uint32_t pick = (uint32_t)(rng_next(rng) % 4u);
	uint64_t id = 1000u + i;
	if (h->state == 0) {
		h->id = 10000u + i;
		h->first = slot * 4u;
		h->count = 1u + (uint32_t)(rng_next(rng) % 4u);
		hf_req_hold(&req, id, EVENT, h->id, 600000, h->first, h->count);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		h->state = 1;
		exp[(*exp_count)++] = (struct expected){HF_WATCH_HELD, h->id, h->first, h->count};
		return;
	}
	uint8_t kind;
	if (h->state == 1 && pick == 0) {
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_EXTEND;
		req.request_id = id;
		req.extend.event_id = EVENT;
		req.extend.hold_id = h->id;
		req.extend.ttl_ms = 300000;
		kind = HF_WATCH_EXTENDED;
	} else if (h->state == 1 && pick == 1) {
		req_ref(&req, HF_OP_CONFIRM, id, h->id);
		kind = HF_WATCH_BOOKED;
		h->state = 2;
	} else if (h->state == 1) {
		req_ref(&req, HF_OP_RELEASE, id, h->id);
		kind = HF_WATCH_RELEASED;
		h->state = 0;
	} else {
		req_ref(&req, HF_OP_CANCEL, id, h->id);
		kind = HF_WATCH_CANCELLED;
		h->state = 0;
	}
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	exp[(*exp_count)++] = (struct expected){kind, h->id, h->first, h->count};
}

/* Reads pushes until a PING reply; checks them against exp and returns the last seq. */
static uint64_t expect_changes(int fd, const struct expected *exp, uint32_t exp_count, uint64_t seq)
{
	struct hf_request req;
	hf_req_ping(&req, 555);
	hf_tc_send(fd, &req);
	struct hf_watch_change c;
	for (uint32_t k = 0; k < exp_count; k++) {
		assert_int_equal(next_frame(fd, &c), 1);
		assert_int_equal(c.event_id, EVENT);
		assert_int_equal(c.seq, seq + 1u);
		seq = c.seq;
		assert_int_equal(c.kind, exp[k].kind);
		assert_int_equal(c.hold_id, exp[k].hold_id);
		assert_int_equal(c.seats_count, exp[k].seats_count);
		for (uint32_t j = 0; j < c.seats_count; j++)
			assert_int_equal(c.seats[j], exp[k].first_seat + j);
		uint8_t state = c.kind == HF_WATCH_HELD || c.kind == HF_WATCH_EXTENDED
				    ? HF_SEAT_HELD
				: c.kind == HF_WATCH_BOOKED ? HF_SEAT_BOOKED
							    : HF_SEAT_FREE;
		assert_int_equal(c.state, state);
		assert_int_equal(c.deadline_ms != 0, state == HF_SEAT_HELD);
	}
	assert_int_equal(next_frame(fd, &c), 0);
	assert_int_equal(rep->opcode, HF_OP_PING);
	return seq;
}

static void test_watch_sees_exactly_the_changes(void **state)
{
	(void)state;
	uint64_t seed = getenv("HF_SEED") != NULL ? strtoull(getenv("HF_SEED"), NULL, 10)
						  : (uint64_t)hf_mono_ms() * 2654435761u;
	printf("test_watch_sees_exactly_the_changes: HF_SEED=%" PRIu64 "\n", seed);
	struct hf_srv srv;
	struct hf_srv_opts opts = {.shards = 1};
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int buyer = hf_tc_connect(srv.port);
	int watcher = hf_tc_connect(srv.port);
	create_event(buyer, EVENT, SEATS + 8u); /* the random ops use the first SEATS */
	uint64_t seq = watch(watcher, EVENT);
	assert_int_equal(seq, 0);
	static struct model_hold holds[SEATS / 4u];
	static struct expected exp[EXPECTED_MAX];
	memset(holds, 0, sizeof(holds));
	uint32_t exp_count = 0;
	uint64_t rng = seed;
	for (uint32_t i = 0; i < OPS_COUNT; i++)
		random_op(buyer, &rng, holds, i, exp, &exp_count);
	/* A refused op and a read change nothing: no push. */
	struct hf_request req;
	hf_req_hold(&req, 7, EVENT, 99999, 600000, SEATS + 8u, 1);
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_SEAT_RANGE);
	hf_req_info(&req, 8, EVENT);
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
	seq = expect_changes(watcher, exp, exp_count, seq);
	assert_int_equal(seq, exp_count);

	/* A hold that expires is pushed as expired, by the server's own clock. */
	hf_req_hold(&req, 9, EVENT, 77777, 50, SEATS, 1);
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
	struct hf_watch_change c;
	assert_int_equal(next_frame(watcher, &c), 1);
	assert_int_equal(c.kind, HF_WATCH_HELD);
	assert_int_equal(next_frame(watcher, &c), 1);
	assert_int_equal(c.kind, HF_WATCH_EXPIRED);
	assert_int_equal(c.hold_id, 77777);
	assert_int_equal(c.seq, seq + 2u);
	seq += 2u;

	/* A second watcher starts from the current seq; UNWATCH stops the first one. */
	int second = hf_tc_connect(srv.port);
	assert_int_equal(watch(second, EVENT), seq);
	req_event(&req, HF_OP_UNWATCH, 10, EVENT);
	assert_int_equal(hf_tc_call(watcher, &req, rep), HF_OK);
	hf_req_hold(&req, 11, EVENT, 88888, 600000, SEATS + 1u, 1);
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
	struct expected one = {HF_WATCH_HELD, 88888, SEATS + 1u, 1};
	(void)expect_changes(second, &one, 1, seq);
	(void)expect_changes(watcher, NULL, 0, seq);
	close(second);
	close(watcher);
	close(buyer);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
}

/* ---- A watcher that never reads ---- */

static void test_slow_watcher_gets_a_gap(void **state)
{
	(void)state;
	struct hf_srv srv;
	struct hf_srv_opts opts = {
	    .shards = 1, .durability = "wal", .extra = {"--watch-queue-max", "4096", NULL}};
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int buyer = hf_tc_connect(srv.port);
	/* A small receive window, so the kernel holds little for it. */
	int slow = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	assert_int_equal(setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(srv.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(slow, (struct sockaddr *)&sa, sizeof(sa)), 0);
	create_event(buyer, EVENT, SLOW_SEATS);
	uint64_t seq = watch(slow, EVENT);
	struct hf_request req;
	uint64_t worst_ms = 0;
	uint32_t holds = 0;
	uint32_t windows_after_gap = 0;
	/* Windows of pipelined 64-seat holds until the kernel's buffers and the watcher's queue
	 * are full and a GAP was queued, and two windows more (bounded by SLOW_WINDOWS_MAX). */
	for (uint32_t win = 0; win < SLOW_WINDOWS_MAX && windows_after_gap < 2u; win++) {
		uint64_t t0 = hf_mono_ms();
		for (uint32_t i = 0; i < SLOW_WINDOW; i++, holds++) {
			hf_req_hold(&req, 100u + holds, EVENT, 100u + holds, 600000,
				    holds * HF_HOLD_SEATS_MAX, HF_HOLD_SEATS_MAX);
			hf_tc_send(buyer, &req);
		}
		for (uint32_t i = 0; i < SLOW_WINDOW; i++) {
			assert_int_equal(hf_tc_recv(buyer, rep, buf), 0);
			assert_int_equal(rep->status, HF_OK);
		}
		uint64_t dt = hf_mono_ms() - t0;
		worst_ms = dt > worst_ms ? dt : worst_ms;
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_STATS;
		req.request_id = 5;
		assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
		if (hf_tc_stat(rep, "watch_gaps") >= 1)
			windows_after_gap++;
	}
	printf("slow watcher: %u holds in windows of %u, the slowest window took %" PRIu64 " ms\n",
	       holds, SLOW_WINDOW, worst_ms);
	assert_int_equal(windows_after_gap, 2);
	assert_true(worst_ms < 5000);
	/* Now it reads: consecutive seqs, then a GAP naming the seq of the change after it. */
	hf_req_ping(&req, 556);
	hf_tc_send(slow, &req);
	struct hf_watch_change c;
	uint32_t gaps = 0;
	uint32_t changes = 0;
	int after_gap = 0;
	uint64_t resume = 0;
	while (next_frame(slow, &c) == 1) {
		if (c.kind == HF_WATCH_GAP) {
			assert_true(c.seq > seq + 1u); /* something was dropped */
			resume = c.seq;
			after_gap = 1;
			gaps++;
			continue;
		}
		assert_int_equal(c.seq, after_gap ? resume : seq + 1u);
		after_gap = 0;
		seq = c.seq;
		changes++;
	}
	assert_int_equal(rep->opcode, HF_OP_PING);
	printf("slow watcher: %u changes seen of %u, %u gaps\n", changes, holds, gaps);
	assert_true(gaps >= 1);
	assert_true(changes < holds);
	assert_int_equal(seq, holds); /* pushes resumed after the last gap */
	close(slow);
	close(buyer);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
}

/* ---- Limits and refusals ---- */

static void test_watcher_limit_and_refusals(void **state)
{
	(void)state;
	struct hf_srv srv;
	struct hf_srv_opts opts = {.shards = 1, .extra = {"--watchers-max", "2", NULL}};
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int buyer = hf_tc_connect(srv.port);
	create_event(buyer, EVENT, 10);
	create_event(buyer, EVENT + 1u, 10);
	int w[3];
	for (int i = 0; i < 3; i++)
		w[i] = hf_tc_connect(srv.port);
	struct hf_request req;
	req_event(&req, HF_OP_WATCH, 1, 123456);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_NO_EVENT);
	req_event(&req, HF_OP_WATCH, 2, 0);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_ERR_INVALID);
	req_event(&req, HF_OP_UNWATCH, 3, EVENT);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_OK); /* not watching: nothing to do */
	(void)watch(w[0], EVENT);
	(void)watch(w[0], EVENT); /* again, the same event: OK */
	(void)watch(w[1], EVENT + 1u);
	req_event(&req, HF_OP_WATCH, 4, EVENT);
	assert_int_equal(hf_tc_call(w[2], &req, rep), HF_BUSY);
	/* A watching connection watches one event and takes no writes; reads are fine. */
	req_event(&req, HF_OP_WATCH, 5, EVENT + 1u);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_WATCHING);
	assert_int_equal(rep->detail, EVENT);
	hf_req_hold(&req, 6, EVENT, 1, 60000, 0, 1);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_WATCHING);
	hf_req_info(&req, 7, EVENT);
	assert_int_equal(hf_tc_call(w[0], &req, rep), HF_OK);
	/* A closed watcher's place comes back (its close is seen by the shard shortly). */
	close(w[1]);
	uint64_t deadline = hf_mono_ms() + 5000;
	uint16_t st = HF_BUSY;
	while (st == HF_BUSY && hf_mono_ms() < deadline) {
		req_event(&req, HF_OP_WATCH, 8, EVENT);
		st = hf_tc_call(w[2], &req, rep);
		if (st == HF_BUSY)
			hf_sleep_ms(10);
	}
	assert_int_equal(st, HF_OK);
	assert_int_equal(hf_tc_stat_of(srv.port, "watchers"), 2);
	assert_true(hf_tc_stat_of(srv.port, "watch_refused_busy") >= 1);
	close(w[0]);
	close(w[2]);
	close(buyer);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);

	/* --watchers-max 0: WATCH is always BUSY. */
	struct hf_srv none;
	struct hf_srv_opts none_opts = {
	    .shards = 1, .durability = "none", .extra = {"--watchers-max", "0", NULL}};
	hf_srv_init(&none);
	assert_int_equal(hf_srv_start(&none, &none_opts), 0);
	int fd = hf_tc_connect(none.port);
	create_event(fd, EVENT, 10);
	req_event(&req, HF_OP_WATCH, 9, EVENT);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_BUSY);
	close(fd);
	assert_int_equal(hf_srv_stop(&none, SIGTERM), 0);
	hf_srv_cleanup(&none);
}

/* ---- Watchers that go away mid-push ---- */

static void test_watchers_close_mid_push(void **state)
{
	(void)state;
	struct hf_srv srv;
	struct hf_srv_opts opts = {.shards = 1, .durability = "wal"};
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int buyer = hf_tc_connect(srv.port);
	create_event(buyer, EVENT, BURST_HOLDS);
	int w[BURST_WATCHERS];
	for (uint32_t i = 0; i < BURST_WATCHERS; i++) {
		w[i] = hf_tc_connect(srv.port);
		(void)watch(w[i], EVENT);
	}
	/* The buyer pipelines every hold; half the watchers reset their connection meanwhile. */
	struct hf_request req;
	for (uint32_t i = 0; i < BURST_HOLDS; i++) {
		hf_req_hold(&req, 100u + i, EVENT, 100u + i, 600000, i, 1);
		hf_tc_send(buyer, &req);
		if (i == BURST_HOLDS / 4u) {
			for (uint32_t k = 0; k < BURST_WATCHERS / 2u; k++) {
				struct linger lg = {.l_onoff = 1, .l_linger = 0};
				setsockopt(w[k], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				close(w[k]);
			}
		}
	}
	for (uint32_t i = 0; i < BURST_HOLDS; i++) {
		assert_int_equal(hf_tc_recv(buyer, rep, buf), 0);
		assert_int_equal(rep->status, HF_OK);
	}
	/* The others saw every change, in order. */
	for (uint32_t k = BURST_WATCHERS / 2u; k < BURST_WATCHERS; k++) {
		hf_req_ping(&req, 557);
		hf_tc_send(w[k], &req);
		struct hf_watch_change c;
		uint64_t seq = 0;
		while (next_frame(w[k], &c) == 1) {
			assert_int_equal(c.seq, seq + 1u);
			assert_int_equal(c.hold_id, 100u + seq);
			seq = c.seq;
		}
		assert_int_equal(seq, BURST_HOLDS);
		close(w[k]);
	}
	hf_req_ping(&req, 558);
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
	close(buyer);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
}

/* ---- A failed batch ---- */

static void test_failed_batch_gives_a_gap(void **state)
{
	(void)state;
	struct hf_srv srv;
	struct hf_srv_opts opts = {.shards = 1, .fail_commits = "1", .fail_commits_after = "2"};
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int buyer = hf_tc_connect(srv.port);
	int watcher = hf_tc_connect(srv.port);
	create_event(buyer, EVENT, 10); /* commit 1 */
	(void)watch(watcher, EVENT);
	struct hf_request req;
	hf_req_hold(&req, 2, EVENT, 1, 600000, 0, 1); /* commit 2 */
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_OK);
	hf_req_hold(&req, 3, EVENT, 2, 600000, 1, 1); /* commit 3 fails */
	assert_int_equal(hf_tc_call(buyer, &req, rep), HF_ERR_IO);
	struct hf_watch_change c;
	assert_int_equal(next_frame(watcher, &c), 1);
	assert_int_equal(c.kind, HF_WATCH_HELD);
	assert_int_equal(c.seq, 1);
	assert_int_equal(next_frame(watcher, &c), 1);
	assert_int_equal(c.kind, HF_WATCH_GAP);
	assert_int_equal(c.seq, 2);
	close(watcher);
	close(buyer);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
}

static int group_setup(void **state)
{
	(void)state;
	rep = hf_reply_new();
	buf = hf_frame_buf_new();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(rep);
	free(buf);
	return 0;
}

int main(void)
{
	/* The harness picks ports with rand(): another base than every other test program's. */
	srand((unsigned)getpid() ^ (unsigned)hf_mono_ms());
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_watch_sees_exactly_the_changes),
	    cmocka_unit_test(test_slow_watcher_gets_a_gap),
	    cmocka_unit_test(test_watcher_limit_and_refusals),
	    cmocka_unit_test(test_watchers_close_mid_push),
	    cmocka_unit_test(test_failed_batch_gives_a_gap),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
