/* The holdfast CLI's inventory pieces (client/cli_inventory.h): parsing of the section specs of
 * `event create`, the section and tier tables, and section lookups. */
#include "client/cli_inventory.h"

#include "base/assert.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Fields of one spec: NAME:FIRST:COUNT:TIER:ROW_WIDTH has the most. */
#define SPEC_FIELDS_MAX 5u
#define SPEC_SIZE_MAX	128u
/* Marks a GA section not placed yet (hf_cli_sections_place). */
#define GA_UNPLACED UINT32_MAX

static int spec_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	size_t len = strlen(s);
	if (len == 0 || len > 10)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10u + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Splits spec at ':' into at most SPEC_FIELDS_MAX fields (in buf). Returns the count, or -1. */
static int spec_split(const char *spec, char *buf, char **fields)
{
	size_t len = strlen(spec);
	if (len == 0 || len >= SPEC_SIZE_MAX)
		return -1;
	memcpy(buf, spec, len + 1);
	int n = 0;
	char *p = buf;
	/* Bounded: each pass consumes one field; more than SPEC_FIELDS_MAX is refused. */
	for (;;) {
		if (n == (int)SPEC_FIELDS_MAX)
			return -1;
		fields[n++] = p;
		char *colon = strchr(p, ':');
		if (colon == NULL)
			return n;
		*colon = '\0';
		p = colon + 1;
	}
}

static int spec_name(const char *name, struct hf_section *sec)
{
	size_t len = strlen(name);
	if (len == 0 || len > HF_SECTION_NAME_SIZE_MAX)
		return -1;
	memset(sec->name, 0, sizeof(sec->name));
	memcpy(sec->name, name, len);
	return 0;
}

/* One --section or --ga value into sec. */
static int spec_parse(const char *spec, int ga, struct hf_section *sec, char *err, size_t err_size)
{
	char buf[SPEC_SIZE_MAX];
	char *f[SPEC_FIELDS_MAX];
	int n = spec_split(spec, buf, f);
	memset(sec, 0, sizeof(*sec));
	uint32_t tier = 0;
	int ok;
	if (ga) {
		sec->kind = HF_SECTION_GA;
		sec->first = GA_UNPLACED;
		ok = (n == 2 || n == 3) && spec_name(f[0], sec) == 0 &&
		     spec_u32(f[1], 1, HF_EVENT_SEATS_MAX, &sec->count) == 0 &&
		     (n < 3 || spec_u32(f[2], 0, 255, &tier) == 0);
	} else {
		sec->kind = HF_SECTION_SEATED;
		ok = n >= 3 && n <= 5 && spec_name(f[0], sec) == 0 &&
		     spec_u32(f[1], 0, HF_EVENT_SEATS_MAX - 1u, &sec->first) == 0 &&
		     spec_u32(f[2], 1, HF_EVENT_SEATS_MAX, &sec->count) == 0 &&
		     (n < 4 || spec_u32(f[3], 0, 255, &tier) == 0) &&
		     (n < 5 || spec_u32(f[4], 1, sec->count, &sec->row_width) == 0);
	}
	sec->tier = (uint8_t)tier;
	if (ok)
		return 0;
	if (ga)
		snprintf(err, err_size,
			 "--ga '%s' is not NAME:CAPACITY[:TIER] (NAME 1..%u bytes, CAPACITY "
			 "1..%u, TIER 0..255)",
			 spec, HF_SECTION_NAME_SIZE_MAX, HF_EVENT_SEATS_MAX);
	else
		snprintf(err, err_size,
			 "--section '%s' is not NAME:FIRST:COUNT[:TIER[:ROW_WIDTH]] (NAME 1..%u "
			 "bytes, COUNT >= 1, TIER 0..255, ROW_WIDTH 1..COUNT)",
			 spec, HF_SECTION_NAME_SIZE_MAX);
	return -1;
}

/* Which spec option argv[i] is: 1 --section, 2 --ga, 0 neither; *value_inline its "=value". */
static int spec_option(const char *a, const char **value_inline)
{
	*value_inline = NULL;
	if (strcmp(a, "--section") == 0)
		return 1;
	if (strcmp(a, "--ga") == 0)
		return 2;
	if (strncmp(a, "--section=", 10) == 0) {
		*value_inline = a + 10;
		return 1;
	}
	if (strncmp(a, "--ga=", 5) == 0) {
		*value_inline = a + 5;
		return 2;
	}
	return 0;
}

int hf_cli_sections_take(int *argc, char **argv, struct hf_req_create_event *ce, char *err,
			 size_t err_size)
{
	HF_ASSERT(*argc >= 0);
	int kept = 0;
	for (int i = 0; i < *argc; i++) {
		const char *value;
		int which = spec_option(argv[i], &value);
		if (which == 0) {
			argv[kept++] = argv[i];
			continue;
		}
		if (value == NULL) {
			if (i + 1 >= *argc) {
				snprintf(err, err_size, "%s needs a value", argv[i]);
				return -1;
			}
			value = argv[++i];
		}
		if (ce->sections_count == HF_EVENT_SECTIONS_MAX) {
			snprintf(err, err_size,
				 "more than %u sections (--section and --ga together)",
				 HF_EVENT_SECTIONS_MAX);
			return -1;
		}
		struct hf_section *sec = &ce->sections[ce->sections_count];
		if (spec_parse(value, which == 2, sec, err, err_size) != 0)
			return -1;
		ce->sections_count++;
	}
	HF_ASSERT(kept <= *argc);
	*argc = kept;
	return 0;
}

int hf_cli_sections_place(struct hf_req_create_event *ce, char *err, size_t err_size)
{
	HF_ASSERT(ce->sections_count <= HF_EVENT_SECTIONS_MAX);
	uint64_t next = ce->seats_count;
	for (uint32_t i = 0; i < ce->sections_count; i++) {
		struct hf_section *sec = &ce->sections[i];
		if (sec->kind != HF_SECTION_GA) {
			if ((uint64_t)sec->first + sec->count > ce->seats_count) {
				snprintf(err, err_size,
					 "--section %s (seats %u..%" PRIu64
					 ") is not inside the %u numbered seats of --seats",
					 sec->name, sec->first,
					 (uint64_t)sec->first + sec->count - 1u, ce->seats_count);
				return -1;
			}
			continue;
		}
		HF_ASSERT(sec->first == GA_UNPLACED);
		if (next + sec->count > HF_EVENT_SEATS_MAX) {
			snprintf(err, err_size,
				 "--seats and the --ga capacities add up to more than %u places",
				 HF_EVENT_SEATS_MAX);
			return -1;
		}
		sec->first = (uint32_t)next;
		next += sec->count;
	}
	HF_ASSERT(next <= HF_EVENT_SEATS_MAX);
	ce->seats_count = (uint32_t)next;
	return 0;
}

uint16_t hf_cli_section_scope(const struct hf_rep_event_sections *es, const char *name)
{
	HF_ASSERT(es->sections_count <= HF_EVENT_SECTIONS_MAX);
	for (uint16_t i = 0; i < es->sections_count; i++) {
		if (strcmp(es->sections[i].section.name, name) == 0)
			return (uint16_t)(i + 1u);
	}
	return 0;
}

int hf_cli_section_of_seat(const struct hf_rep_event_sections *es, uint32_t seat)
{
	HF_ASSERT(es->sections_count <= HF_EVENT_SECTIONS_MAX);
	for (int i = 0; i < (int)es->sections_count; i++) {
		const struct hf_section *sec = &es->sections[i].section;
		if (seat >= sec->first && seat - sec->first < sec->count)
			return i;
	}
	return -1;
}

void hf_cli_json_string(const char *s)
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

static void print_sections_json(const struct hf_rep_event_sections *es)
{
	printf("\"sections\":[");
	for (uint16_t i = 0; i < es->sections_count; i++) {
		const struct hf_section_avail *sa = &es->sections[i];
		const struct hf_section *sec = &sa->section;
		printf("%s{\"name\":", i > 0 ? "," : "");
		hf_cli_json_string(sec->name);
		printf(",\"kind\":\"%s\",\"tier\":%u,\"first\":%u,\"count\":%u,\"row_width\":%u,"
		       "\"free\":%u}",
		       sec->kind == HF_SECTION_GA ? "ga" : "seated", sec->tier, sec->first,
		       sec->count, sec->row_width, sa->free_count);
	}
	printf("],\"tiers\":[");
	for (uint16_t i = 0; i < es->tiers_count; i++) {
		const struct hf_tier_avail *t = &es->tiers[i];
		printf("%s{\"tier\":%u,\"seats\":%u,\"free\":%u}", i > 0 ? "," : "", t->tier,
		       t->seats_count, t->free_count);
	}
	printf("]");
}

void hf_cli_sections_print(const struct hf_rep_event_sections *es, int json)
{
	HF_ASSERT(es->sections_count <= HF_EVENT_SECTIONS_MAX);
	HF_ASSERT(es->tiers_count <= HF_EVENT_SECTIONS_MAX);
	if (json) {
		print_sections_json(es);
		return;
	}
	for (uint16_t i = 0; i < es->sections_count; i++) {
		const struct hf_section_avail *sa = &es->sections[i];
		const struct hf_section *sec = &sa->section;
		if (sec->kind == HF_SECTION_GA)
			printf("  section %s (GA, tier %u): %u free of %u places\n", sec->name,
			       sec->tier, sa->free_count, sec->count);
		else if (sec->row_width != 0)
			printf("  section %s (tier %u, seats %u-%u, rows of %u): %u free of %u\n",
			       sec->name, sec->tier, sec->first, sec->first + sec->count - 1u,
			       sec->row_width, sa->free_count, sec->count);
		else
			printf("  section %s (tier %u, seats %u-%u): %u free of %u\n", sec->name,
			       sec->tier, sec->first, sec->first + sec->count - 1u, sa->free_count,
			       sec->count);
	}
	for (uint16_t i = 0; i < es->tiers_count; i++) {
		const struct hf_tier_avail *t = &es->tiers[i];
		printf("  tier %u: %u free of %u\n", t->tier, t->free_count, t->seats_count);
	}
}

/* ---- watch ---- */

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void print_wall(uint64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	printf("%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	       tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000u));
}

/* The section that holds every seat of the change, or -1. */
static int change_section(const struct hf_rep_event_sections *es, const struct hf_watch_change *c)
{
	if (c->seats_count == 0)
		return -1;
	int k = hf_cli_section_of_seat(es, c->seats[0]);
	for (uint32_t i = 1; i < c->seats_count && k >= 0; i++) {
		if (hf_cli_section_of_seat(es, c->seats[i]) != k)
			return -1;
	}
	return k;
}

static void print_change_json(const struct hf_rep_event_sections *es,
			      const struct hf_watch_change *c)
{
	printf("{\"event_id\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"kind\":\"%s\"", c->event_id, c->seq,
	       hf_watch_kind_name(c->kind));
	if (c->kind != HF_WATCH_GAP) {
		printf(",\"hold_id\":%" PRIu64 ",\"user_id\":%" PRIu64 ",\"deadline_ms\":%" PRIu64
		       ",\"seats\":[",
		       c->hold_id, c->user_id, c->deadline_ms);
		for (uint32_t i = 0; i < c->seats_count; i++)
			printf("%s%u", i > 0 ? "," : "", c->seats[i]);
		putchar(']');
		int k = change_section(es, c);
		if (k >= 0) {
			printf(",\"section\":");
			hf_cli_json_string(es->sections[k].section.name);
		}
	}
	printf("}\n");
}

static void print_change(const struct hf_rep_event_sections *es, const struct hf_watch_change *c)
{
	if (c->kind == HF_WATCH_GAP) {
		printf("gap: changes were dropped (this watcher fell behind); re-read the seats, "
		       "changes resume at seq %" PRIu64 "\n",
		       c->seq);
		return;
	}
	printf("seq %" PRIu64 ": %s ", c->seq, hf_watch_kind_name(c->kind));
	int k = change_section(es, c);
	if (k >= 0 && es->sections[k].section.kind == HF_SECTION_GA) {
		printf("%u places of %s", c->seats_count, es->sections[k].section.name);
	} else {
		printf("seats ");
		for (uint32_t i = 0; i < c->seats_count; i++)
			printf("%s%u", i > 0 ? "," : "", c->seats[i]);
		if (k >= 0)
			printf(" of %s", es->sections[k].section.name);
	}
	int booking = c->kind == HF_WATCH_BOOKED || c->kind == HF_WATCH_CANCELLED;
	printf(" (%s %" PRIu64 ", user %" PRIu64, booking ? "booking" : "hold", c->hold_id,
	       c->user_id);
	if (c->deadline_ms != 0) {
		printf(", expires ");
		print_wall(c->deadline_ms);
	}
	printf(")\n");
}

static int watch_refused(const struct hf_client_reply *r, int json, uint64_t event_id)
{
	fprintf(stderr, "holdfast: watch refused: %s (%s)\n", hf_status_name(r->status),
		hf_status_message(r->status));
	if (json) {
		printf("{\"error\":");
		hf_cli_json_string(hf_status_name(r->status));
		printf(",\"status\":%u,\"detail\":%" PRIu64 ",\"message\":", r->status, r->detail);
		hf_cli_json_string(hf_status_message(r->status));
		printf("}\n");
	}
	(void)event_id;
	return 1;
}

int hf_cli_watch(struct hf_client *client, uint64_t event_id, int json, uint32_t timeout_ms,
		 uint64_t count_max)
{
	static struct hf_client_reply r;
	static struct hf_rep_event_sections es;
	int rc = hf_client_event_sections(client, event_id, &r);
	if (rc == 0 && r.status == HF_OK)
		es = *r.event_sections;
	struct hf_client_watch *w = NULL;
	rc = hf_client_watch_open(client, event_id, timeout_ms, &w, &r);
	if (rc != 0) {
		fprintf(stderr, "holdfast: watch: no answer from the engine: %s\n", strerror(-rc));
		return 2;
	}
	if (r.status != HF_OK)
		return watch_refused(&r, json, event_id);
	if (json)
		printf("{\"event_id\":%" PRIu64 ",\"watching\":true,\"seq\":%" PRIu64 "}\n",
		       event_id, r.watch.seq);
	else
		printf("watching event %" PRIu64 " from seq %" PRIu64 " (Ctrl-C stops)\n", event_id,
		       r.watch.seq);
	fflush(stdout);
	signal(SIGINT, watch_on_signal);
	signal(SIGTERM, watch_on_signal);
	static struct hf_watch_change c;
	uint64_t seen = 0;
	int status = 0;
	/* Bounded by count_max, the connection, or a signal; each pass waits at most 200 ms. */
	while (!watch_stop && (count_max == 0 || seen < count_max)) {
		rc = hf_client_watch_next(w, 200, &c);
		if (rc == 0)
			continue;
		if (rc < 0) {
			fprintf(stderr, "holdfast: watch: %s\n",
				rc == -ECONNRESET ? "the engine closed the watch" : strerror(-rc));
			status = 2;
			break;
		}
		if (json)
			print_change_json(&es, &c);
		else
			print_change(&es, &c);
		fflush(stdout);
		seen++;
	}
	hf_client_watch_close(w);
	return status;
}
