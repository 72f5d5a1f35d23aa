/* holdfast-bench: a load generator for holdfast, and for the same workloads on Redis+Lua.
 *
 * The main thread parses options, creates the events, starts `threads` load threads, prints a
 * progress line every second, stops the load (duration, --ops, or the onsale event sold out),
 * merges the per-thread histograms, runs the onsale consistency check and prints the report. Each
 * load thread drives connections/threads connections of a target (target.h); each connection has
 * `pipeline` virtual users (workload.h), one request in flight each.
 *
 * A load thread is one event loop (evloop.h): one epoll wait over the sockets of all of its
 * connections, then, for each ready socket, the target reads it and delivers its completions; the
 * users they freed send their next requests, and each connection that has something to send
 * flushes once (one send per socket per round). Nothing is polled per connection per round and
 * nothing is allocated per request: users, timestamps and the targets' buffers are allocated when
 * the connection opens.
 *
 * Closed loop (default): a user sends its next request as soon as its answer arrived. Open loop
 * (--rate): each connection has a schedule of send times at fixed intervals; a free user takes the
 * next scheduled time and the latency is measured from that scheduled time, not from the actual
 * send, so a stall of the target (or of the bench) shows in the percentiles instead of silently
 * delaying the next requests (no coordinated omission). Sends more than 1 ms behind schedule are
 * counted and reported.
 *
 * Every loop is bounded in time: the load stops at --duration (or earlier), the drain of in-flight
 * requests after the stop is bounded by DRAIN_NS, and every request has the target's own timeout.
 */
#include "bench/bench.h"
#include "bench/cpu.h"
#include "bench/evloop.h"
#include "bench/hist.h"
#include "bench/plot.h"
#include "bench/report.h"
#include "bench/room_sale.h"
#include "bench/target.h"
#include "bench/workload.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_NS	(15ull * 1000000000ull) /* in-flight requests may finish this long after stop */
#define WAIT_NS_MAX	2000000u		/* longest wait in a load thread (sees the stop) */
#define RETRY_NS	100000u /* users with nothing to send (no event ready) ask again this soon */
#define SETUP_PIPELINE	64u
#define CONTROL_TICK_NS 10000000u /* the main thread checks stop conditions this often */

struct bench_worker;

struct bench_client {
	void *conn;
	struct bench_worker *worker;
	uint32_t index;		     /* in worker->clients */
	struct hf_bench_user *users; /* pipeline entries */
	uint64_t *sent_ns;	     /* per user: when its request was (scheduled to be) sent */
	uint32_t *idle;		     /* stack of idle users */
	uint32_t *parked;	     /* scratch: idle users with nothing to send this round */
	uint32_t idle_count;
	uint8_t pending;       /* on worker->pending: has idle users to issue for */
	uint64_t timer_ms;     /* when the target wants a timer pass (mono ms); UINT64_MAX: none */
	uint64_t next_send_ns; /* open loop: the next scheduled send */
	uint64_t interval_ns;  /* open loop */
};

struct bench_worker {
	pthread_t thread;
	uint32_t index;
	const struct hf_bench_target *target;
	struct hf_bench_shared *shared;
	struct hf_bench_gen gen;
	uint32_t clients_count;
	struct bench_client *clients;
	struct hf_bench_evloop loop; /* one epoll over every connection of this thread */
	uint32_t *pending;	     /* clients_count: clients with idle users, closed loop */
	uint32_t pending_count;
	uint64_t now_ns;	/* the loop's clock, read once per wait and per ready socket */
	uint64_t timer_next_ms; /* <= every client's timer_ms */
	uint64_t in_flight;	/* submitted, not yet completed */
	struct hf_bench_op_stats stats[HF_BENCH_OP_KINDS];
	uint64_t measure_start_ns;
	uint64_t sends_late;
	uint64_t send_lag_ns_max;
	uint64_t sends_missed;
	_Atomic uint64_t done_count;	/* answers, for the progress line */
	_Atomic uint64_t hold_ok_count; /* for the progress line */
	int open_rc;			/* connect result */
};

/* Main-thread state the load threads read. */
static struct {
	const struct hf_bench_opts *opts;
	_Atomic int go; /* 1: load; -1: abort before start */
	_Atomic uint32_t opened;
	uint64_t stop_ns; /* set before shared.stop */
} run;

static void client_mark_pending(struct bench_worker *w, struct bench_client *c)
{
	if (c->pending)
		return;
	HF_ASSERT(w->pending_count < w->clients_count);
	c->pending = 1;
	w->pending[w->pending_count++] = c->index;
}

static void stats_count(struct hf_bench_op_stats *s, const struct hf_bench_result *res)
{
	switch (hf_bench_outcome_of(res)) {
	case HF_BENCH_OUTCOME_OK:
		s->ok++;
		break;
	case HF_BENCH_OUTCOME_REFUSED:
		s->refused++;
		if (s->refused_first == 0)
			s->refused_first = res->status;
		break;
	default:
		s->errors++;
		if (s->error_first == 0)
			s->error_first = res->error ? res->error : res->status;
		break;
	}
}

/* A completion of client arg's user tag (from inside the target's on_ready or flush). */
static void client_on_done(void *arg, uint64_t tag, const struct hf_bench_result *res)
{
	struct bench_client *c = arg;
	struct bench_worker *w = c->worker;
	HF_ASSERT(tag < run.opts->pipeline);
	HF_ASSERT(w->in_flight > 0);
	w->in_flight--;
	struct hf_bench_user *u = &c->users[tag];
	uint64_t now = w->now_ns;
	unsigned kind = u->op.kind;
	HF_ASSERT(kind < HF_BENCH_OP_KINDS);
	if (c->sent_ns[tag] >= w->measure_start_ns) {
		struct hf_bench_op_stats *s = &w->stats[kind];
		stats_count(s, res);
		if (res->error == 0)
			hf_hist_record(&s->hist, now > c->sent_ns[tag] ? now - c->sent_ns[tag] : 0);
	}
	if (kind == HF_BENCH_OP_HOLD && res->error == 0 && res->status == 0)
		atomic_fetch_add_explicit(&w->hold_ok_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->done_count, 1, memory_order_relaxed);
	hf_bench_user_done(&w->gen, u, res, now);
	HF_ASSERT(c->idle_count < run.opts->pipeline);
	c->idle[c->idle_count++] = (uint32_t)tag;
	client_mark_pending(w, c);
}

static void client_on_watch(void *arg, int fd, uint32_t events)
{
	struct bench_client *c = arg;
	hf_bench_evloop_watch(&c->worker->loop, c->index, fd, events);
}

static void client_on_timer(void *arg, int timeout_ms)
{
	struct bench_client *c = arg;
	struct bench_worker *w = c->worker;
	c->timer_ms = timeout_ms < 0 ? UINT64_MAX : w->now_ns / 1000000u + (uint64_t)timeout_ms;
	if (c->timer_ms < w->timer_next_ms)
		w->timer_next_ms = c->timer_ms;
}

/* Takes one unit of the --ops budget; 0 when it is spent (and stops the run). */
static int ops_budget_take(struct hf_bench_shared *shared)
{
	const struct hf_bench_opts *o = shared->opts;
	if (o->ops_max == 0)
		return 1;
	if (atomic_fetch_add_explicit(&shared->ops_sent, 1, memory_order_relaxed) < o->ops_max)
		return 1;
	atomic_store(&shared->stop, 1);
	return 0;
}

/* Open loop: accounts for a send scheduled at send_ns made at now. */
static void send_lag_note(struct bench_worker *w, struct bench_client *c, uint64_t send_ns,
			  uint64_t now)
{
	uint64_t lag = now - send_ns;
	if (lag > HF_BENCH_LATE_NS && send_ns >= w->measure_start_ns)
		w->sends_late++;
	if (lag > w->send_lag_ns_max && send_ns >= w->measure_start_ns)
		w->send_lag_ns_max = lag;
	c->next_send_ns += c->interval_ns;
}

/* Queues what the idle users of c have to send at now (closed loop: everything; open loop: what
 * is scheduled up to now). Returns the number queued; *parked_out: users with nothing to do. */
static uint32_t client_issue(struct bench_worker *w, struct bench_client *c, uint64_t now,
			     uint32_t *parked_out)
{
	const struct hf_bench_opts *o = run.opts;
	uint32_t sent = 0;
	/* Each idle user gets one chance per round: users with nothing to do go back. */
	uint32_t tries = c->idle_count;
	uint32_t parked = 0;
	uint32_t blocked = 0; /* the target refused a submit: retry next round */
	while (tries-- > 0 && c->idle_count > 0) {
		uint64_t send_ns = now;
		if (o->rate_ops_per_s > 0) {
			if (c->next_send_ns > now)
				break;
			send_ns = c->next_send_ns;
		}
		uint32_t ui = c->idle[--c->idle_count];
		struct hf_bench_user *u = &c->users[ui];
		if (!hf_bench_user_next(&w->gen, u)) {
			HF_ASSERT(parked < o->pipeline);
			c->parked[parked++] = ui; /* back on the stack after this round */
			continue;
		}
		if (!ops_budget_take(w->shared)) {
			c->idle[c->idle_count++] = ui;
			u->resend = 1; /* keep the prepared op for nobody: the run is over */
			break;
		}
		int rc = w->target->submit(c->conn, &u->op, ui);
		if (rc != 0) {
			/* Pipeline full (-EAGAIN) or broken: keep the op for the next round. */
			u->resend = 1;
			c->idle[c->idle_count++] = ui;
			blocked = 1;
			break;
		}
		/* A resend is a new attempt: its latency starts now. */
		u->resend = 0;
		c->sent_ns[ui] = send_ns;
		w->in_flight++;
		if (o->rate_ops_per_s > 0)
			send_lag_note(w, c, send_ns, now);
		sent++;
	}
	for (uint32_t i = 0; i < parked; i++) {
		HF_ASSERT(c->idle_count < o->pipeline);
		c->idle[c->idle_count++] = c->parked[i];
	}
	HF_ASSERT(c->idle_count <= o->pipeline);
	*parked_out = parked + blocked;
	return sent;
}

static void nap_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};
	nanosleep(&ts, NULL);
}

static int worker_open_client(struct bench_worker *w, struct bench_client *c, uint32_t i)
{
	const struct hf_bench_opts *o = run.opts;
	c->worker = w;
	c->index = i;
	c->timer_ms = UINT64_MAX;
	c->users = calloc(o->pipeline, sizeof(*c->users));
	c->sent_ns = calloc(o->pipeline, sizeof(*c->sent_ns));
	c->idle = calloc(o->pipeline, sizeof(*c->idle));
	c->parked = calloc(o->pipeline, sizeof(*c->parked));
	if (c->users == NULL || c->sent_ns == NULL || c->idle == NULL || c->parked == NULL)
		return -ENOMEM;
	int rc = w->target->open(o, o->pipeline, &c->conn);
	if (rc != 0) {
		c->conn = NULL;
		return rc;
	}
	for (uint32_t u = 0; u < o->pipeline; u++) {
		hf_bench_user_init(&w->gen, &c->users[u]);
		c->idle[c->idle_count++] = o->pipeline - 1u - u;
	}
	const struct hf_bench_loop loop = {
	    .watch = client_on_watch, .timer = client_on_timer, .done = client_on_done, .arg = c};
	w->now_ns = hf_clock_mono_ns();
	rc = w->target->attach(c->conn, &loop);
	if (rc != 0)
		return rc;
	client_mark_pending(w, c);
	return 0;
}

static int worker_open(struct bench_worker *w)
{
	w->timer_next_ms = UINT64_MAX;
	w->clients = calloc(w->clients_count, sizeof(*w->clients));
	w->pending = calloc(w->clients_count, sizeof(*w->pending));
	if (w->clients == NULL || w->pending == NULL)
		return -ENOMEM;
	int rc = hf_bench_evloop_init(&w->loop);
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < w->clients_count; i++) {
		rc = worker_open_client(w, &w->clients[i], i);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void worker_close(struct bench_worker *w)
{
	for (uint32_t i = 0; w->clients && i < w->clients_count; i++) {
		struct bench_client *c = &w->clients[i];
		if (c->conn)
			w->target->close(c->conn);
		free(c->parked);
		free(c->idle);
		free(c->sent_ns);
		free(c->users);
	}
	free(w->clients);
	free(w->pending);
	if (w->loop.fds != NULL)
		hf_bench_evloop_deinit(&w->loop);
}

/* Closed loop: issues for the clients whose users became idle, one flush (one send per socket)
 * each. Clients whose users had nothing to send stay pending for a retry. */
static void worker_issue_pending(struct bench_worker *w, uint64_t now)
{
	uint32_t count = w->pending_count;
	w->pending_count = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct bench_client *c = &w->clients[w->pending[i]];
		HF_ASSERT(c->pending);
		c->pending = 0;
		uint32_t parked;
		if (client_issue(w, c, now, &parked) > 0)
			w->target->flush(c->conn);
		if (parked > 0 && !c->pending)
			client_mark_pending(w, c);
	}
}

/* Open loop: issues for every client with a send due; returns the wait until the next one. */
static uint64_t worker_issue_scheduled(struct bench_worker *w, uint64_t now)
{
	uint64_t wait_ns = WAIT_NS_MAX;
	for (uint32_t i = 0; i < w->clients_count; i++) {
		struct bench_client *c = &w->clients[i];
		uint32_t parked;
		if (c->idle_count > 0 && c->next_send_ns <= now &&
		    client_issue(w, c, now, &parked) > 0)
			w->target->flush(c->conn);
		if (c->idle_count == 0)
			continue;
		uint64_t until = c->next_send_ns > now ? c->next_send_ns - now : RETRY_NS;
		if (until < wait_ns)
			wait_ns = until;
	}
	w->pending_count = 0; /* the open loop scans instead */
	for (uint32_t i = 0; i < w->clients_count; i++)
		w->clients[i].pending = 0;
	return wait_ns;
}

/* Timer passes for the clients whose timer is due. */
static void worker_timers(struct bench_worker *w)
{
	uint64_t now_ms = w->now_ns / 1000000u;
	if (now_ms < w->timer_next_ms)
		return;
	w->timer_next_ms = UINT64_MAX;
	for (uint32_t i = 0; i < w->clients_count; i++) {
		struct bench_client *c = &w->clients[i];
		if (c->timer_ms <= now_ms) {
			c->timer_ms = UINT64_MAX;
			w->target->on_ready(c->conn, -1, 0); /* may set the timer again */
		}
		if (c->timer_ms < w->timer_next_ms)
			w->timer_next_ms = c->timer_ms;
	}
}

/* One wait over every socket of the thread, then the ready ones. Returns completions. */
static int worker_wait(struct bench_worker *w, uint64_t wait_ns)
{
	uint64_t now_ms = w->now_ns / 1000000u;
	if (w->timer_next_ms != UINT64_MAX) {
		uint64_t timer_ns =
		    w->timer_next_ms > now_ms ? (w->timer_next_ms - now_ms) * 1000000u : 0;
		if (timer_ns < wait_ns)
			wait_ns = timer_ns;
	}
	int n = hf_bench_evloop_wait(&w->loop, wait_ns);
	w->now_ns = hf_clock_mono_ns();
	int got = 0;
	for (int i = 0; i < n; i++) {
		uint32_t owner, events;
		int fd;
		hf_bench_evloop_ready(&w->loop, i, &owner, &fd, &events);
		HF_ASSERT(owner < w->clients_count);
		int rc = w->target->on_ready(w->clients[owner].conn, fd, events);
		if (rc > 0)
			got += rc;
		if (n > 1)
			w->now_ns = hf_clock_mono_ns();
	}
	worker_timers(w);
	return got;
}

static void worker_schedule(struct bench_worker *w, uint64_t start)
{
	const struct hf_bench_opts *o = run.opts;
	/* Each connection gets an equal share of the rate, phases staggered. */
	uint64_t interval = (uint64_t)(1e9 * o->connections / o->rate_ops_per_s);
	if (interval == 0)
		interval = 1;
	for (uint32_t i = 0; i < w->clients_count; i++) {
		struct bench_client *c = &w->clients[i];
		c->interval_ns = interval;
		uint64_t global = (uint64_t)w->index + (uint64_t)i * o->threads;
		c->next_send_ns = start + interval * global / o->connections;
	}
}

static void worker_run(struct bench_worker *w)
{
	const struct hf_bench_opts *o = run.opts;
	struct hf_bench_shared *shared = w->shared;
	uint64_t rounds_max = UINT64_MAX; /* the loop ends by stop + drain, both bounded in time */
	uint64_t stop_seen_ns = 0;	  /* when this thread first saw the stop */
	for (uint64_t round = 0; round < rounds_max; round++) {
		uint64_t now = w->now_ns = hf_clock_mono_ns();
		int stopping = atomic_load_explicit(&shared->stop, memory_order_relaxed);
		if (stopping && stop_seen_ns == 0)
			stop_seen_ns = now;
		uint64_t wait_ns = WAIT_NS_MAX;
		if (!stopping && o->rate_ops_per_s > 0)
			wait_ns = worker_issue_scheduled(w, now);
		else if (!stopping)
			worker_issue_pending(w, now);
		if (!stopping && o->rate_ops_per_s <= 0 && w->pending_count > 0)
			wait_ns = RETRY_NS;
		if (stopping) {
			if (w->in_flight == 0)
				break;
			if (now > stop_seen_ns + DRAIN_NS) {
				fprintf(stderr,
					"holdfast-bench: thread %u: %" PRIu64
					" requests still in flight after the drain time\n",
					w->index, w->in_flight);
				break;
			}
		}
		worker_wait(w, wait_ns);
	}
	if (o->rate_ops_per_s > 0) {
		for (uint32_t i = 0; i < w->clients_count; i++) {
			struct bench_client *c = &w->clients[i];
			if (c->next_send_ns < stop_seen_ns)
				w->sends_missed +=
				    (stop_seen_ns - c->next_send_ns) / c->interval_ns;
		}
	}
}

static void *worker_main(void *arg)
{
	struct bench_worker *w = arg;
	const struct hf_bench_opts *o = run.opts;
	w->open_rc = worker_open(w);
	atomic_fetch_add(&run.opened, 1);
	while (atomic_load(&run.go) == 0)
		nap_ns(1000000);
	if (atomic_load(&run.go) < 0 || w->open_rc != 0)
		return NULL;
	uint64_t start = w->shared->start_ns;
	w->measure_start_ns = start + (uint64_t)(o->warmup_s * 1e9);
	if (o->rate_ops_per_s > 0)
		worker_schedule(w, start);
	worker_run(w);
	return NULL;
}

/* ---- main thread ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int create_events(const struct hf_bench_target *t, void *conn, struct hf_bench_shared *sh,
			 struct hf_bench_op_stats *create_stats)
{
	const struct hf_bench_opts *o = sh->opts;
	for (uint32_t k = 0; k < o->events; k++) {
		struct hf_bench_op op;
		memset(&op, 0, sizeof(op));
		op.kind = HF_BENCH_OP_CREATE;
		op.event_id = hf_bench_event_id(sh, k, 0);
		op.event_seats = o->seats;
		op.event_row_width = o->row_width;
		struct hf_bench_result res;
		uint64_t t0 = hf_clock_mono_ns();
		int rc = t->call(conn, &op, &res);
		uint64_t t1 = hf_clock_mono_ns();
		if (rc != 0) {
			fprintf(stderr, "holdfast-bench: create event %" PRIu64 ": %s\n",
				op.event_id, strerror(-rc));
			create_stats->errors++;
			return rc;
		}
		if (res.status != 0) {
			fprintf(stderr,
				"holdfast-bench: create event %" PRIu64 " answered status %u%s\n",
				op.event_id, res.status,
				res.status == 17 ? " (exists with other parameters)" : "");
			create_stats->refused++;
			return -EEXIST;
		}
		create_stats->ok++;
		hf_hist_record(&create_stats->hist, t1 - t0);
	}
	return 0;
}

/* --plot: the counters the progress line shows, into the timeline when a sample is due. */
static void timeline_sample(struct hf_bench_timeline *tl, struct bench_worker *workers, uint32_t n,
			    struct hf_bench_shared *sh, uint64_t now)
{
	struct hf_bench_sample s = {.t_ns = now - sh->start_ns};
	if (s.t_ns < tl->next_ns)
		return;
	for (uint32_t i = 0; i < n; i++) {
		s.done += atomic_load_explicit(&workers[i].done_count, memory_order_relaxed);
		s.holds_ok += atomic_load_explicit(&workers[i].hold_ok_count, memory_order_relaxed);
	}
	s.taken = atomic_load(&sh->seats_taken);
	s.booked = atomic_load(&sh->seats_booked);
	hf_bench_timeline_add(tl, &s);
}

static void progress_line(struct bench_worker *workers, uint32_t n, struct hf_bench_shared *sh,
			  uint64_t now, uint64_t *last_done, uint64_t *last_holds,
			  uint64_t *last_ns)
{
	const struct hf_bench_opts *o = sh->opts;
	uint64_t done = 0, holds = 0;
	for (uint32_t i = 0; i < n; i++) {
		done += atomic_load_explicit(&workers[i].done_count, memory_order_relaxed);
		holds += atomic_load_explicit(&workers[i].hold_ok_count, memory_order_relaxed);
	}
	double dt = (double)(now - *last_ns) / 1e9;
	fprintf(stderr, "[%6.1fs] %9.0f ops/s  %9.0f holds/s", (double)(now - sh->start_ns) / 1e9,
		(double)(done - *last_done) / dt, (double)(holds - *last_holds) / dt);
	if (o->workload == HF_BENCH_WORKLOAD_ONSALE)
		fprintf(stderr, "  sold %5.1f%% (booked %" PRIu64 ", held %" PRIu64 ")",
			100.0 * (double)atomic_load(&sh->seats_booked) / o->seats,
			atomic_load(&sh->seats_booked),
			atomic_load(&sh->seats_taken) - atomic_load(&sh->seats_booked));
	fprintf(stderr, "\n");
	*last_done = done;
	*last_holds = holds;
	*last_ns = now;
}

int main(int argc, char **argv)
{
	static struct hf_bench_opts opts;
	char err[256];
	int rc = hf_bench_opts_parse(&opts, argc, argv, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc != 0) {
		fprintf(stderr, "holdfast-bench: %s\n", err);
		hf_bench_opts_usage(stderr);
		return 2;
	}
	run.opts = &opts;
	if (opts.waiting_room != 0)
		return hf_bench_room_main(&opts);
	if (opts.server_pid != 0) {
		double cpu_s;
		rc = hf_bench_process_cpu_s(opts.server_pid, &cpu_s);
		if (rc != 0) {
			fprintf(stderr,
				"holdfast-bench: --server-pid %u: %s (the server must run on this "
				"machine)\n",
				opts.server_pid, rc == -ESRCH ? "no such process" : strerror(-rc));
			return 2;
		}
	}
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	const struct hf_bench_target *target = opts.target == HF_BENCH_TARGET_REDIS
						   ? &hf_bench_target_redis
						   : &hf_bench_target_holdfast;
	void *setup = NULL;
	rc = target->open(&opts, SETUP_PIPELINE, &setup);
	if (rc != 0) {
		fprintf(stderr, "holdfast-bench: cannot connect to %s at %s: %s\n", target->name,
			opts.target == HF_BENCH_TARGET_REDIS ? opts.redis : opts.host,
			strerror(-rc));
		return 2;
	}
	uint16_t owners_count;
	const uint16_t *slot_owner;
	target->routing(setup, &owners_count, &slot_owner);
	static struct hf_bench_shared shared;
	rc = hf_bench_shared_init(&shared, &opts, owners_count, slot_owner);
	if (rc != 0) {
		fprintf(stderr, "holdfast-bench: out of memory\n");
		return 2;
	}
	static struct hf_bench_report report;
	report.opts = &opts;
	report.target_name = target->name;
	for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++)
		hf_bench_op_stats_init(&report.ops[k]);
	if (!opts.json)
		printf("holdfast-bench: target %s, seed %" PRIu64 ", event base %" PRIu64
		       ", %u shard(s)\n",
		       target->name, opts.seed, opts.event_base, owners_count);

	uint64_t t_create = hf_clock_mono_ns();
	/* PING touches no event: nothing to create. */
	if ((opts.create && opts.workload != HF_BENCH_WORKLOAD_PING) ||
	    opts.workload == HF_BENCH_WORKLOAD_CREATE) {
		rc = create_events(target, setup, &shared, &report.ops[HF_BENCH_OP_CREATE]);
		if (rc != 0)
			return 2;
	}
	if (opts.workload == HF_BENCH_WORKLOAD_CREATE) {
		report.duration_s = (double)(hf_clock_mono_ns() - t_create) / 1e9;
		if (opts.json)
			hf_bench_report_json(stdout, &report);
		else
			hf_bench_report_table(stdout, &report);
		target->close(setup);
		return 0;
	}
	if (opts.workload == HF_BENCH_WORKLOAD_ONSALE) {
		/* The check assumes the bench is the only writer of a fresh event. */
		struct hf_bench_op op = {.kind = HF_BENCH_OP_INFO, .event_id = opts.event_base};
		struct hf_bench_result res;
		rc = target->call(setup, &op, &res);
		if (rc != 0 || res.status != 0) {
			fprintf(stderr,
				"holdfast-bench: event %" PRIu64 " is not there (%s, status %u)\n",
				opts.event_base, rc ? strerror(-rc) : "answered", res.status);
			return 2;
		}
		if (res.event_seats != opts.seats || res.free_count != opts.seats) {
			fprintf(stderr,
				"holdfast-bench: event %" PRIu64 " has %u seats, %u free: not a "
				"fresh %u-seat event; the check will fail\n",
				opts.event_base, res.event_seats, res.free_count, opts.seats);
		}
	}

	/* Start the load threads: each opens its connections, then all start together. */
	static struct bench_worker workers[HF_BENCH_THREADS_MAX];
	for (uint32_t i = 0; i < opts.threads; i++) {
		struct bench_worker *w = &workers[i];
		w->index = i;
		w->target = target;
		w->shared = &shared;
		w->clients_count = opts.connections / opts.threads +
				   (i < opts.connections % opts.threads ? 1u : 0u);
		hf_bench_gen_init(&w->gen, &shared, i);
		for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++)
			hf_bench_op_stats_init(&w->stats[k]);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			fprintf(stderr, "holdfast-bench: cannot start thread %u\n", i);
			return 2;
		}
	}
	while (atomic_load(&run.opened) < opts.threads)
		nap_ns(1000000);
	int open_failed = 0;
	for (uint32_t i = 0; i < opts.threads; i++) {
		if (workers[i].open_rc != 0) {
			fprintf(stderr, "holdfast-bench: thread %u could not connect: %s\n", i,
				strerror(-workers[i].open_rc));
			open_failed = 1;
		}
	}
	report.cpu.server_pid = opts.server_pid;
	int cpu_started = opts.warmup_s <= 0;
	if (cpu_started)
		hf_bench_cpu_start(&report.cpu);
	shared.start_ns = hf_clock_mono_ns();
	atomic_store(&run.go, open_failed ? -1 : 1);
	if (open_failed) {
		for (uint32_t i = 0; i < opts.threads; i++)
			pthread_join(workers[i].thread, NULL);
		return 2;
	}

	uint64_t end_ns = shared.start_ns + (uint64_t)(opts.duration_s * 1e9);
	uint64_t next_progress = shared.start_ns + 1000000000ull;
	uint64_t last_done = 0, last_holds = 0, last_ns = shared.start_ns;
	static struct hf_bench_timeline timeline;
	hf_bench_timeline_init(&timeline, opts.duration_s);
	uint64_t measure_start = shared.start_ns + (uint64_t)(opts.warmup_s * 1e9);
	for (;;) {
		uint64_t now = hf_clock_mono_ns();
		if (!cpu_started && now >= measure_start) {
			hf_bench_cpu_start(&report.cpu);
			cpu_started = 1;
		}
		if (opts.plot[0] != '\0')
			timeline_sample(&timeline, workers, opts.threads, &shared, now);
		if (now >= end_ns || interrupted || atomic_load(&shared.stop))
			break;
		if (opts.workload == HF_BENCH_WORKLOAD_ONSALE &&
		    atomic_load(&shared.seats_booked) >= opts.seats)
			break;
		if (opts.progress && now >= next_progress) {
			progress_line(workers, opts.threads, &shared, now, &last_done, &last_holds,
				      &last_ns);
			next_progress += 1000000000ull;
		}
		nap_ns(CONTROL_TICK_NS);
	}
	run.stop_ns = hf_clock_mono_ns();
	atomic_store(&shared.stop, 1);
	for (uint32_t i = 0; i < opts.threads; i++)
		pthread_join(workers[i].thread, NULL);

	/* Merge. The CPU window ends after the drain: its answers are counted too. */
	if (!cpu_started)
		hf_bench_cpu_start(&report.cpu);
	uint64_t window_ops = 0;
	report.duration_s =
	    run.stop_ns > measure_start ? (double)(run.stop_ns - measure_start) / 1e9 : 0.0;
	for (uint32_t i = 0; i < opts.threads; i++) {
		struct bench_worker *w = &workers[i];
		for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++) {
			hf_bench_op_stats_merge(&report.ops[k], &w->stats[k]);
			window_ops += w->stats[k].ok + w->stats[k].refused + w->stats[k].errors;
		}
		report.sends_late += w->sends_late;
		report.sends_missed += w->sends_missed;
		if (w->send_lag_ns_max > report.send_lag_ns_max)
			report.send_lag_ns_max = w->send_lag_ns_max;
	}
	hf_bench_cpu_stop(&report.cpu, window_ops);
	for (unsigned i = 0; i < HF_BENCH_SELLOUT_MARKS; i++)
		report.sellout_ns[i] = atomic_load(&shared.sellout_ns[i]);
	report.soldout_ns = atomic_load(&shared.soldout_ns);
	report.seats_booked = atomic_load(&shared.seats_booked);
	report.seats_taken = atomic_load(&shared.seats_taken);

	if (opts.workload == HF_BENCH_WORKLOAD_ONSALE && opts.check) {
		struct hf_bench_check *chk = &report.check;
		chk->ran = 1;
		chk->bench_booked = report.seats_booked;
		chk->bench_held = report.seats_taken - report.seats_booked;
		chk->ledger_conflicts = atomic_load(&shared.ledger_conflicts);
		chk->outcomes_unknown = atomic_load(&shared.outcomes_unknown);
		rc = target->check(setup, &shared, chk);
		if (rc != 0 && chk->message[0] == '\0')
			snprintf(chk->message, sizeof(chk->message), "the check could not run: %s",
				 strerror(-rc));
		if (rc == 0 && chk->message[0] == '\0' && chk->booked_count != chk->bench_booked)
			snprintf(chk->message, sizeof(chk->message),
				 "server booked %" PRIu64 " seats, bench confirmed %" PRIu64,
				 chk->booked_count, chk->bench_booked);
		if (rc == 0 && chk->message[0] == '\0' && chk->held_count != chk->bench_held)
			snprintf(chk->message, sizeof(chk->message),
				 "server holds %" PRIu64 " seats, bench %" PRIu64, chk->held_count,
				 chk->bench_held);
		chk->ok = rc == 0 && chk->message[0] == '\0' && chk->owner_mismatches == 0 &&
			  chk->bitmap_mismatches == 0 && chk->double_owned == 0 &&
			  chk->ledger_conflicts == 0 && chk->seats == opts.seats &&
			  chk->free_count + chk->held_count + chk->booked_count == chk->seats;
		if (!chk->ok && chk->message[0] == '\0')
			snprintf(chk->message, sizeof(chk->message), "see the mismatch counts");
		report.exit_code = chk->ok ? 0 : 1;
	}
	if (opts.json)
		hf_bench_report_json(stdout, &report);
	else
		hf_bench_report_table(stdout, &report);
	if (report.check.ran)
		fprintf(opts.json ? stderr : stdout, "%s\n", report.check.ok ? "PASS" : "FAIL");
	if (opts.plot[0] != '\0') {
		timeline_sample(&timeline, workers, opts.threads, &shared, run.stop_ns);
		if (hf_bench_plot_write(opts.plot, &report, &timeline) != 0 &&
		    report.exit_code == 0)
			report.exit_code = 2;
	}
	for (uint32_t i = 0; i < opts.threads; i++)
		worker_close(&workers[i]);
	target->close(setup);
	hf_bench_shared_deinit(&shared);
	return report.exit_code;
}
