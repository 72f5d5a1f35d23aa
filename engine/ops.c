/* One request on a shard: decode (proto), route by slot (MOVED when another shard owns it), apply
 * to the seat store with the iteration's clock into the open batch, and describe the reply. Also
 * the shard-level opcodes the store does not handle: PING, SLOT_MAP, STATS and the admin BACKUP.
 *
 * A reply that depends on state no batch has made durable yet must not leave before that batch
 * (docs/operations.md, "The batch pipeline"): ops.c says which batch with wait_seq, and conn.c
 * holds the reply until then. The rule, per store op on event E:
 *   - a write that succeeded waits for the open batch (which holds its changes), and the open batch
 *     becomes the last writer of E's dirty bucket;
 *   - anything else (a read, a refusal) waits for the last batch that wrote E's bucket: it may show
 *     that batch's effects. When that batch is durable already, the reply leaves at once.
 * Replies that depend on no store state (PING, SLOT_MAP, STATS, MOVED, decode errors) wait for
 * nothing, though conn.c still sends a connection's replies in request order.
 *
 * ops.c never seals a batch: when the open batch has no room for a write (or already carries a
 * BACKUP), it sets s->open_full and postpones the frame; shard.c seals at the end of the iteration.
 */
#include "engine/shard_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/auth.h"
#include "engine/datadir.h"
#include "engine/watch.h"

#include <errno.h>
#include <limits.h>
#include <sys/random.h>
#include <stdio.h>
#include <string.h>

void hf_ops_error(struct hf_shard *s, uint8_t opcode, uint64_t request_id, uint16_t status,
		  uint64_t detail, struct hf_ops_result *out)
{
	HF_ASSERT(status != HF_OK);
	struct hf_reply *rep = &s->rep;
	rep->opcode = opcode;
	rep->status = status;
	rep->request_id = request_id;
	rep->detail = detail;
	out->kind = HF_OPS_REPLY;
}

static void reply_ok(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	struct hf_reply *rep = &s->rep;
	rep->opcode = req->opcode;
	rep->status = HF_OK;
	rep->request_id = req->request_id;
	out->kind = HF_OPS_REPLY;
}
static void stat_add(struct hf_rep_stats *st, const char *name, uint64_t value)
{
	/* A full reply drops the rest: STATS is best effort. */
	(void)hf_stats_add(st, name, value);
}

/* p50/p99/p999 of the opcodes an on-sale lives on, of the durable wait and of the sync
 * (engine/latency.h; Prometheus gets the whole histograms). */
static void ops_latency_stats(struct hf_shard *s, struct hf_rep_stats *st)
{
	static const struct {
		const char *name;
		uint8_t opcode; /* 0: not an opcode */
		int which;	/* 0 op, 1 durable wait, 2 sync */
	} rows[] = {
	    {"hold", HF_OP_HOLD, 0},
	    {"confirm", HF_OP_CONFIRM, 0},
	    {"avail", HF_OP_AVAIL, 0},
	    {"durable_wait", 0, 1},
	    {"sync", 0, 2},
	};
	static const struct {
		const char *suffix;
		double q;
	} quantiles[] = {{"p50", 0.5}, {"p99", 0.99}, {"p999", 0.999}};
	for (size_t i = 0; i < HF_ARRAY_SIZE(rows); i++) {
		const struct hf_lat_hist *h = rows[i].which == 0   ? &s->lat->op[rows[i].opcode]
					      : rows[i].which == 1 ? &s->lat->durable
								   : &s->lat->sync;
		for (size_t j = 0; j < HF_ARRAY_SIZE(quantiles); j++) {
			char name[HF_STAT_NAME_SIZE_MAX + 1];
			snprintf(name, sizeof(name), "lat_%s_%s_us", rows[i].name,
				 quantiles[j].suffix);
			stat_add(st, name, hf_lat_quantile_us(h, quantiles[j].q));
		}
	}
}

static void ops_stats(struct hf_shard *s, struct hf_rep_stats *st)
{
	const struct hf_shard_counters *k = &s->c;
	st->stats_count = 0;
	stat_add(st, "shard_index", s->index);
	unsigned major = 0, minor = 0, patch = 0;
	/* HF_VERSION is meson's project version, "MAJOR.MINOR.PATCH". */
	if (sscanf(HF_VERSION, "%u.%u.%u", &major, &minor, &patch) != 3)
		major = minor = patch = 0;
	stat_add(st, "version_major", major);
	stat_add(st, "version_minor", minor);
	stat_add(st, "version_patch", patch);
	stat_add(st, "proto_version", HF_PROTO_VERSION);
	stat_add(st, "shards_count", s->cfg->shards_count);
	stat_add(st, "map_epoch", s->map.epoch);
	stat_add(st, "uptime_ms", hf_clock_mono_ms() - s->start_mono_ms);
	stat_add(st, "ring_mode", (uint64_t)s->ring_mode);
	stat_add(st, "conns_open", s->conns_open);
	/* Cold path: STATS walks the connection slots for the reply bytes queued (held included).
	 */
	uint64_t queued = 0;
	for (uint32_t i = 0; i < s->conns_max; i++) {
		if (s->conns[i].state != HF_CONN_FREE)
			queued += hf_conn_queued(&s->conns[i]);
	}
	stat_add(st, "conns_queued_bytes", queued);
	stat_add(st, "conns_max", s->conns_max);
	stat_add(st, "conns_accepted", k->conns_accepted);
	stat_add(st, "conns_rejected", k->conns_rejected);
	stat_add(st, "conns_closed", k->conns_closed);
	stat_add(st, "conns_closed_idle", k->conns_closed_idle);
	stat_add(st, "conns_closed_protocol", k->conns_closed_protocol);
	stat_add(st, "conns_closed_frame_timeout", k->conns_closed_frame_timeout);
	stat_add(st, "auth_failures", k->auth_failures);
	stat_add(st, "replies_forbidden", k->replies_forbidden);
	stat_add(st, "replies_rate_limited", k->replies_rate_limited);
	stat_add(st, "busy_pipeline_full", k->busy_pipeline_full);
	stat_add(st, "busy_shed", k->busy_shed);
	stat_add(st, "shed_after_ms", s->cfg->shed_after_ms);
	stat_add(st, "conns_parked", k->conns_parked);
	stat_add(st, "input_overflows", k->input_overflows);
	stat_add(st, "frames_in", k->frames_in);
	stat_add(st, "frames_out", k->frames_out);
	stat_add(st, "bytes_in", k->bytes_in);
	stat_add(st, "bytes_out", k->bytes_out);
	/* "ops_<name>" for every opcode of the table, lower-case: ops_hold, ops_seat_status... */
	for (uint32_t opcode = 0; opcode < 256u; opcode++) {
		const struct hf_op_info *op = hf_op_info((uint8_t)opcode);
		if (op == NULL)
			continue;
		char lower[HF_STAT_NAME_SIZE_MAX + 1];
		size_t len = hf_opcode_name_lower((uint8_t)opcode, lower, sizeof(lower));
		HF_ASSERT(len == strlen(op->name)); /* never truncated */
		char name[HF_STAT_NAME_SIZE_MAX + 1];
		int n = snprintf(name, sizeof(name), "ops_%s", lower);
		HF_ASSERT(n > 0);
		HF_ASSERT((size_t)n < sizeof(name));
		stat_add(st, name, k->ops[opcode]);
	}
	stat_add(st, "ops_unknown", k->ops_unknown);
	stat_add(st, "replies_error", k->replies_error);
	stat_add(st, "replies_moved", k->replies_moved);
	stat_add(st, "replies_busy", k->replies_busy);
	stat_add(st, "replies_io_error", k->replies_io);
	stat_add(st, "loop_iterations", k->iterations);
	stat_add(st, "commits", k->commits);
	stat_add(st, "commit_ops", k->commit_ops);
	stat_add(st, "batch_ops_avg", k->commits > 0 ? k->commit_ops / k->commits : 0);
	stat_add(st, "commit_failures", k->commit_failures);
	stat_add(st, "batches_cancelled", k->batches_cancelled);
	stat_add(st, "batches_in_flight", hf_shard_in_flight(s));
	stat_add(st, "batch_postponed", k->batch_postponed);
	stat_add(st, "durable_wait_us_max", k->durable_wait_us_max);
	stat_add(st, "durable_wait_us_avg",
		 k->commits > 0 ? k->durable_wait_us_sum / k->commits : 0);
	stat_add(st, "replies_held", k->replies_held);
	ops_latency_stats(s, st);
	stat_add(st, "pool_waits", k->pool_waits);
	stat_add(st, "lat_untimed", k->lat_untimed);
	stat_add(st, "pool_exhausted", s->pool.exhausted);
	stat_add(st, "pool_bytes_in_use", s->pool.bytes_in_use);
	stat_add(st, "store_reloads", k->store_reloads);
	stat_add(st, "degraded", s->degraded);
	stat_add(st, "read_only", s->read_only);
	stat_add(st, "holds_expired_by_tick", k->holds_expired_tick);
	stat_add(st, "recv_enobufs", k->recv_enobufs);
	hf_watch_stats(s, st);
	hf_move_stats(s->move, st);
	hf_repl_stats(s, st);
	if (s->durable != NULL)
		hf_durable_stats(s->durable, st);
	else if (s->persist != NULL) /* none: only an in-process test shard has none at all */
		hf_persist_stats(s->persist, st);
	if (s->store != NULL) {
		struct hf_store_counts counts;
		hf_store_counts(s->store, &counts);
		/* Every live hold and every tombstone waits in the timer wheel. */
		stat_add(st, "timer_wheel_entries",
			 (uint64_t)counts.holds_count + counts.tombstones_count);
		hf_store_stats(s->store, st);
	}
}

/* BACKUP joins the open batch: the persist thread takes the checkpoint right after writing it, so
 * the checkpoint holds every op answered before the BACKUP. The reply is completed then. */
static void ops_backup(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	if (s->cfg->durability == HF_DURABILITY_NONE) {
		hf_log_warn("backup: durability none keeps nothing on disk; nothing to back up");
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_INVALID, 0, out);
		return;
	}
	if (s->cfg->backup_root_real[0] == '\0') {
		hf_log_warn("backup into %s refused: holdfastd has no --backup-root",
			    req->backup.path);
		hf_ops_error(s, req->opcode, req->request_id, HF_FORBIDDEN, 0, out);
		return;
	}
	if (s->store == NULL || s->read_only) {
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_IO, 0, out);
		return;
	}
	struct hf_batch *b = hf_shard_open_batch(s);
	if (b->has_backup) {
		s->open_full = 1;
		out->kind = HF_OPS_POSTPONE;
		return;
	}
	size_t len = strnlen(req->backup.path, HF_PATH_SIZE_MAX + 1);
	HF_ASSERT(len >= 1);
	HF_ASSERT(len <= HF_PATH_SIZE_MAX);
	memcpy(b->backup_root, req->backup.path, len + 1);
	b->has_backup = 1;
	b->referenced = 1;
	/* Completed by hf_conn_complete_backup when the batch is durable. */
	s->rep.backup.sequence = 0;
	reply_ok(s, req, out);
	out->backup = 1;
	out->wait_seq = b->seq;
}

/* Admission control before a queue fills: while what the shard already holds waits longer than
 * --shed-after-ms, a new write would only wait longer still, so it is answered BUSY at once (the
 * client backs off). Reads go on: they cost little and hold nothing at the disk. Returns 1 when
 * the request was shed. */
static int ops_shed(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	uint32_t bound_ms = s->cfg->shed_after_ms;
	if (bound_ms == 0 || !hf_opcode_is_write(req->opcode))
		return 0;
	if (hf_shard_queue_delay_us(s) <= (uint64_t)bound_ms * 1000u)
		return 0;
	s->c.busy_shed++;
	hf_ops_error(s, req->opcode, req->request_id, HF_BUSY, 0, out);
	return 1;
}

static void ops_store(struct hf_shard *s, struct hf_request *req, struct hf_ops_result *out)
{
	uint64_t event_id = hf_request_event_id(req);
	/* The decoder answers HF_ERR_INVALID for a zero event id of a store op. */
	HF_ASSERT(event_id != 0);
	uint16_t slot = hf_slot_of(event_id);
	if (!s->map_confirmed && s->mono_ms < s->map_wait_until_ms) {
		/* Just started in a cluster: the persisted map may be older than etcd's. */
		hf_ops_error(s, req->opcode, req->request_id, HF_TRY_AGAIN, 0, out);
		return;
	}
	if (hf_slot_map_owner(&s->map, slot) != s->owner_index) {
		if (hf_move_incoming(s->move, slot))
			hf_ops_error(s, req->opcode, req->request_id, HF_TRY_AGAIN, 0, out);
		else
			hf_ops_error(s, req->opcode, req->request_id, HF_MOVED, s->map.epoch, out);
		return;
	}
	if (hf_move_frozen(s->move, slot)) {
		/* The slot's last changes are being handed to its next owner (engine/move.h). */
		hf_ops_error(s, req->opcode, req->request_id, HF_TRY_AGAIN, 0, out);
		return;
	}
	if (s->store == NULL) {
		/* A failed commit: the store is being rebuilt from disk, nothing is known. */
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_IO, 0, out);
		return;
	}
	if (hf_opcode_is_write(req->opcode) && hf_repl_is_replica(s->repl)) {
		/* A replica's store follows its primary only. */
		hf_ops_error(s, req->opcode, req->request_id, HF_NOT_PRIMARY, hf_repl_epoch(s),
			     out);
		return;
	}
	if (s->read_only && hf_opcode_is_write(req->opcode)) {
		/* The disk refuses writes (full): answer at once, the store stays as it is. */
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_IO, 0, out);
		return;
	}
	if (req->opcode == HF_OP_HOLD) {
		/* The event's own rate (CREATE_EVENT user_rate) wins over --user-rate. */
		uint32_t rate, burst;
		uint32_t wait_ms =
		    hf_store_event_rate(s->store, event_id, &rate, &burst)
			? hf_rate_limit_take_at(&s->rate, event_id, req->hold.user_id, s->mono_ms,
						rate, burst)
			: hf_rate_limit_take(&s->rate, event_id, req->hold.user_id, s->mono_ms);
		if (wait_ms > 0) {
			s->c.replies_rate_limited++;
			hf_ops_error(s, req->opcode, req->request_id, HF_RATE_LIMITED, wait_ms,
				     out);
			return;
		}
	}
	if (ops_shed(s, req, out))
		return;
	struct hf_batch *b = hf_shard_open_batch(s);
	if (!hf_changes_has_room(&b->changes)) {
		if (hf_shard_in_flight(s) >= HF_SHARD_BATCHES_INFLIGHT_MAX) {
			/* Admission control: the open batch is full and two are at the disk. Shed
			 * the request at once (the client backs off) rather than let every queue
			 * and every latency grow. */
			s->c.busy_pipeline_full++;
			hf_ops_error(s, req->opcode, req->request_id, HF_BUSY, 0, out);
			return;
		}
		s->open_full = 1;
		out->kind = HF_OPS_POSTPONE;
		return;
	}
	if (req->opcode == HF_OP_CREATE_EVENT && req->create_event.hold_lifetime_max_s == 0)
		req->create_event.hold_lifetime_max_s = s->cfg->hold_lifetime_max_s;
	/* A room's token key: fresh random bytes (the store keeps an existing room's key). */
	if (req->opcode == HF_OP_ROOM_SET && getrandom(req->room_set.key, sizeof(req->room_set.key),
						       0) != (ssize_t)sizeof(req->room_set.key)) {
		hf_log_error("room: getrandom failed: %s", strerror(errno));
		hf_ops_error(s, req->opcode, req->request_id, HF_ERR_INTERNAL, 0, out);
		return;
	}

	struct hf_reply *rep = &s->rep;
	uint32_t changes_before = b->changes.count;
	enum hf_status st = hf_store_apply(s->store, req, s->now_ms, rep, &b->changes);
	hf_move_capture(s, &b->changes, changes_before);
	HF_ASSERT(rep->status == st);
	if (st == HF_OK && req->opcode == HF_OP_EXTEND)
		hf_watch_note_extend(s, b, changes_before, req->extend.hold_id);
	HF_ASSERT(rep->request_id == req->request_id);
	out->kind = HF_OPS_REPLY;
	uint64_t *dirty = hf_shard_dirty(s, event_id);
	/* Records appended make the open batch the event's last writer, whatever the answer (a
	 * waiting room admits buyers on refused HOLDs too). A JOIN or POSITION that appended
	 * nothing shows only what earlier batches made: it waits like a read. */
	int appended = b->changes.count != changes_before;
	int room_unchanged =
	    (req->opcode == HF_OP_JOIN || req->opcode == HF_OP_POSITION) && !appended;
	if (appended || (st == HF_OK && hf_opcode_is_write(req->opcode) && !room_unchanged)) {
		*dirty = b->seq;
		b->referenced = 1;
	}
	HF_ASSERT(*dirty <= b->seq);
	out->wait_seq = *dirty;
	b->ops_count++;
}

/* One BATCH entry, answered in s->rep as if it had come in a frame of its own. busy: the whole
 * batch is shed (two batches at the disk and no room in the open one). */
static void batch_entry(struct hf_shard *s, const struct hf_frame_header *h, const uint8_t *body,
			int busy, struct hf_ops_result *out)
{
	if (!hf_opcode_is_batchable(h->opcode)) {
		hf_ops_error(s, h->opcode, h->request_id, HF_ERR_OPCODE, 0, out);
		return;
	}
	struct hf_request *sub = &s->sub_req;
	enum hf_status st = hf_request_decode(h, body, sub);
	if (st != HF_OK) {
		hf_ops_error(s, h->opcode, h->request_id, st, 0, out);
		return;
	}
	if (busy || !hf_changes_has_room(&hf_shard_open_batch(s)->changes)) {
		/* No room left in this batch (expiries can take the room the frame was given): the
		 * client resends the entry, nothing changed. */
		hf_ops_error(s, h->opcode, h->request_id, HF_BUSY, 0, out);
		return;
	}
	ops_store(s, sub, out);
	HF_ASSERT(out->kind == HF_OPS_REPLY);
	s->c.ops[sub->opcode]++;
}

/* BATCH: every entry runs as ops_store runs a frame, into the open batch, and the answers leave as
 * one reply frame built in s->batch_out (HF_OPS_RAW), held behind the latest batch any entry waits
 * for. The frame is applied in one batch: when the open batch has no room for all its entries it
 * waits for the next batch like any write (POSTPONE), and with two batches at the disk every entry
 * is answered BUSY. */
static void ops_batch(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	const struct hf_req_batch *bt = &req->batch;
	HF_ASSERT(bt->ops_count >= 1);
	HF_ASSERT(bt->ops_count <= HF_BATCH_OPS_MAX);
	struct hf_batch *b = hf_shard_open_batch(s);
	int busy = 0;
	if (hf_changes_ops_room(&b->changes) < bt->ops_count) {
		if (hf_shard_in_flight(s) >= HF_SHARD_BATCHES_INFLIGHT_MAX) {
			s->c.busy_pipeline_full++;
			busy = 1;
		} else if (b->changes.count > 0) {
			s->open_full = 1;
			out->kind = HF_OPS_POSTPONE;
			return;
		}
		/* Else an empty batch smaller than the frame (HOLDFAST_BATCH_CHANGES_MAX): the
		 * entries past its room are answered BUSY. */
	}
	uint8_t *frame = s->batch_out;
	size_t size = HF_FRAME_HEADER_SIZE + HF_BATCH_FIXED_SIZE;
	uint64_t wait_seq = 0;
	uint32_t off = 0;
	for (uint16_t i = 0; i < bt->ops_count; i++) {
		struct hf_frame_header h;
		const uint8_t *body;
		int rc = hf_batch_next(bt->entries, bt->entries_size, &off, 0, &h, &body);
		HF_ASSERT(rc == 1); /* the decoder checked the framing */
		struct hf_ops_result sub = {.kind = HF_OPS_REPLY};
		batch_entry(s, &h, body, busy, &sub);
		if (sub.wait_seq > wait_seq)
			wait_seq = sub.wait_seq;
		size_t n = hf_batch_reply_entry_encode(&s->rep, frame + size,
						       HF_SHARD_BATCH_OUT_SIZE - size);
		HF_ASSERT(n >= HF_BATCH_ENTRY_HEADER_SIZE);
		size += n;
	}
	HF_ASSERT(off == bt->entries_size);
	hf_batch_fixed_encode(frame + HF_FRAME_HEADER_SIZE, bt->ops_count);
	struct hf_frame_header h = {.magic = HF_FRAME_MAGIC,
				    .version = HF_PROTO_VERSION,
				    .opcode = HF_OP_BATCH,
				    .flags = HF_FLAG_REPLY,
				    .status = HF_OK,
				    .request_id = req->request_id,
				    .body_size = (uint32_t)(size - HF_FRAME_HEADER_SIZE)};
	hf_frame_header_encode(frame, &h);
	out->kind = HF_OPS_RAW;
	out->raw = frame;
	out->raw_size = (uint32_t)size;
	out->wait_seq = wait_seq;
}

/* Replication frames (engine/repl.h): admin only; their bodies are proto/repl.h's. */
static void ops_repl(struct hf_shard *s, uint8_t role, const struct hf_frame_header *header,
		     const uint8_t *body, struct hf_ops_result *out)
{
	s->req.opcode = header->opcode;
	s->req.request_id = header->request_id;
	if (role != HF_ROLE_ADMIN) {
		s->c.replies_forbidden++;
		hf_ops_error(s, header->opcode, header->request_id, HF_FORBIDDEN, 0, out);
		return;
	}
	int attach = 0;
	const uint8_t *raw = NULL;
	uint64_t wait_seq = 0;
	out->raw_size = hf_repl_handle(s, header, body, &raw, &attach, &wait_seq);
	out->raw = raw;
	out->wait_seq = wait_seq;
	out->kind = HF_OPS_RAW;
	out->repl_attach = (uint8_t)attach;
	s->c.ops[header->opcode]++;
}

static void ops_auth(struct hf_shard *s, const struct hf_request *req, struct hf_ops_result *out)
{
	uint8_t role = s->cfg->auth == NULL ? HF_ROLE_ADMIN
					    : (uint8_t)hf_auth_check(s->cfg->auth, req->auth.token,
								     req->auth.token_size);
	if (role == HF_ROLE_NONE) {
		s->c.auth_failures++;
		hf_ops_error(s, req->opcode, req->request_id, HF_UNAUTHORIZED, 0, out);
		out->doom = 1;
		return;
	}
	s->rep.auth.role = role;
	reply_ok(s, req, out);
	out->set_role = role;
}

/* With tokens, a connection's first frame must be a good AUTH; admin opcodes need an admin. */
static int ops_authorize(struct hf_shard *s, uint8_t role, const struct hf_frame_header *header,
			 struct hf_ops_result *out)
{
	if (role == HF_ROLE_NONE && header->opcode != HF_OP_AUTH) {
		s->c.auth_failures++;
		hf_ops_error(s, header->opcode, header->request_id, HF_UNAUTHORIZED, 0, out);
		out->doom = 1;
		return 0;
	}
	const struct hf_op_info *op = hf_op_info(header->opcode);
	/* ROOM_SET is the event owner's: with tokens, an admin's. */
	int admin_only = op != NULL && (op->admin || op->opcode == HF_OP_ROOM_SET);
	if (admin_only && role != HF_ROLE_ADMIN) {
		s->c.replies_forbidden++;
		hf_ops_error(s, header->opcode, header->request_id, HF_FORBIDDEN, 0, out);
		return 0;
	}
	return 1;
}

void hf_ops_handle(struct hf_shard *s, uint8_t role, const struct hf_frame_header *header,
		   const uint8_t *body, struct hf_ops_result *out)
{
	out->kind = HF_OPS_REPLY;
	out->backup = 0;
	out->set_role = 0;
	out->doom = 0;
	out->repl_attach = 0;
	out->wait_seq = 0;
	if (!ops_authorize(s, role, header, out))
		return;
	if (header->opcode >= HF_OP_REPL_SUBSCRIBE && header->opcode <= HF_OP_REPL_PROMOTE) {
		ops_repl(s, role, header, body, out);
		return;
	}
	struct hf_request *req = &s->req;
	enum hf_status st = hf_request_decode(header, body, req);
	if (st != HF_OK) {
		/* Unknown opcode or malformed body: answer and go on with the next frame. */
		if (st == HF_ERR_OPCODE)
			s->c.ops_unknown++;
		hf_ops_error(s, header->opcode, header->request_id, st, 0, out);
		return;
	}
	struct hf_reply *rep = &s->rep;
	switch (req->opcode) {
	case HF_OP_PING:
		rep->ping.epoch = s->map.epoch;
		reply_ok(s, req, out);
		break;
	case HF_OP_SLOT_MAP:
		out->kind = HF_OPS_RAW;
		out->raw = s->map_frame;
		out->raw_size = s->map_frame_size;
		break;
	case HF_OP_STATS:
		rep->stats.stats_count = 0;
		ops_stats(s, &rep->stats);
		reply_ok(s, req, out);
		break;
	case HF_OP_BACKUP:
		ops_backup(s, req, out);
		break;
	case HF_OP_AUTH:
		ops_auth(s, req, out);
		break;
	case HF_OP_BATCH:
		ops_batch(s, req, out);
		break;
	case HF_OP_MOVE_COPY:
	case HF_OP_MOVE_EXPORT:
	case HF_OP_MOVE_FREEZE:
	case HF_OP_MOVE_PERSISTED:
	case HF_OP_MOVE_DROP:
	case HF_OP_MOVE_UNFREEZE:
		hf_move_handle(s, req, out);
		break;
	default:
		ops_store(s, req, out);
		break;
	}
	if (out->kind != HF_OPS_POSTPONE)
		s->c.ops[req->opcode]++;
}
