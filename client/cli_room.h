/* The waiting-room commands of the holdfast CLI (cli_room.c), kept out of cli.c:
 *
 *   holdfast queue EVENT                      the room's length, admitted buyers, rate, estimate
 *   holdfast join EVENT --user U [--wait] [--wait-timeout SECONDS]
 *                                             a place in the room; the token once admitted
 *   holdfast room EVENT (--on | --off) [--shoppers-per-seat X] [--admit-ttl SECONDS]
 *                 [--policy requeue|drop] [--queue-max N]
 *                                             turn the room on or off, set its parameters
 *
 * `event create ... --waiting-room` and `hold ... --token TOKEN` live in cli.c and use the
 * helpers below. Exit status as for every holdfast command: 0 done, 1 refused, 2 usage error or
 * no answer. */
#ifndef HF_CLIENT_CLI_ROOM_H
#define HF_CLIENT_CLI_ROOM_H

#include "client/holdfast.h"

#include <stdint.h>

/* Defaults of a room turned on without parameters: one buyer shopping per free seat, admissions
 * of 5 minutes, requeue, 100,000 places. */
#define HF_CLI_ROOM_SHOPPERS_PCT_DEFAULT 100u
#define HF_CLI_ROOM_ADMIT_TTL_S_DEFAULT	 300u
#define HF_CLI_ROOM_QUEUE_MAX_DEFAULT	 100000u
/* join --wait: POSITION every this many ms, for at most --wait-timeout (default 600 s). */
#define HF_CLI_ROOM_POLL_MS	   500u
#define HF_CLI_ROOM_WAIT_S_DEFAULT 600u
#define HF_CLI_ROOM_WAIT_S_MAX	   86400u

struct hf_cli_room_opts {
	const char *host_port;
	uint32_t timeout_ms; /* per attempt, as --timeout */
	int json;
};

/* 1 when cmd is a waiting-room command ("queue", "join", "room"). */
int hf_cli_room_is_command(const char *cmd);
/* Runs one (argv: its arguments after the command word). Returns the exit status. */
int hf_cli_room_main(const struct hf_cli_room_opts *opts, const char *cmd, int argc, char **argv);
void hf_cli_room_params_default(struct hf_room_params *out);

/* The usage lines of the room commands, for `holdfast --help`. */
extern const char hf_cli_room_usage[];

#endif
