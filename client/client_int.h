/* Internals of libholdfast shared by the client/ sources and tests/client: the client's limits and
 * the address helpers (parse "host:port", resolve, connect with a timeout).
 *
 * Nothing here is part of the public contract (client/holdfast.h is); tests include it to check the
 * bounds and the address parser directly. */
#ifndef HF_CLIENT_CLIENT_INT_H
#define HF_CLIENT_CLIENT_INT_H

#include "client/holdfast.h"
#include "base/assert.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- Limits ---- */

/* Bytes of the largest request frame of each kind. A HOLD with 64 seats is the largest frame of the
 * hot path; SEAT_STATUS with 1024 seats is the largest of all. */
#define HF_CLIENT_HOLD_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + 36u + 4u * HF_HOLD_SEATS_MAX)
#define HF_CLIENT_REQUEST_FRAME_SIZE_MAX                                                           \
	(HF_FRAME_HEADER_SIZE + 12u + 4u * HF_SEAT_STATUS_SEATS_MAX)
#define HF_CLIENT_BACKUP_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + 2u + HF_PATH_SIZE_MAX)

/* Every in-flight request keeps its encoded frame for resending: in a small slot when it fits (all
 * opcodes but large SEAT_STATUS and BACKUP), else in one of a few large slots. */
#define HF_CLIENT_FRAME_SLOT_SIZE 320u
#define HF_CLIENT_BIG_FRAMES_MAX  8u

/* Per connection: the bytes waiting for write(2), and the receive buffer that reassembles frames.
 * The receive buffer starts at _MIN and grows once to _MAX when a frame needs it (a large AVAIL).
 */
#define HF_CLIENT_SEND_BUFFER_SIZE     (64u * 1024u)
#define HF_CLIENT_RECV_BUFFER_SIZE_MIN (64u * 1024u)
#define HF_CLIENT_RECV_BUFFER_SIZE_MAX HF_FRAME_SIZE_MAX

/* The most read(2) calls on one connection in one pass of hf_client_poll, so one busy connection
 * cannot starve the others. */
#define HF_CLIENT_READS_PER_PASS_MAX 16u

/* The largest SLOT_MAP reply: fixed part, every owner with the longest host, the slot table. */
#define HF_CLIENT_MAP_FRAME_SIZE_MAX                                                               \
	(HF_FRAME_HEADER_SIZE + 12u + HF_SLOT_OWNERS_MAX * (3u + HF_HOST_SIZE_MAX) +               \
	 2u * HF_SLOTS_COUNT)

/* Addresses kept per host (getaddrinfo may answer ::1 and 127.0.0.1 for "localhost"). */
#define HF_CLIENT_ADDRS_MAX 4u

/* Backoff before a resend: base << attempt, capped. BUSY / TRY_AGAIN / MOVED-with-a-stale-server
 * use the short one, a refused or failed connect the long one. */
#define HF_CLIENT_BACKOFF_BUSY_MS	 1u
#define HF_CLIENT_BACKOFF_BUSY_MS_MAX	 100u
#define HF_CLIENT_BACKOFF_FREEZE_MS	 2u /* TRY_AGAIN with a deadline: retries not counted */
#define HF_CLIENT_BACKOFF_CONNECT_MS	 10u
#define HF_CLIENT_BACKOFF_CONNECT_MS_MAX 1000u

#define HF_CLIENT_PIPELINE_MAX		  65536u
#define HF_CLIENT_RETRIES_MAX		  1000u		  /* the largest retries_max accepted */
#define HF_CLIENT_BREAKER_TIMEOUTS_MAX	  1000u		  /* the largest breaker_timeouts */
#define HF_CLIENT_BREAKER_COOLDOWN_MS_MAX (3600u * 1000u) /* the largest breaker_cooldown_ms */
#define HF_CLIENT_DEADLINE_MS_MAX	  (24u * 3600u * 1000u) /* the largest deadline_ms accepted */

/* ---- Addresses ---- */

struct hf_client_addrs {
	uint32_t count; /* 0 .. HF_CLIENT_ADDRS_MAX */
	struct sockaddr_storage addrs[HF_CLIENT_ADDRS_MAX];
	socklen_t sizes[HF_CLIENT_ADDRS_MAX];
};

/* Splits "host:port", "[v6-host]:port" into host (NUL-terminated, 1 .. HF_HOST_SIZE_MAX bytes,
 * brackets removed) and port (1 .. 65535, decimal digits only). Returns 0 or -EINVAL. */
int hf_client_parse_addr(const char *host_port, char host_out[HF_HOST_SIZE_MAX + 1],
			 uint16_t *port_out);

/* Resolves host and port (getaddrinfo, TCP) into up to HF_CLIENT_ADDRS_MAX addresses. Returns 0 or
 * -ENXIO when the host has no address. May block on DNS for a non-numeric host. */
int hf_client_resolve(const char *host, uint16_t port, struct hf_client_addrs *out);

/* 1 when a and b are the same IP address and port. */
int hf_client_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Starts a non-blocking TCP connect (TCP_NODELAY, close-on-exec) to addr. Returns the socket (>= 0)
 * with *in_progress_out set when the connect has not completed yet, or -errno. */
int hf_client_connect_start(const struct sockaddr_storage *addr, socklen_t addr_size,
			    int *in_progress_out);

/* Finishes a connect started by hf_client_connect_start once the socket polled writable: returns 0
 * or the connect's -errno. */
int hf_client_connect_finish(int fd);

/* Connects to the first address of addrs that answers within timeout_ms (each), blocking. Returns
 * the non-blocking socket or -errno (of the last address tried). */
int hf_client_connect_timed(const struct hf_client_addrs *addrs, uint32_t timeout_ms);
/* Writes or reads exactly size bytes on a non-blocking socket before deadline_ms (monotonic).
 * Returns 0, -ETIMEDOUT, -ECONNRESET or -errno. */
int hf_client_io_full(int fd, uint8_t *buf, size_t size, int writing, uint64_t deadline_ms);

/* ---- The client's state, shared by the client/ sources ----
 *
 *
 * INVARIANTS
 *  1. An entry is FREE iff its request_id is 0 iff its index is on the free stack; in_flight counts
 *     the caller's entries that are not FREE (at most opts.pipeline_max), internal_count the
 *     client's own (at most 1: the map refresh, refresh_idx); the table has room for both.
 *  2. A live entry's request_id & table_mask is its index; a request id is never reused by the same
 *     client, so a late reply to an ended request matches no entry and is dropped.
 *  3. A QUEUED or SENT entry is on exactly one connection list (entry->conn); a DELAYED entry on
 *     the delayed list, a WAIT_MAP entry on the wait_map list, a FAILED entry on the failed list.
 *  4. On a connection list every SENT entry precedes every QUEUED one, and conn->unsent is the
 *     first QUEUED entry (NONE when there is none). Only an OPEN connection has SENT entries.
 *  5. Deadlines along a connection list never decrease (each is set to now + timeout_ms when the
 *     entry is appended), so the list head is the first request to time out.
 *  6. A CLOSED connection has fd -1 and empty send and receive buffers.
 *  7. attempt <= opts.retries_max: every resend increments it, and a request that would pass the
 *     bound completes instead (with the last reply, or with the last -errno).
 *  8. conns[i] (when not NULL) serves map.owners[i]: same host and port.
 *  9. Every entry that is not FREE is on the age list, in submit order, so expires_ms never
 *     decreases along it; no entry completes later than its expires_ms (the expiry pass fails
 *     it then, whatever list it is on).
 *
 * STATES (entry)
 *   FREE -> QUEUED            entry_route (from submit_entry)
 *   QUEUED -> SENT            conn_flush (frame copied into the send buffer)
 *   SENT -> FREE              on_reply (an answer), entry_deliver
 *   SENT -> DELAYED           on_reply (BUSY, TRY_AGAIN), conn_fail (connect failed)
 *   SENT -> WAIT_MAP          on_reply (MOVED)
 *   WAIT_MAP -> QUEUED | DELAYED   moved_resend (after the map refresh)
 *   DELAYED -> QUEUED         delayed_resend
 *   SENT | QUEUED -> QUEUED   conn_fail (timeout, broken connection): resend
 *   QUEUED -> DELAYED         conn_fail (connect failed: entry_reconnect, until expires_ms)
 *   any -> FAILED -> FREE     entry_fail, failed_deliver (no answer after the retries),
 *                             hf_client_expired_fail (past expires_ms), entry_route (the
 *                             connection's breaker is open: -EHOSTDOWN)
 *   An internal entry (the map refresh) goes the same way, but its answer goes to
 *   hf_client_map_refresh_answered and its failure to hf_client_map_refresh_failed, never to
 *   the caller's callback.
 * STATES (connection)
 *   CLOSED -> CONNECTING -> OPEN   conn_connect, conn_on_connect
 *   CONNECTING | OPEN -> CLOSED    conn_fail
 *   breaker: CLOSED -> OPEN -> HALF_OPEN -> CLOSED | OPEN (client_conn.c) */

#include <poll.h>

#define NONE	   UINT32_MAX
#define OWNER_NONE UINT16_MAX
HF_STATIC_ASSERT(HF_CLIENT_HOLD_FRAME_SIZE_MAX <= HF_CLIENT_FRAME_SLOT_SIZE,
		 "a HOLD frame fits an entry's frame slot");
HF_STATIC_ASSERT(HF_CLIENT_BACKUP_FRAME_SIZE_MAX <= HF_CLIENT_REQUEST_FRAME_SIZE_MAX,
		 "a BACKUP frame fits a large frame slot");
HF_STATIC_ASSERT(HF_CLIENT_REQUEST_FRAME_SIZE_MAX <= HF_CLIENT_SEND_BUFFER_SIZE,
		 "the largest request fits the send buffer");
HF_STATIC_ASSERT(HF_CLIENT_RECV_BUFFER_SIZE_MAX >= HF_FRAME_SIZE_MAX,
		 "the largest reply fits the grown receive buffer");
HF_STATIC_ASSERT(HF_CLIENT_RECV_BUFFER_SIZE_MIN >= HF_CLIENT_MAP_FRAME_SIZE_MAX,
		 "a slot map reply fits the initial receive buffer");
HF_STATIC_ASSERT(HF_SLOT_OWNERS_MAX < OWNER_NONE, "owner indexes fit u16 with a NONE value");
HF_STATIC_ASSERT((HF_CLIENT_PIPELINE_MAX & (HF_CLIENT_PIPELINE_MAX - 1)) == 0,
		 "the largest table is a power of two");

enum entry_state {
	ENTRY_FREE = 0,
	ENTRY_QUEUED,
	ENTRY_SENT,
	ENTRY_DELAYED,
	ENTRY_WAIT_MAP,
	ENTRY_FAILED,
	ENTRY_DETACHED, /* between lists, inside hf_client_conn_fail and hf_client_map_install only
			 */
};

enum conn_state {
	CONN_CLOSED = 0,
	CONN_CONNECTING,
	CONN_OPEN,
};

/* How hf_client_conn_fail counts the connection's requests against their retries. */
enum fail_mode {
	FAIL_CONNECT, /* nothing was sent: every request counts one attempt, then waits a backoff */
	FAIL_BROKEN,  /* requests that were sent count one attempt and resend at once */
	FAIL_TIMEOUT, /* requests past their deadline count one attempt; all resend at once */
	FAIL_MOVE,    /* the owner left the map: resend everything elsewhere, nothing counts */
	FAIL_AUTH,    /* the server refused our token: every request ends with the error */
};

/* A doubly linked list of entries, by index. */
struct list {
	uint32_t head;
	uint32_t tail;
	uint32_t count; /* <= table size */
};

struct entry {
	uint64_t request_id;  /* 0 when FREE */
	uint64_t tag;	      /* the caller's */
	uint64_t event_id;    /* routing key (unused when fixed) */
	uint64_t deadline_ms; /* monotonic; QUEUED, SENT: attempt times out; DELAYED: resend */
	uint64_t route_epoch; /* map epoch when last routed */
	struct conn *conn;    /* QUEUED, SENT: the connection whose list holds the entry */
	uint8_t *frame;	      /* the encoded request, frame_size bytes */
	uint32_t prev;
	uint32_t next;
	uint32_t attempt; /* resends so far, <= retries_max */
	int error;	  /* FAILED: the -errno to deliver */
	uint16_t frame_size;
	uint16_t fixed_owner; /* OWNER_NONE: routed by event_id; else sent to this owner */
	uint8_t big_index;    /* < HF_CLIENT_BIG_FRAMES_MAX when frame is a large slot, else 0xff */
	uint8_t state;	      /* enum entry_state */
	uint8_t opcode;
	uint8_t internal;	   /* 1: the client's own SLOT_MAP refresh, not the caller's */
	uint16_t connect_failures; /* connects that failed for it: the backoff's exponent */
	int last_error;		   /* the last attempt's -errno, 0 before any failure */
	uint64_t expires_ms;	   /* monotonic: submit + opts.deadline_ms; UINT64_MAX none */
	uint32_t age_prev;	   /* the age list: every live entry, in submit order */
	uint32_t age_next;
};

#define BIG_NONE 0xffu

struct conn {
	int fd;	       /* -1 when CLOSED */
	uint8_t state; /* enum conn_state */
	uint16_t owner_index;
	uint16_t port;
	char host[HF_HOST_SIZE_MAX + 1];
	struct hf_client_addrs addrs; /* resolved on first connect; count 0 until then */
	uint32_t addr_index;	      /* next address to try (rotates on failures) */
	uint64_t connect_deadline_ms; /* CONNECTING: give up at this monotonic time */
	struct list list;	      /* SENT then QUEUED entries, in order of their deadlines */
	uint32_t unsent;	      /* first QUEUED entry of list, or NONE */
	uint32_t send_head;	      /* bytes [send_head, send_tail) wait for send(2) */
	uint32_t send_tail;	      /* <= HF_CLIENT_SEND_BUFFER_SIZE */
	uint32_t recv_used;	      /* bytes received and not yet consumed, <= recv_size */
	uint32_t recv_size;	      /* RECV_BUFFER_SIZE_MIN, or _MAX once grown */
	uint8_t *send_buf;
	uint8_t *recv_buf;
	uint8_t breaker_state;	   /* enum hf_breaker_state (OPEN until breaker_open_until_ms) */
	uint32_t breaker_timeouts; /* timeouts in a row, 0 after any answer */
	uint64_t breaker_open_until_ms; /* OPEN: monotonic end of the cool-down */
	uint64_t breaker_trips;		/* times it opened */
	int loop_fd;	      /* event-loop mode: the socket the loop watches for us, or -1 */
	uint32_t loop_events; /* HF_CLIENT_EV_* last reported for loop_fd (0 when loop_fd is -1) */
};

struct hf_client {
	struct hf_client_options opts;
	/* The AUTH frame (request id 0) every new connection sends first; size 0: no token. */
	uint8_t auth_frame[HF_FRAME_HEADER_SIZE + HF_REQ_AUTH_FIXED_SIZE + HF_AUTH_TOKEN_SIZE_MAX];
	uint32_t auth_frame_size;

	/* The address hf_client_open was given: the map source of last resort and the shard that
	 * gets PING, SLOT_MAP, STATS and BACKUP. */
	char home_host[HF_HOST_SIZE_MAX + 1];
	uint16_t home_port;
	uint16_t home_owner; /* its index in map, 0 when it is not in the map */
	struct hf_client_addrs home_addrs;

	struct hf_slot_map map;
	int map_loaded;
	uint64_t moved_epoch;	  /* highest epoch a MOVED reply named */
	uint16_t moved_owner;	  /* the owner that named it (it has that map) */
	uint64_t refreshed_epoch; /* highest MOVED epoch a refresh was made for */
	uint64_t map_retry_at_ms; /* no refresh before this after a failed one */
	/* The asynchronous refresh after MOVED (client_map.c): one SLOT_MAP request of the client's
	 * own, pipelined like the caller's, whose answer is installed at the next pass. */
	uint32_t refresh_idx;		 /* its entry, or NONE */
	uint32_t refresh_tries;		 /* refreshes sent for the current epoch: picks the owner */
	uint64_t refresh_for_epoch;	 /* the MOVED epoch it was sent for */
	int refresh_failed;		 /* it failed: resend the MOVED requests as they are */
	int pending_map_ready;		 /* pending_map holds a fetched map to install */
	struct hf_slot_map *pending_map; /* a fetched map, between its reply and the next pass */
	uint32_t internal_count;	 /* entries of the client's own (0 or 1) */
	/* Every live entry in submit order: expires_ms grows along it (one deadline_ms for all), so
	 * the head is the next to expire. */
	uint32_t age_head;
	uint32_t age_tail;
	struct conn *conns[HF_SLOT_OWNERS_MAX];

	/* The in-flight table: table_mask + 1 entries (a power of two >= pipeline_max). */
	struct entry *entries;
	uint8_t *frames; /* HF_CLIENT_FRAME_SLOT_SIZE bytes per entry */
	uint32_t table_mask;
	uint32_t table_bits;
	uint32_t *free_stack;
	uint32_t free_count;
	uint8_t *big_frames; /* HF_CLIENT_BIG_FRAMES_MAX * HF_CLIENT_REQUEST_FRAME_SIZE_MAX */
	uint8_t big_free[HF_CLIENT_BIG_FRAMES_MAX];
	uint32_t big_free_count;
	uint32_t in_flight;
	uint64_t id_seq; /* request ids are id_seq << table_bits | index */
	uint64_t rng;	 /* splitmix64 state for hf_client_new_id */

	struct list delayed;
	uint64_t delayed_next_ms; /* <= every DELAYED entry's deadline */
	struct list wait_map;
	struct list failed;

	struct hf_reply *reply;	  /* decode target of every reply; public replies point into it */
	struct hf_reply *scratch; /* decode target of slot map fetches */
	uint8_t *map_frame;	  /* HF_CLIENT_MAP_FRAME_SIZE_MAX bytes for a slot map fetch */
	uint8_t *avail_copy;	  /* HF_AVAIL_RANGE_MAX / 8 bytes: a blocking AVAIL's bitmap */

	struct pollfd pfds[HF_SLOT_OWNERS_MAX];
	struct conn *pfd_conns[HF_SLOT_OWNERS_MAX];

	/* Set during hf_client_poll. */
	int in_poll;
	hf_client_completion_fn fn;
	void *fn_arg;
	int delivered;
	uint64_t now_ms;

	/* Event-loop mode (client_loop.c): on between hf_client_loop_attach and _detach. */
	int loop_on;
	struct hf_client_loop loop;
	uint64_t loop_deadline_ms; /* the deadline last given to loop.on_timer; UINT64_MAX: none */

	/* Set during a blocking call: its reply is decoded straight into the caller's struct. */
	uint64_t call_id;
	struct hf_client_reply *call_rep;
};

/* ---- Shared by the client/ sources (one file owns each group) ---- */

/* client_entry.c: the in-flight table's lists and the entry transitions. */
uint64_t hf_client_rng_next(uint64_t *state);
uint32_t hf_client_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms);
/* The same with equal jitter: uniform in [v/2, v] for that v, from c's random state, so that the
 * clients a BUSY shard shed do not all come back at the same instant. */
uint32_t hf_client_backoff_jittered_ms(struct hf_client *c, uint32_t attempt, uint32_t base_ms,
				       uint32_t max_ms);
void hf_client_list_init(struct list *l);
void hf_client_list_push(struct hf_client *c, struct list *l, uint32_t idx);
void hf_client_list_remove(struct hf_client *c, struct list *l, uint32_t idx);
void hf_client_entry_unlink(struct hf_client *c, uint32_t idx);
void hf_client_entry_free(struct hf_client *c, uint32_t idx);
void hf_client_entry_deliver(struct hf_client *c, uint32_t idx, int error,
			     const struct hf_client_reply *rep);
void hf_client_entry_fail(struct hf_client *c, uint32_t idx, int error);
void hf_client_entry_route(struct hf_client *c, uint32_t idx);
void hf_client_entry_delay(struct hf_client *c, uint32_t idx, uint32_t wait_ms);
void hf_client_entry_retry(struct hf_client *c, uint32_t idx, int error, uint32_t wait_ms);
/* A connect failed before the entry was sent: wait a backoff and try again (until expires_ms). */
void hf_client_entry_reconnect(struct hf_client *c, uint32_t idx, int error);
void hf_client_age_push(struct hf_client *c, uint32_t idx);
/* Fails (with -ETIMEDOUT or the last connect error) every entry past its expires_ms. */
void hf_client_expired_fail(struct hf_client *c);

/* client_conn.c: connections, send and receive, reply dispatch. */
struct conn *hf_client_conn_get(struct hf_client *c, uint16_t owner);
void hf_client_conn_destroy(struct hf_client *c, struct conn *conn);
void hf_client_conn_fail(struct hf_client *c, struct conn *conn, int error, enum fail_mode mode);
void hf_client_conn_on_connect(struct hf_client *c, struct conn *conn);
void hf_client_conn_flush(struct hf_client *c, struct conn *conn);
void hf_client_conn_read(struct hf_client *c, struct conn *conn);
/* 1 when the breaker lets a request onto conn now (CLOSED, or the one probe of HALF_OPEN). */
int hf_client_breaker_admit(struct hf_client *c, struct conn *conn);

/* client_map.c: slot map fetch, install and refresh. */
int hf_client_map_fetch(struct hf_client *c, const struct hf_client_addrs *addrs);
void hf_client_map_install(struct hf_client *c, const struct hf_slot_map *m);
int hf_client_map_refresh(struct hf_client *c, uint16_t preferred);
void hf_client_moved_resend(struct hf_client *c);
/* The refresh entry idx (already freed) got no map: try again after MAP_RETRY_MS. */
void hf_client_map_refresh_failed(struct hf_client *c, uint32_t idx);
/* The refresh entry idx (detached) was answered with rep: keep the map for the next pass. */
void hf_client_map_refresh_answered(struct hf_client *c, uint32_t idx, const struct hf_reply *rep);

/* client_engine.c: poll passes and submitting. */
void hf_client_flush_all(struct hf_client *c);
/* The HF_CLIENT_EV_* events conn waits for (0 when it has no socket): write while connecting or
 * while it has bytes or queued requests to send, read while open. */
uint32_t hf_client_conn_events(const struct hf_client *c, const struct conn *conn);
/* Handles poll(2) events rev (not 0) that conn's socket reported. */
void hf_client_conn_on_events(struct hf_client *c, struct conn *conn, short rev);
/* A pass: deliver failures, resend delayed and MOVED requests, time out, flush every connection.
 * Only between hf_client_pass_begin (sets the callback, the clock, in_poll) and _end (returns the
 * completions delivered). */
void hf_client_passes_run(struct hf_client *c);
void hf_client_pass_begin(struct hf_client *c, hf_client_completion_fn fn, void *arg);
int hf_client_pass_end(struct hf_client *c);
/* The next moment the engine has something to do without I/O (a timeout, a resend), or until_ms. */
uint64_t hf_client_next_event_ms(const struct hf_client *c, uint64_t until_ms);
int hf_client_poll_run(struct hf_client *c, int timeout_ms, hf_client_completion_fn fn, void *arg);
int hf_client_submit_entry(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
			   uint64_t tag, uint64_t *request_id_out);
/* The same for the client's own requests: one slot past pipeline_max is theirs. Returns the entry
 * index through *idx_out. */
int hf_client_submit_internal(struct hf_client *c, const struct hf_request *req,
			      uint16_t fixed_owner, uint32_t *idx_out);

/* client_loop.c: reports the sockets' wanted events and the next deadline to the application's
 * loop when they changed (event-loop mode only; a no-op otherwise or inside a pass). */
void hf_client_loop_report(struct hf_client *c);
/* Tells the loop that conn's socket is about to close (called by the connection's close). */
void hf_client_loop_forget(struct hf_client *c, struct conn *conn);

/* client_conn.c: the application's view of a decoded reply: copies the fixed bodies, points the
 * variable-size ones (bitmap, seat list, stats, map) into *wire, which must outlive *out. */
void hf_client_reply_convert(struct hf_client_reply *out, const struct hf_reply *wire);

/* ---- Test hooks ---- */

/* Replaces the client's map with m as it is, even when m is older (a stale client, for tests of
 * MOVED). Requests in flight are resent by the new map. Returns 0, or -EBUSY inside a callback. */
int hf_client_map_force(struct hf_client *client, const struct hf_slot_map *m);

#endif
