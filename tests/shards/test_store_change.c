/* Goal: hf_store_change_hold reads back exactly what the store wrote for every seat transition of
 * a hold (held, extended, booked, released, expired, cancelled), event records and DELs are not
 * hold changes, and damaged values are refused rather than misread.
 *
 * Method: run each op through the store into a fresh change list and decode the last hold record
 * PUT; then flip bytes of a record value (state, count) and check the refusal. */
#include "shards/store.h"
#include "store_helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#define EV 5u

struct fixture {
	struct hf_store *s;
	struct hf_changes ch;
	struct hf_reply rep;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct hf_store_config cfg;
	hf_store_config_default(&cfg);
	cfg.events_max = 4;
	cfg.seats_max = 1000;
	cfg.records_max = 64;
	assert_int_equal(hf_store_create(&cfg, &f->s), 0);
	assert_int_equal(hf_changes_init(&f->ch, 256), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hf_changes_deinit(&f->ch);
	hf_store_destroy(f->s);
	free(f);
	return 0;
}

/* The one hold record PUT of the change list (asserted), decoded. */
static void last_hold(struct fixture *f, struct hf_store_hold_change *out)
{
	int found = 0;
	for (uint32_t i = 0; i < f->ch.count; i++) {
		const struct hf_change *c = &f->ch.items[i];
		if (hf_store_change_event_id(c) == 0)
			continue;
		assert_int_equal(hf_store_change_hold(&f->ch, c, out), 0);
		found++;
	}
	assert_int_equal(found, 1);
	hf_changes_reset(&f->ch);
}

static void test_every_transition(void **state)
{
	struct fixture *f = *state;
	struct hf_store_hold_change hc;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 0, 0), HF_OK);
	for (uint32_t i = 0; i < f->ch.count; i++)
		assert_int_equal(hf_store_change_event_id(&f->ch.items[i]),
				 0); /* the event record */
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, 1000, &f->rep, EV, 9, 77, 60000, 3, 4u, 2u, 8u),
			 HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hc.event_id, EV);
	assert_int_equal(hc.hold_id, 9);
	assert_int_equal(hc.user_id, 77);
	assert_int_equal(hc.state, HF_STORE_HOLD_HELD);
	assert_int_equal(hc.deadline_ms, 61000);
	assert_int_equal(hc.seats_count, 3);
	assert_int_equal(hc.seats[0], 4);
	assert_int_equal(hc.seats[1], 2);
	assert_int_equal(hc.seats[2], 8);
	assert_int_equal(th_extend(f->s, &f->ch, 2000, &f->rep, EV, 9, 30000), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hc.state, HF_STORE_HOLD_HELD);
	assert_int_equal(hc.deadline_ms, 32000);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CONFIRM, 3000, &f->rep, EV, 9), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hc.state, HF_STORE_HOLD_BOOKED);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_CANCEL, 4000, &f->rep, EV, 9), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hc.state, HF_STORE_HOLD_CANCELLED);
	assert_int_equal(th_best(f->s, &f->ch, 5000, &f->rep, EV, 10, 1, 60000, 2), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(th_ref(f->s, &f->ch, HF_OP_RELEASE, 6000, &f->rep, EV, 10), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hc.state, HF_STORE_HOLD_RELEASED);
	assert_int_equal(th_hold(f->s, &f->ch, 7000, &f->rep, EV, 11, 1, 100, 1, 50u), HF_OK);
	last_hold(f, &hc);
	assert_int_equal(hf_store_tick(f->s, 8000, 16, &f->ch), 1);
	last_hold(f, &hc);
	assert_int_equal(hc.state, HF_STORE_HOLD_EXPIRED);
	assert_int_equal(hc.hold_id, 11);
}

static void test_damaged_values(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(th_create(f->s, &f->ch, EV, 100, 10, 0, 0), HF_OK);
	hf_changes_reset(&f->ch);
	assert_int_equal(th_hold(f->s, &f->ch, 1000, &f->rep, EV, 9, 77, 60000, 2, 1u, 2u), HF_OK);
	struct hf_change *c = NULL;
	for (uint32_t i = 0; i < f->ch.count; i++) {
		if (hf_store_change_event_id(&f->ch.items[i]) != 0)
			c = &f->ch.items[i];
	}
	assert_non_null(c);
	struct hf_store_hold_change hc;
	uint8_t *v = f->ch.values + c->value_offset;
	v[1] = 0; /* no such state */
	assert_int_equal(hf_store_change_hold(&f->ch, c, &hc), -1);
	v[1] = 6;
	assert_int_equal(hf_store_change_hold(&f->ch, c, &hc), -1);
	v[1] = HF_STORE_HOLD_HELD;
	v[3] = 3; /* a count the value size does not have */
	assert_int_equal(hf_store_change_hold(&f->ch, c, &hc), -1);
	v[3] = 2;
	assert_int_equal(hf_store_change_hold(&f->ch, c, &hc), 0);
	c->kind = HF_CHANGE_DEL;
	assert_int_equal(hf_store_change_event_id(c), 0);
	assert_int_equal(hf_store_change_hold(&f->ch, c, &hc), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_every_transition, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_values, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
