/* A real holdfastd for the client's end-to-end tests: started on free loopback ports with a fresh
 * data directory, waited for until it serves the slot map, and stopped (SIGTERM, then SIGKILL) with
 * its directory removed. Every wait is bounded. */
#ifndef HF_TESTS_CLIENT_SERVER_PROC_H
#define HF_TESTS_CLIENT_SERVER_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SERVER_START_TIMEOUT_MS 30000u
#define SERVER_STOP_TIMEOUT_MS	10000u

struct server_proc {
	pid_t pid;
	uint16_t port; /* shard i listens on port + i */
	uint32_t shards_count;
	char addr[64];	    /* "127.0.0.1:<port>" (shard 0) */
	char data_dir[256]; /* removed by server_stop */
	/* server_start_auth: holdfastd's --auth-file, and the token the readiness check presents.
	 */
	const char *auth_file;
	const char *auth_token;
};

/* Exits the test program with 77 (skip) when exe is missing or not executable. */
void server_require(const char *exe);

/* Starts exe with --shards shards_count --durability durability on free ports. Returns 0, or -1
 * after printing why. */
int server_start(struct server_proc *sp, const char *exe, uint32_t shards_count,
		 const char *durability);

/* server_start with --auth-file auth_file; token is presented by the readiness check. */
int server_start_auth(struct server_proc *sp, const char *exe, uint32_t shards_count,
		      const char *durability, const char *auth_file, const char *token);

void server_stop(struct server_proc *sp);

/* "127.0.0.1:<port + shard>" into buf. */
void server_addr(const struct server_proc *sp, uint32_t shard, char *buf, size_t size);

#endif
