/* The seat store of one shard: events, seat bitmaps and owners, per-user seat totals, and the
 * operations (hf_store_apply). Its other jobs live beside it: store_records.c (the change list, the
 * record format, the record table and pool, recovery), store_wheel.c (the hashed timer wheel that
 * expires holds and forgets tombstones) and store_check.c (the O(n) checker). store_int.h has the
 * layout they share.
 *
 * It sits between proto/ (request and reply structs) and the shard loop in engine/, which calls
 * hf_store_apply / hf_store_tick and persists the change records the store produces
 * (shards/persist). Everything is allocated at hf_store_create; large pools are reserved address
 * space touched only as they are used, so an idle store with big limits costs little resident
 * memory.
 *
 * INVARIANTS (checked by hf_store_check, store_check.c):
 *  1. For every event, bit s of free_bits is set iff seat s < seats_count has no owner; bits past
 *     seats_count are clear; free_count = popcount(free_bits); block_free[b] = popcount of block b.
 *  2. A chunk of seats has an owner array (chunk_index != 0) iff chunk_used > 0, and chunk_used is
 *     the number of its seats with an owner.
 *  3. A seat's owner is a record in state HELD or BOOKED of the same event that lists the seat;
 *     every seat of a HELD or BOOKED record is owned by it. So no seat is ever held or booked
 * twice.
 *  4. held_count / booked_count of an event = seats owned by its HELD / BOOKED records; the holds /
 *     bookings counts = its HELD / BOOKED records. Store totals are the sums over events.
 *  5. Every used record is in record_table under (event_index, id), exactly once; ids are unique
 *     per event.
 *  6. A record is in the wheel iff it is HELD (wheel_ms = deadline_ms) or a tombstone
 *     (wheel_ms = ended_ms + tombstone_ttl_ms); tombstones are exactly the records of the FIFO.
 *  7. users[] has one entry per (event, user) with a HELD or BOOKED record; its seats_count is
 *     exactly the seats of those records (> 0), and its two lists hold exactly its HELD and its
 *     BOOKED records, each in increasing list_seq. The user limit reads seats_count.
 *  8. A HELD record's deadline <= created + lifetime; a wheel slot's lower bound <= its entries'
 *     times.
 *  9. An event's sections pass store_sections_check (inside the event, non-empty, disjoint, names
 *     unique, GA without rows) and never change after CREATE_EVENT.
 *
 * Time: a hold is expired when deadline_ms <= now_ms. hf_store_apply first runs the wheel up to
 * now_ms (while the change list has room beyond HF_OP_CHANGES_MAX), so an op normally sees no due
 * hold; a hold named by id that is still due is expired on touch. Expiry sets ended_ms =
 * deadline_ms whichever path fires it, so replayed records and reloaded stores agree exactly. */
#include "shards/store_int.h"

#include "base/assert.h"
#include "base/endian.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

HF_STATIC_ASSERT(HF_HOLD_SEATS_MAX <= 255u, "seats_count fits a u8");
HF_STATIC_ASSERT(HF_EVENT_SEATS_MAX <= UINT32_MAX / 2, "seat indexes fit a u32");

/* ---- Small helpers ---- */

static uint32_t div_ceil32(uint32_t a, uint32_t b)
{
	return a / b + (a % b != 0);
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint64_t p = 16;
	while (p < n)
		p <<= 1;
	HF_ASSERT(p <= (1ull << 31));
	return (uint32_t)p;
}

static size_t align8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* Reserves zeroed address space for a pool; pages become resident only when touched. Pools are
 * touched in order (records, the arena) or at random (hash tables), and a 4 KiB page fault per
 * dozen records was the largest single cost of a HOLD on a fresh store, so large pools ask for
 * transparent huge pages: one fault per 2 MiB. Where THP is off the advice is ignored and nothing
 * changes. */
static void *reserve(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (size >= HF_STORE_HUGE_SIZE_MIN)
		(void)madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/* The same without the huge-page advice, for a table touched at random that is not made resident
 * at create: a first touch anywhere would zero and map 2 MiB, so the per-user table became wholly
 * resident within a few hundred HOLDs and the first seconds of a sale stalled on it. */
static void *reserve_small_pages(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Makes [p, p + size) resident now, in huge pages where the kernel gives them: MADV_POPULATE_WRITE
 * (Linux 5.14) faults every page in; where it is missing, one write per 4 KiB page does the same
 * (the pool is zero, and stays so). */
static void make_resident(void *p, size_t size)
{
	if (size >= HF_STORE_HUGE_SIZE_MIN)
		(void)madvise(p, size, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, size, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	for (size_t off = 0; off < size; off += 4096u)
		((volatile uint8_t *)p)[off] = 0;
}

static void unreserve(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
	return hf_hash64(h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

/* ---- Event table: id -> index ---- */

uint32_t store_event_find(const struct hf_store *store, uint64_t id)
{
	uint32_t mask = store->event_table_mask;
	for (uint32_t i = (uint32_t)hf_hash64(id) & mask, n = 0; n <= mask;
	     i = (i + 1) & mask, n++) {
		uint32_t e = store->event_table[i];
		if (e == 0)
			return 0;
		if (store->events[e - 1].id == id)
			return e;
	}
	return 0;
}

static void event_table_insert(struct hf_store *store, uint32_t index_1)
{
	uint32_t mask = store->event_table_mask;
	uint32_t i = (uint32_t)hf_hash64(store->events[index_1 - 1].id) & mask;
	for (uint32_t n = 0; store->event_table[i] != 0; i = (i + 1) & mask, n++)
		HF_ASSERT(n <= mask);
	store->event_table[i] = index_1;
}

/* ---- Per (event, user) seat totals ---- */

static uint32_t user_home(const struct hf_store *store, uint32_t event_index, uint64_t user_id)
{
	return (uint32_t)hf_hash64(user_id ^ ((uint64_t)event_index << 40) ^ 0x27d4eb2fu) &
	       store->users_mask;
}

uint32_t store_user_slot(const struct hf_store *store, uint32_t event_index, uint64_t user_id)
{
	uint32_t mask = store->users_mask;
	uint32_t i = user_home(store, event_index, user_id);
	for (uint32_t n = 0; n <= mask; i = (i + 1) & mask, n++) {
		const struct user_entry *u = &store->users[i];
		if (u->event_index_1 == 0)
			return UINT32_MAX;
		if (u->user_id == user_id && u->event_index_1 == event_index + 1)
			return i;
	}
	return UINT32_MAX;
}

void hf_store_prefetch(const struct hf_store *store, uint64_t event_id, uint64_t hold_id,
		       int has_user, uint64_t user_id)
{
	uint32_t e = store_event_find(store, event_id);
	if (e == 0)
		return;
	HF_ASSERT(e <= store->events_count);
	__builtin_prefetch(store_record_home(store, e - 1, hold_id));
	if (has_user)
		__builtin_prefetch(&store->users[user_home(store, e - 1, user_id)]);
}

static struct user_entry *user_find(struct hf_store *store, uint32_t event_index, uint64_t user_id)
{
	uint32_t i = store_user_slot(store, event_index, user_id);
	return i == UINT32_MAX ? NULL : &store->users[i];
}

static uint32_t user_seats(struct hf_store *store, uint32_t event_index, uint64_t user_id)
{
	const struct user_entry *u = user_find(store, event_index, user_id);
	return u ? u->seats_count : 0;
}

/* The entry of (event, user), inserted empty when missing. */
static struct user_entry *user_get(struct hf_store *store, uint32_t event_index, uint64_t user_id)
{
	struct user_entry *u = user_find(store, event_index, user_id);
	if (u)
		return u;
	uint32_t mask = store->users_mask;
	/* At most one entry per live record, and the table has 2 x records_max slots. */
	HF_ASSERT(store->users_count < mask / 2 + 1);
	uint32_t i = user_home(store, event_index, user_id);
	while (store->users[i].event_index_1 != 0)
		i = (i + 1) & mask;
	store->users[i] = (struct user_entry){.user_id = user_id, .event_index_1 = event_index + 1};
	store->users_count++;
	return &store->users[i];
}

/* Empties slot i (an entry without records) with backward-shift deletion. */
static void user_remove(struct hf_store *store, uint32_t i)
{
	uint32_t mask = store->users_mask;
	HF_ASSERT(store->users[i].seats_count == 0);
	HF_ASSERT(store->users[i].head[USER_LIST_HOLDS] == RECORD_NONE);
	HF_ASSERT(store->users[i].head[USER_LIST_BOOKINGS] == RECORD_NONE);
	store->users[i].event_index_1 = 0;
	store->users_count--;
	for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		struct user_entry *o = &store->users[j];
		if (o->event_index_1 == 0)
			break;
		uint32_t home = user_home(store, o->event_index_1 - 1, o->user_id);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			store->users[i] = *o;
			o->event_index_1 = 0;
			i = j;
		}
	}
}

static uint32_t user_list_of(const struct record *rec)
{
	HF_ASSERT(rec->state == RECORD_HELD || rec->state == RECORD_BOOKED);
	return rec->state == RECORD_HELD ? USER_LIST_HOLDS : USER_LIST_BOOKINGS;
}

/* Takes rec out of list `list` of entry u (its seats stay counted). */
static void user_list_remove(struct hf_store *store, struct user_entry *u, uint32_t list,
			     struct record *rec)
{
	if (rec->user_prev != RECORD_NONE)
		record_at(store, rec->user_prev)->user_next = rec->user_next;
	else
		u->head[list] = rec->user_next;
	if (rec->user_next != RECORD_NONE)
		record_at(store, rec->user_next)->user_prev = rec->user_prev;
	else
		u->tail[list] = rec->user_prev;
	rec->user_prev = rec->user_next = RECORD_NONE;
}

/* Appends rec to list `list` of entry u, with the next list sequence number. */
static void user_list_append(struct hf_store *store, struct user_entry *u, uint32_t list,
			     struct record *rec)
{
	uint32_t self = record_index(store, rec) + 1;
	rec->list_seq = ++store->list_seq_last;
	rec->user_prev = u->tail[list];
	rec->user_next = RECORD_NONE;
	if (u->tail[list] != RECORD_NONE)
		record_at(store, u->tail[list])->user_next = self;
	else
		u->head[list] = self;
	u->tail[list] = self;
}

void store_user_link(struct hf_store *store, struct record *rec)
{
	struct user_entry *u = user_get(store, rec->event_index, rec->user_id);
	user_list_append(store, u, user_list_of(rec), rec);
	u->seats_count += rec->seats_count;
}

void store_user_move(struct hf_store *store, struct record *rec, uint8_t state)
{
	struct user_entry *u = user_find(store, rec->event_index, rec->user_id);
	HF_ASSERT(u != NULL);
	user_list_remove(store, u, user_list_of(rec), rec);
	rec->state = state;
	user_list_append(store, u, user_list_of(rec), rec);
}

void store_user_unlink(struct hf_store *store, struct record *rec)
{
	uint32_t i = store_user_slot(store, rec->event_index, rec->user_id);
	HF_ASSERT(i != UINT32_MAX);
	struct user_entry *u = &store->users[i];
	user_list_remove(store, u, user_list_of(rec), rec);
	HF_ASSERT(u->seats_count >= rec->seats_count);
	u->seats_count -= rec->seats_count;
	if (u->seats_count == 0)
		user_remove(store, i);
}

/* ---- Seats: the free bitmap, block counts and lazily allocated owner chunks ---- */

static uint32_t *chunk_entries(struct hf_store *store, uint32_t chunk_1)
{
	HF_ASSERT(chunk_1 != 0 && chunk_1 <= store->chunks_high);
	return store->chunks + (size_t)(chunk_1 - 1) * HF_STORE_CHUNK_SEATS;
}

static uint32_t chunk_alloc(struct hf_store *store)
{
	uint32_t c;
	if (store->chunk_free_head != 0) {
		c = store->chunk_free_head;
		uint32_t *e = chunk_entries(store, c);
		store->chunk_free_head = e[0];
		e[0] = RECORD_NONE;
	} else {
		/* Enough chunks were reserved for every seat chunk of seats_max plus one partial
		 * chunk per event, and for every seat records_max records can own. */
		HF_ASSERT(store->chunks_high < store->chunks_max);
		c = ++store->chunks_high;
	}
	store->chunks_used++;
	return c;
}

static void chunk_free(struct hf_store *store, uint32_t chunk_1)
{
	uint32_t *e = chunk_entries(store, chunk_1);
	e[0] = store->chunk_free_head;
	store->chunk_free_head = chunk_1;
	HF_ASSERT(store->chunks_used > 0);
	store->chunks_used--;
}

void store_seat_take(struct hf_store *store, struct event *ev, uint32_t seat, uint32_t owner_1)
{
	HF_ASSERT(seat < ev->seats_count && seat_is_free(ev, seat));
	ev->free_bits[seat / WORD_BITS] &= ~(1ull << (seat % WORD_BITS));
	ev->block_free[seat / HF_STORE_BLOCK_SEATS]--;
	uint32_t ci = seat / HF_STORE_CHUNK_SEATS;
	if (ev->chunk_index[ci] == 0)
		ev->chunk_index[ci] = chunk_alloc(store);
	uint32_t *e = chunk_entries(store, ev->chunk_index[ci]);
	HF_ASSERT(e[seat % HF_STORE_CHUNK_SEATS] == RECORD_NONE);
	e[seat % HF_STORE_CHUNK_SEATS] = owner_1;
	ev->chunk_used[ci]++;
}

static void seat_give_back(struct hf_store *store, struct event *ev, uint32_t seat,
			   uint32_t owner_1)
{
	HF_ASSERT(seat < ev->seats_count && !seat_is_free(ev, seat));
	uint32_t ci = seat / HF_STORE_CHUNK_SEATS;
	uint32_t *e = chunk_entries(store, ev->chunk_index[ci]);
	HF_ASSERT(e[seat % HF_STORE_CHUNK_SEATS] == owner_1);
	e[seat % HF_STORE_CHUNK_SEATS] = RECORD_NONE;
	ev->free_bits[seat / WORD_BITS] |= 1ull << (seat % WORD_BITS);
	ev->block_free[seat / HF_STORE_BLOCK_SEATS]++;
	HF_ASSERT(ev->chunk_used[ci] > 0);
	if (--ev->chunk_used[ci] == 0) {
		chunk_free(store, ev->chunk_index[ci]);
		ev->chunk_index[ci] = 0;
	}
}

/* Gives a HELD or BOOKED record's seats back and updates every count it was part of. */
void store_record_seats_free(struct hf_store *store, struct record *rec)
{
	struct event *ev = &store->events[rec->event_index];
	uint32_t owner_1 = record_index(store, rec) + 1;
	uint32_t n = rec->seats_count;
	const uint32_t *seats = record_seats(store, rec);
	for (uint32_t i = 0; i < n; i++)
		seat_give_back(store, ev, seats[i], owner_1);
	ev->free_count += n;
	store->free_total += n;
	if (rec->state == RECORD_HELD) {
		HF_ASSERT(ev->held_count >= n && ev->holds_count > 0);
		ev->held_count -= n;
		ev->holds_count--;
		store->held_total -= n;
		store->holds_total--;
	} else {
		HF_ASSERT(rec->state == RECORD_BOOKED);
		HF_ASSERT(ev->booked_count >= n && ev->bookings_count > 0);
		ev->booked_count -= n;
		ev->bookings_count--;
		store->booked_total -= n;
		store->bookings_total--;
	}
	store_user_unlink(store, rec);
}

/* ---- Create / destroy ---- */

void hf_store_config_default(struct hf_store_config *cfg)
{
	cfg->events_max = 4096;
	cfg->seats_max = 64ull * 1024 * 1024;
	cfg->records_max = 1u << 22; /* reserved lazily: untouched records cost no memory */
	cfg->tombstone_ttl_ms = 10u * 60u * 1000u;
}

/* Bytes of arena one event of `seats` seats takes. */
static size_t event_arena_size(uint64_t seats)
{
	uint64_t words = (seats + WORD_BITS - 1) / WORD_BITS;
	uint64_t blocks = (seats + HF_STORE_BLOCK_SEATS - 1) / HF_STORE_BLOCK_SEATS;
	uint64_t chunks = (seats + HF_STORE_CHUNK_SEATS - 1) / HF_STORE_CHUNK_SEATS;
	return align8(words * 8) + align8(blocks * 4) + align8(chunks * 4) + align8(chunks * 2);
}

int hf_store_create(const struct hf_store_config *cfg, struct hf_store **out)
{
	*out = NULL;
	if (cfg->events_max == 0 || cfg->seats_max == 0 || cfg->records_max == 0 ||
	    cfg->events_max > (1u << 24) || cfg->records_max > (1u << 28) ||
	    cfg->seats_max > (uint64_t)cfg->events_max * HF_EVENT_SEATS_MAX)
		return -EINVAL;
	struct hf_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	/* Every event's arrays round up to whole words, blocks and chunks: one extra of each, plus
	 * alignment, per event. */
	s->arena_size = event_arena_size(cfg->seats_max) + (size_t)cfg->events_max * 64u +
			(size_t)cfg->events_max * HF_EVENT_SECTIONS_MAX * sizeof(struct hf_section);
	uint64_t chunks =
	    (cfg->seats_max + HF_STORE_CHUNK_SEATS - 1) / HF_STORE_CHUNK_SEATS + cfg->events_max;
	uint64_t chunks_by_records = (uint64_t)cfg->records_max * HF_HOLD_SEATS_MAX;
	s->chunks_max = (uint32_t)(chunks < chunks_by_records ? chunks : chunks_by_records);
	s->event_table_mask = pow2_at_least(2ull * cfg->events_max) - 1;
	s->record_table_mask = pow2_at_least(2ull * cfg->records_max) - 1;
	s->users_mask = pow2_at_least(2ull * cfg->records_max) - 1;

	s->events = calloc(cfg->events_max, sizeof(*s->events));
	s->event_table = calloc((size_t)s->event_table_mask + 1, sizeof(uint32_t));
	s->records = reserve((size_t)cfg->records_max * sizeof(*s->records));
	s->seat_lists = reserve((size_t)cfg->records_max * HF_HOLD_SEATS_MAX * sizeof(uint32_t));
	s->record_table = reserve(((size_t)s->record_table_mask + 1) * sizeof(*s->record_table));
	s->users = reserve_small_pages(((size_t)s->users_mask + 1) * sizeof(*s->users));
	s->avail_scratch = malloc(HF_AVAIL_RANGE_MAX / 8);
	s->arena = reserve(s->arena_size);
	s->chunks = reserve((size_t)s->chunks_max * HF_STORE_CHUNK_SEATS * sizeof(uint32_t));
	if (!s->events || !s->event_table || !s->records || !s->seat_lists || !s->record_table ||
	    !s->users || !s->avail_scratch || !s->arena || !s->chunks) {
		hf_store_destroy(s);
		return -ENOMEM;
	}
	s->fixed_bytes = sizeof(*s) + (uint64_t)cfg->events_max * sizeof(*s->events) +
			 ((uint64_t)s->event_table_mask + 1) * sizeof(uint32_t) +
			 (uint64_t)cfg->records_max * sizeof(*s->records) +
			 ((uint64_t)s->record_table_mask + 1) * sizeof(*s->record_table) +
			 ((uint64_t)s->users_mask + 1) * sizeof(*s->users) + HF_AVAIL_RANGE_MAX / 8;
	*out = s;
	return 0;
}

void hf_store_prefault(struct hf_store *store)
{
	HF_ASSERT(store->records_high == 0);
	HF_ASSERT(store->users_count == 0);
	make_resident(store->records, (size_t)store->cfg.records_max * sizeof(*store->records));
	make_resident(store->record_table,
		      ((size_t)store->record_table_mask + 1) * sizeof(*store->record_table));
	make_resident(store->users, ((size_t)store->users_mask + 1) * sizeof(*store->users));
}

void hf_store_destroy(struct hf_store *store)
{
	if (!store)
		return;
	store_room_destroy_all(store);
	unreserve(store->arena, store->arena_size);
	unreserve(store->chunks,
		  (size_t)store->chunks_max * HF_STORE_CHUNK_SEATS * sizeof(uint32_t));
	free(store->events);
	free(store->event_table);
	unreserve(store->records, (size_t)store->cfg.records_max * sizeof(*store->records));
	unreserve(store->seat_lists,
		  (size_t)store->cfg.records_max * HF_HOLD_SEATS_MAX * sizeof(uint32_t));
	unreserve(store->record_table,
		  ((size_t)store->record_table_mask + 1) * sizeof(*store->record_table));
	unreserve(store->users, ((size_t)store->users_mask + 1) * sizeof(*store->users));
	free(store->avail_scratch);
	free(store);
}

static void *arena_take(struct hf_store *store, size_t size)
{
	size = align8(size);
	HF_ASSERT(store->arena_used + size <= store->arena_size);
	void *p = store->arena + store->arena_used;
	store->arena_used += size;
	return p;
}

static size_t event_arrays_size(uint32_t seats_count)
{
	uint32_t words = div_ceil32(seats_count, WORD_BITS);
	uint32_t blocks = div_ceil32(seats_count, HF_STORE_BLOCK_SEATS);
	uint32_t chunks = div_ceil32(seats_count, HF_STORE_CHUNK_SEATS);
	return align8((size_t)words * 8) + align8((size_t)blocks * 4) + align8((size_t)chunks * 4) +
	       align8((size_t)chunks * 2);
}

/* The first deleted slot whose arena extent holds `need` bytes (index + 1), or 0. The free list
 * holds events_free_count slots. */
static uint32_t event_free_fit(const struct hf_store *store, size_t need)
{
	uint32_t n = 0;
	for (uint32_t i = store->event_free_head; i != 0; i = store->events[i - 1].free_next) {
		HF_ASSERT(n++ < store->events_free_count);
		if (store->events[i - 1].arena_bytes >= need)
			return i;
	}
	return 0;
}

int store_event_fits(const struct hf_store *store, uint32_t seats, uint32_t n_sections)
{
	if (store->seats_total + seats > store->cfg.seats_max)
		return 0;
	if (store->events_count < store->cfg.events_max)
		return 1; /* the arena was sized for events_max fresh events */
	if (store->events_free_count == 0)
		return 0;
	size_t need = event_arrays_size(seats);
	size_t sections = sizeof(struct hf_section) * n_sections;
	if (event_free_fit(store, need) != 0)
		return store->arena_used + align8(sections) <= store->arena_size;
	return store->arena_used + need + align8(sections) <= store->arena_size;
}

/* A slot for a new event and where its arrays go: a deleted slot whose extent fits (reused), else
 * a fresh slot, else any deleted slot with fresh arena (its old extent is given up). */
static uint32_t event_slot_take(struct hf_store *store, size_t need, uint8_t **extent_out)
{
	uint32_t fit = event_free_fit(store, need);
	uint32_t take = fit;
	if (take == 0 && store->events_count < store->cfg.events_max) {
		*extent_out = NULL;
		return store->events_count++;
	}
	if (take == 0)
		take = store->event_free_head;
	HF_ASSERT(take != 0);
	uint32_t *link = &store->event_free_head;
	while (*link != take)
		link = &store->events[*link - 1].free_next;
	*link = store->events[take - 1].free_next;
	store->events_free_count--;
	*extent_out = fit != 0 ? (uint8_t *)store->events[take - 1].free_bits : NULL;
	if (*extent_out != NULL)
		memset(*extent_out, 0, store->events[take - 1].arena_bytes);
	return take - 1;
}

static void event_arrays_place(struct hf_store *store, struct event *ev, uint8_t *extent)
{
	size_t at = 0;
	size_t sizes[4] = {(size_t)ev->words_count * 8, (size_t)ev->blocks_count * 4,
			   (size_t)ev->chunks_count * 4, (size_t)ev->chunks_count * 2};
	void *p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = extent != NULL ? extent + at : arena_take(store, sizes[i]);
		at += align8(sizes[i]);
	}
	ev->free_bits = p[0];
	ev->block_free = p[1];
	ev->chunk_index = p[2];
	ev->chunk_used = p[3];
}

/* Adds an event (parameters already validated, store_event_fits said yes). Returns its index. */
uint32_t store_event_add(struct hf_store *store, uint64_t id, uint32_t seats_count,
			 uint32_t row_width, uint32_t user_limit, uint32_t lifetime_s)
{
	HF_ASSERT(id != 0);
	HF_ASSERT(store->seats_total + seats_count <= store->cfg.seats_max);
	size_t need = event_arrays_size(seats_count);
	uint8_t *extent = NULL;
	uint32_t index = event_slot_take(store, need, &extent);
	struct event *ev = &store->events[index];
	/* A reused slot keeps its sections memory; its arrays' extent is kept only when reused. */
	struct hf_section *sections = ev->sections;
	uint32_t sections_cap = ev->sections_cap;
	uint32_t arena_bytes = extent != NULL ? ev->arena_bytes : (uint32_t)need;
	memset(ev, 0, sizeof(*ev));
	ev->sections = sections;
	ev->sections_cap = sections_cap;
	ev->arena_bytes = arena_bytes;
	ev->id = id;
	ev->seats_count = seats_count;
	ev->row_width = row_width;
	ev->user_limit = user_limit;
	ev->lifetime_s = lifetime_s;
	ev->free_count = seats_count;
	ev->words_count = div_ceil32(seats_count, WORD_BITS);
	ev->blocks_count = div_ceil32(seats_count, HF_STORE_BLOCK_SEATS);
	ev->chunks_count = div_ceil32(seats_count, HF_STORE_CHUNK_SEATS);
	event_arrays_place(store, ev, extent);
	for (uint32_t w = 0; w < ev->words_count; w++)
		ev->free_bits[w] = ~0ull;
	if (seats_count % WORD_BITS != 0)
		ev->free_bits[ev->words_count - 1] = (1ull << (seats_count % WORD_BITS)) - 1;
	for (uint32_t b = 0; b < ev->blocks_count; b++) {
		uint32_t left = seats_count - b * HF_STORE_BLOCK_SEATS;
		ev->block_free[b] = left < HF_STORE_BLOCK_SEATS ? left : HF_STORE_BLOCK_SEATS;
	}
	/* Fresh arena is zero, and a reused extent was cleared: chunk_index and chunk_used start at
	 * zero. */
	event_table_insert(store, index + 1);
	store->seats_total += seats_count;
	store->free_total += seats_count;
	return index;
}

void store_event_table_rebuild(struct hf_store *store)
{
	memset(store->event_table, 0, ((size_t)store->event_table_mask + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < store->events_count; i++) {
		if (!event_is_deleted(&store->events[i]))
			event_table_insert(store, i + 1);
	}
}

void store_event_sections_set(struct hf_store *store, uint32_t index,
			      const struct hf_section *sections, uint32_t n)
{
	HF_ASSERT(index < store->events_count);
	HF_ASSERT(n <= HF_EVENT_SECTIONS_MAX);
	struct event *ev = &store->events[index];
	HF_ASSERT(ev->sections_count == 0);
	if (n == 0)
		return;
	if (n > ev->sections_cap) {
		ev->sections = arena_take(store, sizeof(struct hf_section) * n);
		ev->sections_cap = n;
	}
	memcpy(ev->sections, sections, sizeof(struct hf_section) * n);
	ev->sections_count = n;
}

/* ---- Operations ---- */

static enum hf_status fail(struct hf_reply *rep, enum hf_status status, uint64_t detail)
{
	rep->status = (uint16_t)status;
	rep->detail = detail;
	return status;
}

static int section_same(const struct hf_section *a, const struct hf_section *b)
{
	return strcmp(a->name, b->name) == 0 && a->first == b->first && a->count == b->count &&
	       a->row_width == b->row_width && a->tier == b->tier;
}

/* An existing event was created with the same parameters (sections included, in order). */
static int event_same(const struct event *ev, const struct hf_req_create_event *r,
		      uint32_t lifetime_s)
{
	if (ev->seats_count != r->seats_count || ev->row_width != r->row_width ||
	    ev->user_limit != r->user_limit || ev->lifetime_s != lifetime_s ||
	    ev->sections_count != r->sections_count || ev->user_rate != r->user_rate ||
	    ev->user_burst != r->user_burst)
		return 0;
	for (uint32_t i = 0; i < ev->sections_count; i++) {
		if (!section_same(&ev->sections[i], &r->sections[i]))
			return 0;
	}
	return 1;
}

static enum hf_status op_create_event(struct hf_store *store, const struct hf_req_create_event *r,
				      struct hf_reply *rep, struct hf_changes *changes)
{
	if (r->event_id == 0 || r->seats_count == 0 || r->seats_count > HF_EVENT_SEATS_MAX ||
	    r->row_width > r->seats_count || r->hold_lifetime_max_s > HF_HOLD_LIFETIME_MAX_S ||
	    r->user_rate > HF_USER_RATE_MAX || r->user_burst > HF_USER_RATE_MAX ||
	    (r->user_burst != 0 && r->user_rate == 0))
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t lifetime_s =
	    r->hold_lifetime_max_s ? r->hold_lifetime_max_s : HF_HOLD_LIFETIME_DEFAULT_S;
	uint32_t bad;
	if (store_sections_check(r->seats_count, r->sections, r->sections_count, &bad) != HF_OK)
		return fail(rep, HF_ERR_INVALID, (uint64_t)bad + 1u);
	uint32_t e = store_event_find(store, r->event_id);
	if (e != 0) {
		if (event_same(&store->events[e - 1], r, lifetime_s))
			return HF_OK;
		return fail(rep, HF_EVENT_EXISTS, 0);
	}
	if (!store_event_fits(store, r->seats_count, r->sections_count))
		return fail(rep, HF_ERR_CAPACITY, 0);
	uint32_t index = store_event_add(store, r->event_id, r->seats_count, r->row_width,
					 r->user_limit, lifetime_s);
	store_event_sections_set(store, index, r->sections, r->sections_count);
	store->events[index].user_rate = r->user_rate;
	store->events[index].user_burst = r->user_burst;
	store_change_put_event(changes, &store->events[index]);
	return HF_OK;
}

static void fill_event_info(const struct event *ev, struct hf_rep_event_info *info)
{
	info->event_id = ev->id;
	info->seats_count = ev->seats_count;
	info->row_width = ev->row_width;
	info->user_limit = ev->user_limit;
	info->hold_lifetime_max_s = ev->lifetime_s;
	info->free_count = ev->free_count;
	info->held_count = ev->held_count;
	info->booked_count = ev->booked_count;
	info->holds_count = ev->holds_count;
	info->bookings_count = ev->bookings_count;
}

static void fill_hold_reply(const struct hf_store *store, const struct record *rec,
			    struct hf_rep_hold *h, uint64_t deadline_ms)
{
	h->hold_id = rec->id;
	h->deadline_ms = deadline_ms;
	h->seats_count = rec->seats_count;
	memcpy(h->seats, record_seats(store, rec), sizeof(uint32_t) * rec->seats_count);
}

static uint64_t hold_fingerprint(const struct hf_req_hold *r)
{
	uint64_t h = mix64(0x686f6c64u, r->user_id);
	h = mix64(h, r->mode);
	/* Flags and scope joined HOLD later: mixed in only when set, so that fingerprints persisted
	 * before them still match their replays. The admission token is no part of the request's
	 * identity: a resend with a fresh token is the same hold. */
	uint8_t flags = (uint8_t)(r->flags & ~HF_HOLD_FLAG_TOKEN);
	if (flags != 0 || r->scope != 0)
		h = mix64(h, (uint64_t)flags << 16 | r->scope);
	h = mix64(h, r->seats_count);
	if (r->mode == HF_HOLD_EXPLICIT) {
		for (uint32_t i = 0; i < r->seats_count; i++)
			h = mix64(h, r->seats[i]);
	}
	return h;
}

/* 1 when the HOLD request is the one that made rec. */
static int hold_same_request(const struct hf_store *store, const struct record *rec,
			     const struct hf_req_hold *r, uint64_t fp)
{
	if (rec->fingerprint != fp || rec->user_id != r->user_id || rec->mode != r->mode ||
	    rec->seats_count != r->seats_count)
		return 0;
	if (r->mode == HF_HOLD_EXPLICIT)
		return memcmp(record_seats(store, rec), r->seats,
			      sizeof(uint32_t) * r->seats_count) == 0;
	return 1;
}

/* A HELD record whose deadline passed expires now and a tombstone whose time is up is forgotten,
 * appending their changes (at most 2), as the wheel would have. Returns the record index + 1 still
 * standing, or RECORD_NONE. */
static uint32_t record_settle(struct hf_store *store, uint32_t r, uint64_t now_ms,
			      struct hf_changes *changes)
{
	if (r == RECORD_NONE)
		return r;
	struct record *rec = record_at(store, r);
	if (rec->state == RECORD_HELD && rec->deadline_ms <= now_ms)
		store_hold_expire(store, rec, changes);
	if (record_is_tombstone(rec) && rec->wheel_ms <= now_ms) {
		store_record_forget(store, rec, changes);
		return RECORD_NONE;
	}
	return r;
}

/* The lowest seat s such that s .. s + n - 1 are free and in one row, or UINT32_MAX. Scans the free
 * bitmap a word at a time, skipping empty blocks and words and tracking runs across words. */
static uint32_t best_find(const struct event *ev, uint32_t n)
{
	const uint64_t none = UINT64_MAX;
	uint64_t run_start = none;
	uint32_t rw = ev->row_width;
	for (uint32_t wi = 0; wi < ev->words_count; wi++) {
		if (wi % BLOCK_WORDS == 0 && ev->block_free[wi / BLOCK_WORDS] == 0) {
			run_start = none;
			wi += BLOCK_WORDS - 1;
			continue;
		}
		uint64_t w = ev->free_bits[wi];
		if (w == 0) {
			run_start = none;
			continue;
		}
		uint64_t base = (uint64_t)wi * WORD_BITS;
		uint32_t pos = 0;
		while (pos < WORD_BITS) {
			uint64_t x = w >> pos;
			if (x == 0) {
				run_start = none;
				break;
			}
			uint32_t z = (uint32_t)__builtin_ctzll(x);
			if (z > 0) {
				run_start = none;
				pos += z;
			}
			uint64_t y = ~(w >> pos);
			uint32_t ones = y == 0 ? WORD_BITS - pos : (uint32_t)__builtin_ctzll(y);
			if (ones > WORD_BITS - pos)
				ones = WORD_BITS - pos;
			if (run_start == none)
				run_start = base + pos;
			uint64_t end = base + pos + ones;
			uint64_t c = run_start;
			if (rw != 0 && c % rw + n > rw)
				c = c - c % rw + rw;
			if (c + n <= end)
				return (uint32_t)c;
			pos += ones;
			if (pos < WORD_BITS)
				run_start = none;
		}
	}
	return UINT32_MAX;
}

/* The answer to a HOLD whose id was seen before (rec): the first answer, the hold's end, or
 * HF_ID_CONFLICT for another body. */
static enum hf_status hold_replay(const struct hf_store *store, const struct record *rec,
				  const struct hf_req_hold *r, uint64_t fp, struct hf_reply *rep)
{
	if (!hold_same_request(store, rec, r, fp))
		return fail(rep, HF_ID_CONFLICT, 0);
	switch (rec->state) {
	case RECORD_HELD:
	case RECORD_BOOKED:
		fill_hold_reply(store, rec, &rep->hold, rec->deadline_ms);
		return HF_OK;
	case RECORD_EXPIRED:
		return fail(rep, HF_HOLD_EXPIRED, 0);
	case RECORD_RELEASED:
		return fail(rep, HF_HOLD_RELEASED, 0);
	case RECORD_CANCELLED:
		return fail(rep, HF_BOOKING_CANCELLED, 0);
	default:
		HF_PANIC("record %u in state %u", rec->event_index, rec->state);
	}
}

/* EXPLICIT: the listed seats, checked in range, distinct, free (expiring a due hold that owns one)
 * and, with NO_ORPHAN, leaving no lone free seat. */
static enum hf_status hold_explicit_seats(struct hf_store *store, struct event *ev,
					  const struct hf_req_hold *r, uint64_t now_ms,
					  struct hf_reply *rep, struct hf_changes *changes)
{
	uint32_t n = r->seats_count;
	for (uint32_t i = 0; i < n; i++) {
		if (r->seats[i] >= ev->seats_count)
			return fail(rep, HF_SEAT_RANGE, r->seats[i]);
	}
	for (uint32_t i = 1; i < n; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (r->seats[i] == r->seats[j])
				return fail(rep, HF_DUPLICATE_SEAT, r->seats[i]);
		}
	}
	for (uint32_t i = 0; i < n && ev->sections_count > 0; i++) {
		/* General admission places are held by quantity, never by name. */
		if (store_seat_is_ga(ev, r->seats[i]))
			return fail(rep, HF_ERR_INVALID, r->seats[i]);
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = r->seats[i];
		if (seat_is_free(ev, s))
			continue;
		/* A seat of a hold past its deadline is free: expire that hold now, when the change
		 * list has room for it beyond this hold's own changes. */
		struct record *owner = record_at(store, seat_owner(store, ev, s));
		if (owner->state == RECORD_HELD && owner->deadline_ms <= now_ms) {
			if (changes_room(changes) <= HF_OP_CHANGES_MAX)
				return fail(rep, HF_BUSY, 0);
			store_hold_expire(store, owner, changes);
			continue;
		}
		return fail(rep, HF_SEAT_TAKEN, s);
	}
	if (r->flags & HF_HOLD_FLAG_NO_ORPHAN) {
		uint32_t orphan = store_orphan_find(ev, r->seats, n);
		if (orphan != UINT32_MAX)
			return fail(rep, HF_ORPHAN_SEAT, orphan);
	}
	return HF_OK;
}

/* The seats a HOLD takes, into seats_out (explicit: request order; BEST / ANY: ascending). */
static enum hf_status hold_seats(struct hf_store *store, struct event *ev,
				 const struct hf_req_hold *r, uint64_t now_ms, struct hf_reply *rep,
				 struct hf_changes *changes, uint32_t *seats_out)
{
	uint32_t n = r->seats_count;
	if (r->mode == HF_HOLD_EXPLICIT) {
		enum hf_status st = hold_explicit_seats(store, ev, r, now_ms, rep, changes);
		if (st == HF_OK)
			memcpy(seats_out, r->seats, sizeof(uint32_t) * n);
		return st;
	}
	if (r->mode == HF_HOLD_BEST && r->flags == 0 && r->scope == 0 && ev->sections_count == 0) {
		/* The rule best-available always had, with its block-skipping scan. */
		uint32_t first = best_find(ev, n);
		if (first == UINT32_MAX)
			return fail(rep, HF_NOT_ENOUGH, 0);
		for (uint32_t i = 0; i < n; i++)
			seats_out[i] = first + i;
		return HF_OK;
	}
	uint64_t detail;
	enum hf_status st = store_pick(ev, r, seats_out, &detail);
	return st == HF_OK ? HF_OK : fail(rep, st, detail);
}

/* A new HELD record for r on the seats (checked free), armed, linked and persisted. */
static void hold_place(struct hf_store *store, uint32_t ei, struct record *rec,
		       const struct hf_req_hold *r, uint64_t fp, const uint32_t *seats,
		       uint64_t now_ms, struct hf_changes *changes)
{
	struct event *ev = &store->events[ei];
	uint32_t n = r->seats_count;
	uint64_t ttl_ms = r->ttl_ms < lifetime_ms(ev) ? r->ttl_ms : lifetime_ms(ev);
	rec->id = r->hold_id;
	rec->user_id = r->user_id;
	rec->created_ms = now_ms;
	rec->deadline_ms = now_ms + ttl_ms;
	rec->ended_ms = 0;
	rec->fingerprint = fp;
	rec->event_index = ei;
	rec->state = RECORD_HELD;
	rec->mode = r->mode;
	store_record_seats_set(store, rec, seats, n);
	uint32_t self = record_index(store, rec) + 1;
	store_record_table_insert(store, self);
	for (uint32_t i = 0; i < n; i++)
		store_seat_take(store, ev, seats[i], self);
	ev->free_count -= n;
	ev->held_count += n;
	ev->holds_count++;
	store->free_total -= n;
	store->held_total += n;
	store->holds_total++;
	store_user_link(store, rec);
	store_wheel_arm(store, rec, rec->deadline_ms);
	store_change_put_record(store, changes, rec);
}

static int hold_args_valid(const struct hf_req_hold *r)
{
	if (r->event_id == 0 || r->hold_id == 0 || r->ttl_ms == 0 || r->seats_count == 0 ||
	    r->seats_count > HF_HOLD_SEATS_MAX)
		return 0;
	if (r->mode > HF_HOLD_ANY || (r->flags & ~HF_HOLD_FLAGS_KNOWN) != 0)
		return 0;
	return r->mode != HF_HOLD_EXPLICIT || (r->scope == 0 && !(r->flags & HF_HOLD_FLAG_TIER));
}

static enum hf_status op_hold(struct hf_store *store, const struct hf_req_hold *r, uint64_t now_ms,
			      struct hf_reply *rep, struct hf_changes *changes)
{
	if (!hold_args_valid(r))
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	uint32_t ei = e - 1;
	struct event *ev = &store->events[ei];
	if (r->mode == HF_HOLD_BEST && r->scope == 0 && !(r->flags & HF_HOLD_FLAG_TIER) &&
	    ev->row_width != 0 && r->seats_count > ev->row_width)
		return fail(rep, HF_ERR_INVALID, 0);

	uint64_t fp = hold_fingerprint(r);
	uint32_t old =
	    record_settle(store, store_record_find(store, ei, r->hold_id), now_ms, changes);
	if (old != RECORD_NONE)
		return hold_replay(store, record_at(store, old), r, fp, rep);
	enum hf_status admitted = store_room_hold_check(store, ev, r, now_ms);
	if (admitted != HF_OK)
		return fail(rep, admitted, 0);

	uint32_t seats[HF_HOLD_SEATS_MAX];
	enum hf_status st = hold_seats(store, ev, r, now_ms, rep, changes, seats);
	if (st != HF_OK)
		return st;
	if (ev->user_limit != 0) {
		uint32_t have = user_seats(store, ei, r->user_id);
		if ((uint64_t)have + r->seats_count > ev->user_limit)
			return fail(rep, HF_USER_LIMIT, have);
	}
	struct record *rec = store_record_acquire(store, changes);
	if (!rec)
		return fail(rep, HF_ERR_CAPACITY, 0);
	hold_place(store, ei, rec, r, fp, seats, now_ms, changes);
	fill_hold_reply(store, rec, &rep->hold, rec->deadline_ms);
	return HF_OK;
}

/* Finds the event and settles the named record; shared by EXTEND, CONFIRM, RELEASE and CANCEL. */
static enum hf_status find_named(struct hf_store *store, uint64_t event_id, uint64_t id,
				 uint64_t now_ms, struct hf_reply *rep, struct hf_changes *changes,
				 struct record **rec_out)
{
	*rec_out = NULL;
	if (event_id == 0 || id == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t e = store_event_find(store, event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	uint32_t r = record_settle(store, store_record_find(store, e - 1, id), now_ms, changes);
	if (r != RECORD_NONE)
		*rec_out = record_at(store, r);
	return HF_OK;
}

static enum hf_status op_extend(struct hf_store *store, const struct hf_req_extend *r,
				uint64_t now_ms, struct hf_reply *rep, struct hf_changes *changes)
{
	if (r->ttl_ms == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	struct record *rec;
	enum hf_status st = find_named(store, r->event_id, r->hold_id, now_ms, rep, changes, &rec);
	if (st != HF_OK)
		return st;
	if (!rec)
		return fail(rep, HF_NO_HOLD, 0);
	switch (rec->state) {
	case RECORD_HELD:
		break;
	case RECORD_BOOKED:
	case RECORD_CANCELLED:
		return fail(rep, HF_HOLD_CONFIRMED, 0);
	case RECORD_EXPIRED:
		return fail(rep, HF_HOLD_EXPIRED, 0);
	case RECORD_RELEASED:
		return fail(rep, HF_HOLD_RELEASED, 0);
	default:
		HF_PANIC("record in state %u", rec->state);
	}
	const struct event *ev = &store->events[rec->event_index];
	uint64_t cap_ms = rec->created_ms + lifetime_ms(ev);
	uint64_t deadline_ms = now_ms + r->ttl_ms;
	if (deadline_ms > cap_ms)
		deadline_ms = cap_ms;
	HF_ASSERT(deadline_ms > now_ms); /* the hold is live: now < deadline <= cap */
	store_wheel_cancel(store, rec);
	rec->deadline_ms = deadline_ms;
	store_wheel_arm(store, rec, deadline_ms);
	store_change_put_record(store, changes, rec);
	rep->extend.deadline_ms = deadline_ms;
	return HF_OK;
}

static enum hf_status op_confirm(struct hf_store *store, const struct hf_req_hold_ref *r,
				 uint64_t now_ms, struct hf_reply *rep, struct hf_changes *changes)
{
	struct record *rec;
	enum hf_status st = find_named(store, r->event_id, r->hold_id, now_ms, rep, changes, &rec);
	if (st != HF_OK)
		return st;
	if (!rec)
		return fail(rep, HF_NO_HOLD, 0);
	switch (rec->state) {
	case RECORD_HELD:
		break;
	case RECORD_BOOKED:
		fill_hold_reply(store, rec, &rep->confirm, 0);
		return HF_OK;
	case RECORD_EXPIRED:
		return fail(rep, HF_HOLD_EXPIRED, 0);
	case RECORD_RELEASED:
		return fail(rep, HF_HOLD_RELEASED, 0);
	case RECORD_CANCELLED:
		return fail(rep, HF_BOOKING_CANCELLED, 0);
	default:
		HF_PANIC("record in state %u", rec->state);
	}
	struct event *ev = &store->events[rec->event_index];
	uint32_t n = rec->seats_count;
	store_wheel_cancel(store, rec);
	store_user_move(store, rec, RECORD_BOOKED);
	HF_ASSERT(ev->held_count >= n && ev->holds_count > 0);
	ev->held_count -= n;
	ev->holds_count--;
	ev->booked_count += n;
	ev->bookings_count++;
	store->held_total -= n;
	store->holds_total--;
	store->booked_total += n;
	store->bookings_total++;
	store_change_put_record(store, changes, rec);
	fill_hold_reply(store, rec, &rep->confirm, 0);
	return HF_OK;
}

static enum hf_status op_release(struct hf_store *store, const struct hf_req_hold_ref *r,
				 uint64_t now_ms, struct hf_reply *rep, struct hf_changes *changes)
{
	struct record *rec;
	enum hf_status st = find_named(store, r->event_id, r->hold_id, now_ms, rep, changes, &rec);
	if (st != HF_OK)
		return st;
	if (!rec)
		return fail(rep, HF_NO_HOLD, 0);
	switch (rec->state) {
	case RECORD_HELD:
		break;
	case RECORD_RELEASED:
		return HF_OK;
	case RECORD_BOOKED:
		return fail(rep, HF_HOLD_CONFIRMED, 0);
	case RECORD_CANCELLED:
		return fail(rep, HF_BOOKING_CANCELLED, 0);
	case RECORD_EXPIRED:
		return fail(rep, HF_HOLD_EXPIRED, 0);
	default:
		HF_PANIC("record in state %u", rec->state);
	}
	store_record_end(store, rec, RECORD_RELEASED, now_ms);
	store_change_put_record(store, changes, rec);
	return HF_OK;
}

static enum hf_status op_cancel(struct hf_store *store, const struct hf_req_hold_ref *r,
				uint64_t now_ms, struct hf_reply *rep, struct hf_changes *changes)
{
	struct record *rec;
	enum hf_status st = find_named(store, r->event_id, r->hold_id, now_ms, rep, changes, &rec);
	if (st != HF_OK)
		return st;
	if (!rec)
		return fail(rep, HF_NO_BOOKING, 0);
	if (rec->state == RECORD_CANCELLED)
		return HF_OK;
	if (rec->state != RECORD_BOOKED)
		return fail(rep, HF_NO_BOOKING, 0);
	store_record_end(store, rec, RECORD_CANCELLED, now_ms);
	store_change_put_record(store, changes, rec);
	return HF_OK;
}

/* 64 free bits starting at seat `pos` (bits past the event are 0). */
static uint64_t bits_at(const struct event *ev, uint64_t pos)
{
	uint32_t wi = (uint32_t)(pos / WORD_BITS);
	uint32_t off = (uint32_t)(pos % WORD_BITS);
	if (wi >= ev->words_count)
		return 0;
	uint64_t w = ev->free_bits[wi] >> off;
	if (off != 0 && wi + 1 < ev->words_count)
		w |= ev->free_bits[wi + 1] << (WORD_BITS - off);
	return w;
}

static enum hf_status op_avail(struct hf_store *store, const struct hf_req_avail *r,
			       struct hf_reply *rep)
{
	if (r->event_id == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	if (r->count > HF_AVAIL_RANGE_MAX)
		return fail(rep, HF_ERR_TOO_LARGE, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	const struct event *ev = &store->events[e - 1];
	if (r->count != 0 && (uint64_t)r->first + r->count > ev->seats_count)
		return fail(rep, HF_SEAT_RANGE,
			    r->first >= ev->seats_count ? r->first : ev->seats_count);
	rep->avail.seats_count = ev->seats_count;
	rep->avail.free_count = ev->free_count;
	rep->avail.first = r->count ? r->first : 0;
	rep->avail.count = r->count;
	rep->avail.bitmap = NULL;
	if (r->count == 0)
		return HF_OK;
	uint8_t *out = store->avail_scratch;
	uint32_t bytes = (r->count + 7) / 8;
	for (uint32_t i = 0; i * 8u < bytes; i++) {
		uint64_t w = bits_at(ev, (uint64_t)r->first + (uint64_t)i * WORD_BITS);
		uint32_t left = r->count - i * WORD_BITS;
		if (left < WORD_BITS)
			w &= (1ull << left) - 1;
		for (uint32_t b = 0; b < 8 && i * 8u + b < bytes; b++)
			out[i * 8u + b] = (uint8_t)(w >> (8 * b));
	}
	rep->avail.bitmap = out;
	return HF_OK;
}

/* SEAT_STATUS and SEAT_INFO (the same answer; SEAT_INFO's encoding adds the user ids). */
static enum hf_status op_seat_status(struct hf_store *store, const struct hf_req_seat_status *r,
				     uint64_t now_ms, struct hf_reply *rep)
{
	if (r->event_id == 0 || r->seats_count == 0 || r->seats_count > HF_SEAT_STATUS_SEATS_MAX)
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	const struct event *ev = &store->events[e - 1];
	for (uint32_t i = 0; i < r->seats_count; i++) {
		if (r->seats[i] >= ev->seats_count)
			return fail(rep, HF_SEAT_RANGE, r->seats[i]);
	}
	rep->seat_status.seats_count = r->seats_count;
	for (uint32_t i = 0; i < r->seats_count; i++) {
		struct hf_seat_info *si = &rep->seat_status.seats[i];
		uint32_t owner = seat_owner(store, ev, r->seats[i]);
		si->seat = r->seats[i];
		si->state = HF_SEAT_FREE;
		si->owner_id = 0;
		si->user_id = 0;
		if (owner == RECORD_NONE)
			continue;
		const struct record *rec = &store->records[owner - 1];
		/* A hold past its deadline still waiting for the wheel reads as free. */
		if (rec->state == RECORD_HELD && rec->deadline_ms <= now_ms)
			continue;
		si->state = rec->state == RECORD_HELD ? HF_SEAT_HELD : HF_SEAT_BOOKED;
		si->owner_id = rec->id;
		si->user_id = rec->user_id;
	}
	return HF_OK;
}

/* Where a page of a user's list starts: the record the cursor names when it is still in the list
 * (O(1)), else the first record that joined the list at or after the cursor's sequence (a walk
 * over the records that joined before it: the cursor's record ended between the pages). */
static uint32_t user_page_start(const struct hf_store *store, const struct user_entry *u,
				uint32_t list, const struct hf_req_user_records *r, uint32_t ei)
{
	if (r->cursor_seq == 0 && r->cursor_id == 0)
		return u->head[list];
	uint32_t at = store_record_find(store, ei, r->cursor_id);
	if (at != RECORD_NONE) {
		const struct record *rec = &store->records[at - 1];
		uint8_t state = list == USER_LIST_HOLDS ? RECORD_HELD : RECORD_BOOKED;
		if (rec->state == state && rec->user_id == r->user_id &&
		    rec->list_seq == r->cursor_seq)
			return at;
	}
	uint32_t n = 0;
	for (at = u->head[list]; at != RECORD_NONE; at = store->records[at - 1].user_next) {
		HF_ASSERT(n++ < store->cfg.records_max);
		if (store->records[at - 1].list_seq >= r->cursor_seq)
			break;
	}
	return at;
}

/* USER_HOLDS (list USER_LIST_HOLDS) and USER_BOOKINGS: one page of a user's live records. Holds
 * past their deadline that the wheel has not fired yet are left out, as SEAT_STATUS shows their
 * seats free. */
static enum hf_status op_user_records(struct hf_store *store, const struct hf_req_user_records *r,
				      uint32_t list, uint64_t now_ms, struct hf_reply *rep)
{
	struct hf_rep_user_records *out = &rep->user_holds;
	if (r->event_id == 0 || r->limit == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	if (r->limit > HF_USER_RECORDS_PAGE_MAX)
		return fail(rep, HF_ERR_TOO_LARGE, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	out->records_count = 0;
	out->next_seq = 0;
	out->next_id = 0;
	uint32_t slot = store_user_slot(store, e - 1, r->user_id);
	if (slot == UINT32_MAX)
		return HF_OK;
	uint32_t at = user_page_start(store, &store->users[slot], list, r, e - 1);
	for (uint32_t n = 0; at != RECORD_NONE; n++) {
		HF_ASSERT(n < store->cfg.records_max);
		const struct record *rec = &store->records[at - 1];
		if (out->records_count == r->limit) {
			out->next_seq = rec->list_seq;
			out->next_id = rec->id;
			break;
		}
		at = rec->user_next;
		if (list == USER_LIST_HOLDS && rec->deadline_ms <= now_ms)
			continue;
		struct hf_user_record *o = &out->records[out->records_count++];
		o->id = rec->id;
		o->created_ms = rec->created_ms;
		o->deadline_ms = list == USER_LIST_HOLDS ? rec->deadline_ms : 0;
		o->seats_count = rec->seats_count;
		memcpy(o->seats, record_seats(store, rec), sizeof(uint32_t) * rec->seats_count);
	}
	HF_ASSERT(out->records_count <= r->limit);
	return HF_OK;
}

/* EVENT_SECTIONS: the sections in creation order with their free seats, and the tiers ascending
 * with their seats and free seats. O(seats of the sections / 64). */
static enum hf_status op_event_sections(struct hf_store *store, const struct hf_req_event *r,
					struct hf_reply *rep)
{
	if (r->event_id == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	const struct event *ev = &store->events[e - 1];
	struct hf_rep_event_sections *out = &rep->event_sections;
	out->sections_count = (uint16_t)ev->sections_count;
	out->tiers_count = 0;
	for (uint32_t i = 0; i < ev->sections_count; i++) {
		const struct hf_section *sec = &ev->sections[i];
		uint32_t free_count = store_count_free(ev, sec->first, sec->first + sec->count);
		out->sections[i].section = *sec;
		out->sections[i].free_count = free_count;
		uint32_t t = 0;
		while (t < out->tiers_count && out->tiers[t].tier < sec->tier)
			t++;
		if (t == out->tiers_count || out->tiers[t].tier != sec->tier) {
			memmove(&out->tiers[t + 1], &out->tiers[t],
				sizeof(out->tiers[0]) * (out->tiers_count - t));
			out->tiers[t] = (struct hf_tier_avail){.tier = sec->tier};
			out->tiers_count++;
		}
		out->tiers[t].seats_count += sec->count;
		out->tiers[t].free_count += free_count;
	}
	return HF_OK;
}

static enum hf_status op_event_info(struct hf_store *store, const struct hf_req_event *r,
				    struct hf_reply *rep)
{
	if (r->event_id == 0)
		return fail(rep, HF_ERR_INVALID, 0);
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	fill_event_info(&store->events[e - 1], &rep->event_info);
	return HF_OK;
}

/* Runs the op of req (the opcodes the table marks routed); unknown ones answer HF_ERR_OPCODE. */
/* EVENT_DELETE: refused while a live hold (deadline still ahead) exists, unless forced. */
static enum hf_status op_event_delete(struct hf_store *store, const struct hf_req_event_delete *r,
				      uint64_t now_ms, struct hf_reply *rep,
				      struct hf_changes *changes)
{
	(void)now_ms; /* time ran first (hf_store_apply): due holds have expired */
	uint32_t e = store_event_find(store, r->event_id);
	if (e == 0)
		return fail(rep, HF_NO_EVENT, 0);
	const struct event *ev = &store->events[e - 1];
	if (ev->holds_count > 0 && !(r->flags & HF_EVENT_DELETE_FORCE))
		return fail(rep, HF_EVENT_HAS_HOLDS, ev->holds_count);
	store_event_delete(store, e - 1, changes);
	HF_ASSERT(store_event_find(store, r->event_id) == 0);
	return HF_OK;
}

static enum hf_status op_run(struct hf_store *store, const struct hf_request *req, uint64_t now_ms,
			     struct hf_reply *rep, struct hf_changes *changes)
{
	switch (req->opcode) {
	case HF_OP_CREATE_EVENT:
		return op_create_event(store, &req->create_event, rep, changes);
	case HF_OP_EVENT_INFO:
		return op_event_info(store, &req->event_info, rep);
	case HF_OP_EVENT_SECTIONS:
		return op_event_sections(store, &req->event_sections, rep);
	case HF_OP_HOLD:
		return op_hold(store, &req->hold, now_ms, rep, changes);
	case HF_OP_EXTEND:
		return op_extend(store, &req->extend, now_ms, rep, changes);
	case HF_OP_CONFIRM:
		return op_confirm(store, &req->confirm, now_ms, rep, changes);
	case HF_OP_RELEASE:
		return op_release(store, &req->release, now_ms, rep, changes);
	case HF_OP_CANCEL:
		return op_cancel(store, &req->cancel, now_ms, rep, changes);
	case HF_OP_AVAIL:
		return op_avail(store, &req->avail, rep);
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		return op_seat_status(store, &req->seat_status, now_ms, rep);
	case HF_OP_USER_HOLDS:
		return op_user_records(store, &req->user_holds, USER_LIST_HOLDS, now_ms, rep);
	case HF_OP_USER_BOOKINGS:
		return op_user_records(store, &req->user_bookings, USER_LIST_BOOKINGS, now_ms, rep);
	case HF_OP_JOIN:
	case HF_OP_POSITION:
	case HF_OP_ROOM_SET:
	case HF_OP_ROOM_INFO:
		return store_room_op(store, req, now_ms, rep, changes);
	case HF_OP_EVENT_DELETE:
		return op_event_delete(store, &req->event_delete, now_ms, rep, changes);
	default:
		return fail(rep, HF_ERR_OPCODE, 0);
	}
}

enum hf_status hf_store_apply(struct hf_store *store, const struct hf_request *req, uint64_t now_ms,
			      struct hf_reply *rep, struct hf_changes *changes)
{
	HF_ASSERT(hf_changes_has_room(changes));
	uint32_t changes_before = changes->count;
	memset(rep, 0, offsetof(struct hf_reply, detail) + sizeof(rep->detail));
	rep->opcode = req->opcode;
	rep->request_id = req->request_id;
	rep->status = HF_OK;

	/* Time-driven changes first, so that the op sees no hold past its deadline. */
	struct wheel_budget b = {
	    .holds_left = UINT32_MAX, .tombs_left = UINT32_MAX, .room_keep = HF_OP_CHANGES_MAX};
	store_wheel_run(store, now_ms, &b, changes);
	uint32_t op_changes_before = changes->count;

	enum hf_status st = op_run(store, req, now_ms, rep, changes);
	HF_ASSERT(rep->status == (uint16_t)st);
	/* The op's own records (lazily settled records included) fit the HF_OP_CHANGES_MAX the
	 * caller guaranteed; anything more used room past it (change_append asserts the list never
	 * overflows). */
	HF_ASSERT(changes->count - op_changes_before <= HF_OP_CHANGES_MAX ||
		  changes_room(changes) >= HF_OP_CHANGES_MAX - 2u);
	/* Inventory-driven: the room admits as the op freed or took seats. */
	st = store_room_after(store, req, st, now_ms, rep, changes);
	HF_ASSERT(rep->status == (uint16_t)st);
	(void)changes_before;
#ifdef HF_STORE_CHECKS
	if (changes->count != changes_before)
		store_check_after_mutation(store);
#endif
	return st;
}

/* ---- Inspection ---- */

void hf_store_counts(const struct hf_store *store, struct hf_store_counts *out)
{
	out->events_count = store->events_count - store->events_free_count;
	out->seats_count = store->seats_total;
	out->free_count = store->free_total;
	out->held_count = store->held_total;
	out->booked_count = store->booked_total;
	out->holds_count = store->holds_total;
	out->bookings_count = store->bookings_total;
	out->tombstones_count = store->tombstones_total;
	out->holds_expired_total = store->holds_expired_total;
	out->memory_bytes = store->fixed_bytes + store->arena_used +
			    (uint64_t)store->chunks_high * HF_STORE_CHUNK_SEATS * sizeof(uint32_t) +
			    store_room_memory_bytes(store);
}

void hf_store_stats(const struct hf_store *store, struct hf_rep_stats *stats)
{
	struct hf_store_counts c;
	hf_store_counts(store, &c);
	hf_stats_add(stats, "store_events", c.events_count);
	hf_stats_add(stats, "store_seats", c.seats_count);
	hf_stats_add(stats, "store_free", c.free_count);
	hf_stats_add(stats, "store_held", c.held_count);
	hf_stats_add(stats, "store_booked", c.booked_count);
	hf_stats_add(stats, "store_holds", c.holds_count);
	hf_stats_add(stats, "store_bookings", c.bookings_count);
	hf_stats_add(stats, "store_tombstones", c.tombstones_count);
	hf_stats_add(stats, "store_holds_expired", c.holds_expired_total);
	hf_stats_add(stats, "store_memory_bytes", c.memory_bytes);
	store_room_stats(store, 0, stats);
}

/* O(events): a scan, since rebalancing is rare and events_max is small next to the op rate. */
void hf_store_for_each_event_in_slot(const struct hf_store *store, uint16_t slot,
				     void (*fn)(uint64_t event_id, void *arg), void *arg)
{
	for (uint32_t i = 0; i < store->events_count; i++) {
		if (!event_is_deleted(&store->events[i]) && hf_slot_of(store->events[i].id) == slot)
			fn(store->events[i].id, arg);
	}
}

int hf_store_event_rate(const struct hf_store *store, uint64_t event_id, uint32_t *rate_out,
			uint32_t *burst_out)
{
	uint32_t e = store_event_find(store, event_id);
	if (e == 0 || store->events[e - 1].user_rate == 0)
		return 0;
	const struct event *ev = &store->events[e - 1];
	*rate_out = ev->user_rate;
	*burst_out = ev->user_burst != 0 ? ev->user_burst : ev->user_rate;
	return 1;
}
