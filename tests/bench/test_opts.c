/* Goal: holdfast-bench's options keep the spellings other tools use, apply the documented defaults
 * (per workload), and refuse values out of bounds with a message instead of running.
 * Method: parse argument vectors and compare the resulting struct; each invalid case must answer
 * -EINVAL with a non-empty message. */
#include "bench/bench.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define ARGS_MAX 64

static int parse(struct hf_bench_opts *o, char *err, const char *const *args)
{
	char *argv[ARGS_MAX];
	int argc = 0;
	argv[argc++] = (char *)"holdfast-bench";
	for (; *args && argc < ARGS_MAX - 1; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	err[0] = '\0';
	return hf_bench_opts_parse(o, argc, argv, err, 256);
}

static void test_full_spelling(void **state)
{
	(void)state;
	struct hf_bench_opts o;
	char err[256];
	const char *args[] = {"--host",
			      "127.0.0.1:7171",
			      "--workload",
			      "holds",
			      "--connections",
			      "50",
			      "--pipeline",
			      "16",
			      "--duration",
			      "5",
			      "--rate",
			      "1000",
			      "--json",
			      "--warmup",
			      "1",
			      "--seed",
			      "7",
			      "--events",
			      "8",
			      "--row-width",
			      "20",
			      "--users",
			      "10",
			      "--confirm-ratio",
			      "0.5",
			      "--avail-per-hold",
			      "2",
			      "--pick",
			      "best",
			      "--ttl",
			      "60",
			      "--no-check",
			      "--no-create",
			      NULL};
	if (parse(&o, err, args) != 0)
		fail_msg("%s", err);
	assert_string_equal(o.host, "127.0.0.1:7171");
	assert_int_equal(o.workload, HF_BENCH_WORKLOAD_HOLDS);
	assert_int_equal(o.connections, 50);
	assert_int_equal(o.pipeline, 16);
	assert_int_equal(o.threads, 2);
	assert_true(o.duration_s == 5.0 && o.rate_ops_per_s == 1000.0 && o.warmup_s == 1.0);
	assert_int_equal(o.json, 1);
	assert_int_equal(o.seed, 7);
	assert_int_equal(o.events, 8);
	assert_int_equal(o.seats, 100000); /* holds' own default */
	assert_int_equal(o.row_width, 20);
	assert_int_equal(o.users, 10);
	assert_true(o.confirm_ratio == 0.5);
	assert_int_equal(o.avail_per_hold, 2);
	assert_int_equal(o.pick_best, 1);
	assert_int_equal(o.ttl_s, 60);
	assert_int_equal(o.check, 0);
	assert_int_equal(o.create, 0);
	assert_true(o.event_base != 0);

	/* The same seed gives the same event ids; another seed others. */
	struct hf_bench_opts o2;
	assert_int_equal(parse(&o2, err, args), 0);
	assert_true(o2.event_base == o.event_base);
	const char *other[] = {"--seed", "8", NULL};
	assert_int_equal(parse(&o2, err, other), 0);
	assert_true(o2.event_base != o.event_base);
}

static void test_defaults(void **state)
{
	(void)state;
	struct hf_bench_opts o;
	char err[256];
	const char *none[] = {NULL};
	assert_int_equal(parse(&o, err, none), 0);
	assert_int_equal(o.workload, HF_BENCH_WORKLOAD_ONSALE);
	assert_int_equal(o.seats, 50000);
	assert_int_equal(o.events, 1);
	assert_true(o.confirm_ratio == 0.8);
	assert_int_equal(o.avail_per_hold, 4);
	assert_int_equal(o.pick_best, 0);
	assert_int_equal(o.ttl_s, 300);
	assert_int_equal(o.check, 1);
	assert_int_equal(o.create, 1);
	assert_true(o.threads <= 2);
	assert_true(o.seed != 0);

	const char *one[] = {"--connections", "1", "--ops", "100", "--event-base", "99", NULL};
	assert_int_equal(parse(&o, err, one), 0);
	assert_int_equal(o.threads, 1);
	assert_int_equal(o.ops_max, 100);
	assert_int_equal(o.event_base, 99);
	const char *mix[] = {"--workload", "mixed", "--mix", "1:2:3:4:5", NULL};
	assert_int_equal(parse(&o, err, mix), 0);
	assert_int_equal(o.events, 64);
	assert_int_equal(o.mix[4], 5);
	assert_int_equal(o.server_pid, 0);
	const char *pid[] = {"--server-pid", "4194304", NULL};
	assert_int_equal(parse(&o, err, pid), 0);
	assert_int_equal(o.server_pid, 4194304);
	assert_int_equal(o.client_retries_given, 0);
	const char *retries[] = {"--client-retries", "0", NULL};
	assert_int_equal(parse(&o, err, retries), 0);
	assert_int_equal(o.client_retries_given, 1);
	assert_int_equal(o.client_retries, 0);
	const char *ping[] = {"--workload", "ping", NULL};
	assert_int_equal(parse(&o, err, ping), 0);
	assert_int_equal(o.workload, HF_BENCH_WORKLOAD_PING);
	assert_int_equal(o.events, 64);
	assert_string_equal(hf_bench_workload_name(o.workload), "ping");
	assert_string_equal(hf_bench_op_name(HF_BENCH_OP_PING), "ping");
}

static void test_invalid(void **state)
{
	(void)state;
	struct hf_bench_opts o;
	char err[256];
	static const char *const cases[][5] = {
	    {"--workload", "nope", NULL},
	    {"--workload", "pong", NULL},
	    {"--server-pid", "0", NULL},
	    {"--server-pid", "4194305", NULL},
	    {"--server-pid", "12ab", NULL},
	    {"--client-retries", "101", NULL},
	    {"--client-retries", "-1", NULL},
	    {"--connections", "0", NULL},
	    {"--connections", "-3", NULL},
	    {"--pipeline", "100000", NULL},
	    {"--duration", "0", NULL},
	    {"--confirm-ratio", "1.5", NULL},
	    {"--pick", "worst", NULL},
	    {"--seats", "99999999", NULL},
	    {"--threads", "5", "--connections", "4", NULL},
	    {"--workload", "onsale", "--events", "2", NULL},
	    {"--mix", "1:2:3", NULL},
	    {"--mix", "0:0:0:0:0", NULL},
	    {"--bogus", NULL},
	    {"--warmup", "10", "--duration", "5", NULL},
	    {"stray", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(&o, err, cases[i]);
		if (rc != -EINVAL || err[0] == '\0')
			fail_msg("case %zu (%s): rc %d", i, cases[i][0], rc);
	}
}

/* --waiting-room[=on|off] and --room-shoppers: onsale on holdfast only, bounded. */
static void test_waiting_room(void **state)
{
	(void)state;
	struct hf_bench_opts o;
	char err[256];
	const char *on[] = {"--waiting-room", "--users", "10000", "--seats", "2000", NULL};
	assert_int_equal(parse(&o, err, on), 0);
	assert_int_equal(o.waiting_room, 1);
	assert_int_equal(o.room_shoppers_pct, 100);
	const char *off[] = {"--waiting-room=off", "--room-shoppers", "0.67", NULL};
	assert_int_equal(parse(&o, err, off), 0);
	assert_int_equal(o.waiting_room, 2);
	assert_int_equal(o.room_shoppers_pct, 67);
	const char *plain[] = {"--workload", "onsale", NULL};
	assert_int_equal(parse(&o, err, plain), 0);
	assert_int_equal(o.waiting_room, 0);
	static const char *const bad[][4] = {
	    {"--waiting-room=maybe", NULL},
	    {"--waiting-room", "--workload", "holds", NULL},
	    {"--waiting-room", "--target", "redis", NULL},
	    {"--waiting-room", "--users", "1048577", NULL},
	    {"--room-shoppers", "0", NULL},
	    {"--room-shoppers", "100.5", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&o, err, bad[i]), -EINVAL);
		assert_true(err[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_spelling),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_waiting_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
