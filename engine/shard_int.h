/* Internals of a shard thread, shared by shard.c (thread, loop, group commit), conn.c (connections:
 * framing, buffers, send, close) and ops.c (one request: route, apply, reply). Nothing outside
 * engine/ includes this header.
 *
 * One shard = one pinned thread = one io_uring. Everything below belongs to that thread; the only
 * things it shares with other threads are the read-only config and the stop eventfd. */
#ifndef HF_ENGINE_SHARD_INT_H
#define HF_ENGINE_SHARD_INT_H

#include "engine/config.h"
#include "engine/uring.h"
#include "proto/proto.h"
#include "shards/persist.h"
#include "shards/slotmap.h"
#include "shards/store.h"

#include <stdint.h>

/* ---- Bounds ---- */
#define HF_SHARD_SQ_ENTRIES		  1024u
#define HF_SHARD_CQ_ENTRIES		  8192u
#define HF_SHARD_RECV_BUFS_COUNT	  512u /* provided buffers per shard (power of 2) */
#define HF_SHARD_RECV_BUF_SIZE		  (16u * 1024u) /* bytes per provided buffer */
#define HF_SHARD_CQES_PER_ITER_MAX	  4096u		/* completions handled per loop iteration */
#define HF_SHARD_CONN_FRAMES_PER_ITER_MAX 1024u		/* frames of one connection per iteration */
#define HF_SHARD_CHANGES_MAX		  4096u		/* change records per group commit */
#define HF_SHARD_BATCH_REPLIES_MAX	  16384u	/* store replies per group commit */
#define HF_SHARD_TICK_EXPIRIES_MAX	  512u		/* holds expired by one hf_store_tick */
#define HF_SHARD_WAIT_MS_MAX		  1000u		/* longest sleep of the loop */
#define HF_SHARD_IDLE_SCAN_MS		  1000u		/* period of the idle-connection scan */
#define HF_SHARD_DRAIN_MS		  2000u /* time given to pending sends at shutdown */
#define HF_SHARD_RETRY_MS		  1000u /* accept re-arm / store reload retry delay */
#define HF_CONN_BUF_SIZE_FIRST		  (16u * 1024u) /* first allocation of a connection buffer */
#define HF_CONN_STASH_STOP_SIZE		  (64u * 1024u) /* unprocessed input that stops reading */
/* Unprocessed input one connection may hold: a whole frame past the stop size, plus what the kernel
 * may still deliver before a cancelled recv ends. Past it the connection is closed. */
#define HF_CONN_STASH_SIZE_MAX (HF_CONN_STASH_STOP_SIZE + HF_FRAME_SIZE_MAX + 2u * 1024u * 1024u)
#define HF_CONN_GEN_MASK       0xffffffu /* generation bits kept in user_data */

HF_STATIC_ASSERT(HF_SHARD_CHANGES_MAX >= HF_OP_CHANGES_MAX, "a batch holds at least one op");
HF_STATIC_ASSERT(HF_SHARD_RECV_BUF_SIZE >= HF_FRAME_HEADER_SIZE, "a buffer holds a header");
HF_STATIC_ASSERT(HF_CONN_STASH_SIZE_MAX > HF_FRAME_SIZE_MAX, "the stash holds a whole frame");

/* ---- user_data of every SQE: kind (8 bits) | generation (24 bits) | connection index (32 bits) */
enum hf_ud_kind {
	HF_UD_ACCEPT = 1,
	HF_UD_RECV = 2,
	HF_UD_SEND = 3,
	HF_UD_CANCEL = 4, /* completions of our cancel requests: ignored */
	HF_UD_WAKE = 5,	  /* the stop eventfd became readable */
};

static inline uint64_t hf_ud_make(enum hf_ud_kind kind, uint32_t conn_index, uint32_t gen)
{
	return (uint64_t)conn_index << 32 | (uint64_t)(gen & HF_CONN_GEN_MASK) << 8 |
	       (uint64_t)kind;
}
static inline enum hf_ud_kind hf_ud_kind(uint64_t ud)
{
	return (enum hf_ud_kind)(ud & 0xff);
}
static inline uint32_t hf_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & HF_CONN_GEN_MASK;
}
static inline uint32_t hf_ud_conn(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

/* A growable byte buffer. size <= cap; data == NULL iff cap == 0. */
struct hf_bytes {
	uint8_t *data;
	uint32_t size;
	uint32_t cap;
};

/* Connection states.
 *
 * STATES:
 *   FREE --hf_conn_on_accept--> OPEN --hf_conn_close--> CLOSING
 *   CLOSING --hf_conn_settle, once no op of it is in the kernel--> FREE
 * A slot is freed only in hf_conn_settle, at the end of an iteration, so within one iteration (one
 * group commit) a slot index always names the same connection. */
enum hf_conn_state {
	HF_CONN_FREE = 0,
	HF_CONN_OPEN = 1,
	HF_CONN_CLOSING = 2,
};

struct hf_conn {
	int fd;	      /* -1 when FREE */
	uint32_t gen; /* bumped when the slot is freed; stale completions carry an older one */
	uint8_t state;
	uint8_t recv_armed;	  /* a multishot recv is live in the kernel */
	uint8_t recv_cancel_sent; /* ... and a cancel for it was queued */
	uint8_t send_inflight;	  /* a send of out[out_off..] is in the kernel */
	uint8_t read_eof;	  /* the peer finished sending */
	uint8_t doomed;		  /* a fatal frame was answered: process nothing more, close once
				     the replies are sent */
	uint8_t parked; /* its queued replies reached the bound: not read, not processed */
	/* List memberships (they belong to the slot and survive reuse). */
	uint8_t on_touched;
	uint8_t on_ready;
	uint8_t on_batch;
	uint32_t frames_iter; /* frames processed in iteration frames_iter_stamp */
	uint64_t frames_iter_stamp;
	uint64_t active_ms; /* monotonic ms of the last input or send progress */
	/* Input received but not processed yet: stash.data[stash_off .. stash.size). */
	struct hf_bytes stash;
	uint32_t stash_off;
	/* Replies gathered this iteration (and earlier ones while a send was in flight). */
	struct hf_bytes fill;
	/* Replies handed to the kernel: out.data[out_off .. out.size) is still to send. Never
	 * reallocated while send_inflight. */
	struct hf_bytes out;
	uint32_t out_off;
	/* Group commit bookkeeping (valid while on_batch): where this batch's replies start in
	 * fill, and the chain of its store replies in shard->batch_replies (index + 1; 0 = none).
	 */
	uint32_t batch_start;
	uint32_t batch_first;
	uint32_t batch_last;
	uint32_t free_next; /* index + 1 of the next FREE slot; 0 = none */
};

/* A store reply of the current batch: rewritten to HF_ERR_IO if the batch fails to commit. */
struct hf_batch_reply {
	uint32_t offset; /* in the connection's fill */
	uint32_t next;	 /* index + 1 of the next reply of the same connection; 0 = none */
};

struct hf_shard_counters {
	uint64_t conns_accepted;
	uint64_t conns_rejected;
	uint64_t conns_closed;
	uint64_t conns_closed_idle;
	uint64_t conns_closed_protocol;
	uint64_t conns_parked; /* times a connection stopped being read because of its replies */
	uint64_t input_overflows;
	uint64_t frames_in;
	uint64_t frames_out;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t ops[256]; /* by opcode, decoded requests only */
	uint64_t ops_unknown;
	uint64_t replies_error; /* status != HF_OK */
	uint64_t replies_moved;
	uint64_t replies_busy;
	uint64_t replies_io;
	uint64_t iterations;
	uint64_t commits;
	uint64_t commit_ops; /* store ops answered by committed batches */
	uint64_t commit_failures;
	uint64_t store_reloads;
	uint64_t holds_expired_tick;
	uint64_t recv_enobufs;
};

struct hf_shard {
	uint32_t index;
	const struct hf_engine_config *cfg;
	int wake_fd; /* the process's stop eventfd (not owned) */

	struct io_uring ring;
	enum hf_ring_mode ring_mode;
	int ring_ready;
	struct hf_buf_ring bufs;
	int listen_fd;
	uint8_t accept_armed;
	uint8_t wake_armed;
	uint64_t accept_retry_ms; /* monotonic; 0 = re-arm at once */

	struct hf_conn *conns; /* cfg->connections_max slots */
	uint32_t conns_max;
	uint32_t conns_open;
	uint32_t free_head; /* index + 1; 0 = none */
	/* Slot lists, each at most conns_max long (a slot is on a list at most once). */
	uint32_t *touched; /* had an event this iteration: flush and settle at its end */
	uint32_t touched_count;
	uint32_t *ready; /* hold a complete frame not processed yet */
	uint32_t ready_count;
	uint32_t *batch_conns; /* have replies in the current batch */
	uint32_t batch_conns_count;

	struct hf_batch_reply *batch_replies; /* HF_SHARD_BATCH_REPLIES_MAX */
	uint32_t batch_replies_count;
	uint32_t batch_ops; /* store ops in the current batch */

	struct hf_store *store; /* NULL while a reload after a failed commit has not succeeded */
	uint64_t store_retry_ms;
	struct hf_persist *persist;
	struct hf_changes changes;
	uint8_t degraded; /* the last commit failed or the store could not be reloaded */

	struct hf_slot_map map;
	uint16_t owner_index; /* this shard's entry in map.owners */
	uint8_t *map_frame;   /* the SLOT_MAP reply, encoded once (request id 0) */
	uint32_t map_frame_size;

	struct hf_request req;	 /* the request being handled (large: one per shard) */
	struct hf_reply rep;	 /* its reply */
	struct hf_bytes scratch; /* cold path: rewriting a failed batch's replies */

	uint64_t now_ms;  /* wall clock of this iteration (the store's clock) */
	uint64_t mono_ms; /* monotonic clock of this iteration */
	uint64_t start_mono_ms;
	uint64_t iteration;
	uint64_t idle_scan_ms;
	int stopping;
	uint64_t stop_deadline_ms;
	int fatal; /* the loop hit an error it cannot go on from */

	struct hf_shard_counters c;
};

/* ---- shard.c ---- */
/* An SQE, submitting queued ones first when the SQ is full. Never NULL. */
struct io_uring_sqe *hf_shard_sqe(struct hf_shard *s);
/* Ends the current group commit: persists its changes (if any) and, when that fails, answers every
 * store op of the batch with HF_ERR_IO and reloads the store from disk. */
void hf_shard_commit(struct hf_shard *s);

/* ---- conn.c ---- */
void hf_conn_on_accept(struct hf_shard *s, int fd);
void hf_conn_on_recv(struct hf_shard *s, struct hf_conn *c, const struct io_uring_cqe *cqe);
void hf_conn_on_send(struct hf_shard *s, struct hf_conn *c, int res);
/* Processes the stash of a connection on the ready list. */
void hf_conn_pump(struct hf_shard *s, struct hf_conn *c);
/* End of iteration, after the commit: hands gathered replies to the kernel, starts or stops
 * reading, closes what should close, frees closed slots, and puts connections with pending frames
 * on the ready list. */
void hf_conn_settle(struct hf_shard *s, struct hf_conn *c);
/* Starts closing (idempotent): stops reading and sending; the slot is freed by hf_conn_settle. */
void hf_conn_close(struct hf_shard *s, struct hf_conn *c, const char *why);
void hf_conn_touch(struct hf_shard *s, struct hf_conn *c);
/* Appends an encoded reply to c->fill. Returns its offset there, or -ENOMEM (the connection is then
 * closing). */
int64_t hf_conn_reply(struct hf_shard *s, struct hf_conn *c, const struct hf_reply *rep);
/* Appends pre-encoded frame bytes (request id patched) to c->fill. Returns 0 or -ENOMEM. */
int hf_conn_reply_raw(struct hf_shard *s, struct hf_conn *c, const uint8_t *frame, uint32_t size,
		      uint64_t request_id);
/* Records that the reply at offset of c->fill answers a store op of the current batch. */
void hf_conn_batch_note(struct hf_shard *s, struct hf_conn *c, uint32_t offset);
/* The current batch failed to commit: rewrites its store replies to HF_ERR_IO. */
void hf_conn_batch_fail(struct hf_shard *s);
/* Forgets the current batch's bookkeeping (after a commit, successful or not). */
void hf_conn_batch_reset(struct hf_shard *s);
/* Reply bytes queued on c (in flight + gathered). */
static inline uint64_t hf_conn_queued(const struct hf_conn *c)
{
	return (uint64_t)(c->out.size - c->out_off) + c->fill.size;
}
void hf_conn_free_buffers(struct hf_conn *c);

/* ---- ops.c ---- */
/* Handles one whole frame whose header decoded as HF_OK: decode, route, apply, reply. */
void hf_ops_handle(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *header,
		   const uint8_t *body);
/* Answers `status` (detail) to a request that got no further (opcode and id echoed). */
void hf_ops_reply_error(struct hf_shard *s, struct hf_conn *c, uint8_t opcode, uint64_t request_id,
			uint16_t status, uint64_t detail);

#endif
