/* Starting and stopping a real holdfastd for the client's end-to-end tests (see server_proc.h). */
#include "tests/client/server_proc.h"

#include "client/holdfast.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_TRIES_MAX	100u
#define START_TRIES_MAX 3u
#define PORT_FIRST	20000u
#define PORT_SPAN	40000u
#define NFTW_FDS_MAX	16

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

void server_require(const char *exe)
{
	if (exe == NULL || access(exe, X_OK) != 0) {
		printf("holdfastd not available (%s): skipping\n", exe != NULL ? exe : "no path");
		exit(77);
	}
}

static int port_free(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc == 0;
}

/* A base port whose next shards_count ports are free now (another process may still take them:
 * server_start retries). */
static uint16_t ports_pick(uint32_t shards_count)
{
	uint64_t r = hf_clock_mono_ns() ^ ((uint64_t)getpid() << 20);
	for (uint32_t t = 0; t < PORT_TRIES_MAX; t++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint16_t base = (uint16_t)(PORT_FIRST + (r >> 33) % PORT_SPAN);
		uint32_t ok = 1;
		for (uint32_t i = 0; i < shards_count && ok; i++)
			ok = port_free((uint16_t)(base + i));
		if (ok)
			return base;
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int try_start(struct server_proc *sp, const char *exe, const char *durability)
{
	char listen_arg[64];
	char shards_arg[16];
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", sp->port);
	snprintf(shards_arg, sizeof(shards_arg), "%u", sp->shards_count);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (getenv("HF_TEST_VERBOSE") == NULL) {
			int devnull = open("/dev/null", O_WRONLY);
			if (devnull >= 0)
				dup2(devnull, STDERR_FILENO);
		}
		const char *auth_flag = sp->auth_file != NULL ? "--auth-file" : NULL;
		execl(exe, exe, "--listen", listen_arg, "--shards", shards_arg, "--data-dir",
		      sp->data_dir, "--durability", durability, "--log-level", "warn", "--no-pin",
		      "--backup-root", sp->data_dir, auth_flag, sp->auth_file, (char *)NULL);
		_exit(127);
	}
	sp->pid = pid;
	uint64_t deadline = hf_clock_mono_ms() + SERVER_START_TIMEOUT_MS;
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = 500;
	o.connect_timeout_ms = 500;
	o.retries_max = 0;
	o.auth_token = sp->auth_token;
	/* Bounded by the deadline. */
	while (hf_clock_mono_ms() < deadline) {
		struct hf_client *c;
		int ready = 1;
		for (uint32_t i = 0; i < sp->shards_count && ready; i++) {
			char addr[64];
			server_addr(sp, i, addr, sizeof(addr));
			ready = hf_client_open(addr, &o, &c) == 0;
			if (ready)
				hf_client_close(c);
		}
		if (ready)
			return 0;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "holdfastd exited during start (status 0x%x)\n", status);
			sp->pid = 0;
			return -1;
		}
		sleep_ms(20);
	}
	fprintf(stderr, "holdfastd did not serve the map within %u ms\n", SERVER_START_TIMEOUT_MS);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	sp->pid = 0;
	return -1;
}

int server_start(struct server_proc *sp, const char *exe, uint32_t shards_count,
		 const char *durability)
{
	return server_start_auth(sp, exe, shards_count, durability, NULL, NULL);
}

int server_start_auth(struct server_proc *sp, const char *exe, uint32_t shards_count,
		      const char *durability, const char *auth_file, const char *token)
{
	memset(sp, 0, sizeof(*sp));
	sp->auth_file = auth_file;
	sp->auth_token = token;
	sp->shards_count = shards_count;
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	snprintf(sp->data_dir, sizeof(sp->data_dir), "%s/hf-client-test-XXXXXX", tmp);
	if (mkdtemp(sp->data_dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", sp->data_dir, strerror(errno));
		return -1;
	}
	for (uint32_t t = 0; t < START_TRIES_MAX; t++) {
		sp->port = ports_pick(shards_count);
		if (sp->port == 0)
			continue;
		snprintf(sp->addr, sizeof(sp->addr), "127.0.0.1:%u", sp->port);
		if (try_start(sp, exe, durability) == 0)
			return 0;
	}
	nftw(sp->data_dir, remove_entry, NFTW_FDS_MAX, FTW_DEPTH | FTW_PHYS);
	return -1;
}

void server_stop(struct server_proc *sp)
{
	if (sp->pid > 0) {
		kill(sp->pid, SIGTERM);
		uint64_t deadline = hf_clock_mono_ms() + SERVER_STOP_TIMEOUT_MS;
		int done = 0;
		while (!done && hf_clock_mono_ms() < deadline) {
			done = waitpid(sp->pid, NULL, WNOHANG) == sp->pid;
			if (!done)
				sleep_ms(10);
		}
		if (!done) {
			fprintf(stderr, "holdfastd ignored SIGTERM for %u ms: killing it\n",
				SERVER_STOP_TIMEOUT_MS);
			kill(sp->pid, SIGKILL);
			waitpid(sp->pid, NULL, 0);
		}
		sp->pid = 0;
	}
	if (sp->data_dir[0] != '\0')
		nftw(sp->data_dir, remove_entry, NFTW_FDS_MAX, FTW_DEPTH | FTW_PHYS);
	sp->data_dir[0] = '\0';
}

void server_addr(const struct server_proc *sp, uint32_t shard, char *buf, size_t size)
{
	snprintf(buf, size, "127.0.0.1:%u", (unsigned)(sp->port + shard));
}
