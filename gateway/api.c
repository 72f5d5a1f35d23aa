/* api.c: holdfast-http's routes: parses the request target and the JSON body (jansson), checks
 * every argument against its range, and submits one libholdfast request (pipelined, event-loop
 * mode); reply.c answers its completion.
 *
 *   GET    /healthz                                      PING of shard 0       200 | 503
 *   POST   /events                                       CREATE_EVENT          201
 *   POST   /events/{id}/holds                            HOLD (seats | best N) 201
 *   GET    /events/{id}/seats/available[?first=&count=]  AVAIL                 200
 *   POST   /events/{id}/holds/{hold}/confirm             CONFIRM               200
 *   DELETE /events/{id}/holds/{hold}                     RELEASE               200
 * A known path with another method is 405, any other path 404, a bad id, query or body 400 with a
 * message naming the argument.
 *
 * Idempotency-Key: a POST /events/{id}/holds with this header (1 .. 255 bytes) gets the hold id
 *     h = fnv1a64(key bytes);  id = fmix64(h ^ fmix64(event_id));  id = 1 when that is 0
 * (fnv1a64: offset basis 0xcbf29ce484222325, prime 0x100000001b3, one byte at a time;
 * fmix64 = hf_hash64, the protocol's slot hash). The same key on the same event is the same hold
 * on every gateway process: a resend gets the first answer (the same seats), a resend with another
 * body gets ID_CONFLICT (422). Without the header the gateway picks a random id
 * (hf_client_new_id), so a client that needs to retry safely sends the header. */
#include "gateway/gateway_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_TTL_MS_DEFAULT                                                                        \
	(HF_HOLD_LIFETIME_MAX_S * 1000u) /* the engine clamps it to the event's */

uint64_t gw_hold_id_of_key(uint64_t event_id, const char *key, size_t key_size)
{
	HF_ASSERT(key != NULL);
	HF_ASSERT(key_size <= GW_IDEM_KEY_SIZE_MAX);
	uint64_t h = 0xcbf29ce484222325ull;
	/* Bounded by key_size. */
	for (size_t i = 0; i < key_size; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	uint64_t id = hf_hash64(h ^ hf_hash64(event_id));
	return id == 0 ? 1 : id;
}

/* ---- Requests ---- */

static void submit(struct gw_conn *c, const struct hf_request *req, enum gw_op op)
{
	c->op = op;
	int rc = op == GW_OP_HEALTH
		     ? hf_client_submit_shard(c->worker->client, 0, req, gw_conn_tag(c))
		     : hf_client_submit(c->worker->client, req, gw_conn_tag(c));
	if (rc == -EINVAL) {
		gw_reply_bad_request(c, "the request's arguments are out of their range");
		return;
	}
	if (rc != 0)
		gw_reply_transport(c, rc);
}

/* A decimal u64 spanning exactly s[0..size). */
static int parse_u64(const char *s, size_t size, uint64_t *out)
{
	if (size == 0 || size > 20)
		return -1;
	uint64_t v = 0;
	/* Bounded by size (<= 20). */
	for (size_t i = 0; i < size; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* An id of the path: decimal, 1 .. UINT64_MAX. */
static int parse_id(const char *s, size_t size, uint64_t *out)
{
	uint64_t v;
	if (parse_u64(s, size, &v) != 0 || v == 0)
		return -1;
	*out = v;
	return 0;
}

/* ---- JSON bodies ---- */

/* A JSON integer or decimal string in [min, max] into *out; -1 otherwise. */
static int json_u64(const json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t x;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return -1;
		x = (uint64_t)i;
	} else if (json_is_string(v)) {
		if (parse_u64(json_string_value(v), json_string_length(v), &x) != 0)
			return -1;
	} else {
		return -1;
	}
	if (x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* The body as a JSON object (the caller json_decref's it), or NULL after answering 400. */
static json_t *body_object(struct gw_conn *c)
{
	json_error_t err;
	json_t *root = json_loadb(c->req.body, c->req.body_size, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		gw_reply_bad_request(c, "body: invalid JSON at line %d column %d: %s", err.line,
				     err.column, err.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		gw_reply_bad_request(c, "body: a JSON object is expected");
		return NULL;
	}
	return root;
}

/* One member of a body: its name, its range, where it goes; required or not. */
struct member {
	const char *name;
	uint64_t min;
	uint64_t max;
	uint64_t *out;
	int required;
};

/* Reads the listed integer members of obj; any other key is refused (a misspelt "ttl" must not
 * pass silently). "seats" is skipped when skip_seats (the hold's list, read by the caller).
 * Returns 0, or -1 after answering 400. */
static int members_read(struct gw_conn *c, json_t *obj, const struct member *m, size_t m_count,
			int skip_seats)
{
	const char *key;
	json_t *v;
	/* Bounded by the object's members (the body is <= GW_BODY_SIZE_MAX bytes). */
	json_object_foreach(obj, key, v)
	{
		size_t i = 0;
		while (i < m_count && strcmp(m[i].name, key) != 0)
			i++;
		if (i == m_count && !(skip_seats && strcmp(key, "seats") == 0)) {
			gw_reply_bad_request(c, "body: unknown key \"%.40s\"", key);
			return -1;
		}
	}
	for (size_t i = 0; i < m_count; i++) {
		v = json_object_get(obj, m[i].name);
		if (v == NULL && m[i].required) {
			gw_reply_bad_request(c, "body: \"%s\" is required", m[i].name);
			return -1;
		}
		if (v != NULL && json_u64(v, m[i].min, m[i].max, m[i].out) != 0) {
			gw_reply_bad_request(
			    c, "body: \"%s\" must be an integer in %" PRIu64 " .. %" PRIu64,
			    m[i].name, m[i].min, m[i].max);
			return -1;
		}
	}
	return 0;
}

/* "seats": [s, ...] of a hold into req (EXPLICIT). Returns 0 or -1 after answering 400. */
static int seats_read(struct gw_conn *c, const json_t *seats, struct hf_req_hold *req)
{
	size_t n = json_array_size(seats);
	if (!json_is_array(seats) || n == 0 || n > HF_HOLD_SEATS_MAX) {
		gw_reply_bad_request(c, "body: \"seats\" must be an array of 1 .. %u seat numbers",
				     HF_HOLD_SEATS_MAX);
		return -1;
	}
	/* Bounded by HF_HOLD_SEATS_MAX. */
	for (size_t i = 0; i < n; i++) {
		uint64_t s;
		if (json_u64(json_array_get(seats, i), 0, UINT32_MAX, &s) != 0) {
			gw_reply_bad_request(c, "body: \"seats\"[%zu] must be a seat number", i);
			return -1;
		}
		req->seats[i] = (uint32_t)s;
	}
	req->mode = HF_HOLD_EXPLICIT;
	req->seats_count = (uint32_t)n;
	return 0;
}

/* ---- Routes ---- */

static void route_health(struct gw_conn *c)
{
	struct hf_request req = {.opcode = HF_OP_PING};
	submit(c, &req, GW_OP_HEALTH);
}

static void route_create_event(struct gw_conn *c)
{
	json_t *obj = body_object(c);
	if (obj == NULL)
		return;
	uint64_t id = 0, seats = 0, width = 0, limit = 0, lifetime = 0;
	const struct member m[] = {
	    {"event_id", 1, UINT64_MAX, &id, 1},
	    {"seats", 1, HF_EVENT_SEATS_MAX, &seats, 1},
	    {"row_width", 0, HF_EVENT_SEATS_MAX, &width, 0},
	    {"user_limit", 0, UINT32_MAX, &limit, 0},
	    {"hold_lifetime", 0, HF_HOLD_LIFETIME_MAX_S, &lifetime, 0},
	};
	int rc = members_read(c, obj, m, HF_ARRAY_SIZE(m), 0);
	json_decref(obj);
	if (rc != 0)
		return;
	struct hf_request req = {.opcode = HF_OP_CREATE_EVENT};
	req.create_event.event_id = id;
	req.create_event.seats_count = (uint32_t)seats;
	req.create_event.row_width = (uint32_t)width;
	req.create_event.user_limit = (uint32_t)limit;
	req.create_event.hold_lifetime_max_s = (uint32_t)lifetime;
	c->create = req.create_event;
	c->event_id = id;
	submit(c, &req, GW_OP_CREATE_EVENT);
}

/* The hold id of the request: from its Idempotency-Key, else a fresh one. 0 after answering 400. */
static uint64_t hold_id_of(struct gw_conn *c, uint64_t event_id)
{
	if (!c->req.key_set)
		return hf_client_new_id(c->worker->client);
	if (c->req.key_size == 0 || c->req.key_size > GW_IDEM_KEY_SIZE_MAX) {
		gw_reply_bad_request(c, "Idempotency-Key must have 1 .. %u bytes",
				     GW_IDEM_KEY_SIZE_MAX);
		return 0;
	}
	return gw_hold_id_of_key(event_id, c->req.key, c->req.key_size);
}

static int hold_body(struct gw_conn *c, json_t *obj, struct hf_req_hold *h)
{
	uint64_t user = 0, best = 0, ttl_s = 0;
	const struct member m[] = {
	    {"user", 1, UINT64_MAX, &user, 1},
	    {"best", 1, HF_HOLD_SEATS_MAX, &best, 0},
	    {"ttl", 1, GW_TTL_S_MAX, &ttl_s, 0},
	};
	if (members_read(c, obj, m, HF_ARRAY_SIZE(m), 1) != 0)
		return -1;
	json_t *seats = json_object_get(obj, "seats");
	if ((seats == NULL) == (best == 0)) {
		gw_reply_bad_request(c, "body: give either \"seats\" (a list) or \"best\" (N)");
		return -1;
	}
	if (seats != NULL && seats_read(c, seats, h) != 0)
		return -1;
	if (best != 0) {
		h->mode = HF_HOLD_BEST;
		h->seats_count = (uint32_t)best;
	}
	h->user_id = user;
	h->ttl_ms = ttl_s != 0 ? (uint32_t)(ttl_s * 1000u) : HOLD_TTL_MS_DEFAULT;
	return 0;
}

static void route_hold(struct gw_conn *c, uint64_t event_id)
{
	json_t *obj = body_object(c);
	if (obj == NULL)
		return;
	struct hf_request req = {.opcode = HF_OP_HOLD};
	int rc = hold_body(c, obj, &req.hold);
	json_decref(obj);
	if (rc != 0)
		return;
	req.hold.event_id = event_id;
	req.hold.hold_id = hold_id_of(c, event_id);
	if (req.hold.hold_id == 0)
		return;
	c->event_id = event_id;
	c->hold_id = req.hold.hold_id;
	submit(c, &req, GW_OP_HOLD);
}

/* One "name=value" of the query into first / count. Returns 0 or -1 after answering 400. */
static int query_pair(struct gw_conn *c, const char *s, size_t size, uint64_t *first,
		      uint64_t *count)
{
	const char *eq = memchr(s, '=', size);
	size_t name_size = eq != NULL ? (size_t)(eq - s) : size;
	uint64_t *out = NULL, max = 0;
	if (name_size == 5 && memcmp(s, "first", 5) == 0) {
		out = first;
		max = UINT32_MAX;
	} else if (name_size == 5 && memcmp(s, "count", 5) == 0) {
		out = count;
		max = GW_AVAIL_COUNT_MAX;
	}
	if (out == NULL) {
		gw_reply_bad_request(c, "query: unknown parameter (first=, count= are known)");
		return -1;
	}
	if (eq == NULL || parse_u64(eq + 1, size - name_size - 1, out) != 0 || *out > max) {
		gw_reply_bad_request(c, "query: %.5s must be an integer in 0 .. %" PRIu64, s, max);
		return -1;
	}
	return 0;
}

static void route_avail(struct gw_conn *c, uint64_t event_id, const char *query, size_t size)
{
	uint64_t first = 0, count = 0;
	size_t at = 0;
	/* Bounded by the query's bytes: every pass consumes one pair and its '&'. */
	while (at < size) {
		const char *amp = memchr(query + at, '&', size - at);
		size_t end = amp != NULL ? (size_t)(amp - query) : size;
		if (end > at && query_pair(c, query + at, end - at, &first, &count) != 0)
			return;
		at = end + 1;
	}
	if (first > 0 && count == 0) {
		gw_reply_bad_request(c, "query: first= needs count= (1 .. %u)", GW_AVAIL_COUNT_MAX);
		return;
	}
	struct hf_request req = {.opcode = HF_OP_AVAIL};
	req.avail.event_id = event_id;
	req.avail.first = (uint32_t)first;
	req.avail.count = (uint32_t)count;
	c->event_id = event_id;
	c->avail_first = (uint32_t)first;
	c->avail_count = (uint32_t)count;
	submit(c, &req, GW_OP_AVAIL);
}

static void route_hold_ref(struct gw_conn *c, uint64_t event_id, uint64_t hold_id, enum gw_op op)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = op == GW_OP_CONFIRM ? HF_OP_CONFIRM : HF_OP_RELEASE;
	/* CONFIRM and RELEASE share one body (struct hf_req_hold_ref) in the union. */
	req.confirm.event_id = event_id;
	req.confirm.hold_id = hold_id;
	c->event_id = event_id;
	c->hold_id = hold_id;
	submit(c, &req, op);
}

/* ---- The router ---- */

struct path {
	uint32_t count; /* <= GW_PATH_SEGMENTS_MAX */
	const char *seg[GW_PATH_SEGMENTS_MAX];
	size_t size[GW_PATH_SEGMENTS_MAX];
};

/* Splits "/a/b/c" into segments; -1 when there are too many (no route has that many). */
static int path_split(const char *s, size_t size, struct path *p)
{
	p->count = 0;
	size_t at = 0;
	/* Bounded by the path's bytes. */
	while (at < size) {
		if (s[at] == '/') {
			at++;
			continue;
		}
		const char *slash = memchr(s + at, '/', size - at);
		size_t end = slash != NULL ? (size_t)(slash - s) : size;
		if (p->count == GW_PATH_SEGMENTS_MAX)
			return -1;
		p->seg[p->count] = s + at;
		p->size[p->count] = end - at;
		p->count++;
		at = end;
	}
	return 0;
}

static int seg_is(const struct path *p, uint32_t i, const char *word)
{
	size_t n = strlen(word);
	return i < p->count && p->size[i] == n && memcmp(p->seg[i], word, n) == 0;
}

/* The route of an /events/{id}/... path (p->count >= 2), or 0 when it is none. */
static enum gw_op route_of_event_path(const struct path *p, uint8_t *method_out)
{
	if (p->count == 3 && seg_is(p, 2, "holds")) {
		*method_out = HTTP_POST;
		return GW_OP_HOLD;
	}
	if (p->count == 4 && seg_is(p, 2, "seats") && seg_is(p, 3, "available")) {
		*method_out = HTTP_GET;
		return GW_OP_AVAIL;
	}
	if (p->count == 5 && seg_is(p, 2, "holds") && seg_is(p, 4, "confirm")) {
		*method_out = HTTP_POST;
		return GW_OP_CONFIRM;
	}
	if (p->count == 4 && seg_is(p, 2, "holds")) {
		*method_out = HTTP_DELETE;
		return GW_OP_RELEASE;
	}
	return GW_OP_NONE;
}

static enum gw_op route_of(const struct path *p, uint8_t *method_out)
{
	if (p->count == 1 && seg_is(p, 0, "healthz")) {
		*method_out = HTTP_GET;
		return GW_OP_HEALTH;
	}
	if (p->count == 1 && seg_is(p, 0, "events")) {
		*method_out = HTTP_POST;
		return GW_OP_CREATE_EVENT;
	}
	if (p->count >= 3 && seg_is(p, 0, "events"))
		return route_of_event_path(p, method_out);
	return GW_OP_NONE;
}

/* Runs a matched route: parses the path's ids, then the route's own arguments. */
static void route_run(struct gw_conn *c, enum gw_op op, const struct path *p, const char *query,
		      size_t query_size)
{
	uint64_t event_id = 0, hold_id = 0;
	if (op == GW_OP_HEALTH) {
		route_health(c);
		return;
	}
	if (op == GW_OP_CREATE_EVENT) {
		route_create_event(c);
		return;
	}
	if (parse_id(p->seg[1], p->size[1], &event_id) != 0) {
		gw_reply_bad_request(c, "the event id must be a decimal integer in 1 .. 2^64-1");
		return;
	}
	if ((op == GW_OP_CONFIRM || op == GW_OP_RELEASE) &&
	    parse_id(p->seg[3], p->size[3], &hold_id) != 0) {
		gw_reply_bad_request(c, "the hold id must be a decimal integer in 1 .. 2^64-1");
		return;
	}
	if (op == GW_OP_HOLD)
		route_hold(c, event_id);
	else if (op == GW_OP_AVAIL)
		route_avail(c, event_id, query, query_size);
	else
		route_hold_ref(c, event_id, hold_id, op);
}

void gw_api_dispatch(struct gw_conn *c)
{
	HF_ASSERT(c->state == GW_CONN_BUSY);
	HF_ASSERT(c->req.url_size <= GW_URL_SIZE_MAX);
	c->op = GW_OP_NONE;
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->req.url, c->req.url_size, 0, &u) != 0 ||
	    !(u.field_set & (1u << UF_PATH))) {
		gw_reply_bad_request(c, "the request target is not a path");
		return;
	}
	struct path p;
	const char *path = c->req.url + u.field_data[UF_PATH].off;
	const char *query = "";
	size_t query_size = 0;
	if (u.field_set & (1u << UF_QUERY)) {
		query = c->req.url + u.field_data[UF_QUERY].off;
		query_size = u.field_data[UF_QUERY].len;
	}
	uint8_t method = 0;
	enum gw_op op = GW_OP_NONE;
	if (path_split(path, u.field_data[UF_PATH].len, &p) == 0)
		op = route_of(&p, &method);
	if (op == GW_OP_NONE) {
		gw_reply_error(c, 404, "NOT_FOUND", "no such path (see holdfast-http --help)");
		return;
	}
	if (c->req.method != method) {
		char message[64];
		snprintf(message, sizeof(message), "this path takes %s",
			 http_method_str((enum http_method)method));
		gw_reply_error(c, 405, "METHOD_NOT_ALLOWED", message);
		return;
	}
	route_run(c, op, &p, query, query_size);
}
