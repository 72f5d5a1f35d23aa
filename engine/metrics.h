/* holdfastd's metrics endpoint (--metrics-listen HOST:PORT): one thread, not a shard thread,
 * serving HTTP/1.1 `GET /metrics` (Prometheus text exposition format 0.0.4) and `GET /health`.
 *
 * The metrics thread knows nothing of a shard's internals: for every request it sends the
 * protocol's own STATS request to each local shard's port over loopback (on one connection per
 * shard, kept between scrapes, so a shard at its connection cap still answers), all shards at once,
 * waits at most HF_METRICS_SHARD_TIMEOUT_MS for the answers, and renders what came back. A shard
 * answers STATS between two of its batches like any request, so a scrape costs each shard one small
 * request and never takes a lock a shard holds. A shard that does not answer in time is reported
 * (holdfast_shard_up 0, /health 503) and the others are still rendered.
 *
 * Three layers, each usable alone (the tests use the first two without a network):
 *   hf_metrics_render, hf_metrics_healthy  pure: STATS entries of every shard -> exposition text,
 *                                          and the /health verdict (engine/metrics_render.c).
 *   hf_metrics_http_route                  pure: a request head -> status code and route.
 *   hf_metrics_start/stop                  the thread: listening socket, bounded connections,
 *                                          the STATS fan-out (engine/metrics.c).
 *
 * Names (docs/operations.md, "Metrics and alerts", lists them all): prefix holdfast_, base units
 * (_seconds, _bytes), _total on counters, # HELP and # TYPE once per family, label shard="<index>",
 * opcodes and statuses as labels (holdfast_ops_total{op="hold"}), enumerations as one 0/1 series
 * per value (holdfast_ring_mode{mode="defer_taskrun"} 1). A STATS entry the table does not know is
 * still exported, untyped, as holdfast_stat{shard,name}, so a new engine counter is visible at
 * once.
 *
 * Latency histograms (not yet recorded by the engine). The renderer takes them in this shape, one
 * struct hf_metrics_histogram per (family, shard, label): `bounds_us` strictly increasing upper
 * bounds in microseconds (at most HF_METRICS_HIST_BUCKETS_MAX, the +Inf bucket implied),
 * `counts[i]` the observations <= bounds_us[i] (cumulative, non-decreasing), `count` every
 * observation (>= the last bucket) and `sum_us` their sum. They are rendered as a Prometheus
 * histogram `holdfast_<family>_seconds` (`_bucket{le=...}`, `_sum`, `_count`). The engine will
 * carry them in STATS-like data (per opcode: time from frame parsed to reply sent, time waiting
 * for durability; per shard: sync time); whatever the transport, the collector fills these
 * structs and hands them to hf_metrics_render. Until then hists_count is 0. One constraint for
 * that transport: a STATS reply holds at most HF_STATS_MAX (256) entries and already carries
 * about 64, so 13 opcodes x ~20 buckets need their own request (or a paged STATS). */
#ifndef HF_ENGINE_METRICS_H
#define HF_ENGINE_METRICS_H

#include "base/assert.h"
#include "engine/config.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

/* Bounds (each with its reason). */
#define HF_METRICS_CONNS_MAX	    16u	  /* HTTP connections at once; more are closed at accept */
#define HF_METRICS_REQUEST_SIZE_MAX 8192u /* bytes of a request head; Prometheus sends ~300 */
#define HF_METRICS_REQUEST_MS	    5000u /* a connection's whole life: read, render, write */
#define HF_METRICS_SHARD_TIMEOUT_MS 1000u /* one STATS round trip to every shard, in parallel */
/* The largest body: about 90 series of at most 160 bytes per shard, for every shard, plus the
 * process series. 4 MiB covers 256 shards with room to spare; allocated once at start. */
#define HF_METRICS_BODY_SIZE_MAX    (4u * 1024u * 1024u)
#define HF_METRICS_HIST_BUCKETS_MAX 32u	 /* buckets of one histogram, +Inf not counted */
#define HF_METRICS_HIST_MAX	    512u /* histograms one scrape renders (16 ops x 32 shards) */
#define HF_METRICS_REASON_SIZE	    96u	 /* bytes of a shard's failure reason */

HF_STATIC_ASSERT(HF_METRICS_SHARD_TIMEOUT_MS < HF_METRICS_REQUEST_MS,
		 "a scrape waits for the shards within the request's own time");

/* One shard's answer, as the collector got it. */
struct hf_metrics_shard {
	uint32_t index;			     /* shard index (the shard label) */
	int up;				     /* 1: STATS answered in time */
	char reason[HF_METRICS_REASON_SIZE]; /* up == 0: why (no answer, refused, ...) */
	uint64_t took_us;		     /* STATS round trip seen by the collector */
	struct hf_rep_stats stats;	     /* up == 1: the entries, as received */
};

/* Process-wide figures, read by the metrics thread itself (not per shard). */
struct hf_metrics_process {
	uint64_t resident_bytes; /* RSS, /proc/self/statm field 2 x page size */
	uint64_t virtual_bytes;	 /* address space, /proc/self/statm field 1 x page size */
	uint64_t cpu_us;	 /* user + system CPU of the process */
	uint64_t start_time_s;	 /* wall-clock start, Unix seconds */
	uint32_t shards_count;	 /* shards configured */
	uint64_t scrapes;	 /* /metrics requests served before this one */
	uint64_t scrape_errors;	 /* shard answers missing since start, this one included */
	const char *version;	 /* the server's version string */
};

/* A latency histogram (see the file comment for the shape). */
struct hf_metrics_histogram {
	const char *family;	/* e.g. "op_latency": rendered holdfast_<family>_seconds */
	const char *help;	/* # HELP text */
	const char *label_name; /* e.g. "op", or NULL for none */
	char label_value[HF_STAT_NAME_SIZE_MAX + 1];
	uint32_t shard_index;
	uint32_t buckets_count; /* 0 .. HF_METRICS_HIST_BUCKETS_MAX */
	uint64_t bounds_us[HF_METRICS_HIST_BUCKETS_MAX];
	uint64_t counts[HF_METRICS_HIST_BUCKETS_MAX];
	uint64_t count;
	uint64_t sum_us;
};

/* Reads RSS and address space from /proc/self/statm and CPU from getrusage into *out (other
 * fields untouched). Returns 0 or -errno. Any thread. */
int hf_metrics_read_process(struct hf_metrics_process *out);

/* Renders the exposition text of shards[0 .. shards_count) and the process into buf (cap bytes,
 * NUL-terminated). Returns the text's length, or 0 when it does not fit in cap (nothing useful
 * in buf then). Pure; any thread. */
size_t hf_metrics_render(const struct hf_metrics_shard *shards, uint32_t shards_count,
			 const struct hf_metrics_process *proc,
			 const struct hf_metrics_histogram *hists, uint32_t hists_count, char *buf,
			 size_t cap);

/* What /health says of the collected shards: 1 when every shard is up and not degraded, else 0
 * with a one-line reason in reason (reason_size bytes). Pure. */
int hf_metrics_healthy(const struct hf_metrics_shard *shards, uint32_t shards_count, char *reason,
		       size_t reason_size);

/* HTTP side of one request, pure: `head` is the request head (request line and headers, up to
 * and including the blank line, head_size bytes). Returns the status code (200, 400, 404, 405,
 * 503, ...) and points *path_out at a static string naming the route ("/metrics", "/health") or
 * NULL for any other path. */
int hf_metrics_http_route(const char *head, size_t head_size, const char **path_out);

struct hf_metrics;

/* Binds cfg->metrics_host:cfg->metrics_port (port 0: any; the bound port is logged as
 * "metrics: serving on HOST:PORT") and starts the metrics thread. Shards are reached at
 * cfg->host (127.0.0.1 when it is 0.0.0.0), ports cfg->port + i. cfg must outlive the thread.
 * version is a static string. Main thread. Returns 0 or -errno (logged). */
int hf_metrics_start(const struct hf_engine_config *cfg, const char *version,
		     struct hf_metrics **out);

/* The port the endpoint listens on (useful after binding port 0). */
uint16_t hf_metrics_port(const struct hf_metrics *m);

/* Stops the thread (bounded by HF_METRICS_REQUEST_MS), closes everything and frees m. NULL is a
 * no-op. Main thread. */
void hf_metrics_stop(struct hf_metrics *m);

#endif
