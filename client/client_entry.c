/* libholdfast: the in-flight table. Doubly linked lists of entries by index, and the transitions of
 * one entry (route to a connection, delay, retry, fail, deliver) listed in the STATES block of
 * client/client_int.h. No I/O happens here. */
#include "client/client_int.h"

#include "base/assert.h"

#include <errno.h>
#include <stdlib.h>

uint64_t hf_client_rng_next(uint64_t *state)
{
	/* splitmix64: a bijection of the counter, so 0 comes out once per 2^64 calls. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t hf_client_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms)
{
	uint32_t shift = attempt < 16 ? attempt : 16;
	uint64_t v = (uint64_t)base_ms << shift;
	return v > max_ms ? max_ms : (uint32_t)v;
}

uint32_t hf_client_backoff_jittered_ms(struct hf_client *c, uint32_t attempt, uint32_t base_ms,
				       uint32_t max_ms)
{
	uint32_t v = hf_client_backoff_ms(attempt, base_ms, max_ms);
	uint32_t half = v / 2u;
	uint32_t wait_ms =
	    half + (uint32_t)(hf_client_rng_next(&c->rng) % (uint64_t)(v - half + 1u));
	HF_ASSERT(wait_ms >= half);
	HF_ASSERT(wait_ms <= v);
	return wait_ms;
}

/* ---- Lists ---- */

void hf_client_list_init(struct list *l)
{
	l->head = NONE;
	l->tail = NONE;
	l->count = 0;
}

void hf_client_list_push(struct hf_client *c, struct list *l, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	e->prev = l->tail;
	e->next = NONE;
	if (l->tail != NONE)
		c->entries[l->tail].next = idx;
	else
		l->head = idx;
	l->tail = idx;
	l->count++;
	HF_ASSERT(l->count <= c->table_mask + 1);
}

void hf_client_list_remove(struct hf_client *c, struct list *l, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(l->count > 0);
	if (e->prev != NONE)
		c->entries[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NONE)
		c->entries[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = NONE;
	e->next = NONE;
	l->count--;
}

/* Takes the entry off whatever list holds it; it is DETACHED afterwards. */
void hf_client_entry_unlink(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	switch (e->state) {
	case ENTRY_QUEUED:
	case ENTRY_SENT:
		HF_ASSERT(e->conn != NULL);
		if (e->conn->unsent == idx)
			e->conn->unsent = e->next;
		hf_client_list_remove(c, &e->conn->list, idx);
		e->conn = NULL;
		break;
	case ENTRY_DELAYED:
		hf_client_list_remove(c, &c->delayed, idx);
		break;
	case ENTRY_WAIT_MAP:
		hf_client_list_remove(c, &c->wait_map, idx);
		break;
	case ENTRY_FAILED:
		hf_client_list_remove(c, &c->failed, idx);
		break;
	case ENTRY_DETACHED:
		break;
	default:
		HF_PANIC("unlinking an entry in state %u", e->state);
	}
	e->state = ENTRY_DETACHED;
}

/* ---- The age list ---- */

void hf_client_age_push(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(c->age_tail == NONE || c->entries[c->age_tail].expires_ms <= e->expires_ms);
	e->age_prev = c->age_tail;
	e->age_next = NONE;
	if (c->age_tail != NONE)
		c->entries[c->age_tail].age_next = idx;
	else
		c->age_head = idx;
	c->age_tail = idx;
}

static void age_remove(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	if (e->age_prev != NONE)
		c->entries[e->age_prev].age_next = e->age_next;
	else
		c->age_head = e->age_next;
	if (e->age_next != NONE)
		c->entries[e->age_next].age_prev = e->age_prev;
	else
		c->age_tail = e->age_prev;
	e->age_prev = NONE;
	e->age_next = NONE;
}

void hf_client_expired_fail(struct hf_client *c)
{
	uint32_t idx = c->age_head;
	/* Bounded by the table: each step moves along the list, which only this loop's
	 * hf_client_entry_fail touches (it keeps entries on the age list). */
	for (uint32_t n = 0; idx != NONE && n <= c->table_mask; n++) {
		struct entry *e = &c->entries[idx];
		if (e->expires_ms > c->now_ms)
			return;
		uint32_t next = e->age_next;
		if (e->state != ENTRY_FAILED) {
			hf_client_entry_unlink(c, idx);
			hf_client_entry_fail(c, idx,
					     e->last_error < 0 ? e->last_error : -ETIMEDOUT);
		}
		idx = next;
	}
}

/* ---- Entries ---- */

void hf_client_entry_free(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED && e->conn == NULL);
	if (e->big_index != BIG_NONE) {
		HF_ASSERT(c->big_free_count < HF_CLIENT_BIG_FRAMES_MAX);
		c->big_free[c->big_free_count++] = e->big_index;
		e->big_index = BIG_NONE;
	}
	e->request_id = 0;
	e->state = ENTRY_FREE;
	HF_ASSERT(c->free_count <= c->table_mask);
	c->free_stack[c->free_count++] = idx;
	age_remove(c, idx);
	if (e->internal) {
		HF_ASSERT(c->internal_count > 0);
		c->internal_count--;
		e->internal = 0;
	} else {
		HF_ASSERT(c->in_flight > 0);
		c->in_flight--;
	}
}

/* Frees a detached entry and hands its outcome to the caller's callback. The entry is free before
 * the callback runs, so the callback may submit again. */
void hf_client_entry_deliver(struct hf_client *c, uint32_t idx, int error,
			     const struct hf_client_reply *rep)
{
	uint64_t tag = c->entries[idx].tag;
	HF_ASSERT(c->in_poll);
	HF_ASSERT((error == 0) == (rep != NULL));
	if (c->entries[idx].internal) {
		/* The client's own map refresh: it only fails this way (replies go to on_reply). */
		HF_ASSERT(error < 0);
		hf_client_entry_free(c, idx);
		hf_client_map_refresh_failed(c, idx);
		return;
	}
	hf_client_entry_free(c, idx);
	c->delivered++;
	c->fn(c->fn_arg, tag, error, rep);
}

/* Parks a detached entry on the failed list; hf_client_poll delivers it. */
void hf_client_entry_fail(struct hf_client *c, uint32_t idx, int error)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	HF_ASSERT(error < 0);
	e->error = error;
	e->state = ENTRY_FAILED;
	hf_client_list_push(c, &c->failed, idx);
}

/* Appends a detached entry to the queue of the connection that owns it now, with a new deadline. */
void hf_client_entry_route(struct hf_client *c, uint32_t idx)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	uint16_t owner = e->fixed_owner != OWNER_NONE ? e->fixed_owner
						      : c->map.slot_owner[hf_slot_of(e->event_id)];
	HF_ASSERT(owner < c->map.owners_count);
	struct conn *conn = hf_client_conn_get(c, owner);
	if (conn == NULL) {
		hf_client_entry_fail(c, idx, -ENOMEM);
		return;
	}
	if (!hf_client_breaker_admit(c, conn)) {
		hf_client_entry_fail(c, idx, -EHOSTDOWN); /* fail fast: the node keeps timing out */
		return;
	}
	e->conn = conn;
	e->state = ENTRY_QUEUED;
	e->route_epoch = c->map.epoch;
	e->deadline_ms = c->now_ms + c->opts.timeout_ms;
	hf_client_list_push(c, &conn->list, idx);
	if (conn->unsent == NONE)
		conn->unsent = idx;
}

void hf_client_entry_reconnect(struct hf_client *c, uint32_t idx, int error)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(error < 0);
	if (e->expires_ms == UINT64_MAX) {
		/* No overall deadline: a connect failure is one more attempt. */
		hf_client_entry_retry(c, idx, error,
				      hf_client_backoff_ms(e->attempt, HF_CLIENT_BACKOFF_CONNECT_MS,
							   HF_CLIENT_BACKOFF_CONNECT_MS_MAX));
		return;
	}
	e->last_error = error;
	uint32_t wait_ms = hf_client_backoff_ms(e->connect_failures, HF_CLIENT_BACKOFF_CONNECT_MS,
						HF_CLIENT_BACKOFF_CONNECT_MS_MAX);
	if (e->connect_failures < UINT16_MAX)
		e->connect_failures++;
	hf_client_entry_delay(c, idx, wait_ms);
}

void hf_client_entry_delay(struct hf_client *c, uint32_t idx, uint32_t wait_ms)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(e->state == ENTRY_DETACHED);
	e->state = ENTRY_DELAYED;
	e->deadline_ms = c->now_ms + wait_ms;
	if (c->delayed.count == 0 || e->deadline_ms < c->delayed_next_ms)
		c->delayed_next_ms = e->deadline_ms;
	hf_client_list_push(c, &c->delayed, idx);
}

/* One more attempt for a detached entry whose last one failed with error: resend (after wait_ms,
 * or at once), or complete it with error when its retries are spent. */
void hf_client_entry_retry(struct hf_client *c, uint32_t idx, int error, uint32_t wait_ms)
{
	struct entry *e = &c->entries[idx];
	HF_ASSERT(error < 0);
	e->last_error = error;
	if (e->attempt >= c->opts.retries_max) {
		hf_client_entry_fail(c, idx, error);
		return;
	}
	e->attempt++;
	if (wait_ms > 0)
		hf_client_entry_delay(c, idx, wait_ms);
	else
		hf_client_entry_route(c, idx);
}
