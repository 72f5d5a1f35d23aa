/* The store's change list read back: which changes are hold records, and what each says (the
 * record layout is store_records.c's, documented in docs/operations.md). Part of the store; used
 * by the engine's watchers, which push every seat transition of a durable batch. */
#include "shards/store_int.h"

#include "base/assert.h"
#include "base/endian.h"

#include <string.h>

/* Offsets of store_records.c's record key and value (docs/operations.md, "Records"). */
#define KEY_SIZE	 17u /* be64 event, 'R', be64 id */
#define VALUE_FIXED_SIZE 44u

HF_STATIC_ASSERT(KEY_SIZE <= HF_RECORD_KEY_SIZE_MAX, "a record key fits a change");

uint64_t hf_store_change_event_id(const struct hf_change *change)
{
	if (change->kind != HF_CHANGE_PUT || change->key_size != KEY_SIZE || change->key[8] != 'R')
		return 0;
	return hf_get_be64(change->key);
}

int hf_store_change_hold(const struct hf_changes *changes, const struct hf_change *change,
			 struct hf_store_hold_change *out)
{
	uint64_t event_id = hf_store_change_event_id(change);
	if (event_id == 0 || change->value_size < VALUE_FIXED_SIZE)
		return -1;
	HF_ASSERT(change->value_offset + change->value_size <= changes->values_size);
	const uint8_t *v = hf_change_value(changes, change);
	uint32_t n = v[3];
	if (n == 0 || n > HF_HOLD_SEATS_MAX || change->value_size != VALUE_FIXED_SIZE + 4u * n)
		return -1;
	if (v[1] < RECORD_HELD || v[1] > RECORD_CANCELLED)
		return -1;
	out->event_id = event_id;
	out->hold_id = hf_get_be64(change->key + 9);
	out->state = v[1];
	out->user_id = hf_get_le64(v + 4);
	out->deadline_ms = hf_get_le64(v + 20);
	out->seats_count = n;
	for (uint32_t i = 0; i < n; i++)
		out->seats[i] = hf_get_le32(v + VALUE_FIXED_SIZE + 4u * i);
	HF_STATIC_ASSERT((int)HF_STORE_HOLD_HELD == (int)RECORD_HELD, "one numbering");
	HF_STATIC_ASSERT((int)HF_STORE_HOLD_CANCELLED == (int)RECORD_CANCELLED, "one numbering");
	return 0;
}
