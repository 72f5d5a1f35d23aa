/* libholdfast's waiting-room calls (holdfast.h, "The waiting room"): JOIN, POSITION, ROOM_SET,
 * ROOM_INFO, HOLD with an admission token, and the token's text form. Blocking wrappers over
 * hf_client_call; any thread that may use the client. */
#include "client/holdfast.h"

#include "base/assert.h"
#include "base/endian.h"

#include <errno.h>
#include <string.h>

static int join_call(struct hf_client *client, uint8_t opcode, uint64_t event_id, uint64_t user_id,
		     struct hf_client_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.join.event_id = event_id;
	req.join.user_id = user_id;
	return hf_client_call(client, &req, rep);
}

int hf_client_join(struct hf_client *client, uint64_t event_id, uint64_t user_id,
		   struct hf_client_reply *rep)
{
	return join_call(client, HF_OP_JOIN, event_id, user_id, rep);
}

int hf_client_position(struct hf_client *client, uint64_t event_id, uint64_t user_id,
		       struct hf_client_reply *rep)
{
	return join_call(client, HF_OP_POSITION, event_id, user_id, rep);
}

int hf_client_room_set(struct hf_client *client, uint64_t event_id,
		       const struct hf_room_params *params, struct hf_client_reply *rep)
{
	if (params->enabled > 1u || params->policy > HF_ROOM_DROP ||
	    params->queue_max > HF_ROOM_QUEUE_SIZE_MAX)
		return -EINVAL;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_ROOM_SET;
	req.room_set.event_id = event_id;
	req.room_set.params = *params;
	return hf_client_call(client, &req, rep);
}

int hf_client_room_info(struct hf_client *client, uint64_t event_id, struct hf_client_reply *rep)
{
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_ROOM_INFO;
	req.room_info.event_id = event_id;
	return hf_client_call(client, &req, rep);
}

int hf_client_hold_with_token(struct hf_client *client, const struct hf_req_hold *args,
			      const struct hf_room_token *token, struct hf_client_reply *rep)
{
	if (args->seats_count > HF_HOLD_SEATS_MAX)
		return -EINVAL;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = HF_OP_HOLD;
	req.hold = *args;
	req.hold.flags = (uint8_t)(req.hold.flags & ~HF_HOLD_FLAG_TOKEN);
	if (token != NULL) {
		req.hold.flags |= HF_HOLD_FLAG_TOKEN;
		req.hold.token = *token;
	}
	if (hf_request_validate(&req) != HF_OK)
		return -EINVAL;
	return hf_client_call(client, &req, rep);
}

void hf_client_token_format(const struct hf_room_token *token, char *out)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t wire[HF_ROOM_TOKEN_SIZE];
	hf_put_le64(wire, token->expires_ms);
	memcpy(wire + 8, token->mac, HF_ROOM_MAC_SIZE);
	for (uint32_t i = 0; i < HF_ROOM_TOKEN_SIZE; i++) {
		out[2 * i] = digits[wire[i] >> 4];
		out[2 * i + 1] = digits[wire[i] & 0xfu];
	}
	out[2 * HF_ROOM_TOKEN_SIZE] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hf_client_token_parse(const char *text, struct hf_room_token *out)
{
	if (text == NULL || strlen(text) != 2u * HF_ROOM_TOKEN_SIZE)
		return -EINVAL;
	uint8_t wire[HF_ROOM_TOKEN_SIZE];
	for (uint32_t i = 0; i < HF_ROOM_TOKEN_SIZE; i++) {
		int hi = hex_value(text[2 * i]);
		int lo = hex_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		wire[i] = (uint8_t)(hi << 4 | lo);
	}
	out->expires_ms = hf_get_le64(wire);
	memcpy(out->mac, wire + 8, HF_ROOM_MAC_SIZE);
	return 0;
}
