/* Logging to stderr with levels.
 *
 * One line per call, prefixed with a UTC timestamp, the level and the thread's tag (e.g. "shard 1"),
 * written with a single write(2) so lines from different threads never interleave. The level is
 * process-wide and set once at start (hf_log_set_level); reading it is a relaxed atomic load. */
#ifndef HF_BASE_LOG_H
#define HF_BASE_LOG_H

enum hf_log_level {
	HF_LOG_ERROR = 0,
	HF_LOG_WARN = 1,
	HF_LOG_INFO = 2,
	HF_LOG_DEBUG = 3,
};

void hf_log_set_level(enum hf_log_level level);
enum hf_log_level hf_log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -1 when the name is unknown. */
int hf_log_parse_level(const char *name, enum hf_log_level *level_out);
/* Sets this thread's tag (copied, at most 15 characters). */
void hf_log_set_thread_tag(const char *tag);

__attribute__((format(printf, 2, 3))) void hf_log(enum hf_log_level level, const char *fmt, ...);

#define hf_log_error(...) hf_log(HF_LOG_ERROR, __VA_ARGS__)
#define hf_log_warn(...) hf_log(HF_LOG_WARN, __VA_ARGS__)
#define hf_log_info(...) hf_log(HF_LOG_INFO, __VA_ARGS__)
#define hf_log_debug(...)                                                                          \
	do {                                                                                       \
		if (hf_log_get_level() >= HF_LOG_DEBUG)                                            \
			hf_log(HF_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
