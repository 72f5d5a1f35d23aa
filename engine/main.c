/* holdfastd: parses the flags, checks the kernel, prepares the data directory, starts one pinned
 * thread per shard and waits for SIGTERM or SIGINT, then tells every shard to stop (an eventfd each
 * ring polls), joins them and exits 0.
 *
 * Exit codes: 0 after a clean stop, 1 when start-up or a shard failed, 2 for bad flags. */
#include "base/assert.h"
#include "base/log.h"
#include "engine/auth.h"
#include "engine/config.h"
#include "engine/control.h"
#include "engine/datadir.h"
#include "engine/metrics.h"
#include "engine/move.h"
#include "engine/shard.h"
#include "engine/uring.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifdef HF_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define MAIN_PROBE_WHY_SIZE  256
#define MAIN_THREAD_TAG_SIZE 16

/* Start-up handshake: each shard thread reports once, opened or failed. */
struct startup {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t reported_count;
	uint32_t failed_count;
};

struct shard_thread {
	pthread_t thread;
	int started;
	uint32_t index;
	uint32_t cpus_count;
	const struct hf_engine_config *cfg;
	struct hf_shard *shard;
	struct startup *startup;
};

/* Set when a shard fails after start-up; the exit code is then 1. */
static atomic_int shard_failed;

static void startup_report(struct startup *st, int ok)
{
	pthread_mutex_lock(&st->lock);
	st->reported_count++;
	if (!ok)
		st->failed_count++;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

static void pin_thread(uint32_t index, uint32_t cpus_count)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	uint32_t cpu = index % (cpus_count == 0 ? 1 : cpus_count);
	CPU_SET(cpu, &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0)
		hf_log_warn("cannot pin to CPU %u: %s (running unpinned)", cpu, strerror(rc));
	else
		hf_log_debug("pinned to CPU %u", cpu);
}

static void *shard_main(void *arg)
{
	struct shard_thread *t = arg;
	char tag[MAIN_THREAD_TAG_SIZE];
	snprintf(tag, sizeof(tag), "shard %u", t->index);
	hf_log_set_thread_tag(tag);
	if (t->cfg->pin)
		pin_thread(t->index, t->cpus_count);

	int rc = hf_shard_open(t->shard);
	startup_report(t->startup, rc == 0);
	if (rc != 0)
		return NULL;
	rc = hf_shard_run(t->shard);
	if (rc != 0) {
		hf_log_error("shard loop failed: %s; stopping the node", strerror(-rc));
		atomic_store(&shard_failed, 1);
		/* Every thread blocks SIGTERM; main's sigwait takes it and stops the others. */
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

/* Reads one test-hook count from the environment into *out (left alone when unset). */
static int read_env_count(const char *name, uint32_t *out)
{
	const char *value = getenv(name);
	if (value == NULL || value[0] == '\0')
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long n = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || value[0] < '0' || value[0] > '9' || n > UINT32_MAX) {
		fprintf(stderr, "holdfastd: %s must be a count, not '%s'\n", name, value);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int read_test_hooks(struct hf_engine_config *cfg)
{
	if (read_env_count("HOLDFAST_FAIL_COMMITS", &cfg->test_fail_commits) != 0 ||
	    read_env_count("HOLDFAST_FAIL_COMMITS_AFTER", &cfg->test_fail_commits_after) != 0 ||
	    read_env_count("HOLDFAST_SYNC_DELAY_MS", &cfg->test_sync_delay_ms) != 0 ||
	    read_env_count("HOLDFAST_BATCH_CHANGES_MAX", &cfg->test_batch_changes_max) != 0)
		return -EINVAL;
	if (cfg->test_batch_changes_max != 0 &&
	    (cfg->test_batch_changes_max < HF_OP_CHANGES_MAX * 2u ||
	     cfg->test_batch_changes_max > HF_ENGINE_BATCH_CHANGES_MAX)) {
		fprintf(stderr, "holdfastd: HOLDFAST_BATCH_CHANGES_MAX must be in %u..%u\n",
			HF_OP_CHANGES_MAX * 2u, HF_ENGINE_BATCH_CHANGES_MAX);
		return -EINVAL;
	}
	return 0;
}

/* --auth-file and --backup-root: loaded and resolved once, before any shard starts. Returns 0, or
 * 1 after logging why (the file's permissions, a line that does not parse, a root that cannot be
 * made). */
static int prepare_access(struct hf_engine_config *cfg, struct hf_auth **auth_out)
{
	*auth_out = NULL;
	if (cfg->auth_file[0] != '\0') {
		char err[512];
		if (hf_auth_load(cfg->auth_file, auth_out, err, sizeof(err)) != 0) {
			hf_log_error("%s", err);
			return 1;
		}
		cfg->auth = *auth_out;
		hf_log_info("auth: %u tokens from %s; every connection must AUTH first",
			    hf_auth_count(*auth_out), cfg->auth_file);
	} else {
		hf_log_warn("auth: no --auth-file: every connection may do everything, admin ops "
			    "included");
	}
	if (cfg->backup_root[0] == '\0')
		return 0;
	if (hf_datadir_mkdir_p(cfg->backup_root) != 0 ||
	    realpath(cfg->backup_root, cfg->backup_root_real) == NULL) {
		hf_log_error("--backup-root %s: cannot create or resolve it: %s", cfg->backup_root,
			     strerror(errno));
		return 1;
	}
	hf_log_info("backups: only under %s", cfg->backup_root_real);
	return 0;
}

static void log_allocator(void)
{
#ifdef HF_USE_JEMALLOC
	const char *version = NULL;
	size_t size = sizeof(version);
	if (mallctl("version", &version, &size, NULL, 0) == 0 && version != NULL)
		hf_log_info("allocator: jemalloc %s", version);
	else
		hf_log_info("allocator: jemalloc");
#else
	hf_log_info("allocator: system malloc");
#endif
}

/* The control thread's map delivery. The shards' side (a queue per shard and its eventfd) comes
 * with the batch pipeline; until then the node logs the map and keeps serving its local one. */
/* The node's shards, for the control thread's deliveries. */
struct deliver_target {
	struct shard_thread *threads;
	uint32_t count;
};

static void control_deliver(void *arg, const struct hf_slot_map *map)
{
	const struct deliver_target *t = arg;
	hf_log_info("cluster map epoch %" PRIu64 " received: %u owners", map->epoch,
		    (unsigned)map->owners_count);
	for (uint32_t i = 0; i < t->count; i++) {
		if (hf_shard_post_map(t->threads[i].shard, map) != 0)
			hf_log_error("cluster map epoch %" PRIu64 " does not validate; ignored",
				     map->epoch);
	}
}

static int control_start(const struct hf_engine_config *cfg, struct deliver_target *target,
			 struct hf_control **out)
{
	*out = NULL;
	if (cfg->etcd_urls[0] == '\0')
		return 0;
	struct hf_control_config cc = {
	    .etcd_urls = cfg->etcd_urls,
	    .cluster = cfg->cluster,
	    .data_dir = cfg->data_dir,
	    .host = cfg->advertise_host,
	    .port = cfg->port,
	    .shards_count = cfg->shards_count,
	    .deliver = control_deliver,
	    .deliver_arg = target,
	};
	return hf_control_start(&cc, out);
}

/* The node's mover thread (engine/move.h), over every shard. The array lives until exit. */
static int mover_start(struct shard_thread *threads, uint32_t count, struct hf_mover **out)
{
	static struct hf_shard *shards[HF_ENGINE_SHARDS_MAX];
	HF_ASSERT(count <= HF_ENGINE_SHARDS_MAX);
	for (uint32_t i = 0; i < count; i++)
		shards[i] = threads[i].shard;
	int rc = hf_mover_start(shards, count, out);
	if (rc != 0)
		hf_log_error("mover thread: %s", strerror(-rc));
	return rc;
}

static void stop_shards(int wake_fd)
{
	uint64_t one = 1;
	ssize_t n = write(wake_fd, &one, sizeof(one));
	HF_ASSERT(n == (ssize_t)sizeof(one));
}

int main(int argc, char **argv)
{
	static struct hf_engine_config cfg;
	char err[256];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t cpus_count = cpus > 0 ? (uint32_t)cpus : 1;

	switch (hf_engine_config_parse(argc, argv, cpus_count, &cfg, err, sizeof(err))) {
	case HF_CONFIG_HELP:
		fputs(hf_engine_config_usage(), stdout);
		return 0;
	case HF_CONFIG_VERSION:
		printf("holdfastd %s (protocol %d)\n", HF_VERSION, HF_PROTO_VERSION);
		return 0;
	case HF_CONFIG_BAD:
		fprintf(stderr, "holdfastd: %s\n", err);
		return 2;
	case HF_CONFIG_OK:
		break;
	}
	if (read_test_hooks(&cfg) != 0)
		return 2;
	hf_log_set_level(cfg.log_level);
	hf_log_set_thread_tag("main");
	hf_log_info("holdfastd %s (protocol %d) starting", HF_VERSION, HF_PROTO_VERSION);
	signal(SIGPIPE, SIG_IGN);
	log_allocator();

	/* Static: reachable until exit on every path (the shards read it). */
	static struct hf_auth *auth;
	if (prepare_access(&cfg, &auth) != 0)
		return 1;
	char why[MAIN_PROBE_WHY_SIZE];
	if (hf_uring_probe(why, sizeof(why)) != 0) {
		hf_log_error("this kernel cannot run holdfastd: %s", why);
		return 1;
	}
	if (cfg.durability != HF_DURABILITY_NONE) {
		/* Restore first: with --force it replaces whatever the data dir held. */
		if (cfg.restore_from[0] != '\0' &&
		    hf_datadir_restore(cfg.data_dir, cfg.restore_from, cfg.shards_count,
				       cfg.force) != 0)
			return 1;
		if (hf_datadir_prepare(cfg.data_dir, cfg.shards_count) != 0)
			return 1;
	}

	int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		hf_log_error("eventfd: %s", strerror(errno));
		return 1;
	}
	/* Signals go to main's sigwait only: every thread inherits this mask. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	int exit_code = 1;
	struct startup startup = {.lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER};
	struct shard_thread *threads = calloc(cfg.shards_count, sizeof(*threads));
	if (threads == NULL)
		goto err_close_wake;
	uint32_t started = 0;
	for (uint32_t i = 0; i < cfg.shards_count; i++) {
		struct shard_thread *t = &threads[i];
		t->index = i;
		t->cpus_count = cpus_count;
		t->cfg = &cfg;
		t->startup = &startup;
		if (hf_shard_create(i, &cfg, wake_fd, &t->shard) != 0) {
			hf_log_error("shard %u: out of memory", i);
			break;
		}
		int rc = pthread_create(&t->thread, NULL, shard_main, t);
		if (rc != 0) {
			hf_log_error("shard %u: thread: %s", i, strerror(rc));
			break;
		}
		t->started = 1;
		started++;
	}

	pthread_mutex_lock(&startup.lock);
	while (startup.reported_count < started)
		pthread_cond_wait(&startup.cond, &startup.lock);
	int startup_ok = started == cfg.shards_count && startup.failed_count == 0;
	pthread_mutex_unlock(&startup.lock);

	struct hf_metrics *metrics = NULL;
	if (startup_ok && cfg.metrics_enabled && hf_metrics_start(&cfg, HF_VERSION, &metrics) != 0)
		startup_ok = 0;
	if (startup_ok) {
		hf_log_info("holdfastd ready: %u shards on %s:%u..%u, data %s, durability %s",
			    cfg.shards_count, cfg.host, (unsigned)cfg.port,
			    (unsigned)(cfg.port + cfg.shards_count - 1), cfg.data_dir,
			    hf_durability_name(cfg.durability));
		struct hf_control *control = NULL;
		struct deliver_target target = {.threads = threads, .count = cfg.shards_count};
		struct hf_mover *mover = NULL;
		if (mover_start(threads, cfg.shards_count, &mover) == 0 &&
		    control_start(&cfg, &target, &control) == 0) {
			int sig = 0;
			sigwait(&stop_signals, &sig);
			hf_log_info("signal %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			exit_code = atomic_load(&shard_failed) ? 1 : 0;
		}
		hf_control_stop(control);
		hf_mover_stop(mover);
	} else {
		hf_log_error("start-up failed; stopping");
	}
	hf_metrics_stop(metrics);
	stop_shards(wake_fd);
	for (uint32_t i = 0; i < cfg.shards_count; i++) {
		if (threads[i].started)
			pthread_join(threads[i].thread, NULL);
		hf_shard_destroy(threads[i].shard);
	}
	if (atomic_load(&shard_failed))
		exit_code = 1;
	free(threads);
	hf_log_info("holdfastd stopped (exit %d)", exit_code);
err_close_wake:
	close(wake_fd);
	hf_auth_destroy(auth);
	return exit_code;
}
