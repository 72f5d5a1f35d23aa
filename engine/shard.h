/* A shard of holdfastd: one thread, one io_uring, one listening port, one seat store, one RocksDB.
 *
 * main.c creates one struct hf_shard per shard, starts a thread per shard, and on that thread calls
 * hf_shard_open then hf_shard_run. The shard runs until the stop eventfd becomes readable, then
 * finishes its current batch (commit + send), gives pending replies a bounded time to leave, closes
 * everything and returns. System-style returns: 0 or -errno, with a log line that says why. */
#ifndef HF_ENGINE_SHARD_H
#define HF_ENGINE_SHARD_H

#include "engine/config.h"
#include "shards/slotmap.h"

#include <stdint.h>

struct hf_shard;

/* Allocates shard `index` and its bounded pools (connections, lists, change list). cfg must outlive
 * the shard; wake_fd is an eventfd the shard polls to learn that it must stop (not owned). Any
 * thread. Returns 0 or -ENOMEM. */
int hf_shard_create(uint32_t index, const struct hf_engine_config *cfg, int wake_fd,
		    struct hf_shard **out);

/* On the shard's own thread: sets up the ring and buffer ring, binds port + index, opens the
 * shard's RocksDB, checks the shard count and loads the slot map from its metadata, rebuilds the
 * store from disk, and only then listens (so a successful connect means the shard is serving).
 * Returns 0 or -errno. */
int hf_shard_open(struct hf_shard *s);

/* On the shard's thread, after hf_shard_open: the event loop, until stopped. Returns 0 after a
 * clean stop, -errno when the loop cannot go on. */
int hf_shard_run(struct hf_shard *s);

/* Hands the shard a newer slot map (the cluster's, from the control thread). Any thread: the map is
 * copied into the shard's mailbox and the shard is woken; it installs the newest map it was given
 * when its epoch is higher than its own, answers MOVED for the slots it no longer owns, and
 * persists the map. Returns 0, or -EINVAL for a map that does not validate. */
int hf_shard_post_map(struct hf_shard *s, const struct hf_slot_map *map);

/* Closes everything the shard holds (any thread, once its thread is done). NULL is a no-op. */
void hf_shard_destroy(struct hf_shard *s);

#endif
