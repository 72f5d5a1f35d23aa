/* libholdfast: the pipelined request engine and the public API of client/holdfast.h.
 *
 * A client holds the slot map, one connection per owning shard (opened on first use), and an
 * in-flight table of pipeline_max entries. hf_client_submit encodes a request once into its entry's
 * frame slot and appends the entry to the queue of the connection that owns its event;
 * hf_client_poll copies queued frames into each connection's send buffer and writes it with one
 * send(2), polls every connection, reads what is there into the receive buffer, cuts it into
 * frames, matches each reply to its entry by request id (O(1): id & table_mask is the entry index,
 * the full id validates it) and either delivers it or resends the request: after a map refresh on
 * MOVED, after a backoff on BUSY / TRY_AGAIN, at once on a timeout or a broken connection (with the
 * same ids: every holdfast operation is idempotent by its ids). Blocking calls are one request
 * through this engine.
 *
 * INVARIANTS
 *  1. An entry is FREE iff its request_id is 0 iff its index is on the free stack; in_flight counts
 *     the entries that are not FREE and is at most opts.pipeline_max.
 *  2. A live entry's request_id & table_mask is its index; a request id is never reused by the same
 *     client, so a late reply to an ended request matches no entry and is dropped.
 *  3. A QUEUED or SENT entry is on exactly one connection list (entry->conn); a DELAYED entry on
 *     the delayed list, a WAIT_MAP entry on the wait_map list, a FAILED entry on the failed list.
 *  4. On a connection list every SENT entry precedes every QUEUED one, and conn->unsent is the
 *     first QUEUED entry (NONE when there is none). Only an OPEN connection has SENT entries.
 *  5. Deadlines along a connection list never decrease (each is set to now + timeout_ms when the
 *     entry is appended), so the list head is the first request to time out.
 *  6. A CLOSED connection has fd -1 and empty send and receive buffers.
 *  7. attempt <= opts.retries_max: every resend increments it, and a request that would pass the
 *     bound completes instead (with the last reply, or with the last -errno).
 *  8. conns[i] (when not NULL) serves map.owners[i]: same host and port.
 *
 * STATES (entry)
 *   FREE -> QUEUED            entry_route (from submit_entry)
 *   QUEUED -> SENT            conn_flush (frame copied into the send buffer)
 *   SENT -> FREE              on_reply (an answer), entry_deliver
 *   SENT -> DELAYED           on_reply (BUSY, TRY_AGAIN), conn_fail (connect failed)
 *   SENT -> WAIT_MAP          on_reply (MOVED)
 *   WAIT_MAP -> QUEUED | DELAYED   moved_resend (after the map refresh)
 *   DELAYED -> QUEUED         delayed_resend
 *   SENT | QUEUED -> QUEUED   conn_fail (timeout, broken connection): resend
 *   any -> FAILED -> FREE     entry_fail, failed_deliver (no answer after the retries)
 * STATES (connection)
 *   CLOSED -> CONNECTING -> OPEN   conn_connect, conn_on_connect
 *   CONNECTING | OPEN -> CLOSED    conn_fail */
#include "client/holdfast.h"

#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define NONE	   UINT32_MAX
#define OWNER_NONE UINT16_MAX

/* Copies and sends of one connection in one pass: the send buffer holds ~200 HOLD frames, so this
 * moves a full pipeline of 1600 holds per pass and leaves the rest for the next one. */
#define WRITES_PER_PASS_MAX 8u

/* A refresh that failed is not tried again for this long (MOVED replies keep coming meanwhile). */
#define MAP_RETRY_MS 20u

HF_STATIC_ASSERT(HF_CLIENT_HOLD_FRAME_SIZE_MAX <= HF_CLIENT_FRAME_SLOT_SIZE,
		 "a HOLD frame fits an entry's frame slot");
HF_STATIC_ASSERT(HF_CLIENT_BACKUP_FRAME_SIZE_MAX <= HF_CLIENT_REQUEST_FRAME_SIZE_MAX,
		 "a BACKUP frame fits a large frame slot");
HF_STATIC_ASSERT(HF_CLIENT_REQUEST_FRAME_SIZE_MAX <= HF_CLIENT_SEND_BUFFER_SIZE,
		 "the largest request fits the send buffer");
HF_STATIC_ASSERT(HF_CLIENT_RECV_BUFFER_SIZE_MAX >= HF_FRAME_SIZE_MAX,
		 "the largest reply fits the grown receive buffer");
HF_STATIC_ASSERT(HF_CLIENT_RECV_BUFFER_SIZE_MIN >= HF_CLIENT_MAP_FRAME_SIZE_MAX,
		 "a slot map reply fits the initial receive buffer");
HF_STATIC_ASSERT(HF_SLOT_OWNERS_MAX < OWNER_NONE, "owner indexes fit u16 with a NONE value");
HF_STATIC_ASSERT((HF_CLIENT_PIPELINE_MAX & (HF_CLIENT_PIPELINE_MAX - 1)) == 0,
		 "the largest table is a power of two");

enum entry_state {
	ENTRY_FREE = 0,
	ENTRY_QUEUED,
	ENTRY_SENT,
	ENTRY_DELAYED,
	ENTRY_WAIT_MAP,
	ENTRY_FAILED,
	ENTRY_DETACHED, /* between lists, inside conn_fail and map_install only */
};

enum conn_state {
	CONN_CLOSED = 0,
	CONN_CONNECTING,
	CONN_OPEN,
};

/* How conn_fail counts the connection's requests against their retries. */
enum fail_mode {
	FAIL_CONNECT, /* nothing was sent: every request counts one attempt, then waits a backoff */
	FAIL_BROKEN,  /* requests that were sent count one attempt and resend at once */
	FAIL_TIMEOUT, /* requests past their deadline count one attempt; all resend at once */
	FAIL_MOVE,    /* the owner left the map: resend everything elsewhere, nothing counts */
};

/* A doubly linked list of entries, by index. */
struct list {
	uint32_t head;
	uint32_t tail;
	uint32_t count; /* <= table size */
};

struct entry {
	uint64_t request_id;  /* 0 when FREE */
	uint64_t tag;	      /* the caller's */
	uint64_t event_id;    /* routing key (unused when fixed) */
	uint64_t deadline_ms; /* monotonic; QUEUED, SENT: attempt times out; DELAYED: resend */
	uint64_t route_epoch; /* map epoch when last routed */
	struct conn *conn;    /* QUEUED, SENT: the connection whose list holds the entry */
	uint8_t *frame;	      /* the encoded request, frame_size bytes */
	uint32_t prev;
	uint32_t next;
	uint32_t attempt; /* resends so far, <= retries_max */
	int error;	  /* FAILED: the -errno to deliver */
	uint16_t frame_size;
	uint16_t fixed_owner; /* OWNER_NONE: routed by event_id; else sent to this owner */
	uint8_t big_index;    /* < HF_CLIENT_BIG_FRAMES_MAX when frame is a large slot, else 0xff */
	uint8_t state;	      /* enum entry_state */
	uint8_t opcode;
};

#define BIG_NONE 0xffu

struct conn {
	int fd;	       /* -1 when CLOSED */
	uint8_t state; /* enum conn_state */
	uint16_t owner_index;
	uint16_t port;
	char host[HF_HOST_SIZE_MAX + 1];
	struct hf_client_addrs addrs; /* resolved on first connect; count 0 until then */
	uint32_t addr_index;	      /* next address to try (rotates on failures) */
	uint64_t connect_deadline_ms; /* CONNECTING: give up at this monotonic time */
	struct list list;	      /* SENT then QUEUED entries, in order of their deadlines */
	uint32_t unsent;	      /* first QUEUED entry of list, or NONE */
	uint32_t send_head;	      /* bytes [send_head, send_tail) wait for send(2) */
	uint32_t send_tail;	      /* <= HF_CLIENT_SEND_BUFFER_SIZE */
	uint32_t recv_used;	      /* bytes received and not yet consumed, <= recv_size */
	uint32_t recv_size;	      /* RECV_BUFFER_SIZE_MIN, or _MAX once grown */
	uint8_t *send_buf;
	uint8_t *recv_buf;
};

struct hf_client {
	struct hf_client_options opts;

	/* The address hf_client_open was given: the map source of last resort and the shard that
	 * gets PING, SLOT_MAP, STATS and BACKUP. */
	char home_host[HF_HOST_SIZE_MAX + 1];
	uint16_t home_port;
	uint16_t home_owner; /* its index in map, 0 when it is not in the map */
	struct hf_client_addrs home_addrs;

	struct hf_slot_map map;
	int map_loaded;
	uint64_t moved_epoch;	  /* highest epoch a MOVED reply named */
	uint16_t moved_owner;	  /* the owner that named it (it has that map) */
	uint64_t refreshed_epoch; /* highest MOVED epoch a refresh was made for */
	uint64_t map_retry_at_ms; /* no refresh before this after a failed one */
	struct conn *conns[HF_SLOT_OWNERS_MAX];

	/* The in-flight table: table_mask + 1 entries (a power of two >= pipeline_max). */
	struct entry *entries;
	uint8_t *frames; /* HF_CLIENT_FRAME_SLOT_SIZE bytes per entry */
	uint32_t table_mask;
	uint32_t table_bits;
	uint32_t *free_stack;
	uint32_t free_count;
	uint8_t *big_frames; /* HF_CLIENT_BIG_FRAMES_MAX * HF_CLIENT_REQUEST_FRAME_SIZE_MAX */
	uint8_t big_free[HF_CLIENT_BIG_FRAMES_MAX];
	uint32_t big_free_count;
	uint32_t in_flight;
	uint64_t id_seq; /* request ids are id_seq << table_bits | index */
	uint64_t rng;	 /* splitmix64 state for hf_client_new_id */

	struct list delayed;
	uint64_t delayed_next_ms; /* <= every DELAYED entry's deadline */
	struct list wait_map;
	struct list failed;

	struct hf_reply *reply;	  /* decode target of pipelined replies */
	struct hf_reply *scratch; /* decode target of slot map fetches */
	uint8_t *map_frame;	  /* HF_CLIENT_MAP_FRAME_SIZE_MAX bytes for a slot map fetch */
	uint8_t *avail_copy;	  /* HF_AVAIL_RANGE_MAX / 8 bytes: a blocking AVAIL's bitmap */

	struct pollfd pfds[HF_SLOT_OWNERS_MAX];
	struct conn *pfd_conns[HF_SLOT_OWNERS_MAX];

	/* Set during hf_client_poll. */
	int in_poll;
	hf_client_completion_fn fn;
	void *fn_arg;
	int delivered;
	uint64_t now_ms;

	/* Set during a blocking call: its reply is decoded straight into the caller's struct. */
	uint64_t call_id;
	struct hf_reply *call_rep;
};

static uint64_t rng_next(uint64_t *state)
{
	/* splitmix64: a bijection of the counter, so 0 comes out once per 2^64 calls. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms)
{
	uint32_t shift = attempt < 16 ? attempt : 16;
	uint64_t v = (uint64_t)base_ms << shift;
	return v > max_ms ? max_ms : (uint32_t)v;
}

/* ---- Lists ---- */

static void list_init(struct list *l)
{
	l->head = NONE;
	l->tail = NONE;
	l->count = 0;
}

static void list_push(struct hf_client *c, struct list *l, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	e->prev = l->tail;
	e->next = NONE;
	if (l->tail != NONE)
		c->entries[l->tail].next = idx;
	else
		l->head = idx;
	l->tail = idx;
	l->count++;
	HF_ASSERT(l->count <= c->table_mask + 1);
}

static void list_remove(struct hf_client *c, struct list *l, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(l->count > 0);
	if (e->prev != NONE)
		c->entries[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NONE)
		c->entries[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = NONE;
	e->next = NONE;
	l->count--;
}

/* Takes the entry off whatever list holds it; it is DETACHED afterwards. */
static void entry_unlink(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	switch (e->state) {
	case ENTRY_QUEUED:
	case ENTRY_SENT:
		HF_ASSERT(e->conn != NULL);
		if (e->conn->unsent == idx)
			e->conn->unsent = e->next;
		list_remove(c, &e->conn->list, idx);
		e->conn = NULL;
		break;
	case ENTRY_DELAYED:
		list_remove(c, &c->delayed, idx);
		break;
	case ENTRY_WAIT_MAP:
		list_remove(c, &c->wait_map, idx);
		break;
	case ENTRY_FAILED:
		list_remove(c, &c->failed, idx);
		break;
	case ENTRY_DETACHED:
		break;
	default:
		HF_PANIC("unlinking an entry in state %u", e->state);
	}
	e->state = ENTRY_DETACHED;
}

/* ---- Entries ---- */

static void entry_free(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED && e->conn == NULL);
	if (e->big_index != BIG_NONE) {
		HF_ASSERT(c->big_free_count < HF_CLIENT_BIG_FRAMES_MAX);
		c->big_free[c->big_free_count++] = e->big_index;
		e->big_index = BIG_NONE;
	}
	e->request_id = 0;
	e->state = ENTRY_FREE;
	HF_ASSERT(c->free_count <= c->table_mask);
	c->free_stack[c->free_count++] = idx;
	HF_ASSERT(c->in_flight > 0);
	c->in_flight--;
}

/* Frees a detached entry and hands its outcome to the caller's callback. The entry is free before
 * the callback runs, so the callback may submit again. */
static void entry_deliver(struct hf_client *c, uint32_t idx, int error, const struct hf_reply *rep)
{
	uint64_t tag = c->entries[idx].tag;
	HF_ASSERT(c->in_poll);
	HF_ASSERT((error == 0) == (rep != NULL));
	entry_free(c, idx);
	c->delivered++;
	c->fn(c->fn_arg, tag, error, rep);
}

/* Parks a detached entry on the failed list; hf_client_poll delivers it. */
static void entry_fail(struct hf_client *c, uint32_t idx, int error)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	HF_ASSERT(error < 0);
	e->error = error;
	e->state = ENTRY_FAILED;
	list_push(c, &c->failed, idx);
}

static struct conn *conn_get(struct hf_client *c, uint16_t owner);

/* Appends a detached entry to the queue of the connection that owns it now, with a new deadline. */
static void entry_route(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	uint16_t owner = e->fixed_owner != OWNER_NONE ? e->fixed_owner
						      : c->map.slot_owner[hf_slot_of(e->event_id)];
	HF_ASSERT(owner < c->map.owners_count);
	struct conn *conn = conn_get(c, owner);
	if (conn == NULL) {
		entry_fail(c, idx, -ENOMEM);
		return;
	}
	e->conn = conn;
	e->state = ENTRY_QUEUED;
	e->route_epoch = c->map.epoch;
	e->deadline_ms = c->now_ms + c->opts.timeout_ms;
	list_push(c, &conn->list, idx);
	if (conn->unsent == NONE)
		conn->unsent = idx;
}

static void entry_delay(struct hf_client *c, uint32_t idx, uint32_t wait_ms)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	e->state = ENTRY_DELAYED;
	e->deadline_ms = c->now_ms + wait_ms;
	if (c->delayed.count == 0 || e->deadline_ms < c->delayed_next_ms)
		c->delayed_next_ms = e->deadline_ms;
	list_push(c, &c->delayed, idx);
}

/* One more attempt for a detached entry whose last one failed with error: resend (after wait_ms,
 * or at once), or complete it with error when its retries are spent. */
static void entry_retry(struct hf_client *c, uint32_t idx, int error, uint32_t wait_ms)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(error < 0);
	if (e->attempt >= c->opts.retries_max) {
		entry_fail(c, idx, error);
		return;
	}
	e->attempt++;
	if (wait_ms > 0)
		entry_delay(c, idx, wait_ms);
	else
		entry_route(c, idx);
}

/* ---- Connections ---- */

static struct conn *conn_get(struct hf_client *c, uint16_t owner)
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
	conn->state = CONN_CLOSED;
	conn->owner_index = owner;
	conn->port = c->map.owners[owner].port;
	memcpy(conn->host, c->map.owners[owner].host, sizeof(conn->host));
	list_init(&conn->list);
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

static void conn_close(struct conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	conn->state = CONN_CLOSED;
	conn->send_head = 0;
	conn->send_tail = 0;
	conn->recv_used = 0;
}

static void conn_destroy(struct conn *conn)
{
	HF_ASSERT(conn->list.count == 0);
	conn_close(conn);
	free(conn->send_buf);
	free(conn->recv_buf);
	free(conn);
}

/* Closes the connection and resends (or completes) every request it held, as mode says. */
static void conn_fail(struct hf_client *c, struct conn *conn, int error, enum fail_mode mode)
{
	HF_ASSERT(error < 0);
	conn_close(conn);
	uint32_t idx = conn->list.head;
	uint32_t count = conn->list.count;
	list_init(&conn->list);
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
			entry_retry(c, idx, error,
				    backoff_ms(e->attempt, HF_CLIENT_BACKOFF_CONNECT_MS,
					       HF_CLIENT_BACKOFF_CONNECT_MS_MAX));
			break;
		case FAIL_BROKEN:
			if (was_sent)
				entry_retry(c, idx, error, 0);
			else
				entry_route(c, idx);
			break;
		case FAIL_TIMEOUT:
			if (e->deadline_ms <= c->now_ms)
				entry_retry(c, idx, error, 0);
			else
				entry_route(c, idx);
			break;
		case FAIL_MOVE:
			entry_route(c, idx);
			break;
		}
		idx = next;
	}
	HF_ASSERT(idx == NONE);
}

static void conn_connect(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_CLOSED && conn->fd < 0);
	if (conn->addrs.count == 0) {
		int rc = hf_client_resolve(conn->host, conn->port, &conn->addrs);
		if (rc != 0) {
			conn_fail(c, conn, rc, FAIL_CONNECT);
			return;
		}
	}
	uint32_t a = conn->addr_index % conn->addrs.count;
	int in_progress;
	int fd = hf_client_connect_start(&conn->addrs.addrs[a], conn->addrs.sizes[a], &in_progress);
	if (fd < 0) {
		conn->addr_index++;
		conn_fail(c, conn, fd, FAIL_CONNECT);
		return;
	}
	conn->fd = fd;
	conn->state = in_progress ? CONN_CONNECTING : CONN_OPEN;
	conn->connect_deadline_ms = c->now_ms + c->opts.connect_timeout_ms;
}

/* The connect finished (the socket polled writable or failed). */
static void conn_on_connect(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_CONNECTING);
	int rc = hf_client_connect_finish(conn->fd);
	if (rc != 0) {
		conn->addr_index++;
		conn_fail(c, conn, rc, FAIL_CONNECT);
		return;
	}
	conn->state = CONN_OPEN;
}

/* Copies queued frames into the send buffer (as many as fit) and writes it, a bounded number of
 * times. Opens the connection first when it is closed and has work. */
static void conn_flush(struct hf_client *c, struct conn *conn)
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
			conn_fail(c, conn, -errno, FAIL_BROKEN);
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

static void entry_deliver_reply(struct hf_client *c, uint32_t idx, struct hf_reply *rep)
{
	if (rep == c->call_rep && rep->opcode == HF_OP_AVAIL && rep->status == HF_OK &&
	    rep->avail.count > 0) {
		/* The bitmap points into the receive buffer: the blocking caller gets a copy. */
		if (c->avail_copy == NULL)
			c->avail_copy = malloc(HF_AVAIL_RANGE_MAX / 8u);
		if (c->avail_copy == NULL) {
			entry_deliver(c, idx, -ENOMEM, NULL);
			return;
		}
		size_t n = ((size_t)rep->avail.count + 7u) / 8u;
		HF_ASSERT(n <= HF_AVAIL_RANGE_MAX / 8u);
		memcpy(c->avail_copy, rep->avail.bitmap, n);
		rep->avail.bitmap = c->avail_copy;
	}
	entry_deliver(c, idx, 0, rep);
}

/* One reply frame (header decoded, body complete) from conn. Returns 0, or -EPROTO when the reply
 * does not decode or does not answer its request: the caller then fails the connection (the
 * request, still SENT on it, is resent like the others; docs/protocol.md section 9). */
static int on_reply(struct hf_client *c, struct conn *conn, const struct hf_frame_header *h,
		    const uint8_t *body)
{
	uint32_t idx = (uint32_t)(h->request_id & c->table_mask);
	struct entry *e = &c->entries[idx];
	if (h->request_id == 0 || e->request_id != h->request_id || e->state != ENTRY_SENT ||
	    e->conn != conn)
		return 0; /* an answer to a request that ended or was resent elsewhere: drop it */
	struct hf_reply *rep =
	    (c->call_rep != NULL && h->request_id == c->call_id) ? c->call_rep : c->reply;
	enum hf_status st = hf_reply_decode(h, body, rep);
	if (st != HF_OK || rep->opcode != e->opcode)
		return -EPROTO;
	entry_unlink(c, idx);
	if (e->attempt < c->opts.retries_max) {
		switch (rep->status) {
		case HF_MOVED:
			e->attempt++;
			e->state = ENTRY_WAIT_MAP;
			list_push(c, &c->wait_map, idx);
			if (rep->detail > c->moved_epoch) {
				c->moved_epoch = rep->detail;
				c->moved_owner = conn->owner_index;
			}
			return 0;
		case HF_BUSY:
		case HF_TRY_AGAIN:
			e->attempt++;
			entry_delay(c, idx,
				    backoff_ms(e->attempt, HF_CLIENT_BACKOFF_BUSY_MS,
					       HF_CLIENT_BACKOFF_BUSY_MS_MAX));
			return 0;
		default:
			break;
		}
	}
	entry_deliver_reply(c, idx, rep);
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
			conn_fail(c, conn, -EPROTO, FAIL_BROKEN);
			return;
		}
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		HF_ASSERT(frame_size <= HF_FRAME_SIZE_MAX);
		if (conn->recv_used - off < frame_size) {
			need_size = frame_size;
			break;
		}
		if (on_reply(c, conn, &h, conn->recv_buf + off + HF_FRAME_HEADER_SIZE) != 0) {
			conn_fail(c, conn, -EPROTO, FAIL_BROKEN);
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
			conn_fail(c, conn, -ENOMEM, FAIL_BROKEN);
			return;
		}
		conn->recv_buf = bigger;
		conn->recv_size = HF_CLIENT_RECV_BUFFER_SIZE_MAX;
	}
}

/* Reads what the socket has (a bounded number of reads) and handles every complete frame. */
static void conn_read(struct hf_client *c, struct conn *conn)
{
	HF_ASSERT(conn->state == CONN_OPEN);
	for (uint32_t i = 0; i < HF_CLIENT_READS_PER_PASS_MAX; i++) {
		uint32_t space = conn->recv_size - conn->recv_used;
		HF_ASSERT(space > 0);
		ssize_t n = recv(conn->fd, conn->recv_buf + conn->recv_used, space, MSG_DONTWAIT);
		if (n == 0) {
			conn_fail(c, conn, -ECONNRESET, FAIL_BROKEN);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_fail(c, conn, -errno, FAIL_BROKEN);
			return;
		}
		conn->recv_used += (uint32_t)n;
		conn_parse(c, conn);
		if (conn->state != CONN_OPEN || (uint32_t)n < space)
			return;
	}
}

/* ---- The slot map ---- */

/* Writes or reads exactly size bytes on a non-blocking socket before deadline_ms. */
static int io_full(int fd, uint8_t *buf, size_t size, int writing, uint64_t deadline_ms)
{
	size_t done = 0;
	/* Bounded by the deadline: every pass moves bytes or waits for the time left. */
	while (done < size) {
		ssize_t n = writing ? send(fd, buf + done, size - done, MSG_NOSIGNAL)
				    : recv(fd, buf + done, size - done, 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		uint64_t now_ms = hf_clock_mono_ms();
		if (now_ms >= deadline_ms)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
		int ready = poll(&pfd, 1, (int)(deadline_ms - now_ms));
		if (ready < 0 && errno != EINTR)
			return -errno;
	}
	HF_ASSERT(done == size);
	return 0;
}

/* Fetches the slot map from the shard at addrs into c->scratch->slot_map, on a connection of its
 * own (the pipelined ones may be busy). Returns 0, -EAGAIN for BUSY / TRY_AGAIN, -EPROTO for
 * another answer, or the connection's -errno. */
static int map_fetch(struct hf_client *c, const struct hf_client_addrs *addrs)
{
	int fd = hf_client_connect_timed(addrs, c->opts.connect_timeout_ms);
	if (fd < 0)
		return fd;
	uint64_t deadline_ms = hf_clock_mono_ms() + c->opts.timeout_ms;
	uint64_t request_id = rng_next(&c->rng) | 1u;
	struct hf_request req = {.opcode = HF_OP_SLOT_MAP, .request_id = request_id};
	uint8_t frame[HF_FRAME_HEADER_SIZE];
	size_t frame_size = hf_request_encode(&req, frame, sizeof(frame));
	HF_ASSERT(frame_size == HF_FRAME_HEADER_SIZE);
	int rc = io_full(fd, frame, frame_size, 1, deadline_ms);
	if (rc != 0)
		goto out_close;
	rc = io_full(fd, c->map_frame, HF_FRAME_HEADER_SIZE, 0, deadline_ms);
	if (rc != 0)
		goto out_close;
	struct hf_frame_header h;
	rc = -EPROTO;
	if (hf_frame_header_decode(c->map_frame, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY) ||
	    h.request_id != request_id || h.opcode != HF_OP_SLOT_MAP ||
	    h.body_size > HF_CLIENT_MAP_FRAME_SIZE_MAX - HF_FRAME_HEADER_SIZE)
		goto out_close;
	uint8_t *body = c->map_frame + HF_FRAME_HEADER_SIZE;
	rc = io_full(fd, body, h.body_size, 0, deadline_ms);
	if (rc != 0)
		goto out_close;
	rc = -EPROTO;
	if (hf_reply_decode(&h, body, c->scratch) != HF_OK)
		goto out_close;
	if (c->scratch->status == HF_BUSY || c->scratch->status == HF_TRY_AGAIN)
		rc = -EAGAIN;
	else if (c->scratch->status == HF_OK)
		rc = 0;
out_close:
	close(fd);
	return rc;
}

/* The index of the open address in m, or 0 when it is not there under this name or address. */
static uint16_t map_find_home(const struct hf_client *c, const struct hf_slot_map *m)
{
	for (uint16_t i = 0; i < m->owners_count; i++) {
		const struct hf_slot_owner *o = &m->owners[i];
		if (o->port != c->home_port)
			continue;
		if (strcmp(o->host, c->home_host) == 0)
			return i;
		struct hf_client_addrs addrs;
		if (hf_client_resolve(o->host, o->port, &addrs) != 0)
			continue;
		for (uint32_t a = 0; a < addrs.count; a++) {
			for (uint32_t b = 0; b < c->home_addrs.count; b++) {
				if (hf_client_addr_equal(&addrs.addrs[a], &c->home_addrs.addrs[b]))
					return i;
			}
		}
	}
	return 0;
}

static uint16_t map_find_owner(const struct hf_slot_map *m, const char *host, uint16_t port)
{
	for (uint16_t i = 0; i < m->owners_count; i++) {
		if (m->owners[i].port == port && strcmp(m->owners[i].host, host) == 0)
			return i;
	}
	return OWNER_NONE;
}

/* Adopts map m (newer than ours): keeps the connections of owners that stay, closes the others and
 * resends their requests to the new owners. Requests for a shard that left the map fail with
 * -EHOSTUNREACH. */
static void map_install(struct hf_client *c, const struct hf_slot_map *m)
{
	HF_ASSERT(m->owners_count >= 1 && m->owners_count <= HF_SLOT_OWNERS_MAX);
	if (c->map_loaded && m->epoch <= c->map.epoch)
		return;
	uint16_t remap[HF_SLOT_OWNERS_MAX];
	uint16_t old_count = c->map_loaded ? c->map.owners_count : 0;
	for (uint16_t i = 0; i < old_count; i++)
		remap[i] = map_find_owner(m, c->map.owners[i].host, c->map.owners[i].port);
	/* Requests pinned to one shard follow it, or fail when it left. */
	for (uint32_t idx = 0; idx <= c->table_mask && old_count > 0; idx++) {
		struct entry *e = &c->entries[idx];
		if (e->state == ENTRY_FREE || e->state == ENTRY_FAILED ||
		    e->fixed_owner == OWNER_NONE)
			continue;
		HF_ASSERT(e->fixed_owner < old_count);
		e->fixed_owner = remap[e->fixed_owner];
		if (e->fixed_owner == OWNER_NONE) {
			entry_unlink(c, idx);
			e->fixed_owner = 0;
			entry_fail(c, idx, -EHOSTUNREACH);
		}
	}
	struct conn *old[HF_SLOT_OWNERS_MAX];
	for (uint16_t i = 0; i < old_count; i++) {
		old[i] = c->conns[i];
		c->conns[i] = NULL;
	}
	for (uint16_t i = 0; i < old_count; i++) {
		if (old[i] != NULL && remap[i] != OWNER_NONE) {
			c->conns[remap[i]] = old[i];
			old[i]->owner_index = remap[i];
			old[i] = NULL;
		}
	}
	memcpy(&c->map, m, sizeof(c->map));
	c->map_loaded = 1;
	c->home_owner = map_find_home(c, &c->map);
	/* Only now may resends route: the new map and connection table are in place. */
	for (uint16_t i = 0; i < old_count; i++) {
		if (old[i] == NULL)
			continue;
		conn_fail(c, old[i], -EHOSTUNREACH, FAIL_MOVE);
		conn_destroy(old[i]);
	}
	for (uint16_t i = 0; i < c->map.owners_count; i++)
		HF_ASSERT(c->conns[i] == NULL || c->conns[i]->owner_index == i);
}

/* Fetches the map from `preferred` (an owner index, or OWNER_NONE), else from the open address,
 * else from any owner, and installs it when newer. Returns 0 or the last -errno. */
static int map_refresh(struct hf_client *c, uint16_t preferred)
{
	int rc = -ENXIO;
	uint32_t tries = (uint32_t)c->map.owners_count + 2u;
	for (uint32_t t = 0; t < tries; t++) {
		struct hf_client_addrs addrs;
		const struct hf_client_addrs *use = &addrs;
		if (t == 0) {
			if (preferred == OWNER_NONE || preferred >= c->map.owners_count)
				continue;
			rc = hf_client_resolve(c->map.owners[preferred].host,
					       c->map.owners[preferred].port, &addrs);
		} else if (t == 1) {
			use = &c->home_addrs;
			rc = 0;
		} else {
			uint16_t o = (uint16_t)(t - 2u);
			if (o == preferred)
				continue;
			rc =
			    hf_client_resolve(c->map.owners[o].host, c->map.owners[o].port, &addrs);
		}
		if (rc == 0)
			rc = map_fetch(c, use);
		if (rc == 0) {
			map_install(c, &c->scratch->slot_map);
			return 0;
		}
	}
	HF_ASSERT(rc < 0);
	return rc;
}

/* Resends the requests that got MOVED: after one map refresh per new epoch, to the new owner, or
 * after a backoff when the map did not change (the shard's own map is behind ours). */
static void moved_resend(struct hf_client *c)
{
	if (c->wait_map.count == 0)
		return;
	if (c->moved_epoch > c->map.epoch && c->moved_epoch > c->refreshed_epoch) {
		if (c->now_ms < c->map_retry_at_ms)
			return;
		if (map_refresh(c, c->moved_owner) == 0)
			c->refreshed_epoch = c->moved_epoch;
		else
			c->map_retry_at_ms = hf_clock_mono_ms() + MAP_RETRY_MS;
		c->now_ms = hf_clock_mono_ms();
	}
	uint32_t count = c->wait_map.count;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = c->wait_map.head;
		struct entry *e = &c->entries[idx];
		entry_unlink(c, idx);
		if (e->route_epoch < c->map.epoch)
			entry_route(c, idx);
		else
			entry_delay(c, idx,
				    backoff_ms(e->attempt, HF_CLIENT_BACKOFF_BUSY_MS,
					       HF_CLIENT_BACKOFF_BUSY_MS_MAX));
	}
	HF_ASSERT(c->wait_map.count == 0);
}

/* ---- Poll passes ---- */

static void delayed_resend(struct hf_client *c)
{
	if (c->delayed.count == 0 || c->now_ms < c->delayed_next_ms)
		return;
	uint64_t next_ms = UINT64_MAX;
	uint32_t idx = c->delayed.head;
	uint32_t count = c->delayed.count;
	for (uint32_t i = 0; i < count; i++) {
		struct entry *e = &c->entries[idx];
		uint32_t next = e->next;
		if (e->deadline_ms <= c->now_ms) {
			entry_unlink(c, idx);
			entry_route(c, idx);
		} else if (e->deadline_ms < next_ms) {
			next_ms = e->deadline_ms;
		}
		idx = next;
	}
	c->delayed_next_ms = next_ms;
}

static void failed_deliver(struct hf_client *c)
{
	uint32_t count = c->failed.count;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = c->failed.head;
		int error = c->entries[idx].error;
		entry_unlink(c, idx);
		entry_deliver(c, idx, error, NULL);
	}
}

static void timeouts_check(struct hf_client *c)
{
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		struct conn *conn = c->conns[i];
		if (conn == NULL)
			continue;
		if (conn->state == CONN_CONNECTING && conn->connect_deadline_ms <= c->now_ms) {
			conn->addr_index++;
			conn_fail(c, conn, -ETIMEDOUT, FAIL_CONNECT);
			continue;
		}
		if (conn->list.count > 0 && c->entries[conn->list.head].deadline_ms <= c->now_ms)
			conn_fail(c, conn, -ETIMEDOUT, FAIL_TIMEOUT);
	}
}

static void flush_all(struct hf_client *c)
{
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		if (c->conns[i] != NULL)
			conn_flush(c, c->conns[i]);
	}
}

/* The next moment the engine has something to do without I/O (a timeout, a resend), or `until`. */
static uint64_t next_event_ms(const struct hf_client *c, uint64_t until_ms)
{
	uint64_t next = until_ms;
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		const struct conn *conn = c->conns[i];
		if (conn == NULL)
			continue;
		if (conn->list.count > 0 && c->entries[conn->list.head].deadline_ms < next)
			next = c->entries[conn->list.head].deadline_ms;
		if (conn->state == CONN_CONNECTING && conn->connect_deadline_ms < next)
			next = conn->connect_deadline_ms;
	}
	if (c->delayed.count > 0 && c->delayed_next_ms < next)
		next = c->delayed_next_ms;
	if (c->wait_map.count > 0 && c->map_retry_at_ms < next)
		next = c->map_retry_at_ms;
	return next;
}

static uint32_t pollfds_build(struct hf_client *c)
{
	uint32_t n = 0;
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		struct conn *conn = c->conns[i];
		if (conn == NULL || conn->state == CONN_CLOSED)
			continue;
		short events = POLLOUT;
		if (conn->state == CONN_OPEN)
			events = conn->send_head < conn->send_tail ? (POLLIN | POLLOUT) : POLLIN;
		c->pfds[n] = (struct pollfd){.fd = conn->fd, .events = events};
		c->pfd_conns[n] = conn;
		n++;
	}
	HF_ASSERT(n <= HF_SLOT_OWNERS_MAX);
	return n;
}

static void pollfds_handle(struct hf_client *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct conn *conn = c->pfd_conns[i];
		short rev = c->pfds[i].revents;
		if (rev == 0 || conn->fd != c->pfds[i].fd)
			continue;
		if (conn->state == CONN_CONNECTING) {
			conn_on_connect(c, conn);
			if (conn->state == CONN_OPEN)
				conn_flush(c, conn);
			continue;
		}
		if (rev & (POLLIN | POLLERR | POLLHUP))
			conn_read(c, conn);
		if (conn->state == CONN_OPEN && (rev & POLLOUT))
			conn_flush(c, conn);
	}
}

static int poll_run(struct hf_client *c, int timeout_ms, hf_client_completion_fn fn, void *arg)
{
	HF_ASSERT(!c->in_poll);
	HF_ASSERT(fn != NULL);
	c->in_poll = 1;
	c->fn = fn;
	c->fn_arg = arg;
	c->delivered = 0;
	c->now_ms = hf_clock_mono_ms();
	uint64_t until_ms = timeout_ms < 0 ? UINT64_MAX : c->now_ms + (uint64_t)timeout_ms;
	int rc = 0;
	/* Bounded by until_ms (or by the requests' own deadlines and retries when waiting forever):
	 * every pass either delivers, waits for I/O or time, or ends. */
	for (;;) {
		failed_deliver(c);
		delayed_resend(c);
		moved_resend(c);
		timeouts_check(c);
		flush_all(c);
		failed_deliver(c);
		if (c->delivered > 0 || c->in_flight == 0)
			break;
		uint64_t next_ms = next_event_ms(c, until_ms);
		int wait_ms = -1;
		if (next_ms != UINT64_MAX)
			wait_ms = next_ms <= c->now_ms		  ? 0
				  : next_ms - c->now_ms > INT_MAX ? INT_MAX
								  : (int)(next_ms - c->now_ms);
		uint32_t nfds = pollfds_build(c);
		int ready = poll(c->pfds, nfds, wait_ms);
		c->now_ms = hf_clock_mono_ms();
		if (ready < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (ready > 0)
			pollfds_handle(c, nfds);
		failed_deliver(c);
		if (c->delivered > 0 || c->now_ms >= until_ms)
			break;
	}
	c->in_poll = 0;
	c->fn = NULL;
	c->fn_arg = NULL;
	return rc < 0 ? rc : c->delivered;
}

/* ---- Submitting ---- */

static int request_valid(const struct hf_request *req)
{
	switch (req->opcode) {
	case HF_OP_PING:
	case HF_OP_CREATE_EVENT:
	case HF_OP_EVENT_INFO:
	case HF_OP_EXTEND:
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
	case HF_OP_AVAIL:
	case HF_OP_SLOT_MAP:
	case HF_OP_STATS:
		return 1;
	case HF_OP_HOLD:
		return (req->hold.mode == HF_HOLD_EXPLICIT || req->hold.mode == HF_HOLD_BEST) &&
		       req->hold.seats_count <= HF_HOLD_SEATS_MAX;
	case HF_OP_SEAT_STATUS:
		return req->seat_status.seats_count <= HF_SEAT_STATUS_SEATS_MAX;
	case HF_OP_BACKUP: {
		size_t len = strnlen(req->backup.path, HF_PATH_SIZE_MAX + 1);
		return len >= 1 && len <= HF_PATH_SIZE_MAX;
	}
	default:
		return 0;
	}
}

/* Opcodes that are not about one event go to one chosen shard. */
static int opcode_is_shard_wide(uint8_t opcode)
{
	return opcode == HF_OP_PING || opcode == HF_OP_SLOT_MAP || opcode == HF_OP_STATS ||
	       (opcode >= HF_OP_ADMIN_FIRST && opcode <= HF_OP_ADMIN_LAST);
}

static int submit_entry(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
			uint64_t tag, uint64_t *request_id_out)
{
	if (c->in_flight >= c->opts.pipeline_max)
		return -EAGAIN;
	if (!request_valid(req))
		return -EINVAL;
	HF_ASSERT(c->free_count > 0);
	uint32_t idx = c->free_stack[c->free_count - 1];
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_FREE && e->request_id == 0);
	uint8_t *frame = c->frames + (size_t)idx * HF_CLIENT_FRAME_SLOT_SIZE;
	size_t size = hf_request_encode(req, frame, HF_CLIENT_FRAME_SLOT_SIZE);
	uint8_t big_index = BIG_NONE;
	if (size == 0) {
		if (c->big_free_count == 0)
			return -EAGAIN;
		big_index = c->big_free[--c->big_free_count];
		frame = c->big_frames + (size_t)big_index * HF_CLIENT_REQUEST_FRAME_SIZE_MAX;
		size = hf_request_encode(req, frame, HF_CLIENT_REQUEST_FRAME_SIZE_MAX);
		HF_ASSERT(size > 0);
	}
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE && size <= HF_CLIENT_REQUEST_FRAME_SIZE_MAX);
	c->free_count--;
	c->in_flight++;
	uint64_t request_id = (++c->id_seq << c->table_bits) | idx;
	/* The caller's request_id is ignored: the client's own goes into the header. */
	hf_put_le64(frame + 8, request_id);
	e->request_id = request_id;
	e->tag = tag;
	e->event_id = hf_request_event_id(req);
	e->frame = frame;
	e->frame_size = (uint16_t)size;
	e->big_index = big_index;
	e->fixed_owner = fixed_owner;
	e->attempt = 0;
	e->error = 0;
	e->opcode = req->opcode;
	e->conn = NULL;
	e->prev = NONE;
	e->next = NONE;
	e->state = ENTRY_DETACHED;
	if (!c->in_poll)
		c->now_ms = hf_clock_mono_ms();
	entry_route(c, idx);
	if (request_id_out != NULL)
		*request_id_out = request_id;
	return 0;
}

int hf_client_submit(struct hf_client *client, const struct hf_request *req, uint64_t tag)
{
	uint16_t owner = opcode_is_shard_wide(req->opcode) ? client->home_owner : OWNER_NONE;
	return submit_entry(client, req, owner, tag, NULL);
}

int hf_client_submit_shard(struct hf_client *client, uint16_t owner_index,
			   const struct hf_request *req, uint64_t tag)
{
	if (owner_index >= client->map.owners_count)
		return -EINVAL;
	return submit_entry(client, req, owner_index, tag, NULL);
}

int hf_client_flush(struct hf_client *client)
{
	if (client->in_poll)
		return -EBUSY;
	client->now_ms = hf_clock_mono_ms();
	flush_all(client);
	return 0;
}

int hf_client_poll(struct hf_client *client, int timeout_ms, hf_client_completion_fn fn, void *arg)
{
	if (client->in_poll || fn == NULL)
		return -EINVAL;
	return poll_run(client, timeout_ms, fn, arg);
}

uint32_t hf_client_in_flight(const struct hf_client *client)
{
	return client->in_flight;
}

/* ---- Blocking ---- */

struct call_state {
	int done;
	int error;
};

static void call_on_complete(void *arg, uint64_t tag, int error, const struct hf_reply *reply)
{
	struct call_state *st = arg;
	(void)tag;
	(void)reply;
	HF_ASSERT(!st->done);
	st->done = 1;
	st->error = error;
}

static int call_entry(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
		      struct hf_reply *rep)
{
	if (c->in_poll || c->in_flight != 0)
		return -EBUSY;
	uint64_t request_id;
	int rc = submit_entry(c, req, fixed_owner, 0, &request_id);
	if (rc != 0)
		return rc;
	struct call_state st = {.done = 0, .error = 0};
	c->call_id = request_id;
	c->call_rep = rep;
	/* Ends: the request completes within (retries_max + 1) attempts of bounded length. */
	while (!st.done) {
		rc = poll_run(c, -1, call_on_complete, &st);
		if (rc < 0)
			break;
	}
	c->call_id = 0;
	c->call_rep = NULL;
	if (!st.done) {
		HF_ASSERT(rc < 0);
		return rc;
	}
	HF_ASSERT(c->in_flight == 0);
	return st.error;
}

int hf_client_call(struct hf_client *client, const struct hf_request *req, struct hf_reply *rep)
{
	uint16_t owner = opcode_is_shard_wide(req->opcode) ? client->home_owner : OWNER_NONE;
	return call_entry(client, req, owner, rep);
}

int hf_client_call_shard(struct hf_client *client, uint16_t owner_index,
			 const struct hf_request *req, struct hf_reply *rep)
{
	if (owner_index >= client->map.owners_count)
		return -EINVAL;
	return call_entry(client, req, owner_index, rep);
}

int hf_client_create_event(struct hf_client *client, const struct hf_req_create_event *args,
			   struct hf_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_CREATE_EVENT;
	req.request_id = 0;
	req.create_event = *args;
	return hf_client_call(client, &req, rep);
}

int hf_client_event_info(struct hf_client *client, uint64_t event_id, struct hf_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_EVENT_INFO;
	req.request_id = 0;
	req.event_info.event_id = event_id;
	return hf_client_call(client, &req, rep);
}

static int hold_call(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		     uint64_t user_id, uint32_t ttl_ms, uint8_t mode, const uint32_t *seats,
		     uint32_t seats_count, struct hf_reply *rep)
{
	if (seats_count > HF_HOLD_SEATS_MAX)
		return -EINVAL;
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.request_id = 0;
	req.hold.event_id = event_id;
	req.hold.hold_id = hold_id;
	req.hold.user_id = user_id;
	req.hold.ttl_ms = ttl_ms;
	req.hold.mode = mode;
	req.hold.seats_count = seats_count;
	if (mode == HF_HOLD_EXPLICIT && seats_count > 0)
		memcpy(req.hold.seats, seats, sizeof(seats[0]) * seats_count);
	return hf_client_call(client, &req, rep);
}

int hf_client_hold_seats(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
			 uint64_t user_id, uint32_t ttl_ms, const uint32_t *seats,
			 uint32_t seats_count, struct hf_reply *rep)
{
	return hold_call(client, event_id, hold_id, user_id, ttl_ms, HF_HOLD_EXPLICIT, seats,
			 seats_count, rep);
}

int hf_client_hold_best(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
			uint64_t user_id, uint32_t ttl_ms, uint32_t seats_count,
			struct hf_reply *rep)
{
	return hold_call(client, event_id, hold_id, user_id, ttl_ms, HF_HOLD_BEST, NULL,
			 seats_count, rep);
}

int hf_client_extend(struct hf_client *client, uint64_t event_id, uint64_t hold_id, uint32_t ttl_ms,
		     struct hf_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_EXTEND;
	req.request_id = 0;
	req.extend.event_id = event_id;
	req.extend.hold_id = hold_id;
	req.extend.ttl_ms = ttl_ms;
	return hf_client_call(client, &req, rep);
}

static int hold_ref_call(struct hf_client *client, uint8_t opcode, uint64_t event_id,
			 uint64_t hold_id, struct hf_reply *rep)
{
	struct hf_request req;
	req.opcode = opcode;
	req.request_id = 0;
	/* CONFIRM, RELEASE and CANCEL share struct hf_req_hold_ref at the same place. */
	req.confirm.event_id = event_id;
	req.confirm.hold_id = hold_id;
	return hf_client_call(client, &req, rep);
}

int hf_client_confirm(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		      struct hf_reply *rep)
{
	return hold_ref_call(client, HF_OP_CONFIRM, event_id, hold_id, rep);
}

int hf_client_release(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		      struct hf_reply *rep)
{
	return hold_ref_call(client, HF_OP_RELEASE, event_id, hold_id, rep);
}

int hf_client_cancel(struct hf_client *client, uint64_t event_id, uint64_t booking_id,
		     struct hf_reply *rep)
{
	return hold_ref_call(client, HF_OP_CANCEL, event_id, booking_id, rep);
}

int hf_client_avail(struct hf_client *client, uint64_t event_id, uint32_t first, uint32_t count,
		    struct hf_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_AVAIL;
	req.request_id = 0;
	req.avail.event_id = event_id;
	req.avail.first = first;
	req.avail.count = count;
	return hf_client_call(client, &req, rep);
}

int hf_client_seat_status(struct hf_client *client, uint64_t event_id, const uint32_t *seats,
			  uint32_t seats_count, struct hf_reply *rep)
{
	if (seats_count == 0 || seats_count > HF_SEAT_STATUS_SEATS_MAX)
		return -EINVAL;
	struct hf_request req;
	req.opcode = HF_OP_SEAT_STATUS;
	req.request_id = 0;
	req.seat_status.event_id = event_id;
	req.seat_status.seats_count = seats_count;
	memcpy(req.seat_status.seats, seats, sizeof(seats[0]) * seats_count);
	return hf_client_call(client, &req, rep);
}

uint64_t hf_client_new_id(struct hf_client *client)
{
	uint64_t id = rng_next(&client->rng);
	if (id == 0)
		id = rng_next(&client->rng);
	HF_ASSERT(id != 0);
	return id;
}

/* ---- Open and close ---- */

void hf_client_options_default(struct hf_client_options *opts)
{
	opts->timeout_ms = 2000;
	opts->retries_max = 5;
	opts->pipeline_max = 1024;
	opts->connect_timeout_ms = 2000;
}

static int options_valid(const struct hf_client_options *o)
{
	return o->timeout_ms >= 1 && o->timeout_ms <= INT_MAX && o->connect_timeout_ms >= 1 &&
	       o->connect_timeout_ms <= INT_MAX && o->pipeline_max >= 1 &&
	       o->pipeline_max <= HF_CLIENT_PIPELINE_MAX && o->retries_max <= HF_CLIENT_RETRIES_MAX;
}

static uint64_t seed_random(const struct hf_client *c)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		/* No entropy source: mix what differs between processes and clients. */
		seed = hf_clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
		seed ^= hf_clock_wall_ms() * 0x9e3779b97f4a7c15ull;
	}
	return seed;
}

static int tables_create(struct hf_client *c)
{
	uint32_t size = 1;
	uint32_t bits = 0;
	while (size < c->opts.pipeline_max) {
		size <<= 1;
		bits++;
	}
	HF_ASSERT(size >= c->opts.pipeline_max && size <= HF_CLIENT_PIPELINE_MAX);
	c->table_mask = size - 1;
	c->table_bits = bits;
	c->entries = calloc(size, sizeof(*c->entries));
	c->frames = malloc((size_t)size * HF_CLIENT_FRAME_SLOT_SIZE);
	c->free_stack = malloc((size_t)size * sizeof(*c->free_stack));
	c->big_frames = malloc((size_t)HF_CLIENT_BIG_FRAMES_MAX * HF_CLIENT_REQUEST_FRAME_SIZE_MAX);
	c->reply = malloc(sizeof(*c->reply));
	c->scratch = malloc(sizeof(*c->scratch));
	c->map_frame = malloc(HF_CLIENT_MAP_FRAME_SIZE_MAX);
	if (!c->entries || !c->frames || !c->free_stack || !c->big_frames || !c->reply ||
	    !c->scratch || !c->map_frame)
		return -ENOMEM;
	/* Pop order: index 0 first. */
	for (uint32_t i = 0; i < size; i++) {
		c->free_stack[i] = size - 1 - i;
		c->entries[i].state = ENTRY_FREE;
		c->entries[i].big_index = BIG_NONE;
		c->entries[i].prev = NONE;
		c->entries[i].next = NONE;
	}
	c->free_count = size;
	for (uint32_t i = 0; i < HF_CLIENT_BIG_FRAMES_MAX; i++)
		c->big_free[i] = (uint8_t)i;
	c->big_free_count = HF_CLIENT_BIG_FRAMES_MAX;
	return 0;
}

int hf_client_open(const char *host_port, const struct hf_client_options *opts,
		   struct hf_client **out)
{
	struct hf_client_options o;
	if (opts != NULL)
		o = *opts;
	else
		hf_client_options_default(&o);
	if (!options_valid(&o))
		return -EINVAL;
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port;
	if (hf_client_parse_addr(host_port, host, &port) != 0)
		return -EINVAL;

	struct hf_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->opts = o;
	memcpy(c->home_host, host, sizeof(c->home_host));
	c->home_port = port;
	list_init(&c->delayed);
	list_init(&c->wait_map);
	list_init(&c->failed);
	c->rng = seed_random(c);
	int rc = tables_create(c);
	if (rc != 0)
		goto err_close;
	rc = hf_client_resolve(host, port, &c->home_addrs);
	if (rc != 0)
		goto err_close;
	/* A busy or slow shard may answer on a later try; a refused connect will not. */
	for (uint32_t attempt = 0; attempt <= o.retries_max; attempt++) {
		rc = map_fetch(c, &c->home_addrs);
		if (rc != -EAGAIN && rc != -ETIMEDOUT)
			break;
	}
	if (rc != 0)
		goto err_close;
	map_install(c, &c->scratch->slot_map);
	HF_ASSERT(c->map_loaded && c->home_owner < c->map.owners_count);
	*out = c;
	return 0;

err_close:
	hf_client_close(c);
	HF_ASSERT(rc < 0);
	return rc;
}

void hf_client_close(struct hf_client *client)
{
	if (client == NULL)
		return;
	HF_ASSERT(!client->in_poll);
	for (uint32_t i = 0; i < HF_SLOT_OWNERS_MAX; i++) {
		struct conn *conn = client->conns[i];
		if (conn == NULL)
			continue;
		/* Requests still in flight are dropped without a callback. */
		list_init(&conn->list);
		conn_destroy(conn);
	}
	free(client->entries);
	free(client->frames);
	free(client->free_stack);
	free(client->big_frames);
	free(client->reply);
	free(client->scratch);
	free(client->map_frame);
	free(client->avail_copy);
	free(client);
}

const struct hf_slot_map *hf_client_slot_map(const struct hf_client *client)
{
	return &client->map;
}

int hf_client_map_force(struct hf_client *client, const struct hf_slot_map *m)
{
	if (client->in_poll)
		return -EBUSY;
	client->now_ms = hf_clock_mono_ms();
	/* Installing over an unloaded map accepts any epoch; the old owners are remapped first. */
	struct hf_slot_map *copy = &client->scratch->slot_map;
	memcpy(copy, m, sizeof(*copy));
	uint64_t epoch = copy->epoch;
	copy->epoch = client->map.epoch + 1;
	map_install(client, copy);
	client->map.epoch = epoch;
	client->refreshed_epoch = 0;
	client->moved_epoch = 0;
	return 0;
}

int hf_client_refresh_map(struct hf_client *client)
{
	if (client->in_poll)
		return -EBUSY;
	client->now_ms = hf_clock_mono_ms();
	return map_refresh(client, OWNER_NONE);
}
