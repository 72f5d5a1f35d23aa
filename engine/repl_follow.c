/* Replication, the replica's follow thread: one per replica shard, so the shard thread never
 * blocks on its primary. It connects to the primary's shard port, sends REPL_SUBSCRIBE, and hands
 * every REPL_BATCH frame to the shard through the inbox (repl_int.h); it acknowledges what the
 * shard published as durable (REPL_ACK), at least every REPL_HEARTBEAT_MS while streaming. When
 * the connection ends, or nothing came from the primary for HF_REPL_SILENCE_MS (it answers every
 * ACK, so that is a dead primary or a cut link), it reconnects after HF_REPL_RETRY_MS and
 * subscribes again (the primary then sends a snapshot).
 *
 * STATES: connecting --SUBSCRIBE answered OK--> streaming --EOF, error, restart asked--> connecting
 *
 * INVARIANTS
 *  1. The inbox is pushed by this thread only, in the order frames arrived; a full inbox stops
 *     reading the socket (TCP backpressure reaches the primary, which bounds its queue).
 *  2. An ACK names a seq the shard published for this thread's current session only. */
#include "engine/repl_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Receive buffer: a whole frame plus what follows it in one read. */
#define FOLLOW_RBUF_SIZE (2u * HF_FRAME_SIZE_MAX)

struct follow_conn {
	int fd;
	uint8_t *rbuf;
	uint32_t rlen;
	uint64_t acked_sent; /* 1 + the last seq sent in this session; 0: none yet */
	uint64_t ack_sent_ms;
	uint64_t acks_sent;
	uint64_t rx_ms; /* monotonic ms of the last bytes from the primary */
};

void repl_follow_signal(int fd)
{
	uint64_t one = 1;
	/* Fails only when the counter would overflow: it is readable then anyway. */
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void drain_fd(int fd)
{
	uint64_t count;
	ssize_t n = read(fd, &count, sizeof(count));
	(void)n;
}

static int stopping(struct repl_follow *f)
{
	return atomic_load(&f->stop);
}

/* Sleeps ms, or less when asked to stop. */
static void follow_wait(struct repl_follow *f, uint32_t ms)
{
	struct pollfd p = {.fd = f->stop_fd, .events = POLLIN};
	(void)poll(&p, 1, (int)ms);
}

static int follow_connect(struct repl_follow *f)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	if (inet_pton(AF_INET, f->host, &addr.sin_addr) != 1) {
		close(fd);
		return -EINVAL;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {.tv_sec = HF_REPL_IO_TIMEOUT_MS / 1000u,
			     .tv_usec = (HF_REPL_IO_TIMEOUT_MS % 1000u) * 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int send_all(int fd, const uint8_t *buf, size_t size)
{
	size_t off = 0;
	/* Bounded: every pass sends at least a byte or fails (SO_SNDTIMEO). */
	while (off < size) {
		ssize_t n = send(fd, buf + off, size - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		off += (size_t)n;
	}
	return 0;
}

/* Sends an ACK when the shard published a newer seq for this session, or a heartbeat is due. */
static int follow_ack(struct repl_follow *f, struct follow_conn *fc)
{
	uint64_t word = atomic_load(&f->ack_word);
	uint64_t plus_one = fc->acked_sent;
	if ((word >> 48) == (f->session & 0xffffu) && (word & REPL_ACK_SEQ_MASK) > plus_one)
		plus_one = word & REPL_ACK_SEQ_MASK;
	uint64_t now_ms = hf_clock_mono_ms();
	/* Nothing durable in this session yet (a snapshot is being applied): no ACK, not even a
	 * heartbeat, so the primary cannot count this replica in sync too early. */
	if (plus_one == 0)
		return 0;
	if (plus_one == fc->acked_sent && now_ms - fc->ack_sent_ms < REPL_HEARTBEAT_MS)
		return 0;
	uint8_t frame[HF_FRAME_HEADER_SIZE + HF_REPL_ACK_BODY_SIZE];
	struct hf_repl_ack ack = {
	    .replica_id = f->replica_id, .epoch = atomic_load(&f->epoch), .seq = plus_one - 1u};
	size_t n = hf_repl_ack_encode(frame, sizeof(frame), ++fc->acks_sent, &ack);
	fc->acked_sent = plus_one;
	fc->ack_sent_ms = now_ms;
	return send_all(fc->fd, frame, n);
}

/* Hands one REPL_BATCH frame to the shard; waits (acknowledging meanwhile) while the inbox is
 * full. Returns 0, or -EINTR when asked to stop or restart. */
static int inbox_push(struct repl_follow *f, struct follow_conn *fc, const uint8_t *frame,
		      uint32_t size)
{
	HF_ASSERT(size <= HF_FRAME_SIZE_MAX);
	for (;;) {
		if (stopping(f) || atomic_load(&f->restart))
			return -EINTR;
		uint32_t tail = atomic_load_explicit(&f->tail, memory_order_relaxed);
		uint32_t head = atomic_load_explicit(&f->head, memory_order_acquire);
		HF_ASSERT(tail - head <= HF_REPL_INBOX_FRAMES);
		if (tail - head < HF_REPL_INBOX_FRAMES) {
			struct repl_slot *slot = &f->slots[tail & (HF_REPL_INBOX_FRAMES - 1u)];
			memcpy(slot->frame, frame, size);
			slot->size = size;
			slot->session = f->session;
			slot->applied = 0;
			atomic_store_explicit(&f->tail, tail + 1u, memory_order_release);
			repl_follow_signal(f->inbox_fd);
			return 0;
		}
		struct pollfd p[3] = {{.fd = f->space_fd, .events = POLLIN},
				      {.fd = f->ack_fd, .events = POLLIN},
				      {.fd = f->stop_fd, .events = POLLIN}};
		(void)poll(p, 3, (int)REPL_HEARTBEAT_MS);
		drain_fd(f->space_fd);
		drain_fd(f->ack_fd);
		if (follow_ack(f, fc) != 0)
			return -EIO;
	}
}

/* One frame from the primary. Returns 0 to go on, or -errno to end the session. */
static int on_frame(struct repl_follow *f, struct follow_conn *fc, const struct hf_frame_header *h,
		    const uint8_t *frame)
{
	const uint8_t *body = frame + HF_FRAME_HEADER_SIZE;
	if (!(h->flags & HF_FLAG_REPLY))
		return -EPROTO;
	if (h->opcode == HF_OP_REPL_BATCH)
		return inbox_push(f, fc, frame, HF_FRAME_HEADER_SIZE + h->body_size);
	if (h->opcode == HF_OP_AUTH) {
		if (h->status == HF_OK)
			return 0;
		if (f->refused != h->status)
			hf_log_error("follow: %s:%u refused the replica's token: %s", f->host,
				     (unsigned)f->port, hf_status_name(h->status));
		f->refused = h->status;
		return -EPERM;
	}
	if (h->opcode == HF_OP_REPL_ACK) {
		if (h->status == HF_REPL_FENCED) {
			hf_log_error("follow: %s:%u is fenced (a newer epoch exists)", f->host,
				     (unsigned)f->port);
			return -EPERM;
		}
		return 0;
	}
	if (h->opcode != HF_OP_REPL_SUBSCRIBE)
		return -EPROTO;
	if (h->status != HF_OK) {
		if (f->refused != h->status)
			hf_log_error("follow: %s:%u refused the subscription: %s (%s); retrying "
				     "every %u ms",
				     f->host, (unsigned)f->port, hf_status_name(h->status),
				     hf_status_message(h->status), HF_REPL_RETRY_MS);
		f->refused = h->status;
		return -EPERM;
	}
	f->refused = 0;
	struct hf_repl_subscribed rep;
	if (hf_repl_subscribed_decode(body, h->body_size, &rep) != HF_OK)
		return -EPROTO;
	atomic_store(&f->streaming, 1);
	hf_log_info("follow: streaming from %s:%u (epoch %llu, stream %016llx, batch %llu)",
		    f->host, (unsigned)f->port, (unsigned long long)rep.epoch,
		    (unsigned long long)rep.stream_id, (unsigned long long)rep.seq);
	return 0;
}

/* Parses the whole frames in the receive buffer. Returns 0 or -errno. */
static int parse_frames(struct repl_follow *f, struct follow_conn *fc)
{
	uint32_t off = 0;
	int rc = 0;
	/* Bounded by the buffer's size: each pass consumes a frame. */
	while (rc == 0 && fc->rlen - off >= HF_FRAME_HEADER_SIZE) {
		struct hf_frame_header h;
		if (hf_frame_header_decode(fc->rbuf + off, &h) != HF_OK)
			return -EPROTO;
		uint32_t size = HF_FRAME_HEADER_SIZE + h.body_size;
		if (fc->rlen - off < size)
			break;
		rc = on_frame(f, fc, &h, fc->rbuf + off);
		off += size;
	}
	memmove(fc->rbuf, fc->rbuf + off, fc->rlen - off);
	fc->rlen -= off;
	return rc;
}

static int follow_stream(struct repl_follow *f, struct follow_conn *fc)
{
	/* Bounded by the connection's life: every pass reads, acknowledges or ends. */
	while (!stopping(f)) {
		if (atomic_exchange(&f->restart, 0))
			return -EINTR;
		struct pollfd p[3] = {{.fd = fc->fd, .events = POLLIN},
				      {.fd = f->ack_fd, .events = POLLIN},
				      {.fd = f->stop_fd, .events = POLLIN}};
		int n = poll(p, 3, (int)REPL_HEARTBEAT_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents & POLLIN)
			drain_fd(f->ack_fd);
		if (follow_ack(f, fc) != 0)
			return -EIO;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			/* The primary answers every ACK (one per heartbeat at least): silence this
			 * long is a dead primary or a cut link, not an idle one. */
			if (fc->acked_sent != 0 &&
			    hf_clock_mono_ms() - fc->rx_ms >= HF_REPL_SILENCE_MS)
				return -ETIMEDOUT;
			continue;
		}
		ssize_t got = recv(fc->fd, fc->rbuf + fc->rlen, FOLLOW_RBUF_SIZE - fc->rlen, 0);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0)
			return errno == EINTR || errno == EAGAIN ? 0 : -errno;
		fc->rlen += (uint32_t)got;
		fc->rx_ms = hf_clock_mono_ms();
		int rc = parse_frames(f, fc);
		fc->rx_ms = hf_clock_mono_ms(); /* a full inbox kept us, not a silent primary */
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void follow_session(struct repl_follow *f, struct follow_conn *fc)
{
	f->session++;
	uint8_t frame[HF_FRAME_HEADER_SIZE + HF_REPL_SUBSCRIBE_BODY_SIZE];
	struct hf_repl_subscribe sub = {.replica_id = f->replica_id,
					.epoch = atomic_load(&f->epoch)};
	size_t n = hf_repl_subscribe_encode(frame, sizeof(frame), f->session, &sub);
	if (f->token_size > 0) {
		/* A primary with --auth-file wants AUTH first: sent ahead, no round trip waited. */
		static struct hf_request auth;
		memset(&auth, 0, sizeof(auth));
		auth.opcode = HF_OP_AUTH;
		auth.auth.token_size = f->token_size;
		memcpy(auth.auth.token, f->token, f->token_size);
		uint8_t abuf[HF_FRAME_HEADER_SIZE + 2u + HF_AUTH_TOKEN_SIZE_MAX];
		size_t an = hf_request_encode(&auth, abuf, sizeof(abuf));
		HF_ASSERT(an > 0);
		if (send_all(fc->fd, abuf, an) != 0)
			return;
	}
	fc->rlen = 0;
	fc->acked_sent = 0;
	fc->ack_sent_ms = hf_clock_mono_ms();
	fc->rx_ms = fc->ack_sent_ms;
	if (send_all(fc->fd, frame, n) != 0)
		return;
	int rc = follow_stream(f, fc);
	if (!stopping(f) && rc != -EPERM)
		hf_log_warn("follow: stream from %s:%u ended (%s); reconnecting in %u ms", f->host,
			    (unsigned)f->port, strerror(rc < 0 ? -rc : ECONNRESET),
			    HF_REPL_RETRY_MS);
}

static void *follow_main(void *arg)
{
	struct repl_follow *f = arg;
	char tag[32];
	snprintf(tag, sizeof(tag), "follow %u", f->shard_index);
	hf_log_set_thread_tag(tag);
	struct follow_conn fc = {.fd = -1, .rbuf = malloc(FOLLOW_RBUF_SIZE)};
	if (fc.rbuf == NULL)
		HF_PANIC("follow thread: no memory for its %u-byte buffer", FOLLOW_RBUF_SIZE);
	int logged = 0;
	/* Until stopped: one connection per pass. */
	while (!stopping(f)) {
		fc.fd = follow_connect(f);
		if (fc.fd < 0) {
			if (!logged)
				hf_log_warn("follow: cannot reach primary %s:%u (%s); retrying "
					    "every %u ms",
					    f->host, (unsigned)f->port, strerror(-fc.fd),
					    HF_REPL_RETRY_MS);
			logged = 1;
			follow_wait(f, HF_REPL_RETRY_MS);
			continue;
		}
		logged = 0;
		atomic_fetch_add(&f->connects, 1);
		atomic_store(&f->restart, 0);
		follow_session(f, &fc);
		atomic_store(&f->streaming, 0);
		close(fc.fd);
		fc.fd = -1;
		if (!stopping(f))
			follow_wait(f, HF_REPL_RETRY_MS);
	}
	free(fc.rbuf);
	return NULL;
}

int repl_follow_start(struct repl_follow *f)
{
	HF_ASSERT(!f->started);
	int rc = pthread_create(&f->thread, NULL, follow_main, f);
	if (rc != 0)
		return -rc;
	f->started = 1;
	return 0;
}

void repl_follow_stop(struct repl_follow *f)
{
	if (!f->started)
		return;
	atomic_store(&f->stop, 1);
	repl_follow_signal(f->stop_fd);
	pthread_join(f->thread, NULL);
	f->started = 0;
}
