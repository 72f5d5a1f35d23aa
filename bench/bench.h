/* Types shared by the parts of holdfast-bench: options, the abstract operation a virtual user
 * issues, and the result a target (holdfast or Redis) hands back for it.
 *
 * The workload generators (workload.c) speak only these types, so the same users, the same mix and
 * the same latency accounting drive both targets: target_hf.c turns an operation into a holdfast
 * request through the client library, target_redis.c into an EVALSHA of a Lua script. */
#ifndef HF_BENCH_BENCH_H
#define HF_BENCH_BENCH_H

#include <stdint.h>
#include <stdio.h>

/* Limits of the bench itself. */
#define HF_BENCH_HOST_SIZE_MAX	  127u
#define HF_BENCH_PATH_SIZE_MAX	  1023u
#define HF_BENCH_CONNECTIONS_MAX  4096u
#define HF_BENCH_PIPELINE_MAX	  4096u
#define HF_BENCH_THREADS_MAX	  64u
#define HF_BENCH_EVENTS_MAX	  65536u
#define HF_BENCH_SEATS_MAX	  (16u * 1024u * 1024u) /* HF_EVENT_SEATS_MAX */
#define HF_BENCH_HOLD_SEATS_MAX	  8u			/* seats one virtual user holds at once */
#define HF_BENCH_DURATION_S_MAX	  86400.0
#define HF_BENCH_AVAIL_WINDOW_MAX 65536u /* seats in one AVAIL range a user asks for */

#define HF_BENCH_CLIENT_RETRIES_MAX 100u /* --client-retries */

enum hf_bench_target_kind {
	HF_BENCH_TARGET_HOLDFAST = 0,
	HF_BENCH_TARGET_REDIS = 1,
};

enum hf_bench_workload {
	HF_BENCH_WORKLOAD_ONSALE = 0,
	HF_BENCH_WORKLOAD_HOLDS = 1,
	HF_BENCH_WORKLOAD_AVAIL = 2,
	HF_BENCH_WORKLOAD_MIXED = 3,
	HF_BENCH_WORKLOAD_CREATE = 4, /* only create the events (memory measurements), no load */
	HF_BENCH_WORKLOAD_PING = 5, /* PING only: the protocol's ceiling on the same connections */
};

/* The operations reported, in report order. CREATE and PING are reported only when they
 * happened. */
enum hf_bench_op_kind {
	HF_BENCH_OP_HOLD = 0,
	HF_BENCH_OP_CONFIRM = 1,
	HF_BENCH_OP_RELEASE = 2,
	HF_BENCH_OP_AVAIL = 3,
	HF_BENCH_OP_INFO = 4,
	HF_BENCH_OP_CREATE = 5,
	HF_BENCH_OP_PING = 6, /* reported only when it happened (the ping workload) */
	HF_BENCH_OP_KINDS = 7,
};

const char *hf_bench_op_name(unsigned kind);
const char *hf_bench_workload_name(unsigned workload);

#define HF_BENCH_PLOT_PATH_SIZE_MAX 1024u /* bytes of --plot's path */

struct hf_bench_opts {
	char host[HF_BENCH_HOST_SIZE_MAX + 1];	    /* holdfast node, HOST:PORT */
	char redis[HF_BENCH_HOST_SIZE_MAX + 1];	    /* Redis server, HOST:PORT */
	char lua_dir[HF_BENCH_PATH_SIZE_MAX + 1];   /* the Redis scripts (bench/compare) */
	char plot[HF_BENCH_PLOT_PATH_SIZE_MAX + 1]; /* --plot FILE.svg|.png; "" = no plot */
	uint8_t target;				    /* enum hf_bench_target_kind */
	uint8_t workload;			    /* enum hf_bench_workload */
	uint32_t connections;			    /* 1 .. HF_BENCH_CONNECTIONS_MAX */
	uint32_t pipeline;	 /* requests in flight per connection, 1 .. HF_BENCH_PIPELINE_MAX */
	uint32_t batch;		 /* holdfast: BATCH entries per frame (batch_max); 0, 1: off */
	uint32_t threads;	 /* 1 .. min(connections, HF_BENCH_THREADS_MAX) */
	double duration_s;	 /* > 0 */
	double warmup_s;	 /* >= 0, latencies of this first part are dropped */
	double rate_ops_per_s;	 /* 0: closed loop; > 0: open loop at this total rate */
	uint64_t ops_max;	 /* 0: no limit; else stop after this many operations were sent */
	uint64_t seed;		 /* never 0 after parsing (0 on the command line: pick one) */
	uint64_t event_base;	 /* 0 until resolved from the seed */
	uint32_t seats;		 /* seats per event, 1 .. HF_BENCH_SEATS_MAX */
	uint32_t events;	 /* events the workload spreads over, 1 .. HF_BENCH_EVENTS_MAX */
	uint32_t row_width;	 /* seats per row, 0 = one row */
	uint32_t users;		 /* distinct user ids */
	double confirm_ratio;	 /* 0 .. 1 */
	uint32_t avail_per_hold; /* onsale: AVAIL queries per hold attempt */
	uint32_t avail_range;	 /* avail workload: seats of a range query */
	uint8_t pick_best;	 /* onsale: best-available instead of random picks */
	uint32_t ttl_s;		 /* hold TTL, 1 .. 86400 */
	uint32_t mix[5];	 /* mixed: weights of hold, confirm, release, avail, info */
	uint8_t check;
	uint8_t create;
	uint8_t json;
	uint8_t progress;     /* the per-second line on stderr */
	uint32_t server_pid;  /* --server-pid: the local server, for its CPU per op; 0 = none */
	uint8_t seats_given;  /* --seats was on the command line */
	uint8_t events_given; /* --events was on the command line */
	/* --client-retries: libholdfast's retries_max (0 .. HF_BENCH_CLIENT_RETRIES_MAX), when
	 * given; else the library's default. */
	uint32_t client_retries;
	uint8_t client_retries_given;
	/* onsale --waiting-room[=on|off] (bench/room_sale.h): 0 the classic onsale; 1 the buyers
	 * go through the event's waiting room; 2 the same buyers without a room. */
	uint8_t waiting_room;
	uint32_t room_shoppers_pct; /* --room-shoppers X: shoppers per free seat, in hundredths */
};

/* Fills the defaults, parses argv (getopt_long, argv is permuted), resolves the defaults that
 * depend on the workload and checks every value against its bound. Returns 0, 1 when --help or
 * --version was asked (printed), or -EINVAL with a message in err (size err_size). */
int hf_bench_opts_parse(struct hf_bench_opts *opts, int argc, char **argv, char *err,
			unsigned err_size);
void hf_bench_opts_usage(FILE *out);

/* What a virtual user asks for. */
struct hf_bench_op {
	uint8_t kind; /* enum hf_bench_op_kind */
	uint8_t
	    best; /* HOLD: best-available (seats_count adjacent seats) instead of listed seats */
	uint64_t event_id;
	uint64_t hold_id; /* HOLD, CONFIRM, RELEASE; < 2^62 */
	uint64_t user_id;
	uint32_t ttl_ms;
	uint32_t seats_count; /* HOLD: 1 .. HF_BENCH_HOLD_SEATS_MAX */
	uint32_t seats[HF_BENCH_HOLD_SEATS_MAX];
	uint32_t first;		  /* AVAIL range */
	uint32_t count;		  /* AVAIL range; 0 = counts only */
	uint32_t event_seats;	  /* CREATE */
	uint32_t event_row_width; /* CREATE */
	uint16_t owner;		  /* PING: the shard (owner index of the slot map) it goes to */
};

/* What came back. */
struct hf_bench_result {
	int error;	 /* 0: an answer arrived; -errno: none did (transport) */
	uint16_t status; /* enum hf_status when error == 0 (Redis scripts answer the same codes) */
	uint64_t detail;
	uint32_t seats_count; /* HOLD / CONFIRM: the seats of the hold */
	uint32_t seats[HF_BENCH_HOLD_SEATS_MAX];
	uint32_t event_seats;  /* AVAIL / INFO */
	uint32_t free_count;   /* AVAIL / INFO */
	uint32_t held_count;   /* INFO */
	uint32_t booked_count; /* INFO */
	/* AVAIL range: holdfast sends bit (seat - first) LSB first, 1 = free; Redis sends its
	 * bitmap bytes from byte first / 8, MSB first, 1 = taken. Borrowed for the completion call
	 * only. */
	const uint8_t *bitmap;
	uint32_t bitmap_first;
	uint32_t bitmap_count;
	uint8_t bitmap_redis;
};

/* 1 when seat (inside the result's range) is free according to an AVAIL range result. */
static inline int hf_bench_result_seat_free(const struct hf_bench_result *res, uint32_t seat)
{
	if (res->bitmap_redis) {
		uint32_t byte_index = seat / 8u - res->bitmap_first / 8u;
		return !((res->bitmap[byte_index] >> (7u - seat % 8u)) & 1u);
	}
	uint32_t i = seat - res->bitmap_first;
	return (res->bitmap[i / 8u] >> (i % 8u)) & 1u;
}

/* The class of an answer in the report. */
enum hf_bench_outcome {
	HF_BENCH_OUTCOME_OK = 0,
	HF_BENCH_OUTCOME_REFUSED = 1, /* a domain answer: SEAT_TAKEN, NOT_ENOUGH, ... */
	HF_BENCH_OUTCOME_ERROR = 2,   /* no answer, or a frame/server-level error status */
};

enum hf_bench_outcome hf_bench_outcome_of(const struct hf_bench_result *res);

#endif
