/* The event loop of one holdfast-bench load thread: one epoll instance over the sockets of all of
 * the thread's connections, so that a round costs one wait whatever the connection count.
 *
 * Connections say what each socket needs (hf_bench_evloop_watch: read, write, or nothing) as often
 * as they like; the change reaches the kernel lazily, once, just before the next wait, and only if
 * it still differs from what is registered. libholdfast asks for WRITE on the first submit of a
 * round and drops it again when the flush that follows empties its buffer: with lazy registration
 * that costs no epoll_ctl at all. Forgetting a socket (events 0) is applied at once, because the
 * caller closes it next and its number may come back for a new socket.
 *
 * INVARIANTS
 *  1. fds[fd].registered is what the epoll instance holds for fd (0: not registered), for every
 *     fd < fds_size; descriptors past the table are applied at once (no lazy state).
 *  2. fds[fd].dirty iff fd is in dirty[0 .. dirty_count); dirty_count <= fds_size.
 *  3. After hf_bench_evloop_wait's reconcile, registered == want for every fd in the table.
 *
 * One instance belongs to one thread. */
#ifndef HF_BENCH_EVLOOP_H
#define HF_BENCH_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#define HF_BENCH_EVLOOP_EVENTS_MAX 256u	      /* ready sockets handled per wait */
#define HF_BENCH_EVLOOP_FDS_MAX	   (1u << 20) /* descriptors with lazy state (RLIMIT_NOFILE cap) */

struct hf_bench_fd_watch {
	uint32_t owner;	    /* the caller's index of the connection that owns fd */
	uint8_t want;	    /* HF_BENCH_EV_READ | HF_BENCH_EV_WRITE, as last asked */
	uint8_t registered; /* as the epoll instance has it */
	uint8_t dirty;
};

struct hf_bench_evloop {
	int epfd;
	uint32_t fds_size; /* min(RLIMIT_NOFILE, HF_BENCH_EVLOOP_FDS_MAX) */
	struct hf_bench_fd_watch *fds;
	int32_t *dirty; /* fds_size entries */
	uint32_t dirty_count;
	uint64_t ctl_count;  /* epoll_ctl calls made */
	uint64_t wait_count; /* waits made */
	uint64_t ctl_errors; /* epoll_ctl failures other than the expected races */
	int no_pwait2;	     /* epoll_pwait2 missing: waits round up to milliseconds */
	struct epoll_event events[HF_BENCH_EVLOOP_EVENTS_MAX];
};

/* Creates the epoll instance and the tables. Returns 0 or -errno. */
int hf_bench_evloop_init(struct hf_bench_evloop *loop);
void hf_bench_evloop_deinit(struct hf_bench_evloop *loop);

/* fd of connection `owner` needs events (HF_BENCH_EV_READ | _WRITE; 0: forget it now). */
void hf_bench_evloop_watch(struct hf_bench_evloop *loop, uint32_t owner, int fd, uint32_t events);

/* Brings the registrations in line, then waits up to timeout_ns (0: do not block) for ready
 * sockets. Returns how many are in loop->events (read them with hf_bench_evloop_ready), 0 on
 * timeout or signal, or -errno. */
int hf_bench_evloop_wait(struct hf_bench_evloop *loop, uint64_t timeout_ns);

/* Ready entry i of the last wait: its owner and fd, and HF_BENCH_EV_* bits. */
void hf_bench_evloop_ready(const struct hf_bench_evloop *loop, int i, uint32_t *owner_out,
			   int *fd_out, uint32_t *events_out);

#endif
