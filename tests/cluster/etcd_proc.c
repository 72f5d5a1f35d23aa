/* The test etcd (see etcd_proc.h). */
#include "tests/cluster/etcd_proc.h"

#include "cluster/etcd.h"

#include <arpa/inet.h>
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

#define ETCD_BIN      "/usr/bin/etcd"
#define ETCD_POLL_MS  50u
#define ETCD_PROBE_MS 500u

uint64_t etcd_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

void etcd_require(void)
{
	if (access(ETCD_BIN, X_OK) != 0) {
		printf("SKIP: %s is not installed (scripts/install-deps.sh installs etcd-server)\n",
		       ETCD_BIN);
		exit(77);
	}
}

uint16_t etcd_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	uint16_t port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void etcd_rm_rf(const char *path)
{
	if (path[0] != '\0')
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void exec_etcd(const struct etcd_proc *ep)
{
	char data[300], log[300], curl[80], purl[80], initial[100];
	snprintf(data, sizeof(data), "%s/data", ep->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", ep->dir);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%u", (unsigned)ep->client_port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%u", (unsigned)ep->peer_port);
	snprintf(initial, sizeof(initial), "t=%s", purl);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", curl,
	      "--advertise-client-urls", curl, "--listen-peer-urls", purl,
	      "--initial-advertise-peer-urls", purl, "--initial-cluster", initial, (char *)NULL);
	_exit(127);
}

static int wait_ready(struct etcd_proc *ep)
{
	char err[256];
	struct hf_etcd *etcd = NULL;
	if (hf_etcd_create(ep->url, ETCD_PROBE_MS, &etcd, err, sizeof(err)) != 0) {
		printf("etcd_proc: %s\n", err);
		return -1;
	}
	uint64_t deadline = etcd_mono_ms() + ETCD_START_TIMEOUT_MS;
	int rc = -1;
	while (etcd_mono_ms() < deadline) {
		struct hf_etcd_kvs kvs;
		if (hf_etcd_range(etcd, "/probe", 0, &kvs) == 0) {
			hf_etcd_kvs_free(&kvs);
			rc = 0;
			break;
		}
		if (waitpid(ep->pid, NULL, WNOHANG) == ep->pid) {
			printf("etcd_proc: etcd exited during start-up (log in %s)\n", ep->dir);
			ep->pid = 0;
			break;
		}
		sleep_ms(ETCD_POLL_MS);
	}
	if (rc != 0 && ep->pid != 0)
		printf("etcd_proc: etcd did not answer within %u ms: %s\n", ETCD_START_TIMEOUT_MS,
		       hf_etcd_error(etcd));
	hf_etcd_destroy(etcd);
	return rc;
}

static int spawn(struct etcd_proc *ep);

int etcd_start(struct etcd_proc *ep)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->dir, sizeof(ep->dir), "/tmp/hf-etcd-XXXXXX");
	if (mkdtemp(ep->dir) == NULL) {
		printf("etcd_proc: mkdtemp: %s\n", strerror(errno));
		ep->dir[0] = '\0';
		return -1;
	}
	ep->client_port = etcd_free_port();
	ep->peer_port = etcd_free_port();
	if (ep->client_port == 0 || ep->peer_port == 0 || ep->client_port == ep->peer_port) {
		printf("etcd_proc: no free port\n");
		return -1;
	}
	snprintf(ep->url, sizeof(ep->url), "http://127.0.0.1:%u", (unsigned)ep->client_port);
	return spawn(ep);
}

static int spawn(struct etcd_proc *ep)
{
	pid_t pid = fork();
	if (pid < 0) {
		printf("etcd_proc: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0)
		exec_etcd(ep);
	ep->pid = pid;
	return wait_ready(ep);
}

int etcd_restart(struct etcd_proc *ep)
{
	if (ep->pid > 0 || ep->dir[0] == '\0')
		return -1;
	return spawn(ep);
}

void etcd_kill(struct etcd_proc *ep)
{
	if (ep->pid > 0) {
		kill(ep->pid, SIGTERM);
		uint64_t deadline = etcd_mono_ms() + ETCD_STOP_TIMEOUT_MS;
		int reaped = 0;
		while (!reaped && etcd_mono_ms() < deadline) {
			reaped = waitpid(ep->pid, NULL, WNOHANG) == ep->pid;
			if (!reaped)
				sleep_ms(ETCD_POLL_MS);
		}
		if (!reaped) {
			kill(ep->pid, SIGKILL);
			waitpid(ep->pid, NULL, 0);
		}
		ep->pid = 0;
	}
}

void etcd_stop(struct etcd_proc *ep)
{
	etcd_kill(ep);
	etcd_rm_rf(ep->dir);
	ep->dir[0] = '\0';
}

int etcd_run_cli(const char *const *argv, char *out, size_t out_size, uint32_t timeout_ms)
{
	char out_path[] = "/tmp/hf-cli-out-XXXXXX";
	int fd = mkstemp(out_path);
	if (fd < 0 || out_size == 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd);
		unlink(out_path);
		return -1;
	}
	if (pid == 0) {
		dup2(fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	int rc = 0;
	uint64_t deadline = etcd_mono_ms() + timeout_ms;
	/* Bounded by the deadline. */
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (etcd_mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			rc = -1;
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	ssize_t got = pread(fd, out, out_size - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(out_path);
	if (rc != 0)
		return rc;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
