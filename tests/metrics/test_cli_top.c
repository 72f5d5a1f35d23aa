/* Goal: the CLI's node grouping and totals (client/cli_top.c) put owners with one host and one
 * base port in one node, keep an owner that did not answer apart, and sum only the stats whose
 * sum means something.
 * Method: build slot maps by hand: one node of 2 shards, two nodes on one host (base ports 7070
 * and 8080), a node whose second shard did not answer; check hf_cli_nodes, then the totals
 * hf_cli_stats_print_totals writes into a memory stream. */
#include "client/cli_top.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hf_slot_map map;
static struct hf_rep_stats st[4];

static void owner(uint16_t o, const char *host, uint16_t port, uint64_t shard_index,
		  uint64_t ops_hold)
{
	snprintf(map.owners[o].host, sizeof(map.owners[o].host), "%s", host);
	map.owners[o].port = port;
	st[o].stats_count = 0;
	hf_stats_add(&st[o], "shard_index", shard_index);
	hf_stats_add(&st[o], "ops_hold", ops_hold);
	hf_stats_add(&st[o], "uptime_ms", 1000 + o);
	hf_stats_add(&st[o], "persist_commit_us_max", 50 + o);
}

static void test_grouping(void **state)
{
	(void)state;
	memset(&map, 0, sizeof(map));
	map.owners_count = 4;
	owner(0, "10.0.0.1", 7070, 0, 1);
	owner(1, "10.0.0.1", 7071, 1, 2);
	owner(2, "10.0.0.1", 8080, 0, 4);
	owner(3, "10.0.0.2", 7071, 1, 8);
	const struct hf_rep_stats *all[4] = {&st[0], &st[1], &st[2], &st[3]};
	uint16_t node_of[4];
	assert_int_equal(hf_cli_nodes(&map, all, node_of), 3);
	assert_int_equal(node_of[0], 0);
	assert_int_equal(node_of[1], 0);
	assert_int_equal(node_of[2], 1);
	assert_int_equal(node_of[3], 2);
	/* The valid case that becomes invalid: shard 1 of the first node stops answering. */
	all[1] = NULL;
	assert_int_equal(hf_cli_nodes(&map, all, node_of), 4);
	assert_int_equal(node_of[1], 1);
	assert_int_equal(node_of[2], 2);
}

static void test_totals(void **state)
{
	(void)state;
	memset(&map, 0, sizeof(map));
	map.owners_count = 2;
	owner(0, "127.0.0.1", 7070, 0, 10);
	owner(1, "127.0.0.1", 7071, 1, 32);
	const struct hf_rep_stats *all[2] = {&st[0], &st[1]};
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	assert_non_null(f);
	hf_cli_stats_print_totals(f, &map, all);
	fclose(f);
	assert_non_null(strstr(buf, "node 127.0.0.1:7070: 2 of 2 shards answered\n"));
	assert_non_null(strstr(buf, "  ops_hold"));
	assert_non_null(strstr(buf, " 42\n"));
	/* Identities, times and maxima are not summed. */
	assert_null(strstr(buf, "shard_index"));
	assert_null(strstr(buf, "uptime_ms"));
	assert_null(strstr(buf, "persist_commit_us_max"));
	free(buf);
	assert_int_equal(hf_cli_stat_is_additive("ops_hold"), 1);
	assert_int_equal(hf_cli_stat_is_additive("store_free"), 1);
	assert_int_equal(hf_cli_stat_is_additive("ring_mode"), 0);
	assert_int_equal(hf_cli_stat_is_additive("batch_ops_avg"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grouping),
	    cmocka_unit_test(test_totals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
