/* The holdfast target: each connection is one struct hf_client (one TCP connection per shard),
 * driven with the pipelined API. Operations become hf_request's; replies become hf_bench_result's.
 * Also the onsale consistency check (EVENT_INFO + AVAIL bitmap + SEAT_STATUS against the ledger).
 */
#include "bench/target.h"

#include "base/assert.h"
#include "client/holdfast.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

HF_STATIC_ASSERT(HF_BENCH_EV_READ == HF_CLIENT_EV_READ, "event bits");
HF_STATIC_ASSERT(HF_BENCH_EV_WRITE == HF_CLIENT_EV_WRITE, "event bits");
HF_STATIC_ASSERT(HF_BENCH_EV_ERROR == HF_CLIENT_EV_ERROR, "event bits");

struct hf_target_conn {
	struct hf_client *client;
	struct hf_bench_loop loop; /* event-loop mode: the load thread's callbacks */
	uint8_t attached;
	struct hf_request req;	    /* scratch, reused for each submit (too large for the stack) */
	struct hf_client_reply rep; /* scratch for blocking calls */
};

static int hf_open(const struct hf_bench_opts *opts, uint32_t pipeline, void **conn_out)
{
	struct hf_target_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	struct hf_client_options copts;
	hf_client_options_default(&copts);
	copts.pipeline_max = pipeline;
	copts.batch_max = opts->batch;
	if (opts->client_retries_given)
		copts.retries_max = opts->client_retries;
	int rc = hf_client_open(opts->host, &copts, &c->client);
	if (rc != 0) {
		free(c);
		return rc;
	}
	*conn_out = c;
	return 0;
}

static void hf_close(void *conn)
{
	struct hf_target_conn *c = conn;
	/* Detaching reports every socket as forgotten before the client closes them. */
	if (c->attached)
		hf_client_loop_detach(c->client);
	hf_client_close(c->client);
	free(c);
}

/* Fills c->req from op; only the fields the opcode reads are written. */
static void fill_request(struct hf_target_conn *c, const struct hf_bench_op *op)
{
	struct hf_request *req = &c->req;
	req->request_id = 0;
	switch (op->kind) {
	case HF_BENCH_OP_HOLD:
		req->opcode = HF_OP_HOLD;
		req->hold.event_id = op->event_id;
		req->hold.hold_id = op->hold_id;
		req->hold.user_id = op->user_id;
		req->hold.ttl_ms = op->ttl_ms;
		req->hold.mode = op->best ? HF_HOLD_BEST : HF_HOLD_EXPLICIT;
		/* The scratch request is reused: clear the fields HOLD gained later. */
		req->hold.flags = 0;
		req->hold.scope = 0;
		req->hold.seats_count = op->seats_count;
		if (!op->best)
			memcpy(req->hold.seats, op->seats, op->seats_count * sizeof(op->seats[0]));
		break;
	case HF_BENCH_OP_CONFIRM:
		req->opcode = HF_OP_CONFIRM;
		req->confirm.event_id = op->event_id;
		req->confirm.hold_id = op->hold_id;
		break;
	case HF_BENCH_OP_RELEASE:
		req->opcode = HF_OP_RELEASE;
		req->release.event_id = op->event_id;
		req->release.hold_id = op->hold_id;
		break;
	case HF_BENCH_OP_AVAIL:
		req->opcode = HF_OP_AVAIL;
		req->avail.event_id = op->event_id;
		req->avail.first = op->first;
		req->avail.count = op->count;
		break;
	case HF_BENCH_OP_INFO:
		req->opcode = HF_OP_EVENT_INFO;
		req->event_info.event_id = op->event_id;
		break;
	case HF_BENCH_OP_PING:
		req->opcode = HF_OP_PING;
		break;
	case HF_BENCH_OP_CREATE:
		req->opcode = HF_OP_CREATE_EVENT;
		memset(&req->create_event, 0, sizeof(req->create_event));
		req->create_event.event_id = op->event_id;
		req->create_event.seats_count = op->event_seats;
		req->create_event.row_width = op->event_row_width;
		break;
	default:
		HF_PANIC("op kind %u", op->kind);
	}
	HF_ASSERT(hf_request_event_id(req) == op->event_id);
}

static void fill_result(struct hf_bench_result *res, int error, const struct hf_client_reply *rep)
{
	memset(res, 0, offsetof(struct hf_bench_result, seats));
	res->bitmap = NULL;
	res->bitmap_first = 0;
	res->bitmap_count = 0;
	res->bitmap_redis = 0;
	res->event_seats = res->free_count = res->held_count = res->booked_count = 0;
	res->error = error;
	if (error != 0)
		return;
	res->status = rep->status;
	if (rep->status != HF_OK) {
		res->detail = rep->detail;
		return;
	}
	switch (rep->opcode) {
	case HF_OP_HOLD:
	case HF_OP_CONFIRM: {
		uint32_t n = rep->hold.seats_count;
		if (n > HF_BENCH_HOLD_SEATS_MAX)
			n = HF_BENCH_HOLD_SEATS_MAX;
		res->seats_count = n;
		memcpy(res->seats, rep->hold.seats, n * sizeof(res->seats[0]));
		break;
	}
	case HF_OP_AVAIL:
		res->event_seats = rep->avail.seats_count;
		res->free_count = rep->avail.free_count;
		res->bitmap = rep->avail.bitmap;
		res->bitmap_first = rep->avail.first;
		res->bitmap_count = rep->avail.count;
		break;
	case HF_OP_EVENT_INFO:
		res->event_seats = rep->event_info.seats_count;
		res->free_count = rep->event_info.free_count;
		res->held_count = rep->event_info.held_count;
		res->booked_count = rep->event_info.booked_count;
		break;
	default:
		break;
	}
}

static int hf_submit(void *conn, const struct hf_bench_op *op, uint64_t tag)
{
	struct hf_target_conn *c = conn;
	fill_request(c, op);
	if (op->kind == HF_BENCH_OP_PING)
		return hf_client_submit_shard(c->client, op->owner, &c->req, tag);
	return hf_client_submit(c->client, &c->req, tag);
}

static void hf_on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *reply)
{
	struct hf_target_conn *c = arg;
	struct hf_bench_result res;
	fill_result(&res, error, reply);
	c->loop.done(c->loop.arg, tag, &res);
}

static void hf_on_fd(void *arg, int fd, uint32_t events)
{
	struct hf_target_conn *c = arg;
	c->loop.watch(c->loop.arg, fd, events);
}

static void hf_on_timer(void *arg, int timeout_ms)
{
	struct hf_target_conn *c = arg;
	if (c->loop.timer != NULL)
		c->loop.timer(c->loop.arg, timeout_ms);
}

static int hf_attach(void *conn, const struct hf_bench_loop *loop)
{
	struct hf_target_conn *c = conn;
	HF_ASSERT(loop->watch != NULL);
	HF_ASSERT(loop->done != NULL);
	HF_ASSERT(!c->attached);
	c->loop = *loop;
	const struct hf_client_loop cl = {.on_complete = hf_on_complete,
					  .complete_arg = c,
					  .on_fd = hf_on_fd,
					  .fd_arg = c,
					  .on_timer = hf_on_timer,
					  .timer_arg = c};
	int rc = hf_client_loop_attach(c->client, &cl);
	c->attached = rc == 0;
	return rc;
}

static int hf_flush(void *conn)
{
	struct hf_target_conn *c = conn;
	HF_ASSERT(c->attached);
	return hf_client_flush(c->client);
}

static int hf_on_ready(void *conn, int fd, uint32_t events)
{
	struct hf_target_conn *c = conn;
	HF_ASSERT(c->attached);
	return hf_client_on_ready(c->client, fd, events);
}

static uint32_t hf_in_flight(void *conn)
{
	struct hf_target_conn *c = conn;
	return hf_client_in_flight(c->client);
}

static int hf_call(void *conn, const struct hf_bench_op *op, struct hf_bench_result *res)
{
	struct hf_target_conn *c = conn;
	fill_request(c, op);
	int rc = hf_client_call(c->client, &c->req, &c->rep);
	fill_result(res, rc, &c->rep);
	return rc;
}

static void hf_routing(void *conn, uint16_t *owners_count_out, const uint16_t **slot_owner_out)
{
	struct hf_target_conn *c = conn;
	const struct hf_slot_map *map = hf_client_slot_map(c->client);
	*owners_count_out = map->owners_count ? map->owners_count : 1;
	*slot_owner_out = map->slot_owner;
}

/* Keeps the first problem found as the check's message. */
__attribute__((format(printf, 2, 3))) static void note(struct hf_bench_check *chk, const char *fmt,
						       ...)
{
	if (chk->message[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(chk->message, sizeof(chk->message), fmt, ap);
	va_end(ap);
}

static int hf_check(void *conn, const struct hf_bench_shared *shared, struct hf_bench_check *chk)
{
	struct hf_target_conn *c = conn;
	const struct hf_bench_opts *o = shared->opts;
	uint64_t event_id = o->event_base;
	struct hf_client_reply *rep = &c->rep;
	int rc;

	rc = hf_client_event_info(c->client, event_id, rep);
	if (rc != 0)
		return rc;
	if (rep->status != HF_OK) {
		snprintf(chk->message, sizeof(chk->message), "EVENT_INFO answered %s",
			 hf_status_name(rep->status));
		return 0;
	}
	const struct hf_rep_event_info info = rep->event_info;
	chk->seats = info.seats_count;
	chk->free_count = info.free_count;
	chk->held_count = info.held_count;
	chk->booked_count = info.booked_count;
	if (info.seats_count != o->seats)
		note(chk, "event has %u seats, bench expected %u", info.seats_count, o->seats);
	if ((uint64_t)info.free_count + info.held_count + info.booked_count != info.seats_count)
		note(chk, "free + held + booked = %llu, seats = %u",
		     (unsigned long long)info.free_count + info.held_count + info.booked_count,
		     info.seats_count);

	/* Walk the seats in chunks: the AVAIL bitmap and SEAT_STATUS of the same range, against the
	 * ledger. The bench is the only writer, so nothing moves meanwhile. */
	struct hf_request *req = &c->req;
	uint8_t *free_bits = malloc(HF_SEAT_STATUS_SEATS_MAX / 8u);
	if (free_bits == NULL)
		return -ENOMEM;
	uint64_t free_seen = 0, held_seen = 0, booked_seen = 0;
	for (uint32_t first = 0; first < info.seats_count && first < o->seats;
	     first += HF_SEAT_STATUS_SEATS_MAX) {
		uint32_t n = info.seats_count - first;
		if (n > HF_SEAT_STATUS_SEATS_MAX)
			n = HF_SEAT_STATUS_SEATS_MAX;
		rc = hf_client_avail(c->client, event_id, first, n, rep);
		if (rc != 0)
			goto out;
		if (rep->status != HF_OK || rep->avail.count != n) {
			note(chk, "AVAIL of seats %u+%u answered %s", first, n,
			     hf_status_name(rep->status));
			chk->bitmap_mismatches++;
			continue;
		}
		memcpy(free_bits, rep->avail.bitmap, (n + 7u) / 8u);
		req->opcode = HF_OP_SEAT_STATUS;
		req->seat_status.event_id = event_id;
		req->seat_status.seats_count = n;
		for (uint32_t i = 0; i < n; i++)
			req->seat_status.seats[i] = first + i;
		rc = hf_client_call(c->client, req, rep);
		if (rc != 0)
			goto out;
		if (rep->status != HF_OK || rep->seat_status.seats_count != n) {
			note(chk, "SEAT_STATUS of seats %u+%u answered %s", first, n,
			     hf_status_name(rep->status));
			chk->owner_mismatches += n;
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			const struct hf_seat_info *si = &rep->seat_status.seats[i];
			uint32_t seat = first + i;
			uint64_t want = atomic_load(&shared->ledger[seat]);
			uint64_t got =
			    si->state == HF_SEAT_FREE ? 0 : (si->owner_id << 2) | si->state;
			free_seen += si->state == HF_SEAT_FREE;
			held_seen += si->state == HF_SEAT_HELD;
			booked_seen += si->state == HF_SEAT_BOOKED;
			if (si->seat != seat || got != want) {
				chk->owner_mismatches++;
				note(chk,
				     "seat %u: server says %#llx, bench %#llx (owner << 2 | state)",
				     seat, (unsigned long long)got, (unsigned long long)want);
			}
			if (hf_avail_bit(free_bits, i) != (si->state == HF_SEAT_FREE)) {
				chk->bitmap_mismatches++;
				note(chk, "seat %u: AVAIL bit %d, state %u", seat,
				     hf_avail_bit(free_bits, i), si->state);
			}
		}
	}
	if (free_seen != info.free_count || held_seen != info.held_count ||
	    booked_seen != info.booked_count)
		note(chk, "seat states count %llu free %llu held %llu booked, EVENT_INFO %u %u %u",
		     (unsigned long long)free_seen, (unsigned long long)held_seen,
		     (unsigned long long)booked_seen, info.free_count, info.held_count,
		     info.booked_count);
	rc = 0;
out:
	free(free_bits);
	return rc;
}

const struct hf_bench_target hf_bench_target_holdfast = {
    .name = "holdfast",
    .open = hf_open,
    .close = hf_close,
    .submit = hf_submit,
    .attach = hf_attach,
    .flush = hf_flush,
    .on_ready = hf_on_ready,
    .in_flight = hf_in_flight,
    .call = hf_call,
    .routing = hf_routing,
    .check = hf_check,
};
