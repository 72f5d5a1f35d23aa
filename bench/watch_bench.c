/* watch-bench: WATCH fan-out and what it costs the buyers (docs/bench.md, "Watch fan-out").
 *
 *   watch-bench --host 127.0.0.1:7070 --watchers N [--seconds S] [--pipeline P] [--event E]
 *               [--server-pid PID]
 *
 * Creates event E (seats for every hold of the run), opens N watches of it (libholdfast's
 * hf_client_watch_open, one reader thread each, counting the change frames and the GAPs it
 * reads), then holds one seat per HOLD, explicit, on one pipelined client for S seconds. Prints one
 * line: holds/s, the pushes/s all watchers read together (holds/s x watchers when none lags),
 * gaps, and the p99 of the holds' round trip; with --server-pid, also holdfastd's CPU time per hold
 * and per push (from /proc: the part of the cost a loaded machine does not blur). Run it with
 * --watchers 0 for the baseline.
 *
 * Bounds: watchers 0 .. WATCHERS_MAX, pipeline 1 .. 4096, seconds 1 .. 600; every reader stops
 * within READ_POLL_MS of the end. */
#include "client/holdfast.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCHERS_MAX	     256u
#define READ_POLL_MS	     100
#define SEATS_PER_SECOND_MAX 2000000u /* seats created per second of the run */
#define LAT_BUCKETS	     4096u    /* round trips kept for the p99, in 10 us buckets */

struct reader {
	pthread_t thread;
	struct hf_client_watch *watch;
	uint64_t changes;
	uint64_t gaps;
};

static atomic_int stop_flag;

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct hf_watch_change c;
	while (!atomic_load(&stop_flag)) {
		int rc = hf_client_watch_next(r->watch, READ_POLL_MS, &c);
		if (rc < 0)
			break;
		if (rc == 1 && c.kind == HF_WATCH_GAP)
			r->gaps++;
		else if (rc == 1)
			r->changes++;
	}
	return NULL;
}

struct load {
	struct hf_client *client;
	uint64_t event_id;
	uint32_t seats;
	uint32_t next_seat;
	uint64_t ok;
	uint64_t refused;
	uint64_t errors;
	uint64_t sent_us[65536];
	uint64_t lat[LAT_BUCKETS];
};

static void on_done(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	struct load *l = arg;
	if (error != 0)
		l->errors++;
	else if (rep->status == HF_OK)
		l->ok++;
	else
		l->refused++;
	uint64_t us = hf_clock_mono_us() - l->sent_us[tag & 65535u];
	uint64_t b = us / 50u;
	l->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1u]++;
}

static int submit_hold(struct load *l)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.hold.event_id = l->event_id;
	req.hold.hold_id = l->next_seat + 1u;
	req.hold.user_id = l->next_seat;
	req.hold.ttl_ms = 600000;
	req.hold.mode = HF_HOLD_EXPLICIT;
	req.hold.seats_count = 1;
	req.hold.seats[0] = l->next_seat;
	l->sent_us[l->next_seat & 65535u] = hf_clock_mono_us();
	int rc = hf_client_submit(l->client, &req, l->next_seat);
	if (rc == 0)
		l->next_seat++;
	return rc;
}

static uint64_t p99_us(const struct load *l)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < LAT_BUCKETS; i++)
		total += l->lat[i];
	uint64_t seen = 0;
	for (uint32_t i = 0; i < LAT_BUCKETS; i++) {
		seen += l->lat[i];
		if (seen * 100u >= total * 99u)
			return (uint64_t)i * 50u;
	}
	return 0;
}

static void run_load(struct load *l, uint32_t pipeline, uint32_t seconds)
{
	uint64_t end_ms = hf_clock_mono_ms() + (uint64_t)seconds * 1000u;
	/* Bounded by the clock and by the event's seats. */
	while (hf_clock_mono_ms() < end_ms && l->next_seat < l->seats) {
		while (hf_client_in_flight(l->client) < pipeline && l->next_seat < l->seats) {
			if (submit_hold(l) != 0)
				break;
		}
		if (hf_client_poll(l->client, 10, on_done, l) < 0)
			break;
	}
	while (hf_client_in_flight(l->client) > 0) {
		if (hf_client_poll(l->client, 100, on_done, l) < 0)
			break;
	}
}

/* CPU time (user + system) of process pid in microseconds, from /proc, or 0 when unknown. */
static uint64_t cpu_us_of(long pid)
{
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may hold spaces */
	unsigned long long utime = 0, stime = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime) != 2)
		return 0;
	return (utime + stime) * 1000000ull / (unsigned long long)sysconf(_SC_CLK_TCK);
}

static long server_pid;

static int parse_args(int argc, char **argv, const char **host, uint32_t *watchers,
		      uint32_t *seconds, uint32_t *pipeline, uint64_t *event_id)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		unsigned long long v = strtoull(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--host") == 0)
			*host = argv[i + 1];
		else if (strcmp(argv[i], "--watchers") == 0 && v <= WATCHERS_MAX)
			*watchers = (uint32_t)v;
		else if (strcmp(argv[i], "--seconds") == 0 && v >= 1 && v <= 600)
			*seconds = (uint32_t)v;
		else if (strcmp(argv[i], "--pipeline") == 0 && v >= 1 && v <= 4096)
			*pipeline = (uint32_t)v;
		else if (strcmp(argv[i], "--event") == 0 && v >= 1)
			*event_id = v;
		else if (strcmp(argv[i], "--server-pid") == 0 && v >= 1)
			server_pid = (long)v;
		else
			return -1;
	}
	return argc % 2 == 1 ? 0 : -1;
}

static int open_readers(struct load *l, struct reader *readers, uint32_t watchers)
{
	struct hf_client_reply rep;
	for (uint32_t i = 0; i < watchers; i++) {
		int rc =
		    hf_client_watch_open(l->client, l->event_id, 2000, &readers[i].watch, &rep);
		if (rc != 0 || rep.status != HF_OK) {
			fprintf(stderr, "watch-bench: WATCH %u: %s\n", i,
				rc != 0 ? strerror(-rc) : hf_status_name(rep.status));
			return -1;
		}
		pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]);
	}
	return 0;
}

/* Lets the watchers read what is queued for them (at most a second), then stops them. */
static void drain_readers(const struct load *l, struct reader *readers, uint32_t watchers,
			  uint64_t *got_out, uint64_t *gaps_out)
{
	uint64_t drain_end = hf_clock_mono_ms() + 1000u;
	while (hf_clock_mono_ms() < drain_end) {
		uint64_t got = 0;
		for (uint32_t i = 0; i < watchers; i++)
			got += readers[i].changes;
		if (got >= l->ok * watchers)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop_flag, 1);
	*got_out = 0;
	*gaps_out = 0;
	for (uint32_t i = 0; i < watchers; i++) {
		pthread_join(readers[i].thread, NULL);
		*got_out += readers[i].changes;
		*gaps_out += readers[i].gaps;
		hf_client_watch_close(readers[i].watch);
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1:7070";
	uint32_t watchers = 0, seconds = 5, pipeline = 256;
	uint64_t event_id = 0;
	if (parse_args(argc, argv, &host, &watchers, &seconds, &pipeline, &event_id) != 0) {
		fprintf(stderr,
			"usage: watch-bench [--host H:P] [--watchers 0..%u] [--seconds S] "
			"[--pipeline P] [--event E]\n",
			WATCHERS_MAX);
		return 2;
	}
	static struct load l;
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.pipeline_max = 4096;
	if (hf_client_open(host, &o, &l.client) != 0) {
		fprintf(stderr, "watch-bench: cannot reach %s\n", host);
		return 2;
	}
	l.event_id = event_id != 0 ? event_id : hf_client_new_id(l.client);
	uint64_t seats = (uint64_t)seconds * SEATS_PER_SECOND_MAX;
	l.seats = (uint32_t)(seats < HF_EVENT_SEATS_MAX ? seats : HF_EVENT_SEATS_MAX);
	struct hf_client_reply rep;
	struct hf_req_create_event ce = {.event_id = l.event_id, .seats_count = l.seats};
	if (hf_client_create_event(l.client, &ce, &rep) != 0 || rep.status != HF_OK) {
		fprintf(stderr, "watch-bench: CREATE_EVENT failed\n");
		return 1;
	}
	static struct reader readers[WATCHERS_MAX];
	if (open_readers(&l, readers, watchers) != 0)
		return 1;
	uint64_t t0 = hf_clock_mono_us();
	uint64_t cpu0 = cpu_us_of(server_pid);
	run_load(&l, pipeline, seconds);
	double elapsed_s = (double)(hf_clock_mono_us() - t0) / 1e6;
	uint64_t got = 0, gaps = 0;
	drain_readers(&l, readers, watchers, &got, &gaps);
	uint64_t cpu_us = cpu_us_of(server_pid) - cpu0;
	if (server_pid > 0 && l.ok > 0)
		printf("server cpu %.2f us per hold, %.3f us per push; ",
		       (double)cpu_us / (double)l.ok,
		       watchers > 0 ? (double)cpu_us / (double)(l.ok * watchers) : 0.0);
	printf("watchers %u: %.0f holds/s (%" PRIu64 " ok, %" PRIu64 " refused, %" PRIu64
	       " errors), hold p99 %" PRIu64 " us, %.0f pushes/s read (%" PRIu64 " of %" PRIu64
	       "), %" PRIu64 " gaps, %.1f s\n",
	       watchers, (double)l.ok / elapsed_s, l.ok, l.refused, l.errors, p99_us(&l),
	       (double)got / elapsed_s, got, l.ok * watchers, gaps, elapsed_s);
	hf_client_close(l.client);
	return 0;
}
