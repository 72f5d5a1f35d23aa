/* Internals of the seat store, shared by its four files (store.c, store_records.c, store_wheel.c,
 * store_check.c), its tests and its micro-benchmark.
 *
 * Nothing outside shards/, tests/shards/ and bench/store_bench.c includes this header: the layout
 * below may change at any time. The public contract is shards/store.h. */
#ifndef HF_SHARDS_STORE_INT_H
#define HF_SHARDS_STORE_INT_H

#include "base/assert.h"
#include "shards/store.h"

#include <stdint.h>

/* Pools at least this large ask for transparent huge pages (see reserve() in store.c). */
#define HF_STORE_HUGE_SIZE_MIN (4u * 1024u * 1024u)
/* Seats per owner chunk: owner arrays (u32 record index + 1 per seat) are allocated per chunk, only
 * for chunks that have at least one non-free seat. */
#define HF_STORE_CHUNK_SEATS 512u
/* Seats per free-count block: a block whose free count is 0 is skipped by best-available. */
#define HF_STORE_BLOCK_SEATS 4096u
/* Timer wheel: slots and the width of one slot. Span = 4096 * 16 ms = 65.5 s per rotation; later
 * deadlines wait in their slot for more rotations (each entry keeps its exact time). */
#define HF_STORE_WHEEL_SLOTS   4096u
#define HF_STORE_WHEEL_TICK_MS 16u
/* Events of one store that may have a waiting room (each room allocates its own places). */
#define HF_STORE_ROOMS_MAX 64u
/* Seats a record keeps inline. A longer seat list lives in the store's seat-list pool (one list
 * of HF_HOLD_SEATS_MAX seats per record at most, so the pool never runs out before the records
 * do): a record is then 128 bytes, two cache lines, where the whole list inline made it 344 (most
 * holds are of 1-4 seats, and each new record is memory touched for the first time). */
#define HF_STORE_RECORD_SEATS_INLINE 7u
/* Version byte that opens every record value. */
#define HF_STORE_RECORD_VERSION 1u

HF_STATIC_ASSERT(HF_STORE_CHUNK_SEATS % 64u == 0, "chunks are whole bitmap words");
HF_STATIC_ASSERT(HF_STORE_BLOCK_SEATS % HF_STORE_CHUNK_SEATS == 0, "blocks are whole chunks");
HF_STATIC_ASSERT((HF_STORE_WHEEL_SLOTS & (HF_STORE_WHEEL_SLOTS - 1)) == 0, "wheel is a power of 2");

/* Record states.
 *
 * STATES (a record is one hold id of one event):
 *
 *   (none) --hold_place--> HELD --hold_confirm--> BOOKED --booking_cancel--> CANCELLED
 *                           |  \--hold_release--> RELEASED
 *                           \----hold_expire----> EXPIRED   (wheel_run, or lazily on touch)
 *
 *   EXPIRED | RELEASED | CANCELLED are tombstones: --record_forget--> (none) after tombstone_ttl_ms
 *   (wheel_run), or earlier when records are full (record_acquire evicts the oldest tombstone). */
enum record_state {
	RECORD_FREE = 0, /* in the free list */
	RECORD_HELD = 1,
	RECORD_BOOKED = 2,
	RECORD_EXPIRED = 3,
	RECORD_RELEASED = 4,
	RECORD_CANCELLED = 5,
};

#define RECORD_NONE 0u /* "no record" in links and owner arrays, which store index + 1 */

struct record {
	uint64_t id;	      /* hold id = booking id, non-zero */
	uint64_t user_id;     /* as given in the HOLD */
	uint64_t created_ms;  /* wall clock of the HOLD */
	uint64_t deadline_ms; /* current deadline (kept after confirm, for replays) */
	uint64_t ended_ms;    /* tombstones: when it ended (the deadline for EXPIRED) */
	uint64_t fingerprint; /* hash of user, mode, count and explicit seats */
	uint64_t wheel_ms; /* when the wheel fires it: deadline (HELD) or ended + ttl (tombstone) */
	uint64_t list_seq; /* when it joined its user list (store->list_seq_last), for paging */
	uint32_t event_index; /* into store->events */
	uint32_t wheel_prev;  /* record index + 1 in the wheel slot list; 0 = none */
	uint32_t wheel_next;  /* ... also the free-list link when FREE */
	uint32_t tomb_prev;   /* tombstone FIFO (oldest first) */
	uint32_t tomb_next;
	uint32_t user_prev; /* the user entry's list of this state (HELD or BOOKED records) */
	uint32_t user_next;
	uint32_t wheel_slot; /* the wheel slot it is linked in, when in_wheel */
	uint8_t state;	     /* enum record_state */
	uint8_t mode;	     /* enum hf_hold_mode */
	uint8_t seats_count; /* 1 .. HF_HOLD_SEATS_MAX */
	uint8_t in_wheel;    /* 1 when linked in a wheel slot */
	/* The seats (explicit: request order; best: ascending), read through record_seats: inline
	 * up to HF_STORE_RECORD_SEATS_INLINE, else seats_inline[0] is the seat-list index + 1. */
	uint32_t seats_inline[HF_STORE_RECORD_SEATS_INLINE];
};
HF_STATIC_ASSERT(sizeof(struct record) == 128u, "a record is two cache lines");

struct event {
	uint64_t id;
	uint32_t seats_count; /* 1 .. HF_EVENT_SEATS_MAX */
	uint32_t row_width;   /* 0 = one row */
	uint32_t user_limit;  /* 0 = none */
	uint32_t lifetime_s;  /* effective, 1 .. HF_HOLD_LIFETIME_MAX_S */
	uint32_t free_count;
	uint32_t held_count;
	uint32_t booked_count;
	uint32_t holds_count;	 /* live holds */
	uint32_t bookings_count; /* live bookings */
	uint32_t words_count;	 /* ceil(seats / 64) */
	uint32_t blocks_count;	 /* ceil(seats / HF_STORE_BLOCK_SEATS) */
	uint32_t chunks_count;	 /* ceil(seats / HF_STORE_CHUNK_SEATS) */
	uint64_t *free_bits;	 /* bit set = seat free; bits past seats_count are 0 */
	uint32_t *block_free;	 /* free seats per block */
	uint32_t *chunk_index;	 /* owner chunk (pool index + 1) per chunk of seats, 0 = all free */
	uint16_t *chunk_used;	 /* non-free seats per chunk, 0 .. HF_STORE_CHUNK_SEATS */
	uint32_t sections_count; /* 0 .. HF_EVENT_SECTIONS_MAX */
	struct hf_section *sections; /* in the arena, in creation order; NULL when none */
	uint32_t user_rate;   /* HOLDs per second per user (CREATE_EVENT); 0 = the server's */
	uint32_t user_burst;  /* its bucket size; 0 = user_rate */
	struct hf_room *room; /* the event's waiting room (shards/room.h), or NULL */
	/* Reuse after EVENT_DELETE (store_move.c): the arena extent of the arrays above starts at
	 * free_bits and is arena_bytes long; sections_cap sections fit at `sections`. A deleted
	 * event has id 0 and sits on the free list through free_next (index + 1). */
	uint32_t arena_bytes;
	uint32_t sections_cap;
	uint32_t free_next;
};

/* A deleted event's slot in events[] (id 0, on the free list). */
static inline int event_is_deleted(const struct event *ev)
{
	return ev->id == 0;
}

/* The two lists a user entry keeps, indexed by record state: live holds and live bookings. */
#define USER_LIST_HOLDS	   0u
#define USER_LIST_BOOKINGS 1u
#define USER_LISTS_COUNT   2u

/* One (event, user) with at least one live record: the seat total the user limit checks and the
 * user's live records, each list in the order its records joined it (increasing list_seq). */
struct user_entry {
	uint64_t user_id;
	uint32_t event_index_1;		 /* event index + 1; 0 = empty slot */
	uint32_t seats_count;		 /* held + booked seats of the user in the event, >= 1 */
	uint32_t head[USER_LISTS_COUNT]; /* record index + 1, oldest first; 0 = empty */
	uint32_t tail[USER_LISTS_COUNT];
};

struct hf_store {
	struct hf_store_config cfg;

	/* Events: a pool (deleted events' slots are reused from a free list) and an id -> index
	 * table. events_count is the high-water mark: events[0 .. events_count) were used. */
	struct event *events;
	uint32_t events_count;
	uint32_t event_free_head; /* index + 1 of a deleted event's slot; 0 = none */
	uint32_t events_free_count;
	uint32_t *event_table; /* index + 1; linear probing */
	uint32_t event_table_mask;

	/* Per-event arrays (bitmaps, counts, chunk maps): a bump arena reserved at create, touched
	 * as events are created. */
	uint8_t *arena;
	size_t arena_size;
	size_t arena_used;

	/* Owner chunks: a reserved pool of chunks_max * HF_STORE_CHUNK_SEATS u32, touched up to the
	 * high water mark; freed chunks go to a free list linked through their first entry. */
	uint32_t *chunks;
	uint32_t chunks_max;
	uint32_t chunks_high; /* chunks ever handed out from the bump end */
	uint32_t chunks_used;
	uint32_t chunk_free_head; /* index + 1 */

	/* Records: holds, bookings and tombstones. */
	struct record *records; /* zeroed (calloc): untouched records cost no resident memory */
	uint32_t records_used;
	uint32_t records_high;	   /* records ever handed out from the bump end */
	uint32_t record_free_head; /* index + 1; records given back below records_high */
	uint64_t *record_table;	   /* hash << 32 | index + 1; key (event_index, id) */
	uint32_t record_table_mask;
	uint32_t tomb_head; /* oldest tombstone, index + 1 */
	uint32_t tomb_tail;
	/* Seat lists of records with more than HF_STORE_RECORD_SEATS_INLINE seats: a reserved pool
	 * of records_max lists of HF_HOLD_SEATS_MAX u32, touched up to the high water mark; freed
	 * lists go to a free list linked through their first entry. */
	uint32_t *seat_lists;
	uint32_t seat_lists_high;
	uint32_t seat_lists_used;
	uint32_t seat_list_free_head; /* index + 1 */

	/* Per (event, user) seat totals and lists of live records, for every event. */
	struct user_entry *users;
	uint32_t users_mask;
	uint32_t users_count;
	uint64_t list_seq_last;	      /* the last list_seq handed out; grows by one per list join */
	uint64_t mutations_unchecked; /* HF_STORE_CHECKS: mutations since the last full check */

	/* Hashed timer wheel of records (HELD: deadline; tombstones: forget time). */
	uint32_t wheel_head[HF_STORE_WHEEL_SLOTS];
	uint64_t wheel_min_ms[HF_STORE_WHEEL_SLOTS]; /* lower bound of the slot's times */
	uint64_t wheel_nonempty[HF_STORE_WHEEL_SLOTS / 64];
	uint64_t wheel_cursor_tick; /* slots before this tick have nothing due */
	uint32_t wheel_count;

	/* Totals over all events. */
	uint64_t seats_total;
	uint64_t free_total;
	uint64_t held_total;
	uint64_t booked_total;
	uint32_t holds_total;
	uint32_t bookings_total;
	uint32_t tombstones_total;
	uint64_t holds_expired_total;

	/* Events with a waiting room (indexes into events), for ticks and stats. */
	uint32_t rooms[HF_STORE_ROOMS_MAX];
	uint32_t rooms_count;

	uint64_t fixed_bytes;	/* bytes allocated at create (pools, tables, scratch) */
	uint8_t *avail_scratch; /* HF_AVAIL_RANGE_MAX / 8 bytes */
};

/* ---- Shared by the store's files (store.c, store_records.c, store_wheel.c, store_check.c) ---- */

#define WORD_BITS   64u
#define CHUNK_WORDS (HF_STORE_CHUNK_SEATS / WORD_BITS)
#define BLOCK_WORDS (HF_STORE_BLOCK_SEATS / WORD_BITS)

static inline uint32_t record_index(const struct hf_store *store, const struct record *rec)
{
	return (uint32_t)(rec - store->records);
}

static inline struct record *record_at(struct hf_store *store, uint32_t index_1)
{
	HF_ASSERT(index_1 != RECORD_NONE && index_1 <= store->cfg.records_max);
	return &store->records[index_1 - 1];
}

/* The seats of a record (seats_count of them), inline or in its seat list. */
static inline uint32_t *record_seats(const struct hf_store *store, const struct record *rec)
{
	if (rec->seats_count <= HF_STORE_RECORD_SEATS_INLINE)
		return (uint32_t *)rec->seats_inline;
	uint32_t list_1 = rec->seats_inline[0];
	HF_ASSERT(list_1 != 0);
	HF_ASSERT(list_1 <= store->seat_lists_high);
	return &store->seat_lists[(size_t)(list_1 - 1) * HF_HOLD_SEATS_MAX];
}

static inline int record_is_tombstone(const struct record *rec)
{
	return rec->state == RECORD_EXPIRED || rec->state == RECORD_RELEASED ||
	       rec->state == RECORD_CANCELLED;
}

static inline uint64_t lifetime_ms(const struct event *ev)
{
	return (uint64_t)ev->lifetime_s * 1000u;
}

/* How many more changes (each at most one full value) surely fit. */
static inline uint32_t changes_room(const struct hf_changes *changes)
{
	HF_ASSERT(changes->count <= changes->capacity);
	HF_ASSERT(changes->values_size <= changes->values_capacity);
	uint32_t items = changes->capacity - changes->count;
	uint32_t values =
	    (changes->values_capacity - changes->values_size) / HF_RECORD_VALUE_SIZE_MAX;
	return items < values ? items : values;
}

static inline int seat_is_free(const struct event *ev, uint32_t seat)
{
	return (int)((ev->free_bits[seat / WORD_BITS] >> (seat % WORD_BITS)) & 1u);
}

/* Record index + 1 owning seat, or RECORD_NONE. */
static inline uint32_t seat_owner(const struct hf_store *store, const struct event *ev,
				  uint32_t seat)
{
	uint32_t c = ev->chunk_index[seat / HF_STORE_CHUNK_SEATS];
	if (c == 0)
		return RECORD_NONE;
	return store->chunks[(size_t)(c - 1) * HF_STORE_CHUNK_SEATS + seat % HF_STORE_CHUNK_SEATS];
}

struct wheel_budget {
	uint32_t holds_left;  /* holds that may still expire */
	uint32_t tombs_left;  /* tombstones that may still be forgotten */
	uint32_t room_keep;   /* changes to leave free in the list */
	uint32_t holds_fired; /* holds expired */
};

/* store.c: events, users, seats. */
uint32_t store_event_find(const struct hf_store *store, uint64_t id);
uint32_t store_event_add(struct hf_store *store, uint64_t id, uint32_t seats_count,
			 uint32_t row_width, uint32_t user_limit, uint32_t lifetime_s);
/* The users[] slot of (event, user), or UINT32_MAX when the user owns no seat of the event. */
uint32_t store_user_slot(const struct hf_store *store, uint32_t event_index, uint64_t user_id);
/* Adds a HELD or BOOKED record to its user's entry (seat total and the list of its state), and
 * takes it out again; a record changing state is unlinked before and linked after. */
void store_user_link(struct hf_store *store, struct record *rec);
/* Gives event `index` its sections (checked by store_sections_check), copied into the arena. */
void store_event_sections_set(struct hf_store *store, uint32_t index,
			      const struct hf_section *sections, uint32_t n);
void store_user_unlink(struct hf_store *store, struct record *rec);
/* HELD -> BOOKED (or back) in place: the record changes list, its seats stay counted. */
void store_user_move(struct hf_store *store, struct record *rec, uint8_t state);
void store_seat_take(struct hf_store *store, struct event *ev, uint32_t seat, uint32_t owner_1);
void store_record_seats_free(struct hf_store *store, struct record *rec);

/* 1 when an event of `seats` seats with n_sections sections fits (a slot and arena room). */
int store_event_fits(const struct hf_store *store, uint32_t seats, uint32_t n_sections);
/* Rebuilds the id -> index table from the live events (after a delete). O(table). */
void store_event_table_rebuild(struct hf_store *store);

/* store_move.c: EVENT_DELETE and a slot's export and import. */
/* Deletes event `index` and all its records; appends one DEL_RANGE change. */
void store_event_delete(struct hf_store *store, uint32_t index, struct hf_changes *changes);

/* store_records.c: change records, the record table, the pool and its transitions. */
/* Encodes the persisted value of an event or a record into v (room for
 * HF_RECORD_VALUE_SIZE_MAX); returns its size. */
uint32_t store_event_value(const struct event *ev, uint8_t *v);
uint32_t store_record_value(const struct hf_store *store, const struct record *rec, uint8_t *v);
/* Drops any record (a live one gives its seats back) without a change record. */
void store_record_drop(struct hf_store *store, struct record *rec);
/* Appends a change with the given key and value (value_size 0 for DEL and DEL_RANGE). */
void store_change_raw(struct hf_changes *changes, uint8_t kind, const uint8_t *key,
		      uint8_t key_size, const uint8_t *value, uint16_t value_size);
void store_change_put_event(struct hf_changes *changes, const struct event *ev);
void store_change_put_record(struct hf_store *store, struct hf_changes *changes,
			     const struct record *rec);
uint32_t store_record_find(const struct hf_store *store, uint32_t event_index, uint64_t id);
/* The record-table slot a lookup of (event_index, id) probes first. */
const uint64_t *store_record_home(const struct hf_store *store, uint32_t event_index, uint64_t id);
void store_record_table_insert(struct hf_store *store, uint32_t index_1);
void store_record_end(struct hf_store *store, struct record *rec, uint8_t state, uint64_t ended_ms);
void store_hold_expire(struct hf_store *store, struct record *rec, struct hf_changes *changes);
void store_record_forget(struct hf_store *store, struct record *rec, struct hf_changes *changes);
struct record *store_record_acquire(struct hf_store *store, struct hf_changes *changes);
/* Gives rec (seats_count 0: fresh from store_record_acquire) the n seats, 1 .. HF_HOLD_SEATS_MAX,
 * taking a seat list when they do not fit inline. */
void store_record_seats_set(struct hf_store *store, struct record *rec, const uint32_t *seats,
			    uint32_t n);

/* store_wheel.c */
void store_wheel_arm(struct hf_store *store, struct record *rec, uint64_t at_ms);
void store_wheel_cancel(struct hf_store *store, struct record *rec);
int store_wheel_run(struct hf_store *store, uint64_t now_ms, struct wheel_budget *b,
		    struct hf_changes *changes);

/* store_pick.c: sections, rows and seat picking (see its file comment for the rules). */
/* HF_OK, or HF_ERR_INVALID with *bad_out = the index of the first section that is empty, outside
 * the event, wider than its row width allows, overlapping or named like an earlier one. */
enum hf_status store_sections_check(uint32_t seats_count, const struct hf_section *sections,
				    uint32_t n, uint32_t *bad_out);
/* Seats for a BEST or ANY hold in its scope, ascending: HF_OK, HF_NOT_ENOUGH, HF_ERR_INVALID (the
 * scope names no section), HF_ORPHAN_SEAT (ANY with NO_ORPHAN; *detail_out = the seat). */
enum hf_status store_pick(const struct event *ev, const struct hf_req_hold *r, uint32_t *seats_out,
			  uint64_t *detail_out);
/* The lowest seat the n (free) seats would leave orphaned, or UINT32_MAX. */
uint32_t store_orphan_find(const struct event *ev, const uint32_t *seats, uint32_t n);
uint32_t store_count_free(const struct event *ev, uint32_t lo, uint32_t hi);
/* 1 when seat s lies in a general admission section. O(sections). */
int store_seat_is_ga(const struct event *ev, uint32_t s);

/* store_room.c: the waiting room's side of the store (see its file comment). */
struct hf_room;
/* JOIN, POSITION, ROOM_SET, ROOM_INFO. */
enum hf_status store_room_op(struct hf_store *store, const struct hf_request *req, uint64_t now_ms,
			     struct hf_reply *rep, struct hf_changes *changes);
/* HOLD on an event with a room: HF_OK or HF_NOT_ADMITTED (counted). */
enum hf_status store_room_hold_check(struct hf_store *store, const struct event *ev,
				     const struct hf_req_hold *r, uint64_t now_ms);
/* After an op: a HOLD's buyer stops shopping; a write on a room event pumps its room. Returns
 * the op's answer: st, or for a JOIN or POSITION what the pump made of the buyer's place (its
 * expired admission requeued, or dropped: NOT_IN_QUEUE). */
enum hf_status store_room_after(struct hf_store *store, const struct hf_request *req,
				enum hf_status st, uint64_t now_ms, struct hf_reply *rep,
				struct hf_changes *changes);
uint32_t store_room_tick(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes);
uint64_t store_room_next_ms(const struct hf_store *store);
/* A 'P' or 'Q' record. */
enum hf_status store_room_load(struct hf_store *store, const uint8_t *key, size_t key_size,
			       const uint8_t *value, size_t value_size);
void store_room_stats(const struct hf_store *store, uint64_t now_ms, struct hf_rep_stats *stats);
uint64_t store_room_memory_bytes(const struct hf_store *store);
void store_room_check(const struct hf_store *store);
void store_room_destroy_all(struct hf_store *store);
/* Frees the waiting room of event `index` (being deleted), if it has one (store_move.c). */
void store_room_event_deleted(struct hf_store *store, uint32_t index);

/* store_check.c: hf_store_check after a mutation, amortized (builds with HF_STORE_CHECKS). */
void store_check_after_mutation(struct hf_store *store);

#endif
