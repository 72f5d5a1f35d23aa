/* Internals of libholdfast shared by the client/ sources and tests/client: the client's limits and
 * the address helpers (parse "host:port", resolve, connect with a timeout).
 *
 * Nothing here is part of the public contract (client/holdfast.h is); tests include it to check the
 * bounds and the address parser directly. */
#ifndef HF_CLIENT_CLIENT_INT_H
#define HF_CLIENT_CLIENT_INT_H

#include "client/holdfast.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- Limits ---- */

/* Bytes of the largest request frame of each kind. A HOLD with 64 seats is the largest frame of the
 * hot path; SEAT_STATUS with 1024 seats is the largest of all. */
#define HF_CLIENT_HOLD_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + 36u + 4u * HF_HOLD_SEATS_MAX)
#define HF_CLIENT_REQUEST_FRAME_SIZE_MAX                                                           \
	(HF_FRAME_HEADER_SIZE + 12u + 4u * HF_SEAT_STATUS_SEATS_MAX)
#define HF_CLIENT_BACKUP_FRAME_SIZE_MAX (HF_FRAME_HEADER_SIZE + 2u + HF_PATH_SIZE_MAX)

/* Every in-flight request keeps its encoded frame for resending: in a small slot when it fits (all
 * opcodes but large SEAT_STATUS and BACKUP), else in one of a few large slots. */
#define HF_CLIENT_FRAME_SLOT_SIZE 320u
#define HF_CLIENT_BIG_FRAMES_MAX  8u

/* Per connection: the bytes waiting for write(2), and the receive buffer that reassembles frames.
 * The receive buffer starts at _MIN and grows once to _MAX when a frame needs it (a large AVAIL).
 */
#define HF_CLIENT_SEND_BUFFER_SIZE     (64u * 1024u)
#define HF_CLIENT_RECV_BUFFER_SIZE_MIN (64u * 1024u)
#define HF_CLIENT_RECV_BUFFER_SIZE_MAX HF_FRAME_SIZE_MAX

/* The most read(2) calls on one connection in one pass of hf_client_poll, so one busy connection
 * cannot starve the others. */
#define HF_CLIENT_READS_PER_PASS_MAX 16u

/* The largest SLOT_MAP reply: fixed part, every owner with the longest host, the slot table. */
#define HF_CLIENT_MAP_FRAME_SIZE_MAX                                                               \
	(HF_FRAME_HEADER_SIZE + 12u + HF_SLOT_OWNERS_MAX * (3u + HF_HOST_SIZE_MAX) +               \
	 2u * HF_SLOTS_COUNT)

/* Addresses kept per host (getaddrinfo may answer ::1 and 127.0.0.1 for "localhost"). */
#define HF_CLIENT_ADDRS_MAX 4u

/* Backoff before a resend: base << attempt, capped. BUSY / TRY_AGAIN / MOVED-with-a-stale-server
 * use the short one, a refused or failed connect the long one. */
#define HF_CLIENT_BACKOFF_BUSY_MS	 1u
#define HF_CLIENT_BACKOFF_BUSY_MS_MAX	 100u
#define HF_CLIENT_BACKOFF_CONNECT_MS	 10u
#define HF_CLIENT_BACKOFF_CONNECT_MS_MAX 1000u

#define HF_CLIENT_PIPELINE_MAX 65536u
#define HF_CLIENT_RETRIES_MAX  1000u /* the largest retries_max accepted */

/* ---- Addresses ---- */

struct hf_client_addrs {
	uint32_t count; /* 0 .. HF_CLIENT_ADDRS_MAX */
	struct sockaddr_storage addrs[HF_CLIENT_ADDRS_MAX];
	socklen_t sizes[HF_CLIENT_ADDRS_MAX];
};

/* Splits "host:port", "[v6-host]:port" into host (NUL-terminated, 1 .. HF_HOST_SIZE_MAX bytes,
 * brackets removed) and port (1 .. 65535, decimal digits only). Returns 0 or -EINVAL. */
int hf_client_parse_addr(const char *host_port, char host_out[HF_HOST_SIZE_MAX + 1],
			 uint16_t *port_out);

/* Resolves host and port (getaddrinfo, TCP) into up to HF_CLIENT_ADDRS_MAX addresses. Returns 0 or
 * -ENXIO when the host has no address. May block on DNS for a non-numeric host. */
int hf_client_resolve(const char *host, uint16_t port, struct hf_client_addrs *out);

/* 1 when a and b are the same IP address and port. */
int hf_client_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Starts a non-blocking TCP connect (TCP_NODELAY, close-on-exec) to addr. Returns the socket (>= 0)
 * with *in_progress_out set when the connect has not completed yet, or -errno. */
int hf_client_connect_start(const struct sockaddr_storage *addr, socklen_t addr_size,
			    int *in_progress_out);

/* Finishes a connect started by hf_client_connect_start once the socket polled writable: returns 0
 * or the connect's -errno. */
int hf_client_connect_finish(int fd);

/* Connects to the first address of addrs that answers within timeout_ms (each), blocking. Returns
 * the non-blocking socket or -errno (of the last address tried). */
int hf_client_connect_timed(const struct hf_client_addrs *addrs, uint32_t timeout_ms);

/* ---- Test hooks ---- */

/* Replaces the client's map with m as it is, even when m is older (a stale client, for tests of
 * MOVED). Requests in flight are resent by the new map. Returns 0, or -EBUSY inside a callback. */
int hf_client_map_force(struct hf_client *client, const struct hf_slot_map *m);

#endif
