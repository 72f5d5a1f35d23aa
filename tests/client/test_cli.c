/* Goal: every holdfast CLI command works against a real holdfastd with the documented spellings,
 * output, exit status (0 success, 1 refused, 2 usage or connection error) and one-line stderr
 * reasons, and --json prints one well-formed JSON value with the documented keys.
 *
 * Method: start holdfastd (argv[1]) with 2 shards and durability wal (so backup has data), run the
 * holdfast binary (argv[2]) as a child process for each case, capture stdout, stderr and the exit
 * status, and check them; JSON output goes through a small strict validator. Exits 77 when either
 * binary is missing. */
#include "tests/client/server_proc.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define OUT_SIZE_MAX   (256u * 1024u)
#define ARGV_MAX       32u
#define RUN_TIMEOUT_MS 30000u
#define JSON_DEPTH_MAX 32

extern char **environ;

static const char *holdfastd_path;
static const char *holdfast_path;
static struct server_proc server;

struct run {
	int status; /* exit status, or -1 when killed */
	char out[OUT_SIZE_MAX];
	char err[OUT_SIZE_MAX];
};

static struct run r;

/* Runs holdfast --host <server> args... (NULL-terminated) into r. */
static int run_v(int with_host, const char *first, va_list ap)
{
	const char *argv[ARGV_MAX];
	uint32_t n = 0;
	argv[n++] = holdfast_path;
	if (with_host) {
		argv[n++] = "--host";
		argv[n++] = server.addr;
	}
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
		assert_true(n < ARGV_MAX - 1);
		argv[n++] = a;
	}
	argv[n] = NULL;
	int out_pipe[2];
	int err_pipe[2];
	assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err_pipe[1], STDERR_FILENO);
	pid_t pid;
	int rc = posix_spawn(&pid, holdfast_path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	close(out_pipe[1]);
	close(err_pipe[1]);
	size_t out_len = 0;
	size_t err_len = 0;
	int open_count = 2;
	struct pollfd pfds[2] = {{.fd = out_pipe[0], .events = POLLIN},
				 {.fd = err_pipe[0], .events = POLLIN}};
	uint64_t deadline = hf_clock_mono_ms() + RUN_TIMEOUT_MS;
	while (open_count > 0 && hf_clock_mono_ms() < deadline) {
		if (poll(pfds, 2, 100) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pfds[i].fd < 0 || pfds[i].revents == 0)
				continue;
			char *buf = i == 0 ? r.out : r.err;
			size_t *len = i == 0 ? &out_len : &err_len;
			ssize_t k = read(pfds[i].fd, buf + *len, OUT_SIZE_MAX - 1 - *len);
			if (k <= 0) {
				close(pfds[i].fd);
				pfds[i].fd = -1;
				open_count--;
				continue;
			}
			*len += (size_t)k;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (pfds[i].fd >= 0)
			close(pfds[i].fd);
	}
	r.out[out_len] = '\0';
	r.err[err_len] = '\0';
	if (open_count > 0)
		kill(pid, SIGKILL);
	int wstatus;
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
	}
	r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	return r.status;
}

/* holdfast --host <test server> args... */
static int run(const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	int rc = run_v(1, first, ap);
	va_end(ap);
	return rc;
}

/* holdfast args... (no --host) */
static int run_bare(const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	int rc = run_v(0, first, ap);
	va_end(ap);
	return rc;
}

static void expect(int status, const char *out_prefix)
{
	if (r.status != status ||
	    (out_prefix != NULL && strncmp(r.out, out_prefix, strlen(out_prefix)) != 0))
		fail_msg("exit %d (want %d)\nstdout: %s\nstderr: %s", r.status, status, r.out,
			 r.err);
}

/* A refusal or error: the exit status, nothing but one line on stderr starting with prefix. */
static void expect_err(int status, const char *err_prefix)
{
	expect(status, NULL);
	if (strncmp(r.err, err_prefix, strlen(err_prefix)) != 0)
		fail_msg("stderr '%s' does not start with '%s'", r.err, err_prefix);
	const char *nl = strchr(r.err, '\n');
	if (nl == NULL || nl[1] != '\0')
		fail_msg("stderr is not exactly one line: '%s'", r.err);
}

/* ---- A strict, small JSON validator ---- */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
	if (*p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++) {
					char c = p[i];
					if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					      (c >= 'A' && c <= 'F')))
						return NULL;
				}
				p += 4;
			} else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *json_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *json_value(const char *p, int depth)
{
	if (depth > JSON_DEPTH_MAX)
		return NULL;
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int object = *p == '{';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (object) {
				p = json_string(json_ws(p));
				if (p == NULL)
					return NULL;
				p = json_ws(p);
				if (*p != ':')
					return NULL;
				p++;
			}
			p = json_value(p, depth + 1);
			if (p == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p++;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return json_number(p);
}

static void expect_json(void)
{
	const char *end = json_value(r.out, 0);
	if (end == NULL || *json_ws(end) != '\0')
		fail_msg("stdout is not one JSON value: '%s'", r.out);
}

/* The number after "key": in the output (the first one), or fails. */
static uint64_t json_u64(const char *key)
{
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	const char *at = strstr(r.out, pattern);
	if (at == NULL)
		fail_msg("no key %s in '%s'", key, r.out);
	return strtoull(at + strlen(pattern), NULL, 10);
}

static void expect_has(const char *what)
{
	if (strstr(r.out, what) == NULL)
		fail_msg("stdout '%s' lacks '%s'", r.out, what);
}

/* ---- Tests ---- */

static void test_help(void **state)
{
	(void)state;
	run_bare("--help", NULL);
	expect(0, "usage: holdfast");
	expect_has("event create EVENT --seats N");
	expect_has("backup --to DIR");
	run_bare("hold", "--help", NULL);
	expect(0, "usage: holdfast hold EVENT --user U");
	run_bare("event", "create", "--help", NULL);
	expect(0, "usage: holdfast event create");
	run_bare("help", "avail", NULL);
	expect(0, "usage: holdfast avail");
	run_bare(NULL);
	expect(2, NULL);
}

static void test_usage_errors(void **state)
{
	(void)state;
	static const char *const cases[][8] = {
	    {"frobnicate"},
	    {"event"},
	    {"event", "destroy", "1"},
	    {"event", "create", "1"},
	    {"event", "create", "0", "--seats", "10"},
	    {"event", "create", "1", "--seats", "12abc"},
	    {"event", "create", "1", "--seats", "-5"},
	    {"event", "create", "1", "--seats", "99999999999999999999999"},
	    {"event", "create", "1", "--seats", "16777217"},
	    {"event", "create", "1", "--seats", "10", "--hold-lifetime", "0"},
	    {"event", "create", "18446744073709551616", "--seats", "10"},
	    {"hold", "5", "--best", "1"},
	    {"hold", "5", "--user", "1"},
	    {"hold", "5", "--user", "1", "--seats", "1", "--best", "2"},
	    {"hold", "5", "--user", "1", "--seats", "1,,2"},
	    {"hold", "5", "--user", "1", "--seats", "3-1"},
	    {"hold", "5", "--user", "1", "--best", "65"},
	    {"hold", "5", "--user", "x", "--best", "1"},
	    {"hold", "5", "--user", "1", "--best", "1", "--ttl", "0"},
	    {"hold", "5", "--user", "1", "--best", "1", "--id", "0"},
	    {"hold", "5", "--user", "1", "--best", "1", "--bogus"},
	    {"hold", "5", "--user"},
	    {"extend", "5", "6"},
	    {"confirm", "5"},
	    {"release", "5", "6", "7"},
	    {"cancel", "5", " 6"},
	    {"avail", "5", "--range", "3"},
	    {"avail", "5", "--range", "3:0"},
	    {"avail", "5", "--range", "4294967295:2"},
	    {"seats", "5"},
	    {"seats", "5", "0-2000"},
	    {"stats", "extra"},
	    {"backup"},
	    {"--timeout", "0", "ping"},
	    {"--timeout", "abc", "ping"},
	    {"--bogus", "ping"},
	};
	for (size_t i = 0; i < HF_ARRAY_SIZE(cases); i++) {
		const char *const *c = cases[i];
		run(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], NULL);
		if (r.status != 2 || strncmp(r.err, "holdfast: ", 10) != 0 || r.out[0] != '\0' ||
		    strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
			fail_msg("case %zu (%s %s %s ...): exit %d, stdout '%s', stderr '%s'", i,
				 c[0], c[1] ? c[1] : "", c[2] ? c[2] : "", r.status, r.out, r.err);
	}
}

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

static void test_connection_errors(void **state)
{
	(void)state;
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%u", dead_port());
	run_bare("--host", host, "ping", NULL);
	expect_err(2, "holdfast: cannot get the slot map from 127.0.0.1:");
	run_bare("--host", "nonsense", "ping", NULL);
	expect_err(2, "holdfast: ping: --host 'nonsense' is not HOST:PORT");
	run_bare("--host", host, "--json", "event", "info", "5", NULL);
	expect_err(2, "holdfast: cannot get the slot map");
	assert_string_equal(r.out, "");
}

static void test_event_commands(void **state)
{
	(void)state;
	run("event", "create", "77", "--seats", "500", "--row-width", "50", "--user-limit", "6",
	    NULL);
	expect(0, "event 77 created: 500 seats, rows of 50, user limit 6, hold lifetime ");
	run("--json", "event", "create", "77", "--seats", "500", "--row-width", "50",
	    "--user-limit", "6", NULL);
	expect(0, "{");
	expect_json();
	assert_int_equal(json_u64("event_id"), 77);
	assert_int_equal(json_u64("seats"), 500);
	assert_int_equal(json_u64("row_width"), 50);
	assert_int_equal(json_u64("user_limit"), 6);
	assert_true(json_u64("hold_lifetime_s") >= 1);
	run("event", "create", "77", "--seats", "501", NULL);
	expect_err(1, "holdfast: event create refused: EVENT_EXISTS (event exists with different "
		      "parameters)\n");
	run("--json", "event", "create", "77", "--seats", "501", NULL);
	expect_err(1, "holdfast: event create refused: EVENT_EXISTS");
	expect_json();
	expect_has("\"error\":\"EVENT_EXISTS\"");
	run("event", "info", "77", NULL);
	expect(0, "event 77: 500 seats, rows of 50, user limit 6, hold lifetime ");
	expect_has("free 500, held 0, booked 0");
	run("event", "info", "77", "--json", NULL); /* global options may follow the command */
	expect_json();
	assert_int_equal(json_u64("free"), 500);
	assert_int_equal(json_u64("holds"), 0);
	run("event", "info", "78", NULL);
	expect_err(1, "holdfast: event info refused: NO_EVENT (no such event)\n");
	run("--timeout=5000", "event", "create", "79", "--seats=10", NULL);
	expect(0, "event 79 created: 10 seats, one row, no user limit, hold lifetime ");
	/* An event with its own per-user rate: the third hold of one user is RATE_LIMITED. */
	run("event", "create", "180", "--seats", "10", "--user-rate", "1:2", NULL);
	expect(0,
	       "event 180 created: 10 seats, one row, no user limit, user rate 1 holds/s (bursts "
	       "of 2), hold lifetime ");
	run("--json", "event", "create", "180", "--seats", "10", "--user-rate", "1:2", NULL);
	expect_json();
	assert_int_equal(json_u64("user_rate"), 1);
	assert_int_equal(json_u64("user_burst"), 2);
	run("hold", "180", "--user", "5", "--seats", "0", NULL);
	expect(0, "hold ");
	run("hold", "180", "--user", "5", "--seats", "1", NULL);
	expect(0, "hold ");
	run("hold", "180", "--user", "5", "--seats", "2", NULL);
	expect_err(1, "holdfast: hold refused: RATE_LIMITED");
	run("event", "create", "181", "--seats", "10", "--user-rate", "0", NULL);
	expect_err(
	    2, "holdfast: event create: --user-rate '0' is not RATE[:BURST], each in 1..1000000");
	run("event", "create", "181", "--seats", "10", "--user-rate", "5:x", NULL);
	expect_err(2, "holdfast: event create: --user-rate '5:x' is not RATE[:BURST]");
}

/* event delete: refused with live holds, forced, then the id is free; a client token may not. */
static void test_event_delete(void **state)
{
	(void)state;
	run("event", "create", "90", "--seats", "100", NULL);
	expect(0, NULL);
	run("hold", "90", "--user", "7", "--seats", "5,6", "--id", "900", NULL);
	expect(0, NULL);
	run("hold", "90", "--user", "7", "--seats", "7", "--id", "901", NULL);
	run("confirm", "90", "901", NULL);
	expect(0, NULL);
	run("event", "delete", "90", NULL);
	expect_err(1,
		   "holdfast: event delete refused: EVENT_HAS_HOLDS (the event has 1 live holds; "
		   "--force deletes it anyway)\n");
	run("--json", "event", "delete", "90", NULL);
	expect(1, "{\"error\":\"EVENT_HAS_HOLDS\",\"status\":35,\"detail\":1,");
	expect_json();
	run("event", "delete", "90", "--force", NULL);
	expect(0, "event 90 deleted\n");
	run("event", "info", "90", NULL);
	expect_err(1, "holdfast: event info refused: NO_EVENT (no such event)\n");
	run("event", "delete", "90", NULL);
	expect_err(1, "holdfast: event delete refused: NO_EVENT (no such event)\n");
	/* The id is free: a new event with other parameters, the old hold ids forgotten. */
	run("event", "create", "90", "--seats", "20", NULL);
	expect(0, "event 90 created: 20 seats");
	run("hold", "90", "--user", "8", "--seats", "5", "--id", "900", NULL);
	expect(0, "hold 900 on event 90: seats 5, expires ");
	run("release", "90", "900", NULL);
	run("--json", "event", "delete", "90", NULL);
	expect(0, "{\"event_id\":90,\"deleted\":true}\n");
	expect_json();
	run("event", "delete", NULL);
	expect_err(2, "holdfast: event delete: expected EVENT");
	run("event", "delete", "90", "--forse", NULL);
	assert_int_equal(r.status, 2);
}

static void test_hold_commands(void **state)
{
	(void)state;
	run("event", "create", "80", "--seats", "500", "--row-width", "50", "--user-limit", "6",
	    NULL);
	expect(0, NULL);
	run("hold", "80", "--user", "7", "--seats", "100,101,102", "--ttl", "300", NULL);
	expect(0, "hold ");
	uint64_t gen_id = strtoull(r.out + 5, NULL, 10);
	assert_true(gen_id != 0);
	char line[128];
	snprintf(line, sizeof(line), "hold %" PRIu64 " on event 80: seats 100-102, expires ",
		 gen_id);
	expect(0, line);
	run("--json", "hold", "80", "--user", "8", "--best", "4", "--id", "99", NULL);
	expect_json();
	assert_int_equal(json_u64("hold_id"), 99);
	assert_int_equal(json_u64("event_id"), 80);
	assert_int_equal(json_u64("user_id"), 8);
	assert_true(json_u64("deadline_ms") > hf_clock_wall_ms());
	expect_has("\"seats\":[0,1,2,3]");
	/* Resending with the same id is safe and answers the same. */
	run("hold", "80", "--user", "8", "--best", "4", "--id", "99", NULL);
	expect(0, "hold 99 on event 80: seats 0-3, expires ");
	run("hold", "80", "--user", "9", "--seats", "101", NULL);
	expect_err(1, "holdfast: hold refused: SEAT_TAKEN (seat 101 already held or booked)\n");
	run("--json", "hold", "80", "--user", "9", "--seats", "101", NULL);
	expect(1, "{\"error\":\"SEAT_TAKEN\",\"status\":19,\"detail\":101,");
	expect_json();
	run("hold", "80", "--user", "7", "--seats", "10-13", NULL);
	expect_err(1, "holdfast: hold refused: USER_LIMIT (");
	run("hold", "80", "--user", "9", "--seats", "500", NULL);
	expect_err(1, "holdfast: hold refused: SEAT_RANGE (seat 500 is outside the event)\n");
	run("extend", "80", "99", "--ttl", "600", NULL);
	expect(0, "hold 99 on event 80 extended: expires ");
	run("--json", "extend", "80", "99", "--ttl", "600", NULL);
	expect_json();
	assert_true(json_u64("deadline_ms") > 0);
	run("confirm", "80", "99", NULL);
	expect(0, "booking 99 on event 80: seats 0-3\n");
	run("--json", "confirm", "80", "99", NULL);
	expect_json();
	assert_int_equal(json_u64("booking_id"), 99);
	expect_has("\"seats\":[0,1,2,3]");
	char id[32];
	snprintf(id, sizeof(id), "%" PRIu64, gen_id);
	run("release", "80", id, NULL);
	snprintf(line, sizeof(line), "hold %" PRIu64 " on event 80 released\n", gen_id);
	expect(0, line);
	run("release", "80", "99", NULL);
	expect_err(1, "holdfast: release refused: HOLD_CONFIRMED (hold is already confirmed)\n");
	run("--json", "release", "80", "12345", NULL);
	expect_err(1, "holdfast: release refused: NO_HOLD");
	run("cancel", "80", "99", NULL);
	expect(0, "booking 99 on event 80 cancelled\n");
	run("cancel", "80", "12345", NULL);
	expect_err(1, "holdfast: cancel refused: NO_BOOKING (no such booking)\n");
	run("--json", "hold", "80", "--user", "11", "--seats", "7", "--id", "700", NULL);
	expect_json();
	run("--json", "release", "80", "700", NULL);
	expect_json();
	expect_has("\"released\":true");
	run("--json", "hold", "80", "--user", "11", "--seats", "7", "--id", "701", NULL);
	run("confirm", "80", "701", NULL);
	run("--json", "cancel", "80", "701", NULL);
	expect_json();
	expect_has("\"cancelled\":true");
}

static void test_avail_seats(void **state)
{
	(void)state;
	run("event", "create", "81", "--seats", "100", NULL);
	expect(0, NULL);
	run("hold", "81", "--user", "1", "--seats", "5,6", "--id", "500", NULL);
	expect(0, NULL);
	run("confirm", "81", "500", NULL);
	expect(0, NULL);
	run("hold", "81", "--user", "2", "--seats", "8", "--id", "501", NULL);
	expect(0, NULL);
	run("avail", "81", NULL);
	expect(0, "event 81: 97 free of 100 (held 1, booked 2)\n");
	assert_null(strstr(r.out, "free in"));
	run("avail", "81", "--range", "0:10", NULL);
	expect(0, "event 81: 97 free of 100 (held 1, booked 2)\nfree in 0..9: 0-4,7,9\n");
	run("--json", "avail", "81", NULL);
	expect(0, "{\"event_id\":81,\"seats\":100,\"free\":97,\"held\":1,\"booked\":2}\n");
	run("--json", "avail", "81", "--range", "0:10", NULL);
	expect_json();
	assert_int_equal(json_u64("range_first"), 0);
	assert_int_equal(json_u64("range_count"), 10);
	assert_int_equal(json_u64("range_free"), 7);
	expect_has("\"free_ranges\":[[0,4],[7,7],[9,9]]");
	run("avail", "81", "--range", "5:2", NULL);
	expect(0, "event 81: 97 free of 100 (held 1, booked 2)\nfree in 5..6: none\n");
	run("seats", "81", "5", "8", "9", NULL);
	expect(0, "seat 5: booked (booking 500) by user 1\nseat 8: held (hold 501) by user 2\n"
		  "seat 9: free\n");
	run("--json", "seats", "81", "4-6", NULL);
	expect_json();
	expect_has("{\"seat\":5,\"state\":\"booked\",\"owner_id\":500,\"user_id\":1}");
	expect_has("{\"seat\":4,\"state\":\"free\",\"owner_id\":0,\"user_id\":0}");
	run("seats", "81", "100", NULL);
	assert_int_equal(r.status, 1);
}

static void test_cluster_commands(void **state)
{
	(void)state;
	run("ping", NULL);
	expect(0, "pong from 127.0.0.1:");
	run("--json", "ping", NULL);
	expect_json();
	assert_int_equal(json_u64("port"), server.port);
	assert_true(json_u64("epoch") >= 1);
	run("stats", NULL);
	/* The node's totals first, then every shard. */
	expect(0, "node 127.0.0.1:");
	expect_has(": 2 of 2 shards answered\n");
	expect_has("\nshard 0 (127.0.0.1:");
	expect_has("\nshard 1 (127.0.0.1:");
	run("--json", "stats", NULL);
	expect(0, "[{\"owner\":0,");
	expect_json();
	expect_has("{\"owner\":1,");
	expect_has("\"stats\":{");
	run("slots", NULL);
	expect(0, "slot map epoch ");
	expect_has("owner 0 127.0.0.1:");
	expect_has("owner 1 127.0.0.1:");
	run("--json", "slots", NULL);
	expect(0, "{\"epoch\":");
	expect_json();
	expect_has("\"slots_count\":");
	/* Another shard as the entry point serves the same map. */
	char host[64];
	server_addr(&server, 1, host, sizeof(host));
	run_bare("--host", host, "event", "info", "81", NULL);
	expect(0, "event 81: 100 seats");
}

static int dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_backup(void **state)
{
	(void)state;
	char dir[512];
	char path[600];
	snprintf(dir, sizeof(dir), "%s/bk1", server.data_dir);
	run("backup", "--to", dir, NULL);
	expect(0, "shard 0 (127.0.0.1:");
	snprintf(path, sizeof(path), "%s/shard-0", dir);
	expect_has(path);
	assert_true(dir_exists(path));
	snprintf(path, sizeof(path), "%s/shard-1", dir);
	assert_true(dir_exists(path));
	/* A checkpoint is never written over: the second one into the same place is refused. */
	run("backup", "--to", dir, NULL);
	assert_int_equal(r.status, 1);
	assert_true(strncmp(r.err, "holdfast: backup refused by shard 0", 35) == 0);
	snprintf(dir, sizeof(dir), "%s/bk2/", server.data_dir);
	run("--json", "backup", "--to", dir, NULL);
	expect(0, "{\"dir\":");
	expect_json();
	expect_has("\"path\":");
	expect_has("\"sequence\":");
	snprintf(path, sizeof(path), "%s/bk2/shard-1", server.data_dir);
	assert_true(dir_exists(path));
}

static int group_setup(void **state)
{
	(void)state;
	return server_start(&server, holdfastd_path, 2, "wal") == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	server_stop(&server);
	return 0;
}

/* holds / bookings EVENT --user U list a user's live holds and bookings, in text and JSON. */
static void test_user_records(void **state)
{
	(void)state;
	run("event", "create", "90", "--seats", "100", NULL);
	expect(0, "event 90 created");
	run("hold", "90", "--user", "7", "--seats", "1,2", "--id", "11", NULL);
	expect(0, "hold 11 on event 90");
	run("hold", "90", "--user", "7", "--best", "3", "--id", "12", NULL);
	expect(0, "hold 12 on event 90");
	run("confirm", "90", "11", NULL);
	expect(0, "booking 11 on event 90");
	run("holds", "90", "--user", "7", NULL);
	expect(0, "hold 12: seats 3,4,5, expires ");
	run("bookings", "90", "--user", "7", NULL);
	expect(0, "booking 11: seats 1,2\n");
	run("--json", "holds", "90", "--user", "7", NULL);
	expect(0, "{\"event_id\":90,\"user\":7,\"holds\":[{\"id\":12,");
	expect_json();
	run("--json", "bookings", "90", "--user", "8", NULL);
	expect(0, "{\"event_id\":90,\"user\":8,\"bookings\":[]}");
	run("holds", "90", "--user", "8", NULL);
	expect(0, "user 8 has no live holds in event 90");
	run("holds", "90", NULL);
	expect_err(2, "holdfast: holds: --user U");
}

/* Sections, tiers and a GA area end to end: event create with --section and --ga, best within a
 * section and a tier, --any, --no-orphan, GA by quantity, avail and event info per section and
 * tier, readable and --json; bad specs and unknown sections are clear errors. */
static void test_sections(void **state)
{
	(void)state;
	run("event", "create", "95", "--seats", "40", "--row-width", "10", "--section",
	    "stalls:0:20:1", "--section=balcony:20:20:2:5", "--ga", "floor:100:3", NULL);
	expect(0, "event 95 created: 140 seats, 40 numbered and 100 GA places, rows of 10");
	expect_has("  section floor (GA, tier 3): 100 free of 100 places\n");
	run("--json", "event", "create", "96", "--seats", "10", "--ga", "pit:5", NULL);
	expect_json();
	expect_has("\"sections\":[{\"name\":\"pit\",\"kind\":\"ga\",\"tier\":0,\"first\":10,"
		   "\"count\":5,\"row_width\":0,\"free\":5}]");
	run("hold", "95", "--user", "1", "--best", "2", "--section", "balcony", "--id", "1", NULL);
	expect(0, "hold 1 on event 95: section balcony, seats 20-21, expires ");
	run("--json", "hold", "95", "--user", "2", "--best", "3", "--tier", "1", "--id", "2", NULL);
	expect(0, "{\"event_id\":95,\"hold_id\":2,\"user_id\":2,\"deadline_ms\":");
	expect_has("\"seats\":[0,1,2]}");
	/* Row 0 of stalls has 0-2 held: 7 free in it, so --any 8 takes row 1 (10) first. */
	run("--json", "hold", "95", "--user", "3", "--best", "8", "--any", "--section", "stalls",
	    "--id", "3", NULL);
	expect_has("\"seats\":[10,11,12,13,14,15,16,17]");
	/* Seats 18-19 are left: holding 18 alone orphans 19. */
	run("hold", "95", "--user", "4", "--seats", "18", "--no-orphan", NULL);
	expect_err(1, "holdfast: hold refused: ORPHAN_SEAT");
	run("--json", "hold", "95", "--user", "5", "--section", "floor", "--quantity", "4", "--id",
	    "5", NULL);
	expect_json();
	expect_has("\"seats\":[40,41,42,43],\"section\":\"floor\"}");
	run("hold", "95", "--user", "6", "--section", "floor", "--quantity", "2", "--id", "6",
	    NULL);
	expect(0, "hold 6 on event 95: section floor, places 44-45, expires ");
	run("avail", "95", NULL);
	expect(0, "event 95: 121 free of 140 (held 19, booked 0)\n"
		  "  section stalls (tier 1, seats 0-19): 9 free of 20\n"
		  "  section balcony (tier 2, seats 20-39, rows of 5): 18 free of 20\n"
		  "  section floor (GA, tier 3): 94 free of 100 places\n"
		  "  tier 1: 9 free of 20\n  tier 2: 18 free of 20\n  tier 3: 94 free of 100\n");
	run("--json", "avail", "95", NULL);
	expect_json();
	expect_has("{\"name\":\"floor\",\"kind\":\"ga\",\"tier\":3,\"first\":40,\"count\":100,"
		   "\"row_width\":0,\"free\":94}");
	expect_has("\"tiers\":[{\"tier\":1,\"seats\":20,\"free\":9},{\"tier\":2,\"seats\":20,"
		   "\"free\":18},{\"tier\":3,\"seats\":100,\"free\":94}]");
	run("event", "info", "95", NULL);
	expect_has("  section balcony (tier 2, seats 20-39, rows of 5): 18 free of 20\n");
	run("--json", "event", "info", "95", NULL);
	expect_json();
	expect_has("\"sections\":[{\"name\":\"stalls\"");
	run("seats", "95", "40", NULL);
	expect(0, "seat 40: held (hold 5) by user 5\n");
	/* Errors. */
	run("hold", "95", "--user", "1", "--best", "2", "--section", "nope", NULL);
	expect_err(1, "holdfast: hold refused: event 95 has no section 'nope'");
	run("hold", "95", "--user", "1", "--quantity", "2", NULL);
	expect_err(2, "holdfast: hold: --quantity needs --section NAME");
	run("hold", "95", "--user", "1", "--seats", "3", "--any", NULL);
	expect_err(2, "holdfast: hold: --seats takes no --section, --tier or --any");
	run("hold", "95", "--user", "1", "--best", "2", "--section", "stalls", "--tier", "1", NULL);
	expect_err(2, "holdfast: hold: give at most one of --section and --tier");
	run("event", "create", "97", "--seats", "10", "--ga", "x:5:3:4", NULL);
	expect_err(2, "holdfast: event create: --ga 'x:5:3:4' is not NAME:CAPACITY[:TIER]");
	run("event", "create", "97", "--seats", "10", "--section", "a:5:10", NULL);
	expect_err(2, "holdfast: event create: --section a (seats 5..14) is not inside");
	run("event", "create", "97", "--seats", "10", "--section", "a:0:5", "--section", "a:5:5",
	    NULL);
	expect_err(1, "holdfast: event create refused: INVALID");
	run("event", "create", "97", "--seats", "10", "--section", NULL);
	expect_err(2, "holdfast: event create: --section needs a value");
}

/* A `holdfast watch` running beside the test: its stdout is read line by line. */
struct watch_proc {
	pid_t pid;
	int out;
	char buf[OUT_SIZE_MAX];
	size_t len;
};

static void watch_start(struct watch_proc *w, int json, const char *event, const char *count)
{
	const char *argv[] = {holdfast_path,
			      "--host",
			      server.addr,
			      json ? "--json" : "watch",
			      json ? "watch" : event,
			      json ? event : "--count",
			      json ? "--count" : count,
			      json ? count : NULL,
			      NULL};
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	assert_int_equal(
	    posix_spawn(&w->pid, holdfast_path, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	w->out = p[0];
	w->len = 0;
}

/* The next line of its output (without the newline), waiting at most RUN_TIMEOUT_MS. */
static const char *watch_line(struct watch_proc *w)
{
	static char line[4096];
	uint64_t deadline = hf_clock_mono_ms() + RUN_TIMEOUT_MS;
	for (;;) {
		char *nl = memchr(w->buf, '\n', w->len);
		if (nl != NULL) {
			size_t n = (size_t)(nl - w->buf);
			assert_true(n < sizeof(line));
			memcpy(line, w->buf, n);
			line[n] = '\0';
			memmove(w->buf, nl + 1, w->len - n - 1);
			w->len -= n + 1;
			return line;
		}
		uint64_t now = hf_clock_mono_ms();
		assert_true(now < deadline);
		struct pollfd pfd = {.fd = w->out, .events = POLLIN};
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t k = read(w->out, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
		assert_true(k > 0);
		w->len += (size_t)k;
	}
}

static int watch_wait(struct watch_proc *w)
{
	int wstatus;
	uint64_t deadline = hf_clock_mono_ms() + RUN_TIMEOUT_MS;
	/* Bounded: the child exits after --count changes; past the deadline it is killed. */
	while (waitpid(w->pid, &wstatus, WNOHANG) == 0) {
		if (hf_clock_mono_ms() > deadline) {
			kill(w->pid, SIGKILL);
			waitpid(w->pid, &wstatus, 0);
			break;
		}
		poll(NULL, 0, 10);
	}
	close(w->out);
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

/* holdfast watch EVENT prints every change as it happens, readable and as JSON lines, then
 * exits after --count changes; a watch of a missing event is refused. */
static void test_watch(void **state)
{
	(void)state;
	run("event", "create", "98", "--seats", "20", "--ga", "pit:50:2", NULL);
	expect(0, "event 98 created");
	static struct watch_proc text, json;
	watch_start(&text, 0, "98", "4");
	watch_start(&json, 1, "98", "4");
	assert_string_equal(watch_line(&text), "watching event 98 from seq 0 (Ctrl-C stops)");
	assert_string_equal(watch_line(&json), "{\"event_id\":98,\"watching\":true,\"seq\":0}");
	run("hold", "98", "--user", "3", "--seats", "4,5", "--id", "40", NULL);
	expect(0, NULL);
	run("confirm", "98", "40", NULL);
	expect(0, NULL);
	run("hold", "98", "--user", "4", "--section", "pit", "--quantity", "3", "--id", "41", NULL);
	expect(0, NULL);
	run("release", "98", "41", NULL);
	expect(0, NULL);
	const char *l = watch_line(&text);
	assert_non_null(strstr(l, "seq 1: held seats 4,5 (hold 40, user 3, expires "));
	assert_string_equal(watch_line(&text), "seq 2: booked seats 4,5 (booking 40, user 3)");
	l = watch_line(&text);
	assert_non_null(strstr(l, "seq 3: held 3 places of pit (hold 41, user 4, expires "));
	assert_string_equal(watch_line(&text), "seq 4: released 3 places of pit (hold 41, user 4)");
	l = watch_line(&json);
	assert_non_null(strstr(l, "{\"event_id\":98,\"seq\":1,\"kind\":\"held\",\"hold_id\":40,"
				  "\"user_id\":3,\"deadline_ms\":"));
	assert_non_null(strstr(l, "\"seats\":[4,5]}"));
	assert_string_equal(
	    watch_line(&json),
	    "{\"event_id\":98,\"seq\":2,\"kind\":\"booked\",\"hold_id\":40,\"user_id\":3,"
	    "\"deadline_ms\":0,\"seats\":[4,5]}");
	l = watch_line(&json);
	assert_non_null(strstr(l, "\"seats\":[20,21,22],\"section\":\"pit\"}"));
	assert_string_equal(
	    watch_line(&json),
	    "{\"event_id\":98,\"seq\":4,\"kind\":\"released\",\"hold_id\":41,"
	    "\"user_id\":4,\"deadline_ms\":0,\"seats\":[20,21,22],\"section\":\"pit\"}");
	assert_int_equal(watch_wait(&text), 0);
	assert_int_equal(watch_wait(&json), 0);
	run("watch", "12345", NULL);
	expect_err(1, "holdfast: watch refused: NO_EVENT");
	run("--json", "watch", "12345", NULL);
	expect_json();
	expect_has("\"error\":\"NO_EVENT\"");
	run("watch", "98", "--count", "0", NULL);
	expect_err(2, "holdfast: watch: --count '0' is not a positive integer");
}

/* A holdfastd with --auth-file: the CLI presents --token-file's token, or HOLDFAST_TOKEN's; a
 * client token may not BACKUP; without a token the CLI says what to do. */
static void test_tokens(void **state)
{
	(void)state;
	char dir[] = "/tmp/hf-cli-tokens-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tokens[300], admin[300], client[300];
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(admin, sizeof(admin), "%s/admin", dir);
	snprintf(client, sizeof(client), "%s/client", dir);
	FILE *f = fopen(tokens, "w");
	assert_non_null(f);
	fputs("client cli-client-token\nadmin cli-admin-token\n", f);
	fclose(f);
	assert_int_equal(chmod(tokens, 0600), 0);
	f = fopen(admin, "w");
	assert_non_null(f);
	fputs("  cli-admin-token \n", f);
	fclose(f);
	f = fopen(client, "w");
	assert_non_null(f);
	fputs("cli-client-token\n", f);
	fclose(f);
	static struct server_proc auth_server;
	assert_int_equal(
	    server_start_auth(&auth_server, holdfastd_path, 1, "wal", tokens, "cli-admin-token"),
	    0);

	run_bare("--host", auth_server.addr, "ping", NULL);
	expect_err(2, "holdfast: 127.0.0.1:");
	assert_non_null(strstr(r.err, "UNAUTHORIZED"));
	run_bare("--host", auth_server.addr, "--token-file", admin, "ping", NULL);
	expect(0, "pong from 127.0.0.1:");
	run_bare("--host", auth_server.addr, "--token-file", client, "event", "create", "5",
		 "--seats", "10", NULL);
	expect(0, "event 5 created");
	char bk[300];
	snprintf(bk, sizeof(bk), "%s/bk", auth_server.data_dir);
	run_bare("--host", auth_server.addr, "--token-file", client, "backup", "--to", bk, NULL);
	assert_int_not_equal(r.status, 0);
	assert_non_null(strstr(r.err, "FORBIDDEN"));
	run_bare("--host", auth_server.addr, "--token-file", client, "event", "delete", "5", NULL);
	expect_err(1, "holdfast: event delete refused: FORBIDDEN");
	run_bare("--host", auth_server.addr, "--token-file", admin, "event", "delete", "5", NULL);
	expect(0, "event 5 deleted\n");
	assert_int_equal(setenv("HOLDFAST_TOKEN", "cli-admin-token", 1), 0);
	run_bare("--host", auth_server.addr, "backup", "--to", bk, NULL);
	unsetenv("HOLDFAST_TOKEN");
	expect(0, "shard 0 (127.0.0.1:");
	server_stop(&auth_server);
	unlink(tokens);
	unlink(admin);
	unlink(client);
	assert_int_equal(rmdir(dir), 0);
}

/* The waiting room: event create --waiting-room, join (position, then the token), hold without
 * and with --token, queue, room --off / --on with parameters, join --wait, and their --json. */
static void test_room_commands(void **state)
{
	(void)state;
	run("event", "create", "195", "--seats", "1", "--waiting-room", NULL);
	expect(0, "event 195 created: 1 seats, one row, no user limit, hold lifetime");
	expect_has("waiting room on");
	run("--json", "join", "195", "--user", "1", NULL);
	expect(0, "{\"event_id\":195,\"user_id\":1,\"state\":\"admitted\",\"position\":0,");
	expect_json();
	char token[128];
	const char *at = strstr(r.out, "\"token\":\"");
	assert_non_null(at);
	snprintf(token, sizeof(token), "%.80s", at + strlen("\"token\":\""));
	run("join", "195", "--user", "2", NULL);
	expect(0, "user 2 waits in event 195's room: position 1 of 1, wait ");
	run("--json", "join", "195", "--user", "3", NULL);
	expect(0, "{\"event_id\":195,\"user_id\":3,\"state\":\"waiting\",\"position\":2,"
		  "\"length\":2,");
	expect_has("\"token\":null");
	expect_json();
	run("hold", "195", "--user", "1", "--best", "1", NULL);
	expect_err(1, "holdfast: hold refused: NOT_ADMITTED");
	run("hold", "195", "--user", "1", "--best", "1", "--token", "12ab", NULL);
	expect_err(2, "holdfast: hold: --token is not the 80 hex digits");
	run("hold", "195", "--user", "1", "--best", "1", "--token", token, "--id", "950", NULL);
	expect(0, "hold 950 on event 195: seats 0");
	run("queue", "195", NULL);
	expect(0, "event 195 waiting room on: 2 waiting (of 100000 places), 0 admitted shopping, 1 "
		  "holding, 0 free seats\n");
	run("--json", "queue", "195", NULL);
	expect(0, "{\"event_id\":195,\"enabled\":true,\"policy\":\"requeue\","
		  "\"shoppers_per_seat\":1.00,\"admit_ttl_s\":300,\"queue_max\":100000,"
		  "\"length\":2,\"admitted\":0,");
	expect_has("\"rate\":");
	expect_has("\"estimate\":");
	expect_json();
	/* The seat comes back: user 2 is admitted, --wait returns with the token. */
	run("release", "195", "950", NULL);
	expect(0, NULL);
	run("join", "195", "--user", "2", "--wait", "--wait-timeout", "20", NULL);
	expect(0, "user 2 admitted to event 195 for ");
	expect_has("\ntoken ");
	run("--json", "room", "195", "--on", "--shoppers-per-seat", "2.5", "--policy", "drop",
	    "--admit-ttl", "60", NULL);
	expect(0, "{\"event_id\":195,\"enabled\":true,\"policy\":\"drop\","
		  "\"shoppers_per_seat\":2.50,\"admit_ttl_s\":60,\"queue_max\":100000}");
	expect_json();
	run("room", "195", "--on", "--shoppers-per-seat", "0", NULL);
	expect_err(2, "holdfast: room: --shoppers-per-seat is not in 0.01..100");
	run("room", "195", "--on", "--queue-max", "5", NULL);
	expect_err(1, "holdfast: room refused: INVALID");
	run("room", "195", NULL);
	expect_err(2, "holdfast: room: give exactly one of --on and --off");
	run("room", "195", "--off", NULL);
	expect(0, "event 195 waiting room off");
	run("join", "195", "--user", "4", NULL);
	expect_err(1, "holdfast: join refused: NO_ROOM");
	run("hold", "195", "--user", "4", "--best", "1", "--id", "951", NULL);
	expect(0, "hold 951 on event 195");
	run("--json", "join", "195", "--user", "4", NULL);
	expect(1, "{\"error\":\"NO_ROOM\",\"status\":46,");
	run("queue", "196", NULL);
	expect_err(1, "holdfast: queue refused: NO_EVENT");
	run("join", "195", NULL);
	expect_err(2, "holdfast: join: --user U is required");
}

int main(int argc, char **argv)
{
	holdfastd_path = argc > 1 ? argv[1] : NULL;
	holdfast_path = argc > 2 ? argv[2] : NULL;
	server_require(holdfastd_path);
	server_require(holdfast_path);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_connection_errors),
	    cmocka_unit_test(test_event_commands),
	    cmocka_unit_test(test_event_delete),
	    cmocka_unit_test(test_hold_commands),
	    cmocka_unit_test(test_avail_seats),
	    cmocka_unit_test(test_cluster_commands),
	    cmocka_unit_test(test_backup),
	    cmocka_unit_test(test_user_records),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_room_commands),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
