/* A private single-member etcd for the cluster tests: a fresh data directory under /tmp, client and
 * peer ports on 127.0.0.1 found by binding port 0, started with fork/exec, waited for until it
 * answers a range (bounded), and stopped by its pid (SIGTERM, then SIGKILL) with its directory
 * removed. */
#ifndef HF_TESTS_CLUSTER_ETCD_PROC_H
#define HF_TESTS_CLUSTER_ETCD_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ETCD_START_TIMEOUT_MS 20000u
#define ETCD_STOP_TIMEOUT_MS  10000u

struct etcd_proc {
	pid_t pid;
	uint16_t client_port;
	uint16_t peer_port;
	char url[64];  /* "http://127.0.0.1:<client_port>" */
	char dir[256]; /* temporary directory: data dir and log */
};

/* Exits the program with 77 (skip) when no etcd binary is installed. */
void etcd_require(void);

/* Starts etcd and waits until it serves. Returns 0, or -1 after printing why. */
int etcd_start(struct etcd_proc *ep);

/* Stops it (SIGTERM, bounded) but keeps its directory and ports, for etcd_restart. */
void etcd_kill(struct etcd_proc *ep);
/* Starts it again on the same ports and data. Returns 0, or -1 after printing why. */
int etcd_restart(struct etcd_proc *ep);

/* Stops it (bounded) and removes its directory. Safe to call twice. */
void etcd_stop(struct etcd_proc *ep);

/* A free TCP port on 127.0.0.1 (bound to 0 and released). */
uint16_t etcd_free_port(void);

/* Monotonic milliseconds. */
uint64_t etcd_mono_ms(void);

/* Removes a directory tree (best effort). */
void etcd_rm_rf(const char *path);

/* Runs argv (argv[0] the program's path, NULL-terminated) with its stdout in out (at most
 * out_size - 1 bytes, NUL-terminated). Returns the exit status (128 + signal when killed), or -1
 * when it did not finish within timeout_ms (it is then killed). */
int etcd_run_cli(const char *const *argv, char *out, size_t out_size, uint32_t timeout_ms);

#endif
