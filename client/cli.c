/* holdfast: the command-line client, a thin layer over libholdfast (client/holdfast.h).
 *
 *   holdfast [--host HOST:PORT] [--json] [--timeout MS] [--token-file FILE] COMMAND
 *
 * HOST:PORT is any shard of any node (default 127.0.0.1:7070): the CLI fetches the slot map there
 * and sends each command to the shard that owns its event. --timeout is the time per attempt (and
 * per connect) in milliseconds (default 2000); a request is resent up to 5 times with the same ids.
 * Global options may also follow the command. Every command takes --help.
 *
 * Exit status: 0 success; 1 the engine refused (a one-line reason on stderr, e.g.
 * "holdfast: hold refused: SEAT_TAKEN (seat 4 already held or booked)"); 2 a usage error or no
 * answer from the engine (a one-line reason on stderr).
 *
 * --json prints exactly one JSON value on stdout, with these stable keys (ids and counts are JSON
 * numbers; 64-bit ids are printed exactly, so parse them as 64-bit integers):
 *   event create  {"event_id","seats","row_width","user_limit","hold_lifetime_s"} (+ sections,
 *                 "user_rate","user_burst" with --user-rate, "waiting_room":true with
 *                 --waiting-room)
 *   event info    {"event_id","seats","row_width","user_limit","hold_lifetime_s","free","held",
 *                  "booked","holds","bookings"} (+ sections)
 *   event delete  {"event_id","deleted":true}
 *   hold          {"event_id","hold_id","user_id","deadline_ms","seats":[...]} (with --section
 *                 also "section":"<name>")
 *   queue, join, room: see client/cli_room.c
 *   extend        {"event_id","hold_id","deadline_ms"}
 *   confirm       {"event_id","booking_id","seats":[...]}
 *   release       {"event_id","hold_id","released":true}
 *   cancel        {"event_id","booking_id","cancelled":true}
 *   avail         {"event_id","seats","free","held","booked"}, with --range also
 *                 "range_first","range_count","range_free" and "free_ranges":[[first,last],...]
 *                 (+ sections)
 *   seats         {"event_id","seats":[{"seat","state":"free"|"held"|"booked","owner_id",
 *                  "user_id"},...]}
 *   watch         one object per line: {"event_id","seq","kind":"held"|"extended"|"booked"|
 *                  "released"|"expired"|"cancelled","hold_id","user_id","deadline_ms",
 *                  "seats":[...]}, or {"event_id","seq","kind":"gap"} (seq: where it resumes)
 *   (+ sections)  for an event with sections: "sections":[{"name","kind":"seated"|"ga","tier",
 *                  "first","count","row_width","free"},...],"tiers":[{"tier","seats","free"},...]
 *   stats         [{"owner","host","port","stats":{"<name>":<value>,...}},...]
 *                 (an owner that did not answer has "error":"<reason>" instead of "stats")
 *   slots         {"epoch","owners":[{"owner","host","port","slots_count","slots":[[first,last],
 *                  ...]},...]}
 *   ping          {"host","port","epoch","rtt_us"}
 *   backup        {"dir","shards":[{"owner","host","port","shard_index","path","sequence"},...]}
 *                 (an owner that refused or did not answer has "error":"<reason>")
 * When the engine refuses, stdout gets {"error":"<STATUS_NAME>","status":<n>,"detail":<n>,
 * "message":"<reason>"} and stderr the one-line reason; usage and connection errors print only
 * the stderr line.
 *
 * Readable output (the default) is for people and may change; scripts should use --json. */
#include "client/holdfast.h"
#include "client/cli_top.h"

#include "base/assert.h"
#include "base/clock.h"
#include "client/cli_cluster.h"
#include "client/cli_inventory.h"
#include "client/cli_room.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_OK	     0
#define EXIT_REFUSED 1
#define EXIT_USAGE   2

#define DEFAULT_HOST	   "127.0.0.1:7070"
#define DEFAULT_TIMEOUT_MS 2000u
#define TIMEOUT_MS_MAX	   (3600u * 1000u)
#define RETRIES_MAX	   5u
/* The overall deadline of a command (every attempt of --timeout) stays within libholdfast's bound
 * on deadline_ms (24 h). */
HF_STATIC_ASSERT((uint64_t)TIMEOUT_MS_MAX *(RETRIES_MAX + 1u) <= 24ull * 3600u * 1000u,
		 "the longest --timeout times every attempt is a valid deadline_ms");
#define POSITIONALS_MAX	      1100u /* `seats` takes up to HF_SEAT_STATUS_SEATS_MAX seats */
#define U64_DIGITS_MAX	      20u
#define SLOT_RANGES_SHOWN_MAX 16u /* readable `slots` lists this many ranges per owner */

struct cli {
	const char *host_port;
	int json;
	uint32_t timeout_ms;
	const char *what; /* the command, for messages: "hold", "event create" */
	struct hf_client *client;
	const char *etcd;    /* --etcd URL[,URL...]: the cluster commands only */
	const char *cluster; /* --cluster NAME: the cluster commands only */
};

/* Shared big structs: one command runs per process. */
static struct hf_client_reply rep;
static struct hf_client_reply rep2;
static uint32_t seat_list[HF_SEAT_STATUS_SEATS_MAX];

/* ---- Messages ---- */

__attribute__((format(printf, 2, 3))) static int usage_error(const struct cli *cli, const char *fmt,
							     ...)
{
	va_list ap;
	fprintf(stderr, "holdfast: ");
	if (cli->what != NULL)
		fprintf(stderr, "%s: ", cli->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cli->what != NULL)
		fprintf(stderr, " (see holdfast %s --help)\n", cli->what);
	else
		fprintf(stderr, " (see holdfast --help)\n");
	return EXIT_USAGE;
}

static int no_answer(const struct cli *cli, int error, const char *hint)
{
	HF_ASSERT(error < 0);
	fprintf(stderr, "holdfast: %s: no answer from the engine: %s%s\n", cli->what,
		strerror(-error), hint != NULL ? hint : "");
	return EXIT_USAGE;
}

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* The reason behind a refusal, with the detail the status gives. */
static void refusal_reason(const struct hf_client_reply *r, char *buf, size_t size)
{
	switch (r->status) {
	case HF_SEAT_TAKEN:
		snprintf(buf, size, "seat %" PRIu64 " already held or booked", r->detail);
		break;
	case HF_SEAT_RANGE:
		snprintf(buf, size, "seat %" PRIu64 " is outside the event", r->detail);
		break;
	case HF_DUPLICATE_SEAT:
		snprintf(buf, size, "seat %" PRIu64 " listed twice", r->detail);
		break;
	case HF_USER_LIMIT:
		snprintf(buf, size, "per-user seat limit reached; the user has %" PRIu64 " seats",
			 r->detail);
		break;
	case HF_MOVED:
		snprintf(buf, size, "event is served by another shard (map epoch %" PRIu64 ")",
			 r->detail);
		break;
	case HF_EVENT_HAS_HOLDS:
		snprintf(buf, size,
			 "the event has %" PRIu64 " live holds; --force deletes it anyway",
			 r->detail);
		break;
	default:
		snprintf(buf, size, "%s", hf_status_message(r->status));
		break;
	}
}

static int refused(const struct cli *cli, const struct hf_client_reply *r)
{
	char reason[160];
	HF_ASSERT(r->status != HF_OK);
	refusal_reason(r, reason, sizeof(reason));
	fprintf(stderr, "holdfast: %s refused: %s (%s)\n", cli->what, hf_status_name(r->status),
		reason);
	if (cli->json) {
		printf("{\"error\":");
		json_string(hf_status_name(r->status));
		printf(",\"status\":%u,\"detail\":%" PRIu64 ",\"message\":", r->status, r->detail);
		json_string(reason);
		printf("}\n");
	}
	return EXIT_REFUSED;
}

/* 0 when the call got an OK answer; otherwise prints why and returns the exit status. */
static int check(const struct cli *cli, int rc, const struct hf_client_reply *r, const char *hint)
{
	if (rc != 0)
		return no_answer(cli, rc, hint);
	if (r->status != HF_OK)
		return refused(cli, r);
	return 0;
}

/* ---- Numbers and lists ---- */

/* Decimal digits only: no sign, no spaces, no base prefix, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	if (len == 0 || len > U64_DIGITS_MAX)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10u)
			return -1;
		v = v * 10u + d;
	}
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	if (parse_u64(s, &v) != 0 || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_id(const struct cli *cli, const char *s, const char *name, uint64_t *out)
{
	if (parse_u64(s, out) != 0 || *out == 0)
		return usage_error(cli, "%s '%s' is not an integer in 1..%" PRIu64, name, s,
				   UINT64_MAX);
	return 0;
}

/* One seat "N" or an inclusive range "A-B" (A <= B), appended to seats. */
static int parse_seat_item(const char *item, size_t len, uint32_t *seats, uint32_t *count,
			   uint32_t max)
{
	char buf[2 * U64_DIGITS_MAX + 2];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, item, len);
	buf[len] = '\0';
	char *dash = strchr(buf, '-');
	uint32_t first;
	uint32_t last;
	if (dash == NULL) {
		if (parse_u32(buf, 0, UINT32_MAX, &first) != 0)
			return -1;
		last = first;
	} else {
		*dash = '\0';
		if (parse_u32(buf, 0, UINT32_MAX, &first) != 0 ||
		    parse_u32(dash + 1, 0, UINT32_MAX, &last) != 0 || first > last)
			return -1;
	}
	if ((uint64_t)last - first + 1u > (uint64_t)(max - *count))
		return -2;
	for (uint64_t s = first; s <= last; s++)
		seats[(*count)++] = (uint32_t)s;
	return 0;
}

/* "3,4,5" or "10-12,15" into seats (at most max). Returns 0, -1 for junk, -2 for too many. */
static int parse_seat_list(const char *s, uint32_t *seats, uint32_t *count, uint32_t max)
{
	const char *p = s;
	/* Bounded by the string: every pass consumes one item and its comma. */
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		int rc = parse_seat_item(p, len, seats, count, max);
		if (rc != 0)
			return rc;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a;
	uint32_t y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Prints sorted seats as compact ranges: "0-9,12,15-20". */
static void print_ranges(const uint32_t *seats, uint32_t count)
{
	uint32_t i = 0;
	while (i < count) {
		uint32_t j = i;
		while (j + 1 < count && seats[j + 1] == seats[j] + 1)
			j++;
		printf("%s%u", i > 0 ? "," : "", seats[i]);
		if (j > i)
			printf("-%u", seats[j]);
		i = j + 1;
	}
}

static void print_seat_array(const uint32_t *seats, uint32_t count)
{
	putchar('[');
	for (uint32_t i = 0; i < count; i++)
		printf("%s%u", i > 0 ? "," : "", seats[i]);
	putchar(']');
}

static void print_time(uint64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	printf("%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	       tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000u));
}

/* ---- Command-line options ---- */

struct opt {
	const char *name; /* "--seats" */
	int takes_value;
	const char *value; /* set when seen */
	int seen;
};

struct args {
	const char *positional[POSITIONALS_MAX];
	uint32_t positional_count;
	int help;
};

/* Splits a command's arguments into its options (table opts) and positionals. Returns 0 or the
 * usage exit status (already reported). */
static int args_parse(const struct cli *cli, int argc, char **argv, struct opt *opts,
		      size_t opts_count, struct args *out)
{
	out->positional_count = 0;
	out->help = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			out->help = 1;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (out->positional_count >= POSITIONALS_MAX)
				return usage_error(cli, "too many arguments");
			out->positional[out->positional_count++] = a;
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t name_len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		struct opt *o = NULL;
		for (size_t k = 0; k < opts_count; k++) {
			if (strlen(opts[k].name) == name_len &&
			    strncmp(opts[k].name, a, name_len) == 0)
				o = &opts[k];
		}
		if (o == NULL)
			return usage_error(cli, "unknown option '%.*s'", (int)name_len, a);
		if (o->seen)
			return usage_error(cli, "%s given twice", o->name);
		o->seen = 1;
		if (!o->takes_value) {
			if (eq != NULL)
				return usage_error(cli, "%s takes no value", o->name);
			continue;
		}
		if (eq != NULL) {
			o->value = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error(cli, "%s needs a value", o->name);
			o->value = argv[++i];
		}
	}
	return 0;
}

/* ---- Help ---- */

static const char usage_text[] =
    "usage: holdfast [--host HOST:PORT] [--json] [--timeout MS] [--token-file FILE] COMMAND "
    "[ARGS]\n"
    "\n"
    "Talks to a holdfast cluster: HOST:PORT is any shard of any node (default " DEFAULT_HOST ");\n"
    "each command goes to the shard that owns its event.\n"
    "\n"
    "commands:\n"
    "  event create EVENT --seats N [--row-width W] [--user-limit L] [--hold-lifetime SECONDS]\n"
    "               [--section NAME:FIRST:COUNT[:TIER[:ROW_WIDTH]]]... [--ga "
    "NAME:CAPACITY[:TIER]]...\n"
    "  event info EVENT\n"
    "  event delete EVENT [--force]\n"
    "  hold EVENT --user U (--seats 3,4,5 | --best N [--section S | --tier T] [--any]\n"
    "               | --section S --quantity N) [--no-orphan] [--ttl SECONDS] [--id HOLD_ID]\n"
    "  extend EVENT HOLD_ID --ttl SECONDS\n"
    "  confirm EVENT HOLD_ID\n"
    "  release EVENT HOLD_ID\n"
    "  cancel EVENT BOOKING_ID\n"
    "  avail EVENT [--range FIRST:COUNT]\n"
    "  seats EVENT SEAT...\n"
    "  holds EVENT --user U\n"
    "  bookings EVENT --user U\n"
    "  watch EVENT [--count N]\n"
    "  stats\n"
    "  top [--interval MS] [--iterations N]\n"
    "  slots\n"
    "  ping\n"
    "  backup --to DIR\n"
    "\n"
    "options:\n"
    "  --host HOST:PORT   a shard to fetch the slot map from (default " DEFAULT_HOST ")\n"
    "  --json             print one JSON value on stdout (keys documented in client/cli.c)\n"
    "  --timeout MS       time per attempt and per connect, 1..3600000 (default 2000)\n"
    "  --token-file FILE  the token for a holdfastd with --auth-file (first line of FILE);\n"
    "                     or the environment variable HOLDFAST_TOKEN\n"
    "  --etcd URL[,URL...]  the cluster's etcd endpoints (cluster commands, below)\n"
    "  --cluster NAME     the cluster's name in etcd (default \"" HF_CLI_CLUSTER_DEFAULT "\")\n"
    "  --help             this text; `holdfast COMMAND --help` for one command\n"
    "  --version          print the version and the protocol version\n"
    "\n"
    "exit status: 0 success, 1 the engine refused (reason on stderr), 2 usage or connection "
    "error\n";

struct command_help {
	const char *name;
	const char *text;
};

static const struct command_help helps[] = {
    {"event create",
     "usage: holdfast event create EVENT --seats N [--row-width W] [--user-limit L]\n"
     "                             [--hold-lifetime SECONDS] [--user-rate R[:B]]\n"
     "Creates event EVENT (a non-zero id) with N seats (1..16777216), numbered from 0.\n"
     "  --row-width W        seats per row, for best-available picks (default: one row)\n"
     "  --user-limit L       seats one user may hold and own together (default: no limit)\n"
     "  --hold-lifetime S    the longest a hold may live, 1..86400 s (default: the engine's)\n"
     "  --user-rate R[:B]    each user may send R holds per second for this event, B at once\n"
     "                       (default B = R; without it the server's --user-rate applies)\n"
     "  --waiting-room       turn the event's waiting room on (see holdfast room --help)\n"
     "  --section NAME:FIRST:COUNT[:TIER[:ROW_WIDTH]]  (repeatable) a named range of the\n"
     "                       numbered seats with its price tier (0..255, default 0) and its\n"
     "                       own row width (default: the event's rows)\n"
     "  --ga NAME:CAPACITY[:TIER]  (repeatable) a general admission area of CAPACITY places,\n"
     "                       held by quantity; placed after the N numbered seats\n"
     "At most 16 sections in all; names 1..15 bytes, unique.\n"
     "Creating the same event again with the same parameters succeeds and changes nothing.\n"},
    {"event info", "usage: holdfast event info EVENT\n"
		   "Prints the event's parameters and its free, held and booked seat counts.\n"},
    {"event delete",
     "usage: holdfast event delete EVENT [--force]\n"
     "Deletes event EVENT with its holds, bookings and remembered ids; its memory and its\n"
     "records on disk are freed for new events. Needs an admin token on a server with tokens.\n"
     "  --force   delete even while the event has live holds (refused otherwise:\n"
     "            EVENT_HAS_HOLDS, with their count)\n"},
    {"hold",
     "usage: holdfast hold EVENT --user U (--seats LIST | --best N [--section S | --tier T]\n"
     "                     [--any] | --section S --quantity N) [--no-orphan] [--ttl SECONDS]\n"
     "                     [--id HOLD_ID] [--token TOKEN]\n"
     "Holds seats for user U until a deadline. All or nothing.\n"
     "  --seats LIST   the seats, e.g. 3,4,5 or 10-12 (at most 64)\n"
     "  --best N       the N adjacent free seats of one row with the lowest numbers\n"
     "  --section S    --best within section S; with --quantity N: N places of GA section S\n"
     "  --tier T       --best within the sections of price tier T\n"
     "  --any          with --best: N free seats, adjacent or not, in as few rows as possible\n"
     "  --no-orphan    refuse a pick that leaves a lone free seat in a row\n"
     "  --ttl SECONDS  how long the hold lives, 1..86400 (default and upper bound: the\n"
     "                 event's hold lifetime)\n"
     "  --id HOLD_ID   the hold id (idempotency key); without it one is generated and\n"
     "                 printed: resend with the same --id to retry safely\n"
     "  --token TOKEN  the admission token `holdfast join` printed (waiting-room events)\n"},
    {"extend", "usage: holdfast extend EVENT HOLD_ID --ttl SECONDS\n"
	       "Moves the hold's deadline to now + SECONDS (never past its lifetime).\n"},
    {"confirm", "usage: holdfast confirm EVENT HOLD_ID\n"
		"Turns a live hold into a booking with the same id and seats.\n"},
    {"release", "usage: holdfast release EVENT HOLD_ID\n"
		"Frees a hold's seats.\n"},
    {"cancel", "usage: holdfast cancel EVENT BOOKING_ID\n"
	       "Cancels a booking and frees its seats.\n"},
    {"avail", "usage: holdfast avail EVENT [--range FIRST:COUNT]\n"
	      "Prints the free, held and booked counts; with --range, also the free seats among\n"
	      "FIRST .. FIRST+COUNT-1 (COUNT 1..1048576) as compact ranges like 0-9,12,15-20.\n"},
    {"holds", "usage: holdfast holds EVENT --user U\n"
	      "  the user's live holds of the event: ids, seats, deadlines (every page)\n"},
    {"bookings", "usage: holdfast bookings EVENT --user U\n"
		 "  the user's bookings of the event: ids and seats (every page)\n"},
    {"seats", "usage: holdfast seats EVENT SEAT...\n"
	      "Prints each seat's state (free, held, booked) and owner (hold or booking id).\n"
	      "SEAT may be a range A-B; at most 1024 seats.\n"},
    {"watch",
     "usage: holdfast watch EVENT [--count N]\n"
     "Prints every change of the event's seats as it happens (held, extended, booked,\n"
     "released, expired, cancelled), once durable, with its sequence number; a gap line\n"
     "means changes were dropped because this watcher fell behind (re-read with avail).\n"
     "With --json, one JSON object per line. Runs until Ctrl-C, or N changes (--count).\n"},
    {"stats", "usage: holdfast stats\n"
	      "Prints the totals of every node (counters summed over its shards), then the\n"
	      "counters of every shard of every node in the slot map.\n"},
    {"top", "usage: holdfast top [--interval MS] [--iterations N]\n"
	    "A live view of every shard of the slot map, redrawn every MS milliseconds (default\n"
	    "1000, 100..60000): ops/s by opcode, error replies/s, seats free/held/booked,\n"
	    "connections and the average sync time of the interval's commits; totals per node\n"
	    "first. q quits; --iterations stops after N frames.\n"},
    {"slots", "usage: holdfast slots\n"
	      "Prints the slot map: its epoch, the owners, and the slots of each owner.\n"},
    {"ping", "usage: holdfast ping\n"
	     "Sends PING to the shard of --host and prints the round trip time.\n"},
    {"backup", "usage: holdfast backup --to DIR\n"
	       "Asks every shard in the slot map to write a checkpoint into DIR/shard-<index> on\n"
	       "its own machine (DIR is made absolute against the current directory), and prints\n"
	       "where each shard's checkpoint went.\n"},
};

static int print_help(const char *name)
{
	for (size_t i = 0; i < HF_ARRAY_SIZE(helps); i++) {
		if (strcmp(helps[i].name, name) == 0) {
			fputs(helps[i].text, stdout);
			return EXIT_OK;
		}
	}
	fputs(usage_text, stdout);
	return EXIT_OK;
}

/* ---- Connecting ---- */

static int cli_connect(struct cli *cli)
{
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = cli->timeout_ms;
	o.connect_timeout_ms = cli->timeout_ms;
	o.retries_max = RETRIES_MAX;
	/* --timeout is per attempt: the overall deadline lets every attempt run its course. */
	o.deadline_ms = cli->timeout_ms * (RETRIES_MAX + 1u);
	o.pipeline_max = 16;
	o.auth_token = getenv("HOLDFAST_TOKEN"); /* or --token-file's, which set it */
	int rc = hf_client_open(cli->host_port, &o, &cli->client);
	if (rc == -EINVAL)
		return usage_error(cli, "--host '%s' is not HOST:PORT", cli->host_port);
	if (rc == -EACCES) {
		fprintf(stderr,
			"holdfast: %s refused the token (UNAUTHORIZED): give one with "
			"--token-file FILE or HOLDFAST_TOKEN\n",
			cli->host_port);
		return EXIT_USAGE;
	}
	if (rc != 0) {
		fprintf(stderr, "holdfast: cannot get the slot map from %s: %s\n", cli->host_port,
			strerror(-rc));
		return EXIT_USAGE;
	}
	return 0;
}

static int positionals_exact(const struct cli *cli, const struct args *a, uint32_t n,
			     const char *names)
{
	if (a->positional_count != n)
		return usage_error(cli, "expected %s", names);
	return 0;
}

/* ---- Commands ---- */

/* The waiting room's options of `event create` (--waiting-room) and `hold` (--token TOKEN), taken
 * out of argv before the command's own parsing (cli_room.c has the room's commands). */
static struct {
	int waiting_room;
	const char *token;
} room_args;

/* Removes the room options from argv; returns the new argc, or -1 for --token without a value. */
static int room_args_take(int argc, char **argv)
{
	int kept = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--waiting-room") == 0) {
			room_args.waiting_room = 1;
		} else if (strcmp(argv[i], "--token") == 0) {
			if (i + 1 >= argc)
				return -1;
			room_args.token = argv[++i];
		} else {
			argv[kept++] = argv[i];
		}
	}
	return kept;
}

/* "RATE[:BURST]" of --user-rate, each 1 .. HF_USER_RATE_MAX; burst 0 (the rate) when absent. */
static int parse_rate(const char *text, uint32_t *rate, uint32_t *burst)
{
	char buf[32];
	size_t n = strnlen(text, sizeof(buf));
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, text, n + 1);
	char *colon = strchr(buf, ':');
	*burst = 0;
	if (colon != NULL) {
		*colon = '\0';
		if (parse_u32(colon + 1, 1, HF_USER_RATE_MAX, burst) != 0)
			return -1;
	}
	return parse_u32(buf, 1, HF_USER_RATE_MAX, rate);
}

/* What `event create` prints once the event exists (numbered: the seats before the GA places). */
static void event_create_print(struct cli *cli, const struct hf_req_create_event *ce,
			       uint32_t numbered)
{
	/* The engine fills in its default lifetime: ask for the effective one. */
	uint32_t lifetime_s = ce->hold_lifetime_max_s;
	if (hf_client_event_info(cli->client, ce->event_id, &rep2) == 0 && rep2.status == HF_OK)
		lifetime_s = rep2.event_info.hold_lifetime_max_s;
	int sections = ce->sections_count > 0 &&
		       hf_client_event_sections(cli->client, ce->event_id, &rep2) == 0 &&
		       rep2.status == HF_OK;
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64 ",\"seats\":%u,\"row_width\":%u,\"user_limit\":%u,"
		       "\"hold_lifetime_s\":%u",
		       ce->event_id, ce->seats_count, ce->row_width, ce->user_limit, lifetime_s);
		if (ce->user_rate != 0)
			printf(",\"user_rate\":%u,\"user_burst\":%u", ce->user_rate,
			       ce->user_burst != 0 ? ce->user_burst : ce->user_rate);
		if (sections) {
			putchar(',');
			hf_cli_sections_print(rep2.event_sections, 1);
		}
		printf("%s}\n", room_args.waiting_room ? ",\"waiting_room\":true" : "");
		return;
	}
	printf("event %" PRIu64 " created: %u seats, ", ce->event_id, ce->seats_count);
	if (numbered != ce->seats_count)
		printf("%u numbered and %u GA places, ", numbered, ce->seats_count - numbered);
	if (ce->row_width != 0)
		printf("rows of %u, ", ce->row_width);
	else
		printf("one row, ");
	if (ce->user_limit != 0)
		printf("user limit %u, ", ce->user_limit);
	else
		printf("no user limit, ");
	if (ce->user_rate != 0)
		printf("user rate %u holds/s (bursts of %u), ", ce->user_rate,
		       ce->user_burst != 0 ? ce->user_burst : ce->user_rate);
	printf("hold lifetime %u s%s\n", lifetime_s,
	       room_args.waiting_room ? ", waiting room on" : "");
	if (sections)
		hf_cli_sections_print(rep2.event_sections, 0);
}

static int cmd_event_create(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {
	    {"--seats", 1, NULL, 0},	  {"--row-width", 1, NULL, 0},
	    {"--user-limit", 1, NULL, 0}, {"--hold-lifetime", 1, NULL, 0},
	    {"--user-rate", 1, NULL, 0},
	};
	static struct args a;
	static struct hf_req_create_event ce;
	char err[256];
	if (hf_cli_sections_take(&argc, argv, &ce, err, sizeof(err)) != 0)
		return usage_error(cli, "%s", err);
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &ce.event_id)) != 0)
		return rc;
	if (!opts[0].seen)
		return usage_error(cli, "--seats is required");
	if (parse_u32(opts[0].value, 1, HF_EVENT_SEATS_MAX, &ce.seats_count) != 0)
		return usage_error(cli, "--seats '%s' is not in 1..%u", opts[0].value,
				   HF_EVENT_SEATS_MAX);
	if (opts[1].seen && parse_u32(opts[1].value, 1, ce.seats_count, &ce.row_width) != 0)
		return usage_error(cli, "--row-width '%s' is not in 1..%u", opts[1].value,
				   ce.seats_count);
	if (opts[2].seen && parse_u32(opts[2].value, 1, UINT32_MAX, &ce.user_limit) != 0)
		return usage_error(cli, "--user-limit '%s' is not a positive integer",
				   opts[2].value);
	if (opts[3].seen &&
	    parse_u32(opts[3].value, 1, HF_HOLD_LIFETIME_MAX_S, &ce.hold_lifetime_max_s) != 0)
		return usage_error(cli, "--hold-lifetime '%s' is not in 1..%u", opts[3].value,
				   HF_HOLD_LIFETIME_MAX_S);
	if (opts[4].seen && parse_rate(opts[4].value, &ce.user_rate, &ce.user_burst) != 0)
		return usage_error(cli, "--user-rate '%s' is not RATE[:BURST], each in 1..%u",
				   opts[4].value, HF_USER_RATE_MAX);
	uint32_t numbered = ce.seats_count;
	if (hf_cli_sections_place(&ce, err, sizeof(err)) != 0)
		return usage_error(cli, "%s", err);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	rc = hf_client_create_event(cli->client, &ce, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	if (room_args.waiting_room) {
		/* The waiting room, on with the defaults (holdfast room EVENT ... changes them). */
		struct hf_room_params room;
		hf_cli_room_params_default(&room);
		rc = hf_client_room_set(cli->client, ce.event_id, &room, &rep);
		if ((rc = check(cli, rc, &rep, NULL)) != 0)
			return rc;
	}
	event_create_print(cli, &ce, numbered);
	return EXIT_OK;
}

static int cmd_event_info(struct cli *cli, int argc, char **argv)
{
	static struct args a;
	int rc = args_parse(cli, argc, argv, NULL, 0, &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	uint64_t event_id;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &event_id)) != 0)
		return rc;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	rc = hf_client_event_info(cli->client, event_id, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	const struct hf_rep_event_info *e = &rep.event_info;
	rc = hf_client_event_sections(cli->client, event_id, &rep2);
	if ((rc = check(cli, rc, &rep2, NULL)) != 0)
		return rc;
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64 ",\"seats\":%u,\"row_width\":%u,\"user_limit\":%u,"
		       "\"hold_lifetime_s\":%u,\"free\":%u,\"held\":%u,\"booked\":%u,\"holds\":%u,"
		       "\"bookings\":%u",
		       e->event_id, e->seats_count, e->row_width, e->user_limit,
		       e->hold_lifetime_max_s, e->free_count, e->held_count, e->booked_count,
		       e->holds_count, e->bookings_count);
		if (rep2.event_sections->sections_count > 0) {
			putchar(',');
			hf_cli_sections_print(rep2.event_sections, 1);
		}
		printf("}\n");
		return EXIT_OK;
	}
	printf("event %" PRIu64 ": %u seats, ", e->event_id, e->seats_count);
	if (e->row_width != 0)
		printf("rows of %u, ", e->row_width);
	else
		printf("one row, ");
	if (e->user_limit != 0)
		printf("user limit %u, ", e->user_limit);
	else
		printf("no user limit, ");
	printf("hold lifetime %u s\n", e->hold_lifetime_max_s);
	printf("free %u, held %u, booked %u; %u live holds, %u bookings\n", e->free_count,
	       e->held_count, e->booked_count, e->holds_count, e->bookings_count);
	hf_cli_sections_print(rep2.event_sections, 0);
	return EXIT_OK;
}

static int cmd_event_delete(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {{"--force", 0, NULL, 0}};
	static struct args a;
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	struct hf_request req = {.opcode = HF_OP_EVENT_DELETE};
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &req.event_delete.event_id)) != 0)
		return rc;
	req.event_delete.flags = opts[0].seen ? HF_EVENT_DELETE_FORCE : 0;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	rc = hf_client_call(cli->client, &req, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	if (cli->json)
		printf("{\"event_id\":%" PRIu64 ",\"deleted\":true}\n", req.event_delete.event_id);
	else
		printf("event %" PRIu64 " deleted\n", req.event_delete.event_id);
	return EXIT_OK;
}

static int cmd_event(struct cli *cli, int argc, char **argv)
{
	if (argc < 1) {
		cli->what = "event";
		return usage_error(cli, "expected 'create', 'info' or 'delete'");
	}
	if (strcmp(argv[0], "delete") == 0) {
		cli->what = "event delete";
		return cmd_event_delete(cli, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "create") == 0) {
		cli->what = "event create";
		return cmd_event_create(cli, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "info") == 0) {
		cli->what = "event info";
		return cmd_event_info(cli, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		print_help("event create");
		print_help("event info");
		return print_help("event delete");
	}
	cli->what = "event";
	return usage_error(cli, "unknown subcommand '%s' (expected 'create', 'info' or 'delete')",
			   argv[0]);
}

static int parse_ttl(const struct cli *cli, const struct opt *o, uint32_t *ttl_ms_out)
{
	uint32_t ttl_s;
	if (parse_u32(o->value, 1, HF_HOLD_LIFETIME_MAX_S, &ttl_s) != 0)
		return usage_error(cli, "--ttl '%s' is not in 1..%u seconds", o->value,
				   HF_HOLD_LIFETIME_MAX_S);
	*ttl_ms_out = ttl_s * 1000u;
	return 0;
}

/* What `hold` asks for, from its options. */
struct hold_args {
	struct hf_req_hold req;
	const char *section; /* --section NAME, resolved once connected */
	int ga;		     /* the section is general admission */
};

/* --seats / --best / --quantity and their modifiers into h (no connection needed). */
static int hold_parse_pick(const struct cli *cli, struct opt *o, struct hold_args *h)
{
	/* o: 1 --seats, 2 --best, 5 --section, 6 --tier, 7 --any, 8 --no-orphan, 9 --quantity */
	if (o[1].seen + o[2].seen + o[9].seen != 1)
		return usage_error(cli, "give exactly one of --seats LIST, --best N and "
					"--section NAME --quantity N");
	if (o[5].seen && o[6].seen)
		return usage_error(cli, "give at most one of --section and --tier");
	if (o[8].seen)
		h->req.flags |= HF_HOLD_FLAG_NO_ORPHAN;
	if (o[1].seen) {
		if (o[5].seen || o[6].seen || o[7].seen)
			return usage_error(cli, "--seats takes no --section, --tier or --any");
		int rc = parse_seat_list(o[1].value, h->req.seats, &h->req.seats_count,
					 HF_HOLD_SEATS_MAX);
		if (rc == -2)
			return usage_error(cli, "--seats lists more than %u seats",
					   HF_HOLD_SEATS_MAX);
		if (rc != 0)
			return usage_error(cli, "--seats '%s' is not a list like 3,4,5 or 10-12",
					   o[1].value);
		h->req.mode = HF_HOLD_EXPLICIT;
		return 0;
	}
	const struct opt *n = o[2].seen ? &o[2] : &o[9];
	if (parse_u32(n->value, 1, HF_HOLD_SEATS_MAX, &h->req.seats_count) != 0)
		return usage_error(cli, "%s '%s' is not in 1..%u", n->name, n->value,
				   HF_HOLD_SEATS_MAX);
	if (o[9].seen && !o[5].seen)
		return usage_error(cli, "--quantity needs --section NAME (a GA section)");
	if (o[9].seen && (o[6].seen || o[7].seen))
		return usage_error(cli, "--quantity takes no --tier or --any");
	h->req.mode = o[7].seen ? HF_HOLD_ANY : HF_HOLD_BEST;
	if (o[5].seen)
		h->section = o[5].value;
	if (o[6].seen) {
		uint32_t tier;
		if (parse_u32(o[6].value, 0, 255, &tier) != 0)
			return usage_error(cli, "--tier '%s' is not in 0..255", o[6].value);
		h->req.flags |= HF_HOLD_FLAG_TIER;
		h->req.scope = (uint16_t)tier;
	}
	return 0;
}

/* --section NAME: its scope, from the event's sections. */
static int hold_resolve_section(struct cli *cli, struct hold_args *h)
{
	if (h->section == NULL)
		return 0;
	int rc = hf_client_event_sections(cli->client, h->req.event_id, &rep2);
	if ((rc = check(cli, rc, &rep2, NULL)) != 0)
		return rc;
	h->req.scope = hf_cli_section_scope(rep2.event_sections, h->section);
	if (h->req.scope == 0) {
		fprintf(stderr, "holdfast: %s refused: event %" PRIu64 " has no section '%s'\n",
			cli->what, h->req.event_id, h->section);
		if (cli->json) {
			printf("{\"error\":\"NO_SECTION\",\"status\":%u,\"detail\":0,\"message\":",
			       HF_ERR_INVALID);
			hf_cli_json_string("no such section");
			printf("}\n");
		}
		return EXIT_REFUSED;
	}
	/* Kept now: rep2 points into client memory that the HOLD reply reuses. */
	h->ga = rep2.event_sections->sections[h->req.scope - 1u].section.kind == HF_SECTION_GA;
	return 0;
}

static void hold_print(const struct cli *cli, const struct hold_args *h)
{
	const struct hf_rep_hold *r = &rep.hold;
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64 ",\"hold_id\":%" PRIu64 ",\"user_id\":%" PRIu64
		       ",\"deadline_ms\":%" PRIu64 ",\"seats\":",
		       h->req.event_id, r->hold_id, h->req.user_id, r->deadline_ms);
		print_seat_array(r->seats, r->seats_count);
		if (h->section != NULL) {
			printf(",\"section\":");
			hf_cli_json_string(h->section);
		}
		printf("}\n");
		return;
	}
	uint32_t sorted[HF_HOLD_SEATS_MAX];
	memcpy(sorted, r->seats, sizeof(sorted[0]) * r->seats_count);
	qsort(sorted, r->seats_count, sizeof(sorted[0]), cmp_u32);
	printf("hold %" PRIu64 " on event %" PRIu64 ": ", r->hold_id, h->req.event_id);
	if (h->section != NULL)
		printf("section %s, ", h->section);
	printf("%s ", h->ga ? "places" : "seats");
	print_ranges(sorted, r->seats_count);
	printf(", expires ");
	print_time(r->deadline_ms);
	printf("\n");
}

static int cmd_hold(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {
	    {"--user", 1, NULL, 0},	{"--seats", 1, NULL, 0}, {"--best", 1, NULL, 0},
	    {"--ttl", 1, NULL, 0},	{"--id", 1, NULL, 0},	 {"--section", 1, NULL, 0},
	    {"--tier", 1, NULL, 0},	{"--any", 0, NULL, 0},	 {"--no-orphan", 0, NULL, 0},
	    {"--quantity", 1, NULL, 0},
	};
	static struct args a;
	static struct hold_args h;
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &h.req.event_id)) != 0)
		return rc;
	if (!opts[0].seen)
		return usage_error(cli, "--user is required");
	if (parse_u64(opts[0].value, &h.req.user_id) != 0)
		return usage_error(cli, "--user '%s' is not an integer in 0..%" PRIu64,
				   opts[0].value, UINT64_MAX);
	if ((rc = hold_parse_pick(cli, opts, &h)) != 0)
		return rc;
	/* Without --ttl, ask for the longest: the engine clamps it to the event's lifetime. */
	h.req.ttl_ms = HF_HOLD_LIFETIME_MAX_S * 1000u;
	if (opts[3].seen && (rc = parse_ttl(cli, &opts[3], &h.req.ttl_ms)) != 0)
		return rc;
	if (opts[4].seen && (rc = parse_id(cli, opts[4].value, "--id", &h.req.hold_id)) != 0)
		return rc;
	struct hf_room_token token;
	if (room_args.token != NULL && hf_client_token_parse(room_args.token, &token) != 0)
		return usage_error(cli, "--token is not the 80 hex digits `holdfast join` printed");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if ((rc = hold_resolve_section(cli, &h)) != 0)
		return rc;
	if (h.req.hold_id == 0)
		h.req.hold_id = hf_client_new_id(cli->client);
	if (room_args.token != NULL)
		/* A waiting-room event: the admission token rides with the HOLD. */
		rc = hf_client_hold_with_token(cli->client, &h.req, &token, &rep);
	else
		rc = hf_client_hold(cli->client, &h.req, &rep);
	char hint[64];
	snprintf(hint, sizeof(hint), " (resend with --id %" PRIu64 " to retry safely)",
		 h.req.hold_id);
	if ((rc = check(cli, rc, &rep, hint)) != 0)
		return rc;
	hold_print(cli, &h);
	return EXIT_OK;
}

static int parse_event_and_id(const struct cli *cli, const struct args *a, const char *id_name,
			      uint64_t *event_id, uint64_t *id)
{
	char names[64];
	snprintf(names, sizeof(names), "EVENT %s", id_name);
	int rc = positionals_exact(cli, a, 2, names);
	if (rc == 0)
		rc = parse_id(cli, a->positional[0], "EVENT", event_id);
	if (rc == 0)
		rc = parse_id(cli, a->positional[1], id_name, id);
	return rc;
}

static int cmd_extend(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {{"--ttl", 1, NULL, 0}};
	static struct args a;
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	uint64_t event_id;
	uint64_t hold_id;
	if ((rc = parse_event_and_id(cli, &a, "HOLD_ID", &event_id, &hold_id)) != 0)
		return rc;
	if (!opts[0].seen)
		return usage_error(cli, "--ttl is required");
	uint32_t ttl_ms;
	if ((rc = parse_ttl(cli, &opts[0], &ttl_ms)) != 0)
		return rc;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	rc = hf_client_extend(cli->client, event_id, hold_id, ttl_ms, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64 ",\"hold_id\":%" PRIu64 ",\"deadline_ms\":%" PRIu64
		       "}\n",
		       event_id, hold_id, rep.extend.deadline_ms);
		return EXIT_OK;
	}
	printf("hold %" PRIu64 " on event %" PRIu64 " extended: expires ", hold_id, event_id);
	print_time(rep.extend.deadline_ms);
	printf("\n");
	return EXIT_OK;
}

static int cmd_hold_ref(struct cli *cli, int argc, char **argv, uint8_t opcode)
{
	static struct args a;
	int rc = args_parse(cli, argc, argv, NULL, 0, &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	const char *id_name = opcode == HF_OP_CANCEL ? "BOOKING_ID" : "HOLD_ID";
	uint64_t event_id;
	uint64_t id;
	if ((rc = parse_event_and_id(cli, &a, id_name, &event_id, &id)) != 0)
		return rc;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (opcode == HF_OP_CONFIRM)
		rc = hf_client_confirm(cli->client, event_id, id, &rep);
	else if (opcode == HF_OP_RELEASE)
		rc = hf_client_release(cli->client, event_id, id, &rep);
	else
		rc = hf_client_cancel(cli->client, event_id, id, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	if (opcode == HF_OP_CONFIRM) {
		const struct hf_rep_hold *b = &rep.confirm;
		if (cli->json) {
			printf("{\"event_id\":%" PRIu64 ",\"booking_id\":%" PRIu64 ",\"seats\":",
			       event_id, b->hold_id);
			print_seat_array(b->seats, b->seats_count);
			printf("}\n");
			return EXIT_OK;
		}
		uint32_t sorted[HF_HOLD_SEATS_MAX];
		memcpy(sorted, b->seats, sizeof(sorted[0]) * b->seats_count);
		qsort(sorted, b->seats_count, sizeof(sorted[0]), cmp_u32);
		printf("booking %" PRIu64 " on event %" PRIu64 ": seats ", b->hold_id, event_id);
		print_ranges(sorted, b->seats_count);
		printf("\n");
		return EXIT_OK;
	}
	int release = opcode == HF_OP_RELEASE;
	if (cli->json)
		printf("{\"event_id\":%" PRIu64 ",\"%s\":%" PRIu64 ",\"%s\":true}\n", event_id,
		       release ? "hold_id" : "booking_id", id, release ? "released" : "cancelled");
	else
		printf("%s %" PRIu64 " on event %" PRIu64 " %s\n", release ? "hold" : "booking", id,
		       event_id, release ? "released" : "cancelled");
	return EXIT_OK;
}

/* Walks the free bits of an AVAIL bitmap as ranges, printing them readable or as JSON pairs. */
static void print_free_ranges(const struct hf_rep_avail *av, int json)
{
	uint32_t i = 0;
	int first = 1;
	if (json)
		putchar('[');
	while (i < av->count) {
		if (!hf_avail_bit(av->bitmap, i)) {
			i++;
			continue;
		}
		uint32_t j = i;
		while (j + 1 < av->count && hf_avail_bit(av->bitmap, j + 1))
			j++;
		uint32_t a = av->first + i;
		uint32_t b = av->first + j;
		if (json)
			printf("%s[%u,%u]", first ? "" : ",", a, b);
		else if (a == b)
			printf("%s%u", first ? "" : ",", a);
		else
			printf("%s%u-%u", first ? "" : ",", a, b);
		first = 0;
		i = j + 1;
	}
	if (json)
		putchar(']');
	else if (first)
		printf("none");
}

static uint32_t count_free(const struct hf_rep_avail *av)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < av->count; i++)
		n += (uint32_t)hf_avail_bit(av->bitmap, i);
	return n;
}

/* What `avail` prints: the counts (e), the sections' and, with count > 0, rep's range. */
static void avail_print(const struct cli *cli, uint64_t event_id, const struct hf_rep_event_info *e,
			const struct hf_rep_event_sections *sections, uint32_t count)
{
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64
		       ",\"seats\":%u,\"free\":%u,\"held\":%u,\"booked\":%u",
		       event_id, e->seats_count, e->free_count, e->held_count, e->booked_count);
		if (count > 0) {
			printf(",\"range_first\":%u,\"range_count\":%u,\"range_free\":%u,"
			       "\"free_ranges\":",
			       rep.avail.first, rep.avail.count, count_free(&rep.avail));
			print_free_ranges(&rep.avail, 1);
		}
		if (sections->sections_count > 0) {
			putchar(',');
			hf_cli_sections_print(sections, 1);
		}
		printf("}\n");
		return;
	}
	printf("event %" PRIu64 ": %u free of %u (held %u, booked %u)\n", event_id, e->free_count,
	       e->seats_count, e->held_count, e->booked_count);
	hf_cli_sections_print(sections, 0);
	if (count > 0) {
		printf("free in %u..%u: ", rep.avail.first, rep.avail.first + rep.avail.count - 1);
		print_free_ranges(&rep.avail, 0);
		printf("\n");
	}
}

static int cmd_avail(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {{"--range", 1, NULL, 0}};
	static struct args a;
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	uint64_t event_id;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &event_id)) != 0)
		return rc;
	uint32_t first = 0;
	uint32_t count = 0;
	if (opts[0].seen) {
		char buf[2 * U64_DIGITS_MAX + 2];
		const char *colon = strchr(opts[0].value, ':');
		size_t len = colon != NULL ? (size_t)(colon - opts[0].value) : 0;
		if (colon == NULL || len >= sizeof(buf))
			return usage_error(cli, "--range '%s' is not FIRST:COUNT", opts[0].value);
		memcpy(buf, opts[0].value, len);
		buf[len] = '\0';
		if (parse_u32(buf, 0, UINT32_MAX, &first) != 0 ||
		    parse_u32(colon + 1, 1, HF_AVAIL_RANGE_MAX, &count) != 0 ||
		    (uint64_t)first + count > UINT32_MAX)
			return usage_error(cli,
					   "--range '%s' is not FIRST:COUNT with COUNT in 1..%u",
					   opts[0].value, HF_AVAIL_RANGE_MAX);
	}
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	/* One snapshot for the counts, then the range. */
	rc = hf_client_event_info(cli->client, event_id, &rep2);
	if ((rc = check(cli, rc, &rep2, NULL)) != 0)
		return rc;
	const struct hf_rep_event_info *e = &rep2.event_info;
	/* The sections' counts come in their own snapshot, copied: the next call reuses it. */
	static struct hf_rep_event_sections sections;
	rc = hf_client_event_sections(cli->client, event_id, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	sections = *rep.event_sections;
	if (count > 0) {
		rc = hf_client_avail(cli->client, event_id, first, count, &rep);
		if ((rc = check(cli, rc, &rep, NULL)) != 0)
			return rc;
	}
	avail_print(cli, event_id, e, &sections, count);
	return EXIT_OK;
}

static const char *seat_state_name(uint8_t state)
{
	switch (state) {
	case HF_SEAT_FREE:
		return "free";
	case HF_SEAT_HELD:
		return "held";
	case HF_SEAT_BOOKED:
		return "booked";
	default:
		return "unknown";
	}
}

/* Pages of a user's records kept at most (64 each): a bound on the CLI's work and output. */
#define USER_RECORDS_PAGES_MAX 1024u

static void print_user_record(const struct cli *cli, const struct hf_user_record *r, int first,
			      int holds)
{
	if (cli->json) {
		printf("%s{\"id\":%" PRIu64 ",\"created_ms\":%" PRIu64, first ? "" : ",", r->id,
		       r->created_ms);
		if (holds)
			printf(",\"deadline_ms\":%" PRIu64, r->deadline_ms);
		printf(",\"seats\":[");
		for (uint32_t i = 0; i < r->seats_count; i++)
			printf("%s%u", i > 0 ? "," : "", r->seats[i]);
		printf("]}");
		return;
	}
	printf("%s %" PRIu64 ": seats ", holds ? "hold" : "booking", r->id);
	for (uint32_t i = 0; i < r->seats_count; i++)
		printf("%s%u", i > 0 ? "," : "", r->seats[i]);
	if (holds) {
		printf(", expires ");
		print_time(r->deadline_ms);
	}
	printf("\n");
}

/* holds|bookings EVENT --user U: the user's live holds or bookings, every page. */
static int cmd_user_records(struct cli *cli, int argc, char **argv, uint8_t opcode)
{
	static struct args a;
	struct opt opts[] = {{"--user", 1, NULL, 0}};
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	uint64_t event_id, user_id;
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0 ||
	    (rc = parse_id(cli, a.positional[0], "EVENT", &event_id)) != 0)
		return rc;
	if (!opts[0].seen || parse_u64(opts[0].value, &user_id) != 0)
		return usage_error(cli, "--user U (an integer) is required");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	int holds = opcode == HF_OP_USER_HOLDS;
	struct hf_request req;
	memset(&req, 0, sizeof(req));
	req.opcode = opcode;
	req.user_holds.event_id = event_id;
	req.user_holds.user_id = user_id;
	req.user_holds.limit = HF_USER_RECORDS_PAGE_MAX;
	if (cli->json)
		printf("{\"event_id\":%" PRIu64 ",\"user\":%" PRIu64 ",\"%s\":[", event_id, user_id,
		       holds ? "holds" : "bookings");
	uint32_t shown = 0;
	for (uint32_t page = 0; page < USER_RECORDS_PAGES_MAX; page++) {
		rc = hf_client_call(cli->client, &req, &rep);
		if ((rc = check(cli, rc, &rep, NULL)) != 0)
			return rc;
		const struct hf_client_user_records *u = &rep.user_holds;
		for (uint32_t i = 0; i < u->records_count; i++)
			print_user_record(cli, &u->records[i], shown++ == 0, holds);
		if (u->next_seq == 0 && u->next_id == 0)
			break;
		req.user_holds.cursor_seq = u->next_seq;
		req.user_holds.cursor_id = u->next_id;
	}
	if (cli->json)
		printf("]}\n");
	else if (shown == 0)
		printf("user %" PRIu64 " has no %s in event %" PRIu64 "\n", user_id,
		       holds ? "live holds" : "bookings", event_id);
	return EXIT_OK;
}

static int cmd_seats(struct cli *cli, int argc, char **argv)
{
	static struct args a;
	int rc = args_parse(cli, argc, argv, NULL, 0, &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if (a.positional_count < 2)
		return usage_error(cli, "expected EVENT SEAT...");
	uint64_t event_id;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &event_id)) != 0)
		return rc;
	uint32_t count = 0;
	for (uint32_t i = 1; i < a.positional_count; i++) {
		rc = parse_seat_item(a.positional[i], strlen(a.positional[i]), seat_list, &count,
				     HF_SEAT_STATUS_SEATS_MAX);
		if (rc == -2)
			return usage_error(cli, "more than %u seats", HF_SEAT_STATUS_SEATS_MAX);
		if (rc != 0)
			return usage_error(cli, "SEAT '%s' is not a seat number or a range A-B",
					   a.positional[i]);
	}
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	rc = hf_client_seat_info(cli->client, event_id, seat_list, count, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	const struct hf_client_seat_status *ss = &rep.seat_info;
	if (cli->json) {
		printf("{\"event_id\":%" PRIu64 ",\"seats\":[", event_id);
		for (uint32_t i = 0; i < ss->seats_count; i++)
			printf("%s{\"seat\":%u,\"state\":\"%s\",\"owner_id\":%" PRIu64
			       ",\"user_id\":%" PRIu64 "}",
			       i > 0 ? "," : "", ss->seats[i].seat,
			       seat_state_name(ss->seats[i].state), ss->seats[i].owner_id,
			       ss->seats[i].user_id);
		printf("]}\n");
		return EXIT_OK;
	}
	for (uint32_t i = 0; i < ss->seats_count; i++) {
		const struct hf_seat_info *s = &ss->seats[i];
		if (s->state == HF_SEAT_HELD)
			/* "held (hold N)" as before users were named: scripts grep for it. */
			printf("seat %u: held (hold %" PRIu64 ") by user %" PRIu64 "\n", s->seat,
			       s->owner_id, s->user_id);
		else if (s->state == HF_SEAT_BOOKED)
			printf("seat %u: booked (booking %" PRIu64 ") by user %" PRIu64 "\n",
			       s->seat, s->owner_id, s->user_id);
		else
			printf("seat %u: %s\n", s->seat, seat_state_name(s->state));
	}
	return EXIT_OK;
}

static int cmd_watch(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {{"--count", 1, NULL, 0}};
	static struct args a;
	int rc = args_parse(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &a);
	if (rc != 0)
		return rc;
	if (a.help)
		return print_help(cli->what);
	if ((rc = positionals_exact(cli, &a, 1, "EVENT")) != 0)
		return rc;
	uint64_t event_id;
	if ((rc = parse_id(cli, a.positional[0], "EVENT", &event_id)) != 0)
		return rc;
	uint64_t count = 0;
	if (opts[0].seen && (parse_u64(opts[0].value, &count) != 0 || count == 0))
		return usage_error(cli, "--count '%s' is not a positive integer", opts[0].value);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	return hf_cli_watch(cli->client, event_id, cli->json, cli->timeout_ms, count);
}

static int no_positionals(struct cli *cli, int argc, char **argv, struct opt *opts,
			  size_t opts_count, int *help_out)
{
	static struct args a;
	int rc = args_parse(cli, argc, argv, opts, opts_count, &a);
	if (rc != 0)
		return rc;
	*help_out = a.help;
	if (!a.help && a.positional_count != 0)
		return usage_error(cli, "unexpected argument '%s'", a.positional[0]);
	return 0;
}

/* Why an owner gave no STATS, for the current `stats` command. */
static char stats_why[HF_SLOT_OWNERS_MAX][64];

/* `stats --json`: an array of objects, one per owner (the shape documented above). */
static void stats_print_json(const struct hf_slot_map *m, const struct hf_rep_stats *const *got)
{
	putchar('[');
	for (uint16_t o = 0; o < m->owners_count; o++) {
		printf("%s{\"owner\":%u,\"host\":", o > 0 ? "," : "", o);
		json_string(m->owners[o].host);
		printf(",\"port\":%u,", m->owners[o].port);
		if (got[o] == NULL) {
			printf("\"error\":");
			json_string(stats_why[o]);
			putchar('}');
			continue;
		}
		printf("\"stats\":{");
		for (uint16_t i = 0; i < got[o]->stats_count; i++) {
			printf("%s", i > 0 ? "," : "");
			json_string(got[o]->stats[i].name);
			printf(":%" PRIu64, got[o]->stats[i].value);
		}
		printf("}}");
	}
	printf("]\n");
}

/* Readable `stats`: the totals of every node, then every shard's counters. */
static void stats_print_readable(const struct hf_slot_map *m, const struct hf_rep_stats *const *got)
{
	hf_cli_stats_print_totals(stdout, m, got);
	for (uint16_t o = 0; o < m->owners_count; o++) {
		const struct hf_slot_owner *ow = &m->owners[o];
		printf("%sshard %u (%s:%u)%s\n", o > 0 ? "\n" : "", o, ow->host, ow->port,
		       got[o] == NULL ? ": no answer" : "");
		for (uint16_t i = 0; got[o] != NULL && i < got[o]->stats_count; i++)
			printf("  %-32s %" PRIu64 "\n", got[o]->stats[i].name,
			       got[o]->stats[i].value);
	}
}

static int cmd_stats(struct cli *cli, int argc, char **argv)
{
	int help;
	int rc = no_positionals(cli, argc, argv, NULL, 0, &help);
	if (rc != 0)
		return rc;
	if (help)
		return print_help(cli->what);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	const struct hf_slot_map *m = hf_client_slot_map(cli->client);
	uint16_t owners_count = m->owners_count;
	/* Every answer first: the readable form prints the node totals before the shards. */
	struct hf_rep_stats *all = calloc(owners_count, sizeof(*all));
	const struct hf_rep_stats *got[HF_SLOT_OWNERS_MAX];
	if (all == NULL)
		return no_answer(cli, -ENOMEM, NULL);
	int status = EXIT_OK;
	for (uint16_t o = 0; o < owners_count; o++) {
		const struct hf_slot_owner *ow = &m->owners[o];
		struct hf_request req = {.opcode = HF_OP_STATS};
		rc = hf_client_call_shard(cli->client, o, &req, &rep);
		got[o] = NULL;
		if (rc != 0 || rep.status != HF_OK) {
			const char *why = rc != 0 ? strerror(-rc) : hf_status_name(rep.status);
			fprintf(stderr, "holdfast: stats: shard %u (%s:%u): %s\n", o, ow->host,
				ow->port, why);
			snprintf(stats_why[o], sizeof(stats_why[o]), "%s", why);
			status = rc != 0 ? EXIT_USAGE : EXIT_REFUSED;
			continue;
		}
		/* rep.stats points into client memory valid until the next call: copy it. */
		all[o].stats_count = rep.stats.stats_count;
		memcpy(all[o].stats, rep.stats.stats,
		       rep.stats.stats_count * sizeof(*rep.stats.stats));
		got[o] = &all[o];
	}
	if (cli->json)
		stats_print_json(m, got);
	else
		stats_print_readable(m, got);
	free(all);
	return status;
}

static int cmd_slots(struct cli *cli, int argc, char **argv)
{
	int help;
	int rc = no_positionals(cli, argc, argv, NULL, 0, &help);
	if (rc != 0)
		return rc;
	if (help)
		return print_help(cli->what);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	const struct hf_slot_map *m = hf_client_slot_map(cli->client);
	if (cli->json)
		printf("{\"epoch\":%" PRIu64 ",\"owners\":[", m->epoch);
	else
		printf("slot map epoch %" PRIu64 ": %u owners, %u slots\n", m->epoch,
		       m->owners_count, HF_SLOTS_COUNT);
	for (uint16_t o = 0; o < m->owners_count; o++) {
		uint32_t slots_count = 0;
		for (uint32_t s = 0; s < HF_SLOTS_COUNT; s++)
			slots_count += m->slot_owner[s] == o;
		if (cli->json) {
			printf("%s{\"owner\":%u,\"host\":", o > 0 ? "," : "", o);
			json_string(m->owners[o].host);
			printf(",\"port\":%u,\"slots_count\":%u,\"slots\":[", m->owners[o].port,
			       slots_count);
		} else {
			printf("owner %u %s:%u: %u slots", o, m->owners[o].host, m->owners[o].port,
			       slots_count);
			fputs(slots_count > 0 ? ": " : "", stdout);
		}
		uint32_t ranges_count = 0;
		uint32_t s = 0;
		while (s < HF_SLOTS_COUNT) {
			if (m->slot_owner[s] != o) {
				s++;
				continue;
			}
			uint32_t e = s;
			while (e + 1 < HF_SLOTS_COUNT && m->slot_owner[e + 1] == o)
				e++;
			const char *sep = ranges_count > 0 ? "," : "";
			if (cli->json)
				printf("%s[%u,%u]", sep, s, e);
			else if (ranges_count < SLOT_RANGES_SHOWN_MAX && s == e)
				printf("%s%u", sep, s);
			else if (ranges_count < SLOT_RANGES_SHOWN_MAX)
				printf("%s%u-%u", sep, s, e);
			ranges_count++;
			s = e + 1;
		}
		if (cli->json)
			fputs("]}", stdout);
		else if (ranges_count > SLOT_RANGES_SHOWN_MAX)
			printf(",... (%u ranges; --json lists them all)\n", ranges_count);
		else
			fputs("\n", stdout);
	}
	if (cli->json)
		printf("]}\n");
	return EXIT_OK;
}

static int cmd_ping(struct cli *cli, int argc, char **argv)
{
	int help;
	int rc = no_positionals(cli, argc, argv, NULL, 0, &help);
	if (rc != 0)
		return rc;
	if (help)
		return print_help(cli->what);
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	struct hf_request req = {.opcode = HF_OP_PING};
	/* The first call opens the shard's connection; time the second. */
	rc = hf_client_call(cli->client, &req, &rep);
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	uint64_t t0 = hf_clock_mono_ns();
	rc = hf_client_call(cli->client, &req, &rep);
	uint64_t rtt_ns = hf_clock_mono_ns() - t0;
	if ((rc = check(cli, rc, &rep, NULL)) != 0)
		return rc;
	if (cli->json) {
		char host[HF_HOST_SIZE_MAX + 1];
		const char *colon = strrchr(cli->host_port, ':');
		size_t len = (size_t)(colon - cli->host_port);
		HF_ASSERT(colon != NULL && len <= HF_HOST_SIZE_MAX);
		memcpy(host, cli->host_port, len);
		host[len] = '\0';
		printf("{\"host\":");
		json_string(host);
		printf(",\"port\":%s,\"epoch\":%" PRIu64 ",\"rtt_us\":%" PRIu64 "}\n", colon + 1,
		       rep.ping.epoch, rtt_ns / 1000u);
		return EXIT_OK;
	}
	printf("pong from %s: map epoch %" PRIu64 ", %.3f ms\n", cli->host_port, rep.ping.epoch,
	       (double)rtt_ns / 1e6);
	return EXIT_OK;
}

/* DIR made absolute against the current directory (the shards resolve nothing), without trailing
 * slashes. Returns 0 or the usage exit status. */
static int backup_dir(const struct cli *cli, const char *dir, char *out, size_t size)
{
	char cwd[HF_PATH_SIZE_MAX + 1];
	int n;
	if (dir[0] == '\0')
		return usage_error(cli, "--to needs a directory");
	if (dir[0] == '/') {
		n = snprintf(out, size, "%s", dir);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return usage_error(cli, "cannot read the current directory: %s",
					   strerror(errno));
		n = snprintf(out, size, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, dir);
	}
	if (n < 0 || (size_t)n >= size)
		return usage_error(cli, "--to: the path is longer than %u bytes", HF_PATH_SIZE_MAX);
	size_t len = (size_t)n;
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	return 0;
}

static int cmd_backup(struct cli *cli, int argc, char **argv)
{
	struct opt opts[] = {{"--to", 1, NULL, 0}};
	int help;
	int rc = no_positionals(cli, argc, argv, opts, HF_ARRAY_SIZE(opts), &help);
	if (rc != 0)
		return rc;
	if (help)
		return print_help(cli->what);
	if (!opts[0].seen)
		return usage_error(cli, "--to DIR is required");
	static struct hf_request req;
	req.opcode = HF_OP_BACKUP;
	if ((rc = backup_dir(cli, opts[0].value, req.backup.path, sizeof(req.backup.path))) != 0)
		return rc;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	const struct hf_slot_map *m = hf_client_slot_map(cli->client);
	int status = EXIT_OK;
	if (cli->json) {
		printf("{\"dir\":");
		json_string(req.backup.path);
		printf(",\"shards\":[");
	}
	for (uint16_t o = 0; o < m->owners_count; o++) {
		const struct hf_slot_owner *ow = &m->owners[o];
		/* The checkpoint lands in DIR/shard-<the shard's index on its node>. */
		uint64_t shard_index = o;
		struct hf_request sreq = {.opcode = HF_OP_STATS};
		if (hf_client_call_shard(cli->client, o, &sreq, &rep2) == 0 &&
		    rep2.status == HF_OK) {
			for (uint16_t i = 0; i < rep2.stats.stats_count; i++) {
				if (strcmp(rep2.stats.stats[i].name, "shard_index") == 0)
					shard_index = rep2.stats.stats[i].value;
			}
		}
		rc = hf_client_call_shard(cli->client, o, &req, &rep);
		if (cli->json) {
			printf("%s{\"owner\":%u,\"host\":", o > 0 ? "," : "", o);
			json_string(ow->host);
			printf(",\"port\":%u,\"shard_index\":%" PRIu64 ",", ow->port, shard_index);
		}
		if (rc != 0 || rep.status != HF_OK) {
			char why[160];
			if (rc != 0)
				snprintf(why, sizeof(why), "no answer: %s", strerror(-rc));
			else
				snprintf(why, sizeof(why), "%s (%s)", hf_status_name(rep.status),
					 hf_status_message(rep.status));
			fprintf(stderr, "holdfast: backup refused by shard %u (%s:%u): %s\n", o,
				ow->host, ow->port, why);
			if (cli->json) {
				printf("\"error\":");
				json_string(why);
				putchar('}');
			}
			if (status == EXIT_OK || rc != 0)
				status = rc != 0 ? EXIT_USAGE : EXIT_REFUSED;
			continue;
		}
		char path[HF_PATH_SIZE_MAX + 32];
		snprintf(path, sizeof(path), "%s/shard-%" PRIu64, req.backup.path, shard_index);
		if (cli->json) {
			printf("\"path\":");
			json_string(path);
			printf(",\"sequence\":%" PRIu64 "}", rep.backup.sequence);
		} else {
			printf("shard %u (%s:%u): checkpoint in %s (sequence %" PRIu64 ")\n", o,
			       ow->host, ow->port, path, rep.backup.sequence);
		}
	}
	if (cli->json)
		printf("]}\n");
	return status;
}

/* ---- main ---- */

/* --token-file FILE: its first line is the token (white space around it dropped). It reaches every
 * client the CLI opens through HOLDFAST_TOKEN, which it then overrides. */
static int token_file_read(const struct cli *cli, const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return usage_error(cli, "--token-file %s: %s", path, strerror(errno));
	char line[HF_AUTH_TOKEN_SIZE_MAX + 3];
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	if (got == NULL)
		return usage_error(cli, "--token-file %s: empty", path);
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
			   line[len - 1] == '\t'))
		line[--len] = '\0';
	char *start = line;
	while (*start == ' ' || *start == '\t')
		start++;
	len = strlen(start);
	if (len == 0 || len > HF_AUTH_TOKEN_SIZE_MAX)
		return usage_error(cli, "--token-file %s: the token must have 1..%u bytes", path,
				   HF_AUTH_TOKEN_SIZE_MAX);
	if (setenv("HOLDFAST_TOKEN", start, 1) != 0)
		return usage_error(cli, "--token-file: %s", strerror(errno));
	return 0;
}

/* Takes the global options out of argv wherever they are (before or after the command). Returns
 * 0 or the usage exit status; *help_out is set to 1 for a --help before the command, 2 for
 * --version. */
static int globals_parse(struct cli *cli, int *argc, char **argv, int *help_out)
{
	int out = 1;
	int command_seen = 0;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *value = NULL;
		int is_host = strcmp(a, "--host") == 0 || strncmp(a, "--host=", 7) == 0;
		int is_timeout = strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0;
		int is_etcd = strcmp(a, "--etcd") == 0 || strncmp(a, "--etcd=", 7) == 0;
		int is_cluster = strcmp(a, "--cluster") == 0 || strncmp(a, "--cluster=", 10) == 0;
		if (strcmp(a, "--json") == 0) {
			cli->json = 1;
			continue;
		}
		if (!command_seen && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			*help_out = 1;
			continue;
		}
		if (!command_seen && strcmp(a, "--version") == 0) {
			*help_out = 2;
			continue;
		}
		if (strcmp(a, "--token-file") == 0 || strncmp(a, "--token-file=", 13) == 0) {
			const char *eq = strchr(a, '=');
			if (eq == NULL && i + 1 >= *argc)
				return usage_error(cli, "--token-file needs a value");
			int rc = token_file_read(cli, eq != NULL ? eq + 1 : argv[++i]);
			if (rc != 0)
				return rc;
			continue;
		}
		if (is_etcd || is_cluster) {
			const char *eq = strchr(a, '=');
			if (eq == NULL && i + 1 >= *argc)
				return usage_error(cli, "%s needs a value",
						   is_etcd ? "--etcd" : "--cluster");
			*(is_etcd ? &cli->etcd : &cli->cluster) = eq != NULL ? eq + 1 : argv[++i];
			continue;
		}
		if (is_host || is_timeout) {
			const char *eq = strchr(a, '=');
			if (eq != NULL)
				value = eq + 1;
			else if (i + 1 < *argc)
				value = argv[++i];
			else
				return usage_error(cli, "%s needs a value",
						   is_host ? "--host" : "--timeout");
			if (is_host) {
				cli->host_port = value;
			} else if (parse_u32(value, 1, TIMEOUT_MS_MAX, &cli->timeout_ms) != 0) {
				return usage_error(cli, "--timeout '%s' is not in 1..%u ms", value,
						   TIMEOUT_MS_MAX);
			}
			continue;
		}
		if (strncmp(a, "--", 2) != 0)
			command_seen = 1;
		else if (!command_seen)
			return usage_error(cli, "unknown option '%s'", a);
		argv[out++] = argv[i];
	}
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = {
	    .host_port = DEFAULT_HOST,
	    .json = 0,
	    .timeout_ms = DEFAULT_TIMEOUT_MS,
	    .what = NULL,
	    .client = NULL,
	};
	int help = 0;
	int rc = globals_parse(&cli, &argc, argv, &help);
	if (rc != 0)
		return rc;
	if (help == 2) {
		printf("holdfast %s (protocol %d)\n", HF_VERSION, HF_PROTO_VERSION);
		return EXIT_OK;
	}
	if (help || argc < 2) {
		fputs(usage_text, help ? stdout : stderr);
		fputs(hf_cli_cluster_usage, help ? stdout : stderr);
		fputs(hf_cli_room_usage, help ? stdout : stderr);
		return help ? EXIT_OK : EXIT_USAGE;
	}
	const char *cmd = argv[1];
	int cargc = argc - 2;
	char **cargv = argv + 2;
	cli.what = cmd;
	if (strcmp(cmd, "help") == 0) {
		if (cargc >= 2 && strcmp(cargv[0], "event") == 0) {
			char name[32];
			snprintf(name, sizeof(name), "event %s", cargv[1]);
			return print_help(name);
		}
		return print_help(cargc >= 1 ? cargv[0] : "");
	}
	if (hf_cli_cluster_is_command(cmd)) {
		struct hf_cli_cluster_opts co = {
		    .etcd_urls = cli.etcd,
		    .cluster = cli.cluster != NULL ? cli.cluster : HF_CLI_CLUSTER_DEFAULT,
		    .json = cli.json,
		    .timeout_ms = cli.timeout_ms};
		rc = hf_cli_cluster_main(&co, cmd, cargc, cargv);
	} else if ((strcmp(cmd, "event") == 0 || strcmp(cmd, "hold") == 0) &&
		   (cargc = room_args_take(cargc, cargv)) < 0) {
		rc = usage_error(&cli, "--token needs a value");
	} else if (hf_cli_room_is_command(cmd)) {
		struct hf_cli_room_opts ro = {
		    .host_port = cli.host_port, .timeout_ms = cli.timeout_ms, .json = cli.json};
		rc = hf_cli_room_main(&ro, cmd, cargc, cargv);
	} else if (strcmp(cmd, "event") == 0)
		rc = cmd_event(&cli, cargc, cargv);
	else if (strcmp(cmd, "hold") == 0)
		rc = cmd_hold(&cli, cargc, cargv);
	else if (strcmp(cmd, "extend") == 0)
		rc = cmd_extend(&cli, cargc, cargv);
	else if (strcmp(cmd, "confirm") == 0)
		rc = cmd_hold_ref(&cli, cargc, cargv, HF_OP_CONFIRM);
	else if (strcmp(cmd, "release") == 0)
		rc = cmd_hold_ref(&cli, cargc, cargv, HF_OP_RELEASE);
	else if (strcmp(cmd, "cancel") == 0)
		rc = cmd_hold_ref(&cli, cargc, cargv, HF_OP_CANCEL);
	else if (strcmp(cmd, "avail") == 0)
		rc = cmd_avail(&cli, cargc, cargv);
	else if (strcmp(cmd, "seats") == 0)
		rc = cmd_seats(&cli, cargc, cargv);
	else if (strcmp(cmd, "holds") == 0)
		rc = cmd_user_records(&cli, cargc, cargv, HF_OP_USER_HOLDS);
	else if (strcmp(cmd, "bookings") == 0)
		rc = cmd_user_records(&cli, cargc, cargv, HF_OP_USER_BOOKINGS);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(&cli, cargc, cargv);
	else if (strcmp(cmd, "watch") == 0)
		rc = cmd_watch(&cli, cargc, cargv);
	else if (strcmp(cmd, "top") == 0)
		rc = cargc >= 1 && strcmp(cargv[0], "--help") == 0
			 ? print_help("top")
			 : hf_cli_top(cli.host_port, cli.timeout_ms, cargc, cargv);
	else if (strcmp(cmd, "slots") == 0)
		rc = cmd_slots(&cli, cargc, cargv);
	else if (strcmp(cmd, "ping") == 0)
		rc = cmd_ping(&cli, cargc, cargv);
	else if (strcmp(cmd, "backup") == 0)
		rc = cmd_backup(&cli, cargc, cargv);
	else {
		cli.what = NULL;
		rc = usage_error(&cli, "unknown command '%s'", cmd);
	}
	hf_client_close(cli.client);
	fflush(stdout);
	return rc;
}
