/* Replication of one shard: a primary streams its sealed batches to its replicas; a replica applies
 * them to its store and its RocksDB and acknowledges (DESIGN.md section 8, docs/operations.md
 * "Replication").
 *
 * Primary side (repl.c, on the shard thread): a replica's REPL_SUBSCRIBE turns its connection into
 * a stream. The stream opens with a snapshot (the whole store as records, in bounded chunks, one
 * loop iteration at a time), interleaved in stream order with every batch sealed meanwhile, and
 * then carries every sealed batch. A replica that acknowledged the snapshot's end is in sync; in
 * sync mode a batch completes (done_seq advances, its held replies leave) only once it is durable
 * locally AND every in-sync replica acknowledged it: hf_repl_gate is the second half of the batch
 * pipeline's durable completion. A replica that stays silent past --repl-timeout, or whose
 * connection ends, leaves the in-sync set before the primary stops waiting for it (logged).
 *
 * Replica side (repl_replica.c on the shard thread, repl_follow.c its own thread): the follow
 * thread connects to the primary (a shard thread never blocks), subscribes and hands every
 * REPL_BATCH frame to the shard through a bounded inbox; the shard applies the records to its
 * store (hf_store_replay) and copies them into its open batch, so they reach its RocksDB through
 * its own pipeline; once a local batch holding the end of primary batch N is durable, the follow
 * thread acknowledges N. Frames from a lower epoch than the replica has seen are refused
 * (fencing). A replica refuses writes (NOT_PRIMARY) and serves reads.
 *
 * Thread-safety: everything is called on the owning shard thread, except the follow thread's own
 * functions (repl_follow.c), which talk to the shard only through the inbox and the ack word.
 * System-style returns: 0 or -errno. */
#ifndef HF_ENGINE_REPL_H
#define HF_ENGINE_REPL_H

#include "proto/repl.h"

#include <stdint.h>

struct hf_shard;
struct hf_conn;
struct hf_batch;

/* ---- Bounds ---- */
#define HF_REPL_REPLICAS_MAX 4u /* replicas one primary shard streams to at once */
/* Snapshot frames one loop iteration writes to one replica (bounds the loop's work). */
#define HF_REPL_SNAPSHOT_FRAMES_PER_ITER 8u
/* Stream bytes queued to one replica before snapshot chunks wait; a batch that finds more than
 * HF_REPL_QUEUED_SIZE_MAX queued drops the replica (it is too slow to follow). */
#define HF_REPL_SNAPSHOT_QUEUED_SIZE_MAX (1024u * 1024u)
#define HF_REPL_QUEUED_SIZE_MAX		 (16u * 1024u * 1024u)
#define HF_REPL_INBOX_FRAMES		 8u /* frames between the follow thread and the shard */
#define HF_REPL_TIMEOUT_MS_DEFAULT	 1000u
#define HF_REPL_TIMEOUT_MS_MAX		 60000u
#define HF_REPL_RETRY_MS		 200u  /* follow thread: delay before reconnecting */
#define HF_REPL_IO_TIMEOUT_MS		 5000u /* follow thread: connect and send */
/* Follow thread: a streaming primary silent this long (it answers every ACK) is dead or cut off.
 * Well above a busy primary's longest loop pass, so a slow one is not mistaken for a dead one. */
#define HF_REPL_SILENCE_MS 10000u
#define HF_REPL_META_EPOCH "repl_epoch" /* persisted: the highest epoch seen */

enum hf_repl_mode {
	HF_REPL_MODE_SYNC = 0,	/* replies wait for every in-sync replica (default) */
	HF_REPL_MODE_ASYNC = 1, /* replies wait for the local disk only */
};

/* Parses "sync" or "async". Returns 0 or -EINVAL. */
int hf_repl_mode_parse(const char *name, enum hf_repl_mode *out);
const char *hf_repl_mode_name(enum hf_repl_mode mode);

struct hf_repl;

/* Allocates the shard's replication state (both roles). The shard is a replica when its config
 * names a primary (--replica-of). Reads the persisted epoch through s->persist, so it runs before
 * the persist thread takes that over. Returns 0 or -errno. */
int hf_repl_create(struct hf_shard *s, struct hf_repl **out);
/* Starts the follow thread of a replica (no-op for a primary). Returns 0 or -errno. */
int hf_repl_start(struct hf_shard *s);
/* Stops the follow thread and frees everything. NULL is a no-op. */
void hf_repl_destroy(struct hf_repl *r);

int hf_repl_is_replica(const struct hf_repl *r);
/* The epoch a primary stamps on its stream (its slot map's) or the highest a replica has seen. */
uint64_t hf_repl_epoch(const struct hf_shard *s);

/* ---- Primary side (repl.c) ---- */
/* Answers REPL_SUBSCRIBE or REPL_ACK (ops.c, admin role checked): *raw_out is the reply frame
 * (in the shard's replication state, valid until the next call) and the return its size; *attach
 * is set when the connection is to become a stream (conn.c then calls hf_repl_attach);
 * *wait_seq_out is the batch the reply waits for (REPL_PROMOTE: the one persisting the epoch). */
uint32_t hf_repl_handle(struct hf_shard *s, const struct hf_frame_header *header,
			const uint8_t *body, const uint8_t **raw_out, int *attach,
			uint64_t *wait_seq_out);
/* The connection that just got its SUBSCRIBE reply becomes replica `replica_id`'s stream: the
 * snapshot starts after that reply. */
void hf_repl_attach(struct hf_shard *s, struct hf_conn *c, uint64_t request_id,
		    const uint8_t *body);
/* Batch b was just sealed: stream it to every replica. */
void hf_repl_on_seal(struct hf_shard *s, const struct hf_batch *b);
/* 1 when batch seq may complete as far as replication goes. */
int hf_repl_gate(struct hf_shard *s, uint64_t seq);
/* A batch failed to commit (the store goes back to the disk's state): every stream ends, the
 * replicas resubscribe and start again from a snapshot. A replica resubscribes too. */
void hf_repl_on_failed(struct hf_shard *s);
/* End of an iteration: snapshot chunks, dead or silent replicas, and (replica) the inbox. Returns
 * 1 when work is left that should not wait for the next completion. */
int hf_repl_tick(struct hf_shard *s);
/* Appends the replication counters to a STATS reply ("repl_*"). */
void hf_repl_stats(struct hf_shard *s, struct hf_rep_stats *stats);

/* ---- Replica side (repl_replica.c) ---- */
/* The inbox's eventfd (the follow thread handed frames over), -1 on a primary. */
int hf_repl_inbox_fd(const struct hf_repl *r);
uint64_t *hf_repl_inbox_count(struct hf_repl *r); /* read buffer for that eventfd */
/* Applies the frames waiting in the inbox while the open batch has room. */
void hf_repl_replica_pump(struct hf_shard *s);
/* Local batch seq is durable: acknowledge the primary batch it completed, if any. */
void hf_repl_on_durable(struct hf_shard *s, uint64_t seq);

#endif
