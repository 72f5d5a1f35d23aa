/* Live slot moves on the engine (see move.h): the MOVE_* opcodes on a shard's thread, the source's
 * change log, the target's import, and the node's mover thread that pulls slots over TCP.
 *
 * INVARIANTS
 *  1. A shard thread never blocks on the network: only the mover thread opens sockets, and it
 *     hands each chunk to the shard through the inbox under the lock, then rings the shard's
 *     eventfd (the map eventfd, which also wakes the loop for posted maps).
 *  2. The source's change log starts with the export (MOVE_EXPORT at cursor 0) and holds, in
 *     order, every change record of the slot appended since (hf_move_capture); each MOVE_EXPORT
 *     answer carries the log before the snapshot chunk, so a target that applies answers in order
 *     holds, after each one, a subset of the source's state at the time it was built.
 *  3. The inbox belongs to generation inbox_gen: a restart or a reset of the import bumps gen, and
 *     chunks of an older generation are neither delivered nor applied.
 *  4. PERSISTED is reached only after the batch holding the last chunk of a frozen, drained source
 *     is durable (persist_seq <= done_seq).
 *  5. MOVE_DROP never deletes a slot this shard serves: it is refused while the map names this
 *     shard for the slot, unless the slot is frozen (after the flip, before the map arrived). */
#include "engine/move.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/shard_int.h"
#include "shards/store_move.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct hf_move_shard {
	/* Source side: the shard's thread only. */
	uint8_t exporting;	 /* export_slot's changes go to the log */
	uint8_t frozen;		 /* export_slot answers TRY_AGAIN */
	uint8_t log_full;	 /* the log passed its bound: the export failed */
	uint16_t export_slot;	 /* valid while exporting or frozen */
	uint8_t *log;		 /* HF_MOVE_LOG_SIZE_MAX bytes while exporting */
	uint32_t log_size;	 /* bytes not acknowledged yet */
	uint64_t log_base;	 /* stream offset of log[0] */
	uint64_t export_reloads; /* store reloads when the export started (a reload ends it) */
	uint8_t *chunk;		 /* HF_MOVE_CHUNK_SIZE_MAX: the data of a MOVE_EXPORT reply */
	uint64_t frozen_since_ms;
	uint64_t sent_records; /* counters for STATS */
	uint64_t exports_total;
	uint64_t freezes_total;
	uint64_t freeze_ms_max;

	/* Target side: under lock (the mover thread and the shard's thread). */
	pthread_mutex_t lock;
	uint8_t state; /* enum hf_move_state, target values */
	uint16_t import_slot;
	struct hf_slot_owner from;
	uint32_t gen;
	uint8_t *inbox; /* HF_MOVE_CHUNK_SIZE_MAX */
	uint32_t inbox_size;
	uint8_t inbox_full;
	uint8_t inbox_last; /* the chunk ends the move's data */
	uint32_t inbox_gen;
	uint64_t records;
	uint64_t bytes;
	/* Target side: the shard's thread only. */
	uint32_t inbox_off;
	uint8_t last_applied;
	uint64_t persist_seq;
	uint64_t import_reloads;
	uint64_t imports_total;
	uint64_t import_failures;
	/* The slot this shard holds a durable copy of, waiting for the map to name it (PERSISTED):
	 * the shard's thread only, read by hf_move_incoming on the MOVED path. */
	uint8_t incoming;
	uint16_t incoming_slot;
};

int hf_move_shard_create(struct hf_move_shard **out)
{
	struct hf_move_shard *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->chunk = malloc(HF_MOVE_CHUNK_SIZE_MAX);
	m->inbox = malloc(HF_MOVE_CHUNK_SIZE_MAX);
	if (m->chunk == NULL || m->inbox == NULL) {
		free(m->chunk);
		free(m->inbox);
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void hf_move_shard_destroy(struct hf_move_shard *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->log);
	free(m->chunk);
	free(m->inbox);
	free(m);
}

/* ---- Shard thread helpers ---- */

static int owns(const struct hf_shard *s, uint16_t slot)
{
	return s->owner_index != HF_SHARD_OWNER_NONE &&
	       hf_slot_map_owner(&s->map, slot) == s->owner_index;
}

static void ring(struct hf_shard *s)
{
	uint64_t one = 1;
	ssize_t n = write(s->map_fd, &one, sizeof(one));
	/* A full eventfd counter is readable already: the shard wakes either way. */
	HF_ASSERT(n == (ssize_t)sizeof(one) || errno == EAGAIN);
}

/* Seats of the slot's events in this shard's store (cold path: a scan). */
static uint64_t slot_seats(const struct hf_shard *s, uint16_t slot)
{
	uint32_t events = 0, records = 0;
	uint64_t seats = 0;
	if (s->store != NULL)
		hf_store_slot_counts(s->store, slot, &events, &seats, &records);
	return seats;
}

static void reply_move(struct hf_shard *s, const struct hf_request *req, uint8_t state,
		       uint64_t records, uint64_t bytes, struct hf_ops_result *out)
{
	struct hf_reply *rep = &s->rep;
	rep->move.seats = 0;
	rep->opcode = req->opcode;
	rep->status = HF_OK;
	rep->request_id = req->request_id;
	rep->move.state = state;
	rep->move.records = records;
	rep->move.bytes = bytes;
	out->kind = HF_OPS_REPLY;
}

static uint8_t source_state(const struct hf_move_shard *m, uint16_t slot)
{
	if (m->export_slot != slot)
		return HF_MOVE_STATE_IDLE;
	if (m->frozen)
		return HF_MOVE_STATE_FROZEN;
	return m->exporting ? HF_MOVE_STATE_EXPORTING : HF_MOVE_STATE_IDLE;
}

/* Ends the export (the log is freed); keep_freeze leaves the slot frozen. */
static void export_end(struct hf_shard *s, int keep_freeze)
{
	struct hf_move_shard *m = s->move;
	free(m->log);
	m->log = NULL;
	m->log_size = 0;
	m->log_full = 0;
	m->exporting = 0;
	if (!keep_freeze && m->frozen) {
		uint64_t ms = s->mono_ms - m->frozen_since_ms;
		if (ms > m->freeze_ms_max)
			m->freeze_ms_max = ms;
		m->frozen = 0;
	}
}

/* ---- Source: MOVE_EXPORT, MOVE_FREEZE, MOVE_UNFREEZE ---- */

static enum hf_status export_begin(struct hf_shard *s, uint16_t slot)
{
	struct hf_move_shard *m = s->move;
	if ((m->exporting || m->frozen) && m->export_slot != slot)
		return HF_MOVE_STATE; /* one export per shard at a time */
	if (m->log == NULL) {
		m->log = malloc(HF_MOVE_LOG_SIZE_MAX); /* cold path: once per move */
		if (m->log == NULL)
			return HF_ERR_CAPACITY;
	}
	m->log_size = 0;
	m->log_base = 0;
	m->log_full = 0;
	m->exporting = 1;
	m->export_slot = slot;
	m->export_reloads = s->c.store_reloads;
	m->exports_total++;
	hf_log_info("slot %u: export started", (unsigned)slot);
	return HF_OK;
}

/* Moves the log's acknowledged bytes out and copies whole records of the rest into the chunk.
 * Returns the bytes of the log the chunk holds. */
static uint32_t export_log(struct hf_move_shard *m, uint64_t log_offset, size_t *size_io,
			   uint32_t *records_io)
{
	uint32_t done = (uint32_t)(log_offset - m->log_base);
	memmove(m->log, m->log + done, m->log_size - done);
	m->log_size -= done;
	m->log_base = log_offset;
	size_t off = 0;
	for (;;) {
		size_t next = off;
		struct hf_move_record rec;
		int rc = hf_move_record_next(m->log, m->log_size, &next, &rec);
		HF_ASSERT(rc >= 0); /* the log holds only what hf_store_changes_encode wrote */
		if (rc == 0 || *size_io + (next - off) > HF_MOVE_CHUNK_SIZE_MAX)
			break;
		memcpy(m->chunk + *size_io, m->log + off, next - off);
		*size_io += next - off;
		(*records_io)++;
		off = next;
	}
	return (uint32_t)off;
}

static enum hf_status export_check(struct hf_shard *s, const struct hf_req_move *r)
{
	struct hf_move_shard *m = s->move;
	if (!owns(s, r->slot))
		return HF_MOVE_STATE;
	if (s->store == NULL)
		return HF_ERR_IO;
	enum hf_status st = HF_OK;
	if (r->cursor == 0 && r->log_offset == 0)
		st = export_begin(s, r->slot);
	else if (!m->exporting || m->export_slot != r->slot)
		st = HF_MOVE_STATE;
	if (st != HF_OK)
		return st;
	if (m->log_full || s->c.store_reloads != m->export_reloads)
		return HF_MOVE_FAILED;
	if (r->log_offset < m->log_base || r->log_offset - m->log_base > m->log_size)
		return HF_ERR_INVALID;
	return HF_OK;
}

static void move_export(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	const struct hf_req_move *r = &req->move;
	struct hf_move_shard *m = s->move;
	enum hf_status st = export_check(s, r);
	if (st != HF_OK) {
		hf_ops_error(s, req->opcode, req->request_id, st, source_state(m, r->slot), out);
		return;
	}
	size_t size = 0;
	uint32_t records = 0;
	uint32_t log_used = export_log(m, r->log_offset, &size, &records);
	int log_drained = log_used == m->log_size;
	uint64_t cursor = r->cursor;
	if (cursor != HF_STORE_EXPORT_DONE &&
	    HF_MOVE_CHUNK_SIZE_MAX - size >= HF_MOVE_RECORD_SIZE_MAX) {
		struct hf_store_export ex;
		hf_store_export(s->store, r->slot, cursor, m->chunk, HF_MOVE_CHUNK_SIZE_MAX, &size,
				&ex);
		cursor = ex.cursor;
		records += ex.records_count;
	}
	HF_ASSERT(size <= HF_MOVE_CHUNK_SIZE_MAX);
	struct hf_rep_move_export *e = &s->rep.move_export;
	e->cursor = cursor;
	e->log_offset = m->log_base + log_used;
	e->flags = (cursor == HF_STORE_EXPORT_DONE ? HF_MOVE_EXPORT_SNAPSHOT_DONE : 0u) |
		   (m->frozen && log_drained ? HF_MOVE_EXPORT_FROZEN : 0u);
	e->records_count = records;
	e->data_size = (uint32_t)size;
	e->data = m->chunk;
	m->sent_records += records;
	s->rep.opcode = req->opcode;
	s->rep.status = HF_OK;
	s->rep.request_id = req->request_id;
	out->kind = HF_OPS_REPLY;
}

static void move_freeze(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	struct hf_move_shard *m = s->move;
	uint16_t slot = req->move.slot;
	enum hf_status st = HF_OK;
	if (!owns(s, slot) || m->export_slot != slot || (!m->exporting && !m->frozen))
		st = HF_MOVE_STATE;
	else if (m->log_full || s->c.store_reloads != m->export_reloads)
		st = HF_MOVE_FAILED;
	if (st != HF_OK) {
		hf_ops_error(s, req->opcode, req->request_id, st, source_state(m, slot), out);
		return;
	}
	if (!m->frozen) {
		m->frozen = 1;
		m->frozen_since_ms = s->mono_ms;
		m->freezes_total++;
		hf_log_info("slot %u: frozen (TRY_AGAIN) for the hand-over", (unsigned)slot);
	}
	reply_move(s, req, HF_MOVE_STATE_FROZEN, m->sent_records, 0, out);
	s->rep.move.seats = slot_seats(s, slot);
}

static void move_unfreeze(struct hf_shard *s, const struct hf_request *req,
			  struct hf_ops_result *out)
{
	struct hf_move_shard *m = s->move;
	uint16_t slot = req->move.slot;
	if (m->export_slot == slot && (m->exporting || m->frozen)) {
		export_end(s, 0);
		hf_log_info("slot %u: export ended, served again", (unsigned)slot);
	}
	reply_move(s, req, HF_MOVE_STATE_IDLE, 0, 0, out);
}

/* ---- Target: MOVE_COPY, MOVE_PERSISTED; either side: MOVE_DROP ---- */

static void import_reset(struct hf_move_shard *m)
{
	m->incoming = 0;
	m->state = HF_MOVE_STATE_IDLE;
	m->gen++;
	m->inbox_full = 0;
	m->inbox_off = 0;
	m->last_applied = 0;
}

static enum hf_status copy_start(struct hf_shard *s, const struct hf_req_move *r)
{
	struct hf_move_shard *m = s->move;
	uint8_t st = m->state;
	/* PERSISTED of an earlier move: its CLI went on, so that move flipped (the map is on its
	 * way here) or failed (its fix drops the copy whatever the state says). */
	if (st != HF_MOVE_STATE_IDLE && st != HF_MOVE_STATE_FAILED && st != HF_MOVE_STATE_PERSISTED)
		return HF_MOVE_STATE; /* another slot is being copied here */
	import_reset(m);
	m->state = HF_MOVE_STATE_DROPPING;
	m->import_slot = r->slot;
	snprintf(m->from.host, sizeof(m->from.host), "%s", r->host);
	m->from.port = r->port;
	m->records = 0;
	m->bytes = 0;
	m->import_reloads = s->c.store_reloads;
	m->imports_total++;
	hf_log_info("slot %u: copy from %s:%u started", (unsigned)r->slot, r->host,
		    (unsigned)r->port);
	return HF_OK;
}

static void move_copy(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	const struct hf_req_move *r = &req->move;
	struct hf_move_shard *m = s->move;
	if (s->store == NULL || s->read_only) {
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_IO, 0, out);
		return;
	}
	enum hf_status st = HF_OK;
	pthread_mutex_lock(&m->lock);
	int same = m->import_slot == r->slot && m->state != HF_MOVE_STATE_IDLE &&
		   m->state != HF_MOVE_STATE_FAILED && m->from.port == r->port &&
		   strcmp(m->from.host, r->host) == 0;
	if (owns(s, r->slot))
		st = HF_MOVE_STATE;
	else if (!same)
		st = copy_start(s, r);
	uint8_t state = m->state;
	uint64_t records = m->records, bytes = m->bytes;
	pthread_mutex_unlock(&m->lock);
	if (st != HF_OK) {
		hf_ops_error(s, req->opcode, req->request_id, st, state, out);
		return;
	}
	ring(s);
	reply_move(s, req, state, records, bytes, out);
}

static void move_persisted(struct hf_shard *s, const struct hf_request *req,
			   struct hf_ops_result *out)
{
	struct hf_move_shard *m = s->move;
	enum hf_status st = HF_OK;
	pthread_mutex_lock(&m->lock);
	if (m->import_slot != req->move.slot || m->state == HF_MOVE_STATE_IDLE)
		st = HF_MOVE_STATE;
	else if (m->state == HF_MOVE_STATE_FAILED)
		st = HF_MOVE_FAILED;
	else if (m->state == HF_MOVE_STATE_DROPPING || m->state == HF_MOVE_STATE_COPYING)
		st = HF_MOVE_STATE; /* the snapshot is not in yet */
	else if (m->state == HF_MOVE_STATE_COPIED)
		m->state = HF_MOVE_STATE_FINISHING;
	uint8_t state = m->state;
	uint64_t records = m->records, bytes = m->bytes;
	pthread_mutex_unlock(&m->lock);
	if (st != HF_OK) {
		hf_ops_error(s, req->opcode, req->request_id, st, state, out);
		return;
	}
	reply_move(s, req, state, records, bytes, out);
	if (state == HF_MOVE_STATE_PERSISTED)
		s->rep.move.seats = slot_seats(s, req->move.slot);
}

static void move_drop(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	struct hf_move_shard *m = s->move;
	uint16_t slot = req->move.slot;
	if (owns(s, slot) && !hf_move_frozen(m, slot)) {
		hf_ops_error(s, req->opcode, req->request_id, HF_MOVE_STATE, source_state(m, slot),
			     out);
		return;
	}
	if (s->store == NULL || s->read_only) {
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_IO, 0, out);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->import_slot == slot && m->state != HF_MOVE_STATE_IDLE)
		import_reset(m);
	pthread_mutex_unlock(&m->lock);
	if (m->exporting && m->export_slot == slot)
		export_end(s, 1); /* a frozen slot stays frozen until the map moves it away */
	struct hf_batch *b = hf_shard_open_batch(s);
	if (!hf_changes_has_room(&b->changes)) {
		s->open_full = 1;
		out->kind = HF_OPS_POSTPONE;
		return;
	}
	uint32_t left = hf_store_drop_slot(s->store, slot, &b->changes);
	b->referenced = 1;
	out->wait_seq = b->seq;
	if (left > 0) {
		hf_ops_error(s, req->opcode, req->request_id, HF_TRY_AGAIN, left, out);
		out->wait_seq = b->seq;
		return;
	}
	reply_move(s, req, HF_MOVE_STATE_IDLE, 0, 0, out);
	out->wait_seq = b->seq;
}

void hf_move_handle(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	HF_ASSERT(req->move.slot < HF_SLOTS_COUNT);
	switch (req->opcode) {
	case HF_OP_MOVE_COPY:
		move_copy(s, req, out);
		return;
	case HF_OP_MOVE_EXPORT:
		move_export(s, req, out);
		return;
	case HF_OP_MOVE_FREEZE:
		move_freeze(s, req, out);
		return;
	case HF_OP_MOVE_PERSISTED:
		move_persisted(s, req, out);
		return;
	case HF_OP_MOVE_DROP:
		move_drop(s, req, out);
		return;
	case HF_OP_MOVE_UNFREEZE:
		move_unfreeze(s, req, out);
		return;
	}
	HF_PANIC("hf_move_handle: opcode 0x%02x", req->opcode);
}

int hf_move_frozen(const struct hf_move_shard *m, uint16_t slot)
{
	return m->frozen && m->export_slot == slot;
}

int hf_move_incoming(const struct hf_move_shard *m, uint16_t slot)
{
	return m->incoming && m->incoming_slot == slot;
}

void hf_move_capture(struct hf_shard *s, const struct hf_changes *changes, uint32_t from)
{
	struct hf_move_shard *m = s->move;
	if (!m->exporting || m->log_full || from == changes->count)
		return;
	if (changes->count_only) {
		m->log_full = 1; /* records were counted, not built: nothing to ship */
		return;
	}
	size_t size = m->log_size;
	int full = 0;
	(void)hf_store_changes_encode(changes, from, m->export_slot, m->log, HF_MOVE_LOG_SIZE_MAX,
				      &size, &full);
	HF_ASSERT(size <= HF_MOVE_LOG_SIZE_MAX);
	m->log_size = (uint32_t)size;
	if (full) {
		m->log_full = 1;
		hf_log_warn("slot %u: the move's change log passed %u bytes; the move fails",
			    (unsigned)m->export_slot, HF_MOVE_LOG_SIZE_MAX);
	}
}

/* ---- Shard thread: the import ---- */

static void import_fail(struct hf_move_shard *m, const char *why)
{
	m->state = HF_MOVE_STATE_FAILED;
	m->inbox_full = 0;
	m->inbox_off = 0;
	m->import_failures++;
	hf_log_error("slot %u: copy from %s:%u failed: %s", (unsigned)m->import_slot, m->from.host,
		     (unsigned)m->from.port, why);
}

/* Imports the inbox into the open batch, at most HF_MOVE_IMPORT_PER_ITER records. Returns 1 when
 * the shard should run again at once. Under m->lock. */
static int import_inbox(struct hf_shard *s, struct hf_move_shard *m)
{
	struct hf_batch *b = hf_shard_open_batch(s);
	size_t off = m->inbox_off;
	for (uint32_t n = 0; n < HF_MOVE_IMPORT_PER_ITER && off < m->inbox_size; n++) {
		if (!hf_changes_has_room(&b->changes)) {
			s->open_full = 1;
			m->inbox_off = (uint32_t)off;
			return s->durable == NULL; /* else the commit's completion wakes the loop */
		}
		struct hf_move_record rec;
		size_t at = off;
		if (hf_move_record_next(m->inbox, m->inbox_size, &off, &rec) != 1) {
			import_fail(m, "a malformed record in the stream");
			return 0;
		}
		enum hf_status st = hf_store_import(s->store, &rec, s->now_ms, &b->changes);
		if (st != HF_OK) {
			import_fail(m, hf_status_message(st));
			return 0;
		}
		b->referenced = 1;
		m->records++;
		m->bytes += off - at;
	}
	m->inbox_off = (uint32_t)off;
	if (off < m->inbox_size)
		return 1;
	m->inbox_full = 0;
	m->inbox_off = 0;
	if (m->inbox_last) {
		m->last_applied = 1;
		m->persist_seq = b->seq;
		b->referenced = 1;
		return 1;
	}
	return 0;
}

/* Under m->lock. Returns 1 when the shard should run again at once. */
static int import_poll(struct hf_shard *s, struct hf_move_shard *m)
{
	int active = m->state == HF_MOVE_STATE_COPYING || m->state == HF_MOVE_STATE_COPIED ||
		     m->state == HF_MOVE_STATE_FINISHING || m->state == HF_MOVE_STATE_DROPPING;
	if (active && (s->store == NULL || s->c.store_reloads != m->import_reloads)) {
		import_fail(m, "the store was reloaded after a failed commit");
		return 0;
	}
	switch (m->state) {
	case HF_MOVE_STATE_DROPPING: {
		struct hf_batch *b = hf_shard_open_batch(s);
		if (s->read_only || !hf_changes_has_room(&b->changes))
			return s->durable == NULL;
		uint32_t left = hf_store_drop_slot(s->store, m->import_slot, &b->changes);
		b->referenced = 1;
		if (left == 0)
			m->state = HF_MOVE_STATE_COPYING; /* the mover starts pulling */
		return left > 0;
	}
	case HF_MOVE_STATE_COPYING:
	case HF_MOVE_STATE_COPIED:
	case HF_MOVE_STATE_FINISHING:
		if (m->inbox_full && m->inbox_gen == m->gen && !m->last_applied)
			return import_inbox(s, m);
		if (m->last_applied && s->done_seq >= m->persist_seq) {
			m->state = HF_MOVE_STATE_PERSISTED;
			m->incoming = 1;
			m->incoming_slot = m->import_slot;
			hf_log_info("slot %u: copy durable (%llu records)",
				    (unsigned)m->import_slot, (unsigned long long)m->records);
		}
		return m->last_applied && m->state != HF_MOVE_STATE_PERSISTED && s->durable == NULL;
	case HF_MOVE_STATE_PERSISTED:
		if (owns(s, m->import_slot)) {
			import_reset(m);
			hf_log_info("slot %u: served here now", (unsigned)m->import_slot);
		}
		return 0;
	default:
		return 0;
	}
}

void hf_move_poll(struct hf_shard *s)
{
	struct hf_move_shard *m = s->move;
	if ((m->exporting || m->frozen) && !owns(s, m->export_slot)) {
		hf_log_info("slot %u: moved away; export ended", (unsigned)m->export_slot);
		export_end(s, 0);
	}
	if (m->exporting && s->c.store_reloads != m->export_reloads && !m->log_full)
		m->log_full = 1; /* the log no longer matches the store: the export fails */
	pthread_mutex_lock(&m->lock);
	int again = m->state != HF_MOVE_STATE_IDLE ? import_poll(s, m) : 0;
	pthread_mutex_unlock(&m->lock);
	if (again)
		ring(s);
}

void hf_move_stats(const struct hf_move_shard *m, struct hf_rep_stats *stats)
{
	(void)hf_stats_add(stats, "move_exports", m->exports_total);
	(void)hf_stats_add(stats, "move_records_sent", m->sent_records);
	(void)hf_stats_add(stats, "move_freezes", m->freezes_total);
	(void)hf_stats_add(stats, "move_freeze_ms_max", m->freeze_ms_max);
	(void)hf_stats_add(stats, "move_imports", m->imports_total);
	(void)hf_stats_add(stats, "move_import_failures", m->import_failures);
}

/* ---- The mover thread ---- */

struct mover_link {
	int fd;		     /* to the source shard, -1 when closed */
	uint32_t gen;	     /* the import generation this link serves */
	uint64_t cursor;     /* the snapshot's next cursor */
	uint64_t log_offset; /* change-log bytes handed to the shard */
	uint32_t failures;   /* failed round trips in a row */
	uint8_t done;	     /* the last chunk was handed over */
};

struct hf_mover {
	pthread_t thread;
	atomic_int stop;
	struct hf_shard *const *shards;
	uint32_t count;
	struct mover_link *links;
	uint8_t *frame; /* HF_FRAME_SIZE_MAX: requests out, replies in */
	struct hf_reply reply;
	uint64_t request_id;
	uint16_t token_size; /* HOLDFAST_MOVE_TOKEN, 0 when unset */
	uint8_t token[HF_AUTH_TOKEN_SIZE_MAX];
};

static int io_full(int fd, uint8_t *buf, size_t size, int sending)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = sending ? send(fd, buf + done, size - done, MSG_NOSIGNAL)
				    : recv(fd, buf + done, size - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int link_connect(const struct hf_slot_owner *from)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)from->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	if (getaddrinfo(from->host, port, &hints, &res) != 0 || res == NULL)
		return -EHOSTUNREACH;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -errno : 0;
	struct timeval tv = {.tv_sec = HF_MOVE_IO_TIMEOUT_MS / 1000u,
			     .tv_usec = (HF_MOVE_IO_TIMEOUT_MS % 1000u) * 1000};
	int one = 1;
	if (rc == 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, res->ai_addr, res->ai_addrlen) != 0)
			rc = -errno;
	}
	freeaddrinfo(res);
	if (rc != 0 && fd >= 0)
		close(fd);
	return rc != 0 ? rc : fd;
}

/* One MOVE_EXPORT round trip; the answer is mv->reply (data points into mv->frame). */
static int link_pull(struct hf_mover *mv, struct mover_link *l, uint16_t slot)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_MOVE_EXPORT;
	req.request_id = ++mv->request_id;
	req.move.slot = slot;
	req.move.cursor = l->cursor;
	req.move.log_offset = l->log_offset;
	size_t size = hf_request_encode(&req, mv->frame, HF_FRAME_SIZE_MAX);
	HF_ASSERT(size > 0);
	int rc = io_full(l->fd, mv->frame, size, 1);
	if (rc == 0)
		rc = io_full(l->fd, mv->frame, HF_FRAME_HEADER_SIZE, 0);
	if (rc != 0)
		return rc;
	struct hf_frame_header h;
	if (hf_frame_header_decode(mv->frame, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY) ||
	    h.request_id != req.request_id || h.opcode != HF_OP_MOVE_EXPORT)
		return -EPROTO;
	rc = io_full(l->fd, mv->frame + HF_FRAME_HEADER_SIZE, h.body_size, 0);
	if (rc != 0)
		return rc;
	if (hf_reply_decode(&h, mv->frame + HF_FRAME_HEADER_SIZE, &mv->reply) != HF_OK)
		return -EPROTO;
	return 0;
}

/* With a token (holdfastd's environment HOLDFAST_MOVE_TOKEN: an admin token of the source's
 * --auth-file), a new link presents it first. Returns 0 or -errno (-EACCES: refused). */
static int link_auth(struct hf_mover *mv, int fd)
{
	if (mv->token_size == 0)
		return 0;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_AUTH;
	req.request_id = ++mv->request_id;
	req.auth.token_size = mv->token_size;
	memcpy(req.auth.token, mv->token, mv->token_size);
	size_t size = hf_request_encode(&req, mv->frame, HF_FRAME_SIZE_MAX);
	HF_ASSERT(size > 0);
	int rc = io_full(fd, mv->frame, size, 1);
	if (rc == 0)
		rc = io_full(fd, mv->frame, HF_FRAME_HEADER_SIZE, 0);
	if (rc != 0)
		return rc;
	struct hf_frame_header h;
	if (hf_frame_header_decode(mv->frame, &h) != HF_OK || !(h.flags & HF_FLAG_REPLY))
		return -EPROTO;
	rc = io_full(fd, mv->frame + HF_FRAME_HEADER_SIZE, h.body_size, 0);
	if (rc != 0)
		return rc;
	return h.status == HF_OK ? 0 : -EACCES;
}

static void link_close(struct mover_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* The pull failed for good: the import of generation gen fails (unless it moved on). */
static void mover_fail(struct hf_move_shard *m, uint32_t gen, const char *why)
{
	pthread_mutex_lock(&m->lock);
	if (m->gen == gen && m->state != HF_MOVE_STATE_IDLE && m->state != HF_MOVE_STATE_FAILED)
		import_fail(m, why);
	pthread_mutex_unlock(&m->lock);
}

/* Hands mv->reply's chunk to the shard. Returns 1 when it was the last. */
static int mover_deliver(struct hf_mover *mv, struct hf_move_shard *m, uint32_t gen)
{
	const struct hf_rep_move_export *e = &mv->reply.move_export;
	int last = 0;
	pthread_mutex_lock(&m->lock);
	if (m->gen == gen && !m->inbox_full) {
		if (e->data_size > 0)
			memcpy(m->inbox, e->data, e->data_size);
		m->inbox_size = e->data_size;
		m->inbox_full = e->data_size > 0;
		m->inbox_gen = gen;
		last = m->state == HF_MOVE_STATE_FINISHING &&
		       (e->flags & HF_MOVE_EXPORT_SNAPSHOT_DONE) &&
		       (e->flags & HF_MOVE_EXPORT_FROZEN);
		m->inbox_last = (uint8_t)last;
		if (last && e->data_size == 0) {
			/* Nothing left to import: an empty chunk still marks the end. */
			m->inbox_full = 1;
		}
		if (m->state == HF_MOVE_STATE_COPYING && (e->flags & HF_MOVE_EXPORT_SNAPSHOT_DONE))
			m->state = HF_MOVE_STATE_COPIED;
	}
	pthread_mutex_unlock(&m->lock);
	return last;
}

/* One step for shard i. Returns 1 when it did network work, 0 when idle, -1 when waiting. */
static int mover_step(struct hf_mover *mv, uint32_t i)
{
	struct hf_shard *s = mv->shards[i];
	struct hf_move_shard *m = s->move;
	struct mover_link *l = &mv->links[i];
	pthread_mutex_lock(&m->lock);
	uint8_t state = m->state;
	uint32_t gen = m->gen;
	uint16_t slot = m->import_slot;
	struct hf_slot_owner from = m->from;
	int busy = m->inbox_full;
	pthread_mutex_unlock(&m->lock);
	if (state != HF_MOVE_STATE_COPYING && state != HF_MOVE_STATE_COPIED &&
	    state != HF_MOVE_STATE_FINISHING) {
		link_close(l);
		return state == HF_MOVE_STATE_DROPPING ? -1 : 0;
	}
	if (l->gen != gen || l->fd < 0) {
		if (l->gen != gen)
			*l = (struct mover_link){.fd = l->fd, .gen = gen};
		link_close(l);
		int fd = link_connect(&from);
		int rc = fd < 0 ? fd : link_auth(mv, fd);
		if (rc != 0) {
			if (fd >= 0)
				close(fd);
			if (++l->failures >= HF_MOVE_PULL_ATTEMPTS_MAX)
				mover_fail(m, gen,
					   rc == -EACCES ? "the source refused HOLDFAST_MOVE_TOKEN"
							 : "the source does not answer");
			return -1;
		}
		l->fd = fd;
	}
	if (busy || l->done)
		return -1;
	int rc = link_pull(mv, l, slot);
	if (rc != 0) {
		link_close(l);
		if (++l->failures >= HF_MOVE_PULL_ATTEMPTS_MAX)
			mover_fail(m, gen, strerror(-rc));
		return -1;
	}
	l->failures = 0;
	if (mv->reply.status != HF_OK) {
		char why[96];
		snprintf(why, sizeof(why), "the source answered %s",
			 hf_status_name(mv->reply.status));
		mover_fail(m, gen, why);
		return -1;
	}
	l->cursor = mv->reply.move_export.cursor;
	l->log_offset = mv->reply.move_export.log_offset;
	l->done = (uint8_t)mover_deliver(mv, m, gen);
	ring(s);
	return mv->reply.move_export.data_size > 0 || l->done ? 1 : -1;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *mover_main(void *arg)
{
	struct hf_mover *mv = arg;
	hf_log_set_thread_tag("mover");
	while (!atomic_load(&mv->stop)) {
		int worked = 0, active = 0;
		for (uint32_t i = 0; i < mv->count; i++) {
			int r = mover_step(mv, i);
			worked |= r > 0;
			active |= r != 0;
		}
		if (!worked)
			sleep_ms(active ? HF_MOVE_FOLLOW_MS : HF_MOVE_IDLE_MS);
	}
	for (uint32_t i = 0; i < mv->count; i++)
		link_close(&mv->links[i]);
	return NULL;
}

int hf_mover_start(struct hf_shard *const *shards, uint32_t count, struct hf_mover **out)
{
	HF_ASSERT(count >= 1);
	*out = NULL;
	struct hf_mover *mv = calloc(1, sizeof(*mv));
	if (mv == NULL)
		return -ENOMEM;
	mv->shards = shards;
	mv->count = count;
	mv->links = calloc(count, sizeof(*mv->links));
	mv->frame = malloc(HF_FRAME_SIZE_MAX);
	if (mv->links == NULL || mv->frame == NULL) {
		free(mv->links);
		free(mv->frame);
		free(mv);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		mv->links[i].fd = -1;
	const char *token = getenv("HOLDFAST_MOVE_TOKEN");
	if (token != NULL && strlen(token) <= HF_AUTH_TOKEN_SIZE_MAX) {
		mv->token_size = (uint16_t)strlen(token);
		memcpy(mv->token, token, mv->token_size);
	}
	int rc = pthread_create(&mv->thread, NULL, mover_main, mv);
	if (rc != 0) {
		free(mv->links);
		free(mv->frame);
		free(mv);
		return -rc;
	}
	*out = mv;
	return 0;
}

void hf_mover_stop(struct hf_mover *mv)
{
	if (mv == NULL)
		return;
	atomic_store(&mv->stop, 1);
	pthread_join(mv->thread, NULL);
	free(mv->links);
	free(mv->frame);
	free(mv);
}
