/* The cluster commands of the holdfast CLI (cli_cluster.c), kept out of cli.c and linked only into
 * the holdfast binary together with the cluster module (libcurl, jansson), never into libholdfast:
 *
 *   holdfast --etcd URL[,URL...] [--cluster NAME] cluster create NODE...
 *   holdfast --etcd URL cluster add NODE | cluster remove NODE [--dry-run] | cluster info
 *   holdfast --etcd URL rebalance [--by slots|seats|ops] [--dry-run] [--max-moves N]
 *   holdfast --etcd URL move-slot SLOT --to NODE/SHARD [--dry-run]
 *   holdfast --etcd URL cluster fix
 *
 * Exit status as for every holdfast command: 0 done, 1 refused, 2 usage error or no answer. */
#ifndef HF_CLIENT_CLI_CLUSTER_H
#define HF_CLIENT_CLI_CLUSTER_H

#include <stdint.h>

#define HF_CLI_CLUSTER_DEFAULT "default" /* --cluster when not given (holdfastd's too) */

struct hf_cli_cluster_opts {
	const char *etcd_urls; /* --etcd; NULL when not given */
	const char *cluster;   /* --cluster */
	int json;
	uint32_t timeout_ms; /* per etcd call and per node request */
};

/* 1 when cmd is one of the cluster commands ("cluster", "rebalance", "move-slot"). */
int hf_cli_cluster_is_command(const char *cmd);

/* Runs one cluster command (argv holds its arguments, after the command word). Returns the exit
 * status. */
int hf_cli_cluster_main(const struct hf_cli_cluster_opts *opts, const char *cmd, int argc,
			char **argv);

/* The usage lines of the cluster commands, for `holdfast --help`. */
extern const char hf_cli_cluster_usage[];

#endif
