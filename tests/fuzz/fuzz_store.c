/* Goal: a coverage-guided search for a sequence of operations at some clock that breaks the seat
 * store: an invariant hf_store_check finds violated, an assertion, an out-of-bounds access, a reply
 * that does not encode, a replay that answers differently, or a change list that does not rebuild
 * the same store.
 * Method: the first input byte sizes the change list (HF_OP_CHANGES_MAX .. +15 entries); the rest
 * is a list of steps; each step advances the clock (0 ms .. 31 h) and either ticks the timer wheel
 * or builds one request (CREATE_EVENT, HOLD explicit or best, EXTEND, CONFIRM, RELEASE, CANCEL,
 * AVAIL, SEAT_STATUS, EVENT_INFO) from a few input bytes, with ids drawn mostly from a few hot
 * values so ops meet each other. The request goes the server's way: encoded, decoded (only what
 * decodes is applied), then hf_store_apply on a small store (4 events, 1024 seats, 48 records:
 * every pool fills). hf_store_check runs after every mutation (inside the store when built with
 * HF_STORE_CHECKS, else after each step); the reply encodes and decodes back; a HOLD that
 * succeeded, replayed at once, answers the same seats and deadline and writes nothing about the
 * hold, and the store's next deadline is not after the hold's. The change list is a batch, as in
 * the shard: it is committed (applied to a key/value model of the disk, then reset) only when it
 * has no room for one more op, so ticks and ops also run with a nearly full list (time-driven
 * records deferred). At the end the wheel is run to the final clock, the model's records are loaded
 * in key order into a fresh store, and every event must read the same in both.
 *
 * Built with libFuzzer by scripts/fuzz.sh; replayed over tests/fuzz/corpus/store by the default
 * suite (fuzz_store_replay). */
#include "tests/fuzz/fuzz.h"

#include "base/endian.h"
#include "shards/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_EVENTS_MAX       4u
#define STORE_SEATS_MAX	       1024u
#define STORE_RECORDS_MAX      48u
#define STORE_TOMBSTONE_TTL_MS 5000u
/* Steps of one input: enough for every pool to fill and drain. */
#define STEPS_MAX 512u
/* Event ids 0 .. 5: 0 is invalid, and one more than the store holds tests its capacity. */
#define EVENT_IDS_COUNT	    (STORE_EVENTS_MAX + 2u)
#define HOLD_IDS_COUNT	    20u
#define EVENT_IDS_HOT_COUNT 2u /* ids 1 .. 2 */
#define HOLD_IDS_HOT_COUNT  6u /* ids 1 .. 6 */
#define USER_IDS_HOT_COUNT  4u /* user ids 0 .. 3 */
/* Events of up to 499 seats (three can overflow the store); seat numbers reach a little past. */
#define EVENT_SEATS_SPREAD 500u
#define SEAT_SPREAD	   560u
/* The batch's change list: HF_OP_CHANGES_MAX .. + BATCH_EXTRA_MAX entries, from the input. */
#define BATCH_EXTRA_MAX 15u
/* The final checks' change list, which every time-driven record fits into: at most every record
 * ends or is forgotten at once, plus an op's own. */
#define CHANGES_CAPACITY (2u * STORE_RECORDS_MAX + STORE_EVENTS_MAX + HF_OP_CHANGES_MAX)
/* Keys the model of the disk may hold: every event and every record the store keeps. */
#define DISK_KEYS_MAX (STORE_EVENTS_MAX + STORE_RECORDS_MAX)
/* A hold's record key, as shards/store.h lays it out: be64(event_id) 'R' be64(hold_id). */
#define HOLD_KEY_SIZE 17u
/* 2026-01-01T00:00:00Z: wall-clock ms, as the shard passes them. */
#define CLOCK_START_MS 1767225600000ull

HF_STATIC_ASSERT(CHANGES_CAPACITY >= HF_OP_CHANGES_MAX, "one op's changes fit");

enum step_kind {
	STEP_TICK,
	STEP_CREATE,
	STEP_HOLD,
	STEP_EXTEND,
	STEP_CONFIRM,
	STEP_RELEASE,
	STEP_CANCEL,
	STEP_AVAIL,
	STEP_SEAT_STATUS,
	STEP_EVENT_INFO,
	STEP_KINDS_COUNT,
};

struct disk_record {
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
	uint8_t key_size;
	uint16_t value_size;
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
};

/* The model of what persistence would hold: the PUTs and DELs of every step, applied in order. */
struct disk {
	struct disk_record records[DISK_KEYS_MAX];
	uint32_t records_count;
};

/* Large: static, one harness call at a time. */
static struct hf_request req;
static struct hf_request decoded;
static struct hf_reply rep;
static struct hf_reply rep_again;
static struct hf_reply rep_decoded;
static struct disk disk;
static uint8_t frame[HF_FRAME_SIZE_MAX];

/* Ids are drawn mostly from a few hot values, so that ops meet the holds earlier steps made (an
 * EXTEND of a booking, a RELEASE of a cancelled one), and sometimes from the whole set, so that
 * pools still fill. */
static uint64_t pick_event(struct fz_cursor *c)
{
	uint8_t b = fz_u8(c);
	return b < 192 ? 1u + b % EVENT_IDS_HOT_COUNT : b % EVENT_IDS_COUNT;
}

static uint64_t pick_hold(struct fz_cursor *c)
{
	uint8_t b = fz_u8(c);
	return b < 192 ? 1u + b % HOLD_IDS_HOT_COUNT : b % HOLD_IDS_COUNT;
}

/* Milliseconds the clock moves before a step: 0 .. 31 steps of one of eight scales. */
static uint64_t pick_clock_step_ms(struct fz_cursor *c)
{
	static const uint32_t scale_ms[8] = {0, 1, 13, 97, 1000, 4999, 60000, 3600000};
	uint8_t b = fz_u8(c);
	return (uint64_t)(b >> 3) * scale_ms[b & 7u];
}

/* 0 (invalid) .. about 55 minutes. */
static uint32_t pick_ttl_ms(struct fz_cursor *c)
{
	return (uint32_t)fz_u16(c) * 50u;
}

static void build_create(struct fz_cursor *c)
{
	struct hf_req_create_event *e = &req.create_event;
	e->event_id = pick_event(c);
	e->seats_count = fz_u16(c) % EVENT_SEATS_SPREAD;
	e->row_width = fz_u8(c) % 64u;
	e->user_limit = fz_u8(c) % 12u;
	/* Past HF_HOLD_LIFETIME_MAX_S sometimes: the decoder or the store must refuse it. */
	e->hold_lifetime_max_s = fz_u32(c) % 100000u;
}

static void build_hold(struct fz_cursor *c)
{
	struct hf_req_hold *h = &req.hold;
	h->event_id = pick_event(c);
	h->hold_id = pick_hold(c);
	/* A few users mostly (their limits bite); sometimes many (the user table fills). */
	uint8_t u = fz_u8(c);
	h->user_id = u < 192 ? u % USER_IDS_HOT_COUNT : u;
	h->ttl_ms = pick_ttl_ms(c);
	uint8_t m = fz_u8(c);
	h->mode = m < 160 ? HF_HOLD_EXPLICIT : HF_HOLD_BEST;
	/* Mostly small holds; sometimes up to the protocol's limit. */
	uint8_t n = fz_u8(c);
	h->seats_count = n < 224 ? n % 9u : 33u + (n - 224u);
	HF_ASSERT(h->seats_count <= HF_HOLD_SEATS_MAX);
	if (h->mode != HF_HOLD_EXPLICIT)
		return;
	for (uint32_t i = 0; i < h->seats_count; i++)
		h->seats[i] = fz_u16(c) % SEAT_SPREAD;
}

static void build_seat_status(struct fz_cursor *c)
{
	struct hf_req_seat_status *s = &req.seat_status;
	s->event_id = pick_event(c);
	s->seats_count = fz_u8(c) % 9u;
	for (uint32_t i = 0; i < s->seats_count; i++)
		s->seats[i] = fz_u16(c) % SEAT_SPREAD;
}

/* Fills req for a request step. */
static void build_request(enum step_kind kind, struct fz_cursor *c, uint64_t request_id)
{
	static const uint8_t opcodes[STEP_KINDS_COUNT] = {
	    [STEP_CREATE] = HF_OP_CREATE_EVENT,	  [STEP_HOLD] = HF_OP_HOLD,
	    [STEP_EXTEND] = HF_OP_EXTEND,	  [STEP_CONFIRM] = HF_OP_CONFIRM,
	    [STEP_RELEASE] = HF_OP_RELEASE,	  [STEP_CANCEL] = HF_OP_CANCEL,
	    [STEP_AVAIL] = HF_OP_AVAIL,		  [STEP_SEAT_STATUS] = HF_OP_SEAT_STATUS,
	    [STEP_EVENT_INFO] = HF_OP_EVENT_INFO,
	};
	HF_ASSERT(kind > STEP_TICK);
	HF_ASSERT(kind < STEP_KINDS_COUNT);
	memset(&req, 0, sizeof(req));
	req.opcode = opcodes[kind];
	req.request_id = request_id;
	switch (kind) {
	case STEP_CREATE:
		build_create(c);
		break;
	case STEP_HOLD:
		build_hold(c);
		break;
	case STEP_EXTEND:
		req.extend.event_id = pick_event(c);
		req.extend.hold_id = pick_hold(c);
		req.extend.ttl_ms = pick_ttl_ms(c);
		break;
	case STEP_CONFIRM:
	case STEP_RELEASE:
	case STEP_CANCEL:
		req.confirm.event_id = pick_event(c);
		req.confirm.hold_id = pick_hold(c);
		break;
	case STEP_AVAIL:
		req.avail.event_id = pick_event(c);
		req.avail.first = fz_u16(c) % SEAT_SPREAD;
		req.avail.count = fz_u16(c) % SEAT_SPREAD;
		break;
	case STEP_SEAT_STATUS:
		build_seat_status(c);
		break;
	case STEP_EVENT_INFO:
		req.event_info.event_id = pick_event(c);
		break;
	default:
		HF_PANIC("step kind %d builds no request", (int)kind);
	}
}

/* The server's way in: encode, decode. Returns 1 when the request decodes (into `decoded`). */
static int through_the_wire(void)
{
	size_t n = hf_request_encode(&req, frame, sizeof(frame));
	HF_ASSERT(n >= HF_FRAME_HEADER_SIZE);
	struct hf_frame_header h;
	HF_ASSERT(hf_frame_header_decode(frame, &h) == HF_OK);
	HF_ASSERT(h.body_size == n - HF_FRAME_HEADER_SIZE);
	return hf_request_decode(&h, frame + HF_FRAME_HEADER_SIZE, &decoded) == HF_OK;
}

static int key_cmp(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
	int c = memcmp(a, b, a_size < b_size ? a_size : b_size);
	if (c != 0)
		return c;
	return (a_size > b_size) - (a_size < b_size);
}

static struct disk_record *disk_find(const uint8_t *key, size_t key_size)
{
	for (uint32_t i = 0; i < disk.records_count; i++) {
		struct disk_record *r = &disk.records[i];
		if (key_cmp(r->key, r->key_size, key, key_size) == 0)
			return r;
	}
	return NULL;
}

/* Applies one change list to the model of the disk, as one batch would be. */
static void disk_apply(const struct hf_changes *changes)
{
	HF_ASSERT(changes->count <= changes->capacity);
	for (uint32_t i = 0; i < changes->count; i++) {
		const struct hf_change *ch = &changes->items[i];
		HF_ASSERT(ch->key_size >= 1);
		HF_ASSERT(ch->key_size <= HF_RECORD_KEY_SIZE_MAX);
		struct disk_record *r = disk_find(ch->key, ch->key_size);
		if (ch->kind == HF_CHANGE_DEL) {
			HF_ASSERT(ch->value_size == 0);
			if (r != NULL)
				*r = disk.records[--disk.records_count];
			continue;
		}
		HF_ASSERT(ch->kind == HF_CHANGE_PUT);
		HF_ASSERT(ch->value_size >= 1);
		HF_ASSERT(ch->value_size <= HF_RECORD_VALUE_SIZE_MAX);
		if (r == NULL) {
			/* More live keys than the store's pools allow: a DEL went missing. */
			HF_ASSERT(disk.records_count < DISK_KEYS_MAX);
			r = &disk.records[disk.records_count++];
			memcpy(r->key, ch->key, ch->key_size);
			r->key_size = ch->key_size;
		}
		r->value_size = ch->value_size;
		memcpy(r->value, hf_change_value(changes, ch), ch->value_size);
	}
}

/* A reply the store produced must encode, and decode back to the same status. */
static void check_reply_encodes(const struct hf_reply *r)
{
	size_t n = hf_reply_encode(r, frame, sizeof(frame));
	HF_ASSERT(n == hf_reply_size(r));
	struct hf_frame_header h;
	HF_ASSERT(hf_frame_header_decode(frame, &h) == HF_OK);
	HF_ASSERT(hf_reply_decode(&h, frame + HF_FRAME_HEADER_SIZE, &rep_decoded) == HF_OK);
	HF_ASSERT(rep_decoded.status == r->status);
	HF_ASSERT(rep_decoded.request_id == r->request_id);
}

/* The shard's batch: committed when one more op might not fit. */
static void make_room(struct hf_changes *changes)
{
	if (hf_changes_has_room(changes))
		return;
	disk_apply(changes);
	hf_changes_reset(changes);
	HF_ASSERT(hf_changes_has_room(changes));
}

/* A HOLD that succeeded, sent again at the same time, answers the first answer and writes nothing
 * about the hold. (It may write time-driven records of others: the first call may have deferred
 * them for want of room, and the batch may have been committed since.) */
static void check_hold_replay(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes)
{
	HF_ASSERT(rep.status == HF_OK);
	HF_ASSERT(decoded.opcode == HF_OP_HOLD);
	uint8_t key[HOLD_KEY_SIZE];
	hf_put_be64(key, decoded.hold.event_id);
	key[8] = 'R';
	hf_put_be64(key + 9, decoded.hold.hold_id);
	make_room(changes);
	uint32_t count_before = changes->count;
	HF_ASSERT(hf_store_apply(store, &decoded, now_ms, &rep_again, changes) == HF_OK);
	for (uint32_t i = count_before; i < changes->count; i++) {
		const struct hf_change *ch = &changes->items[i];
		HF_ASSERT(ch->key_size != HOLD_KEY_SIZE ||
			  memcmp(ch->key, key, HOLD_KEY_SIZE) != 0);
	}
	HF_ASSERT(rep_again.hold.hold_id == rep.hold.hold_id);
	HF_ASSERT(rep_again.hold.deadline_ms == rep.hold.deadline_ms);
	HF_ASSERT(rep_again.hold.seats_count == rep.hold.seats_count);
	HF_ASSERT(memcmp(rep_again.hold.seats, rep.hold.seats,
			 rep.hold.seats_count * sizeof(rep.hold.seats[0])) == 0);
}

/* The loop sleeps until the store's next deadline: it may be early, never later than the deadline
 * of a hold that is live (a replay of a confirmed hold also answers OK, with its old deadline). */
static void check_next_deadline(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes)
{
	static struct hf_request probe;
	HF_ASSERT(rep.status == HF_OK);
	HF_ASSERT(rep.hold.seats_count >= 1);
	memset(&probe, 0, sizeof(probe));
	probe.opcode = HF_OP_SEAT_STATUS;
	probe.seat_status.event_id = decoded.hold.event_id;
	probe.seat_status.seats_count = 1;
	probe.seat_status.seats[0] = rep.hold.seats[0];
	make_room(changes);
	HF_ASSERT(hf_store_apply(store, &probe, now_ms, &rep_again, changes) == HF_OK);
	const struct hf_seat_info *seat = &rep_again.seat_status.seats[0];
	if (seat->state == HF_SEAT_HELD && seat->owner_id == rep.hold.hold_id)
		HF_ASSERT(hf_store_next_deadline_ms(store) <= rep.hold.deadline_ms);
}

/* One request step; its changes join the batch. */
static void request_step(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes)
{
	if (!through_the_wire())
		return;
	make_room(changes);
	enum hf_status st = hf_store_apply(store, &decoded, now_ms, &rep, changes);
	HF_ASSERT(st == rep.status);
	HF_ASSERT(rep.opcode == decoded.opcode);
	HF_ASSERT(rep.request_id == decoded.request_id);
	HF_ASSERT(changes->count <= changes->capacity);
	check_reply_encodes(&rep);
	if (decoded.opcode == HF_OP_HOLD && st == HF_OK) {
		check_next_deadline(store, now_ms, changes);
		check_hold_replay(store, now_ms, changes);
	}
}

static int disk_record_cmp(const void *a, const void *b)
{
	const struct disk_record *x = a;
	const struct disk_record *y = b;
	return key_cmp(x->key, x->key_size, y->key, y->key_size);
}

/* EVENT_INFO of every event id on one store, into infos (status and body). */
static void read_events(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes,
			struct hf_reply *infos)
{
	for (uint64_t ev = 1; ev < EVENT_IDS_COUNT; ev++) {
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_EVENT_INFO;
		req.event_info.event_id = ev;
		hf_changes_reset(changes);
		memset(&infos[ev], 0, sizeof(infos[ev]));
		hf_store_apply(store, &req, now_ms, &infos[ev], changes);
	}
}

/* Runs the wheel to now_ms on the live store, loads the model of the disk into a fresh store, and
 * compares every event. */
static void check_recovery(struct hf_store *store, const struct hf_store_config *cfg,
			   uint64_t now_ms, struct hf_changes *changes)
{
	static struct hf_reply live[EVENT_IDS_COUNT];
	static struct hf_reply loaded[EVENT_IDS_COUNT];
	hf_changes_reset(changes);
	hf_store_tick(store, now_ms, 2u * STORE_RECORDS_MAX, changes);
	disk_apply(changes);
	read_events(store, now_ms, changes, live);

	struct hf_store *fresh;
	HF_ASSERT(hf_store_create(cfg, &fresh) == 0);
	qsort(disk.records, disk.records_count, sizeof(disk.records[0]), disk_record_cmp);
	for (uint32_t i = 0; i < disk.records_count; i++) {
		const struct disk_record *r = &disk.records[i];
		hf_changes_reset(changes);
		enum hf_status st = hf_store_load(fresh, r->key, r->key_size, r->value,
						  r->value_size, now_ms, changes);
		if (st != HF_OK) {
			fprintf(stderr, "record %u of %u does not load back: %s\n", i,
				disk.records_count, hf_status_name(st));
			abort();
		}
	}
	hf_store_check(fresh);
	read_events(fresh, now_ms, changes, loaded);
	for (uint64_t ev = 1; ev < EVENT_IDS_COUNT; ev++) {
		HF_ASSERT(loaded[ev].status == live[ev].status);
		if (live[ev].status == HF_OK)
			HF_ASSERT(memcmp(&loaded[ev].event_info, &live[ev].event_info,
					 sizeof(live[ev].event_info)) == 0);
	}
	hf_store_destroy(fresh);
}

static void run_steps(struct hf_store *store, struct fz_cursor *c, uint64_t *now_ms,
		      struct hf_changes *changes)
{
	for (uint32_t step = 0; step < STEPS_MAX && !fz_empty(c); step++) {
		enum step_kind kind = (enum step_kind)(fz_u8(c) % STEP_KINDS_COUNT);
		*now_ms += pick_clock_step_ms(c);
		if (kind == STEP_TICK) {
			/* Appends only while the batch has room, as in the shard's loop. */
			hf_store_tick(store, *now_ms, fz_u8(c) % 8u, changes);
			HF_ASSERT(changes->count <= changes->capacity);
		} else {
			build_request(kind, c, step + 1u);
			request_step(store, *now_ms, changes);
		}
#ifndef HF_STORE_CHECKS
		/* Test builds (HF_STORE_CHECKS) check inside every mutation already. */
		hf_store_check(store);
#endif
	}
	hf_store_check(store);
	disk_apply(changes);
	hf_changes_reset(changes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_store_config cfg = {
	    .events_max = STORE_EVENTS_MAX,
	    .seats_max = STORE_SEATS_MAX,
	    .records_max = STORE_RECORDS_MAX,
	    .tombstone_ttl_ms = STORE_TOMBSTONE_TTL_MS,
	};
	struct hf_store *store;
	HF_ASSERT(hf_store_create(&cfg, &store) == 0);
	static struct hf_changes changes;
	if (changes.capacity == 0)
		HF_ASSERT(hf_changes_init(&changes, CHANGES_CAPACITY) == 0);
	memset(&disk, 0, sizeof(disk));

	struct fz_cursor c;
	fz_init(&c, data, size);
	struct hf_changes batch;
	HF_ASSERT(hf_changes_init(&batch, HF_OP_CHANGES_MAX + fz_u8(&c) % (BATCH_EXTRA_MAX + 1u)) ==
		  0);
	uint64_t now_ms = CLOCK_START_MS;
	run_steps(store, &c, &now_ms, &batch);
	hf_changes_deinit(&batch);
	check_recovery(store, &cfg, now_ms, &changes);
	hf_store_destroy(store);
	return 0;
}
