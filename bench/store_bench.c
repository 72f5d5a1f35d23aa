/* store-bench: micro-benchmark of the seat store alone (no network, no disk).
 *
 * Measures single-thread ops/s of hf_store_apply for HOLD (explicit 1 and 4 seats, best-available
 * N = 4), CONFIRM, RELEASE, AVAIL (counts only, and a 1024-seat bitmap), EVENT_INFO and expiry
 * through hf_store_tick, on a 1M-seat event; and the store's memory per seat for 1M- and 10M-seat
 * events, free and after a sell-out, both as the store counts it (hf_store_counts.memory_bytes) and
 * as the process's resident set grows (/proc/self/statm). Each throughput figure is the median of
 * --runs runs (default 3). Usage: store-bench [--runs N] [--quick]. Results and the exact command
 * are kept in docs/bench.md ("Seat store micro-benchmark"). */
#include "shards/store_int.h"

#include "base/assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_RUNS_MAX 9u
#define BENCH_EVENT_ID 42u
#define BENCH_NOW_MS   1700000000000ull
#define BENCH_TTL_MS   600000u

static uint32_t seats_bench = 1000000; /* seats of the throughput event */
static uint32_t holds_bench = 200000;  /* holds per throughput run */
static uint32_t reads_bench = 2000000; /* read ops per throughput run */

struct bench_ctx {
	uint64_t now_ms; /* the clock every op of the run uses */
	struct hf_store *store;
	struct hf_changes changes;
	struct hf_request req;
	struct hf_reply rep;
};

static void ctx_open(struct bench_ctx *c, uint64_t seats, uint32_t records, uint32_t row_width)
{
	struct hf_store_config cfg = {1, seats, records, 60000};
	HF_ASSERT(hf_store_create(&cfg, &c->store) == 0);
	HF_ASSERT(hf_changes_init(&c->changes, 4096) == 0);
	c->now_ms = BENCH_NOW_MS;
	memset(&c->req, 0, sizeof(c->req));
	c->req.opcode = HF_OP_CREATE_EVENT;
	c->req.create_event = (struct hf_req_create_event){.event_id = BENCH_EVENT_ID,
							   .seats_count = (uint32_t)seats,
							   .row_width = row_width,
							   .hold_lifetime_max_s = 3600};
	HF_ASSERT(hf_store_apply(c->store, &c->req, BENCH_NOW_MS, &c->rep, &c->changes) == HF_OK);
}

static void ctx_close(struct bench_ctx *c)
{
	hf_store_destroy(c->store);
	hf_changes_deinit(&c->changes);
}

/* Runs one request; the change list is emptied when full, as the shard loop does per batch. */
static enum hf_status run(struct bench_ctx *c)
{
	if (!hf_changes_has_room(&c->changes))
		hf_changes_reset(&c->changes);
	return hf_store_apply(c->store, &c->req, c->now_ms, &c->rep, &c->changes);
}

static void hold_explicit(struct bench_ctx *c, uint64_t id, uint32_t first, uint32_t n)
{
	c->req.opcode = HF_OP_HOLD;
	c->req.hold = (struct hf_req_hold){.event_id = BENCH_EVENT_ID,
					   .hold_id = id,
					   .user_id = id % 1000 + 1,
					   .ttl_ms = BENCH_TTL_MS,
					   .mode = HF_HOLD_EXPLICIT,
					   .seats_count = n};
	for (uint32_t i = 0; i < n; i++)
		c->req.hold.seats[i] = first + i;
}

static void hold_ref(struct bench_ctx *c, uint8_t opcode, uint64_t id)
{
	c->req.opcode = opcode;
	c->req.confirm = (struct hf_req_hold_ref){BENCH_EVENT_ID, id};
}

/* Places `count` explicit holds of n seats each at seats n*i (all succeed). */
static void place_holds(struct bench_ctx *c, uint32_t count, uint32_t n)
{
	for (uint32_t i = 0; i < count; i++) {
		hold_explicit(c, i + 1, i * n, n);
		HF_ASSERT(run(c) == HF_OK);
	}
}

/* Touches the memory `count` holds of 4 seats use (records, table slots, owner chunks) and gives it
 * back: place, release, then forget the tombstones. Without this every run measures the first-touch
 * page faults of a fresh store, which on this VM cost more than the ops themselves. */
static void warm_up(struct bench_ctx *c, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		hold_explicit(c, 1000000000u + i, i * 4, 4);
		HF_ASSERT(run(c) == HF_OK);
		hold_ref(c, HF_OP_RELEASE, 1000000000u + i);
		HF_ASSERT(run(c) == HF_OK);
	}
	c->now_ms += 120000; /* past the tombstone ttl */
	uint32_t left = count;
	while (left > 0) {
		hf_changes_reset(&c->changes);
		uint32_t before = c->store->tombstones_total;
		hf_store_tick(c->store, c->now_ms, 4000, &c->changes);
		left -= before - c->store->tombstones_total;
	}
	hf_changes_reset(&c->changes);
	HF_ASSERT(c->store->records_used == 0 && c->store->free_total == seats_bench);
}

/* Thread CPU time, not wall time: on a shared 2-core machine the wall clock mostly measures the
 * time spent waiting for a core. Page faults taken by this thread are included. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs_since(uint64_t start_ns)
{
	return (double)(cpu_ns() - start_ns) / 1e9;
}

/* ---- Throughput scenarios: each returns ops/s of the timed part ---- */

enum scenario {
	SC_HOLD1_COLD,
	SC_HOLD1,
	SC_HOLD4,
	SC_BEST4,
	SC_CONFIRM,
	SC_RELEASE,
	SC_AVAIL_COUNT,
	SC_AVAIL_1024,
	SC_INFO,
	SC_EXPIRE,
	SC_COUNT
};

static const char *const scenario_names[] = {
    "HOLD 1 seat, cold store",
    "HOLD explicit, 1 seat",
    "HOLD explicit, 4 seats",
    "HOLD best-available, N=4",
    "CONFIRM",
    "RELEASE",
    "AVAIL counts only",
    "AVAIL 1024-seat bitmap",
    "EVENT_INFO",
    "expiry via hf_store_tick",
};
HF_STATIC_ASSERT(HF_ARRAY_SIZE(scenario_names) == SC_COUNT, "one name per scenario");

static double scenario_run(enum scenario sc)
{
	struct bench_ctx c;
	uint32_t rw = sc == SC_BEST4 ? 100 : 0;
	ctx_open(&c, seats_bench, holds_bench + 16, rw);
	uint64_t start = 0;
	uint32_t ops = holds_bench;
	if (sc != SC_HOLD1_COLD)
		warm_up(&c, ops);
	switch (sc) {
	case SC_HOLD1_COLD:
	case SC_HOLD1:
	case SC_HOLD4: {
		uint32_t n = sc == SC_HOLD4 ? 4 : 1;
		start = cpu_ns();
		place_holds(&c, ops, n);
		break;
	}
	case SC_BEST4:
		start = cpu_ns();
		for (uint32_t i = 0; i < ops; i++) {
			c.req.opcode = HF_OP_HOLD;
			c.req.hold = (struct hf_req_hold){.event_id = BENCH_EVENT_ID,
							  .hold_id = i + 1,
							  .user_id = i % 1000 + 1,
							  .ttl_ms = BENCH_TTL_MS,
							  .mode = HF_HOLD_BEST,
							  .seats_count = 4};
			HF_ASSERT(run(&c) == HF_OK);
		}
		break;
	case SC_CONFIRM:
	case SC_RELEASE:
		place_holds(&c, ops, 4);
		start = cpu_ns();
		for (uint32_t i = 0; i < ops; i++) {
			hold_ref(&c, sc == SC_CONFIRM ? HF_OP_CONFIRM : HF_OP_RELEASE, i + 1);
			HF_ASSERT(run(&c) == HF_OK);
		}
		break;
	case SC_AVAIL_COUNT:
	case SC_AVAIL_1024:
	case SC_INFO: {
		/* Half the event held, in holds of 4 spread over the whole event. */
		for (uint32_t i = 0; i < ops; i++) {
			uint32_t first = (uint32_t)(((uint64_t)i * seats_bench) / ops);
			hold_explicit(&c, i + 1, first, 2);
			HF_ASSERT(run(&c) == HF_OK);
		}
		ops = reads_bench;
		uint64_t x = 12345;
		start = cpu_ns();
		for (uint32_t i = 0; i < ops; i++) {
			if (sc == SC_INFO) {
				c.req.opcode = HF_OP_EVENT_INFO;
				c.req.event_info.event_id = BENCH_EVENT_ID;
			} else {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				uint32_t count = sc == SC_AVAIL_1024 ? 1024 : 0;
				uint32_t first = (uint32_t)((x >> 33) % (seats_bench - 1024));
				c.req.opcode = HF_OP_AVAIL;
				c.req.avail = (struct hf_req_avail){BENCH_EVENT_ID, first, count};
			}
			HF_ASSERT(run(&c) == HF_OK);
		}
		break;
	}
	case SC_EXPIRE: {
		place_holds(&c, ops, 4);
		uint32_t expired = 0;
		start = cpu_ns();
		while (expired < ops) {
			hf_changes_reset(&c.changes);
			expired +=
			    hf_store_tick(c.store, c.now_ms + BENCH_TTL_MS, 4000, &c.changes);
		}
		HF_ASSERT(expired == ops);
		break;
	}
	case SC_COUNT:
		HF_PANIC("scenario %d", (int)sc);
	}
	double s = secs_since(start);
	hf_store_check(c.store);
	ctx_close(&c);
	return (double)ops / s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- Memory ---- */

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t memory_bytes(const struct hf_store *store)
{
	struct hf_store_counts counts;
	hf_store_counts(store, &counts);
	return counts.memory_bytes;
}

static void memory_run(uint32_t seats)
{
	/* A sell-out in bookings of 64 seats: the fewest records a sold event can have. */
	uint32_t holds = seats / 64 + 1;
	struct bench_ctx c;
	struct hf_store_config cfg = {1, seats, holds + 16, 60000};
	HF_ASSERT(hf_changes_init(&c.changes, 4096) == 0);
	HF_ASSERT(hf_store_create(&cfg, &c.store) == 0);
	c.now_ms = BENCH_NOW_MS;
	uint64_t mem0 = memory_bytes(c.store);
	uint64_t rss1 = rss_bytes();

	memset(&c.req, 0, sizeof(c.req));
	c.req.opcode = HF_OP_CREATE_EVENT;
	c.req.create_event = (struct hf_req_create_event){
	    .event_id = BENCH_EVENT_ID, .seats_count = seats, .hold_lifetime_max_s = 3600};
	HF_ASSERT(run(&c) == HF_OK);
	uint64_t mem_free = memory_bytes(c.store) - mem0;
	uint64_t rss_free = rss_bytes() - rss1;

	for (uint32_t i = 0; i * 64u < seats; i++) {
		uint32_t n = seats - i * 64u < 64 ? seats - i * 64u : 64;
		hold_explicit(&c, i + 1, i * 64u, n);
		HF_ASSERT(run(&c) == HF_OK);
		hold_ref(&c, HF_OP_CONFIRM, i + 1);
		HF_ASSERT(run(&c) == HF_OK);
	}
	struct hf_store_counts counts;
	hf_store_counts(c.store, &counts);
	HF_ASSERT(counts.free_count == 0 && counts.booked_count == seats);
	uint64_t mem_sold = counts.memory_bytes - mem0;
	uint64_t rss_sold = rss_bytes() - rss1;
	/* The record pool is allocated at create (counted in mem0, "fixed pools", with the tables)
	 * and becomes resident only as bookings fill it. */
	uint64_t records_bytes = (uint64_t)counts.bookings_count * sizeof(struct record);

	printf("| %5.1fM | %11.3f | %9.3f | %11.3f | %13.3f | %9.3f | %8.1f MB |\n", seats / 1e6,
	       (double)mem_free / seats, (double)rss_free / seats, (double)mem_sold / seats,
	       (double)records_bytes / seats, (double)rss_sold / seats, (double)mem0 / 1e6);
	ctx_close(&c);
}

int main(int argc, char **argv)
{
	uint32_t runs = 3;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--quick") == 0) {
			seats_bench = 100000;
			holds_bench = 20000;
			reads_bench = 100000;
		} else {
			fprintf(stderr, "usage: %s [--runs N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (runs == 0 || runs > BENCH_RUNS_MAX)
		runs = 3;
	printf("seat store micro-benchmark: one thread, %u-seat event, %u holds or %u reads per "
	       "run, median of %u runs, thread CPU time\n\n",
	       seats_bench, holds_bench, reads_bench, runs);
	printf("| operation                  |      ops/s (median) |  ns/op |   min ops/s |   max "
	       "ops/s |\n");
	printf("|----------------------------|--------------------:|-------:|------------:|--------"
	       "----:|\n");
	for (int sc = 0; sc < SC_COUNT; sc++) {
		double v[BENCH_RUNS_MAX];
		for (uint32_t r = 0; r < runs; r++)
			v[r] = scenario_run((enum scenario)sc);
		qsort(v, runs, sizeof(double), cmp_double);
		double med = v[runs / 2];
		printf("| %-26s | %19.0f | %6.0f | %11.0f | %11.0f |\n", scenario_names[sc], med,
		       1e9 / med, v[0], v[runs - 1]);
		fflush(stdout);
	}
	printf("\nmemory in bytes per seat (state = hf_store_counts.memory_bytes growth; RSS = "
	       "resident set growth)\n\n");
	printf("| seats  | free: state | free: RSS | sold: state | sold: records | sold: RSS | "
	       "fixed pools |\n");
	printf("|--------|------------:|----------:|------------:|--------------:|----------:|"
	       "------------:|\n");
	memory_run(1000000);
	memory_run(10000000);
	return 0;
}
