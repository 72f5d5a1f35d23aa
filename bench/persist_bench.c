/* persist-bench: what a group commit costs, and how long a restart takes.
 *
 * Part 1 (commit): for durability fsync and wal, commits batches of one tiny record (a DEL: the
 * least a commit can write) and of 1, 16, 64 and 256 records the size a CONFIRM writes (a 17-byte
 * record key and the 52-byte value of a 2-seat booking) through hf_persist_commit, one after the
 * other on one thread, and reports commits/s, records/s and the p50/p99/max latency of one commit.
 * Part 2 (recovery): creates an event of N seats (default 1,000,000) and N single-seat bookings
 * (HOLD then CONFIRM, through the seat store and hf_persist_commit in fsync mode, 256 ops per
 * commit, so 128 bookings per commit), closes everything, then times hf_persist_open and
 * hf_persist_load into a fresh store. Every figure is measured `runs` times (a fresh instance each
 * time) and the median is printed.
 *
 * Usage: persist-bench [--dir DIR] [--runs N] [--commits N] [--bookings N] [--no-commit]
 *                      [--no-recovery]
 * DIR must be on the file system being measured (not tmpfs, where fsync costs nothing); the default
 * is a fresh directory under $TMPDIR or /var/tmp, removed at the end. */
#include "shards/persist.h"
#include "shards/store.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define RUNS_MAX		9u
#define COMMITS_MAX		100000u /* commits measured per configuration */
#define WARMUP_COMMITS		50u /* commits before measuring (WAL file created, caches warm) */
#define BATCH_RECORDS_MAX	256u
#define BOOKINGS_MAX		16000000u /* HF_EVENT_SEATS_MAX */
#define RECOVERY_OPS_PER_COMMIT 256u	  /* 128 bookings: HOLD + CONFIRM each */
#define CONFIRM_KEY_SIZE	17u	  /* be64(event) 'R' be64(hold id) */
#define CONFIRM_VALUE_SIZE	52u	  /* record header 44 + 2 seats * 4 */
#define BENCH_EVENT_ID		42u

HF_STATIC_ASSERT(CONFIRM_KEY_SIZE <= HF_RECORD_KEY_SIZE_MAX, "a record key fits a change");
HF_STATIC_ASSERT(RECOVERY_OPS_PER_COMMIT *HF_OP_CHANGES_MAX <= 4096u,
		 "a recovery batch fits its change list");

struct options {
	char dir[512];
	int dir_is_ours;
	uint32_t runs;
	uint32_t commits;
	uint32_t bookings;
	int commit;
	int recovery;
};

struct shape {
	const char *name;
	uint32_t records;
	int tiny; /* one DEL instead of PUTs */
};

static const struct shape shapes[] = {
    {"1 tiny", 1, 1}, {"1", 1, 0}, {"16", 16, 0}, {"64", 64, 0}, {"256", 256, 0},
};

static uint64_t latencies_ns[COMMITS_MAX];

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *values, uint32_t count)
{
	HF_ASSERT(count >= 1 && count <= RUNS_MAX);
	qsort(values, count, sizeof(double), cmp_double);
	return values[count / 2];
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void instance_path(const struct options *opt, char *buf, size_t cap, const char *what,
			  uint32_t run)
{
	int n = snprintf(buf, cap, "%s/%s-%u", opt->dir, what, run);
	HF_ASSERT(n > 0 && (size_t)n < cap);
}

/* Fills changes with one batch of `shape`, keys numbered from *next_id. */
static void fill_batch(struct hf_changes *changes, const struct shape *shape, uint64_t *next_id)
{
	hf_changes_reset(changes);
	HF_ASSERT(shape->records <= changes->capacity);
	for (uint32_t i = 0; i < shape->records; i++) {
		struct hf_change *c = &changes->items[changes->count++];
		memset(c, 0, sizeof(*c));
		c->key_size = CONFIRM_KEY_SIZE;
		hf_put_be64(c->key, BENCH_EVENT_ID);
		c->key[8] = 'R';
		hf_put_be64(c->key + 9, (*next_id)++);
		c->value_offset = changes->values_size;
		if (shape->tiny) {
			c->kind = HF_CHANGE_DEL;
			continue;
		}
		c->kind = HF_CHANGE_PUT;
		c->value_size = CONFIRM_VALUE_SIZE;
		uint8_t *v = changes->values + changes->values_size;
		memset(v, 0, CONFIRM_VALUE_SIZE);
		v[0] = 1; /* version */
		v[1] = 2; /* BOOKED */
		v[3] = 2; /* seats */
		hf_put_le64(v + 4, *next_id * 7919u);
		hf_put_le64(v + 12, hf_clock_wall_ms());
		hf_put_le32(v + 44, (uint32_t)(*next_id * 2u));
		hf_put_le32(v + 48, (uint32_t)(*next_id * 2u + 1u));
		changes->values_size += CONFIRM_VALUE_SIZE;
	}
}

struct commit_result {
	double commits_per_s;
	double records_per_s;
	double p50_us;
	double p99_us;
	double max_us;
};

static int bench_commit_once(const struct options *opt, enum hf_durability durability,
			     const struct shape *shape, uint32_t run, struct commit_result *out)
{
	char dir[600];
	instance_path(opt, dir, sizeof(dir), "commit", run);
	struct hf_persist *persist = NULL;
	int rc = hf_persist_open(dir, durability, &persist);
	if (rc != 0)
		return rc;
	struct hf_changes changes;
	rc = hf_changes_init(&changes, BATCH_RECORDS_MAX);
	if (rc != 0)
		goto err_close;
	uint64_t next_id = 1;
	for (uint32_t i = 0; i < WARMUP_COMMITS; i++) {
		fill_batch(&changes, shape, &next_id);
		rc = hf_persist_commit(persist, &changes);
		if (rc != 0)
			goto err_deinit;
	}
	HF_ASSERT(opt->commits <= COMMITS_MAX);
	uint64_t start_ns = hf_clock_mono_ns();
	for (uint32_t i = 0; i < opt->commits; i++) {
		fill_batch(&changes, shape, &next_id);
		uint64_t t0 = hf_clock_mono_ns();
		rc = hf_persist_commit(persist, &changes);
		latencies_ns[i] = hf_clock_mono_ns() - t0;
		if (rc != 0)
			goto err_deinit;
	}
	double elapsed_s = (double)(hf_clock_mono_ns() - start_ns) / 1e9;
	qsort(latencies_ns, opt->commits, sizeof(uint64_t), cmp_u64);
	out->commits_per_s = opt->commits / elapsed_s;
	out->records_per_s = (double)opt->commits * shape->records / elapsed_s;
	out->p50_us = latencies_ns[opt->commits / 2] / 1e3;
	out->p99_us = latencies_ns[(uint64_t)opt->commits * 99u / 100u] / 1e3;
	out->max_us = latencies_ns[opt->commits - 1] / 1e3;
	rc = 0;

err_deinit:
	hf_changes_deinit(&changes);
err_close:
	hf_persist_close(persist);
	remove_tree(dir);
	return rc;
}

static int bench_commit(const struct options *opt)
{
	static const enum hf_durability modes[] = {HF_DURABILITY_FSYNC, HF_DURABILITY_WAL};
	printf("commit latency: %u commits per run, median of %u runs\n", opt->commits, opt->runs);
	printf("%-6s %-7s %12s %12s %9s %9s %9s\n", "mode", "batch", "commits/s", "records/s",
	       "p50_us", "p99_us", "max_us");
	for (size_t m = 0; m < HF_ARRAY_SIZE(modes); m++) {
		for (size_t s = 0; s < HF_ARRAY_SIZE(shapes); s++) {
			double commits[RUNS_MAX], records[RUNS_MAX], p50[RUNS_MAX], p99[RUNS_MAX],
			    max[RUNS_MAX];
			for (uint32_t r = 0; r < opt->runs; r++) {
				struct commit_result res;
				int rc = bench_commit_once(opt, modes[m], &shapes[s], r, &res);
				if (rc != 0) {
					fprintf(stderr, "commit bench failed: %s\n", strerror(-rc));
					return rc;
				}
				commits[r] = res.commits_per_s;
				records[r] = res.records_per_s;
				p50[r] = res.p50_us;
				p99[r] = res.p99_us;
				max[r] = res.max_us;
			}
			printf("%-6s %-7s %12.0f %12.0f %9.1f %9.1f %9.1f\n",
			       hf_durability_name(modes[m]), shapes[s].name,
			       median(commits, opt->runs), median(records, opt->runs),
			       median(p50, opt->runs), median(p99, opt->runs),
			       median(max, opt->runs));
			fflush(stdout);
		}
	}
	return 0;
}

struct recovery_result {
	double build_ops_per_s; /* HOLD + CONFIRM ops per second while building */
	double open_s;
	double load_s;
	double records_per_s; /* loaded records per second of open + load */
	double cpu_s; /* CPU time of this thread in open + load (robust on a busy machine) */
	uint64_t records_count;
};

/* CPU seconds (user + system) used by the calling thread so far. */
static double thread_cpu_s(void)
{
	struct rusage ru;
	int rc = getrusage(RUSAGE_THREAD, &ru);
	HF_ASSERT(rc == 0);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int recovery_store(uint32_t bookings, struct hf_store **out)
{
	struct hf_store_config cfg;
	hf_store_config_default(&cfg);
	cfg.events_max = 4;
	cfg.seats_max = bookings;
	cfg.records_max = bookings + 1024u;
	return hf_store_create(&cfg, out);
}

/* Runs one request and commits the change list when it may not hold the next op. */
static int recovery_apply(struct hf_store *store, struct hf_persist *persist,
			  const struct hf_request *req, uint64_t now_ms, struct hf_changes *changes,
			  uint32_t *ops_in_batch)
{
	static struct hf_reply rep;
	enum hf_status st = hf_store_apply(store, req, now_ms, &rep, changes);
	if (st != HF_OK) {
		fprintf(stderr, "recovery bench: %s answered %s\n", hf_opcode_name(req->opcode),
			hf_status_name(st));
		return -EPROTO;
	}
	if (++*ops_in_batch < RECOVERY_OPS_PER_COMMIT && hf_changes_has_room(changes))
		return 0;
	*ops_in_batch = 0;
	int rc = hf_persist_commit(persist, changes);
	hf_changes_reset(changes);
	return rc;
}

static int recovery_build(const char *dir, uint32_t bookings, double *ops_per_s_out)
{
	struct hf_persist *persist = NULL;
	struct hf_store *store = NULL;
	struct hf_changes changes;
	int rc = hf_persist_open(dir, HF_DURABILITY_FSYNC, &persist);
	if (rc != 0)
		return rc;
	rc = recovery_store(bookings, &store);
	if (rc != 0)
		goto err_close;
	rc = hf_changes_init(&changes, 4096);
	if (rc != 0)
		goto err_destroy;

	static struct hf_request req;
	uint64_t now_ms = hf_clock_wall_ms();
	uint32_t ops_in_batch = 0;
	uint64_t start_ns = hf_clock_mono_ns();
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_CREATE_EVENT;
	req.create_event =
	    (struct hf_req_create_event){.event_id = BENCH_EVENT_ID, .seats_count = bookings};
	rc = recovery_apply(store, persist, &req, now_ms, &changes, &ops_in_batch);
	for (uint32_t i = 0; i < bookings && rc == 0; i++) {
		memset(&req, 0, offsetof(struct hf_request, hold) + sizeof(req.hold));
		req.opcode = HF_OP_HOLD;
		req.hold.event_id = BENCH_EVENT_ID;
		req.hold.hold_id = i + 1u;
		req.hold.user_id = (i % 100000u) + 1u;
		req.hold.ttl_ms = 600000;
		req.hold.mode = HF_HOLD_EXPLICIT;
		req.hold.seats_count = 1;
		req.hold.seats[0] = i;
		rc = recovery_apply(store, persist, &req, now_ms, &changes, &ops_in_batch);
		if (rc != 0)
			break;
		req.opcode = HF_OP_CONFIRM;
		req.confirm = (struct hf_req_hold_ref){BENCH_EVENT_ID, i + 1u};
		rc = recovery_apply(store, persist, &req, now_ms, &changes, &ops_in_batch);
	}
	if (rc == 0)
		rc = hf_persist_commit(persist, &changes);
	*ops_per_s_out = (2.0 * bookings + 1.0) / ((double)(hf_clock_mono_ns() - start_ns) / 1e9);
	hf_changes_deinit(&changes);
err_destroy:
	hf_store_destroy(store);
err_close:
	hf_persist_close(persist);
	return rc;
}

static int bench_recovery_once(const struct options *opt, uint32_t run, struct recovery_result *out)
{
	char dir[600];
	instance_path(opt, dir, sizeof(dir), "recovery", run);
	int rc = recovery_build(dir, opt->bookings, &out->build_ops_per_s);
	if (rc != 0)
		goto out;

	struct hf_store *store = NULL;
	rc = recovery_store(opt->bookings, &store);
	if (rc != 0)
		goto out;
	struct hf_persist *persist = NULL;
	double cpu0 = thread_cpu_s();
	uint64_t t0 = hf_clock_mono_ns();
	rc = hf_persist_open(dir, HF_DURABILITY_FSYNC, &persist);
	uint64_t t1 = hf_clock_mono_ns();
	if (rc == 0) {
		struct hf_persist_load_stats stats;
		rc = hf_persist_load(persist, store, hf_clock_wall_ms(), &stats);
		uint64_t t2 = hf_clock_mono_ns();
		out->cpu_s = thread_cpu_s() - cpu0;
		out->open_s = (double)(t1 - t0) / 1e9;
		out->load_s = (double)(t2 - t1) / 1e9;
		out->records_count = stats.records_count;
		out->records_per_s = (double)stats.records_count / ((double)(t2 - t0) / 1e9);
		if (rc == 0 && stats.bookings_count != opt->bookings)
			rc = -EPROTO;
		hf_persist_close(persist);
	}
	hf_store_destroy(store);
out:
	remove_tree(dir);
	return rc;
}

static int bench_recovery(const struct options *opt)
{
	printf("recovery: %u single-seat bookings of one %u-seat event, median of %u runs\n",
	       opt->bookings, opt->bookings, opt->runs);
	double build[RUNS_MAX], open[RUNS_MAX], load[RUNS_MAX], total[RUNS_MAX], rate[RUNS_MAX],
	    cpu[RUNS_MAX];
	uint64_t records = 0;
	for (uint32_t r = 0; r < opt->runs; r++) {
		struct recovery_result res;
		int rc = bench_recovery_once(opt, r, &res);
		if (rc != 0) {
			fprintf(stderr, "recovery bench failed: %s\n", strerror(-rc));
			return rc;
		}
		printf("  run %u: build %.0f ops/s, open %.3f s, load %.3f s, %" PRIu64
		       " records, %.0f records/s, cpu %.3f s\n",
		       r, res.build_ops_per_s, res.open_s, res.load_s, res.records_count,
		       res.records_per_s, res.cpu_s);
		fflush(stdout);
		build[r] = res.build_ops_per_s;
		open[r] = res.open_s;
		load[r] = res.load_s;
		total[r] = res.open_s + res.load_s;
		rate[r] = res.records_per_s;
		cpu[r] = res.cpu_s;
		records = res.records_count;
	}
	printf("median: build %.0f ops/s (HOLD+CONFIRM, fsync, %u ops per commit); open %.3f s, "
	       "load %.3f s, total %.3f s (cpu %.3f s); %" PRIu64 " records, %.0f records/s\n",
	       median(build, opt->runs), RECOVERY_OPS_PER_COMMIT, median(open, opt->runs),
	       median(load, opt->runs), median(total, opt->runs), median(cpu, opt->runs), records,
	       median(rate, opt->runs));
	return 0;
}

static int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: persist-bench [--dir DIR] [--runs 1..%u] [--commits 1..%u] "
		"[--bookings 1..%u] [--no-commit] [--no-recovery]\n",
		RUNS_MAX, COMMITS_MAX, BOOKINGS_MAX);
}

static int parse_args(int argc, char **argv, struct options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->runs = 3;
	opt->commits = 2000;
	opt->bookings = 1000000;
	opt->commit = 1;
	opt->recovery = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;
		if (strcmp(arg, "--no-commit") == 0) {
			opt->commit = 0;
			continue;
		}
		if (strcmp(arg, "--no-recovery") == 0) {
			opt->recovery = 0;
			continue;
		}
		if (val == NULL)
			return -EINVAL;
		i++;
		if (strcmp(arg, "--dir") == 0) {
			if (strlen(val) + 1 > sizeof(opt->dir) - 64)
				return -EINVAL;
			snprintf(opt->dir, sizeof(opt->dir), "%s", val);
		} else if (strcmp(arg, "--runs") == 0) {
			rc = parse_u32(val, 1, RUNS_MAX, &opt->runs);
		} else if (strcmp(arg, "--commits") == 0) {
			rc = parse_u32(val, 1, COMMITS_MAX, &opt->commits);
		} else if (strcmp(arg, "--bookings") == 0) {
			rc = parse_u32(val, 1, BOOKINGS_MAX, &opt->bookings);
		} else {
			return -EINVAL;
		}
		if (rc != 0)
			return rc;
	}
	if (opt->dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(opt->dir, sizeof(opt->dir), "%s/persist-bench-XXXXXX",
			 tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp");
		if (mkdtemp(opt->dir) == NULL)
			return -errno;
		opt->dir_is_ours = 1;
	} else if (mkdir(opt->dir, 0700) != 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	int rc = parse_args(argc, argv, &opt);
	if (rc != 0) {
		usage();
		return 2;
	}
	hf_log_set_level(HF_LOG_WARN);
	printf("persist-bench: dir %s\n", opt.dir);
	if (rc == 0 && opt.commit)
		rc = bench_commit(&opt);
	if (rc == 0 && opt.recovery)
		rc = bench_recovery(&opt);
	if (opt.dir_is_ours)
		remove_tree(opt.dir);
	return rc == 0 ? 0 : 1;
}
