/* A tiny fake holdfast server for the client tests: one thread, N "shards" each on its own loopback
 * port, speaking the real protocol through proto's encoders and decoders.
 *
 * Each request goes to a handler that chooses the answer (reply, drop, close the connection), so a
 * test can script MOVED, BUSY, lost replies and broken connections deterministically. The default
 * handler answers like a well-behaved shard of the current slot map (MOVED for slots it does not
 * own, simple OK answers otherwise). Every request received is logged (shard, ids, a hash of its
 * bytes). */
#ifndef HF_TESTS_CLIENT_FAKE_SERVER_H
#define HF_TESTS_CLIENT_FAKE_SERVER_H

#include "proto/proto.h"

#include <stdint.h>

#define FAKE_SHARDS_MAX 4u
#define FAKE_CONNS_MAX	64u
#define FAKE_LOG_MAX	(256u * 1024u)

enum fake_action {
	FAKE_REPLY = 0,	  /* send *rep */
	FAKE_DROP = 1,	  /* send nothing */
	FAKE_CLOSE = 2,	  /* close the connection without answering (and drop what follows it) */
	FAKE_GARBAGE = 3, /* send a frame header with a bad magic, then close */
};

struct fake_server;

/* Called on the server thread for every decoded request. `seen` is how many times this request id
 * arrived before (0 the first time). rep->opcode and request_id are preset. */
typedef enum fake_action (*fake_handler_fn)(struct fake_server *s, void *arg, uint32_t shard,
					    const struct hf_request *req, uint32_t seen,
					    struct hf_reply *rep);

struct fake_log_entry {
	uint32_t shard;
	uint8_t opcode;
	uint64_t request_id;
	uint64_t event_id;
	uint64_t hold_id;    /* HOLD, EXTEND, CONFIRM, RELEASE, CANCEL */
	uint64_t frame_hash; /* FNV-1a of the whole frame */
	uint32_t frame_size;
};

/* Starts shards_count shards on free loopback ports, with a map of the given epoch where slot s
 * belongs to shard s % shards_count. fn may be NULL for the default handler. */
struct fake_server *fake_server_start(uint32_t shards_count, fake_handler_fn fn, void *arg);
void fake_server_stop(struct fake_server *s);

uint16_t fake_server_port(const struct fake_server *s, uint32_t shard);
/* "127.0.0.1:<port of shard>" into buf. */
void fake_server_addr(const struct fake_server *s, uint32_t shard, char *buf, size_t size);

/* Replaces the map every shard serves and answers MOVED by: slot s belongs to owner_of(s). */
void fake_server_set_map(struct fake_server *s, uint64_t epoch, uint32_t divisor);
/* The current map's owner of an event. */
uint32_t fake_server_owner_of(struct fake_server *s, uint64_t event_id);
uint64_t fake_server_epoch(struct fake_server *s);

/* The default answer of a well-behaved shard. */
enum fake_action fake_default_handler(struct fake_server *s, void *arg, uint32_t shard,
				      const struct hf_request *req, uint32_t seen,
				      struct hf_reply *rep);

/* A copy of the log (under the server's lock). Returns the count copied (at most max). */
uint32_t fake_server_log(struct fake_server *s, struct fake_log_entry *out, uint32_t max);
uint32_t fake_server_log_count(struct fake_server *s);
/* Requests of one opcode received (all shards). */
uint32_t fake_server_count_opcode(struct fake_server *s, uint8_t opcode);
/* Connections accepted so far. */
uint32_t fake_server_accepts(struct fake_server *s);

#endif
