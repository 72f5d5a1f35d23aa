/* Goal: the metrics renderer turns STATS entries into valid Prometheus exposition text with the
 * documented names (one # HELP and # TYPE per family, samples of a family contiguous, labels for
 * shard, op, status and enumerations, base units), reports missing shards, refuses an output that
 * does not fit, renders histograms in the documented shape, and the HTTP router and the
 * --metrics-listen flag accept what they should and refuse the rest.
 * Method: build struct hf_metrics_shard values by hand (the valid case, a down shard, a degraded
 * one, a STATS entry the table does not know, hostile label bytes), render, and check the text
 * line by line; route request heads (good, bad method, unknown path, garbage); parse flags. */
#include "engine/config.h"
#include "engine/metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE (1024u * 1024u)

static void shard_fill(struct hf_metrics_shard *s, uint32_t index)
{
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->up = 1;
	s->took_us = 250;
	hf_stats_add(&s->stats, "shard_index", index);
	hf_stats_add(&s->stats, "uptime_ms", 12345);
	hf_stats_add(&s->stats, "ring_mode", 2);
	hf_stats_add(&s->stats, "conns_open", 3);
	hf_stats_add(&s->stats, "ops_hold", 100 + index);
	hf_stats_add(&s->stats, "ops_confirm", 7);
	hf_stats_add(&s->stats, "replies_error", 5);
	hf_stats_add(&s->stats, "replies_busy", 2);
	hf_stats_add(&s->stats, "degraded", 0);
	hf_stats_add(&s->stats, "persist_durability", 1);
	hf_stats_add(&s->stats, "persist_commits", 10);
	hf_stats_add(&s->stats, "persist_commit_us_avg", 150);
	hf_stats_add(&s->stats, "persist_commit_us_max", 2500);
	hf_stats_add(&s->stats, "store_free", 90);
	hf_stats_add(&s->stats, "store_held", 6);
	hf_stats_add(&s->stats, "store_booked", 4);
	hf_stats_add(&s->stats, "store_memory_bytes", 1644741384);
}

static const struct hf_metrics_process proc = {
    .resident_bytes = 242u * 1024u * 1024u,
    .virtual_bytes = 4000u * 1024u * 1024u,
    .cpu_us = 1500000,
    .start_time_s = 1700000000,
    .shards_count = 2,
    .version = "9.8.7",
};

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, len) == 0)
			n++;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

/* Every family's samples follow its # TYPE line without another family in between. */
static void assert_families_contiguous(const char *text)
{
	char seen[256][96];
	int seen_count = 0;
	char current[96] = "";
	for (const char *p = text; *p != '\0';) {
		const char *eol = strchr(p, '\n');
		assert_non_null(eol);
		if (strncmp(p, "# TYPE ", 7) == 0) {
			sscanf(p + 7, "%95s", current);
			for (int i = 0; i < seen_count; i++)
				assert_string_not_equal(seen[i], current);
			assert_true(seen_count < 256);
			snprintf(seen[seen_count++], sizeof(seen[0]), "%s", current);
		} else if (p[0] != '#') {
			size_t cl = strlen(current);
			assert_true(cl > 0);
			assert_memory_equal(p, current, cl);
			assert_true(p[cl] == '{' || p[cl] == ' ' || p[cl] == '_');
		}
		p = eol + 1;
	}
}

static void test_render_names(void **state)
{
	(void)state;
	struct hf_metrics_shard *sh = calloc(2, sizeof(*sh));
	char *buf = malloc(BUF_SIZE);
	shard_fill(&sh[0], 0);
	shard_fill(&sh[1], 1);
	size_t n = hf_metrics_render(sh, 2, &proc, NULL, 0, buf, BUF_SIZE);
	assert_true(n > 0);
	assert_int_equal(strlen(buf), n);
	assert_families_contiguous(buf);
	assert_non_null(strstr(buf, "holdfast_ops_total{shard=\"0\",op=\"hold\"} 100\n"));
	assert_non_null(strstr(buf, "holdfast_ops_total{shard=\"1\",op=\"hold\"} 101\n"));
	assert_non_null(strstr(buf, "holdfast_replies_total{shard=\"0\",status=\"BUSY\"} 2\n"));
	assert_non_null(strstr(buf, "holdfast_error_replies_total{shard=\"1\"} 5\n"));
	assert_non_null(strstr(buf, "holdfast_uptime_seconds{shard=\"0\"} 12.345\n"));
	assert_non_null(strstr(buf, "holdfast_persist_commit_max_seconds{shard=\"0\"} 0.002500\n"));
	assert_non_null(
	    strstr(buf, "holdfast_persist_commit_seconds_total{shard=\"0\"} 0.001500\n"));
	assert_non_null(strstr(buf, "holdfast_seats{shard=\"1\",state=\"held\"} 6\n"));
	assert_non_null(strstr(buf, "holdfast_ring_mode{shard=\"0\",mode=\"defer_taskrun\"} 1\n"));
	assert_non_null(strstr(buf, "holdfast_ring_mode{shard=\"0\",mode=\"plain\"} 0\n"));
	assert_non_null(strstr(buf, "holdfast_persist_durability{shard=\"0\",mode=\"wal\"} 1\n"));
	assert_non_null(strstr(buf, "holdfast_store_reserved_bytes{shard=\"0\"} 1644741384\n"));
	assert_non_null(strstr(buf, "holdfast_process_resident_memory_bytes 253755392\n"));
	assert_non_null(strstr(buf, "holdfast_build_info{version=\"9.8.7\",protocol=\"1\"} 1\n"));
	assert_non_null(strstr(buf, "holdfast_shard_up{shard=\"1\"} 1\n"));
	/* One HELP and one TYPE per family, and every counter ends in _total. */
	assert_int_equal(count_lines(buf, "# HELP "), count_lines(buf, "# TYPE "));
	assert_int_equal(count_lines(buf, "# TYPE holdfast_ops_total "), 1);
	assert_int_equal(count_lines(buf, "# TYPE holdfast_seats "), 1);
	for (const char *p = strstr(buf, " counter\n"); p != NULL;
	     p = strstr(p + 1, " counter\n")) {
		const char *line = p;
		while (line > buf && line[-1] != '\n')
			line--;
		assert_memory_equal(p - 6, "_total", 6);
	}
	/* Raw STATS names never leak as families. */
	assert_null(strstr(buf, "holdfast_store_memory_bytes"));
	assert_null(strstr(buf, "holdfast_stat{"));
	free(buf);
	free(sh);
}

static void test_render_down_unknown_hostile(void **state)
{
	(void)state;
	struct hf_metrics_shard *sh = calloc(2, sizeof(*sh));
	char *buf = malloc(BUF_SIZE);
	shard_fill(&sh[0], 0);
	hf_stats_add(&sh[0].stats, "new_counter", 42);
	hf_stats_add(&sh[0].stats, "ops_we\"ird\\x", 1);
	sh[1].index = 1;
	sh[1].up = 0;
	snprintf(sh[1].reason, sizeof(sh[1].reason), "no answer within 1000 ms");
	size_t n = hf_metrics_render(sh, 2, &proc, NULL, 0, buf, BUF_SIZE);
	assert_true(n > 0);
	assert_families_contiguous(buf);
	assert_non_null(strstr(buf, "holdfast_shard_up{shard=\"1\"} 0\n"));
	assert_null(strstr(buf, "{shard=\"1\",op="));
	assert_non_null(strstr(buf, "holdfast_stat{shard=\"0\",name=\"new_counter\"} 42\n"));
	assert_non_null(strstr(buf, "op=\"we\\\"ird\\\\x\"} 1\n"));

	char reason[256];
	assert_int_equal(hf_metrics_healthy(sh, 2, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "shard 1: no answer within 1000 ms");
	shard_fill(&sh[1], 1);
	assert_int_equal(hf_metrics_healthy(sh, 2, reason, sizeof(reason)), 1);
	assert_string_equal(reason, "ok: 2 shards serving");
	/* The valid case that becomes invalid: a shard that degrades. */
	sh[1].stats.stats_count = 0;
	hf_stats_add(&sh[1].stats, "degraded", 1);
	assert_int_equal(hf_metrics_healthy(sh, 2, reason, sizeof(reason)), 0);
	assert_non_null(strstr(reason, "shard 1: degraded"));
	free(buf);
	free(sh);
}

static void test_render_overflow(void **state)
{
	(void)state;
	struct hf_metrics_shard *sh = calloc(1, sizeof(*sh));
	char *buf = malloc(BUF_SIZE);
	shard_fill(&sh[0], 0);
	size_t full = hf_metrics_render(sh, 1, &proc, NULL, 0, buf, BUF_SIZE);
	assert_true(full > 0);
	/* Exactly enough (with the NUL) fits; one byte less does not. */
	assert_int_equal(hf_metrics_render(sh, 1, &proc, NULL, 0, buf, full + 1), full);
	assert_int_equal(hf_metrics_render(sh, 1, &proc, NULL, 0, buf, full), 0);
	assert_int_equal(hf_metrics_render(sh, 1, &proc, NULL, 0, buf, 16), 0);
	free(buf);
	free(sh);
}

static void test_render_histogram(void **state)
{
	(void)state;
	struct hf_metrics_histogram *h = calloc(2, sizeof(*h));
	char *buf = malloc(BUF_SIZE);
	for (int i = 0; i < 2; i++) {
		h[i].family = "op_latency";
		h[i].help = "Time from frame parsed to reply sent.";
		h[i].label_name = "op";
		snprintf(h[i].label_value, sizeof(h[i].label_value), "%s",
			 i == 0 ? "hold" : "confirm");
		h[i].buckets_count = 3;
		h[i].bounds_us[0] = 100;
		h[i].bounds_us[1] = 1000;
		h[i].bounds_us[2] = 250000;
		h[i].counts[0] = 5;
		h[i].counts[1] = 9;
		h[i].counts[2] = 10;
		h[i].count = 11;
		h[i].sum_us = 2000000;
	}
	size_t n = hf_metrics_render(NULL, 0, &proc, h, 2, buf, BUF_SIZE);
	assert_true(n > 0);
	assert_families_contiguous(buf);
	assert_int_equal(count_lines(buf, "# TYPE holdfast_op_latency_seconds histogram"), 1);
	assert_non_null(strstr(
	    buf,
	    "holdfast_op_latency_seconds_bucket{shard=\"0\",op=\"hold\",le=\"0.000100\"} 5\n"));
	assert_non_null(strstr(
	    buf,
	    "holdfast_op_latency_seconds_bucket{shard=\"0\",op=\"confirm\",le=\"+Inf\"} 11\n"));
	assert_non_null(
	    strstr(buf, "holdfast_op_latency_seconds_sum{shard=\"0\",op=\"hold\"} 2.000000\n"));
	assert_non_null(
	    strstr(buf, "holdfast_op_latency_seconds_count{shard=\"0\",op=\"hold\"} 11\n"));
	free(buf);
	free(h);
}

static int route(const char *head, const char **path)
{
	return hf_metrics_http_route(head, strlen(head), path);
}

static void test_http_route(void **state)
{
	(void)state;
	const char *path = NULL;
	assert_int_equal(route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &path), 200);
	assert_string_equal(path, "/metrics");
	assert_int_equal(route("GET /health HTTP/1.0\r\n\r\n", &path), 200);
	assert_string_equal(path, "/health");
	assert_int_equal(route("HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", &path), 200);
	assert_string_equal(path, "/metrics");
	assert_int_equal(route("POST /metrics HTTP/1.1\r\n\r\n", &path), 405);
	assert_int_equal(route("GET /metricsx HTTP/1.1\r\n\r\n", &path), 404);
	assert_null(path);
	assert_int_equal(route("GET / HTTP/1.1\r\n\r\n", &path), 404);
	assert_int_equal(route("GET /metrics\r\n\r\n", &path), 400);
	assert_int_equal(route("GET /metrics SPDY/3\r\n\r\n", &path), 400);
	assert_int_equal(route("\x16\x03\x01garbage", &path), 400);
	assert_int_equal(route("", &path), 400);
}

static void test_flag(void **state)
{
	(void)state;
	struct hf_engine_config cfg;
	char err[256];
	char *ok[] = {"holdfastd", "--metrics-listen", "127.0.0.1:0"};
	assert_int_equal(hf_engine_config_parse(3, ok, 2, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	assert_int_equal(cfg.metrics_enabled, 1);
	assert_string_equal(cfg.metrics_host, "127.0.0.1");
	assert_int_equal(cfg.metrics_port, 0);
	char *off[] = {"holdfastd"};
	assert_int_equal(hf_engine_config_parse(1, off, 2, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	assert_int_equal(cfg.metrics_enabled, 0);
	const char *bad[] = {"localhost:9000", "127.0.0.1", "127.0.0.1:65536", "1.2.3.4:-1",
			     "127.0.0.1:7071"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"holdfastd", "--shards", "2", "--metrics-listen", (char *)bad[i]};
		assert_int_equal(hf_engine_config_parse(5, argv, 2, &cfg, err, sizeof(err)),
				 HF_CONFIG_BAD);
		assert_non_null(strstr(err, "--metrics-listen"));
	}
}

static void test_process(void **state)
{
	(void)state;
	struct hf_metrics_process p = {0};
	assert_int_equal(hf_metrics_read_process(&p), 0);
	assert_true(p.resident_bytes > 0);
	assert_true(p.resident_bytes <= p.virtual_bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_names),
	    cmocka_unit_test(test_render_down_unknown_hostile),
	    cmocka_unit_test(test_render_overflow),
	    cmocka_unit_test(test_render_histogram),
	    cmocka_unit_test(test_http_route),
	    cmocka_unit_test(test_flag),
	    cmocka_unit_test(test_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
