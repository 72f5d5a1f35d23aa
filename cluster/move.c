/* The move driver (see move.h): each step re-reads the cluster state, checks it is where the step
 * expects, calls the engine, and commits the next phase with hf_cluster_commit, so a crash at any
 * point leaves a record whose phase says what was done.
 *
 * INVARIANTS
 *  1. The map names the target only in the same txn that writes phase FLIPPED (flip()).
 *  2. The record is deleted only after the engine dropped the copy that is no longer owned (the
 *     source after the flip, the target on a roll-back) and the source serves again.
 *  3. Every commit compares the map key's and the record's mod_revision (hf_cluster_commit): a
 *     concurrent change makes the step write nothing (-EAGAIN). */
#include "cluster/move.h"

#include "base/assert.h"
#include "cluster/plan.h"
#include "cluster/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mover {
	struct hf_etcd *etcd;
	const char *cluster;
	const struct hf_move_engine *engine;
	struct hf_cluster_state *st;
	struct hf_slot_map map; /* the flipped map */
	char *err;
	size_t err_size;
};

__attribute__((format(printf, 3, 4))) static int failed(struct mover *m, int rc, const char *fmt,
							...)
{
	HF_ASSERT(rc < 0);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, m->err_size, fmt, ap);
	va_end(ap);
	return rc;
}

static int reread(struct mover *m)
{
	return hf_cluster_state_read(m->etcd, m->cluster, m->st, m->err, m->err_size);
}

static const struct hf_cluster_move *find_move(const struct hf_cluster_state *st, uint16_t slot)
{
	for (uint32_t i = 0; i < st->moves_count; i++)
		if (st->moves[i].slot == slot)
			return &st->moves[i];
	return NULL;
}

static int owner_of(const struct hf_slot_map *map, const struct hf_slot_owner *o)
{
	for (uint32_t i = 0; i < map->owners_count; i++)
		if (map->owners[i].port == o->port && strcmp(map->owners[i].host, o->host) == 0)
			return (int)i;
	return -1;
}

static int commit(struct mover *m, const struct hf_cluster_change *ch)
{
	int applied = 0;
	int rc = hf_cluster_commit(m->etcd, m->cluster, m->st, ch, &applied, m->err, m->err_size);
	if (rc != 0)
		return rc;
	if (!applied)
		return failed(m, -EAGAIN, "the cluster changed under the move; run it again");
	return 0;
}

/* Writes phase on the record of mv (re-read first so the compare is current). */
static int set_phase(struct mover *m, const struct hf_cluster_move *mv, enum hf_move_phase phase)
{
	HF_ASSERT(phase > HF_MOVE_PLANNED);
	HF_ASSERT(phase < HF_MOVE_FLIPPED); /* the flip writes its phase with the map: flip() */
	int rc = reread(m);
	if (rc != 0)
		return rc;
	const struct hf_cluster_move *cur = find_move(m->st, mv->slot);
	if (cur == NULL || cur->phase >= phase)
		return failed(m, -EAGAIN, "slot %u: the move's record changed", (unsigned)mv->slot);
	struct hf_cluster_move next = *cur;
	next.phase = phase;
	struct hf_cluster_change ch = {.moves_put = {&next}, .moves_put_count = 1};
	return commit(m, &ch);
}

static int engine_step(struct mover *m, int (*fn)(void *, const struct hf_cluster_move *),
		       const struct hf_cluster_move *mv, const char *what)
{
	int rc = fn != NULL ? fn(m->engine->arg, mv) : -EOPNOTSUPP;
	if (rc != 0)
		return failed(m, rc, "slot %u: %s: %s", (unsigned)mv->slot, what, strerror(-rc));
	return 0;
}

static int engine_owner_step(struct mover *m,
			     int (*fn)(void *, const struct hf_slot_owner *, uint16_t),
			     const struct hf_slot_owner *o, uint16_t slot, const char *what)
{
	int rc = fn != NULL ? fn(m->engine->arg, o, slot) : -EOPNOTSUPP;
	if (rc != 0)
		return failed(m, rc, "slot %u: %s on %s:%u: %s", (unsigned)slot, what, o->host,
			      (unsigned)o->port, strerror(-rc));
	return 0;
}

/* The commit point: the map with epoch + 1 and slot owned by mv->to, and phase FLIPPED. */
static int flip(struct mover *m, const struct hf_cluster_move *mv)
{
	int rc = reread(m);
	if (rc != 0)
		return rc;
	const struct hf_cluster_move *cur = find_move(m->st, mv->slot);
	if (cur == NULL || (cur->phase != HF_MOVE_FROZEN && cur->phase != HF_MOVE_PERSISTED))
		return failed(m, -EAGAIN, "slot %u: the move's record changed", (unsigned)mv->slot);
	m->map = m->st->map;
	int from = owner_of(&m->map, &mv->from);
	if (from < 0 || m->map.slot_owner[mv->slot] != from)
		return failed(m, -EPROTO, "slot %u is no longer owned by %s:%u; needs an operator",
			      (unsigned)mv->slot, mv->from.host, (unsigned)mv->from.port);
	int to = owner_of(&m->map, &mv->to);
	if (to < 0) {
		if (hf_plan_owner_add(&m->map, mv->to.host, mv->to.port, 1) != 0)
			return failed(m, -ENOSPC, "the map has no room for %s:%u", mv->to.host,
				      (unsigned)mv->to.port);
		to = m->map.owners_count - 1;
	}
	m->map.slot_owner[mv->slot] = (uint16_t)to;
	(void)hf_plan_compact(&m->map);
	m->map.epoch = m->st->map.epoch + 1;
	HF_ASSERT(hf_cluster_map_check(&m->map) == 0);
	HF_ASSERT(owner_of(&m->map, &mv->to) == m->map.slot_owner[mv->slot]);
	struct hf_cluster_move next = *cur;
	next.phase = HF_MOVE_FLIPPED;
	struct hf_cluster_change ch = {.map = &m->map, .moves_put = {&next}, .moves_put_count = 1};
	return commit(m, &ch);
}

static int delete_record(struct mover *m, uint16_t slot)
{
	int rc = reread(m);
	if (rc != 0)
		return rc;
	if (find_move(m->st, slot) == NULL)
		return 0; /* deleted by an earlier run */
	struct hf_cluster_change ch = {.moves_delete = {slot}, .moves_delete_count = 1};
	return commit(m, &ch);
}

/* PLANNED: the record, written only if the slot has none. */
static int plan(struct mover *m, uint16_t slot, const struct hf_slot_owner *to,
		struct hf_cluster_move *mv_out)
{
	HF_ASSERT(slot < HF_SLOTS_COUNT);
	int rc = reread(m);
	if (rc != 0)
		return rc;
	if (!m->st->has_map)
		return failed(m, -ENOENT, "cluster %s does not exist", m->cluster);
	if (find_move(m->st, slot) != NULL)
		return failed(m, -EBUSY, "slot %u has a move in progress: run cluster fix",
			      (unsigned)slot);
	if (m->st->moves_count == HF_CLUSTER_MOVES_MAX)
		return failed(m, -EBUSY, "%u moves in progress already", HF_CLUSTER_MOVES_MAX);
	*mv_out = (struct hf_cluster_move){.slot = slot,
					   .from = m->st->map.owners[m->st->map.slot_owner[slot]],
					   .to = *to,
					   .phase = HF_MOVE_PLANNED,
					   .epoch = m->st->map.epoch};
	if (owner_of(&m->st->map, to) == m->st->map.slot_owner[slot])
		return 1; /* owned by `to` already */
	struct hf_cluster_change ch = {.moves_put = {mv_out}, .moves_put_count = 1};
	return commit(m, &ch);
}

static int run_steps(struct mover *m, const struct hf_cluster_move *mv)
{
	const struct hf_move_engine *e = m->engine;
	int rc = set_phase(m, mv, HF_MOVE_COPYING);
	if (rc == 0)
		rc = engine_step(m, e->copy, mv, "copy");
	/* FROZEN is written before the freeze, so that the freeze lasts the target's last pull and
	 * the flip's one txn only; FROZEN rolls back the same whether or not the source froze yet
	 * (unfreeze is idempotent). */
	if (rc == 0)
		rc = set_phase(m, mv, HF_MOVE_FROZEN);
	if (rc == 0)
		rc = engine_step(m, e->freeze, mv, "freeze");
	if (rc == 0)
		rc = engine_step(m, e->persisted, mv, "persisted");
	if (rc == 0 && e->flip_ready != NULL) {
		int stop = engine_step(m, e->flip_ready, mv, "before the flip");
		if (stop != 0) {
			rc = set_phase(m, mv, HF_MOVE_PERSISTED);
			return rc != 0 ? rc : stop;
		}
	}
	if (rc == 0)
		rc = flip(m, mv);
	if (rc == 0)
		rc = engine_owner_step(m, e->drop, &mv->from, mv->slot, "drop");
	if (rc == 0)
		rc = delete_record(m, mv->slot);
	return rc;
}

int hf_move_run(struct hf_etcd *etcd, const char *cluster, uint16_t slot,
		const struct hf_slot_owner *to, const struct hf_move_engine *engine, char *err,
		size_t err_size)
{
	HF_ASSERT(slot < HF_SLOTS_COUNT);
	HF_ASSERT(engine != NULL);
	struct mover m = {
	    .etcd = etcd, .cluster = cluster, .engine = engine, .err = err, .err_size = err_size};
	m.st = calloc(1, sizeof(*m.st));
	if (m.st == NULL)
		return -ENOMEM;
	struct hf_cluster_move mv;
	int rc = plan(&m, slot, to, &mv);
	if (rc == 0)
		rc = run_steps(&m, &mv);
	free(m.st);
	return rc > 0 ? 0 : rc;
}

static int fix_steps(struct mover *m, const struct hf_cluster_move *mv,
		     enum hf_move_fix_action *action_out)
{
	const struct hf_move_engine *e = m->engine;
	int rc = 0;
	HF_ASSERT((unsigned)mv->phase < HF_MOVE_PHASES_COUNT);
	HF_ASSERT(mv->slot < HF_SLOTS_COUNT);
	if (hf_move_phase_after_flip(mv->phase)) {
		*action_out = HF_MOVE_FIX_ROLLED_FORWARD;
		rc = engine_owner_step(m, e->drop, &mv->from, mv->slot, "drop");
	} else {
		*action_out = HF_MOVE_FIX_ROLLED_BACK;
		/* PLANNED: nothing happened on a node yet, the record is all there is. */
		if (mv->phase != HF_MOVE_PLANNED)
			rc = engine_owner_step(m, e->drop, &mv->to, mv->slot, "drop");
		if (rc == 0 && mv->phase != HF_MOVE_PLANNED)
			rc = engine_owner_step(m, e->unfreeze, &mv->from, mv->slot, "unfreeze");
	}
	if (rc == 0)
		rc = delete_record(m, mv->slot);
	return rc;
}

int hf_move_fix(struct hf_etcd *etcd, const char *cluster, uint16_t slot,
		const struct hf_move_engine *engine, enum hf_move_fix_action *action_out, char *err,
		size_t err_size)
{
	HF_ASSERT(slot < HF_SLOTS_COUNT);
	HF_ASSERT(engine != NULL);
	struct mover m = {
	    .etcd = etcd, .cluster = cluster, .engine = engine, .err = err, .err_size = err_size};
	m.st = calloc(1, sizeof(*m.st));
	if (m.st == NULL)
		return -ENOMEM;
	int rc = reread(&m);
	const struct hf_cluster_move *cur = rc == 0 ? find_move(m.st, slot) : NULL;
	if (rc == 0 && cur == NULL)
		rc = failed(&m, -ENOENT, "slot %u has no move in progress", (unsigned)slot);
	if (rc == 0) {
		struct hf_cluster_move mv = *cur;
		int to = owner_of(&m.st->map, &mv.to);
		int flipped = to >= 0 && m.st->map.slot_owner[slot] == to;
		if (flipped != hf_move_phase_after_flip(mv.phase))
			rc = failed(&m, -EPROTO,
				    "slot %u: the map %s the target but the phase is %s; needs an "
				    "operator",
				    (unsigned)slot, flipped ? "names" : "does not name",
				    hf_move_phase_name(mv.phase));
		else
			rc = fix_steps(&m, &mv, action_out);
	}
	free(m.st);
	return rc;
}
