/* move-bench: the cost of moving one slot while a client reads it (docs/bench.md, "Moving a slot").
 *
 *   move-bench --host HOST:PORT --etcd URL --cluster NAME --cli PATH --to NODE/SHARD[,NODE/SHARD]
 *              [--event ID] [--seats N] [--holds N] [--booked N]
 *
 * Creates one event of --seats seats (default 100000) on the cluster at --host, places --holds
 * live holds of one seat (default 20000) and --booked bookings of one seat (default 40000) with
 * the pipelined client, then runs `holdfast move-slot SLOT --to NODE/SHARD` (the CLI at --cli; the
 * first --to target whose shard, NODE's port + SHARD, does not own the slot already)
 * while a prober thread reads the event (AVAIL, counts only) back to back. Prints the move's wall
 * time, the CLI's progress line, and the prober's longest request (its worst freeze: TRY_AGAIN
 * waited out inside the client, MOVED followed) and how many requests it made. Every wait is
 * bounded; exits 1 with a reason when a step fails. */
#include "base/clock.h"
#include "client/holdfast.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_PIPELINE 512u
#define BENCH_OUT_SIZE 4096u
#define BENCH_ARGS_MAX 32

struct args {
	const char *host, *etcd, *cluster, *cli, *to;
	uint64_t event_id;
	uint32_t seats, holds, booked;
};

static atomic_int probe_stop;
static atomic_uint_least64_t probe_max_us, probe_count, probe_errors;

static int fail(const char *what, int rc)
{
	fprintf(stderr, "move-bench: %s: %s\n", what,
		rc < 0 ? strerror(-rc) : hf_status_name((uint16_t)rc));
	exit(1);
}

static void on_done(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	uint64_t *bad = arg;
	(void)tag;
	if (error != 0 || rep->status != HF_OK)
		(*bad)++;
}

/* Submits n one-seat requests of opcode op (HOLD, then CONFIRM for the first `confirm` ids). */
static void fill(struct hf_client *c, const struct args *a, uint32_t first, uint32_t n, int confirm)
{
	uint64_t bad = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct hf_request req;
		memset(&req, 0, sizeof(req));
		if (confirm) {
			req.opcode = HF_OP_CONFIRM;
			req.confirm.event_id = a->event_id;
			req.confirm.hold_id = first + i + 1u;
		} else {
			req.opcode = HF_OP_HOLD;
			req.hold.event_id = a->event_id;
			req.hold.hold_id = first + i + 1u;
			req.hold.user_id = 1u + (first + i) % 1000u;
			req.hold.ttl_ms = 1800u * 1000u;
			req.hold.seats_count = 1;
			req.hold.seats[0] = first + i;
		}
		while (hf_client_submit(c, &req, i) == -EAGAIN)
			if (hf_client_poll(c, 100, on_done, &bad) < 0)
				fail("poll", -EIO);
	}
	while (hf_client_in_flight(c) > 0)
		if (hf_client_poll(c, 1000, on_done, &bad) < 0)
			fail("poll", -EIO);
	if (bad > 0)
		fail(confirm ? "confirms" : "holds", -EIO);
}

static void *prober(void *arg)
{
	const struct args *a = arg;
	struct hf_client *c = NULL;
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.deadline_ms = 30000;
	if (hf_client_open(a->host, &o, &c) != 0)
		fail("prober connect", -ECONNREFUSED);
	static struct hf_client_reply rep;
	while (!atomic_load(&probe_stop)) {
		uint64_t t0 = hf_clock_mono_us();
		int rc = hf_client_avail(c, a->event_id, 0, 0, &rep);
		uint64_t us = hf_clock_mono_us() - t0;
		if (rc != 0 || rep.status != HF_OK)
			atomic_fetch_add(&probe_errors, 1);
		if (us > atomic_load(&probe_max_us))
			atomic_store(&probe_max_us, us);
		if (us > 10000 && getenv("MOVE_BENCH_TRACE") != NULL)
			fprintf(stderr, "slow AVAIL: %.1f ms, ended at wall %llu ms\n", us / 1000.0,
				(unsigned long long)hf_clock_wall_ms());
		atomic_fetch_add(&probe_count, 1);
	}
	hf_client_close(c);
	return NULL;
}

/* Runs the CLI's move-slot; its stdout into out. Returns its exit status. */
static int run_move(const struct args *a, uint16_t slot, char *out, size_t cap)
{
	char slot_text[8];
	snprintf(slot_text, sizeof(slot_text), "%u", (unsigned)slot);
	int pipefd[2];
	if (pipe(pipefd) != 0)
		fail("pipe", -errno);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execl(a->cli, a->cli, "--etcd", a->etcd, "--cluster", a->cluster, "move-slot",
		      slot_text, "--to", a->to, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	ssize_t n;
	while (used + 1 < cap && (n = read(pipefd[0], out + used, cap - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void parse(int argc, char **argv, struct args *a)
{
	*a = (struct args){.event_id = 424242, .seats = 100000, .holds = 20000, .booked = 40000};
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (strcmp(k, "--host") == 0)
			a->host = v;
		else if (strcmp(k, "--etcd") == 0)
			a->etcd = v;
		else if (strcmp(k, "--cluster") == 0)
			a->cluster = v;
		else if (strcmp(k, "--cli") == 0)
			a->cli = v;
		else if (strcmp(k, "--to") == 0)
			a->to = v;
		else if (strcmp(k, "--event") == 0)
			a->event_id = strtoull(v, NULL, 10);
		else if (strcmp(k, "--seats") == 0)
			a->seats = (uint32_t)strtoul(v, NULL, 10);
		else if (strcmp(k, "--holds") == 0)
			a->holds = (uint32_t)strtoul(v, NULL, 10);
		else if (strcmp(k, "--booked") == 0)
			a->booked = (uint32_t)strtoul(v, NULL, 10);
		else
			fail(k, -EINVAL);
	}
	if (a->host == NULL || a->etcd == NULL || a->cluster == NULL || a->cli == NULL ||
	    a->to == NULL || a->event_id == 0 || a->holds + a->booked > a->seats)
		fail("usage: --host, --etcd, --cluster, --cli and --to are required; holds + "
		     "booked <= seats",
		     -EINVAL);
}

int main(int argc, char **argv)
{
	struct args a;
	parse(argc, argv, &a);
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.pipeline_max = BENCH_PIPELINE;
	o.deadline_ms = 60000;
	struct hf_client *c = NULL;
	int rc = hf_client_open(a.host, &o, &c);
	if (rc != 0)
		fail("connect", rc);
	static struct hf_client_reply rep;
	struct hf_req_create_event ce = {.event_id = a.event_id, .seats_count = a.seats};
	rc = hf_client_create_event(c, &ce, &rep);
	if (rc != 0 || rep.status != HF_OK)
		fail("create event", rc != 0 ? rc : rep.status);
	uint64_t t0 = hf_clock_mono_ms();
	fill(c, &a, 0, a.holds + a.booked, 0);
	fill(c, &a, a.holds, a.booked, 1);
	printf("filled event %" PRIu64 ": %u seats, %u live holds, %u booked (%" PRIu64 " ms)\n",
	       a.event_id, a.seats, a.holds, a.booked, hf_clock_mono_ms() - t0);
	/* The first target that is not the owner (NODE/SHARD names port NODE + SHARD). */
	const struct hf_slot_map *map = hf_client_slot_map(c);
	const struct hf_slot_owner *owner = &map->owners[map->slot_owner[hf_slot_of(a.event_id)]];
	static char to[256];
	snprintf(to, sizeof(to), "%s", a.to);
	for (char *t = strtok(to, ","); t != NULL; t = strtok(NULL, ",")) {
		unsigned port = 0, shard = 0;
		const char *colon = strrchr(t, ':');
		if (colon != NULL && sscanf(colon + 1, "%u/%u", &port, &shard) == 2 &&
		    port + shard != owner->port) {
			a.to = t;
			break;
		}
	}
	hf_client_close(c);
	pthread_t th;
	pthread_create(&th, NULL, prober, &a);
	while (atomic_load(&probe_count) < 100)
		usleep(1000);
	static char out[BENCH_OUT_SIZE];
	uint64_t m0 = hf_clock_mono_ms();
	rc = run_move(&a, hf_slot_of(a.event_id), out, sizeof(out));
	uint64_t move_ms = hf_clock_mono_ms() - m0;
	atomic_store(&probe_stop, 1);
	pthread_join(th, NULL);
	const char *line = strstr(out, "moves 1/1");
	printf("move-slot %u --to %s: exit %d in %" PRIu64 " ms; %s",
	       (unsigned)hf_slot_of(a.event_id), a.to, rc, move_ms,
	       line != NULL ? line : "(no progress line)\n");
	printf("prober: %" PRIu64 " AVAIL requests, %" PRIu64 " errors, longest %.1f ms\n",
	       (uint64_t)atomic_load(&probe_count), (uint64_t)atomic_load(&probe_errors),
	       (double)atomic_load(&probe_max_us) / 1000.0);
	return rc == 0 && atomic_load(&probe_errors) == 0 ? 0 : 1;
}
