/* The seat store's records: the change list and the record format it carries (encode for
 * persistence, decode on load), the (event, id) -> record table, the record pool with its tombstone
 * FIFO, and the transitions that end or drop a record. Part of the store (shards/store.c has the
 * INVARIANTS and the ops; shards/store_int.h the shared layout). */
#include "shards/store_int.h"

#include "base/assert.h"
#include "base/endian.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_VALUE_SIZE	 17u
#define RECORD_VALUE_HEADER_SIZE 44u
#define RECORD_KEY_SIZE		 17u
#define EVENT_KEY_SIZE		 9u
#define EVENT_VERSION_PLAIN	 1u /* no sections */
#define EVENT_VERSION_SECTIONS	 2u
#define EVENT_VERSION_RATE	 3u /* a per-user rate limit (and maybe sections) */
#define SECTION_VALUE_FIXED_SIZE (3u * 4u + 3u)
/* Record values are version 1 unless the hold's mode is ANY, which version 1 readers refuse. */
#define RECORD_VERSION_ANY 2u

HF_STATIC_ASSERT(RECORD_VALUE_HEADER_SIZE + 4u * HF_HOLD_SEATS_MAX <= HF_RECORD_VALUE_SIZE_MAX,
		 "a record value fits the change list's value slot");
HF_STATIC_ASSERT(RECORD_KEY_SIZE <= HF_RECORD_KEY_SIZE_MAX, "a record key fits");
HF_STATIC_ASSERT(EVENT_VALUE_SIZE + 1u +
			 HF_EVENT_SECTIONS_MAX *
			     (SECTION_VALUE_FIXED_SIZE + HF_SECTION_NAME_SIZE_MAX) +
			 8u <=
		     HF_RECORD_VALUE_SIZE_MAX,
		 "an event with every section fits the change list's value slot");

int hf_changes_init(struct hf_changes *changes, uint32_t capacity)
{
	memset(changes, 0, sizeof(*changes));
	if (capacity == 0 || capacity > UINT32_MAX / HF_RECORD_VALUE_SIZE_MAX)
		return -EINVAL;
	changes->items = calloc(capacity, sizeof(*changes->items));
	changes->values = malloc((size_t)capacity * HF_RECORD_VALUE_SIZE_MAX);
	if (!changes->items || !changes->values) {
		free(changes->items);
		free(changes->values);
		memset(changes, 0, sizeof(*changes));
		return -ENOMEM;
	}
	changes->capacity = capacity;
	changes->values_capacity = capacity * HF_RECORD_VALUE_SIZE_MAX;
	return 0;
}

void hf_changes_deinit(struct hf_changes *changes)
{
	free(changes->items);
	free(changes->values);
	memset(changes, 0, sizeof(*changes));
}

void hf_changes_reset(struct hf_changes *changes)
{
	changes->count = 0;
	changes->values_size = 0;
}

int hf_changes_has_room(const struct hf_changes *changes)
{
	return changes_room(changes) >= HF_OP_CHANGES_MAX;
}

uint32_t hf_changes_ops_room(const struct hf_changes *changes)
{
	return changes_room(changes) / HF_OP_CHANGES_MAX;
}

static struct hf_change *change_append(struct hf_changes *changes, uint8_t kind, const uint8_t *key,
				       uint8_t key_size)
{
	HF_ASSERT(changes_room(changes) >= 1);
	HF_ASSERT(key_size >= 1 && key_size <= HF_RECORD_KEY_SIZE_MAX);
	struct hf_change *c = &changes->items[changes->count++];
	c->kind = kind;
	c->key_size = key_size;
	c->value_size = 0;
	c->value_offset = changes->values_size;
	memcpy(c->key, key, key_size);
	return c;
}

/* A change counted, not written (changes->count_only). */
static void change_count_only(struct hf_changes *changes, uint32_t value_size)
{
	HF_ASSERT(changes->count_only);
	HF_ASSERT(changes_room(changes) >= 1);
	HF_ASSERT(value_size <= HF_RECORD_VALUE_SIZE_MAX);
	changes->count++;
	changes->values_size += value_size;
}

static void event_key(uint8_t *key, uint64_t event_id)
{
	hf_put_be64(key, event_id);
	key[8] = 'E';
}

static void record_key(uint8_t *key, uint64_t event_id, uint64_t id)
{
	hf_put_be64(key, event_id);
	key[8] = 'R';
	hf_put_be64(key + 9, id);
}

/* Event value, little-endian. Version 1 (an event without sections, 17 bytes):
 *  off size field
 *    0    1 version (1)
 *    1    4 seats_count
 *    5    4 row_width
 *    9    4 user_limit
 *   13    4 hold_lifetime_max_s (effective)
 * Version 2 (an event with sections): the same 17 bytes with version 2, then
 *   17    1 sections_count, 1 .. HF_EVENT_SECTIONS_MAX
 *   18  var the sections, each: first u32, count u32, row_width u32, tier u8, kind u8, name size
 *           u8, name
 *           (the layout of CREATE_EVENT's section list in docs/protocol.md).
 * Version 3 (an event with a per-user rate limit): the same 17 bytes with version 3, then
 *   17    1 sections_count, 0 .. HF_EVENT_SECTIONS_MAX, and the sections as in version 2
 *  end-8  4 user_rate (>= 1)
 *  end-4  4 user_burst
 * Versions 1 and 2 are still written for events without a rate, so their records do not change. */
static uint32_t put_section(uint8_t *v, const struct hf_section *sec)
{
	uint8_t len = (uint8_t)strnlen(sec->name, HF_SECTION_NAME_SIZE_MAX + 1);
	HF_ASSERT(len >= 1);
	HF_ASSERT(len <= HF_SECTION_NAME_SIZE_MAX);
	hf_put_le32(v + 0, sec->first);
	hf_put_le32(v + 4, sec->count);
	hf_put_le32(v + 8, sec->row_width);
	v[12] = sec->tier;
	v[13] = sec->kind;
	v[14] = len;
	memcpy(v + 15, sec->name, len);
	return SECTION_VALUE_FIXED_SIZE + len;
}

uint32_t store_event_value(const struct event *ev, uint8_t *v)
{
	HF_ASSERT(!event_is_deleted(ev));
	v[0] = ev->user_rate != 0	 ? EVENT_VERSION_RATE
	       : ev->sections_count == 0 ? EVENT_VERSION_PLAIN
					 : EVENT_VERSION_SECTIONS;
	hf_put_le32(v + 1, ev->seats_count);
	hf_put_le32(v + 5, ev->row_width);
	hf_put_le32(v + 9, ev->user_limit);
	hf_put_le32(v + 13, ev->lifetime_s);
	uint32_t size = EVENT_VALUE_SIZE;
	if (ev->sections_count > 0 || ev->user_rate != 0) {
		v[size++] = (uint8_t)ev->sections_count;
		for (uint32_t i = 0; i < ev->sections_count; i++)
			size += put_section(v + size, &ev->sections[i]);
	}
	if (ev->user_rate != 0) {
		hf_put_le32(v + size, ev->user_rate);
		hf_put_le32(v + size + 4, ev->user_burst);
		size += 8;
	}
	HF_ASSERT(size <= HF_RECORD_VALUE_SIZE_MAX);
	return size;
}

void store_change_put_event(struct hf_changes *changes, const struct event *ev)
{
	uint8_t key[EVENT_KEY_SIZE];
	event_key(key, ev->id);
	struct hf_change *c = change_append(changes, HF_CHANGE_PUT, key, sizeof(key));
	uint32_t size = store_event_value(ev, changes->values + c->value_offset);
	c->value_size = (uint16_t)size;
	changes->values_size += size;
}

/* Record value (version 1 or 2), little-endian:
 *  off size field
 *    0    1 version (1)
 *    1    1 state: 1 HELD, 2 BOOKED, 3 EXPIRED, 4 RELEASED, 5 CANCELLED
 *    2    1 mode (enum hf_hold_mode)
 *    3    1 seats_count n, 1 .. 64
 *    4    8 user_id
 *   12    8 created_ms
 *   20    8 deadline_ms
 *   28    8 ended_ms (0 unless a tombstone)
 *   36    8 fingerprint
 *   44  4*n seats (u32 each; explicit: request order, best and any: ascending)
 * Version 2 is the same layout for a hold of mode 2 (ANY), which version 1 does not allow. */
uint32_t store_record_value(const struct hf_store *store, const struct record *rec, uint8_t *v)
{
	HF_ASSERT(rec->state != RECORD_FREE);
	HF_ASSERT(rec->seats_count >= 1 && rec->seats_count <= HF_HOLD_SEATS_MAX);
	v[0] = rec->mode == HF_HOLD_ANY ? RECORD_VERSION_ANY : HF_STORE_RECORD_VERSION;
	v[1] = rec->state;
	v[2] = rec->mode;
	v[3] = rec->seats_count;
	hf_put_le64(v + 4, rec->user_id);
	hf_put_le64(v + 12, rec->created_ms);
	hf_put_le64(v + 20, rec->deadline_ms);
	hf_put_le64(v + 28, rec->ended_ms);
	hf_put_le64(v + 36, rec->fingerprint);
	const uint32_t *seats = record_seats(store, rec);
	for (uint32_t i = 0; i < rec->seats_count; i++)
		hf_put_le32(v + RECORD_VALUE_HEADER_SIZE + 4 * i, seats[i]);
	return RECORD_VALUE_HEADER_SIZE + 4u * rec->seats_count;
}

void store_change_put_record(struct hf_store *store, struct hf_changes *changes,
			     const struct record *rec)
{
	if (changes->count_only) {
		change_count_only(changes, RECORD_VALUE_HEADER_SIZE + 4u * rec->seats_count);
		return;
	}
	uint8_t key[RECORD_KEY_SIZE];
	record_key(key, store->events[rec->event_index].id, rec->id);
	struct hf_change *c = change_append(changes, HF_CHANGE_PUT, key, sizeof(key));
	uint16_t size =
	    (uint16_t)store_record_value(store, rec, changes->values + c->value_offset);
	c->value_size = size;
	changes->values_size += size;
	HF_ASSERT(changes->values_size <= changes->values_capacity);
}

void store_change_raw(struct hf_changes *changes, uint8_t kind, const uint8_t *key,
		      uint8_t key_size, const uint8_t *value, uint16_t value_size)
{
	HF_ASSERT(kind == HF_CHANGE_PUT || value_size == 0);
	HF_ASSERT(value_size <= HF_RECORD_VALUE_SIZE_MAX);
	struct hf_change *c = change_append(changes, kind, key, key_size);
	if (value_size > 0)
		memcpy(changes->values + c->value_offset, value, value_size);
	c->value_size = value_size;
	changes->values_size += value_size;
	HF_ASSERT(changes->values_size <= changes->values_capacity);
}

static void change_del_record(struct hf_store *store, struct hf_changes *changes,
			      const struct record *rec)
{
	if (changes->count_only) {
		change_count_only(changes, 0);
		return;
	}
	uint8_t key[RECORD_KEY_SIZE];
	record_key(key, store->events[rec->event_index].id, rec->id);
	change_append(changes, HF_CHANGE_DEL, key, sizeof(key));
}

/* Record table: (event_index, id) -> record index + 1. Linear probing, backward-shift deletion.
 * A slot is (32 bits of the key's hash) << 32 | record index + 1, 0 when empty. Keeping the hash in
 * the slot means a probe past another id never loads that record (profiles of HOLD showed those
 * record loads, one cache miss each, as the largest cost of the lookup), and the home of an entry
 * moved by a deletion comes from the slot itself. The mask is below 2^32, so home = hash & mask. */

static uint32_t record_hash(uint32_t event_index, uint64_t id)
{
	return (uint32_t)hf_hash64(id ^ ((uint64_t)event_index << 40) ^ 0x5bd1e995u);
}

static uint32_t slot_index(uint64_t slot)
{
	return (uint32_t)slot;
}

static uint32_t slot_hash(uint64_t slot)
{
	return (uint32_t)(slot >> 32);
}

uint32_t store_record_find(const struct hf_store *store, uint32_t event_index, uint64_t id)
{
	uint32_t mask = store->record_table_mask;
	uint32_t hash = record_hash(event_index, id);
	uint32_t i = hash & mask;
	for (uint32_t n = 0; n <= mask; i = (i + 1) & mask, n++) {
		uint64_t slot = store->record_table[i];
		uint32_t r = slot_index(slot);
		if (r == 0)
			return 0;
		if (slot_hash(slot) != hash)
			continue;
		const struct record *rec = &store->records[r - 1];
		if (rec->id == id && rec->event_index == event_index)
			return r;
	}
	return 0;
}

const uint64_t *store_record_home(const struct hf_store *store, uint32_t event_index, uint64_t id)
{
	return &store->record_table[record_hash(event_index, id) & store->record_table_mask];
}

void store_record_table_insert(struct hf_store *store, uint32_t index_1)
{
	const struct record *rec = &store->records[index_1 - 1];
	uint32_t mask = store->record_table_mask;
	uint32_t hash = record_hash(rec->event_index, rec->id);
	uint32_t i = hash & mask;
	for (uint32_t n = 0; store->record_table[i] != 0; i = (i + 1) & mask, n++)
		HF_ASSERT(n <= mask);
	store->record_table[i] = (uint64_t)hash << 32 | index_1;
}

static void record_table_remove(struct hf_store *store, uint32_t index_1)
{
	const struct record *rec = &store->records[index_1 - 1];
	uint32_t mask = store->record_table_mask;
	uint32_t i = record_hash(rec->event_index, rec->id) & mask;
	for (uint32_t n = 0; slot_index(store->record_table[i]) != index_1;
	     i = (i + 1) & mask, n++) {
		HF_ASSERT(n <= mask);
		HF_ASSERT(store->record_table[i] != 0);
	}
	store->record_table[i] = 0;
	for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		uint64_t slot = store->record_table[j];
		if (slot == 0)
			break;
		uint32_t home = slot_hash(slot) & mask;
		/* Move the entry back into the hole when the hole lies between its home and where
		 * it sits. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			store->record_table[i] = slot;
			store->record_table[j] = 0;
			i = j;
		}
	}
}

static void tomb_push(struct hf_store *store, struct record *rec)
{
	uint32_t self = record_index(store, rec) + 1;
	rec->tomb_next = RECORD_NONE;
	rec->tomb_prev = store->tomb_tail;
	if (store->tomb_tail != RECORD_NONE)
		record_at(store, store->tomb_tail)->tomb_next = self;
	else
		store->tomb_head = self;
	store->tomb_tail = self;
	store->tombstones_total++;
}

static void tomb_unlink(struct hf_store *store, struct record *rec)
{
	if (rec->tomb_prev != RECORD_NONE)
		record_at(store, rec->tomb_prev)->tomb_next = rec->tomb_next;
	else
		store->tomb_head = rec->tomb_next;
	if (rec->tomb_next != RECORD_NONE)
		record_at(store, rec->tomb_next)->tomb_prev = rec->tomb_prev;
	else
		store->tomb_tail = rec->tomb_prev;
	rec->tomb_prev = rec->tomb_next = RECORD_NONE;
	HF_ASSERT(store->tombstones_total > 0);
	store->tombstones_total--;
}

/* Moves a HELD or BOOKED record to a tombstone state ending at ended_ms. */
void store_record_end(struct hf_store *store, struct record *rec, uint8_t state, uint64_t ended_ms)
{
	HF_ASSERT(rec->state == RECORD_HELD || rec->state == RECORD_BOOKED);
	if (rec->in_wheel)
		store_wheel_cancel(store, rec);
	store_record_seats_free(store, rec);
	rec->state = state;
	rec->ended_ms = ended_ms;
	tomb_push(store, rec);
	store_wheel_arm(store, rec, ended_ms + store->cfg.tombstone_ttl_ms);
}

/* HELD -> EXPIRED at its deadline; appends the record. */
void store_hold_expire(struct hf_store *store, struct record *rec, struct hf_changes *changes)
{
	HF_ASSERT(rec->state == RECORD_HELD);
	store_record_end(store, rec, RECORD_EXPIRED, rec->deadline_ms);
	store->holds_expired_total++;
	store_change_put_record(store, changes, rec);
}

void store_record_seats_set(struct hf_store *store, struct record *rec, const uint32_t *seats,
			    uint32_t n)
{
	HF_ASSERT(rec->seats_count == 0);
	HF_ASSERT(n >= 1);
	HF_ASSERT(n <= HF_HOLD_SEATS_MAX);
	if (n > HF_STORE_RECORD_SEATS_INLINE) {
		uint32_t list_1 = store->seat_list_free_head;
		if (list_1 != 0) {
			store->seat_list_free_head =
			    store->seat_lists[(size_t)(list_1 - 1) * HF_HOLD_SEATS_MAX];
		} else {
			/* One list per record at most: the pool has one per record. */
			HF_ASSERT(store->seat_lists_high < store->cfg.records_max);
			list_1 = ++store->seat_lists_high;
		}
		store->seat_lists_used++;
		rec->seats_inline[0] = list_1;
	}
	rec->seats_count = (uint8_t)n;
	memcpy(record_seats(store, rec), seats, sizeof(uint32_t) * n);
}

/* A record's seat list (if it has one) goes back to the pool. */
static void record_seats_drop(struct hf_store *store, struct record *rec)
{
	if (rec->seats_count <= HF_STORE_RECORD_SEATS_INLINE)
		return;
	uint32_t list_1 = rec->seats_inline[0];
	HF_ASSERT(list_1 != 0);
	HF_ASSERT(list_1 <= store->seat_lists_high);
	store->seat_lists[(size_t)(list_1 - 1) * HF_HOLD_SEATS_MAX] = store->seat_list_free_head;
	store->seat_list_free_head = list_1;
	HF_ASSERT(store->seat_lists_used > 0);
	store->seat_lists_used--;
}

/* Drops a record entirely (its id is forgotten). */
static void record_release_slot(struct hf_store *store, struct record *rec)
{
	HF_ASSERT(rec->state != RECORD_FREE);
	if (rec->in_wheel)
		store_wheel_cancel(store, rec);
	if (record_is_tombstone(rec))
		tomb_unlink(store, rec);
	record_table_remove(store, record_index(store, rec) + 1);
	record_seats_drop(store, rec);
	memset(rec, 0, sizeof(*rec) - sizeof(rec->seats_inline));
	rec->state = RECORD_FREE;
	rec->wheel_next = store->record_free_head;
	store->record_free_head = record_index(store, rec) + 1;
	HF_ASSERT(store->records_used > 0);
	store->records_used--;
}

void store_record_drop(struct hf_store *store, struct record *rec)
{
	HF_ASSERT(rec->state != RECORD_FREE);
	if (rec->state == RECORD_HELD || rec->state == RECORD_BOOKED) {
		if (rec->in_wheel)
			store_wheel_cancel(store, rec);
		store_record_seats_free(store, rec);
	}
	record_release_slot(store, rec);
	HF_ASSERT(rec->state == RECORD_FREE);
}

/* Tombstone -> (none); appends the DEL. */
void store_record_forget(struct hf_store *store, struct record *rec, struct hf_changes *changes)
{
	HF_ASSERT(record_is_tombstone(rec));
	change_del_record(store, changes, rec);
	record_release_slot(store, rec);
}

/* A free record for a new id, evicting the oldest tombstone (with its DEL) when the pool is full.
 * NULL when every record is a live hold or booking. */
struct record *store_record_acquire(struct hf_store *store, struct hf_changes *changes)
{
	if (store->record_free_head == RECORD_NONE &&
	    store->records_high == store->cfg.records_max) {
		if (store->tomb_head == RECORD_NONE)
			return NULL;
		store_record_forget(store, record_at(store, store->tomb_head), changes);
	}
	struct record *rec;
	if (store->record_free_head != RECORD_NONE) {
		rec = record_at(store, store->record_free_head);
		store->record_free_head = rec->wheel_next;
	} else {
		rec = &store->records[store->records_high++];
	}
	HF_ASSERT(rec->state == RECORD_FREE);
	rec->wheel_next = RECORD_NONE;
	store->records_used++;
	return rec;
}

/* Reads the section list of version 2 or 3 (after the 17 fixed bytes, ending at size) into
 * sections; *n_out = how many (version 3 may have none). */
static enum hf_status load_sections(const uint8_t *v, size_t size, uint32_t seats, int may_be_empty,
				    struct hf_section *sections, uint32_t *n_out)
{
	if (size < EVENT_VALUE_SIZE + 1u)
		return HF_ERR_MALFORMED;
	uint32_t n = v[EVENT_VALUE_SIZE];
	size_t at = EVENT_VALUE_SIZE + 1u;
	if ((n == 0 && !may_be_empty) || n > HF_EVENT_SECTIONS_MAX)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < n; i++) {
		if (size - at < SECTION_VALUE_FIXED_SIZE)
			return HF_ERR_MALFORMED;
		struct hf_section *sec = &sections[i];
		memset(sec, 0, sizeof(*sec));
		sec->first = hf_get_le32(v + at);
		sec->count = hf_get_le32(v + at + 4);
		sec->row_width = hf_get_le32(v + at + 8);
		sec->tier = v[at + 12];
		sec->kind = v[at + 13];
		uint8_t len = v[at + 14];
		at += SECTION_VALUE_FIXED_SIZE;
		if (len == 0 || len > HF_SECTION_NAME_SIZE_MAX || size - at < len ||
		    memchr(v + at, '\0', len) != NULL)
			return HF_ERR_MALFORMED;
		memcpy(sec->name, v + at, len);
		at += len;
	}
	uint32_t bad;
	if (at != size || store_sections_check(seats, sections, n, &bad) != HF_OK)
		return HF_ERR_MALFORMED;
	*n_out = n;
	return HF_OK;
}

static enum hf_status load_event(struct hf_store *store, uint64_t id, const uint8_t *v, size_t size)
{
	if (size < EVENT_VALUE_SIZE || id == 0)
		return HF_ERR_MALFORMED;
	if (v[0] != EVENT_VERSION_PLAIN && v[0] != EVENT_VERSION_SECTIONS &&
	    v[0] != EVENT_VERSION_RATE)
		return HF_ERR_MALFORMED;
	if (v[0] == EVENT_VERSION_PLAIN && size != EVENT_VALUE_SIZE)
		return HF_ERR_MALFORMED;
	uint32_t seats = hf_get_le32(v + 1);
	uint32_t rw = hf_get_le32(v + 5);
	uint32_t limit = hf_get_le32(v + 9);
	uint32_t lifetime_s = hf_get_le32(v + 13);
	if (seats == 0 || seats > HF_EVENT_SEATS_MAX || rw > seats || lifetime_s == 0 ||
	    lifetime_s > HF_HOLD_LIFETIME_MAX_S || store_event_find(store, id) != 0)
		return HF_ERR_MALFORMED;
	uint32_t user_rate = 0, user_burst = 0;
	if (v[0] == EVENT_VERSION_RATE) {
		if (size < EVENT_VALUE_SIZE + 1u + 8u)
			return HF_ERR_MALFORMED;
		user_rate = hf_get_le32(v + size - 8);
		user_burst = hf_get_le32(v + size - 4);
		size -= 8;
		if (user_rate == 0 || user_rate > HF_USER_RATE_MAX || user_burst > HF_USER_RATE_MAX)
			return HF_ERR_MALFORMED;
	}
	struct hf_section sections[HF_EVENT_SECTIONS_MAX];
	uint32_t sections_count = 0;
	if (v[0] != EVENT_VERSION_PLAIN && load_sections(v, size, seats, v[0] == EVENT_VERSION_RATE,
							 sections, &sections_count) != HF_OK)
		return HF_ERR_MALFORMED;
	if (!store_event_fits(store, seats, sections_count))
		return HF_ERR_CAPACITY;
	uint32_t index = store_event_add(store, id, seats, rw, limit, lifetime_s);
	store_event_sections_set(store, index, sections, sections_count);
	store->events[index].user_rate = user_rate;
	store->events[index].user_burst = user_burst;
	return HF_OK;
}

/* Puts a loaded record (in the table, fields set but its state) where its state says: a tombstone
 * (a hold already past its deadline becomes the EXPIRED tombstone it is, and claims no seat: a
 * later hold may own them now, its key can sort before this one), or a live hold or booking that
 * takes its seats. */
static void load_record_place(struct hf_store *store, struct event *ev, struct record *rec,
			      uint8_t state, int expire, struct hf_changes *changes)
{
	uint32_t self = record_index(store, rec) + 1;
	uint32_t n = rec->seats_count;
	if (state >= RECORD_EXPIRED || expire) {
		rec->state = expire ? RECORD_EXPIRED : state;
		if (expire)
			rec->ended_ms = rec->deadline_ms;
		tomb_push(store, rec);
		store_wheel_arm(store, rec, rec->ended_ms + store->cfg.tombstone_ttl_ms);
		if (expire) {
			store->holds_expired_total++;
			if (changes_room(changes) >= 1)
				store_change_put_record(store, changes, rec);
		}
		return;
	}
	rec->state = state;
	const uint32_t *seats = record_seats(store, rec);
	for (uint32_t i = 0; i < n; i++)
		store_seat_take(store, ev, seats[i], self);
	ev->free_count -= n;
	store->free_total -= n;
	store_user_link(store, rec);
	if (state == RECORD_BOOKED) {
		ev->booked_count += n;
		ev->bookings_count++;
		store->booked_total += n;
		store->bookings_total++;
		return;
	}
	ev->held_count += n;
	ev->holds_count++;
	store->held_total += n;
	store->holds_total++;
	store_wheel_arm(store, rec, rec->deadline_ms);
}

static enum hf_status load_record(struct hf_store *store, uint64_t event_id, uint64_t id,
				  const uint8_t *v, size_t size, uint64_t now_ms,
				  struct hf_changes *changes)
{
	if (size < RECORD_VALUE_HEADER_SIZE || id == 0)
		return HF_ERR_MALFORMED;
	if (v[0] != HF_STORE_RECORD_VERSION && v[0] != RECORD_VERSION_ANY)
		return HF_ERR_MALFORMED;
	uint8_t state = v[1];
	uint8_t mode = v[2];
	uint32_t n = v[3];
	uint8_t mode_max = v[0] == RECORD_VERSION_ANY ? HF_HOLD_ANY : HF_HOLD_BEST;
	if (state < RECORD_HELD || state > RECORD_CANCELLED || mode > mode_max || n == 0 ||
	    n > HF_HOLD_SEATS_MAX || size != RECORD_VALUE_HEADER_SIZE + 4u * n)
		return HF_ERR_MALFORMED;
	uint32_t e = store_event_find(store, event_id);
	if (e == 0)
		return HF_ERR_MALFORMED; /* keys sort the event before its records */
	uint32_t ei = e - 1;
	struct event *ev = &store->events[ei];
	if (store_record_find(store, ei, id) != 0)
		return HF_ERR_MALFORMED;
	uint32_t seats[HF_HOLD_SEATS_MAX];
	for (uint32_t i = 0; i < n; i++) {
		seats[i] = hf_get_le32(v + RECORD_VALUE_HEADER_SIZE + 4 * i);
		if (seats[i] >= ev->seats_count)
			return HF_ERR_MALFORMED;
		for (uint32_t j = 0; j < i; j++) {
			if (seats[j] == seats[i])
				return HF_ERR_MALFORMED;
		}
	}
	uint64_t created_ms = hf_get_le64(v + 12);
	uint64_t deadline_ms = hf_get_le64(v + 20);
	uint64_t ended_ms = hf_get_le64(v + 28);
	/* Times far past any wall clock would overflow deadline and forget-time sums. */
	if (created_ms > (1ull << 60) || deadline_ms > (1ull << 60) || ended_ms > (1ull << 60) ||
	    (state == RECORD_HELD && deadline_ms > created_ms + lifetime_ms(ev)))
		return HF_ERR_MALFORMED;
	int expire = state == RECORD_HELD && deadline_ms <= now_ms;
	if ((state == RECORD_HELD || state == RECORD_BOOKED) && !expire) {
		for (uint32_t i = 0; i < n; i++) {
			if (!seat_is_free(ev, seats[i]))
				return HF_ERR_MALFORMED; /* two records own one seat */
		}
	}
	if (store->record_free_head == RECORD_NONE && store->records_high == store->cfg.records_max)
		return HF_ERR_CAPACITY;
	struct record *rec = store_record_acquire(store, changes);
	HF_ASSERT(rec);
	rec->id = id;
	rec->user_id = hf_get_le64(v + 4);
	rec->created_ms = created_ms;
	rec->deadline_ms = deadline_ms;
	rec->ended_ms = state >= RECORD_EXPIRED ? ended_ms : 0;
	rec->fingerprint = hf_get_le64(v + 36);
	rec->event_index = ei;
	rec->mode = mode;
	store_record_seats_set(store, rec, seats, n);
	store_record_table_insert(store, record_index(store, rec) + 1);
	load_record_place(store, ev, rec, state, expire, changes);
	return HF_OK;
}

enum hf_status hf_store_load(struct hf_store *store, const uint8_t *key, size_t key_size,
			     const uint8_t *value, size_t value_size, uint64_t now_ms,
			     struct hf_changes *changes)
{
	enum hf_status st = HF_ERR_MALFORMED;
	if (key_size == EVENT_KEY_SIZE && key[8] == 'E')
		st = load_event(store, hf_get_be64(key), value, value_size);
	else if (key_size == RECORD_KEY_SIZE && key[8] == 'R')
		st = load_record(store, hf_get_be64(key), hf_get_be64(key + 9), value, value_size,
				 now_ms, changes);
	else if (key_size >= EVENT_KEY_SIZE && (key[8] == 'P' || key[8] == 'Q'))
		st = store_room_load(store, key, key_size, value, value_size);
#ifdef HF_STORE_CHECKS
	store_check_after_mutation(store);
#endif
	return st;
}
