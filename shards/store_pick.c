/* The seat store's seat picking: sections and rows, best-available and "any" seats within a scope
 * (the event, one section, or the sections of a tier), and the no-orphan rule. Part of the store
 * (shards/store.c runs the ops; shards/store_int.h has the layout). Reads the free bitmap only.
 *
 * Rows. An event is cut into ranges: each section is a range, and so is each stretch of seats
 * between sections. A seat's row is the maximal run of consecutive seats of its range with the
 * same row number: (seat - first) / row_width for a section with a row width of its own, else
 * seat / the event's row width (the whole range when that is 0). Two seats are adjacent when their
 * indexes are consecutive and they share a row. An event without sections is one range with the
 * event's rows, so this is the rule best-available always had.
 *
 * Picks, for n seats in a scope:
 *  - BEST: the lowest seat c such that c .. c + n - 1 are free and in one row. With NO_ORPHAN the
 *    run must also not leave exactly one free seat between it and the end of its free stretch.
 *  - ANY: n free seats in as few rows as possible: the rows with the most free seats first (ties:
 *    the lower row), every free seat of those rows but the last, whose lowest free seats complete
 *    the n. With NO_ORPHAN a pick that leaves a lone free seat is refused (HF_ORPHAN_SEAT).
 * An orphan is a free seat, adjacent to a picked seat, none of whose row neighbours stays free.
 *
 * Cost: BEST and ANY scan the scope's bitmap a word at a time (ANY counts every row: O(seats / 64
 * + rows x n)); the event-wide BEST without NO_ORPHAN on an event without sections keeps the
 * block-skipping scan of store.c. The orphan check is O(n x sections). */
#include "shards/store_int.h"

#include "base/assert.h"

#include <string.h>

/* A range of seats [lo, hi) whose rows start at base + k * row_width (row_width 0: one row). */
struct pick_range {
	uint32_t lo;
	uint32_t hi;
	uint32_t base;
	uint32_t row_width;
	uint32_t ga; /* 1: a general admission section (one row, counted places) */
};

/* The most ranges of an event: every section and a gap before each and after the last. */
#define PICK_RANGES_MAX (2u * HF_EVENT_SECTIONS_MAX + 1u)

static struct pick_range section_range(const struct event *ev, const struct hf_section *sec)
{
	struct pick_range g = {.lo = sec->first, .hi = sec->first + sec->count};
	g.base = sec->row_width != 0 ? sec->first : 0;
	g.row_width = sec->row_width != 0 ? sec->row_width : ev->row_width;
	if (sec->kind == HF_SECTION_GA) {
		g.base = sec->first;
		g.row_width = 0;
		g.ga = 1;
	}
	return g;
}

/* Indexes of the event's sections sorted by first seat (sections never overlap). */
static uint32_t sections_sorted(const struct event *ev, uint32_t *order)
{
	uint32_t n = ev->sections_count;
	HF_ASSERT(n <= HF_EVENT_SECTIONS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = i;
		while (j > 0 && ev->sections[order[j - 1]].first > ev->sections[i].first) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	return n;
}

/* Every range of the event in seat order. Returns how many. */
static uint32_t event_ranges(const struct event *ev, struct pick_range *out)
{
	uint32_t order[HF_EVENT_SECTIONS_MAX];
	uint32_t n = sections_sorted(ev, order), count = 0, at = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct hf_section *sec = &ev->sections[order[i]];
		if (sec->first > at)
			out[count++] = (struct pick_range){at, sec->first, 0, ev->row_width, 0};
		out[count++] = section_range(ev, sec);
		at = sec->first + sec->count;
	}
	if (at < ev->seats_count)
		out[count++] = (struct pick_range){at, ev->seats_count, 0, ev->row_width, 0};
	HF_ASSERT(count <= PICK_RANGES_MAX);
	return count;
}

/* The ranges a HOLD's scope covers, in seat order; UINT32_MAX when the scope names no section.
 * The event and a tier cover their numbered seats only: general admission is held by naming its
 * section. */
static uint32_t scope_ranges(const struct event *ev, const struct hf_req_hold *r,
			     struct pick_range *out)
{
	if ((r->flags & HF_HOLD_FLAG_TIER) == 0 && r->scope != 0) {
		if (r->scope > ev->sections_count)
			return UINT32_MAX;
		out[0] = section_range(ev, &ev->sections[r->scope - 1]);
		return 1;
	}
	struct pick_range all[PICK_RANGES_MAX];
	uint32_t n = event_ranges(ev, all), count = 0, named = 0;
	for (uint32_t i = 0; i < n; i++) {
		int in = (r->flags & HF_HOLD_FLAG_TIER) == 0;
		if (r->flags & HF_HOLD_FLAG_TIER) {
			/* A range is a section when a section starts at its first seat. */
			for (uint32_t k = 0; k < ev->sections_count; k++) {
				const struct hf_section *sec = &ev->sections[k];
				if (sec->first == all[i].lo && sec->tier == r->scope) {
					in = 1;
					named = 1;
				}
			}
		}
		if (in && !all[i].ga)
			out[count++] = all[i];
	}
	if ((r->flags & HF_HOLD_FLAG_TIER) && !named)
		return UINT32_MAX;
	return count;
}

/* The row of seat s (inside g): [*lo_out, *hi_out). */
static void row_of(const struct pick_range *g, uint32_t s, uint32_t *lo_out, uint32_t *hi_out)
{
	HF_ASSERT(s >= g->lo);
	HF_ASSERT(s < g->hi);
	if (g->row_width == 0) {
		*lo_out = g->lo;
		*hi_out = g->hi;
		return;
	}
	uint64_t start = g->base + (uint64_t)(s - g->base) / g->row_width * g->row_width;
	uint64_t end = start + g->row_width;
	*lo_out = start > g->lo ? (uint32_t)start : g->lo;
	*hi_out = end < g->hi ? (uint32_t)end : g->hi;
}

/* The first seat in [p, hi) whose free bit equals want, or hi. Word at a time. */
static uint32_t next_with(const struct event *ev, uint32_t p, uint32_t hi, int want)
{
	while (p < hi) {
		uint64_t w = ev->free_bits[p / WORD_BITS];
		if (!want)
			w = ~w;
		w >>= p % WORD_BITS;
		if (w != 0) {
			uint64_t at = (uint64_t)p + (uint64_t)__builtin_ctzll(w);
			return at < hi ? (uint32_t)at : hi;
		}
		p = (p / WORD_BITS + 1) * WORD_BITS;
	}
	return hi;
}

/* Free seats in [lo, hi). */
static uint32_t count_free(const struct event *ev, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;
	for (uint32_t p = lo; p < hi;) {
		uint32_t wi = p / WORD_BITS, off = p % WORD_BITS;
		uint64_t w = ev->free_bits[wi] >> off;
		uint32_t take = WORD_BITS - off;
		if (take > hi - p)
			take = hi - p;
		if (take < WORD_BITS)
			w &= (1ull << take) - 1;
		n += (uint32_t)__builtin_popcountll(w);
		p += take;
	}
	return n;
}

int store_seat_is_ga(const struct event *ev, uint32_t s)
{
	for (uint32_t k = 0; k < ev->sections_count; k++) {
		const struct hf_section *sec = &ev->sections[k];
		if (sec->kind == HF_SECTION_GA && s >= sec->first && s - sec->first < sec->count)
			return 1;
	}
	return 0;
}

uint32_t store_count_free(const struct event *ev, uint32_t lo, uint32_t hi)
{
	HF_ASSERT(lo <= hi);
	HF_ASSERT(hi <= ev->seats_count);
	return count_free(ev, lo, hi);
}

/* BEST in one range: the first free stretch of a row with room for n (and, with no_orphan, not
 * exactly n + 1 long). Returns its first seat, or UINT32_MAX. */
static uint32_t best_in_range(const struct event *ev, const struct pick_range *g, uint32_t n,
			      int no_orphan)
{
	for (uint32_t p = g->lo; p < g->hi;) {
		uint32_t a = next_with(ev, p, g->hi, 1);
		if (a == g->hi)
			break;
		uint32_t row_lo, row_hi;
		row_of(g, a, &row_lo, &row_hi);
		uint32_t e = next_with(ev, a, row_hi, 0);
		uint32_t len = e - a;
		if (len >= n && !(no_orphan && len - n == 1))
			return a;
		p = e;
	}
	return UINT32_MAX;
}

/* A row the ANY pick may use. */
struct pick_row {
	uint32_t lo;
	uint32_t hi;
	uint32_t free_count;
};

/* Keeps the n best rows (most free first, then the earlier row) in best[0 .. *count). */
static void rows_keep(struct pick_row *best, uint32_t *count, uint32_t n, struct pick_row row)
{
	if (row.free_count == 0)
		return;
	if (*count == n && best[n - 1].free_count >= row.free_count)
		return;
	uint32_t j = *count < n ? (*count)++ : n - 1;
	while (j > 0 && best[j - 1].free_count < row.free_count) {
		best[j] = best[j - 1];
		j--;
	}
	best[j] = row;
}

static void seats_sort(uint32_t *seats, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = seats[i], j = i;
		while (j > 0 && seats[j - 1] > v) {
			seats[j] = seats[j - 1];
			j--;
		}
		seats[j] = v;
	}
}

/* ANY over the ranges: fills seats_out (ascending) and returns HF_OK, or HF_NOT_ENOUGH. */
static enum hf_status any_pick(const struct event *ev, const struct pick_range *ranges,
			       uint32_t ranges_count, uint32_t n, uint32_t *seats_out)
{
	struct pick_row best[HF_HOLD_SEATS_MAX];
	uint32_t best_count = 0;
	uint64_t total = 0;
	for (uint32_t i = 0; i < ranges_count; i++) {
		const struct pick_range *g = &ranges[i];
		for (uint32_t lo = g->lo; lo < g->hi;) {
			struct pick_row row = {.lo = lo};
			uint32_t row_lo;
			row_of(g, lo, &row_lo, &row.hi);
			row.free_count = count_free(ev, lo, row.hi);
			total += row.free_count;
			rows_keep(best, &best_count, n, row);
			lo = row.hi;
		}
	}
	if (total < n)
		return HF_NOT_ENOUGH;
	uint32_t taken = 0;
	for (uint32_t k = 0; k < best_count && taken < n; k++) {
		for (uint32_t s = best[k].lo; taken < n;) {
			s = next_with(ev, s, best[k].hi, 1);
			if (s == best[k].hi)
				break;
			seats_out[taken++] = s++;
		}
	}
	HF_ASSERT(taken == n);
	seats_sort(seats_out, n);
	return HF_OK;
}

static int seat_picked(const uint32_t *seats, uint32_t n, uint32_t s)
{
	for (uint32_t i = 0; i < n; i++) {
		if (seats[i] == s)
			return 1;
	}
	return 0;
}

/* x is free, not picked, and inside [lo, hi). */
static int stays_free(const struct event *ev, const uint32_t *seats, uint32_t n, uint64_t x,
		      uint32_t lo, uint32_t hi)
{
	return x >= lo && x < hi && seat_is_free(ev, (uint32_t)x) &&
	       !seat_picked(seats, n, (uint32_t)x);
}

uint32_t store_orphan_find(const struct event *ev, const uint32_t *seats, uint32_t n)
{
	struct pick_range ranges[PICK_RANGES_MAX];
	uint32_t count = event_ranges(ev, ranges);
	uint32_t orphan = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const struct pick_range *g = ranges;
		while (g < ranges + count && seats[i] >= g->hi)
			g++;
		HF_ASSERT(g < ranges + count);
		uint32_t lo, hi;
		row_of(g, seats[i], &lo, &hi);
		for (int d = -1; d <= 1; d += 2) {
			uint64_t x = (uint64_t)seats[i] + (uint64_t)(int64_t)d;
			if (!stays_free(ev, seats, n, x, lo, hi))
				continue;
			if (stays_free(ev, seats, n, x - 1, lo, hi) ||
			    stays_free(ev, seats, n, x + 1, lo, hi))
				continue;
			if (x < orphan)
				orphan = (uint32_t)x;
		}
	}
	return orphan;
}

enum hf_status store_pick(const struct event *ev, const struct hf_req_hold *r, uint32_t *seats_out,
			  uint64_t *detail_out)
{
	HF_ASSERT(r->mode == HF_HOLD_BEST || r->mode == HF_HOLD_ANY);
	HF_ASSERT(r->seats_count >= 1);
	HF_ASSERT(r->seats_count <= HF_HOLD_SEATS_MAX);
	*detail_out = 0;
	struct pick_range ranges[PICK_RANGES_MAX];
	uint32_t count = scope_ranges(ev, r, ranges);
	if (count == UINT32_MAX)
		return HF_ERR_INVALID;
	uint32_t n = r->seats_count;
	/* General admission: a quantity of places, the lowest free ones; no rows, no orphans. */
	if (count == 1 && ranges[0].ga)
		return any_pick(ev, ranges, 1, n, seats_out);
	int no_orphan = (r->flags & HF_HOLD_FLAG_NO_ORPHAN) != 0;
	if (r->mode == HF_HOLD_BEST) {
		for (uint32_t i = 0; i < count; i++) {
			uint32_t first = best_in_range(ev, &ranges[i], n, no_orphan);
			if (first == UINT32_MAX)
				continue;
			for (uint32_t k = 0; k < n; k++)
				seats_out[k] = first + k;
			return HF_OK;
		}
		return HF_NOT_ENOUGH;
	}
	enum hf_status st = any_pick(ev, ranges, count, n, seats_out);
	if (st != HF_OK || !no_orphan)
		return st;
	uint32_t orphan = store_orphan_find(ev, seats_out, n);
	if (orphan == UINT32_MAX)
		return HF_OK;
	*detail_out = orphan;
	return HF_ORPHAN_SEAT;
}

enum hf_status store_sections_check(uint32_t seats_count, const struct hf_section *sections,
				    uint32_t n, uint32_t *bad_out)
{
	*bad_out = 0;
	if (n > HF_EVENT_SECTIONS_MAX)
		return HF_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < n; i++) {
		const struct hf_section *a = &sections[i];
		size_t len = strnlen(a->name, HF_SECTION_NAME_SIZE_MAX + 1);
		int bad = len == 0 || len > HF_SECTION_NAME_SIZE_MAX || a->count == 0 ||
			  (uint64_t)a->first + a->count > seats_count || a->row_width > a->count ||
			  a->kind > HF_SECTION_GA ||
			  (a->kind == HF_SECTION_GA && a->row_width != 0);
		for (uint32_t j = 0; j < i && !bad; j++) {
			const struct hf_section *b = &sections[j];
			bad = strcmp(a->name, b->name) == 0 ||
			      ((uint64_t)a->first < (uint64_t)b->first + b->count &&
			       (uint64_t)b->first < (uint64_t)a->first + a->count);
		}
		if (bad) {
			*bad_out = i;
			return HF_ERR_INVALID;
		}
	}
	return HF_OK;
}
