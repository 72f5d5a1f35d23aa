/* libholdfast: the slot map. Fetching it on a short-lived connection of its own, installing a newer
 * one (keeping the connections of owners that stay, resending the requests of those that left),
 * refreshing it after MOVED, and the public map calls of client/holdfast.h. */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A refresh that failed is not tried again for this long (MOVED replies keep coming meanwhile). */
#define MAP_RETRY_MS 20u

/* ---- The slot map ---- */

int hf_client_io_full(int fd, uint8_t *buf, size_t size, int writing, uint64_t deadline_ms)
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
/* With a token, the fetch connection presents it first: -EACCES when the server refuses it. */
static int map_fetch_auth(struct hf_client *c, int fd, uint64_t deadline_ms)
{
	if (c->auth_frame_size == 0)
		return 0;
	int rc = hf_client_io_full(fd, c->auth_frame, c->auth_frame_size, 1, deadline_ms);
	if (rc != 0)
		return rc;
	uint8_t reply[HF_FRAME_HEADER_SIZE + HF_REP_AUTH_BODY_SIZE];
	rc = hf_client_io_full(fd, reply, HF_FRAME_HEADER_SIZE, 0, deadline_ms);
	if (rc != 0)
		return rc;
	struct hf_frame_header h;
	if (hf_frame_header_decode(reply, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY) ||
	    h.opcode != HF_OP_AUTH || h.request_id != 0 || h.body_size > HF_REP_AUTH_BODY_SIZE)
		return -EPROTO;
	rc = hf_client_io_full(fd, reply + HF_FRAME_HEADER_SIZE, h.body_size, 0, deadline_ms);
	if (rc != 0)
		return rc;
	return h.status == HF_OK ? 0 : -EACCES;
}

int hf_client_map_fetch(struct hf_client *c, const struct hf_client_addrs *addrs)
{
	int fd = hf_client_connect_timed(addrs, c->opts.connect_timeout_ms);
	if (fd < 0)
		return fd;
	uint64_t deadline_ms = hf_clock_mono_ms() + c->opts.timeout_ms;
	int rc = map_fetch_auth(c, fd, deadline_ms);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	uint64_t request_id = hf_client_rng_next(&c->rng) | 1u;
	struct hf_request req = {.opcode = HF_OP_SLOT_MAP, .request_id = request_id};
	uint8_t frame[HF_FRAME_HEADER_SIZE];
	size_t frame_size = hf_request_encode(&req, frame, sizeof(frame));
	HF_ASSERT(frame_size == HF_FRAME_HEADER_SIZE);
	rc = hf_client_io_full(fd, frame, frame_size, 1, deadline_ms);
	if (rc != 0)
		goto out_close;
	rc = hf_client_io_full(fd, c->map_frame, HF_FRAME_HEADER_SIZE, 0, deadline_ms);
	if (rc != 0)
		goto out_close;
	struct hf_frame_header h;
	rc = -EPROTO;
	if (hf_frame_header_decode(c->map_frame, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY) ||
	    h.request_id != request_id || h.opcode != HF_OP_SLOT_MAP ||
	    h.body_size > HF_CLIENT_MAP_FRAME_SIZE_MAX - HF_FRAME_HEADER_SIZE)
		goto out_close;
	uint8_t *body = c->map_frame + HF_FRAME_HEADER_SIZE;
	rc = hf_client_io_full(fd, body, h.body_size, 0, deadline_ms);
	if (rc != 0)
		goto out_close;
	rc = -EPROTO;
	if (hf_reply_decode(&h, body, c->scratch) != HF_OK)
		goto out_close;
	if (c->scratch->status == HF_BUSY || c->scratch->status == HF_TRY_AGAIN)
		rc = -EAGAIN;
	else if (c->scratch->status == HF_UNAUTHORIZED)
		rc = -EACCES; /* the server wants a token (auth_token) */
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
void hf_client_map_install(struct hf_client *c, const struct hf_slot_map *m)
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
			hf_client_entry_unlink(c, idx);
			e->fixed_owner = 0;
			hf_client_entry_fail(c, idx, -EHOSTUNREACH);
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
		hf_client_conn_fail(c, old[i], -EHOSTUNREACH, FAIL_MOVE);
		hf_client_conn_destroy(c, old[i]);
	}
	for (uint16_t i = 0; i < c->map.owners_count; i++)
		HF_ASSERT(c->conns[i] == NULL || c->conns[i]->owner_index == i);
}

/* Fetches the map from `preferred` (an owner index, or OWNER_NONE), else from the open address,
 * else from any owner, and installs it when newer. Returns 0 or the last -errno. */
int hf_client_map_refresh(struct hf_client *c, uint16_t preferred)
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
			rc = hf_client_map_fetch(c, use);
		if (rc == 0) {
			hf_client_map_install(c, &c->scratch->slot_map);
			return 0;
		}
	}
	HF_ASSERT(rc < 0);
	return rc;
}

/* Sends the refresh for the newest MOVED epoch to the owner that named it first, then the open
 * address, then every owner in turn (one per try). */
static void refresh_submit(struct hf_client *c)
{
	HF_ASSERT(c->refresh_idx == NONE);
	uint32_t t = c->refresh_tries++ % ((uint32_t)c->map.owners_count + 2u);
	uint16_t owner = t == 0 ? c->moved_owner : t == 1 ? c->home_owner : (uint16_t)(t - 2u);
	if (owner >= c->map.owners_count)
		owner = c->home_owner;
	struct hf_request req = {.opcode = HF_OP_SLOT_MAP};
	uint32_t idx;
	if (hf_client_submit_internal(c, &req, owner, &idx) != 0) {
		c->refresh_failed = 1;
		return;
	}
	HF_ASSERT(c->entries[idx].internal);
	c->refresh_idx = idx;
	c->refresh_for_epoch = c->moved_epoch;
}

void hf_client_map_refresh_failed(struct hf_client *c, uint32_t idx)
{
	HF_ASSERT(c->refresh_idx == idx);
	HF_ASSERT(c->internal_count == 0);
	c->refresh_idx = NONE;
	c->refresh_failed = 1;
	c->map_retry_at_ms = c->now_ms + MAP_RETRY_MS;
}

void hf_client_map_refresh_answered(struct hf_client *c, uint32_t idx, const struct hf_reply *rep)
{
	HF_ASSERT(c->refresh_idx == idx);
	HF_ASSERT(c->entries[idx].state == ENTRY_DETACHED);
	hf_client_entry_free(c, idx);
	if (rep->status != HF_OK || rep->slot_map.owners_count == 0) {
		hf_client_map_refresh_failed(c, idx);
		return;
	}
	c->refresh_idx = NONE;
	/* Installed at the next pass, outside the connection that is being read now. */
	memcpy(c->pending_map, &rep->slot_map, sizeof(*c->pending_map));
	c->pending_map_ready = 1;
}

/* Installs a fetched map, if one is waiting. */
static void pending_install(struct hf_client *c)
{
	if (!c->pending_map_ready)
		return;
	c->pending_map_ready = 0;
	hf_client_map_install(c, c->pending_map);
	if (c->refresh_for_epoch > c->refreshed_epoch)
		c->refreshed_epoch = c->refresh_for_epoch;
	c->refresh_tries = 0;
}

/* Resends the requests that got MOVED: after one map refresh per new epoch, to the new owner, or
 * after a backoff when the map did not change (the shard's own map is behind ours) or the refresh
 * failed. The refresh is a pipelined request like the others: nothing here waits. */
void hf_client_moved_resend(struct hf_client *c)
{
	pending_install(c);
	if (c->wait_map.count == 0)
		return;
	if (c->moved_epoch > c->map.epoch && c->moved_epoch > c->refreshed_epoch) {
		if (c->refresh_idx != NONE)
			return; /* in flight: its answer decides */
		if (!c->refresh_failed) {
			if (c->now_ms >= c->map_retry_at_ms)
				refresh_submit(c);
			if (!c->refresh_failed)
				return;
		}
		c->refresh_failed = 0; /* resend as they are; MOVED again counts an attempt */
	}
	uint32_t count = c->wait_map.count;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = c->wait_map.head;
		struct entry *e = &c->entries[idx];
		hf_client_entry_unlink(c, idx);
		if (e->route_epoch < c->map.epoch)
			hf_client_entry_route(c, idx);
		else
			hf_client_entry_delay(c, idx,
					      hf_client_backoff_ms(e->attempt,
								   HF_CLIENT_BACKOFF_BUSY_MS,
								   HF_CLIENT_BACKOFF_BUSY_MS_MAX));
	}
	HF_ASSERT(c->wait_map.count == 0);
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
	hf_client_map_install(client, copy);
	client->map.epoch = epoch;
	client->refreshed_epoch = 0;
	client->moved_epoch = 0;
	hf_client_loop_report(client);
	return 0;
}

int hf_client_refresh_map(struct hf_client *client)
{
	if (client->in_poll)
		return -EBUSY;
	client->now_ms = hf_clock_mono_ms();
	int rc = hf_client_map_refresh(client, OWNER_NONE);
	hf_client_loop_report(client);
	return rc;
}
