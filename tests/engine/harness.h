/* Test harness for the engine tests: starts a real holdfastd (path from $HOLDFASTD) on free
 * loopback ports with a temporary data directory, and a small blocking raw-socket client that
 * speaks the wire protocol with proto's encoders and decoders (no client library).
 *
 * Everything here may fail a test through cmocka's assertions; servers are killed at the end of a
 * test by hf_srv_stop / hf_srv_kill and every server run is bounded in time. */
#ifndef HF_TESTS_ENGINE_HARNESS_H
#define HF_TESTS_ENGINE_HARNESS_H

#include "proto/proto.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HF_SRV_ARGS_MAX 24

struct hf_srv {
	pid_t pid;
	uint16_t port;	 /* base port: shard i listens on port + i */
	uint32_t shards; /* --shards */
	char dir[256];	 /* temporary directory of this server (removed by hf_srv_cleanup) */
	char data_dir[PATH_MAX]; /* <dir>/data unless given */
	char log_path[PATH_MAX]; /* the server's stderr */
	int exit_status;	 /* after stop: the exit code, or 128 + signal */
};

struct hf_srv_opts {
	uint32_t shards;		    /* default 1 */
	const char *durability;		    /* default "fsync" */
	const char *extra[HF_SRV_ARGS_MAX]; /* more flags, NULL-terminated */
	const char *fail_commits;	    /* HOLDFAST_FAIL_COMMITS, or NULL */
	const char *fail_commits_after;	    /* HOLDFAST_FAIL_COMMITS_AFTER, or NULL */
	const char *sync_delay_ms;	    /* HOLDFAST_SYNC_DELAY_MS, or NULL */
	const char *batch_changes_max;	    /* HOLDFAST_BATCH_CHANGES_MAX, or NULL */
	int expect_fail;		    /* the server is expected to exit during start-up */
	int no_backup_root;		    /* omit --backup-root (default: the server's dir) */
};

/* Creates the temporary directory of a server (call once per hf_srv). */
void hf_srv_init(struct hf_srv *srv);
/* Starts holdfastd on srv->data_dir; picks free ports on the first start and keeps them for
 * restarts (srv->port != 0). Waits until every shard answers PING. With opts->expect_fail, waits
 * for the exit instead and returns its status. Returns 0 when serving. */
int hf_srv_start(struct hf_srv *srv, const struct hf_srv_opts *opts);
/* Sends sig and waits (bounded) for the exit; returns the exit status (128 + signal if killed). */
int hf_srv_stop(struct hf_srv *srv, int sig);
/* Stops the server if it runs and removes its directory. */
void hf_srv_cleanup(struct hf_srv *srv);
/* Resident memory of the server in KiB, from /proc. */
long hf_srv_rss_kb(const struct hf_srv *srv);
/* 1 when the server's log contains needle. */
int hf_srv_log_contains(const struct hf_srv *srv, const char *needle);
/* 1 while the server process is alive. */
int hf_srv_alive(struct hf_srv *srv);

/* ---- Raw client ---- */
/* Connects to 127.0.0.1:port (blocking, TCP_NODELAY, 10 s receive timeout). Returns the fd. */
int hf_tc_connect(uint16_t port);
void hf_tc_write_all(int fd, const void *buf, size_t size);
/* Encodes and sends one request. */
void hf_tc_send(int fd, const struct hf_request *req);
/* Reads one reply frame. Returns 0 and fills *rep (bitmap pointers point into buf, which must hold
 * HF_FRAME_SIZE_MAX bytes), -1 on EOF or connection error before a whole frame. */
int hf_tc_recv(int fd, struct hf_reply *rep, uint8_t *buf);
/* Sends req and reads its reply (asserting the request id echoes). Returns the reply's status. */
uint16_t hf_tc_call(int fd, const struct hf_request *req, struct hf_reply *rep);
/* hf_tc_call repeated while it answers IO (a shard rebuilding its store after a failed commit
 * answers IO until the rebuild is done), for at most timeout_ms. Returns the last status. */
uint16_t hf_tc_call_past_io(int fd, const struct hf_request *req, struct hf_reply *rep,
			    int timeout_ms);
/* 1 when the peer closed the connection (read returns 0 or an error) within timeout_ms. */
int hf_tc_closed_within(int fd, int timeout_ms);
/* The value of a named stat in a STATS reply, or -1. */
int64_t hf_tc_stat(const struct hf_reply *rep, const char *name);
/* A STATS call on a fresh connection to port; returns the named stat (or -1). */
int64_t hf_tc_stat_of(uint16_t port, const char *name);

/* Request builders (fill *req completely). */
void hf_req_ping(struct hf_request *req, uint64_t id);
void hf_req_create(struct hf_request *req, uint64_t id, uint64_t event_id, uint32_t seats);
void hf_req_info(struct hf_request *req, uint64_t id, uint64_t event_id);
void hf_req_hold(struct hf_request *req, uint64_t id, uint64_t event_id, uint64_t hold_id,
		 uint32_t ttl_ms, uint32_t first_seat, uint32_t seats_count);

/* An event id whose slot the given owner index owns in map (searching from `from`). */
uint64_t hf_event_owned_by(const struct hf_slot_map *map, uint16_t owner, uint64_t from);

/* Monotonic milliseconds, and a sleep. */
uint64_t hf_mono_ms(void);
void hf_sleep_ms(unsigned ms);

/* Allocates a zeroed reply / buffer (they are large: keep them off the stack). */
struct hf_reply *hf_reply_new(void);
uint8_t *hf_frame_buf_new(void);

#endif
