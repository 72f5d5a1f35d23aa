/* libholdfast: the blocking wrappers of the inventory opcodes (SEAT_INFO, EVENT_SECTIONS, and HOLD
 * with every field: modes, flags, section and tier scopes, GA quantities). Each fills a request
 * and goes through hf_client_call like the wrappers of client.c. */
#include "client/client_int.h"

#include "base/assert.h"

#include <errno.h>
#include <string.h>

int hf_client_seat_info(struct hf_client *client, uint64_t event_id, const uint32_t *seats,
			uint32_t seats_count, struct hf_client_reply *rep)
{
	if (seats_count == 0 || seats_count > HF_SEAT_STATUS_SEATS_MAX || seats == NULL)
		return -EINVAL;
	struct hf_request req;
	req.opcode = HF_OP_SEAT_INFO;
	req.request_id = 0;
	req.seat_info.event_id = event_id;
	req.seat_info.seats_count = seats_count;
	memcpy(req.seat_info.seats, seats, sizeof(seats[0]) * seats_count);
	return hf_client_call(client, &req, rep);
}

int hf_client_event_sections(struct hf_client *client, uint64_t event_id,
			     struct hf_client_reply *rep)
{
	struct hf_request req;
	req.opcode = HF_OP_EVENT_SECTIONS;
	req.request_id = 0;
	req.event_sections.event_id = event_id;
	return hf_client_call(client, &req, rep);
}

int hf_client_hold(struct hf_client *client, const struct hf_req_hold *args,
		   struct hf_client_reply *rep)
{
	if (args == NULL || args->seats_count > HF_HOLD_SEATS_MAX)
		return -EINVAL;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.hold = *args;
	if (hf_request_validate(&req) != HF_OK)
		return -EINVAL;
	return hf_client_call(client, &req, rep);
}
