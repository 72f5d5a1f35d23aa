/* Goal: a holdfastd started with --etcd registers itself (a node key under a lease that vanishes
 * when the node dies), the map written by `holdfast cluster create` reaches every node's control
 * thread, the cluster commands behave as client/cli_cluster.c says (re-runs change nothing,
 * plans only plan, fix rolls back what it can), the node keeps serving while etcd is down and
 * registers again when it returns; the --etcd/--cluster flags and the node id file are checked.
 * Method: one private etcd (etcd_proc.c) and real holdfastd processes (tests/engine/harness.c) on
 * free loopback ports; the holdfast CLI run as a child with its stdout captured; every wait is a
 * polled condition with a deadline. */
#include "cluster/state.h"
#include "engine/config.h"
#include "engine/control.h"
#include "tests/cluster/etcd_proc.h"
#include "tests/engine/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS		   15000u
#define CLI_TIMEOUT_MS	   30000u
#define CLI_OUT_SIZE	   (256u * 1024u)
#define LEASE_GONE_WAIT_MS (HF_CONTROL_LEASE_TTL_S * 1000u + 10000u)

static struct etcd_proc ep;
static const char *cli_path;
static char cli_out[CLI_OUT_SIZE];
static struct hf_cluster_state *st;

static int group_setup(void **state)
{
	(void)state;
	st = calloc(1, sizeof(*st));
	return st != NULL && etcd_start(&ep) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_stop(&ep);
	free(st);
	return 0;
}

/* Runs the CLI with --etcd and --cluster prepended; stdout goes to cli_out. Returns its exit
 * status (bounded: killed after CLI_TIMEOUT_MS). */
static int run_cli(const char *cluster, const char *const *args)
{
	const char *argv[32] = {cli_path, "--etcd", ep.url, "--cluster", cluster};
	int n = 5;
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int rc = etcd_run_cli(argv, cli_out, sizeof(cli_out), CLI_TIMEOUT_MS);
	if (rc < 0)
		fail_msg("holdfast %s did not finish within %u ms", args[0], CLI_TIMEOUT_MS);
	return rc;
}

static void start_node(struct hf_srv *srv, uint32_t shards, const char *cluster)
{
	hf_srv_init(srv);
	struct hf_srv_opts o = {.shards = shards,
				.durability = "none",
				.extra = {"--etcd", ep.url, "--cluster", cluster, "--no-pin"}};
	assert_int_equal(hf_srv_start(srv, &o), 0);
}

static int read_state(const char *cluster)
{
	char err[256];
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	int rc = hf_cluster_state_read(e, cluster, st, err, sizeof(err));
	hf_etcd_destroy(e);
	return rc;
}

static void wait_nodes(const char *cluster, uint32_t count)
{
	uint64_t deadline = etcd_mono_ms() + WAIT_MS;
	while (!(read_state(cluster) == 0 && st->nodes_count == count)) {
		if (etcd_mono_ms() > deadline)
			fail_msg("cluster %s: %u nodes registered, not %u, after %u ms", cluster,
				 st->nodes_count, count, WAIT_MS);
		hf_sleep_ms(50);
	}
}

static void wait_log(const struct hf_srv *srv, const char *needle, uint32_t timeout_ms)
{
	uint64_t deadline = etcd_mono_ms() + timeout_ms;
	while (!hf_srv_log_contains(srv, needle)) {
		if (etcd_mono_ms() > deadline)
			fail_msg("'%s' not in %s after %u ms", needle, srv->log_path, timeout_ms);
		hf_sleep_ms(50);
	}
}

/* Occurrences of needle in the server's log. */
static int log_count(const struct hf_srv *srv, const char *needle)
{
	static char text[1 << 20];
	FILE *f = fopen(srv->log_path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	int count = 0;
	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		count++;
	return count;
}

static void put_map(const struct hf_slot_map *map)
{
	char err[256];
	static uint8_t buf[HF_CLUSTER_MAP_SIZE_MAX];
	size_t n = hf_cluster_map_encode(map, buf, sizeof(buf));
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	assert_int_equal(hf_etcd_put(e, "/holdfast/c2/map", buf, n, 0, NULL), 0);
	hf_etcd_destroy(e);
}

static void test_config_flags(void **state)
{
	(void)state;
	static struct hf_engine_config cfg;
	char err[256];
	char url[128];
	snprintf(url, sizeof(url), "--etcd=%s,http://127.0.0.1:1", ep.url);
	char *ok[] = {"holdfastd", url, "--cluster", "c-1"};
	assert_int_equal(hf_engine_config_parse(4, ok, 1, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	assert_string_equal(cfg.cluster, "c-1");
	char *dflt[] = {"holdfastd", url};
	assert_int_equal(hf_engine_config_parse(2, dflt, 1, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	assert_string_equal(cfg.cluster, HF_ENGINE_CLUSTER_DEFAULT);
	char *none[] = {"holdfastd"};
	assert_int_equal(hf_engine_config_parse(1, none, 1, &cfg, err, sizeof(err)), HF_CONFIG_OK);
	assert_string_equal(cfg.etcd_urls, "");
	char *bad[][3] = {{"holdfastd", "--etcd", "127.0.0.1:2379"},
			  {"holdfastd", "--cluster", "c1"},
			  {"holdfastd", "--etcd", "http://a:1,"}};
	for (size_t i = 0; i < 3; i++) {
		err[0] = '\0';
		assert_int_equal(hf_engine_config_parse(3, bad[i], 1, &cfg, err, sizeof(err)),
				 HF_CONFIG_BAD);
		assert_true(err[0] != '\0');
	}
	char *bad_name[] = {"holdfastd", url, "--cluster", "a/b"};
	assert_int_equal(hf_engine_config_parse(4, bad_name, 1, &cfg, err, sizeof(err)),
			 HF_CONFIG_BAD);
}

static void test_node_id(void **state)
{
	(void)state;
	char dir[] = "/tmp/hf-nodeid-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[300], a[HF_CLUSTER_NODE_ID_SIZE_MAX + 1], b[HF_CLUSTER_NODE_ID_SIZE_MAX + 1];
	snprintf(sub, sizeof(sub), "%s/data", dir);
	assert_int_equal(hf_control_node_id(sub, a, sizeof(a)), 0);
	assert_int_equal(strlen(a), HF_CONTROL_NODE_ID_SIZE);
	assert_int_equal(hf_control_node_id(sub, b, sizeof(b)), 0);
	assert_string_equal(a, b); /* stable across starts */
	char path[400];
	snprintf(path, sizeof(path), "%s/" HF_CONTROL_NODE_ID_FILE, sub);
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "bad id!\n", 8), 8);
	close(fd);
	assert_int_equal(hf_control_node_id(sub, b, sizeof(b)), -EINVAL);
	etcd_rm_rf(dir);
}

static struct hf_srv n1, n2, n3;
static char a1[32], a2[32], a3[32];

/* Two nodes, the cluster created over them, the map in both control threads. */
/* The map reached the shards: each installed it, and answers for its own slots only (MOVED with
 * the new epoch for the others). */
static void check_cluster_routing(void)
{
	char line[96];
	snprintf(line, sizeof(line), "slot map epoch %u installed", (unsigned)st->map.epoch);
	wait_log(&n1, line, WAIT_MS);
	wait_log(&n2, line, WAIT_MS);
	uint16_t o2 = UINT16_MAX;
	for (uint16_t o = 0; o < st->map.owners_count; o++) {
		if (st->map.owners[o].port == n2.port)
			o2 = o;
	}
	assert_int_not_equal(o2, UINT16_MAX);
	uint16_t o1 = o2 == 0 ? 1 : 0;
	HF_ASSERT(st->map.owners[o1].port == n1.port || st->map.owners[o1].port == n1.port + 1);
	uint64_t on_n2 = hf_event_owned_by(&st->map, o2, 1000);
	static struct hf_reply rep;
	struct hf_request req;
	int fd = hf_tc_connect(n1.port);
	hf_req_create(&req, 1, on_n2, 10);
	/* Either shard of n1 refuses it: n2 owns its slot now. */
	if (hf_tc_call(fd, &req, &rep) != HF_MOVED)
		fail_msg("node 1 answered %s for an event of node 2", hf_status_name(rep.status));
	assert_int_equal(rep.detail, st->map.epoch);
	close(fd);
	fd = hf_tc_connect(n2.port);
	assert_int_equal(hf_tc_call(fd, &req, &rep), HF_OK);
	uint64_t on_n1 = hf_event_owned_by(&st->map, o1, 1000);
	hf_req_create(&req, 2, on_n1, 10);
	assert_int_equal(hf_tc_call(fd, &req, &rep), HF_MOVED);
	close(fd);
}

static void create_two_nodes(void)
{
	start_node(&n1, 2, "c1");
	start_node(&n2, 1, "c1");
	wait_nodes("c1", 2);
	snprintf(a1, sizeof(a1), "127.0.0.1:%u", (unsigned)n1.port);
	snprintf(a2, sizeof(a2), "127.0.0.1:%u", (unsigned)(n2.port));

	assert_int_equal(run_cli("c1", (const char *[]){"--json", "cluster", "info", NULL}), 1);
	assert_int_equal(
	    run_cli("c1", (const char *[]){"--json", "cluster", "create", a1, a2, NULL}), 0);
	assert_non_null(strstr(cli_out, "\"changed\":true"));
	assert_int_equal(read_state("c1"), 0);
	assert_true(st->has_map);
	assert_int_equal(st->members_count, 2);
	assert_int_equal(st->map.owners_count, 3);
	char line[96];
	snprintf(line, sizeof(line), "cluster map epoch %u received: 3 owners",
		 (unsigned)st->map.epoch);
	wait_log(&n1, line, WAIT_MS);
	wait_log(&n2, line, WAIT_MS);
	check_cluster_routing();
	/* Re-running create changes nothing; another member set is refused. */
	assert_int_equal(
	    run_cli("c1", (const char *[]){"--json", "cluster", "create", a1, a2, NULL}), 0);
	assert_non_null(strstr(cli_out, "\"changed\":false"));
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "create", a1, NULL}), 1);
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "create", NULL}), 2);
	assert_int_equal(run_cli("c1", (const char *[]){"--json", "cluster", "info", NULL}), 0);
	assert_non_null(strstr(cli_out, "\"alive\":true"));
	assert_non_null(strstr(cli_out, "\"shard_slots\":[1366,1365]"));
}

/* Add an empty node; plans only plan; an empty node leaves again. */
static void add_plan_remove(void)
{
	start_node(&n3, 1, "c1");
	wait_nodes("c1", 3);
	snprintf(a3, sizeof(a3), "127.0.0.1:%u", (unsigned)n3.port);
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "add", a3, NULL}), 0);
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "add", a3, NULL}), 0);
	assert_int_equal(run_cli("c1", (const char *[]){"--json", "rebalance", "--dry-run", NULL}),
			 0);
	assert_non_null(strstr(cli_out, "\"moves_planned\":1024"));
	/* Three slots really move to the new node (their data with them: test_moves.c). */
	assert_int_equal(run_cli("c1", (const char *[]){"rebalance", "--max-moves", "3", NULL}), 0);
	assert_non_null(strstr(cli_out, "moves 3/3 done"));
	assert_int_equal(run_cli("c1", (const char *[]){"rebalance", "--by", "bytes", NULL}), 2);
	char to[48];
	snprintf(to, sizeof(to), "%s/0", a3);
	assert_int_equal(run_cli("c1", (const char *[]){"--json", "move-slot", "7", "--to", to,
							"--dry-run", NULL}),
			 0);
	assert_non_null(strstr(cli_out, "\"moves_planned\":1"));
	assert_int_equal(run_cli("c1", (const char *[]){"move-slot", "4096", "--to", to, NULL}), 2);
	assert_int_equal(read_state("c1"), 0);
	uint64_t epoch = st->map.epoch;
	/* Removing it moves its three slots away first. */
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "remove", a3, NULL}), 0);
	assert_non_null(strstr(cli_out, "moves 3/3 done"));
	assert_int_equal(run_cli("c1", (const char *[]){"cluster", "remove", a3, NULL}), 0);
	assert_int_equal(
	    run_cli("c1", (const char *[]){"--json", "cluster", "remove", a2, "--dry-run", NULL}),
	    0);
	assert_non_null(strstr(cli_out, "\"moves_planned\":1365"));
	assert_int_equal(read_state("c1"), 0);
	assert_int_equal(st->members_count, 2);
	assert_true(st->map.epoch > epoch);
	assert_int_equal(st->map.owners_count, 3); /* the removed node's shard left the map */
}

static void test_create_reaches_nodes(void **state)
{
	(void)state;
	create_two_nodes();
	add_plan_remove();
	/* The node's registration goes with its lease when it dies. */
	assert_int_equal(hf_srv_stop(&n3, SIGKILL), 128 + SIGKILL);
	uint64_t deadline = etcd_mono_ms() + LEASE_GONE_WAIT_MS;
	while (!(read_state("c1") == 0 && st->nodes_count == 2)) {
		if (etcd_mono_ms() > deadline)
			fail_msg("a killed node is still registered after %u ms",
				 LEASE_GONE_WAIT_MS);
		hf_sleep_ms(100);
	}
	hf_srv_cleanup(&n1);
	hf_srv_cleanup(&n2);
	hf_srv_cleanup(&n3);
}

static void plant_move(const char *cluster, uint16_t slot, enum hf_move_phase phase)
{
	char err[256], key[HF_CLUSTER_KEY_SIZE_MAX + 1], what[32], value[HF_CLUSTER_JSON_SIZE_MAX];
	struct hf_cluster_move mv = {.slot = slot, .phase = phase, .epoch = st->map.epoch};
	mv.from = st->map.owners[st->map.slot_owner[slot]];
	mv.to = st->map.owners[(st->map.slot_owner[slot] + 1) % st->map.owners_count];
	snprintf(what, sizeof(what), "moves/%04u", (unsigned)slot);
	assert_int_equal(hf_cluster_key(key, sizeof(key), cluster, what), 0);
	size_t n = hf_cluster_move_encode(&mv, value, sizeof(value));
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	assert_int_equal(hf_etcd_put(e, key, (const uint8_t *)value, n, 0, NULL), 0);
	hf_etcd_destroy(e);
}

static void test_fix(void **state)
{
	(void)state;
	static struct hf_srv n1;
	start_node(&n1, 2, "c2");
	wait_nodes("c2", 1);
	char a1[32];
	snprintf(a1, sizeof(a1), "127.0.0.1:%u", (unsigned)n1.port);
	assert_int_equal(run_cli("c2", (const char *[]){"cluster", "create", a1, NULL}), 0);
	assert_int_equal(run_cli("c2", (const char *[]){"cluster", "fix", NULL}), 0);
	assert_int_equal(read_state("c2"), 0);
	plant_move("c2", 10, HF_MOVE_PLANNED);
	plant_move("c2", 11, HF_MOVE_FROZEN);
	assert_int_equal(run_cli("c2", (const char *[]){"--json", "cluster", "info", NULL}), 0);
	assert_non_null(strstr(cli_out, "\"phase\":\"frozen\""));
	/* Both are rolled back: the planned one in etcd only, the frozen one on the nodes too (the
	 * target drops its copy, the source serves again). */
	assert_int_equal(run_cli("c2", (const char *[]){"--json", "cluster", "fix", NULL}), 0);
	assert_non_null(
	    strstr(cli_out, "\"slot\":10,\"phase\":\"planned\",\"action\":\"rolled back\""));
	assert_non_null(
	    strstr(cli_out, "\"slot\":11,\"phase\":\"frozen\",\"action\":\"rolled back\""));
	assert_int_equal(read_state("c2"), 0);
	assert_int_equal(st->moves_count, 0);

	/* Later maps reach the node through the watch; an older epoch never does. */
	static struct hf_slot_map map, old;
	map = st->map;
	old = st->map;
	char line[96];
	snprintf(line, sizeof(line), "cluster map epoch %u received", (unsigned)map.epoch);
	wait_log(&n1, line, WAIT_MS);
	map.epoch += 2;
	map.slot_owner[0] = (uint16_t)(1 - map.slot_owner[0]);
	put_map(&map);
	snprintf(line, sizeof(line), "cluster map epoch %u received", (unsigned)map.epoch);
	wait_log(&n1, line, WAIT_MS);
	old.epoch += 1; /* newer than the first, older than the current */
	put_map(&old);
	map.epoch += 1;
	put_map(&map);
	snprintf(line, sizeof(line), "cluster map epoch %u received", (unsigned)map.epoch);
	wait_log(&n1, line, WAIT_MS);
	snprintf(line, sizeof(line), "cluster map epoch %u received", (unsigned)old.epoch);
	assert_int_equal(log_count(&n1, line), 0);
	hf_srv_cleanup(&n1);
}

static void test_lease_lost(void **state)
{
	(void)state;
	static struct hf_srv n1;
	start_node(&n1, 1, "c4");
	wait_nodes("c4", 1);
	char err[256], key[HF_CLUSTER_KEY_SIZE_MAX + 1], what[64];
	snprintf(what, sizeof(what), "nodes/%s", st->nodes[0].node_id);
	assert_int_equal(hf_cluster_key(key, sizeof(key), "c4", what), 0);
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_get(e, key, &kvs), 0);
	int64_t lease = kvs.kvs[0].lease;
	hf_etcd_kvs_free(&kvs);
	assert_true(lease != 0);
	/* Someone revokes the node's lease: its key goes, and the node registers again. */
	assert_int_equal(hf_etcd_lease_revoke(e, lease), 0);
	hf_etcd_destroy(e);
	wait_log(&n1, "expired: registering again", WAIT_MS);
	wait_nodes("c4", 1);
	assert_int_equal(hf_srv_stop(&n1, SIGTERM), 0);
	/* A clean stop revokes the lease: the registration is gone at once. */
	assert_int_equal(read_state("c4"), 0);
	assert_int_equal(st->nodes_count, 0);
	hf_srv_cleanup(&n1);

	struct hf_control_status status = {0};
	static struct hf_rep_stats stats;
	atomic_store(&status.map_epoch, 7);
	hf_control_stats(&status, &stats);
	hf_control_stats(NULL, &stats);
	assert_int_equal(stats.stats_count, 4);
	assert_string_equal(stats.stats[1].name, "cluster_map_epoch");
	assert_int_equal(stats.stats[1].value, 7);
}

static void test_etcd_outage(void **state)
{
	(void)state;
	static struct hf_srv n1;
	start_node(&n1, 1, "c3");
	wait_nodes("c3", 1);
	etcd_kill(&ep);
	wait_log(&n1, "etcd unreachable", WAIT_MS);
	/* Still serving its own map. */
	int fd = hf_tc_connect(n1.port);
	struct hf_request req;
	struct hf_reply *rep = hf_reply_new();
	hf_req_ping(&req, 1);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	free(rep);
	assert_int_equal(etcd_restart(&ep), 0);
	wait_log(&n1, "etcd reachable again", WAIT_MS + HF_CONTROL_BACKOFF_MS_MAX);
	wait_nodes("c3", 1);
	assert_int_equal(hf_srv_stop(&n1, SIGTERM), 0);
	hf_srv_cleanup(&n1);
}

int main(int argc, char **argv)
{
	etcd_require();
	if (argc < 2 || getenv("HOLDFASTD") == NULL) {
		printf("SKIP: usage: test_cluster_control HOLDFAST_CLI (and $HOLDFASTD)\n");
		return 77;
	}
	cli_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_flags),	 cmocka_unit_test(test_node_id),
	    cmocka_unit_test(test_create_reaches_nodes), cmocka_unit_test(test_fix),
	    cmocka_unit_test(test_etcd_outage),		 cmocka_unit_test(test_lease_lost),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
