/* The seat store of one shard: events, seats, holds with expiry, bookings, idempotency.
 *
 * Pure logic: no sockets, no disk, no clock, no locks. The caller (one shard thread) passes
 * requests and the current wall-clock time in milliseconds; the store answers with a reply and
 * appends the state changes to persist to a change list (struct hf_changes) as ready-made key/value
 * records. The persistence layer writes those records as they are and, on start, feeds every stored
 * record back through hf_store_load. The store owns the record format (docs/operations.md describes
 * it).
 *
 * Record keys start with the big-endian event id, so an event and all its records are one
 * contiguous key range, and a slot's events are found by their ids:
 *
 *   be64(event_id) 'E'                 -> event parameters (and its sections)
 *
 *   be64(event_id) 'R' be64(hold_id)   -> a hold, a booking, or an ended hold's tombstone
 *
 * Thread-safety: a store belongs to one thread. Nothing here is shared between stores.
 * Memory: pools are sized from struct hf_store_config at create time; a full pool answers
 * HF_ERR_CAPACITY, never grows without bound and never crashes. */
#ifndef HF_SHARDS_STORE_H
#define HF_SHARDS_STORE_H

#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

struct hf_store;

struct hf_store_config {
	uint32_t events_max;	   /* events in this store, >= 1 */
	uint64_t seats_max;	   /* seats over all events of this store, >= 1 */
	uint32_t records_max;	   /* live holds + bookings + tombstones, >= 1 */
	uint32_t tombstone_ttl_ms; /* how long an ended hold or cancelled booking id lives on */
};

/* Makes the record pool, the record table and the per-user table of a new, empty store resident
 * now (about 208 bytes per record of capacity), so that no op pays their first-touch page faults
 * later; without it they become resident as touched. Slow (it zeroes them): call at start. */
void hf_store_prefault(struct hf_store *store);

/* Sane defaults for one shard of a small node (used by holdfastd unless flags say otherwise). */
void hf_store_config_default(struct hf_store_config *cfg);

/* Allocates a store. Returns 0 and *out, or -EINVAL for a bad config, -ENOMEM. */
int hf_store_create(const struct hf_store_config *cfg, struct hf_store **out);
void hf_store_destroy(struct hf_store *store);

/* ---- The change list: records to persist, in order. ---- */
enum hf_change_kind {
	HF_CHANGE_PUT = 1,
	HF_CHANGE_DEL = 2,
	/* Deletes the keys in [key, value): an event's whole range (EVENT_DELETE, key be64(id) and
	 * value be64(id) 0xff) or a replica's wipe before a snapshot. */
	HF_CHANGE_DEL_RANGE = 3,
};

#define HF_RECORD_KEY_SIZE_MAX	 24u
#define HF_RECORD_VALUE_SIZE_MAX 512u
/* The most changes one call of hf_store_apply appends. */
#define HF_OP_CHANGES_MAX 4u

struct hf_change {
	uint8_t kind;	       /* enum hf_change_kind */
	uint8_t key_size;      /* 1 .. HF_RECORD_KEY_SIZE_MAX */
	uint16_t value_size;   /* 0 for DEL; 1 .. HF_RECORD_VALUE_SIZE_MAX for PUT; the end key's
				  size (1 .. HF_RECORD_KEY_SIZE_MAX) for DEL_RANGE */
	uint32_t value_offset; /* into hf_changes.values */
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
};

struct hf_changes {
	struct hf_change *items;
	uint32_t count;
	uint32_t capacity;
	uint8_t *values;      /* the PUT values, back to back */
	uint32_t values_size; /* bytes used */
	uint32_t values_capacity;
	/* Set by the owner (a shard in durability none, where nothing reads them): the hold and
	 * booking records are counted with their value sizes, so every bound works the same, but
	 * neither their keys nor their values are written. hf_changes_init clears it. */
	uint8_t count_only;
};

/* Allocates room for `capacity` changes (values: capacity * HF_RECORD_VALUE_SIZE_MAX bytes).
 * Returns 0 or -ENOMEM. */
int hf_changes_init(struct hf_changes *changes, uint32_t capacity);
void hf_changes_deinit(struct hf_changes *changes);
void hf_changes_reset(struct hf_changes *changes);
/* 1 when one more hf_store_apply (HF_OP_CHANGES_MAX changes) is guaranteed to fit. */
int hf_changes_has_room(const struct hf_changes *changes);
/* How many more hf_store_apply calls are guaranteed to fit (room / HF_OP_CHANGES_MAX), before
 * expiries: a call may first spend room on time-driven records (hf_store_apply). */
uint32_t hf_changes_ops_room(const struct hf_changes *changes);
/* Appends one change as given (replication copies a primary's records). Returns 0, or -ENOSPC
 * when the list has no room for a full-size change. */
int hf_changes_append(struct hf_changes *changes, uint8_t kind, const uint8_t *key, size_t key_size,
		      const uint8_t *value, size_t value_size);
/* Changes that surely still fit (each at most one full value). */
uint32_t hf_changes_room(const struct hf_changes *changes);
static inline const uint8_t *hf_change_value(const struct hf_changes *changes,
					     const struct hf_change *change)
{
	return changes->values + change->value_offset;
}

/* ---- Reading the change list back (shards/store_change.c) ----
 * What a hold record's PUT says, for those that watch an event's seats (engine/watch.c): a change
 * list is the complete story of the seats, since every seat transition rewrites its record. */
enum hf_store_hold_state {
	HF_STORE_HOLD_HELD = 1,
	HF_STORE_HOLD_BOOKED = 2,
	HF_STORE_HOLD_EXPIRED = 3,
	HF_STORE_HOLD_RELEASED = 4,
	HF_STORE_HOLD_CANCELLED = 5,
};

struct hf_store_hold_change {
	uint64_t event_id;
	uint64_t hold_id;
	uint64_t user_id;
	uint64_t deadline_ms;
	uint8_t state; /* enum hf_store_hold_state: the record's state after the change */
	uint32_t seats_count;
	uint32_t seats[HF_HOLD_SEATS_MAX];
};

/* The event id of a change that PUTs a hold record, or 0 for any other change (events, DELs). */
uint64_t hf_store_change_event_id(const struct hf_change *change);

/* Decodes a hold record's PUT (hf_store_change_event_id != 0) into *out. Returns 0, or -1 for a
 * change that is not one (the store wrote every change itself, so -1 is a caller's bug). */
int hf_store_change_hold(const struct hf_changes *changes, const struct hf_change *change,
			 struct hf_store_hold_change *out);

/* ---- Operations ----
 * hf_store_apply runs one request (any opcode the table in proto/ marks routed: CREATE_EVENT,
 * EVENT_INFO, HOLD, EXTEND, CONFIRM, RELEASE, CANCEL, AVAIL, SEAT_STATUS, SEAT_INFO, USER_HOLDS,
 * USER_BOOKINGS) at time now_ms and fills *rep (opcode,
 * request_id, status and body; rep->avail.bitmap then points into store memory valid until the next
 * call on this store). Every write appends its records to *changes (which must have room, see
 * hf_changes_has_room); a request that fails appends nothing and changes nothing. Returns
 * rep->status.
 *
 * Semantics (docs/protocol.md is normative):
 * - All or nothing: a HOLD either holds every seat it asked for or none.
 * - Idempotency: a HOLD whose (event, hold_id) was seen before with the same user, mode, count and
 *   seats returns the first answer (same seats, same deadline) while the hold is live or confirmed,
 *   HF_HOLD_EXPIRED / HF_HOLD_RELEASED once it ended (while its tombstone lives); with a different
 *   body, HF_ID_CONFLICT. CONFIRM of a confirmed hold, RELEASE of a released hold and CANCEL of a
 *   cancelled booking answer HF_OK again and change nothing. Creating an event that exists with the
 *   same parameters is HF_OK; with other parameters, HF_EVENT_EXISTS.
 * - A hold whose deadline is <= now_ms is expired, whether or not hf_store_tick has run yet.
 * - The per-user limit counts the user's held and booked seats of the event together.
 * - USER_HOLDS / USER_BOOKINGS list a user's live records from a per-(event, user) index (no scan):
 *   a page costs its records, plus, when the cursor's record ended since the last page, a walk
 *   over the user's records that joined the list before the cursor. Lists are rebuilt in key order
 *   on load, so cursors do not survive a restart.
 *
 * Details the implementation fixes (shards/store*.c):
 * - Time first: apply runs the timer wheel up to now_ms before the op (expiring due holds,
 * forgetting due tombstones) using only change-list room beyond HF_OP_CHANGES_MAX. Those
 * time-driven records may precede the op's own (at most HF_OP_CHANGES_MAX) and appear even when the
 * op fails; "a failed request appends nothing" is about the op's own effects. When the list had no
 * room for them: a hold named by id is expired on touch; SEAT_STATUS shows a due hold's seat as
 * free; an explicit HOLD needing a due hold's seat answers HF_BUSY if that extra record does not
 * fit; AVAIL, EVENT_INFO and best-available may still count due holds until the next tick.
 * - An expired hold ends at its deadline (ended = deadline_ms) whichever path expires it; a
 *   tombstone is remembered until ended + tombstone_ttl_ms.
 * - HOLD checks, in order: arguments (HF_ERR_INVALID: zero ids, ttl 0, count 0 or > 64, unknown
 *   mode, best-available N > row_width), event (HF_NO_EVENT), an earlier use of the id (replay or
 *   HF_ID_CONFLICT), then seats in range, no duplicates, all free (explicit) or a run found
 *   (best), the user limit, record capacity. A replay answers the hold's current deadline (after
 *   EXTEND). A replay on a cancelled booking answers HF_BOOKING_CANCELLED. Replies list the seats
 *   in request order (explicit) or ascending (best-available).
 * - EXTEND of a booking or cancelled booking: HF_HOLD_CONFIRMED. RELEASE of a cancelled booking:
 *   HF_BOOKING_CANCELLED. CANCEL of anything but a booking (live hold, ended hold, unknown id):
 *   HF_NO_BOOKING. CREATE_EVENT with row_width > seats_count: HF_ERR_INVALID.
 * - AVAIL: count > HF_AVAIL_RANGE_MAX is HF_ERR_TOO_LARGE; first + count > seats is HF_SEAT_RANGE
 *   with detail = the first seat out of range; with count 0, first is ignored (reply first = 0).
 * - Records full: the oldest tombstone (by end order; after a load, by key order) is evicted with
 *   its DEL, so its id is forgotten early. HF_ERR_CAPACITY only when every record is a live hold
 *   or booking. Events and seats full: HF_ERR_CAPACITY. */
enum hf_status hf_store_apply(struct hf_store *store, const struct hf_request *req, uint64_t now_ms,
			      struct hf_reply *rep, struct hf_changes *changes);

/* Expires holds whose deadline is <= now_ms and forgets tombstones older than their ttl, at most
 * `limit` of each (a bound on the work of one loop iteration); appends their records to *changes
 * while it has room. Returns how many holds expired. O(1) per hold (hashed timer wheel). */
uint32_t hf_store_tick(struct hf_store *store, uint64_t now_ms, uint32_t limit,
		       struct hf_changes *changes);

/* A hint that an op on hold or booking hold_id of event_id follows soon (with has_user, one that
 * also looks up user_id's entry in the event, as a HOLD does): starts loading the table slots the
 * op will probe, so that the cache misses of many requests overlap instead of coming one after
 * another. Changes nothing; a no-op for an unknown event. The thread that owns the store. */
void hf_store_prefetch(const struct hf_store *store, uint64_t event_id, uint64_t hold_id,
		       int has_user, uint64_t user_id);

/* Wall-clock ms of the earliest pending deadline (hold or tombstone), or UINT64_MAX when none; the
 * loop sleeps no longer than that. May be early (a wheel slot's time), never late. */
uint64_t hf_store_next_deadline_ms(const struct hf_store *store);

/* ---- Recovery ----
 * Feeds one stored record back (keys in ascending order, as an iterator returns them). Holds
 * already past their deadline at now_ms become EXPIRED tombstones (their seats free) and the change
 * that says so is appended to *changes when it has room. Returns HF_OK, HF_ERR_MALFORMED for a
 * record that does not decode (the caller logs it and stops: it does not guess), or
 * HF_ERR_CAPACITY. */
enum hf_status hf_store_load(struct hf_store *store, const uint8_t *key, size_t key_size,
			     const uint8_t *value, size_t value_size, uint64_t now_ms,
			     struct hf_changes *changes);

/* ---- Replication (store_replay.c) ----
 * Applies one change record of a primary to this (replica's) store, whatever the store held for
 * the key before: a PUT record's state replaces the key's (a hold, booking or tombstone is
 * dropped, then the record is loaded as hf_store_load would, expiring it when past its deadline
 * at now_ms); a DEL forgets the key. scratch (capacity >= 2) takes the changes the store's own
 * transitions write; the caller discards them. Returns HF_OK, HF_NO_EVENT for a record of an
 * event this store does not have, HF_ERR_INVALID for an event DEL (not supported), or what
 * hf_store_load answers (HF_ERR_MALFORMED, HF_ERR_CAPACITY). */
enum hf_status hf_store_replay(struct hf_store *store, uint8_t kind, const uint8_t *key,
			       size_t key_size, const uint8_t *value, size_t value_size,
			       uint64_t now_ms, struct hf_changes *scratch);

/* A cursor over the whole store for a replica's snapshot: events first, then every record (as
 * change records; a slot's export for a move is shards/store_move.h's hf_store_export). */
struct hf_store_snapshot {
	uint8_t phase;	/* 0: events, 1: records, 2: done */
	uint32_t index; /* next event or record index of the phase */
};
void hf_store_snapshot_begin(struct hf_store_snapshot *cursor);
/* Appends PUT records for up to `limit` more events or records (while changes has room) and
 * advances the cursor. Returns 1 once everything was exported. Records created after the cursor
 * passed them are not revisited: the caller streams later changes separately. */
int hf_store_snapshot(struct hf_store *store, struct hf_store_snapshot *cursor, uint32_t limit,
		      struct hf_changes *changes);

/* ---- Inspection ---- */

/* The per-user HOLD rate of an event created with one (CREATE_EVENT user_rate): 1 with *rate_out
 * (holds per second) and *burst_out (bucket size, never 0), or 0 when the event has none or does
 * not exist (the server's --user-rate then applies). O(1). */
int hf_store_event_rate(const struct hf_store *store, uint64_t event_id, uint32_t *rate_out,
			uint32_t *burst_out);
struct hf_store_counts {
	uint32_t events_count;
	uint64_t seats_count; /* over all events */
	uint64_t free_count;
	uint64_t held_count;
	uint64_t booked_count;
	uint32_t holds_count;	 /* live holds */
	uint32_t bookings_count; /* live bookings */
	uint32_t tombstones_count;
	uint64_t holds_expired_total; /* since create */
	uint64_t memory_bytes;	      /* bytes the store allocated (pools, bitmaps, seat owners) */
};
void hf_store_counts(const struct hf_store *store, struct hf_store_counts *out);

/* Appends the store's counters to a STATS reply (names prefixed "store_"). */
void hf_store_stats(const struct hf_store *store, struct hf_rep_stats *stats);

/* Calls fn for each event id of the store whose slot is `slot` (for rebalancing). Cost: a scan of
 * all events, O(events_count). */
void hf_store_for_each_event_in_slot(const struct hf_store *store, uint16_t slot,
				     void (*fn)(uint64_t event_id, void *arg), void *arg);

/* O(n) consistency check of every structure (bitmaps vs owners vs holds vs counts vs each user's
 * total). Panics on the first violation. Run after every mutation when built with HF_STORE_CHECKS
 * (amortized on large stores, see store_check.c). */
void hf_store_check(const struct hf_store *store);

#endif
