/* libholdfast: the pipelined request engine. One hf_client_poll pass delivers failures, resends
 * delayed and MOVED requests, checks timeouts, flushes every connection, then waits in poll(2) for
 * replies or the next deadline. hf_client_submit_entry encodes a request once into its entry's
 * frame slot and routes it. */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

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
			hf_client_entry_unlink(c, idx);
			hf_client_entry_route(c, idx);
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
		hf_client_entry_unlink(c, idx);
		hf_client_entry_deliver(c, idx, error, NULL);
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
			hf_client_conn_fail(c, conn, -ETIMEDOUT, FAIL_CONNECT);
			continue;
		}
		if (conn->list.count > 0 && c->entries[conn->list.head].deadline_ms <= c->now_ms)
			hf_client_conn_fail(c, conn, -ETIMEDOUT, FAIL_TIMEOUT);
	}
}

void hf_client_flush_all(struct hf_client *c)
{
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		if (c->conns[i] != NULL)
			hf_client_conn_flush(c, c->conns[i]);
	}
}

uint64_t hf_client_next_event_ms(const struct hf_client *c, uint64_t until_ms)
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
	if (c->age_head != NONE && c->entries[c->age_head].expires_ms < next)
		next = c->entries[c->age_head].expires_ms;
	return next;
}

uint32_t hf_client_conn_events(const struct hf_client *c, const struct conn *conn)
{
	(void)c;
	if (conn->state == CONN_CLOSED)
		return 0;
	if (conn->state == CONN_CONNECTING)
		return HF_CLIENT_EV_WRITE;
	HF_ASSERT(conn->state == CONN_OPEN);
	HF_ASSERT(conn->fd >= 0);
	int wants_write = conn->send_head < conn->send_tail || conn->unsent != NONE;
	return HF_CLIENT_EV_READ | (wants_write ? HF_CLIENT_EV_WRITE : 0u);
}

static uint32_t pollfds_build(struct hf_client *c)
{
	uint32_t n = 0;
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		struct conn *conn = c->conns[i];
		if (conn == NULL || conn->state == CONN_CLOSED)
			continue;
		/* hf_client_poll flushed before polling: only bytes the socket refused need
		 * POLLOUT. */
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

void hf_client_conn_on_events(struct hf_client *c, struct conn *conn, short rev)
{
	HF_ASSERT(rev != 0);
	HF_ASSERT(conn->state != CONN_CLOSED);
	if (conn->state == CONN_CONNECTING) {
		hf_client_conn_on_connect(c, conn);
		if (conn->state == CONN_OPEN)
			hf_client_conn_flush(c, conn);
		return;
	}
	if (rev & (POLLIN | POLLERR | POLLHUP))
		hf_client_conn_read(c, conn);
	if (conn->state == CONN_OPEN && (rev & POLLOUT))
		hf_client_conn_flush(c, conn);
}

static void pollfds_handle(struct hf_client *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct conn *conn = c->pfd_conns[i];
		short rev = c->pfds[i].revents;
		if (rev == 0 || conn->fd != c->pfds[i].fd || conn->state == CONN_CLOSED)
			continue;
		hf_client_conn_on_events(c, conn, rev);
	}
}

void hf_client_passes_run(struct hf_client *c)
{
	HF_ASSERT(c->in_poll);
	failed_deliver(c);
	hf_client_expired_fail(c);
	delayed_resend(c);
	hf_client_moved_resend(c);
	timeouts_check(c);
	hf_client_flush_all(c);
	failed_deliver(c);
}

void hf_client_pass_begin(struct hf_client *c, hf_client_completion_fn fn, void *arg)
{
	HF_ASSERT(!c->in_poll);
	HF_ASSERT(fn != NULL);
	c->in_poll = 1;
	c->fn = fn;
	c->fn_arg = arg;
	c->delivered = 0;
	c->now_ms = hf_clock_mono_ms();
}

int hf_client_pass_end(struct hf_client *c)
{
	HF_ASSERT(c->in_poll);
	c->in_poll = 0;
	c->fn = NULL;
	c->fn_arg = NULL;
	return c->delivered;
}

int hf_client_poll_run(struct hf_client *c, int timeout_ms, hf_client_completion_fn fn, void *arg)
{
	hf_client_pass_begin(c, fn, arg);
	uint64_t until_ms = timeout_ms < 0 ? UINT64_MAX : c->now_ms + (uint64_t)timeout_ms;
	int rc = 0;
	/* Bounded by until_ms (or by the requests' own deadlines and retries when waiting forever):
	 * every pass either delivers, waits for I/O or time, or ends. */
	for (;;) {
		hf_client_passes_run(c);
		if (c->delivered > 0 || c->in_flight == 0)
			break;
		uint64_t next_ms = hf_client_next_event_ms(c, until_ms);
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
	int delivered = hf_client_pass_end(c);
	return rc < 0 ? rc : delivered;
}

/* ---- Submitting ---- */

/* The encoder's contract, from proto's opcode table (every opcode the table knows). BATCH is
 * the client's own framing (opts.batch_max), never a request of the caller's. */
static int request_valid(const struct hf_request *req)
{
	return req->opcode != HF_OP_BATCH && hf_request_validate(req) == HF_OK;
}

/* Encodes req into a free entry and routes it. internal: the client's own request (one slot
 * past pipeline_max is reserved for it). */
static int submit_any(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
		      uint64_t tag, int internal, uint32_t *idx_out)
{
	if (internal ? c->internal_count > 0 : c->in_flight >= c->opts.pipeline_max)
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
	if (internal)
		c->internal_count++;
	else
		c->in_flight++;
	uint64_t request_id = (++c->id_seq << c->table_bits) | idx;
	/* The caller's request_id is ignored: the client's own goes into the header. */
	hf_put_le64(frame + 8, request_id);
	*e = (struct entry){.request_id = request_id,
			    .tag = tag,
			    .event_id = hf_request_event_id(req),
			    .frame = frame,
			    .prev = NONE,
			    .next = NONE,
			    .frame_size = (uint16_t)size,
			    .fixed_owner = fixed_owner,
			    .big_index = big_index,
			    .state = ENTRY_DETACHED,
			    .opcode = req->opcode,
			    .internal = (uint8_t)internal,
			    .age_prev = NONE,
			    .age_next = NONE};
	if (!c->in_poll)
		c->now_ms = hf_clock_mono_ms();
	e->expires_ms = c->opts.deadline_ms > 0 ? c->now_ms + c->opts.deadline_ms : UINT64_MAX;
	hf_client_age_push(c, idx);
	hf_client_entry_route(c, idx);
	*idx_out = idx;
	return 0;
}

int hf_client_submit_entry(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
			   uint64_t tag, uint64_t *request_id_out)
{
	uint32_t idx;
	int rc = submit_any(c, req, fixed_owner, tag, 0, &idx);
	if (rc == 0 && request_id_out != NULL)
		*request_id_out = c->entries[idx].request_id;
	return rc;
}

int hf_client_submit_internal(struct hf_client *c, const struct hf_request *req,
			      uint16_t fixed_owner, uint32_t *idx_out)
{
	return submit_any(c, req, fixed_owner, 0, 1, idx_out);
}
