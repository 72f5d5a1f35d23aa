/* The node's control thread (see control.h): registration under a lease, the slot map's read and
 * watch, delivery of new maps to main's callback, and retries with backoff while etcd is away.
 *
 * INVARIANTS
 *  1. Only the control thread touches c->etcd, c->lease, c->watch_rev, c->synced and
 *     c->delivered_epoch; other threads read c->status (atomics) and raise c->stop.
 *  2. deliver is called only with a map that passed hf_cluster_map_check and whose epoch is
 *     strictly above delivered_epoch, so a replayed or older map never reaches the shards.
 *  3. backoff_ms stays within [HF_CONTROL_BACKOFF_MS_MIN, HF_CONTROL_BACKOFF_MS_MAX].
 *  4. Every wait is bounded: etcd calls by HF_CONTROL_ETCD_TIMEOUT_MS, the watch by
 *     HF_CONTROL_WATCH_MS, the backoff by HF_CONTROL_BACKOFF_MS_MAX (and cut short by stop). */
#include "engine/control.h"

#include "base/assert.h"
#include "base/log.h"
#include "engine/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_PATH_SIZE_MAX 1100u

struct hf_control {
	char etcd_urls[HF_ETCD_URLS_MAX * (HF_ETCD_URL_SIZE_MAX + 1)];
	char cluster[HF_CLUSTER_NAME_SIZE_MAX + 1];
	hf_control_deliver_fn deliver;
	void *deliver_arg;
	struct hf_cluster_member self; /* the registration; epoch = delivered_epoch */
	char map_key[HF_CLUSTER_KEY_SIZE_MAX + 1];
	struct hf_etcd *etcd;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock; /* with cond: the backoff wait, cut short by stop */
	pthread_cond_t cond;
	struct hf_control_status status;
	int64_t lease;		   /* 0: not registered */
	uint64_t lease_renewed_ms; /* monotonic */
	int64_t watch_rev;	   /* next revision to watch from */
	int synced;		   /* the map key was read; the watch continues from there */
	uint64_t delivered_epoch;
	uint32_t backoff_ms;
	int outage; /* an outage was logged and its end was not yet */
	struct hf_slot_map map;
	char err[256];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- The node id ---- */

static int id_valid(const char *id)
{
	return hf_cluster_name_check(id, HF_CLUSTER_NODE_ID_SIZE_MAX) == 0;
}

static int id_read(const char *path, char *id_out, size_t cap)
{
	char buf[HF_CLUSTER_NODE_ID_SIZE_MAX + 2];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int saved = errno;
	close(fd);
	if (n < 0)
		return -saved;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!id_valid(buf) || (size_t)n >= cap) {
		hf_log_error("%s does not hold a node id (1..%u bytes of [A-Za-z0-9._-])", path,
			     HF_CLUSTER_NODE_ID_SIZE_MAX);
		return -EINVAL;
	}
	memcpy(id_out, buf, (size_t)n + 1);
	return 0;
}

static int id_create(const char *path, char *id_out, size_t cap)
{
	uint8_t raw[HF_CONTROL_NODE_ID_SIZE / 2];
	HF_ASSERT(cap > HF_CONTROL_NODE_ID_SIZE);
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	char line[HF_CONTROL_NODE_ID_SIZE + 2];
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(line + 2 * i, 3, "%02x", raw[i]);
	line[HF_CONTROL_NODE_ID_SIZE] = '\n';
	char tmp[CONTROL_PATH_SIZE_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (write(fd, line, HF_CONTROL_NODE_ID_SIZE + 1) != HF_CONTROL_NODE_ID_SIZE + 1 ||
	    fsync(fd) != 0)
		rc = -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	line[HF_CONTROL_NODE_ID_SIZE] = '\0';
	memcpy(id_out, line, HF_CONTROL_NODE_ID_SIZE + 1);
	return 0;
}

int hf_control_node_id(const char *data_dir, char *id_out, size_t cap)
{
	char path[CONTROL_PATH_SIZE_MAX];
	if (snprintf(path, sizeof(path), "%s/" HF_CONTROL_NODE_ID_FILE, data_dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	int rc = hf_datadir_mkdir_p(data_dir);
	if (rc != 0) {
		hf_log_error("data directory %s: %s", data_dir, strerror(-rc));
		return rc;
	}
	rc = id_read(path, id_out, cap);
	if (rc == -ENOENT) {
		rc = id_create(path, id_out, cap);
		if (rc == 0)
			hf_log_info("new node id %s written to %s", id_out, path);
	}
	if (rc != 0 && rc != -EINVAL)
		hf_log_error("node id %s: %s", path, strerror(-rc));
	HF_ASSERT(rc != 0 || id_valid(id_out));
	return rc;
}

/* ---- etcd steps (each returns 0 or the etcd client's -errno) ---- */

static int register_node(struct hf_control *c)
{
	HF_ASSERT(c->lease == 0);
	int64_t lease = 0;
	int rc = hf_etcd_lease_grant(c->etcd, HF_CONTROL_LEASE_TTL_S, &lease);
	if (rc != 0)
		return rc;
	c->self.epoch = c->delivered_epoch;
	rc = hf_cluster_node_register(c->etcd, c->cluster, &c->self, lease, c->err, sizeof(c->err));
	if (rc != 0)
		return rc;
	HF_ASSERT(lease != 0);
	c->lease = lease;
	c->lease_renewed_ms = mono_ms();
	hf_log_info("registered in cluster %s as node %s (%s:%u, %u shards), lease %" PRId64,
		    c->cluster, c->self.node_id, c->self.host, (unsigned)c->self.port,
		    c->self.shards_count, lease);
	return 0;
}

static void deliver(struct hf_control *c, const struct hf_etcd_kv *kv)
{
	if (hf_cluster_map_decode(kv->value, kv->value_size, &c->map) != 0) {
		hf_log_error("cluster %s: the map in etcd (revision %" PRId64
			     ") does not decode; keeping the map of epoch %" PRIu64,
			     c->cluster, kv->mod_revision, c->delivered_epoch);
		return;
	}
	if (c->map.epoch <= c->delivered_epoch) {
		hf_log_debug("map epoch %" PRIu64 " is not newer than %" PRIu64 ": skipped",
			     c->map.epoch, c->delivered_epoch);
		return;
	}
	HF_ASSERT(hf_cluster_map_check(&c->map) == 0);
	c->deliver(c->deliver_arg, &c->map);
	c->delivered_epoch = c->map.epoch;
	atomic_store_explicit(&c->status.map_epoch, c->map.epoch, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->status.maps_delivered, 1, memory_order_relaxed);
	/* The registration says which epoch this node serves; a failure is retried by the loop. */
	if (c->lease != 0) {
		c->self.epoch = c->delivered_epoch;
		if (hf_cluster_node_register(c->etcd, c->cluster, &c->self, c->lease, c->err,
					     sizeof(c->err)) != 0)
			c->lease = 0;
	}
}

static int read_map(struct hf_control *c)
{
	struct hf_etcd_kvs kvs;
	int rc = hf_etcd_range(c->etcd, c->map_key, 0, &kvs);
	if (rc != 0)
		return rc;
	HF_ASSERT(kvs.count <= 1); /* one key, no prefix */
	if (kvs.count == 1)
		deliver(c, &kvs.kvs[0]);
	else
		hf_log_debug("cluster %s has no map yet", c->cluster);
	c->watch_rev = kvs.revision + 1;
	c->synced = 1;
	hf_etcd_kvs_free(&kvs);
	return 0;
}

static int renew_if_due(struct hf_control *c)
{
	if (mono_ms() - c->lease_renewed_ms < HF_CONTROL_LEASE_TTL_S * 1000u / 3u)
		return 0;
	int rc = hf_etcd_lease_keepalive(c->etcd, c->lease, NULL);
	if (rc == -ENOENT) {
		hf_log_warn("lease %" PRId64 " expired: registering again", c->lease);
		c->lease = 0;
		return 0;
	}
	if (rc == 0)
		c->lease_renewed_ms = mono_ms();
	return rc;
}

static int watch_once(struct hf_control *c)
{
	struct hf_etcd_events ev;
	int rc = hf_etcd_watch(c->etcd, c->map_key, 0, c->watch_rev, HF_CONTROL_WATCH_MS, &ev);
	if (rc != 0)
		return rc;
	if (ev.compacted) {
		c->synced = 0;
	} else {
		for (uint32_t i = 0; i < ev.count; i++) {
			if (ev.events[i].type == HF_ETCD_EVENT_PUT)
				deliver(c, &ev.events[i].kv);
			else
				hf_log_warn("cluster %s: the map key was deleted; keeping epoch "
					    "%" PRIu64,
					    c->cluster, c->delivered_epoch);
		}
		HF_ASSERT(ev.next_revision >= c->watch_rev);
		c->watch_rev = ev.next_revision;
	}
	hf_etcd_events_free(&ev);
	return 0;
}

static int step(struct hf_control *c)
{
	int rc = 0;
	if (c->lease == 0)
		rc = register_node(c);
	if (rc == 0 && !c->synced)
		rc = read_map(c);
	if (rc == 0)
		rc = renew_if_due(c);
	if (rc == 0 && c->lease != 0)
		rc = watch_once(c);
	return rc;
}

/* ---- The thread ---- */

static void wait_backoff(struct hf_control *c)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)c->backoff_ms * 1000000u;
	until.tv_sec += (time_t)(ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&c->lock);
	while (!atomic_load(&c->stop) &&
	       pthread_cond_timedwait(&c->cond, &c->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&c->lock);
	c->backoff_ms = c->backoff_ms * 2 > HF_CONTROL_BACKOFF_MS_MAX ? HF_CONTROL_BACKOFF_MS_MAX
								      : c->backoff_ms * 2;
	HF_ASSERT(c->backoff_ms >= HF_CONTROL_BACKOFF_MS_MIN);
}

static void on_failure(struct hf_control *c, int rc)
{
	atomic_store_explicit(&c->status.etcd_ok, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->status.etcd_failures, 1, memory_order_relaxed);
	if (!c->outage)
		hf_log_warn("etcd unreachable (%s: %s); serving with the map of epoch %" PRIu64
			    ", retrying every <= %u ms",
			    strerror(-rc), hf_etcd_error(c->etcd), c->delivered_epoch,
			    HF_CONTROL_BACKOFF_MS_MAX);
	else
		hf_log_debug("etcd still unreachable: %s", hf_etcd_error(c->etcd));
	c->outage = 1;
	/* The watch may have missed changes; the lease may have lapsed: check both again. */
	c->synced = 0;
	wait_backoff(c);
}

static void *control_main(void *arg)
{
	struct hf_control *c = arg;
	hf_log_set_thread_tag("control");
	c->backoff_ms = HF_CONTROL_BACKOFF_MS_MIN;
	while (!atomic_load(&c->stop)) {
		int rc = step(c);
		if (atomic_load(&c->stop))
			break;
		if (rc != 0) {
			on_failure(c, rc);
			continue;
		}
		if (c->outage)
			hf_log_info("etcd reachable again at %s", hf_etcd_url(c->etcd));
		c->outage = 0;
		c->backoff_ms = HF_CONTROL_BACKOFF_MS_MIN;
		atomic_store_explicit(&c->status.etcd_ok, 1, memory_order_relaxed);
	}
	if (c->lease != 0) {
		/* Best effort, and no longer cancellable: the registration goes at once. */
		hf_etcd_set_cancel(c->etcd, NULL);
		(void)hf_etcd_lease_revoke(c->etcd, c->lease);
	}
	return NULL;
}

static int copy_config(struct hf_control *c, const struct hf_control_config *cfg)
{
	if (strlen(cfg->etcd_urls) >= sizeof(c->etcd_urls) ||
	    hf_cluster_name_check(cfg->cluster, HF_CLUSTER_NAME_SIZE_MAX) != 0 ||
	    strlen(cfg->host) > HF_HOST_SIZE_MAX || cfg->shards_count == 0)
		return -EINVAL;
	snprintf(c->etcd_urls, sizeof(c->etcd_urls), "%s", cfg->etcd_urls);
	snprintf(c->cluster, sizeof(c->cluster), "%s", cfg->cluster);
	snprintf(c->self.host, sizeof(c->self.host), "%s", cfg->host);
	c->self.port = cfg->port;
	c->self.shards_count = cfg->shards_count;
	c->deliver = cfg->deliver;
	c->deliver_arg = cfg->deliver_arg;
	return hf_cluster_key(c->map_key, sizeof(c->map_key), c->cluster, "map");
}

int hf_control_start(const struct hf_control_config *cfg, struct hf_control **out)
{
	HF_ASSERT(cfg->deliver != NULL);
	HF_ASSERT(out != NULL);
	struct hf_control *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	int rc = copy_config(c, cfg);
	if (rc == 0)
		rc = hf_control_node_id(cfg->data_dir, c->self.node_id, sizeof(c->self.node_id));
	if (rc == 0)
		rc = hf_etcd_create(c->etcd_urls, HF_CONTROL_ETCD_TIMEOUT_MS, &c->etcd, c->err,
				    sizeof(c->err));
	if (rc != 0) {
		hf_log_error("cluster control: %s", c->err[0] != '\0' ? c->err : strerror(-rc));
		free(c);
		return rc;
	}
	hf_etcd_set_cancel(c->etcd, &c->stop);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&c->thread, NULL, control_main, c);
	if (rc != 0) {
		hf_log_error("cluster control thread: %s", strerror(rc));
		hf_etcd_destroy(c->etcd);
		free(c);
		return -rc;
	}
	hf_log_info("cluster control: node %s joins cluster %s via %s", c->self.node_id, c->cluster,
		    c->etcd_urls);
	*out = c;
	return 0;
}

const struct hf_control_status *hf_control_status(const struct hf_control *control)
{
	return &control->status;
}

void hf_control_stats(const struct hf_control_status *status, struct hf_rep_stats *stats)
{
	if (status == NULL)
		return;
	/* A full reply drops the rest: STATS is best effort. */
	(void)hf_stats_add(stats, "cluster_etcd_ok",
			   (uint64_t)atomic_load_explicit(&status->etcd_ok, memory_order_relaxed));
	(void)hf_stats_add(stats, "cluster_map_epoch",
			   atomic_load_explicit(&status->map_epoch, memory_order_relaxed));
	(void)hf_stats_add(stats, "cluster_maps_delivered",
			   atomic_load_explicit(&status->maps_delivered, memory_order_relaxed));
	(void)hf_stats_add(stats, "cluster_etcd_failures",
			   atomic_load_explicit(&status->etcd_failures, memory_order_relaxed));
}

void hf_control_stop(struct hf_control *control)
{
	if (control == NULL)
		return;
	pthread_mutex_lock(&control->lock);
	atomic_store(&control->stop, 1);
	pthread_cond_broadcast(&control->cond);
	pthread_mutex_unlock(&control->lock);
	pthread_join(control->thread, NULL);
	hf_etcd_destroy(control->etcd);
	pthread_mutex_destroy(&control->lock);
	pthread_cond_destroy(&control->cond);
	free(control);
}
