/* Goal: libholdfast routes every request to the shard that owns its event, follows MOVED with one
 * map refresh per epoch, resends on BUSY, on a timeout and on a broken connection with the same
 * request id and the same bytes, gives up after retries_max with the right answer or -errno, bounds
 * its pipeline (-EAGAIN), and completes thousands of pipelined requests exactly once each. It fails
 * fast and honestly: a map refresh never holds a poll past its timeout, one overall deadline ends
 * a request (a hung shard, a node that is down), and a per-node circuit breaker opens after
 * repeated timeouts, fails fast during its cool-down, then probes with one request.
 *
 * Method: a fake server thread (fake_server.c) with two or three "shards" on loopback ports speaks
 * the real protocol through proto's codecs; each test scripts its answers (MOVED, BUSY, drop,
 * close) with a handler and then checks the completions the client delivered against the server's
 * log of every frame it received (shard, request id, hash of the bytes). Randomized tests print
 * their seed and take HF_SEED. */
#include "client/client_int.h"
#include "client/holdfast.h"
#include "tests/client/fake_server.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define MANY_COUNT   20000u
#define TAGS_MAX     20000u
#define LOG_COPY_MAX (64u * 1024u)

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct fake_log_entry log_copy[LOG_COPY_MAX];

/* ---- Completion bookkeeping ---- */

struct tally {
	uint32_t done[TAGS_MAX];
	int error[TAGS_MAX];
	uint16_t status[TAGS_MAX];
	uint64_t hold_id[TAGS_MAX];
	uint32_t completions;
	uint32_t bad_tags;
};

static struct tally tally;

static void tally_reset(void)
{
	memset(&tally, 0, sizeof(tally));
}

static void tally_on_complete(void *arg, uint64_t tag, int error,
			      const struct hf_client_reply *reply)
{
	(void)arg;
	if (tag >= TAGS_MAX) {
		tally.bad_tags++;
		return;
	}
	tally.done[tag]++;
	tally.error[tag] = error;
	tally.completions++;
	if (reply != NULL) {
		tally.status[tag] = reply->status;
		if (reply->opcode == HF_OP_HOLD && reply->status == HF_OK)
			tally.hold_id[tag] = reply->hold.hold_id;
	}
}

/* Polls until nothing is in flight or time_ms passed. */
static void drain(struct hf_client *c, uint32_t time_ms)
{
	uint64_t deadline = hf_clock_mono_ms() + time_ms;
	while (hf_client_in_flight(c) > 0 && hf_clock_mono_ms() < deadline) {
		int n = hf_client_poll(c, 100, tally_on_complete, NULL);
		assert_true(n >= 0);
	}
	assert_int_equal(hf_client_in_flight(c), 0);
}

static void make_hold(struct hf_request *req, uint64_t event_id, uint64_t hold_id)
{
	memset(req, 0, offsetof(struct hf_request, hold) + sizeof(req->hold));
	req->opcode = HF_OP_HOLD;
	req->hold.event_id = event_id;
	req->hold.hold_id = hold_id;
	req->hold.user_id = 9;
	req->hold.ttl_ms = 1000;
	req->hold.mode = HF_HOLD_EXPLICIT;
	req->hold.seats_count = 2;
	req->hold.seats[0] = (uint32_t)(hold_id % 1000);
	req->hold.seats[1] = (uint32_t)(hold_id % 1000) + 1;
}

static struct hf_client *open_client(struct fake_server *s, uint32_t shard, uint32_t timeout_ms,
				     uint32_t retries_max, uint32_t pipeline_max)
{
	char addr[64];
	fake_server_addr(s, shard, addr, sizeof(addr));
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = timeout_ms;
	o.retries_max = retries_max;
	o.pipeline_max = pipeline_max;
	o.breaker_timeouts = 0; /* these tests count timeouts; test_breaker has its own client */
	struct hf_client *c = NULL;
	int rc = hf_client_open(addr, &o, &c);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

/* ---- Addresses and open ---- */

static void test_parse_addr(void **state)
{
	(void)state;
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port;
	assert_int_equal(hf_client_parse_addr("127.0.0.1:7070", host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7070);
	assert_int_equal(hf_client_parse_addr("[::1]:1", host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 1);
	assert_int_equal(hf_client_parse_addr("localhost:65535", host, &port), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 65535);

	static const char *const bad[] = {
	    "",	       "7070",	    ":7070",	"host:",       "host:0",     "host:65536",
	    "host:-1", "host:+80",  "host:80x", "host: 80",    "::1:7070",   "[::1]7070",
	    "[]:7070", "[::1:7070", "a b:80",	"host:123456", "host:0080a",
	};
	for (size_t i = 0; i < HF_ARRAY_SIZE(bad); i++)
		assert_int_equal(hf_client_parse_addr(bad[i], host, &port), -EINVAL);
	assert_int_equal(hf_client_parse_addr(NULL, host, &port), -EINVAL);
	char long_host[HF_HOST_SIZE_MAX + 10];
	memset(long_host, 'a', HF_HOST_SIZE_MAX + 1);
	strcpy(long_host + HF_HOST_SIZE_MAX + 1, ":80");
	assert_int_equal(hf_client_parse_addr(long_host, host, &port), -EINVAL);
	strcpy(long_host + HF_HOST_SIZE_MAX, ":80");
	assert_int_equal(hf_client_parse_addr(long_host, host, &port), 0);
}

/* A loopback port nobody listens on (bound, then closed). */
static uint16_t dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct hf_client *c = NULL;
	assert_int_equal(hf_client_open("nonsense", NULL, &c), -EINVAL);
	assert_null(c);
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.pipeline_max = 0;
	assert_int_equal(hf_client_open("127.0.0.1:7070", &o, &c), -EINVAL);
	o.pipeline_max = HF_CLIENT_PIPELINE_MAX + 1;
	assert_int_equal(hf_client_open("127.0.0.1:7070", &o, &c), -EINVAL);
	hf_client_options_default(&o);
	o.timeout_ms = 0;
	assert_int_equal(hf_client_open("127.0.0.1:7070", &o, &c), -EINVAL);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", dead_port());
	assert_int_equal(hf_client_open(addr, NULL, &c), -ECONNREFUSED);
	assert_null(c);
}

static void test_map_and_ping(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client(s, 1, 1000, 3, 64);
	const struct hf_slot_map *m = hf_client_slot_map(c);
	assert_int_equal(m->epoch, 1);
	assert_int_equal(m->owners_count, 2);
	assert_int_equal(m->owners[1].port, fake_server_port(s, 1));
	assert_int_equal(m->slot_owner[3], 1);

	static struct hf_client_reply rep;
	struct hf_request req = {.opcode = HF_OP_PING};
	assert_int_equal(hf_client_call(c, &req, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(rep.ping.epoch, 1);
	assert_int_equal(hf_client_call_shard(c, 0, &req, &rep), 0);
	assert_int_equal(hf_client_call_shard(c, 2, &req, &rep), -EINVAL);
	req.opcode = HF_OP_STATS;
	assert_int_equal(hf_client_call_shard(c, 0, &req, &rep), 0);
	assert_int_equal(rep.stats.stats_count, 2);
	assert_int_equal(rep.stats.stats[0].value, 0);
	/* The public reply stays small; the variable-size bodies point into client memory. */
	assert_true(sizeof(struct hf_client_reply) < 320);
	req.opcode = HF_OP_SLOT_MAP;
	assert_int_equal(hf_client_call(c, &req, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_non_null(rep.slot_map);
	assert_int_equal(rep.slot_map->epoch, 1);
	assert_int_equal(rep.slot_map->owners_count, 2);
	assert_int_equal(rep.slot_map->slot_owner[3], 1);

	/* PING without a shard goes to the shard we opened (1); the explicit one to shard 0. */
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint32_t pings[2] = {0, 0};
	for (uint32_t i = 0; i < n; i++) {
		if (log_copy[i].opcode == HF_OP_PING)
			pings[log_copy[i].shard]++;
	}
	assert_int_equal(pings[0], 1);
	assert_int_equal(pings[1], 1);
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- Routing ---- */

static void test_routing(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(3, NULL, NULL);
	struct hf_client *c = open_client(s, 0, 1000, 3, 64);
	static struct hf_client_reply rep;
	uint32_t per_shard[3] = {0, 0, 0};
	for (uint64_t ev = 1; ev <= 300; ev++) {
		uint32_t seats[2] = {1, 2};
		assert_int_equal(hf_client_hold_seats(c, ev, 1000 + ev, 5, 1000, seats, 2, &rep),
				 0);
		assert_int_equal(rep.status, HF_OK);
		assert_int_equal(rep.hold.hold_id, 1000 + ev);
		per_shard[fake_server_owner_of(s, ev)]++;
	}
	for (uint32_t i = 0; i < 3; i++)
		assert_true(per_shard[i] > 50);
	/* Every HOLD reached its owner the first time: no MOVED, no resend. */
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint32_t holds = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (log_copy[i].opcode != HF_OP_HOLD)
			continue;
		holds++;
		assert_int_equal(log_copy[i].shard, fake_server_owner_of(s, log_copy[i].event_id));
	}
	assert_int_equal(holds, 300);
	/* The other wrappers route the same way. */
	assert_int_equal(hf_client_event_info(c, 77, &rep), 0);
	assert_int_equal(rep.event_info.event_id, 77);
	assert_int_equal(hf_client_extend(c, 77, 5, 1000, &rep), 0);
	assert_int_equal(rep.extend.deadline_ms, 2000);
	assert_int_equal(hf_client_confirm(c, 77, 5, &rep), 0);
	assert_int_equal(rep.confirm.hold_id, 5);
	assert_int_equal(hf_client_release(c, 77, 5, &rep), 0);
	assert_int_equal(hf_client_cancel(c, 77, 5, &rep), 0);
	assert_int_equal(hf_client_hold_best(c, 77, 6, 1, 1000, 4, &rep), 0);
	assert_int_equal(rep.hold.seats_count, 4);
	struct hf_req_create_event ce = {.event_id = 77, .seats_count = 10};
	assert_int_equal(hf_client_create_event(c, &ce, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	for (uint32_t i = 0; i < n; i++) {
		if (log_copy[i].event_id == 77)
			assert_int_equal(log_copy[i].shard, fake_server_owner_of(s, 77));
	}
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- MOVED ---- */

static void test_moved_refresh(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	fake_server_set_map(s, 1, 1); /* everything on shard 0 */
	struct hf_client *c = open_client(s, 0, 1000, 3, 1024);
	assert_int_equal(hf_client_slot_map(c)->epoch, 1);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 1);
	fake_server_set_map(s, 2, 2); /* half the slots move to shard 1 */

	tally_reset();
	struct hf_request req;
	for (uint32_t i = 0; i < 500; i++) {
		make_hold(&req, 1 + i, 5000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	drain(c, 10000);
	for (uint32_t i = 0; i < 500; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.error[i], 0);
		assert_int_equal(tally.status[i], HF_OK);
		assert_int_equal(tally.hold_id[i], 5000 + i);
	}
	/* One refresh for the new epoch, however many MOVED replies came back. */
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 2);
	assert_int_equal(hf_client_slot_map(c)->epoch, 2);
	/* A moved request was resent to its new owner with the same id and bytes. */
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint32_t moved = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (log_copy[i].opcode != HF_OP_HOLD || log_copy[i].shard != 1)
			continue;
		moved++;
		int found_first = 0;
		for (uint32_t j = 0; j < i; j++) {
			if (log_copy[j].request_id == log_copy[i].request_id) {
				assert_int_equal(log_copy[j].shard, 0);
				assert_int_equal(log_copy[j].frame_hash, log_copy[i].frame_hash);
				found_first = 1;
			}
		}
		assert_true(found_first);
	}
	assert_true(moved > 100);

	/* The blocking path follows MOVED back (epoch 3: all on shard 0 again). */
	fake_server_set_map(s, 3, 1);
	static struct hf_client_reply rep;
	uint64_t ev = 1;
	while (hf_slot_of(ev) % 2 == 0) /* an event our epoch-2 map sends to shard 1 */
		ev++;
	assert_int_equal(hf_client_hold_best(c, ev, 99, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(hf_client_slot_map(c)->epoch, 3);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 3);
	hf_client_close(c);
	fake_server_stop(s);
}

struct moved_script {
	uint64_t epoch; /* the epoch MOVED names */
};

static enum fake_action handler_always_moved(struct fake_server *s, void *arg, uint32_t shard,
					     const struct hf_request *req, uint32_t seen,
					     struct hf_reply *rep)
{
	struct moved_script *ms = arg;
	if (req->opcode == HF_OP_HOLD) {
		rep->status = HF_MOVED;
		rep->detail = ms->epoch;
		return FAKE_REPLY;
	}
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_moved_bounded(void **state)
{
	(void)state;
	/* A shard that keeps answering MOVED with our own epoch: no refresh, the answer after
	 * retries_max resends is MOVED. */
	struct moved_script ms = {.epoch = 1};
	struct fake_server *s = fake_server_start(2, handler_always_moved, &ms);
	struct hf_client *c = open_client(s, 0, 1000, 3, 64);
	static struct hf_client_reply rep;
	assert_int_equal(hf_client_hold_best(c, 5, 6, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_MOVED);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 1);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_HOLD), 4);

	/* A MOVED naming a newer epoch than any map served: exactly one refresh for it. */
	ms.epoch = 9;
	assert_int_equal(hf_client_hold_best(c, 5, 7, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_MOVED);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_SLOT_MAP), 2);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_HOLD), 8);
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- BUSY ---- */

struct busy_script {
	uint32_t busy_times; /* answer BUSY to the first N arrivals of each request */
	uint16_t status;     /* HF_BUSY or HF_TRY_AGAIN */
};

static enum fake_action handler_busy(struct fake_server *s, void *arg, uint32_t shard,
				     const struct hf_request *req, uint32_t seen,
				     struct hf_reply *rep)
{
	struct busy_script *bs = arg;
	if (req->opcode == HF_OP_HOLD && seen < bs->busy_times) {
		rep->status = bs->status;
		rep->detail = 0;
		return FAKE_REPLY;
	}
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static uint32_t log_count_id(uint32_t n, uint64_t request_id, uint64_t *hash_out)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (log_copy[i].request_id != request_id)
			continue;
		if (k > 0)
			assert_int_equal(log_copy[i].frame_hash, *hash_out);
		*hash_out = log_copy[i].frame_hash;
		k++;
	}
	return k;
}

static uint64_t last_hold_request_id(uint32_t n)
{
	for (uint32_t i = n; i > 0; i--) {
		if (log_copy[i - 1].opcode == HF_OP_HOLD)
			return log_copy[i - 1].request_id;
	}
	fail();
	return 0;
}

static void test_busy_retry(void **state)
{
	(void)state;
	struct busy_script bs = {.busy_times = 2, .status = HF_BUSY};
	struct fake_server *s = fake_server_start(2, handler_busy, &bs);
	struct hf_client *c = open_client(s, 0, 1000, 3, 512);
	static struct hf_client_reply rep;
	assert_int_equal(hf_client_hold_best(c, 11, 12, 1, 1000, 2, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint64_t hash = 0;
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 3);

	/* TRY_AGAIN is retried the same way. */
	bs.status = HF_TRY_AGAIN;
	assert_int_equal(hf_client_hold_best(c, 11, 13, 1, 1000, 2, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	/* A slot frozen by a move answers TRY_AGAIN for longer than the retries: with an overall
	 * deadline the client waits it out and the caller sees only the answer. */
	bs.busy_times = 20;
	assert_int_equal(hf_client_hold_best(c, 11, 15, 1, 1000, 2, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 21);
	bs.busy_times = 2;

	/* Busy for longer than the retries: the caller gets BUSY after 1 + retries_max sends. */
	bs.status = HF_BUSY;
	bs.busy_times = 100;
	assert_int_equal(hf_client_hold_best(c, 11, 14, 1, 1000, 2, &rep), 0);
	assert_int_equal(rep.status, HF_BUSY);
	n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 4);

	/* Pipelined: every request completes once, after its own BUSY answers. */
	bs.busy_times = 2;
	tally_reset();
	struct hf_request req;
	for (uint32_t i = 0; i < 300; i++) {
		make_hold(&req, 100 + i, 7000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	drain(c, 10000);
	for (uint32_t i = 0; i < 300; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.status[i], HF_OK);
	}
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- A map refresh never blocks a poll ---- */

struct slowmap_script {
	_Atomic int drop_maps; /* 1: never answer SLOT_MAP */
};

static enum fake_action handler_slowmap(struct fake_server *s, void *arg, uint32_t shard,
					const struct hf_request *req, uint32_t seen,
					struct hf_reply *rep)
{
	struct slowmap_script *ss = arg;
	if (req->opcode == HF_OP_SLOT_MAP && ss->drop_maps)
		return FAKE_DROP;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_refresh_never_blocks_poll(void **state)
{
	(void)state;
	static struct slowmap_script ss;
	ss.drop_maps = 0;
	struct fake_server *s = fake_server_start(2, handler_slowmap, &ss);
	fake_server_set_map(s, 1, 1);
	struct hf_client *c = open_client(s, 0, 300, 5, 1024);
	fake_server_set_map(s, 2, 2); /* half the slots move: MOVED, then a refresh */
	ss.drop_maps = 1;
	tally_reset();
	struct hf_request req;
	for (uint32_t i = 0; i < 100; i++) {
		make_hold(&req, 1 + i, 7000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	/* The refresh goes unanswered, yet each poll returns within its own timeout (a blocking
	 * fetch would hold it for the 300 ms attempt timeout). */
	for (uint32_t round = 0; round < 10; round++) {
		uint64_t t0 = hf_clock_mono_ms();
		assert_true(hf_client_poll(c, 20, tally_on_complete, NULL) >= 0);
		assert_true(hf_clock_mono_ms() - t0 < 150);
	}
	assert_true(hf_client_in_flight(c) > 0);
	assert_true(fake_server_count_opcode(s, HF_OP_SLOT_MAP) >= 2);
	ss.drop_maps = 0;
	drain(c, 10000);
	for (uint32_t i = 0; i < 100; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.status[i], HF_OK);
	}
	assert_int_equal(hf_client_slot_map(c)->epoch, 2);
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- Timeouts ---- */

struct drop_script {
	uint32_t drop_times; /* drop the first N arrivals of each HOLD */
};

static enum fake_action handler_drop(struct fake_server *s, void *arg, uint32_t shard,
				     const struct hf_request *req, uint32_t seen,
				     struct hf_reply *rep)
{
	struct drop_script *ds = arg;
	if (req->opcode == HF_OP_HOLD && seen < ds->drop_times)
		return FAKE_DROP;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_timeout_resend(void **state)
{
	(void)state;
	struct drop_script ds = {.drop_times = 1};
	struct fake_server *s = fake_server_start(2, handler_drop, &ds);
	struct hf_client *c = open_client(s, 0, 100, 3, 512);
	static struct hf_client_reply rep;
	uint64_t t0 = hf_clock_mono_ms();
	uint32_t seats[3] = {4, 5, 6};
	assert_int_equal(hf_client_hold_seats(c, 21, 22, 1, 1000, seats, 3, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(rep.hold.seats_count, 3);
	assert_int_equal(rep.hold.seats[2], 6);
	uint64_t elapsed = hf_clock_mono_ms() - t0;
	assert_true(elapsed >= 95 && elapsed < 1000);
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint64_t hash = 0;
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 2);

	/* Never answered: -ETIMEDOUT after 1 + retries_max attempts of 100 ms. */
	ds.drop_times = 100;
	t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_hold_seats(c, 21, 23, 1, 1000, seats, 3, &rep), -ETIMEDOUT);
	elapsed = hf_clock_mono_ms() - t0;
	assert_true(elapsed >= 395 && elapsed < 3000);
	n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 4);

	/* Pipelined, every first answer lost: all complete once after one resend each. */
	ds.drop_times = 1;
	tally_reset();
	struct hf_request req;
	for (uint32_t i = 0; i < 200; i++) {
		make_hold(&req, 300 + i, 9000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	drain(c, 10000);
	for (uint32_t i = 0; i < 200; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.status[i], HF_OK);
		assert_int_equal(tally.hold_id[i], 9000 + i);
	}
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- Broken connections ---- */

struct close_script {
	atomic_uint holds_seen;
	uint32_t close_at;    /* close the connection on the Nth HOLD arrival (once) */
	uint32_t close_every; /* or on every Nth arrival when non-zero */
};

static enum fake_action handler_close(struct fake_server *s, void *arg, uint32_t shard,
				      const struct hf_request *req, uint32_t seen,
				      struct hf_reply *rep)
{
	struct close_script *cs = arg;
	if (req->opcode == HF_OP_HOLD) {
		uint32_t k = atomic_fetch_add(&cs->holds_seen, 1) + 1;
		if (k == cs->close_at || (cs->close_every != 0 && k % cs->close_every == 0))
			return FAKE_CLOSE;
	}
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_broken_connection(void **state)
{
	(void)state;
	struct close_script cs = {.close_at = 100, .close_every = 0};
	atomic_init(&cs.holds_seen, 0);
	struct fake_server *s = fake_server_start(2, handler_close, &cs);
	struct hf_client *c = open_client(s, 0, 1000, 3, 256);
	tally_reset();
	struct hf_request req;
	uint32_t submitted = 0;
	/* Keep the pipeline full while the server breaks a connection mid-stream. */
	while (submitted < 2000 || hf_client_in_flight(c) > 0) {
		while (submitted < 2000) {
			make_hold(&req, 1 + submitted % 97, 20000 + submitted);
			int rc = hf_client_submit(c, &req, submitted);
			if (rc == -EAGAIN)
				break;
			assert_int_equal(rc, 0);
			submitted++;
		}
		assert_true(hf_client_poll(c, 1000, tally_on_complete, NULL) >= 0);
	}
	for (uint32_t i = 0; i < 2000; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.error[i], 0);
		assert_int_equal(tally.hold_id[i], 20000 + i);
	}
	/* open's map fetch, two shard connections, and at least one reconnect. */
	assert_true(fake_server_accepts(s) >= 4);

	/* A connection that keeps breaking: requests fail with an errno once retries are spent,
	 * and every one completes exactly once either way. */
	cs.close_every = 3;
	tally_reset();
	for (uint32_t i = 0; i < 200; i++) {
		make_hold(&req, 1 + i, 40000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	drain(c, 20000);
	uint32_t failed = 0;
	for (uint32_t i = 0; i < 200; i++) {
		assert_int_equal(tally.done[i], 1);
		if (tally.error[i] != 0) {
			assert_true(tally.error[i] == -ECONNRESET || tally.error[i] == -EPIPE);
			failed++;
		}
	}
	assert_true(failed < 200);
	hf_client_close(c);
	fake_server_stop(s);
}

struct proto_script {
	int garbage_first; /* answer the first arrival of each HOLD with a broken stream */
	int wrong_shape;   /* answer HOLD with a PING-shaped reply */
};

static enum fake_action handler_proto(struct fake_server *s, void *arg, uint32_t shard,
				      const struct hf_request *req, uint32_t seen,
				      struct hf_reply *rep)
{
	struct proto_script *ps = arg;
	if (req->opcode == HF_OP_HOLD && ps->garbage_first && seen == 0)
		return FAKE_GARBAGE;
	if (req->opcode == HF_OP_HOLD && ps->wrong_shape) {
		rep->opcode = HF_OP_PING;
		rep->status = HF_OK;
		rep->ping.epoch = 1;
		return FAKE_REPLY;
	}
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_protocol_errors(void **state)
{
	(void)state;
	struct proto_script ps = {.garbage_first = 1, .wrong_shape = 0};
	struct fake_server *s = fake_server_start(2, handler_proto, &ps);
	struct hf_client *c = open_client(s, 0, 1000, 3, 64);
	static struct hf_client_reply rep;
	/* A stream that cannot be trusted is closed; the request is resent on a new one. */
	assert_int_equal(hf_client_hold_best(c, 41, 42, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint64_t hash = 0;
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 2);
	/* A reply that does not answer its request: the connection is dropped (the server is
	 * confused) and the request resent on a new one; -EPROTO once the retries are spent. */
	ps.garbage_first = 0;
	ps.wrong_shape = 1;
	uint32_t accepts = fake_server_accepts(s);
	assert_int_equal(hf_client_hold_best(c, 41, 43, 1, 1000, 1, &rep), -EPROTO);
	n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	assert_int_equal(log_count_id(n, last_hold_request_id(n), &hash), 4);
	assert_int_equal(fake_server_accepts(s), accepts + 3);
	/* And the client goes on. */
	ps.wrong_shape = 0;
	assert_int_equal(hf_client_hold_best(c, 41, 44, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	hf_client_close(c);
	fake_server_stop(s);
}

static struct hf_client *open_client_deadline(struct fake_server *s, uint32_t timeout_ms,
					      uint32_t retries_max, uint32_t deadline_ms)
{
	char addr[64];
	fake_server_addr(s, 0, addr, sizeof(addr));
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = timeout_ms;
	o.retries_max = retries_max;
	o.deadline_ms = deadline_ms;
	o.breaker_timeouts = 0;
	struct hf_client *c = NULL;
	assert_int_equal(hf_client_open(addr, &o, &c), 0);
	return c;
}

static void test_server_gone(void **state)
{
	(void)state;
	/* No overall deadline: connect failures count against retries_max and end the call fast
	 * (backoffs of 10 + 20 + 40 ms between connects). */
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client_deadline(s, 500, 3, 0);
	static struct hf_client_reply rep;
	assert_int_equal(hf_client_hold_best(c, 31, 32, 1, 1000, 1, &rep), 0);
	fake_server_stop(s);
	uint64_t t0 = hf_clock_mono_ms();
	int rc = hf_client_hold_best(c, 31, 33, 1, 1000, 1, &rep);
	assert_true(rc == -ECONNREFUSED || rc == -ECONNRESET);
	assert_true(hf_clock_mono_ms() - t0 < 2000);
	hf_client_close(c);

	/* With a deadline, a node that is down (restarting) is retried for the whole deadline,
	 * then the call ends with the connect's error, not much later. */
	s = fake_server_start(2, NULL, NULL);
	c = open_client_deadline(s, 500, 3, 600);
	assert_int_equal(hf_client_hold_best(c, 31, 32, 1, 1000, 1, &rep), 0);
	fake_server_stop(s);
	t0 = hf_clock_mono_ms();
	rc = hf_client_hold_best(c, 31, 34, 1, 1000, 1, &rep);
	uint64_t elapsed = hf_clock_mono_ms() - t0;
	assert_true(rc == -ECONNREFUSED || rc == -ECONNRESET);
	assert_true(elapsed >= 590);
	assert_true(elapsed < 1500);
	hf_client_close(c);
}

static enum fake_action handler_hung(struct fake_server *s, void *arg, uint32_t shard,
				     const struct hf_request *req, uint32_t seen,
				     struct hf_reply *rep)
{
	if (req->opcode == HF_OP_HOLD)
		return FAKE_DROP;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

static void test_overall_deadline(void **state)
{
	(void)state;
	/* A hung shard: 1 + 100 attempts of 200 ms would take 20 s; the deadline ends it. */
	struct fake_server *s = fake_server_start(2, handler_hung, NULL);
	struct hf_client *c = open_client_deadline(s, 200, 100, 700);
	static struct hf_client_reply rep;
	uint64_t t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_hold_best(c, 51, 52, 1, 1000, 1, &rep), -ETIMEDOUT);
	uint64_t elapsed = hf_clock_mono_ms() - t0;
	assert_true(elapsed >= 690);
	assert_true(elapsed < 1500);
	uint32_t sent = fake_server_count_opcode(s, HF_OP_HOLD);
	assert_true(sent >= 3 && sent <= 5); /* resends every 200 ms until the deadline */

	/* Pipelined: every request ends by its own deadline, once. */
	tally_reset();
	struct hf_request req;
	t0 = hf_clock_mono_ms();
	for (uint32_t i = 0; i < 50; i++) {
		make_hold(&req, 60 + i, 8000 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	drain(c, 5000);
	assert_true(hf_clock_mono_ms() - t0 < 1500);
	for (uint32_t i = 0; i < 50; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.error[i], -ETIMEDOUT);
	}
	/* The valid setting becomes invalid past its bound. */
	struct hf_client_options o;
	hf_client_options_default(&o);
	assert_int_equal(o.deadline_ms, 5000);
	o.deadline_ms = 24u * 3600u * 1000u + 1u;
	struct hf_client *bad = NULL;
	char addr[64];
	fake_server_addr(s, 0, addr, sizeof(addr));
	assert_int_equal(hf_client_open(addr, &o, &bad), -EINVAL);
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- The circuit breaker ---- */

struct hung_script {
	_Atomic int hung; /* 1: shard 0 never answers HOLD */
};

static enum fake_action handler_hung_shard0(struct fake_server *s, void *arg, uint32_t shard,
					    const struct hf_request *req, uint32_t seen,
					    struct hf_reply *rep)
{
	struct hung_script *hs = arg;
	if (req->opcode == HF_OP_HOLD && shard == 0 && hs->hung)
		return FAKE_DROP;
	return fake_default_handler(s, arg, shard, req, seen, rep);
}

/* The first event id (from `from`) that the fake server puts on shard `shard`. */
static uint64_t event_on(struct fake_server *s, uint32_t shard, uint64_t from)
{
	uint64_t ev = from;
	/* Bounded: half the slots belong to each of the 2 shards. */
	while (fake_server_owner_of(s, ev) != shard)
		ev++;
	return ev;
}

/* Waits (bounded) until owner 0's breaker reads `state`. */
static void breaker_wait(struct hf_client *c, uint8_t state, struct hf_client_breaker *b)
{
	uint64_t deadline = hf_clock_mono_ms() + 5000;
	/* Bounded by the deadline. */
	for (;;) {
		assert_int_equal(hf_client_breaker(c, 0, b), 0);
		if (b->state == state)
			return;
		assert_true(hf_clock_mono_ms() < deadline);
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void test_breaker(void **state)
{
	(void)state;
	static struct hung_script hs;
	hs.hung = 1;
	struct fake_server *s = fake_server_start(2, handler_hung_shard0, &hs);
	char addr[64];
	fake_server_addr(s, 1, addr, sizeof(addr));
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = 100;
	o.retries_max = 100;
	o.deadline_ms = 0;
	o.breaker_timeouts = 3;
	o.breaker_cooldown_ms = 300;
	struct hf_client *c = NULL;
	assert_int_equal(hf_client_open(addr, &o, &c), 0);
	static struct hf_client_reply rep;
	struct hf_client_breaker b;
	assert_int_equal(hf_client_breaker(c, 0, &b), 0);
	assert_int_equal(b.state, HF_BREAKER_CLOSED);
	assert_int_equal(hf_client_breaker(c, 2, &b), -EINVAL);
	uint64_t ev0 = event_on(s, 0, 1);
	uint64_t ev1 = event_on(s, 1, 1);

	/* Three timeouts in a row open it: the call fails fast instead of 100 more attempts. */
	uint64_t t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_hold_best(c, ev0, 1, 1, 1000, 1, &rep), -EHOSTDOWN);
	uint64_t elapsed = hf_clock_mono_ms() - t0;
	assert_true(elapsed >= 290 && elapsed < 1000);
	assert_int_equal(hf_client_breaker(c, 0, &b), 0);
	assert_int_equal(b.state, HF_BREAKER_OPEN);
	assert_int_equal(b.trips, 1);
	assert_true(b.retry_in_ms > 0 && b.retry_in_ms <= 300);
	uint32_t holds_sent = fake_server_count_opcode(s, HF_OP_HOLD);
	t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_hold_best(c, ev0, 2, 1, 1000, 1, &rep), -EHOSTDOWN);
	assert_true(hf_clock_mono_ms() - t0 < 50);
	assert_int_equal(fake_server_count_opcode(s, HF_OP_HOLD), holds_sent);
	/* The other shard is not affected. */
	assert_int_equal(hf_client_hold_best(c, ev1, 3, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_OK);

	/* After the cool-down one probe goes; an answer closes the breaker. */
	breaker_wait(c, HF_BREAKER_HALF_OPEN, &b);
	hs.hung = 0;
	assert_int_equal(hf_client_hold_best(c, ev0, 4, 1, 1000, 1, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(hf_client_breaker(c, 0, &b), 0);
	assert_int_equal(b.state, HF_BREAKER_CLOSED);
	assert_int_equal(b.timeouts, 0);

	/* A probe that times out opens it again at once (one timeout, not three). */
	hs.hung = 1;
	assert_int_equal(hf_client_hold_best(c, ev0, 5, 1, 1000, 1, &rep), -EHOSTDOWN);
	breaker_wait(c, HF_BREAKER_HALF_OPEN, &b);
	t0 = hf_clock_mono_ms();
	assert_int_equal(hf_client_hold_best(c, ev0, 6, 1, 1000, 1, &rep), -EHOSTDOWN);
	elapsed = hf_clock_mono_ms() - t0;
	assert_true(elapsed >= 95 && elapsed < 250);
	assert_int_equal(hf_client_breaker(c, 0, &b), 0);
	assert_int_equal(b.state, HF_BREAKER_OPEN);
	assert_int_equal(b.trips, 3);
	hf_client_close(c);
	fake_server_stop(s);
}

/* ---- Bounds ---- */

static void test_pipeline_bounds(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client(s, 0, 1000, 3, 8);
	tally_reset();
	struct hf_request req;
	for (uint32_t i = 0; i < 8; i++) {
		make_hold(&req, 50, 100 + i);
		assert_int_equal(hf_client_submit(c, &req, i), 0);
	}
	assert_int_equal(hf_client_in_flight(c), 8);
	make_hold(&req, 50, 200);
	assert_int_equal(hf_client_submit(c, &req, 8), -EAGAIN);
	/* A blocking call is refused while pipelined requests are in flight. */
	static struct hf_client_reply rep;
	assert_int_equal(hf_client_event_info(c, 50, &rep), -EBUSY);
	drain(c, 5000);
	assert_int_equal(tally.completions, 8);
	assert_int_equal(tally.done[8], 0);
	assert_int_equal(hf_client_submit(c, &req, 8), 0);
	drain(c, 5000);
	assert_int_equal(tally.done[8], 1);
	hf_client_close(c);

	/* Requests that need a large frame slot: 8 in flight at most. */
	c = open_client(s, 0, 1000, 3, 64);
	static struct hf_request big;
	big.opcode = HF_OP_SEAT_STATUS;
	big.seat_status.event_id = 50;
	big.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
	for (uint32_t i = 0; i < HF_SEAT_STATUS_SEATS_MAX; i++)
		big.seat_status.seats[i] = i;
	tally_reset();
	for (uint32_t i = 0; i < HF_CLIENT_BIG_FRAMES_MAX; i++)
		assert_int_equal(hf_client_submit(c, &big, i), 0);
	assert_int_equal(hf_client_submit(c, &big, 99), -EAGAIN);
	make_hold(&req, 50, 300);
	assert_int_equal(hf_client_submit(c, &req, 20), 0);
	drain(c, 5000);
	for (uint32_t i = 0; i < HF_CLIENT_BIG_FRAMES_MAX; i++)
		assert_int_equal(tally.status[i], HF_OK);
	assert_int_equal(hf_client_seat_status(c, 50, big.seat_status.seats, 1024, &rep), 0);
	assert_int_equal(rep.seat_status.seats_count, 1024);
	assert_int_equal(rep.seat_status.seats[1023].seat, 1023);
	assert_int_equal(hf_client_seat_status(c, 50, big.seat_status.seats, 1025, &rep), -EINVAL);

	/* Requests that do not encode are refused before anything is queued. */
	make_hold(&req, 50, 400);
	req.hold.seats_count = HF_HOLD_SEATS_MAX + 1;
	assert_int_equal(hf_client_submit(c, &req, 0), -EINVAL);
	req.hold.seats_count = 1;
	req.hold.mode = 7;
	assert_int_equal(hf_client_submit(c, &req, 0), -EINVAL);
	req.opcode = 0x77;
	assert_int_equal(hf_client_submit(c, &req, 0), -EINVAL);
	assert_int_equal(hf_client_in_flight(c), 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static void test_avail_bitmap(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	struct hf_client *c = open_client(s, 0, 1000, 3, 64);
	static struct hf_client_reply rep;
	assert_int_equal(hf_client_avail(c, 60, 3, 20, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(rep.avail.first, 3);
	assert_int_equal(rep.avail.count, 20);
	assert_non_null(rep.avail.bitmap);
	for (uint32_t i = 0; i < 20; i++)
		assert_int_equal(hf_avail_bit(rep.avail.bitmap, i), (i % 2) == 0);
	/* A large range needs the grown receive buffer. */
	assert_int_equal(hf_client_avail(c, 60, 0, HF_AVAIL_RANGE_MAX, &rep), 0);
	assert_int_equal(rep.avail.count, HF_AVAIL_RANGE_MAX);
	assert_int_equal(hf_avail_bit(rep.avail.bitmap, HF_AVAIL_RANGE_MAX - 2), 1);
	assert_int_equal(hf_avail_bit(rep.avail.bitmap, HF_AVAIL_RANGE_MAX - 1), 0);
	assert_int_equal(hf_client_avail(c, 60, 0, 0, &rep), 0);
	assert_int_equal(rep.avail.count, 0);
	hf_client_close(c);
	fake_server_stop(s);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_new_id(void **state)
{
	(void)state;
	struct fake_server *s = fake_server_start(1, NULL, NULL);
	struct hf_client *a = open_client(s, 0, 1000, 3, 16);
	struct hf_client *b = open_client(s, 0, 1000, 3, 16);
	enum { IDS = 4096 };
	static uint64_t ids[2 * IDS];
	for (uint32_t i = 0; i < IDS; i++) {
		ids[i] = hf_client_new_id(a);
		ids[IDS + i] = hf_client_new_id(b);
		assert_true(ids[i] != 0 && ids[IDS + i] != 0);
	}
	qsort(ids, 2 * IDS, sizeof(ids[0]), cmp_u64);
	for (uint32_t i = 1; i < 2 * IDS; i++)
		assert_true(ids[i - 1] != ids[i]);
	hf_client_close(a);
	hf_client_close(b);
	fake_server_stop(s);
}

/* ---- Many pipelined requests ---- */

struct many_state {
	struct hf_client *c;
	uint32_t next; /* next tag to submit */
	uint64_t seed;
};

static void many_submit_next(struct many_state *ms)
{
	struct hf_request req;
	uint32_t tag = ms->next;
	uint64_t r = rng_next();
	if (r % 10 == 0) {
		req.opcode = HF_OP_PING;
		req.request_id = 0;
	} else {
		make_hold(&req, 1 + r % 100000, 1 + tag);
	}
	int rc = hf_client_submit(ms->c, &req, tag);
	if (rc == -EAGAIN)
		return;
	assert_int_equal(rc, 0);
	ms->next++;
}

static struct many_state many;

static void many_on_complete(void *arg, uint64_t tag, int error,
			     const struct hf_client_reply *reply)
{
	struct many_state *ms = arg;
	tally_on_complete(NULL, tag, error, reply);
	/* Submitting from inside the callback is allowed: keep the pipeline full. */
	if (ms->next < MANY_COUNT && rng_next() % 2 == 0)
		many_submit_next(ms);
}

static void test_many_pipelined(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)hf_clock_mono_ns();
	const char *env = getenv("HF_SEED");
	if (env != NULL)
		seed = strtoull(env, NULL, 0);
	printf("test_many_pipelined: HF_SEED=%" PRIu64 "\n", seed);
	rng_state = seed;
	struct fake_server *s = fake_server_start(2, NULL, NULL);
	many.c = open_client(s, 0, 5000, 3, 1024);
	many.next = 0;
	tally_reset();
	uint64_t t0 = hf_clock_mono_us();
	uint64_t deadline = hf_clock_mono_ms() + 60000;
	while ((many.next < MANY_COUNT || hf_client_in_flight(many.c) > 0) &&
	       hf_clock_mono_ms() < deadline) {
		uint32_t burst = (uint32_t)(rng_next() % 300);
		for (uint32_t i = 0; i < burst && many.next < MANY_COUNT; i++)
			many_submit_next(&many);
		int timeout = rng_next() % 4 == 0 ? 0 : 100;
		assert_true(hf_client_poll(many.c, timeout, many_on_complete, &many) >= 0);
	}
	uint64_t us = hf_clock_mono_us() - t0;
	assert_int_equal(tally.completions, MANY_COUNT);
	assert_int_equal(tally.bad_tags, 0);
	for (uint32_t i = 0; i < MANY_COUNT; i++) {
		assert_int_equal(tally.done[i], 1);
		assert_int_equal(tally.error[i], 0);
		assert_int_equal(tally.status[i], HF_OK);
		assert_true(tally.hold_id[i] == 0 || tally.hold_id[i] == 1 + i);
	}
	printf("test_many_pipelined: %u requests in %" PRIu64 " us\n", MANY_COUNT, us);
	/* Every request was sent once (no timeouts here): the log has exactly one frame per id. */
	uint32_t n = fake_server_log(s, log_copy, LOG_COPY_MAX);
	uint32_t requests = 0;
	for (uint32_t i = 0; i < n; i++)
		requests += log_copy[i].opcode != HF_OP_SLOT_MAP;
	assert_int_equal(requests, MANY_COUNT);
	hf_client_close(many.c);
	fake_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_map_and_ping),
	    cmocka_unit_test(test_routing),
	    cmocka_unit_test(test_moved_refresh),
	    cmocka_unit_test(test_moved_bounded),
	    cmocka_unit_test(test_busy_retry),
	    cmocka_unit_test(test_timeout_resend),
	    cmocka_unit_test(test_refresh_never_blocks_poll),
	    cmocka_unit_test(test_overall_deadline),
	    cmocka_unit_test(test_breaker),
	    cmocka_unit_test(test_broken_connection),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_server_gone),
	    cmocka_unit_test(test_pipeline_bounds),
	    cmocka_unit_test(test_avail_bitmap),
	    cmocka_unit_test(test_new_id),
	    cmocka_unit_test(test_many_pipelined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
