/* The out-of-line parts of base/: the panic handler and the logger. */
#include "base/assert.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Large enough for any log line we write; longer lines are cut, never overflowed. */
#define HF_LOG_LINE_SIZE_MAX 1024

static _Atomic int log_level = HF_LOG_INFO;
static _Thread_local char thread_tag[16] = "main";

void hf_panic_at(const char *file, int line, const char *func, const char *fmt, ...)
{
	char msg[HF_LOG_LINE_SIZE_MAX];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "PANIC [%s] %s:%d %s(): ", thread_tag, file, line, func);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(msg);
	if (len < sizeof(msg) - 1)
		msg[len++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, msg, len);
	(void)ignored;
	abort();
}

void hf_log_set_level(enum hf_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum hf_log_level hf_log_get_level(void)
{
	return (enum hf_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int hf_log_parse_level(const char *name, enum hf_log_level *level_out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (size_t i = 0; i < HF_ARRAY_SIZE(names); i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*level_out = (enum hf_log_level)i;
			return 0;
		}
	}
	return -1;
}

void hf_log_set_thread_tag(const char *tag)
{
	snprintf(thread_tag, sizeof(thread_tag), "%s", tag);
}

void hf_log(enum hf_log_level level, const char *fmt, ...)
{
	static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	HF_ASSERT((unsigned)level < HF_ARRAY_SIZE(level_names));

	char line[HF_LOG_LINE_SIZE_MAX];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level], thread_tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len < sizeof(line) - 1)
		line[len++] = '\n';
	else
		line[sizeof(line) - 1] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, len);
	(void)ignored;
}
