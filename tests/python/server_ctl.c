/* hf-server-ctl: a real holdfastd for the Python tests, through the client tests' harness
 * (tests/client/server_proc.c), so that Python starts and stops servers exactly as the C tests do.
 *
 *   hf-server-ctl HOLDFASTD SHARDS DURABILITY
 *
 * Starts holdfastd on free loopback ports with a fresh data directory, prints one line
 * "ready <port> <pid> <data_dir>" on stdout, then waits until stdin reaches end of file (the test
 * closed it, or died) and stops the server by its pid (SIGTERM, then SIGKILL after a bound) and
 * removes its directory. Exit status: 0, 1 when the server did not start, 2 for bad arguments, 77
 * when HOLDFASTD is missing. Every wait is bounded by the harness's own limits or by stdin. */
#include "tests/client/server_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARDS_MAX 256u

static int parse_shards(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > SHARDS_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Blocks until stdin is at end of file or fails; bounded by the test that holds the pipe. */
static void wait_stdin_eof(void)
{
	char buf[256];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0 && errno != EINTR)
			return;
	}
}

int main(int argc, char **argv)
{
	uint32_t shards_count;
	if (argc != 4 || parse_shards(argv[2], &shards_count) != 0) {
		fprintf(stderr, "usage: hf-server-ctl HOLDFASTD SHARDS(1..%u) DURABILITY\n",
			SHARDS_MAX);
		return 2;
	}
	server_require(argv[1]);
	/* The test may close the pipe before reading the line: do not die on SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	struct server_proc sp;
	if (server_start(&sp, argv[1], shards_count, argv[3]) != 0)
		return 1;
	printf("ready %u %ld %s\n", (unsigned)sp.port, (long)sp.pid, sp.data_dir);
	fflush(stdout);
	wait_stdin_eof();
	server_stop(&sp);
	return 0;
}
