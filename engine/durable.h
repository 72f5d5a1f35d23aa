/* The local-disk completion source of a shard's batch pipeline: one persist thread per shard.
 *
 * The shard thread never waits for a disk. It hands each sealed batch (a job) to its persist
 * thread, which writes it to the shard's RocksDB instance (synced in fsync mode), optionally takes
 * a checkpoint right after it (BACKUP), or rebuilds a store from disk (RELOAD, after a failed
 * commit). Jobs run one at a time, in submission order, and complete in that order: the job queue
 * and the completion queue are single-producer single-consumer rings, and the completion eventfd
 * wakes the shard's io_uring.
 *
 *   shard thread                         persist thread
 *   hf_durable_submit(job) --jobs-->      run job (commit, checkpoint, reload)
 *   eventfd readable <--done+eventfd--    push job back
 *   hf_durable_reap() -> job
 *
 * Ownership: a submitted job, and everything it points to (the batch's change list, the checkpoint
 * path), belongs to the persist thread until hf_durable_reap returns it; the shard touches none of
 * it in between. The struct hf_persist belongs to the persist thread once hf_durable_start
 * returned.
 *
 * Poisoning: once a COMMIT fails, every later COMMIT completes with -ECANCELED without touching the
 * disk, until a RELOAD succeeds. So after batch N failed, no batch applied on top of it (N+1, N+2,
 * already sealed) can ever become durable: the shard may answer them IO at once.
 *
 * Thread-safety: hf_durable_submit, _reap, _stats and _destroy are called by the owning shard
 * thread only. System-style returns: 0 or -errno. */
#ifndef HF_ENGINE_DURABLE_H
#define HF_ENGINE_DURABLE_H

#include "shards/persist.h"
#include "shards/store.h"

#include <limits.h>
#include <stdint.h>

/* Jobs queued to one persist thread at once (sealed batches in flight + one reload). */
#define HF_DURABLE_JOBS_MAX 8u

enum hf_durable_job_kind {
	HF_DURABLE_COMMIT = 1, /* write changes (+ checkpoint) */
	HF_DURABLE_RELOAD = 2, /* a new store rebuilt from the durable state */
	HF_DURABLE_REOPEN = 3, /* make a read-only instance writable again (the disk had no room) */
	HF_DURABLE_META = 4,   /* write one node-metadata blob (a new slot map), synced */
};

struct hf_durable_job {
	uint8_t kind; /* enum hf_durable_job_kind */
	uint64_t seq; /* COMMIT: the batch number */
	/* COMMIT inputs. */
	const struct hf_changes *changes; /* may be empty */
	const char *checkpoint_root;	  /* NULL, or the BACKUP directory (<root>/shard-<i>) */
	/* META inputs: a name and a value the shard leaves alone until the job is back. */
	const char *meta_name;
	const void *meta_value;
	size_t meta_size;
	/* Results, written by the persist thread before it completes the job. */
	int status;	       /* COMMIT: 0, -EIO, or -ECANCELED (poisoned); RELOAD: 0/-errno */
	int checkpoint_status; /* 0 or -errno (-EEXIST: the directory exists; -EACCES: outside
				  the backup root) */
	uint64_t checkpoint_sequence; /* RocksDB sequence of the checkpoint */
	uint64_t commit_us;	      /* time the commit (write + sync + test delay) took */
	struct hf_store *store;	      /* RELOAD: the rebuilt store, owned by the shard now */
	int writable;		      /* RELOAD, REOPEN: commits can be written now */
};

struct hf_durable;

/* Test hooks (holdfastd reads them from the environment; see its --help). */
struct hf_durable_hooks {
	uint32_t sync_delay_ms; /* HOLDFAST_SYNC_DELAY_MS: added to every non-empty commit */
	uint32_t fail_commits;	/* HOLDFAST_FAIL_COMMITS: this many commits fail with -EIO ... */
	uint32_t
	    fail_commits_after; /* HOLDFAST_FAIL_COMMITS_AFTER: ... after this many succeeded */
};

/* Starts the persist thread of shard `shard_index`. The thread takes over `persist`. completion_fd
 * is an eventfd the thread writes to after each completed job (not owned). store_cfg: the limits
 * of stores RELOAD builds; backup_root: the canonical directory checkpoints must stay in (both must
 * outlive the thread). Returns 0 or -errno. */
int hf_durable_start(uint32_t shard_index, struct hf_persist *persist,
		     const struct hf_store_config *store_cfg, const char *backup_root,
		     const struct hf_durable_hooks *hooks, int completion_fd,
		     struct hf_durable **out);

/* Queues a job. Returns 0, or -EAGAIN when HF_DURABLE_JOBS_MAX jobs are queued (the caller bounds
 * its jobs in flight so this does not happen; it is asserted there). */
int hf_durable_submit(struct hf_durable *d, struct hf_durable_job *job);

/* The next completed job, in submission order, or NULL when none is waiting. */
struct hf_durable_job *hf_durable_reap(struct hf_durable *d);

/* Appends the persistence counters (hf_persist_stats) as of the last completed job. */
void hf_durable_stats(struct hf_durable *d, struct hf_rep_stats *stats);

/* Finishes the job being run (queued jobs not started yet are dropped: their batches were never
 * acknowledged), stops and joins the thread, and returns the persist object to the caller (who
 * closes it). Completed jobs not reaped are dropped. NULL is a no-op. */
struct hf_persist *hf_durable_stop(struct hf_durable *d);

#endif
