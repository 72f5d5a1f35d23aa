/* The change frames a shard pushes to a connection that WATCHes an event (docs/protocol.md 6.15).
 *
 * After a WATCH answered OK, the connection receives, besides the replies to its own requests,
 * one WATCH_CHANGE frame (opcode 0x43, REPLY flag, status 0, the WATCH's request id) per change of
 * the event's seats, in the order the changes became durable, each with the event's next sequence
 * number; or a GAP frame when the watcher fell behind (its queued changes were dropped: re-sync
 * from AVAIL; seq is the sequence of the next change frame). Pure codec, like proto.c: no I/O, no
 * allocation, every length checked.
 *
 * Body (48 + 4 * seats_count bytes, little-endian):
 *  off size field
 *    0    8 event_id
 *    8    8 seq          the event's change sequence (GAP: the seq the next change carries)
 *   16    1 kind         enum hf_watch_kind
 *   17    1 state        the seats' state after the change: enum hf_seat_state (GAP: 0)
 *   18    2 reserved     0
 *   20    4 seats_count  1 .. HF_HOLD_SEATS_MAX (GAP: 0)
 *   24    8 hold_id      the hold or booking id (GAP: 0)
 *   32    8 user_id      its user (GAP: 0)
 *   40    8 deadline_ms  HELD and EXTENDED: the hold's deadline (wall clock); else 0
 *   48  4*n seats        u32 each: seat numbers, or a GA section's places
 *
 * Thread-safety: pure functions, any thread. */
#ifndef HF_PROTO_WATCH_H
#define HF_PROTO_WATCH_H

/* Relative to this file: also right where it is installed, <holdfast/proto/watch.h>. */
#include "proto.h"

#include <stddef.h>
#include <stdint.h>

#define HF_OP_WATCH_CHANGE	       0x43u
#define HF_WATCH_CHANGE_FIXED_SIZE     48u
#define HF_WATCH_CHANGE_BODY_SIZE_MAX  (HF_WATCH_CHANGE_FIXED_SIZE + 4u * HF_HOLD_SEATS_MAX)
#define HF_WATCH_CHANGE_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + HF_WATCH_CHANGE_BODY_SIZE_MAX)

enum hf_watch_kind {
	HF_WATCH_HELD = 1,	/* a new hold: its seats are held */
	HF_WATCH_EXTENDED = 2,	/* a hold's deadline moved (seats unchanged) */
	HF_WATCH_BOOKED = 3,	/* a hold was confirmed: its seats are booked */
	HF_WATCH_RELEASED = 4,	/* a hold was released: its seats are free */
	HF_WATCH_EXPIRED = 5,	/* a hold expired: its seats are free */
	HF_WATCH_CANCELLED = 6, /* a booking was cancelled: its seats are free */
	HF_WATCH_GAP = 7,	/* changes were dropped: re-sync; seq is where pushes resume */
};

struct hf_watch_change {
	uint64_t event_id;
	uint64_t seq;
	uint8_t kind;  /* enum hf_watch_kind */
	uint8_t state; /* enum hf_seat_state of the seats after the change */
	uint32_t seats_count;
	uint64_t hold_id;
	uint64_t user_id;
	uint64_t deadline_ms;
	uint32_t seats[HF_HOLD_SEATS_MAX];
};

/* Static name of a kind ("held", "gap", ...); "unknown" for others. */
const char *hf_watch_kind_name(uint8_t kind);

/* Encodes a whole WATCH_CHANGE frame (header + body) for request id request_id into buf. Returns
 * the frame size, or 0 when cap is too small. The change must be well formed (asserted). */
size_t hf_watch_change_encode(const struct hf_watch_change *change, uint64_t request_id,
			      uint8_t *buf, size_t cap);

/* Decodes a WATCH_CHANGE body (header decoded HF_OK, opcode HF_OP_WATCH_CHANGE): HF_OK and *out,
 * or HF_ERR_MALFORMED (size, kind, state, reserved bytes or count wrong) / HF_ERR_TOO_LARGE. */
enum hf_status hf_watch_change_decode(const struct hf_frame_header *header, const uint8_t *body,
				      struct hf_watch_change *out);

#endif
