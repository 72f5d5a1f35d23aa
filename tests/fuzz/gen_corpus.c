/* Writes the seed corpora of the fuzz harnesses: gen_corpus DIR creates DIR/frame, DIR/store and
 * DIR/load and fills them with one file per seed.
 *
 * - frame: a valid request frame of every request opcode (both HOLD modes) and a valid reply frame
 *   of every opcode, plus an error reply, encoded by proto's own encoders;
 * - store: step programs in fuzz_store.c's input format (batch size, then kind, clock, fields)
 *   that create events and walk holds through every state, so the fuzzer starts from deep states;
 * - load: the records a real store writes (events, live holds, bookings, tombstones), in
 *   fuzz_load.c's input format (clock offset, then key size, key, value size, value).
 *
 * - server: byte streams of one connection for fuzz_server.c: per opcode of the table, a session
 *   that creates an event, holds seats and then sends that opcode (well formed, with ids that
 *   exist); a whole hold lifecycle; the same on an event another shard owns (MOVED);
 *
 * The output is checked in under tests/fuzz/corpus/; run it again when an opcode or a record format
 * changes: build-test/tests/fuzz/gen_corpus tests/fuzz/corpus. Exits 0, or 1 on a write error. */
#include "base/assert.h"
#include "shards/slotmap.h"
#include "shards/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEED_SIZE_MAX  8192u
#define PATH_SIZE_MAX  4096u
#define CLOCK_START_MS 1767225600000ull /* fuzz_store.c and fuzz_load.c start here too */

/* fuzz_store.c's step kinds, in its order. */
enum {
	K_TICK,
	K_CREATE,
	K_HOLD,
	K_EXTEND,
	K_CONFIRM,
	K_RELEASE,
	K_CANCEL,
	K_AVAIL,
	K_SEAT_STATUS,
	K_EVENT_INFO,
};

struct seed {
	uint8_t bytes[SEED_SIZE_MAX];
	size_t size;
};

static const char *out_dir;
static uint32_t seeds_written;
static int write_failed;

static void put_u8(struct seed *s, uint8_t v)
{
	HF_ASSERT(s->size < SEED_SIZE_MAX);
	s->bytes[s->size++] = v;
}

static void put_u16(struct seed *s, uint16_t v)
{
	put_u8(s, (uint8_t)v);
	put_u8(s, (uint8_t)(v >> 8));
}

static void put_u32(struct seed *s, uint32_t v)
{
	put_u16(s, (uint16_t)v);
	put_u16(s, (uint16_t)(v >> 16));
}

static void put_bytes(struct seed *s, const uint8_t *p, size_t n)
{
	HF_ASSERT(n <= SEED_SIZE_MAX - s->size);
	memcpy(s->bytes + s->size, p, n);
	s->size += n;
}

static void write_seed(const char *sub, const char *name, const uint8_t *bytes, size_t size)
{
	char path[PATH_SIZE_MAX];
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(bytes, 1, size, f) != size) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		write_failed = 1;
	}
	if (f != NULL && fclose(f) != 0)
		write_failed = 1;
	seeds_written++;
}

/* ---- frame ---- */

static void seed_request(const char *name, struct hf_request *req)
{
	static uint8_t buf[HF_FRAME_SIZE_MAX];
	req->request_id = 0x0102030405060708ull;
	size_t n = hf_request_encode(req, buf, sizeof(buf));
	HF_ASSERT(n >= HF_FRAME_HEADER_SIZE);
	write_seed("frame", name, buf, n);
}

static void seed_reply(const char *name, struct hf_reply *rep)
{
	static uint8_t buf[HF_FRAME_SIZE_MAX];
	rep->request_id = 0x0102030405060708ull;
	size_t n = hf_reply_encode(rep, buf, sizeof(buf));
	HF_ASSERT(n == hf_reply_size(rep));
	write_seed("frame", name, buf, n);
}

/* The waiting room's requests, and a HOLD that carries a token. */
static void frame_requests_room(struct hf_request *r)
{
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_JOIN;
	r->join = (struct hf_req_join){42, 7};
	seed_request("req-join", r);
	r->opcode = HF_OP_POSITION;
	seed_request("req-position", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_ROOM_SET;
	r->room_set.event_id = 42;
	r->room_set.params = (struct hf_room_params){.enabled = 1,
						     .policy = HF_ROOM_REQUEUE,
						     .shoppers_pct = 67,
						     .admit_ttl_ms = 300000,
						     .queue_max = 100000};
	seed_request("req-room-set", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_ROOM_INFO;
	r->room_info.event_id = 42;
	seed_request("req-room-info", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_HOLD;
	r->hold = (struct hf_req_hold){.event_id = 42,
				       .hold_id = 99,
				       .user_id = 7,
				       .ttl_ms = 300000,
				       .mode = HF_HOLD_BEST,
				       .flags = HF_HOLD_FLAG_TOKEN,
				       .seats_count = 2};
	r->hold.token.expires_ms = CLOCK_START_MS + 300000;
	memset(r->hold.token.mac, 0x5a, sizeof(r->hold.token.mac));
	seed_request("req-hold-token", r);
}

static void frame_requests(void)
{
	static struct hf_request r;
	memset(&r, 0, sizeof(r));
	r.opcode = HF_OP_PING;
	seed_request("req-ping", &r);
	r.opcode = HF_OP_SLOT_MAP;
	seed_request("req-slot-map", &r);
	r.opcode = HF_OP_STATS;
	seed_request("req-stats", &r);
	r.opcode = HF_OP_CREATE_EVENT;
	r.create_event = (struct hf_req_create_event){.event_id = 42,
						      .seats_count = 50000,
						      .row_width = 50,
						      .user_limit = 6,
						      .hold_lifetime_max_s = 1800};
	seed_request("req-create-event", &r);
	r.opcode = HF_OP_EVENT_INFO;
	r.event_info.event_id = 42;
	seed_request("req-event-info", &r);
	memset(&r, 0, sizeof(r));
	r.opcode = HF_OP_HOLD;
	r.hold =
	    (struct hf_req_hold){.event_id = 42, .hold_id = 99, .user_id = 7, .ttl_ms = 300000};
	r.hold.mode = HF_HOLD_EXPLICIT;
	r.hold.seats_count = 3;
	r.hold.seats[0] = 100;
	r.hold.seats[1] = 101;
	r.hold.seats[2] = 102;
	seed_request("req-hold-explicit", &r);
	r.hold.mode = HF_HOLD_BEST;
	r.hold.seats_count = 4;
	seed_request("req-hold-best", &r);
	r.opcode = HF_OP_EXTEND;
	r.extend = (struct hf_req_extend){42, 99, 600000};
	seed_request("req-extend", &r);
	static const uint8_t refs[3] = {HF_OP_CONFIRM, HF_OP_RELEASE, HF_OP_CANCEL};
	static const char *const ref_names[3] = {"req-confirm", "req-release", "req-cancel"};
	for (uint32_t i = 0; i < 3; i++) {
		r.opcode = refs[i];
		r.confirm = (struct hf_req_hold_ref){42, 99};
		seed_request(ref_names[i], &r);
	}
	r.opcode = HF_OP_AVAIL;
	r.avail = (struct hf_req_avail){42, 0, 110};
	seed_request("req-avail", &r);
	memset(&r, 0, sizeof(r));
	r.opcode = HF_OP_SEAT_STATUS;
	r.seat_status.event_id = 42;
	r.seat_status.seats_count = 3;
	r.seat_status.seats[1] = 100;
	r.seat_status.seats[2] = 200;
	seed_request("req-seat-status", &r);
	r.opcode = HF_OP_BACKUP;
	snprintf(r.backup.path, sizeof(r.backup.path), "/var/backups/holdfast/2026-11-25T1300");
	seed_request("req-backup", &r);
	frame_requests_room(&r);
}

static void frame_replies_small(struct hf_reply *r)
{
	static const uint8_t empty_ops[3] = {HF_OP_CREATE_EVENT, HF_OP_RELEASE, HF_OP_CANCEL};
	static const char *const empty_names[3] = {"rep-create-event", "rep-release", "rep-cancel"};
	for (uint32_t i = 0; i < 3; i++) {
		memset(r, 0, sizeof(*r));
		r->opcode = empty_ops[i];
		seed_reply(empty_names[i], r);
	}
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_PING;
	r->ping.epoch = 3;
	seed_reply("rep-ping", r);
	r->opcode = HF_OP_EVENT_INFO;
	r->event_info = (struct hf_rep_event_info){42, 50000, 50, 6, 1800, 49993, 3, 4, 1, 1};
	seed_reply("rep-event-info", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_HOLD;
	r->hold = (struct hf_rep_hold){.hold_id = 99, .deadline_ms = CLOCK_START_MS + 300000};
	r->hold.seats_count = 3;
	r->hold.seats[0] = 100;
	r->hold.seats[1] = 101;
	r->hold.seats[2] = 102;
	seed_reply("rep-hold", r);
	r->opcode = HF_OP_CONFIRM;
	r->confirm.deadline_ms = 0;
	seed_reply("rep-confirm", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_EXTEND;
	r->extend.deadline_ms = CLOCK_START_MS + 600000;
	seed_reply("rep-extend", r);
	r->opcode = HF_OP_BACKUP;
	r->backup.sequence = 1234;
	seed_reply("rep-backup", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_JOIN;
	r->join = (struct hf_rep_room_position){
	    .state = HF_ROOM_WAITING, .position = 12, .waiting_count = 40, .estimate_ms = 9000};
	seed_reply("rep-join-waiting", r);
	r->opcode = HF_OP_POSITION;
	r->position = (struct hf_rep_room_position){.state = HF_ROOM_ADMITTED,
						    .token.expires_ms = CLOCK_START_MS + 300000};
	memset(r->position.token.mac, 0xa5, sizeof(r->position.token.mac));
	seed_reply("rep-position-admitted", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_ROOM_INFO;
	r->room_info.params = (struct hf_room_params){1, HF_ROOM_REQUEUE, 100, 300000, 100000};
	r->room_info.waiting_count = 40;
	r->room_info.admitted_count = 3;
	r->room_info.rate_per_min = 120;
	r->room_info.estimate_ms = 20000;
	seed_reply("rep-room-info", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_HOLD;
	r->status = HF_SEAT_TAKEN;
	r->detail = 101;
	seed_reply("rep-error-seat-taken", r);
}

static void frame_replies_large(struct hf_reply *r)
{
	static const uint8_t bitmap[14] = {0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0x87, 0x3f};
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_AVAIL;
	r->avail = (struct hf_rep_avail){50000, 49993, 0, 110, bitmap};
	seed_reply("rep-avail", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_SEAT_STATUS;
	r->seat_status.seats_count = 3;
	r->seat_status.seats[0] =
	    (struct hf_seat_info){.seat = 0, .state = HF_SEAT_BOOKED, .owner_id = 99};
	r->seat_status.seats[1] =
	    (struct hf_seat_info){.seat = 100, .state = HF_SEAT_HELD, .owner_id = 5};
	r->seat_status.seats[2] = (struct hf_seat_info){.seat = 200, .state = HF_SEAT_FREE};
	seed_reply("rep-seat-status", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_SLOT_MAP;
	r->slot_map.epoch = 2;
	r->slot_map.owners_count = 2;
	snprintf(r->slot_map.owners[0].host, sizeof(r->slot_map.owners[0].host), "127.0.0.1");
	r->slot_map.owners[0].port = 7070;
	snprintf(r->slot_map.owners[1].host, sizeof(r->slot_map.owners[1].host), "127.0.0.1");
	r->slot_map.owners[1].port = 7071;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		r->slot_map.slot_owner[s] = (uint16_t)(s % 2);
	seed_reply("rep-slot-map", r);
	memset(r, 0, sizeof(*r));
	r->opcode = HF_OP_STATS;
	HF_ASSERT(hf_stats_add(&r->stats, "frames_in", 12) == 0);
	HF_ASSERT(hf_stats_add(&r->stats, "store_events", 1) == 0);
	seed_reply("rep-stats", r);
}

/* ---- store: step programs ---- */

/* A clock byte: k steps of scale index s (fuzz_store.c's pick_clock_step_ms). */
static uint8_t clk(uint8_t k, uint8_t s)
{
	HF_ASSERT(k < 32);
	HF_ASSERT(s < 8);
	return (uint8_t)(k << 3 | s);
}

static void st_create(struct seed *s, uint8_t ev, uint16_t seats, uint8_t row, uint8_t limit)
{
	put_u8(s, K_CREATE);
	put_u8(s, clk(0, 0));
	put_u8(s, ev);
	put_u16(s, seats);
	put_u8(s, row);
	put_u8(s, limit);
	put_u32(s, 0);
}

/* An explicit hold of n seats from first (best-available when best is set). ttl in 50 ms units. */
static void st_hold(struct seed *s, uint8_t ev, uint8_t hold, uint8_t user, uint16_t ttl, int best,
		    uint8_t n, uint16_t first)
{
	put_u8(s, K_HOLD);
	put_u8(s, clk(1, 1));
	put_u8(s, ev);
	put_u8(s, hold);
	put_u8(s, user);
	put_u16(s, ttl);
	put_u8(s, best ? 200 : 0);
	put_u8(s, n);
	for (uint16_t i = 0; !best && i < n; i++)
		put_u16(s, (uint16_t)(first + i));
}

static void st_ref(struct seed *s, uint8_t kind, uint8_t clock, uint8_t ev, uint8_t hold)
{
	put_u8(s, kind);
	put_u8(s, clock);
	put_u8(s, ev);
	put_u8(s, hold);
}

static void st_info(struct seed *s, uint8_t clock, uint8_t ev)
{
	put_u8(s, K_EVENT_INFO);
	put_u8(s, clock);
	put_u8(s, ev);
}

/* Regression: a HOLD replayed after its batch was committed may write another hold's expiry that
 * the first call deferred for want of room (fuzz_store once asserted it wrote nothing). In a batch
 * of HF_OP_CHANGES_MAX + 2 changes, time-driven records find room only while it holds < 2. */
static void store_seed_deferred_expiry(struct seed *s)
{
	memset(s, 0, sizeof(*s));
	put_u8(s, 2);
	st_create(s, 0, 100, 10, 0);
	st_hold(s, 0, 0, 1, 1, 0, 1, 0); /* hold 1: 50 ms */
	st_info(s, clk(1, 3), 0);	 /* 97 ms later: hold 1 is due, its expiry deferred */
	st_hold(s, 0, 1, 1, 6000, 0, 1, 5);
	write_seed("store", "regress-replay-after-deferred-expiry", s->bytes, s->size);
}

/* Every named op on a hold in every state: HELD (1), BOOKED (2), CANCELLED (3), RELEASED (4),
 * EXPIRED (5), on event 1. Hold ids are fuzz_store.c's hot ids 1 .. 5 (input byte = id - 1). */
static void store_seed_matrix(struct seed *s)
{
	memset(s, 0, sizeof(*s));
	put_u8(s, 15);
	st_create(s, 0, 100, 10, 0);
	for (uint8_t h = 0; h < 5; h++)
		st_hold(s, 0, h, 1, h == 4 ? 1 : 6000, 0, 2, (uint16_t)(10 * h));
	st_ref(s, K_CONFIRM, clk(0, 0), 0, 1);
	st_ref(s, K_CONFIRM, clk(0, 0), 0, 2);
	st_ref(s, K_CANCEL, clk(0, 0), 0, 2);
	st_ref(s, K_RELEASE, clk(0, 0), 0, 3);
	put_u8(s, K_TICK);
	put_u8(s, clk(1, 3)); /* 97 ms: hold 5 (50 ms) expires */
	put_u8(s, 7);
	static const uint8_t kinds[4] = {K_CONFIRM, K_RELEASE, K_CANCEL, K_EXTEND};
	for (uint8_t h = 0; h < 5; h++) {
		st_hold(s, 0, h, 1, 6000, 0, 2, (uint16_t)(10 * h));
		for (uint32_t k = 0; k < 4; k++) {
			st_ref(s, kinds[k], clk(0, 0), 0, h);
			if (kinds[k] == K_EXTEND)
				put_u16(s, 100);
		}
	}
	write_seed("store", "seed-state-matrix", s->bytes, s->size);
}

static void store_seeds(void)
{
	static struct seed s;
	memset(&s, 0, sizeof(s));
	put_u8(&s, 12); /* a batch of HF_OP_CHANGES_MAX + 12 changes */
	st_create(&s, 1, 100, 10, 0);
	st_create(&s, 2, 400, 40, 6);
	st_hold(&s, 1, 1, 1, 6000, 0, 3, 10);
	st_hold(&s, 1, 2, 2, 6000, 1, 4, 0);
	st_hold(&s, 2, 3, 3, 20, 0, 2, 300);
	st_ref(&s, K_CONFIRM, clk(1, 2), 1, 1);
	st_ref(&s, K_RELEASE, clk(1, 2), 1, 2);
	put_u8(&s, K_EXTEND);
	put_u8(&s, clk(1, 1));
	put_u8(&s, 2);
	put_u8(&s, 3);
	put_u16(&s, 100);
	st_ref(&s, K_CANCEL, clk(1, 2), 1, 1);
	put_u8(&s, K_AVAIL);
	put_u8(&s, clk(0, 0));
	put_u8(&s, 1);
	put_u16(&s, 0);
	put_u16(&s, 64);
	put_u8(&s, K_SEAT_STATUS);
	put_u8(&s, clk(0, 0));
	put_u8(&s, 2);
	put_u8(&s, 2);
	put_u16(&s, 300);
	put_u16(&s, 301);
	put_u8(&s, K_TICK);
	put_u8(&s, clk(2, 5)); /* 10 s: hold 3 expires, the release's tombstone is forgotten */
	put_u8(&s, 7);
	st_info(&s, clk(0, 0), 2);
	write_seed("store", "seed-lifecycle", s.bytes, s.size);

	/* Fill one event's seats and the records pool with small holds, then let them all expire.
	 */
	memset(&s, 0, sizeof(s));
	put_u8(&s, 0); /* the smallest batch: time-driven records often find no room */
	st_create(&s, 3, 64, 8, 0);
	/* Hold bytes 201 .. 219 are ids 1 .. 19 (past fuzz_store.c's hot ids). */
	for (uint8_t h = 1; h < 20; h++)
		st_hold(&s, 3, (uint8_t)(200 + h), (uint8_t)(h % 4), 100, h % 2, 3,
			(uint16_t)(h * 3));
	put_u8(&s, K_TICK);
	put_u8(&s, clk(31, 6));
	put_u8(&s, 7);
	write_seed("store", "seed-fill-expire", s.bytes, s.size);
	store_seed_matrix(&s);
	store_seed_deferred_expiry(&s);
}

/* ---- load: the records a real store writes ---- */

#define LOAD_RECORDS_MAX 64u

struct kv {
	uint8_t key[HF_RECORD_KEY_SIZE_MAX];
	uint8_t key_size;
	uint16_t value_size;
	uint8_t value[HF_RECORD_VALUE_SIZE_MAX];
};

static struct kv kvs[LOAD_RECORDS_MAX];
static uint32_t kvs_count;

static void kv_apply(const struct hf_changes *changes)
{
	for (uint32_t i = 0; i < changes->count; i++) {
		const struct hf_change *ch = &changes->items[i];
		uint32_t at = 0;
		while (at < kvs_count && (kvs[at].key_size != ch->key_size ||
					  memcmp(kvs[at].key, ch->key, ch->key_size) != 0))
			at++;
		if (ch->kind == HF_CHANGE_DEL) {
			if (at < kvs_count)
				kvs[at] = kvs[--kvs_count];
			continue;
		}
		if (at == kvs_count) {
			HF_ASSERT(kvs_count < LOAD_RECORDS_MAX);
			kvs_count++;
		}
		kvs[at].key_size = ch->key_size;
		memcpy(kvs[at].key, ch->key, ch->key_size);
		kvs[at].value_size = ch->value_size;
		memcpy(kvs[at].value, hf_change_value(changes, ch), ch->value_size);
	}
}

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a;
	const struct kv *y = b;
	int c = memcmp(x->key, y->key, x->key_size < y->key_size ? x->key_size : y->key_size);
	return c != 0 ? c : (x->key_size > y->key_size) - (x->key_size < y->key_size);
}

/* Runs one request on the store at CLOCK_START_MS + at_ms and records its changes; it must
 * succeed. */
static void ld_op(struct hf_store *store, struct hf_changes *changes, struct hf_request *req,
		  uint64_t at_ms)
{
	static struct hf_reply rep;
	hf_changes_reset(changes);
	HF_ASSERT(hf_store_apply(store, req, CLOCK_START_MS + at_ms, &rep, changes) == HF_OK);
	kv_apply(changes);
}

static void ld_hold(struct hf_store *store, struct hf_changes *changes, uint64_t ev, uint64_t hold,
		    uint64_t user, uint32_t ttl_ms, uint32_t n, uint32_t first)
{
	static struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.hold = (struct hf_req_hold){.event_id = ev, .hold_id = hold, .user_id = user};
	req.hold.ttl_ms = ttl_ms;
	req.hold.mode = first == UINT32_MAX ? HF_HOLD_BEST : HF_HOLD_EXPLICIT;
	req.hold.seats_count = n;
	for (uint32_t i = 0; first != UINT32_MAX && i < n; i++)
		req.hold.seats[i] = first + i;
	ld_op(store, changes, &req, 0);
}

static void ld_ref(struct hf_store *store, struct hf_changes *changes, uint8_t opcode, uint64_t ev,
		   uint64_t hold)
{
	static struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.confirm = (struct hf_req_hold_ref){ev, hold};
	ld_op(store, changes, &req, 1000);
}

/* Events 42 and 43 with a live hold, a booking, a released hold's tombstone, a cancelled
 * booking and a long hold. */
static void load_state(struct hf_store *store, struct hf_changes *changes)
{
	static struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CREATE_EVENT;
	req.create_event = (struct hf_req_create_event){
	    .event_id = 42, .seats_count = 200, .row_width = 20, .user_limit = 8};
	ld_op(store, changes, &req, 0);
	req.create_event = (struct hf_req_create_event){
	    .event_id = 43, .seats_count = 50, .hold_lifetime_max_s = 3600};
	ld_op(store, changes, &req, 0);
	ld_hold(store, changes, 42, 1, 1, 60000, 3, 0);
	ld_hold(store, changes, 42, 2, 2, 600000, 4, UINT32_MAX);
	ld_ref(store, changes, HF_OP_CONFIRM, 42, 2);
	ld_hold(store, changes, 42, 3, 3, 600000, 2, 30);
	ld_ref(store, changes, HF_OP_RELEASE, 42, 3);
	ld_hold(store, changes, 43, 4, 1, 600000, 5, 10);
	ld_ref(store, changes, HF_OP_CONFIRM, 43, 4);
	ld_ref(store, changes, HF_OP_CANCEL, 43, 4);
	ld_hold(store, changes, 43, 5, 4, 1200000, 1, 49);
}

static void load_seeds(void)
{
	struct hf_store_config cfg = {8, 4096, LOAD_RECORDS_MAX, 600000}; /* fuzz_load.c's */
	struct hf_store *store;
	struct hf_changes changes;
	HF_ASSERT(hf_store_create(&cfg, &store) == 0);
	HF_ASSERT(hf_changes_init(&changes, 64) == 0);
	load_state(store, &changes);
	qsort(kvs, kvs_count, sizeof(kvs[0]), kv_cmp);

	/* At the start (all live), after hold 1 expired, and after every tombstone aged out. */
	static const uint32_t offsets_ms[3] = {2000, 120000, 3600000};
	static const char *const names[3] = {"seed-records-live", "seed-records-one-expired",
					     "seed-records-old-tombstones"};
	static struct seed s;
	for (uint32_t i = 0; i < 3; i++) {
		memset(&s, 0, sizeof(s));
		put_u32(&s, offsets_ms[i]);
		for (uint32_t k = 0; k < kvs_count; k++) {
			put_u8(&s, kvs[k].key_size);
			put_bytes(&s, kvs[k].key, kvs[k].key_size);
			put_u16(&s, kvs[k].value_size);
			put_bytes(&s, kvs[k].value, kvs[k].value_size);
		}
		write_seed("load", names[i], s.bytes, s.size);
	}
	hf_changes_deinit(&changes);
	hf_store_destroy(store);
}

/* ---- server ---- */

/* fuzz_server.c's node: 2 shards at the default address; it is shard 0. */
#define SERVER_SHARDS 2u

/* The first event id from `from` on that the default map gives to owner. */
static uint64_t server_event(uint16_t owner, uint64_t from)
{
	static struct hf_slot_map map;
	enum hf_status st = hf_slot_map_init_default(&map, "127.0.0.1", 7070, SERVER_SHARDS);
	HF_ASSERT(st == HF_OK);
	for (uint64_t ev = from; ev < from + 100000u; ev++) {
		if (hf_slot_map_owner(&map, hf_slot_of(ev)) == owner)
			return ev;
	}
	HF_PANIC("no event of owner %u", owner);
}

static void server_put(struct seed *s, struct hf_request *r)
{
	static uint8_t buf[HF_FRAME_SIZE_MAX];
	static uint64_t request_id;
	r->request_id = ++request_id;
	HF_ASSERT(hf_request_validate(r) == HF_OK);
	size_t n = hf_request_encode(r, buf, sizeof(buf));
	HF_ASSERT(n >= HF_FRAME_HEADER_SIZE);
	HF_ASSERT(s->size + n <= SEED_SIZE_MAX);
	put_bytes(s, buf, n);
}

/* A well-formed request of opcode on event ev, naming hold 99 of user 7 where it names one. */
static void server_request(struct hf_request *r, uint8_t opcode, uint64_t ev)
{
	memset(r, 0, sizeof(*r));
	r->opcode = opcode;
	switch (opcode) {
	case HF_OP_CREATE_EVENT:
		r->create_event = (struct hf_req_create_event){.event_id = ev,
							       .seats_count = 1000,
							       .row_width = 50,
							       .user_limit = 6,
							       .hold_lifetime_max_s = 1800};
		break;
	case HF_OP_HOLD:
		r->hold = (struct hf_req_hold){.event_id = ev, .hold_id = 99, .user_id = 7};
		r->hold.ttl_ms = 300000;
		r->hold.mode = HF_HOLD_EXPLICIT;
		r->hold.seats_count = 2;
		r->hold.seats[0] = 10;
		r->hold.seats[1] = 11;
		break;
	case HF_OP_EXTEND:
		r->extend = (struct hf_req_extend){ev, 99, 600000};
		break;
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		r->confirm = (struct hf_req_hold_ref){ev, 99};
		break;
	case HF_OP_AVAIL:
		r->avail = (struct hf_req_avail){ev, 0, 100};
		break;
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		r->seat_status.event_id = ev;
		r->seat_status.seats_count = 3;
		r->seat_status.seats[0] = 10;
		r->seat_status.seats[1] = 11;
		r->seat_status.seats[2] = 500;
		break;
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS:
		r->user_holds = (struct hf_req_user_records){.event_id = ev, .user_id = 7};
		r->user_holds.limit = 16;
		break;
	case HF_OP_BACKUP:
		snprintf(r->backup.path, sizeof(r->backup.path), "nightly");
		break;
	case HF_OP_AUTH:
		r->auth.token_size = 6;
		memcpy(r->auth.token, "secret", 6);
		break;
	default:
		/* Every other body starts with its event id when routed (proto.h, struct
		 * hf_op_info); unrouted ones get a zero body. */
		if (hf_op_info(opcode)->routed)
			r->event_info.event_id = ev;
		break;
	}
}

static void server_seeds(void)
{
	static struct seed s;
	static struct hf_request r;
	uint64_t mine = server_event(0, 42);
	uint64_t theirs = server_event(1, 42);
	char name[64];
	for (uint32_t opcode = 0; opcode < 256u; opcode++) {
		const struct hf_op_info *op = hf_op_info((uint8_t)opcode);
		if (op == NULL)
			continue;
		s.size = 0;
		server_request(&r, HF_OP_CREATE_EVENT, mine);
		server_put(&s, &r);
		server_request(&r, HF_OP_HOLD, mine);
		server_put(&s, &r);
		server_request(&r, (uint8_t)opcode, mine);
		if (hf_request_validate(&r) != HF_OK)
			continue;
		server_put(&s, &r);
		snprintf(name, sizeof(name), "seed-%s", op->name);
		for (char *p = name; *p != '\0'; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		write_seed("server", name, s.bytes, s.size);
	}
	/* A lifecycle: hold, extend, confirm, read it back, cancel; then a hold released. */
	static const uint8_t life[] = {HF_OP_CREATE_EVENT, HF_OP_HOLD,	     HF_OP_EXTEND,
				       HF_OP_CONFIRM,	   HF_OP_SEAT_INFO,  HF_OP_USER_BOOKINGS,
				       HF_OP_AVAIL,	   HF_OP_CANCEL,     HF_OP_HOLD,
				       HF_OP_RELEASE,	   HF_OP_EVENT_INFO, HF_OP_STATS};
	for (uint32_t k = 0; k < 2; k++) {
		s.size = 0;
		for (uint32_t i = 0; i < HF_ARRAY_SIZE(life); i++) {
			server_request(&r, life[i], k == 0 ? mine : theirs);
			server_put(&s, &r);
		}
		write_seed("server", k == 0 ? "seed-lifecycle" : "seed-lifecycle-moved", s.bytes,
			   s.size);
	}
}

/* Event 44 with a waiting room: a 'P' record, and 'Q' places (admitted, used, waiting). */
static void load_room_seed(void)
{
	struct hf_store_config cfg = {8, 4096, LOAD_RECORDS_MAX, 600000}; /* fuzz_load.c's */
	struct hf_store *store;
	struct hf_changes changes;
	HF_ASSERT(hf_store_create(&cfg, &store) == 0);
	HF_ASSERT(hf_changes_init(&changes, 64) == 0);
	kvs_count = 0;
	static struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CREATE_EVENT;
	req.create_event = (struct hf_req_create_event){.event_id = 44, .seats_count = 2};
	ld_op(store, &changes, &req, 0);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_ROOM_SET;
	req.room_set.event_id = 44;
	req.room_set.params = (struct hf_room_params){1, HF_ROOM_REQUEUE, 100, 60000, 16};
	memset(req.room_set.key, 0x3c, sizeof(req.room_set.key));
	ld_op(store, &changes, &req, 0);
	for (uint64_t user = 1; user <= 4; user++) {
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_JOIN;
		req.join = (struct hf_req_join){44, user};
		ld_op(store, &changes, &req, 0);
	}
	qsort(kvs, kvs_count, sizeof(kvs[0]), kv_cmp);
	static struct seed s;
	memset(&s, 0, sizeof(s));
	put_u32(&s, 2000);
	for (uint32_t k = 0; k < kvs_count; k++) {
		put_u8(&s, kvs[k].key_size);
		put_bytes(&s, kvs[k].key, kvs[k].key_size);
		put_u16(&s, kvs[k].value_size);
		put_bytes(&s, kvs[k].value, kvs[k].value_size);
	}
	write_seed("load", "seed-records-room", s.bytes, s.size);
	hf_changes_deinit(&changes);
	hf_store_destroy(store);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	static const char *const subs[4] = {"frame", "store", "load", "server"};
	char path[PATH_SIZE_MAX];
	mkdir(out_dir, 0755);
	for (uint32_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", out_dir, subs[i]);
		mkdir(path, 0755);
	}
	static struct hf_reply rep;
	frame_requests();
	frame_replies_small(&rep);
	frame_replies_large(&rep);
	store_seeds();
	load_seeds();
	server_seeds();
	load_room_seed();
	printf("gen_corpus: %u seeds written under %s\n", seeds_written, out_dir);
	return write_failed;
}
