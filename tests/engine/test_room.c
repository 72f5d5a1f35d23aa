/* Goal: a holdfastd serves the waiting room end to end: ROOM_SET turns it on, HOLD without a token
 * (and with a forged or another user's token) is NOT_ADMITTED while a room-less event is served as
 * before, JOIN admits as many buyers as there are free seats and the rest wait in order, a hold
 * with the token succeeds and a release admits the next buyer, positions and admissions survive a
 * restart (the key too: an old token still verifies), STATS and the room limits are reported, and
 * with tokens ROOM_SET needs the admin role.
 * Method: real holdfastd processes (fsync durability) and raw sockets; every wait is bounded. */
#include "tests/engine/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENT  4242u
#define PLAIN  4343u
#define SEATS  2u
#define TTL_MS 60000u

static struct hf_reply *rep;

static void req_room_set(struct hf_request *req, uint64_t event_id, uint8_t enabled,
			 uint32_t queue_max)
{
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_ROOM_SET;
	req->request_id = 9;
	req->room_set.event_id = event_id;
	req->room_set.params = (struct hf_room_params){.enabled = enabled,
						       .policy = HF_ROOM_REQUEUE,
						       .shoppers_pct = 100,
						       .admit_ttl_ms = 30000,
						       .queue_max = queue_max};
}

static uint16_t join(int fd, uint8_t opcode, uint64_t user)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.request_id = 10 + user;
	req.join.event_id = EVENT;
	req.join.user_id = user;
	return hf_tc_call(fd, &req, rep);
}

static uint16_t hold(int fd, uint64_t event_id, uint64_t hold_id, uint64_t user,
		     const struct hf_room_token *token)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.request_id = hold_id;
	req.hold = (struct hf_req_hold){.event_id = event_id,
					.hold_id = hold_id,
					.user_id = user,
					.ttl_ms = TTL_MS,
					.mode = HF_HOLD_BEST,
					.seats_count = 1};
	if (token != NULL) {
		req.hold.flags = HF_HOLD_FLAG_TOKEN;
		req.hold.token = *token;
	}
	return hf_tc_call(fd, &req, rep);
}

static void create(int fd, uint64_t event_id)
{
	struct hf_request req;
	hf_req_create(&req, 1, event_id, SEATS);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
}

/* The first part of the sale, before the restart: returns buyer 1's token. */
static struct hf_room_token sale_before_restart(int fd)
{
	create(fd, EVENT);
	create(fd, PLAIN);
	struct hf_request req;
	/* No room yet: JOIN says so, HOLD works as before. */
	assert_int_equal(join(fd, HF_OP_JOIN, 1), HF_NO_ROOM);
	req_room_set(&req, EVENT, 1, 3);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	req_room_set(&req, EVENT, 1, 4); /* the bound is fixed once set */
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_ERR_INVALID);
	assert_int_equal(hold(fd, EVENT, 100, 1, NULL), HF_NOT_ADMITTED);
	assert_int_equal(hold(fd, PLAIN, 101, 1, NULL), HF_OK);
	/* Two seats: buyers 1 and 2 are admitted, 3 waits first in line, 4 finds the room full. */
	struct hf_room_token tokens[2];
	for (uint64_t u = 1; u <= 3; u++) {
		assert_int_equal(join(fd, HF_OP_JOIN, u), HF_OK);
		if (u <= 2) {
			assert_int_equal(rep->join.state, HF_ROOM_ADMITTED);
			tokens[u - 1] = rep->join.token;
		} else {
			assert_int_equal(rep->join.state, HF_ROOM_WAITING);
			assert_int_equal(rep->join.position, 1);
		}
	}
	assert_int_equal(join(fd, HF_OP_JOIN, 4), HF_ROOM_FULL);
	assert_int_equal(rep->detail, 3);
	assert_int_equal(join(fd, HF_OP_POSITION, 4), HF_NOT_IN_QUEUE);
	/* Another user's token, a forged one: refused. */
	assert_int_equal(hold(fd, EVENT, 102, 2, &tokens[0]), HF_NOT_ADMITTED);
	struct hf_room_token forged = tokens[0];
	forged.mac[0] ^= 0x80;
	assert_int_equal(hold(fd, EVENT, 103, 1, &forged), HF_NOT_ADMITTED);
	assert_int_equal(hold(fd, EVENT, 104, 1, &tokens[0]), HF_OK);
	assert_int_equal(hold(fd, EVENT, 105, 2, &tokens[1]), HF_OK);
	/* Sold out pending: buyer 3 still waits (the holds may come back). */
	assert_int_equal(join(fd, HF_OP_POSITION, 3), HF_OK);
	assert_int_equal(rep->join.state, HF_ROOM_WAITING);
	return tokens[0];
}

static void hold_ref(int fd, uint8_t opcode, uint64_t hold_id)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.request_id = 50 + hold_id;
	req.confirm.event_id = EVENT;
	req.confirm.hold_id = hold_id;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
}

/* After the restart: the queue, the admissions and the key survived; a seat that comes back
 * admits the next buyer; booking every seat sells out. */
static void sale_after_restart(int fd, const struct hf_room_token *token1)
{
	assert_int_equal(join(fd, HF_OP_POSITION, 3), HF_OK);
	assert_int_equal(rep->join.state, HF_ROOM_WAITING);
	assert_int_equal(rep->join.position, 1);
	assert_int_equal(join(fd, HF_OP_POSITION, 1), HF_OK);
	assert_int_equal(rep->join.state, HF_ROOM_ADMITTED);
	assert_memory_equal(rep->join.token.mac, token1->mac, HF_ROOM_MAC_SIZE);
	hold_ref(fd, HF_OP_RELEASE, 104);
	assert_int_equal(join(fd, HF_OP_POSITION, 3), HF_OK);
	assert_int_equal(rep->join.state, HF_ROOM_ADMITTED);
	struct hf_room_token token3 = rep->join.token;
	assert_int_equal(hold(fd, EVENT, 106, 3, &token3), HF_OK);
	hold_ref(fd, HF_OP_CONFIRM, 105);
	hold_ref(fd, HF_OP_CONFIRM, 106);
	assert_int_equal(join(fd, HF_OP_JOIN, 7), HF_SOLD_OUT);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_ROOM_INFO;
	req.request_id = 70;
	req.room_info.event_id = EVENT;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(rep->room_info.sold_out, 1);
	assert_int_equal(rep->room_info.params.queue_max, 3);
	assert_int_equal(rep->room_info.holding_count, 3);
}

static void test_room_end_to_end(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {0};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int fd = hf_tc_connect(srv.port);
	struct hf_room_token token1 = sale_before_restart(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	close(fd);
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	sale_after_restart(fd, &token1);
	/* Counters since the restart: one admission (buyer 3). */
	assert_int_equal(hf_tc_stat_of(srv.port, "room_admits"), 1);
	assert_true(hf_tc_stat_of(srv.port, "room_holds_refused") >= 0);
	assert_int_equal(hf_tc_stat_of(srv.port, "room_waiting"), 0);
	/* Turned off: JOIN answers NO_ROOM. */
	struct hf_request req;
	req_room_set(&req, EVENT, 0, 3);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	assert_int_equal(join(fd, HF_OP_JOIN, 8), HF_NO_ROOM);
	close(fd);
	hf_srv_cleanup(&srv);
}

/* With --auth-file, a client token may JOIN but not ROOM_SET. */
static void test_room_set_needs_admin(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/tokens", srv.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("client c-room-0123456789\nadmin a-room-9876543210\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
	struct hf_srv_opts opts = {.extra = {"--auth-file", path}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_AUTH;
	req.auth.token_size = (uint16_t)strlen("c-room-0123456789");
	memcpy(req.auth.token, "c-room-0123456789", req.auth.token_size);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	create(fd, EVENT);
	req_room_set(&req, EVENT, 1, 10);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_FORBIDDEN);
	close(fd);
	hf_srv_cleanup(&srv);
}

int main(void)
{
	rep = hf_reply_new();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_room_end_to_end),
	    cmocka_unit_test(test_room_set_needs_admin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
