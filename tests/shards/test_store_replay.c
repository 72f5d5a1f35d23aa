/* Goal: a replica's store fed a primary's change records (hf_store_replay) holds exactly the
 * primary's state, whether it follows from the start or starts from a snapshot (hf_store_snapshot)
 * taken while the primary keeps changing; bad records get a status, never a crash.
 * Method: random ops (create, explicit and best holds, confirm, release, cancel, extend, ticks
 * that expire holds) on a primary store; every change they append is replayed, in order, into the
 * replica stores; a snapshot's chunks are interleaved with later changes exactly as the engine
 * streams them. States are compared as the sorted record sets hf_store_export lists, plus the
 * counts. The seed is printed; HF_SEED replays it. */
#include "shards/store.h"
#include "store_helpers.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define T0	   1700000000000ull
#define EVENTS	   3u
#define SEATS	   200u
#define OPS	   3000u
#define RECORD_MAX (HF_RECORD_KEY_SIZE_MAX + HF_RECORD_VALUE_SIZE_MAX + 2u)

static uint64_t g_seed;

static uint64_t rnd(void)
{
	g_seed += 0x9e3779b97f4a7c15ull;
	uint64_t z = g_seed;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct hf_store *new_store(void)
{
	struct hf_store_config cfg = {16, 10000, 2048, 5000};
	struct hf_store *s = NULL;
	assert_int_equal(hf_store_create(&cfg, &s), 0);
	return s;
}

/* Replays every change of ch into dst; snapshot: refusals allowed (a later change fixes them). */
static void replay_all(struct hf_store *dst, const struct hf_changes *ch, uint64_t now,
		       struct hf_changes *scratch, int snapshot)
{
	for (uint32_t i = 0; i < ch->count; i++) {
		const struct hf_change *c = &ch->items[i];
		enum hf_status st = hf_store_replay(
		    dst, c->kind, c->key, c->key_size,
		    c->value_size > 0 ? hf_change_value(ch, c) : NULL, c->value_size, now, scratch);
		if (!snapshot && st != HF_OK)
			fail_msg("change %u (kind %u) refused: %s", i, c->kind, hf_status_name(st));
	}
}

/* One random op on the primary at now; its changes land in ch. */
static void random_op(struct hf_store *s, struct hf_changes *ch, uint64_t now)
{
	struct hf_reply rep;
	uint64_t ev = 1 + rnd() % EVENTS;
	uint64_t id = 1 + rnd() % 300;
	uint32_t seat = (uint32_t)(rnd() % (SEATS - 3));
	switch (rnd() % 8) {
	case 0:
	case 1:
		(void)th_hold(s, ch, now, &rep, ev, id, 1 + rnd() % 5, 500 + rnd() % 3000, 2, seat,
			      seat + 1);
		break;
	case 2:
		(void)th_best(s, ch, now, &rep, ev, id, 1 + rnd() % 5, 500 + rnd() % 3000, 3);
		break;
	case 3:
	case 4:
		(void)th_ref(s, ch, HF_OP_CONFIRM, now, &rep, ev, id);
		break;
	case 5:
		(void)th_ref(s, ch, HF_OP_RELEASE, now, &rep, ev, id);
		break;
	case 6:
		(void)th_ref(s, ch, HF_OP_CANCEL, now, &rep, ev, id);
		break;
	default:
		(void)th_extend(s, ch, now, &rep, ev, id, 2000);
		break;
	}
}

/* A store's whole state as one sorted blob of records (key, value), for comparison. */
struct dump {
	uint32_t count;
	uint8_t (*rec)[RECORD_MAX];
};

static int cmp_rec(const void *a, const void *b)
{
	return memcmp(a, b, RECORD_MAX);
}

static void dump_store(struct hf_store *s, struct dump *d)
{
	struct hf_changes ch;
	assert_int_equal(hf_changes_init(&ch, 8192), 0);
	struct hf_store_snapshot cur;
	hf_store_snapshot_begin(&cur);
	for (uint32_t k = 0; k < 100 && !hf_store_snapshot(s, &cur, 4096, &ch); k++)
		;
	d->count = ch.count;
	d->rec = calloc(ch.count + 1u, RECORD_MAX);
	for (uint32_t i = 0; i < ch.count; i++) {
		const struct hf_change *c = &ch.items[i];
		d->rec[i][0] = c->key_size;
		memcpy(d->rec[i] + 1, c->key, c->key_size);
		memcpy(d->rec[i] + 1 + HF_RECORD_KEY_SIZE_MAX, hf_change_value(&ch, c),
		       c->value_size);
	}
	qsort(d->rec, d->count, RECORD_MAX, cmp_rec);
	hf_changes_deinit(&ch);
}

static void assert_same(struct hf_store *a, struct hf_store *b)
{
	struct dump da, db;
	dump_store(a, &da);
	dump_store(b, &db);
	assert_int_equal(da.count, db.count);
	for (uint32_t i = 0; i < da.count; i++) {
		if (memcmp(da.rec[i], db.rec[i], RECORD_MAX) != 0)
			fail_msg("record %u of %u differs (seed %llu)", i, da.count,
				 (unsigned long long)g_seed);
	}
	struct hf_store_counts ca, cb;
	hf_store_counts(a, &ca);
	hf_store_counts(b, &cb);
	assert_int_equal(ca.free_count, cb.free_count);
	assert_int_equal(ca.held_count, cb.held_count);
	assert_int_equal(ca.booked_count, cb.booked_count);
	assert_int_equal(ca.holds_count, cb.holds_count);
	assert_int_equal(ca.bookings_count, cb.bookings_count);
	free(da.rec);
	free(db.rec);
}

struct fx {
	struct hf_store *primary;
	struct hf_store *follower; /* from the start */
	struct hf_store *late;	   /* from a snapshot */
	struct hf_changes ch;
	struct hf_changes snap;
	struct hf_changes scratch;
};

static void fx_init(struct fx *f)
{
	f->primary = new_store();
	f->follower = new_store();
	f->late = new_store();
	assert_int_equal(hf_changes_init(&f->ch, 1024), 0);
	assert_int_equal(hf_changes_init(&f->snap, 64), 0);
	assert_int_equal(hf_changes_init(&f->scratch, 8), 0);
}

static void fx_deinit(struct fx *f)
{
	hf_store_destroy(f->primary);
	hf_store_destroy(f->follower);
	hf_store_destroy(f->late);
	hf_changes_deinit(&f->ch);
	hf_changes_deinit(&f->snap);
	hf_changes_deinit(&f->scratch);
}

/* The primary's changes since the last call go to the follower and (once it began) the late one.
 */
static void ship(struct fx *f, uint64_t now, int late_on)
{
	replay_all(f->follower, &f->ch, now, &f->scratch, 0);
	if (late_on)
		replay_all(f->late, &f->ch, now, &f->scratch, 1);
	hf_changes_reset(&f->ch);
}

static void test_replay_and_snapshot_converge(void **state)
{
	(void)state;
	static struct fx f;
	fx_init(&f);
	for (uint64_t e = 1; e <= EVENTS; e++)
		assert_int_equal(th_create(f.primary, &f.ch, e, SEATS, 20, 0, 60), HF_OK);
	ship(&f, T0, 0);
	uint64_t now = T0;
	struct hf_store_snapshot cur;
	int late_on = 0, snap_done = 0;
	for (uint32_t i = 0; i < OPS; i++) {
		now += rnd() % 50;
		random_op(f.primary, &f.ch, now);
		if (rnd() % 10 == 0)
			(void)hf_store_tick(f.primary, now, 64, &f.ch);
		ship(&f, now, late_on);
		if (i == OPS / 3) {
			hf_store_snapshot_begin(&cur);
			late_on = 1;
		}
		if (late_on && !snap_done && rnd() % 2 == 0) {
			/* A chunk goes into the stream after every change shipped so far. */
			hf_changes_reset(&f.snap);
			snap_done = hf_store_snapshot(f.primary, &cur, 16, &f.snap);
			replay_all(f.late, &f.snap, now, &f.scratch, 1);
		}
	}
	assert_true(snap_done);
	/* Expire what is due everywhere at one instant, as the engine's stream would carry it. */
	now += 10000;
	(void)hf_store_tick(f.primary, now, 4096, &f.ch);
	ship(&f, now, 1);
	assert_same(f.primary, f.follower);
	assert_same(f.primary, f.late);
	hf_store_check(f.follower);
	hf_store_check(f.late);
	fx_deinit(&f);
}

static void test_replay_bad_records(void **state)
{
	(void)state;
	struct hf_store *s = new_store();
	struct hf_changes scratch;
	assert_int_equal(hf_changes_init(&scratch, 8), 0);
	uint8_t key[17] = {0};
	uint8_t value[64] = {0};
	key[7] = 9;
	key[8] = 'R';
	/* A record of an event the store does not have. */
	assert_int_equal(hf_store_replay(s, HF_CHANGE_PUT, key, 17, value, 44, T0, &scratch),
			 HF_NO_EVENT);
	assert_int_equal(hf_store_replay(s, HF_CHANGE_DEL, key, 17, NULL, 0, T0, &scratch), HF_OK);
	/* Keys of no known shape, unknown kinds. */
	assert_int_equal(hf_store_replay(s, HF_CHANGE_PUT, key, 16, value, 44, T0, &scratch),
			 HF_ERR_MALFORMED);
	assert_int_equal(hf_store_replay(s, 9, key, 17, value, 44, T0, &scratch), HF_ERR_MALFORMED);
	key[8] = 'E';
	assert_int_equal(hf_store_replay(s, HF_CHANGE_PUT, key, 9, value, 3, T0, &scratch),
			 HF_ERR_MALFORMED);
	/* A real event, then its DEL (not supported) and a record value that does not decode. */
	struct hf_changes ch;
	assert_int_equal(hf_changes_init(&ch, 16), 0);
	assert_int_equal(th_create(s, &ch, 9, 10, 0, 0, 60), HF_OK);
	assert_int_equal(hf_store_replay(s, HF_CHANGE_DEL, key, 9, NULL, 0, T0, &scratch),
			 HF_ERR_INVALID);
	key[8] = 'R';
	key[16] = 1;
	assert_int_equal(hf_store_replay(s, HF_CHANGE_PUT, key, 17, value, 44, T0, &scratch),
			 HF_ERR_MALFORMED);
	hf_store_check(s);
	hf_changes_deinit(&ch);
	hf_changes_deinit(&scratch);
	hf_store_destroy(s);
}

/* hf_changes_append: exact copies, and -ENOSPC when full. */
static void test_changes_append(void **state)
{
	(void)state;
	struct hf_changes ch;
	assert_int_equal(hf_changes_init(&ch, 2), 0);
	uint8_t k[3] = {1, 2, 3}, v[2] = {7, 8};
	assert_int_equal(hf_changes_append(&ch, HF_CHANGE_PUT, k, 3, v, 2), 0);
	assert_int_equal(hf_changes_append(&ch, HF_CHANGE_DEL, k, 1, NULL, 0), 0);
	assert_int_equal(hf_changes_append(&ch, HF_CHANGE_DEL, k, 1, NULL, 0), -ENOSPC);
	assert_int_equal(ch.count, 2);
	assert_memory_equal(hf_change_value(&ch, &ch.items[0]), v, 2);
	assert_int_equal(ch.items[1].value_size, 0);
	hf_changes_deinit(&ch);
}

int main(void)
{
	const char *seed = getenv("HF_SEED");
	g_seed = seed != NULL ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL);
	printf("seed %llu (HF_SEED=%llu to replay)\n", (unsigned long long)g_seed,
	       (unsigned long long)g_seed);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay_and_snapshot_converge),
	    cmocka_unit_test(test_replay_bad_records),
	    cmocka_unit_test(test_changes_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
