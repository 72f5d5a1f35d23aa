/* holdfast-bench --workload onsale --waiting-room[=on|off]: an on-sale of one event to a crowd of
 * buyers (--users of them, each wanting 1 or 2 seats), through the event's waiting room (on) or
 * straight at HOLD (off, the same buyers without a room), driven from one thread over libholdfast's
 * pipelined API.
 *
 *   on:  JOIN -> WAITING (POSITION, polled at half the estimate, 0.2 .. 2 s) -> ADMITTED -> HOLD
 *        with the token (best-available) -> CHECKOUT (100 ms) -> CONFIRM (--confirm-ratio) or
 *        RELEASE -> done. An admitted buyer whose HOLD finds no seats (after one retry with one
 *        seat) leaves with nothing: "admitted, found nothing". SOLD_OUT ends a waiting buyer.
 *   off: HOLD at once, and again every 200 ms while it answers NOT_ENOUGH and seats are still
 *        held (they may come back), at most 50 times; the rest as above.
 *
 * Reports the time to sell out (every seat booked), buyers admitted who found nothing, HOLD
 * latency percentiles of admitted buyers, and the counts of every outcome. */
#ifndef HF_BENCH_ROOM_SALE_H
#define HF_BENCH_ROOM_SALE_H

#include "bench/bench.h"

#define HF_BENCH_ROOM_BUYERS_MAX  1000000u
#define HF_BENCH_ROOM_POLL_MS_MIN 200u
#define HF_BENCH_ROOM_POLL_MS_MAX 2000u
#define HF_BENCH_ROOM_CHECKOUT_MS 100u
#define HF_BENCH_ROOM_RETRY_MS	  200u
#define HF_BENCH_ROOM_RETRIES_MAX 50u
#define HF_BENCH_ROOM_PIPELINE	  1024u
#define HF_BENCH_ROOM_ADMIT_TTL_S 60u

/* Runs the sale; returns the process exit status (0, or 2 when the target failed). */
int hf_bench_room_main(const struct hf_bench_opts *opts);

#endif
