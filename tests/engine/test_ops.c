/* Goal: every opcode works end to end through a real holdfastd, whatever way the frames are cut
 * into TCP writes, and requests reach the shard that owns their event (others answer MOVED with the
 * epoch).
 * Method: start one holdfastd for the group (2 shards, temp data dir, free loopback ports), talk to
 * it with a raw blocking socket using proto's encoders: one call per opcode with its valid, invalid
 * and became-invalid case; a frame written byte by byte; 100 frames in one write; the slot map to
 * route, and a request sent to the wrong shard. Ends with a pipelining figure (ops/s over one
 * connection, printed; not asserted). */
#include "tests/engine/harness.h"

#include "shards/slotmap.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	struct hf_srv srv;
	struct hf_slot_map map;
	struct hf_reply *rep;
	uint8_t *buf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	hf_srv_init(&f->srv);
	/* Small store pools: store-check builds verify the whole store after every write. */
	struct hf_srv_opts opts = {
	    .shards = 2,
	    .extra = {"--events-max", "64", "--seats-max", "1000000", "--records-max", "16384",
		      "--hold-lifetime-max", "600"},
	};
	assert_int_equal(hf_srv_start(&f->srv, &opts), 0);
	f->rep = hf_reply_new();
	f->buf = hf_frame_buf_new();

	/* Every shard serves the same map. */
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SLOT_MAP;
	req.request_id = 1;
	for (uint32_t i = 0; i < 2; i++) {
		int fd = hf_tc_connect((uint16_t)(f->srv.port + i));
		assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
		close(fd);
		if (i == 0)
			f->map = f->rep->slot_map;
		else
			assert_true(hf_slot_map_equal(&f->map, &f->rep->slot_map));
	}
	assert_int_equal(f->map.epoch, 1);
	assert_int_equal(f->map.owners_count, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(hf_srv_stop(&f->srv, SIGTERM), 0);
	hf_srv_cleanup(&f->srv);
	free(f->rep);
	free(f->buf);
	free(f);
	return 0;
}

/* The port of the shard that owns event_id, read from the map. */
static uint16_t port_of(const struct fixture *f, uint64_t event_id)
{
	const struct hf_slot_owner *o = &f->map.owners[f->map.slot_owner[hf_slot_of(event_id)]];
	assert_string_equal(o->host, "127.0.0.1");
	return o->port;
}

static void test_every_opcode(void **state)
{
	struct fixture *f = *state;
	struct hf_reply *rep = f->rep;
	struct hf_request req;
	for (uint16_t owner = 0; owner < 2; owner++) {
		uint64_t ev = hf_event_owned_by(&f->map, owner, 1000 + owner * 7919u);
		int fd = hf_tc_connect(port_of(f, ev));

		hf_req_ping(&req, 1);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->ping.epoch, 1);

		hf_req_info(&req, 2, ev);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_NO_EVENT);

		hf_req_create(&req, 3, ev, 100);
		req.create_event.row_width = 10;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		/* Same parameters: idempotent; other parameters: refused. */
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		req.create_event.seats_count = 99;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_EVENT_EXISTS);

		hf_req_hold(&req, 4, ev, 77, 60000, 0, 3);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->hold.hold_id, 77);
		assert_int_equal(rep->hold.seats_count, 3);
		assert_true(rep->hold.deadline_ms > 0);
		/* Seat 2 is taken now. */
		hf_req_hold(&req, 5, ev, 78, 60000, 2, 2);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_SEAT_TAKEN);
		assert_int_equal(rep->detail, 2);

		/* Best available: 4 adjacent seats in one row. */
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_HOLD;
		req.request_id = 6;
		req.hold.event_id = ev;
		req.hold.hold_id = 79;
		req.hold.user_id = 9;
		req.hold.ttl_ms = 60000;
		req.hold.mode = HF_HOLD_BEST;
		req.hold.seats_count = 4;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->hold.seats_count, 4);
		assert_int_equal(rep->hold.seats[3] - rep->hold.seats[0], 3);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_EXTEND;
		req.request_id = 7;
		req.extend.event_id = ev;
		req.extend.hold_id = 77;
		req.extend.ttl_ms = 120000;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_true(rep->extend.deadline_ms > 0);
		req.extend.hold_id = 12345;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_NO_HOLD);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_CONFIRM;
		req.request_id = 8;
		req.confirm.event_id = ev;
		req.confirm.hold_id = 77;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->confirm.hold_id, 77);
		assert_int_equal(rep->confirm.seats_count, 3);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_RELEASE;
		req.request_id = 9;
		req.release.event_id = ev;
		req.release.hold_id = 79;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		req.release.hold_id = 77; /* confirmed: not releasable */
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_HOLD_CONFIRMED);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_AVAIL;
		req.request_id = 10;
		req.avail.event_id = ev;
		req.avail.first = 0;
		req.avail.count = 16;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->avail.seats_count, 100);
		assert_int_equal(rep->avail.free_count, 97);
		assert_int_equal(hf_avail_bit(rep->avail.bitmap, 0), 0);
		assert_int_equal(hf_avail_bit(rep->avail.bitmap, 3), 1);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_SEAT_STATUS;
		req.request_id = 11;
		req.seat_status.event_id = ev;
		req.seat_status.seats_count = 2;
		req.seat_status.seats[0] = 1;
		req.seat_status.seats[1] = 50;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->seat_status.seats[0].state, HF_SEAT_BOOKED);
		assert_int_equal(rep->seat_status.seats[0].owner_id, 77);
		assert_int_equal(rep->seat_status.seats[1].state, HF_SEAT_FREE);
		req.seat_status.seats[1] = 100;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_SEAT_RANGE);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_CANCEL;
		req.request_id = 12;
		req.cancel.event_id = ev;
		req.cancel.hold_id = 77;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK); /* idempotent */

		hf_req_info(&req, 13, ev);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		/* Created with 0: the server's --hold-lifetime-max. */
		assert_int_equal(rep->event_info.hold_lifetime_max_s, 600);
		assert_int_equal(rep->event_info.seats_count, 100);
		assert_int_equal(rep->event_info.free_count, 100);
		assert_int_equal(rep->event_info.bookings_count, 0);

		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_STATS;
		req.request_id = 14;
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(hf_tc_stat(rep, "shard_index"), owner);
		assert_int_equal(hf_tc_stat(rep, "shards_count"), 2);
		assert_true(hf_tc_stat(rep, "ops_hold") >= 3);
		assert_true(hf_tc_stat(rep, "commits") >= 1);
		assert_int_equal(hf_tc_stat(rep, "degraded"), 0);
		assert_true(hf_tc_stat(rep, "persist_commits") >= 1);
		assert_int_equal(hf_tc_stat(rep, "store_events"), 1);

		/* BACKUP: a checkpoint of this shard under <path>/shard-<owner>. */
		char path[512];
		snprintf(path, sizeof(path), "%s/backup", f->srv.dir);
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_BACKUP;
		req.request_id = 15;
		snprintf(req.backup.path, sizeof(req.backup.path), "%s", path);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_true(rep->backup.sequence > 0);
		char shard_dir[600];
		snprintf(shard_dir, sizeof(shard_dir), "%s/shard-%u", path, owner);
		struct stat st;
		assert_int_equal(stat(shard_dir, &st), 0);
		/* The same target twice is refused. */
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_ERR_INVALID);
		close(fd);
	}
}

static void test_frames_split_byte_by_byte(void **state)
{
	struct fixture *f = *state;
	uint64_t ev = hf_event_owned_by(&f->map, 0, 5000);
	int fd = hf_tc_connect(port_of(f, ev));
	struct hf_request req;
	uint8_t frames[512];
	size_t size = 0;
	hf_req_create(&req, 21, ev, 10);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	hf_req_hold(&req, 22, ev, 5, 60000, 0, 2);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	hf_req_ping(&req, 23);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	for (size_t i = 0; i < size; i++) {
		hf_tc_write_all(fd, frames + i, 1);
		struct timespec ts = {.tv_nsec = 200000};
		nanosleep(&ts, NULL);
	}
	uint16_t expect_status[] = {HF_OK, HF_OK, HF_OK};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
		assert_int_equal(f->rep->request_id, 21 + i);
		assert_int_equal(f->rep->status, expect_status[i]);
	}
	close(fd);
}

static void test_many_frames_in_one_write(void **state)
{
	struct fixture *f = *state;
	uint64_t ev = hf_event_owned_by(&f->map, 1, 6000);
	int fd = hf_tc_connect(port_of(f, ev));
	struct hf_request req;
	hf_req_create(&req, 1, ev, 1000);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);

	enum { FRAMES = 100 };
	uint8_t *frames = malloc(FRAMES * 64);
	assert_non_null(frames);
	size_t size = 0;
	for (uint32_t i = 0; i < FRAMES; i++) {
		if (i % 2 == 0)
			hf_req_hold(&req, 100 + i, ev, 1000 + i, 60000, i * 2, 2);
		else
			hf_req_ping(&req, 100 + i);
		size += hf_request_encode(&req, frames + size, FRAMES * 64 - size);
	}
	hf_tc_write_all(fd, frames, size);
	/* Replies come back in request order. */
	for (uint32_t i = 0; i < FRAMES; i++) {
		assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
		assert_int_equal(f->rep->request_id, 100 + i);
		assert_int_equal(f->rep->status, HF_OK);
	}
	hf_req_info(&req, 2, ev);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	assert_int_equal(f->rep->event_info.held_count, FRAMES);
	free(frames);

	/* More frames in one write than a connection may run in one loop iteration: the rest
	 * waits in its stash for the next iterations, in order. */
	enum { MANY = 5000 };
	frames = malloc(MANY * HF_FRAME_HEADER_SIZE);
	assert_non_null(frames);
	for (uint32_t i = 0; i < MANY; i++) {
		hf_req_ping(&req, 10000 + i);
		hf_request_encode(&req, frames + i * HF_FRAME_HEADER_SIZE, HF_FRAME_HEADER_SIZE);
	}
	hf_tc_write_all(fd, frames, MANY * HF_FRAME_HEADER_SIZE);
	for (uint32_t i = 0; i < MANY; i++) {
		assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
		assert_int_equal(f->rep->request_id, 10000 + i);
		assert_int_equal(f->rep->status, HF_OK);
	}
	free(frames);
	close(fd);
}

static void test_routing_moved(void **state)
{
	struct fixture *f = *state;
	for (uint16_t owner = 0; owner < 2; owner++) {
		uint64_t ev = hf_event_owned_by(&f->map, owner, 7000);
		uint16_t right = port_of(f, ev);
		assert_int_equal(right, f->srv.port + owner);
		uint16_t wrong = (uint16_t)(f->srv.port + (1 - owner));
		int fd = hf_tc_connect(wrong);
		struct hf_request req;
		hf_req_create(&req, 31, ev, 10);
		assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_MOVED);
		assert_int_equal(f->rep->detail, f->map.epoch);
		hf_req_info(&req, 32, ev);
		assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_MOVED);
		close(fd);
		assert_true(hf_tc_stat_of(wrong, "replies_moved") >= 2);

		fd = hf_tc_connect(right);
		hf_req_create(&req, 33, ev, 10);
		assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
		close(fd);
	}
}

/* Pipelines `count` requests built by make() over one connection, a window at a time, and returns
 * ops/s. */
static double pipeline(struct fixture *f, uint16_t port, uint32_t count,
		       void (*make)(struct hf_request *, uint32_t, uint64_t), uint64_t ev)
{
	enum { WINDOW = 1024 };
	int fd = hf_tc_connect(port);
	uint8_t *out = malloc(WINDOW * 128);
	assert_non_null(out);
	struct hf_request req;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint32_t sent = 0;
	uint32_t got = 0;
	while (got < count) {
		size_t size = 0;
		uint32_t batch = count - sent < WINDOW / 2 ? count - sent : WINDOW / 2;
		if (sent - got + batch > WINDOW)
			batch = 0;
		for (uint32_t i = 0; i < batch; i++) {
			make(&req, sent + i, ev);
			size += hf_request_encode(&req, out + size, WINDOW * 128 - size);
		}
		if (size > 0)
			hf_tc_write_all(fd, out, size);
		sent += batch;
		/* Read half a window of replies before sending more. */
		uint32_t want = sent - got > WINDOW / 2 ? WINDOW / 2 : sent - got;
		for (uint32_t i = 0; i < want; i++) {
			assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
			assert_int_equal(f->rep->request_id, got);
			assert_int_equal(f->rep->status, HF_OK);
			got++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(out);
	close(fd);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return (double)count / s;
}

static void make_ping(struct hf_request *req, uint32_t i, uint64_t ev)
{
	(void)ev;
	hf_req_ping(req, i);
}

static void make_hold(struct hf_request *req, uint32_t i, uint64_t ev)
{
	hf_req_hold(req, i, ev, 1 + (uint64_t)i, 600000, i, 1);
}

/* PINGs and HOLDs pipelined over one connection. Store-check builds verify the whole store after
 * every HOLD, so they pipeline fewer of them. */
#ifdef HF_STORE_CHECKS
#define PIPELINE_HOLDS 4000u
#else
#define PIPELINE_HOLDS 12000u
#endif
#define PIPELINE_PINGS 100000u

static void test_pipelined_throughput(void **state)
{
	struct fixture *f = *state;
	uint64_t ev = hf_event_owned_by(&f->map, 0, 9000);
	int fd = hf_tc_connect(port_of(f, ev));
	struct hf_request req;
	hf_req_create(&req, 1, ev, PIPELINE_HOLDS);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	close(fd);
	double pings = pipeline(f, port_of(f, ev), PIPELINE_PINGS, make_ping, ev);
	double holds = pipeline(f, port_of(f, ev), PIPELINE_HOLDS, make_hold, ev);
	printf("pipelined over one connection: %u PINGs at %.0f/s, %u HOLDs at %.0f/s (fsync; "
	       "this build)\n",
	       PIPELINE_PINGS, pings, PIPELINE_HOLDS, holds);
	int64_t commits = hf_tc_stat_of(port_of(f, ev), "commits");
	int64_t avg = hf_tc_stat_of(port_of(f, ev), "batch_ops_avg");
	printf("commits %lld, ops per commit %lld\n", (long long)commits, (long long)avg);
	assert_true(commits > 0 && commits < (int64_t)PIPELINE_HOLDS);
}

int main(void)
{
	srand((unsigned)time(NULL));
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_opcode),
	    cmocka_unit_test(test_frames_split_byte_by_byte),
	    cmocka_unit_test(test_many_frames_in_one_write),
	    cmocka_unit_test(test_routing_moved),
	    cmocka_unit_test(test_pipelined_throughput),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
