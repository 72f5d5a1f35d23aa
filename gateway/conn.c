/* conn.c: one HTTP/1.1 connection of holdfast-http: accept (503 when the worker is full), read,
 * parse with http-parser under the limits of gateway_int.h (413, 414, 431, 400), hand one request
 * at a time to api.c, write its response, keep the connection alive and go on with the pipelined
 * requests already read. The states and invariants are in gateway_int.h.
 *
 * Buffers: `in` holds bytes read and not yet parsed; the parser copies what a request needs (URL,
 * Idempotency-Key, body) into c->req, so parsed bytes are dropped at once. While a request is in
 * hand the parser is paused and reading stops once `in` is full (backpressure). `out` holds one
 * response: it is written with uv_try_write and, for what the socket did not take, one uv_write. */
#include "gateway/gateway_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char FULL_BODY[] =
    "{\"status\":\"TOO_MANY_CONNECTIONS\",\"message\":\"connection limit reached\"}";

static void conn_parse(struct gw_conn *c);

uint64_t gw_conn_tag(const struct gw_conn *c)
{
	return ((uint64_t)c->generation << 32) | c->index;
}

struct gw_conn *gw_conn_of_tag(struct gw_worker *w, uint64_t tag)
{
	uint32_t index = (uint32_t)tag;
	if (index >= w->slots_count)
		return NULL;
	struct gw_conn *c = w->conns[index];
	if (c == NULL || c->generation != (uint32_t)(tag >> 32) || c->state == GW_CONN_CLOSING)
		return NULL;
	return c;
}

static void conn_on_closed(uv_handle_t *handle)
{
	struct gw_conn *c = handle->data;
	struct gw_worker *w = c->worker;
	HF_ASSERT(c->handles_open > 0);
	if (--c->handles_open > 0)
		return;
	HF_ASSERT(w->conns[c->index] == c);
	w->conns[c->index] = NULL;
	w->generations[c->index]++;
	HF_ASSERT(w->free_count < w->slots_count);
	w->free_slots[w->free_count++] = c->index;
	if (c->is_reject) {
		HF_ASSERT(w->rejects_count > 0);
		w->rejects_count--;
	} else {
		HF_ASSERT(w->conns_count > 0);
		w->conns_count--;
	}
	free(c);
}

static void conn_close(struct gw_conn *c)
{
	if (c->state == GW_CONN_CLOSING)
		return;
	c->state = GW_CONN_CLOSING;
	c->handles_open = (uint8_t)(c->timer_on ? 2 : 1);
	if (c->timer_on)
		uv_close((uv_handle_t *)&c->timer, conn_on_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

static void conn_on_linger_timer(uv_timer_t *timer)
{
	conn_close(timer->data);
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status; /* the linger timer or the peer's EOF ends the connection either way */
}

static void conn_read_set(struct gw_conn *c, int on);

/* The last response has left: send FIN, then drop what the peer still sends until its EOF or
 * GW_LINGER_MS, so that no reset overtakes the response. */
static void conn_linger(struct gw_conn *c)
{
	HF_ASSERT(c->state == GW_CONN_BUSY || c->state == GW_CONN_WRITING);
	HF_ASSERT(!c->timer_on);
	c->state = GW_CONN_LINGER;
	c->in_used = 0;
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_on_shutdown) != 0 ||
	    uv_timer_init(&c->worker->loop, &c->timer) != 0) {
		conn_close(c);
		return;
	}
	c->timer_on = 1;
	c->timer.data = c;
	uv_timer_start(&c->timer, conn_on_linger_timer, GW_LINGER_MS, 0);
	conn_read_set(c, 1);
}

void gw_conn_sweep(struct gw_worker *w)
{
	uint64_t now_ms = uv_now(&w->loop);
	uint64_t idle_ms = (uint64_t)w->config->idle_timeout_s * 1000u;
	uint64_t request_ms = (uint64_t)w->config->request_timeout_s * 1000u;
	/* Bounded by the slot table (a few thousand slots, once a second). */
	for (uint32_t i = 0; i < w->slots_count; i++) {
		struct gw_conn *c = w->conns[i];
		if (c == NULL)
			continue;
		/* A peer that does not read its answer is as slow as one that does not send. */
		if (c->state == GW_CONN_WRITING && now_ms - c->since_ms > request_ms) {
			conn_close(c);
			continue;
		}
		if (c->state != GW_CONN_READING)
			continue;
		/* Bytes waiting in `in` are the start of a request too (parsed once read). */
		int begun = c->in_message || c->in_used > 0;
		if (now_ms - c->since_ms > (begun ? request_ms : idle_ms))
			conn_close(c);
	}
}

void gw_conn_close_all(struct gw_worker *w)
{
	/* Bounded by the slot table. */
	for (uint32_t i = 0; i < w->slots_count; i++) {
		if (w->conns[i] != NULL)
			conn_close(w->conns[i]);
	}
}

/* ---- Parser callbacks: copy what the request needs, count every header byte ---- */

static struct gw_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* Counts n more header bytes; past the limit the request fails with 431. */
static int header_bytes(struct gw_request *r, size_t n)
{
	if (r->header_size + n > GW_HEADER_SIZE_MAX) {
		r->error_http = 431;
		return -1;
	}
	r->header_size += (uint32_t)n;
	return 0;
}

static int conn_on_message_begin(http_parser *p)
{
	struct gw_conn *c = conn_of(p);
	struct gw_request *r = &c->req;
	c->in_message = 1;
	c->since_ms = uv_now(&c->worker->loop);
	r->header_size = 0;
	r->url_size = 0;
	r->body_size = 0;
	r->field_size = 0;
	r->field_is_key = 0;
	r->in_value = 0;
	r->key_set = 0;
	r->key_size = 0;
	r->error_http = 0;
	return 0;
}

static int conn_on_url(http_parser *p, const char *at, size_t n)
{
	struct gw_request *r = &conn_of(p)->req;
	if (header_bytes(r, n) != 0)
		return -1;
	if (r->url_size + n > GW_URL_SIZE_MAX) {
		r->error_http = 414;
		return -1;
	}
	memcpy(r->url + r->url_size, at, n);
	r->url_size += (uint32_t)n;
	r->url[r->url_size] = '\0';
	return 0;
}

static int conn_on_header_field(http_parser *p, const char *at, size_t n)
{
	struct gw_request *r = &conn_of(p)->req;
	if (header_bytes(r, n) != 0)
		return -1;
	if (r->in_value) {
		r->in_value = 0;
		r->field_size = 0;
	}
	/* A name longer than any we look at is kept truncated: it matches nothing. */
	size_t room = GW_FIELD_SIZE_MAX - r->field_size;
	size_t take = n < room ? n : room;
	memcpy(r->field + r->field_size, at, take);
	r->field_size += (uint32_t)take;
	if (n > take)
		r->field_size = GW_FIELD_SIZE_MAX;
	return 0;
}

static int conn_on_header_value(http_parser *p, const char *at, size_t n)
{
	struct gw_request *r = &conn_of(p)->req;
	if (header_bytes(r, n) != 0)
		return -1;
	if (!r->in_value) {
		r->in_value = 1;
		r->field_is_key = r->field_size == sizeof("Idempotency-Key") - 1 &&
				  strncasecmp(r->field, "Idempotency-Key", r->field_size) == 0;
		if (r->field_is_key) {
			r->key_set = 1;
			r->key_size = 0;
		}
	}
	if (!r->field_is_key)
		return 0;
	/* One byte past the limit is kept as the mark of "too long" (api.c answers 400). */
	size_t room = GW_IDEM_KEY_SIZE_MAX + 1u - r->key_size;
	size_t take = n < room ? n : room;
	memcpy(r->key + r->key_size, at, take);
	r->key_size = (uint16_t)(r->key_size + take);
	return 0;
}

static int conn_on_headers_complete(http_parser *p)
{
	struct gw_request *r = &conn_of(p)->req;
	if (p->http_major != 1) {
		r->error_http = 505;
		return -1;
	}
	/* Content-Length is known here (chunked bodies are counted in conn_on_body). */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > GW_BODY_SIZE_MAX) {
		r->error_http = 413;
		return -1;
	}
	return 0;
}

static int conn_on_body(http_parser *p, const char *at, size_t n)
{
	struct gw_request *r = &conn_of(p)->req;
	if (r->body_size + n > GW_BODY_SIZE_MAX) {
		r->error_http = 413;
		return -1;
	}
	memcpy(r->body + r->body_size, at, n);
	r->body_size += (uint32_t)n;
	return 0;
}

static int conn_on_message_complete(http_parser *p)
{
	struct gw_conn *c = conn_of(p);
	HF_ASSERT(c->state == GW_CONN_READING);
	c->req.body[c->req.body_size] = '\0';
	c->req.method = (uint8_t)p->method;
	c->keep_alive = (uint8_t)http_should_keep_alive(p);
	c->state = GW_CONN_BUSY;
	c->in_message = 0;
	/* One request at a time (invariant 1): the next one stays in `in` until this one is
	 * answered. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = conn_on_message_begin,
    .on_url = conn_on_url,
    .on_header_field = conn_on_header_field,
    .on_header_value = conn_on_header_value,
    .on_headers_complete = conn_on_headers_complete,
    .on_body = conn_on_body,
    .on_message_complete = conn_on_message_complete,
};

/* ---- Writing ---- */

static const char *reason_of(uint16_t http_status)
{
	switch (http_status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* After a response left: the next request, or the end of the connection. */
static void conn_after_response(struct gw_conn *c)
{
	HF_ASSERT(c->state == GW_CONN_BUSY || c->state == GW_CONN_WRITING);
	if (!c->keep_alive) {
		conn_linger(c);
		return;
	}
	c->state = GW_CONN_READING;
	c->since_ms = uv_now(&c->worker->loop);
	http_parser_pause(&c->parser, 0);
	/* conn_parse on the stack picks the next request itself (no recursion per request). */
	if (!c->in_parse)
		conn_parse(c);
}

static void conn_on_written(uv_write_t *wr, int status)
{
	struct gw_conn *c = wr->data;
	if (c->state == GW_CONN_CLOSING)
		return;
	HF_ASSERT(c->state == GW_CONN_WRITING);
	if (status != 0) {
		conn_close(c);
		return;
	}
	conn_after_response(c);
}

static int format_head(struct gw_conn *c, uint16_t http_status, size_t body_size,
		       uint32_t retry_after_s)
{
	char retry[48] = "";
	if (retry_after_s != 0)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
	int n = snprintf(c->out, GW_OUT_HEAD_SIZE_MAX,
			 "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n",
			 http_status, reason_of(http_status), body_size,
			 c->keep_alive ? "" : "Connection: close\r\n", retry);
	HF_ASSERT(n > 0);
	HF_ASSERT((size_t)n < GW_OUT_HEAD_SIZE_MAX);
	return n;
}

void gw_conn_respond(struct gw_conn *c, uint16_t http_status, const char *body, size_t body_size,
		     uint32_t retry_after_s)
{
	HF_ASSERT(c->state == GW_CONN_BUSY);
	HF_ASSERT(body_size <= GW_BODY_OUT_SIZE_MAX);
	/* A request past a limit leaves unread bytes we cannot frame: close after it. */
	if (http_status == 413 || http_status == 414 || http_status == 431 || c->is_reject ||
	    c->req.error_http != 0)
		c->keep_alive = 0;
	int head = format_head(c, http_status, body_size, retry_after_s);
	memcpy(c->out + head, body, body_size);
	c->out_size = (uint32_t)head + (uint32_t)body_size;
	uv_buf_t buf = uv_buf_init(c->out, c->out_size);
	int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	if (n == (int)c->out_size) {
		conn_after_response(c);
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	size_t done = n > 0 ? (size_t)n : 0;
	buf = uv_buf_init(c->out + done, (unsigned)(c->out_size - done));
	c->write_req.data = c;
	c->state = GW_CONN_WRITING;
	c->since_ms = uv_now(&c->worker->loop);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, conn_on_written) != 0)
		conn_close(c);
}

/* ---- Reading and parsing ---- */

static void conn_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct gw_conn *c = handle->data;
	HF_ASSERT(c->in_used < GW_IN_SIZE);
	*buf = uv_buf_init(c->in + c->in_used, GW_IN_SIZE - c->in_used);
}

/* A malformed request: 400 (or the limit's code), then close. */
static void conn_parse_failed(struct gw_conn *c)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	uint16_t code = c->req.error_http != 0 ? c->req.error_http : 400;
	c->req.error_http = code;
	c->state = GW_CONN_BUSY;
	c->keep_alive = 0;
	char message[160];
	const char *status = "BAD_REQUEST";
	if (code == 413)
		status = "BODY_TOO_LARGE";
	else if (code == 414)
		status = "URL_TOO_LONG";
	else if (code == 431)
		status = "HEADERS_TOO_LARGE";
	else if (code == 505)
		status = "HTTP_VERSION";
	if (code == 505)
		snprintf(message, sizeof(message), "only HTTP/1.0 and HTTP/1.1 are served");
	else if (code == 400)
		snprintf(message, sizeof(message), "malformed HTTP request: %s",
			 http_errno_description(e));
	else
		snprintf(message, sizeof(message),
			 "request past a limit (headers %u, URL %u, body %u bytes)",
			 GW_HEADER_SIZE_MAX, GW_URL_SIZE_MAX, GW_BODY_SIZE_MAX);
	gw_reply_error(c, code, status, message);
}

/* Parses what `in` holds, one request at a time, until it is all parsed or a request is in hand
 * that is not answered yet. */
static void conn_parse(struct gw_conn *c)
{
	uint32_t parsed = 0;
	c->in_parse = 1;
	/* Bounded: every pass parses at least one byte or stops. */
	while (c->state == GW_CONN_READING && parsed < c->in_used) {
		size_t n =
		    http_parser_execute(&c->parser, &SETTINGS, c->in + parsed, c->in_used - parsed);
		parsed += (uint32_t)n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			gw_api_dispatch(c);
			continue;
		}
		if (e != HPE_OK || c->parser.upgrade) {
			conn_parse_failed(c);
			break;
		}
		if (n == 0)
			break;
	}
	c->in_parse = 0;
	if (c->state == GW_CONN_CLOSING || c->state == GW_CONN_LINGER)
		return; /* the buffer was dropped with the connection's last response */
	HF_ASSERT(parsed <= c->in_used);
	memmove(c->in, c->in + parsed, c->in_used - parsed);
	c->in_used -= parsed;
	/* Read while there is room; a paused parser with a full buffer is backpressure. */
	conn_read_set(c, c->in_used < GW_IN_SIZE);
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct gw_conn *c = stream->data;
	if (nread == 0 || c->state == GW_CONN_CLOSING)
		return;
	if (c->state == GW_CONN_LINGER) {
		if (nread < 0)
			conn_close(c);
		c->in_used = 0; /* dropped */
		return;
	}
	if (nread < 0) {
		/* EOF or error: a request in hand is dropped (its answer finds no connection). */
		conn_close(c);
		return;
	}
	HF_ASSERT(c->in_used + (size_t)nread <= GW_IN_SIZE);
	c->in_used += (uint32_t)nread;
	if (c->state == GW_CONN_READING)
		conn_parse(c);
	else
		conn_read_set(c, c->in_used < GW_IN_SIZE);
}

static void conn_read_set(struct gw_conn *c, int on)
{
	if (on == c->read_on)
		return;
	int rc = on ? uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read)
		    : uv_read_stop((uv_stream_t *)&c->tcp);
	if (rc != 0) {
		conn_close(c);
		return;
	}
	c->read_on = (uint8_t)on;
}

/* ---- Accepting ---- */

static struct gw_conn *conn_create(struct gw_worker *w, int is_reject)
{
	HF_ASSERT(w->free_count > 0);
	struct gw_conn *c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	memset(c, 0, offsetof(struct gw_conn, req));
	/* The request's counters and flags (not its buffers): a parse may fail before a message
	 * begins. */
	memset(&c->req, 0, offsetof(struct gw_request, field));
	c->worker = w;
	c->index = w->free_slots[--w->free_count];
	HF_ASSERT(w->conns[c->index] == NULL);
	c->generation = w->generations[c->index];
	c->state = GW_CONN_READING;
	c->since_ms = uv_now(&w->loop);
	c->is_reject = (uint8_t)is_reject;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->tcp.data = c;
	w->conns[c->index] = c;
	if (is_reject)
		w->rejects_count++;
	else
		w->conns_count++;
	return c;
}

static void drop_on_closed(uv_handle_t *handle)
{
	free(handle);
}

/* Past GW_REJECTS_MAX lingering rejects a connection is closed without an answer. */
static void conn_drop(struct gw_worker *w, uv_stream_t *listener)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	if (t == NULL)
		return; /* the connection waits in the backlog */
	HF_ASSERT(uv_tcp_init(&w->loop, t) == 0);
	(void)uv_accept(listener, (uv_stream_t *)t);
	w->rejected_count++;
	uv_close((uv_handle_t *)t, drop_on_closed);
}

void gw_conn_on_connection(uv_stream_t *listener, int status)
{
	struct gw_worker *w = listener->data;
	if (status != 0)
		return;
	int full = w->conns_count >= w->conns_max;
	if (full && w->rejects_count >= GW_REJECTS_MAX) {
		conn_drop(w, listener);
		return;
	}
	struct gw_conn *c = conn_create(w, full);
	if (c == NULL)
		return; /* out of memory: the connection waits in the backlog */
	HF_ASSERT(uv_tcp_init(&w->loop, &c->tcp) == 0); /* no socket is created: cannot fail */
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (!full) {
		conn_read_set(c, 1);
		return;
	}
	/* The worker is full (invariant 4): a 503 on the way out, then linger. */
	w->rejected_count++;
	c->state = GW_CONN_BUSY;
	gw_conn_respond(c, 503, FULL_BODY, sizeof(FULL_BODY) - 1, 1);
}
