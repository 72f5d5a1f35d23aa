/* Goal: prove that the wire codec (proto/proto.c) is exact and total: every opcode's request and
 * reply survives encode -> header decode -> body decode unchanged, at the edges of every limit; the
 * bytes on the wire are the ones docs/protocol.md describes; every malformed frame gets the status
 * the contract names and never an out-of-bounds read or write; the shard-key hash never changes.
 *
 * Method: table-driven round trips with equality checks field by field and byte-for-byte
 * re-encoding; literal byte arrays for a few frames (the layout tables of docs/protocol.md); every
 * body prefix and every encode capacity tried in buffers that end exactly where an allocation ends,
 * so that AddressSanitizer turns an overrun into a failure; a reference fmix64 written out again
 * here plus pinned literal values; and a seeded random test (HF_SEED to replay,
 * HF_PROTO_FUZZ_ITERATIONS to change its length) that pushes a million random and mutated frames
 * through every decoder and re-encodes whatever decodes. */
#include "proto/proto.h"
#include "proto/watch.h"
#include "base/endian.h"

#include "base/assert.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* ---- Bounds of this test program ---- */
#define FUZZ_ITERATIONS_DEFAULT 1000000u
/* Truncation loops try every prefix of bodies up to this size (every sample but the largest AVAIL
 * reply); past it, every length within LENGTHS_EDGE of either end and a stride in between. Encoding
 * capacities are always tried exhaustively. */
#define EXHAUSTIVE_SIZE_MAX 32768u
#define LENGTHS_EDGE	    2048u
#define LENGTHS_STRIDE	    251u
#define SAMPLES_MAX	    64u /* frames in a sample set, and in the random test's corpus */
#define FUZZ_FRAME_SIZE_MAX (64u * 1024u)

/* ---- Random numbers (splitmix64: tiny, good enough, reproducible) ---- */
struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n >= 1; the modulo bias is irrelevant here). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* Values in [lo, hi], biased to both ends and their neighbours. */
static uint32_t rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	switch (rng_below(r, 6)) {
	case 0:
		return lo;
	case 1:
		return hi;
	case 2:
		return lo < hi ? lo + 1 : lo;
	case 3:
		return lo < hi ? hi - 1 : hi;
	default:
		return lo + (uint32_t)(rng_next(r) % ((uint64_t)hi - lo + 1));
	}
}

static uint64_t rng_u64(struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0:
		return 1;
	case 1:
		return UINT64_MAX;
	case 2:
		return rng_next(r) & 0xffffffffu;
	default:
		return rng_next(r);
	}
}

static uint64_t rng_id(struct rng *r)
{
	uint64_t v = rng_u64(r);
	return v == 0 ? 1 : v;
}

static uint32_t rng_u32(struct rng *r)
{
	return rng_range(r, 0, UINT32_MAX);
}

/* A byte that is never NUL (host and stat names, paths). */
static char rng_text_byte(struct rng *r)
{
	return (char)(1 + rng_below(r, 255));
}

static uint64_t seed_from_env(const char *what)
{
	const char *env = getenv("HF_SEED");
	uint64_t seed;
	if (env != NULL && env[0] != '\0')
		seed = strtoull(env, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	printf("%s: seed %" PRIu64 " (replay with HF_SEED=%" PRIu64 ")\n", what, seed, seed);
	return seed;
}

/* ---- Buffers ---- */

/* A copy in an allocation of exactly n bytes (n may be 0): any read past it is an ASan report. */
static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	if (n > 0)
		memcpy(p, src, n);
	return p;
}

/* Two allocations of the largest frame (and a little more, for trailing-byte tests). Bytes handed
 * to a decoder are copied to the very end of the first, and an encoder's buffer of capacity cap is
 * the last cap bytes of the second: any access past them leaves the allocation and AddressSanitizer
 * reports it, as with one exact malloc per length, without the cost of one. */
#define PLACE_SIZE_MAX (HF_FRAME_SIZE_MAX + 256u)
static uint8_t *g_in;
static uint8_t *g_out;

static const uint8_t *place_input(const uint8_t *src, size_t n)
{
	assert_true(n <= PLACE_SIZE_MAX);
	uint8_t *p = g_in + PLACE_SIZE_MAX - n;
	if (n > 0)
		memmove(p, src, n);
	return p;
}

static uint8_t *place_output(size_t cap)
{
	assert_true(cap <= PLACE_SIZE_MAX);
	return g_out + PLACE_SIZE_MAX - cap;
}

/* Lengths 0, 1, ... up to `end` (exclusive): every one while small, else every one near both ends
 * and a stride in between, so that huge bodies stay cheap. Returns end when done. */
static size_t lengths_next(size_t len, size_t end)
{
	if (end <= EXHAUSTIVE_SIZE_MAX || len < LENGTHS_EDGE || len + LENGTHS_EDGE >= end)
		return len + 1;
	size_t next = len + LENGTHS_STRIDE;
	return next + LENGTHS_EDGE >= end ? end - LENGTHS_EDGE : next;
}

static uint8_t g_frame[HF_FRAME_SIZE_MAX];
static uint8_t g_frame2[HF_FRAME_SIZE_MAX];
static uint8_t g_bitmap[HF_AVAIL_RANGE_MAX / 8];
static struct hf_request g_req_a;
static struct hf_request g_req_b;
static struct hf_reply g_rep_a;
static struct hf_reply g_rep_b;

static const uint8_t request_opcodes[] = {
    HF_OP_PING,
    HF_OP_CREATE_EVENT,
    HF_OP_EVENT_INFO,
    HF_OP_HOLD,
    HF_OP_EXTEND,
    HF_OP_CONFIRM,
    HF_OP_RELEASE,
    HF_OP_CANCEL,
    HF_OP_AVAIL,
    HF_OP_SEAT_STATUS,
    HF_OP_SLOT_MAP,
    HF_OP_STATS,
    HF_OP_BACKUP,
    HF_OP_SEAT_INFO,
    HF_OP_USER_HOLDS,
    HF_OP_USER_BOOKINGS,
    HF_OP_EVENT_SECTIONS,
    HF_OP_AUTH,
    HF_OP_WATCH,
    HF_OP_UNWATCH,
    /* Waiting room. */
    HF_OP_JOIN,
    HF_OP_POSITION,
    HF_OP_ROOM_SET,
    HF_OP_ROOM_INFO,
    /* Slot moves and event delete. */
    HF_OP_EVENT_DELETE,
    HF_OP_MOVE_COPY,
    HF_OP_MOVE_EXPORT,
    HF_OP_MOVE_FREEZE,
    HF_OP_MOVE_PERSISTED,
    HF_OP_MOVE_DROP,
    HF_OP_MOVE_UNFREEZE,
};

static int opcode_is_known(uint8_t op)
{
	if (op == HF_OP_BATCH)
		return 1; /* its own tests below: its body is other frames' bodies */
	for (size_t i = 0; i < HF_ARRAY_SIZE(request_opcodes); i++) {
		if (request_opcodes[i] == op)
			return 1;
	}
	return 0;
}

/* ---- Valid random requests and replies ---- */

/* The largest count the random builders use; the fuzz corpus keeps frames small. */
struct scale {
	uint32_t seats_max;	   /* HOLD / CONFIRM seats */
	uint32_t status_seats_max; /* SEAT_STATUS seats */
	uint32_t avail_max;	   /* AVAIL range */
	uint32_t owners_max;	   /* SLOT_MAP owners */
	uint32_t stats_max;	   /* STATS entries */
	uint32_t path_max;	   /* BACKUP path bytes */
};

static const struct scale scale_full = {HF_HOLD_SEATS_MAX,  HF_SEAT_STATUS_SEATS_MAX,
					HF_AVAIL_RANGE_MAX, HF_SLOT_OWNERS_MAX,
					HF_STATS_MAX,	    HF_PATH_SIZE_MAX};
static const struct scale scale_small = {HF_HOLD_SEATS_MAX, 24, 200, 4, 8, 40};

static void fill_section(struct rng *r, struct hf_section *sec)
{
	uint32_t len = rng_range(r, 1, HF_SECTION_NAME_SIZE_MAX);
	for (uint32_t i = 0; i < len; i++)
		sec->name[i] = rng_text_byte(r);
	sec->name[len] = '\0';
	sec->first = rng_u32(r);
	sec->count = rng_u32(r);
	sec->row_width = rng_u32(r);
	sec->tier = (uint8_t)rng_next(r);
	sec->kind = (uint8_t)rng_below(r, 2);
}

static void fill_text(struct rng *r, char *dst, uint32_t len);

static void fill_request(struct rng *r, const struct scale *sc, uint8_t op, struct hf_request *req)
{
	memset(req, 0, sizeof(*req));
	req->opcode = op;
	req->request_id = rng_u64(r);
	switch (op) {
	case HF_OP_PING:
	case HF_OP_SLOT_MAP:
	case HF_OP_STATS:
		break;
	case HF_OP_CREATE_EVENT:
		req->create_event.event_id = rng_id(r);
		req->create_event.seats_count = rng_range(r, 1, HF_EVENT_SEATS_MAX);
		req->create_event.row_width = rng_u32(r);
		req->create_event.user_limit = rng_u32(r);
		req->create_event.hold_lifetime_max_s = rng_range(r, 0, HF_HOLD_LIFETIME_MAX_S);
		req->create_event.sections_count =
		    rng_below(r, 2) ? 0 : rng_range(r, 1, HF_EVENT_SECTIONS_MAX);
		for (uint32_t i = 0; i < req->create_event.sections_count; i++)
			fill_section(r, &req->create_event.sections[i]);
		if (rng_below(r, 3) == 0) {
			req->create_event.user_rate = rng_range(r, 1, HF_USER_RATE_MAX);
			req->create_event.user_burst = rng_range(r, 0, HF_USER_RATE_MAX);
		}
		break;
	case HF_OP_EVENT_INFO:
	case HF_OP_EVENT_SECTIONS:
	case HF_OP_ROOM_INFO:
	case HF_OP_WATCH:
	case HF_OP_UNWATCH:
		req->event_info.event_id = rng_id(r);
		break;
	case HF_OP_JOIN:
	case HF_OP_POSITION:
		req->join.event_id = rng_id(r);
		req->join.user_id = rng_u64(r);
		break;
	case HF_OP_ROOM_SET:
		req->room_set.event_id = rng_id(r);
		req->room_set.params.enabled = (uint8_t)rng_below(r, 2);
		req->room_set.params.policy = (uint8_t)rng_below(r, 2);
		req->room_set.params.shoppers_pct =
		    (uint16_t)rng_range(r, 1, HF_ROOM_SHOPPERS_PCT_MAX);
		req->room_set.params.admit_ttl_ms =
		    rng_range(r, HF_ROOM_ADMIT_TTL_MS_MIN, HF_ROOM_ADMIT_TTL_MS_MAX);
		req->room_set.params.queue_max = rng_range(r, 1, HF_ROOM_QUEUE_SIZE_MAX);
		break;
	case HF_OP_HOLD:
		req->hold.event_id = rng_id(r);
		req->hold.hold_id = rng_id(r);
		req->hold.user_id = rng_u64(r);
		req->hold.ttl_ms = rng_range(r, 1, UINT32_MAX);
		req->hold.mode = (uint8_t)rng_below(r, 3);
		req->hold.flags = (uint8_t)rng_below(r, HF_HOLD_FLAGS_KNOWN + 1);
		req->hold.scope = (uint16_t)rng_next(r);
		if (req->hold.mode == HF_HOLD_EXPLICIT) {
			req->hold.flags &= HF_HOLD_FLAG_NO_ORPHAN;
			req->hold.scope = 0;
		}
		if (rng_below(r, 2))
			req->hold.flags |= HF_HOLD_FLAG_TOKEN;
		req->hold.seats_count = rng_range(r, 1, sc->seats_max);
		if (req->hold.mode == HF_HOLD_EXPLICIT) {
			for (uint32_t i = 0; i < req->hold.seats_count; i++)
				req->hold.seats[i] = rng_u32(r);
		}
		if (req->hold.flags & HF_HOLD_FLAG_TOKEN) {
			req->hold.token.expires_ms = rng_u64(r);
			for (uint32_t i = 0; i < HF_ROOM_MAC_SIZE; i++)
				req->hold.token.mac[i] = (uint8_t)rng_u32(r);
		}
		break;
	case HF_OP_EXTEND:
		req->extend.event_id = rng_id(r);
		req->extend.hold_id = rng_id(r);
		req->extend.ttl_ms = rng_range(r, 1, UINT32_MAX);
		break;
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		req->confirm.event_id = rng_id(r);
		req->confirm.hold_id = rng_id(r);
		break;
	case HF_OP_AVAIL:
		req->avail.event_id = rng_id(r);
		req->avail.first = rng_u32(r);
		req->avail.count = rng_range(r, 0, sc->avail_max);
		break;
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		req->seat_status.event_id = rng_id(r);
		req->seat_status.seats_count = rng_range(r, 1, sc->status_seats_max);
		for (uint32_t i = 0; i < req->seat_status.seats_count; i++)
			req->seat_status.seats[i] = rng_u32(r);
		break;
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS:
		req->user_holds.event_id = rng_id(r);
		req->user_holds.user_id = rng_u64(r);
		req->user_holds.cursor_seq = rng_u64(r);
		req->user_holds.cursor_id = rng_u64(r);
		req->user_holds.limit = rng_range(r, 1, HF_USER_RECORDS_PAGE_MAX);
		break;
	case HF_OP_BACKUP: {
		uint32_t len = rng_range(r, 1, sc->path_max);
		req->backup.path[0] = '/';
		for (uint32_t i = 1; i < len; i++)
			req->backup.path[i] = rng_text_byte(r);
		req->backup.path[len] = '\0';
		break;
	}
	case HF_OP_AUTH: {
		req->auth.token_size = (uint16_t)rng_range(r, 1, HF_AUTH_TOKEN_SIZE_MAX);
		for (uint32_t i = 0; i < req->auth.token_size; i++)
			req->auth.token[i] = (uint8_t)rng_u32(r);
		break;
	}
	case HF_OP_EVENT_DELETE:
		req->event_delete.event_id = rng_id(r);
		req->event_delete.flags = rng_below(r, 2) ? HF_EVENT_DELETE_FORCE : 0;
		break;
	case HF_OP_MOVE_COPY:
		req->move.port = (uint16_t)rng_range(r, 1, UINT16_MAX);
		fill_text(r, req->move.host, rng_range(r, 1, HF_HOST_SIZE_MAX));
		req->move.slot = (uint16_t)rng_below(r, HF_SLOTS_COUNT);
		break;
	case HF_OP_MOVE_EXPORT:
		req->move.cursor = rng_u64(r);
		req->move.log_offset = rng_u64(r);
		req->move.slot = (uint16_t)rng_below(r, HF_SLOTS_COUNT);
		break;
	case HF_OP_MOVE_FREEZE:
	case HF_OP_MOVE_PERSISTED:
	case HF_OP_MOVE_DROP:
	case HF_OP_MOVE_UNFREEZE:
		req->move.slot = (uint16_t)rng_below(r, HF_SLOTS_COUNT);
		break;
	default:
		fail_msg("no builder for opcode 0x%02x", op);
	}
}

static void fill_text(struct rng *r, char *dst, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		dst[i] = rng_text_byte(r);
	dst[len] = '\0';
}

/* A valid HF_OK reply; avail.bitmap points into g_bitmap (random bits, trailing ones included). */
static void fill_reply(struct rng *r, const struct scale *sc, uint8_t op, struct hf_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->opcode = op;
	rep->status = HF_OK;
	rep->request_id = rng_u64(r);
	switch (op) {
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
	case HF_OP_UNWATCH:
	case HF_OP_EVENT_DELETE:
		break;
	case HF_OP_PING:
		rep->ping.epoch = rng_u64(r);
		break;
	case HF_OP_WATCH:
		rep->watch.seq = rng_u64(r);
		break;
	case HF_OP_MOVE_COPY:
	case HF_OP_MOVE_FREEZE:
	case HF_OP_MOVE_PERSISTED:
	case HF_OP_MOVE_DROP:
	case HF_OP_MOVE_UNFREEZE:
		rep->move.state = (uint8_t)rng_range(r, 0, HF_MOVE_STATE_FROZEN);
		rep->move.records = rng_u64(r);
		rep->move.bytes = rng_u64(r);
		rep->move.seats = rng_u64(r);
		break;
	case HF_OP_MOVE_EXPORT: {
		struct hf_rep_move_export *e = &rep->move_export;
		e->cursor = rng_u64(r);
		e->log_offset = rng_u64(r);
		e->flags = rng_range(r, 0, HF_MOVE_EXPORT_FLAGS_KNOWN);
		e->records_count = rng_u32(r);
		/* avail_max bounds the bytes too (and g_bitmap holds HF_AVAIL_RANGE_MAX / 8). */
		e->data_size = rng_range(r, 0, sc->avail_max / 8u);
		for (uint32_t i = 0; i < e->data_size; i++)
			g_bitmap[i] = (uint8_t)rng_next(r);
		e->data = g_bitmap;
		break;
	}
	case HF_OP_EVENT_INFO: {
		struct hf_rep_event_info *e = &rep->event_info;
		e->event_id = rng_id(r);
		e->seats_count = rng_u32(r);
		e->row_width = rng_u32(r);
		e->user_limit = rng_u32(r);
		e->hold_lifetime_max_s = rng_u32(r);
		e->free_count = rng_u32(r);
		e->held_count = rng_u32(r);
		e->booked_count = rng_u32(r);
		e->holds_count = rng_u32(r);
		e->bookings_count = rng_u32(r);
		break;
	}
	case HF_OP_HOLD:
	case HF_OP_CONFIRM: {
		struct hf_rep_hold *h = op == HF_OP_HOLD ? &rep->hold : &rep->confirm;
		h->hold_id = rng_id(r);
		h->deadline_ms = op == HF_OP_HOLD ? rng_u64(r) : 0;
		h->seats_count = rng_range(r, 1, sc->seats_max);
		for (uint32_t i = 0; i < h->seats_count; i++)
			h->seats[i] = rng_u32(r);
		break;
	}
	case HF_OP_EXTEND:
		rep->extend.deadline_ms = rng_u64(r);
		break;
	case HF_OP_BACKUP:
		rep->backup.sequence = rng_u64(r);
		break;
	case HF_OP_AUTH:
		rep->auth.role = rng_range(r, 0, 1) ? HF_ROLE_ADMIN : HF_ROLE_CLIENT;
		break;
	case HF_OP_AVAIL: {
		struct hf_rep_avail *a = &rep->avail;
		a->seats_count = rng_u32(r);
		a->free_count = rng_u32(r);
		a->first = rng_u32(r);
		a->count = rng_range(r, 0, sc->avail_max);
		for (uint32_t i = 0; i < (a->count + 7) / 8; i++)
			g_bitmap[i] = (uint8_t)rng_next(r);
		a->bitmap = g_bitmap;
		break;
	}
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO: {
		struct hf_rep_seat_status *s = &rep->seat_status;
		s->seats_count = rng_range(r, 0, sc->status_seats_max);
		for (uint32_t i = 0; i < s->seats_count; i++) {
			s->seats[i].seat = rng_u32(r);
			s->seats[i].state = (uint8_t)rng_below(r, 3);
			s->seats[i].owner_id = s->seats[i].state == HF_SEAT_FREE ? 0 : rng_id(r);
			if (op == HF_OP_SEAT_INFO && s->seats[i].state != HF_SEAT_FREE)
				s->seats[i].user_id = rng_u64(r);
		}
		break;
	}
	case HF_OP_EVENT_SECTIONS: {
		struct hf_rep_event_sections *e = &rep->event_sections;
		e->sections_count = (uint16_t)rng_range(r, 0, HF_EVENT_SECTIONS_MAX);
		e->tiers_count = (uint16_t)rng_range(r, 0, e->sections_count);
		for (uint32_t i = 0; i < e->sections_count; i++) {
			fill_section(r, &e->sections[i].section);
			e->sections[i].free_count = rng_u32(r);
		}
		for (uint32_t i = 0; i < e->tiers_count; i++) {
			e->tiers[i].tier = (uint16_t)rng_next(r);
			e->tiers[i].seats_count = rng_u32(r);
			e->tiers[i].free_count = rng_u32(r);
		}
		break;
	}
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS: {
		struct hf_rep_user_records *u = &rep->user_holds;
		u->next_seq = rng_u64(r);
		u->next_id = rng_u64(r);
		u->records_count = rng_range(r, 0, HF_USER_RECORDS_PAGE_MAX);
		for (uint32_t i = 0; i < u->records_count; i++) {
			struct hf_user_record *rec = &u->records[i];
			rec->id = rng_id(r);
			rec->created_ms = rng_u64(r);
			rec->deadline_ms = op == HF_OP_USER_HOLDS ? rng_u64(r) : 0;
			rec->seats_count = rng_range(r, 1, sc->seats_max);
			for (uint32_t k = 0; k < rec->seats_count; k++)
				rec->seats[k] = rng_u32(r);
		}
		break;
	}
	case HF_OP_SLOT_MAP: {
		struct hf_slot_map *m = &rep->slot_map;
		m->epoch = rng_u64(r);
		m->owners_count = (uint16_t)rng_range(r, 1, sc->owners_max);
		for (uint32_t i = 0; i < m->owners_count; i++) {
			fill_text(r, m->owners[i].host, rng_range(r, 1, HF_HOST_SIZE_MAX));
			m->owners[i].port = (uint16_t)rng_next(r);
		}
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
			m->slot_owner[s] = (uint16_t)rng_below(r, m->owners_count);
		break;
	}
	case HF_OP_ROOM_SET:
		break;
	case HF_OP_JOIN:
	case HF_OP_POSITION: {
		struct hf_rep_room_position *p = &rep->join;
		p->state = (uint8_t)rng_range(r, HF_ROOM_WAITING, HF_ROOM_ADMITTED);
		p->position = rng_u32(r);
		p->waiting_count = rng_u32(r);
		p->estimate_ms = rng_u32(r);
		p->token.expires_ms = rng_u64(r);
		for (uint32_t i = 0; i < HF_ROOM_MAC_SIZE; i++)
			p->token.mac[i] = (uint8_t)rng_u32(r);
		break;
	}
	case HF_OP_ROOM_INFO: {
		struct hf_rep_room_info *i = &rep->room_info;
		i->params.enabled = (uint8_t)rng_below(r, 2);
		i->params.policy = (uint8_t)rng_below(r, 2);
		i->params.shoppers_pct = (uint16_t)rng_u32(r);
		i->params.admit_ttl_ms = rng_u32(r);
		i->params.queue_max = rng_u32(r);
		i->waiting_count = rng_u32(r);
		i->admitted_count = rng_u32(r);
		i->holding_count = rng_u32(r);
		i->free_count = rng_u32(r);
		i->sold_out = (uint8_t)rng_below(r, 2);
		i->rate_per_min = rng_u32(r);
		i->estimate_ms = rng_u32(r);
		i->joins = rng_u64(r);
		i->admits = rng_u64(r);
		i->expired = rng_u64(r);
		i->refused = rng_u64(r);
		break;
	}
	case HF_OP_STATS: {
		struct hf_rep_stats *st = &rep->stats;
		st->stats_count = (uint16_t)rng_range(r, 0, sc->stats_max);
		for (uint32_t i = 0; i < st->stats_count; i++) {
			fill_text(r, st->stats[i].name, rng_range(r, 1, HF_STAT_NAME_SIZE_MAX));
			st->stats[i].value = rng_u64(r);
		}
		break;
	}
	default:
		fail_msg("no builder for opcode 0x%02x", op);
	}
}

/* A non-OK reply: any status but 0 (unknown values too), any opcode byte, any detail. */
static void fill_error_reply(struct rng *r, struct hf_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->opcode = (uint8_t)rng_next(r);
	do {
		rep->status = rng_below(r, 2) ? (uint16_t)rng_below(r, 32) : (uint16_t)rng_next(r);
	} while (rep->status == HF_OK);
	rep->request_id = rng_u64(r);
	rep->detail = rng_u64(r);
}

/* ---- Equality ---- */

static void assert_section_equal(const struct hf_section *a, const struct hf_section *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->first, b->first);
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->row_width, b->row_width);
	assert_int_equal(a->tier, b->tier);
	assert_int_equal(a->kind, b->kind);
}

static void assert_request_equal(const struct hf_request *a, const struct hf_request *b)
{
	assert_int_equal(a->opcode, b->opcode);
	assert_int_equal(a->request_id, b->request_id);
	switch (a->opcode) {
	case HF_OP_PING:
	case HF_OP_SLOT_MAP:
	case HF_OP_STATS:
		break;
	case HF_OP_CREATE_EVENT:
		assert_int_equal(a->create_event.event_id, b->create_event.event_id);
		assert_int_equal(a->create_event.seats_count, b->create_event.seats_count);
		assert_int_equal(a->create_event.row_width, b->create_event.row_width);
		assert_int_equal(a->create_event.user_limit, b->create_event.user_limit);
		assert_int_equal(a->create_event.hold_lifetime_max_s,
				 b->create_event.hold_lifetime_max_s);
		assert_int_equal(a->create_event.sections_count, b->create_event.sections_count);
		for (uint32_t i = 0; i < a->create_event.sections_count; i++)
			assert_section_equal(&a->create_event.sections[i],
					     &b->create_event.sections[i]);
		break;
	case HF_OP_EVENT_INFO:
	case HF_OP_EVENT_SECTIONS:
	case HF_OP_WATCH:
	case HF_OP_UNWATCH:
		assert_int_equal(a->event_info.event_id, b->event_info.event_id);
		break;
	case HF_OP_HOLD:
		assert_int_equal(a->hold.event_id, b->hold.event_id);
		assert_int_equal(a->hold.hold_id, b->hold.hold_id);
		assert_int_equal(a->hold.user_id, b->hold.user_id);
		assert_int_equal(a->hold.ttl_ms, b->hold.ttl_ms);
		assert_int_equal(a->hold.mode, b->hold.mode);
		assert_int_equal(a->hold.flags, b->hold.flags);
		assert_int_equal(a->hold.scope, b->hold.scope);
		if (a->hold.flags & HF_HOLD_FLAG_TOKEN) {
			assert_int_equal(a->hold.token.expires_ms, b->hold.token.expires_ms);
			assert_memory_equal(a->hold.token.mac, b->hold.token.mac, HF_ROOM_MAC_SIZE);
		}
		assert_int_equal(a->hold.seats_count, b->hold.seats_count);
		if (a->hold.mode == HF_HOLD_EXPLICIT) {
			for (uint32_t i = 0; i < a->hold.seats_count; i++)
				assert_int_equal(a->hold.seats[i], b->hold.seats[i]);
		}
		break;
	case HF_OP_EXTEND:
		assert_int_equal(a->extend.event_id, b->extend.event_id);
		assert_int_equal(a->extend.hold_id, b->extend.hold_id);
		assert_int_equal(a->extend.ttl_ms, b->extend.ttl_ms);
		break;
	case HF_OP_CONFIRM:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
		assert_int_equal(a->confirm.event_id, b->confirm.event_id);
		assert_int_equal(a->confirm.hold_id, b->confirm.hold_id);
		break;
	case HF_OP_AVAIL:
		assert_int_equal(a->avail.event_id, b->avail.event_id);
		assert_int_equal(a->avail.first, b->avail.first);
		assert_int_equal(a->avail.count, b->avail.count);
		break;
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS:
		assert_int_equal(a->user_holds.event_id, b->user_holds.event_id);
		assert_int_equal(a->user_holds.user_id, b->user_holds.user_id);
		assert_int_equal(a->user_holds.cursor_seq, b->user_holds.cursor_seq);
		assert_int_equal(a->user_holds.cursor_id, b->user_holds.cursor_id);
		assert_int_equal(a->user_holds.limit, b->user_holds.limit);
		break;
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		assert_int_equal(a->seat_status.event_id, b->seat_status.event_id);
		assert_int_equal(a->seat_status.seats_count, b->seat_status.seats_count);
		for (uint32_t i = 0; i < a->seat_status.seats_count; i++)
			assert_int_equal(a->seat_status.seats[i], b->seat_status.seats[i]);
		break;
	case HF_OP_BACKUP:
		assert_string_equal(a->backup.path, b->backup.path);
		break;
	case HF_OP_AUTH:
		assert_int_equal(a->auth.token_size, b->auth.token_size);
		assert_memory_equal(a->auth.token, b->auth.token, a->auth.token_size);
		break;
	case HF_OP_JOIN:
	case HF_OP_POSITION:
		assert_int_equal(a->join.event_id, b->join.event_id);
		assert_int_equal(a->join.user_id, b->join.user_id);
		break;
	case HF_OP_ROOM_INFO:
		assert_int_equal(a->room_info.event_id, b->room_info.event_id);
		break;
	case HF_OP_ROOM_SET:
		assert_int_equal(a->room_set.event_id, b->room_set.event_id);
		assert_int_equal(a->room_set.params.enabled, b->room_set.params.enabled);
		assert_int_equal(a->room_set.params.policy, b->room_set.params.policy);
		assert_int_equal(a->room_set.params.shoppers_pct, b->room_set.params.shoppers_pct);
		assert_int_equal(a->room_set.params.admit_ttl_ms, b->room_set.params.admit_ttl_ms);
		assert_int_equal(a->room_set.params.queue_max, b->room_set.params.queue_max);
	case HF_OP_EVENT_DELETE:
		assert_int_equal(a->event_delete.event_id, b->event_delete.event_id);
		assert_int_equal(a->event_delete.flags, b->event_delete.flags);
		break;
	case HF_OP_MOVE_COPY:
		assert_string_equal(a->move.host, b->move.host);
		assert_int_equal(a->move.port, b->move.port);
		assert_int_equal(a->move.slot, b->move.slot);
		break;
	case HF_OP_MOVE_EXPORT:
		assert_int_equal(a->move.cursor, b->move.cursor);
		assert_int_equal(a->move.log_offset, b->move.log_offset);
		assert_int_equal(a->move.slot, b->move.slot);
		break;
	case HF_OP_MOVE_FREEZE:
	case HF_OP_MOVE_PERSISTED:
	case HF_OP_MOVE_DROP:
	case HF_OP_MOVE_UNFREEZE:
		assert_int_equal(a->move.slot, b->move.slot);
		break;
	default:
		fail_msg("no comparison for opcode 0x%02x", a->opcode);
	}
}

static void assert_reply_equal(const struct hf_reply *a, const struct hf_reply *b)
{
	assert_int_equal(a->opcode, b->opcode);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->request_id, b->request_id);
	if (a->status != HF_OK) {
		assert_int_equal(a->detail, b->detail);
		return;
	}
	switch (a->opcode) {
	case HF_OP_CREATE_EVENT:
	case HF_OP_RELEASE:
	case HF_OP_CANCEL:
	case HF_OP_UNWATCH:
		break;
	case HF_OP_PING:
		assert_int_equal(a->ping.epoch, b->ping.epoch);
		break;
	case HF_OP_EVENT_INFO: {
		const struct hf_rep_event_info *x = &a->event_info, *y = &b->event_info;
		assert_int_equal(x->event_id, y->event_id);
		assert_int_equal(x->seats_count, y->seats_count);
		assert_int_equal(x->row_width, y->row_width);
		assert_int_equal(x->user_limit, y->user_limit);
		assert_int_equal(x->hold_lifetime_max_s, y->hold_lifetime_max_s);
		assert_int_equal(x->free_count, y->free_count);
		assert_int_equal(x->held_count, y->held_count);
		assert_int_equal(x->booked_count, y->booked_count);
		assert_int_equal(x->holds_count, y->holds_count);
		assert_int_equal(x->bookings_count, y->bookings_count);
		break;
	}
	case HF_OP_HOLD:
	case HF_OP_CONFIRM: {
		const struct hf_rep_hold *x = a->opcode == HF_OP_HOLD ? &a->hold : &a->confirm;
		const struct hf_rep_hold *y = a->opcode == HF_OP_HOLD ? &b->hold : &b->confirm;
		assert_int_equal(x->hold_id, y->hold_id);
		assert_int_equal(x->deadline_ms, y->deadline_ms);
		assert_int_equal(x->seats_count, y->seats_count);
		for (uint32_t i = 0; i < x->seats_count; i++)
			assert_int_equal(x->seats[i], y->seats[i]);
		break;
	}
	case HF_OP_EXTEND:
		assert_int_equal(a->extend.deadline_ms, b->extend.deadline_ms);
		break;
	case HF_OP_WATCH:
		assert_int_equal(a->watch.seq, b->watch.seq);
		break;
	case HF_OP_BACKUP:
		assert_int_equal(a->backup.sequence, b->backup.sequence);
		break;
	case HF_OP_AUTH:
		assert_int_equal(a->auth.role, b->auth.role);
		break;
	case HF_OP_EVENT_DELETE:
		break;
	case HF_OP_MOVE_COPY:
	case HF_OP_MOVE_FREEZE:
	case HF_OP_MOVE_PERSISTED:
	case HF_OP_MOVE_DROP:
	case HF_OP_MOVE_UNFREEZE:
		assert_int_equal(a->move.state, b->move.state);
		assert_int_equal(a->move.records, b->move.records);
		assert_int_equal(a->move.bytes, b->move.bytes);
		assert_int_equal(a->move.seats, b->move.seats);
		break;
	case HF_OP_MOVE_EXPORT:
		assert_int_equal(a->move_export.cursor, b->move_export.cursor);
		assert_int_equal(a->move_export.log_offset, b->move_export.log_offset);
		assert_int_equal(a->move_export.flags, b->move_export.flags);
		assert_int_equal(a->move_export.records_count, b->move_export.records_count);
		assert_int_equal(a->move_export.data_size, b->move_export.data_size);
		if (a->move_export.data_size > 0)
			assert_memory_equal(a->move_export.data, b->move_export.data,
					    a->move_export.data_size);
		break;
	case HF_OP_AVAIL:
		assert_int_equal(a->avail.seats_count, b->avail.seats_count);
		assert_int_equal(a->avail.free_count, b->avail.free_count);
		assert_int_equal(a->avail.first, b->avail.first);
		assert_int_equal(a->avail.count, b->avail.count);
		if (a->avail.count == 0)
			break;
		assert_non_null(b->avail.bitmap);
		for (uint32_t i = 0; i < a->avail.count; i++)
			assert_int_equal(hf_avail_bit(a->avail.bitmap, i),
					 hf_avail_bit(b->avail.bitmap, i));
		break;
	case HF_OP_EVENT_SECTIONS: {
		const struct hf_rep_event_sections *x = &a->event_sections, *y = &b->event_sections;
		assert_int_equal(x->sections_count, y->sections_count);
		assert_int_equal(x->tiers_count, y->tiers_count);
		for (uint32_t i = 0; i < x->sections_count; i++) {
			assert_section_equal(&x->sections[i].section, &y->sections[i].section);
			assert_int_equal(x->sections[i].free_count, y->sections[i].free_count);
		}
		for (uint32_t i = 0; i < x->tiers_count; i++) {
			assert_int_equal(x->tiers[i].tier, y->tiers[i].tier);
			assert_int_equal(x->tiers[i].seats_count, y->tiers[i].seats_count);
			assert_int_equal(x->tiers[i].free_count, y->tiers[i].free_count);
		}
		break;
	}
	case HF_OP_USER_HOLDS:
	case HF_OP_USER_BOOKINGS: {
		const struct hf_rep_user_records *x = &a->user_holds, *y = &b->user_holds;
		assert_int_equal(x->next_seq, y->next_seq);
		assert_int_equal(x->next_id, y->next_id);
		assert_int_equal(x->records_count, y->records_count);
		for (uint32_t i = 0; i < x->records_count; i++) {
			assert_int_equal(x->records[i].id, y->records[i].id);
			assert_int_equal(x->records[i].created_ms, y->records[i].created_ms);
			assert_int_equal(x->records[i].deadline_ms, y->records[i].deadline_ms);
			assert_int_equal(x->records[i].seats_count, y->records[i].seats_count);
			assert_memory_equal(x->records[i].seats, y->records[i].seats,
					    4u * x->records[i].seats_count);
		}
		break;
	}
	case HF_OP_SEAT_STATUS:
	case HF_OP_SEAT_INFO:
		assert_int_equal(a->seat_status.seats_count, b->seat_status.seats_count);
		for (uint32_t i = 0; i < a->seat_status.seats_count; i++) {
			assert_int_equal(a->seat_status.seats[i].user_id,
					 b->seat_status.seats[i].user_id);
			assert_int_equal(a->seat_status.seats[i].seat,
					 b->seat_status.seats[i].seat);
			assert_int_equal(a->seat_status.seats[i].state,
					 b->seat_status.seats[i].state);
			assert_int_equal(a->seat_status.seats[i].owner_id,
					 b->seat_status.seats[i].owner_id);
		}
		break;
	case HF_OP_SLOT_MAP:
		assert_int_equal(a->slot_map.epoch, b->slot_map.epoch);
		assert_int_equal(a->slot_map.owners_count, b->slot_map.owners_count);
		for (uint32_t i = 0; i < a->slot_map.owners_count; i++) {
			assert_string_equal(a->slot_map.owners[i].host, b->slot_map.owners[i].host);
			assert_int_equal(a->slot_map.owners[i].port, b->slot_map.owners[i].port);
		}
		assert_memory_equal(a->slot_map.slot_owner, b->slot_map.slot_owner,
				    sizeof(a->slot_map.slot_owner));
		break;
	case HF_OP_STATS:
		assert_int_equal(a->stats.stats_count, b->stats.stats_count);
		for (uint32_t i = 0; i < a->stats.stats_count; i++) {
			assert_string_equal(a->stats.stats[i].name, b->stats.stats[i].name);
			assert_int_equal(a->stats.stats[i].value, b->stats.stats[i].value);
		}
		break;
	case HF_OP_ROOM_SET:
		break;
	case HF_OP_JOIN:
	case HF_OP_POSITION:
		assert_int_equal(a->join.state, b->join.state);
		assert_int_equal(a->join.position, b->join.position);
		assert_int_equal(a->join.waiting_count, b->join.waiting_count);
		assert_int_equal(a->join.estimate_ms, b->join.estimate_ms);
		assert_int_equal(a->join.token.expires_ms, b->join.token.expires_ms);
		assert_memory_equal(a->join.token.mac, b->join.token.mac, HF_ROOM_MAC_SIZE);
		break;
	case HF_OP_ROOM_INFO: {
		const struct hf_rep_room_info *x = &a->room_info, *y = &b->room_info;
		assert_int_equal(x->params.enabled, y->params.enabled);
		assert_int_equal(x->params.policy, y->params.policy);
		assert_int_equal(x->params.shoppers_pct, y->params.shoppers_pct);
		assert_int_equal(x->params.admit_ttl_ms, y->params.admit_ttl_ms);
		assert_int_equal(x->params.queue_max, y->params.queue_max);
		assert_int_equal(x->waiting_count, y->waiting_count);
		assert_int_equal(x->admitted_count, y->admitted_count);
		assert_int_equal(x->holding_count, y->holding_count);
		assert_int_equal(x->free_count, y->free_count);
		assert_int_equal(x->sold_out, y->sold_out);
		assert_int_equal(x->rate_per_min, y->rate_per_min);
		assert_int_equal(x->estimate_ms, y->estimate_ms);
		assert_int_equal(x->joins, y->joins);
		assert_int_equal(x->admits, y->admits);
		assert_int_equal(x->expired, y->expired);
		assert_int_equal(x->refused, y->refused);
		break;
	}
	default:
		fail_msg("no comparison for opcode 0x%02x", a->opcode);
	}
}

/* ---- Round trips ---- */

static void assert_header(const uint8_t *frame, uint8_t opcode, uint16_t flags, uint16_t status,
			  uint64_t request_id, uint32_t body_size)
{
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(frame, &h), HF_OK);
	assert_int_equal(h.magic, HF_FRAME_MAGIC);
	assert_int_equal(h.version, HF_PROTO_VERSION);
	assert_int_equal(h.opcode, opcode);
	assert_int_equal(h.flags, flags);
	assert_int_equal(h.status, status);
	assert_int_equal(h.request_id, request_id);
	assert_int_equal(h.body_size, body_size);
	assert_int_equal(h.reserved, 0);
}

/* Encodes req into g_frame, checks the header and the body size, decodes it again from an exact
 * copy, compares, and checks that re-encoding the decoded request gives the same bytes. Returns the
 * frame size. */
static size_t request_roundtrip(const struct hf_request *req, size_t body_size)
{
	size_t n = hf_request_encode(req, g_frame, sizeof(g_frame));
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + body_size);
	assert_header(g_frame, req->opcode, 0, 0, req->request_id, (uint32_t)body_size);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	const uint8_t *body = place_input(g_frame + HF_FRAME_HEADER_SIZE, body_size);
	memset(&g_req_b, 0xa5, sizeof(g_req_b));
	assert_int_equal(hf_request_decode(&h, body, &g_req_b), HF_OK);
	assert_request_equal(req, &g_req_b);
	assert_int_equal(hf_request_event_id(&g_req_b), hf_request_event_id(req));
	assert_int_equal(hf_request_encode(&g_req_b, g_frame2, sizeof(g_frame2)), n);
	assert_memory_equal(g_frame, g_frame2, n);
	/* A request is never a reply. */
	assert_int_equal(hf_reply_decode(&h, body, &g_rep_b), HF_ERR_MALFORMED);
	return n;
}

/* Same for replies; also checks hf_reply_size. */
static size_t reply_roundtrip(const struct hf_reply *rep, size_t body_size)
{
	size_t n = hf_reply_encode(rep, g_frame, sizeof(g_frame));
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + body_size);
	assert_int_equal(hf_reply_size(rep), n);
	assert_header(g_frame, rep->opcode, HF_FLAG_REPLY, rep->status, rep->request_id,
		      (uint32_t)body_size);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	const uint8_t *body = place_input(g_frame + HF_FRAME_HEADER_SIZE, body_size);
	memset(&g_rep_b, 0xa5, sizeof(g_rep_b));
	assert_int_equal(hf_reply_decode(&h, body, &g_rep_b), HF_OK);
	assert_reply_equal(rep, &g_rep_b);
	assert_int_equal(hf_reply_size(&g_rep_b), n);
	assert_int_equal(hf_reply_encode(&g_rep_b, g_frame2, sizeof(g_frame2)), n);
	assert_memory_equal(g_frame, g_frame2, n);
	/* A reply is never a request. */
	assert_int_equal(hf_request_decode(&h, body, &g_req_b), HF_ERR_MALFORMED);
	return n;
}

/* Decodes body[0, body_size) as the body of the request or reply framed in `frame` (header
 * body_size replaced), from an exact-size copy. */
static enum hf_status decode_request_body(const uint8_t *frame, const uint8_t *body,
					  uint32_t body_size)
{
	struct hf_frame_header h;
	enum hf_status st = hf_frame_header_decode(frame, &h);
	assert_int_equal(st, HF_OK);
	h.body_size = body_size;
	const uint8_t *copy = place_input(body, body_size);
	g_req_b.opcode = (uint8_t)~h.opcode;
	g_req_b.request_id = ~h.request_id;
	st = hf_request_decode(&h, copy, &g_req_b);
	/* Whatever the answer, the caller can still reply. */
	assert_int_equal(g_req_b.opcode, h.opcode);
	assert_int_equal(g_req_b.request_id, h.request_id);
	return st;
}

static enum hf_status decode_reply_body(const uint8_t *frame, const uint8_t *body,
					uint32_t body_size)
{
	struct hf_frame_header h;
	enum hf_status st = hf_frame_header_decode(frame, &h);
	assert_int_equal(st, HF_OK);
	h.body_size = body_size;
	const uint8_t *copy = place_input(body, body_size);
	g_rep_b.opcode = (uint8_t)~h.opcode;
	g_rep_b.status = (uint16_t)~h.status;
	g_rep_b.request_id = ~h.request_id;
	st = hf_reply_decode(&h, copy, &g_rep_b);
	assert_int_equal(g_rep_b.opcode, h.opcode);
	assert_int_equal(g_rep_b.status, h.status);
	assert_int_equal(g_rep_b.request_id, h.request_id);
	return st;
}

/* Decodes a whole frame (header included) held in g_frame after a test patched its bytes. */
static enum hf_status decode_request_frame(size_t size)
{
	return decode_request_body(g_frame, g_frame + HF_FRAME_HEADER_SIZE,
				   (uint32_t)(size - HF_FRAME_HEADER_SIZE));
}

static enum hf_status decode_reply_frame(size_t size)
{
	return decode_reply_body(g_frame, g_frame + HF_FRAME_HEADER_SIZE,
				 (uint32_t)(size - HF_FRAME_HEADER_SIZE));
}

static void set_body_size(uint8_t *frame, uint32_t body_size)
{
	frame[16] = (uint8_t)body_size;
	frame[17] = (uint8_t)(body_size >> 8);
	frame[18] = (uint8_t)(body_size >> 16);
	frame[19] = (uint8_t)(body_size >> 24);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_bytes(const uint8_t *got, size_t got_size, const uint8_t *want, size_t want_size)
{
	assert_int_equal(got_size, want_size);
	for (size_t i = 0; i < want_size; i++) {
		if (got[i] != want[i])
			fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i], want[i]);
	}
}

/* ---- Frame header ---- */

static void test_header_layout(void **state)
{
	(void)state;
	struct hf_frame_header h = {
	    .magic = HF_FRAME_MAGIC,
	    .version = HF_PROTO_VERSION,
	    .opcode = HF_OP_HOLD,
	    .flags = HF_FLAG_REPLY,
	    .status = HF_SEAT_TAKEN,
	    .request_id = 0x0807060504030201ull,
	    .body_size = 0x00030201u,
	    .reserved = 0,
	};
	static const uint8_t want[24] = {
	    'H',  'F',	0x01, 0x04, 0x01, 0x00, 0x13, 0x00, /* magic version opcode flags status */
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* request_id */
	    0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, /* body_size reserved */
	};
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	hf_frame_header_encode(buf, &h);
	expect_bytes(buf, sizeof(buf), want, sizeof(want));
	struct hf_frame_header out;
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_OK);
	assert_memory_equal(&out, &h, sizeof(h));
	assert_int_equal(HF_FRAME_SIZE_MAX, 24u + 262144u);
}

static void make_header(uint8_t *buf, uint16_t flags, uint32_t body_size)
{
	struct hf_frame_header h = {
	    .magic = HF_FRAME_MAGIC,
	    .version = HF_PROTO_VERSION,
	    .opcode = HF_OP_PING,
	    .flags = flags,
	    .status = 0,
	    .request_id = 0x1122334455667788ull,
	    .body_size = body_size,
	    .reserved = 0,
	};
	hf_frame_header_encode(buf, &h);
}

static void test_header_bad_magic(void **state)
{
	(void)state;
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	struct hf_frame_header out;
	for (int at = 0; at < 2; at++) {
		for (int v = 0; v < 256; v++) {
			make_header(buf, 0, 0);
			if (buf[at] == v)
				continue;
			buf[at] = (uint8_t)v;
			assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
		}
	}
	/* A big-endian writer's magic ("FH") is not accepted. */
	make_header(buf, 0, 0);
	buf[0] = 'F';
	buf[1] = 'H';
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
	/* Bad magic wins over every other fault. */
	make_header(buf, 0, 0);
	buf[0] = 0;
	buf[2] = 9;
	buf[4] = 0x80;
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
}

static void test_header_bad_version(void **state)
{
	(void)state;
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	struct hf_frame_header out;
	for (int v = 0; v < 256; v++) {
		make_header(buf, 0, 12);
		buf[2] = (uint8_t)v;
		memset(&out, 0, sizeof(out));
		enum hf_status st = hf_frame_header_decode(buf, &out);
		if (v == HF_PROTO_VERSION) {
			assert_int_equal(st, HF_OK);
			continue;
		}
		assert_int_equal(st, HF_ERR_VERSION);
		/* Answerable: the request id and opcode were read. */
		assert_int_equal(out.version, v);
		assert_int_equal(out.request_id, 0x1122334455667788ull);
		assert_int_equal(out.opcode, HF_OP_PING);
		assert_int_equal(out.body_size, 12);
	}
	/* The version is checked before flags, reserved and body size: another version may lay them
	 * out differently. */
	make_header(buf, 0x8000, HF_FRAME_BODY_SIZE_MAX + 1);
	buf[2] = 2;
	buf[20] = 1;
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_VERSION);
}

static void test_header_unknown_flags(void **state)
{
	(void)state;
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	struct hf_frame_header out;
	make_header(buf, 0, 0);
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_OK);
	make_header(buf, HF_FLAG_REPLY, 0);
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_OK);
	assert_int_equal(out.flags, HF_FLAG_REPLY);
	for (int bit = 1; bit < 16; bit++) {
		make_header(buf, (uint16_t)(1u << bit), 0);
		assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
		make_header(buf, (uint16_t)(1u << bit | HF_FLAG_REPLY), 0);
		assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
	}
	make_header(buf, 0xffff, 0);
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
}

static void test_header_reserved(void **state)
{
	(void)state;
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	struct hf_frame_header out;
	for (int at = 20; at < 24; at++) {
		for (int v = 1; v < 256; v++) {
			make_header(buf, 0, 0);
			buf[at] = (uint8_t)v;
			assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
		}
	}
}

static void test_header_body_size(void **state)
{
	(void)state;
	uint8_t buf[HF_FRAME_HEADER_SIZE];
	struct hf_frame_header out;
	static const uint32_t ok[] = {
	    0, 1, 24, 65535, HF_FRAME_BODY_SIZE_MAX - 1, HF_FRAME_BODY_SIZE_MAX};
	static const uint32_t big[] = {HF_FRAME_BODY_SIZE_MAX + 1, HF_FRAME_BODY_SIZE_MAX * 2,
				       0x80000000u, UINT32_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(ok); i++) {
		make_header(buf, 0, ok[i]);
		assert_int_equal(hf_frame_header_decode(buf, &out), HF_OK);
		assert_int_equal(out.body_size, ok[i]);
	}
	for (size_t i = 0; i < HF_ARRAY_SIZE(big); i++) {
		make_header(buf, 0, big[i]);
		memset(&out, 0, sizeof(out));
		assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_TOO_LARGE);
		assert_int_equal(out.request_id, 0x1122334455667788ull);
		assert_int_equal(out.body_size, big[i]);
	}
	/* Flags and reserved are checked before the size: a garbled stream is closed, not answered.
	 */
	make_header(buf, 0x0100, UINT32_MAX);
	assert_int_equal(hf_frame_header_decode(buf, &out), HF_ERR_MALFORMED);
}

/* ---- Requests: round trips ---- */

static void new_request(struct hf_request *req, uint8_t op, uint64_t request_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = op;
	req->request_id = request_id;
}

static void test_request_empty_bodies(void **state)
{
	(void)state;
	static const uint8_t ops[] = {HF_OP_PING, HF_OP_SLOT_MAP, HF_OP_STATS};
	static const uint64_t ids[] = {0, 1, 0x8000000000000000ull, UINT64_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(ops); i++) {
		for (size_t j = 0; j < HF_ARRAY_SIZE(ids); j++) {
			new_request(&g_req_a, ops[i], ids[j]);
			request_roundtrip(&g_req_a, 0);
			assert_int_equal(hf_request_event_id(&g_req_a), 0);
		}
	}
}

static void test_request_create_event(void **state)
{
	(void)state;
	static const uint32_t seats[] = {1, 2, 1000000, HF_EVENT_SEATS_MAX - 1, HF_EVENT_SEATS_MAX};
	static const uint32_t lifetimes[] = {0, 1, HF_HOLD_LIFETIME_DEFAULT_S,
					     HF_HOLD_LIFETIME_MAX_S};
	for (size_t i = 0; i < HF_ARRAY_SIZE(seats); i++) {
		for (size_t j = 0; j < HF_ARRAY_SIZE(lifetimes); j++) {
			new_request(&g_req_a, HF_OP_CREATE_EVENT, 77);
			g_req_a.create_event.event_id = i == 0 ? 1 : UINT64_MAX - i;
			g_req_a.create_event.seats_count = seats[i];
			g_req_a.create_event.row_width = (uint32_t)(i * 37);
			g_req_a.create_event.user_limit = j == 0 ? 0 : UINT32_MAX;
			g_req_a.create_event.hold_lifetime_max_s = lifetimes[j];
			request_roundtrip(&g_req_a, 24);
			assert_int_equal(hf_request_event_id(&g_req_a),
					 g_req_a.create_event.event_id);
		}
	}
	/* Byte layout: event_id, seats_count, row_width, user_limit, hold_lifetime_max_s. */
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 5);
	g_req_a.create_event.event_id = 0x0102030405060708ull;
	g_req_a.create_event.seats_count = 0x00121314u;
	g_req_a.create_event.row_width = 0x21222324u;
	g_req_a.create_event.user_limit = 0x31323334u;
	g_req_a.create_event.hold_lifetime_max_s = 3600;
	static const uint8_t want[24] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
					 0x14, 0x13, 0x12, 0x00, 0x24, 0x23, 0x22, 0x21,
					 0x34, 0x33, 0x32, 0x31, 0x10, 0x0e, 0x00, 0x00};
	size_t n = request_roundtrip(&g_req_a, 24);
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
}

/* The waiting room's bodies, byte for byte as docs/protocol.md 6.13 lays them out, and the
 * decoder's refusals of values out of their domains. */
static void test_room_bodies(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_ROOM_SET, 9);
	g_req_a.room_set.event_id = 0x2a;
	g_req_a.room_set.params = (struct hf_room_params){1, HF_ROOM_DROP, 67, 300000, 100000};
	static const uint8_t want_set[20] = {0x2a, 0, 0,    0,	  0,	0, 0,	 0,    0x01, 0x01,
					     0x43, 0, 0xe0, 0x93, 0x04, 0, 0xa0, 0x86, 0x01, 0};
	size_t n = request_roundtrip(&g_req_a, 20);
	expect_bytes(g_frame + 24, n - 24, want_set, sizeof(want_set));
	g_frame[24 + 8] = 2; /* enabled */
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 8] = 1;
	g_frame[24 + 10] = 0; /* shoppers_pct 0 */
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	g_frame[24 + 10] = 0x43;
	put32(g_frame + 24 + 16, HF_ROOM_QUEUE_SIZE_MAX + 1u);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 16, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	put32(g_frame + 24 + 16, 100000);
	put32(g_frame + 24 + 12, HF_ROOM_ADMIT_TTL_MS_MIN - 1u);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	/* JOIN: event, user; its reply: state, reserved, position, length, estimate, token. */
	new_request(&g_req_a, HF_OP_JOIN, 3);
	g_req_a.join = (struct hf_req_join){0x2a, 7};
	static const uint8_t want_join[16] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
	n = request_roundtrip(&g_req_a, 16);
	expect_bytes(g_frame + 24, n - 24, want_join, sizeof(want_join));
	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_POSITION;
	g_rep_a.position = (struct hf_rep_room_position){
	    .state = HF_ROOM_WAITING, .position = 12, .waiting_count = 40, .estimate_ms = 9000};
	n = reply_roundtrip(&g_rep_a, HF_REP_ROOM_POSITION_BODY_SIZE);
	static const uint8_t want_pos[16] = {1,	 0, 0, 0, 12,	0,    0, 0,
					     40, 0, 0, 0, 0x28, 0x23, 0, 0};
	expect_bytes(g_frame + 24, 16, want_pos, sizeof(want_pos));
	g_frame[24] = 3; /* an unknown state */
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[24] = 1;
	g_frame[24 + 1] = 1; /* reserved */
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_ROOM_INFO;
	g_rep_a.room_info.sold_out = 1;
	n = reply_roundtrip(&g_rep_a, HF_REP_ROOM_INFO_BODY_SIZE);
	assert_int_equal(g_frame[24 + 28], 1);
	g_frame[24 + 28] = 2;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
}

static void test_request_event_info(void **state)
{
	(void)state;
	static const uint64_t ids[] = {1, 42, UINT64_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(ids); i++) {
		new_request(&g_req_a, HF_OP_EVENT_INFO, i);
		g_req_a.event_info.event_id = ids[i];
		request_roundtrip(&g_req_a, 8);
		assert_int_equal(hf_request_event_id(&g_req_a), ids[i]);
	}
}

/* The HOLD frame of docs/protocol.md's annotated example, byte for byte. */
static const uint8_t doc_hold_request[] = {
    0x48, 0x46, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
    0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,			    /* event_id 42 */
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,			    /* hold_id */
    0xe9, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,			    /* user_id 1001 */
    0xc0, 0xd4, 0x01, 0x00,						    /* ttl_ms 120000 */
    0x00, 0x00, 0x00, 0x00,						    /* mode, reserved */
    0x03, 0x00, 0x00, 0x00,						    /* seats_count */
    0x0a, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
};

static const uint8_t doc_hold_reply[] = {
    0x48, 0x46, 0x01, 0x04, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,			    /* hold_id */
    0xc0, 0x7c, 0xdc, 0x76, 0x9b, 0x01, 0x00, 0x00,			    /* deadline_ms */
    0x03, 0x00, 0x00, 0x00,						    /* seats_count */
    0x0a, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00,
};

static const uint8_t doc_taken_reply[] = {
    0x48, 0x46, 0x01, 0x04, 0x01, 0x00, 0x13, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
    0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,			    /* detail: seat 11 */
};

#define DOC_DEADLINE_MS 1767225720000ull /* 2026-01-01T00:02:00Z */

static void test_wire_hold_example(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_HOLD, 7);
	g_req_a.hold.event_id = 42;
	g_req_a.hold.hold_id = 0x1122334455667788ull;
	g_req_a.hold.user_id = 1001;
	g_req_a.hold.ttl_ms = 120000;
	g_req_a.hold.mode = HF_HOLD_EXPLICIT;
	g_req_a.hold.seats_count = 3;
	g_req_a.hold.seats[0] = 10;
	g_req_a.hold.seats[1] = 11;
	g_req_a.hold.seats[2] = 12;
	size_t n = request_roundtrip(&g_req_a, 48);
	expect_bytes(g_frame, n, doc_hold_request, sizeof(doc_hold_request));

	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_HOLD;
	g_rep_a.request_id = 7;
	g_rep_a.hold.hold_id = 0x1122334455667788ull;
	g_rep_a.hold.deadline_ms = DOC_DEADLINE_MS;
	g_rep_a.hold.seats_count = 3;
	g_rep_a.hold.seats[0] = 10;
	g_rep_a.hold.seats[1] = 11;
	g_rep_a.hold.seats[2] = 12;
	n = reply_roundtrip(&g_rep_a, 32);
	expect_bytes(g_frame, n, doc_hold_reply, sizeof(doc_hold_reply));

	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_HOLD;
	g_rep_a.status = HF_SEAT_TAKEN;
	g_rep_a.request_id = 7;
	g_rep_a.detail = 11;
	n = reply_roundtrip(&g_rep_a, HF_ERROR_BODY_SIZE);
	expect_bytes(g_frame, n, doc_taken_reply, sizeof(doc_taken_reply));
}

static void test_request_hold_explicit(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 2, 3, 63, HF_HOLD_SEATS_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		new_request(&g_req_a, HF_OP_HOLD, 1000 + c);
		g_req_a.hold.event_id = UINT64_MAX;
		g_req_a.hold.hold_id = 1;
		g_req_a.hold.user_id = c == 0 ? 0 : UINT64_MAX;
		g_req_a.hold.ttl_ms = c % 2 ? 1 : UINT32_MAX;
		g_req_a.hold.mode = HF_HOLD_EXPLICIT;
		g_req_a.hold.seats_count = counts[c];
		for (uint32_t i = 0; i < counts[c]; i++)
			g_req_a.hold.seats[i] = i % 2 ? UINT32_MAX - i : i;
		size_t n = request_roundtrip(&g_req_a, 36 + 4u * counts[c]);
		/* Seats follow the fixed part in request order. */
		for (uint32_t i = 0; i < counts[c]; i++) {
			const uint8_t *p = g_frame + 24 + 36 + 4 * i;
			uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24;
			assert_int_equal(v, g_req_a.hold.seats[i]);
		}
		assert_int_equal(n, 24 + 36 + 4u * counts[c]);
		assert_int_equal(hf_request_event_id(&g_req_a), UINT64_MAX);
	}
}

static void test_request_hold_best(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 2, 8, HF_HOLD_SEATS_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		new_request(&g_req_a, HF_OP_HOLD, c);
		g_req_a.hold.event_id = 9;
		g_req_a.hold.hold_id = UINT64_MAX;
		g_req_a.hold.user_id = 3;
		g_req_a.hold.ttl_ms = 60000;
		g_req_a.hold.mode = HF_HOLD_BEST;
		g_req_a.hold.seats_count = counts[c];
		/* Seats of a best-available hold are not sent, whatever the array holds. */
		g_req_a.hold.seats[0] = 12345;
		request_roundtrip(&g_req_a, 36);
		assert_int_equal(g_frame[24 + 28], HF_HOLD_BEST);
	}
}

static void test_request_extend_and_refs(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_EXTEND, 3);
	g_req_a.extend.event_id = 1;
	g_req_a.extend.hold_id = UINT64_MAX;
	g_req_a.extend.ttl_ms = 1;
	request_roundtrip(&g_req_a, 20);
	g_req_a.extend.ttl_ms = UINT32_MAX;
	request_roundtrip(&g_req_a, 20);
	assert_int_equal(hf_request_event_id(&g_req_a), 1);
	static const uint8_t ops[] = {HF_OP_CONFIRM, HF_OP_RELEASE, HF_OP_CANCEL};
	for (size_t i = 0; i < HF_ARRAY_SIZE(ops); i++) {
		new_request(&g_req_a, ops[i], 100 + i);
		g_req_a.confirm.event_id = 0x0102030405060708ull;
		g_req_a.confirm.hold_id = 0x1112131415161718ull;
		size_t n = request_roundtrip(&g_req_a, 16);
		assert_int_equal(g_frame[24], 0x08);
		assert_int_equal(g_frame[24 + 8], 0x18);
		assert_int_equal(n, 40);
		assert_int_equal(hf_request_event_id(&g_req_a), 0x0102030405060708ull);
	}
}

static void test_request_avail(void **state)
{
	(void)state;
	static const uint32_t counts[] = {
	    0, 1, 7, 8, 9, 4096, HF_AVAIL_RANGE_MAX - 1, HF_AVAIL_RANGE_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(counts); i++) {
		new_request(&g_req_a, HF_OP_AVAIL, i);
		g_req_a.avail.event_id = 5;
		g_req_a.avail.first = i % 2 ? UINT32_MAX : 0;
		g_req_a.avail.count = counts[i];
		request_roundtrip(&g_req_a, 16);
	}
}

static void test_request_seat_status(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 2, 100, HF_SEAT_STATUS_SEATS_MAX - 1,
					  HF_SEAT_STATUS_SEATS_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		new_request(&g_req_a, HF_OP_SEAT_STATUS, c);
		g_req_a.seat_status.event_id = 6;
		g_req_a.seat_status.seats_count = counts[c];
		for (uint32_t i = 0; i < counts[c]; i++)
			g_req_a.seat_status.seats[i] = i * 2654435761u;
		request_roundtrip(&g_req_a, 12 + 4u * counts[c]);
	}
}

static void test_request_backup(void **state)
{
	(void)state;
	static const uint32_t lens[] = {1, 2, 255, 256, HF_PATH_SIZE_MAX - 1, HF_PATH_SIZE_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(lens); i++) {
		new_request(&g_req_a, HF_OP_BACKUP, i);
		g_req_a.backup.path[0] = '/';
		for (uint32_t j = 1; j < lens[i]; j++)
			g_req_a.backup.path[j] = (char)('a' + j % 26);
		g_req_a.backup.path[lens[i]] = '\0';
		size_t n = request_roundtrip(&g_req_a, 2 + lens[i]);
		assert_int_equal(g_frame[24] | g_frame[25] << 8, lens[i]);
		assert_int_equal(g_frame[26], '/');
		assert_int_equal(n, 24 + 2 + lens[i]);
		assert_int_equal(hf_request_event_id(&g_req_a), 0);
	}
	/* Bytes are bytes: UTF-8 and any non-NUL byte round-trip. */
	new_request(&g_req_a, HF_OP_BACKUP, 9);
	strcpy(g_req_a.backup.path, "/var/backups/h\xc3\xa9\x01\xff");
	request_roundtrip(&g_req_a, 2 + strlen(g_req_a.backup.path));
}

static void test_request_random_roundtrip(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("request_random_roundtrip")};
	for (uint32_t iter = 0; iter < 3000; iter++) {
		uint8_t op = request_opcodes[rng_below(&r, HF_ARRAY_SIZE(request_opcodes))];
		fill_request(&r, &scale_full, op, &g_req_a);
		size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
		assert_true(n >= HF_FRAME_HEADER_SIZE);
		request_roundtrip(&g_req_a, n - HF_FRAME_HEADER_SIZE);
	}
}

/* ---- Replies: round trips ---- */

static void new_reply(struct hf_reply *rep, uint8_t op, uint64_t request_id)
{
	memset(rep, 0, sizeof(*rep));
	rep->opcode = op;
	rep->status = HF_OK;
	rep->request_id = request_id;
}

static void test_reply_small_bodies(void **state)
{
	(void)state;
	static const uint8_t empty[] = {HF_OP_CREATE_EVENT, HF_OP_RELEASE, HF_OP_CANCEL};
	for (size_t i = 0; i < HF_ARRAY_SIZE(empty); i++) {
		new_reply(&g_rep_a, empty[i], UINT64_MAX - i);
		reply_roundtrip(&g_rep_a, 0);
	}
	new_reply(&g_rep_a, HF_OP_PING, 1);
	g_rep_a.ping.epoch = 0;
	reply_roundtrip(&g_rep_a, 8);
	g_rep_a.ping.epoch = UINT64_MAX;
	reply_roundtrip(&g_rep_a, 8);
	new_reply(&g_rep_a, HF_OP_EXTEND, 2);
	g_rep_a.extend.deadline_ms = DOC_DEADLINE_MS;
	reply_roundtrip(&g_rep_a, 8);
	assert_int_equal(g_frame[24], 0xc0);
	new_reply(&g_rep_a, HF_OP_BACKUP, 3);
	g_rep_a.backup.sequence = 0x0102030405060708ull;
	reply_roundtrip(&g_rep_a, 8);
	assert_int_equal(g_frame[24], 0x08);
	assert_int_equal(g_frame[31], 0x01);
}

static void test_reply_event_info(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_EVENT_INFO, 4);
	struct hf_rep_event_info *e = &g_rep_a.event_info;
	e->event_id = 0x0102030405060708ull;
	e->seats_count = 0x11;
	e->row_width = 0x12;
	e->user_limit = 0x13;
	e->hold_lifetime_max_s = 0x14;
	e->free_count = 0x15;
	e->held_count = 0x16;
	e->booked_count = 0x17;
	e->holds_count = 0x18;
	e->bookings_count = 0x19;
	size_t n = reply_roundtrip(&g_rep_a, 48);
	/* u64 event_id, nine u32 fields in declaration order, u32 reserved zero. */
	assert_int_equal(g_frame[24], 0x08);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(g_frame[24 + 8 + 4 * i], 0x11 + i);
		assert_int_equal(g_frame[24 + 8 + 4 * i + 1], 0);
	}
	for (size_t i = 24 + 44; i < n; i++)
		assert_int_equal(g_frame[i], 0);
	memset(e, 0xff, sizeof(*e));
	reply_roundtrip(&g_rep_a, 48);
}

static void test_reply_hold_and_confirm(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 2, 63, HF_HOLD_SEATS_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		new_reply(&g_rep_a, HF_OP_HOLD, c);
		g_rep_a.hold.hold_id = UINT64_MAX;
		g_rep_a.hold.deadline_ms = c == 0 ? 0 : UINT64_MAX;
		g_rep_a.hold.seats_count = counts[c];
		for (uint32_t i = 0; i < counts[c]; i++)
			g_rep_a.hold.seats[i] = UINT32_MAX - i;
		reply_roundtrip(&g_rep_a, 20 + 4u * counts[c]);

		/* CONFIRM has the same shape without the deadline. */
		new_reply(&g_rep_a, HF_OP_CONFIRM, c);
		g_rep_a.confirm.hold_id = 1;
		g_rep_a.confirm.seats_count = counts[c];
		for (uint32_t i = 0; i < counts[c]; i++)
			g_rep_a.confirm.seats[i] = i;
		size_t n = reply_roundtrip(&g_rep_a, 12 + 4u * counts[c]);
		assert_int_equal(g_frame[24], 1);
		assert_int_equal(g_frame[24 + 8], counts[c]);
		assert_int_equal(n, 24 + 12 + 4u * counts[c]);
		assert_int_equal(g_rep_b.confirm.deadline_ms, 0);
	}
}

/* AVAIL: counts around byte edges, the LSB-first bit order, and trailing bits forced to zero. */
static void test_reply_avail(void **state)
{
	(void)state;
	static const uint32_t counts[] = {
	    0, 1, 2, 7, 8, 9, 15, 16, 17, 1000, HF_AVAIL_RANGE_MAX - 1, HF_AVAIL_RANGE_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		uint32_t count = counts[c];
		uint32_t bytes = (count + 7) / 8;
		for (int pattern = 0; pattern < 3; pattern++) {
			new_reply(&g_rep_a, HF_OP_AVAIL, c);
			g_rep_a.avail.seats_count = HF_EVENT_SEATS_MAX;
			g_rep_a.avail.free_count = count / 2;
			g_rep_a.avail.first = pattern == 2 ? UINT32_MAX - count : 0;
			g_rep_a.avail.count = count;
			for (uint32_t i = 0; i < bytes; i++)
				g_bitmap[i] = pattern == 0   ? 0xff
					      : pattern == 1 ? 0x5a
							     : (uint8_t)(i * 29u);
			g_rep_a.avail.bitmap = count == 0 ? NULL : g_bitmap;
			size_t n = reply_roundtrip(&g_rep_a, 16 + bytes);
			assert_int_equal(n, 24 + 16 + bytes);
			if (count % 8 != 0) {
				/* Bits past count in the last byte are zero on the wire. */
				uint8_t last = g_frame[n - 1];
				assert_int_equal(last >> (count % 8), 0);
				assert_int_equal(last,
						 g_bitmap[bytes - 1] & ((1u << (count % 8)) - 1u));
			} else if (count > 0) {
				assert_int_equal(g_frame[n - 1], g_bitmap[bytes - 1]);
			}
			/* Encoding did not touch the caller's bitmap. */
			if (pattern == 0 && bytes > 0)
				assert_int_equal(g_bitmap[bytes - 1], 0xff);
		}
	}
	/* Bit i is byte i / 8, bit i % 8: seats 0, 9 and 10 free of 12. */
	new_reply(&g_rep_a, HF_OP_AVAIL, 1);
	static const uint8_t bits[2] = {0x01, 0x06};
	g_rep_a.avail.seats_count = 12;
	g_rep_a.avail.free_count = 3;
	g_rep_a.avail.first = 0;
	g_rep_a.avail.count = 12;
	g_rep_a.avail.bitmap = bits;
	size_t n = reply_roundtrip(&g_rep_a, 18);
	static const uint8_t want[18] = {12, 0, 0, 0,  3, 0, 0, 0,    0,
					 0,  0, 0, 12, 0, 0, 0, 0x01, 0x06};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
	for (uint32_t i = 0; i < 12; i++)
		assert_int_equal(hf_avail_bit(bits, i), i == 0 || i == 9 || i == 10);
}

static void test_reply_seat_status(void **state)
{
	(void)state;
	static const uint32_t counts[] = {0, 1, 3, HF_SEAT_STATUS_SEATS_MAX - 1,
					  HF_SEAT_STATUS_SEATS_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		new_reply(&g_rep_a, HF_OP_SEAT_STATUS, c);
		g_rep_a.seat_status.seats_count = counts[c];
		for (uint32_t i = 0; i < counts[c]; i++) {
			g_rep_a.seat_status.seats[i].seat = UINT32_MAX - i;
			g_rep_a.seat_status.seats[i].state = (uint8_t)(i % 3);
			g_rep_a.seat_status.seats[i].owner_id = i % 3 == 0 ? 0 : UINT64_MAX - i;
		}
		reply_roundtrip(&g_rep_a, 4 + 16u * counts[c]);
	}
	new_reply(&g_rep_a, HF_OP_SEAT_STATUS, 1);
	g_rep_a.seat_status.seats_count = 1;
	g_rep_a.seat_status.seats[0].seat = 0x0a0b0c0d;
	g_rep_a.seat_status.seats[0].state = HF_SEAT_BOOKED;
	g_rep_a.seat_status.seats[0].owner_id = 0x0102030405060708ull;
	size_t n = reply_roundtrip(&g_rep_a, 20);
	static const uint8_t want[20] = {1, 0, 0,    0,	   0x0d, 0x0c, 0x0b, 0x0a, 2,	 0,
					 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
}

static void fill_slot_map(struct hf_slot_map *m, uint16_t owners, uint32_t host_len)
{
	m->epoch = 0x0102030405060708ull;
	m->owners_count = owners;
	for (uint32_t i = 0; i < owners; i++) {
		for (uint32_t j = 0; j < host_len; j++)
			m->owners[i].host[j] = (char)('a' + (i + j) % 26);
		m->owners[i].host[host_len] = '\0';
		m->owners[i].port = (uint16_t)(7070 + i);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		m->slot_owner[s] = (uint16_t)(s % owners);
}

static void test_reply_slot_map(void **state)
{
	(void)state;
	static const uint16_t owners[] = {1, 2, 255, HF_SLOT_OWNERS_MAX};
	static const uint32_t host_lens[] = {1, 9, HF_HOST_SIZE_MAX};
	for (size_t o = 0; o < HF_ARRAY_SIZE(owners); o++) {
		for (size_t h = 0; h < HF_ARRAY_SIZE(host_lens); h++) {
			new_reply(&g_rep_a, HF_OP_SLOT_MAP, o);
			fill_slot_map(&g_rep_a.slot_map, owners[o], host_lens[h]);
			reply_roundtrip(&g_rep_a,
					12 + owners[o] * (3u + host_lens[h]) + 2u * HF_SLOTS_COUNT);
		}
	}
	/* The last owner index is valid; slots in reverse to catch an order mix-up. */
	new_reply(&g_rep_a, HF_OP_SLOT_MAP, 1);
	fill_slot_map(&g_rep_a.slot_map, HF_SLOT_OWNERS_MAX, 4);
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		g_rep_a.slot_map.slot_owner[s] = (uint16_t)((HF_SLOTS_COUNT - 1 - s) % 256);
	reply_roundtrip(&g_rep_a, 12 + 256u * 7 + 2u * HF_SLOTS_COUNT);

	/* Layout: epoch, owners_count, slots_count, then (port, host_size, host) per owner, then
	 * one u16 owner index per slot. */
	new_reply(&g_rep_a, HF_OP_SLOT_MAP, 1);
	g_rep_a.slot_map.epoch = 5;
	g_rep_a.slot_map.owners_count = 2;
	strcpy(g_rep_a.slot_map.owners[0].host, "127.0.0.1");
	g_rep_a.slot_map.owners[0].port = 7070;
	strcpy(g_rep_a.slot_map.owners[1].host, "::1");
	g_rep_a.slot_map.owners[1].port = 7071;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		g_rep_a.slot_map.slot_owner[s] = s >= 2048;
	size_t n = reply_roundtrip(&g_rep_a, 12 + 12 + 6 + 2u * HF_SLOTS_COUNT);
	static const uint8_t want[30] = {5,    0,    0,	   0,	 0,    0,    0,	  0,   2,   0,
					 0x00, 0x10, 0x9e, 0x1b, 9,    '1',  '2', '7', '.', '0',
					 '.',  '0',  '.',  '1',	 0x9f, 0x1b, 3,	  ':', ':', '1'};
	expect_bytes(g_frame + 24, 30, want, sizeof(want));
	assert_int_equal(g_frame[24 + 30], 0);
	assert_int_equal(g_frame[n - 2], 1);
	assert_int_equal(g_frame[n - 1], 0);
}

static void test_reply_stats(void **state)
{
	(void)state;
	static const uint16_t counts[] = {0, 1, 2, HF_STATS_MAX - 1, HF_STATS_MAX};
	static const uint32_t name_lens[] = {1, 20, HF_STAT_NAME_SIZE_MAX};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		for (size_t l = 0; l < HF_ARRAY_SIZE(name_lens); l++) {
			new_reply(&g_rep_a, HF_OP_STATS, c);
			for (uint32_t i = 0; i < counts[c]; i++) {
				char name[HF_STAT_NAME_SIZE_MAX + 1];
				for (uint32_t j = 0; j < name_lens[l]; j++)
					name[j] = (char)('a' + (i * 7 + j) % 26);
				name[name_lens[l]] = '\0';
				assert_int_equal(hf_stats_add(&g_rep_a.stats, name, UINT64_MAX - i),
						 0);
			}
			assert_int_equal(g_rep_a.stats.stats_count, counts[c]);
			reply_roundtrip(&g_rep_a, 2 + counts[c] * (1u + name_lens[l] + 8u));
		}
	}
	new_reply(&g_rep_a, HF_OP_STATS, 1);
	assert_int_equal(hf_stats_add(&g_rep_a.stats, "holds", 0x0102), 0);
	size_t n = reply_roundtrip(&g_rep_a, 2 + 1 + 5 + 8);
	static const uint8_t want[16] = {1,    0,    5, 'h', 'o', 'l', 'd', 's',
					 0x02, 0x01, 0, 0,   0,	  0,   0,   0};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
}

/* Non-OK replies carry exactly the 8-byte detail, whatever the opcode (unknown ones included: the
 * server echoes the opcode it could not handle). */
static void test_reply_errors(void **state)
{
	(void)state;
	static const uint16_t statuses[] = {
	    HF_ERR_MALFORMED, HF_ERR_VERSION,  HF_ERR_OPCODE,	HF_ERR_TOO_LARGE,  HF_MOVED,
	    HF_BUSY,	      HF_TRY_AGAIN,    HF_ERR_INTERNAL, HF_ERR_IO,	   HF_ERR_INVALID,
	    HF_ERR_CAPACITY,  HF_NO_EVENT,     HF_SEAT_RANGE,	HF_SEAT_TAKEN,	   HF_USER_LIMIT,
	    HF_NO_HOLD,	      HF_HOLD_EXPIRED, HF_ID_CONFLICT,	HF_DUPLICATE_SEAT, 0xffff,
	};
	static const uint8_t ops[] = {HF_OP_HOLD, HF_OP_SLOT_MAP, HF_OP_AVAIL, HF_OP_CREATE_EVENT,
				      0x00,	  0x10,		  0x3f,	       0xff};
	static const uint64_t details[] = {0, 1, 11, UINT64_MAX};
	for (size_t s = 0; s < HF_ARRAY_SIZE(statuses); s++) {
		for (size_t o = 0; o < HF_ARRAY_SIZE(ops); o++) {
			memset(&g_rep_a, 0, sizeof(g_rep_a));
			g_rep_a.opcode = ops[o];
			g_rep_a.status = statuses[s];
			g_rep_a.request_id = s * 100 + o;
			g_rep_a.detail = details[(s + o) % HF_ARRAY_SIZE(details)];
			size_t n = reply_roundtrip(&g_rep_a, HF_ERROR_BODY_SIZE);
			assert_int_equal(n, 32);
		}
	}
	/* MOVED carries the epoch of the answering shard's map. */
	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_HOLD;
	g_rep_a.status = HF_MOVED;
	g_rep_a.detail = 0x0102030405060708ull;
	reply_roundtrip(&g_rep_a, 8);
	assert_int_equal(g_frame[6], HF_MOVED);
	assert_int_equal(g_frame[24], 0x08);
	assert_int_equal(g_rep_b.detail, 0x0102030405060708ull);
}

static void test_reply_random_roundtrip(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("reply_random_roundtrip")};
	for (uint32_t iter = 0; iter < 2000; iter++) {
		if (rng_below(&r, 8) == 0) {
			fill_error_reply(&r, &g_rep_a);
		} else {
			uint8_t op = request_opcodes[rng_below(&r, HF_ARRAY_SIZE(request_opcodes))];
			fill_reply(&r, &scale_full, op, &g_rep_a);
		}
		size_t n = hf_reply_size(&g_rep_a);
		reply_roundtrip(&g_rep_a, n - HF_FRAME_HEADER_SIZE);
	}
}

/* ---- Sample frames: every opcode, small and at its limits ---- */

struct sample {
	uint8_t *bytes;
	size_t size;
};

struct samples {
	struct sample items[SAMPLES_MAX];
	uint32_t count;
};

static void samples_add(struct samples *s, const uint8_t *frame, size_t size)
{
	assert_true(s->count < SAMPLES_MAX);
	assert_true(size >= HF_FRAME_HEADER_SIZE);
	s->items[s->count].bytes = dup_exact(frame, size);
	s->items[s->count].size = size;
	s->count++;
}

static void samples_free(struct samples *s)
{
	for (uint32_t i = 0; i < s->count; i++)
		free(s->items[i].bytes);
	s->count = 0;
}

static void add_request(struct samples *s, const struct hf_request *req)
{
	size_t n = hf_request_encode(req, g_frame, sizeof(g_frame));
	assert_true(n > 0);
	samples_add(s, g_frame, n);
}

static void add_reply(struct samples *s, const struct hf_reply *rep)
{
	size_t n = hf_reply_encode(rep, g_frame, sizeof(g_frame));
	assert_true(n > 0);
	samples_add(s, g_frame, n);
}

/* One small and one largest valid request of each opcode (random contents from a fixed seed). */
static void request_samples(struct samples *s)
{
	struct rng r = {12345};
	s->count = 0;
	for (size_t i = 0; i < HF_ARRAY_SIZE(request_opcodes); i++) {
		uint8_t op = request_opcodes[i];
		fill_request(&r, &scale_small, op, &g_req_a);
		switch (op) {
		case HF_OP_HOLD:
			g_req_a.hold.mode = HF_HOLD_EXPLICIT;
			g_req_a.hold.flags = 0;
			g_req_a.hold.scope = 0;
			g_req_a.hold.seats_count = 1;
			g_req_a.hold.seats[0] = 5;
			add_request(s, &g_req_a);
			for (uint32_t j = 0; j < HF_HOLD_SEATS_MAX; j++)
				g_req_a.hold.seats[j] = j + 100;
			g_req_a.hold.seats_count = HF_HOLD_SEATS_MAX;
			add_request(s, &g_req_a);
			g_req_a.hold.mode = HF_HOLD_BEST;
			add_request(s, &g_req_a);
			g_req_a.hold.seats_count = 1;
			add_request(s, &g_req_a);
			break;
		case HF_OP_SEAT_STATUS:
			g_req_a.seat_status.seats_count = 1;
			add_request(s, &g_req_a);
			g_req_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
			add_request(s, &g_req_a);
			break;
		case HF_OP_BACKUP:
			strcpy(g_req_a.backup.path, "/");
			add_request(s, &g_req_a);
			memset(g_req_a.backup.path, 'p', HF_PATH_SIZE_MAX);
			g_req_a.backup.path[0] = '/';
			g_req_a.backup.path[HF_PATH_SIZE_MAX] = '\0';
			add_request(s, &g_req_a);
			break;
		case HF_OP_AVAIL:
			g_req_a.avail.count = 0;
			add_request(s, &g_req_a);
			g_req_a.avail.count = HF_AVAIL_RANGE_MAX;
			add_request(s, &g_req_a);
			break;
		default:
			add_request(s, &g_req_a);
		}
	}
}

static void reply_samples(struct samples *s)
{
	struct rng r = {54321};
	s->count = 0;
	for (size_t i = 0; i < HF_ARRAY_SIZE(request_opcodes); i++) {
		uint8_t op = request_opcodes[i];
		fill_reply(&r, &scale_small, op, &g_rep_a);
		switch (op) {
		case HF_OP_HOLD:
		case HF_OP_CONFIRM: {
			struct hf_rep_hold *h = op == HF_OP_HOLD ? &g_rep_a.hold : &g_rep_a.confirm;
			h->seats_count = 1;
			add_reply(s, &g_rep_a);
			for (uint32_t j = 0; j < HF_HOLD_SEATS_MAX; j++)
				h->seats[j] = j;
			h->seats_count = HF_HOLD_SEATS_MAX;
			add_reply(s, &g_rep_a);
			break;
		}
		case HF_OP_AVAIL: {
			static const uint32_t counts[] = {0, 1, 8, 9, HF_AVAIL_RANGE_MAX};
			memset(g_bitmap, 0x3c, sizeof(g_bitmap));
			for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
				g_rep_a.avail.count = counts[c];
				g_rep_a.avail.bitmap = g_bitmap;
				add_reply(s, &g_rep_a);
			}
			break;
		}
		case HF_OP_SEAT_STATUS:
			g_rep_a.seat_status.seats_count = 0;
			add_reply(s, &g_rep_a);
			g_rep_a.seat_status.seats_count = 1;
			g_rep_a.seat_status.seats[0].state = HF_SEAT_HELD;
			add_reply(s, &g_rep_a);
			g_rep_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
			add_reply(s, &g_rep_a);
			break;
		case HF_OP_SLOT_MAP:
			fill_slot_map(&g_rep_a.slot_map, 1, 9);
			add_reply(s, &g_rep_a);
			fill_slot_map(&g_rep_a.slot_map, 3, 5);
			add_reply(s, &g_rep_a);
			fill_slot_map(&g_rep_a.slot_map, HF_SLOT_OWNERS_MAX, HF_HOST_SIZE_MAX);
			add_reply(s, &g_rep_a);
			break;
		case HF_OP_STATS:
			g_rep_a.stats.stats_count = 0;
			add_reply(s, &g_rep_a);
			hf_stats_add(&g_rep_a.stats, "x", 1);
			add_reply(s, &g_rep_a);
			g_rep_a.stats.stats_count = 0;
			for (uint32_t j = 0; j < HF_STATS_MAX; j++) {
				char name[HF_STAT_NAME_SIZE_MAX + 1];
				memset(name, 'a' + (int)(j % 26), HF_STAT_NAME_SIZE_MAX);
				name[HF_STAT_NAME_SIZE_MAX] = '\0';
				assert_int_equal(hf_stats_add(&g_rep_a.stats, name, j), 0);
			}
			add_reply(s, &g_rep_a);
			break;
		default:
			add_reply(s, &g_rep_a);
		}
	}
	/* Error replies, one for a known and one for an unknown opcode. */
	memset(&g_rep_a, 0, sizeof(g_rep_a));
	g_rep_a.opcode = HF_OP_HOLD;
	g_rep_a.status = HF_SEAT_TAKEN;
	g_rep_a.detail = 17;
	add_reply(s, &g_rep_a);
	g_rep_a.opcode = 0x77;
	g_rep_a.status = HF_ERR_OPCODE;
	add_reply(s, &g_rep_a);
}

/* ---- Malformed requests ---- */

static void test_request_reply_flag_or_status(void **state)
{
	(void)state;
	struct samples s;
	request_samples(&s);
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		memcpy(g_frame, f->bytes, f->size);
		assert_int_equal(decode_request_frame(f->size), HF_OK);
		g_frame[4] = HF_FLAG_REPLY;
		assert_int_equal(decode_request_frame(f->size), HF_ERR_MALFORMED);
		g_frame[4] = 0;
		for (int at = 6; at < 8; at++) {
			g_frame[at] = 1;
			assert_int_equal(decode_request_frame(f->size), HF_ERR_MALFORMED);
			g_frame[at] = 0x80;
			assert_int_equal(decode_request_frame(f->size), HF_ERR_MALFORMED);
			g_frame[at] = 0;
		}
		assert_int_equal(decode_request_frame(f->size), HF_OK);
	}
	samples_free(&s);
}

static void test_request_unknown_opcodes(void **state)
{
	(void)state;
	for (int op = 0; op < 256; op++) {
		if (opcode_is_known((uint8_t)op))
			continue;
		static const uint32_t sizes[] = {0, 8, 16, 36};
		for (size_t i = 0; i < HF_ARRAY_SIZE(sizes); i++) {
			memset(g_frame, 0, sizeof(g_frame));
			make_header(g_frame, 0, sizes[i]);
			g_frame[3] = (uint8_t)op;
			g_frame[8] = (uint8_t)op;
			put64(g_frame + 24, 1);
			assert_int_equal(decode_request_frame(24 + sizes[i]), HF_ERR_OPCODE);
			assert_int_equal(g_req_b.opcode, op);
		}
	}
	/* The batch range has BATCH only so far. */
	for (int op = HF_OP_BATCH_FIRST + 1; op <= HF_OP_BATCH_LAST; op++)
		assert_string_equal(hf_opcode_name((uint8_t)op), "UNKNOWN");
	assert_int_equal(HF_OP_ADMIN_FIRST, 0x20);
	assert_int_equal(HF_OP_ADMIN_LAST, 0x3f);
}

/* Every proper prefix of every body is MALFORMED, read from an allocation of exactly that size. */
static void test_request_truncated(void **state)
{
	(void)state;
	struct samples s;
	request_samples(&s);
	uint64_t tried = 0;
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		size_t body_size = f->size - HF_FRAME_HEADER_SIZE;
		for (size_t len = 0; len < body_size; len = lengths_next(len, body_size)) {
			enum hf_status st =
			    decode_request_body(f->bytes, f->bytes + 24, (uint32_t)len);
			/* The 24-byte prefix of a CREATE_EVENT with sections is the CREATE_EVENT
			 * without them (docs/protocol.md 6.2): a shorter valid body. */
			if (f->bytes[3] == HF_OP_CREATE_EVENT &&
			    len == HF_REQ_CREATE_EVENT_BODY_SIZE)
				continue;
			if (st != HF_ERR_MALFORMED)
				fail_msg("%s: prefix %zu of %zu: %s", hf_opcode_name(f->bytes[3]),
					 len, body_size, hf_status_name(st));
			tried++;
		}
	}
	printf("request_truncated: %" PRIu64 " prefixes\n", tried);
	samples_free(&s);
}

/* A body with bytes after its last field is MALFORMED, whatever those bytes are. */
static void test_request_trailing(void **state)
{
	(void)state;
	struct samples s;
	request_samples(&s);
	static const uint32_t extra[] = {1, 2, 3, 4, 7, 8, 16, 64};
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		size_t body_size = f->size - HF_FRAME_HEADER_SIZE;
		for (size_t e = 0; e < HF_ARRAY_SIZE(extra); e++) {
			for (int fill = 0; fill < 256; fill += 255) {
				memcpy(g_frame, f->bytes, f->size);
				memset(g_frame + f->size, fill, extra[e]);
				enum hf_status st = decode_request_body(
				    g_frame, g_frame + 24, (uint32_t)(body_size + extra[e]));
				if (st != HF_ERR_MALFORMED)
					fail_msg("%s + %u bytes: %s", hf_opcode_name(f->bytes[3]),
						 extra[e], hf_status_name(st));
			}
		}
	}
	samples_free(&s);
}

static size_t encode_hold(uint8_t mode, uint32_t count)
{
	new_request(&g_req_a, HF_OP_HOLD, 99);
	g_req_a.hold.event_id = 1;
	g_req_a.hold.hold_id = 2;
	g_req_a.hold.user_id = 3;
	g_req_a.hold.ttl_ms = 4;
	g_req_a.hold.mode = mode;
	g_req_a.hold.seats_count = count;
	for (uint32_t i = 0; i < count; i++)
		g_req_a.hold.seats[i] = i;
	return hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
}

/* seats_count that does not match the body, in both directions, and counts past the limits. */
static void test_request_hold_counts(void **state)
{
	(void)state;
	/* Explicit: 3 seats sent, count says 2 or 4. */
	size_t n = encode_hold(HF_HOLD_EXPLICIT, 3);
	put32(g_frame + 24 + 32, 2);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + 24 + 32, 4);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + 24 + 32, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	/* A count past the limit is TOO_LARGE before the body is looked at, in both modes. */
	static const uint32_t big[] = {HF_HOLD_SEATS_MAX + 1, 1000, UINT32_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(big); i++) {
		put32(g_frame + 24 + 32, big[i]);
		assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
		g_frame[24 + 28] = HF_HOLD_BEST;
		set_body_size(g_frame, 36);
		assert_int_equal(decode_request_frame(24 + 36), HF_ERR_TOO_LARGE);
		g_frame[24 + 28] = HF_HOLD_EXPLICIT;
		set_body_size(g_frame, (uint32_t)(n - 24));
	}
	/* 65 seats really sent. */
	memset(g_frame + 24 + 36, 0, 65 * 4);
	set_body_size(g_frame, 36 + 65 * 4);
	put32(g_frame + 24 + 32, 65);
	assert_int_equal(decode_request_frame(24 + 36 + 65 * 4), HF_ERR_TOO_LARGE);
	/* Best-available with seats listed after it. */
	n = encode_hold(HF_HOLD_EXPLICIT, 2);
	g_frame[24 + 28] = HF_HOLD_BEST;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	/* Explicit without its seats. */
	n = encode_hold(HF_HOLD_BEST, 2);
	g_frame[24 + 28] = HF_HOLD_EXPLICIT;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	/* Zero seats: INVALID in both modes. */
	n = encode_hold(HF_HOLD_BEST, 1);
	put32(g_frame + 24 + 32, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	g_frame[24 + 28] = HF_HOLD_EXPLICIT;
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
}

static void test_request_hold_mode_and_reserved(void **state)
{
	(void)state;
	size_t n = encode_hold(HF_HOLD_EXPLICIT, 2);
	assert_int_equal(decode_request_frame(n), HF_OK);
	for (int mode = HF_HOLD_ANY + 1; mode < 256; mode++) {
		g_frame[24 + 28] = (uint8_t)mode;
		assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	}
	g_frame[24 + 28] = HF_HOLD_EXPLICIT;
	/* Byte 29 is the flags: unknown bits are malformed; EXPLICIT takes NO_ORPHAN only. */
	for (int v = 1; v < 256; v <<= 1) {
		g_frame[24 + 29] = (uint8_t)v;
		assert_int_equal(decode_request_frame(n),
				 v == HF_HOLD_FLAG_NO_ORPHAN ? HF_OK : HF_ERR_MALFORMED);
	}
	g_frame[24 + 29] = 0;
	/* Bytes 30-31 are the scope, which EXPLICIT does not take. */
	for (int at = 30; at < 32; at++) {
		for (int v = 1; v < 256; v <<= 1) {
			g_frame[24 + at] = (uint8_t)v;
			assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
		}
		g_frame[24 + at] = 0;
	}
	assert_int_equal(decode_request_frame(n), HF_OK);
	/* BEST and ANY take a scope and both flags. */
	n = encode_hold(HF_HOLD_ANY, 2);
	g_frame[24 + 29] = HF_HOLD_FLAG_NO_ORPHAN | HF_HOLD_FLAG_TIER;
	put16(g_frame + 24 + 30, 0xbeef);
	assert_int_equal(decode_request_frame(n), HF_OK);
	assert_int_equal(g_req_b.hold.mode, HF_HOLD_ANY);
	assert_int_equal(g_req_b.hold.flags, HF_HOLD_FLAG_NO_ORPHAN | HF_HOLD_FLAG_TIER);
	assert_int_equal(g_req_b.hold.scope, 0xbeef);
	g_frame[24 + 29] = 0x08;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	/* The TOKEN flag without the 40 token bytes. */
	g_frame[24 + 29] = HF_HOLD_FLAG_TOKEN;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
}

static void test_request_counts_over_limits(void **state)
{
	(void)state;
	/* SEAT_STATUS: 1025 seats (count and body both). */
	new_request(&g_req_a, HF_OP_SEAT_STATUS, 1);
	g_req_a.seat_status.event_id = 1;
	g_req_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
	size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	put32(g_frame + 24 + 8, HF_SEAT_STATUS_SEATS_MAX + 1);
	memset(g_frame + n, 0, 4);
	assert_int_equal(decode_request_frame(n + 4), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 8, UINT32_MAX);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	/* ... and a count that disagrees with the body. */
	put32(g_frame + 24 + 8, HF_SEAT_STATUS_SEATS_MAX - 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + 24 + 8, 0);
	assert_int_equal(decode_request_frame(24 + 12), HF_ERR_INVALID);
	put32(g_frame + 24 + 8, 2);
	assert_int_equal(decode_request_frame(24 + 12 + 4), HF_ERR_MALFORMED);

	/* AVAIL: count past the range limit. */
	new_request(&g_req_a, HF_OP_AVAIL, 1);
	g_req_a.avail.event_id = 1;
	g_req_a.avail.count = HF_AVAIL_RANGE_MAX;
	n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(decode_request_frame(n), HF_OK);
	put32(g_frame + 24 + 12, HF_AVAIL_RANGE_MAX + 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 12, UINT32_MAX);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);

	/* CREATE_EVENT: seats past HF_EVENT_SEATS_MAX. */
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 1);
	g_req_a.create_event.event_id = 1;
	g_req_a.create_event.seats_count = HF_EVENT_SEATS_MAX;
	n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(decode_request_frame(n), HF_OK);
	put32(g_frame + 24 + 8, HF_EVENT_SEATS_MAX + 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 8, UINT32_MAX);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);

	/* BACKUP: a path past HF_PATH_SIZE_MAX, with the bytes present or not. */
	memset(g_frame, 0, sizeof(g_frame));
	make_header(g_frame, 0, 2 + HF_PATH_SIZE_MAX + 1);
	g_frame[3] = HF_OP_BACKUP;
	put16(g_frame + 24, HF_PATH_SIZE_MAX + 1);
	memset(g_frame + 26, 'a', HF_PATH_SIZE_MAX + 1);
	g_frame[26] = '/';
	assert_int_equal(decode_request_frame(24 + 2 + HF_PATH_SIZE_MAX + 1), HF_ERR_TOO_LARGE);
	put16(g_frame + 24, UINT16_MAX);
	assert_int_equal(decode_request_frame(24 + 2), HF_ERR_TOO_LARGE);
}

/* Zero ids, ttl and counts are INVALID (the frame decoded; the arguments are out of their domain).
 */
static void test_request_zero_fields(void **state)
{
	(void)state;
	struct zero_case {
		uint8_t op;
		uint32_t offset; /* of the field in the body */
		uint32_t size;
	};
	static const struct zero_case cases[] = {
	    {HF_OP_CREATE_EVENT, 0, 8}, {HF_OP_CREATE_EVENT, 8, 4}, {HF_OP_EVENT_INFO, 0, 8},
	    {HF_OP_HOLD, 0, 8},		{HF_OP_HOLD, 8, 8},	    {HF_OP_HOLD, 24, 4},
	    {HF_OP_HOLD, 32, 4},	{HF_OP_EXTEND, 0, 8},	    {HF_OP_EXTEND, 8, 8},
	    {HF_OP_EXTEND, 16, 4},	{HF_OP_CONFIRM, 0, 8},	    {HF_OP_CONFIRM, 8, 8},
	    {HF_OP_RELEASE, 0, 8},	{HF_OP_RELEASE, 8, 8},	    {HF_OP_CANCEL, 0, 8},
	    {HF_OP_CANCEL, 8, 8},	{HF_OP_AVAIL, 0, 8},	    {HF_OP_SEAT_STATUS, 0, 8},
	};
	struct rng r = {777};
	for (size_t i = 0; i < HF_ARRAY_SIZE(cases); i++) {
		fill_request(&r, &scale_small, cases[i].op, &g_req_a);
		if (cases[i].op == HF_OP_HOLD) {
			/* Zero seats in explicit mode would also change the body size. */
			g_req_a.hold.mode = HF_HOLD_BEST;
		}
		size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
		assert_int_equal(decode_request_frame(n), HF_OK);
		memset(g_frame + 24 + cases[i].offset, 0, cases[i].size);
		enum hf_status st = decode_request_frame(n);
		if (st != HF_ERR_INVALID)
			fail_msg("%s: zero at %u: %s", hf_opcode_name(cases[i].op), cases[i].offset,
				 hf_status_name(st));
	}
	/* Fields that may be zero: HOLD user_id, CREATE_EVENT row_width, user_limit and lifetime,
	 * AVAIL first and count. */
	new_request(&g_req_a, HF_OP_HOLD, 1);
	g_req_a.hold.event_id = g_req_a.hold.hold_id = 1;
	g_req_a.hold.ttl_ms = 1;
	g_req_a.hold.mode = HF_HOLD_BEST;
	g_req_a.hold.seats_count = 1;
	request_roundtrip(&g_req_a, 36);
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 1);
	g_req_a.create_event.event_id = 1;
	g_req_a.create_event.seats_count = 1;
	request_roundtrip(&g_req_a, 24);
	new_request(&g_req_a, HF_OP_AVAIL, 1);
	g_req_a.avail.event_id = 1;
	request_roundtrip(&g_req_a, 16);
}

static void test_request_create_event_lifetime(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 1);
	g_req_a.create_event.event_id = 1;
	g_req_a.create_event.seats_count = 10;
	g_req_a.create_event.hold_lifetime_max_s = HF_HOLD_LIFETIME_MAX_S;
	size_t n = request_roundtrip(&g_req_a, 24);
	put32(g_frame + 24 + 20, HF_HOLD_LIFETIME_MAX_S + 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	put32(g_frame + 24 + 20, UINT32_MAX);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
}

static size_t make_backup_frame(const uint8_t *path, uint16_t len)
{
	memset(g_frame, 0, HF_FRAME_HEADER_SIZE + 2u + len);
	make_header(g_frame, 0, 2u + len);
	g_frame[3] = HF_OP_BACKUP;
	put16(g_frame + 24, len);
	if (len > 0)
		memcpy(g_frame + 26, path, len);
	return HF_FRAME_HEADER_SIZE + 2u + len;
}

static void test_request_backup_path(void **state)
{
	(void)state;
	size_t n = make_backup_frame((const uint8_t *)"/tmp/b", 6);
	assert_int_equal(decode_request_frame(n), HF_OK);
	assert_string_equal(g_req_b.backup.path, "/tmp/b");
	/* Empty path. */
	n = make_backup_frame(NULL, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	/* A NUL anywhere inside. */
	for (uint16_t at = 0; at < 6; at++) {
		uint8_t path[6];
		memcpy(path, "/tmp/b", 6);
		path[at] = 0;
		n = make_backup_frame(path, 6);
		assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	}
	/* Relative paths are INVALID (they would depend on the server's working directory). */
	n = make_backup_frame((const uint8_t *)"tmp/b", 5);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	n = make_backup_frame((const uint8_t *)".", 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	/* Length field and body disagree. */
	n = make_backup_frame((const uint8_t *)"/tmp/b", 6);
	put16(g_frame + 24, 5);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	put16(g_frame + 24, 7);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
}

/* ---- Malformed replies ---- */

static void test_reply_without_reply_flag(void **state)
{
	(void)state;
	struct samples s;
	reply_samples(&s);
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		memcpy(g_frame, f->bytes, f->size);
		assert_int_equal(decode_reply_frame(f->size), HF_OK);
		g_frame[4] = 0;
		assert_int_equal(decode_reply_frame(f->size), HF_ERR_MALFORMED);
	}
	samples_free(&s);
}

static void test_reply_unknown_opcodes(void **state)
{
	(void)state;
	for (int op = 0; op < 256; op++) {
		if (opcode_is_known((uint8_t)op))
			continue;
		static const uint32_t sizes[] = {0, 8, 16};
		for (size_t i = 0; i < HF_ARRAY_SIZE(sizes); i++) {
			memset(g_frame, 0, sizeof(g_frame));
			make_header(g_frame, HF_FLAG_REPLY, sizes[i]);
			g_frame[3] = (uint8_t)op;
			assert_int_equal(decode_reply_frame(24 + sizes[i]), HF_ERR_OPCODE);
		}
		/* An error reply to an unknown opcode is a valid frame. */
		make_header(g_frame, HF_FLAG_REPLY, 8);
		g_frame[3] = (uint8_t)op;
		g_frame[6] = HF_ERR_OPCODE;
		assert_int_equal(decode_reply_frame(24 + 8), HF_OK);
		assert_int_equal(g_rep_b.status, HF_ERR_OPCODE);
	}
}

static void test_reply_truncated(void **state)
{
	(void)state;
	struct samples s;
	reply_samples(&s);
	uint64_t tried = 0;
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		size_t body_size = f->size - HF_FRAME_HEADER_SIZE;
		for (size_t len = 0; len < body_size; len = lengths_next(len, body_size)) {
			enum hf_status st =
			    decode_reply_body(f->bytes, f->bytes + 24, (uint32_t)len);
			if (st != HF_ERR_MALFORMED)
				fail_msg("%s reply: prefix %zu of %zu: %s",
					 hf_opcode_name(f->bytes[3]), len, body_size,
					 hf_status_name(st));
			tried++;
		}
	}
	printf("reply_truncated: %" PRIu64 " prefixes\n", tried);
	samples_free(&s);
}

static void test_reply_trailing(void **state)
{
	(void)state;
	struct samples s;
	reply_samples(&s);
	static const uint32_t extra[] = {1, 2, 3, 4, 7, 8, 16, 64};
	for (uint32_t i = 0; i < s.count; i++) {
		const struct sample *f = &s.items[i];
		size_t body_size = f->size - HF_FRAME_HEADER_SIZE;
		for (size_t e = 0; e < HF_ARRAY_SIZE(extra); e++) {
			for (int fill = 0; fill < 256; fill += 255) {
				memcpy(g_frame, f->bytes, f->size);
				memset(g_frame + f->size, fill, extra[e]);
				enum hf_status st = decode_reply_body(
				    g_frame, g_frame + 24, (uint32_t)(body_size + extra[e]));
				if (st != HF_ERR_MALFORMED)
					fail_msg("%s reply + %u bytes: %s",
						 hf_opcode_name(f->bytes[3]), extra[e],
						 hf_status_name(st));
			}
		}
	}
	samples_free(&s);
}

static void test_reply_error_body_size(void **state)
{
	(void)state;
	for (uint32_t size = 0; size <= 32; size++) {
		memset(g_frame, 0, sizeof(g_frame));
		make_header(g_frame, HF_FLAG_REPLY, size);
		g_frame[3] = HF_OP_HOLD;
		g_frame[6] = HF_SEAT_TAKEN;
		assert_int_equal(decode_reply_frame(24 + size),
				 size == HF_ERROR_BODY_SIZE ? HF_OK : HF_ERR_MALFORMED);
	}
	/* A success-shaped body under an error status is not an error body. */
	new_reply(&g_rep_a, HF_OP_HOLD, 1);
	g_rep_a.hold.hold_id = 1;
	g_rep_a.hold.seats_count = 1;
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	g_frame[6] = HF_NO_EVENT;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
}

static void test_reply_hold_counts(void **state)
{
	(void)state;
	for (int op = 0; op < 2; op++) {
		uint8_t opcode = op == 0 ? HF_OP_HOLD : HF_OP_CONFIRM;
		uint32_t count_at = op == 0 ? 16 : 8;
		new_reply(&g_rep_a, opcode, 1);
		struct hf_rep_hold *h = op == 0 ? &g_rep_a.hold : &g_rep_a.confirm;
		h->hold_id = 1;
		h->seats_count = 3;
		size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
		assert_int_equal(decode_reply_frame(n), HF_OK);
		put32(g_frame + 24 + count_at, 2);
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		put32(g_frame + 24 + count_at, 4);
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		/* A hold always has at least one seat. */
		put32(g_frame + 24 + count_at, 0);
		assert_int_equal(decode_reply_frame(24 + count_at + 4), HF_ERR_MALFORMED);
		/* Past the limit: TOO_LARGE, with or without the seats present. */
		put32(g_frame + 24 + count_at, HF_HOLD_SEATS_MAX + 1);
		memset(g_frame + 24 + count_at + 4, 0, 4u * (HF_HOLD_SEATS_MAX + 1));
		assert_int_equal(
		    decode_reply_frame(24 + count_at + 4 + 4u * (HF_HOLD_SEATS_MAX + 1)),
		    HF_ERR_TOO_LARGE);
		put32(g_frame + 24 + count_at, UINT32_MAX);
		assert_int_equal(decode_reply_frame(24 + count_at + 4), HF_ERR_TOO_LARGE);
	}
}

static void test_reply_event_info_reserved(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_EVENT_INFO, 1);
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(decode_reply_frame(n), HF_OK);
	for (int at = 44; at < 48; at++) {
		g_frame[24 + at] = 1;
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		g_frame[24 + at] = 0;
	}
}

static void test_reply_avail_bad(void **state)
{
	(void)state;
	static const uint32_t counts[] = {1, 3, 7, 9, 15, 1001};
	for (size_t c = 0; c < HF_ARRAY_SIZE(counts); c++) {
		uint32_t count = counts[c];
		new_reply(&g_rep_a, HF_OP_AVAIL, 1);
		memset(g_bitmap, 0xff, sizeof(g_bitmap));
		g_rep_a.avail.count = count;
		g_rep_a.avail.bitmap = g_bitmap;
		size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
		assert_int_equal(decode_reply_frame(n), HF_OK);
		/* Each bit past count in the last byte must be zero. */
		for (uint32_t bit = count % 8; bit < 8; bit++) {
			g_frame[n - 1] = (uint8_t)(g_frame[n - 1] | 1u << bit);
			enum hf_status st = decode_reply_frame(n);
			if (st != HF_ERR_MALFORMED)
				fail_msg("count %u, trailing bit %u set: %s", count, bit,
					 hf_status_name(st));
			g_frame[n - 1] = (uint8_t)(g_frame[n - 1] & ~(1u << bit));
		}
		assert_int_equal(decode_reply_frame(n), HF_OK);
		/* A count that disagrees with the bitmap size. */
		put32(g_frame + 24 + 12, count + 8);
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		put32(g_frame + 24 + 12, count);
	}
	/* count = 0 means no bitmap at all. */
	new_reply(&g_rep_a, HF_OP_AVAIL, 1);
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, 24 + 16);
	g_frame[n] = 0;
	assert_int_equal(decode_reply_frame(n + 1), HF_ERR_MALFORMED);
	/* Past the range limit. */
	put32(g_frame + 24 + 12, HF_AVAIL_RANGE_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 12, UINT32_MAX);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
}

static void test_reply_seat_status_bad(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_SEAT_STATUS, 1);
	g_rep_a.seat_status.seats_count = 2;
	g_rep_a.seat_status.seats[1].state = HF_SEAT_BOOKED;
	g_rep_a.seat_status.seats[1].owner_id = 5;
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, 24 + 4 + 32);
	for (int state_v = 3; state_v < 256; state_v++) {
		g_frame[24 + 4 + 16 + 4] = (uint8_t)state_v;
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	}
	g_frame[24 + 4 + 16 + 4] = HF_SEAT_BOOKED;
	for (int at = 5; at < 8; at++) {
		g_frame[24 + 4 + at] = 0x10;
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		g_frame[24 + 4 + at] = 0;
	}
	assert_int_equal(decode_reply_frame(n), HF_OK);
	put32(g_frame + 24, 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + 24, 3);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + 24, HF_SEAT_STATUS_SEATS_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24, UINT32_MAX);
	assert_int_equal(decode_reply_frame(24 + 4), HF_ERR_TOO_LARGE);
}

/* A two-owner map; returns the frame size. Hosts "alpha" and "b". */
static size_t encode_small_map(void)
{
	new_reply(&g_rep_a, HF_OP_SLOT_MAP, 1);
	g_rep_a.slot_map.epoch = 9;
	g_rep_a.slot_map.owners_count = 2;
	strcpy(g_rep_a.slot_map.owners[0].host, "alpha");
	g_rep_a.slot_map.owners[0].port = 1;
	strcpy(g_rep_a.slot_map.owners[1].host, "b");
	g_rep_a.slot_map.owners[1].port = 2;
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		g_rep_a.slot_map.slot_owner[s] = (uint16_t)(s & 1);
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(decode_reply_frame(n), HF_OK);
	return n;
}

#define MAP_OWNER0 (24 + 12)		/* port, host_size, "alpha" */
#define MAP_OWNER1 (MAP_OWNER0 + 3 + 5) /* port, host_size, "b" */
#define MAP_SLOTS  (MAP_OWNER1 + 3 + 1)

static void test_reply_slot_map_bad(void **state)
{
	(void)state;
	size_t n = encode_small_map();
	assert_int_equal(n, MAP_SLOTS + 2 * HF_SLOTS_COUNT);
	/* slots_count other than 4096. */
	static const uint16_t slots[] = {0, 1, 4095, 4097, 8192, UINT16_MAX};
	for (size_t i = 0; i < HF_ARRAY_SIZE(slots); i++) {
		put16(g_frame + 24 + 10, slots[i]);
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	}
	/* owners_count 0, past the limit, or disagreeing with the body. */
	n = encode_small_map();
	put16(g_frame + 24 + 8, 0);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put16(g_frame + 24 + 8, HF_SLOT_OWNERS_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put16(g_frame + 24 + 8, UINT16_MAX);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put16(g_frame + 24 + 8, 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put16(g_frame + 24 + 8, 3);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	/* Owner index out of range, at the first, a middle and the last slot. */
	static const uint32_t at[] = {0, 1, 2048, HF_SLOTS_COUNT - 1};
	for (size_t i = 0; i < HF_ARRAY_SIZE(at); i++) {
		static const uint16_t bad[] = {2, 3, 256, UINT16_MAX};
		for (size_t b = 0; b < HF_ARRAY_SIZE(bad); b++) {
			n = encode_small_map();
			put16(g_frame + MAP_SLOTS + 2 * at[i], bad[b]);
			assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		}
	}
	/* Host size zero, past the limit, or disagreeing with the body. */
	n = encode_small_map();
	g_frame[MAP_OWNER0 + 2] = 0;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[MAP_OWNER0 + 2] = HF_HOST_SIZE_MAX + 1;
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	g_frame[MAP_OWNER0 + 2] = 255;
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	g_frame[MAP_OWNER0 + 2] = 4;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	/* One byte too many shifts the next owner onto "b" (98) as its host size. */
	g_frame[MAP_OWNER0 + 2] = 6;
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	/* A NUL inside a host, at each position. */
	for (int i = 0; i < 5; i++) {
		n = encode_small_map();
		g_frame[MAP_OWNER0 + 3 + i] = 0;
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	}
	n = encode_small_map();
	g_frame[MAP_OWNER1 + 3] = 0;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	/* A 63-byte host is fine, a 64-byte one is not. */
	new_reply(&g_rep_a, HF_OP_SLOT_MAP, 1);
	fill_slot_map(&g_rep_a.slot_map, 1, HF_HOST_SIZE_MAX);
	n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(decode_reply_frame(n), HF_OK);
	assert_int_equal(strlen(g_rep_b.slot_map.owners[0].host), HF_HOST_SIZE_MAX);
	memmove(g_frame + MAP_OWNER0 + 3 + 1, g_frame + MAP_OWNER0 + 3, n - (MAP_OWNER0 + 3));
	g_frame[MAP_OWNER0 + 2] = HF_HOST_SIZE_MAX + 1;
	set_body_size(g_frame, (uint32_t)(n + 1 - 24));
	assert_int_equal(decode_reply_frame(n + 1), HF_ERR_TOO_LARGE);
}

static void test_reply_stats_bad(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_STATS, 1);
	hf_stats_add(&g_rep_a.stats, "abc", 1);
	hf_stats_add(&g_rep_a.stats, "d", 2);
	size_t n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, 24 + 2 + 12 + 10);
	assert_int_equal(decode_reply_frame(n), HF_OK);
	/* Count past the limit or disagreeing with the body. */
	put16(g_frame + 24, HF_STATS_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put16(g_frame + 24, UINT16_MAX);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put16(g_frame + 24, 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put16(g_frame + 24, 3);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put16(g_frame + 24, 2);
	/* Name size zero, past the limit, or wrong. */
	g_frame[26] = 0;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[26] = HF_STAT_NAME_SIZE_MAX + 1;
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	g_frame[26] = 255;
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	g_frame[26] = 2;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[26] = 3;
	assert_int_equal(decode_reply_frame(n), HF_OK);
	/* NUL inside a name. */
	for (int i = 0; i < 3; i++) {
		g_frame[27 + i] = 0;
		assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
		g_frame[27 + i] = (uint8_t) "abc"[i];
	}
	g_frame[26 + 12 + 1] = 0;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
}

/* ---- Encoding into a buffer that is too small ---- */

/* Every capacity below the frame size gives 0 and writes nothing outside the buffer (which ends
 * where its allocation ends, see place_output); the exact size works. */
static void check_encode_caps(const struct sample *f, int is_reply)
{
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(f->bytes, &h), HF_OK);
	const uint8_t *body = place_input(f->bytes + 24, h.body_size);
	if (is_reply)
		assert_int_equal(hf_reply_decode(&h, body, &g_rep_a), HF_OK);
	else
		assert_int_equal(hf_request_decode(&h, body, &g_req_a), HF_OK);
	for (size_t cap = 0; cap < f->size; cap++) {
		uint8_t *buf = place_output(cap);
		size_t n = is_reply ? hf_reply_encode(&g_rep_a, buf, cap)
				    : hf_request_encode(&g_req_a, buf, cap);
		if (n != 0)
			fail_msg("%s: cap %zu of %zu encoded %zu bytes", hf_opcode_name(h.opcode),
				 cap, f->size, n);
	}
	for (size_t extra = 0; extra < 2; extra++) {
		uint8_t *buf = place_output(f->size + extra);
		size_t n = is_reply ? hf_reply_encode(&g_rep_a, buf, f->size + extra)
				    : hf_request_encode(&g_req_a, buf, f->size + extra);
		assert_int_equal(n, f->size);
		assert_memory_equal(buf, f->bytes, f->size);
	}
}

static void test_request_encode_small_cap(void **state)
{
	(void)state;
	struct samples s;
	request_samples(&s);
	for (uint32_t i = 0; i < s.count; i++)
		check_encode_caps(&s.items[i], 0);
	samples_free(&s);
}

static void test_reply_encode_small_cap(void **state)
{
	(void)state;
	struct samples s;
	reply_samples(&s);
	for (uint32_t i = 0; i < s.count; i++)
		check_encode_caps(&s.items[i], 1);
	samples_free(&s);
}

/* ---- The shard key ---- */

/* MurmurHash3's 64-bit finalizer, written out again from its published definition, so that a change
 * to the header's copy cannot pass unnoticed. */
static uint64_t ref_fmix64(uint64_t h)
{
	static const uint64_t mul[2] = {0xff51afd7ed558ccdull, 0xc4ceb9fe1a85ec53ull};
	for (int round = 0; round < 2; round++) {
		h ^= h >> 33;
		h *= mul[round];
	}
	h ^= h >> 33;
	return h;
}

static void test_hash_reference(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("hash_reference")};
	for (uint32_t i = 0; i < 100000; i++) {
		uint64_t id = i < 50000 ? i : rng_next(&r);
		uint64_t h = ref_fmix64(id);
		assert_int_equal(hf_hash64(id), h);
		assert_int_equal(hf_slot_of(id), h % 4096);
		assert_true(hf_slot_of(id) < HF_SLOTS_COUNT);
	}
}

/* The test vectors of docs/protocol.md: fixed forever. */
static void test_hash_pinned(void **state)
{
	(void)state;
	static const struct {
		uint64_t event_id;
		uint64_t hash;
		uint16_t slot;
	} vectors[] = {
	    {0, 0x0000000000000000ull, 0},
	    {1, 0xb456bcfc34c2cb2cull, 2860},
	    {2, 0x3abf2a20650683e7ull, 999},
	    {3, 0x0b5181c509f8d8ceull, 2254},
	    {42, 0x810879608e4259ccull, 2508},
	    {1000, 0xaf002c114878da41ull, 2625},
	    {4096, 0xc980945b89619d73ull, 3443},
	    {4294967296ull, 0xba3a9e160a5f1419ull, 1049},
	    {0x123456789abcdef0ull, 0x18b8c062f6f42398ull, 920},
	    {UINT64_MAX, 0x64b5720b4b825f21ull, 3873},
	};
	for (size_t i = 0; i < HF_ARRAY_SIZE(vectors); i++) {
		assert_int_equal(hf_hash64(vectors[i].event_id), vectors[i].hash);
		assert_int_equal(ref_fmix64(vectors[i].event_id), vectors[i].hash);
		assert_int_equal(hf_slot_of(vectors[i].event_id), vectors[i].slot);
	}
	assert_int_equal(hf_slot_of(1), 2860);
	assert_int_equal(hf_slot_of(42), 2508);
	assert_int_equal(HF_SLOTS_COUNT, 4096);
}

/* Sequential ids (the common case) spread evenly over the 4096 slots. */
static void test_slot_distribution(void **state)
{
	(void)state;
	enum { PER_SLOT = 64 };
	static uint32_t counts[HF_SLOTS_COUNT];
	for (int pass = 0; pass < 2; pass++) {
		memset(counts, 0, sizeof(counts));
		uint64_t base = pass == 0 ? 1 : 1000000000000ull;
		uint64_t stride =
		    pass == 0 ? 1 : 4096; /* a stride that a plain modulo would ruin */
		for (uint64_t i = 0; i < (uint64_t)PER_SLOT * HF_SLOTS_COUNT; i++)
			counts[hf_slot_of(base + i * stride)]++;
		double chi2 = 0;
		uint32_t min = UINT32_MAX, max = 0;
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
			double d = (double)counts[s] - PER_SLOT;
			chi2 += d * d / PER_SLOT;
			min = counts[s] < min ? counts[s] : min;
			max = counts[s] > max ? counts[s] : max;
		}
		printf("slot_distribution pass %d: min %u max %u chi2 %.0f (dof 4095)\n", pass, min,
		       max, chi2);
		/* 4095 degrees of freedom: mean 4095, sd ~90; 6 sd is far beyond chance. */
		assert_true(chi2 < 4095 + 6 * 90.5);
		assert_true(min >= PER_SLOT / 3);
		assert_true(max <= PER_SLOT * 2);
	}
}

/* ---- Names and tables ---- */

static const uint16_t all_statuses[] = {
    HF_OK,
    HF_ERR_MALFORMED,
    HF_ERR_VERSION,
    HF_ERR_OPCODE,
    HF_ERR_TOO_LARGE,
    HF_MOVED,
    HF_BUSY,
    HF_TRY_AGAIN,
    HF_ERR_INTERNAL,
    HF_ERR_IO,
    HF_ERR_INVALID,
    HF_ERR_CAPACITY,
    HF_NO_EVENT,
    HF_EVENT_EXISTS,
    HF_SEAT_RANGE,
    HF_SEAT_TAKEN,
    HF_NOT_ENOUGH,
    HF_USER_LIMIT,
    HF_NO_HOLD,
    HF_HOLD_EXPIRED,
    HF_HOLD_RELEASED,
    HF_ID_CONFLICT,
    HF_NO_BOOKING,
    HF_BOOKING_CANCELLED,
    HF_HOLD_CONFIRMED,
    HF_DUPLICATE_SEAT,
    HF_ORPHAN_SEAT,
    HF_UNAUTHORIZED,
    HF_FORBIDDEN,
    HF_RATE_LIMITED,
    HF_WATCHING,
    HF_NOT_ADMITTED,
    HF_NOT_IN_QUEUE,
    HF_ROOM_FULL,
    HF_NO_ROOM,
    HF_SOLD_OUT,
    HF_EVENT_HAS_HOLDS,
    HF_MOVE_STATE,
    HF_MOVE_FAILED,
    HF_REPL_FENCED, /* replication */
    HF_NOT_PRIMARY,
    HF_REPL_BEHIND,
};

static int status_is_defined(uint32_t v)
{
	for (size_t i = 0; i < HF_ARRAY_SIZE(all_statuses); i++) {
		if (all_statuses[i] == v)
			return 1;
	}
	return 0;
}

static void test_status_names(void **state)
{
	(void)state;
	/* The numbers are the wire values: pin them. */
	assert_int_equal(HF_ERR_CAPACITY, 11);
	assert_int_equal(HF_NO_EVENT, 16);
	assert_int_equal(HF_DUPLICATE_SEAT, 29);
	assert_int_equal(HF_ORPHAN_SEAT, 30);
	assert_int_equal(HF_UNAUTHORIZED, 40);
	assert_int_equal(HF_FORBIDDEN, 41);
	assert_int_equal(HF_RATE_LIMITED, 42);
	assert_int_equal(HF_WATCHING, 31);
	assert_int_equal(HF_NOT_ADMITTED, 43);
	assert_int_equal(HF_SOLD_OUT, 47);
	assert_int_equal(HF_ARRAY_SIZE(all_statuses), 42);
	assert_int_equal(HF_EVENT_HAS_HOLDS, 35);
	assert_int_equal(HF_MOVE_STATE, 36);
	assert_int_equal(HF_MOVE_FAILED, 37);
	assert_int_equal(HF_REPL_FENCED, 12);
	assert_int_equal(HF_NOT_PRIMARY, 13);
	for (size_t i = 0; i < HF_ARRAY_SIZE(all_statuses); i++) {
		const char *name = hf_status_name(all_statuses[i]);
		const char *msg = hf_status_message(all_statuses[i]);
		assert_string_not_equal(name, "UNKNOWN");
		assert_string_not_equal(msg, "unknown status");
		assert_true(strlen(name) > 0 && strlen(msg) > 0);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(name, hf_status_name(all_statuses[j]));
			assert_string_not_equal(msg, hf_status_message(all_statuses[j]));
		}
	}
	assert_string_equal(hf_status_name(HF_OK), "OK");
	assert_string_equal(hf_status_name(HF_SEAT_TAKEN), "SEAT_TAKEN");
	assert_string_equal(hf_status_name(HF_ERR_MALFORMED), "MALFORMED");
	for (uint32_t v = 0; v <= UINT16_MAX; v++) {
		if (status_is_defined(v))
			continue;
		assert_string_equal(hf_status_name((uint16_t)v), "UNKNOWN");
		assert_string_equal(hf_status_message((uint16_t)v), "unknown status");
		assert_false(hf_status_is_retryable((uint16_t)v));
	}
}

static void test_status_retryable(void **state)
{
	(void)state;
	for (size_t i = 0; i < HF_ARRAY_SIZE(all_statuses); i++) {
		uint16_t s = all_statuses[i];
		int want = s == HF_MOVED || s == HF_BUSY || s == HF_TRY_AGAIN || s == HF_ERR_IO ||
			   s == HF_RATE_LIMITED;
		assert_int_equal(hf_status_is_retryable(s), want);
	}
}

static void test_opcode_names(void **state)
{
	(void)state;
	static const struct {
		uint8_t op;
		const char *name;
		int is_write;
	} ops[] = {
	    {HF_OP_PING, "PING", 0},
	    {HF_OP_CREATE_EVENT, "CREATE_EVENT", 1},
	    {HF_OP_EVENT_INFO, "EVENT_INFO", 0},
	    {HF_OP_HOLD, "HOLD", 1},
	    {HF_OP_EXTEND, "EXTEND", 1},
	    {HF_OP_CONFIRM, "CONFIRM", 1},
	    {HF_OP_RELEASE, "RELEASE", 1},
	    {HF_OP_CANCEL, "CANCEL", 1},
	    {HF_OP_AVAIL, "AVAIL", 0},
	    {HF_OP_SEAT_STATUS, "SEAT_STATUS", 0},
	    {HF_OP_SLOT_MAP, "SLOT_MAP", 0},
	    {HF_OP_STATS, "STATS", 0},
	    {HF_OP_BACKUP, "BACKUP", 0},
	    {HF_OP_SEAT_INFO, "SEAT_INFO", 0},
	    {HF_OP_USER_HOLDS, "USER_HOLDS", 0},
	    {HF_OP_USER_BOOKINGS, "USER_BOOKINGS", 0},
	    {HF_OP_EVENT_SECTIONS, "EVENT_SECTIONS", 0},
	    {HF_OP_AUTH, "AUTH", 0},
	    {HF_OP_WATCH, "WATCH", 0},
	    {HF_OP_UNWATCH, "UNWATCH", 0},
	    {HF_OP_JOIN, "JOIN", 1},
	    {HF_OP_POSITION, "POSITION", 1},
	    {HF_OP_ROOM_SET, "ROOM_SET", 1},
	    {HF_OP_ROOM_INFO, "ROOM_INFO", 0},
	    {HF_OP_EVENT_DELETE, "EVENT_DELETE", 1},
	    {HF_OP_MOVE_COPY, "MOVE_COPY", 0},
	    {HF_OP_MOVE_EXPORT, "MOVE_EXPORT", 0},
	    {HF_OP_MOVE_FREEZE, "MOVE_FREEZE", 0},
	    {HF_OP_MOVE_PERSISTED, "MOVE_PERSISTED", 0},
	    {HF_OP_MOVE_DROP, "MOVE_DROP", 0},
	    {HF_OP_MOVE_UNFREEZE, "MOVE_UNFREEZE", 0},
	};
	assert_int_equal(HF_ARRAY_SIZE(ops), HF_ARRAY_SIZE(request_opcodes));
	for (size_t i = 0; i < HF_ARRAY_SIZE(ops); i++) {
		assert_int_equal(ops[i].op, request_opcodes[i]);
		assert_string_equal(hf_opcode_name(ops[i].op), ops[i].name);
		assert_int_equal(hf_opcode_is_write(ops[i].op), ops[i].is_write);
	}
	for (int op = 0; op < 256; op++) {
		if (opcode_is_known((uint8_t)op))
			continue;
		assert_string_equal(hf_opcode_name((uint8_t)op), "UNKNOWN");
		assert_false(hf_opcode_is_write((uint8_t)op));
	}
	char lower[16];
	assert_int_equal(hf_opcode_name_lower(HF_OP_SEAT_STATUS, lower, sizeof(lower)), 11);
	assert_string_equal(lower, "seat_status");
	assert_int_equal(hf_opcode_name_lower(0xff, lower, sizeof(lower)), 7);
	assert_string_equal(lower, "unknown");
	assert_int_equal(hf_opcode_name_lower(HF_OP_EVENT_SECTIONS, lower, 6), 5); /* bounded */
	assert_string_equal(lower, "event");
	assert_string_equal(hf_opcode_name(HF_OP_BATCH), "BATCH");
	assert_false(hf_opcode_is_write(HF_OP_BATCH));
	assert_int_equal(HF_OP_BACKUP, 0x20);
	assert_int_equal(HF_OP_STATS, 0x0c);
	assert_int_equal(HF_OP_BATCH, 0x10);
}

/* SEAT_INFO: the SEAT_STATUS entry followed by the owner's user id, byte for byte. */
static void test_reply_seat_info(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_SEAT_INFO, 1);
	g_rep_a.seat_info.seats_count = 1;
	g_rep_a.seat_info.seats[0].seat = 0x0a0b0c0d;
	g_rep_a.seat_info.seats[0].state = HF_SEAT_HELD;
	g_rep_a.seat_info.seats[0].owner_id = 0x0102030405060708ull;
	g_rep_a.seat_info.seats[0].user_id = 0x1112131415161718ull;
	size_t n =
	    reply_roundtrip(&g_rep_a, HF_REP_SEAT_STATUS_FIXED_SIZE + HF_REP_SEAT_INFO_ENTRY_SIZE);
	static const uint8_t want[28] = {1,    0,    0,	   0,	 0x0d, 0x0c, 0x0b, 0x0a, 1,    0,
					 0,    0,    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
					 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
	/* The same seats as SEAT_STATUS carry no user id: old clients see the old body. */
	g_rep_a.opcode = HF_OP_SEAT_STATUS;
	assert_int_equal(hf_reply_size(&g_rep_a), HF_FRAME_HEADER_SIZE +
						      HF_REP_SEAT_STATUS_FIXED_SIZE +
						      HF_REP_SEAT_ENTRY_SIZE);
	/* A SEAT_STATUS-sized body under SEAT_INFO is malformed. */
	n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
	g_frame[3] = HF_OP_SEAT_INFO;
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
}

/* USER_HOLDS / USER_BOOKINGS: the request's limit and ids, and the reply's counts. */
static void test_user_records(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_USER_HOLDS, 9);
	g_req_a.user_holds = (struct hf_req_user_records){.event_id = 0x0102030405060708ull,
							  .user_id = 5,
							  .cursor_seq = 6,
							  .cursor_id = 7,
							  .limit = 3};
	size_t n = request_roundtrip(&g_req_a, HF_REQ_USER_RECORDS_BODY_SIZE);
	static const uint8_t want[36] = {8, 7, 6, 5, 4, 3, 2, 1, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0,
					 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
	put32(g_frame + 24 + 32, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	put32(g_frame + 24 + 32, HF_USER_RECORDS_PAGE_MAX + 1);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 32, HF_USER_RECORDS_PAGE_MAX);
	assert_int_equal(decode_request_frame(n), HF_OK);
	put64(g_frame + 24, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	g_req_a.user_holds.limit = HF_USER_RECORDS_PAGE_MAX + 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);

	new_reply(&g_rep_a, HF_OP_USER_BOOKINGS, 2);
	struct hf_rep_user_records *u = &g_rep_a.user_bookings;
	u->next_seq = 11;
	u->next_id = 12;
	u->records_count = 2;
	u->records[0] = (struct hf_user_record){.id = 1, .created_ms = 2, .seats_count = 1};
	u->records[1] = (struct hf_user_record){.id = 3, .created_ms = 4, .seats_count = 2};
	u->records[1].seats[1] = 77;
	size_t body = HF_REP_USER_RECORDS_FIXED_SIZE + 2 * HF_REP_USER_RECORD_FIXED_SIZE + 3 * 4;
	n = reply_roundtrip(&g_rep_a, body);
	/* The second record's seats count: zero is malformed, past the limit too large, and a count
	 * that runs past the body malformed. */
	size_t count_at =
	    24 + HF_REP_USER_RECORDS_FIXED_SIZE + HF_REP_USER_RECORD_FIXED_SIZE + 4 + 3 * 8;
	put32(g_frame + count_at, 0);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + count_at, HF_HOLD_SEATS_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + count_at, 3);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	put32(g_frame + count_at, 2);
	assert_int_equal(decode_reply_frame(n), HF_OK);
	put32(g_frame + 24 + 16, HF_USER_RECORDS_PAGE_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + 24 + 16, 3);
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
}

/* CREATE_EVENT with sections: the 24-byte body, a u8 count, then the sections; and the decoder's
 * answers for a damaged list. */
static void test_request_create_event_sections(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 3);
	g_req_a.create_event.event_id = 9;
	g_req_a.create_event.seats_count = 100;
	g_req_a.create_event.sections_count = 1;
	g_req_a.create_event.sections[0] = (struct hf_section){
	    .name = "AB", .first = 0x10, .count = 0x20, .row_width = 4, .tier = 7};
	size_t n = request_roundtrip(&g_req_a, 24 + 1 + HF_SECTION_FIXED_SIZE + 2);
	static const uint8_t want[18] = {1, 0x10, 0, 0, 0, 0x20, 0, 0,	 0,
					 4, 0,	  0, 0, 7, 0,	 2, 'A', 'B'};
	expect_bytes(g_frame + 24 + 24, n - 24 - 24, want, sizeof(want));
	g_frame[24 + 24] = 0;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 24] = 2; /* a second section that is not there */
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 24] = 1;
	g_frame[24 + 24 + 15] = HF_SECTION_NAME_SIZE_MAX + 1;
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	g_frame[24 + 24 + 15] = 2;
	g_frame[24 + 24 + 16] = 0;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 24 + 16] = 'A';
	assert_int_equal(decode_request_frame(n), HF_OK);
	/* Byte 13 of a section is its kind: 0 seated, 1 general admission, others malformed. */
	g_frame[24 + 24 + 1 + 13] = HF_SECTION_GA;
	assert_int_equal(decode_request_frame(n), HF_OK);
	assert_int_equal(g_req_b.create_event.sections[0].kind, HF_SECTION_GA);
	g_frame[24 + 24 + 1 + 13] = 2;
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 24 + 1 + 13] = 0;
	/* More sections than the limit, with bytes for all of them. */
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 3);
	g_req_a.create_event.event_id = 9;
	g_req_a.create_event.seats_count = 100;
	g_req_a.create_event.sections_count = HF_EVENT_SECTIONS_MAX;
	for (uint32_t i = 0; i < HF_EVENT_SECTIONS_MAX; i++)
		strcpy(g_req_a.create_event.sections[i].name, "s");
	n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, 24 + 24 + 1 + HF_EVENT_SECTIONS_MAX * (HF_SECTION_FIXED_SIZE + 1));
	memcpy(g_frame + n, g_frame + n - (HF_SECTION_FIXED_SIZE + 1), HF_SECTION_FIXED_SIZE + 1);
	n += HF_SECTION_FIXED_SIZE + 1;
	set_body_size(g_frame, (uint32_t)(n - 24));
	g_frame[24 + 24] = HF_EVENT_SECTIONS_MAX + 1;
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
}

/* EVENT_SECTIONS reply: counts, sections with their free counts, tiers; tiers never outnumber
 * sections and their reserved field is zero. */
static void test_reply_event_sections(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_EVENT_SECTIONS, 4);
	struct hf_rep_event_sections *e = &g_rep_a.event_sections;
	e->sections_count = 1;
	e->tiers_count = 1;
	e->sections[0].section =
	    (struct hf_section){.name = "A", .first = 1, .count = 2, .row_width = 0, .tier = 3};
	e->sections[0].free_count = 2;
	e->tiers[0] = (struct hf_tier_avail){.tier = 3, .seats_count = 2, .free_count = 2};
	size_t body = 4 + HF_REP_SECTION_AVAIL_FIXED_SIZE + 1 + HF_REP_TIER_AVAIL_SIZE;
	size_t n = reply_roundtrip(&g_rep_a, body);
	static const uint8_t want[36] = {1, 0,	 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0,
					 1, 'A', 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
	expect_bytes(g_frame + 24, n - 24, want, sizeof(want));
	g_frame[24 + 2] = 2; /* two tiers, one section */
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 2] = 1;
	g_frame[24 + 26] = 1; /* reserved */
	assert_int_equal(decode_reply_frame(n), HF_ERR_MALFORMED);
	g_frame[24 + 26] = 0;
	put16(g_frame + 24, HF_EVENT_SECTIONS_MAX + 1);
	assert_int_equal(decode_reply_frame(n), HF_ERR_TOO_LARGE);
}

/* ---- WATCH_CHANGE (proto/watch.h) ---- */

/* Pushed change frames: every kind round-trips byte for byte at the documented offsets; a GAP
 * carries no seats; bad kinds, states, counts, sizes and reserved bytes are refused. */
static void test_watch_change(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("watch_change")};
	static struct hf_watch_change a, b;
	for (uint32_t iter = 0; iter < 500; iter++) {
		memset(&a, 0, sizeof(a));
		a.event_id = rng_id(&r);
		a.seq = rng_u64(&r);
		a.kind = (uint8_t)rng_range(&r, HF_WATCH_HELD, HF_WATCH_GAP);
		if (a.kind != HF_WATCH_GAP) {
			a.state = (uint8_t)rng_below(&r, 3);
			a.seats_count = rng_range(&r, 1, HF_HOLD_SEATS_MAX);
			a.hold_id = rng_id(&r);
			a.user_id = rng_u64(&r);
			a.deadline_ms = rng_u64(&r);
			for (uint32_t i = 0; i < a.seats_count; i++)
				a.seats[i] = rng_u32(&r);
		}
		uint64_t rid = rng_u64(&r);
		size_t n = hf_watch_change_encode(&a, rid, g_frame, sizeof(g_frame));
		assert_int_equal(n, HF_FRAME_HEADER_SIZE + HF_WATCH_CHANGE_FIXED_SIZE +
					4u * a.seats_count);
		assert_int_equal(hf_watch_change_encode(&a, rid, g_frame2, n - 1), 0);
		struct hf_frame_header h;
		assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
		assert_int_equal(h.opcode, HF_OP_WATCH_CHANGE);
		assert_int_equal(h.flags, HF_FLAG_REPLY);
		assert_int_equal(h.request_id, rid);
		const uint8_t *body = g_frame + HF_FRAME_HEADER_SIZE;
		assert_int_equal(hf_get_le64(body + 8), a.seq);
		assert_int_equal(body[16], a.kind);
		assert_int_equal(hf_get_le32(body + 20), a.seats_count);
		assert_int_equal(hf_get_le64(body + 24), a.hold_id);
		assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_OK);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	assert_string_equal(hf_watch_kind_name(HF_WATCH_GAP), "gap");
	assert_string_equal(hf_watch_kind_name(HF_WATCH_EXTENDED), "extended");
	assert_string_equal(hf_watch_kind_name(0), "unknown");
	/* A held change of 2 seats, then broken one field at a time. */
	memset(&a, 0, sizeof(a));
	a.event_id = 7;
	a.seq = 1;
	a.kind = HF_WATCH_HELD;
	a.state = HF_SEAT_HELD;
	a.seats_count = 2;
	size_t n = hf_watch_change_encode(&a, 9, g_frame, sizeof(g_frame));
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	uint8_t *body = g_frame + HF_FRAME_HEADER_SIZE;
	body[16] = 0;
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	body[16] = HF_WATCH_GAP; /* a GAP with seats */
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	body[16] = HF_WATCH_HELD;
	body[17] = 3;
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	body[17] = HF_SEAT_HELD;
	body[18] = 1;
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	body[18] = 0;
	put32(body + 20, HF_HOLD_SEATS_MAX + 1u);
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_TOO_LARGE);
	put32(body + 20, 3);
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	put32(body + 20, 2);
	h.body_size = HF_WATCH_CHANGE_FIXED_SIZE - 1u;
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_ERR_MALFORMED);
	h.body_size = (uint32_t)(n - HF_FRAME_HEADER_SIZE);
	assert_int_equal(hf_watch_change_decode(&h, body, &b), HF_OK);
}

/* ---- The opcode table ---- */

/* Every row agrees with the public functions derived from it and with the opcode ranges. */
static void test_op_table_rows(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("op_table_rows")};
	for (int op = 0; op < 256; op++) {
		const struct hf_op_info *info = hf_op_info((uint8_t)op);
		if (!opcode_is_known((uint8_t)op)) {
			assert_null(info);
			continue;
		}
		assert_non_null(info);
		if (op == HF_OP_BATCH)
			continue; /* test_batch_* */
		assert_int_equal(info->opcode, op);
		assert_string_equal(info->name, hf_opcode_name((uint8_t)op));
		assert_int_equal(info->writes, hf_opcode_is_write((uint8_t)op));
		assert_int_equal(info->admin, op >= HF_OP_ADMIN_FIRST && op <= HF_OP_ADMIN_LAST);
		assert_false(op >= HF_OP_BATCH_FIRST && op <= HF_OP_BATCH_LAST);
		/* A write is a store op: it is persisted by the shard that owns the event. */
		if (info->writes)
			assert_true(info->routed);
		/* The one routed admin opcode: EVENT_DELETE, an operator's write on one event. */
		assert_true(!(info->routed && info->admin) || op == HF_OP_EVENT_DELETE);
		assert_true(info->request_body_size_min <= info->request_body_size_max);
		assert_true(info->request_body_size_max <= HF_FRAME_BODY_SIZE_MAX);
		assert_true(info->reply_body_size_min <= info->reply_body_size_max);
		assert_true(info->reply_body_size_max <= HF_FRAME_BODY_SIZE_MAX);
		assert_non_null(info->request_check);
		assert_non_null(info->request_encode);
		assert_non_null(info->request_decode);
		assert_non_null(info->reply_encode);
		assert_non_null(info->reply_decode);
		/* Routed opcodes give their event id; the others give 0. */
		fill_request(&r, &scale_small, (uint8_t)op, &g_req_a);
		if (info->routed)
			assert_int_not_equal(hf_request_event_id(&g_req_a), 0);
		else
			assert_int_equal(hf_request_event_id(&g_req_a), 0);
		assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
	}
}

/* Bodies of every opcode, at random and at the edges of their counts: each encoding lies within its
 * row's declared bounds, decodes back to the same value and re-encodes to the same bytes. */
static void test_op_table_bounds(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("op_table_bounds")};
	for (size_t k = 0; k < HF_ARRAY_SIZE(request_opcodes); k++) {
		uint8_t op = request_opcodes[k];
		const struct hf_op_info *info = hf_op_info(op);
		assert_non_null(info);
		for (uint32_t iter = 0; iter < 200; iter++) {
			const struct scale *sc = iter % 2 ? &scale_full : &scale_small;
			fill_request(&r, sc, op, &g_req_a);
			size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
			assert_true(n >= HF_FRAME_HEADER_SIZE + info->request_body_size_min);
			assert_true(n <= HF_FRAME_HEADER_SIZE + info->request_body_size_max);
			request_roundtrip(&g_req_a, n - HF_FRAME_HEADER_SIZE);
			fill_reply(&r, sc, op, &g_rep_a);
			n = hf_reply_encode(&g_rep_a, g_frame, sizeof(g_frame));
			assert_true(n >= HF_FRAME_HEADER_SIZE + info->reply_body_size_min);
			assert_true(n <= HF_FRAME_HEADER_SIZE + info->reply_body_size_max);
			reply_roundtrip(&g_rep_a, n - HF_FRAME_HEADER_SIZE);
		}
	}
}

/* The largest bodies the limits allow reach exactly the declared maxima. */
static void test_op_table_maxima(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_HOLD, 1);
	g_req_a.hold = (struct hf_req_hold){.event_id = 1,
					    .hold_id = 2,
					    .ttl_ms = 3,
					    .mode = HF_HOLD_EXPLICIT,
					    .flags = HF_HOLD_FLAG_TOKEN,
					    .seats_count = HF_HOLD_SEATS_MAX};
	size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + hf_op_info(HF_OP_HOLD)->request_body_size_max);
	new_request(&g_req_a, HF_OP_SEAT_STATUS, 1);
	g_req_a.seat_status.event_id = 1;
	g_req_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
	n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, HF_FRAME_HEADER_SIZE +
				hf_op_info(HF_OP_SEAT_STATUS)->request_body_size_max);
	new_reply(&g_rep_a, HF_OP_SLOT_MAP, 1);
	fill_slot_map(&g_rep_a.slot_map, HF_SLOT_OWNERS_MAX, HF_HOST_SIZE_MAX);
	assert_int_equal(hf_reply_size(&g_rep_a),
			 HF_FRAME_HEADER_SIZE + hf_op_info(HF_OP_SLOT_MAP)->reply_body_size_max);
	new_reply(&g_rep_a, HF_OP_STATS, 1);
	char name[HF_STAT_NAME_SIZE_MAX + 1];
	memset(name, 's', HF_STAT_NAME_SIZE_MAX);
	name[HF_STAT_NAME_SIZE_MAX] = '\0';
	for (uint32_t i = 0; i < HF_STATS_MAX; i++)
		assert_int_equal(hf_stats_add(&g_rep_a.stats, name, i), 0);
	assert_int_equal(hf_reply_size(&g_rep_a),
			 HF_FRAME_HEADER_SIZE + hf_op_info(HF_OP_STATS)->reply_body_size_max);
	new_reply(&g_rep_a, HF_OP_AVAIL, 1);
	g_rep_a.avail.count = HF_AVAIL_RANGE_MAX;
	g_rep_a.avail.bitmap = g_bitmap;
	assert_int_equal(hf_reply_size(&g_rep_a),
			 HF_FRAME_HEADER_SIZE + hf_op_info(HF_OP_AVAIL)->reply_body_size_max);
}

/* hf_request_validate refuses exactly what the encoder would assert on. */
static void test_request_validate(void **state)
{
	(void)state;
	new_request(&g_req_a, 0x7f, 1);
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_OPCODE);
	new_request(&g_req_a, HF_OP_HOLD, 1);
	g_req_a.hold.seats_count = HF_HOLD_SEATS_MAX;
	assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
	g_req_a.hold.seats_count = HF_HOLD_SEATS_MAX + 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);
	g_req_a.hold.seats_count = 1;
	g_req_a.hold.mode = HF_HOLD_ANY + 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_INVALID);
	g_req_a.hold.mode = HF_HOLD_EXPLICIT;
	g_req_a.hold.scope = 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_INVALID);
	g_req_a.hold.scope = 0;
	g_req_a.hold.flags = 0x80;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_INVALID);
	g_req_a.hold.flags = 0;
	new_request(&g_req_a, HF_OP_CREATE_EVENT, 1);
	g_req_a.create_event.sections_count = HF_EVENT_SECTIONS_MAX + 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);
	g_req_a.create_event.sections_count = 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_INVALID); /* empty name */
	memset(g_req_a.create_event.sections[0].name, 'n', HF_SECTION_NAME_SIZE_MAX + 1);
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);
	g_req_a.create_event.sections[0].name[HF_SECTION_NAME_SIZE_MAX] = '\0';
	assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
	new_request(&g_req_a, HF_OP_SEAT_STATUS, 1);
	g_req_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX;
	assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
	g_req_a.seat_status.seats_count = HF_SEAT_STATUS_SEATS_MAX + 1;
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);
	new_request(&g_req_a, HF_OP_BACKUP, 1);
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_INVALID);
	memset(g_req_a.backup.path, 'p', sizeof(g_req_a.backup.path));
	assert_int_equal(hf_request_validate(&g_req_a), HF_ERR_TOO_LARGE);
	g_req_a.backup.path[HF_PATH_SIZE_MAX] = '\0';
	assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
	/* Zero ids are the server's to answer (HF_ERR_INVALID from the decoder), not the encoder's.
	 */
	new_request(&g_req_a, HF_OP_CONFIRM, 1);
	assert_int_equal(hf_request_validate(&g_req_a), HF_OK);
}

/* The request id sits at HF_FRAME_REQUEST_ID_OFFSET, where a client patches it in place. */
static void test_frame_request_id_offset(void **state)
{
	(void)state;
	new_request(&g_req_a, HF_OP_PING, 0x1122334455667788ull);
	size_t n = hf_request_encode(&g_req_a, g_frame, sizeof(g_frame));
	assert_int_equal(n, HF_FRAME_HEADER_SIZE);
	uint8_t want[8];
	put64(want, 0x1122334455667788ull);
	assert_memory_equal(g_frame + HF_FRAME_REQUEST_ID_OFFSET, want, 8);
	put64(g_frame + HF_FRAME_REQUEST_ID_OFFSET, 42);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	assert_int_equal(h.request_id, 42);
}

static void test_stats_add(void **state)
{
	(void)state;
	new_reply(&g_rep_a, HF_OP_STATS, 1);
	assert_int_equal(hf_stats_add(&g_rep_a.stats, "", 1), -1);
	char name[HF_STAT_NAME_SIZE_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[HF_STAT_NAME_SIZE_MAX + 1] = '\0';
	assert_int_equal(hf_stats_add(&g_rep_a.stats, name, 1), -1);
	name[HF_STAT_NAME_SIZE_MAX] = '\0';
	for (uint32_t i = 0; i < HF_STATS_MAX; i++)
		assert_int_equal(hf_stats_add(&g_rep_a.stats, name, i), 0);
	assert_int_equal(hf_stats_add(&g_rep_a.stats, "one_more", 1), -1);
	assert_int_equal(g_rep_a.stats.stats_count, HF_STATS_MAX);
	assert_int_equal(g_rep_a.stats.stats[HF_STATS_MAX - 1].value, HF_STATS_MAX - 1);
	reply_roundtrip(&g_rep_a, 2 + HF_STATS_MAX * (1 + HF_STAT_NAME_SIZE_MAX + 8));
}

/* ---- Random and mutated frames ---- */

struct fuzz_counts {
	uint64_t frames;
	uint64_t header_ok;
	uint64_t request_ok;
	uint64_t reply_ok;
	uint64_t request_status[32];
	uint64_t reply_status[32];
};

/* Interesting values for a mutated field. */
static uint32_t fuzz_interesting(struct rng *r)
{
	static const uint32_t values[] = {
	    0,
	    1,
	    2,
	    7,
	    8,
	    9,
	    HF_HOLD_SEATS_MAX,
	    HF_HOLD_SEATS_MAX + 1,
	    HF_SEAT_STATUS_SEATS_MAX,
	    HF_SEAT_STATUS_SEATS_MAX + 1,
	    HF_SLOT_OWNERS_MAX,
	    HF_SLOT_OWNERS_MAX + 1,
	    HF_HOST_SIZE_MAX,
	    HF_HOST_SIZE_MAX + 1,
	    HF_STATS_MAX,
	    HF_STATS_MAX + 1,
	    HF_STAT_NAME_SIZE_MAX,
	    HF_STAT_NAME_SIZE_MAX + 1,
	    HF_SLOTS_COUNT,
	    HF_PATH_SIZE_MAX,
	    HF_PATH_SIZE_MAX + 1,
	    HF_AVAIL_RANGE_MAX,
	    HF_AVAIL_RANGE_MAX + 1,
	    0x7f,
	    0x80,
	    0xff,
	    0x7fff,
	    0x8000,
	    0xffff,
	    0x7fffffffu,
	    0x80000000u,
	    UINT32_MAX,
	};
	return values[rng_below(r, HF_ARRAY_SIZE(values))];
}

/* Mutates the frame in place; returns its new size (<= cap). */
static size_t fuzz_mutate(struct rng *r, uint8_t *buf, size_t size, size_t cap,
			  const struct samples *corpus)
{
	size_t body = size - HF_FRAME_HEADER_SIZE;
	switch (rng_below(r, 12)) {
	case 0: /* flip one bit anywhere, header included */
		buf[rng_below(r, (uint32_t)size)] ^= (uint8_t)(1u << rng_below(r, 8));
		break;
	case 1: /* a random byte in the body */
	case 2:
		if (body > 0)
			buf[24 + rng_below(r, (uint32_t)body)] = (uint8_t)rng_next(r);
		break;
	case 3: { /* an interesting u8/u16/u32 at any body offset */
		uint32_t width = 1u << rng_below(r, 3);
		if (body >= width) {
			uint32_t at = 24 + rng_below(r, (uint32_t)(body - width + 1));
			uint32_t v = fuzz_interesting(r);
			for (uint32_t i = 0; i < width; i++)
				buf[at + i] = (uint8_t)(v >> (8 * i));
		}
		break;
	}
	case 4: /* truncate */
		size = HF_FRAME_HEADER_SIZE + rng_below(r, (uint32_t)body + 1);
		break;
	case 5: { /* append */
		size_t add = 1 + rng_below(r, 16);
		if (size + add <= cap) {
			for (size_t i = 0; i < add; i++)
				buf[size + i] = rng_below(r, 2) ? 0 : (uint8_t)rng_next(r);
			size += add;
		}
		break;
	}
	case 6: /* another opcode */
		buf[3] = rng_below(r, 4)
			     ? request_opcodes[rng_below(r, HF_ARRAY_SIZE(request_opcodes))]
			     : (uint8_t)rng_next(r);
		break;
	case 7: /* request <-> reply */
		buf[4] ^= HF_FLAG_REPLY;
		break;
	case 8: /* status */
		put16(buf + 6,
		      rng_below(r, 4) ? (uint16_t)rng_below(r, 32) : (uint16_t)rng_next(r));
		break;
	case 9: { /* insert or delete 1..8 bytes in the body */
		size_t n = 1 + rng_below(r, 8);
		size_t at = 24 + rng_below(r, (uint32_t)body + 1);
		if (rng_below(r, 2)) {
			if (size + n <= cap) {
				memmove(buf + at + n, buf + at, size - at);
				memset(buf + at, 0, n);
				size += n;
			}
		} else if (at + n <= size) {
			memmove(buf + at, buf + at + n, size - at - n);
			size -= n;
		}
		break;
	}
	default: { /* splice: the body of another frame under this header */
		const struct sample *o = &corpus->items[rng_below(r, corpus->count)];
		if (o->size <= cap) {
			memcpy(buf + 24, o->bytes + 24, o->size - 24);
			size = o->size;
		}
		break;
	}
	}
	return size;
}

static void fuzz_one(const uint8_t *frame, size_t size, struct fuzz_counts *c)
{
	c->frames++;
	if (size < HF_FRAME_HEADER_SIZE)
		return;
	struct hf_frame_header h;
	enum hf_status st = hf_frame_header_decode(frame, &h);
	assert_true(st == HF_OK || st == HF_ERR_MALFORMED || st == HF_ERR_VERSION ||
		    st == HF_ERR_TOO_LARGE);
	if (st != HF_OK)
		return;
	c->header_ok++;
	if (h.body_size > size - HF_FRAME_HEADER_SIZE)
		return; /* a stream reader would wait for more bytes */
	const uint8_t *body = place_input(frame + HF_FRAME_HEADER_SIZE, h.body_size);
	size_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;

	st = hf_request_decode(&h, body, &g_req_b);
	assert_int_equal(g_req_b.opcode, h.opcode);
	assert_int_equal(g_req_b.request_id, h.request_id);
	assert_true(st == HF_OK || st == HF_ERR_MALFORMED || st == HF_ERR_OPCODE ||
		    st == HF_ERR_TOO_LARGE || st == HF_ERR_INVALID);
	c->request_status[st]++;
	if (st == HF_OK) {
		c->request_ok++;
		size_t n = hf_request_encode(&g_req_b, g_frame2, sizeof(g_frame2));
		assert_int_equal(n, frame_size);
		assert_memory_equal(g_frame2, frame, frame_size);
	}

	st = hf_reply_decode(&h, body, &g_rep_b);
	assert_int_equal(g_rep_b.opcode, h.opcode);
	assert_int_equal(g_rep_b.status, h.status);
	assert_int_equal(g_rep_b.request_id, h.request_id);
	assert_true(st == HF_OK || st == HF_ERR_MALFORMED || st == HF_ERR_OPCODE ||
		    st == HF_ERR_TOO_LARGE);
	c->reply_status[st]++;
	if (st == HF_OK) {
		c->reply_ok++;
		assert_int_equal(hf_reply_size(&g_rep_b), frame_size);
		size_t n = hf_reply_encode(&g_rep_b, g_frame2, sizeof(g_frame2));
		assert_int_equal(n, frame_size);
		assert_memory_equal(g_frame2, frame, frame_size);
	}
}

static void test_random_decode(void **state)
{
	(void)state;
	uint64_t seed = seed_from_env("random_decode");
	struct rng r = {seed};
	uint64_t iterations = FUZZ_ITERATIONS_DEFAULT;
	const char *env = getenv("HF_PROTO_FUZZ_ITERATIONS");
	if (env != NULL && env[0] != '\0')
		iterations = strtoull(env, NULL, 0);

	/* The corpus: valid frames of every opcode, both directions, small (plus the fixed samples,
	 * limits included, which are picked less often). */
	static struct samples corpus;
	corpus.count = 0;
	while (corpus.count < SAMPLES_MAX - 8) {
		uint8_t op = request_opcodes[rng_below(&r, HF_ARRAY_SIZE(request_opcodes))];
		switch (rng_below(&r, 3)) {
		case 0:
			fill_request(&r, &scale_small, op, &g_req_a);
			add_request(&corpus, &g_req_a);
			break;
		case 1:
			fill_reply(&r, &scale_small, op, &g_rep_a);
			add_reply(&corpus, &g_rep_a);
			break;
		default:
			fill_error_reply(&r, &g_rep_a);
			add_reply(&corpus, &g_rep_a);
		}
	}
	struct samples limits_req, limits_rep;
	request_samples(&limits_req);
	reply_samples(&limits_rep);

	static uint8_t buf[FUZZ_FRAME_SIZE_MAX];
	static struct fuzz_counts counts;
	memset(&counts, 0, sizeof(counts));
	for (uint64_t iter = 0; iter < iterations; iter++) {
		size_t size;
		uint32_t kind = rng_below(&r, 16);
		if (kind == 0) {
			/* Random bytes, half of them behind a plausible header. */
			size = rng_below(&r, 96);
			for (size_t i = 0; i < size; i++)
				buf[i] = (uint8_t)rng_next(&r);
			if (size >= HF_FRAME_HEADER_SIZE && rng_below(&r, 2)) {
				struct hf_frame_header h = {
				    .magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = rng_below(&r, 2)
						  ? request_opcodes[rng_below(
							&r, HF_ARRAY_SIZE(request_opcodes))]
						  : (uint8_t)rng_next(&r),
				    .flags = (uint16_t)rng_below(&r, 2),
				    .status = rng_below(&r, 2) ? 0 : (uint16_t)rng_below(&r, 32),
				    .request_id = rng_next(&r),
				    .body_size = (uint32_t)(size - HF_FRAME_HEADER_SIZE),
				    .reserved = 0,
				};
				hf_frame_header_encode(buf, &h);
			}
		} else {
			const struct samples *from = &corpus;
			if (kind == 1)
				from = rng_below(&r, 2) ? &limits_req : &limits_rep;
			const struct sample *f = &from->items[rng_below(&r, from->count)];
			if (f->size > sizeof(buf) - 64)
				continue;
			memcpy(buf, f->bytes, f->size);
			size = f->size;
			uint32_t mutations = 1 + rng_below(&r, 4);
			for (uint32_t m = 0; m < mutations; m++)
				size = fuzz_mutate(&r, buf, size, sizeof(buf), &corpus);
			/* Mostly keep the header's body_size honest, so the body decoders get the
			 * mutated bytes. */
			if (rng_below(&r, 16) != 0)
				set_body_size(buf, (uint32_t)(size - HF_FRAME_HEADER_SIZE));
		}
		fuzz_one(buf, size, &counts);
	}
	printf("random_decode: %" PRIu64 " frames, %" PRIu64 " headers ok, %" PRIu64
	       " requests ok, %" PRIu64 " replies ok\n",
	       counts.frames, counts.header_ok, counts.request_ok, counts.reply_ok);
	printf("random_decode: request MALFORMED %" PRIu64 " OPCODE %" PRIu64 " TOO_LARGE %" PRIu64
	       " INVALID %" PRIu64 "; reply MALFORMED %" PRIu64 " OPCODE %" PRIu64
	       " TOO_LARGE %" PRIu64 "\n",
	       counts.request_status[HF_ERR_MALFORMED], counts.request_status[HF_ERR_OPCODE],
	       counts.request_status[HF_ERR_TOO_LARGE], counts.request_status[HF_ERR_INVALID],
	       counts.reply_status[HF_ERR_MALFORMED], counts.reply_status[HF_ERR_OPCODE],
	       counts.reply_status[HF_ERR_TOO_LARGE]);
	if (iterations >= 10000) {
		/* The mutations reach the deep checks, not only the header. */
		assert_true(counts.request_ok > iterations / 100);
		assert_true(counts.reply_ok > iterations / 100);
		assert_true(counts.request_status[HF_ERR_TOO_LARGE] > 0);
		assert_true(counts.reply_status[HF_ERR_TOO_LARGE] > 0);
		assert_true(counts.request_status[HF_ERR_INVALID] > 0);
	}
	samples_free(&corpus);
	samples_free(&limits_req);
	samples_free(&limits_rep);
}

/* ---- BATCH ---- */

/* Goal: BATCH request entries round-trip: each entry, walked with hf_batch_next and decoded with
 * hf_request_decode, is the request that was encoded. Method: random batchable requests (every
 * batchable opcode) encoded as entries, framed, decoded, walked and compared field by field
 * through their re-encoding; the seed is printed. */
static void test_batch_request_roundtrip(void **state)
{
	(void)state;
	struct rng r = {seed_from_env("batch_request_roundtrip")};
	static const uint8_t ops[] = {HF_OP_CREATE_EVENT, HF_OP_EVENT_INFO, HF_OP_HOLD,
				      HF_OP_EXTEND,	  HF_OP_CONFIRM,    HF_OP_RELEASE,
				      HF_OP_CANCEL};
	static uint8_t entries[HF_FRAME_BODY_SIZE_MAX];
	static uint8_t one[HF_FRAME_SIZE_MAX];
	static struct hf_request sub[HF_BATCH_OPS_MAX];
	for (int round = 0; round < 50; round++) {
		uint32_t count = 1u + (uint32_t)(rng_next(&r) % HF_BATCH_OPS_MAX);
		uint32_t size = 0;
		for (uint32_t i = 0; i < count; i++) {
			fill_request(&r, &scale_small, ops[rng_next(&r) % sizeof(ops)], &sub[i]);
			sub[i].request_id = 1000u + i;
			size_t n =
			    hf_batch_entry_encode(&sub[i], entries + size, sizeof(entries) - size);
			assert_true(n >= HF_BATCH_ENTRY_HEADER_SIZE);
			size += (uint32_t)n;
		}
		struct hf_request batch = {.opcode = HF_OP_BATCH, .request_id = 7};
		batch.batch.ops_count = (uint16_t)count;
		batch.batch.entries = entries;
		batch.batch.entries_size = size;
		assert_int_equal(hf_request_validate(&batch), HF_OK);
		size_t frame = hf_request_encode(&batch, g_frame, sizeof(g_frame));
		assert_int_equal(frame, HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE + size);
		assert_int_equal(decode_request_frame(frame), HF_OK);
		assert_int_equal(g_req_b.batch.ops_count, count);
		uint32_t off = 0;
		struct hf_frame_header h;
		const uint8_t *body;
		for (uint32_t i = 0; i < count; i++) {
			assert_int_equal(hf_batch_next(g_req_b.batch.entries,
						       g_req_b.batch.entries_size, &off, 0, &h,
						       &body),
					 1);
			assert_int_equal(h.opcode, sub[i].opcode);
			assert_int_equal(h.request_id, sub[i].request_id);
			struct hf_request got;
			assert_int_equal(hf_request_decode(&h, body, &got), HF_OK);
			/* Same request: same bytes when encoded alone. */
			size_t a = hf_request_encode(&got, one, sizeof(one));
			static uint8_t want[HF_FRAME_SIZE_MAX];
			size_t b = hf_request_encode(&sub[i], want, sizeof(want));
			assert_int_equal(a, b);
			assert_memory_equal(one, want, a);
		}
		assert_int_equal(hf_batch_next(g_req_b.batch.entries, g_req_b.batch.entries_size,
					       &off, 0, &h, &body),
				 0);
	}
}

/* Goal: the BATCH decoder refuses every framing error and nothing else. Method: a valid
 * two-entry batch, then one defect at a time: zero count, count past HF_BATCH_OPS_MAX, reserved
 * bytes set, an entry longer than the body, a count that disagrees with the entries, trailing
 * bytes, every proper prefix. */
static void test_batch_request_framing(void **state)
{
	(void)state;
	uint8_t entries[256];
	struct hf_request a = {.opcode = HF_OP_EVENT_INFO, .request_id = 11};
	a.event_info.event_id = 5;
	struct hf_request b = {.opcode = HF_OP_RELEASE, .request_id = 12};
	b.release.event_id = 5;
	b.release.hold_id = 9;
	size_t n1 = hf_batch_entry_encode(&a, entries, sizeof(entries));
	size_t n2 = hf_batch_entry_encode(&b, entries + n1, sizeof(entries) - n1);
	assert_int_equal(n1, HF_BATCH_ENTRY_HEADER_SIZE + 8u);
	assert_int_equal(n2, HF_BATCH_ENTRY_HEADER_SIZE + 16u);
	struct hf_request batch = {.opcode = HF_OP_BATCH, .request_id = 3};
	batch.batch.ops_count = 2;
	batch.batch.entries = entries;
	batch.batch.entries_size = (uint32_t)(n1 + n2);
	size_t frame = hf_request_encode(&batch, g_frame, sizeof(g_frame));
	assert_int_equal(decode_request_frame(frame), HF_OK);
	static uint8_t good[512];
	memcpy(good, g_frame, frame);
	const uint32_t body = HF_FRAME_HEADER_SIZE;
	/* Every proper prefix is refused (the header says the shorter size). */
	for (size_t len = HF_FRAME_HEADER_SIZE; len < frame; len++) {
		memcpy(g_frame, good, len);
		put32(g_frame + 16, (uint32_t)(len - HF_FRAME_HEADER_SIZE));
		assert_int_not_equal(decode_request_frame(len), HF_OK);
	}
	struct {
		uint32_t at;
		uint8_t value;
		enum hf_status want;
	} defects[] = {
	    {body + 0, 0, HF_ERR_INVALID},			     /* count 0 */
	    {body + 0, 3, HF_ERR_MALFORMED},			     /* count 3, two entries */
	    {body + 0, 1, HF_ERR_MALFORMED},			     /* count 1, bytes left */
	    {body + 2, 1, HF_ERR_MALFORMED},			     /* reserved u16 */
	    {body + 4, 1, HF_ERR_MALFORMED},			     /* reserved u32 */
	    {body + HF_BATCH_FIXED_SIZE + 1, 1, HF_ERR_MALFORMED},   /* entry reserved u8 */
	    {body + HF_BATCH_FIXED_SIZE + 2, 1, HF_ERR_MALFORMED},   /* entry reserved u16 */
	    {body + HF_BATCH_FIXED_SIZE + 4, 200, HF_ERR_MALFORMED}, /* entry too long */
	    {body + HF_BATCH_FIXED_SIZE + 4, 4, HF_ERR_MALFORMED},   /* entry too short */
	};
	for (size_t i = 0; i < HF_ARRAY_SIZE(defects); i++) {
		memcpy(g_frame, good, frame);
		g_frame[defects[i].at] = defects[i].value;
		assert_int_equal(decode_request_frame(frame), defects[i].want);
	}
	/* A count past the limit is TOO_LARGE, whatever follows. */
	memcpy(g_frame, good, frame);
	put16(g_frame + body, HF_BATCH_OPS_MAX + 1u);
	assert_int_equal(decode_request_frame(frame), HF_ERR_TOO_LARGE);
	/* An entry with an opcode that may not be batched still frames: the server answers it. */
	memcpy(g_frame, good, frame);
	g_frame[body + HF_BATCH_FIXED_SIZE] = HF_OP_PING;
	assert_int_equal(decode_request_frame(frame), HF_OK);
	/* The encoder's contract. */
	batch.batch.ops_count = 0;
	assert_int_equal(hf_request_validate(&batch), HF_ERR_INVALID);
	batch.batch.ops_count = HF_BATCH_OPS_MAX + 1u;
	assert_int_equal(hf_request_validate(&batch), HF_ERR_TOO_LARGE);
	batch.batch.ops_count = 3;
	assert_int_equal(hf_request_validate(&batch), HF_ERR_INVALID);
}

/* Goal: reply entries carry each op's own status and body, and the largest BATCH reply fits its
 * bound. Method: OK and error replies of every batchable opcode encoded as entries, framed,
 * decoded and walked; a full batch of the largest HOLD replies measured against
 * HF_BATCH_REPLY_BODY_MAX. */
static void test_batch_reply_entries(void **state)
{
	(void)state;
	static uint8_t entries[HF_FRAME_BODY_SIZE_MAX];
	uint32_t size = 0;
	struct hf_reply rep;
	memset(&rep, 0, sizeof(rep));
	rep.opcode = HF_OP_HOLD;
	rep.request_id = 21;
	rep.hold.hold_id = 77;
	rep.hold.deadline_ms = 123456;
	rep.hold.seats_count = HF_HOLD_SEATS_MAX;
	for (uint32_t i = 0; i < HF_HOLD_SEATS_MAX; i++)
		rep.hold.seats[i] = i * 3u;
	for (uint32_t i = 0; i < HF_BATCH_OPS_MAX; i++) {
		size_t n =
		    hf_batch_reply_entry_encode(&rep, entries + size, sizeof(entries) - size);
		assert_int_equal(n, HF_BATCH_ENTRY_HEADER_SIZE + HF_BATCH_ENTRY_REPLY_BODY_MAX);
		size += (uint32_t)n;
	}
	assert_int_equal(HF_BATCH_FIXED_SIZE + size, HF_BATCH_REPLY_BODY_MAX);
	/* Now a mixed reply: the HOLD, a SEAT_TAKEN and an empty RELEASE. */
	size = 0;
	size += (uint32_t)hf_batch_reply_entry_encode(&rep, entries, sizeof(entries));
	struct hf_reply err = {.opcode = HF_OP_HOLD, .status = HF_SEAT_TAKEN, .request_id = 22};
	err.detail = 42;
	size += (uint32_t)hf_batch_reply_entry_encode(&err, entries + size, sizeof(entries) - size);
	struct hf_reply rel = {.opcode = HF_OP_RELEASE, .status = HF_OK, .request_id = 23};
	size += (uint32_t)hf_batch_reply_entry_encode(&rel, entries + size, sizeof(entries) - size);
	struct hf_reply batch = {.opcode = HF_OP_BATCH, .status = HF_OK, .request_id = 20};
	batch.batch.ops_count = 3;
	batch.batch.entries = entries;
	batch.batch.entries_size = size;
	size_t frame = hf_reply_encode(&batch, g_frame, sizeof(g_frame));
	assert_int_equal(frame, hf_reply_size(&batch));
	assert_int_equal(decode_reply_frame(frame), HF_OK);
	uint32_t off = 0;
	struct hf_frame_header h;
	const uint8_t *body;
	struct hf_reply got;
	assert_int_equal(
	    hf_batch_next(g_rep_b.batch.entries, g_rep_b.batch.entries_size, &off, 1, &h, &body),
	    1);
	assert_int_equal(hf_reply_decode(&h, body, &got), HF_OK);
	assert_int_equal(got.status, HF_OK);
	assert_int_equal(got.request_id, 21);
	assert_int_equal(got.hold.hold_id, 77);
	assert_int_equal(got.hold.seats_count, HF_HOLD_SEATS_MAX);
	assert_int_equal(got.hold.seats[5], 15);
	assert_int_equal(
	    hf_batch_next(g_rep_b.batch.entries, g_rep_b.batch.entries_size, &off, 1, &h, &body),
	    1);
	assert_int_equal(hf_reply_decode(&h, body, &got), HF_OK);
	assert_int_equal(got.status, HF_SEAT_TAKEN);
	assert_int_equal(got.detail, 42);
	assert_int_equal(
	    hf_batch_next(g_rep_b.batch.entries, g_rep_b.batch.entries_size, &off, 1, &h, &body),
	    1);
	assert_int_equal(hf_reply_decode(&h, body, &got), HF_OK);
	assert_int_equal(got.opcode, HF_OP_RELEASE);
	assert_int_equal(got.request_id, 23);
	assert_int_equal(
	    hf_batch_next(g_rep_b.batch.entries, g_rep_b.batch.entries_size, &off, 1, &h, &body),
	    0);
	/* Every batchable op's largest reply fits an entry. */
	for (int op = 0; op < 256; op++) {
		if (!hf_opcode_is_batchable((uint8_t)op))
			continue;
		const struct hf_op_info *info = hf_op_info((uint8_t)op);
		assert_non_null(info);
		assert_true(info->routed);
		assert_true(info->reply_body_size_max <= HF_BATCH_ENTRY_REPLY_BODY_MAX);
	}
	assert_false(hf_opcode_is_batchable(HF_OP_BATCH));
	assert_false(hf_opcode_is_batchable(HF_OP_AVAIL));
}

/* Goal: CREATE_EVENT's rate limit (version 3 of the body) round-trips with and without sections,
 * old bodies still decode with no limit, and every bad rate is refused with its status. Method:
 * hand-checked sizes and byte patches on encoded frames. */
static void test_create_event_rate(void **state)
{
	(void)state;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CREATE_EVENT;
	req.request_id = 5;
	req.create_event.event_id = 9;
	req.create_event.seats_count = 100;
	size_t plain = hf_request_encode(&req, g_frame, sizeof(g_frame));
	assert_int_equal(plain, HF_FRAME_HEADER_SIZE + HF_REQ_CREATE_EVENT_BODY_SIZE);
	assert_int_equal(decode_request_frame(plain), HF_OK);
	assert_int_equal(g_req_b.create_event.user_rate, 0);
	req.create_event.user_rate = 5;
	req.create_event.user_burst = 10;
	size_t n = hf_request_encode(&req, g_frame, sizeof(g_frame));
	/* No sections: an empty section count, then rate and burst. */
	assert_int_equal(n, plain + 1u + 8u);
	assert_int_equal(decode_request_frame(n), HF_OK);
	assert_int_equal(g_req_b.create_event.sections_count, 0);
	assert_int_equal(g_req_b.create_event.user_rate, 5);
	assert_int_equal(g_req_b.create_event.user_burst, 10);
	/* An empty section count without the rate is malformed, and so is a short rate. */
	put32(g_frame + 16, HF_REQ_CREATE_EVENT_BODY_SIZE + 1u);
	assert_int_equal(decode_request_frame(plain + 1u), HF_ERR_MALFORMED);
	put32(g_frame + 16, HF_REQ_CREATE_EVENT_BODY_SIZE + 1u + 4u);
	assert_int_equal(decode_request_frame(plain + 5u), HF_ERR_MALFORMED);
	/* With sections. */
	req.create_event.sections_count = 1;
	strcpy(req.create_event.sections[0].name, "floor");
	req.create_event.sections[0].first = 0;
	req.create_event.sections[0].count = 10;
	n = hf_request_encode(&req, g_frame, sizeof(g_frame));
	assert_int_equal(decode_request_frame(n), HF_OK);
	assert_int_equal(g_req_b.create_event.sections_count, 1);
	assert_int_equal(g_req_b.create_event.user_rate, 5);
	/* Rate past its limit; a burst without a rate. */
	req.create_event.user_rate = HF_USER_RATE_MAX + 1u;
	assert_int_equal(hf_request_validate(&req), HF_ERR_TOO_LARGE);
	req.create_event.user_rate = 5;
	n = hf_request_encode(&req, g_frame, sizeof(g_frame));
	put32(g_frame + n - 8u, HF_USER_RATE_MAX + 1u);
	assert_int_equal(decode_request_frame(n), HF_ERR_TOO_LARGE);
	put32(g_frame + n - 8u, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_INVALID);
	/* A rate block of two zeros is never written (it would not re-encode): MALFORMED. */
	put32(g_frame + n - 4u, 0);
	assert_int_equal(decode_request_frame(n), HF_ERR_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_layout),
	    cmocka_unit_test(test_header_bad_magic),
	    cmocka_unit_test(test_header_bad_version),
	    cmocka_unit_test(test_header_unknown_flags),
	    cmocka_unit_test(test_header_reserved),
	    cmocka_unit_test(test_header_body_size),
	    cmocka_unit_test(test_request_empty_bodies),
	    cmocka_unit_test(test_request_create_event),
	    cmocka_unit_test(test_room_bodies),
	    cmocka_unit_test(test_request_event_info),
	    cmocka_unit_test(test_wire_hold_example),
	    cmocka_unit_test(test_request_hold_explicit),
	    cmocka_unit_test(test_request_hold_best),
	    cmocka_unit_test(test_request_extend_and_refs),
	    cmocka_unit_test(test_request_avail),
	    cmocka_unit_test(test_request_seat_status),
	    cmocka_unit_test(test_request_backup),
	    cmocka_unit_test(test_request_random_roundtrip),
	    cmocka_unit_test(test_reply_small_bodies),
	    cmocka_unit_test(test_reply_event_info),
	    cmocka_unit_test(test_reply_hold_and_confirm),
	    cmocka_unit_test(test_reply_avail),
	    cmocka_unit_test(test_reply_seat_status),
	    cmocka_unit_test(test_reply_slot_map),
	    cmocka_unit_test(test_reply_stats),
	    cmocka_unit_test(test_reply_errors),
	    cmocka_unit_test(test_reply_random_roundtrip),
	    cmocka_unit_test(test_request_reply_flag_or_status),
	    cmocka_unit_test(test_request_unknown_opcodes),
	    cmocka_unit_test(test_request_truncated),
	    cmocka_unit_test(test_request_trailing),
	    cmocka_unit_test(test_request_hold_counts),
	    cmocka_unit_test(test_request_hold_mode_and_reserved),
	    cmocka_unit_test(test_request_counts_over_limits),
	    cmocka_unit_test(test_request_zero_fields),
	    cmocka_unit_test(test_request_create_event_lifetime),
	    cmocka_unit_test(test_request_backup_path),
	    cmocka_unit_test(test_reply_without_reply_flag),
	    cmocka_unit_test(test_reply_unknown_opcodes),
	    cmocka_unit_test(test_batch_request_roundtrip),
	    cmocka_unit_test(test_create_event_rate),
	    cmocka_unit_test(test_batch_request_framing),
	    cmocka_unit_test(test_batch_reply_entries),
	    cmocka_unit_test(test_reply_truncated),
	    cmocka_unit_test(test_reply_trailing),
	    cmocka_unit_test(test_reply_error_body_size),
	    cmocka_unit_test(test_reply_hold_counts),
	    cmocka_unit_test(test_reply_event_info_reserved),
	    cmocka_unit_test(test_reply_avail_bad),
	    cmocka_unit_test(test_reply_seat_status_bad),
	    cmocka_unit_test(test_reply_slot_map_bad),
	    cmocka_unit_test(test_reply_stats_bad),
	    cmocka_unit_test(test_request_encode_small_cap),
	    cmocka_unit_test(test_reply_encode_small_cap),
	    cmocka_unit_test(test_hash_reference),
	    cmocka_unit_test(test_hash_pinned),
	    cmocka_unit_test(test_slot_distribution),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_status_retryable),
	    cmocka_unit_test(test_opcode_names),
	    cmocka_unit_test(test_stats_add),
	    cmocka_unit_test(test_op_table_rows),
	    cmocka_unit_test(test_watch_change),
	    cmocka_unit_test(test_op_table_bounds),
	    cmocka_unit_test(test_op_table_maxima),
	    cmocka_unit_test(test_request_validate),
	    cmocka_unit_test(test_frame_request_id_offset),
	    cmocka_unit_test(test_reply_seat_info),
	    cmocka_unit_test(test_user_records),
	    cmocka_unit_test(test_request_create_event_sections),
	    cmocka_unit_test(test_reply_event_sections),
	    cmocka_unit_test(test_random_decode),
	};
	g_in = malloc(PLACE_SIZE_MAX);
	g_out = malloc(PLACE_SIZE_MAX);
	if (g_in == NULL || g_out == NULL)
		return 1;
	int failed = cmocka_run_group_tests_name("proto", tests, NULL, NULL);
	free(g_in);
	free(g_out);
	return failed;
}
