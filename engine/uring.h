/* io_uring plumbing for the shards: ring setup with flag fallback, the provided-buffer ring that
 * multishot recv draws from, and the start-up feature probe.
 *
 * liburing 2.3 has no io_uring_setup_buf_ring: the buffer ring is mmap'd here, initialised with
 * io_uring_buf_ring_init and registered with io_uring_register_buf_ring. System-style returns:
 * 0 or -errno. A ring and its buffer ring belong to the thread that created them. */
#ifndef HF_ENGINE_URING_H
#define HF_ENGINE_URING_H

#include "base/assert.h"

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

/* How a ring was set up, best first. */
enum hf_ring_mode {
	HF_RING_PLAIN = 0,	   /* no task-run flags */
	HF_RING_COOP_TASKRUN = 1,  /* IORING_SETUP_COOP_TASKRUN */
	HF_RING_DEFER_TASKRUN = 2, /* IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN */
};

const char *hf_ring_mode_name(enum hf_ring_mode mode);

/* Creates a ring of sq_entries SQEs and cq_entries CQEs on the calling thread, trying
 * SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then no flag. Returns 0 and *mode_out, or the
 * -errno of the last attempt. */
int hf_ring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries,
		 enum hf_ring_mode *mode_out);

/* An SQE of ring, submitting the queued ones first when the SQ is full. Never NULL: panics when the
 * SQ stays full after a bounded number of submits (the kernel then accepts nothing). */
struct io_uring_sqe *hf_ring_sqe(struct io_uring *ring);

/* A provided-buffer ring: `entries` buffers of buf_size bytes, buffer id = index.
 * Ownership: a buffer belongs to the kernel from hf_buf_ring_recycle (or setup) until a recv CQE
 * names it; then to the CQE's handler, which gives it back with hf_buf_ring_recycle. */
struct hf_buf_ring {
	struct io_uring_buf_ring *br; /* the shared ring (mmap'd) */
	size_t br_size;		      /* bytes mapped for br */
	uint8_t *bufs;		      /* entries * buf_size bytes */
	uint32_t entries;	      /* power of 2, <= 32768 */
	uint32_t buf_size;	      /* bytes per buffer */
	uint16_t bgid;		      /* buffer group id */
};

/* Maps, fills and registers a buffer ring with every buffer given to the kernel. Returns 0,
 * -ENOMEM, or the registration's -errno (-EINVAL on kernels without buffer rings). */
int hf_buf_ring_setup(struct io_uring *ring, struct hf_buf_ring *out, uint16_t bgid,
		      uint32_t entries, uint32_t buf_size);
void hf_buf_ring_teardown(struct io_uring *ring, struct hf_buf_ring *b);
/* Frees the memory of a buffer ring whose io_uring is already closed (so nothing is unregistered).
 */
void hf_buf_ring_free(struct hf_buf_ring *b);

static inline uint8_t *hf_buf_ring_addr(const struct hf_buf_ring *b, uint32_t bid)
{
	HF_ASSERT(bid < b->entries);
	return b->bufs + (size_t)bid * b->buf_size;
}

/* Gives buffer bid back to the kernel. */
static inline void hf_buf_ring_recycle(struct hf_buf_ring *b, uint32_t bid)
{
	HF_ASSERT(bid < b->entries);
	io_uring_buf_ring_add(b->br, hf_buf_ring_addr(b, bid), b->buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(b->entries), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

/* Checks, on a scratch ring, everything the shards rely on: the opcodes, buffer rings, multishot
 * accept (on a loopback listener) and multishot recv with buffer selection (on a socket pair).
 * Returns 0, or -ENOTSUP / -errno with a one-line reason in why. */
int hf_uring_probe(char *why, size_t why_size);

#endif
