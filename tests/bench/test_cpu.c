/* Goal: the bench reads a server's CPU time from /proc/PID/stat correctly whatever its command
 * name holds (spaces, parentheses), refuses text that is not a stat line instead of inventing a
 * figure, and its per-op figures are absent (negative) when there is nothing to divide.
 * Method: parse crafted stat lines (valid, truncated, non-numeric) and this process's own stat;
 * fill struct hf_bench_cpu by hand for the per-op arithmetic. */
#include "bench/cpu.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static int parse(const char *text, uint64_t *ticks)
{
	return hf_bench_proc_stat_cpu_ticks(text, (uint32_t)strlen(text), ticks);
}

static void test_stat_lines(void **state)
{
	(void)state;
	uint64_t t = 0;
	/* pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	 * stime ... */
	assert_int_equal(parse("42 (holdfastd) S 1 42 42 0 -1 4194560 10 0 0 0 1234 567 0 0 20 0 "
			       "3 0 100 0\n",
			       &t),
			 0);
	assert_int_equal(t, 1234 + 567);
	assert_int_equal(parse("7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 7\n", &t), 0);
	assert_int_equal(t, 11);
	/* Invalid: no ')', too few fields, a non-number where utime is. */
	assert_int_equal(parse("42 holdfastd S 1 42", &t), -EINVAL);
	assert_int_equal(parse("42 (x) S 1 42 42 0 -1 0 0 0 0 0 9", &t), -EINVAL);
	assert_int_equal(parse("42 (x) S 1 42 42 0 -1 0 0 0 0 0 9x 3 0", &t), -EINVAL);
	assert_int_equal(parse("", &t), -EINVAL);
}

static void test_own_process(void **state)
{
	(void)state;
	double s = -1.0;
	assert_int_equal(hf_bench_process_cpu_s((uint32_t)getpid(), &s), 0);
	assert_true(s >= 0.0);
	assert_true(hf_bench_self_cpu_s() >= 0.0);
	/* A pid past the kernel's limit never exists. */
	assert_int_equal(hf_bench_process_cpu_s(HF_BENCH_PID_MAX + 1u, &s), -ESRCH);
}

static void test_per_op(void **state)
{
	(void)state;
	struct hf_bench_cpu cpu;
	memset(&cpu, 0, sizeof(cpu));
	assert_true(hf_bench_cpu_bench_us_per_op(&cpu) < 0); /* no op */
	cpu.ops = 1000000;
	cpu.bench_s = 1.5;
	assert_true(hf_bench_cpu_bench_us_per_op(&cpu) > 1.4999);
	assert_true(hf_bench_cpu_bench_us_per_op(&cpu) < 1.5001);
	assert_true(hf_bench_cpu_server_us_per_op(&cpu) < 0); /* no server */
	cpu.server_pid = 1;
	cpu.server_ok = 1;
	cpu.server_s = 0.5;
	assert_true(hf_bench_cpu_server_us_per_op(&cpu) > 0.4999);
	assert_true(hf_bench_cpu_server_us_per_op(&cpu) < 0.5001);
	/* A window sampled for real: the figures are not negative. */
	memset(&cpu, 0, sizeof(cpu));
	cpu.server_pid = (uint32_t)getpid();
	hf_bench_cpu_start(&cpu);
	assert_int_equal(cpu.server_ok, 1);
	hf_bench_cpu_stop(&cpu, 10);
	assert_true(cpu.bench_s >= 0.0);
	assert_true(cpu.server_s >= 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stat_lines),
	    cmocka_unit_test(test_own_process),
	    cmocka_unit_test(test_per_op),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
