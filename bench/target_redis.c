/* The Redis target: one nonblocking TCP connection per bench connection, commands pipelined in
 * order (Redis answers in order, so a ring of tags matches replies to requests), each operation an
 * EVALSHA of one of the Lua scripts in bench/compare (common.lua prepended). The scripts answer
 * with holdfast's status codes, so the workload and the report cannot tell the targets apart.
 *
 * Buffers are allocated at open and bounded: the output buffer holds `pipeline` requests of at most
 * REDIS_REQUEST_SIZE_MAX bytes, the input buffer at most REDIS_IN_SIZE_MAX bytes of replies (a
 * reply larger than that is an error of the connection, never a reallocation). */
#include "bench/resp.h"
#include "bench/target.h"

#include "base/assert.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REDIS_REQUEST_SIZE_MAX 1024u		    /* one EVALSHA with 8 seats fits easily */
#define REDIS_IN_SIZE_MAX      (8u * 1024u * 1024u) /* replies buffered at once */
#define REDIS_RECV_SIZE	       (256u * 1024u)	    /* bytes read per recv */
#define REDIS_ITEMS_MAX	       80u		    /* items of a load reply */
#define REDIS_SCRIPT_SIZE_MAX  (64u * 1024u)
#define REDIS_IO_TIMEOUT_MS    10000	  /* blocking calls and the check */
#define REDIS_CHECK_SEATS_MAX  (1u << 20) /* the check's reply and items grow with the seats */

enum redis_script {
	SCRIPT_CREATE = 0,
	SCRIPT_HOLD,
	SCRIPT_CONFIRM,
	SCRIPT_RELEASE,
	SCRIPT_AVAIL,
	SCRIPT_INFO,
	SCRIPT_CHECK,
	SCRIPTS_COUNT,
};

static const char *const script_files[SCRIPTS_COUNT] = {
    "create.lua", "hold.lua", "confirm.lua", "release.lua", "avail.lua", "info.lua", "check.lua",
};

/* The script texts, read once per process. */
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static char *script_text[SCRIPTS_COUNT];
static int scripts_error;
static char scripts_dir[HF_BENCH_PATH_SIZE_MAX + 1];

struct redis_conn {
	int fd;
	uint32_t pipeline;
	uint8_t *out;
	size_t out_size;
	size_t out_cap;
	uint8_t *in;
	size_t in_size;
	uint64_t *ring_tag; /* pipeline entries: tags of requests in flight, oldest at ring_head */
	uint8_t *ring_kind;
	uint32_t *ring_first; /* AVAIL range of the request, to read the bitmap */
	uint32_t *ring_count;
	uint32_t ring_head;
	uint32_t ring_used;
	int broken; /* -errno once the connection failed */
	char sha[SCRIPTS_COUNT][41];
	struct hf_resp_value items[REDIS_ITEMS_MAX];
	/* event-loop mode */
	struct hf_bench_loop loop;
	uint32_t watched; /* HF_BENCH_EV_* last given to loop.watch */
	uint8_t attached;
	/* blocking call */
	struct hf_bench_result call_res;
	int call_done;
};

static char *read_file(const char *dir, const char *name, size_t *size_out)
{
	char path[HF_BENCH_PATH_SIZE_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(REDIS_SCRIPT_SIZE_MAX + 1);
	size_t n = buf ? fread(buf, 1, REDIS_SCRIPT_SIZE_MAX + 1, f) : 0;
	fclose(f);
	if (buf == NULL || n == 0 || n > REDIS_SCRIPT_SIZE_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*size_out = n;
	return buf;
}

static void scripts_load_once(void)
{
	size_t common_size, size;
	char *common = read_file(scripts_dir, "common.lua", &common_size);
	if (common == NULL) {
		scripts_error = -ENOENT;
		return;
	}
	for (unsigned i = 0; i < SCRIPTS_COUNT; i++) {
		char *body = read_file(scripts_dir, script_files[i], &size);
		char *all = body ? malloc(common_size + size + 2) : NULL;
		if (all == NULL) {
			free(body);
			scripts_error = -ENOENT;
			fprintf(stderr, "holdfast-bench: cannot read %s/%s\n", scripts_dir,
				script_files[i]);
			break;
		}
		memcpy(all, common, common_size);
		all[common_size] = '\n';
		memcpy(all + common_size + 1, body, size + 1);
		free(body);
		script_text[i] = all;
	}
	free(common);
}

static int connect_host_port(const char *host_port, int *fd_out)
{
	char host[HF_BENCH_HOST_SIZE_MAX + 1];
	snprintf(host, sizeof(host), "%s", host_port);
	char *colon = strrchr(host, ':');
	if (colon == NULL)
		return -EINVAL;
	*colon = '\0';
	const char *port = colon + 1;
	char *h = host;
	if (h[0] == '[') {
		h++;
		size_t n = strlen(h);
		if (n == 0 || h[n - 1] != ']')
			return -EINVAL;
		h[n - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(h, port, &hints, &res) != 0)
		return -EINVAL;
	int rc = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			*fd_out = fd;
			rc = 0;
			break;
		}
		rc = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

static int write_all(int fd, const uint8_t *buf, size_t size)
{
	while (size > 0) {
		ssize_t n = send(fd, buf, size, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				if (poll(&p, 1, REDIS_IO_TIMEOUT_MS) <= 0)
					return -ETIMEDOUT;
				continue;
			}
			return -errno;
		}
		buf += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Reads from fd into buf (holding *size of cap bytes) until one whole reply is there; returns 1
 * with *out, items and *consumed, or -errno (-E2BIG when the reply does not fit in cap). */
static int read_reply_into(int fd, uint8_t *buf, size_t cap, size_t *size,
			   struct hf_resp_value *out, struct hf_resp_value *items,
			   uint32_t items_cap, size_t *consumed)
{
	for (;;) {
		int rc = hf_resp_parse(buf, *size, out, items, items_cap, consumed);
		if (rc != 0)
			return rc;
		if (*size == cap)
			return -E2BIG;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, REDIS_IO_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, buf + *size, cap - *size, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n > 0)
			*size += (size_t)n;
	}
}

static int read_reply(struct redis_conn *c, struct hf_resp_value *out, struct hf_resp_value *items,
		      uint32_t items_cap, size_t *consumed)
{
	return read_reply_into(c->fd, c->in, REDIS_IN_SIZE_MAX, &c->in_size, out, items, items_cap,
			       consumed);
}

static void consume(struct redis_conn *c, size_t n)
{
	HF_ASSERT(n <= c->in_size);
	memmove(c->in, c->in + n, c->in_size - n);
	c->in_size -= n;
}

static int load_scripts(struct redis_conn *c)
{
	for (unsigned i = 0; i < SCRIPTS_COUNT; i++) {
		size_t text_size = strlen(script_text[i]);
		uint8_t *cmd = malloc(text_size + 128);
		if (cmd == NULL)
			return -ENOMEM;
		struct hf_resp_writer w;
		hf_resp_writer_init(&w, cmd, text_size + 128);
		hf_resp_write_array(&w, 3);
		hf_resp_write_str(&w, "SCRIPT");
		hf_resp_write_str(&w, "LOAD");
		hf_resp_write_bulk(&w, script_text[i], text_size);
		HF_ASSERT(!w.overflow);
		int rc = write_all(c->fd, cmd, w.size);
		free(cmd);
		if (rc != 0)
			return rc;
		struct hf_resp_value v;
		size_t used;
		rc = read_reply(c, &v, NULL, 0, &used);
		if (rc < 0)
			return rc;
		if (v.type != HF_RESP_BULK || v.str_size != 40) {
			fprintf(stderr, "holdfast-bench: SCRIPT LOAD %s failed: %.*s\n",
				script_files[i], (int)(v.str_size < 300 ? v.str_size : 300),
				v.str ? (const char *)v.str : "");
			return -EPROTO;
		}
		memcpy(c->sha[i], v.str, 40);
		c->sha[i][40] = '\0';
		consume(c, used);
	}
	return 0;
}

static int redis_open(const struct hf_bench_opts *opts, uint32_t pipeline, void **conn_out)
{
	HF_ASSERT(pipeline >= 1 && pipeline <= HF_BENCH_PIPELINE_MAX);
	/* The first opener fixes the script directory for the process. */
	if (scripts_dir[0] == '\0')
		snprintf(scripts_dir, sizeof(scripts_dir), "%s", opts->lua_dir);
	pthread_once(&scripts_once, scripts_load_once);
	if (scripts_error != 0)
		return scripts_error;
	struct redis_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->pipeline = pipeline;
	c->out_cap = (size_t)pipeline * REDIS_REQUEST_SIZE_MAX;
	c->out = malloc(c->out_cap);
	c->in = malloc(REDIS_IN_SIZE_MAX);
	c->ring_tag = calloc(pipeline, sizeof(*c->ring_tag));
	c->ring_kind = calloc(pipeline, sizeof(*c->ring_kind));
	c->ring_first = calloc(pipeline, sizeof(*c->ring_first));
	c->ring_count = calloc(pipeline, sizeof(*c->ring_count));
	int rc = -ENOMEM;
	if (!c->out || !c->in || !c->ring_tag || !c->ring_kind || !c->ring_first || !c->ring_count)
		goto err_free;
	rc = connect_host_port(opts->redis, &c->fd);
	if (rc != 0)
		goto err_free;
	rc = load_scripts(c);
	if (rc != 0)
		goto err_close;
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) {
		rc = -errno;
		goto err_close;
	}
	*conn_out = c;
	return 0;

err_close:
	close(c->fd);
err_free:
	free(c->ring_count);
	free(c->ring_first);
	free(c->ring_kind);
	free(c->ring_tag);
	free(c->in);
	free(c->out);
	free(c);
	return rc;
}

static void redis_close(void *conn)
{
	struct redis_conn *c = conn;
	if (c->attached && c->watched != 0)
		c->loop.watch(c->loop.arg, c->fd, 0); /* before the descriptor can be reused */
	close(c->fd);
	free(c->ring_count);
	free(c->ring_first);
	free(c->ring_kind);
	free(c->ring_tag);
	free(c->in);
	free(c->out);
	free(c);
}

static void write_keys(struct hf_resp_writer *w, uint64_t event_id)
{
	static const char *const suffix[4] = {"meta", "taken", "holds", "exp"};
	hf_resp_write_str(w, "4");
	for (unsigned i = 0; i < 4; i++) {
		char key[64];
		int n = snprintf(key, sizeof(key), "{hf:%llu}:%s", (unsigned long long)event_id,
				 suffix[i]);
		HF_ASSERT(n > 0 && (size_t)n < sizeof(key));
		hf_resp_write_bulk(w, key, (size_t)n);
	}
}

static void encode_op(struct redis_conn *c, struct hf_resp_writer *w, const struct hf_bench_op *op)
{
	unsigned script;
	uint32_t argc;
	if (op->kind == HF_BENCH_OP_PING) {
		/* Redis's own ceiling: a command without a script. */
		hf_resp_write_array(w, 1);
		hf_resp_write_str(w, "PING");
		return;
	}
	switch (op->kind) {
	case HF_BENCH_OP_HOLD:
		script = SCRIPT_HOLD;
		argc = 5 + (op->best ? 0 : op->seats_count);
		break;
	case HF_BENCH_OP_CONFIRM:
		script = SCRIPT_CONFIRM;
		argc = 1;
		break;
	case HF_BENCH_OP_RELEASE:
		script = SCRIPT_RELEASE;
		argc = 1;
		break;
	case HF_BENCH_OP_AVAIL:
		script = SCRIPT_AVAIL;
		argc = 2;
		break;
	case HF_BENCH_OP_INFO:
		script = SCRIPT_INFO;
		argc = 0;
		break;
	case HF_BENCH_OP_CREATE:
		script = SCRIPT_CREATE;
		argc = 2;
		break;
	default:
		HF_PANIC("op kind %u", op->kind);
	}
	hf_resp_write_array(w, 3 + 4 + argc);
	hf_resp_write_str(w, "EVALSHA");
	hf_resp_write_bulk(w, c->sha[script], 40);
	write_keys(w, op->event_id);
	switch (op->kind) {
	case HF_BENCH_OP_HOLD:
		hf_resp_write_u64(w, op->hold_id);
		hf_resp_write_u64(w, op->user_id);
		hf_resp_write_u64(w, op->ttl_ms);
		hf_resp_write_u64(w, op->best ? 1 : 0);
		hf_resp_write_u64(w, op->seats_count);
		if (!op->best) {
			for (uint32_t i = 0; i < op->seats_count; i++)
				hf_resp_write_u64(w, op->seats[i]);
		}
		break;
	case HF_BENCH_OP_CONFIRM:
	case HF_BENCH_OP_RELEASE:
		hf_resp_write_u64(w, op->hold_id);
		break;
	case HF_BENCH_OP_AVAIL:
		hf_resp_write_u64(w, op->first);
		hf_resp_write_u64(w, op->count);
		break;
	case HF_BENCH_OP_CREATE:
		hf_resp_write_u64(w, op->event_seats);
		hf_resp_write_u64(w, op->event_row_width);
		break;
	default:
		break;
	}
}

static int redis_submit(void *conn, const struct hf_bench_op *op, uint64_t tag)
{
	struct redis_conn *c = conn;
	if (c->broken)
		return c->broken;
	if (c->ring_used == c->pipeline)
		return -EAGAIN;
	HF_ASSERT(c->out_cap - c->out_size >= REDIS_REQUEST_SIZE_MAX);
	struct hf_resp_writer w;
	hf_resp_writer_init(&w, c->out + c->out_size, REDIS_REQUEST_SIZE_MAX);
	encode_op(c, &w, op);
	HF_ASSERT(!w.overflow);
	c->out_size += w.size;
	uint32_t slot = (c->ring_head + c->ring_used) % c->pipeline;
	c->ring_tag[slot] = tag;
	c->ring_kind[slot] = op->kind;
	c->ring_first[slot] = op->first;
	c->ring_count[slot] = op->count;
	c->ring_used++;
	return 0;
}

static int flush_out(struct redis_conn *c)
{
	size_t sent = 0;
	while (sent < c->out_size) {
		ssize_t n = send(c->fd, c->out + sent, c->out_size - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		sent += (size_t)n;
	}
	memmove(c->out, c->out + sent, c->out_size - sent);
	c->out_size -= sent;
	return 0;
}

static int item_u32(const struct hf_resp_value *items, uint32_t count, uint32_t i, uint32_t *out)
{
	uint64_t v;
	if (i >= count || hf_resp_to_u64(&items[i], &v) != 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Turns one reply into a result; a reply that is not what our scripts return is -EPROTO. */
static void decode_reply(const struct hf_resp_value *v, const struct hf_resp_value *items,
			 uint8_t kind, uint32_t first, uint32_t count, struct hf_bench_result *res)
{
	memset(res, 0, sizeof(*res));
	if (v->type == HF_RESP_ERROR) {
		static atomic_int said;
		if (atomic_fetch_add(&said, 1) == 0)
			fprintf(stderr, "holdfast-bench: redis error: %.*s\n",
				(int)(v->str_size < 300 ? v->str_size : 300), (const char *)v->str);
		res->error = -EPROTO;
		return;
	}
	if (kind == HF_BENCH_OP_PING) {
		if (v->type != HF_RESP_STATUS || v->str_size != 4 || memcmp(v->str, "PONG", 4) != 0)
			res->error = -EPROTO;
		return;
	}
	uint32_t status;
	if (v->type != HF_RESP_ARRAY || item_u32(items, v->items_count, 0, &status) != 0 ||
	    status > UINT16_MAX) {
		res->error = -EPROTO;
		return;
	}
	res->status = (uint16_t)status;
	uint32_t n = v->items_count;
	if (status != HF_OK) {
		uint64_t d = 0;
		if (n > 1)
			hf_resp_to_u64(&items[1], &d);
		res->detail = d;
		return;
	}
	int bad = 0;
	switch (kind) {
	case HF_BENCH_OP_HOLD:
	case HF_BENCH_OP_CONFIRM:
		if (n < 3 || n - 2 > HF_BENCH_HOLD_SEATS_MAX) {
			bad = 1;
			break;
		}
		res->seats_count = n - 2;
		for (uint32_t i = 0; i < res->seats_count; i++)
			bad |= item_u32(items, n, 2 + i, &res->seats[i]);
		break;
	case HF_BENCH_OP_AVAIL:
		bad |= item_u32(items, n, 1, &res->event_seats);
		bad |= item_u32(items, n, 2, &res->free_count);
		if (!bad && count > 0) {
			uint32_t bytes = (first + count - 1) / 8 - first / 8 + 1;
			/* GETRANGE stops at the string's end: a short bitmap is a script bug. */
			if (n < 4 || items[3].type != HF_RESP_BULK || items[3].str_size != bytes) {
				bad = 1;
				break;
			}
			res->bitmap = items[3].str;
			res->bitmap_first = first;
			res->bitmap_count = count;
			res->bitmap_redis = 1;
		}
		break;
	case HF_BENCH_OP_INFO:
		bad |= item_u32(items, n, 1, &res->event_seats);
		bad |= item_u32(items, n, 2, &res->free_count);
		bad |= item_u32(items, n, 3, &res->held_count);
		bad |= item_u32(items, n, 4, &res->booked_count);
		break;
	default:
		break;
	}
	if (bad)
		res->error = -EPROTO;
}

/* Fails every request in flight with err and marks the connection broken. */
static int fail_all(struct redis_conn *c, int err, hf_bench_done_fn fn, void *arg)
{
	int delivered = 0;
	c->broken = err;
	while (c->ring_used > 0) {
		struct hf_bench_result res;
		memset(&res, 0, sizeof(res));
		res.error = err;
		uint64_t tag = c->ring_tag[c->ring_head];
		c->ring_head = (c->ring_head + 1) % c->pipeline;
		c->ring_used--;
		fn(arg, tag, &res);
		delivered++;
	}
	return delivered;
}

/* Reads what the socket has (bounded by the buffer), delivers every whole reply, then sends what
 * the callbacks submitted. Returns the number delivered. */
static int read_deliver(struct redis_conn *c, hf_bench_done_fn fn, void *arg)
{
	int rc;
	for (;;) {
		if (c->in_size == REDIS_IN_SIZE_MAX)
			break;
		size_t room = REDIS_IN_SIZE_MAX - c->in_size;
		ssize_t n = recv(c->fd, c->in + c->in_size,
				 room < REDIS_RECV_SIZE ? room : REDIS_RECV_SIZE, 0);
		if (n > 0) {
			c->in_size += (size_t)n;
			if ((size_t)n < REDIS_RECV_SIZE)
				break;
			continue;
		}
		if (n == 0)
			return fail_all(c, -ECONNRESET, fn, arg);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		return fail_all(c, -errno, fn, arg);
	}
	int delivered = 0;
	size_t pos = 0;
	while (c->ring_used > 0) {
		struct hf_resp_value v;
		size_t used;
		rc = hf_resp_parse(c->in + pos, c->in_size - pos, &v, c->items, REDIS_ITEMS_MAX,
				   &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			consume(c, pos);
			return delivered + fail_all(c, rc, fn, arg);
		}
		uint32_t slot = c->ring_head;
		struct hf_bench_result res;
		decode_reply(&v, c->items, c->ring_kind[slot], c->ring_first[slot],
			     c->ring_count[slot], &res);
		c->ring_head = (c->ring_head + 1) % c->pipeline;
		c->ring_used--;
		pos += used;
		fn(arg, c->ring_tag[slot], &res);
		delivered++;
	}
	if (pos > 0)
		consume(c, pos);
	if (c->ring_used == 0 && c->in_size > 0)
		return delivered + fail_all(c, -EPROTO, fn, arg);
	/* The callbacks may have submitted more: send it now rather than next round. */
	rc = flush_out(c);
	if (rc != 0)
		return delivered + fail_all(c, rc, fn, arg);
	return delivered;
}

static int redis_poll(void *conn, int timeout_ms, hf_bench_done_fn fn, void *arg)
{
	struct redis_conn *c = conn;
	if (c->broken)
		return fail_all(c, c->broken, fn, arg);
	int rc = flush_out(c);
	if (rc != 0)
		return fail_all(c, rc, fn, arg);
	if (c->ring_used == 0)
		return 0;
	if (timeout_ms != 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (c->out_size > 0)
			p.events |= POLLOUT;
		int pr = poll(&p, 1, timeout_ms);
		if (pr < 0 && errno != EINTR)
			return -errno;
	}
	return read_deliver(c, fn, arg);
}

/* ---- Event-loop mode: the load thread's epoll watches the socket ---- */

/* Tells the loop what the socket needs now: reading always, writing while bytes wait; nothing
 * once the connection broke (its requests have failed; a broken socket would wake the loop
 * forever). */
static void loop_watch(struct redis_conn *c)
{
	uint32_t want =
	    c->broken ? 0u : HF_BENCH_EV_READ | (c->out_size > 0 ? HF_BENCH_EV_WRITE : 0u);
	if (want == c->watched)
		return;
	c->watched = want;
	c->loop.watch(c->loop.arg, c->fd, want);
}

static int redis_attach(void *conn, const struct hf_bench_loop *loop)
{
	struct redis_conn *c = conn;
	HF_ASSERT(loop->watch != NULL);
	HF_ASSERT(loop->done != NULL);
	HF_ASSERT(!c->attached);
	c->loop = *loop;
	c->attached = 1;
	c->watched = 0;
	loop_watch(c);
	return 0;
}

static int redis_flush(void *conn)
{
	struct redis_conn *c = conn;
	HF_ASSERT(c->attached);
	int delivered = 0;
	if (c->broken)
		delivered = fail_all(c, c->broken, c->loop.done, c->loop.arg);
	int rc = c->broken ? 0 : flush_out(c);
	if (rc != 0)
		delivered += fail_all(c, rc, c->loop.done, c->loop.arg);
	loop_watch(c);
	return delivered;
}

static int redis_on_ready(void *conn, int fd, uint32_t events)
{
	struct redis_conn *c = conn;
	HF_ASSERT(c->attached);
	if (fd != c->fd || c->broken)
		return redis_flush(c);
	int delivered = 0;
	if (events & (HF_BENCH_EV_READ | HF_BENCH_EV_ERROR))
		delivered = read_deliver(c, c->loop.done, c->loop.arg);
	return delivered + redis_flush(c);
}

static uint32_t redis_in_flight(void *conn)
{
	struct redis_conn *c = conn;
	return c->ring_used;
}

static void call_on_done(void *arg, uint64_t tag, const struct hf_bench_result *res)
{
	struct redis_conn *c = arg;
	(void)tag;
	c->call_res = *res;
	c->call_res.bitmap = NULL; /* borrowed from the input buffer, gone after this call */
	c->call_done = 1;
}

static int redis_call(void *conn, const struct hf_bench_op *op, struct hf_bench_result *res)
{
	struct redis_conn *c = conn;
	HF_ASSERT(c->ring_used == 0);
	int rc = redis_submit(c, op, 0);
	if (rc != 0)
		return rc;
	c->call_done = 0;
	for (int rounds = 0; !c->call_done; rounds++) {
		if (rounds * 100 > REDIS_IO_TIMEOUT_MS)
			return -ETIMEDOUT;
		rc = redis_poll(c, 100, call_on_done, c);
		if (rc < 0)
			return rc;
	}
	*res = c->call_res;
	return res->error;
}

static void redis_routing(void *conn, uint16_t *owners_count_out, const uint16_t **slot_owner_out)
{
	(void)conn;
	*owners_count_out = 1;
	*slot_owner_out = NULL;
}

static int redis_check(void *conn, const struct hf_bench_shared *shared, struct hf_bench_check *chk)
{
	struct redis_conn *c = conn;
	const struct hf_bench_opts *o = shared->opts;
	HF_ASSERT(c->ring_used == 0);
	uint8_t cmd[REDIS_REQUEST_SIZE_MAX];
	struct hf_resp_writer w;
	hf_resp_writer_init(&w, cmd, sizeof(cmd));
	hf_resp_write_array(&w, 3 + 4);
	hf_resp_write_str(&w, "EVALSHA");
	hf_resp_write_bulk(&w, c->sha[SCRIPT_CHECK], 40);
	write_keys(&w, o->event_base);
	HF_ASSERT(!w.overflow);
	if (o->seats > REDIS_CHECK_SEATS_MAX) {
		snprintf(chk->message, sizeof(chk->message),
			 "the Redis check handles events of at most %u seats",
			 REDIS_CHECK_SEATS_MAX);
		return 0;
	}
	/* Back to blocking I/O for one large reply. */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	int rc = write_all(c->fd, w.buf, w.size);
	if (rc != 0)
		goto out_blocking;
	/* One reply lists every live hold and booking: its own buffer, sized from the seats (at
	 * most about 40 bytes per seat plus the header), and items for every seat. */
	HF_ASSERT(c->in_size == 0);
	uint32_t items_cap = 16u + 4u * o->seats;
	size_t buf_cap = (size_t)o->seats * 48u + (1u << 20);
	size_t buf_size = 0;
	struct hf_resp_value *items = malloc(items_cap * sizeof(*items));
	uint8_t *buf = malloc(buf_cap);
	if (items == NULL || buf == NULL) {
		free(items);
		free(buf);
		rc = -ENOMEM;
		goto out_blocking;
	}
	struct hf_resp_value v;
	size_t used;
	rc = read_reply_into(c->fd, buf, buf_cap, &buf_size, &v, items, items_cap, &used);
	if (rc < 0)
		goto out;
	uint32_t n = v.type == HF_RESP_ARRAY ? v.items_count : 0;
	uint32_t f[8];
	for (uint32_t i = 0; i < 8; i++) {
		if (item_u32(items, n, i, &f[i]) != 0) {
			snprintf(chk->message, sizeof(chk->message), "check script answered %s",
				 n ? "a short array" : "no array");
			rc = 0;
			goto out_consume;
		}
	}
	if (f[0] != 0) {
		snprintf(chk->message, sizeof(chk->message), "check script answered status %u",
			 f[0]);
		goto out_consume;
	}
	chk->seats = f[1];
	chk->free_count = f[2];
	chk->held_count = f[3];
	chk->booked_count = f[4];
	chk->double_owned = f[6];
	chk->bitmap_mismatches = f[7];
	if ((uint64_t)f[2] + f[3] + f[4] != f[1] || f[5] != f[3] + f[4])
		snprintf(chk->message, sizeof(chk->message),
			 "free %u + held %u + booked %u vs seats %u, taken bits %u", f[2], f[3],
			 f[4], f[1], f[5]);
	/* Every live hold and booking against the ledger, then every taken seat the other way. */
	uint64_t owned_seats = 0;
	for (uint32_t i = 8; i + 3 <= n;) {
		uint64_t id;
		uint32_t state, count;
		if (hf_resp_to_u64(&items[i], &id) != 0 || item_u32(items, n, i + 1, &state) != 0 ||
		    item_u32(items, n, i + 2, &count) != 0 || i + 3 + count > n) {
			chk->owner_mismatches++;
			break;
		}
		for (uint32_t j = 0; j < count; j++) {
			uint32_t seat;
			if (item_u32(items, n, i + 3 + j, &seat) != 0 || seat >= o->seats) {
				chk->owner_mismatches++;
				continue;
			}
			owned_seats++;
			if (atomic_load(&shared->ledger[seat]) != ((id << 2) | state)) {
				chk->owner_mismatches++;
				if (chk->message[0] == '\0')
					snprintf(
					    chk->message, sizeof(chk->message),
					    "seat %u: redis owner %llu state %u, bench %#llx", seat,
					    (unsigned long long)id, state,
					    (unsigned long long)atomic_load(&shared->ledger[seat]));
			}
		}
		i += 3 + count;
	}
	uint64_t ledger_owned = 0;
	for (uint32_t s = 0; s < o->seats; s++)
		ledger_owned += atomic_load(&shared->ledger[s]) != 0;
	if (ledger_owned != owned_seats) {
		chk->owner_mismatches += ledger_owned > owned_seats ? ledger_owned - owned_seats
								    : owned_seats - ledger_owned;
		if (chk->message[0] == '\0')
			snprintf(chk->message, sizeof(chk->message),
				 "bench ledger owns %llu seats, redis records %llu",
				 (unsigned long long)ledger_owned, (unsigned long long)owned_seats);
	}
out_consume:
	/* The whole reply was in buf, and Redis sends nothing unasked: nothing is left over. */
	HF_ASSERT(used == buf_size);
	rc = 0;
out:
	free(buf);
	free(items);
out_blocking:
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return rc;
}

const struct hf_bench_target hf_bench_target_redis = {
    .name = "redis",
    .open = redis_open,
    .close = redis_close,
    .submit = redis_submit,
    .attach = redis_attach,
    .flush = redis_flush,
    .on_ready = redis_on_ready,
    .in_flight = redis_in_flight,
    .call = redis_call,
    .routing = redis_routing,
    .check = redis_check,
};
