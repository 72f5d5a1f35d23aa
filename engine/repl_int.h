/* Internals of replication, shared by repl.c (primary side, setup, stats), repl_replica.c (the
 * replica's shard-thread side) and repl_follow.c (the replica's follow thread). Nothing else
 * includes this header.
 *
 * The follow thread and the shard share only struct repl_follow's inbox (a single-producer
 * single-consumer ring of frame buffers, allocated at start), its eventfds and a few atomic words;
 * everything in struct hf_repl outside `follow` belongs to the shard thread. */
#ifndef HF_ENGINE_REPL_INT_H
#define HF_ENGINE_REPL_INT_H

#include "engine/repl.h"
#include "engine/shard_int.h"
#include "shards/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define REPL_HEARTBEAT_MS 250u /* follow thread: an ACK at least this often while streaming */

/* A replica's stream on the primary.
 *
 * STATES:
 *   (free) --hf_repl_attach--> SNAPSHOT --repl_snapshot_step (last chunk)--> CATCHUP
 *   CATCHUP --repl_on_ack (acked >= snap_seq)--> IN_SYNC
 *   any --repl_sub_drop (connection gone, timeout, failed batch)--> (free) */
enum repl_sub_state {
	REPL_SUB_FREE = 0,
	REPL_SUB_SNAPSHOT = 1,
	REPL_SUB_CATCHUP = 2,
	REPL_SUB_IN_SYNC = 3,
};

struct repl_sub {
	uint8_t state; /* enum repl_sub_state */
	uint32_t conn; /* connection index and generation */
	uint32_t gen;
	uint64_t replica_id;
	uint64_t request_id; /* the SUBSCRIBE's: every pushed frame echoes it */
	uint64_t acked_seq;  /* the replica holds every batch <= this durable */
	uint64_t snap_seq;   /* the snapshot's end: the replica has batches <= this once acked */
	uint64_t ack_mono_ms;
	struct hf_store_snapshot cursor;
};

/* One inbox slot: a whole REPL_BATCH frame, and how far the shard has applied it. */
struct repl_slot {
	uint8_t *frame; /* HF_FRAME_SIZE_MAX bytes, allocated at start */
	uint32_t size;
	uint64_t session; /* the follow thread's connection number the frame came on */
	uint32_t applied; /* shard only: records already applied (a frame may span batches) */
	uint32_t offset;  /* shard only: body offset of the next record */
};

/* The replica's follow thread and what it shares with the shard. */
struct repl_follow {
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port;
	uint64_t replica_id;
	uint32_t shard_index;
	pthread_t thread;
	int started;
	int stop_fd;	       /* shard -> thread: stop */
	int space_fd;	       /* shard -> thread: an inbox slot was freed */
	int inbox_fd;	       /* thread -> shard: a frame is in */
	int ack_fd;	       /* shard -> thread: the ack word moved */
	_Atomic uint32_t head; /* next slot the shard pops */
	_Atomic uint32_t tail; /* next slot the thread fills */
	struct repl_slot slots[HF_REPL_INBOX_FRAMES];
	/* Shard -> thread: the acknowledged primary batch, session << 48 | seq. */
	_Atomic uint64_t ack_word;
	_Atomic uint64_t epoch; /* shard -> thread: the highest epoch seen (SUBSCRIBE sends it) */
	_Atomic int restart;	/* shard -> thread: drop the stream and subscribe again */
	_Atomic int stop;	/* shard -> thread: end (with stop_fd) */
	_Atomic uint64_t connects;
	_Atomic int streaming; /* thread -> STATS: a stream is open */
	uint64_t session;      /* thread only */
	uint16_t refused;      /* thread only: the last refusal logged (logged once per status) */
	uint16_t token_size;   /* --replica-token-file's token (0: none), sent as AUTH first */
	uint8_t token[HF_AUTH_TOKEN_SIZE_MAX];
};

HF_STATIC_ASSERT((HF_REPL_INBOX_FRAMES & (HF_REPL_INBOX_FRAMES - 1u)) == 0,
		 "the inbox index wraps with a mask");
HF_STATIC_ASSERT(HF_RECORD_KEY_SIZE_MAX == HF_REPL_KEY_SIZE_MAX, "one key limit, two names");
HF_STATIC_ASSERT(HF_RECORD_VALUE_SIZE_MAX == HF_REPL_VALUE_SIZE_MAX, "one value limit");

#define REPL_ACK_SEQ_MASK ((1ull << 48) - 1u)

struct hf_repl {
	uint8_t replica; /* 1: this shard follows a primary (--replica-of) */
	enum hf_repl_mode mode;
	uint64_t stream_id;  /* random per start: a replica sees a restarted primary */
	uint64_t epoch_hook; /* HOLDFAST_REPL_EPOCH (a test hook), 0 when unset */
	/* Primary side. */
	struct repl_sub subs[HF_REPL_REPLICAS_MAX];
	struct hf_changes snap; /* one snapshot frame's records */
	uint8_t *frame;		/* HF_FRAME_SIZE_MAX: a batch frame being encoded */
	uint8_t reply[HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_REPLY_BODY_SIZE];
	uint64_t gate_seq; /* the batch the gate last held back, and since when */
	uint64_t gate_since_ms;
	/* Replica side. */
	struct repl_follow *follow;
	uint64_t inbox_count;	   /* read buffer of the inbox eventfd */
	uint64_t epoch_seen;	   /* highest epoch of an applied frame (persisted) */
	uint64_t session;	   /* the follow session of the last snapshot begun */
	uint8_t in_snapshot;	   /* between SNAP_BEGIN and SNAP_END: apply errors are expected */
	uint64_t stream_seq;	   /* the last primary batch complete in the store */
	uint64_t applied_mono_ms;  /* when the last frame was applied (0: never) */
	struct hf_changes scratch; /* changes the store's own transitions write during replay */
	uint64_t ack_of[HF_SHARD_BATCHES_MAX];	    /* local batch -> primary batch it completes */
	uint64_t ack_session[HF_SHARD_BATCHES_MAX]; /* ... and in which session */
	/* Counters. */
	uint64_t batches_streamed;
	uint64_t snapshots_sent;
	uint64_t replicas_dropped;
	uint64_t gate_waits; /* batches that waited for a replica's ack */
	uint64_t frames_applied;
	uint64_t records_applied;
	uint64_t records_skipped; /* refused by the store during a snapshot (fixed by later ones) */
	uint64_t frames_fenced;	  /* refused: lower epoch */
	uint64_t snapshots_received;
	uint64_t divergences; /* a record refused outside a snapshot: resubscribed */
};

/* repl_replica.c: REPL_PROMOTE (the reply in r->reply; returns its size). */
uint32_t repl_promote(struct hf_shard *s, const struct hf_frame_header *header, const uint8_t *body,
		      uint64_t *wait_seq_out);

/* repl_follow.c */
int repl_follow_start(struct repl_follow *f);
void repl_follow_stop(struct repl_follow *f);
void repl_follow_signal(int fd);

#endif
