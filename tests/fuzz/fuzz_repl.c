/* Goal: a coverage-guided search for a REPL_BATCH body that crashes its decoder, reads outside the
 * body, or, applied to a replica's store (hf_store_replay: every record replaces its key's state),
 * breaks one of the store's invariants.
 * Method: the input is a REPL_BATCH body, copied into an allocation of exactly its size (so
 * AddressSanitizer sees any overrun). When it decodes, each record is read back (inside the body),
 * and its PUTs and DELs are replayed, twice in a row (replaying is idempotent), into a fresh small
 * store at a fixed clock; hf_store_check then runs over the whole store.
 *
 * Built with libFuzzer by scripts/fuzz.sh; replayed over tests/fuzz/corpus/repl (seeds: batches
 * of real records, an event with holds, bookings and tombstones) by the default suite. */
#include "tests/fuzz/fuzz.h"

#include "proto/repl.h"
#include "shards/store.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1700000000000ull

static void replay_body(struct hf_store *store, const uint8_t *body, uint32_t size,
			const struct hf_repl_batch *b, struct hf_changes *scratch)
{
	uint32_t off = HF_REPL_BATCH_FIXED_SIZE;
	for (uint32_t i = 0; i < b->count; i++) {
		struct hf_repl_record rec;
		hf_repl_batch_record(body, &off, &rec);
		HF_ASSERT(off <= size);
		if (rec.kind == HF_REPL_DEL_RANGE)
			continue;
		for (int twice = 0; twice < 2; twice++)
			(void)hf_store_replay(store, rec.kind, rec.key, rec.key_size, rec.value,
					      rec.value_size, FUZZ_NOW_MS, scratch);
	}
	HF_ASSERT(off == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > HF_FRAME_BODY_SIZE_MAX)
		return 0;
	uint8_t *body = malloc(size > 0 ? size : 1u);
	HF_ASSERT(body != NULL);
	memcpy(body, data, size);
	struct hf_repl_batch b;
	if (hf_repl_batch_decode(body, (uint32_t)size, &b) == HF_OK) {
		struct hf_store_config cfg = {8, 4096, 256, 60000};
		struct hf_store *store = NULL;
		struct hf_changes scratch;
		HF_ASSERT(hf_store_create(&cfg, &store) == 0);
		HF_ASSERT(hf_changes_init(&scratch, 8) == 0);
		replay_body(store, body, (uint32_t)size, &b, &scratch);
		hf_store_check(store);
		hf_changes_deinit(&scratch);
		hf_store_destroy(store);
	}
	free(body);
	return 0;
}
