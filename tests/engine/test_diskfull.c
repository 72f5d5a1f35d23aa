/* Goal: a full disk under holdfastd's data directory (durability fsync) costs writes, never
 * acknowledged data or the node: writes answer a clear status (IO) while the disk is full, reads
 * go on, every acknowledged hold is there after space returns and after a restart, and the shard
 * takes writes again by itself once space returns.
 * Method: as root, mount a size-limited tmpfs (8 MiB) and give holdfastd a data directory on it
 * (exit 77 when the mount is not permitted). One client writes one-seat holds; after each answer
 * a filler file is topped up until the file system has no free byte left, so whatever RocksDB
 * frees (a preallocated MANIFEST on reopen) is taken again. The writes stop after 20 IO answers
 * in a row, 2000 holds, or the server's death. Then reads (EVENT_INFO, SEAT_STATUS), then the
 * filler is removed and a new hold must succeed within 15 s, then every acknowledged hold is read
 * back, before and after a restart. The tests run in order on one server and one mount; a server
 * that died is restarted for the later ones, so every property is reported. The mount is
 * detached in every path (group teardown and atexit).
 *
 * In the default suite; it skips (77) only where a tmpfs cannot be mounted (not root). */
#include "tests/engine/harness.h"

#include "base/assert.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMPFS_OPTIONS	   "size=8m"
#define TMPFS_SIZE_BYTES   (8u * 1024u * 1024u)
#define FILLER_CHUNK_BYTES 4096u
/* Chunks one top-up may write: the whole file system, and some slack. */
#define FILLER_CHUNKS_MAX     (TMPFS_SIZE_BYTES / FILLER_CHUNK_BYTES + 64u)
#define EVENT_ID	      5u
#define EVENT_SEATS	      10000u
#define HOLD_TTL_MS	      3600000u
#define HOLDS_BEFORE_FULL     50u
#define HOLDS_WHILE_FULL_MAX  2000u
#define IO_IN_A_ROW_ENOUGH    20u
#define RESUME_TIMEOUT_MS     15000u
#define RESUME_POLL_MS	      100u
#define SEATS_PER_STATUS_CALL 1000u
/* Holds in all: the ones written before, while full, and the resume probes. */
#define HOLDS_MAX                                                                                  \
	(HOLDS_BEFORE_FULL + HOLDS_WHILE_FULL_MAX + RESUME_TIMEOUT_MS / RESUME_POLL_MS + 8u)

HF_STATIC_ASSERT(HOLDS_MAX <= EVENT_SEATS, "every hold takes a seat of its own");
HF_STATIC_ASSERT(SEATS_PER_STATUS_CALL <= HF_SEAT_STATUS_SEATS_MAX, "one SEAT_STATUS call");

/* Small store pools: store-check builds verify the whole store after every write. */
#define STORE_FLAGS "--events-max", "16", "--seats-max", "100000", "--records-max", "4096"

/* What the client saw for hold i (hold id i + 1 on seat i). */
enum outcome {
	OUTCOME_NONE = 0, /* not sent */
	OUTCOME_ACKED,	  /* answered OK: must be durable */
	OUTCOME_IO,	  /* answered IO: must have changed nothing */
	OUTCOME_OTHER,	  /* another status */
	OUTCOME_LOST,	  /* no answer (the server died): outcome unknown */
};

struct fixture {
	struct hf_srv srv;
	struct hf_srv_opts opts;
	char mnt[512]; /* srv.dir (< 256 bytes) + "/mnt" */
	char filler[PATH_MAX];
	uint8_t outcomes[HOLDS_MAX];
	uint32_t holds_count; /* holds sent so far */
	uint32_t io_count;
	uint32_t other_count;
	int died_while_full; /* exit status + 1 when holdfastd died while the disk was full */
	struct hf_reply *rep;
	uint8_t *buf;
};

static char mounted_at[PATH_MAX];

static void unmount_tmpfs(void)
{
	if (mounted_at[0] == '\0')
		return;
	if (umount2(mounted_at, 0) != 0 && umount2(mounted_at, MNT_DETACH) != 0)
		fprintf(stderr, "diskfull: cannot unmount %s: %s\n", mounted_at, strerror(errno));
	mounted_at[0] = '\0';
}

/* Fills the file system: appends to the filler until ENOSPC. Returns the bytes written. */
static uint64_t top_up_filler(const struct fixture *f)
{
	static uint8_t chunk[FILLER_CHUNK_BYTES];
	int fd = open(f->filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	uint64_t written = 0;
	for (uint32_t i = 0; i < FILLER_CHUNKS_MAX; i++) {
		ssize_t n = write(fd, chunk, sizeof(chunk));
		if (n <= 0) {
			assert_int_equal(errno, ENOSPC);
			break;
		}
		written += (uint64_t)n;
	}
	close(fd);
	return written;
}

/* One request without failing the test on a dead peer. Returns 0 with *rep, or -1. */
static int try_call(struct fixture *f, int fd, const struct hf_request *req)
{
	uint8_t frame[HF_FRAME_HEADER_SIZE + 8u + 4u * HF_HOLD_SEATS_MAX + 64u];
	size_t n = hf_request_encode(req, frame, sizeof(frame));
	assert_true(n >= HF_FRAME_HEADER_SIZE);
	if (send(fd, frame, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -1;
	if (hf_tc_recv(fd, f->rep, f->buf) != 0)
		return -1;
	assert_int_equal(f->rep->request_id, req->request_id);
	return 0;
}

/* Sends the next hold and records its outcome. Returns the outcome. */
static enum outcome hold_next(struct fixture *f, int fd)
{
	assert_true(f->holds_count < HOLDS_MAX);
	uint32_t i = f->holds_count++;
	struct hf_request req;
	hf_req_hold(&req, 1000u + i, EVENT_ID, i + 1u, HOLD_TTL_MS, i, 1);
	enum outcome o = OUTCOME_LOST;
	if (try_call(f, fd, &req) == 0) {
		if (f->rep->status == HF_OK)
			o = OUTCOME_ACKED;
		else if (f->rep->status == HF_ERR_IO)
			o = OUTCOME_IO;
		else
			o = OUTCOME_OTHER;
		if (o == OUTCOME_OTHER)
			fprintf(stderr, "diskfull: hold %u answered %s\n", i + 1u,
				hf_status_name(f->rep->status));
	}
	f->outcomes[i] = (uint8_t)o;
	return o;
}

static void print_log_lines(const struct fixture *f, const char *const *needles, uint32_t count)
{
	FILE *log = fopen(f->srv.log_path, "r");
	if (log == NULL)
		return;
	char line[2048];
	while (fgets(line, sizeof(line), log) != NULL) {
		for (uint32_t i = 0; i < count; i++) {
			if (strstr(line, needles[i]) != NULL) {
				fprintf(stderr, "  log: %s", line);
				break;
			}
		}
	}
	fclose(log);
}

/* Starts the server again when it died, with the filler removed (later tests need one). */
static void ensure_serving(struct fixture *f)
{
	if (hf_srv_alive(&f->srv))
		return;
	fprintf(stderr, "diskfull: holdfastd is not running (exit %d); restarting it\n",
		f->srv.exit_status);
	unlink(f->filler);
	assert_int_equal(hf_srv_start(&f->srv, &f->opts), 0);
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	hf_srv_init(&f->srv);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->srv.dir);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_OPTIONS) != 0)
		fail_msg("mount -t tmpfs -o %s %s: %s", TMPFS_OPTIONS, f->mnt, strerror(errno));
	snprintf(mounted_at, sizeof(mounted_at), "%s", f->mnt);
	snprintf(f->srv.data_dir, sizeof(f->srv.data_dir), "%s/data", f->mnt);
	snprintf(f->filler, sizeof(f->filler), "%s/filler", f->mnt);
	f->opts = (struct hf_srv_opts){.shards = 1, .durability = "fsync", .extra = {STORE_FLAGS}};
	assert_int_equal(hf_srv_start(&f->srv, &f->opts), 0);
	f->rep = hf_reply_new();
	f->buf = hf_frame_buf_new();
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	if (f == NULL)
		return 0;
	hf_srv_stop(&f->srv, SIGKILL);
	unmount_tmpfs();
	hf_srv_cleanup(&f->srv);
	free(f->buf);
	free(f->rep);
	free(f);
	return 0;
}

/* After the server died: waits (bounded) for its exit status. */
static void note_death(struct fixture *f)
{
	uint64_t deadline = hf_mono_ms() + 10000u;
	while (hf_srv_alive(&f->srv) && hf_mono_ms() < deadline)
		hf_sleep_ms(50);
	if (!hf_srv_alive(&f->srv))
		f->died_while_full = f->srv.exit_status + 1;
}

static void report_full_phase(const struct fixture *f, uint32_t sent)
{
	uint32_t acked = 0;
	for (uint32_t i = HOLDS_BEFORE_FULL; i < f->holds_count; i++)
		acked += f->outcomes[i] == OUTCOME_ACKED;
	fprintf(stderr, "diskfull: %u holds while full: %u acknowledged, %u IO, %u other, %s\n",
		sent, acked, f->io_count, f->other_count,
		f->died_while_full ? "then no answer: holdfastd died" : "server alive");
	static const char *const needles[] = {"commit failed", "commit of", "reopen", "reload",
					      "loaded",	       "Assertion", "ERROR"};
	print_log_lines(f, needles, HF_ARRAY_SIZE(needles));
}

static void test_writes_answer_io_while_full(void **state)
{
	struct fixture *f = *state;
	int fd = hf_tc_connect(f->srv.port);
	struct hf_request req;
	hf_req_create(&req, 1, EVENT_ID, EVENT_SEATS);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	for (uint32_t i = 0; i < HOLDS_BEFORE_FULL; i++)
		assert_int_equal(hold_next(f, fd), OUTCOME_ACKED);

	fprintf(stderr, "diskfull: filler took %llu bytes\n", (unsigned long long)top_up_filler(f));
	uint32_t io_in_a_row = 0;
	uint32_t sent = 0;
	while (sent < HOLDS_WHILE_FULL_MAX && io_in_a_row < IO_IN_A_ROW_ENOUGH) {
		enum outcome o = hold_next(f, fd);
		sent++;
		if (o == OUTCOME_LOST) {
			note_death(f);
			break;
		}
		io_in_a_row = o == OUTCOME_IO ? io_in_a_row + 1u : 0u;
		f->io_count += o == OUTCOME_IO;
		f->other_count += o == OUTCOME_OTHER;
		top_up_filler(f);
	}
	close(fd);
	report_full_phase(f, sent);
	assert_true(f->io_count > 0);
	assert_int_equal(f->other_count, 0);
	if (f->died_while_full)
		fail_msg("holdfastd died while the disk was full (exit status %d); see the log "
			 "lines above",
			 f->died_while_full - 1);
	assert_int_equal(io_in_a_row, IO_IN_A_ROW_ENOUGH);
}

static void test_reads_go_on_while_full(void **state)
{
	struct fixture *f = *state;
	if (f->died_while_full)
		fail_msg("no reads: holdfastd died while the disk was full");
	top_up_filler(f);
	int fd = hf_tc_connect(f->srv.port);
	struct hf_request req;
	hf_req_ping(&req, 2);
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	hf_req_info(&req, 3, EVENT_ID);
	/* The shard rebuilds its store after the failed batch (from the open instance: the disk
	 * is full); store ops answer IO for that moment only. */
	uint16_t st = hf_tc_call_past_io(fd, &req, f->rep, 5000);
	if (st != HF_OK)
		fail_msg("EVENT_INFO while the disk is full answered %s", hf_status_name(st));
	assert_true(f->rep->event_info.held_count >= HOLDS_BEFORE_FULL);
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_SEAT_STATUS;
	req.request_id = 4;
	req.seat_status.event_id = EVENT_ID;
	req.seat_status.seats_count = 1;
	assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
	assert_int_equal(f->rep->seat_status.seats[0].state, HF_SEAT_HELD);
	close(fd);
	fprintf(stderr, "diskfull: while full: persist_errors %lld, degraded %lld\n",
		(long long)hf_tc_stat_of(f->srv.port, "persist_errors"),
		(long long)hf_tc_stat_of(f->srv.port, "degraded"));
}

static void test_resumes_when_space_returns(void **state)
{
	struct fixture *f = *state;
	ensure_serving(f);
	assert_int_equal(unlink(f->filler) == 0 || errno == ENOENT, 1);
	uint64_t start_ms = hf_mono_ms();
	int fd = hf_tc_connect(f->srv.port);
	enum outcome o = OUTCOME_NONE;
	while (hf_mono_ms() - start_ms < RESUME_TIMEOUT_MS) {
		o = hold_next(f, fd);
		if (o == OUTCOME_ACKED)
			break;
		if (o == OUTCOME_LOST) {
			close(fd);
			fd = hf_tc_connect(f->srv.port);
		}
		hf_sleep_ms(RESUME_POLL_MS);
	}
	close(fd);
	if (o != OUTCOME_ACKED)
		fail_msg("no write succeeded within %u ms of space returning (last: %d)",
			 RESUME_TIMEOUT_MS, (int)o);
	fprintf(stderr, "diskfull: writes resumed %llu ms after the filler was removed\n",
		(unsigned long long)(hf_mono_ms() - start_ms));
	if (f->died_while_full)
		fail_msg("writes resumed only because holdfastd was restarted");
}

/* Reads every seat written so far; returns how many disagree with what the client saw. */
static uint32_t check_holds(struct fixture *f, const char *when)
{
	static struct hf_request req;
	int fd = hf_tc_connect(f->srv.port);
	uint32_t bad = 0;
	uint32_t acked = 0;
	for (uint32_t first = 0; first < f->holds_count; first += SEATS_PER_STATUS_CALL) {
		uint32_t n = f->holds_count - first;
		n = n < SEATS_PER_STATUS_CALL ? n : SEATS_PER_STATUS_CALL;
		memset(&req, 0, sizeof(req));
		req.opcode = HF_OP_SEAT_STATUS;
		req.request_id = 10u + first;
		req.seat_status.event_id = EVENT_ID;
		req.seat_status.seats_count = n;
		for (uint32_t i = 0; i < n; i++)
			req.seat_status.seats[i] = first + i;
		assert_int_equal(hf_tc_call(fd, &req, f->rep), HF_OK);
		for (uint32_t i = 0; i < n; i++) {
			const struct hf_seat_info *s = &f->rep->seat_status.seats[i];
			enum outcome o = (enum outcome)f->outcomes[first + i];
			int ok = 1;
			if (o == OUTCOME_ACKED)
				ok = s->state == HF_SEAT_HELD && s->owner_id == first + i + 1u;
			else if (o == OUTCOME_IO)
				ok = s->state == HF_SEAT_FREE;
			acked += o == OUTCOME_ACKED;
			if (!ok && bad++ < 10)
				fprintf(stderr, "diskfull: %s: seat %u (%s) is in state %u\n", when,
					first + i, o == OUTCOME_ACKED ? "acknowledged" : "IO",
					(unsigned)s->state);
		}
	}
	close(fd);
	fprintf(stderr, "diskfull: %s: %u acknowledged holds checked, %u wrong\n", when, acked,
		bad);
	return bad;
}

static void test_nothing_acknowledged_lost(void **state)
{
	struct fixture *f = *state;
	ensure_serving(f);
	unlink(f->filler);
	uint32_t bad = check_holds(f, "space back");
	assert_int_equal(hf_srv_stop(&f->srv, SIGTERM), 0);
	assert_int_equal(hf_srv_start(&f->srv, &f->opts), 0);
	bad += check_holds(f, "after a restart");
	assert_int_equal(bad, 0);
}

/* 1 when this process may mount a tmpfs (probed on a scratch directory). */
static int tmpfs_mount_permitted(void)
{
	char dir[] = "/tmp/hf-diskfull-probe-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 0;
	int ok = mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_OPTIONS) == 0;
	if (!ok)
		fprintf(stderr, "diskfull: mount -t tmpfs -o %s %s: %s\n", TMPFS_OPTIONS, dir,
			strerror(errno));
	if (ok)
		umount2(dir, 0);
	rmdir(dir);
	return ok;
}

int main(void)
{
	if (!tmpfs_mount_permitted()) {
		printf("diskfull: skipped: a tmpfs cannot be mounted here (needs root)\n");
		return 77;
	}
	atexit(unmount_tmpfs);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writes_answer_io_while_full),
	    cmocka_unit_test(test_reads_go_on_while_full),
	    cmocka_unit_test(test_resumes_when_space_returns),
	    cmocka_unit_test(test_nothing_acknowledged_lost),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
