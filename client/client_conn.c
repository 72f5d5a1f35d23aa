/* libholdfast: connections to the shards. Opening (non-blocking connect), copying queued frames
 * into the send buffer and writing it, reading and cutting replies into frames, and matching each
 * reply to its in-flight entry (deliver, or resend on MOVED / BUSY / TRY_AGAIN). A broken or
 * timed-out connection hands its requests back to the in-flight table (hf_client_conn_fail). */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Copies and sends of one connection in one pass: the send buffer holds ~200 HOLD frames, so this
 * moves a full pipeline of 1600 holds per pass and leaves the rest for the next one. */
#define WRITES_PER_PASS_MAX 8u

/* ---- Connections ---- */

struct conn *hf_client_conn_get(struct hf_client *c, uint16_t owner)
{
	HF_ASSERT(owner < c->map.owners_count);
	if (c->conns[owner] != NULL)
		return c->conns[owner];
	struct conn *conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		goto err;
	conn->send_buf = malloc(HF_CLIENT_SEND_BUFFER_SIZE);
	if (conn->send_buf == NULL)
		goto err_free_conn;
	conn->recv_buf = malloc(HF_CLIENT_RECV_BUFFER_SIZE_MIN);
	if (conn->recv_buf == NULL)
		goto err_free_send;
	conn->recv_size = HF_CLIENT_RECV_BUFFER_SIZE_MIN;
	conn->fd = -1;
	conn->loop_fd = -1;
	conn->state = CONN_CLOSED;
	conn->owner_index = owner;
	conn->port = c->map.owners[owner].port;
	memcpy(conn->host, c->map.owners[owner].host, sizeof(conn->host));
	hf_client_list_init(&conn->list);
	conn->unsent = NONE;
	c->conns[owner] = conn;
	return conn;

err_free_send:
	free(conn->send_buf);
err_free_conn:
	free(conn);
err:
	return NULL;
}

static void conn_close(struct hf_client *c, struct conn *conn)
{
	hf_client_loop_forget(c, conn);
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	conn->state = CONN_CLOSED;
	conn->send_head = 0;
	conn->send_tail = 0;
	conn->recv_used = 0;
}

void hf_client_conn_destroy(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->list.count == 0);
	conn_close(c, conn);
	free(conn->send_buf);
	free(conn->recv_buf);
	free(conn);
}

/* Closes the connection and resends (or completes) every request it held, as mode says. */
/* ---- The circuit breaker ----
 * STATES: CLOSED -> OPEN after breaker_timeouts timeouts in a row (breaker_on_timeout);
 * OPEN -> HALF_OPEN when the cool-down ends (hf_client_breaker_admit); HALF_OPEN -> CLOSED on an
 * answer (breaker_on_answer); HALF_OPEN -> OPEN on a timeout (breaker_on_timeout). */

static void breaker_open(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(c->opts.breaker_timeouts > 0);
	HF_ASSERT(c->opts.breaker_cooldown_ms > 0);
	conn->breaker_state = HF_BREAKER_OPEN;
	conn->breaker_open_until_ms = c->now_ms + c->opts.breaker_cooldown_ms;
	conn->breaker_trips++;
}

static void breaker_on_timeout(struct hf_client *c, struct conn *conn)
{
	if (c->opts.breaker_timeouts == 0)
		return;
	if (conn->breaker_timeouts < UINT32_MAX)
		conn->breaker_timeouts++;
	if (conn->breaker_state == HF_BREAKER_HALF_OPEN ||
	    (conn->breaker_state == HF_BREAKER_CLOSED &&
	     conn->breaker_timeouts >= c->opts.breaker_timeouts))
		breaker_open(c, conn);
}

static void breaker_on_answer(struct conn *conn)
{
	conn->breaker_timeouts = 0;
	conn->breaker_state = HF_BREAKER_CLOSED;
}

int hf_client_breaker_admit(struct hf_client *c, struct conn *conn)
{
	if (conn->breaker_state == HF_BREAKER_CLOSED)
		return 1;
	if (conn->breaker_state == HF_BREAKER_OPEN) {
		if (c->now_ms < conn->breaker_open_until_ms)
			return 0;
		conn->breaker_state = HF_BREAKER_HALF_OPEN;
	}
	HF_ASSERT(conn->breaker_state == HF_BREAKER_HALF_OPEN);
	return conn->list.count == 0; /* one probe at a time */
}

int hf_client_breaker(const struct hf_client *client, uint16_t owner_index,
		      struct hf_client_breaker *out)
{
	if (owner_index >= client->map.owners_count)
		return -EINVAL;
	const struct conn *conn = client->conns[owner_index];
	*out = (struct hf_client_breaker){.state = HF_BREAKER_CLOSED};
	if (conn == NULL)
		return 0;
	out->state = conn->breaker_state;
	out->timeouts = conn->breaker_timeouts;
	out->trips = conn->breaker_trips;
	if (conn->breaker_state == HF_BREAKER_OPEN) {
		uint64_t now_ms = hf_clock_mono_ms();
		if (now_ms >= conn->breaker_open_until_ms)
			out->state = HF_BREAKER_HALF_OPEN;
		else
			out->retry_in_ms = (uint32_t)(conn->breaker_open_until_ms - now_ms);
	}
	return 0;
}

void hf_client_conn_fail(struct hf_client *c, struct conn *conn, int error, enum fail_mode mode)
{
	HF_ASSERT(error < 0);
	if (error == -ETIMEDOUT)
		breaker_on_timeout(c, conn);
	conn_close(c, conn);
	uint32_t idx = conn->list.head;
	uint32_t count = conn->list.count;
	hf_client_list_init(&conn->list);
	conn->unsent = NONE;
	/* Detach the whole chain first: resending may append to this very connection. */
	for (uint32_t i = 0; i < count; i++) {
		HF_ASSERT(idx != NONE);
		struct entry *e = &c->entries[idx];
		uint32_t next = e->next;
		int was_sent = e->state == ENTRY_SENT;
		HF_ASSERT(e->conn == conn);
		e->prev = NONE;
		e->next = NONE;
		e->conn = NULL;
		e->state = ENTRY_DETACHED;
		switch (mode) {
		case FAIL_CONNECT:
			hf_client_entry_reconnect(c, idx, error);
			break;
		case FAIL_BROKEN:
			if (was_sent)
				hf_client_entry_retry(c, idx, error, 0);
			else
				hf_client_entry_route(c, idx);
			break;
		case FAIL_TIMEOUT:
			if (e->deadline_ms <= c->now_ms)
				hf_client_entry_retry(c, idx, error, 0);
			else
				hf_client_entry_route(c, idx);
			break;
		case FAIL_MOVE:
			hf_client_entry_route(c, idx);
			break;
		case FAIL_AUTH:
			hf_client_entry_deliver(c, idx, error, NULL);
			break;
		}
		idx = next;
	}
	HF_ASSERT(idx == NONE);
}

/* A new connection to a server with tokens starts with AUTH: it goes first in the send buffer,
 * so the server reads it before any request (its reply, request id 0, is checked in on_reply). */
static void conn_queue_auth(struct hf_client *c, struct conn *conn)
{
	if (c->auth_frame_size == 0)
		return;
	HF_ASSERT(conn->send_head <= conn->send_tail);
	uint32_t left = conn->send_tail - conn->send_head;
	HF_ASSERT(left + c->auth_frame_size <= HF_CLIENT_SEND_BUFFER_SIZE);
	memmove(conn->send_buf + c->auth_frame_size, conn->send_buf + conn->send_head, left);
	memcpy(conn->send_buf, c->auth_frame, c->auth_frame_size);
	conn->send_head = 0;
	conn->send_tail = c->auth_frame_size + left;
}

static void conn_connect(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_CLOSED && conn->fd < 0);
	if (conn->addrs.count == 0) {
		int rc = hf_client_resolve(conn->host, conn->port, &conn->addrs);
		if (rc != 0) {
			hf_client_conn_fail(c, conn, rc, FAIL_CONNECT);
			return;
		}
	}
	uint32_t a = conn->addr_index % conn->addrs.count;
	int in_progress;
	int fd = hf_client_connect_start(&conn->addrs.addrs[a], conn->addrs.sizes[a], &in_progress);
	if (fd < 0) {
		conn->addr_index++;
		hf_client_conn_fail(c, conn, fd, FAIL_CONNECT);
		return;
	}
	conn->fd = fd;
	conn->state = in_progress ? CONN_CONNECTING : CONN_OPEN;
	conn->connect_deadline_ms = c->now_ms + c->opts.connect_timeout_ms;
	conn_queue_auth(c, conn);
}

/* The connect finished (the socket polled writable or failed). */
void hf_client_conn_on_connect(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_CONNECTING);
	int rc = hf_client_connect_finish(conn->fd);
	if (rc != 0) {
		conn->addr_index++;
		hf_client_conn_fail(c, conn, rc, FAIL_CONNECT);
		return;
	}
	conn->state = CONN_OPEN;
}

/* Copies queued frames into the send buffer (as many as fit) and writes it, a bounded number of
 * times. Opens the connection first when it is closed and has work. */
/* How many QUEUED entries from conn->unsent on go into one BATCH frame that fits the send buffer
 * (at most opts.batch_max, batchable opcodes only), and its size in *frame_size_out. */
static uint32_t batch_span(const struct hf_client *c, const struct conn *conn,
			   uint32_t *frame_size_out)
{
	uint32_t count = 0;
	uint32_t size = HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE;
	/* Bounded by batch_max (<= HF_BATCH_OPS_MAX). */
	for (uint32_t idx = conn->unsent; idx != NONE && count < c->opts.batch_max;) {
		const struct entry *e = &c->entries[idx];
		HF_ASSERT(e->state == ENTRY_QUEUED);
		if (!hf_opcode_is_batchable(e->opcode))
			break;
		/* An entry is its frame less 8 bytes (the 24-byte header becomes 16). */
		uint32_t entry_size =
		    e->frame_size - (HF_FRAME_HEADER_SIZE - HF_BATCH_ENTRY_HEADER_SIZE);
		if (conn->send_tail + size + entry_size > HF_CLIENT_SEND_BUFFER_SIZE)
			break;
		size += entry_size;
		count++;
		idx = e->next;
	}
	*frame_size_out = size;
	return count;
}

/* Writes `count` QUEUED entries from conn->unsent on as one BATCH frame of frame_size bytes at the
 * send buffer's tail (its request id is the first entry's; each entry keeps its own). */
static void batch_write(struct hf_client *c, struct conn *conn, uint32_t count, uint32_t frame_size)
{
	HF_ASSERT(count >= 2);
	HF_ASSERT(count <= HF_BATCH_OPS_MAX);
	uint8_t *frame = conn->send_buf + conn->send_tail;
	uint32_t pos = HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE;
	uint64_t first_id = c->entries[conn->unsent].request_id;
	for (uint32_t i = 0; i < count; i++) {
		struct entry *e = &c->entries[conn->unsent];
		HF_ASSERT(e->state == ENTRY_QUEUED && e->conn == conn);
		pos += (uint32_t)hf_batch_entry_from_frame(e->frame, e->frame_size, frame + pos);
		e->state = ENTRY_SENT;
		conn->unsent = e->next;
	}
	HF_ASSERT(pos == frame_size);
	hf_batch_fixed_encode(frame + HF_FRAME_HEADER_SIZE, (uint16_t)count);
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = HF_OP_BATCH,
				    .request_id = first_id,
				    .body_size = frame_size - HF_FRAME_HEADER_SIZE};
	hf_frame_header_encode(frame, &h);
	conn->send_tail += frame_size;
}

void hf_client_conn_flush(struct hf_client *c, struct conn *conn)
{
	if (conn->state == CONN_CLOSED) {
		if (conn->unsent == NONE)
			return;
		conn_connect(c, conn);
	}
	if (conn->state != CONN_OPEN)
		return;
	for (uint32_t pass = 0; pass < WRITES_PER_PASS_MAX; pass++) {
		if (conn->send_head > 0 && conn->unsent != NONE) {
			uint32_t left = conn->send_tail - conn->send_head;
			memmove(conn->send_buf, conn->send_buf + conn->send_head, left);
			conn->send_head = 0;
			conn->send_tail = left;
		}
		/* Bounded by the list: each pass moves the unsent cursor forward. */
		while (conn->unsent != NONE) {
			struct entry *e = &c->entries[conn->unsent];
			HF_ASSERT(e->state == ENTRY_QUEUED && e->conn == conn);
			if (c->opts.batch_max >= 2) {
				uint32_t frame_size;
				uint32_t count = batch_span(c, conn, &frame_size);
				if (count >= 2) {
					batch_write(c, conn, count, frame_size);
					continue;
				}
			}
			if (conn->send_tail + e->frame_size > HF_CLIENT_SEND_BUFFER_SIZE)
				break;
			memcpy(conn->send_buf + conn->send_tail, e->frame, e->frame_size);
			conn->send_tail += e->frame_size;
			e->state = ENTRY_SENT;
			conn->unsent = e->next;
		}
		if (conn->send_head == conn->send_tail)
			return;
		ssize_t n = send(conn->fd, conn->send_buf + conn->send_head,
				 conn->send_tail - conn->send_head, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			hf_client_conn_fail(c, conn, -errno, FAIL_BROKEN);
			return;
		}
		conn->send_head += (uint32_t)n;
		HF_ASSERT(conn->send_head <= conn->send_tail);
		if (conn->send_head == conn->send_tail) {
			conn->send_head = 0;
			conn->send_tail = 0;
		} else {
			return; /* the socket is full: wait for POLLOUT */
		}
		if (conn->unsent == NONE)
			return;
	}
}

/* ---- Replies ---- */

void hf_client_reply_convert(struct hf_client_reply *out, const struct hf_reply *wire)
{
	memset(out, 0, sizeof(*out));
	out->opcode = wire->opcode;
	out->status = wire->status;
	out->request_id = wire->request_id;
	if (wire->status != HF_OK) {
		out->detail = wire->detail;
		return;
	}
	switch (wire->opcode) {
	case HF_OP_PING:
		out->ping = wire->ping;
		break;
	case HF_OP_EVENT_INFO:
		out->event_info = wire->event_info;
		break;
	case HF_OP_HOLD:
	case HF_OP_CONFIRM:
		/* HOLD and CONFIRM share struct hf_rep_hold at the same place. */
		out->hold = wire->hold;
		break;
	case HF_OP_EXTEND:
		out->extend = wire->extend;
		break;
	case HF_OP_AVAIL:
		out->avail = wire->avail;
		break;
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		/* The two replies share one layout (and one place in both unions). */
		HF_ASSERT(wire->seat_status.seats_count <= HF_SEAT_STATUS_SEATS_MAX);
		out->seat_status.seats_count = wire->seat_status.seats_count;
		out->seat_status.seats = wire->seat_status.seats;
		break;
	case HF_OP_EVENT_SECTIONS:
		out->event_sections = &wire->event_sections;
		break;
	case HF_OP_WATCH:
		out->watch = wire->watch;
		break;
	case HF_OP_SLOT_MAP:
		out->slot_map = &wire->slot_map;
		break;
	case HF_OP_STATS:
		HF_ASSERT(wire->stats.stats_count <= HF_STATS_MAX);
		out->stats.stats_count = wire->stats.stats_count;
		out->stats.stats = wire->stats.stats;
		break;
	case HF_OP_BACKUP:
		out->backup = wire->backup;
		break;
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS: {
		/* The two replies share one layout (and one place in both unions). */
		const struct hf_rep_user_records *w = &wire->user_holds;
		HF_ASSERT(w->records_count <= HF_USER_RECORDS_PAGE_MAX);
		out->user_holds.next_seq = w->next_seq;
		out->user_holds.next_id = w->next_id;
		out->user_holds.records_count = w->records_count;
		out->user_holds.records = w->records;
		break;
	}
	case HF_OP_JOIN:
	case HF_OP_POSITION:
		/* The two replies share one layout (and one place in both unions). */
		out->join = wire->join;
		break;
	case HF_OP_ROOM_INFO:
		out->room_info = wire->room_info;
		break;
	default:
		out->detail = wire->detail; /* bodiless answers: CREATE_EVENT, RELEASE, CANCEL */
		break;
	}
}

/* Hands a decoded reply to its request's owner: the blocking caller's struct, or the callback. */
static void entry_deliver_reply(struct hf_client *c, uint32_t idx, const struct hf_reply *wire,
				int is_call)
{
	struct hf_client_reply local;
	struct hf_client_reply *rep = is_call ? c->call_rep : &local;
	hf_client_reply_convert(rep, wire);
	if (is_call && rep->opcode == HF_OP_AVAIL && rep->status == HF_OK && rep->avail.count > 0) {
		/* The bitmap points into the receive buffer: the blocking caller gets a copy. */
		if (c->avail_copy == NULL)
			c->avail_copy = malloc(HF_AVAIL_RANGE_MAX / 8u);
		if (c->avail_copy == NULL) {
			hf_client_entry_deliver(c, idx, -ENOMEM, NULL);
			return;
		}
		size_t n = ((size_t)rep->avail.count + 7u) / 8u;
		HF_ASSERT(n <= HF_AVAIL_RANGE_MAX / 8u);
		memcpy(c->avail_copy, rep->avail.bitmap, n);
		rep->avail.bitmap = c->avail_copy;
	}
	hf_client_entry_deliver(c, idx, 0, rep);
}

static int on_reply(struct hf_client *c, struct conn *conn, const struct hf_frame_header *h,
		    const uint8_t *body);

/* A BATCH reply: each entry is handled as the reply frame of its own request. Anything but OK on
 * the frame itself means its entries got no answer: -EPROTO fails the connection and resends
 * them. */
static int on_batch_reply(struct hf_client *c, struct conn *conn, const struct hf_frame_header *h,
			  const uint8_t *body)
{
	if (h->status != HF_OK || hf_reply_decode(h, body, c->reply) != HF_OK)
		return -EPROTO;
	/* Entries point into the receive buffer, which stays put while they are handled. */
	const uint8_t *entries = c->reply->batch.entries;
	uint32_t entries_size = c->reply->batch.entries_size;
	uint16_t count = c->reply->batch.ops_count;
	uint32_t off = 0;
	for (uint16_t i = 0; i < count; i++) {
		struct hf_frame_header eh;
		const uint8_t *eb;
		if (hf_batch_next(entries, entries_size, &off, 1, &eh, &eb) != 1 ||
		    eh.opcode == HF_OP_BATCH)
			return -EPROTO;
		int rc = on_reply(c, conn, &eh, eb);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One reply frame (header decoded, body complete) from conn. Returns 0; 1 when it failed the
 * connection itself (our AUTH was refused); -EPROTO when the reply does not decode or does not
 * answer its request: the caller then fails the connection (the request, still SENT on it, is
 * resent like the others; docs/protocol.md section 9). */
static int on_reply(struct hf_client *c, struct conn *conn, const struct hf_frame_header *h,
		    const uint8_t *body)
{
	if (h->request_id == 0 && h->opcode == HF_OP_AUTH) {
		/* Our AUTH: refused means every request on this connection fails (-EACCES). */
		if (h->status == HF_OK)
			return 0;
		hf_client_conn_fail(c, conn, -EACCES, FAIL_AUTH);
		return 1;
	}
	if (h->opcode == HF_OP_BATCH)
		return on_batch_reply(c, conn, h, body);
	uint32_t idx = (uint32_t)(h->request_id & c->table_mask);
	struct entry *e = &c->entries[idx];
	if (h->request_id == 0 || e->request_id != h->request_id || e->state != ENTRY_SENT ||
	    e->conn != conn)
		return 0; /* an answer to a request that ended or was resent elsewhere: drop it */
	int is_call = c->call_rep != NULL && h->request_id == c->call_id;
	struct hf_reply *rep = c->reply;
	enum hf_status st = hf_reply_decode(h, body, rep);
	if (st != HF_OK || rep->opcode != e->opcode)
		return -EPROTO;
	hf_client_entry_unlink(c, idx);
	breaker_on_answer(conn);
	if (e->internal) {
		hf_client_map_refresh_answered(c, idx, rep);
		return 0;
	}
	if (rep->status == HF_TRY_AGAIN && e->expires_ms != UINT64_MAX) {
		/* A slot's freeze while it moves lasts milliseconds: with an overall deadline it is
		 * waited out without spending retries (the age list still ends the request). */
		hf_client_entry_delay(c, idx, HF_CLIENT_BACKOFF_FREEZE_MS);
		return 0;
	}
	if (e->attempt < c->opts.retries_max) {
		switch (rep->status) {
		case HF_MOVED:
			e->attempt++;
			e->state = ENTRY_WAIT_MAP;
			hf_client_list_push(c, &c->wait_map, idx);
			if (rep->detail > c->moved_epoch) {
				c->moved_epoch = rep->detail;
				c->moved_owner = conn->owner_index;
			}
			return 0;
		case HF_BUSY:
		case HF_TRY_AGAIN:
			e->attempt++;
			hf_client_entry_delay(
			    c, idx,
			    hf_client_backoff_jittered_ms(c, e->attempt, HF_CLIENT_BACKOFF_BUSY_MS,
							  HF_CLIENT_BACKOFF_BUSY_MS_MAX));
			return 0;
		default:
			break;
		}
	}
	entry_deliver_reply(c, idx, rep, is_call);
	return 0;
}

/* Cuts the receive buffer into frames and handles each. */
static void conn_parse(struct hf_client *c, struct conn *conn)
{
	uint32_t off = 0;
	uint32_t need_size = 0;
	/* Bounded by the buffer: every pass consumes a whole frame or stops. */
	while (conn->recv_used - off >= HF_FRAME_HEADER_SIZE) {
		struct hf_frame_header h;
		enum hf_status st = hf_frame_header_decode(conn->recv_buf + off, &h);
		if (st != HF_OK || !(h.flags & HF_FLAG_REPLY)) {
			hf_client_conn_fail(c, conn, -EPROTO, FAIL_BROKEN);
			return;
		}
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		HF_ASSERT(frame_size <= HF_FRAME_SIZE_MAX);
		if (conn->recv_used - off < frame_size) {
			need_size = frame_size;
			break;
		}
		int rc = on_reply(c, conn, &h, conn->recv_buf + off + HF_FRAME_HEADER_SIZE);
		if (rc > 0)
			return; /* the connection was failed (a refused AUTH) */
		if (rc != 0) {
			hf_client_conn_fail(c, conn, -EPROTO, FAIL_BROKEN);
			return;
		}
		off += frame_size;
	}
	if (off > 0) {
		memmove(conn->recv_buf, conn->recv_buf + off, conn->recv_used - off);
		conn->recv_used -= off;
	}
	if (need_size > conn->recv_size) {
		uint8_t *bigger = realloc(conn->recv_buf, HF_CLIENT_RECV_BUFFER_SIZE_MAX);
		if (bigger == NULL) {
			hf_client_conn_fail(c, conn, -ENOMEM, FAIL_BROKEN);
			return;
		}
		conn->recv_buf = bigger;
		conn->recv_size = HF_CLIENT_RECV_BUFFER_SIZE_MAX;
	}
}

/* Reads what the socket has (a bounded number of reads) and handles every complete frame. */
void hf_client_conn_read(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_OPEN);
	for (uint32_t i = 0; i < HF_CLIENT_READS_PER_PASS_MAX; i++) {
		uint32_t space = conn->recv_size - conn->recv_used;
		HF_ASSERT(space > 0);
		ssize_t n = recv(conn->fd, conn->recv_buf + conn->recv_used, space, MSG_DONTWAIT);
		if (n == 0) {
			hf_client_conn_fail(c, conn, -ECONNRESET, FAIL_BROKEN);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			hf_client_conn_fail(c, conn, -errno, FAIL_BROKEN);
			return;
		}
		conn->recv_used += (uint32_t)n;
		conn_parse(c, conn);
		if (conn->state != CONN_OPEN || (uint32_t)n < space)
			return;
	}
}
