/* A shard thread: setup, the event loop, the group commit and the rollback of a failed one.
 *
 * One loop iteration is one group commit:
 *   reap completions (accepts, recv data -> frames -> ops, send progress)
 *   -> process connections left with pending frames (fairness bound per connection)
 *   -> expire due holds (hf_store_tick)
 *   -> commit the batch's changes once (hf_persist_commit)
 *   -> only then hand each connection's replies to the kernel, one send per connection
 *   -> sleep in io_uring_submit_and_wait_timeout until a completion or the next hold deadline.
 * A batch also ends early when its change list or reply list is full, or before a BACKUP.
 *
 * When a commit fails, every store op of the batch is answered HF_ERR_IO and the store is rebuilt
 * from RocksDB (hf_persist_load), which holds exactly the durable state, so memory and disk agree
 * again. While that reload fails, store ops answer HF_ERR_IO and it is retried every second.
 *
 * INVARIANTS
 *  1. Between iterations the change list is empty and no connection is on the batch list: every
 *     iteration ends with hf_shard_commit before any reply is handed to the kernel.
 *  2. s->store is NULL only after a failed commit whose reload failed too; then degraded is 1.
 *  3. Every buffer of the buffer ring is either in the kernel or being handled by the CQE that
 * named it, which gives it back before the next CQE (conn.c).
 *  4. The loop never sleeps past the store's next deadline, nor past HF_SHARD_WAIT_MS_MAX, and does
 *     not sleep at all while a connection holds frames it could process. */
#include "engine/shard.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"
#include "engine/datadir.h"
#include "engine/shard_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Submit attempts hf_shard_sqe makes for a free SQE before it gives up. */
#define SHARD_SQE_RETRIES 64
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
	s->batch_conns = calloc(s->conns_max, sizeof(*s->batch_conns));
	s->batch_replies = calloc(HF_SHARD_BATCH_REPLIES_MAX, sizeof(*s->batch_replies));
	s->map_frame = malloc(HF_SLOT_MAP_ENCODED_SIZE_MAX);
	if (s->conns == NULL || s->touched == NULL || s->ready == NULL || s->batch_conns == NULL ||
	    s->batch_replies == NULL || s->map_frame == NULL ||
	    hf_changes_init(&s->changes, HF_SHARD_CHANGES_MAX) != 0) {
		hf_shard_destroy(s);
		return -ENOMEM;
	}
	/* Every slot starts FREE, chained in index order. */
	for (uint32_t i = 0; i < s->conns_max; i++) {
		s->conns[i].fd = -1;
		s->conns[i].free_next = i + 1 < s->conns_max ? i + 2 : 0;
	}
	s->free_head = 1;
	*out = s;
	return 0;
}

struct io_uring_sqe *hf_shard_sqe(struct hf_shard *s)
{
	for (int i = 0; i < SHARD_SQE_RETRIES; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
		if (sqe != NULL)
			return sqe;
		int rc = io_uring_submit(&s->ring);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
			hf_log_error("io_uring submit: %s", strerror(-rc));
	}
	HF_PANIC("the submission queue stays full after %d submits", SHARD_SQE_RETRIES);
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

int hf_shard_open(struct hf_shard *s)
{
	const struct hf_engine_config *cfg = s->cfg;
	s->start_mono_ms = hf_clock_mono_ms();
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

	if (cfg->test_fail_commits > 0) {
		if (cfg->durability == HF_DURABILITY_NONE) {
			hf_log_warn("test hook HOLDFAST_FAIL_COMMITS ignored with durability none");
		} else {
			hf_log_warn("test hook: the next %u commits fail", cfg->test_fail_commits);
			hf_persist_fail_next_commits(s->persist, cfg->test_fail_commits);
		}
	}
	return shard_listen(s);
}

/* ---- Group commit ---- */

static void shard_reload_store(struct hf_shard *s)
{
	if (s->store != NULL) {
		hf_store_destroy(s->store);
		s->store = NULL;
	}
	if (shard_load_store(s) != 0) {
		s->store_retry_ms = hf_clock_mono_ms() + HF_SHARD_RETRY_MS;
		hf_log_error("store: reload failed; store ops answer IO until it succeeds (retry "
			     "in %u ms)",
			     HF_SHARD_RETRY_MS);
		return;
	}
	s->c.store_reloads++;
}

void hf_shard_commit(struct hf_shard *s)
{
	if (s->changes.count == 0) {
		hf_conn_batch_reset(s);
		return;
	}
	HF_ASSERT(s->store != NULL);
	int rc = hf_persist_commit(s->persist, &s->changes);
	s->c.commits++;
	if (rc == 0) {
		s->c.commit_ops += s->batch_ops;
		s->degraded = 0;
	} else {
		s->c.commit_failures++;
		s->degraded = 1;
		hf_log_error("commit of %u changes failed (%s): answering the batch's %u ops with "
			     "IO and reloading the store from disk",
			     s->changes.count, strerror(-rc), s->batch_replies_count);
		hf_conn_batch_fail(s);
		shard_reload_store(s);
	}
	hf_changes_reset(&s->changes);
	hf_conn_batch_reset(s);
	HF_ASSERT(s->changes.count == 0 && s->batch_conns_count == 0);
}

/* ---- The loop ---- */

static void shard_arm_accept(struct hf_shard *s)
{
	HF_ASSERT(!s->accept_armed && s->listen_fd >= 0);
	struct io_uring_sqe *sqe = hf_shard_sqe(s);
	io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = hf_ud_make(HF_UD_ACCEPT, 0, 0);
	s->accept_armed = 1;
}

static void shard_arm_wake(struct hf_shard *s)
{
	HF_ASSERT(!s->wake_armed);
	struct io_uring_sqe *sqe = hf_shard_sqe(s);
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
		struct io_uring_sqe *sqe = hf_shard_sqe(s);
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

static void shard_idle_scan(struct hf_shard *s)
{
	if (s->cfg->idle_timeout_s == 0 || s->mono_ms < s->idle_scan_ms)
		return;
	s->idle_scan_ms = s->mono_ms + HF_SHARD_IDLE_SCAN_MS;
	uint64_t idle_ms = (uint64_t)s->cfg->idle_timeout_s * 1000u;
	for (uint32_t i = 0; i < s->conns_max; i++) {
		struct hf_conn *c = &s->conns[i];
		if (c->state != HF_CONN_OPEN || s->mono_ms - c->active_ms < idle_ms)
			continue;
		s->c.conns_closed_idle++;
		hf_conn_close(s, c, "idle timeout");
		hf_conn_touch(s, c);
	}
}

/* While stopping: once every reply is out (or the drain time is over), close every connection.
 * Returns 1 when the loop may end. */
static int shard_drain(struct hf_shard *s)
{
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

	shard_reap(s);
	shard_process_ready(s);

	int tick_saturated = 0;
	/* The wheel has work only once its earliest deadline has come. */
	if (s->store != NULL && hf_store_next_deadline_ms(s->store) <= s->now_ms) {
		if (!hf_changes_has_room(&s->changes))
			hf_shard_commit(s);
		if (s->store != NULL) {
			uint32_t expired = hf_store_tick(s->store, s->now_ms,
							 HF_SHARD_TICK_EXPIRIES_MAX, &s->changes);
			s->c.holds_expired_tick += expired;
			tick_saturated = expired >= HF_SHARD_TICK_EXPIRIES_MAX;
			if (expired > 0)
				hf_log_debug("expired %u holds", expired);
		}
	}
	/* INVARIANTS 1: commit, then release the replies. */
	hf_shard_commit(s);
	shard_settle(s);

	if (s->store == NULL && s->mono_ms >= s->store_retry_ms)
		shard_reload_store(s);
	if (!s->stopping && !s->accept_armed && s->listen_fd >= 0 &&
	    s->mono_ms >= s->accept_retry_ms)
		shard_arm_accept(s);
	shard_idle_scan(s);
	if (s->stopping && shard_drain(s) && s->touched_count == 0)
		return 1;

	uint64_t wait_ms = shard_wait_ms(s, tick_saturated);
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
	HF_ASSERT(s->ring_ready && s->listen_fd >= 0);
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
			hf_conn_free_buffers(c);
		}
	}
	hf_buf_ring_free(&s->bufs);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->store != NULL)
		hf_store_destroy(s->store);
	hf_persist_close(s->persist);
	hf_changes_deinit(&s->changes);
	free(s->scratch.data);
	free(s->map_frame);
	free(s->batch_replies);
	free(s->batch_conns);
	free(s->ready);
	free(s->touched);
	free(s->conns);
	free(s);
}
