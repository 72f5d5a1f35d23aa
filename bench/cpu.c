/* CPU accounting of a run (cpu.h). */
#include "bench/cpu.h"

#include "base/assert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define STAT_UTIME_FIELD 14u /* 1-based, proc(5); stime is the next one */

int hf_bench_proc_stat_cpu_ticks(const char *text, uint32_t size, uint64_t *ticks_out)
{
	HF_ASSERT(text != NULL);
	HF_ASSERT(size <= HF_BENCH_PROC_STAT_SIZE_MAX);
	uint32_t close_paren = size;
	for (uint32_t i = 0; i < size; i++) {
		if (text[i] == ')')
			close_paren = i;
	}
	if (close_paren == size)
		return -EINVAL;
	/* After ')' comes field 3 (state). */
	uint32_t field = 2;
	uint64_t values[2] = {0, 0};
	uint32_t got = 0;
	uint32_t i = close_paren + 1;
	while (i < size && got < 2) {
		while (i < size && text[i] == ' ')
			i++;
		if (i == size || text[i] == '\n')
			break;
		field++;
		uint32_t start = i;
		uint64_t v = 0;
		int digits = 1;
		while (i < size && text[i] != ' ' && text[i] != '\n') {
			if (text[i] < '0' || text[i] > '9' || v > UINT64_MAX / 10u - 9u)
				digits = 0;
			else
				v = v * 10u + (uint64_t)(text[i] - '0');
			i++;
		}
		if (field >= STAT_UTIME_FIELD) {
			if (!digits || i == start)
				return -EINVAL;
			values[got++] = v;
		}
	}
	if (got < 2)
		return -EINVAL;
	*ticks_out = values[0] + values[1];
	return 0;
}

int hf_bench_process_cpu_s(uint32_t pid, double *seconds_out)
{
	HF_ASSERT(pid > 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	char text[HF_BENCH_PROC_STAT_SIZE_MAX];
	ssize_t n = read(fd, text, sizeof(text));
	int err = errno;
	close(fd);
	if (n < 0)
		return err == ESRCH ? -ESRCH : -err;
	uint64_t ticks;
	if (hf_bench_proc_stat_cpu_ticks(text, (uint32_t)n, &ticks) != 0)
		return -EINVAL;
	long hz = sysconf(_SC_CLK_TCK);
	*seconds_out = (double)ticks / (double)(hz > 0 ? hz : 100);
	return 0;
}

double hf_bench_self_cpu_s(void)
{
	struct rusage ru;
	int rc = getrusage(RUSAGE_SELF, &ru);
	HF_ASSERT(rc == 0);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void hf_bench_cpu_start(struct hf_bench_cpu *cpu)
{
	cpu->bench_start_s = hf_bench_self_cpu_s();
	cpu->server_ok = 0;
	if (cpu->server_pid != 0)
		cpu->server_ok = hf_bench_process_cpu_s(cpu->server_pid, &cpu->server_start_s) == 0;
}

void hf_bench_cpu_stop(struct hf_bench_cpu *cpu, uint64_t ops)
{
	cpu->ops = ops;
	cpu->bench_s = hf_bench_self_cpu_s() - cpu->bench_start_s;
	HF_ASSERT(cpu->bench_s >= 0.0);
	double end_s;
	if (cpu->server_ok && hf_bench_process_cpu_s(cpu->server_pid, &end_s) == 0)
		cpu->server_s = end_s - cpu->server_start_s;
	else
		cpu->server_ok = 0;
}

double hf_bench_cpu_bench_us_per_op(const struct hf_bench_cpu *cpu)
{
	return cpu->ops > 0 ? cpu->bench_s * 1e6 / (double)cpu->ops : -1.0;
}

double hf_bench_cpu_server_us_per_op(const struct hf_bench_cpu *cpu)
{
	return cpu->ops > 0 && cpu->server_ok ? cpu->server_s * 1e6 / (double)cpu->ops : -1.0;
}
