/* One epoll per load thread, with lazy registration (evloop.h). */
#include "bench/evloop.h"
#include "bench/target.h"

#include "base/assert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int hf_bench_evloop_init(struct hf_bench_evloop *loop)
{
	memset(loop, 0, sizeof(*loop));
	struct rlimit rl;
	uint64_t size = HF_BENCH_EVLOOP_FDS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < size)
		size = rl.rlim_cur;
	if (size < 64)
		size = 64;
	loop->fds_size = (uint32_t)size;
	loop->fds = calloc(loop->fds_size, sizeof(*loop->fds));
	loop->dirty = calloc(loop->fds_size, sizeof(*loop->dirty));
	if (loop->fds == NULL || loop->dirty == NULL)
		goto err_free;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int rc = -errno;
		free(loop->fds);
		free(loop->dirty);
		memset(loop, 0, sizeof(*loop));
		loop->epfd = -1;
		return rc;
	}
	return 0;

err_free:
	free(loop->fds);
	free(loop->dirty);
	memset(loop, 0, sizeof(*loop));
	loop->epfd = -1;
	return -ENOMEM;
}

void hf_bench_evloop_deinit(struct hf_bench_evloop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->fds);
	free(loop->dirty);
	memset(loop, 0, sizeof(*loop));
	loop->epfd = -1;
}

#define REGISTERED_UNKNOWN 0x80u /* not a valid want: the kernel's state is not tracked */

static uint32_t epoll_bits(uint32_t events)
{
	return ((events & HF_BENCH_EV_READ) ? (uint32_t)EPOLLIN : 0u) |
	       ((events & HF_BENCH_EV_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

/* Makes the kernel hold `want` for fd, from `registered`. Returns what it holds afterwards. The
 * races a closed-and-reused descriptor can cause (ADD of a registered fd, MOD or DEL of one the
 * kernel dropped on close) are answered by the other operation. */
static uint8_t apply(struct hf_bench_evloop *loop, uint32_t owner, int fd, uint8_t want,
		     uint8_t registered)
{
	HF_ASSERT(fd >= 0);
	if (want == registered)
		return registered;
	struct epoll_event ev = {.events = epoll_bits(want),
				 .data.u64 = (uint64_t)owner << 32 | (uint32_t)fd};
	int op = want == 0 ? EPOLL_CTL_DEL : registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	loop->ctl_count++;
	if (epoll_ctl(loop->epfd, op, fd, &ev) == 0)
		return want;
	int err = errno;
	if (op == EPOLL_CTL_DEL)
		return 0; /* ENOENT / EBADF: the kernel had already forgotten it */
	int other = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if ((err == EEXIST || err == ENOENT) && epoll_ctl(loop->epfd, other, fd, &ev) == 0) {
		loop->ctl_count++;
		return want;
	}
	if (loop->ctl_errors++ == 0)
		fprintf(stderr, "holdfast-bench: epoll_ctl of fd %d: %s\n", fd, strerror(err));
	return 0;
}

void hf_bench_evloop_watch(struct hf_bench_evloop *loop, uint32_t owner, int fd, uint32_t events)
{
	HF_ASSERT(fd >= 0);
	HF_ASSERT(events <= (HF_BENCH_EV_READ | HF_BENCH_EV_WRITE));
	if ((uint32_t)fd >= loop->fds_size) {
		/* Past the table: no lazy state. UNKNOWN never equals a want, so apply always
		 * acts: DEL, or MOD falling back to ADD. */
		apply(loop, owner, fd, (uint8_t)events, REGISTERED_UNKNOWN);
		return;
	}
	struct hf_bench_fd_watch *f = &loop->fds[fd];
	f->want = (uint8_t)events;
	f->owner = owner;
	if (events == 0) {
		f->registered = apply(loop, owner, fd, 0, f->registered);
		return;
	}
	if (!f->dirty) {
		HF_ASSERT(loop->dirty_count < loop->fds_size);
		f->dirty = 1;
		loop->dirty[loop->dirty_count++] = fd;
	}
}

static void reconcile(struct hf_bench_evloop *loop)
{
	/* Bounded by the table: each descriptor is in the list at most once (invariant 2). */
	for (uint32_t i = 0; i < loop->dirty_count; i++) {
		struct hf_bench_fd_watch *f = &loop->fds[loop->dirty[i]];
		HF_ASSERT(f->dirty);
		f->dirty = 0;
		f->registered = apply(loop, f->owner, loop->dirty[i], f->want, f->registered);
	}
	loop->dirty_count = 0;
}

int hf_bench_evloop_wait(struct hf_bench_evloop *loop, uint64_t timeout_ns)
{
	reconcile(loop);
	loop->wait_count++;
	int n;
	if (!loop->no_pwait2) {
		struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
				      .tv_nsec = (long)(timeout_ns % 1000000000u)};
		n = epoll_pwait2(loop->epfd, loop->events, HF_BENCH_EVLOOP_EVENTS_MAX, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n >= 0 ? n : errno == EINTR ? 0 : -errno;
		loop->no_pwait2 = 1;
	}
	uint64_t ms = (timeout_ns + 999999u) / 1000000u;
	n = epoll_wait(loop->epfd, loop->events, HF_BENCH_EVLOOP_EVENTS_MAX,
		       ms > 1000000u ? 1000000 : (int)ms);
	return n >= 0 ? n : errno == EINTR ? 0 : -errno;
}

void hf_bench_evloop_ready(const struct hf_bench_evloop *loop, int i, uint32_t *owner_out,
			   int *fd_out, uint32_t *events_out)
{
	HF_ASSERT(i >= 0);
	HF_ASSERT((unsigned)i < HF_BENCH_EVLOOP_EVENTS_MAX);
	const struct epoll_event *ev = &loop->events[i];
	*owner_out = (uint32_t)(ev->data.u64 >> 32);
	*fd_out = (int)(uint32_t)ev->data.u64;
	*events_out =
	    ((ev->events & EPOLLIN) ? HF_BENCH_EV_READ : 0u) |
	    ((ev->events & EPOLLOUT) ? HF_BENCH_EV_WRITE : 0u) |
	    ((ev->events & (EPOLLERR | EPOLLHUP)) ? HF_BENCH_EV_READ | HF_BENCH_EV_ERROR : 0u);
}
