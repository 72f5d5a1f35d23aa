/* Goal: no peer can crash holdfastd, make it grow without bound, or starve other clients: bad
 * frames get the answer the protocol promises (error reply and go on, error reply then close, or
 * close), a client that pipelines and never reads is parked at its reply bound while another client
 * is served promptly, connections past --max-connections are closed at once, idle ones time out.
 * Method: one holdfastd (1 shard, --max-connections 32, --max-conn-buffer 64 KiB) for the group;
 * raw sockets send truncated frames, oversized body sizes, random bytes (seed printed, HF_SEED
 * replays), unknown opcodes, bad versions, malformed bodies; after each case a fresh PING proves
 * the server is alive. The slow reader writes until its socket blocks for a second; the server's
 * RSS and a second client's round trips are measured meanwhile. A second server checks
 * --idle-timeout. */
#include "tests/engine/harness.h"

#include "base/endian.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_BUFFER_BYTES 65536
#define CONNECTIONS_MAX	  32

struct fixture {
	struct hf_srv srv;
	struct hf_reply *rep;
	uint8_t *buf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	hf_srv_init(&f->srv);
	struct hf_srv_opts opts = {
	    .shards = 1,
	    .extra = {"--max-connections", "32", "--max-conn-buffer", "65536", "--events-max", "16",
		      "--seats-max", "100000", "--records-max", "4096"},
	};
	assert_int_equal(hf_srv_start(&f->srv, &opts), 0);
	f->rep = hf_reply_new();
	f->buf = hf_frame_buf_new();
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

/* The server still answers a fresh connection. */
static void assert_alive(struct fixture *f)
{
	assert_true(hf_srv_alive(&f->srv));
	int fd = hf_tc_connect(f->srv.port);
	struct hf_request req;
	hf_req_ping(&req, 0xa11e);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	close(fd);
}

static void header_at(uint8_t *buf, uint8_t version, uint8_t opcode, uint16_t flags,
		      uint64_t request_id, uint32_t body_size, uint32_t reserved)
{
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = version,
				    .opcode = opcode,
				    .flags = flags,
				    .status = 0,
				    .request_id = request_id,
				    .body_size = body_size,
				    .reserved = reserved};
	hf_frame_header_encode(buf, &h);
}

static void test_truncated_frames(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[128];
	struct hf_request req;
	hf_req_hold(&req, 1, 99, 1, 1000, 0, 4);
	size_t size = hf_request_encode(&req, frame, sizeof(frame));
	assert_true(size > HF_FRAME_HEADER_SIZE + 5);
	/* A part of a header, then a header and part of its body, then EOF each time. */
	size_t cuts[] = {
	    1,	     10, HF_FRAME_HEADER_SIZE - 1, HF_FRAME_HEADER_SIZE, HF_FRAME_HEADER_SIZE + 5,
	    size - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int fd = hf_tc_connect(f->srv.port);
		hf_tc_write_all(fd, frame, cuts[i]);
		close(fd);
	}
	/* A truncated frame after a whole one: the whole one is answered, then EOF closes. */
	int fd = hf_tc_connect(f->srv.port);
	uint8_t two[256];
	hf_req_ping(&req, 7);
	size_t n = hf_request_encode(&req, two, sizeof(two));
	memcpy(two + n, frame, 30);
	hf_tc_write_all(fd, two, n + 30);
	shutdown(fd, SHUT_WR);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->request_id, 7);
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);
	assert_alive(f);
}

static void test_oversized_body(void **state)
{
	struct fixture *f = *state;
	uint8_t h[HF_FRAME_HEADER_SIZE];
	header_at(h, HF_PROTO_VERSION, HF_OP_HOLD, 0, 4242, HF_FRAME_BODY_SIZE_MAX + 1, 0);
	int fd = hf_tc_connect(f->srv.port);
	hf_tc_write_all(fd, h, sizeof(h));
	/* Answered (the id is readable), then closed: the body is not skipped. */
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_TOO_LARGE);
	assert_int_equal(f->rep->request_id, 4242);
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);

	/* A body_size of 4 GiB - 1. */
	header_at(h, HF_PROTO_VERSION, HF_OP_PING, 0, 4243, UINT32_MAX, 0);
	fd = hf_tc_connect(f->srv.port);
	hf_tc_write_all(fd, h, sizeof(h));
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_TOO_LARGE);
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);

	/* The largest allowed body is read whole (and is malformed for PING). */
	uint8_t *big = calloc(1, HF_FRAME_SIZE_MAX);
	assert_non_null(big);
	header_at(big, HF_PROTO_VERSION, HF_OP_PING, 0, 4244, HF_FRAME_BODY_SIZE_MAX, 0);
	fd = hf_tc_connect(f->srv.port);
	hf_tc_write_all(fd, big, HF_FRAME_SIZE_MAX);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_MALFORMED);
	assert_int_equal(f->rep->request_id, 4244);
	free(big);
	struct hf_request req;
	hf_req_ping(&req, 4245);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	close(fd);
	assert_alive(f);
}

static void test_bad_headers_close(void **state)
{
	struct fixture *f = *state;
	uint8_t h[HF_FRAME_HEADER_SIZE];
	struct {
		uint16_t flags;
		uint32_t reserved;
		uint16_t magic;
	} cases[] = {{0x0100, 0, HF_FRAME_MAGIC}, {0, 1, HF_FRAME_MAGIC}, {0, 0, 0x1234}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		header_at(h, HF_PROTO_VERSION, HF_OP_PING, cases[i].flags, 5, 0, cases[i].reserved);
		hf_put_le16(h, cases[i].magic);
		int fd = hf_tc_connect(f->srv.port);
		hf_tc_write_all(fd, h, sizeof(h));
		/* No reply: the stream cannot be trusted, so it is closed. */
		assert_true(hf_tc_closed_within(fd, 5000));
		close(fd);
	}
	/* Another version: answered with VERSION, then closed. */
	header_at(h, 9, HF_OP_PING, 0, 6, 0, 0);
	int fd = hf_tc_connect(f->srv.port);
	hf_tc_write_all(fd, h, sizeof(h));
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_VERSION);
	assert_int_equal(f->rep->request_id, 6);
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);
	assert_true(hf_tc_stat_of(f->srv.port, "conns_closed_protocol") >= 4);
	assert_alive(f);
}

static void test_random_bytes(void **state)
{
	struct fixture *f = *state;
	unsigned seed = (unsigned)time(NULL);
	const char *env = getenv("HF_SEED");
	if (env != NULL)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("random bytes: seed %u (HF_SEED=%u replays)\n", seed, seed);
	srand(seed);
	uint8_t junk[8192];
	for (int round = 0; round < 20; round++) {
		size_t size = 1 + (size_t)rand() % sizeof(junk);
		for (size_t i = 0; i < size; i++)
			junk[i] = (uint8_t)rand();
		if (round % 2 == 0)
			junk[0] = 0; /* surely a bad magic: the connection closes */
		int fd = hf_tc_connect(f->srv.port);
		hf_tc_write_all(fd, junk, size);
		if (round % 2 == 0)
			assert_true(hf_tc_closed_within(fd, 5000));
		close(fd);
	}
	/* Garbage after a good frame: the frame is answered, then the connection closes. */
	int fd = hf_tc_connect(f->srv.port);
	struct hf_request req;
	hf_req_ping(&req, 77);
	uint8_t frame[64];
	size_t n = hf_request_encode(&req, frame, sizeof(frame));
	memcpy(junk, frame, n);
	memset(junk + n, 0xee, 100);
	hf_tc_write_all(fd, junk, n + 100);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->request_id, 77);
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);
	assert_alive(f);
}

static void test_answered_errors_keep_connection(void **state)
{
	struct fixture *f = *state;
	int fd = hf_tc_connect(f->srv.port);
	uint8_t frame[64];
	struct hf_request req;

	/* Unknown opcode: OPCODE, and the connection goes on. */
	header_at(frame, HF_PROTO_VERSION, 0x7f, 0, 11, 3, 0);
	memset(frame + HF_FRAME_HEADER_SIZE, 1, 3);
	hf_tc_write_all(fd, frame, HF_FRAME_HEADER_SIZE + 3);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_OPCODE);
	assert_int_equal(f->rep->opcode, 0x7f);
	assert_int_equal(f->rep->request_id, 11);

	/* A HOLD whose body is too short: MALFORMED. */
	header_at(frame, HF_PROTO_VERSION, HF_OP_HOLD, 0, 12, 5, 0);
	hf_tc_write_all(fd, frame, HF_FRAME_HEADER_SIZE + 5);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_MALFORMED);

	/* A request that claims to be a reply: MALFORMED. */
	header_at(frame, HF_PROTO_VERSION, HF_OP_PING, HF_FLAG_REPLY, 13, 0, 0);
	hf_tc_write_all(fd, frame, HF_FRAME_HEADER_SIZE);
	assert_int_equal(hf_tc_recv(fd, f->rep, f->buf), 0);
	assert_int_equal(f->rep->status, HF_ERR_MALFORMED);

	/* Zero ids: INVALID. A BACKUP to a relative path: INVALID. */
	hf_req_create(&req, 14, 0, 10);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_ERR_INVALID);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_BACKUP;
	req.request_id = 15;
	snprintf(req.backup.path, sizeof(req.backup.path), "relative/dir");
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_ERR_INVALID);

	/* The same connection still works. */
	hf_req_ping(&req, 16);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	close(fd);
	assert_true(hf_tc_stat_of(f->srv.port, "ops_unknown") >= 1);
}

/* Waits until the shard reports `open` connections (the asking one included). */
static void wait_conns_open(struct fixture *f, int64_t open)
{
	uint64_t deadline = hf_mono_ms() + 10000;
	while (hf_tc_stat_of(f->srv.port, "conns_open") != open) {
		assert_true(hf_mono_ms() < deadline);
		hf_sleep_ms(20);
	}
	/* ... and the asking connection's own close is processed. */
	hf_sleep_ms(300);
}

static void test_slow_reader_is_bounded(void **state)
{
	struct fixture *f = *state;
	wait_conns_open(f, 1);
	long rss_before_kb = hf_srv_rss_kb(&f->srv);

	/* SLOT_MAP requests: 24 bytes each, replies of ~8 KiB, so an unbounded server would queue
	 * hundreds of times what the client sent. */
	int slow = hf_tc_connect(f->srv.port);
	int flags = fcntl(slow, F_GETFL);
	fcntl(slow, F_SETFL, flags | O_NONBLOCK);
	enum { CHUNK_FRAMES = 1024 };
	uint8_t *chunk = malloc(CHUNK_FRAMES * HF_FRAME_HEADER_SIZE);
	assert_non_null(chunk);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SLOT_MAP;
	for (uint32_t i = 0; i < CHUNK_FRAMES; i++) {
		req.request_id = i;
		hf_request_encode(&req, chunk + i * HF_FRAME_HEADER_SIZE, HF_FRAME_HEADER_SIZE);
	}
	size_t sent = 0;
	uint64_t blocked_since = 0;
	/* Bounded: stops once the socket stayed full for a second (or after 20 s). */
	for (uint64_t deadline = hf_mono_ms() + 20000; hf_mono_ms() < deadline;) {
		ssize_t n = send(slow, chunk, CHUNK_FRAMES * HF_FRAME_HEADER_SIZE, MSG_NOSIGNAL);
		if (n > 0) {
			/* A frame cut here is completed by the next chunk's bytes: still a valid
			 * SLOT_MAP request (only its id differs). */
			sent += (size_t)n;
			blocked_since = 0;
			continue;
		}
		assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		if (blocked_since == 0)
			blocked_since = hf_mono_ms();
		else if (hf_mono_ms() - blocked_since > 1000)
			break;
		hf_sleep_ms(10);
	}
	free(chunk);
	printf("slow reader: sent %zu requests, then its socket stayed full\n",
	       sent / HF_FRAME_HEADER_SIZE);
	assert_true(sent / HF_FRAME_HEADER_SIZE > 1000);

	/* Another client is served promptly. */
	uint64_t t0 = hf_mono_ms();
	int good = hf_tc_connect(f->srv.port);
	for (uint32_t i = 0; i < 200; i++) {
		hf_req_ping(&req, 1000 + i);
		assert_int_equal(hf_tc_call(good, &req, f->rep), HF_OK);
	}
	uint64_t took_ms = hf_mono_ms() - t0;
	printf("second client: 200 round trips in %llu ms while the slow reader is parked\n",
	       (unsigned long long)took_ms);
	assert_true(took_ms < 5000);

	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 5;
	assert_int_equal(hf_tc_call(good, &req, f->rep), HF_OK);
	assert_true(hf_tc_stat(f->rep, "conns_parked") >= 1);
	/* Parked, not dropped: reading stopped before its unprocessed input passed the bound. */
	assert_int_equal(hf_tc_stat(f->rep, "input_overflows"), 0);
	long rss_after_kb = hf_srv_rss_kb(&f->srv);
	printf("server RSS: %ld KiB before, %ld KiB with the slow reader parked\n", rss_before_kb,
	       rss_after_kb);
	/* Replies for everything sent would be ~8 KiB each; the bound keeps the growth to the
	 * connection's buffers (plus allocator slack). */
	assert_true(rss_after_kb - rss_before_kb < 64 * 1024);
	assert_true((uint64_t)hf_tc_stat(f->rep, "frames_out") < sent / HF_FRAME_HEADER_SIZE);
	close(good);
	close(slow);
	assert_alive(f);
}

static void test_max_connections(void **state)
{
	struct fixture *f = *state;
	wait_conns_open(f, 1);
	int64_t rejected_before = hf_tc_stat_of(f->srv.port, "conns_rejected");
	int fds[CONNECTIONS_MAX];
	struct hf_request req;
	for (int i = 0; i < CONNECTIONS_MAX; i++) {
		fds[i] = hf_tc_connect(f->srv.port);
		hf_req_ping(&req, (uint64_t)i);
		assert_int_equal(hf_tc_call(fds[i], &req, f->rep), HF_OK);
	}
	/* One past the bound: accepted by the kernel, closed at once by the shard. */
	int extra = hf_tc_connect(f->srv.port);
	assert_true(hf_tc_closed_within(extra, 5000));
	close(extra);
	/* The open ones still work. */
	for (int i = 0; i < CONNECTIONS_MAX; i++) {
		hf_req_ping(&req, 100 + (uint64_t)i);
		assert_int_equal(hf_tc_call(fds[i], &req, f->rep), HF_OK);
	}
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 9;
	assert_int_equal(hf_tc_call(fds[0], &req, f->rep), HF_OK);
	assert_int_equal(hf_tc_stat(f->rep, "conns_open"), CONNECTIONS_MAX);
	assert_true(hf_tc_stat(f->rep, "conns_rejected") >= rejected_before + 1);
	for (int i = 0; i < CONNECTIONS_MAX; i++)
		close(fds[i]);
	wait_conns_open(f, 1);
}

static void test_idle_timeout(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.shards = 1, .extra = {"--idle-timeout", "1"}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	int fd = hf_tc_connect(srv.port);
	struct hf_reply *rep = hf_reply_new();
	struct hf_request req;
	hf_req_ping(&req, 1);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	/* Idle for a second, found by the scan within another: closed. */
	assert_true(hf_tc_closed_within(fd, 5000));
	close(fd);
	assert_true(hf_tc_stat_of(srv.port, "conns_closed_idle") >= 1);
	free(rep);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
}

int main(void)
{
	srand((unsigned)time(NULL));
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncated_frames),
	    cmocka_unit_test(test_oversized_body),
	    cmocka_unit_test(test_bad_headers_close),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_answered_errors_keep_connection),
	    cmocka_unit_test(test_slow_reader_is_bounded),
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_idle_timeout),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
