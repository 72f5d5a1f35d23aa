/* Assertions that stay on in every build.
 *
 * A seat engine that runs on with corrupt state sells a seat twice, so HF_ASSERT is never compiled out.
 * Use it for our own invariants only: bytes from the network, the kernel or the disk never reach an
 * assertion; they produce a status instead. */
#ifndef HF_BASE_ASSERT_H
#define HF_BASE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define HF_LIKELY(x) __builtin_expect(!!(x), 1)
#define HF_UNLIKELY(x) __builtin_expect(!!(x), 0)

__attribute__((noreturn, cold, format(printf, 4, 5))) void hf_panic_at(const char *file, int line,
									const char *func,
									const char *fmt, ...);

#define HF_ASSERT(cond)                                                                           \
	do {                                                                                      \
		if (HF_UNLIKELY(!(cond)))                                                         \
			hf_panic_at(__FILE__, __LINE__, __func__, "assertion failed: %s", #cond); \
	} while (0)

#define HF_PANIC(...) hf_panic_at(__FILE__, __LINE__, __func__, __VA_ARGS__)

#define HF_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#define HF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
