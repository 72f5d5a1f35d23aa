/* holdfastd's configuration: the command-line flags, their defaults and their limits.
 *
 * main.c parses argv once into a struct hf_engine_config, which is then read-only and shared by
 * every shard thread (each takes what it needs at start). Parsing is pure (no I/O), so it is tested
 * directly. */
#ifndef HF_ENGINE_CONFIG_H
#define HF_ENGINE_CONFIG_H

#include "base/log.h"
#include "proto/proto.h"
#include "shards/persist.h"
#include "shards/store.h"

#include <limits.h>

struct hf_auth;
#include <stddef.h>
#include <stdint.h>

#define HF_ENGINE_PORT_DEFAULT	      7070u
#define HF_ENGINE_SHARDS_MAX	      HF_SLOT_OWNERS_MAX
#define HF_ENGINE_CONNECTIONS_DEFAULT 1024u
#define HF_ENGINE_CONNECTIONS_MAX     (1u << 20)
#define HF_ENGINE_CONN_BUFFER_DEFAULT (1024u * 1024u)
#define HF_ENGINE_CONN_BUFFER_MIN     (4u * 1024u)
#define HF_ENGINE_CONN_BUFFER_MAX     (1024u * 1024u * 1024u)
#define HF_ENGINE_IDLE_TIMEOUT_MAX_S  (7u * 24u * 3600u)
/* WATCH (engine/watch.h): watchers per shard, and the change bytes one watcher may have queued
 * (not yet handed to the kernel) before its queue is dropped for a GAP. */
#define HF_ENGINE_WATCHERS_DEFAULT    1024u
#define HF_ENGINE_WATCHERS_MAX	      (1u << 20)
#define HF_ENGINE_WATCH_QUEUE_DEFAULT (256u * 1024u)
#define HF_ENGINE_WATCH_QUEUE_MIN     (4u * 1024u)
#define HF_ENGINE_WATCH_QUEUE_MAX     (64u * 1024u * 1024u)
/* Idle connections are closed after this long by default: an application server's pool reconnects,
 * and a connection that never sends anything must not pin a slot for ever. */
#define HF_ENGINE_IDLE_TIMEOUT_DEFAULT_S 600u
/* A frame begun (or a connection opened) must be complete within this long by default. */
#define HF_ENGINE_FRAME_TIMEOUT_DEFAULT_S 5u
#define HF_ENGINE_FRAME_TIMEOUT_MAX_S	  3600u
#define HF_ENGINE_BATCH_CHANGES_MAX	  4096u /* records per batch (engine/shard_int.h) */
#define HF_ENGINE_DIR_SIZE_MAX		  1024u /* bytes of a directory flag, without the NUL */
#define HF_ENGINE_ETCD_SIZE_MAX		  2047u /* bytes of the --etcd list, without the NUL */
#define HF_ENGINE_CLUSTER_SIZE_MAX	  64u	/* bytes of --cluster (HF_CLUSTER_NAME_SIZE_MAX) */
#define HF_ENGINE_CLUSTER_DEFAULT	  "default"

/* A shard answers new writes BUSY at once while the work it already has waits longer than this
 * (--shed-after-ms): far above a healthy sync (0.1-5 ms) and a loaded loop pass (also in sanitizer
 * builds), below what a buyer notices. 0 turns shedding off. */
#define HF_ENGINE_SHED_AFTER_MS_DEFAULT 500u
#define HF_ENGINE_SHED_AFTER_MS_MAX	60000u

struct hf_engine_config {
	char host[HF_HOST_SIZE_MAX + 1]; /* numeric IPv4 address to listen on */
	uint16_t port;			 /* shard i listens on port + i */
	/* The address the slot map gives clients for this node's shards (--advertise); the listen
	 * address unless set. Never the wildcard 0.0.0.0: clients cannot connect to that. */
	char advertise_host[HF_HOST_SIZE_MAX + 1];
	uint32_t shards_count; /* 1 .. HF_ENGINE_SHARDS_MAX */
	char data_dir[HF_ENGINE_DIR_SIZE_MAX + 1];
	char restore_from[HF_ENGINE_DIR_SIZE_MAX + 1]; /* empty: no restore */
	int force;				       /* --force: restore over existing data */
	enum hf_durability durability;
	uint32_t connections_max; /* per shard */
	uint32_t
	    conn_buffer_size_max; /* queued reply bytes per connection before it stops reading */
	uint32_t idle_timeout_s;  /* 0: connections never time out */
	uint32_t watchers_max;	  /* WATCHes per shard, 0 .. HF_ENGINE_WATCHERS_MAX (0: none) */
	uint32_t watch_queue_size_max; /* bytes of changes queued per watcher before a GAP */
	/* A partial frame (or a new connection's first byte) older than this closes the
	 * connection: slowloris and silent connects do not pin a connection slot. */
	uint32_t frame_timeout_s;
	/* --shed-after-ms: writes are answered BUSY while the shard's queue delay (the oldest
	 * batch at the disk, or the loop's own backlog) is past this; 0: never. */
	uint32_t shed_after_ms;
	/* --auth-file FILE: tokens and roles (engine/auth.h); empty: every connection is admin.
	 * main loads it into auth before the shards start. */
	char auth_file[HF_ENGINE_DIR_SIZE_MAX + 1];
	const struct hf_auth *auth;
	/* --backup-root DIR: BACKUP writes only under it; empty: BACKUP is refused (FORBIDDEN).
	 * main resolves it to backup_root_real (canonical, created when missing). */
	char backup_root[HF_ENGINE_DIR_SIZE_MAX + 1];
	char backup_root_real[PATH_MAX];
	/* --user-rate OPS_PER_S[:BURST]: HOLDs per second per (event, user), BURST at once
	 * (engine/ratelimit.h); 0: no limit. */
	uint32_t user_rate_per_s;
	uint32_t user_rate_burst;
	uint32_t
	    hold_lifetime_max_s; /* lifetime for CREATE_EVENT that says 0; 0: the store's own */
	struct hf_store_config store; /* per shard */
	enum hf_log_level log_level;
	int pin; /* pin shard i to CPU i % CPUs */
	/* --prefault: each shard makes its store's pools resident at start (hf_store_prefault). */
	int prefault;
	/* --metrics-listen HOST:PORT: the HTTP metrics endpoint (engine/metrics.h); port 0 binds
	 * any free port (logged). metrics_enabled 0: no endpoint. */
	int metrics_enabled;
	char metrics_host[HF_HOST_SIZE_MAX + 1];
	uint16_t metrics_port;
	/* --etcd URL[,URL...] and --cluster NAME: join a cluster (engine/control.h). etcd_urls is
	 * empty for a single node with its own local map; cluster is then empty too. */
	char etcd_urls[HF_ENGINE_ETCD_SIZE_MAX + 1];
	char cluster[HF_ENGINE_CLUSTER_SIZE_MAX + 1];
	/* Replication (engine/repl.h). --replica-of HOST:PORT: every shard i is a replica of the
	 * shard at HOST:PORT+i (replica_of_port 0: a primary). --replication sync|async (repl_mode,
	 * enum hf_repl_mode). --repl-timeout MS: a replica silent that long leaves the in-sync set.
	 */
	char replica_of_host[HF_HOST_SIZE_MAX + 1];
	uint16_t replica_of_port;
	uint8_t repl_mode;
	uint32_t repl_timeout_ms;
	/* --replica-token-file FILE: the token a replica presents (AUTH) to a primary with
	 * --auth-file (an admin token: REPL_SUBSCRIBE is admin); empty: none. */
	char replica_token_file[HF_ENGINE_DIR_SIZE_MAX + 1];
	/* Test hooks, from the environment, not flags: HOLDFAST_FAIL_COMMITS=N makes N commits of
	 * every shard fail as if the disk had refused them, after HOLDFAST_FAIL_COMMITS_AFTER=M
	 * succeeded (default 0); HOLDFAST_SYNC_DELAY_MS=D makes every commit D ms slower. */
	uint32_t test_fail_commits;
	uint32_t test_fail_commits_after;
	uint32_t test_sync_delay_ms;
	/* HOLDFAST_BATCH_CHANGES_MAX=N: a batch holds N records (HF_OP_CHANGES_MAX .. the default),
	 * so tests reach the pipeline's bounds with few requests. 0: the default. */
	uint32_t test_batch_changes_max;
};

/* Result of hf_engine_config_parse. */
enum hf_config_parse {
	HF_CONFIG_OK = 0,
	HF_CONFIG_HELP = 1,    /* --help: print hf_engine_config_usage and exit 0 */
	HF_CONFIG_BAD = 2,     /* err holds a one-line message; exit 2 */
	HF_CONFIG_VERSION = 3, /* --version: print the version line and exit 0 */
};

/* Parses argv (argv[0] is the program) into *out, starting from the defaults; cpus_count is the
 * default shard count. Accepts "--flag value" and "--flag=value". On HF_CONFIG_BAD, err (err_size
 * bytes) holds a one-line reason. */
enum hf_config_parse hf_engine_config_parse(int argc, char **argv, uint32_t cpus_count,
					    struct hf_engine_config *out, char *err,
					    size_t err_size);

/* The --help text (static). */
const char *hf_engine_config_usage(void);

#endif
