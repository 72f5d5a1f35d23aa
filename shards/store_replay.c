/* Replication on the store: a replica applies its primary's change records to a live store
 * (hf_store_replay), and a primary lists its whole state as records for a replica that starts
 * from nothing (hf_store_snapshot).
 *
 * A record carries the whole current state of its key, so applying one is "forget what this key
 * held, then load the record as recovery would": the existing record (live or tombstone) is
 * dropped with the store's own transitions (store_record_end frees its seats and unlinks its
 * user, store_record_forget forgets the id), then hf_store_load places the new state. Applied in
 * the primary's order, the records rebuild the primary's store, and the same records on disk
 * rebuild it again on restart.
 *
 * INVARIANTS
 *  1. After hf_store_replay of a PUT the store holds exactly the record's state for its key (or
 *     the record was refused and the key's old state is gone); after a DEL it holds nothing.
 *  2. hf_store_snapshot visits each event and each record index at most once per cursor run, events
 *     first (a record's event always precedes it). */
#include "shards/store_int.h"

#include "base/assert.h"
#include "base/endian.h"

#include <errno.h>
#include <string.h>

#define REPLAY_EVENT_KEY_SIZE  9u
#define REPLAY_RECORD_KEY_SIZE 17u

/* Drops whatever record (event_index, id) is: live records end first (seats back), then the id is
 * forgotten. The DEL this appends goes to scratch, which the caller throws away. */
static void replay_drop(struct hf_store *store, uint32_t event_index, uint64_t id, uint64_t now_ms,
			struct hf_changes *scratch)
{
	uint32_t r = store_record_find(store, event_index, id);
	if (r == 0)
		return;
	struct record *rec = record_at(store, r);
	if (rec->state == RECORD_HELD || rec->state == RECORD_BOOKED)
		store_record_end(store, rec, RECORD_RELEASED, now_ms);
	HF_ASSERT(record_is_tombstone(rec));
	hf_changes_reset(scratch);
	store_record_forget(store, rec, scratch);
	HF_ASSERT(store_record_find(store, event_index, id) == 0);
}

static enum hf_status replay_event(struct hf_store *store, uint8_t kind, const uint8_t *key,
				   const uint8_t *value, size_t value_size, uint64_t now_ms,
				   struct hf_changes *scratch)
{
	uint32_t e = store_event_find(store, hf_get_be64(key));
	if (kind == HF_CHANGE_DEL)
		return e == 0 ? HF_OK : HF_ERR_INVALID; /* events are never deleted (yet) */
	if (e != 0)
		return HF_OK; /* an event's parameters never change after its creation */
	hf_changes_reset(scratch);
	return hf_store_load(store, key, REPLAY_EVENT_KEY_SIZE, value, value_size, now_ms, scratch);
}

enum hf_status hf_store_replay(struct hf_store *store, uint8_t kind, const uint8_t *key,
			       size_t key_size, const uint8_t *value, size_t value_size,
			       uint64_t now_ms, struct hf_changes *scratch)
{
	HF_ASSERT(store != NULL);
	HF_ASSERT(scratch != NULL);
	HF_ASSERT(scratch->capacity >= 2u);
	if (kind != HF_CHANGE_PUT && kind != HF_CHANGE_DEL)
		return HF_ERR_MALFORMED;
	if (key_size == REPLAY_EVENT_KEY_SIZE && key[8] == 'E')
		return replay_event(store, kind, key, value, value_size, now_ms, scratch);
	if (key_size != REPLAY_RECORD_KEY_SIZE || key[8] != 'R')
		return HF_ERR_MALFORMED;
	uint32_t e = store_event_find(store, hf_get_be64(key));
	if (e == 0)
		return kind == HF_CHANGE_DEL ? HF_OK : HF_NO_EVENT;
	replay_drop(store, e - 1, hf_get_be64(key + 9), now_ms, scratch);
	if (kind == HF_CHANGE_DEL)
		return HF_OK;
	hf_changes_reset(scratch);
	return hf_store_load(store, key, key_size, value, value_size, now_ms, scratch);
}

void hf_store_snapshot_begin(struct hf_store_snapshot *cursor)
{
	memset(cursor, 0, sizeof(*cursor));
}

/* The next exported records of the cursor's phase while changes has room and limit allows. */
static uint32_t export_events(const struct hf_store *store, struct hf_store_snapshot *cursor,
			      uint32_t limit, struct hf_changes *changes)
{
	uint32_t n = 0;
	while (n < limit && cursor->index < store->events_count && changes_room(changes) >= 1) {
		const struct event *ev = &store->events[cursor->index];
		cursor->index++;
		if (event_is_deleted(ev))
			continue; /* a free slot (EVENT_DELETE): nothing to send */
		store_change_put_event(changes, ev);
		n++;
	}
	if (cursor->index >= store->events_count) {
		cursor->phase = 1;
		cursor->index = 0;
	}
	return n;
}

static uint32_t export_records(struct hf_store *store, struct hf_store_snapshot *cursor,
			       uint32_t limit, struct hf_changes *changes)
{
	uint32_t n = 0;
	while (n < limit && cursor->index < store->records_high && changes_room(changes) >= 1) {
		const struct record *rec = &store->records[cursor->index];
		cursor->index++;
		if (rec->state == RECORD_FREE)
			continue;
		store_change_put_record(store, changes, rec);
		n++;
	}
	if (cursor->index >= store->records_high)
		cursor->phase = 2;
	return n;
}

int hf_store_snapshot(struct hf_store *store, struct hf_store_snapshot *cursor, uint32_t limit,
		      struct hf_changes *changes)
{
	HF_ASSERT(cursor->phase <= 2);
	HF_ASSERT(limit >= 1);
	uint32_t n = 0;
	if (cursor->phase == 0)
		n += export_events(store, cursor, limit, changes);
	if (cursor->phase == 1 && n < limit)
		n += export_records(store, cursor, limit - n, changes);
	HF_ASSERT(n <= limit);
	return cursor->phase == 2;
}

int hf_changes_append(struct hf_changes *changes, uint8_t kind, const uint8_t *key, size_t key_size,
		      const uint8_t *value, size_t value_size)
{
	HF_ASSERT(kind == HF_CHANGE_PUT || kind == HF_CHANGE_DEL || kind == HF_CHANGE_DEL_RANGE);
	HF_ASSERT(key_size >= 1 && key_size <= HF_RECORD_KEY_SIZE_MAX);
	HF_ASSERT(value_size <= HF_RECORD_VALUE_SIZE_MAX);
	HF_ASSERT((kind == HF_CHANGE_DEL) == (value_size == 0));
	if (changes_room(changes) < 1)
		return -ENOSPC;
	struct hf_change *c = &changes->items[changes->count++];
	c->kind = kind;
	c->key_size = (uint8_t)key_size;
	c->value_size = (uint16_t)value_size;
	c->value_offset = changes->values_size;
	memcpy(c->key, key, key_size);
	if (value_size > 0)
		memcpy(changes->values + changes->values_size, value, value_size);
	changes->values_size += (uint32_t)value_size;
	HF_ASSERT(changes->values_size <= changes->values_capacity);
	return 0;
}

uint32_t hf_changes_room(const struct hf_changes *changes)
{
	return changes_room(changes);
}
