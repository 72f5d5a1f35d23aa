/* The shard's connection-buffer pool (see pool.h).
 *
 * INVARIANTS
 *  1. classes[k].size == HF_POOL_BUF_SIZE_MIN * 4^k; sizes strictly increase.
 *  2. 0 <= free_count <= count; free[] holds distinct indexes < count.
 *  3. bytes_in_use == sum over classes of (count - free_count) * size. */
#include "engine/pool.h"

#include "base/assert.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int class_init(struct hf_pool_class *k, uint32_t size, uint32_t count)
{
	HF_ASSERT(count >= 1);
	k->size = size;
	k->count = count;
	k->free = calloc(count, sizeof(*k->free));
	if (k->free == NULL)
		return -ENOMEM;
	void *base = mmap(NULL, (size_t)size * count, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		free(k->free);
		k->free = NULL;
		return -ENOMEM;
	}
	k->base = base;
	/* Lowest addresses first: a quiet shard touches few pages. */
	for (uint32_t i = 0; i < count; i++)
		k->free[i] = count - 1u - i;
	k->free_count = count;
	return 0;
}

int hf_pool_init(struct hf_pool *pool, uint32_t conns_max, uint64_t size_max)
{
	HF_ASSERT(conns_max >= 1);
	memset(pool, 0, sizeof(*pool));
	uint64_t count = (uint64_t)conns_max * HF_POOL_BUFS_PER_CONN;
	uint64_t size = HF_POOL_BUF_SIZE_MIN;
	/* Bounded: sizes grow by 4x up to size_max, at most HF_POOL_CLASSES_MAX classes. */
	for (;;) {
		if (pool->classes_count == HF_POOL_CLASSES_MAX || size > UINT32_MAX) {
			hf_pool_deinit(pool);
			return -EINVAL;
		}
		uint32_t n =
		    count > HF_POOL_LARGE_COUNT_MIN ? (uint32_t)count : HF_POOL_LARGE_COUNT_MIN;
		int rc = class_init(&pool->classes[pool->classes_count], (uint32_t)size, n);
		if (rc != 0) {
			hf_pool_deinit(pool);
			return rc;
		}
		pool->classes_count++;
		pool->bytes_reserved += size * n;
		if (size >= size_max)
			return 0;
		size *= 4u;
		count /= 4u;
	}
}

void hf_pool_deinit(struct hf_pool *pool)
{
	for (uint32_t i = 0; i < pool->classes_count; i++) {
		struct hf_pool_class *k = &pool->classes[i];
		munmap(k->base, (size_t)k->size * k->count);
		free(k->free);
	}
	memset(pool, 0, sizeof(*pool));
}

static struct hf_pool_class *class_for(const struct hf_pool *pool, uint64_t size)
{
	for (uint32_t i = 0; i < pool->classes_count; i++) {
		const struct hf_pool_class *k = &pool->classes[i];
		if (k->size >= size && k->free_count > 0)
			return (struct hf_pool_class *)k;
	}
	return NULL;
}

uint32_t hf_pool_fit(const struct hf_pool *pool, uint64_t size)
{
	const struct hf_pool_class *k = class_for(pool, size);
	return k != NULL ? k->size : 0;
}

uint8_t *hf_pool_get(struct hf_pool *pool, uint64_t size, uint32_t *cap_out)
{
	struct hf_pool_class *k = class_for(pool, size);
	if (k == NULL) {
		pool->exhausted++;
		return NULL;
	}
	HF_ASSERT(k->free_count <= k->count);
	uint32_t index = k->free[--k->free_count];
	HF_ASSERT(index < k->count);
	pool->bytes_in_use += k->size;
	*cap_out = k->size;
	return k->base + (size_t)index * k->size;
}

void hf_pool_put(struct hf_pool *pool, uint8_t *data, uint32_t cap)
{
	if (data == NULL)
		return;
	for (uint32_t i = 0; i < pool->classes_count; i++) {
		struct hf_pool_class *k = &pool->classes[i];
		if (k->size != cap)
			continue;
		HF_ASSERT(data >= k->base);
		size_t offset = (size_t)(data - k->base);
		HF_ASSERT(offset % k->size == 0);
		HF_ASSERT(offset / k->size < k->count);
		HF_ASSERT(k->free_count < k->count);
		if (k->size >= HF_POOL_RETURN_SIZE_MIN)
			(void)madvise(data, k->size, MADV_DONTNEED);
		k->free[k->free_count++] = (uint32_t)(offset / k->size);
		HF_ASSERT(pool->bytes_in_use >= k->size);
		pool->bytes_in_use -= k->size;
		return;
	}
	HF_PANIC("pool: a buffer of %u bytes belongs to no class", cap);
}
