/* The slot map (see slotmap.h): the default map of a node, owner lookup, validation, and the
 * encoding used for the node's metadata, which is exactly a SLOT_MAP reply frame (proto.c), so the
 * map on disk and the map on the wire are checked by the same decoder.
 *
 * INVARIANTS (of every map this file returns or accepts as valid):
 *  1. 1 <= owners_count <= HF_SLOT_OWNERS_MAX.
 *  2. Every owners[i].host is NUL-terminated, 1 .. HF_HOST_SIZE_MAX bytes long.
 *  3. Every slot_owner[s] < owners_count, so hf_slot_map_owner never indexes past owners[].
 *  4. epoch >= HF_SLOT_MAP_EPOCH_FIRST. */
#include "shards/slotmap.h"

#include "base/assert.h"

#include <string.h>

static size_t host_size(const char *host)
{
	return strnlen(host, HF_HOST_SIZE_MAX + 1);
}

enum hf_status hf_slot_map_init_default(struct hf_slot_map *map, const char *host,
					uint16_t base_port, uint32_t shards_count)
{
	size_t len = host_size(host);
	if (len == 0 || len > HF_HOST_SIZE_MAX)
		return HF_ERR_INVALID;
	if (shards_count == 0 || shards_count > HF_SLOT_OWNERS_MAX)
		return HF_ERR_INVALID;
	if ((uint32_t)base_port + shards_count - 1u > UINT16_MAX)
		return HF_ERR_INVALID;

	memset(map, 0, sizeof(*map));
	map->epoch = HF_SLOT_MAP_EPOCH_FIRST;
	map->owners_count = (uint16_t)shards_count;
	for (uint32_t i = 0; i < shards_count; i++) {
		memcpy(map->owners[i].host, host, len);
		map->owners[i].host[len] = '\0';
		map->owners[i].port = (uint16_t)(base_port + i);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map->slot_owner[s] = (uint16_t)(s % shards_count);

	HF_ASSERT(hf_slot_map_validate(map) == HF_OK);
	HF_ASSERT(hf_slot_map_is_default_shape(map, shards_count));
	return HF_OK;
}

int hf_slot_map_find_owner(const struct hf_slot_map *map, const char *host, uint16_t port)
{
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	for (uint32_t i = 0; i < map->owners_count; i++) {
		if (map->owners[i].port == port &&
		    strncmp(map->owners[i].host, host, HF_HOST_SIZE_MAX + 1) == 0)
			return (int)i;
	}
	return -1;
}

int hf_slot_map_is_default_shape(const struct hf_slot_map *map, uint32_t shards_count)
{
	if (shards_count == 0 || map->owners_count != shards_count)
		return 0;
	for (uint32_t i = 1; i < map->owners_count; i++) {
		if (strncmp(map->owners[i].host, map->owners[0].host, HF_HOST_SIZE_MAX + 1) != 0)
			return 0;
		if ((uint32_t)map->owners[i].port != (uint32_t)map->owners[0].port + i)
			return 0;
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		if (map->slot_owner[s] != s % shards_count)
			return 0;
	}
	return 1;
}

enum hf_status hf_slot_map_validate(const struct hf_slot_map *map)
{
	if (map->owners_count == 0 || map->owners_count > HF_SLOT_OWNERS_MAX)
		return HF_ERR_MALFORMED;
	if (map->epoch < HF_SLOT_MAP_EPOCH_FIRST)
		return HF_ERR_MALFORMED;
	for (uint32_t i = 0; i < map->owners_count; i++) {
		size_t len = host_size(map->owners[i].host);
		if (len == 0 || len > HF_HOST_SIZE_MAX)
			return HF_ERR_MALFORMED;
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		if (map->slot_owner[s] >= map->owners_count)
			return HF_ERR_MALFORMED;
	}
	return HF_OK;
}

size_t hf_slot_map_encode(const struct hf_slot_map *map, uint8_t *buf, size_t cap)
{
	HF_ASSERT(hf_slot_map_validate(map) == HF_OK);
	/* About 25 KiB: on the stack, since this runs at start and on map changes only. */
	struct hf_reply rep;
	memset(&rep, 0, sizeof(rep));
	rep.opcode = HF_OP_SLOT_MAP;
	rep.status = HF_OK;
	rep.request_id = 0;
	rep.slot_map = *map;
	size_t size = hf_reply_encode(&rep, buf, cap);
	HF_ASSERT(size == 0 || size == hf_reply_size(&rep));
	HF_ASSERT(size <= HF_SLOT_MAP_ENCODED_SIZE_MAX);
	return size;
}

enum hf_status hf_slot_map_decode(const uint8_t *buf, size_t size, struct hf_slot_map *out)
{
	struct hf_frame_header header;
	if (size < HF_FRAME_HEADER_SIZE)
		return HF_ERR_MALFORMED;
	if (hf_frame_header_decode(buf, &header) != HF_OK)
		return HF_ERR_MALFORMED;
	if (header.opcode != HF_OP_SLOT_MAP || header.status != HF_OK ||
	    (header.flags & HF_FLAG_REPLY) == 0 || header.request_id != 0)
		return HF_ERR_MALFORMED;
	if ((size_t)header.body_size != size - HF_FRAME_HEADER_SIZE)
		return HF_ERR_MALFORMED;

	struct hf_reply rep;
	if (hf_reply_decode(&header, buf + HF_FRAME_HEADER_SIZE, &rep) != HF_OK)
		return HF_ERR_MALFORMED;
	if (hf_slot_map_validate(&rep.slot_map) != HF_OK)
		return HF_ERR_MALFORMED;
	*out = rep.slot_map;
	return HF_OK;
}

int hf_slot_map_equal(const struct hf_slot_map *a, const struct hf_slot_map *b)
{
	if (a->epoch != b->epoch || a->owners_count != b->owners_count)
		return 0;
	HF_ASSERT(a->owners_count <= HF_SLOT_OWNERS_MAX);
	for (uint32_t i = 0; i < a->owners_count; i++) {
		if (a->owners[i].port != b->owners[i].port ||
		    strncmp(a->owners[i].host, b->owners[i].host, HF_HOST_SIZE_MAX + 1) != 0)
			return 0;
	}
	return memcmp(a->slot_owner, b->slot_owner, sizeof(a->slot_owner)) == 0;
}
