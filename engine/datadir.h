/* The data directory of a node, before any shard opens it: creation, the shard-count check that can
 * be done from the file names, and --restore-from (copying checkpoints in).
 *
 * Runs on the main thread at start, before the shard threads exist. System-style returns: 0 or
 * -errno, with a log line that says why. */
#ifndef HF_ENGINE_DATADIR_H
#define HF_ENGINE_DATADIR_H

#include <stddef.h>
#include <stdint.h>

/* The directory of shard `index` under dir ("<dir>/shard-<index>"). Returns 0, or -ENAMETOOLONG. */
int hf_datadir_shard_path(const char *dir, uint32_t index, char *buf, size_t cap);

/* Creates path and its missing parents (mode 0755). Returns 0, or -errno (-ENOTDIR when path exists
 * and is not a directory). Safe to race with another thread creating the same path. */
int hf_datadir_mkdir_p(const char *path);

/* 0 when the absolute `path` lies in root_real (a canonical directory, as realpath gives it) or is
 * root_real itself: no "." or ".." component, and its deepest existing ancestor, symlinks
 * resolved, is inside root_real (a symlink out of the root is refused). -EACCES otherwise, or the
 * -errno of a lookup that failed for another reason than a missing component. Touches nothing. */
int hf_datadir_check_under(const char *root_real, const char *path);

/* Creates data_dir when missing and refuses (-EEXIST, logged) when it holds a shard-<k> directory
 * with k >= shards_count: the data was written by a node with more shards. */
int hf_datadir_prepare(const char *data_dir, uint32_t shards_count);

/* Creates data_dir when missing and copies from_dir/shard-<i> (i < shards_count, each a checkpoint)
 * into data_dir/shard-<i>. Refuses
 * (-EEXIST) when data_dir already holds a shard-* entry unless force, in which case every existing
 * shard-* entry is removed first; refuses (-ENOENT / -EINVAL) when from_dir lacks a shard or holds
 * more shards than shards_count. Each shard is copied into a temporary name and renamed, so a shard
 * directory is either absent or complete. */
int hf_datadir_restore(const char *data_dir, const char *from_dir, uint32_t shards_count,
		       int force);

#endif
