/* The holdfast CLI's cluster commands (see cli_cluster.h): they read the cluster state from etcd
 * (cluster/state.h), ask nodes for their shard count over the client library (STATS), plan with
 * cluster/plan.h and change the state with one etcd txn per step, so every command is safe to
 * re-run after it was killed: create and add do nothing when already done, info, --dry-run and the
 * plans only read.
 *
 * rebalance, remove and move-slot print their plan and, unless --dry-run, run its moves one by one
 * with cluster/move.c's hf_move_run, whose engine steps are the MOVE_* opcodes sent to the source
 * and target shards themselves (engine/move.h), with a progress line after each move (moves done /
 * planned, seats moved, longest freeze); remove then removes the node. cluster fix runs
 * hf_move_fix with the same steps for every record in etcd. `--stop-after copying|frozen|
 * persisted|flipped` (move-slot, rebalance) stops a move right after that phase, as a killed CLI
 * would leave it: a test hook for tests/cluster/test_moves.c.
 *
 * --json prints one JSON value on stdout:
 *   cluster create|add|remove  {"cluster","epoch","members":[...],"changed":bool} (remove of a
 *                              node that owns slots: the plan below, with "executed":false)
 *   cluster info   {"cluster","epoch","revision","members":[{"node_id","host","port","shards",
 *                  "alive","node_epoch","slots","shard_slots":[n,...]}],"moves":[{"slot","from",
 *                  "to","phase","epoch"}],"orphan_owners":[{"host","port","slots"}]}
 *   rebalance, move-slot       {"by","dry_run","executed","epoch","moves_planned","moves_skipped",
 *                  "moves":[{"slot","from","to"}],"shards":[{"host","port","before","after"}]},
 *                  once executed also "moves_done","seats_moved","records_moved","freeze_ms_max"
 *                  (the progress lines then go to stderr)
 *   cluster fix    {"moves":[{"slot","phase","action"}]}
 * Hosts and ports of owners print as "HOST:PORT" strings in moves. */
#include "client/cli_cluster.h"

#include "base/assert.h"
#include "base/clock.h"
#include "client/client_int.h"
#include "client/holdfast.h"
#include "cluster/move.h"
#include "cluster/plan.h"
#include "cluster/state.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_OK	     0
#define EXIT_REFUSED 1
#define EXIT_USAGE   2

#define CLI_ERR_SIZE	    512u
#define CLI_NODES_MAX	    HF_CLUSTER_CHANGE_MEMBERS_MAX /* NODEs in one `cluster create` */
#define CLI_PLAN_SHOWN_MAX  20u /* readable plans list this many moves; --json lists all */
#define CLI_ARGS_MAX	    (CLI_NODES_MAX + 8u)
#define CLI_OWNER_TEXT_SIZE (HF_HOST_SIZE_MAX + 8u)

const char hf_cli_cluster_usage[] =
    "cluster commands (need --etcd URL[,URL...]; --cluster NAME, default \"" HF_CLI_CLUSTER_DEFAULT
    "\"):\n"
    "  cluster create NODE...      spread the 4096 slots over every shard of these holdfastd\n"
    "                              nodes (NODE = HOST:PORT; each runs with --etcd and --cluster)\n"
    "  cluster add NODE            join an empty node (no slots yet; then rebalance)\n"
    "  cluster remove NODE [--dry-run]  move its slots away, then remove it\n"
    "  cluster info                members, shards, slots per shard, epoch, moves in progress\n"
    "  cluster fix                 finish or roll back every interrupted move\n"
    "  rebalance [--by slots|seats|ops] [--dry-run] [--max-moves N]\n"
    "  move-slot SLOT --to NODE/SHARD [--dry-run]\n"
    "  (rebalance and move-slot take --stop-after copying|frozen|persisted|flipped, a test\n"
    "   hook that leaves a move half done for cluster fix)\n";

struct ctx {
	const struct hf_cli_cluster_opts *o;
	const char *what; /* "cluster create", "rebalance", ... */
	struct hf_etcd *etcd;
	struct hf_cluster_state *st;
	char err[CLI_ERR_SIZE];
};

struct node_info {
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t base_port;
	uint32_t shards_count;
	uint64_t epoch; /* the map epoch the node serves */
	int node_index; /* its registration in st->nodes, or -1 */
};

struct cmd_args {
	const char *pos[CLI_ARGS_MAX];
	uint32_t pos_count;
	int dry_run;
	const char *by;
	const char *max_moves;
	const char *to;
	const char *stop_after; /* test hook: stop a move after this phase */
};

/* Big structs, one command per process. */
/* The last STATS answer of shard_stats. */
static struct hf_rep_stats stats_copy;
static struct hf_plan plan;
static struct hf_slot_map work_map;

/* ---- Messages ---- */

__attribute__((format(printf, 3, 4))) static int say(const struct ctx *c, int status,
						     const char *fmt, ...)
{
	char msg[CLI_ERR_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status == EXIT_USAGE && strstr(msg, "etcd") == NULL && strstr(msg, "node") == NULL)
		fprintf(stderr, "holdfast: %s: %s (see holdfast --help)\n", c->what, msg);
	else
		fprintf(stderr, "holdfast: %s: %s\n", c->what, msg);
	if (c->o->json && status == EXIT_REFUSED) {
		json_t *v = json_pack("{s:s, s:s}", "error", "REFUSED", "message", msg);
		json_dumpf(v, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(v);
	}
	return status;
}

static void json_print(json_t *v)
{
	HF_ASSERT(v != NULL);
	json_dumpf(v, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(v);
}

static void owner_text(const struct hf_slot_owner *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%u", o->host, (unsigned)o->port);
}

/* ---- Arguments ---- */

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Splits flags and positionals. Returns 0, or the usage exit status. */
static int args_parse(const struct ctx *c, int argc, char **argv, struct cmd_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char **slot = NULL;
		if (strcmp(s, "--dry-run") == 0) {
			a->dry_run = 1;
			continue;
		}
		if (strcmp(s, "--by") == 0)
			slot = &a->by;
		else if (strcmp(s, "--max-moves") == 0)
			slot = &a->max_moves;
		else if (strcmp(s, "--to") == 0)
			slot = &a->to;
		else if (strcmp(s, "--stop-after") == 0)
			slot = &a->stop_after;
		if (slot != NULL) {
			if (i + 1 >= argc)
				return say(c, EXIT_USAGE, "%s needs a value", s);
			*slot = argv[++i];
			continue;
		}
		if (strncmp(s, "--", 2) == 0)
			return say(c, EXIT_USAGE, "unknown option '%s'", s);
		if (a->pos_count == CLI_ARGS_MAX)
			return say(c, EXIT_USAGE, "more than %u arguments", CLI_ARGS_MAX);
		a->pos[a->pos_count++] = s;
	}
	return 0;
}

static int no_flags(const struct ctx *c, const struct cmd_args *a, int dry_run_ok)
{
	if (a->by != NULL || a->max_moves != NULL || a->to != NULL || a->stop_after != NULL ||
	    (a->dry_run && !dry_run_ok))
		return say(c, EXIT_USAGE, "takes no such option");
	return 0;
}

/* ---- etcd and nodes ---- */

static int connect_etcd(struct ctx *c)
{
	if (c->o->etcd_urls == NULL)
		return say(c, EXIT_USAGE, "needs --etcd URL (the cluster's etcd endpoints)");
	if (hf_cluster_name_check(c->o->cluster, HF_CLUSTER_NAME_SIZE_MAX) != 0)
		return say(c, EXIT_USAGE, "--cluster '%s' is not 1..%u bytes of [A-Za-z0-9._-]",
			   c->o->cluster, HF_CLUSTER_NAME_SIZE_MAX);
	int rc =
	    hf_etcd_create(c->o->etcd_urls, c->o->timeout_ms, &c->etcd, c->err, sizeof(c->err));
	if (rc != 0)
		return say(c, EXIT_USAGE, "--etcd: %s", c->err);
	c->st = calloc(1, sizeof(*c->st));
	if (c->st == NULL)
		return say(c, EXIT_USAGE, "out of memory");
	return 0;
}

static int load_state(struct ctx *c, int need_map)
{
	int rc = hf_cluster_state_read(c->etcd, c->o->cluster, c->st, c->err, sizeof(c->err));
	if (rc == -EPROTO || rc == -EMSGSIZE)
		return say(c, EXIT_REFUSED, "the cluster state in etcd is damaged: %s", c->err);
	if (rc != 0)
		return say(c, EXIT_USAGE, "no answer from etcd: %s", c->err);
	if (need_map && !c->st->has_map)
		return say(c, EXIT_REFUSED,
			   "cluster '%s' does not exist in etcd (create it with cluster create)",
			   c->o->cluster);
	return 0;
}

static uint64_t stat_value(const struct hf_rep_stats *st, const char *name, int *found)
{
	for (uint32_t i = 0; i < st->stats_count; i++) {
		if (strcmp(st->stats[i].name, name) == 0) {
			*found = 1;
			return st->stats[i].value;
		}
	}
	return 0;
}

/* One reply frame from fd into frame (HF_FRAME_SIZE_MAX bytes), decoded into *out. */
static int read_reply(int fd, uint8_t *frame, struct hf_reply *out, uint64_t deadline_ms)
{
	int rc = hf_client_io_full(fd, frame, HF_FRAME_HEADER_SIZE, 0, deadline_ms);
	if (rc != 0)
		return rc;
	struct hf_frame_header h;
	if (hf_frame_header_decode(frame, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY))
		return -EPROTO;
	rc = hf_client_io_full(fd, frame + HF_FRAME_HEADER_SIZE, h.body_size, 0, deadline_ms);
	if (rc != 0)
		return rc;
	return hf_reply_decode(&h, frame + HF_FRAME_HEADER_SIZE, out) == HF_OK ? 0 : -EPROTO;
}

/* Sends req to the shard at host:port itself (a routing client would follow the slot map, which
 * may not name a node that owns no slot yet) and reads its answer into *out. With a token
 * (HOLDFAST_TOKEN, or --token-file) it is presented first. Returns 0, -EACCES when the token was
 * refused, or -errno. */
static int addr_call(const struct ctx *c, const char *host, uint16_t port, struct hf_request *req,
		     struct hf_reply *out)
{
	static uint8_t frame[HF_FRAME_SIZE_MAX];
	struct hf_client_addrs addrs;
	int rc = hf_client_resolve(host, port, &addrs);
	int fd = rc == 0 ? hf_client_connect_timed(&addrs, c->o->timeout_ms) : rc;
	if (fd < 0)
		return fd;
	uint64_t deadline_ms = hf_clock_mono_ms() + c->o->timeout_ms;
	size_t size = 0;
	const char *token = getenv("HOLDFAST_TOKEN"); /* --token-file sets it too */
	int with_token =
	    token != NULL && token[0] != '\0' && strlen(token) <= HF_AUTH_TOKEN_SIZE_MAX;
	if (with_token) {
		struct hf_request auth;
		memset(&auth, 0, sizeof(auth));
		auth.opcode = HF_OP_AUTH;
		auth.auth.token_size = (uint16_t)strlen(token);
		memcpy(auth.auth.token, token, auth.auth.token_size);
		size = hf_request_encode(&auth, frame, sizeof(frame));
	}
	req->request_id = 1;
	size += hf_request_encode(req, frame + size, sizeof(frame) - size);
	rc = hf_client_io_full(fd, frame, size, 1, deadline_ms);
	if (rc == 0 && with_token) {
		rc = read_reply(fd, frame, out, deadline_ms);
		if (rc == 0 && out->status != HF_OK)
			rc = -EACCES;
	}
	if (rc == 0)
		rc = read_reply(fd, frame, out, deadline_ms);
	close(fd);
	if (rc == 0 && out->opcode != req->opcode)
		rc = -EPROTO;
	return rc;
}

/* STATS of the shard at host_port, into stats_copy. Returns 0 or the exit status. */
static int shard_stats(const struct ctx *c, const char *host_port)
{
	static struct hf_reply wire;
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port;
	if (hf_client_parse_addr(host_port, host, &port) != 0)
		return say(c, EXIT_USAGE, "node '%s' is not HOST:PORT", host_port);
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	int rc = addr_call(c, host, port, &req, &wire);
	if (rc == -EACCES)
		return say(c, EXIT_USAGE, "node %s refused the token (%s)", host_port,
			   hf_status_name(wire.status));
	if (rc != 0)
		return say(c, EXIT_USAGE, "node %s: no answer to STATS: %s", host_port,
			   strerror(-rc));
	if (wire.status != HF_OK)
		return say(c, EXIT_REFUSED, "node %s refused STATS (status %u)", host_port,
			   (unsigned)wire.status);
	stats_copy = wire.stats;
	return 0;
}

/* Asks the node at arg (HOST:PORT of any of its shards) for its shard count and finds its
 * registration in st->nodes. Returns 0 or the exit status. */
static int node_query(const struct ctx *c, const char *arg, struct node_info *out)
{
	uint16_t port = 0;
	memset(out, 0, sizeof(*out));
	if (hf_client_parse_addr(arg, out->host, &port) != 0)
		return say(c, EXIT_USAGE, "NODE '%s' is not HOST:PORT", arg);
	int rc = shard_stats(c, arg);
	if (rc != 0)
		return rc;
	int f1 = 0, f2 = 0, f3 = 0;
	uint64_t shards = stat_value(&stats_copy, "shards_count", &f1);
	uint64_t index = stat_value(&stats_copy, "shard_index", &f2);
	out->epoch = stat_value(&stats_copy, "map_epoch", &f3);
	if (!f1 || !f2 || shards == 0 || shards > HF_SLOT_OWNERS_MAX || index >= shards ||
	    index > port || port - index + shards - 1 > UINT16_MAX)
		return say(c, EXIT_REFUSED, "node %s: its STATS give no usable shard count", arg);
	out->shards_count = (uint32_t)shards;
	out->base_port = (uint16_t)(port - index);
	HF_ASSERT(out->shards_count >= 1);
	HF_ASSERT(out->base_port <= port);
	out->node_index =
	    hf_cluster_member_find(c->st->nodes, c->st->nodes_count, out->host, out->base_port);
	if (out->node_index < 0)
		return say(c, EXIT_REFUSED,
			   "node %s is not registered in cluster '%s': start it with --etcd URL "
			   "--cluster %s (and --advertise %s if it listens on 0.0.0.0)",
			   arg, c->o->cluster, c->o->cluster, out->host);
	const struct hf_cluster_member *reg = &c->st->nodes[out->node_index];
	if (reg->shards_count != out->shards_count)
		return say(c, EXIT_REFUSED, "node %s: %u shards, but registered with %u", arg,
			   out->shards_count, reg->shards_count);
	return 0;
}

/* ---- Output ---- */

static void slots_per_owner(const struct hf_slot_map *map, uint32_t *counts)
{
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	memset(counts, 0, HF_SLOT_OWNERS_MAX * sizeof(*counts));
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++) {
		HF_ASSERT(map->slot_owner[s] < map->owners_count);
		counts[map->slot_owner[s]]++;
	}
}

static json_t *members_json(const struct hf_cluster_state *st)
{
	json_t *list = json_array();
	for (uint32_t i = 0; list != NULL && i < st->members_count; i++) {
		const struct hf_cluster_member *m = &st->members[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I}", "node_id", m->node_id,
						      "host", m->host, "port", (json_int_t)m->port,
						      "shards", (json_int_t)m->shards_count));
	}
	return list;
}

static int print_members(const struct ctx *c, const char *verb, int changed)
{
	const struct hf_cluster_state *st = c->st;
	if (c->o->json) {
		json_print(json_pack("{s:s, s:I, s:o, s:b}", "cluster", c->o->cluster, "epoch",
				     (json_int_t)st->map.epoch, "members", members_json(st),
				     "changed", changed));
		return EXIT_OK;
	}
	printf("cluster %s: %s; epoch %" PRIu64 ", %u members\n", c->o->cluster, verb,
	       st->map.epoch, st->members_count);
	for (uint32_t i = 0; i < st->members_count; i++)
		printf("  %s  %s:%u  %u shards\n", st->members[i].node_id, st->members[i].host,
		       (unsigned)st->members[i].port, st->members[i].shards_count);
	return EXIT_OK;
}

static json_t *plan_moves_json(const struct hf_slot_map *map)
{
	json_t *moves = json_array();
	char from[CLI_OWNER_TEXT_SIZE], to[CLI_OWNER_TEXT_SIZE];
	for (uint32_t i = 0; moves != NULL && i < plan.moves_count; i++) {
		owner_text(&map->owners[plan.moves[i].from], from, sizeof(from));
		owner_text(&map->owners[plan.moves[i].to], to, sizeof(to));
		json_array_append_new(moves, json_pack("{s:I, s:s, s:s}", "slot",
						       (json_int_t)plan.moves[i].slot, "from", from,
						       "to", to));
	}
	return moves;
}

static json_t *plan_shards_json(const struct hf_slot_map *map)
{
	json_t *shards = json_array();
	for (uint32_t o = 0; shards != NULL && o < map->owners_count; o++)
		json_array_append_new(shards,
				      json_pack("{s:s, s:I, s:I, s:I}", "host", map->owners[o].host,
						"port", (json_int_t)map->owners[o].port, "before",
						(json_int_t)plan.load_before[o], "after",
						(json_int_t)plan.load_after[o]));
	return shards;
}

struct move_run;
static json_t *run_json(const struct move_run *r);

/* The plan, as text or (--json) one object; done: the figures of its run, NULL when not run. */
static void print_plan(const struct ctx *c, const struct hf_slot_map *map, enum hf_plan_by by,
		       int dry_run, const struct move_run *done)
{
	HF_ASSERT(plan.moves_count <= HF_SLOTS_COUNT);
	HF_ASSERT(map->owners_count <= HF_SLOT_OWNERS_MAX);
	if (c->o->json) {
		json_t *v = json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:o, s:o}", "by",
				      hf_plan_by_name(by), "dry_run", dry_run, "executed",
				      done != NULL, "epoch", (json_int_t)c->st->map.epoch,
				      "moves_planned", (json_int_t)plan.moves_count,
				      "moves_skipped", (json_int_t)plan.moves_skipped, "moves",
				      plan_moves_json(map), "shards", plan_shards_json(map));
		if (v != NULL && done != NULL)
			json_object_update(v, run_json(done));
		json_print(v);
		return;
	}
	printf("plan (by %s, epoch %" PRIu64 "): %u moves%s", hf_plan_by_name(by), c->st->map.epoch,
	       plan.moves_count, plan.moves_count == 0 ? ", balanced\n" : "\n");
	char from[CLI_OWNER_TEXT_SIZE], to[CLI_OWNER_TEXT_SIZE];
	for (uint32_t i = 0; i < plan.moves_count && i < CLI_PLAN_SHOWN_MAX; i++) {
		owner_text(&map->owners[plan.moves[i].from], from, sizeof(from));
		owner_text(&map->owners[plan.moves[i].to], to, sizeof(to));
		printf("  slot %4u  %s -> %s\n", (unsigned)plan.moves[i].slot, from, to);
	}
	if (plan.moves_count > CLI_PLAN_SHOWN_MAX)
		printf("  ... %u more (--json lists them all)\n",
		       plan.moves_count - CLI_PLAN_SHOWN_MAX);
	if (plan.moves_skipped > 0)
		printf("  (%u more moves wanted past --max-moves)\n", plan.moves_skipped);
	for (uint32_t o = 0; o < map->owners_count; o++)
		printf("  shard %s:%u  %" PRIu64 " -> %" PRIu64 "\n", map->owners[o].host,
		       (unsigned)map->owners[o].port, plan.load_before[o], plan.load_after[o]);
}

/* ---- The engine steps of a move (cluster/move.h): MOVE_* opcodes sent to the shards ---- */

#define CLI_MOVE_STEP_MS      600000u /* the longest a copy or a persist may take (a huge slot) */
#define CLI_MOVE_POLL_MS      2u      /* between polls of a copy or a persist in progress */
#define CLI_MOVE_DROP_WAIT_MS 30000u  /* a source may wait this long for the flipped map */

/* One run of moves: its test hook and its progress figures. */
struct move_run {
	const struct ctx *c;
	int stop_after;		  /* enum hf_move_phase to stop after, or -1 */
	uint16_t last_status;	  /* the last refusal of a step, for the message */
	uint64_t freeze_start_ms; /* monotonic; 0 while no slot is frozen */
	uint64_t freeze_ms_max;
	uint64_t seats_moved;
	uint64_t records_moved;
	uint32_t moves_done;
	uint32_t moves_planned;
};

static struct move_run run;

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	nanosleep(&ts, NULL);
}

static int status_errno(uint16_t status)
{
	switch (status) {
	case HF_MOVE_FAILED:
	case HF_ERR_IO:
		return -EIO;
	case HF_MOVE_STATE:
		return -ESTALE;
	case HF_FORBIDDEN:
	case HF_UNAUTHORIZED:
		return -EACCES;
	case HF_TRY_AGAIN:
	case HF_BUSY:
		return -EAGAIN;
	default:
		return -EPROTO;
	}
}

/* One MOVE_* request for slot to owner o; 0 with *rep (status OK), or -errno. */
static int move_call(struct move_run *r, uint8_t opcode, const struct hf_slot_owner *o,
		     uint16_t slot, const struct hf_slot_owner *from, struct hf_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.move.slot = slot;
	if (from != NULL) {
		snprintf(req.move.host, sizeof(req.move.host), "%s", from->host);
		req.move.port = from->port;
	}
	int rc = addr_call(r->c, o->host, o->port, &req, rep);
	if (rc != 0)
		return rc;
	if (rep->status != HF_OK) {
		r->last_status = rep->status;
		return status_errno(rep->status);
	}
	return 0;
}

/* Repeats a step until the shard reports a state in [lo, hi]; FAILED or a refusal ends it. */
static int move_poll(struct move_run *r, uint8_t opcode, const struct hf_slot_owner *o,
		     uint16_t slot, const struct hf_slot_owner *from, uint8_t lo, uint8_t hi,
		     struct hf_reply *rep)
{
	uint64_t deadline_ms = hf_clock_mono_ms() + CLI_MOVE_STEP_MS;
	for (;;) {
		int rc = move_call(r, opcode, o, slot, from, rep);
		if (rc != 0)
			return rc;
		if (rep->move.state >= lo && rep->move.state <= hi)
			return 0;
		if (rep->move.state == HF_MOVE_STATE_FAILED) {
			r->last_status = HF_MOVE_FAILED;
			return -EIO;
		}
		if (hf_clock_mono_ms() > deadline_ms)
			return -ETIMEDOUT;
		sleep_ms(CLI_MOVE_POLL_MS);
	}
}

static int step_copy(void *arg, const struct hf_cluster_move *mv)
{
	static struct hf_reply rep;
	struct move_run *r = arg;
	int rc = move_poll(r, HF_OP_MOVE_COPY, &mv->to, mv->slot, &mv->from, HF_MOVE_STATE_COPIED,
			   HF_MOVE_STATE_PERSISTED, &rep);
	if (rc == 0 && r->stop_after == HF_MOVE_COPYING)
		return -ECANCELED;
	return rc;
}

static int step_freeze(void *arg, const struct hf_cluster_move *mv)
{
	static struct hf_reply rep;
	struct move_run *r = arg;
	int rc = move_call(r, HF_OP_MOVE_FREEZE, &mv->from, mv->slot, NULL, &rep);
	if (rc == 0) {
		r->freeze_start_ms = hf_clock_mono_ms();
		r->seats_moved += rep.move.seats;
	}
	return rc;
}

static int step_persisted(void *arg, const struct hf_cluster_move *mv)
{
	static struct hf_reply rep;
	struct move_run *r = arg;
	if (r->stop_after == HF_MOVE_FROZEN)
		return -ECANCELED;
	int rc = move_poll(r, HF_OP_MOVE_PERSISTED, &mv->to, mv->slot, NULL,
			   HF_MOVE_STATE_PERSISTED, HF_MOVE_STATE_PERSISTED, &rep);
	if (rc == 0)
		r->records_moved += rep.move.records;
	return rc;
}

static int step_flip_ready(void *arg, const struct hf_cluster_move *mv)
{
	const struct move_run *r = arg;
	(void)mv;
	return r->stop_after == HF_MOVE_PERSISTED ? -ECANCELED : 0;
}

/* The freeze of the slot ended with the flip (or a roll-back): how long it lasted. */
static void freeze_end(struct move_run *r)
{
	if (r->freeze_start_ms == 0)
		return;
	uint64_t ms = hf_clock_mono_ms() - r->freeze_start_ms;
	if (ms > r->freeze_ms_max)
		r->freeze_ms_max = ms;
	r->freeze_start_ms = 0;
}

/* MOVE_DROP, again while the shard deletes in steps (TRY_AGAIN) or, as the source after the flip,
 * still serves the slot because the new map has not reached it yet (MOVE_STATE). */
static int step_drop(void *arg, const struct hf_slot_owner *owner, uint16_t slot)
{
	static struct hf_reply rep;
	struct move_run *r = arg;
	freeze_end(r);
	if (r->stop_after == HF_MOVE_FLIPPED)
		return -ECANCELED;
	uint64_t deadline_ms = hf_clock_mono_ms() + CLI_MOVE_DROP_WAIT_MS;
	for (;;) {
		int rc = move_call(r, HF_OP_MOVE_DROP, owner, slot, NULL, &rep);
		if ((rc != -EAGAIN && rc != -ESTALE) || hf_clock_mono_ms() > deadline_ms)
			return rc;
		sleep_ms(10u * CLI_MOVE_POLL_MS);
	}
}

static int step_unfreeze(void *arg, const struct hf_slot_owner *owner, uint16_t slot)
{
	static struct hf_reply rep;
	struct move_run *r = arg;
	freeze_end(r);
	return move_call(r, HF_OP_MOVE_UNFREEZE, owner, slot, NULL, &rep);
}

static const struct hf_move_engine engine = {
    .copy = step_copy,
    .freeze = step_freeze,
    .persisted = step_persisted,
    .drop = step_drop,
    .unfreeze = step_unfreeze,
    .flip_ready = step_flip_ready,
    .arg = &run,
};

static int stop_after_parse(const struct ctx *c, const char *s, int *out)
{
	*out = -1;
	if (s == NULL)
		return 0;
	enum hf_move_phase phase;
	if (hf_move_phase_parse(s, &phase) != 0 || phase == HF_MOVE_PLANNED)
		return say(c, EXIT_USAGE,
			   "--stop-after '%s' is not copying, frozen, persisted or flipped", s);
	*out = (int)phase;
	return 0;
}

/* "moves_done", "seats_moved", "records_moved", "freeze_ms_max" of a run (a new reference). */
static json_t *run_json(const struct move_run *r)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "moves_done", (json_int_t)r->moves_done,
			 "seats_moved", (json_int_t)r->seats_moved, "records_moved",
			 (json_int_t)r->records_moved, "freeze_ms_max",
			 (json_int_t)r->freeze_ms_max);
}

static void progress_line(const struct ctx *c)
{
	FILE *out = c->o->json ? stderr : stdout;
	fprintf(out, "moves %u/%u done, %" PRIu64 " seats moved, longest freeze %" PRIu64 " ms\n",
		run.moves_done, run.moves_planned, run.seats_moved, run.freeze_ms_max);
	fflush(out);
}

/* Runs plan.moves one after the other (owners index map). Returns 0 or the exit status. */
static int run_plan(const struct ctx *c, const struct hf_slot_map *map, int stop_after)
{
	char err[CLI_ERR_SIZE];
	run =
	    (struct move_run){.c = c, .stop_after = stop_after, .moves_planned = plan.moves_count};
	for (uint32_t i = 0; i < plan.moves_count; i++) {
		const struct hf_plan_move *pm = &plan.moves[i];
		run.last_status = HF_OK;
		int rc = hf_move_run(c->etcd, c->o->cluster, pm->slot, &map->owners[pm->to],
				     &engine, err, sizeof(err));
		if (rc == -ECANCELED)
			return say(
			    c, EXIT_REFUSED, "slot %u: stopped after phase %s (--stop-after)",
			    (unsigned)pm->slot, hf_move_phase_name((enum hf_move_phase)stop_after));
		if (rc != 0)
			return say(c, EXIT_REFUSED,
				   "%s%s%s; `holdfast cluster fix` finishes or rolls it back", err,
				   run.last_status != HF_OK ? ": " : "",
				   run.last_status != HF_OK ? hf_status_name(run.last_status) : "");
		run.moves_done++;
		progress_line(c);
	}
	return 0;
}

/* After the plan: done when it is empty or a dry run; otherwise its moves run now. With --json
 * the plan is printed once, after the run, with "executed" and the figures. */
static int plan_outcome(const struct ctx *c, const struct hf_slot_map *map, enum hf_plan_by by,
			const struct cmd_args *a)
{
	int stop_after = -1;
	int rc = stop_after_parse(c, a->stop_after, &stop_after);
	if (rc != 0)
		return rc;
	int executes = plan.moves_count > 0 && !a->dry_run;
	if (!c->o->json || !executes)
		print_plan(c, map, by, a->dry_run, NULL);
	if (!executes)
		return EXIT_OK;
	rc = run_plan(c, map, stop_after);
	if (c->o->json && rc == 0)
		print_plan(c, map, by, 0, &run);
	return rc;
}

/* ---- Building blocks of the commands ---- */

#define CLI_COMMIT_RETRIES 3u /* re-reads after a concurrent change before giving up */

/* work_map = the cluster's map plus, as owners without slots, the shards of every member that
 * owns none yet (an added node). Returns 0 or the exit status. */
static int build_work_map(const struct ctx *c)
{
	work_map = c->st->map;
	for (uint32_t i = 0; i < c->st->members_count; i++) {
		const struct hf_cluster_member *m = &c->st->members[i];
		int rc = hf_plan_owner_add(&work_map, m->host, m->port, m->shards_count);
		if (rc == -ENOSPC)
			return say(c, EXIT_REFUSED, "more than %u shards in the cluster",
				   HF_SLOT_OWNERS_MAX);
		/* -EEXIST: its shards are owners already (the usual case). */
	}
	return 0;
}

static int owner_index(const struct hf_slot_map *map, const char *host, uint16_t port)
{
	for (uint32_t o = 0; o < map->owners_count; o++)
		if (map->owners[o].port == port && strcmp(map->owners[o].host, host) == 0)
			return (int)o;
	return -1;
}

static int member_by_addr(const struct ctx *c, const char *arg, uint32_t *index_out)
{
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port = 0;
	if (hf_client_parse_addr(arg, host, &port) != 0)
		return say(c, EXIT_USAGE, "NODE '%s' is not HOST:PORT", arg);
	struct hf_slot_owner o;
	memcpy(o.host, host, sizeof(o.host));
	o.port = port;
	uint32_t shard = 0;
	int m = hf_cluster_member_of(c->st, &o, &shard);
	if (m < 0)
		return -1;
	*index_out = (uint32_t)m;
	return 0;
}

/* Commits change on c->st; on a concurrent change returns -EAGAIN (the caller re-reads). */
static int commit(struct ctx *c, const struct hf_cluster_change *change)
{
	int applied = 0;
	int rc = hf_cluster_commit(c->etcd, c->o->cluster, c->st, change, &applied, c->err,
				   sizeof(c->err));
	if (rc != 0)
		return say(c, EXIT_USAGE, "no answer from etcd: %s", c->err);
	return applied ? 0 : -EAGAIN;
}

/* ---- cluster create ---- */

static int same_members(const struct hf_cluster_state *st, const struct hf_cluster_member *m,
			uint32_t n)
{
	if (st->members_count != n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (hf_cluster_member_find(st->members, st->members_count, m[i].host, m[i].port) <
		    0)
			return 0;
	return 1;
}

static int query_nodes(struct ctx *c, const struct cmd_args *a, struct hf_cluster_member *members,
		       uint64_t *epoch_max_out)
{
	uint32_t shards_total = 0;
	*epoch_max_out = 0;
	for (uint32_t i = 0; i < a->pos_count; i++) {
		struct node_info info;
		int rc = node_query(c, a->pos[i], &info);
		if (rc != 0)
			return rc;
		members[i] = c->st->nodes[info.node_index];
		members[i].epoch = 0;
		for (uint32_t k = 0; k < i; k++)
			if (strcmp(members[k].node_id, members[i].node_id) == 0)
				return say(c, EXIT_USAGE, "NODE %s is named twice", a->pos[i]);
		shards_total += info.shards_count;
		if (info.epoch > *epoch_max_out)
			*epoch_max_out = info.epoch;
	}
	if (shards_total > HF_SLOT_OWNERS_MAX)
		return say(c, EXIT_REFUSED, "%u shards: a cluster has at most %u", shards_total,
			   HF_SLOT_OWNERS_MAX);
	return 0;
}

static int create_map(const struct hf_cluster_member *members, uint32_t n, uint64_t epoch)
{
	memset(&work_map, 0, sizeof(work_map));
	for (uint32_t i = 0; i < n; i++) {
		int rc = hf_plan_owner_add(&work_map, members[i].host, members[i].port,
					   members[i].shards_count);
		if (rc != 0)
			return rc;
	}
	hf_plan_spread(&work_map);
	/* Newer than any map a node serves, so every node takes it. */
	work_map.epoch = epoch;
	HF_ASSERT(hf_cluster_map_check(&work_map) == 0);
	return 0;
}

static int cmd_create(struct ctx *c, int argc, char **argv)
{
	static struct hf_cluster_member members[CLI_ARGS_MAX];
	struct cmd_args a;
	int rc = args_parse(c, argc, argv, &a);
	if (rc == 0)
		rc = no_flags(c, &a, 0);
	if (rc != 0)
		return rc;
	if (a.pos_count == 0 || a.pos_count > CLI_NODES_MAX)
		return say(c, EXIT_USAGE, "needs 1..%u NODEs (HOST:PORT)", CLI_NODES_MAX);
	for (uint32_t attempt = 0; attempt < CLI_COMMIT_RETRIES; attempt++) {
		uint64_t epoch_max = 0;
		if ((rc = load_state(c, 0)) != 0 ||
		    (rc = query_nodes(c, &a, members, &epoch_max)) != 0)
			return rc;
		if (c->st->has_map) {
			if (same_members(c->st, members, a.pos_count))
				return print_members(c, "already created", 0);
			return say(c, EXIT_REFUSED,
				   "cluster '%s' exists already with other members (epoch %" PRIu64
				   "): use cluster add / cluster remove",
				   c->o->cluster, c->st->map.epoch);
		}
		if (create_map(members, a.pos_count, epoch_max + 1) != 0)
			return say(c, EXIT_USAGE, "two NODEs share shard ports");
		struct hf_cluster_change ch = {.map = &work_map, .members_put_count = a.pos_count};
		for (uint32_t i = 0; i < a.pos_count; i++)
			ch.members_put[i] = &members[i];
		rc = commit(c, &ch);
		if (rc != -EAGAIN) {
			if (rc != 0 || (rc = load_state(c, 1)) != 0)
				return rc;
			return print_members(c, "created", 1);
		}
	}
	return say(c, EXIT_REFUSED, "the cluster changed during each of %u attempts",
		   CLI_COMMIT_RETRIES);
}

/* ---- cluster add / remove ---- */

static int cmd_add(struct ctx *c, int argc, char **argv)
{
	struct cmd_args a;
	int rc = args_parse(c, argc, argv, &a);
	if (rc == 0)
		rc = no_flags(c, &a, 0);
	if (rc != 0)
		return rc;
	if (a.pos_count != 1)
		return say(c, EXIT_USAGE, "needs exactly one NODE (HOST:PORT)");
	for (uint32_t attempt = 0; attempt < CLI_COMMIT_RETRIES; attempt++) {
		struct node_info info;
		if ((rc = load_state(c, 1)) != 0 || (rc = node_query(c, a.pos[0], &info)) != 0)
			return rc;
		struct hf_cluster_member m = c->st->nodes[info.node_index];
		m.epoch = 0;
		int known =
		    hf_cluster_member_find(c->st->members, c->st->members_count, m.host, m.port);
		if (known >= 0 && strcmp(c->st->members[known].node_id, m.node_id) == 0)
			return print_members(c, "already a member", 0);
		if (known >= 0)
			return say(c, EXIT_REFUSED,
				   "%s is member %s, but the node there now is %s (a new data "
				   "directory?): remove the old member first",
				   a.pos[0], c->st->members[known].node_id, m.node_id);
		work_map = c->st->map;
		if (hf_plan_owner_add(&work_map, m.host, m.port, m.shards_count) != 0)
			return say(c, EXIT_REFUSED,
				   "%s: its shard ports are in the map already, or the cluster "
				   "would pass %u shards",
				   a.pos[0], HF_SLOT_OWNERS_MAX);
		struct hf_cluster_change ch = {.members_put = {&m}, .members_put_count = 1};
		rc = commit(c, &ch);
		if (rc != -EAGAIN) {
			if (rc != 0 || (rc = load_state(c, 1)) != 0)
				return rc;
			return print_members(c, "added (no slots yet: run rebalance)", 1);
		}
	}
	return say(c, EXIT_REFUSED, "the cluster changed during each of %u attempts",
		   CLI_COMMIT_RETRIES);
}

/* Plans moving every slot of member m away (work_map is built). */
static int plan_drain(const struct ctx *c, const struct hf_cluster_member *m, int *slots_out)
{
	static uint8_t draining[HF_SLOT_OWNERS_MAX];
	uint32_t counts[HF_SLOT_OWNERS_MAX];
	memset(draining, 0, sizeof(draining));
	slots_per_owner(&work_map, counts);
	*slots_out = 0;
	for (uint32_t i = 0; i < m->shards_count; i++) {
		int o = owner_index(&work_map, m->host, (uint16_t)(m->port + i));
		if (o >= 0) {
			draining[o] = 1;
			*slots_out += counts[o] > 0;
		}
	}
	if (hf_plan_rebalance(&work_map, draining, NULL, 0, &plan) != 0)
		return say(c, EXIT_REFUSED, "%s:%u is the only node: nothing could take its slots",
			   m->host, (unsigned)m->port);
	return 0;
}

static int cmd_remove(struct ctx *c, int argc, char **argv)
{
	struct cmd_args a;
	int rc = args_parse(c, argc, argv, &a);
	if (rc == 0)
		rc = no_flags(c, &a, 1);
	if (rc != 0)
		return rc;
	if (a.pos_count != 1)
		return say(c, EXIT_USAGE, "needs exactly one NODE (HOST:PORT)");
	int drained = 0;
	for (uint32_t attempt = 0; attempt < CLI_COMMIT_RETRIES; attempt++) {
		uint32_t mi = 0;
		int owning = 0;
		if ((rc = load_state(c, 1)) != 0)
			return rc;
		rc = member_by_addr(c, a.pos[0], &mi);
		if (rc == -1)
			return print_members(c, "not a member (nothing to remove)", 0);
		if (rc != 0 || (rc = build_work_map(c)) != 0 ||
		    (rc = plan_drain(c, &c->st->members[mi], &owning)) != 0)
			return rc;
		if (a.dry_run || (owning > 0 && drained))
			return plan_outcome(c, &work_map, HF_PLAN_BY_SLOTS, &a);
		if (owning > 0) {
			/* Its slots move away first (the text plan and progress lines print now,
			 * --json prints the plan with the figures at the end); then it leaves. */
			if (!c->o->json)
				print_plan(c, &work_map, HF_PLAN_BY_SLOTS, 0, NULL);
			int stop_after = -1;
			if ((rc = stop_after_parse(c, a.stop_after, &stop_after)) != 0 ||
			    (rc = run_plan(c, &work_map, stop_after)) != 0)
				return rc;
			drained = 1;
			attempt = 0;
			continue;
		}
		struct hf_cluster_change ch = {.members_delete = {c->st->members[mi].node_id},
					       .members_delete_count = 1};
		/* Its shards may still be owners without slots: drop them from the map too. */
		work_map = c->st->map;
		if (hf_plan_compact(&work_map) > 0) {
			work_map.epoch++;
			ch.map = &work_map;
		}
		rc = commit(c, &ch);
		if (rc != -EAGAIN) {
			if (rc != 0 || (rc = load_state(c, 1)) != 0)
				return rc;
			return print_members(c, "removed", 1);
		}
	}
	return say(c, EXIT_REFUSED, "the cluster changed during each of %u attempts",
		   CLI_COMMIT_RETRIES);
}

/* ---- cluster info ---- */

static json_t *member_info_json(const struct ctx *c, const struct hf_cluster_member *m,
				const uint32_t *counts)
{
	const struct hf_cluster_state *st = c->st;
	int alive = hf_cluster_member_find(st->nodes, st->nodes_count, m->host, m->port);
	json_t *shard_slots = json_array();
	uint32_t total = 0;
	for (uint32_t i = 0; i < m->shards_count; i++) {
		int o = owner_index(&st->map, m->host, (uint16_t)(m->port + i));
		uint32_t n = o >= 0 ? counts[o] : 0;
		total += n;
		json_array_append_new(shard_slots, json_integer(n));
	}
	return json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:o}", "node_id", m->node_id, "host",
			 m->host, "port", (json_int_t)m->port, "shards",
			 (json_int_t)m->shards_count, "alive", alive >= 0, "node_epoch",
			 (json_int_t)(alive >= 0 ? st->nodes[alive].epoch : 0), "slots",
			 (json_int_t)total, "shard_slots", shard_slots);
}

static json_t *moves_json(const struct hf_cluster_state *st)
{
	json_t *list = json_array();
	char from[CLI_OWNER_TEXT_SIZE], to[CLI_OWNER_TEXT_SIZE];
	for (uint32_t i = 0; list != NULL && i < st->moves_count; i++) {
		const struct hf_cluster_move *mv = &st->moves[i];
		owner_text(&mv->from, from, sizeof(from));
		owner_text(&mv->to, to, sizeof(to));
		json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:I}", "slot",
						      (json_int_t)mv->slot, "from", from, "to", to,
						      "phase", hf_move_phase_name(mv->phase),
						      "epoch", (json_int_t)mv->epoch));
	}
	return list;
}

/* Owners in the map that belong to no member (a node removed by hand, a damaged state). */
static json_t *orphans_json(const struct hf_cluster_state *st, const uint32_t *counts)
{
	json_t *list = json_array();
	for (uint32_t o = 0; list != NULL && o < st->map.owners_count; o++) {
		uint32_t shard = 0;
		if (hf_cluster_member_of(st, &st->map.owners[o], &shard) >= 0)
			continue;
		json_array_append_new(list,
				      json_pack("{s:s, s:I, s:I}", "host", st->map.owners[o].host,
						"port", (json_int_t)st->map.owners[o].port, "slots",
						(json_int_t)counts[o]));
	}
	return list;
}

static json_t *info_json(const struct ctx *c)
{
	uint32_t counts[HF_SLOT_OWNERS_MAX];
	slots_per_owner(&c->st->map, counts);
	json_t *members = json_array();
	for (uint32_t i = 0; members != NULL && i < c->st->members_count; i++)
		json_array_append_new(members, member_info_json(c, &c->st->members[i], counts));
	return json_pack("{s:s, s:I, s:I, s:o, s:o, s:o}", "cluster", c->o->cluster, "epoch",
			 (json_int_t)c->st->map.epoch, "revision", (json_int_t)c->st->revision,
			 "members", members, "moves", moves_json(c->st), "orphan_owners",
			 orphans_json(c->st, counts));
}

static void print_info_text(json_t *info)
{
	json_t *members = json_object_get(info, "members");
	json_t *moves = json_object_get(info, "moves");
	printf("cluster %s: epoch %" JSON_INTEGER_FORMAT ", %zu members, %zu moves in progress\n",
	       json_string_value(json_object_get(info, "cluster")),
	       json_integer_value(json_object_get(info, "epoch")), json_array_size(members),
	       json_array_size(moves));
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
	{
		json_t *slots = json_object_get(m, "shard_slots");
		printf("  %s  %s:%" JSON_INTEGER_FORMAT "  %" JSON_INTEGER_FORMAT
		       " shards, %" JSON_INTEGER_FORMAT " slots, %s\n",
		       json_string_value(json_object_get(m, "node_id")),
		       json_string_value(json_object_get(m, "host")),
		       json_integer_value(json_object_get(m, "port")),
		       json_integer_value(json_object_get(m, "shards")),
		       json_integer_value(json_object_get(m, "slots")),
		       json_is_true(json_object_get(m, "alive")) ? "alive" : "NOT REGISTERED");
		for (size_t k = 0; k < json_array_size(slots); k++)
			printf("      shard %zu: %" JSON_INTEGER_FORMAT " slots\n", k,
			       json_integer_value(json_array_get(slots, k)));
	}
	json_array_foreach(moves, i, m)
	{
		printf("  move slot %" JSON_INTEGER_FORMAT ": %s -> %s, %s\n",
		       json_integer_value(json_object_get(m, "slot")),
		       json_string_value(json_object_get(m, "from")),
		       json_string_value(json_object_get(m, "to")),
		       json_string_value(json_object_get(m, "phase")));
	}
	json_array_foreach(json_object_get(info, "orphan_owners"), i, m)
	{
		printf("  owner %s:%" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
		       " slots) belongs to no member\n",
		       json_string_value(json_object_get(m, "host")),
		       json_integer_value(json_object_get(m, "port")),
		       json_integer_value(json_object_get(m, "slots")));
	}
}

static int cmd_info(struct ctx *c, int argc, char **argv)
{
	struct cmd_args a;
	int rc = args_parse(c, argc, argv, &a);
	if (rc == 0)
		rc = no_flags(c, &a, 0);
	if (rc != 0)
		return rc;
	if (a.pos_count != 0)
		return say(c, EXIT_USAGE, "takes no arguments");
	if ((rc = load_state(c, 1)) != 0)
		return rc;
	json_t *info = info_json(c);
	if (info == NULL)
		return say(c, EXIT_USAGE, "out of memory");
	if (c->o->json) {
		json_print(info);
		return EXIT_OK;
	}
	print_info_text(info);
	json_decref(info);
	return EXIT_OK;
}

/* ---- rebalance / move-slot ---- */

/* The weight of each slot: its shard's total (store_seats, or every ops_* counter) spread evenly
 * over the shard's slots, since the engine reports per shard, not per slot. */
static int weights_from_stats(const struct ctx *c, enum hf_plan_by by, uint64_t *weights)
{
	uint32_t counts[HF_SLOT_OWNERS_MAX];
	slots_per_owner(&work_map, counts);
	uint64_t per_slot[HF_SLOT_OWNERS_MAX] = {0};
	for (uint32_t o = 0; o < work_map.owners_count; o++) {
		if (counts[o] == 0)
			continue;
		char addr[CLI_OWNER_TEXT_SIZE];
		owner_text(&work_map.owners[o], addr, sizeof(addr));
		int rc = shard_stats(c, addr);
		if (rc != 0)
			return rc;
		uint64_t total = 0;
		int found = 0;
		for (uint32_t i = 0; i < stats_copy.stats_count; i++) {
			const char *name = stats_copy.stats[i].name;
			if (by == HF_PLAN_BY_SEATS ? strcmp(name, "store_seats") == 0
						   : strncmp(name, "ops_", 4) == 0) {
				total += stats_copy.stats[i].value;
				found = 1;
			}
		}
		if (!found)
			return say(c, EXIT_REFUSED, "shard %s reports no %s", addr,
				   hf_plan_by_name(by));
		per_slot[o] = total / counts[o];
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		weights[s] = per_slot[work_map.slot_owner[s]];
	return 0;
}

static int cmd_rebalance(struct ctx *c, int argc, char **argv)
{
	static uint8_t draining[HF_SLOT_OWNERS_MAX];
	static uint64_t weights[HF_SLOTS_COUNT];
	struct cmd_args a;
	enum hf_plan_by by = HF_PLAN_BY_SLOTS;
	uint32_t moves_max = 0;
	int rc = args_parse(c, argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.pos_count != 0 || a.to != NULL)
		return say(c, EXIT_USAGE, "takes only --by, --dry-run and --max-moves");
	if (a.by != NULL && hf_plan_by_parse(a.by, &by) != 0)
		return say(c, EXIT_USAGE, "--by '%s' is not slots, seats or ops", a.by);
	if (a.max_moves != NULL && parse_u32(a.max_moves, 1, HF_SLOTS_COUNT, &moves_max) != 0)
		return say(c, EXIT_USAGE, "--max-moves '%s' is not in 1..%u", a.max_moves,
			   HF_SLOTS_COUNT);
	if ((rc = load_state(c, 1)) != 0 || (rc = build_work_map(c)) != 0)
		return rc;
	if (by != HF_PLAN_BY_SLOTS && (rc = weights_from_stats(c, by, weights)) != 0)
		return rc;
	memset(draining, 0, sizeof(draining));
	rc = hf_plan_rebalance(&work_map, draining, by == HF_PLAN_BY_SLOTS ? NULL : weights,
			       moves_max, &plan);
	HF_ASSERT(rc == 0);
	return plan_outcome(c, &work_map, by, &a);
}

/* Parses --to NODE/SHARD into the owner index in work_map. Returns 0 or the exit status. */
static int parse_target(const struct ctx *c, const char *to, int *owner_out)
{
	char node[HF_HOST_SIZE_MAX + 16];
	const char *slash = to != NULL ? strrchr(to, '/') : NULL;
	uint32_t shard = 0;
	if (slash == NULL || (size_t)(slash - to) >= sizeof(node) ||
	    parse_u32(slash + 1, 0, HF_SLOT_OWNERS_MAX - 1, &shard) != 0)
		return say(c, EXIT_USAGE, "needs --to NODE/SHARD (e.g. 127.0.0.1:7070/1)");
	memcpy(node, to, (size_t)(slash - to));
	node[slash - to] = '\0';
	uint32_t mi = 0;
	int rc = member_by_addr(c, node, &mi);
	if (rc == -1)
		return say(c, EXIT_REFUSED, "%s is not a member of cluster '%s'", node,
			   c->o->cluster);
	if (rc != 0)
		return rc;
	const struct hf_cluster_member *m = &c->st->members[mi];
	if (shard >= m->shards_count)
		return say(c, EXIT_REFUSED, "node %s has %u shards: no shard %u", node,
			   m->shards_count, shard);
	*owner_out = owner_index(&work_map, m->host, (uint16_t)(m->port + shard));
	HF_ASSERT(*owner_out >= 0);
	return 0;
}

static int cmd_move_slot(struct ctx *c, int argc, char **argv)
{
	struct cmd_args a;
	uint32_t slot = 0;
	int to = -1;
	int rc = args_parse(c, argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.pos_count != 1 || a.by != NULL || a.max_moves != NULL)
		return say(c, EXIT_USAGE, "needs SLOT --to NODE/SHARD");
	if (parse_u32(a.pos[0], 0, HF_SLOTS_COUNT - 1, &slot) != 0)
		return say(c, EXIT_USAGE, "SLOT '%s' is not in 0..%u", a.pos[0],
			   HF_SLOTS_COUNT - 1);
	if ((rc = load_state(c, 1)) != 0 || (rc = build_work_map(c)) != 0 ||
	    (rc = parse_target(c, a.to, &to)) != 0)
		return rc;
	memset(&plan, 0, sizeof(plan));
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		plan.load_before[work_map.slot_owner[s]]++;
	memcpy(plan.load_after, plan.load_before, sizeof(plan.load_after));
	uint16_t from = work_map.slot_owner[slot];
	if (from != to) {
		plan.moves[plan.moves_count++] =
		    (struct hf_plan_move){.slot = (uint16_t)slot, .from = from, .to = (uint16_t)to};
		plan.load_after[from]--;
		plan.load_after[to]++;
	}
	return plan_outcome(c, &work_map, HF_PLAN_BY_SLOTS, &a);
}

/* ---- cluster fix ---- */

/* What fix did with one record: 0 resolved, 1 left, or -(exit status) when etcd failed. */
static int fix_one(struct ctx *c, const struct hf_cluster_move *mv, json_t *report)
{
	enum hf_move_fix_action done = HF_MOVE_FIX_ROLLED_BACK;
	run = (struct move_run){.c = c, .stop_after = -1};
	int rc =
	    hf_move_fix(c->etcd, c->o->cluster, mv->slot, &engine, &done, c->err, sizeof(c->err));
	const char *action;
	if (rc == 0 || rc == -ENOENT)
		action = rc == -ENOENT			   ? "gone (fixed meanwhile)"
			 : done == HF_MOVE_FIX_ROLLED_BACK ? "rolled back"
							   : "rolled forward";
	else if (rc == -EOPNOTSUPP)
		action = "left: needs the engine's move opcodes";
	else if (rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH || rc == -EIO ||
		 rc == -ESTALE || rc == -EPROTO || rc == -EACCES || rc == -ECONNRESET)
		action = "left: a node did not do its step (is it up?); run fix again";
	else if (rc == -EPROTO)
		action = "left: the map and the phase disagree; needs an operator";
	else if (rc == -EAGAIN)
		action = "left: the cluster changed; run fix again";
	else
		return -say(c, EXIT_USAGE, "no answer from etcd: %s", c->err);
	json_array_append_new(report,
			      json_pack("{s:I, s:s, s:s}", "slot", (json_int_t)mv->slot, "phase",
					hf_move_phase_name(mv->phase), "action", action));
	if (!c->o->json)
		printf("  slot %u (%s): %s\n", (unsigned)mv->slot, hf_move_phase_name(mv->phase),
		       action);
	if (rc != 0 && rc != -ENOENT)
		fprintf(stderr, "holdfast: cluster fix: %s\n", c->err);
	return rc == 0 || rc == -ENOENT ? 0 : 1;
}

static int cmd_fix(struct ctx *c, int argc, char **argv)
{
	struct cmd_args a;
	int rc = args_parse(c, argc, argv, &a);
	if (rc == 0)
		rc = no_flags(c, &a, 0);
	if (rc != 0)
		return rc;
	if (a.pos_count != 0)
		return say(c, EXIT_USAGE, "takes no arguments");
	if ((rc = load_state(c, 1)) != 0)
		return rc;
	static struct hf_cluster_move moves[HF_CLUSTER_MOVES_MAX];
	uint32_t count = c->st->moves_count;
	memcpy(moves, c->st->moves, count * sizeof(moves[0]));
	json_t *report = json_array();
	uint32_t left = 0;
	if (!c->o->json)
		printf("cluster %s: %u moves in progress\n", c->o->cluster, count);
	for (uint32_t i = 0; i < count; i++) {
		rc = fix_one(c, &moves[i], report);
		if (rc < 0) {
			json_decref(report);
			return -rc;
		}
		left += (uint32_t)rc;
	}
	if (c->o->json)
		json_print(json_pack("{s:o}", "moves", report));
	else
		json_decref(report);
	return left == 0 ? EXIT_OK : EXIT_REFUSED;
}

/* ---- Dispatch ---- */

int hf_cli_cluster_is_command(const char *cmd)
{
	return strcmp(cmd, "cluster") == 0 || strcmp(cmd, "rebalance") == 0 ||
	       strcmp(cmd, "move-slot") == 0;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int hf_cli_cluster_main(const struct hf_cli_cluster_opts *opts, const char *cmd, int argc,
			char **argv)
{
	HF_ASSERT(hf_cli_cluster_is_command(cmd));
	static char what[32];
	struct ctx c = {.o = opts, .what = cmd};
	if (wants_help(argc, argv)) {
		fputs(hf_cli_cluster_usage, stdout);
		return EXIT_OK;
	}
	int (*fn)(struct ctx *, int, char **) = NULL;
	if (strcmp(cmd, "rebalance") == 0) {
		fn = cmd_rebalance;
	} else if (strcmp(cmd, "move-slot") == 0) {
		fn = cmd_move_slot;
	} else if (argc >= 1) {
		static const struct {
			const char *name;
			int (*fn)(struct ctx *, int, char **);
		} subs[] = {{"create", cmd_create},
			    {"add", cmd_add},
			    {"remove", cmd_remove},
			    {"info", cmd_info},
			    {"fix", cmd_fix}};
		for (size_t i = 0; i < HF_ARRAY_SIZE(subs) && fn == NULL; i++)
			if (strcmp(argv[0], subs[i].name) == 0)
				fn = subs[i].fn;
		if (fn != NULL) {
			snprintf(what, sizeof(what), "cluster %s", argv[0]);
			c.what = what;
			argc--;
			argv++;
		}
	}
	if (fn == NULL)
		return say(&c, EXIT_USAGE, "needs create, add, remove, info or fix");
	int rc = connect_etcd(&c);
	if (rc == 0)
		rc = fn(&c, argc, argv);
	hf_etcd_destroy(c.etcd);
	free(c.st);
	return rc;
}
