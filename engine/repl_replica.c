/* Replication, the replica's shard-thread side: applies the frames the follow thread queued in the
 * inbox, in order, to the store (hf_store_replay) and into the open batch, so the records reach
 * the replica's RocksDB through its own batch pipeline; and, once the local batch that completed
 * primary batch N is durable, publishes N for the follow thread to acknowledge.
 *
 * STATES (of the replica's stream, per follow session):
 *   streaming --SNAP_BEGIN frame (apply_begin: the store restarts empty, a wipe is persisted)-->
 *   in_snapshot --SNAP_END frame--> streaming (acknowledges snapshot and later batches)
 *
 * INVARIANTS
 *  1. Frames are applied in inbox order; a frame is popped only once all its records are in the
 *     store and in an open batch (a frame may span two batches).
 *  2. A frame from an epoch below epoch_seen changes nothing (fencing).
 *  3. Nothing is acknowledged while in_snapshot, and an acknowledgement names a primary batch whose
 *     records, and all before it, are in a local batch that is durable.
 *  4. ack_of[i] is 0, or 1 + the primary batch completed by the local batch in batches[i]. */
#include "engine/repl_int.h"

#include "base/assert.h"
#include "base/endian.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

int hf_repl_inbox_fd(const struct hf_repl *r)
{
	return r != NULL && r->replica ? r->follow->inbox_fd : -1;
}

uint64_t *hf_repl_inbox_count(struct hf_repl *r)
{
	return &r->inbox_count;
}

/* The epoch goes to disk with the records that carried it (meta key, see shards/persist.h). */
static void persist_epoch(struct hf_batch *b, uint64_t epoch)
{
	uint8_t key[8 + sizeof(HF_REPL_META_EPOCH) - 1];
	memset(key, 0, 8);
	memcpy(key + 8, HF_REPL_META_EPOCH, sizeof(HF_REPL_META_EPOCH) - 1);
	uint8_t value[8];
	hf_put_le64(value, epoch);
	int rc =
	    hf_changes_append(&b->changes, HF_CHANGE_PUT, key, sizeof(key), value, sizeof(value));
	HF_ASSERT(rc == 0); /* apply_frame keeps room for it */
	b->referenced = 1;
}

static void stream_restart(struct hf_shard *s, const char *why)
{
	struct hf_repl *r = s->repl;
	hf_log_warn("replica stream: %s; subscribing again (a snapshot follows)", why);
	atomic_store(&r->follow->restart, 1);
	repl_follow_signal(r->follow->ack_fd);
}

/* SNAP_BEGIN: the store starts again empty; the frame's wipe record clears the disk. */
static int apply_begin(struct hf_shard *s, const struct repl_slot *slot)
{
	struct hf_repl *r = s->repl;
	struct hf_store *fresh = NULL;
	int rc = hf_store_create(&s->cfg->store, &fresh);
	if (rc != 0) {
		hf_log_error("replica: cannot create an empty store: %s", strerror(-rc));
		return rc;
	}
	if (s->store != NULL)
		hf_store_destroy(s->store);
	s->store = fresh;
	memset(s->dirty_seq, 0, HF_SHARD_DIRTY_BUCKETS * sizeof(*s->dirty_seq));
	memset(r->ack_of, 0, sizeof(r->ack_of));
	r->session = slot->session;
	r->in_snapshot = 1;
	r->snapshots_received++;
	hf_log_info("replica: snapshot begins (session %llu)", (unsigned long long)r->session);
	return 0;
}

/* The store's side of a replicated EVENT_DELETE: the event, its records and its room go, as on
 * the primary (FORCE: the primary already decided). Its changes are the primary's, already in
 * the open batch, so the ones the store writes here are dropped. */
static void replica_delete_event(struct hf_shard *s, uint64_t event_id)
{
	struct hf_repl *r = s->repl;
	struct hf_request *req = &s->sub_req;
	memset(req, 0, sizeof(*req));
	req->opcode = HF_OP_EVENT_DELETE;
	req->event_delete.event_id = event_id;
	req->event_delete.flags = HF_EVENT_DELETE_FORCE;
	hf_changes_reset(&r->scratch);
	enum hf_status st = hf_store_apply(s->store, req, s->now_ms, &s->rep, &r->scratch);
	if (st != HF_OK && st != HF_NO_EVENT)
		hf_log_warn("replica: deleting event %llu: %s", (unsigned long long)event_id,
			    hf_status_name(st));
	hf_changes_reset(&r->scratch);
}

/* Applies one record into the store (not the wipe) and the open batch. Returns 0, or -EPROTO when
 * the store refused it outside a snapshot (the replica no longer matches its primary). */
static int apply_record(struct hf_shard *s, struct hf_batch *b, const struct hf_repl_record *rec)
{
	struct hf_repl *r = s->repl;
	int rc = hf_changes_append(&b->changes, rec->kind, rec->key, rec->key_size, rec->value,
				   rec->value_size);
	HF_ASSERT(rc == 0); /* apply_frame checked the room */
	b->referenced = 1;
	r->records_applied++;
	if (rec->kind == HF_REPL_DEL_RANGE) {
		/* EVENT_DELETE's range, [be64(id), be64(id) 0xff), takes the event out of the store
		 * too (the batch above has the disk's part); a snapshot's wipe is not an event's.
		 */
		if (rec->key_size == 8u && rec->value_size == 9u &&
		    memcmp(rec->key, rec->value, 8u) == 0 && rec->value[8] == 0xffu)
			replica_delete_event(s, hf_get_be64(rec->key));
		return 0;
	}
	enum hf_status st = hf_store_replay(s->store, rec->kind, rec->key, rec->key_size,
					    rec->value, rec->value_size, s->now_ms, &r->scratch);
	if (st == HF_OK)
		return 0;
	if (st == HF_ERR_CAPACITY) {
		/* No later batch can repair this one: never claim to be in sync without it. */
		r->divergences++;
		hf_log_error("replica: the store is full (its --events-max, --seats-max and "
			     "--records-max must be at least the primary's)");
		return -EPROTO;
	}
	if (r->in_snapshot) {
		r->records_skipped++; /* a batch further down the stream brings it */
		return 0;
	}
	r->divergences++;
	hf_log_error("replica: the store refused a replicated record (%s)", hf_status_name(st));
	return -EPROTO;
}

/* The frame's end: what it completes may be acknowledged once this local batch is durable. */
static void frame_done(struct hf_shard *s, struct hf_batch *b, const struct hf_repl_batch *h)
{
	struct hf_repl *r = s->repl;
	r->frames_applied++;
	r->applied_mono_ms = s->mono_ms;
	if (h->flags & HF_REPL_F_SNAP_END) {
		r->in_snapshot = 0;
		hf_log_info("replica: snapshot applied, at primary batch %llu",
			    (unsigned long long)h->seq);
	} else if (!(h->flags & HF_REPL_F_LAST) || r->in_snapshot) {
		return;
	}
	r->stream_seq = h->seq;
	r->ack_of[b->seq % HF_SHARD_BATCHES_MAX] = h->seq + 1u; /* 0 means none */
	r->ack_session[b->seq % HF_SHARD_BATCHES_MAX] = r->session;
	b->referenced = 1;
}

/* Checks a frame before anything of it is applied. Returns 1 to apply, 0 to drop it. */
static int frame_check(struct hf_shard *s, const struct repl_slot *slot,
		       const struct hf_frame_header *h, struct hf_repl_batch *out)
{
	struct hf_repl *r = s->repl;
	if (h->opcode != HF_OP_REPL_BATCH ||
	    hf_repl_batch_decode(slot->frame + HF_FRAME_HEADER_SIZE, h->body_size, out) != HF_OK) {
		stream_restart(s, "a malformed REPL_BATCH frame");
		return 0;
	}
	if (out->epoch < r->epoch_seen) {
		r->frames_fenced++;
		hf_log_error("replica: refusing a batch of epoch %llu: epoch %llu was seen (the "
			     "sender is a deposed primary)",
			     (unsigned long long)out->epoch, (unsigned long long)r->epoch_seen);
		stream_restart(s, "fenced stream");
		return 0;
	}
	if (slot->applied == 0 && !(out->flags & HF_REPL_F_SNAP_BEGIN) &&
	    slot->session != r->session) {
		stream_restart(s, "a stream that did not open with a snapshot");
		return 0;
	}
	return 1;
}

/* Applies what fits of the slot's frame. Returns 1 when the frame is done (or dropped), 0 when it
 * waits for room in the next batch. */
static int apply_frame(struct hf_shard *s, struct repl_slot *slot)
{
	struct hf_repl *r = s->repl;
	struct hf_frame_header h;
	if (slot->size < HF_FRAME_HEADER_SIZE || hf_frame_header_decode(slot->frame, &h) != HF_OK ||
	    (uint64_t)HF_FRAME_HEADER_SIZE + h.body_size != slot->size) {
		stream_restart(s, "a torn frame");
		return 1;
	}
	struct hf_repl_batch hdr;
	if (!frame_check(s, slot, &h, &hdr))
		return 1;
	if (slot->applied == 0 && (hdr.flags & HF_REPL_F_SNAP_BEGIN) && apply_begin(s, slot) != 0)
		return 0;
	struct hf_batch *b = hf_shard_open_batch(s);
	if (hdr.epoch > r->epoch_seen) {
		if (hf_changes_room(&b->changes) < 2u)
			return 0;
		r->epoch_seen = hdr.epoch;
		atomic_store(&r->follow->epoch, hdr.epoch);
		persist_epoch(b, hdr.epoch);
	}
	const uint8_t *body = slot->frame + HF_FRAME_HEADER_SIZE;
	if (slot->applied == 0)
		slot->offset = HF_REPL_BATCH_FIXED_SIZE;
	/* Bounded by the frame's count (<= HF_REPL_FRAME_RECORDS_MAX). */
	while (slot->applied < hdr.count) {
		if (hf_changes_room(&b->changes) < 2u)
			return 0; /* the rest goes into the next batch */
		struct hf_repl_record rec;
		hf_repl_batch_record(body, &slot->offset, &rec);
		slot->applied++;
		if (apply_record(s, b, &rec) != 0) {
			stream_restart(s, "the store no longer matches the primary");
			return 1;
		}
	}
	frame_done(s, b, &hdr);
	return 1;
}

void hf_repl_replica_pump(struct hf_shard *s)
{
	struct hf_repl *r = s->repl;
	if (!r->replica)
		return; /* promoted: what is left in the inbox is dropped */
	struct repl_follow *f = r->follow;
	/* Bounded: at most the inbox's frames per call. */
	for (uint32_t i = 0; i < HF_REPL_INBOX_FRAMES; i++) {
		if (s->store == NULL || s->read_only)
			return; /* the store is being rebuilt, or the disk refuses writes */
		uint32_t head = atomic_load_explicit(&f->head, memory_order_relaxed);
		uint32_t tail = atomic_load_explicit(&f->tail, memory_order_acquire);
		HF_ASSERT(tail - head <= HF_REPL_INBOX_FRAMES);
		if (head == tail)
			return;
		struct repl_slot *slot = &f->slots[head & (HF_REPL_INBOX_FRAMES - 1u)];
		if (!apply_frame(s, slot))
			return;
		slot->applied = 0;
		atomic_store_explicit(&f->head, head + 1u, memory_order_release);
		repl_follow_signal(f->space_fd);
	}
}

static uint32_t promote_reply(struct hf_shard *s, const struct hf_frame_header *h, uint16_t status,
			      uint64_t value)
{
	uint8_t *raw = s->repl->reply;
	if (status != HF_OK)
		return (uint32_t)hf_repl_status_encode(raw, sizeof(s->repl->reply), h->opcode,
						       h->request_id, status, value);
	size_t n =
	    hf_repl_status_encode(raw, sizeof(s->repl->reply), h->opcode, h->request_id, HF_OK, 0);
	hf_put_le32(raw + 16, HF_REPL_PROMOTE_REPLY_BODY_SIZE);
	hf_put_le64(raw + n, value);
	return (uint32_t)(n + HF_REPL_PROMOTE_REPLY_BODY_SIZE);
}

uint32_t repl_promote(struct hf_shard *s, const struct hf_frame_header *header, const uint8_t *body,
		      uint64_t *wait_seq_out)
{
	struct hf_repl *r = s->repl;
	if (header->body_size != HF_REPL_PROMOTE_BODY_SIZE)
		return promote_reply(s, header, HF_ERR_MALFORMED, 0);
	uint64_t want = hf_get_le64(body);
	if (!r->replica)
		return promote_reply(s, header, HF_OK, hf_repl_epoch(s)); /* already serving */
	if (r->in_snapshot)
		return promote_reply(s, header, HF_REPL_BEHIND, r->stream_seq);
	uint64_t epoch = want != 0 ? want : r->epoch_seen + 1u;
	if (epoch <= r->epoch_seen || epoch <= s->map.epoch)
		return promote_reply(s, header, HF_ERR_INVALID, r->epoch_seen);
	struct hf_batch *b = hf_shard_open_batch(s);
	if (s->store == NULL || s->read_only || hf_changes_room(&b->changes) < 1u)
		return promote_reply(s, header, HF_BUSY, 0);
	/* Stop following first (the thread ends on its own; destroy joins it), then serve. */
	atomic_store(&r->follow->stop, 1);
	repl_follow_signal(r->follow->stop_fd);
	r->replica = 0;
	r->epoch_seen = epoch;
	persist_epoch(b, epoch);
	*wait_seq_out = b->seq; /* answered once the new epoch is durable */
	hf_log_warn("promoted: this shard stops following and serves writes at epoch %llu (it "
		    "had primary batch %llu)",
		    (unsigned long long)epoch, (unsigned long long)r->stream_seq);
	return promote_reply(s, header, HF_OK, epoch);
}

void hf_repl_on_durable(struct hf_shard *s, uint64_t seq)
{
	struct hf_repl *r = s->repl;
	if (!r->replica)
		return;
	uint32_t i = (uint32_t)(seq % HF_SHARD_BATCHES_MAX);
	uint64_t plus_one = r->ack_of[i];
	r->ack_of[i] = 0;
	if (plus_one == 0 || r->ack_session[i] != r->session)
		return;
	HF_ASSERT(plus_one <= REPL_ACK_SEQ_MASK);
	/* The word carries seq + 1 (0: nothing acknowledged in this session yet). */
	atomic_store(&r->follow->ack_word, (r->session & 0xffffu) << 48 | plus_one);
	repl_follow_signal(r->follow->ack_fd);
}
