/* reply.c: holdfast-http's answers: the JSON bodies of successful requests, the holdfast status ->
 * HTTP status table, and the error bodies {"status": NAME, "message": TEXT[, "detail": N]}, where
 * NAME is the holdfast status (SEAT_TAKEN, NO_EVENT, ...) or one of the gateway's own
 * (BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, UNAVAILABLE, BUSY, BODY_TOO_LARGE, ...). The table
 * (status_http) is also in README, "HTTP service".
 *
 * Ids in answers are JSON numbers with every digit of the u64 (as holdfast --json prints them);
 * JavaScript reads them with a BigInt-aware parser or as text. Bodies are formatted into the
 * worker's scratch buffer, sized by the static asserts of gateway_int.h. */
#include "gateway/gateway_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded JSON text writer over the worker's scratch buffer. */
struct jw {
	char *buf;
	size_t size;
	size_t used;
	int overflow;
};

__attribute__((format(printf, 2, 3))) static void jw_printf(struct jw *j, const char *fmt, ...)
{
	if (j->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(j->buf + j->used, j->size - j->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->size - j->used) {
		j->overflow = 1;
		return;
	}
	j->used += (size_t)n;
}

/* A JSON string of our own text (escaping quotes, backslashes and control bytes). */
static void jw_string(struct jw *j, const char *s)
{
	jw_printf(j, "\"");
	/* Bounded by the string and by the buffer (overflow stops writing). */
	for (; *s != '\0' && !j->overflow; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			jw_printf(j, "\\%c", ch);
		else if (ch < 0x20)
			jw_printf(j, "\\u%04x", ch);
		else
			jw_printf(j, "%c", ch);
	}
	jw_printf(j, "\"");
}

static struct jw jw_start(struct gw_conn *c)
{
	struct jw j = {.buf = c->worker->body, .size = sizeof(c->worker->body)};
	return j;
}

static void jw_send(struct gw_conn *c, struct jw *j, uint16_t http_status, uint32_t retry_after_s)
{
	/* The static asserts of gateway_int.h size the buffer for every answer we format. */
	HF_ASSERT(!j->overflow);
	gw_conn_respond(c, http_status, j->buf, j->used, retry_after_s);
}

static void error_send(struct gw_conn *c, uint16_t http_status, const char *status,
		       const char *message, int with_detail, uint64_t detail, uint32_t retry_s)
{
	struct jw j = jw_start(c);
	jw_printf(&j, "{\"status\":");
	jw_string(&j, status);
	jw_printf(&j, ",\"message\":");
	jw_string(&j, message);
	if (with_detail)
		jw_printf(&j, ",\"detail\":%" PRIu64, detail);
	jw_printf(&j, "}");
	jw_send(c, &j, http_status, retry_s);
}

void gw_reply_error(struct gw_conn *c, uint16_t http_status, const char *status,
		    const char *message)
{
	error_send(c, http_status, status, message, 0, 0, 0);
}

void gw_reply_bad_request(struct gw_conn *c, const char *fmt, ...)
{
	char message[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	gw_reply_error(c, 400, "BAD_REQUEST", message);
}

/* ---- Holdfast statuses as HTTP ---- */

static uint16_t status_http(uint16_t status)
{
	switch (status) {
	case HF_OK:
		return 200;
	case HF_NO_EVENT:
	case HF_NO_HOLD:
	case HF_NO_BOOKING:
		return 404;
	case HF_SEAT_TAKEN:
	case HF_NOT_ENOUGH:
	case HF_USER_LIMIT:
	case HF_HOLD_EXPIRED:
	case HF_HOLD_RELEASED:
	case HF_HOLD_CONFIRMED:
	case HF_BOOKING_CANCELLED:
	case HF_EVENT_EXISTS:
	case HF_ORPHAN_SEAT:
		return 409;
	case HF_ID_CONFLICT:
		return 422;
	case HF_ERR_INVALID:
	case HF_SEAT_RANGE:
	case HF_DUPLICATE_SEAT:
	case HF_ERR_TOO_LARGE:
	case HF_ERR_MALFORMED:
		return 400;
	case HF_BUSY:
	case HF_RATE_LIMITED:
		return 429;
	case HF_TRY_AGAIN:
	case HF_ERR_CAPACITY:
	case HF_ERR_IO:
	case HF_MOVED:
		return 503;
	case HF_UNAUTHORIZED:
	case HF_FORBIDDEN:
		return 502; /* the gateway's own token is wrong: not the HTTP client's fault */
	default:
		return 500;
	}
}

static void status_send(struct gw_conn *c, const struct hf_client_reply *rep)
{
	uint16_t code = status_http(rep->status);
	uint32_t retry_s = 0;
	if (rep->status == HF_RATE_LIMITED)
		retry_s = (uint32_t)((rep->detail + 999u) / 1000u);
	if (code == 429 || code == 503)
		retry_s = retry_s == 0 ? 1 : retry_s;
	int with_detail = rep->status == HF_SEAT_TAKEN || rep->status == HF_SEAT_RANGE ||
			  rep->status == HF_DUPLICATE_SEAT || rep->status == HF_ORPHAN_SEAT ||
			  rep->status == HF_USER_LIMIT || rep->status == HF_RATE_LIMITED;
	error_send(c, code, hf_status_name(rep->status), hf_status_message(rep->status),
		   with_detail, rep->detail, retry_s);
}

/* No answer from holdfast (or the request could not be queued): 503, or 429 when the gateway's own
 * pipeline to holdfast is full. */
void gw_reply_transport(struct gw_conn *c, int error)
{
	char message[160];
	if (error == -EAGAIN) {
		error_send(c, 429, "BUSY", "the gateway's pipeline to holdfast is full", 0, 0, 1);
		return;
	}
	snprintf(message, sizeof(message), "no answer from holdfast: %s", strerror(-error));
	error_send(c, 503, "UNAVAILABLE", message, 0, 0, 1);
}

/* ---- Successful answers ---- */

static void seats_write(struct jw *j, const uint32_t *seats, uint32_t seats_count)
{
	jw_printf(j, "[");
	/* Bounded by HF_HOLD_SEATS_MAX (the decoder's limit). */
	for (uint32_t i = 0; i < seats_count; i++)
		jw_printf(j, "%s%u", i == 0 ? "" : ",", seats[i]);
	jw_printf(j, "]");
}

static void hold_send(struct gw_conn *c, const struct hf_rep_hold *h, int confirmed)
{
	HF_ASSERT(h->seats_count <= HF_HOLD_SEATS_MAX);
	struct jw j = jw_start(c);
	jw_printf(&j, "{\"event_id\":%" PRIu64 ",\"%s\":%" PRIu64 ",\"seats\":", c->event_id,
		  confirmed ? "booking_id" : "hold_id", h->hold_id);
	seats_write(&j, h->seats, h->seats_count);
	if (!confirmed)
		jw_printf(&j, ",\"deadline_ms\":%" PRIu64, h->deadline_ms);
	jw_printf(&j, "}");
	jw_send(c, &j, confirmed ? 200 : 201, 0);
}

/* The free seats of the range as [first, last] pairs (inclusive). */
static void ranges_write(struct jw *j, const struct hf_rep_avail *a)
{
	jw_printf(j, ",\"ranges\":[");
	uint32_t start = 0;
	int open = 0, any = 0;
	/* Bounded by the range (<= GW_AVAIL_COUNT_MAX seats, checked before the request). */
	for (uint32_t i = 0; i <= a->count; i++) {
		int is_free = i < a->count && hf_avail_bit(a->bitmap, i);
		if (is_free && !open) {
			start = i;
			open = 1;
		} else if (!is_free && open) {
			jw_printf(j, "%s[%u,%u]", any ? "," : "", a->first + start,
				  a->first + i - 1);
			open = 0;
			any = 1;
		}
	}
	jw_printf(j, "]");
}

static void avail_send(struct gw_conn *c, const struct hf_rep_avail *a)
{
	struct jw j = jw_start(c);
	jw_printf(&j, "{\"event_id\":%" PRIu64 ",\"seats\":%u,\"free\":%u", c->event_id,
		  a->seats_count, a->free_count);
	if (c->avail_count > 0) {
		HF_ASSERT(a->count <= GW_AVAIL_COUNT_MAX);
		uint32_t free_in_range = 0;
		/* Bounded by the range. */
		for (uint32_t i = 0; i < a->count; i++)
			free_in_range += (uint32_t)hf_avail_bit(a->bitmap, i);
		jw_printf(&j, ",\"first\":%u,\"count\":%u,\"free_in_range\":%u", a->first, a->count,
			  free_in_range);
		ranges_write(&j, a);
	}
	jw_printf(&j, "}");
	jw_send(c, &j, 200, 0);
}

static void ok_send(struct gw_conn *c, const struct hf_client_reply *rep)
{
	struct jw j = jw_start(c);
	switch (c->op) {
	case GW_OP_HEALTH:
		jw_printf(&j, "{\"status\":\"ok\",\"epoch\":%" PRIu64 "}", rep->ping.epoch);
		break;
	case GW_OP_CREATE_EVENT:
		jw_printf(&j,
			  "{\"event_id\":%" PRIu64 ",\"seats\":%u,\"row_width\":%u,"
			  "\"user_limit\":%u,\"hold_lifetime\":%u}",
			  c->create.event_id, c->create.seats_count, c->create.row_width,
			  c->create.user_limit, c->create.hold_lifetime_max_s);
		jw_send(c, &j, 201, 0);
		return;
	case GW_OP_HOLD:
		hold_send(c, &rep->hold, 0);
		return;
	case GW_OP_CONFIRM:
		hold_send(c, &rep->confirm, 1);
		return;
	case GW_OP_AVAIL:
		avail_send(c, &rep->avail);
		return;
	case GW_OP_RELEASE:
		jw_printf(&j,
			  "{\"event_id\":%" PRIu64 ",\"hold_id\":%" PRIu64 ",\"released\":true}",
			  c->event_id, c->hold_id);
		break;
	default:
		HF_PANIC("completion for op %d", (int)c->op);
	}
	jw_send(c, &j, 200, 0);
}

void gw_reply_on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	struct gw_worker *w = arg;
	struct gw_conn *c = gw_conn_of_tag(w, tag);
	if (c == NULL)
		return; /* the HTTP client went away (invariant 2) */
	HF_ASSERT(c->state == GW_CONN_BUSY);
	if (error != 0) {
		if (c->op == GW_OP_HEALTH)
			error_send(c, 503, "UNAVAILABLE", "holdfast does not answer", 0, 0, 1);
		else
			gw_reply_transport(c, error);
		return;
	}
	HF_ASSERT(rep != NULL);
	if (rep->status != HF_OK)
		status_send(c, rep);
	else
		ok_send(c, rep);
}
