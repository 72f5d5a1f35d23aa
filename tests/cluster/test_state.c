/* Goal: the cluster state's encodings round-trip and reject damaged values, and every change is
 * one txn that applies only on the state it was computed from (a stale base writes nothing).
 * Method: pure encode/decode checks (map, member, move, group), then a private etcd: read a
 * missing cluster, create it, change it from a fresh and from a stale base, plant undecodable
 * values, and read it back each time. */
#include "cluster/state.h"
#include "tests/cluster/etcd_proc.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct etcd_proc ep;
static struct hf_cluster_state *st;
static struct hf_cluster_state *st2;

static int group_setup(void **state)
{
	(void)state;
	st = calloc(1, sizeof(*st));
	st2 = calloc(1, sizeof(*st2));
	if (st == NULL || st2 == NULL)
		return -1;
	return etcd_start(&ep) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_stop(&ep);
	free(st);
	free(st2);
	return 0;
}

static struct hf_etcd *client(void)
{
	char err[256];
	struct hf_etcd *e = NULL;
	assert_int_equal(hf_etcd_create(ep.url, 0, &e, err, sizeof(err)), 0);
	return e;
}

/* Two owners on 127.0.0.1:base and base+1, slots alternating. */
static void two_owner_map(struct hf_slot_map *map, uint16_t base, uint64_t epoch)
{
	memset(map, 0, sizeof(*map));
	map->epoch = epoch;
	map->owners_count = 2;
	for (int i = 0; i < 2; i++) {
		strcpy(map->owners[i].host, "127.0.0.1");
		map->owners[i].port = (uint16_t)(base + i);
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		map->slot_owner[s] = (uint16_t)(s % 2);
}

static void test_names_and_keys(void **state)
{
	(void)state;
	assert_int_equal(hf_cluster_name_check("prod-1.eu_w", HF_CLUSTER_NAME_SIZE_MAX), 0);
	assert_int_equal(hf_cluster_name_check("", HF_CLUSTER_NAME_SIZE_MAX), -EINVAL);
	assert_int_equal(hf_cluster_name_check("a/b", HF_CLUSTER_NAME_SIZE_MAX), -EINVAL);
	assert_int_equal(hf_cluster_name_check("a b", HF_CLUSTER_NAME_SIZE_MAX), -EINVAL);
	char longname[HF_CLUSTER_NAME_SIZE_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(hf_cluster_name_check(longname, HF_CLUSTER_NAME_SIZE_MAX), -EINVAL);
	longname[HF_CLUSTER_NAME_SIZE_MAX] = '\0';
	assert_int_equal(hf_cluster_name_check(longname, HF_CLUSTER_NAME_SIZE_MAX), 0);
	char key[HF_CLUSTER_KEY_SIZE_MAX + 1];
	assert_int_equal(hf_cluster_key(key, sizeof(key), "c1", "members/n1"), 0);
	assert_string_equal(key, "/holdfast/c1/members/n1");
	assert_int_equal(hf_cluster_key(key, 10, "c1", "members/n1"), -ENAMETOOLONG);
}

static void test_map_encoding(void **state)
{
	(void)state;
	static struct hf_slot_map map, back;
	static uint8_t buf[HF_CLUSTER_MAP_SIZE_MAX];
	two_owner_map(&map, 7000, 3);
	size_t n = hf_cluster_map_encode(&map, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(hf_cluster_map_decode(buf, n, &back), 0);
	assert_int_equal(back.epoch, 3);
	assert_memory_equal(back.slot_owner, map.slot_owner, sizeof(map.slot_owner));
	assert_int_equal(hf_cluster_map_encode(&map, buf, 10), 0);
	/* Truncated, one byte more, a slot past the owners, duplicate owners: all refused. */
	n = hf_cluster_map_encode(&map, buf, sizeof(buf));
	assert_int_equal(hf_cluster_map_decode(buf, n - 1, &back), -EPROTO);
	assert_int_equal(hf_cluster_map_decode(buf, n + 1, &back), -EPROTO);
	assert_int_equal(hf_cluster_map_decode(buf, 3, &back), -EPROTO);
	map.slot_owner[17] = 2;
	assert_int_equal(hf_cluster_map_check(&map), -EPROTO);
	map.slot_owner[17] = 1;
	map.owners[1].port = map.owners[0].port;
	assert_int_equal(hf_cluster_map_check(&map), -EPROTO);
	map.owners[1].port = 7001;
	map.epoch = 0;
	assert_int_equal(hf_cluster_map_check(&map), -EPROTO);
}

static void test_value_encodings(void **state)
{
	(void)state;
	char buf[HF_CLUSTER_JSON_SIZE_MAX];
	struct hf_cluster_member m = {.node_id = "n1",
				      .host = "10.0.0.5",
				      .port = 7070,
				      .shards_count = 4},
				 mb;
	size_t n = hf_cluster_member_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(hf_cluster_member_decode((uint8_t *)buf, n, &mb), 0);
	assert_string_equal(mb.node_id, "n1");
	assert_string_equal(mb.host, "10.0.0.5");
	assert_int_equal(mb.port, 7070);
	assert_int_equal(mb.shards_count, 4);
	static const char *const bad_members[] = {
	    "",
	    "[]",
	    "{\"node_id\":\"n1\",\"host\":\"h\",\"port\":7070}",
	    "{\"node_id\":\"n/1\",\"host\":\"h\",\"port\":7070,\"shards\":1}",
	    "{\"node_id\":\"n1\",\"host\":\"h\",\"port\":65535,\"shards\":2}",
	    "{\"node_id\":\"n1\",\"host\":\"\",\"port\":1,\"shards\":1}",
	    "{\"node_id\":\"n1\",\"host\":\"h\",\"port\":1,\"shards\":0}",
	    "{\"node_id\":\"n1\",\"node_id\":\"n2\",\"host\":\"h\",\"port\":1,\"shards\":1}",
	};
	for (size_t i = 0; i < HF_ARRAY_SIZE(bad_members); i++)
		assert_int_equal(hf_cluster_member_decode((const uint8_t *)bad_members[i],
							  strlen(bad_members[i]), &mb),
				 -EPROTO);

	struct hf_cluster_move mv = {.slot = 4095,
				     .from = {"127.0.0.1", 7000},
				     .to = {"127.0.0.2", 7001},
				     .phase = HF_MOVE_FROZEN,
				     .epoch = 9},
			       mvb;
	n = hf_cluster_move_encode(&mv, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(hf_cluster_move_decode((uint8_t *)buf, n, &mvb), 0);
	assert_int_equal(mvb.slot, 4095);
	assert_int_equal(mvb.phase, HF_MOVE_FROZEN);
	assert_string_equal(mvb.to.host, "127.0.0.2");
	assert_int_equal(mvb.from.port, 7000);
	const char *bad_move =
	    "{\"slot\":4096,\"from\":{\"host\":\"h\",\"port\":1},\"to\":{\"host\":"
	    "\"h\",\"port\":2},\"phase\":\"planned\",\"epoch\":1}";
	assert_int_equal(hf_cluster_move_decode((const uint8_t *)bad_move, strlen(bad_move), &mvb),
			 -EPROTO);
	const char *bad_phase = "{\"slot\":1,\"from\":{\"host\":\"h\",\"port\":1},\"to\":{\"host\":"
				"\"h\",\"port\":2},\"phase\":\"done\",\"epoch\":1}";
	assert_int_equal(
	    hf_cluster_move_decode((const uint8_t *)bad_phase, strlen(bad_phase), &mvb), -EPROTO);

	const char *group =
	    "{\"group\":\"g0\",\"primary\":\"n1/0\",\"replicas\":[\"n2/0\",\"n3/0\"],"
	    "\"in_sync\":[\"n3/0\"],\"leader_lease\":\"77\"}";
	struct hf_cluster_group g;
	assert_int_equal(hf_cluster_group_decode((const uint8_t *)group, strlen(group), &g),
			 -EPROTO); /* the lease is a number, not a string */
	group = "{\"group\":\"g0\",\"primary\":\"n1/0\",\"replicas\":[\"n2/0\",\"n3/0\"],"
		"\"in_sync\":[\"n3/0\"],\"leader_lease\":77}";
	assert_int_equal(hf_cluster_group_decode((const uint8_t *)group, strlen(group), &g), 0);
	assert_int_equal(g.replicas_count, 2);
	assert_int_equal(g.in_sync_mask, 2);
	assert_int_equal(g.leader_lease, 77);
}

static void test_create(void **state)
{
	(void)state;
	struct hf_etcd *e = client();
	char err[256];
	int applied = -1;
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_false(st->has_map);

	static struct hf_slot_map map;
	two_owner_map(&map, 7000, 1);
	struct hf_cluster_member m1 = {
	    .node_id = "n1", .host = "127.0.0.1", .port = 7000, .shards_count = 2};
	struct hf_cluster_change ch = {.map = &map, .members_put = {&m1}, .members_put_count = 1};
	assert_int_equal(hf_cluster_commit(e, "c1", st, &ch, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	/* The same create from the same (empty) base: the cluster exists now, nothing written. */
	assert_int_equal(hf_cluster_commit(e, "c1", st, &ch, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);

	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_true(st->has_map);
	assert_int_equal(st->map.epoch, 1);
	assert_int_equal(st->members_count, 1);
	assert_string_equal(st->members[0].node_id, "n1");
	struct hf_slot_owner o = {"127.0.0.1", 7001};
	uint32_t shard = 99;
	assert_int_equal(hf_cluster_member_of(st, &o, &shard), 0);
	assert_int_equal(shard, 1);
	o.port = 7002;
	assert_int_equal(hf_cluster_member_of(st, &o, &shard), -1);
	hf_etcd_destroy(e);
}

/* On the cluster test_create made: moves, the flip, stale bases, a node's registration. */
static void test_moves_and_flip(void **state)
{
	(void)state;
	struct hf_etcd *e = client();
	char err[256];
	int applied = -1;
	static struct hf_slot_map map;
	struct hf_cluster_member m1 = {
	    .node_id = "n1", .host = "127.0.0.1", .port = 7000, .shards_count = 2};
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	/* Two operators read the same state; the first change wins, the second writes nothing. */
	memcpy(st2, st, sizeof(*st));
	struct hf_cluster_move mv = {.slot = 5,
				     .from = {"127.0.0.1", 7001},
				     .to = {"127.0.0.1", 7000},
				     .phase = HF_MOVE_PLANNED,
				     .epoch = 1};
	struct hf_cluster_change ch2 = {.moves_put = {&mv}, .moves_put_count = 1};
	assert_int_equal(hf_cluster_commit(e, "c1", st, &ch2, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(hf_cluster_commit(e, "c1", st2, &ch2, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0); /* the record exists now */

	/* The flip: the map with epoch + 1 and the record's phase, in one txn. */
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_int_equal(st->moves_count, 1);
	map = st->map;
	map.epoch++;
	map.slot_owner[5] = 0;
	mv.phase = HF_MOVE_FLIPPED;
	struct hf_cluster_change flip = {.map = &map, .moves_put = {&mv}, .moves_put_count = 1};
	memcpy(st2, st, sizeof(*st));
	assert_int_equal(hf_cluster_commit(e, "c1", st, &flip, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	struct hf_cluster_change done = {.moves_delete = {5}, .moves_delete_count = 1};
	assert_int_equal(hf_cluster_commit(e, "c1", st2, &done, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0); /* stale: computed before the flip */
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_int_equal(st->map.epoch, 2);
	assert_int_equal(st->map.slot_owner[5], 0);
	assert_int_equal(st->moves[0].phase, HF_MOVE_FLIPPED);
	assert_int_equal(hf_cluster_commit(e, "c1", st, &done, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_int_equal(st->moves_count, 0);

	/* A node's own registration shows under nodes/, not members/. */
	struct hf_cluster_member node = m1;
	node.epoch = 2;
	assert_int_equal(hf_cluster_node_register(e, "c1", &node, 0, err, sizeof(err)), 0);
	assert_int_equal(hf_cluster_state_read(e, "c1", st, err, sizeof(err)), 0);
	assert_int_equal(st->nodes_count, 1);
	assert_int_equal(st->nodes[0].epoch, 2);
	assert_int_equal(st->members_count, 1);
	hf_etcd_destroy(e);
}

static void test_damaged_state(void **state)
{
	(void)state;
	struct hf_etcd *e = client();
	char err[256] = "";
	assert_int_equal(hf_etcd_put(e, "/holdfast/c2/map", (const uint8_t *)"junk", 4, 0, NULL),
			 0);
	assert_int_equal(hf_cluster_state_read(e, "c2", st, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "/holdfast/c2/map"));
	assert_int_equal(hf_etcd_delete(e, "/holdfast/c2/", 1, NULL), 0);
	/* A member filed under another id than its own. */
	const char *m = "{\"node_id\":\"n9\",\"host\":\"h\",\"port\":1,\"shards\":1}";
	assert_int_equal(
	    hf_etcd_put(e, "/holdfast/c2/members/n1", (const uint8_t *)m, strlen(m), 0, NULL), 0);
	assert_int_equal(hf_cluster_state_read(e, "c2", st, err, sizeof(err)), -EPROTO);
	/* Unknown kinds of keys are left alone (a later version's). */
	assert_int_equal(hf_etcd_delete(e, "/holdfast/c2/", 1, NULL), 0);
	assert_int_equal(hf_etcd_put(e, "/holdfast/c2/future/x", (const uint8_t *)"?", 1, 0, NULL),
			 0);
	assert_int_equal(hf_cluster_state_read(e, "c2", st, err, sizeof(err)), 0);
	assert_false(st->has_map);
	assert_int_equal(hf_cluster_state_read(e, "bad/name", st, err, sizeof(err)), -EINVAL);
	hf_etcd_destroy(e);
}

/* The bounds of a read: more moves than HF_CLUSTER_MOVES_MAX, more keys than one range returns. */
static void test_read_bounds(void **state)
{
	(void)state;
	struct hf_etcd *e = client();
	char err[256] = "";
	char key[64], value[HF_CLUSTER_JSON_SIZE_MAX];
	static char keys[HF_ETCD_TXN_OPS_MAX][64];
	for (uint32_t i = 0; i <= HF_CLUSTER_MOVES_MAX; i++) {
		struct hf_cluster_move mv = {.slot = (uint16_t)i,
					     .from = {"h", 1},
					     .to = {"h", 2},
					     .phase = HF_MOVE_PLANNED,
					     .epoch = 1};
		size_t n = hf_cluster_move_encode(&mv, value, sizeof(value));
		snprintf(key, sizeof(key), "/holdfast/c3/moves/%04u", i);
		assert_int_equal(hf_etcd_put(e, key, (uint8_t *)value, n, 0, NULL), 0);
	}
	assert_int_equal(hf_cluster_state_read(e, "c3", st, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "moves/"));

	/* 1152 keys in 9 txns of 128 puts: a range returns HF_ETCD_RANGE_KVS_MAX and says more. */
	static struct hf_etcd_txn txn;
	for (uint32_t t = 0; t < 9; t++) {
		memset(&txn, 0, sizeof(txn));
		for (uint32_t i = 0; i < HF_ETCD_TXN_OPS_MAX; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/holdfast/c4/future/%05u",
				 t * HF_ETCD_TXN_OPS_MAX + i);
			txn.then[i] = (struct hf_etcd_op){.kind = HF_ETCD_OP_PUT,
							  .key = keys[i],
							  .value = (const uint8_t *)"x",
							  .value_size = 1};
		}
		txn.then_count = HF_ETCD_TXN_OPS_MAX;
		int ok = 0;
		assert_int_equal(hf_etcd_txn(e, &txn, &ok, NULL), 0);
		assert_true(ok);
	}
	struct hf_etcd_kvs kvs;
	assert_int_equal(hf_etcd_range(e, "/holdfast/c4/", 1, &kvs), 0);
	assert_int_equal(kvs.count, HF_ETCD_RANGE_KVS_MAX);
	assert_true(kvs.more);
	hf_etcd_kvs_free(&kvs);
	assert_int_equal(hf_cluster_state_read(e, "c4", st, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "more than"));
	hf_etcd_destroy(e);
}

int main(void)
{
	etcd_require();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_keys),  cmocka_unit_test(test_map_encoding),
	    cmocka_unit_test(test_value_encodings), cmocka_unit_test(test_create),
	    cmocka_unit_test(test_moves_and_flip),  cmocka_unit_test(test_damaged_state),
	    cmocka_unit_test(test_read_bounds),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
