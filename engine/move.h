/* The engine's side of a live slot move (cluster/move.h drives the phases from the CLI): the
 * MOVE_* admin opcodes on the shards, and the node's mover thread that pulls a slot from its
 * source. Also EVENT_DELETE's home is the store (shards/store_move.h); nothing of it lives here.
 *
 * A move of slot S from shard A (source) to shard B (target), either on one node or two:
 *  1. MOVE_COPY on B: B deletes any old copy of S it holds (DROPPING), then asks the mover thread
 *     to pull S from A (COPYING). The mover sends MOVE_EXPORT to A in a loop: A's first answer
 *     starts the export (A keeps a change log of S from then on: every change record its batches
 *     get for S, bounded by HF_MOVE_LOG_SIZE_MAX), and every answer carries the log since the
 *     last one, then the next chunk of A's snapshot of S. The mover hands each answer to B
 *     through B's inbox (a mutex, one chunk, B's eventfd: B never blocks), and B imports the
 *     records into its store and its open batch (hf_store_import). A keeps serving S throughout.
 *     Once the snapshot is complete B is COPIED and the mover keeps draining the log.
 *  2. MOVE_FREEZE on A: S's requests answer TRY_AGAIN from now on; other slots never freeze.
 *  3. MOVE_PERSISTED on B: the mover pulls until A says it is frozen and the log is drained,
 *     B imports that last chunk and answers PERSISTED once the batch holding it is durable.
 *  4. The CLI flips the map in etcd; the control threads deliver it: A answers MOVED for S, B
 *     serves S. A forgets its export (and its freeze) when its map no longer names it for S.
 *  5. MOVE_DROP on A deletes A's copy (refused while A serves S unfrozen). A roll-back instead
 *     drops B's copy (B does not own S) and MOVE_UNFREEZE on A ends the export and the freeze.
 * With --auth-file on the nodes, the mover presents the admin token in holdfastd's environment
 * variable HOLDFAST_MOVE_TOKEN to the source (without it the source refuses MOVE_EXPORT and the
 * copy fails: MOVE_FAILED). A restarted node holds no export, freeze or import: the next step of
 * the old move fails (MOVE_STATE) and `cluster fix` rolls the move back or forward from the record
 * in etcd.
 *
 * STATES of a shard's part (enum hf_move_state in proto.h), target side:
 *   IDLE --MOVE_COPY--> DROPPING --old copy gone (move_poll)--> COPYING
 *   COPYING --snapshot complete (mover)--> COPIED --MOVE_PERSISTED--> FINISHING
 *   FINISHING --last chunk imported and durable (move_poll)--> PERSISTED
 *   PERSISTED --the map names this shard for the slot (move_poll)--> IDLE
 *   PERSISTED | FAILED --MOVE_COPY of any slot--> DROPPING
 *   COPYING | COPIED | FINISHING --a pull or an import failed--> FAILED
 *   any --MOVE_DROP of the slot--> IDLE
 * source side: IDLE --MOVE_EXPORT at cursor 0--> EXPORTING --MOVE_FREEZE--> FROZEN
 *   EXPORTING | FROZEN --MOVE_UNFREEZE, or the map moved the slot away--> IDLE
 *
 * Thread-safety: hf_move_handle, hf_move_capture, hf_move_poll and hf_move_frozen run on the
 * shard's thread; the mover thread touches only the target-side fields under the lock. */
#ifndef HF_ENGINE_MOVE_H
#define HF_ENGINE_MOVE_H

#include "proto/proto.h"
#include "shards/store.h"

#include <stdint.h>

struct hf_shard;
struct hf_ops_result;
struct hf_move_shard;
struct hf_mover;

/* Bounds. */
#define HF_MOVE_LOG_SIZE_MAX	  (16u * 1024u * 1024u) /* bytes of one export's change log */
#define HF_MOVE_IO_TIMEOUT_MS	  5000u /* one MOVE_EXPORT round trip of the mover */
#define HF_MOVE_FOLLOW_MS	  2u	/* the mover's pause between log pulls once COPIED */
#define HF_MOVE_IDLE_MS		  20u	/* the mover's sleep while no shard imports */
#define HF_MOVE_IMPORT_PER_ITER	  2048u /* records one shard iteration imports at most */
#define HF_MOVE_PULL_ATTEMPTS_MAX 3u	/* failed round trips in a row before FAILED */

/* Allocates a shard's move state (the inbox and the export chunk). Returns 0 or -ENOMEM. */
int hf_move_shard_create(struct hf_move_shard **out);
void hf_move_shard_destroy(struct hf_move_shard *m);

/* Shard thread: one MOVE_* request (admin role checked by ops.c). Fills s->rep via *out. */
void hf_move_handle(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out);

/* Shard thread: 1 when slot is frozen on this shard (its requests answer TRY_AGAIN). */
int hf_move_frozen(const struct hf_move_shard *m, uint16_t slot);

/* Shard thread: 1 when this shard holds a durable copy of slot that its map does not name it for
 * yet (PERSISTED: the flip is being committed, or its map is on the way). Such requests answer
 * TRY_AGAIN rather than MOVED, so a client whose map is newer than this shard's waits instead
 * of bouncing between the old and the new owner. */
int hf_move_incoming(const struct hf_move_shard *m, uint16_t slot);

/* Shard thread: the changes changes->items[from ..] were just appended to the open batch (an op or
 * the timer wheel): those of the exported slot go to its change log. */
void hf_move_capture(struct hf_shard *s, const struct hf_changes *changes, uint32_t from);

/* Shard thread, once per loop iteration: drops an old copy, imports the inbox, notices a
 * durable import or a map that ended a move. Cheap when nothing moves. */
void hf_move_poll(struct hf_shard *s);

/* Starts the node's mover thread over its shards (borrowed until hf_mover_stop). Returns 0 or
 * -errno. */
int hf_mover_start(struct hf_shard *const *shards, uint32_t count, struct hf_mover **out);
/* Stops and joins it (NULL: nothing). */
void hf_mover_stop(struct hf_mover *mover);

/* Appends the move counters to a STATS reply (shard thread). */
void hf_move_stats(const struct hf_move_shard *m, struct hf_rep_stats *stats);

#endif
