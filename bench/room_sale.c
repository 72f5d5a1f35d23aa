/* The waiting-room on-sale of holdfast-bench (see room_sale.h). One thread, one libholdfast
 * client, every buyer a small state machine with at most one request in flight; a buyer with a
 * timer (a poll, a checkout, a retry) waits in its state until its time comes. */
#include "bench/room_sale.h"

#include "base/assert.h"
#include "base/clock.h"
#include "bench/hist.h"
#include "bench/workload.h"
#include "client/holdfast.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum buyer_state {
	B_JOIN = 0,	/* to send JOIN (room) */
	B_WAITING = 1,	/* in the queue: POSITION at next_ms */
	B_HOLD = 2,	/* admitted (or no room): HOLD at next_ms */
	B_CHECKOUT = 3, /* holding: CONFIRM or RELEASE at next_ms */
	B_DONE = 4,
};

enum buyer_end {
	END_NONE = 0,
	END_BOUGHT,
	END_RELEASED,
	END_NOTHING, /* admitted (or tried, without a room) and found no seat */
	END_SOLD_OUT,
	END_ERROR,
	END_COUNT,
};

static const char *const end_names[END_COUNT] = {"none",	  "bought",   "released",
						 "found_nothing", "sold_out", "error"};

struct buyer {
	uint64_t next_ms; /* monotonic: when its next request may go */
	uint64_t sent_ns;
	uint64_t hold_id;
	struct hf_room_token token;
	uint8_t state; /* enum buyer_state */
	uint8_t end;   /* enum buyer_end */
	uint8_t want;  /* seats wanted, 1 or 2 */
	uint8_t in_flight;
	uint8_t will_confirm;
	uint8_t admitted;
	uint16_t tries;
};

struct sale {
	const struct hf_bench_opts *o;
	struct hf_client *client;      /* HOLD, CONFIRM, RELEASE: the buyers' purchases */
	struct hf_client *room_client; /* JOIN, POSITION: the waiting room's traffic */
	struct buyer *buyers;
	uint32_t buyers_count;
	uint32_t done_count;
	uint64_t event_id;
	uint64_t start_ns;
	uint64_t soldout_ns;
	uint64_t booked;
	uint64_t ends[END_COUNT];
	uint64_t admitted_count;
	uint64_t requests[HF_OP_ROOM_INFO + 1];
	uint64_t transport_errors;
	struct hf_hist hold_hist; /* HOLDs of admitted buyers (all buyers without a room) */
	struct hf_hist join_hist; /* JOIN and POSITION */
	struct hf_bench_rng rng;
};

static int with_room(const struct sale *s)
{
	return s->o->waiting_room == 1;
}

static void buyer_end(struct sale *s, struct buyer *b, uint8_t end)
{
	HF_ASSERT(b->state != B_DONE);
	b->state = B_DONE;
	b->end = end;
	s->ends[end]++;
	s->done_count++;
}

static void req_fill(const struct sale *s, const struct buyer *b, uint64_t user,
		     struct hf_request *req)
{
	memset(req, 0, sizeof(*req));
	switch (b->state) {
	case B_JOIN:
	case B_WAITING:
		req->opcode = b->state == B_JOIN ? HF_OP_JOIN : HF_OP_POSITION;
		req->join.event_id = s->event_id;
		req->join.user_id = user;
		break;
	case B_HOLD:
		req->opcode = HF_OP_HOLD;
		req->hold = (struct hf_req_hold){.event_id = s->event_id,
						 .hold_id = b->hold_id,
						 .user_id = user,
						 .ttl_ms = s->o->ttl_s * 1000u,
						 .mode = HF_HOLD_BEST,
						 .seats_count = b->want};
		if (b->admitted) {
			req->hold.flags = HF_HOLD_FLAG_TOKEN;
			req->hold.token = b->token;
		}
		break;
	case B_CHECKOUT:
		req->opcode = b->will_confirm ? HF_OP_CONFIRM : HF_OP_RELEASE;
		req->confirm.event_id = s->event_id;
		req->confirm.hold_id = b->hold_id;
		break;
	default:
		HF_PANIC("buyer in state %u", b->state);
	}
}

/* Sends what is due; a full pipeline leaves the buyer for the next round. The room's traffic and
 * the purchases go on connections of their own, as a site's waiting-room front and its checkout
 * would (one client's replies come in order: purchases must not wait behind a crowd's polls). */
static void sale_send(struct sale *s, uint64_t now_ms)
{
	for (uint32_t i = 0; i < s->buyers_count; i++) {
		struct buyer *b = &s->buyers[i];
		if (b->state == B_DONE || b->in_flight || b->next_ms > now_ms)
			continue;
		struct hf_request req;
		req_fill(s, b, (uint64_t)i + 1u, &req);
		int room_op = req.opcode == HF_OP_JOIN || req.opcode == HF_OP_POSITION;
		int rc = hf_client_submit(room_op ? s->room_client : s->client, &req, i);
		if (rc == -EAGAIN)
			continue;
		HF_ASSERT(rc == 0);
		b->in_flight = 1;
		b->sent_ns = hf_clock_mono_ns();
		s->requests[req.opcode]++;
	}
}

static void on_position(struct sale *s, struct buyer *b, const struct hf_client_reply *rep,
			uint64_t now_ms)
{
	if (rep->status == HF_SOLD_OUT) {
		buyer_end(s, b, END_SOLD_OUT);
		return;
	}
	if (rep->status != HF_OK) {
		/* NOT_IN_QUEUE (dropped) or a refusal: this buyer is out. */
		buyer_end(s, b, END_ERROR);
		return;
	}
	if (rep->join.state == HF_ROOM_ADMITTED) {
		b->token = rep->join.token;
		b->admitted = 1;
		s->admitted_count++;
		b->state = B_HOLD;
		b->next_ms = now_ms;
		return;
	}
	uint64_t wait_ms = rep->join.estimate_ms == UINT32_MAX ? HF_BENCH_ROOM_POLL_MS_MAX
							       : rep->join.estimate_ms / 2u;
	if (wait_ms < HF_BENCH_ROOM_POLL_MS_MIN)
		wait_ms = HF_BENCH_ROOM_POLL_MS_MIN;
	if (wait_ms > HF_BENCH_ROOM_POLL_MS_MAX)
		wait_ms = HF_BENCH_ROOM_POLL_MS_MAX;
	b->state = B_WAITING;
	b->next_ms = now_ms + wait_ms;
}

static void on_hold(struct sale *s, struct buyer *b, const struct hf_client_reply *rep,
		    uint64_t now_ms)
{
	if (rep->status == HF_OK) {
		b->state = B_CHECKOUT;
		b->next_ms = now_ms + HF_BENCH_ROOM_CHECKOUT_MS;
		b->will_confirm =
		    (double)(hf_bench_rng_next(&s->rng) >> 11) * 0x1.0p-53 < s->o->confirm_ratio;
		return;
	}
	if (rep->status != HF_NOT_ENOUGH) {
		buyer_end(s, b, END_ERROR);
		return;
	}
	b->hold_id = hf_client_new_id(s->client);
	if (b->want > 1) {
		b->want = 1; /* no 2 adjacent seats: take one */
		b->next_ms = now_ms;
		return;
	}
	/* Without a room, a buyer keeps trying while seats may come back. */
	if (!with_room(s) && s->soldout_ns == 0 && ++b->tries < HF_BENCH_ROOM_RETRIES_MAX) {
		b->next_ms = now_ms + HF_BENCH_ROOM_RETRY_MS;
		return;
	}
	buyer_end(s, b, END_NOTHING);
}

static void on_checkout(struct sale *s, struct buyer *b, const struct hf_client_reply *rep,
			uint64_t now_ns)
{
	if (rep->status == HF_OK && rep->opcode == HF_OP_CONFIRM) {
		s->booked += rep->confirm.seats_count;
		if (s->booked >= s->o->seats && s->soldout_ns == 0)
			s->soldout_ns = now_ns - s->start_ns;
		buyer_end(s, b, END_BOUGHT);
		return;
	}
	buyer_end(s, b, rep->status == HF_OK ? END_RELEASED : END_ERROR);
}

static void on_done(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	struct sale *s = arg;
	HF_ASSERT(tag < s->buyers_count);
	struct buyer *b = &s->buyers[tag];
	HF_ASSERT(b->in_flight);
	b->in_flight = 0;
	uint64_t now_ns = hf_clock_mono_ns();
	uint64_t now_ms = now_ns / 1000000u;
	if (error != 0) {
		s->transport_errors++;
		buyer_end(s, b, END_ERROR);
		return;
	}
	switch (b->state) {
	case B_JOIN:
	case B_WAITING:
		hf_hist_record(&s->join_hist, now_ns - b->sent_ns);
		on_position(s, b, rep, now_ms);
		break;
	case B_HOLD:
		hf_hist_record(&s->hold_hist, now_ns - b->sent_ns);
		on_hold(s, b, rep, now_ms);
		break;
	case B_CHECKOUT:
		on_checkout(s, b, rep, now_ns);
		break;
	default:
		HF_PANIC("completion for a buyer in state %u", b->state);
	}
}

static uint32_t in_flight(const struct sale *s)
{
	return hf_client_in_flight(s->client) + hf_client_in_flight(s->room_client);
}

static int sale_setup(struct sale *s)
{
	struct hf_client_reply rep;
	struct hf_req_create_event ce = {.event_id = s->event_id, .seats_count = s->o->seats};
	int rc = hf_client_create_event(s->client, &ce, &rep);
	if (rc != 0 || rep.status != HF_OK) {
		fprintf(stderr, "holdfast-bench: create event %" PRIu64 ": %s\n", s->event_id,
			rc != 0 ? strerror(-rc) : hf_status_name(rep.status));
		return -1;
	}
	if (!with_room(s))
		return 0;
	struct hf_room_params p = {.enabled = 1,
				   .policy = HF_ROOM_REQUEUE,
				   .shoppers_pct = (uint16_t)s->o->room_shoppers_pct,
				   .admit_ttl_ms = HF_BENCH_ROOM_ADMIT_TTL_S * 1000u,
				   .queue_max = s->buyers_count};
	rc = hf_client_room_set(s->client, s->event_id, &p, &rep);
	if (rc != 0 || rep.status != HF_OK) {
		fprintf(stderr, "holdfast-bench: ROOM_SET: %s\n",
			rc != 0 ? strerror(-rc) : hf_status_name(rep.status));
		return -1;
	}
	return 0;
}

static void sale_report(const struct sale *s, double elapsed_s)
{
	const char *mode = with_room(s) ? "on" : "off";
	double nothing_pct = s->admitted_count > 0
				 ? 100.0 * (double)s->ends[END_NOTHING] / (double)s->admitted_count
				 : 0.0;
	if (s->o->json) {
		printf("{\"waiting_room\":\"%s\",\"buyers\":%u,\"seats\":%u,\"shoppers_per_seat\":%"
		       ".2f,"
		       "\"elapsed_s\":%.3f,\"sold_out_s\":%.3f,\"booked\":%" PRIu64
		       ",\"admitted\":%" PRIu64 ",\"admitted_found_nothing\":%" PRIu64
		       ",\"admitted_found_nothing_pct\":%.2f",
		       mode, s->buyers_count, s->o->seats, s->o->room_shoppers_pct / 100.0,
		       elapsed_s, (double)s->soldout_ns / 1e9, s->booked, s->admitted_count,
		       s->ends[END_NOTHING], nothing_pct);
		for (unsigned e = END_BOUGHT; e < END_COUNT; e++)
			printf(",\"%s\":%" PRIu64, end_names[e], s->ends[e]);
		printf(",\"holds\":%" PRIu64 ",\"hold_p50_us\":%.1f,\"hold_p99_us\":%.1f,"
		       "\"hold_p999_us\":%.1f,\"joins\":%" PRIu64 ",\"positions\":%" PRIu64
		       ",\"position_p99_us\":%.1f,\"transport_errors\":%" PRIu64 "}\n",
		       s->hold_hist.total_count, hf_hist_percentile(&s->hold_hist, 50) / 1e3,
		       hf_hist_percentile(&s->hold_hist, 99) / 1e3,
		       hf_hist_percentile(&s->hold_hist, 99.9) / 1e3, s->requests[HF_OP_JOIN],
		       s->requests[HF_OP_POSITION], hf_hist_percentile(&s->join_hist, 99) / 1e3,
		       s->transport_errors);
		return;
	}
	printf("on-sale of %u seats to %u buyers, waiting room %s (%.2f shoppers per free seat)\n",
	       s->o->seats, s->buyers_count, mode, s->o->room_shoppers_pct / 100.0);
	if (s->soldout_ns > 0)
		printf("  sold out (every seat booked) after %.3f s\n",
		       (double)s->soldout_ns / 1e9);
	else
		printf("  not sold out: %" PRIu64 " seats booked in %.3f s\n", s->booked,
		       elapsed_s);
	printf("  admitted %" PRIu64 ", of whom found nothing %" PRIu64 " (%.2f %%)\n",
	       s->admitted_count, s->ends[END_NOTHING], nothing_pct);
	printf("  buyers: bought %" PRIu64 ", released %" PRIu64 ", sold out while waiting %" PRIu64
	       ", errors %" PRIu64 "\n",
	       s->ends[END_BOUGHT], s->ends[END_RELEASED], s->ends[END_SOLD_OUT],
	       s->ends[END_ERROR]);
	printf("  HOLD: %" PRIu64
	       " requests, min %.1f us, p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
	       "max %.1f us\n",
	       s->hold_hist.total_count, s->hold_hist.value_min_ns / 1e3,
	       hf_hist_percentile(&s->hold_hist, 50) / 1e3,
	       hf_hist_percentile(&s->hold_hist, 99) / 1e3,
	       hf_hist_percentile(&s->hold_hist, 99.9) / 1e3, s->hold_hist.value_max_ns / 1e3);
	printf("  JOIN %" PRIu64 ", POSITION %" PRIu64 " (p99 %.1f us)\n", s->requests[HF_OP_JOIN],
	       s->requests[HF_OP_POSITION], hf_hist_percentile(&s->join_hist, 99) / 1e3);
}

static int sale_open(struct sale *s, const struct hf_bench_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->buyers_count = o->users;
	s->event_id = o->event_base;
	s->rng.state = o->seed;
	hf_hist_init(&s->hold_hist);
	hf_hist_init(&s->join_hist);
	s->buyers = calloc(s->buyers_count, sizeof(*s->buyers));
	if (s->buyers == NULL)
		return -ENOMEM;
	struct hf_client_options co;
	hf_client_options_default(&co);
	co.pipeline_max = HF_BENCH_ROOM_PIPELINE;
	co.deadline_ms = 30000;
	int rc = hf_client_open(o->host, &co, &s->client);
	if (rc != 0)
		return rc;
	return hf_client_open(o->host, &co, &s->room_client);
}

int hf_bench_room_main(const struct hf_bench_opts *o)
{
	static struct sale s;
	HF_ASSERT(o->waiting_room == 1 || o->waiting_room == 2);
	int rc = sale_open(&s, o);
	if (rc != 0 || sale_setup(&s) != 0) {
		if (rc != 0)
			fprintf(stderr, "holdfast-bench: cannot connect to %s: %s\n", o->host,
				strerror(-rc));
		hf_client_close(s.client);
		hf_client_close(s.room_client);
		free(s.buyers);
		return 2;
	}
	for (uint32_t i = 0; i < s.buyers_count; i++) {
		struct buyer *b = &s.buyers[i];
		b->want = (uint8_t)(1u + hf_bench_rng_below(&s.rng, 2));
		b->hold_id = hf_client_new_id(s.client);
		b->state = with_room(&s) ? B_JOIN : B_HOLD;
	}
	s.start_ns = hf_clock_mono_ns();
	uint64_t end_ns = s.start_ns + (uint64_t)(o->duration_s * 1e9);
	while (s.done_count < s.buyers_count && hf_clock_mono_ns() < end_ns) {
		sale_send(&s, hf_clock_mono_ns() / 1000000u);
		rc = hf_client_poll(s.room_client, 0, on_done, &s);
		if (rc >= 0)
			rc = hf_client_poll(s.client, 1, on_done, &s);
		if (rc < 0) {
			fprintf(stderr, "holdfast-bench: poll: %s\n", strerror(-rc));
			break;
		}
		if (in_flight(&s) == 0 && s.done_count < s.buyers_count) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	/* Drain what is in flight, bounded. */
	for (int i = 0; i < 2000 && in_flight(&s) > 0; i++) {
		(void)hf_client_poll(s.client, 1, on_done, &s);
		(void)hf_client_poll(s.room_client, 1, on_done, &s);
	}
	sale_report(&s, (double)(hf_clock_mono_ns() - s.start_ns) / 1e9);
	hf_client_close(s.client);
	hf_client_close(s.room_client);
	free(s.buyers);
	return 0;
}
