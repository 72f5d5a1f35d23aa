/* Persistence of one shard in RocksDB.
 *
 * Each shard has its own RocksDB instance in <data_dir>/shard-<index>. The store produces
 * ready-made records (shards/store.h, struct hf_changes); hf_persist_commit writes one loop
 * iteration's records as one WriteBatch (group commit) and, in fsync mode, syncs the WAL before
 * returning, so the engine may then answer every op of the batch. On start hf_persist_load feeds
 * every record back into a fresh store. persist.c is the only file of the project that includes
 * <rocksdb/c.h>.
 *
 * Node metadata (the slot map, the shard count) lives in the same instance under keys that start
 * with eight zero bytes (event id 0 is never valid, so no event record can collide).
 *
 * Thread-safety: a struct hf_persist belongs to its shard thread. System-style returns: 0 or
 * -errno. */
#ifndef HF_SHARDS_PERSIST_H
#define HF_SHARDS_PERSIST_H

#include "shards/store.h"

#include <stddef.h>
#include <stdint.h>

enum hf_durability {
	HF_DURABILITY_NONE = 0,	 /* memory only: nothing is written; a restart starts empty */
	HF_DURABILITY_WAL = 1,	 /* written to the WAL before the reply, not synced */
	HF_DURABILITY_FSYNC = 2, /* written and synced before the reply (default) */
};

/* Parses "none", "wal" or "fsync". Returns 0 or -EINVAL. */
int hf_durability_parse(const char *name, enum hf_durability *out);
const char *hf_durability_name(enum hf_durability durability);

struct hf_persist;

/* Opens (creating if missing) the instance in `dir`. With HF_DURABILITY_NONE no directory is
 * touched and every call below succeeds doing nothing. Returns 0, or -errno with a log line saying
 * why. */
int hf_persist_open(const char *dir, enum hf_durability durability, struct hf_persist **out);
void hf_persist_close(struct hf_persist *persist);

/* Writes all of `changes` as one batch (synced in fsync mode). Returns 0, or -EIO when RocksDB
 * refused (logged; nothing of the batch is durable and the caller must roll its store back, see
 * engine). An empty list returns 0 and writes nothing. After RocksDB refused a write, every later
 * commit, meta put and checkpoint answers -EIO without touching the disk (RocksDB itself stops
 * writing after a WAL error) until hf_persist_load reopens the instance. */
int hf_persist_commit(struct hf_persist *persist, const struct hf_changes *changes);

/* 1 when commits can be written (always in none mode); 0 after a write error until a reopen
 * succeeded (hf_persist_load reopens; when only a read-only open works, the load still succeeds and
 * this stays 0). */
int hf_persist_writable(const struct hf_persist *persist);

/* When not writable: tries a writable reopen (the store in memory stays valid: nothing was written
 * meanwhile). Returns 0 when writable now, -EIO when the disk still refuses (the instance is then
 * open read-only again). */
int hf_persist_reopen_writable(struct hf_persist *persist);

struct hf_persist_load_stats {
	uint64_t records_count;
	uint32_t events_count;
	uint32_t holds_count; /* live holds loaded */
	uint32_t bookings_count;
	uint32_t expired_count; /* holds found past their deadline and dropped */
	uint64_t duration_us;
};

/* Feeds every stored record into `store` (empty, freshly created) at now_ms and persists the
 * changes the load itself produced (expired holds). Returns 0, -EIO, -EBADMSG for a record the
 * store could not decode (logged with its key: the shard then refuses to start rather than guess),
 * or -ENOSPC when the store's limits are too small for what is stored (logged). After a failed
 * write it first closes and reopens the instance, so it reads exactly what is on disk and writes
 * work again if the disk does (-EIO when the reopen fails; a later load tries again). */
int hf_persist_load(struct hf_persist *persist, struct hf_store *store, uint64_t now_ms,
		    struct hf_persist_load_stats *out);

/* Node metadata: small named blobs (name: 1..32 bytes, value: up to 64 KiB). get returns the
 * value's size (may be larger than cap: then nothing is copied), -ENOENT, or -EIO. */
int hf_persist_meta_put(struct hf_persist *persist, const char *name, const void *value,
			size_t value_size);
int hf_persist_meta_get(struct hf_persist *persist, const char *name, void *value, size_t cap);

/* Writes a consistent checkpoint of the instance into `dir` (which must not exist yet). Returns 0
 * or -errno. */
int hf_persist_checkpoint(struct hf_persist *persist, const char *dir);

/* The sequence number of the last write RocksDB accepted (0 in none mode). Read right after
 * hf_persist_checkpoint on the shard thread, it is the checkpoint's sequence (BACKUP's reply). */
uint64_t hf_persist_sequence(const struct hf_persist *persist);

/* Appends persistence counters to a STATS reply ("persist_commits", "persist_errors", ...). */
void hf_persist_stats(const struct hf_persist *persist, struct hf_rep_stats *stats);

/* Test hook (HOLDFAST_SYNC_DELAY_MS): every commit that writes something takes delay_ms longer,
 * inside the timed part, as if the device synced slowly. */
void hf_persist_set_sync_delay(struct hf_persist *persist, uint32_t delay_ms);

/* Test hook: the next `count` commits fail with -EIO as if the disk had refused them. */
void hf_persist_fail_next_commits(struct hf_persist *persist, uint32_t count);

#endif
