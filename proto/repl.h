/* The replication frames: how a primary shard streams its sealed batches to its replicas.
 *
 * A replica connects to its primary's shard port like any client and sends REPL_SUBSCRIBE (admin
 * role). The reply says where the stream starts; from then on the primary pushes REPL_BATCH frames
 * on that connection (reply frames: flag bit 0 set, the SUBSCRIBE's request id, status 0), in
 * batch order, and the replica answers nothing to them: it sends REPL_ACK requests instead, each
 * naming the highest batch it holds durable. docs/protocol.md section "Replication" is normative;
 * the tables below mirror it.
 *
 * Like proto.h: no I/O, no allocation, every length checked, little-endian. Thread-safety: pure
 * functions. */
#ifndef HF_PROTO_REPL_H
#define HF_PROTO_REPL_H

#include "base/assert.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

/* Record kinds inside a REPL_BATCH (the persisted change records, as the store wrote them). */
enum hf_repl_kind {
	HF_REPL_PUT = 1,       /* key -> value */
	HF_REPL_DEL = 2,       /* key deleted */
	HF_REPL_DEL_RANGE = 3, /* keys in [key, value) deleted (a snapshot's wipe) */
};

/* REPL_BATCH flags. */
#define HF_REPL_F_LAST	       0x1u /* the last frame of batch seq: the batch is complete */
#define HF_REPL_F_SNAPSHOT     0x2u /* records of a snapshot chunk, not of a batch */
#define HF_REPL_F_SNAP_BEGIN   0x4u /* first snapshot frame: the replica wipes its state first */
#define HF_REPL_F_SNAP_END     0x8u /* last snapshot frame: the replica now has batch seq */
#define HF_REPL_FLAGS_KNOWN    0xfu
#define HF_REPL_KEY_SIZE_MAX   24u  /* bytes of a record key */
#define HF_REPL_VALUE_SIZE_MAX 512u /* bytes of a record value */
/* Records in one REPL_BATCH frame: the largest records still fit one frame body. */
#define HF_REPL_FRAME_RECORDS_MAX 448u
#define HF_REPL_RECORD_FIXED_SIZE 4u /* kind u8, key_size u8, value_size u16 */
#define HF_REPL_RECORD_SIZE_MAX                                                                    \
	(HF_REPL_RECORD_FIXED_SIZE + HF_REPL_KEY_SIZE_MAX + HF_REPL_VALUE_SIZE_MAX)

/* ---- Bodies ----
 * REPL_SUBSCRIBE request (16 bytes):  0 8 replica_id (non-zero)   8 8 epoch (highest it has seen)
 * REPL_SUBSCRIBE reply OK (24 bytes): 0 8 epoch   8 8 stream_id   16 8 seq (last batch sealed; the
 *                                     stream starts after it, with a snapshot)
 * REPL_ACK request (24 bytes):        0 8 replica_id   8 8 epoch   16 8 seq (durable up to)
 * REPL_ACK reply OK:                  empty
 * REPL_PROMOTE request (8 bytes):     0 8 epoch (0: one past the highest seen; else above it)
 * REPL_PROMOTE reply OK (8 bytes):    0 8 epoch the shard now stamps on its stream
 * REPL_BATCH (pushed, 24 + records):  0 8 epoch   8 8 seq   16 4 flags   20 4 count (0 .. 448)
 *   then count records:               0 1 kind   1 1 key_size (1..24)   2 2 value_size
 *                                     (PUT 1..512, DEL 0, DEL_RANGE 1..24: the end key)
 *                                     4 key_size key   then value_size value */
#define HF_REPL_SUBSCRIBE_BODY_SIZE	  16u
#define HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE 24u
#define HF_REPL_ACK_BODY_SIZE		  24u
#define HF_REPL_BATCH_FIXED_SIZE	  24u
#define HF_REPL_PROMOTE_BODY_SIZE	  8u /* request: epoch (0: one past the highest seen) */
#define HF_REPL_PROMOTE_REPLY_BODY_SIZE	  8u /* reply: the epoch it now serves at */

HF_STATIC_ASSERT(HF_REPL_BATCH_FIXED_SIZE + HF_REPL_FRAME_RECORDS_MAX * HF_REPL_RECORD_SIZE_MAX <=
		     HF_FRAME_BODY_SIZE_MAX,
		 "a full REPL_BATCH fits one frame");

struct hf_repl_subscribe {
	uint64_t replica_id;
	uint64_t epoch;
};

struct hf_repl_subscribed {
	uint64_t epoch;
	uint64_t stream_id;
	uint64_t seq;
};

struct hf_repl_ack {
	uint64_t replica_id;
	uint64_t epoch;
	uint64_t seq;
};

struct hf_repl_batch {
	uint64_t epoch;
	uint64_t seq;
	uint32_t flags; /* HF_REPL_F_* */
	uint32_t count; /* records */
};

struct hf_repl_record {
	uint8_t kind; /* enum hf_repl_kind */
	uint8_t key_size;
	uint16_t value_size;
	const uint8_t *key;   /* into the frame body */
	const uint8_t *value; /* into the frame body; NULL when value_size is 0 */
};

/* Whole request frames (header + body) into buf (cap >= 24 + body). Return the frame size. */
size_t hf_repl_subscribe_encode(uint8_t *buf, size_t cap, uint64_t request_id,
				const struct hf_repl_subscribe *sub);
size_t hf_repl_ack_encode(uint8_t *buf, size_t cap, uint64_t request_id,
			  const struct hf_repl_ack *ack);
/* Request bodies: HF_OK, HF_ERR_MALFORMED (size), HF_ERR_INVALID (replica_id 0). */
enum hf_status hf_repl_subscribe_decode(const uint8_t *body, uint32_t size,
					struct hf_repl_subscribe *out);
enum hf_status hf_repl_ack_decode(const uint8_t *body, uint32_t size, struct hf_repl_ack *out);
/* The SUBSCRIBE reply frame (OK) into buf; its body from a reply. */
size_t hf_repl_subscribed_encode(uint8_t *buf, size_t cap, uint64_t request_id,
				 const struct hf_repl_subscribed *rep);
enum hf_status hf_repl_subscribed_decode(const uint8_t *body, uint32_t size,
					 struct hf_repl_subscribed *out);
/* A reply frame for opcode with a status and an empty (OK) or 8-byte detail body. */
size_t hf_repl_status_encode(uint8_t *buf, size_t cap, uint8_t opcode, uint64_t request_id,
			     uint16_t status, uint64_t detail);

/* ---- REPL_BATCH, written in place: begin, append records while they fit, finish ---- */
/* Writes header and fixed part with count 0 at frame (cap >= 24 + 24). Returns 48. */
size_t hf_repl_batch_begin(uint8_t *frame, size_t cap, uint64_t request_id,
			   const struct hf_repl_batch *b);
/* Appends one record at frame + *size (cap bytes in all) and counts it. Returns 0, or -1 when
 * it does not fit the buffer, the frame body limit or HF_REPL_FRAME_RECORDS_MAX (nothing
 * written). The record must be well formed (asserted). */
int hf_repl_batch_add(uint8_t *frame, size_t cap, size_t *size, const struct hf_repl_record *rec);
/* Sets the flags of a begun frame. */
void hf_repl_batch_set_flags(uint8_t *frame, uint32_t flags);
/* Checks a REPL_BATCH body: fixed part, known flags, count <= max, every record well formed and
 * the records filling the body exactly. HF_OK and *out, or HF_ERR_MALFORMED / HF_ERR_TOO_LARGE. */
enum hf_status hf_repl_batch_decode(const uint8_t *body, uint32_t size, struct hf_repl_batch *out);
/* The record at *offset of a body hf_repl_batch_decode accepted (start: offset = 24); advances
 * *offset. */
void hf_repl_batch_record(const uint8_t *body, uint32_t *offset, struct hf_repl_record *out);

#endif
