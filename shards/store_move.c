/* A slot's records on the move (see store_move.h): the record stream, the snapshot export, the
 * upserting import, and the deletion of an event or a slot. Part of the store (store_int.h).
 *
 * INVARIANTS
 *  1. A deleted event has id 0, no record points at it, its seats, holds and bookings counts are 0,
 *     and it is on the free list (store_event_delete); the id -> index table never names it.
 *  2. The import changes the store only through operations that keep store.c's invariants: a
 *     record is replaced by dropping the old one (store_record_drop) and loading the new value
 *     (hf_store_load), so the load's checks (seats free, value well formed) hold for every import.
 *  3. Every change hf_store_import makes is appended, in order, to the change list: the target
 *     persists exactly what it holds. A refused PUT of a record that replaced an older one has
 *     dropped the older one (the move then fails and the copy is dropped whole). */
#include "shards/store_move.h"

#include "base/assert.h"
#include "base/endian.h"
#include "shards/store_int.h"

#include <string.h>

#define KEY_EVENT_SIZE	9u
#define KEY_RECORD_SIZE 17u
#define KEY_RANGE_SIZE	8u
/* Cursor: bit 63 set = the record phase; the low bits are the next index to look at. */
#define CURSOR_RECORDS (1ull << 63)

int hf_move_record_put(uint8_t *buf, size_t cap, size_t *size_io, uint8_t kind, const uint8_t *key,
		       uint8_t key_size, const uint8_t *value, uint16_t value_size)
{
	HF_ASSERT(key_size >= 1 && key_size <= HF_RECORD_KEY_SIZE_MAX);
	HF_ASSERT(value_size <= HF_RECORD_VALUE_SIZE_MAX);
	size_t need = HF_MOVE_RECORD_HEADER_SIZE + key_size + value_size;
	HF_ASSERT(*size_io <= cap);
	if (cap - *size_io < need)
		return 0;
	uint8_t *p = buf + *size_io;
	p[0] = kind;
	p[1] = key_size;
	hf_put_le16(p + 2, value_size);
	memcpy(p + HF_MOVE_RECORD_HEADER_SIZE, key, key_size);
	if (value_size > 0)
		memcpy(p + HF_MOVE_RECORD_HEADER_SIZE + key_size, value, value_size);
	*size_io += need;
	return 1;
}

int hf_move_record_next(const uint8_t *buf, size_t size, size_t *off_io, struct hf_move_record *out)
{
	size_t off = *off_io;
	HF_ASSERT(off <= size);
	if (off == size)
		return 0;
	if (size - off < HF_MOVE_RECORD_HEADER_SIZE)
		return -1;
	const uint8_t *p = buf + off;
	out->kind = p[0];
	out->key_size = p[1];
	out->value_size = hf_get_le16(p + 2);
	if (out->kind < HF_CHANGE_PUT || out->kind > HF_CHANGE_DEL_RANGE || out->key_size == 0 ||
	    out->key_size > HF_RECORD_KEY_SIZE_MAX || out->value_size > HF_RECORD_VALUE_SIZE_MAX)
		return -1;
	if ((out->kind == HF_CHANGE_PUT) != (out->value_size > 0))
		return -1;
	if (out->kind == HF_CHANGE_DEL_RANGE && out->key_size != KEY_RANGE_SIZE)
		return -1;
	size_t need = HF_MOVE_RECORD_HEADER_SIZE + out->key_size + out->value_size;
	if (size - off < need)
		return -1;
	out->key = p + HF_MOVE_RECORD_HEADER_SIZE;
	out->value = out->value_size > 0 ? out->key + out->key_size : NULL;
	*off_io = off + need;
	return 1;
}

static int slot_matches(uint32_t slot, uint64_t event_id)
{
	return slot == HF_STORE_SLOTS_ALL || hf_slot_of(event_id) == slot;
}

/* ---- Export ---- */

static int export_event(const struct event *ev, uint8_t *buf, size_t cap, size_t *size_io)
{
	uint8_t key[KEY_EVENT_SIZE];
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
	hf_put_be64(key, ev->id);
	key[8] = 'E';
	uint32_t n = store_event_value(ev, value);
	return hf_move_record_put(buf, cap, size_io, HF_CHANGE_PUT, key, sizeof(key), value,
				  (uint16_t)n);
}

static int export_record(const struct hf_store *store, const struct record *rec, uint8_t *buf,
			 size_t cap, size_t *size_io)
{
	uint8_t key[KEY_RECORD_SIZE];
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
	hf_put_be64(key, store->events[rec->event_index].id);
	key[8] = 'R';
	hf_put_be64(key + 9, rec->id);
	uint32_t n = store_record_value(store, rec, value);
	return hf_move_record_put(buf, cap, size_io, HF_CHANGE_PUT, key, sizeof(key), value,
				  (uint16_t)n);
}

void hf_store_export(const struct hf_store *store, uint32_t slot, uint64_t cursor, uint8_t *buf,
		     size_t cap, size_t *size_io, struct hf_store_export *out)
{
	HF_ASSERT(slot == HF_STORE_SLOTS_ALL || slot < HF_SLOTS_COUNT);
	HF_ASSERT(cap - *size_io >= HF_MOVE_RECORD_SIZE_MAX);
	out->records_count = 0;
	out->cursor = cursor;
	if (cursor == HF_STORE_EXPORT_DONE)
		return;
	uint64_t i = cursor & ~CURSOR_RECORDS;
	for (uint32_t looked = 0; looked < HF_STORE_EXPORT_SCAN_MAX; looked++) {
		if (!(cursor & CURSOR_RECORDS) && i >= store->events_count) {
			cursor = CURSOR_RECORDS;
			i = 0;
		}
		if ((cursor & CURSOR_RECORDS) && i >= store->records_high) {
			out->cursor = HF_STORE_EXPORT_DONE;
			return;
		}
		int put = -1; /* -1: nothing to export here; 1 written; 0 full */
		if (!(cursor & CURSOR_RECORDS)) {
			const struct event *ev = &store->events[i];
			if (!event_is_deleted(ev) && slot_matches(slot, ev->id))
				put = export_event(ev, buf, cap, size_io);
		} else {
			const struct record *rec = &store->records[i];
			if (rec->state != RECORD_FREE &&
			    slot_matches(slot, store->events[rec->event_index].id))
				put = export_record(store, rec, buf, cap, size_io);
		}
		if (put == 0)
			break;
		out->records_count += put == 1;
		i++;
	}
	out->cursor = (cursor & CURSOR_RECORDS) | i;
}

uint32_t hf_store_changes_encode(const struct hf_changes *changes, uint32_t from, uint32_t slot,
				 uint8_t *buf, size_t cap, size_t *size_io, int *full_out)
{
	HF_ASSERT(from <= changes->count);
	uint32_t n = 0;
	*full_out = 0;
	for (uint32_t i = from; i < changes->count; i++) {
		const struct hf_change *c = &changes->items[i];
		HF_ASSERT(c->key_size >= KEY_RANGE_SIZE);
		if (!slot_matches(slot, hf_get_be64(c->key)))
			continue;
		const uint8_t *value = c->value_size > 0 ? hf_change_value(changes, c) : NULL;
		if (!hf_move_record_put(buf, cap, size_io, c->kind, c->key, c->key_size, value,
					c->value_size)) {
			*full_out = 1;
			return n;
		}
		n++;
	}
	return n;
}

/* ---- Deletion ---- */

void store_event_delete(struct hf_store *store, uint32_t index, struct hf_changes *changes)
{
	HF_ASSERT(index < store->events_count);
	struct event *ev = &store->events[index];
	HF_ASSERT(!event_is_deleted(ev));
	/* Records are not listed per event: one pass over the pool (cold path, like a move). */
	for (uint32_t r = 0; r < store->records_high; r++) {
		struct record *rec = &store->records[r];
		if (rec->state != RECORD_FREE && rec->event_index == index)
			store_record_drop(store, rec);
	}
	HF_ASSERT(ev->holds_count == 0);
	HF_ASSERT(ev->bookings_count == 0);
	HF_ASSERT(ev->free_count == ev->seats_count);
	uint8_t key[KEY_RANGE_SIZE];
	hf_put_be64(key, ev->id);
	store_change_raw(changes, HF_CHANGE_DEL_RANGE, key, sizeof(key), NULL, 0);
	store->seats_total -= ev->seats_count;
	store->free_total -= ev->seats_count;
	store_room_event_deleted(store, index);
	ev->id = 0;
	ev->seats_count = ev->free_count = 0;
	ev->sections_count = 0;
	ev->user_rate = ev->user_burst = 0;
	ev->free_next = store->event_free_head;
	store->event_free_head = index + 1;
	store->events_free_count++;
	store_event_table_rebuild(store);
}

uint32_t hf_store_drop_slot(struct hf_store *store, uint16_t slot, struct hf_changes *changes)
{
	HF_ASSERT(slot < HF_SLOTS_COUNT);
	for (uint32_t r = 0; r < store->records_high; r++) {
		struct record *rec = &store->records[r];
		if (rec->state != RECORD_FREE &&
		    hf_slot_of(store->events[rec->event_index].id) == slot)
			store_record_drop(store, rec);
	}
	uint32_t left = 0;
	for (uint32_t i = 0; i < store->events_count; i++) {
		const struct event *ev = &store->events[i];
		if (event_is_deleted(ev) || hf_slot_of(ev->id) != slot)
			continue;
		if (hf_changes_has_room(changes))
			store_event_delete(store, i, changes);
		else
			left++;
	}
#ifdef HF_STORE_CHECKS
	store_check_after_mutation(store);
#endif
	return left;
}

void hf_store_slot_counts(const struct hf_store *store, uint16_t slot, uint32_t *events_out,
			  uint64_t *seats_out, uint32_t *records_out)
{
	uint32_t events = 0, records = 0;
	uint64_t seats = 0;
	for (uint32_t i = 0; i < store->events_count; i++) {
		const struct event *ev = &store->events[i];
		if (event_is_deleted(ev) || hf_slot_of(ev->id) != slot)
			continue;
		events++;
		seats += ev->seats_count;
	}
	for (uint32_t r = 0; r < store->records_high; r++) {
		const struct record *rec = &store->records[r];
		records += rec->state != RECORD_FREE &&
			   hf_slot_of(store->events[rec->event_index].id) == slot;
	}
	*events_out = events;
	*seats_out = seats;
	*records_out = records;
}

/* ---- Import ---- */

/* Undoes the changes appended since `count` (a refused load appended nothing else). */
static void changes_truncate(struct hf_changes *changes, uint32_t count)
{
	HF_ASSERT(count <= changes->count);
	if (count == changes->count)
		return;
	changes->values_size = changes->items[count].value_offset;
	changes->count = count;
}

static enum hf_status import_put(struct hf_store *store, const struct hf_move_record *rec,
				 uint64_t now_ms, struct hf_changes *changes)
{
	uint64_t event_id = hf_get_be64(rec->key);
	uint32_t e = store_event_find(store, event_id);
	if (rec->key_size == KEY_EVENT_SIZE && rec->key[8] == 'E') {
		if (e != 0)
			return HF_OK; /* events never change after create */
	} else if (rec->key_size == KEY_RECORD_SIZE && rec->key[8] == 'R') {
		if (e == 0)
			return HF_OK; /* the snapshot brings it with its event */
		uint32_t r = store_record_find(store, e - 1, hf_get_be64(rec->key + 9));
		if (r != 0)
			store_record_drop(store, record_at(store, r));
	} else {
		return HF_ERR_MALFORMED;
	}
	uint32_t before = changes->count;
	store_change_raw(changes, HF_CHANGE_PUT, rec->key, rec->key_size, rec->value,
			 rec->value_size);
	enum hf_status st = hf_store_load(store, rec->key, rec->key_size, rec->value,
					  rec->value_size, now_ms, changes);
	if (st != HF_OK)
		changes_truncate(changes, before);
	return st;
}

static enum hf_status import_del(struct hf_store *store, const struct hf_move_record *rec,
				 struct hf_changes *changes)
{
	uint64_t event_id = hf_get_be64(rec->key);
	uint32_t e = store_event_find(store, event_id);
	int whole_event = rec->kind == HF_CHANGE_DEL_RANGE ||
			  (rec->key_size == KEY_EVENT_SIZE && rec->key[8] == 'E');
	if (whole_event) {
		if (e != 0)
			store_event_delete(store, e - 1, changes);
		return HF_OK;
	}
	if (rec->key_size != KEY_RECORD_SIZE || rec->key[8] != 'R')
		return HF_ERR_MALFORMED;
	if (e == 0)
		return HF_OK;
	uint32_t r = store_record_find(store, e - 1, hf_get_be64(rec->key + 9));
	if (r == 0)
		return HF_OK;
	store_record_drop(store, record_at(store, r));
	store_change_raw(changes, HF_CHANGE_DEL, rec->key, rec->key_size, NULL, 0);
	return HF_OK;
}

enum hf_status hf_store_import(struct hf_store *store, const struct hf_move_record *rec,
			       uint64_t now_ms, struct hf_changes *changes)
{
	HF_ASSERT(hf_changes_has_room(changes));
	/* The record came over the network: a short key is the sender's error, not ours. */
	if (rec->key_size < KEY_RANGE_SIZE || hf_get_be64(rec->key) == 0)
		return HF_ERR_MALFORMED;
	enum hf_status st = rec->kind == HF_CHANGE_PUT ? import_put(store, rec, now_ms, changes)
						       : import_del(store, rec, changes);
#ifdef HF_STORE_CHECKS
	store_check_after_mutation(store);
#endif
	return st;
}
