/* holdfast-http: the reference HTTP/1.1 JSON service over libholdfast (issue 17).
 *
 *     holdfast-http --listen 127.0.0.1:8080 --holdfast 127.0.0.1:7070 [--threads N]
 *                   [--max-conns N] [--token-file FILE] [--deadline MS]
 *                   [--idle-timeout S] [--request-timeout S]
 *
 * One event loop per thread (default: one per online CPU), each with its own SO_REUSEPORT
 * listener on the same address (the kernel spreads connections over them), its own libholdfast
 * client in event-loop mode (client/adapters/holdfast_uv.h) and its own connections: threads share
 * nothing mutable. Why libuv and http-parser: gateway_int.h. The routes: api.c; the answers and
 * the status table: reply.c; one connection: conn.c.
 *
 * Prints "holdfast-http listening on HOST:PORT" on stdout once every thread serves (with port 0
 * the kernel's choice, for tests). SIGINT / SIGTERM stop it: connections close, requests in
 * flight are dropped, exit 0. Exit 2 for bad options, 1 when holdfast cannot be reached at start
 * or the address cannot be bound. */
#include "gateway/gateway_int.h"

#include "base/log.h"
#include "client/adapters/holdfast_uv.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

static const char USAGE[] =
    "usage: holdfast-http [--listen HOST:PORT] [--holdfast HOST:PORT] [--threads N]\n"
    "                     [--max-conns N] [--token-file FILE] [--deadline MS]\n"
    "                     [--idle-timeout S] [--request-timeout S]\n"
    "  --listen HOST:PORT    where to serve HTTP (default 127.0.0.1:8080; port 0: any)\n"
    "  --holdfast HOST:PORT  any shard of any holdfastd node (default 127.0.0.1:7070)\n"
    "  --threads N           event loops, one per core (default: online CPUs, max 256)\n"
    "  --max-conns N         open HTTP connections in all (default 10000; past it 503)\n"
    "  --token-file FILE     the token for a holdfastd with --auth-file (first line)\n"
    "  --deadline MS         bound on each holdfast request, resends included (default 5000)\n"
    "  --idle-timeout S      close a keep-alive connection without a request (default 60)\n"
    "  --request-timeout S   close a connection whose request is not complete (default 10)\n"
    "Routes (JSON in and out; errors {\"status\":NAME,\"message\":TEXT}):\n"
    "  GET    /healthz\n"
    "  POST   /events                             {\"event_id\",\"seats\",\"row_width\",...}\n"
    "  POST   /events/{id}/holds                  {\"user\",\"seats\":[..] | \"best\":N,\"ttl\"}\n"
    "                                             header Idempotency-Key: the hold id\n"
    "  GET    /events/{id}/seats/available[?first=F&count=C]\n"
    "  POST   /events/{id}/holds/{hold}/confirm\n"
    "  DELETE /events/{id}/holds/{hold}\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "holdfast-http: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", USAGE);
	return 2;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int parse_listen(const char *s, struct gw_config *cfg)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -1;
	const char *host = s;
	size_t host_size = (size_t)(colon - s);
	if (host[0] == '[' && host_size >= 2 && host[host_size - 1] == ']') {
		host++;
		host_size -= 2;
	}
	uint32_t port;
	if (host_size == 0 || host_size >= sizeof(cfg->listen_host) ||
	    parse_u32(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(cfg->listen_host, host, host_size);
	cfg->listen_host[host_size] = '\0';
	cfg->listen_port = (uint16_t)port;
	return 0;
}

/* --token-file: its first line, white space around it dropped. */
static int token_read(const char *path, struct gw_config *cfg)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return usage_error("--token-file: cannot open %s", path);
	char buf[GW_TOKEN_FILE_SIZE_MAX];
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	size_t start = 0, end = line != NULL ? strlen(buf) : 0;
	/* Bounded by the line. */
	while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	while (end > start && strchr(" \t\r\n", buf[end - 1]) != NULL)
		end--;
	if (end == start || end - start > HF_AUTH_TOKEN_SIZE_MAX)
		return usage_error("--token-file %s: the token must have 1..256 bytes", path);
	memcpy(cfg->token, buf + start, end - start);
	cfg->token[end - start] = '\0';
	return 0;
}

static int option_value(int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*out = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*out = argv[++*i];
	return 1;
}

static int option_one(struct gw_config *cfg, int argc, char **argv, int *i)
{
	const char *v = NULL;
	int r;
	if ((r = option_value(argc, argv, i, "--listen", &v)) != 0)
		return r < 0 || parse_listen(v, cfg) != 0
			   ? usage_error("--listen needs HOST:PORT, not %s", r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--holdfast", &v)) != 0) {
		if (r < 0 || strlen(v) >= sizeof(cfg->holdfast_addr) || strchr(v, ':') == NULL)
			return usage_error("--holdfast needs HOST:PORT, not %s",
					   r < 0 ? "nothing" : v);
		strcpy(cfg->holdfast_addr, v);
		return 0;
	}
	if ((r = option_value(argc, argv, i, "--threads", &v)) != 0)
		return r < 0 || parse_u32(v, 1, GW_THREADS_MAX, &cfg->threads_count) != 0
			   ? usage_error("--threads needs 1..256, not %s", r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--max-conns", &v)) != 0)
		return r < 0 || parse_u32(v, 1, GW_CONNS_MAX_LIMIT, &cfg->conns_max) != 0
			   ? usage_error("--max-conns needs 1..1000000, not %s",
					 r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--deadline", &v)) != 0)
		return r < 0 || parse_u32(v, 1, 86400000, &cfg->deadline_ms) != 0
			   ? usage_error("--deadline needs 1..86400000 ms, not %s",
					 r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--idle-timeout", &v)) != 0)
		return r < 0 || parse_u32(v, 1, 86400, &cfg->idle_timeout_s) != 0
			   ? usage_error("--idle-timeout needs 1..86400 s, not %s",
					 r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--request-timeout", &v)) != 0)
		return r < 0 || parse_u32(v, 1, 86400, &cfg->request_timeout_s) != 0
			   ? usage_error("--request-timeout needs 1..86400 s, not %s",
					 r < 0 ? "nothing" : v)
			   : 0;
	if ((r = option_value(argc, argv, i, "--token-file", &v)) != 0)
		return r < 0 ? usage_error("--token-file needs a %s", "FILE") : token_read(v, cfg);
	return usage_error("unknown option %s", argv[*i]);
}

/* Fills cfg from argv. Returns -1 to continue, or the exit status (0 for --help / --version). */
static int options_parse(struct gw_config *cfg, int argc, char **argv)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->listen_host, "127.0.0.1");
	cfg->listen_port = 8080;
	strcpy(cfg->holdfast_addr, "127.0.0.1:7070");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->threads_count = cpus < 1 ? 1 : cpus > GW_THREADS_MAX ? GW_THREADS_MAX : (uint32_t)cpus;
	cfg->conns_max = GW_CONNS_MAX_DEFAULT;
	cfg->deadline_ms = 5000;
	cfg->idle_timeout_s = GW_IDLE_TIMEOUT_S_DEFAULT;
	cfg->request_timeout_s = GW_REQUEST_TIMEOUT_S_DEFAULT;
	/* Bounded by argc. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", USAGE);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("holdfast-http %s\n", HF_VERSION);
			return 0;
		}
		int rc = option_one(cfg, argc, argv, &i);
		if (rc != 0)
			return rc;
	}
	return -1;
}

/* ---- Listeners ---- */

/* A listening socket on host:port with SO_REUSEPORT; the bound port in *port_out. */
static int listener_open(const char *host, uint16_t port, uint16_t *port_out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	int rc = getaddrinfo(host, service, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "holdfast-http: --listen %s: %s\n", host, gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		rc = -errno;
		fprintf(stderr, "holdfast-http: listen on %s:%u: %s\n", host, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* ---- Workers ---- */

static void worker_on_rescue(uv_timer_t *timer)
{
	struct gw_worker *w = timer->data;
	hf_client_on_ready(w->client, -1, 0);
}

/* Runs before the loop blocks. libholdfast reports its timer only when its next deadline changes
 * (client_loop.c, hf_client_loop_report): when the adapter's one-shot timer fired a little before
 * the client's clock reached that deadline, the deadline is unchanged, no new report comes, and
 * with requests in flight the loop would wait forever. So while requests are in flight and the
 * adapter's timer is not armed, keep our own at the client's next deadline. */
static void worker_on_prepare(uv_prepare_t *prepare)
{
	struct gw_worker *w = prepare->data;
	if (hf_client_in_flight(w->client) == 0 ||
	    uv_is_active((uv_handle_t *)&w->adapter->timer)) {
		uv_timer_stop(&w->rescue);
		return;
	}
	int timeout_ms = hf_client_next_timeout_ms(w->client);
	if (timeout_ms >= 0)
		uv_timer_start(&w->rescue, worker_on_rescue, (uint64_t)(timeout_ms + 1), 0);
}

static void worker_on_sweep(uv_timer_t *timer)
{
	gw_conn_sweep(timer->data);
}

static void worker_on_stop(uv_async_t *async)
{
	struct gw_worker *w = async->data;
	uv_close((uv_handle_t *)&w->listener, NULL);
	uv_close((uv_handle_t *)&w->stop, NULL);
	uv_close((uv_handle_t *)&w->prepare, NULL);
	uv_close((uv_handle_t *)&w->rescue, NULL);
	uv_close((uv_handle_t *)&w->sweep, NULL);
	gw_conn_close_all(w);
	hf_uv_destroy(w->adapter);
}

static void *worker_main(void *arg)
{
	struct gw_worker *w = arg;
	char tag[16];
	snprintf(tag, sizeof(tag), "http %u", w->index);
	hf_log_set_thread_tag(tag);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int worker_client_open(struct gw_worker *w)
{
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.pipeline_max = GW_PIPELINE_MAX;
	o.deadline_ms = w->config->deadline_ms;
	o.auth_token = w->config->token[0] != '\0' ? w->config->token : NULL;
	int rc = hf_client_open(w->config->holdfast_addr, &o, &w->client);
	if (rc != 0) {
		fprintf(stderr, "holdfast-http: cannot reach holdfast at %s: %s\n",
			w->config->holdfast_addr, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Everything a worker needs, before its thread starts. Returns 0 or -errno (after a message). */
static int worker_init(struct gw_worker *w)
{
	w->slots_count = w->conns_max + GW_REJECTS_MAX;
	w->conns = calloc(w->slots_count, sizeof(*w->conns));
	w->generations = calloc(w->slots_count, sizeof(*w->generations));
	w->free_slots = calloc(w->slots_count, sizeof(*w->free_slots));
	if (w->conns == NULL || w->generations == NULL || w->free_slots == NULL)
		return -ENOMEM;
	/* Bounded by slots_count; slot 0 on top. */
	for (uint32_t i = 0; i < w->slots_count; i++)
		w->free_slots[i] = w->slots_count - 1 - i;
	w->free_count = w->slots_count;
	int rc = worker_client_open(w);
	if (rc != 0)
		return rc;
	HF_ASSERT(uv_loop_init(&w->loop) == 0);
	HF_ASSERT(uv_tcp_init(&w->loop, &w->listener) == 0);
	w->listener.data = w;
	HF_ASSERT(uv_async_init(&w->loop, &w->stop, worker_on_stop) == 0);
	w->stop.data = w;
	if (uv_tcp_open(&w->listener, w->listen_fd) != 0 ||
	    uv_listen((uv_stream_t *)&w->listener, LISTEN_BACKLOG, gw_conn_on_connection) != 0) {
		fprintf(stderr, "holdfast-http: libuv refused the listening socket\n");
		return -EINVAL;
	}
	rc = hf_uv_create(&w->loop, w->client, gw_reply_on_complete, w, &w->adapter);
	if (rc != 0) {
		fprintf(stderr, "holdfast-http: event-loop mode: %s\n", strerror(-rc));
		return rc;
	}
	HF_ASSERT(uv_timer_init(&w->loop, &w->rescue) == 0);
	w->rescue.data = w;
	HF_ASSERT(uv_prepare_init(&w->loop, &w->prepare) == 0);
	w->prepare.data = w;
	HF_ASSERT(uv_prepare_start(&w->prepare, worker_on_prepare) == 0);
	HF_ASSERT(uv_timer_init(&w->loop, &w->sweep) == 0);
	w->sweep.data = w;
	HF_ASSERT(uv_timer_start(&w->sweep, worker_on_sweep, GW_SWEEP_MS, GW_SWEEP_MS) == 0);
	return 0;
}

/* After the thread ended: the loop ran its closes; free what the worker owns. */
static void worker_deinit(struct gw_worker *w)
{
	uv_run(&w->loop, UV_RUN_DEFAULT); /* closes still queued, if any */
	HF_ASSERT(uv_loop_close(&w->loop) == 0);
	hf_client_close(w->client);
	free(w->conns);
	free(w->generations);
	free(w->free_slots);
}

/* Start failures exit at once: nothing is serving yet, and the process's memory goes with it. */
static void start_failed(void)
{
	fflush(stdout);
	_exit(1);
}

static struct gw_worker *workers_start(const struct gw_config *cfg, uint16_t *port_out)
{
	struct gw_worker *ws = calloc(cfg->threads_count, sizeof(*ws));
	if (ws == NULL)
		start_failed();
	uint16_t port = cfg->listen_port;
	uint32_t share = (cfg->conns_max + cfg->threads_count - 1) / cfg->threads_count;
	/* Bounded by threads_count. The first listener fixes the port (the kernel's, for 0). */
	for (uint32_t i = 0; i < cfg->threads_count; i++) {
		struct gw_worker *w = &ws[i];
		w->index = i;
		w->config = cfg;
		w->conns_max = share;
		w->listen_fd = listener_open(cfg->listen_host, port, &port);
		if (w->listen_fd < 0 || worker_init(w) != 0)
			start_failed();
	}
	/* Bounded by threads_count. */
	for (uint32_t i = 0; i < cfg->threads_count; i++) {
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "holdfast-http: pthread_create failed\n");
			start_failed();
		}
	}
	*port_out = port;
	return ws;
}

int main(int argc, char **argv)
{
	struct gw_config cfg;
	int rc = options_parse(&cfg, argc, argv);
	if (rc >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	/* SIGINT and SIGTERM reach main's sigwait only: the loops' threads inherit the mask. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	uint16_t port;
	struct gw_worker *ws = workers_start(&cfg, &port);
	const char *fmt = strchr(cfg.listen_host, ':') != NULL ? "[%s]:%u" : "%s:%u";
	char where[96];
	snprintf(where, sizeof(where), fmt, cfg.listen_host, port);
	printf("holdfast-http listening on %s (%u threads, holdfast %s)\n", where,
	       cfg.threads_count, cfg.holdfast_addr);
	fflush(stdout);
	int sig = 0;
	sigwait(&stop_signals, &sig);
	/* Bounded by threads_count. */
	for (uint32_t i = 0; i < cfg.threads_count; i++)
		uv_async_send(&ws[i].stop);
	for (uint32_t i = 0; i < cfg.threads_count; i++) {
		pthread_join(ws[i].thread, NULL);
		worker_deinit(&ws[i]);
	}
	free(ws);
	return 0;
}
