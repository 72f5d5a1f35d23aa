/* Goal: a C++ program builds against the installed libholdfast with nothing but
 * `pkg-config --cflags --libs holdfast` and uses the blocking API, the client-owned variable-size
 * reply bodies and the version calls.
 *
 * Method: built and run by tests/client/install_check.sh against a live holdfastd (argv[1]) and a
 * fresh event (argv[2]): create it, hold the best 4 seats, read them back with SEAT_STATUS, then
 * AVAIL; print one line the script checks, exit 0 on success, 1 on a refusal, 2 without an answer.
 */
#include <holdfast/holdfast.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

static_assert(sizeof(struct hf_client_reply) < 512, "the public reply is small");

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	if (std::strcmp(hf_version(), HF_VERSION_STRING) != 0) {
		std::fprintf(stderr, "built against %s, runs %s\n", HF_VERSION_STRING,
			     hf_version());
		return 1;
	}
	uint64_t event_id = std::strtoull(argv[2], nullptr, 10);
	struct hf_client *c = nullptr;
	if (hf_client_open(argv[1], nullptr, &c) != 0)
		return 2;
	struct hf_client_reply rep;
	struct hf_req_create_event ev = {};
	ev.event_id = event_id;
	ev.seats_count = 40;
	ev.row_width = 10;
	int rc = hf_client_create_event(c, &ev, &rep);
	uint64_t hold_id = hf_client_new_id(c);
	if (rc == 0 && rep.status == HF_OK)
		rc = hf_client_hold_best(c, event_id, hold_id, 9, 60000, 4, &rep);
	uint32_t seats[4] = {};
	if (rc == 0 && rep.status == HF_OK) {
		for (uint32_t i = 0; i < 4; i++)
			seats[i] = rep.hold.seats[i];
		rc = hf_client_seat_status(c, event_id, seats, 4, &rep);
	}
	uint32_t held = 0;
	if (rc == 0 && rep.status == HF_OK) {
		for (uint32_t i = 0; i < rep.seat_status.seats_count; i++)
			held += rep.seat_status.seats[i].state == HF_SEAT_HELD;
		rc = hf_client_avail(c, event_id, 0, 40, &rep);
	}
	int ok = rc == 0 && rep.status == HF_OK;
	if (ok)
		std::printf("c++ %s: held %u seats from %u, %u free\n", hf_version(), held,
			    seats[0], rep.avail.free_count);
	else if (rc == 0)
		std::fprintf(stderr, "refused: %s\n", hf_status_name(rep.status));
	hf_client_close(c);
	return ok ? 0 : rc == 0 ? 1 : 2;
}
