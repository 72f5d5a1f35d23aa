/* The pure half of the metrics endpoint (engine/metrics.h): STATS entries -> Prometheus text
 * exposition format 0.0.4, the /health verdict and the HTTP request router. No I/O except
 * hf_metrics_read_process, which reads /proc/self/statm.
 *
 * INVARIANTS
 *   1. Every family is announced by exactly one `# HELP` and one `# TYPE` line, and all of its
 *      samples follow them contiguously (the format requires it): the tables below keep a
 *      family's rows adjacent, and render walks rows in the outer loop, shards in the inner one.
 *   2. A counter's name ends in _total, a unit is a base unit suffix (_seconds, _bytes).
 *   3. The output never exceeds cap: every write goes through out_printf, which stops at the
 *      first overflow and makes render return 0. */
#include "engine/metrics.h"

#include "base/assert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum kind {
	KIND_COUNTER,
	KIND_GAUGE,
};

/* Scale of a STATS value to the base unit. */
enum scale {
	SCALE_ONE,
	SCALE_MS, /* milliseconds -> seconds */
	SCALE_US, /* microseconds -> seconds */
};

/* One row: a STATS entry rendered as one sample of a family. Rows of a family are adjacent. */
struct row {
	const char *stat;
	const char *family; /* without the holdfast_ prefix */
	enum kind kind;
	enum scale scale;
	const char *label; /* extra label name, or NULL */
	const char *value; /* its value */
	const char *help;
};

/* clang-format off */
static const struct row rows[] = {
	{"uptime_ms", "uptime_seconds", KIND_GAUGE, SCALE_MS, NULL, NULL,
	 "Time since the shard started."},
	{"shards_count", "shards", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Shards of the node, as the shard sees it."},
	{"map_epoch", "slot_map_epoch", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Epoch of the slot map the shard serves."},
	{"conns_open", "connections", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Client connections open."},
	{"conns_max", "connections_max", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Connection cap of the shard (--max-connections)."},
	{"conns_queued_bytes", "queued_reply_bytes", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Reply bytes queued on the shard's connections, held for durability included."},
	{"timer_wheel_entries", "timer_wheel_entries", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Deadlines in the timer wheel: live holds and remembered tombstones."},
	{"conns_accepted", "connections_accepted_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Connections accepted (the metrics endpoint keeps one per shard)."},
	{"conns_rejected", "connections_rejected_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Connections closed at accept because the shard was at its cap."},
	{"conns_closed", "connections_closed_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Connections closed, for any reason."},
	{"conns_closed_idle", "connections_closed_idle_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Connections closed by the idle timeout."},
	{"conns_closed_protocol", "connections_closed_protocol_total", KIND_COUNTER, SCALE_ONE,
	 NULL, NULL, "Connections closed for a protocol violation."},
	{"conns_parked", "connections_parked_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Times a connection stopped being read because its queued replies reached the cap."},
	{"input_overflows", "input_overflows_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Times a connection's input buffer overflowed."},
	{"recv_enobufs", "recv_buffer_exhausted_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Times the receive buffer ring ran dry (the receive is re-armed, nothing lost)."},
	{"frames_in", "frames_received_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Request frames received."},
	{"frames_out", "frames_sent_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Reply frames sent."},
	{"bytes_in", "received_bytes_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Bytes received from clients."},
	{"bytes_out", "sent_bytes_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Bytes sent to clients."},
	{"replies_error", "error_replies_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Replies with a status other than OK, every status."},
	{"replies_moved", "replies_total", KIND_COUNTER, SCALE_ONE, "status", "MOVED",
	 "Replies by status, for the statuses the shard counts apart."},
	{"replies_busy", "replies_total", KIND_COUNTER, SCALE_ONE, "status", "BUSY", NULL},
	{"replies_io_error", "replies_total", KIND_COUNTER, SCALE_ONE, "status", "IO", NULL},
	{"loop_iterations", "loop_iterations_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Event loop iterations."},
	{"commits", "commits_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Group commits (batches sealed)."},
	{"commit_ops", "commit_ops_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Operations in group commits; divided by commits_total, the batch size."},
	{"commit_failures", "commit_failures_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Group commits the disk refused (their ops answered IO)."},
	{"store_reloads", "store_reloads_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Times the store was rebuilt from disk after a failed commit."},
	{"degraded", "degraded", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "1 while the shard's last store reload failed (store ops answer IO)."},
	{"holds_expired_by_tick", "holds_expired_by_tick_total", KIND_COUNTER, SCALE_ONE, NULL,
	 NULL, "Holds expired by the timer wheel."},
	{"persist_commits", "persist_commits_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "RocksDB write batches committed."},
	{"persist_records", "persist_records_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Records written to RocksDB."},
	{"persist_bytes", "persist_written_bytes_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Bytes written to RocksDB."},
	{"persist_errors", "persist_errors_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "RocksDB commits that failed (disk full, I/O error)."},
	{"persist_commit_us_max", "persist_commit_max_seconds", KIND_GAUGE, SCALE_US, NULL, NULL,
	 "Longest RocksDB commit (write + sync) since start."},
	{"store_events", "events", KIND_GAUGE, SCALE_ONE, NULL, NULL, "Events in the store."},
	{"store_seats", "event_seats", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Seats of every event of the shard."},
	{"store_free", "seats", KIND_GAUGE, SCALE_ONE, "state", "free", "Seats by state."},
	{"store_held", "seats", KIND_GAUGE, SCALE_ONE, "state", "held", NULL},
	{"store_booked", "seats", KIND_GAUGE, SCALE_ONE, "state", "booked", NULL},
	{"store_holds", "holds_live", KIND_GAUGE, SCALE_ONE, NULL, NULL, "Live holds."},
	{"store_bookings", "bookings", KIND_GAUGE, SCALE_ONE, NULL, NULL, "Bookings."},
	{"store_tombstones", "tombstones", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Ended holds and cancelled bookings remembered for late replays."},
	{"store_holds_expired", "holds_expired_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Holds that expired (by the timer or found expired on load)."},
	{"store_memory_bytes", "store_reserved_bytes", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Store pools reserved at start plus arena and seat chunks in use: address space, not "
	 "resident memory (see holdfast_process_resident_memory_bytes)."},
	/* Waiting room. */
	{"room_joins", "room_joins_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Buyers who took a place in a waiting room."},
	{"room_admits", "room_admits_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "Buyers admitted from a waiting room."},
	{"room_admissions_expired", "room_admissions_expired_total", KIND_COUNTER, SCALE_ONE, NULL,
	 NULL, "Admissions not used before their token expired."},
	{"room_holds_refused", "room_holds_refused_total", KIND_COUNTER, SCALE_ONE, NULL, NULL,
	 "HOLDs refused NOT_ADMITTED (no valid admission token)."},
	{"room_waiting", "room_waiting", KIND_GAUGE, SCALE_ONE, NULL, NULL,
	 "Buyers waiting in the shard's waiting rooms."},
};
/* clang-format on */

/* Entries consumed by the special families below (not rendered as holdfast_stat). */
static const char *const special_stats[] = {
    "shard_index", "ring_mode", "persist_durability", "persist_commit_us_avg", "batch_ops_avg",
};

/* Enumerations: one 0/1 series per value. Indexes are the STATS value. */
static const char *const ring_modes[] = {"plain", "coop_taskrun", "defer_taskrun"};
static const char *const durabilities[] = {"none", "wal", "fsync"};

struct out {
	char *buf;
	size_t cap;
	size_t len;
	int overflow;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	if (o->overflow)
		return;
	HF_ASSERT(o->len < o->cap);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = 1;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

/* A label value as the format wants it: backslash, quote and newline escaped; other bytes as
 * they are, except control bytes (dropped: they come from a peer). */
static void out_label_value(struct out *o, const char *v)
{
	size_t bound = HF_STAT_NAME_SIZE_MAX + 1;
	size_t plain = strnlen(v, bound);
	for (size_t i = 0; i < plain; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '\\' || ch == '"' || ch < 0x20)
			plain = 0;
	}
	if (plain > 0) {
		/* The usual case: nothing to escape. */
		out_printf(o, "%.*s", (int)plain, v);
		return;
	}
	for (size_t i = 0; v[i] != '\0' && i < bound; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch == '\\' || ch == '"')
			out_printf(o, "\\%c", ch);
		else if (ch == '\n')
			out_printf(o, "\\n");
		else if (ch >= 0x20)
			out_printf(o, "%c", ch);
	}
}

static void out_family(struct out *o, const char *family, const char *type, const char *help)
{
	out_printf(o, "# HELP holdfast_%s %s\n# TYPE holdfast_%s %s\n", family, help, family, type);
}

static void out_value(struct out *o, uint64_t v, enum scale scale)
{
	switch (scale) {
	case SCALE_ONE:
		out_printf(o, "%llu\n", (unsigned long long)v);
		break;
	case SCALE_MS:
		out_printf(o, "%llu.%03llu\n", (unsigned long long)(v / 1000u),
			   (unsigned long long)(v % 1000u));
		break;
	case SCALE_US:
		out_printf(o, "%llu.%06llu\n", (unsigned long long)(v / 1000000u),
			   (unsigned long long)(v % 1000000u));
		break;
	}
}

static const struct hf_stat *stat_find(const struct hf_rep_stats *st, const char *name)
{
	HF_ASSERT(st->stats_count <= HF_STATS_MAX);
	for (uint16_t i = 0; i < st->stats_count; i++)
		if (strcmp(st->stats[i].name, name) == 0)
			return &st->stats[i];
	return NULL;
}

static void render_rows(struct out *o, const struct hf_metrics_shard *shards, uint32_t count)
{
	const char *announced = NULL;
	for (size_t r = 0; r < HF_ARRAY_SIZE(rows); r++) {
		const struct row *row = &rows[r];
		if (announced == NULL || strcmp(announced, row->family) != 0) {
			HF_ASSERT(row->help != NULL);
			out_family(o, row->family, row->kind == KIND_COUNTER ? "counter" : "gauge",
				   row->help);
			announced = row->family;
		}
		for (uint32_t i = 0; i < count; i++) {
			if (!shards[i].up)
				continue;
			const struct hf_stat *st = stat_find(&shards[i].stats, row->stat);
			if (st == NULL)
				continue;
			out_printf(o, "holdfast_%s{shard=\"%u\"", row->family, shards[i].index);
			if (row->label != NULL)
				out_printf(o, ",%s=\"%s\"", row->label, row->value);
			out_printf(o, "} ");
			out_value(o, st->value, row->scale);
		}
	}
}

static void render_ops(struct out *o, const struct hf_metrics_shard *shards, uint32_t count)
{
	out_family(o, "ops_total", "counter",
		   "Requests decoded, by opcode (op=\"unknown\": "
		   "opcodes the server does not know).");
	for (uint32_t i = 0; i < count; i++) {
		if (!shards[i].up)
			continue;
		const struct hf_rep_stats *st = &shards[i].stats;
		for (uint16_t k = 0; k < st->stats_count; k++) {
			if (strncmp(st->stats[k].name, "ops_", 4) != 0)
				continue;
			out_printf(o, "holdfast_ops_total{shard=\"%u\",op=\"", shards[i].index);
			out_label_value(o, st->stats[k].name + 4);
			out_printf(o, "\"} %llu\n", (unsigned long long)st->stats[k].value);
		}
	}
}

static void render_enum(struct out *o, const struct hf_metrics_shard *shards, uint32_t count,
			const char *stat, const char *family, const char *const *names,
			size_t names_count, const char *help)
{
	out_family(o, family, "gauge", help);
	for (uint32_t i = 0; i < count; i++) {
		const struct hf_stat *st = shards[i].up ? stat_find(&shards[i].stats, stat) : NULL;
		if (st == NULL)
			continue;
		for (size_t v = 0; v < names_count; v++)
			out_printf(o, "holdfast_%s{shard=\"%u\",mode=\"%s\"} %d\n", family,
				   shards[i].index, names[v], st->value == v ? 1 : 0);
	}
}

/* Sum of commit times, from the average and the count STATS give (error < 1 µs per commit). */
static void render_commit_time(struct out *o, const struct hf_metrics_shard *shards, uint32_t count)
{
	out_family(o, "persist_commit_seconds_total", "counter",
		   "Time inside RocksDB commits (write + sync), from the average and the count "
		   "(exact to 1 us per commit).");
	for (uint32_t i = 0; i < count; i++) {
		if (!shards[i].up)
			continue;
		const struct hf_stat *avg = stat_find(&shards[i].stats, "persist_commit_us_avg");
		const struct hf_stat *n = stat_find(&shards[i].stats, "persist_commits");
		if (avg == NULL || n == NULL)
			continue;
		out_printf(o, "holdfast_persist_commit_seconds_total{shard=\"%u\"} ",
			   shards[i].index);
		out_value(o, avg->value * n->value, SCALE_US);
	}
}

static int stat_is_known(const char *name)
{
	if (strncmp(name, "ops_", 4) == 0)
		return 1;
	for (size_t r = 0; r < HF_ARRAY_SIZE(rows); r++)
		if (strcmp(rows[r].stat, name) == 0)
			return 1;
	for (size_t r = 0; r < HF_ARRAY_SIZE(special_stats); r++)
		if (strcmp(special_stats[r], name) == 0)
			return 1;
	return 0;
}

static void render_unknown(struct out *o, const struct hf_metrics_shard *shards, uint32_t count)
{
	out_printf(o, "# HELP holdfast_stat A STATS entry without a metric of its own yet.\n"
		      "# TYPE holdfast_stat untyped\n");
	for (uint32_t i = 0; i < count; i++) {
		if (!shards[i].up)
			continue;
		const struct hf_rep_stats *st = &shards[i].stats;
		for (uint16_t k = 0; k < st->stats_count; k++) {
			if (stat_is_known(st->stats[k].name))
				continue;
			out_printf(o, "holdfast_stat{shard=\"%u\",name=\"", shards[i].index);
			out_label_value(o, st->stats[k].name);
			out_printf(o, "\"} %llu\n", (unsigned long long)st->stats[k].value);
		}
	}
}

static void render_shard_meta(struct out *o, const struct hf_metrics_shard *shards, uint32_t count)
{
	out_family(o, "shard_up", "gauge", "1 when the shard answered STATS for this scrape.");
	for (uint32_t i = 0; i < count; i++)
		out_printf(o, "holdfast_shard_up{shard=\"%u\"} %d\n", shards[i].index,
			   shards[i].up ? 1 : 0);
	out_family(o, "shard_stats_seconds", "gauge",
		   "Round trip of this scrape's STATS request to the shard.");
	for (uint32_t i = 0; i < count; i++)
		if (shards[i].up)
			out_printf(o, "holdfast_shard_stats_seconds{shard=\"%u\"} %llu.%06llu\n",
				   shards[i].index,
				   (unsigned long long)(shards[i].took_us / 1000000u),
				   (unsigned long long)(shards[i].took_us % 1000000u));
}

static void render_process(struct out *o, const struct hf_metrics_process *p)
{
	out_family(o, "build_info", "gauge", "Always 1; the labels name the server's version.");
	out_printf(o, "holdfast_build_info{version=\"%s\",protocol=\"%d\"} 1\n", p->version,
		   HF_PROTO_VERSION);
	out_family(o, "process_resident_memory_bytes", "gauge",
		   "Resident memory of holdfastd (RSS, /proc/self/statm).");
	out_printf(o, "holdfast_process_resident_memory_bytes %llu\n",
		   (unsigned long long)p->resident_bytes);
	out_family(o, "process_virtual_memory_bytes", "gauge",
		   "Address space of holdfastd, reserved pools included.");
	out_printf(o, "holdfast_process_virtual_memory_bytes %llu\n",
		   (unsigned long long)p->virtual_bytes);
	out_family(o, "process_cpu_seconds_total", "counter",
		   "CPU time of holdfastd, user + system.");
	out_printf(o, "holdfast_process_cpu_seconds_total ");
	out_value(o, p->cpu_us, SCALE_US);
	out_family(o, "process_start_time_seconds", "gauge", "Start of holdfastd, Unix time.");
	out_printf(o, "holdfast_process_start_time_seconds %llu\n",
		   (unsigned long long)p->start_time_s);
	out_family(o, "metrics_scrapes_total", "counter",
		   "Requests for /metrics served before this.");
	out_printf(o, "holdfast_metrics_scrapes_total %llu\n", (unsigned long long)p->scrapes);
	out_family(o, "metrics_shard_failures_total", "counter",
		   "Shard STATS answers missing (timeout, refused, bad reply) since start, for "
		   "/metrics and /health, this request included.");
	out_printf(o, "holdfast_metrics_shard_failures_total %llu\n",
		   (unsigned long long)p->scrape_errors);
}

static void render_histograms(struct out *o, const struct hf_metrics_histogram *h, uint32_t n)
{
	HF_ASSERT(n <= HF_METRICS_HIST_MAX);
	const char *announced = NULL;
	for (uint32_t i = 0; i < n; i++) {
		HF_ASSERT(h[i].buckets_count <= HF_METRICS_HIST_BUCKETS_MAX);
		if (announced == NULL || strcmp(announced, h[i].family) != 0) {
			out_printf(o, "# HELP holdfast_%s_seconds %s\n", h[i].family, h[i].help);
			out_printf(o, "# TYPE holdfast_%s_seconds histogram\n", h[i].family);
			announced = h[i].family;
		}
		char labels[HF_STAT_NAME_SIZE_MAX + 64];
		if (h[i].label_name != NULL)
			snprintf(labels, sizeof(labels), "shard=\"%u\",%s=\"%s\"", h[i].shard_index,
				 h[i].label_name, h[i].label_value);
		else
			snprintf(labels, sizeof(labels), "shard=\"%u\"", h[i].shard_index);
		for (uint32_t b = 0; b < h[i].buckets_count; b++) {
			HF_ASSERT(b == 0 || h[i].bounds_us[b] > h[i].bounds_us[b - 1]);
			HF_ASSERT(h[i].counts[b] <= h[i].count);
			out_printf(o, "holdfast_%s_seconds_bucket{%s,le=\"%llu.%06llu\"} %llu\n",
				   h[i].family, labels,
				   (unsigned long long)(h[i].bounds_us[b] / 1000000u),
				   (unsigned long long)(h[i].bounds_us[b] % 1000000u),
				   (unsigned long long)h[i].counts[b]);
		}
		out_printf(o, "holdfast_%s_seconds_bucket{%s,le=\"+Inf\"} %llu\n", h[i].family,
			   labels, (unsigned long long)h[i].count);
		out_printf(o, "holdfast_%s_seconds_sum{%s} ", h[i].family, labels);
		out_value(o, h[i].sum_us, SCALE_US);
		out_printf(o, "holdfast_%s_seconds_count{%s} %llu\n", h[i].family, labels,
			   (unsigned long long)h[i].count);
	}
}

size_t hf_metrics_render(const struct hf_metrics_shard *shards, uint32_t shards_count,
			 const struct hf_metrics_process *proc,
			 const struct hf_metrics_histogram *hists, uint32_t hists_count, char *buf,
			 size_t cap)
{
	HF_ASSERT(shards != NULL || shards_count == 0);
	HF_ASSERT(proc != NULL);
	HF_ASSERT(buf != NULL);
	HF_ASSERT(cap > 0);
	struct out o = {.buf = buf, .cap = cap, .len = 0, .overflow = 0};
	buf[0] = '\0';
	render_process(&o, proc);
	render_shard_meta(&o, shards, shards_count);
	render_enum(&o, shards, shards_count, "ring_mode", "ring_mode", ring_modes,
		    HF_ARRAY_SIZE(ring_modes), "io_uring setup the shard got; 1 on its mode.");
	render_enum(&o, shards, shards_count, "persist_durability", "persist_durability",
		    durabilities, HF_ARRAY_SIZE(durabilities),
		    "Durability mode (--durability); 1 on the shard's mode.");
	render_ops(&o, shards, shards_count);
	render_rows(&o, shards, shards_count);
	render_commit_time(&o, shards, shards_count);
	render_histograms(&o, hists, hists_count);
	render_unknown(&o, shards, shards_count);
	if (o.overflow)
		return 0;
	HF_ASSERT(o.len < cap);
	return o.len;
}

int hf_metrics_healthy(const struct hf_metrics_shard *shards, uint32_t shards_count, char *reason,
		       size_t reason_size)
{
	HF_ASSERT(reason != NULL);
	HF_ASSERT(reason_size > 0);
	for (uint32_t i = 0; i < shards_count; i++) {
		if (!shards[i].up) {
			snprintf(reason, reason_size, "shard %u: %s", shards[i].index,
				 shards[i].reason);
			return 0;
		}
		const struct hf_stat *d = stat_find(&shards[i].stats, "degraded");
		if (d != NULL && d->value != 0) {
			snprintf(reason, reason_size,
				 "shard %u: degraded (the store could not be reloaded from disk; "
				 "store ops answer IO)",
				 shards[i].index);
			return 0;
		}
	}
	snprintf(reason, reason_size, "ok: %u shards serving", shards_count);
	return 1;
}

int hf_metrics_read_process(struct hf_metrics_process *out)
{
	HF_ASSERT(out != NULL);
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -errno;
	unsigned long long size_pages = 0;
	unsigned long long resident_pages = 0;
	int n = fscanf(f, "%llu %llu", &size_pages, &resident_pages);
	fclose(f);
	if (n != 2)
		return -EIO;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t page_size = page > 0 ? (uint64_t)page : 4096u;
	out->virtual_bytes = size_pages * page_size;
	out->resident_bytes = resident_pages * page_size;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		out->cpu_us =
		    (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
		    (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
	HF_ASSERT(out->resident_bytes <= out->virtual_bytes);
	return 0;
}

/* Request head: "METHOD SP TARGET SP HTTP/1.x CRLF ...". Only the request line matters here. */
int hf_metrics_http_route(const char *head, size_t head_size, const char **path_out)
{
	HF_ASSERT(head != NULL);
	HF_ASSERT(path_out != NULL);
	*path_out = NULL;
	const char *eol = memchr(head, '\n', head_size);
	if (eol == NULL)
		return 400;
	size_t line = (size_t)(eol - head);
	const char *sp1 = memchr(head, ' ', line);
	if (sp1 == NULL)
		return 400;
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
	if (sp2 == NULL || (size_t)(eol - sp2) < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return 400;
	size_t method_size = (size_t)(sp1 - head);
	int is_get = method_size == 3 && memcmp(head, "GET", 3) == 0;
	int is_head = method_size == 4 && memcmp(head, "HEAD", 4) == 0;
	/* The path ends at the query string, if any. */
	size_t path_size = (size_t)(sp2 - target);
	const char *q = memchr(target, '?', path_size);
	if (q != NULL)
		path_size = (size_t)(q - target);
	static const char *const routes[] = {"/metrics", "/health"};
	for (size_t r = 0; r < HF_ARRAY_SIZE(routes); r++) {
		if (path_size == strlen(routes[r]) && memcmp(target, routes[r], path_size) == 0) {
			*path_out = routes[r];
			return is_get || is_head ? 200 : 405;
		}
	}
	return 404;
}
