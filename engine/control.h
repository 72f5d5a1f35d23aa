/* The node's control thread (DESIGN.md 7): the only thread of holdfastd that talks to etcd. Started
 * by main.c when holdfastd runs with --etcd; one per node, never a shard thread.
 *
 * It keeps the node registered (nodes/<node_id> under a lease it renews), reads the cluster's slot
 * map key and watches it, and hands every map newer than the last one it handed over to the
 * shards through the deliver callback given by main.c (which queues it per shard and rings each
 * shard's eventfd). When etcd is unreachable it retries with a doubling backoff (bounded by
 * HF_CONTROL_BACKOFF_MS_MAX), logs the outage once and the recovery once, and the node keeps
 * serving with the map it has. Without --etcd main.c never starts it and nothing changes.
 *
 * The node id is stable: created once (random, 16 hex digits) in <data_dir>/node-id and read back
 * on every start, so a restarted node is the same member.
 *
 * STATES (of the control loop, control.c):
 *   UNREGISTERED --lease granted + node key put--> REGISTERED --map read--> WATCHING
 *   any state --etcd call failed--> BACKOFF --delay elapsed--> UNREGISTERED (lease kept if alive)
 *   WATCHING --lease gone (-ENOENT)--> UNREGISTERED; WATCHING --compacted--> REGISTERED
 *   any state --hf_control_stop--> (thread exits, lease revoked best effort) */
#ifndef HF_ENGINE_CONTROL_H
#define HF_ENGINE_CONTROL_H

#include "cluster/state.h"
#include "proto/proto.h"

#include <stdatomic.h>
#include <stdint.h>

#define HF_CONTROL_LEASE_TTL_S	   5u	 /* the registration vanishes this long after a crash */
#define HF_CONTROL_WATCH_MS	   1000u /* one watch call; also bounds how fast stop is seen */
#define HF_CONTROL_ETCD_TIMEOUT_MS 2000u /* per unary etcd call */
#define HF_CONTROL_BACKOFF_MS_MIN  100u
#define HF_CONTROL_BACKOFF_MS_MAX  5000u
#define HF_CONTROL_NODE_ID_FILE	   "node-id"
#define HF_CONTROL_NODE_ID_SIZE	   16u /* hex digits of a generated id */

HF_STATIC_ASSERT(HF_CONTROL_NODE_ID_SIZE <= HF_CLUSTER_NODE_ID_SIZE_MAX, "an id fits");
HF_STATIC_ASSERT(HF_CONTROL_WATCH_MS < HF_CONTROL_LEASE_TTL_S * 1000u / 3u,
		 "the loop renews the lease at least three times per TTL");

/* Called on the control thread with each new map (valid, epoch strictly above the previous
 * delivered one). The map is borrowed for the call: copy what you keep. */
typedef void (*hf_control_deliver_fn)(void *arg, const struct hf_slot_map *map);

struct hf_control_config {
	const char *etcd_urls; /* --etcd */
	const char *cluster;   /* --cluster */
	const char *data_dir;  /* where the node id lives */
	const char *host;      /* advertised address of the node */
	uint16_t port;	       /* base port */
	uint32_t shards_count;
	hf_control_deliver_fn deliver;
	void *deliver_arg;
};

/* Counters another thread may read (relaxed atomics), e.g. for STATS. */
struct hf_control_status {
	atomic_int etcd_ok;		 /* 1 while the last etcd call succeeded */
	atomic_uint_least64_t map_epoch; /* epoch of the last delivered map; 0: none yet */
	atomic_uint_least64_t maps_delivered;
	atomic_uint_least64_t etcd_failures;
};

struct hf_control;

/* Reads the node id from <data_dir>/node-id, creating the directory and the file (written to a
 * temporary name, synced, renamed) when missing. Returns 0, or -errno (logged); -EINVAL for a file
 * that does not hold a valid id. */
int hf_control_node_id(const char *data_dir, char *id_out, size_t cap);

/* Loads the node id, creates the etcd client and starts the thread. Returns 0 and *out, or -errno
 * (logged). Called by main once the shards serve. */
int hf_control_start(const struct hf_control_config *cfg, struct hf_control **out);

/* The thread's counters (valid until hf_control_stop). */
const struct hf_control_status *hf_control_status(const struct hf_control *control);

/* Appends the cluster counters to a STATS reply (for ops.c; status may be NULL on a node without
 * --etcd, which adds nothing): cluster_etcd_ok (1 while etcd answers), cluster_map_epoch (the last
 * map delivered), cluster_maps_delivered, cluster_etcd_failures. Any thread. */
void hf_control_stats(const struct hf_control_status *status, struct hf_rep_stats *stats);

/* Stops the thread (within about HF_CONTROL_WATCH_MS plus one etcd timeout), revokes the lease
 * best effort, frees everything. NULL is a no-op. */
void hf_control_stop(struct hf_control *control);

#endif
