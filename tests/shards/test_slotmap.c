/* Goal: the slot map spreads the 4096 slots over a node's shards exactly as documented (slot s ->
 * shard s % N at port base + s % N, epoch 1), finds owners, refuses bad parameters, and its
 * encoding round-trips while every damaged encoding is refused.
 * Method: build default maps for 1, 2, 3 and 256 shards and check every slot; encode and decode
 * them; then flip every byte of an encoding in turn, truncate it, extend it, and break its
 * invariants one at a time (owner index past the owners, epoch 0, empty host). */
#include "shards/slotmap.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void test_default_map(void **state)
{
	(void)state;
	struct hf_slot_map *map = malloc(sizeof(*map));
	assert_non_null(map);
	uint32_t counts[] = {1, 2, 3, 256};
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		uint32_t n = counts[k];
		assert_int_equal(hf_slot_map_init_default(map, "10.0.0.7", 9000, n), HF_OK);
		assert_int_equal(map->epoch, HF_SLOT_MAP_EPOCH_FIRST);
		assert_int_equal(map->owners_count, n);
		for (uint32_t i = 0; i < n; i++) {
			assert_string_equal(map->owners[i].host, "10.0.0.7");
			assert_int_equal(map->owners[i].port, 9000 + i);
			assert_int_equal(
			    hf_slot_map_find_owner(map, "10.0.0.7", (uint16_t)(9000 + i)), (int)i);
		}
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
			assert_int_equal(hf_slot_map_owner(map, (uint16_t)s), s % n);
		assert_true(hf_slot_map_is_default_shape(map, n));
		assert_false(hf_slot_map_is_default_shape(map, n + 1));
		assert_int_equal(hf_slot_map_find_owner(map, "10.0.0.8", 9000), -1);
		assert_int_equal(hf_slot_map_find_owner(map, "10.0.0.7", (uint16_t)(9000 + n)), -1);
		assert_int_equal(hf_slot_map_validate(map), HF_OK);
	}
	/* A moved slot is no longer the default shape. */
	assert_int_equal(hf_slot_map_init_default(map, "h", 9000, 2), HF_OK);
	map->slot_owner[5] = 0;
	assert_false(hf_slot_map_is_default_shape(map, 2));
	free(map);
}

static void test_default_map_refusals(void **state)
{
	(void)state;
	struct hf_slot_map *map = malloc(sizeof(*map));
	assert_non_null(map);
	char long_host[HF_HOST_SIZE_MAX + 2];
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	assert_int_equal(hf_slot_map_init_default(map, "", 9000, 1), HF_ERR_INVALID);
	assert_int_equal(hf_slot_map_init_default(map, long_host, 9000, 1), HF_ERR_INVALID);
	long_host[HF_HOST_SIZE_MAX] = '\0'; /* exactly the longest host */
	assert_int_equal(hf_slot_map_init_default(map, long_host, 9000, 1), HF_OK);
	assert_int_equal(hf_slot_map_init_default(map, "h", 9000, 0), HF_ERR_INVALID);
	assert_int_equal(hf_slot_map_init_default(map, "h", 9000, HF_SLOT_OWNERS_MAX + 1),
			 HF_ERR_INVALID);
	assert_int_equal(hf_slot_map_init_default(map, "h", 65535, 2), HF_ERR_INVALID);
	assert_int_equal(hf_slot_map_init_default(map, "h", 65535, 1), HF_OK);
	free(map);
}

static void test_encode_round_trip(void **state)
{
	(void)state;
	struct hf_slot_map *map = malloc(sizeof(*map));
	struct hf_slot_map *back = malloc(sizeof(*back));
	uint8_t *buf = malloc(HF_SLOT_MAP_ENCODED_SIZE_MAX + 16);
	assert_true(map != NULL && back != NULL && buf != NULL);

	/* The largest map: 256 owners with the longest hosts. */
	char host[HF_HOST_SIZE_MAX + 1];
	memset(host, 'h', HF_HOST_SIZE_MAX);
	host[HF_HOST_SIZE_MAX] = '\0';
	assert_int_equal(hf_slot_map_init_default(map, host, 1000, HF_SLOT_OWNERS_MAX), HF_OK);
	map->epoch = 77;
	size_t size = hf_slot_map_encode(map, buf, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	assert_int_equal(size, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	assert_int_equal(hf_slot_map_decode(buf, size, back), HF_OK);
	assert_true(hf_slot_map_equal(map, back));
	/* Too small a buffer encodes nothing. */
	assert_int_equal(hf_slot_map_encode(map, buf, size - 1), 0);

	assert_int_equal(hf_slot_map_init_default(map, "127.0.0.1", 7070, 3), HF_OK);
	size = hf_slot_map_encode(map, buf, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	assert_true(size > HF_FRAME_HEADER_SIZE);
	assert_int_equal(hf_slot_map_decode(buf, size, back), HF_OK);
	assert_true(hf_slot_map_equal(map, back));
	back->epoch++;
	assert_false(hf_slot_map_equal(map, back));
	free(buf);
	free(back);
	free(map);
}

static void test_damaged_encodings(void **state)
{
	(void)state;
	struct hf_slot_map *map = malloc(sizeof(*map));
	struct hf_slot_map *back = malloc(sizeof(*back));
	uint8_t *buf = malloc(HF_SLOT_MAP_ENCODED_SIZE_MAX + 16);
	assert_true(map != NULL && back != NULL && buf != NULL);
	assert_int_equal(hf_slot_map_init_default(map, "127.0.0.1", 7070, 2), HF_OK);
	size_t size = hf_slot_map_encode(map, buf, HF_SLOT_MAP_ENCODED_SIZE_MAX);

	/* Truncated or extended: refused. */
	for (size_t cut = 0; cut < size; cut += 97)
		assert_int_equal(hf_slot_map_decode(buf, cut, back), HF_ERR_MALFORMED);
	buf[size] = 0;
	assert_int_equal(hf_slot_map_decode(buf, size + 1, back), HF_ERR_MALFORMED);

	/* Any byte flipped either still decodes to a valid map or is refused; never a crash. A
	 * flipped header or owner index is always refused. */
	for (size_t i = 0; i < size; i++) {
		buf[i] ^= 0xff;
		enum hf_status st = hf_slot_map_decode(buf, size, back);
		if (st == HF_OK)
			assert_int_equal(hf_slot_map_validate(back), HF_OK);
		if (i < HF_FRAME_HEADER_SIZE || i >= size - 2 * HF_SLOTS_COUNT)
			assert_int_equal(st, HF_ERR_MALFORMED);
		buf[i] ^= 0xff;
	}
	assert_int_equal(hf_slot_map_decode(buf, size, back), HF_OK);

	/* Invariants broken one at a time. */
	*back = *map;
	back->epoch = 0;
	assert_int_equal(hf_slot_map_validate(back), HF_ERR_MALFORMED);
	*back = *map;
	back->slot_owner[100] = 2;
	assert_int_equal(hf_slot_map_validate(back), HF_ERR_MALFORMED);
	*back = *map;
	back->owners[1].host[0] = '\0';
	assert_int_equal(hf_slot_map_validate(back), HF_ERR_MALFORMED);
	*back = *map;
	back->owners_count = 0;
	assert_int_equal(hf_slot_map_validate(back), HF_ERR_MALFORMED);
	free(buf);
	free(back);
	free(map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_map),
	    cmocka_unit_test(test_default_map_refusals),
	    cmocka_unit_test(test_encode_round_trip),
	    cmocka_unit_test(test_damaged_encodings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
