/* The buffer pool of one shard: every connection buffer (input stash, gathered replies, replies in
 * the kernel) comes from here, so the request path never calls malloc.
 *
 * Buffers come in size classes, 16 KiB x 4^k up to the largest a connection may need. Each class
 * reserves its address space once, at start (mmap, MAP_NORESERVE: pages are touched only when
 * used), and keeps a stack of free buffers. The smallest class has three buffers per connection,
 * so every connection always gets its three first buffers; larger classes have fewer, and a
 * request for a full class takes the next larger class with a free buffer, or fails (-ENOBUFS):
 * the caller then parks the connection (engine/conn.c) and counts it. Buffers of 256 KiB and more
 * give their pages back to the kernel when put back (MADV_DONTNEED).
 *
 * Thread-safety: one pool belongs to one shard thread. */
#ifndef HF_ENGINE_POOL_H
#define HF_ENGINE_POOL_H

#include <stdint.h>

#define HF_POOL_BUF_SIZE_MIN	(16u * 1024u)
#define HF_POOL_CLASSES_MAX	12u
#define HF_POOL_BUFS_PER_CONN	3u	       /* smallest class: stash, fill, out */
#define HF_POOL_LARGE_COUNT_MIN 4u	       /* buffers of any class, at least */
#define HF_POOL_RETURN_SIZE_MIN (256u * 1024u) /* class size from which pages go back */

struct hf_pool_class {
	uint32_t size;	     /* bytes of one buffer */
	uint32_t count;	     /* buffers in the class */
	uint32_t free_count; /* free[0 .. free_count) are free buffer indexes */
	uint32_t *free;
	uint8_t *base; /* count * size bytes reserved */
};

struct hf_pool {
	uint32_t classes_count;
	struct hf_pool_class classes[HF_POOL_CLASSES_MAX];
	uint64_t bytes_in_use;	 /* sum of the sizes of buffers handed out */
	uint64_t bytes_reserved; /* address space reserved */
	uint64_t exhausted;	 /* hf_pool_get calls that found no buffer */
};

/* Reserves the classes for conns_max connections whose buffers grow up to size_max bytes. Returns
 * 0 or -ENOMEM / -EINVAL. */
int hf_pool_init(struct hf_pool *pool, uint32_t conns_max, uint64_t size_max);
void hf_pool_deinit(struct hf_pool *pool);

/* A buffer of at least size bytes (size <= the largest class); *cap_out is its size. NULL (and
 * exhausted counted) when no class that fits has a free buffer. */
uint8_t *hf_pool_get(struct hf_pool *pool, uint64_t size, uint32_t *cap_out);
/* Gives back a buffer from hf_pool_get with its cap. NULL is a no-op. */
void hf_pool_put(struct hf_pool *pool, uint8_t *data, uint32_t cap);
/* The size of the buffer hf_pool_get would hand out for size, 0 when it would fail. */
uint32_t hf_pool_fit(const struct hf_pool *pool, uint64_t size);

#endif
