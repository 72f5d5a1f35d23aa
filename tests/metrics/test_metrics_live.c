/* Goal: a real holdfastd with --metrics-listen serves /metrics and /health over HTTP/1.1, its
 * counters follow the requests sent to the shards, and every bound of the endpoint holds: the
 * connection cap, the request-head size, the per-connection time limit, bad requests.
 * Method: start holdfastd (2 shards, durability none, --metrics-listen 127.0.0.1:0) with the
 * engine tests' harness, read the bound port from its log, create an event and send N holds with
 * the raw client, then GET /metrics and compare holdfast_ops_total{op="hold"} with N; open
 * HF_METRICS_CONNS_MAX idle connections and check the next one is closed at once (and that a
 * scrape works again once they go); send an oversized head (431), a request in one-byte pieces
 * (200), a POST (405), and a silent connection (closed within the time limit); with the shards'
 * idle timeout at 1 s, scrape across several idle closes of the endpoint's kept connections and
 * require every shard up in every scrape. */
#include "engine/metrics.h"
#include "tests/engine/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOLDS_COUNT	  250u
#define RESPONSE_SIZE_MAX (256u * 1024u)
#define PORT_WAIT_MS	  10000u

static struct hf_srv srv;
static uint16_t metrics_port;

static uint16_t read_metrics_port(void)
{
	static const char needle[] = "metrics: serving on 127.0.0.1:";
	uint64_t deadline = hf_mono_ms() + PORT_WAIT_MS;
	while (hf_mono_ms() < deadline) {
		FILE *f = fopen(srv.log_path, "r");
		char line[1024];
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			char *p = strstr(line, needle);
			if (p != NULL) {
				fclose(f);
				return (uint16_t)atoi(p + sizeof(needle) - 1);
			}
		}
		if (f != NULL)
			fclose(f);
		hf_sleep_ms(20);
	}
	fail_msg("no 'metrics: serving on' line in %s within %u ms", srv.log_path, PORT_WAIT_MS);
	return 0;
}

static int http_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(metrics_port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until EOF (bounded by timeout_ms and RESPONSE_SIZE_MAX) into a malloc'd string. */
static char *read_all(int fd, int timeout_ms)
{
	char *buf = malloc(RESPONSE_SIZE_MAX + 1);
	size_t got = 0;
	uint64_t deadline = hf_mono_ms() + (uint64_t)timeout_ms;
	while (got < RESPONSE_SIZE_MAX) {
		int left = (int)(deadline > hf_mono_ms() ? deadline - hf_mono_ms() : 0);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left == 0 || poll(&p, 1, left) != 1)
			fail_msg("no end of the HTTP response within %d ms", timeout_ms);
		ssize_t n = recv(fd, buf + got, RESPONSE_SIZE_MAX - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return buf;
}

static char *http(const char *request)
{
	int fd = http_connect();
	hf_tc_write_all(fd, request, strlen(request));
	char *resp = read_all(fd, 5000);
	close(fd);
	return resp;
}

/* The value of the first sample line starting with `series ` in text, or -1. */
static long long sample(const char *text, const char *series)
{
	size_t len = strlen(series);
	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, series, len) == 0 && p[len] == ' ')
			return atoll(p + len + 1);
	return -1;
}

static int setup(void **state)
{
	(void)state;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {
	    .shards = 2,
	    .durability = "none",
	    .extra = {"--metrics-listen", "127.0.0.1:0", "--idle-timeout", "1"}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	metrics_port = read_metrics_port();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	return 0;
}

static void send_holds(uint64_t *event_out, uint32_t *shard_out)
{
	int fd = hf_tc_connect(srv.port);
	struct hf_request req;
	struct hf_reply *rep = hf_reply_new();
	req = (struct hf_request){.opcode = HF_OP_SLOT_MAP, .request_id = 1};
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	struct hf_slot_map *map = malloc(sizeof(*map));
	*map = rep->slot_map;
	close(fd);
	uint64_t ev = hf_event_owned_by(map, 1, 777);
	fd = hf_tc_connect((uint16_t)(srv.port + 1));
	hf_req_create(&req, 2, ev, HOLDS_COUNT);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	for (uint32_t i = 0; i < HOLDS_COUNT; i++) {
		hf_req_hold(&req, 10 + i, ev, 1000 + i, 60000, i, 1);
		assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	}
	close(fd);
	free(map);
	free(rep);
	*event_out = ev;
	*shard_out = 1;
}

static void test_metrics_follow_holds(void **state)
{
	(void)state;
	uint64_t ev;
	uint32_t shard;
	send_holds(&ev, &shard);
	char *resp = http("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	assert_int_equal(sample(resp, "holdfast_ops_total{shard=\"1\",op=\"hold\"}"), HOLDS_COUNT);
	assert_int_equal(sample(resp, "holdfast_ops_total{shard=\"0\",op=\"hold\"}"), 0);
	assert_int_equal(sample(resp, "holdfast_seats{shard=\"1\",state=\"held\"}"), HOLDS_COUNT);
	assert_int_equal(sample(resp, "holdfast_seats{shard=\"1\",state=\"free\"}"), 0);
	assert_int_equal(sample(resp, "holdfast_holds_live{shard=\"1\"}"), HOLDS_COUNT);
	/* Every hold is in the shard's latency histogram, each under the +Inf bucket. */
	assert_int_equal(sample(resp, "holdfast_op_latency_seconds_count{shard=\"1\",op=\"hold\"}"),
			 HOLDS_COUNT);
	assert_int_equal(
	    sample(resp, "holdfast_op_latency_seconds_bucket{shard=\"1\",op=\"hold\",le=\"+Inf\"}"),
	    HOLDS_COUNT);
	assert_int_equal(sample(resp, "holdfast_shard_up{shard=\"0\"}"), 1);
	assert_int_equal(sample(resp, "holdfast_persist_durability{shard=\"0\",mode=\"none\"}"), 1);
	/* RSS is real: far below the reserved pools. */
	long long rss = sample(resp, "holdfast_process_resident_memory_bytes");
	long long reserved = sample(resp, "holdfast_store_reserved_bytes{shard=\"0\"}");
	assert_true(rss > 0);
	assert_true(reserved > 0);
	assert_true(rss / 1024 <= hf_srv_rss_kb(&srv) * 2);
	free(resp);
	resp = http("GET /health HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "ok: 2 shards serving\n"));
	free(resp);
	resp = http("HEAD /health HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_null(strstr(resp, "ok: 2"));
	free(resp);
}

static void test_bad_requests(void **state)
{
	(void)state;
	char *resp = http("POST /metrics HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 405 "));
	free(resp);
	resp = http("GET /admin HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 404 "));
	free(resp);
	resp = http("\x16\x03\x01\x02\x01\xfc\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 400 "));
	free(resp);
	/* A head that never ends within the size bound. */
	char *big = malloc(HF_METRICS_REQUEST_SIZE_MAX + 64);
	memset(big, 'a', HF_METRICS_REQUEST_SIZE_MAX + 63);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	big[HF_METRICS_REQUEST_SIZE_MAX + 63] = '\0';
	int fd = http_connect();
	(void)send(fd, big, strlen(big), MSG_NOSIGNAL);
	resp = read_all(fd, 5000);
	close(fd);
	assert_non_null(strstr(resp, "HTTP/1.1 431 "));
	free(resp);
	free(big);
	/* The same good request, one byte at a time. */
	static const char req[] = "GET /health HTTP/1.1\r\n\r\n";
	fd = http_connect();
	for (size_t i = 0; i < sizeof(req) - 1; i++)
		hf_tc_write_all(fd, req + i, 1);
	resp = read_all(fd, 5000);
	close(fd);
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	free(resp);
}

static void test_connection_cap_and_time_limit(void **state)
{
	(void)state;
	int fds[HF_METRICS_CONNS_MAX];
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++)
		fds[i] = http_connect();
	/* Let the endpoint accept them all, then one more is closed at once. */
	hf_sleep_ms(200);
	int extra = http_connect();
	assert_true(hf_tc_closed_within(extra, 2000));
	close(extra);
	/* A silent connection is closed by the time limit (bounded wait). */
	uint64_t t0 = hf_mono_ms();
	assert_true(hf_tc_closed_within(fds[0], (int)HF_METRICS_REQUEST_MS + 2000));
	assert_true(hf_mono_ms() - t0 <= HF_METRICS_REQUEST_MS + 2000);
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++)
		close(fds[i]);
	/* With the slots free again, a scrape is answered. */
	uint64_t deadline = hf_mono_ms() + 5000;
	int ok = 0;
	while (!ok && hf_mono_ms() < deadline) {
		char *resp = http("GET /metrics HTTP/1.1\r\n\r\n");
		ok = strstr(resp, "HTTP/1.1 200 OK\r\n") != NULL;
		free(resp);
		if (!ok)
			hf_sleep_ms(50);
	}
	assert_true(ok);
}

/* The endpoint keeps one connection per shard; a shard's idle timeout closes it between scrapes,
 * and the next scrape replaces it without reporting the shard down. */
static void test_kept_connection_replaced(void **state)
{
	(void)state;
	for (int round = 0; round < 2; round++) {
		char *resp = http("GET /metrics HTTP/1.1\r\n\r\n");
		assert_int_equal(sample(resp, "holdfast_shard_up{shard=\"0\"}"), 1);
		assert_int_equal(sample(resp, "holdfast_shard_up{shard=\"1\"}"), 1);
		free(resp);
		/* Wait (bounded) until shard 0 closed a connection for idleness: the kept one. */
		int64_t before = hf_tc_stat_of(srv.port, "conns_closed_idle");
		uint64_t deadline = hf_mono_ms() + 5000;
		while (hf_tc_stat_of(srv.port, "conns_closed_idle") == before &&
		       hf_mono_ms() < deadline)
			hf_sleep_ms(100);
		int64_t after = hf_tc_stat_of(srv.port, "conns_closed_idle");
		printf("round %d: conns_closed_idle %lld -> %lld\n", round, (long long)before,
		       (long long)after);
		assert_true(after > before);
	}
	char *resp = http("GET /metrics HTTP/1.1\r\n\r\n");
	assert_int_equal(sample(resp, "holdfast_shard_up{shard=\"0\"}"), 1);
	assert_true(sample(resp, "holdfast_connections_closed_idle_total{shard=\"0\"}") >= 2);
	free(resp);
}

/* A metrics port that cannot be bound stops the start-up with a clear line and exit 1. */
static void test_metrics_port_in_use(void **state)
{
	(void)state;
	struct hf_srv other;
	hf_srv_init(&other);
	char listen[32];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)metrics_port);
	struct hf_srv_opts opts = {.shards = 1,
				   .durability = "none",
				   .extra = {"--metrics-listen", listen},
				   .expect_fail = 1};
	assert_int_equal(hf_srv_start(&other, &opts), 1);
	assert_true(hf_srv_log_contains(&other, "metrics: cannot listen on"));
	hf_srv_cleanup(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_follow_holds),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_connection_cap_and_time_limit),
	    cmocka_unit_test(test_kept_connection_replaced),
	    cmocka_unit_test(test_metrics_port_in_use),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
