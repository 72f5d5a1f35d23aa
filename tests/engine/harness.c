/* The engine tests' harness (see harness.h): a real holdfastd per test on free loopback ports, and
 * a blocking raw-socket client built on proto's encoders. */
#include "tests/engine/harness.h"

#include "base/endian.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Start-up of an ASan build opening RocksDB can take seconds on a busy 2-core machine. */
#define SRV_START_TIMEOUT_MS 60000
#define SRV_STOP_TIMEOUT_MS  30000
#define SRV_PORT_ATTEMPTS    8
#define SRV_POLL_MS	     50
#define TC_RECV_TIMEOUT_S    10

/* Servers running now, so that a test that fails half-way (cmocka jumps out of it) does not leave
 * one behind: they are killed at exit. */
#define SRV_RUNNING_MAX 32
static pid_t running[SRV_RUNNING_MAX];

static void kill_running(void)
{
	for (int i = 0; i < SRV_RUNNING_MAX; i++) {
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
	}
}

static void running_set(pid_t old_pid, pid_t new_pid)
{
	static int registered;
	if (!registered) {
		atexit(kill_running);
		registered = 1;
	}
	for (int i = 0; i < SRV_RUNNING_MAX; i++) {
		if (running[i] == old_pid) {
			running[i] = new_pid;
			return;
		}
	}
	fail_msg("more than %d servers at once", SRV_RUNNING_MAX);
}

uint64_t hf_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hf_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	nanosleep(&ts, NULL);
}

void hf_srv_init(struct hf_srv *srv)
{
	memset(srv, 0, sizeof(*srv));
	srv->pid = -1;
	snprintf(srv->dir, sizeof(srv->dir), "/tmp/hf-engine-test-XXXXXX");
	assert_non_null(mkdtemp(srv->dir));
	snprintf(srv->data_dir, sizeof(srv->data_dir), "%s/data", srv->dir);
	snprintf(srv->log_path, sizeof(srv->log_path), "%s/holdfastd.log", srv->dir);
}

static int port_free(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Random bases of its own, seeded per process: rand() unseeded gives every test program the same
 * sequence, so programs running at once (meson runs suites in parallel) raced for the same ports.
 */
static uint32_t port_random(void)
{
	static uint64_t state;
	if (state == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		state = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec;
		state |= 1u;
	}
	uint64_t z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

static uint16_t pick_ports(uint32_t shards)
{
	/* Bounded: a handful of random bases in the dynamic-free range. */
	for (int attempt = 0; attempt < 1000; attempt++) {
		uint16_t base = (uint16_t)(20000 + port_random() % 30000);
		int ok = 1;
		for (uint32_t i = 0; i < shards && ok; i++)
			ok = port_free((uint16_t)(base + i));
		if (ok)
			return base;
	}
	fail_msg("no free loopback ports");
	return 0;
}

int hf_srv_log_contains(const struct hf_srv *srv, const char *needle)
{
	FILE *f = fopen(srv->log_path, "r");
	if (f == NULL)
		return 0;
	char line[2048];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static void dump_log(const struct hf_srv *srv)
{
	FILE *f = fopen(srv->log_path, "r");
	if (f == NULL)
		return;
	char line[2048];
	fprintf(stderr, "---- %s ----\n", srv->log_path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

/* In the child: a test hook variable set to value, or unset. */
static void set_env_hook(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static pid_t spawn(struct hf_srv *srv, const struct hf_srv_opts *opts)
{
	const char *path = getenv("HOLDFASTD");
	assert_non_null(path);
	char listen_arg[64];
	char shards_arg[16];
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", (unsigned)srv->port);
	snprintf(shards_arg, sizeof(shards_arg), "%u", srv->shards);
	const char *argv[HF_SRV_ARGS_MAX + 16];
	int n = 0;
	argv[n++] = path;
	argv[n++] = "--listen";
	argv[n++] = listen_arg;
	argv[n++] = "--shards";
	argv[n++] = shards_arg;
	argv[n++] = "--data-dir";
	argv[n++] = srv->data_dir;
	argv[n++] = "--durability";
	argv[n++] = opts != NULL && opts->durability != NULL ? opts->durability : "fsync";
	argv[n++] = "--no-pin";
	/* BACKUP writes only under --backup-root: the server's own temporary directory. */
	if (opts == NULL || !opts->no_backup_root) {
		argv[n++] = "--backup-root";
		argv[n++] = srv->dir;
	}
	/* No load shedding unless a test asks for it (its own --shed-after-ms comes later and
	 * wins): sanitizer and store-check builds apply a pipelined flood slowly enough to pass
	 * the default bound, and these tests check every reply. */
	argv[n++] = "--shed-after-ms";
	argv[n++] = "0";
	for (int i = 0; opts != NULL && i < HF_SRV_ARGS_MAX && opts->extra[i] != NULL; i++)
		argv[n++] = opts->extra[i];
	argv[n] = NULL;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		set_env_hook("HOLDFAST_FAIL_COMMITS", opts != NULL ? opts->fail_commits : NULL);
		set_env_hook("HOLDFAST_FAIL_COMMITS_AFTER",
			     opts != NULL ? opts->fail_commits_after : NULL);
		set_env_hook("HOLDFAST_SYNC_DELAY_MS", opts != NULL ? opts->sync_delay_ms : NULL);
		set_env_hook("HOLDFAST_BATCH_CHANGES_MAX",
			     opts != NULL ? opts->batch_changes_max : NULL);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	running_set(0, pid);
	return pid;
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* 1 when every shard answers PING. (A connect alone is not enough: a killed predecessor's listener
 * can linger for a moment, accept, then reset.) */
static int srv_ready(const struct hf_srv *srv)
{
	for (uint32_t i = 0; i < srv->shards; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)(srv->port + i))};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (ok) {
			uint8_t frame[HF_FRAME_HEADER_SIZE + 8];
			struct hf_request req;
			hf_req_ping(&req, 0x4ead);
			size_t n = hf_request_encode(&req, frame, sizeof(frame));
			ok = send(fd, frame, n, MSG_NOSIGNAL) == (ssize_t)n;
			size_t got = 0;
			while (ok && got < sizeof(frame)) {
				struct pollfd p = {.fd = fd, .events = POLLIN};
				ssize_t r = 0;
				ok = poll(&p, 1, 2000) == 1 &&
				     (r = recv(fd, frame + got, sizeof(frame) - got, 0)) > 0;
				got += r > 0 ? (size_t)r : 0;
			}
		}
		close(fd);
		if (!ok)
			return 0;
	}
	return 1;
}

int hf_srv_start(struct hf_srv *srv, const struct hf_srv_opts *opts)
{
	srv->shards = opts != NULL && opts->shards != 0 ? opts->shards : 1;
	int fixed_port = srv->port != 0;
	for (int attempt = 0; attempt < SRV_PORT_ATTEMPTS; attempt++) {
		if (!fixed_port)
			srv->port = pick_ports(srv->shards);
		srv->pid = spawn(srv, opts);
		uint64_t deadline = hf_mono_ms() + SRV_START_TIMEOUT_MS;
		int retry = 0;
		while (hf_mono_ms() < deadline) {
			int status;
			pid_t w = waitpid(srv->pid, &status, WNOHANG);
			if (w == srv->pid) {
				running_set(srv->pid, 0);
				srv->pid = -1;
				srv->exit_status = status_code(status);
				if (opts != NULL && opts->expect_fail)
					return srv->exit_status;
				if (!fixed_port &&
				    hf_srv_log_contains(srv, "Address already in use")) {
					retry = 1;
					break;
				}
				dump_log(srv);
				fail_msg("holdfastd exited during start-up with %d",
					 srv->exit_status);
			}
			if (!(opts != NULL && opts->expect_fail) && srv_ready(srv))
				return 0;
			hf_sleep_ms(SRV_POLL_MS);
		}
		if (!retry) {
			dump_log(srv);
			hf_srv_stop(srv, SIGKILL);
			fail_msg("holdfastd did not %s in time",
				 opts != NULL && opts->expect_fail ? "exit" : "start");
		}
	}
	fail_msg("no free ports after %d attempts", SRV_PORT_ATTEMPTS);
	return -1;
}

int hf_srv_alive(struct hf_srv *srv)
{
	if (srv->pid <= 0)
		return 0;
	int status;
	pid_t w = waitpid(srv->pid, &status, WNOHANG);
	if (w == srv->pid) {
		running_set(srv->pid, 0);
		srv->pid = -1;
		srv->exit_status = status_code(status);
		return 0;
	}
	return 1;
}

int hf_srv_stop(struct hf_srv *srv, int sig)
{
	if (srv->pid <= 0)
		return srv->exit_status;
	kill(srv->pid, sig);
	uint64_t deadline = hf_mono_ms() + SRV_STOP_TIMEOUT_MS;
	for (;;) {
		int status;
		pid_t w = waitpid(srv->pid, &status, WNOHANG);
		if (w == srv->pid) {
			running_set(srv->pid, 0);
			srv->pid = -1;
			srv->exit_status = status_code(status);
			if (srv->exit_status != 0 && sig != SIGKILL)
				dump_log(srv);
			return srv->exit_status;
		}
		if (hf_mono_ms() > deadline) {
			kill(srv->pid, SIGKILL);
			deadline = hf_mono_ms() + SRV_STOP_TIMEOUT_MS;
			sig = SIGKILL;
		}
		hf_sleep_ms(10);
	}
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void hf_srv_cleanup(struct hf_srv *srv)
{
	if (srv->pid > 0)
		hf_srv_stop(srv, SIGKILL);
	/* HF_KEEP=1 keeps the directory (data and log) for a post-mortem. */
	const char *keep = getenv("HF_KEEP");
	if (keep != NULL && strcmp(keep, "1") == 0)
		fprintf(stderr, "kept %s\n", srv->dir);
	else if (srv->dir[0] != '\0')
		nftw(srv->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	srv->dir[0] = '\0';
}

long hf_srv_rss_kb(const struct hf_srv *srv)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)srv->pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* ---- Raw client ---- */

int hf_tc_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {.tv_sec = TC_RECV_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

void hf_tc_write_all(int fd, const void *buf, size_t size)
{
	const uint8_t *p = buf;
	while (size > 0) {
		ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("send of %zu bytes: %s", size,
				 n < 0 ? strerror(errno) : "no progress");
		p += n;
		size -= (size_t)n;
	}
}

void hf_tc_send(int fd, const struct hf_request *req)
{
	static uint8_t buf[HF_FRAME_SIZE_MAX]; /* a BATCH can be this large */
	size_t n = hf_request_encode(req, buf, sizeof(buf));
	assert_true(n >= HF_FRAME_HEADER_SIZE);
	hf_tc_write_all(fd, buf, n);
}

static int read_full(int fd, uint8_t *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = recv(fd, buf + got, size - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int hf_tc_recv(int fd, struct hf_reply *rep, uint8_t *buf)
{
	if (read_full(fd, buf, HF_FRAME_HEADER_SIZE) != 0)
		return -1;
	struct hf_frame_header h;
	assert_int_equal(hf_frame_header_decode(buf, &h), HF_OK);
	assert_true(h.flags & HF_FLAG_REPLY);
	if (read_full(fd, buf + HF_FRAME_HEADER_SIZE, h.body_size) != 0)
		return -1;
	assert_int_equal(hf_reply_decode(&h, buf + HF_FRAME_HEADER_SIZE, rep), HF_OK);
	return 0;
}

uint16_t hf_tc_call(int fd, const struct hf_request *req, struct hf_reply *rep)
{
	static uint8_t buf[HF_FRAME_SIZE_MAX];
	hf_tc_send(fd, req);
	assert_int_equal(hf_tc_recv(fd, rep, buf), 0);
	assert_int_equal(rep->request_id, req->request_id);
	assert_int_equal(rep->opcode, req->opcode);
	return rep->status;
}

uint16_t hf_tc_call_past_io(int fd, const struct hf_request *req, struct hf_reply *rep,
			    int timeout_ms)
{
	uint64_t deadline = hf_mono_ms() + (uint64_t)timeout_ms;
	uint16_t status;
	while ((status = hf_tc_call(fd, req, rep)) == HF_ERR_IO && hf_mono_ms() < deadline)
		hf_sleep_ms(5);
	return status;
}

int hf_tc_closed_within(int fd, int timeout_ms)
{
	uint64_t deadline = hf_mono_ms() + (uint64_t)timeout_ms;
	uint8_t buf[4096];
	while (hf_mono_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 50);
		if (r <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

int64_t hf_tc_stat(const struct hf_reply *rep, const char *name)
{
	for (uint32_t i = 0; i < rep->stats.stats_count; i++) {
		if (strcmp(rep->stats.stats[i].name, name) == 0)
			return (int64_t)rep->stats.stats[i].value;
	}
	return -1;
}

int64_t hf_tc_stat_of(uint16_t port, const char *name)
{
	struct hf_reply *rep = hf_reply_new();
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 0x57a7;
	int fd = hf_tc_connect(port);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);
	int64_t v = hf_tc_stat(rep, name);
	free(rep);
	return v;
}

void hf_req_ping(struct hf_request *req, uint64_t id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_PING;
	req->request_id = id;
}

void hf_req_create(struct hf_request *req, uint64_t id, uint64_t event_id, uint32_t seats)
{
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_CREATE_EVENT;
	req->request_id = id;
	req->create_event.event_id = event_id;
	req->create_event.seats_count = seats;
}

void hf_req_info(struct hf_request *req, uint64_t id, uint64_t event_id)
{
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_EVENT_INFO;
	req->request_id = id;
	req->event_info.event_id = event_id;
}

void hf_req_hold(struct hf_request *req, uint64_t id, uint64_t event_id, uint64_t hold_id,
		 uint32_t ttl_ms, uint32_t first_seat, uint32_t seats_count)
{
	memset(req, 0, sizeof(*req));
	assert_true(seats_count >= 1 && seats_count <= HF_HOLD_SEATS_MAX);
	req->opcode = HF_OP_HOLD;
	req->request_id = id;
	req->hold.event_id = event_id;
	req->hold.hold_id = hold_id;
	req->hold.user_id = 42;
	req->hold.ttl_ms = ttl_ms;
	req->hold.mode = HF_HOLD_EXPLICIT;
	req->hold.seats_count = seats_count;
	for (uint32_t i = 0; i < seats_count; i++)
		req->hold.seats[i] = first_seat + i;
}

uint64_t hf_event_owned_by(const struct hf_slot_map *map, uint16_t owner, uint64_t from)
{
	for (uint64_t id = from; id < from + 1000000; id++) {
		if (id != 0 && map->slot_owner[hf_slot_of(id)] == owner)
			return id;
	}
	fail_msg("no event id owned by %u", owner);
	return 0;
}

struct hf_reply *hf_reply_new(void)
{
	struct hf_reply *rep = calloc(1, sizeof(*rep));
	assert_non_null(rep);
	return rep;
}

uint8_t *hf_frame_buf_new(void)
{
	uint8_t *buf = calloc(1, HF_FRAME_SIZE_MAX);
	assert_non_null(buf);
	return buf;
}
