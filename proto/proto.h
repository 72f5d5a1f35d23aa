/* The holdfast wire protocol: frame header, opcodes, status codes, limits, per-opcode bodies, and
 * the shard-key hash.
 *
 * Shared by the server (engine/) and the client (client/). This layer does no I/O and no
 * allocation: it turns bytes into structs and structs into bytes, checking every length against an
 * explicit limit. Decoders never trust their input: a short, long or inconsistent body is
 * HF_ERR_MALFORMED, a length past a limit is HF_ERR_TOO_LARGE, and no decoder reads outside the
 * buffer it was given. docs/protocol.md is the normative description; the tables below mirror it.
 *
 * Thread-safety: every function is pure (no global state) and may be called from any thread. */
#ifndef HF_PROTO_PROTO_H
#define HF_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- Status codes (u16 on the wire): 0 is success, any other value an answer, not a crash ---- */
enum hf_status {
	HF_OK = 0,
	/* Frame- and transport-level problems. */
	HF_ERR_MALFORMED = 1, /* body does not decode for its opcode, or a reserved field is set */
	HF_ERR_VERSION = 2,   /* unsupported protocol version */
	HF_ERR_OPCODE = 3,    /* unknown opcode */
	HF_ERR_TOO_LARGE = 4, /* a length or count is past its limit */
	HF_MOVED = 5,	      /* this shard does not own the event's slot; detail = map epoch */
	HF_BUSY = 6,	      /* a bound was reached (connections, queue, pool); retry later */
	HF_TRY_AGAIN = 7,     /* the slot is moving between shards; retry shortly */
	HF_ERR_INTERNAL = 8,  /* the server hit a condition it could not handle */
	HF_ERR_IO = 9,	      /* persisting the change failed; nothing changed */
	HF_ERR_INVALID = 10,  /* an argument is out of its domain (zero id, seats or ttl ...) */
	HF_ERR_CAPACITY = 11, /* the shard's store is full (events, holds or seats) */
	/* Domain answers. */
	HF_NO_EVENT = 16,     /* the event does not exist */
	HF_EVENT_EXISTS = 17, /* an event with this id exists with different parameters */
	HF_SEAT_RANGE = 18,   /* a seat index is outside the event; detail = that seat */
	HF_SEAT_TAKEN = 19,   /* a requested seat is held or booked; detail = the first such seat */
	HF_NOT_ENOUGH = 20,   /* best-available: no N adjacent free seats in one row */
	HF_USER_LIMIT = 21,   /* the user would pass the per-user limit; detail = seats owned */
	HF_NO_HOLD = 22,      /* no hold (live or recently ended) has this id */
	HF_HOLD_EXPIRED = 23, /* the hold passed its deadline; its seats were returned to sale */
	HF_HOLD_RELEASED = 24,	   /* the hold was released */
	HF_ID_CONFLICT = 25,	   /* the id was used before for a different request */
	HF_NO_BOOKING = 26,	   /* no booking has this id */
	HF_BOOKING_CANCELLED = 27, /* the booking was cancelled */
	HF_HOLD_CONFIRMED = 28,	   /* the hold is already a booking (release of a confirmed hold) */
	HF_DUPLICATE_SEAT = 29,	   /* a seat appears twice in one request; detail = that seat */
	HF_ORPHAN_SEAT = 30,	   /* a lone free seat would be left in a row; detail = that seat */
	HF_WATCHING = 31, /* the connection watches an event: no writes, one event; detail = it */
	/* Access (40..). */
	HF_UNAUTHORIZED = 40, /* no valid AUTH on this connection; the server closes it */
	HF_FORBIDDEN = 41,    /* the connection's role may not do this (or the path is outside the
				 backup root) */
	HF_RATE_LIMITED = 42, /* the user sent too much too fast; detail = ms to wait */
	/* Waiting room (43..47). */
	HF_NOT_ADMITTED = 43, /* HOLD on a room event without a valid, unexpired admission token */
	HF_NOT_IN_QUEUE = 44, /* POSITION: the user has no place in the event's waiting room */
	HF_ROOM_FULL = 45,    /* JOIN: the waiting room is at its bound; detail = the bound */
	HF_NO_ROOM = 46,      /* JOIN / POSITION: the event's waiting room is off */
	HF_SOLD_OUT = 47,     /* JOIN / POSITION: every seat is booked, nothing left to wait for */
	/* Slot moves and event delete (35..37). */
	HF_EVENT_HAS_HOLDS = 35, /* EVENT_DELETE without force: the event has live holds; detail =
				    how many */
	HF_MOVE_STATE = 36,	 /* the shard is not where this move step needs it (no copy of the
				    slot, another slot moving, still serving it); detail = its
				    enum hf_move_state */
	HF_MOVE_FAILED = 37,	 /* the copy of the slot failed (source unreachable, change log
				    full, a record the store refused); roll the move back */
	/* Replication (12..15; proto/repl.h). */
	HF_REPL_FENCED = 12, /* the sender's epoch is below one this shard has seen; detail = it */
	HF_NOT_PRIMARY = 13, /* this shard is a replica: writes go to its primary; detail = epoch */
	HF_REPL_BEHIND =
	    14, /* this replica has not applied a whole snapshot: promoting it loses data */
};

/* Static name of a status ("OK", "SEAT_TAKEN", ...); "UNKNOWN" for values not listed above. */
const char *hf_status_name(uint16_t status);
/* One-line human explanation of a status, for CLI and log messages. */
const char *hf_status_message(uint16_t status);
/* 1 when a client may resend the same request (same ids) later and expect progress. */
int hf_status_is_retryable(uint16_t status);

/* ---- Opcodes (u8). 0x10-0x1f are reserved for batch opcodes, 0x20-0x3f for admin opcodes. ---- */
enum hf_opcode {
	HF_OP_PING = 0x01,
	HF_OP_CREATE_EVENT = 0x02,
	HF_OP_EVENT_INFO = 0x03,
	HF_OP_HOLD = 0x04,
	HF_OP_EXTEND = 0x05,
	HF_OP_CONFIRM = 0x06,
	HF_OP_RELEASE = 0x07,
	HF_OP_CANCEL = 0x08,
	HF_OP_AVAIL = 0x09,
	HF_OP_SEAT_STATUS = 0x0a,
	HF_OP_SLOT_MAP = 0x0b,
	HF_OP_STATS = 0x0c,
	HF_OP_SEAT_INFO = 0x0d,	    /* SEAT_STATUS that also names each owner's user */
	HF_OP_USER_HOLDS = 0x0e,    /* a user's live holds of an event, paged */
	HF_OP_USER_BOOKINGS = 0x0f, /* a user's live bookings of an event, paged */
	/* 0x40 .. : opcodes added after the batch and admin ranges were reserved. */
	HF_OP_EVENT_SECTIONS = 0x40, /* an event's sections and tiers with their free counts */
	HF_OP_WATCH = 0x41,	     /* push this event's changes to this connection */
	HF_OP_UNWATCH = 0x42,	     /* stop pushing them */
	/* 0x43 (HF_OP_WATCH_CHANGE, proto/watch.h) is pushed by the server, never a request. */
	/* Admin. */
	HF_OP_BACKUP = 0x20, /* checkpoint the shard's data into <path>/shard-<index> */
	/* Batch (0x10-0x1f). */
	HF_OP_BATCH =
	    0x10, /* several independent store ops in one frame, each with its own answer */
	/* Connection-level (0x50-0x5f). */
	HF_OP_AUTH = 0x50, /* present a token: the connection gets its role */
	/* Waiting room (0x48-0x4f). */
	HF_OP_JOIN = 0x48,	/* take a place in the event's waiting room (or see it) */
	HF_OP_POSITION = 0x49,	/* a user's place, wait estimate and token once admitted */
	HF_OP_ROOM_SET = 0x4a,	/* turn an event's waiting room on or off, set its parameters */
	HF_OP_ROOM_INFO = 0x4b, /* the room's length, admitted buyers, rate and estimate */
	/* Slot moves and event delete (admin range 0x21-0x2f; EVENT_DELETE is routed). */
	HF_OP_EVENT_DELETE = 0x21, /* delete an event and everything of it */
	HF_OP_MOVE_COPY = 0x22,	   /* target: copy a slot from its source (starts, then reports) */
	HF_OP_MOVE_EXPORT = 0x23,  /* source: the next chunk of a slot's records and changes */
	HF_OP_MOVE_FREEZE = 0x24,  /* source: the slot answers TRY_AGAIN */
	HF_OP_MOVE_PERSISTED = 0x25, /* target: take the last changes, report once durable */
	HF_OP_MOVE_DROP = 0x26,	     /* either side: delete the shard's copy of a slot */
	HF_OP_MOVE_UNFREEZE = 0x27,  /* source: serve the slot again (a rolled-back move) */
	/* Replication (admin range 0x30-0x3f, bodies in proto/repl.h; not in the opcode table). */
	HF_OP_REPL_SUBSCRIBE = 0x30, /* a replica asks for its primary's batch stream */
	HF_OP_REPL_ACK = 0x31,	     /* a replica says which batch it holds durable */
	HF_OP_REPL_BATCH = 0x32,   /* pushed by the primary: one sealed batch (or snapshot) part */
	HF_OP_REPL_PROMOTE = 0x33, /* a replica stops following and serves writes, at a new epoch */
};
#define HF_OP_BATCH_FIRST 0x10
#define HF_OP_BATCH_LAST  0x1f
#define HF_OP_ADMIN_FIRST 0x20
#define HF_OP_ADMIN_LAST  0x3f

/* Static name of an opcode ("HOLD", ...); "UNKNOWN" for values not listed above. */
const char *hf_opcode_name(uint8_t opcode);
/* The opcode's name in lower case ("hold", "seat_status"; "unknown"), for stat names and metric
 * labels: at most size - 1 bytes and a NUL at out (size >= 1). Returns the bytes written. */
size_t hf_opcode_name_lower(uint8_t opcode, char *out, size_t size);
/* 1 when the opcode changes state (and is therefore persisted before it is answered). */
int hf_opcode_is_write(uint8_t opcode);

/* ---- Limits. Every length on the wire is checked against one of these. ---- */
#define HF_PROTO_VERSION	   1
#define HF_FRAME_MAGIC		   0x4648u /* bytes 'H' 'F' */
#define HF_FRAME_HEADER_SIZE	   24u
#define HF_FRAME_REQUEST_ID_OFFSET 8u /* the u64 request id inside the header (see below) */
#define HF_FRAME_BODY_SIZE_MAX	   (256u * 1024u)
#define HF_FRAME_SIZE_MAX	   (HF_FRAME_HEADER_SIZE + HF_FRAME_BODY_SIZE_MAX)
#define HF_FLAG_REPLY		   0x0001u
#define HF_FLAGS_KNOWN		   HF_FLAG_REPLY

#define HF_SLOTS_COUNT		   4096u
#define HF_EVENT_SEATS_MAX	   (16u * 1024u * 1024u) /* seats in one event */
#define HF_HOLD_SEATS_MAX	   64u			 /* seats in one hold or booking */
#define HF_SEAT_STATUS_SEATS_MAX   1024u		 /* seats in one SEAT_STATUS request */
#define HF_EVENT_SECTIONS_MAX	   16u /* sections of one event (they fit one persisted record) */
#define HF_SECTION_NAME_SIZE_MAX   15u /* bytes of a section name, without the NUL */
#define HF_USER_RECORDS_PAGE_MAX   64u /* records in one USER_HOLDS or USER_BOOKINGS reply */
#define HF_AVAIL_RANGE_MAX	   (1024u * 1024u) /* seats in one AVAIL bitmap */
#define HF_HOLD_LIFETIME_MAX_S	   (24u * 3600u)   /* the largest per-event hold lifetime */
#define HF_HOLD_LIFETIME_DEFAULT_S 1800u	   /* lifetime used when an event says 0 */
#define HF_SLOT_OWNERS_MAX	   256u		   /* distinct (host, port) owners in a slot map */
#define HF_HOST_SIZE_MAX	   63u		   /* bytes of a host string, without the NUL */
#define HF_STATS_MAX		   256u		   /* entries in one STATS reply */
#define HF_STAT_NAME_SIZE_MAX	   47u		   /* bytes of a stat name, without the NUL */
#define HF_ERROR_BODY_SIZE	   8u		   /* body of every non-OK reply: u64 detail */
#define HF_AUTH_TOKEN_SIZE_MAX	   256u		   /* bytes of an AUTH token */
#define HF_PATH_SIZE_MAX	   1024u	   /* bytes of a path in an admin request */
#define HF_BATCH_OPS_MAX	   256u		   /* entries in one BATCH frame */
#define HF_USER_RATE_MAX	   1000000u	   /* an event's user_rate and user_burst */
#define HF_MOVE_CHUNK_SIZE_MAX	   (192u * 1024u)  /* record bytes in one MOVE_EXPORT reply */

/* ---- Frame header (24 bytes, little-endian) ----
 *  off size field
 *    0    2 magic       0x4648 ("HF")
 *    2    1 version     HF_PROTO_VERSION
 *    3    1 opcode      enum hf_opcode (a reply echoes the request's)
 *    4    2 flags       bit 0: reply; other bits zero
 *    6    2 status      enum hf_status in replies; zero in requests
 *    8    8 request_id  chosen by the client, echoed in the reply
 *   16    4 body_size   bytes following the header, <= HF_FRAME_BODY_SIZE_MAX
 *   20    4 reserved    zero */
struct hf_frame_header {
	uint16_t magic;
	uint8_t version;
	uint8_t opcode;
	uint16_t flags;
	uint16_t status;
	uint64_t request_id;
	uint32_t body_size;
	uint32_t reserved;
};

/* Writes the 24-byte header at buf (which must have room for it). */
void hf_frame_header_encode(uint8_t *buf, const struct hf_frame_header *header);

/* Reads the 24-byte header at buf (the caller has checked that 24 bytes are there).
 * Returns HF_OK; HF_ERR_MALFORMED when the magic, a flag bit or the reserved field is wrong (the
 * stream cannot be trusted: close it); HF_ERR_VERSION for another version and HF_ERR_TOO_LARGE for
 * a body past the limit (answerable, since the request id was read, but then close: the body is not
 * skipped). *out is filled in every case where the magic matched. */
enum hf_status hf_frame_header_decode(const uint8_t *buf, struct hf_frame_header *out);

/* ---- The shard key ----
 * slot = fmix64(event_id) % 4096, where fmix64 is the 64-bit finalizer of MurmurHash3. Fixed
 * forever: clients compute it too. */
static inline uint64_t hf_hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static inline uint16_t hf_slot_of(uint64_t event_id)
{
	return (uint16_t)(hf_hash64(event_id) % HF_SLOTS_COUNT);
}

/* ---- Requests ----
 * Ids (event, hold, booking) are never 0: 0 is HF_ERR_INVALID. A booking's id is the id of the hold
 * it was confirmed from. Zero a request before filling it (a designated initializer or memset):
 * fields added in later versions (HOLD's flags and scope, CREATE_EVENT's sections) mean "as
 * before" at 0, and garbage in them breaks the encoder's contract (hf_request_validate). */
enum hf_hold_mode {
	HF_HOLD_EXPLICIT = 0, /* hold exactly the listed seats */
	HF_HOLD_BEST = 1, /* hold the N adjacent free seats of one row with the lowest indexes */
	HF_HOLD_ANY = 2,  /* hold N free seats, adjacent or not, in as few rows as possible */
};

/* HOLD flags (struct hf_req_hold.flags). */
#define HF_HOLD_FLAG_NO_ORPHAN 0x01u /* refuse seats that would leave a lone free seat in a row */
#define HF_HOLD_FLAG_TIER      0x02u /* BEST / ANY: scope is a tier, not a section */
#define HF_HOLD_FLAG_TOKEN     0x04u /* an admission token (waiting room) follows the body */
#define HF_HOLD_FLAGS_KNOWN    (HF_HOLD_FLAG_NO_ORPHAN | HF_HOLD_FLAG_TIER | HF_HOLD_FLAG_TOKEN)

/* ---- Waiting room (docs/protocol.md 6.13) ---- */
#define HF_ROOM_MAC_SIZE	 32u /* HMAC-SHA256 over (event, user, expiry) */
#define HF_ROOM_TOKEN_SIZE	 (8u + HF_ROOM_MAC_SIZE) /* expires_ms, mac */
#define HF_ROOM_KEY_SIZE	 32u			 /* the per-event HMAC key */
#define HF_ROOM_QUEUE_SIZE_MAX	 1048576u /* places (waiting + admitted) of one room */
#define HF_ROOM_ADMIT_TTL_MS_MIN 1000u	  /* an admission lives at least 1 s ... */
#define HF_ROOM_ADMIT_TTL_MS_MAX 3600000u /* ... and at most an hour */
#define HF_ROOM_SHOPPERS_PCT_MAX 10000u	  /* 100 shoppers per free seat */

enum hf_room_policy {
	HF_ROOM_REQUEUE = 0, /* an admission not used in time goes to the end of the queue */
	HF_ROOM_DROP = 1,    /* ... or out of the room */
};

/* An admission token: valid for (event, user) until expires_ms; the shard checks the MAC with the
 * event's key, no lookup. */
struct hf_room_token {
	uint64_t expires_ms; /* wall clock, ms since the Unix epoch */
	uint8_t mac[HF_ROOM_MAC_SIZE];
};

struct hf_room_params {
	uint8_t enabled; /* 1: HOLD needs a token, JOIN works; 0: the room is off */
	uint8_t policy;	 /* enum hf_room_policy */
	uint16_t
	    shoppers_pct; /* buyers shopping at once per free seat, in hundredths: 1 .. 10000 */
	uint32_t admit_ttl_ms; /* how long an admission (its token) lasts */
	uint32_t queue_max;    /* places of the room, 1 .. HF_ROOM_QUEUE_SIZE_MAX; fixed once set */
};

/* Section kinds. */
#define HF_SECTION_SEATED 0u /* numbered seats, held by index or best-available */
#define HF_SECTION_GA	  1u /* general admission: counted places, held by quantity only */

/* A named, contiguous seat range of an event with its price tier. Rows: with row_width != 0 the
 * section's rows start at its first seat (seat s is in row (s - first) / row_width of the
 * section); with 0 the event's rows apply (row s / event row_width, one row when that is 0). A
 * general admission section is `count` places with no rows: a HOLD takes a quantity of them
 * (BEST or ANY with the section as scope), never named seats. */
struct hf_section {
	char name[HF_SECTION_NAME_SIZE_MAX +
		  1];	    /* NUL-terminated, 1 .. 15 bytes, unique per event */
	uint32_t first;	    /* first seat; sections do not overlap and lie inside the event */
	uint32_t count;	    /* seats (GA: the capacity), >= 1 */
	uint32_t row_width; /* 0 .. count; GA: 0 */
	uint8_t tier;	    /* any value; the application maps it to a price */
	uint8_t kind;	    /* HF_SECTION_SEATED or HF_SECTION_GA */
};

struct hf_req_create_event {
	uint64_t event_id;
	uint32_t seats_count;	      /* 1 .. HF_EVENT_SEATS_MAX */
	uint32_t row_width;	      /* seats per row for adjacency; 0 = one row */
	uint32_t user_limit;	      /* seats one user may hold + own; 0 = no limit */
	uint32_t hold_lifetime_max_s; /* a hold never lives longer; 0 = the server's default */
	uint32_t sections_count;      /* 0 .. HF_EVENT_SECTIONS_MAX; 0 = the 24-byte body */
	struct hf_section sections[HF_EVENT_SECTIONS_MAX];
	/* The event's per-user rate limit for HOLD (a token bucket per user): user_rate holds per
	 * second, bursts of user_burst (0: user_rate). 0 and 0: the server's --user-rate applies.
	 * 0 .. HF_USER_RATE_MAX each; a burst needs a rate. */
	uint32_t user_rate;
	uint32_t user_burst;
};

struct hf_req_event {
	uint64_t event_id;
};

struct hf_req_hold {
	uint64_t event_id;
	uint64_t hold_id; /* client-chosen idempotency key, unique per event */
	uint64_t user_id;
	uint32_t ttl_ms; /* 1 .. ; clamped to the event's hold lifetime */
	uint8_t mode;	 /* enum hf_hold_mode */
	uint8_t flags;	 /* HF_HOLD_FLAG_*; EXPLICIT takes NO_ORPHAN only */
	uint16_t scope;	 /* BEST / ANY: 0 = the event, k = section k - 1; with FLAG_TIER a tier */
	uint32_t seats_count; /* 1 .. HF_HOLD_SEATS_MAX: listed seats, or N for BEST / ANY */
	uint32_t seats[HF_HOLD_SEATS_MAX]; /* HF_HOLD_EXPLICIT only */
	struct hf_room_token token;	   /* with HF_HOLD_FLAG_TOKEN only */
};

struct hf_req_join { /* JOIN, POSITION */
	uint64_t event_id;
	uint64_t user_id;
};

struct hf_req_room_set {
	uint64_t event_id;
	struct hf_room_params params;
	/* Not on the wire: the server fills in a fresh random key; kept when the room has one. */
	uint8_t key[HF_ROOM_KEY_SIZE];
};

struct hf_req_extend {
	uint64_t event_id;
	uint64_t hold_id;
	uint32_t ttl_ms; /* new deadline = now + ttl_ms, never past created + lifetime */
};

struct hf_req_hold_ref { /* CONFIRM, RELEASE, CANCEL (hold_id is then the booking id) */
	uint64_t event_id;
	uint64_t hold_id;
};

struct hf_req_avail {
	uint64_t event_id;
	uint32_t first; /* first seat of the bitmap range */
	uint32_t count; /* seats in the range, 0 .. HF_AVAIL_RANGE_MAX; 0 = counts only */
};

struct hf_req_seat_status {
	uint64_t event_id;
	uint32_t seats_count; /* 1 .. HF_SEAT_STATUS_SEATS_MAX */
	uint32_t seats[HF_SEAT_STATUS_SEATS_MAX];
};

/* USER_HOLDS and USER_BOOKINGS. The cursor is opaque: zero for the first page, then the reply's
 * next cursor. Records are listed in the order they joined the list (a hold when placed, a booking
 * when confirmed); a record that ends between two pages is not listed. */
struct hf_req_user_records {
	uint64_t event_id;
	uint64_t user_id;
	uint64_t cursor_seq; /* 0 = from the start */
	uint64_t cursor_id;
	uint32_t limit; /* records wanted, 1 .. HF_USER_RECORDS_PAGE_MAX */
};

struct hf_req_backup {
	char path[HF_PATH_SIZE_MAX + 1]; /* NUL-terminated, absolute, 1 .. HF_PATH_SIZE_MAX bytes */
};

struct hf_req_auth {
	uint16_t token_size;		       /* 1 .. HF_AUTH_TOKEN_SIZE_MAX */
	uint8_t token[HF_AUTH_TOKEN_SIZE_MAX]; /* any bytes but NUL and white space */
};

/* BATCH: `ops_count` entries back to back in `entries` (entries_size bytes), each laid out as
 * HF_BATCH_ENTRY_HEADER_SIZE bytes (u8 opcode, u8 reserved, u16 reserved, u32 body size, u64
 * request id) and then the op's own request body. Borrowed: points into the decoded body, or, when
 * encoding, into the caller's memory. hf_batch_entry_encode writes entries, hf_batch_next walks
 * them. */
struct hf_req_batch {
	uint16_t ops_count; /* 1 .. HF_BATCH_OPS_MAX */
	uint32_t entries_size;
	const uint8_t *entries;
};

/* EVENT_DELETE flags. */
#define HF_EVENT_DELETE_FORCE	    0x1u /* delete even while the event has live holds */
#define HF_EVENT_DELETE_FLAGS_KNOWN HF_EVENT_DELETE_FORCE

struct hf_req_event_delete {
	uint64_t event_id;
	uint32_t flags; /* HF_EVENT_DELETE_* */
};

/* MOVE_COPY (slot, host, port), MOVE_EXPORT (slot, cursor, log_offset) and MOVE_FREEZE,
 * MOVE_PERSISTED, MOVE_DROP, MOVE_UNFREEZE (slot). */
struct hf_req_move {
	uint16_t slot;			 /* 0 .. HF_SLOTS_COUNT - 1 */
	uint16_t port;			 /* MOVE_COPY: the source shard's port, >= 1 */
	char host[HF_HOST_SIZE_MAX + 1]; /* MOVE_COPY: the source's host, NUL-terminated, 1 .. 63 */
	uint64_t cursor;		 /* MOVE_EXPORT: where the snapshot goes on; 0 = start */
	uint64_t log_offset;		 /* MOVE_EXPORT: change-log bytes the target applied */
};

struct hf_request {
	uint8_t opcode;
	uint64_t request_id;
	union {
		struct hf_req_create_event create_event;
		struct hf_req_event event_info;
		struct hf_req_hold hold;
		struct hf_req_extend extend;
		struct hf_req_hold_ref confirm;
		struct hf_req_hold_ref release;
		struct hf_req_hold_ref cancel;
		struct hf_req_avail avail;
		struct hf_req_seat_status seat_status;
		struct hf_req_seat_status seat_info; /* the same body as SEAT_STATUS */
		struct hf_req_user_records user_holds;
		struct hf_req_user_records user_bookings;
		struct hf_req_event event_sections;
		struct hf_req_event watch;
		struct hf_req_event unwatch;
		struct hf_req_backup backup;
		struct hf_req_auth auth;
		struct hf_req_batch batch;
		struct hf_req_join join;
		struct hf_req_join position;
		struct hf_req_room_set room_set;
		struct hf_req_event room_info;
		struct hf_req_event_delete event_delete;
		struct hf_req_move move; /* every MOVE_* opcode */
	};
};

/* The event id a request is routed by (its shard key); 0 for PING, SLOT_MAP, STATS and admin
 * opcodes, which go to a shard chosen by the caller. */
uint64_t hf_request_event_id(const struct hf_request *req);

/* Encodes a whole request frame (header + body) into buf. Returns the frame size, or 0 when cap is
 * too small. The request must be well formed (hf_request_validate answers HF_OK): that is the
 * caller's contract and is asserted. The request id goes to header offset
 * HF_FRAME_REQUEST_ID_OFFSET. */
size_t hf_request_encode(const struct hf_request *req, uint8_t *buf, size_t cap);

/* Decodes a request body. header has been decoded by hf_frame_header_decode (HF_OK) and body holds
 * header->body_size bytes. Returns HF_OK and fills *out, or HF_ERR_OPCODE / HF_ERR_MALFORMED /
 * HF_ERR_TOO_LARGE / HF_ERR_INVALID with *out->opcode and request_id still set, so the caller can
 * answer. Domain checks that need the store (seat in range, event exists) are not done here. */
enum hf_status hf_request_decode(const struct hf_frame_header *header, const uint8_t *body,
				 struct hf_request *out);

/* ---- Replies ---- */
enum hf_seat_state {
	HF_SEAT_FREE = 0,
	HF_SEAT_HELD = 1,
	HF_SEAT_BOOKED = 2,
};

struct hf_rep_ping {
	uint64_t epoch; /* the answering shard's slot map epoch */
};

struct hf_rep_event_info {
	uint64_t event_id;
	uint32_t seats_count;
	uint32_t row_width;
	uint32_t user_limit;
	uint32_t hold_lifetime_max_s; /* effective (never 0) */
	uint32_t free_count;
	uint32_t held_count;
	uint32_t booked_count;
	uint32_t holds_count;	 /* live holds */
	uint32_t bookings_count; /* live (not cancelled) bookings */
};

struct hf_rep_hold { /* HOLD; CONFIRM uses the same shape with deadline_ms = 0 */
	uint64_t hold_id;
	uint64_t deadline_ms; /* wall clock, ms since the Unix epoch */
	uint32_t seats_count;
	uint32_t seats[HF_HOLD_SEATS_MAX];
};

struct hf_rep_extend {
	uint64_t deadline_ms;
};

struct hf_rep_avail {
	uint32_t seats_count;
	uint32_t free_count;
	uint32_t first;
	uint32_t count;
	/* (count + 7) / 8 bytes; bit i (byte i / 8, bit i % 8, LSB first) is 1 when seat first + i
	 * is free. Borrowed: points into the buffer the reply was decoded from, or, when encoding,
	 * into the caller's memory. */
	const uint8_t *bitmap;
};

struct hf_seat_info {
	uint32_t seat;
	uint8_t state;	   /* enum hf_seat_state */
	uint64_t owner_id; /* hold id (HELD) or booking id (BOOKED); 0 when FREE */
	uint64_t user_id;  /* SEAT_INFO: the owner's user id (0 when FREE); SEAT_STATUS: 0 */
};

struct hf_rep_seat_status {
	uint32_t seats_count;
	struct hf_seat_info seats[HF_SEAT_STATUS_SEATS_MAX];
};

struct hf_user_record {
	uint64_t id;	      /* hold id, or booking id (= the hold id it was confirmed from) */
	uint64_t created_ms;  /* wall clock of the HOLD */
	uint64_t deadline_ms; /* holds: the current deadline; bookings: 0 */
	uint32_t seats_count; /* 1 .. HF_HOLD_SEATS_MAX */
	uint32_t seats[HF_HOLD_SEATS_MAX];
};

struct hf_rep_user_records { /* USER_HOLDS, USER_BOOKINGS */
	uint64_t next_seq;   /* cursor of the next page; both 0 when no record is left */
	uint64_t next_id;
	uint32_t records_count; /* 0 .. HF_USER_RECORDS_PAGE_MAX */
	struct hf_user_record records[HF_USER_RECORDS_PAGE_MAX];
};

struct hf_section_avail {
	struct hf_section section;
	uint32_t free_count;
};

struct hf_tier_avail {
	uint16_t tier;
	uint32_t seats_count; /* over the tier's sections */
	uint32_t free_count;
};

struct hf_rep_event_sections {	 /* EVENT_SECTIONS */
	uint16_t sections_count; /* 0 .. HF_EVENT_SECTIONS_MAX, in the order they were created */
	uint16_t tiers_count;	 /* distinct tiers, ascending */
	struct hf_section_avail sections[HF_EVENT_SECTIONS_MAX];
	struct hf_tier_avail tiers[HF_EVENT_SECTIONS_MAX];
};

struct hf_rep_watch {
	uint64_t seq; /* the event's last change sequence; the next push carries seq + 1 */
};

struct hf_slot_owner {
	char host[HF_HOST_SIZE_MAX + 1]; /* NUL-terminated, e.g. "127.0.0.1" */
	uint16_t port;
};

struct hf_slot_map {
	uint64_t epoch; /* grows by at least one on every change of the map */
	uint16_t owners_count;
	struct hf_slot_owner owners[HF_SLOT_OWNERS_MAX];
	uint16_t slot_owner[HF_SLOTS_COUNT]; /* index into owners[] */
};

struct hf_stat {
	char name[HF_STAT_NAME_SIZE_MAX + 1];
	uint64_t value;
};

struct hf_rep_stats {
	uint16_t stats_count;
	struct hf_stat stats[HF_STATS_MAX];
};

/* Roles a token gives (AUTH's reply). */
enum hf_role {
	HF_ROLE_NONE = 0,   /* not authenticated (a server with --auth-file) */
	HF_ROLE_CLIENT = 1, /* every op but the admin ones */
	HF_ROLE_ADMIN = 2,  /* everything */
};

struct hf_rep_auth {
	uint8_t role; /* enum hf_role */
};

enum hf_room_state {
	HF_ROOM_WAITING = 1,  /* in the queue */
	HF_ROOM_ADMITTED = 2, /* admitted: the token lets the user HOLD until it expires */
};

struct hf_rep_room_position {	/* JOIN, POSITION */
	uint8_t state;		/* enum hf_room_state */
	uint32_t position;	/* WAITING: 1 = next; ADMITTED: 0 */
	uint32_t waiting_count; /* buyers waiting in the queue */
	uint32_t estimate_ms;	/* WAITING: the expected wait; UINT32_MAX unknown; ADMITTED: 0 */
	struct hf_room_token token; /* ADMITTED; zero while WAITING */
};

struct hf_rep_room_info {
	struct hf_room_params params;
	uint32_t waiting_count;	 /* in the queue */
	uint32_t admitted_count; /* admitted, token unused, unexpired: shopping now */
	uint32_t holding_count;	 /* admitted and already placed a hold (until the token expires) */
	uint32_t free_count;	 /* the event's free seats */
	uint8_t sold_out;	 /* 1: every seat booked */
	uint32_t rate_per_min;	 /* admissions per minute, measured over the recent admissions */
	uint32_t estimate_ms;	 /* the wait of the last in the queue; UINT32_MAX unknown */
	uint64_t joins;		 /* since the shard loaded the room */
	uint64_t admits;
	uint64_t expired; /* admissions not used in time */
	uint64_t refused; /* HOLDs refused NOT_ADMITTED */
};

struct hf_rep_backup {
	uint64_t sequence; /* the store's last persisted sequence number in the checkpoint */
};

/* BATCH's reply: one entry per request entry, in the same order, each HF_BATCH_ENTRY_HEADER_SIZE
 * bytes (u8 opcode, u8 reserved, u16 status, u32 body size, u64 request id) and then the op's own
 * reply body (the 8-byte detail when status != HF_OK). Borrowed like struct hf_req_batch. */
struct hf_rep_batch {
	uint16_t ops_count;
	uint32_t entries_size;
	const uint8_t *entries;
};

/* A shard's part in a slot move (engine/move.h has the transitions). */
enum hf_move_state {
	HF_MOVE_STATE_IDLE = 0,	     /* nothing moving through this shard */
	HF_MOVE_STATE_DROPPING = 1,  /* target: deleting an old copy before copying */
	HF_MOVE_STATE_COPYING = 2,   /* target: pulling the snapshot */
	HF_MOVE_STATE_COPIED = 3,    /* target: snapshot in, following the source's changes */
	HF_MOVE_STATE_FINISHING = 4, /* target: taking the last changes of the frozen source */
	HF_MOVE_STATE_PERSISTED = 5, /* target: everything received is durable */
	HF_MOVE_STATE_FAILED = 6,    /* target: the copy failed (MOVE_DROP resets) */
	HF_MOVE_STATE_EXPORTING = 7, /* source: the slot is being exported, still served */
	HF_MOVE_STATE_FROZEN = 8,    /* source: exporting, the slot answers TRY_AGAIN */
};

/* MOVE_COPY, MOVE_FREEZE, MOVE_PERSISTED, MOVE_DROP, MOVE_UNFREEZE. */
struct hf_rep_move {
	uint8_t state;	  /* enum hf_move_state of the slot on the answering shard */
	uint64_t records; /* records received (target) or sent (source) so far */
	uint64_t bytes;	  /* their bytes (target; 0 on the source) */
	uint64_t seats;	  /* MOVE_FREEZE, MOVE_PERSISTED: seats of the slot's events here */
};

/* MOVE_EXPORT flags. */
#define HF_MOVE_EXPORT_SNAPSHOT_DONE 0x1u /* the snapshot is complete (cursor is final) */
#define HF_MOVE_EXPORT_FROZEN	     0x2u /* the slot is frozen: data holds every change so far */
#define HF_MOVE_EXPORT_FLAGS_KNOWN   0x3u

/* MOVE_EXPORT: the change log from log_offset on, then the snapshot's next chunk, as records in
 * the format of shards/store_move.h. */
struct hf_rep_move_export {
	uint64_t cursor;	/* pass it back for the next chunk */
	uint64_t log_offset;	/* the change log's end after this reply */
	uint32_t flags;		/* HF_MOVE_EXPORT_* */
	uint32_t records_count; /* records in data */
	uint32_t data_size;	/* 0 .. HF_MOVE_CHUNK_SIZE_MAX */
	const uint8_t *data;	/* borrowed, like avail.bitmap */
};

struct hf_reply {
	uint8_t opcode;
	uint16_t status;
	uint64_t request_id;
	union {
		uint64_t detail; /* status != HF_OK: MOVED's epoch, the offending seat, ... or 0 */
		struct hf_rep_ping ping;
		struct hf_rep_event_info event_info;
		struct hf_rep_hold hold;    /* HOLD */
		struct hf_rep_hold confirm; /* CONFIRM: hold_id is the booking id */
		struct hf_rep_extend extend;
		struct hf_rep_avail avail;
		struct hf_rep_seat_status seat_status;
		struct hf_rep_seat_status seat_info; /* entries carry user_id */
		struct hf_rep_user_records user_holds;
		struct hf_rep_user_records user_bookings;
		struct hf_rep_event_sections event_sections;
		struct hf_rep_watch watch;
		struct hf_slot_map slot_map;
		struct hf_rep_stats stats;
		struct hf_rep_backup backup;
		struct hf_rep_auth auth;
		struct hf_rep_batch batch;
		struct hf_rep_room_position join;
		struct hf_rep_room_position position;
		struct hf_rep_room_info room_info;
		struct hf_rep_move move;
		struct hf_rep_move_export move_export;
	};
};

/* Size of the frame hf_reply_encode would write for rep (header included). */
size_t hf_reply_size(const struct hf_reply *rep);

/* Encodes a whole reply frame into buf. Returns the frame size, or 0 when cap is too small. A reply
 * with status != HF_OK has the 8-byte error body (detail). CREATE_EVENT, RELEASE and CANCEL replies
 * have an empty body on success. The reply must be well formed (asserted). */
size_t hf_reply_encode(const struct hf_reply *rep, uint8_t *buf, size_t cap);

/* Decodes a reply body (header decoded with HF_OK, flags has HF_FLAG_REPLY). Returns HF_OK and
 * fills *out (out->status is the server's answer), or HF_ERR_MALFORMED / HF_ERR_TOO_LARGE /
 * HF_ERR_OPCODE when the frame itself is bad. avail.bitmap points into body. */
enum hf_status hf_reply_decode(const struct hf_frame_header *header, const uint8_t *body,
			       struct hf_reply *out);

/* ---- Body sizes (bytes), from the layout tables of docs/protocol.md section 6 ---- */
#define HF_REQ_CREATE_EVENT_BODY_SIZE	 (8u + 4u * 4u)		  /* event_id, 4 x u32 */
#define HF_REQ_EVENT_BODY_SIZE		 8u			  /* event_id (EVENT_INFO) */
#define HF_REQ_HOLD_FIXED_SIZE		 (3u * 8u + 4u + 4u + 4u) /* ids, ttl, mode + 3 reserved, count */
#define HF_REQ_EXTEND_BODY_SIZE		 (2u * 8u + 4u)		  /* event_id, hold_id, ttl_ms */
#define HF_REQ_HOLD_REF_BODY_SIZE	 (2u * 8u)		  /* event_id, hold_id */
#define HF_REQ_AVAIL_BODY_SIZE		 (8u + 2u * 4u)		  /* event_id, first, count */
#define HF_REQ_SEAT_STATUS_FIXED_SIZE	 (8u + 4u)	 /* event_id, count; then u32 per seat */
#define HF_REQ_BACKUP_FIXED_SIZE	 2u		 /* u16 length; then the path bytes */
#define HF_REP_PING_BODY_SIZE		 8u		 /* epoch */
#define HF_REP_EVENT_INFO_BODY_SIZE	 (8u + 10u * 4u) /* event_id, 9 x u32, reserved u32 */
#define HF_REP_HOLD_FIXED_SIZE		 (2u * 8u + 4u)	 /* hold_id, deadline_ms, count */
#define HF_REP_CONFIRM_FIXED_SIZE	 (8u + 4u)	 /* booking_id, count */
#define HF_REP_EXTEND_BODY_SIZE		 8u		 /* deadline_ms */
#define HF_REP_AVAIL_FIXED_SIZE		 (4u * 4u) /* seats, free, first, count; then bitmap */
#define HF_REP_SEAT_STATUS_FIXED_SIZE	 4u	   /* count; then HF_REP_SEAT_ENTRY_SIZE each */
#define HF_REP_SEAT_ENTRY_SIZE		 (4u + 1u + 3u + 8u) /* seat, state, reserved, owner_id */
#define HF_REP_SEAT_INFO_ENTRY_SIZE	 (HF_REP_SEAT_ENTRY_SIZE + 8u) /* ... then user_id */
#define HF_REQ_USER_RECORDS_BODY_SIZE	 (4u * 8u + 4u) /* event, user, cursor (2 x u64), limit */
#define HF_REP_USER_RECORDS_FIXED_SIZE	 (2u * 8u + 4u) /* next cursor, count; then the records */
#define HF_SECTION_FIXED_SIZE		 (3u * 4u + 3u) /* first, count, row_width, tier, kind, name size */
#define HF_REP_EVENT_SECTIONS_FIXED_SIZE (2u + 2u) /* sections, tiers; then both lists */
#define HF_REP_SECTION_AVAIL_FIXED_SIZE	 (HF_SECTION_FIXED_SIZE + 4u) /* + name, then free */
#define HF_REP_TIER_AVAIL_SIZE		 (2u + 2u + 4u + 4u) /* tier, reserved, seats, free */
#define HF_REP_USER_RECORD_FIXED_SIZE	 (3u * 8u + 4u) /* id, created, deadline, count; seats */
#define HF_REP_SLOT_MAP_FIXED_SIZE	 (8u + 2u + 2u + 2u * HF_SLOTS_COUNT) /* + owners */
#define HF_REP_SLOT_OWNER_FIXED_SIZE	 (2u + 1u) /* port, host length; then the host */
#define HF_REP_STATS_FIXED_SIZE		 2u	   /* count; then the entries */
#define HF_REP_STAT_FIXED_SIZE		 (1u + 8u) /* name length, value; plus the name */
#define HF_REP_BACKUP_BODY_SIZE		 8u	   /* sequence */
#define HF_REQ_AUTH_FIXED_SIZE		 2u	   /* u16 length; then the token bytes */
#define HF_REP_AUTH_BODY_SIZE		 8u	   /* role, 7 reserved zero bytes */
#define HF_REQ_JOIN_BODY_SIZE		 (2u * 8u) /* event_id, user_id (JOIN, POSITION) */
#define HF_REQ_ROOM_SET_BODY_SIZE	 (8u + 1u + 1u + 2u + 4u + 4u)	     /* event, params */
#define HF_REP_ROOM_POSITION_BODY_SIZE	 (4u + 3u * 4u + HF_ROOM_TOKEN_SIZE) /* state .. token */
#define HF_REP_ROOM_INFO_BODY_SIZE                                                                 \
	(12u + 4u * 4u + 4u + 2u * 4u + 4u * 8u)     /* params .. refused                          \
						      */
#define HF_REP_WATCH_BODY_SIZE	      8u	     /* seq */
#define HF_REP_SLOT_OWNER_FIXED_SIZE  (2u + 1u)	     /* port, host length; then the host */
#define HF_REP_STATS_FIXED_SIZE	      2u	     /* count; then the entries */
#define HF_REP_STAT_FIXED_SIZE	      (1u + 8u)	     /* name length, value; plus the name */
#define HF_REP_BACKUP_BODY_SIZE	      8u	     /* sequence */
#define HF_REQ_AUTH_FIXED_SIZE	      2u	     /* u16 length; then the token bytes */
#define HF_REP_AUTH_BODY_SIZE	      8u	     /* role, 7 reserved zero bytes */
#define HF_REQ_EVENT_DELETE_BODY_SIZE (8u + 4u + 4u) /* event_id, flags, reserved */
#define HF_REQ_MOVE_SLOT_BODY_SIZE    8u	     /* slot, 6 reserved */
#define HF_REQ_MOVE_COPY_FIXED_SIZE   8u /* slot, port, host length, 3 reserved; then host */
#define HF_REQ_MOVE_EXPORT_BODY_SIZE  (8u + 2u * 8u) /* slot, 6 reserved, cursor, log_offset */
#define HF_REP_MOVE_BODY_SIZE	      (8u + 3u * 8u) /* state, 7 reserved, records, bytes, seats */
#define HF_REP_MOVE_EXPORT_FIXED_SIZE (2u * 8u + 4u * 4u) /* cursor, log, flags, n, size, 0 */

/* ---- The opcode table ----
 * Every per-opcode fact lives once, in one row of the table in proto.c (the model is Redis's
 * struct redisCommand); hf_opcode_name, hf_opcode_is_write, hf_request_event_id, the encoders,
 * decoders and hf_reply_size all read it. The body codecs take the codec's cursors, which are
 * private to proto.c (struct hf_wr, struct hf_rd); callers go through hf_request_encode and the
 * others. Body sizes bound every frame of the opcode: an encoder never writes, and a decoder never
 * accepts, a body outside [min, max] (tests/proto checks both). */
struct hf_wr;
struct hf_rd;

struct hf_op_info {
	uint8_t opcode;
	uint8_t writes; /* 1: changes state, so it is persisted before it is answered */
	uint8_t routed; /* 1: a store op, routed by its event id (the first field of its body) */
	uint8_t admin;	/* 1: an admin opcode (HF_OP_ADMIN_FIRST .. HF_OP_ADMIN_LAST) */
	const char *name;
	uint32_t request_body_size_min; /* bytes */
	uint32_t request_body_size_max;
	uint32_t reply_body_size_min; /* bytes of an HF_OK reply; others carry HF_ERROR_BODY_SIZE */
	uint32_t reply_body_size_max;
	/* The encoder's contract (counts within limits, known modes): HF_OK or why not. */
	enum hf_status (*request_check)(const struct hf_request *req);
	void (*request_encode)(struct hf_wr *w, const struct hf_request *req);
	/* Fills the opcode's part of *out from the body; HF_OK or the status to answer. */
	enum hf_status (*request_decode)(struct hf_rd *r, struct hf_request *out);
	void (*reply_encode)(struct hf_wr *w, const struct hf_reply *rep);
	enum hf_status (*reply_decode)(struct hf_rd *r, struct hf_reply *out);
};

/* The table row of an opcode, or NULL for an unknown one. Static storage, never changes. */
const struct hf_op_info *hf_op_info(uint8_t opcode);

/* Whether hf_request_encode accepts req: HF_OK, HF_ERR_OPCODE for an unknown opcode,
 * HF_ERR_TOO_LARGE for a count or length past its limit, HF_ERR_INVALID for an unknown hold mode
 * or an empty path. It checks the encoder's contract only: zero ids and other domain errors are
 * answered by the server (hf_request_decode and the store), so that every client sees the same
 * status for them. */
enum hf_status hf_request_validate(const struct hf_request *req);

/* Convenience for stats: appends name = value; returns 0, or -1 when the reply is full or the name
 * too long. */
int hf_stats_add(struct hf_rep_stats *stats, const char *name, uint64_t value);

/* Reads the free bit of seat first + i from an AVAIL bitmap. */
static inline int hf_avail_bit(const uint8_t *bitmap, uint32_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* ---- BATCH (docs/protocol.md, "BATCH") ----
 * A BATCH frame carries up to HF_BATCH_OPS_MAX independent store ops of one shard; the server
 * applies them in order, each as if it had come in its own frame (routing, limits, idempotency),
 * and answers them in one reply frame, one entry each, in order. It is not a transaction: each op
 * succeeds or fails on its own. The ops that may be entries are the store ops with small replies:
 * CREATE_EVENT, EVENT_INFO, HOLD, EXTEND, CONFIRM, RELEASE and CANCEL (hf_opcode_is_batchable). */
#define HF_BATCH_FIXED_SIZE	   8u  /* u16 count, u16 reserved, u32 reserved */
#define HF_BATCH_ENTRY_HEADER_SIZE 16u /* opcode, reserved, status, body size, request id */
/* The largest reply body of a batchable op (HOLD with HF_HOLD_SEATS_MAX seats). */
#define HF_BATCH_ENTRY_REPLY_BODY_MAX (HF_REP_HOLD_FIXED_SIZE + 4u * HF_HOLD_SEATS_MAX)
#define HF_BATCH_REPLY_BODY_MAX                                                                    \
	(HF_BATCH_FIXED_SIZE +                                                                     \
	 HF_BATCH_OPS_MAX * (HF_BATCH_ENTRY_HEADER_SIZE + HF_BATCH_ENTRY_REPLY_BODY_MAX))

/* 1 when opcode may be an entry of a BATCH. */
int hf_opcode_is_batchable(uint8_t opcode);

/* Writes req (which must validate, be batchable and carry a request id) as one request entry at
 * buf. Returns the entry's size, or 0 when cap is too small. */
size_t hf_batch_entry_encode(const struct hf_request *req, uint8_t *buf, size_t cap);

/* Rewrites one encoded request frame (header + body, frame_size bytes, as hf_request_encode wrote
 * it) as a request entry at out (which has room for frame_size - 8 bytes): same opcode, request id
 * and body. Returns the entry's size (frame_size - 8). */
size_t hf_batch_entry_from_frame(const uint8_t *frame, size_t frame_size, uint8_t *out);

/* Writes the BATCH fixed part (count, reserved fields) at buf (HF_BATCH_FIXED_SIZE bytes). */
void hf_batch_fixed_encode(uint8_t *buf, uint16_t ops_count);

/* Writes rep (well formed, batchable opcode) as one reply entry at buf. Returns the entry's size,
 * or 0 when cap is too small. */
size_t hf_batch_reply_entry_encode(const struct hf_reply *rep, uint8_t *buf, size_t cap);

/* Walks the entries of a decoded BATCH request (reply = 0) or reply (reply = 1): from *offset (0
 * for the first), fills *header as if the entry were a frame of its own (opcode, request id, body
 * size, status and the reply flag) and *body, and moves *offset past it. Returns 1 for an entry, 0
 * at the end, -1 when the entries do not decode (never for entries a decoder accepted). The header
 * can go straight to hf_request_decode / hf_reply_decode. */
int hf_batch_next(const uint8_t *entries, uint32_t entries_size, uint32_t *offset, int reply,
		  struct hf_frame_header *header, const uint8_t **body);

#endif
