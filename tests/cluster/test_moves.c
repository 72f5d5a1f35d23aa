/* Goal: slots really move between shards and nodes while clients book, and every interruption of
 * a move is repaired by `holdfast cluster fix`: after each step every acknowledged booking is
 * still booked by its id, no seat is booked twice, every event is answered by exactly one shard
 * (all others say MOVED), and the booking clients (the client library, several threads) saw no
 * error at all while the moves ran, only answers (TRY_AGAIN and MOVED are retried inside the
 * library). Kills: the CLI stops after each phase (`--stop-after`, as a killed CLI leaves it),
 * then the source or the target is SIGKILLed and restarted, then fix. etcd stopped mid-move: the
 * nodes keep serving, fix fails cleanly, and completes once etcd is back. Grow and shrink: a third
 * node joins, slots move to it (move-slot, rebalance), then `cluster remove` moves them back.
 *
 * Method: one private etcd (etcd_proc.c), two holdfastd nodes (2 shards and 1 shard, durability
 * wal) started by the engine harness on free loopback ports and stopped by pid, the holdfast CLI
 * as a child process; three booking threads each HOLD then CONFIRM one random seat of events
 * that live in the moving slot (and in others), recording what was acknowledged; checks read
 * every shard with the raw client while the threads pause. Every wait is a polled condition with
 * a deadline. The short form runs each phase x victim once; HF_LONG=1 runs HF_MOVES_KILLS
 * (default 200) kills at random phases and victims (seed printed; HF_SEED replays). */
#include "base/assert.h"
#include "client/holdfast.h"
#include "cluster/state.h"
#include "tests/cluster/etcd_proc.h"
#include "tests/engine/harness.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS	       15000u
#define CLI_TIMEOUT_MS 60000u
#define CLI_OUT_SIZE   (64u * 1024u)
#define WORKERS	       3u
#define EVENTS	       6u    /* 0..2 in the moving slot, 3..5 elsewhere */
#define EVENT_SEATS    1000u /* <= HF_SEAT_STATUS_SEATS_MAX: one SEAT_INFO reads them all */
#define WORKER_PACE_MS 3u    /* between two bookings of a worker: seats last the whole test */
#define BOOKINGS_MAX   8192u /* acknowledged bookings remembered per worker */
#define NODES	       3u    /* the third joins only in test_grow_shrink */
#define SHARDS_MAX     3u

static struct etcd_proc ep;
static const char *cli_path;
static char cli_out[CLI_OUT_SIZE];
static struct hf_cluster_state *st;
static struct hf_srv nodes[NODES];
static const uint32_t node_shards[NODES] = {2, 1, 1};
static char node_addr[NODES][32];
static uint64_t events[EVENTS];
static uint16_t slot_moving;

/* ---- Processes ---- */

static void node_start(uint32_t i)
{
	struct hf_srv_opts o = {
	    .shards = node_shards[i],
	    .durability = "wal",
	    /* Small pools: the test build's store checks walk them. */
	    .extra = {"--etcd", ep.url, "--cluster", "m", "--no-pin", "--records-max", "65536"}};
	assert_int_equal(hf_srv_start(&nodes[i], &o), 0);
	snprintf(node_addr[i], sizeof(node_addr[i]), "127.0.0.1:%u", (unsigned)nodes[i].port);
}

/* Runs the CLI with --etcd and --cluster m prepended; stdout goes to cli_out. Returns its exit
 * status (bounded: killed after CLI_TIMEOUT_MS). */
static int run_cli(const char *const *args)
{
	/* Sanitizer builds are slow: a node may take more than the default 2 s to answer. */
	const char *argv[32] = {cli_path, "--etcd", ep.url, "--cluster", "m", "--timeout", "10000"};
	int n = 7;
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int rc = etcd_run_cli(argv, cli_out, sizeof(cli_out), CLI_TIMEOUT_MS);
	if (rc < 0)
		fail_msg("holdfast %s did not finish within %u ms", args[0], CLI_TIMEOUT_MS);
	return rc;
}

static int read_state(void)
{
	char err[256];
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	int rc = hf_cluster_state_read(e, "m", st, err, sizeof(err));
	hf_etcd_destroy(e);
	return rc;
}

/* Every shard of every node serves a map of at least epoch. */
static void wait_epoch(uint64_t epoch)
{
	struct hf_reply *rep = hf_reply_new();
	uint64_t deadline = hf_mono_ms() + WAIT_MS;
	for (uint32_t i = 0; i < NODES; i++) {
		for (uint32_t s = 0; s < node_shards[i]; s++) {
			for (;;) {
				struct hf_request req;
				hf_req_ping(&req, 1);
				int fd = hf_tc_connect((uint16_t)(nodes[i].port + s));
				uint16_t status = hf_tc_call(fd, &req, rep);
				close(fd);
				if (status == HF_OK && rep->ping.epoch >= epoch)
					break;
				if (hf_mono_ms() > deadline)
					fail_msg("node %u shard %u still serves epoch %llu < %llu",
						 i, s, (unsigned long long)rep->ping.epoch,
						 (unsigned long long)epoch);
				hf_sleep_ms(10);
			}
		}
	}
	free(rep);
}

static void wait_settled(void)
{
	assert_int_equal(read_state(), 0);
	wait_epoch(st->map.epoch);
}

/* ---- Booking workers ---- */

struct booking {
	uint8_t event; /* index into events */
	uint16_t seat;
	uint64_t id;
};

struct worker {
	pthread_t thread;
	uint32_t index;
	struct hf_client *client;
	uint64_t rng;
	struct booking *bookings;
	atomic_uint bookings_count;
	atomic_uint errors; /* answers or failures no client should see */
	char last_error[160];
};

static struct worker workers[WORKERS];
static atomic_int stop_flag;
static atomic_int pause_flag;
static atomic_uint paused_count;
static int workers_running; /* the threads of workers_start run */
static uint64_t id_epoch;   /* hold ids differ from one workers_start to the next */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void worker_error(struct worker *w, const char *what, int rc, uint16_t status)
{
	atomic_fetch_add(&w->errors, 1);
	snprintf(w->last_error, sizeof(w->last_error), "%s: rc %d (%s), status %s", what, rc,
		 rc != 0 ? strerror(-rc) : "-", hf_status_name(status));
}

/* One HOLD of one random seat, then its CONFIRM; an acknowledged booking is remembered. */
static void worker_book(struct worker *w, uint64_t *seq)
{
	static _Thread_local struct hf_client_reply rep;
	uint32_t e = (uint32_t)(rng_next(&w->rng) % 4u == 3u ? 3u + rng_next(&w->rng) % 3u
							     : rng_next(&w->rng) % 3u);
	uint32_t seat = (uint32_t)(rng_next(&w->rng) % EVENT_SEATS);
	uint64_t id = id_epoch << 48 | ((uint64_t)(w->index + 1) << 40) | ++*seq;
	int rc =
	    hf_client_hold_seats(w->client, events[e], id, 1 + w->index, 30000, &seat, 1, &rep);
	if (rc != 0 || (rep.status != HF_OK && rep.status != HF_SEAT_TAKEN)) {
		worker_error(w, "hold", rc, rc == 0 ? rep.status : 0);
		return;
	}
	if (rep.status != HF_OK)
		return;
	rc = hf_client_confirm(w->client, events[e], id, &rep);
	if (rc != 0 || rep.status != HF_OK) {
		worker_error(w, "confirm", rc, rc == 0 ? rep.status : 0);
		return;
	}
	uint32_t n = atomic_load(&w->bookings_count);
	if (n < BOOKINGS_MAX) {
		w->bookings[n] =
		    (struct booking){.event = (uint8_t)e, .seat = (uint16_t)seat, .id = id};
		atomic_store(&w->bookings_count, n + 1);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seq = 0;
	while (!atomic_load(&stop_flag)) {
		if (atomic_load(&pause_flag)) {
			atomic_fetch_add(&paused_count, 1);
			while (atomic_load(&pause_flag) && !atomic_load(&stop_flag))
				hf_sleep_ms(1);
			atomic_fetch_sub(&paused_count, 1);
			continue;
		}
		worker_book(w, &seq);
		hf_sleep_ms(WORKER_PACE_MS);
	}
	return NULL;
}

static void workers_start(uint64_t seed)
{
	atomic_store(&stop_flag, 0);
	atomic_store(&pause_flag, 0);
	id_epoch++;
	for (uint32_t i = 0; i < WORKERS; i++) {
		struct worker *w = &workers[i];
		w->index = i;
		w->rng = seed + i;
		w->bookings = calloc(BOOKINGS_MAX, sizeof(*w->bookings));
		assert_non_null(w->bookings);
		atomic_store(&w->bookings_count, 0);
		atomic_store(&w->errors, 0);
		struct hf_client_options o;
		hf_client_options_default(&o);
		o.deadline_ms = 10000;
		o.breaker_timeouts = 0;
		assert_int_equal(hf_client_open(node_addr[0], &o, &w->client), 0);
		assert_int_equal(pthread_create(&w->thread, NULL, worker_main, w), 0);
	}
	workers_running = 1;
}

static void workers_stop(void)
{
	if (!workers_running)
		return;
	workers_running = 0;
	atomic_store(&stop_flag, 1);
	for (uint32_t i = 0; i < WORKERS; i++) {
		pthread_join(workers[i].thread, NULL);
		hf_client_close(workers[i].client);
		free(workers[i].bookings);
	}
}

/* After each test, also a failed one: no worker outlives it. */
static int test_teardown(void **state)
{
	(void)state;
	workers_stop();
	return 0;
}

static void workers_pause(void)
{
	atomic_store(&pause_flag, 1);
	uint64_t deadline = hf_mono_ms() + WAIT_MS;
	while (atomic_load(&paused_count) < WORKERS) {
		if (hf_mono_ms() > deadline)
			fail_msg("the booking workers did not pause within %u ms", WAIT_MS);
		hf_sleep_ms(1);
	}
}

static void workers_resume(void)
{
	atomic_store(&pause_flag, 0);
}

static uint32_t bookings_total(void)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < WORKERS; i++)
		n += atomic_load(&workers[i].bookings_count);
	return n;
}

/* Lets the workers book at least `more` more seats (bounded). */
static void workers_book(uint32_t more)
{
	uint32_t want = bookings_total() + more;
	uint64_t deadline = hf_mono_ms() + WAIT_MS;
	while (bookings_total() < want) {
		if (hf_mono_ms() > deadline)
			fail_msg("the workers booked %u seats, not %u, within %u ms",
				 bookings_total(), want, WAIT_MS);
		hf_sleep_ms(2);
	}
}

static void assert_no_client_errors(void)
{
	for (uint32_t i = 0; i < WORKERS; i++)
		if (atomic_load(&workers[i].errors) != 0)
			fail_msg("worker %u saw %u errors; the last: %s", i,
				 atomic_load(&workers[i].errors), workers[i].last_error);
}

static void clear_client_errors(void)
{
	for (uint32_t i = 0; i < WORKERS; i++)
		atomic_store(&workers[i].errors, 0);
}

/* ---- The checks (workers paused) ---- */

/* The one shard that does not answer MOVED for event e; its port. */
static uint16_t sole_owner(uint32_t e, struct hf_reply *rep)
{
	uint16_t owner = 0;
	uint32_t answering = 0;
	for (uint32_t i = 0; i < NODES; i++) {
		for (uint32_t s = 0; s < node_shards[i]; s++) {
			uint16_t port = (uint16_t)(nodes[i].port + s);
			struct hf_request req;
			hf_req_info(&req, 7, events[e]);
			int fd = hf_tc_connect(port);
			uint16_t status = hf_tc_call(fd, &req, rep);
			close(fd);
			if (status == HF_MOVED)
				continue;
			if (status != HF_OK)
				fail_msg("event %llu: shard :%u answered %s",
					 (unsigned long long)events[e], port,
					 hf_status_name(status));
			answering++;
			owner = port;
		}
	}
	if (answering != 1)
		fail_msg("event %llu is answered by %u shards", (unsigned long long)events[e],
			 answering);
	return owner;
}

static void check_event(uint32_t e, struct hf_reply *rep, uint8_t *booked)
{
	uint16_t port = sole_owner(e, rep);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SEAT_INFO;
	req.request_id = 9;
	req.seat_info.event_id = events[e];
	req.seat_info.seats_count = EVENT_SEATS;
	for (uint32_t i = 0; i < EVENT_SEATS; i++)
		req.seat_info.seats[i] = i;
	int fd = hf_tc_connect(port);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	for (uint32_t w = 0; w < WORKERS; w++) {
		uint32_t n = atomic_load(&workers[w].bookings_count);
		for (uint32_t k = 0; k < n; k++) {
			const struct booking *b = &workers[w].bookings[k];
			if (b->event != e)
				continue;
			if (booked[b->seat])
				fail_msg("event %u seat %u was acknowledged to two bookings", e,
					 b->seat);
			booked[b->seat] = 1;
			const struct hf_seat_info *si = &rep->seat_info.seats[b->seat];
			if (si->state != HF_SEAT_BOOKED || si->owner_id != b->id)
				fail_msg(
				    "event %u seat %u: acknowledged booking %llu lost (state %u "
				    "owner %llu)",
				    e, b->seat, (unsigned long long)b->id, si->state,
				    (unsigned long long)si->owner_id);
		}
	}
}

static void check_all(void)
{
	wait_settled();
	assert_int_equal(st->moves_count, 0);
	struct hf_reply *rep = hf_reply_new();
	static uint8_t booked[EVENT_SEATS];
	for (uint32_t e = 0; e < EVENTS; e++) {
		memset(booked, 0, sizeof(booked));
		check_event(e, rep, booked);
	}
	free(rep);
}

/* ---- Setup ---- */

static void pick_events(uint64_t base)
{
	events[0] = base;
	slot_moving = hf_slot_of(events[0]);
	uint32_t n = 1, m = 3;
	for (uint64_t id = base + 1; n < 3 || m < EVENTS; id++) {
		if (hf_slot_of(id) == slot_moving && n < 3)
			events[n++] = id;
		else if (hf_slot_of(id) != slot_moving && m < EVENTS)
			events[m++] = id;
	}
}

static int group_setup(void **state)
{
	(void)state;
	st = calloc(1, sizeof(*st));
	if (st == NULL || etcd_start(&ep) != 0)
		return -1;
	for (uint32_t i = 0; i < NODES; i++) {
		hf_srv_init(&nodes[i]);
		node_start(i);
	}
	uint64_t deadline = hf_mono_ms() + WAIT_MS;
	while (!(read_state() == 0 && st->nodes_count == NODES)) {
		if (hf_mono_ms() > deadline)
			fail_msg("the nodes did not register within %u ms", WAIT_MS);
		hf_sleep_ms(20);
	}
	/* The third node runs from the start (registered) but joins in test_grow_shrink. */
	if (run_cli((const char *[]){"cluster", "create", node_addr[0], node_addr[1], NULL}) != 0)
		return -1;
	wait_settled();
	return 0;
}

/* Each test books fresh events (so seats never run out): the last test's events are deleted
 * (EVENT_DELETE, forced: their bookings go too), new ones created from id base. */
static void events_new(uint64_t base)
{
	struct hf_client *c = NULL;
	assert_int_equal(hf_client_open(node_addr[0], NULL, &c), 0);
	static struct hf_client_reply rep;
	for (uint32_t e = 0; e < EVENTS && events[0] != 0; e++) {
		struct hf_request req = {.opcode = HF_OP_EVENT_DELETE};
		req.event_delete = (struct hf_req_event_delete){events[e], HF_EVENT_DELETE_FORCE};
		assert_int_equal(hf_client_call(c, &req, &rep), 0);
		assert_int_equal(rep.status, HF_OK);
		assert_int_equal(hf_client_event_info(c, events[e], &rep), 0);
		assert_int_equal(rep.status, HF_NO_EVENT);
	}
	pick_events(base);
	for (uint32_t e = 0; e < EVENTS; e++) {
		struct hf_req_create_event ce = {.event_id = events[e], .seats_count = EVENT_SEATS};
		assert_int_equal(hf_client_create_event(c, &ce, &rep), 0);
		assert_int_equal(rep.status, HF_OK);
	}
	hf_client_close(c);
}

static int group_teardown(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < NODES; i++)
		hf_srv_cleanup(&nodes[i]);
	etcd_stop(&ep);
	free(st);
	return 0;
}

/* "HOST:PORT/SHARD" of node i's shard s. */
static const char *target(uint32_t i, uint32_t s)
{
	static char buf[48];
	snprintf(buf, sizeof(buf), "%s/%u", node_addr[i], s);
	return buf;
}

/* Which node and shard own the moving slot now. */
static void slot_owner(uint32_t *node_out, uint32_t *shard_out)
{
	assert_int_equal(read_state(), 0);
	const struct hf_slot_owner *o = &st->map.owners[st->map.slot_owner[slot_moving]];
	for (uint32_t i = 0; i < NODES; i++) {
		if (o->port >= nodes[i].port && o->port < nodes[i].port + node_shards[i]) {
			*node_out = i;
			*shard_out = o->port - nodes[i].port;
			return;
		}
	}
	fail_msg("the moving slot's owner %s:%u is no node's", o->host, (unsigned)o->port);
}

/* The last lines of every node's log, for a failure's message. */
static void dump_logs(void)
{
	for (uint32_t i = 0; i < NODES; i++) {
		char cmd[PATH_MAX + 32];
		snprintf(cmd, sizeof(cmd), "tail -n 25 '%s' >&2", nodes[i].log_path);
		fprintf(stderr, "---- node %u (%s) ----\n", i, node_addr[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
	}
}

static void move_to(uint32_t node, uint32_t shard)
{
	char slot[8];
	snprintf(slot, sizeof(slot), "%u", (unsigned)slot_moving);
	int rc = run_cli((const char *[]){"move-slot", slot, "--to", target(node, shard), NULL});
	if (rc != 0)
		dump_logs();
	if (rc != 0)
		fail_msg("move-slot %s --to %s: exit %d: %s", slot, target(node, shard), rc,
			 cli_out);
	assert_non_null(strstr(cli_out, "moves 1/1 done"));
	printf("# %s", strstr(cli_out, "moves 1/1 done"));
}

/* ---- (a) back and forth under load ---- */

static void test_moves_under_load(void **state)
{
	(void)state;
	uint64_t seed =
	    getenv("HF_SEED") ? strtoull(getenv("HF_SEED"), NULL, 10) : (uint64_t)time(NULL);
	printf("moves_under_load: seed %llu (replay with HF_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	events_new(1000);
	workers_start(seed);
	workers_book(30);
	/* Round the three shards, twice: between nodes and between two shards of one node. */
	static const uint32_t ring[][2] = {{1, 0}, {0, 0}, {0, 1}};
	for (size_t h = 0; h < 6; h++) {
		uint32_t node, shard;
		slot_owner(&node, &shard);
		uint32_t k = 0;
		while (ring[k][0] != node || ring[k][1] != shard)
			k++;
		k = (k + 1) % HF_ARRAY_SIZE(ring);
		move_to(ring[k][0], ring[k][1]);
		workers_book(20); /* clients keep booking on the new owner */
		workers_pause();
		check_all();
		assert_no_client_errors();
		workers_resume();
	}
	workers_stop();
	assert_no_client_errors();
	printf("# %u bookings acknowledged and checked\n", bookings_total());
}

/* ---- (b) kills at every phase ---- */

static const char *const phase_names[] = {"copying", "frozen", "persisted", "flipped"};

/* One interrupted move: the CLI stops after phase, victim (0 source, 1 target, 2 none) is
 * SIGKILLed and restarted, cluster fix repairs. */
static void kill_round(uint32_t phase, uint32_t victim)
{
	uint32_t node, shard;
	slot_owner(&node, &shard);
	uint32_t to = 1 - node; /* across nodes, so each side can die alone */
	char slot[8];
	snprintf(slot, sizeof(slot), "%u", (unsigned)slot_moving);
	workers_resume();
	workers_book(10);
	/* Paused during the interrupted move: a slot left frozen would hold them until their
	 * deadline (test_moves_under_load covers moves under load). */
	workers_pause();
	int rc = run_cli((const char *[]){"move-slot", slot, "--to", target(to, 0), "--stop-after",
					  phase_names[phase], NULL});
	if (rc != 1)
		fail_msg("move-slot --stop-after %s: exit %d: %s", phase_names[phase], rc, cli_out);
	if (victim < 2) {
		uint32_t dead = victim == 0 ? node : to;
		assert_int_equal(hf_srv_stop(&nodes[dead], SIGKILL), 128 + SIGKILL);
		node_start(dead);
	}
	rc = run_cli((const char *[]){"cluster", "fix", NULL});
	if (rc != 0)
		fail_msg("cluster fix after %s, victim %u: exit %d: %s", phase_names[phase], victim,
			 rc, cli_out);
	check_all();
	/* Killed nodes made the workers' requests wait or fail: only the moves' checks count. */
	clear_client_errors();
}

static void test_kills(void **state)
{
	(void)state;
	uint64_t seed =
	    getenv("HF_SEED") ? strtoull(getenv("HF_SEED"), NULL, 10) : (uint64_t)time(NULL);
	printf("kills: seed %llu (replay with HF_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	events_new(50000);
	workers_start(seed);
	workers_pause();
	for (uint32_t phase = 0; phase < 4; phase++)
		for (uint32_t victim = 0; victim < 3; victim++)
			kill_round(phase, victim);
	if (getenv("HF_LONG") != NULL) {
		uint32_t kills =
		    getenv("HF_MOVES_KILLS") ? (uint32_t)atoi(getenv("HF_MOVES_KILLS")) : 200u;
		uint64_t r = seed;
		for (uint32_t k = 0; k < kills; k++)
			kill_round((uint32_t)(rng_next(&r) % 4u), (uint32_t)(rng_next(&r) % 2u));
		printf("# %u more kills\n", kills);
	}
	workers_resume();
	workers_stop();
	printf("# %u bookings acknowledged and checked\n", bookings_total());
}

/* ---- (d) grow and shrink ---- */

/* A third node joins, the moving slot and a rebalance's worth of others move to it while clients
 * book, then it is removed (its slots, the moving one with them, move back). */
static void test_grow_shrink(void **state)
{
	(void)state;
	events_new(130000);
	workers_start(7);
	workers_book(10);
	assert_int_equal(run_cli((const char *[]){"cluster", "add", node_addr[2], NULL}), 0);
	move_to(2, 0);
	workers_book(10);
	int rc = run_cli((const char *[]){"rebalance", "--max-moves", "4", NULL});
	if (rc != 0)
		fail_msg("rebalance: exit %d: %s", rc, cli_out);
	assert_non_null(strstr(cli_out, "moves 4/4 done"));
	workers_pause();
	check_all();
	assert_no_client_errors();
	workers_resume();
	rc = run_cli((const char *[]){"cluster", "remove", node_addr[2], NULL});
	if (rc != 0)
		fail_msg("cluster remove: exit %d: %s", rc, cli_out);
	assert_non_null(strstr(cli_out, "moves 5/5 done"));
	assert_non_null(strstr(cli_out, "removed"));
	workers_book(10);
	workers_pause();
	check_all();
	assert_int_equal(st->members_count, 2);
	assert_no_client_errors();
	workers_resume();
	workers_stop();
	printf("# %u bookings acknowledged and checked\n", bookings_total());
}

/* ---- (c) etcd stopped mid-move ---- */

static void test_etcd_down(void **state)
{
	(void)state;
	events_new(90000);
	workers_start(42);
	workers_book(10);
	uint32_t node, shard;
	slot_owner(&node, &shard);
	char slot[8];
	snprintf(slot, sizeof(slot), "%u", (unsigned)slot_moving);
	assert_int_equal(run_cli((const char *[]){"move-slot", slot, "--to", target(1 - node, 0),
						  "--stop-after", "copying", NULL}),
			 1);
	etcd_kill(&ep);
	/* The nodes keep serving their slots, the moving one included. */
	workers_book(30);
	assert_no_client_errors();
	/* Neither fix nor a new move can do anything without etcd: they say so and change
	 * nothing. */
	assert_int_equal(run_cli((const char *[]){"cluster", "fix", NULL}), 2);
	assert_int_equal(
	    run_cli((const char *[]){"move-slot", "1", "--to", target(1 - node, 0), NULL}), 2);
	assert_int_equal(etcd_restart(&ep), 0);
	workers_pause();
	assert_int_equal(run_cli((const char *[]){"cluster", "fix", NULL}), 0);
	assert_non_null(strstr(cli_out, "rolled back"));
	check_all();
	workers_resume();
	move_to(1 - node, 0);
	workers_pause();
	check_all();
	assert_no_client_errors();
	workers_resume();
	workers_stop();
}

int main(int argc, char **argv)
{
	cli_path = argc > 1 ? argv[1] : NULL;
	etcd_require();
	if (getenv("HOLDFASTD") == NULL || cli_path == NULL || access(cli_path, X_OK) != 0) {
		printf("holdfastd or the holdfast CLI is missing: skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_moves_under_load, test_teardown),
	    cmocka_unit_test_teardown(test_kills, test_teardown),
	    cmocka_unit_test_teardown(test_etcd_down, test_teardown),
	    cmocka_unit_test_teardown(test_grow_shrink, test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
