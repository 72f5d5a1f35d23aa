/* libholdfast: the C client of holdfast.
 *
 * A client connects to any shard of any node, fetches the slot map, and sends each request straight
 * to the shard that owns the request's event (slot = hf_slot_of(event_id), see proto/proto.h). It
 * keeps one TCP connection per owning shard, opened on first use. It follows MOVED by refreshing
 * the map and resending, waits and resends on BUSY and TRY_AGAIN, and resends a request that timed
 * out or whose connection broke, with the same ids: every holdfast operation is idempotent by its
 * ids, so a resend never holds or books twice. A request whose outcome stays unknown after
 * `retries_max` resends or past its overall `deadline_ms` completes with -ETIMEDOUT (or the
 * connection's -errno); the caller may resend it later with the same ids and will get the first
 * answer.
 *
 * Two ways to call:
 * - Blocking: hf_client_call (and the hf_client_<op> wrappers) send one request and wait for its
 *   reply.
 * - Pipelined: hf_client_submit queues many requests (to any events, any shards), hf_client_poll
 * sends them and delivers completions, in any order, to a callback. Use it for throughput.
 *
 * Return convention: functions return 0 or a negative errno for transport problems (the request did
 * not get an answer). When a reply arrived they return 0 and the server's answer is in
 * reply->status (enum hf_status: HF_OK, HF_SEAT_TAKEN, ...). The two spaces never mix. The errnos
 * of a request without an answer: -ETIMEDOUT (attempts or deadline spent), -ECONNREFUSED,
 * -ECONNRESET, -EPIPE (the connection's own), -EPROTO (the server's bytes did not decode or did not
 * answer the request), -EHOSTDOWN (the node's circuit breaker is open: not sent), -EHOSTUNREACH
 * (its shard left the slot map), -ENOMEM. Of the calls themselves: -EINVAL (bad arguments), -EAGAIN
 * (hf_client_submit: pipeline full), -EBUSY (a call not allowed in a callback or in event-loop
 * mode).
 *
 * Thread-safety: a struct hf_client is not thread-safe; use one per thread (they share nothing).
 * Memory: bounded per client, allocated at open: in-flight requests are capped at
 * options.pipeline_max; hf_client_submit answers -EAGAIN past that (poll, then submit again).
 * Each in-flight request keeps its encoded frame for resends: a 320-byte slot per entry of a table
 * of pipeline_max rounded up to a power of two, plus 8 large slots (4 KiB) shared by the rare
 * requests that do not fit (SEAT_STATUS of more than 71 seats, BACKUP); a ninth such request in
 * flight also gets -EAGAIN. Per connection (one per shard used): a 64 KiB send buffer and a 64 KiB
 * receive buffer that grows once to HF_FRAME_SIZE_MAX when a reply needs it. About 170 KiB more per
 * client (the map and a fetched map waiting for installation, reply scratch, the large slots), and
 * 128 KiB on the first blocking AVAIL of a range. No allocation per request; a connection is
 * allocated on first use. The table has one entry more than pipeline_max, reserved for the
 * client's own map refresh.
 *
 * MOVED: the client refreshes its map with a SLOT_MAP request of its own, pipelined on the shard
 * connections like the caller's requests, so a refresh never blocks hf_client_poll past its
 * timeout (nor an event loop); the requests that got MOVED wait for its answer, then go to their
 * new owners.
 *
 * Installed as <holdfast/holdfast.h> (with the wire vocabulary it includes,
 * <holdfast/proto/proto.h> and <holdfast/proto/watch.h>): `pkg-config --cflags --libs holdfast`.
 * The header is self-contained and C++-safe. The library exports the hf_client_* functions
 * declared here, hf_version, and from proto.h the status and opcode vocabulary (hf_status_name,
 * hf_status_message, hf_status_is_retryable, hf_opcode_name, hf_opcode_is_write,
 * hf_request_event_id, and the inline hf_slot_of / hf_avail_bit) and from watch.h
 * hf_watch_kind_name; proto.h's frame codec (hf_request_encode, hf_reply_decode, ...) and
 * its struct hf_reply are the server's and are not part of the library's interface: replies reach
 * the application as struct hf_client_reply.
 *
 * Replies: struct hf_client_reply is small (under 300 bytes: safe on any stack). Its fixed bodies
 * are inline (rep.status, rep.hold.hold_id, rep.confirm.seats_count, rep.event_info.free_count
 * ...). Its variable-size bodies (the AVAIL bitmap, SEAT_STATUS's seat list, STATS's entries, the
 * SLOT_MAP) are pointers into memory owned by the client: after a blocking call they stay valid
 * until the next call on that client (any function taking it but hf_client_new_id,
 * hf_client_in_flight and hf_client_slot_map); in a completion callback, during the callback only.
 * Copy what you keep. */
#ifndef HF_CLIENT_HOLDFAST_H
#define HF_CLIENT_HOLDFAST_H

#include <stddef.h>
#include <stdint.h>

/* The library's version (semantic versioning: a change of MAJOR breaks the API or ABI; while
 * MAJOR is 0, a MINOR step may add fields to struct hf_client_options, so always fill it with
 * hf_client_options_default first). 0.3.0 added batch_max, the waiting room, sections and GA
 * holds, SEAT_INFO, EVENT_SECTIONS and WATCH. */
#define HF_VERSION_MAJOR  0
#define HF_VERSION_MINOR  3
#define HF_VERSION_PATCH  0
#define HF_VERSION_STRING "0.3.0"

/* Marks the functions the shared library exports; everything else in it is hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define HF_EXPORT __attribute__((visibility("default")))
#else
#define HF_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

#include "proto/proto.h"
#include "proto/watch.h"

/* The version of the library linked at run time ("0.3.0"): compare with HF_VERSION_STRING, the
 * version the program was compiled against. Static string; any thread. */
HF_EXPORT const char *hf_version(void);

struct hf_client;

struct hf_client_options {
	uint32_t timeout_ms;   /* per attempt of a request; default 2000 */
	uint32_t retries_max;  /* resends after a timeout, broken connection, BUSY, TRY_AGAIN or
				  MOVED; default 5 */
	uint32_t pipeline_max; /* requests in flight per client, 1 .. 65536; default 1024 */
	uint32_t connect_timeout_ms; /* default 2000 */
	/* The overall bound on one request, from submit to completion: connects, resends, backoffs
	 * and map refreshes included; past it the request completes with -ETIMEDOUT (or the last
	 * connect error, -ECONNREFUSED ...). While it lasts, a request whose connect fails (so it
	 * was certainly not sent) keeps retrying with backoff, without counting against
	 * retries_max: a restarting node has that long to come back. So does a request answered
	 * TRY_AGAIN (its slot is frozen while it moves to another shard): resent every 2 ms. 1 ..
	 * 86400000; default 5000; 0: no overall bound (retries_max and the timeouts alone end a
	 * request, and connect failures count against retries_max). */
	uint32_t deadline_ms;
	/* The per-node circuit breaker (hf_client_breaker): after breaker_timeouts timeouts in a
	 * row on one shard's address (requests or connects that got no answer in time), requests
	 * for it fail at once with -EHOSTDOWN for breaker_cooldown_ms; then one request at a time
	 * goes through as a probe: an answer closes the breaker, a timeout opens it again.
	 * breaker_timeouts 0 .. 1000 (0: no breaker), default 3; breaker_cooldown_ms 0 ..
	 * 3600000, default (and 0) 1000. */
	uint32_t breaker_timeouts;
	uint32_t breaker_cooldown_ms;
	/* A token for servers started with --auth-file: every connection the client opens sends
	 * AUTH with it first. NULL or "" for none (a server without tokens needs none). 1 ..
	 * HF_AUTH_TOKEN_SIZE_MAX bytes, copied by hf_client_open. A server that refuses it makes
	 * every request on that connection complete with -EACCES at once (no resend). */
	const char *auth_token;
	/* Folds requests queued on one connection into BATCH frames of up to batch_max entries
	 * (docs/protocol.md, BATCH): fewer frames and one reply frame per batch, so a pipelined
	 * client costs the server and itself less per request. Only CREATE_EVENT, EVENT_INFO, HOLD,
	 * EXTEND, CONFIRM, RELEASE and CANCEL are folded, and only when two or more of them wait at
	 * once; everything else (retries, MOVED, deadlines, one completion per request) is as
	 * without it. 0 .. HF_BATCH_OPS_MAX (256); 0 and 1: off (the default). */
	uint32_t batch_max;
};

/* ---- Replies as the application sees them ---- */

/* SEAT_STATUS: seats_count entries at seats (client-owned, see the top of this file). */
struct hf_client_seat_status {
	uint32_t seats_count; /* 1 .. HF_SEAT_STATUS_SEATS_MAX */
	const struct hf_seat_info *seats;
};

/* STATS: stats_count entries at stats (client-owned). */
struct hf_client_stats {
	uint16_t stats_count; /* 0 .. HF_STATS_MAX */
	const struct hf_stat *stats;
};

/* USER_HOLDS, USER_BOOKINGS: records_count records at records (client-owned), and the cursor of
 * the next page (both 0: no record left). */
struct hf_client_user_records {
	uint64_t next_seq;
	uint64_t next_id;
	uint32_t records_count; /* 0 .. HF_USER_RECORDS_PAGE_MAX */
	const struct hf_user_record *records;
};

/* The answer to one request. status is the server's (enum hf_status); when it is not HF_OK only
 * detail is meaningful (MOVED's epoch, the offending seat, ...). Otherwise the member named after
 * the request's opcode holds the body. The same field names as the wire bodies of proto.h. */
struct hf_client_reply {
	uint8_t opcode;	     /* enum hf_opcode of the request */
	uint16_t status;     /* enum hf_status */
	uint64_t request_id; /* the client's id of the request */
	union {
		uint64_t detail;
		struct hf_rep_ping ping;
		struct hf_rep_event_info event_info;
		struct hf_rep_hold hold;    /* HOLD */
		struct hf_rep_hold confirm; /* CONFIRM: hold_id is the booking id */
		struct hf_rep_extend extend;
		struct hf_rep_avail avail; /* avail.bitmap: client-owned */
		struct hf_client_seat_status seat_status;
		const struct hf_slot_map *slot_map; /* SLOT_MAP: client-owned */
		struct hf_client_stats stats;
		struct hf_rep_backup backup;
		struct hf_client_user_records user_holds;    /* USER_HOLDS */
		struct hf_client_user_records user_bookings; /* USER_BOOKINGS */
		struct hf_rep_room_position join;	     /* JOIN */
		struct hf_rep_room_position position;	     /* POSITION */
		struct hf_rep_room_info room_info;	     /* ROOM_INFO */
		struct hf_client_seat_status seat_info;	     /* SEAT_INFO: entries carry user_id */
		/* EVENT_SECTIONS: client-owned (about 1 KiB, so not inline). */
		const struct hf_rep_event_sections *event_sections;
		struct hf_rep_watch watch; /* WATCH (hf_client_watch_open) */
	};
};

/* Fills opts with the defaults listed in struct hf_client_options. */
HF_EXPORT void hf_client_options_default(struct hf_client_options *opts);

/* Connects to `host_port` ("127.0.0.1:7070", "[::1]:7070", "localhost:7070"), fetches the slot map
 * and returns a client in *out. opts may be NULL for the defaults. Returns 0, -EINVAL for a bad
 * address or options, -ECONNREFUSED / -ETIMEDOUT / other -errno when no map could be fetched. */
HF_EXPORT int hf_client_open(const char *host_port, const struct hf_client_options *opts,
			     struct hf_client **out);

/* Closes every connection and frees the client. Requests still in flight are dropped without a
 * callback. */
HF_EXPORT void hf_client_close(struct hf_client *client);

/* The map the client routes by (owned by the client, valid until the next refresh). */
HF_EXPORT const struct hf_slot_map *hf_client_slot_map(const struct hf_client *client);

/* Fetches the slot map again from any reachable owner, blocking (each owner tried costs at most
 * connect_timeout_ms + timeout_ms). Returns 0 or -errno; -EBUSY inside a callback. */
HF_EXPORT int hf_client_refresh_map(struct hf_client *client);

/* ---- Blocking ---- */

/* Sends req (request_id is assigned by the client; the caller's value is ignored) to the shard that
 * owns its event (PING, SLOT_MAP and STATS go to the shard `hf_client_open` connected to, unless
 * hf_client_call_shard is used) and waits for the answer. Returns 0 with the answer in *rep, or
 * -errno (-EBUSY while pipelined requests are in flight on the same client, or in a callback). */
HF_EXPORT int hf_client_call(struct hf_client *client, const struct hf_request *req,
			     struct hf_client_reply *rep);

/* Same, sent to owner `owner_index` of the current slot map (for STATS or PING of one shard). */
HF_EXPORT int hf_client_call_shard(struct hf_client *client, uint16_t owner_index,
				   const struct hf_request *req, struct hf_client_reply *rep);

/* Wrappers that fill a request and call hf_client_call. */
HF_EXPORT int hf_client_create_event(struct hf_client *client,
				     const struct hf_req_create_event *args,
				     struct hf_client_reply *rep);
HF_EXPORT int hf_client_event_info(struct hf_client *client, uint64_t event_id,
				   struct hf_client_reply *rep);
HF_EXPORT int hf_client_hold_seats(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
				   uint64_t user_id, uint32_t ttl_ms, const uint32_t *seats,
				   uint32_t seats_count, struct hf_client_reply *rep);
HF_EXPORT int hf_client_hold_best(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
				  uint64_t user_id, uint32_t ttl_ms, uint32_t seats_count,
				  struct hf_client_reply *rep);
HF_EXPORT int hf_client_extend(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
			       uint32_t ttl_ms, struct hf_client_reply *rep);
HF_EXPORT int hf_client_confirm(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
				struct hf_client_reply *rep);
HF_EXPORT int hf_client_release(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
				struct hf_client_reply *rep);
HF_EXPORT int hf_client_cancel(struct hf_client *client, uint64_t event_id, uint64_t booking_id,
			       struct hf_client_reply *rep);
HF_EXPORT int hf_client_avail(struct hf_client *client, uint64_t event_id, uint32_t first,
			      uint32_t count, struct hf_client_reply *rep);

/* A fresh id for holds: unique with very high probability across processes (random 64-bit, never
 * 0). Remember it: resending with the same id is how a retry stays idempotent. */
HF_EXPORT uint64_t hf_client_new_id(struct hf_client *client);

/* ---- Pipelined ---- */

/* Called once per completed request. error is 0 when a reply arrived (reply->status is the answer)
 * or -errno when the request got no answer after its retries (reply is then NULL). The reply is
 * valid only during the call. tag is the caller's value from hf_client_submit. */
typedef void (*hf_client_completion_fn)(void *arg, uint64_t tag, int error,
					const struct hf_client_reply *reply);

/* Queues req (copied) for sending. Returns 0, -EAGAIN when pipeline_max requests are in flight, or
 * -EINVAL for a request that does not encode. Nothing is sent until hf_client_poll (or
 * hf_client_flush; in event-loop mode, until the loop reports the socket writable). */
HF_EXPORT int hf_client_submit(struct hf_client *client, const struct hf_request *req,
			       uint64_t tag);

/* Writes queued requests to their connections without waiting for replies. Returns 0 or -errno. */
HF_EXPORT int hf_client_flush(struct hf_client *client);

/* Sends what is queued, waits up to timeout_ms (0: do not wait, -1: until at least one completes)
 * for replies, handles MOVED / BUSY / TRY_AGAIN / timeouts by resending, and calls fn for each
 * request that completed. Returns the number of completions delivered (>= 0) or -errno for a
 * failure of the client itself; -EINVAL inside a callback, -EBUSY in event-loop mode. */
HF_EXPORT int hf_client_poll(struct hf_client *client, int timeout_ms, hf_client_completion_fn fn,
			     void *arg);

/* Requests submitted and not yet completed. */
HF_EXPORT uint32_t hf_client_in_flight(const struct hf_client *client);

/* Inside a completion callback only hf_client_submit, hf_client_submit_shard, hf_client_new_id,
 * hf_client_in_flight and hf_client_slot_map may be called on the same client; hf_client_poll,
 * hf_client_flush, hf_client_call (and wrappers) and hf_client_refresh_map answer -EINVAL / -EBUSY
 * there, and hf_client_close must not be called. */

/* ---- Additions ---- */

/* Same as hf_client_submit, sent to owner `owner_index` of the current slot map whatever the
 * request (for PING, STATS or BACKUP of every shard in parallel). Also -EINVAL for an owner index
 * past the map. */
HF_EXPORT int hf_client_submit_shard(struct hf_client *client, uint16_t owner_index,
				     const struct hf_request *req, uint64_t tag);

/* SEAT_STATUS of seats_count (1 .. HF_SEAT_STATUS_SEATS_MAX, else -EINVAL) seats of an event,
 * blocking like hf_client_call. */
HF_EXPORT int hf_client_seat_status(struct hf_client *client, uint64_t event_id,
				    const uint32_t *seats, uint32_t seats_count,
				    struct hf_client_reply *rep);

/* ---- The waiting room (docs/protocol.md 6.13, 8.8) ----
 * Blocking like hf_client_call: 0 with rep->status the server's answer, or -errno. JOIN takes a
 * place (or answers the user's existing one); POSITION asks for it. Once rep->join.state is
 * HF_ROOM_ADMITTED, rep->join.token lets the user HOLD until token.expires_ms. Poll POSITION (every
 * second or so) while WAITING; SOLD_OUT means there is nothing left to wait for. */
HF_EXPORT int hf_client_join(struct hf_client *client, uint64_t event_id, uint64_t user_id,
			     struct hf_client_reply *rep);
HF_EXPORT int hf_client_position(struct hf_client *client, uint64_t event_id, uint64_t user_id,
				 struct hf_client_reply *rep);
/* ROOM_SET (admin role with tokens): turns the event's room on or off, sets its parameters. */
HF_EXPORT int hf_client_room_set(struct hf_client *client, uint64_t event_id,
				 const struct hf_room_params *params, struct hf_client_reply *rep);
HF_EXPORT int hf_client_room_info(struct hf_client *client, uint64_t event_id,
				  struct hf_client_reply *rep);
/* HOLD as described by *args (any mode), carrying token (NULL: none, as a plain HOLD). -EINVAL for
 * more than HF_HOLD_SEATS_MAX seats. */
HF_EXPORT int hf_client_hold_with_token(struct hf_client *client, const struct hf_req_hold *args,
					const struct hf_room_token *token,
					struct hf_client_reply *rep);
/* A token as text: the 40 wire bytes in lower-case hex (80 characters), and back. format writes
 * HF_CLIENT_TOKEN_TEXT_SIZE bytes (NUL included); parse returns 0 or -EINVAL. */
#define HF_CLIENT_TOKEN_TEXT_SIZE (2u * HF_ROOM_TOKEN_SIZE + 1u)
HF_EXPORT void hf_client_token_format(const struct hf_room_token *token, char *out);
HF_EXPORT int hf_client_token_parse(const char *text, struct hf_room_token *out);
/* SEAT_INFO: SEAT_STATUS that also names each held or booked seat's user (rep->seat_info),
 * blocking. seats_count 1 .. HF_SEAT_STATUS_SEATS_MAX, else -EINVAL. */
HF_EXPORT int hf_client_seat_info(struct hf_client *client, uint64_t event_id,
				  const uint32_t *seats, uint32_t seats_count,
				  struct hf_client_reply *rep);

/* EVENT_SECTIONS: the event's sections and tiers with their free counts
 * (rep->event_sections, client-owned), blocking. */
HF_EXPORT int hf_client_event_sections(struct hf_client *client, uint64_t event_id,
				       struct hf_client_reply *rep);

/* HOLD with every field of the request (mode EXPLICIT / BEST / ANY, flags, scope: a section, a
 * tier, or a GA section's quantity), blocking. args is copied; -EINVAL when it does not encode. */
HF_EXPORT int hf_client_hold(struct hf_client *client, const struct hf_req_hold *args,
			     struct hf_client_reply *rep);

/* ---- WATCH: an event's changes as they happen ----
 *
 * A watch is a connection of its own to the shard that owns the event (found through the client's
 * slot map), which receives one struct hf_watch_change (proto/watch.h) per seat change of the
 * event, in order, each once it is durable, with consecutive sequence numbers; or a GAP (kind
 * HF_WATCH_GAP) when it fell behind: changes were dropped, re-read the seats (AVAIL,
 * EVENT_SECTIONS) and go on from the GAP's seq. Blocking: hf_client_watch_next waits for the next
 * change. From an event loop: watch hf_client_watch_fd for readability and call
 * hf_client_watch_next(w, 0, ...) until it answers 0. A watch belongs to one thread at a time; it
 * does not use its client after open (close them in any order). Memory: about 90 KiB per watch. */
struct hf_client_watch;

/* Opens a watch of event_id: connects (AUTH with the client's token), sends WATCH and waits for
 * its answer (timeout_ms per attempt; MOVED refreshes the map and tries again, a few times).
 * Returns 0 with the answer in *rep: rep->status HF_OK and *out the watch (rep->watch.seq: the
 * event's last change; the next carries seq + 1), or another status (NO_EVENT, BUSY past the
 * server's --watchers-max, ...) and *out NULL. -errno when no answer came (-ETIMEDOUT, -EACCES for
 * a refused token, -ECONNREFUSED ...). */
HF_EXPORT int hf_client_watch_open(struct hf_client *client, uint64_t event_id, uint32_t timeout_ms,
				   struct hf_client_watch **out, struct hf_client_reply *rep);

/* The next change into *out: 1, 0 when none came within timeout_ms (0: do not wait; -1: wait as
 * long as it takes), -ECONNRESET when the server closed the watch, -EPROTO for a frame that does
 * not decode, -errno. After an error only hf_client_watch_close is left. */
HF_EXPORT int hf_client_watch_next(struct hf_client_watch *watch, int timeout_ms,
				   struct hf_watch_change *out);

/* The watch's socket, to poll for readability. */
HF_EXPORT int hf_client_watch_fd(const struct hf_client_watch *watch);

/* Closes the watch's connection (the server forgets the watcher) and frees it. NULL is a no-op. */
HF_EXPORT void hf_client_watch_close(struct hf_client_watch *watch);

/* Note on AVAIL: in a completion callback reply->avail.bitmap is valid during the call; after a
 * blocking call (hf_client_avail, hf_client_call) it points into memory owned by the client, valid
 * until the next call on that client. */

/* ---- Per-node circuit breaker ---- */

enum hf_breaker_state {
	HF_BREAKER_CLOSED = 0, /* requests flow */
	HF_BREAKER_OPEN = 1,   /* requests fail at once with -EHOSTDOWN until the cool-down ends */
	HF_BREAKER_HALF_OPEN = 2, /* cool-down over: the next request is a probe (one at a time) */
};

struct hf_client_breaker {
	uint8_t state;	      /* enum hf_breaker_state */
	uint32_t timeouts;    /* timeouts in a row on this address, 0 after any answer */
	uint32_t retry_in_ms; /* OPEN: ms until a probe may go; else 0 */
	uint64_t trips;	      /* times the breaker opened since the client opened */
};

/* The breaker of owner owner_index of the current slot map (a shard's host:port) into *out.
 * Returns 0, or -EINVAL for an owner index past the map. An owner not used yet is CLOSED. */
HF_EXPORT int hf_client_breaker(const struct hf_client *client, uint16_t owner_index,
				struct hf_client_breaker *out);

/* ---- Event-loop mode (no thread of the library's own) ----
 *
 * To drive a client from an application's event loop (libuv, libevent, epoll, ...; the adapter
 * <holdfast/adapters/holdfast_uv.h> does it for libuv): attach it with hf_client_loop_attach, then
 *  - watch each socket the client names for the events it names (on_fd tells you every change;
 *    hf_client_fds lists the current set),
 *  - when the loop says a socket is ready, call hf_client_on_ready(client, fd, events),
 *  - keep one timer at hf_client_next_timeout_ms (on_timer tells you every change) and, when it
 *    fires, call hf_client_on_ready(client, -1, 0),
 *  - submit with hf_client_submit / hf_client_submit_shard at any time: nothing blocks, the frames
 *    leave when the loop reports the socket writable (everything submitted in between goes in one
 *    write); completions arrive through on_complete from inside hf_client_on_ready.
 * hf_client_poll answers -EBUSY while attached. Blocking calls still work (they wait inside the
 * call: not what an event loop wants) when nothing is in flight. Connects are non-blocking and so
 * is the slot map refresh after MOVED; only a host name (not an IP literal) is resolved with
 * getaddrinfo, which may block. Same thread rules as the rest of the client: one thread at a
 * time. */

#define HF_CLIENT_EV_READ  0x1u /* the socket is readable / wants reading */
#define HF_CLIENT_EV_WRITE 0x2u /* the socket is writable / wants writing */
#define HF_CLIENT_EV_ERROR 0x4u /* (to hf_client_on_ready only) the loop saw an error or hangup */

struct hf_client_fd {
	int fd;
	uint32_t events; /* HF_CLIENT_EV_READ | HF_CLIENT_EV_WRITE, never 0 */
};

/* fd now wants `events` (READ and/or WRITE). events == 0: stop watching fd, now: the client is
 * about to close it (the same number may come back later for a new socket). */
typedef void (*hf_client_fd_fn)(void *arg, int fd, uint32_t events);

/* The next deadline changed: call hf_client_on_ready(client, -1, 0) in timeout_ms (0: at once,
 * -1: no timer needed). */
typedef void (*hf_client_timer_fn)(void *arg, int timeout_ms);

struct hf_client_loop {
	hf_client_completion_fn on_complete; /* required: every completion, as for hf_client_poll */
	void *complete_arg;
	hf_client_fd_fn on_fd; /* optional (NULL: call hf_client_fds after every library call) */
	void *fd_arg;
	hf_client_timer_fn on_timer; /* optional (NULL: read hf_client_next_timeout_ms yourself) */
	void *timer_arg;
};

/* Puts the client in event-loop mode with these callbacks (copied) and reports its current sockets
 * and timer through them. Returns 0, -EINVAL (no on_complete, already attached) or -EBUSY (inside a
 * callback). The callbacks run on the thread that calls into the client, from inside library calls:
 * they may call hf_client_submit, hf_client_fds and hf_client_next_timeout_ms, nothing else. */
HF_EXPORT int hf_client_loop_attach(struct hf_client *client, const struct hf_client_loop *loop);

/* Leaves event-loop mode: on_fd(fd, 0) for every watched socket and on_timer(-1) first. Requests
 * in flight stay in flight (drive them with hf_client_poll). Returns 0 or -EBUSY in a callback. */
HF_EXPORT int hf_client_loop_detach(struct hf_client *client);

/* The loop says fd is ready for `events` (HF_CLIENT_EV_*), or fd == -1: the timer fired. Does the
 * I/O that is possible without blocking, resends and times out what is due, delivers completions
 * to on_complete, then reports socket and timer changes. An fd the client no longer owns is
 * ignored. Returns the number of completions delivered (>= 0), -EINVAL when not attached, -EBUSY
 * inside a callback. */
HF_EXPORT int hf_client_on_ready(struct hf_client *client, int fd, uint32_t events);

/* Milliseconds until the client needs hf_client_on_ready(client, -1, 0): 0 when something is due
 * now, -1 when nothing is pending, else at most INT32_MAX. Any mode. */
HF_EXPORT int hf_client_next_timeout_ms(const struct hf_client *client);

/* Fills out (up to out_max entries) with the client's sockets and the events each waits for, and
 * returns how many there are (may exceed out_max; at most HF_SLOT_OWNERS_MAX). Any mode; in
 * hf_client_poll mode it is what a poll would wait for after a flush. */
HF_EXPORT uint32_t hf_client_fds(const struct hf_client *client, struct hf_client_fd *out,
				 uint32_t out_max);

#ifdef __cplusplus
}
#endif

#endif
