/* Addresses and connects for libholdfast: parsing "host:port", resolving it, and opening TCP
 * connections without blocking (or blocking with a timeout, for the slot map fetch).
 *
 * System code: every function returns 0 / a descriptor or -errno. No state is kept here. */
#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Decimal digits in the largest port, 65535. */
#define PORT_DIGITS_MAX 5u

static int parse_port(const char *s, uint16_t *port_out)
{
	size_t len = strlen(s);
	if (len == 0 || len > PORT_DIGITS_MAX)
		return -EINVAL;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10u + (uint32_t)(s[i] - '0');
	}
	if (v == 0 || v > 65535u)
		return -EINVAL;
	*port_out = (uint16_t)v;
	return 0;
}

/* A host is printable, without spaces, brackets or (outside brackets) colons. */
static int host_char_ok(char c, int bracketed)
{
	if (c <= ' ' || c > '~' || c == '[' || c == ']' || c == '/')
		return 0;
	return bracketed || c != ':';
}

int hf_client_parse_addr(const char *host_port, char host_out[HF_HOST_SIZE_MAX + 1],
			 uint16_t *port_out)
{
	if (host_port == NULL)
		return -EINVAL;
	const char *host = host_port;
	size_t host_len;
	const char *port;
	int bracketed = host_port[0] == '[';
	if (bracketed) {
		const char *close = strchr(host_port, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		host = host_port + 1;
		host_len = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strrchr(host_port, ':');
		if (colon == NULL)
			return -EINVAL;
		host_len = (size_t)(colon - host_port);
		port = colon + 1;
	}
	if (host_len == 0 || host_len > HF_HOST_SIZE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < host_len; i++) {
		if (!host_char_ok(host[i], bracketed))
			return -EINVAL;
	}
	uint16_t port_value;
	if (parse_port(port, &port_value) != 0)
		return -EINVAL;
	memcpy(host_out, host, host_len);
	host_out[host_len] = '\0';
	*port_out = port_value;
	HF_ASSERT(port_value != 0);
	return 0;
}

int hf_client_resolve(const char *host, uint16_t port, struct hf_client_addrs *out)
{
	char port_text[8];
	snprintf(port_text, sizeof(port_text), "%u", port);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_protocol = IPPROTO_TCP,
	    .ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL;
	out->count = 0;
	if (getaddrinfo(host, port_text, &hints, &res) != 0)
		return -ENXIO;
	for (struct addrinfo *ai = res; ai != NULL && out->count < HF_CLIENT_ADDRS_MAX;
	     ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memset(&out->addrs[out->count], 0, sizeof(out->addrs[out->count]));
		memcpy(&out->addrs[out->count], ai->ai_addr, ai->ai_addrlen);
		out->sizes[out->count] = ai->ai_addrlen;
		out->count++;
	}
	freeaddrinfo(res);
	HF_ASSERT(out->count <= HF_CLIENT_ADDRS_MAX);
	return out->count > 0 ? 0 : -ENXIO;
}

int hf_client_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

int hf_client_connect_start(const struct sockaddr_storage *addr, socklen_t addr_size,
			    int *in_progress_out)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	/* Requests are small and pipelined: never wait for a delayed ACK before sending. */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*in_progress_out = 0;
	if (connect(fd, (const struct sockaddr *)addr, addr_size) != 0) {
		if (errno != EINPROGRESS) {
			int err = -errno;
			close(fd);
			return err;
		}
		*in_progress_out = 1;
	}
	HF_ASSERT(fd >= 0);
	return fd;
}

int hf_client_connect_finish(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -errno;
	HF_ASSERT(err >= 0);
	return -err;
}

/* Waits until fd is writable (connected or failed) or timeout_ms passed. Returns 0, -ETIMEDOUT or
 * the connect's -errno. */
static int connect_wait(int fd, uint32_t timeout_ms)
{
	uint64_t deadline_ms = hf_clock_mono_ms() + timeout_ms;
	/* Bounded by the deadline: every pass either returns or waits for the time left. */
	for (;;) {
		uint64_t now_ms = hf_clock_mono_ms();
		if (now_ms >= deadline_ms)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, (int)(deadline_ms - now_ms));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		return hf_client_connect_finish(fd);
	}
}

int hf_client_connect_timed(const struct hf_client_addrs *addrs, uint32_t timeout_ms)
{
	int err = -ENXIO;
	HF_ASSERT(addrs->count <= HF_CLIENT_ADDRS_MAX);
	for (uint32_t i = 0; i < addrs->count; i++) {
		int in_progress;
		int fd = hf_client_connect_start(&addrs->addrs[i], addrs->sizes[i], &in_progress);
		if (fd < 0) {
			err = fd;
			continue;
		}
		err = in_progress ? connect_wait(fd, timeout_ms) : 0;
		if (err == 0)
			return fd;
		close(fd);
	}
	HF_ASSERT(err < 0);
	return err;
}
