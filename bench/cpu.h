/* CPU accounting of a holdfast-bench run: the bench's own CPU time (getrusage of the whole
 * process: load threads and main thread) and, when the server runs on this machine and its pid is
 * given (--server-pid), the server's (utime + stime from /proc/PID/stat), both over the measured
 * window, divided by the operations answered in it. So a figure can say what the load generator
 * cost next to what the server cost: on a small machine the two share the CPUs. */
#ifndef HF_BENCH_CPU_H
#define HF_BENCH_CPU_H

#include <stdint.h>

#define HF_BENCH_PID_MAX	    4194304u /* Linux's PID_MAX_LIMIT */
#define HF_BENCH_PROC_STAT_SIZE_MAX 4096u    /* bytes of /proc/PID/stat read */

struct hf_bench_cpu {
	uint32_t server_pid; /* 0: not given */
	uint8_t server_ok;   /* both server samples were read */
	double bench_s;	     /* CPU seconds of the bench over the window */
	double server_s;     /* CPU seconds of the server over the window, when server_ok */
	uint64_t ops;	     /* operations answered in the window (ok + refused + errors) */
	/* samples at the window's start */
	double bench_start_s;
	double server_start_s;
};

/* Parses the text of /proc/PID/stat (size bytes, need not be NUL-terminated) into utime + stime
 * in clock ticks. The command name may hold spaces and parentheses: fields are counted after the
 * last ')'. Returns 0 or -EINVAL. */
int hf_bench_proc_stat_cpu_ticks(const char *text, uint32_t size, uint64_t *ticks_out);

/* CPU seconds of process pid so far, from /proc/PID/stat. Returns 0 or -errno (-ESRCH: no such
 * process, -EINVAL: unreadable stat). */
int hf_bench_process_cpu_s(uint32_t pid, double *seconds_out);

/* CPU seconds of this process so far (getrusage RUSAGE_SELF, user + system). */
double hf_bench_self_cpu_s(void);

/* Samples the window's start (bench, and server when cpu->server_pid != 0). */
void hf_bench_cpu_start(struct hf_bench_cpu *cpu);

/* Samples the window's end and stores the differences; ops is the count answered in it. */
void hf_bench_cpu_stop(struct hf_bench_cpu *cpu, uint64_t ops);

/* Microseconds of CPU per operation; negative when there is no figure (no op, no server). */
double hf_bench_cpu_bench_us_per_op(const struct hf_bench_cpu *cpu);
double hf_bench_cpu_server_us_per_op(const struct hf_bench_cpu *cpu);

#endif
