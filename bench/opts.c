/* Command-line options of holdfast-bench: defaults, parsing and bounds, and the small name tables
 * shared by the report. Pure: no sockets, testable on its own. */
#include "bench/bench.h"
#include "bench/cpu.h"
#include "bench/plot.h"

#include "base/assert.h"
#include "proto/proto.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *hf_bench_op_name(unsigned kind)
{
	static const char *const names[HF_BENCH_OP_KINDS] = {"hold", "confirm", "release", "avail",
							     "info", "create",	"ping"};
	HF_ASSERT(kind < HF_BENCH_OP_KINDS);
	return names[kind];
}

static const char *const workload_names[] = {"onsale", "holds", "avail", "mixed", "create", "ping"};

const char *hf_bench_workload_name(unsigned workload)
{
	HF_ASSERT(workload < HF_ARRAY_SIZE(workload_names));
	return workload_names[workload];
}

enum hf_bench_outcome hf_bench_outcome_of(const struct hf_bench_result *res)
{
	if (res->error != 0)
		return HF_BENCH_OUTCOME_ERROR;
	if (res->status == HF_OK)
		return HF_BENCH_OUTCOME_OK;
	/* Statuses from 16 up are answers about the domain; below are frame and server errors. */
	if (res->status >= HF_NO_EVENT)
		return HF_BENCH_OUTCOME_REFUSED;
	return HF_BENCH_OUTCOME_ERROR;
}

void hf_bench_opts_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: holdfast-bench [options]\n"
	    "  --host HOST:PORT         holdfast node (default 127.0.0.1:7070)\n"
	    "  --target holdfast|redis  what to load (default holdfast)\n"
	    "  --redis HOST:PORT        Redis server for --target redis (default 127.0.0.1:6379)\n"
	    "  --lua-dir DIR            the Redis Lua scripts (default: bench/compare of the "
	    "source)\n"
	    "  --workload onsale|holds|avail|mixed|create|ping   (default onsale; ping: PINGs\n"
	    "                           spread over the shards like the holds workload's events)\n"
	    "  --connections N          clients (default 50); holdfast: one TCP connection per "
	    "shard each\n"
	    "  --pipeline P             requests in flight per client (default 16)\n"
	    "  --batch B                holdfast: fold up to B queued requests into one BATCH\n"
	    "                           frame (client option batch_max; 0..256, default 0 = off)\n"
	    "  --threads T              load threads (default min(2, N))\n"
	    "  --duration SECONDS       run length (default 10)\n"
	    "  --ops N                  stop after N operations instead\n"
	    "  --warmup SECONDS         drop latencies of the first part (default 0)\n"
	    "  --rate OPS_PER_S         open loop at this total rate (default: closed loop)\n"
	    "  --seed S                 ids and choices (default: from the clock; printed)\n"
	    "  --seats N                seats per event (default 50000; holds: 100000)\n"
	    "  --events N               events (default onsale 1, others 64)\n"
	    "  --row-width W            seats per row (default 100; 0 = one row)\n"
	    "  --users N                distinct user ids (default 100000)\n"
	    "  --confirm-ratio R        share of successful holds confirmed (default 0.8)\n"
	    "  --avail-per-hold K       onsale AVAIL queries per hold (default 4)\n"
	    "  --avail-range N          avail workload range size in seats (default 64)\n"
	    "  --pick random|best       onsale seat choice (default random)\n"
	    "  --ttl SECONDS            hold TTL (default 300)\n"
	    "  --mix H:C:R:A:I          mixed weights of hold, confirm, release, avail, info\n"
	    "                           (default 30:15:10:40:5)\n"
	    "  --create / --no-create   create the events used (default: create)\n"
	    "  --event-base ID          first event id (default: derived from the seed)\n"
	    "  --no-check               skip the onsale consistency check\n"
	    "  --no-progress            no per-second line on stderr\n"
	    "  --json                   one JSON object on stdout instead of the table\n"
	    "  --server-pid PID         the server's pid on this machine: report its CPU per op\n"
	    "                           next to the bench's own (cpu.server_us_per_op)\n"
	    "  --client-retries N       libholdfast's resends of one request (BUSY, TRY_AGAIN,\n"
	    "                           MOVED, timeouts; default the library's, 5); 0: every BUSY\n"
	    "                           reaches the bench and counts as an error (overload runs)\n"
	    "  --plot FILE.svg|.png     draw the run with gnuplot: throughput over time, latency\n"
	    "                           percentiles, and the sell-out curve for onsale\n"
	    "  --waiting-room[=on|off]  onsale: --users buyers (1 or 2 seats each) through the\n"
	    "                           event's waiting room, or (off) the same buyers without\n"
	    "                           one; reports time to sell out, admitted buyers who found\n"
	    "                           nothing and the admitted buyers' HOLD latency\n"
	    "  --room-shoppers X        buyers admitted per free seat (default 1, 0.01..100)\n"
	    "  --version                print the version and the protocol version\n");
}

static int fail(char *err, unsigned err_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	if (s[0] == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	if (parse_u64(s, lo, hi, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_mix(const char *s, uint32_t mix[5])
{
	uint32_t v[5];
	uint64_t sum = 0;
	const char *p = s;
	for (unsigned i = 0; i < 5; i++) {
		char *end;
		errno = 0;
		unsigned long x = strtoul(p, &end, 10);
		if (errno != 0 || end == p || x > 1000000)
			return -1;
		if (i < 4 && *end != ':')
			return -1;
		if (i == 4 && *end != '\0')
			return -1;
		v[i] = (uint32_t)x;
		sum += x;
		p = end + 1;
	}
	if (sum == 0)
		return -1;
	memcpy(mix, v, sizeof(v));
	return 0;
}

enum {
	OPT_HOST = 256,
	OPT_TARGET,
	OPT_REDIS,
	OPT_LUA_DIR,
	OPT_WORKLOAD,
	OPT_CONNECTIONS,
	OPT_PIPELINE,
	OPT_BATCH,
	OPT_THREADS,
	OPT_DURATION,
	OPT_OPS,
	OPT_WARMUP,
	OPT_RATE,
	OPT_SEED,
	OPT_SEATS,
	OPT_EVENTS,
	OPT_ROW_WIDTH,
	OPT_USERS,
	OPT_CONFIRM_RATIO,
	OPT_AVAIL_PER_HOLD,
	OPT_AVAIL_RANGE,
	OPT_PICK,
	OPT_TTL,
	OPT_MIX,
	OPT_CREATE,
	OPT_NO_CREATE,
	OPT_EVENT_BASE,
	OPT_NO_CHECK,
	OPT_NO_PROGRESS,
	OPT_PLOT,
	OPT_JSON,
	OPT_SERVER_PID,
	OPT_CLIENT_RETRIES,
	OPT_HELP,
	OPT_VERSION,
	OPT_WAITING_ROOM,
	OPT_ROOM_SHOPPERS,
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"target", required_argument, NULL, OPT_TARGET},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"lua-dir", required_argument, NULL, OPT_LUA_DIR},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"ops", required_argument, NULL, OPT_OPS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rate", required_argument, NULL, OPT_RATE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"seats", required_argument, NULL, OPT_SEATS},
    {"events", required_argument, NULL, OPT_EVENTS},
    {"row-width", required_argument, NULL, OPT_ROW_WIDTH},
    {"users", required_argument, NULL, OPT_USERS},
    {"confirm-ratio", required_argument, NULL, OPT_CONFIRM_RATIO},
    {"avail-per-hold", required_argument, NULL, OPT_AVAIL_PER_HOLD},
    {"avail-range", required_argument, NULL, OPT_AVAIL_RANGE},
    {"pick", required_argument, NULL, OPT_PICK},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"mix", required_argument, NULL, OPT_MIX},
    {"create", no_argument, NULL, OPT_CREATE},
    {"no-create", no_argument, NULL, OPT_NO_CREATE},
    {"event-base", required_argument, NULL, OPT_EVENT_BASE},
    {"no-check", no_argument, NULL, OPT_NO_CHECK},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"json", no_argument, NULL, OPT_JSON},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"client-retries", required_argument, NULL, OPT_CLIENT_RETRIES},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"waiting-room", optional_argument, NULL, OPT_WAITING_ROOM},
    {"room-shoppers", required_argument, NULL, OPT_ROOM_SHOPPERS},
    {NULL, 0, NULL, 0},
};

static void set_defaults(struct hf_bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->host, sizeof(o->host), "127.0.0.1:7070");
	snprintf(o->redis, sizeof(o->redis), "127.0.0.1:6379");
#ifdef HF_BENCH_LUA_DIR
	snprintf(o->lua_dir, sizeof(o->lua_dir), "%s", HF_BENCH_LUA_DIR);
#else
	snprintf(o->lua_dir, sizeof(o->lua_dir), "bench/compare");
#endif
	o->target = HF_BENCH_TARGET_HOLDFAST;
	o->workload = HF_BENCH_WORKLOAD_ONSALE;
	o->connections = 50;
	o->pipeline = 16;
	o->duration_s = 10.0;
	o->seats = 50000;
	o->row_width = 100;
	o->users = 100000;
	o->confirm_ratio = 0.8;
	o->avail_per_hold = 4;
	o->avail_range = 64;
	o->ttl_s = 300;
	o->mix[0] = 30;
	o->mix[1] = 15;
	o->mix[2] = 10;
	o->mix[3] = 40;
	o->mix[4] = 5;
	o->check = 1;
	o->create = 1;
	o->progress = 1;
	o->room_shoppers_pct = 100;
}

int hf_bench_opts_parse(struct hf_bench_opts *o, int argc, char **argv, char *err,
			unsigned err_size)
{
	HF_ASSERT(argc >= 1 && err_size > 0);
	set_defaults(o);
	uint32_t threads = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		const char *a = optarg;
		int bad = 0;
		switch (c) {
		case OPT_HOST:
			bad = copy_str(o->host, sizeof(o->host), a);
			break;
		case OPT_REDIS:
			bad = copy_str(o->redis, sizeof(o->redis), a);
			break;
		case OPT_LUA_DIR:
			bad = copy_str(o->lua_dir, sizeof(o->lua_dir), a);
			break;
		case OPT_TARGET:
			if (strcmp(a, "holdfast") == 0)
				o->target = HF_BENCH_TARGET_HOLDFAST;
			else if (strcmp(a, "redis") == 0)
				o->target = HF_BENCH_TARGET_REDIS;
			else
				bad = 1;
			break;
		case OPT_WORKLOAD:
			bad = 1;
			for (unsigned i = 0; i < HF_ARRAY_SIZE(workload_names); i++) {
				if (strcmp(a, workload_names[i]) == 0) {
					o->workload = (uint8_t)i;
					bad = 0;
				}
			}
			break;
		case OPT_CONNECTIONS:
			bad = parse_u32(a, 1, HF_BENCH_CONNECTIONS_MAX, &o->connections);
			break;
		case OPT_PIPELINE:
			bad = parse_u32(a, 1, HF_BENCH_PIPELINE_MAX, &o->pipeline);
			break;
		case OPT_BATCH:
			bad = parse_u32(a, 0, HF_BATCH_OPS_MAX, &o->batch);
			break;
		case OPT_THREADS:
			bad = parse_u32(a, 1, HF_BENCH_THREADS_MAX, &threads);
			break;
		case OPT_DURATION:
			bad = parse_double(a, 0.001, HF_BENCH_DURATION_S_MAX, &o->duration_s);
			break;
		case OPT_OPS:
			bad = parse_u64(a, 1, UINT64_MAX / 2, &o->ops_max);
			break;
		case OPT_WARMUP:
			bad = parse_double(a, 0.0, HF_BENCH_DURATION_S_MAX, &o->warmup_s);
			break;
		case OPT_RATE:
			bad = parse_double(a, 0.001, 1e9, &o->rate_ops_per_s);
			break;
		case OPT_SEED:
			bad = parse_u64(a, 0, UINT64_MAX, &o->seed);
			break;
		case OPT_SEATS:
			bad = parse_u32(a, 1, HF_BENCH_SEATS_MAX, &o->seats);
			o->seats_given = 1;
			break;
		case OPT_EVENTS:
			bad = parse_u32(a, 1, HF_BENCH_EVENTS_MAX, &o->events);
			o->events_given = 1;
			break;
		case OPT_ROW_WIDTH:
			bad = parse_u32(a, 0, HF_BENCH_SEATS_MAX, &o->row_width);
			break;
		case OPT_USERS:
			bad = parse_u32(a, 1, UINT32_MAX, &o->users);
			break;
		case OPT_CONFIRM_RATIO:
			bad = parse_double(a, 0.0, 1.0, &o->confirm_ratio);
			break;
		case OPT_AVAIL_PER_HOLD:
			bad = parse_u32(a, 0, 64, &o->avail_per_hold);
			break;
		case OPT_AVAIL_RANGE:
			bad = parse_u32(a, 0, HF_BENCH_AVAIL_WINDOW_MAX, &o->avail_range);
			break;
		case OPT_PICK:
			if (strcmp(a, "random") == 0)
				o->pick_best = 0;
			else if (strcmp(a, "best") == 0)
				o->pick_best = 1;
			else
				bad = 1;
			break;
		case OPT_TTL:
			bad = parse_u32(a, 1, 86400, &o->ttl_s);
			break;
		case OPT_MIX:
			bad = parse_mix(a, o->mix);
			break;
		case OPT_CREATE:
			o->create = 1;
			break;
		case OPT_NO_CREATE:
			o->create = 0;
			break;
		case OPT_EVENT_BASE:
			bad = parse_u64(a, 1, UINT64_MAX / 2, &o->event_base);
			break;
		case OPT_NO_CHECK:
			o->check = 0;
			break;
		case OPT_NO_PROGRESS:
			o->progress = 0;
			break;
		case OPT_PLOT:
			if (hf_bench_plot_path_check(a) != 0)
				return fail(
				    err, err_size,
				    "--plot '%s': the file must end in .svg or .png (at most "
				    "%u bytes, no quotes)",
				    a, HF_BENCH_PLOT_PATH_SIZE_MAX);
			bad = copy_str(o->plot, sizeof(o->plot), a);
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_SERVER_PID:
			bad = parse_u32(a, 1, HF_BENCH_PID_MAX, &o->server_pid);
			break;
		case OPT_CLIENT_RETRIES:
			bad = parse_u32(a, 0, HF_BENCH_CLIENT_RETRIES_MAX, &o->client_retries);
			o->client_retries_given = 1;
			break;
		case OPT_HELP:
			hf_bench_opts_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("holdfast-bench %s (protocol %d)\n", HF_VERSION, HF_PROTO_VERSION);
			return 1;
		case OPT_WAITING_ROOM:
			if (a == NULL || strcmp(a, "on") == 0)
				o->waiting_room = 1;
			else if (strcmp(a, "off") == 0)
				o->waiting_room = 2;
			else
				bad = 1;
			break;
		case OPT_ROOM_SHOPPERS: {
			double v;
			bad = parse_double(a, 0.01, HF_ROOM_SHOPPERS_PCT_MAX / 100.0, &v);
			o->room_shoppers_pct = (uint32_t)(v * 100.0 + 0.5);
			break;
		}
		default:
			return fail(err, err_size, "unknown or incomplete option '%s'",
				    argv[optind - 1]);
		}
		if (bad)
			return fail(err, err_size, "bad value '%s' for --%s", a ? a : "",
				    long_options[c - OPT_HOST].name);
	}
	if (optind < argc)
		return fail(err, err_size, "unexpected argument '%s'", argv[optind]);

	/* Defaults that depend on the workload. */
	if (!o->events_given)
		o->events = o->workload == HF_BENCH_WORKLOAD_ONSALE ||
				    o->workload == HF_BENCH_WORKLOAD_CREATE
				? 1
				: 64;
	if (!o->seats_given && o->workload == HF_BENCH_WORKLOAD_HOLDS)
		o->seats = 100000;
	if (o->workload == HF_BENCH_WORKLOAD_ONSALE && o->events != 1)
		return fail(err, err_size, "--workload onsale uses exactly one event");
	if (o->batch > 1 && o->target != HF_BENCH_TARGET_HOLDFAST)
		return fail(err, err_size, "--batch applies to the holdfast target only");
	if (o->waiting_room != 0 &&
	    (o->workload != HF_BENCH_WORKLOAD_ONSALE || o->target != HF_BENCH_TARGET_HOLDFAST))
		return fail(err, err_size, "--waiting-room is for --workload onsale on holdfast");
	if (o->waiting_room != 0 && o->users > HF_ROOM_QUEUE_SIZE_MAX)
		return fail(err, err_size, "--waiting-room takes at most %u --users",
			    HF_ROOM_QUEUE_SIZE_MAX);
	if (threads == 0)
		threads = o->connections < 2 ? o->connections : 2;
	if (threads > o->connections)
		return fail(err, err_size, "--threads %u is more than --connections %u", threads,
			    o->connections);
	o->threads = threads;
	if (o->warmup_s >= o->duration_s && o->ops_max == 0)
		return fail(err, err_size, "--warmup must be shorter than --duration");
	if (o->seed == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		o->seed = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
			  ((uint64_t)getpid() << 32);
		if (o->seed == 0)
			o->seed = 1;
	}
	if (o->event_base == 0) {
		/* Event ids from the seed, far apart between seeds: reruns do not collide, a rerun
		 * with the same --seed reuses the same (idempotently created) events. */
		o->event_base = (hf_hash64(o->seed) & 0x3fffffffffffull) << 16;
		if (o->event_base == 0)
			o->event_base = 1ull << 16;
	}
	HF_ASSERT(o->threads >= 1 && o->threads <= o->connections);
	HF_ASSERT(o->event_base != 0);
	return 0;
}
