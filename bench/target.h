/* A target is what holdfast-bench loads: holdfast (through libholdfast) or Redis (through our RESP
 * client and Lua scripts). Both offer the same pipelined shape, driven from the load thread's own
 * event loop (one epoll over all of the thread's connections, bench.c): a connection is attached
 * to the loop, names the sockets it wants watched and a timer, submits queue operations with a
 * tag, flush sends them, and on_ready reads what a ready socket has and delivers completions to
 * the loop's callback. A blocking call serves setup and checks (on a connection never attached).
 *
 * A connection belongs to one thread. Returns follow the system convention: 0 or -errno; answers
 * from the server are in struct hf_bench_result, never in the return value. */
#ifndef HF_BENCH_TARGET_H
#define HF_BENCH_TARGET_H

#include "bench/bench.h"
#include "bench/workload.h"

#include <stdint.h>

typedef void (*hf_bench_done_fn)(void *arg, uint64_t tag, const struct hf_bench_result *res);

/* The result of the after-run consistency check of an onsale event. */
struct hf_bench_check {
	uint8_t ran;
	uint8_t ok;
	uint64_t seats; /* the server's counts */
	uint64_t free_count;
	uint64_t held_count;
	uint64_t booked_count;
	uint64_t bench_booked;	    /* seats of acknowledged confirms */
	uint64_t bench_held;	    /* seats of acknowledged, undecided holds */
	uint64_t owner_mismatches;  /* seats whose server state/owner differs from the bench's */
	uint64_t bitmap_mismatches; /* AVAIL bitmap vs seat states */
	uint64_t double_owned;	    /* seats claimed by two live holds/bookings */
	uint64_t ledger_conflicts;  /* acknowledged answers that contradicted each other */
	uint64_t outcomes_unknown;  /* operations given up without an answer (see workload.h) */
	char message[256];	    /* the first problem found, or "" */
};

/* Event-loop mode. The bits are libholdfast's HF_CLIENT_EV_* (target_hf.c checks it). */
#define HF_BENCH_EV_READ  0x1u /* readable / wants reading */
#define HF_BENCH_EV_WRITE 0x2u /* writable / wants writing */
#define HF_BENCH_EV_ERROR 0x4u /* (to on_ready only) error or hangup */

struct hf_bench_loop {
	/* fd should be watched for events (HF_BENCH_EV_READ | _WRITE); 0: forget fd now, the
	 * connection is about to close it. */
	void (*watch)(void *arg, int fd, uint32_t events);
	/* The connection needs on_ready(conn, -1, 0) in timeout_ms (0: at once, -1: no timer).
	 * May be NULL for a target without timers. */
	void (*timer)(void *arg, int timeout_ms);
	hf_bench_done_fn done; /* every completion, from inside on_ready or flush */
	void *arg;	       /* for all three */
};

struct hf_bench_target {
	const char *name;
	/* Opens one connection (one hf_client, or one Redis socket) allowing `pipeline` requests in
	 * flight. */
	int (*open)(const struct hf_bench_opts *opts, uint32_t pipeline, void **conn_out);
	void (*close)(void *conn);
	/* Queues op; returns 0, -EAGAIN when the pipeline is full, or -errno. */
	int (*submit)(void *conn, const struct hf_bench_op *op, uint64_t tag);
	/* Puts the connection in event-loop mode (loop copied); it reports its sockets through
	 * loop->watch at once. Returns 0 or -errno. */
	int (*attach)(void *conn, const struct hf_bench_loop *loop);
	/* Sends what submit queued, without waiting. Returns completions delivered (failures of a
	 * broken connection) or -errno. */
	int (*flush)(void *conn);
	/* fd is ready for events (HF_BENCH_EV_*), or fd == -1: the timer fired. Reads what is
	 * there, delivers completions, sends what they submitted. Returns the number delivered or
	 * -errno. */
	int (*on_ready)(void *conn, int fd, uint32_t events);
	uint32_t (*in_flight)(void *conn);
	/* One operation, blocking (no pipelined request may be in flight). res->bitmap is valid
	 * until the next call on conn. */
	int (*call)(void *conn, const struct hf_bench_op *op, struct hf_bench_result *res);
	/* The shards to spread events over: *owners_count and slot_owner (NULL for one). */
	void (*routing)(void *conn, uint16_t *owners_count_out, const uint16_t **slot_owner_out);
	/* Checks the onsale event after the run against the ledger. Returns 0 (check->ok says the
	 * verdict) or -errno when the server could not be asked. */
	int (*check)(void *conn, const struct hf_bench_shared *shared,
		     struct hf_bench_check *check);
};

extern const struct hf_bench_target hf_bench_target_holdfast;
extern const struct hf_bench_target hf_bench_target_redis;

#endif
