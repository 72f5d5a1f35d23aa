/* The slot map: which (node address, shard port) owns each of the HF_SLOTS_COUNT slots, and the
 * epoch that grows with every change of the map.
 *
 * The map itself is the wire struct (struct hf_slot_map in proto/proto.h): the same bytes travel in
 * a SLOT_MAP reply and in the node's metadata, so there is one encoding to check, not two. Every
 * shard holds its own copy (read on its thread only) and answers requests for slots it does not own
 * with HF_MOVED and the epoch. This file is pure logic: no sockets, no disk, no allocation.
 *
 * Thread-safety: the functions touch only the map they are given; a map belongs to one thread. */
#ifndef HF_SHARDS_SLOTMAP_H
#define HF_SHARDS_SLOTMAP_H

#include "base/assert.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

/* The epoch of a freshly created map. */
#define HF_SLOT_MAP_EPOCH_FIRST 1u
/* Bytes of an encoded map: a SLOT_MAP reply frame with every owner at the longest host. */
#define HF_SLOT_MAP_ENCODED_SIZE_MAX                                                               \
	(HF_FRAME_HEADER_SIZE + 12u + 2u * HF_SLOTS_COUNT +                                        \
	 HF_SLOT_OWNERS_MAX * (3u + HF_HOST_SIZE_MAX))

/* Fills *map with the default map of one node: slot s belongs to shard s % shards_count, whose
 * owner is (host, base_port + shard), and the epoch is HF_SLOT_MAP_EPOCH_FIRST. Returns HF_OK, or
 * HF_ERR_INVALID when host is empty or longer than HF_HOST_SIZE_MAX, shards_count is 0 or past
 * HF_SLOT_OWNERS_MAX, or a port would pass 65535. */
enum hf_status hf_slot_map_init_default(struct hf_slot_map *map, const char *host,
					uint16_t base_port, uint32_t shards_count);

/* The owner index (into map->owners) of slot. The map is valid and slot < HF_SLOTS_COUNT
 * (asserted). */
static inline uint16_t hf_slot_map_owner(const struct hf_slot_map *map, uint16_t slot)
{
	HF_ASSERT(slot < HF_SLOTS_COUNT);
	HF_ASSERT(map->slot_owner[slot] < map->owners_count);
	return map->slot_owner[slot];
}

/* The index of the owner (host, port) in map->owners, or -1 when the map has no such owner. */
int hf_slot_map_find_owner(const struct hf_slot_map *map, const char *host, uint16_t port);

/* 1 when the map is the default map of some node with shards_count shards (owner i owns exactly the
 * slots s with s % shards_count == i, and every owner has the same host and consecutive ports), so
 * it can be rebuilt for a new address without moving any slot. */
int hf_slot_map_is_default_shape(const struct hf_slot_map *map, uint32_t shards_count);

/* Checks a map that came from outside (disk, network): owners_count in 1 .. HF_SLOT_OWNERS_MAX,
 * every host NUL-terminated and non-empty, every slot_owner < owners_count, epoch >= 1. Returns
 * HF_OK or HF_ERR_MALFORMED. */
enum hf_status hf_slot_map_validate(const struct hf_slot_map *map);

/* Encodes the map (valid, asserted) as a SLOT_MAP reply frame with request id 0 into buf. Returns
 * the size written, or 0 when cap is too small (HF_SLOT_MAP_ENCODED_SIZE_MAX always suffices). */
size_t hf_slot_map_encode(const struct hf_slot_map *map, uint8_t *buf, size_t cap);

/* Decodes what hf_slot_map_encode wrote. Returns HF_OK and fills *out (validated), or
 * HF_ERR_MALFORMED for bytes that are not exactly one valid SLOT_MAP reply frame with request id 0.
 */
enum hf_status hf_slot_map_decode(const uint8_t *buf, size_t size, struct hf_slot_map *out);

/* 1 when both maps have the same epoch, owners and slot assignment. */
int hf_slot_map_equal(const struct hf_slot_map *a, const struct hf_slot_map *b);

#endif
