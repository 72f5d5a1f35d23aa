/* The results of one holdfast-bench run and their two renderings: a human table (default) and one
 * JSON object (--json), whose field names other tools rely on (docs/bench.md lists them). */
#ifndef HF_BENCH_REPORT_H
#define HF_BENCH_REPORT_H

#include "bench/bench.h"
#include "bench/cpu.h"
#include "bench/hist.h"
#include "bench/target.h"
#include "bench/workload.h"

#include <stdio.h>

struct hf_bench_op_stats {
	uint64_t ok;
	uint64_t refused;
	uint64_t errors;
	int error_first; /* the first error: -errno (no answer) or a status (< 16); 0 = none */
	uint16_t refused_first; /* the first refusal status; 0 = none */
	struct hf_hist hist;	/* latencies of answered requests (ok and refused), ns */
};

void hf_bench_op_stats_init(struct hf_bench_op_stats *stats);
void hf_bench_op_stats_merge(struct hf_bench_op_stats *dst, const struct hf_bench_op_stats *src);

struct hf_bench_report {
	const struct hf_bench_opts *opts;
	const char *target_name;
	double duration_s; /* the measured window (after warmup) */
	struct hf_bench_op_stats ops[HF_BENCH_OP_KINDS];
	/* onsale */
	uint64_t sellout_ns[HF_BENCH_SELLOUT_MARKS]; /* 0 = not reached */
	uint64_t soldout_ns;
	uint64_t seats_booked;
	uint64_t seats_taken;
	/* open loop */
	uint64_t sends_late; /* sends more than HF_BENCH_LATE_NS after their scheduled time */
	uint64_t send_lag_ns_max;
	uint64_t sends_missed;	 /* scheduled sends never made (run ended with a backlog) */
	struct hf_bench_cpu cpu; /* the bench's and the server's CPU over the window */
	struct hf_bench_check check;
	int exit_code; /* 0, or 1 when the check failed */
};

#define HF_BENCH_LATE_NS 1000000u /* 1 ms behind schedule counts as the bench not keeping up */

void hf_bench_report_table(FILE *out, const struct hf_bench_report *r);
void hf_bench_report_json(FILE *out, const struct hf_bench_report *r);

#endif
