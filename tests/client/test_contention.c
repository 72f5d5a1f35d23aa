/* Goal: under contention no seat is ever held or booked twice, and the engine's counts equal what
 * the clients were told: 8 threads, each with its own client, race for the same seats of one event.
 *
 * Method: start holdfastd (argv[1]; exit 77 when it is missing) with 2 shards. Each thread keeps 16
 * pipelined requests in flight: holds of 1-4 explicit seats drawn from a small hot region (so they
 * overlap) or best-available holds of 1-4 seats, and, from the completion callback, releases or
 * confirms some of the holds it won. Every answer is recorded. Then the test checks, seat by seat
 * (SEAT_STATUS), that each held or booked seat belongs to exactly one hold that a client was told
 * it won (and still holds), that free seats belong to none, and that EVENT_INFO's held and booked
 * counts equal the sums of the won seats. The thread-level choices are random: the seed is printed
 * and HF_SEED replays it. */
#include "client/holdfast.h"
#include "tests/client/server_proc.h"

#include "base/assert.h"
#include "base/clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define THREADS		 8u
#define SEATS		 400u
#define ROW_WIDTH	 20u
#define HOT_SEATS	 120u
#define HOLDS_PER_THREAD 300u
#define HOLD_SEATS_MAX	 4u
#define DEPTH		 16u
#define RUN_TIME_MS_MAX	 90000u
#define EVENT_ID	 4242u
#define TTL_MS		 600000u

enum hold_state {
	H_PENDING = 0,
	H_REFUSED,
	H_HELD,
	H_RELEASING,
	H_RELEASED,
	H_CONFIRMING,
	H_BOOKED,
};

enum tag_kind {
	TAG_HOLD = 0,
	TAG_RELEASE = 1,
	TAG_CONFIRM = 2,
};

struct hold_rec {
	uint64_t id;
	uint8_t state; /* enum hold_state */
	uint8_t best;
	uint32_t seats_count;
	uint32_t seats[HOLD_SEATS_MAX];
};

struct worker {
	pthread_t thread;
	uint32_t index;
	struct hf_client *client;
	uint64_t rng;
	struct hold_rec holds[HOLDS_PER_THREAD];
	uint32_t next;
	uint32_t won;
	uint32_t refused;
	int failed;
	char why[200];
};

static const char *holdfastd_path;
static struct server_proc server;
static struct worker workers[THREADS];
static uint64_t seed;

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void worker_fail(struct worker *w, const char *what, int error, uint16_t status)
{
	if (w->failed)
		return;
	w->failed = 1;
	snprintf(w->why, sizeof(w->why), "thread %u: %s: error %d, status %s", w->index, what,
		 error, hf_status_name(status));
}

static void submit_ref(struct worker *w, uint32_t idx, uint8_t opcode)
{
	struct hf_request req;
	req.opcode = opcode;
	req.confirm.event_id = EVENT_ID;
	req.confirm.hold_id = w->holds[idx].id;
	uint64_t kind = opcode == HF_OP_RELEASE ? TAG_RELEASE : TAG_CONFIRM;
	int rc = hf_client_submit(w->client, &req, kind << 32 | idx);
	if (rc != 0) {
		worker_fail(w, "submit release/confirm", rc, 0);
		return;
	}
	w->holds[idx].state = opcode == HF_OP_RELEASE ? H_RELEASING : H_CONFIRMING;
}

static void on_hold(struct worker *w, struct hold_rec *h, uint32_t idx,
		    const struct hf_client_reply *r)
{
	if (r->status == HF_SEAT_TAKEN || r->status == HF_NOT_ENOUGH || r->status == HF_BUSY) {
		h->state = H_REFUSED;
		w->refused++;
		return;
	}
	if (r->status != HF_OK || r->hold.hold_id != h->id ||
	    r->hold.seats_count != h->seats_count) {
		worker_fail(w, "hold answer", 0, r->status);
		return;
	}
	for (uint32_t i = 0; i < h->seats_count; i++) {
		if (!h->best && r->hold.seats[i] != h->seats[i])
			worker_fail(w, "hold seats differ from the request", 0, r->status);
		h->seats[i] = r->hold.seats[i];
	}
	h->state = H_HELD;
	w->won++;
	/* Churn: give some seats back while others race for them, book others. */
	uint64_t dice = rng_next(&w->rng) % 10;
	if (dice < 3)
		submit_ref(w, idx, HF_OP_RELEASE);
	else if (dice < 6)
		submit_ref(w, idx, HF_OP_CONFIRM);
}

static void on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *r)
{
	struct worker *w = arg;
	uint32_t idx = (uint32_t)tag;
	uint32_t kind = (uint32_t)(tag >> 32);
	if (idx >= HOLDS_PER_THREAD) {
		worker_fail(w, "bad tag", 0, 0);
		return;
	}
	struct hold_rec *h = &w->holds[idx];
	if (error != 0) {
		worker_fail(w, "no answer", error, 0);
		return;
	}
	switch (kind) {
	case TAG_HOLD:
		on_hold(w, h, idx, r);
		break;
	case TAG_RELEASE:
		if (r->status == HF_OK)
			h->state = H_RELEASED;
		else if (r->status == HF_BUSY)
			h->state = H_HELD;
		else
			worker_fail(w, "release answer", 0, r->status);
		break;
	case TAG_CONFIRM:
		if (r->status == HF_OK && r->confirm.seats_count == h->seats_count)
			h->state = H_BOOKED;
		else if (r->status == HF_BUSY)
			h->state = H_HELD;
		else
			worker_fail(w, "confirm answer", 0, r->status);
		break;
	default:
		worker_fail(w, "bad tag kind", 0, 0);
	}
}

static void submit_hold(struct worker *w)
{
	uint32_t idx = w->next;
	struct hold_rec *h = &w->holds[idx];
	h->id = (uint64_t)(w->index + 1) << 32 | (idx + 1);
	h->seats_count = 1 + (uint32_t)(rng_next(&w->rng) % HOLD_SEATS_MAX);
	h->best = rng_next(&w->rng) % 2 == 0;
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.hold.event_id = EVENT_ID;
	req.hold.hold_id = h->id;
	req.hold.user_id = w->index;
	req.hold.ttl_ms = TTL_MS;
	req.hold.mode = h->best ? HF_HOLD_BEST : HF_HOLD_EXPLICIT;
	req.hold.seats_count = h->seats_count;
	if (!h->best) {
		/* Distinct seats of the hot region (a partial Fisher-Yates shuffle): every thread
		 * aims at the same few seats. */
		uint32_t pool[HOT_SEATS];
		for (uint32_t i = 0; i < HOT_SEATS; i++)
			pool[i] = i;
		for (uint32_t i = 0; i < h->seats_count; i++) {
			uint32_t j = i + (uint32_t)(rng_next(&w->rng) % (HOT_SEATS - i));
			uint32_t seat = pool[j];
			pool[j] = pool[i];
			pool[i] = seat;
			h->seats[i] = seat;
			req.hold.seats[i] = seat;
		}
	}
	int rc = hf_client_submit(w->client, &req, (uint64_t)TAG_HOLD << 32 | idx);
	if (rc != 0) {
		worker_fail(w, "submit hold", rc, 0);
		return;
	}
	h->state = H_PENDING;
	w->next++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t deadline = hf_clock_mono_ms() + RUN_TIME_MS_MAX;
	while ((w->next < HOLDS_PER_THREAD || hf_client_in_flight(w->client) > 0) && !w->failed) {
		if (hf_clock_mono_ms() > deadline) {
			worker_fail(w, "ran out of time", 0, 0);
			break;
		}
		while (w->next < HOLDS_PER_THREAD && hf_client_in_flight(w->client) < DEPTH &&
		       !w->failed)
			submit_hold(w);
		int n = hf_client_poll(w->client, 1000, on_complete, w);
		if (n < 0)
			worker_fail(w, "poll", n, 0);
	}
	return NULL;
}

static void test_contention(void **state)
{
	(void)state;
	struct hf_client *c;
	assert_int_equal(hf_client_open(server.addr, NULL, &c), 0);
	static struct hf_client_reply rep;
	struct hf_req_create_event ce = {
	    .event_id = EVENT_ID, .seats_count = SEATS, .row_width = ROW_WIDTH};
	assert_int_equal(hf_client_create_event(c, &ce, &rep), 0);
	assert_int_equal(rep.status, HF_OK);

	for (uint32_t i = 0; i < THREADS; i++) {
		struct worker *w = &workers[i];
		memset(w, 0, sizeof(*w));
		w->index = i;
		w->rng = seed ^ (0x1000193ull * (i + 1));
		struct hf_client_options o;
		hf_client_options_default(&o);
		o.pipeline_max = 2 * DEPTH;
		assert_int_equal(hf_client_open(server.addr, &o, &w->client), 0);
	}
	uint64_t t0 = hf_clock_mono_ms();
	for (uint32_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]),
				 0);
	for (uint32_t i = 0; i < THREADS; i++)
		pthread_join(workers[i].thread, NULL);
	uint64_t elapsed_ms = hf_clock_mono_ms() - t0;
	int failed = 0;
	for (uint32_t i = 0; i < THREADS; i++) {
		if (workers[i].failed) {
			fprintf(stderr, "%s\n", workers[i].why);
			failed = 1;
		}
		hf_client_close(workers[i].client);
	}
	assert_false(failed);

	/* What the clients were told: who owns each seat now. */
	static uint64_t owner[SEATS];
	static uint8_t booked[SEATS];
	memset(owner, 0, sizeof(owner));
	uint32_t held_sum = 0, booked_sum = 0, holds_live = 0, bookings_live = 0, won = 0;
	for (uint32_t i = 0; i < THREADS; i++) {
		won += workers[i].won;
		for (uint32_t k = 0; k < HOLDS_PER_THREAD; k++) {
			const struct hold_rec *h = &workers[i].holds[k];
			assert_true(h->state != H_PENDING && h->state != H_RELEASING &&
				    h->state != H_CONFIRMING);
			if (h->state != H_HELD && h->state != H_BOOKED)
				continue;
			for (uint32_t s = 0; s < h->seats_count; s++) {
				uint32_t seat = h->seats[s];
				assert_true(seat < SEATS);
				if (owner[seat] != 0)
					fail_msg("seat %u told to holds %" PRIu64 " and %" PRIu64,
						 seat, owner[seat], h->id);
				owner[seat] = h->id;
				booked[seat] = h->state == H_BOOKED;
			}
			if (h->state == H_BOOKED) {
				booked_sum += h->seats_count;
				bookings_live++;
			} else {
				held_sum += h->seats_count;
				holds_live++;
			}
		}
	}
	/* What the engine says, seat by seat. */
	uint32_t seats[SEATS];
	for (uint32_t s = 0; s < SEATS; s++)
		seats[s] = s;
	assert_int_equal(hf_client_seat_status(c, EVENT_ID, seats, SEATS, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(rep.seat_status.seats_count, SEATS);
	for (uint32_t s = 0; s < SEATS; s++) {
		const struct hf_seat_info *si = &rep.seat_status.seats[s];
		assert_int_equal(si->seat, s);
		if (owner[s] == 0) {
			if (si->state != HF_SEAT_FREE)
				fail_msg("seat %u is %u (owner %" PRIu64 ") but no client won it",
					 s, si->state, si->owner_id);
			continue;
		}
		assert_int_equal(si->state, booked[s] ? HF_SEAT_BOOKED : HF_SEAT_HELD);
		assert_int_equal(si->owner_id, owner[s]);
	}
	assert_int_equal(hf_client_event_info(c, EVENT_ID, &rep), 0);
	assert_int_equal(rep.status, HF_OK);
	assert_int_equal(rep.event_info.held_count, held_sum);
	assert_int_equal(rep.event_info.booked_count, booked_sum);
	assert_int_equal(rep.event_info.free_count, SEATS - held_sum - booked_sum);
	assert_int_equal(rep.event_info.holds_count, holds_live);
	assert_int_equal(rep.event_info.bookings_count, bookings_live);
	printf(
	    "contention: %u threads, %u holds won of %u, %u seats held and %u booked at the end, "
	    "%" PRIu64 " ms\n",
	    THREADS, won, THREADS * HOLDS_PER_THREAD, held_sum, booked_sum, elapsed_ms);
	hf_client_close(c);
}

int main(int argc, char **argv)
{
	holdfastd_path = argc > 1 ? argv[1] : NULL;
	server_require(holdfastd_path);
	seed = hf_clock_mono_ns();
	const char *env = getenv("HF_SEED");
	if (env != NULL)
		seed = strtoull(env, NULL, 0);
	printf("test_contention: HF_SEED=%" PRIu64 "\n", seed);
	if (server_start(&server, holdfastd_path, 2, "none") != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contention),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	server_stop(&server);
	return rc;
}
