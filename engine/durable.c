/* The persist thread of one shard: runs the shard's durability jobs in order, off the loop thread.
 * See durable.h for the protocol between the two threads.
 *
 * INVARIANTS
 *  1. jobs and done are single-producer single-consumer rings: the shard pushes jobs and pops done,
 *     the persist thread pops jobs and pushes done. head and tail only grow; tail - head <=
 *     HF_DURABLE_JOBS_MAX. A job is in at most one ring at a time, and in done only after its
 *     results are written (release store on tail, acquire load by the consumer).
 *  2. Jobs complete in submission order: the thread runs one job at a time.
 *  3. poisoned == 1 from a failed COMMIT until the next successful RELOAD; meanwhile no COMMIT
 *     writes anything.
 *  4. The persist object is used by this thread only, from hf_durable_start to hf_durable_stop. */
#include "engine/durable.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/datadir.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct durable_ring {
	_Atomic uint32_t head; /* next slot to pop */
	_Atomic uint32_t tail; /* next slot to push */
	struct hf_durable_job *slots[HF_DURABLE_JOBS_MAX];
};

struct hf_durable {
	uint32_t shard_index;
	struct hf_persist *persist;
	const struct hf_store_config *store_cfg;
	const char *backup_root; /* canonical; checkpoints stay inside it */
	struct hf_durable_hooks hooks;
	uint64_t commits_written; /* non-empty commits attempted (for fail_commits_after) */
	int completion_fd;	  /* not owned */
	int wake_fd;		  /* owned: the thread sleeps on it */
	pthread_t thread;
	_Atomic int stop;
	int poisoned; /* persist thread only (INVARIANTS 3) */

	struct durable_ring jobs;
	struct durable_ring done;

	/* The persistence counters as of the last job: STATS reads them from the shard thread. */
	pthread_mutex_t stats_lock;
	struct hf_rep_stats stats;
};

HF_STATIC_ASSERT((HF_DURABLE_JOBS_MAX & (HF_DURABLE_JOBS_MAX - 1)) == 0,
		 "the ring index wraps with a mask");

static int ring_push(struct durable_ring *r, struct hf_durable_job *job)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	HF_ASSERT(tail - head <= HF_DURABLE_JOBS_MAX);
	if (tail - head == HF_DURABLE_JOBS_MAX)
		return -EAGAIN;
	r->slots[tail & (HF_DURABLE_JOBS_MAX - 1)] = job;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 0;
}

static struct hf_durable_job *ring_pop(struct durable_ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	HF_ASSERT(tail - head <= HF_DURABLE_JOBS_MAX);
	if (head == tail)
		return NULL;
	struct hf_durable_job *job = r->slots[head & (HF_DURABLE_JOBS_MAX - 1)];
	HF_ASSERT(job != NULL);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return job;
}

static void fd_signal(int fd)
{
	uint64_t one = 1;
	/* An eventfd write fails only when the counter would overflow: it is then readable. */
	ssize_t n = write(fd, &one, sizeof(one));
	HF_ASSERT(n == (ssize_t)sizeof(one) || errno == EAGAIN);
}

static void run_checkpoint(struct hf_durable *d, struct hf_durable_job *job)
{
	char dir[PATH_MAX];
	/* Checked before anything is created (a symlink out of the root is refused before mkdir
	 * could follow it), and again once the directory exists. */
	int rc = hf_datadir_check_under(d->backup_root, job->checkpoint_root);
	if (rc == 0)
		rc = hf_datadir_mkdir_p(job->checkpoint_root);
	if (rc == 0)
		rc = hf_datadir_shard_path(job->checkpoint_root, d->shard_index, dir, sizeof(dir));
	if (rc == 0)
		rc = hf_datadir_check_under(d->backup_root, dir);
	if (rc == 0)
		rc = hf_persist_checkpoint(d->persist, dir);
	job->checkpoint_status = rc;
	if (rc == 0) {
		job->checkpoint_sequence = hf_persist_sequence(d->persist);
		hf_log_info("backup: checkpoint %s at sequence %llu", dir,
			    (unsigned long long)job->checkpoint_sequence);
	} else {
		hf_log_error("backup into %s: %s", job->checkpoint_root, strerror(-rc));
	}
}

static void run_commit(struct hf_durable *d, struct hf_durable_job *job)
{
	HF_ASSERT(job->changes != NULL);
	job->checkpoint_status = 0;
	job->checkpoint_sequence = 0;
	if (d->poisoned) {
		/* INVARIANTS 3: built on a batch that failed; never written. */
		job->status = -ECANCELED;
		job->checkpoint_status = job->checkpoint_root != NULL ? -ECANCELED : 0;
		return;
	}
	uint64_t start_us = hf_clock_mono_us();
	if (job->changes->count > 0) {
		if (d->hooks.fail_commits > 0 &&
		    d->commits_written == d->hooks.fail_commits_after) {
			hf_log_warn(
			    "test hook: commits %llu..%llu fail",
			    (unsigned long long)d->commits_written + 1,
			    (unsigned long long)(d->commits_written + d->hooks.fail_commits));
			hf_persist_fail_next_commits(d->persist, d->hooks.fail_commits);
		}
		d->commits_written++;
	}
	job->status = hf_persist_commit(d->persist, job->changes);
	job->commit_us = hf_clock_mono_us() - start_us;
	if (job->status != 0) {
		d->poisoned = 1;
		if (job->checkpoint_root != NULL)
			job->checkpoint_status = -ECANCELED;
		return;
	}
	if (job->checkpoint_root != NULL)
		run_checkpoint(d, job);
}

static void run_reload(struct hf_durable *d, struct hf_durable_job *job)
{
	job->store = NULL;
	int rc = hf_store_create(d->store_cfg, &job->store);
	if (rc != 0) {
		job->store = NULL;
		job->status = rc;
		return;
	}
	struct hf_persist_load_stats ls;
	rc = hf_persist_load(d->persist, job->store, hf_clock_wall_ms(), &ls);
	if (rc != 0) {
		hf_store_destroy(job->store);
		job->store = NULL;
		job->status = rc;
		return;
	}
	hf_log_info("store reloaded from disk in %llu ms: %u events, %u holds, %u bookings",
		    (unsigned long long)(ls.duration_us / 1000u), ls.events_count, ls.holds_count,
		    ls.bookings_count);
	job->writable = hf_persist_writable(d->persist);
	/* Read-only (the disk is full): commits keep failing until a REOPEN; stay poisoned. */
	d->poisoned = !job->writable;
	job->status = 0;
}

static void run_reopen(struct hf_durable *d, struct hf_durable_job *job)
{
	job->status = hf_persist_reopen_writable(d->persist);
	job->writable = job->status == 0;
	if (job->writable)
		d->poisoned = 0;
}

static void publish_stats(struct hf_durable *d)
{
	pthread_mutex_lock(&d->stats_lock);
	d->stats.stats_count = 0;
	hf_persist_stats(d->persist, &d->stats);
	pthread_mutex_unlock(&d->stats_lock);
}

static void *durable_main(void *arg)
{
	struct hf_durable *d = arg;
	char tag[32];
	snprintf(tag, sizeof(tag), "persist %u", d->shard_index);
	hf_log_set_thread_tag(tag);
	for (;;) {
		uint64_t count;
		/* Blocks until the shard queued a job or asked us to stop. */
		ssize_t n = read(d->wake_fd, &count, sizeof(count));
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			HF_PANIC("persist thread: eventfd read: %s", strerror(errno));
		if (atomic_load(&d->stop))
			return NULL;
		/* Bounded: the ring holds at most HF_DURABLE_JOBS_MAX jobs. */
		struct hf_durable_job *job;
		for (uint32_t i = 0; i < HF_DURABLE_JOBS_MAX && (job = ring_pop(&d->jobs)); i++) {
			if (job->kind == HF_DURABLE_COMMIT)
				run_commit(d, job);
			else if (job->kind == HF_DURABLE_RELOAD)
				run_reload(d, job);
			else if (job->kind == HF_DURABLE_REOPEN)
				run_reopen(d, job);
			else if (job->kind == HF_DURABLE_META)
				job->status = hf_persist_meta_put(d->persist, job->meta_name,
								  job->meta_value, job->meta_size);
			else
				HF_PANIC("persist thread: job kind %u", (unsigned)job->kind);
			publish_stats(d);
			int rc = ring_push(&d->done, job);
			/* The shard submits at most as many jobs as done can hold. */
			HF_ASSERT(rc == 0);
			fd_signal(d->completion_fd);
			if (atomic_load(&d->stop))
				return NULL;
		}
		/* More may have arrived while we ran: the eventfd counter is non-zero then. */
	}
}

int hf_durable_start(uint32_t shard_index, struct hf_persist *persist,
		     const struct hf_store_config *store_cfg, const char *backup_root,
		     const struct hf_durable_hooks *hooks, int completion_fd,
		     struct hf_durable **out)
{
	HF_ASSERT(persist != NULL);
	HF_ASSERT(store_cfg != NULL);
	HF_ASSERT(hooks != NULL);
	HF_ASSERT(completion_fd >= 0);
	HF_ASSERT(out != NULL);
	*out = NULL;
	struct hf_durable *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->shard_index = shard_index;
	d->persist = persist;
	d->store_cfg = store_cfg;
	d->backup_root = backup_root;
	d->hooks = *hooks;
	hf_persist_set_sync_delay(persist, hooks->sync_delay_ms);
	d->completion_fd = completion_fd;
	pthread_mutex_init(&d->stats_lock, NULL);
	hf_persist_stats(persist, &d->stats);
	d->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (d->wake_fd < 0) {
		int rc = -errno;
		pthread_mutex_destroy(&d->stats_lock);
		free(d);
		return rc;
	}
	int rc = pthread_create(&d->thread, NULL, durable_main, d);
	if (rc != 0) {
		close(d->wake_fd);
		pthread_mutex_destroy(&d->stats_lock);
		free(d);
		return -rc;
	}
	*out = d;
	return 0;
}

int hf_durable_submit(struct hf_durable *d, struct hf_durable_job *job)
{
	HF_ASSERT(job->kind == HF_DURABLE_COMMIT || job->kind == HF_DURABLE_RELOAD ||
		  job->kind == HF_DURABLE_REOPEN || job->kind == HF_DURABLE_META);
	/* done must always have room for every job in flight (durable_main's push). */
	uint32_t in_flight = atomic_load(&d->jobs.tail) - atomic_load(&d->done.head);
	if (in_flight >= HF_DURABLE_JOBS_MAX)
		return -EAGAIN;
	int rc = ring_push(&d->jobs, job);
	HF_ASSERT(rc == 0);
	fd_signal(d->wake_fd);
	return 0;
}

struct hf_durable_job *hf_durable_reap(struct hf_durable *d)
{
	return ring_pop(&d->done);
}

void hf_durable_stats(struct hf_durable *d, struct hf_rep_stats *stats)
{
	pthread_mutex_lock(&d->stats_lock);
	for (uint16_t i = 0; i < d->stats.stats_count; i++)
		(void)hf_stats_add(stats, d->stats.stats[i].name, d->stats.stats[i].value);
	pthread_mutex_unlock(&d->stats_lock);
}

struct hf_persist *hf_durable_stop(struct hf_durable *d)
{
	if (d == NULL)
		return NULL;
	atomic_store(&d->stop, 1);
	fd_signal(d->wake_fd);
	pthread_join(d->thread, NULL);
	struct hf_persist *persist = d->persist;
	/* A reloaded store nobody reaped belongs to nobody else. */
	struct hf_durable_job *job;
	for (uint32_t i = 0; i < HF_DURABLE_JOBS_MAX && (job = ring_pop(&d->done)); i++) {
		if (job->kind == HF_DURABLE_RELOAD && job->store != NULL) {
			hf_store_destroy(job->store);
			job->store = NULL;
		}
	}
	close(d->wake_fd);
	pthread_mutex_destroy(&d->stats_lock);
	free(d);
	return persist;
}
