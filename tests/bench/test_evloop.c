/* Goal: the load thread's event loop reports a ready socket to the connection that owns it, costs
 * no epoll_ctl for a want that is undone before the wait (READ|WRITE asked on submit, READ again
 * after the flush), applies a forget at once, and survives a descriptor that is closed and
 * reused (the invalid case a loop must not trip over).
 * Method: socketpairs on one hf_bench_evloop; count epoll_ctl calls (ctl_count) around each step;
 * readiness is made by writing to the peer, never by sleeping; every wait has a timeout. */
#include "bench/evloop.h"
#include "bench/target.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#define WAIT_NS (2ull * 1000000000ull) /* bound on every wait that must report readiness */

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_ready_reaches_owner(void **state)
{
	(void)state;
	struct hf_bench_evloop loop;
	assert_int_equal(hf_bench_evloop_init(&loop), 0);
	int a[2], b[2];
	pair(a);
	pair(b);
	hf_bench_evloop_watch(&loop, 7, a[0], HF_BENCH_EV_READ);
	hf_bench_evloop_watch(&loop, 9, b[0], HF_BENCH_EV_READ);
	assert_int_equal(loop.ctl_count, 0); /* lazy: nothing before the wait */
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	assert_int_equal(loop.ctl_count, 2);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(hf_bench_evloop_wait(&loop, WAIT_NS), 1);
	uint32_t owner, events;
	int fd;
	hf_bench_evloop_ready(&loop, 0, &owner, &fd, &events);
	assert_int_equal(owner, 9);
	assert_int_equal(fd, b[0]);
	assert_true(events & HF_BENCH_EV_READ);
	assert_false(events & HF_BENCH_EV_WRITE);
	/* Level-triggered: still ready until read. */
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 1);
	char ch;
	assert_int_equal(read(b[0], &ch, 1), 1);
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	assert_int_equal(loop.ctl_count, 2);
	assert_int_equal(loop.ctl_errors, 0);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	hf_bench_evloop_deinit(&loop);
}

static void test_undone_want_is_free(void **state)
{
	(void)state;
	struct hf_bench_evloop loop;
	assert_int_equal(hf_bench_evloop_init(&loop), 0);
	int a[2];
	pair(a);
	hf_bench_evloop_watch(&loop, 1, a[0], HF_BENCH_EV_READ);
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	uint64_t ctl = loop.ctl_count;
	for (int round = 0; round < 100; round++) {
		hf_bench_evloop_watch(&loop, 1, a[0], HF_BENCH_EV_READ | HF_BENCH_EV_WRITE);
		hf_bench_evloop_watch(&loop, 1, a[0], HF_BENCH_EV_READ);
		assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	}
	assert_int_equal(loop.ctl_count, ctl);
	/* A want that stays is applied once, and reported. */
	hf_bench_evloop_watch(&loop, 1, a[0], HF_BENCH_EV_READ | HF_BENCH_EV_WRITE);
	assert_int_equal(hf_bench_evloop_wait(&loop, WAIT_NS), 1);
	assert_int_equal(loop.ctl_count, ctl + 1);
	uint32_t owner, events;
	int fd;
	hf_bench_evloop_ready(&loop, 0, &owner, &fd, &events);
	assert_true(events & HF_BENCH_EV_WRITE);
	close(a[0]);
	close(a[1]);
	hf_bench_evloop_deinit(&loop);
}

static void test_forget_and_reuse(void **state)
{
	(void)state;
	struct hf_bench_evloop loop;
	assert_int_equal(hf_bench_evloop_init(&loop), 0);
	int a[2];
	pair(a);
	hf_bench_evloop_watch(&loop, 3, a[0], HF_BENCH_EV_READ);
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	uint64_t ctl = loop.ctl_count;
	hf_bench_evloop_watch(&loop, 3, a[0], 0); /* forget: at once, before the close */
	assert_int_equal(loop.ctl_count, ctl + 1);
	int old = a[0];
	close(a[0]);
	close(a[1]);
	/* The same number comes back for another connection's socket. */
	int b[2];
	pair(b);
	int reused = b[0] == old ? b[0] : b[1] == old ? b[1] : -1;
	if (reused >= 0) {
		int peer = reused == b[0] ? b[1] : b[0];
		hf_bench_evloop_watch(&loop, 4, reused, HF_BENCH_EV_READ);
		assert_int_equal(write(peer, "y", 1), 1);
		assert_int_equal(hf_bench_evloop_wait(&loop, WAIT_NS), 1);
		uint32_t owner, events;
		int fd;
		hf_bench_evloop_ready(&loop, 0, &owner, &fd, &events);
		assert_int_equal(owner, 4);
		assert_int_equal(fd, reused);
		char ch;
		assert_int_equal(read(reused, &ch, 1), 1);
	}
	/* A closed socket that was never forgotten: the kernel dropped it; forgetting it later,
	 * or registering its reused number again, is not an error of the loop. */
	int c[2];
	pair(c);
	hf_bench_evloop_watch(&loop, 5, c[0], HF_BENCH_EV_READ);
	assert_int_equal(hf_bench_evloop_wait(&loop, 0), 0);
	int stale = c[0];
	close(c[0]);
	hf_bench_evloop_watch(&loop, 5, stale, 0);
	assert_int_equal(loop.ctl_errors, 0);
	close(c[1]);
	close(b[0]);
	close(b[1]);
	hf_bench_evloop_deinit(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready_reaches_owner),
	    cmocka_unit_test(test_undone_want_is_free),
	    cmocka_unit_test(test_forget_and_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
