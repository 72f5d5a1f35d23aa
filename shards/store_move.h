/* A slot's records on the move: the stream format, the snapshot export, the import, and a slot's
 * (or an event's) deletion. Pure store logic like store.h: no sockets, no disk, one thread.
 *
 * The stream is the persisted record encoding (store.h, docs/operations.md) framed one record
 * after another, so a slot move (engine/move.c) and a replica's snapshot can share it:
 *
 *  off size field (one record; little-endian)
 *    0    1 kind: 1 PUT, 2 DEL, 3 DEL_RANGE (enum hf_change_kind)
 *    1    1 key_size, 1 .. HF_RECORD_KEY_SIZE_MAX (DEL_RANGE: 8, the event's be64 id)
 *    2    2 value_size: PUT 1 .. HF_RECORD_VALUE_SIZE_MAX, DEL_RANGE 9 (the end key,
 *             be64(id) 0xff: the range is [key, value)), DEL 0
 *    4  var key, then value
 *
 * The export walks the store in two phases (every event of the slot, then every record of those
 * events) from a cursor, a bounded number of entries per call, so a shard thread can serve the
 * slot between chunks. Changes made between chunks are not in the snapshot: the caller captures
 * them from the change list (hf_store_changes_encode) and ships them too; hf_store_import applies
 * either kind of record as an upsert, so the snapshot and the changes can arrive interleaved. */
#ifndef HF_SHARDS_STORE_MOVE_H
#define HF_SHARDS_STORE_MOVE_H

#include "shards/store.h"

#include <stddef.h>
#include <stdint.h>

#define HF_MOVE_RECORD_HEADER_SIZE 4u
#define HF_MOVE_RECORD_SIZE_MAX                                                                    \
	(HF_MOVE_RECORD_HEADER_SIZE + HF_RECORD_KEY_SIZE_MAX + HF_RECORD_VALUE_SIZE_MAX)
/* Store entries (event slots or record slots) one hf_store_export call looks at. */
#define HF_STORE_EXPORT_SCAN_MAX 16384u
/* `slot` for every slot (a whole-store snapshot). */
#define HF_STORE_SLOTS_ALL UINT32_MAX
/* The cursor of a finished export. */
#define HF_STORE_EXPORT_DONE UINT64_MAX

struct hf_move_record {
	uint8_t kind; /* enum hf_change_kind */
	uint8_t key_size;
	uint16_t value_size;
	const uint8_t *key; /* borrowed from the stream */
	const uint8_t *value;
};

/* Appends one record to buf[*size_io .. cap). Returns 1, or 0 when it does not fit (nothing
 * written). */
int hf_move_record_put(uint8_t *buf, size_t cap, size_t *size_io, uint8_t kind, const uint8_t *key,
		       uint8_t key_size, const uint8_t *value, uint16_t value_size);

/* Reads the record at buf[*off_io .. size). Returns 1 (and advances *off_io), 0 at the end, -1
 * when the bytes are not a record (a kind, size or length out of its range). */
int hf_move_record_next(const uint8_t *buf, size_t size, size_t *off_io,
			struct hf_move_record *out);

struct hf_store_export {
	uint64_t cursor;	/* pass back for the next chunk; HF_STORE_EXPORT_DONE at the end */
	uint32_t records_count; /* records appended */
};

/* Appends the slot's (or every slot's) events and then records, from cursor (0 = start), to
 * buf[*size_io .. cap) until the buffer is full or HF_STORE_EXPORT_SCAN_MAX entries were looked
 * at. cap must leave room for one HF_MOVE_RECORD_SIZE_MAX record. */
void hf_store_export(const struct hf_store *store, uint32_t slot, uint64_t cursor, uint8_t *buf,
		     size_t cap, size_t *size_io, struct hf_store_export *out);

/* Appends the changes changes->items[from ..] whose event is in slot (or all) to buf[*size_io ..
 * cap). Returns how many were appended; *full_out = 1 when one did not fit (then the rest were not
 * appended either). */
uint32_t hf_store_changes_encode(const struct hf_changes *changes, uint32_t from, uint32_t slot,
				 uint8_t *buf, size_t cap, size_t *size_io, int *full_out);

/* Applies one streamed record: PUT of an event creates it when missing; PUT of a record replaces
 * the record of that id (or creates it; skipped when its event is missing, the snapshot brings it
 * later); DEL removes a record; DEL_RANGE (or DEL of an event key) deletes the event. Appends the
 * change that persists it (changes must have room, hf_changes_has_room). Returns HF_OK,
 * HF_ERR_MALFORMED for a record the store refuses (two records owning one seat, bad value) with
 * nothing changed, or HF_ERR_CAPACITY. */
enum hf_status hf_store_import(struct hf_store *store, const struct hf_move_record *rec,
			       uint64_t now_ms, struct hf_changes *changes);

/* Deletes the slot's events with all their records (one DEL_RANGE change per event) while the
 * change list has room. Returns how many of the slot's events are left (0: done). Cost: one scan
 * of the record pool and one of the events. */
uint32_t hf_store_drop_slot(struct hf_store *store, uint16_t slot, struct hf_changes *changes);

/* Events, their seats, and records (live and tombstones) of a slot. O(events + records). */
void hf_store_slot_counts(const struct hf_store *store, uint16_t slot, uint32_t *events_out,
			  uint64_t *seats_out, uint32_t *records_out);

#endif
