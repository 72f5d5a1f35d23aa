/* A shard thread: setup, the event loop, and the batch pipeline with the rollback of a failed
 * batch.
 *
 * One loop iteration:
 *   reap completions (accepts, recv data -> frames -> ops applied into the open batch, send
 *   progress, batches the persist thread made durable -> their held replies released)
 *   -> process connections left with pending frames (fairness bound per connection)
 *   -> expire due holds into the open batch (hf_store_tick)
 *   -> seal the open batch when the pipeline has room for it (shard_seal_maybe): it goes to the
 *      persist thread (engine/durable.h) and a new batch opens; the loop does not wait for it
 *   -> hand each connection's releasable replies to the kernel, one send per connection
 *   -> sleep in io_uring_submit_and_wait_timeout until a completion or the next hold deadline.
 *
 *   parse -> apply (open batch N+1) -> seal -> [persist thread: write + sync N, N+1] -> durable
 *   -> release N's held replies -> send
 *
 * A failed batch N (the persist thread poisons itself: N+1, N+2 are never written) makes every held
 * reply of N and later batches an IO error, drops the open batch's changes, and hands the store to
 * nobody: the persist thread rebuilds one from the durable state (RELOAD) while the loop goes on
 * answering store ops IO; the rebuilt store then replaces it. In durability none there is no
 * persist thread: a sealed batch is durable at once.
 *
 * INVARIANTS
 *  1. batches[open_seq % MAX] is OPEN; done_seq < open_seq; the batches done_seq+1 .. open_seq-1
 *     are SEALED, at the persist thread, at most HF_SHARD_BATCHES_INFLIGHT_MAX of them.
 *  2. s->store is NULL only from a failed batch until its reload succeeded; then degraded is 1.
 *  3. Every buffer of the buffer ring is either in the kernel or being handled by the CQE that
 * named it, which gives it back before the next CQE (conn.c).
 *  4. The loop never sleeps past the store's next deadline, nor past HF_SHARD_WAIT_MS_MAX, and does
 *     not sleep at all while a connection holds frames it could process.
 *  5. Batches complete in seq order (the persist thread runs them in order): each completion is
 *     for done_seq + 1. A batch completes once its job is back (local_done) and, with sync
 *     replication, every in-sync replica acknowledged it (hf_repl_gate): shard_complete. */
#include "engine/shard.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"
#include "engine/datadir.h"
#include "engine/durable.h"
#include "engine/repl.h"
#include "engine/shard_int.h"
#include "engine/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Listen backlog of each shard's socket. */
#define SHARD_LISTEN_BACKLOG 4096
/* How long a shard waits for its port to be released (EADDRINUSE), and its polling step. */
#define SHARD_BIND_WAIT_MS  3000u
#define SHARD_BIND_RETRY_MS 50u
/* Poll period while stopping. */
#define SHARD_STOP_POLL_MS 10u
/* Metadata names (hf_persist_meta_*). */
#define META_SHARDS_COUNT "shards_count"
#define META_SLOT_MAP	  "slot_map"

static void shard_batch_open(struct hf_shard *s)
{
	s->open_seq++;
	struct hf_batch *b = &s->batches[s->open_seq % HF_SHARD_BATCHES_MAX];
	HF_ASSERT(b->state == HF_BATCH_FREE);
	b->seq = s->open_seq;
	b->state = HF_BATCH_OPEN;
	b->referenced = 0;
	b->ops_count = 0;
	b->has_backup = 0;
	b->backup_root[0] = '\0';
	b->lat_count = 0;
	hf_changes_reset(&b->changes);
}

int hf_shard_create(uint32_t index, const struct hf_engine_config *cfg, int wake_fd,
		    struct hf_shard **out)
{
	HF_ASSERT(cfg != NULL && out != NULL && index < cfg->shards_count);
	HF_ASSERT(cfg->connections_max >= 1);
	*out = NULL;
	struct hf_shard *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->index = index;
	s->cfg = cfg;
	s->wake_fd = wake_fd;
	s->listen_fd = -1;
	s->conns_max = cfg->connections_max;
	s->conns = calloc(s->conns_max, sizeof(*s->conns));
	s->touched = calloc(s->conns_max, sizeof(*s->touched));
	s->ready = calloc(s->conns_max, sizeof(*s->ready));
	s->held = calloc(s->conns_max, sizeof(*s->held));
	s->dirty_seq = calloc(HF_SHARD_DIRTY_BUCKETS, sizeof(*s->dirty_seq));
	s->map_frame = malloc(HF_SLOT_MAP_ENCODED_SIZE_MAX);
	s->batch_out = malloc(HF_SHARD_BATCH_OUT_SIZE);
	s->meta_buf = malloc(HF_SLOT_MAP_ENCODED_SIZE_MAX);
	s->map_posted = malloc(sizeof(*s->map_posted));
	pthread_mutex_init(&s->map_lock, NULL);
	s->durable_fd = -1;
	s->map_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int failed = s->conns == NULL || s->touched == NULL || s->ready == NULL ||
		     s->held == NULL || s->dirty_seq == NULL || s->map_frame == NULL ||
		     s->batch_out == NULL || s->meta_buf == NULL || s->map_posted == NULL ||
		     s->map_fd < 0;
	/* The largest buffer: a reply stream at its bound (conn.c fill_cap_max) or a full stash. */
	uint64_t buf_size_max = 2u * ((uint64_t)cfg->conn_buffer_size_max + HF_FRAME_SIZE_MAX);
	if (buf_size_max < HF_CONN_STASH_SIZE_MAX)
		buf_size_max = HF_CONN_STASH_SIZE_MAX;
	if (!failed && hf_pool_init(&s->pool, s->conns_max, buf_size_max) != 0)
		failed = 1;
	if (!failed &&
	    hf_rate_limit_init(&s->rate, cfg->user_rate_per_s, cfg->user_rate_burst) != 0)
		failed = 1;
	s->lat = calloc(1, sizeof(*s->lat));
	failed = failed || s->lat == NULL || hf_move_shard_create(&s->move) != 0;
	for (uint32_t i = 0; i < HF_SHARD_BATCHES_MAX && !failed; i++) {
		s->batches[i].lat = calloc(HF_SHARD_BATCH_LAT_MAX, sizeof(*s->batches[i].lat));
		failed = s->batches[i].lat == NULL ||
			 hf_changes_init(&s->batches[i].changes, cfg->test_batch_changes_max != 0
								     ? cfg->test_batch_changes_max
								     : HF_SHARD_CHANGES_MAX) != 0;
		/* Every batch builds its change records, in durability none too: WATCH pushes them,
		 * a slot move captures them and a primary streams them to its replicas, and any of
		 * those may start while a batch is open. (count_only, which skips building them, is
		 * for a shard that can have none of the three: not wired yet.) */
		s->batches[i].changes.count_only = 0;
	}
	if (!failed && hf_watch_create(s) != 0)
		failed = 1;
	if (failed) {
		hf_shard_destroy(s);
		return -ENOMEM;
	}
	/* Batch 1 is open; "batch 0" is the durable empty state. */
	s->open_seq = 0;
	shard_batch_open(s);
	/* Every slot starts FREE, chained in index order. */
	for (uint32_t i = 0; i < s->conns_max; i++) {
		s->conns[i].fd = -1;
		s->conns[i].free_next = i + 1 < s->conns_max ? i + 2 : 0;
	}
	s->free_head = 1;
	*out = s;
	return 0;
}

/* ---- Setup ---- */

/* Binds the shard's socket early (a port conflict shows at once), and listens only once the store
 * is loaded (connecting then means being served; before, clients are refused and retry). */
static int shard_bind(struct hf_shard *s)
{
	uint16_t port = (uint16_t)(s->cfg->port + s->index);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	int rc = 0;
	/* TCP_NODELAY on the listener: accepted sockets inherit it, and a request/reply loop stalls
	 * on delayed ACKs without it. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		rc = -errno;
		goto err_close;
	}
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	if (inet_pton(AF_INET, s->cfg->host, &addr.sin_addr) != 1) {
		rc = -EINVAL;
		goto err_close;
	}
	/* A killed predecessor's listener lives on until the kernel has torn down its io_uring
	 * (asynchronously): give it a moment before calling the port taken. */
	for (uint32_t waited_ms = 0;; waited_ms += SHARD_BIND_RETRY_MS) {
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		rc = -errno;
		if (rc != -EADDRINUSE || waited_ms >= SHARD_BIND_WAIT_MS)
			goto err_close;
		if (waited_ms == 0)
			hf_log_warn("port %u is in use; retrying for up to %u ms", (unsigned)port,
				    SHARD_BIND_WAIT_MS);
		struct timespec ts = {.tv_nsec = SHARD_BIND_RETRY_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	s->listen_fd = fd;
	return 0;

err_close:
	hf_log_error("bind %s:%u: %s", s->cfg->host, (unsigned)port, strerror(-rc));
	close(fd);
	return rc;
}

static int shard_listen(struct hf_shard *s)
{
	HF_ASSERT(s->listen_fd >= 0);
	if (listen(s->listen_fd, SHARD_LISTEN_BACKLOG) != 0) {
		int rc = -errno;
		hf_log_error("listen on %s:%u: %s", s->cfg->host,
			     (unsigned)(s->cfg->port + s->index), strerror(-rc));
		return rc;
	}
	hf_log_info("listening on %s:%u", s->cfg->host, (unsigned)(s->cfg->port + s->index));
	return 0;
}

/* The data directory must have been created with this shard count: slots are assigned to shards by
 * index, so another count would route events to shards that do not hold them. */
static int shard_check_shards_count(struct hf_shard *s)
{
	uint8_t value[4];
	int rc = hf_persist_meta_get(s->persist, META_SHARDS_COUNT, value, sizeof(value));
	if (rc == -ENOENT) {
		hf_put_le32(value, s->cfg->shards_count);
		return hf_persist_meta_put(s->persist, META_SHARDS_COUNT, value, sizeof(value));
	}
	if (rc < 0)
		return rc;
	if (rc != (int)sizeof(value)) {
		hf_log_error("data dir %s: metadata %s has %d bytes, not 4", s->cfg->data_dir,
			     META_SHARDS_COUNT, rc);
		return -EBADMSG;
	}
	uint32_t stored = hf_get_le32(value);
	if (stored != s->cfg->shards_count) {
		hf_log_error(
		    "data dir %s was created with %u shards but holdfastd was started with "
		    "--shards %u: start it with --shards %u",
		    s->cfg->data_dir, stored, s->cfg->shards_count, stored);
		return -EINVAL;
	}
	return 0;
}

static int shard_save_map(struct hf_shard *s)
{
	size_t size = hf_slot_map_encode(&s->map, s->map_frame, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	HF_ASSERT(size > 0);
	s->map_frame_size = (uint32_t)size;
	return hf_persist_meta_put(s->persist, META_SLOT_MAP, s->map_frame, size);
}

/* Loads the persisted slot map, or creates the default one. A default-shaped map whose owners name
 * another address (the node was restarted on other ports) is rebuilt for this address with the next
 * epoch; a rebalanced map must name this shard. */
static int shard_load_map(struct hf_shard *s)
{
	const struct hf_engine_config *cfg = s->cfg;
	uint16_t port = (uint16_t)(cfg->port + s->index);
	int rc = hf_persist_meta_get(s->persist, META_SLOT_MAP, s->map_frame,
				     HF_SLOT_MAP_ENCODED_SIZE_MAX);
	if (rc == -ENOENT) {
		enum hf_status st = hf_slot_map_init_default(&s->map, cfg->advertise_host,
							     cfg->port, cfg->shards_count);
		HF_ASSERT(st == HF_OK); /* the config parser checked host, port and count */
		rc = shard_save_map(s);
		if (rc != 0)
			return rc;
	} else if (rc < 0) {
		return rc;
	} else if ((size_t)rc > HF_SLOT_MAP_ENCODED_SIZE_MAX ||
		   hf_slot_map_decode(s->map_frame, (size_t)rc, &s->map) != HF_OK) {
		hf_log_error("data dir %s: the stored slot map does not decode", cfg->data_dir);
		return -EBADMSG;
	} else {
		/* map_frame holds the stored encoding: SLOT_MAP replies serve it as it is. */
		s->map_frame_size = (uint32_t)rc;
	}

	if (hf_slot_map_find_owner(&s->map, cfg->advertise_host, port) < 0) {
		if (!hf_slot_map_is_default_shape(&s->map, cfg->shards_count)) {
			hf_log_error("the stored slot map (epoch %llu) has no owner %s:%u: start "
				     "holdfastd with the --advertise address the map names",
				     (unsigned long long)s->map.epoch, cfg->advertise_host,
				     (unsigned)port);
			return -EINVAL;
		}
		uint64_t epoch = s->map.epoch + 1;
		enum hf_status st = hf_slot_map_init_default(&s->map, cfg->advertise_host,
							     cfg->port, cfg->shards_count);
		HF_ASSERT(st == HF_OK);
		s->map.epoch = epoch;
		hf_log_warn("the node's address changed: slot map rebuilt for %s:%u.., epoch %llu",
			    cfg->advertise_host, (unsigned)cfg->port, (unsigned long long)epoch);
		rc = shard_save_map(s);
		if (rc != 0)
			return rc;
	}
	int owner = hf_slot_map_find_owner(&s->map, cfg->advertise_host, port);
	HF_ASSERT(owner >= 0 && owner < s->map.owners_count);
	s->owner_index = (uint16_t)owner;
	HF_ASSERT(s->map_frame_size >= HF_FRAME_HEADER_SIZE);
	return 0;
}

/* Creates the store and fills it from disk. Returns 0 or -errno; s->store is NULL on failure. */
static int shard_load_store(struct hf_shard *s)
{
	HF_ASSERT(s->store == NULL);
	int rc = hf_store_create(&s->cfg->store, &s->store);
	if (rc != 0) {
		hf_log_error("store: cannot create it with the configured limits: %s",
			     strerror(-rc));
		s->store = NULL;
		return rc;
	}
	if (s->cfg->prefault) {
		/* Before loading, while the store is empty. A store rebuilt after a failed commit
		 * (RELOAD) is not prefaulted: that is the rare path. */
		uint64_t t0_ms = hf_clock_mono_ms();
		hf_store_prefault(s->store);
		hf_log_info("store: pools resident in %llu ms (--prefault)",
			    (unsigned long long)(hf_clock_mono_ms() - t0_ms));
	}
	struct hf_persist_load_stats ls;
	rc = hf_persist_load(s->persist, s->store, hf_clock_wall_ms(), &ls);
	if (rc != 0) {
		hf_log_error("store: loading from disk failed: %s", strerror(-rc));
		hf_store_destroy(s->store);
		s->store = NULL;
		return rc;
	}
	/* persist.c logs the same at info level. */
	hf_log_debug("recovered in %llu ms: %llu records, %u events, %u holds, %u bookings, %u "
		     "holds expired while down",
		     (unsigned long long)(ls.duration_us / 1000u),
		     (unsigned long long)ls.records_count, ls.events_count, ls.holds_count,
		     ls.bookings_count, ls.expired_count);
	return 0;
}

/* From here on the persist object belongs to the persist thread (durability wal and fsync). */
static int shard_start_durable(struct hf_shard *s)
{
	const struct hf_engine_config *cfg = s->cfg;
	if (cfg->durability == HF_DURABILITY_NONE) {
		if (cfg->test_fail_commits > 0 || cfg->test_sync_delay_ms > 0)
			hf_log_warn(
			    "test hooks HOLDFAST_FAIL_COMMITS and HOLDFAST_SYNC_DELAY_MS are "
			    "ignored with durability none");
		return 0;
	}
	if (cfg->test_fail_commits > 0)
		hf_log_warn("test hook: %u commits fail after %u succeeded", cfg->test_fail_commits,
			    cfg->test_fail_commits_after);
	if (cfg->test_sync_delay_ms > 0)
		hf_log_warn("test hook: every commit takes %u ms longer", cfg->test_sync_delay_ms);
	s->durable_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->durable_fd < 0) {
		int rc = -errno;
		hf_log_error("eventfd: %s", strerror(-rc));
		return rc;
	}
	struct hf_durable_hooks hooks = {
	    .sync_delay_ms = cfg->test_sync_delay_ms,
	    .fail_commits = cfg->test_fail_commits,
	    .fail_commits_after = cfg->test_fail_commits_after,
	};
	int rc = hf_durable_start(s->index, s->persist, &cfg->store, cfg->backup_root_real, &hooks,
				  s->durable_fd, &s->durable);
	if (rc != 0)
		hf_log_error("persist thread: %s", strerror(-rc));
	return rc;
}

int hf_shard_open(struct hf_shard *s)
{
	const struct hf_engine_config *cfg = s->cfg;
	s->start_mono_ms = hf_clock_mono_ms();
	s->map_confirmed = s->cfg->etcd_urls[0] == '\0';
	s->map_wait_until_ms = s->start_mono_ms + HF_SHARD_MAP_WAIT_MS;
	int rc = hf_ring_init(&s->ring, HF_SHARD_SQ_ENTRIES, HF_SHARD_CQ_ENTRIES, &s->ring_mode);
	if (rc != 0) {
		hf_log_error("io_uring setup failed: %s", strerror(-rc));
		return rc;
	}
	s->ring_ready = 1;
	hf_log_info("io_uring ring: %s", hf_ring_mode_name(s->ring_mode));
	rc = hf_buf_ring_setup(&s->ring, &s->bufs, 0, HF_SHARD_RECV_BUFS_COUNT,
			       HF_SHARD_RECV_BUF_SIZE);
	if (rc != 0) {
		hf_log_error("provided-buffer ring setup failed: %s", strerror(-rc));
		return rc;
	}
	rc = shard_bind(s);
	if (rc != 0)
		return rc;

	char dir[PATH_MAX];
	rc = hf_datadir_shard_path(cfg->data_dir, s->index, dir, sizeof(dir));
	if (rc != 0)
		return rc;
	rc = hf_persist_open(dir, cfg->durability, &s->persist);
	if (rc != 0)
		return rc;
	rc = shard_check_shards_count(s);
	if (rc != 0)
		return rc;
	rc = shard_load_map(s);
	if (rc != 0)
		return rc;
	rc = shard_load_store(s);
	if (rc != 0)
		return rc;
	rc = hf_repl_create(s, &s->repl);
	if (rc != 0)
		return rc;

	rc = shard_start_durable(s);
	if (rc != 0)
		return rc;
	rc = hf_repl_start(s);
	if (rc != 0)
		return rc;
	return shard_listen(s);
}

/* ---- The batch pipeline ---- */

/* Walks the held list after done_seq moved: releases what may leave, drops emptied slots. */
static void shard_release_held(struct hf_shard *s)
{
	uint32_t i = 0;
	/* Bounded: each pass keeps i or shrinks the list. */
	while (i < s->held_count) {
		struct hf_conn *c = &s->conns[s->held[i]];
		HF_ASSERT(c->on_held);
		if (c->state != HF_CONN_FREE && hf_conn_release(s, c)) {
			i++;
			continue;
		}
		c->on_held = 0;
		s->held[i] = s->held[--s->held_count];
	}
}

/* A postponed frame may go on: touch every connection with input waiting (settle readies it). */
static void shard_wake_postponed(struct hf_shard *s)
{
	for (uint32_t i = 0; i < s->conns_max; i++) {
		struct hf_conn *c = &s->conns[i];
		if (c->state == HF_CONN_OPEN && c->stash.size > c->stash_off)
			hf_conn_touch(s, c);
	}
}

/* The replies held for b leave now: their latency, parse to now, goes into the histograms. */
static void shard_batch_record_latency(struct hf_shard *s, struct hf_batch *b)
{
	uint64_t now_us = hf_clock_mono_us();
	HF_ASSERT(b->lat_count <= HF_SHARD_BATCH_LAT_MAX);
	for (uint32_t i = 0; i < b->lat_count; i++) {
		uint64_t parse_us = b->lat[i].parse_us;
		hf_lat_record(&s->lat->op[b->lat[i].opcode],
			      now_us > parse_us ? now_us - parse_us : 0);
	}
	b->lat_count = 0;
}

static void shard_batch_free(struct hf_shard *s, struct hf_batch *b)
{
	HF_ASSERT(b->state == HF_BATCH_SEALED);
	shard_batch_record_latency(s, b);
	b->state = HF_BATCH_FREE;
	hf_changes_reset(&b->changes);
}

/* Batch b is durable: account for it, complete its BACKUP reply, release what waited for it. */
static void shard_batch_durable(struct hf_shard *s, struct hf_batch *b,
				const struct hf_durable_job *job)
{
	HF_ASSERT(b->seq == s->done_seq + 1u);
	s->done_seq = b->seq;
	s->c.commits++;
	s->c.commit_ops += b->ops_count;
	s->degraded = 0;
	uint64_t wait_us = hf_clock_mono_us() - b->sealed_us;
	hf_lat_record_n(&s->lat->durable, wait_us, b->ops_count);
	if (job != NULL)
		hf_lat_record(&s->lat->sync, job->commit_us);
	s->c.durable_wait_us_sum += wait_us;
	if (wait_us > s->c.durable_wait_us_max)
		s->c.durable_wait_us_max = wait_us;
	if (b->has_backup) {
		struct hf_conn *c = &s->conns[b->backup_conn];
		int rc = job != NULL ? job->checkpoint_status : 0;
		uint16_t status = rc == 0	  ? HF_OK
				  : rc == -EEXIST ? HF_ERR_INVALID
				  : rc == -EACCES ? HF_FORBIDDEN
						  : HF_ERR_IO;
		if (c->state != HF_CONN_FREE && c->gen == b->backup_gen)
			hf_conn_complete_backup(s, c, b->backup_pos, status,
						job != NULL ? job->checkpoint_sequence : 0);
	}
	hf_watch_on_durable(s, b);
	shard_batch_free(s, b);
	shard_release_held(s);
	hf_repl_on_durable(s, b->seq);
}

static void shard_submit_reload(struct hf_shard *s)
{
	HF_ASSERT(s->store == NULL);
	HF_ASSERT(!s->reload_pending);
	HF_ASSERT(s->durable != NULL);
	memset(&s->reload_job, 0, sizeof(s->reload_job));
	s->reload_job.kind = HF_DURABLE_RELOAD;
	int rc = hf_durable_submit(s->durable, &s->reload_job);
	HF_ASSERT(rc == 0); /* INVARIANTS 1: at most BATCHES_MAX jobs besides it */
	s->reload_pending = 1;
}

/* Batch b failed to commit: nothing of it, nor of any batch applied after it, will be durable
 * (the persist thread is poisoned until the reload). Every held reply becomes IO at once. */
static void shard_batch_failed(struct hf_shard *s, struct hf_batch *b, int status)
{
	HF_ASSERT(b->seq == s->done_seq + 1u);
	s->done_seq = b->seq;
	if (status == -ECANCELED) {
		/* A later batch of a failure already handled. */
		HF_ASSERT(s->store == NULL);
		s->c.batches_cancelled++;
		shard_batch_free(s, b);
		return;
	}
	s->c.commit_failures++;
	s->degraded = 1;
	hf_repl_on_failed(s);
	hf_log_error("batch %llu (%u changes, %u ops) failed to commit (%s): answering it and the "
		     "%u batches after it with IO and rebuilding the store from disk",
		     (unsigned long long)b->seq, b->changes.count, b->ops_count, strerror(-status),
		     hf_shard_in_flight(s) + 1u);
	shard_batch_free(s, b);
	/* Every held reply leaves now, as IO: their batches record no BACKUP and no later latency.
	 */
	for (uint64_t seq = s->done_seq + 1u; seq <= s->open_seq; seq++) {
		struct hf_batch *later = &s->batches[seq % HF_SHARD_BATCHES_MAX];
		later->has_backup = 0;
		shard_batch_record_latency(s, later);
	}
	for (uint32_t i = 0; i < s->held_count; i++) {
		struct hf_conn *c = &s->conns[s->held[i]];
		if (c->state != HF_CONN_FREE)
			hf_conn_fail_held(s, c);
	}
	shard_release_held(s);
	HF_ASSERT(s->held_count == 0);
	hf_watch_on_failed(s);
	struct hf_batch *open = hf_shard_open_batch(s);
	hf_changes_reset(&open->changes);
	open->ops_count = 0;
	open->referenced = 0;
	if (s->store != NULL) {
		hf_store_destroy(s->store);
		s->store = NULL;
	}
	shard_submit_reload(s);
}

static void shard_on_reload(struct hf_shard *s, struct hf_durable_job *job)
{
	HF_ASSERT(s->reload_pending);
	HF_ASSERT(s->store == NULL);
	s->reload_pending = 0;
	if (job->status != 0) {
		s->store_retry_ms = hf_clock_mono_ms() + HF_SHARD_RETRY_MS;
		hf_log_error("store: reload failed (%s); store ops answer IO until it succeeds "
			     "(retry in %u ms)",
			     strerror(-job->status), HF_SHARD_RETRY_MS);
		return;
	}
	s->store = job->store;
	job->store = NULL;
	s->c.store_reloads++;
	if (!job->writable) {
		s->read_only = 1;
		s->reopen_retry_ms = hf_clock_mono_ms() + HF_SHARD_RETRY_MS;
		hf_log_error(
		    "store reloaded read-only: the disk refuses writes; reads go on, writes "
		    "answer IO, retrying every %u ms",
		    HF_SHARD_RETRY_MS);
	}
	/* Every batch is done (the failed ones were the last written): no state waits any more. */
	HF_ASSERT(hf_shard_in_flight(s) == 0);
	memset(s->dirty_seq, 0, HF_SHARD_DIRTY_BUCKETS * sizeof(*s->dirty_seq));
}

static void shard_on_meta(struct hf_shard *s, const struct hf_durable_job *job);

static void shard_submit_reopen(struct hf_shard *s)
{
	HF_ASSERT(s->read_only);
	HF_ASSERT(!s->reopen_pending);
	memset(&s->reopen_job, 0, sizeof(s->reopen_job));
	s->reopen_job.kind = HF_DURABLE_REOPEN;
	int rc = hf_durable_submit(s->durable, &s->reopen_job);
	HF_ASSERT(rc == 0); /* read-only: no batch is in flight (writes are refused) */
	s->reopen_pending = 1;
}

static void shard_on_reopen(struct hf_shard *s, const struct hf_durable_job *job)
{
	HF_ASSERT(s->reopen_pending);
	s->reopen_pending = 0;
	if (!job->writable) {
		s->reopen_retry_ms = hf_clock_mono_ms() + HF_SHARD_RETRY_MS;
		return;
	}
	s->read_only = 0;
	hf_log_warn("the disk takes writes again: write ops resume");
}

/* Completes, in batch order, the sealed batches whose local commit is back and that replication
 * lets go (INVARIANTS 5). A failed batch completes at once: nothing waits for its replicas. */
static void shard_complete(struct hf_shard *s)
{
	/* Bounded: at most HF_SHARD_BATCHES_INFLIGHT_MAX batches are sealed. */
	for (uint32_t i = 0; i < HF_SHARD_BATCHES_MAX && s->done_seq + 1u < s->open_seq; i++) {
		struct hf_batch *b = &s->batches[(s->done_seq + 1u) % HF_SHARD_BATCHES_MAX];
		HF_ASSERT(b->state == HF_BATCH_SEALED);
		HF_ASSERT(b->seq == s->done_seq + 1u);
		if (!b->local_done)
			return;
		int ok = b->local_status == 0 && s->store != NULL;
		if (ok && !hf_repl_gate(s, b->seq))
			return;
		b->local_done = 0;
		if (ok)
			shard_batch_durable(s, b, s->durable != NULL ? &b->job : NULL);
		else
			shard_batch_failed(s, b,
					   b->local_status != 0 ? b->local_status : -ECANCELED);
	}
}

static void shard_on_job(struct hf_shard *s, struct hf_durable_job *job)
{
	if (job->kind == HF_DURABLE_RELOAD) {
		shard_on_reload(s, job);
		return;
	}
	if (job->kind == HF_DURABLE_REOPEN) {
		shard_on_reopen(s, job);
		return;
	}
	if (job->kind == HF_DURABLE_META) {
		shard_on_meta(s, job);
		return;
	}
	HF_ASSERT(job->kind == HF_DURABLE_COMMIT);
	/* INVARIANTS 5: jobs come back in order; earlier batches may still wait for replicas. */
	HF_ASSERT(job->seq > s->done_seq);
	HF_ASSERT(job->seq < s->open_seq);
	struct hf_batch *b = &s->batches[job->seq % HF_SHARD_BATCHES_MAX];
	HF_ASSERT(b->state == HF_BATCH_SEALED);
	HF_ASSERT(&b->job == job);
	HF_ASSERT(!b->local_done);
	b->local_done = 1;
	b->local_status = job->status;
	shard_complete(s);
}

static void shard_reap_durable(struct hf_shard *s)
{
	if (s->durable == NULL)
		return;
	struct hf_durable_job *job;
	for (uint32_t i = 0; i < HF_DURABLE_JOBS_MAX && (job = hf_durable_reap(s->durable)); i++)
		shard_on_job(s, job);
}

static int shard_batch_needs_seal(const struct hf_batch *b)
{
	return b->changes.count > 0 || b->referenced || b->has_backup;
}

/* Seals the open batch and opens the next: the persist thread makes it durable, or (durability
 * none) it is durable at once. */
static void shard_batch_seal(struct hf_shard *s)
{
	struct hf_batch *b = hf_shard_open_batch(s);
	HF_ASSERT(hf_shard_in_flight(s) < HF_SHARD_BATCHES_INFLIGHT_MAX);
	b->state = HF_BATCH_SEALED;
	b->sealed_us = hf_clock_mono_us();
	b->local_done = 0;
	shard_batch_open(s);
	hf_repl_on_seal(s, b);
	if (s->durable == NULL) {
		b->local_done = 1;
		b->local_status = 0;
		shard_complete(s);
		return;
	}
	memset(&b->job, 0, sizeof(b->job));
	b->job.kind = HF_DURABLE_COMMIT;
	b->job.seq = b->seq;
	b->job.changes = &b->changes;
	b->job.checkpoint_root = b->has_backup ? b->backup_root : NULL;
	int rc = hf_durable_submit(s->durable, &b->job);
	HF_ASSERT(rc == 0); /* INVARIANTS 1 bounds the jobs in flight */
}

/* End of iteration: seal the open batch when it has something and the pipeline has room. */
static void shard_seal_maybe(struct hf_shard *s)
{
	struct hf_batch *b = hf_shard_open_batch(s);
	if (s->read_only) {
		/* Writes are refused, so only time-driven expiries gathered here: they cannot be
		 * written, and need not be (recovery expires those holds again). */
		HF_ASSERT(!b->referenced);
		HF_ASSERT(!b->has_backup);
		if (b->changes.count > 0)
			hf_watch_on_failed(s); /* expiries the watchers will not see */
		hf_changes_reset(&b->changes);
		s->open_full = 0;
		return;
	}
	if (shard_batch_needs_seal(b) && hf_shard_in_flight(s) < HF_SHARD_BATCHES_INFLIGHT_MAX &&
	    !s->reload_pending)
		shard_batch_seal(s);
	if (s->open_full && !hf_shard_open_batch(s)->has_backup &&
	    hf_changes_has_room(&hf_shard_open_batch(s)->changes)) {
		s->open_full = 0;
		shard_wake_postponed(s);
	}
}

static void shard_arm_durable(struct hf_shard *s)
{
	HF_ASSERT(!s->durable_armed);
	HF_ASSERT(s->durable_fd >= 0);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_read(sqe, s->durable_fd, &s->durable_count, sizeof(s->durable_count), 0);
	sqe->user_data = hf_ud_make(HF_UD_DURABLE, 0, 0);
	s->durable_armed = 1;
}

/* ---- Slot maps from the cluster ---- */

int hf_shard_post_map(struct hf_shard *s, const struct hf_slot_map *map)
{
	if (map->owners_count == 0 || map->owners_count > HF_SLOT_OWNERS_MAX)
		return -EINVAL;
	for (uint32_t slot = 0; slot < HF_SLOTS_COUNT; slot++) {
		if (map->slot_owner[slot] >= map->owners_count)
			return -EINVAL;
	}
	pthread_mutex_lock(&s->map_lock);
	if (!s->map_posted_set || map->epoch > s->map_posted->epoch) {
		*s->map_posted = *map;
		s->map_posted_set = 1;
	}
	pthread_mutex_unlock(&s->map_lock);
	uint64_t one = 1;
	ssize_t n = write(s->map_fd, &one, sizeof(one));
	/* A full eventfd counter is readable already: the shard wakes either way. */
	HF_ASSERT(n == (ssize_t)sizeof(one) || errno == EAGAIN);
	return 0;
}

/* The map persists through the persist thread (a META job on its own copy), so the loop never
 * writes to disk itself; a newer map arriving meanwhile is written after it. */
static void shard_persist_map(struct hf_shard *s)
{
	if (s->durable == NULL)
		return;
	if (s->meta_pending) {
		s->meta_dirty = 1;
		return;
	}
	memcpy(s->meta_buf, s->map_frame, s->map_frame_size);
	memset(&s->meta_job, 0, sizeof(s->meta_job));
	s->meta_job.kind = HF_DURABLE_META;
	s->meta_job.meta_name = META_SLOT_MAP;
	s->meta_job.meta_value = s->meta_buf;
	s->meta_job.meta_size = s->map_frame_size;
	int rc = hf_durable_submit(s->durable, &s->meta_job);
	HF_ASSERT(rc == 0); /* one META job at a time: the queue has room (shard_int.h) */
	s->meta_pending = 1;
	s->meta_dirty = 0;
}

static void shard_on_meta(struct hf_shard *s, const struct hf_durable_job *job)
{
	HF_ASSERT(s->meta_pending);
	s->meta_pending = 0;
	if (job->status != 0)
		hf_log_error("slot map epoch %llu: persisting it failed (%s); it is served, and "
			     "written again with the next map",
			     (unsigned long long)s->map.epoch, strerror(-job->status));
	if (s->meta_dirty)
		shard_persist_map(s);
}

/* Installs the newest posted map when it is newer than the shard's. */
static void shard_take_map(struct hf_shard *s)
{
	pthread_mutex_lock(&s->map_lock);
	if (s->map_posted_set)
		s->map_confirmed = 1; /* the cluster's map, newer or the one we had */
	int newer = s->map_posted_set && s->map_posted->epoch > s->map.epoch;
	if (newer)
		s->map = *s->map_posted;
	s->map_posted_set = 0;
	pthread_mutex_unlock(&s->map_lock);
	if (!newer)
		return;
	int owner = hf_slot_map_find_owner(&s->map, s->cfg->advertise_host,
					   (uint16_t)(s->cfg->port + s->index));
	s->owner_index = owner >= 0 ? (uint16_t)owner : HF_SHARD_OWNER_NONE;
	size_t size = hf_slot_map_encode(&s->map, s->map_frame, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE);
	s->map_frame_size = (uint32_t)size;
	uint32_t owned = 0;
	for (uint32_t slot = 0; slot < HF_SLOTS_COUNT; slot++)
		owned += s->owner_index != HF_SHARD_OWNER_NONE && s->map.slot_owner[slot] == owner;
	hf_log_info("slot map epoch %llu installed: %u of %u slots owned here",
		    (unsigned long long)s->map.epoch, owned, HF_SLOTS_COUNT);
	shard_persist_map(s);
}

static void shard_arm_map(struct hf_shard *s)
{
	HF_ASSERT(!s->map_armed);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_read(sqe, s->map_fd, &s->map_count, sizeof(s->map_count), 0);
	sqe->user_data = hf_ud_make(HF_UD_MAP, 0, 0);
	s->map_armed = 1;
}

/* ---- The loop ---- */

/* Replica: wake when the follow thread handed frames over. */
static void shard_arm_repl(struct hf_shard *s)
{
	HF_ASSERT(!s->repl_armed);
	int fd = hf_repl_inbox_fd(s->repl);
	HF_ASSERT(fd >= 0);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_read(sqe, fd, hf_repl_inbox_count(s->repl), sizeof(uint64_t), 0);
	sqe->user_data = hf_ud_make(HF_UD_REPL, 0, 0);
	s->repl_armed = 1;
}

static void shard_arm_accept(struct hf_shard *s)
{
	HF_ASSERT(!s->accept_armed && s->listen_fd >= 0);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = hf_ud_make(HF_UD_ACCEPT, 0, 0);
	s->accept_armed = 1;
}

static void shard_arm_wake(struct hf_shard *s)
{
	HF_ASSERT(!s->wake_armed);
	struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
	io_uring_prep_poll_add(sqe, s->wake_fd, POLLIN);
	sqe->user_data = hf_ud_make(HF_UD_WAKE, 0, 0);
	s->wake_armed = 1;
}

static void shard_begin_stop(struct hf_shard *s)
{
	if (s->stopping)
		return;
	hf_log_info("stopping: no new connections; finishing the current batch");
	s->stopping = 1;
	s->stop_deadline_ms = s->mono_ms + HF_SHARD_DRAIN_MS;
	if (s->accept_armed) {
		struct io_uring_sqe *sqe = hf_ring_sqe(&s->ring);
		io_uring_prep_cancel64(sqe, hf_ud_make(HF_UD_ACCEPT, 0, 0), 0);
		sqe->user_data = hf_ud_make(HF_UD_CANCEL, 0, 0);
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	/* Settling every connection stops its reading. */
	for (uint32_t i = 0; i < s->conns_max; i++) {
		if (s->conns[i].state != HF_CONN_FREE)
			hf_conn_touch(s, &s->conns[i]);
	}
}

static void shard_on_cqe(struct hf_shard *s, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	switch (hf_ud_kind(ud)) {
	case HF_UD_ACCEPT:
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			s->accept_armed = 0;
			if (cqe->res < 0 && cqe->res != -ECANCELED) {
				hf_log_warn("accept: %s; retrying in %u ms", strerror(-cqe->res),
					    HF_SHARD_RETRY_MS);
				s->accept_retry_ms = s->mono_ms + HF_SHARD_RETRY_MS;
			}
		}
		if (cqe->res >= 0)
			hf_conn_on_accept(s, cqe->res);
		return;
	case HF_UD_WAKE:
		s->wake_armed = 0;
		shard_begin_stop(s);
		return;
	case HF_UD_CANCEL:
		return;
	case HF_UD_DURABLE:
		s->durable_armed = 0;
		if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR)
			hf_log_error("persist completion eventfd: %s", strerror(-cqe->res));
		/* The jobs themselves are reaped from the queue, whatever the count said. */
		shard_reap_durable(s);
		return;
	case HF_UD_MAP:
		s->map_armed = 0;
		shard_take_map(s);
		return;
	case HF_UD_REPL:
		s->repl_armed = 0;
		hf_repl_replica_pump(s);
		return;
	case HF_UD_RECV:
	case HF_UD_SEND: {
		uint32_t index = hf_ud_conn(ud);
		HF_ASSERT(index < s->conns_max);
		struct hf_conn *c = &s->conns[index];
		/* A slot is freed only once none of its ops is in the kernel (conn.c INVARIANTS 1),
		 * so a completion always names the live generation. */
		HF_ASSERT(c->state != HF_CONN_FREE && c->gen == hf_ud_gen(ud));
		if (hf_ud_kind(ud) == HF_UD_RECV)
			hf_conn_on_recv(s, c, cqe);
		else
			hf_conn_on_send(s, c, cqe->res);
		return;
	}
	}
	HF_PANIC("completion with unknown user_data 0x%llx", (unsigned long long)ud);
}

static void shard_reap(struct hf_shard *s)
{
	unsigned head;
	unsigned count = 0;
	struct io_uring_cqe *cqe;
	io_uring_for_each_cqe (&s->ring, head, cqe) {
		shard_on_cqe(s, cqe);
		if (++count >= HF_SHARD_CQES_PER_ITER_MAX)
			break;
	}
	io_uring_cq_advance(&s->ring, count);
}

static void shard_process_ready(struct hf_shard *s)
{
	uint32_t count = s->ready_count;
	HF_ASSERT(count <= s->conns_max);
	/* Only hf_conn_settle adds to the ready list, never hf_conn_pump: count is fixed. */
	for (uint32_t i = 0; i < count; i++) {
		struct hf_conn *c = &s->conns[s->ready[i]];
		HF_ASSERT(c->on_ready);
		c->on_ready = 0;
		if (c->state != HF_CONN_OPEN)
			continue;
		hf_conn_touch(s, c);
		hf_conn_pump(s, c);
	}
	HF_ASSERT(s->ready_count == count);
	s->ready_count = 0;
}

static void shard_settle(struct hf_shard *s)
{
	/* Settling may close a connection but never touches another one, so the list is fixed. */
	uint32_t count = s->touched_count;
	for (uint32_t i = 0; i < count; i++) {
		struct hf_conn *c = &s->conns[s->touched[i]];
		HF_ASSERT(c->on_touched);
		c->on_touched = 0;
		hf_conn_settle(s, c);
	}
	HF_ASSERT(s->touched_count == count);
	s->touched_count = 0;
}

/* Every HF_SHARD_IDLE_SCAN_MS: closes connections idle past --idle-timeout, and those whose frame
 * (or first frame) is not complete after --frame-timeout (slowloris, silent connects). */
static void shard_idle_scan(struct hf_shard *s)
{
	if (s->mono_ms < s->idle_scan_ms)
		return;
	s->idle_scan_ms = s->mono_ms + HF_SHARD_IDLE_SCAN_MS;
	uint64_t idle_ms = (uint64_t)s->cfg->idle_timeout_s * 1000u;
	uint64_t frame_ms = (uint64_t)s->cfg->frame_timeout_s * 1000u;
	for (uint32_t i = 0; i < s->conns_max; i++) {
		struct hf_conn *c = &s->conns[i];
		if (c->state != HF_CONN_OPEN)
			continue;
		if (frame_ms > 0 && c->frame_since_ms != 0 &&
		    s->mono_ms - c->frame_since_ms >= frame_ms) {
			s->c.conns_closed_frame_timeout++;
			hf_conn_close(s, c, "frame timeout");
			hf_conn_touch(s, c);
		} else if (idle_ms > 0 && s->mono_ms - c->active_ms >= idle_ms &&
			   !hf_watch_is_watching(s, c)) {
			s->c.conns_closed_idle++;
			hf_conn_close(s, c, "idle timeout");
			hf_conn_touch(s, c);
		}
	}
}

/* While stopping: once every reply is out (or the drain time is over), close every connection.
 * Returns 1 when the loop may end. */
static int shard_drain(struct hf_shard *s)
{
	/* Sealed batches are waited for whatever the time: their replies may be owed. */
	if (hf_shard_in_flight(s) > 0 || s->reload_pending || s->reopen_pending ||
	    s->meta_pending || shard_batch_needs_seal(hf_shard_open_batch(s)))
		return 0;
	int late = s->mono_ms >= s->stop_deadline_ms;
	int busy = 0;
	for (uint32_t i = 0; i < s->conns_max; i++) {
		struct hf_conn *c = &s->conns[i];
		if (c->state == HF_CONN_OPEN && (hf_conn_queued(c) > 0) && !late) {
			busy = 1;
			continue;
		}
		if (c->state == HF_CONN_OPEN) {
			hf_conn_close(s, c, "shutdown");
			hf_conn_touch(s, c);
		}
	}
	if (busy)
		return 0;
	/* Closing connections wait for their cancelled ops; do not wait for them for ever. */
	return s->conns_open == 0 || s->mono_ms >= s->stop_deadline_ms + HF_SHARD_DRAIN_MS;
}

/* How long the loop may sleep (INVARIANTS 4). */
static uint64_t shard_wait_ms(const struct hf_shard *s, int tick_saturated)
{
	if (s->ready_count > 0 || tick_saturated || s->touched_count > 0)
		return 0;
	if (s->stopping)
		return SHARD_STOP_POLL_MS;
	uint64_t wait_ms = HF_SHARD_WAIT_MS_MAX;
	if (s->store != NULL) {
		uint64_t deadline_ms = hf_store_next_deadline_ms(s->store);
		if (deadline_ms != UINT64_MAX) {
			uint64_t now_ms = hf_clock_wall_ms();
			/* The wheel may report a slot's time, a little early: never spin on it. */
			uint64_t until_ms = deadline_ms > now_ms ? deadline_ms - now_ms : 1;
			if (until_ms < wait_ms)
				wait_ms = until_ms;
		}
	}
	return wait_ms;
}

static int shard_iterate(struct hf_shard *s)
{
	s->iteration++;
	s->c.iterations++;
	s->now_ms = hf_clock_wall_ms();
	s->mono_ms = hf_clock_mono_ms();
	s->iter_start_us = hf_clock_mono_us();
	s->parse_us = s->iter_start_us;

	shard_reap(s);
	shard_process_ready(s);

	int tick_saturated = 0;
	/* The wheel has work only once its earliest deadline has come. */
	if (s->store != NULL && hf_store_next_deadline_ms(s->store) <= s->now_ms &&
	    hf_changes_has_room(&hf_shard_open_batch(s)->changes)) {
		uint32_t before = hf_shard_open_batch(s)->changes.count;
		uint32_t expired = hf_store_tick(s->store, s->now_ms, HF_SHARD_TICK_EXPIRIES_MAX,
						 &hf_shard_open_batch(s)->changes);
		hf_move_capture(s, &hf_shard_open_batch(s)->changes, before);
		s->c.holds_expired_tick += expired;
		tick_saturated = expired >= HF_SHARD_TICK_EXPIRIES_MAX;
		if (expired > 0)
			hf_log_debug("expired %u holds", expired);
	}
	hf_move_poll(s);
	tick_saturated |= hf_repl_tick(s);
	shard_complete(s);
	shard_seal_maybe(s);
	shard_settle(s);

	if (s->store == NULL && !s->reload_pending && s->durable != NULL &&
	    s->mono_ms >= s->store_retry_ms)
		shard_submit_reload(s);
	if (s->read_only && !s->reopen_pending && s->mono_ms >= s->reopen_retry_ms)
		shard_submit_reopen(s);
	if (!s->stopping && !s->accept_armed && s->listen_fd >= 0 &&
	    s->mono_ms >= s->accept_retry_ms)
		shard_arm_accept(s);
	if (s->durable != NULL && !s->durable_armed)
		shard_arm_durable(s);
	if (!s->map_armed && !s->stopping)
		shard_arm_map(s);
	if (hf_repl_is_replica(s->repl) && !s->repl_armed && !s->stopping)
		shard_arm_repl(s);
	shard_idle_scan(s);
	if (s->stopping && shard_drain(s) && s->touched_count == 0)
		return 1;

	uint64_t wait_ms = shard_wait_ms(s, tick_saturated);
	s->prev_busy_us = hf_clock_mono_us() - s->iter_start_us;
	struct __kernel_timespec ts = {.tv_sec = (long long)(wait_ms / 1000u),
				       .tv_nsec = (long long)(wait_ms % 1000u) * 1000000LL};
	struct io_uring_cqe *cqe = NULL;
	int rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
		hf_log_error("io_uring wait: %s", strerror(-rc));
		return -rc;
	}
	return 0;
}

int hf_shard_run(struct hf_shard *s)
{
	HF_ASSERT(s->index < HF_LAT_SHARDS_MAX);
	atomic_store_explicit(&hf_latency_registry[s->index], s->lat, memory_order_release);
	HF_ASSERT(s->ring_ready && s->listen_fd >= 0);
	/* "hf-shard-N" in top -H, perf sched and /proc/PID/task/TID/comm (at most 15 bytes). */
	char name[16];
	snprintf(name, sizeof(name), "hf-shard-%u", s->index);
	(void)pthread_setname_np(pthread_self(), name);
	shard_arm_wake(s);
	shard_arm_accept(s);
	s->idle_scan_ms = hf_clock_mono_ms() + HF_SHARD_IDLE_SCAN_MS;
	hf_log_info("serving: slot map epoch %llu, %u of %u slots owned, durability %s",
		    (unsigned long long)s->map.epoch,
		    (unsigned)(HF_SLOTS_COUNT / s->cfg->shards_count +
			       (s->index < HF_SLOTS_COUNT % s->cfg->shards_count ? 1u : 0u)),
		    HF_SLOTS_COUNT, hf_durability_name(s->cfg->durability));
	int rc;
	/* One pass per group commit, until stopped. */
	while ((rc = shard_iterate(s)) == 0)
		;
	if (rc > 0) {
		hf_log_info("stopped: %llu connections served, %llu commits",
			    (unsigned long long)s->c.conns_accepted,
			    (unsigned long long)s->c.commits);
		return 0;
	}
	return rc;
}

void hf_shard_destroy(struct hf_shard *s)
{
	if (s == NULL)
		return;
	hf_repl_destroy(s->repl); /* its follow thread first: it reads nothing of ours */
	s->repl = NULL;
	if (s->ring_ready) {
		/* Closing the ring cancels what is still in flight; the buffers it may have used
		 * are freed below, after it. */
		io_uring_queue_exit(&s->ring);
		s->ring_ready = 0;
	}
	if (s->conns != NULL) {
		for (uint32_t i = 0; i < s->conns_max; i++) {
			struct hf_conn *c = &s->conns[i];
			if (c->fd >= 0)
				close(c->fd);
			c->send_inflight = 0;
			hf_conn_free_buffers(s, c);
		}
	}
	hf_buf_ring_free(&s->bufs);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->store != NULL)
		hf_store_destroy(s->store);
	if (s->index < HF_LAT_SHARDS_MAX &&
	    atomic_load_explicit(&hf_latency_registry[s->index], memory_order_acquire) == s->lat)
		atomic_store_explicit(&hf_latency_registry[s->index], NULL, memory_order_release);
	if (s->durable != NULL)
		s->persist = hf_durable_stop(s->durable);
	s->durable = NULL;
	if (s->reload_job.store != NULL)
		hf_store_destroy(s->reload_job.store);
	hf_persist_close(s->persist);
	if (s->durable_fd >= 0)
		close(s->durable_fd);
	for (uint32_t i = 0; i < HF_SHARD_BATCHES_MAX; i++) {
		hf_changes_deinit(&s->batches[i].changes);
		free(s->batches[i].lat);
	}
	free(s->lat);
	hf_move_shard_destroy(s->move);
	free(s->scratch.data);
	free(s->map_frame);
	free(s->batch_out);
	free(s->meta_buf);
	free(s->map_posted);
	if (s->map_fd >= 0)
		close(s->map_fd);
	pthread_mutex_destroy(&s->map_lock);
	hf_watch_destroy(s);
	free(s->dirty_seq);
	free(s->held);
	hf_pool_deinit(&s->pool);
	hf_rate_limit_deinit(&s->rate);
	free(s->ready);
	free(s->touched);
	free(s->conns);
	free(s);
}

/* ---- In-process entry points for tests (tests/fuzz/fuzz_server.c): no io_uring ---- */

int hf_shard_test_open(struct hf_shard *s)
{
	const struct hf_engine_config *cfg = s->cfg;
	HF_ASSERT(cfg->durability == HF_DURABILITY_NONE);
	HF_ASSERT(!s->ring_ready);
	HF_ASSERT(s->store == NULL);
	s->start_mono_ms = hf_clock_mono_ms();
	enum hf_status st =
	    hf_slot_map_init_default(&s->map, cfg->advertise_host, cfg->port, cfg->shards_count);
	HF_ASSERT(st == HF_OK);
	size_t size = hf_slot_map_encode(&s->map, s->map_frame, HF_SLOT_MAP_ENCODED_SIZE_MAX);
	HF_ASSERT(size >= HF_FRAME_HEADER_SIZE);
	s->map_frame_size = (uint32_t)size;
	int owner =
	    hf_slot_map_find_owner(&s->map, cfg->advertise_host, (uint16_t)(cfg->port + s->index));
	HF_ASSERT(owner >= 0);
	s->owner_index = (uint16_t)owner;
	int rc = hf_repl_create(s, &s->repl);
	if (rc != 0)
		return rc;
	return hf_store_create(&cfg->store, &s->store);
}

void hf_shard_test_iterate(struct hf_shard *s, uint64_t now_ms)
{
	HF_ASSERT(!s->ring_ready);
	HF_ASSERT(s->durable == NULL);
	shard_seal_maybe(s);
	HF_ASSERT(hf_shard_in_flight(s) == 0);
	s->iteration++;
	s->c.iterations++;
	s->now_ms = now_ms;
	s->mono_ms = hf_clock_mono_ms();
	s->iter_start_us = hf_clock_mono_us();
	s->parse_us = s->iter_start_us;
	s->touched_count = 0;
	for (uint32_t i = 0; i < s->conns_max; i++)
		s->conns[i].on_touched = 0;
}
