/* Goal: the libuv adapter and the example application server built on it (examples/uv_server.c)
 * serve many concurrent requests through one non-blocking client against a real holdfastd: every
 * seat is granted at most once, every request gets exactly one answer, refusals carry the status
 * name, a confirm books its hold, bad input gets an error line and an over-long line closes the
 * connection, and SIGTERM shuts the server down cleanly (exit 0, no leak under ASan).
 *
 * Method: start holdfastd (argv[1]) with 2 shards, create an event of EVENT_SEATS seats, start
 * uv_server (argv[2]) and read its "listening" line, then from PEERS connections send
 * HOLDS_PER_PEER "hold U 2" lines each in one write (more seats asked for than exist), read every
 * answer with a bounded wait, and check the grants against the seat count and EVENT_INFO. Exits 77
 * when either binary is missing. */
#include "client/holdfast.h"
#include "tests/client/server_proc.h"

#include "base/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define EVENT_ID	 4242u
#define EVENT_SEATS	 400u
#define PEERS		 8u
#define HOLDS_PER_PEER	 30u
#define SEATS_PER_HOLD	 2u
#define WAIT_MS		 20000u
#define PEER_BUFFER_SIZE (64u * 1024u)

static const char *holdfastd_path;
static const char *uv_server_path;

struct app {
	pid_t pid;
	int out_fd; /* the server's stdout */
	uint16_t port;
};

/* Reads one line from fd into buf within the deadline. Returns its length, or -1. */
static int read_line(int fd, char *buf, size_t size, uint64_t deadline)
{
	size_t used = 0;
	/* Bounded by the deadline and the buffer. */
	while (used + 1 < size) {
		uint64_t now = hf_clock_mono_ms();
		if (now >= deadline)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = read(fd, buf + used, 1);
		if (n <= 0)
			return -1;
		if (buf[used] == '\n') {
			buf[used] = '\0';
			return (int)used;
		}
		used++;
	}
	return -1;
}

static void app_start(struct app *a, const char *holdfast_addr)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	char event[32];
	snprintf(event, sizeof(event), "%u", EVENT_ID);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(uv_server_path, uv_server_path, holdfast_addr, event, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	a->pid = pid;
	a->out_fd = pipefd[0];
	char line[128];
	assert_true(read_line(a->out_fd, line, sizeof(line), hf_clock_mono_ms() + WAIT_MS) > 0);
	unsigned port = 0;
	assert_int_equal(sscanf(line, "listening 127.0.0.1:%u", &port), 1);
	assert_true(port > 0 && port < 65536);
	a->port = (uint16_t)port;
}

/* SIGTERM, then the exit status within WAIT_MS (SIGKILL and -1 past it). */
static int app_stop(struct app *a)
{
	kill(a->pid, SIGTERM);
	uint64_t deadline = hf_clock_mono_ms() + WAIT_MS;
	int status = 0;
	/* Bounded by the deadline. */
	while (waitpid(a->pid, &status, WNOHANG) == 0) {
		if (hf_clock_mono_ms() >= deadline) {
			kill(a->pid, SIGKILL);
			waitpid(a->pid, &status, 0);
			close(a->out_fd);
			return -1;
		}
		poll(NULL, 0, 10);
	}
	close(a->out_fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int peer_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *text)
{
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
}

struct peer_in {
	int fd;
	uint32_t used;
	uint32_t lines;
	char buf[PEER_BUFFER_SIZE];
};

/* Reads from every peer until each has `lines` lines or the deadline passes. */
static void read_answers(struct peer_in *peers, uint32_t count, uint32_t lines)
{
	uint64_t deadline = hf_clock_mono_ms() + WAIT_MS;
	/* Bounded by the deadline and the buffers. */
	for (;;) {
		struct pollfd pf[PEERS];
		uint32_t waiting = 0;
		for (uint32_t i = 0; i < count; i++) {
			pf[i] = (struct pollfd){.fd = peers[i].fd, .events = POLLIN};
			waiting += peers[i].lines < lines;
		}
		if (waiting == 0)
			return;
		uint64_t now = hf_clock_mono_ms();
		assert_true(now < deadline);
		if (poll(pf, count, (int)(deadline - now)) <= 0)
			continue;
		for (uint32_t i = 0; i < count; i++) {
			struct peer_in *p = &peers[i];
			if (!(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			assert_true(p->used + 1 < PEER_BUFFER_SIZE);
			ssize_t n = read(p->fd, p->buf + p->used, PEER_BUFFER_SIZE - 1 - p->used);
			assert_true(n > 0);
			for (ssize_t k = 0; k < n; k++)
				p->lines += p->buf[p->used + (uint32_t)k] == '\n';
			p->used += (uint32_t)n;
			p->buf[p->used] = '\0';
		}
	}
}

/* Checks every answer line; marks granted seats (each at most once). Returns the grants. */
static uint32_t check_answers(struct peer_in *peers, uint8_t *granted, uint32_t *refused,
			      uint64_t *first_hold)
{
	uint32_t holds = 0;
	for (uint32_t i = 0; i < PEERS; i++) {
		char *save = NULL;
		for (char *line = strtok_r(peers[i].buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			unsigned long long id;
			unsigned s1, s2;
			if (sscanf(line, "held %llu %u %u", &id, &s1, &s2) == 3) {
				assert_true(s1 < EVENT_SEATS && s2 == s1 + 1);
				assert_int_equal(granted[s1]++, 0);
				assert_int_equal(granted[s2]++, 0);
				if (*first_hold == 0)
					*first_hold = id;
				holds++;
			} else {
				assert_string_equal(line, "refused NOT_ENOUGH");
				(*refused)++;
			}
		}
	}
	return holds;
}

static struct server_proc sp;
static struct hf_client *client;
static struct app app;

static int group_setup(void **state)
{
	(void)state;
	if (server_start(&sp, holdfastd_path, 2, "none") != 0)
		return -1;
	if (hf_client_open(sp.addr, NULL, &client) != 0)
		return -1;
	struct hf_client_reply rep;
	struct hf_req_create_event ev = {.event_id = EVENT_ID, .seats_count = EVENT_SEATS};
	if (hf_client_create_event(client, &ev, &rep) != 0 || rep.status != HF_OK)
		return -1;
	app_start(&app, sp.addr);
	return 0;
}

/* Stops whatever is still running, also after a failed test. */
static int group_teardown(void **state)
{
	(void)state;
	if (app.pid > 0)
		app_stop(&app);
	hf_client_close(client);
	server_stop(&sp);
	return 0;
}

static void test_uv_server_sells_each_seat_once(void **state)
{
	(void)state;
	static struct peer_in peers[PEERS];
	char lines[HOLDS_PER_PEER * 32];
	for (uint32_t i = 0; i < PEERS; i++) {
		memset(&peers[i], 0, sizeof(peers[i]));
		peers[i].fd = peer_connect(app.port);
		size_t used = 0;
		for (uint32_t k = 0; k < HOLDS_PER_PEER; k++)
			used += (size_t)snprintf(lines + used, sizeof(lines) - used, "hold %u %u\n",
						 i * 100 + k + 1, SEATS_PER_HOLD);
		send_all(peers[i].fd, lines);
	}
	read_answers(peers, PEERS, HOLDS_PER_PEER);
	for (uint32_t i = 0; i < PEERS; i++)
		close(peers[i].fd);
	static uint8_t granted[EVENT_SEATS];
	uint32_t refused = 0;
	uint64_t first_hold = 0;
	uint32_t holds = check_answers(peers, granted, &refused, &first_hold);
	assert_int_equal(holds, EVENT_SEATS / SEATS_PER_HOLD);
	assert_int_equal(holds + refused, PEERS * HOLDS_PER_PEER);

	/* A confirm through the server books the hold; bad input gets an error line. */
	static struct peer_in one;
	one.fd = peer_connect(app.port);
	char line[64];
	snprintf(line, sizeof(line), "confirm %" PRIu64 "\n", first_hold);
	send_all(one.fd, line);
	read_answers(&one, 1, 1);
	snprintf(line, sizeof(line), "confirmed %" PRIu64 " 2\n", first_hold);
	assert_string_equal(one.buf, line);
	send_all(one.fd, "nonsense\n");
	read_answers(&one, 1, 2);
	assert_string_equal(one.buf + strlen(line), "error bad-request\n");
	struct hf_client_reply rep;
	assert_int_equal(hf_client_event_info(client, EVENT_ID, &rep), 0);
	assert_int_equal(rep.event_info.booked_count, 2);
	assert_int_equal(rep.event_info.held_count, EVENT_SEATS - 2);
	assert_int_equal(rep.event_info.free_count, 0);

	/* A line past the server's bound closes that connection (read gives 0). */
	char longline[512];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	send_all(one.fd, longline);
	struct pollfd pf = {.fd = one.fd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, (int)WAIT_MS), 1);
	assert_int_equal(read(one.fd, line, sizeof(line)), 0);
	close(one.fd);
}

static void test_uv_server_stops_cleanly(void **state)
{
	(void)state;
	int status = app_stop(&app);
	app.pid = 0;
	assert_int_equal(status, 0);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOLDFASTD UV_SERVER\n", argv[0]);
		return 2;
	}
	holdfastd_path = argv[1];
	uv_server_path = argv[2];
	server_require(holdfastd_path);
	server_require(uv_server_path);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uv_server_sells_each_seat_once),
	    cmocka_unit_test(test_uv_server_stops_cleanly),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
