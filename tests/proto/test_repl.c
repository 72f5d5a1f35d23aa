/* Goal: the replication frames (proto/repl.h) encode and decode back to the same values, a full
 * REPL_BATCH stops taking records at its limits, and every malformed body (short, long, unknown
 * flags or kinds, sizes out of range, records that overrun or do not fill the body) is refused
 * with a status, never read out of bounds.
 * Method: round trips of each body; a batch filled to HF_REPL_FRAME_RECORDS_MAX and past it;
 * single-byte damage to a valid body at every offset, and every truncation of it. */
#include "base/endian.h"
#include "proto/repl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint8_t g_frame[HF_FRAME_SIZE_MAX];

static void test_requests_round_trip(void **state)
{
	(void)state;
	struct hf_repl_subscribe sub = {.replica_id = 0x1122334455667788ull, .epoch = 9};
	size_t n = hf_repl_subscribe_encode(g_frame, sizeof(g_frame), 77, &sub);
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_BODY_SIZE);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	assert_int_equal(h.opcode, HF_OP_REPL_SUBSCRIBE);
	assert_int_equal(h.request_id, 77);
	struct hf_repl_subscribe sub2;
	assert_int_equal(hf_repl_subscribe_decode(g_frame + 24, h.body_size, &sub2), HF_OK);
	assert_memory_equal(&sub, &sub2, sizeof(sub));
	assert_int_equal(hf_repl_subscribe_decode(g_frame + 24, h.body_size - 1, &sub2),
			 HF_ERR_MALFORMED);
	hf_put_le64(g_frame + 24, 0);
	assert_int_equal(hf_repl_subscribe_decode(g_frame + 24, h.body_size, &sub2),
			 HF_ERR_INVALID);

	struct hf_repl_ack ack = {.replica_id = 5, .epoch = 2, .seq = 1234567};
	n = hf_repl_ack_encode(g_frame, sizeof(g_frame), 8, &ack);
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + HF_REPL_ACK_BODY_SIZE);
	struct hf_repl_ack ack2;
	assert_int_equal(hf_repl_ack_decode(g_frame + 24, HF_REPL_ACK_BODY_SIZE, &ack2), HF_OK);
	assert_memory_equal(&ack, &ack2, sizeof(ack));
	assert_int_equal(hf_repl_ack_decode(g_frame + 24, HF_REPL_ACK_BODY_SIZE + 1, &ack2),
			 HF_ERR_MALFORMED);

	struct hf_repl_subscribed rep = {.epoch = 3, .stream_id = 99, .seq = 42}, rep2;
	n = hf_repl_subscribed_encode(g_frame, sizeof(g_frame), 8, &rep);
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	assert_true(h.flags & HF_FLAG_REPLY);
	assert_int_equal(hf_repl_subscribed_decode(g_frame + 24, h.body_size, &rep2), HF_OK);
	assert_memory_equal(&rep, &rep2, sizeof(rep));
	n = hf_repl_status_encode(g_frame, sizeof(g_frame), HF_OP_REPL_ACK, 4, HF_REPL_FENCED, 5);
	assert_int_equal(n, HF_FRAME_HEADER_SIZE + HF_ERROR_BODY_SIZE);
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	assert_int_equal(h.status, HF_REPL_FENCED);
	assert_int_equal(hf_get_le64(g_frame + 24), 5);
}

/* A batch frame of `count` records, record i with key {i..} of 17 bytes and a value of i % 100 +
 * 1 bytes (every third a DEL). Returns its size. */
static size_t build_batch(uint32_t count, uint32_t flags)
{
	struct hf_repl_batch b = {.epoch = 4, .seq = 10, .flags = flags};
	size_t size = hf_repl_batch_begin(g_frame, sizeof(g_frame), 3, &b);
	uint8_t key[17], value[HF_REPL_VALUE_SIZE_MAX];
	for (uint32_t i = 0; i < count; i++) {
		memset(key, (int)i, sizeof(key));
		memset(value, (int)(i * 7), sizeof(value));
		struct hf_repl_record rec = {.kind = i % 3 == 2 ? HF_REPL_DEL : HF_REPL_PUT,
					     .key_size = sizeof(key),
					     .key = key,
					     .value = value};
		rec.value_size = rec.kind == HF_REPL_PUT ? (uint16_t)(i % 100 + 1) : 0;
		if (rec.kind == HF_REPL_DEL)
			rec.value = NULL;
		assert_int_equal(hf_repl_batch_add(g_frame, sizeof(g_frame), &size, &rec), 0);
	}
	return size;
}

static void test_batch_round_trip(void **state)
{
	(void)state;
	size_t size = build_batch(100, HF_REPL_F_LAST);
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(g_frame, &h), HF_OK);
	assert_int_equal(HF_FRAME_HEADER_SIZE + h.body_size, size);
	struct hf_repl_batch b;
	const uint8_t *body = g_frame + HF_FRAME_HEADER_SIZE;
	assert_int_equal(hf_repl_batch_decode(body, h.body_size, &b), HF_OK);
	assert_int_equal(b.epoch, 4);
	assert_int_equal(b.seq, 10);
	assert_int_equal(b.flags, HF_REPL_F_LAST);
	assert_int_equal(b.count, 100);
	uint32_t off = HF_REPL_BATCH_FIXED_SIZE;
	for (uint32_t i = 0; i < b.count; i++) {
		struct hf_repl_record rec;
		hf_repl_batch_record(body, &off, &rec);
		assert_int_equal(rec.kind, i % 3 == 2 ? HF_REPL_DEL : HF_REPL_PUT);
		assert_int_equal(rec.key_size, 17);
		assert_int_equal(rec.key[0], (uint8_t)i);
		if (rec.kind == HF_REPL_PUT) {
			assert_int_equal(rec.value_size, i % 100 + 1);
			assert_int_equal(rec.value[0], (uint8_t)(i * 7));
		}
	}
	assert_int_equal(off, h.body_size);
	hf_repl_batch_set_flags(g_frame, HF_REPL_F_SNAPSHOT | HF_REPL_F_SNAP_END);
	assert_int_equal(hf_repl_batch_decode(body, h.body_size, &b), HF_OK);
	assert_int_equal(b.flags, HF_REPL_F_SNAPSHOT | HF_REPL_F_SNAP_END);
}

/* The frame takes HF_REPL_FRAME_RECORDS_MAX of the largest records, and not one more. */
static void test_batch_limits(void **state)
{
	(void)state;
	struct hf_repl_batch b = {.epoch = 1, .seq = 1};
	size_t size = hf_repl_batch_begin(g_frame, sizeof(g_frame), 3, &b);
	uint8_t key[HF_REPL_KEY_SIZE_MAX] = {1}, value[HF_REPL_VALUE_SIZE_MAX] = {2};
	struct hf_repl_record rec = {.kind = HF_REPL_PUT,
				     .key_size = sizeof(key),
				     .value_size = sizeof(value),
				     .key = key,
				     .value = value};
	for (uint32_t i = 0; i < HF_REPL_FRAME_RECORDS_MAX; i++)
		assert_int_equal(hf_repl_batch_add(g_frame, sizeof(g_frame), &size, &rec), 0);
	size_t full = size;
	assert_int_equal(hf_repl_batch_add(g_frame, sizeof(g_frame), &size, &rec), -1);
	assert_int_equal(size, full);
	assert_true(size <= HF_FRAME_SIZE_MAX);
	struct hf_repl_batch d;
	assert_int_equal(hf_repl_batch_decode(g_frame + 24, (uint32_t)(size - 24), &d), HF_OK);
	/* A count past the maximum is refused before any record is read. */
	hf_put_le32(g_frame + 24 + 20, HF_REPL_FRAME_RECORDS_MAX + 1);
	assert_int_equal(hf_repl_batch_decode(g_frame + 24, (uint32_t)(size - 24), &d),
			 HF_ERR_TOO_LARGE);
	/* A buffer too small for the next record: nothing written. */
	size = hf_repl_batch_begin(g_frame, 60, 3, &b);
	assert_int_equal(hf_repl_batch_add(g_frame, 60, &size, &rec), -1);
	assert_int_equal(size, 48);
}

/* Every truncation and every single-byte change of a valid body either still decodes (into
 * records that lie inside it) or is refused. */
static void test_batch_damage(void **state)
{
	(void)state;
	size_t size = build_batch(20, HF_REPL_F_LAST);
	uint32_t body_size = (uint32_t)(size - HF_FRAME_HEADER_SIZE);
	static uint8_t copy[HF_FRAME_BODY_SIZE_MAX];
	struct hf_repl_batch b;
	for (uint32_t cut = 0; cut < body_size; cut++) {
		memcpy(copy, g_frame + 24, cut);
		assert_int_not_equal(hf_repl_batch_decode(copy, cut, &b), HF_OK);
	}
	for (uint32_t at = 0; at < body_size; at++) {
		memcpy(copy, g_frame + 24, body_size);
		copy[at] ^= 0xa5;
		if (hf_repl_batch_decode(copy, body_size, &b) != HF_OK)
			continue;
		uint32_t off = HF_REPL_BATCH_FIXED_SIZE;
		for (uint32_t i = 0; i < b.count; i++) {
			struct hf_repl_record rec;
			hf_repl_batch_record(copy, &off, &rec);
			assert_true(off <= body_size);
		}
		assert_int_equal(off, body_size);
	}
	/* Unknown flags, an unknown kind, a DEL with a value. */
	memcpy(copy, g_frame + 24, body_size);
	hf_put_le32(copy + 16, 0x10);
	assert_int_equal(hf_repl_batch_decode(copy, body_size, &b), HF_ERR_MALFORMED);
	memcpy(copy, g_frame + 24, body_size);
	copy[24] = 4;
	assert_int_equal(hf_repl_batch_decode(copy, body_size, &b), HF_ERR_MALFORMED);
	memcpy(copy, g_frame + 24, body_size);
	copy[24] = HF_REPL_DEL;
	assert_int_equal(hf_repl_batch_decode(copy, body_size, &b), HF_ERR_MALFORMED);
	/* Trailing bytes after the last record. */
	memcpy(copy, g_frame + 24, body_size);
	assert_int_equal(hf_repl_batch_decode(copy, body_size + 1, &b), HF_ERR_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests_round_trip),
	    cmocka_unit_test(test_batch_round_trip),
	    cmocka_unit_test(test_batch_limits),
	    cmocka_unit_test(test_batch_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
