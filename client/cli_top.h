/* The holdfast CLI's views over every shard of the slot map (client/cli_top.c): the node grouping
 * and totals that `holdfast stats` prints first, and `holdfast top`, a live refreshing view.
 *
 * A node is the set of slot-map owners with the same host and the same base port (port minus
 * the shard_index a shard reports in STATS); an owner that did not answer is a node of its own. */
#ifndef HF_CLIENT_CLI_TOP_H
#define HF_CLIENT_CLI_TOP_H

#include "proto/proto.h"

#include <stdint.h>
#include <stdio.h>

#define HF_CLI_TOP_INTERVAL_MS_DEFAULT 1000u
#define HF_CLI_TOP_INTERVAL_MS_MIN     100u
#define HF_CLI_TOP_INTERVAL_MS_MAX     60000u
#define HF_CLI_TOP_TIMEOUT_MS_MAX      1000u /* per STATS call: a dead shard costs one refresh this */

/* The node of every owner: node_of[o] in 0 .. return value - 1, numbered in owner order.
 * stats[o] is owner o's STATS, or NULL when it did not answer. Pure. */
uint16_t hf_cli_nodes(const struct hf_slot_map *map, const struct hf_rep_stats *const *stats,
		      uint16_t *node_of);

/* 1 when summing a stat over the shards of a node means something (counters, gauges of
 * things); 0 for identities, enumerations, averages and maxima. */
int hf_cli_stat_is_additive(const char *name);

/* Prints, for every node, its address, the shards that answered and the sum of every additive
 * stat (readable form, the first part of `holdfast stats`). */
void hf_cli_stats_print_totals(FILE *out, const struct hf_slot_map *map,
			       const struct hf_rep_stats *const *stats);

/* `holdfast top [--interval MS] [--iterations N]`: connects to host_port with its own client
 * (timeout per call min(timeout_ms, HF_CLI_TOP_TIMEOUT_MS_MAX), no retries), then redraws every
 * interval until `q`, SIGINT/SIGTERM or N frames. argv holds the command's own arguments.
 * Returns the CLI exit status (0, or 2 for a usage or connection error). */
int hf_cli_top(const char *host_port, uint32_t timeout_ms, int argc, char **argv);

#endif
