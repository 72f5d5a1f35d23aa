/* Persistence of one shard in RocksDB: group commits, recovery, node metadata and checkpoints.
 *
 * The seat store (shards/store.c) owns the record format and hands us ready-made key/value records
 * in a struct hf_changes; this file only moves them between that list and one RocksDB instance per
 * shard. hf_persist_commit writes one loop iteration's records as one WriteBatch, which RocksDB
 * applies atomically: after any crash the database holds a prefix of the sequence of batches, never
 * part of one. hf_persist_load walks every record key in order and feeds it to hf_store_load. This
 * is the only file of the project that includes <rocksdb/c.h>; every RocksDB error string is
 * checked, logged and freed here and becomes a -errno, never a crash.
 *
 * INVARIANTS
 *   1. durability == HF_DURABILITY_NONE  <=>  no RocksDB object at all. In the other modes the
 *      option objects and the batch always exist, and db is NULL only after a failed reopen (then
 *      write_failed is 1).
 *   2. batch is empty between calls: hf_persist_commit clears it before filling and after writing.
 *   3. A commit either writes its whole batch or nothing (RocksDB WriteBatch atomicity); when it
 *      returns -EIO the caller must treat none of it as durable.
 *   4. Meta keys are 8 zero bytes + name (1..32 bytes). Record keys start with be64(event_id)
 *      and event ids are never 0, so the two never collide and every meta key sorts before
 *      every record key: load starts at be64(1) and never sees a meta key.
 *   5. commit_us_max <= commit_us_sum; the counters only grow.
 *   6. Once RocksDB refused a write (write_failed), nothing is written through the open instance
 *      again: RocksDB 7.8 itself stops accepting writes after a WAL error, and touching a file
 *      writer that saw an error trips an assertion inside librocksdb (Debian builds it with its
 *      asserts on). hf_persist_load reopens the instance (reopen_db), which clears it.
 *
 * Thread-safety: a struct hf_persist belongs to its shard thread (RocksDB's own background threads
 * flush and compact behind it). */
#include "shards/persist.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"

#include <rocksdb/c.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

/* Meta records: name and value bounds (persist.h), and the zero prefix that marks them. */
#define HF_PERSIST_META_PREFIX_SIZE    8u
#define HF_PERSIST_META_NAME_SIZE_MAX  32u
#define HF_PERSIST_META_VALUE_SIZE_MAX (64u * 1024u)
/* Changes one load flush carries: expired holds found during recovery are committed in batches of
 * at most this many records (values: HF_PERSIST_LOAD_CHANGES_MAX * 512 bytes = 512 KiB). */
#define HF_PERSIST_LOAD_CHANGES_MAX 1024u
/* Bytes of a key shown in hex in a log line; longer (garbage) keys are cut. */
#define HF_PERSIST_LOG_KEY_SIZE_MAX 32u
/* RocksDB tuning, see open_options(). */
#define HF_PERSIST_WRITE_BUFFER_SIZE   (32u * 1024u * 1024u)
#define HF_PERSIST_OPEN_FILES_MAX      512
#define HF_PERSIST_BACKGROUND_JOBS_MAX 2
#define HF_PERSIST_INFO_LOG_FILES_MAX  4u
#define HF_PERSIST_INFO_LOG_SIZE_MAX   (16u * 1024u * 1024u)
#define HF_PERSIST_INFO_LOG_LEVEL      4 /* RocksDB's FATAL_LEVEL: see open_options() */
/* Free bytes the data directory's file system needs before an instance is closed and reopened
 * after a write error: an open writes the LOG header, a MANIFEST and a new WAL, and Debian's
 * librocksdb aborts the process when its LOG writer fails twice (see reopen_has_room). */
#define HF_PERSIST_REOPEN_FREE_MIN     (1024u * 1024u)
#define HF_PERSIST_LOAD_READAHEAD_SIZE (2u * 1024u * 1024u)

HF_STATIC_ASSERT(HF_PERSIST_META_PREFIX_SIZE + HF_PERSIST_META_NAME_SIZE_MAX <= 64u,
		 "a meta key fits the stack key buffer");
HF_STATIC_ASSERT(HF_PERSIST_LOAD_CHANGES_MAX >= HF_OP_CHANGES_MAX,
		 "the load change list holds at least one record's changes");

struct hf_persist {
	enum hf_durability durability;
	char *dir; /* copy of the open path, for log lines; NULL in none mode */

	rocksdb_t *db;
	rocksdb_options_t *options;
	/* The mode's write options (synced in fsync mode, not in wal mode), and the options of meta
	 * writes, always synced: metadata is rare and precious. */
	rocksdb_writeoptions_t *write_options;
	rocksdb_writeoptions_t *meta_write_options;
	rocksdb_readoptions_t *read_options; /* point reads (meta get) */
	rocksdb_writebatch_t *batch;	     /* reused by every commit; empty between calls */

	uint32_t fail_commits_count; /* test hook: commits still to fail with -EIO */
	uint32_t sync_delay_ms;	     /* test hook: added to every commit that writes */
	int write_failed;	     /* 1 after RocksDB refused a write (INVARIANTS 6) */
	int read_only;		     /* db was opened read-only (a writable reopen failed) */

	/* Counters for STATS, since open. */
	uint64_t commits_count; /* batches accepted (every mode) */
	uint64_t records_count; /* changes in those batches */
	uint64_t bytes_count;	/* bytes of those batches as written to the WAL (0 in none mode) */
	uint64_t errors_count;	/* commits that failed (RocksDB or the test hook) */
	uint64_t commit_us_sum; /* wall time inside rocksdb_write, µs */
	uint64_t commit_us_max;
};

int hf_durability_parse(const char *name, enum hf_durability *out)
{
	HF_ASSERT(out != NULL);
	if (name == NULL)
		return -EINVAL;
	if (strcmp(name, "none") == 0)
		*out = HF_DURABILITY_NONE;
	else if (strcmp(name, "wal") == 0)
		*out = HF_DURABILITY_WAL;
	else if (strcmp(name, "fsync") == 0)
		*out = HF_DURABILITY_FSYNC;
	else
		return -EINVAL;
	return 0;
}

const char *hf_durability_name(enum hf_durability durability)
{
	switch (durability) {
	case HF_DURABILITY_NONE:
		return "none";
	case HF_DURABILITY_WAL:
		return "wal";
	case HF_DURABILITY_FSYNC:
		return "fsync";
	}
	return "unknown";
}

/* Formats up to HF_PERSIST_LOG_KEY_SIZE_MAX bytes of key as hex into buf (NUL-terminated, "..."
 * appended when cut). */
static void format_key_hex(const uint8_t *key, size_t key_size, char *buf, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	HF_ASSERT(cap >= HF_PERSIST_LOG_KEY_SIZE_MAX * 2u + 4u);
	size_t shown =
	    key_size < HF_PERSIST_LOG_KEY_SIZE_MAX ? key_size : HF_PERSIST_LOG_KEY_SIZE_MAX;
	size_t n = 0;
	for (size_t i = 0; i < shown; i++) {
		buf[n++] = digits[key[i] >> 4];
		buf[n++] = digits[key[i] & 0xfu];
	}
	if (shown < key_size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	HF_ASSERT(n < cap);
}

/* Logs a RocksDB error string (NULL only if RocksDB broke its contract) and frees it. */
static void log_rocksdb_error(const struct hf_persist *persist, const char *what, char *err)
{
	hf_log_error("persist %s: %s failed: %s", persist->dir != NULL ? persist->dir : "-", what,
		     err != NULL ? err : "(no message)");
	rocksdb_free(err);
}

/* Options for a shard's instance. The workload: many small records (< 600 bytes) written in group
 * commits, point reads almost never (the store lives in memory; RocksDB is read once, at start, by
 * one ordered scan), deletes of ended holds. */
static rocksdb_options_t *open_options(int compression)
{
	rocksdb_options_t *options = rocksdb_options_create();
	HF_ASSERT(options != NULL);
	rocksdb_options_set_create_if_missing(options, 1);
	rocksdb_options_set_paranoid_checks(options, 1);
	/* Recovery replays the WAL written since the last memtable flush; a modest memtable bounds
	 * both that replay and the memory of a shard (a node runs one instance per core). */
	rocksdb_options_set_write_buffer_size(options, HF_PERSIST_WRITE_BUFFER_SIZE);
	rocksdb_options_set_max_open_files(options, HF_PERSIST_OPEN_FILES_MAX);
	/* Flushes and compactions share the machine with the shard threads: keep them few. */
	rocksdb_options_set_max_background_jobs(options, HF_PERSIST_BACKGROUND_JOBS_MAX);
	/* LZ4 is cheap enough for the background threads and the records (seat lists, zero padding)
	 * compress; open_db falls back to none when the library was built without it. */
	rocksdb_options_set_compression(options, compression);
	/* Point-in-time recovery (RocksDB's default, set here so it is a decision, not an
	 * accident). After a crash the WAL may end in a torn record: the batch being written when
	 * the process or the kernel died. That batch was never acknowledged in fsync mode (the
	 * reply waits for the synced write), so replaying up to the last intact record and stopping
	 * there is exactly right, and since each batch is atomic the result is a prefix of the
	 * batch sequence: a state the store really was in. kAbsoluteConsistency would refuse to
	 * start after every power loss (a torn tail is the normal outcome of one);
	 * kSkipAnyCorruptedRecords would replay batches after a hole and could rebuild a state that
	 * never existed (a confirm without its hold, a seat sold twice);
	 * kTolerateCorruptedTailRecords is RocksDB's legacy mode. The price: a checksum failure in
	 * the middle of a WAL (media corruption) silently drops the later batches; RocksDB's LOG in
	 * the shard dir records it. */
	rocksdb_options_set_wal_recovery_mode(options, 2);
	rocksdb_options_set_keep_log_file_num(options, HF_PERSIST_INFO_LOG_FILES_MAX);
	rocksdb_options_set_max_log_file_size(options, HF_PERSIST_INFO_LOG_SIZE_MAX);
	/* RocksDB's own LOG keeps its header and fatal lines only. On a full disk RocksDB logs the
	 * WAL error to the LOG on that same disk, whose writer already failed, and Debian's
	 * librocksdb (built with its assertions on) aborts the process there. Every RocksDB error
	 * that reaches us is logged by holdfastd itself (log_rocksdb_error). */
	rocksdb_options_set_info_log_level(options, HF_PERSIST_INFO_LOG_LEVEL);
	return options;
}

/* Opens the instance with LZ4, or without compression when this librocksdb lacks LZ4. On success
 * persist->db and persist->options are set. Returns 0 or -EIO (logged). */
static int open_db(struct hf_persist *persist)
{
	static const int compressions[] = {rocksdb_lz4_compression, rocksdb_no_compression};
	for (size_t i = 0; i < HF_ARRAY_SIZE(compressions); i++) {
		char *err = NULL;
		rocksdb_options_t *options = open_options(compressions[i]);
		rocksdb_t *db = rocksdb_open(options, persist->dir, &err);
		if (err == NULL) {
			HF_ASSERT(db != NULL);
			persist->db = db;
			persist->options = options;
			return 0;
		}
		rocksdb_options_destroy(options);
		if (strstr(err, "not linked with the binary") != NULL &&
		    i + 1 < HF_ARRAY_SIZE(compressions)) {
			hf_log_warn(
			    "persist %s: no LZ4 in this librocksdb; opening without compression",
			    persist->dir);
			rocksdb_free(err);
			continue;
		}
		log_rocksdb_error(persist, "open", err);
		return -EIO;
	}
	return -EIO;
}

int hf_persist_open(const char *dir, enum hf_durability durability, struct hf_persist **out)
{
	HF_ASSERT(out != NULL);
	HF_ASSERT(durability == HF_DURABILITY_NONE || durability == HF_DURABILITY_WAL ||
		  durability == HF_DURABILITY_FSYNC);
	*out = NULL;
	struct hf_persist *persist = calloc(1, sizeof(*persist));
	if (persist == NULL)
		return -ENOMEM;
	persist->durability = durability;
	if (durability == HF_DURABILITY_NONE) {
		hf_log_info("persist: durability none: nothing is written, a restart starts empty");
		*out = persist;
		return 0;
	}

	int rc = -ENOMEM;
	if (dir == NULL || dir[0] == '\0') {
		hf_log_error("persist: no directory given for durability %s",
			     hf_durability_name(durability));
		rc = -EINVAL;
		goto err_free;
	}
	persist->dir = strdup(dir);
	if (persist->dir == NULL)
		goto err_free;
	rc = open_db(persist);
	if (rc != 0)
		goto err_free_dir;

	persist->write_options = rocksdb_writeoptions_create();
	persist->meta_write_options = rocksdb_writeoptions_create();
	persist->read_options = rocksdb_readoptions_create();
	persist->batch = rocksdb_writebatch_create();
	HF_ASSERT(persist->write_options != NULL && persist->meta_write_options != NULL);
	HF_ASSERT(persist->read_options != NULL && persist->batch != NULL);
	rocksdb_writeoptions_set_sync(persist->write_options,
				      durability == HF_DURABILITY_FSYNC ? 1 : 0);
	rocksdb_writeoptions_set_sync(persist->meta_write_options, 1);

	hf_log_info("persist %s: open, durability %s, last sequence %llu", persist->dir,
		    hf_durability_name(durability),
		    (unsigned long long)rocksdb_get_latest_sequence_number(persist->db));
	*out = persist;
	return 0;

err_free_dir:
	free(persist->dir);
err_free:
	free(persist);
	return rc;
}

/* Closes the RocksDB instance (not the option objects). */
static void close_db(struct hf_persist *persist)
{
	if (persist->db == NULL)
		return;
	HF_ASSERT(persist->durability != HF_DURABILITY_NONE);
	/* In wal mode the tail of the WAL may still be in the page cache only: sync it, so a clean
	 * shutdown loses nothing even to a later power loss. Never after a failed write: syncing a
	 * file writer that saw an error aborts inside librocksdb (INVARIANTS 6). */
	if (persist->durability == HF_DURABILITY_WAL && !persist->write_failed) {
		char *err = NULL;
		rocksdb_flush_wal(persist->db, 1, &err);
		if (err != NULL)
			log_rocksdb_error(persist, "WAL sync at close", err);
	}
	rocksdb_close(persist->db);
	rocksdb_options_destroy(persist->options);
	persist->db = NULL;
	persist->options = NULL;
}

/* Opens the instance read-only (no file is written: works on a full disk). Returns 0 or -EIO. */
static int open_db_read_only(struct hf_persist *persist)
{
	char *err = NULL;
	rocksdb_options_t *options = open_options(rocksdb_lz4_compression);
	rocksdb_t *db = rocksdb_open_for_read_only(options, persist->dir, 0, &err);
	if (err != NULL) {
		log_rocksdb_error(persist, "open read-only", err);
		rocksdb_options_destroy(options);
		return -EIO;
	}
	HF_ASSERT(db != NULL);
	persist->db = db;
	persist->options = options;
	return 0;
}

/* After a failed write: closes and reopens the instance, so RocksDB replays what is really on
 * disk and writes through fresh files. When a writable open fails too (the disk is still full),
 * opens it read-only: the load shows the durable state and the shard serves reads, while commits
 * keep failing until hf_persist_reopen_writable succeeds. Returns 0 (write_failed cleared, or
 * read_only set) or -EIO (db stays NULL, write_failed stays 1; the next load tries again). */
static int reopen_db(struct hf_persist *persist)
{
	HF_ASSERT(persist->write_failed);
	close_db(persist);
	persist->read_only = 0;
	int rc = open_db(persist);
	if (rc != 0) {
		rc = open_db_read_only(persist);
		if (rc != 0)
			return rc;
		persist->read_only = 1;
		hf_log_warn("persist %s: cannot reopen for writing; opened read-only: reads go on, "
			    "writes answer IO until the disk takes writes again",
			    persist->dir);
		return 0;
	}
	persist->write_failed = 0;
	hf_log_warn("persist %s: reopened after a write error; last sequence %llu", persist->dir,
		    (unsigned long long)rocksdb_get_latest_sequence_number(persist->db));
	return 0;
}

/* 1 when the file system holds room for a reopen. On a full disk RocksDB's open writes its LOG
 * header, fails, writes again and trips an assertion of Debian's librocksdb, so a full disk is
 * waited out with the open handle instead: it still reads (the failed batch never reached the
 * memtable), and only writes are refused. */
static int reopen_has_room(const struct hf_persist *persist)
{
	struct statvfs st;
	if (statvfs(persist->dir, &st) != 0)
		return 1; /* unknown: try, as before */
	uint64_t free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	return free_bytes >= HF_PERSIST_REOPEN_FREE_MIN;
}

int hf_persist_writable(const struct hf_persist *persist)
{
	return persist->durability == HF_DURABILITY_NONE ||
	       (!persist->write_failed && persist->db != NULL);
}

int hf_persist_reopen_writable(struct hf_persist *persist)
{
	if (hf_persist_writable(persist))
		return 0;
	HF_ASSERT(persist->write_failed);
	if (!reopen_has_room(persist))
		return -ENOSPC; /* keep the handle that reads; try again later */
	close_db(persist);
	persist->read_only = 0;
	if (open_db(persist) == 0) {
		persist->write_failed = 0;
		hf_log_warn("persist %s: writable again; last sequence %llu", persist->dir,
			    (unsigned long long)rocksdb_get_latest_sequence_number(persist->db));
		return 0;
	}
	if (open_db_read_only(persist) == 0)
		persist->read_only = 1;
	return -EIO;
}

void hf_persist_close(struct hf_persist *persist)
{
	if (persist == NULL)
		return;
	if (persist->durability != HF_DURABILITY_NONE) {
		close_db(persist);
		rocksdb_writebatch_destroy(persist->batch);
		rocksdb_readoptions_destroy(persist->read_options);
		rocksdb_writeoptions_destroy(persist->meta_write_options);
		rocksdb_writeoptions_destroy(persist->write_options);
	}
	free(persist->dir);
	free(persist);
}

/* The HOLDFAST_SYNC_DELAY_MS hook: one place for every commit that writes (or fails to). */
static void sync_delay(const struct hf_persist *persist)
{
	if (persist->sync_delay_ms == 0)
		return;
	struct timespec ts = {.tv_sec = persist->sync_delay_ms / 1000u,
			      .tv_nsec = (long)(persist->sync_delay_ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int hf_persist_commit(struct hf_persist *persist, const struct hf_changes *changes)
{
	HF_ASSERT(persist != NULL && changes != NULL);
	HF_ASSERT(changes->count <= changes->capacity);
	HF_ASSERT(changes->values_size <= changes->values_capacity);
	if (changes->count == 0)
		return 0;
	if (persist->fail_commits_count > 0) {
		sync_delay(persist); /* a failing slow disk is slow too */
		persist->fail_commits_count--;
		persist->errors_count++;
		hf_log_error("persist %s: commit of %u records failed: injected by the test hook",
			     persist->dir != NULL ? persist->dir : "-", changes->count);
		return -EIO;
	}
	if (persist->durability == HF_DURABILITY_NONE) {
		persist->commits_count++;
		persist->records_count += changes->count;
		return 0;
	}
	if (persist->write_failed) {
		persist->errors_count++;
		hf_log_error("persist %s: commit of %u records refused: an earlier write failed; "
			     "hf_persist_load reopens the instance",
			     persist->dir, changes->count);
		return -EIO;
	}

	HF_ASSERT(rocksdb_writebatch_count(persist->batch) == 0);
	/* In order: a PUT then a DEL of one key in the same batch leaves it deleted. The loop is
	 * bounded by changes->capacity. */
	for (uint32_t i = 0; i < changes->count; i++) {
		const struct hf_change *change = &changes->items[i];
		HF_ASSERT(change->key_size >= 1 && change->key_size <= HF_RECORD_KEY_SIZE_MAX);
		if (change->kind == HF_CHANGE_PUT) {
			HF_ASSERT(change->value_size >= 1 &&
				  change->value_size <= HF_RECORD_VALUE_SIZE_MAX);
			HF_ASSERT((uint64_t)change->value_offset + change->value_size <=
				  changes->values_size);
			rocksdb_writebatch_put(
			    persist->batch, (const char *)change->key, change->key_size,
			    (const char *)hf_change_value(changes, change), change->value_size);
		} else if (change->kind == HF_CHANGE_DEL_RANGE) {
			HF_ASSERT(change->value_size >= 1 &&
				  change->value_size <= HF_RECORD_KEY_SIZE_MAX);
			rocksdb_writebatch_delete_range(
			    persist->batch, (const char *)change->key, change->key_size,
			    (const char *)hf_change_value(changes, change), change->value_size);
		} else {
			HF_ASSERT(change->kind == HF_CHANGE_DEL);
			HF_ASSERT(change->value_size == 0);
			rocksdb_writebatch_delete(persist->batch, (const char *)change->key,
						  change->key_size);
		}
	}
	HF_ASSERT(rocksdb_writebatch_count(persist->batch) == (int)changes->count);
	size_t batch_size = 0;
	rocksdb_writebatch_data(persist->batch, &batch_size);

	char *err = NULL;
	uint64_t start_ns = hf_clock_mono_ns();
	rocksdb_write(persist->db, persist->write_options, persist->batch, &err);
	sync_delay(persist);
	uint64_t took_us = (hf_clock_mono_ns() - start_ns) / 1000u;
	rocksdb_writebatch_clear(persist->batch);
	if (err != NULL) {
		persist->errors_count++;
		persist->write_failed = 1;
		log_rocksdb_error(persist, "commit", err);
		return -EIO;
	}

	persist->commits_count++;
	persist->records_count += changes->count;
	persist->bytes_count += batch_size;
	persist->commit_us_sum += took_us;
	if (took_us > persist->commit_us_max)
		persist->commit_us_max = took_us;
	HF_ASSERT(persist->commit_us_max <= persist->commit_us_sum);
	return 0;
}

/* Maps the store's answer to one stored record to 0 or -errno, logging what it refused. */
static int load_status_to_errno(const struct hf_persist *persist, enum hf_status status,
				const uint8_t *key, size_t key_size)
{
	char key_hex[HF_PERSIST_LOG_KEY_SIZE_MAX * 2u + 4u];
	if (status == HF_OK)
		return 0;
	format_key_hex(key, key_size, key_hex, sizeof(key_hex));
	if (status == HF_ERR_CAPACITY) {
		hf_log_error("persist %s: load: the store is full at key %s: start with larger "
			     "store limits",
			     persist->dir, key_hex);
		return -ENOSPC;
	}
	if (status == HF_ERR_MALFORMED)
		hf_log_error("persist %s: load: record does not decode, key %s (refusing to start "
			     "rather than guess)",
			     persist->dir, key_hex);
	else
		hf_log_error("persist %s: load: the store refused key %s: %s", persist->dir,
			     key_hex, hf_status_name(status));
	return -EBADMSG;
}

/* Walks every record key in order and feeds it to the store; expired holds go out through
 * *changes (committed whenever it fills). Returns 0 or -errno (logged). */
static int load_records(struct hf_persist *persist, struct hf_store *store, uint64_t now_ms,
			struct hf_changes *changes, uint64_t *records_count_out)
{
	/* Meta keys are 8 zero bytes + name; the first record key is be64(1) (INVARIANTS 4). */
	uint8_t lower_bound[8];
	hf_put_be64(lower_bound, 1);
	rocksdb_readoptions_t *read_options = rocksdb_readoptions_create();
	HF_ASSERT(read_options != NULL);
	/* One sequential pass over everything: do not push it through the block cache. */
	rocksdb_readoptions_set_fill_cache(read_options, 0);
	rocksdb_readoptions_set_readahead_size(read_options, HF_PERSIST_LOAD_READAHEAD_SIZE);
	rocksdb_readoptions_set_verify_checksums(read_options, 1);
	rocksdb_readoptions_set_iterate_lower_bound(read_options, (const char *)lower_bound,
						    sizeof(lower_bound));
	/* The iterator reads an implicit snapshot, so the expiries committed below while it runs
	 * are not seen again. */
	rocksdb_iterator_t *iter = rocksdb_create_iterator(persist->db, read_options);
	HF_ASSERT(iter != NULL);

	int rc = 0;
	uint64_t records_count = 0;
	/* Bounded by the records stored; the store answers HF_ERR_CAPACITY before a pool overflows.
	 */
	for (rocksdb_iter_seek_to_first(iter); rocksdb_iter_valid(iter); rocksdb_iter_next(iter)) {
		size_t key_size = 0;
		size_t value_size = 0;
		const uint8_t *key = (const uint8_t *)rocksdb_iter_key(iter, &key_size);
		const uint8_t *value = (const uint8_t *)rocksdb_iter_value(iter, &value_size);
		HF_ASSERT(key_size == 0 ||
			  memcmp(key, lower_bound, key_size < 8 ? key_size : 8) >= 0);
		if (!hf_changes_has_room(changes)) {
			/* Read-only: the expiries found are redone by the next load. */
			rc = persist->read_only ? 0 : hf_persist_commit(persist, changes);
			if (rc != 0)
				goto out;
			hf_changes_reset(changes);
		}
		enum hf_status status =
		    hf_store_load(store, key, key_size, value, value_size, now_ms, changes);
		rc = load_status_to_errno(persist, status, key, key_size);
		if (rc != 0)
			goto out;
		records_count++;
	}
	char *err = NULL;
	rocksdb_iter_get_error(iter, &err);
	if (err != NULL) {
		log_rocksdb_error(persist, "load scan", err);
		rc = -EIO;
		goto out;
	}
	rc = persist->read_only ? 0 : hf_persist_commit(persist, changes);
	hf_changes_reset(changes);

out:
	*records_count_out = records_count;
	rocksdb_iter_destroy(iter);
	rocksdb_readoptions_destroy(read_options);
	return rc;
}

int hf_persist_load(struct hf_persist *persist, struct hf_store *store, uint64_t now_ms,
		    struct hf_persist_load_stats *out)
{
	HF_ASSERT(persist != NULL && store != NULL && out != NULL);
	uint64_t start_us = hf_clock_mono_us();
	memset(out, 0, sizeof(*out));
	struct hf_store_counts before;
	hf_store_counts(store, &before);
	HF_ASSERT(before.events_count == 0 && before.holds_count == 0 &&
		  before.bookings_count == 0);
	if (persist->durability == HF_DURABILITY_NONE)
		return 0;
	if (persist->write_failed && persist->db != NULL && !reopen_has_room(persist)) {
		/* The disk is full: load from the open handle, which still reads and holds exactly
		 * the batches that were written; commits stay refused until a reopen. */
		persist->read_only = 1;
		hf_log_warn("persist %s: the disk is full: loading from the open instance; writes "
			    "answer IO until there is room",
			    persist->dir);
	} else if (persist->write_failed) {
		/* The load must show the durable state, and the expiries it finds must be writable.
		 */
		int rc = reopen_db(persist);
		if (rc != 0)
			return rc;
	}
	HF_ASSERT(persist->db != NULL);

	struct hf_changes changes;
	int rc = hf_changes_init(&changes, HF_PERSIST_LOAD_CHANGES_MAX);
	if (rc != 0)
		return rc;
	uint64_t records_count = 0;
	rc = load_records(persist, store, now_ms, &changes, &records_count);
	hf_changes_deinit(&changes);

	struct hf_store_counts after;
	hf_store_counts(store, &after);
	HF_ASSERT(after.holds_expired_total >= before.holds_expired_total);
	out->records_count = records_count;
	out->events_count = after.events_count;
	out->holds_count = after.holds_count;
	out->bookings_count = after.bookings_count;
	out->expired_count = (uint32_t)(after.holds_expired_total - before.holds_expired_total);
	out->duration_us = hf_clock_mono_us() - start_us;
	if (rc != 0)
		return rc;
	hf_log_info("persist %s: loaded %llu records in %llu ms: %u events, %u holds, %u bookings, "
		    "%u holds expired while down",
		    persist->dir, (unsigned long long)out->records_count,
		    (unsigned long long)(out->duration_us / 1000u), out->events_count,
		    out->holds_count, out->bookings_count, out->expired_count);
	return 0;
}

/* Builds the meta key of name into key (8 zero bytes + name). Returns its size, or 0 for a name out
 * of bounds. */
static size_t meta_key(const char *name, uint8_t *key, size_t cap)
{
	HF_ASSERT(name != NULL);
	size_t name_size = strnlen(name, HF_PERSIST_META_NAME_SIZE_MAX + 1u);
	if (name_size == 0 || name_size > HF_PERSIST_META_NAME_SIZE_MAX)
		return 0;
	HF_ASSERT(cap >= HF_PERSIST_META_PREFIX_SIZE + name_size);
	memset(key, 0, HF_PERSIST_META_PREFIX_SIZE);
	memcpy(key + HF_PERSIST_META_PREFIX_SIZE, name, name_size);
	return HF_PERSIST_META_PREFIX_SIZE + name_size;
}

int hf_persist_meta_put(struct hf_persist *persist, const char *name, const void *value,
			size_t value_size)
{
	HF_ASSERT(persist != NULL);
	HF_ASSERT(value != NULL || value_size == 0);
	uint8_t key[64];
	size_t key_size = meta_key(name, key, sizeof(key));
	if (key_size == 0 || value_size > HF_PERSIST_META_VALUE_SIZE_MAX)
		return -EINVAL;
	if (persist->durability == HF_DURABILITY_NONE)
		return 0;
	if (persist->write_failed) {
		hf_log_error("persist %s: meta put %s refused: an earlier write failed",
			     persist->dir, name);
		return -EIO;
	}
	char *err = NULL;
	rocksdb_put(persist->db, persist->meta_write_options, (const char *)key, key_size,
		    value_size > 0 ? (const char *)value : "", value_size, &err);
	if (err != NULL) {
		persist->write_failed = 1;
		log_rocksdb_error(persist, "meta put", err);
		return -EIO;
	}
	return 0;
}

int hf_persist_meta_get(struct hf_persist *persist, const char *name, void *value, size_t cap)
{
	HF_ASSERT(persist != NULL);
	HF_ASSERT(value != NULL || cap == 0);
	uint8_t key[64];
	size_t key_size = meta_key(name, key, sizeof(key));
	if (key_size == 0)
		return -EINVAL;
	if (persist->durability == HF_DURABILITY_NONE)
		return -ENOENT;
	if (persist->db == NULL)
		return -EIO; /* a reopen after a write error failed */
	char *err = NULL;
	size_t stored_size = 0;
	char *stored = rocksdb_get(persist->db, persist->read_options, (const char *)key, key_size,
				   &stored_size, &err);
	if (err != NULL) {
		HF_ASSERT(stored == NULL);
		log_rocksdb_error(persist, "meta get", err);
		return -EIO;
	}
	if (stored == NULL)
		return -ENOENT;
	/* Only meta_put writes here, and it bounds the size: anything larger is not ours. */
	if (stored_size > HF_PERSIST_META_VALUE_SIZE_MAX) {
		hf_log_error("persist %s: meta %s holds %zu bytes, more than %u: refusing it",
			     persist->dir, name, stored_size, HF_PERSIST_META_VALUE_SIZE_MAX);
		rocksdb_free(stored);
		return -EIO;
	}
	if (stored_size <= cap && stored_size > 0)
		memcpy(value, stored, stored_size);
	rocksdb_free(stored);
	return (int)stored_size;
}

int hf_persist_checkpoint(struct hf_persist *persist, const char *dir)
{
	HF_ASSERT(persist != NULL);
	if (dir == NULL || dir[0] == '\0')
		return -EINVAL;
	if (persist->durability == HF_DURABILITY_NONE)
		return 0;
	if (persist->write_failed) {
		/* The checkpoint flushes the memtable first: a write. */
		hf_log_error("persist %s: checkpoint refused: an earlier write failed",
			     persist->dir);
		return -EIO;
	}
	struct stat st;
	if (lstat(dir, &st) == 0)
		return -EEXIST;
	if (errno != ENOENT) {
		int rc = -errno;
		hf_log_error("persist %s: checkpoint into %s: %s", persist->dir, dir,
			     strerror(-rc));
		return rc;
	}

	char *err = NULL;
	rocksdb_checkpoint_t *checkpoint = rocksdb_checkpoint_object_create(persist->db, &err);
	if (err != NULL) {
		log_rocksdb_error(persist, "checkpoint create", err);
		return -EIO;
	}
	HF_ASSERT(checkpoint != NULL);
	uint64_t start_us = hf_clock_mono_us();
	/* log_size_for_flush 0: flush the memtable first, so the checkpoint is SST files (hard
	 * links where the file system allows) and opens without a WAL replay. */
	rocksdb_checkpoint_create(checkpoint, dir, 0, &err);
	rocksdb_checkpoint_object_destroy(checkpoint);
	if (err != NULL) {
		log_rocksdb_error(persist, "checkpoint", err);
		return -EIO;
	}
	hf_log_info("persist %s: checkpoint into %s at sequence %llu in %llu ms", persist->dir, dir,
		    (unsigned long long)rocksdb_get_latest_sequence_number(persist->db),
		    (unsigned long long)((hf_clock_mono_us() - start_us) / 1000u));
	return 0;
}

uint64_t hf_persist_sequence(const struct hf_persist *persist)
{
	HF_ASSERT(persist != NULL);
	if (persist->db == NULL)
		return 0;
	return rocksdb_get_latest_sequence_number(persist->db);
}

void hf_persist_stats(const struct hf_persist *persist, struct hf_rep_stats *stats)
{
	HF_ASSERT(persist != NULL && stats != NULL);
	HF_ASSERT(persist->commit_us_max <= persist->commit_us_sum);
	/* A full reply drops the rest: STATS is best effort, never a crash. */
	(void)hf_stats_add(stats, "persist_durability", (uint64_t)persist->durability);
	(void)hf_stats_add(stats, "persist_commits", persist->commits_count);
	(void)hf_stats_add(stats, "persist_records", persist->records_count);
	(void)hf_stats_add(stats, "persist_bytes", persist->bytes_count);
	(void)hf_stats_add(stats, "persist_errors", persist->errors_count);
	(void)hf_stats_add(stats, "persist_commit_us_max", persist->commit_us_max);
	(void)hf_stats_add(
	    stats, "persist_commit_us_avg",
	    persist->commits_count > 0 ? persist->commit_us_sum / persist->commits_count : 0);
	(void)hf_stats_add(stats, "persist_read_only", (uint64_t)persist->read_only);
}

void hf_persist_set_sync_delay(struct hf_persist *persist, uint32_t delay_ms)
{
	HF_ASSERT(persist != NULL);
	persist->sync_delay_ms = delay_ms;
}

void hf_persist_fail_next_commits(struct hf_persist *persist, uint32_t count)
{
	HF_ASSERT(persist != NULL);
	persist->fail_commits_count = count;
}
