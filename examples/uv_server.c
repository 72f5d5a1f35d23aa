/* uv_server: an application server on libuv that sells seats through holdfast without blocking.
 *
 *     uv_server HOLDFAST_HOST:PORT EVENT_ID [LISTEN_PORT]
 *
 * It listens on 127.0.0.1:LISTEN_PORT (0, the default: any free port) and prints
 * "listening 127.0.0.1:<port>" once ready. Each client connection sends lines:
 *     hold USER N      ->  "held HOLD_ID SEAT..." | "refused STATUS" | "error -ERRNO"
 *     confirm HOLD_ID  ->  "confirmed HOLD_ID N" | "refused STATUS" | "error -ERRNO"
 *     quit             ->  the connection closes
 * Every request goes to holdfast through one libholdfast client driven by the libuv loop
 * (<holdfast/adapters/holdfast_uv.h>); many are in flight at once, and answers come back in the
 * order holdfast completes them. Bounds: UV_SERVER_CONNS_MAX connections, UV_SERVER_LINE_SIZE_MAX
 * bytes per line (a longer line closes the connection). tests/client/test_uv.c runs it. */
#include "client/adapters/holdfast_uv.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define UV_SERVER_CONNS_MAX	64u
#define UV_SERVER_LINE_SIZE_MAX 128u
#define UV_SERVER_HOLD_TTL_MS	60000u

struct peer {
	uv_tcp_t tcp; /* tcp.data is the peer */
	uint32_t index;
	uint32_t generation; /* bumped when the slot is reused: late answers are dropped */
	int open;
	uint32_t line_used;
	char line[UV_SERVER_LINE_SIZE_MAX];
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct hf_client *client;
	struct hf_uv *adapter;
	uint64_t event_id;
	struct peer peers[UV_SERVER_CONNS_MAX];
};

static struct server srv;

static void on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

/* Sends text to the peer (copied). A peer that went away is skipped. */
static void peer_send(struct peer *p, const char *text)
{
	if (!p->open)
		return;
	size_t n = strlen(text);
	uv_write_t *req = malloc(sizeof(*req) + n);
	if (req == NULL)
		return;
	char *copy = (char *)(req + 1);
	memcpy(copy, text, n);
	uv_buf_t buf = uv_buf_init(copy, (unsigned)n);
	if (uv_write(req, (uv_stream_t *)&p->tcp, &buf, 1, on_written) != 0)
		free(req);
}

static void on_peer_closed(uv_handle_t *handle)
{
	struct peer *p = handle->data;
	p->generation++;
	p->open = 0;
}

static void peer_close(struct peer *p)
{
	if (!uv_is_closing((uv_handle_t *)&p->tcp))
		uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
}

static void format_hold(char *out, size_t size, const char *verb, const struct hf_rep_hold *h)
{
	int n = snprintf(out, size, "%s %" PRIu64, verb, h->hold_id);
	for (uint32_t i = 0; i < h->seats_count && n > 0 && (size_t)n < size; i++)
		n += snprintf(out + n, size - (size_t)n, " %u", h->seats[i]);
	if (n > 0 && (size_t)n < size - 1)
		snprintf(out + n, size - (size_t)n, "\n");
}

/* A holdfast answer: the tag names the peer slot and its generation. */
static void on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	(void)arg;
	struct peer *p = &srv.peers[(uint32_t)tag % UV_SERVER_CONNS_MAX];
	if ((uint32_t)(tag >> 32) != p->generation || !p->open)
		return;
	char out[1024];
	if (error != 0)
		snprintf(out, sizeof(out), "error %d\n", error);
	else if (rep->status != HF_OK)
		snprintf(out, sizeof(out), "refused %s\n", hf_status_name(rep->status));
	else if (rep->opcode == HF_OP_HOLD)
		format_hold(out, sizeof(out), "held", &rep->hold);
	else
		snprintf(out, sizeof(out), "confirmed %" PRIu64 " %u\n", rep->confirm.hold_id,
			 rep->confirm.seats_count);
	peer_send(p, out);
}

static void submit(struct peer *p, const struct hf_request *req)
{
	uint64_t tag = ((uint64_t)p->generation << 32) | p->index;
	int rc = hf_client_submit(srv.client, req, tag);
	if (rc != 0) {
		char out[64];
		snprintf(out, sizeof(out), "error %d\n", rc);
		peer_send(p, out);
	}
}

static void handle_line(struct peer *p, char *line)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	unsigned long long a = 0;
	unsigned n = 0;
	if (sscanf(line, "hold %llu %u", &a, &n) == 2 && a > 0 && n >= 1 &&
	    n <= HF_HOLD_SEATS_MAX) {
		req.opcode = HF_OP_HOLD;
		req.hold.event_id = srv.event_id;
		req.hold.hold_id = hf_client_new_id(srv.client);
		req.hold.user_id = a;
		req.hold.ttl_ms = UV_SERVER_HOLD_TTL_MS;
		req.hold.mode = HF_HOLD_BEST;
		req.hold.seats_count = n;
		submit(p, &req);
	} else if (sscanf(line, "confirm %llu", &a) == 1 && a > 0) {
		req.opcode = HF_OP_CONFIRM;
		req.confirm.event_id = srv.event_id;
		req.confirm.hold_id = a;
		submit(p, &req);
	} else if (strcmp(line, "quit") == 0) {
		peer_close(p);
	} else {
		peer_send(p, "error bad-request\n");
	}
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	static char chunk[4096];
	(void)suggested;
	*buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct peer *p = stream->data;
	if (nread < 0) {
		peer_close(p);
		return;
	}
	for (ssize_t i = 0; i < nread && p->open && !uv_is_closing((uv_handle_t *)stream); i++) {
		char ch = buf->base[i];
		if (ch != '\n') {
			if (p->line_used + 1 >= UV_SERVER_LINE_SIZE_MAX) {
				peer_close(p); /* a line past the bound */
				return;
			}
			p->line[p->line_used++] = ch;
			continue;
		}
		p->line[p->line_used] = '\0';
		p->line_used = 0;
		handle_line(p, p->line);
	}
}

static void on_reject_closed(uv_handle_t *handle)
{
	free(handle);
}

static void on_connection(uv_stream_t *listener, int status)
{
	if (status < 0)
		return;
	struct peer *p = NULL;
	for (uint32_t i = 0; i < UV_SERVER_CONNS_MAX && p == NULL; i++) {
		if (!srv.peers[i].open)
			p = &srv.peers[i];
	}
	if (p == NULL) {
		/* Full: accept and close at once, so the client sees the refusal. */
		uv_tcp_t *reject = malloc(sizeof(*reject));
		if (reject == NULL)
			return;
		uv_tcp_init(srv.loop, reject);
		uv_accept(listener, (uv_stream_t *)reject);
		uv_close((uv_handle_t *)reject, on_reject_closed);
		return;
	}
	uv_tcp_init(srv.loop, &p->tcp);
	p->tcp.data = p;
	p->open = 1;
	p->line_used = 0;
	if (uv_accept(listener, (uv_stream_t *)&p->tcp) != 0) {
		peer_close(p);
		return;
	}
	uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
}

static int listen_on(uint16_t port)
{
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(srv.loop, &srv.listener);
	int rc = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv.listener, 128, on_connection);
	if (rc != 0)
		return rc;
	struct sockaddr_in bound;
	int len = sizeof(bound);
	uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&bound, &len);
	printf("listening 127.0.0.1:%u\n", ntohs(bound.sin_port));
	fflush(stdout);
	return 0;
}

static void on_signal(uv_signal_t *handle, int signum)
{
	(void)signum;
	uv_stop(handle->loop);
}

/* SIGTERM: stop the loop, detach the adapter, close every handle, then the client. */
static void shutdown_all(uv_signal_t *sig)
{
	hf_uv_destroy(srv.adapter);
	for (uint32_t i = 0; i < UV_SERVER_CONNS_MAX; i++) {
		if (srv.peers[i].open)
			peer_close(&srv.peers[i]);
	}
	uv_close((uv_handle_t *)&srv.listener, NULL);
	uv_close((uv_handle_t *)sig, NULL);
	uv_run(srv.loop, UV_RUN_DEFAULT); /* runs the close callbacks, then has nothing left */
	hf_client_close(srv.client);
	uv_loop_close(srv.loop);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s HOLDFAST_HOST:PORT EVENT_ID [LISTEN_PORT]\n", argv[0]);
		return 2;
	}
	srv.loop = uv_default_loop();
	srv.event_id = strtoull(argv[2], NULL, 10);
	for (uint32_t i = 0; i < UV_SERVER_CONNS_MAX; i++)
		srv.peers[i].index = i;
	int rc = hf_client_open(argv[1], NULL, &srv.client);
	if (rc != 0) {
		fprintf(stderr, "holdfast %s: %s\n", argv[1], strerror(-rc));
		return 2;
	}
	uv_signal_t sig;
	uv_signal_init(srv.loop, &sig);
	uv_signal_start(&sig, on_signal, SIGTERM);
	rc = hf_uv_create(srv.loop, srv.client, on_complete, NULL, &srv.adapter);
	if (rc == 0)
		rc = listen_on(argc == 4 ? (uint16_t)atoi(argv[3]) : 0);
	if (rc != 0) {
		fprintf(stderr, "start: %d\n", rc);
		return 2;
	}
	uv_run(srv.loop, UV_RUN_DEFAULT);
	shutdown_all(&sig);
	return 0;
}
