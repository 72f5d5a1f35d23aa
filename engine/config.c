/* Command-line parsing of holdfastd (see config.h). Every number is checked against its range; an
 * unknown flag, a missing value or a value out of range is one line in err and HF_CONFIG_BAD. */
#include "engine/config.h"

#include "base/assert.h"
#include "engine/ratelimit.h"
#include "engine/repl.h"
#include "cluster/etcd.h"
#include "cluster/state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: holdfastd [flags]\n"
    "  --listen HOST:PORT         numeric IPv4 address and base port (default 127.0.0.1:7070);\n"
    "                             shard i listens on PORT+i\n"
    "  --shards N                 shard threads (default: number of CPUs; at most 256)\n"
    "  --data-dir DIR             data directory, one RocksDB per shard in DIR/shard-<i>\n"
    "                             (default ./data)\n"
    "  --durability MODE          fsync (default) | wal | none\n"
    "  --restore-from DIR         before opening, copy the checkpoints DIR/shard-<i> into the "
    "data\n"
    "                             directory (refused when it holds data, unless --force)\n"
    "  --force                    let --restore-from replace existing data\n"
    "  --max-connections N        connections per shard (default 1024); past it a new connection\n"
    "                             is accepted and closed at once\n"
    "  --max-conn-buffer BYTES    queued reply bytes per connection before the shard stops "
    "reading\n"
    "                             it (default 1048576)\n"
    "  --idle-timeout SECONDS     close connections idle that long (default 600; 0: never)\n"
    "  --watchers-max N           WATCHing connections per shard (default 1024; 0: none); past\n"
    "                             it WATCH answers BUSY\n"
    "  --watch-queue-max BYTES    changes queued for one watcher before they are dropped for a\n"
    "                             GAP frame (default 262144, 4096..67108864)\n"
    "  --frame-timeout SECONDS    close a connection whose frame (or first byte) is not complete\n"
    "                             after that long (default 5)\n"
    "  --shed-after-ms MS         answer new writes BUSY at once while the oldest batch at the\n"
    "                             disk, or the loop's backlog, is older than MS (default 500;\n"
    "                             0: never)\n"
    "  --auth-file FILE           tokens, one 'client TOKEN' or 'admin TOKEN' per line (mode\n"
    "                             0600): every connection must AUTH first; admin ops need admin\n"
    "  --backup-root DIR          BACKUP writes only under DIR (created if missing); without it\n"
    "                             BACKUP is refused\n"
    "  --user-rate N[:BURST]      HOLDs per second per user and event (BURST at once, default N);\n"
    "                             more are answered RATE_LIMITED (default: no limit)\n"
    "  --hold-lifetime-max SECONDS  hold lifetime for events created with 0 (default 0: the\n"
    "                             store's default, 1800 s)\n"
    "  --events-max N             events per shard (default from the store)\n"
    "  --seats-max N              seats over all events of a shard (default from the store)\n"
    "  --records-max N            holds + bookings + tombstones per shard (default from the "
    "store)\n"
    "  --log-level LEVEL          error | warn | info (default) | debug\n"
    "  --advertise ADDRESS        numeric IPv4 address clients reach this node at, put in the\n"
    "                             slot map (default: the --listen address; required when\n"
    "                             listening on 0.0.0.0)\n"
    "";

static const char usage_more[] =
    "  --etcd URL[,URL...]        join a cluster whose state lives in this etcd (http://HOST:PORT\n"
    "                             endpoints); without it the node serves its own local map\n"
    "  --cluster NAME             the cluster's name in etcd (default \"default\"; needs --etcd)\n"
    "  --replica-of HOST:PORT     shard i follows the primary shard at HOST:PORT+i\n"
    "  --replication sync|async   sync (default): writes wait for in-sync replicas\n"
    "  --repl-timeout MS          a silent replica leaves the in-sync set (default 1000)\n"
    "  --replica-token-file FILE  a replica's admin token for its primary's --auth-file\n"
    "  --no-pin                   do not pin shard threads to CPUs\n"
    "  --prefault                 make the record pool and the record and per-user tables\n"
    "                             resident at start (about 208 bytes per --records-max per shard)\n"
    "                             instead of page by page on first touch under load\n"
    "  --metrics-listen HOST:PORT serve GET /metrics (Prometheus text format) and GET /health\n"
    "                             over HTTP on this numeric IPv4 address (port 0: any free port)\n"
    "  --version                  print the version and the protocol version\n"
    "  --help                     print this text\n";

/* C guarantees string literals of 4095 bytes only: the text is three of them. */
static const char usage_hooks[] =
    "Test hooks (environment variables; durability fsync or wal only):\n"
    "  HOLDFAST_FAIL_COMMITS=N        N commits of every shard fail as if the disk had refused "
    "them\n"
    "  HOLDFAST_FAIL_COMMITS_AFTER=M  ... after the first M non-empty commits succeeded "
    "(default 0)\n"
    "  HOLDFAST_SYNC_DELAY_MS=D       every commit of every shard takes at least D ms longer\n"
    "  HOLDFAST_BATCH_CHANGES_MAX=N   a batch holds N records (8..4096; default 4096)\n"
    "  HOLDFAST_REPL_EPOCH=E          the epoch a primary stamps on its stream\n";

const char *hf_engine_config_usage(void)
{
	/* Joined on first use (main thread, before any other thread starts). */
	static char joined[sizeof(usage) + sizeof(usage_more) + sizeof(usage_hooks) - 2u];
	if (joined[0] == '\0') {
		size_t at = 0;
		memcpy(joined, usage, sizeof(usage) - 1u);
		at += sizeof(usage) - 1u;
		memcpy(joined + at, usage_more, sizeof(usage_more) - 1u);
		at += sizeof(usage_more) - 1u;
		memcpy(joined + at, usage_hooks, sizeof(usage_hooks));
	}
	return joined;
}

static enum hf_config_parse bad(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum hf_config_parse bad(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return HF_CONFIG_BAD;
}

/* Parses a decimal u64 in [min, max]. Returns 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses "IPV4:PORT" with PORT in [port_min, 65535] into host_out (HF_HOST_SIZE_MAX + 1 bytes)
 * and *port_out. Returns 0 or -EINVAL (outputs untouched then). */
static int parse_host_port(const char *s, uint64_t port_min, char *host_out, uint16_t *port_out)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -EINVAL;
	size_t host_len = (size_t)(colon - s);
	if (host_len > HF_HOST_SIZE_MAX)
		return -EINVAL;
	char host[HF_HOST_SIZE_MAX + 1];
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	struct in_addr addr;
	if (inet_pton(AF_INET, host, &addr) != 1)
		return -EINVAL;
	uint64_t port;
	if (parse_u64(colon + 1, port_min, UINT16_MAX, &port) != 0)
		return -EINVAL;
	memcpy(host_out, host, host_len + 1);
	*port_out = (uint16_t)port;
	return 0;
}

static int parse_listen(const char *s, struct hf_engine_config *cfg)
{
	return parse_host_port(s, 1, cfg->host, &cfg->port);
}

static int copy_dir(char *dst, const char *src)
{
	size_t len = strlen(src);
	if (len == 0 || len > HF_ENGINE_DIR_SIZE_MAX)
		return -EINVAL;
	memcpy(dst, src, len + 1);
	return 0;
}

/* --etcd and --cluster. Returns 0, or -EINVAL with err set. */
static int parse_cluster_flag(const char *name, const char *value, struct hf_engine_config *cfg,
			      char *err, size_t err_size)
{
	char why[256];
	size_t len = strlen(value);
	if (strcmp(name, "--cluster") == 0) {
		HF_STATIC_ASSERT(HF_ENGINE_CLUSTER_SIZE_MAX == HF_CLUSTER_NAME_SIZE_MAX,
				 "--cluster holds any cluster name");
		if (hf_cluster_name_check(value, HF_CLUSTER_NAME_SIZE_MAX) != 0) {
			bad(err, err_size, "--cluster: '%s' is not 1..%u bytes of [A-Za-z0-9._-]",
			    value, HF_CLUSTER_NAME_SIZE_MAX);
			return -EINVAL;
		}
		memcpy(cfg->cluster, value, len + 1);
		return 0;
	}
	if (len > HF_ENGINE_ETCD_SIZE_MAX) {
		bad(err, err_size, "--etcd: longer than %u bytes", HF_ENGINE_ETCD_SIZE_MAX);
		return -EINVAL;
	}
	if (hf_etcd_urls_check(value, why, sizeof(why)) != 0) {
		bad(err, err_size, "--etcd: %s", why);
		return -EINVAL;
	}
	memcpy(cfg->etcd_urls, value, len + 1);
	return 0;
}

/* --replica-of, --replication and --repl-timeout. Returns 0, or -EINVAL with err set. */
static int parse_repl_flag(const char *name, const char *value, struct hf_engine_config *cfg,
			   char *err, size_t err_size)
{
	uint64_t n = 0;
	enum hf_repl_mode mode;
	if (strcmp(name, "--replica-of") == 0) {
		if (parse_host_port(value, 1, cfg->replica_of_host, &cfg->replica_of_port) != 0) {
			bad(err, err_size,
			    "--replica-of: '%s' is not IPV4_ADDRESS:PORT (e.g. 127.0.0.1:7070)",
			    value);
			return -EINVAL;
		}
	} else if (strcmp(name, "--replica-token-file") == 0) {
		if (copy_dir(cfg->replica_token_file, value) != 0) {
			bad(err, err_size, "--replica-token-file: empty or longer than %u bytes",
			    HF_ENGINE_DIR_SIZE_MAX);
			return -EINVAL;
		}
	} else if (strcmp(name, "--replication") == 0) {
		if (hf_repl_mode_parse(value, &mode) != 0) {
			bad(err, err_size, "--replication: '%s' is not sync or async", value);
			return -EINVAL;
		}
		cfg->repl_mode = (uint8_t)mode;
	} else {
		HF_ASSERT(strcmp(name, "--repl-timeout") == 0);
		if (parse_u64(value, 1, HF_REPL_TIMEOUT_MS_MAX, &n) != 0) {
			bad(err, err_size, "--repl-timeout: '%s' is not in 1..%u ms", value,
			    HF_REPL_TIMEOUT_MS_MAX);
			return -EINVAL;
		}
		cfg->repl_timeout_ms = (uint32_t)n;
	}
	return 0;
}

static void set_defaults(struct hf_engine_config *cfg, uint32_t cpus_count)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
	cfg->port = HF_ENGINE_PORT_DEFAULT;
	cfg->shards_count = cpus_count == 0 ? 1 : cpus_count;
	if (cfg->shards_count > HF_ENGINE_SHARDS_MAX)
		cfg->shards_count = HF_ENGINE_SHARDS_MAX;
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
	cfg->durability = HF_DURABILITY_FSYNC;
	cfg->connections_max = HF_ENGINE_CONNECTIONS_DEFAULT;
	cfg->conn_buffer_size_max = HF_ENGINE_CONN_BUFFER_DEFAULT;
	cfg->idle_timeout_s = HF_ENGINE_IDLE_TIMEOUT_DEFAULT_S;
	cfg->watchers_max = HF_ENGINE_WATCHERS_DEFAULT;
	cfg->watch_queue_size_max = HF_ENGINE_WATCH_QUEUE_DEFAULT;
	cfg->frame_timeout_s = HF_ENGINE_FRAME_TIMEOUT_DEFAULT_S;
	cfg->shed_after_ms = HF_ENGINE_SHED_AFTER_MS_DEFAULT;
	hf_store_config_default(&cfg->store);
	cfg->log_level = HF_LOG_INFO;
	cfg->pin = 1;
	cfg->repl_mode = HF_REPL_MODE_SYNC;
	cfg->repl_timeout_ms = HF_REPL_TIMEOUT_MS_DEFAULT;
}

static int parse_user_rate(const char *value, struct hf_engine_config *out)
{
	char rate[32];
	const char *colon = strchr(value, ':');
	size_t len = colon != NULL ? (size_t)(colon - value) : strlen(value);
	if (len == 0 || len >= sizeof(rate))
		return -EINVAL;
	memcpy(rate, value, len);
	rate[len] = '\0';
	uint64_t n = 0;
	uint64_t burst = 0;
	if (parse_u64(rate, 1, HF_RATE_OPS_MAX, &n) != 0)
		return -EINVAL;
	if (colon != NULL && parse_u64(colon + 1, 1, HF_RATE_OPS_MAX, &burst) != 0)
		return -EINVAL;
	out->user_rate_per_s = (uint32_t)n;
	out->user_rate_burst = colon != NULL ? (uint32_t)burst : (uint32_t)n;
	return 0;
}

enum hf_config_parse hf_engine_config_parse(int argc, char **argv, uint32_t cpus_count,
					    struct hf_engine_config *out, char *err,
					    size_t err_size)
{
	HF_ASSERT(argc >= 1 && err != NULL && err_size > 0);
	set_defaults(out, cpus_count);
	err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0)
			return bad(err, err_size, "unexpected argument '%s' (see --help)", arg);
		/* Split "--name=value"; otherwise the value is the next argument. */
		char name[64];
		const char *value = NULL;
		const char *eq = strchr(arg, '=');
		size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		if (name_len >= sizeof(name))
			return bad(err, err_size, "unknown flag '%s' (see --help)", arg);
		memcpy(name, arg, name_len);
		name[name_len] = '\0';
		if (eq != NULL)
			value = eq + 1;

		/* Flags without a value. */
		if (strcmp(name, "--help") == 0 || strcmp(name, "--force") == 0 ||
		    strcmp(name, "--no-pin") == 0 || strcmp(name, "--version") == 0 ||
		    strcmp(name, "--prefault") == 0) {
			if (value != NULL)
				return bad(err, err_size, "%s takes no value", name);
			if (strcmp(name, "--help") == 0)
				return HF_CONFIG_HELP;
			if (strcmp(name, "--version") == 0)
				return HF_CONFIG_VERSION;
			if (strcmp(name, "--force") == 0)
				out->force = 1;
			else if (strcmp(name, "--prefault") == 0)
				out->prefault = 1;
			else
				out->pin = 0;
			continue;
		}

		static const char *const valued[] = {
		    "--listen",
		    "--shards",
		    "--data-dir",
		    "--restore-from",
		    "--durability",
		    "--max-connections",
		    "--max-conn-buffer",
		    "--idle-timeout",
		    "--hold-lifetime-max",
		    "--events-max",
		    "--seats-max",
		    "--records-max",
		    "--log-level",
		    "--advertise",
		    "--metrics-listen",
		    "--etcd",
		    "--cluster",
		    "--frame-timeout",
		    "--shed-after-ms",
		    "--auth-file",
		    "--user-rate",
		    "--backup-root",
		    "--watchers-max",
		    "--watch-queue-max",
		    "--replica-of",
		    "--replication",
		    "--repl-timeout",
		    "--replica-token-file",
		};
		int known = 0;
		for (size_t k = 0; k < HF_ARRAY_SIZE(valued) && !known; k++)
			known = strcmp(name, valued[k]) == 0;
		if (!known)
			return bad(err, err_size, "unknown flag '%s' (see --help)", name);
		if (value == NULL) {
			if (i + 1 >= argc)
				return bad(err, err_size, "%s needs a value (see --help)", name);
			value = argv[++i];
		}

		uint64_t n = 0;
		if (strcmp(name, "--listen") == 0) {
			if (parse_listen(value, out) != 0)
				return bad(
				    err, err_size,
				    "--listen: '%s' is not IPV4_ADDRESS:PORT (e.g. 127.0.0.1:7070)",
				    value);
		} else if (strcmp(name, "--shards") == 0) {
			if (parse_u64(value, 1, HF_ENGINE_SHARDS_MAX, &n) != 0)
				return bad(err, err_size, "--shards: '%s' is not in 1..%u", value,
					   HF_ENGINE_SHARDS_MAX);
			out->shards_count = (uint32_t)n;
		} else if (strcmp(name, "--data-dir") == 0) {
			if (copy_dir(out->data_dir, value) != 0)
				return bad(err, err_size,
					   "--data-dir: empty or longer than %u bytes",
					   HF_ENGINE_DIR_SIZE_MAX);
		} else if (strcmp(name, "--restore-from") == 0) {
			if (copy_dir(out->restore_from, value) != 0)
				return bad(err, err_size,
					   "--restore-from: empty or longer than %u bytes",
					   HF_ENGINE_DIR_SIZE_MAX);
		} else if (strcmp(name, "--durability") == 0) {
			if (hf_durability_parse(value, &out->durability) != 0)
				return bad(err, err_size,
					   "--durability: '%s' is not fsync, wal or none", value);
		} else if (strcmp(name, "--max-connections") == 0) {
			if (parse_u64(value, 1, HF_ENGINE_CONNECTIONS_MAX, &n) != 0)
				return bad(err, err_size, "--max-connections: '%s' is not in 1..%u",
					   value, HF_ENGINE_CONNECTIONS_MAX);
			out->connections_max = (uint32_t)n;
		} else if (strcmp(name, "--max-conn-buffer") == 0) {
			if (parse_u64(value, HF_ENGINE_CONN_BUFFER_MIN, HF_ENGINE_CONN_BUFFER_MAX,
				      &n) != 0)
				return bad(err, err_size,
					   "--max-conn-buffer: '%s' is not in %u..%u", value,
					   HF_ENGINE_CONN_BUFFER_MIN, HF_ENGINE_CONN_BUFFER_MAX);
			out->conn_buffer_size_max = (uint32_t)n;
		} else if (strcmp(name, "--idle-timeout") == 0) {
			if (parse_u64(value, 0, HF_ENGINE_IDLE_TIMEOUT_MAX_S, &n) != 0)
				return bad(err, err_size, "--idle-timeout: '%s' is not in 0..%u",
					   value, HF_ENGINE_IDLE_TIMEOUT_MAX_S);
			out->idle_timeout_s = (uint32_t)n;
		} else if (strcmp(name, "--watchers-max") == 0) {
			if (parse_u64(value, 0, HF_ENGINE_WATCHERS_MAX, &n) != 0)
				return bad(err, err_size, "--watchers-max: '%s' is not in 0..%u",
					   value, HF_ENGINE_WATCHERS_MAX);
			out->watchers_max = (uint32_t)n;
		} else if (strcmp(name, "--watch-queue-max") == 0) {
			if (parse_u64(value, HF_ENGINE_WATCH_QUEUE_MIN, HF_ENGINE_WATCH_QUEUE_MAX,
				      &n) != 0)
				return bad(err, err_size,
					   "--watch-queue-max: '%s' is not in %u..%u", value,
					   HF_ENGINE_WATCH_QUEUE_MIN, HF_ENGINE_WATCH_QUEUE_MAX);
			out->watch_queue_size_max = (uint32_t)n;
		} else if (strcmp(name, "--frame-timeout") == 0) {
			if (parse_u64(value, 1, HF_ENGINE_FRAME_TIMEOUT_MAX_S, &n) != 0)
				return bad(err, err_size, "--frame-timeout: '%s' is not in 1..%u",
					   value, HF_ENGINE_FRAME_TIMEOUT_MAX_S);
			out->frame_timeout_s = (uint32_t)n;
		} else if (strcmp(name, "--shed-after-ms") == 0) {
			if (parse_u64(value, 0, HF_ENGINE_SHED_AFTER_MS_MAX, &n) != 0)
				return bad(err, err_size, "--shed-after-ms: '%s' is not in 0..%u",
					   value, HF_ENGINE_SHED_AFTER_MS_MAX);
			out->shed_after_ms = (uint32_t)n;
		} else if (strcmp(name, "--user-rate") == 0) {
			if (parse_user_rate(value, out) != 0)
				return bad(
				    err, err_size,
				    "--user-rate: '%s' is not OPS_PER_S[:BURST] with both in "
				    "1..%u",
				    value, HF_RATE_OPS_MAX);
		} else if (strcmp(name, "--auth-file") == 0) {
			if (copy_dir(out->auth_file, value) != 0)
				return bad(err, err_size,
					   "--auth-file: empty or longer than %u bytes",
					   HF_ENGINE_DIR_SIZE_MAX);
		} else if (strcmp(name, "--backup-root") == 0) {
			if (copy_dir(out->backup_root, value) != 0)
				return bad(err, err_size,
					   "--backup-root: empty or longer than %u bytes",
					   HF_ENGINE_DIR_SIZE_MAX);
		} else if (strcmp(name, "--hold-lifetime-max") == 0) {
			if (parse_u64(value, 0, HF_HOLD_LIFETIME_MAX_S, &n) != 0)
				return bad(err, err_size,
					   "--hold-lifetime-max: '%s' is not in 0..%u", value,
					   HF_HOLD_LIFETIME_MAX_S);
			out->hold_lifetime_max_s = (uint32_t)n;
		} else if (strcmp(name, "--events-max") == 0) {
			if (parse_u64(value, 1, UINT32_MAX, &n) != 0)
				return bad(err, err_size, "--events-max: '%s' is not in 1..%u",
					   value, UINT32_MAX);
			out->store.events_max = (uint32_t)n;
		} else if (strcmp(name, "--seats-max") == 0) {
			if (parse_u64(value, 1, UINT64_MAX / 2, &n) != 0)
				return bad(err, err_size,
					   "--seats-max: '%s' is not a positive count", value);
			out->store.seats_max = n;
		} else if (strcmp(name, "--records-max") == 0) {
			if (parse_u64(value, 1, UINT32_MAX, &n) != 0)
				return bad(err, err_size, "--records-max: '%s' is not in 1..%u",
					   value, UINT32_MAX);
			out->store.records_max = (uint32_t)n;
		} else if (strcmp(name, "--advertise") == 0) {
			struct in_addr addr;
			size_t len = strlen(value);
			if (len == 0 || len > HF_HOST_SIZE_MAX ||
			    inet_pton(AF_INET, value, &addr) != 1 ||
			    addr.s_addr == htonl(INADDR_ANY))
				return bad(
				    err, err_size,
				    "--advertise: '%s' is not a numeric IPv4 address clients "
				    "can connect to (e.g. 10.0.0.5)",
				    value);
			memcpy(out->advertise_host, value, len + 1);
		} else if (strcmp(name, "--metrics-listen") == 0) {
			if (parse_host_port(value, 0, out->metrics_host, &out->metrics_port) != 0)
				return bad(err, err_size,
					   "--metrics-listen: '%s' is not IPV4_ADDRESS:PORT (e.g. "
					   "127.0.0.1:9470)",
					   value);
			out->metrics_enabled = 1;
		} else if (strcmp(name, "--etcd") == 0 || strcmp(name, "--cluster") == 0) {
			if (parse_cluster_flag(name, value, out, err, err_size) != 0)
				return HF_CONFIG_BAD;
		} else if (strcmp(name, "--replica-of") == 0 ||
			   strcmp(name, "--replication") == 0 ||
			   strcmp(name, "--repl-timeout") == 0 ||
			   strcmp(name, "--replica-token-file") == 0) {
			if (parse_repl_flag(name, value, out, err, err_size) != 0)
				return HF_CONFIG_BAD;
		} else if (strcmp(name, "--log-level") == 0) {
			if (hf_log_parse_level(value, &out->log_level) != 0)
				return bad(err, err_size,
					   "--log-level: '%s' is not error, warn, info or debug",
					   value);
		} else {
			HF_PANIC("flag %s is listed but not parsed", name);
		}
	}

	if (out->advertise_host[0] == '\0') {
		if (strcmp(out->host, "0.0.0.0") == 0)
			return bad(err, err_size,
				   "--listen 0.0.0.0 needs --advertise ADDRESS: the slot map must "
				   "name an address clients can connect to");
		memcpy(out->advertise_host, out->host, sizeof(out->advertise_host));
	}
	if ((uint32_t)out->port + out->shards_count - 1u > UINT16_MAX)
		return bad(err, err_size, "--listen port %u + %u shards passes port 65535",
			   (unsigned)out->port, out->shards_count);
	if (out->metrics_enabled && out->metrics_port >= out->port &&
	    (uint32_t)out->metrics_port < (uint32_t)out->port + out->shards_count &&
	    (strcmp(out->metrics_host, out->host) == 0 || strcmp(out->host, "0.0.0.0") == 0 ||
	     strcmp(out->metrics_host, "0.0.0.0") == 0))
		return bad(err, err_size, "--metrics-listen port %u is a shard's port (%u..%u)",
			   (unsigned)out->metrics_port, (unsigned)out->port,
			   (unsigned)(out->port + out->shards_count - 1));
	if (out->cluster[0] != '\0' && out->etcd_urls[0] == '\0')
		return bad(err, err_size, "--cluster needs --etcd URL");
	if (out->etcd_urls[0] != '\0' && out->cluster[0] == '\0')
		snprintf(out->cluster, sizeof(out->cluster), "%s", HF_ENGINE_CLUSTER_DEFAULT);
	if (out->replica_token_file[0] != '\0' && out->replica_of_port == 0)
		return bad(err, err_size, "--replica-token-file only applies to --replica-of");
	if (out->replica_of_port != 0 && out->etcd_urls[0] != '\0')
		return bad(err, err_size,
			   "--replica-of with --etcd: not yet (replicas of a cluster are placed by "
			   "etcd; --replica-of is the static form)");
	if (out->replica_of_port != 0 &&
	    (uint32_t)out->replica_of_port + out->shards_count - 1u > UINT16_MAX)
		return bad(err, err_size, "--replica-of port %u + %u shards passes port 65535",
			   (unsigned)out->replica_of_port, out->shards_count);
	if (out->force && out->restore_from[0] == '\0')
		return bad(err, err_size, "--force only applies to --restore-from");
	if (out->restore_from[0] != '\0' && out->durability == HF_DURABILITY_NONE)
		return bad(err, err_size, "--restore-from needs durability fsync or wal");
	return HF_CONFIG_OK;
}
