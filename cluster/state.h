/* The cluster's state in etcd: its members, the slot map with its epoch, the moves in progress, the
 * nodes that are alive, and (issue #11) the replica groups, all under /holdfast/<cluster>/:
 *
 *   key                         value                                              written by
 *   map                         the slot map: exactly a SLOT_MAP reply frame with  the CLI
 *                               request id 0 (docs/protocol.md), epoch inside
 *   members/<node_id>           {"node_id","host","port","shards"}                 the CLI
 *   nodes/<node_id>             {"node_id","host","port","shards","epoch"} under   the node itself
 *                               the node's lease (gone when it stops renewing)     (control thread)
 *   moves/<slot, 4 digits>      {"slot","from":{"host","port"},"to":{...},         the CLI
 *                               "phase","epoch"} (cluster/move.h)
 *   groups/<group>              {"group","primary","replicas":[..],"in_sync":[..], (issue #11)
 *                               "leader_lease"}; primary and replicas are
 *                               "<node_id>/<shard>"
 *
 * Every change of the cluster is ONE etcd txn that compares the map key's mod_revision with the one
 * the change was computed from (hf_cluster_commit), so two operators, or an operator and a
 * half-done move, can never interleave: the loser gets applied = 0, re-reads and decides again.
 * The map is the SLOT_MAP frame so the map in etcd, on the wire and on a node's disk is one
 * encoding checked by one decoder. The slot map owners are (host, port) pairs; a member's shard i
 * is owner (host, port + i).
 *
 * This module depends on proto/ and the etcd client only (not shards/, which links RocksDB: the CLI
 * links this module). Thread-safety: none needed; the functions touch only what they are given. */
#ifndef HF_CLUSTER_STATE_H
#define HF_CLUSTER_STATE_H

#include "base/assert.h"
#include "cluster/etcd.h"
#include "cluster/move.h"
#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

#define HF_CLUSTER_NAME_SIZE_MAX    64u		       /* bytes of a cluster name: [A-Za-z0-9._-] */
#define HF_CLUSTER_NODE_ID_SIZE_MAX 32u		       /* bytes of a node id: [A-Za-z0-9._-] */
#define HF_CLUSTER_MEMBERS_MAX	    HF_SLOT_OWNERS_MAX /* every member owns >= 1 shard */
#define HF_CLUSTER_MOVES_MAX	    64u		       /* moves in progress at once */
#define HF_CLUSTER_GROUPS_MAX	    HF_SLOT_OWNERS_MAX
#define HF_CLUSTER_REPLICAS_MAX	    4u	  /* replicas in one group (issue #11) */
#define HF_CLUSTER_KEY_SIZE_MAX	    160u  /* bytes of any key this module writes */
#define HF_CLUSTER_JSON_SIZE_MAX    1024u /* bytes of a member, node, move or group value */
/* Members written in one change: one txn op each, plus the map; etcd's default --max-txn-ops is
 * 128. */
#define HF_CLUSTER_CHANGE_MEMBERS_MAX 40u
#define HF_CLUSTER_CHANGE_MOVES_MAX   16u

HF_STATIC_ASSERT(HF_CLUSTER_MEMBERS_MAX * 2u + HF_CLUSTER_MOVES_MAX + HF_CLUSTER_GROUPS_MAX + 1u <=
		     HF_ETCD_RANGE_KVS_MAX,
		 "the whole state is read by one range");
HF_STATIC_ASSERT(HF_CLUSTER_CHANGE_MEMBERS_MAX * 2u + HF_CLUSTER_CHANGE_MOVES_MAX * 2u + 1u <=
		     HF_ETCD_TXN_OPS_MAX,
		 "a change fits one txn");
HF_STATIC_ASSERT(HF_CLUSTER_CHANGE_MOVES_MAX * 2u + 1u <= HF_ETCD_TXN_COMPARES_MAX,
		 "a change's compares fit one txn");

struct hf_cluster_member {
	char node_id[HF_CLUSTER_NODE_ID_SIZE_MAX + 1];
	char host[HF_HOST_SIZE_MAX + 1]; /* the address clients reach its shards at */
	uint16_t port;			 /* base port: shard i is at port + i */
	uint32_t shards_count;		 /* 1 .. HF_SLOT_OWNERS_MAX */
	uint64_t epoch;			 /* nodes/ only: the map epoch the node serves; else 0 */
};

struct hf_cluster_move {
	uint16_t slot;
	struct hf_slot_owner from;
	struct hf_slot_owner to;
	enum hf_move_phase phase;
	uint64_t epoch;	      /* the map epoch the move was planned at */
	int64_t mod_revision; /* of its etcd key, when read */
};

struct hf_cluster_group { /* issue #11; read and kept, not acted on yet */
	char group[HF_CLUSTER_NODE_ID_SIZE_MAX + 8];
	char primary[HF_CLUSTER_NODE_ID_SIZE_MAX + 8]; /* "<node_id>/<shard>" */
	char replicas[HF_CLUSTER_REPLICAS_MAX][HF_CLUSTER_NODE_ID_SIZE_MAX + 8];
	uint32_t replicas_count;
	uint32_t in_sync_mask; /* bit i: replicas[i] is in sync */
	int64_t leader_lease;
};

/* The whole state, read at one etcd revision. About 750 KiB: allocate it, do not put it on a
 * stack. */
struct hf_cluster_state {
	int64_t revision; /* etcd revision of the read */
	int has_map;	  /* 0: the cluster was never created */
	struct hf_slot_map map;
	int64_t map_mod_revision; /* 0 when !has_map */
	struct hf_cluster_member members[HF_CLUSTER_MEMBERS_MAX];
	uint32_t members_count;
	struct hf_cluster_member nodes[HF_CLUSTER_MEMBERS_MAX]; /* alive (registered) nodes */
	uint32_t nodes_count;
	struct hf_cluster_move moves[HF_CLUSTER_MOVES_MAX];
	uint32_t moves_count;
	struct hf_cluster_group groups[HF_CLUSTER_GROUPS_MAX];
	uint32_t groups_count;
};

/* A change, applied by hf_cluster_commit as one txn. The pointers are borrowed. */
struct hf_cluster_change {
	const struct hf_slot_map *map; /* new map (epoch must be the base's + 1), or NULL */
	const struct hf_cluster_member *members_put[HF_CLUSTER_CHANGE_MEMBERS_MAX];
	uint32_t members_put_count;
	const char *members_delete[HF_CLUSTER_CHANGE_MEMBERS_MAX]; /* node ids */
	uint32_t members_delete_count;
	const struct hf_cluster_move *moves_put[HF_CLUSTER_CHANGE_MOVES_MAX];
	uint32_t moves_put_count;
	uint16_t moves_delete[HF_CLUSTER_CHANGE_MOVES_MAX]; /* slots */
	uint32_t moves_delete_count;
};

/* 0 when name is 1 .. max bytes of [A-Za-z0-9._-], else -EINVAL. */
int hf_cluster_name_check(const char *name, size_t max);

/* Writes "/holdfast/<cluster>/<what>" into buf (HF_CLUSTER_KEY_SIZE_MAX + 1 bytes suffice);
 * what is "map", "members/<id>", ... Returns 0 or -ENAMETOOLONG. */
int hf_cluster_key(char *buf, size_t cap, const char *cluster, const char *what);

/* Reads the whole state (one range over the cluster's prefix) into *out. Returns 0 (out->has_map
 * is 0 for a cluster that does not exist), -EPROTO for a value that does not decode (err says
 * which key), or the etcd client's -errno (err says why). */
int hf_cluster_state_read(struct hf_etcd *etcd, const char *cluster, struct hf_cluster_state *out,
			  char *err, size_t err_size);

/* Applies change to the state base was read at, as one txn comparing the map key's mod_revision
 * with base->map_mod_revision (for a base without a map: that the map does not exist) and, for
 * every move put, that no record exists for its slot unless base has one (then its mod_revision).
 * Returns 0 with *applied_out = 1, or 0 with *applied_out = 0 when the state changed since base
 * (nothing written: read again), or -errno (err says why). */
int hf_cluster_commit(struct hf_etcd *etcd, const char *cluster,
		      const struct hf_cluster_state *base, const struct hf_cluster_change *change,
		      int *applied_out, char *err, size_t err_size);

/* The node's own registration: puts nodes/<node_id> under lease (0: none). */
int hf_cluster_node_register(struct hf_etcd *etcd, const char *cluster,
			     const struct hf_cluster_member *node, int64_t lease, char *err,
			     size_t err_size);

/* The map's encoding in etcd (a SLOT_MAP reply frame). encode returns the size or 0 when cap is
 * too small (HF_CLUSTER_MAP_SIZE_MAX suffices); decode returns 0 or -EPROTO, and validates. */
#define HF_CLUSTER_MAP_SIZE_MAX                                                                    \
	(HF_FRAME_HEADER_SIZE + 12u + 2u * HF_SLOTS_COUNT +                                        \
	 HF_SLOT_OWNERS_MAX * (3u + HF_HOST_SIZE_MAX))
HF_STATIC_ASSERT(HF_CLUSTER_MAP_SIZE_MAX <= HF_ETCD_VALUE_SIZE_MAX, "a map fits an etcd value");
size_t hf_cluster_map_encode(const struct hf_slot_map *map, uint8_t *buf, size_t cap);
int hf_cluster_map_decode(const uint8_t *buf, size_t size, struct hf_slot_map *out);
/* 0 for a valid map (owners 1 .. HF_SLOT_OWNERS_MAX, hosts NUL-terminated and non-empty, every
 * slot_owner < owners_count, epoch >= 1, owners distinct), else -EPROTO. */
int hf_cluster_map_check(const struct hf_slot_map *map);

/* Member, move and group values (JSON). encode returns the length written (NUL-terminated) or 0;
 * decode returns 0 or -EPROTO. */
size_t hf_cluster_member_encode(const struct hf_cluster_member *m, char *buf, size_t cap);
int hf_cluster_member_decode(const uint8_t *buf, size_t size, struct hf_cluster_member *out);
size_t hf_cluster_move_encode(const struct hf_cluster_move *mv, char *buf, size_t cap);
int hf_cluster_move_decode(const uint8_t *buf, size_t size, struct hf_cluster_move *out);
int hf_cluster_group_decode(const uint8_t *buf, size_t size, struct hf_cluster_group *out);

/* Index of the member whose shards include owner (host, port), or -1; *shard_out is the shard. */
int hf_cluster_member_of(const struct hf_cluster_state *st, const struct hf_slot_owner *owner,
			 uint32_t *shard_out);
/* Index of the member / alive node with this address (host and base port), or -1. */
int hf_cluster_member_find(const struct hf_cluster_member *list, uint32_t count, const char *host,
			   uint16_t port);

#endif
