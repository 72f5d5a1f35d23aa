/* holdfast-http's internals: the bounds, the per-thread worker, the HTTP connection and the calls
 * between its three files.
 *
 * The stack: libuv (Debian's libuv1-dev 1.44) for the event loop and Node's http-parser (Debian's
 * libhttp-parser-dev 2.9.4) for HTTP/1.1. Why these and not libh2o or libmicrohttpd: libholdfast
 * already drives a client from a libuv loop (client/adapters/holdfast_uv.h), so one loop per thread
 * serves both the HTTP sockets and the holdfast connections with no thread hand-off and no lock;
 * http-parser is a small, callback-only parser with no allocation and no I/O of its own, used in
 * production by Node.js for a decade, and leaves every buffer and bound to us. libmicrohttpd
 * brings its own threads and its own loop (the holdfast client would need a second loop and a
 * queue between them); libh2o 2.2 in Debian is an old release of a large library with its own loop
 * (libuv mode exists but pins an old API). llhttp, the parser's successor, is not in Debian 12.
 *
 * Layout: main.c parses options, opens one SO_REUSEPORT listener and one libholdfast client per
 * thread and runs the threads; conn.c owns an HTTP connection (read, parse with limits, write one
 * response at a time, keep-alive, pipelining, close); api.c routes a parsed request, talks to
 * holdfast; reply.c turns holdfast's answer (or its absence) into JSON and an HTTP status. Calls go
 * one way: conn -> api -> reply -> conn's gw_conn_respond (the answer), and libholdfast's
 * completions enter at reply.c.
 *
 * INVARIANTS
 * 1. A connection has at most one request in its hands at a time (state BUSY or WRITING): a
 *    pipelined request waits in the read buffer, the parser paused, so responses leave in request
 *    order without a reorder queue.
 * 2. A holdfast completion finds its connection through the tag (slot index, generation); a slot
 *    whose generation changed (the connection closed) drops the answer.
 * 3. Every buffer of a connection has a fixed size; what does not fit is a 413 / 414 / 431 answer
 *    and a close, never growth.
 * 4. A worker never has more than conns_max open connections; one more is answered 503 and closed.
 *
 * STATES of a connection (conn.c):
 *   READING --(a whole request parsed: conn_on_message_complete)--> BUSY
 *   BUSY --(gw_conn_respond: written at once)--> READING | CLOSING
 *   BUSY --(gw_conn_respond: write queued)--> WRITING --(conn_on_written)--> READING | CLOSING
 *   BUSY | WRITING --(the last response left: conn_linger)--> LINGER
 *   any --(peer closed, read error, linger timer: conn_close)--> CLOSING
 * LINGER exists so that a last response (400, 413, 503 ...) reaches a peer that still sends:
 * closing with unread bytes would send a reset that can destroy the response on its way. */
#ifndef HF_GATEWAY_GATEWAY_INT_H
#define HF_GATEWAY_GATEWAY_INT_H

#include "base/assert.h"
#include "client/holdfast.h"

#include <http_parser.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- Bounds ---- */
#define GW_THREADS_MAX		     256u   /* event loops (one per core) */
#define GW_CONNS_MAX_DEFAULT	     10000u /* open HTTP connections over all threads */
#define GW_CONNS_MAX_LIMIT	     1000000u
#define GW_HEADER_SIZE_MAX	     8192u /* request line + headers of one request: past it 431 */
#define GW_URL_SIZE_MAX		     2048u /* request target: past it 414 */
#define GW_BODY_SIZE_MAX	     16384u /* one request body: past it 413 (64 seats need ~1 KiB) */
#define GW_IDEM_KEY_SIZE_MAX	     255u   /* bytes of an Idempotency-Key: past it 400 */
#define GW_FIELD_SIZE_MAX	     32u    /* header names we look at are shorter */
#define GW_IN_SIZE		     16384u /* bytes read and not yet parsed (pipelined requests) */
#define GW_OUT_SIZE		     24576u /* one response: headers + body */
#define GW_OUT_HEAD_SIZE_MAX	     512u   /* the status line and headers we write */
#define GW_AVAIL_COUNT_MAX	     1024u  /* seats in one ?count= range (ranges fit a response) */
#define GW_PIPELINE_MAX		     4096u  /* holdfast requests in flight per thread */
#define GW_TTL_S_MAX		     86400u /* the largest "ttl" a hold may ask (the engine's cap) */
#define GW_PATH_SEGMENTS_MAX	     6u	    /* /events/{id}/holds/{hold}/confirm has 5 */
#define GW_TOKEN_FILE_SIZE_MAX	     4096u  /* bytes read from --token-file */
#define GW_REJECTS_MAX		     64u    /* connections per thread being answered 503 (full) */
#define GW_SWEEP_MS		     1000u  /* how often idle and slow connections are looked for */
#define GW_IDLE_TIMEOUT_S_DEFAULT    60u    /* keep-alive connection without a request: closed */
#define GW_REQUEST_TIMEOUT_S_DEFAULT 10u    /* a request begun and not complete: closed */
#define GW_LINGER_MS		     1000u /* after a last response: read and drop the peer's bytes */

/* The largest body we format: a hold of 64 seats, or an availability range of
 * GW_AVAIL_COUNT_MAX seats (at most count / 2 + 1 ranges of "[a,b]," with 8-digit numbers). */
#define GW_BODY_OUT_SIZE_MAX (GW_OUT_SIZE - GW_OUT_HEAD_SIZE_MAX)
HF_STATIC_ASSERT((GW_AVAIL_COUNT_MAX / 2 + 1) * 20 + 256 < GW_BODY_OUT_SIZE_MAX,
		 "an availability range answer fits one response");
HF_STATIC_ASSERT(HF_HOLD_SEATS_MAX * 10 + 256 < GW_BODY_OUT_SIZE_MAX, "a hold answer fits");
HF_STATIC_ASSERT(GW_URL_SIZE_MAX < GW_HEADER_SIZE_MAX, "the URL is part of the header bytes");
HF_STATIC_ASSERT(GW_IN_SIZE >= GW_HEADER_SIZE_MAX, "a whole header block fits the read buffer");

struct gw_config {
	char listen_host[64];
	uint16_t listen_port;
	char holdfast_addr[128];
	uint32_t threads_count;			/* 1 .. GW_THREADS_MAX */
	uint32_t conns_max;			/* over all threads, 1 .. GW_CONNS_MAX_LIMIT */
	uint32_t deadline_ms;			/* libholdfast's deadline_ms for every request */
	uint32_t idle_timeout_s;		/* 1 .. 86400 */
	uint32_t request_timeout_s;		/* 1 .. 86400 */
	char token[HF_AUTH_TOKEN_SIZE_MAX + 1]; /* "" when none */
};

enum gw_conn_state {
	GW_CONN_READING = 0,
	GW_CONN_BUSY = 1,
	GW_CONN_WRITING = 2,
	GW_CONN_LINGER = 3, /* last response sent, FIN sent: dropping the peer's bytes until EOF */
	GW_CONN_CLOSING = 4,
};

/* What a parsed request asked for and what api.c needs to answer its holdfast completion. */
enum gw_op {
	GW_OP_NONE = 0,
	GW_OP_HEALTH,
	GW_OP_CREATE_EVENT,
	GW_OP_HOLD,
	GW_OP_AVAIL,
	GW_OP_CONFIRM,
	GW_OP_RELEASE,
};

/* One parsed request, copied out of the read buffer by the parser callbacks. */
struct gw_request {
	uint8_t method;	      /* enum http_method */
	uint32_t header_size; /* bytes of request line + headers so far, <= GW_HEADER_SIZE_MAX */
	uint32_t url_size;    /* <= GW_URL_SIZE_MAX */
	uint32_t body_size;   /* <= GW_BODY_SIZE_MAX */
	uint32_t field_size;  /* the header name being read, <= GW_FIELD_SIZE_MAX */
	uint8_t field_is_key; /* the current header is Idempotency-Key */
	uint8_t in_value;     /* the parser is inside a header value */
	uint8_t key_set;      /* an Idempotency-Key header was seen */
	uint16_t key_size;    /* <= GW_IDEM_KEY_SIZE_MAX + 1 (one more: too long) */
	uint16_t error_http;  /* a limit was passed: answer this code, then close */
	char field[GW_FIELD_SIZE_MAX];
	char key[GW_IDEM_KEY_SIZE_MAX + 1];
	char url[GW_URL_SIZE_MAX + 1];
	char body[GW_BODY_SIZE_MAX + 1]; /* NUL-terminated for the JSON parser's messages */
};

struct gw_worker;

struct gw_conn {
	uv_tcp_t tcp; /* tcp.data is the connection */
	struct gw_worker *worker;
	uint32_t index;	     /* slot in worker->conns */
	uint32_t generation; /* worker->generations[index] at accept */
	uint8_t state;	     /* enum gw_conn_state */
	uint8_t keep_alive;  /* the request in hand allows another one after it */
	uint8_t in_parse;    /* conn_parse is on the stack: a synchronous answer must not recurse */
	uint8_t read_on;     /* uv_read_start is in effect */
	uint8_t in_message;  /* READING: bytes of a request arrived, the request is not complete */
	uint64_t since_ms;   /* loop time of the last response (or accept), of a request's start, or
				of a write's start (WRITING) */
	uint8_t is_reject;   /* accepted past conns_max: answered 503, counted in rejects_count */
	uint8_t timer_on;    /* `timer` was initialised (LINGER) */
	uint8_t handles_open; /* handles still to close before the connection is freed (1 or 2) */
	http_parser parser;   /* parser.data is the connection */
	uint32_t in_used;     /* bytes in `in`, <= GW_IN_SIZE */
	uint32_t out_size;    /* bytes of the response in `out` */
	enum gw_op op;	      /* BUSY: what is asked of holdfast */
	uint64_t event_id;    /* BUSY: the request's event */
	uint64_t hold_id;     /* BUSY: its hold */
	uint32_t avail_first; /* BUSY: GW_OP_AVAIL's range */
	uint32_t avail_count; /* 0: counts only */
	struct hf_req_create_event create; /* BUSY: GW_OP_CREATE_EVENT's arguments */
	uv_write_t write_req;		   /* WRITING */
	uv_shutdown_t shutdown_req;	   /* LINGER */
	uv_timer_t timer;		   /* LINGER: its bound */
	struct gw_request req;
	char in[GW_IN_SIZE];
	char out[GW_OUT_SIZE];
};

struct gw_worker {
	uint32_t index;
	const struct gw_config *config;
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t stop;
	uv_prepare_t prepare; /* before each poll: the timer check of main.c's worker_on_prepare */
	uv_timer_t rescue;    /* the client's timer when the adapter's is not armed */
	uv_timer_t sweep;     /* every GW_SWEEP_MS: gw_conn_sweep */
	int listen_fd;
	struct hf_client *client;
	struct hf_uv *adapter;
	pthread_t thread;
	uint32_t conns_max;	 /* this worker's share of config->conns_max */
	uint32_t conns_count;	 /* open connections, <= conns_max */
	uint32_t rejects_count;	 /* connections being answered 503, <= GW_REJECTS_MAX */
	uint32_t slots_count;	 /* conns_max + GW_REJECTS_MAX: the size of the slot tables */
	uint32_t free_count;	 /* entries of free_slots in use */
	struct gw_conn **conns;	 /* slots_count slots, NULL when free */
	uint32_t *generations;	 /* per slot, bumped when a connection leaves it */
	uint32_t *free_slots;	 /* stack of free slot indexes */
	uint64_t rejected_count; /* connections answered 503 because the worker was full */
	char body[GW_BODY_OUT_SIZE_MAX]; /* scratch for formatting one response body */
};

/* conn.c */
void gw_conn_on_connection(uv_stream_t *listener, int status);
/* Answers the request in hand of c (state BUSY) with `http_status` and the JSON `body`
 * (body_size bytes; copied), with "Retry-After: retry_after_s" when it is not 0. Then reads the
 * next request, or closes when the request or the status asked for it. Loop thread only. */
void gw_conn_respond(struct gw_conn *c, uint16_t http_status, const char *body, size_t body_size,
		     uint32_t retry_after_s);
/* The connection of a completion's tag, or NULL when it closed since (invariant 2). */
struct gw_conn *gw_conn_of_tag(struct gw_worker *w, uint64_t tag);
uint64_t gw_conn_tag(const struct gw_conn *c);
/* Closes the connections of w idle past idle_timeout_s, or in a request begun more than
 * request_timeout_s ago (slow or stalled clients must not keep slots forever). */
void gw_conn_sweep(struct gw_worker *w);
/* Closes every connection of w (shutdown). */
void gw_conn_close_all(struct gw_worker *w);

/* api.c */
/* Routes the parsed request of c (state BUSY): answers at once (bad request, unknown path) or
 * submits one request to holdfast, whose completion reaches gw_reply_on_complete. */
void gw_api_dispatch(struct gw_conn *c);
/* The hold id an Idempotency-Key stands for (the formula is at the top of api.c). */
uint64_t gw_hold_id_of_key(uint64_t event_id, const char *key, size_t key_size);

/* reply.c */
/* libholdfast's completion callback (arg is the worker): answers the connection of the tag. */
void gw_reply_on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep);
/* Answers c with {"status": status, "message": message}. */
void gw_reply_error(struct gw_conn *c, uint16_t http_status, const char *status,
		    const char *message);
/* 400 BAD_REQUEST with a formatted message. */
__attribute__((format(printf, 2, 3))) void gw_reply_bad_request(struct gw_conn *c, const char *fmt,
								...);
/* No answer from holdfast (-errno of a completion or of hf_client_submit): 503 UNAVAILABLE, or
 * 429 BUSY for -EAGAIN (the worker's pipeline to holdfast is full). */
void gw_reply_transport(struct gw_conn *c, int error);

#endif
