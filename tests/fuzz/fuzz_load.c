/* Goal: a coverage-guided search for stored records that crash the store's record decoder, read
 * outside a key or value, or load into a store that breaks its invariants: whatever is on disk, a
 * start either loads a consistent store or refuses with a status, never a crash.
 * Method: the input is a clock offset, then up to 64 (key, value) pairs of fuzzed sizes and bytes.
 * The pairs are put in the order a RocksDB iterator gives them (bytewise key order, one value per
 * key, the last one winning) and keys below hf_persist_load's lower bound (metadata, event id 0)
 * are dropped, as persist.c does. Each key and value is copied into an allocation of exactly its
 * size (so AddressSanitizer sees any overrun) and fed to hf_store_load, stopping at the first
 * refusal as the shard does; hf_store_check runs after every record. The loaded store is then
 * asked about every loaded event (EVENT_INFO, AVAIL of its first seats), written to (a named op on
 * every loaded hold id, a best-available hold on every loaded event), its replies must encode,
 * and its wheel is run a day ahead, checked again.
 *
 * Built with libFuzzer by scripts/fuzz.sh; replayed over tests/fuzz/corpus/load by the default
 * suite (fuzz_load_replay). The seeds are real records written by gen_corpus. */
#include "tests/fuzz/fuzz.h"

#include "base/endian.h"
#include "shards/store.h"

#include <stdlib.h>
#include <string.h>

#define LOAD_EVENTS_MAX	      8u
#define LOAD_SEATS_MAX	      4096u
#define LOAD_RECORDS_MAX      64u
#define LOAD_TOMBSTONE_TTL_MS 600000u
/* Pairs read from one input. */
#define PAIRS_MAX 64u
/* Sizes reach past what the store writes, so the size checks are exercised. */
#define KEY_SIZE_SPREAD	  (HF_RECORD_KEY_SIZE_MAX + 2u)
#define VALUE_SIZE_SPREAD (HF_RECORD_VALUE_SIZE_MAX + 64u)
/* AVAIL asks for at most this many seats of each loaded event. */
#define AVAIL_SEATS_MAX 4096u
/* An event record, as shards/store.h lays it out: be64(event_id) 'E'. */
#define EVENT_KEY_SIZE 9u
/* A hold's record key: be64(event_id) 'R' be64(hold_id). */
#define HOLD_KEY_SIZE	 17u
#define CHANGES_CAPACITY 256u
#define CLOCK_START_MS	 1767225600000ull
#define DAY_MS		 86400000ull

HF_STATIC_ASSERT(AVAIL_SEATS_MAX <= HF_AVAIL_RANGE_MAX, "one AVAIL reply covers the range");

struct pair {
	uint8_t key[KEY_SIZE_SPREAD];
	uint8_t key_size;
	uint16_t value_size;
	uint8_t value[VALUE_SIZE_SPREAD];
	uint32_t input_index; /* position in the input: the later of two equal keys wins */
};

static struct pair pairs[PAIRS_MAX];
static struct hf_request req;
static struct hf_reply rep;
static struct hf_reply rep_decoded;
static uint8_t frame[HF_FRAME_SIZE_MAX];

static int key_cmp(const struct pair *x, const struct pair *y)
{
	int c = memcmp(x->key, y->key, x->key_size < y->key_size ? x->key_size : y->key_size);
	if (c != 0)
		return c;
	return (x->key_size > y->key_size) - (x->key_size < y->key_size);
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a;
	const struct pair *y = b;
	int c = key_cmp(x, y);
	if (c != 0)
		return c;
	return (x->input_index > y->input_index) - (x->input_index < y->input_index);
}

/* persist.c iterates from be64(1): metadata keys (eight zero bytes + name) and shorter keys that
 * sort below it never reach the store. */
static int below_lower_bound(const struct pair *p)
{
	static const uint8_t lower_bound[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	size_t n = p->key_size < sizeof(lower_bound) ? p->key_size : sizeof(lower_bound);
	int c = memcmp(p->key, lower_bound, n);
	return c < 0 || (c == 0 && p->key_size < sizeof(lower_bound));
}

/* Reads the pairs; returns how many, sorted, deduplicated and above the lower bound. */
static uint32_t read_pairs(struct fz_cursor *c)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < PAIRS_MAX && !fz_empty(c); i++) {
		struct pair *p = &pairs[n];
		p->key_size = (uint8_t)(fz_u8(c) % KEY_SIZE_SPREAD);
		fz_bytes(c, p->key, p->key_size);
		p->value_size = (uint16_t)(fz_u16(c) % VALUE_SIZE_SPREAD);
		fz_bytes(c, p->value, p->value_size);
		p->input_index = i;
		if (!below_lower_bound(p))
			n++;
	}
	qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i + 1 < n && key_cmp(&pairs[i], &pairs[i + 1]) == 0)
			continue;
		if (kept != i)
			pairs[kept] = pairs[i];
		kept++;
	}
	HF_ASSERT(kept <= n);
	return kept;
}

/* Feeds one pair through exact-size copies. Returns the store's answer. */
static enum hf_status load_one(struct hf_store *store, const struct pair *p, uint64_t now_ms,
			       struct hf_changes *changes)
{
	/* malloc(0) gives a distinct pointer under glibc and ASan; any read of it is reported. */
	uint8_t *key = malloc(p->key_size);
	uint8_t *value = malloc(p->value_size);
	HF_ASSERT(key != NULL);
	HF_ASSERT(value != NULL);
	memcpy(key, p->key, p->key_size);
	memcpy(value, p->value, p->value_size);
	if (!hf_changes_has_room(changes))
		hf_changes_reset(changes);
	enum hf_status st =
	    hf_store_load(store, key, p->key_size, value, p->value_size, now_ms, changes);
	HF_ASSERT(changes->count <= changes->capacity);
	free(value);
	free(key);
	return st;
}

static void check_reply_encodes(void)
{
	size_t n = hf_reply_encode(&rep, frame, sizeof(frame));
	HF_ASSERT(n == hf_reply_size(&rep));
	struct hf_frame_header h;
	HF_ASSERT(hf_frame_header_decode(frame, &h) == HF_OK);
	HF_ASSERT(hf_reply_decode(&h, frame + HF_FRAME_HEADER_SIZE, &rep_decoded) == HF_OK);
	HF_ASSERT(rep_decoded.status == rep.status);
}

/* EVENT_INFO and AVAIL of one event of the loaded store. */
static void query_event(struct hf_store *store, uint64_t event_id, uint64_t now_ms,
			struct hf_changes *changes)
{
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_EVENT_INFO;
	req.event_info.event_id = event_id;
	hf_changes_reset(changes);
	enum hf_status st = hf_store_apply(store, &req, now_ms, &rep, changes);
	check_reply_encodes();
	if (st != HF_OK)
		return;
	uint32_t seats = rep.event_info.seats_count;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_AVAIL;
	req.avail.event_id = event_id;
	req.avail.count = seats < AVAIL_SEATS_MAX ? seats : AVAIL_SEATS_MAX;
	hf_changes_reset(changes);
	HF_ASSERT(hf_store_apply(store, &req, now_ms, &rep, changes) == HF_OK);
	check_reply_encodes();
}

/* Runs one op on the loaded store; it may answer anything but must not break the store. */
static void apply_one(struct hf_store *store, uint64_t now_ms, struct hf_changes *changes)
{
	if (!hf_changes_has_room(changes))
		hf_changes_reset(changes);
	enum hf_status st = hf_store_apply(store, &req, now_ms, &rep, changes);
	HF_ASSERT(st == rep.status);
	check_reply_encodes();
}

/* Writes on what was loaded: one named op on each loaded hold id (the op chosen by the id, so the
 * fuzzer picks it), and a best-available hold of one seat on each loaded event. */
static void touch_loaded(struct hf_store *store, uint32_t loaded, uint64_t now_ms,
			 struct hf_changes *changes)
{
	static const uint8_t named_ops[4] = {HF_OP_CONFIRM, HF_OP_RELEASE, HF_OP_CANCEL,
					     HF_OP_EXTEND};
	for (uint32_t i = 0; i < loaded; i++) {
		const struct pair *p = &pairs[i];
		memset(&req, 0, sizeof(req));
		req.request_id = i + 1u;
		if (p->key_size == HOLD_KEY_SIZE && p->key[8] == 'R') {
			uint64_t hold_id = hf_get_be64(p->key + 9);
			req.opcode = named_ops[hold_id % 4u];
			req.extend = (struct hf_req_extend){hf_get_be64(p->key), hold_id, 60000};
		} else if (p->key_size == EVENT_KEY_SIZE && p->key[8] == 'E') {
			req.opcode = HF_OP_HOLD;
			req.hold = (struct hf_req_hold){.event_id = hf_get_be64(p->key),
							.hold_id = UINT64_MAX - i,
							.user_id = 1,
							.ttl_ms = 60000,
							.mode = HF_HOLD_BEST,
							.seats_count = 1};
		} else {
			continue;
		}
		apply_one(store, now_ms, changes);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_cursor c;
	fz_init(&c, data, size);
	uint64_t now_ms = CLOCK_START_MS + fz_u32(&c);
	uint32_t pairs_count = read_pairs(&c);

	struct hf_store_config cfg = {
	    .events_max = LOAD_EVENTS_MAX,
	    .seats_max = LOAD_SEATS_MAX,
	    .records_max = LOAD_RECORDS_MAX,
	    .tombstone_ttl_ms = LOAD_TOMBSTONE_TTL_MS,
	};
	struct hf_store *store;
	HF_ASSERT(hf_store_create(&cfg, &store) == 0);
	static struct hf_changes changes;
	if (changes.capacity == 0)
		HF_ASSERT(hf_changes_init(&changes, CHANGES_CAPACITY) == 0);
	hf_changes_reset(&changes);

	uint32_t loaded = 0;
	while (loaded < pairs_count && load_one(store, &pairs[loaded], now_ms, &changes) == HF_OK) {
#ifndef HF_STORE_CHECKS
		/* Test builds (HF_STORE_CHECKS) check inside every load already. */
		hf_store_check(store);
#endif
		loaded++;
	}
	hf_store_check(store);
	for (uint32_t i = 0; i < loaded; i++) {
		if (pairs[i].key_size == EVENT_KEY_SIZE && pairs[i].key[8] == 'E')
			query_event(store, hf_get_be64(pairs[i].key), now_ms, &changes);
	}
	touch_loaded(store, loaded, now_ms, &changes);
	hf_changes_reset(&changes);
	hf_store_tick(store, now_ms + DAY_MS, 2u * LOAD_RECORDS_MAX, &changes);
	hf_store_check(store);
	hf_store_destroy(store);
	return 0;
}
