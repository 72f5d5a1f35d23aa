/* Goal: the metrics endpoint stays bounded and truthful when shards do not answer: a shard that
 * accepts but never replies costs one scrape at most HF_METRICS_SHARD_TIMEOUT_MS, a port nobody
 * listens on is "connection refused"; /health says 503 with the first reason, /metrics reports
 * holdfast_shard_up 0 for both and still answers 200.
 * Method: no holdfastd: the endpoint (hf_metrics_start) is pointed at two ports of this process,
 * P (a listening socket that never accepts: the connect completes in the backlog, STATS is never
 * answered) and P + 1 (closed, when it is free); GET /health and /metrics over loopback and time
 * them. */
#include "engine/metrics.h"

#include "base/clock.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESPONSE_SIZE_MAX (256u * 1024u)

static int listen_on(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A listening port P whose P + 1 nobody listens on (bounded search). */
static int silent_shard(uint16_t *port_out)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		uint16_t p = (uint16_t)(20000 + (unsigned)(hf_clock_mono_ns() / 1000u) % 30000u);
		int fd = listen_on(p);
		if (fd < 0)
			continue;
		int probe = listen_on((uint16_t)(p + 1)); /* free now: close it, nobody listens */
		if (probe >= 0) {
			close(probe);
			*port_out = p;
			return fd;
		}
		close(fd);
	}
	fail_msg("no free pair of loopback ports");
	return -1;
}

static char *get(uint16_t port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char req[128];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
	assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	char *buf = malloc(RESPONSE_SIZE_MAX + 1);
	size_t got = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, (int)HF_METRICS_REQUEST_MS + 1000), 1);
		ssize_t r = recv(fd, buf + got, RESPONSE_SIZE_MAX - got, 0);
		if (r <= 0 || got + (size_t)r >= RESPONSE_SIZE_MAX)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
}

static void test_silent_and_refused_shards(void **state)
{
	(void)state;
	static struct hf_engine_config cfg;
	char err[256];
	char *argv[] = {"holdfastd", "--shards", "2", "--metrics-listen", "127.0.0.1:0"};
	assert_int_equal(hf_engine_config_parse(5, argv, 2, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	int silent = silent_shard(&cfg.port);
	struct hf_metrics *m = NULL;
	assert_int_equal(hf_metrics_start(&cfg, "test", &m), 0);
	uint16_t port = hf_metrics_port(m);

	uint64_t t0 = hf_clock_mono_ms();
	char *resp = get(port, "/health");
	uint64_t took_ms = hf_clock_mono_ms() - t0;
	assert_non_null(strstr(resp, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(resp, "shard 0: no answer within 1000 ms\n"));
	assert_true(took_ms >= HF_METRICS_SHARD_TIMEOUT_MS - 50);
	assert_true(took_ms < HF_METRICS_REQUEST_MS);
	free(resp);

	resp = get(port, "/metrics");
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "holdfast_shard_up{shard=\"0\"} 0\n"));
	assert_non_null(strstr(resp, "holdfast_shard_up{shard=\"1\"} 0\n"));
	/* Two shards missing in each of the two requests. */
	assert_non_null(strstr(resp, "holdfast_metrics_shard_failures_total 4\n"));
	assert_null(strstr(resp, "holdfast_ops_total{"));
	free(resp);
	hf_metrics_stop(m);
	close(silent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_silent_and_refused_shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
