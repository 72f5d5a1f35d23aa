/* Connections of one shard: framing of the input stream, the reply buffers, send, backpressure and
 * close. The request path through this file is: a recv completion (a provided buffer) -> frames
 * parsed straight out of that buffer (only a partial or postponed tail is copied into the stash) ->
 * ops.c answers each frame, conn.c appends the reply to `fill`, held behind the batch it depends on
 * -> at the end of the iteration hf_conn_settle moves the replies that may leave (fill_ready) into
 * `out` and sends them with one SQE. Held replies leave when shard.c reports their batch durable
 * (hf_conn_release), or become IO errors when it failed (hf_conn_fail_held).
 *
 * INVARIANTS
 *  1. A slot is FREE, OPEN or CLOSING; only hf_conn_settle frees a slot, and only when neither a
 * recv nor a send is in the kernel (so no completion can name a freed buffer or a reused slot).
 *  2. `out` is never written or reallocated while send_inflight; `fill` is never in the kernel.
 *  3. Replies leave in request order: fill is appended in order and is sent only once out is empty.
 *  4. Every reply handed to the kernel depends only on durable state: a reply that waits for batch
 *     N is appended inside a segment of seq >= N, and only segments with seq <= done_seq move into
 *     fill_ready. Segment seqs strictly increase along fill, so order is kept (INVARIANTS 3).
 *     A pushed frame (hf_conn_push, WATCH) shows durable state already: it joins fill_ready, or
 *     the last segment when replies before it still wait.
 *  5. Input is processed only while the connection's queued replies are below the per-connection
 *     bound and its frames this iteration are below HF_SHARD_CONN_FRAMES_PER_ITER_MAX; otherwise it
 *     waits in the stash and reading stops once the stash holds HF_CONN_STASH_STOP_SIZE bytes, so
 *     a peer that never reads costs at most the queued bound + one reply + HF_CONN_STASH_SIZE_MAX.
 *  6. stash_off <= stash.size <= stash.cap <= HF_CONN_STASH_SIZE_MAX; out_off <= out.size;
 *     fill_ready <= every segment end <= fill.size; segs_count > 0 iff the slot is on the held list
 *     with held replies (on_held may stay set for a while after, like the other list flags). */
#include "engine/shard_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"
#include "engine/watch.h"
#include "proto/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t conn_index(const struct hf_shard *s, const struct hf_conn *c)
{
	HF_ASSERT(c >= s->conns && c < s->conns + s->conns_max);
	return (uint32_t)(c - s->conns);
}

/* The most `fill` may hold: the queued bound is checked before each frame, and one reply is at most
 * a frame; rewriting a failed batch may grow replies by a third, hence the factor 2. */
static uint64_t fill_cap_max(const struct hf_shard *s)
{
	return 2u * ((uint64_t)s->cfg->conn_buffer_size_max + HF_FRAME_SIZE_MAX);
}

/* Grows b to hold cap_needed bytes with a buffer from the shard's pool (no malloc on the request
 * path). Returns 0, or -ENOBUFS past cap_max or when the pool has no buffer that fits. */
static int bytes_reserve(struct hf_shard *s, struct hf_bytes *b, uint64_t cap_needed,
			 uint64_t cap_max)
{
	HF_ASSERT(b->size <= b->cap);
	if (cap_needed <= b->cap)
		return 0;
	if (cap_needed > cap_max)
		return -ENOBUFS;
	uint32_t cap = 0;
	uint8_t *data = hf_pool_get(&s->pool, cap_needed, &cap);
	if (data == NULL)
		return -ENOBUFS;
	HF_ASSERT(cap >= cap_needed);
	if (b->size > 0)
		memcpy(data, b->data, b->size);
	if (b->data != NULL)
		s->pool_puts++;
	hf_pool_put(&s->pool, b->data, b->cap);
	b->data = data;
	b->cap = cap;
	return 0;
}

static void bytes_free(struct hf_shard *s, struct hf_bytes *b)
{
	if (b->data != NULL)
		s->pool_puts++;
	hf_pool_put(&s->pool, b->data, b->cap);
	memset(b, 0, sizeof(*b));
}

/* An empty buffer larger than the smallest class goes back to the pool (a big reply or frame
 * passed): idle connections then hold only small buffers. */
static void bytes_shrink_if_empty(struct hf_shard *s, struct hf_bytes *b)
{
	if (b->size == 0 && b->cap > HF_POOL_BUF_SIZE_MIN)
		bytes_free(s, b);
}

/* Cold path (rewriting a failed batch): the shard's scratch buffer, from malloc. */
static int scratch_reserve(struct hf_bytes *b, uint32_t cap_needed)
{
	if (cap_needed <= b->cap)
		return 0;
	uint8_t *data = realloc(b->data, cap_needed);
	if (data == NULL)
		return -ENOMEM;
	b->data = data;
	b->cap = cap_needed;
	return 0;
}

void hf_conn_free_buffers(struct hf_shard *s, struct hf_conn *c)
{
	HF_ASSERT(!c->send_inflight);
	bytes_free(s, &c->stash);
	bytes_free(s, &c->fill);
	bytes_free(s, &c->out);
	c->stash_off = 0;
	c->out_off = 0;
}

void hf_conn_touch(struct hf_shard *s, struct hf_conn *c)
{
	if (c->on_touched)
		return;
	HF_ASSERT(s->touched_count < s->conns_max);
	c->on_touched = 1;
	s->touched[s->touched_count++] = conn_index(s, c);
}

static uint32_t stash_pending(const struct hf_conn *c)
{
	HF_ASSERT(c->stash_off <= c->stash.size);
	return c->stash.size - c->stash_off;
}

/* 1 when the stash starts with something processing would act on: a whole frame, or a header that
 * does not decode (which closes or answers the connection). */
static int stash_ready(const struct hf_conn *c)
{
	uint32_t pending = stash_pending(c);
	if (pending < HF_FRAME_HEADER_SIZE)
		return 0;
	struct hf_frame_header h;
	if (hf_frame_header_decode(c->stash.data + c->stash_off, &h) != HF_OK)
		return 1;
	return pending - HF_FRAME_HEADER_SIZE >= h.body_size;
}

static int stash_append(struct hf_shard *s, struct hf_conn *c, const uint8_t *data, uint32_t size)
{
	uint32_t pending = stash_pending(c);
	if ((uint64_t)pending + size > HF_CONN_STASH_SIZE_MAX)
		return -ENOBUFS;
	/* Move the pending bytes to the front when the tail has no room (or the dead head is the
	 * larger part), so the buffer never grows past what is pending. */
	if (c->stash_off > 0 &&
	    ((uint64_t)c->stash.size + size > c->stash.cap || c->stash_off > c->stash.cap / 2)) {
		memmove(c->stash.data, c->stash.data + c->stash_off, pending);
		c->stash.size = pending;
		c->stash_off = 0;
	}
	int rc =
	    bytes_reserve(s, &c->stash, (uint64_t)c->stash.size + size, HF_CONN_STASH_SIZE_MAX);
	if (rc != 0)
		return rc;
	memcpy(c->stash.data + c->stash.size, data, size);
	c->stash.size += size;
	HF_ASSERT(stash_pending(c) == pending + size);
	return 0;
}

static void conn_answer(struct hf_shard *s, struct hf_conn *c, const struct hf_ops_result *res,
			uint64_t parse_us);
static void conn_flush(struct hf_shard *s, struct hf_conn *c);

/* Makes room in fill for the largest reply of opcode before the frame is processed, so that a
 * frame is answered in full or left for later. Returns 0 when the pool has no buffer for it: the
 * connection then waits (pool_wait) until a buffer comes back. */
static int conn_reserve_reply(struct hf_shard *s, struct hf_conn *c, uint8_t opcode)
{
	const struct hf_op_info *op = hf_op_info(opcode);
	uint32_t body_max = op != NULL && op->reply_body_size_max > HF_ERROR_BODY_SIZE
				? op->reply_body_size_max
				: HF_ERROR_BODY_SIZE;
	uint64_t needed = (uint64_t)c->fill.size + HF_FRAME_HEADER_SIZE + body_max;
	if (needed <= c->fill.cap)
		return 1;
	if (bytes_reserve(s, &c->fill, needed, fill_cap_max(s)) == 0)
		return 1;
	if (!c->pool_wait)
		s->c.pool_waits++;
	c->pool_wait = 1;
	c->pool_wait_puts = s->pool_puts;
	return 0;
}

/* 1 when the next frame of c may be processed now (INVARIANTS 5). */
static int conn_can_process(struct hf_shard *s, struct hf_conn *c)
{
	if (c->state != HF_CONN_OPEN || c->doomed || s->stopping || s->open_full)
		return 0;
	if (c->pool_wait) {
		if (c->pool_wait_puts == s->pool_puts)
			return 0;
		c->pool_wait = 0;
	}
	if (c->frames_iter_stamp != s->iteration) {
		c->frames_iter_stamp = s->iteration;
		c->frames_iter = 0;
	}
	if (c->frames_iter >= HF_SHARD_CONN_FRAMES_PER_ITER_MAX)
		return 0;
	return hf_conn_queued(c) < s->cfg->conn_buffer_size_max;
}

/* Frames of one buffer the prefetch pass looks at: the table slots of this many requests fit the
 * cache many times over (two lines each). */
#define CONN_PREFETCH_FRAMES_MAX 256u

/* Before the frames of a buffer are applied one by one: hint the store at the record-table (and,
 * for HOLD, per-user) slots each will probe, so that their cache misses overlap. Reads only
 * headers that decode and bodies long enough for the fields (offsets: docs/protocol.md, 6.4-6.7);
 * the frames are decoded properly when they are processed. */
static void conn_prefetch(struct hf_shard *s, const uint8_t *data, uint32_t size)
{
	if (s->store == NULL)
		return;
	uint32_t off = 0;
	for (uint32_t n = 0; n < CONN_PREFETCH_FRAMES_MAX && size - off >= HF_FRAME_HEADER_SIZE;
	     n++) {
		struct hf_frame_header h;
		if (hf_frame_header_decode(data + off, &h) != HF_OK ||
		    size - off - HF_FRAME_HEADER_SIZE < h.body_size)
			return;
		const uint8_t *body = data + off + HF_FRAME_HEADER_SIZE;
		int has_user = h.opcode == HF_OP_HOLD && h.body_size >= 24u;
		int named = h.opcode == HF_OP_CONFIRM || h.opcode == HF_OP_RELEASE ||
			    h.opcode == HF_OP_EXTEND;
		if ((has_user || named) && h.body_size >= 16u)
			hf_store_prefetch(s->store, hf_get_le64(body), hf_get_le64(body + 8),
					  has_user, has_user ? hf_get_le64(body + 16) : 0);
		off += HF_FRAME_HEADER_SIZE + h.body_size;
	}
}

/* Processes the whole frames at the start of data (size bytes) while c may process. Returns the
 * bytes consumed; all of them when the connection stopped taking input (closed or doomed). */
static uint32_t conn_parse(struct hf_shard *s, struct hf_conn *c, const uint8_t *data,
			   uint32_t size)
{
	uint32_t used = 0;
	/* One clock read per input buffer: its frames were all parsed at once. */
	uint64_t parse_us = hf_clock_mono_us();
	s->parse_us = parse_us;
	conn_prefetch(s, data, size);
	/* Bounded: each pass consumes a frame, and conn_can_process caps frames per iteration. */
	while (size - used >= HF_FRAME_HEADER_SIZE && conn_can_process(s, c)) {
		struct hf_frame_header h;
		enum hf_status st = hf_frame_header_decode(data + used, &h);
		if (st != HF_OK) {
			/* Bad magic, flags or reserved bits: the stream cannot be trusted, so no
			 * answer. Version or body size: the id is readable, so answer (the body is
			 * not skipped). Either way nothing more is read, and the connection closes
			 * once the replies to the frames before this one are sent. */
			if (st != HF_ERR_MALFORMED) {
				struct hf_ops_result res = {.kind = HF_OPS_REPLY};
				hf_ops_error(s, h.opcode, h.request_id, st, 0, &res);
				conn_answer(s, c, &res, parse_us);
			}
			s->c.conns_closed_protocol++;
			c->doomed = 1;
			return size;
		}
		uint64_t frame_size = (uint64_t)HF_FRAME_HEADER_SIZE + h.body_size;
		if (size - used < frame_size)
			break;
		if (!conn_reserve_reply(s, c, h.opcode))
			break;
		struct hf_ops_result res;
		const uint8_t *body = data + used + HF_FRAME_HEADER_SIZE;
		if (!hf_watch_intercept(s, c, &h, body, &res))
			hf_ops_handle(s, c->role, &h, body, &res);
		if (res.kind == HF_OPS_POSTPONE) {
			s->c.batch_postponed++;
			break;
		}
		s->c.frames_in++;
		c->frames_seen = 1;
		conn_answer(s, c, &res, parse_us);
		if (res.set_role != 0)
			c->role = res.set_role;
		if (res.doom) {
			/* Nothing more is read; the connection closes once the answer is sent. */
			c->doomed = 1;
			return size;
		}
		used += (uint32_t)frame_size;
		c->frames_iter++;
		if (c->state != HF_CONN_OPEN)
			return size;
	}
	HF_ASSERT(used <= size);
	return used;
}

void hf_conn_pump(struct hf_shard *s, struct hf_conn *c)
{
	uint32_t pending = stash_pending(c);
	if (pending == 0 || c->state != HF_CONN_OPEN)
		return;
	uint32_t used = conn_parse(s, c, c->stash.data + c->stash_off, pending);
	if (c->state != HF_CONN_OPEN)
		return;
	HF_ASSERT(used <= pending);
	c->stash_off += used;
	if (c->stash_off == c->stash.size) {
		c->stash_off = 0;
		c->stash.size = 0;
		bytes_shrink_if_empty(s, &c->stash);
	}
}

/* New bytes from the peer (borrowed: a provided buffer the caller recycles after this returns). */
static void conn_input(struct hf_shard *s, struct hf_conn *c, const uint8_t *data, uint32_t size)
{
	s->c.bytes_in += size;
	c->active_ms = s->mono_ms;
	if (c->read_eof || c->doomed || s->stopping)
		return;
	uint32_t used = 0;
	int had_pending = stash_pending(c) > 0;
	if (!had_pending)
		used = conn_parse(s, c, data, size);
	if (c->state != HF_CONN_OPEN || c->doomed || used == size)
		return;
	if (stash_append(s, c, data + used, size - used) != 0) {
		s->c.input_overflows++;
		hf_log_warn("connection %u: unprocessed input past %u bytes: closing it",
			    conn_index(s, c), HF_CONN_STASH_SIZE_MAX);
		hf_conn_close(s, c, "input overflow");
		return;
	}
	if (had_pending)
		hf_conn_pump(s, c);
}

void hf_conn_on_accept(struct hf_shard *s, int fd)
{
	HF_ASSERT(fd >= 0);
	if (s->stopping || s->free_head == 0) {
		if (!s->stopping) {
			s->c.conns_rejected++;
			hf_log_debug("connection refused: %u connections open (--max-connections)",
				     s->conns_open);
		}
		close(fd);
		return;
	}
	uint32_t index = s->free_head - 1;
	struct hf_conn *c = &s->conns[index];
	HF_ASSERT(c->state == HF_CONN_FREE && c->fd == -1);
	HF_ASSERT(c->stash.data == NULL);
	HF_ASSERT(c->fill.data == NULL);
	HF_ASSERT(c->segs_count == 0);
	s->free_head = c->free_next;
	c->free_next = 0;
	c->fd = fd;
	c->state = HF_CONN_OPEN;
	c->recv_armed = 0;
	c->recv_cancel_sent = 0;
	c->send_inflight = 0;
	c->read_eof = 0;
	c->doomed = 0;
	c->parked = 0;
	c->frames_iter = 0;
	c->frames_iter_stamp = 0;
	c->fill_ready = 0;
	c->fill_base = 0;
	c->pool_wait = 0;
	c->role = s->cfg->auth != NULL ? HF_ROLE_NONE : HF_ROLE_ADMIN;
	c->frames_seen = 0;
	c->frame_since_ms = s->mono_ms; /* the first frame is due within --frame-timeout */
	c->active_ms = s->mono_ms;
	s->conns_open++;
	s->c.conns_accepted++;
	/* hf_conn_settle arms the recv at the end of this iteration. */
	hf_conn_touch(s, c);
}

void hf_conn_on_recv(struct hf_shard *s, struct hf_conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = 0;
		c->recv_cancel_sent = 0;
	}
	hf_conn_touch(s, c);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid >= s->bufs.entries || (res > 0 && (uint32_t)res > s->bufs.buf_size)) {
			/* Not what the kernel promised: refuse the data rather than trust it. */
			hf_log_error("connection %u: recv names buffer %u with %d bytes",
				     conn_index(s, c), bid, res);
			hf_conn_close(s, c, "bad recv completion");
			return;
		}
		if (res > 0 && c->state == HF_CONN_OPEN)
			conn_input(s, c, hf_buf_ring_addr(&s->bufs, bid), (uint32_t)res);
		hf_buf_ring_recycle(&s->bufs, bid);
		if (res > 0)
			return;
	}
	if (res > 0) {
		hf_log_error("connection %u: recv of %d bytes without a buffer", conn_index(s, c),
			     res);
		hf_conn_close(s, c, "recv without buffer");
	} else if (res == 0) {
		c->read_eof = 1;
	} else if (res == -ENOBUFS) {
		/* The buffer ring ran dry: the recv ended (no F_MORE) and hf_conn_settle re-arms it
		 * once buffers are back; no data was lost. */
		s->c.recv_enobufs++;
	} else if (res != -ECANCELED) {
		hf_log_debug("connection %u: recv: %s", conn_index(s, c), strerror(-res));
		hf_conn_close(s, c, "recv error");
	}
}

static void conn_send(struct hf_shard *s, struct hf_conn *c)
{
	HF_ASSERT(!c->send_inflight && c->out_off < c->out.size);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_send(sqe, c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
			   MSG_NOSIGNAL);
	sqe->user_data = hf_ud_make(HF_UD_SEND, conn_index(s, c), c->gen);
	c->send_inflight = 1;
}

void hf_conn_on_send(struct hf_shard *s, struct hf_conn *c, int res)
{
	HF_ASSERT(c->send_inflight);
	c->send_inflight = 0;
	hf_conn_touch(s, c);
	if (res <= 0) {
		if (c->state == HF_CONN_OPEN) {
			hf_log_debug("connection %u: send: %s", conn_index(s, c),
				     res == 0 ? "no progress" : strerror(-res));
			hf_conn_close(s, c, "send error");
		}
		return;
	}
	if ((uint64_t)c->out_off + (uint32_t)res > c->out.size) {
		hf_log_error("connection %u: send reports %d bytes of %u", conn_index(s, c), res,
			     c->out.size - c->out_off);
		hf_conn_close(s, c, "bad send completion");
		return;
	}
	s->c.bytes_out += (uint32_t)res;
	c->out_off += (uint32_t)res;
	c->active_ms = s->mono_ms;
	if (c->out_off == c->out.size) {
		c->out.size = 0;
		c->out_off = 0;
		bytes_shrink_if_empty(s, &c->out);
	} else if (c->state == HF_CONN_OPEN) {
		/* A short send: the rest was committed with the rest of its batch. */
		conn_send(s, c);
	}
}

static void conn_cancel(struct hf_shard *s, struct hf_conn *c, enum hf_ud_kind kind)
{
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_cancel64(sqe, hf_ud_make(kind, conn_index(s, c), c->gen), 0);
	sqe->user_data = hf_ud_make(HF_UD_CANCEL, conn_index(s, c), c->gen);
}

static void conn_arm_recv(struct hf_shard *s, struct hf_conn *c)
{
	HF_ASSERT(!c->recv_armed && c->state == HF_CONN_OPEN);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = s->bufs.bgid;
	sqe->user_data = hf_ud_make(HF_UD_RECV, conn_index(s, c), c->gen);
	c->recv_armed = 1;
	c->recv_cancel_sent = 0;
}

void hf_conn_close(struct hf_shard *s, struct hf_conn *c, const char *why)
{
	if (c->state != HF_CONN_OPEN)
		return;
	hf_log_debug("connection %u: closing: %s", conn_index(s, c), why);
	c->state = HF_CONN_CLOSING;
	/* Wakes a pending recv (it ends) and a send blocked on a full socket (it fails). */
	(void)shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed && !c->recv_cancel_sent) {
		conn_cancel(s, c, HF_UD_RECV);
		c->recv_cancel_sent = 1;
	}
	if (c->send_inflight)
		conn_cancel(s, c, HF_UD_SEND);
}

/* --frame-timeout: a frame begun by the peer and not complete starts the clock, as does a new
 * connection before its first frame; a complete frame waiting for us does not. The idle scan
 * (shard.c) closes connections whose clock ran out. */
static void conn_track_frame(struct hf_shard *s, struct hf_conn *c, int frame_ready)
{
	int partial = stash_pending(c) > 0 && !frame_ready;
	if (partial || (!c->frames_seen && !frame_ready)) {
		if (c->frame_since_ms == 0)
			c->frame_since_ms = s->mono_ms;
	} else {
		c->frame_since_ms = 0;
	}
}

static void conn_free(struct hf_shard *s, struct hf_conn *c)
{
	HF_ASSERT(c->state == HF_CONN_CLOSING);
	HF_ASSERT(!c->recv_armed);
	HF_ASSERT(!c->send_inflight);
	close(c->fd);
	/* Held replies die with the connection; the held list drops the slot on its next walk. */
	c->segs_count = 0;
	c->fill_ready = 0;
	c->fd = -1;
	hf_conn_free_buffers(s, c);
	c->state = HF_CONN_FREE;
	c->gen = (c->gen + 1) & HF_CONN_GEN_MASK;
	c->free_next = s->free_head;
	s->free_head = conn_index(s, c) + 1;
	HF_ASSERT(s->conns_open > 0);
	s->conns_open--;
	s->c.conns_closed++;
}

void hf_conn_settle(struct hf_shard *s, struct hf_conn *c)
{
	if (c->state == HF_CONN_FREE)
		return;
	if (c->state == HF_CONN_OPEN) {
		/* INVARIANTS 2 and 4: out is idle, and fill_ready is durable. */
		if (!c->send_inflight && c->fill_ready > 0)
			conn_flush(s, c);
		uint64_t queued = hf_conn_queued(c);
		int over = queued >= s->cfg->conn_buffer_size_max;
		if (over && !c->parked)
			s->c.conns_parked++;
		c->parked = (uint8_t)over;

		int pending = stash_ready(c);
		conn_track_frame(s, c, pending);
		if ((c->doomed || (c->read_eof && !pending)) && queued == 0) {
			/* Every answer is sent: a doomed connection, or a peer that finished
			 * sending (a partial frame left is a truncated request: dropped). */
			hf_conn_close(s, c, c->doomed ? "protocol error answered" : "peer closed");
		} else {
			int want_read = !c->read_eof && !c->doomed && !s->stopping && !over &&
					!(pending && stash_pending(c) >= HF_CONN_STASH_STOP_SIZE);
			if (want_read && !c->recv_armed)
				conn_arm_recv(s, c);
			else if (!want_read && c->recv_armed && !c->recv_cancel_sent) {
				conn_cancel(s, c, HF_UD_RECV);
				c->recv_cancel_sent = 1;
			}
			int pool_blocked = c->pool_wait && c->pool_wait_puts == s->pool_puts;
			if (pending && !over && !c->doomed && !s->stopping && !s->open_full &&
			    !pool_blocked && !c->on_ready) {
				HF_ASSERT(s->ready_count < s->conns_max);
				c->on_ready = 1;
				s->ready[s->ready_count++] = conn_index(s, c);
			}
		}
	}
	if (c->state == HF_CONN_CLOSING && !c->recv_armed && !c->send_inflight)
		conn_free(s, c);
}

/* ---- Replies ---- */

/* Moves fill.data[0 .. fill_ready) into the idle out: the whole fill is swapped (no copy) when
 * nothing is held, else the ready prefix is copied and the held rest moves down. Returns 0, or
 * -ENOBUFS when the connection was closed for want of a buffer. */
static int conn_move_ready(struct hf_shard *s, struct hf_conn *c)
{
	HF_ASSERT(!c->send_inflight);
	HF_ASSERT(c->out.size == 0);
	HF_ASSERT(c->out_off == 0);
	uint32_t ready = c->fill_ready;
	HF_ASSERT(ready > 0);
	HF_ASSERT(ready <= c->fill.size);
	if (ready == c->fill.size) {
		HF_ASSERT(c->segs_count == 0);
		struct hf_bytes sent = c->out;
		c->out = c->fill;
		c->fill = sent;
	} else {
		if (bytes_reserve(s, &c->out, ready, fill_cap_max(s)) != 0) {
			hf_conn_close(s, c, "no memory for a send buffer");
			return -ENOBUFS;
		}
		memcpy(c->out.data, c->fill.data, ready);
		c->out.size = ready;
		memmove(c->fill.data, c->fill.data + ready, c->fill.size - ready);
		c->fill.size -= ready;
		for (uint32_t i = 0; i < c->segs_count; i++) {
			HF_ASSERT(c->segs[i].end >= ready);
			c->segs[i].end -= ready;
		}
	}
	c->fill_base += ready;
	c->fill_ready = 0;
	return 0;
}

/* Sends what may leave (INVARIANTS 2 and 4: out is idle, and fill_ready is durable). */
static void conn_flush(struct hf_shard *s, struct hf_conn *c)
{
	if (conn_move_ready(s, c) == 0)
		conn_send(s, c);
}

/* A held reply's latency is recorded when the batch it waits for completes. */
static void lat_note_held(struct hf_shard *s, uint64_t seq, uint8_t opcode, uint64_t parse_us)
{
	struct hf_batch *b = &s->batches[seq % HF_SHARD_BATCHES_MAX];
	HF_ASSERT(b->seq == seq);
	HF_ASSERT(b->state != HF_BATCH_FREE);
	if (b->lat_count == HF_SHARD_BATCH_LAT_MAX) {
		s->c.lat_untimed++;
		return;
	}
	b->lat[b->lat_count].opcode = opcode;
	b->lat[b->lat_count].parse_us = parse_us;
	b->lat_count++;
}

/* The reply just appended (ending at fill.size) waits for batch wait_seq (INVARIANTS 4). */
static void conn_hold(struct hf_shard *s, struct hf_conn *c, uint64_t wait_seq, uint8_t opcode,
		      uint64_t parse_us)
{
	if (c->segs_count == 0 && wait_seq <= s->done_seq) {
		c->fill_ready = c->fill.size;
		hf_lat_record(&s->lat->op[opcode], hf_clock_mono_us() - parse_us);
		return;
	}
	s->c.replies_held++;
	if (c->segs_count > 0 && c->segs[c->segs_count - 1].seq >= wait_seq) {
		c->segs[c->segs_count - 1].end = c->fill.size;
		lat_note_held(s, c->segs[c->segs_count - 1].seq, opcode, parse_us);
		return;
	}
	/* Seqs waited for lie in done_seq+1 .. open_seq: at most HF_CONN_SEGS_MAX of them. */
	HF_ASSERT(wait_seq > s->done_seq);
	HF_ASSERT(wait_seq <= s->open_seq);
	HF_ASSERT(c->segs_count < HF_CONN_SEGS_MAX);
	c->segs[c->segs_count].end = c->fill.size;
	c->segs[c->segs_count].seq = wait_seq;
	c->segs_count++;
	lat_note_held(s, wait_seq, opcode, parse_us);
	if (!c->on_held) {
		HF_ASSERT(s->held_count < s->conns_max);
		c->on_held = 1;
		s->held[s->held_count++] = conn_index(s, c);
	}
}

static int64_t fill_append_reply(struct hf_shard *s, struct hf_conn *c, const struct hf_reply *rep)
{
	size_t size = hf_reply_size(rep);
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE);
	HF_ASSERT(size <= HF_FRAME_SIZE_MAX);
	if (bytes_reserve(s, &c->fill, (uint64_t)c->fill.size + size, fill_cap_max(s)) != 0) {
		hf_log_warn("connection %u: no memory for a %zu-byte reply: closing it",
			    conn_index(s, c), size);
		hf_conn_close(s, c, "reply buffer");
		return -ENOMEM;
	}
	uint32_t offset = c->fill.size;
	size_t written = hf_reply_encode(rep, c->fill.data + offset, c->fill.cap - offset);
	HF_ASSERT(written == size);
	c->fill.size += (uint32_t)written;
	return offset;
}

static void count_reply(struct hf_shard *s, uint16_t status)
{
	s->c.frames_out++;
	if (status == HF_OK)
		return;
	s->c.replies_error++;
	if (status == HF_MOVED)
		s->c.replies_moved++;
	else if (status == HF_BUSY)
		s->c.replies_busy++;
	else if (status == HF_ERR_IO)
		s->c.replies_io++;
}

static int fill_append_raw(struct hf_shard *s, struct hf_conn *c, const uint8_t *frame,
			   uint32_t size, uint64_t request_id)
{
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE);
	if (bytes_reserve(s, &c->fill, (uint64_t)c->fill.size + size, fill_cap_max(s)) != 0) {
		hf_conn_close(s, c, "reply buffer");
		return -ENOMEM;
	}
	uint8_t *at = c->fill.data + c->fill.size;
	memcpy(at, frame, size);
	hf_put_le64(at + HF_FRAME_REQUEST_ID_OFFSET, request_id);
	c->fill.size += size;
	return 0;
}

/* Appends ops.c's answer to c's replies, held behind the batch it waits for. */
static void conn_answer(struct hf_shard *s, struct hf_conn *c, const struct hf_ops_result *res,
			uint64_t parse_us)
{
	HF_ASSERT(c->state == HF_CONN_OPEN);
	HF_ASSERT(res->kind != HF_OPS_POSTPONE);
	int64_t offset;
	if (res->kind == HF_OPS_RAW) {
		offset = fill_append_raw(s, c, res->raw, res->raw_size, s->req.request_id);
		if (offset == 0)
			count_reply(s, HF_OK);
	} else {
		offset = fill_append_reply(s, c, &s->rep);
		if (offset >= 0)
			count_reply(s, s->rep.status);
	}
	if (offset < 0)
		return;
	if (res->backup) {
		struct hf_batch *b = hf_shard_open_batch(s);
		HF_ASSERT(b->has_backup);
		HF_ASSERT(res->wait_seq == b->seq);
		b->backup_conn = conn_index(s, c);
		b->backup_gen = c->gen;
		b->backup_pos = c->fill_base + (uint64_t)offset;
	}
	uint8_t opcode = res->kind == HF_OPS_RAW ? s->req.opcode : s->rep.opcode;
	conn_hold(s, c, res->wait_seq, opcode, parse_us);
}

int hf_conn_release(struct hf_shard *s, struct hf_conn *c)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < c->segs_count; i++) {
		if (c->segs[i].seq <= s->done_seq) {
			HF_ASSERT(c->segs[i].end >= c->fill_ready);
			c->fill_ready = c->segs[i].end;
		} else {
			c->segs[kept++] = c->segs[i];
		}
	}
	if (kept < c->segs_count)
		hf_conn_touch(s, c);
	c->segs_count = kept;
	HF_ASSERT(c->fill_ready <= c->fill.size);
	return kept > 0;
}

/* 1 when a reply with this opcode and status came from the store's state (so a failed batch under
 * it makes it untrue); BACKUP's depends on its batch too. */
static int reply_depends_on_store(uint8_t opcode, uint16_t status)
{
	if (opcode == HF_OP_BACKUP)
		return 1;
	const struct hf_op_info *op = hf_op_info(opcode);
	if (op == NULL || !op->routed)
		return 0;
	return status != HF_MOVED && status != HF_ERR_MALFORMED && status != HF_ERR_TOO_LARGE &&
	       status != HF_ERR_VERSION && status != HF_ERR_OPCODE;
}

/* A BATCH reply of a failed batch, rewritten into s->batch_out: every entry that depends on the
 * store becomes IO (the others, MOVED or a decode error, stay). Returns the new frame's size. */
static uint32_t batch_reply_fail(struct hf_shard *s, const uint8_t *frame, uint32_t frame_size)
{
	struct hf_frame_header h;
	enum hf_status st = hf_frame_header_decode(frame, &h);
	HF_ASSERT(st == HF_OK);
	struct hf_reply *rep = &s->rep;
	st = hf_reply_decode(&h, frame + HF_FRAME_HEADER_SIZE, rep);
	HF_ASSERT(st == HF_OK); /* our own reply */
	HF_ASSERT(frame_size == HF_FRAME_HEADER_SIZE + h.body_size);
	const uint8_t *entries = rep->batch.entries;
	uint32_t entries_size = rep->batch.entries_size;
	uint16_t count = rep->batch.ops_count;
	uint8_t *out = s->batch_out;
	size_t size = HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE;
	uint32_t off = 0;
	for (uint16_t i = 0; i < count; i++) {
		struct hf_frame_header eh;
		const uint8_t *body;
		int rc = hf_batch_next(entries, entries_size, &off, 1, &eh, &body);
		HF_ASSERT(rc == 1);
		uint16_t status =
		    reply_depends_on_store(eh.opcode, eh.status) ? HF_ERR_IO : eh.status;
		uint64_t detail = status == eh.status && status != HF_OK ? hf_get_le64(body) : 0;
		if (status == HF_OK) {
			/* An OK that stays OK: never, every routed OK depends on the store. */
			HF_PANIC("batch entry 0x%02x kept OK in a failed batch", eh.opcode);
		}
		struct hf_reply e = {
		    .opcode = eh.opcode, .status = status, .request_id = eh.request_id};
		e.detail = detail;
		size_t n =
		    hf_batch_reply_entry_encode(&e, out + size, HF_SHARD_BATCH_OUT_SIZE - size);
		HF_ASSERT(n == HF_BATCH_ENTRY_HEADER_SIZE + HF_ERROR_BODY_SIZE);
		size += n;
		if (status == HF_ERR_IO)
			s->c.replies_io++;
	}
	hf_batch_fixed_encode(out + HF_FRAME_HEADER_SIZE, count);
	h.body_size = (uint32_t)(size - HF_FRAME_HEADER_SIZE);
	hf_frame_header_encode(out, &h);
	return (uint32_t)size;
}

void hf_conn_fail_held(struct hf_shard *s, struct hf_conn *c)
{
	if (c->segs_count == 0)
		return;
	uint32_t start = c->fill_ready;
	HF_ASSERT(start <= c->fill.size);
	uint32_t region = c->fill.size - start;
	c->segs_count = 0;
	hf_conn_touch(s, c);
	if (scratch_reserve(&s->scratch, region) != 0) {
		hf_conn_close(s, c, "no memory to rewrite a failed batch");
		return;
	}
	memcpy(s->scratch.data, c->fill.data + start, region);
	c->fill.size = start;
	uint32_t pos = 0;
	/* Bounded by region: every pass consumes one of our own, well-formed reply frames. */
	while (pos < region) {
		struct hf_frame_header h;
		HF_ASSERT(region - pos >= HF_FRAME_HEADER_SIZE);
		enum hf_status st = hf_frame_header_decode(s->scratch.data + pos, &h);
		HF_ASSERT(st == HF_OK);
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		HF_ASSERT(frame_size <= region - pos);
		int64_t rc;
		if (h.opcode == HF_OP_BATCH && h.status == HF_OK) {
			uint32_t n = batch_reply_fail(s, s->scratch.data + pos, frame_size);
			rc = fill_append_raw(s, c, s->batch_out, n, h.request_id);
		} else if (reply_depends_on_store(h.opcode, h.status)) {
			struct hf_reply *rep = &s->rep;
			rep->opcode = h.opcode;
			rep->status = HF_ERR_IO;
			rep->request_id = h.request_id;
			rep->detail = 0;
			rc = fill_append_reply(s, c, rep);
			s->c.replies_io++;
		} else {
			rc = fill_append_raw(s, c, s->scratch.data + pos, frame_size, h.request_id);
		}
		if (rc < 0)
			return;
		pos += frame_size;
	}
	HF_ASSERT(pos == region);
	c->fill_ready = c->fill.size;
}

void hf_conn_complete_backup(struct hf_shard *s, struct hf_conn *c, uint64_t pos, uint16_t status,
			     uint64_t sequence)
{
	(void)s;
	HF_ASSERT(pos >= c->fill_base);
	HF_ASSERT(pos - c->fill_base + HF_FRAME_HEADER_SIZE + 8u <= c->fill.size);
	uint8_t *at = c->fill.data + (pos - c->fill_base);
	struct hf_frame_header h;
	HF_ASSERT(hf_frame_header_decode(at, &h) == HF_OK);
	HF_ASSERT(h.opcode == HF_OP_BACKUP);
	/* OK and error replies of BACKUP both carry one u64: the sequence, or the detail. */
	HF_ASSERT(h.body_size == 8u);
	hf_put_le16(at + 6, status); /* header offset 6: status */
	hf_put_le64(at + HF_FRAME_HEADER_SIZE, status == HF_OK ? sequence : 0);
}

/* ---- In-process entry points for tests (tests/fuzz/fuzz_server.c): no io_uring ---- */

void hf_conn_test_input(struct hf_shard *s, struct hf_conn *c, const uint8_t *data, uint32_t size)
{
	HF_ASSERT(!s->ring_ready);
	HF_ASSERT(data != NULL || size == 0);
	conn_input(s, c, data, size);
}

void hf_conn_test_take_replies(struct hf_shard *s, struct hf_conn *c, const uint8_t **data_out,
			       uint32_t *size_out)
{
	HF_ASSERT(!s->ring_ready);
	HF_ASSERT(!c->send_inflight);
	/* What the previous call handed out counts as sent. */
	c->out.size = 0;
	c->out_off = 0;
	*data_out = NULL;
	*size_out = 0;
	if (c->state == HF_CONN_FREE || c->fill_ready == 0 || conn_move_ready(s, c) != 0)
		return;
	s->c.bytes_out += c->out.size;
	*data_out = c->out.data;
	*size_out = c->out.size;
}

/* ---- Pushed frames (WATCH, engine/watch.c) ---- */

int hf_conn_push(struct hf_shard *s, struct hf_conn *c, const uint8_t *frame, uint32_t size)
{
	HF_ASSERT(c->state == HF_CONN_OPEN);
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE);
	if (bytes_reserve(s, &c->fill, (uint64_t)c->fill.size + size, fill_cap_max(s)) != 0)
		return -ENOBUFS;
	memcpy(c->fill.data + c->fill.size, frame, size);
	c->fill.size += size;
	/* Durable already: it leaves at once, or right behind the held replies before it. */
	if (c->segs_count == 0)
		c->fill_ready = c->fill.size;
	else
		c->segs[c->segs_count - 1].end = c->fill.size;
	s->c.frames_out++;
	hf_conn_touch(s, c);
	return 0;
}

/* Boundaries (fill_ready, segment ends) that sit at old position pos now sit at new_pos. */
static void drop_map(struct hf_conn *c, const uint32_t *old_ends, uint32_t old_ready, uint32_t pos,
		     uint32_t new_pos)
{
	if (old_ready == pos)
		c->fill_ready = new_pos;
	for (uint32_t i = 0; i < c->segs_count; i++) {
		if (old_ends[i] == pos)
			c->segs[i].end = new_pos;
	}
}

void hf_conn_drop_pushes(struct hf_shard *s, struct hf_conn *c)
{
	(void)s;
	uint32_t pos = 0;
	uint32_t kept = 0;
	uint32_t old_ready = c->fill_ready;
	uint32_t old_ends[HF_CONN_SEGS_MAX];
	HF_ASSERT(c->segs_count <= HF_CONN_SEGS_MAX);
	for (uint32_t i = 0; i < c->segs_count; i++)
		old_ends[i] = c->segs[i].end;
	/* Bounded by fill.size: every pass consumes one of our own, well-formed frames. */
	while (pos < c->fill.size) {
		drop_map(c, old_ends, old_ready, pos, kept);
		struct hf_frame_header h;
		HF_ASSERT(c->fill.size - pos >= HF_FRAME_HEADER_SIZE);
		enum hf_status st = hf_frame_header_decode(c->fill.data + pos, &h);
		HF_ASSERT(st == HF_OK);
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		HF_ASSERT(frame_size <= c->fill.size - pos);
		if (h.opcode != HF_OP_WATCH_CHANGE) {
			memmove(c->fill.data + kept, c->fill.data + pos, frame_size);
			kept += frame_size;
		}
		pos += frame_size;
	}
	HF_ASSERT(pos == c->fill.size);
	drop_map(c, old_ends, old_ready, pos, kept);
	c->fill.size = kept;
	HF_ASSERT(c->fill_ready <= c->fill.size);
}
