/* Clocks.
 *
 * Hold deadlines are wall-clock milliseconds since the Unix epoch (hf_clock_wall_ms), because they are
 * persisted and must mean the same after a restart. Latencies and timeouts use the monotonic clock
 * (hf_clock_mono_us / _ns), which never jumps. The seat store never reads a clock: its caller passes
 * `now_ms` in, which keeps it deterministic under test. */
#ifndef HF_BASE_CLOCK_H
#define HF_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t hf_clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t hf_clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t hf_clock_mono_us(void)
{
	return hf_clock_mono_ns() / 1000u;
}

static inline uint64_t hf_clock_mono_ms(void)
{
	return hf_clock_mono_ns() / 1000000u;
}

#endif
