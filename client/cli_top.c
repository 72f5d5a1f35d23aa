/* `holdfast top` and the per-node totals of `holdfast stats` (see cli_top.h).
 *
 * top keeps two STATS samples per owner (the previous frame and this one) and shows rates over
 * the interval: ops/s by opcode, error replies/s, the average commit (sync) time of the commits
 * in the interval, and the gauges as they are (seats free/held/booked, connections). Totals per
 * node come first, then a line per shard. Keys are read from the terminal in non-canonical mode
 * (restored on every exit path); `q` quits.
 *
 * INVARIANTS
 *   1. cur[o] and prev[o] are valid exactly when cur_ok[o] / prev_ok[o]; rates are shown only
 *      when both are (a shard that just came back shows gauges, no rates).
 *   2. The terminal is in the mode it was given whenever hf_cli_top returns. */
#include "client/cli_top.h"

#include "base/assert.h"
#include "base/clock.h"
#include "client/holdfast.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define TOP_ITERATIONS_MAX 1000000000u
#define TOP_OPS_SHOWN	   4u /* hold, confirm, release, avail; the rest is "other" */

static const char *const non_additive[] = {
    "shard_index",
    "shards_count",
    "map_epoch",
    "uptime_ms",
    "ring_mode",
    "persist_durability",
    "batch_ops_avg",
    "persist_commit_us_max",
    "persist_commit_us_avg",
};

int hf_cli_stat_is_additive(const char *name)
{
	HF_ASSERT(name != NULL);
	for (size_t i = 0; i < HF_ARRAY_SIZE(non_additive); i++)
		if (strcmp(name, non_additive[i]) == 0)
			return 0;
	return 1;
}

static int stat_get(const struct hf_rep_stats *st, const char *name, uint64_t *out)
{
	HF_ASSERT(st->stats_count <= HF_STATS_MAX);
	for (uint16_t i = 0; i < st->stats_count; i++) {
		if (strcmp(st->stats[i].name, name) == 0) {
			*out = st->stats[i].value;
			return 1;
		}
	}
	return 0;
}

static uint64_t stat_or0(const struct hf_rep_stats *st, const char *name)
{
	uint64_t v = 0;
	(void)stat_get(st, name, &v);
	return v;
}

/* An owner's base port: its port minus the shard index it reports, or its own port. */
static uint32_t owner_base_port(const struct hf_slot_map *map, const struct hf_rep_stats *st,
				uint16_t o)
{
	uint64_t index = 0;
	if (st != NULL && stat_get(st, "shard_index", &index) && index <= map->owners[o].port)
		return map->owners[o].port - (uint32_t)index;
	return map->owners[o].port;
}

uint16_t hf_cli_nodes(const struct hf_slot_map *map, const struct hf_rep_stats *const *stats,
		      uint16_t *node_of)
{
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	uint16_t nodes = 0;
	for (uint16_t o = 0; o < map->owners_count; o++) {
		uint32_t base = owner_base_port(map, stats[o], o);
		node_of[o] = nodes;
		for (uint16_t p = 0; p < o && stats[o] != NULL; p++) {
			if (stats[p] != NULL && owner_base_port(map, stats[p], p) == base &&
			    strcmp(map->owners[p].host, map->owners[o].host) == 0) {
				node_of[o] = node_of[p];
				break;
			}
		}
		if (node_of[o] == nodes)
			nodes++;
	}
	HF_ASSERT(nodes <= map->owners_count);
	return nodes;
}

static void print_node_totals(FILE *out, const struct hf_slot_map *map,
			      const struct hf_rep_stats *const *stats, const uint16_t *node_of,
			      uint16_t node)
{
	uint16_t first = UINT16_MAX;
	uint32_t shards = 0;
	uint32_t answered = 0;
	for (uint16_t o = 0; o < map->owners_count; o++) {
		if (node_of[o] != node)
			continue;
		first = first == UINT16_MAX ? o : first;
		shards++;
		answered += stats[o] != NULL;
	}
	HF_ASSERT(first != UINT16_MAX);
	fprintf(out, "node %s:%u: %u of %u shards answered\n", map->owners[first].host,
		owner_base_port(map, stats[first], first), answered, shards);
	if (stats[first] == NULL)
		return;
	/* The names of the first shard, summed over the node's shards that answered. */
	const struct hf_rep_stats *ref = stats[first];
	for (uint16_t i = 0; i < ref->stats_count; i++) {
		const char *name = ref->stats[i].name;
		if (!hf_cli_stat_is_additive(name))
			continue;
		uint64_t sum = 0;
		for (uint16_t o = 0; o < map->owners_count; o++)
			if (node_of[o] == node && stats[o] != NULL)
				sum += stat_or0(stats[o], name);
		fprintf(out, "  %-32s %" PRIu64 "\n", name, sum);
	}
}

void hf_cli_stats_print_totals(FILE *out, const struct hf_slot_map *map,
			       const struct hf_rep_stats *const *stats)
{
	uint16_t node_of[HF_SLOT_OWNERS_MAX];
	uint16_t nodes = hf_cli_nodes(map, stats, node_of);
	for (uint16_t n = 0; n < nodes; n++) {
		print_node_totals(out, map, stats, node_of, n);
		fputc('\n', out);
	}
}

/* ---- top ---- */

struct top {
	struct hf_client *client;
	const struct hf_slot_map *map;
	uint32_t interval_ms;
	uint32_t iterations; /* 0: until q */
	int tty_out;	     /* redraw in place; otherwise one frame after the other */
	uint64_t prev_ms;
	uint64_t cur_ms;
	struct hf_client_reply *rep;
	struct hf_rep_stats *prev; /* HF_SLOT_OWNERS_MAX each */
	struct hf_rep_stats *cur;
	uint8_t prev_ok[HF_SLOT_OWNERS_MAX];
	uint8_t cur_ok[HF_SLOT_OWNERS_MAX];
	/* The shard index each owner last reported (-1: never), so that a shard that stops
	 * answering stays in its node; ghost[o] carries it to hf_cli_nodes. */
	int64_t index_seen[HF_SLOT_OWNERS_MAX];
	struct hf_rep_stats *ghost; /* HF_SLOT_OWNERS_MAX */
	char err[HF_SLOT_OWNERS_MAX][32];
};

/* One row's figures: rates over the interval and gauges now. */
struct row {
	int rates; /* the rates are known */
	double ops_per_s[TOP_OPS_SHOWN + 1];
	double errors_per_s;
	uint64_t commits;	/* in the interval */
	uint64_t commit_us_sum; /* in the interval */
	uint64_t free, held, booked, conns;
	uint64_t hold_p99_us; /* the worst shard's HOLD p99 since it started (lat_hold_p99_us) */
};

static const char *const op_stats[TOP_OPS_SHOWN] = {"ops_hold", "ops_confirm", "ops_release",
						    "ops_avail"};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void row_add_owner(struct row *r, const struct top *t, uint16_t o, double seconds)
{
	const struct hf_rep_stats *c = &t->cur[o];
	r->free += stat_or0(c, "store_free");
	r->held += stat_or0(c, "store_held");
	r->booked += stat_or0(c, "store_booked");
	r->conns += stat_or0(c, "conns_open");
	uint64_t p99 = stat_or0(c, "lat_hold_p99_us");
	if (p99 > r->hold_p99_us)
		r->hold_p99_us = p99;
	const struct hf_rep_stats *p = &t->prev[o];
	/* No rates across a restart: the counters started again from 0. */
	if (!t->prev_ok[o] || seconds <= 0 || stat_or0(c, "uptime_ms") < stat_or0(p, "uptime_ms")) {
		r->rates = 0;
		return;
	}
	uint64_t all_now = 0;
	uint64_t all_before = 0;
	for (uint16_t i = 0; i < c->stats_count; i++)
		if (strncmp(c->stats[i].name, "ops_", 4) == 0)
			all_now += c->stats[i].value;
	for (uint16_t i = 0; i < p->stats_count; i++)
		if (strncmp(p->stats[i].name, "ops_", 4) == 0)
			all_before += p->stats[i].value;
	uint64_t shown = 0;
	for (uint32_t k = 0; k < TOP_OPS_SHOWN; k++) {
		uint64_t d = stat_or0(c, op_stats[k]) - stat_or0(p, op_stats[k]);
		r->ops_per_s[k] += (double)d / seconds;
		shown += d;
	}
	r->ops_per_s[TOP_OPS_SHOWN] += (double)(all_now - all_before - shown) / seconds;
	r->errors_per_s +=
	    (double)(stat_or0(c, "replies_error") - stat_or0(p, "replies_error")) / seconds;
	uint64_t n_now = stat_or0(c, "persist_commits");
	uint64_t n_before = stat_or0(p, "persist_commits");
	r->commits += n_now - n_before;
	r->commit_us_sum += n_now * stat_or0(c, "persist_commit_us_avg") -
			    n_before * stat_or0(p, "persist_commit_us_avg");
}

static void row_print(const char *label, const struct row *r)
{
	printf("%-24s", label);
	if (r->rates) {
		for (uint32_t k = 0; k <= TOP_OPS_SHOWN; k++)
			printf(" %9.0f", r->ops_per_s[k]);
		printf(" %8.0f", r->errors_per_s);
	} else {
		for (uint32_t k = 0; k <= TOP_OPS_SHOWN + 1; k++)
			printf(" %*s", k == TOP_OPS_SHOWN + 1 ? 8 : 9, "-");
	}
	printf(" %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %6" PRIu64, r->free, r->held, r->booked,
	       r->conns);
	if (r->rates && r->commits > 0)
		printf(" %8.3f", (double)r->commit_us_sum / (double)r->commits / 1000.0);
	else
		printf(" %8s", "-");
	/* HOLD p99 since the shard started (STATS lat_hold_p99_us); the worst shard of a node. */
	if (r->hold_p99_us > 0)
		printf(" %6.1f\n", (double)r->hold_p99_us / 1000.0);
	else
		printf(" %6s\n", "-");
}

static void top_header(const struct top *t, uint16_t nodes)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	uint32_t up = 0;
	for (uint16_t o = 0; o < t->map->owners_count; o++)
		up += t->cur_ok[o];
	printf("holdfast top  %s  nodes %u, shards answering %u/%u, map epoch %" PRIu64
	       ", every %.1f s  (q quits)\n\n",
	       when, nodes, up, t->map->owners_count, t->map->epoch, t->interval_ms / 1000.0);
	printf("%-24s %9s %9s %9s %9s %9s %8s %10s %8s %8s %6s %8s %6s\n", "NODE / SHARD", "hold/s",
	       "confirm/s", "release/s", "avail/s", "other/s", "errors/s", "free", "held", "booked",
	       "conns", "sync_ms", "p99_ms");
}

/* The stats to group owner o by: its answer, or the shard index it reported last. */
static const struct hf_rep_stats *top_group_stats(struct top *t, uint16_t o)
{
	if (t->cur_ok[o])
		return &t->cur[o];
	if (t->index_seen[o] < 0)
		return NULL;
	t->ghost[o].stats_count = 0;
	hf_stats_add(&t->ghost[o], "shard_index", (uint64_t)t->index_seen[o]);
	return &t->ghost[o];
}

static void top_draw_node(struct top *t, const struct hf_rep_stats *const *stats,
			  const uint16_t *node_of, uint16_t n, double seconds)
{
	struct row total = {.rates = 1};
	uint16_t first = UINT16_MAX;
	uint32_t up = 0;
	for (uint16_t o = 0; o < t->map->owners_count; o++) {
		if (node_of[o] != n)
			continue;
		first = first == UINT16_MAX ? o : first;
		if (t->cur_ok[o]) {
			row_add_owner(&total, t, o, seconds);
			up++;
		}
	}
	HF_ASSERT(first != UINT16_MAX);
	char label[96];
	snprintf(label, sizeof(label), "%s:%u", t->map->owners[first].host,
		 owner_base_port(t->map, stats[first], first));
	if (up > 0)
		row_print(label, &total);
	else
		printf("%-24s DOWN\n", label);
	for (uint16_t o = 0; o < t->map->owners_count; o++) {
		if (node_of[o] != n)
			continue;
		if (!t->cur_ok[o]) {
			printf("  %s:%u DOWN: %s\n", t->map->owners[o].host, t->map->owners[o].port,
			       t->err[o]);
			continue;
		}
		struct row r = {.rates = 1};
		row_add_owner(&r, t, o, seconds);
		snprintf(label, sizeof(label), "  shard %" PRIu64,
			 stat_or0(&t->cur[o], "shard_index"));
		row_print(label, &r);
	}
}

static void top_draw(struct top *t)
{
	const struct hf_rep_stats *stats[HF_SLOT_OWNERS_MAX];
	for (uint16_t o = 0; o < t->map->owners_count; o++)
		stats[o] = top_group_stats(t, o);
	uint16_t node_of[HF_SLOT_OWNERS_MAX];
	uint16_t nodes = hf_cli_nodes(t->map, stats, node_of);
	double seconds = (double)(t->cur_ms - t->prev_ms) / 1000.0;
	if (t->tty_out)
		fputs("\033[H\033[2J", stdout);
	top_header(t, nodes);
	for (uint16_t n = 0; n < nodes; n++)
		top_draw_node(t, stats, node_of, n, seconds);
	fflush(stdout);
}

static void top_sample(struct top *t)
{
	memcpy(t->prev, t->cur, sizeof(*t->cur) * t->map->owners_count);
	memcpy(t->prev_ok, t->cur_ok, sizeof(t->cur_ok));
	t->prev_ms = t->cur_ms;
	t->cur_ms = hf_clock_mono_ms();
	int failed = 0;
	for (uint16_t o = 0; o < t->map->owners_count; o++) {
		struct hf_request req = {.opcode = HF_OP_STATS};
		int rc = hf_client_call_shard(t->client, o, &req, t->rep);
		t->cur_ok[o] = rc == 0 && t->rep->status == HF_OK;
		uint64_t index = 0;
		if (t->cur_ok[o]) {
			/* rep.stats points into client memory valid until the next call. */
			t->cur[o].stats_count = t->rep->stats.stats_count;
			memcpy(t->cur[o].stats, t->rep->stats.stats,
			       t->rep->stats.stats_count * sizeof(*t->rep->stats.stats));
			if (stat_get(&t->cur[o], "shard_index", &index))
				t->index_seen[o] = (int64_t)index;
		} else
			snprintf(t->err[o], sizeof(t->err[o]), "%s",
				 rc != 0 ? strerror(-rc) : hf_status_name(t->rep->status));
		failed |= !t->cur_ok[o];
	}
	if (failed)
		/* The map may have changed (a node replaced): look again for the next frame. */
		(void)hf_client_refresh_map(t->client);
}

/* Waits up to the interval for a key; returns 1 when the view must end. */
static int top_wait_key(uint32_t interval_ms, int *stdin_open)
{
	uint64_t end_ms = hf_clock_mono_ms() + interval_ms;
	for (;;) {
		uint64_t now_ms = hf_clock_mono_ms();
		if (top_stop)
			return 1;
		if (now_ms >= end_ms)
			return 0;
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int rc = poll(&p, *stdin_open ? 1 : 0, (int)(end_ms - now_ms));
		if (rc <= 0)
			continue;
		char key;
		ssize_t n = read(STDIN_FILENO, &key, 1);
		if (n <= 0)
			*stdin_open = 0;
		else if (key == 'q' || key == 'Q')
			return 1;
	}
}

static int top_parse(struct top *t, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		uint32_t *dst = NULL;
		uint32_t min = 0, max = 0;
		if (strcmp(a, "--interval") == 0) {
			dst = &t->interval_ms;
			min = HF_CLI_TOP_INTERVAL_MS_MIN;
			max = HF_CLI_TOP_INTERVAL_MS_MAX;
		} else if (strcmp(a, "--iterations") == 0) {
			dst = &t->iterations;
			min = 1;
			max = TOP_ITERATIONS_MAX;
		}
		char *end = NULL;
		unsigned long long v = 0;
		if (dst != NULL && i + 1 < argc) {
			errno = 0;
			v = strtoull(argv[++i], &end, 10);
		}
		if (dst == NULL || end == NULL || *end != '\0' || errno != 0 || v < min ||
		    v > max || argv[i][0] < '0' || argv[i][0] > '9') {
			fprintf(stderr,
				"holdfast: top: bad argument '%s' (usage: holdfast top "
				"[--interval MS (%u..%u)] [--iterations N])\n",
				a, HF_CLI_TOP_INTERVAL_MS_MIN, HF_CLI_TOP_INTERVAL_MS_MAX);
			return 2;
		}
		*dst = (uint32_t)v;
	}
	return 0;
}

static int top_loop(struct top *t)
{
	struct termios saved;
	int tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty_in) {
		struct termios raw = saved;
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	struct sigaction sa = {.sa_handler = top_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int stdin_open = 1;
	uint64_t epoch = t->map->epoch;
	top_sample(t);
	for (uint32_t frame = 1;; frame++) {
		if (top_wait_key(t->interval_ms, &stdin_open))
			break;
		t->map = hf_client_slot_map(t->client);
		if (t->map->epoch != epoch) {
			/* Owners may have new indexes: no rates against the old samples. */
			memset(t->cur_ok, 0, sizeof(t->cur_ok));
			for (uint32_t o = 0; o < HF_SLOT_OWNERS_MAX; o++)
				t->index_seen[o] = -1;
			epoch = t->map->epoch;
		}
		top_sample(t);
		top_draw(t);
		if (t->iterations != 0 && frame >= t->iterations)
			break;
		if (!t->tty_out)
			putchar('\n');
	}
	if (tty_in)
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return 0;
}

int hf_cli_top(const char *host_port, uint32_t timeout_ms, int argc, char **argv)
{
	static struct top t;
	t.interval_ms = HF_CLI_TOP_INTERVAL_MS_DEFAULT;
	t.iterations = 0;
	int rc = top_parse(&t, argc, argv);
	if (rc != 0)
		return rc;
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms =
	    timeout_ms < HF_CLI_TOP_TIMEOUT_MS_MAX ? timeout_ms : HF_CLI_TOP_TIMEOUT_MS_MAX;
	o.connect_timeout_ms = o.timeout_ms;
	o.retries_max = 0;
	o.auth_token = getenv("HOLDFAST_TOKEN"); /* --token-file sets it too */
	rc = hf_client_open(host_port, &o, &t.client);
	if (rc != 0) {
		fprintf(stderr, "holdfast: top: cannot get the slot map from %s: %s\n", host_port,
			strerror(-rc));
		return 2;
	}
	t.map = hf_client_slot_map(t.client);
	t.tty_out = isatty(STDOUT_FILENO);
	t.rep = calloc(1, sizeof(*t.rep));
	t.prev = calloc(HF_SLOT_OWNERS_MAX, sizeof(*t.prev));
	t.cur = calloc(HF_SLOT_OWNERS_MAX, sizeof(*t.cur));
	t.ghost = calloc(HF_SLOT_OWNERS_MAX, sizeof(*t.ghost));
	for (uint32_t o = 0; o < HF_SLOT_OWNERS_MAX; o++)
		t.index_seen[o] = -1;
	if (t.rep != NULL && t.prev != NULL && t.cur != NULL && t.ghost != NULL)
		rc = top_loop(&t);
	else
		rc = 2;
	free(t.ghost);
	free(t.cur);
	free(t.prev);
	free(t.rep);
	hf_client_close(t.client);
	return rc;
}
