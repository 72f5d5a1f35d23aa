/* Goal: a coverage-guided search for bytes from a client that crash the server's read path, make it
 * read outside a buffer, leak, or answer with a reply that does not decode: framing, partial and
 * postponed frames, the stash and the held replies of engine/conn.c, and every opcode of
 * engine/ops.c applied to a real seat store (durability none, so no disk).
 * Method: each input is one connection's byte stream. A fresh shard is made in process
 * (hf_shard_create + hf_shard_test_open: the default slot map of a 2-shard node, so half of the
 * events answer MOVED, an empty store with small limits, and batches of 16 change records, so
 * that writes fill the open batch and frames are postponed) and the stream is fed to one accepted
 * connection in chunks whose sizes are derived from the input (as recvs of a socket would cut it).
 * After each chunk, loop iterations run (hf_shard_test_iterate: seal, durable at once, held
 * replies released) until nothing more can be processed, and every reply the connection would send
 * is decoded and checked against the header of a frame the client sent. The shard is destroyed
 * at the end, so LeakSanitizer sees whatever was not given back.
 *
 * Built with libFuzzer by scripts/fuzz.sh (build-fuzz/tests/fuzz/fuzz_server); replayed over
 * tests/fuzz/corpus/server (seeds from gen_corpus: a session per opcode and a full hold
 * lifecycle) by the default suite (fuzz_server_replay). */
#include "tests/fuzz/fuzz.h"

#include "base/log.h"
#include "engine/config.h"
#include "engine/shard.h"
#include "engine/shard_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FZ_CLOCK_START_MS 1767225600000ull /* the other harnesses start here too */
/* Loop iterations after one chunk: a postponed frame needs one more, a stash of many frames a few
 * (HF_SHARD_CONN_FRAMES_PER_ITER_MAX per iteration). */
#define FZ_DRAIN_ITERATIONS_MAX 64u
/* The largest chunk one recv hands over (a provided buffer). */
#define FZ_CHUNK_SIZE_MAX HF_SHARD_RECV_BUF_SIZE
/* Change records per batch (engine/main.c accepts 2 x HF_OP_CHANGES_MAX .. the default). */
#define FZ_BATCH_CHANGES 16u
HF_STATIC_ASSERT(FZ_BATCH_CHANGES >= 2u * HF_OP_CHANGES_MAX, "a batch holds two ops");

static struct hf_engine_config cfg;
static int null_fd = -1;
static struct hf_reply rep; /* large: static, one harness call at a time */

static void setup_once(void)
{
	if (null_fd >= 0)
		return;
	char *argv[] = {
	    "holdfastd", "--durability",      "none",  "--shards",     "2",	"--max-connections",
	    "2",	 "--max-conn-buffer", "65536", "--events-max", "16",	"--seats-max",
	    "65536",	 "--records-max",     "1024",  "--log-level",  "error", NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	char err[256];
	enum hf_config_parse pr = hf_engine_config_parse(argc, argv, 2, &cfg, err, sizeof(err));
	if (pr != HF_CONFIG_OK) {
		fprintf(stderr, "fuzz_server: config: %s\n", err);
		abort();
	}
	/* Small batches (HOLDFAST_BATCH_CHANGES_MAX's lower end): a burst of writes fills the open
	 * batch within one iteration, so postponed frames and the stash are reached; and a shard
	 * is quicker to make for every input. */
	cfg.test_batch_changes_max = FZ_BATCH_CHANGES;
	hf_log_set_level(HF_LOG_ERROR);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	HF_ASSERT(null_fd >= 0);
}

/* The size of the chunk at off: 1 .. FZ_CHUNK_SIZE_MAX, from the input's size and position, so a
 * seed is cut the same way every run and the fuzzer can move the cuts by changing the length. */
static uint32_t chunk_size(size_t size, size_t off)
{
	uint64_t h = hf_hash64((uint64_t)size * 0x9e3779b97f4a7c15ull + off);
	uint32_t n = (h & 3u) == 0 ? FZ_CHUNK_SIZE_MAX : 1u + (uint32_t)(h % 512u);
	size_t left = size - off;
	return left < n ? (uint32_t)left : n;
}

/* Every reply the connection sends now: a whole, decodable reply frame each. */
static void check_replies(struct hf_shard *s, struct hf_conn *c, uint64_t *replies_count)
{
	const uint8_t *data;
	uint32_t size;
	hf_conn_test_take_replies(s, c, &data, &size);
	uint32_t off = 0;
	/* Bounded by size: every pass consumes one whole frame or aborts. */
	while (off < size) {
		struct hf_frame_header h;
		HF_ASSERT(size - off >= HF_FRAME_HEADER_SIZE);
		HF_ASSERT(hf_frame_header_decode(data + off, &h) == HF_OK);
		HF_ASSERT(h.flags & HF_FLAG_REPLY);
		uint32_t frame_size = HF_FRAME_HEADER_SIZE + h.body_size;
		HF_ASSERT(frame_size <= size - off);
		enum hf_status st = hf_reply_decode(&h, data + off + HF_FRAME_HEADER_SIZE, &rep);
		if (st != HF_OK) {
			fprintf(
			    stderr,
			    "fuzz_server: a reply to opcode %u (status %u) does not decode: %s\n",
			    h.opcode, h.status, hf_status_name(st));
			abort();
		}
		off += frame_size;
		(*replies_count)++;
	}
}

/* Runs loop iterations until c has nothing it can process now. */
static void drain(struct hf_shard *s, struct hf_conn *c, uint64_t *now_ms, uint64_t *replies_count)
{
	for (uint32_t i = 0; i < FZ_DRAIN_ITERATIONS_MAX; i++) {
		*now_ms += 7;
		hf_shard_test_iterate(s, *now_ms);
		check_replies(s, c, replies_count);
		if (c->state != HF_CONN_OPEN || c->doomed || c->stash.size == c->stash_off)
			return;
		hf_conn_pump(s, c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > HF_FUZZ_INPUT_SIZE_MAX)
		return 0;
	setup_once();
	struct hf_shard *s = NULL;
	HF_ASSERT(hf_shard_create(0, &cfg, -1, &s) == 0);
	HF_ASSERT(hf_shard_test_open(s) == 0);
	uint64_t now_ms = FZ_CLOCK_START_MS;
	hf_shard_test_iterate(s, now_ms);
	int fd = dup(null_fd);
	HF_ASSERT(fd >= 0);
	hf_conn_on_accept(s, fd);
	struct hf_conn *c = &s->conns[0];
	HF_ASSERT(c->state == HF_CONN_OPEN);
	uint64_t replies_count = 0;
	size_t off = 0;
	/* Bounded by size: every pass feeds at least one byte. */
	while (off < size && c->state == HF_CONN_OPEN && !c->doomed) {
		uint32_t n = chunk_size(size, off);
		HF_ASSERT(n >= 1);
		hf_conn_test_input(s, c, data + off, n);
		off += n;
		drain(s, c, &now_ms, &replies_count);
	}
	/* One reply per whole frame processed at most (a refused header is answered once). */
	HF_ASSERT(replies_count <= s->c.frames_in + s->c.conns_closed_protocol);
	hf_shard_destroy(s);
	return 0;
}
