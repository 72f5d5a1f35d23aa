/* io_uring plumbing (see uring.h): ring setup with fallback, provided-buffer rings, feature probe.
 */
#include "engine/uring.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Entries of the probe's scratch ring and buffer ring, and how long it waits for a completion. */
#define PROBE_RING_ENTRIES 8u
#define PROBE_BUFS_COUNT   4u
#define PROBE_BUF_SIZE	   64u
#define PROBE_WAIT_MS	   2000
#define PROBE_BGID	   7u
/* Submit attempts hf_ring_sqe makes for a free SQE before it gives up. */
#define RING_SQE_RETRIES 64

struct io_uring_sqe *hf_ring_sqe(struct io_uring *ring)
{
	for (int i = 0; i < RING_SQE_RETRIES; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		if (sqe != NULL)
			return sqe;
		int rc = io_uring_submit(ring);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
			hf_log_error("io_uring submit: %s", strerror(-rc));
	}
	HF_PANIC("the submission queue stays full after %d submits", RING_SQE_RETRIES);
}

const char *hf_ring_mode_name(enum hf_ring_mode mode)
{
	switch (mode) {
	case HF_RING_DEFER_TASKRUN:
		return "SINGLE_ISSUER|DEFER_TASKRUN";
	case HF_RING_COOP_TASKRUN:
		return "COOP_TASKRUN";
	case HF_RING_PLAIN:
		return "plain";
	}
	return "unknown";
}

int hf_ring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries,
		 enum hf_ring_mode *mode_out)
{
	static const struct {
		uint32_t flags;
		enum hf_ring_mode mode;
	} attempts[] = {
	    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, HF_RING_DEFER_TASKRUN},
	    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, HF_RING_COOP_TASKRUN},
	    {0, HF_RING_PLAIN},
	};
	HF_ASSERT(sq_entries >= 1 && cq_entries >= sq_entries);
	int rc = -EINVAL;
	for (size_t i = 0; i < HF_ARRAY_SIZE(attempts); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = attempts[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
		rc = io_uring_queue_init_params(sq_entries, ring, &p);
		if (rc == 0) {
			*mode_out = attempts[i].mode;
			return 0;
		}
	}
	return rc;
}

int hf_buf_ring_setup(struct io_uring *ring, struct hf_buf_ring *out, uint16_t bgid,
		      uint32_t entries, uint32_t buf_size)
{
	HF_ASSERT(entries >= 1 && entries <= 32768 && (entries & (entries - 1)) == 0);
	HF_ASSERT(buf_size >= 1);
	memset(out, 0, sizeof(*out));
	out->entries = entries;
	out->buf_size = buf_size;
	out->bgid = bgid;
	out->br_size = (size_t)entries * sizeof(struct io_uring_buf);
	void *mem =
	    mmap(NULL, out->br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	out->br = mem;
	out->bufs = malloc((size_t)entries * buf_size);
	if (out->bufs == NULL) {
		munmap(mem, out->br_size);
		return -ENOMEM;
	}
	io_uring_buf_ring_init(out->br);
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)out->br;
	reg.ring_entries = entries;
	reg.bgid = bgid;
	int rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc != 0) {
		free(out->bufs);
		munmap(mem, out->br_size);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	int mask = io_uring_buf_ring_mask(entries);
	for (uint32_t i = 0; i < entries; i++)
		io_uring_buf_ring_add(out->br, hf_buf_ring_addr(out, i), buf_size,
				      (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(out->br, (int)entries);
	return 0;
}

void hf_buf_ring_free(struct hf_buf_ring *b)
{
	if (b->br == NULL)
		return;
	munmap(b->br, b->br_size);
	free(b->bufs);
	memset(b, 0, sizeof(*b));
}

void hf_buf_ring_teardown(struct io_uring *ring, struct hf_buf_ring *b)
{
	if (b->br == NULL)
		return;
	(void)io_uring_unregister_buf_ring(ring, b->bgid);
	hf_buf_ring_free(b);
}

/* ---- Probe ---- */

static int why_set(char *why, size_t why_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int why_set(char *why, size_t why_size, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return rc;
}

/* Submits what is queued and waits for one CQE; copies it out. */
static int probe_wait(struct io_uring *ring, struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe = NULL;
	struct __kernel_timespec ts = {.tv_sec = PROBE_WAIT_MS / 1000,
				       .tv_nsec = (PROBE_WAIT_MS % 1000) * 1000000L};
	int rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	if (rc < 0)
		return rc;
	if (cqe == NULL)
		return -ETIME;
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static int probe_opcodes(struct io_uring *ring, char *why, size_t why_size)
{
	static const struct {
		int op;
		const char *name;
	} needed[] = {
	    {IORING_OP_ACCEPT, "ACCEPT"},
	    {IORING_OP_RECV, "RECV"},
	    {IORING_OP_SEND, "SEND"},
	    {IORING_OP_POLL_ADD, "POLL_ADD"},
	    {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
	};
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (probe == NULL)
		return why_set(why, why_size, -ENOTSUP, "the kernel cannot list io_uring opcodes");
	int rc = 0;
	for (size_t i = 0; i < HF_ARRAY_SIZE(needed) && rc == 0; i++) {
		if (!io_uring_opcode_supported(probe, needed[i].op))
			rc = why_set(why, why_size, -ENOTSUP, "io_uring opcode %s is missing",
				     needed[i].name);
	}
	io_uring_free_probe(probe);
	return rc;
}

static int probe_multishot_recv(struct io_uring *ring, char *why, size_t why_size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return why_set(why, why_size, -errno, "socketpair: %s", strerror(errno));
	struct hf_buf_ring bufs;
	int rc = hf_buf_ring_setup(ring, &bufs, PROBE_BGID, PROBE_BUFS_COUNT, PROBE_BUF_SIZE);
	if (rc != 0) {
		rc = why_set(why, why_size, rc == -ENOMEM ? rc : -ENOTSUP,
			     "provided-buffer rings are missing (register_buf_ring: %s; needs "
			     "Linux 5.19)",
			     strerror(-rc));
		goto err_close;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	HF_ASSERT(sqe != NULL);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = PROBE_BGID;
	sqe->user_data = 1;
	if (write(sv[1], "probe", 5) != 5) {
		rc = why_set(why, why_size, -EIO, "socketpair write failed");
		goto err_bufs;
	}
	struct io_uring_cqe cqe;
	rc = probe_wait(ring, &cqe);
	if (rc != 0) {
		rc =
		    why_set(why, why_size, rc, "multishot recv: no completion (%s)", strerror(-rc));
		goto err_bufs;
	}
	if (cqe.res != 5 || !(cqe.flags & IORING_CQE_F_MORE) ||
	    !(cqe.flags & IORING_CQE_F_BUFFER)) {
		rc = why_set(why, why_size, -ENOTSUP,
			     "multishot recv with provided buffers is missing (res %d, flags 0x%x; "
			     "needs Linux 6.0)",
			     cqe.res, cqe.flags);
		goto err_bufs;
	}
	/* Closing the peer ends the multishot recv with a final completion. */
	close(sv[1]);
	sv[1] = -1;
	for (int i = 0; i < 4; i++) {
		if (probe_wait(ring, &cqe) != 0 || !(cqe.flags & IORING_CQE_F_MORE))
			break;
	}
	rc = 0;
err_bufs:
	hf_buf_ring_teardown(ring, &bufs);
err_close:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}

static int probe_multishot_accept(struct io_uring *ring, char *why, size_t why_size)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return why_set(why, why_size, -errno, "socket: %s", strerror(errno));
	int cfd = -1;
	int rc = 0;
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 4) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len) != 0) {
		rc = why_set(why, why_size, -errno, "loopback listener: %s", strerror(errno));
		goto err_close;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	HF_ASSERT(sqe != NULL);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = 2;
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = why_set(why, why_size, -errno, "loopback connect: %s", strerror(errno));
		goto err_close;
	}
	struct io_uring_cqe cqe;
	rc = probe_wait(ring, &cqe);
	if (rc != 0) {
		rc = why_set(why, why_size, rc, "multishot accept: no completion (%s)",
			     strerror(-rc));
		goto err_close;
	}
	if (cqe.res < 0 || !(cqe.flags & IORING_CQE_F_MORE)) {
		if (cqe.res >= 0)
			close(cqe.res);
		rc = why_set(why, why_size, -ENOTSUP,
			     "multishot accept is missing (res %d, flags 0x%x; needs Linux 5.19)",
			     cqe.res, cqe.flags);
		goto err_close;
	}
	close(cqe.res);
	/* Cancel the accept so nothing refers to lfd once it is closed. */
	sqe = io_uring_get_sqe(ring);
	HF_ASSERT(sqe != NULL);
	io_uring_prep_cancel64(sqe, 2, 0);
	sqe->user_data = 3;
	for (int i = 0; i < 4; i++) {
		if (probe_wait(ring, &cqe) != 0)
			break;
		if (cqe.user_data == 2 && !(cqe.flags & IORING_CQE_F_MORE))
			break;
	}
err_close:
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return rc;
}

int hf_uring_probe(char *why, size_t why_size)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(PROBE_RING_ENTRIES, &ring, 0);
	if (rc != 0)
		return why_set(why, why_size, rc, "io_uring_setup failed: %s", strerror(-rc));
	rc = probe_opcodes(&ring, why, why_size);
	if (rc == 0)
		rc = probe_multishot_recv(&ring, why, why_size);
	if (rc == 0)
		rc = probe_multishot_accept(&ring, why, why_size);
	io_uring_queue_exit(&ring);
	if (rc == 0)
		why[0] = '\0';
	return rc;
}
