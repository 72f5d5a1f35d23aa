/* WATCH on a shard (engine/watch.h): the watcher table, the per-event change sequences, and the
 * pushes of each durable batch's seat changes.
 *
 * INVARIANTS
 *  1. A used watcher is on exactly one event's list, the event of its event_id, and that event's
 *     watchers_count counts its list; an event is in the table iff watchers_count > 0.
 *  2. conn_watcher[i] names the watcher of connection slot i, or 0; the watcher's gen tells
 *     whether the slot still holds that connection (a slot freed and reused makes it stale; stale
 *     watchers are dropped when met, and swept when the table is full).
 *  3. A push leaves only from hf_watch_on_durable, for a batch <= done_seq: every change frame
 *     shows durable state (the connection's own held replies keep their place in front of it).
 *  4. Sequences: each event's seq grows by one per change pushed; a watcher sees consecutive seqs
 *     except across a GAP frame, which names the seq of the next change frame.
 *  5. A watcher's unsent change bytes (its connection's fill) stay under watch_queue_size_max plus
 *     one frame: past it they are dropped and a GAP is queued instead.
 *
 * STATES of a watcher: FREE --WATCH (watch_add)--> USED --UNWATCH, connection gone, or
 * (watch_remove)--> FREE. */
#include "engine/watch.h"

#include "base/assert.h"
#include "base/endian.h"
#include "base/log.h"
#include "proto/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE 0u

struct watcher {
	uint64_t event_id; /* 0 when FREE */
	uint64_t request_id;
	uint32_t conn; /* connection slot */
	uint32_t gen;  /* its generation at WATCH */
	uint32_t next; /* index + 1 of the next watcher of the event, or NONE */
};

struct watch_event {
	uint64_t event_id; /* 0: empty table slot */
	uint64_t seq;	   /* the last change pushed */
	uint32_t watchers_count;
	uint32_t first; /* index + 1 of its first watcher */
};

/* The changes of one batch that EXTEND wrote (their HELD record is an extension). */
struct batch_marks {
	uint64_t seq;
	uint32_t count;
	uint32_t *index; /* HF_SHARD_CHANGES_MAX change indexes */
};

struct hf_watch {
	uint32_t watchers_max;
	uint32_t watchers_count;
	struct watcher *w;
	uint32_t free_head;	   /* index + 1 */
	struct watch_event *table; /* open addressing, linear probing, table_mask + 1 slots */
	uint32_t table_mask;
	uint32_t *conn_watcher; /* conns_max entries, index + 1 */
	struct batch_marks marks[HF_SHARD_BATCHES_MAX];
	uint8_t frame[HF_WATCH_CHANGE_FRAME_SIZE_MAX];
	uint64_t pushes;
	uint64_t gaps;
	uint64_t refused_busy;
	uint64_t dropped_closed;
};

HF_STATIC_ASSERT(HF_ENGINE_WATCH_QUEUE_MIN >= 4u * HF_WATCH_CHANGE_FRAME_SIZE_MAX,
		 "a GAP and a change always fit a dropped queue");

int hf_watch_create(struct hf_shard *s)
{
	struct hf_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	s->watch = w;
	w->watchers_max = s->cfg->watchers_max;
	uint32_t slots = 16;
	while (slots < 2u * w->watchers_max)
		slots *= 2u;
	w->table_mask = slots - 1u;
	w->w = calloc(w->watchers_max + 1u, sizeof(*w->w));
	w->table = calloc(slots, sizeof(*w->table));
	w->conn_watcher = calloc(s->conns_max, sizeof(*w->conn_watcher));
	int failed = w->w == NULL || w->table == NULL || w->conn_watcher == NULL;
	for (uint32_t i = 0; i < HF_SHARD_BATCHES_MAX && !failed; i++) {
		w->marks[i].index = calloc(HF_SHARD_CHANGES_MAX, sizeof(uint32_t));
		failed = w->marks[i].index == NULL;
	}
	if (failed)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->watchers_max; i++)
		w->w[i].next = i + 1u < w->watchers_max ? i + 2u : NONE;
	w->free_head = w->watchers_max > 0 ? 1u : NONE;
	return 0;
}

void hf_watch_destroy(struct hf_shard *s)
{
	struct hf_watch *w = s->watch;
	if (w == NULL)
		return;
	for (uint32_t i = 0; i < HF_SHARD_BATCHES_MAX; i++)
		free(w->marks[i].index);
	free(w->conn_watcher);
	free(w->table);
	free(w->w);
	free(w);
	s->watch = NULL;
}

/* ---- The event table ---- */

static uint32_t table_home(const struct hf_watch *w, uint64_t event_id)
{
	return (uint32_t)hf_hash64(event_id) & w->table_mask;
}

static struct watch_event *event_find(struct hf_watch *w, uint64_t event_id)
{
	HF_ASSERT(event_id != 0);
	uint32_t i = table_home(w, event_id);
	/* Bounded: the table is at most half full, so an empty slot comes within its size. */
	for (uint32_t n = 0; n <= w->table_mask; n++, i = (i + 1u) & w->table_mask) {
		if (w->table[i].event_id == event_id)
			return &w->table[i];
		if (w->table[i].event_id == 0)
			return NULL;
	}
	return NULL;
}

static struct watch_event *event_insert(struct hf_watch *w, uint64_t event_id)
{
	uint32_t i = table_home(w, event_id);
	for (uint32_t n = 0; n <= w->table_mask; n++, i = (i + 1u) & w->table_mask) {
		struct watch_event *e = &w->table[i];
		HF_ASSERT(e->event_id != event_id);
		if (e->event_id == 0) {
			memset(e, 0, sizeof(*e));
			e->event_id = event_id;
			return e;
		}
	}
	HF_PANIC("watch table full: %u watchers in %u slots", w->watchers_count,
		 w->table_mask + 1u);
}

/* Deletes e with backward shift, so lookups never need tombstones. */
static void event_delete(struct hf_watch *w, struct watch_event *e)
{
	HF_ASSERT(e->watchers_count == 0);
	uint32_t hole = (uint32_t)(e - w->table);
	uint32_t i = hole;
	for (uint32_t n = 0; n <= w->table_mask; n++) {
		i = (i + 1u) & w->table_mask;
		struct watch_event *next = &w->table[i];
		if (next->event_id == 0)
			break;
		uint32_t home = table_home(w, next->event_id);
		/* next may fill the hole when its home is not cyclically within (hole, i]. */
		if (((i - home) & w->table_mask) >= ((i - hole) & w->table_mask)) {
			w->table[hole] = *next;
			hole = i;
		}
	}
	memset(&w->table[hole], 0, sizeof(w->table[hole]));
}

/* ---- Watchers ---- */

static uint32_t watcher_index(const struct hf_watch *w, const struct watcher *x)
{
	HF_ASSERT(x >= w->w && x < w->w + w->watchers_max);
	return (uint32_t)(x - w->w);
}

static void watch_remove(struct hf_shard *s, struct watcher *x)
{
	struct hf_watch *w = s->watch;
	HF_ASSERT(x->event_id != 0);
	uint32_t idx = watcher_index(w, x);
	struct watch_event *e = event_find(w, x->event_id);
	HF_ASSERT(e != NULL);
	HF_ASSERT(e->watchers_count > 0);
	uint32_t *link = &e->first;
	/* Bounded by the event's list (INVARIANTS 1). */
	for (uint32_t n = 0; *link != idx + 1u; n++) {
		HF_ASSERT(n < e->watchers_count);
		link = &w->w[*link - 1u].next;
	}
	*link = x->next;
	e->watchers_count--;
	if (e->watchers_count == 0)
		event_delete(w, e);
	if (w->conn_watcher[x->conn] == idx + 1u)
		w->conn_watcher[x->conn] = NONE;
	memset(x, 0, sizeof(*x));
	x->next = w->free_head;
	w->free_head = idx + 1u;
	HF_ASSERT(w->watchers_count > 0);
	w->watchers_count--;
}

/* 1 when x's connection is still the one that watched, and takes pushes (a doomed one only
 * finishes sending what it has). */
static int watcher_live(const struct hf_shard *s, const struct watcher *x)
{
	const struct hf_conn *c = &s->conns[x->conn];
	return c->state == HF_CONN_OPEN && c->gen == x->gen && !c->doomed;
}

/* The watcher of connection c, or NULL (a stale one is dropped on the way). */
static struct watcher *conn_watcher(struct hf_shard *s, const struct hf_conn *c)
{
	struct hf_watch *w = s->watch;
	uint32_t ci = (uint32_t)(c - s->conns);
	uint32_t idx = w->conn_watcher[ci];
	if (idx == NONE)
		return NULL;
	struct watcher *x = &w->w[idx - 1u];
	if (x->gen == c->gen && x->conn == ci)
		return x;
	watch_remove(s, x);
	return NULL;
}

/* Drops every watcher whose connection is gone (cold: the table was full). */
static void watch_sweep(struct hf_shard *s)
{
	struct hf_watch *w = s->watch;
	for (uint32_t i = 0; i < w->watchers_max; i++) {
		if (w->w[i].event_id != 0 && !watcher_live(s, &w->w[i])) {
			w->dropped_closed++;
			watch_remove(s, &w->w[i]);
		}
	}
}

static struct watcher *watch_add(struct hf_shard *s, struct hf_conn *c, uint64_t event_id,
				 uint64_t request_id)
{
	struct hf_watch *w = s->watch;
	if (w->free_head == NONE && w->watchers_max > 0)
		watch_sweep(s);
	if (w->free_head == NONE)
		return NULL;
	uint32_t idx = w->free_head - 1u;
	struct watcher *x = &w->w[idx];
	HF_ASSERT(x->event_id == 0);
	w->free_head = x->next;
	struct watch_event *e = event_find(w, event_id);
	if (e == NULL)
		e = event_insert(w, event_id);
	x->event_id = event_id;
	x->request_id = request_id;
	x->conn = (uint32_t)(c - s->conns);
	x->gen = c->gen;
	x->next = e->first;
	e->first = idx + 1u;
	e->watchers_count++;
	w->conn_watcher[x->conn] = idx + 1u;
	w->watchers_count++;
	HF_ASSERT(w->watchers_count <= w->watchers_max);
	return x;
}

/* ---- Requests ---- */

static void answer_error(struct hf_shard *s, const struct hf_frame_header *h, uint16_t status,
			 uint64_t detail, struct hf_ops_result *out)
{
	hf_ops_error(s, h->opcode, h->request_id, status, detail, out);
}

/* The existence and routing checks of WATCH are EVENT_INFO's: ops.c answers one for it. */
static int watch_check_event(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *h,
			     const uint8_t *body, struct hf_ops_result *out)
{
	struct hf_frame_header info = *h;
	info.opcode = HF_OP_EVENT_INFO;
	hf_ops_handle(s, c->role, &info, body, out);
	if (out->kind == HF_OPS_POSTPONE)
		return 0;
	/* Counted as the WATCH it is. */
	s->c.ops[HF_OP_EVENT_INFO]--;
	s->c.ops[HF_OP_WATCH]++;
	HF_ASSERT(out->kind == HF_OPS_REPLY);
	if (s->rep.status == HF_OK)
		return 1;
	s->rep.opcode = HF_OP_WATCH;
	return 0;
}

static void on_watch(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *h,
		     const uint8_t *body, struct hf_ops_result *out)
{
	struct hf_watch *w = s->watch;
	uint64_t event_id = s->req.watch.event_id;
	struct watcher *x = conn_watcher(s, c);
	if (x != NULL && x->event_id != event_id) {
		answer_error(s, h, HF_WATCHING, x->event_id, out);
		return;
	}
	if (!watch_check_event(s, c, h, body, out))
		return;
	uint64_t wait_seq = out->wait_seq;
	if (x == NULL)
		x = watch_add(s, c, event_id, h->request_id);
	if (x == NULL) {
		w->refused_busy++;
		answer_error(s, h, HF_BUSY, 0, out);
		return;
	}
	/* WATCH again on the same event: the pushes take the new request id. */
	x->request_id = h->request_id;
	struct watch_event *e = event_find(w, event_id);
	HF_ASSERT(e != NULL);
	s->rep.opcode = HF_OP_WATCH;
	s->rep.status = HF_OK;
	s->rep.request_id = h->request_id;
	s->rep.watch.seq = e->seq;
	out->kind = HF_OPS_REPLY;
	out->wait_seq = wait_seq;
}

static void on_unwatch(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *h,
		       struct hf_ops_result *out)
{
	struct watcher *x = conn_watcher(s, c);
	if (x != NULL && x->event_id == s->req.unwatch.event_id)
		watch_remove(s, x);
	s->c.ops[HF_OP_UNWATCH]++;
	s->rep.opcode = HF_OP_UNWATCH;
	s->rep.status = HF_OK;
	s->rep.request_id = h->request_id;
	out->kind = HF_OPS_REPLY;
}

int hf_watch_intercept(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *h,
		       const uint8_t *body, struct hf_ops_result *out)
{
	struct hf_watch *w = s->watch;
	uint32_t ci = (uint32_t)(c - s->conns);
	int watching = w->conn_watcher[ci] != NONE;
	if (h->opcode != HF_OP_WATCH && h->opcode != HF_OP_UNWATCH && !watching)
		return 0;
	if (c->role == HF_ROLE_NONE)
		return 0; /* ops.c answers UNAUTHORIZED */
	out->kind = HF_OPS_REPLY;
	out->backup = 0;
	out->set_role = 0;
	out->doom = 0;
	out->wait_seq = 0;
	if (h->opcode != HF_OP_WATCH && h->opcode != HF_OP_UNWATCH) {
		const struct hf_op_info *op = hf_op_info(h->opcode);
		struct watcher *x = conn_watcher(s, c);
		if (x == NULL || op == NULL || (!op->writes && !op->admin))
			return 0;
		answer_error(s, h, HF_WATCHING, x->event_id, out);
		return 1;
	}
	enum hf_status st = hf_request_decode(h, body, &s->req);
	if (st != HF_OK) {
		answer_error(s, h, st, 0, out);
		return 1;
	}
	if (h->opcode == HF_OP_WATCH)
		on_watch(s, c, h, body, out);
	else
		on_unwatch(s, c, h, out);
	return 1;
}

void hf_watch_note_extend(struct hf_shard *s, const struct hf_batch *b, uint32_t changes_before,
			  uint64_t hold_id)
{
	struct hf_watch *w = s->watch;
	if (w->watchers_count == 0)
		return;
	struct batch_marks *m = &w->marks[b->seq % HF_SHARD_BATCHES_MAX];
	if (m->seq != b->seq) {
		m->seq = b->seq;
		m->count = 0;
	}
	HF_ASSERT(changes_before <= b->changes.count);
	for (uint32_t i = changes_before; i < b->changes.count; i++) {
		const struct hf_change *c = &b->changes.items[i];
		if (hf_store_change_event_id(c) == 0 || hf_get_be64(c->key + 9) != hold_id)
			continue;
		HF_ASSERT(m->count < HF_SHARD_CHANGES_MAX);
		m->index[m->count++] = i;
	}
}

/* ---- Pushes ---- */

/* Queues the frame at w->frame (size bytes, request id patched per watcher) for watcher x, or a
 * GAP first when its queue is past the bound (INVARIANTS 5). 0, or -1 when x was dropped. */
static int push_one(struct hf_shard *s, struct watcher *x, uint32_t size, uint64_t seq)
{
	struct hf_watch *w = s->watch;
	if (!watcher_live(s, x)) {
		w->dropped_closed++;
		watch_remove(s, x);
		return -1;
	}
	struct hf_conn *c = &s->conns[x->conn];
	hf_put_le64(w->frame + HF_FRAME_REQUEST_ID_OFFSET, x->request_id);
	int is_gap = w->frame[HF_FRAME_HEADER_SIZE + 16u] == HF_WATCH_GAP;
	if ((uint64_t)c->fill.size + size > s->cfg->watch_queue_size_max) {
		/* Behind: what it has not been handed yet goes, and a GAP says where it resumes
		 * (a GAP frame being pushed says it itself). */
		hf_conn_drop_pushes(s, c);
		if (!is_gap) {
			struct hf_watch_change gap = {
			    .event_id = x->event_id, .seq = seq, .kind = HF_WATCH_GAP};
			uint8_t frame[HF_FRAME_HEADER_SIZE + HF_WATCH_CHANGE_FIXED_SIZE];
			size_t n =
			    hf_watch_change_encode(&gap, x->request_id, frame, sizeof(frame));
			HF_ASSERT(n == sizeof(frame));
			w->gaps++;
			if (hf_conn_push(s, c, frame, (uint32_t)n) != 0)
				goto err_close;
		}
	}
	if (hf_conn_push(s, c, w->frame, size) != 0)
		goto err_close;
	w->pushes++;
	return 0;
err_close:
	hf_log_warn("connection %u: no buffer for a watch push: closing it", x->conn);
	hf_conn_close(s, c, "watch buffer");
	watch_remove(s, x);
	return -1;
}

/* Pushes the change at w->frame to every watcher of e. */
static void push_event(struct hf_shard *s, struct watch_event *e, uint32_t size, uint64_t seq)
{
	struct hf_watch *w = s->watch;
	uint32_t next = e->first;
	uint64_t event_id = e->event_id;
	/* Bounded by the event's list; a removal may move e in the table, so the walk keeps the
	 * next index, not e. */
	for (uint32_t n = 0; next != NONE && n < w->watchers_max; n++) {
		struct watcher *x = &w->w[next - 1u];
		HF_ASSERT(x->event_id == event_id);
		next = x->next;
		(void)push_one(s, x, size, seq);
	}
}

/* 1 when change `index` of b is an EXTEND's. Marks are appended in change order and asked for in
 * change order, so *cursor walks them once per batch: O(changes + marks). */
static int is_marked(const struct hf_watch *w, const struct hf_batch *b, uint32_t index,
		     uint32_t *cursor)
{
	const struct batch_marks *m = &w->marks[b->seq % HF_SHARD_BATCHES_MAX];
	if (m->seq != b->seq)
		return 0;
	while (*cursor < m->count && m->index[*cursor] < index)
		(*cursor)++;
	return *cursor < m->count && m->index[*cursor] == index;
}

/* The frame of one hold record change into w->frame; returns its size. */
static uint32_t change_frame(struct hf_watch *w, const struct hf_store_hold_change *hc,
			     int extended, uint64_t seq)
{
	static struct hf_watch_change wc;
	static const uint8_t kinds[] = {
	    [HF_STORE_HOLD_HELD] = HF_WATCH_HELD,
	    [HF_STORE_HOLD_BOOKED] = HF_WATCH_BOOKED,
	    [HF_STORE_HOLD_EXPIRED] = HF_WATCH_EXPIRED,
	    [HF_STORE_HOLD_RELEASED] = HF_WATCH_RELEASED,
	    [HF_STORE_HOLD_CANCELLED] = HF_WATCH_CANCELLED,
	};
	HF_ASSERT(hc->state >= HF_STORE_HOLD_HELD);
	HF_ASSERT(hc->state <= HF_STORE_HOLD_CANCELLED);
	wc.event_id = hc->event_id;
	wc.seq = seq;
	wc.kind =
	    extended && hc->state == HF_STORE_HOLD_HELD ? HF_WATCH_EXTENDED : kinds[hc->state];
	wc.state = hc->state == HF_STORE_HOLD_HELD     ? HF_SEAT_HELD
		   : hc->state == HF_STORE_HOLD_BOOKED ? HF_SEAT_BOOKED
						       : HF_SEAT_FREE;
	wc.seats_count = hc->seats_count;
	wc.hold_id = hc->hold_id;
	wc.user_id = hc->user_id;
	wc.deadline_ms = hc->state == HF_STORE_HOLD_HELD ? hc->deadline_ms : 0;
	memcpy(wc.seats, hc->seats, sizeof(wc.seats[0]) * hc->seats_count);
	size_t n = hf_watch_change_encode(&wc, 0, w->frame, sizeof(w->frame));
	HF_ASSERT(n >= HF_FRAME_HEADER_SIZE + HF_WATCH_CHANGE_FIXED_SIZE);
	return (uint32_t)n;
}

void hf_watch_on_durable(struct hf_shard *s, const struct hf_batch *b)
{
	struct hf_watch *w = s->watch;
	HF_ASSERT(b->seq <= s->done_seq);
	if (w->watchers_count == 0)
		return;
	static struct hf_store_hold_change hc;
	uint32_t cursor = 0;
	for (uint32_t i = 0; i < b->changes.count && w->watchers_count > 0; i++) {
		const struct hf_change *c = &b->changes.items[i];
		uint64_t event_id = hf_store_change_event_id(c);
		if (event_id == 0)
			continue;
		struct watch_event *e = event_find(w, event_id);
		if (e == NULL)
			continue;
		int rc = hf_store_change_hold(&b->changes, c, &hc);
		HF_ASSERT(rc == 0);
		uint64_t seq = ++e->seq;
		uint32_t size = change_frame(w, &hc, is_marked(w, b, i, &cursor), seq);
		push_event(s, e, size, seq);
	}
}

void hf_watch_on_failed(struct hf_shard *s)
{
	struct hf_watch *w = s->watch;
	if (w->watchers_count == 0)
		return;
	for (uint32_t i = 0; i < w->watchers_max; i++) {
		struct watcher *x = &w->w[i];
		if (x->event_id == 0)
			continue;
		struct watch_event *e = event_find(w, x->event_id);
		HF_ASSERT(e != NULL);
		struct hf_watch_change gap = {
		    .event_id = x->event_id, .seq = e->seq + 1u, .kind = HF_WATCH_GAP};
		size_t n = hf_watch_change_encode(&gap, 0, w->frame, sizeof(w->frame));
		HF_ASSERT(n > 0);
		w->gaps++;
		(void)push_one(s, x, (uint32_t)n, gap.seq);
	}
}

int hf_watch_is_watching(struct hf_shard *s, const struct hf_conn *c)
{
	uint32_t ci = (uint32_t)(c - s->conns);
	HF_ASSERT(ci < s->conns_max);
	uint32_t idx = s->watch->conn_watcher[ci];
	return idx != NONE && s->watch->w[idx - 1u].gen == c->gen;
}

void hf_watch_stats(const struct hf_shard *s, struct hf_rep_stats *st)
{
	const struct hf_watch *w = s->watch;
	/* Cold path: only the watchers whose connection is still open count. */
	uint32_t live = 0;
	for (uint32_t i = 0; i < w->watchers_max; i++)
		live += w->w[i].event_id != 0 && watcher_live(s, &w->w[i]);
	(void)hf_stats_add(st, "watchers", live);
	(void)hf_stats_add(st, "watchers_max", w->watchers_max);
	(void)hf_stats_add(st, "watch_pushes", w->pushes);
	(void)hf_stats_add(st, "watch_gaps", w->gaps);
	(void)hf_stats_add(st, "watch_refused_busy", w->refused_busy);
	(void)hf_stats_add(st, "watch_dropped_closed", w->dropped_closed);
}
