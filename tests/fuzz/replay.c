/* Replays fuzz inputs without libFuzzer: a main() that feeds each file named on the command line,
 * and each file of each directory named (in name order), to the harness's LLVMFuzzerTestOneInput.
 *
 * Linked with one harness in the ordinary (gcc, ASan+UBSan) test build, so the checked-in seed
 * corpora and every regression input under tests/fuzz/corpus/ run in the default suite; a harness
 * that crashes on one of them fails the test. Usage: replay_<harness> PATH... Exits 0 when every
 * input ran, 1 when a path cannot be read or names no input at all, 2 on usage. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Files replayed from one directory; a corpus is a few hundred files at most. */
#define REPLAY_DIR_FILES_MAX 4096u

/* Runs one file. Returns 0, or -errno when it cannot be read or is larger than any input. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	/* Exactly the file's size, as libFuzzer passes it: an overrun is an ASan report. */
	uint8_t *buf = malloc(HF_FUZZ_INPUT_SIZE_MAX + 1u);
	HF_ASSERT(buf != NULL);
	size_t n = fread(buf, 1, HF_FUZZ_INPUT_SIZE_MAX + 1u, f);
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc == 0 && n > HF_FUZZ_INPUT_SIZE_MAX)
		rc = -EFBIG;
	if (rc == 0) {
		uint8_t *exact = malloc(n);
		HF_ASSERT(exact != NULL);
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	free(buf);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir in name order; adds them to *count. Returns 0 or -errno. */
static int replay_dir(const char *dir, uint32_t *count)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	static char *names[REPLAY_DIR_FILES_MAX];
	uint32_t names_count = 0;
	int rc = 0;
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		if (names_count == REPLAY_DIR_FILES_MAX) {
			rc = -E2BIG;
			break;
		}
		names[names_count] = strdup(e->d_name);
		HF_ASSERT(names[names_count] != NULL);
		names_count++;
	}
	closedir(d);
	qsort(names, names_count, sizeof(names[0]), name_cmp);
	char path[4096];
	for (uint32_t i = 0; i < names_count; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(path);
			if (rc != 0)
				fprintf(stderr, "replay: %s: %s\n", path, strerror(-rc));
			*count += 1;
		}
		free(names[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
		return 2;
	}
	uint32_t count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc = stat(argv[i], &st) != 0 ? -errno : 0;
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &count);
		} else if (rc == 0) {
			rc = replay_file(argv[i]);
			count++;
		}
		if (rc != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-rc));
			return 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input under the given paths\n");
		return 1;
	}
	printf("replay: %u inputs ran without a failure\n", count);
	return 0;
}
