/* libholdfast: event-loop mode. The application's loop watches the client's sockets and one timer;
 * this file tells it what to watch (hf_client_loop_report after every library call, and
 * hf_client_loop_forget before a socket closes) and runs the engine's passes when it says a socket
 * is ready or the timer fired (hf_client_on_ready). The engine itself is the one hf_client_poll
 * uses (client_engine.c): only the waiting differs.
 *
 * INVARIANTS
 *  1. A connection's loop_fd is -1 or its fd; loop_events is 0 iff loop_fd is -1. Every change of
 *     (loop_fd, loop_events) is reported through loop.on_fd, so the application watches exactly
 *     the pairs recorded here (after each library call returns).
 *  2. loop.on_fd(fd, 0) runs before the client closes fd (conn_close calls
 *     hf_client_loop_forget first), so the loop never watches a closed or reused descriptor.
 *  3. loop_deadline_ms is the deadline last given to loop.on_timer (UINT64_MAX: none), and none
 *     once the timer fired (hf_client_on_ready with fd -1). */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

static void report_fd(struct hf_client *c, struct conn *conn, int fd, uint32_t events)
{
	HF_ASSERT(fd >= 0);
	HF_ASSERT(events <= (HF_CLIENT_EV_READ | HF_CLIENT_EV_WRITE));
	conn->loop_fd = events == 0 ? -1 : fd;
	conn->loop_events = events;
	if (c->loop.on_fd != NULL)
		c->loop.on_fd(c->loop.fd_arg, fd, events);
}

void hf_client_loop_forget(struct hf_client *c, struct conn *conn)
{
	if (conn->loop_fd < 0)
		return;
	HF_ASSERT(c->loop_on);
	HF_ASSERT(conn->loop_fd == conn->fd);
	report_fd(c, conn, conn->loop_fd, 0);
	HF_ASSERT(conn->loop_fd == -1);
}

/* Brings one connection's reported registration in line with what it wants now. A closed
 * connection with queued requests starts its connect here, so that it has a socket to watch. */
static void report_conn(struct hf_client *c, struct conn *conn)
{
	if (conn->state == CONN_CLOSED && conn->unsent != NONE)
		hf_client_conn_flush(c, conn);
	uint32_t want = hf_client_conn_events(c, conn);
	if (want == 0) {
		hf_client_loop_forget(c, conn);
		return;
	}
	HF_ASSERT(conn->fd >= 0);
	if (conn->loop_fd >= 0 && conn->loop_fd != conn->fd)
		report_fd(c, conn, conn->loop_fd, 0);
	if (conn->loop_fd != conn->fd || conn->loop_events != want)
		report_fd(c, conn, conn->fd, want);
}

static int timeout_from(uint64_t deadline_ms, uint64_t now_ms)
{
	if (deadline_ms == UINT64_MAX)
		return -1;
	if (deadline_ms <= now_ms)
		return 0;
	uint64_t left = deadline_ms - now_ms;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* The absolute moment the client needs a timer pass: now when failures wait for delivery or a
 * closed connection has queued requests, else the engine's next deadline. */
static uint64_t deadline_get(const struct hf_client *c, uint64_t now_ms)
{
	if (c->failed.count > 0)
		return now_ms;
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		const struct conn *conn = c->conns[i];
		if (conn != NULL && conn->state == CONN_CLOSED && conn->unsent != NONE)
			return now_ms;
	}
	return hf_client_next_event_ms(c, UINT64_MAX);
}

void hf_client_loop_report(struct hf_client *c)
{
	if (!c->loop_on || c->in_poll)
		return;
	c->now_ms = hf_clock_mono_ms();
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		if (c->conns[i] != NULL)
			report_conn(c, c->conns[i]);
	}
	uint64_t deadline_ms = deadline_get(c, c->now_ms);
	if (deadline_ms == c->loop_deadline_ms)
		return;
	c->loop_deadline_ms = deadline_ms;
	if (c->loop.on_timer != NULL)
		c->loop.on_timer(c->loop.timer_arg, timeout_from(deadline_ms, c->now_ms));
}

int hf_client_loop_attach(struct hf_client *client, const struct hf_client_loop *loop)
{
	if (client->in_poll)
		return -EBUSY;
	if (loop == NULL || loop->on_complete == NULL || client->loop_on)
		return -EINVAL;
	HF_ASSERT(!client->loop_on);
	client->loop = *loop;
	client->loop_on = 1;
	client->loop_deadline_ms = UINT64_MAX;
	hf_client_loop_report(client);
	/* The first report always names the timer, so the loop starts from a known state. */
	if (client->loop_deadline_ms == UINT64_MAX && client->loop.on_timer != NULL)
		client->loop.on_timer(client->loop.timer_arg, -1);
	return 0;
}

int hf_client_loop_detach(struct hf_client *client)
{
	if (client->in_poll)
		return -EBUSY;
	if (!client->loop_on)
		return 0;
	for (uint16_t i = 0; i < client->map.owners_count; i++) {
		if (client->conns[i] != NULL)
			hf_client_loop_forget(client, client->conns[i]);
	}
	if (client->loop.on_timer != NULL)
		client->loop.on_timer(client->loop.timer_arg, -1);
	client->loop_on = 0;
	memset(&client->loop, 0, sizeof(client->loop));
	client->loop_deadline_ms = UINT64_MAX;
	return 0;
}

static struct conn *conn_by_fd(struct hf_client *c, int fd)
{
	for (uint16_t i = 0; i < c->map.owners_count; i++) {
		struct conn *conn = c->conns[i];
		if (conn != NULL && conn->fd == fd && conn->state != CONN_CLOSED)
			return conn;
	}
	return NULL;
}

int hf_client_on_ready(struct hf_client *client, int fd, uint32_t events)
{
	if (client->in_poll)
		return -EBUSY;
	if (!client->loop_on)
		return -EINVAL;
	HF_ASSERT(client->loop.on_complete != NULL);
	hf_client_pass_begin(client, client->loop.on_complete, client->loop.complete_arg);
	struct conn *conn = fd >= 0 ? conn_by_fd(client, fd) : NULL;
	short rev = (short)(((events & HF_CLIENT_EV_READ) ? POLLIN : 0) |
			    ((events & HF_CLIENT_EV_WRITE) ? POLLOUT : 0) |
			    ((events & HF_CLIENT_EV_ERROR) ? POLLERR : 0));
	if (conn != NULL && rev != 0)
		hf_client_conn_on_events(client, conn, rev);
	/* The due timers and resends, then one more flush for what the callbacks submitted. */
	hf_client_passes_run(client);
	int delivered = hf_client_pass_end(client);
	if (fd < 0) {
		/* The loop's timer fired, so none is armed now. It may fire a little before our
		 * millisecond clock reaches the deadline (nothing due yet, the deadline unchanged):
		 * report the next deadline whatever it is, or the requests in flight would wait
		 * for a timer nobody armed. */
		client->loop_deadline_ms = UINT64_MAX;
	}
	hf_client_loop_report(client);
	HF_ASSERT(delivered >= 0);
	return delivered;
}

int hf_client_next_timeout_ms(const struct hf_client *client)
{
	uint64_t now_ms = hf_clock_mono_ms();
	return timeout_from(deadline_get(client, now_ms), now_ms);
}

uint32_t hf_client_fds(const struct hf_client *client, struct hf_client_fd *out, uint32_t out_max)
{
	uint32_t n = 0;
	for (uint16_t i = 0; i < client->map.owners_count; i++) {
		const struct conn *conn = client->conns[i];
		if (conn == NULL)
			continue;
		uint32_t events = hf_client_conn_events(client, conn);
		if (events == 0)
			continue;
		if (n < out_max)
			out[n] = (struct hf_client_fd){.fd = conn->fd, .events = events};
		n++;
	}
	HF_ASSERT(n <= HF_SLOT_OWNERS_MAX);
	return n;
}
