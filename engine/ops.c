/* One request on a shard: decode (proto), route by slot (MOVED when another shard owns it), apply
 * to the seat store with the iteration's clock, and append the reply to the connection. Also the
 * shard-level opcodes the store does not handle: PING, SLOT_MAP, STATS and the admin BACKUP.
 *
 * Store ops join the current group commit: their changes go to shard->changes and their reply's
 * place is noted (hf_conn_batch_note) so that a failed commit can turn it into HF_ERR_IO. */
#include "engine/shard_int.h"

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/datadir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

void hf_ops_reply_error(struct hf_shard *s, struct hf_conn *c, uint8_t opcode, uint64_t request_id,
			uint16_t status, uint64_t detail)
{
	HF_ASSERT(status != HF_OK);
	struct hf_reply *rep = &s->rep;
	rep->opcode = opcode;
	rep->status = status;
	rep->request_id = request_id;
	rep->detail = detail;
	(void)hf_conn_reply(s, c, rep);
}

static void reply_ok(struct hf_shard *s, struct hf_conn *c, const struct hf_request *req)
{
	struct hf_reply *rep = &s->rep;
	rep->opcode = req->opcode;
	rep->status = HF_OK;
	rep->request_id = req->request_id;
	(void)hf_conn_reply(s, c, rep);
}

static void stat_add(struct hf_rep_stats *st, const char *name, uint64_t value)
{
	/* A full reply drops the rest: STATS is best effort. */
	(void)hf_stats_add(st, name, value);
}

static void ops_stats(struct hf_shard *s, struct hf_rep_stats *st)
{
	static const struct {
		uint8_t opcode;
		const char *name;
	} op_stats[] = {
	    {HF_OP_PING, "ops_ping"},
	    {HF_OP_CREATE_EVENT, "ops_create_event"},
	    {HF_OP_EVENT_INFO, "ops_event_info"},
	    {HF_OP_HOLD, "ops_hold"},
	    {HF_OP_EXTEND, "ops_extend"},
	    {HF_OP_CONFIRM, "ops_confirm"},
	    {HF_OP_RELEASE, "ops_release"},
	    {HF_OP_CANCEL, "ops_cancel"},
	    {HF_OP_AVAIL, "ops_avail"},
	    {HF_OP_SEAT_STATUS, "ops_seat_status"},
	    {HF_OP_SLOT_MAP, "ops_slot_map"},
	    {HF_OP_STATS, "ops_stats"},
	    {HF_OP_BACKUP, "ops_backup"},
	};
	const struct hf_shard_counters *k = &s->c;
	st->stats_count = 0;
	stat_add(st, "shard_index", s->index);
	stat_add(st, "shards_count", s->cfg->shards_count);
	stat_add(st, "map_epoch", s->map.epoch);
	stat_add(st, "uptime_ms", hf_clock_mono_ms() - s->start_mono_ms);
	stat_add(st, "ring_mode", (uint64_t)s->ring_mode);
	stat_add(st, "conns_open", s->conns_open);
	stat_add(st, "conns_max", s->conns_max);
	stat_add(st, "conns_accepted", k->conns_accepted);
	stat_add(st, "conns_rejected", k->conns_rejected);
	stat_add(st, "conns_closed", k->conns_closed);
	stat_add(st, "conns_closed_idle", k->conns_closed_idle);
	stat_add(st, "conns_closed_protocol", k->conns_closed_protocol);
	stat_add(st, "conns_parked", k->conns_parked);
	stat_add(st, "input_overflows", k->input_overflows);
	stat_add(st, "frames_in", k->frames_in);
	stat_add(st, "frames_out", k->frames_out);
	stat_add(st, "bytes_in", k->bytes_in);
	stat_add(st, "bytes_out", k->bytes_out);
	for (size_t i = 0; i < HF_ARRAY_SIZE(op_stats); i++)
		stat_add(st, op_stats[i].name, k->ops[op_stats[i].opcode]);
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
	stat_add(st, "store_reloads", k->store_reloads);
	stat_add(st, "degraded", s->degraded);
	stat_add(st, "holds_expired_by_tick", k->holds_expired_tick);
	stat_add(st, "recv_enobufs", k->recv_enobufs);
	hf_persist_stats(s->persist, st);
	if (s->store != NULL)
		hf_store_stats(s->store, st);
}

static void ops_backup(struct hf_shard *s, struct hf_conn *c, const struct hf_request *req)
{
	/* End the batch first: the checkpoint then holds every op answered before this one. */
	hf_shard_commit(s);
	if (c->state != HF_CONN_OPEN)
		return;
	if (s->cfg->durability == HF_DURABILITY_NONE) {
		hf_log_warn("backup: durability none keeps nothing on disk; nothing to back up");
		hf_ops_reply_error(s, c, req->opcode, req->request_id, HF_ERR_INVALID, 0);
		return;
	}
	char dir[PATH_MAX];
	int rc = hf_datadir_mkdir_p(req->backup.path);
	if (rc == 0)
		rc = hf_datadir_shard_path(req->backup.path, s->index, dir, sizeof(dir));
	if (rc == 0)
		rc = hf_persist_checkpoint(s->persist, dir);
	if (rc != 0) {
		hf_log_error("backup into %s: %s", req->backup.path, strerror(-rc));
		hf_ops_reply_error(s, c, req->opcode, req->request_id,
				   rc == -EEXIST ? HF_ERR_INVALID : HF_ERR_IO, 0);
		return;
	}
	struct hf_reply *rep = &s->rep;
	rep->backup.sequence = hf_persist_sequence(s->persist);
	hf_log_info("backup: checkpoint %s at sequence %llu", dir,
		    (unsigned long long)rep->backup.sequence);
	reply_ok(s, c, req);
}

static void ops_store(struct hf_shard *s, struct hf_conn *c, struct hf_request *req)
{
	uint64_t event_id = hf_request_event_id(req);
	/* The decoder answers HF_ERR_INVALID for a zero event id of a store op. */
	HF_ASSERT(event_id != 0);
	uint16_t slot = hf_slot_of(event_id);
	if (hf_slot_map_owner(&s->map, slot) != s->owner_index) {
		hf_ops_reply_error(s, c, req->opcode, req->request_id, HF_MOVED, s->map.epoch);
		return;
	}
	if (s->store != NULL && (!hf_changes_has_room(&s->changes) ||
				 s->batch_replies_count >= HF_SHARD_BATCH_REPLIES_MAX))
		hf_shard_commit(s);
	if (s->store == NULL || c->state != HF_CONN_OPEN) {
		/* The store could not be reloaded after a failed commit: nothing is known. */
		if (c->state == HF_CONN_OPEN)
			hf_ops_reply_error(s, c, req->opcode, req->request_id, HF_ERR_IO, 0);
		return;
	}
	if (req->opcode == HF_OP_CREATE_EVENT && req->create_event.hold_lifetime_max_s == 0)
		req->create_event.hold_lifetime_max_s = s->cfg->hold_lifetime_max_s;

	struct hf_reply *rep = &s->rep;
	enum hf_status st = hf_store_apply(s->store, req, s->now_ms, rep, &s->changes);
	HF_ASSERT(rep->status == st && rep->request_id == req->request_id);
	int64_t offset = hf_conn_reply(s, c, rep);
	if (offset < 0)
		return;
	hf_conn_batch_note(s, c, (uint32_t)offset);
	s->batch_ops++;
}

void hf_ops_handle(struct hf_shard *s, struct hf_conn *c, const struct hf_frame_header *header,
		   const uint8_t *body)
{
	HF_ASSERT(c->state == HF_CONN_OPEN);
	s->c.frames_in++;
	struct hf_request *req = &s->req;
	enum hf_status st = hf_request_decode(header, body, req);
	if (st != HF_OK) {
		/* Unknown opcode or malformed body: answer and go on with the next frame. */
		if (st == HF_ERR_OPCODE)
			s->c.ops_unknown++;
		hf_ops_reply_error(s, c, header->opcode, header->request_id, st, 0);
		return;
	}
	s->c.ops[req->opcode]++;
	struct hf_reply *rep = &s->rep;
	switch (req->opcode) {
	case HF_OP_PING:
		rep->ping.epoch = s->map.epoch;
		reply_ok(s, c, req);
		break;
	case HF_OP_SLOT_MAP:
		(void)hf_conn_reply_raw(s, c, s->map_frame, s->map_frame_size, req->request_id);
		break;
	case HF_OP_STATS:
		ops_stats(s, &rep->stats);
		reply_ok(s, c, req);
		break;
	case HF_OP_BACKUP:
		ops_backup(s, c, req);
		break;
	default:
		ops_store(s, c, req);
		break;
	}
}
