/* libholdfast: WATCH (client/holdfast.h, "WATCH"). A watch is a blocking connection of its own to
 * the event's shard: the pipelined connections of the client never see pushed frames, so their
 * request tables stay as they are. */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Receive buffer: a push is at most HF_WATCH_CHANGE_FRAME_SIZE_MAX bytes; room for many. */
#define WATCH_BUF_SIZE	     (64u * 1024u)
#define WATCH_OPEN_ATTEMPTS  3u /* MOVED: refresh the map and try again this many times */
#define WATCH_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + 64u) /* any frame but a push it accepts */
HF_STATIC_ASSERT(WATCH_BUF_SIZE >= 2u * HF_WATCH_CHANGE_FRAME_SIZE_MAX, "a push fits");

struct hf_client_watch {
	int fd;
	uint64_t event_id;
	uint64_t request_id;
	uint32_t head; /* buf[head .. tail) is received, not consumed */
	uint32_t tail;
	uint8_t buf[WATCH_BUF_SIZE];
	struct hf_reply rep; /* decode target of the WATCH and AUTH replies */
};

/* One whole frame at the head of the buffer: 1 with *h and *body, 0 when more bytes are needed,
 * -EPROTO for a header that does not decode or a frame larger than a watch receives. */
static int frame_peek(struct hf_client_watch *w, struct hf_frame_header *h, const uint8_t **body)
{
	uint32_t have = w->tail - w->head;
	if (have < HF_FRAME_HEADER_SIZE)
		return 0;
	if (hf_frame_header_decode(w->buf + w->head, h) != HF_OK || !(h->flags & HF_FLAG_REPLY))
		return -EPROTO;
	uint32_t size = HF_FRAME_HEADER_SIZE + h->body_size;
	if (size > HF_WATCH_CHANGE_FRAME_SIZE_MAX && size > WATCH_FRAME_SIZE_MAX)
		return -EPROTO;
	if (have < size)
		return 0;
	*body = w->buf + w->head + HF_FRAME_HEADER_SIZE;
	w->head += size;
	return 1;
}

/* Reads what the socket has, waiting up to timeout_ms (-1: no bound). 1 when bytes came, 0 on
 * timeout, -errno. */
static int fill(struct hf_client_watch *w, int timeout_ms)
{
	if (w->head > 0) {
		memmove(w->buf, w->buf + w->head, w->tail - w->head);
		w->tail -= w->head;
		w->head = 0;
	}
	HF_ASSERT(w->tail < WATCH_BUF_SIZE);
	struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
	int ready = poll(&pfd, 1, timeout_ms);
	if (ready < 0)
		return errno == EINTR ? 0 : -errno;
	if (ready == 0)
		return 0;
	ssize_t n = recv(w->fd, w->buf + w->tail, WATCH_BUF_SIZE - w->tail, MSG_DONTWAIT);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	w->tail += (uint32_t)n;
	return 1;
}

/* The reply to request_id (pushes before it are dropped: none come before WATCH's answer), into
 * w->rep, within deadline_ms (monotonic). */
static int await_reply(struct hf_client_watch *w, uint64_t request_id, uint64_t deadline_ms)
{
	for (;;) {
		struct hf_frame_header h;
		const uint8_t *body;
		int rc = frame_peek(w, &h, &body);
		if (rc < 0)
			return rc;
		if (rc == 1 && h.request_id == request_id) {
			if (hf_reply_decode(&h, body, &w->rep) != HF_OK)
				return -EPROTO;
			return 0;
		}
		if (rc == 1)
			continue;
		uint64_t now_ms = hf_clock_mono_ms();
		if (now_ms >= deadline_ms)
			return -ETIMEDOUT;
		rc = fill(w, (int)(deadline_ms - now_ms));
		if (rc < 0)
			return rc;
	}
}

/* Connects to the owner of w->event_id and presents the client's token. */
static int watch_connect(struct hf_client *c, struct hf_client_watch *w, uint32_t timeout_ms)
{
	uint16_t owner = c->map.slot_owner[hf_slot_of(w->event_id)];
	HF_ASSERT(owner < c->map.owners_count);
	struct hf_client_addrs addrs;
	int rc = hf_client_resolve(c->map.owners[owner].host, c->map.owners[owner].port, &addrs);
	if (rc != 0)
		return rc;
	int fd = hf_client_connect_timed(&addrs, timeout_ms);
	if (fd < 0)
		return fd;
	w->fd = fd;
	w->head = 0;
	w->tail = 0;
	if (c->auth_frame_size == 0)
		return 0;
	uint64_t deadline_ms = hf_clock_mono_ms() + timeout_ms;
	rc = hf_client_io_full(fd, c->auth_frame, c->auth_frame_size, 1, deadline_ms);
	if (rc == 0)
		rc = await_reply(w, 0, deadline_ms);
	if (rc == 0 && w->rep.status != HF_OK)
		rc = -EACCES;
	return rc;
}

/* One attempt: connect, WATCH, its answer into rep. */
static int watch_attempt(struct hf_client *c, struct hf_client_watch *w, uint32_t timeout_ms,
			 struct hf_client_reply *rep)
{
	int rc = watch_connect(c, w, timeout_ms);
	if (rc != 0)
		return rc;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_WATCH;
	req.request_id = w->request_id;
	req.watch.event_id = w->event_id;
	uint8_t frame[HF_FRAME_HEADER_SIZE + HF_REQ_EVENT_BODY_SIZE];
	size_t n = hf_request_encode(&req, frame, sizeof(frame));
	HF_ASSERT(n == sizeof(frame));
	uint64_t deadline_ms = hf_clock_mono_ms() + timeout_ms;
	rc = hf_client_io_full(w->fd, frame, n, 1, deadline_ms);
	if (rc == 0)
		rc = await_reply(w, w->request_id, deadline_ms);
	if (rc == 0 && w->rep.opcode != HF_OP_WATCH)
		rc = -EPROTO;
	if (rc == 0)
		hf_client_reply_convert(rep, &w->rep);
	return rc;
}

int hf_client_watch_open(struct hf_client *client, uint64_t event_id, uint32_t timeout_ms,
			 struct hf_client_watch **out, struct hf_client_reply *rep)
{
	if (client == NULL || out == NULL || rep == NULL || event_id == 0 || timeout_ms == 0)
		return -EINVAL;
	*out = NULL;
	struct hf_client_watch *w = malloc(sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->fd = -1;
	w->event_id = event_id;
	w->request_id = hf_client_new_id(client);
	int rc = -ETIMEDOUT;
	for (uint32_t attempt = 0; attempt < WATCH_OPEN_ATTEMPTS; attempt++) {
		rc = watch_attempt(client, w, timeout_ms, rep);
		if (rc == 0 && rep->status == HF_OK) {
			*out = w;
			return 0;
		}
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		if (rc != 0 || rep->status != HF_MOVED)
			break;
		(void)hf_client_refresh_map(client);
	}
	free(w);
	return rc;
}

int hf_client_watch_next(struct hf_client_watch *w, int timeout_ms, struct hf_watch_change *out)
{
	HF_ASSERT(w != NULL);
	HF_ASSERT(w->fd >= 0);
	uint64_t deadline_ms =
	    timeout_ms < 0 ? UINT64_MAX : hf_clock_mono_ms() + (uint64_t)timeout_ms;
	int waited = 0;
	/* Bounded by the deadline (or, without one, by the stream): each pass consumes a frame or
	 * waits for bytes. */
	for (;;) {
		struct hf_frame_header h;
		const uint8_t *body;
		int rc = frame_peek(w, &h, &body);
		if (rc < 0)
			return rc;
		if (rc == 1 && h.opcode == HF_OP_WATCH_CHANGE) {
			if (hf_watch_change_decode(&h, body, out) != HF_OK ||
			    out->event_id != w->event_id)
				return -EPROTO;
			return 1;
		}
		if (rc == 1)
			continue; /* another reply on the watch (none is sent): ignored */
		uint64_t now_ms = hf_clock_mono_ms();
		if (waited && timeout_ms >= 0 && now_ms >= deadline_ms)
			return 0;
		int wait_ms = timeout_ms < 0	      ? -1
			      : now_ms >= deadline_ms ? 0
						      : (int)(deadline_ms - now_ms);
		rc = fill(w, wait_ms);
		if (rc < 0)
			return rc;
		waited = 1;
	}
}

int hf_client_watch_fd(const struct hf_client_watch *w)
{
	HF_ASSERT(w != NULL);
	return w->fd;
}

void hf_client_watch_close(struct hf_client_watch *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}
