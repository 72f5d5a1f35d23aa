/* holdfast-bench --plot FILE.svg|FILE.png: a picture of the run drawn with gnuplot (Debian's
 * gnuplot-nox, installed by scripts/install-deps.sh): throughput over time, latency percentiles
 * by operation, and for onsale the sell-out curve (seats held or booked, and booked, over time).
 *
 * The main thread samples the run's counters into a bounded timeline while the load runs
 * (hf_bench_timeline_add, every interval); after the report it writes the data and a gnuplot
 * script into a private temporary directory and runs gnuplot on them, bounded in time. */
#ifndef HF_BENCH_PLOT_H
#define HF_BENCH_PLOT_H

#include "bench/report.h"

#include <stddef.h>
#include <stdint.h>

#define HF_BENCH_TIMELINE_SAMPLES_MAX	  4096u
#define HF_BENCH_TIMELINE_INTERVAL_NS_MIN 10000000ull  /* 10 ms: an onsale can end in 0.3 s */
#define HF_BENCH_PLOT_RATE_WINDOW_NS	  200000000ull /* rates over 200 ms: smooth, still live */
#define HF_BENCH_PLOT_GNUPLOT_MS	  60000u       /* gnuplot's time to draw, then killed */

struct hf_bench_sample {
	uint64_t t_ns;	   /* since the load started */
	uint64_t done;	   /* answers */
	uint64_t holds_ok; /* successful holds */
	uint64_t taken;	   /* onsale: seats held or booked */
	uint64_t booked;   /* onsale: seats booked */
};

struct hf_bench_timeline {
	uint64_t interval_ns; /* >= HF_BENCH_TIMELINE_INTERVAL_NS_MIN */
	uint64_t next_ns;     /* the next sample is due at this t_ns */
	uint32_t count;	      /* 0 .. HF_BENCH_TIMELINE_SAMPLES_MAX */
	struct hf_bench_sample samples[HF_BENCH_TIMELINE_SAMPLES_MAX];
};

/* Sizes the interval so that a run of duration_s fits the samples (caller owns tl). */
void hf_bench_timeline_init(struct hf_bench_timeline *tl, double duration_s);

/* Records a sample when one is due at t_ns (and room is left; later samples are dropped). */
void hf_bench_timeline_add(struct hf_bench_timeline *tl, const struct hf_bench_sample *s);

/* 0 when path can be plotted to (ends in .svg or .png, at most HF_BENCH_PLOT_PATH_SIZE_MAX
 * (bench.h) bytes, no quote or newline, which gnuplot's script could not carry); else -EINVAL.
 * Pure. */
int hf_bench_plot_path_check(const char *path);

/* Draws the run into path. Returns 0, or -errno (a message on stderr says why: gnuplot missing,
 * failed, too slow, output not written). */
int hf_bench_plot_write(const char *path, const struct hf_bench_report *r,
			const struct hf_bench_timeline *tl);

#endif
