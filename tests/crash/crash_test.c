/* Goal: no acknowledged operation is ever lost and no seat is ever sold twice when holdfastd is
 * killed with SIGKILL at random moments, in the default durability mode (fsync).
 *
 * Method: the test starts a real holdfastd (2 shards, fsync, a fresh data dir) and runs worker
 * threads that play the on-sale workload through libholdfast: hold 1-4 seats (explicit or
 * best-available), then confirm (80%) or release, and now and then cancel an earlier booking. Each
 * worker is the only writer of its own event, so its acknowledged answers form an exact, ordered
 * model of that event. A request whose answer is lost in a crash is resent with the same ids until
 * it is answered (every operation is idempotent by its ids), so every outcome ends up known and the
 * model stays exact. At random moments (a few hundred ms apart) the driver SIGKILLs holdfastd,
 * restarts it on the same data dir, lets every worker finish its request, pauses them, and checks
 * every seat of every event against the model (state and owner), and that free + held + booked =
 * seats. Then it resumes.
 *
 * With --backups N it tests backup and restore under load instead: while the workers run, it takes
 * an online backup (BACKUP to every shard), restores it into a second holdfastd (--restore-from),
 * and checks that every event there equals the workers' model after some prefix of their
 * acknowledged operations (a consistent point in time: nothing acknowledged before the backup is
 * missing, nothing half-applied is there). The last round backs up with the workers paused and must
 * match exactly.
 *
 * Usage: crash_test HOLDFASTD [--kills N | --backups N] [--seed S] [--workers W] [--seats N]
 *        (HF_SEED and HF_KILLS environment variables are honoured too; HF_LONG=1 means 300 kills).
 */
#include "client/holdfast.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX	 8u
#define SEATS_MAX	 20000u
#define HOLDS_LOG_MAX	 4096u /* bookings a worker remembers for later cancels */
#define RETRY_WAIT_MS	 20u
#define RETRY_TIME_MS	 30000u /* one request may wait this long for the server to come back */
#define START_TIMEOUT_MS 30000u
#define SHARDS		 2
#define TTL_MS		 (600u * 1000u) /* holds outlive the test: none may expire during it */

enum op_kind {
	OP_HOLD = 1,
	OP_CONFIRM = 2,
	OP_RELEASE = 3,
	OP_CANCEL = 4,
};

/* One acknowledged state change, for replaying a worker's model forward (backup mode). */
struct op_entry {
	uint8_t kind; /* enum op_kind */
	uint8_t seats_count;
	uint64_t id;
	uint32_t seats[4];
};

#define OPS_LOG_MAX 100000u /* acknowledged ops between two pauses of one backup round */

struct server {
	pid_t pid;
	uint16_t port;
	char host_port[64];
	char data_dir[256];
};

struct seat_model {
	uint8_t state;	   /* enum hf_seat_state */
	uint64_t owner_id; /* hold or booking id, 0 when free */
};

struct worker {
	pthread_t thread;
	uint32_t index;
	uint64_t event_id;
	uint64_t rng;
	struct seat_model seats[SEATS_MAX];
	uint64_t bookings[HOLDS_LOG_MAX]; /* live bookings this worker may cancel */
	uint32_t bookings_count;
	uint64_t ops_count;
	uint64_t resends_count;
	struct op_entry log[OPS_LOG_MAX]; /* written by the worker; read only while it is paused */
	uint32_t log_count;
	struct seat_model snapshot[SEATS_MAX]; /* the model when the log was last reset */
};

static struct {
	const char *holdfastd;
	char tmp_dir[200];
	struct server main_server;
	uint32_t seats_count;
	uint32_t workers_count;
	uint32_t kills;
	uint32_t backups;
	uint64_t seed;
	struct worker workers[WORKERS_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pause_requested;   /* under lock */
	uint32_t paused_count; /* under lock */
	atomic_int stop;
	atomic_int failed;
} g;

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: small, good enough for workload choices. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "crash_test: FAIL: " __VA_ARGS__);                                 \
		fputc('\n', stderr);                                                               \
		atomic_store(&g.failed, 1);                                                        \
	} while (0)

/* ---- The server process ---- */

static int port_pair_free(uint16_t base)
{
	for (int i = 0; i < SHARDS; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return 0;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)(base + i)),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (rc != 0)
			return 0;
	}
	return 1;
}

static void server_start(struct server *srv, const char *restore_from)
{
	char listen_arg[64];
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", srv->port);
	snprintf(srv->host_port, sizeof(srv->host_port), "127.0.0.1:%u", srv->port);
	pid_t pid = fork();
	HF_ASSERT(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0 && getenv("HF_CRASH_VERBOSE") == NULL)
			dup2(devnull, STDERR_FILENO);
		char *args[] = {(char *)g.holdfastd,
				"--listen",
				listen_arg,
				"--shards",
				"2",
				"--data-dir",
				srv->data_dir,
				"--durability",
				"fsync",
				"--log-level",
				"warn",
				"--no-pin",
				"--backup-root",
				g.tmp_dir,
				NULL,
				NULL,
				NULL};
		if (restore_from != NULL) {
			args[14] = "--restore-from";
			args[15] = (char *)restore_from;
		}
		execv(g.holdfastd, args);
		_exit(127);
	}
	srv->pid = pid;
	/* Ready when a client can fetch the map and every shard in it answers a PING (each shard
	 * listens once its own store is loaded). */
	uint64_t deadline = hf_clock_mono_ms() + START_TIMEOUT_MS;
	for (;;) {
		struct hf_client *c;
		if (hf_client_open(srv->host_port, NULL, &c) == 0) {
			static struct hf_request ping = {.opcode = HF_OP_PING};
			static struct hf_client_reply rep;
			uint16_t owners = hf_client_slot_map(c)->owners_count;
			uint16_t ready = 0;
			while (ready < owners && hf_client_call_shard(c, ready, &ping, &rep) == 0 &&
			       rep.status == HF_OK)
				ready++;
			hf_client_close(c);
			if (ready == owners)
				return;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "crash_test: holdfastd exited during start (status %d)\n",
				status);
			exit(1);
		}
		if (hf_clock_mono_ms() > deadline) {
			fprintf(stderr, "crash_test: holdfastd did not start in time\n");
			kill(pid, SIGKILL);
			exit(1);
		}
		sleep_ms(20);
	}
}

static void server_kill(struct server *srv)
{
	HF_ASSERT(srv->pid > 0);
	kill(srv->pid, SIGKILL);
	int status;
	while (waitpid(srv->pid, &status, 0) < 0 && errno == EINTR) {
	}
	srv->pid = 0;
}

static uint16_t free_port_pair(uint64_t *rng)
{
	for (int tries = 0; tries < 200; tries++) {
		uint16_t port = (uint16_t)(20000 + rng_next(rng) % 40000);
		if (port_pair_free(port))
			return port;
	}
	fprintf(stderr, "crash_test: no free port pair\n");
	exit(1);
}

static void remove_tree(const char *path)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "crash_test: could not remove %s\n", path);
}

/* ---- Workers ---- */

/* Sends req until it is answered (resending with the same ids across crashes). Returns the status.
 */
static uint16_t call_until_answered(struct worker *w, struct hf_client **client,
				    const struct hf_request *req, struct hf_client_reply *rep)
{
	uint64_t deadline = hf_clock_mono_ms() + RETRY_TIME_MS;
	for (;;) {
		if (*client == NULL && hf_client_open(g.main_server.host_port, NULL, client) != 0)
			*client = NULL;
		if (*client != NULL) {
			int rc = hf_client_call(*client, req, rep);
			if (rc == 0 && !hf_status_is_retryable(rep->status))
				return rep->status;
			if (rc != 0) {
				/* Outcome unknown: reconnect and resend the same request. */
				hf_client_close(*client);
				*client = NULL;
			}
		}
		w->resends_count++;
		if (hf_clock_mono_ms() > deadline) {
			FAIL("worker %u: a %s got no answer for %u ms", w->index,
			     hf_opcode_name(req->opcode), RETRY_TIME_MS);
			atomic_store(&g.stop, 1);
			return HF_ERR_INTERNAL;
		}
		sleep_ms(RETRY_WAIT_MS);
	}
}

static void log_op(struct worker *w, uint8_t kind, uint64_t id, const uint32_t *seats, uint32_t n)
{
	if (g.backups == 0)
		return;
	HF_ASSERT(w->log_count < OPS_LOG_MAX);
	HF_ASSERT(n <= 4);
	struct op_entry *e = &w->log[w->log_count++];
	e->kind = kind;
	e->id = id;
	e->seats_count = (uint8_t)n;
	if (n > 0)
		memcpy(e->seats, seats, n * sizeof(seats[0]));
}

static void model_set(struct worker *w, const uint32_t *seats, uint32_t n, uint8_t from_state,
		      uint64_t from_owner, uint8_t to_state, uint64_t to_owner)
{
	for (uint32_t i = 0; i < n; i++) {
		HF_ASSERT(seats[i] < g.seats_count);
		struct seat_model *s = &w->seats[seats[i]];
		if (s->state != from_state || s->owner_id != from_owner) {
			FAIL("event %llu seat %u: server answered as if it were %u/%llu, model has "
			     "%u/%llu (seat sold twice?)",
			     (unsigned long long)w->event_id, seats[i], from_state,
			     (unsigned long long)from_owner, s->state,
			     (unsigned long long)s->owner_id);
		}
		s->state = to_state;
		s->owner_id = to_owner;
	}
}

/* Pauses at an operation boundary while the driver checks. */
static void worker_checkpoint(void)
{
	pthread_mutex_lock(&g.lock);
	if (g.pause_requested) {
		g.paused_count++;
		pthread_cond_broadcast(&g.cond);
		while (g.pause_requested)
			pthread_cond_wait(&g.cond, &g.lock);
		g.paused_count--;
	}
	pthread_mutex_unlock(&g.lock);
}

static void worker_step(struct worker *w, struct hf_client **client)
{
	static _Thread_local struct hf_request req;
	static _Thread_local struct hf_client_reply rep;
	uint64_t r = rng_next(&w->rng);

	/* Now and then cancel an earlier booking. */
	if (w->bookings_count > 0 && r % 10 == 0) {
		uint32_t k = (uint32_t)(rng_next(&w->rng) % w->bookings_count);
		uint64_t booking_id = w->bookings[k];
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_CANCEL;
		req.cancel.event_id = w->event_id;
		req.cancel.hold_id = booking_id;
		uint16_t st = call_until_answered(w, client, &req, &rep);
		if (st != HF_OK) {
			FAIL("cancel of acknowledged booking %llu answered %s",
			     (unsigned long long)booking_id, hf_status_name(st));
			return;
		}
		for (uint32_t s = 0; s < g.seats_count; s++) {
			if (w->seats[s].owner_id == booking_id) {
				w->seats[s].state = HF_SEAT_FREE;
				w->seats[s].owner_id = 0;
			}
		}
		w->bookings[k] = w->bookings[--w->bookings_count];
		w->ops_count++;
		log_op(w, OP_CANCEL, booking_id, NULL, 0);
		return;
	}

	uint64_t hold_id = (rng_next(&w->rng) | 1u);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.hold.event_id = w->event_id;
	req.hold.hold_id = hold_id;
	req.hold.user_id = w->index + 1u;
	req.hold.ttl_ms = TTL_MS;
	req.hold.seats_count = 1u + (uint32_t)(r >> 8) % 4u;
	if ((r >> 16) % 4 == 0) {
		req.hold.mode = HF_HOLD_BEST;
	} else {
		req.hold.mode = HF_HOLD_EXPLICIT;
		uint32_t first = (uint32_t)(rng_next(&w->rng) % (g.seats_count - 4u));
		for (uint32_t i = 0; i < req.hold.seats_count; i++)
			req.hold.seats[i] = first + i;
	}
	uint16_t st = call_until_answered(w, client, &req, &rep);
	w->ops_count++;
	if (st == HF_SEAT_TAKEN || st == HF_NOT_ENOUGH)
		return;
	if (st != HF_OK) {
		FAIL("hold answered %s", hf_status_name(st));
		return;
	}
	uint32_t seats[HF_HOLD_SEATS_MAX];
	uint32_t n = rep.hold.seats_count;
	memcpy(seats, rep.hold.seats, n * sizeof(seats[0]));
	model_set(w, seats, n, HF_SEAT_FREE, 0, HF_SEAT_HELD, hold_id);
	log_op(w, OP_HOLD, hold_id, seats, n);

	int confirm = (rng_next(&w->rng) % 10) < 8;
	memset(&req, 0, sizeof(req));
	req.opcode = confirm ? HF_OP_CONFIRM : HF_OP_RELEASE;
	req.confirm.event_id = w->event_id;
	req.confirm.hold_id = hold_id;
	st = call_until_answered(w, client, &req, &rep);
	w->ops_count++;
	if (st != HF_OK) {
		FAIL("%s of acknowledged hold %llu answered %s", confirm ? "confirm" : "release",
		     (unsigned long long)hold_id, hf_status_name(st));
		return;
	}
	if (confirm) {
		model_set(w, seats, n, HF_SEAT_HELD, hold_id, HF_SEAT_BOOKED, hold_id);
		if (w->bookings_count < HOLDS_LOG_MAX)
			w->bookings[w->bookings_count++] = hold_id;
		log_op(w, OP_CONFIRM, hold_id, NULL, 0);
	} else {
		model_set(w, seats, n, HF_SEAT_HELD, hold_id, HF_SEAT_FREE, 0);
		log_op(w, OP_RELEASE, hold_id, NULL, 0);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct hf_client *client = NULL;
	/* Bounded: the driver sets stop after its last check. */
	while (!atomic_load(&g.stop)) {
		worker_checkpoint();
		if (atomic_load(&g.stop))
			break;
		worker_step(w, &client);
	}
	if (client)
		hf_client_close(client);
	return NULL;
}

/* ---- The check ---- */

/* Reads every seat of the worker's event from a server into out[]; checks the event's counts add
 * up. Returns 0, or -1 (after FAIL) when the server did not answer. */
static int fetch_event(struct hf_client *c, const struct worker *w, struct seat_model *out,
		       const char *what)
{
	static struct hf_client_reply rep;
	static uint32_t seats[HF_SEAT_STATUS_SEATS_MAX];
	int rc = hf_client_event_info(c, w->event_id, &rep);
	if (rc != 0 || rep.status != HF_OK) {
		FAIL("%s: EVENT_INFO of event %llu failed: %s", what,
		     (unsigned long long)w->event_id,
		     rc != 0 ? strerror(-rc) : hf_status_name(rep.status));
		return -1;
	}
	const struct hf_rep_event_info e = rep.event_info;
	if (e.free_count + e.held_count + e.booked_count != e.seats_count ||
	    e.seats_count != g.seats_count)
		FAIL("%s: event %llu: free %u + held %u + booked %u != seats %u", what,
		     (unsigned long long)w->event_id, e.free_count, e.held_count, e.booked_count,
		     e.seats_count);
	uint32_t held = 0, booked = 0;
	for (uint32_t first = 0; first < g.seats_count; first += HF_SEAT_STATUS_SEATS_MAX) {
		uint32_t n = g.seats_count - first;
		if (n > HF_SEAT_STATUS_SEATS_MAX)
			n = HF_SEAT_STATUS_SEATS_MAX;
		for (uint32_t i = 0; i < n; i++)
			seats[i] = first + i;
		if (hf_client_seat_status(c, w->event_id, seats, n, &rep) != 0 ||
		    rep.status != HF_OK || rep.seat_status.seats_count != n) {
			FAIL("%s: SEAT_STATUS of event %llu failed", what,
			     (unsigned long long)w->event_id);
			return -1;
		}
		for (uint32_t i = 0; i < n; i++) {
			out[first + i].state = rep.seat_status.seats[i].state;
			out[first + i].owner_id = rep.seat_status.seats[i].owner_id;
			held += out[first + i].state == HF_SEAT_HELD;
			booked += out[first + i].state == HF_SEAT_BOOKED;
		}
	}
	if (held != e.held_count || booked != e.booked_count)
		FAIL("%s: event %llu: seats say held %u booked %u, counts say %u %u", what,
		     (unsigned long long)w->event_id, held, booked, e.held_count, e.booked_count);
	return 0;
}

/* Index of the first seat where two views differ, or -1. */
static int64_t first_difference(const struct seat_model *a, const struct seat_model *b)
{
	for (uint32_t s = 0; s < g.seats_count; s++) {
		if (a[s].state != b[s].state || a[s].owner_id != b[s].owner_id)
			return s;
	}
	return -1;
}

static void check_event(struct hf_client *c, struct worker *w, uint32_t round)
{
	static struct seat_model server_view[SEATS_MAX];
	char what[64];
	snprintf(what, sizeof(what), "round %u", round);
	if (fetch_event(c, w, server_view, what) != 0)
		return;
	int64_t s = first_difference(server_view, w->seats);
	if (s >= 0)
		FAIL("round %u: event %llu seat %lld: server %u/%llu, acknowledged %u/%llu", round,
		     (unsigned long long)w->event_id, (long long)s, server_view[s].state,
		     (unsigned long long)server_view[s].owner_id, w->seats[s].state,
		     (unsigned long long)w->seats[s].owner_id);
}

static void pause_workers(void)
{
	pthread_mutex_lock(&g.lock);
	g.pause_requested = 1;
	/* A worker that failed stops without pausing: wake up now and then to notice. */
	while (g.paused_count < g.workers_count && !atomic_load(&g.stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g.cond, &g.lock, &ts);
	}
	pthread_mutex_unlock(&g.lock);
}

static void resume_workers(void)
{
	pthread_mutex_lock(&g.lock);
	g.pause_requested = 0;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
}

static void check_all(uint32_t round)
{
	struct hf_client *c;
	if (hf_client_open(g.main_server.host_port, NULL, &c) != 0) {
		FAIL("round %u: cannot connect for the check", round);
		return;
	}
	for (uint32_t i = 0; i < g.workers_count; i++)
		check_event(c, &g.workers[i], round);
	hf_client_close(c);
}

/* ---- Backup mode ---- */

static void replay_op(struct seat_model *m, const struct op_entry *op)
{
	if (op->kind == OP_HOLD) {
		for (uint32_t i = 0; i < op->seats_count; i++) {
			m[op->seats[i]].state = HF_SEAT_HELD;
			m[op->seats[i]].owner_id = op->id;
		}
		return;
	}
	for (uint32_t s = 0; s < g.seats_count; s++) {
		if (m[s].owner_id != op->id)
			continue;
		if (op->kind == OP_CONFIRM) {
			m[s].state = HF_SEAT_BOOKED;
		} else {
			m[s].state = HF_SEAT_FREE;
			m[s].owner_id = 0;
		}
	}
}

/* Sends BACKUP to every shard of the main server. Returns 0 or -1 (after FAIL). */
static int backup_to(const char *dir)
{
	struct hf_client *c;
	static struct hf_request req;
	static struct hf_client_reply rep;
	if (hf_client_open(g.main_server.host_port, NULL, &c) != 0) {
		FAIL("backup: cannot connect");
		return -1;
	}
	int rc = 0;
	uint16_t owners = hf_client_slot_map(c)->owners_count;
	for (uint16_t o = 0; o < owners && rc == 0; o++) {
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_BACKUP;
		snprintf(req.backup.path, sizeof(req.backup.path), "%s", dir);
		if (hf_client_call_shard(c, o, &req, &rep) != 0 || rep.status != HF_OK) {
			FAIL("backup to %s: shard %u answered %s", dir, o,
			     hf_status_name(rep.status));
			rc = -1;
		}
	}
	hf_client_close(c);
	return rc;
}

/* Restores `dir` into a second holdfastd and checks each event against the worker's snapshot moved
 * forward by some prefix of the ops it logged since (exactly all of them when `exact`). */
static void check_restore(const char *dir, uint32_t round, int exact, uint64_t *rng)
{
	static struct seat_model restored[SEATS_MAX];
	static struct seat_model model[SEATS_MAX];
	struct server srv = {0};
	snprintf(srv.data_dir, sizeof(srv.data_dir), "%s/restored-%u", g.tmp_dir, round);
	srv.port = free_port_pair(rng);
	server_start(&srv, dir);
	struct hf_client *c;
	if (hf_client_open(srv.host_port, NULL, &c) != 0) {
		FAIL("backup round %u: cannot connect to the restored node", round);
		server_kill(&srv);
		return;
	}
	char what[64];
	snprintf(what, sizeof(what), "backup round %u", round);
	for (uint32_t i = 0; i < g.workers_count && !atomic_load(&g.failed); i++) {
		struct worker *w = &g.workers[i];
		if (fetch_event(c, w, restored, what) != 0)
			break;
		memcpy(model, w->snapshot, g.seats_count * sizeof(model[0]));
		int64_t matched = -1;
		uint32_t first_k = exact ? w->log_count : 0;
		for (uint32_t k = 0; k <= w->log_count; k++) {
			if (k >= first_k && first_difference(model, restored) < 0) {
				matched = k;
				break;
			}
			if (k < w->log_count)
				replay_op(model, &w->log[k]);
		}
		if (matched < 0)
			FAIL(
			    "backup round %u: event %llu restored from %s matches no point in time "
			    "between %s and the end of the backup (%u ops logged)",
			    round, (unsigned long long)w->event_id, dir,
			    exact ? "the pause" : "the start", w->log_count);
	}
	hf_client_close(c);
	server_kill(&srv);
	remove_tree(srv.data_dir);
}

/* Resets every worker's log and takes its model as the snapshot. Workers must be paused. */
static void snapshot_workers(void)
{
	for (uint32_t i = 0; i < g.workers_count; i++) {
		struct worker *w = &g.workers[i];
		memcpy(w->snapshot, w->seats, g.seats_count * sizeof(w->seats[0]));
		w->log_count = 0;
	}
}

static void run_backups(uint64_t *rng)
{
	char dir[300];
	for (uint32_t round = 1; round <= g.backups && !atomic_load(&g.failed); round++) {
		int last = round == g.backups;
		pause_workers();
		snapshot_workers();
		if (!last)
			resume_workers();
		sleep_ms(20u + (uint32_t)(rng_next(rng) % 200u));
		snprintf(dir, sizeof(dir), "%s/backup-%u", g.tmp_dir, round);
		if (backup_to(dir) != 0)
			break;
		/* Let the load run on, then freeze the logs: the backup lies within them. */
		sleep_ms(20u + (uint32_t)(rng_next(rng) % 100u));
		pause_workers();
		check_restore(dir, round, last, rng);
		remove_tree(dir);
		if (!last)
			resume_workers();
		uint64_t ops = 0;
		for (uint32_t i = 0; i < g.workers_count; i++)
			ops += g.workers[i].log_count;
		printf("crash_test: backup round %u restored and checked (%llu ops during it)%s\n",
		       round, (unsigned long long)ops, last ? ", quiesced: exact" : "");
		fflush(stdout);
	}
}

/* ---- Kill mode ---- */

static uint32_t run_kills(uint64_t *rng)
{
	uint32_t round;
	for (round = 1; round <= g.kills && !atomic_load(&g.failed); round++) {
		sleep_ms(50u + (uint32_t)(rng_next(rng) % 350u));
		server_kill(&g.main_server);
		server_start(&g.main_server, NULL);
		pause_workers();
		check_all(round);
		resume_workers();
		if (round % 10 == 0) {
			uint64_t ops = 0;
			for (uint32_t i = 0; i < g.workers_count; i++)
				ops += g.workers[i].ops_count;
			printf("crash_test: %u kills survived, %llu acknowledged ops\n", round,
			       (unsigned long long)ops);
			fflush(stdout);
		}
	}
	pause_workers();
	check_all(round);
	return round - 1;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static int parse_u32(const char *text, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno != 0 || end == text || *end != '\0' || v > UINT32_MAX || text[0] == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: crash_test HOLDFASTD [--kills N | --backups N] [--seed S] "
				"[--workers W] [--seats N]\n");
		return 2;
	}
	g.holdfastd = argv[1];
	if (access(g.holdfastd, X_OK) != 0) {
		fprintf(stderr, "crash_test: %s is not executable: skipping\n", g.holdfastd);
		return 77;
	}
	g.kills = (uint32_t)env_u64("HF_KILLS", getenv("HF_LONG") ? 300 : 20);
	g.seed = env_u64("HF_SEED", (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20);
	g.workers_count = 4;
	g.seats_count = 2000;
	for (int i = 2; i < argc; i += 2) {
		uint32_t v = 0;
		if (i + 1 >= argc ||
		    (strcmp(argv[i], "--seed") != 0 && parse_u32(argv[i + 1], &v))) {
			fprintf(stderr, "crash_test: %s needs a number\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--kills") == 0)
			g.kills = v;
		else if (strcmp(argv[i], "--backups") == 0)
			g.backups = v;
		else if (strcmp(argv[i], "--seed") == 0)
			g.seed = strtoull(argv[i + 1], NULL, 0);
		else if (strcmp(argv[i], "--workers") == 0)
			g.workers_count = v;
		else if (strcmp(argv[i], "--seats") == 0)
			g.seats_count = v;
		else {
			fprintf(stderr, "crash_test: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (g.workers_count < 1 || g.workers_count > WORKERS_MAX || g.seats_count < 16 ||
	    g.seats_count > SEATS_MAX) {
		fprintf(stderr, "crash_test: workers 1..%u, seats 16..%u\n", WORKERS_MAX,
			SEATS_MAX);
		return 2;
	}
	if (g.backups > 0)
		printf("crash_test: seed %llu (replay with HF_SEED=%llu), %u backup rounds under "
		       "load, %u workers, %u seats\n",
		       (unsigned long long)g.seed, (unsigned long long)g.seed, g.backups,
		       g.workers_count, g.seats_count);
	else
		printf("crash_test: seed %llu (replay with HF_SEED=%llu), %u kills, %u workers, %u "
		       "seats\n",
		       (unsigned long long)g.seed, (unsigned long long)g.seed, g.kills,
		       g.workers_count, g.seats_count);
	fflush(stdout);
	uint64_t rng = g.seed;

	snprintf(g.tmp_dir, sizeof(g.tmp_dir), "/tmp/hf-crash-XXXXXX");
	if (mkdtemp(g.tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(g.main_server.data_dir, sizeof(g.main_server.data_dir), "%s/data", g.tmp_dir);
	g.main_server.port = free_port_pair(&rng);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);

	server_start(&g.main_server, NULL);

	/* One event per worker; consecutive ids land on both shards. */
	struct hf_client *admin;
	HF_ASSERT(hf_client_open(g.main_server.host_port, NULL, &admin) == 0);
	for (uint32_t i = 0; i < g.workers_count; i++) {
		struct worker *w = &g.workers[i];
		w->index = i;
		w->event_id = 1000u + i;
		w->rng = g.seed ^ (0x1234567ull * (i + 1));
		struct hf_req_create_event ce = {.event_id = w->event_id,
						 .seats_count = g.seats_count,
						 .row_width = 50,
						 .user_limit = 0,
						 .hold_lifetime_max_s = 3600};
		struct hf_client_reply rep;
		if (hf_client_create_event(admin, &ce, &rep) != 0 || rep.status != HF_OK) {
			fprintf(stderr, "crash_test: cannot create event %llu\n",
				(unsigned long long)w->event_id);
			server_kill(&g.main_server);
			return 1;
		}
	}
	hf_client_close(admin);

	for (uint32_t i = 0; i < g.workers_count; i++)
		HF_ASSERT(pthread_create(&g.workers[i].thread, NULL, worker_main, &g.workers[i]) ==
			  0);

	uint64_t started_ms = hf_clock_mono_ms();
	uint32_t kills = 0;
	if (g.backups > 0)
		run_backups(&rng);
	else
		kills = run_kills(&rng);
	/* Workers are paused here (or stopped after a failure). */
	atomic_store(&g.stop, 1);
	resume_workers();
	for (uint32_t i = 0; i < g.workers_count; i++)
		pthread_join(g.workers[i].thread, NULL);
	server_kill(&g.main_server);

	uint64_t ops = 0, resends = 0, booked = 0;
	for (uint32_t i = 0; i < g.workers_count; i++) {
		ops += g.workers[i].ops_count;
		resends += g.workers[i].resends_count;
		for (uint32_t s = 0; s < g.seats_count; s++)
			booked += g.workers[i].seats[s].state == HF_SEAT_BOOKED;
	}
	printf("crash_test: %u kills, %u backup rounds, %llu acknowledged ops, %llu resends, %llu "
	       "seats booked at the end, %.1f s\n",
	       kills, g.backups, (unsigned long long)ops, (unsigned long long)resends,
	       (unsigned long long)booked, (double)(hf_clock_mono_ms() - started_ms) / 1000.0);
	remove_tree(g.tmp_dir);
	int failed = atomic_load(&g.failed);
	printf("%u passed, %u failed\n", failed ? 0u : 1u, failed ? 1u : 0u);
	return failed ? 1 : 0;
}
