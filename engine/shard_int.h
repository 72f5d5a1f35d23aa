/* Internals of a shard thread, shared by shard.c (thread, loop, the batch pipeline), conn.c
 * (connections: framing, buffers, held replies, send, close) and ops.c (one request: route, apply
 * into the open batch, the reply). Nothing outside engine/ includes this header.
 *
 * Calls go one way: shard.c -> conn.c -> ops.c. ops.c returns its answer (struct hf_ops_result) to
 * conn.c, which appends the reply; conn.c and ops.c never seal or commit a batch: they only read
 * the batch state below and, when the open batch has no room, say so (open_full), and shard.c
 * seals it at the end of the iteration.
 *
 * One shard = one pinned thread = one io_uring, plus one persist thread (engine/durable.h) that
 * writes sealed batches. Everything below belongs to the shard thread; it shares with other
 * threads only the read-only config, the stop eventfd and the durable queues. */
#ifndef HF_ENGINE_SHARD_INT_H
#define HF_ENGINE_SHARD_INT_H

#include "engine/config.h"
#include "engine/durable.h"
#include "engine/latency.h"
#include "engine/move.h"
#include "engine/pool.h"
#include "engine/ratelimit.h"
#include "engine/repl.h"
#include "engine/uring.h"
#include "proto/proto.h"
#include "shards/persist.h"
#include "shards/slotmap.h"
#include "shards/store.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

struct hf_watch;

/* ---- Bounds ---- */
#define HF_SHARD_SQ_ENTRIES		  1024u
#define HF_SHARD_CQ_ENTRIES		  8192u
#define HF_SHARD_RECV_BUFS_COUNT	  512u /* provided buffers per shard (power of 2) */
#define HF_SHARD_RECV_BUF_SIZE		  (16u * 1024u) /* bytes per provided buffer */
#define HF_SHARD_CQES_PER_ITER_MAX	  4096u		/* completions handled per loop iteration */
#define HF_SHARD_CONN_FRAMES_PER_ITER_MAX 1024u		/* frames of one connection per iteration */
#define HF_SHARD_CHANGES_MAX		  4096u		/* change records per batch */
/* Batches a shard has at once: the open one plus those sealed and not durable yet. Two in flight
 * keep the disk busy (the persist thread starts batch N+1 as soon as N is synced) while the open
 * batch gathers the ops that arrive meanwhile (group commit). */
#define HF_SHARD_BATCHES_INFLIGHT_MAX 2u
#define HF_SHARD_BATCHES_MAX	      (HF_SHARD_BATCHES_INFLIGHT_MAX + 1u)
/* Buckets of the table that remembers, per event hash, the last batch that wrote the event. */
#define HF_SHARD_DIRTY_BUCKETS 16384u
/* An open batch with this many changes is sealed even while another batch is in flight. */
#define HF_SHARD_BATCH_SEAL_CHANGES (HF_SHARD_CHANGES_MAX / 2u)
#define HF_SHARD_TICK_EXPIRIES_MAX  512u	  /* holds expired by one hf_store_tick */
#define HF_SHARD_WAIT_MS_MAX	    1000u	  /* longest sleep of the loop */
#define HF_SHARD_IDLE_SCAN_MS	    1000u	  /* period of the idle-connection scan */
#define HF_SHARD_DRAIN_MS	    2000u	  /* time given to pending sends at shutdown */
#define HF_SHARD_RETRY_MS	    1000u	  /* accept re-arm / store reload retry delay */
#define HF_CONN_STASH_STOP_SIZE	    (64u * 1024u) /* unprocessed input that stops reading */
/* With --etcd, how long a starting shard answers TRY_AGAIN while it waits for the cluster's map
 * (a restarted source of a flipped move must not serve the slot from its old persisted map);
 * then it serves with the map it has (etcd unreachable). */
#define HF_SHARD_MAP_WAIT_MS 3000u
/* Unprocessed input one connection may hold: a whole frame past the stop size, plus what the kernel
 * may still deliver before a cancelled recv ends. Past it the connection is closed. */
#define HF_CONN_STASH_SIZE_MAX (HF_CONN_STASH_STOP_SIZE + HF_FRAME_SIZE_MAX + 2u * 1024u * 1024u)
#define HF_CONN_GEN_MASK       0xffffffu /* generation bits kept in user_data */

/* Held replies whose latency one batch records when it completes (more are counted, not timed). */
#define HF_SHARD_BATCH_LAT_MAX 16384u
/* A BATCH reply is built in one shard buffer this big (ops.c), and a failed batch's BATCH replies
 * are rewritten there (conn.c: every entry then has the 8-byte error body). */
#define HF_SHARD_BATCH_OUT_SIZE (HF_FRAME_HEADER_SIZE + HF_BATCH_REPLY_BODY_MAX)
HF_STATIC_ASSERT(HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE +
			 HF_BATCH_OPS_MAX * (HF_BATCH_ENTRY_HEADER_SIZE + HF_ERROR_BODY_SIZE) <=
		     HF_SHARD_BATCH_OUT_SIZE,
		 "a BATCH reply of error entries fits the BATCH buffer");

/* Held reply segments of one connection: one per distinct batch a reply waits for. */
#define HF_CONN_SEGS_MAX HF_SHARD_BATCHES_MAX

HF_STATIC_ASSERT(HF_SHARD_CHANGES_MAX >= HF_OP_CHANGES_MAX, "a batch holds at least one op");
HF_STATIC_ASSERT(HF_SHARD_CHANGES_MAX == HF_ENGINE_BATCH_CHANGES_MAX, "one limit, two names");
HF_STATIC_ASSERT(HF_SHARD_BATCHES_MAX + 3u <= HF_DURABLE_JOBS_MAX,
		 "every batch in flight, a reload, a reopen and a map write fit the persist queue");
/* owner_index when the slot map names no slot for this shard (a cluster moved them all away). */
#define HF_SHARD_OWNER_NONE UINT16_MAX
HF_STATIC_ASSERT((HF_SHARD_DIRTY_BUCKETS & (HF_SHARD_DIRTY_BUCKETS - 1u)) == 0,
		 "the dirty table is indexed with a mask");
HF_STATIC_ASSERT(HF_SHARD_RECV_BUF_SIZE >= HF_FRAME_HEADER_SIZE, "a buffer holds a header");
HF_STATIC_ASSERT(HF_CONN_STASH_SIZE_MAX > HF_FRAME_SIZE_MAX, "the stash holds a whole frame");

/* ---- user_data of every SQE: kind (8 bits) | generation (24 bits) | connection index (32 bits) */
enum hf_ud_kind {
	HF_UD_ACCEPT = 1,
	HF_UD_RECV = 2,
	HF_UD_SEND = 3,
	HF_UD_CANCEL = 4,  /* completions of our cancel requests: ignored */
	HF_UD_WAKE = 5,	   /* the stop eventfd became readable */
	HF_UD_DURABLE = 6, /* the persist thread completed jobs (its eventfd was read) */
	HF_UD_MAP = 7,	   /* a new slot map was posted (its eventfd was read) */
	HF_UD_REPL = 8,	   /* replica: the follow thread handed frames over (engine/repl.h) */
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
	uint8_t parked;	     /* its queued replies reached the bound: not read, not processed */
	uint8_t pool_wait;   /* the buffer pool had no room for its next reply: waits for a put */
	uint8_t role;	     /* enum hf_role: what AUTH gave (ADMIN on a server without tokens) */
	uint8_t frames_seen; /* it sent at least one whole frame */
	uint8_t repl_stream; /* a replica subscribed on it (engine/repl.c): its ACKs always flow */
	uint64_t frame_since_ms; /* monotonic ms since when a frame is begun and not complete (or
				    the connection waits for its first); 0: none */
	uint64_t pool_wait_puts; /* s->pool_puts when it started waiting */
	/* List memberships (they belong to the slot and survive reuse). */
	uint8_t on_touched;
	uint8_t on_ready;
	uint8_t on_held;
	uint32_t frames_iter; /* frames processed in iteration frames_iter_stamp */
	uint64_t frames_iter_stamp;
	uint64_t active_ms; /* monotonic ms of the last input or send progress */
	/* Input received but not processed yet: stash.data[stash_off .. stash.size). */
	struct hf_bytes stash;
	uint32_t stash_off;
	/* Replies not handed to the kernel yet, in request order. fill.data[0 .. fill_ready) may be
	 * sent now; the rest waits, segment by segment, for the batch it depends on to be durable:
	 * segs[i] covers fill.data[segs[i-1].end (or fill_ready) .. segs[i].end) and waits for
	 * batch segs[i].seq. Segment seqs strictly increase, and the last end is fill.size. */
	struct hf_bytes fill;
	uint32_t fill_ready;
	uint32_t segs_count;
	struct {
		uint32_t end;
		uint64_t seq;
	} segs[HF_CONN_SEGS_MAX];
	/* Position of fill.data[0] in the connection's reply stream (bytes moved out of fill
	 * before), so a held reply keeps one address while fill shifts (BACKUP patches it). */
	uint64_t fill_base;
	/* Replies handed to the kernel: out.data[out_off .. out.size) is still to send. Never
	 * reallocated while send_inflight. */
	struct hf_bytes out;
	uint32_t out_off;
	uint32_t free_next; /* index + 1 of the next FREE slot; 0 = none */
};

/* A batch: the changes of the ops applied between two seals, and the replies that wait for them.
 *
 * STATES (shard.c):
 *   FREE --shard_batch_open--> OPEN --shard_batch_seal--> SEALED (at the persist thread)
 *   SEALED --shard_on_job (durable, or failed)--> FREE
 * Batch numbers (seq) start at 1 and grow by one per batch; batch seq lives in
 * batches[seq % HF_SHARD_BATCHES_MAX]. At every instant the batches done_seq+1 .. open_seq-1 are
 * SEALED and open_seq is OPEN. */
enum hf_batch_state {
	HF_BATCH_FREE = 0,
	HF_BATCH_OPEN = 1,
	HF_BATCH_SEALED = 2,
};

struct hf_batch {
	uint64_t seq;
	uint8_t state;	    /* enum hf_batch_state */
	uint8_t referenced; /* a reply waits for this batch: seal it even without changes */
	uint32_t ops_count; /* store ops applied in it */
	struct hf_changes changes;
	/* BACKUP: the checkpoint taken right after this batch, and the reply to complete then. */
	uint8_t has_backup;
	uint32_t backup_conn;
	uint32_t backup_gen;
	uint64_t backup_pos; /* stream position of the reply (struct hf_conn.fill_base) */
	char backup_root[HF_PATH_SIZE_MAX + 1];
	uint64_t sealed_us; /* monotonic µs when sealed */
	struct hf_durable_job job;
	/* The local disk's answer is in (job reaped, or sealed in durability none); the batch
	 * completes once replication lets it too (engine/repl.h, hf_repl_gate). */
	uint8_t local_done;
	int local_status; /* 0, or the failed job's -errno */
	/* Replies held for this batch, for the latency histograms: parsed at parse_us. */
	uint32_t lat_count;
	struct {
		uint8_t opcode;
		uint64_t parse_us;
	} * lat; /* HF_SHARD_BATCH_LAT_MAX */
};

/* What ops.c answers for one request (conn.c turns it into bytes). */
enum hf_ops_kind {
	HF_OPS_REPLY = 0,    /* s->rep is the reply */
	HF_OPS_RAW = 1,	     /* raw/raw_size is a pre-encoded frame (request id to patch) */
	HF_OPS_POSTPONE = 2, /* the open batch has no room: leave the frame for a later iteration */
};

struct hf_ops_result {
	uint8_t kind;	     /* enum hf_ops_kind */
	uint8_t backup;	     /* the reply is a BACKUP's, completed when its batch is durable */
	uint8_t set_role;    /* AUTH succeeded: the connection's role from now on (0: unchanged) */
	uint8_t doom;	     /* answer, then close the connection (a failed or missing AUTH) */
	uint8_t repl_attach; /* REPL_SUBSCRIBE answered OK: the connection becomes a stream */
	uint64_t wait_seq;   /* the reply leaves once batch wait_seq is durable (0: at once) */
	const uint8_t *raw;
	uint32_t raw_size;
};

struct hf_shard_counters {
	uint64_t conns_accepted;
	uint64_t conns_rejected;
	uint64_t conns_closed;
	uint64_t conns_closed_idle;
	uint64_t conns_closed_protocol;
	uint64_t conns_closed_frame_timeout;
	uint64_t auth_failures; /* connections refused UNAUTHORIZED */
	uint64_t replies_forbidden;
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
	uint64_t commits;    /* batches made durable */
	uint64_t commit_ops; /* store ops answered by committed batches */
	uint64_t commit_failures;
	uint64_t batches_cancelled;   /* sealed after a failed one: answered IO, never written */
	uint64_t batch_postponed;     /* times processing stopped for a full open batch */
	uint64_t durable_wait_us_sum; /* seal -> durable, over the committed batches */
	uint64_t durable_wait_us_max;
	uint64_t replies_held; /* replies that waited for a batch to be durable */
	uint64_t pool_waits;   /* times a connection waited for a pool buffer */
	uint64_t lat_untimed;  /* held replies past HF_SHARD_BATCH_LAT_MAX: not in the histograms */
	uint64_t replies_rate_limited;
	uint64_t busy_pipeline_full; /* writes answered BUSY: open batch full, two in flight */
	uint64_t busy_shed;	     /* writes answered BUSY: queue delay past --shed-after-ms */
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
	struct hf_pool pool;	   /* every connection buffer */
	struct hf_rate_limit rate; /* --user-rate buckets */
	struct hf_lat_shard *lat;  /* latency histograms, published in hf_latency_registry */
	uint64_t pool_puts; /* buffers given back to the pool (pool waiters retry after one) */
	uint32_t *held;	    /* have held replies (segs_count > 0) */
	uint32_t held_count;

	/* The batch pipeline (shard.c). */
	struct hf_batch batches[HF_SHARD_BATCHES_MAX];
	uint64_t open_seq; /* the open batch */
	uint64_t done_seq; /* every batch <= done_seq is durable or was answered IO */
	uint8_t open_full; /* an op found no room in the open batch: stop processing, seal */
	uint64_t
	    *dirty_seq; /* HF_SHARD_DIRTY_BUCKETS: last batch that wrote an event of the bucket */
	struct hf_durable *durable; /* NULL in durability none (batches are durable when sealed) */
	int durable_fd;		    /* the persist thread's completion eventfd */
	uint64_t durable_count;	    /* read buffer of that eventfd */
	uint8_t durable_armed;
	struct hf_durable_job reload_job;
	uint8_t reload_pending; /* reload_job is at the persist thread */
	/* The disk refused writes and the instance could only be opened read-only: write ops are
	 * answered IO at once, reads go on, and a REOPEN is tried every HF_SHARD_RETRY_MS. */
	uint8_t read_only;
	struct hf_durable_job reopen_job;
	uint8_t reopen_pending;
	uint64_t reopen_retry_ms;

	struct hf_store *store; /* NULL from a failed commit until the reload succeeded */
	uint64_t store_retry_ms;
	struct hf_persist *persist; /* the persist thread's once it started */
	uint8_t degraded;	    /* the last commit failed or the store could not be reloaded */

	struct hf_slot_map map;
	uint16_t owner_index; /* this shard's entry in map.owners, or HF_SHARD_OWNER_NONE */
	/* The mailbox of hf_shard_post_map (any thread -> this one): the newest posted map under
	 * map_lock, and an eventfd the ring reads. Cold path: a map changes a few times a day. */
	pthread_mutex_t map_lock;
	struct hf_slot_map *map_posted; /* valid while map_posted_set */
	uint8_t map_posted_set;
	int map_fd;
	uint64_t map_count; /* read buffer of map_fd */
	uint8_t map_armed;
	/* The map's persistence (a META job on the persist thread): its own copy of the encoding.
	 */
	struct hf_durable_job meta_job;
	uint8_t *meta_buf;
	uint8_t meta_pending;
	uint8_t meta_dirty;	    /* a newer map came while meta_job was out: write again */
	uint8_t *map_frame;	    /* the SLOT_MAP reply, encoded once (request id 0) */
	uint8_t map_confirmed;	    /* the control thread posted a map since start (or no --etcd) */
	uint64_t map_wait_until_ms; /* monotonic: until then store ops wait for that map */
	uint32_t map_frame_size;

	struct hf_request req;	   /* the request being handled (large: one per shard) */
	struct hf_reply rep;	   /* its reply */
	struct hf_request sub_req; /* the BATCH entry being handled */
	uint8_t
	    *batch_out; /* a BATCH reply being built (HF_FRAME_HEADER_SIZE + its largest body) */
	struct hf_bytes scratch; /* cold path: rewriting a failed batch's replies */

	/* The shed signal (--shed-after-ms, hf_shard_queue_delay_us): monotonic µs when this
	 * iteration began, how long the previous one worked before it waited, and the clock of the
	 * input buffer being parsed (conn.c reads it once per buffer). */
	uint64_t iter_start_us;
	uint64_t prev_busy_us;
	uint64_t parse_us;
	uint64_t now_ms;  /* wall clock of this iteration (the store's clock) */
	uint64_t mono_ms; /* monotonic clock of this iteration */
	uint64_t start_mono_ms;
	uint64_t iteration;
	uint64_t idle_scan_ms;
	int stopping;
	uint64_t stop_deadline_ms;
	int fatal; /* the loop hit an error it cannot go on from */

	struct hf_shard_counters c;
	struct hf_watch *watch;	    /* WATCHes of this shard (engine/watch.h) */
	struct hf_move_shard *move; /* slot moves through this shard (engine/move.h) */
	struct hf_repl *repl;	    /* replication, both roles (engine/repl.h) */
	uint8_t repl_armed;	    /* replica: a read of the inbox eventfd is in the ring */
};

/* The open batch. */
static inline struct hf_batch *hf_shard_open_batch(struct hf_shard *s)
{
	struct hf_batch *b = &s->batches[s->open_seq % HF_SHARD_BATCHES_MAX];
	HF_ASSERT(b->state == HF_BATCH_OPEN);
	HF_ASSERT(b->seq == s->open_seq);
	return b;
}

/* How long a request parsed now waits before its reply can leave, at least: the age of the oldest
 * batch at the disk (its replies, and every later one, wait for it), or the loop's own backlog (a
 * frame reaped in this iteration arrived at most during the previous one's work, and waits for the
 * end of this one). The larger of the two, in µs, at the clock of the buffer being parsed. */
static inline uint64_t hf_shard_queue_delay_us(const struct hf_shard *s)
{
	uint64_t now_us = s->parse_us;
	uint64_t loop_us =
	    s->prev_busy_us + (now_us > s->iter_start_us ? now_us - s->iter_start_us : 0);
	if (s->open_seq - s->done_seq <= 1u)
		return loop_us;
	const struct hf_batch *oldest = &s->batches[(s->done_seq + 1u) % HF_SHARD_BATCHES_MAX];
	HF_ASSERT(oldest->state == HF_BATCH_SEALED);
	uint64_t disk_us = now_us > oldest->sealed_us ? now_us - oldest->sealed_us : 0;
	return disk_us > loop_us ? disk_us : loop_us;
}

static inline uint64_t *hf_shard_dirty(struct hf_shard *s, uint64_t event_id)
{
	return &s->dirty_seq[hf_hash64(event_id) & (HF_SHARD_DIRTY_BUCKETS - 1u)];
}

/* ---- conn.c ---- */
void hf_conn_on_accept(struct hf_shard *s, int fd);
void hf_conn_on_recv(struct hf_shard *s, struct hf_conn *c, const struct io_uring_cqe *cqe);
void hf_conn_on_send(struct hf_shard *s, struct hf_conn *c, int res);
/* Processes the stash of a connection on the ready list. */
void hf_conn_pump(struct hf_shard *s, struct hf_conn *c);
/* End of iteration, after sealing: hands the replies that may leave to the kernel, starts or stops
 * reading, closes what should close, frees closed slots, and puts connections with pending frames
 * on the ready list. */
void hf_conn_settle(struct hf_shard *s, struct hf_conn *c);
/* Starts closing (idempotent): stops reading and sending; the slot is freed by hf_conn_settle. */
void hf_conn_close(struct hf_shard *s, struct hf_conn *c, const char *why);
void hf_conn_touch(struct hf_shard *s, struct hf_conn *c);
/* Batch done_seq became durable: c's replies waiting for it (or earlier ones) may leave. Returns 1
 * when c still holds replies. */
int hf_conn_release(struct hf_shard *s, struct hf_conn *c);
/* Every held reply of c depends on a failed batch: its store replies become HF_ERR_IO, and all of
 * them may leave. */
void hf_conn_fail_held(struct hf_shard *s, struct hf_conn *c);
/* Completes the BACKUP reply at stream position pos of c: status, and the checkpoint sequence (OK)
 * or detail 0. */
void hf_conn_complete_backup(struct hf_shard *s, struct hf_conn *c, uint64_t pos, uint16_t status,
			     uint64_t sequence);
/* Reply bytes queued on c (in flight + gathered, held ones included). */
static inline uint64_t hf_conn_queued(const struct hf_conn *c)
{
	return (uint64_t)(c->out.size - c->out_off) + c->fill.size;
}
void hf_conn_free_buffers(struct hf_shard *s, struct hf_conn *c);
/* In-process entry points for tests (tests/fuzz/fuzz_server.c), on a shard made by
 * hf_shard_test_open (no ring): hf_conn_test_input processes bytes as one recv of c would have
 * delivered them; hf_conn_test_take_replies hands out the replies that would be sent now
 * (*data_out and *size_out, owned by c, valid until the next call on c; size 0 when none). */
void hf_conn_test_input(struct hf_shard *s, struct hf_conn *c, const uint8_t *data, uint32_t size);
void hf_conn_test_take_replies(struct hf_shard *s, struct hf_conn *c, const uint8_t **data_out,
			       uint32_t *size_out);

/* Sealed batches not yet durable (0 .. HF_SHARD_BATCHES_INFLIGHT_MAX). */
static inline uint32_t hf_shard_in_flight(const struct hf_shard *s)
{
	HF_ASSERT(s->done_seq < s->open_seq);
	uint64_t n = s->open_seq - s->done_seq - 1u;
	HF_ASSERT(n <= HF_SHARD_BATCHES_INFLIGHT_MAX);
	return (uint32_t)n;
}

/* ---- shard.c: in-process entry points for tests (tests/fuzz/fuzz_server.c) ---- */
/* Makes a shard made by hf_shard_create (durability none) serve without a ring, sockets or disk:
 * the default slot map of cfg, an empty store. Returns 0 or -errno. */
int hf_shard_test_open(struct hf_shard *s);
/* The end of one loop iteration at wall clock now_ms: seals the open batch (durable at once), which
 * releases the replies held for it; the next iteration begins (frame budgets renew). */
void hf_shard_test_iterate(struct hf_shard *s, uint64_t now_ms);
/* Appends a pushed frame (durable already) after c's replies: it leaves with the last of them.
 * Returns 0, or -ENOBUFS (no pool buffer, or past the reply bound). */
int hf_conn_push(struct hf_shard *s, struct hf_conn *c, const uint8_t *frame, uint32_t size);
/* Drops every WATCH_CHANGE frame of c not handed to the kernel yet; replies stay, in order. */
void hf_conn_drop_pushes(struct hf_shard *s, struct hf_conn *c);
/* Replication streams (engine/repl.c): room for size more bytes at the end of c's replies, sent as
 * soon as hf_conn_push_commit says they are written. NULL when the connection's bound is reached:
 * it is then closing. Only for connections that hold no held replies. */
uint8_t *hf_conn_push_reserve(struct hf_shard *s, struct hf_conn *c, uint32_t size);
void hf_conn_push_commit(struct hf_shard *s, struct hf_conn *c, uint32_t size);

/* ---- ops.c ---- */
/* Handles one whole frame whose header decoded as HF_OK, from a connection whose role is `role`
 * (enum hf_role): authorize, decode, route, apply into the open batch. The reply is s->rep (or a
 * raw frame), described by *out. Never postpones a frame it answered. */
void hf_ops_handle(struct hf_shard *s, uint8_t role, const struct hf_frame_header *header,
		   const uint8_t *body, struct hf_ops_result *out);
/* Fills s->rep with `status` (detail) for a request that got no further (opcode and id echoed). */
void hf_ops_error(struct hf_shard *s, uint8_t opcode, uint64_t request_id, uint16_t status,
		  uint64_t detail, struct hf_ops_result *out);

#endif
