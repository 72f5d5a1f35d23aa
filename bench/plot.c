/* holdfast-bench's plots (see plot.h): the timeline, the data files, the gnuplot script and a
 * bounded run of gnuplot.
 *
 * INVARIANTS
 *   1. tl->count <= HF_BENCH_TIMELINE_SAMPLES_MAX and samples are in increasing t_ns.
 *   2. Every file written goes into a private mkdtemp directory, removed on every exit path. */
#include "bench/plot.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLOT_DIR_SIZE	     64u
#define PLOT_FILE_SIZE	     (PLOT_DIR_SIZE + 32u)
#define PLOT_OUTPUT_SIZE_MIN 512 /* bytes: less than this is not a picture */

extern char **environ;

void hf_bench_timeline_init(struct hf_bench_timeline *tl, double duration_s)
{
	HF_ASSERT(tl != NULL);
	HF_ASSERT(duration_s > 0);
	uint64_t want = (uint64_t)(duration_s * 1e9) / (HF_BENCH_TIMELINE_SAMPLES_MAX - 1u);
	tl->interval_ns =
	    want > HF_BENCH_TIMELINE_INTERVAL_NS_MIN ? want : HF_BENCH_TIMELINE_INTERVAL_NS_MIN;
	tl->next_ns = 0;
	tl->count = 0;
}

void hf_bench_timeline_add(struct hf_bench_timeline *tl, const struct hf_bench_sample *s)
{
	HF_ASSERT(tl->count <= HF_BENCH_TIMELINE_SAMPLES_MAX);
	if (s->t_ns < tl->next_ns || tl->count == HF_BENCH_TIMELINE_SAMPLES_MAX)
		return;
	HF_ASSERT(tl->count == 0 || s->t_ns > tl->samples[tl->count - 1].t_ns);
	tl->samples[tl->count++] = *s;
	tl->next_ns = s->t_ns + tl->interval_ns;
}

int hf_bench_plot_path_check(const char *path)
{
	HF_ASSERT(path != NULL);
	size_t len = strlen(path);
	if (len < 5 || len > HF_BENCH_PLOT_PATH_SIZE_MAX)
		return -EINVAL;
	if (strpbrk(path, "'\"\n\r\\") != NULL)
		return -EINVAL;
	const char *ext = path + len - 4;
	return strcmp(ext, ".svg") == 0 || strcmp(ext, ".png") == 0 ? 0 : -EINVAL;
}

static int is_svg(const char *path)
{
	return strcmp(path + strlen(path) - 4, ".svg") == 0;
}

/* timeline.dat: t_s, answers/s, holds/s (over the rate window), % taken, % booked. */
static int write_timeline(const char *file, const struct hf_bench_report *r,
			  const struct hf_bench_timeline *tl)
{
	FILE *f = fopen(file, "w");
	if (f == NULL)
		return -errno;
	double seats = r->opts->seats > 0 ? (double)r->opts->seats : 1.0;
	uint32_t back = 0;
	for (uint32_t i = 1; i < tl->count; i++) {
		const struct hf_bench_sample *s = &tl->samples[i];
		while (back + 1 < i &&
		       s->t_ns - tl->samples[back + 1].t_ns >= HF_BENCH_PLOT_RATE_WINDOW_NS)
			back++;
		const struct hf_bench_sample *b = &tl->samples[back];
		double dt = (double)(s->t_ns - b->t_ns) / 1e9;
		HF_ASSERT(dt > 0);
		fprintf(f, "%.3f %.1f %.1f %.3f %.3f\n", (double)s->t_ns / 1e9,
			(double)(s->done - b->done) / dt, (double)(s->holds_ok - b->holds_ok) / dt,
			100.0 * (double)s->taken / seats, 100.0 * (double)s->booked / seats);
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

/* latency.dat: op, p50, p90, p99, p99.9 in µs, for the ops that ran. Returns rows or -errno. */
static int write_latency(const char *file, const struct hf_bench_report *r)
{
	FILE *f = fopen(file, "w");
	if (f == NULL)
		return -errno;
	int rows = 0;
	for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++) {
		const struct hf_hist *h = &r->ops[k].hist;
		if (h->total_count == 0)
			continue;
		fprintf(f, "%s %.1f %.1f %.1f %.1f\n", hf_bench_op_name(k),
			(double)hf_hist_percentile(h, 50) / 1e3,
			(double)hf_hist_percentile(h, 90) / 1e3,
			(double)hf_hist_percentile(h, 99) / 1e3,
			(double)hf_hist_percentile(h, 99.9) / 1e3);
		rows++;
	}
	return fclose(f) == 0 ? rows : -EIO;
}

static int write_script(const char *file, const char *dir, const char *out_path,
			const struct hf_bench_report *r, int latency_rows, int timeline_rows)
{
	FILE *f = fopen(file, "w");
	if (f == NULL)
		return -errno;
	const struct hf_bench_opts *o = r->opts;
	int onsale = o->workload == HF_BENCH_WORKLOAD_ONSALE;
	int panels = (timeline_rows > 0) + (latency_rows > 0) + (onsale && timeline_rows > 0);
	int height = 320 * (panels > 0 ? panels : 1);
	if (is_svg(out_path))
		fprintf(f,
			"set terminal svg size 1000,%d dynamic font 'sans,11' background "
			"rgb 'white'\n",
			height);
	else
		fprintf(f, "set terminal pngcairo size 1000,%d font 'sans,10'\n", height);
	fprintf(f, "set output '%s'\nset grid\nset key outside right top\n", out_path);
	fprintf(f,
		"set multiplot layout %d,1 title 'holdfast-bench: %s %s, %u connections x "
		"pipeline %u, %.2f s'\n",
		panels > 0 ? panels : 1, r->target_name, hf_bench_workload_name(o->workload),
		o->connections, o->pipeline, r->duration_s);
	if (timeline_rows > 0) {
		fprintf(f, "set title 'Throughput over time'\nset xlabel 'time (s)'\n"
			   "set ylabel 'per second'\n");
		fprintf(f,
			"plot '%s/timeline.dat' using 1:2 with lines lw 2 title 'answers/s', "
			"'' using 1:3 with lines lw 2 title 'successful holds/s'\n",
			dir);
	}
	if (latency_rows > 0) {
		fprintf(
		    f, "set title 'Latency percentiles by operation'\nset xlabel ''\n"
		       "set ylabel 'microseconds'\nset logscale y\nset style data histogram\n"
		       "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n");
		fprintf(f,
			"plot '%s/latency.dat' using 2:xtic(1) title 'p50', '' using 3 title "
			"'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'\n",
			dir);
		fprintf(f, "unset logscale y\nset style data lines\n");
	}
	if (onsale && timeline_rows > 0) {
		fprintf(f,
			"set title 'Sell-out: %u seats'\nset xlabel 'time (s)'\n"
			"set ylabel '%% of seats'\nset yrange [0:100]\n",
			o->seats);
		fprintf(f,
			"plot '%s/timeline.dat' using 1:4 with lines lw 2 title 'held or booked', "
			"'' using 1:5 with lines lw 2 title 'booked'\n",
			dir);
	}
	if (panels == 0)
		fprintf(f, "set title 'nothing was measured'\nplot 0 notitle\n");
	fprintf(f, "unset multiplot\n");
	return fclose(f) == 0 ? 0 : -EIO;
}

/* Runs gnuplot on script, bounded by HF_BENCH_PLOT_GNUPLOT_MS; its output goes to err_file. */
static int run_gnuplot(const char *script, const char *err_file)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, err_file, O_WRONLY | O_CREAT | O_TRUNC,
					 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	char *argv[] = {"gnuplot", (char *)script, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	uint64_t deadline = hf_clock_mono_ms() + HF_BENCH_PLOT_GNUPLOT_MS;
	for (;;) {
		int status;
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
		if (hf_clock_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		struct timespec nap = {.tv_sec = 0, .tv_nsec = 20000000};
		nanosleep(&nap, NULL);
	}
}

static void remove_dir(const char *dir)
{
	static const char *const names[] = {"timeline.dat", "latency.dat", "plot.gp",
					    "gnuplot.log"};
	char file[PLOT_FILE_SIZE];
	for (size_t i = 0; i < HF_ARRAY_SIZE(names); i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		(void)unlink(file);
	}
	(void)rmdir(dir);
}

static void print_gnuplot_log(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[512];
	for (int i = 0; f != NULL && i < 20 && fgets(line, sizeof(line), f) != NULL; i++)
		fprintf(stderr, "  gnuplot: %s", line);
	if (f != NULL)
		fclose(f);
}

int hf_bench_plot_write(const char *path, const struct hf_bench_report *r,
			const struct hf_bench_timeline *tl)
{
	HF_ASSERT(hf_bench_plot_path_check(path) == 0);
	HF_ASSERT(tl->count <= HF_BENCH_TIMELINE_SAMPLES_MAX);
	char dir[PLOT_DIR_SIZE] = "/tmp/hf-bench-plot.XXXXXX";
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "holdfast-bench: --plot: mkdtemp: %s\n", strerror(errno));
		return -errno;
	}
	char timeline[PLOT_FILE_SIZE], latency[PLOT_FILE_SIZE], script[PLOT_FILE_SIZE],
	    log[PLOT_FILE_SIZE];
	snprintf(timeline, sizeof(timeline), "%s/timeline.dat", dir);
	snprintf(latency, sizeof(latency), "%s/latency.dat", dir);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	snprintf(log, sizeof(log), "%s/gnuplot.log", dir);
	int rc = write_timeline(timeline, r, tl);
	int rows = rc == 0 ? write_latency(latency, r) : rc;
	rc = rows < 0
		 ? rows
		 : write_script(script, dir, path, r, rows, tl->count > 1 ? (int)tl->count : 0);
	if (rc == 0)
		rc = run_gnuplot(script, log);
	struct stat st;
	if (rc == 0 && (stat(path, &st) != 0 || st.st_size < PLOT_OUTPUT_SIZE_MIN))
		rc = -EIO;
	if (rc != 0) {
		fprintf(stderr, "holdfast-bench: --plot %s: %s%s\n", path,
			rc == -ENOENT ? "gnuplot not found (apt-get install gnuplot-nox)"
				      : strerror(-rc),
			rc == -EPROTO ? " (gnuplot failed)" : "");
		print_gnuplot_log(log);
	}
	remove_dir(dir);
	return rc;
}
