/* A live slot move, as a state machine driven by the holdfast CLI (`move-slot`, `rebalance`,
 * `cluster remove`) and finished or undone by `cluster fix`. The record of a move in progress is
 * the etcd key /holdfast/<cluster>/moves/<slot> (cluster/state.h); the slot's owner is the map key.
 * The data-moving steps are engine opcodes (MOVE_COPY, MOVE_FREEZE, MOVE_PERSISTED, MOVE_DROP,
 * MOVE_UNFREEZE; engine/move.h), which client/cli_cluster.c sends to the shards.
 * hf_move_run and hf_move_fix (move.c) drive this machine given the engine steps as
 * callbacks (struct hf_move_engine); tests/cluster/test_move.c runs them against a fake engine
 * that fails at every step in turn, tests/cluster/test_moves.c against real nodes.
 *
 * STATES (the `phase` field of the move record; who writes it, when, and in which txn):
 *
 *   (none) --PLANNED--> COPYING --> FROZEN --> PERSISTED --FLIP--> FLIPPED --> (none)
 *      ^                   |          |            |                              (record deleted)
 *      +---- rolled back by `cluster fix` (every phase before FLIPPED) ----------+
 *
 *  PLANNED   the CLI writes the record {slot, from, to, phase, epoch = the map's epoch} in a txn
 *            that compares the map key's mod_revision and that the record does not exist yet
 *            (hf_cluster_commit with change.moves_put). Nothing has happened on any node.
 *  COPYING   the CLI asks the target shard to copy the slot from the source (MOVE_COPY): the
 *            target streams the slot's events (seats, holds with deadlines, bookings, tombstones)
 *            while the source keeps serving them. Written before the first byte moves.
 *  FROZEN    the CLI asks the source to freeze the slot (MOVE_FREEZE): it answers the slot's
 *            requests with TRY_AGAIN and hands the last changes to the target. Written right
 *            before the freeze (so the freeze itself waits for one etcd txn only, the flip's).
 *  PERSISTED the target answered that everything it received is durable (per its durability
 *            mode) (MOVE_PERSISTED). Written by the CLI only when the move stops there (the
 *            flip_ready hook, `--stop-after persisted`); a move that goes on writes it with the
 *            flip: FROZEN -> FLIPPED in one txn.
 *  FLIPPED   the commit point: ONE txn that compares the map key's mod_revision, writes the map
 *            with epoch + 1 and the slot owned by the target, and sets phase = FLIPPED. The nodes'
 *            control threads see the new map and hand it to their shards; the source answers
 *            MOVED from then on (and unfreezes into MOVED), the target serves.
 *  (deleted) the CLI asks the source to delete its copy (MOVE_DROP), then deletes the record in a
 *            txn that compares the record's mod_revision.
 *
 * At every instant exactly one shard answers for the slot: the source up to the flip (or TRY_AGAIN
 * while frozen), the target after it; the map in etcd says which, and the flip is atomic.
 *
 * `cluster fix` (and any command, which runs it first for the slots it touches), for each record:
 *  - phase PLANNED, COPYING, FROZEN or PERSISTED: the map still names the source. Roll back: ask
 *    the target to drop its partial copy (MOVE_DROP on the target, idempotent), ask the source to
 *    unfreeze (idempotent), then delete the record (txn comparing its mod_revision). Rolling
 *    back is always safe before the flip: the source never stopped owning the data, and during
 *    the freeze it refused changes rather than accepting them.
 *  - phase FLIPPED: the map names the target. Roll forward: ask the source to drop its copy
 *    (idempotent), then delete the record.
 *  - a record whose phase disagrees with the map (the map names the target while the phase is
 *    before FLIPPED) cannot come from this machine (the flip writes both in one txn): fix reports
 *    it and leaves it for an operator.
 * Every step is idempotent, so a CLI killed anywhere re-runs the same step; a node killed anywhere
 * restarts with its persisted map and its persisted copy, and fix drives it from the record. */
#ifndef HF_CLUSTER_MOVE_H
#define HF_CLUSTER_MOVE_H

#include <stddef.h>
#include <stdint.h>

struct hf_etcd;
struct hf_cluster_move;
struct hf_slot_owner;

enum hf_move_phase {
	HF_MOVE_PLANNED = 0,
	HF_MOVE_COPYING = 1,
	HF_MOVE_FROZEN = 2,
	HF_MOVE_PERSISTED = 3,
	HF_MOVE_FLIPPED = 4,
};

#define HF_MOVE_PHASES_COUNT 5u

/* "planned", "copying", "frozen", "persisted", "flipped" (the spelling in etcd and --json). */
const char *hf_move_phase_name(enum hf_move_phase phase);
/* Parses a phase name; returns 0 or -1. */
int hf_move_phase_parse(const char *name, enum hf_move_phase *out);

/* What `cluster fix` does with a record in this phase: 1 roll forward (the flip happened), 0 roll
 * back. */
static inline int hf_move_phase_after_flip(enum hf_move_phase phase)
{
	return phase == HF_MOVE_FLIPPED;
}

/* The engine calls a move needs (the opcodes named above), given by whoever drives the move. Each
 * must be idempotent (a re-run after a crash repeats the step) and returns 0 or -errno; NULL or
 * -EOPNOTSUPP means "the engine cannot do this yet". */
struct hf_move_engine {
	/* The target shard copies the slot's events from the source, which keeps serving. */
	int (*copy)(void *arg, const struct hf_cluster_move *mv);
	/* The source freezes the slot (TRY_AGAIN) and hands the last changes to the target. */
	int (*freeze)(void *arg, const struct hf_cluster_move *mv);
	/* The target answers once everything it received is durable. */
	int (*persisted)(void *arg, const struct hf_cluster_move *mv);
	/* owner deletes its copy of the slot (the source after the flip, the target on a
	 * roll-back). */
	int (*drop)(void *arg, const struct hf_slot_owner *owner, uint16_t slot);
	/* owner (the source) serves the slot again after a rolled-back freeze. */
	int (*unfreeze)(void *arg, const struct hf_slot_owner *owner, uint16_t slot);
	/* Optional (NULL: go on): called once the target is durable, right before the flip; an
	 * error stops the move there with phase PERSISTED written (a test hook: `move-slot
	 * --stop-after persisted`). */
	int (*flip_ready)(void *arg, const struct hf_cluster_move *mv);
	void *arg;
};

/* What hf_move_fix did. */
enum hf_move_fix_action {
	HF_MOVE_FIX_ROLLED_BACK = 0,
	HF_MOVE_FIX_ROLLED_FORWARD = 1,
};

/* Moves slot to the owner `to` (a member's shard; added to the map's owners when new), driving the
 * phases above: each phase is committed in etcd before (COPYING) or after (FROZEN, PERSISTED) its
 * engine step, the flip is one txn, the record is deleted last. Returns 0 when the move is done or
 * the slot is owned by `to` already; -EBUSY when a move of the slot is in progress (run fix);
 * -EAGAIN when the cluster changed under a step (nothing half-written: the record says where it
 * stopped; re-run or fix); an engine step's -errno (the record stays at its phase, for fix); or
 * the etcd client's -errno. err says why in one line. */
int hf_move_run(struct hf_etcd *etcd, const char *cluster, uint16_t slot,
		const struct hf_slot_owner *to, const struct hf_move_engine *engine, char *err,
		size_t err_size);

/* Finishes or rolls back the move of slot recorded in etcd, as described above. Returns 0 with
 * *action_out, -ENOENT when no move of slot is recorded, -EPROTO when the map and the phase
 * disagree (left for an operator), -EOPNOTSUPP when a needed engine step is missing, or another
 * -errno (err says why). Safe to re-run at any point. */
int hf_move_fix(struct hf_etcd *etcd, const char *cluster, uint16_t slot,
		const struct hf_move_engine *engine, enum hf_move_fix_action *action_out, char *err,
		size_t err_size);

#endif
