/* Goal: libholdfast installs as an application uses it: `meson install` puts the binaries, the
 * shared library (SONAME, version) and the static one, the public headers and holdfast.pc in place;
 * the shared library exports only the hf_ functions its headers declare; the README's C example and
 * a C++ program build outside the source tree with nothing but pkg-config and work against a live
 * holdfastd.
 *
 * Method: start holdfastd (argv[1]) with 2 shards, then run tests/client/install_check.sh (argv[3]
 * is the source root, argv[2] the build root) in a fresh temporary directory with the server's
 * address, bounded by INSTALL_CHECK_TIMEOUT_MS, and require exit status 0; the script prints what
 * failed. Exits 77 when holdfastd, cc, c++, pkg-config or nm is missing. */
#include "tests/client/server_proc.h"

#include "base/clock.h"

#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define INSTALL_CHECK_TIMEOUT_MS 180000u
#define WAIT_STEP_MS		 20u

extern char **environ;

static const char *holdfastd_path;
static const char *build_root;
static const char *source_root;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* 1 when `name` runs (found on PATH). */
static int have_tool(const char *name)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Runs argv, waiting at most timeout_ms; returns its exit status, or -1 (killed or not started). */
static int run_bounded(char *const argv[], uint32_t timeout_ms)
{
	pid_t pid;
	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	uint64_t deadline = hf_clock_mono_ms() + timeout_ms;
	/* Bounded by the deadline. */
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (hf_clock_mono_ms() >= deadline) {
			fprintf(stderr, "install check still running after %u ms: killed\n",
				timeout_ms);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		struct timespec ts = {.tv_sec = 0, .tv_nsec = WAIT_STEP_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void test_install_builds_and_runs(void **state)
{
	(void)state;
	struct server_proc sp;
	assert_int_equal(server_start(&sp, holdfastd_path, 2, "none"), 0);
	char work[] = "/tmp/hf-install-XXXXXX";
	assert_non_null(mkdtemp(work));
	char script[1024];
	snprintf(script, sizeof(script), "%s/tests/client/install_check.sh", source_root);
	char *argv[] = {"/bin/sh", script, (char *)build_root, (char *)source_root, sp.addr,
			work,	   NULL};
	int status = run_bounded(argv, INSTALL_CHECK_TIMEOUT_MS);
	server_stop(&sp);
	nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(status, 0);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s HOLDFASTD BUILD_ROOT SOURCE_ROOT\n", argv[0]);
		return 2;
	}
	holdfastd_path = argv[1];
	build_root = argv[2];
	source_root = argv[3];
	server_require(holdfastd_path);
	const char *tools[] = {"cc", "c++", "pkg-config", "nm", "readelf", "meson"};
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (!have_tool(tools[i])) {
			fprintf(stderr, "%s is missing: skipped\n", tools[i]);
			return 77;
		}
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_builds_and_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
