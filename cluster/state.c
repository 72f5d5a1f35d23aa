/* The cluster state's encoding in etcd and its one-txn changes (see state.h).
 *
 * INVARIANTS (of every struct hf_cluster_state hf_cluster_state_read returns):
 *  1. has_map == (map_mod_revision > 0), and when has_map the map passes hf_cluster_map_check.
 *  2. members_count, nodes_count <= HF_CLUSTER_MEMBERS_MAX; moves_count <= HF_CLUSTER_MOVES_MAX;
 *     groups_count <= HF_CLUSTER_GROUPS_MAX: past a bound the read fails (-EMSGSIZE), it never
 *     truncates silently.
 *  3. Every member has a valid node id, a non-empty host, 1 .. HF_SLOT_OWNERS_MAX shards and
 *     port + shards - 1 <= 65535.
 *  4. Every move's slot < HF_SLOTS_COUNT and its key's slot equals the value's. */
#include "cluster/state.h"

#include "base/assert.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_ROOT "/holdfast/"

__attribute__((format(printf, 4, 5))) static int err_set(char *err, size_t err_size, int rc,
							 const char *fmt, ...)
{
	HF_ASSERT(rc < 0);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return rc;
}

int hf_cluster_name_check(const char *name, size_t max)
{
	size_t n = strnlen(name, max + 1);
	if (n == 0 || n > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return -EINVAL;
	}
	return 0;
}

int hf_cluster_key(char *buf, size_t cap, const char *cluster, const char *what)
{
	HF_ASSERT(hf_cluster_name_check(cluster, HF_CLUSTER_NAME_SIZE_MAX) == 0);
	int n = snprintf(buf, cap, KEY_ROOT "%s/%s", cluster, what);
	if (n < 0 || (size_t)n >= cap || (size_t)n > HF_CLUSTER_KEY_SIZE_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- The map ---- */

int hf_cluster_map_check(const struct hf_slot_map *map)
{
	if (map->owners_count == 0 || map->owners_count > HF_SLOT_OWNERS_MAX)
		return -EPROTO;
	if (map->epoch < 1)
		return -EPROTO;
	for (uint32_t i = 0; i < map->owners_count; i++) {
		size_t len = strnlen(map->owners[i].host, HF_HOST_SIZE_MAX + 1);
		if (len == 0 || len > HF_HOST_SIZE_MAX)
			return -EPROTO;
		for (uint32_t j = 0; j < i; j++)
			if (map->owners[j].port == map->owners[i].port &&
			    strcmp(map->owners[j].host, map->owners[i].host) == 0)
				return -EPROTO;
	}
	for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
		if (map->slot_owner[s] >= map->owners_count)
			return -EPROTO;
	return 0;
}

size_t hf_cluster_map_encode(const struct hf_slot_map *map, uint8_t *buf, size_t cap)
{
	HF_ASSERT(hf_cluster_map_check(map) == 0);
	/* About 25 KiB: static, since only the control thread or the CLI's one thread encode. */
	static _Thread_local struct hf_reply rep;
	memset(&rep, 0, sizeof(rep));
	rep.opcode = HF_OP_SLOT_MAP;
	rep.status = HF_OK;
	rep.slot_map = *map;
	size_t size = hf_reply_encode(&rep, buf, cap);
	HF_ASSERT(size == 0 || size == hf_reply_size(&rep));
	HF_ASSERT(size <= HF_CLUSTER_MAP_SIZE_MAX);
	return size;
}

int hf_cluster_map_decode(const uint8_t *buf, size_t size, struct hf_slot_map *out)
{
	static _Thread_local struct hf_reply rep;
	struct hf_frame_header header;
	if (size < HF_FRAME_HEADER_SIZE || hf_frame_header_decode(buf, &header) != HF_OK)
		return -EPROTO;
	if (header.opcode != HF_OP_SLOT_MAP || header.status != HF_OK ||
	    (header.flags & HF_FLAG_REPLY) == 0 || header.request_id != 0)
		return -EPROTO;
	if ((size_t)header.body_size != size - HF_FRAME_HEADER_SIZE)
		return -EPROTO;
	if (hf_reply_decode(&header, buf + HF_FRAME_HEADER_SIZE, &rep) != HF_OK)
		return -EPROTO;
	if (hf_cluster_map_check(&rep.slot_map) != 0)
		return -EPROTO;
	*out = rep.slot_map;
	return 0;
}

/* ---- JSON values ---- */

static size_t dump(json_t *v, char *buf, size_t cap)
{
	if (v == NULL)
		return 0;
	size_t n = json_dumpb(v, buf, cap, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	if (n == 0 || n >= cap)
		return 0;
	buf[n] = '\0';
	return n;
}

static json_t *load(const uint8_t *buf, size_t size)
{
	if (size == 0 || size > HF_CLUSTER_JSON_SIZE_MAX)
		return NULL;
	json_t *v = json_loadb((const char *)buf, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap);
	if (n == 0 || n >= cap)
		return -EPROTO;
	memcpy(dst, src, n + 1);
	return 0;
}

size_t hf_cluster_member_encode(const struct hf_cluster_member *m, char *buf, size_t cap)
{
	HF_ASSERT(m->shards_count >= 1);
	HF_ASSERT(m->shards_count <= HF_SLOT_OWNERS_MAX);
	json_t *v = json_pack("{s:s, s:s, s:I, s:I}", "node_id", m->node_id, "host", m->host,
			      "port", (json_int_t)m->port, "shards", (json_int_t)m->shards_count);
	if (v != NULL && m->epoch != 0 &&
	    json_object_set_new(v, "epoch", json_integer((json_int_t)m->epoch)) != 0) {
		json_decref(v);
		return 0;
	}
	return dump(v, buf, cap);
}

int hf_cluster_member_decode(const uint8_t *buf, size_t size, struct hf_cluster_member *out)
{
	json_t *v = load(buf, size);
	const char *id = NULL, *host = NULL;
	json_int_t port = 0, shards = 0, epoch = 0;
	int rc = -EPROTO;
	memset(out, 0, sizeof(*out));
	if (v == NULL || json_unpack(v, "{s:s, s:s, s:I, s:I, s?I}", "node_id", &id, "host", &host,
				     "port", &port, "shards", &shards, "epoch", &epoch) != 0)
		goto out;
	if (hf_cluster_name_check(id, HF_CLUSTER_NODE_ID_SIZE_MAX) != 0 || port < 1 ||
	    port > UINT16_MAX || shards < 1 || shards > HF_SLOT_OWNERS_MAX ||
	    port + shards - 1 > UINT16_MAX || epoch < 0)
		goto out;
	if (copy_str(out->node_id, sizeof(out->node_id), id) != 0 ||
	    copy_str(out->host, sizeof(out->host), host) != 0)
		goto out;
	out->port = (uint16_t)port;
	out->shards_count = (uint32_t)shards;
	out->epoch = (uint64_t)epoch;
	rc = 0;
out:
	json_decref(v);
	return rc;
}

static json_t *owner_json(const struct hf_slot_owner *o)
{
	return json_pack("{s:s, s:I}", "host", o->host, "port", (json_int_t)o->port);
}

static int owner_parse(json_t *v, struct hf_slot_owner *o)
{
	const char *host = NULL;
	json_int_t port = 0;
	if (json_unpack(v, "{s:s, s:I}", "host", &host, "port", &port) != 0 || port < 1 ||
	    port > UINT16_MAX)
		return -EPROTO;
	o->port = (uint16_t)port;
	return copy_str(o->host, sizeof(o->host), host);
}

size_t hf_cluster_move_encode(const struct hf_cluster_move *mv, char *buf, size_t cap)
{
	HF_ASSERT(mv->slot < HF_SLOTS_COUNT);
	HF_ASSERT((unsigned)mv->phase < HF_MOVE_PHASES_COUNT);
	json_t *v = json_pack("{s:I, s:o, s:o, s:s, s:I}", "slot", (json_int_t)mv->slot, "from",
			      owner_json(&mv->from), "to", owner_json(&mv->to), "phase",
			      hf_move_phase_name(mv->phase), "epoch", (json_int_t)mv->epoch);
	return dump(v, buf, cap);
}

int hf_cluster_move_decode(const uint8_t *buf, size_t size, struct hf_cluster_move *out)
{
	json_t *v = load(buf, size);
	json_t *from = NULL, *to = NULL;
	const char *phase = NULL;
	json_int_t slot = 0, epoch = 0;
	int rc = -EPROTO;
	memset(out, 0, sizeof(*out));
	if (v == NULL || json_unpack(v, "{s:I, s:o, s:o, s:s, s:I}", "slot", &slot, "from", &from,
				     "to", &to, "phase", &phase, "epoch", &epoch) != 0)
		goto out;
	if (slot < 0 || slot >= HF_SLOTS_COUNT || epoch < 1 ||
	    hf_move_phase_parse(phase, &out->phase) != 0)
		goto out;
	if (owner_parse(from, &out->from) != 0 || owner_parse(to, &out->to) != 0)
		goto out;
	out->slot = (uint16_t)slot;
	out->epoch = (uint64_t)epoch;
	rc = 0;
out:
	json_decref(v);
	return rc;
}

static int group_replicas(json_t *list, json_t *in_sync, struct hf_cluster_group *out)
{
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n > HF_CLUSTER_REPLICAS_MAX)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(list, i);
		if (!json_is_string(r) ||
		    copy_str(out->replicas[i], sizeof(out->replicas[i]), json_string_value(r)) != 0)
			return -EPROTO;
		for (size_t k = 0; k < json_array_size(in_sync); k++)
			if (json_equal(json_array_get(in_sync, k), r))
				out->in_sync_mask |= 1u << i;
	}
	out->replicas_count = (uint32_t)n;
	return 0;
}

int hf_cluster_group_decode(const uint8_t *buf, size_t size, struct hf_cluster_group *out)
{
	json_t *v = load(buf, size);
	json_t *replicas = NULL, *in_sync = NULL;
	const char *group = NULL, *primary = NULL;
	json_int_t lease = 0;
	int rc = -EPROTO;
	memset(out, 0, sizeof(*out));
	if (v == NULL ||
	    json_unpack(v, "{s:s, s:s, s:o, s:o, s?I}", "group", &group, "primary", &primary,
			"replicas", &replicas, "in_sync", &in_sync, "leader_lease", &lease) != 0)
		goto out;
	if (!json_is_array(in_sync) || copy_str(out->group, sizeof(out->group), group) != 0 ||
	    copy_str(out->primary, sizeof(out->primary), primary) != 0)
		goto out;
	rc = group_replicas(replicas, in_sync, out);
	out->leader_lease = lease;
out:
	json_decref(v);
	return rc;
}

const char *hf_move_phase_name(enum hf_move_phase phase)
{
	static const char *const names[] = {"planned", "copying", "frozen", "persisted", "flipped"};
	HF_STATIC_ASSERT(HF_ARRAY_SIZE(names) == HF_MOVE_PHASES_COUNT, "a name per phase");
	HF_ASSERT((unsigned)phase < HF_ARRAY_SIZE(names));
	return names[phase];
}

int hf_move_phase_parse(const char *name, enum hf_move_phase *out)
{
	for (uint32_t p = 0; p < HF_MOVE_PHASES_COUNT; p++) {
		if (strcmp(name, hf_move_phase_name((enum hf_move_phase)p)) == 0) {
			*out = (enum hf_move_phase)p;
			return 0;
		}
	}
	return -1;
}

/* ---- Reading ---- */

/* Files one pair under the cluster prefix (rel is the key past "/holdfast/<cluster>/"). */
static int state_add(struct hf_cluster_state *st, const char *rel, const struct hf_etcd_kv *kv)
{
	if (strcmp(rel, "map") == 0) {
		if (hf_cluster_map_decode(kv->value, kv->value_size, &st->map) != 0)
			return -EPROTO;
		st->has_map = 1;
		st->map_mod_revision = kv->mod_revision;
		return 0;
	}
	if (strncmp(rel, "members/", 8) == 0 || strncmp(rel, "nodes/", 6) == 0) {
		int is_member = rel[1] == 'e';
		uint32_t *count = is_member ? &st->members_count : &st->nodes_count;
		struct hf_cluster_member *list = is_member ? st->members : st->nodes;
		if (*count == HF_CLUSTER_MEMBERS_MAX)
			return -EMSGSIZE;
		if (hf_cluster_member_decode(kv->value, kv->value_size, &list[*count]) != 0 ||
		    strcmp(list[*count].node_id, strchr(rel, '/') + 1) != 0)
			return -EPROTO;
		(*count)++;
		return 0;
	}
	if (strncmp(rel, "moves/", 6) == 0) {
		if (st->moves_count == HF_CLUSTER_MOVES_MAX)
			return -EMSGSIZE;
		struct hf_cluster_move *mv = &st->moves[st->moves_count];
		if (hf_cluster_move_decode(kv->value, kv->value_size, mv) != 0 ||
		    strtoul(rel + 6, NULL, 10) != mv->slot)
			return -EPROTO;
		mv->mod_revision = kv->mod_revision;
		st->moves_count++;
		return 0;
	}
	if (strncmp(rel, "groups/", 7) == 0) {
		if (st->groups_count == HF_CLUSTER_GROUPS_MAX)
			return -EMSGSIZE;
		if (hf_cluster_group_decode(kv->value, kv->value_size,
					    &st->groups[st->groups_count]) != 0)
			return -EPROTO;
		st->groups_count++;
		return 0;
	}
	return 0; /* a key of a later version: ignored */
}

int hf_cluster_state_read(struct hf_etcd *etcd, const char *cluster, struct hf_cluster_state *out,
			  char *err, size_t err_size)
{
	char prefix[HF_CLUSTER_KEY_SIZE_MAX + 1];
	if (hf_cluster_name_check(cluster, HF_CLUSTER_NAME_SIZE_MAX) != 0)
		return err_set(err, err_size, -EINVAL,
			       "cluster name '%s' is not 1..%u bytes of [A-Za-z0-9._-]", cluster,
			       HF_CLUSTER_NAME_SIZE_MAX);
	HF_ASSERT(hf_cluster_key(prefix, sizeof(prefix), cluster, "") == 0);
	memset(out, 0, sizeof(*out));
	struct hf_etcd_kvs kvs;
	int rc = hf_etcd_range(etcd, prefix, 1, &kvs);
	if (rc != 0)
		return err_set(err, err_size, rc, "%s", hf_etcd_error(etcd));
	if (kvs.more)
		rc = err_set(err, err_size, -EMSGSIZE, "more than %u keys under %s",
			     HF_ETCD_RANGE_KVS_MAX, prefix);
	for (uint32_t i = 0; rc == 0 && i < kvs.count; i++) {
		const char *rel = kvs.kvs[i].key + strlen(prefix);
		rc = state_add(out, rel, &kvs.kvs[i]);
		if (rc != 0)
			err_set(err, err_size, rc, "etcd key %s: %s", kvs.kvs[i].key,
				rc == -EMSGSIZE ? "past the bound on its kind" : "does not decode");
	}
	out->revision = kvs.revision;
	hf_etcd_kvs_free(&kvs);
	HF_ASSERT(out->has_map == (out->map_mod_revision > 0) || rc != 0);
	return rc;
}

/* ---- Changing ---- */

/* Key and value storage for one txn: every op borrows from here. */
struct txn_space {
	char keys[HF_ETCD_TXN_OPS_MAX + HF_ETCD_TXN_COMPARES_MAX][HF_CLUSTER_KEY_SIZE_MAX + 1];
	uint32_t keys_count;
	char values[HF_ETCD_TXN_OPS_MAX][HF_CLUSTER_JSON_SIZE_MAX];
	uint32_t values_count;
	uint8_t map[HF_CLUSTER_MAP_SIZE_MAX];
};

static const char *space_key(struct txn_space *sp, const char *cluster, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *space_key(struct txn_space *sp, const char *cluster, const char *fmt, ...)
{
	HF_ASSERT(sp->keys_count < HF_ARRAY_SIZE(sp->keys));
	char what[HF_CLUSTER_KEY_SIZE_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	char *k = sp->keys[sp->keys_count++];
	HF_ASSERT(hf_cluster_key(k, HF_CLUSTER_KEY_SIZE_MAX + 1, cluster, what) == 0);
	return k;
}

static void txn_put(struct hf_etcd_txn *txn, const char *key, const void *value, size_t size)
{
	HF_ASSERT(txn->then_count < HF_ETCD_TXN_OPS_MAX);
	txn->then[txn->then_count++] = (struct hf_etcd_op){
	    .kind = HF_ETCD_OP_PUT, .key = key, .value = value, .value_size = size};
}

static void txn_cmp(struct hf_etcd_txn *txn, const char *key, enum hf_etcd_cmp_target target,
		    int64_t number)
{
	HF_ASSERT(txn->cmps_count < HF_ETCD_TXN_COMPARES_MAX);
	txn->cmps[txn->cmps_count++] = (struct hf_etcd_cmp){
	    .key = key, .target = target, .result = HF_ETCD_EQUAL, .number = number};
}

static const struct hf_cluster_move *base_move(const struct hf_cluster_state *base, uint16_t slot)
{
	for (uint32_t i = 0; i < base->moves_count; i++)
		if (base->moves[i].slot == slot)
			return &base->moves[i];
	return NULL;
}

static void build_moves(struct hf_etcd_txn *txn, struct txn_space *sp, const char *cluster,
			const struct hf_cluster_state *base, const struct hf_cluster_change *ch)
{
	for (uint32_t i = 0; i < ch->moves_put_count; i++) {
		const struct hf_cluster_move *mv = ch->moves_put[i];
		const struct hf_cluster_move *old = base_move(base, mv->slot);
		const char *key = space_key(sp, cluster, "moves/%04u", (unsigned)mv->slot);
		char *value = sp->values[sp->values_count++];
		size_t n = hf_cluster_move_encode(mv, value, HF_CLUSTER_JSON_SIZE_MAX);
		HF_ASSERT(n > 0);
		txn_cmp(txn, key, old != NULL ? HF_ETCD_CMP_MOD : HF_ETCD_CMP_CREATE,
			old != NULL ? old->mod_revision : 0);
		txn_put(txn, key, value, n);
	}
	for (uint32_t i = 0; i < ch->moves_delete_count; i++) {
		const struct hf_cluster_move *old = base_move(base, ch->moves_delete[i]);
		HF_ASSERT(old != NULL);
		const char *key = space_key(sp, cluster, "moves/%04u", (unsigned)old->slot);
		txn_cmp(txn, key, HF_ETCD_CMP_MOD, old->mod_revision);
		HF_ASSERT(txn->then_count < HF_ETCD_TXN_OPS_MAX);
		txn->then[txn->then_count++] =
		    (struct hf_etcd_op){.kind = HF_ETCD_OP_DELETE, .key = key};
	}
}

static void build_members(struct hf_etcd_txn *txn, struct txn_space *sp, const char *cluster,
			  const struct hf_cluster_change *ch)
{
	for (uint32_t i = 0; i < ch->members_put_count; i++) {
		const struct hf_cluster_member *m = ch->members_put[i];
		HF_ASSERT(hf_cluster_name_check(m->node_id, HF_CLUSTER_NODE_ID_SIZE_MAX) == 0);
		const char *key = space_key(sp, cluster, "members/%s", m->node_id);
		char *value = sp->values[sp->values_count++];
		size_t n = hf_cluster_member_encode(m, value, HF_CLUSTER_JSON_SIZE_MAX);
		HF_ASSERT(n > 0);
		txn_put(txn, key, value, n);
	}
	for (uint32_t i = 0; i < ch->members_delete_count; i++) {
		const char *key = space_key(sp, cluster, "members/%s", ch->members_delete[i]);
		HF_ASSERT(txn->then_count < HF_ETCD_TXN_OPS_MAX);
		txn->then[txn->then_count++] =
		    (struct hf_etcd_op){.kind = HF_ETCD_OP_DELETE, .key = key};
	}
}

int hf_cluster_commit(struct hf_etcd *etcd, const char *cluster,
		      const struct hf_cluster_state *base, const struct hf_cluster_change *ch,
		      int *applied_out, char *err, size_t err_size)
{
	HF_ASSERT(ch->members_put_count <= HF_CLUSTER_CHANGE_MEMBERS_MAX);
	HF_ASSERT(ch->members_delete_count <= HF_CLUSTER_CHANGE_MEMBERS_MAX);
	HF_ASSERT(ch->moves_put_count <= HF_CLUSTER_CHANGE_MOVES_MAX);
	HF_ASSERT(ch->moves_delete_count <= HF_CLUSTER_CHANGE_MOVES_MAX);
	HF_ASSERT(ch->map == NULL || !base->has_map || ch->map->epoch == base->map.epoch + 1);
	struct txn_space *sp = calloc(1, sizeof(*sp));
	struct hf_etcd_txn *txn = calloc(1, sizeof(*txn));
	int rc = -ENOMEM;
	if (sp == NULL || txn == NULL) {
		err_set(err, err_size, rc, "out of memory");
		goto out;
	}
	const char *map_key = space_key(sp, cluster, "map");
	txn_cmp(txn, map_key, base->has_map ? HF_ETCD_CMP_MOD : HF_ETCD_CMP_CREATE,
		base->has_map ? base->map_mod_revision : 0);
	if (ch->map != NULL) {
		size_t n = hf_cluster_map_encode(ch->map, sp->map, sizeof(sp->map));
		HF_ASSERT(n > 0);
		txn_put(txn, map_key, sp->map, n);
	}
	build_members(txn, sp, cluster, ch);
	build_moves(txn, sp, cluster, base, ch);
	rc = hf_etcd_txn(etcd, txn, applied_out, NULL);
	if (rc != 0)
		err_set(err, err_size, rc, "%s", hf_etcd_error(etcd));
out:
	free(sp);
	free(txn);
	return rc;
}

int hf_cluster_node_register(struct hf_etcd *etcd, const char *cluster,
			     const struct hf_cluster_member *node, int64_t lease, char *err,
			     size_t err_size)
{
	char key[HF_CLUSTER_KEY_SIZE_MAX + 1];
	char what[HF_CLUSTER_KEY_SIZE_MAX + 1];
	char value[HF_CLUSTER_JSON_SIZE_MAX];
	snprintf(what, sizeof(what), "nodes/%s", node->node_id);
	if (hf_cluster_key(key, sizeof(key), cluster, what) != 0)
		return err_set(err, err_size, -ENAMETOOLONG, "key too long");
	size_t n = hf_cluster_member_encode(node, value, sizeof(value));
	HF_ASSERT(n > 0);
	int rc = hf_etcd_put(etcd, key, (const uint8_t *)value, n, lease, NULL);
	if (rc != 0)
		return err_set(err, err_size, rc, "%s", hf_etcd_error(etcd));
	return 0;
}

/* ---- Lookups ---- */

int hf_cluster_member_of(const struct hf_cluster_state *st, const struct hf_slot_owner *owner,
			 uint32_t *shard_out)
{
	for (uint32_t i = 0; i < st->members_count; i++) {
		const struct hf_cluster_member *m = &st->members[i];
		if (strcmp(m->host, owner->host) != 0 || owner->port < m->port ||
		    (uint32_t)owner->port >= (uint32_t)m->port + m->shards_count)
			continue;
		*shard_out = (uint32_t)(owner->port - m->port);
		return (int)i;
	}
	return -1;
}

int hf_cluster_member_find(const struct hf_cluster_member *list, uint32_t count, const char *host,
			   uint16_t port)
{
	HF_ASSERT(count <= HF_CLUSTER_MEMBERS_MAX);
	for (uint32_t i = 0; i < count; i++)
		if (list[i].port == port && strcmp(list[i].host, host) == 0)
			return (int)i;
	return -1;
}
