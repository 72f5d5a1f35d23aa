/* WATCH on a shard: the connections that watch an event, and the change frames pushed to them
 * once each change is durable (docs/protocol.md 6.15; the frame is proto/watch.h's).
 *
 * Where it sits: conn.c hands WATCH, UNWATCH, and any frame of a watching connection to
 * hf_watch_intercept before ops.c; ops.c marks EXTEND's records (hf_watch_note_extend) so they read
 * as "extended", not "held"; shard.c calls hf_watch_on_durable for every batch that became durable
 * (its change list is the story of the seats: every transition PUTs its hold record) and
 * hf_watch_on_failed when a batch failed (watchers get a GAP: the store is rebuilt from disk).
 *
 * Bounds: --watchers-max watchers per shard (WATCH past it: BUSY); a connection watches one event;
 * a watcher's change bytes not yet handed to the kernel stay under --watch-queue-max: past it they
 * are dropped and one GAP frame says where the pushes resume, so a slow watcher never makes the
 * shard buffer without bound and never waits a buyer. Everything is allocated by hf_watch_create;
 * pushing allocates nothing but the connection's pool buffers.
 *
 * Thread: the shard's own, like everything in engine/ but the persist and control threads. */
#ifndef HF_ENGINE_WATCH_H
#define HF_ENGINE_WATCH_H

#include "engine/shard_int.h"

struct hf_watch;

/* Allocates s->watch for s->cfg->watchers_max watchers and s->conns_max connections. Returns 0 or
 * -ENOMEM. */
int hf_watch_create(struct hf_shard *s);
void hf_watch_destroy(struct hf_shard *s);

/* conn.c, for each whole frame before ops.c: answers WATCH and UNWATCH, and refuses writes and
 * admin opcodes on a watching connection (WATCHING). Returns 1 when it answered into *out (or
 * postponed: out->kind), 0 when the frame is ops.c's. */
int hf_watch_intercept(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *h,
		       const uint8_t *body, struct hf_ops_result *out);

/* ops.c, after an EXTEND of hold_id succeeded into batch b, whose changes_before first changes
 * were there before it. */
void hf_watch_note_extend(struct hf_shard *s, const struct hf_batch *b, uint32_t changes_before,
			  uint64_t hold_id);

/* shard.c: batch b is durable (done_seq == b->seq): push its changes to the watchers. */
void hf_watch_on_durable(struct hf_shard *s, const struct hf_batch *b);

/* shard.c: a batch failed, or changes were dropped without being written: every watcher gets a
 * GAP (it re-syncs from AVAIL). */
void hf_watch_on_failed(struct hf_shard *s);

/* 1 when connection c watches an event (a quiet event's watcher is not idle: --idle-timeout
 * spares it; --watchers-max bounds how many there are). */
int hf_watch_is_watching(struct hf_shard *s, const struct hf_conn *c);

/* Appends the watch counters to a STATS reply (watchers, watch_pushes, watch_gaps, ...). */
void hf_watch_stats(const struct hf_shard *s, struct hf_rep_stats *st);

#endif
