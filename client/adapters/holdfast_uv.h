/* holdfast_uv.h: drives a libholdfast client from a libuv loop (the job of hiredis's adapters).
 *
 * Header-only, like hiredis's adapters/libuv.h: include it where the loop is set up and build with
 *     cc app.c $(pkg-config --cflags --libs holdfast libuv)
 * Installed as <holdfast/adapters/holdfast_uv.h>. It puts the client in event-loop mode
 * (hf_client_loop_attach, see holdfast.h): one uv_poll_t per socket the client names, started and
 * stopped as the client asks, and one uv_timer_t kept at the client's next deadline. After
 * hf_uv_create, submit with hf_client_submit from anywhere on the loop's thread (a request handler,
 * a completion callback); completions arrive on that thread through the callback given here.
 *
 * Ownership: hf_uv_create allocates the adapter; hf_uv_destroy detaches it from the client and
 * frees it once libuv has closed its handles (the loop must run for that: uv_run after destroy).
 * The client stays the caller's: destroy the adapter first, then hf_client_close. One thread: the
 * loop's. Memory: the adapter (a few hundred bytes) and one small watch per shard connection. */
#ifndef HF_CLIENT_ADAPTERS_HOLDFAST_UV_H
#define HF_CLIENT_ADAPTERS_HOLDFAST_UV_H

#include "../holdfast.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One watch per client socket: at most one per shard connection. */
#define HF_UV_WATCHES_MAX HF_SLOT_OWNERS_MAX

struct hf_uv;

struct hf_uv_watch {
	uv_poll_t poll; /* poll.data is the watch */
	int fd;
	struct hf_uv *owner;
};

struct hf_uv {
	uv_loop_t *loop;
	struct hf_client *client;
	uv_timer_t timer;	/* timer.data is the adapter */
	uint32_t watches_count; /* <= HF_UV_WATCHES_MAX */
	struct hf_uv_watch *watches[HF_UV_WATCHES_MAX];
	int error; /* the first libuv or allocation error (a negative errno), 0 when none */
};

static inline void hf_uv_on_poll(uv_poll_t *handle, int status, int events)
{
	struct hf_uv_watch *w = (struct hf_uv_watch *)handle->data;
	uint32_t ev = 0;
	if (events & UV_READABLE)
		ev |= HF_CLIENT_EV_READ;
	if (events & UV_WRITABLE)
		ev |= HF_CLIENT_EV_WRITE;
	if (status < 0)
		ev |= HF_CLIENT_EV_ERROR | HF_CLIENT_EV_READ;
	hf_client_on_ready(w->owner->client, w->fd, ev);
}

static inline void hf_uv_on_timer(uv_timer_t *timer)
{
	struct hf_uv *u = (struct hf_uv *)timer->data;
	hf_client_on_ready(u->client, -1, 0);
}

static inline void hf_uv_on_watch_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static inline void hf_uv_fail(struct hf_uv *u, int error)
{
	if (u->error == 0)
		u->error = error;
}

static inline void hf_uv_unwatch(struct hf_uv *u, uint32_t i)
{
	struct hf_uv_watch *w = u->watches[i];
	u->watches[i] = u->watches[--u->watches_count];
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, hf_uv_on_watch_closed);
}

static inline struct hf_uv_watch *hf_uv_watch_new(struct hf_uv *u, int fd)
{
	if (u->watches_count >= HF_UV_WATCHES_MAX) {
		hf_uv_fail(u, -ENOSPC);
		return NULL;
	}
	struct hf_uv_watch *w = (struct hf_uv_watch *)calloc(1, sizeof(*w));
	if (w == NULL) {
		hf_uv_fail(u, -ENOMEM);
		return NULL;
	}
	int rc = uv_poll_init_socket(u->loop, &w->poll, fd);
	if (rc != 0) {
		free(w);
		hf_uv_fail(u, rc);
		return NULL;
	}
	w->poll.data = w;
	w->fd = fd;
	w->owner = u;
	u->watches[u->watches_count++] = w;
	return w;
}

/* The client's on_fd callback: start, change or stop the watch of fd. */
static inline void hf_uv_on_fd(void *arg, int fd, uint32_t events)
{
	struct hf_uv *u = (struct hf_uv *)arg;
	uint32_t i = 0;
	while (i < u->watches_count && u->watches[i]->fd != fd)
		i++;
	if (events == 0) {
		if (i < u->watches_count)
			hf_uv_unwatch(u, i);
		return;
	}
	struct hf_uv_watch *w = i < u->watches_count ? u->watches[i] : hf_uv_watch_new(u, fd);
	if (w == NULL)
		return; /* the client times the socket's requests out; u->error says why */
	int uv_events = ((events & HF_CLIENT_EV_READ) ? UV_READABLE : 0) |
			((events & HF_CLIENT_EV_WRITE) ? UV_WRITABLE : 0);
	int rc = uv_poll_start(&w->poll, uv_events, hf_uv_on_poll);
	if (rc != 0)
		hf_uv_fail(u, rc);
}

/* The client's on_timer callback. */
static inline void hf_uv_on_timer_change(void *arg, int timeout_ms)
{
	struct hf_uv *u = (struct hf_uv *)arg;
	if (timeout_ms < 0) {
		uv_timer_stop(&u->timer);
		return;
	}
	int rc = uv_timer_start(&u->timer, hf_uv_on_timer, (uint64_t)timeout_ms, 0);
	if (rc != 0)
		hf_uv_fail(u, rc);
}

/* Attaches client to loop: completions go to fn(arg, ...) on the loop's thread. Returns 0 with the
 * adapter in *out, -ENOMEM, or hf_client_loop_attach's error. */
static inline int hf_uv_create(uv_loop_t *loop, struct hf_client *client,
			       hf_client_completion_fn fn, void *arg, struct hf_uv **out)
{
	struct hf_uv *u = (struct hf_uv *)calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	u->loop = loop;
	u->client = client;
	int rc = uv_timer_init(loop, &u->timer);
	if (rc != 0) {
		free(u);
		return rc;
	}
	u->timer.data = u;
	struct hf_client_loop cbs;
	cbs.on_complete = fn;
	cbs.complete_arg = arg;
	cbs.on_fd = hf_uv_on_fd;
	cbs.fd_arg = u;
	cbs.on_timer = hf_uv_on_timer_change;
	cbs.timer_arg = u;
	rc = hf_client_loop_attach(client, &cbs);
	if (rc != 0) {
		uv_close((uv_handle_t *)&u->timer, hf_uv_on_watch_closed);
		return rc;
	}
	*out = u;
	return 0;
}

/* Detaches the client (its requests in flight stay in flight) and closes the adapter's handles;
 * the adapter is freed by libuv's close callbacks during the next uv_run. Not from inside a
 * completion callback. */
static inline void hf_uv_destroy(struct hf_uv *u)
{
	hf_client_loop_detach(u->client);
	/* Bounded: every pass removes one watch. */
	while (u->watches_count > 0)
		hf_uv_unwatch(u, u->watches_count - 1);
	uv_close((uv_handle_t *)&u->timer, hf_uv_on_watch_closed);
}

#ifdef __cplusplus
}
#endif

#endif
