/* The metrics thread (engine/metrics.h): a small poll(2) loop over a listening socket, a stop
 * eventfd and at most HF_METRICS_CONNS_MAX HTTP connections. A connection's request head is read
 * until the blank line; then the thread asks every shard for STATS (all shards at once, bounded by
 * HF_METRICS_SHARD_TIMEOUT_MS), renders into one buffer allocated at start, writes the answer and
 * closes the connection (`Connection: close`: no keep-alive state to bound).
 *
 * The thread touches no shard memory: it reaches the shards through their TCP ports like any
 * client (one connection per shard, kept between scrapes), so it depends on nothing inside
 * engine/shard.c and cannot stall a shard beyond the cost of one STATS request.
 *
 * INVARIANTS
 *   1. conns[i].fd >= 0 exactly for live connections; conns_open counts them, <= CONNS_MAX.
 *   2. A connection lives at most HF_METRICS_REQUEST_MS from accept; every blocking step (shard
 *      fan-out, write) is bounded by that deadline.
 *   3. conns[i].head_size < HF_METRICS_REQUEST_SIZE_MAX: a head that fills it is answered 431. */
#include "engine/metrics.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/latency.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define METRICS_BACKLOG		 16
#define METRICS_STATS_FRAME_MAX	 16384u /* a STATS reply is at most 14362 bytes (protocol.md) */
#define METRICS_HEADER_SIZE_MAX	 256u	/* bytes of our response head */
#define METRICS_POLL_FDS_MAX	 (2u + HF_METRICS_CONNS_MAX)
#define METRICS_STATS_REQUEST_ID 0x6d6574726963ull /* "metric": arbitrary, echoed */

HF_STATIC_ASSERT(HF_FRAME_HEADER_SIZE + 2u + HF_STATS_MAX * (1u + HF_STAT_NAME_SIZE_MAX + 8u) <=
		     METRICS_STATS_FRAME_MAX,
		 "the largest STATS reply fits a collector buffer");

struct mconn {
	int fd; /* -1: free slot */
	uint64_t deadline_ms;
	uint32_t head_size;
	char head[HF_METRICS_REQUEST_SIZE_MAX];
};

/* One shard's STATS round trip during a fan-out. The connection is kept between scrapes (one
 * connection per shard for the life of the endpoint: a shard at its connection cap still
 * answers the scrape, and a scrape costs no TCP set-up); a kept connection that turns out
 * closed is replaced once within the same scrape. */
enum probe_phase {
	PROBE_CONNECTING, /* waiting for the connect to complete */
	PROBE_WAITING,	  /* request sent, reading the reply */
	PROBE_DONE,	  /* answered (fd kept) or failed (fd closed) */
};

struct probe {
	int fd; /* -1: none */
	enum probe_phase phase;
	int reused;    /* the connection came from an earlier scrape */
	uint32_t got;  /* bytes of the reply read so far */
	uint32_t need; /* bytes of the whole reply frame, known once the header is in */
	uint64_t start_us;
	uint8_t buf[METRICS_STATS_FRAME_MAX];
};

struct hf_metrics {
	const struct hf_engine_config *cfg;
	const char *version;
	char shard_host[HF_HOST_SIZE_MAX + 1];
	int listen_fd;
	int stop_fd;
	uint16_t port;
	pthread_t thread;
	uint64_t start_time_s;
	uint64_t scrapes;
	uint64_t shard_failures;
	uint32_t conns_open;
	struct mconn conns[HF_METRICS_CONNS_MAX];
	struct hf_metrics_shard *shards;    /* cfg->shards_count */
	struct probe *probes;		    /* cfg->shards_count */
	struct hf_reply reply;		    /* decode scratch */
	char *body;			    /* HF_METRICS_BODY_SIZE_MAX */
	struct hf_metrics_histogram *hists; /* HF_METRICS_HIST_MAX */
};

static void probe_fail(struct hf_metrics *m, uint32_t i, const char *why)
{
	struct probe *p = &m->probes[i];
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->phase = PROBE_DONE;
	m->shards[i].up = 0;
	/* why may be the reason already there (a timeout keeps the one set at the start). */
	if (why != m->shards[i].reason)
		snprintf(m->shards[i].reason, sizeof(m->shards[i].reason), "%s", why);
}

/* Writes the 24-byte STATS request; the socket buffer is empty, so one send takes it all or
 * the connection is broken. */
static int probe_send_request(struct probe *p)
{
	struct hf_request req = {.opcode = HF_OP_STATS, .request_id = METRICS_STATS_REQUEST_ID};
	uint8_t frame[HF_FRAME_HEADER_SIZE];
	size_t n = hf_request_encode(&req, frame, sizeof(frame));
	HF_ASSERT(n == HF_FRAME_HEADER_SIZE);
	if (send(p->fd, frame, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -1;
	p->phase = PROBE_WAITING;
	p->got = 0;
	p->need = HF_FRAME_HEADER_SIZE;
	return 0;
}

static void probe_connect(struct hf_metrics *m, uint32_t i)
{
	struct probe *p = &m->probes[i];
	HF_ASSERT(p->fd < 0);
	p->reused = 0;
	p->phase = PROBE_CONNECTING;
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		probe_fail(m, i, "socket failed");
		return;
	}
	int one = 1;
	(void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)(m->cfg->port + i))};
	HF_ASSERT(inet_pton(AF_INET, m->shard_host, &a.sin_addr) == 1);
	if (connect(p->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		probe_fail(m, i, errno == ECONNREFUSED ? "connection refused" : "connect failed");
}

/* A kept connection failed: replace it once, else report why. */
static void probe_retry_or_fail(struct hf_metrics *m, uint32_t i, const char *why)
{
	struct probe *p = &m->probes[i];
	if (!p->reused) {
		probe_fail(m, i, why);
		return;
	}
	close(p->fd);
	p->fd = -1;
	probe_connect(m, i);
}

static void probe_start(struct hf_metrics *m, uint32_t i)
{
	HF_ASSERT(i < m->cfg->shards_count);
	struct probe *p = &m->probes[i];
	p->start_us = hf_clock_mono_us();
	m->shards[i].index = i;
	m->shards[i].up = 0;
	m->shards[i].stats.stats_count = 0;
	snprintf(m->shards[i].reason, sizeof(m->shards[i].reason), "no answer within %u ms",
		 HF_METRICS_SHARD_TIMEOUT_MS);
	if (p->fd < 0) {
		probe_connect(m, i);
		return;
	}
	p->reused = 1;
	if (probe_send_request(p) != 0)
		probe_retry_or_fail(m, i, "send failed");
}

static void probe_on_connected(struct hf_metrics *m, uint32_t i)
{
	struct probe *p = &m->probes[i];
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		probe_fail(m, i, err == ECONNREFUSED ? "connection refused" : "connect failed");
		return;
	}
	if (probe_send_request(p) != 0)
		probe_fail(m, i, "send failed");
}

static void probe_finish(struct hf_metrics *m, uint32_t i)
{
	struct probe *p = &m->probes[i];
	struct hf_frame_header h;
	HF_ASSERT(p->got == p->need);
	if (hf_frame_header_decode(p->buf, &h) != HF_OK ||
	    hf_reply_decode(&h, p->buf + HF_FRAME_HEADER_SIZE, &m->reply) != HF_OK ||
	    h.opcode != HF_OP_STATS || h.request_id != METRICS_STATS_REQUEST_ID) {
		probe_fail(m, i, "malformed STATS reply");
		return;
	}
	if (m->reply.status != HF_OK) {
		probe_fail(m, i, hf_status_name(m->reply.status));
		return;
	}
	m->shards[i].stats = m->reply.stats;
	m->shards[i].took_us = hf_clock_mono_us() - p->start_us;
	m->shards[i].up = 1;
	p->phase = PROBE_DONE; /* the connection stays for the next scrape */
}

static void probe_recv(struct hf_metrics *m, uint32_t i)
{
	struct probe *p = &m->probes[i];
	HF_ASSERT(p->got < p->need);
	ssize_t n = recv(p->fd, p->buf + p->got, p->need - p->got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* A shard closes a connection it cannot take (its cap) right after accepting. */
		probe_retry_or_fail(m, i,
				    "connection closed before the reply (at the shard's "
				    "connection cap?)");
		return;
	}
	p->got += (uint32_t)n;
	if (p->got == HF_FRAME_HEADER_SIZE && p->need == HF_FRAME_HEADER_SIZE) {
		struct hf_frame_header h;
		if (hf_frame_header_decode(p->buf, &h) != HF_OK ||
		    h.body_size > METRICS_STATS_FRAME_MAX - HF_FRAME_HEADER_SIZE) {
			probe_fail(m, i, "malformed STATS reply header");
			return;
		}
		p->need = HF_FRAME_HEADER_SIZE + h.body_size;
	}
	if (p->got == p->need)
		probe_finish(m, i);
}

/* Fills m->shards with every shard's STATS, or the reason it is missing. Bounded by
 * HF_METRICS_SHARD_TIMEOUT_MS and by the connection's own deadline. */
static void collect(struct hf_metrics *m, uint64_t deadline_ms)
{
	uint32_t n = m->cfg->shards_count;
	for (uint32_t i = 0; i < n; i++)
		probe_start(m, i);
	uint64_t end_ms = hf_clock_mono_ms() + HF_METRICS_SHARD_TIMEOUT_MS;
	if (end_ms > deadline_ms)
		end_ms = deadline_ms;
	struct pollfd fds[HF_ENGINE_SHARDS_MAX];
	uint32_t who[HF_ENGINE_SHARDS_MAX];
	HF_ASSERT(n <= HF_ENGINE_SHARDS_MAX);
	for (;;) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			const struct probe *p = &m->probes[i];
			if (p->phase == PROBE_DONE)
				continue;
			fds[k] = (struct pollfd){
			    .fd = p->fd, .events = p->phase == PROBE_WAITING ? POLLIN : POLLOUT};
			who[k++] = i;
		}
		uint64_t now_ms = hf_clock_mono_ms();
		if (k == 0 || now_ms >= end_ms)
			break;
		int rc = poll(fds, k, (int)(end_ms - now_ms));
		if (rc < 0 && errno != EINTR)
			break;
		for (uint32_t j = 0; rc > 0 && j < k; j++) {
			if (fds[j].revents == 0)
				continue;
			if (m->probes[who[j]].phase == PROBE_CONNECTING)
				probe_on_connected(m, who[j]);
			else if (m->probes[who[j]].phase == PROBE_WAITING)
				probe_recv(m, who[j]);
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		/* Still waiting: the stream's state is unknown, so the connection goes. */
		if (m->probes[i].phase != PROBE_DONE)
			probe_fail(m, i, m->shards[i].reason);
		if (!m->shards[i].up)
			m->shard_failures++;
	}
}

static const char *status_text(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* Writes all of buf before deadline_ms (the socket is non-blocking). Returns 0 or -errno. */
static int write_all(int fd, const char *buf, size_t size, uint64_t deadline_ms)
{
	HF_ASSERT(fd >= 0);
	size_t done = 0;
	while (done < size) {
		ssize_t n = send(fd, buf + done, size - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		uint64_t now_ms = hf_clock_mono_ms();
		if (now_ms >= deadline_ms)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, (int)(deadline_ms - now_ms)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static void respond(struct mconn *c, int code, const char *type, const char *body, size_t body_size,
		    int head_only)
{
	char head[METRICS_HEADER_SIZE_MAX];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, status_text(code), type, body_size);
	HF_ASSERT(n > 0);
	HF_ASSERT((size_t)n < sizeof(head));
	if (write_all(c->fd, head, (size_t)n, c->deadline_ms) == 0 && !head_only)
		(void)write_all(c->fd, body, body_size, c->deadline_ms);
}

/* One histogram of engine/latency.h into the renderer's shape (cumulative counts). */
static void hist_from_lat(struct hf_metrics_histogram *h, const struct hf_lat_hist *lat)
{
	HF_STATIC_ASSERT(HF_LAT_BUCKETS_COUNT <= HF_METRICS_HIST_BUCKETS_MAX,
			 "every latency bucket has a place");
	uint64_t cumulative = 0;
	h->buckets_count = HF_LAT_BUCKETS_COUNT;
	for (uint32_t b = 0; b < HF_LAT_BUCKETS_COUNT; b++) {
		cumulative += atomic_load_explicit(&lat->buckets[b], memory_order_relaxed);
		h->bounds_us[b] = hf_lat_bound_us(b);
		h->counts[b] = cumulative;
	}
	cumulative +=
	    atomic_load_explicit(&lat->buckets[HF_LAT_BUCKETS_COUNT], memory_order_relaxed);
	/* Read after the buckets, and never below them: each value only grows. */
	uint64_t count = atomic_load_explicit(&lat->count, memory_order_relaxed);
	h->count = count > cumulative ? count : cumulative;
	h->sum_us = atomic_load_explicit(&lat->sum_us, memory_order_relaxed);
}

static struct hf_metrics_histogram *hist_next(struct hf_metrics *m, uint32_t *n, uint32_t shard,
					      const char *family, const char *help)
{
	if (*n == HF_METRICS_HIST_MAX)
		return NULL;
	struct hf_metrics_histogram *h = &m->hists[(*n)++];
	memset(h, 0, sizeof(*h));
	h->family = family;
	h->help = help;
	h->shard_index = shard;
	return h;
}

static struct hf_lat_shard *lat_of(uint32_t shard)
{
	return atomic_load_explicit(&hf_latency_registry[shard], memory_order_acquire);
}

/* The shards' latency histograms, read from hf_latency_registry (one writer each: relaxed loads
 * suffice, the shards are joined only after this thread stops), family by family so that each
 * family's lines are contiguous. Returns how many. */
static uint32_t collect_histograms(struct hf_metrics *m)
{
	uint32_t n = 0;
	uint32_t shards =
	    m->cfg->shards_count < HF_LAT_SHARDS_MAX ? m->cfg->shards_count : HF_LAT_SHARDS_MAX;
	for (uint32_t i = 0; i < shards; i++) {
		struct hf_lat_shard *lat = lat_of(i);
		for (uint32_t op = 0; lat != NULL && op < 256u; op++) {
			const struct hf_op_info *info = hf_op_info((uint8_t)op);
			if (info == NULL ||
			    atomic_load_explicit(&lat->op[op].count, memory_order_relaxed) == 0)
				continue;
			struct hf_metrics_histogram *h =
			    hist_next(m, &n, i, "op_latency",
				      "time from a request parsed to its reply ready");
			if (h == NULL)
				return n;
			h->label_name = "op";
			(void)hf_opcode_name_lower((uint8_t)op, h->label_value,
						   sizeof(h->label_value));
			hist_from_lat(h, &lat->op[op]);
		}
	}
	for (uint32_t i = 0; i < shards; i++) {
		struct hf_lat_shard *lat = lat_of(i);
		struct hf_metrics_histogram *h =
		    lat == NULL ? NULL
				: hist_next(m, &n, i, "durable_wait",
					    "time an op waited from its batch sealed to durable");
		if (h != NULL)
			hist_from_lat(h, &lat->durable);
	}
	for (uint32_t i = 0; i < shards; i++) {
		struct hf_lat_shard *lat = lat_of(i);
		struct hf_metrics_histogram *h =
		    lat == NULL
			? NULL
			: hist_next(m, &n, i, "sync",
				    "time the persist thread took to write and sync a batch");
		if (h != NULL)
			hist_from_lat(h, &lat->sync);
	}
	return n;
}

static void serve_metrics(struct hf_metrics *m, struct mconn *c, int head_only)
{
	collect(m, c->deadline_ms);
	struct hf_metrics_process proc = {.shards_count = m->cfg->shards_count,
					  .start_time_s = m->start_time_s,
					  .scrapes = m->scrapes,
					  .scrape_errors = m->shard_failures,
					  .version = m->version};
	(void)hf_metrics_read_process(&proc);
	m->scrapes++;
	uint32_t hists_count = collect_histograms(m);
	size_t size = hf_metrics_render(m->shards, m->cfg->shards_count, &proc, m->hists,
					hists_count, m->body, HF_METRICS_BODY_SIZE_MAX);
	if (size == 0) {
		hf_log_error("metrics: the exposition passed %u bytes; answering 500",
			     HF_METRICS_BODY_SIZE_MAX);
		static const char msg[] = "metrics output too large\n";
		respond(c, 500, "text/plain", msg, sizeof(msg) - 1, head_only);
		return;
	}
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", m->body, size, head_only);
}

static void serve(struct hf_metrics *m, struct mconn *c)
{
	const char *path = NULL;
	int code = hf_metrics_http_route(c->head, c->head_size, &path);
	int head_only = strncmp(c->head, "HEAD ", 5) == 0;
	if (code != 200) {
		static const char *const msgs[] = {"bad request\n",
						   "not found: try /metrics or /health\n",
						   "method not allowed: use GET\n"};
		const char *msg = code == 404 ? msgs[1] : code == 405 ? msgs[2] : msgs[0];
		respond(c, code, "text/plain", msg, strlen(msg), 0);
		return;
	}
	HF_ASSERT(path != NULL);
	if (strcmp(path, "/metrics") == 0) {
		serve_metrics(m, c, head_only);
		return;
	}
	collect(m, c->deadline_ms);
	char reason[HF_METRICS_REASON_SIZE + 128];
	int ok = hf_metrics_healthy(m->shards, m->cfg->shards_count, reason, sizeof(reason) - 1);
	size_t len = strlen(reason);
	reason[len++] = '\n';
	respond(c, ok ? 200 : 503, "text/plain", reason, len, head_only);
}

static void conn_close(struct hf_metrics *m, struct mconn *c)
{
	HF_ASSERT(c->fd >= 0);
	HF_ASSERT(m->conns_open > 0);
	close(c->fd);
	c->fd = -1;
	m->conns_open--;
}

static void conn_on_readable(struct hf_metrics *m, struct mconn *c)
{
	HF_ASSERT(c->fd >= 0);
	HF_ASSERT(c->head_size < HF_METRICS_REQUEST_SIZE_MAX);
	ssize_t n =
	    recv(c->fd, c->head + c->head_size, HF_METRICS_REQUEST_SIZE_MAX - 1u - c->head_size, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(m, c);
		return;
	}
	c->head_size += (uint32_t)n;
	c->head[c->head_size] = '\0';
	if (strstr(c->head, "\r\n\r\n") != NULL || strstr(c->head, "\n\n") != NULL) {
		serve(m, c);
		conn_close(m, c);
	} else if (c->head_size >= HF_METRICS_REQUEST_SIZE_MAX - 1u) {
		static const char msg[] = "request head too large\n";
		respond(c, 431, "text/plain", msg, sizeof(msg) - 1, 0);
		conn_close(m, c);
	}
}

static void on_accept(struct hf_metrics *m)
{
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (m->conns_open >= HF_METRICS_CONNS_MAX) {
		/* At the cap: close at once, like a shard does (the scraper retries next time). */
		close(fd);
		return;
	}
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++) {
		if (m->conns[i].fd >= 0)
			continue;
		m->conns[i].fd = fd;
		m->conns[i].head_size = 0;
		m->conns[i].deadline_ms = hf_clock_mono_ms() + HF_METRICS_REQUEST_MS;
		m->conns_open++;
		return;
	}
	HF_PANIC("conns_open %u below the cap but no free slot", m->conns_open);
}

/* One poll round: returns 0 to go on, 1 when asked to stop. */
static int loop_once(struct hf_metrics *m)
{
	struct pollfd fds[METRICS_POLL_FDS_MAX];
	uint32_t who[METRICS_POLL_FDS_MAX];
	fds[0] = (struct pollfd){.fd = m->stop_fd, .events = POLLIN};
	fds[1] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
	uint32_t k = 2;
	uint64_t now_ms = hf_clock_mono_ms();
	uint64_t wake_ms = now_ms + HF_METRICS_REQUEST_MS;
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++) {
		if (m->conns[i].fd < 0)
			continue;
		if (m->conns[i].deadline_ms <= now_ms) {
			conn_close(m, &m->conns[i]);
			continue;
		}
		if (m->conns[i].deadline_ms < wake_ms)
			wake_ms = m->conns[i].deadline_ms;
		fds[k] = (struct pollfd){.fd = m->conns[i].fd, .events = POLLIN};
		who[k++] = i;
	}
	int rc = poll(fds, k, (int)(wake_ms - now_ms));
	if (rc < 0)
		return errno == EINTR ? 0 : 1;
	if (fds[0].revents != 0)
		return 1;
	for (uint32_t j = 2; j < k; j++)
		if (fds[j].revents != 0 && m->conns[who[j]].fd >= 0)
			conn_on_readable(m, &m->conns[who[j]]);
	if (fds[1].revents != 0)
		on_accept(m);
	return 0;
}

static void *metrics_main(void *arg)
{
	struct hf_metrics *m = arg;
	hf_log_set_thread_tag("metrics");
	while (loop_once(m) == 0) {
	}
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++)
		if (m->conns[i].fd >= 0)
			conn_close(m, &m->conns[i]);
	return NULL;
}

static int listen_on(struct hf_metrics *m)
{
	const struct hf_engine_config *cfg = m->cfg;
	m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg->metrics_port)};
	if (inet_pton(AF_INET, cfg->metrics_host, &a.sin_addr) != 1)
		return -EINVAL;
	if (bind(m->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(m->listen_fd, METRICS_BACKLOG) != 0)
		return -errno;
	socklen_t len = sizeof(a);
	if (getsockname(m->listen_fd, (struct sockaddr *)&a, &len) != 0)
		return -errno;
	m->port = ntohs(a.sin_port);
	HF_ASSERT(m->port != 0);
	return 0;
}

static struct hf_metrics *metrics_alloc(const struct hf_engine_config *cfg, const char *version)
{
	struct hf_metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->cfg = cfg;
	m->version = version;
	m->listen_fd = -1;
	m->stop_fd = -1;
	for (uint32_t i = 0; i < HF_METRICS_CONNS_MAX; i++)
		m->conns[i].fd = -1;
	m->shards = calloc(cfg->shards_count, sizeof(*m->shards));
	m->probes = calloc(cfg->shards_count, sizeof(*m->probes));
	m->body = malloc(HF_METRICS_BODY_SIZE_MAX);
	m->hists = calloc(HF_METRICS_HIST_MAX, sizeof(*m->hists));
	if (m->shards == NULL || m->probes == NULL || m->body == NULL || m->hists == NULL) {
		hf_metrics_stop(m);
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->shards_count; i++)
		m->probes[i].fd = -1;
	/* The shards listen on cfg->host; the wildcard is reached through loopback. */
	snprintf(m->shard_host, sizeof(m->shard_host), "%s",
		 strcmp(cfg->host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->host);
	m->start_time_s = hf_clock_wall_ms() / 1000u;
	return m;
}

int hf_metrics_start(const struct hf_engine_config *cfg, const char *version,
		     struct hf_metrics **out)
{
	HF_ASSERT(cfg != NULL);
	HF_ASSERT(cfg->metrics_enabled);
	HF_ASSERT(cfg->shards_count >= 1);
	HF_ASSERT(cfg->shards_count <= HF_ENGINE_SHARDS_MAX);
	struct hf_metrics *m = metrics_alloc(cfg, version);
	if (m == NULL) {
		hf_log_error("metrics: out of memory");
		return -ENOMEM;
	}
	int rc = listen_on(m);
	if (rc != 0) {
		hf_log_error("metrics: cannot listen on %s:%u: %s", cfg->metrics_host,
			     (unsigned)cfg->metrics_port, strerror(-rc));
		goto err_free;
	}
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = -pthread_create(&m->thread, NULL, metrics_main, m);
	if (rc != 0) {
		close(m->stop_fd);
		m->stop_fd = -1;
		goto err_free;
	}
	/* Named so that an operator (top -H) and the scrape-cost measurement can tell it apart. */
	(void)pthread_setname_np(m->thread, "hf-metrics");
	hf_log_info("metrics: serving on %s:%u (GET /metrics, GET /health)", cfg->metrics_host,
		    (unsigned)m->port);
	*out = m;
	return 0;
err_free:
	hf_metrics_stop(m);
	return rc;
}

uint16_t hf_metrics_port(const struct hf_metrics *m)
{
	HF_ASSERT(m != NULL);
	return m->port;
}

void hf_metrics_stop(struct hf_metrics *m)
{
	if (m == NULL)
		return;
	if (m->stop_fd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(m->stop_fd, &one, sizeof(one));
		HF_ASSERT(n == (ssize_t)sizeof(one));
		pthread_join(m->thread, NULL);
		close(m->stop_fd);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m->body);
	free(m->hists);
	for (uint32_t i = 0; m->probes != NULL && i < m->cfg->shards_count; i++)
		if (m->probes[i].fd >= 0)
			close(m->probes[i].fd);
	free(m->probes);
	free(m->shards);
	free(m);
}
