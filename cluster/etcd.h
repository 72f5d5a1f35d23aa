/* A small synchronous etcd v3 client over etcd's JSON gateway (POST /v3/..., keys and values in
 * base64), for the cluster module: the engine's control thread and the holdfast CLI use it, never
 * libholdfast.
 *
 * Transport: libcurl (one easy handle per client, so the TCP connection is reused between calls).
 * JSON: jansson. It was chosen over cJSON because it parses a buffer of a given length without a
 * terminating NUL (json_loadb), reports where a document is malformed, and keeps integers as 64-bit
 * json_int_t where cJSON keeps every number as a double; etcd's revisions and lease ids are 64-bit.
 *
 * Every call is bounded: one attempt per configured URL (in order, starting at the last one that
 * answered), each limited by the client's timeout_ms (connect included); every response is limited
 * to HF_ETCD_RESPONSE_SIZE_MAX bytes, every key to HF_ETCD_KEY_SIZE_MAX, every value to
 * HF_ETCD_VALUE_SIZE_MAX, every range to HF_ETCD_RANGE_KVS_MAX pairs and every watch to
 * HF_ETCD_WATCH_EVENTS_MAX events per call.
 *
 * A call whose answer was lost (timeout, broken connection) may have been applied by etcd before
 * the next endpoint is tried: puts and deletes are idempotent, and a txn's compares make its retry
 * fail rather than apply twice, so callers re-read after a txn that reports "not applied".
 *
 * Returns: 0 or -errno. -ECONNREFUSED / -ETIMEDOUT / -EHOSTUNREACH when no URL answered; -EPROTO
 * for a response that is not the JSON etcd sends; -EMSGSIZE past a bound; -EIO when etcd answered
 * with an error (its message is kept); -ENOENT for hf_etcd_get of a missing key or a lease that is
 * gone; -ECANCELED when the cancel flag was raised. After a failure hf_etcd_error() says why in one
 * line.
 *
 * Thread-safety: a struct hf_etcd belongs to one thread at a time. hf_etcd_global_init must run
 * once before any thread creates a client (it calls curl_global_init). */
#ifndef HF_CLUSTER_ETCD_H
#define HF_CLUSTER_ETCD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HF_ETCD_URLS_MAX	   8u		  /* endpoints in one --etcd list */
#define HF_ETCD_URL_SIZE_MAX	   255u		  /* bytes of one endpoint URL, without the NUL */
#define HF_ETCD_KEY_SIZE_MAX	   1024u	  /* bytes of a key */
#define HF_ETCD_VALUE_SIZE_MAX	   (256u * 1024u) /* bytes of a value (a slot map is ~26 KiB) */
#define HF_ETCD_RESPONSE_SIZE_MAX  (8u << 20)	  /* bytes of one gateway response */
#define HF_ETCD_RANGE_KVS_MAX	   1024u	  /* pairs returned by one range */
#define HF_ETCD_TXN_COMPARES_MAX   64u		  /* compares in one txn */
#define HF_ETCD_TXN_OPS_MAX	   128u /* ops in one branch of a txn: etcd default --max-txn-ops */
#define HF_ETCD_WATCH_EVENTS_MAX   256u /* events returned by one watch call */
#define HF_ETCD_TIMEOUT_MS_DEFAULT 2000u	  /* per attempt of a unary call */
#define HF_ETCD_TIMEOUT_MS_MAX	   (600u * 1000u) /* per attempt, watches included */
#define HF_ETCD_ERROR_SIZE	   256u		  /* bytes of the last error message */
#define HF_ETCD_LEASE_TTL_S_MAX	   (24u * 3600u)  /* the longest lease we grant */

struct hf_etcd;

/* One key-value pair, as etcd returns it. key and value are allocated (each followed by a NUL
 * that is not counted in its size) and freed with the set they belong to. */
struct hf_etcd_kv {
	char *key;
	size_t key_size;
	uint8_t *value;
	size_t value_size;
	int64_t create_revision; /* 0 in a DELETE event */
	int64_t mod_revision;
	int64_t version;
	int64_t lease; /* 0: none */
};

/* The result of a range: up to HF_ETCD_RANGE_KVS_MAX pairs, sorted by key. */
struct hf_etcd_kvs {
	struct hf_etcd_kv *kvs;
	uint32_t count;
	int more;	  /* etcd has more pairs than were returned */
	int64_t revision; /* the store's revision the range was read at */
};

enum hf_etcd_cmp_target {
	HF_ETCD_CMP_VALUE = 0,
	HF_ETCD_CMP_MOD = 1,	 /* mod_revision */
	HF_ETCD_CMP_VERSION = 2, /* 0 for a missing key */
	HF_ETCD_CMP_CREATE = 3,	 /* create_revision; 0 for a missing key */
};

enum hf_etcd_cmp_result {
	HF_ETCD_EQUAL = 0,
	HF_ETCD_NOT_EQUAL = 1,
	HF_ETCD_GREATER = 2,
	HF_ETCD_LESS = 3,
};

struct hf_etcd_cmp {
	const char *key; /* NUL-terminated */
	enum hf_etcd_cmp_target target;
	enum hf_etcd_cmp_result result;
	int64_t number;	      /* MOD, VERSION, CREATE */
	const uint8_t *value; /* VALUE */
	size_t value_size;
};

enum hf_etcd_op_kind {
	HF_ETCD_OP_PUT = 0,
	HF_ETCD_OP_DELETE = 1,	      /* one key */
	HF_ETCD_OP_DELETE_PREFIX = 2, /* every key starting with key */
};

struct hf_etcd_op {
	enum hf_etcd_op_kind kind;
	const char *key; /* NUL-terminated */
	const uint8_t *value;
	size_t value_size;
	int64_t lease; /* PUT: attach to this lease; 0: none */
};

/* A transaction: if every compare holds, the `then` ops run, else the `otherwise` ops, atomically.
 */
struct hf_etcd_txn {
	struct hf_etcd_cmp cmps[HF_ETCD_TXN_COMPARES_MAX];
	uint32_t cmps_count;
	struct hf_etcd_op then[HF_ETCD_TXN_OPS_MAX];
	uint32_t then_count;
	struct hf_etcd_op otherwise[HF_ETCD_TXN_OPS_MAX];
	uint32_t otherwise_count;
};

enum hf_etcd_event_type {
	HF_ETCD_EVENT_PUT = 0,
	HF_ETCD_EVENT_DELETE = 1,
};

struct hf_etcd_event {
	enum hf_etcd_event_type type;
	struct hf_etcd_kv kv;
};

struct hf_etcd_events {
	struct hf_etcd_event *events;
	uint32_t count;
	/* The revision to start the next watch at (the last event's mod_revision + 1, or the
	 * caller's start revision when no event came). */
	int64_t next_revision;
	int compacted; /* the start revision was compacted away: read the keys again */
};

/* Calls curl_global_init once (idempotent, thread-safe through pthread_once). Returns 0 or -EIO. */
int hf_etcd_global_init(void);

/* Parses a comma-separated list of http:// endpoints ("http://127.0.0.1:2379,http://10.0.0.2:2379")
 * and creates a client. timeout_ms 0 means HF_ETCD_TIMEOUT_MS_DEFAULT. Returns 0 and *out (owned by
 * the caller, freed with hf_etcd_destroy), -EINVAL for a bad list (err says why), -ENOMEM. */
int hf_etcd_create(const char *urls, uint32_t timeout_ms, struct hf_etcd **out, char *err,
		   size_t err_size);
void hf_etcd_destroy(struct hf_etcd *etcd);
/* Checks an endpoint list as hf_etcd_create would, without creating anything (for flag parsers).
 * Returns 0 or -EINVAL with err set. */
int hf_etcd_urls_check(const char *urls, char *err, size_t err_size);

/* A flag another thread may raise to abort the call in progress (a watch first of all) with
 * -ECANCELED within about a second (libcurl's progress callback period). NULL: none. */
void hf_etcd_set_cancel(struct hf_etcd *etcd, const atomic_int *cancel);

/* The last error, one line; "" after a success. Valid until the next call. */
const char *hf_etcd_error(const struct hf_etcd *etcd);
/* The endpoint that answered last (or the first one). */
const char *hf_etcd_url(const struct hf_etcd *etcd);

/* Reads key, or with prefix every key that starts with key (at most HF_ETCD_RANGE_KVS_MAX, in key
 * order; out->more says there were more). *out is filled (free it with hf_etcd_kvs_free) even when
 * nothing matched. */
int hf_etcd_range(struct hf_etcd *etcd, const char *key, int prefix, struct hf_etcd_kvs *out);
/* Reads one key into *out (a set of one, free with hf_etcd_kvs_free); -ENOENT when missing. */
int hf_etcd_get(struct hf_etcd *etcd, const char *key, struct hf_etcd_kvs *out);
void hf_etcd_kvs_free(struct hf_etcd_kvs *kvs);

/* Writes key = value (lease 0: none). *revision_out (may be NULL) is the revision of the write. */
int hf_etcd_put(struct hf_etcd *etcd, const char *key, const uint8_t *value, size_t value_size,
		int64_t lease, int64_t *revision_out);
/* Deletes key, or with prefix every key starting with key. *deleted_out (may be NULL) counts them.
 */
int hf_etcd_delete(struct hf_etcd *etcd, const char *key, int prefix, uint64_t *deleted_out);

/* Runs a transaction. *succeeded_out is 1 when the compares held (the `then` branch ran), 0 when
 * the `otherwise` branch ran. *revision_out (may be NULL) is the store's revision after it. */
int hf_etcd_txn(struct hf_etcd *etcd, const struct hf_etcd_txn *txn, int *succeeded_out,
		int64_t *revision_out);

/* Grants a lease of ttl_s (1 .. HF_ETCD_LEASE_TTL_S_MAX) seconds; *lease_out is its id. */
int hf_etcd_lease_grant(struct hf_etcd *etcd, uint32_t ttl_s, int64_t *lease_out);
/* Renews a lease once; *ttl_s_out (may be NULL) is the TTL etcd reset it to. -ENOENT when the lease
 * expired or was revoked (its keys are gone: grant a new one and write them again). */
int hf_etcd_lease_keepalive(struct hf_etcd *etcd, int64_t lease, uint32_t *ttl_s_out);
/* Revokes a lease (its keys are deleted). Revoking a lease that is gone is not an error. */
int hf_etcd_lease_revoke(struct hf_etcd *etcd, int64_t lease);

/* Waits up to timeout_ms (1 .. HF_ETCD_TIMEOUT_MS_MAX) for changes of key (or of every key with
 * that prefix) at or after start_revision (>= 1), and returns the first batch of events (possibly
 * none, on timeout) in *out, to be freed with hf_etcd_events_free. Resume with
 * out->next_revision: no change is skipped between calls. With out->compacted the history is gone:
 * read the keys again and watch from the revision of that read + 1. Uses the first endpoint that
 * accepts the connection. */
int hf_etcd_watch(struct hf_etcd *etcd, const char *key, int prefix, int64_t start_revision,
		  uint32_t timeout_ms, struct hf_etcd_events *out);
void hf_etcd_events_free(struct hf_etcd_events *events);

/* Base64 (RFC 4648, with padding). encode writes a NUL-terminated string and returns its length,
 * or 0 when cap is too small (cap >= 4 * ((size + 2) / 3) + 1 suffices). decode returns the byte
 * count or -1 for bad input or a too small cap. Exposed for the tests. */
size_t hf_etcd_base64_encode(const uint8_t *in, size_t size, char *out, size_t cap);
long hf_etcd_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
