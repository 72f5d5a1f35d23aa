/* libholdfast: the public API of client/holdfast.h on top of the request engine (client_engine.c):
 * submitting, blocking calls and their wrappers, options, open and close.
 *
 * A client holds the slot map, one connection per owning shard (opened on first use), and an
 * in-flight table of pipeline_max entries: client/client_int.h describes the state, its INVARIANTS
 * and STATES, and which file owns each transition. */
#include "client/holdfast.h"

#include "client/client_int.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Opcodes that are not about one event go to one chosen shard. */
static int opcode_is_shard_wide(uint8_t opcode)
{
	/* Admin opcodes go to the home shard, but for the routed one (EVENT_DELETE). */
	const struct hf_op_info *op = hf_op_info(opcode);
	return opcode == HF_OP_PING || opcode == HF_OP_SLOT_MAP || opcode == HF_OP_STATS ||
	       (opcode >= HF_OP_ADMIN_FIRST && opcode <= HF_OP_ADMIN_LAST &&
		!(op != NULL && op->routed));
}

int hf_client_submit(struct hf_client *client, const struct hf_request *req, uint64_t tag)
{
	uint16_t owner = opcode_is_shard_wide(req->opcode) ? client->home_owner : OWNER_NONE;
	int rc = hf_client_submit_entry(client, req, owner, tag, NULL);
	if (rc == 0)
		hf_client_loop_report(client);
	return rc;
}

int hf_client_submit_shard(struct hf_client *client, uint16_t owner_index,
			   const struct hf_request *req, uint64_t tag)
{
	if (owner_index >= client->map.owners_count)
		return -EINVAL;
	int rc = hf_client_submit_entry(client, req, owner_index, tag, NULL);
	if (rc == 0)
		hf_client_loop_report(client);
	return rc;
}

int hf_client_flush(struct hf_client *client)
{
	if (client->in_poll)
		return -EBUSY;
	client->now_ms = hf_clock_mono_ms();
	hf_client_flush_all(client);
	hf_client_loop_report(client);
	return 0;
}

int hf_client_poll(struct hf_client *client, int timeout_ms, hf_client_completion_fn fn, void *arg)
{
	if (client->in_poll || fn == NULL)
		return -EINVAL;
	if (client->loop_on)
		return -EBUSY;
	return hf_client_poll_run(client, timeout_ms, fn, arg);
}

uint32_t hf_client_in_flight(const struct hf_client *client)
{
	return client->in_flight;
}

/* ---- Blocking ---- */

struct call_state {
	int done;
	int error;
};

static void call_on_complete(void *arg, uint64_t tag, int error,
			     const struct hf_client_reply *reply)
{
	struct call_state *st = arg;
	(void)tag;
	(void)reply;
	HF_ASSERT(!st->done);
	st->done = 1;
	st->error = error;
}

static int call_entry(struct hf_client *c, const struct hf_request *req, uint16_t fixed_owner,
		      struct hf_client_reply *rep)
{
	if (c->in_poll || c->in_flight != 0)
		return -EBUSY;
	uint64_t request_id;
	int rc = hf_client_submit_entry(c, req, fixed_owner, 0, &request_id);
	if (rc != 0)
		return rc;
	struct call_state st = {.done = 0, .error = 0};
	c->call_id = request_id;
	c->call_rep = rep;
	/* Ends: the request completes within (retries_max + 1) attempts of bounded length. */
	while (!st.done) {
		rc = hf_client_poll_run(c, -1, call_on_complete, &st);
		if (rc < 0)
			break;
	}
	c->call_id = 0;
	c->call_rep = NULL;
	hf_client_loop_report(c);
	if (!st.done) {
		HF_ASSERT(rc < 0);
		return rc;
	}
	HF_ASSERT(c->in_flight == 0);
	return st.error;
}

int hf_client_call(struct hf_client *client, const struct hf_request *req,
		   struct hf_client_reply *rep)
{
	uint16_t owner = opcode_is_shard_wide(req->opcode) ? client->home_owner : OWNER_NONE;
	return call_entry(client, req, owner, rep);
}

int hf_client_call_shard(struct hf_client *client, uint16_t owner_index,
			 const struct hf_request *req, struct hf_client_reply *rep)
{
	if (owner_index >= client->map.owners_count)
		return -EINVAL;
	return call_entry(client, req, owner_index, rep);
}

int hf_client_create_event(struct hf_client *client, const struct hf_req_create_event *args,
			   struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_CREATE_EVENT;
	req.request_id = 0;
	req.create_event = *args;
	return hf_client_call(client, &req, rep);
}

int hf_client_event_info(struct hf_client *client, uint64_t event_id, struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_EVENT_INFO;
	req.request_id = 0;
	req.event_info.event_id = event_id;
	return hf_client_call(client, &req, rep);
}

static int hold_call(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		     uint64_t user_id, uint32_t ttl_ms, uint8_t mode, const uint32_t *seats,
		     uint32_t seats_count, struct hf_client_reply *rep)
{
	if (seats_count > HF_HOLD_SEATS_MAX)
		return -EINVAL;
	struct hf_request req = {.opcode = HF_OP_HOLD};
	req.request_id = 0;
	req.hold.event_id = event_id;
	req.hold.hold_id = hold_id;
	req.hold.user_id = user_id;
	req.hold.ttl_ms = ttl_ms;
	req.hold.mode = mode;
	req.hold.seats_count = seats_count;
	if (mode == HF_HOLD_EXPLICIT && seats_count > 0)
		memcpy(req.hold.seats, seats, sizeof(seats[0]) * seats_count);
	return hf_client_call(client, &req, rep);
}

int hf_client_hold_seats(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
			 uint64_t user_id, uint32_t ttl_ms, const uint32_t *seats,
			 uint32_t seats_count, struct hf_client_reply *rep)
{
	return hold_call(client, event_id, hold_id, user_id, ttl_ms, HF_HOLD_EXPLICIT, seats,
			 seats_count, rep);
}

int hf_client_hold_best(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
			uint64_t user_id, uint32_t ttl_ms, uint32_t seats_count,
			struct hf_client_reply *rep)
{
	return hold_call(client, event_id, hold_id, user_id, ttl_ms, HF_HOLD_BEST, NULL,
			 seats_count, rep);
}

int hf_client_extend(struct hf_client *client, uint64_t event_id, uint64_t hold_id, uint32_t ttl_ms,
		     struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_EXTEND;
	req.request_id = 0;
	req.extend.event_id = event_id;
	req.extend.hold_id = hold_id;
	req.extend.ttl_ms = ttl_ms;
	return hf_client_call(client, &req, rep);
}

static int hold_ref_call(struct hf_client *client, uint8_t opcode, uint64_t event_id,
			 uint64_t hold_id, struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = opcode;
	req.request_id = 0;
	/* CONFIRM, RELEASE and CANCEL share struct hf_req_hold_ref at the same place. */
	req.confirm.event_id = event_id;
	req.confirm.hold_id = hold_id;
	return hf_client_call(client, &req, rep);
}

int hf_client_confirm(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		      struct hf_client_reply *rep)
{
	return hold_ref_call(client, HF_OP_CONFIRM, event_id, hold_id, rep);
}

int hf_client_release(struct hf_client *client, uint64_t event_id, uint64_t hold_id,
		      struct hf_client_reply *rep)
{
	return hold_ref_call(client, HF_OP_RELEASE, event_id, hold_id, rep);
}

int hf_client_cancel(struct hf_client *client, uint64_t event_id, uint64_t booking_id,
		     struct hf_client_reply *rep)
{
	return hold_ref_call(client, HF_OP_CANCEL, event_id, booking_id, rep);
}

int hf_client_avail(struct hf_client *client, uint64_t event_id, uint32_t first, uint32_t count,
		    struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_AVAIL;
	req.request_id = 0;
	req.avail.event_id = event_id;
	req.avail.first = first;
	req.avail.count = count;
	return hf_client_call(client, &req, rep);
}

int hf_client_seat_status(struct hf_client *client, uint64_t event_id, const uint32_t *seats,
			  uint32_t seats_count, struct hf_client_reply *rep)
{
	if (seats_count == 0 || seats_count > HF_SEAT_STATUS_SEATS_MAX)
		return -EINVAL;
	struct hf_request req;
	req.opcode = HF_OP_SEAT_STATUS;
	req.request_id = 0;
	req.seat_status.event_id = event_id;
	req.seat_status.seats_count = seats_count;
	memcpy(req.seat_status.seats, seats, sizeof(seats[0]) * seats_count);
	return hf_client_call(client, &req, rep);
}

const char *hf_version(void)
{
	return HF_VERSION_STRING;
}

uint64_t hf_client_new_id(struct hf_client *client)
{
	uint64_t id = hf_client_rng_next(&client->rng);
	if (id == 0)
		id = hf_client_rng_next(&client->rng);
	HF_ASSERT(id != 0);
	return id;
}

/* ---- Open and close ---- */

void hf_client_options_default(struct hf_client_options *opts)
{
	opts->timeout_ms = 2000;
	opts->retries_max = 5;
	opts->pipeline_max = 1024;
	opts->connect_timeout_ms = 2000;
	opts->deadline_ms = 5000;
	opts->breaker_timeouts = 3;
	opts->breaker_cooldown_ms = 1000;
	opts->auth_token = NULL;
	opts->batch_max = 0;
}

static int options_valid(const struct hf_client_options *o)
{
	return o->timeout_ms >= 1 && o->timeout_ms <= INT_MAX && o->connect_timeout_ms >= 1 &&
	       o->connect_timeout_ms <= INT_MAX && o->pipeline_max >= 1 &&
	       o->pipeline_max <= HF_CLIENT_PIPELINE_MAX &&
	       o->retries_max <= HF_CLIENT_RETRIES_MAX &&
	       o->deadline_ms <= HF_CLIENT_DEADLINE_MS_MAX &&
	       o->breaker_timeouts <= HF_CLIENT_BREAKER_TIMEOUTS_MAX &&
	       o->breaker_cooldown_ms <= HF_CLIENT_BREAKER_COOLDOWN_MS_MAX &&
	       o->batch_max <= HF_BATCH_OPS_MAX;
}

static uint64_t seed_random(const struct hf_client *c)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		/* No entropy source: mix what differs between processes and clients. */
		seed = hf_clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
		seed ^= hf_clock_wall_ms() * 0x9e3779b97f4a7c15ull;
	}
	return seed;
}

static int tables_create(struct hf_client *c)
{
	uint32_t size = 1;
	uint32_t bits = 0;
	/* One entry more than pipeline_max: the client's own map refresh. */
	while (size < c->opts.pipeline_max + 1u) {
		size <<= 1;
		bits++;
	}
	HF_ASSERT(size > c->opts.pipeline_max);
	HF_ASSERT(size <= 2u * HF_CLIENT_PIPELINE_MAX);
	c->table_mask = size - 1;
	c->table_bits = bits;
	c->entries = calloc(size, sizeof(*c->entries));
	c->frames = malloc((size_t)size * HF_CLIENT_FRAME_SLOT_SIZE);
	c->free_stack = malloc((size_t)size * sizeof(*c->free_stack));
	c->big_frames = malloc((size_t)HF_CLIENT_BIG_FRAMES_MAX * HF_CLIENT_REQUEST_FRAME_SIZE_MAX);
	c->reply = malloc(sizeof(*c->reply));
	c->scratch = malloc(sizeof(*c->scratch));
	c->map_frame = malloc(HF_CLIENT_MAP_FRAME_SIZE_MAX);
	c->pending_map = malloc(sizeof(*c->pending_map));
	if (!c->entries || !c->frames || !c->free_stack || !c->big_frames || !c->reply ||
	    !c->scratch || !c->map_frame || !c->pending_map)
		return -ENOMEM;
	/* Pop order: index 0 first. */
	for (uint32_t i = 0; i < size; i++) {
		c->free_stack[i] = size - 1 - i;
		c->entries[i].state = ENTRY_FREE;
		c->entries[i].big_index = BIG_NONE;
		c->entries[i].prev = NONE;
		c->entries[i].next = NONE;
	}
	c->free_count = size;
	for (uint32_t i = 0; i < HF_CLIENT_BIG_FRAMES_MAX; i++)
		c->big_free[i] = (uint8_t)i;
	c->big_free_count = HF_CLIENT_BIG_FRAMES_MAX;
	return 0;
}

int hf_client_open(const char *host_port, const struct hf_client_options *opts,
		   struct hf_client **out)
{
	struct hf_client_options o;
	if (opts != NULL)
		o = *opts;
	else
		hf_client_options_default(&o);
	if (!options_valid(&o))
		return -EINVAL;
	if (o.breaker_cooldown_ms == 0)
		o.breaker_cooldown_ms = 1000; /* zero-initialised options get the default */
	char host[HF_HOST_SIZE_MAX + 1];
	uint16_t port;
	if (hf_client_parse_addr(host_port, host, &port) != 0)
		return -EINVAL;

	struct hf_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->opts = o;
	if (o.auth_token != NULL && o.auth_token[0] != '\0') {
		struct hf_request auth = {.opcode = HF_OP_AUTH, .request_id = 0};
		size_t len = strlen(o.auth_token);
		if (len > HF_AUTH_TOKEN_SIZE_MAX) {
			free(c);
			return -EINVAL;
		}
		auth.auth.token_size = (uint16_t)len;
		memcpy(auth.auth.token, o.auth_token, len);
		size_t n = hf_request_encode(&auth, c->auth_frame, sizeof(c->auth_frame));
		HF_ASSERT(n > HF_FRAME_HEADER_SIZE);
		c->auth_frame_size = (uint32_t)n;
	}
	c->opts.auth_token = NULL; /* the caller's string may go: the frame holds the token */
	memcpy(c->home_host, host, sizeof(c->home_host));
	c->home_port = port;
	hf_client_list_init(&c->delayed);
	hf_client_list_init(&c->wait_map);
	hf_client_list_init(&c->failed);
	c->refresh_idx = NONE;
	c->age_head = NONE;
	c->age_tail = NONE;
	c->rng = seed_random(c);
	int rc = tables_create(c);
	if (rc != 0)
		goto err_close;
	rc = hf_client_resolve(host, port, &c->home_addrs);
	if (rc != 0)
		goto err_close;
	/* A busy or slow shard may answer on a later try; a refused connect will not. */
	for (uint32_t attempt = 0; attempt <= o.retries_max; attempt++) {
		rc = hf_client_map_fetch(c, &c->home_addrs);
		if (rc != -EAGAIN && rc != -ETIMEDOUT)
			break;
	}
	if (rc != 0)
		goto err_close;
	hf_client_map_install(c, &c->scratch->slot_map);
	HF_ASSERT(c->map_loaded && c->home_owner < c->map.owners_count);
	*out = c;
	return 0;

err_close:
	hf_client_close(c);
	HF_ASSERT(rc < 0);
	return rc;
}

void hf_client_close(struct hf_client *client)
{
	if (client == NULL)
		return;
	HF_ASSERT(!client->in_poll);
	for (uint32_t i = 0; i < HF_SLOT_OWNERS_MAX; i++) {
		struct conn *conn = client->conns[i];
		if (conn == NULL)
			continue;
		/* Requests still in flight are dropped without a callback. */
		hf_client_list_init(&conn->list);
		hf_client_conn_destroy(client, conn);
	}
	free(client->entries);
	free(client->frames);
	free(client->free_stack);
	free(client->big_frames);
	free(client->reply);
	free(client->scratch);
	free(client->map_frame);
	free(client->pending_map);
	free(client->avail_copy);
	free(client);
}
