/* The fake holdfast server of the client tests (see fake_server.h).
 *
 * One thread polls the listening sockets, the accepted connections and a stop pipe. A connection's
 * bytes are reassembled into frames, each frame is decoded with hf_request_decode, handed to the
 * handler, and the replies of one read are written back together (blocking writes: the client under
 * test always reads while it polls). State shared with the test thread (map, log, seen table) is
 * under one mutex.
 *
 * INVARIANTS
 *  1. conns[i].fd >= 0 iff slot i is in use; at most FAKE_CONNS_MAX connections (more are closed at
 *     accept).
 *  2. log_count <= FAKE_LOG_MAX (later requests are served but not logged).
 *  3. seen[] is an open-addressing table keyed by the frame hash; it never fills past half. */
#include "tests/client/fake_server.h"

#include "base/assert.h"
#include "base/endian.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_BUF_SIZE	  (HF_FRAME_SIZE_MAX + 4096u)
#define OUT_BUF_SIZE	  (2u * HF_FRAME_SIZE_MAX)
#define SEEN_SIZE	  (1u << 20) /* > 2 * FAKE_LOG_MAX */
#define AVAIL_BITMAP_SIZE (HF_AVAIL_RANGE_MAX / 8u)

struct fake_conn {
	int fd;
	uint32_t shard;
	uint32_t used;
	uint8_t *buf;
};

struct seen_slot {
	uint64_t key; /* frame hash, 0 = empty */
	uint32_t count;
};

struct fake_server {
	pthread_t thread;
	int stop_pipe[2];
	uint32_t shards_count;
	int listen_fds[FAKE_SHARDS_MAX];
	uint16_t ports[FAKE_SHARDS_MAX];
	struct fake_conn conns[FAKE_CONNS_MAX];
	fake_handler_fn fn;
	void *arg;

	pthread_mutex_t lock;
	uint64_t epoch;		    /* under lock */
	uint32_t divisor;	    /* under lock */
	struct fake_log_entry *log; /* under lock */
	uint32_t log_count;	    /* under lock */
	uint32_t accepts;	    /* under lock */
	struct seen_slot *seen;	    /* under lock */

	/* Server thread only. */
	struct hf_request req;
	struct hf_reply rep;
	uint8_t *out;
	uint8_t *bitmap;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h | 1u;
}

/* Returns how many times key was seen before, and counts this time. Under lock. */
static uint32_t seen_bump(struct fake_server *s, uint64_t key)
{
	uint32_t mask = SEEN_SIZE - 1;
	uint32_t i = (uint32_t)(key ^ (key >> 32)) & mask;
	for (uint32_t probe = 0; probe < SEEN_SIZE; probe++) {
		struct seen_slot *slot = &s->seen[(i + probe) & mask];
		if (slot->key == key)
			return slot->count++;
		if (slot->key == 0) {
			slot->key = key;
			slot->count = 1;
			return 0;
		}
	}
	HF_PANIC("fake server seen table full");
}

static void fill_map(struct fake_server *s, struct hf_slot_map *m)
{
	m->epoch = s->epoch;
	m->owners_count = (uint16_t)s->shards_count;
	for (uint32_t i = 0; i < s->shards_count; i++) {
		snprintf(m->owners[i].host, sizeof(m->owners[i].host), "127.0.0.1");
		m->owners[i].port = s->ports[i];
	}
	for (uint32_t slot = 0; slot < HF_SLOTS_COUNT; slot++)
		m->slot_owner[slot] = (uint16_t)(slot % s->divisor);
}

uint32_t fake_server_owner_of(struct fake_server *s, uint64_t event_id)
{
	pthread_mutex_lock(&s->lock);
	uint32_t owner = hf_slot_of(event_id) % s->divisor;
	pthread_mutex_unlock(&s->lock);
	return owner;
}

uint64_t fake_server_epoch(struct fake_server *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t epoch = s->epoch;
	pthread_mutex_unlock(&s->lock);
	return epoch;
}

enum fake_action fake_default_handler(struct fake_server *s, void *arg, uint32_t shard,
				      const struct hf_request *req, uint32_t seen,
				      struct hf_reply *rep)
{
	(void)arg;
	(void)seen;
	rep->status = HF_OK;
	uint64_t event_id = hf_request_event_id(req);
	if (event_id != 0 && fake_server_owner_of(s, event_id) != shard) {
		rep->status = HF_MOVED;
		rep->detail = fake_server_epoch(s);
		return FAKE_REPLY;
	}
	switch (req->opcode) {
	case HF_OP_PING:
		rep->ping.epoch = fake_server_epoch(s);
		break;
	case HF_OP_SLOT_MAP:
		pthread_mutex_lock(&s->lock);
		fill_map(s, &rep->slot_map);
		pthread_mutex_unlock(&s->lock);
		break;
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		break;
	case HF_OP_EVENT_INFO:
		memset(&rep->event_info, 0, sizeof(rep->event_info));
		rep->event_info.event_id = event_id;
		rep->event_info.seats_count = 100;
		rep->event_info.free_count = 100;
		rep->event_info.hold_lifetime_max_s = HF_HOLD_LIFETIME_DEFAULT_S;
		break;
	case HF_OP_HOLD:
		rep->hold.hold_id = req->hold.hold_id;
		rep->hold.deadline_ms = 1000;
		rep->hold.seats_count = req->hold.seats_count;
		for (uint32_t i = 0; i < req->hold.seats_count; i++)
			rep->hold.seats[i] =
			    req->hold.mode == HF_HOLD_EXPLICIT ? req->hold.seats[i] : i;
		break;
	case HF_OP_CONFIRM:
		rep->confirm.hold_id = req->confirm.hold_id;
		rep->confirm.deadline_ms = 0;
		rep->confirm.seats_count = 1;
		rep->confirm.seats[0] = 7;
		break;
	case HF_OP_EXTEND:
		rep->extend.deadline_ms = 2000;
		break;
	case HF_OP_AVAIL:
		/* Seat i of the range is free when i is even. */
		rep->avail.seats_count = req->avail.first + req->avail.count;
		rep->avail.free_count = (req->avail.count + 1) / 2;
		rep->avail.first = req->avail.first;
		rep->avail.count = req->avail.count;
		memset(s->bitmap, 0x55, AVAIL_BITMAP_SIZE);
		rep->avail.bitmap = s->bitmap;
		break;
	case HF_OP_SEAT_STATUS:
		rep->seat_status.seats_count = req->seat_status.seats_count;
		for (uint32_t i = 0; i < req->seat_status.seats_count; i++) {
			rep->seat_status.seats[i].seat = req->seat_status.seats[i];
			rep->seat_status.seats[i].state = HF_SEAT_FREE;
			rep->seat_status.seats[i].owner_id = 0;
		}
		break;
	case HF_OP_STATS:
		rep->stats.stats_count = 0;
		hf_stats_add(&rep->stats, "shard", shard);
		hf_stats_add(&rep->stats, "ops", 1);
		break;
	case HF_OP_BACKUP:
		rep->backup.sequence = 42;
		break;
	default:
		rep->status = HF_ERR_OPCODE;
		rep->detail = 0;
		break;
	}
	return FAKE_REPLY;
}

static void conn_drop(struct fake_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->used = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Handles every complete frame of c; returns -1 when the connection must close. */
static int conn_serve(struct fake_server *s, struct fake_conn *c)
{
	uint32_t off = 0;
	size_t out_used = 0;
	int rc = 0;
	while (c->used - off >= HF_FRAME_HEADER_SIZE) {
		struct hf_frame_header h;
		if (hf_frame_header_decode(c->buf + off, &h) != HF_OK) {
			rc = -1;
			break;
		}
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		if (c->used - off < frame_size)
			break;
		const uint8_t *frame = c->buf + off;
		off += frame_size;
		enum hf_status st = hf_request_decode(&h, frame + HF_FRAME_HEADER_SIZE, &s->req);
		uint64_t hash = fnv1a(frame, frame_size);
		pthread_mutex_lock(&s->lock);
		uint32_t seen = seen_bump(s, hash);
		if (s->log_count < FAKE_LOG_MAX) {
			struct fake_log_entry *l = &s->log[s->log_count++];
			l->shard = c->shard;
			l->opcode = h.opcode;
			l->request_id = h.request_id;
			l->event_id = st == HF_OK ? hf_request_event_id(&s->req) : 0;
			l->hold_id = 0;
			if (st == HF_OK && h.opcode == HF_OP_HOLD)
				l->hold_id = s->req.hold.hold_id;
			else if (st == HF_OK && h.opcode == HF_OP_EXTEND)
				l->hold_id = s->req.extend.hold_id;
			else if (st == HF_OK &&
				 (h.opcode == HF_OP_CONFIRM || h.opcode == HF_OP_RELEASE ||
				  h.opcode == HF_OP_CANCEL))
				l->hold_id = s->req.confirm.hold_id;
			l->frame_hash = hash;
			l->frame_size = frame_size;
		}
		pthread_mutex_unlock(&s->lock);

		memset(&s->rep, 0, offsetof(struct hf_reply, detail) + sizeof(s->rep.detail));
		s->rep.opcode = h.opcode;
		s->rep.request_id = h.request_id;
		enum fake_action act = FAKE_REPLY;
		if (st != HF_OK) {
			s->rep.status = (uint16_t)st;
			s->rep.detail = 0;
		} else {
			act = s->fn(s, s->arg, c->shard, &s->req, seen, &s->rep);
		}
		if (act == FAKE_DROP)
			continue;
		if (act == FAKE_CLOSE) {
			rc = -1;
			break;
		}
		if (act == FAKE_GARBAGE) {
			memset(s->out + out_used, 0xee, HF_FRAME_HEADER_SIZE);
			out_used += HF_FRAME_HEADER_SIZE;
			(void)write_all(c->fd, s->out, out_used);
			out_used = 0;
			rc = -1;
			break;
		}
		if (out_used + hf_reply_size(&s->rep) > OUT_BUF_SIZE) {
			if (write_all(c->fd, s->out, out_used) != 0) {
				rc = -1;
				break;
			}
			out_used = 0;
		}
		size_t n = hf_reply_encode(&s->rep, s->out + out_used, OUT_BUF_SIZE - out_used);
		HF_ASSERT(n > 0);
		out_used += n;
	}
	if (out_used > 0 && write_all(c->fd, s->out, out_used) != 0)
		rc = -1;
	memmove(c->buf, c->buf + off, c->used - off);
	c->used -= off;
	return rc;
}

static void accept_one(struct fake_server *s, uint32_t shard)
{
	int fd = accept4(s->listen_fds[shard], NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_mutex_lock(&s->lock);
	s->accepts++;
	pthread_mutex_unlock(&s->lock);
	for (uint32_t i = 0; i < FAKE_CONNS_MAX; i++) {
		if (s->conns[i].fd < 0) {
			s->conns[i].fd = fd;
			s->conns[i].shard = shard;
			s->conns[i].used = 0;
			return;
		}
	}
	close(fd);
}

static void *server_main(void *arg)
{
	struct fake_server *s = arg;
	struct pollfd pfds[1 + FAKE_SHARDS_MAX + FAKE_CONNS_MAX];
	uint32_t owner[1 + FAKE_SHARDS_MAX + FAKE_CONNS_MAX];
	for (;;) {
		uint32_t n = 0;
		pfds[n++] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
		for (uint32_t i = 0; i < s->shards_count; i++) {
			owner[n] = i;
			pfds[n++] = (struct pollfd){.fd = s->listen_fds[i], .events = POLLIN};
		}
		for (uint32_t i = 0; i < FAKE_CONNS_MAX; i++) {
			if (s->conns[i].fd < 0)
				continue;
			owner[n] = i;
			pfds[n++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
		}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			HF_PANIC("fake server poll: %d", errno);
		}
		if (pfds[0].revents)
			return NULL;
		for (uint32_t k = 1; k < n; k++) {
			if (pfds[k].revents == 0)
				continue;
			if (k <= s->shards_count) {
				accept_one(s, owner[k]);
				continue;
			}
			struct fake_conn *c = &s->conns[owner[k]];
			if (c->fd != pfds[k].fd)
				continue;
			ssize_t r =
			    recv(c->fd, c->buf + c->used, CONN_BUF_SIZE - c->used, MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				conn_drop(c);
				continue;
			}
			c->used += (uint32_t)r;
			if (conn_serve(s, c) != 0)
				conn_drop(c);
		}
	}
}

struct fake_server *fake_server_start(uint32_t shards_count, fake_handler_fn fn, void *arg)
{
	HF_ASSERT(shards_count >= 1 && shards_count <= FAKE_SHARDS_MAX);
	struct fake_server *s = calloc(1, sizeof(*s));
	HF_ASSERT(s != NULL);
	s->shards_count = shards_count;
	s->fn = fn != NULL ? fn : fake_default_handler;
	s->arg = arg;
	s->epoch = 1;
	s->divisor = shards_count;
	pthread_mutex_init(&s->lock, NULL);
	s->log = calloc(FAKE_LOG_MAX, sizeof(*s->log));
	s->seen = calloc(SEEN_SIZE, sizeof(*s->seen));
	s->out = malloc(OUT_BUF_SIZE);
	s->bitmap = malloc(AVAIL_BITMAP_SIZE);
	HF_ASSERT(s->log && s->seen && s->out && s->bitmap);
	for (uint32_t i = 0; i < FAKE_CONNS_MAX; i++) {
		s->conns[i].fd = -1;
		s->conns[i].buf = malloc(CONN_BUF_SIZE);
		HF_ASSERT(s->conns[i].buf != NULL);
	}
	for (uint32_t i = 0; i < shards_count; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		HF_ASSERT(fd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = 0,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		HF_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
		HF_ASSERT(listen(fd, 64) == 0);
		socklen_t len = sizeof(a);
		HF_ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
		s->listen_fds[i] = fd;
		s->ports[i] = ntohs(a.sin_port);
	}
	HF_ASSERT(pipe2(s->stop_pipe, O_CLOEXEC) == 0);
	HF_ASSERT(pthread_create(&s->thread, NULL, server_main, s) == 0);
	return s;
}

void fake_server_stop(struct fake_server *s)
{
	char b = 1;
	HF_ASSERT(write(s->stop_pipe[1], &b, 1) == 1);
	pthread_join(s->thread, NULL);
	for (uint32_t i = 0; i < FAKE_CONNS_MAX; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
		free(s->conns[i].buf);
	}
	for (uint32_t i = 0; i < s->shards_count; i++)
		close(s->listen_fds[i]);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	free(s->log);
	free(s->seen);
	free(s->out);
	free(s->bitmap);
	free(s);
}

uint16_t fake_server_port(const struct fake_server *s, uint32_t shard)
{
	HF_ASSERT(shard < s->shards_count);
	return s->ports[shard];
}

void fake_server_addr(const struct fake_server *s, uint32_t shard, char *buf, size_t size)
{
	snprintf(buf, size, "127.0.0.1:%u", fake_server_port(s, shard));
}

void fake_server_set_map(struct fake_server *s, uint64_t epoch, uint32_t divisor)
{
	HF_ASSERT(divisor >= 1 && divisor <= s->shards_count);
	pthread_mutex_lock(&s->lock);
	s->epoch = epoch;
	s->divisor = divisor;
	pthread_mutex_unlock(&s->lock);
}

uint32_t fake_server_log(struct fake_server *s, struct fake_log_entry *out, uint32_t max)
{
	pthread_mutex_lock(&s->lock);
	uint32_t n = s->log_count < max ? s->log_count : max;
	memcpy(out, s->log, (size_t)n * sizeof(*out));
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint32_t fake_server_log_count(struct fake_server *s)
{
	pthread_mutex_lock(&s->lock);
	uint32_t n = s->log_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint32_t fake_server_count_opcode(struct fake_server *s, uint8_t opcode)
{
	uint32_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->log_count; i++)
		n += s->log[i].opcode == opcode;
	pthread_mutex_unlock(&s->lock);
	return n;
}

uint32_t fake_server_accepts(struct fake_server *s)
{
	pthread_mutex_lock(&s->lock);
	uint32_t n = s->accepts;
	pthread_mutex_unlock(&s->lock);
	return n;
}
