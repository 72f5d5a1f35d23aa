/* Goal: BATCH frames keep every promise a frame of its own keeps: each entry is routed, checked,
 * applied and answered as if it had come alone (idempotent replays, refusals, MOVED, decode errors,
 * opcodes that may not be batched), answers come in order with their own request ids, nothing is
 * answered before its batch is durable (a SIGKILL after the reply loses nothing), a failed commit
 * answers every entry IO and a resend succeeds, and each bound (HF_BATCH_OPS_MAX, a batch with
 * less room than the frame) is hit and answered clearly.
 * Method: real holdfastd processes (the harness), raw sockets, BATCH frames built with proto's
 * entry encoder; outcomes checked entry by entry and through STATS and a restart. */
#include "tests/engine/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <unistd.h>

#define ENTRIES_CAP HF_FRAME_BODY_SIZE_MAX

struct batch {
	struct hf_request req;
	uint8_t entries[ENTRIES_CAP];
	uint32_t size;
	uint16_t count;
	uint64_t next_id;
};

struct answer {
	uint8_t opcode;
	uint16_t status;
	uint64_t request_id;
	struct hf_reply rep;
};

static struct batch g_batch;
static struct answer g_answers[HF_BATCH_OPS_MAX];

static void batch_begin(struct batch *b)
{
	memset(&b->req, 0, sizeof(b->req));
	b->size = 0;
	b->count = 0;
	b->next_id = 1000;
}

/* Appends req as an entry; returns the entry's request id. */
static uint64_t batch_add(struct batch *b, struct hf_request *req)
{
	req->request_id = b->next_id++;
	size_t n = hf_batch_entry_encode(req, b->entries + b->size, ENTRIES_CAP - b->size);
	assert_true(n >= HF_BATCH_ENTRY_HEADER_SIZE);
	b->size += (uint32_t)n;
	b->count++;
	return req->request_id;
}

/* Sends the batch and decodes every answer into g_answers. Returns the frame's status. */
static uint16_t batch_call(int fd, struct batch *b, struct hf_reply *rep)
{
	b->req.opcode = HF_OP_BATCH;
	b->req.request_id = 77;
	b->req.batch.ops_count = b->count;
	b->req.batch.entries = b->entries;
	b->req.batch.entries_size = b->size;
	uint16_t st = hf_tc_call(fd, &b->req, rep);
	if (st != HF_OK)
		return st;
	assert_int_equal(rep->batch.ops_count, b->count);
	uint32_t off = 0;
	for (uint16_t i = 0; i < b->count; i++) {
		struct hf_frame_header h;
		const uint8_t *body;
		assert_int_equal(
		    hf_batch_next(rep->batch.entries, rep->batch.entries_size, &off, 1, &h, &body),
		    1);
		struct answer *a = &g_answers[i];
		assert_int_equal(hf_reply_decode(&h, body, &a->rep), HF_OK);
		a->opcode = h.opcode;
		a->status = h.status;
		a->request_id = h.request_id;
		/* Answers come in request order, with the entries' own ids. */
		assert_int_equal(a->request_id, 1000u + i);
	}
	return st;
}

static void hold_req(struct hf_request *req, uint64_t event_id, uint64_t hold_id, uint32_t first,
		     uint32_t count)
{
	hf_req_hold(req, 0, event_id, hold_id, 60000, first, count);
}

static void ref_req(struct hf_request *req, uint8_t opcode, uint64_t event_id, uint64_t hold_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = opcode;
	req->confirm.event_id = event_id;
	req->confirm.hold_id = hold_id;
}

static struct hf_slot_map g_map;

static void fetch_map(uint16_t port, struct hf_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SLOT_MAP;
	req.request_id = 1;
	int fd = hf_tc_connect(port);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	g_map = rep->slot_map;
}

/* Every kind of entry in one frame, then a SIGKILL and a restart: the answers were durable. */
static void test_batch_entries(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 2};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	fetch_map(srv.port, rep);
	uint64_t mine = hf_event_owned_by(&g_map, 0, 1);
	uint64_t other = hf_event_owned_by(&g_map, 1, 1);

	struct batch *b = &g_batch;
	batch_begin(b);
	struct hf_request req;
	hf_req_create(&req, 0, mine, 100);
	batch_add(b, &req);
	hold_req(&req, mine, 1, 0, 4);
	batch_add(b, &req); /* 1: OK */
	hold_req(&req, mine, 2, 2, 4);
	batch_add(b, &req); /* 2: SEAT_TAKEN at seat 2 */
	hold_req(&req, mine, 1, 0, 4);
	batch_add(b, &req); /* 3: the replay of 1 */
	ref_req(&req, HF_OP_CONFIRM, mine, 1);
	batch_add(b, &req); /* 4: OK */
	hf_req_info(&req, 0, mine);
	batch_add(b, &req); /* 5: 4 booked */
	hold_req(&req, other, 3, 0, 1);
	batch_add(b, &req); /* 6: MOVED (the other shard's) */
	hold_req(&req, mine, 4, 0, 1);
	req.hold.event_id = 0;
	batch_add(b, &req); /* 7: INVALID */
	hf_req_ping(&req, 0);
	/* PING may not be batched: written by hand (the encoder refuses it). */
	uint8_t *e = b->entries + b->size;
	memset(e, 0, HF_BATCH_ENTRY_HEADER_SIZE);
	e[0] = HF_OP_PING;
	e[8] = (uint8_t)(b->next_id & 0xff);
	e[9] = (uint8_t)(b->next_id >> 8);
	b->next_id++;
	b->size += HF_BATCH_ENTRY_HEADER_SIZE;
	b->count++; /* 8: OPCODE */
	ref_req(&req, HF_OP_RELEASE, mine, 99);
	batch_add(b, &req); /* 9: NO_HOLD */

	int fd = hf_tc_connect(srv.port);
	assert_int_equal(batch_call(fd, b, rep), HF_OK);
	assert_int_equal(g_answers[0].status, HF_OK);
	assert_int_equal(g_answers[1].status, HF_OK);
	assert_int_equal(g_answers[1].rep.hold.seats_count, 4);
	assert_int_equal(g_answers[2].status, HF_SEAT_TAKEN);
	assert_int_equal(g_answers[2].rep.detail, 2);
	assert_int_equal(g_answers[3].status, HF_OK);
	assert_int_equal(g_answers[3].rep.hold.deadline_ms, g_answers[1].rep.hold.deadline_ms);
	assert_int_equal(g_answers[4].status, HF_OK);
	assert_int_equal(g_answers[4].opcode, HF_OP_CONFIRM);
	assert_int_equal(g_answers[5].status, HF_OK);
	assert_int_equal(g_answers[5].rep.event_info.booked_count, 4);
	assert_int_equal(g_answers[6].status, HF_MOVED);
	assert_int_equal(g_answers[6].rep.detail, g_map.epoch);
	assert_int_equal(g_answers[7].status, HF_ERR_INVALID);
	assert_int_equal(g_answers[8].status, HF_ERR_OPCODE);
	assert_int_equal(g_answers[8].opcode, HF_OP_PING);
	assert_int_equal(g_answers[9].status, HF_NO_HOLD);
	close(fd);
	assert_int_equal(hf_tc_stat_of(srv.port, "ops_batch"), 1);
	/* The replay and the MOVED one count; the one that did not decode does not. */
	assert_int_equal(hf_tc_stat_of(srv.port, "ops_hold"), 4);
	assert_int_equal(hf_tc_stat_of(srv.port, "ops_confirm"), 1);

	/* Answered means durable: kill -9 and look. */
	assert_int_equal(hf_srv_stop(&srv, SIGKILL), 128 + SIGKILL);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	hf_req_info(&req, 5, mine);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.booked_count, 4);
	assert_int_equal(rep->event_info.bookings_count, 1);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

/* HF_BATCH_OPS_MAX entries work; one more is TOO_LARGE; bad framing is MALFORMED; the connection
 * goes on after both. */
static void test_batch_limits(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .durability = "none"};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	hf_req_create(&req, 1, 42, 1000);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);

	struct batch *b = &g_batch;
	batch_begin(b);
	for (uint32_t i = 0; i < HF_BATCH_OPS_MAX; i++) {
		hold_req(&req, 42, 100 + i, i, 1);
		batch_add(b, &req);
	}
	assert_int_equal(batch_call(fd, b, rep), HF_OK);
	for (uint32_t i = 0; i < HF_BATCH_OPS_MAX; i++) {
		assert_int_equal(g_answers[i].status, HF_OK);
		assert_int_equal(g_answers[i].rep.hold.seats[0], i);
	}

	/* One entry past the bound: the frame is answered TOO_LARGE, nothing applied. The
	 * encoder refuses such a frame, so it is written by hand. */
	hold_req(&req, 42, 999, 999, 1);
	batch_add(b, &req);
	static uint8_t frame[HF_FRAME_SIZE_MAX];
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = HF_OP_BATCH,
				    .request_id = 78,
				    .body_size = HF_BATCH_FIXED_SIZE + b->size};
	hf_frame_header_encode(frame, &h);
	hf_batch_fixed_encode(frame + HF_FRAME_HEADER_SIZE, HF_BATCH_OPS_MAX);
	frame[HF_FRAME_HEADER_SIZE] = (uint8_t)((HF_BATCH_OPS_MAX + 1u) & 0xff);
	frame[HF_FRAME_HEADER_SIZE + 1] = (uint8_t)((HF_BATCH_OPS_MAX + 1u) >> 8);
	memcpy(frame + HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE, b->entries, b->size);
	size_t n = HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE + b->size;
	hf_tc_write_all(fd, frame, n);
	static uint8_t buf[HF_FRAME_SIZE_MAX];
	assert_int_equal(hf_tc_recv(fd, rep, buf), 0);
	assert_int_equal(rep->status, HF_ERR_TOO_LARGE);
	/* A count that disagrees with the entries. */
	frame[HF_FRAME_HEADER_SIZE] = 3;
	frame[HF_FRAME_HEADER_SIZE + 1] = 0;
	hf_tc_write_all(fd, frame, n);
	assert_int_equal(hf_tc_recv(fd, rep, buf), 0);
	assert_int_equal(rep->status, HF_ERR_MALFORMED);
	hf_req_info(&req, 9, 42);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.held_count, HF_BATCH_OPS_MAX);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

/* A failed commit answers every entry of the frame IO (nothing was persisted); a resend of the
 * same frame then succeeds. */
static void test_batch_failed_commit(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .fail_commits = "1", .fail_commits_after = "1"};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	hf_req_create(&req, 1, 42, 100);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	struct batch *b = &g_batch;
	batch_begin(b);
	for (uint32_t i = 0; i < 8; i++) {
		hold_req(&req, 42, 10 + i, 2 * i, 2);
		batch_add(b, &req);
	}
	ref_req(&req, HF_OP_RELEASE, 42, 55);
	batch_add(b, &req); /* a refusal (NO_HOLD) in a failed batch is IO too */
	assert_int_equal(batch_call(fd, b, rep), HF_OK);
	for (uint32_t i = 0; i < b->count; i++)
		assert_int_equal(g_answers[i].status, HF_ERR_IO);
	/* The store is rebuilt from disk; the same frame then succeeds. */
	uint64_t deadline = hf_mono_ms() + 10000;
	for (;;) {
		assert_int_equal(batch_call(fd, b, rep), HF_OK);
		if (g_answers[0].status != HF_ERR_IO || hf_mono_ms() > deadline)
			break;
		hf_sleep_ms(5);
	}
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(g_answers[i].status, HF_OK);
	assert_int_equal(g_answers[8].status, HF_NO_HOLD);
	hf_req_info(&req, 9, 42);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.held_count, 16);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

/* A batch with room for fewer ops than the frame (HOLDFAST_BATCH_CHANGES_MAX): the entries past
 * its room are answered BUSY, the others applied; a resend of the BUSY ones succeeds. */
static void test_batch_small_room(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .batch_changes_max = "8"};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	hf_req_create(&req, 1, 42, 100);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	struct batch *b = &g_batch;
	batch_begin(b);
	for (uint32_t i = 0; i < 6; i++) {
		hold_req(&req, 42, 10 + i, i, 1);
		batch_add(b, &req);
	}
	uint32_t ok = 0, busy = 0;
	for (uint32_t round = 0; round < 50 && ok < 6; round++) {
		assert_int_equal(batch_call(fd, b, rep), HF_OK);
		ok = busy = 0;
		for (uint32_t i = 0; i < 6; i++) {
			if (g_answers[i].status == HF_OK)
				ok++;
			else if (g_answers[i].status == HF_BUSY)
				busy++;
		}
		assert_int_equal(ok + busy, 6);
		if (round == 0)
			assert_true(busy > 0); /* 8 records hold 2 ops */
	}
	assert_int_equal(ok, 6);
	assert_true(hf_tc_stat_of(srv.port, "replies_error") >= 0);
	close(fd);
	hf_srv_cleanup(&srv);
	free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_entries),
	    cmocka_unit_test(test_batch_limits),
	    cmocka_unit_test(test_batch_failed_commit),
	    cmocka_unit_test(test_batch_small_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
