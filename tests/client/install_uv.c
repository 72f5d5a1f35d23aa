/* Goal: the installed libuv adapter (<holdfast/adapters/holdfast_uv.h>) builds outside the source
 * tree with `pkg-config --cflags --libs holdfast libuv` and drives requests to completion.
 *
 * Method: built and run by tests/client/install_check.sh against a live holdfastd (argv[1]):
 * submit PINGS_COUNT pings to every shard of the map from the loop, stop the loop after the last
 * completion, destroy the adapter, print one line the script checks. Exit 0 on success. */
#include <holdfast/adapters/holdfast_uv.h>

#include <stdio.h>

#define PINGS_COUNT 64u

struct state {
	uv_loop_t *loop;
	uint32_t ok;
	uint32_t done;
};

static void on_complete(void *arg, uint64_t tag, int error, const struct hf_client_reply *rep)
{
	struct state *st = arg;
	(void)tag;
	st->ok += error == 0 && rep->status == HF_OK;
	if (++st->done == PINGS_COUNT)
		uv_stop(st->loop);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct hf_client *c;
	if (hf_client_open(argv[1], NULL, &c) != 0)
		return 2;
	struct state st = {.loop = uv_default_loop()};
	struct hf_uv *u;
	if (hf_uv_create(st.loop, c, on_complete, &st, &u) != 0)
		return 2;
	uint16_t owners = hf_client_slot_map(c)->owners_count;
	struct hf_request req = {.opcode = HF_OP_PING};
	for (uint32_t i = 0; i < PINGS_COUNT; i++) {
		if (hf_client_submit_shard(c, (uint16_t)(i % owners), &req, i) != 0)
			return 2;
	}
	uv_run(st.loop, UV_RUN_DEFAULT);
	hf_uv_destroy(u);
	uv_run(st.loop, UV_RUN_DEFAULT);
	hf_client_close(c);
	uv_loop_close(st.loop);
	printf("uv: %u of %u pings answered\n", st.ok, PINGS_COUNT);
	return st.ok == PINGS_COUNT ? 0 : 1;
}
