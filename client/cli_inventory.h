/* The holdfast CLI's inventory pieces: --section / --ga specs of `event create`, the section and
 * tier tables of `avail` and `event info`, section names for `hold --section`, and `watch`.
 * Used by cli.c only; the functions print nothing unless their name says so. */
#ifndef HF_CLIENT_CLI_INVENTORY_H
#define HF_CLIENT_CLI_INVENTORY_H

#include "client/holdfast.h"

#include <stddef.h>

/* Takes every `--section NAME:FIRST:COUNT[:TIER[:ROW_WIDTH]]` and `--ga NAME:CAPACITY[:TIER]` (and
 * their `--opt=value` forms) out of argv, in order, into ce->sections; *argc shrinks by what was
 * taken. GA sections are placed after the numbered seats by hf_cli_sections_place. Returns 0, or
 * -1 with a one-line reason in err. */
int hf_cli_sections_take(int *argc, char **argv, struct hf_req_create_event *ce, char *err,
			 size_t err_size);

/* Once ce->seats_count holds the numbered seats: places each GA section after them (in the order
 * given) and grows seats_count by their capacities. Returns 0, or -1 (past HF_EVENT_SEATS_MAX, a
 * seated section outside the numbered seats) with the reason in err. */
int hf_cli_sections_place(struct hf_req_create_event *ce, char *err, size_t err_size);

/* The scope of section `name` (its index + 1) in es, or 0 when es has no such section. */
uint16_t hf_cli_section_scope(const struct hf_rep_event_sections *es, const char *name);

/* The section (index into es->sections) that holds seat, or -1. */
int hf_cli_section_of_seat(const struct hf_rep_event_sections *es, uint32_t seat);

/* Prints `"sections":[...],"tiers":[...]` (json, no braces around) or readable lines, one per
 * section then one per tier. */
void hf_cli_sections_print(const struct hf_rep_event_sections *es, int json);

/* Prints a JSON string with its quotes and escapes. */
void hf_cli_json_string(const char *s);

/* `holdfast watch EVENT`: opens a watch (timeout_ms per attempt), prints "watching ..." then one
 * line per change (readable, or JSON lines), flushing each, until count_max changes (0: no
 * bound), the connection ends, or SIGINT/SIGTERM. Returns the exit status: 0, 1 refused (reason
 * on stderr, JSON error on stdout), 2 no answer or lost connection. */
int hf_cli_watch(struct hf_client *client, uint64_t event_id, int json, uint32_t timeout_ms,
		 uint64_t count_max);
#endif
