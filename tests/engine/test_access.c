/* Goal: only those who belong get in, and nobody writes where they should not: --auth-file's
 * tokens and roles (no token, a wrong one, a client token on an admin op, an admin token, a file
 * others can read, a line that does not parse), --backup-root (outside, dot-dot, a symlink out of
 * it, an existing target, no root at all), and --frame-timeout (a silent connection and a partial
 * frame are closed while a normal client is served).
 * Method: real holdfastd processes with those flags and raw sockets; every wait is bounded. */
#include "tests/engine/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIENT_TOKEN "c-0123456789abcdef"
#define ADMIN_TOKEN  "a-fedcba9876543210"

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static uint16_t auth(int fd, const char *token, struct hf_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_AUTH;
	req.request_id = 1;
	req.auth.token_size = (uint16_t)strlen(token);
	memcpy(req.auth.token, token, req.auth.token_size);
	return hf_tc_call(fd, &req, rep);
}

static uint16_t backup(int fd, const char *path, struct hf_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_BACKUP;
	req.request_id = 2;
	snprintf(req.backup.path, sizeof(req.backup.path), "%s", path);
	return hf_tc_call(fd, &req, rep);
}

static int path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void test_token_file_refused(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/tokens", srv.dir);
	/* Group-readable: refused, naming the fix. */
	write_file(path, "client " CLIENT_TOKEN "\n", 0640);
	struct hf_srv_opts opts = {.expect_fail = 1, .extra = {"--auth-file", path}};
	assert_int_equal(hf_srv_start(&srv, &opts), 1);
	assert_true(hf_srv_log_contains(&srv, "chmod 600"));
	/* A bad role, with its line number. */
	write_file(path, "# tokens\n\nclient " CLIENT_TOKEN "\nroot x\n", 0600);
	assert_int_equal(hf_srv_start(&srv, &opts), 1);
	assert_true(hf_srv_log_contains(&srv, ":4: ROLE must be client or admin"));
	/* A duplicate token. */
	write_file(path, "client " CLIENT_TOKEN "\nadmin " CLIENT_TOKEN "\n", 0600);
	assert_int_equal(hf_srv_start(&srv, &opts), 1);
	assert_true(hf_srv_log_contains(&srv, ":2: duplicate token"));
	hf_srv_cleanup(&srv);
}

static void test_roles(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/tokens", srv.dir);
	write_file(path, "# who may connect\nclient " CLIENT_TOKEN "\n  admin " ADMIN_TOKEN "  \n",
		   0600);
	struct hf_srv_opts opts = {.extra = {"--auth-file", path}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	struct hf_request req;

	/* No AUTH first: refused and closed. */
	int fd = hf_tc_connect(srv.port);
	hf_req_ping(&req, 7);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_UNAUTHORIZED);
	assert_true(hf_tc_closed_within(fd, 2000));
	close(fd);
	/* A wrong token (a prefix of a good one): refused and closed. */
	fd = hf_tc_connect(srv.port);
	assert_int_equal(auth(fd, "c-0123456789abcde", rep), HF_UNAUTHORIZED);
	assert_true(hf_tc_closed_within(fd, 2000));
	close(fd);

	/* A client token: store ops yes, BACKUP no (and the connection stays). */
	fd = hf_tc_connect(srv.port);
	assert_int_equal(auth(fd, CLIENT_TOKEN, rep), HF_OK);
	assert_int_equal(rep->auth.role, HF_ROLE_CLIENT);
	hf_req_create(&req, 3, 5, 10);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	hf_req_hold(&req, 4, 5, 1, 60000, 0, 2);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/bk", srv.dir);
	assert_int_equal(backup(fd, dir, rep), HF_FORBIDDEN);
	assert_false(path_exists(dir));
	hf_req_ping(&req, 5);
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	close(fd);

	/* An admin token: BACKUP too. */
	fd = hf_tc_connect(srv.port);
	assert_int_equal(auth(fd, ADMIN_TOKEN, rep), HF_OK);
	assert_int_equal(rep->auth.role, HF_ROLE_ADMIN);
	assert_int_equal(backup(fd, dir, rep), HF_OK);
	assert_true(path_exists(dir));
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_STATS;
	req.request_id = 6;
	assert_int_equal(hf_tc_call(fd, &req, rep), HF_OK);
	/* The two above, and the harness's readiness PINGs, which carry no token either. */
	assert_true(hf_tc_stat(rep, "auth_failures") >= 2);
	assert_int_equal(hf_tc_stat(rep, "replies_forbidden"), 1);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(rep);
}

/* A server without --auth-file answers AUTH with the admin role, so clients with a token work. */
static void test_auth_without_file(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	assert_int_equal(hf_srv_start(&srv, NULL), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	assert_int_equal(auth(fd, "anything", rep), HF_OK);
	assert_int_equal(rep->auth.role, HF_ROLE_ADMIN);
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(rep);
}

static void test_backup_root(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv); /* the harness passes --backup-root <srv.dir> */
	assert_int_equal(hf_srv_start(&srv, NULL), 0);
	struct hf_reply *rep = hf_reply_new();
	int fd = hf_tc_connect(srv.port);
	char outside[] = "/tmp/hf-outside-XXXXXX";
	assert_non_null(mkdtemp(outside));
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bk", outside);
	assert_int_equal(backup(fd, path, rep), HF_FORBIDDEN);
	assert_false(path_exists(path));
	snprintf(path, sizeof(path), "%s/a/../../escape", srv.dir);
	assert_int_equal(backup(fd, path, rep), HF_FORBIDDEN);
	/* A symlink inside the root that leads out of it. */
	char link[PATH_MAX];
	snprintf(link, sizeof(link), "%s/link", srv.dir);
	assert_int_equal(symlink(outside, link), 0);
	snprintf(path, sizeof(path), "%s/link/bk", srv.dir);
	assert_int_equal(backup(fd, path, rep), HF_FORBIDDEN);
	snprintf(path, sizeof(path), "%s/bk", outside);
	assert_false(path_exists(path));
	/* Inside: made; the same place again is refused for good (INVALID, not retryable). */
	snprintf(path, sizeof(path), "%s/backups/one", srv.dir);
	assert_int_equal(backup(fd, path, rep), HF_OK);
	assert_int_equal(backup(fd, path, rep), HF_ERR_INVALID);
	assert_false(hf_status_is_retryable(HF_ERR_INVALID));
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	assert_int_equal(rmdir(outside), 0);

	/* No root at all: BACKUP is refused. */
	struct hf_srv_opts opts = {.no_backup_root = 1};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	fd = hf_tc_connect(srv.port);
	snprintf(path, sizeof(path), "%s/backups/two", srv.dir);
	assert_int_equal(backup(fd, path, rep), HF_FORBIDDEN);
	assert_false(path_exists(path));
	close(fd);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(rep);
}

static void test_frame_timeout(void **state)
{
	(void)state;
	struct hf_srv srv;
	hf_srv_init(&srv);
	struct hf_srv_opts opts = {.extra = {"--frame-timeout", "1"}};
	assert_int_equal(hf_srv_start(&srv, &opts), 0);
	struct hf_reply *rep = hf_reply_new();
	struct hf_request req;
	int silent = hf_tc_connect(srv.port);
	int partial = hf_tc_connect(srv.port);
	int normal = hf_tc_connect(srv.port);
	uint8_t frame[64];
	hf_req_ping(&req, 1);
	size_t n = hf_request_encode(&req, frame, sizeof(frame));
	assert_true(n > 10);
	hf_tc_write_all(partial, frame, 10); /* a header begun, never finished */
	/* The normal client keeps being served across the timeout (bounded: 15 x 200 ms). */
	for (int i = 0; i < 15; i++) {
		hf_req_ping(&req, 100u + (uint64_t)i);
		assert_int_equal(hf_tc_call(normal, &req, rep), HF_OK);
		hf_sleep_ms(200);
	}
	assert_true(hf_tc_closed_within(silent, 3000));
	assert_true(hf_tc_closed_within(partial, 3000));
	hf_req_ping(&req, 200);
	assert_int_equal(hf_tc_call(normal, &req, rep), HF_OK);
	assert_true(hf_tc_stat_of(srv.port, "conns_closed_frame_timeout") >= 2);
	close(silent);
	close(partial);
	close(normal);
	assert_int_equal(hf_srv_stop(&srv, SIGTERM), 0);
	hf_srv_cleanup(&srv);
	free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_file_refused), cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_auth_without_file),  cmocka_unit_test(test_backup_root),
	    cmocka_unit_test(test_frame_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
