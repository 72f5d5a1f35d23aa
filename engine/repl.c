/* Replication, the primary's side: subscriptions, the stream (snapshot chunks and sealed batches,
 * in stream order), acknowledgements, the in-sync set and the gate that holds a batch's completion
 * until every in-sync replica has it. Also the shard's replication setup and STATS. See repl.h.
 *
 * Why a snapshot interleaved with batches converges: a snapshot chunk is the store's current state
 * of the keys it lists, written to the stream after every batch sealed so far; a key changed
 * since is changed by the open batch or a later one, which is written to the stream after the
 * chunk. So, applied in stream order, every key's last record is its current state. A chunk may
 * run ahead of the batches (a hold of an event whose creation is still in the open batch); the
 * replica skips what its store refuses while the snapshot lasts, and the batch that follows
 * brings it (repl_replica.c).
 *
 * INVARIANTS
 *  1. A sub is FREE, or names an OPEN connection of the generation it attached with; a sub whose
 *     connection is gone is dropped in the same iteration's hf_repl_tick before the gate looks at
 *     it again.
 *  2. acked_seq < open_seq: nothing is acknowledged before it was sealed and streamed.
 *  3. In sync mode, a batch passes the gate only when every IN_SYNC sub acked it; a sub leaves
 *     IN_SYNC only through repl_sub_drop, which logs it, before the gate stops waiting for it. */
#include "engine/repl_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/endian.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

HF_STATIC_ASSERT((int)HF_CHANGE_PUT == (int)HF_REPL_PUT, "change kinds are the wire's");
HF_STATIC_ASSERT((int)HF_CHANGE_DEL == (int)HF_REPL_DEL, "change kinds are the wire's");
HF_STATIC_ASSERT((int)HF_CHANGE_DEL_RANGE == (int)HF_REPL_DEL_RANGE, "change kinds are the wire's");

int hf_repl_mode_parse(const char *name, enum hf_repl_mode *out)
{
	if (strcmp(name, "sync") == 0)
		*out = HF_REPL_MODE_SYNC;
	else if (strcmp(name, "async") == 0)
		*out = HF_REPL_MODE_ASYNC;
	else
		return -EINVAL;
	return 0;
}

const char *hf_repl_mode_name(enum hf_repl_mode mode)
{
	return mode == HF_REPL_MODE_ASYNC ? "async" : "sync";
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	while (v == 0) {
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
			v = (uint64_t)hf_clock_mono_us() * 0x9e3779b97f4a7c15ull;
	}
	return v;
}

/* ---- Setup ---- */

static int follow_create(struct hf_shard *s, struct hf_repl *r)
{
	struct repl_follow *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	r->follow = f;
	snprintf(f->host, sizeof(f->host), "%s", s->cfg->replica_of_host);
	f->port = (uint16_t)(s->cfg->replica_of_port + s->index);
	f->replica_id = random_u64();
	f->shard_index = s->index;
	f->stop_fd = f->space_fd = f->inbox_fd = f->ack_fd = -1;
	atomic_store(&f->epoch, r->epoch_seen);
	for (uint32_t i = 0; i < HF_REPL_INBOX_FRAMES; i++) {
		f->slots[i].frame = malloc(HF_FRAME_SIZE_MAX);
		if (f->slots[i].frame == NULL)
			return -ENOMEM;
	}
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_fd < 0 || f->space_fd < 0 || f->inbox_fd < 0 || f->ack_fd < 0)
		return -errno;
	return 0;
}

/* The first line of --replica-token-file, without its newline. Returns 0 or -EINVAL (logged). */
static int read_token(const char *path, struct repl_follow *f)
{
	char line[HF_AUTH_TOKEN_SIZE_MAX + 3];
	FILE *file = fopen(path, "r");
	if (file == NULL) {
		hf_log_error("--replica-token-file %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char *got = fgets(line, sizeof(line), file);
	fclose(file);
	size_t len = got != NULL ? strcspn(line, "\r\n") : 0;
	if (len == 0 || len > HF_AUTH_TOKEN_SIZE_MAX || memchr(line, ' ', len) != NULL) {
		hf_log_error("--replica-token-file %s: the first line is not a token of 1..%u "
			     "bytes without spaces",
			     path, HF_AUTH_TOKEN_SIZE_MAX);
		return -EINVAL;
	}
	memcpy(f->token, line, len);
	f->token_size = (uint16_t)len;
	return 0;
}

int hf_repl_create(struct hf_shard *s, struct hf_repl **out)
{
	/* No persist object only on an in-process test shard (hf_shard_test_open): no epoch kept.
	 */
	HF_ASSERT(s->persist != NULL || !s->ring_ready);
	HF_ASSERT(s->durable == NULL);
	*out = NULL;
	struct hf_repl *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->replica = s->cfg->replica_of_port != 0;
	r->mode = (enum hf_repl_mode)s->cfg->repl_mode;
	r->stream_id = random_u64();
	const char *hook = getenv("HOLDFAST_REPL_EPOCH");
	if (hook != NULL && hook[0] != '\0')
		r->epoch_hook = strtoull(hook, NULL, 10);
	r->frame = malloc(HF_FRAME_SIZE_MAX);
	int rc = r->frame == NULL ? -ENOMEM : 0;
	if (rc == 0)
		rc = hf_changes_init(&r->snap, HF_REPL_FRAME_RECORDS_MAX);
	if (rc == 0)
		rc = hf_changes_init(&r->scratch, 8);
	uint8_t epoch[8];
	if (rc == 0 && s->persist != NULL &&
	    hf_persist_meta_get(s->persist, HF_REPL_META_EPOCH, epoch, sizeof(epoch)) ==
		(int)sizeof(epoch))
		r->epoch_seen = hf_get_le64(epoch);
	if (rc == 0 && r->replica)
		rc = follow_create(s, r);
	if (rc == 0 && r->replica && s->cfg->replica_token_file[0] != '\0')
		rc = read_token(s->cfg->replica_token_file, r->follow);
	if (rc != 0) {
		hf_repl_destroy(r);
		return rc;
	}
	*out = r;
	return 0;
}

int hf_repl_start(struct hf_shard *s)
{
	struct hf_repl *r = s->repl;
	if (!r->replica)
		return 0;
	hf_log_info("replica of %s:%u (epoch seen %llu); writes are refused here", r->follow->host,
		    (unsigned)r->follow->port, (unsigned long long)r->epoch_seen);
	return repl_follow_start(r->follow);
}

void hf_repl_destroy(struct hf_repl *r)
{
	if (r == NULL)
		return;
	struct repl_follow *f = r->follow;
	if (f != NULL) {
		repl_follow_stop(f);
		int fds[] = {f->stop_fd, f->space_fd, f->inbox_fd, f->ack_fd};
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
			if (fds[i] >= 0)
				close(fds[i]);
		}
		for (uint32_t i = 0; i < HF_REPL_INBOX_FRAMES; i++)
			free(f->slots[i].frame);
		free(f);
	}
	hf_changes_deinit(&r->snap);
	hf_changes_deinit(&r->scratch);
	free(r->frame);
	free(r);
}

int hf_repl_is_replica(const struct hf_repl *r)
{
	return r != NULL && r->replica;
}

/* The epoch a primary stamps on its stream: its map's, or HOLDFAST_REPL_EPOCH (a test hook that
 * plays a newer or older primary without a cluster). */
uint64_t hf_repl_epoch(const struct hf_shard *s)
{
	if (s->repl->replica)
		return s->repl->epoch_seen;
	if (s->repl->epoch_hook != 0)
		return s->repl->epoch_hook;
	/* A promoted replica (now or before a restart) goes on at the epoch it took. */
	return s->repl->epoch_seen > s->map.epoch ? s->repl->epoch_seen : s->map.epoch;
}

/* ---- The stream ---- */

static struct hf_conn *sub_conn(struct hf_shard *s, const struct repl_sub *sub)
{
	HF_ASSERT(sub->state != REPL_SUB_FREE);
	HF_ASSERT(sub->conn < s->conns_max);
	struct hf_conn *c = &s->conns[sub->conn];
	if (c->state != HF_CONN_OPEN || c->gen != sub->gen)
		return NULL;
	return c;
}

static void repl_sub_drop(struct hf_shard *s, struct repl_sub *sub, const char *why)
{
	HF_ASSERT(sub->state != REPL_SUB_FREE);
	hf_log_warn("replica %016llx dropped%s: %s (acked batch %llu of %llu)",
		    (unsigned long long)sub->replica_id,
		    sub->state == REPL_SUB_IN_SYNC ? " from the in-sync set" : "", why,
		    (unsigned long long)sub->acked_seq, (unsigned long long)(s->open_seq - 1u));
	struct hf_conn *c = sub_conn(s, sub);
	if (c != NULL) {
		hf_conn_close(s, c, "replica dropped");
		hf_conn_touch(s, c);
	}
	sub->state = REPL_SUB_FREE;
	s->repl->replicas_dropped++;
}

static void sub_push(struct hf_shard *s, struct repl_sub *sub, const uint8_t *frame, uint32_t size)
{
	struct hf_conn *c = sub_conn(s, sub);
	if (c == NULL) {
		repl_sub_drop(s, sub, "its connection closed");
		return;
	}
	uint8_t *at = hf_conn_push_reserve(s, c, size);
	if (at == NULL) {
		repl_sub_drop(s, sub, "too far behind (its stream reached the connection's bound)");
		return;
	}
	memcpy(at, frame, size);
	hf_put_le64(at + HF_FRAME_REQUEST_ID_OFFSET, sub->request_id);
	hf_conn_push_commit(s, c, size);
}

static void frame_add_change(uint8_t *frame, size_t *size, const struct hf_changes *changes,
			     const struct hf_change *ch)
{
	struct hf_repl_record rec = {.kind = ch->kind,
				     .key_size = ch->key_size,
				     .value_size = ch->value_size,
				     .key = ch->key,
				     .value =
					 ch->value_size > 0 ? hf_change_value(changes, ch) : NULL};
	int rc = hf_repl_batch_add(frame, HF_FRAME_SIZE_MAX, size, &rec);
	HF_ASSERT(rc == 0); /* callers start a new frame before HF_REPL_FRAME_RECORDS_MAX */
}

void hf_repl_on_seal(struct hf_shard *s, const struct hf_batch *b)
{
	struct hf_repl *r = s->repl;
	int any = 0;
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++)
		any |= r->subs[i].state != REPL_SUB_FREE;
	if (!any)
		return;
	r->batches_streamed++;
	struct hf_repl_batch hdr = {.epoch = hf_repl_epoch(s), .seq = b->seq};
	uint32_t next = 0;
	/* Bounded: each frame takes up to HF_REPL_FRAME_RECORDS_MAX of the batch's changes, and an
	 * empty batch is one frame (the replica acknowledges every batch). */
	do {
		size_t size = hf_repl_batch_begin(r->frame, HF_FRAME_SIZE_MAX, 0, &hdr);
		uint32_t end = next + HF_REPL_FRAME_RECORDS_MAX;
		if (end > b->changes.count)
			end = b->changes.count;
		for (; next < end; next++)
			frame_add_change(r->frame, &size, &b->changes, &b->changes.items[next]);
		if (next == b->changes.count)
			hf_repl_batch_set_flags(r->frame, HF_REPL_F_LAST);
		for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
			if (r->subs[i].state != REPL_SUB_FREE)
				sub_push(s, &r->subs[i], r->frame, (uint32_t)size);
		}
	} while (next < b->changes.count);
}

/* The snapshot's first frame: wipe everything the replica holds of its shard's records. */
static void snapshot_begin(struct hf_shard *s, struct repl_sub *sub)
{
	struct hf_repl *r = s->repl;
	struct hf_repl_batch hdr = {.epoch = hf_repl_epoch(s),
				    .seq = s->open_seq - 1u,
				    .flags = HF_REPL_F_SNAPSHOT | HF_REPL_F_SNAP_BEGIN};
	size_t size = hf_repl_batch_begin(r->frame, HF_FRAME_SIZE_MAX, 0, &hdr);
	uint8_t lo[8];
	uint8_t hi[9];
	hf_put_be64(lo, 1); /* event ids start at 1; meta keys (eight zero bytes) stay */
	memset(hi, 0xff, sizeof(hi));
	struct hf_repl_record wipe = {.kind = HF_REPL_DEL_RANGE,
				      .key_size = sizeof(lo),
				      .value_size = sizeof(hi),
				      .key = lo,
				      .value = hi};
	int rc = hf_repl_batch_add(r->frame, HF_FRAME_SIZE_MAX, &size, &wipe);
	HF_ASSERT(rc == 0);
	sub_push(s, sub, r->frame, (uint32_t)size);
	hf_store_snapshot_begin(&sub->cursor);
}

/* Up to HF_REPL_SNAPSHOT_FRAMES_PER_ITER chunks while the replica's queue is short. */
static void snapshot_step(struct hf_shard *s, struct repl_sub *sub)
{
	struct hf_repl *r = s->repl;
	for (uint32_t k = 0; k < HF_REPL_SNAPSHOT_FRAMES_PER_ITER; k++) {
		struct hf_conn *c = sub_conn(s, sub);
		if (c == NULL || s->store == NULL ||
		    hf_conn_queued(c) >= HF_REPL_SNAPSHOT_QUEUED_SIZE_MAX)
			return;
		hf_changes_reset(&r->snap);
		int done =
		    hf_store_snapshot(s->store, &sub->cursor, HF_REPL_FRAME_RECORDS_MAX, &r->snap);
		struct hf_repl_batch hdr = {.epoch = hf_repl_epoch(s),
					    .seq = s->open_seq - 1u,
					    .flags = HF_REPL_F_SNAPSHOT |
						     (done ? HF_REPL_F_SNAP_END : 0u)};
		size_t size = hf_repl_batch_begin(r->frame, HF_FRAME_SIZE_MAX, 0, &hdr);
		for (uint32_t i = 0; i < r->snap.count; i++)
			frame_add_change(r->frame, &size, &r->snap, &r->snap.items[i]);
		sub_push(s, sub, r->frame, (uint32_t)size);
		if (sub->state == REPL_SUB_FREE)
			return;
		if (done) {
			sub->state = REPL_SUB_CATCHUP;
			sub->snap_seq = s->open_seq - 1u;
			r->snapshots_sent++;
			hf_log_info("replica %016llx: snapshot sent up to batch %llu",
				    (unsigned long long)sub->replica_id,
				    (unsigned long long)sub->snap_seq);
			return;
		}
	}
}

/* ---- Requests ---- */

static struct repl_sub *sub_find(struct hf_repl *r, uint64_t replica_id)
{
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		if (r->subs[i].state != REPL_SUB_FREE && r->subs[i].replica_id == replica_id)
			return &r->subs[i];
	}
	return NULL;
}

static struct repl_sub *sub_free_slot(struct hf_repl *r)
{
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		if (r->subs[i].state == REPL_SUB_FREE)
			return &r->subs[i];
	}
	return NULL;
}

static uint32_t handle_subscribe(struct hf_shard *s, const struct hf_frame_header *header,
				 const struct hf_repl_subscribe *sub, uint8_t *raw, int *attach)
{
	struct hf_repl *r = s->repl;
	uint64_t epoch = hf_repl_epoch(s);
	uint64_t id = header->request_id;
	if (r->replica)
		return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), header->opcode,
						       id, HF_NOT_PRIMARY, epoch);
	if (sub->epoch > epoch) {
		hf_log_error("a replica has seen epoch %llu, newer than this primary's %llu: "
			     "another primary took over; refusing it (REPL_FENCED)",
			     (unsigned long long)sub->epoch, (unsigned long long)epoch);
		return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), header->opcode,
						       id, HF_REPL_FENCED, sub->epoch);
	}
	if (sub_find(r, sub->replica_id) == NULL && sub_free_slot(r) == NULL)
		return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), header->opcode,
						       id, HF_BUSY, HF_REPL_REPLICAS_MAX);
	struct hf_repl_subscribed rep = {
	    .epoch = epoch, .stream_id = r->stream_id, .seq = s->open_seq - 1u};
	*attach = 1;
	return (uint32_t)hf_repl_subscribed_encode(raw, sizeof(s->repl->reply), id, &rep);
}

static void on_ack(struct hf_shard *s, const struct hf_repl_ack *ack)
{
	struct repl_sub *sub = sub_find(s->repl, ack->replica_id);
	if (sub == NULL)
		return; /* dropped already: it resubscribes */
	uint64_t seq = ack->seq;
	if (seq >= s->open_seq) {
		hf_log_warn("replica %016llx acknowledged batch %llu, never sealed: ignored",
			    (unsigned long long)ack->replica_id, (unsigned long long)seq);
		return;
	}
	sub->ack_mono_ms = s->mono_ms;
	if (seq > sub->acked_seq)
		sub->acked_seq = seq;
	if (sub->state == REPL_SUB_CATCHUP && sub->acked_seq >= sub->snap_seq) {
		sub->state = REPL_SUB_IN_SYNC;
		hf_log_info("replica %016llx is in sync at batch %llu",
			    (unsigned long long)sub->replica_id,
			    (unsigned long long)sub->acked_seq);
	}
}

uint32_t hf_repl_handle(struct hf_shard *s, const struct hf_frame_header *header,
			const uint8_t *body, const uint8_t **raw_out, int *attach,
			uint64_t *wait_seq_out)
{
	*attach = 0;
	*wait_seq_out = 0;
	uint8_t *raw = s->repl->reply;
	*raw_out = raw;
	uint64_t id = header->request_id;
	if (header->opcode == HF_OP_REPL_SUBSCRIBE) {
		struct hf_repl_subscribe sub;
		enum hf_status st = hf_repl_subscribe_decode(body, header->body_size, &sub);
		if (st != HF_OK)
			return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply),
							       header->opcode, id, st, 0);
		return handle_subscribe(s, header, &sub, raw, attach);
	}
	if (header->opcode == HF_OP_REPL_ACK) {
		struct hf_repl_ack ack;
		enum hf_status st = hf_repl_ack_decode(body, header->body_size, &ack);
		uint64_t epoch = hf_repl_epoch(s);
		if (st == HF_OK && ack.epoch > epoch)
			st = HF_REPL_FENCED;
		if (st == HF_OK && !s->repl->replica)
			on_ack(s, &ack);
		return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), header->opcode,
						       id, st,
						       st == HF_REPL_FENCED ? ack.epoch : 0);
	}
	if (header->opcode == HF_OP_REPL_PROMOTE)
		return repl_promote(s, header, body, wait_seq_out);
	return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), header->opcode, id,
					       HF_ERR_OPCODE, 0);
}

void hf_repl_attach(struct hf_shard *s, struct hf_conn *c, uint64_t request_id, const uint8_t *body)
{
	struct hf_repl *r = s->repl;
	struct hf_repl_subscribe req;
	enum hf_status st = hf_repl_subscribe_decode(body, HF_REPL_SUBSCRIBE_BODY_SIZE, &req);
	HF_ASSERT(st == HF_OK); /* hf_repl_handle accepted it */
	struct repl_sub *old = sub_find(r, req.replica_id);
	if (old != NULL)
		repl_sub_drop(s, old, "it subscribed again");
	struct repl_sub *sub = sub_free_slot(r);
	HF_ASSERT(sub != NULL); /* hf_repl_handle checked there is room, in this same frame */
	memset(sub, 0, sizeof(*sub));
	sub->state = REPL_SUB_SNAPSHOT;
	sub->conn = (uint32_t)(c - s->conns);
	sub->gen = c->gen;
	sub->replica_id = req.replica_id;
	sub->request_id = request_id;
	sub->ack_mono_ms = s->mono_ms;
	c->repl_stream = 1;
	hf_log_info("replica %016llx subscribed (epoch %llu): snapshot from batch %llu",
		    (unsigned long long)req.replica_id, (unsigned long long)req.epoch,
		    (unsigned long long)(s->open_seq - 1u));
	snapshot_begin(s, sub);
}

/* ---- The gate, failures, the tick ---- */

int hf_repl_gate(struct hf_shard *s, uint64_t seq)
{
	struct hf_repl *r = s->repl;
	if (r->replica || r->mode == HF_REPL_MODE_ASYNC)
		return 1;
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		const struct repl_sub *sub = &r->subs[i];
		if (sub->state == REPL_SUB_IN_SYNC && sub->acked_seq < seq) {
			if (r->gate_seq != seq) {
				r->gate_seq = seq;
				r->gate_since_ms = s->mono_ms;
				r->gate_waits++;
			}
			return 0;
		}
	}
	return 1;
}

void hf_repl_on_failed(struct hf_shard *s)
{
	struct hf_repl *r = s->repl;
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		if (r->subs[i].state != REPL_SUB_FREE)
			repl_sub_drop(s, &r->subs[i],
				      "a batch failed to commit here; it starts again from a "
				      "snapshot");
	}
	if (r->replica) {
		memset(r->ack_of, 0, sizeof(r->ack_of));
		atomic_store(&r->follow->restart, 1);
		repl_follow_signal(r->follow->ack_fd);
	}
}

/* Drops the subs whose connection is gone, and in-sync ones that held the gate too long. */
static void check_subs(struct hf_shard *s)
{
	struct hf_repl *r = s->repl;
	uint64_t waiting = s->done_seq + 1u;
	int gate_stuck = r->gate_seq == waiting && waiting < s->open_seq &&
			 s->mono_ms - r->gate_since_ms >= s->cfg->repl_timeout_ms;
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		struct repl_sub *sub = &r->subs[i];
		if (sub->state == REPL_SUB_FREE)
			continue;
		if (sub_conn(s, sub) == NULL) {
			repl_sub_drop(s, sub, "its connection closed");
			continue;
		}
		if (gate_stuck && sub->state == REPL_SUB_IN_SYNC && sub->acked_seq < waiting) {
			char why[96];
			snprintf(why, sizeof(why), "no acknowledgement of batch %llu for %u ms",
				 (unsigned long long)waiting, s->cfg->repl_timeout_ms);
			repl_sub_drop(s, sub, why);
		}
	}
}

int hf_repl_tick(struct hf_shard *s)
{
	struct hf_repl *r = s->repl;
	if (r->replica) {
		hf_repl_replica_pump(s);
		return 0;
	}
	check_subs(s);
	int more = 0;
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		struct repl_sub *sub = &r->subs[i];
		if (sub->state != REPL_SUB_SNAPSHOT)
			continue;
		snapshot_step(s, sub);
		struct hf_conn *c = sub->state == REPL_SUB_SNAPSHOT ? sub_conn(s, sub) : NULL;
		/* Go on next iteration at once, unless the queue is long: its send wakes us. */
		if (c != NULL && hf_conn_queued(c) < HF_REPL_SNAPSHOT_QUEUED_SIZE_MAX)
			more = 1;
	}
	return more;
}

void hf_repl_stats(struct hf_shard *s, struct hf_rep_stats *st)
{
	struct hf_repl *r = s->repl;
	uint64_t replicas = 0, in_sync = 0, lag = 0, lag_ms = 0;
	uint64_t now_ms = hf_clock_mono_ms();
	for (uint32_t i = 0; i < HF_REPL_REPLICAS_MAX; i++) {
		const struct repl_sub *sub = &r->subs[i];
		if (sub->state == REPL_SUB_FREE)
			continue;
		replicas++;
		in_sync += sub->state == REPL_SUB_IN_SYNC;
		uint64_t behind = s->open_seq - 1u - sub->acked_seq;
		if (behind > lag)
			lag = behind;
		/* Behind: how long since it last acknowledged anything. */
		uint64_t ms =
		    behind > 0 && now_ms > sub->ack_mono_ms ? now_ms - sub->ack_mono_ms : 0;
		if (ms > lag_ms)
			lag_ms = ms;
	}
	(void)hf_stats_add(st, "repl_replica", r->replica);
	(void)hf_stats_add(st, "repl_sync", r->mode == HF_REPL_MODE_SYNC);
	(void)hf_stats_add(st, "repl_epoch", hf_repl_epoch(s));
	if (!r->replica) {
		(void)hf_stats_add(st, "repl_replicas", replicas);
		(void)hf_stats_add(st, "repl_in_sync", in_sync);
		(void)hf_stats_add(st, "repl_lag_batches", lag);
		(void)hf_stats_add(st, "repl_lag_ms", lag_ms);
		(void)hf_stats_add(st, "repl_batches_streamed", r->batches_streamed);
		(void)hf_stats_add(st, "repl_snapshots_sent", r->snapshots_sent);
		(void)hf_stats_add(st, "repl_replicas_dropped", r->replicas_dropped);
		(void)hf_stats_add(st, "repl_gate_waits", r->gate_waits);
		return;
	}
	(void)hf_stats_add(st, "repl_streaming", (uint64_t)atomic_load(&r->follow->streaming));
	(void)hf_stats_add(st, "repl_connects", atomic_load(&r->follow->connects));
	(void)hf_stats_add(st, "repl_stream_seq", r->stream_seq);
	/* How stale a read here may be while the primary writes: since the last frame applied. */
	(void)hf_stats_add(st, "repl_applied_ago_ms",
			   r->applied_mono_ms != 0 ? hf_clock_mono_ms() - r->applied_mono_ms : 0);
	(void)hf_stats_add(st, "repl_in_snapshot", r->in_snapshot);
	(void)hf_stats_add(st, "repl_frames_applied", r->frames_applied);
	(void)hf_stats_add(st, "repl_records_applied", r->records_applied);
	(void)hf_stats_add(st, "repl_records_skipped", r->records_skipped);
	(void)hf_stats_add(st, "repl_frames_fenced", r->frames_fenced);
	(void)hf_stats_add(st, "repl_snapshots_received", r->snapshots_received);
	(void)hf_stats_add(st, "repl_divergences", r->divergences);
}
