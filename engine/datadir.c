/* The node's data directory before the shards open it (see datadir.h): creation, the shard-count
 * check from file names, and restoring checkpoints by copying them in.
 *
 * A checkpoint is a directory of regular files (RocksDB SST, MANIFEST, OPTIONS, CURRENT, WAL).
 * Copies are byte copies followed by fsync, into "<shard>.restoring" then renamed, so a crash in
 * the middle leaves either no shard directory or a complete one (plus a stray .restoring that the
 * next restore removes). */
#include "engine/datadir.h"

#include "base/assert.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory depth copy_tree follows (a checkpoint is flat; this bounds a hostile tree). */
#define DATADIR_DEPTH_MAX 8
/* Bytes moved per read/write while copying a file. */
#define DATADIR_COPY_CHUNK_SIZE (256u * 1024u)
/* File descriptors nftw may keep open while removing a tree. */
#define DATADIR_NFTW_FDS_MAX 16

int hf_datadir_shard_path(const char *dir, uint32_t index, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/shard-%u", dir, index);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Returns the k of a "shard-<k>" name, or -1 for any other name (including "shard-1.restoring"). */
static long shard_index_of(const char *name)
{
	if (strncmp(name, "shard-", 6) != 0)
		return -1;
	const char *digits = name + 6;
	if (digits[0] < '0' || digits[0] > '9')
		return -1;
	char *end = NULL;
	long k = strtol(digits, &end, 10);
	if (*end != '\0' || k < 0 || k > INT32_MAX)
		return -1;
	return k;
}

int hf_datadir_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int inside_root(const char *root_real, const char *real)
{
	size_t n = strlen(root_real);
	if (n == 1 && root_real[0] == '/')
		return 1;
	return strncmp(real, root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* 1 when a component of path is "." or "..". */
static int has_dot_component(const char *path)
{
	const char *p = path;
	/* Bounded: each pass moves past one component. */
	while (*p != '\0') {
		while (*p == '/')
			p++;
		const char *end = strchr(p, '/');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		p += len;
	}
	return 0;
}

int hf_datadir_check_under(const char *root_real, const char *path)
{
	HF_ASSERT(root_real[0] == '/');
	size_t len = strlen(path);
	if (len == 0 || path[0] != '/' || has_dot_component(path))
		return -EACCES;
	char buf[PATH_MAX];
	char real[PATH_MAX];
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	/* Bounded: each pass drops one component; "/" always resolves. */
	for (;;) {
		if (realpath(buf, real) != NULL)
			return inside_root(root_real, real) ? 0 : -EACCES;
		if (errno != ENOENT)
			return -errno;
		char *slash = strrchr(buf, '/');
		HF_ASSERT(slash != NULL);
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

int hf_datadir_prepare(const char *data_dir, uint32_t shards_count)
{
	HF_ASSERT(shards_count >= 1);
	int rc = hf_datadir_mkdir_p(data_dir);
	if (rc != 0) {
		hf_log_error("data dir %s: cannot create it: %s", data_dir, strerror(-rc));
		return rc;
	}
	DIR *d = opendir(data_dir);
	if (d == NULL) {
		rc = -errno;
		hf_log_error("data dir %s: %s", data_dir, strerror(-rc));
		return rc;
	}
	/* A node's shards are created together: all of shard-0 .. shard-<count - 1> or none. */
	uint32_t present_count = 0;
	long missing_hint = -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long k = shard_index_of(e->d_name);
		if (k < 0)
			continue;
		if (k >= (long)shards_count) {
			hf_log_error(
			    "data dir %s holds %s: it was written by a node with more than "
			    "%u shards; start with the shard count it was created with",
			    data_dir, e->d_name, shards_count);
			rc = -EEXIST;
			break;
		}
		present_count++;
	}
	closedir(d);
	if (rc == 0 && present_count > 0 && present_count < shards_count) {
		for (uint32_t i = 0; i < shards_count && missing_hint < 0; i++) {
			char path[PATH_MAX];
			struct stat st;
			if (hf_datadir_shard_path(data_dir, i, path, sizeof(path)) == 0 &&
			    stat(path, &st) != 0)
				missing_hint = (long)i;
		}
		hf_log_error("data dir %s holds %u shard directories but not shard-%ld: it was "
			     "written by a node with %u shards; start with that shard count",
			     data_dir, present_count, missing_hint, present_count);
		rc = -EINVAL;
	}
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		return -errno;
	return 0;
}

static int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = nftw(path, remove_entry, DATADIR_NFTW_FDS_MAX, FTW_DEPTH | FTW_PHYS);
	if (rc != 0)
		return rc < 0 ? (errno != 0 ? -errno : -EIO) : rc;
	return 0;
}

static int copy_file(const char *src, const char *dst, uint8_t *chunk)
{
	int rc = 0;
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = -errno;
		goto err_close_in;
	}
	for (;;) {
		ssize_t n = read(in, chunk, DATADIR_COPY_CHUNK_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto err_close_out;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, chunk + done, (size_t)(n - done));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rc = -errno;
				goto err_close_out;
			}
			done += w;
		}
	}
	if (fsync(out) != 0)
		rc = -errno;
err_close_out:
	if (close(out) != 0 && rc == 0)
		rc = -errno;
err_close_in:
	close(in);
	return rc;
}

static int copy_tree(const char *src, const char *dst, uint8_t *chunk, int depth)
{
	if (depth > DATADIR_DEPTH_MAX)
		return -ELOOP;
	if (mkdir(dst, 0755) != 0)
		return -errno;
	DIR *d = opendir(src);
	if (d == NULL)
		return -errno;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char from[PATH_MAX];
		char to[PATH_MAX];
		int n1 = snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		int n2 = snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		if (n1 < 0 || (size_t)n1 >= sizeof(from) || n2 < 0 || (size_t)n2 >= sizeof(to)) {
			rc = -ENAMETOOLONG;
			break;
		}
		struct stat st;
		if (lstat(from, &st) != 0) {
			rc = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode))
			rc = copy_tree(from, to, chunk, depth + 1);
		else if (S_ISREG(st.st_mode))
			rc = copy_file(from, to, chunk);
		else
			hf_log_warn("restore: skipping %s: not a regular file", from);
	}
	closedir(d);
	return rc;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) != 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Checks that from_dir holds exactly shard-0 .. shard-<shards_count - 1>. */
static int check_source(const char *from_dir, uint32_t shards_count)
{
	for (uint32_t i = 0; i < shards_count; i++) {
		char path[PATH_MAX];
		if (hf_datadir_shard_path(from_dir, i, path, sizeof(path)) != 0)
			return -ENAMETOOLONG;
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
			hf_log_error("restore: %s is missing: the backup must hold one checkpoint "
				     "per shard (shard-0 .. shard-%u)",
				     path, shards_count - 1);
			return -ENOENT;
		}
	}
	char path[PATH_MAX];
	if (hf_datadir_shard_path(from_dir, shards_count, path, sizeof(path)) != 0)
		return -ENAMETOOLONG;
	struct stat st;
	if (stat(path, &st) == 0) {
		hf_log_error(
		    "restore: %s exists: the backup was taken from a node with more than %u "
		    "shards; start with its shard count",
		    path, shards_count);
		return -EINVAL;
	}
	return 0;
}

/* Collects whether data_dir holds shard-* entries (restore leftovers included) and, when remove is
 * set, removes them. */
static int scan_shards(const char *data_dir, int remove, int *found_out)
{
	*found_out = 0;
	DIR *d = opendir(data_dir);
	if (d == NULL)
		return -errno;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "shard-", 6) != 0)
			continue;
		*found_out = 1;
		if (!remove)
			continue;
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", data_dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = remove_tree(path);
		if (rc != 0)
			hf_log_error("restore: cannot remove %s: %s", path, strerror(-rc));
	}
	closedir(d);
	return rc;
}

int hf_datadir_restore(const char *data_dir, const char *from_dir, uint32_t shards_count, int force)
{
	HF_ASSERT(shards_count >= 1);
	int rc = check_source(from_dir, shards_count);
	if (rc != 0)
		return rc;
	rc = hf_datadir_mkdir_p(data_dir);
	if (rc != 0) {
		hf_log_error("restore: cannot create %s: %s", data_dir, strerror(-rc));
		return rc;
	}
	int found = 0;
	rc = scan_shards(data_dir, 0, &found);
	if (rc != 0) {
		hf_log_error("restore: cannot read %s: %s", data_dir, strerror(-rc));
		return rc;
	}
	if (found && !force) {
		hf_log_error("restore: %s already holds shard data; refusing to replace it without "
			     "--force",
			     data_dir);
		return -EEXIST;
	}
	if (found) {
		hf_log_warn("restore: --force: removing the shard data in %s", data_dir);
		rc = scan_shards(data_dir, 1, &found);
		if (rc != 0)
			return rc;
	}

	uint8_t *chunk = malloc(DATADIR_COPY_CHUNK_SIZE);
	if (chunk == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < shards_count && rc == 0; i++) {
		char src[PATH_MAX];
		char dst[PATH_MAX];
		char tmp[PATH_MAX];
		if (hf_datadir_shard_path(from_dir, i, src, sizeof(src)) != 0 ||
		    hf_datadir_shard_path(data_dir, i, dst, sizeof(dst)) != 0 ||
		    snprintf(tmp, sizeof(tmp), "%s.restoring", dst) >= (int)sizeof(tmp)) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = copy_tree(src, tmp, chunk, 0);
		if (rc == 0 && rename(tmp, dst) != 0)
			rc = -errno;
		if (rc != 0) {
			hf_log_error("restore: copying %s to %s: %s", src, dst, strerror(-rc));
			(void)remove_tree(tmp);
			break;
		}
		hf_log_info("restore: %s -> %s", src, dst);
	}
	free(chunk);
	if (rc == 0)
		rc = fsync_dir(data_dir);
	return rc;
}
