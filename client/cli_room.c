/* The holdfast CLI's waiting-room commands: queue, join, room (see cli_room.h). Each opens its own
 * libholdfast client (the token from HOLDFAST_TOKEN, which --token-file sets) and prints one JSON
 * value with --json:
 *   queue  {"event_id","enabled","policy","shoppers_per_seat","admit_ttl_s","queue_max","length",
 *           "admitted","holding","free","sold_out","rate","estimate","joins","admits","expired",
 *           "refused"}  (rate: admissions per minute; estimate: ms, -1 when unknown)
 *   join   {"event_id","user_id","state":"waiting"|"admitted","position","length","estimate",
 *           "token","expires_ms"}  (token: null while waiting)
 *   room   {"event_id","enabled","policy","shoppers_per_seat","admit_ttl_s","queue_max"} */
#include "client/cli_room.h"

#include "base/assert.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_OK	      0
#define EXIT_REFUSED  1
#define EXIT_USAGE    2
#define ROOM_OPTS_MAX 6u

const char hf_cli_room_usage[] =
    "waiting room:\n"
    "  holdfast queue EVENT\n"
    "  holdfast join EVENT --user U [--wait] [--wait-timeout SECONDS]\n"
    "  holdfast room EVENT (--on | --off) [--shoppers-per-seat X] [--admit-ttl SECONDS]\n"
    "                [--policy requeue|drop] [--queue-max N]\n";

struct room_cli {
	const struct hf_cli_room_opts *o;
	const char *what;
	struct hf_client *client;
};

struct room_opt {
	const char *name;
	int takes_value;
	const char *value;
	int seen;
};

static struct hf_client_reply rep;

static int usage(const struct room_cli *c, const char *msg, const char *arg)
{
	fprintf(stderr, "holdfast: %s: %s%s%s (see holdfast --help)\n", c->what, msg,
		arg != NULL ? " " : "", arg != NULL ? arg : "");
	return EXIT_USAGE;
}

/* EVENT (the one positional) and the options of the table. */
static int parse_args(const struct room_cli *c, int argc, char **argv, struct room_opt *opts,
		      uint32_t opts_count, const char **event_out)
{
	*event_out = NULL;
	for (int i = 0; i < argc; i++) {
		struct room_opt *o = NULL;
		for (uint32_t k = 0; k < opts_count; k++) {
			if (strcmp(argv[i], opts[k].name) == 0)
				o = &opts[k];
		}
		if (o == NULL && strncmp(argv[i], "--", 2) == 0)
			return usage(c, "unknown option", argv[i]);
		if (o == NULL) {
			if (*event_out != NULL)
				return usage(c, "expected one EVENT, got another argument",
					     argv[i]);
			*event_out = argv[i];
			continue;
		}
		if (o->seen)
			return usage(c, "option given twice:", o->name);
		o->seen = 1;
		if (o->takes_value) {
			if (i + 1 >= argc)
				return usage(c, "option needs a value:", o->name);
			o->value = argv[++i];
		}
	}
	if (*event_out == NULL)
		return usage(c, "expected EVENT", NULL);
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s);
	if (len == 0 || len > 20u)
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
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int connect_client(struct room_cli *c)
{
	struct hf_client_options o;
	hf_client_options_default(&o);
	o.timeout_ms = c->o->timeout_ms;
	o.connect_timeout_ms = c->o->timeout_ms;
	o.deadline_ms = c->o->timeout_ms * 6u;
	o.auth_token = getenv("HOLDFAST_TOKEN");
	int rc = hf_client_open(c->o->host_port, &o, &c->client);
	if (rc != 0) {
		fprintf(stderr, "holdfast: cannot get the slot map from %s: %s\n", c->o->host_port,
			strerror(-rc));
		return EXIT_USAGE;
	}
	return 0;
}

/* 0 on an OK answer; else prints why (stderr, and the JSON error object) and returns the exit. */
static int answer(const struct room_cli *c, int rc)
{
	if (rc != 0) {
		fprintf(stderr, "holdfast: %s: no answer from the engine: %s\n", c->what,
			strerror(-rc));
		return EXIT_USAGE;
	}
	if (rep.status == HF_OK)
		return 0;
	fprintf(stderr, "holdfast: %s refused: %s (%s)\n", c->what, hf_status_name(rep.status),
		hf_status_message(rep.status));
	if (c->o->json)
		printf("{\"error\":\"%s\",\"status\":%u,\"detail\":%" PRIu64
		       ",\"message\":\"%s\"}\n",
		       hf_status_name(rep.status), rep.status, rep.detail,
		       hf_status_message(rep.status));
	return EXIT_REFUSED;
}

void hf_cli_room_params_default(struct hf_room_params *out)
{
	memset(out, 0, sizeof(*out));
	out->enabled = 1;
	out->policy = HF_ROOM_REQUEUE;
	out->shoppers_pct = HF_CLI_ROOM_SHOPPERS_PCT_DEFAULT;
	out->admit_ttl_ms = HF_CLI_ROOM_ADMIT_TTL_S_DEFAULT * 1000u;
	out->queue_max = HF_CLI_ROOM_QUEUE_MAX_DEFAULT;
}

static void print_params_json(uint64_t event_id, const struct hf_room_params *p)
{
	printf("\"event_id\":%" PRIu64 ",\"enabled\":%s,\"policy\":\"%s\",\"shoppers_per_seat\":%u."
	       "%02u,\"admit_ttl_s\":%u,\"queue_max\":%u",
	       event_id, p->enabled ? "true" : "false",
	       p->policy == HF_ROOM_DROP ? "drop" : "requeue", p->shoppers_pct / 100u,
	       p->shoppers_pct % 100u, p->admit_ttl_ms / 1000u, p->queue_max);
}

static void print_estimate(uint32_t estimate_ms)
{
	if (estimate_ms == UINT32_MAX)
		printf("unknown yet");
	else if (estimate_ms < 1000u)
		printf("under a second");
	else
		printf("about %u s", (estimate_ms + 500u) / 1000u);
}

static int cmd_queue(struct room_cli *c, uint64_t event_id)
{
	int rc = answer(c, hf_client_room_info(c->client, event_id, &rep));
	if (rc != 0)
		return rc;
	const struct hf_rep_room_info *i = &rep.room_info;
	if (c->o->json) {
		printf("{");
		print_params_json(event_id, &i->params);
		printf(",\"length\":%u,\"admitted\":%u,\"holding\":%u,\"free\":%u,\"sold_out\":%s,"
		       "\"rate\":%u,\"estimate\":%" PRId64 ",\"joins\":%" PRIu64
		       ",\"admits\":%" PRIu64 ",\"expired\":%" PRIu64 ",\"refused\":%" PRIu64 "}\n",
		       i->waiting_count, i->admitted_count, i->holding_count, i->free_count,
		       i->sold_out ? "true" : "false", i->rate_per_min,
		       i->estimate_ms == UINT32_MAX ? (int64_t)-1 : (int64_t)i->estimate_ms,
		       i->joins, i->admits, i->expired, i->refused);
		return EXIT_OK;
	}
	printf("event %" PRIu64 " waiting room %s: %u waiting (of %u places), %u admitted "
	       "shopping, %u holding, %u free seats%s\n",
	       event_id, i->params.enabled ? "on" : "off", i->waiting_count, i->params.queue_max,
	       i->admitted_count, i->holding_count, i->free_count, i->sold_out ? ", sold out" : "");
	printf("rate %u admissions/min; the last in line waits ", i->rate_per_min);
	print_estimate(i->waiting_count > 0 ? i->estimate_ms : 0);
	printf("\n");
	return EXIT_OK;
}

static void print_position(const struct room_cli *c, uint64_t event_id, uint64_t user_id)
{
	const struct hf_rep_room_position *p = &rep.join;
	char token[HF_CLIENT_TOKEN_TEXT_SIZE];
	hf_client_token_format(&p->token, token);
	int admitted = p->state == HF_ROOM_ADMITTED;
	if (c->o->json) {
		printf("{\"event_id\":%" PRIu64 ",\"user_id\":%" PRIu64
		       ",\"state\":\"%s\",\"position\":%u,\"length\":%u,\"estimate\":%" PRId64,
		       event_id, user_id, admitted ? "admitted" : "waiting", p->position,
		       p->waiting_count,
		       p->estimate_ms == UINT32_MAX ? (int64_t)-1 : (int64_t)p->estimate_ms);
		if (admitted)
			printf(",\"token\":\"%s\",\"expires_ms\":%" PRIu64 "}\n", token,
			       p->token.expires_ms);
		else
			printf(",\"token\":null,\"expires_ms\":0}\n");
		return;
	}
	if (admitted) {
		printf("user %" PRIu64 " admitted to event %" PRIu64 " for %" PRIu64
		       " s\ntoken %s\n",
		       user_id, event_id,
		       p->token.expires_ms > hf_clock_wall_ms()
			   ? (p->token.expires_ms - hf_clock_wall_ms()) / 1000u
			   : 0,
		       token);
		return;
	}
	printf("user %" PRIu64 " waits in event %" PRIu64 "'s room: position %u of %u, wait ",
	       user_id, event_id, p->position, p->waiting_count);
	print_estimate(p->estimate_ms);
	printf("\n");
}

static int cmd_join(struct room_cli *c, uint64_t event_id, int argc, char **argv)
{
	struct room_opt opts[] = {
	    {"--user", 1, NULL, 0}, {"--wait", 0, NULL, 0}, {"--wait-timeout", 1, NULL, 0}};
	const char *event;
	int rc = parse_args(c, argc, argv, opts, 3, &event);
	if (rc != 0)
		return rc;
	uint64_t user_id = 0, wait_s = HF_CLI_ROOM_WAIT_S_DEFAULT;
	if (!opts[0].seen || parse_u64(opts[0].value, 0, UINT64_MAX, &user_id) != 0)
		return usage(c, "--user U is required (an integer)", NULL);
	if (opts[2].seen && parse_u64(opts[2].value, 1, HF_CLI_ROOM_WAIT_S_MAX, &wait_s) != 0)
		return usage(c, "--wait-timeout is not in 1..86400 seconds:", opts[2].value);
	if ((rc = connect_client(c)) != 0)
		return rc;
	if ((rc = answer(c, hf_client_join(c->client, event_id, user_id, &rep))) != 0)
		return rc;
	uint64_t until_ms = hf_clock_mono_ms() + wait_s * 1000u;
	while (opts[1].seen && rep.join.state != HF_ROOM_ADMITTED) {
		if (hf_clock_mono_ms() >= until_ms) {
			fprintf(stderr, "holdfast: join: still waiting after %" PRIu64 " s\n",
				wait_s);
			print_position(c, event_id, user_id);
			return EXIT_REFUSED;
		}
		if (!c->o->json)
			print_position(c, event_id, user_id);
		struct timespec ts = {0, (long)HF_CLI_ROOM_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if ((rc = answer(c, hf_client_position(c->client, event_id, user_id, &rep))) != 0)
			return rc;
	}
	print_position(c, event_id, user_id);
	return EXIT_OK;
}

/* --shoppers-per-seat X or X.Y or X.YY (0.01 .. 100). */
static int parse_shoppers(const char *s, uint16_t *pct_out)
{
	uint64_t whole = 0, frac = 0;
	const char *dot = strchr(s, '.');
	char head[24];
	size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);
	if (n == 0 || n >= sizeof(head))
		return -1;
	memcpy(head, s, n);
	head[n] = '\0';
	if (parse_u64(head, 0, 100, &whole) != 0)
		return -1;
	if (dot != NULL) {
		size_t fl = strlen(dot + 1);
		if (fl == 0 || fl > 2 || parse_u64(dot + 1, 0, 99, &frac) != 0)
			return -1;
		if (fl == 1)
			frac *= 10u;
	}
	uint64_t pct = whole * 100u + frac;
	if (pct == 0 || pct > HF_ROOM_SHOPPERS_PCT_MAX)
		return -1;
	*pct_out = (uint16_t)pct;
	return 0;
}

static int room_params_parse(struct room_cli *c, struct room_opt *opts, struct hf_room_params *p)
{
	uint64_t v;
	if (opts[2].seen && parse_shoppers(opts[2].value, &p->shoppers_pct) != 0)
		return usage(c, "--shoppers-per-seat is not in 0.01..100:", opts[2].value);
	if (opts[3].seen) {
		if (parse_u64(opts[3].value, HF_ROOM_ADMIT_TTL_MS_MIN / 1000u,
			      HF_ROOM_ADMIT_TTL_MS_MAX / 1000u, &v) != 0)
			return usage(c, "--admit-ttl is not in 1..3600 seconds:", opts[3].value);
		p->admit_ttl_ms = (uint32_t)v * 1000u;
	}
	if (opts[4].seen) {
		if (strcmp(opts[4].value, "requeue") == 0)
			p->policy = HF_ROOM_REQUEUE;
		else if (strcmp(opts[4].value, "drop") == 0)
			p->policy = HF_ROOM_DROP;
		else
			return usage(c, "--policy is 'requeue' or 'drop', not", opts[4].value);
	}
	if (opts[5].seen) {
		if (parse_u64(opts[5].value, 1, HF_ROOM_QUEUE_SIZE_MAX, &v) != 0)
			return usage(c, "--queue-max is not in 1..1048576:", opts[5].value);
		p->queue_max = (uint32_t)v;
	}
	return 0;
}

static int cmd_room(struct room_cli *c, uint64_t event_id, int argc, char **argv)
{
	struct room_opt opts[ROOM_OPTS_MAX] = {{"--on", 0, NULL, 0},
					       {"--off", 0, NULL, 0},
					       {"--shoppers-per-seat", 1, NULL, 0},
					       {"--admit-ttl", 1, NULL, 0},
					       {"--policy", 1, NULL, 0},
					       {"--queue-max", 1, NULL, 0}};
	const char *event;
	int rc = parse_args(c, argc, argv, opts, ROOM_OPTS_MAX, &event);
	if (rc != 0)
		return rc;
	if (opts[0].seen == opts[1].seen)
		return usage(c, "give exactly one of --on and --off", NULL);
	if ((rc = connect_client(c)) != 0)
		return rc;
	/* Parameters not given stay as they are (or take the defaults for a new room). */
	struct hf_room_params p;
	hf_cli_room_params_default(&p);
	rc = hf_client_room_info(c->client, event_id, &rep);
	if (rc == 0 && rep.status == HF_OK)
		p = rep.room_info.params;
	p.enabled = opts[0].seen ? 1 : 0;
	if ((rc = room_params_parse(c, opts, &p)) != 0)
		return rc;
	if ((rc = answer(c, hf_client_room_set(c->client, event_id, &p, &rep))) != 0)
		return rc;
	if (c->o->json) {
		printf("{");
		print_params_json(event_id, &p);
		printf("}\n");
		return EXIT_OK;
	}
	printf("event %" PRIu64 " waiting room %s: %u.%02u shoppers per free seat, admissions of "
	       "%u s, %s, %u places\n",
	       event_id, p.enabled ? "on" : "off", p.shoppers_pct / 100u, p.shoppers_pct % 100u,
	       p.admit_ttl_ms / 1000u,
	       p.policy == HF_ROOM_DROP ? "expired ones dropped" : "expired ones requeued",
	       p.queue_max);
	return EXIT_OK;
}

int hf_cli_room_is_command(const char *cmd)
{
	return strcmp(cmd, "queue") == 0 || strcmp(cmd, "join") == 0 || strcmp(cmd, "room") == 0;
}

int hf_cli_room_main(const struct hf_cli_room_opts *opts, const char *cmd, int argc, char **argv)
{
	struct room_cli c = {.o = opts, .what = cmd, .client = NULL};
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(hf_cli_room_usage, stdout);
			return EXIT_OK;
		}
	}
	/* EVENT first; the rest are each command's options. */
	uint64_t event_id = 0;
	if (argc < 1 || parse_u64(argv[0], 1, UINT64_MAX, &event_id) != 0)
		return usage(&c, "expected EVENT (an integer in 1..2^64-1) first", NULL);
	int rc;
	if (strcmp(cmd, "queue") == 0) {
		if (argc != 1)
			return usage(&c, "takes EVENT only, got", argv[1]);
		rc = connect_client(&c);
		if (rc == 0)
			rc = cmd_queue(&c, event_id);
	} else if (strcmp(cmd, "join") == 0) {
		rc = cmd_join(&c, event_id, argc, argv);
	} else {
		HF_ASSERT(strcmp(cmd, "room") == 0);
		rc = cmd_room(&c, event_id, argc, argv);
	}
	hf_client_close(c.client);
	return rc;
}
