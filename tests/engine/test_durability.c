/* Goal: what holdfastd acknowledged survives it: a restart (after SIGKILL, in fsync and wal modes)
 * keeps events, holds and bookings; SIGTERM stops it cleanly with exit 0; a failed commit answers
 * HF_ERR_IO and leaves the state exactly as before; a short hold expires with no request arriving;
 * BACKUP + --restore-from bring a node back; a data dir refuses another shard count; a restart on
 * other ports rebuilds the default slot map with the next epoch.
 * Method: start real holdfastd processes on one temporary data dir, act through raw sockets, kill
 * or stop them, start again on the same dir and look at the state with EVENT_INFO / SEAT_STATUS /
 * STATS. The commit failure uses the HOLDFAST_FAIL_COMMITS test hook. */
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
#include <time.h>
#include <unistd.h>

/* Small store pools: store-check builds verify the whole store after every write. */
#define STORE_FLAGS "--events-max", "16", "--seats-max", "100000", "--records-max", "4096"

/* The slot map as shard 0 of srv serves it. */
static void fetch_map(const struct hf_srv *srv, struct hf_slot_map *map, struct hf_reply *rep)
{
	int fd = hf_tc_connect(srv->port);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SLOT_MAP;
	req.request_id = 3;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	*map = rep->slot_map;
	close(fd);
}

static uint16_t port_of(const struct hf_slot_map *map, uint64_t event_id)
{
	return map->owners[map->slot_owner[hf_slot_of(event_id)]].port;
}

static void confirm(int fd, struct hf_reply *rep, uint64_t id, uint64_t ev, uint64_t hold_id)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CONFIRM;
	req.request_id = id;
	req.confirm.event_id = ev;
	req.confirm.hold_id = hold_id;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
}

/* Creates an event on each shard with a booking (seats 0-1) and a live hold (seats 10-12). */
static void make_state(const struct hf_slot_map *map, uint32_t shards, uint64_t *events,
		       struct hf_reply *rep)
{
	struct hf_request req;
	for (uint16_t s = 0; s < shards; s++) {
		uint64_t ev = hf_event_owned_by(map, s, 100 + 1000u * s);
		events[s] = ev;
		int fd = hf_tc_connect(port_of(map, ev));
		hf_req_create(&req, 1, ev, 50);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		hf_req_hold(&req, 2, ev, 500, 600000, 0, 2);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		confirm(fd, rep, 3, ev, 500);
		hf_req_hold(&req, 4, ev, 501, 600000, 10, 3);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		close(fd);
	}
}

static void check_state(const struct hf_slot_map *map, uint32_t shards, const uint64_t *events,
			struct hf_reply *rep)
{
	struct hf_request req;
	for (uint16_t s = 0; s < shards; s++) {
		int fd = hf_tc_connect(port_of(map, events[s]));
		hf_req_info(&req, 9, events[s]);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		assert_int_equal(rep->event_info.seats_count, 50);
		assert_int_equal(rep->event_info.booked_count, 2);
		assert_int_equal(rep->event_info.held_count, 3);
		assert_int_equal(rep->event_info.bookings_count, 1);
		assert_int_equal(rep->event_info.holds_count, 1);
		/* Replaying the booked hold gives the first answer, not a second booking. */
		hf_req_hold(&req, 10, events[s], 500, 600000, 0, 2);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		hf_req_hold(&req, 11, events[s], 502, 600000, 1, 1);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_SEAT_TAKEN);
		close(fd);
	}
}

static void restart_keeps_state(const char *durability)
{
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 2, .durability = durability, .extra = {STORE_FLAGS}};
	struct hf_reply *rep = hf_reply_new();
	struct hf_slot_map *map = malloc(sizeof(*map));
	assert_non_null(map);
	uint64_t events[2];

	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fetch_map(&srv, map, rep);
	make_state(map, 2, events, rep);
	/* No goodbye: every acknowledged write must already be on disk (fsync) or in the
	 * kernel's page cache (wal), both of which survive a process kill. */
	assert_int_equal(hf_srv_stop(&srv, SIGKILL), 128 + SIGKILL);

	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	check_state(map, 2, events, rep);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(map);
	free(rep);
}

static void test_restart_fsync(void **state)
{
	(void)state;
	restart_keeps_state("fsync");
}

static void test_restart_wal(void **state)
{
	(void)state;
	restart_keeps_state("wal");
}

static void test_sigterm_with_traffic_and_shard_count(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .extra = {STORE_FLAGS}};
	struct hf_reply *rep = hf_reply_new();
	uint8_t *buf = hf_frame_buf_new();
	assert_int_equal(hf_srv_start(&srv, &opts), 0);

	/* Pipelined holds still in flight when SIGTERM lands. */
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	hf_req_create(&req, 1, 7, 1000);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	uint8_t frames[200 * 64];
	size_t size = 0;
	for (uint32_t i = 0; i < 200; i++) {
		hf_req_hold(&req, 100 + i, 7, 1000 + i, 600000, i, 1);
		size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	}
	hf_tc_write_all(fd, frames, size);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	assert_true(hf_srv_log_contains(&srv, "stopping"));
	/* Whatever was answered before the close is durable after the restart. */
	uint32_t answered = 0;
	while (hf_tc_recv(fd, rep, buf) == 0) {
		assert_int_equal(rep->status, HF_OK);
		answered++;
	}
	close(fd);

	/* Another shard count on the same data dir is refused with a clear message. */
	struct hf_srv_opts other = {.shards = 2, .expect_fail = 1, .extra = {STORE_FLAGS}};
	assert_int_equal(hf_srv_start(&srv, &other), 1);
	assert_true(hf_srv_log_contains(&srv, "written by a node with 1 shards"));

	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	hf_req_info(&req, 2, 7);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	printf("SIGTERM: %u of 200 pipelined holds answered before the close, %u held after "
	       "restart\n",
	       answered, rep->event_info.holds_count);
	assert_true(rep->event_info.holds_count >= answered);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(buf);
	free(rep);
}

static void test_commit_failure_leaves_state(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .extra = {STORE_FLAGS}};
	struct hf_reply *rep = hf_reply_new();
	uint8_t *buf = hf_frame_buf_new();
	struct hf_request req;

	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int fd = hf_tc_connect(srv.port);
	hf_req_create(&req, 1, 9, 20);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	hf_req_hold(&req, 2, 9, 1, 600000, 0, 2);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);

	/* The next commit fails. Three writes and a read in one write(2), so they share a batch. */
	struct hf_srv_opts failing = opts;
	failing.fail_commits = "1";
	assert_int_equal(hf_srv_start(&srv, &failing), 0);
	fd = hf_tc_connect(srv.port);
	uint8_t frames[512];
	size_t size = 0;
	hf_req_hold(&req, 10, 9, 2, 600000, 5, 3);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CONFIRM;
	req.request_id = 11;
	req.confirm.event_id = 9;
	req.confirm.hold_id = 1;
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	hf_req_ping(&req, 12);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	hf_req_info(&req, 13, 9);
	size += hf_request_encode(&req, frames + size, sizeof(frames) - size);
	hf_tc_write_all(fd, frames, size);
	uint16_t expect[] = {HF_ERR_IO, HF_ERR_IO, HF_OK, HF_ERR_IO};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(hf_tc_recv(fd, rep, buf), 0);
		assert_int_equal(rep->request_id, 10 + i);
		if (rep->status != expect[i])
			fail_msg("reply %d: %s, expected %s (the batch may have been cut in two)",
				 i, hf_status_name(rep->status), hf_status_name(expect[i]));
	}
	/* The state is the one before the batch: hold 1 live (not booked), seats 5-7 free. The
	 * persist thread rebuilds the store meanwhile: IO until it is back. */
	hf_req_info(&req, 14, 9);
	assert_int_equal(hf_tc_call_past_io(fd, &req, rep, 10000), HF_OK);
	assert_int_equal(rep->event_info.held_count, 2);
	assert_int_equal(rep->event_info.booked_count, 0);
	assert_int_equal(rep->event_info.holds_count, 1);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 15;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(hf_tc_stat(rep, "persist_errors"), 1);
	assert_int_equal(hf_tc_stat(rep, "commit_failures"), 1);
	assert_int_equal(hf_tc_stat(rep, "store_reloads"), 1);
	assert_int_equal(hf_tc_stat(rep, "degraded"), 1);
	/* The disk works again: the same ops succeed. */
	hf_req_hold(&req, 16, 9, 2, 600000, 5, 3);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	confirm(fd, rep, 17, 9, 1);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 18;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(hf_tc_stat(rep, "degraded"), 0);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);

	/* And they are durable. */
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	hf_req_info(&req, 19, 9);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.held_count, 3);
	assert_int_equal(rep->event_info.booked_count, 2);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(buf);
	free(rep);
}

static void test_expiry_without_requests(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .extra = {STORE_FLAGS}};
	struct hf_reply *rep = hf_reply_new();
	struct hf_request req;
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int fd = hf_tc_connect(srv.port);
	hf_req_create(&req, 1, 5, 10);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	hf_req_hold(&req, 2, 5, 1, 300, 0, 4);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	/* Nothing is sent while the deadline passes: only the loop's own wake-up can expire it. */
	hf_sleep_ms(1500);
	/* STATS does not touch the store, so a hold it reports expired was expired by the tick. */
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 3;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(hf_tc_stat(rep, "holds_expired_by_tick"), 1);
	assert_int_equal(hf_tc_stat(rep, "store_holds"), 0);
	hf_req_info(&req, 4, 5);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.free_count, 10);
	/* The hold's id now answers EXPIRED. */
	hf_req_hold(&req, 5, 5, 1, 300, 0, 4);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_HOLD_EXPIRED);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(rep);
}

static void test_backup_restore_and_new_ports(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 2, .extra = {STORE_FLAGS}};
	struct hf_reply *rep = hf_reply_new();
	struct hf_slot_map *map = malloc(sizeof(*map));
	assert_non_null(map);
	uint64_t events[2];
	struct hf_request req;

	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fetch_map(&srv, map, rep);
	make_state(map, 2, events, rep);
	char backup[512];
	snprintf(backup, sizeof(backup), "%s/backup", srv.dir);
	for (uint32_t s = 0; s < 2; s++) {
		int fd = hf_tc_connect((uint16_t)(srv.port + s));
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_BACKUP;
		req.request_id = 1;
		snprintf(req.backup.path, sizeof(req.backup.path), "%s", backup);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
		close(fd);
	}
	/* A write after the backup is not in it. */
	int fd = hf_tc_connect(port_of(map, events[0]));
	hf_req_hold(&req, 2, events[0], 900, 600000, 30, 1);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);

	/* Restoring over existing data needs --force. */
	struct hf_srv_opts restore = {
	    .shards = 2, .expect_fail = 1, .extra = {"--restore-from", backup, STORE_FLAGS}};
	assert_int_equal(hf_srv_start(&srv, &restore), 1);
	assert_true(hf_srv_log_contains(&srv, "without --force"));
	struct hf_srv_opts forced = {.shards = 2,
				     .extra = {"--restore-from", backup, "--force", STORE_FLAGS}};
	assert_int_equal(hf_srv_start(&srv, &forced), 0);
	check_state(map, 2, events, rep);
	fd = hf_tc_connect(port_of(map, events[0]));
	hf_req_info(&req, 3, events[0]);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->event_info.holds_count, 1); /* hold 900 came after the backup */
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);

	/* Started on other ports, the node rebuilds its default map for them, next epoch. */
	uint16_t old_port = srv.port;
	do {
		srv.port = 0; /* pick other free ports */
		assert_int_equal(hf_srv_start(&srv, &opts), 0);
		if (srv.port == old_port)
			assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	} while (srv.port == old_port);
	struct hf_slot_map *moved = malloc(sizeof(*moved));
	assert_non_null(moved);
	fetch_map(&srv, moved, rep);
	assert_int_equal(moved->epoch, map->epoch + 1);
	assert_int_equal(moved->owners[0].port, srv.port);
	assert_memory_equal(moved->slot_owner, map->slot_owner, sizeof(map->slot_owner));
	check_state(moved, 2, events, rep);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(moved);
	free(map);
	free(rep);
}

int main(void)
{
	srand((unsigned)time(NULL));
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restart_fsync),
	    cmocka_unit_test(test_restart_wal),
	    cmocka_unit_test(test_sigterm_with_traffic_and_shard_count),
	    cmocka_unit_test(test_commit_failure_leaves_state),
	    cmocka_unit_test(test_expiry_without_requests),
	    cmocka_unit_test(test_backup_restore_and_new_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
